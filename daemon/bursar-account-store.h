/* bursar-account-store.h: accounts.conf, the non-secret half of every
 * account, a key file with a group "Account <id>" per account.
 *
 * The store keeps the file as text, one chunk per group, not as a parsed
 * GKeyFile: a parsed group costs some 2 KiB, its text a fraction of that
 * (figure 4 of issue 5). A group is parsed only while it is read or
 * written. Groups the daemon does not use (other groups, accounts of a
 * provider that is gone) are written back exactly as they were read.
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

/* Called by bursar_account_store_load() once for every "Account <id>"
 * group, in file order. @keyfile holds that group (@group) alone and is
 * freed when the function returns. */
typedef void (*BursarAccountStoreLoadFunc) (const char *account_id,
                                            GKeyFile   *keyfile,
                                            const char *group,
                                            gpointer    user_data);

BursarAccountStore *bursar_account_store_new (const char *path);
const char *bursar_account_store_get_path (BursarAccountStore *self);

/* Reads the file and calls @func for every account in it; a missing file
 * is an empty store. A file that does not parse is an error prefixed with
 * the path, and @func is not called. Called once, at start-up. */
gboolean bursar_account_store_load (BursarAccountStore          *self,
                                    BursarAccountStoreLoadFunc   func,
                                    gpointer                     user_data,
                                    GError                     **error);

char *bursar_account_store_group_for (const char *account_id);
gboolean bursar_account_store_has_account (BursarAccountStore *self,
                                           const char         *account_id);
/* A new key file holding the account's group as stored, comments and
 * keys this version does not know included, or an empty key file. Change
 * it and give it back with bursar_account_store_set_account(). */
GKeyFile *bursar_account_store_dup_account (BursarAccountStore *self,
                                            const char         *account_id);
/* Replaces the account's group with @keyfile, which holds that group and
 * no other; a new account goes to the end of the file. Schedules a write. */
void bursar_account_store_set_account (BursarAccountStore *self,
                                       const char         *account_id,
                                       GKeyFile           *keyfile);
void bursar_account_store_remove (BursarAccountStore *self,
                                  const char         *account_id);

/* Writes the group @group of an account into the empty @keyfile. */
typedef void (*BursarAccountStoreWriteFunc) (gpointer    owner,
                                             GKeyFile   *keyfile,
                                             const char *group);
/* From now on the account's group is written by @func whenever the file
 * is, and its text is no longer kept: the account holds the same values
 * already, and the text would double them (figure 4 of issue 5). Only
 * when @func writes every key and value of the stored group (in any
 * order): a group with comments or keys this version does not know stays
 * text, so nothing of it is lost; returns whether the group is bound. A new account's group is bound and
 * goes to the end of the file. bursar_account_store_save() schedules a
 * write; bursar_account_store_set_account() replaces the binding with
 * text. @parsed (nullable) is the group as the load function got it, to
 * spare parsing it again. @owner is not referenced: unbind before it
 * goes. */
gboolean bursar_account_store_bind (BursarAccountStore          *self,
                                    const char                  *account_id,
                                    GKeyFile                    *parsed,
                                    BursarAccountStoreWriteFunc  func,
                                    gpointer                     owner);
/* Keeps the group as text again, as @owner writes it now; nothing if the
 * group is gone or bound to another owner. */
void bursar_account_store_unbind (BursarAccountStore *self,
                                  const char         *account_id,
                                  gpointer            owner);

void bursar_account_store_save (BursarAccountStore *self);
/* TRUE while a write is pending or running; "idle" is emitted when the
 * last write finished, so shut-down can wait for it. */
gboolean bursar_account_store_is_busy (BursarAccountStore *self);

G_END_DECLS
