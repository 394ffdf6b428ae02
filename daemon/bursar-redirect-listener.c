/* bursar-redirect-listener.c
 *
 * The loopback listener of RFC 8252 §7.3. It exists for one authorization:
 * it is bound when the flow starts, answers stray requests with inert
 * error pages without giving up, hands the one request carrying the right
 * `state` to the flow, holds that browser until the flow knows whether the
 * token exchange worked, and closes its port as soon as it is done.
 *
 * Limits: the request target (path and query) is capped at 16 KiB here;
 * libsoup caps the whole request head itself (64 KiB in 3.2, not
 * configurable) and answers larger ones with an error of its own.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>
#include <libsoup/soup.h>

#include "bursar-error.h"
#include "bursar-redirect-listener.h"
#include "bursar-secret.h"

/* Longest request target (path and query) we look at. A real callback is a
 * few hundred bytes; 16 KiB leaves room for long codes and
 * error_description while bounding what we parse. */
#define MAX_TARGET_LENGTH (16 * 1024)

/* Used when the caller passes a timeout of 0, so no wait is unbounded. */
#define DEFAULT_TIMEOUT_SECONDS 300

/* How long the browser's callback may be held while the flow exchanges the
 * code; past this the browser gets the failure page and the port closes. */
#define HOLD_TIMEOUT_SECONDS 120

/* How long the final page may take to reach the browser before the
 * connection is dropped anyway. */
#define LINGER_TIMEOUT_SECONDS 5

#define DEFAULT_PATH "/callback"

typedef enum
{
  LISTENER_STATE_IDLE,          /* listening, nobody waiting yet */
  LISTENER_STATE_WAITING,       /* a wait is pending */
  LISTENER_STATE_HAVE_CALLBACK, /* the valid callback came; replays refused */
  LISTENER_STATE_CLOSED,        /* port closed (or closing) */
} ListenerState;

struct _BursarRedirectListener
{
  GObject parent_instance;

  SoupServer *server;                 /* (owned) (nullable) NULL once closed */
  char *redirect_uri;                 /* (owned) */
  char *path;                         /* (owned) exact callback path */
  char *host;                         /* (owned) expected Host header */
  char *host_default_port;            /* (owned) (nullable) Host without :80 */
  ListenerState state;

  GTask *task;                        /* (owned) (nullable) pending wait */
  char *expected_state;               /* (owned) (nullable) secret */
  char *expected_issuer;              /* (owned) (nullable) */
  gboolean issuer_required;

  GSource *timeout_source;            /* (owned) (nullable) */
  GSource *cancel_source;             /* (owned) (nullable) */
  GSource *complete_source;           /* (owned) (nullable) */
  GHashTable *result;                 /* (owned) (nullable) params to return */
  SoupServerMessage *held;            /* (owned) (nullable) valid callback */
};

G_DEFINE_TYPE (BursarRedirectListener, bursar_redirect_listener, G_TYPE_OBJECT)

/* Keeps the server alive after the listener let go of it, until the final
 * page has been written, so closing or dropping the listener never cuts
 * the browser off mid-answer. */
typedef struct
{
  SoupServer *server;                 /* (owned) */
  SoupServerMessage *msg;             /* (owned) (nullable) */
  GSource *source;                    /* (owned) */
  gulong finished_id;
} Linger;

/* ---- pages ---- */

/* Escapes @text for HTML and also writes '/' as a character reference, so
 * the page never carries a URL, not even as text (an AS's
 * error_description is shown here and may hold one). */
static void
append_escaped (GString    *page,
                const char *text)
{
  g_autofree char *escaped = g_markup_escape_text (text, -1);

  for (const char *p = escaped; *p != '\0'; p++)
    {
      if (*p == '/')
        g_string_append (page, "&#47;");
      else
        g_string_append_c (page, *p);
    }
}

static GBytes *
build_page (const char *title,
            const char *text,
            const char *message)
{
  g_autoptr(GString) page = g_string_new (NULL);

  /* Static and inert: no scripts, links, forms or external resources. */
  g_string_append (page,
                   "<!DOCTYPE html>\n"
                   "<html>\n"
                   "<head>\n"
                   "<meta charset=\"utf-8\">\n"
                   "<meta name=\"referrer\" content=\"no-referrer\">\n"
                   "<title>");
  append_escaped (page, title);
  g_string_append (page,
                   "</title>\n"
                   "<style>body{font-family:sans-serif;max-width:36em;"
                   "margin:3em auto;padding:0 1em;line-height:1.5}</style>\n"
                   "</head>\n"
                   "<body>\n"
                   "<h1>");
  append_escaped (page, title);
  g_string_append (page, "</h1>\n<p>");
  append_escaped (page, text);
  g_string_append (page, "</p>\n");
  if (message != NULL && *message != '\0')
    {
      g_string_append (page, "<p>");
      append_escaped (page, message);
      g_string_append (page, "</p>\n");
    }
  g_string_append (page, "</body>\n</html>\n");

  return g_string_free_to_bytes (g_steal_pointer (&page));
}

static void
send_page (SoupServerMessage *msg,
           guint              status,
           const char        *title,
           const char        *text,
           const char        *message)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
  g_autoptr(GBytes) page = build_page (title, text, message);
  gsize len;
  const char *data = g_bytes_get_data (page, &len);

  soup_message_headers_replace (headers, "Referrer-Policy", "no-referrer");
  soup_message_headers_replace (headers, "Cache-Control", "no-store");
  soup_message_headers_replace (headers, "X-Content-Type-Options", "nosniff");
  soup_message_headers_replace (headers, "Content-Security-Policy",
                                "default-src 'none'; style-src 'unsafe-inline'");
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "text/html; charset=utf-8",
                                    SOUP_MEMORY_COPY, data, len);
}

static void
send_rejection (SoupServerMessage *msg,
                guint              status,
                const char        *text)
{
  send_page (msg, status, _("Authorization failed"), text, NULL);
}

static void
send_final_page (SoupServerMessage *msg,
                 gboolean           success,
                 const char        *message)
{
  /* The browser has nothing more to do here; don't keep its connection. */
  soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                "Connection", "close");
  if (success)
    send_page (msg, SOUP_STATUS_OK, _("Authorization complete"),
               _("You can close this window and return to your application."),
               message);
  else
    send_page (msg, SOUP_STATUS_OK, _("Authorization failed"),
               _("The application could not complete the authorization. "
                 "You can close this window and try again from your application."),
               message);
}

/* ---- closing ---- */

static void
linger_free (Linger *linger)
{
  if (linger->msg != NULL && linger->finished_id != 0)
    g_signal_handler_disconnect (linger->msg, linger->finished_id);
  g_clear_object (&linger->msg);
  soup_server_disconnect (linger->server);
  g_clear_object (&linger->server);
  g_source_destroy (linger->source);
  g_source_unref (linger->source);
  g_free (linger);
}

static gboolean
linger_done_cb (gpointer user_data)
{
  linger_free (user_data);
  return G_SOURCE_REMOVE;
}

static void
linger_finished_cb (SoupServerMessage *msg,
                    gpointer           user_data)
{
  Linger *linger = user_data;

  /* Not from inside libsoup's own signal emission: move the timer to now
   * and disconnect from the main loop. */
  g_source_set_ready_time (linger->source, 0);
}

/* Stops accepting requests. A held browser request gets its page first;
 * the port closes once that page is written (or after a short bound). */
static void
stop_listening (BursarRedirectListener *self,
                gboolean                success,
                const char             *message)
{
  g_autoptr(SoupServerMessage) held = g_steal_pointer (&self->held);
  g_autoptr(SoupServer) server = g_steal_pointer (&self->server);
  Linger *linger;

  self->state = LISTENER_STATE_CLOSED;
  if (server == NULL)
    return;

  if (held == NULL)
    {
      g_debug ("redirect listener: closed");
      soup_server_disconnect (server);
      return;
    }

  g_debug ("redirect listener: answering the held callback (%s), then closing",
           success ? "success" : "failure");
  send_final_page (held, success, message);

  linger = g_new0 (Linger, 1);
  linger->server = g_steal_pointer (&server);
  linger->msg = g_object_ref (held);
  linger->source = g_timeout_source_new_seconds (LINGER_TIMEOUT_SECONDS);
  g_source_set_callback (linger->source, linger_done_cb, linger, NULL);
  g_source_attach (linger->source, g_main_context_get_thread_default ());
  linger->finished_id = g_signal_connect (held, "finished",
                                          G_CALLBACK (linger_finished_cb), linger);

  soup_server_message_unpause (held);
}

static void
clear_wait (BursarRedirectListener *self)
{
  if (self->timeout_source != NULL)
    g_source_destroy (self->timeout_source);
  g_clear_pointer (&self->timeout_source, g_source_unref);
  if (self->cancel_source != NULL)
    g_source_destroy (self->cancel_source);
  g_clear_pointer (&self->cancel_source, g_source_unref);
  if (self->complete_source != NULL)
    g_source_destroy (self->complete_source);
  g_clear_pointer (&self->complete_source, g_source_unref);
  g_clear_pointer (&self->result, g_hash_table_unref);
  g_clear_pointer (&self->expected_state, bursar_secret_free);
  g_clear_pointer (&self->expected_issuer, g_free);
}

/* Ends a pending wait with @error (taken) and closes the port. */
static void
fail_wait (BursarRedirectListener *self,
           GError                 *error)
{
  g_autoptr(GTask) task = g_steal_pointer (&self->task);

  clear_wait (self);
  stop_listening (self, FALSE, NULL);
  if (task != NULL)
    g_task_return_error (task, error);
  else
    g_error_free (error);
}

static gboolean
hold_timeout_cb (gpointer user_data)
{
  BursarRedirectListener *self = BURSAR_REDIRECT_LISTENER (user_data);

  g_debug ("redirect listener: nobody answered the held callback in time");
  g_clear_pointer (&self->timeout_source, g_source_unref);
  clear_wait (self);
  stop_listening (self, FALSE, NULL);
  return G_SOURCE_REMOVE;
}

static gboolean
wait_timeout_cb (gpointer user_data)
{
  BursarRedirectListener *self = BURSAR_REDIRECT_LISTENER (user_data);

  g_debug ("redirect listener: timed out");
  fail_wait (self, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                                        _("Timed out waiting for the browser to return from the authorization page.")));
  return G_SOURCE_REMOVE;
}

static gboolean
wait_cancelled_cb (GCancellable *cancellable,
                   gpointer      user_data)
{
  BursarRedirectListener *self = BURSAR_REDIRECT_LISTENER (user_data);
  GError *error = NULL;

  g_debug ("redirect listener: wait cancelled");
  g_cancellable_set_error_if_cancelled (cancellable, &error);
  fail_wait (self, error);
  return G_SOURCE_REMOVE;
}

/* Returns the valid callback from the main loop rather than from inside
 * the libsoup handler, so the caller may respond, close or drop the
 * listener from its callback. */
static gboolean
complete_cb (gpointer user_data)
{
  BursarRedirectListener *self = BURSAR_REDIRECT_LISTENER (user_data);
  g_autoptr(GTask) task = g_steal_pointer (&self->task);
  g_autoptr(GHashTable) result = g_steal_pointer (&self->result);

  g_clear_pointer (&self->complete_source, g_source_unref);
  g_task_return_pointer (task, g_steal_pointer (&result), (GDestroyNotify) g_hash_table_unref);
  return G_SOURCE_REMOVE;
}

/* ---- parameters ---- */

/* Form-decodes @query (as g_uri_parse_params() does) into a wiping table,
 * refusing repeated names: two `state` or `code` values would make it
 * ambiguous which one was checked and which one is used. */
static GHashTable *
parse_query (const char  *query,
             GError     **error)
{
  g_autoptr(GHashTable) params = bursar_secret_table_new ();
  g_autoptr(GError) local_error = NULL;
  GUriParamsIter iter;
  char *attr = NULL;
  char *value = NULL;

  if (query == NULL || *query == '\0')
    return g_steal_pointer (&params);

  g_uri_params_iter_init (&iter, query, -1, "&", G_URI_PARAMS_WWW_FORM);
  while (g_uri_params_iter_next (&iter, &attr, &value, &local_error))
    {
      g_autofree char *name = g_steal_pointer (&attr);
      g_auto(BursarSecret) content = g_steal_pointer (&value);

      if (g_hash_table_contains (params, name))
        {
          g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                               _("The callback repeats a parameter, which makes it ambiguous."));
          return NULL;
        }
      g_hash_table_insert (params, g_steal_pointer (&name), g_steal_pointer (&content));
    }

  /* GLib's message may quote the offending bytes, which can be part of
   * a code; give a fixed sentence instead. */
  if (local_error != NULL)
    {
      g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                           _("The callback parameters are not correctly encoded."));
      return NULL;
    }

  return g_steal_pointer (&params);
}

GHashTable *
bursar_callback_parse_url (const char  *redirect_url,
                           GError     **error)
{
  g_autoptr(GUri) uri = NULL;

  g_return_val_if_fail (redirect_url != NULL, NULL);

  if (strlen (redirect_url) > MAX_TARGET_LENGTH)
    {
      g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                           _("The redirect URL is too long."));
      return NULL;
    }

  /* The URL holds the code: only a fixed sentence on failure, never the
   * parser's message, which may quote the URL. */
  uri = g_uri_parse (redirect_url, G_URI_FLAGS_ENCODED, NULL);
  if (uri == NULL)
    {
      g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                           _("The redirect URL is not a valid URL."));
      return NULL;
    }

  return parse_query (g_uri_get_query (uri), error);
}

gboolean
bursar_callback_check (GHashTable  *params,
                       const char  *expected_state,
                       const char  *expected_issuer,
                       gboolean     issuer_required,
                       GError     **error)
{
  const char *state;
  const char *iss;
  gboolean has_code;
  gboolean has_error;

  g_return_val_if_fail (params != NULL, FALSE);
  g_return_val_if_fail (expected_state != NULL && *expected_state != '\0', FALSE);

  state = g_hash_table_lookup (params, "state");
  if (state == NULL)
    {
      g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                           _("The callback does not carry the state of this authorization."));
      return FALSE;
    }
  if (!bursar_secret_equal (state, expected_state))
    {
      g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                           _("The callback’s state does not match this authorization."));
      return FALSE;
    }

  /* RFC 9207: `iss` is compared as a plain string after form decoding. */
  iss = g_hash_table_lookup (params, "iss");
  if (expected_issuer != NULL)
    {
      if (iss == NULL && issuer_required)
        {
          g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                               _("The callback lacks the issuer identifier that this provider always sends."));
          return FALSE;
        }
      if (iss != NULL && g_strcmp0 (iss, expected_issuer) != 0)
        {
          g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                               _("The callback comes from a different issuer than the one of this authorization."));
          return FALSE;
        }
    }

  /* Exactly one outcome; a callback with both, or neither, is not one the
   * authorization server produced. */
  has_code = g_hash_table_contains (params, "code");
  /* Some servers (Invoiced) report a denial with error_description alone;
   * with the right state it is the server's answer all the same. */
  has_error = g_hash_table_contains (params, "error") ||
              (!has_code && g_hash_table_contains (params, "error_description"));
  if (has_code == has_error)
    {
      g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                           _("The callback must carry either an authorization code or an error."));
      return FALSE;
    }

  return TRUE;
}

/* ---- requests ---- */

static gboolean
host_matches (BursarRedirectListener *self,
              SoupServerMessage      *msg)
{
  /* get_list() joins repeated headers, so two Host headers never match. */
  const char *host = soup_message_headers_get_list (soup_server_message_get_request_headers (msg),
                                                    "Host");

  if (host == NULL)
    return FALSE;
  if (g_ascii_strcasecmp (host, self->host) == 0)
    return TRUE;
  return self->host_default_port != NULL && g_ascii_strcasecmp (host, self->host_default_port) == 0;
}

static void
server_cb (SoupServer        *server,
           SoupServerMessage *msg,
           const char        *unused_path,
           GHashTable        *unused_query,
           gpointer           user_data)
{
  g_autoptr(BursarRedirectListener) self = g_weak_ref_get (user_data);
  g_autoptr(GHashTable) params = NULL;
  g_autoptr(GError) error = NULL;
  GUri *uri = soup_server_message_get_uri (msg);
  const char *path = g_uri_get_path (uri);
  const char *query = g_uri_get_query (uri);
  gsize target_length = strlen (path) + (query != NULL ? strlen (query) + 1 : 0);
  const char *log_path;

  /* A request that raced with closing, or reached a server being drained. */
  if (self == NULL || self->server != server || self->state == LISTENER_STATE_CLOSED)
    {
      send_rejection (msg, SOUP_STATUS_BAD_REQUEST,
                      _("This authorization is no longer in progress."));
      return;
    }

  /* Only our own path goes into the log: libsoup may leave the query in
   * the path of a malformed request (seen without a Host header). */
  log_path = strcmp (path, self->path) == 0 ? self->path : "(other path)";

  if (target_length > MAX_TARGET_LENGTH)
    {
      g_debug ("redirect listener: oversized request rejected");
      send_rejection (msg, SOUP_STATUS_REQUEST_URI_TOO_LONG, _("The request is too long."));
      return;
    }

  /* DNS rebinding: a web page whose name resolves to 127.0.0.1 reaches
   * this port, but its requests carry its own name in Host. */
  if (!host_matches (self, msg))
    {
      g_debug ("redirect listener: %s: request with wrong Host rejected", log_path);
      send_rejection (msg, SOUP_STATUS_BAD_REQUEST, _("The request is not addressed to this application."));
      return;
    }

  if (strcmp (path, self->path) != 0)
    {
      g_debug ("redirect listener: %s: unknown path rejected", log_path);
      send_rejection (msg, SOUP_STATUS_NOT_FOUND, _("There is nothing at this address."));
      return;
    }

  if (strcmp (soup_server_message_get_method (msg), SOUP_METHOD_GET) != 0)
    {
      g_debug ("redirect listener: %s: wrong method rejected", log_path);
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Allow", "GET");
      send_rejection (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, _("The request method is not allowed here."));
      return;
    }

  if (self->state == LISTENER_STATE_HAVE_CALLBACK)
    {
      g_debug ("redirect listener: %s: callback after completion (replay) rejected", log_path);
      send_rejection (msg, SOUP_STATUS_BAD_REQUEST, _("This authorization has already been completed."));
      return;
    }
  if (self->state != LISTENER_STATE_WAITING)
    {
      g_debug ("redirect listener: %s: callback before the wait started rejected", log_path);
      send_rejection (msg, SOUP_STATUS_BAD_REQUEST, _("This authorization is not in progress."));
      return;
    }

  params = parse_query (query, &error);
  if (params == NULL ||
      !bursar_callback_check (params, self->expected_state, self->expected_issuer,
                              self->issuer_required, &error))
    {
      /* The error text is fixed and holds no parameter values. */
      g_debug ("redirect listener: %s: callback rejected: %s", log_path, error->message);
      send_rejection (msg, SOUP_STATUS_BAD_REQUEST, error->message);
      return;
    }

  g_debug ("redirect listener: %s: valid callback received", log_path);

  /* The browser waits for the outcome of the token exchange. */
  soup_server_message_pause (msg);
  self->held = g_object_ref (msg);
  self->state = LISTENER_STATE_HAVE_CALLBACK;

  clear_wait (self);
  self->result = g_steal_pointer (&params);

  self->timeout_source = g_timeout_source_new_seconds (HOLD_TIMEOUT_SECONDS);
  g_source_set_callback (self->timeout_source, hold_timeout_cb, self, NULL);
  g_source_attach (self->timeout_source, g_task_get_context (self->task));

  self->complete_source = g_idle_source_new ();
  g_source_set_callback (self->complete_source, complete_cb, self, NULL);
  g_source_attach (self->complete_source, g_task_get_context (self->task));
}

static void
weak_ref_free (gpointer data)
{
  g_weak_ref_clear (data);
  g_free (data);
}

/* ---- redirect URI ---- */

static gboolean
path_is_plain (const char *path)
{
  if (path[0] != '/')
    return FALSE;
  for (const char *p = path; *p != '\0'; p++)
    {
      if (!g_ascii_isalnum (*p) && strchr ("/-._~", *p) == NULL)
        return FALSE;
    }
  return TRUE;
}

/* Accepts only http on a loopback host with an explicit port and a plain
 * path, and says which address to bind. */
static gboolean
parse_fixed_redirect_uri (const char    *redirect_uri,
                          GInetAddress **out_address,
                          guint16       *out_port,
                          char         **out_host,
                          char         **out_path,
                          GError       **error)
{
  g_autoptr(GUri) uri = g_uri_parse (redirect_uri, G_URI_FLAGS_ENCODED, NULL);
  g_autoptr(GInetAddress) address = NULL;
  const char *host;
  const char *host_in_header;
  int port;

  if (uri == NULL ||
      g_strcmp0 (g_uri_get_scheme (uri), "http") != 0 ||
      g_uri_get_userinfo (uri) != NULL ||
      g_uri_get_query (uri) != NULL ||
      g_uri_get_fragment (uri) != NULL ||
      !path_is_plain (g_uri_get_path (uri)))
    {
      g_set_error (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                   _("The redirect URI “%s” must have the form http://127.0.0.1:PORT/PATH."),
                   redirect_uri);
      return FALSE;
    }

  host = g_uri_get_host (uri);
  if (g_strcmp0 (host, "127.0.0.1") == 0)
    {
      address = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
      host_in_header = "127.0.0.1";
    }
  else if (g_strcmp0 (host, "::1") == 0)
    {
      address = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV6);
      host_in_header = "[::1]";
    }
  else if (host != NULL && g_ascii_strcasecmp (host, "localhost") == 0)
    {
      /* Bind the IP literal, never whatever "localhost" resolves to. */
      address = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
      host_in_header = "localhost";
    }
  else
    {
      g_set_error (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                   _("The redirect URI “%s” is not on the loopback interface."),
                   redirect_uri);
      return FALSE;
    }

  port = g_uri_get_port (uri);
  if (port <= 0 || port > G_MAXUINT16)
    {
      g_set_error (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                   _("The redirect URI “%s” must name a port."),
                   redirect_uri);
      return FALSE;
    }

  *out_address = g_steal_pointer (&address);
  *out_port = (guint16) port;
  *out_host = g_strdup_printf ("%s:%d", host_in_header, port);
  *out_path = g_strdup (g_uri_get_path (uri));
  return TRUE;
}

/* ---- object ---- */

static void
bursar_redirect_listener_dispose (GObject *object)
{
  BursarRedirectListener *self = BURSAR_REDIRECT_LISTENER (object);

  /* A pending wait holds a reference, so no task can be left here. */
  clear_wait (self);
  stop_listening (self, FALSE, NULL);

  G_OBJECT_CLASS (bursar_redirect_listener_parent_class)->dispose (object);
}

static void
bursar_redirect_listener_finalize (GObject *object)
{
  BursarRedirectListener *self = BURSAR_REDIRECT_LISTENER (object);

  g_free (self->redirect_uri);
  g_free (self->path);
  g_free (self->host);
  g_free (self->host_default_port);

  G_OBJECT_CLASS (bursar_redirect_listener_parent_class)->finalize (object);
}

static void
bursar_redirect_listener_class_init (BursarRedirectListenerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = bursar_redirect_listener_dispose;
  object_class->finalize = bursar_redirect_listener_finalize;
}

static void
bursar_redirect_listener_init (BursarRedirectListener *self)
{
}

BursarRedirectListener *
bursar_redirect_listener_new (const char  *redirect_uri,
                              GError     **error)
{
  g_autoptr(BursarRedirectListener) self = NULL;
  g_autoptr(GInetAddress) address = NULL;
  g_autoptr(GSocketAddress) socket_address = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autofree char *host = NULL;
  g_autofree char *path = NULL;
  GWeakRef *weak;
  guint16 port = 0;
  GSList *listeners;

  if (redirect_uri != NULL)
    {
      if (!parse_fixed_redirect_uri (redirect_uri, &address, &port, &host, &path, error))
        return NULL;
    }
  else
    {
      address = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
      path = g_strdup (DEFAULT_PATH);
    }

  self = g_object_new (BURSAR_TYPE_REDIRECT_LISTENER, NULL);
  /* No Server header: the page tells nobody which library answers. */
  self->server = soup_server_new ("server-header", NULL, NULL);

  weak = g_new0 (GWeakRef, 1);
  g_weak_ref_init (weak, self);
  soup_server_add_handler (self->server, NULL, server_cb, weak, weak_ref_free);

  socket_address = g_inet_socket_address_new (address, port);
  /* A fixed port may be taken by another program: a network condition
   * the user can fix, not a bad argument. */
  if (!soup_server_listen (self->server, socket_address, 0, &local_error))
    {
      g_set_error (error, BURSAR_ERROR, BURSAR_ERROR_NETWORK,
                   _("Could not listen for the browser’s redirect: %s"),
                   local_error->message);
      return NULL;
    }

  if (redirect_uri == NULL)
    {
      /* Learn the ephemeral port the kernel picked. */
      g_autoptr(GSocketAddress) local = NULL;

      listeners = soup_server_get_listeners (self->server);
      if (listeners != NULL)
        local = g_socket_get_local_address (listeners->data, &local_error);
      g_slist_free (listeners);
      if (local == NULL || !G_IS_INET_SOCKET_ADDRESS (local))
        {
          g_set_error (error, BURSAR_ERROR, BURSAR_ERROR_NETWORK,
                       _("Could not listen for the browser’s redirect: %s"),
                       local_error != NULL ? local_error->message : _("no listening socket"));
          return NULL;
        }
      port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local));
      host = g_strdup_printf ("127.0.0.1:%u", port);
      self->redirect_uri = g_strdup_printf ("http://%s%s", host, path);
    }
  else
    {
      /* Returned byte for byte, since it must equal what is registered. */
      self->redirect_uri = g_strdup (redirect_uri);
    }

  /* Browsers leave out the default port from Host. */
  if (port == 80)
    self->host_default_port = g_strndup (host, strlen (host) - strlen (":80"));
  self->host = g_steal_pointer (&host);
  self->path = g_steal_pointer (&path);
  self->state = LISTENER_STATE_IDLE;

  g_debug ("redirect listener: listening on %s", self->redirect_uri);
  return g_steal_pointer (&self);
}

const char *
bursar_redirect_listener_get_redirect_uri (BursarRedirectListener *self)
{
  g_return_val_if_fail (BURSAR_IS_REDIRECT_LISTENER (self), NULL);

  return self->redirect_uri;
}

void
bursar_redirect_listener_wait_async (BursarRedirectListener *self,
                                     const char             *expected_state,
                                     const char             *expected_issuer,
                                     gboolean                issuer_required,
                                     guint                   timeout_seconds,
                                     GCancellable           *cancellable,
                                     GAsyncReadyCallback     callback,
                                     gpointer                user_data)
{
  g_autoptr(GTask) task = NULL;
  GMainContext *context;

  g_return_if_fail (BURSAR_IS_REDIRECT_LISTENER (self));
  g_return_if_fail (expected_state != NULL && *expected_state != '\0');
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, bursar_redirect_listener_wait_async);

  if (self->state == LISTENER_STATE_WAITING)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_PENDING,
                               _("The redirect listener is already waiting for a callback."));
      return;
    }
  if (self->state != LISTENER_STATE_IDLE)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CLOSED,
                               _("The redirect listener is closed."));
      return;
    }
  if (g_task_return_error_if_cancelled (task))
    {
      stop_listening (self, FALSE, NULL);
      return;
    }

  if (timeout_seconds == 0)
    timeout_seconds = DEFAULT_TIMEOUT_SECONDS;

  self->state = LISTENER_STATE_WAITING;
  self->expected_state = g_strdup (expected_state);
  self->expected_issuer = g_strdup (expected_issuer);
  self->issuer_required = issuer_required;

  context = g_task_get_context (task);
  self->timeout_source = g_timeout_source_new_seconds (timeout_seconds);
  g_source_set_callback (self->timeout_source, wait_timeout_cb, self, NULL);
  g_source_attach (self->timeout_source, context);

  /* A GCancellableSource runs from the main loop, not from inside
   * g_cancellable_cancel(), so closing and returning here is safe. */
  if (cancellable != NULL)
    {
      self->cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_callback (self->cancel_source, G_SOURCE_FUNC (wait_cancelled_cb), self, NULL);
      g_source_attach (self->cancel_source, context);
    }

  self->task = g_steal_pointer (&task);
}

GHashTable *
bursar_redirect_listener_wait_finish (BursarRedirectListener  *self,
                                      GAsyncResult            *result,
                                      GError                 **error)
{
  g_return_val_if_fail (BURSAR_IS_REDIRECT_LISTENER (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == bursar_redirect_listener_wait_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

void
bursar_redirect_listener_respond (BursarRedirectListener *self,
                                  gboolean                success,
                                  const char             *message)
{
  g_return_if_fail (BURSAR_IS_REDIRECT_LISTENER (self));

  if (self->task != NULL)
    {
      /* Responding before the callback came: nobody to answer; the wait
       * ends as if closed. */
      fail_wait (self, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CLOSED,
                                            _("The redirect listener was closed.")));
      return;
    }

  clear_wait (self);
  stop_listening (self, success, message);
}

void
bursar_redirect_listener_close (BursarRedirectListener *self)
{
  g_return_if_fail (BURSAR_IS_REDIRECT_LISTENER (self));

  if (self->task != NULL)
    {
      fail_wait (self, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CLOSED,
                                            _("The redirect listener was closed.")));
      return;
    }

  clear_wait (self);
  stop_listening (self, FALSE, NULL);
}
