/* bursar-auth-flow.c
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "bursar-auth-flow.h"
#include "bursar-error.h"
#include "bursar-jwt.h"
#include "bursar-pkce.h"
#include "bursar-redirect-listener.h"
#include "bursar-secret.h"

struct _BursarAuthFlow
{
  GObject parent_instance;

  BursarHttp *http;                   /* (owned) */
  BursarProvider *provider;           /* (owned) */
  BursarRedirectListener *listener;   /* (owned) */
  char *token_endpoint;               /* (owned) */
  char *issuer;                       /* (owned) (nullable) */
  gboolean issuer_required;
  char *client_id;                    /* (owned) */
  char *client_secret;                /* (owned) (nullable) secret */
  char *state;                        /* (owned) secret */
  char *nonce;                        /* (owned) (nullable) secret */
  char *verifier;                     /* (owned) (nullable) secret */
  char *url;                          /* (owned) (nullable) until started */
  char *authorization_endpoint;       /* (owned) */
  char *scope;                        /* (owned) (nullable) */
  gboolean signup;
  gboolean allow_loopback_hosts;
  char *host_override;                /* (owned) (nullable) an origin */

  GTask *task;                        /* (owned) (nullable) the run */
  GCancellable *wait_cancellable;     /* (owned) */
  GHashTable *params;                 /* (owned) (nullable) the callback */
  gboolean have_callback;
};

G_DEFINE_TYPE (BursarAuthFlow, bursar_auth_flow, G_TYPE_OBJECT)

static void
bursar_auth_flow_dispose (GObject *object)
{
  BursarAuthFlow *self = BURSAR_AUTH_FLOW (object);

  g_cancellable_cancel (self->wait_cancellable);
  if (self->listener != NULL)
    bursar_redirect_listener_close (self->listener);
  g_clear_object (&self->listener);
  g_clear_object (&self->http);
  g_clear_object (&self->provider);
  g_clear_object (&self->task);

  G_OBJECT_CLASS (bursar_auth_flow_parent_class)->dispose (object);
}

static void
bursar_auth_flow_finalize (GObject *object)
{
  BursarAuthFlow *self = BURSAR_AUTH_FLOW (object);

  g_free (self->token_endpoint);
  g_free (self->issuer);
  g_free (self->client_id);
  bursar_secret_free (self->client_secret);
  bursar_secret_free (self->state);
  bursar_secret_free (self->nonce);
  bursar_secret_free (self->verifier);
  g_free (self->url);
  g_free (self->authorization_endpoint);
  g_free (self->scope);
  g_free (self->host_override);
  g_clear_object (&self->wait_cancellable);
  g_clear_pointer (&self->params, g_hash_table_unref);

  G_OBJECT_CLASS (bursar_auth_flow_parent_class)->finalize (object);
}

static void
bursar_auth_flow_class_init (BursarAuthFlowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = bursar_auth_flow_dispose;
  object_class->finalize = bursar_auth_flow_finalize;
}

static void
bursar_auth_flow_init (BursarAuthFlow *self)
{
  self->wait_cancellable = g_cancellable_new ();
}

static void
query_add (GString    *query,
           const char *name,
           const char *value)
{
  if (query->len > 0)
    g_string_append_c (query, '&');
  g_string_append_uri_escaped (query, name, NULL, FALSE);
  g_string_append_c (query, '=');
  g_string_append_uri_escaped (query, value, NULL, FALSE);
}

static gboolean
strv_has (const char * const *strv,
          const char         *value)
{
  return strv != NULL && g_strv_contains (strv, value);
}

static char *
build_url (BursarAuthFlow             *self,
           const BursarAuthFlowConfig *config,
           GError                    **error)
{
  g_autoptr(GUri) endpoint = NULL;
  g_autoptr(GUri) uri = NULL;
  g_autoptr(GString) query = g_string_new (NULL);
  g_autofree char *scope = NULL;
  const char * const *extra = bursar_provider_get_authorize_params (config->provider);
  gboolean openid = strv_has (config->scopes, "openid");

  endpoint = g_uri_parse (config->authorization_endpoint, G_URI_FLAGS_ENCODED, error);
  if (endpoint == NULL)
    return NULL;

  /* Keep a query the endpoint already has (some servers put a tenant in
   * it) and add ours after it. */
  if (g_uri_get_query (endpoint) != NULL)
    g_string_append (query, g_uri_get_query (endpoint));

  query_add (query, "response_type", "code");
  query_add (query, "client_id", config->client_id);
  query_add (query, "redirect_uri", bursar_redirect_listener_get_redirect_uri (self->listener));
  if (config->scopes != NULL && config->scopes[0] != NULL)
    {
      scope = g_strjoinv (bursar_provider_get_scope_separator (config->provider),
                          (char **) config->scopes);
      query_add (query, "scope", scope);
    }
  query_add (query, "state", self->state);
  if (self->verifier != NULL)
    {
      g_autofree char *challenge = bursar_pkce_challenge_s256 (self->verifier);

      query_add (query, "code_challenge", challenge);
      query_add (query, "code_challenge_method", "S256");
    }
  if (self->nonce != NULL)
    query_add (query, "nonce", self->nonce);

  /* OIDC Core §11: offline_access is ignored without prompt=consent. */
  if (openid && strv_has (config->scopes, "offline_access"))
    {
      gboolean has_prompt = FALSE;

      for (guint i = 0; extra != NULL && extra[i] != NULL; i++)
        has_prompt |= g_str_has_prefix (extra[i], "prompt=");
      if (!has_prompt)
        query_add (query, "prompt", "consent");
    }

  for (guint i = 0; extra != NULL && extra[i] != NULL; i++)
    {
      g_auto(GStrv) pair = g_strsplit (extra[i], "=", 2);

      if (pair[0] != NULL && pair[1] != NULL)
        query_add (query, pair[0], pair[1]);
    }

  uri = g_uri_build (G_URI_FLAGS_ENCODED,
                     g_uri_get_scheme (endpoint), g_uri_get_userinfo (endpoint),
                     g_uri_get_host (endpoint), g_uri_get_port (endpoint),
                     g_uri_get_path (endpoint), query->str, NULL);
  return g_uri_to_string (uri);
}

BursarAuthFlow *
bursar_auth_flow_new (BursarHttp                 *http,
                      const BursarAuthFlowConfig *config,
                      GError                    **error)
{
  g_autoptr(BursarAuthFlow) self = g_object_new (BURSAR_TYPE_AUTH_FLOW, NULL);

  g_return_val_if_fail (config->authorization_endpoint != NULL, NULL);
  g_return_val_if_fail (config->token_endpoint != NULL, NULL);
  g_return_val_if_fail (config->client_id != NULL, NULL);

  if (!bursar_http_check_url (config->authorization_endpoint, error) ||
      !bursar_http_check_url (config->token_endpoint, error))
    return NULL;

  self->http = g_object_ref (http);
  self->provider = g_object_ref (config->provider);
  self->token_endpoint = g_strdup (config->token_endpoint);
  self->issuer = g_strdup (config->issuer);
  self->issuer_required = config->issuer_required;
  self->client_id = g_strdup (config->client_id);
  self->client_secret = g_strdup (config->client_secret);
  self->authorization_endpoint = g_strdup (config->authorization_endpoint);
  self->signup = config->signup;
  self->allow_loopback_hosts = config->allow_loopback_hosts;
  if (config->scopes != NULL && config->scopes[0] != NULL)
    self->scope = g_strjoinv (bursar_provider_get_scope_separator (config->provider),
                              (char **) config->scopes);

  /* 256 bits each (RFC 9700 §4.7 asks for at least 128). */
  self->state = bursar_random_string (32, error);
  if (self->state == NULL)
    return NULL;
  if (bursar_provider_get_pkce (config->provider))
    {
      self->verifier = bursar_pkce_verifier_new (error);
      if (self->verifier == NULL)
        return NULL;
    }
  if (strv_has (config->scopes, "openid"))
    {
      self->nonce = bursar_random_string (32, error);
      if (self->nonce == NULL)
        return NULL;
    }

  self->listener = bursar_redirect_listener_new (config->redirect_uri, error);
  if (self->listener == NULL)
    return NULL;

  if (bursar_provider_get_authorization_method (config->provider) == BURSAR_AUTHORIZATION_GET)
    {
      self->url = build_url (self, config, error);
      if (self->url == NULL)
        return NULL;
    }

  return g_steal_pointer (&self);
}

const char *
bursar_auth_flow_get_url (BursarAuthFlow *self)
{
  return self->url;
}

const char *
bursar_auth_flow_get_host_override (BursarAuthFlow *self)
{
  return self->host_override;
}

static void
location_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  BursarAuthFlow *self = g_task_get_source_object (task);
  g_autoptr(GError) error = NULL;
  g_autofree char *url = NULL;

  url = bursar_http_authorize_location_finish (BURSAR_HTTP (source), result, &error);
  if (url == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  g_free (self->url);
  self->url = g_strdup (url);
  g_task_return_pointer (task, g_steal_pointer (&url), g_free);
}

void
bursar_auth_flow_start_async (BursarAuthFlow      *self,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr(BursarTokenRequest) request = NULL;

  g_task_set_source_tag (task, bursar_auth_flow_start_async);

  if (self->url != NULL)
    {
      g_task_return_pointer (task, g_strdup (self->url), g_free);
      return;
    }

  /* AuthorizationMethod=post-json: the parameters, client secret
   * included, go in a JSON body; the answer's Location is the login page. */
  request = bursar_token_request_new (self->authorization_endpoint);
  bursar_token_request_set_encoding (request, BURSAR_BODY_JSON);
  bursar_token_request_set_client (request,
                                   self->client_secret != NULL ? BURSAR_CLIENT_AUTH_POST
                                                               : BURSAR_CLIENT_AUTH_NONE,
                                   self->client_id, self->client_secret);
  bursar_token_request_add_param (request, "response_type", "code");
  bursar_token_request_add_param (request, "redirect_uri",
                                  bursar_redirect_listener_get_redirect_uri (self->listener));
  if (self->scope != NULL)
    bursar_token_request_add_param (request, "scope", self->scope);
  bursar_token_request_add_param (request, "state", self->state);
  if (self->verifier != NULL)
    {
      g_autofree char *challenge = bursar_pkce_challenge_s256 (self->verifier);

      bursar_token_request_add_param (request, "code_challenge", challenge);
      bursar_token_request_add_param (request, "code_challenge_method", "S256");
    }
  bursar_token_request_add_bool_param (request, "isSignup", self->signup);

  bursar_http_authorize_location_async (self->http, request, cancellable, location_cb,
                                        g_steal_pointer (&task));
}

char *
bursar_auth_flow_start_finish (BursarAuthFlow  *self,
                               GAsyncResult    *result,
                               GError         **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
exchange_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(BursarAuthFlow) self = BURSAR_AUTH_FLOW (user_data);
  g_autoptr(GTask) task = g_steal_pointer (&self->task);
  g_autoptr(GError) error = NULL;
  g_autoptr(BursarTokenResponse) response = NULL;

  response = bursar_http_token_finish (BURSAR_HTTP (source), result, &error);
  if (response == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  /* OIDC Core §3.1.3.7: the ID token comes straight from the token
   * endpoint over TLS, so its claims are checked, not its signature. */
  if (self->issuer != NULL && response->id_token != NULL)
    {
      g_autoptr(JsonObject) claims = bursar_jwt_decode_payload (response->id_token, &error);

      if (claims == NULL ||
          !bursar_id_token_check (claims, self->issuer, self->client_id, self->nonce,
                                  g_get_real_time () / G_USEC_PER_SEC, &error))
        {
          g_task_return_error (task, g_steal_pointer (&error));
          return;
        }
    }

  g_task_return_pointer (task, g_steal_pointer (&response),
                         (GDestroyNotify) bursar_token_response_free);
}

static void
handle_callback (BursarAuthFlow *self)
{
  g_autoptr(BursarTokenRequest) request = NULL;
  const char *code;
  const char *error_code;
  const char *description;
  BursarClientAuth auth;

  code = g_hash_table_lookup (self->params, "code");
  error_code = g_hash_table_lookup (self->params, "error");
  description = g_hash_table_lookup (self->params, "error_description");

  if (code == NULL || error_code != NULL)
    {
      g_autoptr(GTask) task = g_steal_pointer (&self->task);
      g_autofree char *shown = NULL;

      /* Some servers (Invoiced) send only error_description on a denial. */
      if (description != NULL)
        shown = g_utf8_make_valid (description, MIN (strlen (description), 200));
      if (g_strcmp0 (error_code, "access_denied") == 0 || (error_code == NULL && code == NULL))
        g_task_return_new_error (task, BURSAR_ERROR, BURSAR_ERROR_NEEDS_AUTHORIZATION,
                                 _("The authorization was denied at the provider%s%s."),
                                 shown != NULL ? ": " : "", shown != NULL ? shown : "");
      else
        g_task_return_new_error (task, BURSAR_ERROR, BURSAR_ERROR_PROVIDER,
                                 _("The provider refused the authorization (%s)%s%s."),
                                 error_code, shown != NULL ? ": " : "",
                                 shown != NULL ? shown : "");
      return;
    }

  /* A server-directed host (Zoho's accounts-server): only a known host
   * over https, or loopback for a base_url account, is believed. */
  {
    const char * const *override_params = bursar_provider_get_host_override_params (self->provider);

    for (guint i = 0; override_params != NULL && override_params[i] != NULL; i++)
      {
        const char *value = g_hash_table_lookup (self->params, override_params[i]);
        g_autofree char *origin = NULL;

        if (value == NULL)
          continue;
        origin = bursar_http_check_server_origin (value,
                                                  bursar_provider_get_known_hosts (self->provider),
                                                  self->allow_loopback_hosts);
        if (origin == NULL)
          {
            g_autoptr(GTask) task = g_steal_pointer (&self->task);

            g_task_return_new_error (task, BURSAR_ERROR, BURSAR_ERROR_PROVIDER,
                                     _("The provider named a server that is not one of its own (%s)."),
                                     override_params[i]);
            return;
          }
        g_free (self->host_override);
        self->host_override = g_steal_pointer (&origin);
      }
  }

  if (self->host_override != NULL)
    {
      g_autofree char *moved = bursar_http_rebase_url (self->token_endpoint, self->host_override);

      request = bursar_token_request_new (moved != NULL ? moved : self->token_endpoint);
    }
  else
    request = bursar_token_request_new (self->token_endpoint);
  bursar_token_request_set_encoding (request, bursar_provider_get_token_encoding (self->provider));
  auth = bursar_provider_get_client_auth (self->provider, BURSAR_CALL_EXCHANGE);
  if (self->client_secret == NULL &&
      (auth == BURSAR_CLIENT_AUTH_POST || auth == BURSAR_CLIENT_AUTH_BASIC))
    auth = BURSAR_CLIENT_AUTH_NONE;
  bursar_token_request_set_client (request, auth, self->client_id, self->client_secret);
  bursar_token_request_add_param (request, "grant_type", "authorization_code");
  bursar_token_request_add_param (request, bursar_provider_get_code_param (self->provider), code);
  if (bursar_provider_get_exchange_sends_redirect_uri (self->provider))
    bursar_token_request_add_param (request, "redirect_uri",
                                    bursar_redirect_listener_get_redirect_uri (self->listener));
  if (bursar_provider_get_exchange_sends_state (self->provider))
    bursar_token_request_add_param (request, "state", self->state);
  if (self->verifier != NULL)
    bursar_token_request_add_param (request, "code_verifier", self->verifier);
  bursar_token_request_set_field_names (request,
                                        bursar_provider_get_access_token_fields (self->provider, BURSAR_CALL_EXCHANGE),
                                        bursar_provider_get_refresh_token_fields (self->provider, BURSAR_CALL_EXCHANGE));
  bursar_token_request_set_default_lifetime (request, bursar_provider_get_default_lifetime (self->provider));
  bursar_token_request_set_reauth_errors (request, bursar_provider_get_reauth_errors (self->provider));
  bursar_token_request_set_token_type_optional (request, bursar_provider_get_token_type_optional (self->provider));

  g_debug ("Exchanging the authorization code at %s", self->token_endpoint);
  bursar_http_token_async (self->http, request, g_task_get_cancellable (self->task),
                           exchange_cb, g_object_ref (self));
}

static void
wait_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(BursarAuthFlow) self = BURSAR_AUTH_FLOW (user_data);
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) params = NULL;

  params = bursar_redirect_listener_wait_finish (BURSAR_REDIRECT_LISTENER (source), result, &error);

  /* A hand-completed flow cancels the wait; its result is already in. */
  if (self->have_callback || self->task == NULL)
    return;

  if (params == NULL)
    {
      g_autoptr(GTask) task = g_steal_pointer (&self->task);

      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
        g_task_return_new_error (task, BURSAR_ERROR, BURSAR_ERROR_NEEDS_AUTHORIZATION,
                                 _("The authorization timed out before the browser came back."));
      else
        {
          bursar_error_convert (&error);
          g_task_return_error (task, g_steal_pointer (&error));
        }
      return;
    }

  self->have_callback = TRUE;
  self->params = g_steal_pointer (&params);
  handle_callback (self);
}

void
bursar_auth_flow_run_async (BursarAuthFlow      *self,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  g_return_if_fail (self->task == NULL);

  self->task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (self->task, bursar_auth_flow_run_async);

  if (cancellable != NULL)
    g_signal_connect_object (cancellable, "cancelled",
                             G_CALLBACK (g_cancellable_cancel), self->wait_cancellable,
                             G_CONNECT_SWAPPED);

  bursar_redirect_listener_wait_async (self->listener, self->state, self->issuer,
                                       self->issuer_required, BURSAR_AUTH_FLOW_TIMEOUT,
                                       self->wait_cancellable, wait_cb, g_object_ref (self));
}

BursarTokenResponse *
bursar_auth_flow_run_finish (BursarAuthFlow  *self,
                             GAsyncResult    *result,
                             GHashTable     **out_params,
                             GError         **error)
{
  BursarTokenResponse *response;

  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  response = g_task_propagate_pointer (G_TASK (result), error);
  if (response != NULL && out_params != NULL && self->params != NULL)
    *out_params = g_hash_table_ref (self->params);
  return response;
}

gboolean
bursar_auth_flow_complete (BursarAuthFlow  *self,
                           const char      *redirect_url,
                           GError         **error)
{
  g_autoptr(GHashTable) params = NULL;

  if (self->task == NULL || self->have_callback)
    {
      g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                           _("This authorization has already been completed."));
      return FALSE;
    }

  params = bursar_callback_parse_url (redirect_url, error);
  if (params == NULL)
    return FALSE;
  if (!bursar_callback_check (params, self->state, self->issuer, self->issuer_required, error))
    return FALSE;

  self->have_callback = TRUE;
  self->params = g_steal_pointer (&params);
  g_cancellable_cancel (self->wait_cancellable);
  handle_callback (self);
  return TRUE;
}

void
bursar_auth_flow_respond (BursarAuthFlow *self,
                          gboolean        success,
                          const char     *message)
{
  if (self->listener != NULL)
    bursar_redirect_listener_respond (self->listener, success, message);
}
