/* bursar-secret.h: handling of secret strings in memory.
 *
 * Tokens, codes, verifiers and client secrets are plain NUL-terminated
 * strings inside the daemon, but they are freed with bursar_secret_free(),
 * which overwrites them first, so a freed block does not keep them for a
 * later core dump or heap read. Declare locals as
 *
 *   g_auto (BursarSecret) code = g_strdup (...);
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef char *BursarSecret;

void bursar_secret_free (char *secret);
void bursar_secret_replace (char **location, const char *value);
GHashTable *bursar_secret_table_new (void);
gboolean bursar_secret_equal (const char *a, const char *b);

static inline void
bursar_secret_clear (BursarSecret *secret)
{
  g_clear_pointer (secret, bursar_secret_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (BursarSecret, bursar_secret_clear)

G_END_DECLS
