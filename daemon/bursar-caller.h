/* bursar-caller.h: tells a Flatpak app from a host program by its PID.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/**
 * BursarCallerKind:
 * @BURSAR_CALLER_UNKNOWN: could not be told; callers must treat it as a
 *   sandboxed app without any grant (fail closed)
 * @BURSAR_CALLER_HOST: a program outside any Flatpak sandbox
 * @BURSAR_CALLER_APP: a Flatpak app; its app id was returned
 */
typedef enum
{
  BURSAR_CALLER_UNKNOWN = 0,
  BURSAR_CALLER_HOST,
  BURSAR_CALLER_APP,
} BursarCallerKind;

/* The functions below share one contract: they return the kind; only for
 * BURSAR_CALLER_APP is *@out_app_id set (a valid application id, owned by
 * the caller); only for BURSAR_CALLER_UNKNOWN is @error set, with the
 * reason, for the log. They block on /proc and $XDG_RUNTIME_DIR reads only
 * (no network, no bus), bounded in size. */

/* Identifies @pid as xdg-desktop-portal does (/proc/PID/root/.flatpak-info)
 * and, where the kernel refuses /proc/PID/root because we run in our own
 * user namespace (systemd PrivateUsers=yes), through /proc/PID/mountinfo
 * and the instance's info file under g_get_user_runtime_dir(). */
BursarCallerKind bursar_caller_identify_app (guint32   pid,
                                             char    **out_app_id,
                                             GError  **error);

/* The fallback alone: reads /proc/@pid/mountinfo and calls
 * bursar_caller_parse_mountinfo() with @runtime_dir. */
BursarCallerKind bursar_caller_identify_app_from_mountinfo (guint32      pid,
                                                            const char  *runtime_dir,
                                                            char       **out_app_id,
                                                            GError     **error);

/* The fallback on a mountinfo text (proc(5) format, @length bytes, need
 * not be NUL-terminated), with the Flatpak instance files looked up under
 * @runtime_dir (the host's $XDG_RUNTIME_DIR). */
BursarCallerKind bursar_caller_parse_mountinfo (const char  *mountinfo,
                                                gsize        length,
                                                const char  *runtime_dir,
                                                char       **out_app_id,
                                                GError     **error);

G_END_DECLS
