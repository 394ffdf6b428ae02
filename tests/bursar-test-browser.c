/* bursar-test-browser.c: the test desktop's web browser.
 *
 * The test environment registers this program as the default handler of
 * x-scheme-handler/http(s), so the daemon opens it through the real GIO
 * launch path. It logs the URL it was given (one line to the file named by
 * $BURSAR_TEST_BROWSER_LOG) and then "logs in": it GETs the URL and follows
 * redirects, so the authorization server's 302 lands on the daemon's
 * loopback callback.
 *
 * $BURSAR_TEST_BROWSER_MODE=none only logs, for tests that finish the flow
 * by hand. Only loopback URLs are followed: tests never leave the machine.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <libsoup/soup.h>
#include <string.h>
#include <unistd.h>

#define MAX_REDIRECTS 10
#define TIMEOUT_SECONDS 30

typedef struct
{
  GMainLoop *loop;           /* (owned) */
  SoupSession *session;      /* (owned) */
  GCancellable *cancellable; /* (owned) */
  GUri *current;             /* (owned) */
  guint redirects;
  guint timeout_id;
  int exit_status;
  char *failure; /* (owned) (nullable) */
} Browser;

static void browser_get (Browser *self);

static gboolean
uri_is_loopback_http (GUri *uri)
{
  const char *scheme = g_uri_get_scheme (uri);
  const char *host = g_uri_get_host (uri);

  if (g_strcmp0 (scheme, "http") != 0 && g_strcmp0 (scheme, "https") != 0)
    return FALSE;
  return g_strcmp0 (host, "127.0.0.1") == 0 || g_strcmp0 (host, "::1") == 0 ||
         g_strcmp0 (host, "localhost") == 0;
}

static void
browser_fail (Browser    *self,
              const char *what)
{
  /* Only the step that failed: URLs carry codes and states. */
  if (self->failure == NULL)
    self->failure = g_strdup (what);
  self->exit_status = 1;
  g_main_loop_quit (self->loop);
}

static void
on_response (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  Browser *self = user_data;
  SoupMessage *msg = soup_session_get_async_result_message (SOUP_SESSION (source), result);
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GUri) next = NULL;
  const char *location;
  guint status;

  body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &error);
  if (body == NULL)
    {
      g_autofree char *what = g_strdup_printf ("request failed: %s", error->message);

      browser_fail (self, what);
      return;
    }

  status = soup_message_get_status (msg);
  if (!SOUP_STATUS_IS_REDIRECTION (status))
    {
      /* Any final page — success or an error page of the callback — is
       * what a real browser would show; the flow is over. */
      self->exit_status = 0;
      g_main_loop_quit (self->loop);
      return;
    }

  location = soup_message_headers_get_one (soup_message_get_response_headers (msg), "Location");
  if (location == NULL)
    {
      browser_fail (self, "redirect without a Location header");
      return;
    }
  if (self->redirects >= MAX_REDIRECTS)
    {
      browser_fail (self, "too many redirects");
      return;
    }
  next = g_uri_parse_relative (self->current, location, G_URI_FLAGS_ENCODED, &error);
  if (next == NULL)
    {
      browser_fail (self, "redirect to an invalid URL");
      return;
    }
  self->redirects++;
  g_uri_unref (self->current);
  self->current = g_steal_pointer (&next);
  browser_get (self);
}

static void
browser_get (Browser *self)
{
  g_autoptr(SoupMessage) msg = NULL;

  if (!uri_is_loopback_http (self->current))
    {
      browser_fail (self, "refusing to open a URL that is not on loopback");
      return;
    }

  msg = soup_message_new_from_uri ("GET", self->current);
  /* Redirects are followed by hand to bound them and check each hop. */
  soup_message_add_flags (msg, SOUP_MESSAGE_NO_REDIRECT);
  soup_session_send_and_read_async (self->session, msg, G_PRIORITY_DEFAULT, self->cancellable,
                                    on_response, self);
}

static gboolean
on_timeout (gpointer user_data)
{
  Browser *self = user_data;

  self->timeout_id = 0;
  browser_fail (self, "timed out");
  g_cancellable_cancel (self->cancellable);
  return G_SOURCE_REMOVE;
}

static gboolean
append_to_log (const char *path,
               const char *url)
{
  g_autofree char *line = g_strconcat (url, "\n", NULL);
  gsize len = strlen (line);
  gsize done = 0;
  int fd;

  /* O_APPEND with one write() keeps lines whole when several browsers are
   * started at once. */
  fd = open (path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return FALSE;
  for (guint attempt = 0; done < len && attempt < 100; attempt++)
    {
      ssize_t n = write (fd, line + done, len - done);

      if (n > 0)
        done += (gsize) n;
      else if (n < 0 && errno != EINTR)
        break;
    }
  close (fd);
  return done == len;
}

int
main (int   argc,
      char *argv[])
{
  Browser browser = { NULL, };
  g_autoptr(GError) error = NULL;
  const char *log_path = g_getenv ("BURSAR_TEST_BROWSER_LOG");
  const char *mode = g_getenv ("BURSAR_TEST_BROWSER_MODE");

  if (argc != 2)
    {
      g_printerr ("usage: bursar-test-browser URL\n");
      return 1;
    }

  if (log_path != NULL && !append_to_log (log_path, argv[1]))
    {
      g_printerr ("bursar-test-browser: cannot write the browser log\n");
      return 1;
    }
  if (g_strcmp0 (mode, "none") == 0)
    return 0;

  browser.current = g_uri_parse (argv[1], G_URI_FLAGS_ENCODED, &error);
  if (browser.current == NULL)
    {
      g_printerr ("bursar-test-browser: not a URL\n");
      return 1;
    }

  browser.loop = g_main_loop_new (NULL, FALSE);
  browser.session = soup_session_new_with_options ("timeout", TIMEOUT_SECONDS,
                                                   "user-agent", "bursar-test-browser",
                                                   NULL);
  browser.cancellable = g_cancellable_new ();
  browser.exit_status = 1;
  browser.timeout_id = g_timeout_add_seconds (TIMEOUT_SECONDS, on_timeout, &browser);

  browser_get (&browser);
  if (browser.failure == NULL)
    g_main_loop_run (browser.loop);

  g_clear_handle_id (&browser.timeout_id, g_source_remove);
  if (browser.failure != NULL)
    g_printerr ("bursar-test-browser: %s\n", browser.failure);

  g_clear_pointer (&browser.failure, g_free);
  g_clear_pointer (&browser.current, g_uri_unref);
  g_clear_object (&browser.cancellable);
  g_clear_object (&browser.session);
  g_clear_pointer (&browser.loop, g_main_loop_unref);
  return browser.exit_status;
}
