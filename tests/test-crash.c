/* test-crash.c: kill -9 during refreshes. The daemon is killed at a random
 * point of a refresh, again and again, against a server that rotates
 * refresh tokens and keeps the previous one valid until the new one is
 * first used; after every restart the account must still get a token with
 * no browser. Prints the number of lost grants (the goal is 0).
 *
 * BURSAR_CRASH_CYCLES sets the number of kills (default 200).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "bursar-test-env.h"

#define CALL_TIMEOUT_MS 60000
#define WAIT_SECONDS 30

static gboolean
timeout_cb (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

static char *
state_of (GDBusConnection *bus,
          const char      *path)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GError) error = NULL;

  reply = g_dbus_connection_call_sync (bus, "org.bursar.Bursar1", path,
                                       "org.freedesktop.DBus.Properties", "Get",
                                       g_variant_new ("(ss)", "org.bursar.Bursar1.Account", "State"),
                                       G_VARIANT_TYPE ("(v)"), G_DBUS_CALL_FLAGS_NONE,
                                       CALL_TIMEOUT_MS, NULL, &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(v)", &value);
  return g_variant_dup_string (value, NULL);
}

static void
authorize_and_wait (GDBusConnection *bus,
                    const char      *path)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  gboolean timed_out = FALSE;
  guint id;

  reply = g_dbus_connection_call_sync (bus, "org.bursar.Bursar1", path, "org.bursar.Bursar1.Account",
                                       "Authorize", g_variant_new ("(a{sv})", NULL),
                                       G_VARIANT_TYPE ("(s)"), G_DBUS_CALL_FLAGS_NONE,
                                       CALL_TIMEOUT_MS, NULL, &error);
  g_assert_no_error (error);

  id = g_timeout_add_seconds (WAIT_SECONDS, timeout_cb, &timed_out);
  while (!timed_out)
    {
      g_autofree char *state = state_of (bus, path);

      if (g_str_equal (state, "ready"))
        break;
      g_assert_cmpstr (state, ==, "authorizing");
      g_usleep (20 * 1000);
      g_main_context_iteration (NULL, FALSE);
    }
  g_assert_false (timed_out);
  g_source_remove (id);
}

static GVariant *
get_token_call (guint32 min_valid)
{
  g_auto(GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);

  g_variant_builder_add (&builder, "{sv}", "min_valid", g_variant_new_uint32 (min_valid));
  return g_variant_new ("(a{sv})", &builder);
}

static void
drop_reply (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  GVariant *reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, NULL);
  gboolean *done = user_data;

  /* The daemon was killed under this call: no reply is the usual end. */
  g_clear_pointer (&reply, g_variant_unref);
  *done = TRUE;
}

static void
test_kill_during_refresh (void)
{
  g_autoptr(BursarTestEnv) env = bursar_test_env_new ();
  GDBusConnection *bus;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GVariantBuilder) options = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  g_autofree char *path = NULL;
  const char *cycles_env = g_getenv ("BURSAR_CRASH_CYCLES");
  guint cycles = cycles_env != NULL ? (guint) atoi (cycles_env) : 200;
  guint lost = 0;
  guint interrupted = 0;
  GRand *rand = g_rand_new ();

  bursar_test_env_start_daemon (env, NULL);
  bus = bursar_test_env_get_bus (env);
  bursar_test_env_mock_configure (env, "{\"rotation\": \"grace\"}");

  g_variant_builder_add (&options, "{sv}", "issuer",
                         g_variant_new_string (bursar_test_env_get_mock_url (env)));
  g_variant_builder_add (&options, "{sv}", "client_id", g_variant_new_string ("test-client"));
  g_variant_builder_add (&options, "{sv}", "client_secret", g_variant_new_string ("test-secret-CANARY"));
  reply = g_dbus_connection_call_sync (bus, "org.bursar.Bursar1", "/org/bursar/Bursar1",
                                       "org.bursar.Bursar1.Manager", "AddAccount",
                                       g_variant_new ("(sa{sv})", "oidc", &options),
                                       G_VARIANT_TYPE ("(o)"), G_DBUS_CALL_FLAGS_NONE,
                                       CALL_TIMEOUT_MS, NULL, &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(o)", &path);
  authorize_and_wait (bus, path);

  for (guint i = 0; i < cycles; i++)
    {
      g_autoptr(GVariant) after = NULL;
      gboolean done = FALSE;
      guint delay_ms = (guint) g_rand_int_range (rand, 0, 25);
      g_autofree char *config = g_strdup_printf ("{\"delay_ms\": %u}", delay_ms);

      /* A refresh is forced (min_valid above the 3600 s lifetime); the
       * kill lands anywhere from before the request to after the keyring
       * write. */
      bursar_test_env_mock_configure (env, config);
      g_dbus_connection_call (bus, "org.bursar.Bursar1", path, "org.bursar.Bursar1.Account",
                              "GetToken", get_token_call (7200), G_VARIANT_TYPE ("(sa{sv})"),
                              G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL, drop_reply, &done);
      g_usleep ((gulong) g_rand_int_range (rand, 0, 40 * 1000));
      bursar_test_env_stop_daemon (env, SIGKILL);
      while (!done)
        g_main_context_iteration (NULL, TRUE);
      interrupted++;

      bursar_test_env_start_daemon (env, NULL);
      bursar_test_env_mock_configure (env, "{\"delay_ms\": 0}");

      /* After the restart: a token, with no browser. */
      after = g_dbus_connection_call_sync (bus, "org.bursar.Bursar1", path, "org.bursar.Bursar1.Account",
                                           "GetToken", get_token_call (60),
                                           G_VARIANT_TYPE ("(sa{sv})"), G_DBUS_CALL_FLAGS_NONE,
                                           CALL_TIMEOUT_MS, NULL, &error);
      if (after == NULL)
        {
          g_test_message ("cycle %u: grant lost: %s", i, error->message);
          g_clear_error (&error);
          lost++;
          authorize_and_wait (bus, path);
        }
    }

  g_test_message ("kill -9 during refresh: %u kills, %u lost grants", interrupted, lost);
  g_print ("# lost grants: %u of %u kills\n", lost, interrupted);
  g_assert_cmpuint (g_strv_length (bursar_test_env_browser_urls (env)), ==, 1 + lost);
  g_assert_cmpuint (lost, ==, 0);

  bursar_test_env_assert_no_secrets (env);
  g_rand_free (rand);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/crash/kill-during-refresh", test_kill_during_refresh);
  return g_test_run ();
}
