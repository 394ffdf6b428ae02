/* bursar-secret.c
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include "bursar-secret.h"

/* explicit_bzero() is not removed by the optimiser the way a memset() of
 * memory about to be freed can be. */
void
bursar_secret_free (char *secret)
{
  if (secret == NULL)
    return;
  explicit_bzero (secret, strlen (secret));
  g_free (secret);
}

/* Replaces *location by a copy of @value (or NULL), wiping the old one. */
void
bursar_secret_replace (char       **location,
                       const char  *value)
{
  char *old = *location;

  *location = g_strdup (value);
  bursar_secret_free (old);
}

/* A string → string table whose values are wiped on removal; for callback
 * and form parameters that may hold a code or a token. */
GHashTable *
bursar_secret_table_new (void)
{
  return g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) bursar_secret_free);
}

/* Compares two secrets in time that depends only on their lengths, so a
 * caller probing `state` values learns nothing from timing. */
gboolean
bursar_secret_equal (const char *a,
                     const char *b)
{
  gsize len_a, len_b;
  guint8 diff = 0;

  if (a == NULL || b == NULL)
    return FALSE;

  len_a = strlen (a);
  len_b = strlen (b);
  if (len_a != len_b)
    return FALSE;

  for (gsize i = 0; i < len_a; i++)
    diff |= (guint8) (a[i] ^ b[i]);

  return diff == 0;
}
