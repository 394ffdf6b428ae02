/* fuzz-common.c: GLib set-up and the loopback answer server.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <libsoup/soup.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-common.h"

/* A request that takes longer than this on loopback is a hang. */
#define HANG_TIMEOUT_MS 10000

void
fuzz_init (void)
{
  static gboolean done = FALSE;

  if (done)
    return;
  done = TRUE;

  setlocale (LC_ALL, "C.UTF-8");
  g_setenv ("GIO_USE_VFS", "local", TRUE);
  g_setenv ("GSETTINGS_BACKEND", "memory", TRUE);
  /* No proxy from the environment may take the loopback requests away. */
  g_setenv ("GIO_USE_PROXY_RESOLVER", "dummy", TRUE);
  g_unsetenv ("http_proxy");
  g_unsetenv ("https_proxy");
  g_unsetenv ("no_proxy");
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
}

char *
fuzz_dup_string (const uint8_t *data,
                 size_t         size)
{
  return g_strndup ((const char *) data, size);
}

gboolean
fuzz_known_bug (const char *bug)
{
  static gboolean said = FALSE;
  const char *list = g_getenv ("BURSAR_FUZZ_KNOWN_BUGS");
  g_auto(GStrv) names = list != NULL ? g_strsplit (list, ",", -1) : NULL;

  if (names == NULL || !g_strv_contains ((const char * const *) names, bug))
    return FALSE;
  if (!said)
    g_printerr ("KNOWN BUG %s hit (allowed by BURSAR_FUZZ_KNOWN_BUGS)\n", bug);
  said = TRUE;
  return TRUE;
}

/* --- the answer server --------------------------------------------------- */

static SoupServer *server;
static char *server_url;
static guint answer_status = 200;
static char *answer_retry_after;
static GBytes *answer_body;

static void
server_cb (SoupServer        *srv,
           SoupServerMessage *msg,
           const char        *path,
           GHashTable        *query,
           gpointer           user_data)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
  gsize len = 0;
  const char *body = answer_body != NULL ? g_bytes_get_data (answer_body, &len) : NULL;

  /* One connection per answer: the client drops a connection whose
   * answer it refused (bounded read, bad framing), and the server side of
   * such a connection was left in CLOSE_WAIT, one descriptor per
   * execution, until a long run ran out of them. */
  soup_message_headers_replace (headers, "Connection", "close");
  soup_server_message_set_status (msg, answer_status, NULL);
  if (answer_retry_after != NULL)
    soup_message_headers_replace (headers, "Retry-After", answer_retry_after);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_COPY,
                                    body != NULL ? body : "", len);
}

const char *
fuzz_server_url (void)
{
  g_autoptr(GError) error = NULL;
  GSList *uris;

  if (server_url != NULL)
    return server_url;

  server = soup_server_new (NULL, NULL);
  soup_server_add_handler (server, NULL, server_cb, NULL, NULL);
  if (!soup_server_listen_local (server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error))
    {
      g_printerr ("Cannot listen on 127.0.0.1: %s\n", error->message);
      abort ();
    }
  uris = soup_server_get_uris (server);
  g_assert (uris != NULL);
  server_url = g_uri_to_string (uris->data);
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
  return server_url;
}

void
fuzz_server_set_answer (guint          status,
                        const char    *retry_after,
                        const uint8_t *body,
                        size_t         body_len)
{
  answer_status = status;
  g_clear_pointer (&answer_retry_after, g_free);
  /* libsoup refuses header values with CR, LF or NUL (with a warning);
   * anything else printable is fair game for the daemon's parser. */
  if (retry_after != NULL)
    {
      GString *clean = g_string_new (NULL);

      for (const char *p = retry_after; *p != '\0'; p++)
        if (g_ascii_isprint (*p))
          g_string_append_c (clean, *p);
      answer_retry_after = g_string_free (clean, FALSE);
    }
  g_clear_pointer (&answer_body, g_bytes_unref);
  answer_body = g_bytes_new (body, body_len);
}

static gboolean
set_flag_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

void
fuzz_iterate_until (const gboolean *done,
                    guint           timeout_ms)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add (timeout_ms > 0 ? timeout_ms : HANG_TIMEOUT_MS, set_flag_cb, &timed_out);

  while (!*done && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!*done)
    {
      g_printerr ("The call did not finish within %u ms\n", timeout_ms);
      abort ();
    }
  g_source_remove (id);
}
