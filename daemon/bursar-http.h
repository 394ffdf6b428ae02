/* bursar-http.h: every HTTP request the daemon makes to an authorization
 * server — token, refresh and revocation calls, discovery documents and
 * userinfo. Knows nothing of D-Bus or accounts.
 *
 * Every call has a timeout and a cancellable; answers are read with a size
 * cap and parsed with a nesting cap; redirects are never followed (a 307
 * would re-send a secret); only https: URLs are used, or http: on loopback.
 * Failures come back in the BURSAR_ERROR domain, classified:
 *   BURSAR_ERROR_NEEDS_AUTHORIZATION  invalid_grant (or a re-auth error the
 *                                     request names)
 *   BURSAR_ERROR_PROVIDER             the server refused (invalid_client …,
 *                                     malformed or hostile answer)
 *   BURSAR_ERROR_NETWORK              transient, after bounded retries
 *   BURSAR_ERROR_INVALID_ARGUMENT     a URL that is not https/loopback
 *   BURSAR_ERROR_CANCELLED            the cancellable fired
 * Messages are translated sentences and never contain a secret.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "bursar-types.h"

G_BEGIN_DECLS

/* A request to a token endpoint (code exchange, refresh, client
 * credentials) or a revocation endpoint. Parameter values are treated as
 * secrets: copied in, wiped on free. */
typedef struct _BursarTokenRequest BursarTokenRequest;

BursarTokenRequest *bursar_token_request_new (const char *url);
void bursar_token_request_free (BursarTokenRequest *request);
void bursar_token_request_set_encoding (BursarTokenRequest *request,
                                        BursarBodyEncoding  encoding);
void bursar_token_request_set_client (BursarTokenRequest *request,
                                      BursarClientAuth    auth,
                                      const char         *client_id,
                                      const char         *client_secret);
void bursar_token_request_add_param (BursarTokenRequest *request,
                                     const char         *name,
                                     const char         *value);
void bursar_token_request_add_bool_param (BursarTokenRequest *request,
                                          const char         *name,
                                          gboolean            value);
/* NULL-terminated lists of JSON member names tried in order; NULL keeps
 * the defaults ("access_token" and "refresh_token"). */
void bursar_token_request_set_field_names (BursarTokenRequest *request,
                                           const char * const *access_token_fields,
                                           const char * const *refresh_token_fields);
/* Lifetime assumed when the answer has no expires_in; 0 = unknown. */
void bursar_token_request_set_default_lifetime (BursarTokenRequest *request,
                                                gint64              seconds);
/* Error codes that mean "the grant is gone, ask the user again";
 * NULL keeps the default { "invalid_grant" }. */
void bursar_token_request_set_reauth_errors (BursarTokenRequest *request,
                                             const char * const *errors);
/* Accept an answer with no token_type (taken as Bearer). Default FALSE. */
void bursar_token_request_set_token_type_optional (BursarTokenRequest *request,
                                                   gboolean            optional);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (BursarTokenRequest, bursar_token_request_free)

typedef struct
{
  char *access_token;  /* secret */
  char *refresh_token; /* secret; NULL when the answer had none */
  char *id_token;      /* secret; NULL when none */
  char *token_type;    /* as sent, or "Bearer" when optional and absent */
  char *scope;         /* as sent; NULL when absent */
  gint64 expires_in;   /* seconds; 0 unknown */
  gint64 expires_at;   /* g_get_real_time()-based unix seconds; 0 unknown */
  GHashTable *extras;  /* other scalar top-level members as strings,
                        * e.g. api_domain, corporate_account_id */
} BursarTokenResponse;

void bursar_token_response_free (BursarTokenResponse *response);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BursarTokenResponse, bursar_token_response_free)

#define BURSAR_TYPE_HTTP (bursar_http_get_type ())
G_DECLARE_FINAL_TYPE (BursarHttp, bursar_http, BURSAR, HTTP, GObject)

BursarHttp *bursar_http_new (void);

/* Retry policy for transient failures: at most @max_attempts tries, the
 * n-th retry after about @base_delay_ms * 2^(n-1) with jitter, the whole
 * call within @budget_ms. Defaults fit inside a 25 s D-Bus call. */
void bursar_http_set_retry_policy (BursarHttp *self,
                                   guint       max_attempts,
                                   guint       base_delay_ms,
                                   guint       budget_ms);

/* I/O timeout of one request, in seconds (default 20): a server that
 * stops sending for this long fails the attempt as a transient error. */
void bursar_http_set_timeout (BursarHttp *self,
                              guint       seconds);

/* https:, or http: to 127.0.0.0/8, [::1] or localhost. */
gboolean bursar_http_check_url (const char  *url,
                                GError     **error);
gboolean bursar_http_url_is_loopback (const char *url);

void bursar_http_token_async (BursarHttp          *self,
                              BursarTokenRequest  *request,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data);
BursarTokenResponse *bursar_http_token_finish (BursarHttp    *self,
                                               GAsyncResult  *result,
                                               GError       **error);

/* POSTs @request (a revocation: its params carry the token); success is
 * any 2xx. */
void bursar_http_revoke_async (BursarHttp          *self,
                               BursarTokenRequest  *request,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data);
gboolean bursar_http_revoke_finish (BursarHttp    *self,
                                    GAsyncResult  *result,
                                    GError       **error);

/* GETs a JSON object (discovery document, userinfo); @bearer_token may be
 * NULL. */
void bursar_http_get_json_async (BursarHttp          *self,
                                 const char          *url,
                                 const char          *bearer_token,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data);
JsonObject *bursar_http_get_json_finish (BursarHttp    *self,
                                         GAsyncResult  *result,
                                         GError       **error);

/* POSTs @request and finishes with the (checked) URL of the answer's
 * Location header, without following it. */
void bursar_http_authorize_location_async (BursarHttp          *self,
                                           BursarTokenRequest  *request,
                                           GCancellable        *cancellable,
                                           GAsyncReadyCallback  callback,
                                           gpointer             user_data);
char *bursar_http_authorize_location_finish (BursarHttp    *self,
                                             GAsyncResult  *result,
                                             GError       **error);

char *bursar_http_rebase_url (const char *url,
                              const char *origin);
char *bursar_http_check_server_origin (const char         *url,
                                       const char * const *known_hosts,
                                       gboolean            allow_loopback);

G_END_DECLS
