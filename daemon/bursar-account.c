/* bursar-account.c
 *
 * The token engine. All requests for a token go through one queue per
 * account: while the secrets are being read from the keyring, or a token
 * request is in flight, callers wait in the queue and all of them get the
 * one result. A new refresh token is written to the keyring before any
 * waiter sees the new access token (RFC 9700 §4.14.2: losing a rotated
 * refresh token loses the grant).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "bursar-account.h"
#include "bursar-auth-flow.h"
#include "bursar-browser.h"
#include "bursar-error.h"
#include "bursar-json.h"
#include "bursar-jwt.h"
#include "bursar-secret.h"

/* Back-off for a keyring write that failed after a successful refresh. */
#define STORE_RETRY_MIN_SECONDS 2
#define STORE_RETRY_MAX_SECONDS 300

struct _BursarAccount
{
  GObject parent_instance;

  char *id;                           /* (owned) */
  BursarProvider *provider;           /* (owned) */
  BursarHttp *http;                   /* (owned) */
  BursarSecretStore *secret_store;    /* (owned) */
  BursarAccountStore *account_store;  /* (owned) */
  gboolean store_bound;               /* the store writes our group from us */
  BursarAccountConfig config;

  BursarAccountState state;
  gboolean attention_needed;
  char *identity;                     /* (owned) (nullable) */
  char *last_error;                   /* (owned) (nullable) */
  char *api_base_url;                 /* (owned) (nullable) */
  char *subject;                      /* (owned) (nullable) ID token sub */
  GVariant *details;                  /* (owned) a{sv} */

  BursarSecrets *secrets;             /* (owned) (nullable) until loaded */
  gboolean secrets_loaded;

  GQueue waiters;                     /* (element-type GTask) (owned) */
  gboolean busy;                      /* a lookup or token request runs */
  gint64 last_forced_refresh;         /* monotonic µs, 0 never */
  gboolean refresh_due;               /* the last token request failed for
                                       * want of network */
  GCancellable *cancellable;          /* (owned) cancelled on dispose */
  BursarAccountWatchFunc watch;       /* (nullable) */
  gpointer watch_data;

  guint store_retry_id;
  guint store_retry_seconds;

  BursarAuthFlow *flow;               /* (owned) (nullable) */
  BursarAccountState state_before_flow;
  GPtrArray *complete_tasks;          /* (element-type GTask) (owned) (nullable)
                                       * until a CompleteAuthorization call */
};

enum
{
  PROP_0,
  PROP_ID,
  PROP_PROVIDER,
  PROP_PROVIDER_NAME,
  PROP_LABEL,
  PROP_IDENTITY,
  PROP_ENVIRONMENT,
  PROP_FLOW,
  PROP_SCOPES,
  PROP_STATE,
  PROP_ATTENTION_NEEDED,
  PROP_LAST_ERROR,
  PROP_EXPIRES_AT,
  PROP_API_BASE_URL,
  PROP_DETAILS,
  PROP_ALLOWED_APPS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_TYPE (BursarAccount, bursar_account, G_TYPE_OBJECT)

typedef struct
{
  guint min_valid;
  gboolean force;
  gboolean load_only; /* wants the secrets loaded, not a token */
} WaiterData;

void
bursar_token_info_free (BursarTokenInfo *info)
{
  if (info == NULL)
    return;
  bursar_secret_free (info->access_token);
  g_free (info->token_type);
  g_strfreev (info->scopes);
  g_free (info);
}

static void
config_clear (BursarAccountConfig *config)
{
  g_clear_pointer (&config->label, g_free);
  g_clear_pointer (&config->environment, g_free);
  g_clear_pointer (&config->flow, g_free);
  g_clear_pointer (&config->scopes, g_strfreev);
  g_clear_pointer (&config->client_id, g_free);
  g_clear_pointer (&config->issuer, g_free);
  g_clear_pointer (&config->authorization_endpoint, g_free);
  g_clear_pointer (&config->token_endpoint, g_free);
  g_clear_pointer (&config->revocation_endpoint, g_free);
  g_clear_pointer (&config->userinfo_endpoint, g_free);
  g_clear_pointer (&config->redirect_uri, g_free);
  g_clear_pointer (&config->base_url, g_free);
  g_clear_pointer (&config->target_org_id, g_free);
  g_clear_pointer (&config->host_override, g_free);
  g_clear_pointer (&config->allowed_apps, g_strfreev);
}

static void
bursar_account_dispose (GObject *object)
{
  BursarAccount *self = BURSAR_ACCOUNT (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->store_retry_id, g_source_remove);
  g_clear_object (&self->flow);

  G_OBJECT_CLASS (bursar_account_parent_class)->dispose (object);
}

static void
bursar_account_finalize (GObject *object)
{
  BursarAccount *self = BURSAR_ACCOUNT (object);

  g_assert (g_queue_is_empty (&self->waiters));

  /* The store keeps what it would have asked us for. */
  if (self->store_bound)
    bursar_account_store_unbind (self->account_store, self->id, self);
  g_free (self->id);
  g_clear_object (&self->provider);
  g_clear_object (&self->http);
  g_clear_object (&self->secret_store);
  g_clear_object (&self->account_store);
  config_clear (&self->config);
  g_free (self->identity);
  g_free (self->last_error);
  g_free (self->api_base_url);
  g_free (self->subject);
  g_clear_pointer (&self->details, g_variant_unref);
  g_clear_pointer (&self->secrets, bursar_secrets_free);
  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->complete_tasks, g_ptr_array_unref);

  G_OBJECT_CLASS (bursar_account_parent_class)->finalize (object);
}

static void
bursar_account_get_property (GObject    *object,
                             guint       prop_id,
                             GValue     *value,
                             GParamSpec *pspec)
{
  BursarAccount *self = BURSAR_ACCOUNT (object);

  switch (prop_id)
    {
    case PROP_ID:
      g_value_set_string (value, self->id);
      break;
    case PROP_PROVIDER:
      g_value_set_string (value, bursar_provider_get_id (self->provider));
      break;
    case PROP_PROVIDER_NAME:
      g_value_set_string (value, bursar_provider_get_name (self->provider));
      break;
    case PROP_LABEL:
      g_value_set_string (value, self->config.label != NULL ? self->config.label : "");
      break;
    case PROP_IDENTITY:
      g_value_set_string (value, self->identity != NULL ? self->identity : "");
      break;
    case PROP_ENVIRONMENT:
      g_value_set_string (value, self->config.environment != NULL ? self->config.environment : "");
      break;
    case PROP_FLOW:
      g_value_set_string (value, self->config.flow);
      break;
    case PROP_SCOPES:
      g_value_set_boxed (value, self->config.scopes);
      break;
    case PROP_STATE:
      g_value_set_string (value, bursar_account_state_to_string (self->state));
      break;
    case PROP_ATTENTION_NEEDED:
      g_value_set_boolean (value, self->attention_needed);
      break;
    case PROP_LAST_ERROR:
      g_value_set_string (value, self->last_error != NULL ? self->last_error : "");
      break;
    case PROP_EXPIRES_AT:
      g_value_set_int64 (value, self->secrets != NULL ? self->secrets->expires_at : 0);
      break;
    case PROP_API_BASE_URL:
      {
        const char *api = bursar_account_get_endpoint (self, BURSAR_ENDPOINT_API_BASE);

        g_value_set_string (value, api != NULL ? api : "");
      }
      break;
    case PROP_DETAILS:
      g_value_set_variant (value, self->details);
      break;
    case PROP_ALLOWED_APPS:
      g_value_set_boxed (value, self->config.allowed_apps);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

/* Property changes reach the watcher right after the "notify" signal
 * (which nothing in bursard connects to). */
static void
bursar_account_dispatch_properties_changed (GObject     *object,
                                            guint        n_pspecs,
                                            GParamSpec **pspecs)
{
  BursarAccount *self = BURSAR_ACCOUNT (object);

  G_OBJECT_CLASS (bursar_account_parent_class)->dispatch_properties_changed (object, n_pspecs, pspecs);
  for (guint i = 0; i < n_pspecs && self->watch != NULL; i++)
    self->watch (self, pspecs[i], self->watch_data);
}

static void
bursar_account_class_init (BursarAccountClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GParamFlags flags = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;

  object_class->dispose = bursar_account_dispose;
  object_class->finalize = bursar_account_finalize;
  object_class->get_property = bursar_account_get_property;
  object_class->dispatch_properties_changed = bursar_account_dispatch_properties_changed;

  /* Names match the properties of the generated D-Bus skeleton, so the
   * daemon binds them one to one. None of them is a secret. */
  properties[PROP_ID] = g_param_spec_string ("id", NULL, NULL, NULL, flags);
  properties[PROP_PROVIDER] = g_param_spec_string ("provider", NULL, NULL, NULL, flags);
  properties[PROP_PROVIDER_NAME] = g_param_spec_string ("provider-name", NULL, NULL, NULL, flags);
  properties[PROP_LABEL] = g_param_spec_string ("label", NULL, NULL, NULL, flags);
  properties[PROP_IDENTITY] = g_param_spec_string ("identity", NULL, NULL, NULL, flags);
  properties[PROP_ENVIRONMENT] = g_param_spec_string ("environment", NULL, NULL, NULL, flags);
  properties[PROP_FLOW] = g_param_spec_string ("flow", NULL, NULL, NULL, flags);
  properties[PROP_SCOPES] = g_param_spec_boxed ("scopes", NULL, NULL, G_TYPE_STRV, flags);
  properties[PROP_STATE] = g_param_spec_string ("state", NULL, NULL, NULL, flags);
  properties[PROP_ATTENTION_NEEDED] = g_param_spec_boolean ("attention-needed", NULL, NULL, FALSE, flags);
  properties[PROP_LAST_ERROR] = g_param_spec_string ("last-error", NULL, NULL, NULL, flags);
  properties[PROP_EXPIRES_AT] = g_param_spec_int64 ("expires-at", NULL, NULL, 0, G_MAXINT64, 0, flags);
  properties[PROP_API_BASE_URL] = g_param_spec_string ("api-base-url", NULL, NULL, NULL, flags);
  properties[PROP_DETAILS] = g_param_spec_variant ("details", NULL, NULL, G_VARIANT_TYPE_VARDICT, NULL, flags);
  properties[PROP_ALLOWED_APPS] = g_param_spec_boxed ("allowed-apps", NULL, NULL, G_TYPE_STRV, flags);

  g_object_class_install_properties (object_class, N_PROPS, properties);

}

static void
bursar_account_init (BursarAccount *self)
{
  g_queue_init (&self->waiters);
  self->cancellable = g_cancellable_new ();
  self->details = g_variant_ref_sink (g_variant_new ("a{sv}", NULL));
  self->state = BURSAR_ACCOUNT_STATE_NEEDS_AUTHORIZATION;
}

BursarAccount *
bursar_account_new (const char         *id,
                    BursarProvider     *provider,
                    BursarHttp         *http,
                    BursarSecretStore  *secret_store,
                    BursarAccountStore *account_store)
{
  BursarAccount *self = g_object_new (BURSAR_TYPE_ACCOUNT, NULL);

  self->id = g_strdup (id);
  self->provider = g_object_ref (provider);
  self->http = g_object_ref (http);
  self->secret_store = g_object_ref (secret_store);
  self->account_store = g_object_ref (account_store);
  return self;
}

const char *
bursar_account_get_id (BursarAccount *self)
{
  return self->id;
}

BursarProvider *
bursar_account_get_provider (BursarAccount *self)
{
  return self->provider;
}

BursarAccountConfig *
bursar_account_get_config (BursarAccount *self)
{
  return &self->config;
}

BursarAccountState
bursar_account_get_state (BursarAccount *self)
{
  return self->state;
}

/* --- property updates ------------------------------------------------- */

static void
set_string (BursarAccount  *self,
            char          **field,
            const char     *value,
            guint           prop)
{
  if (g_strcmp0 (*field, value) == 0)
    return;
  g_free (*field);
  *field = g_strdup (value);
  g_object_notify_by_pspec (G_OBJECT (self), properties[prop]);
}

void
bursar_account_set_watch (BursarAccount          *self,
                          BursarAccountWatchFunc  func,
                          gpointer                user_data)
{
  self->watch = func;
  self->watch_data = user_data;
}

/* What bursar_account_peek_token() would answer may have changed: a token
 * request or keyring read is starting or queued, or the state moved.
 * Holders of a copy of an earlier answer drop it. */
static void
token_cache_changed (BursarAccount *self)
{
  if (self->watch != NULL)
    self->watch (self, NULL, self->watch_data);
}

static void
set_state (BursarAccount      *self,
           BursarAccountState  state)
{
  gboolean attention = state == BURSAR_ACCOUNT_STATE_NEEDS_REAUTHORIZATION;

  if (self->state != state)
    {
      token_cache_changed (self);
      g_debug ("Account %s: %s → %s", self->id,
               bursar_account_state_to_string (self->state),
               bursar_account_state_to_string (state));
      self->state = state;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
    }
  if (self->attention_needed != attention)
    {
      self->attention_needed = attention;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ATTENTION_NEEDED]);
    }
}

static void
set_last_error (BursarAccount *self,
                const GError  *error)
{
  set_string (self, &self->last_error, error != NULL ? error->message : NULL, PROP_LAST_ERROR);
}

/* Takes @details (a{sv}) as the account's Details. A GVariant that was
 * built or parsed is a tree of one instance per value, some 450 bytes for
 * one claim; serialised it is a single block, and it is kept for the
 * account's lifetime (figure 4 of issue 5). */
static void
take_details (BursarAccount *self,
              GVariant      *details)
{
  g_variant_get_data (details); /* serialises it in place */
  g_clear_pointer (&self->details, g_variant_unref);
  self->details = details;
}

static void
set_detail (BursarAccount *self,
            const char    *key,
            GVariant      *value)
{
  g_auto(GVariantDict) dict;
  g_autoptr(GVariant) sink = g_variant_ref_sink (value);
  g_autoptr(GVariant) old = NULL;

  g_variant_dict_init (&dict, self->details);
  g_variant_dict_insert_value (&dict, key, sink);
  old = g_variant_ref (self->details);
  take_details (self, g_variant_ref_sink (g_variant_dict_end (&dict)));
  if (!g_variant_equal (old, self->details))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DETAILS]);
}

/* --- accounts.conf --------------------------------------------------- */

static void
kf_set (GKeyFile   *kf,
        const char *group,
        const char *key,
        const char *value)
{
  if (value != NULL && *value != '\0')
    g_key_file_set_string (kf, group, key, value);
  else
    g_key_file_remove_key (kf, group, key, NULL);
}

/* BursarAccountStoreWriteFunc: the account's group of accounts.conf. */
static void
write_group (gpointer    owner,
             GKeyFile   *kf,
             const char *group)
{
  BursarAccount *self = owner;
  g_autofree char *details = g_variant_print (self->details, TRUE);
  BursarAccountConfig *c = &self->config;

  kf_set (kf, group, "Provider", bursar_provider_get_id (self->provider));
  kf_set (kf, group, "Label", c->label);
  kf_set (kf, group, "Environment", c->environment);
  kf_set (kf, group, "Flow", c->flow);
  if (c->scopes != NULL)
    g_key_file_set_string_list (kf, group, "Scopes", (const char * const *) c->scopes,
                                g_strv_length (c->scopes));
  kf_set (kf, group, "ClientId", c->client_id);
  g_key_file_set_boolean (kf, group, "HasClientSecret", c->has_client_secret);
  kf_set (kf, group, "Issuer", c->issuer);
  g_key_file_set_boolean (kf, group, "IssuerRequired", c->issuer_required);
  kf_set (kf, group, "AuthorizationEndpoint", c->authorization_endpoint);
  kf_set (kf, group, "TokenEndpoint", c->token_endpoint);
  kf_set (kf, group, "RevocationEndpoint", c->revocation_endpoint);
  kf_set (kf, group, "UserinfoEndpoint", c->userinfo_endpoint);
  kf_set (kf, group, "RedirectUri", c->redirect_uri);
  kf_set (kf, group, "BaseUrl", c->base_url);
  kf_set (kf, group, "TargetOrgId", c->target_org_id);
  kf_set (kf, group, "HostOverride", c->host_override);
  if (c->allowed_apps != NULL && c->allowed_apps[0] != NULL)
    g_key_file_set_string_list (kf, group, "AllowedApps", (const char * const *) c->allowed_apps,
                                g_strv_length (c->allowed_apps));
  else
    g_key_file_remove_key (kf, group, "AllowedApps", NULL);
  g_key_file_set_boolean (kf, group, "Signup", c->signup);
  /* "authorizing" is not kept: after a restart that flow is gone. */
  kf_set (kf, group, "State",
          bursar_account_state_to_string (self->state == BURSAR_ACCOUNT_STATE_AUTHORIZING
                                          ? self->state_before_flow : self->state));
  kf_set (kf, group, "Identity", self->identity);
  kf_set (kf, group, "LastError", self->last_error);
  kf_set (kf, group, "ApiBaseUrl", self->api_base_url);
  kf_set (kf, group, "Subject", self->subject);
  kf_set (kf, group, "Details", details);
}

void
bursar_account_save (BursarAccount *self)
{
  g_autoptr(GKeyFile) kf = NULL;
  g_autofree char *group = NULL;

  /* A new account is written from the account itself from the start. */
  if (!self->store_bound && !bursar_account_store_has_account (self->account_store, self->id))
    self->store_bound = bursar_account_store_bind (self->account_store, self->id, NULL,
                                                   write_group, self);
  if (self->store_bound)
    {
      bursar_account_store_save (self->account_store);
      return;
    }

  /* The group as stored, not a fresh one: comments and keys this version
   * does not write (added by hand, or by a newer bursard) are kept. */
  kf = bursar_account_store_dup_account (self->account_store, self->id);
  group = bursar_account_store_group_for (self->id);
  write_group (self, kf, group);
  bursar_account_store_set_account (self->account_store, self->id, kf);
}

static char *
kf_get (GKeyFile   *kf,
        const char *group,
        const char *key)
{
  char *value = g_key_file_get_string (kf, group, key, NULL);

  if (value != NULL && *value == '\0')
    g_clear_pointer (&value, g_free);
  return value;
}

gboolean
bursar_account_load (BursarAccount  *self,
                     GKeyFile       *kf,
                     const char     *group,
                     GError        **error)
{
  g_autofree char *state = NULL;
  g_autofree char *details = NULL;
  BursarAccountConfig *c = &self->config;
  BursarAccountState parsed;

  c->label = kf_get (kf, group, "Label");
  c->environment = kf_get (kf, group, "Environment");
  c->flow = kf_get (kf, group, "Flow");
  c->scopes = g_key_file_get_string_list (kf, group, "Scopes", NULL, NULL);
  c->client_id = kf_get (kf, group, "ClientId");
  c->has_client_secret = g_key_file_get_boolean (kf, group, "HasClientSecret", NULL);
  c->issuer = kf_get (kf, group, "Issuer");
  c->issuer_required = g_key_file_get_boolean (kf, group, "IssuerRequired", NULL);
  c->authorization_endpoint = kf_get (kf, group, "AuthorizationEndpoint");
  c->token_endpoint = kf_get (kf, group, "TokenEndpoint");
  c->revocation_endpoint = kf_get (kf, group, "RevocationEndpoint");
  c->userinfo_endpoint = kf_get (kf, group, "UserinfoEndpoint");
  c->redirect_uri = kf_get (kf, group, "RedirectUri");
  c->base_url = kf_get (kf, group, "BaseUrl");
  c->target_org_id = kf_get (kf, group, "TargetOrgId");
  c->host_override = kf_get (kf, group, "HostOverride");
  c->allowed_apps = g_key_file_get_string_list (kf, group, "AllowedApps", NULL, NULL);
  c->signup = g_key_file_get_boolean (kf, group, "Signup", NULL);
  self->identity = kf_get (kf, group, "Identity");
  self->last_error = kf_get (kf, group, "LastError");
  self->api_base_url = kf_get (kf, group, "ApiBaseUrl");
  self->subject = kf_get (kf, group, "Subject");

  if (c->flow == NULL || !bursar_provider_supports_flow (self->provider, c->flow))
    {
      g_set_error (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                   "account %s: unknown flow %s", self->id, c->flow ? c->flow : "(none)");
      return FALSE;
    }
  if (c->client_id == NULL && bursar_provider_get_client_id (self->provider) == NULL &&
      g_strcmp0 (c->flow, "personal_access_token") != 0)
    {
      g_set_error (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                   "account %s: no ClientId", self->id);
      return FALSE;
    }

  state = kf_get (kf, group, "State");
  if (state == NULL || !bursar_account_state_from_string (state, &parsed) ||
      parsed == BURSAR_ACCOUNT_STATE_AUTHORIZING)
    parsed = BURSAR_ACCOUNT_STATE_NEEDS_AUTHORIZATION;
  self->state = parsed;
  self->attention_needed = parsed == BURSAR_ACCOUNT_STATE_NEEDS_REAUTHORIZATION;

  details = kf_get (kf, group, "Details");
  if (details != NULL)
    {
      g_autoptr(GVariant) parsed_details = g_variant_parse (G_VARIANT_TYPE_VARDICT, details,
                                                            NULL, NULL, NULL);
      /* g_variant_parse() returns a full reference, not a floating one. */
      if (parsed_details != NULL)
        take_details (self, g_steal_pointer (&parsed_details));
    }
  /* Most groups are just what we would write: their text can go. */
  self->store_bound = bursar_account_store_bind (self->account_store, self->id, kf,
                                                 write_group, self);
  return TRUE;
}

/* --- endpoints ------------------------------------------------------- */

const char *
bursar_account_get_endpoint (BursarAccount  *self,
                             BursarEndpoint  endpoint)
{
  BursarAccountConfig *c = &self->config;
  const char *stored = NULL;
  const char *from_file;
  g_autofree char *rebased = NULL;

  switch (endpoint)
    {
    case BURSAR_ENDPOINT_ISSUER:
      stored = c->issuer;
      break;
    case BURSAR_ENDPOINT_AUTHORIZATION:
      stored = c->authorization_endpoint;
      break;
    case BURSAR_ENDPOINT_TOKEN:
      stored = c->token_endpoint;
      break;
    case BURSAR_ENDPOINT_REVOCATION:
      stored = c->revocation_endpoint;
      break;
    case BURSAR_ENDPOINT_USERINFO:
      stored = c->userinfo_endpoint;
      break;
    case BURSAR_ENDPOINT_API_BASE:
      stored = self->api_base_url;
      break;
    default:
      g_assert_not_reached ();
    }
  if (stored == NULL)
    {
      from_file = bursar_provider_get_endpoint (self->provider, c->environment, endpoint);
      if (from_file != NULL && c->base_url != NULL)
        {
          /* Rebased URLs are interned: they are few and fixed for the
           * account's lifetime, and callers treat the result as borrowed. */
          rebased = bursar_http_rebase_url (from_file, c->base_url);
          from_file = rebased != NULL ? g_intern_string (rebased) : NULL;
        }
      stored = from_file;
    }

  /* A host the provider directed this account to (Zoho's accounts
   * server) serves its token and revocation calls. */
  if (stored != NULL && c->host_override != NULL &&
      (endpoint == BURSAR_ENDPOINT_TOKEN || endpoint == BURSAR_ENDPOINT_REVOCATION))
    {
      g_autofree char *moved = bursar_http_rebase_url (stored, c->host_override);

      return moved != NULL ? g_intern_string (moved) : stored;
    }
  return stored;
}

static const char *
client_id (BursarAccount *self)
{
  if (self->config.client_id != NULL)
    return self->config.client_id;
  return bursar_provider_get_client_id (self->provider);
}

static const char *
client_secret (BursarAccount *self)
{
  if (self->secrets != NULL && self->secrets->client_secret != NULL)
    return self->secrets->client_secret;
  return bursar_provider_get_client_secret (self->provider);
}

static BursarTokenRequest *
new_token_request (BursarAccount *self,
                   BursarCall     call,
                   GError       **error)
{
  const char *url = bursar_account_get_endpoint (self, BURSAR_ENDPOINT_TOKEN);
  BursarTokenRequest *request;
  BursarClientAuth auth = bursar_provider_get_client_auth (self->provider, call);
  const char *secret = client_secret (self);

  if (url == NULL)
    {
      g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_NOT_SUPPORTED,
                           _("The provider has no token endpoint for this account."));
      return NULL;
    }

  request = bursar_token_request_new (url);
  bursar_token_request_set_encoding (request, bursar_provider_get_token_encoding (self->provider));
  if (secret == NULL && (auth == BURSAR_CLIENT_AUTH_POST || auth == BURSAR_CLIENT_AUTH_BASIC))
    auth = BURSAR_CLIENT_AUTH_NONE;
  bursar_token_request_set_client (request, auth, client_id (self), secret);
  bursar_token_request_set_field_names (request,
                                        bursar_provider_get_access_token_fields (self->provider, call),
                                        bursar_provider_get_refresh_token_fields (self->provider, call));
  bursar_token_request_set_default_lifetime (request, bursar_provider_get_default_lifetime (self->provider));
  bursar_token_request_set_reauth_errors (request, bursar_provider_get_reauth_errors (self->provider));
  bursar_token_request_set_token_type_optional (request, bursar_provider_get_token_type_optional (self->provider));
  return request;
}

/* --- provider extras in answers --------------------------------------- */

static GVariant *
json_to_detail (JsonNode *node)
{
  if (node == NULL)
    return NULL;

  if (JSON_NODE_HOLDS_VALUE (node))
    {
      g_autofree char *text = bursar_json_node_dup_scalar (node);

      return text != NULL ? g_variant_new_string (text) : NULL;
    }

  /* Lists of names (roles) as a string list; ZITADEL's role claim is an
   * object whose keys are the role names. */
  if (JSON_NODE_HOLDS_ARRAY (node) || JSON_NODE_HOLDS_OBJECT (node))
    {
      g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
      g_auto(GStrv) strv = NULL;

      if (JSON_NODE_HOLDS_ARRAY (node))
        {
          JsonArray *array = json_node_get_array (node);

          for (guint i = 0; i < json_array_get_length (array) && i < 256; i++)
            {
              g_autofree char *text = bursar_json_node_dup_scalar (json_array_get_element (array, i));

              if (text != NULL)
                g_strv_builder_add (builder, text);
            }
        }
      else
        {
          g_autoptr(GList) members = json_object_get_members (json_node_get_object (node));
          guint n = 0;

          for (GList *l = members; l != NULL && n < 256; l = l->next, n++)
            g_strv_builder_add (builder, l->data);
        }
      strv = g_strv_builder_end (builder);
      return g_variant_new_strv ((const char * const *) strv, -1);
    }
  return NULL;
}

/* The answer's extras (api_domain, corporate_account_id …), the callback's
 * parameters and the ID token's claims, as the provider file maps them. */
static void
apply_answer_extras (BursarAccount *self,
                     GHashTable    *extras,
                     GHashTable    *params,
                     JsonObject    *claims)
{
  const char * const *fields = bursar_provider_get_details_fields (self->provider);
  const char *api_field = bursar_provider_get_api_domain_field (self->provider);

  for (guint i = 0; fields != NULL && fields[i] != NULL; i++)
    {
      g_auto(GStrv) pair = g_strsplit (fields[i], "=", 2);
      const char *detail = pair[0];
      const char *member = pair[1] != NULL ? pair[1] : pair[0];
      GVariant *value = NULL;
      const char *text;

      /* Never the one-time code or the state, whatever a file says. */
      if (g_str_equal (member, "code") || g_str_equal (member, "state"))
        continue;

      if (extras != NULL && (text = g_hash_table_lookup (extras, member)) != NULL)
        value = g_variant_new_string (text);
      else if (params != NULL && (text = g_hash_table_lookup (params, member)) != NULL)
        value = g_variant_new_string (text);
      else if (claims != NULL && json_object_has_member (claims, member))
        value = json_to_detail (json_object_get_member (claims, member));

      if (value != NULL)
        set_detail (self, detail, value);
    }

  if (api_field != NULL && extras != NULL && g_hash_table_lookup (extras, api_field) != NULL)
    {
      const char *named = g_hash_table_lookup (extras, api_field);
      g_autofree char *origin = bursar_http_check_server_origin (named,
                                                                 bursar_provider_get_known_hosts (self->provider),
                                                                 self->config.base_url != NULL);
      const char *template = bursar_provider_get_endpoint (self->provider, self->config.environment,
                                                           BURSAR_ENDPOINT_API_BASE);
      g_autofree char *api = NULL;

      if (origin == NULL)
        {
          g_message ("Account %s: ignoring an API host that is not one of the provider's", self->id);
          return;
        }
      api = template != NULL ? bursar_http_rebase_url (template, origin) : g_strdup (origin);
      set_string (self, &self->api_base_url, api, PROP_API_BASE_URL);
    }
}

gboolean
bursar_account_is_app_allowed (BursarAccount *self,
                               const char    *app_id)
{
  return self->config.allowed_apps != NULL &&
         g_strv_contains ((const char * const *) self->config.allowed_apps, app_id);
}

void
bursar_account_set_app_allowed (BursarAccount *self,
                                const char    *app_id,
                                gboolean       allowed)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

  if (bursar_account_is_app_allowed (self, app_id) == allowed)
    return;

  for (guint i = 0; self->config.allowed_apps != NULL && self->config.allowed_apps[i] != NULL; i++)
    if (!g_str_equal (self->config.allowed_apps[i], app_id))
      g_strv_builder_add (builder, self->config.allowed_apps[i]);
  if (allowed)
    g_strv_builder_add (builder, app_id);
  g_strfreev (self->config.allowed_apps);
  self->config.allowed_apps = g_strv_builder_end (builder);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ALLOWED_APPS]);
  bursar_account_save (self);
}

/* Fills {name} placeholders from the account's options and Details; NULL
 * when one has no value. */
char *
bursar_account_expand_template (BursarAccount *self,
                                const char    *template)
{
  g_autoptr(GString) out = g_string_new (NULL);
  const char *p = template;

  while (*p != '\0')
    {
      const char *open = strchr (p, '{');
      const char *close;
      g_autofree char *name = NULL;
      const char *value = NULL;

      if (open == NULL || (close = strchr (open, '}')) == NULL)
        {
          g_string_append (out, p);
          break;
        }
      g_string_append_len (out, p, open - p);
      name = g_strndup (open + 1, close - open - 1);

      if (g_str_equal (name, "target_org_id"))
        value = self->config.target_org_id;
      else if (g_str_equal (name, "environment"))
        value = self->config.environment;
      else if (g_str_equal (name, "client_id"))
        value = client_id (self);
      else if (g_str_equal (name, "label"))
        value = self->config.label;
      else if (g_str_equal (name, "identity"))
        value = self->identity;
      else
        g_variant_lookup (self->details, name, "&s", &value);

      if (value == NULL || *value == '\0')
        return NULL;
      g_string_append (out, value);
      p = close + 1;
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* --- the token queue -------------------------------------------------- */

static gboolean
cached_token_valid (BursarAccount *self,
                    guint          min_valid)
{
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;

  if (self->secrets == NULL || self->secrets->access_token == NULL)
    return FALSE;
  if (self->secrets->expires_at == 0)
    return TRUE;
  /* Wall-clock time: a token that expired while the machine slept is
   * seen as expired on wake-up. */
  return self->secrets->expires_at - now >= (gint64) min_valid;
}

static BursarTokenInfo *
token_info_from_cache (BursarAccount *self)
{
  BursarTokenInfo *info = g_new0 (BursarTokenInfo, 1);

  info->access_token = g_strdup (self->secrets->access_token);
  info->expires_at = self->secrets->expires_at;
  info->token_type = g_strdup (self->secrets->token_type != NULL ? self->secrets->token_type : "Bearer");
  info->scopes = g_strdupv (self->config.scopes);
  return info;
}

static void pump (BursarAccount *self);

/* Completes every queued waiter with the cached token (after a fresh
 * request: they all share it, whatever they asked for) or with @error. */
static void
complete_all (BursarAccount *self,
              const GError  *error)
{
  GTask *task;

  while ((task = g_queue_pop_head (&self->waiters)) != NULL)
    {
      WaiterData *data = g_task_get_task_data (task);

      if (error != NULL)
        g_task_return_error (task, g_error_copy (error));
      else if (data->load_only || self->secrets->access_token == NULL)
        g_task_return_pointer (task, NULL, NULL);
      else
        g_task_return_pointer (task, token_info_from_cache (self),
                               (GDestroyNotify) bursar_token_info_free);
      g_object_unref (task);
    }
}

static void store_secrets (BursarAccount *self);

static void
store_retry_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(BursarAccount) self = BURSAR_ACCOUNT (user_data);
  g_autoptr(GError) error = NULL;

  if (bursar_secret_store_store_finish (BURSAR_SECRET_STORE (source), result, &error))
    {
      g_message ("Account %s: secrets written to the keyring after an earlier failure", self->id);
      self->store_retry_seconds = 0;
      return;
    }
  if (g_error_matches (error, BURSAR_ERROR, BURSAR_ERROR_CANCELLED))
    return;
  g_warning ("Account %s: keyring write failed again: %s", self->id, error->message);
  store_secrets (self);
}

static gboolean
store_retry_timeout (gpointer user_data)
{
  BursarAccount *self = BURSAR_ACCOUNT (user_data);

  self->store_retry_id = 0;
  bursar_secret_store_store_async (self->secret_store, self->id, self->id, self->secrets,
                                   self->cancellable, store_retry_cb, g_object_ref (self));
  return G_SOURCE_REMOVE;
}

/* A keyring write failed after the provider answered: the new refresh
 * token lives on in memory and is written again with back-off, rather
 * than reported as a lost grant. */
static void
store_secrets (BursarAccount *self)
{
  self->store_retry_seconds = CLAMP (self->store_retry_seconds * 2,
                                     STORE_RETRY_MIN_SECONDS, STORE_RETRY_MAX_SECONDS);
  g_clear_handle_id (&self->store_retry_id, g_source_remove);
  self->store_retry_id = g_timeout_add_seconds (self->store_retry_seconds,
                                                store_retry_timeout, self);
}

static void
token_stored_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(BursarAccount) self = BURSAR_ACCOUNT (user_data);
  g_autoptr(GError) error = NULL;

  if (!bursar_secret_store_store_finish (BURSAR_SECRET_STORE (source), result, &error))
    {
      if (g_error_matches (error, BURSAR_ERROR, BURSAR_ERROR_CANCELLED))
        {
          self->busy = FALSE;
          complete_all (self, error);
          return;
        }
      g_warning ("Account %s: could not write the new tokens to the keyring, "
                 "keeping them in memory and retrying: %s", self->id, error->message);
      store_secrets (self);
    }

  self->busy = FALSE;
  complete_all (self, NULL);
  pump (self);
}

static gboolean
check_refreshed_id_token (BursarAccount        *self,
                          BursarTokenResponse  *response,
                          GError              **error)
{
  g_autoptr(JsonObject) claims = NULL;
  const char *issuer = bursar_account_get_endpoint (self, BURSAR_ENDPOINT_ISSUER);
  JsonNode *sub;

  if (response->id_token == NULL || issuer == NULL)
    return TRUE;

  /* OIDC Core §12.2: iss and sub of a refreshed ID token must not change. */
  claims = bursar_jwt_decode_payload (response->id_token, error);
  if (claims == NULL ||
      !bursar_id_token_check (claims, issuer, client_id (self), NULL,
                              g_get_real_time () / G_USEC_PER_SEC, error))
    return FALSE;

  sub = json_object_get_member (claims, "sub");
  if (self->subject != NULL &&
      (sub == NULL || !JSON_NODE_HOLDS_VALUE (sub) ||
       json_node_get_value_type (sub) != G_TYPE_STRING ||
       g_strcmp0 (json_node_get_string (sub), self->subject) != 0))
    {
      g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_PROVIDER,
                           _("The provider answered the refresh for a different user."));
      return FALSE;
    }
  return TRUE;
}

/* Takes the provider's answer into the cache: a new refresh token replaces
 * the old one, an answer without one keeps it (no rotation). */
static void
apply_token_response (BursarAccount       *self,
                      BursarTokenResponse *response)
{
  if (self->secrets == NULL)
    self->secrets = bursar_secrets_new ();

  bursar_secret_replace (&self->secrets->access_token, response->access_token);
  if (response->refresh_token != NULL)
    bursar_secret_replace (&self->secrets->refresh_token, response->refresh_token);
  g_free (self->secrets->token_type);
  self->secrets->token_type = g_strdup (response->token_type);
  self->secrets->expires_at = response->expires_at;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_EXPIRES_AT]);

  if (response->scope != NULL && *response->scope != '\0')
    {
      g_auto(GStrv) granted = g_strsplit_set (response->scope, " ,", -1);
      g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

      for (guint i = 0; granted[i] != NULL; i++)
        if (*granted[i] != '\0')
          g_strv_builder_add (builder, granted[i]);
      g_strfreev (self->config.scopes);
      self->config.scopes = g_strv_builder_end (builder);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SCOPES]);
    }
}

static void
token_request_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(BursarAccount) self = BURSAR_ACCOUNT (user_data);
  g_autoptr(GError) error = NULL;
  g_autoptr(BursarTokenResponse) response = NULL;

  response = bursar_http_token_finish (BURSAR_HTTP (source), result, &error);
  if (response != NULL && !check_refreshed_id_token (self, response, &error))
    g_clear_pointer (&response, bursar_token_response_free);

  if (response == NULL)
    {
      g_message ("Account %s: token request failed: %s", self->id, error->message);
      if (g_error_matches (error, BURSAR_ERROR, BURSAR_ERROR_NEEDS_AUTHORIZATION))
        {
          set_state (self, BURSAR_ACCOUNT_STATE_NEEDS_REAUTHORIZATION);
          g_clear_error (&error);
          g_set_error_literal (&error, BURSAR_ERROR, BURSAR_ERROR_NEEDS_AUTHORIZATION,
                               _("The provider no longer accepts this account's sign-in; authorize it again."));
        }
      if (!g_error_matches (error, BURSAR_ERROR, BURSAR_ERROR_CANCELLED))
        {
          set_last_error (self, error);
          bursar_account_save (self);
        }
      self->refresh_due = g_error_matches (error, BURSAR_ERROR, BURSAR_ERROR_NETWORK);
      self->busy = FALSE;
      complete_all (self, error);
      pump (self);
      return;
    }

  g_debug ("Account %s: new access token, expires in %" G_GINT64_FORMAT " s%s",
           self->id, response->expires_in,
           response->refresh_token != NULL ? ", new refresh token" : "");
  self->refresh_due = FALSE;
  apply_token_response (self, response);
  {
    g_autoptr(JsonObject) claims = NULL;

    if (response->id_token != NULL)
      claims = bursar_jwt_decode_payload (response->id_token, NULL);
    apply_answer_extras (self, response->extras, NULL, claims);
  }
  bursar_account_save (self);
  if (self->last_error != NULL)
    {
      set_last_error (self, NULL);
      bursar_account_save (self);
    }

  /* Persist before serve. */
  bursar_secret_store_store_async (self->secret_store, self->id, self->id, self->secrets,
                                   self->cancellable, token_stored_cb, g_object_ref (self));
}

static void
start_token_request (BursarAccount *self)
{
  g_autoptr(BursarTokenRequest) request = NULL;
  g_autoptr(GError) error = NULL;
  const char *flow = self->config.flow;

  if (g_strcmp0 (flow, "personal_access_token") == 0)
    {
      /* A personal access token is what it is: nothing to refresh. */
      if (self->secrets == NULL || self->secrets->personal_token == NULL)
        g_set_error_literal (&error, BURSAR_ERROR, BURSAR_ERROR_NEEDS_AUTHORIZATION,
                             _("This account has no personal access token; add it again."));
      else
        {
          bursar_secret_replace (&self->secrets->access_token, self->secrets->personal_token);
          self->secrets->expires_at = 0;
        }
      self->busy = FALSE;
      complete_all (self, error);
      return;
    }

  if (g_strcmp0 (flow, "client_credentials") == 0)
    {
      request = new_token_request (self, BURSAR_CALL_CLIENT_CREDENTIALS, &error);
      if (request != NULL)
        {
          g_autofree char *scope = NULL;

          bursar_token_request_add_param (request, "grant_type", "client_credentials");
          if (self->config.scopes != NULL && self->config.scopes[0] != NULL)
            {
              scope = g_strjoinv (bursar_provider_get_scope_separator (self->provider),
                                  self->config.scopes);
              bursar_token_request_add_param (request, "scope", scope);
            }
        }
    }
  else if (self->state != BURSAR_ACCOUNT_STATE_READY ||
           self->secrets == NULL || self->secrets->refresh_token == NULL ||
           !bursar_provider_get_refresh_supported (self->provider))
    {
      g_set_error_literal (&error, BURSAR_ERROR, BURSAR_ERROR_NEEDS_AUTHORIZATION,
                           self->state == BURSAR_ACCOUNT_STATE_READY
                           ? _("The access token has expired and cannot be renewed without you; authorize the account again.")
                           : _("This account is not authorized yet; authorize it first."));
      if (self->state == BURSAR_ACCOUNT_STATE_READY)
        {
          set_state (self, BURSAR_ACCOUNT_STATE_NEEDS_REAUTHORIZATION);
          set_last_error (self, error);
          bursar_account_save (self);
        }
    }
  else
    {
      request = new_token_request (self, BURSAR_CALL_REFRESH, &error);
      if (request != NULL)
        {
          bursar_token_request_add_param (request, "grant_type", "refresh_token");
          bursar_token_request_add_param (request, "refresh_token", self->secrets->refresh_token);
        }
    }

  if (request == NULL)
    {
      self->busy = FALSE;
      complete_all (self, error);
      return;
    }

  g_debug ("Account %s: requesting a token (%s)", self->id, flow);
  bursar_http_token_async (self->http, request, self->cancellable, token_request_cb,
                           g_object_ref (self));
}

static void
secrets_loaded_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(BursarAccount) self = BURSAR_ACCOUNT (user_data);
  g_autoptr(GError) error = NULL;
  BursarSecrets *secrets;

  secrets = bursar_secret_store_lookup_finish (BURSAR_SECRET_STORE (source), result, &error);
  self->busy = FALSE;
  if (error != NULL)
    {
      /* Locked or unavailable is not "no account": keep everything and
       * let the caller retry once the keyring is back. */
      complete_all (self, error);
      return;
    }

  /* Secrets that arrived in memory meanwhile (a refresh whose keyring
   * write failed) are newer than the stored ones. */
  if (self->secrets == NULL)
    self->secrets = secrets != NULL ? secrets : bursar_secrets_new ();
  else
    bursar_secrets_free (secrets);
  self->secrets_loaded = TRUE;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_EXPIRES_AT]);
  pump (self);
}

static void
pump (BursarAccount *self)
{
  GTask *task;

  /* Every waiter and every request or keyring read goes through here. */
  token_cache_changed (self);
  if (self->busy)
    return;

  while ((task = g_queue_peek_head (&self->waiters)) != NULL)
    {
      WaiterData *data = g_task_get_task_data (task);
      gboolean recently_forced;

      if (!self->secrets_loaded)
        {
          self->busy = TRUE;
          bursar_secret_store_lookup_async (self->secret_store, self->id, self->cancellable,
                                            secrets_loaded_cb, g_object_ref (self));
          return;
        }

      recently_forced = self->last_forced_refresh != 0 &&
                        g_get_monotonic_time () - self->last_forced_refresh <
                        BURSAR_ACCOUNT_REFRESH_COALESCE_SECONDS * G_USEC_PER_SEC;

      if (data->load_only)
        {
          g_queue_pop_head (&self->waiters);
          g_task_return_pointer (task, NULL, NULL);
          g_object_unref (task);
          continue;
        }

      if ((!data->force && cached_token_valid (self, data->min_valid)) ||
          (data->force && recently_forced && cached_token_valid (self, 0)))
        {
          g_queue_pop_head (&self->waiters);
          g_task_return_pointer (task, token_info_from_cache (self),
                                 (GDestroyNotify) bursar_token_info_free);
          g_object_unref (task);
          continue;
        }

      if (data->force)
        self->last_forced_refresh = g_get_monotonic_time ();
      self->busy = TRUE;
      start_token_request (self);
      return;
    }
}

/* Queues behind any running keyring read or token request and finishes
 * (through bursar_account_get_token_finish(), with NULL) once the secrets
 * are in memory. */
static void
ensure_loaded_async (BursarAccount       *self,
                     GCancellable        *cancellable,
                     GAsyncReadyCallback  callback,
                     gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  WaiterData *data = g_new0 (WaiterData, 1);

  g_task_set_source_tag (task, bursar_account_get_token_async);
  data->load_only = TRUE;
  g_task_set_task_data (task, data, g_free);
  g_queue_push_tail (&self->waiters, g_steal_pointer (&task));
  pump (self);
}

static guint default_min_valid (BursarAccount *self);

void
bursar_account_get_token_async (BursarAccount       *self,
                                guint                min_valid,
                                gboolean             force,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  WaiterData *data = g_new0 (WaiterData, 1);

  g_task_set_source_tag (task, bursar_account_get_token_async);
  /* Never under the contract's 60 s; more where the provider file asks. */
  data->min_valid = MAX (min_valid, default_min_valid (self));
  data->force = force;
  g_task_set_task_data (task, data, g_free);

  if (g_strcmp0 (self->config.flow, "authorization_code") == 0 &&
      self->state != BURSAR_ACCOUNT_STATE_READY)
    {
      g_task_return_new_error (task, BURSAR_ERROR, BURSAR_ERROR_NEEDS_AUTHORIZATION,
                               self->state == BURSAR_ACCOUNT_STATE_NEEDS_REAUTHORIZATION
                               ? _("This account must be authorized again.")
                               : _("This account is not authorized yet; authorize it first."));
      return;
    }

  g_queue_push_tail (&self->waiters, g_steal_pointer (&task));
  pump (self);
}

BursarTokenInfo *
bursar_account_peek_token (BursarAccount *self,
                           guint          min_valid)
{
  g_return_val_if_fail (BURSAR_IS_ACCOUNT (self), NULL);

  /* The same conditions as bursar_account_get_token_async() and pump()
   * answering a waiter from the cache, without the queue and its GTask. */
  if (self->busy || !g_queue_is_empty (&self->waiters) || !self->secrets_loaded)
    return NULL;
  if (g_strcmp0 (self->config.flow, "authorization_code") == 0 &&
      self->state != BURSAR_ACCOUNT_STATE_READY)
    return NULL;
  if (!cached_token_valid (self, MAX (min_valid, default_min_valid (self))))
    return NULL;
  return token_info_from_cache (self);
}

static guint
default_min_valid (BursarAccount *self)
{
  return (guint) MAX ((gint64) BURSAR_ACCOUNT_MIN_VALID,
                      bursar_provider_get_expiry_margin (self->provider));
}

guint
bursar_account_get_min_valid (BursarAccount *self)
{
  g_return_val_if_fail (BURSAR_IS_ACCOUNT (self), BURSAR_ACCOUNT_MIN_VALID);

  return default_min_valid (self);
}

static void
due_refresh_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  BursarAccount *self = BURSAR_ACCOUNT (source);
  g_autoptr(BursarTokenInfo) info = NULL;
  g_autoptr(GError) error = NULL;

  info = bursar_account_get_token_finish (self, result, &error);
  if (info == NULL && !g_error_matches (error, BURSAR_ERROR, BURSAR_ERROR_CANCELLED))
    g_message ("Account %s: renewal after the network came back failed: %s",
               self->id, error != NULL ? error->message : "no token");
  else if (info != NULL)
    g_debug ("Account %s: renewed after the network came back", self->id);
}

gboolean
bursar_account_refresh_if_due (BursarAccount *self)
{
  g_return_val_if_fail (BURSAR_IS_ACCOUNT (self), FALSE);

  /* Only accounts in use: their secrets are in memory, so no keyring
   * access (and no unlock prompt) comes from a network change. */
  if (!self->secrets_loaded || self->secrets == NULL || self->busy ||
      self->state != BURSAR_ACCOUNT_STATE_READY)
    return FALSE;
  if (g_strcmp0 (self->config.flow, "client_credentials") != 0 &&
      (self->secrets->refresh_token == NULL ||
       !bursar_provider_get_refresh_supported (self->provider)))
    return FALSE;
  if (!self->refresh_due && cached_token_valid (self, default_min_valid (self)))
    return FALSE;

  g_debug ("Account %s: the network is back, renewing the token", self->id);
  /* A failed request is retried even though the cached token may still
   * be valid: what the failed Refresh() asked for is still owed. */
  if (self->refresh_due)
    self->last_forced_refresh = 0;
  bursar_account_get_token_async (self, 0, self->refresh_due, self->cancellable,
                                  due_refresh_cb, NULL);
  return TRUE;
}

BursarTokenInfo *
bursar_account_get_token_finish (BursarAccount  *self,
                                 GAsyncResult   *result,
                                 GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

GVariant *
bursar_account_build_headers (BursarAccount *self,
                              const char    *token)
{
  g_autoptr(GVariantBuilder) builder = g_variant_builder_new (G_VARIANT_TYPE ("a{ss}"));
  g_auto(BursarSecret) authorization = g_strdup_printf ("%s %s",
                                                         bursar_provider_get_header_scheme (self->provider),
                                                         token);

  const char * const *templates = bursar_provider_get_headers_from_options (self->provider);

  g_variant_builder_add (builder, "{ss}", "Authorization", authorization);
  for (guint i = 0; templates != NULL && templates[i] != NULL; i++)
    {
      g_auto(GStrv) pair = g_strsplit (templates[i], "=", 2);
      g_autofree char *value = NULL;

      if (pair[1] == NULL || g_ascii_strcasecmp (pair[0], "Authorization") == 0)
        continue;
      value = bursar_account_expand_template (self, pair[1]);
      if (value != NULL)
        g_variant_builder_add (builder, "{ss}", pair[0], value);
    }
  return g_variant_builder_end (builder);
}

/* --- set-up of a new account ---------------------------------------- */

static void
setup_token_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  BursarAccount *self = g_task_get_source_object (task);
  g_autoptr(BursarTokenInfo) info = NULL;
  g_autoptr(GError) error = NULL;

  info = bursar_account_get_token_finish (self, result, &error);
  if (info == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  set_state (self, BURSAR_ACCOUNT_STATE_READY);
  bursar_account_save (self);
  g_task_return_boolean (task, TRUE);
}

static void
setup_stored_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  BursarAccount *self = g_task_get_source_object (task);
  g_autoptr(GError) error = NULL;

  if (!bursar_secret_store_store_finish (BURSAR_SECRET_STORE (source), result, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  set_state (self, BURSAR_ACCOUNT_STATE_NEEDS_AUTHORIZATION);
  bursar_account_save (self);
  g_task_return_boolean (task, TRUE);
}

static void
pat_checked_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  BursarAccount *self = g_task_get_source_object (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) userinfo = NULL;

  userinfo = bursar_http_get_json_finish (BURSAR_HTTP (source), result, &error);
  if (userinfo == NULL)
    {
      g_prefix_error (&error, "%s ", _("The personal access token was not accepted."));
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (json_object_has_member (userinfo, "email") &&
      JSON_NODE_HOLDS_VALUE (json_object_get_member (userinfo, "email")))
    set_string (self, &self->identity, json_object_get_string_member (userinfo, "email"), PROP_IDENTITY);

  bursar_account_get_token_async (self, 0, FALSE, g_task_get_cancellable (task),
                                  setup_token_cb, g_object_ref (task));
}

static void
setup_pat_stored_cb (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  BursarAccount *self = g_task_get_source_object (task);
  g_autoptr(GError) error = NULL;
  const char *userinfo = bursar_account_get_endpoint (self, BURSAR_ENDPOINT_USERINFO);

  if (!bursar_secret_store_store_finish (BURSAR_SECRET_STORE (source), result, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (userinfo == NULL)
    {
      /* Nothing to check it against; it is used as given. */
      bursar_account_get_token_async (self, 0, FALSE, g_task_get_cancellable (task),
                                      setup_token_cb, g_object_ref (task));
      return;
    }
  bursar_http_get_json_async (self->http, userinfo, self->secrets->personal_token,
                              g_task_get_cancellable (task), pat_checked_cb, g_object_ref (task));
}

void
bursar_account_setup_async (BursarAccount       *self,
                            BursarSecrets       *initial,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  const char *flow = self->config.flow;

  g_task_set_source_tag (task, bursar_account_setup_async);
  g_clear_pointer (&self->secrets, bursar_secrets_free);
  self->secrets = initial != NULL ? bursar_secrets_copy (initial) : bursar_secrets_new ();
  self->secrets_loaded = TRUE;
  self->config.has_client_secret = self->secrets->client_secret != NULL;

  if (g_strcmp0 (flow, "client_credentials") == 0)
    {
      /* The token request stores the secrets (client secret included). */
      bursar_account_get_token_async (self, 0, FALSE, cancellable, setup_token_cb,
                                      g_steal_pointer (&task));
    }
  else if (g_strcmp0 (flow, "personal_access_token") == 0)
    {
      bursar_secret_store_store_async (self->secret_store, self->id, self->id, self->secrets,
                                       cancellable, setup_pat_stored_cb, g_steal_pointer (&task));
    }
  else
    {
      bursar_secret_store_store_async (self->secret_store, self->id, self->id, self->secrets,
                                       cancellable, setup_stored_cb, g_steal_pointer (&task));
    }
}

gboolean
bursar_account_setup_finish (BursarAccount  *self,
                             GAsyncResult   *result,
                             GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* --- authorization --------------------------------------------------- */

static void
complete_flow_tasks (BursarAccount *self,
                     const GError  *error)
{
  g_autoptr(GPtrArray) tasks = g_steal_pointer (&self->complete_tasks);

  for (guint i = 0; tasks != NULL && i < tasks->len; i++)
    {
      GTask *task = g_ptr_array_index (tasks, i);

      if (error != NULL)
        g_task_return_error (task, g_error_copy (error));
      else
        g_task_return_boolean (task, TRUE);
    }
}

static void
flow_failed (BursarAccount  *self,
             BursarAuthFlow *flow,
             GError         *error)
{
  g_message ("Account %s: authorization failed: %s", self->id, error->message);
  bursar_auth_flow_respond (flow, FALSE, error->message);
  if (self->flow == flow)
    g_clear_object (&self->flow);
  set_state (self, self->state_before_flow);
  set_last_error (self, error);
  bursar_account_save (self);
  complete_flow_tasks (self, error);
}

static void
set_identity_from_claims (BursarAccount *self,
                          JsonObject    *claims)
{
  static const char * const identity_claims[] = { "email", "preferred_username", "name", "sub" };
  JsonNode *sub = json_object_get_member (claims, "sub");

  for (guint i = 0; i < G_N_ELEMENTS (identity_claims); i++)
    {
      JsonNode *node = json_object_get_member (claims, identity_claims[i]);

      if (node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
          json_node_get_value_type (node) == G_TYPE_STRING)
        {
          set_string (self, &self->identity, json_node_get_string (node), PROP_IDENTITY);
          break;
        }
    }
  if (sub != NULL && JSON_NODE_HOLDS_VALUE (sub) &&
      json_node_get_value_type (sub) == G_TYPE_STRING)
    {
      g_free (self->subject);
      self->subject = json_node_dup_string (sub);
      set_detail (self, "subject", g_variant_new_string (self->subject));
    }
}

static void flow_stored_cb (GObject *source, GAsyncResult *result, gpointer user_data);

static void
userinfo_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(BursarAccount) self = BURSAR_ACCOUNT (user_data);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) userinfo = NULL;

  /* The identity is a nicety: without it the account still works. */
  userinfo = bursar_http_get_json_finish (BURSAR_HTTP (source), result, &error);
  if (userinfo != NULL)
    set_identity_from_claims (self, userinfo);
  else if (!g_error_matches (error, BURSAR_ERROR, BURSAR_ERROR_CANCELLED))
    g_message ("Account %s: userinfo failed: %s", self->id, error->message);
  else
    return;

  bursar_secret_store_store_async (self->secret_store, self->id, self->id, self->secrets,
                                   self->cancellable, flow_stored_cb, g_object_ref (self));
}

static void
flow_stored_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(BursarAccount) self = BURSAR_ACCOUNT (user_data);
  g_autoptr(GError) error = NULL;

  if (!bursar_secret_store_store_finish (BURSAR_SECRET_STORE (source), result, &error))
    {
      /* The grant is in memory; a keyring that refuses the very first
       * write is reported, but the account still works this session. */
      g_warning ("Account %s: could not write the new tokens to the keyring: %s",
                 self->id, error->message);
      store_secrets (self);
    }

  set_last_error (self, NULL);
  set_state (self, BURSAR_ACCOUNT_STATE_READY);
  bursar_account_save (self);
  complete_flow_tasks (self, NULL);
  g_message ("Account %s: authorized", self->id);
}

static void
flow_run_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(BursarAccount) self = BURSAR_ACCOUNT (user_data);
  BursarAuthFlow *flow = BURSAR_AUTH_FLOW (source);
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) params = NULL;
  g_autoptr(BursarTokenResponse) response = NULL;

  response = bursar_auth_flow_run_finish (flow, result, &params, &error);

  /* A restarted flow replaced this one: its outcome no longer matters. */
  if (self->flow != flow)
    {
      if (response == NULL)
        bursar_auth_flow_respond (flow, FALSE, _("This authorization was replaced by a newer one."));
      return;
    }

  if (response == NULL)
    {
      flow_failed (self, flow, error);
      return;
    }

  if (response->refresh_token == NULL)
    g_debug ("Account %s: the provider sent no refresh token", self->id);

  {
    g_autoptr(JsonObject) claims = NULL;

    if (response->id_token != NULL)
      claims = bursar_jwt_decode_payload (response->id_token, NULL);
    if (claims != NULL)
      set_identity_from_claims (self, claims);

    /* Kept with the account: refresh and revocation go there too. */
    g_free (self->config.host_override);
    self->config.host_override = g_strdup (bursar_auth_flow_get_host_override (flow));
    apply_answer_extras (self, response->extras, params, claims);
  }

  /* The client secret stays; the old grant goes. */
  if (self->secrets == NULL)
    self->secrets = bursar_secrets_new ();
  g_clear_pointer (&self->secrets->refresh_token, bursar_secret_free);
  g_clear_pointer (&self->secrets->access_token, bursar_secret_free);
  self->secrets->expires_at = 0;
  apply_token_response (self, response);

  bursar_auth_flow_respond (flow, TRUE, _("Bursar is now signed in to this account."));
  g_clear_object (&self->flow);

  /* No identity in an ID token: ask the userinfo endpoint, if any. */
  if (self->identity == NULL &&
      bursar_account_get_endpoint (self, BURSAR_ENDPOINT_USERINFO) != NULL)
    {
      bursar_http_get_json_async (self->http, bursar_account_get_endpoint (self, BURSAR_ENDPOINT_USERINFO),
                                  self->secrets->access_token, self->cancellable,
                                  userinfo_cb, g_object_ref (self));
      return;
    }

  bursar_secret_store_store_async (self->secret_store, self->id, self->id, self->secrets,
                                   self->cancellable, flow_stored_cb, g_object_ref (self));
}

static void
browser_launched_cb (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  g_autoptr(BursarAccount) self = BURSAR_ACCOUNT (user_data);
  g_autoptr(GError) error = NULL;

  /* Not fatal: the URL was returned to the caller, who can open it. */
  if (!bursar_browser_open_finish (result, &error))
    g_message ("Account %s: could not open a web browser: %s", self->id, error->message);
}

static BursarAuthFlow *
start_flow (BursarAccount  *self,
            GError        **error)
{
  g_autoptr(BursarAuthFlow) flow = NULL;
  BursarAuthFlowConfig config = { 0 };
  const char *endpoint;

  if (g_strcmp0 (self->config.flow, "authorization_code") != 0)
    {
      g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_NOT_SUPPORTED,
                           _("This account does not use browser authorization."));
      return NULL;
    }

  endpoint = bursar_account_get_endpoint (self, BURSAR_ENDPOINT_AUTHORIZATION);
  if (endpoint == NULL)
    {
      g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_NOT_SUPPORTED,
                           _("The provider has no authorization endpoint for this account."));
      return NULL;
    }

  config.provider = self->provider;
  config.authorization_endpoint = endpoint;
  config.token_endpoint = bursar_account_get_endpoint (self, BURSAR_ENDPOINT_TOKEN);
  config.issuer = bursar_account_get_endpoint (self, BURSAR_ENDPOINT_ISSUER);
  config.issuer_required = self->config.issuer_required;
  config.client_id = client_id (self);
  config.client_secret = client_secret (self);
  config.scopes = (const char * const *) self->config.scopes;
  config.redirect_uri = self->config.redirect_uri;
  config.signup = self->config.signup;
  config.allow_loopback_hosts = self->config.base_url != NULL;

  if (config.token_endpoint == NULL)
    {
      g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_NOT_SUPPORTED,
                           _("The provider has no token endpoint for this account."));
      return NULL;
    }
  flow = bursar_auth_flow_new (self->http, &config, error);
  if (flow == NULL)
    return NULL;

  /* A restart replaces the running flow; its browser gets a failure page. */
  if (self->flow != NULL)
    {
      BursarAuthFlow *old = g_steal_pointer (&self->flow);

      bursar_auth_flow_respond (old, FALSE, _("This authorization was replaced by a newer one."));
      g_object_unref (old);
    }
  else
    {
      /* A failed re-authorization of a working account leaves it working. */
      self->state_before_flow = self->state;
    }

  self->flow = g_object_ref (flow);
  set_state (self, BURSAR_ACCOUNT_STATE_AUTHORIZING);
  return g_steal_pointer (&flow);
}

static void
flow_started_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  BursarAccount *self = g_task_get_source_object (task);
  BursarAuthFlow *flow = BURSAR_AUTH_FLOW (source);
  gboolean open_browser = GPOINTER_TO_INT (g_task_get_task_data (task));
  g_autoptr(GError) error = NULL;
  g_autofree char *url = NULL;

  url = bursar_auth_flow_start_finish (flow, result, &error);
  if (url == NULL)
    {
      if (self->flow == flow)
        {
          g_clear_object (&self->flow);
          set_state (self, self->state_before_flow);
          set_last_error (self, error);
          bursar_account_save (self);
        }
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (self->flow != flow)
    {
      g_task_return_new_error (task, BURSAR_ERROR, BURSAR_ERROR_CANCELLED,
                               _("This authorization was replaced by a newer one."));
      return;
    }

  bursar_auth_flow_run_async (flow, self->cancellable, flow_run_cb, g_object_ref (self));
  g_message ("Account %s: authorization started%s", self->id,
             open_browser ? ", opening the web browser" : "");
  if (open_browser)
    bursar_browser_open_async (url, self->cancellable, browser_launched_cb,
                               g_object_ref (self));
  g_task_return_pointer (task, g_steal_pointer (&url), g_free);
}

static void
authorize_loaded_cb (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  BursarAccount *self = g_task_get_source_object (task);
  g_autoptr(BursarTokenInfo) info = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(BursarAuthFlow) flow = NULL;

  /* The client secret may be in the keyring, and the new grant must be
   * written there: without it, there is no point in asking the user. */
  info = bursar_account_get_token_finish (self, result, &error);
  if (error != NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  flow = start_flow (self, &error);
  if (flow == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  bursar_auth_flow_start_async (flow, self->cancellable, flow_started_cb, g_steal_pointer (&task));
}

void
bursar_account_authorize_async (BursarAccount       *self,
                                gboolean             open_browser,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, bursar_account_authorize_async);
  g_task_set_task_data (task, GINT_TO_POINTER (open_browser), NULL);
  ensure_loaded_async (self, cancellable, authorize_loaded_cb, g_steal_pointer (&task));
}

char *
bursar_account_authorize_finish (BursarAccount  *self,
                                 GAsyncResult   *result,
                                 GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
bursar_account_complete_authorization_async (BursarAccount       *self,
                                             const char          *redirect_url,
                                             GCancellable        *cancellable,
                                             GAsyncReadyCallback  callback,
                                             gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr(GError) error = NULL;

  g_task_set_source_tag (task, bursar_account_complete_authorization_async);

  if (self->flow == NULL)
    {
      g_task_return_new_error (task, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                               _("No authorization is in progress for this account; call Authorize first."));
      return;
    }

  /* Made on first use: most accounts never see this call. */
  if (self->complete_tasks == NULL)
    self->complete_tasks = g_ptr_array_new_with_free_func (g_object_unref);
  g_ptr_array_add (self->complete_tasks, g_object_ref (task));
  if (!bursar_auth_flow_complete (self->flow, redirect_url, &error))
    {
      if (self->complete_tasks != NULL)
        g_ptr_array_remove (self->complete_tasks, task);
      g_task_return_error (task, g_steal_pointer (&error));
    }
}

gboolean
bursar_account_complete_authorization_finish (BursarAccount  *self,
                                              GAsyncResult   *result,
                                              GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* --- removal --------------------------------------------------------- */

static void
remove_cleared_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  g_autoptr(GError) error = NULL;

  if (!bursar_secret_store_clear_finish (BURSAR_SECRET_STORE (source), result, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  g_task_return_boolean (task, TRUE);
}

static void
remove_clear (GTask *task)
{
  BursarAccount *self = g_task_get_source_object (task);

  bursar_secret_store_clear_async (self->secret_store, self->id, g_task_get_cancellable (task),
                                   remove_cleared_cb, g_object_ref (task));
}

static void
revoked_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  BursarAccount *self = g_task_get_source_object (task);
  g_autoptr(GError) error = NULL;

  /* The account goes anyway (offline, token already dead): logged only. */
  if (!bursar_http_revoke_finish (BURSAR_HTTP (source), result, &error))
    g_message ("Account %s: revocation failed, removing anyway: %s", self->id, error->message);
  else
    g_message ("Account %s: tokens revoked at the provider", self->id);
  remove_clear (task);
}

static void
remove_secrets_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  BursarAccount *self = g_task_get_source_object (task);
  g_autoptr(BursarTokenInfo) info = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(BursarTokenRequest) request = NULL;
  const char *url = bursar_account_get_endpoint (self, BURSAR_ENDPOINT_REVOCATION);
  BursarRevocation revocation = bursar_provider_get_revocation (self->provider);
  const char *token = NULL;
  const char *hint = NULL;
  BursarClientAuth auth;
  const char *secret;

  info = bursar_account_get_token_finish (self, result, &error);
  if (error != NULL && (g_error_matches (error, BURSAR_ERROR, BURSAR_ERROR_KEYRING_LOCKED) ||
                        g_error_matches (error, BURSAR_ERROR, BURSAR_ERROR_KEYRING_UNAVAILABLE)))
    {
      /* Without the keyring the item cannot be deleted either; removing
       * only the account would orphan its secrets. */
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  if (self->secrets != NULL)
    {
      if (revocation == BURSAR_REVOCATION_REFRESH && self->secrets->refresh_token != NULL)
        {
          token = self->secrets->refresh_token;
          hint = "refresh_token";
        }
      else if (self->secrets->access_token != NULL &&
               g_strcmp0 (self->config.flow, "personal_access_token") != 0)
        {
          token = self->secrets->access_token;
          hint = "access_token";
        }
    }

  if (revocation == BURSAR_REVOCATION_NONE || url == NULL || token == NULL)
    {
      g_message ("Account %s: nothing to revoke at the provider; removing locally", self->id);
      remove_clear (task);
      return;
    }

  request = bursar_token_request_new (url);
  bursar_token_request_set_encoding (request, bursar_provider_get_revocation_encoding (self->provider));
  auth = bursar_provider_get_client_auth (self->provider, BURSAR_CALL_REVOKE);
  secret = client_secret (self);
  if (secret == NULL && (auth == BURSAR_CLIENT_AUTH_POST || auth == BURSAR_CLIENT_AUTH_BASIC))
    auth = BURSAR_CLIENT_AUTH_NONE;
  bursar_token_request_set_client (request, auth, client_id (self), secret);
  bursar_token_request_add_param (request, "token", token);
  if (bursar_provider_get_revocation_sends_hint (self->provider))
    bursar_token_request_add_param (request, "token_type_hint", hint);

  bursar_http_revoke_async (self->http, request, g_task_get_cancellable (task), revoked_cb,
                            g_object_ref (task));
}

void
bursar_account_remove_async (BursarAccount       *self,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, bursar_account_remove_async);

  if (self->flow != NULL)
    {
      bursar_auth_flow_respond (self->flow, FALSE, _("The account was removed."));
      g_clear_object (&self->flow);
    }

  /* Queue behind any running token request, so the token revoked is the
   * newest one. */
  ensure_loaded_async (self, cancellable, remove_secrets_cb, g_steal_pointer (&task));
}

gboolean
bursar_account_remove_finish (BursarAccount  *self,
                              GAsyncResult   *result,
                              GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}
