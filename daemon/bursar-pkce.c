/* bursar-pkce.c
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include <glib/gi18n-lib.h>

#include "bursar-error.h"
#include "bursar-pkce.h"
#include "bursar-secret.h"

/* RFC 4648 §5 without padding, built on GLib's base64. */
char *
bursar_base64url_encode (const guint8 *data,
                         gsize         len)
{
  char *text = g_base64_encode (data, len);
  gsize out = 0;

  for (gsize i = 0; text[i] != '\0'; i++)
    {
      char c = text[i];

      if (c == '=')
        break;
      if (c == '+')
        c = '-';
      else if (c == '/')
        c = '_';
      text[out++] = c;
    }
  text[out] = '\0';
  return text;
}

/* Decodes unpadded or padded base64url; fails on any character outside the
 * alphabet, since g_base64_decode() would silently skip it. */
guint8 *
bursar_base64url_decode (const char  *text,
                         gsize       *out_len,
                         GError     **error)
{
  g_autoptr(GString) std = NULL;
  guint8 *result;
  gsize len;

  g_return_val_if_fail (text != NULL, NULL);
  g_return_val_if_fail (out_len != NULL, NULL);

  len = strlen (text);
  /* Padding is optional, but when present it must be the canonical one. */
  if (len > 0 && text[len - 1] == '=')
    {
      gsize padded = len;

      while (len > 0 && text[len - 1] == '=')
        len--;
      if (padded % 4 != 0 || padded - len > 2)
        len = 1; /* force the length error below */
    }

  if (len % 4 == 1)
    {
      g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                           _("Invalid base64url length."));
      return NULL;
    }

  std = g_string_sized_new (len + 3);
  for (gsize i = 0; i < len; i++)
    {
      char c = text[i];

      if (c == '-')
        c = '+';
      else if (c == '_')
        c = '/';
      else if (!g_ascii_isalnum (c))
        {
          explicit_bzero (std->str, std->len);
          g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                               _("Invalid base64url character."));
          return NULL;
        }
      g_string_append_c (std, c);
    }
  while (std->len % 4 != 0)
    g_string_append_c (std, '=');

  result = g_base64_decode (std->str, out_len);
  explicit_bzero (std->str, std->len);
  return result;
}

/* The kernel CSPRNG; GLib's g_random_*() is not meant for secrets. */
gboolean
bursar_random_bytes (guint8  *buffer,
                     gsize    len,
                     GError **error)
{
  gsize done = 0;

  while (done < len)
    {
      ssize_t r = getrandom (buffer + done, len - done, 0);

      if (r < 0)
        {
          int saved_errno = errno;

          if (saved_errno == EINTR)
            continue;
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                       "getrandom: %s", g_strerror (saved_errno));
          return FALSE;
        }
      done += (gsize) r;
    }
  return TRUE;
}

/* @n_bytes random bytes as base64url: 32 bytes give 256 bits in 43
 * characters, used for `state`, `nonce` and the PKCE verifier. */
char *
bursar_random_string (gsize    n_bytes,
                      GError **error)
{
  g_autofree guint8 *buffer = g_malloc (n_bytes);
  char *result;

  if (!bursar_random_bytes (buffer, n_bytes, error))
    return NULL;

  result = bursar_base64url_encode (buffer, n_bytes);
  explicit_bzero (buffer, n_bytes);
  return result;
}

/* RFC 7636 §4.1: 32 octets → 43 characters of [A-Za-z0-9-_]. */
char *
bursar_pkce_verifier_new (GError **error)
{
  return bursar_random_string (32, error);
}

/* RFC 7636 §4.2: BASE64URL(SHA256(ASCII(verifier))). */
char *
bursar_pkce_challenge_s256 (const char *verifier)
{
  g_autoptr(GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  guint8 digest[32];
  gsize digest_len = sizeof (digest);
  char *result;

  g_return_val_if_fail (verifier != NULL, NULL);

  g_checksum_update (checksum, (const guchar *) verifier, (gssize) strlen (verifier));
  g_checksum_get_digest (checksum, digest, &digest_len);
  result = bursar_base64url_encode (digest, digest_len);
  explicit_bzero (digest, sizeof (digest));
  return result;
}
