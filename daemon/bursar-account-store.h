/* bursar-account-store.h: accounts.conf, the non-secret half of every
 * account, as one GKeyFile with a group "Account <id>" per account.
 *
 * Writes are asynchronous and atomic (temporary file + rename), mode 0600,
 * and coalesced: a change made while a write is running causes exactly one
 * more write.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define BURSAR_TYPE_ACCOUNT_STORE (bursar_account_store_get_type ())
G_DECLARE_FINAL_TYPE (BursarAccountStore, bursar_account_store, BURSAR, ACCOUNT_STORE, GObject)

BursarAccountStore *bursar_account_store_new (const char *path);
const char *bursar_account_store_get_path (BursarAccountStore *self);

/* Reads the file; a missing file is an empty store. Called once at start-up
 * before the bus name is owned. */
gboolean bursar_account_store_load (BursarAccountStore  *self,
                                    GError             **error);

/* Account ids in file order. */
GStrv bursar_account_store_list_ids (BursarAccountStore *self);
/* The key file itself; a group per account is "Account <id>". Changes are
 * written by bursar_account_store_save(). */
GKeyFile *bursar_account_store_get_keyfile (BursarAccountStore *self);
char *bursar_account_store_group_for (const char *account_id);
void bursar_account_store_remove (BursarAccountStore *self,
                                  const char         *account_id);

void bursar_account_store_save (BursarAccountStore *self);
/* TRUE while a write is pending or running; "idle" is emitted when the
 * last write finished, so shut-down can wait for it. */
gboolean bursar_account_store_is_busy (BursarAccountStore *self);

G_END_DECLS
