/* test-daemon.c: bursard end to end — a private dbus-daemon, a real
 * gnome-keyring-daemon, the mock authorization server over loopback HTTP
 * and the test browser registered as the desktop's http handler.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <libsecret/secret.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <string.h>

#include "bursar-test-bus.h"
#include "bursar-test-env.h"

typedef BursarTestFixture Fixture;

/* --- helpers ---------------------------------------------------------- */

/* The oidc account these tests use, labelled "Work" (bursarctl finds it
 * by that label). */
static GVariant *
work_options (Fixture    *f,
              const char *client_id,
              const char *client_secret)
{
  return bursar_test_oidc_options (f->env, client_id, client_secret, "Work");
}

/* The resource server of the mock: does it take this token? */
static guint
api_status (Fixture    *f,
            const char *token)
{
  g_autofree char *url = g_strconcat (bursar_test_env_get_mock_url (f->env), "/api/whoami", NULL);

  return bursar_test_api_get (url, NULL /* headers */, token, NULL /* out_object */);
}

/* Adds a "Work" account and authorizes it through the default browser. */
static char *
add_ready_account (Fixture *f)
{
  return bursar_test_add_ready_account_full (f->env, "oidc",
                                             work_options (f, "test-client", "test-secret-CANARY"),
                                             bursar_test_authorize_options (TRUE));
}

/* --- tests -------------------------------------------------------------- */

static void
test_authorize_and_token (Fixture       *f,
                          gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *url = NULL;
  g_autofree char *state = NULL;
  g_autofree char *token = NULL;
  g_autofree char *identity = NULL;
  g_autofree char *last_error = NULL;
  g_auto(GStrv) urls = NULL;
  g_autofree char *authorize_prefix = NULL;
  gint32 expires_in = 0;

  path = bursar_test_add_account (f->env, "oidc", work_options (f, "test-client", "test-secret-CANARY"),
                                  &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (path, "/org/bursar/Bursar1/accounts/oidc_"));

  state = bursar_test_get_string_property (f->env, path, "State");
  g_assert_cmpstr (state, ==, "needs-authorization");

  url = bursar_test_authorize (f->env, path, bursar_test_authorize_options (TRUE), &error);
  g_assert_no_error (error);
  authorize_prefix = g_strconcat (bursar_test_env_get_mock_url (f->env), "/authorize?", NULL);
  g_assert_true (g_str_has_prefix (url, authorize_prefix));
  g_assert_nonnull (strstr (url, "code_challenge_method=S256"));
  g_assert_nonnull (strstr (url, "redirect_uri=http%3A%2F%2F127.0.0.1%3A"));

  g_clear_pointer (&state, g_free);
  state = bursar_test_wait_state_leaves (f->env, path, "authorizing");
  g_assert_cmpstr (state, ==, "ready");

  /* The desktop's default browser was opened exactly once, with that URL. */
  urls = bursar_test_env_browser_urls (f->env);
  g_assert_cmpuint (g_strv_length (urls), ==, 1);
  g_assert_cmpstr (urls[0], ==, url);

  identity = bursar_test_get_string_property (f->env, path, "Identity");
  g_assert_cmpstr (identity, ==, "alice@example.test");
  last_error = bursar_test_get_string_property (f->env, path, "LastError");
  g_assert_cmpstr (last_error, ==, "");

  token = bursar_test_get_access_token (f->env, path, &expires_in, &error);
  g_assert_no_error (error);
  g_assert_cmpint (expires_in, >, 3000);
  g_assert_cmpint (expires_in, <=, 3600);
  g_assert_cmpuint (api_status (f, token), ==, 200);

  /* A second call is served from the cache. */
  {
    g_autofree char *again = bursar_test_get_access_token (f->env, path, NULL, &error);

    g_assert_no_error (error);
    g_assert_cmpstr (again, ==, token);
    g_assert_cmpint (bursar_test_mock_grant_count (f->env, "refresh_token"), ==, 0);
    g_assert_cmpint (bursar_test_mock_grant_count (f->env, "authorization_code"), ==, 1);
  }
}

static void
test_refresh_rotation_restart (Fixture       *f,
                               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *first = NULL;
  g_autofree char *second = NULL;
  g_autofree char *third = NULL;
  g_autofree char *state = NULL;
  g_autoptr(GVariant) info = NULL;
  g_auto(GStrv) urls = NULL;
  gint64 expires_at = 0;

  bursar_test_env_mock_configure (f->env, "{\"rotation\": \"strict\", \"token_lifetime\": 600}");
  path = add_ready_account (f);

  first = bursar_test_get_access_token (f->env, path, NULL, &error);
  g_assert_no_error (error);

  /* Asking for more validity than the token has makes it refresh. */
  second = bursar_test_get_token (f->env, path, 3600, &info, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (second, !=, first);
  g_assert_cmpint (bursar_test_mock_grant_count (f->env, "refresh_token"), ==, 1);
  g_assert_true (g_variant_lookup (info, "expires_at", "x", &expires_at));
  g_assert_cmpint (expires_at, >, g_get_real_time () / G_USEC_PER_SEC + 500);
  g_assert_cmpuint (api_status (f, second), ==, 200);

  /* Killed without warning: the rotated refresh token must already be in
   * the keyring, since the old one is dead at the strict server. */
  bursar_test_env_stop_daemon (f->env, SIGKILL);
  bursar_test_env_start_daemon (f->env, NULL);

  state = bursar_test_get_string_property (f->env, path, "State");
  g_assert_cmpstr (state, ==, "ready");
  third = bursar_test_get_token_min_valid (f->env, path, 3600, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (third, !=, second);
  g_assert_cmpint (bursar_test_mock_grant_count (f->env, "refresh_token"), ==, 2);
  g_assert_cmpuint (api_status (f, third), ==, 200);

  /* No second trip to the browser. */
  urls = bursar_test_env_browser_urls (f->env);
  g_assert_cmpuint (g_strv_length (urls), ==, 1);
}

typedef struct
{
  guint pending;
  GPtrArray *tokens;
} ConcurrentData;

static void
concurrent_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  ConcurrentData *data = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  char *token = NULL;

  g_assert_no_error (error);
  g_variant_get (reply, "(si)", &token, NULL);
  g_ptr_array_add (data->tokens, token);
  data->pending--;
}

static void
test_concurrent_single_flight (Fixture       *f,
                               gconstpointer  data)
{
  g_autofree char *path = NULL;
  ConcurrentData cd = { 0 };
  gint64 before;

  /* Tokens that live 30 s are always under the 60 s margin, so every
   * GetAccessToken needs a refresh; the slow server keeps it in flight
   * while all 50 calls arrive. */
  bursar_test_env_mock_configure (f->env, "{\"token_lifetime\": 30, \"rotation\": \"strict\"}");
  path = add_ready_account (f);
  bursar_test_env_mock_configure (f->env, "{\"delay_ms\": 500}");
  before = bursar_test_mock_grant_count (f->env, "refresh_token");

  cd.tokens = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < 50; i++)
    {
      cd.pending++;
      g_dbus_connection_call (f->bus, "org.bursar.Bursar1", path, "org.bursar.Bursar1.Account",
                              "GetAccessToken", NULL, G_VARIANT_TYPE ("(si)"),
                              G_DBUS_CALL_FLAGS_NONE, BURSAR_TEST_CALL_TIMEOUT_MS, NULL, concurrent_cb,
                              &cd);
    }
  bursar_test_wait_pending (&cd.pending);

  g_assert_cmpuint (cd.tokens->len, ==, 50);
  for (guint i = 1; i < cd.tokens->len; i++)
    g_assert_cmpstr (g_ptr_array_index (cd.tokens, i), ==, g_ptr_array_index (cd.tokens, 0));
  g_assert_cmpint (bursar_test_mock_grant_count (f->env, "refresh_token") - before, ==, 1);
  g_assert_cmpuint (api_status (f, g_ptr_array_index (cd.tokens, 0)), ==, 200);
  g_ptr_array_unref (cd.tokens);
}

static void
test_user_denies (Fixture       *f,
                  gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *url = NULL;
  g_autofree char *state = NULL;
  g_autofree char *last_error = NULL;
  g_autofree char *token = NULL;

  bursar_test_env_mock_configure (f->env, "{\"consent\": \"deny\"}");
  path = bursar_test_add_account (f->env, "oidc", work_options (f, "test-client", "test-secret-CANARY"),
                                  &error);
  g_assert_no_error (error);
  url = bursar_test_authorize (f->env, path, bursar_test_authorize_options (TRUE), &error);
  g_assert_no_error (error);

  state = bursar_test_wait_state_leaves (f->env, path, "authorizing");
  g_assert_cmpstr (state, ==, "needs-authorization");
  last_error = bursar_test_get_string_property (f->env, path, "LastError");
  g_assert_nonnull (strstr (last_error, "denied"));
  g_assert_cmpint (bursar_test_mock_stat (f->env, "token_requests"), ==, 0);

  token = bursar_test_get_access_token (f->env, path, NULL, &error);
  g_assert_null (token);
  g_assert_cmpstr (g_dbus_error_get_remote_error (error), ==,
                   "org.bursar.Bursar1.Error.NeedsAuthorization");
}

static void
test_wrong_state (Fixture       *f,
                  gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *url = NULL;
  g_autofree char *state = NULL;
  g_autofree char *redirect = NULL;
  g_autofree char *forged = NULL;
  g_autoptr(GUri) uri = NULL;
  g_autoptr(GHashTable) params = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(SoupSession) session = soup_session_new_with_options ("timeout", 10, NULL);
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) body = NULL;

  path = bursar_test_add_account (f->env, "oidc", work_options (f, "test-client", "test-secret-CANARY"),
                                  &error);
  g_assert_no_error (error);
  url = bursar_test_authorize (f->env, path, bursar_test_authorize_options (FALSE), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_strv_length (bursar_test_env_browser_urls (f->env)), ==, 0);

  uri = g_uri_parse (url, G_URI_FLAGS_ENCODED, &error);
  g_assert_no_error (error);
  params = g_uri_parse_params (g_uri_get_query (uri), -1, "&", G_URI_PARAMS_WWW_FORM, &error);
  g_assert_no_error (error);
  redirect = g_strdup (g_hash_table_lookup (params, "redirect_uri"));
  g_assert_nonnull (redirect);

  /* A forged callback with a wrong state is refused and changes nothing. */
  forged = g_strconcat (redirect, "?code=forged-code&state=wrong-state", NULL);
  msg = soup_message_new ("GET", forged);
  body = soup_session_send_and_read (session, msg, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (soup_message_get_status (msg), ==, 400);

  reply = bursar_test_call (f->env, path, BURSAR_TEST_ACCOUNT_IFACE, "CompleteAuthorization",
                            g_variant_new ("(s)", forged), NULL, &error);
  g_assert_nonnull (error);
  g_assert_cmpstr (g_dbus_error_get_remote_error (error), ==,
                   "org.bursar.Bursar1.Error.InvalidArgument");
  g_assert_null (strstr (error->message, "forged-code"));
  g_clear_error (&error);

  state = bursar_test_get_string_property (f->env, path, "State");
  g_assert_cmpstr (state, ==, "authorizing");
  g_assert_cmpint (bursar_test_mock_stat (f->env, "token_requests"), ==, 0);
}

static void
test_complete_by_hand (Fixture       *f,
                       gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *url = NULL;
  g_autofree char *state = NULL;
  g_autofree char *token = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(SoupSession) session = soup_session_new_with_options ("timeout", 10, NULL);
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) body = NULL;
  const char *location;

  path = bursar_test_add_account (f->env, "oidc", work_options (f, "public-client", NULL), &error);
  g_assert_no_error (error);
  url = bursar_test_authorize (f->env, path, bursar_test_authorize_options (FALSE), &error);
  g_assert_no_error (error);

  /* The user logs in on another machine; the browser ends on a redirect
   * that does not load there, and the user pastes its address. */
  msg = soup_message_new ("GET", url);
  soup_message_add_flags (msg, SOUP_MESSAGE_NO_REDIRECT);
  body = soup_session_send_and_read (session, msg, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (soup_message_get_status (msg), ==, 302);
  location = soup_message_headers_get_one (soup_message_get_response_headers (msg), "Location");
  g_assert_nonnull (location);

  reply = bursar_test_call (f->env, path, BURSAR_TEST_ACCOUNT_IFACE, "CompleteAuthorization",
                            g_variant_new ("(s)", location), NULL, &error);
  g_assert_no_error (error);
  state = bursar_test_get_string_property (f->env, path, "State");
  g_assert_cmpstr (state, ==, "ready");

  token = bursar_test_get_access_token (f->env, path, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (api_status (f, token), ==, 200);
}

static void
test_invalid_grant (Fixture       *f,
                    gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *token = NULL;
  g_autofree char *state = NULL;
  g_autofree char *last_error = NULL;
  g_autoptr(GVariant) attention = NULL;
  g_autoptr(GVariant) reply = NULL;

  path = add_ready_account (f);
  bursar_test_env_mock_configure (f->env,
                                  "{\"fail_next\": [{\"status\": 400, \"content_type\": \"application/json\","
                                  " \"body\": \"{\\\"error\\\":\\\"invalid_grant\\\"}\"}]}");

  reply = bursar_test_call (f->env, path, BURSAR_TEST_ACCOUNT_IFACE, "Refresh", NULL, "(si)",
                            &error);
  g_assert_nonnull (error);
  g_assert_cmpstr (g_dbus_error_get_remote_error (error), ==,
                   "org.bursar.Bursar1.Error.NeedsAuthorization");
  g_clear_error (&error);

  state = bursar_test_get_string_property (f->env, path, "State");
  g_assert_cmpstr (state, ==, "needs-reauthorization");
  attention = bursar_test_get_property (f->env, path, "AttentionNeeded");
  g_assert_true (g_variant_get_boolean (attention));
  last_error = bursar_test_get_string_property (f->env, path, "LastError");
  g_assert_cmpstr (last_error, !=, "");

  /* And it stays so without asking the provider again. */
  token = bursar_test_get_access_token (f->env, path, NULL, &error);
  g_assert_null (token);
  g_assert_cmpstr (g_dbus_error_get_remote_error (error), ==,
                   "org.bursar.Bursar1.Error.NeedsAuthorization");
  g_assert_cmpint (bursar_test_mock_grant_count (f->env, "refresh_token"), ==, 1);
}

static void
test_transient_error_keeps_grant (Fixture       *f,
                                  gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *token = NULL;
  g_autofree char *state = NULL;
  g_autoptr(GVariant) reply = NULL;

  path = add_ready_account (f);
  /* More failures than the retry budget allows. */
  bursar_test_env_mock_configure (f->env,
                                  "{\"fail_next\": [{\"status\": 503}, {\"status\": 503}, {\"status\": 503},"
                                  " {\"status\": 503}, {\"status\": 503}]}");
  reply = bursar_test_call (f->env, path, BURSAR_TEST_ACCOUNT_IFACE, "Refresh", NULL, "(si)",
                            &error);
  g_assert_nonnull (error);
  g_assert_cmpstr (g_dbus_error_get_remote_error (error), ==, "org.bursar.Bursar1.Error.Network");
  g_clear_error (&error);

  state = bursar_test_get_string_property (f->env, path, "State");
  g_assert_cmpstr (state, ==, "ready");

  /* Once the server is back, the same grant works. */
  bursar_test_env_mock_configure (f->env, "{\"fail_next\": []}");
  token = bursar_test_get_token_min_valid (f->env, path, 7200, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (api_status (f, token), ==, 200);
}

static void
test_client_credentials (Fixture       *f,
                         gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_auto(GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  g_autofree char *path = NULL;
  g_autofree char *state = NULL;
  g_autofree char *token = NULL;

  g_variant_builder_add (&builder, "{sv}", "issuer",
                         g_variant_new_string (bursar_test_env_get_mock_url (f->env)));
  g_variant_builder_add (&builder, "{sv}", "flow", g_variant_new_string ("client_credentials"));
  g_variant_builder_add (&builder, "{sv}", "client_id", g_variant_new_string ("test-client"));
  g_variant_builder_add (&builder, "{sv}", "client_secret", g_variant_new_string ("test-secret-CANARY"));
  path = bursar_test_add_account (f->env, "oidc", g_variant_builder_end (&builder), &error);
  g_assert_no_error (error);

  state = bursar_test_get_string_property (f->env, path, "State");
  g_assert_cmpstr (state, ==, "ready");
  g_assert_cmpint (bursar_test_mock_grant_count (f->env, "client_credentials"), ==, 1);

  token = bursar_test_get_access_token (f->env, path, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (api_status (f, token), ==, 200);
  g_assert_cmpint (bursar_test_mock_grant_count (f->env, "client_credentials"), ==, 1);
}

static void
test_client_credentials_bad_secret (Fixture       *f,
                                    gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_auto(GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  g_autofree char *path = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) accounts = NULL;

  g_variant_builder_add (&builder, "{sv}", "issuer",
                         g_variant_new_string (bursar_test_env_get_mock_url (f->env)));
  g_variant_builder_add (&builder, "{sv}", "flow", g_variant_new_string ("client_credentials"));
  g_variant_builder_add (&builder, "{sv}", "client_id", g_variant_new_string ("test-client"));
  g_variant_builder_add (&builder, "{sv}", "client_secret", g_variant_new_string ("wrong-secret-CANARY"));
  path = bursar_test_add_account (f->env, "oidc", g_variant_builder_end (&builder), &error);
  g_assert_null (path);
  g_assert_cmpstr (g_dbus_error_get_remote_error (error), ==, "org.bursar.Bursar1.Error.Provider");
  g_assert_null (strstr (error->message, "wrong-secret-CANARY"));

  /* Nothing of the failed account is left. */
  g_clear_error (&error);
  reply = bursar_test_call (f->env, BURSAR_TEST_MANAGER_PATH, "org.freedesktop.DBus.ObjectManager",
                            "GetManagedObjects", NULL, "(a{oa{sa{sv}}})", &error);
  g_assert_no_error (error);
  accounts = g_variant_get_child_value (reply, 0);
  g_assert_cmpuint (g_variant_n_children (accounts), ==, 0);
}

static void
test_personal_access_token (Fixture       *f,
                            gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_auto(GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  g_auto(GVariantBuilder) bad = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  g_autofree char *path = NULL;
  g_autofree char *bad_path = NULL;
  g_autofree char *token = NULL;
  gint32 expires_in = -1;

  bursar_test_env_mock_configure (f->env, "{\"pats\": [\"pat-CANARY-1234\"]}");
  g_variant_builder_add (&builder, "{sv}", "issuer",
                         g_variant_new_string (bursar_test_env_get_mock_url (f->env)));
  g_variant_builder_add (&builder, "{sv}", "flow", g_variant_new_string ("personal_access_token"));
  g_variant_builder_add (&builder, "{sv}", "token", g_variant_new_string ("pat-CANARY-1234"));
  path = bursar_test_add_account (f->env, "oidc", g_variant_builder_end (&builder), &error);
  g_assert_no_error (error);

  token = bursar_test_get_access_token (f->env, path, &expires_in, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (token, ==, "pat-CANARY-1234");
  g_assert_cmpint (expires_in, ==, 0);

  g_variant_builder_add (&bad, "{sv}", "issuer",
                         g_variant_new_string (bursar_test_env_get_mock_url (f->env)));
  g_variant_builder_add (&bad, "{sv}", "flow", g_variant_new_string ("personal_access_token"));
  g_variant_builder_add (&bad, "{sv}", "token", g_variant_new_string ("pat-CANARY-wrong"));
  bad_path = bursar_test_add_account (f->env, "oidc", g_variant_builder_end (&bad), &error);
  g_assert_null (bad_path);
  g_assert_nonnull (error);
  g_assert_null (strstr (error->message, "pat-CANARY"));
}

static void
test_remove_revokes (Fixture       *f,
                     gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(SecretValue) before = NULL;
  g_autoptr(SecretValue) after = NULL;
  g_autoptr(JsonObject) stats = NULL;
  JsonArray *revocations;

  path = add_ready_account (f);
  before = bursar_test_keyring_item (path);
  g_assert_nonnull (before);

  reply = bursar_test_call (f->env, path, BURSAR_TEST_ACCOUNT_IFACE, "Remove", NULL, NULL, &error);
  g_assert_no_error (error);

  stats = bursar_test_env_mock_stats (f->env);
  revocations = json_object_get_array_member (stats, "revocations");
  g_assert_cmpuint (json_array_get_length (revocations), ==, 1);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (revocations, 0),
                                                  "token_kind"), ==, "refresh");

  after = bursar_test_keyring_item (path);
  g_assert_null (after);

  g_clear_pointer (&reply, g_variant_unref);
  reply = bursar_test_call (f->env, path, BURSAR_TEST_ACCOUNT_IFACE, "GetAccessToken", NULL, "(si)",
                            &error);
  g_assert_nonnull (error);
}

static void
test_bad_input (Fixture       *f,
                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_auto(GVariantBuilder) unknown = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  g_auto(GVariantBuilder) wrong_type = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  g_auto(GVariantBuilder) http = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  g_autofree char *path = NULL;
  g_autofree char *long_value = g_strnfill (100000, 'a');

  g_variant_builder_add (&unknown, "{sv}", "client_id", g_variant_new_string ("x"));
  g_variant_builder_add (&unknown, "{sv}", "colour", g_variant_new_string ("blue"));
  path = bursar_test_add_account (f->env, "oidc", g_variant_builder_end (&unknown), &error);
  g_assert_null (path);
  g_assert_cmpstr (g_dbus_error_get_remote_error (error), ==, "org.bursar.Bursar1.Error.InvalidArgument");
  g_assert_nonnull (strstr (error->message, "colour"));
  g_clear_error (&error);

  g_variant_builder_add (&wrong_type, "{sv}", "scopes", g_variant_new_string ("openid"));
  path = bursar_test_add_account (f->env, "oidc", g_variant_builder_end (&wrong_type), &error);
  g_assert_cmpstr (g_dbus_error_get_remote_error (error), ==, "org.bursar.Bursar1.Error.InvalidArgument");
  g_clear_error (&error);

  g_variant_builder_add (&http, "{sv}", "issuer", g_variant_new_string ("http://id.example.com"));
  g_variant_builder_add (&http, "{sv}", "client_id", g_variant_new_string ("x"));
  path = bursar_test_add_account (f->env, "oidc", g_variant_builder_end (&http), &error);
  g_assert_cmpstr (g_dbus_error_get_remote_error (error), ==, "org.bursar.Bursar1.Error.InvalidArgument");
  g_clear_error (&error);

  path = bursar_test_add_account (f->env, "no-such-provider", g_variant_new ("a{sv}", NULL),
                                  &error);
  g_assert_cmpstr (g_dbus_error_get_remote_error (error), ==, "org.bursar.Bursar1.Error.UnknownProvider");
  g_clear_error (&error);

  {
    g_auto(GVariantBuilder) big = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);

    g_variant_builder_add (&big, "{sv}", "label", g_variant_new_string (long_value));
    path = bursar_test_add_account (f->env, "oidc", g_variant_builder_end (&big), &error);
    g_assert_cmpstr (g_dbus_error_get_remote_error (error), ==, "org.bursar.Bursar1.Error.InvalidArgument");
    g_clear_error (&error);
  }

  /* An unknown account path does not exist on the bus. */
  {
    g_autoptr(GVariant) reply = bursar_test_call (f->env, "/org/bursar/Bursar1/accounts/nope_1",
                                                  BURSAR_TEST_ACCOUNT_IFACE, "GetAccessToken", NULL,
                                                  "(si)", &error);
    g_assert_null (reply);
    g_assert_nonnull (error);
    g_clear_error (&error);
  }

  /* The daemon is still there and answers. */
  {
    g_autoptr(GVariant) reply = bursar_test_call (f->env, BURSAR_TEST_MANAGER_PATH,
                                                  BURSAR_TEST_MANAGER_IFACE, "ListProviders", NULL,
                                                  "(aa{sv})", &error);
    g_assert_no_error (error);
    g_assert_cmpuint (g_variant_n_children (g_variant_get_child_value (reply, 0)), >=, 2);
  }
}

static void
test_discovery_issuer_mismatch (Fixture       *f,
                                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;

  bursar_test_env_mock_configure (f->env, "{\"advertised_issuer\": \"https://evil.example\"}");
  path = bursar_test_add_account (f->env, "oidc", work_options (f, "test-client", "test-secret-CANARY"),
                                  &error);
  g_assert_null (path);
  g_assert_cmpstr (g_dbus_error_get_remote_error (error), ==, "org.bursar.Bursar1.Error.Provider");
  g_assert_cmpint (bursar_test_mock_stat (f->env, "authorize_requests"), ==, 0);
}

static void
test_second_instance (Fixture       *f,
                      gconstpointer  data)
{
  g_autoptr(GSubprocess) second = NULL;
  g_autoptr(GError) error = NULL;

  /* The running daemon keeps the name: a second one exits with an error. */
  second = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE,
                             &error, g_getenv ("BURSARD"), NULL);
  g_assert_no_error (error);
  g_subprocess_wait_check (second, NULL, &error);
  g_assert_nonnull (error);
}

static char *
run_bursarctl (const char * const *args,
               const char         *stdin_text,
               int                *out_status)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autofree char *ctl = g_build_filename (g_getenv ("BURSAR_BUILDDIR"), "cli", "bursarctl", NULL);
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GError) error = NULL;
  char *out = NULL;

  g_ptr_array_add (argv, ctl);
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);

  proc = g_subprocess_newv ((const char * const *) argv->pdata,
                            G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE,
                            &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (proc, stdin_text, NULL, &out, NULL, &error);
  g_assert_no_error (error);
  *out_status = g_subprocess_get_if_exited (proc) ? g_subprocess_get_exit_status (proc) : -1;
  return out;
}

static void
test_bursarctl (Fixture       *f,
                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *token = NULL;
  g_autofree char *out = NULL;
  g_autofree char *expected = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  int status = -1;

  path = add_ready_account (f);
  token = bursar_test_get_access_token (f->env, path, NULL, &error);
  g_assert_no_error (error);

  /* The token alone on stdout, for $(bursarctl token …). */
  out = run_bursarctl ((const char *[]) { "token", "oidc_1", NULL }, NULL, &status);
  g_assert_cmpint (status, ==, 0);
  expected = g_strconcat (token, "\n", NULL);
  g_assert_cmpstr (out, ==, expected);
  g_clear_pointer (&out, g_free);

  /* By label too. */
  out = run_bursarctl ((const char *[]) { "token", "Work", NULL }, NULL, &status);
  g_assert_cmpint (status, ==, 0);
  g_assert_cmpstr (out, ==, expected);
  g_clear_pointer (&out, g_free);

  out = run_bursarctl ((const char *[]) { "token", "nope", NULL }, NULL, &status);
  g_assert_cmpint (status, ==, 3);
  g_assert_cmpstr (out, ==, "");
  g_clear_pointer (&out, g_free);

  out = run_bursarctl ((const char *[]) { "list", "--json", NULL }, NULL, &status);
  g_assert_cmpint (status, ==, 0);
  g_assert_true (json_parser_load_from_data (parser, out, -1, &error));
  g_assert_no_error (error);
  g_assert_null (strstr (out, token));
  g_clear_pointer (&out, g_free);

  out = run_bursarctl ((const char *[]) { "show", "oidc_1", NULL }, NULL, &status);
  g_assert_cmpint (status, ==, 0);
  g_assert_nonnull (strstr (out, "alice@example.test"));
  g_assert_null (strstr (out, token));
  g_clear_pointer (&out, g_free);

  out = run_bursarctl ((const char *[]) { "frobnicate", NULL }, NULL, &status);
  g_assert_cmpint (status, ==, 2);
  g_clear_pointer (&out, g_free);

  /* A client credentials account added from the command line, the secret
   * on stdin. */
  out = run_bursarctl ((const char *[]) { "add", "oidc", "--flow", "client_credentials",
                                          "--issuer", bursar_test_env_get_mock_url (f->env),
                                          "--client-id", "test-client",
                                          "--client-secret-file", "-", NULL },
                       "test-secret-CANARY\n", &status);
  g_assert_cmpint (status, ==, 0);
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (bursar_test_mock_grant_count (f->env, "client_credentials"), ==, 1);

  out = run_bursarctl ((const char *[]) { "remove", "oidc_2", NULL }, NULL, &status);
  g_assert_cmpint (status, ==, 0);
}

static void
test_german (Fixture       *f,
             gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;

  /* Restart the daemon in German. */
  bursar_test_env_stop_daemon (f->env, SIGTERM);
  g_setenv ("LANGUAGE", "de", TRUE);
  g_setenv ("LANG", "de_DE.UTF-8", TRUE);
  g_setenv ("LC_ALL", "C.UTF-8", TRUE);
  bursar_test_env_start_daemon (f->env, NULL);
  g_unsetenv ("LANGUAGE");
  g_unsetenv ("LANG");

  path = bursar_test_add_account (f->env, "no-such-provider", g_variant_new ("a{sv}", NULL),
                                  &error);
  g_assert_null (path);
  g_assert_cmpstr (g_dbus_error_get_remote_error (error), ==, "org.bursar.Bursar1.Error.UnknownProvider");
  g_dbus_error_strip_remote_error (error);
  g_assert_cmpstr (error->message, ==, "Es gibt keinen Anbieter „no-such-provider“.");
}

/* --- the account objects as a client sees them ------------------------- */

typedef struct
{
  GPtrArray *signals;  /* (element-type utf8) "Member path (args)" */
} SignalLog;

static void
signal_log_cb (GDBusConnection *connection,
               const char      *sender,
               const char      *object_path,
               const char      *interface_name,
               const char      *signal_name,
               GVariant        *parameters,
               gpointer         user_data)
{
  SignalLog *log = user_data;
  g_autofree char *args = g_variant_print (parameters, FALSE);

  g_ptr_array_add (log->signals, g_strdup_printf ("%s %s %s", signal_name, object_path, args));
}

/* Waits (bounded) for a signal whose text has @prefix and every string of
 * @fragments; returns it. */
static const char *
wait_signal (SignalLog          *log,
             const char         *prefix,
             const char * const *fragments)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add_seconds (BURSAR_TEST_WAIT_SECONDS, bursar_test_timeout_cb, &timed_out);

  while (!timed_out)
    {
      for (guint i = 0; i < log->signals->len; i++)
        {
          const char *text = log->signals->pdata[i];
          gboolean all = g_str_has_prefix (text, prefix);

          for (guint j = 0; all && fragments != NULL && fragments[j] != NULL; j++)
            all = strstr (text, fragments[j]) != NULL;
          if (all)
            {
              g_source_remove (id);
              return text;
            }
        }
      g_main_context_iteration (NULL, TRUE);
    }
  for (guint i = 0; i < log->signals->len; i++)
    g_test_message ("signal seen: %s", (const char *) log->signals->pdata[i]);
  g_assert_not_reached ();
}

static GVariant *
get_all (Fixture    *f,
         const char *path)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = bursar_test_call (f->env, path, "org.freedesktop.DBus.Properties",
                                                "GetAll",
                                                g_variant_new ("(s)", BURSAR_TEST_ACCOUNT_IFACE),
                                                "(a{sv})", &error);

  g_assert_no_error (error);
  return g_variant_get_child_value (reply, 0);
}

static GVariant *
managed_objects (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = bursar_test_call (f->env, BURSAR_TEST_MANAGER_PATH,
                                                "org.freedesktop.DBus.ObjectManager",
                                                "GetManagedObjects", NULL, "(a{oa{sa{sv}}})",
                                                &error);

  g_assert_no_error (error);
  return g_variant_get_child_value (reply, 0);
}

static char *
introspect (Fixture    *f,
            const char *path)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = bursar_test_call (f->env, path, "org.freedesktop.DBus.Introspectable",
                                                "Introspect", NULL, "(s)", &error);
  char *xml = NULL;

  g_assert_no_error (error);
  g_variant_get (reply, "(s)", &xml);
  return xml;
}

/* A call that must fail as a call to an object that is not there. */
static void
assert_no_object (Fixture    *f,
                  const char *path)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = bursar_test_call (f->env, path, BURSAR_TEST_ACCOUNT_IFACE,
                                                "GetAccessToken", NULL, "(si)", &error);

  g_assert_null (reply);
  g_assert_true (g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD) ||
                 g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_OBJECT));
  g_clear_error (&error);
  reply = bursar_test_call (f->env, path, "org.freedesktop.DBus.Properties", "Get",
                            g_variant_new ("(ss)", BURSAR_TEST_ACCOUNT_IFACE, "State"), "(v)",
                            &error);
  g_assert_null (reply);
  g_assert_nonnull (error);
}

static void
test_bus_objects (Fixture       *f,
                  gconstpointer  data)
{
  SignalLog log = { g_ptr_array_new_with_free_func (g_free) };
  guint manager_id, properties_id;
  g_autofree char *path = NULL;
  g_autofree char *id = NULL;
  g_autofree char *added_prefix = NULL;
  g_autofree char *changed_prefix = NULL;
  g_autofree char *node = NULL;
  g_autofree char *xml = NULL;
  g_autofree char *url = NULL;
  g_autofree char *state = NULL;
  g_autoptr(GVariant) all = NULL;
  g_autoptr(GVariant) objects = NULL;
  g_autoptr(GVariant) listed = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GError) error = NULL;
  const char *added;

  manager_id = g_dbus_connection_signal_subscribe (f->bus, NULL, "org.freedesktop.DBus.ObjectManager",
                                                   NULL, BURSAR_TEST_MANAGER_PATH, NULL,
                                                   G_DBUS_SIGNAL_FLAGS_NONE, signal_log_cb, &log, NULL);
  properties_id = g_dbus_connection_signal_subscribe (f->bus, NULL, "org.freedesktop.DBus.Properties",
                                                      "PropertiesChanged", NULL,
                                                      BURSAR_TEST_ACCOUNT_IFACE,
                                                      G_DBUS_SIGNAL_FLAGS_NONE, signal_log_cb,
                                                      &log, NULL);
  /* The subscriptions are in place once the bus has seen them: a call
   * after them is answered after the bus has taken them. */
  objects = managed_objects (f);
  g_assert_cmpuint (g_variant_n_children (objects), ==, 0);

  /* A new account is announced with every property. */
  path = bursar_test_add_oidc_account (f->env, NULL);
  id = g_path_get_basename (path);
  added_prefix = g_strdup_printf ("InterfacesAdded %s ('%s', {'%s': {",
                                  BURSAR_TEST_MANAGER_PATH, path, BURSAR_TEST_ACCOUNT_IFACE);
  added = wait_signal (&log, added_prefix, (const char * const[]) {
                         "'State': <'needs-authorization'>", "'Provider': <'oidc'>",
                         "'Id': <'", "'AttentionNeeded': <", "'Details': <", NULL });
  all = get_all (f, path);
  g_assert_cmpuint (g_variant_n_children (all), ==, 15);
  for (gsize i = 0; i < g_variant_n_children (all); i++)
    {
      const char *name = NULL;
      g_autoptr(GVariant) child = g_variant_get_child_value (all, i);
      g_autofree char *needle = NULL;

      g_variant_get_child (child, 0, "&s", &name);
      needle = g_strdup_printf ("'%s': <", name);
      g_assert_nonnull (strstr (added, needle));
    }

  /* GetManagedObjects lists it with the same properties. */
  g_clear_pointer (&objects, g_variant_unref);
  objects = managed_objects (f);
  g_assert_cmpuint (g_variant_n_children (objects), ==, 1);
  g_assert_true (g_variant_lookup (objects, path, "@a{sa{sv}}", &listed));
  g_clear_pointer (&value, g_variant_unref);
  value = g_variant_lookup_value (listed, BURSAR_TEST_ACCOUNT_IFACE, NULL);
  g_assert_true (g_variant_equal (value, all));

  /* Properties: Get, and neither Set nor an unknown name. */
  state = bursar_test_get_string_property (f->env, path, "State");
  g_assert_cmpstr (state, ==, "needs-authorization");
  reply = bursar_test_call (f->env, path, "org.freedesktop.DBus.Properties", "Set",
                            g_variant_new ("(ssv)", BURSAR_TEST_ACCOUNT_IFACE, "Label",
                                           g_variant_new_string ("changed")), NULL, &error);
  g_assert_null (reply);
  g_assert_nonnull (error);
  g_clear_error (&error);
  reply = bursar_test_call (f->env, path, "org.freedesktop.DBus.Properties", "Get",
                            g_variant_new ("(ss)", BURSAR_TEST_ACCOUNT_IFACE, "NoSuchProperty"),
                            "(v)", &error);
  g_assert_null (reply);
  g_assert_nonnull (error);
  g_clear_error (&error);
  g_clear_pointer (&value, g_variant_unref);
  value = bursar_test_get_property (f->env, path, "Label");
  g_assert_cmpstr (g_variant_get_string (value, NULL), ==, "");

  /* A change of state is announced, without being asked for. */
  url = bursar_test_authorize (f->env, path, bursar_test_authorize_options (FALSE), &error);
  g_assert_no_error (error);
  changed_prefix = g_strdup_printf ("PropertiesChanged %s ('%s', {", path, BURSAR_TEST_ACCOUNT_IFACE);
  wait_signal (&log, changed_prefix, (const char * const[]) { "'State': <'authorizing'>", NULL });

  /* Introspection: the manager, the accounts node, the account. */
  xml = introspect (f, BURSAR_TEST_MANAGER_PATH);
  g_assert_nonnull (strstr (xml, "<interface name=\"org.freedesktop.DBus.ObjectManager\">"));
  g_assert_nonnull (strstr (xml, "<interface name=\"" BURSAR_TEST_MANAGER_IFACE "\">"));
  g_assert_nonnull (strstr (xml, "<node name=\"accounts\"/>"));
  g_free (xml);
  xml = introspect (f, BURSAR_TEST_MANAGER_PATH "/accounts");
  node = g_strdup_printf ("<node name=\"%s\"/>", id);
  g_assert_nonnull (strstr (xml, node));
  g_free (xml);
  xml = introspect (f, path);
  g_assert_nonnull (strstr (xml, "<interface name=\"" BURSAR_TEST_ACCOUNT_IFACE "\">"));
  g_assert_nonnull (strstr (xml, "<method name=\"GetAccessToken\">"));
  g_assert_nonnull (strstr (xml, "<property type=\"s\" name=\"State\" access=\"read\"/>"));

  /* No object where there is no account. */
  assert_no_object (f, BURSAR_TEST_MANAGER_PATH "/accounts/no_such_account");
  assert_no_object (f, BURSAR_TEST_MANAGER_PATH "/accounts");

  /* Removal is announced, and the object is gone. */
  g_clear_pointer (&reply, g_variant_unref);
  reply = bursar_test_call (f->env, path, BURSAR_TEST_ACCOUNT_IFACE, "Remove", NULL, "()", &error);
  g_assert_no_error (error);
  g_clear_pointer (&added_prefix, g_free);
  added_prefix = g_strdup_printf ("InterfacesRemoved %s ('%s', ['%s'])",
                                  BURSAR_TEST_MANAGER_PATH, path, BURSAR_TEST_ACCOUNT_IFACE);
  wait_signal (&log, added_prefix, NULL);
  g_clear_pointer (&objects, g_variant_unref);
  objects = managed_objects (f);
  g_assert_cmpuint (g_variant_n_children (objects), ==, 0);
  assert_no_object (f, path);
  g_free (xml);
  xml = introspect (f, BURSAR_TEST_MANAGER_PATH "/accounts");
  g_assert_null (strstr (xml, node));

  g_dbus_connection_signal_unsubscribe (f->bus, manager_id);
  g_dbus_connection_signal_unsubscribe (f->bus, properties_id);
  g_ptr_array_unref (log.signals);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(name, func) \
  g_test_add ("/daemon/" name, Fixture, NULL, bursar_test_fixture_setup, func, \
              bursar_test_fixture_teardown)

  ADD ("authorize-and-token", test_authorize_and_token);
  ADD ("refresh-rotation-restart", test_refresh_rotation_restart);
  ADD ("concurrent-single-flight", test_concurrent_single_flight);
  ADD ("user-denies", test_user_denies);
  ADD ("wrong-state", test_wrong_state);
  ADD ("complete-by-hand", test_complete_by_hand);
  ADD ("invalid-grant", test_invalid_grant);
  ADD ("transient-error-keeps-grant", test_transient_error_keeps_grant);
  ADD ("client-credentials", test_client_credentials);
  ADD ("client-credentials-bad-secret", test_client_credentials_bad_secret);
  ADD ("personal-access-token", test_personal_access_token);
  ADD ("remove-revokes", test_remove_revokes);
  ADD ("bad-input", test_bad_input);
  ADD ("discovery-issuer-mismatch", test_discovery_issuer_mismatch);
  ADD ("second-instance", test_second_instance);
  ADD ("bursarctl", test_bursarctl);
  ADD ("german", test_german);
  ADD ("bus-objects", test_bus_objects);

  return g_test_run ();
}
