/* test-faults.c: bursard under attack and under faults — forged ID
 * tokens, mix-up, refresh storms, a keyring that goes away, a second
 * daemon — with the same real components as test-daemon.c.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <fcntl.h>
#include <gio/gio.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bursar-test-bus.h"
#include "bursar-test-env.h"

typedef BursarTestFixture Fixture;

/* --- ID token checks (OIDC Core §3.1.3.7, §12.2) --------------------- */

static void
assert_authorization_refused (Fixture    *f,
                              const char *claims_json)
{
  g_autofree char *config = g_strdup_printf ("{\"id_token_claims\": %s}", claims_json);
  g_autofree char *path = NULL;
  g_autofree char *state = NULL;
  g_autofree char *last_error = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *token = NULL;

  bursar_test_env_mock_configure (f->env, config);
  path = bursar_test_add_oidc_account (f->env, "test-secret-CANARY");
  state = bursar_test_authorize_and_wait (f->env, path, NULL /* options */);
  g_assert_cmpstr (state, ==, "needs-authorization");
  last_error = bursar_test_get_string_property (f->env, path, "LastError");
  g_assert_cmpstr (last_error, !=, "");

  token = bursar_test_get_token_min_valid (f->env, path, 60, &error);
  g_assert_null (token);
  g_assert_cmpstr (g_dbus_error_get_remote_error (error), ==,
                   "org.bursar.Bursar1.Error.NeedsAuthorization");
}

static void
test_wrong_nonce (Fixture *f, gconstpointer data)
{
  assert_authorization_refused (f, "{\"nonce\": \"not-the-one-we-sent\"}");
}

static void
test_wrong_audience (Fixture *f, gconstpointer data)
{
  assert_authorization_refused (f, "{\"aud\": \"someone-else\"}");
}

static void
test_wrong_id_token_issuer (Fixture *f, gconstpointer data)
{
  assert_authorization_refused (f, "{\"iss\": \"https://evil.example\"}");
}

static void
test_expired_id_token (Fixture *f, gconstpointer data)
{
  assert_authorization_refused (f, "{\"exp\": 1000000000}");
}

static void
test_subject_changes_on_refresh (Fixture       *f,
                                 gconstpointer  data)
{
  g_autofree char *path = bursar_test_add_ready_account (f->env);
  g_autoptr(GError) error = NULL;
  g_autofree char *token = NULL;
  g_autofree char *state = NULL;

  bursar_test_env_mock_configure (f->env, "{\"id_token_claims\": {\"sub\": \"somebody-else\"}}");
  token = bursar_test_get_token_min_valid (f->env, path, 7200, &error);
  g_assert_null (token);
  g_assert_cmpstr (g_dbus_error_get_remote_error (error), ==, "org.bursar.Bursar1.Error.Provider");
  g_clear_error (&error);

  /* The account is not silently switched to another user, nor dropped. */
  state = bursar_test_get_string_property (f->env, path, "State");
  g_assert_cmpstr (state, ==, "ready");
  bursar_test_env_mock_configure (f->env, "{\"id_token_claims\": {}}");
  g_free (token);
  token = bursar_test_get_token_min_valid (f->env, path, 7200, &error);
  g_assert_no_error (error);
}

/* --- mix-up (RFC 9207) -------------------------------------------------- */

static void
test_iss_mismatch (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *url = NULL;
  g_autofree char *state = NULL;
  gboolean timed_out = FALSE;
  guint id;

  bursar_test_env_mock_configure (f->env, "{\"iss_mode\": \"wrong\"}");
  path = bursar_test_add_oidc_account (f->env, "test-secret-CANARY");
  url = bursar_test_authorize (f->env, path, NULL /* options */, &error);
  g_assert_no_error (error);
  g_assert_nonnull (url);

  /* Wait until the browser has been and gone; its callback was refused. */
  id = g_timeout_add_seconds (BURSAR_TEST_WAIT_SECONDS, bursar_test_timeout_cb, &timed_out);
  while (!timed_out)
    {
      if (bursar_test_mock_stat (f->env, "authorize_requests") >= 1)
        break;
      g_usleep (20 * 1000);
    }
  g_source_remove (id);
  g_usleep (500 * 1000);

  state = bursar_test_get_string_property (f->env, path, "State");
  g_assert_cmpstr (state, ==, "authorizing");
  g_assert_cmpint (bursar_test_mock_grant_count (f->env, "authorization_code"), ==, 0);

  /* A new attempt against an honest server succeeds. */
  bursar_test_env_mock_configure (f->env, "{\"iss_mode\": \"correct\"}");
  g_free (state);
  state = bursar_test_authorize_and_wait (f->env, path, NULL /* options */);
  g_assert_cmpstr (state, ==, "ready");
  g_assert_cmpint (bursar_test_mock_grant_count (f->env, "authorization_code"), ==, 1);
}

/* --- Refresh() storms (RFC 6750 §3.1 feedback loops) ----------------- */

typedef struct
{
  guint pending;
  guint ok;
} StormData;

static void
storm_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  StormData *data = user_data;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, NULL);

  if (reply != NULL)
    data->ok++;
  data->pending--;
}

static void
test_refresh_storm (Fixture       *f,
                    gconstpointer  data)
{
  g_autofree char *path = bursar_test_add_ready_account (f->env);
  StormData sd = { 0 };

  for (guint i = 0; i < 50; i++)
    {
      sd.pending++;
      g_dbus_connection_call (f->bus, "org.bursar.Bursar1", path, "org.bursar.Bursar1.Account",
                              "Refresh", NULL, G_VARIANT_TYPE ("(si)"), G_DBUS_CALL_FLAGS_NONE,
                              BURSAR_TEST_CALL_TIMEOUT_MS, NULL, storm_cb, &sd);
      g_usleep (20 * 1000); /* 50 calls over one second */
      g_main_context_iteration (NULL, FALSE);
    }
  bursar_test_wait_pending (&sd.pending);

  g_assert_cmpuint (sd.ok, ==, 50);
  g_assert_cmpint (bursar_test_mock_grant_count (f->env, "refresh_token"), ==, 1);
}

/* --- the keyring -------------------------------------------------------- */

static void
test_keyring_unavailable_then_back (Fixture       *f,
                                    gconstpointer  data)
{
  g_autofree char *path = bursar_test_add_ready_account (f->env);
  g_autoptr(GError) error = NULL;
  g_autofree char *token = NULL;
  g_autoptr(GVariant) reply = NULL;

  /* A fresh daemon with no Secret Service on the bus. */
  bursar_test_env_stop_daemon (f->env, SIGTERM);
  bursar_test_env_stop_keyring (f->env);
  bursar_test_env_start_daemon (f->env, NULL);

  token = bursar_test_get_token_min_valid (f->env, path, 60, &error);
  g_assert_null (token);
  g_assert_cmpstr (g_dbus_error_get_remote_error (error), ==,
                   "org.bursar.Bursar1.Error.KeyringUnavailable");
  g_clear_error (&error);

  /* Still running, still answering, the account unchanged. */
  reply = bursar_test_call (f->env, BURSAR_TEST_MANAGER_PATH, BURSAR_TEST_MANAGER_IFACE,
                            "ListProviders", NULL, "(aa{sv})", &error);
  g_assert_no_error (error);
  {
    g_autofree char *state = bursar_test_get_string_property (f->env, path, "State");

    g_assert_cmpstr (state, ==, "ready");
  }

  /* The keyring comes back: no restart, no browser. */
  bursar_test_env_start_keyring (f->env);
  token = bursar_test_get_token_min_valid (f->env, path, 60, &error);
  g_assert_no_error (error);
  g_assert_nonnull (token);
  g_assert_cmpuint (g_strv_length (bursar_test_env_browser_urls (f->env)), ==, 1);
}

static void
test_keyring_restarted_keeps_rotation (Fixture       *f,
                                       gconstpointer  data)
{
  g_autofree char *path = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *first = NULL;
  g_autofree char *second = NULL;
  g_autofree char *third = NULL;

  bursar_test_env_mock_configure (f->env, "{\"rotation\": \"strict\"}");
  path = bursar_test_add_ready_account (f->env);
  first = bursar_test_get_token_min_valid (f->env, path, 60, &error);
  g_assert_no_error (error);

  /* The keyring daemon restarts under us; the next rotation must still
   * reach the new one, or the grant is lost with the next crash. */
  bursar_test_env_stop_keyring (f->env);
  bursar_test_env_start_keyring (f->env);
  second = bursar_test_get_token_min_valid (f->env, path, 7200, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (second, !=, first);

  /* Give a failed first write its retry (back-off starts at 2 s). */
  g_usleep (3 * G_USEC_PER_SEC);
  bursar_test_env_stop_daemon (f->env, SIGKILL);
  bursar_test_env_start_daemon (f->env, NULL);
  third = bursar_test_get_token_min_valid (f->env, path, 7200, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (third, !=, second);
}

/* --- the bus name ------------------------------------------------------- */

static void
test_replace (Fixture       *f,
              gconstpointer  data)
{
  g_autoptr(GSubprocess) second = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  guint32 owner = 0;
  gboolean timed_out = FALSE;
  guint id;

  second = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE,
                             &error, g_getenv ("BURSARD"), "--replace", NULL);
  g_assert_no_error (error);

  /* The first daemon gives the name up and exits. */
  id = g_timeout_add_seconds (BURSAR_TEST_WAIT_SECONDS, bursar_test_timeout_cb, &timed_out);
  while (bursar_test_env_daemon_running (f->env) && !timed_out)
    {
      g_usleep (20 * 1000);
      g_main_context_iteration (NULL, FALSE);
    }
  g_assert_false (timed_out);

  while (!timed_out)
    {
      g_clear_pointer (&reply, g_variant_unref);
      reply = g_dbus_connection_call_sync (f->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                           "org.freedesktop.DBus", "GetConnectionUnixProcessID",
                                           g_variant_new ("(s)", "org.bursar.Bursar1"),
                                           G_VARIANT_TYPE ("(u)"), G_DBUS_CALL_FLAGS_NONE, 5000,
                                           NULL, NULL);
      if (reply != NULL)
        {
          g_variant_get (reply, "(u)", &owner);
          if (owner == (guint32) atoi (g_subprocess_get_identifier (second)))
            break;
        }
      g_usleep (20 * 1000);
      g_main_context_iteration (NULL, FALSE);
    }
  g_assert_false (timed_out);
  g_source_remove (id);

  g_subprocess_send_signal (second, SIGTERM);
  g_subprocess_wait_check (second, NULL, &error);
  g_assert_no_error (error);
}

/* --- re-authorization is visible ------------------------------------- */

/* A stand-in desktop notification server: no real one runs headless. It
 * records Notify calls and can emit ActionInvoked like a user's click. */
typedef struct
{
  guint notify_calls;
  guint32 last_id;
  char *last_summary;
  char *last_body;
  gboolean has_sign_in_action;
} NotificationServer;

static const char notifications_xml[] =
  "<node><interface name='org.freedesktop.Notifications'>"
  "<method name='Notify'><arg type='s' direction='in'/><arg type='u' direction='in'/>"
  "<arg type='s' direction='in'/><arg type='s' direction='in'/><arg type='s' direction='in'/>"
  "<arg type='as' direction='in'/><arg type='a{sv}' direction='in'/><arg type='i' direction='in'/>"
  "<arg type='u' direction='out'/></method>"
  "<method name='CloseNotification'><arg type='u' direction='in'/></method>"
  "<signal name='ActionInvoked'><arg type='u'/><arg type='s'/></signal>"
  "</interface></node>";

static void
notifications_method (GDBusConnection       *connection,
                      const char            *sender,
                      const char            *path,
                      const char            *iface,
                      const char            *method,
                      GVariant              *params,
                      GDBusMethodInvocation *invocation,
                      gpointer               user_data)
{
  NotificationServer *server = user_data;

  if (g_str_equal (method, "Notify"))
    {
      g_autofree const char **actions = NULL;

      server->notify_calls++;
      server->last_id = 100 + server->notify_calls;
      g_free (server->last_summary);
      g_free (server->last_body);
      g_variant_get (params, "(&sus&s&s^a&s@a{sv}i)", NULL, NULL, NULL,
                     NULL, NULL, &actions, NULL, NULL);
      g_variant_get_child (params, 3, "s", &server->last_summary);
      g_variant_get_child (params, 4, "s", &server->last_body);
      server->has_sign_in_action = actions != NULL && g_strv_contains (actions, "sign-in");
      g_dbus_method_invocation_return_value (invocation, g_variant_new ("(u)", server->last_id));
      return;
    }
  g_dbus_method_invocation_return_value (invocation, NULL);
}

static void
test_reauthorization_notification (Fixture       *f,
                                   gconstpointer  data)
{
  NotificationServer server = { 0 };
  static const GDBusInterfaceVTable vtable = { notifications_method, NULL, NULL, { 0 } };
  g_autoptr(GDBusNodeInfo) info = g_dbus_node_info_new_for_xml (notifications_xml, NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *state = NULL;
  g_autofree char *token = NULL;
  gboolean timed_out = FALSE;
  guint registration, owner, id;

  registration = g_dbus_connection_register_object (f->bus, "/org/freedesktop/Notifications",
                                                    info->interfaces[0], &vtable, &server,
                                                    NULL, &error);
  g_assert_no_error (error);
  owner = g_bus_own_name_on_connection (f->bus, "org.freedesktop.Notifications",
                                        G_BUS_NAME_OWNER_FLAGS_NONE, NULL, NULL, NULL, NULL);

  path = bursar_test_add_ready_account (f->env);
  bursar_test_env_mock_configure (f->env,
                                  "{\"fail_next\": [{\"status\": 400, \"content_type\": \"application/json\","
                                  " \"body\": \"{\\\"error\\\":\\\"invalid_grant\\\"}\"}]}");
  token = bursar_test_get_token_min_valid (f->env, path, 7200, &error);
  g_assert_cmpstr (g_dbus_error_get_remote_error (error), ==,
                   "org.bursar.Bursar1.Error.NeedsAuthorization");
  g_clear_error (&error);

  id = g_timeout_add_seconds (BURSAR_TEST_WAIT_SECONDS, bursar_test_timeout_cb, &timed_out);
  while (server.notify_calls == 0 && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  g_assert_false (timed_out);
  g_assert_cmpuint (server.notify_calls, ==, 1);
  g_assert_true (server.has_sign_in_action);
  g_assert_nonnull (strstr (server.last_summary, "OpenID Connect"));
  g_assert_nonnull (strstr (server.last_body, "alice@example.test"));

  /* More failures: still one notification. */
  token = bursar_test_get_token_min_valid (f->env, path, 7200, &error);
  g_assert_nonnull (error);
  g_clear_error (&error);
  for (guint i = 0; i < 20; i++)
    {
      g_main_context_iteration (NULL, FALSE);
      g_usleep (10 * 1000);
    }
  g_assert_cmpuint (server.notify_calls, ==, 1);

  /* The user clicks "Sign in": the browser flow runs and the account is
   * ready again. */
  g_dbus_connection_emit_signal (f->bus, NULL, "/org/freedesktop/Notifications",
                                 "org.freedesktop.Notifications", "ActionInvoked",
                                 g_variant_new ("(us)", server.last_id, "sign-in"), &error);
  g_assert_no_error (error);
  while (!timed_out)
    {
      g_free (state);
      state = bursar_test_get_string_property (f->env, path, "State");
      if (g_str_equal (state, "ready"))
        break;
      g_main_context_iteration (NULL, FALSE);
      g_usleep (20 * 1000);
    }
  g_assert_false (timed_out);
  g_source_remove (id);
  g_assert_cmpuint (g_strv_length (bursar_test_env_browser_urls (f->env)), ==, 2);

  g_bus_unown_name (owner);
  g_dbus_connection_unregister_object (f->bus, registration);
  g_free (server.last_summary);
  g_free (server.last_body);
}

/* --- the browser starts outside our sandbox ------------------------- */

/* A stand-in xdg-desktop-portal: it records OpenURI calls and answers
 * with a request handle, and the test opens the browser in its place
 * when it chooses, as the real portal does from outside bursard's unit. */
typedef struct
{
  guint open_uri_calls;
  char *parent_window;
  char *uri;
  guint n_options;
} PortalServer;

static const char portal_xml[] =
  "<node><interface name='org.freedesktop.portal.OpenURI'>"
  "<method name='OpenURI'><arg type='s' direction='in'/><arg type='s' direction='in'/>"
  "<arg type='a{sv}' direction='in'/><arg type='o' direction='out'/></method>"
  "</interface></node>";

static void
portal_method (GDBusConnection       *connection,
               const char            *sender,
               const char            *path,
               const char            *iface,
               const char            *method,
               GVariant              *params,
               GDBusMethodInvocation *invocation,
               gpointer               user_data)
{
  PortalServer *server = user_data;
  g_autoptr(GVariant) options = NULL;

  g_assert_cmpstr (method, ==, "OpenURI");
  server->open_uri_calls++;
  g_clear_pointer (&server->parent_window, g_free);
  g_clear_pointer (&server->uri, g_free);
  g_variant_get (params, "(ss@a{sv})", &server->parent_window, &server->uri, &options);
  server->n_options = g_variant_n_children (options);
  g_dbus_method_invocation_return_value (invocation,
                                         g_variant_new ("(o)", "/org/freedesktop/portal/desktop/request/1_1/t"));
}

static void
test_browser_through_portal (Fixture       *f,
                             gconstpointer  data)
{
  PortalServer server = { 0 };
  static const GDBusInterfaceVTable vtable = { portal_method, NULL, NULL, { 0 } };
  g_autoptr(GDBusNodeInfo) info = g_dbus_node_info_new_for_xml (portal_xml, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) browser = NULL;
  g_auto(GStrv) urls = NULL;
  g_autofree char *path = NULL;
  g_autofree char *url = NULL;
  g_autofree char *state = NULL;
  gboolean timed_out = FALSE;
  gboolean settled = FALSE;
  guint registration, owner, id;

  registration = g_dbus_connection_register_object (f->bus, "/org/freedesktop/portal/desktop",
                                                    info->interfaces[0], &vtable, &server,
                                                    NULL, &error);
  g_assert_no_error (error);
  owner = g_bus_own_name_on_connection (f->bus, "org.freedesktop.portal.Desktop",
                                        G_BUS_NAME_OWNER_FLAGS_NONE, NULL, NULL, NULL, NULL);

  /* Authorize returns at once; the portal call is answered as this
   * thread's main context runs. */
  path = bursar_test_add_oidc_account (f->env, "test-secret-CANARY");
  url = bursar_test_authorize (f->env, path, NULL /* options */, &error);
  g_assert_no_error (error);
  g_assert_nonnull (url);

  id = g_timeout_add_seconds (BURSAR_TEST_WAIT_SECONDS, bursar_test_timeout_cb, &timed_out);
  while (server.open_uri_calls == 0 && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  g_assert_false (timed_out);
  g_source_remove (id);
  g_assert_cmpuint (server.open_uri_calls, ==, 1);
  g_assert_cmpstr (server.uri, ==, url);
  g_assert_cmpstr (server.parent_window, ==, "");
  g_assert_cmpuint (server.n_options, ==, 0);

  /* The portal has not opened the browser yet: nothing else does — not
   * bursard as its own child — and the account waits. */
  g_timeout_add (1000, bursar_test_timeout_cb, &settled);
  while (!settled)
    g_main_context_iteration (NULL, TRUE);
  urls = bursar_test_env_browser_urls (f->env);
  g_assert_cmpuint (g_strv_length (urls), ==, 0);
  state = bursar_test_get_string_property (f->env, path, "State");
  g_assert_cmpstr (state, ==, "authorizing");
  g_clear_pointer (&state, g_free);
  g_clear_pointer (&urls, g_strfreev);

  /* Now the portal opens the desktop's browser, outside the daemon. */
  browser = g_subprocess_new (G_SUBPROCESS_FLAGS_NONE, &error,
                              g_getenv ("BURSAR_TEST_BROWSER"), server.uri, NULL);
  g_assert_no_error (error);
  g_subprocess_wait_check (browser, NULL /* cancellable */, &error);
  g_assert_no_error (error);
  state = bursar_test_wait_state_leaves (f->env, path, "authorizing");
  g_assert_cmpstr (state, ==, "ready");
  urls = bursar_test_env_browser_urls (f->env);
  g_assert_cmpuint (g_strv_length (urls), ==, 1);
  g_assert_cmpstr (urls[0], ==, url);
  g_assert_cmpuint (server.open_uri_calls, ==, 1);

  g_bus_unown_name (owner);
  g_dbus_connection_unregister_object (f->bus, registration);
  g_free (server.parent_window);
  g_free (server.uri);
}

/* --- sandboxed callers ------------------------------------------------ */

#define FLATPAK_INSTANCE_ID "1804289383"

/* Starts @command inside a bubblewrap sandbox built the way `flatpak run`
 * builds one: the instance's info file written to
 * $XDG_RUNTIME_DIR/.flatpak/ID/info on the host, a copy of it at
 * /.flatpak-info and the instance directory bound read-only at
 * /run/flatpak/.flatpak/ID. To the daemon a Flatpak app as the portal
 * sees one, and (from inside the unit's user namespace, where
 * /proc/PID/root is refused) as its mount table shows one. */
static GSubprocess *
spawn_sandboxed (Fixture            *f,
                 const char         *app_id,
                 const char * const *command,
                 GSubprocessFlags    flags)
{
  /* The environment's runtime directory, as the daemon has it: GLib
   * caches g_get_user_runtime_dir() from the first test of the program. */
  g_autofree char *instance_dir = g_build_filename (g_getenv ("XDG_RUNTIME_DIR"), ".flatpak",
                                                    FLATPAK_INSTANCE_ID, NULL);
  g_autofree char *info_path = g_build_filename (instance_dir, "info", NULL);
  g_autofree char *info = g_strdup_printf ("[Application]\nname=%s\n\n"
                                           "[Instance]\ninstance-id=" FLATPAK_INSTANCE_ID "\n",
                                           app_id);
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  int info_fd;
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *socket_dir = NULL;
  g_autofree char *command_dir = g_path_get_dirname (command[0]);
  const char *address = bursar_test_env_get_bus_address (f->env);
  GSubprocess *proc;

  g_assert_cmpint (g_mkdir_with_parents (instance_dir, 0700), ==, 0);
  g_assert_true (g_file_set_contents (info_path, info, -1, NULL));
  info_fd = open (info_path, O_RDONLY | O_CLOEXEC);
  g_assert_cmpint (info_fd, >=, 0);
  g_ptr_array_add (argv, (gpointer) "bwrap");
  for (const char * const *a = (const char * const[]) {
         "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc",
         "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
         "--symlink", "usr/bin", "/bin", "--proc", "/proc", "--dev", "/dev",
         "--tmpfs", "/tmp", NULL }; *a != NULL; a++)
    g_ptr_array_add (argv, (gpointer) *a);
  for (const char * const *a = (const char * const[]) {
         "--ro-bind-data", "3", "/.flatpak-info", "--ro-bind", instance_dir,
         "/run/flatpak/.flatpak/" FLATPAK_INSTANCE_ID, NULL }; *a != NULL; a++)
    g_ptr_array_add (argv, (gpointer) *a);
  /* A bus on a socket path needs its directory inside the sandbox. */
  if (g_str_has_prefix (address, "unix:path="))
    {
      g_autofree char *socket_path = g_strndup (address + strlen ("unix:path="),
                                                strcspn (address + strlen ("unix:path="), ","));
      socket_dir = g_path_get_dirname (socket_path);
      g_ptr_array_add (argv, (gpointer) "--bind");
      g_ptr_array_add (argv, socket_dir);
      g_ptr_array_add (argv, socket_dir);
    }
  /* A command from the build tree (this test program) needs its directory,
   * and in a sanitizer build the suppression files its runtime reads at
   * start (it aborts when one is missing). */
  if (!g_str_has_prefix (command[0], "/usr/"))
    {
      g_ptr_array_add (argv, (gpointer) "--ro-bind");
      g_ptr_array_add (argv, command_dir);
      g_ptr_array_add (argv, command_dir);
      for (const char * const *var = (const char * const[]) {
             "ASAN_OPTIONS", "LSAN_OPTIONS", "UBSAN_OPTIONS", NULL }; *var != NULL; var++)
        {
          g_auto(GStrv) options = g_strsplit (g_getenv (*var) != NULL ? g_getenv (*var) : "", ":", -1);

          for (guint i = 0; options[i] != NULL; i++)
            if (g_str_has_prefix (options[i], "suppressions="))
              {
                const char *file = options[i] + strlen ("suppressions=");

                g_ptr_array_add (argv, (gpointer) "--ro-bind");
                g_ptr_array_add (argv, (gpointer) g_intern_string (file));
                g_ptr_array_add (argv, (gpointer) g_intern_string (file));
              }
        }
    }
  g_ptr_array_add (argv, (gpointer) "--setenv");
  g_ptr_array_add (argv, (gpointer) "DBUS_SESSION_BUS_ADDRESS");
  g_ptr_array_add (argv, (gpointer) address);
  g_ptr_array_add (argv, (gpointer) "--");
  for (const char * const *a = command; *a != NULL; a++)
    g_ptr_array_add (argv, (gpointer) *a);
  g_ptr_array_add (argv, NULL);

  launcher = g_subprocess_launcher_new (flags);
  g_subprocess_launcher_take_fd (launcher, info_fd, 3);
  proc = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);
  return proc;
}

/* Runs `gdbus call` of @method (with @arg, if any) on @path in a sandbox
 * that is, to the daemon, the Flatpak app @app_id (see spawn_sandboxed()).
 * Returns the exit status; @out_text gets stdout and stderr. */
static int
call_sandboxed (Fixture     *f,
                const char  *app_id,
                const char  *path,
                const char  *method,
                const char  *arg,
                char       **out_text)
{
  g_autofree char *full_method = g_strconcat ("org.bursar.Bursar1.Account.", method, NULL);
  const char *command[] = { "/usr/bin/gdbus", "call", "--session", "--dest", "org.bursar.Bursar1",
                            "--object-path", path, "--method", full_method, arg, NULL };
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;

  proc = spawn_sandboxed (f, app_id, command,
                          G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_communicate_utf8 (proc, NULL, NULL, &out, &err, &error);
  g_assert_no_error (error);
  *out_text = g_strconcat (out != NULL ? out : "", err != NULL ? err : "", NULL);
  return g_subprocess_get_exit_status (proc);
}

/* Every hand-out is logged with the caller; the first one of an account to
 * a connection at message level (the journal keeps it without --verbose),
 * the repeats at info level. */
static void
test_hand_out_log (Fixture       *f,
                   gconstpointer  data)
{
  g_autofree char *path = bursar_test_add_ready_account (f->env);
  g_autofree char *id = g_path_get_basename (path);
  g_autoptr(GDBusConnection) other = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autofree char *log = NULL;
  g_autofree char *repeat = NULL;
  g_autofree char *from_other = NULL;
  g_autofree char *pid = g_strdup_printf ("(pid %d, ", (int) getpid ());

  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *token = bursar_test_get_access_token (f->env, path, NULL, &error);

      g_assert_no_error (error);
      g_assert_nonnull (token);
    }
  other = bursar_test_new_connection (f->env);
  reply = g_dbus_connection_call_sync (other, "org.bursar.Bursar1", path, BURSAR_TEST_ACCOUNT_IFACE,
                                       "GetAccessToken", NULL, G_VARIANT_TYPE ("(si)"),
                                       G_DBUS_CALL_FLAGS_NONE, BURSAR_TEST_CALL_TIMEOUT_MS,
                                       NULL, &error);
  g_assert_no_error (error);

  repeat = g_strdup_printf ("Token of account %s handed to %s %s",
                            id, g_dbus_connection_get_unique_name (f->bus), pid);
  from_other = g_strdup_printf ("Token of account %s handed to %s %s",
                                id, g_dbus_connection_get_unique_name (other), pid);
  log = bursar_test_env_daemon_log (f->env);
  /* Three hand-outs on the test's connection, one on the other. */
  g_assert_cmpuint (bursar_test_count_occurrences (log, repeat), ==, 3);
  g_assert_cmpuint (bursar_test_count_occurrences (log, from_other), ==, 1);
  {
    g_auto(GStrv) lines = g_strsplit (log, "\n", -1);
    guint messages = 0, infos = 0, other_messages = 0;

    for (guint i = 0; lines[i] != NULL; i++)
      {
        if (strstr (lines[i], repeat) != NULL)
          {
            if (g_str_has_prefix (lines[i], "bursar-Message:"))
              messages++;
            else if (g_str_has_prefix (lines[i], "bursar-INFO:"))
              infos++;
          }
        if (strstr (lines[i], from_other) != NULL && g_str_has_prefix (lines[i], "bursar-Message:"))
          other_messages++;
      }
    g_assert_cmpuint (messages, ==, 1);
    g_assert_cmpuint (infos, ==, 2);
    g_assert_cmpuint (other_messages, ==, 1);
  }
  g_dbus_connection_close_sync (other, NULL, NULL);
}

static void
test_flatpak_allow_list (Fixture       *f,
                         gconstpointer  data)
{
  g_autofree char *path = bursar_test_add_ready_account (f->env);
  g_autofree char *text = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  gint64 requests;
  int status;

  g_assert_nonnull (g_find_program_in_path ("bwrap"));
  requests = bursar_test_mock_grant_count (f->env, "refresh_token") +
             bursar_test_mock_grant_count (f->env, "authorization_code");

  /* Not on the account's list: refused, and no provider is asked. */
  status = call_sandboxed (f, "org.example.Books", path, "GetAccessToken", NULL, &text);
  g_assert_cmpint (status, !=, 0);
  g_assert_nonnull (strstr (text, "org.bursar.Bursar1.Error.AccessDenied"));
  g_assert_null (strstr (text, "at-"));
  g_clear_pointer (&text, g_free);
  status = call_sandboxed (f, "org.example.Books", path, "Refresh", NULL, &text);
  g_assert_nonnull (strstr (text, "org.bursar.Bursar1.Error.AccessDenied"));
  g_clear_pointer (&text, g_free);
  g_assert_cmpint (bursar_test_mock_grant_count (f->env, "refresh_token") +
                   bursar_test_mock_grant_count (f->env, "authorization_code"), ==, requests);

  /* A sandbox cannot grant itself. */
  status = call_sandboxed (f, "org.example.Books", path, "AllowApp", "org.example.Books", &text);
  g_assert_nonnull (strstr (text, "org.bursar.Bursar1.Error.AccessDenied"));
  g_clear_pointer (&text, g_free);

  /* The user grants it from outside. */
  reply = bursar_test_call (f->env, path, BURSAR_TEST_ACCOUNT_IFACE, "AllowApp",
                            g_variant_new ("(s)", "org.example.Books"), NULL, &error);
  g_assert_no_error (error);
  status = call_sandboxed (f, "org.example.Books", path, "GetAccessToken", NULL, &text);
  g_assert_cmpint (status, ==, 0);
  g_assert_nonnull (strstr (text, "at-"));
  g_clear_pointer (&text, g_free);

  /* Another app is still refused; a revoked grant refuses again. */
  status = call_sandboxed (f, "org.example.Other", path, "GetAccessToken", NULL, &text);
  g_assert_nonnull (strstr (text, "org.bursar.Bursar1.Error.AccessDenied"));
  g_clear_pointer (&text, g_free);
  g_clear_pointer (&reply, g_variant_unref);
  reply = bursar_test_call (f->env, path, BURSAR_TEST_ACCOUNT_IFACE, "DenyApp",
                            g_variant_new ("(s)", "org.example.Books"), NULL, &error);
  g_assert_no_error (error);
  status = call_sandboxed (f, "org.example.Books", path, "GetAccessToken", NULL, &text);
  g_assert_nonnull (strstr (text, "org.bursar.Bursar1.Error.AccessDenied"));

  /* The hand-out to the allowed app was logged with its app id, no token. */
  {
    g_autofree char *log = bursar_test_env_daemon_log (f->env);

    g_assert_nonnull (strstr (log, "org.example.Books)"));
  }
}

/* --- repeated calls on one connection -------------------------------- */

/* GetAccessToken() repeated on one connection is answered from the
 * daemon's copy on GDBus's worker thread (daemon/bursar-fast-path.c).
 * What a caller sees must not change: a refresh, a removal or a revoked
 * grant is seen by the very next call. */

/* `test-faults --client PATH`: an app that keeps its bus connection. For
 * every line on stdin it calls GetAccessToken() on PATH and prints
 * "token T" or "error NAME". */
static int
run_client (const char *path)
{
  g_autoptr(GDBusConnection) bus = NULL;
  g_autoptr(GError) error = NULL;
  char line[64];

  bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &error);
  if (bus == NULL)
    {
      g_printerr ("client: %s\n", error->message);
      return 1;
    }
  while (fgets (line, sizeof line, stdin) != NULL)
    {
      g_autoptr(GVariant) reply = NULL;
      g_autoptr(GError) call_error = NULL;

      reply = g_dbus_connection_call_sync (bus, "org.bursar.Bursar1", path,
                                           BURSAR_TEST_ACCOUNT_IFACE, "GetAccessToken", NULL,
                                           G_VARIANT_TYPE ("(si)"), G_DBUS_CALL_FLAGS_NONE,
                                           BURSAR_TEST_CALL_TIMEOUT_MS, NULL, &call_error);
      if (reply != NULL)
        {
          const char *token;

          g_variant_get (reply, "(&si)", &token, NULL);
          printf ("token %s\n", token);
        }
      else
        {
          g_autofree char *name = g_dbus_error_get_remote_error (call_error);

          printf ("error %s\n", name != NULL ? name : "?");
        }
      fflush (stdout);
    }
  return 0;
}

/* One GetAccessToken() of a client started by run_client(): its answer. */
static char *
client_ask (GSubprocess      *client,
            GDataInputStream *answers)
{
  g_autoptr(GError) error = NULL;
  char *line;

  g_assert_true (g_output_stream_write_all (g_subprocess_get_stdin_pipe (client),
                                            "GetAccessToken\n", strlen ("GetAccessToken\n"),
                                            NULL, NULL, &error));
  g_assert_no_error (error);
  line = g_data_input_stream_read_line_utf8 (answers, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (line);
  return line;
}

static void
set_app_allowed (Fixture    *f,
                 const char *path,
                 const char *method)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;

  reply = bursar_test_call (f->env, path, BURSAR_TEST_ACCOUNT_IFACE, method,
                            g_variant_new ("(s)", "org.example.Books"), NULL, &error);
  g_assert_no_error (error);
}

/* A sandboxed app that keeps its connection loses the account with the
 * grant, on its next call, and gets it back with a new grant. */
static void
test_repeat_follows_grant (Fixture       *f,
                           gconstpointer  data)
{
  g_autofree char *path = bursar_test_add_ready_account (f->env);
  g_autofree char *self_exe = g_file_read_link ("/proc/self/exe", NULL);
  g_autoptr(GSubprocess) client = NULL;
  g_autoptr(GDataInputStream) answers = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *first = NULL;
  g_autofree char *second = NULL;
  g_autofree char *denied = NULL;
  g_autofree char *again = NULL;

  g_assert_nonnull (self_exe);
  set_app_allowed (f, path, "AllowApp");
  client = spawn_sandboxed (f, "org.example.Books",
                            (const char * const[]) { self_exe, "--client", path, NULL },
                            G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  answers = g_data_input_stream_new (g_subprocess_get_stdout_pipe (client));

  first = client_ask (client, answers);
  /* An error is shown; a token is not. */
  if (!g_str_has_prefix (first, "token "))
    g_error ("The sandboxed client got no token: %s", first);
  g_assert_true (g_str_has_prefix (first, "token at-"));
  second = client_ask (client, answers);
  g_assert_cmpstr (second, ==, first);

  set_app_allowed (f, path, "DenyApp");
  denied = client_ask (client, answers);
  g_assert_cmpstr (denied, ==, "error org.bursar.Bursar1.Error.AccessDenied");

  set_app_allowed (f, path, "AllowApp");
  again = client_ask (client, answers);
  g_assert_cmpstr (again, ==, first);

  g_assert_true (g_output_stream_close (g_subprocess_get_stdin_pipe (client), NULL, &error));
  g_assert_no_error (error);
  g_assert_true (g_subprocess_wait_check (client, NULL, &error));
  g_assert_no_error (error);
}

typedef struct
{
  GVariant *reply;
  guint *pending;
} CallSlot;

static void
call_done_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  CallSlot *slot = user_data;
  g_autoptr(GError) error = NULL;

  slot->reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  g_assert_no_error (error);
  (*slot->pending)--;
}

static char *
token_of (GVariant *reply)
{
  char *token = NULL;

  g_variant_get (reply, "(si)", &token, NULL);
  return token;
}

/* The test's connection asks repeatedly while another connection
 * refreshes and removes the account; a Refresh() sent just before a
 * GetAccessToken() on the same connection is waited for by it. */
static void
test_repeat_follows_changes (Fixture       *f,
                             gconstpointer  data)
{
  g_autofree char *x = bursar_test_add_ready_account (f->env);
  g_autofree char *y = bursar_test_add_ready_account (f->env);
  g_autoptr(GDBusConnection) other = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  guint pending = 2;
  CallSlot refreshed = { NULL, &pending };
  CallSlot asked = { NULL, &pending };
  g_autofree char *t1 = NULL;
  g_autofree char *t1_again = NULL;
  g_autofree char *t2 = NULL;
  g_autofree char *seen = NULL;
  g_autofree char *seen_again = NULL;
  g_autofree char *ty = NULL;
  g_autofree char *ty_again = NULL;
  g_autofree char *from_refresh = NULL;
  g_autofree char *from_get = NULL;
  g_autofree char *after_remove = NULL;
  gint64 refreshes;

  t1 = bursar_test_get_access_token (f->env, x, NULL, &error);
  g_assert_no_error (error);
  t1_again = bursar_test_get_access_token (f->env, x, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (t1_again, ==, t1);
  refreshes = bursar_test_mock_grant_count (f->env, "refresh_token");

  /* Another app got a 401 and refreshes: this connection sees the new
   * token at once. */
  other = bursar_test_new_connection (f->env);
  reply = g_dbus_connection_call_sync (other, "org.bursar.Bursar1", x, BURSAR_TEST_ACCOUNT_IFACE,
                                       "Refresh", NULL, G_VARIANT_TYPE ("(si)"),
                                       G_DBUS_CALL_FLAGS_NONE, BURSAR_TEST_CALL_TIMEOUT_MS,
                                       NULL, &error);
  g_assert_no_error (error);
  t2 = token_of (reply);
  g_assert_cmpstr (t2, !=, t1);
  g_assert_cmpint (bursar_test_mock_grant_count (f->env, "refresh_token"), ==, refreshes + 1);
  seen = bursar_test_get_access_token (f->env, x, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (seen, ==, t2);
  seen_again = bursar_test_get_access_token (f->env, x, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (seen_again, ==, t2);

  /* Refresh() and GetAccessToken() sent back to back, without waiting:
   * the second is answered with the first's new token. */
  ty = bursar_test_get_access_token (f->env, y, NULL, &error);
  g_assert_no_error (error);
  ty_again = bursar_test_get_access_token (f->env, y, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (ty_again, ==, ty);
  g_dbus_connection_call (f->bus, "org.bursar.Bursar1", y, BURSAR_TEST_ACCOUNT_IFACE, "Refresh",
                          NULL, G_VARIANT_TYPE ("(si)"), G_DBUS_CALL_FLAGS_NONE,
                          BURSAR_TEST_CALL_TIMEOUT_MS, NULL, call_done_cb, &refreshed);
  g_dbus_connection_call (f->bus, "org.bursar.Bursar1", y, BURSAR_TEST_ACCOUNT_IFACE,
                          "GetAccessToken", NULL, G_VARIANT_TYPE ("(si)"), G_DBUS_CALL_FLAGS_NONE,
                          BURSAR_TEST_CALL_TIMEOUT_MS, NULL, call_done_cb, &asked);
  bursar_test_wait_pending (&pending);
  from_refresh = token_of (refreshed.reply);
  from_get = token_of (asked.reply);
  g_variant_unref (refreshed.reply);
  g_variant_unref (asked.reply);
  g_assert_cmpstr (from_refresh, !=, ty);
  g_assert_cmpstr (from_get, ==, from_refresh);

  /* Removed by another app: no token for anyone any more. */
  g_clear_pointer (&reply, g_variant_unref);
  reply = g_dbus_connection_call_sync (other, "org.bursar.Bursar1", x, BURSAR_TEST_ACCOUNT_IFACE,
                                       "Remove", NULL, NULL, G_DBUS_CALL_FLAGS_NONE,
                                       BURSAR_TEST_CALL_TIMEOUT_MS, NULL, &error);
  g_assert_no_error (error);
  after_remove = bursar_test_get_access_token (f->env, x, NULL, &error);
  g_assert_null (after_remove);
  g_assert_true (g_dbus_error_is_remote_error (error));
  g_dbus_connection_close_sync (other, NULL, NULL);
}

int
main (int   argc,
      char *argv[])
{
  if (argc == 3 && g_str_equal (argv[1], "--client"))
    return run_client (argv[2]);

  g_test_init (&argc, &argv, NULL);

#define ADD(name, func) \
  g_test_add ("/faults/" name, Fixture, NULL, bursar_test_fixture_setup, func, \
              bursar_test_fixture_teardown)

  ADD ("wrong-nonce", test_wrong_nonce);
  ADD ("wrong-audience", test_wrong_audience);
  ADD ("wrong-id-token-issuer", test_wrong_id_token_issuer);
  ADD ("expired-id-token", test_expired_id_token);
  ADD ("subject-changes-on-refresh", test_subject_changes_on_refresh);
  ADD ("iss-mismatch", test_iss_mismatch);
  ADD ("refresh-storm", test_refresh_storm);
  ADD ("keyring-unavailable-then-back", test_keyring_unavailable_then_back);
  ADD ("keyring-restarted-keeps-rotation", test_keyring_restarted_keeps_rotation);
  ADD ("replace", test_replace);
  ADD ("reauthorization-notification", test_reauthorization_notification);
  ADD ("browser-through-portal", test_browser_through_portal);
  ADD ("flatpak-allow-list", test_flatpak_allow_list);
  ADD ("hand-out-log", test_hand_out_log);
  ADD ("repeat-follows-grant", test_repeat_follows_grant);
  ADD ("repeat-follows-changes", test_repeat_follows_changes);

  return g_test_run ();
}
