/* bursar-test-env.h: the real-component test environment.
 *
 * One BursarTestEnv is one private desktop session for an integration test:
 * a temporary home with its own XDG directories, a private dbus-daemon (one
 * per test process, shared by its environments; see bursar-test-env.c), a
 * real gnome-keyring-daemon unlocked with a test password, the mock
 * authorization server on loopback, and the test browser registered as the
 * desktop's x-scheme-handler/http(s) handler. bursard itself is started on
 * demand with bursar_test_env_start_daemon().
 *
 * The environment variables of the test process itself (HOME, XDG_*,
 * DBUS_SESSION_BUS_ADDRESS, BURSAR_TEST_BROWSER_LOG) point into the
 * environment, so children inherit it and libsecret in the test talks to
 * the private keyring. GLib caches the XDG directories of a process on
 * first use, so in-process GIO lookups (default applications) only see the
 * first environment a test process creates; child processes always see the
 * current one.
 *
 * Paths of the helpers come from $BURSAR_MOCK_SERVER, $BURSAR_TEST_BROWSER
 * and $BURSARD (set by tests/meson.build). $BURSAR_DAEMON_WRAPPER, when
 * set, is a command line put in front of bursard (e.g. "valgrind
 * --error-exitcode=1 --leak-check=full"), and waits are made longer.
 *
 * Every wait is bounded; a failure is a test assertion that names what did
 * not come up. Secrets are never printed.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef struct _BursarTestEnv BursarTestEnv;

/* Password the test keyring is created and unlocked with. */
#define BURSAR_TEST_KEYRING_PASSWORD "bursar-test-password"

/* BURSAR_TEST_ENV_NO_KEYRING: no gnome-keyring-daemon; the test brings
 * its own org.freedesktop.secrets (e.g. bursar-mock-secret-service). */
typedef enum
{
  BURSAR_TEST_ENV_NONE = 0,
  BURSAR_TEST_ENV_NO_KEYRING = 1 << 0,
} BursarTestEnvFlags;

BursarTestEnv *bursar_test_env_new (void);
BursarTestEnv *bursar_test_env_new_full (BursarTestEnvFlags flags);
void bursar_test_env_free (BursarTestEnv *env);

void bursar_test_env_start_daemon (BursarTestEnv      *env,
                                   const char * const *extra_args);
void bursar_test_env_stop_daemon (BursarTestEnv *env,
                                  int            signum);
GPid bursar_test_env_get_daemon_pid (BursarTestEnv *env);
gboolean bursar_test_env_daemon_running (BursarTestEnv *env);
char *bursar_test_env_daemon_log (BursarTestEnv *env);

GDBusConnection *bursar_test_env_get_bus (BursarTestEnv *env);
const char *bursar_test_env_get_bus_address (BursarTestEnv *env);
const char *bursar_test_env_get_tmpdir (BursarTestEnv *env);
const char *bursar_test_env_get_home (BursarTestEnv *env);

const char *bursar_test_env_get_mock_url (BursarTestEnv *env);
void bursar_test_env_mock_configure (BursarTestEnv *env,
                                     const char    *json);
void bursar_test_env_mock_reset (BursarTestEnv *env);
JsonObject *bursar_test_env_mock_stats (BursarTestEnv *env);
char **bursar_test_env_mock_secrets (BursarTestEnv *env);

const char *bursar_test_env_get_browser_log_path (BursarTestEnv *env);
char **bursar_test_env_browser_urls (BursarTestEnv *env);

void bursar_test_env_stop_keyring (BursarTestEnv *env);
void bursar_test_env_start_keyring (BursarTestEnv *env);

void bursar_test_env_assert_no_secrets (BursarTestEnv *env);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (BursarTestEnv, bursar_test_env_free)

G_END_DECLS
