/* bursar-account-bus.h: the accounts on the bus, without an object per
 * account.
 *
 * Every account is an object /org/bursar/Bursar1/accounts/<Id> with the
 * org.bursar.Bursar1.Account interface, listed by the
 * org.freedesktop.DBus.ObjectManager at /org/bursar/Bursar1. A generated
 * skeleton, an object skeleton and GDBusObjectManagerServer's
 * registrations cost some 5 KiB per account — more than the account
 * itself (figure 4 of issue 5 allows 2 KiB). Here one subtree
 * registration serves every account path, straight from the daemon's
 * table of accounts: properties are read from the BursarAccount when asked
 * for, PropertiesChanged is built from its "notify" (coalesced per main
 * loop iteration, as the generated skeleton does), and the ObjectManager's
 * GetManagedObjects, InterfacesAdded and InterfacesRemoved are written
 * out by hand.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "bursar-account.h"

G_BEGIN_DECLS

typedef struct _BursarAccountBus BursarAccountBus;

/* Called on the main loop for every method call of the Account interface
 * on an exported account; the callee answers @invocation. */
typedef void (*BursarAccountBusMethodFunc) (BursarAccount         *account,
                                            GDBusMethodInvocation *invocation,
                                            gpointer               user_data);

/* Registers the object manager at @manager_path and the accounts under
 * @accounts_path on @connection. @accounts (id → BursarAccount) is the
 * caller's table, read on every call; it must outlive the returned
 * object. Accounts already in it are exported without InterfacesAdded. */
BursarAccountBus *bursar_account_bus_new (GDBusConnection             *connection,
                                          const char                  *manager_path,
                                          const char                  *accounts_path,
                                          GHashTable                  *accounts,
                                          BursarAccountBusMethodFunc   method_func,
                                          gpointer                     user_data,
                                          GError                     **error);
void bursar_account_bus_free (BursarAccountBus *self);

/* @account has just been put in the table: InterfacesAdded. */
void bursar_account_bus_added (BursarAccountBus *self,
                               BursarAccount    *account);
/* @account is about to leave the table: InterfacesRemoved, and its
 * pending PropertiesChanged is dropped. */
void bursar_account_bus_removed (BursarAccountBus *self,
                                 BursarAccount    *account);
/* @pspec of @account changed (its "notify"): PropertiesChanged soon. */
void bursar_account_bus_notify (BursarAccountBus *self,
                                BursarAccount    *account,
                                GParamSpec       *pspec);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (BursarAccountBus, bursar_account_bus_free)

G_END_DECLS
