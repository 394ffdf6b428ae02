/* bursar-test-bus.c: see bursar-test-bus.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <libsoup/soup.h>
#include <string.h>

#include "bursar-test-bus.h"

GVariant *
bursar_test_call (BursarTestEnv  *env,
                  const char     *path,
                  const char     *iface,
                  const char     *method,
                  GVariant       *params,
                  const char     *reply_type,
                  GError        **error)
{
  return g_dbus_connection_call_sync (bursar_test_env_get_bus (env), "org.bursar.Bursar1",
                                      path, iface, method, params,
                                      reply_type != NULL ? G_VARIANT_TYPE (reply_type) : NULL,
                                      G_DBUS_CALL_FLAGS_NONE, BURSAR_TEST_CALL_TIMEOUT_MS,
                                      NULL, error);
}

void
bursar_test_fixture_setup (BursarTestFixture *f,
                           gconstpointer      data)
{
  f->env = bursar_test_env_new ();
  bursar_test_env_start_daemon (f->env, NULL);
  f->bus = bursar_test_env_get_bus (f->env);
}

void
bursar_test_fixture_teardown (BursarTestFixture *f,
                              gconstpointer      data)
{
  /* No secret the mock server issued or received may be in the daemon's
   * log or any file of the test home outside the keyring. */
  bursar_test_env_assert_no_secrets (f->env);
  g_clear_pointer (&f->env, bursar_test_env_free);
}

/* The string (s or o) a reply of one holds, NULL for no reply; frees
 * @reply. */
static char *
reply_dup_string (GVariant *reply)
{
  g_autoptr(GVariant) owned = reply;
  g_autoptr(GVariant) child = NULL;

  if (owned == NULL)
    return NULL;
  child = g_variant_get_child_value (owned, 0);
  return g_variant_dup_string (child, NULL);
}

GVariant *
bursar_test_get_property (BursarTestEnv *env,
                          const char    *path,
                          const char    *name)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  GVariant *value = NULL;

  reply = bursar_test_call (env, path, "org.freedesktop.DBus.Properties", "Get",
                            g_variant_new ("(ss)", BURSAR_TEST_ACCOUNT_IFACE, name), "(v)", &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(v)", &value);
  return value;
}

char *
bursar_test_get_string_property (BursarTestEnv *env,
                                 const char    *path,
                                 const char    *name)
{
  g_autoptr(GVariant) value = bursar_test_get_property (env, path, name);

  return g_variant_dup_string (value, NULL);
}

gint64
bursar_test_get_expires_at (BursarTestEnv *env,
                            const char    *path)
{
  g_autoptr(GVariant) value = bursar_test_get_property (env, path, "ExpiresAt");

  return g_variant_get_int64 (value);
}

gboolean
bursar_test_timeout_cb (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

GDBusConnection *
bursar_test_new_connection (BursarTestEnv *env)
{
  g_autoptr(GError) error = NULL;
  GDBusConnection *connection;

  connection = g_dbus_connection_new_for_address_sync (bursar_test_env_get_bus_address (env),
                                                       G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                       G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                       NULL, NULL, &error);
  g_assert_no_error (error);
  return connection;
}

void
bursar_test_wait_pending (const guint *pending)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add_seconds (BURSAR_TEST_WAIT_SECONDS, bursar_test_timeout_cb, &timed_out);

  while (*pending > 0 && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  g_assert_false (timed_out);
  g_source_remove (id);
}

char *
bursar_test_wait_state_leaves (BursarTestEnv *env,
                               const char    *path,
                               const char    *from)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add_seconds (BURSAR_TEST_WAIT_SECONDS, bursar_test_timeout_cb, &timed_out);
  char *state = NULL;

  while (!timed_out)
    {
      g_free (state);
      state = bursar_test_get_string_property (env, path, "State");
      if (g_strcmp0 (state, from) != 0)
        break;
      g_usleep (20 * 1000);
      g_main_context_iteration (NULL, FALSE);
    }
  if (!timed_out)
    g_source_remove (id);
  if (timed_out)
    {
      g_autofree char *log = bursar_test_env_daemon_log (env);
      gsize len = strlen (log);

      /* What the daemon made of it (the log is secret-free by contract). */
      g_test_message ("daemon log tail: %s", log + (len > 3000 ? len - 3000 : 0));
    }
  g_assert_false (timed_out);
  return state;
}

GVariant *
bursar_test_oidc_options (BursarTestEnv *env,
                          const char    *client_id,
                          const char    *client_secret,
                          const char    *label)
{
  g_auto(GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);

  g_variant_builder_add (&builder, "{sv}", "issuer",
                         g_variant_new_string (bursar_test_env_get_mock_url (env)));
  g_variant_builder_add (&builder, "{sv}", "client_id", g_variant_new_string (client_id));
  if (client_secret != NULL)
    g_variant_builder_add (&builder, "{sv}", "client_secret", g_variant_new_string (client_secret));
  if (label != NULL)
    g_variant_builder_add (&builder, "{sv}", "label", g_variant_new_string (label));
  return g_variant_builder_end (&builder);
}

char *
bursar_test_add_account (BursarTestEnv  *env,
                         const char     *provider,
                         GVariant       *options,
                         GError        **error)
{
  return reply_dup_string (bursar_test_call (env, BURSAR_TEST_MANAGER_PATH, BURSAR_TEST_MANAGER_IFACE,
                                             "AddAccount",
                                             g_variant_new ("(s@a{sv})", provider, options), "(o)",
                                             error));
}

char *
bursar_test_add_oidc_account (BursarTestEnv *env,
                              const char    *client_secret)
{
  g_autoptr(GError) error = NULL;
  char *path = bursar_test_add_account (env, "oidc",
                                        bursar_test_oidc_options (env, "test-client", client_secret,
                                                                  NULL /* label */),
                                        &error);

  g_assert_no_error (error);
  return path;
}

GVariant *
bursar_test_authorize_options (gboolean open_browser)
{
  return g_variant_new_parsed ("{'open_browser': <%b>}", open_browser);
}

char *
bursar_test_authorize (BursarTestEnv  *env,
                       const char     *path,
                       GVariant       *options,
                       GError        **error)
{
  GVariant *params;

  if (options != NULL)
    params = g_variant_new ("(@a{sv})", options);
  else
    params = g_variant_new ("(a{sv})", NULL);
  return reply_dup_string (bursar_test_call (env, path, BURSAR_TEST_ACCOUNT_IFACE, "Authorize", params,
                                             "(s)", error));
}

char *
bursar_test_authorize_and_wait (BursarTestEnv *env,
                                const char    *path,
                                GVariant      *options)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *url = bursar_test_authorize (env, path, options, &error);

  g_assert_no_error (error);
  g_assert_nonnull (url);
  return bursar_test_wait_state_leaves (env, path, "authorizing");
}

char *
bursar_test_add_ready_account_full (BursarTestEnv *env,
                                    const char    *provider,
                                    GVariant      *options,
                                    GVariant      *authorize_options)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *state = NULL;
  char *path = bursar_test_add_account (env, provider, options, &error);

  g_assert_no_error (error);
  g_assert_nonnull (path);
  state = bursar_test_authorize_and_wait (env, path, authorize_options);
  g_assert_cmpstr (state, ==, "ready");
  return path;
}

char *
bursar_test_add_ready_account (BursarTestEnv *env)
{
  return bursar_test_add_ready_account_full (env, "oidc",
                                             bursar_test_oidc_options (env, "test-client",
                                                                       "test-secret-CANARY",
                                                                       NULL /* label */),
                                             NULL /* authorize_options */);
}

char *
bursar_test_get_access_token (BursarTestEnv *env,
                              const char    *path,
                              gint32        *out_expires_in,
                              GError       **error)
{
  g_autoptr(GVariant) reply = NULL;
  char *token = NULL;
  gint32 expires_in = 0;

  reply = bursar_test_call (env, path, BURSAR_TEST_ACCOUNT_IFACE, "GetAccessToken", NULL, "(si)",
                            error);
  if (reply == NULL)
    return NULL;
  g_variant_get (reply, "(si)", &token, &expires_in);
  if (out_expires_in != NULL)
    *out_expires_in = expires_in;
  return token;
}

char *
bursar_test_get_token (BursarTestEnv  *env,
                       const char     *path,
                       guint32         min_valid,
                       GVariant      **out_info,
                       GError        **error)
{
  g_auto(GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) info = NULL;
  char *token = NULL;

  g_variant_builder_add (&builder, "{sv}", "min_valid", g_variant_new_uint32 (min_valid));
  reply = bursar_test_call (env, path, BURSAR_TEST_ACCOUNT_IFACE, "GetToken",
                            g_variant_new ("(a{sv})", &builder), "(sa{sv})", error);
  if (reply == NULL)
    return NULL;
  g_variant_get (reply, "(s@a{sv})", &token, &info);
  if (out_info != NULL)
    *out_info = g_steal_pointer (&info);
  return token;
}

char *
bursar_test_get_token_min_valid (BursarTestEnv  *env,
                                 const char     *path,
                                 guint32         min_valid,
                                 GError        **error)
{
  return bursar_test_get_token (env, path, min_valid, NULL /* out_info */, error);
}

gint64
bursar_test_mock_stat (BursarTestEnv *env,
                       const char    *member)
{
  g_autoptr(JsonObject) stats = bursar_test_env_mock_stats (env);

  return json_object_get_int_member (stats, member);
}

gint64
bursar_test_mock_grant_count (BursarTestEnv *env,
                              const char    *grant)
{
  g_autoptr(JsonObject) stats = bursar_test_env_mock_stats (env);
  JsonObject *by_grant = json_object_get_object_member (stats, "token_requests_by_grant");

  if (by_grant == NULL || !json_object_has_member (by_grant, grant))
    return 0;
  return json_object_get_int_member (by_grant, grant);
}

guint
bursar_test_api_get (const char  *url,
                     GVariant    *headers,
                     const char  *bearer,
                     JsonObject **out_object)
{
  g_autoptr(SoupSession) session = soup_session_new_with_options ("timeout", 10, NULL);
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", url);
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GError) error = NULL;
  SoupMessageHeaders *request_headers;

  g_assert_nonnull (msg);
  request_headers = soup_message_get_request_headers (msg);
  if (headers != NULL)
    {
      GVariantIter iter;
      const char *name;
      const char *value;

      g_variant_iter_init (&iter, headers);
      while (g_variant_iter_next (&iter, "{&s&s}", &name, &value))
        soup_message_headers_replace (request_headers, name, value);
    }
  if (bearer != NULL)
    {
      g_autofree char *auth = g_strconcat ("Bearer ", bearer, NULL);

      soup_message_headers_replace (request_headers, "Authorization", auth);
    }
  body = soup_session_send_and_read (session, msg, NULL, &error);
  g_assert_no_error (error);
  if (out_object != NULL)
    {
      g_autoptr(JsonParser) parser = json_parser_new ();

      *out_object = NULL;
      if (json_parser_load_from_data (parser, g_bytes_get_data (body, NULL),
                                      (gssize) g_bytes_get_size (body), NULL) &&
          JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
        *out_object = json_object_ref (json_node_get_object (json_parser_get_root (parser)));
    }
  return soup_message_get_status (msg);
}

SecretValue *
bursar_test_keyring_item (const char *account_path)
{
  static const SecretSchema schema = {
    "org.bursar.Account", SECRET_SCHEMA_NONE,
    { { "account-id", SECRET_SCHEMA_ATTRIBUTE_STRING }, { NULL, 0 } },
    0, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  };
  g_autoptr(GError) error = NULL;
  SecretValue *value = secret_password_lookup_binary_sync (&schema, NULL, &error, "account-id",
                                                           strrchr (account_path, '/') + 1, NULL);

  g_assert_no_error (error);
  return value;
}

guint
bursar_test_count_occurrences (const char *text,
                               const char *needle)
{
  guint n = 0;

  for (const char *p = strstr (text, needle); p != NULL; p = strstr (p + 1, needle))
    n++;
  return n;
}
