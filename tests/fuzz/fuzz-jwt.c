/* fuzz-jwt.c: ID tokens — bursar_jwt_decode_payload() on the compact
 * serialisation, then bursar_id_token_check() on the claims.
 *
 * Input: one byte of options; bit 0 set: the rest is the whole JWT as
 * the token endpoint would send it; clear: the rest is the payload JSON,
 * which is base64url-encoded into an otherwise well-formed JWT so the
 * fuzzer spends its time in the claim checks. Bit 1: check a nonce.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "bursar-error.h"
#include "bursar-json.h"
#include "bursar-jwt.h"
#include "fuzz-common.h"

#define ISSUER "https://id.example.com"
#define CLIENT_ID "fuzz-client"
#define NONCE "fuzz-nonce-0123456789"
/* A fixed "now" keeps the target deterministic: 2025-01-01. */
#define NOW_UNIX G_GINT64_CONSTANT (1735689600)

static char *
base64url (const uint8_t *data,
           size_t         size)
{
  char *text = g_base64_encode (data, size);
  char *end;

  g_strdelimit (text, "+", '-');
  g_strdelimit (text, "/", '_');
  end = strchr (text, '=');
  if (end != NULL)
    *end = '\0';
  return text;
}

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  fuzz_init ();
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autofree char *jwt = NULL;
  g_autoptr(JsonObject) claims = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) check_error = NULL;
  const char *nonce;

  if (size < 1)
    return 0;
  nonce = (data[0] & 2) ? NONCE : NULL;

  if (data[0] & 1)
    jwt = fuzz_dup_string (data + 1, size - 1);
  else
    {
      g_autofree char *payload = base64url (data + 1, size - 1);

      /* {"alg":"none"} */
      jwt = g_strconcat ("eyJhbGciOiJub25lIn0.", payload, ".c2ln", NULL);
    }

  claims = bursar_jwt_decode_payload (jwt, &error);
  if ((claims == NULL) == (error == NULL))
    {
      g_printerr ("decode_payload must give exactly one of claims and an error\n");
      abort ();
    }
  if (claims == NULL)
    {
      if (error->domain != BURSAR_ERROR)
        abort ();
      return 0;
    }

  if (bursar_id_token_check (claims, ISSUER, CLIENT_ID, nonce, NOW_UNIX, &check_error))
    {
      gint64 exp = 0;

      /* What passed must really be ours and unexpired. */
      if (g_strcmp0 (bursar_json_get_string (claims, "iss"), ISSUER) != 0 ||
          !bursar_json_get_int (claims, "exp", &exp) ||
          exp <= NOW_UNIX - BURSAR_JWT_CLOCK_SKEW ||
          (nonce != NULL && g_strcmp0 (bursar_json_get_string (claims, "nonce"), nonce) != 0))
        {
          g_printerr ("bursar_id_token_check accepted a token that is not ours\n");
          abort ();
        }
    }
  else if (check_error == NULL || check_error->domain != BURSAR_ERROR)
    abort ();
  return 0;
}
