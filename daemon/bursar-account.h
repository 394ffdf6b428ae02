/* bursar-account.h: one account — its state, its token cache, and the
 * single-flight token requests that keep it fresh. Knows nothing of D-Bus;
 * the daemon binds its properties to the exported skeleton.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "bursar-account-store.h"
#include "bursar-http.h"
#include "bursar-provider.h"
#include "bursar-secret-store.h"
#include "bursar-types.h"

G_BEGIN_DECLS

/* Never hand out a token with less than this many seconds left. */
#define BURSAR_ACCOUNT_MIN_VALID 60
/* Forced refreshes (Refresh()) closer together than this share one token
 * request: an app retrying a 401 in a loop cannot hammer the provider. */
#define BURSAR_ACCOUNT_REFRESH_COALESCE_SECONDS 10

/* The non-secret settings of an account, kept in accounts.conf. Endpoint
 * fields are set only where they do not come from the provider file
 * (discovery, the oauth2 provider's options). */
typedef struct
{
  char *label;
  char *environment;
  char *flow;
  GStrv scopes;
  char *client_id;
  gboolean has_client_secret;
  char *issuer;
  gboolean issuer_required;
  char *authorization_endpoint;
  char *token_endpoint;
  char *revocation_endpoint;
  char *userinfo_endpoint;
  char *redirect_uri;
  char *base_url;
  char *target_org_id;
  gboolean signup;
  char *host_override;  /* origin a provider directed token calls to */
  GStrv allowed_apps;   /* Flatpak app ids that may use the account */
} BursarAccountConfig;

typedef struct
{
  char *access_token; /* secret */
  gint64 expires_at;  /* 0 unknown */
  char *token_type;
  GStrv scopes;
} BursarTokenInfo;

void bursar_token_info_free (BursarTokenInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BursarTokenInfo, bursar_token_info_free)

#define BURSAR_TYPE_ACCOUNT (bursar_account_get_type ())
G_DECLARE_FINAL_TYPE (BursarAccount, bursar_account, BURSAR, ACCOUNT, GObject)

/* Called with the changed property, or with NULL when what
 * bursar_account_peek_token() would answer may have changed (a token
 * request or keyring read starts or queues, the state moves): holders of
 * a copy of an earlier answer drop it. One watcher per account, set by
 * the daemon: three signal handlers per account cost some 0.8 KiB of the
 * 2 KiB an account may take (figure 4 of issue 5). */
typedef void (*BursarAccountWatchFunc) (BursarAccount *account,
                                        GParamSpec    *pspec,
                                        gpointer       user_data);
void bursar_account_set_watch (BursarAccount          *self,
                               BursarAccountWatchFunc  func,
                               gpointer                user_data);

BursarAccount *bursar_account_new (const char         *id,
                                   BursarProvider     *provider,
                                   BursarHttp         *http,
                                   BursarSecretStore  *secret_store,
                                   BursarAccountStore *account_store);
/* Reads the account's settings from @group of @kf, its group of
 * accounts.conf (see BursarAccountStoreLoadFunc). */
gboolean bursar_account_load (BursarAccount  *self,
                              GKeyFile       *kf,
                              const char     *group,
                              GError        **error);
/* Writes the account's group to accounts.conf (asynchronously). */
void bursar_account_save (BursarAccount *self);

const char *bursar_account_get_id (BursarAccount *self);
BursarProvider *bursar_account_get_provider (BursarAccount *self);
BursarAccountConfig *bursar_account_get_config (BursarAccount *self);
BursarAccountState bursar_account_get_state (BursarAccount *self);
const char *bursar_account_get_endpoint (BursarAccount  *self,
                                         BursarEndpoint  endpoint);

/* Sandboxed applications allowed to use the account. */
gboolean bursar_account_is_app_allowed (BursarAccount *self,
                                        const char    *app_id);
void bursar_account_set_app_allowed (BursarAccount *self,
                                     const char    *app_id,
                                     gboolean       allowed);

/* Fills {name} placeholders (target_org_id, environment, client_id, label,
 * identity or a Details member); NULL when one has no value. */
char *bursar_account_expand_template (BursarAccount *self,
                                      const char    *template);

/* First set-up of a new account with its initial secrets (client secret,
 * personal access token): stores them, and for client credentials and
 * personal access tokens gets or checks the token. */
void bursar_account_setup_async (BursarAccount       *self,
                                 BursarSecrets       *initial,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data);
gboolean bursar_account_setup_finish (BursarAccount  *self,
                                      GAsyncResult   *result,
                                      GError        **error);

/* A token valid for at least @min_valid seconds; @force asks the provider
 * even if the cached one would do. Concurrent calls share one request. */
void bursar_account_get_token_async (BursarAccount       *self,
                                     guint                min_valid,
                                     gboolean             force,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data);
/* The network came back: renews the token of an account in use whose
 * last refresh failed for want of network, or whose token ran out
 * meanwhile, so that the next caller does not wait for it. Returns
 * whether a renewal started. */
gboolean bursar_account_refresh_if_due (BursarAccount *self);

BursarTokenInfo *bursar_account_get_token_finish (BursarAccount  *self,
                                                  GAsyncResult   *result,
                                                  GError        **error);
/* The least validity a token of this account is handed out with: the
 * contract's 60 s, or more where the provider file asks for it. */
guint bursar_account_get_min_valid (BursarAccount *self);
/* The cached token, when bursar_account_get_token_async() with @min_valid
 * and no @force would answer it from the cache at once: secrets in memory,
 * nobody queued, no keyring read, token request or keyring write running
 * (whose result the caller must then share). NULL otherwise. */
BursarTokenInfo *bursar_account_peek_token (BursarAccount *self,
                                            guint          min_valid);
/* The API request headers for @token: Authorization in the provider's
 * scheme plus provider headers. (a{ss}) */
GVariant *bursar_account_build_headers (BursarAccount *self,
                                        const char    *token);

/* Starts (or restarts) the browser flow once the account's secrets are
 * read; finishes with the authorization URL. */
void bursar_account_authorize_async (BursarAccount       *self,
                                     gboolean             open_browser,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data);
char *bursar_account_authorize_finish (BursarAccount  *self,
                                       GAsyncResult   *result,
                                       GError        **error);
void bursar_account_complete_authorization_async (BursarAccount       *self,
                                                  const char          *redirect_url,
                                                  GCancellable        *cancellable,
                                                  GAsyncReadyCallback  callback,
                                                  gpointer             user_data);
gboolean bursar_account_complete_authorization_finish (BursarAccount  *self,
                                                       GAsyncResult   *result,
                                                       GError        **error);

/* Revokes where the provider can, then deletes the keyring item. */
void bursar_account_remove_async (BursarAccount       *self,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data);
gboolean bursar_account_remove_finish (BursarAccount  *self,
                                       GAsyncResult   *result,
                                       GError        **error);

G_END_DECLS
