/* test-keyring-lock.c: bursard with a keyring that is locked at start,
 * locked again while in use, and whose unlock prompt the user dismisses or
 * leaves open (issue #4).
 *
 * Real gnome-keyring cannot be driven into these states headless, so the
 * Secret Service here is bursar-mock-secret-service, scripted through its
 * control interface; everything else (daemon, bus, mock authorization
 * server, test browser) is as in test-faults.c.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <string.h>

#include "bursar-test-bus.h"
#include "bursar-test-env.h"

#define START_TIMEOUT_MS 10000
#define SETTLE_MS 500
#define SECRETS_NAME "org.freedesktop.secrets"
#define CONTROL_PATH "/org/bursar/Test/SecretControl"
#define CONTROL_IFACE "org.bursar.Test.SecretControl"
#define ERROR_KEYRING_LOCKED "org.bursar.Bursar1.Error.KeyringLocked"
/* The mock authorization server's default token lifetime is an hour. */
#define MORE_THAN_LIFETIME 7200

typedef struct
{
  BursarTestEnv *env;
  GDBusConnection *bus;
  GSubprocess *secrets; /* the scripted Secret Service */
  gboolean secrets_exited;
} Fixture;

/* --- main loop helpers --------------------------------------------------- */

static gboolean
set_flag_cb (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

static void
iterate_for (guint ms)
{
  gboolean done = FALSE;

  g_timeout_add (ms, set_flag_cb, &done);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
}

/* --- the scripted Secret Service ----------------------------------------- */

static void
secrets_exited_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  if (!g_subprocess_wait_finish (G_SUBPROCESS (source), result, &error) &&
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  ((Fixture *) user_data)->secrets_exited = TRUE;
}

static GPid
name_owner_pid (Fixture    *f,
                const char *name)
{
  g_autoptr(GVariant) reply = NULL;
  guint32 pid = 0;

  reply = g_dbus_connection_call_sync (f->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus", "GetConnectionUnixProcessID",
                                       g_variant_new ("(s)", name), G_VARIANT_TYPE ("(u)"),
                                       G_DBUS_CALL_FLAGS_NONE, 5000, NULL, NULL);
  if (reply == NULL)
    return 0;
  g_variant_get (reply, "(u)", &pid);
  return (GPid) pid;
}

static void
start_secret_service (Fixture *f)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *log = g_build_filename (bursar_test_env_get_tmpdir (f->env), "secrets.log", NULL);
  const char *path = g_getenv ("BURSAR_MOCK_SECRET_SERVICE");
  gint64 deadline = g_get_monotonic_time () + START_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;
  GPid pid;

  g_assert_nonnull (path);
  /* stdin stays an open pipe: the service exits when it closes, so it
   * cannot outlive this process. */
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_subprocess_launcher_set_stdout_file_path (launcher, log);
  f->secrets = g_subprocess_launcher_spawn (launcher, &error, path, NULL);
  g_assert_no_error (error);
  g_subprocess_wait_async (f->secrets, NULL, secrets_exited_cb, f);
  pid = (GPid) g_ascii_strtoll (g_subprocess_get_identifier (f->secrets), NULL, 10);

  while (name_owner_pid (f, SECRETS_NAME) != pid)
    {
      g_assert_false (f->secrets_exited);
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      iterate_for (20);
    }
}

static void
stop_secret_service (Fixture *f)
{
  gint64 deadline = g_get_monotonic_time () + START_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;

  if (f->secrets == NULL)
    return;
  g_output_stream_close (g_subprocess_get_stdin_pipe (f->secrets), NULL, NULL);
  while (!f->secrets_exited && g_get_monotonic_time () < deadline)
    iterate_for (20);
  if (!f->secrets_exited)
    {
      g_subprocess_force_exit (f->secrets);
      while (!f->secrets_exited)
        g_main_context_iteration (NULL, TRUE);
    }
  g_clear_object (&f->secrets);
}

static GVariant *
control (Fixture    *f,
         const char *method,
         GVariant   *params,
         const char *reply_type)
{
  g_autoptr(GError) error = NULL;
  GVariant *reply;

  reply = g_dbus_connection_call_sync (f->bus, SECRETS_NAME, CONTROL_PATH, CONTROL_IFACE, method,
                                       params, reply_type != NULL ? G_VARIANT_TYPE (reply_type) : NULL,
                                       G_DBUS_CALL_FLAGS_NONE, 5000, NULL, &error);
  g_assert_no_error (error);
  return reply;
}

static void
control_void (Fixture    *f,
              const char *method,
              GVariant   *params)
{
  g_variant_unref (control (f, method, params, "()"));
}

static void
secrets_set_locked (Fixture  *f,
                    gboolean  locked)
{
  control_void (f, "SetLocked", g_variant_new ("(b)", locked));
}

static void
secrets_set_prompt (Fixture    *f,
                    const char *behaviour)
{
  control_void (f, "SetPromptBehaviour", g_variant_new ("(s)", behaviour));
}

static guint32
secrets_release (Fixture  *f,
                 gboolean  accept)
{
  g_autoptr(GVariant) reply = control (f, "ReleasePrompts", g_variant_new ("(b)", accept), "(u)");
  guint32 released = 0;

  g_variant_get (reply, "(u)", &released);
  return released;
}

static void
secrets_reset (Fixture *f)
{
  control_void (f, "ResetCounters", NULL);
}

static guint32
counter (Fixture    *f,
         const char *name)
{
  g_autoptr(GVariant) reply = control (f, "GetCounters", NULL, "(a{su})");
  g_autoptr(GVariant) counters = g_variant_get_child_value (reply, 0);
  guint32 value = 0;

  g_assert_true (g_variant_lookup (counters, name, "u", &value));
  return value;
}

/* Waits until the counter @name reaches @at_least; fails the test after
 * BURSAR_TEST_WAIT_SECONDS. */
static void
wait_counter (Fixture    *f,
              const char *name,
              guint32     at_least)
{
  gint64 deadline = g_get_monotonic_time () + BURSAR_TEST_WAIT_SECONDS * G_TIME_SPAN_SECOND;

  while (counter (f, name) < at_least)
    {
      if (g_get_monotonic_time () > deadline)
        g_error ("Secret Service counter %s did not reach %u within %d s", name, at_least, BURSAR_TEST_WAIT_SECONDS);
      iterate_for (20);
    }
}

/* --- fixture ------------------------------------------------------------- */

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  f->env = bursar_test_env_new_full (BURSAR_TEST_ENV_NO_KEYRING);
  f->bus = bursar_test_env_get_bus (f->env);
  start_secret_service (f);
  bursar_test_env_start_daemon (f->env, NULL);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  bursar_test_env_assert_no_secrets (f->env);
  bursar_test_env_stop_daemon (f->env, SIGTERM);
  stop_secret_service (f);
  g_clear_pointer (&f->env, bursar_test_env_free);
}

/* The same daemon binary again, on the accounts it saved: nothing of the
 * keyring in its memory. A keyring write that fails is a warning of the
 * daemon, which the suite's G_DEBUG=fatal-warnings would turn into an
 * abort; @warnings_expected starts it without that. */
static void
restart_daemon (Fixture  *f,
                gboolean  warnings_expected)
{
  g_autofree char *g_debug = g_strdup (g_getenv ("G_DEBUG"));

  bursar_test_env_stop_daemon (f->env, SIGTERM);
  if (warnings_expected)
    g_setenv ("G_DEBUG", "gc-friendly", TRUE);
  bursar_test_env_start_daemon (f->env, NULL);
  if (g_debug != NULL)
    g_setenv ("G_DEBUG", g_debug, TRUE);
  else
    g_unsetenv ("G_DEBUG");
}

/* --- account helpers ------------------------------------------------------ */

static guint
browser_visits (Fixture *f)
{
  g_auto(GStrv) urls = bursar_test_env_browser_urls (f->env);

  return g_strv_length (urls);
}

static void
assert_state (Fixture    *f,
              const char *path,
              const char *expected)
{
  g_autofree char *state = bursar_test_get_string_property (f->env, path, "State");

  g_assert_cmpstr (state, ==, expected);
}

/* --- concurrent callers ---------------------------------------------------- */

typedef struct
{
  char *token;  /* (owned) (nullable) */
  GError *error; /* (owned) (nullable) */
  gboolean done;
} Answer;

static void
answer_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  Answer *answer = user_data;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result,
                                                             &answer->error);

  if (reply != NULL)
    g_variant_get (reply, "(s@a{sv})", &answer->token, NULL);
  answer->done = TRUE;
}

static void
get_token_async (Fixture    *f,
                 const char *path,
                 Answer     *answer)
{
  g_auto(GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);

  g_variant_builder_add (&builder, "{sv}", "min_valid", g_variant_new_uint32 (60));
  g_dbus_connection_call (f->bus, "org.bursar.Bursar1", path, BURSAR_TEST_ACCOUNT_IFACE, "GetToken",
                          g_variant_new ("(a{sv})", &builder), G_VARIANT_TYPE ("(sa{sv})"),
                          G_DBUS_CALL_FLAGS_NONE, BURSAR_TEST_CALL_TIMEOUT_MS, NULL, answer_cb, answer);
}

static guint
answers_done (Answer *answers,
              guint   n)
{
  guint done = 0;

  for (guint i = 0; i < n; i++)
    done += answers[i].done ? 1 : 0;
  return done;
}

static void
wait_answers (Answer *answers,
              guint   n)
{
  gint64 deadline = g_get_monotonic_time () + BURSAR_TEST_WAIT_SECONDS * G_TIME_SPAN_SECOND;

  while (answers_done (answers, n) < n)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      iterate_for (20);
    }
}

static void
answers_clear (Answer *answers,
               guint   n)
{
  for (guint i = 0; i < n; i++)
    {
      g_clear_pointer (&answers[i].token, g_free);
      g_clear_error (&answers[i].error);
      answers[i].done = FALSE;
    }
}

/* --- tests ----------------------------------------------------------------- */

/* Locked at start: bursard starts without touching the keyring; the first
 * GetToken asks once, a dismissed prompt is KeyringLocked (not "no
 * account", nothing deleted, state kept); once the user unlocks, the same
 * daemon serves the token, without a restart and without the browser. */
static void
test_locked_at_start (Fixture       *f,
                      gconstpointer  data)
{
  g_autofree char *path = bursar_test_add_ready_account (f->env);
  g_autofree char *token = NULL;
  g_autofree char *again = NULL;
  g_autoptr(GError) error = NULL;
  guint visits;
  gint64 code_grants;

  token = bursar_test_get_token_min_valid (f->env, path, 60, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (counter (f, "items"), ==, 1);
  visits = browser_visits (f);
  code_grants = bursar_test_mock_grant_count (f->env, "authorization_code");

  /* The next session: the keyring is locked when bursard starts. */
  bursar_test_env_stop_daemon (f->env, SIGTERM);
  secrets_set_locked (f, TRUE);
  secrets_set_prompt (f, "dismiss");
  secrets_reset (f);
  bursar_test_env_start_daemon (f->env, NULL);
  iterate_for (SETTLE_MS);
  assert_state (f, path, "ready");
  g_assert_cmpuint (counter (f, "calls"), ==, 0);
  g_assert_cmpuint (counter (f, "prompts"), ==, 0);

  /* The user dismisses the prompt. */
  g_clear_pointer (&again, g_free);
  again = bursar_test_get_token_min_valid (f->env, path, 60, &error);
  g_assert_null (again);
  g_assert_nonnull (error);
  g_assert_cmpstr (g_dbus_error_get_remote_error (error), ==, ERROR_KEYRING_LOCKED);
  g_clear_error (&error);
  g_assert_cmpuint (counter (f, "prompts"), ==, 1);
  g_assert_cmpuint (counter (f, "deletes"), ==, 0);
  g_assert_cmpuint (counter (f, "writes"), ==, 0);
  g_assert_cmpuint (counter (f, "items"), ==, 1);
  assert_state (f, path, "ready");

  /* Unlocked some other way (the login screen, seahorse): served now. */
  secrets_set_locked (f, FALSE);
  again = bursar_test_get_token_min_valid (f->env, path, 60, &error);
  g_assert_no_error (error);
  g_assert_nonnull (again);
  g_assert_cmpstr (again, !=, "");
  g_assert_cmpuint (counter (f, "prompts"), ==, 1);
  g_assert_cmpuint (counter (f, "deletes"), ==, 0);
  assert_state (f, path, "ready");
  g_assert_cmpuint (browser_visits (f), ==, visits);
  g_assert_cmpint (bursar_test_mock_grant_count (f->env, "authorization_code"), ==, code_grants);
}

/* Several accounts needed at once while the keyring is locked: one prompt,
 * and every caller gets the outcome of that one — KeyringLocked for all
 * when it is dismissed, a token for all when it is accepted. */
static void
test_one_prompt_in_flight (Fixture       *f,
                           gconstpointer  data)
{
  enum { N_ACCOUNTS = 3, CALLERS_EACH = 2, N = N_ACCOUNTS * CALLERS_EACH };
  g_autofree char *paths[N_ACCOUNTS] = { NULL, };
  Answer answers[N] = { { NULL, NULL, FALSE }, };
  guint visits;

  for (guint i = 0; i < N_ACCOUNTS; i++)
    paths[i] = bursar_test_add_ready_account (f->env);
  visits = browser_visits (f);

  bursar_test_env_stop_daemon (f->env, SIGTERM);
  secrets_set_locked (f, TRUE);
  secrets_set_prompt (f, "hold");
  secrets_reset (f);
  bursar_test_env_start_daemon (f->env, NULL);

  /* Round one: the prompt stays open while every account asks. */
  for (guint i = 0; i < N; i++)
    get_token_async (f, paths[i % N_ACCOUNTS], &answers[i]);
  wait_counter (f, "searches", N_ACCOUNTS);
  wait_counter (f, "prompts", 1);
  iterate_for (SETTLE_MS);
  g_assert_cmpuint (counter (f, "prompts"), ==, 1);
  g_assert_cmpuint (counter (f, "unlocks"), ==, 1);
  g_assert_cmpuint (counter (f, "held"), ==, 1);
  g_assert_cmpuint (answers_done (answers, N), ==, 0);

  /* Dismissed: all of them hear it, none is told to sign in again. */
  g_assert_cmpuint (secrets_release (f, FALSE), ==, 1);
  wait_answers (answers, N);
  for (guint i = 0; i < N; i++)
    {
      g_assert_null (answers[i].token);
      g_assert_nonnull (answers[i].error);
      g_assert_cmpstr (g_dbus_error_get_remote_error (answers[i].error), ==, ERROR_KEYRING_LOCKED);
    }
  g_assert_cmpuint (counter (f, "prompts"), ==, 1);
  for (guint i = 0; i < N_ACCOUNTS; i++)
    assert_state (f, paths[i], "ready");
  answers_clear (answers, N);

  /* Round two: asked again, one new prompt; accepted, all are served. */
  secrets_reset (f);
  for (guint i = 0; i < N; i++)
    get_token_async (f, paths[i % N_ACCOUNTS], &answers[i]);
  wait_counter (f, "searches", N_ACCOUNTS);
  wait_counter (f, "prompts", 1);
  iterate_for (SETTLE_MS);
  g_assert_cmpuint (counter (f, "prompts"), ==, 1);
  g_assert_cmpuint (counter (f, "held"), ==, 1);
  g_assert_cmpuint (answers_done (answers, N), ==, 0);

  g_assert_cmpuint (secrets_release (f, TRUE), ==, 1);
  wait_answers (answers, N);
  for (guint i = 0; i < N; i++)
    {
      g_assert_no_error (answers[i].error);
      g_assert_nonnull (answers[i].token);
      g_assert_cmpstr (answers[i].token, !=, "");
    }
  g_assert_cmpuint (counter (f, "prompts"), ==, 1);
  g_assert_cmpuint (counter (f, "deletes"), ==, 0);
  g_assert_cmpuint (browser_visits (f), ==, visits);
  answers_clear (answers, N);
}

/* Locked while in use: a refresh rotates the refresh token and the write
 * meets a locked keyring. The caller still gets the new token, the account
 * stays ready, the user is asked once (the background retries do not ask
 * again), and once the keyring is unlocked the write lands — the rotated
 * token is what a fresh daemon finds. With the prompt accepted instead,
 * the write lands before the token is handed out. */
static void
test_locked_mid_run (Fixture       *f,
                     gconstpointer  data)
{
  g_autofree char *path = NULL;
  g_autofree char *first = NULL;
  g_autofree char *second = NULL;
  g_autofree char *third = NULL;
  g_autofree char *fourth = NULL;
  g_autoptr(GError) error = NULL;
  gint64 refreshes;
  guint visits;

  /* Every refresh token is good once: losing the rotated one would show
   * up as invalid_grant after the restart below. */
  restart_daemon (f, TRUE);
  bursar_test_env_mock_configure (f->env, "{\"rotation\": \"strict\"}");
  path = bursar_test_add_ready_account (f->env);
  first = bursar_test_get_token_min_valid (f->env, path, 60, &error);
  g_assert_no_error (error);
  visits = browser_visits (f);
  refreshes = bursar_test_mock_grant_count (f->env, "refresh_token");

  secrets_set_locked (f, TRUE);
  secrets_set_prompt (f, "dismiss");
  secrets_reset (f);

  second = bursar_test_get_token_min_valid (f->env, path, MORE_THAN_LIFETIME, &error);
  g_assert_no_error (error);
  g_assert_nonnull (second);
  g_assert_cmpstr (second, !=, first);
  g_assert_cmpint (bursar_test_mock_grant_count (f->env, "refresh_token"), ==, refreshes + 1);
  g_assert_cmpuint (counter (f, "prompts"), ==, 1);
  g_assert_cmpuint (counter (f, "writes"), ==, 0);
  g_assert_cmpuint (counter (f, "locked_writes"), >=, 1);
  assert_state (f, path, "ready");

  /* The retry in the background meets the locked keyring again, without
   * opening another prompt. */
  wait_counter (f, "locked_writes", 2);
  g_assert_cmpuint (counter (f, "prompts"), ==, 1);
  g_assert_cmpuint (counter (f, "writes"), ==, 0);

  /* Unlocked some other way: the kept tokens are written. */
  secrets_set_locked (f, FALSE);
  wait_counter (f, "writes", 1);
  g_assert_cmpuint (counter (f, "prompts"), ==, 1);
  assert_state (f, path, "ready");

  /* A new daemon has only the keyring: the rotated refresh token works. */
  restart_daemon (f, TRUE);
  third = bursar_test_get_token_min_valid (f->env, path, MORE_THAN_LIFETIME, &error);
  g_assert_no_error (error);
  g_assert_nonnull (third);
  g_assert_cmpint (bursar_test_mock_grant_count (f->env, "refresh_token"), ==, refreshes + 2);
  assert_state (f, path, "ready");

  /* Locked again, and this time the user accepts: persisted before the
   * token is handed out, with one prompt. */
  secrets_set_locked (f, TRUE);
  secrets_set_prompt (f, "accept");
  secrets_reset (f);
  fourth = bursar_test_get_token_min_valid (f->env, path, MORE_THAN_LIFETIME, &error);
  g_assert_no_error (error);
  g_assert_nonnull (fourth);
  g_assert_cmpuint (counter (f, "prompts"), ==, 1);
  g_assert_cmpuint (counter (f, "writes"), ==, 1);
  g_assert_cmpuint (counter (f, "locked"), ==, 0);

  g_assert_cmpuint (browser_visits (f), ==, visits);
  g_assert_cmpuint (counter (f, "deletes"), ==, 0);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/keyring-lock/locked-at-start", Fixture, NULL,
              fixture_setup, test_locked_at_start, fixture_teardown);
  g_test_add ("/keyring-lock/one-prompt-in-flight", Fixture, NULL,
              fixture_setup, test_one_prompt_in_flight, fixture_teardown);
  g_test_add ("/keyring-lock/locked-mid-run", Fixture, NULL,
              fixture_setup, test_locked_mid_run, fixture_teardown);

  return g_test_run ();
}
