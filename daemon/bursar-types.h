/* bursar-types.h: small enums shared by the provider data, the HTTP client
 * and the account engine.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* How the parameters of a token, refresh or revocation request travel. */
typedef enum
{
  BURSAR_BODY_FORM,  /* application/x-www-form-urlencoded body (RFC 6749) */
  BURSAR_BODY_JSON,  /* application/json object body */
  BURSAR_BODY_QUERY, /* in the URL query of a POST with an empty body */
} BursarBodyEncoding;

/* How the client authenticates on one call. */
typedef enum
{
  BURSAR_CLIENT_AUTH_POST,  /* client_id and client_secret as parameters */
  BURSAR_CLIENT_AUTH_BASIC, /* HTTP Basic with id:secret (RFC 6749 §2.3.1) */
  BURSAR_CLIENT_AUTH_NONE,  /* public client: client_id parameter only */
  BURSAR_CLIENT_AUTH_OMIT,  /* nothing at all (e.g. Zoho's revoke call) */
} BursarClientAuth;

/* Account states, as the D-Bus State property spells them. */
typedef enum
{
  BURSAR_ACCOUNT_STATE_NEEDS_AUTHORIZATION,
  BURSAR_ACCOUNT_STATE_AUTHORIZING,
  BURSAR_ACCOUNT_STATE_READY,
  BURSAR_ACCOUNT_STATE_NEEDS_REAUTHORIZATION,
} BursarAccountState;

const char *bursar_account_state_to_string (BursarAccountState state);
gboolean bursar_account_state_from_string (const char *str,
                                           BursarAccountState *out_state);

gboolean bursar_body_encoding_from_string (const char *str,
                                           BursarBodyEncoding *out_encoding);
gboolean bursar_client_auth_from_string (const char *str,
                                         BursarClientAuth *out_auth);

G_END_DECLS
