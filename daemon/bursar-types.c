/* bursar-types.c
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include "bursar-types.h"

static const char *const state_names[] = {
  [BURSAR_ACCOUNT_STATE_NEEDS_AUTHORIZATION] = "needs-authorization",
  [BURSAR_ACCOUNT_STATE_AUTHORIZING] = "authorizing",
  [BURSAR_ACCOUNT_STATE_READY] = "ready",
  [BURSAR_ACCOUNT_STATE_NEEDS_REAUTHORIZATION] = "needs-reauthorization",
};
G_STATIC_ASSERT (G_N_ELEMENTS (state_names) == BURSAR_ACCOUNT_STATE_NEEDS_REAUTHORIZATION + 1);

const char *
bursar_account_state_to_string (BursarAccountState state)
{
  g_return_val_if_fail ((guint) state < G_N_ELEMENTS (state_names), NULL);
  return state_names[state];
}

gboolean
bursar_account_state_from_string (const char         *str,
                                  BursarAccountState *out_state)
{
  for (guint i = 0; str != NULL && i < G_N_ELEMENTS (state_names); i++)
    {
      if (g_strcmp0 (str, state_names[i]) == 0)
        {
          *out_state = (BursarAccountState) i;
          return TRUE;
        }
    }
  return FALSE;
}

gboolean
bursar_body_encoding_from_string (const char         *str,
                                  BursarBodyEncoding *out_encoding)
{
  if (g_strcmp0 (str, "form") == 0)
    *out_encoding = BURSAR_BODY_FORM;
  else if (g_strcmp0 (str, "json") == 0)
    *out_encoding = BURSAR_BODY_JSON;
  else if (g_strcmp0 (str, "query") == 0)
    *out_encoding = BURSAR_BODY_QUERY;
  else
    return FALSE;
  return TRUE;
}

gboolean
bursar_client_auth_from_string (const char       *str,
                                BursarClientAuth *out_auth)
{
  if (g_strcmp0 (str, "post") == 0)
    *out_auth = BURSAR_CLIENT_AUTH_POST;
  else if (g_strcmp0 (str, "basic") == 0)
    *out_auth = BURSAR_CLIENT_AUTH_BASIC;
  else if (g_strcmp0 (str, "none") == 0)
    *out_auth = BURSAR_CLIENT_AUTH_NONE;
  else if (g_strcmp0 (str, "omit") == 0)
    *out_auth = BURSAR_CLIENT_AUTH_OMIT;
  else
    return FALSE;
  return TRUE;
}
