/* test-network.c: the network comes back → bursard renews the tokens that
 * fell due while it was away, without waiting for a caller.
 *
 * GNetworkMonitor cannot be driven on a headless machine (its netlink
 * backend follows the kernel's routes), so the test plays NetworkManager:
 * a scripted org.freedesktop.NetworkManager on the private bus, which
 * bursard sees as its system bus (DBUS_SYSTEM_BUS_ADDRESS) through GIO's
 * own "networkmanager" monitor (GIO_USE_NETWORK_MONITOR). The daemon code
 * is the one users run: it only listens to GNetworkMonitor.
 *
 * Everything else is real, as in test-daemon.c: dbus-daemon,
 * gnome-keyring, the mock authorization server on loopback, the test
 * browser.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <gio/gio.h>
#include <signal.h>
#include <string.h>

#include "bursar-test-bus.h"
#include "bursar-test-env.h"

#define NM_NAME "org.freedesktop.NetworkManager"
#define NM_PATH "/org/freedesktop/NetworkManager"

/* NMState and NMConnectivityState values (NetworkManager's D-Bus API). */
#define NM_STATE_DISCONNECTED 20
#define NM_STATE_CONNECTED_GLOBAL 70
#define NM_CONNECTIVITY_NONE 1
#define NM_CONNECTIVITY_FULL 4

/* --- a scripted NetworkManager ------------------------------------------- */

/* It runs in a thread of its own with its own main context: the test's
 * synchronous calls to bursard must not keep it from answering the
 * daemon's property reads. */
typedef struct
{
  char *address;
  GThread *thread;
  GMainContext *context;
  GMainLoop *loop;
  GDBusConnection *connection;
  guint registration;

  GMutex lock;
  GCond cond;
  gboolean ready;
  guint32 state;
  guint32 connectivity;
} FakeNM;

static const char nm_xml[] =
  "<node>"
  "  <interface name='" NM_NAME "'>"
  "    <property name='State' type='u' access='read'/>"
  "    <property name='Connectivity' type='u' access='read'/>"
  "    <property name='Metered' type='u' access='read'/>"
  "  </interface>"
  "</node>";

static GVariant *
nm_get_property (GDBusConnection  *connection,
                 const char       *sender,
                 const char       *path,
                 const char       *iface,
                 const char       *name,
                 GError          **error,
                 gpointer          user_data)
{
  FakeNM *nm = user_data;
  guint32 value = 0;

  g_mutex_lock (&nm->lock);
  if (g_str_equal (name, "State"))
    value = nm->state;
  else if (g_str_equal (name, "Connectivity"))
    value = nm->connectivity;
  else if (g_str_equal (name, "Metered"))
    value = 4; /* guess-no */
  g_mutex_unlock (&nm->lock);
  return g_variant_new_uint32 (value);
}

static const GDBusInterfaceVTable nm_vtable = { NULL, nm_get_property, NULL, { 0 } };

static gpointer
fake_nm_thread (gpointer data)
{
  FakeNM *nm = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusNodeInfo) info = g_dbus_node_info_new_for_xml (nm_xml, &error);
  g_autoptr(GVariant) reply = NULL;
  guint32 result = 0;

  g_assert_no_error (error);
  g_main_context_push_thread_default (nm->context);

  nm->connection = g_dbus_connection_new_for_address_sync (nm->address,
                                                           G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                           G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                           NULL, NULL, &error);
  g_assert_no_error (error);
  nm->registration = g_dbus_connection_register_object (nm->connection, NM_PATH,
                                                        info->interfaces[0], &nm_vtable,
                                                        nm, NULL, &error);
  g_assert_no_error (error);
  reply = g_dbus_connection_call_sync (nm->connection, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus", "RequestName",
                                       g_variant_new ("(su)", NM_NAME, 0x4 /* do not queue */),
                                       G_VARIANT_TYPE ("(u)"), G_DBUS_CALL_FLAGS_NONE,
                                       BURSAR_TEST_CALL_TIMEOUT_MS, NULL, &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(u)", &result);
  g_assert_cmpuint (result, ==, 1 /* primary owner */);

  g_mutex_lock (&nm->lock);
  nm->ready = TRUE;
  g_cond_signal (&nm->cond);
  g_mutex_unlock (&nm->lock);

  g_main_loop_run (nm->loop);

  g_dbus_connection_unregister_object (nm->connection, nm->registration);
  g_dbus_connection_close_sync (nm->connection, NULL, NULL);
  g_clear_object (&nm->connection);
  g_main_context_pop_thread_default (nm->context);
  return NULL;
}

static FakeNM *
fake_nm_new (const char *address)
{
  FakeNM *nm = g_new0 (FakeNM, 1);

  nm->address = g_strdup (address);
  nm->context = g_main_context_new ();
  nm->loop = g_main_loop_new (nm->context, FALSE);
  nm->state = NM_STATE_CONNECTED_GLOBAL;
  nm->connectivity = NM_CONNECTIVITY_FULL;
  g_mutex_init (&nm->lock);
  g_cond_init (&nm->cond);
  nm->thread = g_thread_new ("fake-nm", fake_nm_thread, nm);

  g_mutex_lock (&nm->lock);
  while (!nm->ready)
    {
      gint64 deadline = g_get_monotonic_time () + BURSAR_TEST_WAIT_SECONDS * G_TIME_SPAN_SECOND;

      if (!g_cond_wait_until (&nm->cond, &nm->lock, deadline))
        g_error ("the scripted NetworkManager did not come up");
    }
  g_mutex_unlock (&nm->lock);
  return nm;
}

static gboolean
quit_cb (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

static void
fake_nm_free (FakeNM *nm)
{
  g_main_context_invoke (nm->context, quit_cb, nm->loop);
  g_thread_join (nm->thread);
  g_main_loop_unref (nm->loop);
  g_main_context_unref (nm->context);
  g_mutex_clear (&nm->lock);
  g_cond_clear (&nm->cond);
  g_free (nm->address);
  g_free (nm);
}

static gboolean
emit_changed_cb (gpointer data)
{
  FakeNM *nm = data;
  g_auto(GVariantBuilder) changed = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  g_autoptr(GError) error = NULL;

  g_mutex_lock (&nm->lock);
  g_variant_builder_add (&changed, "{sv}", "State", g_variant_new_uint32 (nm->state));
  g_variant_builder_add (&changed, "{sv}", "Connectivity", g_variant_new_uint32 (nm->connectivity));
  g_mutex_unlock (&nm->lock);
  g_dbus_connection_emit_signal (nm->connection, NULL, NM_PATH, "org.freedesktop.DBus.Properties",
                                 "PropertiesChanged",
                                 g_variant_new ("(sa{sv}as)", NM_NAME, &changed, NULL), &error);
  g_assert_no_error (error);
  return G_SOURCE_REMOVE;
}

static void
fake_nm_set_online (FakeNM   *nm,
                    gboolean  online)
{
  g_mutex_lock (&nm->lock);
  nm->state = online ? NM_STATE_CONNECTED_GLOBAL : NM_STATE_DISCONNECTED;
  nm->connectivity = online ? NM_CONNECTIVITY_FULL : NM_CONNECTIVITY_NONE;
  g_mutex_unlock (&nm->lock);
  g_main_context_invoke (nm->context, emit_changed_cb, nm);
}

/* --- fixture --------------------------------------------------------------- */

typedef struct
{
  BursarTestEnv *env;
  FakeNM *nm;
} Fixture;

static void
start_daemon (Fixture *f)
{
  g_autofree char *log = NULL;

  g_setenv ("DBUS_SYSTEM_BUS_ADDRESS", bursar_test_env_get_bus_address (f->env), TRUE);
  g_setenv ("GIO_USE_NETWORK_MONITOR", "networkmanager", TRUE);
  bursar_test_env_start_daemon (f->env, NULL);
  g_unsetenv ("GIO_USE_NETWORK_MONITOR");
  g_unsetenv ("DBUS_SYSTEM_BUS_ADDRESS");

  /* Without this the test would prove nothing: the daemon must have
   * picked the monitor the test drives. */
  log = bursar_test_env_daemon_log (f->env);
  g_assert_nonnull (strstr (log, "Network monitor GNetworkMonitorNM"));
}

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  f->env = bursar_test_env_new ();
  f->nm = fake_nm_new (bursar_test_env_get_bus_address (f->env));
  start_daemon (f);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  bursar_test_env_assert_no_secrets (f->env);
  g_clear_pointer (&f->env, bursar_test_env_free);
  g_clear_pointer (&f->nm, fake_nm_free);
}

/* Waits (bounded) until the daemon has logged @needle @count times: the
 * daemon has seen the network change. */
static void
wait_log_count (Fixture    *f,
                const char *needle,
                guint       count)
{
  gint64 deadline = g_get_monotonic_time () + BURSAR_TEST_WAIT_SECONDS * G_TIME_SPAN_SECOND;

  while (g_get_monotonic_time () < deadline)
    {
      g_autofree char *log = bursar_test_env_daemon_log (f->env);

      if (bursar_test_count_occurrences (log, needle) >= count)
        return;
      g_usleep (20 * 1000);
    }
  g_error ("bursard did not log “%s” %u times", needle, count);
}

/* Waits (bounded) until the mock server has counted @count refresh grants. */
static void
wait_refresh_count (Fixture *f,
                    gint64   count)
{
  gint64 deadline = g_get_monotonic_time () + BURSAR_TEST_WAIT_SECONDS * G_TIME_SPAN_SECOND;

  while (g_get_monotonic_time () < deadline)
    {
      if (bursar_test_mock_grant_count (f->env, "refresh_token") >= count)
        return;
      g_usleep (20 * 1000);
    }
  {
    g_autofree char *log = bursar_test_env_daemon_log (f->env);

    g_test_message ("bursard log:\n%s", log);
  }
  g_assert_cmpint (bursar_test_mock_grant_count (f->env, "refresh_token"), ==, count);
}

static void
go_offline_and_back (Fixture *f)
{
  g_autofree char *log = bursar_test_env_daemon_log (f->env);
  guint offline = bursar_test_count_occurrences (log, "Network offline");
  guint online = bursar_test_count_occurrences (log, "Network online");

  fake_nm_set_online (f->nm, FALSE);
  wait_log_count (f, "Network offline", offline + 1);
  fake_nm_set_online (f->nm, TRUE);
  wait_log_count (f, "Network online", online + 1);
}

/* --- tests ------------------------------------------------------------------ */

/* A refresh failed for want of network; a caller still gets the valid
 * cached token while offline; when the network is back the daemon
 * renews by itself, and the next caller gets the new token at once. */
static void
test_failed_refresh_retried_online (Fixture       *f,
                                    gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autofree char *path = bursar_test_add_ready_account (f->env);
  g_autofree char *before = NULL;
  g_autofree char *offline_token = NULL;
  g_autofree char *after = NULL;
  g_autofree char *state = NULL;
  gint64 refreshes;

  before = bursar_test_get_access_token (f->env, path, NULL, &error);
  g_assert_no_error (error);
  refreshes = bursar_test_mock_grant_count (f->env, "refresh_token");

  /* The network drops; the provider cannot be reached (more failures
   * than the retry budget). */
  fake_nm_set_online (f->nm, FALSE);
  wait_log_count (f, "Network offline", 1);
  bursar_test_env_mock_configure (f->env,
                                  "{\"fail_next\": [{\"status\": 503}, {\"status\": 503}, {\"status\": 503},"
                                  " {\"status\": 503}, {\"status\": 503}, {\"status\": 503}]}");
  reply = bursar_test_call (f->env, path, "org.bursar.Bursar1.Account", "Refresh", NULL, "(si)", &error);
  g_assert_null (reply);
  g_assert_cmpstr (g_dbus_error_get_remote_error (error), ==, "org.bursar.Bursar1.Error.Network");
  g_clear_error (&error);
  state = bursar_test_get_string_property (f->env, path, "State");
  g_assert_cmpstr (state, ==, "ready");

  /* Offline, the still-valid cached token is served. */
  offline_token = bursar_test_get_access_token (f->env, path, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (offline_token, ==, before);

  /* Back online with a working provider: one renewal, no caller. */
  bursar_test_env_mock_configure (f->env, "{\"fail_next\": []}");
  refreshes = bursar_test_mock_grant_count (f->env, "refresh_token");
  fake_nm_set_online (f->nm, TRUE);
  wait_refresh_count (f, refreshes + 1);

  after = bursar_test_get_access_token (f->env, path, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (after, !=, before);
  g_assert_cmpint (bursar_test_mock_grant_count (f->env, "refresh_token"), ==, refreshes + 1);
}

/* A token in use ran out while the machine was offline: renewed when the
 * network comes back. An account nobody used since start-up is left
 * alone (no keyring read, no token request), however stale. */
static void
test_expired_while_offline (Fixture       *f,
                            gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *token = NULL;
  g_autofree char *after = NULL;
  gint64 refreshes;

  /* 61 s tokens fall under the 60 s margin within two seconds. */
  bursar_test_env_mock_configure (f->env, "{\"token_lifetime\": 61}");
  path = bursar_test_add_ready_account (f->env);
  token = bursar_test_get_token_min_valid (f->env, path, 0, &error);
  g_assert_no_error (error);

  fake_nm_set_online (f->nm, FALSE);
  wait_log_count (f, "Network offline", 1);
  g_usleep (2500 * 1000);
  refreshes = bursar_test_mock_grant_count (f->env, "refresh_token");
  fake_nm_set_online (f->nm, TRUE);
  wait_refresh_count (f, refreshes + 1);

  after = bursar_test_get_token_min_valid (f->env, path, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (after, !=, token);

  /* After a restart the account is not in use: a network change does not
   * touch it. */
  bursar_test_env_stop_daemon (f->env, SIGTERM);
  start_daemon (f);
  g_usleep (2500 * 1000);
  refreshes = bursar_test_mock_grant_count (f->env, "refresh_token");
  go_offline_and_back (f);
  /* The renewal would have started in the same main-loop turn as the
   * "online" line; give a stray request time to reach the server. */
  g_usleep (500 * 1000);
  g_assert_cmpint (bursar_test_mock_grant_count (f->env, "refresh_token"), ==, refreshes);
}

/* Network changes while nothing is due cost no token request. */
static void
test_nothing_due (Fixture       *f,
                  gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = bursar_test_add_ready_account (f->env);
  g_autofree char *token = NULL;
  gint64 requests;

  token = bursar_test_get_access_token (f->env, path, NULL, &error);
  g_assert_no_error (error);
  requests = bursar_test_mock_stat (f->env, "token_requests");
  for (guint i = 0; i < 3; i++)
    go_offline_and_back (f);
  g_usleep (500 * 1000);
  g_assert_cmpint (bursar_test_mock_stat (f->env, "token_requests"), ==, requests);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(name, func) \
  g_test_add ("/network/" name, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("failed-refresh-retried-online", test_failed_refresh_retried_online);
  ADD ("expired-while-offline", test_expired_while_offline);
  ADD ("nothing-due", test_nothing_due);
#undef ADD

  return g_test_run ();
}
