/* test-faults.c: bursard under attack and under faults — forged ID
 * tokens, mix-up, refresh storms, a keyring that goes away, a second
 * daemon — with the same real components as test-daemon.c.
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
  bursar_test_env_assert_no_secrets (f->env);
  g_clear_pointer (&f->env, bursar_test_env_free);
}

static GVariant *
call (Fixture     *f,
      const char  *path,
      const char  *iface,
      const char  *method,
      GVariant    *params,
      const char  *reply_type,
      GError     **error)
{
  return g_dbus_connection_call_sync (f->bus, "org.bursar.Bursar1", path, iface, method, params,
                                      reply_type != NULL ? G_VARIANT_TYPE (reply_type) : NULL,
                                      G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL, error);
}

static char *
get_string_property (Fixture    *f,
                     const char *path,
                     const char *name)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = call (f, path, "org.freedesktop.DBus.Properties", "Get",
                                    g_variant_new ("(ss)", "org.bursar.Bursar1.Account", name),
                                    "(v)", &error);
  g_autoptr(GVariant) value = NULL;

  g_assert_no_error (error);
  g_variant_get (reply, "(v)", &value);
  return g_variant_dup_string (value, NULL);
}

static char *
add_oidc (Fixture *f)
{
  g_auto(GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  char *path = NULL;

  g_variant_builder_add (&builder, "{sv}", "issuer",
                         g_variant_new_string (bursar_test_env_get_mock_url (f->env)));
  g_variant_builder_add (&builder, "{sv}", "client_id", g_variant_new_string ("test-client"));
  g_variant_builder_add (&builder, "{sv}", "client_secret", g_variant_new_string ("test-secret-CANARY"));
  reply = call (f, "/org/bursar/Bursar1", "org.bursar.Bursar1.Manager", "AddAccount",
                g_variant_new ("(sa{sv})", "oidc", &builder), "(o)", &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(o)", &path);
  return path;
}

static void
authorize (Fixture    *f,
           const char *path)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = call (f, path, "org.bursar.Bursar1.Account", "Authorize",
                                    g_variant_new ("(a{sv})", NULL), "(s)", &error);

  g_assert_no_error (error);
  g_assert_nonnull (reply);
}

static gboolean
timeout_cb (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

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
add_ready (Fixture *f)
{
  char *path = add_oidc (f);
  g_autofree char *state = NULL;

  authorize (f, path);
  state = wait_state_leaves (f, path, "authorizing");
  g_assert_cmpstr (state, ==, "ready");
  return path;
}

static gint64
grant_count (Fixture    *f,
             const char *grant)
{
  g_autoptr(JsonObject) stats = bursar_test_env_mock_stats (f->env);
  JsonObject *by_grant = json_object_get_object_member (stats, "token_requests_by_grant");

  if (by_grant == NULL || !json_object_has_member (by_grant, grant))
    return 0;
  return json_object_get_int_member (by_grant, grant);
}

static char *
get_token (Fixture    *f,
           const char *path,
           guint32     min_valid,
           GError    **error)
{
  g_auto(GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  g_autoptr(GVariant) reply = NULL;
  char *token = NULL;

  g_variant_builder_add (&builder, "{sv}", "min_valid", g_variant_new_uint32 (min_valid));
  reply = call (f, path, "org.bursar.Bursar1.Account", "GetToken",
                g_variant_new ("(a{sv})", &builder), "(sa{sv})", error);
  if (reply != NULL)
    g_variant_get (reply, "(s@a{sv})", &token, NULL);
  return token;
}

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
  path = add_oidc (f);
  authorize (f, path);
  state = wait_state_leaves (f, path, "authorizing");
  g_assert_cmpstr (state, ==, "needs-authorization");
  last_error = get_string_property (f, path, "LastError");
  g_assert_cmpstr (last_error, !=, "");

  token = get_token (f, path, 60, &error);
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
  g_autofree char *path = add_ready (f);
  g_autoptr(GError) error = NULL;
  g_autofree char *token = NULL;
  g_autofree char *state = NULL;

  bursar_test_env_mock_configure (f->env, "{\"id_token_claims\": {\"sub\": \"somebody-else\"}}");
  token = get_token (f, path, 7200, &error);
  g_assert_null (token);
  g_assert_cmpstr (g_dbus_error_get_remote_error (error), ==, "org.bursar.Bursar1.Error.Provider");
  g_clear_error (&error);

  /* The account is not silently switched to another user, nor dropped. */
  state = get_string_property (f, path, "State");
  g_assert_cmpstr (state, ==, "ready");
  bursar_test_env_mock_configure (f->env, "{\"id_token_claims\": {}}");
  g_free (token);
  token = get_token (f, path, 7200, &error);
  g_assert_no_error (error);
}

/* --- mix-up (RFC 9207) -------------------------------------------------- */

static void
test_iss_mismatch (Fixture       *f,
                   gconstpointer  data)
{
  g_autofree char *path = NULL;
  g_autofree char *state = NULL;
  gboolean timed_out = FALSE;
  guint id;

  bursar_test_env_mock_configure (f->env, "{\"iss_mode\": \"wrong\"}");
  path = add_oidc (f);
  authorize (f, path);

  /* Wait until the browser has been and gone; its callback was refused. */
  id = g_timeout_add_seconds (WAIT_SECONDS, timeout_cb, &timed_out);
  while (!timed_out)
    {
      g_autoptr(JsonObject) stats = bursar_test_env_mock_stats (f->env);

      if (json_object_get_int_member (stats, "authorize_requests") >= 1)
        break;
      g_usleep (20 * 1000);
    }
  g_source_remove (id);
  g_usleep (500 * 1000);

  state = get_string_property (f, path, "State");
  g_assert_cmpstr (state, ==, "authorizing");
  g_assert_cmpint (grant_count (f, "authorization_code"), ==, 0);

  /* A new attempt against an honest server succeeds. */
  bursar_test_env_mock_configure (f->env, "{\"iss_mode\": \"correct\"}");
  authorize (f, path);
  g_free (state);
  state = wait_state_leaves (f, path, "authorizing");
  g_assert_cmpstr (state, ==, "ready");
  g_assert_cmpint (grant_count (f, "authorization_code"), ==, 1);
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
  g_autofree char *path = add_ready (f);
  StormData sd = { 0 };
  gboolean timed_out = FALSE;
  guint id;

  for (guint i = 0; i < 50; i++)
    {
      sd.pending++;
      g_dbus_connection_call (f->bus, "org.bursar.Bursar1", path, "org.bursar.Bursar1.Account",
                              "Refresh", NULL, G_VARIANT_TYPE ("(si)"), G_DBUS_CALL_FLAGS_NONE,
                              CALL_TIMEOUT_MS, NULL, storm_cb, &sd);
      g_usleep (20 * 1000); /* 50 calls over one second */
      g_main_context_iteration (NULL, FALSE);
    }
  id = g_timeout_add_seconds (WAIT_SECONDS, timeout_cb, &timed_out);
  while (sd.pending > 0 && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  g_assert_false (timed_out);
  g_source_remove (id);

  g_assert_cmpuint (sd.ok, ==, 50);
  g_assert_cmpint (grant_count (f, "refresh_token"), ==, 1);
}

/* --- the keyring -------------------------------------------------------- */

static void
test_keyring_unavailable_then_back (Fixture       *f,
                                    gconstpointer  data)
{
  g_autofree char *path = add_ready (f);
  g_autoptr(GError) error = NULL;
  g_autofree char *token = NULL;
  g_autoptr(GVariant) reply = NULL;

  /* A fresh daemon with no Secret Service on the bus. */
  bursar_test_env_stop_daemon (f->env, SIGTERM);
  bursar_test_env_stop_keyring (f->env);
  bursar_test_env_start_daemon (f->env, NULL);

  token = get_token (f, path, 60, &error);
  g_assert_null (token);
  g_assert_cmpstr (g_dbus_error_get_remote_error (error), ==,
                   "org.bursar.Bursar1.Error.KeyringUnavailable");
  g_clear_error (&error);

  /* Still running, still answering, the account unchanged. */
  reply = call (f, "/org/bursar/Bursar1", "org.bursar.Bursar1.Manager", "ListProviders",
                NULL, "(aa{sv})", &error);
  g_assert_no_error (error);
  {
    g_autofree char *state = get_string_property (f, path, "State");

    g_assert_cmpstr (state, ==, "ready");
  }

  /* The keyring comes back: no restart, no browser. */
  bursar_test_env_start_keyring (f->env);
  token = get_token (f, path, 60, &error);
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
  path = add_ready (f);
  first = get_token (f, path, 60, &error);
  g_assert_no_error (error);

  /* The keyring daemon restarts under us; the next rotation must still
   * reach the new one, or the grant is lost with the next crash. */
  bursar_test_env_stop_keyring (f->env);
  bursar_test_env_start_keyring (f->env);
  second = get_token (f, path, 7200, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (second, !=, first);

  /* Give a failed first write its retry (back-off starts at 2 s). */
  g_usleep (3 * G_USEC_PER_SEC);
  bursar_test_env_stop_daemon (f->env, SIGKILL);
  bursar_test_env_start_daemon (f->env, NULL);
  third = get_token (f, path, 7200, &error);
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
  id = g_timeout_add_seconds (WAIT_SECONDS, timeout_cb, &timed_out);
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

  path = add_ready (f);
  bursar_test_env_mock_configure (f->env,
                                  "{\"fail_next\": [{\"status\": 400, \"content_type\": \"application/json\","
                                  " \"body\": \"{\\\"error\\\":\\\"invalid_grant\\\"}\"}]}");
  token = get_token (f, path, 7200, &error);
  g_assert_cmpstr (g_dbus_error_get_remote_error (error), ==,
                   "org.bursar.Bursar1.Error.NeedsAuthorization");
  g_clear_error (&error);

  id = g_timeout_add_seconds (WAIT_SECONDS, timeout_cb, &timed_out);
  while (server.notify_calls == 0 && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  g_assert_false (timed_out);
  g_assert_cmpuint (server.notify_calls, ==, 1);
  g_assert_true (server.has_sign_in_action);
  g_assert_nonnull (strstr (server.last_summary, "OpenID Connect"));
  g_assert_nonnull (strstr (server.last_body, "alice@example.test"));

  /* More failures: still one notification. */
  token = get_token (f, path, 7200, &error);
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
      state = get_string_property (f, path, "State");
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

/* --- sandboxed callers ------------------------------------------------ */

/* Runs `gdbus call` for @method on @path inside a bubblewrap sandbox whose
 * root has a /.flatpak-info naming @app_id: to the daemon, a Flatpak app
 * as the portal sees one. Returns the exit status; @out_text gets stdout
 * and stderr. */
static int
call_sandboxed (Fixture     *f,
                const char  *app_id,
                const char  *path,
                const char  *method,
                const char  *arg,
                char       **out_text)
{
  g_autofree char *info_path = g_build_filename (bursar_test_env_get_tmpdir (f->env),
                                                 "flatpak-info", NULL);
  g_autofree char *info = g_strdup_printf ("[Application]\nname=%s\n", app_id);
  g_autofree char *full_method = g_strconcat ("org.bursar.Bursar1.Account.", method, NULL);
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *socket_dir = NULL;
  const char *address = bursar_test_env_get_bus_address (f->env);

  g_assert_true (g_file_set_contents (info_path, info, -1, NULL));
  g_ptr_array_add (argv, (gpointer) "bwrap");
  for (const char * const *a = (const char * const[]) {
         "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc",
         "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
         "--symlink", "usr/bin", "/bin", "--proc", "/proc", "--dev", "/dev",
         "--tmpfs", "/tmp", NULL }; *a != NULL; a++)
    g_ptr_array_add (argv, (gpointer) *a);
  g_ptr_array_add (argv, (gpointer) "--ro-bind");
  g_ptr_array_add (argv, info_path);
  g_ptr_array_add (argv, (gpointer) "/.flatpak-info");
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
  g_ptr_array_add (argv, (gpointer) "--setenv");
  g_ptr_array_add (argv, (gpointer) "DBUS_SESSION_BUS_ADDRESS");
  g_ptr_array_add (argv, (gpointer) address);
  for (const char * const *a = (const char * const[]) {
         "--", "/usr/bin/gdbus", "call", "--session", "--dest", "org.bursar.Bursar1",
         "--object-path", NULL }; *a != NULL; a++)
    g_ptr_array_add (argv, (gpointer) *a);
  g_ptr_array_add (argv, (gpointer) path);
  g_ptr_array_add (argv, (gpointer) "--method");
  g_ptr_array_add (argv, full_method);
  if (arg != NULL)
    g_ptr_array_add (argv, (gpointer) arg);
  g_ptr_array_add (argv, NULL);

  proc = g_subprocess_newv ((const char * const *) argv->pdata,
                            G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                            &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (proc, NULL, NULL, &out, &err, &error);
  g_assert_no_error (error);
  *out_text = g_strconcat (out != NULL ? out : "", err != NULL ? err : "", NULL);
  return g_subprocess_get_exit_status (proc);
}

static void
test_flatpak_allow_list (Fixture       *f,
                         gconstpointer  data)
{
  g_autofree char *path = add_ready (f);
  g_autofree char *text = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  gint64 requests;
  int status;

  g_assert_nonnull (g_find_program_in_path ("bwrap"));
  requests = grant_count (f, "refresh_token") + grant_count (f, "authorization_code");

  /* Not on the account's list: refused, and no provider is asked. */
  status = call_sandboxed (f, "org.example.Books", path, "GetAccessToken", NULL, &text);
  g_assert_cmpint (status, !=, 0);
  g_assert_nonnull (strstr (text, "org.bursar.Bursar1.Error.AccessDenied"));
  g_assert_null (strstr (text, "at-"));
  g_clear_pointer (&text, g_free);
  status = call_sandboxed (f, "org.example.Books", path, "Refresh", NULL, &text);
  g_assert_nonnull (strstr (text, "org.bursar.Bursar1.Error.AccessDenied"));
  g_clear_pointer (&text, g_free);
  g_assert_cmpint (grant_count (f, "refresh_token") + grant_count (f, "authorization_code"), ==, requests);

  /* A sandbox cannot grant itself. */
  status = call_sandboxed (f, "org.example.Books", path, "AllowApp", "org.example.Books", &text);
  g_assert_nonnull (strstr (text, "org.bursar.Bursar1.Error.AccessDenied"));
  g_clear_pointer (&text, g_free);

  /* The user grants it from outside. */
  reply = call (f, path, "org.bursar.Bursar1.Account", "AllowApp",
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
  reply = call (f, path, "org.bursar.Bursar1.Account", "DenyApp",
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

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(name, func) \
  g_test_add ("/faults/" name, Fixture, NULL, fixture_setup, func, fixture_teardown)

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
  ADD ("flatpak-allow-list", test_flatpak_allow_list);

  return g_test_run ();
}
