/* bursar-daemon.h: the D-Bus face of Bursar — the Manager, the
 * ObjectManager and one exported object per account. Validates input,
 * checks the caller and hands the work to plain objects.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define BURSAR_DBUS_NAME "org.bursar.Bursar1"
#define BURSAR_DBUS_PATH "/org/bursar/Bursar1"
#define BURSAR_DBUS_ACCOUNTS_PATH BURSAR_DBUS_PATH "/accounts"

#define BURSAR_TYPE_DAEMON (bursar_daemon_get_type ())
G_DECLARE_FINAL_TYPE (BursarDaemon, bursar_daemon, BURSAR, DAEMON, GObject)

BursarDaemon *bursar_daemon_new (GDBusConnection *connection);

/* Reads providers and accounts and exports the objects; the bus name is
 * owned by the caller only after this succeeded. */
gboolean bursar_daemon_start (BursarDaemon  *self,
                              GError       **error);

/* TRUE while accounts.conf is being written; "idle" follows. */
gboolean bursar_daemon_is_busy (BursarDaemon *self);

G_END_DECLS
