/* bursar-test-bus.c: see bursar-test-bus.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <json-glib/json-glib.h>

#include "bursar-test-bus.h"

#define ACCOUNT_IFACE "org.bursar.Bursar1.Account"

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

GVariant *
bursar_test_get_property (BursarTestEnv *env,
                          const char    *path,
                          const char    *name)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  GVariant *value = NULL;

  reply = bursar_test_call (env, path, "org.freedesktop.DBus.Properties", "Get",
                            g_variant_new ("(ss)", ACCOUNT_IFACE, name), "(v)", &error);
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

static gboolean
timeout_cb (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

char *
bursar_test_wait_state_leaves (BursarTestEnv *env,
                               const char    *path,
                               const char    *from)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add_seconds (BURSAR_TEST_WAIT_SECONDS, timeout_cb, &timed_out);
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
  g_assert_false (timed_out);
  return state;
}

char *
bursar_test_add_oidc_account (BursarTestEnv *env,
                              const char    *client_secret)
{
  g_auto(GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  char *path = NULL;

  g_variant_builder_add (&builder, "{sv}", "issuer",
                         g_variant_new_string (bursar_test_env_get_mock_url (env)));
  g_variant_builder_add (&builder, "{sv}", "client_id", g_variant_new_string ("test-client"));
  if (client_secret != NULL)
    g_variant_builder_add (&builder, "{sv}", "client_secret", g_variant_new_string (client_secret));
  reply = bursar_test_call (env, "/org/bursar/Bursar1", "org.bursar.Bursar1.Manager", "AddAccount",
                            g_variant_new ("(sa{sv})", "oidc", &builder), "(o)", &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(o)", &path);
  return path;
}

char *
bursar_test_add_ready_account (BursarTestEnv *env)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autofree char *state = NULL;
  char *path = bursar_test_add_oidc_account (env, "test-secret-CANARY");

  reply = bursar_test_call (env, path, ACCOUNT_IFACE, "Authorize",
                            g_variant_new ("(a{sv})", NULL), "(s)", &error);
  g_assert_no_error (error);
  state = bursar_test_wait_state_leaves (env, path, "authorizing");
  g_assert_cmpstr (state, ==, "ready");
  return path;
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

  reply = bursar_test_call (env, path, ACCOUNT_IFACE, "GetAccessToken", NULL, "(si)", error);
  if (reply == NULL)
    return NULL;
  g_variant_get (reply, "(si)", &token, &expires_in);
  if (out_expires_in != NULL)
    *out_expires_in = expires_in;
  return token;
}

char *
bursar_test_get_token_min_valid (BursarTestEnv  *env,
                                 const char     *path,
                                 guint32         min_valid,
                                 GError        **error)
{
  g_auto(GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  g_autoptr(GVariant) reply = NULL;
  char *token = NULL;

  g_variant_builder_add (&builder, "{sv}", "min_valid", g_variant_new_uint32 (min_valid));
  reply = bursar_test_call (env, path, ACCOUNT_IFACE, "GetToken",
                            g_variant_new ("(a{sv})", &builder), "(sa{sv})", error);
  if (reply != NULL)
    g_variant_get (reply, "(s@a{sv})", &token, NULL);
  return token;
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
