/* test-clock.c: bursard across suspend and clock jumps.
 *
 * A suspended machine wakes with its wall clock hours ahead while
 * CLOCK_MONOTONIC has stood still; NTP can also step the wall clock back.
 * Token expiry is a wall-clock instant (ExpiresAt), so a token that expired
 * during the sleep must be refreshed, never handed out, and a clock that
 * went back must neither cause a needless refresh nor a nonsensical
 * expires_in on the bus.
 *
 * bursard runs with libfaketime preloaded: FAKETIME_TIMESTAMP_FILE names a
 * file holding a relative offset in seconds ("+0000007200") that the test
 * rewrites, FAKETIME_NO_CACHE makes every clock read see the current file,
 * and FAKETIME_DONT_FAKE_MONOTONIC keeps CLOCK_MONOTONIC real, which is
 * exactly what a suspend looks like to a process. Only bursard (and what it spawns)
 * is preloaded: the test process, the mock server, the keyring and the bus
 * were started before and keep the real clock, so the test measures the
 * daemon's faked time as real time plus the offset it wrote.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "bursar-test-bus.h"
#include "bursar-test-env.h"

#define TOKEN_LIFETIME 3600

typedef struct
{
  BursarTestEnv *env;
  GDBusConnection *bus;
  char *libfaketime;  /* (owned) (nullable): NULL when not installed */
  char *clock_file;   /* (owned) */
  gint64 offset;      /* seconds the daemon's wall clock is ahead of ours */
} Fixture;

/* --- libfaketime ---------------------------------------------------------- */

/* Debian puts the library in /usr/lib/<multiarch>/faketime/. */
static char *
find_libfaketime (void)
{
  const char * const roots[] = { "/usr/lib", "/usr/local/lib", "/usr/lib64", NULL };

  for (gsize i = 0; roots[i] != NULL; i++)
    {
      g_autofree char *direct = g_build_filename (roots[i], "faketime", "libfaketime.so.1", NULL);
      g_autoptr(GDir) dir = NULL;
      const char *name;

      if (g_file_test (direct, G_FILE_TEST_IS_REGULAR))
        return g_steal_pointer (&direct);
      dir = g_dir_open (roots[i], 0, NULL);
      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *path = g_build_filename (roots[i], name, "faketime",
                                                    "libfaketime.so.1", NULL);

          if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
            return g_steal_pointer (&path);
        }
    }
  return NULL;
}

/* Moves the daemon's wall clock to @offset seconds from the real one.
 *
 * The file is rewritten in place, not replaced: a sandbox wrapper may bind
 * the file itself into the daemon's mount namespace, and a bind mount keeps
 * showing the inode it was made from. Every offset has the same width and
 * nothing is truncated, so a read racing the write still gets one whole
 * line. */
static void
set_clock_offset (Fixture *f,
                  gint64   offset)
{
  g_autofree char *text = g_strdup_printf ("%+011" G_GINT64_FORMAT "\n", offset);
  gsize length = strlen (text);
  int fd;

  g_assert_cmpuint (length, ==, 12);
  fd = g_open (f->clock_file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    g_error ("Cannot open %s: %s", f->clock_file, g_strerror (errno));
  if (pwrite (fd, text, length, 0) != (gssize) length)
    g_error ("Cannot write %s: %s", f->clock_file, g_strerror (errno));
  g_close (fd, NULL);
  f->offset = offset;
}

/* The daemon's wall clock, in unix seconds. */
static gint64
daemon_now (Fixture *f)
{
  return g_get_real_time () / G_USEC_PER_SEC + f->offset;
}

typedef struct
{
  const char *name;
  char *saved; /* (owned) (nullable) */
} SavedVariable;

/* @old, then @sep and @addition; just @addition when @old is unset or
 * empty. */
static char *
append_to (const char *old,
           const char *sep,
           const char *addition)
{
  if (old == NULL || *old == '\0')
    return g_strdup (addition);
  return g_strconcat (old, sep, addition, NULL);
}

enum
{
  VAR_LD_PRELOAD,
  VAR_ASAN_OPTIONS,
  VAR_FAKETIME_TIMESTAMP_FILE,
  VAR_FAKETIME_NO_CACHE,
  VAR_FAKETIME_DONT_FAKE_MONOTONIC,
  VAR_NO_FAKE_STAT,
  VAR_FAKETIME,
  VAR_FAKETIME_SHARED,
  N_VARS
};

/* Starts bursard with libfaketime preloaded. The test environment hands its
 * own environment to the daemon, so the variables are set around the start
 * and put back at once: nothing started later is faked, except what the
 * daemon itself spawns. */
static void
start_faked_daemon (Fixture *f)
{
  static const char * const names[N_VARS] = {
    [VAR_LD_PRELOAD] = "LD_PRELOAD",
    [VAR_ASAN_OPTIONS] = "ASAN_OPTIONS",
    [VAR_FAKETIME_TIMESTAMP_FILE] = "FAKETIME_TIMESTAMP_FILE",
    [VAR_FAKETIME_NO_CACHE] = "FAKETIME_NO_CACHE",
    [VAR_FAKETIME_DONT_FAKE_MONOTONIC] = "FAKETIME_DONT_FAKE_MONOTONIC",
    [VAR_NO_FAKE_STAT] = "NO_FAKE_STAT",
    [VAR_FAKETIME] = "FAKETIME",
    [VAR_FAKETIME_SHARED] = "FAKETIME_SHARED",
  };
  char *saved[N_VARS];
  g_autofree char *preload = NULL;
  g_autofree char *asan_options = NULL;

  for (gsize i = 0; i < N_VARS; i++)
    saved[i] = g_strdup (g_getenv (names[i]));

  /* The sanitizer stage already preloads libgnutls: keep it, and first. */
  preload = append_to (saved[VAR_LD_PRELOAD], ":", f->libfaketime);
  g_setenv ("LD_PRELOAD", preload, TRUE);
  g_setenv ("FAKETIME_TIMESTAMP_FILE", f->clock_file, TRUE);
  g_setenv ("FAKETIME_NO_CACHE", "1", TRUE);
  g_setenv ("FAKETIME_DONT_FAKE_MONOTONIC", "1", TRUE);
  /* Only the clock moves, not file times. */
  g_setenv ("NO_FAKE_STAT", "1", TRUE);
  /* $FAKETIME would win over the file; a $FAKETIME_SHARED of some other
   * process would tie the daemon to its shared memory. */
  g_unsetenv ("FAKETIME");
  g_unsetenv ("FAKETIME_SHARED");
  /* Under ASan, the allocator reads CLOCK_MONOTONIC with a size class
   * locked whenever it maps a new region, to time its release of memory to
   * the OS. libfaketime's clock_gettime() can call dlsym(), which
   * allocates: the process deadlocks. Without the release timer the
   * allocator never reads the clock. Programs without ASan ignore the
   * variable; scripts/test.sh sets the same in its bursard wrapper, which
   * replaces ASAN_OPTIONS. */
  asan_options = append_to (saved[VAR_ASAN_OPTIONS], ":", "allocator_release_to_os_interval_ms=-1");
  g_setenv ("ASAN_OPTIONS", asan_options, TRUE);

  bursar_test_env_start_daemon (f->env, NULL);

  for (gsize i = 0; i < N_VARS; i++)
    {
      if (saved[i] != NULL)
        g_setenv (names[i], saved[i], TRUE);
      else
        g_unsetenv (names[i]);
      g_free (saved[i]);
    }
}

/* libfaketime keeps a semaphore and a shared memory object named after the
 * pid of the first preloaded process: bursard, or the wrapper (env,
 * valgrind) that execs it under the same pid. The wrapper never runs
 * libfaketime's exit handler, so they are removed here. */
static void
remove_faketime_shm (GPid pid)
{
  g_autofree char *sem = g_strdup_printf ("/dev/shm/sem.faketime_sem_%ld", (long) pid);
  g_autofree char *shm = g_strdup_printf ("/dev/shm/faketime_shm_%ld", (long) pid);

  g_unlink (sem);
  g_unlink (shm);
}

/* --- fixture ---------------------------------------------------------------- */

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  g_autofree char *config = NULL;

  f->env = bursar_test_env_new ();
  f->bus = bursar_test_env_get_bus (f->env);
  f->libfaketime = find_libfaketime ();
  f->clock_file = g_build_filename (bursar_test_env_get_tmpdir (f->env), "faketime.rc", NULL);
  if (f->libfaketime == NULL)
    return;

  /* The mock keeps the real clock, so after a jump forward the ID token of
   * a refresh looks expired to the daemon (OIDC Core §3.1.3.7 item 9); a
   * provider that slept along with the machine would not have this skew.
   * Its exp is put beyond every jump of these tests. */
  config = g_strdup_printf ("{\"token_lifetime\": %d,"
                            " \"id_token_claims\": {\"exp\": %" G_GINT64_FORMAT "}}",
                            TOKEN_LIFETIME, g_get_real_time () / G_USEC_PER_SEC + 86400);
  bursar_test_env_mock_configure (f->env, config);

  set_clock_offset (f, 0);
  start_faked_daemon (f);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  if (bursar_test_env_daemon_running (f->env))
    {
      GPid pid = bursar_test_env_get_daemon_pid (f->env);

      /* A clean exit, also under valgrind's --error-exitcode. */
      bursar_test_env_stop_daemon (f->env, SIGTERM);
      remove_faketime_shm (pid);
    }
  bursar_test_env_assert_no_secrets (f->env);
  g_clear_pointer (&f->env, bursar_test_env_free);
  g_free (f->libfaketime);
  g_free (f->clock_file);
}

/* Every test starts with this: a skip is reported as one, and CI counts it
 * as a failure. */
static gboolean
have_libfaketime (Fixture *f)
{
  if (f->libfaketime != NULL)
    return TRUE;
  g_test_skip ("libfaketime.so.1 not found (Debian package libfaketime)");
  return FALSE;
}

/* A token call, bracketed by the daemon's clock before and after: the
 * daemon read its clock somewhere in between. */
typedef struct
{
  char *token;       /* (owned) */
  gint32 expires_in;
  gint64 expires_at; /* GetToken: from the reply; otherwise ExpiresAt */
  gint64 before;
  gint64 after;
} TokenReply;

static void
token_reply_clear (TokenReply *r)
{
  g_clear_pointer (&r->token, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (TokenReply, token_reply_clear)

/* GetAccessToken() or Refresh(): (s access_token, i expires_in). */
static void
short_call (Fixture    *f,
            const char *path,
            const char *method,
            TokenReply *out)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;

  out->before = daemon_now (f);
  reply = bursar_test_call (f->env, path, BURSAR_TEST_ACCOUNT_IFACE, method, NULL, "(si)", &error);
  out->after = daemon_now (f);
  g_assert_no_error (error);
  g_variant_get (reply, "(si)", &out->token, &out->expires_in);
  out->expires_at = bursar_test_get_expires_at (f->env, path);
}

/* GetToken(): (s access_token, a{sv} info). */
static void
full_call (Fixture    *f,
           const char *path,
           guint32     min_valid,
           TokenReply *out)
{
  g_auto(GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) info = NULL;
  g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);

  g_variant_builder_add (&builder, "{sv}", "min_valid", g_variant_new_uint32 (min_valid));
  out->before = daemon_now (f);
  reply = bursar_test_call (f->env, path, BURSAR_TEST_ACCOUNT_IFACE, "GetToken",
                            g_variant_new ("(a{sv})", &builder), "(sa{sv})", &error);
  out->after = daemon_now (f);
  g_assert_no_error (error);
  g_variant_get (reply, "(s@a{sv})", &out->token, &info);
  g_variant_dict_init (&dict, info);
  g_assert_true (g_variant_dict_lookup (&dict, "expires_in", "i", &out->expires_in));
  g_assert_true (g_variant_dict_lookup (&dict, "expires_at", "x", &out->expires_at));
  g_assert_cmpint (out->expires_at, ==, bursar_test_get_expires_at (f->env, path));
}

/* expires_in on the bus is ExpiresAt less the daemon's clock at the call:
 * positive, and counted on the (faked) wall clock. */
static void
assert_expires_in_sane (const TokenReply *r)
{
  g_assert_cmpint (r->expires_in, >, 0);
  g_assert_cmpint (r->expires_at, >, r->after);
  /* One second either side for the truncation to whole seconds. */
  g_assert_cmpint (r->expires_in, >=, r->expires_at - r->after - 1);
  g_assert_cmpint (r->expires_in, <=, r->expires_at - r->before + 1);
}

/* A token the daemon has just obtained: TOKEN_LIFETIME from its clock. */
static void
assert_fresh (const TokenReply *r)
{
  g_assert_cmpint (r->expires_at, >=, r->before + TOKEN_LIFETIME - 1);
  g_assert_cmpint (r->expires_at, <=, r->after + TOKEN_LIFETIME + 1);
  assert_expires_in_sane (r);
}

/* Tokens are compared without printing them. */
#define assert_same_token(a, b) g_assert_true (g_strcmp0 ((a), (b)) == 0)
#define assert_other_token(a, b) g_assert_true (g_strcmp0 ((a), (b)) != 0)

/* --- suspend: the wall clock jumps forward ---------------------------------- */

static void
test_suspend (Fixture       *f,
              gconstpointer  data)
{
  g_autofree char *path = NULL;
  g_auto(TokenReply) a = { 0 };
  g_auto(TokenReply) later = { 0 };
  g_auto(TokenReply) a2 = { 0 };
  g_auto(TokenReply) a3 = { 0 };
  g_auto(TokenReply) b = { 0 };
  g_auto(TokenReply) again = { 0 };
  gint64 before_authorize;

  if (!have_libfaketime (f))
    return;

  before_authorize = daemon_now (f);
  path = bursar_test_add_ready_account (f->env);
  short_call (f, path, "GetAccessToken", &a);
  g_assert_cmpint (bursar_test_mock_grant_count (f->env, "authorization_code"), ==, 1);
  g_assert_cmpint (bursar_test_mock_grant_count (f->env, "refresh_token"), ==, 0);
  g_assert_cmpint (a.expires_at, >=, before_authorize + TOKEN_LIFETIME - 1);
  g_assert_cmpint (a.expires_at, <=, a.after + TOKEN_LIFETIME + 1);
  assert_expires_in_sane (&a);

  /* 50 minutes pass on the wall clock only: A is still served, with its
   * remaining life counted on the wall clock. This also shows that the
   * daemon runs on the faked clock at all (preload, wrapper). */
  set_clock_offset (f, TOKEN_LIFETIME - 600);
  full_call (f, path, 60, &later);
  assert_same_token (later.token, a.token);
  g_assert_cmpint (later.expires_at, ==, a.expires_at);
  if (later.expires_in > 600)
    g_error ("bursard does not run on the faked clock (expires_in %d after a jump of %"
             G_GINT64_FORMAT " s): libfaketime is not in effect", later.expires_in, f->offset);
  assert_expires_in_sane (&later);
  g_assert_cmpint (bursar_test_mock_grant_count (f->env, "refresh_token"), ==, 0);
  /* Asked twice more by the same connection, the second time answered
   * from the daemon's copy (bursar-fast-path.c), which must check the
   * wall clock too. */
  short_call (f, path, "GetAccessToken", &a2);
  short_call (f, path, "GetAccessToken", &a3);
  assert_same_token (a2.token, a.token);
  assert_same_token (a3.token, a.token);
  g_assert_cmpint (a3.expires_in, <=, 600);

  /* The machine slept for two hours: A expired meanwhile, although no
   * monotonic time has passed since it was handed out. */
  set_clock_offset (f, 2 * 3600);
  short_call (f, path, "GetAccessToken", &b);
  assert_other_token (b.token, a.token);
  g_assert_cmpint (bursar_test_mock_grant_count (f->env, "refresh_token"), ==, 1);
  g_assert_cmpint (bursar_test_mock_grant_count (f->env, "authorization_code"), ==, 1);
  assert_fresh (&b);

  /* B is cached like any token: no refresh loop after the jump. */
  full_call (f, path, 60, &again);
  assert_same_token (again.token, b.token);
  g_assert_cmpint (again.expires_at, ==, b.expires_at);
  assert_expires_in_sane (&again);
  g_assert_cmpint (bursar_test_mock_grant_count (f->env, "refresh_token"), ==, 1);
}

/* --- NTP steps the clock back ---------------------------------------------- */

static void
test_clock_back (Fixture       *f,
                 gconstpointer  data)
{
  g_autofree char *path = NULL;
  g_auto(TokenReply) a = { 0 };
  g_auto(TokenReply) same = { 0 };
  g_auto(TokenReply) full = { 0 };
  g_auto(TokenReply) refreshed = { 0 };
  g_autofree char *state = NULL;

  if (!have_libfaketime (f))
    return;

  path = bursar_test_add_ready_account (f->env);
  short_call (f, path, "GetAccessToken", &a);
  assert_expires_in_sane (&a);

  /* An hour back: the cached token is still good and still served; its
   * remaining life grows by the hour, it does not go negative or wrap. */
  set_clock_offset (f, -3600);
  short_call (f, path, "GetAccessToken", &same);
  assert_same_token (same.token, a.token);
  g_assert_cmpint (same.expires_at, ==, a.expires_at);
  assert_expires_in_sane (&same);
  g_assert_cmpint (same.expires_in, >, TOKEN_LIFETIME);
  g_assert_cmpint (same.expires_in, <=, TOKEN_LIFETIME + 3600 + 1);

  full_call (f, path, TOKEN_LIFETIME, &full);
  assert_same_token (full.token, a.token);
  assert_expires_in_sane (&full);
  g_assert_cmpint (bursar_test_mock_grant_count (f->env, "refresh_token"), ==, 0);

  /* A refresh asked for while the clock is back gets a full lifetime on
   * that clock. */
  short_call (f, path, "Refresh", &refreshed);
  assert_other_token (refreshed.token, a.token);
  g_assert_cmpint (bursar_test_mock_grant_count (f->env, "refresh_token"), ==, 1);
  assert_fresh (&refreshed);

  g_assert_true (bursar_test_env_daemon_running (f->env));
  state = bursar_test_get_string_property (f->env, path, "State");
  g_assert_cmpstr (state, ==, "ready");
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(name, func) \
  g_test_add ("/clock/" name, Fixture, NULL, fixture_setup, func, fixture_teardown)

  ADD ("suspend", test_suspend);
  ADD ("clock-back", test_clock_back);

  return g_test_run ();
}
