/* fuzz-common.h: what every libFuzzer target of Bursar shares.
 *
 * The targets link libbursar-daemon, the static library bursard itself is
 * built from, so a crash found here is a crash in the daemon.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <glib.h>

G_BEGIN_DECLS

/* libFuzzer's entry points; declared so -Wmissing-prototypes stays quiet. */
int LLVMFuzzerInitialize (int    *argc,
                          char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data,
                            size_t         size);

/* Makes GLib criticals and warnings abort: a g_return_if_fail() tripped by
 * hostile input is a bug the fuzzer must report, not a line in a log. */
void fuzz_init (void);

/* The input as a NUL-terminated string, cut at the first NUL (the daemon
 * only ever receives these as C strings). */
char *fuzz_dup_string (const uint8_t *data,
                       size_t         size);

/* An in-process HTTP server on 127.0.0.1 answering every request with
 * what fuzz_server_set_answer() last set, so the targets can drive the
 * daemon's own HTTP client (bursar-http.c) end to end. */
const char *fuzz_server_url (void);
void fuzz_server_set_answer (guint          status,
                             const char    *retry_after,
                             const uint8_t *body,
                             size_t         body_len);

/* Iterates the default main context until *@done is set; aborts after
 * @timeout_ms, since a hang is a finding too. */
void fuzz_iterate_until (const gboolean *done,
                         guint           timeout_ms);

/* TRUE when $BURSAR_FUZZ_KNOWN_BUGS names @bug: a daemon bug that is
 * reported but not fixed yet, which scripts/test.sh lets pass (loudly) so
 * that CI keeps hunting for new ones. The check itself always runs. */
gboolean fuzz_known_bug (const char *bug);

G_END_DECLS
