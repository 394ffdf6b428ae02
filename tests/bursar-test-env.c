/* bursar-test-env.c: the real-component test environment.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
/* memmem(): files are scanned as bytes, not strings. */
#define _GNU_SOURCE

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <libsecret/secret.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bursar-test-env.h"

#define BURSAR_BUS_NAME "org.bursar.Bursar1"
#define SECRETS_BUS_NAME "org.freedesktop.secrets"
#define START_TIMEOUT_MS 10000
#define WRAPPED_START_TIMEOUT_MS 60000
#define STOP_TIMEOUT_MS 10000
#define KILL_GRACE_MS 2000
#define KILL_TIMEOUT_MS 5000
#define POLL_INTERVAL_MS 20
#define HTTP_TIMEOUT_SECONDS 10
#define LOG_TAIL_BYTES 4096
#define MAX_SCAN_DEPTH 32
#define MAX_SCAN_FILES 100000
#define MAX_SCAN_FILE_BYTES (256 * 1024 * 1024)
#define MAX_RM_DEPTH 64

/* A child process and whether it has been reaped. The exit callback only
 * touches the Child through this struct, which outlives the process. */
typedef struct
{
  char *name; /* (owned) */
  GSubprocess *process; /* (owned) */
  GCancellable *cancellable; /* (owned) */
  gboolean exited;
} Child;

struct _BursarTestEnv
{
  char *tmpdir;       /* (owned) */
  char *home;         /* (owned) */
  char *config_home;  /* (owned) */
  char *data_home;    /* (owned) */
  char *cache_home;   /* (owned) */
  char *runtime_dir;  /* (owned) */
  char *keyring_dir;  /* (owned) */
  char *browser_log;  /* (owned) */
  char *daemon_log;   /* (owned) */
  char *keyring_log;  /* (owned) */

  GDBusConnection *bus;  /* (owned) */
  SoupSession *http;     /* (owned) */

  Child *keyring; /* (owned) (nullable) */
  Child *mock;    /* (owned) (nullable) */
  Child *daemon;  /* (owned) (nullable) */
  char *mock_url; /* (owned) */
};

/* --- main loop helpers ------------------------------------------------------ */

static gboolean
set_flag_cb (gpointer user_data)
{
  gboolean *flag = user_data;

  *flag = TRUE;
  return G_SOURCE_REMOVE;
}

/* Iterates the default main context until *@flag is set or @timeout_ms
 * passed; returns *@flag. */
static gboolean
iterate_until (const gboolean *flag,
               guint           timeout_ms)
{
  gboolean timed_out = FALSE;
  guint timeout_id = g_timeout_add (timeout_ms, set_flag_cb, &timed_out);

  while (!*flag && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (timeout_id);
  return *flag;
}

static void
iterate_for (guint ms)
{
  gboolean done = FALSE;

  g_timeout_add (ms, set_flag_cb, &done);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
}

static guint
start_timeout_ms (void)
{
  return g_getenv ("BURSAR_DAEMON_WRAPPER") != NULL ? WRAPPED_START_TIMEOUT_MS : START_TIMEOUT_MS;
}

/* --- children --------------------------------------------------------------- */

static void
child_exited_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  /* A cancelled wait means the Child is being freed: leave it alone. */
  if (!g_subprocess_wait_finish (G_SUBPROCESS (source), result, &error) &&
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  ((Child *) user_data)->exited = TRUE;
}

static Child *
child_spawn (const char          *name,
             GSubprocessLauncher *launcher,
             const char * const  *argv)
{
  g_autoptr(GError) error = NULL;
  Child *child = g_new0 (Child, 1);

  child->name = g_strdup (name);
  child->cancellable = g_cancellable_new ();
  child->process = g_subprocess_launcher_spawnv (launcher, argv, &error);
  if (child->process == NULL)
    g_error ("Cannot start %s: %s", name, error->message);
  g_subprocess_wait_async (child->process, child->cancellable, child_exited_cb, child);
  return child;
}

static gboolean
child_wait (Child *child,
            guint  timeout_ms)
{
  return iterate_until (&child->exited, timeout_ms);
}

/* SIGTERM, then SIGKILL after a grace period; then frees the Child. */
static void
child_stop_and_free (Child *child)
{
  if (child == NULL)
    return;

  if (!child->exited)
    {
      g_subprocess_send_signal (child->process, SIGTERM);
      if (!child_wait (child, KILL_GRACE_MS))
        {
          g_subprocess_force_exit (child->process);
          if (!child_wait (child, KILL_TIMEOUT_MS))
            {
              /* The exit callback still points at the Child; leaking it
               * is the only safe choice. */
              g_test_message ("%s did not die after SIGKILL", child->name);
              return;
            }
        }
    }

  g_cancellable_cancel (child->cancellable);
  g_clear_object (&child->cancellable);
  g_clear_object (&child->process);
  g_free (child->name);
  g_free (child);
}

static GPid
child_get_pid (Child *child)
{
  const char *id;

  if (child == NULL || child->exited)
    return 0;
  id = g_subprocess_get_identifier (child->process);
  return id != NULL ? (GPid) g_ascii_strtoll (id, NULL, 10) : 0;
}

/* A file descriptor appending to @path, for a child's stdout and stderr. */
static int
open_log (const char *path)
{
  int fd = open (path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);

  if (fd < 0)
    g_error ("Cannot open %s: %s", path, g_strerror (errno));
  return fd;
}

static char *
file_tail (const char *path)
{
  g_autofree char *contents = NULL;
  gsize len = 0;

  if (!g_file_get_contents (path, &contents, &len, NULL))
    return g_strdup ("(no log)");
  if (len <= LOG_TAIL_BYTES)
    return g_steal_pointer (&contents);
  return g_strdup (contents + len - LOG_TAIL_BYTES);
}

/* --- bus helpers ------------------------------------------------------------ */

/* The pid of the owner of @name, or 0 when it has none. */
static GPid
bus_name_owner_pid (GDBusConnection *bus,
                    const char      *name)
{
  g_autoptr(GVariant) reply = NULL;
  guint32 pid = 0;

  reply = g_dbus_connection_call_sync (bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus", "GetConnectionUnixProcessID",
                                       g_variant_new ("(s)", name), G_VARIANT_TYPE ("(u)"),
                                       G_DBUS_CALL_FLAGS_NONE, 5000, NULL, NULL);
  if (reply == NULL)
    return 0;
  g_variant_get (reply, "(u)", &pid);
  return (GPid) pid;
}

/* Waits until @name is owned by @child's process; fails the test if the
 * child dies or the wait times out. */
static void
wait_for_name (BursarTestEnv *env,
               Child         *child,
               const char    *name,
               const char    *log_path,
               guint          timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  GPid pid = child_get_pid (child);

  while (g_get_monotonic_time () < deadline)
    {
      /* Comparing pids and not just asking NameHasOwner: after a restart
       * the previous owner may not have been dropped by the bus yet. */
      if (bus_name_owner_pid (env->bus, name) == pid)
        return;
      if (child->exited)
        {
          g_autofree char *tail = file_tail (log_path);

          g_test_message ("%s log tail:\n%s", child->name, tail);
          g_error ("%s exited before owning %s", child->name, name);
        }
      iterate_for (POLL_INTERVAL_MS);
    }

  {
    g_autofree char *tail = file_tail (log_path);

    g_test_message ("%s log tail:\n%s", child->name, tail);
    g_error ("%s did not own %s within %u ms", child->name, name, timeout_ms);
  }
}

/* --- files ------------------------------------------------------------------ */

static void
make_dir (const char *path,
          int         mode)
{
  if (g_mkdir_with_parents (path, mode) != 0)
    g_error ("Cannot create %s: %s", path, g_strerror (errno));
}

static void
write_file (const char *path,
            const char *contents)
{
  g_autoptr(GError) error = NULL;

  if (!g_file_set_contents_full (path, contents, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, &error))
    g_error ("Cannot write %s: %s", path, error->message);
}

static void
remove_tree (const char *path,
             guint       depth)
{
  GStatBuf st;

  if (g_lstat (path, &st) != 0)
    return;
  if (S_ISDIR (st.st_mode) && depth < MAX_RM_DEPTH)
    {
      g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
      const char *entry;

      /* A test may have made a directory read-only. */
      g_chmod (path, 0700);
      while (dir != NULL && (entry = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, entry, NULL);

          remove_tree (child, depth + 1);
        }
      g_rmdir (path);
    }
  else
    g_unlink (path);
}

static const char *
required_env (const char *name)
{
  const char *value = g_getenv (name);

  if (value == NULL || *value == '\0')
    g_error ("$%s is not set; run the tests through meson test", name);
  return value;
}

static void
register_test_browser (BursarTestEnv *env)
{
  g_autofree char *apps = g_build_filename (env->data_home, "applications", NULL);
  g_autofree char *desktop_path = g_build_filename (apps, "bursar-test-browser.desktop", NULL);
  g_autofree char *mimeapps_path = g_build_filename (env->config_home, "mimeapps.list", NULL);
  g_autofree char *quoted = g_shell_quote (required_env ("BURSAR_TEST_BROWSER"));
  g_autofree char *desktop = NULL;

  make_dir (apps, 0700);
  desktop = g_strdup_printf ("[Desktop Entry]\n"
                             "Type=Application\n"
                             "Name=Bursar Test Browser\n"
                             "Exec=%s %%u\n"
                             "MimeType=x-scheme-handler/http;x-scheme-handler/https;\n"
                             "NoDisplay=true\n",
                             quoted);
  write_file (desktop_path, desktop);
  write_file (mimeapps_path,
              "[Default Applications]\n"
              "x-scheme-handler/http=bursar-test-browser.desktop\n"
              "x-scheme-handler/https=bursar-test-browser.desktop\n");
}

/* --- keyring ---------------------------------------------------------------- */

static const SecretSchema *
probe_schema (void)
{
  static const SecretSchema schema = {
    "org.bursar.TestProbe", SECRET_SCHEMA_NONE,
    {
      { "probe", SECRET_SCHEMA_ATTRIBUTE_STRING },
      { NULL, 0 },
    }
  };

  return &schema;
}

/* gnome-keyring makes the "login" collection from the unlock password, but
 * whether it is also the default alias depends on its version; libsecret
 * would try to create (and prompt for) a default collection otherwise. */
static void
ensure_default_collection (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(SecretService) service = NULL;
  g_autoptr(SecretCollection) current = NULL;
  GList *collections;

  service = secret_service_get_sync (SECRET_SERVICE_NONE, NULL, &error);
  g_assert_no_error (error);

  current = secret_collection_for_alias_sync (service, SECRET_COLLECTION_DEFAULT,
                                              SECRET_COLLECTION_NONE, NULL, &error);
  g_assert_no_error (error);
  if (current != NULL)
    return;

  secret_service_load_collections_sync (service, NULL, &error);
  g_assert_no_error (error);

  collections = secret_service_get_collections (service);
  for (GList *l = collections; l != NULL; l = l->next)
    {
      SecretCollection *collection = l->data;

      if (g_str_has_suffix (g_dbus_proxy_get_object_path (G_DBUS_PROXY (collection)), "/login"))
        {
          secret_service_set_alias_sync (service, SECRET_COLLECTION_DEFAULT, collection, NULL, &error);
          g_assert_no_error (error);
          break;
        }
    }
  g_list_free_full (collections, g_object_unref);
}

static void
verify_keyring (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *found = NULL;
  gboolean ok;

  ensure_default_collection ();
  ok = secret_password_store_sync (probe_schema (), SECRET_COLLECTION_DEFAULT, "Bursar test probe",
                                   "probe-value", NULL, &error, "probe", "1", NULL);
  g_assert_no_error (error);
  g_assert_true (ok);

  found = secret_password_lookup_sync (probe_schema (), NULL, &error, "probe", "1", NULL);
  g_assert_no_error (error);
  g_assert_cmpstr (found, ==, "probe-value");

  secret_password_clear_sync (probe_schema (), NULL, &error, "probe", "1", NULL);
  g_assert_no_error (error);
}

void
bursar_test_env_start_keyring (BursarTestEnv *env)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GError) error = NULL;
  GOutputStream *stdin_pipe;
  const char *argv[] = {
    "gnome-keyring-daemon", "--foreground", "--components=secrets", "--unlock", NULL
  };

  g_assert_null (env->keyring);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_subprocess_launcher_take_stdout_fd (launcher, open_log (env->keyring_log));
  /* gnome-keyring 42 warns ("asked to register item …, but it's already
   * registered") whenever an item is replaced; the suite's fatal-warnings
   * is for our code, not for it. */
  g_subprocess_launcher_unsetenv (launcher, "G_DEBUG");
  env->keyring = child_spawn ("gnome-keyring-daemon", launcher, argv);

  /* --unlock reads the password up to end-of-file. */
  stdin_pipe = g_subprocess_get_stdin_pipe (env->keyring->process);
  g_output_stream_write_all (stdin_pipe, BURSAR_TEST_KEYRING_PASSWORD,
                             strlen (BURSAR_TEST_KEYRING_PASSWORD), NULL, NULL, &error);
  g_assert_no_error (error);
  g_output_stream_close (stdin_pipe, NULL, &error);
  g_assert_no_error (error);

  wait_for_name (env, env->keyring, SECRETS_BUS_NAME, env->keyring_log, START_TIMEOUT_MS);

  /* libsecret caches a service and its session per process; both belong
   * to the keyring daemon that was there before. */
  secret_service_disconnect ();
  verify_keyring ();
}

void
bursar_test_env_stop_keyring (BursarTestEnv *env)
{
  g_assert_nonnull (env->keyring);
  secret_service_disconnect ();
  g_clear_pointer (&env->keyring, child_stop_and_free);
}

/* --- mock server ------------------------------------------------------------ */

typedef struct
{
  char *line; /* (owned) (nullable) */
  gboolean done;
} LineRead;

static void
read_line_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  LineRead *read = user_data;

  read->line = g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (source), result, NULL, NULL);
  read->done = TRUE;
}

static void
start_mock_server (BursarTestEnv *env)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GDataInputStream) stdout_stream = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  LineRead read = { NULL, FALSE };
  const char *argv[] = { required_env ("BURSAR_MOCK_SERVER"), NULL };

  /* stdin stays an open pipe: the server exits when it closes, so it
   * cannot outlive this process. */
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  env->mock = child_spawn ("bursar-mock-server", launcher, argv);

  stdout_stream = g_data_input_stream_new (g_subprocess_get_stdout_pipe (env->mock->process));
  g_data_input_stream_read_line_async (stdout_stream, G_PRIORITY_DEFAULT, cancellable,
                                       read_line_cb, &read);
  if (!iterate_until (&read.done, START_TIMEOUT_MS))
    {
      /* The callback must run before read goes out of scope. */
      g_cancellable_cancel (cancellable);
      while (!read.done)
        g_main_context_iteration (NULL, TRUE);
      g_error ("bursar-mock-server did not print its URL within %u ms", START_TIMEOUT_MS);
    }
  if (read.line == NULL || !g_str_has_prefix (read.line, "http://127.0.0.1:"))
    g_error ("bursar-mock-server did not print its URL");
  env->mock_url = g_steal_pointer (&read.line);
}

static GBytes *
mock_request (BursarTestEnv *env,
              const char    *method,
              const char    *path,
              const char    *json_body,
              guint         *out_status)
{
  g_autofree char *url = g_strconcat (env->mock_url, path, NULL);
  g_autoptr(SoupMessage) msg = soup_message_new (method, url);
  g_autoptr(GError) error = NULL;
  GBytes *body;

  if (json_body != NULL)
    {
      g_autoptr(GBytes) request = g_bytes_new (json_body, strlen (json_body));

      soup_message_set_request_body_from_bytes (msg, "application/json", request);
    }
  body = soup_session_send_and_read (env->http, msg, NULL, &error);
  g_assert_no_error (error);
  *out_status = soup_message_get_status (msg);
  return body;
}

const char *
bursar_test_env_get_mock_url (BursarTestEnv *env)
{
  return env->mock_url;
}

void
bursar_test_env_mock_configure (BursarTestEnv *env,
                                const char    *json)
{
  g_autoptr(GBytes) body = NULL;
  guint status = 0;

  body = mock_request (env, "POST", "/_control/config", json, &status);
  if (status != SOUP_STATUS_OK)
    g_error ("Mock configuration refused (HTTP %u): %.*s", status,
             (int) g_bytes_get_size (body), (const char *) g_bytes_get_data (body, NULL));
}

void
bursar_test_env_mock_reset (BursarTestEnv *env)
{
  g_autoptr(GBytes) body = NULL;
  guint status = 0;

  body = mock_request (env, "POST", "/_control/reset", "{}", &status);
  g_assert_cmpuint (status, ==, SOUP_STATUS_OK);
}

static JsonNode *
mock_get_json (BursarTestEnv *env,
               const char    *path)
{
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  guint status = 0;
  gsize len;
  const char *data;

  body = mock_request (env, "GET", path, NULL, &status);
  g_assert_cmpuint (status, ==, SOUP_STATUS_OK);
  data = g_bytes_get_data (body, &len);
  json_parser_load_from_data (parser, data, (gssize) len, &error);
  g_assert_no_error (error);
  return json_parser_steal_root (parser);
}

JsonObject *
bursar_test_env_mock_stats (BursarTestEnv *env)
{
  g_autoptr(JsonNode) root = mock_get_json (env, "/_control/stats");

  g_assert_true (JSON_NODE_HOLDS_OBJECT (root));
  return json_node_dup_object (root);
}

char **
bursar_test_env_mock_secrets (BursarTestEnv *env)
{
  g_autoptr(JsonNode) root = mock_get_json (env, "/_control/secrets");
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  JsonArray *array;

  g_assert_true (JSON_NODE_HOLDS_ARRAY (root));
  array = json_node_get_array (root);
  for (guint i = 0; i < json_array_get_length (array); i++)
    g_strv_builder_add (builder, json_array_get_string_element (array, i));
  return g_strv_builder_end (builder);
}

/* --- the environment -------------------------------------------------------- */

/* One private dbus-daemon per test process, shared by its environments.
 *
 * A bus per environment would be neater, but the session bus connection
 * of the process is a singleton that cannot be replaced while anything
 * still references it, and libsecret's sync calls leave such references
 * behind (D-Bus subscriptions bound to their private, never again iterated
 * main context). Everything else — keyring, mock server, daemon, files — is
 * per environment, and each environment stops its processes, so the bus
 * holds no names from one environment into the next.
 *
 * GTestDBus runs the bus from a config without service directories, so
 * nothing is ever activated behind a test's back, and its watcher process
 * kills the bus when this process exits, however it exits. */
static GTestDBus *private_bus;

static void
ensure_private_bus (void)
{
  if (private_bus != NULL)
    {
      g_setenv ("DBUS_SESSION_BUS_ADDRESS", g_test_dbus_get_bus_address (private_bus), TRUE);
      return;
    }

  /* g_test_dbus_up() clears DBUS_*, DISPLAY and XDG_RUNTIME_DIR; the
   * environment sets its own afterwards. */
  private_bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_up (private_bus);
}

BursarTestEnv *
bursar_test_env_new (void)
{
  return bursar_test_env_new_full (BURSAR_TEST_ENV_NONE);
}

BursarTestEnv *
bursar_test_env_new_full (BursarTestEnvFlags flags)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *data_dirs = NULL;
  BursarTestEnv *env = g_new0 (BursarTestEnv, 1);

  env->tmpdir = g_dir_make_tmp ("bursar-test-XXXXXX", &error);
  g_assert_no_error (error);
  env->home = g_build_filename (env->tmpdir, "home", NULL);
  env->config_home = g_build_filename (env->home, ".config", NULL);
  env->data_home = g_build_filename (env->home, ".local", "share", NULL);
  env->cache_home = g_build_filename (env->home, ".cache", NULL);
  env->runtime_dir = g_build_filename (env->tmpdir, "runtime", NULL);
  env->keyring_dir = g_build_filename (env->data_home, "keyrings", NULL);
  env->browser_log = g_build_filename (env->tmpdir, "browser.log", NULL);
  env->daemon_log = g_build_filename (env->tmpdir, "daemon.log", NULL);
  env->keyring_log = g_build_filename (env->tmpdir, "keyring.log", NULL);
  make_dir (env->config_home, 0700);
  make_dir (env->data_home, 0700);
  make_dir (env->cache_home, 0700);
  make_dir (env->runtime_dir, 0700);

  ensure_private_bus ();

  data_dirs = g_strconcat (env->data_home, ":/usr/share", NULL);
  g_setenv ("HOME", env->home, TRUE);
  g_setenv ("XDG_CONFIG_HOME", env->config_home, TRUE);
  g_setenv ("XDG_DATA_HOME", env->data_home, TRUE);
  g_setenv ("XDG_CACHE_HOME", env->cache_home, TRUE);
  g_setenv ("XDG_RUNTIME_DIR", env->runtime_dir, TRUE);
  g_setenv ("XDG_DATA_DIRS", data_dirs, TRUE);
  g_setenv ("BURSAR_TEST_BROWSER_LOG", env->browser_log, TRUE);
  /* No gvfs or dconf: neither has a service on the private bus. */
  g_setenv ("GIO_USE_VFS", "local", TRUE);
  g_setenv ("GSETTINGS_BACKEND", "memory", TRUE);
  g_unsetenv ("WAYLAND_DISPLAY");

  env->bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &error);
  g_assert_no_error (error);
  /* The bus goes away in bursar_test_env_free(), and with it this
   * connection; that must not end the test process. */
  g_dbus_connection_set_exit_on_close (env->bus, FALSE);

  env->http = soup_session_new_with_options ("timeout", HTTP_TIMEOUT_SECONDS, NULL);

  register_test_browser (env);
  if ((flags & BURSAR_TEST_ENV_NO_KEYRING) == 0)
    bursar_test_env_start_keyring (env);
  start_mock_server (env);
  return env;
}

void
bursar_test_env_free (BursarTestEnv *env)
{
  if (env == NULL)
    return;

  g_clear_pointer (&env->daemon, child_stop_and_free);

  /* The mock server exits by itself once its stdin closes. */
  if (env->mock != NULL && !env->mock->exited)
    {
      g_output_stream_close (g_subprocess_get_stdin_pipe (env->mock->process), NULL, NULL);
      child_wait (env->mock, KILL_GRACE_MS);
    }
  g_clear_pointer (&env->mock, child_stop_and_free);

  secret_service_disconnect ();
  g_clear_pointer (&env->keyring, child_stop_and_free);

  g_clear_object (&env->http);
  g_clear_object (&env->bus);

  remove_tree (env->tmpdir, 0);

  g_free (env->tmpdir);
  g_free (env->home);
  g_free (env->config_home);
  g_free (env->data_home);
  g_free (env->cache_home);
  g_free (env->runtime_dir);
  g_free (env->keyring_dir);
  g_free (env->browser_log);
  g_free (env->daemon_log);
  g_free (env->keyring_log);
  g_free (env->mock_url);
  g_free (env);
}

GDBusConnection *
bursar_test_env_get_bus (BursarTestEnv *env)
{
  return env->bus;
}

const char *
bursar_test_env_get_bus_address (BursarTestEnv *env)
{
  return g_test_dbus_get_bus_address (private_bus);
}

const char *
bursar_test_env_get_tmpdir (BursarTestEnv *env)
{
  return env->tmpdir;
}

const char *
bursar_test_env_get_home (BursarTestEnv *env)
{
  return env->home;
}

/* --- the daemon ------------------------------------------------------------- */

void
bursar_test_env_start_daemon (BursarTestEnv      *env,
                              const char * const *extra_args)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  const char *wrapper = g_getenv ("BURSAR_DAEMON_WRAPPER");

  g_assert_null (env->daemon);

  if (wrapper != NULL && *wrapper != '\0')
    {
      g_auto(GStrv) wrapper_argv = NULL;
      g_autoptr(GError) error = NULL;

      g_shell_parse_argv (wrapper, NULL, &wrapper_argv, &error);
      g_assert_no_error (error);
      for (gsize i = 0; wrapper_argv[i] != NULL; i++)
        g_ptr_array_add (argv, g_strdup (wrapper_argv[i]));
    }
  g_ptr_array_add (argv, g_strdup (required_env ("BURSARD")));
  g_ptr_array_add (argv, g_strdup ("--verbose"));
  for (gsize i = 0; extra_args != NULL && extra_args[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (extra_args[i]));
  g_ptr_array_add (argv, NULL);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_subprocess_launcher_take_stdout_fd (launcher, open_log (env->daemon_log));
  g_subprocess_launcher_setenv (launcher, "G_MESSAGES_DEBUG", "all", TRUE);
  env->daemon = child_spawn ("bursard", launcher, (const char * const *) argv->pdata);

  wait_for_name (env, env->daemon, BURSAR_BUS_NAME, env->daemon_log, start_timeout_ms ());
}

void
bursar_test_env_stop_daemon (BursarTestEnv *env,
                             int            signum)
{
  Child *daemon = env->daemon;

  g_assert_nonnull (daemon);

  if (!daemon->exited)
    g_subprocess_send_signal (daemon->process, signum);
  if (!child_wait (daemon, signum == SIGKILL ? KILL_TIMEOUT_MS : MAX (STOP_TIMEOUT_MS, start_timeout_ms ())))
    {
      g_autofree char *tail = file_tail (env->daemon_log);

      g_test_message ("bursard log tail:\n%s", tail);
      g_error ("bursard did not exit after signal %d", signum);
    }

  if (signum != SIGKILL)
    {
      if (!g_subprocess_get_if_exited (daemon->process) ||
          g_subprocess_get_exit_status (daemon->process) != 0)
        {
          g_autofree char *tail = file_tail (env->daemon_log);

          g_test_message ("bursard log tail:\n%s", tail);
          g_assert_true (g_subprocess_get_if_exited (daemon->process));
          g_assert_cmpint (g_subprocess_get_exit_status (daemon->process), ==, 0);
        }
    }

  g_clear_pointer (&env->daemon, child_stop_and_free);
}

GPid
bursar_test_env_get_daemon_pid (BursarTestEnv *env)
{
  return child_get_pid (env->daemon);
}

gboolean
bursar_test_env_daemon_running (BursarTestEnv *env)
{
  /* Let a pending exit notification arrive. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  return env->daemon != NULL && !env->daemon->exited;
}

char *
bursar_test_env_daemon_log (BursarTestEnv *env)
{
  char *contents = NULL;

  if (!g_file_get_contents (env->daemon_log, &contents, NULL, NULL))
    return g_strdup ("");
  return contents;
}

/* --- the browser ------------------------------------------------------------ */

const char *
bursar_test_env_get_browser_log_path (BursarTestEnv *env)
{
  return env->browser_log;
}

char **
bursar_test_env_browser_urls (BursarTestEnv *env)
{
  g_autofree char *contents = NULL;
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_auto(GStrv) lines = NULL;

  if (g_file_get_contents (env->browser_log, &contents, NULL, NULL))
    {
      lines = g_strsplit (contents, "\n", -1);
      for (gsize i = 0; lines[i] != NULL; i++)
        if (lines[i][0] != '\0')
          g_strv_builder_add (builder, lines[i]);
    }
  return g_strv_builder_end (builder);
}

/* --- the leak scan ---------------------------------------------------------- */

static void
scan_file (const char         *path,
           const char * const *needles,
           gsize               size)
{
  g_autofree char *contents = NULL;
  gsize len = 0;

  if (size > MAX_SCAN_FILE_BYTES)
    g_error ("%s is too large to scan for secrets", path);
  if (!g_file_get_contents (path, &contents, &len, NULL))
    return;

  for (gsize i = 0; needles[i] != NULL; i++)
    {
      if (memmem (contents, len, needles[i], strlen (needles[i])) != NULL)
        {
          /* Name the file and which secret, never the secret itself. */
          g_autofree char *message = g_strdup_printf ("secret #%" G_GSIZE_FORMAT
                                                      " of the mock server found in %s",
                                                      i, path);

          g_assertion_message (G_LOG_DOMAIN, __FILE__, __LINE__, G_STRFUNC, message);
        }
    }
}

static void
scan_tree (BursarTestEnv      *env,
           const char         *path,
           const char * const *needles,
           guint               depth,
           guint              *n_files)
{
  GStatBuf st;

  if (g_strcmp0 (path, env->keyring_dir) == 0)
    return;
  if (g_lstat (path, &st) != 0)
    return;

  if (S_ISDIR (st.st_mode))
    {
      g_autoptr(GDir) dir = NULL;
      const char *entry;

      g_assert_cmpuint (depth, <, MAX_SCAN_DEPTH);
      dir = g_dir_open (path, 0, NULL);
      while (dir != NULL && (entry = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, entry, NULL);

          scan_tree (env, child, needles, depth + 1, n_files);
        }
    }
  else if (S_ISREG (st.st_mode))
    {
      g_assert_cmpuint (++(*n_files), <, MAX_SCAN_FILES);
      scan_file (path, needles, (gsize) st.st_size);
    }
}

void
bursar_test_env_assert_no_secrets (BursarTestEnv *env)
{
  g_auto(GStrv) secrets = bursar_test_env_mock_secrets (env);
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_auto(GStrv) needles = NULL;
  guint n_files = 0;

  /* Each secret as it is and as it would appear in a URL or form body. */
  for (gsize i = 0; secrets[i] != NULL; i++)
    {
      g_autofree char *escaped = g_uri_escape_string (secrets[i], NULL, FALSE);

      g_strv_builder_add (builder, secrets[i]);
      if (!g_str_equal (escaped, secrets[i]))
        g_strv_builder_add (builder, escaped);
    }
  needles = g_strv_builder_end (builder);

  /* The daemon log lives in the temporary directory too, so this covers
   * it along with everything under the temporary home. */
  scan_tree (env, env->tmpdir, (const char * const *) needles, 0, &n_files);
}
