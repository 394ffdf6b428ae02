/* bursar-fast-path.h: cached GetAccessToken() answered on GDBus's worker
 * thread.
 *
 * A method call normally travels from GDBus's worker thread to the main
 * loop and its reply back: two cross-thread wake-ups that cost more than
 * the bus round trip itself (Peer.Ping is answered on the worker thread).
 * Apps call GetAccessToken() before every API request, so the daemon lets
 * a repeat of an answer it has already given on the main loop — same
 * caller connection, same account, the token still above its margin — be
 * answered from a copy, on the worker thread, through a connection filter.
 *
 * The main loop stays the only judge: only it offers answers (after the
 * caller check and the first hand-out's log line), and it withdraws them
 * whenever anything the answer depends on changes. The filter itself
 * withdraws an account's answers when any other call to that account
 * arrives (Refresh, Remove, DenyApp, …), so such a call and every call
 * behind it are answered in order by the main loop.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _BursarFastPath BursarFastPath;

BursarFastPath *bursar_fast_path_new (GDBusConnection *connection,
                                      const char      *accounts_path,
                                      const char      *account_interface);
void bursar_fast_path_free (BursarFastPath *self);

/* @sender may have @access_token of the account at @object_path, answered
 * as GetAccessToken() would, until the wall clock reaches @fresh_until
 * (unix seconds; G_MAXINT64 for a token without expiry). @caller describes
 * the connection for the info-level hand-out log line. */
void bursar_fast_path_offer (BursarFastPath *self,
                             const char     *object_path,
                             const char     *sender,
                             const char     *caller,
                             const char     *access_token,
                             gint64          expires_at,
                             gint64          fresh_until);
/* Withdraws every answer for the account at @object_path. */
void bursar_fast_path_forget (BursarFastPath *self,
                              const char     *object_path);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (BursarFastPath, bursar_fast_path_free)

G_END_DECLS
