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

#include "bursar-test-env.h"

#define CALL_TIMEOUT_MS 60000
#define WAIT_SECONDS 30

typedef struct
{
  BursarTestEnv *env;
  GDBusConnection *bus;
} Fixture;

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  f->env = bursar_test_env_new ();
  bursar_test_env_start_daemon (f->env, NULL);
  f->bus = bursar_test_env_get_bus (f->env);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  /* Every test ends with the leak scan: no secret the mock server issued
   * or received may be in the daemon's log or any file of the test home
   * outside the keyring. */
  bursar_test_env_assert_no_secrets (f->env);
  g_clear_pointer (&f->env, bursar_test_env_free);
}

/* --- helpers ---------------------------------------------------------- */

static GVariant *
call (Fixture     *f,
      const char  *path,
      const char  *iface,
      const char  *method,
      GVariant    *params,
      const char  *reply_type,
      GError     **error)
{
  return g_dbus_connection_call_sync (f->bus, "org.bursar.Bursar1", path,
                                      iface, method, params,
                                      reply_type != NULL ? G_VARIANT_TYPE (reply_type) : NULL,
                                      G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL, error);
}

static char *
add_account (Fixture    *f,
             const char *provider,
             GVariant   *options,
             GError    **error)
{
  g_autoptr(GVariant) reply = call (f, "/org/bursar/Bursar1", "org.bursar.Bursar1.Manager",
                                    "AddAccount", g_variant_new ("(s@a{sv})", provider, options),
                                    "(o)", error);
  char *path = NULL;

  if (reply != NULL)
    g_variant_get (reply, "(o)", &path);
  return path;
}

static GVariant *
oidc_options (Fixture    *f,
              const char *client_id,
              const char *client_secret)
{
  g_auto(GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);

  g_variant_builder_add (&builder, "{sv}", "issuer",
                         g_variant_new_string (bursar_test_env_get_mock_url (f->env)));
  g_variant_builder_add (&builder, "{sv}", "client_id", g_variant_new_string (client_id));
  if (client_secret != NULL)
    g_variant_builder_add (&builder, "{sv}", "client_secret", g_variant_new_string (client_secret));
  g_variant_builder_add (&builder, "{sv}", "label", g_variant_new_string ("Work"));
  return g_variant_builder_end (&builder);
}

static GVariant *
get_property (Fixture    *f,
              const char *path,
              const char *name)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = call (f, path, "org.freedesktop.DBus.Properties", "Get",
                                    g_variant_new ("(ss)", "org.bursar.Bursar1.Account", name),
                                    "(v)", &error);
  GVariant *value = NULL;

  g_assert_no_error (error);
  g_variant_get (reply, "(v)", &value);
  return value;
}

static char *
get_string_property (Fixture    *f,
                     const char *path,
                     const char *name)
{
  g_autoptr(GVariant) value = get_property (f, path, name);

  return g_variant_dup_string (value, NULL);
}

static gboolean
timeout_cb (gpointer data)
{
  gboolean *timed_out = data;

  *timed_out = TRUE;
  return G_SOURCE_REMOVE;
}

/* Waits (bounded) until the account's State leaves @from. */
static char *
wait_state_leaves (Fixture    *f,
                   const char *path,
                   const char *from)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add_seconds (WAIT_SECONDS, timeout_cb, &timed_out);
  char *state = NULL;

  while (!timed_out)
    {
      g_free (state);
      state = get_string_property (f, path, "State");
      if (g_strcmp0 (state, from) != 0)
        break;
      g_usleep (20 * 1000);
      g_main_context_iteration (NULL, FALSE);
    }
  if (!timed_out)
    g_source_remove (id);
  g_assert_false (timed_out);
  return state;
}

static char *
authorize (Fixture    *f,
           const char *path,
           gboolean    open_browser,
           GError    **error)
{
  g_auto(GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  g_autoptr(GVariant) reply = NULL;
  char *url = NULL;

  g_variant_builder_add (&builder, "{sv}", "open_browser", g_variant_new_boolean (open_browser));
  reply = call (f, path, "org.bursar.Bursar1.Account", "Authorize",
                g_variant_new ("(a{sv})", &builder), "(s)", error);
  if (reply != NULL)
    g_variant_get (reply, "(s)", &url);
  return url;
}

static char *
get_access_token (Fixture    *f,
                  const char *path,
                  gint32     *out_expires_in,
                  GError    **error)
{
  g_autoptr(GVariant) reply = call (f, path, "org.bursar.Bursar1.Account", "GetAccessToken",
                                    NULL, "(si)", error);
  char *token = NULL;
  gint32 expires = 0;

  if (reply == NULL)
    return NULL;
  g_variant_get (reply, "(si)", &token, &expires);
  if (out_expires_in != NULL)
    *out_expires_in = expires;
  return token;
}

static char *
get_token_min_valid (Fixture    *f,
                     const char *path,
                     guint32     min_valid,
                     GVariant  **out_info,
                     GError    **error)
{
  g_auto(GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  g_autoptr(GVariant) reply = NULL;
  char *token = NULL;
  GVariant *info = NULL;

  g_variant_builder_add (&builder, "{sv}", "min_valid", g_variant_new_uint32 (min_valid));
  reply = call (f, path, "org.bursar.Bursar1.Account", "GetToken",
                g_variant_new ("(a{sv})", &builder), "(sa{sv})", error);
  if (reply == NULL)
    return NULL;
  g_variant_get (reply, "(s@a{sv})", &token, &info);
  if (out_info != NULL)
    *out_info = info;
  else
    g_variant_unref (info);
  return token;
}

static gint64
mock_stat (Fixture    *f,
           const char *member)
{
  g_autoptr(JsonObject) stats = bursar_test_env_mock_stats (f->env);

  return json_object_get_int_member (stats, member);
}

static gint64
mock_grant_count (Fixture    *f,
                  const char *grant)
{
  g_autoptr(JsonObject) stats = bursar_test_env_mock_stats (f->env);
  JsonObject *by_grant = json_object_get_object_member (stats, "token_requests_by_grant");

  if (by_grant == NULL || !json_object_has_member (by_grant, grant))
    return 0;
  return json_object_get_int_member (by_grant, grant);
}

/* The resource server of the mock: does it take this token? */
static guint
api_status (Fixture    *f,
            const char *token)
{
  g_autoptr(SoupSession) session = soup_session_new_with_options ("timeout", 10, NULL);
  g_autofree char *url = g_strconcat (bursar_test_env_get_mock_url (f->env), "/api/whoami", NULL);
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", url);
  g_autofree char *auth = g_strconcat ("Bearer ", token, NULL);
  g_autoptr(GBytes) body = NULL;

  soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", auth);
  body = soup_session_send_and_read (session, msg, NULL, NULL);
  return soup_message_get_status (msg);
}

/* Adds an oidc account and authorizes it through the default browser. */
static char *
add_ready_account (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *url = NULL;
  g_autofree char *state = NULL;
  char *path;

  path = add_account (f, "oidc", oidc_options (f, "test-client", "test-secret-CANARY"), &error);
  g_assert_no_error (error);
  g_assert_nonnull (path);

  url = authorize (f, path, TRUE, &error);
  g_assert_no_error (error);
  state = wait_state_leaves (f, path, "authorizing");
  g_assert_cmpstr (state, ==, "ready");
  return path;
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

  path = add_account (f, "oidc", oidc_options (f, "test-client", "test-secret-CANARY"), &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (path, "/org/bursar/Bursar1/accounts/oidc_"));

  state = get_string_property (f, path, "State");
  g_assert_cmpstr (state, ==, "needs-authorization");

  url = authorize (f, path, TRUE, &error);
  g_assert_no_error (error);
  authorize_prefix = g_strconcat (bursar_test_env_get_mock_url (f->env), "/authorize?", NULL);
  g_assert_true (g_str_has_prefix (url, authorize_prefix));
  g_assert_nonnull (strstr (url, "code_challenge_method=S256"));
  g_assert_nonnull (strstr (url, "redirect_uri=http%3A%2F%2F127.0.0.1%3A"));

  g_clear_pointer (&state, g_free);
  state = wait_state_leaves (f, path, "authorizing");
  g_assert_cmpstr (state, ==, "ready");

  /* The desktop's default browser was opened exactly once, with that URL. */
  urls = bursar_test_env_browser_urls (f->env);
  g_assert_cmpuint (g_strv_length (urls), ==, 1);
  g_assert_cmpstr (urls[0], ==, url);

  identity = get_string_property (f, path, "Identity");
  g_assert_cmpstr (identity, ==, "alice@example.test");
  last_error = get_string_property (f, path, "LastError");
  g_assert_cmpstr (last_error, ==, "");

  token = get_access_token (f, path, &expires_in, &error);
  g_assert_no_error (error);
  g_assert_cmpint (expires_in, >, 3000);
  g_assert_cmpint (expires_in, <=, 3600);
  g_assert_cmpuint (api_status (f, token), ==, 200);

  /* A second call is served from the cache. */
  {
    g_autofree char *again = get_access_token (f, path, NULL, &error);

    g_assert_no_error (error);
    g_assert_cmpstr (again, ==, token);
    g_assert_cmpint (mock_grant_count (f, "refresh_token"), ==, 0);
    g_assert_cmpint (mock_grant_count (f, "authorization_code"), ==, 1);
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

  first = get_access_token (f, path, NULL, &error);
  g_assert_no_error (error);

  /* Asking for more validity than the token has makes it refresh. */
  second = get_token_min_valid (f, path, 3600, &info, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (second, !=, first);
  g_assert_cmpint (mock_grant_count (f, "refresh_token"), ==, 1);
  g_assert_true (g_variant_lookup (info, "expires_at", "x", &expires_at));
  g_assert_cmpint (expires_at, >, g_get_real_time () / G_USEC_PER_SEC + 500);
  g_assert_cmpuint (api_status (f, second), ==, 200);

  /* Killed without warning: the rotated refresh token must already be in
   * the keyring, since the old one is dead at the strict server. */
  bursar_test_env_stop_daemon (f->env, SIGKILL);
  bursar_test_env_start_daemon (f->env, NULL);

  state = get_string_property (f, path, "State");
  g_assert_cmpstr (state, ==, "ready");
  third = get_token_min_valid (f, path, 3600, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (third, !=, second);
  g_assert_cmpint (mock_grant_count (f, "refresh_token"), ==, 2);
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
  gboolean timed_out = FALSE;
  guint timeout_id;
  gint64 before;

  /* Tokens that live 30 s are always under the 60 s margin, so every
   * GetAccessToken needs a refresh; the slow server keeps it in flight
   * while all 50 calls arrive. */
  bursar_test_env_mock_configure (f->env, "{\"token_lifetime\": 30, \"rotation\": \"strict\"}");
  path = add_ready_account (f);
  bursar_test_env_mock_configure (f->env, "{\"delay_ms\": 500}");
  before = mock_grant_count (f, "refresh_token");

  cd.tokens = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < 50; i++)
    {
      cd.pending++;
      g_dbus_connection_call (f->bus, "org.bursar.Bursar1", path, "org.bursar.Bursar1.Account",
                              "GetAccessToken", NULL, G_VARIANT_TYPE ("(si)"),
                              G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL, concurrent_cb, &cd);
    }
  timeout_id = g_timeout_add_seconds (WAIT_SECONDS, timeout_cb, &timed_out);
  while (cd.pending > 0 && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  g_assert_false (timed_out);
  g_source_remove (timeout_id);

  g_assert_cmpuint (cd.tokens->len, ==, 50);
  for (guint i = 1; i < cd.tokens->len; i++)
    g_assert_cmpstr (g_ptr_array_index (cd.tokens, i), ==, g_ptr_array_index (cd.tokens, 0));
  g_assert_cmpint (mock_grant_count (f, "refresh_token") - before, ==, 1);
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
  path = add_account (f, "oidc", oidc_options (f, "test-client", "test-secret-CANARY"), &error);
  g_assert_no_error (error);
  url = authorize (f, path, TRUE, &error);
  g_assert_no_error (error);

  state = wait_state_leaves (f, path, "authorizing");
  g_assert_cmpstr (state, ==, "needs-authorization");
  last_error = get_string_property (f, path, "LastError");
  g_assert_nonnull (strstr (last_error, "denied"));
  g_assert_cmpint (mock_stat (f, "token_requests"), ==, 0);

  token = get_access_token (f, path, NULL, &error);
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

  path = add_account (f, "oidc", oidc_options (f, "test-client", "test-secret-CANARY"), &error);
  g_assert_no_error (error);
  url = authorize (f, path, FALSE, &error);
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

  reply = call (f, path, "org.bursar.Bursar1.Account", "CompleteAuthorization",
                g_variant_new ("(s)", forged), NULL, &error);
  g_assert_nonnull (error);
  g_assert_cmpstr (g_dbus_error_get_remote_error (error), ==,
                   "org.bursar.Bursar1.Error.InvalidArgument");
  g_assert_null (strstr (error->message, "forged-code"));
  g_clear_error (&error);

  state = get_string_property (f, path, "State");
  g_assert_cmpstr (state, ==, "authorizing");
  g_assert_cmpint (mock_stat (f, "token_requests"), ==, 0);
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

  path = add_account (f, "oidc", oidc_options (f, "public-client", NULL), &error);
  g_assert_no_error (error);
  url = authorize (f, path, FALSE, &error);
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

  reply = call (f, path, "org.bursar.Bursar1.Account", "CompleteAuthorization",
                g_variant_new ("(s)", location), NULL, &error);
  g_assert_no_error (error);
  state = get_string_property (f, path, "State");
  g_assert_cmpstr (state, ==, "ready");

  token = get_access_token (f, path, NULL, &error);
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

  reply = call (f, path, "org.bursar.Bursar1.Account", "Refresh", NULL, "(si)", &error);
  g_assert_nonnull (error);
  g_assert_cmpstr (g_dbus_error_get_remote_error (error), ==,
                   "org.bursar.Bursar1.Error.NeedsAuthorization");
  g_clear_error (&error);

  state = get_string_property (f, path, "State");
  g_assert_cmpstr (state, ==, "needs-reauthorization");
  attention = get_property (f, path, "AttentionNeeded");
  g_assert_true (g_variant_get_boolean (attention));
  last_error = get_string_property (f, path, "LastError");
  g_assert_cmpstr (last_error, !=, "");

  /* And it stays so without asking the provider again. */
  token = get_access_token (f, path, NULL, &error);
  g_assert_null (token);
  g_assert_cmpstr (g_dbus_error_get_remote_error (error), ==,
                   "org.bursar.Bursar1.Error.NeedsAuthorization");
  g_assert_cmpint (mock_grant_count (f, "refresh_token"), ==, 1);
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
  reply = call (f, path, "org.bursar.Bursar1.Account", "Refresh", NULL, "(si)", &error);
  g_assert_nonnull (error);
  g_assert_cmpstr (g_dbus_error_get_remote_error (error), ==, "org.bursar.Bursar1.Error.Network");
  g_clear_error (&error);

  state = get_string_property (f, path, "State");
  g_assert_cmpstr (state, ==, "ready");

  /* Once the server is back, the same grant works. */
  bursar_test_env_mock_configure (f->env, "{\"fail_next\": []}");
  token = get_token_min_valid (f, path, 7200, NULL, &error);
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
  path = add_account (f, "oidc", g_variant_builder_end (&builder), &error);
  g_assert_no_error (error);

  state = get_string_property (f, path, "State");
  g_assert_cmpstr (state, ==, "ready");
  g_assert_cmpint (mock_grant_count (f, "client_credentials"), ==, 1);

  token = get_access_token (f, path, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (api_status (f, token), ==, 200);
  g_assert_cmpint (mock_grant_count (f, "client_credentials"), ==, 1);
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
  path = add_account (f, "oidc", g_variant_builder_end (&builder), &error);
  g_assert_null (path);
  g_assert_cmpstr (g_dbus_error_get_remote_error (error), ==, "org.bursar.Bursar1.Error.Provider");
  g_assert_null (strstr (error->message, "wrong-secret-CANARY"));

  /* Nothing of the failed account is left. */
  g_clear_error (&error);
  reply = call (f, "/org/bursar/Bursar1", "org.freedesktop.DBus.ObjectManager",
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
  path = add_account (f, "oidc", g_variant_builder_end (&builder), &error);
  g_assert_no_error (error);

  token = get_access_token (f, path, &expires_in, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (token, ==, "pat-CANARY-1234");
  g_assert_cmpint (expires_in, ==, 0);

  g_variant_builder_add (&bad, "{sv}", "issuer",
                         g_variant_new_string (bursar_test_env_get_mock_url (f->env)));
  g_variant_builder_add (&bad, "{sv}", "flow", g_variant_new_string ("personal_access_token"));
  g_variant_builder_add (&bad, "{sv}", "token", g_variant_new_string ("pat-CANARY-wrong"));
  bad_path = add_account (f, "oidc", g_variant_builder_end (&bad), &error);
  g_assert_null (bad_path);
  g_assert_nonnull (error);
  g_assert_null (strstr (error->message, "pat-CANARY"));
}

static SecretValue *
keyring_item (const char *account_id)
{
  static const SecretSchema schema = {
    "org.bursar.Account", SECRET_SCHEMA_NONE,
    { { "account-id", SECRET_SCHEMA_ATTRIBUTE_STRING }, { NULL, 0 } },
    0, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  };
  g_autoptr(GError) error = NULL;
  SecretValue *value = secret_password_lookup_binary_sync (&schema, NULL, &error,
                                                           "account-id", account_id, NULL);

  g_assert_no_error (error);
  return value;
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
  const char *id;

  path = add_ready_account (f);
  id = strrchr (path, '/') + 1;
  before = keyring_item (id);
  g_assert_nonnull (before);

  reply = call (f, path, "org.bursar.Bursar1.Account", "Remove", NULL, NULL, &error);
  g_assert_no_error (error);

  stats = bursar_test_env_mock_stats (f->env);
  revocations = json_object_get_array_member (stats, "revocations");
  g_assert_cmpuint (json_array_get_length (revocations), ==, 1);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (revocations, 0),
                                                  "token_kind"), ==, "refresh");

  after = keyring_item (id);
  g_assert_null (after);

  g_clear_pointer (&reply, g_variant_unref);
  reply = call (f, path, "org.bursar.Bursar1.Account", "GetAccessToken", NULL, "(si)", &error);
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
  path = add_account (f, "oidc", g_variant_builder_end (&unknown), &error);
  g_assert_null (path);
  g_assert_cmpstr (g_dbus_error_get_remote_error (error), ==, "org.bursar.Bursar1.Error.InvalidArgument");
  g_assert_nonnull (strstr (error->message, "colour"));
  g_clear_error (&error);

  g_variant_builder_add (&wrong_type, "{sv}", "scopes", g_variant_new_string ("openid"));
  path = add_account (f, "oidc", g_variant_builder_end (&wrong_type), &error);
  g_assert_cmpstr (g_dbus_error_get_remote_error (error), ==, "org.bursar.Bursar1.Error.InvalidArgument");
  g_clear_error (&error);

  g_variant_builder_add (&http, "{sv}", "issuer", g_variant_new_string ("http://id.example.com"));
  g_variant_builder_add (&http, "{sv}", "client_id", g_variant_new_string ("x"));
  path = add_account (f, "oidc", g_variant_builder_end (&http), &error);
  g_assert_cmpstr (g_dbus_error_get_remote_error (error), ==, "org.bursar.Bursar1.Error.InvalidArgument");
  g_clear_error (&error);

  path = add_account (f, "no-such-provider", g_variant_new ("a{sv}", NULL), &error);
  g_assert_cmpstr (g_dbus_error_get_remote_error (error), ==, "org.bursar.Bursar1.Error.UnknownProvider");
  g_clear_error (&error);

  {
    g_auto(GVariantBuilder) big = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);

    g_variant_builder_add (&big, "{sv}", "label", g_variant_new_string (long_value));
    path = add_account (f, "oidc", g_variant_builder_end (&big), &error);
    g_assert_cmpstr (g_dbus_error_get_remote_error (error), ==, "org.bursar.Bursar1.Error.InvalidArgument");
    g_clear_error (&error);
  }

  /* An unknown account path does not exist on the bus. */
  {
    g_autoptr(GVariant) reply = call (f, "/org/bursar/Bursar1/accounts/nope_1",
                                      "org.bursar.Bursar1.Account", "GetAccessToken", NULL, "(si)", &error);
    g_assert_null (reply);
    g_assert_nonnull (error);
    g_clear_error (&error);
  }

  /* The daemon is still there and answers. */
  {
    g_autoptr(GVariant) reply = call (f, "/org/bursar/Bursar1", "org.bursar.Bursar1.Manager",
                                      "ListProviders", NULL, "(aa{sv})", &error);
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
  path = add_account (f, "oidc", oidc_options (f, "test-client", "test-secret-CANARY"), &error);
  g_assert_null (path);
  g_assert_cmpstr (g_dbus_error_get_remote_error (error), ==, "org.bursar.Bursar1.Error.Provider");
  g_assert_cmpint (mock_stat (f, "authorize_requests"), ==, 0);
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
  token = get_access_token (f, path, NULL, &error);
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
  g_assert_cmpint (mock_grant_count (f, "client_credentials"), ==, 1);

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

  path = add_account (f, "no-such-provider", g_variant_new ("a{sv}", NULL), &error);
  g_assert_null (path);
  g_assert_cmpstr (g_dbus_error_get_remote_error (error), ==, "org.bursar.Bursar1.Error.UnknownProvider");
  g_dbus_error_strip_remote_error (error);
  g_assert_cmpstr (error->message, ==, "Es gibt keinen Anbieter „no-such-provider“.");
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(name, func) \
  g_test_add ("/daemon/" name, Fixture, NULL, fixture_setup, func, fixture_teardown)

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

  return g_test_run ();
}
