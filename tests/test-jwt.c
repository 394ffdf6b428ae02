/* test-jwt.c: ID token decoding and claim checks.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include "bursar-error.h"
#include "bursar-json.h"
#include "bursar-jwt.h"
#include "bursar-pkce.h"

#define ISSUER "https://issuer.example"
#define CLIENT "client-1"
#define NOW ((gint64) 1700000000)
#define NONCE_CANARY "NONCE-CANARY-31337"

/* RFC 7519 §3.1: the example JWT, CRLFs and all. */
static const char rfc7519_example[] =
  "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
  ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
  ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

static char *
make_jwt (const char *payload)
{
  const char *header = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
  g_autofree char *h = bursar_base64url_encode ((const guint8 *) header, strlen (header));
  g_autofree char *p = bursar_base64url_encode ((const guint8 *) payload, strlen (payload));

  return g_strconcat (h, ".", p, ".c2lnbmF0dXJl", NULL);
}

static JsonObject *
claims_from (const char *payload)
{
  g_autofree char *jwt = make_jwt (payload);
  g_autoptr(GError) error = NULL;
  JsonObject *claims = bursar_jwt_decode_payload (jwt, &error);

  g_assert_no_error (error);
  g_assert_nonnull (claims);
  return claims;
}

static void
test_jwt_rfc7519 (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) claims = bursar_jwt_decode_payload (rfc7519_example, &error);
  gint64 exp = 0;
  gboolean root = FALSE;

  g_assert_no_error (error);
  g_assert_nonnull (claims);
  g_assert_cmpstr (bursar_json_get_string (claims, "iss"), ==, "joe");
  g_assert_true (bursar_json_get_int (claims, "exp", &exp));
  g_assert_cmpint (exp, ==, 1300819380);
  g_assert_true (bursar_json_get_boolean (claims, "http://example.com/is_root", &root));
  g_assert_true (root);
}

static void
test_jwt_malformed (void)
{
  g_autofree char *not_object = make_jwt ("[1,2]");
  g_autofree char *not_json = make_jwt ("iss=joe");
  g_autofree char *deep = NULL;
  g_autofree char *nul = NULL;
  g_autoptr(GString) deep_payload = g_string_new (NULL);
  const char *cases[] = {
    "",
    "abc",
    "abc.def",
    "a.b.c.d",
    ".eyJpc3MiOiJqb2UifQ.sig",
    "eyJhbGciOiJub25lIn0..sig",
    "eyJhbGciOiJub25lIn0.eyJpc3MiOiJqb2UifQ==.sig", /* padding is not base64url */
    "eyJhbGciOiJub25lIn0.eyJpc3M*OiJqb2UifQ.sig",
    "eyJhbGciOiJub25lIn0.e.sig", /* impossible length */
    "eyJhbGciOiJub25lIn0.eyJpc3MiOiJqb2UifQ.si+g",
    not_object,
    not_json,
    NULL, /* deep */
    NULL, /* nul */
  };
  const char payload_with_nul[] = "{\"iss\":\"a\0b\"}";

  for (guint i = 0; i < 10000; i++)
    g_string_append_c (deep_payload, '[');
  deep = make_jwt (deep_payload->str);
  cases[G_N_ELEMENTS (cases) - 2] = deep;
  {
    g_autofree char *h = bursar_base64url_encode ((const guint8 *) "{}", 2);
    g_autofree char *p = bursar_base64url_encode ((const guint8 *) payload_with_nul,
                                                  sizeof payload_with_nul - 1);

    nul = g_strconcat (h, ".", p, ".", NULL);
  }
  cases[G_N_ELEMENTS (cases) - 1] = nul;

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(JsonObject) claims = bursar_jwt_decode_payload (cases[i], &error);

      g_test_message ("case %" G_GSIZE_FORMAT, i);
      g_assert_null (claims);
      g_assert_error (error, BURSAR_ERROR, BURSAR_ERROR_PROVIDER);
    }

  /* An empty signature (unsecured JWT) still decodes: it is not checked. */
  {
    g_autoptr(JsonObject) claims = bursar_jwt_decode_payload ("eyJhbGciOiJub25lIn0.eyJpc3MiOiJqb2UifQ.", NULL);

    g_assert_nonnull (claims);
    g_assert_cmpstr (bursar_json_get_string (claims, "iss"), ==, "joe");
  }
}

static void
test_id_token_valid (void)
{
  g_autoptr(JsonObject) single = claims_from ("{\"iss\":\"" ISSUER "\",\"aud\":\"" CLIENT "\","
                                              "\"exp\":1700000600,\"nonce\":\"" NONCE_CANARY "\"}");
  g_autoptr(JsonObject) array = claims_from ("{\"iss\":\"" ISSUER "\",\"aud\":[\"other\",\"" CLIENT "\"],"
                                             "\"azp\":\"" CLIENT "\",\"exp\":1700000600}");
  g_autoptr(JsonObject) skew = claims_from ("{\"iss\":\"" ISSUER "\",\"aud\":\"" CLIENT "\","
                                            "\"exp\":1699999800}");
  g_autoptr(GError) error = NULL;

  g_assert_true (bursar_id_token_check (single, ISSUER, CLIENT, NONCE_CANARY, NOW, &error));
  g_assert_no_error (error);
  g_assert_true (bursar_id_token_check (single, ISSUER, CLIENT, NULL, NOW, &error));
  g_assert_no_error (error);
  g_assert_true (bursar_id_token_check (array, ISSUER, CLIENT, NULL, NOW, &error));
  g_assert_no_error (error);
  /* Expired 200 s ago: inside the 300 s skew. */
  g_assert_true (bursar_id_token_check (skew, ISSUER, CLIENT, NULL, NOW, &error));
  g_assert_no_error (error);
}

static void
test_id_token_invalid (void)
{
  static const struct
  {
    const char *payload;
    const char *nonce;
  } cases[] = {
    /* wrong or missing iss */
    { "{\"iss\":\"https://evil.example\",\"aud\":\"" CLIENT "\",\"exp\":1700000600}", NULL },
    { "{\"iss\":\"" ISSUER "/\",\"aud\":\"" CLIENT "\",\"exp\":1700000600}", NULL },
    { "{\"aud\":\"" CLIENT "\",\"exp\":1700000600}", NULL },
    { "{\"iss\":5,\"aud\":\"" CLIENT "\",\"exp\":1700000600}", NULL },
    /* wrong aud */
    { "{\"iss\":\"" ISSUER "\",\"aud\":\"other\",\"exp\":1700000600}", NULL },
    { "{\"iss\":\"" ISSUER "\",\"aud\":[\"other\"],\"exp\":1700000600}", NULL },
    { "{\"iss\":\"" ISSUER "\",\"aud\":[\"" CLIENT "\", 5],\"exp\":1700000600}", NULL },
    { "{\"iss\":\"" ISSUER "\",\"exp\":1700000600}", NULL },
    { "{\"iss\":\"" ISSUER "\",\"aud\":{\"a\":\"" CLIENT "\"},\"exp\":1700000600}", NULL },
    /* azp names someone else */
    { "{\"iss\":\"" ISSUER "\",\"aud\":[\"" CLIENT "\",\"x\"],\"azp\":\"x\",\"exp\":1700000600}", NULL },
    /* exp missing, malformed or past the skew */
    { "{\"iss\":\"" ISSUER "\",\"aud\":\"" CLIENT "\"}", NULL },
    { "{\"iss\":\"" ISSUER "\",\"aud\":\"" CLIENT "\",\"exp\":\"1700000600\"}", NULL },
    { "{\"iss\":\"" ISSUER "\",\"aud\":\"" CLIENT "\",\"exp\":1e999}", NULL },
    { "{\"iss\":\"" ISSUER "\",\"aud\":\"" CLIENT "\",\"exp\":1699999700}", NULL },
    { "{\"iss\":\"" ISSUER "\",\"aud\":\"" CLIENT "\",\"exp\":1699999600}", NULL },
    /* nonce missing or wrong */
    { "{\"iss\":\"" ISSUER "\",\"aud\":\"" CLIENT "\",\"exp\":1700000600}", NONCE_CANARY },
    { "{\"iss\":\"" ISSUER "\",\"aud\":\"" CLIENT "\",\"exp\":1700000600,\"nonce\":\"NONCE-OTHER\"}", NONCE_CANARY },
    { "{\"iss\":\"" ISSUER "\",\"aud\":\"" CLIENT "\",\"exp\":1700000600,\"nonce\":\"" NONCE_CANARY "x\"}", NONCE_CANARY },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(JsonObject) claims = claims_from (cases[i].payload);
      g_autoptr(GError) error = NULL;

      g_test_message ("case %" G_GSIZE_FORMAT, i);
      g_assert_false (bursar_id_token_check (claims, ISSUER, CLIENT, cases[i].nonce, NOW, &error));
      g_assert_error (error, BURSAR_ERROR, BURSAR_ERROR_PROVIDER);
      g_assert_null (strstr (error->message, "NONCE"));
    }
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/jwt/rfc7519-example", test_jwt_rfc7519);
  g_test_add_func ("/jwt/malformed", test_jwt_malformed);
  g_test_add_func ("/jwt/id-token/valid", test_id_token_valid);
  g_test_add_func ("/jwt/id-token/invalid", test_id_token_invalid);

  return g_test_run ();
}
