/* test-harness.c: smoke test of the test harness itself — the private
 * session (bus, keyring, XDG dirs), the mock authorization server, the
 * test browser as the desktop's http handler, the daemon start/stop code
 * and the leak scan.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <gio/gio.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsecret/secret.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <string.h>

#include "bursar-pkce.h"
#include "bursar-test-env.h"

#define REDIRECT_URI "http://127.0.0.1:9/callback"
#define FAKE_DAEMON_ENV "BURSAR_HARNESS_FAKE_DAEMON"

/* --- HTTP helpers ------------------------------------------------------------ */

typedef struct
{
  guint status;
  char *body;     /* (owned) */
  char *location; /* (owned) (nullable) */
  char *www_authenticate; /* (owned) (nullable) */
  char *retry_after;      /* (owned) (nullable) */
  JsonObject *json; /* (owned) (nullable) */
} Response;

static void
response_free (Response *response)
{
  g_free (response->body);
  g_free (response->location);
  g_free (response->www_authenticate);
  g_free (response->retry_after);
  g_clear_pointer (&response->json, json_object_unref);
  g_free (response);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Response, response_free)

static Response *
http_request (const char *method,
              const char *url,
              const char *content_type,
              const char *body,
              const char *authorization)
{
  g_autoptr(SoupSession) session = soup_session_new_with_options ("timeout", 10, NULL);
  g_autoptr(SoupMessage) msg = soup_message_new (method, url);
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;
  SoupMessageHeaders *headers;
  Response *response = g_new0 (Response, 1);
  const char *response_type;
  gsize len;

  g_assert_nonnull (msg);
  soup_message_add_flags (msg, SOUP_MESSAGE_NO_REDIRECT);
  if (body != NULL)
    {
      g_autoptr(GBytes) request = g_bytes_new (body, strlen (body));

      soup_message_set_request_body_from_bytes (msg, content_type, request);
    }
  if (authorization != NULL)
    soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", authorization);

  bytes = soup_session_send_and_read (session, msg, NULL, &error);
  g_assert_no_error (error);
  headers = soup_message_get_response_headers (msg);
  response->status = soup_message_get_status (msg);
  response->body = g_strndup (g_bytes_get_data (bytes, &len), g_bytes_get_size (bytes));
  response->location = g_strdup (soup_message_headers_get_one (headers, "Location"));
  response->www_authenticate = g_strdup (soup_message_headers_get_one (headers, "WWW-Authenticate"));
  response->retry_after = g_strdup (soup_message_headers_get_one (headers, "Retry-After"));

  response_type = soup_message_headers_get_content_type (headers, NULL);
  if (g_strcmp0 (response_type, "application/json") == 0)
    {
      g_autoptr(JsonParser) parser = json_parser_new ();

      if (json_parser_load_from_data (parser, response->body, -1, NULL) &&
          JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
        response->json = json_node_dup_object (json_parser_get_root (parser));
    }
  return response;
}

static Response *
mock_get (BursarTestEnv *env,
          const char    *path)
{
  g_autofree char *url = g_strconcat (bursar_test_env_get_mock_url (env), path, NULL);

  return http_request ("GET", url, NULL, NULL, NULL);
}

/* A form POST; @basic is "id:secret" for client_secret_basic or NULL. */
static Response *
mock_post_form (BursarTestEnv *env,
                const char    *path,
                const char    *basic,
                ...) G_GNUC_NULL_TERMINATED;

static Response *
mock_post_form (BursarTestEnv *env,
                const char    *path,
                const char    *basic,
                ...)
{
  g_autofree char *url = g_strconcat (bursar_test_env_get_mock_url (env), path, NULL);
  g_autoptr(GHashTable) form = g_hash_table_new (g_str_hash, g_str_equal);
  g_autofree char *body = NULL;
  g_autofree char *authorization = NULL;
  const char *name;
  va_list args;

  va_start (args, basic);
  while ((name = va_arg (args, const char *)) != NULL)
    g_hash_table_insert (form, (gpointer) name, va_arg (args, char *));
  va_end (args);
  body = soup_form_encode_hash (form);

  if (basic != NULL)
    {
      g_autofree char *encoded = g_base64_encode ((const guchar *) basic, strlen (basic));

      authorization = g_strconcat ("Basic ", encoded, NULL);
    }
  return http_request ("POST", url, "application/x-www-form-urlencoded", body, authorization);
}

static Response *
whoami (BursarTestEnv *env,
        const char    *token)
{
  g_autofree char *url = g_strconcat (bursar_test_env_get_mock_url (env), "/api/whoami", NULL);
  g_autofree char *authorization = g_strconcat ("Bearer ", token, NULL);

  return http_request ("GET", url, NULL, NULL, authorization);
}

static const char *
json_string (JsonObject *object,
             const char *member)
{
  g_assert_nonnull (object);
  if (!json_object_has_member (object, member))
    return NULL;
  return json_object_get_string_member (object, member);
}

static gint64
stat_int (BursarTestEnv *env,
          const char    *member)
{
  g_autoptr(JsonObject) stats = bursar_test_env_mock_stats (env);

  return json_object_get_int_member (stats, member);
}

static gint64
grant_count (BursarTestEnv *env,
             const char    *grant)
{
  g_autoptr(JsonObject) stats = bursar_test_env_mock_stats (env);
  JsonObject *by_grant = json_object_get_object_member (stats, "token_requests_by_grant");

  if (!json_object_has_member (by_grant, grant))
    return 0;
  return json_object_get_int_member (by_grant, grant);
}

static GHashTable *
location_params (const char *location)
{
  g_autoptr(GUri) uri = NULL;
  g_autoptr(GError) error = NULL;
  GHashTable *params;

  g_assert_nonnull (location);
  g_assert_true (g_str_has_prefix (location, REDIRECT_URI "?"));
  uri = g_uri_parse (location, G_URI_FLAGS_ENCODED, &error);
  g_assert_no_error (error);
  params = g_uri_parse_params (g_uri_get_query (uri), -1, "&", G_URI_PARAMS_WWW_FORM, &error);
  g_assert_no_error (error);
  return params;
}

/* Drives /authorize like a browser that does not follow the redirect;
 * returns the parameters of the redirect. */
static GHashTable *
authorize (BursarTestEnv *env,
           const char    *client_id,
           const char    *challenge,
           const char    *state,
           const char    *nonce)
{
  g_autoptr(GHashTable) query = g_hash_table_new (g_str_hash, g_str_equal);
  g_autofree char *encoded = NULL;
  g_autofree char *path = NULL;
  g_autoptr(Response) response = NULL;

  g_hash_table_insert (query, "response_type", "code");
  g_hash_table_insert (query, "client_id", (gpointer) client_id);
  g_hash_table_insert (query, "redirect_uri", REDIRECT_URI);
  g_hash_table_insert (query, "scope", "openid email offline_access");
  g_hash_table_insert (query, "state", (gpointer) state);
  if (nonce != NULL)
    g_hash_table_insert (query, "nonce", (gpointer) nonce);
  if (challenge != NULL)
    {
      g_hash_table_insert (query, "code_challenge", (gpointer) challenge);
      g_hash_table_insert (query, "code_challenge_method", "S256");
    }
  encoded = soup_form_encode_hash (query);
  path = g_strconcat ("/authorize?", encoded, NULL);
  response = mock_get (env, path);
  g_assert_cmpuint (response->status, ==, 302);
  return location_params (response->location);
}

typedef struct
{
  char *verifier; /* (owned) */
  char *code;     /* (owned) */
} CodeGrant;

static void
code_grant_clear (CodeGrant *grant)
{
  g_clear_pointer (&grant->verifier, g_free);
  g_clear_pointer (&grant->code, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (CodeGrant, code_grant_clear)

static void
get_code (BursarTestEnv *env,
          const char    *client_id,
          CodeGrant     *grant)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *challenge = NULL;
  g_autoptr(GHashTable) params = NULL;

  grant->verifier = bursar_pkce_verifier_new (&error);
  g_assert_no_error (error);
  challenge = bursar_pkce_challenge_s256 (grant->verifier);
  params = authorize (env, client_id, challenge, "state-1", "nonce-1");
  g_assert_cmpstr (g_hash_table_lookup (params, "state"), ==, "state-1");
  g_assert_cmpstr (g_hash_table_lookup (params, "iss"), ==, bursar_test_env_get_mock_url (env));
  grant->code = g_strdup (g_hash_table_lookup (params, "code"));
  g_assert_nonnull (grant->code);
}

static Response *
exchange_code (BursarTestEnv *env,
               CodeGrant     *grant)
{
  return mock_post_form (env, "/token", "test-client:test-secret-CANARY",
                         "grant_type", "authorization_code",
                         "code", grant->code,
                         "redirect_uri", REDIRECT_URI,
                         "code_verifier", grant->verifier,
                         NULL);
}

static Response *
refresh (BursarTestEnv *env,
         const char    *refresh_token)
{
  return mock_post_form (env, "/token", NULL,
                         "grant_type", "refresh_token",
                         "refresh_token", refresh_token,
                         "client_id", "test-client",
                         "client_secret", "test-secret-CANARY",
                         NULL);
}

static void
assert_oauth_error (Response   *response,
                    guint       status,
                    const char *error)
{
  g_assert_cmpuint (response->status, ==, status);
  g_assert_cmpstr (json_string (response->json, "error"), ==, error);
}

/* --- tests ------------------------------------------------------------------- */

static void
test_env_up (void)
{
  g_autoptr(BursarTestEnv) env = bursar_test_env_new ();
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *runtime = NULL;
  GStatBuf st;

  g_assert_true (g_str_has_prefix (g_getenv ("HOME"), bursar_test_env_get_tmpdir (env)));
  g_assert_cmpstr (g_getenv ("HOME"), ==, bursar_test_env_get_home (env));
  g_assert_true (g_str_has_prefix (g_getenv ("XDG_CONFIG_HOME"), bursar_test_env_get_home (env)));
  g_assert_true (g_str_has_prefix (g_getenv ("XDG_DATA_HOME"), bursar_test_env_get_home (env)));
  g_assert_cmpstr (g_getenv ("DBUS_SESSION_BUS_ADDRESS"), ==, bursar_test_env_get_bus_address (env));

  runtime = g_build_filename (bursar_test_env_get_tmpdir (env), "runtime", NULL);
  g_assert_cmpstr (g_getenv ("XDG_RUNTIME_DIR"), ==, runtime);
  g_assert_cmpint (g_stat (runtime, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0700);

  /* The private bus answers, and the keyring owns its name on it. */
  reply = g_dbus_connection_call_sync (bursar_test_env_get_bus (env),
                                       "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus", "NameHasOwner",
                                       g_variant_new ("(s)", "org.freedesktop.secrets"),
                                       G_VARIANT_TYPE ("(b)"), G_DBUS_CALL_FLAGS_NONE, 5000,
                                       NULL, &error);
  g_assert_no_error (error);
  {
    gboolean has_owner = FALSE;

    g_variant_get (reply, "(b)", &has_owner);
    g_assert_true (has_owner);
  }

  g_assert_true (g_str_has_prefix (bursar_test_env_get_mock_url (env), "http://127.0.0.1:"));
  g_assert_false (bursar_test_env_daemon_running (env));
  g_assert_cmpint (bursar_test_env_get_daemon_pid (env), ==, 0);
}

static const SecretSchema twice_schema = {
  "org.bursar.HarnessTest", SECRET_SCHEMA_NONE,
  { { "n", SECRET_SCHEMA_ATTRIBUTE_STRING }, { NULL, 0 } }
};

/* Two environments one after another in one process (the integration
 * tests make one per test): the second gets a fresh home and keyring, and
 * libsecret in this process follows the new keyring daemon. */
static void
test_env_twice (void)
{
  g_autofree char *first_tmpdir = NULL;

  {
    g_autoptr(BursarTestEnv) env = bursar_test_env_new ();
    g_autoptr(GError) error = NULL;

    first_tmpdir = g_strdup (bursar_test_env_get_tmpdir (env));
    secret_password_store_sync (&twice_schema, SECRET_COLLECTION_DEFAULT, "x", "first", NULL, &error,
                                "n", "1", NULL);
    g_assert_no_error (error);
  }
  g_assert_false (g_file_test (first_tmpdir, G_FILE_TEST_EXISTS));

  {
    g_autoptr(BursarTestEnv) env = bursar_test_env_new ();
    g_autoptr(GError) error = NULL;
    g_autofree char *found = NULL;

    g_assert_cmpstr (bursar_test_env_get_tmpdir (env), !=, first_tmpdir);
    found = secret_password_lookup_sync (&twice_schema, NULL, &error, "n", "1", NULL);
    g_assert_no_error (error);
    g_assert_null (found);

    secret_password_store_sync (&twice_schema, SECRET_COLLECTION_DEFAULT, "x", "second", NULL, &error,
                                "n", "2", NULL);
    g_assert_no_error (error);
    found = secret_password_lookup_sync (&twice_schema, NULL, &error, "n", "2", NULL);
    g_assert_no_error (error);
    g_assert_cmpstr (found, ==, "second");
  }
}

static void
test_keyring (void)
{
  g_autoptr(BursarTestEnv) env = bursar_test_env_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *found = NULL;
  g_autofree char *login = NULL;
  g_autofree char *data_home = NULL;
  gboolean ok;
  static const SecretSchema schema = {
    "org.bursar.HarnessTest", SECRET_SCHEMA_NONE,
    { { "account", SECRET_SCHEMA_ATTRIBUTE_STRING }, { NULL, 0 } }
  };

  ok = secret_password_store_sync (&schema, SECRET_COLLECTION_DEFAULT, "Harness item",
                                   "keyring-secret-value", NULL, &error, "account", "a1", NULL);
  g_assert_no_error (error);
  g_assert_true (ok);

  found = secret_password_lookup_sync (&schema, NULL, &error, "account", "a1", NULL);
  g_assert_no_error (error);
  g_assert_cmpstr (found, ==, "keyring-secret-value");
  g_clear_pointer (&found, g_free);

  /* It is the private keyring: the file lives in the test's data home. */
  data_home = g_strdup (g_getenv ("XDG_DATA_HOME"));
  login = g_build_filename (data_home, "keyrings", "login.keyring", NULL);
  g_assert_true (g_file_test (login, G_FILE_TEST_IS_REGULAR));

  /* A restarted keyring daemon unlocks the same keyring again. */
  bursar_test_env_stop_keyring (env);
  bursar_test_env_start_keyring (env);
  found = secret_password_lookup_sync (&schema, NULL, &error, "account", "a1", NULL);
  g_assert_no_error (error);
  g_assert_cmpstr (found, ==, "keyring-secret-value");
  g_clear_pointer (&found, g_free);

  ok = secret_password_clear_sync (&schema, NULL, &error, "account", "a1", NULL);
  g_assert_no_error (error);
  g_assert_true (ok);
  found = secret_password_lookup_sync (&schema, NULL, &error, "account", "a1", NULL);
  g_assert_no_error (error);
  g_assert_null (found);
}

static void
test_mock_discovery (void)
{
  g_autoptr(BursarTestEnv) env = bursar_test_env_new ();
  g_autoptr(Response) response = NULL;
  g_autofree char *url = NULL;
  g_autofree char *expected = NULL;
  JsonArray *methods;
  const char *base = bursar_test_env_get_mock_url (env);

  response = mock_get (env, "/.well-known/openid-configuration");
  g_assert_cmpuint (response->status, ==, 200);
  g_assert_cmpstr (json_string (response->json, "issuer"), ==, base);
  expected = g_strconcat (base, "/authorize", NULL);
  g_assert_cmpstr (json_string (response->json, "authorization_endpoint"), ==, expected);
  g_clear_pointer (&expected, g_free);
  expected = g_strconcat (base, "/token", NULL);
  g_assert_cmpstr (json_string (response->json, "token_endpoint"), ==, expected);
  g_clear_pointer (&expected, g_free);
  expected = g_strconcat (base, "/revoke", NULL);
  g_assert_cmpstr (json_string (response->json, "revocation_endpoint"), ==, expected);
  methods = json_object_get_array_member (response->json, "code_challenge_methods_supported");
  g_assert_cmpuint (json_array_get_length (methods), ==, 1);
  g_assert_cmpstr (json_array_get_string_element (methods, 0), ==, "S256");
  g_assert_true (json_object_get_boolean_member (response->json,
                                                 "authorization_response_iss_parameter_supported"));
  g_clear_pointer (&response, response_free);

  /* The knobs for the mismatch and downgrade tests. */
  bursar_test_env_mock_configure (env, "{\"advertised_issuer\": \"https://evil.example\","
                                       " \"advertise_s256\": false,"
                                       " \"authorization_response_iss_parameter_supported\": false}");
  response = mock_get (env, "/.well-known/openid-configuration");
  g_assert_cmpstr (json_string (response->json, "issuer"), ==, "https://evil.example");
  methods = json_object_get_array_member (response->json, "code_challenge_methods_supported");
  for (guint i = 0; i < json_array_get_length (methods); i++)
    g_assert_cmpstr (json_array_get_string_element (methods, i), !=, "S256");
  g_assert_false (json_object_get_boolean_member (response->json,
                                                  "authorization_response_iss_parameter_supported"));
  g_clear_pointer (&response, response_free);

  /* A typo in a knob is refused, not ignored. */
  url = g_strconcat (base, "/_control/config", NULL);
  response = http_request ("POST", url, "application/json", "{\"rotaton\": \"strict\"}", NULL);
  g_assert_cmpuint (response->status, ==, 400);
  g_clear_pointer (&response, response_free);
  response = http_request ("POST", url, "application/json", "{\"rotation\": \"sometimes\"}", NULL);
  g_assert_cmpuint (response->status, ==, 400);
  g_clear_pointer (&response, response_free);

  bursar_test_env_mock_reset (env);
  response = mock_get (env, "/.well-known/openid-configuration");
  g_assert_cmpstr (json_string (response->json, "issuer"), ==, base);
}

static void
test_mock_authorize (void)
{
  g_autoptr(BursarTestEnv) env = bursar_test_env_new ();
  g_autoptr(GHashTable) params = NULL;
  g_autoptr(Response) response = NULL;
  g_autofree char *path = NULL;

  /* Without PKCE: refused with a page, no redirect. */
  path = g_strdup ("/authorize?response_type=code&client_id=test-client&state=s"
                   "&redirect_uri=" "http%3A%2F%2F127.0.0.1%3A9%2Fcallback");
  response = mock_get (env, path);
  g_assert_cmpuint (response->status, ==, 400);
  g_assert_null (response->location);
  g_clear_pointer (&response, response_free);
  g_clear_pointer (&path, g_free);

  /* A redirect_uri that is not loopback is never redirected to. */
  path = g_strdup ("/authorize?response_type=code&client_id=test-client&state=s"
                   "&code_challenge=abc&code_challenge_method=S256"
                   "&redirect_uri=https%3A%2F%2Fevil.example%2Fcb");
  response = mock_get (env, path);
  g_assert_cmpuint (response->status, ==, 400);
  g_assert_null (response->location);
  g_clear_pointer (&response, response_free);
  g_clear_pointer (&path, g_free);

  /* plain is never accepted. */
  path = g_strdup ("/authorize?response_type=code&client_id=test-client&state=s"
                   "&code_challenge=abc&code_challenge_method=plain"
                   "&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback");
  response = mock_get (env, path);
  g_assert_cmpuint (response->status, ==, 400);
  g_clear_pointer (&response, response_free);
  g_clear_pointer (&path, g_free);

  /* Unknown client. */
  path = g_strdup ("/authorize?response_type=code&client_id=nobody&state=s"
                   "&code_challenge=abc&code_challenge_method=S256"
                   "&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback");
  response = mock_get (env, path);
  g_assert_cmpuint (response->status, ==, 400);
  g_clear_pointer (&response, response_free);
  g_clear_pointer (&path, g_free);

  /* Denied consent. */
  bursar_test_env_mock_configure (env, "{\"consent\": \"deny\"}");
  params = authorize (env, "public-client", "abc", "st-deny", NULL);
  g_assert_cmpstr (g_hash_table_lookup (params, "error"), ==, "access_denied");
  g_assert_nonnull (g_hash_table_lookup (params, "error_description"));
  g_assert_cmpstr (g_hash_table_lookup (params, "state"), ==, "st-deny");
  g_assert_null (g_hash_table_lookup (params, "code"));
  g_clear_pointer (&params, g_hash_table_unref);

  /* iss modes. */
  bursar_test_env_mock_configure (env, "{\"consent\": \"approve\", \"iss_mode\": \"wrong\"}");
  params = authorize (env, "public-client", "abc", "st", NULL);
  g_assert_nonnull (g_hash_table_lookup (params, "code"));
  g_assert_cmpstr (g_hash_table_lookup (params, "iss"), !=, bursar_test_env_get_mock_url (env));
  g_assert_nonnull (g_hash_table_lookup (params, "iss"));
  g_clear_pointer (&params, g_hash_table_unref);
  bursar_test_env_mock_configure (env, "{\"iss_mode\": \"omit\"}");
  params = authorize (env, "public-client", "abc", "st", NULL);
  g_assert_false (g_hash_table_contains (params, "iss"));
  g_clear_pointer (&params, g_hash_table_unref);

  /* pkce_required=false lets a request without a challenge through. */
  bursar_test_env_mock_configure (env, "{\"pkce_required\": false}");
  params = authorize (env, "test-client", NULL, "st", NULL);
  g_assert_nonnull (g_hash_table_lookup (params, "code"));

  g_assert_cmpint (stat_int (env, "authorize_requests"), ==, 8);
  {
    g_autoptr(JsonObject) stats = bursar_test_env_mock_stats (env);

    g_assert_cmpstr (json_object_get_string_member (stats, "last_redirect_uri_authorize"), ==,
                     REDIRECT_URI);
  }
  g_assert_cmpint (stat_int (env, "token_requests"), ==, 0);
}

static void
test_mock_code_exchange (void)
{
  g_autoptr(BursarTestEnv) env = bursar_test_env_new ();
  g_auto(CodeGrant) grant = { NULL, NULL };
  g_auto(CodeGrant) other = { NULL, NULL };
  g_autoptr(Response) response = NULL;
  g_autoptr(Response) reused = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) parts = NULL;
  g_auto(GStrv) secrets = NULL;
  g_autofree guint8 *header = NULL;
  g_autofree guint8 *payload = NULL;
  g_autofree char *access_token = NULL;
  gsize len = 0;
  JsonObject *claims;

  get_code (env, "test-client", &grant);
  response = exchange_code (env, &grant);
  g_assert_cmpuint (response->status, ==, 200);
  g_assert_true (g_str_has_prefix (json_string (response->json, "access_token"), "at-"));
  g_assert_true (g_str_has_prefix (json_string (response->json, "refresh_token"), "rt-"));
  g_assert_cmpstr (json_string (response->json, "token_type"), ==, "Bearer");
  g_assert_cmpint (json_object_get_int_member (response->json, "expires_in"), ==, 3600);
  access_token = g_strdup (json_string (response->json, "access_token"));

  /* The id_token: alg none, the claims of the request. */
  parts = g_strsplit (json_string (response->json, "id_token"), ".", -1);
  g_assert_cmpuint (g_strv_length (parts), ==, 3);
  g_assert_cmpstr (parts[2], ==, "");
  header = bursar_base64url_decode (parts[0], &len, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (header, len, "{\"alg\":\"none\",\"typ\":\"JWT\"}", 26);
  payload = bursar_base64url_decode (parts[1], &len, &error);
  g_assert_no_error (error);
  json_parser_load_from_data (parser, (const char *) payload, (gssize) len, &error);
  g_assert_no_error (error);
  claims = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpstr (json_object_get_string_member (claims, "iss"), ==, bursar_test_env_get_mock_url (env));
  g_assert_cmpstr (json_object_get_string_member (claims, "aud"), ==, "test-client");
  g_assert_cmpstr (json_object_get_string_member (claims, "sub"), ==, "user-1");
  g_assert_cmpstr (json_object_get_string_member (claims, "nonce"), ==, "nonce-1");
  g_assert_cmpstr (json_object_get_string_member (claims, "email"), ==, "alice@example.test");
  g_assert_cmpint (json_object_get_int_member (claims, "exp"), >, g_get_real_time () / G_USEC_PER_SEC);

  /* The resource server takes the token. */
  {
    g_autoptr(Response) api = whoami (env, access_token);

    g_assert_cmpuint (api->status, ==, 200);
    g_assert_cmpstr (json_string (api->json, "sub"), ==, "user-1");
    g_assert_cmpstr (json_string (api->json, "email"), ==, "alice@example.test");
  }
  {
    g_autoptr(Response) api = whoami (env, "at-not-a-token");

    g_assert_cmpuint (api->status, ==, 401);
    g_assert_nonnull (strstr (api->www_authenticate, "error=\"invalid_token\""));
  }

  /* A code is single-use. */
  reused = exchange_code (env, &grant);
  assert_oauth_error (reused, 400, "invalid_grant");
  g_clear_pointer (&reused, response_free);

  /* Wrong verifier. */
  get_code (env, "test-client", &other);
  g_free (other.verifier);
  other.verifier = bursar_pkce_verifier_new (&error);
  g_assert_no_error (error);
  reused = exchange_code (env, &other);
  assert_oauth_error (reused, 400, "invalid_grant");
  g_clear_pointer (&reused, response_free);
  code_grant_clear (&other);

  /* redirect_uri not byte-identical (trailing slash). */
  get_code (env, "test-client", &other);
  reused = mock_post_form (env, "/token", "test-client:test-secret-CANARY",
                           "grant_type", "authorization_code", "code", other.code,
                           "redirect_uri", REDIRECT_URI "/", "code_verifier", other.verifier, NULL);
  assert_oauth_error (reused, 400, "invalid_grant");
  g_clear_pointer (&reused, response_free);
  code_grant_clear (&other);

  /* Wrong client secret. */
  get_code (env, "test-client", &other);
  reused = mock_post_form (env, "/token", "test-client:wrong-secret-value",
                           "grant_type", "authorization_code", "code", other.code,
                           "redirect_uri", REDIRECT_URI, "code_verifier", other.verifier, NULL);
  assert_oauth_error (reused, 401, "invalid_client");
  g_clear_pointer (&reused, response_free);
  code_grant_clear (&other);

  /* A public client needs no secret, only PKCE. */
  get_code (env, "public-client", &other);
  reused = mock_post_form (env, "/token", NULL,
                           "grant_type", "authorization_code", "code", other.code,
                           "client_id", "public-client",
                           "redirect_uri", REDIRECT_URI, "code_verifier", other.verifier, NULL);
  g_assert_cmpuint (reused->status, ==, 200);
  g_clear_pointer (&reused, response_free);

  g_assert_cmpint (grant_count (env, "authorization_code"), ==, 6);
  {
    g_autoptr(JsonObject) stats = bursar_test_env_mock_stats (env);

    g_assert_cmpstr (json_object_get_string_member (stats, "last_redirect_uri_token"), ==, REDIRECT_URI);
  }

  /* Everything secret is listed for the leak scan. */
  secrets = bursar_test_env_mock_secrets (env);
  g_assert_true (g_strv_contains ((const char * const *) secrets, access_token));
  g_assert_true (g_strv_contains ((const char * const *) secrets, grant.code));
  g_assert_true (g_strv_contains ((const char * const *) secrets, grant.verifier));
  g_assert_true (g_strv_contains ((const char * const *) secrets, "test-secret-CANARY"));
  g_assert_true (g_strv_contains ((const char * const *) secrets,
                                  json_string (response->json, "refresh_token")));
  g_assert_true (g_strv_contains ((const char * const *) secrets,
                                  json_string (response->json, "id_token")));
}

/* Refreshes with @rt and returns the new refresh token from the answer. */
static char *
refresh_ok (BursarTestEnv *env,
            const char    *rt)
{
  g_autoptr(Response) response = refresh (env, rt);

  g_assert_cmpuint (response->status, ==, 200);
  g_assert_true (g_str_has_prefix (json_string (response->json, "access_token"), "at-"));
  return g_strdup (json_string (response->json, "refresh_token"));
}

static char *
first_refresh_token (BursarTestEnv *env)
{
  g_auto(CodeGrant) grant = { NULL, NULL };
  g_autoptr(Response) response = NULL;

  get_code (env, "test-client", &grant);
  response = exchange_code (env, &grant);
  g_assert_cmpuint (response->status, ==, 200);
  return g_strdup (json_string (response->json, "refresh_token"));
}

static void
test_mock_rotation (void)
{
  g_autoptr(BursarTestEnv) env = bursar_test_env_new ();
  g_autofree char *rt1 = NULL;
  g_autofree char *rt2 = NULL;
  g_autofree char *rt3 = NULL;
  g_autofree char *rt4 = NULL;
  g_autoptr(Response) response = NULL;

  /* off: the same refresh token, again and again. */
  rt1 = first_refresh_token (env);
  rt2 = refresh_ok (env, rt1);
  g_assert_cmpstr (rt2, ==, rt1);
  g_clear_pointer (&rt2, g_free);
  rt2 = refresh_ok (env, rt1);
  g_assert_cmpstr (rt2, ==, rt1);
  g_clear_pointer (&rt1, g_free);
  g_clear_pointer (&rt2, g_free);

  /* strict: a new one each time, the old one dead at once. */
  bursar_test_env_mock_reset (env);
  bursar_test_env_mock_configure (env, "{\"rotation\": \"strict\"}");
  rt1 = first_refresh_token (env);
  rt2 = refresh_ok (env, rt1);
  g_assert_cmpstr (rt2, !=, rt1);
  response = refresh (env, rt1);
  assert_oauth_error (response, 400, "invalid_grant");
  g_clear_pointer (&response, response_free);
  rt3 = refresh_ok (env, rt2);
  g_assert_cmpint (stat_int (env, "current_refresh_tokens"), ==, 1);
  g_clear_pointer (&rt1, g_free);
  g_clear_pointer (&rt2, g_free);
  g_clear_pointer (&rt3, g_free);

  /* grace: the previous one lives until the new one is first used. */
  bursar_test_env_mock_reset (env);
  bursar_test_env_mock_configure (env, "{\"rotation\": \"grace\"}");
  rt1 = first_refresh_token (env);
  rt2 = refresh_ok (env, rt1);
  g_assert_cmpstr (rt2, !=, rt1);
  rt3 = refresh_ok (env, rt1);      /* rt1 still valid: rt2 not used yet */
  g_assert_cmpstr (rt3, !=, rt2);
  rt4 = refresh_ok (env, rt2);      /* first use of rt2 kills rt1 */
  response = refresh (env, rt1);
  assert_oauth_error (response, 400, "invalid_grant");
  g_clear_pointer (&response, response_free);
  g_clear_pointer (&rt3, g_free);
  rt3 = refresh_ok (env, rt4);      /* and rt4's use kills rt2 */
  response = refresh (env, rt2);
  assert_oauth_error (response, 400, "invalid_grant");
  g_clear_pointer (&response, response_free);

  g_assert_cmpint (grant_count (env, "refresh_token"), ==, 6);
  g_assert_cmpint (grant_count (env, "authorization_code"), ==, 1);
}

static void
test_mock_faults (void)
{
  g_autoptr(BursarTestEnv) env = bursar_test_env_new ();
  g_autofree char *rt = NULL;
  g_autofree char *rt_after = NULL;
  g_autoptr(Response) response = NULL;
  gint64 start;

  rt = first_refresh_token (env);
  bursar_test_env_mock_configure (env,
                                  "{\"fail_next\": ["
                                  " {\"status\": 500},"
                                  " {\"status\": 429, \"retry_after\": 7},"
                                  " {\"status\": 400, \"content_type\": \"application/json\","
                                  "  \"body\": \"{\\\"error\\\":\\\"invalid_grant\\\"}\"},"
                                  " {\"status\": 403, \"body\": \"<html>WAF</html>\"},"
                                  " {\"status\": 503, \"delay_ms\": 300}]}");

  response = refresh (env, rt);
  g_assert_cmpuint (response->status, ==, 500);
  g_clear_pointer (&response, response_free);

  response = refresh (env, rt);
  g_assert_cmpuint (response->status, ==, 429);
  g_assert_cmpstr (response->retry_after, ==, "7");
  g_clear_pointer (&response, response_free);

  response = refresh (env, rt);
  assert_oauth_error (response, 400, "invalid_grant");
  g_clear_pointer (&response, response_free);

  response = refresh (env, rt);
  g_assert_cmpuint (response->status, ==, 403);
  g_assert_null (response->json);
  g_assert_nonnull (strstr (response->body, "WAF"));
  g_clear_pointer (&response, response_free);

  start = g_get_monotonic_time ();
  response = refresh (env, rt);
  g_assert_cmpuint (response->status, ==, 503);
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 300 * 1000);
  g_clear_pointer (&response, response_free);

  /* Faults consumed nothing: the grant still works. */
  rt_after = refresh_ok (env, rt);
  g_assert_cmpint (grant_count (env, "refresh_token"), ==, 6);
  g_assert_cmpint (stat_int (env, "token_requests"), ==, 7);

  /* A slow server. */
  bursar_test_env_mock_configure (env, "{\"delay_ms\": 400}");
  start = g_get_monotonic_time ();
  g_clear_pointer (&rt_after, g_free);
  rt_after = refresh_ok (env, rt);
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 400 * 1000);

  /* fail_next [] clears pending faults. */
  bursar_test_env_mock_configure (env, "{\"delay_ms\": 0, \"fail_next\": [{\"status\": 500}]}");
  bursar_test_env_mock_configure (env, "{\"fail_next\": []}");
  g_clear_pointer (&rt_after, g_free);
  rt_after = refresh_ok (env, rt);
}

static void
test_mock_revoke_and_other_grants (void)
{
  g_autoptr(BursarTestEnv) env = bursar_test_env_new ();
  g_auto(CodeGrant) grant = { NULL, NULL };
  g_autoptr(Response) tokens = NULL;
  g_autoptr(Response) response = NULL;
  g_autoptr(JsonObject) stats = NULL;
  g_autofree char *rt = NULL;
  g_autofree char *at = NULL;
  JsonArray *revocations;

  get_code (env, "test-client", &grant);
  tokens = exchange_code (env, &grant);
  g_assert_cmpuint (tokens->status, ==, 200);
  rt = g_strdup (json_string (tokens->json, "refresh_token"));
  at = g_strdup (json_string (tokens->json, "access_token"));

  /* Revocation needs the client's authentication. */
  response = mock_post_form (env, "/revoke", "test-client:bad-secret-value",
                             "token", rt, "token_type_hint", "refresh_token", NULL);
  g_assert_cmpuint (response->status, ==, 401);
  g_clear_pointer (&response, response_free);

  response = mock_post_form (env, "/revoke", "test-client:test-secret-CANARY",
                             "token", rt, "token_type_hint", "refresh_token", NULL);
  g_assert_cmpuint (response->status, ==, 200);
  g_clear_pointer (&response, response_free);

  /* The whole grant is dead. */
  response = refresh (env, rt);
  assert_oauth_error (response, 400, "invalid_grant");
  g_clear_pointer (&response, response_free);
  response = whoami (env, at);
  g_assert_cmpuint (response->status, ==, 401);
  g_clear_pointer (&response, response_free);

  /* Unknown tokens get 200 too (RFC 7009 §2.2). */
  response = mock_post_form (env, "/revoke", "test-client:test-secret-CANARY",
                             "token", "no-such-token-value", NULL);
  g_assert_cmpuint (response->status, ==, 200);
  g_clear_pointer (&response, response_free);

  stats = bursar_test_env_mock_stats (env);
  revocations = json_object_get_array_member (stats, "revocations");
  g_assert_cmpuint (json_array_get_length (revocations), ==, 2);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (revocations, 0),
                                                  "token_kind"), ==, "refresh");
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (revocations, 0),
                                                  "token_type_hint"), ==, "refresh_token");
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (revocations, 1),
                                                  "token_kind"), ==, "unknown");
  g_assert_cmpint (json_object_get_int_member (stats, "current_refresh_tokens"), ==, 0);

  /* Client credentials: an access token, no refresh token. */
  response = mock_post_form (env, "/token", "test-client:test-secret-CANARY",
                             "grant_type", "client_credentials", "scope", "api", NULL);
  g_assert_cmpuint (response->status, ==, 200);
  g_assert_null (json_string (response->json, "refresh_token"));
  g_assert_null (json_string (response->json, "id_token"));
  {
    g_autoptr(Response) api = whoami (env, json_string (response->json, "access_token"));

    g_assert_cmpuint (api->status, ==, 200);
  }
  g_clear_pointer (&response, response_free);

  response = mock_post_form (env, "/token", NULL, "grant_type", "client_credentials",
                             "client_id", "public-client", NULL);
  assert_oauth_error (response, 400, "unauthorized_client");
  g_clear_pointer (&response, response_free);

  response = mock_post_form (env, "/token", "test-client:test-secret-CANARY",
                             "grant_type", "password", NULL);
  assert_oauth_error (response, 400, "unsupported_grant_type");
  g_clear_pointer (&response, response_free);

  /* Personal access tokens. */
  response = whoami (env, "pat-harness-1234");
  g_assert_cmpuint (response->status, ==, 401);
  g_clear_pointer (&response, response_free);
  bursar_test_env_mock_configure (env, "{\"pats\": [\"pat-harness-1234\"]}");
  response = whoami (env, "pat-harness-1234");
  g_assert_cmpuint (response->status, ==, 200);
  g_clear_pointer (&response, response_free);

  /* A short token lifetime is honoured and no refresh token is sent when
   * asked not to and offline_access is absent. */
  bursar_test_env_mock_configure (env, "{\"token_lifetime\": 1, \"always_refresh_token\": false}");
  {
    g_autoptr(GHashTable) query = g_hash_table_new (g_str_hash, g_str_equal);
    g_autoptr(GError) error = NULL;
    g_autofree char *verifier = bursar_pkce_verifier_new (&error);
    g_autofree char *challenge = bursar_pkce_challenge_s256 (verifier);
    g_autofree char *encoded = NULL;
    g_autofree char *path = NULL;
    g_autoptr(Response) redirect = NULL;
    g_autoptr(GHashTable) params = NULL;
    g_autoptr(Response) api = NULL;

    g_hash_table_insert (query, "response_type", "code");
    g_hash_table_insert (query, "client_id", "test-client");
    g_hash_table_insert (query, "redirect_uri", REDIRECT_URI);
    g_hash_table_insert (query, "scope", "openid");
    g_hash_table_insert (query, "state", "s");
    g_hash_table_insert (query, "code_challenge", challenge);
    g_hash_table_insert (query, "code_challenge_method", "S256");
    encoded = soup_form_encode_hash (query);
    path = g_strconcat ("/authorize?", encoded, NULL);
    redirect = mock_get (env, path);
    params = location_params (redirect->location);
    response = mock_post_form (env, "/token", "test-client:test-secret-CANARY",
                               "grant_type", "authorization_code",
                               "code", g_hash_table_lookup (params, "code"),
                               "redirect_uri", REDIRECT_URI, "code_verifier", verifier, NULL);
    g_assert_cmpuint (response->status, ==, 200);
    g_assert_null (json_string (response->json, "refresh_token"));
    g_assert_cmpint (json_object_get_int_member (response->json, "expires_in"), ==, 1);

    g_usleep (1100 * 1000);
    api = whoami (env, json_string (response->json, "access_token"));
    g_assert_cmpuint (api->status, ==, 401);
  }
}

/* Runs in a subprocess: a fresh process sees this environment's XDG dirs
 * in GIO, as the daemon will. */
static void
test_browser_launch_subprocess (void)
{
  g_autoptr(BursarTestEnv) env = bursar_test_env_new ();
  g_autoptr(GAppInfo) handler = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *url = NULL;
  g_auto(GStrv) urls = NULL;
  gint64 deadline;

  handler = g_app_info_get_default_for_uri_scheme ("http");
  g_assert_nonnull (handler);
  g_assert_cmpstr (g_app_info_get_id (handler), ==, "bursar-test-browser.desktop");
  g_clear_object (&handler);
  handler = g_app_info_get_default_for_uri_scheme ("https");
  g_assert_nonnull (handler);
  g_assert_cmpstr (g_app_info_get_id (handler), ==, "bursar-test-browser.desktop");

  url = g_strconcat (bursar_test_env_get_mock_url (env), "/.well-known/openid-configuration", NULL);
  g_app_info_launch_default_for_uri (url, NULL, &error);
  g_assert_no_error (error);

  /* The browser logs first, then fetches. */
  deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  do
    {
      g_clear_pointer (&urls, g_strfreev);
      urls = bursar_test_env_browser_urls (env);
      if (urls[0] != NULL)
        break;
      g_usleep (20 * 1000);
    }
  while (g_get_monotonic_time () < deadline);

  g_assert_cmpuint (g_strv_length (urls), ==, 1);
  g_assert_cmpstr (urls[0], ==, url);
}

static void
test_browser_launch (void)
{
  g_test_trap_subprocess ("/harness/browser-launch/subprocess", 30 * G_USEC_PER_SEC,
                          G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

typedef struct
{
  char *code;  /* (owned) (nullable) */
  char *state; /* (owned) (nullable) */
  guint hits;
} CallbackSeen;

static void
on_callback (SoupServer        *server,
             SoupServerMessage *msg,
             const char        *path,
             GHashTable        *query,
             gpointer           user_data)
{
  CallbackSeen *seen = user_data;

  seen->hits++;
  if (query != NULL)
    {
      g_free (seen->code);
      seen->code = g_strdup (g_hash_table_lookup (query, "code"));
      g_free (seen->state);
      seen->state = g_strdup (g_hash_table_lookup (query, "state"));
    }
  soup_server_message_set_status (msg, 200, NULL);
  soup_server_message_set_response (msg, "text/plain", SOUP_MEMORY_STATIC, "ok", 2);
}

static void
browser_exited_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  *(gboolean *) user_data = TRUE;
}

static gboolean
timeout_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs the test browser on @url while serving the stand-in callback in
 * this process; returns its exit status. */
static int
run_browser (const char *url)
{
  g_autoptr(GSubprocess) browser = NULL;
  g_autoptr(GError) error = NULL;
  gboolean exited = FALSE;
  gboolean timed_out = FALSE;
  guint timeout_id;

  browser = g_subprocess_new (G_SUBPROCESS_FLAGS_NONE, &error,
                              g_getenv ("BURSAR_TEST_BROWSER"), url, NULL);
  g_assert_no_error (error);
  g_subprocess_wait_async (browser, NULL, browser_exited_cb, &exited);
  timeout_id = g_timeout_add_seconds (20, timeout_cb, &timed_out);
  while (!exited && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  g_assert_false (timed_out);
  g_source_remove (timeout_id);
  g_assert_true (g_subprocess_get_if_exited (browser));
  return g_subprocess_get_exit_status (browser);
}

/* The browser follows the authorization redirect to the callback. */
static void
test_browser_follows_redirect (void)
{
  g_autoptr(BursarTestEnv) env = bursar_test_env_new ();
  g_autoptr(SoupServer) callback = soup_server_new (NULL, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) query = g_hash_table_new (g_str_hash, g_str_equal);
  g_autofree char *redirect_uri = NULL;
  g_autofree char *encoded = NULL;
  g_autofree char *url = NULL;
  g_auto(GStrv) urls = NULL;
  CallbackSeen seen = { NULL, NULL, 0 };
  GSList *uris;

  /* A stand-in for the daemon's loopback listener. */
  soup_server_add_handler (callback, "/callback", on_callback, &seen, NULL);
  soup_server_listen_local (callback, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error);
  g_assert_no_error (error);
  uris = soup_server_get_uris (callback);
  redirect_uri = g_strdup_printf ("http://127.0.0.1:%d/callback", g_uri_get_port (uris->data));
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);

  g_hash_table_insert (query, "response_type", "code");
  g_hash_table_insert (query, "client_id", "public-client");
  g_hash_table_insert (query, "redirect_uri", redirect_uri);
  g_hash_table_insert (query, "state", "browser-state");
  g_hash_table_insert (query, "code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
  g_hash_table_insert (query, "code_challenge_method", "S256");
  encoded = soup_form_encode_hash (query);
  url = g_strconcat (bursar_test_env_get_mock_url (env), "/authorize?", encoded, NULL);

  g_assert_cmpint (run_browser (url), ==, 0);
  g_assert_cmpuint (seen.hits, ==, 1);
  g_assert_cmpstr (seen.state, ==, "browser-state");
  g_assert_true (g_str_has_prefix (seen.code, "code-"));
  urls = bursar_test_env_browser_urls (env);
  g_assert_cmpuint (g_strv_length (urls), ==, 1);
  g_assert_cmpstr (urls[0], ==, url);
  g_clear_pointer (&urls, g_strfreev);

  /* The browser refuses to leave the machine, and says so. */
  g_assert_cmpint (run_browser ("https://example.com/"), ==, 1);

  /* Mode none only logs. */
  g_setenv ("BURSAR_TEST_BROWSER_MODE", "none", TRUE);
  g_assert_cmpint (run_browser (url), ==, 0);
  g_unsetenv ("BURSAR_TEST_BROWSER_MODE");
  g_assert_cmpuint (seen.hits, ==, 1);
  urls = bursar_test_env_browser_urls (env);
  g_assert_cmpuint (g_strv_length (urls), ==, 3);

  soup_server_disconnect (callback);
  g_free (seen.code);
  g_free (seen.state);
}

static void
test_assert_no_secrets_clean (void)
{
  g_autoptr(BursarTestEnv) env = bursar_test_env_new ();
  g_autoptr(Response) response = NULL;
  g_autofree char *keyring_copy = NULL;
  g_autofree char *data_home = g_strdup (g_getenv ("XDG_DATA_HOME"));

  /* Real traffic so there are secrets to look for. */
  response = mock_post_form (env, "/token", "test-client:test-secret-CANARY",
                             "grant_type", "client_credentials", NULL);
  g_assert_cmpuint (response->status, ==, 200);

  /* The keyring directory is exempt: secrets belong there. */
  keyring_copy = g_build_filename (data_home, "keyrings", "planted.txt", NULL);
  g_assert_true (g_file_set_contents (keyring_copy, json_string (response->json, "access_token"),
                                      -1, NULL));
  bursar_test_env_assert_no_secrets (env);
}

static void
test_assert_no_secrets_planted_subprocess (void)
{
  g_autoptr(BursarTestEnv) env = bursar_test_env_new ();
  g_autoptr(Response) response = NULL;
  g_autofree char *path = NULL;
  g_autofree char *contents = NULL;
  g_autofree char *dir = NULL;

  response = mock_post_form (env, "/token", "test-client:test-secret-CANARY",
                             "grant_type", "client_credentials", NULL);
  g_assert_cmpuint (response->status, ==, 200);

  dir = g_build_filename (g_getenv ("XDG_CONFIG_HOME"), "bursar", NULL);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  path = g_build_filename (dir, "accounts.conf", NULL);
  contents = g_strconcat ("[a]\ntoken=", json_string (response->json, "access_token"), "\n", NULL);
  g_assert_true (g_file_set_contents (path, contents, -1, NULL));

  bursar_test_env_assert_no_secrets (env);
  g_print ("leak scan passed\n");
}

static void
test_assert_no_secrets_planted (void)
{
  g_test_trap_subprocess ("/harness/assert-no-secrets/planted/subprocess", 30 * G_USEC_PER_SEC,
                          G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stdout_unmatched ("*leak scan passed*");
  g_test_trap_assert_stderr ("*found in*accounts.conf*");
  /* The secret itself is never printed. */
  g_test_trap_assert_stderr_unmatched ("*at-*");
}

/* --- daemon start/stop against a fake bursard ---------------------------------- */

static gboolean
fake_daemon_quit (gpointer user_data)
{
  g_main_loop_quit (user_data);
  return G_SOURCE_REMOVE;
}

static void
fake_daemon_name_lost (GDBusConnection *connection,
                       const char      *name,
                       gpointer         user_data)
{
  g_main_loop_quit (user_data);
}

/* What bursar_test_env_start_daemon() runs when $BURSARD is this test
 * binary: owns the name, exits 0 on SIGTERM. */
static int
fake_daemon_main (void)
{
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  guint owner_id;

  g_print ("fake bursard starting\n");
  owner_id = g_bus_own_name (G_BUS_TYPE_SESSION, "org.bursar.Bursar1",
                             G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE,
                             NULL, NULL, fake_daemon_name_lost, loop, NULL);
  g_unix_signal_add (SIGTERM, fake_daemon_quit, loop);
  g_timeout_add_seconds (60, fake_daemon_quit, loop);
  g_main_loop_run (loop);
  g_bus_unown_name (owner_id);
  g_print ("fake bursard stopping\n");
  return 0;
}

static void
test_daemon_start_stop (void)
{
  g_autoptr(BursarTestEnv) env = bursar_test_env_new ();
  g_autofree char *self_path = g_file_read_link ("/proc/self/exe", NULL);
  g_autofree char *saved_bursard = g_strdup (g_getenv ("BURSARD"));
  g_autofree char *log = NULL;
  GPid first_pid;

  g_assert_nonnull (self_path);
  g_setenv ("BURSARD", self_path, TRUE);
  g_setenv (FAKE_DAEMON_ENV, "1", TRUE);

  bursar_test_env_start_daemon (env, NULL);
  first_pid = bursar_test_env_get_daemon_pid (env);
  g_assert_cmpint (first_pid, >, 0);
  g_assert_true (bursar_test_env_daemon_running (env));
  bursar_test_env_stop_daemon (env, SIGTERM);
  g_assert_false (bursar_test_env_daemon_running (env));

  /* Killed and restarted at once: the new process must be the owner. */
  bursar_test_env_start_daemon (env, (const char * const[]) { "--replace", NULL });
  g_assert_cmpint (bursar_test_env_get_daemon_pid (env), !=, first_pid);
  bursar_test_env_stop_daemon (env, SIGKILL);
  bursar_test_env_start_daemon (env, NULL);
  bursar_test_env_stop_daemon (env, SIGTERM);

  log = bursar_test_env_daemon_log (env);
  g_assert_nonnull (strstr (log, "fake bursard starting"));
  g_assert_nonnull (strstr (log, "fake bursard stopping"));

  g_unsetenv (FAKE_DAEMON_ENV);
  if (saved_bursard != NULL)
    g_setenv ("BURSARD", saved_bursard, TRUE);
}

int
main (int   argc,
      char *argv[])
{
  if (g_getenv (FAKE_DAEMON_ENV) != NULL)
    return fake_daemon_main ();

  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/harness/env-up", test_env_up);
  g_test_add_func ("/harness/env-twice", test_env_twice);
  g_test_add_func ("/harness/keyring", test_keyring);
  g_test_add_func ("/harness/mock/discovery", test_mock_discovery);
  g_test_add_func ("/harness/mock/authorize", test_mock_authorize);
  g_test_add_func ("/harness/mock/code-exchange", test_mock_code_exchange);
  g_test_add_func ("/harness/mock/rotation", test_mock_rotation);
  g_test_add_func ("/harness/mock/faults", test_mock_faults);
  g_test_add_func ("/harness/mock/revoke-and-other-grants", test_mock_revoke_and_other_grants);
  g_test_add_func ("/harness/browser-launch", test_browser_launch);
  g_test_add_func ("/harness/browser-launch/subprocess", test_browser_launch_subprocess);
  g_test_add_func ("/harness/browser-follows-redirect", test_browser_follows_redirect);
  g_test_add_func ("/harness/assert-no-secrets/clean", test_assert_no_secrets_clean);
  g_test_add_func ("/harness/assert-no-secrets/planted", test_assert_no_secrets_planted);
  g_test_add_func ("/harness/assert-no-secrets/planted/subprocess",
                   test_assert_no_secrets_planted_subprocess);
  g_test_add_func ("/harness/daemon-start-stop", test_daemon_start_stop);

  return g_test_run ();
}
