/* bursar-jwt.h: reading the claims of an OpenID Connect ID token.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* Clock skew allowed when checking exp, in seconds. */
#define BURSAR_JWT_CLOCK_SKEW 300

/* Splits a compact JWS (header.payload.signature), base64url-decodes the
 * payload and parses it as a JSON object. The signature is not checked:
 * see bursar_id_token_check(). Returns a new reference. */
JsonObject *bursar_jwt_decode_payload (const char  *jwt,
                                       GError     **error);

/* The ID token checks of OIDC Core §3.1.3.7 that apply to a token taken
 * straight from the token endpoint: iss, aud (and azp), exp and, when
 * @nonce is not NULL, nonce. */
gboolean bursar_id_token_check (JsonObject  *claims,
                                const char  *issuer,
                                const char  *client_id,
                                const char  *nonce,
                                gint64       now_unix,
                                GError     **error);

G_END_DECLS
