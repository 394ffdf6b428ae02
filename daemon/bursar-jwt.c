/* bursar-jwt.c
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>

#include "bursar-error.h"
#include "bursar-json.h"
#include "bursar-jwt.h"
#include "bursar-pkce.h"
#include "bursar-secret.h"

/* An ID token is a few kilobytes; this bounds the work done on a hostile
 * one before the JSON parser's own cap applies. */
#define MAX_JWT_LENGTH (64 * 1024)

static gboolean
segment_is_base64url (const char *start,
                      gsize       len)
{
  for (gsize i = 0; i < len; i++)
    {
      char c = start[i];

      if (!g_ascii_isalnum (c) && c != '-' && c != '_')
        return FALSE;
    }
  return TRUE;
}

static void
set_malformed (GError **error)
{
  g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_PROVIDER,
                       _("The provider sent a malformed ID token."));
}

JsonObject *
bursar_jwt_decode_payload (const char  *jwt,
                           GError     **error)
{
  const char *first_dot, *second_dot;
  g_autofree char *payload_text = NULL;
  g_autofree guint8 *payload = NULL;
  gsize payload_len = 0;
  gsize jwt_len;
  JsonObject *claims;

  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (jwt == NULL)
    {
      set_malformed (error);
      return NULL;
    }

  jwt_len = strnlen (jwt, MAX_JWT_LENGTH + 1);
  if (jwt_len > MAX_JWT_LENGTH)
    {
      set_malformed (error);
      return NULL;
    }

  /* Exactly three segments; header and payload must not be empty. The
   * signature may be empty (an unsecured JWT) since it is not checked. */
  first_dot = strchr (jwt, '.');
  second_dot = first_dot != NULL ? strchr (first_dot + 1, '.') : NULL;
  if (first_dot == NULL || second_dot == NULL ||
      strchr (second_dot + 1, '.') != NULL ||
      first_dot == jwt || second_dot == first_dot + 1 ||
      !segment_is_base64url (jwt, (gsize) (first_dot - jwt)) ||
      !segment_is_base64url (first_dot + 1, (gsize) (second_dot - first_dot - 1)) ||
      !segment_is_base64url (second_dot + 1, strlen (second_dot + 1)))
    {
      set_malformed (error);
      return NULL;
    }

  payload_text = g_strndup (first_dot + 1, (gsize) (second_dot - first_dot - 1));
  payload = bursar_base64url_decode (payload_text, &payload_len, NULL);
  if (payload == NULL)
    {
      set_malformed (error);
      return NULL;
    }

  claims = bursar_json_parse_object ((const char *) payload, payload_len, NULL);
  /* The claims hold the nonce and personal data; do not leave them in
   * freed memory. */
  explicit_bzero (payload, payload_len);
  if (claims == NULL)
    {
      set_malformed (error);
      return NULL;
    }

  return claims;
}

static gboolean
audience_contains (JsonObject *claims,
                   const char *client_id)
{
  JsonNode *aud = json_object_get_member (claims, "aud");
  const char *single = bursar_json_get_string (claims, "aud");
  JsonArray *list;
  gboolean found = FALSE;
  guint n;

  if (single != NULL)
    return g_strcmp0 (single, client_id) == 0;

  if (aud == NULL || !JSON_NODE_HOLDS_ARRAY (aud))
    return FALSE;

  list = json_node_get_array (aud);
  n = json_array_get_length (list);
  for (guint i = 0; i < n; i++)
    {
      JsonNode *element = json_array_get_element (list, i);

      /* A non-string entry makes the whole claim malformed. */
      if (!JSON_NODE_HOLDS_VALUE (element) ||
          json_node_get_value_type (element) != G_TYPE_STRING)
        return FALSE;
      if (g_strcmp0 (json_node_get_string (element), client_id) == 0)
        found = TRUE;
    }

  return found;
}

/* The signature is deliberately not verified: OIDC Core §3.1.3.7 lets a
 * client that receives the ID token directly from the token endpoint over
 * TLS rely on the TLS server authentication instead (every endpoint URL
 * has passed bursar_http_check_url(), so it is https: or loopback). What
 * remains are the claim checks below. */
gboolean
bursar_id_token_check (JsonObject  *claims,
                       const char  *issuer,
                       const char  *client_id,
                       const char  *nonce,
                       gint64       now_unix,
                       GError     **error)
{
  const char *iss, *azp;
  gint64 exp = 0;

  g_return_val_if_fail (claims != NULL, FALSE);
  g_return_val_if_fail (issuer != NULL, FALSE);
  g_return_val_if_fail (client_id != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  iss = bursar_json_get_string (claims, "iss");
  if (iss == NULL || strcmp (iss, issuer) != 0)
    {
      g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_PROVIDER,
                           _("The ID token was issued by a different provider."));
      return FALSE;
    }

  if (!audience_contains (claims, client_id))
    {
      g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_PROVIDER,
                           _("The ID token was issued for a different application."));
      return FALSE;
    }

  /* §3.1.3.7 items 4 and 5: when azp is there it must name us. */
  azp = bursar_json_get_string (claims, "azp");
  if ((azp != NULL && strcmp (azp, client_id) != 0) ||
      (azp == NULL && !bursar_json_is_absent (claims, "azp")))
    {
      g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_PROVIDER,
                           _("The ID token was issued for a different application."));
      return FALSE;
    }

  if (!bursar_json_get_int (claims, "exp", &exp))
    {
      g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_PROVIDER,
                           _("The ID token has no valid expiry time."));
      return FALSE;
    }
  if (exp <= now_unix - BURSAR_JWT_CLOCK_SKEW)
    {
      g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_PROVIDER,
                           _("The ID token has expired; check the computer’s clock."));
      return FALSE;
    }

  if (nonce != NULL)
    {
      const char *sent = bursar_json_get_string (claims, "nonce");

      if (!bursar_secret_equal (sent, nonce))
        {
          g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_PROVIDER,
                               _("The ID token does not belong to this sign-in (wrong nonce)."));
          return FALSE;
        }
    }

  return TRUE;
}
