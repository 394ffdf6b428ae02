/* test-pkce.c: random values, base64url and PKCE (RFC 7636).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include <glib.h>

#include "bursar-error.h"
#include "bursar-pkce.h"

#define N_VERIFIERS 100000

static gboolean
is_base64url_alphabet (const char *text)
{
  for (const char *p = text; *p != '\0'; p++)
    {
      if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_')
        return FALSE;
    }
  return TRUE;
}

/* RFC 7636 Appendix B. */
static void
test_rfc7636_vector (void)
{
  g_autofree char *challenge = bursar_pkce_challenge_s256 ("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");

  g_assert_cmpstr (challenge, ==, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

/* The verifier bytes of Appendix B encode to the verifier of Appendix B. */
static void
test_rfc7636_verifier_bytes (void)
{
  static const guint8 octets[32] = {
    116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173,
    187, 186, 22, 212, 37, 77, 105, 214, 191, 240, 91, 88, 5, 88, 83,
    132, 141, 121
  };
  g_autofree char *verifier = bursar_base64url_encode (octets, sizeof (octets));

  g_assert_cmpstr (verifier, ==, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
}

static void
test_verifiers_unique (void)
{
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (guint i = 0; i < N_VERIFIERS; i++)
    {
      g_autoptr(GError) error = NULL;
      char *verifier = bursar_pkce_verifier_new (&error);

      g_assert_no_error (error);
      g_assert_nonnull (verifier);
      g_assert_cmpuint (strlen (verifier), ==, 43);
      g_assert_true (is_base64url_alphabet (verifier));
      /* g_hash_table_add() returns FALSE when the key was already there. */
      g_assert_true (g_hash_table_add (seen, verifier));
    }
  g_assert_cmpuint (g_hash_table_size (seen), ==, N_VERIFIERS);
}

static void
test_challenge_shape (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *verifier = bursar_pkce_verifier_new (&error);
  g_autofree char *challenge = NULL;
  g_autofree char *challenge_again = NULL;

  g_assert_no_error (error);
  challenge = bursar_pkce_challenge_s256 (verifier);
  challenge_again = bursar_pkce_challenge_s256 (verifier);
  /* SHA-256 is 32 bytes → 43 unpadded base64url characters. */
  g_assert_cmpuint (strlen (challenge), ==, 43);
  g_assert_true (is_base64url_alphabet (challenge));
  g_assert_cmpstr (challenge, ==, challenge_again);
  g_assert_cmpstr (challenge, !=, verifier);
}

static void
test_base64url_round_trip (void)
{
  guint8 data[41];

  for (gsize len = 0; len <= 40; len++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *text = NULL;
      g_autofree guint8 *decoded = NULL;
      gsize decoded_len = 12345;

      for (gsize i = 0; i < len; i++)
        data[i] = (guint8) g_random_int_range (0, 256);
      /* Make sure the characters that differ from standard base64 show up. */
      if (len >= 3)
        {
          data[0] = 0xfb;
          data[1] = 0xff;
          data[2] = 0xbf;
        }

      text = bursar_base64url_encode (data, len);
      g_assert_nonnull (text);
      g_assert_cmpuint (strlen (text), ==, (len * 4 + 2) / 3);
      g_assert_true (is_base64url_alphabet (text));
      g_assert_null (strchr (text, '='));

      decoded = bursar_base64url_decode (text, &decoded_len, &error);
      g_assert_no_error (error);
      g_assert_nonnull (decoded);
      g_assert_cmpmem (decoded, decoded_len, data, len);
    }
}

static void
test_base64url_known (void)
{
  static const guint8 data[] = { 0xfb, 0xff, 0xbf };
  g_autofree char *text = bursar_base64url_encode (data, sizeof (data));
  g_autofree guint8 *decoded = NULL;
  g_autoptr(GError) error = NULL;
  gsize len = 0;

  /* Standard base64 would be "+/+/". */
  g_assert_cmpstr (text, ==, "-_-_");

  /* Padded input is accepted too. */
  decoded = bursar_base64url_decode ("Zg==", &len, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (decoded, len, "f", 1);
}

static void
test_base64url_rejects (void)
{
  static const char *const invalid[] = {
    "ab+c",       /* standard alphabet */
    "ab/c",
    "ab c",
    "abc!",
    "ab\tc",
    "ab=c",       /* padding in the middle */
    "a",          /* impossible length: 6 bits */
    "abcde",
    "\303\251abc",      /* non-ASCII */
  };

  for (gsize i = 0; i < G_N_ELEMENTS (invalid); i++)
    {
      g_autoptr(GError) error = NULL;
      gsize len = 777;
      g_autofree guint8 *decoded = bursar_base64url_decode (invalid[i], &len, &error);

      g_test_message ("input %" G_GSIZE_FORMAT, i);
      g_assert_null (decoded);
      g_assert_error (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT);
      /* Output parameters are written only on success. */
      g_assert_cmpuint (len, ==, 777);
    }
}

static void
test_random_string_lengths (void)
{
  for (gsize n = 1; n <= 64; n++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *text = bursar_random_string (n, &error);

      g_assert_no_error (error);
      g_assert_nonnull (text);
      g_assert_cmpuint (strlen (text), ==, (n * 4 + 2) / 3);
      g_assert_true (is_base64url_alphabet (text));
    }

  /* 16 bytes (128 bits, the minimum for `state`) → 22 characters; 32 → 43. */
  {
    g_autofree char *a = bursar_random_string (16, NULL);
    g_autofree char *b = bursar_random_string (16, NULL);
    g_autofree char *c = bursar_random_string (32, NULL);

    g_assert_cmpuint (strlen (a), ==, 22);
    g_assert_cmpstr (a, !=, b);
    g_assert_cmpuint (strlen (c), ==, 43);
  }
}

static void
test_random_bytes (void)
{
  guint8 a[64] = { 0 };
  guint8 b[64] = { 0 };
  g_autoptr(GError) error = NULL;

  g_assert_true (bursar_random_bytes (a, sizeof (a), &error));
  g_assert_no_error (error);
  g_assert_true (bursar_random_bytes (b, sizeof (b), &error));
  g_assert_no_error (error);
  /* 512 random bits colliding, or staying all zero, means no randomness. */
  g_assert_true (memcmp (a, b, sizeof (a)) != 0);
  g_assert_true (bursar_random_bytes (a, 0, &error));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/pkce/rfc7636-vector", test_rfc7636_vector);
  g_test_add_func ("/pkce/rfc7636-verifier-bytes", test_rfc7636_verifier_bytes);
  g_test_add_func ("/pkce/verifiers-unique", test_verifiers_unique);
  g_test_add_func ("/pkce/challenge-shape", test_challenge_shape);
  g_test_add_func ("/pkce/base64url/round-trip", test_base64url_round_trip);
  g_test_add_func ("/pkce/base64url/known", test_base64url_known);
  g_test_add_func ("/pkce/base64url/rejects", test_base64url_rejects);
  g_test_add_func ("/pkce/random-string-lengths", test_random_string_lengths);
  g_test_add_func ("/pkce/random-bytes", test_random_bytes);

  return g_test_run ();
}
