/* bursar-test-bus.h: small D-Bus helpers the integration tests share —
 * calls to bursard on the environment's private bus, accounts and their
 * properties, bounded waits, the mock server's counters and resource
 * server, and the keyring item behind an account.
 *
 * Every helper asserts on what must not fail (a property read) and hands
 * back a GError for what the test is about (a token call).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <libsecret/secret.h>

#include "bursar-test-env.h"

G_BEGIN_DECLS

#define BURSAR_TEST_CALL_TIMEOUT_MS 60000
#define BURSAR_TEST_WAIT_SECONDS 30

#define BURSAR_TEST_MANAGER_PATH "/org/bursar/Bursar1"
#define BURSAR_TEST_MANAGER_IFACE "org.bursar.Bursar1.Manager"
#define BURSAR_TEST_ACCOUNT_IFACE "org.bursar.Bursar1.Account"

/* The fixture of the bus tests: bursard started in a fresh environment. */
typedef struct
{
  BursarTestEnv *env;
  GDBusConnection *bus;
} BursarTestFixture;

void bursar_test_fixture_setup (BursarTestFixture *f,
                                gconstpointer      data);
/* Ends with the leak scan, then frees the environment. */
void bursar_test_fixture_teardown (BursarTestFixture *f,
                                   gconstpointer      data);

GVariant *bursar_test_call (BursarTestEnv  *env,
                            const char     *path,
                            const char     *iface,
                            const char     *method,
                            GVariant       *params,
                            const char     *reply_type,
                            GError        **error);

/* A further connection to the environment's bus: another app. */
GDBusConnection *bursar_test_new_connection (BursarTestEnv *env);

GVariant *bursar_test_get_property (BursarTestEnv *env,
                                    const char    *path,
                                    const char    *name);
char *bursar_test_get_string_property (BursarTestEnv *env,
                                       const char    *path,
                                       const char    *name);
gint64 bursar_test_get_expires_at (BursarTestEnv *env,
                                   const char    *path);

/* A GSourceFunc for bounded waits: sets the gboolean @data points to. */
gboolean bursar_test_timeout_cb (gpointer data);
/* Iterates the default main context (bounded) until *@pending is 0, as
 * the callbacks of asynchronous calls count it down. */
void bursar_test_wait_pending (const guint *pending);
/* Waits (bounded) until the account's State leaves @from; returns it. */
char *bursar_test_wait_state_leaves (BursarTestEnv *env,
                                     const char    *path,
                                     const char    *from);

/* AddAccount options (a{sv}, floating) for an oidc account on the mock
 * server; @client_secret and @label may be NULL. */
GVariant *bursar_test_oidc_options (BursarTestEnv *env,
                                    const char    *client_id,
                                    const char    *client_secret,
                                    const char    *label);
/* AddAccount(@provider, @options), @options a{sv} and consumed if
 * floating; returns the account's path. */
char *bursar_test_add_account (BursarTestEnv  *env,
                               const char     *provider,
                               GVariant       *options,
                               GError        **error);
/* An oidc account on the mock server (client "test-client" with
 * @client_secret, may be NULL), not yet authorized. */
char *bursar_test_add_oidc_account (BursarTestEnv *env,
                                    const char    *client_secret);

/* Authorize() with @options (a{sv}, consumed if floating; NULL sends none,
 * the daemon's defaults); returns the authorization URL. */
char *bursar_test_authorize (BursarTestEnv  *env,
                             const char     *path,
                             GVariant       *options,
                             GError        **error);
/* Authorize options (a{sv}, floating) that set open_browser. */
GVariant *bursar_test_authorize_options (gboolean open_browser);
/* Authorize() as above, asserted to succeed, then waits until the
 * account leaves "authorizing"; returns the State it ends in. */
char *bursar_test_authorize_and_wait (BursarTestEnv *env,
                                      const char    *path,
                                      GVariant      *options);
/* AddAccount(@provider, @options), then Authorize(@authorize_options)
 * through the test browser: State is "ready". */
char *bursar_test_add_ready_account_full (BursarTestEnv *env,
                                          const char    *provider,
                                          GVariant      *options,
                                          GVariant      *authorize_options);
/* bursar_test_add_oidc_account() with "test-secret-CANARY", authorized
 * with Authorize's defaults: State is "ready". */
char *bursar_test_add_ready_account (BursarTestEnv *env);

char *bursar_test_get_access_token (BursarTestEnv *env,
                                    const char    *path,
                                    gint32        *out_expires_in,
                                    GError       **error);
char *bursar_test_get_token_min_valid (BursarTestEnv  *env,
                                       const char     *path,
                                       guint32         min_valid,
                                       GError        **error);
/* The same, and @out_info (may be NULL) gets GetToken's a{sv}. */
char *bursar_test_get_token (BursarTestEnv  *env,
                             const char     *path,
                             guint32         min_valid,
                             GVariant      **out_info,
                             GError        **error);

gint64 bursar_test_mock_stat (BursarTestEnv *env,
                              const char    *member);
gint64 bursar_test_mock_grant_count (BursarTestEnv *env,
                                     const char    *grant);

/* GET @url with @headers (a{ss}, may be NULL) or a Bearer @bearer (may be
 * NULL); returns the HTTP status and, for a JSON object answer,
 * @out_object (else NULL; may itself be NULL). */
guint bursar_test_api_get (const char  *url,
                           GVariant    *headers,
                           const char  *bearer,
                           JsonObject **out_object);

/* The keyring item of the account at @account_path, NULL if none. */
SecretValue *bursar_test_keyring_item (const char *account_path);

/* How often @needle occurs in @text (a daemon log, say). */
guint bursar_test_count_occurrences (const char *text,
                                     const char *needle);

G_END_DECLS
