/* bursar-test-bus.h: small D-Bus helpers the integration tests share —
 * calls to bursard on the environment's private bus, account properties,
 * bounded waits, and the mock server's counters.
 *
 * Every helper asserts on what must not fail (a property read) and hands
 * back a GError for what the test is about (a token call).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "bursar-test-env.h"

G_BEGIN_DECLS

#define BURSAR_TEST_CALL_TIMEOUT_MS 60000
#define BURSAR_TEST_WAIT_SECONDS 30

GVariant *bursar_test_call (BursarTestEnv  *env,
                            const char     *path,
                            const char     *iface,
                            const char     *method,
                            GVariant       *params,
                            const char     *reply_type,
                            GError        **error);

GVariant *bursar_test_get_property (BursarTestEnv *env,
                                    const char    *path,
                                    const char    *name);
char *bursar_test_get_string_property (BursarTestEnv *env,
                                       const char    *path,
                                       const char    *name);
gint64 bursar_test_get_expires_at (BursarTestEnv *env,
                                   const char    *path);

char *bursar_test_wait_state_leaves (BursarTestEnv *env,
                                     const char    *path,
                                     const char    *from);

/* An oidc account on the mock server (client "test-client" with
 * @client_secret, may be NULL), not yet authorized. */
char *bursar_test_add_oidc_account (BursarTestEnv *env,
                                    const char    *client_secret);
/* The same, authorized through the test browser: State is "ready". */
char *bursar_test_add_ready_account (BursarTestEnv *env);

char *bursar_test_get_access_token (BursarTestEnv *env,
                                    const char    *path,
                                    gint32        *out_expires_in,
                                    GError       **error);
char *bursar_test_get_token_min_valid (BursarTestEnv  *env,
                                       const char     *path,
                                       guint32         min_valid,
                                       GError        **error);

gint64 bursar_test_mock_stat (BursarTestEnv *env,
                              const char    *member);
gint64 bursar_test_mock_grant_count (BursarTestEnv *env,
                                     const char    *grant);

G_END_DECLS
