/* bursar-pkce.h: random values and PKCE (RFC 7636) helpers.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

char *bursar_base64url_encode (const guint8 *data,
                               gsize         len);
guint8 *bursar_base64url_decode (const char  *text,
                                 gsize       *out_len,
                                 GError     **error);

gboolean bursar_random_bytes (guint8  *buffer,
                              gsize    len,
                              GError **error);
char *bursar_random_string (gsize    n_bytes,
                            GError **error);

char *bursar_pkce_verifier_new (GError **error);
char *bursar_pkce_challenge_s256 (const char *verifier);

G_END_DECLS
