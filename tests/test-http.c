/* test-http.c: BursarHttp against an in-process SoupServer on loopback.
 *
 * Every test starts its own server on 127.0.0.1 (ephemeral port) in the
 * test's main context and spins that context, bounded in time, until the
 * asynchronous call is done.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include <libsoup/soup.h>

#include "bursar-error.h"
#include "bursar-http.h"

/* Strings that must never show up in an error message. */
#define CANARY_RT "CANARY-RT-7f3a9c"
#define CANARY_SECRET "CANARY-SECRET-5e21b0"
#define CANARY_AT "CANARY-AT-90d4e2"

#define WAIT_LIMIT_S 60

/* A self-signed certificate for 127.0.0.1 that no trust store holds. */
static const char self_signed_pem[] =
  "-----BEGIN CERTIFICATE-----\n"
  "MIIBkTCCATagAwIBAgIUVgS3/UKtHUqp5dqLsXiO1hmhDQswCgYIKoZIzj0EAwIw\n"
  "FDESMBAGA1UEAwwJMTI3LjAuMC4xMCAXDTI2MTEyMzEwMTA1NloYDzIxMjYxMDMw\n"
  "MTAxMDU2WjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTATBgcqhkjOPQIBBggqhkjO\n"
  "PQMBBwNCAARpRl5X01dHa2K16xicEvf0erv0aY6YeziRxCS+nQarUWOfdlL/v8rT\n"
  "mUf/Mc9w+PAToShtWs2MJIJ7EpogQ+Neo2QwYjAdBgNVHQ4EFgQUANczbaoRi1rY\n"
  "5h08UusrZDXDoWgwHwYDVR0jBBgwFoAUANczbaoRi1rY5h08UusrZDXDoWgwDwYD\n"
  "VR0TAQH/BAUwAwEB/zAPBgNVHREECDAGhwR/AAABMAoGCCqGSM49BAMCA0kAMEYC\n"
  "IQCjKPLadepKcb+L0CFBVjtdjdkqeYLXdy8MYjCN/whDhQIhAIW535unnVBb4ynM\n"
  "1Bu+Mwc1ekKd1VyGCN2n04FzGEZ3\n"
  "-----END CERTIFICATE-----\n"
  "-----BEGIN PRIVATE KEY-----\n"
  "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgMTIicXTTw+m2F6y2\n"
  "M+/nwgqljmDtOeenHCxyZRG2b5ShRANCAARpRl5X01dHa2K16xicEvf0erv0aY6Y\n"
  "eziRxCS+nQarUWOfdlL/v8rTmUf/Mc9w+PAToShtWs2MJIJ7EpogQ+Ne\n"
  "-----END PRIVATE KEY-----\n";

#define OK_ANSWER "{\"access_token\":\"" CANARY_AT "\",\"token_type\":\"Bearer\",\"expires_in\":3600}"

typedef struct
{
  SoupServer *server;
  char *base;            /* http(s)://127.0.0.1:PORT */
  BursarHttp *http;

  /* The answer of /token. */
  guint status;
  const char *content_type;
  const char *body;
  const char *header_name;
  const char *header_value;
  guint fail_first;      /* answer 503 to this many requests first */

  /* What the server saw. */
  guint n_token;
  guint n_target;
  guint n_hang;
  char *method;
  char *path;
  char *query;
  char *request_body;
  char *request_type;
  char *authorization;
  char *accept;
  char *user_agent;
} Fixture;

static void
record_request (Fixture           *f,
                SoupServerMessage *msg)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  SoupMessageBody *body = soup_server_message_get_request_body (msg);
  g_autoptr(GBytes) bytes = soup_message_body_flatten (body);
  GUri *uri = soup_server_message_get_uri (msg);

  g_free (f->method);
  f->method = g_strdup (soup_server_message_get_method (msg));
  g_free (f->path);
  f->path = g_strdup (g_uri_get_path (uri));
  g_free (f->query);
  f->query = g_strdup (g_uri_get_query (uri));
  g_free (f->request_body);
  f->request_body = g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  g_free (f->request_type);
  f->request_type = g_strdup (soup_message_headers_get_content_type (headers, NULL));
  g_free (f->authorization);
  f->authorization = g_strdup (soup_message_headers_get_one (headers, "Authorization"));
  g_free (f->accept);
  f->accept = g_strdup (soup_message_headers_get_one (headers, "Accept"));
  g_free (f->user_agent);
  f->user_agent = g_strdup (soup_message_headers_get_one (headers, "User-Agent"));
}

static void
server_cb (SoupServer        *server,
           SoupServerMessage *msg,
           const char        *path,
           GHashTable        *query,
           gpointer           user_data)
{
  Fixture *f = user_data;
  SoupMessageHeaders *response_headers = soup_server_message_get_response_headers (msg);

  if (g_str_equal (path, "/token"))
    {
      f->n_token++;
      record_request (f, msg);

      if (f->n_token <= f->fail_first)
        {
          soup_server_message_set_status (msg, 503, NULL);
          return;
        }

      soup_server_message_set_status (msg, f->status, NULL);
      if (f->header_name != NULL)
        soup_message_headers_replace (response_headers, f->header_name, f->header_value);
      if (f->body != NULL)
        soup_server_message_set_response (msg,
                                          f->content_type != NULL ? f->content_type : "application/json",
                                          SOUP_MEMORY_STATIC, f->body, strlen (f->body));
      return;
    }

  if (g_str_equal (path, "/redirect"))
    {
      g_autofree char *target = g_strconcat (f->base, "/target", NULL);

      soup_server_message_set_redirect (msg, 307, target);
      return;
    }

  if (g_str_equal (path, "/target"))
    {
      f->n_target++;
      soup_server_message_set_status (msg, 200, NULL);
      soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_STATIC,
                                        OK_ANSWER, strlen (OK_ANSWER));
      return;
    }

  if (g_str_equal (path, "/hang"))
    {
      /* Never answered: the client's timeout has to end the wait. */
      f->n_hang++;
      soup_server_message_pause (msg);
      return;
    }

  if (g_str_equal (path, "/big") || g_str_equal (path, "/big-chunked"))
    {
      gsize len = 10 * 1024 * 1024;
      char *big = g_malloc (len);

      f->n_token++;
      memset (big, ' ', len);
      big[0] = '{';
      big[len - 1] = '}';
      soup_server_message_set_status (msg, 200, NULL);
      if (g_str_equal (path, "/big-chunked"))
        soup_message_headers_set_encoding (response_headers, SOUP_ENCODING_CHUNKED);
      soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_TAKE, big, len);
      return;
    }

  if (g_str_equal (path, "/deep"))
    {
      gsize len = 100000;
      char *deep = g_malloc (len);

      f->n_token++;
      memset (deep, '[', len);
      soup_server_message_set_status (msg, 200, NULL);
      soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_TAKE, deep, len);
      return;
    }

  soup_server_message_set_status (msg, 404, NULL);
}

static void
fixture_start (Fixture  *f,
               gboolean  tls)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GTlsCertificate) certificate = NULL;
  GSList *uris;

  if (tls)
    {
      certificate = g_tls_certificate_new_from_pem (self_signed_pem, -1, &error);
      g_assert_no_error (error);
      f->server = soup_server_new ("tls-certificate", certificate, NULL);
    }
  else
    f->server = soup_server_new (NULL, NULL);

  soup_server_add_handler (f->server, NULL, server_cb, f, NULL);
  soup_server_listen_local (f->server, 0,
                            SOUP_SERVER_LISTEN_IPV4_ONLY |
                            (tls ? SOUP_SERVER_LISTEN_HTTPS : 0),
                            &error);
  g_assert_no_error (error);

  uris = soup_server_get_uris (f->server);
  g_assert_nonnull (uris);
  f->base = g_strdup_printf ("%s://127.0.0.1:%d", tls ? "https" : "http",
                             g_uri_get_port (uris->data));
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);

  f->http = bursar_http_new ();
  /* Small, so the retry paths run in milliseconds. */
  bursar_http_set_retry_policy (f->http, 3, 10, 5000);

  f->status = 200;
  f->body = OK_ANSWER;
}

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  fixture_start (f, FALSE);
}

static void
fixture_setup_tls (Fixture       *f,
                   gconstpointer  data)
{
  fixture_start (f, TRUE);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  gint64 until;

  /* Dropping the client closes its pooled connections; give the server a
   * moment (bounded) to see them close and free them before it goes. */
  g_clear_object (&f->http);
  until = g_get_monotonic_time () + 50 * G_TIME_SPAN_MILLISECOND;
  while (g_get_monotonic_time () < until)
    {
      if (!g_main_context_iteration (NULL, FALSE))
        g_usleep (G_TIME_SPAN_MILLISECOND);
    }

  soup_server_disconnect (f->server);
  g_clear_object (&f->server);

  for (guint i = 0; i < 100 && g_main_context_pending (NULL); i++)
    g_main_context_iteration (NULL, FALSE);

  g_free (f->base);
  g_free (f->method);
  g_free (f->path);
  g_free (f->query);
  g_free (f->request_body);
  g_free (f->request_type);
  g_free (f->authorization);
  g_free (f->accept);
  g_free (f->user_agent);
}

/* ----- running a call ----- */

static void
result_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  GAsyncResult **out = user_data;

  g_assert_null (*out);
  *out = g_object_ref (result);
}

static gboolean
wake_cb (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

static void
wait_for (GAsyncResult **result)
{
  gint64 deadline = g_get_monotonic_time () + WAIT_LIMIT_S * G_USEC_PER_SEC;
  guint wake = g_timeout_add (50, wake_cb, NULL);

  while (*result == NULL)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, TRUE);
    }
  g_source_remove (wake);
}

static BursarTokenResponse *
run_token (Fixture             *f,
           BursarTokenRequest  *request,
           GCancellable        *cancellable,
           GError             **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  bursar_http_token_async (f->http, request, cancellable, result_cb, &result);
  wait_for (&result);
  return bursar_http_token_finish (f->http, result, error);
}

static gboolean
run_revoke (Fixture             *f,
            BursarTokenRequest  *request,
            GError             **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  bursar_http_revoke_async (f->http, request, NULL, result_cb, &result);
  wait_for (&result);
  return bursar_http_revoke_finish (f->http, result, error);
}

static JsonObject *
run_get_json (Fixture     *f,
              const char  *url,
              const char  *bearer,
              GError     **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  bursar_http_get_json_async (f->http, url, bearer, NULL, result_cb, &result);
  wait_for (&result);
  return bursar_http_get_json_finish (f->http, result, error);
}

static BursarTokenRequest *
refresh_request (Fixture    *f,
                 const char *path)
{
  g_autofree char *url = g_strconcat (f->base, path, NULL);
  BursarTokenRequest *request = bursar_token_request_new (url);

  bursar_token_request_add_param (request, "grant_type", "refresh_token");
  bursar_token_request_add_param (request, "refresh_token", CANARY_RT);
  bursar_token_request_set_client (request, BURSAR_CLIENT_AUTH_POST, "client-1", CANARY_SECRET);
  return request;
}

static void
assert_no_canary (const GError *error)
{
  g_assert_nonnull (error);
  g_assert_null (strstr (error->message, "CANARY"));
}

static GHashTable *
form_params (const char *text)
{
  g_autoptr(GError) error = NULL;
  GHashTable *params = g_uri_parse_params (text != NULL ? text : "", -1, "&",
                                           G_URI_PARAMS_WWW_FORM, &error);

  g_assert_no_error (error);
  return params;
}

/* ----- request encodings and client authentication ----- */

static void
test_form (Fixture       *f,
           gconstpointer  data)
{
  g_autoptr(BursarTokenRequest) request = refresh_request (f, "/token");
  g_autoptr(BursarTokenResponse) response = NULL;
  g_autoptr(GHashTable) params = NULL;
  g_autoptr(GError) error = NULL;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;

  f->body = "{\"access_token\":\"" CANARY_AT "\",\"token_type\":\"bearer\",\"expires_in\":3600,"
            "\"refresh_token\":\"RT-2\",\"scope\":\"a b\",\"id_token\":\"h.p.s\","
            "\"api_domain\":\"https://www.zohoapis.eu\",\"corporate_account_id\":12345,"
            "\"flag\":true,\"ratio\":0.5,\"nested\":{\"x\":1},\"list\":[1],\"nothing\":null}";
  response = run_token (f, request, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (response);

  g_assert_cmpstr (f->method, ==, "POST");
  g_assert_cmpstr (f->request_type, ==, "application/x-www-form-urlencoded");
  g_assert_cmpstr (f->accept, ==, "application/json");
  g_assert_cmpstr (f->user_agent, ==, "bursar/" PACKAGE_VERSION);
  g_assert_null (f->authorization);
  g_assert_null (f->query);
  params = form_params (f->request_body);
  g_assert_cmpstr (g_hash_table_lookup (params, "grant_type"), ==, "refresh_token");
  g_assert_cmpstr (g_hash_table_lookup (params, "refresh_token"), ==, CANARY_RT);
  g_assert_cmpstr (g_hash_table_lookup (params, "client_id"), ==, "client-1");
  g_assert_cmpstr (g_hash_table_lookup (params, "client_secret"), ==, CANARY_SECRET);
  g_assert_cmpuint (g_hash_table_size (params), ==, 4);

  g_assert_cmpstr (response->access_token, ==, CANARY_AT);
  g_assert_cmpstr (response->refresh_token, ==, "RT-2");
  g_assert_cmpstr (response->id_token, ==, "h.p.s");
  g_assert_cmpstr (response->token_type, ==, "bearer");
  g_assert_cmpstr (response->scope, ==, "a b");
  g_assert_cmpint (response->expires_in, ==, 3600);
  g_assert_cmpint (response->expires_at, >=, now + 3600);
  g_assert_cmpint (response->expires_at, <=, now + 3600 + 60);

  g_assert_cmpstr (g_hash_table_lookup (response->extras, "api_domain"), ==, "https://www.zohoapis.eu");
  g_assert_cmpstr (g_hash_table_lookup (response->extras, "corporate_account_id"), ==, "12345");
  g_assert_cmpstr (g_hash_table_lookup (response->extras, "flag"), ==, "true");
  g_assert_cmpstr (g_hash_table_lookup (response->extras, "ratio"), ==, "0.5");
  g_assert_cmpuint (g_hash_table_size (response->extras), ==, 4);
}

static void
test_form_encoding_special (Fixture       *f,
                            gconstpointer  data)
{
  g_autofree char *url = g_strconcat (f->base, "/token", NULL);
  g_autoptr(BursarTokenRequest) request = bursar_token_request_new (url);
  g_autoptr(BursarTokenResponse) response = NULL;
  g_autoptr(GHashTable) params = NULL;
  g_autoptr(GError) error = NULL;
  const char *odd = "a b&c=d+e%f/é?";

  bursar_token_request_add_param (request, "code", odd);
  response = run_token (f, request, NULL, &error);
  g_assert_no_error (error);
  params = form_params (f->request_body);
  g_assert_cmpstr (g_hash_table_lookup (params, "code"), ==, odd);
  /* OMIT is the default: no client parameters at all. */
  g_assert_cmpuint (g_hash_table_size (params), ==, 1);
}

static void
test_json_body (Fixture       *f,
                gconstpointer  data)
{
  g_autoptr(BursarTokenRequest) request = refresh_request (f, "/token");
  g_autoptr(BursarTokenResponse) response = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  JsonObject *object;

  bursar_token_request_set_encoding (request, BURSAR_BODY_JSON);
  response = run_token (f, request, NULL, &error);
  g_assert_no_error (error);

  g_assert_cmpstr (f->request_type, ==, "application/json");
  g_assert_true (json_parser_load_from_data (parser, f->request_body, -1, &error));
  g_assert_no_error (error);
  object = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpstr (json_object_get_string_member (object, "grant_type"), ==, "refresh_token");
  g_assert_cmpstr (json_object_get_string_member (object, "refresh_token"), ==, CANARY_RT);
  g_assert_cmpstr (json_object_get_string_member (object, "client_id"), ==, "client-1");
  g_assert_cmpstr (json_object_get_string_member (object, "client_secret"), ==, CANARY_SECRET);
  g_assert_cmpuint (json_object_get_size (object), ==, 4);
}

static void
test_query (Fixture       *f,
            gconstpointer  data)
{
  g_autoptr(BursarTokenRequest) request = refresh_request (f, "/token?fixed=1");
  g_autoptr(BursarTokenResponse) response = NULL;
  g_autoptr(GHashTable) params = NULL;
  g_autoptr(GError) error = NULL;

  bursar_token_request_set_encoding (request, BURSAR_BODY_QUERY);
  response = run_token (f, request, NULL, &error);
  g_assert_no_error (error);

  g_assert_cmpstr (f->method, ==, "POST");
  g_assert_cmpstr (f->request_body, ==, "");
  params = form_params (f->query);
  g_assert_cmpstr (g_hash_table_lookup (params, "fixed"), ==, "1");
  g_assert_cmpstr (g_hash_table_lookup (params, "grant_type"), ==, "refresh_token");
  g_assert_cmpstr (g_hash_table_lookup (params, "refresh_token"), ==, CANARY_RT);
  g_assert_cmpstr (g_hash_table_lookup (params, "client_id"), ==, "client-1");
  g_assert_cmpstr (g_hash_table_lookup (params, "client_secret"), ==, CANARY_SECRET);
}

static void
test_basic (Fixture       *f,
            gconstpointer  data)
{
  g_autoptr(BursarTokenRequest) request = refresh_request (f, "/token");
  g_autoptr(BursarTokenResponse) response = NULL;
  g_autoptr(GHashTable) params = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *expected = NULL;
  /* RFC 6749 §2.3.1: both parts form-urlencoded before base64. */
  const char *pair = "my+client%3A1:s3cr%2F%2B%3F+" CANARY_SECRET;

  bursar_token_request_set_client (request, BURSAR_CLIENT_AUTH_BASIC,
                                   "my client:1", "s3cr/+? " CANARY_SECRET);
  response = run_token (f, request, NULL, &error);
  g_assert_no_error (error);

  {
    g_autofree char *b64 = g_base64_encode ((const guchar *) pair, strlen (pair));

    expected = g_strconcat ("Basic ", b64, NULL);
  }
  g_assert_cmpstr (f->authorization, ==, expected);
  params = form_params (f->request_body);
  g_assert_null (g_hash_table_lookup (params, "client_id"));
  g_assert_null (g_hash_table_lookup (params, "client_secret"));
  g_assert_cmpstr (g_hash_table_lookup (params, "refresh_token"), ==, CANARY_RT);
}

static void
test_auth_none_omit (Fixture       *f,
                     gconstpointer  data)
{
  g_autoptr(BursarTokenRequest) request = refresh_request (f, "/token");
  g_autoptr(BursarTokenResponse) response = NULL;
  g_autoptr(GHashTable) params = NULL;
  g_autoptr(GError) error = NULL;

  bursar_token_request_set_client (request, BURSAR_CLIENT_AUTH_NONE, "public-1", CANARY_SECRET);
  response = run_token (f, request, NULL, &error);
  g_assert_no_error (error);
  params = form_params (f->request_body);
  g_assert_cmpstr (g_hash_table_lookup (params, "client_id"), ==, "public-1");
  g_assert_null (g_hash_table_lookup (params, "client_secret"));
  g_assert_null (f->authorization);
  g_clear_pointer (&params, g_hash_table_unref);
  g_clear_pointer (&response, bursar_token_response_free);

  bursar_token_request_set_client (request, BURSAR_CLIENT_AUTH_OMIT, "public-1", CANARY_SECRET);
  response = run_token (f, request, NULL, &error);
  g_assert_no_error (error);
  params = form_params (f->request_body);
  g_assert_null (g_hash_table_lookup (params, "client_id"));
  g_assert_null (g_hash_table_lookup (params, "client_secret"));
  g_assert_null (f->authorization);
}

/* ----- token answers ----- */

static void
test_field_names (Fixture       *f,
                  gconstpointer  data)
{
  const char * const access_fields[] = { "token", "accessToken", NULL };
  const char * const refresh_fields[] = { "refreshToken", NULL };
  g_autoptr(BursarTokenRequest) request = refresh_request (f, "/token");
  g_autoptr(BursarTokenResponse) response = NULL;
  g_autoptr(GError) error = NULL;

  bursar_token_request_set_field_names (request, access_fields, refresh_fields);

  /* Invoice Processor's camelCase. */
  f->body = "{\"accessToken\":\"AT-camel\",\"refreshToken\":\"RT-camel\",\"token_type\":\"Bearer\"}";
  response = run_token (f, request, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (response->access_token, ==, "AT-camel");
  g_assert_cmpstr (response->refresh_token, ==, "RT-camel");
  g_assert_cmpuint (g_hash_table_size (response->extras), ==, 0);
  g_clear_pointer (&response, bursar_token_response_free);

  /* Apruve's code exchange: "token", with the account id kept. */
  f->body = "{\"token\":\"AT-apruve\",\"refreshToken\":\"RT-a\",\"token_type\":\"Bearer\","
            "\"corporate_account_id\":\"ca-1\"}";
  response = run_token (f, request, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (response->access_token, ==, "AT-apruve");
  g_assert_cmpstr (g_hash_table_lookup (response->extras, "corporate_account_id"), ==, "ca-1");
  g_assert_null (g_hash_table_lookup (response->extras, "token"));
  g_clear_pointer (&response, bursar_token_response_free);

  /* The default name is not used once others are configured. */
  f->body = "{\"access_token\":\"AT\",\"token_type\":\"Bearer\"}";
  response = run_token (f, request, NULL, &error);
  g_assert_null (response);
  g_assert_error (error, BURSAR_ERROR, BURSAR_ERROR_PROVIDER);
}

static void
test_token_type (Fixture       *f,
                 gconstpointer  data)
{
  static const struct
  {
    const char *body;
    gboolean optional;
    const char *expected_type; /* NULL: refused */
  } cases[] = {
    { "{\"access_token\":\"" CANARY_AT "\",\"token_type\":\"DPoP\"}", FALSE, NULL },
    { "{\"access_token\":\"" CANARY_AT "\",\"token_type\":\"DPoP\"}", TRUE, NULL },
    { "{\"access_token\":\"" CANARY_AT "\",\"token_type\":\"mac\"}", FALSE, NULL },
    { "{\"access_token\":\"" CANARY_AT "\",\"token_type\":5}", FALSE, NULL },
    { "{\"access_token\":\"" CANARY_AT "\"}", FALSE, NULL },
    { "{\"access_token\":\"" CANARY_AT "\"}", TRUE, "Bearer" },
    { "{\"access_token\":\"" CANARY_AT "\",\"token_type\":\"BEARER\"}", FALSE, "BEARER" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(BursarTokenRequest) request = refresh_request (f, "/token");
      g_autoptr(BursarTokenResponse) response = NULL;
      g_autoptr(GError) error = NULL;

      g_test_message ("case %" G_GSIZE_FORMAT, i);
      bursar_token_request_set_token_type_optional (request, cases[i].optional);
      f->body = cases[i].body;
      response = run_token (f, request, NULL, &error);
      if (cases[i].expected_type == NULL)
        {
          g_assert_null (response);
          g_assert_error (error, BURSAR_ERROR, BURSAR_ERROR_PROVIDER);
          assert_no_canary (error);
        }
      else
        {
          g_assert_no_error (error);
          g_assert_cmpstr (response->token_type, ==, cases[i].expected_type);
        }
    }
}

static void
test_expires_in (Fixture       *f,
                 gconstpointer  data)
{
  static const struct
  {
    const char *value;      /* NULL: member absent */
    gint64 default_lifetime;
    gboolean ok;
    gint64 expected;
  } cases[] = {
    { "3600", 0, TRUE, 3600 },
    { "\"3600\"", 0, TRUE, 3600 },
    { "0", 0, TRUE, 0 },
    { "1e3", 0, TRUE, 1000 },
    { NULL, 7200, TRUE, 7200 },
    { NULL, 0, TRUE, 0 },
    { "null", 7200, TRUE, 7200 },
    { "1e999", 0, FALSE, 0 },
    { "-5", 0, FALSE, 0 },
    { "\"-5\"", 0, FALSE, 0 },
    { "3.5", 0, FALSE, 0 },
    { "\"3.5\"", 0, FALSE, 0 },
    { "\"3600 \"", 0, FALSE, 0 },
    { "\"\"", 0, FALSE, 0 },
    { "\"+3600\"", 0, FALSE, 0 },
    { "400000000", 0, FALSE, 0 },
    { "\"99999999999999999999999\"", 0, FALSE, 0 },
    { "18446744073709555616", 0, FALSE, 0 },
    { "true", 0, FALSE, 0 },
    { "[3600]", 0, FALSE, 0 },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(BursarTokenRequest) request = refresh_request (f, "/token");
      g_autoptr(BursarTokenResponse) response = NULL;
      g_autoptr(GError) error = NULL;
      g_autofree char *body = NULL;
      gint64 now = g_get_real_time () / G_USEC_PER_SEC;

      g_test_message ("case %" G_GSIZE_FORMAT ": %s", i, cases[i].value);
      if (cases[i].value != NULL)
        body = g_strdup_printf ("{\"access_token\":\"AT\",\"token_type\":\"Bearer\",\"expires_in\":%s}",
                                cases[i].value);
      else
        body = g_strdup ("{\"access_token\":\"AT\",\"token_type\":\"Bearer\"}");
      f->body = body;
      bursar_token_request_set_default_lifetime (request, cases[i].default_lifetime);
      response = run_token (f, request, NULL, &error);
      f->body = NULL;

      if (!cases[i].ok)
        {
          g_assert_null (response);
          g_assert_error (error, BURSAR_ERROR, BURSAR_ERROR_PROVIDER);
          continue;
        }

      g_assert_no_error (error);
      g_assert_cmpint (response->expires_in, ==, cases[i].expected);
      if (cases[i].expected == 0)
        g_assert_cmpint (response->expires_at, ==, 0);
      else
        {
          g_assert_cmpint (response->expires_at, >=, now + cases[i].expected);
          g_assert_cmpint (response->expires_at, <=, now + cases[i].expected + 60);
        }
    }
}

static void
test_malformed_tokens (Fixture       *f,
                       gconstpointer  data)
{
  static const char * const bodies[] = {
    "{\"access_token\":5,\"token_type\":\"Bearer\"}",
    "{\"access_token\":\"\",\"token_type\":\"Bearer\"}",
    "{\"access_token\":null,\"token_type\":\"Bearer\"}",
    "{\"access_token\":[\"" CANARY_AT "\"],\"token_type\":\"Bearer\"}",
    "{\"token_type\":\"Bearer\"}",
    "{\"access_token\":\"" CANARY_AT "\",\"refresh_token\":7,\"token_type\":\"Bearer\"}",
    "{\"access_token\":\"" CANARY_AT "\",\"id_token\":{},\"token_type\":\"Bearer\"}",
    "[\"" CANARY_AT "\"]",
    "\"" CANARY_AT "\"",
    "<html>" CANARY_AT "</html>",
    "",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (bodies); i++)
    {
      g_autoptr(BursarTokenRequest) request = refresh_request (f, "/token");
      g_autoptr(BursarTokenResponse) response = NULL;
      g_autoptr(GError) error = NULL;

      g_test_message ("case %" G_GSIZE_FORMAT, i);
      f->body = bodies[i];
      f->n_token = 0;
      response = run_token (f, request, NULL, &error);
      g_assert_null (response);
      g_assert_error (error, BURSAR_ERROR, BURSAR_ERROR_PROVIDER);
      assert_no_canary (error);
      /* A refused answer is not retried. */
      g_assert_cmpuint (f->n_token, ==, 1);
    }
}

/* ----- error classification (SECURITY-NOTES item 16) ----- */

typedef struct
{
  guint status;
  const char *content_type;
  const char *body;
  const char *header_name;
  const char *header_value;
  BursarError expected;
  guint attempts;
  const char *in_message; /* (nullable) must appear in the message */
} ErrorRow;

static const ErrorRow error_rows[] = {
  { 400, NULL, "{\"error\":\"invalid_grant\",\"error_description\":\"expired\"}", NULL, NULL,
    BURSAR_ERROR_NEEDS_AUTHORIZATION, 1, "invalid_grant" },
  { 400, NULL, "{\"error\":\"invalid_client\",\"error_description\":\"Client authentication failed\"}", NULL, NULL,
    BURSAR_ERROR_PROVIDER, 1, "invalid_client (Client authentication failed)" },
  { 401, NULL, "{\"error\":\"invalid_client\"}", "WWW-Authenticate", "Basic",
    BURSAR_ERROR_PROVIDER, 1, "invalid_client" },
  { 400, NULL, "{\"error\":\"unauthorized_client\"}", NULL, NULL,
    BURSAR_ERROR_PROVIDER, 1, "unauthorized_client" },
  { 400, NULL, "{\"error\":\"unsupported_grant_type\"}", NULL, NULL,
    BURSAR_ERROR_PROVIDER, 1, "unsupported_grant_type" },
  { 400, NULL, "{\"error\":\"invalid_scope\",\"error_description\":\"scope x\"}", NULL, NULL,
    BURSAR_ERROR_PROVIDER, 1, "invalid_scope" },
  { 400, NULL, "{\"error\":\"invalid_request\"}", NULL, NULL,
    BURSAR_ERROR_PROVIDER, 1, "invalid_request" },
  /* Zoho: the error comes inside a 200. */
  { 200, NULL, "{\"error\":\"invalid_code\"}", NULL, NULL,
    BURSAR_ERROR_PROVIDER, 1, "invalid_code" },
  /* Invoiced. */
  { 400, NULL, "{\"type\":\"invalid_request\",\"message\":\"x\"}", NULL, NULL,
    BURSAR_ERROR_PROVIDER, 1, "invalid_request (x)" },
  /* Apruve. */
  { 401, NULL, "[{\"message\":\"Invalid authentication token.\"}]", NULL, NULL,
    BURSAR_ERROR_PROVIDER, 1, "Invalid authentication token." },
  /* Transient. */
  { 500, "text/plain", "", NULL, NULL, BURSAR_ERROR_NETWORK, 3, "500" },
  { 502, "text/html", "<html><body>Bad gateway</body></html>", NULL, NULL, BURSAR_ERROR_NETWORK, 3, "502" },
  { 503, NULL, "{\"error\":\"server_error\"}", NULL, NULL, BURSAR_ERROR_NETWORK, 3, NULL },
  { 400, NULL, "{\"error\":\"server_error\"}", NULL, NULL, BURSAR_ERROR_NETWORK, 3, "server_error" },
  { 400, NULL, "{\"error\":\"temporarily_unavailable\"}", NULL, NULL, BURSAR_ERROR_NETWORK, 3, "temporarily_unavailable" },
  { 403, "text/html", "<html><body>Request blocked by WAF</body></html>", NULL, NULL, BURSAR_ERROR_NETWORK, 3, "403" },
  { 404, "text/plain", "Not Found", NULL, NULL, BURSAR_ERROR_NETWORK, 3, "404" },
  { 400, NULL, "{\"unexpected\":true}", NULL, NULL, BURSAR_ERROR_NETWORK, 3, NULL },
  /* Secrets echoed by the server are not repeated. */
  { 400, NULL, "{\"error\":\"invalid_client\",\"error_description\":\"bad secret " CANARY_SECRET " for token " CANARY_RT "\"}",
    NULL, NULL, BURSAR_ERROR_PROVIDER, 1, "invalid_client (bad secret" },
};

static void
check_error_row (Fixture        *f,
                 const ErrorRow *row)
{
  g_autoptr(BursarTokenRequest) request = refresh_request (f, "/token");
  g_autoptr(BursarTokenResponse) response = NULL;
  g_autoptr(GError) error = NULL;

  f->status = row->status;
  f->content_type = row->content_type;
  f->body = row->body;
  f->header_name = row->header_name;
  f->header_value = row->header_value;
  f->n_token = 0;

  response = run_token (f, request, NULL, &error);
  g_assert_null (response);
  g_assert_error (error, BURSAR_ERROR, (gint) row->expected);
  g_assert_cmpuint (f->n_token, ==, row->attempts);
  assert_no_canary (error);
  if (row->in_message != NULL)
    g_assert_nonnull (strstr (error->message, row->in_message));
}

static void
test_error_table (Fixture       *f,
                  gconstpointer  data)
{
  for (gsize i = 0; i < G_N_ELEMENTS (error_rows); i++)
    {
      g_test_message ("row %" G_GSIZE_FORMAT ": HTTP %u %s", i, error_rows[i].status, error_rows[i].body);
      check_error_row (f, &error_rows[i]);
    }
}

static void
test_retry_after (Fixture       *f,
                  gconstpointer  data)
{
  static const ErrorRow row = {
    429, NULL, "{\"error\":\"slow_down\"}", "Retry-After", "1",
    BURSAR_ERROR_NETWORK, 3, "429"
  };
  gint64 start = g_get_monotonic_time ();

  check_error_row (f, &row);
  /* Two waits of at least the second the server asked for. */
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 2 * G_USEC_PER_SEC);

  /* A Retry-After beyond the budget ends the call at once. */
  bursar_http_set_retry_policy (f->http, 3, 10, 500);
  start = g_get_monotonic_time ();
  {
    static const ErrorRow short_row = {
      429, NULL, "", "Retry-After", "120", BURSAR_ERROR_NETWORK, 1, NULL
    };

    check_error_row (f, &short_row);
  }
  g_assert_cmpint (g_get_monotonic_time () - start, <, G_USEC_PER_SEC);
}

static void
test_reauth_list (Fixture       *f,
                  gconstpointer  data)
{
  const char * const reauth[] = { "invalid_grant", "invalid_code", NULL };
  g_autoptr(BursarTokenRequest) request = refresh_request (f, "/token");
  g_autoptr(BursarTokenResponse) response = NULL;
  g_autoptr(GError) error = NULL;

  bursar_token_request_set_reauth_errors (request, reauth);
  f->body = "{\"error\":\"invalid_code\"}";
  response = run_token (f, request, NULL, &error);
  g_assert_null (response);
  g_assert_error (error, BURSAR_ERROR, BURSAR_ERROR_NEEDS_AUTHORIZATION);
  g_assert_cmpuint (f->n_token, ==, 1);
}

static void
test_retry_then_success (Fixture       *f,
                         gconstpointer  data)
{
  g_autoptr(BursarTokenRequest) request = refresh_request (f, "/token");
  g_autoptr(BursarTokenResponse) response = NULL;
  g_autoptr(GError) error = NULL;

  f->fail_first = 2;
  response = run_token (f, request, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (response->access_token, ==, CANARY_AT);
  g_assert_cmpuint (f->n_token, ==, 3);
}

static void
test_description_sanitised (Fixture       *f,
                            gconstpointer  data)
{
  g_autoptr(BursarTokenRequest) request = refresh_request (f, "/token");
  g_autoptr(BursarTokenResponse) response = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) body = g_string_new ("{\"error\":\"invalid_scope\",\"error_description\":\"line1\\nline2\\u0007\\u202e");

  for (guint i = 0; i < 1000; i++)
    g_string_append_c (body, 'x');
  g_string_append (body, "\"}");
  f->status = 400;
  f->body = body->str;
  response = run_token (f, request, NULL, &error);
  g_assert_error (error, BURSAR_ERROR, BURSAR_ERROR_PROVIDER);
  g_assert_nonnull (strstr (error->message, "invalid_scope"));
  g_assert_null (strchr (error->message, '\n'));
  g_assert_null (strchr (error->message, '\a'));
  g_assert_null (strstr (error->message, "\u202e"));
  g_assert_cmpuint (g_utf8_strlen (error->message, -1), <, 400);
  f->body = NULL;
}

/* ----- hostile transport ----- */

static void
test_too_large (Fixture       *f,
                gconstpointer  data)
{
  const char *paths[] = { "/big", "/big-chunked" };

  for (gsize i = 0; i < G_N_ELEMENTS (paths); i++)
    {
      g_autoptr(BursarTokenRequest) request = refresh_request (f, paths[i]);
      g_autoptr(BursarTokenResponse) response = NULL;
      g_autoptr(GError) error = NULL;

      f->n_token = 0;
      response = run_token (f, request, NULL, &error);
      g_assert_null (response);
      g_assert_error (error, BURSAR_ERROR, BURSAR_ERROR_PROVIDER);
      g_assert_nonnull (strstr (error->message, "too large"));
      g_assert_cmpuint (f->n_token, ==, 1);
    }
}

static void
test_deep_nesting (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(BursarTokenRequest) request = refresh_request (f, "/deep");
  g_autoptr(BursarTokenResponse) response = NULL;
  g_autoptr(GError) error = NULL;

  response = run_token (f, request, NULL, &error);
  g_assert_null (response);
  g_assert_error (error, BURSAR_ERROR, BURSAR_ERROR_PROVIDER);
  g_assert_cmpuint (f->n_token, ==, 1);
}

static void
test_redirect (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(BursarTokenRequest) request = refresh_request (f, "/redirect");
  g_autoptr(BursarTokenResponse) response = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *url = g_strconcat (f->base, "/redirect", NULL);
  g_autoptr(JsonObject) object = NULL;

  response = run_token (f, request, NULL, &error);
  g_assert_null (response);
  g_assert_error (error, BURSAR_ERROR, BURSAR_ERROR_PROVIDER);
  assert_no_canary (error);
  g_assert_cmpuint (f->n_target, ==, 0);
  g_clear_error (&error);

  object = run_get_json (f, url, NULL, &error);
  g_assert_null (object);
  g_assert_error (error, BURSAR_ERROR, BURSAR_ERROR_PROVIDER);
  g_assert_cmpuint (f->n_target, ==, 0);
}

static void
test_check_url (void)
{
  static const struct
  {
    const char *url;
    gboolean ok;
    gboolean loopback;
  } cases[] = {
    { "https://accounts.zoho.eu/oauth/v2/token", TRUE, FALSE },
    { "HTTPS://example.com", TRUE, FALSE },
    { "https://127.0.0.1/x", TRUE, TRUE },
    { "http://127.0.0.1:8080/token", TRUE, TRUE },
    { "http://127.5.6.7/token", TRUE, TRUE },
    { "http://[::1]:9000/token", TRUE, TRUE },
    { "http://localhost/token", TRUE, TRUE },
    { "http://LocalHost:1/token", TRUE, TRUE },
    { "http://example.com/token", FALSE, FALSE },
    { "http://127.0.0.1.example.com/", FALSE, FALSE },
    { "http://localhost.example.com/", FALSE, FALSE },
    { "http://128.0.0.1/", FALSE, FALSE },
    { "http://127.1/", FALSE, FALSE },
    { "http://[::2]/", FALSE, FALSE },
    { "http://0.0.0.0/", FALSE, FALSE },
    { "https://user:pw@example.com/token", FALSE, FALSE },
    { "https://user@example.com/token", FALSE, FALSE },
    { "http://user@127.0.0.1/token", FALSE, TRUE },
    { "ftp://example.com/", FALSE, FALSE },
    { "file:///etc/passwd", FALSE, FALSE },
    { "javascript:alert(1)", FALSE, FALSE },
    { "//example.com/", FALSE, FALSE },
    { "not a url", FALSE, FALSE },
    { "", FALSE, FALSE },
    { "https://", FALSE, FALSE },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      gboolean ok = bursar_http_check_url (cases[i].url, &error);

      g_test_message ("case %s", cases[i].url);
      g_assert_cmpint (ok, ==, cases[i].ok);
      if (ok)
        g_assert_no_error (error);
      else
        g_assert_error (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT);
      g_assert_cmpint (bursar_http_url_is_loopback (cases[i].url), ==, cases[i].loopback);
    }
  g_assert_false (bursar_http_check_url (NULL, NULL));
}

static void
test_url_refused_before_request (Fixture       *f,
                                 gconstpointer  data)
{
  g_autoptr(BursarTokenRequest) request = bursar_token_request_new ("http://example.com/token");
  g_autoptr(BursarTokenResponse) response = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) object = NULL;

  bursar_token_request_add_param (request, "refresh_token", CANARY_RT);
  response = run_token (f, request, NULL, &error);
  g_assert_null (response);
  g_assert_error (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT);
  assert_no_canary (error);
  g_clear_error (&error);

  g_assert_false (run_revoke (f, request, &error));
  g_assert_error (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  object = run_get_json (f, "http://example.com/.well-known/openid-configuration", NULL, &error);
  g_assert_null (object);
  g_assert_error (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT);
  g_assert_cmpuint (f->n_token, ==, 0);
}

static void
test_timeout (Fixture       *f,
              gconstpointer  data)
{
  g_autoptr(BursarTokenRequest) request = refresh_request (f, "/hang");
  g_autoptr(BursarTokenResponse) response = NULL;
  g_autoptr(GError) error = NULL;
  gint64 start = g_get_monotonic_time ();

  bursar_http_set_timeout (f->http, 1);
  bursar_http_set_retry_policy (f->http, 2, 10, 10000);
  response = run_token (f, request, NULL, &error);
  g_assert_null (response);
  g_assert_error (error, BURSAR_ERROR, BURSAR_ERROR_NETWORK);
  assert_no_canary (error);
  g_assert_cmpuint (f->n_hang, ==, 2);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 8 * G_USEC_PER_SEC);
}

static void
test_budget (Fixture       *f,
             gconstpointer  data)
{
  g_autoptr(BursarTokenRequest) request = refresh_request (f, "/hang");
  g_autoptr(BursarTokenResponse) response = NULL;
  g_autoptr(GError) error = NULL;
  gint64 start = g_get_monotonic_time ();

  /* The I/O timeout stays at 20 s: the budget alone ends the call. */
  bursar_http_set_retry_policy (f->http, 3, 10, 300);
  response = run_token (f, request, NULL, &error);
  g_assert_null (response);
  g_assert_error (error, BURSAR_ERROR, BURSAR_ERROR_NETWORK);
  g_assert_cmpuint (f->n_hang, ==, 1);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);
}

static gboolean
cancel_cb (gpointer user_data)
{
  g_cancellable_cancel (G_CANCELLABLE (user_data));
  return G_SOURCE_REMOVE;
}

static void
test_cancel (Fixture       *f,
             gconstpointer  data)
{
  /* While waiting for the answer. */
  {
    g_autoptr(BursarTokenRequest) request = refresh_request (f, "/hang");
    g_autoptr(BursarTokenResponse) response = NULL;
    g_autoptr(GCancellable) cancellable = g_cancellable_new ();
    g_autoptr(GError) error = NULL;

    g_timeout_add (100, cancel_cb, cancellable);
    response = run_token (f, request, cancellable, &error);
    g_assert_null (response);
    g_assert_error (error, BURSAR_ERROR, BURSAR_ERROR_CANCELLED);
    g_assert_cmpuint (f->n_hang, ==, 1);
  }

  /* Before anything was sent. */
  {
    g_autoptr(BursarTokenRequest) request = refresh_request (f, "/token");
    g_autoptr(BursarTokenResponse) response = NULL;
    g_autoptr(GCancellable) cancellable = g_cancellable_new ();
    g_autoptr(GError) error = NULL;

    g_cancellable_cancel (cancellable);
    response = run_token (f, request, cancellable, &error);
    g_assert_null (response);
    g_assert_error (error, BURSAR_ERROR, BURSAR_ERROR_CANCELLED);
    g_assert_cmpuint (f->n_token, ==, 0);
  }

  /* During the backoff between attempts. */
  {
    g_autoptr(BursarTokenRequest) request = refresh_request (f, "/token");
    g_autoptr(BursarTokenResponse) response = NULL;
    g_autoptr(GCancellable) cancellable = g_cancellable_new ();
    g_autoptr(GError) error = NULL;
    gint64 start = g_get_monotonic_time ();

    bursar_http_set_retry_policy (f->http, 3, 20000, 60000);
    f->status = 503;
    f->body = "";
    g_timeout_add (200, cancel_cb, cancellable);
    response = run_token (f, request, cancellable, &error);
    g_assert_null (response);
    g_assert_error (error, BURSAR_ERROR, BURSAR_ERROR_CANCELLED);
    g_assert_cmpuint (f->n_token, ==, 1);
    g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);
  }
}

static void
test_bad_certificate (Fixture       *f,
                      gconstpointer  data)
{
  g_autoptr(BursarTokenRequest) request = refresh_request (f, "/token");
  g_autoptr(BursarTokenResponse) response = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_true (g_str_has_prefix (f->base, "https://"));
  response = run_token (f, request, NULL, &error);
  g_assert_null (response);
  g_assert_error (error, BURSAR_ERROR, BURSAR_ERROR_NETWORK);
  g_assert_nonnull (strstr (error->message, "certificate"));
  assert_no_canary (error);
  /* Not retried, and nothing reached the server. */
  g_assert_cmpuint (f->n_token, ==, 0);
}

static void
test_connection_refused (void)
{
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (loopback, 0);
  g_autoptr(BursarHttp) http = bursar_http_new ();
  g_autoptr(BursarTokenRequest) request = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(BursarTokenResponse) response = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *url = NULL;

  /* A port that was free a moment ago and has no listener. */
  socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_socket_bind (socket, any, FALSE, &error);
  g_assert_no_error (error);
  bound = g_socket_get_local_address (socket, &error);
  g_assert_no_error (error);
  url = g_strdup_printf ("http://127.0.0.1:%u/token",
                         g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));
  g_socket_close (socket, NULL);

  request = bursar_token_request_new (url);
  bursar_token_request_add_param (request, "refresh_token", CANARY_RT);
  bursar_http_set_retry_policy (http, 2, 10, 5000);
  bursar_http_token_async (http, request, NULL, result_cb, &result);
  wait_for (&result);
  response = bursar_http_token_finish (http, result, &error);
  g_assert_null (response);
  g_assert_error (error, BURSAR_ERROR, BURSAR_ERROR_NETWORK);
  assert_no_canary (error);
}

/* ----- revocation and JSON documents ----- */

static void
test_revoke (Fixture       *f,
             gconstpointer  data)
{
  static const struct
  {
    guint status;
    const char *body;
    gboolean ok;
    BursarError code;
    guint attempts;
  } cases[] = {
    { 200, "{\"status\":\"success\"}", TRUE, 0, 1 },
    { 200, "", TRUE, 0, 1 },
    { 204, NULL, TRUE, 0, 1 },
    { 400, "{\"error\":\"unsupported_token_type\"}", FALSE, BURSAR_ERROR_PROVIDER, 1 },
    { 400, "{\"error\":\"invalid_grant\"}", FALSE, BURSAR_ERROR_NEEDS_AUTHORIZATION, 1 },
    { 503, "", FALSE, BURSAR_ERROR_NETWORK, 3 },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *url = g_strconcat (f->base, "/token", NULL);
      g_autoptr(BursarTokenRequest) request = bursar_token_request_new (url);
      g_autoptr(GHashTable) params = NULL;
      g_autoptr(GError) error = NULL;
      gboolean ok;

      g_test_message ("case %" G_GSIZE_FORMAT, i);
      /* Zoho's shape: token in the query, no client authentication. */
      bursar_token_request_set_encoding (request, BURSAR_BODY_QUERY);
      bursar_token_request_set_client (request, BURSAR_CLIENT_AUTH_OMIT, "client-1", CANARY_SECRET);
      bursar_token_request_add_param (request, "token", CANARY_RT);
      f->status = cases[i].status;
      f->body = cases[i].body;
      f->n_token = 0;

      ok = run_revoke (f, request, &error);
      g_assert_cmpint (ok, ==, cases[i].ok);
      if (ok)
        g_assert_no_error (error);
      else
        {
          g_assert_error (error, BURSAR_ERROR, (gint) cases[i].code);
          assert_no_canary (error);
        }
      g_assert_cmpuint (f->n_token, ==, cases[i].attempts);
      g_assert_cmpstr (f->method, ==, "POST");
      params = form_params (f->query);
      g_assert_cmpstr (g_hash_table_lookup (params, "token"), ==, CANARY_RT);
      g_assert_null (g_hash_table_lookup (params, "client_id"));
      g_assert_null (f->authorization);
    }
}

static void
test_get_json (Fixture       *f,
               gconstpointer  data)
{
  g_autofree char *url = g_strconcat (f->base, "/token", NULL);
  g_autoptr(JsonObject) object = NULL;
  g_autoptr(GError) error = NULL;

  f->body = "{\"issuer\":\"https://issuer.example\",\"n\":1}";
  object = run_get_json (f, url, CANARY_AT, &error);
  g_assert_no_error (error);
  g_assert_nonnull (object);
  g_assert_cmpstr (json_object_get_string_member (object, "issuer"), ==, "https://issuer.example");
  g_assert_cmpstr (f->method, ==, "GET");
  g_assert_cmpstr (f->accept, ==, "application/json");
  g_assert_cmpstr (f->authorization, ==, "Bearer " CANARY_AT);
  g_clear_pointer (&object, json_object_unref);

  object = run_get_json (f, url, NULL, &error);
  g_assert_no_error (error);
  g_assert_null (f->authorization);
  g_clear_pointer (&object, json_object_unref);

  f->body = "[1,2]";
  object = run_get_json (f, url, NULL, &error);
  g_assert_null (object);
  g_assert_error (error, BURSAR_ERROR, BURSAR_ERROR_PROVIDER);
  g_clear_error (&error);

  f->status = 401;
  f->body = "";
  f->n_token = 0;
  object = run_get_json (f, url, CANARY_AT, &error);
  g_assert_null (object);
  g_assert_error (error, BURSAR_ERROR, BURSAR_ERROR_PROVIDER);
  assert_no_canary (error);
  g_assert_cmpuint (f->n_token, ==, 1);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add ("/http/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)

  ADD ("encoding/form", test_form);
  ADD ("encoding/form-special", test_form_encoding_special);
  ADD ("encoding/json", test_json_body);
  ADD ("encoding/query", test_query);
  ADD ("auth/basic", test_basic);
  ADD ("auth/none-omit", test_auth_none_omit);
  ADD ("answer/field-names", test_field_names);
  ADD ("answer/token-type", test_token_type);
  ADD ("answer/expires-in", test_expires_in);
  ADD ("answer/malformed", test_malformed_tokens);
  ADD ("errors/table", test_error_table);
  ADD ("errors/retry-after", test_retry_after);
  ADD ("errors/reauth-list", test_reauth_list);
  ADD ("errors/retry-then-success", test_retry_then_success);
  ADD ("errors/description-sanitised", test_description_sanitised);
  ADD ("hostile/too-large", test_too_large);
  ADD ("hostile/deep-nesting", test_deep_nesting);
  ADD ("hostile/redirect", test_redirect);
  ADD ("url/refused-before-request", test_url_refused_before_request);
  ADD ("transport/timeout", test_timeout);
  ADD ("transport/budget", test_budget);
  ADD ("transport/cancel", test_cancel);
  ADD ("revoke", test_revoke);
  ADD ("get-json", test_get_json);
  g_test_add ("/http/transport/bad-certificate", Fixture, NULL,
              fixture_setup_tls, test_bad_certificate, fixture_teardown);
  g_test_add_func ("/http/transport/connection-refused", test_connection_refused);
  g_test_add_func ("/http/url/check", test_check_url);

#undef ADD

  return g_test_run ();
}
