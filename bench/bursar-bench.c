/* bursar-bench.c: the benchmark of issue 5.
 *
 * Measures the real bursard on a private session bus, with a real
 * gnome-keyring-daemon and the loopback mock authorization server (the
 * fixture of the integration tests, tests/bursar-test-env.c), and prints
 * seven figures, each as a ratio to a reference measured in the same run:
 *
 *  1. cached GetAccessToken latency p50/p99 against Peer.Ping;
 *  2. throughput with 16 calls in flight against Ping with 16 in flight;
 *  3. 200 callers on several connections when the token has just fallen
 *     below the validity margin: token requests, same token, p99;
 *  4. 1,000 accounts: exec to first answer, VmRSS, RSS per account;
 *  5. idle: wake-ups and syscalls of the daemon with valid tokens;
 *  6. side by side with oidc-agent on the same mock server;
 *  7. instructions per cached GetAccessToken under callgrind.
 *
 * bursard is started by this program (not through the fixture's
 * bursar_test_env_start_daemon()) so that it runs as it does for users:
 * without --verbose and without G_MESSAGES_DEBUG, and so that the time
 * from exec can be taken.
 *
 * Output: a table on stdout and the same figures as JSON.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsecret/secret.h>
#include <libsoup/soup.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#ifdef HAVE_LIBOIDC_AGENT
#include <oidc-agent/api.h>
#endif

#include "bench-stats.h"
#include "bursar-test-env.h"

#define BUS_NAME "org.bursar.Bursar1"
#define MANAGER_PATH "/org/bursar/Bursar1"
#define ACCOUNT_IFACE "org.bursar.Bursar1.Account"
#define CALL_TIMEOUT_MS 60000
#define START_TIMEOUT_MS 15000
#define WRAPPED_START_TIMEOUT_MS 180000
#define STOP_TIMEOUT_MS 60000
#define WAIT_SECONDS 30
/* The validity margin of the oidc provider (providers/oidc.provider has
 * no ExpiryMargin, so the default of bursar-provider.c applies). */
#define EXPIRY_MARGIN_S 60
/* Pooled HTTP connections of the daemon close after this (bursar-http.c). */
#define HTTP_IDLE_TIMEOUT_S 60
#define LONG_TOKEN_LIFETIME_S 7200

/* --- options ---------------------------------------------------------------- */

static char *opt_json;
static int opt_idle_seconds = 20;
static int opt_strace_seconds = 10;
static int opt_accounts = 1000;
static int opt_calls = 5000;
static int opt_callgrind_calls = 10000;
static int opt_process_runs = 30;
static gboolean opt_no_callgrind;
static gboolean opt_no_oidc_agent;
static char *opt_figures;

/* --figures: which figures to run (all when not given). */
static gboolean
want_figure (int figure)
{
  g_auto(GStrv) parts = NULL;

  if (opt_figures == NULL)
    return TRUE;
  parts = g_strsplit (opt_figures, ",", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    if (g_ascii_strtoll (parts[i], NULL, 10) == figure)
      return TRUE;
  return FALSE;
}

/* --- results ---------------------------------------------------------------- */

typedef enum
{
  STATUS_PASS,
  STATUS_FAIL,
  STATUS_INFO,
  STATUS_BLOCKED,
} Status;

static const char *status_names[] = { "pass", "FAIL", "info", "BLOCKED" };

typedef struct
{
  int figure;
  char *metric;
  double value;
  char *unit;
  char *measured; /* as printed, with its reference */
  char *target;
  Status status;
} Result;

static GPtrArray *results;     /* (element-type Result) */
static JsonObject *context;    /* absolute figures, for the record */

static void
result_free (Result *r)
{
  g_free (r->metric);
  g_free (r->unit);
  g_free (r->measured);
  g_free (r->target);
  g_free (r);
}

G_GNUC_PRINTF (6, 7)
static void
add_result (int         figure,
            const char *metric,
            double      value,
            const char *unit,
            const char *target,
            const char *measured_format,
            ...)
{
  Result *r = g_new0 (Result, 1);
  va_list args;

  r->figure = figure;
  r->metric = g_strdup (metric);
  r->value = value;
  r->unit = g_strdup (unit);
  r->target = g_strdup (target);
  va_start (args, measured_format);
  r->measured = g_strdup_vprintf (measured_format, args);
  va_end (args);
  r->status = STATUS_INFO;
  g_ptr_array_add (results, r);
}

static void
set_status (Status status)
{
  Result *r = g_ptr_array_index (results, results->len - 1);

  r->status = status;
}

static void
check (gboolean ok)
{
  set_status (ok ? STATUS_PASS : STATUS_FAIL);
}

static void
add_blocked (int         figure,
             const char *metric,
             const char *target,
             const char *reason)
{
  add_result (figure, metric, NAN, "", target, "%s", reason);
  set_status (STATUS_BLOCKED);
}

static void
context_set_double (const char *name,
                    double      value)
{
  json_object_set_double_member (context, name, value);
}

static void
note (const char *format,
      ...) G_GNUC_PRINTF (1, 2);

static void
note (const char *format,
      ...)
{
  g_autofree char *text = NULL;
  va_list args;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  g_printerr ("bench: %s\n", text);
}

/* --- main loop helpers ------------------------------------------------------ */

static gboolean
set_flag_cb (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

static void
iterate_for_ms (guint ms)
{
  gboolean done = FALSE;

  g_timeout_add (ms, set_flag_cb, &done);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
}

static gboolean
iterate_until (const gboolean *flag,
               guint           timeout_ms)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add (timeout_ms, set_flag_cb, &timed_out);

  while (!*flag && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (id);
  return *flag;
}

/* --- the daemon ------------------------------------------------------------- */

typedef struct
{
  BursarTestEnv *env;
  GDBusConnection *bus;
  GSubprocess *daemon; /* (nullable) */
  gboolean daemon_exited;
  GPid pid;
  gint64 spawn_us;
  char *log_path;
} Bench;

static void
daemon_exited_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  gboolean *exited = user_data;

  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  *exited = TRUE;
}

typedef struct
{
  gboolean owned;
  gint64 owned_us;
} NameWatch;

static void
name_owner_changed_cb (GDBusConnection *connection,
                       const char      *sender,
                       const char      *path,
                       const char      *iface,
                       const char      *signal,
                       GVariant        *params,
                       gpointer         user_data)
{
  NameWatch *watch = user_data;
  const char *name, *old_owner, *new_owner;

  g_variant_get (params, "(&s&s&s)", &name, &old_owner, &new_owner);
  if (g_str_equal (name, BUS_NAME) && *new_owner != '\0' && !watch->owned)
    {
      watch->owned = TRUE;
      watch->owned_us = g_get_monotonic_time ();
    }
}

static guint
watch_name (Bench     *b,
            NameWatch *watch)
{
  return g_dbus_connection_signal_subscribe (b->bus, "org.freedesktop.DBus", "org.freedesktop.DBus",
                                             "NameOwnerChanged", "/org/freedesktop/DBus", BUS_NAME,
                                             G_DBUS_SIGNAL_FLAGS_NONE, name_owner_changed_cb,
                                             watch, NULL);
}

/* Starts bursard, optionally under @wrapper and with its own
 * XDG_CONFIG_HOME; returns once it owns its name. */
static void
start_daemon_full (Bench              *b,
                   const char * const *wrapper,
                   const char         *config_home,
                   NameWatch          *watch)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  NameWatch local = { FALSE, 0 };
  guint subscription;
  int fd;

  g_assert_null (b->daemon);
  if (watch == NULL)
    watch = &local;
  subscription = watch_name (b, watch);

  for (guint i = 0; wrapper != NULL && wrapper[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) wrapper[i]);
  g_ptr_array_add (argv, (gpointer) g_getenv ("BURSARD"));
  g_ptr_array_add (argv, NULL);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDERR_MERGE);
  fd = g_open (b->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  g_assert_cmpint (fd, >=, 0);
  g_subprocess_launcher_take_stdout_fd (launcher, fd);
  g_subprocess_launcher_unsetenv (launcher, "G_MESSAGES_DEBUG");
  g_subprocess_launcher_unsetenv (launcher, "G_DEBUG");
  if (config_home != NULL)
    g_subprocess_launcher_setenv (launcher, "XDG_CONFIG_HOME", config_home, TRUE);

  b->daemon_exited = FALSE;
  b->spawn_us = g_get_monotonic_time ();
  b->daemon = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);
  b->pid = (GPid) g_ascii_strtoll (g_subprocess_get_identifier (b->daemon), NULL, 10);
  g_subprocess_wait_async (b->daemon, NULL, daemon_exited_cb, &b->daemon_exited);

  {
    gboolean timed_out = FALSE;
    guint id = g_timeout_add (wrapper != NULL ? WRAPPED_START_TIMEOUT_MS : START_TIMEOUT_MS,
                              set_flag_cb, &timed_out);

    while (!watch->owned && !timed_out && !b->daemon_exited)
      g_main_context_iteration (NULL, TRUE);
    if (!timed_out)
      g_source_remove (id);
  }
  g_dbus_connection_signal_unsubscribe (b->bus, subscription);
  if (!watch->owned)
    g_error ("bursard did not own %s (exited: %d); log: %s", BUS_NAME, b->daemon_exited, b->log_path);
}

static void
start_daemon (Bench *b)
{
  start_daemon_full (b, NULL, NULL, NULL);
}

static void
stop_daemon (Bench *b)
{
  if (b->daemon == NULL)
    return;
  if (!b->daemon_exited)
    g_subprocess_send_signal (b->daemon, SIGTERM);
  if (!iterate_until (&b->daemon_exited, STOP_TIMEOUT_MS))
    {
      g_subprocess_force_exit (b->daemon);
      iterate_until (&b->daemon_exited, STOP_TIMEOUT_MS);
    }
  g_clear_object (&b->daemon);
  b->pid = 0;

  /* Let the bus drop the name before the next daemon asks for it. */
  for (guint i = 0; i < 500; i++)
    {
      g_autoptr(GVariant) reply = g_dbus_connection_call_sync (b->bus, "org.freedesktop.DBus",
                                                               "/org/freedesktop/DBus",
                                                               "org.freedesktop.DBus", "NameHasOwner",
                                                               g_variant_new ("(s)", BUS_NAME),
                                                               G_VARIANT_TYPE ("(b)"),
                                                               G_DBUS_CALL_FLAGS_NONE, 5000, NULL, NULL);
      gboolean has = TRUE;

      if (reply != NULL)
        g_variant_get (reply, "(b)", &has);
      if (!has)
        break;
      iterate_for_ms (10);
    }
}

/* --- D-Bus calls ------------------------------------------------------------ */

static GVariant *
call_sync (GDBusConnection *bus,
           const char      *path,
           const char      *iface,
           const char      *method,
           GVariant        *params,
           const char      *reply_type,
           GError         **error)
{
  return g_dbus_connection_call_sync (bus, BUS_NAME, path, iface, method, params,
                                      reply_type != NULL ? G_VARIANT_TYPE (reply_type) : NULL,
                                      G_DBUS_CALL_FLAGS_NO_AUTO_START, CALL_TIMEOUT_MS, NULL, error);
}

static char *
get_access_token (Bench      *b,
                  const char *path)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = call_sync (b->bus, path, ACCOUNT_IFACE, "GetAccessToken", NULL,
                                         "(si)", &error);
  char *token = NULL;

  g_assert_no_error (error);
  g_variant_get (reply, "(si)", &token, NULL);
  return token;
}

static GVariant *
get_property (Bench      *b,
              const char *path,
              const char *name)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = call_sync (b->bus, path, "org.freedesktop.DBus.Properties", "Get",
                                         g_variant_new ("(ss)", ACCOUNT_IFACE, name), "(v)", &error);
  GVariant *value = NULL;

  g_assert_no_error (error);
  g_variant_get (reply, "(v)", &value);
  return value;
}

/* Adds an oidc account at the mock server and signs it in through the
 * test browser; returns its object path. */
static char *
add_ready_account (Bench      *b,
                   const char *label)
{
  g_auto(GVariantBuilder) options = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  g_auto(GVariantBuilder) auth = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) auth_reply = NULL;
  char *path = NULL;
  gint64 deadline;

  g_variant_builder_add (&options, "{sv}", "issuer",
                         g_variant_new_string (bursar_test_env_get_mock_url (b->env)));
  g_variant_builder_add (&options, "{sv}", "client_id", g_variant_new_string ("test-client"));
  /* The mock's fixed test client; not a secret of anyone. */
  g_variant_builder_add (&options, "{sv}", "client_secret", g_variant_new_string ("test-secret-CANARY"));
  g_variant_builder_add (&options, "{sv}", "label", g_variant_new_string (label));
  reply = call_sync (b->bus, MANAGER_PATH, "org.bursar.Bursar1.Manager", "AddAccount",
                     g_variant_new ("(s@a{sv})", "oidc", g_variant_builder_end (&options)),
                     "(o)", &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(o)", &path);

  g_variant_builder_add (&auth, "{sv}", "open_browser", g_variant_new_boolean (TRUE));
  auth_reply = call_sync (b->bus, path, ACCOUNT_IFACE, "Authorize",
                          g_variant_new ("(a{sv})", &auth), "(s)", &error);
  g_assert_no_error (error);

  deadline = g_get_monotonic_time () + WAIT_SECONDS * G_USEC_PER_SEC;
  while (g_get_monotonic_time () < deadline)
    {
      g_autoptr(GVariant) state = get_property (b, path, "State");

      if (g_strcmp0 (g_variant_get_string (state, NULL), "ready") == 0)
        return path;
      if (g_strcmp0 (g_variant_get_string (state, NULL), "authorizing") != 0)
        g_error ("account %s ended up %s", path, g_variant_get_string (state, NULL));
      iterate_for_ms (20);
    }
  g_error ("account %s did not become ready", path);
}

/* Runs calls with a fixed number in flight, spread over @conns, until
 * @total were made or @duration_ms passed; records each latency. */
typedef struct
{
  GPtrArray *conns;
  const char *path;
  const char *iface;
  const char *method;
  const char *reply_type;
  guint total;
  guint issued;
  guint done;
  guint errors;
  gint64 deadline_us; /* 0: none */
  gint64 last_done_us;
  GArray *latencies_us; /* (element-type double) */
  GPtrArray *tokens;    /* (nullable) (element-type utf8) */
} Runner;

typedef struct
{
  Runner *runner;
  gint64 start_us;
} RunnerCall;

static void runner_issue (Runner *r);

static void
runner_call_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  RunnerCall *call = user_data;
  Runner *r = call->runner;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  gint64 now = g_get_monotonic_time ();
  double latency = (double) (now - call->start_us);

  g_free (call);
  r->done++;
  r->last_done_us = now;
  if (reply == NULL)
    {
      if (r->errors++ == 0)
        note ("call failed: %s", error->message);
    }
  else
    {
      g_array_append_val (r->latencies_us, latency);
      if (r->tokens != NULL)
        {
          char *token = NULL;

          g_variant_get (reply, "(si)", &token, NULL);
          g_ptr_array_add (r->tokens, token);
        }
    }
  if (r->issued < r->total && (r->deadline_us == 0 || now < r->deadline_us))
    runner_issue (r);
}

static void
runner_issue (Runner *r)
{
  RunnerCall *call = g_new0 (RunnerCall, 1);
  GDBusConnection *conn = g_ptr_array_index (r->conns, r->issued % r->conns->len);

  call->runner = r;
  call->start_us = g_get_monotonic_time ();
  r->issued++;
  g_dbus_connection_call (conn, BUS_NAME, r->path, r->iface, r->method, NULL,
                          r->reply_type != NULL ? G_VARIANT_TYPE (r->reply_type) : NULL,
                          G_DBUS_CALL_FLAGS_NO_AUTO_START, CALL_TIMEOUT_MS, NULL, runner_call_cb, call);
}

/* Returns the elapsed time in µs from the first call to the last answer. */
static gint64
runner_run (Runner *r,
            guint   in_flight)
{
  gint64 start = g_get_monotonic_time ();
  gint64 hard_deadline = start + 600 * G_USEC_PER_SEC;

  r->latencies_us = g_array_new (FALSE, FALSE, sizeof (double));
  for (guint i = 0; i < in_flight && r->issued < r->total; i++)
    runner_issue (r);
  while (r->done < r->issued && g_get_monotonic_time () < hard_deadline)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (r->done, ==, r->issued);
  return r->last_done_us - start;
}

static const char *
account_method (const char *which,
                const char **iface)
{
  if (g_str_equal (which, "ping"))
    {
      *iface = "org.freedesktop.DBus.Peer";
      return "Ping";
    }
  *iface = ACCOUNT_IFACE;
  return "GetAccessToken";
}

/* --- figures 1 and 2: latency and throughput against Ping ------------------- */

static void
sequential_latencies (Bench      *b,
                      const char *path,
                      const char *which,
                      guint       n,
                      GArray     *out)
{
  const char *iface;
  const char *method = account_method (which, &iface);
  const char *reply_type = g_str_equal (which, "ping") ? "()" : "(si)";

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) reply = NULL;
      gint64 t0 = g_get_monotonic_time ();
      double us;

      reply = call_sync (b->bus, path, iface, method, NULL, reply_type, &error);
      us = (double) (g_get_monotonic_time () - t0);
      g_assert_no_error (error);
      g_array_append_val (out, us);
    }
}

static double median_get_access_token_us;

static void
figure_1 (Bench      *b,
          const char *path)
{
  g_autoptr(GArray) ping = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) token = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) warm = g_array_new (FALSE, FALSE, sizeof (double));
  const guint rounds = 20;
  double ping50, ping99, tok50, tok99;

  note ("figure 1: %d sequential calls of each, interleaved", opt_calls);
  sequential_latencies (b, path, "ping", 500, warm);
  sequential_latencies (b, path, "token", 500, warm);
  /* Interleaved rounds, so drift of a noisy machine hits both alike. */
  for (guint i = 0; i < rounds; i++)
    {
      sequential_latencies (b, path, "ping", (guint) opt_calls / rounds, ping);
      sequential_latencies (b, path, "token", (guint) opt_calls / rounds, token);
    }
  ping50 = bench_percentile (ping, 50);
  ping99 = bench_percentile (ping, 99);
  tok50 = bench_percentile (token, 50);
  tok99 = bench_percentile (token, 99);
  median_get_access_token_us = tok50;

  add_result (1, "get_access_token_p50_ratio", tok50 / ping50, "x Ping", "<= 1.25",
              "%.2fx (%.0f us vs Ping %.0f us)", tok50 / ping50, tok50, ping50);
  check (tok50 / ping50 <= 1.25);
  add_result (1, "get_access_token_p99_ratio", tok99 / ping99, "x Ping", "<= 1.5",
              "%.2fx (%.0f us vs Ping %.0f us)", tok99 / ping99, tok99, ping99);
  check (tok99 / ping99 <= 1.5);
  context_set_double ("get_access_token_p50_us", tok50);
  context_set_double ("get_access_token_p99_us", tok99);
  context_set_double ("ping_p50_us", ping50);
  context_set_double ("ping_p99_us", ping99);
}

static double
throughput (Bench      *b,
            const char *path,
            const char *which,
            guint       ms)
{
  g_autoptr(GPtrArray) conns = g_ptr_array_new ();
  Runner r = { 0 };
  gint64 elapsed;
  double rate;

  g_ptr_array_add (conns, b->bus);
  r.conns = conns;
  r.path = path;
  r.method = account_method (which, &r.iface);
  r.reply_type = g_str_equal (which, "ping") ? "()" : "(si)";
  r.total = G_MAXUINT;
  r.deadline_us = g_get_monotonic_time () + (gint64) ms * 1000;
  elapsed = runner_run (&r, 16);
  g_assert_cmpuint (r.errors, ==, 0);
  rate = r.done / (elapsed / 1e6);
  g_array_unref (r.latencies_us);
  return rate;
}

static void
figure_2 (Bench      *b,
          const char *path)
{
  double ping = 0, token = 0;
  const guint rounds = 4;

  note ("figure 2: 16 in flight, %u rounds of 1 s each", rounds);
  throughput (b, path, "ping", 300);
  throughput (b, path, "token", 300);
  for (guint i = 0; i < rounds; i++)
    {
      ping += throughput (b, path, "ping", 1000) / rounds;
      token += throughput (b, path, "token", 1000) / rounds;
    }
  add_result (2, "throughput_ratio", token / ping, "x Ping", ">= 0.9",
              "%.2fx (%.0f calls/s vs Ping %.0f calls/s)", token / ping, token, ping);
  check (token / ping >= 0.9);
  context_set_double ("get_access_token_calls_per_s", token);
  context_set_double ("ping_calls_per_s", ping);
}

/* --- figure 3: many callers at expiry --------------------------------------- */

static const SecretSchema *account_schema (void);

/* What one keyring write of a token item costs (the daemon writes the new
 * tokens before it answers the waiting callers). */
static double
keyring_store_latency_us (guint n)
{
  g_autoptr(GArray) lat = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GError) error = NULL;
  g_autoptr(SecretService) service = secret_service_get_sync (SECRET_SERVICE_OPEN_SESSION, NULL, &error);

  g_assert_no_error (error);
  for (guint i = 0; i < n; i++)
    {
      const char *json = "{\"version\":1,\"refresh_token\":\"rt-bench-probe\","
                         "\"access_token\":\"at-bench-probe\",\"token_type\":\"Bearer\"}";
      g_autoptr(SecretValue) value = secret_value_new (json, -1, "application/json");
      g_autoptr(GHashTable) attributes = g_hash_table_new (g_str_hash, g_str_equal);
      gint64 t0 = g_get_monotonic_time ();
      double us;

      g_hash_table_insert (attributes, (gpointer) "account-id", (gpointer) "bench-probe");
      secret_service_store_sync (service, account_schema (), attributes, SECRET_COLLECTION_DEFAULT,
                                 "bench probe", value, NULL, &error);
      us = (double) (g_get_monotonic_time () - t0);
      g_assert_no_error (error);
      g_array_append_val (lat, us);
    }
  {
    g_autoptr(GHashTable) attributes = g_hash_table_new (g_str_hash, g_str_equal);

    g_hash_table_insert (attributes, (gpointer) "account-id", (gpointer) "bench-probe");
    secret_service_clear_sync (service, account_schema (), attributes, NULL, NULL);
  }
  return bench_percentile (lat, 50);
}

static gint64
mock_token_requests (Bench *b)
{
  g_autoptr(JsonObject) stats = bursar_test_env_mock_stats (b->env);

  return json_object_get_int_member (stats, "token_requests");
}

/* The mock's own latency for a token request (client credentials, a new
 * connection each time, as the daemon's pool has closed by then). */
static double
mock_token_latency_us (Bench *b,
                       guint  n)
{
  g_autoptr(GArray) lat = g_array_new (FALSE, FALSE, sizeof (double));
  g_autofree char *url = g_strconcat (bursar_test_env_get_mock_url (b->env), "/token", NULL);

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(SoupSession) session = soup_session_new_with_options ("timeout", 10, NULL);
      g_autoptr(SoupMessage) msg = soup_message_new ("POST", url);
      g_autoptr(GBytes) body = NULL;
      g_autoptr(GError) error = NULL;
      const char *form = "grant_type=client_credentials&client_id=test-client&client_secret=test-secret-CANARY";
      g_autoptr(GBytes) request = g_bytes_new_static (form, strlen (form));
      gint64 t0 = g_get_monotonic_time ();
      double us;

      soup_message_set_request_body_from_bytes (msg, "application/x-www-form-urlencoded", request);
      body = soup_session_send_and_read (session, msg, NULL, &error);
      us = (double) (g_get_monotonic_time () - t0);
      g_assert_no_error (error);
      g_assert_cmpuint (soup_message_get_status (msg), ==, 200);
      g_array_append_val (lat, us);
    }
  return bench_percentile (lat, 50);
}

static void
figure_3 (Bench *b)
{
  const guint n_conns = 8;
  const guint n_callers = 200;
  const int delay_ms = 50;
  g_autoptr(GPtrArray) conns = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GPtrArray) tokens = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GVariant) expires = NULL;
  g_autofree char *path = NULL;
  g_autofree char *first = NULL;
  g_autofree char *config = NULL;
  Runner r = { 0 };
  gint64 before, requests;
  gboolean same = TRUE;
  double p99, p50, mock_us;

  note ("figure 3: %u callers on %u connections at expiry", n_callers, n_conns);
  /* A token that is 3 s above the margin when issued. */
  config = g_strdup_printf ("{\"token_lifetime\": %d, \"delay_ms\": 0}", EXPIRY_MARGIN_S + 3);
  bursar_test_env_mock_configure (b->env, config);
  path = add_ready_account (b, "Expiry");
  first = get_access_token (b, path);

  for (guint i = 0; i < n_conns; i++)
    {
      g_autoptr(GError) error = NULL;
      GDBusConnection *conn =
        g_dbus_connection_new_for_address_sync (bursar_test_env_get_bus_address (b->env),
                                                G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                NULL, NULL, &error);

      g_assert_no_error (error);
      g_ptr_array_add (conns, conn);
    }

  /* Apps keep their connection and ask before every request, so each
   * connection has had its answer before the token runs low: its caller
   * check is done (a new connection's first call also waits for the bus
   * to name its process, which is not what this figure measures). */
  for (guint i = 0; i < n_conns; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) reply = NULL;

      reply = g_dbus_connection_call_sync (g_ptr_array_index (conns, i), BUS_NAME, path,
                                           ACCOUNT_IFACE, "GetAccessToken", NULL,
                                           G_VARIANT_TYPE ("(si)"), G_DBUS_CALL_FLAGS_NONE,
                                           10000, NULL, &error);
      g_assert_no_error (error);
    }

  /* Wait until the cached token is below the margin (whole seconds, as
   * the daemon counts them). */
  expires = get_property (b, path, "ExpiresAt");
  while (g_variant_get_int64 (expires) - g_get_real_time () / G_USEC_PER_SEC >= EXPIRY_MARGIN_S)
    iterate_for_ms (50);

  /* A token endpoint that takes a while, so that all callers are there
   * while the one refresh is in flight. */
  g_clear_pointer (&config, g_free);
  config = g_strdup_printf ("{\"delay_ms\": %d, \"token_lifetime\": %d}", delay_ms, LONG_TOKEN_LIFETIME_S);
  bursar_test_env_mock_configure (b->env, config);
  before = mock_token_requests (b);

  r.conns = conns;
  r.path = path;
  r.iface = ACCOUNT_IFACE;
  r.method = "GetAccessToken";
  r.reply_type = "(si)";
  r.total = n_callers;
  r.tokens = tokens;
  runner_run (&r, n_callers);
  requests = mock_token_requests (b) - before;

  for (guint i = 0; i < tokens->len; i++)
    same = same && g_strcmp0 (g_ptr_array_index (tokens, i), g_ptr_array_index (tokens, 0)) == 0;
  same = same && tokens->len == n_callers && g_strcmp0 (g_ptr_array_index (tokens, 0), first) != 0;
  p99 = bench_percentile (r.latencies_us, 99);
  p50 = bench_percentile (r.latencies_us, 50);
  context_set_double ("expiry_min_ms", bench_percentile (r.latencies_us, 0.001) / 1000.0);
  mock_us = mock_token_latency_us (b, 20);
  g_array_unref (r.latencies_us);
  bursar_test_env_mock_configure (b->env, "{\"delay_ms\": 0}");

  add_result (3, "token_requests", (double) requests, "requests", "== 1",
              "%" G_GINT64_FORMAT " token request(s) for %u callers", requests, n_callers);
  check (requests == 1);
  add_result (3, "same_token", same ? 1 : 0, "bool", "all equal, new",
              "%s (%u answers, %u errors)", same ? "yes" : "no", tokens->len, r.errors);
  check (same && r.errors == 0);
  add_result (3, "p99_minus_mock_ms", (p99 - mock_us) / 1000.0, "ms", "<= 5 ms over mock",
              "p99 %.1f ms vs mock %.1f ms (+%.1f ms)", p99 / 1000.0, mock_us / 1000.0,
              (p99 - mock_us) / 1000.0);
  check (p99 <= mock_us + 5000.0);
  context_set_double ("expiry_p50_ms", p50 / 1000.0);
  context_set_double ("expiry_p99_ms", p99 / 1000.0);
  context_set_double ("mock_token_latency_ms", mock_us / 1000.0);
  context_set_double ("mock_delay_ms", delay_ms);
  context_set_double ("keyring_store_ms", keyring_store_latency_us (10) / 1000.0);
}

/* --- figure 5: idle --------------------------------------------------------- */

/* Runs strace -c on the daemon for @seconds; returns the number of
 * syscalls other than restart_syscall (which strace's own attach causes:
 * the interrupted poll is resumed with it), or -1. */
static gint64
strace_window (Bench      *b,
               guint       seconds,
               char      **out_summary)
{
  g_autofree char *out_path = g_build_filename (bursar_test_env_get_tmpdir (b->env), "strace.txt", NULL);
  g_autofree char *pid = g_strdup_printf ("%d", (int) b->pid);
  g_autofree char *contents = NULL;
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) lines = NULL;
  g_autoptr(GString) summary = g_string_new ("");
  gint64 calls = 0;
  gboolean exited = FALSE;

  if (g_find_program_in_path ("strace") == NULL)
    return -1;
  proc = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE,
                           &error, "strace", "-c", "-f", "-o", out_path, "-p", pid, NULL);
  if (proc == NULL)
    return -1;
  g_subprocess_wait_async (proc, NULL, daemon_exited_cb, &exited);
  iterate_for_ms (seconds * 1000);
  g_subprocess_send_signal (proc, SIGINT);
  iterate_until (&exited, 10000);
  if (!exited || !g_file_get_contents (out_path, &contents, NULL, NULL))
    return -1;

  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto(GStrv) fields = g_strsplit_set (g_strstrip (lines[i]), " \t", -1);
      g_autoptr(GPtrArray) words = g_ptr_array_new ();
      const char *name;
      gint64 n;

      for (guint j = 0; fields[j] != NULL; j++)
        if (*fields[j] != '\0')
          g_ptr_array_add (words, fields[j]);
      /* % time, seconds, usecs/call, calls, [errors], syscall */
      if (words->len < 5 || !g_ascii_isdigit (*(char *) g_ptr_array_index (words, 0)))
        continue;
      name = g_ptr_array_index (words, words->len - 1);
      n = g_ascii_strtoll (g_ptr_array_index (words, 3), NULL, 10);
      if (g_str_equal (name, "total") || g_str_equal (name, "restart_syscall"))
        continue;
      calls += n;
      g_string_append_printf (summary, "%s%s %" G_GINT64_FORMAT, summary->len > 0 ? ", " : "",
                              name, n);
    }
  *out_summary = g_string_free (g_steal_pointer (&summary), FALSE);
  return calls;
}

static void
figure_5 (Bench  *b,
          gint64  last_http_us)
{
  gint64 wait_until = last_http_us + (HTTP_IDLE_TIMEOUT_S + 2) * G_USEC_PER_SEC;
  gint64 cs0, cs1, ts0, ts1, calls;
  g_autofree char *summary = NULL;

  if (g_get_monotonic_time () < wait_until)
    {
      note ("figure 5: waiting %" G_GINT64_FORMAT " s for pooled HTTP connections to close",
            (wait_until - g_get_monotonic_time ()) / G_USEC_PER_SEC + 1);
      while (g_get_monotonic_time () < wait_until)
        iterate_for_ms (200);
    }

  note ("figure 5: watching the idle daemon for %d s, then strace for %d s",
        opt_idle_seconds, opt_strace_seconds);
  cs0 = bench_proc_context_switches (b->pid);
  ts0 = bench_proc_timeslices (b->pid);
  /* Sleep without touching the daemon or the bus. */
  g_usleep ((gulong) opt_idle_seconds * G_USEC_PER_SEC);
  cs1 = bench_proc_context_switches (b->pid);
  ts1 = bench_proc_timeslices (b->pid);

  add_result (5, "idle_wakeups", (double) (cs1 - cs0), "context switches", "== 0",
              "%" G_GINT64_FORMAT " context switches, %" G_GINT64_FORMAT " timeslices in %d s",
              cs1 - cs0, ts1 - ts0, opt_idle_seconds);
  check (cs0 >= 0 && cs1 - cs0 == 0);

  calls = strace_window (b, (guint) opt_strace_seconds, &summary);
  if (calls < 0)
    add_blocked (5, "idle_syscalls", "== 0", "strace could not attach (ptrace not permitted?)");
  else
    {
      add_result (5, "idle_syscalls", (double) calls, "syscalls", "== 0",
                  "%" G_GINT64_FORMAT " syscalls in %d s%s%s%s", calls, opt_strace_seconds,
                  calls > 0 ? " (" : "", calls > 0 ? summary : "", calls > 0 ? ")" : "");
      check (calls == 0);
    }
  context_set_double ("idle_window_s", opt_idle_seconds);
  context_set_double ("strace_window_s", opt_strace_seconds);
}

/* --- figure 7: instructions per call under callgrind ------------------------ */

static gint64
callgrind_total (const char *path)
{
  g_autofree char *contents = NULL;
  g_auto(GStrv) lines = NULL;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return -1;
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      if (g_str_has_prefix (lines[i], "summary:"))
        return g_ascii_strtoll (lines[i] + strlen ("summary:"), NULL, 10);
      if (g_str_has_prefix (lines[i], "totals:"))
        return g_ascii_strtoll (lines[i] + strlen ("totals:"), NULL, 10);
    }
  return -1;
}

/* Starts the daemon under callgrind, makes one call to load the secrets,
 * then @n calls of @which, stops it and returns its instruction count. */
static gint64
callgrind_run (Bench      *b,
               const char *path,
               const char *which,
               guint       n,
               const char *tag)
{
  g_autofree char *out = g_strdup_printf ("%s/callgrind.%s.%u.out",
                                          bursar_test_env_get_tmpdir (b->env), tag, n);
  g_autofree char *out_arg = g_strconcat ("--callgrind-out-file=", out, NULL);
  const char *wrapper[] = { "valgrind", "--tool=callgrind", "--quiet", out_arg, NULL };
  g_autofree char *warm = NULL;

  start_daemon_full (b, wrapper, NULL, NULL);
  warm = get_access_token (b, path);
  if (n > 0)
    {
      g_autoptr(GPtrArray) conns = g_ptr_array_new ();
      Runner r = { 0 };

      g_ptr_array_add (conns, b->bus);
      r.conns = conns;
      r.path = path;
      r.method = account_method (which, &r.iface);
      r.reply_type = g_str_equal (which, "ping") ? "()" : "(si)";
      r.total = n;
      runner_run (&r, 16);
      g_assert_cmpuint (r.errors, ==, 0);
      g_array_unref (r.latencies_us);
    }
  stop_daemon (b);
  return callgrind_total (out);
}

static void
figure_7 (Bench      *b,
          const char *path)
{
  gint64 base, token, ping;
  double per_token, per_ping;
  g_autofree char *baseline_path = g_build_filename (BENCH_SOURCE_DIR, "callgrind-baseline.txt", NULL);
  g_autofree char *baseline_text = NULL;
  double baseline = 0;

  if (opt_no_callgrind || g_find_program_in_path ("valgrind") == NULL)
    {
      add_blocked (7, "instructions_per_call", "no regression", "valgrind not run (--no-callgrind or not installed)");
      return;
    }
  note ("figure 7: bursard under callgrind: 0, %d GetAccessToken, %d Ping", opt_callgrind_calls,
        opt_callgrind_calls);
  base = callgrind_run (b, path, "token", 0, "base");
  token = callgrind_run (b, path, "token", (guint) opt_callgrind_calls, "token");
  ping = callgrind_run (b, path, "ping", (guint) opt_callgrind_calls, "ping");
  if (base < 0 || token < 0 || ping < 0)
    {
      add_blocked (7, "instructions_per_call", "no regression", "callgrind output not found");
      return;
    }
  per_token = (double) (token - base) / opt_callgrind_calls;
  per_ping = (double) (ping - base) / opt_callgrind_calls;

  if (g_file_get_contents (baseline_path, &baseline_text, NULL, NULL))
    baseline = g_ascii_strtod (baseline_text, NULL);
  if (baseline > 0)
    {
      g_autofree char *target = g_strdup_printf ("<= %.0f (baseline +10%%)", baseline * 1.1);

      add_result (7, "instructions_per_call", per_token, "instructions", target,
                  "%.0f instr/call (Ping %.0f, %.2fx)", per_token, per_ping, per_token / per_ping);
      check (per_token <= baseline * 1.1);
    }
  else
    add_result (7, "instructions_per_call", per_token, "instructions", "report (no baseline)",
                "%.0f instr/call (Ping %.0f, %.2fx)", per_token, per_ping, per_token / per_ping);
  context_set_double ("ping_instructions_per_call", per_ping);
  context_set_double ("callgrind_calls", opt_callgrind_calls);
}

/* --- figure 6: oidc-agent --------------------------------------------------- */

/* Signs a public client in at the mock directly (authorize with PKCE, then
 * the code exchange) and returns the refresh token. */
static char *
mock_refresh_token (Bench       *b,
                    const char  *client_id,
                    const char  *client_secret)
{
  const char *base = bursar_test_env_get_mock_url (b->env);
  const char *verifier = "bench-verifier-0123456789-0123456789-0123456789";
  const char *redirect = "http://127.0.0.1:9/cb";
  g_autoptr(GChecksum) sha = g_checksum_new (G_CHECKSUM_SHA256);
  guint8 digest[32];
  gsize digest_len = sizeof digest;
  g_autofree char *challenge = NULL;
  g_autofree char *url = NULL;
  g_autofree char *escaped_redirect = g_uri_escape_string (redirect, NULL, FALSE);
  g_autoptr(SoupSession) session = soup_session_new_with_options ("timeout", 10, NULL);
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(SoupMessage) token_msg = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GUri) location = NULL;
  g_autoptr(GHashTable) params = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autofree char *form = NULL;
  const char *code;

  g_checksum_update (sha, (const guchar *) verifier, -1);
  g_checksum_get_digest (sha, digest, &digest_len);
  challenge = g_base64_encode (digest, digest_len);
  for (char *p = challenge; *p != '\0'; p++)
    *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
  if (strchr (challenge, '=') != NULL)
    *strchr (challenge, '=') = '\0';

  url = g_strdup_printf ("%s/authorize?response_type=code&client_id=%s&redirect_uri=%s"
                         "&scope=openid%%20offline_access&state=bench&nonce=bench"
                         "&code_challenge=%s&code_challenge_method=S256",
                         base, client_id, escaped_redirect, challenge);
  msg = soup_message_new ("GET", url);
  soup_message_add_flags (msg, SOUP_MESSAGE_NO_REDIRECT);
  body = soup_session_send_and_read (session, msg, NULL, &error);
  g_assert_no_error (error);
  location = g_uri_parse (soup_message_headers_get_one (soup_message_get_response_headers (msg), "Location"),
                          G_URI_FLAGS_NONE, &error);
  g_assert_no_error (error);
  params = g_uri_parse_params (g_uri_get_query (location), -1, "&", G_URI_PARAMS_NONE, &error);
  g_assert_no_error (error);
  code = g_hash_table_lookup (params, "code");
  g_assert_nonnull (code);

  form = soup_form_encode ("grant_type", "authorization_code", "code", code, "redirect_uri", redirect,
                           "client_id", client_id, "client_secret", client_secret,
                           "code_verifier", verifier, NULL);
  g_free (url);
  url = g_strconcat (base, "/token", NULL);
  token_msg = soup_message_new_from_encoded_form ("POST", url, g_steal_pointer (&form));
  g_clear_pointer (&body, g_bytes_unref);
  body = soup_session_send_and_read (session, token_msg, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (soup_message_get_status (token_msg), ==, 200);
  json_parser_load_from_data (parser, g_bytes_get_data (body, NULL), (gssize) g_bytes_get_size (body), &error);
  g_assert_no_error (error);
  return g_strdup (json_object_get_string_member (json_node_get_object (json_parser_get_root (parser)),
                                                  "refresh_token"));
}

/* Wall time of one run of @argv to its exit, in µs; -1 on failure. */
static double
process_time_us (const char * const *argv)
{
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) out = NULL;
  gint64 t0 = g_get_monotonic_time ();

  proc = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_SILENCE,
                            &error);
  if (proc == NULL || !g_subprocess_communicate (proc, NULL, NULL, &out, NULL, &error))
    return -1;
  if (!g_subprocess_get_successful (proc) || g_bytes_get_size (out) < 8)
    return -1;
  return (double) (g_get_monotonic_time () - t0);
}

typedef struct
{
  GSubprocess *agent;
  gboolean exited;
  char *error;
} OidcAgent;

/* Starts oidc-agent in the foreground on a socket in the bench's tmpdir,
 * and adds account "bench" for the mock's public client with a refresh
 * token (passed in the environment, never in argv). */
static gboolean
oidc_agent_setup (Bench     *b,
                  OidcAgent *oa)
{
  g_autofree char *socket_dir = g_build_filename (bursar_test_env_get_tmpdir (b->env), "oidc-XXXXXX", NULL);
  g_autofree char *socket_path = NULL;
  g_autofree char *refresh = NULL;
  g_autofree char *issuer_arg = NULL;
  g_autofree char *gen_out = NULL;
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) gen = NULL;
  g_autoptr(GError) error = NULL;
  gint64 deadline;

  if (g_find_program_in_path ("oidc-agent") == NULL || g_find_program_in_path ("oidc-gen") == NULL ||
      g_find_program_in_path ("oidc-token") == NULL)
    {
      oa->error = g_strdup ("oidc-agent / oidc-agent-cli not installed");
      return FALSE;
    }
  if (g_mkdtemp (socket_dir) == NULL)
    g_error ("mkdtemp: %s", g_strerror (errno));
  socket_path = g_build_filename (socket_dir, "oidc-agent.sock", NULL);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  oa->agent = g_subprocess_launcher_spawn (launcher, &error, "oidc-agent", "--console", "--quiet",
                                           "--no-autoload", "--socket-path", socket_path, NULL);
  if (oa->agent == NULL)
    {
      oa->error = g_strdup_printf ("oidc-agent did not start: %s", error->message);
      return FALSE;
    }
  g_subprocess_wait_async (oa->agent, NULL, daemon_exited_cb, &oa->exited);
  deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (!g_file_test (socket_path, G_FILE_TEST_EXISTS) && !oa->exited &&
         g_get_monotonic_time () < deadline)
    iterate_for_ms (10);
  if (!g_file_test (socket_path, G_FILE_TEST_EXISTS))
    {
      oa->error = g_strdup ("oidc-agent did not create its socket");
      return FALSE;
    }
  g_setenv ("OIDC_SOCK", socket_path, TRUE);

  refresh = mock_refresh_token (b, "test-client", "test-secret-CANARY");
  g_clear_object (&launcher);
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_subprocess_launcher_setenv (launcher, "OIDC_REFRESH_TOKEN", refresh, TRUE);
  g_subprocess_launcher_setenv (launcher, "OIDC_ENCRYPTION_PW", "bench-encryption-password", TRUE);
  issuer_arg = g_strconcat ("--issuer=", bursar_test_env_get_mock_url (b->env), NULL);
  /* oidc-gen insists on a client secret; this is the mock's fixed test
   * client, whose secret is in the mock's source, not anyone's. */
  gen = g_subprocess_launcher_spawn (launcher, &error, "oidc-gen", issuer_arg, "--client-id=test-client",
                                     "--client-secret=test-secret-CANARY",
                                     "--scope=openid offline_access", "--rt-env", "--pw-env",
                                     "--confirm-default", "--prompt=none", "--no-url-call",
                                     "bench", NULL);
  if (gen == NULL || !g_subprocess_communicate_utf8 (gen, "", NULL, &gen_out, NULL, &error) ||
      !g_subprocess_get_successful (gen))
    {
      g_auto(GStrv) lines = g_strsplit (gen_out != NULL ? gen_out : "", "\n", 2);

      oa->error = g_strdup_printf ("oidc-gen failed: %s",
                                   error != NULL ? error->message : lines[0] != NULL ? lines[0] : "");
      return FALSE;
    }
  return TRUE;
}

static void
oidc_agent_teardown (OidcAgent *oa)
{
  if (oa->agent != NULL && !oa->exited)
    {
      g_subprocess_send_signal (oa->agent, SIGTERM);
      if (!iterate_until (&oa->exited, 5000))
        {
          g_subprocess_force_exit (oa->agent);
          iterate_until (&oa->exited, 5000);
        }
    }
  g_clear_object (&oa->agent);
  g_free (oa->error);
  g_unsetenv ("OIDC_SOCK");
}

static void
figure_6 (Bench      *b,
          const char *account_id)
{
  OidcAgent oa = { NULL, FALSE, NULL };
  g_autoptr(GArray) ours = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) theirs = g_array_new (FALSE, FALSE, sizeof (double));
  const char *ctl_argv[] = { g_getenv ("BURSARCTL"), "token", account_id, NULL };
  const char *token_argv[] = { "oidc-token", "bench", NULL };
  double ours50, theirs50;

  note ("figure 6: oidc-agent side by side");
  if (opt_no_oidc_agent)
    {
      add_blocked (6, "process_ratio", "< 1", "skipped (--no-oidc-agent)");
      add_blocked (6, "request_ratio", "< 1", "skipped (--no-oidc-agent)");
      return;
    }
  if (!oidc_agent_setup (b, &oa))
    {
      add_blocked (6, "process_ratio", "< 1", oa.error);
      add_blocked (6, "request_ratio", "< 1", oa.error);
      oidc_agent_teardown (&oa);
      return;
    }

  /* Both fetch their token once, then answer from their caches. */
  if (process_time_us (token_argv) < 0 || process_time_us (ctl_argv) < 0)
    {
      add_blocked (6, "process_ratio", "< 1", "oidc-token or bursarctl token failed");
      add_blocked (6, "request_ratio", "< 1", "oidc-token or bursarctl token failed");
      oidc_agent_teardown (&oa);
      return;
    }
  for (int i = 0; i < opt_process_runs; i++)
    {
      double a = process_time_us (ctl_argv);
      double t = process_time_us (token_argv);

      g_assert_cmpfloat (a, >, 0);
      g_assert_cmpfloat (t, >, 0);
      g_array_append_val (ours, a);
      g_array_append_val (theirs, t);
    }
  ours50 = bench_percentile (ours, 50);
  theirs50 = bench_percentile (theirs, 50);
  add_result (6, "process_ratio", ours50 / theirs50, "x oidc-token", "< 1",
              "%.2fx (bursarctl token %.2f ms vs oidc-token %.2f ms, median of %d)",
              ours50 / theirs50, ours50 / 1000, theirs50 / 1000, opt_process_runs);
  check (ours50 < theirs50);
  context_set_double ("bursarctl_token_ms", ours50 / 1000);
  context_set_double ("oidc_token_ms", theirs50 / 1000);

#ifdef HAVE_LIBOIDC_AGENT
  {
    g_autoptr(GArray) lat = g_array_new (FALSE, FALSE, sizeof (double));
    double agent50;

    for (guint i = 0; i < 1000; i++)
      {
        gint64 t0 = g_get_monotonic_time ();
        struct agent_response response = getAgentTokenResponse ("bench", EXPIRY_MARGIN_S, NULL,
                                                                "bursar-bench", NULL);
        double us = (double) (g_get_monotonic_time () - t0);

        if (response.type != AGENT_RESPONSE_TYPE_TOKEN)
          {
            add_blocked (6, "request_ratio", "< 1", "liboidc-agent request failed");
            secFreeAgentResponse (response);
            oidc_agent_teardown (&oa);
            return;
          }
        secFreeAgentResponse (response);
        if (i >= 100)
          g_array_append_val (lat, us);
      }
    agent50 = bench_percentile (lat, 50);
    add_result (6, "request_ratio", median_get_access_token_us / agent50, "x oidc-agent", "< 1",
                "%.2fx (GetAccessToken %.0f us vs liboidc-agent request %.0f us, medians)",
                median_get_access_token_us / agent50, median_get_access_token_us, agent50);
    check (median_get_access_token_us < agent50);
    context_set_double ("oidc_agent_request_us", agent50);
  }
#else
  add_blocked (6, "request_ratio", "< 1", "built without liboidc-agent-dev");
#endif
  oidc_agent_teardown (&oa);
}

/* --- figure 4: 1,000 accounts ----------------------------------------------- */

static const SecretSchema *
account_schema (void)
{
  /* The schema of daemon/bursar-secret-store.c. */
  static const SecretSchema schema = {
    "org.bursar.Account", SECRET_SCHEMA_NONE,
    { { "account-id", SECRET_SCHEMA_ATTRIBUTE_STRING }, { NULL, 0 } },
    0, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  };
  return &schema;
}

/* Writes @n accounts into @config_home/bursar/accounts.conf, copies of
 * the group of @template_id, and their keyring items (the JSON of
 * bursar_secrets_serialize() with a fake access token valid for hours),
 * starting at index @first. Returns the ids. */
static GPtrArray *
write_accounts (Bench      *b,
                const char *config_home,
                const char *template_id,
                guint       n)
{
  g_autofree char *src = g_build_filename (bursar_test_env_get_home (b->env), ".config", "bursar",
                                           "accounts.conf", NULL);
  g_autofree char *dir = g_build_filename (config_home, "bursar", NULL);
  g_autofree char *dst = g_build_filename (dir, "accounts.conf", NULL);
  g_autofree char *template_group = g_strconcat ("Account ", template_id, NULL);
  g_autoptr(GKeyFile) in = g_key_file_new ();
  g_autoptr(GKeyFile) out = g_key_file_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(SecretService) service = NULL;
  g_auto(GStrv) keys = NULL;
  GPtrArray *ids = g_ptr_array_new_with_free_func (g_free);
  gint64 expires_at = g_get_real_time () / G_USEC_PER_SEC + LONG_TOKEN_LIFETIME_S;

  g_key_file_load_from_file (in, src, G_KEY_FILE_NONE, &error);
  g_assert_no_error (error);
  keys = g_key_file_get_keys (in, template_group, NULL, &error);
  g_assert_no_error (error);
  service = secret_service_get_sync (SECRET_SERVICE_OPEN_SESSION, NULL, &error);
  g_assert_no_error (error);

  for (guint i = 0; i < n; i++)
    {
      g_autofree char *id = g_strdup_printf ("oidc_%u", 1001 + i);
      g_autofree char *group = g_strconcat ("Account ", id, NULL);
      g_autofree char *label = g_strdup_printf ("Scale %u", i);
      g_autofree char *json = g_strdup_printf ("{\"version\":1,\"refresh_token\":\"rt-bench-%u\","
                                               "\"access_token\":\"at-bench-%u\",\"token_type\":\"Bearer\","
                                               "\"expires_at\":%" G_GINT64_FORMAT "}", i, i, expires_at);
      g_autoptr(SecretValue) value = secret_value_new (json, -1, "application/json");
      g_autoptr(GHashTable) attributes = g_hash_table_new (g_str_hash, g_str_equal);

      for (guint k = 0; keys[k] != NULL; k++)
        {
          g_autofree char *v = g_key_file_get_value (in, template_group, keys[k], NULL);

          g_key_file_set_value (out, group, keys[k], v);
        }
      g_key_file_set_string (out, group, "Label", label);
      g_hash_table_insert (attributes, (gpointer) "account-id", id);
      secret_service_store_sync (service, account_schema (), attributes, SECRET_COLLECTION_DEFAULT,
                                 label, value, NULL, &error);
      g_assert_no_error (error);
      g_ptr_array_add (ids, g_steal_pointer (&id));
    }

  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  g_key_file_save_to_file (out, dst, &error);
  g_assert_no_error (error);
  return ids;
}

typedef struct
{
  gboolean done;
  gint64 done_us;
  GError *error;
} FirstCall;

static void
first_call_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  FirstCall *fc = user_data;
  GVariant *reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &fc->error);

  fc->done_us = g_get_monotonic_time ();
  g_clear_pointer (&reply, g_variant_unref);
  fc->done = TRUE;
}

typedef struct
{
  double first_ms;
  double rss_kib;
  double anon_kib;  /* RssAnon: bursard's own pages, not the libraries' */
} ScaleRun;

/* Starts the daemon on @config_home, times exec to the first answered
 * GetAccessToken, calls GetAccessToken once on every account and reads
 * VmRSS. */
static ScaleRun
scale_run (Bench      *b,
           const char *config_home,
           GPtrArray  *ids)
{
  g_autofree char *first_path = g_strconcat (MANAGER_PATH "/accounts/", (char *) g_ptr_array_index (ids, 0), NULL);
  NameWatch watch = { FALSE, 0 };
  FirstCall fc = { FALSE, 0, NULL };
  ScaleRun run;
  g_autoptr(GPtrArray) conns = g_ptr_array_new ();

  /* Ask at once when the name appears: start_daemon_full() returns in the
   * same main-loop iteration that saw it. */
  start_daemon_full (b, NULL, config_home, &watch);
  g_dbus_connection_call (b->bus, BUS_NAME, first_path, ACCOUNT_IFACE, "GetAccessToken", NULL,
                          G_VARIANT_TYPE ("(si)"), G_DBUS_CALL_FLAGS_NO_AUTO_START, CALL_TIMEOUT_MS,
                          NULL, first_call_cb, &fc);
  iterate_until (&fc.done, CALL_TIMEOUT_MS);
  g_assert_no_error (fc.error);
  run.first_ms = (fc.done_us - b->spawn_us) / 1000.0;

  g_ptr_array_add (conns, b->bus);
  for (guint i = 0; i < ids->len; i++)
    {
      g_autofree char *path = g_strconcat (MANAGER_PATH "/accounts/", (char *) g_ptr_array_index (ids, i), NULL);
      Runner r = { 0 };

      /* One at a time keeps the paths simple; the secrets come from the
       * keyring on each first call. */
      r.conns = conns;
      r.path = path;
      r.iface = ACCOUNT_IFACE;
      r.method = "GetAccessToken";
      r.reply_type = "(si)";
      r.total = 1;
      runner_run (&r, 1);
      g_assert_cmpuint (r.errors, ==, 0);
      g_array_unref (r.latencies_us);
    }
  iterate_for_ms (200);
  run.rss_kib = (double) bench_proc_rss_kib (b->pid);
  run.anon_kib = (double) bench_proc_status_kib (b->pid, "RssAnon");
  stop_daemon (b);
  return run;
}

static void
figure_4 (Bench      *b,
          const char *template_id)
{
  g_autofree char *small_home = g_build_filename (bursar_test_env_get_tmpdir (b->env), "scale-small", NULL);
  g_autofree char *big_home = g_build_filename (bursar_test_env_get_tmpdir (b->env), "scale-big", NULL);
  g_autoptr(GPtrArray) small_ids = NULL;
  g_autoptr(GPtrArray) big_ids = NULL;
  ScaleRun small, big;
  double per_account;
  gint64 t0 = g_get_monotonic_time ();

  note ("figure 4: writing %d accounts into accounts.conf and the keyring", opt_accounts);
  big_ids = write_accounts (b, big_home, template_id, (guint) opt_accounts);
  small_ids = g_ptr_array_new ();
  g_ptr_array_add (small_ids, g_ptr_array_index (big_ids, 0));
  {
    /* The one-account run uses the first of the same items. */
    g_autofree char *dir = g_build_filename (small_home, "bursar", NULL);
    g_autofree char *big_conf = g_build_filename (big_home, "bursar", "accounts.conf", NULL);
    g_autofree char *small_conf = g_build_filename (dir, "accounts.conf", NULL);
    g_autoptr(GKeyFile) kf = g_key_file_new ();
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) groups = NULL;

    g_key_file_load_from_file (kf, big_conf, G_KEY_FILE_NONE, &error);
    g_assert_no_error (error);
    groups = g_key_file_get_groups (kf, NULL);
    for (guint i = 1; groups[i] != NULL; i++)
      g_key_file_remove_group (kf, groups[i], NULL);
    g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
    g_key_file_save_to_file (kf, small_conf, &error);
    g_assert_no_error (error);
  }
  context_set_double ("scale_setup_s", (g_get_monotonic_time () - t0) / 1e6);

  note ("figure 4: daemon with 1 account, then with %d", opt_accounts);
  small = scale_run (b, small_home, small_ids);
  big = scale_run (b, big_home, big_ids);
  per_account = (big.rss_kib - small.rss_kib) / (opt_accounts - 1);

  add_result (4, "first_answer_ms", big.first_ms, "ms", "<= 150 ms",
              "%.1f ms from exec with %d accounts (1 account: %.1f ms)", big.first_ms, opt_accounts,
              small.first_ms);
  check (big.first_ms <= 150);
  add_result (4, "rss_mib", big.rss_kib / 1024, "MiB", "<= 8 MiB",
              "%.2f MiB VmRSS after a call on each of %d accounts (1 account: %.2f MiB)",
              big.rss_kib / 1024, opt_accounts, small.rss_kib / 1024);
  check (big.rss_kib <= 8 * 1024);
  add_result (4, "rss_per_account_kib", per_account, "KiB", "<= 2 KiB",
              "%.2f KiB per added account", per_account);
  check (per_account <= 2);
  context_set_double ("first_answer_1_account_ms", small.first_ms);
  context_set_double ("rss_1_account_mib", small.rss_kib / 1024);
  /* VmRSS counts the libraries' shared file pages (most of one account's
   * 10 MiB); the anonymous part is what bursard itself holds. */
  context_set_double ("rss_anon_mib", big.anon_kib / 1024);
  context_set_double ("rss_anon_1_account_mib", small.anon_kib / 1024);
  context_set_double ("accounts", opt_accounts);
}

/* --- output ----------------------------------------------------------------- */

static char *
machine_description (JsonBuilder *builder)
{
  struct utsname u;
  g_autofree char *cpu = bench_cpu_model ();
  gint64 mem = bench_mem_total_mib ();
  long ncpu = sysconf (_SC_NPROCESSORS_ONLN);

  uname (&u);
  json_builder_set_member_name (builder, "machine");
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "nproc");
  json_builder_add_int_value (builder, ncpu);
  json_builder_set_member_name (builder, "cpu");
  json_builder_add_string_value (builder, cpu);
  json_builder_set_member_name (builder, "mem_mib");
  json_builder_add_int_value (builder, mem);
  json_builder_set_member_name (builder, "kernel");
  json_builder_add_string_value (builder, u.release);
  json_builder_end_object (builder);
  return g_strdup_printf ("%ld CPUs, %s, %" G_GINT64_FORMAT " MiB RAM, Linux %s", ncpu, cpu, mem, u.release);
}

static void
print_and_write (const char *json_path,
                 double      total_s)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *machine = NULL;
  g_autofree char *json = NULL;
  guint passed = 0, failed = 0, blocked = 0;

  json_builder_begin_object (builder);
  machine = machine_description (builder);
  json_builder_set_member_name (builder, "duration_s");
  json_builder_add_double_value (builder, total_s);
  json_builder_set_member_name (builder, "results");
  json_builder_begin_array (builder);

  g_print ("\nBursar benchmark (issue 5), %s\n\n", machine);
  g_print ("%-3s %-28s %-8s %-24s %s\n", "#", "metric", "result", "target", "measured");
  g_print ("%-3s %-28s %-8s %-24s %s\n", "--", "----------------------------", "--------",
           "------------------------", "--------");
  for (guint i = 0; i < results->len; i++)
    {
      Result *r = g_ptr_array_index (results, i);

      g_print ("%-3d %-28s %-8s %-24s %s\n", r->figure, r->metric, status_names[r->status], r->target,
               r->measured);
      passed += r->status == STATUS_PASS;
      failed += r->status == STATUS_FAIL;
      blocked += r->status == STATUS_BLOCKED;

      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "figure");
      json_builder_add_int_value (builder, r->figure);
      json_builder_set_member_name (builder, "metric");
      json_builder_add_string_value (builder, r->metric);
      json_builder_set_member_name (builder, "value");
      if (isnan (r->value))
        json_builder_add_null_value (builder);
      else
        json_builder_add_double_value (builder, r->value);
      json_builder_set_member_name (builder, "unit");
      json_builder_add_string_value (builder, r->unit);
      json_builder_set_member_name (builder, "target");
      json_builder_add_string_value (builder, r->target);
      json_builder_set_member_name (builder, "status");
      json_builder_add_string_value (builder, r->status == STATUS_PASS ? "pass" :
                                              r->status == STATUS_FAIL ? "fail" :
                                              r->status == STATUS_BLOCKED ? "blocked" : "info");
      json_builder_set_member_name (builder, "measured");
      json_builder_add_string_value (builder, r->measured);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
  json_builder_set_member_name (builder, "context");
  {
    g_autoptr(JsonNode) node = json_node_new (JSON_NODE_OBJECT);

    json_node_set_object (node, context);
    json_builder_add_value (builder, g_steal_pointer (&node));
  }
  json_builder_end_object (builder);

  g_print ("\n%u passed, %u failed, %u blocked, %u informational; %.0f s\n", passed, failed, blocked,
           results->len - passed - failed - blocked, total_s);

  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  json_generator_set_pretty (generator, TRUE);
  json = json_generator_to_data (generator, NULL);
  if (!g_file_set_contents (json_path, json, -1, &error))
    g_printerr ("Cannot write %s: %s\n", json_path, error->message);
  else
    g_print ("JSON: %s\n", json_path);
}

/* --- main ------------------------------------------------------------------- */

static void
default_env (const char *name,
             const char *value)
{
  if (g_getenv (name) == NULL)
    g_setenv (name, value, TRUE);
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GOptionContext) option_context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(BursarTestEnv) env = NULL;
  g_autofree char *json_path = NULL;
  g_autofree char *path_a = NULL;
  g_autofree char *token = NULL;
  g_autofree char *config = NULL;
  const GOptionEntry entries[] = {
    { "json", 'o', 0, G_OPTION_ARG_FILENAME, &opt_json, "Write the JSON here (default: bench-results.json in the build dir)", "FILE" },
    { "idle-seconds", 0, 0, G_OPTION_ARG_INT, &opt_idle_seconds, "Idle window for the wake-up count (default 20)", "S" },
    { "strace-seconds", 0, 0, G_OPTION_ARG_INT, &opt_strace_seconds, "Idle window under strace (default 10)", "S" },
    { "accounts", 0, 0, G_OPTION_ARG_INT, &opt_accounts, "Accounts for figure 4 (default 1000)", "N" },
    { "calls", 0, 0, G_OPTION_ARG_INT, &opt_calls, "Sequential calls of each kind for figure 1 (default 5000)", "N" },
    { "callgrind-calls", 0, 0, G_OPTION_ARG_INT, &opt_callgrind_calls, "Calls under callgrind (default 10000)", "N" },
    { "process-runs", 0, 0, G_OPTION_ARG_INT, &opt_process_runs, "Runs of each command for figure 6 (default 30)", "N" },
    { "no-callgrind", 0, 0, G_OPTION_ARG_NONE, &opt_no_callgrind, "Skip figure 7", NULL },
    { "no-oidc-agent", 0, 0, G_OPTION_ARG_NONE, &opt_no_oidc_agent, "Skip figure 6", NULL },
    { "figures", 0, 0, G_OPTION_ARG_STRING, &opt_figures, "Run only these figures, e.g. 1,2,3 (default: all)", "LIST" },
    { NULL }
  };
  gint64 t0 = g_get_monotonic_time ();
  gint64 last_http_us;
  Bench b = { 0 };

  option_context = g_option_context_new ("- the Bursar benchmark (issue 5)");
  g_option_context_add_main_entries (option_context, entries, NULL);
  if (!g_option_context_parse (option_context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  if (opt_accounts < 2 || opt_calls < 20 || opt_callgrind_calls < 1 || opt_process_runs < 1 ||
      opt_idle_seconds < 1 || opt_strace_seconds < 1)
    {
      g_printerr ("Counts must be positive (and --accounts at least 2)\n");
      return 2;
    }
  json_path = opt_json != NULL ? g_strdup (opt_json)
                               : g_build_filename (BENCH_BUILD_DIR, "bench-results.json", NULL);

  /* An uninstalled build, as the test suite runs it. */
  default_env ("BURSARD", BENCH_BURSARD);
  default_env ("BURSARCTL", BENCH_BURSARCTL);
  default_env ("BURSAR_MOCK_SERVER", BENCH_MOCK_SERVER);
  default_env ("BURSAR_TEST_BROWSER", BENCH_TEST_BROWSER);
  default_env ("BURSAR_PROVIDERS_DIR", BENCH_PROVIDERS_DIR);
  default_env ("BURSAR_LOCALEDIR", BENCH_LOCALEDIR);
  g_setenv ("LC_ALL", "C.UTF-8", TRUE);
  g_unsetenv ("G_MESSAGES_DEBUG");
  signal (SIGPIPE, SIG_IGN);

  results = g_ptr_array_new_with_free_func ((GDestroyNotify) result_free);
  context = json_object_new ();

  note ("starting the private bus, gnome-keyring and the mock server");
  env = bursar_test_env_new ();
  b.env = env;
  b.bus = bursar_test_env_get_bus (env);
  b.log_path = g_build_filename (bursar_test_env_get_tmpdir (env), "bench-daemon.log", NULL);

  config = g_strdup_printf ("{\"token_lifetime\": %d}", LONG_TOKEN_LIFETIME_S);
  bursar_test_env_mock_configure (env, config);
  start_daemon (&b);
  path_a = add_ready_account (&b, "Bench");
  token = get_access_token (&b, path_a);
  last_http_us = g_get_monotonic_time ();

  /* Figure 6 compares with the GetAccessToken median of figure 1. */
  if (want_figure (1) || want_figure (6))
    figure_1 (&b, path_a);
  if (want_figure (2))
    figure_2 (&b, path_a);
  if (want_figure (5))
    figure_5 (&b, last_http_us);
  if (want_figure (3))
    figure_3 (&b);
  if (want_figure (6))
    figure_6 (&b, strrchr (path_a, '/') + 1);
  stop_daemon (&b);
  if (want_figure (7))
    figure_7 (&b, path_a);
  if (want_figure (4))
    figure_4 (&b, strrchr (path_a, '/') + 1);

  print_and_write (json_path, (g_get_monotonic_time () - t0) / 1e6);

  g_ptr_array_unref (results);
  json_object_unref (context);
  g_free (b.log_path);
  return 0;
}
