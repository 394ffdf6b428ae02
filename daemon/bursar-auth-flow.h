/* bursar-auth-flow.h: one browser authorization (authorization code +
 * PKCE S256, loopback redirect), from the URL to the token answer.
 *
 * Holds the flow's secrets (state, nonce, verifier) and nothing else;
 * knows nothing of accounts or D-Bus.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "bursar-http.h"
#include "bursar-provider.h"

G_BEGIN_DECLS

typedef struct
{
  BursarProvider *provider;           /* quirks: params, encodings, fields */
  const char *authorization_endpoint;
  const char *token_endpoint;
  const char *issuer;                 /* NULL: no iss / ID token checks */
  gboolean issuer_required;           /* AS advertises RFC 9207 iss */
  const char *client_id;
  const char *client_secret;          /* NULL: public client */
  const char * const *scopes;
  const char *redirect_uri;           /* NULL: ephemeral loopback port */
  gboolean signup;                    /* sent where the provider takes it */
  gboolean allow_loopback_hosts;      /* base_url account: servers on loopback */
} BursarAuthFlowConfig;

/* Seconds the loopback listener waits for the browser. */
#define BURSAR_AUTH_FLOW_TIMEOUT (10 * 60)

#define BURSAR_TYPE_AUTH_FLOW (bursar_auth_flow_get_type ())
G_DECLARE_FINAL_TYPE (BursarAuthFlow, bursar_auth_flow, BURSAR, AUTH_FLOW, GObject)

/* Opens the listener and builds the authorization URL. */
BursarAuthFlow *bursar_auth_flow_new (BursarHttp                 *http,
                                      const BursarAuthFlowConfig *config,
                                      GError                    **error);
/* Finishes with the URL to open in the browser: at once for a GET
 * authorization, after the provider's answer for a POST one. */
void bursar_auth_flow_start_async (BursarAuthFlow      *self,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data);
char *bursar_auth_flow_start_finish (BursarAuthFlow  *self,
                                     GAsyncResult    *result,
                                     GError         **error);
const char *bursar_auth_flow_get_url (BursarAuthFlow *self);
/* The origin a callback parameter (HostOverrideParams) moved the token
 * endpoint to; NULL when none. Valid after the run finished. */
const char *bursar_auth_flow_get_host_override (BursarAuthFlow *self);

/* Waits for the callback (from the browser, or handed in by
 * bursar_auth_flow_complete()) and exchanges the code. @out_params gets the
 * callback's parameters (provider extras such as `location`). */
void bursar_auth_flow_run_async (BursarAuthFlow      *self,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data);
BursarTokenResponse *bursar_auth_flow_run_finish (BursarAuthFlow  *self,
                                                  GAsyncResult    *result,
                                                  GHashTable     **out_params,
                                                  GError         **error);

/* Hands in the URL the browser was redirected to. Fails, leaving the flow
 * waiting, when its state does not match. */
gboolean bursar_auth_flow_complete (BursarAuthFlow  *self,
                                    const char      *redirect_url,
                                    GError         **error);

/* Shows the final page in the browser and closes the listener. */
void bursar_auth_flow_respond (BursarAuthFlow *self,
                               gboolean        success,
                               const char     *message);

G_END_DECLS
