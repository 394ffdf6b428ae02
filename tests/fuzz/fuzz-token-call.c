/* fuzz-token-call.c
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "bursar-error.h"
#include "bursar-http.h"
#include "fuzz-token-call.h"

#define CALL_TIMEOUT_MS 10000
#define TEN_YEARS_S ((gint64) 10 * 366 * 24 * 60 * 60)

/* The seed corpus echoes these back, so the fuzzer can move them into
 * every member an error message might quote. */
static const char * const canaries[] = {
  "fuzz-client-secret-CANARY",
  "fuzz-refresh-token-CANARY",
  "fuzz-code-verifier-CANARY",
  NULL
};

static BursarHttp *http;

static void
token_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  gpointer *out = user_data;
  GError *error = NULL;

  out[0] = bursar_http_token_finish (BURSAR_HTTP (source), result, &error);
  out[1] = error;
  out[2] = GINT_TO_POINTER (TRUE);
}

static void
fail (const char *what,
      const char *detail)
{
  g_printerr ("fuzz-token-call: %s%s%s\n", what, detail != NULL ? ": " : "",
              detail != NULL ? detail : "");
  abort ();
}

static void
check_text (const char *what,
            const char *text)
{
  if (text == NULL)
    return;
  if (!g_utf8_validate (text, -1, NULL))
    fail (what, "not UTF-8");
  for (gsize i = 0; canaries[i] != NULL; i++)
    if (strstr (text, canaries[i]) != NULL)
      fail (what, "quotes a secret of the request");
}

void
fuzz_token_call (guint          flags,
                 guint          status,
                 const char    *retry_after,
                 const uint8_t *body,
                 size_t         body_len)
{
  static const char * const access_fields[] = { "accessToken", "access_token", NULL };
  static const char * const refresh_fields[] = { "refreshToken", "refresh_token", NULL };
  static const char * const reauth_errors[] = { "invalid_grant", "invalid_code", "expired_token", NULL };
  g_autoptr(BursarTokenRequest) request = NULL;
  g_autofree char *url = NULL;
  g_autoptr(BursarTokenResponse) response = NULL;
  g_autoptr(GError) error = NULL;
  gpointer out[3] = { NULL, NULL, NULL };

  fuzz_init ();
  if (http == NULL)
    {
      http = bursar_http_new ();
      /* One attempt: a retry would only wait and send the same answer. */
      bursar_http_set_retry_policy (http, 1, 0, CALL_TIMEOUT_MS);
      bursar_http_set_timeout (http, CALL_TIMEOUT_MS / 1000);
    }

  fuzz_server_set_answer (status, retry_after, body, body_len);
  url = g_strconcat (fuzz_server_url (), "token", NULL);

  request = bursar_token_request_new (url);
  bursar_token_request_set_encoding (request, (flags & FUZZ_TOKEN_JSON_BODY) ? BURSAR_BODY_JSON : BURSAR_BODY_FORM);
  bursar_token_request_set_client (request,
                                   (flags & FUZZ_TOKEN_BASIC_AUTH) ? BURSAR_CLIENT_AUTH_BASIC : BURSAR_CLIENT_AUTH_POST,
                                   "fuzz-client", canaries[0]);
  bursar_token_request_add_param (request, "grant_type", "refresh_token");
  bursar_token_request_add_param (request, "refresh_token", canaries[1]);
  bursar_token_request_add_param (request, "code_verifier", canaries[2]);
  if (flags & FUZZ_TOKEN_CUSTOM_FIELDS)
    bursar_token_request_set_field_names (request, access_fields, refresh_fields);
  if (flags & FUZZ_TOKEN_DEFAULT_LIFETIME)
    bursar_token_request_set_default_lifetime (request, 3600);
  if (flags & FUZZ_TOKEN_CUSTOM_REAUTH)
    bursar_token_request_set_reauth_errors (request, reauth_errors);
  bursar_token_request_set_token_type_optional (request, (flags & FUZZ_TOKEN_TYPE_OPTIONAL) != 0);

  bursar_http_token_async (http, request, NULL, token_cb, out);
  fuzz_iterate_until ((const gboolean *) &out[2], CALL_TIMEOUT_MS + 2000);
  response = out[0];
  error = out[1];

  if ((response == NULL) == (error == NULL))
    fail ("token call", "must give exactly one of a response and an error");

  if (error != NULL)
    {
      if (error->domain != BURSAR_ERROR ||
          (error->code != BURSAR_ERROR_NEEDS_AUTHORIZATION &&
           error->code != BURSAR_ERROR_PROVIDER &&
           error->code != BURSAR_ERROR_NETWORK))
        fail ("unclassified error", g_quark_to_string (error->domain));
      check_text ("error message", error->message);
      return;
    }

  if (response->access_token == NULL || response->access_token[0] == '\0')
    fail ("response", "no access token");
  /* Tokens and extras go out over D-Bus as strings, which must be UTF-8
   * (g_variant_new_string() refuses anything else). */
  if ((!g_utf8_validate (response->access_token, -1, NULL) ||
       (response->refresh_token != NULL && !g_utf8_validate (response->refresh_token, -1, NULL)) ||
       (response->id_token != NULL && !g_utf8_validate (response->id_token, -1, NULL)) ||
       (response->scope != NULL && !g_utf8_validate (response->scope, -1, NULL)) ||
       !g_utf8_validate (response->token_type, -1, NULL)) &&
      !fuzz_known_bug ("json-utf8"))
    fail ("response", "a token or member that is not UTF-8");
  if (response->extras != NULL)
    {
      GHashTableIter iter;
      gpointer value;

      g_hash_table_iter_init (&iter, response->extras);
      while (g_hash_table_iter_next (&iter, NULL, &value))
        if (!g_utf8_validate (value, -1, NULL) && !fuzz_known_bug ("json-utf8"))
          fail ("response", "an extra member that is not UTF-8");
    }
  if (response->token_type == NULL || g_ascii_strcasecmp (response->token_type, "Bearer") != 0)
    fail ("response", "token type is not Bearer");
  if (response->expires_in < 0 || response->expires_in > TEN_YEARS_S)
    fail ("response", "expires_in out of range");
  if (response->expires_in > 0 && response->expires_at <= 0)
    fail ("response", "expires_at not set");
  if (response->extras != NULL)
    {
      GHashTableIter iter;
      gpointer key;

      g_hash_table_iter_init (&iter, response->extras);
      while (g_hash_table_iter_next (&iter, &key, NULL))
        if (g_str_equal (key, "access_token") || g_str_equal (key, "refresh_token") ||
            g_str_equal (key, "id_token"))
          fail ("response", "a token member ended up in the extras");
    }
}
