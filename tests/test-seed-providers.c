/* test-seed-providers.c: the five seed services end to end — bursard on a
 * private bus with a real gnome-keyring-daemon, the mock server playing each
 * service (its real paths and quirks, see the "personality" knob of
 * bursar-mock-server.c) and the test browser as the desktop's http handler.
 * Accounts point at the mock with the AddAccount option base_url (or issuer
 * for Invora, whose endpoints come from discovery).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsecret/secret.h>
#include <signal.h>
#include <string.h>

#include "bursar-test-bus.h"
#include "bursar-test-env.h"

#define CLIENT_ID "test-client"
#define CLIENT_SECRET "test-secret-CANARY"
#define NEEDS_AUTHORIZATION "org.bursar.Bursar1.Error.NeedsAuthorization"

typedef BursarTestFixture Fixture;

/* --- helpers ---------------------------------------------------------- */

/* The options every account of these tests has: the mock's client. */
static GVariantBuilder *
options_new (Fixture    *f,
             const char *environment,
             gboolean    with_base_url)
{
  GVariantBuilder *builder = g_variant_builder_new (G_VARIANT_TYPE_VARDICT);

  if (environment != NULL)
    g_variant_builder_add (builder, "{sv}", "environment", g_variant_new_string (environment));
  if (with_base_url)
    g_variant_builder_add (builder, "{sv}", "base_url",
                           g_variant_new_string (bursar_test_env_get_mock_url (f->env)));
  g_variant_builder_add (builder, "{sv}", "client_id", g_variant_new_string (CLIENT_ID));
  g_variant_builder_add (builder, "{sv}", "client_secret", g_variant_new_string (CLIENT_SECRET));
  return builder;
}

/* AddAccount with the options of @options, which it frees. */
static char *
add_account (Fixture         *f,
             const char      *provider,
             GVariantBuilder *options,
             GError         **error)
{
  g_autoptr(GVariantBuilder) owned = options;

  return bursar_test_add_account (f->env, provider, g_variant_builder_end (owned), error);
}

/* An account added with @options (freed) and authorized through the
 * desktop's browser: State is "ready". */
static char *
add_ready (Fixture         *f,
           const char      *provider,
           GVariantBuilder *options)
{
  g_autoptr(GVariantBuilder) owned = options;

  return bursar_test_add_ready_account_full (f->env, provider, g_variant_builder_end (owned),
                                             bursar_test_authorize_options (TRUE));
}

static char *
get_detail (Fixture    *f,
            const char *path,
            const char *member)
{
  g_autoptr(GVariant) details = bursar_test_get_property (f->env, path, "Details");
  g_autoptr(GVariant) value = g_variant_lookup_value (details, member, NULL);

  if (value == NULL)
    return NULL;
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
    return g_variant_dup_string (value, NULL);
  return g_variant_print (value, FALSE);
}

/* GetToken with min_valid; @out_headers gets the a{ss} of API headers. */
static char *
get_token_headers (Fixture     *f,
                   const char  *path,
                   guint32      min_valid,
                   GVariant   **out_headers,
                   GError     **error)
{
  g_autoptr(GVariant) info = NULL;
  char *token = bursar_test_get_token (f->env, path, min_valid, &info, error);

  if (token == NULL)
    return NULL;
  *out_headers = g_variant_lookup_value (info, "headers", G_VARIANT_TYPE ("a{ss}"));
  g_assert_nonnull (*out_headers);
  return token;
}

static const char *
header_value (GVariant   *headers,
              const char *name)
{
  const char *value = NULL;

  if (!g_variant_lookup (headers, name, "&s", &value))
    return NULL;
  return value;
}

/* A member of the query string of the last authorization request. */
static char *
authorize_param (Fixture    *f,
                 const char *name)
{
  g_autoptr(JsonObject) stats = bursar_test_env_mock_stats (f->env);
  JsonObject *query = json_object_get_object_member (stats, "last_authorize_query");

  g_assert_nonnull (query);
  return json_object_has_member (query, name) ? g_strdup (json_object_get_string_member (query, name)) : NULL;
}

static JsonObject *
revocation (Fixture *f,
            guint    expected_count)
{
  g_autoptr(JsonObject) stats = bursar_test_env_mock_stats (f->env);
  JsonArray *revocations = json_object_get_array_member (stats, "revocations");

  g_assert_cmpuint (json_array_get_length (revocations), ==, expected_count);
  if (expected_count == 0)
    return NULL;
  return json_object_ref (json_array_get_object_element (revocations, expected_count - 1));
}

/* Remove(): the account and its keyring item are gone afterwards. */
static void
remove_account (Fixture    *f,
                const char *path)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(SecretValue) before = bursar_test_keyring_item (path);
  g_autoptr(SecretValue) after = NULL;
  g_autofree char *token = NULL;

  g_assert_nonnull (before);
  reply = bursar_test_call (f->env, path, BURSAR_TEST_ACCOUNT_IFACE, "Remove", NULL, NULL, &error);
  g_assert_no_error (error);
  after = bursar_test_keyring_item (path);
  g_assert_null (after);
  token = bursar_test_get_access_token (f->env, path, NULL, &error);
  g_assert_null (token);
  g_assert_nonnull (error);
}

/* The service forgets every grant; Refresh() then meets its own error
 * shape, which must read as "sign in again". */
static void
assert_dead_grant_needs_reauthorization (Fixture    *f,
                                         const char *path)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autofree char *state = NULL;
  g_autofree char *token = NULL;
  g_autoptr(GVariant) attention = NULL;

  bursar_test_env_mock_configure (f->env, "{\"revoke_all\": true}");
  reply = bursar_test_call (f->env, path, BURSAR_TEST_ACCOUNT_IFACE, "Refresh", NULL, "(si)",
                            &error);
  g_assert_nonnull (error);
  g_assert_cmpstr (g_dbus_error_get_remote_error (error), ==, NEEDS_AUTHORIZATION);
  g_assert_null (strstr (error->message, CLIENT_SECRET));
  g_clear_error (&error);

  state = bursar_test_get_string_property (f->env, path, "State");
  g_assert_cmpstr (state, ==, "needs-reauthorization");
  attention = bursar_test_get_property (f->env, path, "AttentionNeeded");
  g_assert_true (g_variant_get_boolean (attention));

  token = bursar_test_get_access_token (f->env, path, NULL, &error);
  g_assert_null (token);
  g_assert_cmpstr (g_dbus_error_get_remote_error (error), ==, NEEDS_AUTHORIZATION);
}

/* A consent the user refused: needs-authorization, LastError set (and
 * containing @shown when given), no token request made. */
static void
assert_denied (Fixture    *f,
               const char *path,
               const char *shown)
{
  g_autofree char *state = NULL;
  g_autofree char *last_error = NULL;
  gint64 before = bursar_test_mock_stat (f->env, "token_requests");

  state = bursar_test_authorize_and_wait (f->env, path, bursar_test_authorize_options (TRUE));
  g_assert_cmpstr (state, ==, "needs-authorization");
  last_error = bursar_test_get_string_property (f->env, path, "LastError");
  g_assert_cmpstr (last_error, !=, "");
  if (shown != NULL)
    g_assert_nonnull (strstr (last_error, shown));
  g_assert_cmpint (bursar_test_mock_stat (f->env, "token_requests"), ==, before);
}

static char *
api_url (Fixture    *f,
         const char *path,
         const char *suffix)
{
  g_autofree char *base = bursar_test_get_string_property (f->env, path, "ApiBaseUrl");

  g_assert_cmpstr (base, !=, "");
  return g_strconcat (base, suffix, NULL);
}

/* --- Zoho Invoice ------------------------------------------------------ */

static void
test_zoho (Fixture       *f,
           gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  GVariantBuilder *options;
  g_autofree char *path = NULL;
  g_autofree char *second = NULL;
  g_autofree char *first = NULL;
  g_autofree char *refreshed = NULL;
  g_autofree char *again = NULL;
  g_autofree char *scope = NULL;
  g_autofree char *param = NULL;
  g_autofree char *detail = NULL;
  g_autofree char *base = NULL;
  g_autofree char *expected_base = NULL;
  g_autofree char *url = NULL;
  g_autofree char *expected_auth = NULL;
  g_autoptr(GVariant) headers = NULL;
  g_autoptr(JsonObject) answer = NULL;
  g_autoptr(JsonObject) revoked = NULL;
  g_auto(GStrv) urls = NULL;
  g_autofree char *auth_prefix = NULL;
  const char *scopes[] = { "ZohoInvoice.invoices.READ", "ZohoInvoice.invoices.CREATE", NULL };
  gint32 expires_in = 0;

  bursar_test_env_mock_configure (f->env, "{\"personality\": \"zoho\", \"zoho_location\": \"eu\"}");
  options = options_new (f, "eu", TRUE);
  g_variant_builder_add (options, "{sv}", "scopes", g_variant_new_strv (scopes, -1));
  g_variant_builder_add (options, "{sv}", "target_org_id", g_variant_new_string ("org-777"));
  path = add_ready (f, "zoho", options);

  /* Zoho's authorization request: its path, comma scopes, offline access
   * with a fresh consent. */
  urls = bursar_test_env_browser_urls (f->env);
  g_assert_cmpuint (g_strv_length (urls), ==, 1);
  auth_prefix = g_strconcat (bursar_test_env_get_mock_url (f->env), "/oauth/v2/auth?", NULL);
  g_assert_true (g_str_has_prefix (urls[0], auth_prefix));
  scope = authorize_param (f, "scope");
  g_assert_cmpstr (scope, ==, "ZohoInvoice.invoices.READ,ZohoInvoice.invoices.CREATE");
  param = authorize_param (f, "access_type");
  g_assert_cmpstr (param, ==, "offline");
  g_clear_pointer (&param, g_free);
  param = authorize_param (f, "prompt");
  g_assert_cmpstr (param, ==, "consent");

  /* The callback's location and the answer's api_domain are kept. */
  detail = get_detail (f, path, "location");
  g_assert_cmpstr (detail, ==, "eu");
  base = bursar_test_get_string_property (f->env, path, "ApiBaseUrl");
  expected_base = g_strconcat (bursar_test_env_get_mock_url (f->env), "/invoice/v3", NULL);
  g_assert_cmpstr (base, ==, expected_base);

  first = bursar_test_get_access_token (f->env, path, &expires_in, &error);
  g_assert_no_error (error);
  g_assert_cmpint (expires_in, >, 3000);
  g_assert_cmpint (expires_in, <=, 3600);

  /* Expiry: more validity than the token has makes it refresh; Zoho sends
   * no new refresh token, and the old one keeps working. */
  refreshed = bursar_test_get_token_min_valid (f->env, path, 7200, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (refreshed, !=, first);
  g_assert_cmpint (bursar_test_mock_grant_count (f->env, "refresh_token"), ==, 1);
  again = bursar_test_get_token_min_valid (f->env, path, 7200, &error);
  g_assert_no_error (error);
  g_assert_cmpint (bursar_test_mock_grant_count (f->env, "refresh_token"), ==, 2);

  /* The rate limit: a valid token is never refreshed unasked. */
  for (guint i = 0; i < 20; i++)
    {
      g_free (bursar_test_get_access_token (f->env, path, NULL, &error));
      g_assert_no_error (error);
    }
  g_assert_cmpint (bursar_test_mock_grant_count (f->env, "refresh_token"), ==, 2);

  /* The headers Zoho's API wants. */
  g_free (get_token_headers (f, path, 60, &headers, &error));
  g_assert_no_error (error);
  expected_auth = g_strconcat ("Zoho-oauthtoken ", again, NULL);
  g_assert_cmpstr (header_value (headers, "Authorization"), ==, expected_auth);
  g_assert_cmpstr (header_value (headers, "X-com-zoho-invoice-organizationid"), ==, "org-777");
  url = api_url (f, path, "/invoices");
  g_assert_cmpuint (bursar_test_api_get (url, headers, NULL, &answer), ==, 200);
  g_assert_cmpstr (json_object_get_string_member (answer, "org"), ==, "org-777");

  /* Remove: Zoho's own revoke call, token in the query, no client auth. */
  remove_account (f, path);
  revoked = revocation (f, 1);
  g_assert_cmpstr (json_object_get_string_member (revoked, "style"), ==, "zoho-query");
  g_assert_cmpstr (json_object_get_string_member (revoked, "token_kind"), ==, "refresh");
  g_assert_false (json_object_get_boolean_member (revoked, "client_secret_sent"));

  /* Error case: HTTP 200 {"error":"invalid_code"} for a dead grant. */
  second = add_ready (f, "zoho", options_new (f, "eu", TRUE));
  assert_dead_grant_needs_reauthorization (f, second);
}

/* --- Invoiced ------------------------------------------------------------ */

static void
test_invoiced (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *second = NULL;
  g_autofree char *denied = NULL;
  g_autofree char *first = NULL;
  g_autofree char *refreshed = NULL;
  g_autofree char *again = NULL;
  g_autofree char *scope = NULL;
  g_autofree char *url = NULL;
  g_autofree char *expected_auth = NULL;
  g_autoptr(GVariant) headers = NULL;
  g_autoptr(JsonObject) revoked = NULL;
  gint32 expires_in = 0;

  bursar_test_env_mock_configure (f->env, "{\"personality\": \"invoiced\"}");
  path = add_ready (f, "invoiced", options_new (f, "sandbox", TRUE));
  scope = authorize_param (f, "scope");
  g_assert_cmpstr (scope, ==, "read_write");

  first = bursar_test_get_access_token (f->env, path, &expires_in, &error);
  g_assert_no_error (error);
  g_assert_cmpint (expires_in, >, 3000);
  url = api_url (f, path, "/customers");
  g_assert_cmpuint (bursar_test_api_get (url, NULL, first, NULL), ==, 200);

  /* Rotation: the refresh revokes the old access and refresh tokens, so
   * the second refresh only works with the stored new refresh token. */
  refreshed = bursar_test_get_token_min_valid (f->env, path, 7200, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (refreshed, !=, first);
  g_assert_cmpuint (bursar_test_api_get (url, NULL, first, NULL), ==, 401);
  again = get_token_headers (f, path, 7200, &headers, &error);
  g_assert_no_error (error);
  g_assert_cmpint (bursar_test_mock_grant_count (f->env, "refresh_token"), ==, 2);

  expected_auth = g_strconcat ("Bearer ", again, NULL);
  g_assert_cmpstr (header_value (headers, "Authorization"), ==, expected_auth);
  g_assert_cmpuint (bursar_test_api_get (url, headers, NULL, NULL), ==, 200);

  /* Remove: the access JWT to /oauth/revoke, no client auth, 204. */
  remove_account (f, path);
  revoked = revocation (f, 1);
  g_assert_cmpstr (json_object_get_string_member (revoked, "style"), ==, "invoiced");
  g_assert_cmpstr (json_object_get_string_member (revoked, "token_kind"), ==, "access");
  g_assert_false (json_object_get_boolean_member (revoked, "client_secret_sent"));
  g_assert_cmpuint (bursar_test_api_get (url, NULL, again, NULL), ==, 401);

  /* Error case: 400 {"type":"invalid_request","message":…} for a dead
   * refresh token. */
  second = add_ready (f, "invoiced", options_new (f, "sandbox", TRUE));
  assert_dead_grant_needs_reauthorization (f, second);

  /* A refused consent comes back with only error_description. */
  bursar_test_env_mock_configure (f->env, "{\"consent\": \"deny\"}");
  denied = add_account (f, "invoiced", options_new (f, "sandbox", TRUE), &error);
  g_assert_no_error (error);
  assert_denied (f, denied, NULL);
}

/* --- Apruve ---------------------------------------------------------------- */

static void
test_apruve (Fixture       *f,
             gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *second = NULL;
  g_autofree char *denied = NULL;
  g_autofree char *first = NULL;
  g_autofree char *refreshed = NULL;
  g_autofree char *again = NULL;
  g_autofree char *detail = NULL;
  g_autofree char *url = NULL;
  g_autofree char *expected_auth = NULL;
  g_autoptr(GVariant) headers = NULL;
  g_autoptr(JsonObject) revoked = NULL;
  gint32 expires_in = 0;

  bursar_test_env_mock_configure (f->env, "{\"personality\": \"apruve\"}");
  /* The exchange only works with state and redirect_uri, and answers
   * "token" instead of "access_token". */
  path = add_ready (f, "apruve", options_new (f, "test", TRUE));
  detail = get_detail (f, path, "corporate_account_id");
  g_assert_cmpstr (detail, ==, "corp-4711");

  /* No expires_in: the provider file's 120 minutes. */
  first = bursar_test_get_access_token (f->env, path, &expires_in, &error);
  g_assert_no_error (error);
  g_assert_cmpint (expires_in, >, 7000);
  g_assert_cmpint (expires_in, <=, 7200);

  /* Refresh answers access_token and a new refresh token every time. */
  refreshed = bursar_test_get_token_min_valid (f->env, path, 10000, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (refreshed, !=, first);
  again = get_token_headers (f, path, 10000, &headers, &error);
  g_assert_no_error (error);
  g_assert_cmpint (bursar_test_mock_grant_count (f->env, "refresh_token"), ==, 2);
  g_clear_pointer (&detail, g_free);
  detail = get_detail (f, path, "corporate_account_id");
  g_assert_cmpstr (detail, ==, "corp-4711");

  expected_auth = g_strconcat ("Bearer ", again, NULL);
  g_assert_cmpstr (header_value (headers, "Authorization"), ==, expected_auth);
  url = api_url (f, path, "/merchants");
  g_assert_cmpuint (bursar_test_api_get (url, headers, NULL, NULL), ==, 200);

  /* No revocation endpoint: Remove is local only. */
  remove_account (f, path);
  revoked = revocation (f, 0);

  /* error=access_denied with an error_description shown to the user. */
  bursar_test_env_mock_configure (f->env, "{\"consent\": \"deny\"}");
  denied = add_account (f, "apruve", options_new (f, "test", TRUE), &error);
  g_assert_no_error (error);
  assert_denied (f, denied, "The user denied the request.");

  /* Error case: 401 [{"message":"Invalid authentication token."}] for a
   * dead refresh token. */
  bursar_test_env_mock_configure (f->env, "{\"consent\": \"approve\"}");
  second = add_ready (f, "apruve", options_new (f, "test", TRUE));
  assert_dead_grant_needs_reauthorization (f, second);
}

/* --- Invoice Processor ------------------------------------------------------ */

static guint16
free_loopback_port (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                            G_SOCKET_PROTOCOL_TCP, &error);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;

  g_assert_no_error (error);
  g_socket_bind (socket, any, FALSE, &error);
  g_assert_no_error (error);
  bound = g_socket_get_local_address (socket, &error);
  g_assert_no_error (error);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

static void
test_invproc (Fixture       *f,
              gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  GVariantBuilder *options;
  g_autofree char *redirect_uri = NULL;
  g_autofree char *config = NULL;
  g_autofree char *path = NULL;
  g_autofree char *first = NULL;
  g_autofree char *token = NULL;
  g_autofree char *state = NULL;
  g_autofree char *url = NULL;
  g_autofree char *login_prefix = NULL;
  g_autoptr(GVariant) headers = NULL;
  g_autoptr(JsonObject) stats = NULL;
  g_autoptr(JsonObject) revoked = NULL;
  g_auto(GStrv) urls = NULL;
  JsonObject *seen;
  gint32 expires_in = 0;

  /* The POST carries no redirect URI: the client's registered one is used,
   * and the account names it. */
  redirect_uri = g_strdup_printf ("http://127.0.0.1:%u/callback", free_loopback_port ());
  config = g_strdup_printf ("{\"personality\": \"invproc\", \"invproc_redirect_uri\": \"%s\"}", redirect_uri);
  bursar_test_env_mock_configure (f->env, config);
  options = options_new (f, NULL, TRUE);
  g_variant_builder_add (options, "{sv}", "redirect_uri", g_variant_new_string (redirect_uri));
  g_variant_builder_add (options, "{sv}", "signup", g_variant_new_boolean (TRUE));
  path = add_ready (f, "invproc", options);

  /* One POST of JSON, its 307 read and not followed: the browser opened
   * the login page itself. */
  stats = bursar_test_env_mock_stats (f->env);
  g_assert_cmpint (json_object_get_int_member (stats, "invproc_auth_posts"), ==, 1);
  g_assert_cmpint (json_object_get_int_member (stats, "invproc_login_posts"), ==, 0);
  g_assert_cmpint (json_object_get_int_member (stats, "invproc_login_gets"), ==, 1);
  seen = json_object_get_object_member (stats, "last_invproc_auth");
  g_assert_nonnull (seen);
  g_assert_true (json_object_get_boolean_member (seen, "isSignup"));
  g_assert_cmpstr (json_object_get_string_member (seen, "code_challenge_method"), ==, "S256");
  urls = bursar_test_env_browser_urls (f->env);
  g_assert_cmpuint (g_strv_length (urls), ==, 1);
  login_prefix = g_strconcat (bursar_test_env_get_mock_url (f->env), "/api/oauth2/login?request=", NULL);
  g_assert_true (g_str_has_prefix (urls[0], login_prefix));

  /* camelCase answer without a lifetime: the file's hour. */
  first = bursar_test_get_access_token (f->env, path, &expires_in, &error);
  g_assert_no_error (error);
  g_assert_cmpint (expires_in, >, 3000);
  g_assert_cmpint (expires_in, <=, 3600);
  g_free (get_token_headers (f, path, 60, &headers, &error));
  g_assert_no_error (error);
  url = api_url (f, path, "/invoices");
  g_assert_cmpuint (bursar_test_api_get (url, headers, NULL, NULL), ==, 200);

  /* Expiry: the refresh is refused, and the account asks for a new
   * sign-in instead of failing silently. */
  token = bursar_test_get_token_min_valid (f->env, path, 7200, &error);
  g_assert_null (token);
  g_assert_cmpstr (g_dbus_error_get_remote_error (error), ==, NEEDS_AUTHORIZATION);
  g_clear_error (&error);
  g_assert_cmpint (bursar_test_mock_grant_count (f->env, "refresh_token"), ==, 1);
  state = bursar_test_get_string_property (f->env, path, "State");
  g_assert_cmpstr (state, ==, "needs-reauthorization");

  /* Revocation is unknown: local removal. */
  remove_account (f, path);
  revoked = revocation (f, 0);
}

/* --- Invora (ZITADEL) ------------------------------------------------------ */

static GVariantBuilder *
invora_options (Fixture    *f,
                const char *client_id,
                const char *flow)
{
  GVariantBuilder *builder = g_variant_builder_new (G_VARIANT_TYPE_VARDICT);

  g_variant_builder_add (builder, "{sv}", "issuer",
                         g_variant_new_string (bursar_test_env_get_mock_url (f->env)));
  g_variant_builder_add (builder, "{sv}", "client_id", g_variant_new_string (client_id));
  if (flow != NULL)
    g_variant_builder_add (builder, "{sv}", "flow", g_variant_new_string (flow));
  return builder;
}

static void
test_invora (Fixture       *f,
             gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  GVariantBuilder *options;
  g_autofree char *path = NULL;
  g_autofree char *second = NULL;
  g_autofree char *machine = NULL;
  g_autofree char *pat = NULL;
  g_autofree char *first = NULL;
  g_autofree char *refreshed = NULL;
  g_autofree char *again = NULL;
  g_autofree char *scope = NULL;
  g_autofree char *detail = NULL;
  g_autofree char *url = NULL;
  g_autofree char *expected_auth = NULL;
  g_autofree char *auth_prefix = NULL;
  g_autofree char *token = NULL;
  g_autoptr(GVariant) headers = NULL;
  g_autoptr(JsonObject) answer = NULL;
  g_autoptr(JsonObject) revoked = NULL;
  g_auto(GStrv) urls = NULL;
  g_auto(GStrv) scopes = NULL;
  gint32 expires_in = 0;

  bursar_test_env_mock_configure (f->env, "{\"personality\": \"invora\", \"pats\": [\"pat-CANARY-invora\"]}");

  /* A public client (no secret anywhere), signing in to one organisation. */
  options = invora_options (f, "public-client", NULL);
  g_variant_builder_add (options, "{sv}", "target_org_id", g_variant_new_string ("org-zitadel-1"));
  path = add_ready (f, "invora", options);

  urls = bursar_test_env_browser_urls (f->env);
  auth_prefix = g_strconcat (bursar_test_env_get_mock_url (f->env), "/oauth/v2/authorize?", NULL);
  g_assert_true (g_str_has_prefix (urls[0], auth_prefix));
  scope = authorize_param (f, "scope");
  scopes = g_strsplit (scope, " ", -1);
  g_assert_true (g_strv_contains ((const char * const *) scopes, "openid"));
  g_assert_true (g_strv_contains ((const char * const *) scopes, "offline_access"));
  g_assert_true (g_strv_contains ((const char * const *) scopes, "urn:zitadel:iam:org:id:org-zitadel-1"));

  /* ZITADEL's claims in Details. */
  detail = get_detail (f, path, "org_id");
  g_assert_cmpstr (detail, ==, "org-zitadel-1");
  g_clear_pointer (&detail, g_free);
  detail = get_detail (f, path, "subject");
  g_assert_cmpstr (detail, ==, "user-1");
  g_clear_pointer (&detail, g_free);
  detail = get_detail (f, path, "roles");
  g_assert_nonnull (detail);
  g_assert_nonnull (strstr (detail, "invoice-admin"));

  first = bursar_test_get_access_token (f->env, path, &expires_in, &error);
  g_assert_no_error (error);
  g_assert_cmpint (expires_in, >, 3000);

  /* Rotating refresh tokens, client_id only. */
  refreshed = bursar_test_get_token_min_valid (f->env, path, 7200, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (refreshed, !=, first);
  again = get_token_headers (f, path, 7200, &headers, &error);
  g_assert_no_error (error);
  g_assert_cmpint (bursar_test_mock_grant_count (f->env, "refresh_token"), ==, 2);

  expected_auth = g_strconcat ("Bearer ", again, NULL);
  g_assert_cmpstr (header_value (headers, "Authorization"), ==, expected_auth);
  g_assert_cmpstr (header_value (headers, "X-Target-Org-Id"), ==, "org-zitadel-1");
  url = g_strconcat (bursar_test_env_get_mock_url (f->env), "/api/v1/whoami", NULL);
  g_assert_cmpuint (bursar_test_api_get (url, headers, NULL, &answer), ==, 200);
  g_assert_cmpstr (json_object_get_string_member (answer, "org"), ==, "org-zitadel-1");

  /* RFC 7009 revocation of the refresh token, client_id only. */
  remove_account (f, path);
  revoked = revocation (f, 1);
  g_assert_cmpstr (json_object_get_string_member (revoked, "style"), ==, "rfc7009");
  g_assert_cmpstr (json_object_get_string_member (revoked, "token_kind"), ==, "refresh");
  g_assert_false (json_object_get_boolean_member (revoked, "client_secret_sent"));

  /* Error case: {"error":"invalid_grant"} for a dead refresh token. */
  second = add_ready (f, "invora", invora_options (f, "public-client", NULL));
  assert_dead_grant_needs_reauthorization (f, second);

  /* A machine client: a 12-hour token and no refresh token. */
  options = invora_options (f, CLIENT_ID, "client_credentials");
  g_variant_builder_add (options, "{sv}", "client_secret", g_variant_new_string (CLIENT_SECRET));
  machine = add_account (f, "invora", options, &error);
  g_assert_no_error (error);
  g_clear_pointer (&token, g_free);
  token = bursar_test_get_access_token (f->env, machine, &expires_in, &error);
  g_assert_no_error (error);
  g_assert_cmpint (expires_in, >, 43000);
  g_assert_cmpint (expires_in, <=, 43200);
  g_assert_cmpint (bursar_test_mock_grant_count (f->env, "client_credentials"), ==, 1);

  /* A personal access token, checked at ZITADEL's userinfo endpoint. */
  options = g_variant_builder_new (G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (options, "{sv}", "issuer",
                         g_variant_new_string (bursar_test_env_get_mock_url (f->env)));
  g_variant_builder_add (options, "{sv}", "flow", g_variant_new_string ("personal_access_token"));
  g_variant_builder_add (options, "{sv}", "token", g_variant_new_string ("pat-CANARY-invora"));
  pat = add_account (f, "invora", options, &error);
  g_assert_no_error (error);
  g_clear_pointer (&token, g_free);
  token = bursar_test_get_access_token (f->env, pat, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (token, ==, "pat-CANARY-invora");
  g_assert_cmpint (bursar_test_mock_stat (f->env, "userinfo_requests"), >=, 1);
}

/* --- user provider files ---------------------------------------------------- */

static const char acme_provider[] =
  "# A made-up sixth service, added without a rebuild.\n"
  "[Provider]\n"
  "Name=Acme Billing\n"
  "Flows=authorization_code;\n"
  "DefaultScopes=billing;\n"
  "ClientAuth=basic\n"
  "Revocation=refresh\n"
  "HeaderScheme=Bearer\n"
  "\n"
  "[Environment live]\n"
  "AuthorizationEndpoint=https://login.acme.example/authorize\n"
  "TokenEndpoint=https://login.acme.example/token\n"
  "RevocationEndpoint=https://login.acme.example/revoke\n"
  "ApiBaseUrl=https://api.acme.example/api/v1\n";

static const char broken_provider[] =
  "[Provider]\n"
  "Name=Broken\n"
  "Frobnicate=yes\n"
  "\n"
  "[Environment live]\n"
  "AuthorizationEndpoint=https://broken.example/authorize\n"
  "TokenEndpoint=https://broken.example/token\n";

static gboolean
providers_contain (GVariant   *providers,
                   const char *id)
{
  GVariantIter iter;
  GVariant *dict;

  g_variant_iter_init (&iter, providers);
  while ((dict = g_variant_iter_next_value (&iter)) != NULL)
    {
      const char *value = NULL;
      gboolean found = g_variant_lookup (dict, "id", "&s", &value) && g_str_equal (value, id);

      g_variant_unref (dict);
      if (found)
        return TRUE;
    }
  return FALSE;
}

static void
test_user_provider (Fixture       *f,
                    gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_build_filename (g_getenv ("XDG_CONFIG_HOME"), "bursar", "providers", NULL);
  g_autofree char *acme = g_build_filename (dir, "acme.provider", NULL);
  g_autofree char *broken = g_build_filename (dir, "broken.provider", NULL);
  g_autofree char *path = NULL;
  g_autofree char *token = NULL;
  g_autofree char *url = NULL;
  g_autofree char *log = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) providers = NULL;
  g_autoptr(JsonObject) revoked = NULL;
  g_auto(GStrv) lines = NULL;
  guint warnings = 0;
  const char *known[] = { "acme", "zoho", "invoiced", "apruve", "invproc", "invora", "oidc", "oauth2", NULL };

  /* Provider files are read at start-up: write them, then restart. */
  bursar_test_env_stop_daemon (f->env, SIGTERM);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  g_file_set_contents (acme, acme_provider, -1, &error);
  g_assert_no_error (error);
  g_file_set_contents (broken, broken_provider, -1, &error);
  g_assert_no_error (error);
  /* The skipped file is a warning, which the suite's
   * G_DEBUG=fatal-warnings would turn into an abort of the daemon that
   * inherits it. */
  g_setenv ("G_DEBUG", "gc-friendly", TRUE);
  bursar_test_env_start_daemon (f->env, NULL);
  g_setenv ("G_DEBUG", "gc-friendly,fatal-warnings", TRUE);

  reply = bursar_test_call (f->env, BURSAR_TEST_MANAGER_PATH, BURSAR_TEST_MANAGER_IFACE,
                            "ListProviders", NULL, "(aa{sv})", &error);
  g_assert_no_error (error);
  providers = g_variant_get_child_value (reply, 0);
  for (guint i = 0; known[i] != NULL; i++)
    {
      g_test_message ("provider %s", known[i]);
      g_assert_true (providers_contain (providers, known[i]));
    }
  g_assert_false (providers_contain (providers, "broken"));

  /* One warning, naming the file and the key. */
  log = bursar_test_env_daemon_log (f->env);
  lines = g_strsplit (log, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    if (strstr (lines[i], "broken.provider") != NULL && strstr (lines[i], "WARNING") != NULL)
      {
        warnings++;
        g_assert_nonnull (strstr (lines[i], "Frobnicate"));
      }
  g_assert_cmpuint (warnings, ==, 1);

  /* The sixth service works end to end against the generic mock. */
  path = add_ready (f, "acme", options_new (f, "live", TRUE));
  token = bursar_test_get_access_token (f->env, path, NULL, &error);
  g_assert_no_error (error);
  url = g_strconcat (bursar_test_env_get_mock_url (f->env), "/api/whoami", NULL);
  g_assert_cmpuint (bursar_test_api_get (url, NULL, token, NULL), ==, 200);
  remove_account (f, path);
  revoked = revocation (f, 1);
  g_assert_cmpstr (json_object_get_string_member (revoked, "token_kind"), ==, "refresh");
}

/* --- bursarctl providers ---------------------------------------------------- */

static void
test_bursarctl_providers (Fixture       *f,
                          gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *ctl = g_build_filename (g_getenv ("BURSAR_BUILDDIR"), "cli", "bursarctl", NULL);
  g_autoptr(GSubprocess) proc = NULL;
  g_autofree char *out = NULL;
  g_auto(GStrv) lines = NULL;
  const char *expected[][2] = {
    { "zoho", "us,eu,in,au,jp,ca,sa,cn,uk" },
    { "invoiced", "production,sandbox" },
    { "apruve", "production,test" },
    { "invora", "production,dev" },
    { "invproc", "production" },
  };

  proc = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error, ctl, "providers", NULL);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (proc, NULL, NULL, &out, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (proc));
  g_assert_cmpint (g_subprocess_get_exit_status (proc), ==, 0);

  lines = g_strsplit (out, "\n", -1);
  for (gsize e = 0; e < G_N_ELEMENTS (expected); e++)
    {
      gboolean found = FALSE;

      for (guint i = 0; lines[i] != NULL && !found; i++)
        found = g_str_has_prefix (lines[i], expected[e][0]) &&
                lines[i][strlen (expected[e][0])] == ' ' &&
                strstr (lines[i], expected[e][1]) != NULL;
      g_test_message ("%s %s", expected[e][0], expected[e][1]);
      g_assert_true (found);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(name, func) \
  g_test_add ("/seed/" name, Fixture, NULL, bursar_test_fixture_setup, func, \
              bursar_test_fixture_teardown)

  ADD ("zoho", test_zoho);
  ADD ("invoiced", test_invoiced);
  ADD ("apruve", test_apruve);
  ADD ("invproc", test_invproc);
  ADD ("invora", test_invora);
  ADD ("user-provider", test_user_provider);
  ADD ("bursarctl-providers", test_bursarctl_providers);

  return g_test_run ();
}
