/* fuzz-error-body.c: the error answers of a token endpoint — status,
 * Retry-After and body — through the daemon's classification (RFC 6749
 * §5.2 and the provider shapes: {error:{code,message}}, {type,message},
 * [{message}]). A secret of the request echoed back by the server must
 * never reach the error message.
 *
 * Input: one byte choosing the status, then a Retry-After value up to the
 * first newline (empty: no header), then the body.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include "fuzz-token-call.h"

static const guint statuses[] = {
  400, 401, 403, 404, 405, 409, 415, 422, 429, 500, 502, 503, 504, 200, 201, 418,
};

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
  g_autofree char *retry_after = NULL;
  const uint8_t *newline;
  size_t header_len;

  if (size < 2)
    return 0;

  newline = memchr (data + 1, '\n', size - 1);
  if (newline == NULL)
    return 0;
  header_len = (size_t) (newline - (data + 1));
  if (header_len > 0)
    retry_after = g_strndup ((const char *) data + 1, header_len);

  fuzz_token_call ((data[0] >> 4) & 0x0f, statuses[data[0] % G_N_ELEMENTS (statuses)],
                   retry_after, newline + 1, size - (size_t) (newline + 1 - data));
  return 0;
}
