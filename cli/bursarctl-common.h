/* bursarctl-common.h: exit codes, error reporting, secret input and output
 * helpers shared by the bursarctl commands.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "bursar-generated.h"

G_BEGIN_DECLS

#define BURSARCTL_BUS_NAME "org.bursar.Bursar1"
#define BURSARCTL_MANAGER_PATH "/org/bursar/Bursar1"
#define BURSARCTL_ACCOUNTS_PATH "/org/bursar/Bursar1/accounts"
#define BURSARCTL_ACCOUNT_INTERFACE "org.bursar.Bursar1.Account"

/* The daemon retries transient network failures inside one call, so a
 * token, add or complete call can take far longer than D-Bus' 25 s
 * default. */
#define BURSARCTL_CALL_TIMEOUT_MS (120 * 1000)

/* The exit status of bursarctl. Scripts and the integration tests rely on
 * these numbers: never renumber, only add. */
typedef enum
{
  BURSARCTL_EXIT_OK = 0,
  BURSARCTL_EXIT_FAILURE = 1,
  BURSARCTL_EXIT_USAGE = 2,
  BURSARCTL_EXIT_UNKNOWN = 3,
  BURSARCTL_EXIT_NEEDS_AUTHORIZATION = 4,
  BURSARCTL_EXIT_NETWORK = 5,
  BURSARCTL_EXIT_PROVIDER = 6,
  BURSARCTL_EXIT_KEYRING = 7,
  BURSARCTL_EXIT_ACCESS_DENIED = 8,
  BURSARCTL_EXIT_INVALID_ARGUMENT = 9,
  BURSARCTL_EXIT_NO_DAEMON = 10,
} BursarctlExit;

BursarctlExit bursarctl_exit_for_error (const GError *error);

void bursarctl_print_message (const char *format,
                              ...) G_GNUC_PRINTF (1, 2);
int bursarctl_report_error (const GError *error);
int bursarctl_report_error_as (BursarctlExit  code,
                               const GError  *error);

void bursarctl_secret_free (char *secret);
char *bursarctl_read_secret (const char  *path,
                             const char  *prompt,
                             gboolean     echo,
                             GError     **error);

void bursarctl_print_json (JsonNode *node);
void bursarctl_print_table (GPtrArray *rows,
                            guint      n_columns);

char *bursarctl_join_strv (const char * const *strv,
                           const char         *separator);
char *bursarctl_variant_to_display (GVariant *value);
JsonNode *bursarctl_variant_dict_to_json (GVariant *dict);

typedef char *BursarctlSecret;

static inline void
bursarctl_secret_clear (BursarctlSecret *secret)
{
  g_clear_pointer (secret, bursarctl_secret_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (BursarctlSecret, bursarctl_secret_clear)

G_END_DECLS
