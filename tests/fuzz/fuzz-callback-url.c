/* fuzz-callback-url.c: the redirect URL a browser (or the user, through
 * CompleteAuthorization()) hands back — bursar_callback_parse_url() and
 * bursar_callback_check() with an expected state and issuer.
 *
 * Input: one byte of options (bit 0: the issuer is required, bit 1: no
 * issuer expected, bit 2: prefix the input with the loopback redirect
 * URI so the fuzzer spends its time in the query), then the URL.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <stdlib.h>

#include "bursar-error.h"
#include "bursar-redirect-listener.h"
#include "fuzz-common.h"

#define EXPECTED_STATE "fuzz-state-0123456789abcdefABCDEF"
#define EXPECTED_ISSUER "https://id.example.com"

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
  g_autofree char *text = NULL;
  g_autofree char *url = NULL;
  g_autoptr(GHashTable) params = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) check_error = NULL;
  gboolean issuer_required;
  const char *issuer;

  if (size < 1)
    return 0;
  issuer_required = (data[0] & 1) != 0;
  issuer = (data[0] & 2) ? NULL : EXPECTED_ISSUER;
  text = fuzz_dup_string (data + 1, size - 1);
  url = (data[0] & 4) ? g_strconcat ("http://127.0.0.1:8080/callback?", text, NULL) : g_strdup (text);

  params = bursar_callback_parse_url (url, &error);
  if ((params == NULL) == (error == NULL))
    {
      g_printerr ("parse_url must give exactly one of a table and an error\n");
      abort ();
    }
  if (params == NULL)
    {
      if (error->domain != BURSAR_ERROR || error->code != BURSAR_ERROR_INVALID_ARGUMENT)
        abort ();
      return 0;
    }

  if (bursar_callback_check (params, EXPECTED_STATE, issuer, issuer_required, &check_error))
    {
      const char *iss = g_hash_table_lookup (params, "iss");

      /* Whatever passed must carry exactly our state, and an issuer that
       * is ours or (when allowed) none. */
      if (g_strcmp0 (g_hash_table_lookup (params, "state"), EXPECTED_STATE) != 0)
        {
          g_printerr ("callback accepted with a foreign state\n");
          abort ();
        }
      if (issuer != NULL && iss != NULL && g_strcmp0 (iss, issuer) != 0)
        {
          g_printerr ("callback accepted with a foreign issuer\n");
          abort ();
        }
      if (issuer != NULL && issuer_required && iss == NULL)
        {
          g_printerr ("callback accepted without the required issuer\n");
          abort ();
        }
    }
  else if (check_error == NULL || check_error->domain != BURSAR_ERROR)
    {
      g_printerr ("callback refused without a Bursar error\n");
      abort ();
    }
  return 0;
}
