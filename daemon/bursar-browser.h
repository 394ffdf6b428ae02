/* bursar-browser.h: opens the user's web browser on a URL — through the
 * desktop portal where there is one, so the browser starts outside our
 * service sandbox, else as our own child through GIO's default handler.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

void bursar_browser_open_async (const char          *uri,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data);
gboolean bursar_browser_open_finish (GAsyncResult  *result,
                                     GError       **error);

G_END_DECLS
