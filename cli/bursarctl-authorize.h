/* bursarctl-authorize.h: the browser authorization of `add` and
 * `authorize`, and the wait for its outcome.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "bursar-generated.h"

G_BEGIN_DECLS

/* How long bursarctl waits for an authorization to finish: as long as the
 * daemon's loopback listener stays open. */
#define BURSARCTL_AUTHORIZE_WAIT_SECONDS (10 * 60)

int bursarctl_authorize_run (GDBusObjectManager *manager,
                             BursarDBusAccount  *account,
                             gboolean            open_browser,
                             gboolean            wait);

G_END_DECLS
