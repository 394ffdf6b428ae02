/* bursar-notifier.h: tells the user, through the desktop's notification
 * server, when an account needs them to sign in again — once per account
 * until it changes — and starts the sign-in from the notification's
 * action.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "bursar-account.h"

G_BEGIN_DECLS

#define BURSAR_TYPE_NOTIFIER (bursar_notifier_get_type ())
G_DECLARE_FINAL_TYPE (BursarNotifier, bursar_notifier, BURSAR, NOTIFIER, GObject)

BursarNotifier *bursar_notifier_new (GDBusConnection *connection);
/* @account is new (at start-up, or added). */
void bursar_notifier_watch (BursarNotifier *self,
                            BursarAccount  *account);
/* @account's "attention-needed" changed. */
void bursar_notifier_attention_changed (BursarNotifier *self,
                                        BursarAccount  *account);
/* @account is going: its notification is closed. */
void bursar_notifier_unwatch (BursarNotifier *self,
                              BursarAccount  *account);

G_END_DECLS
