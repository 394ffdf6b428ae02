/* bursar-error.c
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib/gi18n-lib.h>

#include "bursar-error.h"

static const GDBusErrorEntry bursar_error_entries[] = {
  { BURSAR_ERROR_NEEDS_AUTHORIZATION, "org.bursar.Bursar1.Error.NeedsAuthorization" },
  { BURSAR_ERROR_KEYRING_LOCKED, "org.bursar.Bursar1.Error.KeyringLocked" },
  { BURSAR_ERROR_KEYRING_UNAVAILABLE, "org.bursar.Bursar1.Error.KeyringUnavailable" },
  { BURSAR_ERROR_NETWORK, "org.bursar.Bursar1.Error.Network" },
  { BURSAR_ERROR_PROVIDER, "org.bursar.Bursar1.Error.Provider" },
  { BURSAR_ERROR_INVALID_ARGUMENT, "org.bursar.Bursar1.Error.InvalidArgument" },
  { BURSAR_ERROR_UNKNOWN_PROVIDER, "org.bursar.Bursar1.Error.UnknownProvider" },
  { BURSAR_ERROR_UNKNOWN_ACCOUNT, "org.bursar.Bursar1.Error.UnknownAccount" },
  { BURSAR_ERROR_NOT_SUPPORTED, "org.bursar.Bursar1.Error.NotSupported" },
  { BURSAR_ERROR_CANCELLED, "org.bursar.Bursar1.Error.Cancelled" },
  { BURSAR_ERROR_ACCESS_DENIED, "org.bursar.Bursar1.Error.AccessDenied" },
};

/* Every code has a name: a new code without a D-Bus name fails the build. */
G_STATIC_ASSERT (G_N_ELEMENTS (bursar_error_entries) == BURSAR_ERROR_LAST + 1);

GQuark
bursar_error_quark (void)
{
  static gsize quark = 0;

  g_dbus_error_register_error_domain ("bursar-error-quark",
                                      &quark,
                                      bursar_error_entries,
                                      G_N_ELEMENTS (bursar_error_entries));
  return (GQuark) quark;
}

/* Converts an error from GIO into the Bursar domain at the boundary, so
 * that only documented error names leave the daemon. Errors already in the
 * domain are left alone; anything unexpected keeps its message but becomes
 * a generic failure the caller can still show. */
void
bursar_error_convert (GError **error)
{
  GError *e;

  if (error == NULL || *error == NULL)
    return;

  e = *error;
  if (e->domain == BURSAR_ERROR)
    return;

  if (g_error_matches (e, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      e->domain = BURSAR_ERROR;
      e->code = BURSAR_ERROR_CANCELLED;
      g_free (e->message);
      e->message = g_strdup (_("The operation was cancelled."));
    }
}
