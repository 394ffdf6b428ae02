/* fuzz-token-answer.c: the body of a 2xx token-endpoint answer, parsed by
 * the daemon's own HTTP client (bursar_http_token_async → bounded read →
 * bursar_json_parse → error shapes → token_response_from_json).
 *
 * Input: one byte of request options (see fuzz-token-call.h), then the
 * body.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include "fuzz-token-call.h"

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
  if (size < 1)
    return 0;
  fuzz_token_call (data[0], 200, NULL, data + 1, size - 1);
  return 0;
}
