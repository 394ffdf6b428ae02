/* bursar-provider.h: one provider, read from a `*.provider` GKeyFile.
 *
 * Every difference between services is a key in that file (see
 * docs/bursar-provider.5); the engine asks this object and never tests a
 * provider id.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "bursar-types.h"

G_BEGIN_DECLS

typedef enum
{
  BURSAR_ENDPOINT_ISSUER,
  BURSAR_ENDPOINT_AUTHORIZATION,
  BURSAR_ENDPOINT_TOKEN,
  BURSAR_ENDPOINT_REVOCATION,
  BURSAR_ENDPOINT_USERINFO,
  BURSAR_ENDPOINT_API_BASE,
} BursarEndpoint;

/* The calls that may differ in client authentication. */
typedef enum
{
  BURSAR_CALL_EXCHANGE,           /* authorization code → tokens */
  BURSAR_CALL_REFRESH,            /* refresh_token grant */
  BURSAR_CALL_CLIENT_CREDENTIALS, /* client_credentials grant */
  BURSAR_CALL_REVOKE,             /* revocation */
} BursarCall;

typedef enum
{
  BURSAR_REVOCATION_NONE,    /* no endpoint: Remove() is local only */
  BURSAR_REVOCATION_REFRESH, /* revoke the refresh token (falls back to access) */
  BURSAR_REVOCATION_ACCESS,  /* revoke the access token */
} BursarRevocation;

/* How the authorization request starts (AuthorizationMethod=). */
typedef enum
{
  BURSAR_AUTHORIZATION_GET,       /* open the authorization URL in the browser */
  BURSAR_AUTHORIZATION_POST_JSON, /* POST the parameters as JSON, open the
                                   * Location of the answer, never follow it */
} BursarAuthorizationMethod;

/* Error shapes the engine must recognise in token-endpoint answers and on
 * the callback (ErrorShapes=). */
typedef enum
{
  BURSAR_ERROR_SHAPE_RFC6749 = 1 << 0,       /* {error, error_description} on 4xx */
  BURSAR_ERROR_SHAPE_OK_WITH_ERROR = 1 << 1, /* {error} in a 2xx answer (Zoho) */
  BURSAR_ERROR_SHAPE_TYPE_MESSAGE = 1 << 2,  /* {type, message} (Invoiced) */
  BURSAR_ERROR_SHAPE_MESSAGE_ARRAY = 1 << 3, /* [{message}, …] (Apruve) */
  BURSAR_ERROR_SHAPE_CALLBACK_DESCRIPTION = 1 << 4, /* callback error with only
                                                     * error_description */
} BursarErrorShape;

#define BURSAR_TYPE_PROVIDER (bursar_provider_get_type ())
G_DECLARE_FINAL_TYPE (BursarProvider, bursar_provider, BURSAR, PROVIDER, GObject)

/* The id is the file name without ".provider". Fails with
 * G_KEY_FILE_ERROR / BURSAR_ERROR_INVALID_ARGUMENT naming the file and the
 * key at fault. */
BursarProvider *bursar_provider_new_from_file (const char  *path,
                                               GError     **error);
BursarProvider *bursar_provider_new_from_data (const char  *id,
                                               const char  *data,
                                               gssize       length,
                                               GError     **error);

const char *bursar_provider_get_id (BursarProvider *self);
const char *bursar_provider_get_path (BursarProvider *self); /* NULL from data */
/* Name[lang] from the file for the current locale (LANGUAGE honoured). */
const char *bursar_provider_get_name (BursarProvider *self);

/* Flows: "authorization_code", "client_credentials",
 * "personal_access_token"; the first is the default. */
const char * const *bursar_provider_get_flows (BursarProvider *self);
gboolean bursar_provider_supports_flow (BursarProvider *self,
                                        const char     *flow);

/* Environments in file order; the first is the default. Empty for the
 * generic providers. */
const char * const *bursar_provider_get_environments (BursarProvider *self);
gboolean bursar_provider_has_environment (BursarProvider *self,
                                          const char     *environment);
/* @environment NULL means the default. NULL when the file has none. */
const char *bursar_provider_get_endpoint (BursarProvider *self,
                                          const char     *environment,
                                          BursarEndpoint  endpoint);
/* Hosts (lower case, no port) the provider may name at run time
 * (accounts-server, api_domain), over all environments. */
const char * const *bursar_provider_get_known_hosts (BursarProvider *self);

/* Endpoints come from OpenID discovery of the `issuer` option. */
gboolean bursar_provider_get_discovery (BursarProvider *self);
/* Endpoints come from the `authorization_endpoint`/`token_endpoint`
 * options (the generic oauth2 provider). */
gboolean bursar_provider_get_endpoints_from_options (BursarProvider *self);

const char *bursar_provider_get_client_id (BursarProvider *self);     /* NULL */
const char *bursar_provider_get_client_secret (BursarProvider *self); /* NULL */
gboolean bursar_provider_get_needs_client_secret (BursarProvider *self);

const char * const *bursar_provider_get_default_scopes (BursarProvider *self);
/* Scopes always added to the request (e.g. openid). */
const char * const *bursar_provider_get_required_scopes (BursarProvider *self);
const char *bursar_provider_get_scope_separator (BursarProvider *self); /* " " */

gboolean bursar_provider_get_pkce (BursarProvider *self); /* S256, default TRUE */
/* Extra authorization-request parameters as "name=value" strings. */
const char * const *bursar_provider_get_authorize_params (BursarProvider *self);
/* Host written in the redirect URI: "127.0.0.1" (default) or "localhost". */
const char *bursar_provider_get_redirect_host (BursarProvider *self);

BursarBodyEncoding bursar_provider_get_token_encoding (BursarProvider *self);
BursarClientAuth bursar_provider_get_client_auth (BursarProvider *self,
                                                  BursarCall      call);
/* Name of the code parameter in the exchange ("code"). */
const char *bursar_provider_get_code_param (BursarProvider *self);
/* Also send these in the code exchange (default: redirect_uri yes, state no). */
gboolean bursar_provider_get_exchange_sends_redirect_uri (BursarProvider *self);
gboolean bursar_provider_get_exchange_sends_state (BursarProvider *self);
/* Answer member names, tried in order; @call EXCHANGE or REFRESH. */
const char * const *bursar_provider_get_access_token_fields (BursarProvider *self,
                                                             BursarCall      call);
const char * const *bursar_provider_get_refresh_token_fields (BursarProvider *self,
                                                              BursarCall      call);
gint64 bursar_provider_get_default_lifetime (BursarProvider *self); /* 0 */
gboolean bursar_provider_get_token_type_optional (BursarProvider *self);
const char * const *bursar_provider_get_reauth_errors (BursarProvider *self);
gboolean bursar_provider_get_refresh_supported (BursarProvider *self);

BursarRevocation bursar_provider_get_revocation (BursarProvider *self);
BursarBodyEncoding bursar_provider_get_revocation_encoding (BursarProvider *self);
gboolean bursar_provider_get_revocation_sends_hint (BursarProvider *self);

/* Authorization header scheme ("Bearer", "Zoho-oauthtoken"). */
const char *bursar_provider_get_header_scheme (BursarProvider *self);

/* --- keys reserved for the engine's next steps (see bursar-provider(5)) --- */

BursarAuthorizationMethod bursar_provider_get_authorization_method (BursarProvider *self);
BursarErrorShape bursar_provider_get_error_shapes (BursarProvider *self);
/* Callback parameters whose value (an https: URL of a known host) replaces
 * the scheme, host and port of the token and revocation endpoints. */
const char * const *bursar_provider_get_host_override_params (BursarProvider *self);
/* Token-answer member whose value becomes the account's API base; NULL. */
const char *bursar_provider_get_api_domain_field (BursarProvider *self);
/* "member" or "detail=member" strings: answer, callback or ID-token
 * members copied into the account's Details. */
const char * const *bursar_provider_get_details_fields (BursarProvider *self);
/* "Header-Name=template" strings; {name} stands for an account option or a
 * Details member, and a header whose placeholder has no value is left out. */
const char * const *bursar_provider_get_headers_from_options (BursarProvider *self);
/* Scope templates with {name} placeholders, added when the value exists. */
const char * const *bursar_provider_get_templated_scopes (BursarProvider *self);
/* The redirect URI must be pre-registered: the `redirect_uri` option is
 * required (default FALSE). */
gboolean bursar_provider_get_redirect_uri_required (BursarProvider *self);
/* Seconds before expiry at which a token counts as expired (default 60). */
gint64 bursar_provider_get_expiry_margin (BursarProvider *self);
/* At most @out_count refreshes per @out_window seconds; FALSE when the
 * file sets no limit. */
gboolean bursar_provider_get_refresh_limit (BursarProvider *self,
                                            guint          *out_count,
                                            guint          *out_window);

/* --- the search path ------------------------------------------------- */

#define BURSAR_TYPE_PROVIDER_REGISTRY (bursar_provider_registry_get_type ())
G_DECLARE_FINAL_TYPE (BursarProviderRegistry, bursar_provider_registry, BURSAR, PROVIDER_REGISTRY, GObject)

/* Reads every *.provider in @dirs (NULL-terminated, highest priority
 * first; the first file of an id wins). A malformed file is skipped with
 * one g_warning() naming the file and the key. */
BursarProviderRegistry *bursar_provider_registry_new (const char * const *dirs);
/* $XDG_CONFIG_HOME/bursar/providers, SYSCONFDIR/bursar/providers,
 * PKGDATADIR/providers; BURSAR_PROVIDERS_DIR (a colon-separated list) is
 * appended last so an uninstalled build finds its own files. */
char **bursar_provider_registry_default_dirs (void);

BursarProvider *bursar_provider_registry_lookup (BursarProviderRegistry *self,
                                                 const char             *id);
/* Sorted by id; (transfer container). */
GPtrArray *bursar_provider_registry_list (BursarProviderRegistry *self);

G_END_DECLS
