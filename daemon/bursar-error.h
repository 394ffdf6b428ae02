/* bursar-error.h: the one error domain of Bursar, registered as the
 * org.bursar.Bursar1.Error.* D-Bus error names of the design contract.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum
{
  BURSAR_ERROR_NEEDS_AUTHORIZATION,
  BURSAR_ERROR_KEYRING_LOCKED,
  BURSAR_ERROR_KEYRING_UNAVAILABLE,
  BURSAR_ERROR_NETWORK,
  BURSAR_ERROR_PROVIDER,
  BURSAR_ERROR_INVALID_ARGUMENT,
  BURSAR_ERROR_UNKNOWN_PROVIDER,
  BURSAR_ERROR_UNKNOWN_ACCOUNT,
  BURSAR_ERROR_NOT_SUPPORTED,
  BURSAR_ERROR_CANCELLED,
  BURSAR_ERROR_ACCESS_DENIED,
} BursarError;

#define BURSAR_ERROR_LAST BURSAR_ERROR_ACCESS_DENIED
#define BURSAR_ERROR (bursar_error_quark ())

GQuark bursar_error_quark (void);

void bursar_error_convert (GError **error);

G_END_DECLS
