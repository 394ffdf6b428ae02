/* test-redirect-listener.c: the loopback redirect listener and the
 * callback parameter checks.
 *
 * Requests are raw HTTP/1.1 written by a helper thread with blocking
 * GSocketClient calls, so the test controls every byte (Host, method,
 * size) while the main thread runs the listener's main loop.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <ifaddrs.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include <gio/gio.h>

#include "bursar-error.h"
#include "bursar-redirect-listener.h"

#define STATE "k3Jp0Q-8a_Vx2LrT9mWcYz4NbHsE1uDfGiOqA7tR5lE"
#define CODE "SplxlOBeZQQYbYS6WxSbIA"
#define ISSUER "https://as.example.com"
#define IO_TIMEOUT_MS 10000

/* ---- a raw HTTP client on a thread ---- */

typedef struct
{
  GInetAddress *address;      /* (owned) */
  guint16 port;
  char *request;              /* (owned) */
  GByteArray *response;       /* (owned) */
  GError *error;              /* (owned) (nullable) */
  gint done;
  GThread *thread;            /* (owned) */
} RawCall;

typedef struct
{
  guint status;
  GHashTable *headers;        /* (owned) lower-case name → value */
  char *body;                 /* (owned) */
} Response;

static void
response_free (Response *response)
{
  g_hash_table_unref (response->headers);
  g_free (response->body);
  g_free (response);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Response, response_free)

static gpointer
raw_call_thread (gpointer data)
{
  RawCall *call = data;
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (call->address, call->port);
  g_autoptr(GSocketConnection) connection = NULL;
  g_autoptr(GError) write_error = NULL;
  guint8 buffer[4096];

  g_socket_client_set_enable_proxy (client, FALSE);
  g_socket_client_set_timeout (client, IO_TIMEOUT_MS / 1000);
  connection = g_socket_client_connect (client, G_SOCKET_CONNECTABLE (address), NULL, &call->error);
  if (connection != NULL)
    {
      GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (connection));
      GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (connection));

      /* The server may answer an oversized request and hang up before
       * all of it is written; what it answered is still read below. */
      g_output_stream_write_all (out, call->request, strlen (call->request), NULL, NULL, &write_error);

      /* Bounded by the socket timeout and by size. */
      while (call->response->len < 1024 * 1024)
        {
          gssize n = g_input_stream_read (in, buffer, sizeof (buffer), NULL,
                                          call->response->len == 0 ? &call->error : NULL);

          if (n <= 0)
            break;
          g_byte_array_append (call->response, buffer, (guint) n);
        }
    }

  g_atomic_int_set (&call->done, 1);
  g_main_context_wakeup (NULL);
  return NULL;
}

static RawCall *
raw_call_start (const char *address,
                guint16     port,
                const char *request)
{
  RawCall *call = g_new0 (RawCall, 1);

  call->address = g_inet_address_new_from_string (address);
  g_assert_nonnull (call->address);
  call->port = port;
  call->request = g_strdup (request);
  call->response = g_byte_array_new ();
  call->thread = g_thread_new ("raw-http", raw_call_thread, call);
  return call;
}

static gboolean
tick_cb (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

/* Runs the main loop until *@flag is set or @timeout_ms passes. */
static gboolean
iterate_until (gint *flag,
               guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  guint tick = g_timeout_add (20, tick_cb, NULL);

  while (!g_atomic_int_get (flag) && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (tick);
  return g_atomic_int_get (flag) != 0;
}

static void
iterate_for (guint timeout_ms)
{
  gint never = 0;

  iterate_until (&never, timeout_ms);
}

static gboolean
raw_call_is_done (RawCall *call)
{
  return g_atomic_int_get (&call->done) != 0;
}

/* Waits for the answer and parses it; status 0 if the server hung up
 * without one. */
static Response *
raw_call_finish (RawCall *call)
{
  Response *response = g_new0 (Response, 1);
  g_autofree char *text = NULL;
  const char *head_end;
  g_auto(GStrv) lines = NULL;

  g_assert_true (iterate_until (&call->done, IO_TIMEOUT_MS));
  g_thread_join (call->thread);

  response->headers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  text = g_malloc0 (call->response->len + 1);
  if (call->response->len > 0)
    memcpy (text, call->response->data, call->response->len);
  head_end = strstr (text, "\r\n\r\n");
  if (head_end != NULL)
    {
      g_autofree char *head = g_strndup (text, (gsize) (head_end - text));

      lines = g_strsplit (head, "\r\n", -1);
      g_assert_true (g_str_has_prefix (lines[0], "HTTP/1."));
      response->status = (guint) g_ascii_strtoull (lines[0] + strlen ("HTTP/1.1 "), NULL, 10);
      for (guint i = 1; lines[i] != NULL; i++)
        {
          const char *colon = strchr (lines[i], ':');

          g_assert_nonnull (colon);
          g_hash_table_insert (response->headers,
                               g_ascii_strdown (lines[i], colon - lines[i]),
                               g_strstrip (g_strdup (colon + 1)));
        }
      response->body = g_strdup (head_end + 4);
    }
  else
    {
      response->body = g_strdup ("");
    }

  g_clear_object (&call->address);
  g_free (call->request);
  g_byte_array_unref (call->response);
  g_clear_error (&call->error);
  g_free (call);
  return response;
}

static Response *
raw_request (const char *address,
             guint16     port,
             const char *request)
{
  return raw_call_finish (raw_call_start (address, port, request));
}

/* ---- the listener under test ---- */

typedef struct
{
  char *address;              /* (owned) IP to connect to */
  guint16 port;
  char *host;                 /* (owned) Host header value */
  char *path;                 /* (owned) */
} Target;

static void
target_free (Target *target)
{
  g_free (target->address);
  g_free (target->host);
  g_free (target->path);
  g_free (target);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Target, target_free)

static Target *
target_for (BursarRedirectListener *listener)
{
  g_autoptr(GUri) uri = g_uri_parse (bursar_redirect_listener_get_redirect_uri (listener),
                                     G_URI_FLAGS_ENCODED, NULL);
  Target *target = g_new0 (Target, 1);
  const char *host;

  g_assert_nonnull (uri);
  host = g_uri_get_host (uri);
  target->port = (guint16) g_uri_get_port (uri);
  target->path = g_strdup (g_uri_get_path (uri));
  if (strcmp (host, "::1") == 0)
    {
      target->address = g_strdup ("::1");
      target->host = g_strdup_printf ("[::1]:%u", target->port);
    }
  else
    {
      target->address = g_strdup ("127.0.0.1");
      target->host = g_strdup_printf ("%s:%u", host, target->port);
    }
  return target;
}

static char *
get_request (const char *host,
             const char *target)
{
  return g_strdup_printf ("GET %s HTTP/1.1\r\n"
                          "Host: %s\r\n"
                          "User-Agent: test-redirect-listener\r\n"
                          "Connection: close\r\n"
                          "\r\n", target, host);
}

static RawCall *
get_start (Target     *target,
           const char *query)
{
  g_autofree char *path_query = g_strdup_printf ("%s%s", target->path, query);
  g_autofree char *request = get_request (target->host, path_query);

  return raw_call_start (target->address, target->port, request);
}

/* A GET of @path_query that is expected to be answered at once. */
static Response *
get (Target     *target,
     const char *path_query)
{
  g_autofree char *request = get_request (target->host, path_query);

  return raw_request (target->address, target->port, request);
}

/* A GET of the callback path with @query. */
static Response *
get_callback (Target     *target,
              const char *query)
{
  return raw_call_finish (get_start (target, query));
}

typedef struct
{
  gint done;
  GHashTable *params;         /* (owned) (nullable) */
  GError *error;              /* (owned) (nullable) */
} WaitResult;

static void
wait_result_clear (WaitResult *result)
{
  g_clear_pointer (&result->params, g_hash_table_unref);
  g_clear_error (&result->error);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (WaitResult, wait_result_clear)

static void
wait_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  WaitResult *wait = user_data;

  wait->params = bursar_redirect_listener_wait_finish (BURSAR_REDIRECT_LISTENER (source),
                                                       result, &wait->error);
  g_atomic_int_set (&wait->done, 1);
}

static void
start_wait (BursarRedirectListener *listener,
            const char             *issuer,
            gboolean                issuer_required,
            guint                   timeout_seconds,
            GCancellable           *cancellable,
            WaitResult             *wait)
{
  bursar_redirect_listener_wait_async (listener, STATE, issuer, issuer_required,
                                       timeout_seconds, cancellable, wait_cb, wait);
}

static gboolean
port_is_open (const char *address,
              guint16     port)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GInetAddress) inet = g_inet_address_new_from_string (address);
  g_autoptr(GSocketAddress) socket_address = g_inet_socket_address_new (inet, port);
  g_autoptr(GSocketConnection) connection = NULL;

  g_socket_client_set_enable_proxy (client, FALSE);
  g_socket_client_set_timeout (client, 2);
  connection = g_socket_client_connect (client, G_SOCKET_CONNECTABLE (socket_address), NULL, NULL);
  return connection != NULL;
}

/* The port closes once the last page is written, a few iterations later. */
static void
assert_port_closes (const char *address,
                    guint16     port)
{
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

  while (port_is_open (address, port))
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      iterate_for (20);
    }
}

/* Every answer of the listener carries these, whatever its status. */
static void
assert_inert_page (Response *response)
{
  g_assert_cmpstr (g_hash_table_lookup (response->headers, "content-type"), ==,
                   "text/html; charset=utf-8");
  g_assert_cmpstr (g_hash_table_lookup (response->headers, "referrer-policy"), ==, "no-referrer");
  g_assert_cmpstr (g_hash_table_lookup (response->headers, "cache-control"), ==, "no-store");
  g_assert_cmpstr (g_hash_table_lookup (response->headers, "x-content-type-options"), ==, "nosniff");
  g_assert_cmpstr (g_hash_table_lookup (response->headers, "content-security-policy"), ==,
                   "default-src 'none'; style-src 'unsafe-inline'");
  g_assert_false (g_hash_table_contains (response->headers, "location"));
  g_assert_false (g_hash_table_contains (response->headers, "server"));
  g_assert_cmpuint (response->status / 100, !=, 3);

  g_assert_nonnull (strstr (response->body, "<meta charset=\"utf-8\">"));
  g_assert_null (strstr (response->body, "http://"));
  g_assert_null (strstr (response->body, "https://"));
  g_assert_null (g_strstr_len (response->body, -1, "<script"));
  g_assert_null (g_strstr_len (response->body, -1, "<a "));
  g_assert_null (g_strstr_len (response->body, -1, "<img"));
  g_assert_null (g_strstr_len (response->body, -1, "<link"));
  g_assert_null (g_strstr_len (response->body, -1, "<form"));
}

static void
assert_rejected (Response *response,
                 guint     status)
{
  g_assert_cmpuint (response->status, ==, status);
  assert_inert_page (response);
  g_assert_nonnull (strstr (response->body, "Authorization failed"));
}

/* Sends the real callback, checks the wait ends with @code while the
 * browser is held, answers it and checks the page and that the port
 * closes. */
static void
complete_flow (BursarRedirectListener *listener,
               Target                 *target,
               WaitResult             *wait,
               const char             *query)
{
  RawCall *call = get_start (target, query);
  g_autoptr(Response) response = NULL;

  g_assert_true (iterate_until (&wait->done, IO_TIMEOUT_MS));
  g_assert_no_error (wait->error);
  g_assert_nonnull (wait->params);
  g_assert_cmpstr (g_hash_table_lookup (wait->params, "state"), ==, STATE);

  /* Held until the flow knows the outcome. */
  iterate_for (100);
  g_assert_false (raw_call_is_done (call));

  bursar_redirect_listener_respond (listener, TRUE, "Signed in.");
  response = raw_call_finish (call);
  g_assert_cmpuint (response->status, ==, 200);
  assert_inert_page (response);
  g_assert_nonnull (strstr (response->body, "Authorization complete"));
  g_assert_nonnull (strstr (response->body, "You can close this window and return to your application."));
  g_assert_nonnull (strstr (response->body, "Signed in."));

  assert_port_closes (target->address, target->port);
}

static BursarRedirectListener *
listener_new_default (void)
{
  g_autoptr(GError) error = NULL;
  BursarRedirectListener *listener = bursar_redirect_listener_new (NULL, &error);

  g_assert_no_error (error);
  g_assert_nonnull (listener);
  return listener;
}

/* ---- what is listening, from the kernel's tables ---- */

/* Local addresses of sockets in LISTEN state on @port, from /proc/net/tcp
 * and /proc/net/tcp6 (what `ss -ltn` shows). */
static GPtrArray *
listening_addresses (guint16 port)
{
  static const char *const files[] = { "/proc/net/tcp", "/proc/net/tcp6" };
  GPtrArray *found = g_ptr_array_new_with_free_func (g_free);

  for (gsize f = 0; f < G_N_ELEMENTS (files); f++)
    {
      g_autofree char *contents = NULL;
      g_auto(GStrv) lines = NULL;
      gboolean ipv6 = f == 1;

      if (!g_file_get_contents (files[f], &contents, NULL, NULL))
        continue;
      lines = g_strsplit (contents, "\n", -1);
      for (guint i = 1; lines[i] != NULL; i++)
        {
          g_auto(GStrv) fields = g_strsplit_set (g_strstrip (lines[i]), " ", -1);
          g_autoptr(GPtrArray) words = g_ptr_array_new ();
          const char *local;
          const char *colon;
          guint8 bytes[16];
          gsize n_words;
          g_autoptr(GInetAddress) address = NULL;

          for (guint j = 0; fields[j] != NULL; j++)
            if (*fields[j] != '\0')
              g_ptr_array_add (words, fields[j]);
          if (words->len < 4)
            continue;
          /* st 0A is TCP_LISTEN. */
          if (strcmp (g_ptr_array_index (words, 3), "0A") != 0)
            continue;
          local = g_ptr_array_index (words, 1);
          colon = strchr (local, ':');
          if (colon == NULL || g_ascii_strtoull (colon + 1, NULL, 16) != port)
            continue;

          /* The kernel prints each 32-bit word of the address in host
           * order; its bytes in memory are the address. */
          n_words = ipv6 ? 4 : 1;
          g_assert_cmpuint ((gsize) (colon - local), ==, n_words * 8);
          for (gsize w = 0; w < n_words; w++)
            {
              g_autofree char *hex = g_strndup (local + w * 8, 8);
              guint32 word = (guint32) g_ascii_strtoull (hex, NULL, 16);

              memcpy (bytes + w * 4, &word, 4);
            }
          address = g_inet_address_new_from_bytes (bytes, ipv6 ? G_SOCKET_FAMILY_IPV6 : G_SOCKET_FAMILY_IPV4);
          g_ptr_array_add (found, g_inet_address_to_string (address));
        }
    }
  return found;
}

static guint
n_listening (guint16 port)
{
  g_autoptr(GPtrArray) found = listening_addresses (port);

  return found->len;
}

static void
assert_listening_only_on (guint16     port,
                          const char *address)
{
  g_autoptr(GPtrArray) found = listening_addresses (port);

  g_assert_cmpuint (found->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (found, 0), ==, address);
}

/* ---- listener tests ---- */

static void
test_default_uri (void)
{
  g_autoptr(BursarRedirectListener) listener = listener_new_default ();
  g_autoptr(GRegex) regex = g_regex_new ("^http://127\\.0\\.0\\.1:[1-9][0-9]*/callback$", 0, 0, NULL);
  g_autoptr(Target) target = target_for (listener);
  struct ifaddrs *addresses = NULL;
  guint n_other = 0;

  g_assert_true (g_regex_match (regex, bursar_redirect_listener_get_redirect_uri (listener), 0, NULL));
  g_assert_cmpuint (target->port, !=, 0);

  /* Only the loopback IP literal, never 0.0.0.0 or ::. */
  assert_listening_only_on (target->port, "127.0.0.1");
  g_assert_true (port_is_open ("127.0.0.1", target->port));

  /* Through the machine's other addresses the port is not reachable. */
  g_assert_cmpint (getifaddrs (&addresses), ==, 0);
  for (struct ifaddrs *ifa = addresses; ifa != NULL; ifa = ifa->ifa_next)
    {
      g_autoptr(GSocketAddress) socket_address = NULL;
      g_autofree char *text = NULL;
      GInetAddress *inet;

      if (ifa->ifa_addr == NULL ||
          (ifa->ifa_addr->sa_family != AF_INET && ifa->ifa_addr->sa_family != AF_INET6))
        continue;
      socket_address = g_socket_address_new_from_native (ifa->ifa_addr,
                                                         ifa->ifa_addr->sa_family == AF_INET
                                                         ? sizeof (struct sockaddr_in)
                                                         : sizeof (struct sockaddr_in6));
      inet = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (socket_address));
      if (g_inet_address_get_is_loopback (inet) || g_inet_address_get_is_link_local (inet))
        continue;
      text = g_inet_address_to_string (inet);
      g_test_message ("checking %s is refused", text);
      g_assert_false (port_is_open (text, target->port));
      n_other++;
    }
  freeifaddrs (addresses);
  g_test_message ("%u non-loopback addresses checked", n_other);

  bursar_redirect_listener_close (listener);
  assert_port_closes ("127.0.0.1", target->port);
  g_assert_cmpuint (n_listening (target->port), ==, 0);
}

static void
test_success (void)
{
  g_autoptr(BursarRedirectListener) listener = listener_new_default ();
  g_autoptr(Target) target = target_for (listener);
  g_auto(WaitResult) wait = { 0, };

  start_wait (listener, NULL, FALSE, 30, NULL, &wait);
  complete_flow (listener, target, &wait, "?code=" CODE "&state=" STATE "&extra=a+b%2Bc");
  g_assert_cmpstr (g_hash_table_lookup (wait.params, "code"), ==, CODE);
  /* Form decoding: '+' is a space, %2B a plus. */
  g_assert_cmpstr (g_hash_table_lookup (wait.params, "extra"), ==, "a b+c");
}

static void
test_wrong_path (void)
{
  g_autoptr(BursarRedirectListener) listener = listener_new_default ();
  g_autoptr(Target) target = target_for (listener);
  g_auto(WaitResult) wait = { 0, };
  static const char *const paths[] = {
    "/", "/favicon.ico", "/callback/", "/Callback", "/callbac", "/callback2",
    "//callback", "/callback/..", "/callback;x",
  };

  start_wait (listener, NULL, FALSE, 30, NULL, &wait);
  for (gsize i = 0; i < G_N_ELEMENTS (paths); i++)
    {
      g_autofree char *path_query = g_strdup_printf ("%s?code=" CODE "&state=" STATE, paths[i]);
      g_autoptr(Response) response = get (target, path_query);

      g_test_message ("path %s", paths[i]);
      assert_rejected (response, 404);
    }
  iterate_for (50);
  g_assert_false (wait.done);

  complete_flow (listener, target, &wait, "?code=" CODE "&state=" STATE);
  g_assert_cmpstr (g_hash_table_lookup (wait.params, "code"), ==, CODE);
}

static void
test_wrong_state (void)
{
  g_autoptr(BursarRedirectListener) listener = listener_new_default ();
  g_autoptr(Target) target = target_for (listener);
  g_auto(WaitResult) wait = { 0, };
  static const char *const queries[] = {
    "?code=forged&state=wrong",
    "?code=forged&state=",
    "?code=forged",
    "",
    "?code=forged&state=" STATE "x",
    "?code=forged&state=" STATE "&state=" STATE,          /* ambiguous */
    "?code=forged&code=" CODE "&state=" STATE,            /* ambiguous */
    "?state=" STATE,                                      /* no outcome */
    "?state=" STATE "&code=" CODE "&error=access_denied", /* two outcomes */
  };

  start_wait (listener, NULL, FALSE, 30, NULL, &wait);
  for (gsize i = 0; i < G_N_ELEMENTS (queries); i++)
    {
      g_autoptr(Response) response = get_callback (target, queries[i]);

      g_test_message ("query %s", queries[i]);
      assert_rejected (response, 400);
      g_assert_null (strstr (response->body, STATE));
      g_assert_null (strstr (response->body, "forged"));
    }

  /* Bad percent-encoding: libsoup itself refuses the request target. */
  {
    g_autoptr(Response) response = get_callback (target, "?code=forged&state=%zz");

    g_assert_cmpuint (response->status, ==, 400);
  }
  iterate_for (50);
  g_assert_false (wait.done);

  complete_flow (listener, target, &wait, "?code=" CODE "&state=" STATE);
  g_assert_cmpstr (g_hash_table_lookup (wait.params, "code"), ==, CODE);
}

static void
test_error_without_state (void)
{
  g_autoptr(BursarRedirectListener) listener = listener_new_default ();
  g_autoptr(Target) target = target_for (listener);
  g_auto(WaitResult) wait = { 0, };
  g_autoptr(Response) response = NULL;

  start_wait (listener, NULL, FALSE, 30, NULL, &wait);
  response = get_callback (target, "?error=access_denied");
  assert_rejected (response, 400);
  iterate_for (50);
  g_assert_false (wait.done);

  /* With the right state an error does end the wait. */
  complete_flow (listener, target, &wait, "?error=access_denied&state=" STATE);
  g_assert_cmpstr (g_hash_table_lookup (wait.params, "error"), ==, "access_denied");
  g_assert_false (g_hash_table_contains (wait.params, "code"));
}

static void
test_issuer (void)
{
  g_autoptr(BursarRedirectListener) listener = listener_new_default ();
  g_autoptr(Target) target = target_for (listener);
  g_auto(WaitResult) wait = { 0, };
  static const char *const queries[] = {
    "?code=" CODE "&state=" STATE "&iss=https%3A%2F%2Fevil.example.com",
    "?code=" CODE "&state=" STATE "&iss=https%3A%2F%2Fas.example.com%2F",
    "?code=" CODE "&state=" STATE "&iss=",
    "?code=" CODE "&state=" STATE,  /* missing, and required */
  };

  start_wait (listener, ISSUER, TRUE, 30, NULL, &wait);
  for (gsize i = 0; i < G_N_ELEMENTS (queries); i++)
    {
      g_autoptr(Response) response = get_callback (target, queries[i]);

      g_test_message ("query %s", queries[i]);
      assert_rejected (response, 400);
    }
  iterate_for (50);
  g_assert_false (wait.done);

  complete_flow (listener, target, &wait, "?code=" CODE "&state=" STATE "&iss=https%3A%2F%2Fas.example.com");
  g_assert_cmpstr (g_hash_table_lookup (wait.params, "iss"), ==, ISSUER);
}

static void
test_issuer_optional (void)
{
  g_autoptr(BursarRedirectListener) listener = listener_new_default ();
  g_autoptr(Target) target = target_for (listener);
  g_auto(WaitResult) wait = { 0, };
  g_autoptr(Response) response = NULL;

  start_wait (listener, ISSUER, FALSE, 30, NULL, &wait);
  /* Not required: a wrong one is still refused... */
  response = get_callback (target, "?code=" CODE "&state=" STATE "&iss=https%3A%2F%2Fevil.example.com");
  assert_rejected (response, 400);
  /* ...but a missing one is accepted. */
  complete_flow (listener, target, &wait, "?code=" CODE "&state=" STATE);
  g_assert_cmpstr (g_hash_table_lookup (wait.params, "code"), ==, CODE);
}

static void
test_replay (void)
{
  g_autoptr(BursarRedirectListener) listener = listener_new_default ();
  g_autoptr(Target) target = target_for (listener);
  g_auto(WaitResult) wait = { 0, };
  RawCall *held;
  g_autoptr(Response) replay = NULL;
  g_autoptr(Response) final = NULL;

  start_wait (listener, NULL, FALSE, 30, NULL, &wait);
  held = get_start (target, "?code=" CODE "&state=" STATE);
  g_assert_true (iterate_until (&wait.done, IO_TIMEOUT_MS));
  g_assert_no_error (wait.error);

  /* The same callback again while the first is held. */
  replay = get_callback (target, "?code=" CODE "&state=" STATE);
  assert_rejected (replay, 400);
  g_assert_false (raw_call_is_done (held));

  bursar_redirect_listener_respond (listener, FALSE, NULL);
  final = raw_call_finish (held);
  g_assert_cmpuint (final->status, ==, 200);
  assert_inert_page (final);
  g_assert_nonnull (strstr (final->body, "Authorization failed"));

  /* And after the answer, nobody listens at all. */
  assert_port_closes (target->address, target->port);
}

static void
test_host (void)
{
  g_autoptr(BursarRedirectListener) listener = listener_new_default ();
  g_autoptr(Target) target = target_for (listener);
  g_auto(WaitResult) wait = { 0, };
  g_autofree char *wrong_port = g_strdup_printf ("127.0.0.1:%u", target->port + 1);
  g_autofree char *rebind = g_strdup_printf ("evil.example.com:%u", target->port);
  g_autofree char *localhost = g_strdup_printf ("localhost:%u", target->port);
  const char *hosts[] = { rebind, wrong_port, localhost, "127.0.0.1" };
  g_autofree char *two_hosts = NULL;
  g_autofree char *no_host = NULL;

  start_wait (listener, NULL, FALSE, 30, NULL, &wait);
  for (gsize i = 0; i < G_N_ELEMENTS (hosts); i++)
    {
      g_autofree char *request = get_request (hosts[i], "/callback?code=" CODE "&state=" STATE);
      g_autoptr(Response) response = raw_request (target->address, target->port, request);

      g_test_message ("Host %s", hosts[i]);
      assert_rejected (response, 400);
    }

  /* Two Host headers (cf. CVE-2025-14523), either order. */
  two_hosts = g_strdup_printf ("GET /callback?code=" CODE "&state=" STATE " HTTP/1.1\r\n"
                               "Host: %s\r\nHost: %s\r\nConnection: close\r\n\r\n",
                               target->host, rebind);
  {
    g_autoptr(Response) response = raw_request (target->address, target->port, two_hosts);

    g_assert_cmpuint (response->status, ==, 400);
  }
  g_free (two_hosts);
  two_hosts = g_strdup_printf ("GET /callback?code=" CODE "&state=" STATE " HTTP/1.1\r\n"
                               "Host: %s\r\nHost: %s\r\nConnection: close\r\n\r\n",
                               rebind, target->host);
  {
    g_autoptr(Response) response = raw_request (target->address, target->port, two_hosts);

    g_assert_cmpuint (response->status, ==, 400);
  }

  /* HTTP/1.0 without Host. */
  no_host = g_strdup ("GET /callback?code=" CODE "&state=" STATE " HTTP/1.0\r\n\r\n");
  {
    g_autoptr(Response) response = raw_request (target->address, target->port, no_host);

    g_assert_cmpuint (response->status, ==, 400);
  }

  iterate_for (50);
  g_assert_false (wait.done);
  complete_flow (listener, target, &wait, "?code=" CODE "&state=" STATE);
}

static void
test_method (void)
{
  g_autoptr(BursarRedirectListener) listener = listener_new_default ();
  g_autoptr(Target) target = target_for (listener);
  g_auto(WaitResult) wait = { 0, };
  static const char *const methods[] = { "POST", "PUT", "DELETE", "OPTIONS", "HEAD" };

  start_wait (listener, NULL, FALSE, 30, NULL, &wait);
  for (gsize i = 0; i < G_N_ELEMENTS (methods); i++)
    {
      g_autofree char *request = g_strdup_printf ("%s /callback?code=" CODE "&state=" STATE " HTTP/1.1\r\n"
                                                  "Host: %s\r\n"
                                                  "Content-Length: 0\r\n"
                                                  "Connection: close\r\n\r\n",
                                                  methods[i], target->host);
      g_autoptr(Response) response = raw_request (target->address, target->port, request);

      g_test_message ("method %s", methods[i]);
      g_assert_cmpuint (response->status, ==, 405);
      g_assert_cmpstr (g_hash_table_lookup (response->headers, "allow"), ==, "GET");
      g_assert_cmpstr (g_hash_table_lookup (response->headers, "referrer-policy"), ==, "no-referrer");
    }
  iterate_for (50);
  g_assert_false (wait.done);
  complete_flow (listener, target, &wait, "?code=" CODE "&state=" STATE);
}

static void
test_oversize (void)
{
  g_autoptr(BursarRedirectListener) listener = listener_new_default ();
  g_autoptr(Target) target = target_for (listener);
  g_auto(WaitResult) wait = { 0, };
  g_autoptr(GString) query = g_string_new ("?state=" STATE "&code=");
  g_autoptr(Response) response = NULL;
  g_autoptr(Response) huge_response = NULL;
  g_autoptr(GString) huge = g_string_new ("?state=" STATE "&code=");

  start_wait (listener, NULL, FALSE, 30, NULL, &wait);

  /* Past our 16 KiB limit, inside libsoup's. */
  while (query->len < 17 * 1024)
    g_string_append (query, "AAAAAAAAAAAAAAAA");
  response = get_callback (target, query->str);
  assert_rejected (response, 414);

  /* Past libsoup's own limit on the request head: refused there (or the
   * connection dropped), never a 200. */
  while (huge->len < 256 * 1024)
    g_string_append (huge, "AAAAAAAAAAAAAAAA");
  huge_response = get_callback (target, huge->str);
  g_test_message ("huge request answered with %u", huge_response->status);
  g_assert_cmpuint (huge_response->status, !=, 200);

  iterate_for (50);
  g_assert_false (wait.done);
  complete_flow (listener, target, &wait, "?code=" CODE "&state=" STATE);
}

static void
test_escaped_error_description (void)
{
  g_autoptr(BursarRedirectListener) listener = listener_new_default ();
  g_autoptr(Target) target = target_for (listener);
  g_auto(WaitResult) wait = { 0, };
  RawCall *call;
  g_autoptr(Response) response = NULL;
  const char *description;

  start_wait (listener, NULL, FALSE, 30, NULL, &wait);
  call = get_start (target, "?error=access_denied&state=" STATE
                    "&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E+%26+https%3A%2F%2Fevil.example");
  g_assert_true (iterate_until (&wait.done, IO_TIMEOUT_MS));
  g_assert_no_error (wait.error);
  description = g_hash_table_lookup (wait.params, "error_description");
  g_assert_cmpstr (description, ==, "<script>alert(1)</script> & https://evil.example");

  /* What the flow does with an AS error: shows it on the failure page. */
  bursar_redirect_listener_respond (listener, FALSE, description);
  response = raw_call_finish (call);
  g_assert_cmpuint (response->status, ==, 200);
  assert_inert_page (response);
  g_assert_nonnull (strstr (response->body, "Authorization failed"));
  g_assert_nonnull (strstr (response->body, "&lt;script&gt;alert(1)&lt;"));
  g_assert_nonnull (strstr (response->body, " &amp; "));
  g_assert_null (strstr (response->body, "<script"));
  g_assert_null (strstr (response->body, "</script"));
}

static void
test_no_redirect (void)
{
  g_autoptr(BursarRedirectListener) listener = listener_new_default ();
  g_autoptr(Target) target = target_for (listener);
  g_auto(WaitResult) wait = { 0, };
  g_autoptr(Response) stray = NULL;
  RawCall *call;
  g_autoptr(Response) response = NULL;

  start_wait (listener, NULL, FALSE, 30, NULL, &wait);
  stray = get_callback (target, "?next=https%3A%2F%2Fevil.example&redirect_uri=https%3A%2F%2Fevil.example");
  assert_rejected (stray, 400);

  call = get_start (target, "?code=" CODE "&state=" STATE "&next=https%3A%2F%2Fevil.example"
                    "&redirect_uri=https%3A%2F%2Fevil.example");
  g_assert_true (iterate_until (&wait.done, IO_TIMEOUT_MS));
  g_assert_no_error (wait.error);
  bursar_redirect_listener_respond (listener, TRUE, g_hash_table_lookup (wait.params, "next"));
  response = raw_call_finish (call);
  g_assert_cmpuint (response->status, ==, 200);
  assert_inert_page (response);
}

static void
test_timeout (void)
{
  g_autoptr(BursarRedirectListener) listener = listener_new_default ();
  g_autoptr(Target) target = target_for (listener);
  g_auto(WaitResult) wait = { 0, };
  g_auto(WaitResult) again = { 0, };
  g_autoptr(Response) stray = NULL;
  gint64 start = g_get_monotonic_time ();

  start_wait (listener, NULL, FALSE, 1, NULL, &wait);
  stray = get_callback (target, "?code=forged&state=wrong");
  assert_rejected (stray, 400);

  g_assert_true (iterate_until (&wait.done, 5000));
  g_assert_error (wait.error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_null (wait.params);
  g_assert_cmpint (g_get_monotonic_time () - start, >=, G_USEC_PER_SEC / 2);

  /* Closed right away: connecting is refused. */
  g_assert_false (port_is_open ("127.0.0.1", target->port));
  g_assert_cmpuint (n_listening (target->port), ==, 0);

  /* One-shot: no second wait on a closed listener. */
  start_wait (listener, NULL, FALSE, 1, NULL, &again);
  g_assert_true (iterate_until (&again.done, 1000));
  g_assert_error (again.error, G_IO_ERROR, G_IO_ERROR_CLOSED);
}

static gboolean
cancel_cb (gpointer user_data)
{
  g_cancellable_cancel (user_data);
  return G_SOURCE_REMOVE;
}

static void
test_cancel (void)
{
  g_autoptr(BursarRedirectListener) listener = listener_new_default ();
  g_autoptr(Target) target = target_for (listener);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_auto(WaitResult) wait = { 0, };

  start_wait (listener, NULL, FALSE, 30, cancellable, &wait);
  g_timeout_add (100, cancel_cb, cancellable);
  g_assert_true (iterate_until (&wait.done, 5000));
  g_assert_error (wait.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_false (port_is_open ("127.0.0.1", target->port));
}

static void
test_cancel_before (void)
{
  g_autoptr(BursarRedirectListener) listener = listener_new_default ();
  g_autoptr(Target) target = target_for (listener);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_auto(WaitResult) wait = { 0, };

  g_cancellable_cancel (cancellable);
  start_wait (listener, NULL, FALSE, 30, cancellable, &wait);
  g_assert_true (iterate_until (&wait.done, 5000));
  g_assert_error (wait.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_false (port_is_open ("127.0.0.1", target->port));
}

static void
test_one_wait (void)
{
  g_autoptr(BursarRedirectListener) listener = listener_new_default ();
  g_auto(WaitResult) first = { 0, };
  g_auto(WaitResult) second = { 0, };

  start_wait (listener, NULL, FALSE, 30, NULL, &first);
  start_wait (listener, NULL, FALSE, 30, NULL, &second);
  g_assert_true (iterate_until (&second.done, 1000));
  g_assert_error (second.error, G_IO_ERROR, G_IO_ERROR_PENDING);
  g_assert_false (first.done);

  /* Closing ends the pending wait. */
  bursar_redirect_listener_close (listener);
  g_assert_true (iterate_until (&first.done, 1000));
  g_assert_error (first.error, G_IO_ERROR, G_IO_ERROR_CLOSED);
}

static void
test_close_held (void)
{
  g_autoptr(BursarRedirectListener) listener = listener_new_default ();
  g_autoptr(Target) target = target_for (listener);
  g_auto(WaitResult) wait = { 0, };
  RawCall *call;
  g_autoptr(Response) response = NULL;

  start_wait (listener, NULL, FALSE, 30, NULL, &wait);
  call = get_start (target, "?code=" CODE "&state=" STATE);
  g_assert_true (iterate_until (&wait.done, IO_TIMEOUT_MS));
  g_assert_no_error (wait.error);

  bursar_redirect_listener_close (listener);
  response = raw_call_finish (call);
  g_assert_cmpuint (response->status, ==, 200);
  assert_inert_page (response);
  g_assert_nonnull (strstr (response->body, "Authorization failed"));
  assert_port_closes (target->address, target->port);

  /* Responding after closing does nothing. */
  bursar_redirect_listener_respond (listener, TRUE, "late");
}

static void
test_dispose_held (void)
{
  BursarRedirectListener *listener = listener_new_default ();
  g_autoptr(Target) target = target_for (listener);
  g_auto(WaitResult) wait = { 0, };
  RawCall *call;
  g_autoptr(Response) response = NULL;

  start_wait (listener, NULL, FALSE, 30, NULL, &wait);
  call = get_start (target, "?code=" CODE "&state=" STATE);
  g_assert_true (iterate_until (&wait.done, IO_TIMEOUT_MS));
  g_assert_no_error (wait.error);

  /* Dropped without an answer: the browser still gets a page. */
  g_object_unref (listener);
  response = raw_call_finish (call);
  g_assert_cmpuint (response->status, ==, 200);
  assert_inert_page (response);
  g_assert_nonnull (strstr (response->body, "Authorization failed"));
  assert_port_closes (target->address, target->port);
}

static guint16
free_port (GSocketFamily family)
{
  g_autoptr(GSocket) socket = g_socket_new (family, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (family);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_nonnull (socket);
  g_assert_true (g_socket_bind (socket, address, FALSE, &error));
  g_assert_no_error (error);
  bound = g_socket_get_local_address (socket, &error);
  g_assert_no_error (error);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

/* Listens on http://@authority:<a free port>@path. */
static void
run_fixed (const char    *authority,
           const char    *path,
           GSocketFamily  family,
           const char    *bound_address)
{
  guint16 port = free_port (family);
  g_autofree char *uri = g_strdup_printf ("http://%s:%u%s", authority, port, path);
  g_autoptr(GError) error = NULL;
  g_autoptr(BursarRedirectListener) listener = bursar_redirect_listener_new (uri, &error);
  g_autoptr(Target) target = NULL;
  g_auto(WaitResult) wait = { 0, };
  g_autoptr(Response) wrong_path = NULL;

  g_test_message ("redirect URI %s", uri);
  g_assert_no_error (error);
  g_assert_nonnull (listener);
  /* Byte-identical, as registered. */
  g_assert_cmpstr (bursar_redirect_listener_get_redirect_uri (listener), ==, uri);
  assert_listening_only_on (port, bound_address);

  target = target_for (listener);
  start_wait (listener, NULL, FALSE, 30, NULL, &wait);
  wrong_path = get (target, "/callback?code=" CODE "&state=" STATE);
  assert_rejected (wrong_path, 404);
  complete_flow (listener, target, &wait, "?code=" CODE "&state=" STATE);
  g_assert_cmpstr (g_hash_table_lookup (wait.params, "code"), ==, CODE);
}

static void
test_fixed_ipv4 (void)
{
  run_fixed ("127.0.0.1", "/oauth/cb", G_SOCKET_FAMILY_IPV4, "127.0.0.1");
}

static void
test_fixed_ipv6 (void)
{
  run_fixed ("[::1]", "/cb", G_SOCKET_FAMILY_IPV6, "::1");
}

static void
test_fixed_localhost (void)
{
  guint16 port = free_port (G_SOCKET_FAMILY_IPV4);
  g_autofree char *uri = g_strdup_printf ("http://localhost:%u/cb", port);
  g_autoptr(GError) error = NULL;
  g_autoptr(BursarRedirectListener) listener = NULL;
  g_autoptr(Target) target = NULL;
  g_auto(WaitResult) wait = { 0, };
  g_autofree char *ip_host = g_strdup_printf ("127.0.0.1:%u", port);
  g_autofree char *name_host = g_strdup_printf ("localhost:%u", port);
  g_autofree char *request = get_request (ip_host, "/cb?code=" CODE "&state=" STATE);
  g_autoptr(Response) response = NULL;

  run_fixed ("localhost", "/cb", G_SOCKET_FAMILY_IPV4, "127.0.0.1");

  /* The URI says localhost, so Host must say it too. */
  listener = bursar_redirect_listener_new (uri, &error);
  g_assert_no_error (error);
  target = target_for (listener);
  g_assert_cmpstr (target->host, ==, name_host);
  start_wait (listener, NULL, FALSE, 30, NULL, &wait);
  response = raw_request ("127.0.0.1", port, request);
  assert_rejected (response, 400);
  bursar_redirect_listener_close (listener);
  g_assert_true (iterate_until (&wait.done, 1000));
  g_assert_error (wait.error, G_IO_ERROR, G_IO_ERROR_CLOSED);
}

static void
test_fixed_port_in_use (void)
{
  g_autoptr(BursarRedirectListener) first = listener_new_default ();
  g_autoptr(Target) target = target_for (first);
  g_autofree char *uri = g_strdup_printf ("http://127.0.0.1:%u/callback", target->port);
  g_autoptr(GError) error = NULL;
  g_autoptr(BursarRedirectListener) second = bursar_redirect_listener_new (uri, &error);

  g_assert_null (second);
  g_assert_error (error, BURSAR_ERROR, BURSAR_ERROR_NETWORK);
}

static void
test_invalid_uris (void)
{
  static const char *const uris[] = {
    "",
    "not a uri",
    "https://127.0.0.1:8080/cb",
    "ftp://127.0.0.1:8080/cb",
    "http://0.0.0.0:8080/cb",
    "http://[::]:8080/cb",
    "http://192.168.1.2:8080/cb",
    "http://127.0.0.2:8080/cb",
    "http://example.com:8080/cb",
    "http://localhost.example.com:8080/cb",
    "http://127.0.0.1/cb",
    "http://127.0.0.1:0/cb",
    "http://127.0.0.1:99999/cb",
    "http://127.0.0.1:8080",
    "http://user@127.0.0.1:8080/cb",
    "http://127.0.0.1:8080/cb?x=1",
    "http://127.0.0.1:8080/cb#frag",
    "http://127.0.0.1:8080/c%20b",
    "http://127.0.0.1:8080/c b",
    "http://[::ffff:127.0.0.1]:8080/cb",
    "//127.0.0.1:8080/cb",
    "/callback",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (uris); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(BursarRedirectListener) listener = bursar_redirect_listener_new (uris[i], &error);

      g_test_message ("URI “%s”", uris[i]);
      g_assert_null (listener);
      g_assert_error (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT);
    }
}

static guint
count_fds (void)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc/self/fd", 0, NULL);
  guint n = 0;

  g_assert_nonnull (dir);
  while (g_dir_read_name (dir) != NULL)
    n++;
  return n;
}

static void
start_cancel_cycle (void)
{
  g_autoptr(BursarRedirectListener) listener = listener_new_default ();
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_auto(WaitResult) wait = { 0, };

  start_wait (listener, NULL, FALSE, 30, cancellable, &wait);
  g_cancellable_cancel (cancellable);
  g_assert_true (iterate_until (&wait.done, 5000));
  g_assert_error (wait.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

static void
test_fd_stable (void)
{
  guint before;
  guint after;

  /* The first cycle sets up GLib's lazily created fds. */
  start_cancel_cycle ();
  before = count_fds ();
  for (guint i = 0; i < 200; i++)
    start_cancel_cycle ();
  iterate_for (50);
  after = count_fds ();
  g_test_message ("fds before %u, after %u", before, after);
  g_assert_cmpuint (after, <=, before + 2);
}

/* ---- parameter parsing and checks ---- */

static void
assert_clean_error (const GError *error)
{
  g_assert_error (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT);
  g_assert_null (strstr (error->message, STATE));
  g_assert_null (strstr (error->message, CODE));
  g_assert_null (strstr (error->message, "forged"));
}

static void
test_parse_url (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) params = NULL;
  static const char *const bad[] = {
    "not a url at all",
    "http://127.0.0.1:8080/callback?code=forged&state=" STATE "&state=" STATE,
    "http://127.0.0.1:8080/callback?code=forged&code=" CODE "&state=" STATE,
    "http://127.0.0.1:8080/callback?code=forged%zz&state=" STATE,
    "http://127.0.0.1:8080/callback?code=forged%00&state=" STATE,
    "http://127.0.0.1:8080/callback?code=forged%C3&state=" STATE,
  };

  params = bursar_callback_parse_url ("http://127.0.0.1:8080/callback?code=" CODE
                                      "&state=" STATE "&iss=https%3A%2F%2Fas.example.com"
                                      "&error_description=a+b%2Bc#frag", &error);
  g_assert_no_error (error);
  g_assert_nonnull (params);
  g_assert_cmpstr (g_hash_table_lookup (params, "code"), ==, CODE);
  g_assert_cmpstr (g_hash_table_lookup (params, "state"), ==, STATE);
  g_assert_cmpstr (g_hash_table_lookup (params, "iss"), ==, ISSUER);
  g_assert_cmpstr (g_hash_table_lookup (params, "error_description"), ==, "a b+c");
  g_assert_cmpuint (g_hash_table_size (params), ==, 4);
  g_assert_true (bursar_callback_check (params, STATE, ISSUER, TRUE, &error));
  g_assert_no_error (error);
  g_clear_pointer (&params, g_hash_table_unref);

  /* A URL of any host parses (the user pastes what the browser shows). */
  params = bursar_callback_parse_url ("https://app.example.com/done?code=" CODE "&state=" STATE, &error);
  g_assert_no_error (error);
  g_assert_true (bursar_callback_check (params, STATE, NULL, FALSE, &error));
  g_clear_pointer (&params, g_hash_table_unref);

  /* No query: an empty table, which the check then refuses. */
  params = bursar_callback_parse_url ("http://127.0.0.1:8080/callback", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_hash_table_size (params), ==, 0);
  g_assert_false (bursar_callback_check (params, STATE, NULL, FALSE, &error));
  assert_clean_error (error);
  g_clear_error (&error);
  g_clear_pointer (&params, g_hash_table_unref);

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) bad_error = NULL;
      g_autoptr(GHashTable) bad_params = bursar_callback_parse_url (bad[i], &bad_error);

      g_test_message ("URL %s", bad[i]);
      g_assert_null (bad_params);
      assert_clean_error (bad_error);
    }

  {
    g_autoptr(GString) long_url = g_string_new ("http://127.0.0.1:8080/callback?state=" STATE "&code=");
    g_autoptr(GHashTable) long_params = NULL;

    while (long_url->len < 17 * 1024)
      g_string_append (long_url, "AAAAAAAAAAAAAAAA");
    long_params = bursar_callback_parse_url (long_url->str, &error);
    g_assert_null (long_params);
    assert_clean_error (error);
    g_clear_error (&error);
  }
}

static GHashTable *
make_params (const char *first_key,
             ...)
{
  GHashTable *params = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  va_list args;

  va_start (args, first_key);
  for (const char *key = first_key; key != NULL; key = va_arg (args, const char *))
    g_hash_table_insert (params, g_strdup (key), g_strdup (va_arg (args, const char *)));
  va_end (args);
  return params;
}

static void
test_check (void)
{
  struct
  {
    GHashTable *params;
    const char *issuer;
    gboolean required;
    gboolean ok;
  } cases[] = {
    { make_params ("code", CODE, "state", STATE, NULL), NULL, FALSE, TRUE },
    { make_params ("code", CODE, "state", STATE, "iss", "whatever", NULL), NULL, TRUE, TRUE },
    { make_params ("error", "access_denied", "state", STATE, NULL), NULL, FALSE, TRUE },
    { make_params ("code", CODE, "state", STATE, "iss", ISSUER, NULL), ISSUER, TRUE, TRUE },
    { make_params ("code", CODE, "state", STATE, NULL), ISSUER, FALSE, TRUE },
    { make_params ("code", "forged", NULL), NULL, FALSE, FALSE },
    { make_params ("code", "forged", "state", "", NULL), NULL, FALSE, FALSE },
    { make_params ("code", "forged", "state", "forged", NULL), NULL, FALSE, FALSE },
    { make_params ("code", "forged", "state", STATE "A", NULL), NULL, FALSE, FALSE },
    { make_params ("code", "forged", "state", "k3Jp0Q", NULL), NULL, FALSE, FALSE },
    { make_params ("error", "access_denied", NULL), NULL, FALSE, FALSE },
    { make_params ("code", "forged", "state", STATE, "iss", "https://evil.example", NULL), ISSUER, FALSE, FALSE },
    { make_params ("code", "forged", "state", STATE, "iss", "https://evil.example", NULL), ISSUER, TRUE, FALSE },
    { make_params ("code", "forged", "state", STATE, "iss", "HTTPS://as.example.com", NULL), ISSUER, TRUE, FALSE },
    { make_params ("code", "forged", "state", STATE, NULL), ISSUER, TRUE, FALSE },
    { make_params ("state", STATE, NULL), NULL, FALSE, FALSE },
    { make_params ("state", STATE, "code", "forged", "error", "access_denied", NULL), NULL, FALSE, FALSE },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      gboolean ok = bursar_callback_check (cases[i].params, STATE, cases[i].issuer,
                                           cases[i].required, &error);

      g_test_message ("case %" G_GSIZE_FORMAT, i);
      g_assert_cmpint (ok, ==, cases[i].ok);
      if (ok)
        g_assert_no_error (error);
      else
        assert_clean_error (error);
      g_hash_table_unref (cases[i].params);
    }
}

/* ---- no secrets in the log ---- */

static gint canary_hits;
static gint listener_messages;

/* Sees every message, debug included, before the default writer filters
 * them, and counts those that quote a code or state the tests sent. */
static GLogWriterOutput
canary_writer (GLogLevelFlags   log_level,
               const GLogField *fields,
               gsize            n_fields,
               gpointer         user_data)
{
  for (gsize i = 0; i < n_fields; i++)
    {
      g_autofree char *value = NULL;

      if (g_strcmp0 (fields[i].key, "MESSAGE") != 0)
        continue;
      value = fields[i].length < 0
              ? g_strdup (fields[i].value)
              : g_strndup (fields[i].value, (gsize) fields[i].length);
      if (strstr (value, CODE) != NULL || strstr (value, STATE) != NULL ||
          strstr (value, "forged") != NULL || strstr (value, "k3Jp0Q") != NULL)
        g_atomic_int_inc (&canary_hits);
      if (strstr (value, "redirect listener:") != NULL)
        g_atomic_int_inc (&listener_messages);
    }
  return g_log_writer_default (log_level, fields, n_fields, user_data);
}

/* Runs last, so every request above counts too; it makes its own
 * rejected and accepted requests so it also checks something when run
 * alone. */
static void
test_no_secrets_logged (void)
{
  g_autoptr(BursarRedirectListener) listener = listener_new_default ();
  g_autoptr(Target) target = target_for (listener);
  g_auto(WaitResult) wait = { 0, };
  g_autofree char *two_hosts = g_strdup_printf ("GET /callback?code=" CODE "&state=" STATE " HTTP/1.1\r\n"
                                                "Host: %s\r\nHost: evil.example\r\n"
                                                "Connection: close\r\n\r\n", target->host);
  g_autoptr(Response) rebind = NULL;
  g_autoptr(Response) no_host = NULL;
  g_autoptr(Response) wrong = NULL;
  g_autoptr(Response) other_path = NULL;
  gint before = g_atomic_int_get (&listener_messages);

  start_wait (listener, NULL, FALSE, 30, NULL, &wait);
  rebind = raw_request (target->address, target->port, two_hosts);
  g_assert_cmpuint (rebind->status, ==, 400);
  /* Without Host, libsoup leaves the query inside the path. */
  no_host = raw_request (target->address, target->port,
                         "GET /callback?code=" CODE "&state=" STATE " HTTP/1.0\r\n\r\n");
  g_assert_cmpuint (no_host->status, ==, 400);
  wrong = get_callback (target, "?code=forged&state=forged");
  assert_rejected (wrong, 400);
  other_path = get (target, "/" CODE "?code=forged&state=" STATE);
  assert_rejected (other_path, 404);
  complete_flow (listener, target, &wait, "?code=" CODE "&state=" STATE);

  g_assert_cmpint (g_atomic_int_get (&listener_messages), >, before);
  g_assert_cmpint (g_atomic_int_get (&canary_hits), ==, 0);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_log_set_writer_func (canary_writer, NULL, NULL);

  g_test_add_func ("/redirect-listener/default-uri", test_default_uri);
  g_test_add_func ("/redirect-listener/success", test_success);
  g_test_add_func ("/redirect-listener/wrong-path", test_wrong_path);
  g_test_add_func ("/redirect-listener/wrong-state", test_wrong_state);
  g_test_add_func ("/redirect-listener/error-without-state", test_error_without_state);
  g_test_add_func ("/redirect-listener/issuer", test_issuer);
  g_test_add_func ("/redirect-listener/issuer-optional", test_issuer_optional);
  g_test_add_func ("/redirect-listener/replay", test_replay);
  g_test_add_func ("/redirect-listener/host", test_host);
  g_test_add_func ("/redirect-listener/method", test_method);
  g_test_add_func ("/redirect-listener/oversize", test_oversize);
  g_test_add_func ("/redirect-listener/escaped-error-description", test_escaped_error_description);
  g_test_add_func ("/redirect-listener/no-redirect", test_no_redirect);
  g_test_add_func ("/redirect-listener/timeout", test_timeout);
  g_test_add_func ("/redirect-listener/cancel", test_cancel);
  g_test_add_func ("/redirect-listener/cancel-before", test_cancel_before);
  g_test_add_func ("/redirect-listener/one-wait", test_one_wait);
  g_test_add_func ("/redirect-listener/close-held", test_close_held);
  g_test_add_func ("/redirect-listener/dispose-held", test_dispose_held);
  g_test_add_func ("/redirect-listener/fixed-ipv4", test_fixed_ipv4);
  g_test_add_func ("/redirect-listener/fixed-ipv6", test_fixed_ipv6);
  g_test_add_func ("/redirect-listener/fixed-localhost", test_fixed_localhost);
  g_test_add_func ("/redirect-listener/fixed-port-in-use", test_fixed_port_in_use);
  g_test_add_func ("/redirect-listener/invalid-uris", test_invalid_uris);
  g_test_add_func ("/redirect-listener/fd-stable", test_fd_stable);
  g_test_add_func ("/callback/parse-url", test_parse_url);
  g_test_add_func ("/callback/check", test_check);
  g_test_add_func ("/zz-log/no-secrets", test_no_secrets_logged);

  return g_test_run ();
}
