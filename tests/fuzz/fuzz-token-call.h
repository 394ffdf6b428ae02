/* fuzz-token-call.h: one token request through bursar-http.c against the
 * loopback answer server, with secret canaries and the checks every
 * answer must pass.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include "fuzz-common.h"

/* Options the first input byte chooses, so the fuzzer reaches the
 * provider-specific branches (field names, optional token_type, …). */
#define FUZZ_TOKEN_TYPE_OPTIONAL (1 << 0)
#define FUZZ_TOKEN_CUSTOM_FIELDS (1 << 1)
#define FUZZ_TOKEN_DEFAULT_LIFETIME (1 << 2)
#define FUZZ_TOKEN_JSON_BODY (1 << 3)
#define FUZZ_TOKEN_BASIC_AUTH (1 << 4)
#define FUZZ_TOKEN_CUSTOM_REAUTH (1 << 5)

/* Sends a refresh request carrying canary secrets; the server answers
 * with @status, @retry_after and @body. Aborts when the daemon's answer
 * breaks a promise of bursar-http.h: an error outside the classified
 * codes, a message that is not UTF-8 or quotes a secret of the request,
 * or a token response that is not a usable Bearer token. */
void fuzz_token_call (guint          flags,
                      guint          status,
                      const char    *retry_after,
                      const uint8_t *body,
                      size_t         body_len);
