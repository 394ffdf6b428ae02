/* bursar-mock-server.c: a test OAuth 2.0 / OpenID Connect authorization
 * server on loopback.
 *
 * It serves discovery, /authorize, /token, /revoke, /userinfo and a small
 * resource API (/api/whoami), plus a control API under /_control/ through
 * which tests turn knobs (token lifetime, refresh token rotation, injected
 * faults, ...) and read what the server saw. It is also the local demo
 * provider of the README's quick start.
 *
 * The knob "personality" makes it behave like one of the seed services
 * (zoho, invoiced, apruve, invproc, invora), on that service's real paths
 * and with its quirks: parameter and answer field names, error shapes,
 * rotation, callback extras and its own revocation call. Paths of all
 * personalities are always served; the personality decides the shapes.
 *
 * It listens on 127.0.0.1 only, on an ephemeral port, prints its base URL
 * as the first line on stdout, and exits when stdin reaches end-of-file (the
 * parent is gone) or after --max-lifetime seconds, so a crashed test never
 * leaves it behind.
 *
 * This is an independent implementation of the server side on purpose:
 * PKCE, base64url and JWT encoding here share no code with the daemon, so
 * a bug there cannot hide itself in the tests.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <glib-unix.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define CODE_LIFETIME_SECONDS 600
#define DEFAULT_MAX_LIFETIME_SECONDS 1800
#define MAX_BODY_BYTES (64 * 1024)
/* Bounds on everything a client can make the server keep, so a runaway
 * test cannot grow it without limit. */
#define MAX_LIVE_ITEMS 100000
#define MAX_FAULTS 1000
#define MAX_SECRETS 200000
#define MAX_DELAY_MS 120000
#define MIN_SECRET_LENGTH 8
#define WRONG_ISSUER "https://wrong-issuer.example"

typedef struct
{
  char *client_id;     /* (owned) */
  char *client_secret; /* (owned) (nullable): NULL for a public client */
} MockClient;

typedef struct
{
  guint status;
  char *body;         /* (owned) (nullable) */
  char *content_type; /* (owned) (nullable) */
  gint64 retry_after; /* -1: no Retry-After header */
  gint64 delay_ms;
} MockFault;

typedef struct
{
  char *client_id;    /* (owned) */
  char *redirect_uri; /* (owned) */
  char *challenge;    /* (owned) (nullable) */
  char *nonce;        /* (owned) (nullable) */
  char *scope;        /* (owned) */
  char *subject;      /* (owned) */
  char *state;        /* (owned) (nullable) */
  gboolean refresh_token_allowed;
  gboolean check_redirect_uri;
  gint64 expires_at;  /* real time, µs */
} MockCode;

/* An access or refresh token. Tokens of one authorization share a
 * grant_id, so revoking a refresh token can kill its whole family. */
typedef struct
{
  char *client_id;   /* (owned) */
  char *scope;       /* (owned) */
  char *subject;     /* (owned) */
  guint64 grant_id;
  gint64 expires_at; /* real time, µs; 0 for never */
  char *predecessor; /* (owned) (nullable): refresh token this one replaced
                      * under "grace" rotation, alive until this one is used */
} MockToken;

typedef struct
{
  char *advertised_issuer; /* (owned) (nullable): NULL means the real one */
  gboolean advertise_s256;
  gboolean iss_parameter_supported;
  gboolean pkce_required;
  char *consent;  /* (owned): approve | deny */
  char *iss_mode; /* (owned): correct | wrong | omit */
  gint64 token_lifetime;
  gboolean always_refresh_token;
  char *subject;    /* (owned) */
  char *email;      /* (owned) */
  char *name;       /* (owned) */
  char *rotation;   /* (owned): off | strict | grace */
  gint64 delay_ms;
  char *token_type; /* (owned) */
  GPtrArray *pats;    /* (owned) (element-type utf8) */
  GPtrArray *clients; /* (owned) (element-type MockClient) */
  JsonObject *id_token_claims; /* (owned): overrides of id_token claims */
  char *personality;          /* (owned): generic | zoho | invoiced | apruve | invproc | invora */
  char *invproc_refresh;      /* (owned): refused | allowed */
  char *invproc_redirect_uri; /* (owned) (nullable): the registered redirect URI */
  char *zoho_location;        /* (owned): the callback's location */
  char *corporate_account_id; /* (owned): Apruve's account in token answers */
} MockConfig;

typedef struct
{
  SoupServer *server; /* (owned) */
  GMainLoop *loop;    /* (owned) */
  char *base_url;     /* (owned) */

  MockConfig config;
  GQueue faults; /* (element-type MockFault) */

  GHashTable *codes;          /* code → MockCode */
  GHashTable *pending_logins; /* Invoice Processor login request id → MockCode */
  GHashTable *access_tokens;  /* token → MockToken */
  GHashTable *refresh_tokens; /* token → MockToken */
  guint64 next_grant_id;

  guint64 token_requests;
  GHashTable *token_requests_by_grant; /* grant type → count */
  guint64 authorize_requests;
  guint64 userinfo_requests;
  guint64 api_requests;
  JsonArray *revocations; /* (owned) */
  guint64 invproc_auth_posts;
  guint64 invproc_login_posts;
  guint64 invproc_login_gets;
  JsonObject *last_authorize_query; /* (owned) (nullable) */
  JsonObject *last_invproc_auth;    /* (owned) (nullable): members seen, secret left out */
  char *last_redirect_uri_authorize; /* (owned) (nullable) */
  char *last_redirect_uri_token;     /* (owned) (nullable) */

  /* Every secret issued or received; survives /_control/reset because the
   * final leak scan must look for all of them. */
  GHashTable *secret_set; /* (element-type utf8 utf8) */
  GPtrArray *secrets;     /* (element-type utf8): insertion order */
} MockServer;

/* --- small helpers ------------------------------------------------------ */

static void
mock_client_free (MockClient *client)
{
  g_free (client->client_id);
  g_free (client->client_secret);
  g_free (client);
}

static void
mock_fault_free (MockFault *fault)
{
  g_free (fault->body);
  g_free (fault->content_type);
  g_free (fault);
}

static void
mock_code_free (MockCode *code)
{
  g_free (code->client_id);
  g_free (code->redirect_uri);
  g_free (code->challenge);
  g_free (code->nonce);
  g_free (code->scope);
  g_free (code->subject);
  g_free (code->state);
  g_free (code);
}

static void
mock_token_free (MockToken *token)
{
  g_free (token->client_id);
  g_free (token->scope);
  g_free (token->subject);
  g_free (token->predecessor);
  g_free (token);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MockCode, mock_code_free)

static char *
base64url_encode (const guint8 *data,
                  gsize         len)
{
  char *text = g_base64_encode (data, len);
  gsize out = 0;

  for (gsize i = 0; text[i] != '\0' && text[i] != '='; i++)
    {
      char c = text[i];

      text[out++] = c == '+' ? '-' : c == '/' ? '_' : c;
    }
  text[out] = '\0';
  return text;
}

static char *
random_token (const char *prefix)
{
  guint8 bytes[24];
  gsize filled = 0;
  g_autofree char *encoded = NULL;

  /* Bounded: getrandom() on a few bytes returns them all at once unless
   * interrupted. */
  for (guint attempt = 0; filled < sizeof bytes && attempt < 100; attempt++)
    {
      ssize_t n = getrandom (bytes + filled, sizeof bytes - filled, 0);

      if (n > 0)
        filled += (gsize) n;
      else if (n < 0 && errno != EINTR)
        break;
    }
  if (filled < sizeof bytes)
    g_error ("getrandom() failed: %s", g_strerror (errno));

  encoded = base64url_encode (bytes, sizeof bytes);
  return g_strconcat (prefix, encoded, NULL);
}

static char *
pkce_s256 (const char *verifier)
{
  g_autoptr(GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  guint8 digest[32];
  gsize digest_len = sizeof digest;

  g_checksum_update (checksum, (const guchar *) verifier, (gssize) strlen (verifier));
  g_checksum_get_digest (checksum, digest, &digest_len);
  return base64url_encode (digest, digest_len);
}

/* RFC 7636 §4.1: 43–128 characters of [A-Za-z0-9-._~]. */
static gboolean
pkce_verifier_valid (const char *verifier)
{
  gsize len = strlen (verifier);

  if (len < 43 || len > 128)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    {
      char c = verifier[i];

      if (!g_ascii_isalnum (c) && c != '-' && c != '.' && c != '_' && c != '~')
        return FALSE;
    }
  return TRUE;
}

static gboolean
scope_contains (const char *scope,
                const char *wanted)
{
  g_auto(GStrv) parts = NULL;

  if (scope == NULL)
    return FALSE;
  parts = g_strsplit (scope, " ", -1);
  return g_strv_contains ((const char * const *) parts, wanted);
}

static void
mock_server_add_secret (MockServer *self,
                        const char *secret)
{
  /* Very short strings would make the leak scan match everywhere. */
  if (secret == NULL || strlen (secret) < MIN_SECRET_LENGTH)
    return;
  if (g_hash_table_contains (self->secret_set, secret))
    return;
  if (self->secrets->len >= MAX_SECRETS)
    return;

  g_ptr_array_add (self->secrets, g_strdup (secret));
  g_hash_table_add (self->secret_set, g_ptr_array_index (self->secrets, self->secrets->len - 1));
}

static const char *
mock_server_issuer (MockServer *self)
{
  return self->config.advertised_issuer != NULL ? self->config.advertised_issuer : self->base_url;
}

static gboolean
mock_server_is (MockServer *self,
                const char *personality)
{
  return g_str_equal (self->config.personality, personality);
}

static const MockClient *
mock_server_find_client (MockServer *self,
                         const char *client_id)
{
  if (client_id == NULL)
    return NULL;
  for (guint i = 0; i < self->config.clients->len; i++)
    {
      const MockClient *client = g_ptr_array_index (self->config.clients, i);

      if (g_str_equal (client->client_id, client_id))
        return client;
    }
  return NULL;
}

/* --- configuration ------------------------------------------------------- */

static void
mock_config_clear (MockConfig *config)
{
  g_clear_pointer (&config->advertised_issuer, g_free);
  g_clear_pointer (&config->consent, g_free);
  g_clear_pointer (&config->iss_mode, g_free);
  g_clear_pointer (&config->subject, g_free);
  g_clear_pointer (&config->email, g_free);
  g_clear_pointer (&config->name, g_free);
  g_clear_pointer (&config->rotation, g_free);
  g_clear_pointer (&config->token_type, g_free);
  g_clear_pointer (&config->pats, g_ptr_array_unref);
  g_clear_pointer (&config->clients, g_ptr_array_unref);
  g_clear_pointer (&config->id_token_claims, json_object_unref);
  g_clear_pointer (&config->personality, g_free);
  g_clear_pointer (&config->invproc_refresh, g_free);
  g_clear_pointer (&config->invproc_redirect_uri, g_free);
  g_clear_pointer (&config->zoho_location, g_free);
  g_clear_pointer (&config->corporate_account_id, g_free);
}

static MockClient *
mock_client_new (const char *client_id,
                 const char *client_secret)
{
  MockClient *client = g_new0 (MockClient, 1);

  client->client_id = g_strdup (client_id);
  client->client_secret = g_strdup (client_secret);
  return client;
}

static void
mock_server_set_defaults (MockServer *self)
{
  MockConfig *config = &self->config;

  mock_config_clear (config);
  config->advertise_s256 = TRUE;
  config->iss_parameter_supported = TRUE;
  config->pkce_required = TRUE;
  config->consent = g_strdup ("approve");
  config->iss_mode = g_strdup ("correct");
  config->token_lifetime = 3600;
  config->always_refresh_token = TRUE;
  config->subject = g_strdup ("user-1");
  config->email = g_strdup ("alice@example.test");
  config->name = g_strdup ("Alice Example");
  config->rotation = g_strdup ("off");
  config->delay_ms = 0;
  config->token_type = g_strdup ("Bearer");
  config->pats = g_ptr_array_new_with_free_func (g_free);
  config->clients = g_ptr_array_new_with_free_func ((GDestroyNotify) mock_client_free);
  g_ptr_array_add (config->clients, mock_client_new ("test-client", "test-secret-CANARY"));
  g_ptr_array_add (config->clients, mock_client_new ("public-client", NULL));
  config->id_token_claims = json_object_new ();
  config->personality = g_strdup ("generic");
  config->invproc_refresh = g_strdup ("refused");
  config->zoho_location = g_strdup ("eu");
  config->corporate_account_id = g_strdup ("corp-4711");

  mock_server_add_secret (self, "test-secret-CANARY");
}

static gboolean
node_get_bool (JsonNode    *node,
               const char  *name,
               gboolean    *out,
               GError     **error)
{
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_BOOLEAN)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "knob %s needs a boolean", name);
      return FALSE;
    }
  *out = json_node_get_boolean (node);
  return TRUE;
}

static gboolean
node_get_int (JsonNode    *node,
              const char  *name,
              gint64       min,
              gint64       max,
              gint64      *out,
              GError     **error)
{
  gint64 value;

  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "knob %s needs an integer", name);
      return FALSE;
    }
  value = json_node_get_int (node);
  if (value < min || value > max)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "knob %s must be in [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "]",
                   name, min, max);
      return FALSE;
    }
  *out = value;
  return TRUE;
}

/* A string knob; @choices (NULL-terminated, nullable) restricts the values. */
static gboolean
node_get_string (JsonNode            *node,
                 const char          *name,
                 const char * const  *choices,
                 char               **out,
                 GError             **error)
{
  const char *value;

  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "knob %s needs a string", name);
      return FALSE;
    }
  value = json_node_get_string (node);
  if (choices != NULL && !g_strv_contains (choices, value))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "knob %s has an unknown value", name);
      return FALSE;
    }
  g_free (*out);
  *out = g_strdup (value);
  return TRUE;
}

static gboolean
member_get_string (JsonObject  *object,
                   const char  *member,
                   const char **out,
                   GError     **error)
{
  JsonNode *node = json_object_get_member (object, member);

  *out = NULL;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s needs a string", member);
      return FALSE;
    }
  *out = json_node_get_string (node);
  return TRUE;
}

static gboolean
member_get_int (JsonObject  *object,
                const char  *member,
                gint64       fallback,
                gint64       min,
                gint64       max,
                gint64      *out,
                GError     **error)
{
  JsonNode *node = json_object_get_member (object, member);

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    {
      *out = fallback;
      return TRUE;
    }
  return node_get_int (node, member, min, max, out, error);
}

static gboolean
mock_server_set_faults (MockServer  *self,
                        JsonNode    *node,
                        GError     **error)
{
  JsonArray *array;
  GQueue parsed = G_QUEUE_INIT;

  if (!JSON_NODE_HOLDS_ARRAY (node))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "fail_next needs an array");
      return FALSE;
    }
  array = json_node_get_array (node);
  if (json_array_get_length (array) > MAX_FAULTS)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "fail_next is too long");
      return FALSE;
    }

  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonNode *element = json_array_get_element (array, i);
      JsonObject *object;
      MockFault *fault;
      gint64 status;
      const char *body;
      const char *content_type;

      if (!JSON_NODE_HOLDS_OBJECT (element))
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                               "fail_next elements must be objects");
          g_queue_clear_full (&parsed, (GDestroyNotify) mock_fault_free);
          return FALSE;
        }
      object = json_node_get_object (element);
      fault = g_new0 (MockFault, 1);
      g_queue_push_tail (&parsed, fault);
      if (!member_get_int (object, "status", 500, 100, 599, &status, error) ||
          !member_get_string (object, "body", &body, error) ||
          !member_get_string (object, "content_type", &content_type, error) ||
          !member_get_int (object, "retry_after", -1, -1, G_MAXINT32, &fault->retry_after, error) ||
          !member_get_int (object, "delay_ms", 0, 0, MAX_DELAY_MS, &fault->delay_ms, error))
        {
          g_queue_clear_full (&parsed, (GDestroyNotify) mock_fault_free);
          return FALSE;
        }
      fault->status = (guint) status;
      fault->body = g_strdup (body);
      fault->content_type = g_strdup (content_type);
    }

  g_queue_clear_full (&self->faults, (GDestroyNotify) mock_fault_free);
  self->faults = parsed;
  return TRUE;
}

static gboolean
mock_server_set_clients (MockServer  *self,
                         JsonNode    *node,
                         GError     **error)
{
  g_autoptr(GPtrArray) clients = g_ptr_array_new_with_free_func ((GDestroyNotify) mock_client_free);
  JsonArray *array;

  if (!JSON_NODE_HOLDS_ARRAY (node))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "clients needs an array");
      return FALSE;
    }
  array = json_node_get_array (node);
  for (guint i = 0; i < json_array_get_length (array) && i < MAX_FAULTS; i++)
    {
      JsonNode *element = json_array_get_element (array, i);
      const char *client_id;
      const char *client_secret;

      if (!JSON_NODE_HOLDS_OBJECT (element))
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                               "clients elements must be objects");
          return FALSE;
        }
      if (!member_get_string (json_node_get_object (element), "client_id", &client_id, error) ||
          !member_get_string (json_node_get_object (element), "client_secret", &client_secret, error))
        return FALSE;
      if (client_id == NULL)
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                               "every client needs a client_id");
          return FALSE;
        }
      g_ptr_array_add (clients, mock_client_new (client_id, client_secret));
    }

  for (guint i = 0; i < clients->len; i++)
    mock_server_add_secret (self, ((MockClient *) g_ptr_array_index (clients, i))->client_secret);
  g_ptr_array_unref (self->config.clients);
  self->config.clients = g_steal_pointer (&clients);
  return TRUE;
}

static gboolean
mock_server_set_pats (MockServer  *self,
                      JsonNode    *node,
                      GError     **error)
{
  g_autoptr(GPtrArray) pats = g_ptr_array_new_with_free_func (g_free);
  JsonArray *array;

  if (!JSON_NODE_HOLDS_ARRAY (node))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "pats needs an array");
      return FALSE;
    }
  array = json_node_get_array (node);
  for (guint i = 0; i < json_array_get_length (array) && i < MAX_FAULTS; i++)
    {
      JsonNode *element = json_array_get_element (array, i);

      if (!JSON_NODE_HOLDS_VALUE (element) || json_node_get_value_type (element) != G_TYPE_STRING)
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "pats needs strings");
          return FALSE;
        }
      g_ptr_array_add (pats, g_strdup (json_node_get_string (element)));
    }

  for (guint i = 0; i < pats->len; i++)
    mock_server_add_secret (self, g_ptr_array_index (pats, i));
  g_ptr_array_unref (self->config.pats);
  self->config.pats = g_steal_pointer (&pats);
  return TRUE;
}

/* A personality first sets the knobs that follow from the service's
 * documented behaviour; later knobs of the same request may override them. */
static void
mock_server_apply_personality (MockServer *self)
{
  MockConfig *config = &self->config;
  const char *personality = config->personality;

  g_free (config->rotation);
  config->rotation = g_strdup ("off");
  config->always_refresh_token = TRUE;
  if (g_str_equal (personality, "invoiced") || g_str_equal (personality, "apruve"))
    {
      /* Invoiced revokes the old refresh token on every refresh; Apruve
       * returns a new one every time (whether the old one survives is
       * unknown, so the mock takes the strict reading). */
      g_free (config->rotation);
      config->rotation = g_strdup ("strict");
    }
  else if (g_str_equal (personality, "invora"))
    {
      /* ZITADEL: a refresh token only with offline_access, rotating. */
      g_free (config->rotation);
      config->rotation = g_strdup ("strict");
      config->always_refresh_token = FALSE;
      json_object_set_string_member (config->id_token_claims,
                                     "urn:zitadel:iam:user:resourceowner:id", "org-zitadel-1");
      json_object_set_string_member (config->id_token_claims,
                                     "urn:zitadel:iam:user:resourceowner:name", "Example AG");
      if (!json_object_has_member (config->id_token_claims, "urn:zitadel:iam:org:project:roles"))
        {
          JsonObject *roles = json_object_new ();
          JsonObject *grant = json_object_new ();

          json_object_set_string_member (grant, "org-zitadel-1", "example.test");
          json_object_set_object_member (roles, "invoice-admin", grant);
          json_object_set_object_member (roles, "viewer", json_object_ref (grant));
          json_object_set_object_member (config->id_token_claims,
                                         "urn:zitadel:iam:org:project:roles", roles);
        }
    }
}

static gboolean
mock_server_set_knob (MockServer  *self,
                      const char  *name,
                      JsonNode    *node,
                      GError     **error)
{
  static const char * const personality_values[] = {
    "generic", "zoho", "invoiced", "apruve", "invproc", "invora", NULL
  };
  static const char * const invproc_refresh_values[] = { "refused", "allowed", NULL };
  static const char * const consent_values[] = { "approve", "deny", NULL };
  static const char * const iss_values[] = { "correct", "wrong", "omit", NULL };
  static const char * const rotation_values[] = { "off", "strict", "grace", NULL };
  MockConfig *config = &self->config;

  if (g_str_equal (name, "advertised_issuer"))
    {
      if (JSON_NODE_HOLDS_NULL (node))
        {
          g_clear_pointer (&config->advertised_issuer, g_free);
          return TRUE;
        }
      return node_get_string (node, name, NULL, &config->advertised_issuer, error);
    }
  if (g_str_equal (name, "advertise_s256"))
    return node_get_bool (node, name, &config->advertise_s256, error);
  if (g_str_equal (name, "authorization_response_iss_parameter_supported"))
    return node_get_bool (node, name, &config->iss_parameter_supported, error);
  if (g_str_equal (name, "pkce_required"))
    return node_get_bool (node, name, &config->pkce_required, error);
  if (g_str_equal (name, "consent"))
    return node_get_string (node, name, consent_values, &config->consent, error);
  if (g_str_equal (name, "iss_mode"))
    return node_get_string (node, name, iss_values, &config->iss_mode, error);
  if (g_str_equal (name, "token_lifetime"))
    return node_get_int (node, name, 0, G_MAXINT32, &config->token_lifetime, error);
  if (g_str_equal (name, "always_refresh_token"))
    return node_get_bool (node, name, &config->always_refresh_token, error);
  if (g_str_equal (name, "subject"))
    return node_get_string (node, name, NULL, &config->subject, error);
  if (g_str_equal (name, "email"))
    return node_get_string (node, name, NULL, &config->email, error);
  if (g_str_equal (name, "name"))
    return node_get_string (node, name, NULL, &config->name, error);
  if (g_str_equal (name, "rotation"))
    return node_get_string (node, name, rotation_values, &config->rotation, error);
  if (g_str_equal (name, "delay_ms"))
    return node_get_int (node, name, 0, MAX_DELAY_MS, &config->delay_ms, error);
  if (g_str_equal (name, "token_type"))
    return node_get_string (node, name, NULL, &config->token_type, error);
  if (g_str_equal (name, "personality"))
    {
      if (!node_get_string (node, name, personality_values, &config->personality, error))
        return FALSE;
      mock_server_apply_personality (self);
      return TRUE;
    }
  if (g_str_equal (name, "invproc_refresh"))
    return node_get_string (node, name, invproc_refresh_values, &config->invproc_refresh, error);
  if (g_str_equal (name, "invproc_redirect_uri"))
    return node_get_string (node, name, NULL, &config->invproc_redirect_uri, error);
  if (g_str_equal (name, "zoho_location"))
    return node_get_string (node, name, NULL, &config->zoho_location, error);
  if (g_str_equal (name, "corporate_account_id"))
    return node_get_string (node, name, NULL, &config->corporate_account_id, error);
  if (g_str_equal (name, "revoke_all"))
    {
      gboolean revoke = FALSE;

      /* The service forgot every grant (revoked in its dashboard, or
       * expired): the next refresh meets the service's own error. */
      if (!node_get_bool (node, name, &revoke, error))
        return FALSE;
      if (revoke)
        {
          g_hash_table_remove_all (self->access_tokens);
          g_hash_table_remove_all (self->refresh_tokens);
        }
      return TRUE;
    }
  if (g_str_equal (name, "fail_next"))
    return mock_server_set_faults (self, node, error);
  if (g_str_equal (name, "clients"))
    return mock_server_set_clients (self, node, error);
  if (g_str_equal (name, "pats"))
    return mock_server_set_pats (self, node, error);
  if (g_str_equal (name, "id_token_claims"))
    {
      if (!JSON_NODE_HOLDS_OBJECT (node))
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                               "id_token_claims needs an object");
          return FALSE;
        }
      json_object_unref (config->id_token_claims);
      config->id_token_claims = json_node_dup_object (node);
      return TRUE;
    }

  /* A typo in a test must not silently test the default. */
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "unknown knob %s", name);
  return FALSE;
}

/* --- state ---------------------------------------------------------------- */

static void
mock_server_reset (MockServer *self)
{
  mock_server_set_defaults (self);
  g_queue_clear_full (&self->faults, (GDestroyNotify) mock_fault_free);
  g_hash_table_remove_all (self->codes);
  g_hash_table_remove_all (self->pending_logins);
  g_hash_table_remove_all (self->access_tokens);
  g_hash_table_remove_all (self->refresh_tokens);
  self->token_requests = 0;
  g_hash_table_remove_all (self->token_requests_by_grant);
  self->authorize_requests = 0;
  self->userinfo_requests = 0;
  self->api_requests = 0;
  g_clear_pointer (&self->revocations, json_array_unref);
  self->revocations = json_array_new ();
  g_clear_pointer (&self->last_redirect_uri_authorize, g_free);
  g_clear_pointer (&self->last_redirect_uri_token, g_free);
  self->invproc_auth_posts = 0;
  self->invproc_login_posts = 0;
  self->invproc_login_gets = 0;
  g_clear_pointer (&self->last_authorize_query, json_object_unref);
  g_clear_pointer (&self->last_invproc_auth, json_object_unref);
}

static gboolean
mock_server_tables_full (MockServer *self)
{
  return (g_hash_table_size (self->codes) + g_hash_table_size (self->access_tokens) +
          g_hash_table_size (self->refresh_tokens)) >= MAX_LIVE_ITEMS;
}

static MockToken *
mock_token_new (const char *client_id,
                const char *scope,
                const char *subject,
                guint64     grant_id,
                gint64      lifetime_seconds)
{
  MockToken *token = g_new0 (MockToken, 1);

  token->client_id = g_strdup (client_id);
  token->scope = g_strdup (scope);
  token->subject = g_strdup (subject);
  token->grant_id = grant_id;
  if (lifetime_seconds > 0)
    token->expires_at = g_get_real_time () + lifetime_seconds * G_USEC_PER_SEC;
  return token;
}

static void
mock_server_kill_grant (MockServer *self,
                        guint64     grant_id)
{
  GHashTableIter iter;
  MockToken *token;

  g_hash_table_iter_init (&iter, self->access_tokens);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &token))
    if (token->grant_id == grant_id)
      g_hash_table_iter_remove (&iter);

  g_hash_table_iter_init (&iter, self->refresh_tokens);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &token))
    if (token->grant_id == grant_id)
      g_hash_table_iter_remove (&iter);
}

static MockToken *
mock_server_live_access_token (MockServer *self,
                               const char *value)
{
  MockToken *token = g_hash_table_lookup (self->access_tokens, value);

  if (token == NULL)
    return NULL;
  if (token->expires_at != 0 && token->expires_at <= g_get_real_time ())
    {
      g_hash_table_remove (self->access_tokens, value);
      return NULL;
    }
  return token;
}

/* --- responses ------------------------------------------------------------ */

static void
respond (SoupServerMessage *msg,
         guint              status,
         const char        *content_type,
         const char        *body)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);

  soup_message_headers_replace (headers, "Cache-Control", "no-store");
  soup_server_message_set_status (msg, status, NULL);
  if (body != NULL)
    soup_server_message_set_response (msg, content_type, SOUP_MEMORY_COPY, body, strlen (body));
}

static void
respond_json (SoupServerMessage *msg,
              guint              status,
              JsonNode          *node)
{
  g_autofree char *body = json_to_string (node, FALSE);

  respond (msg, status, "application/json", body);
}

static void
respond_builder (SoupServerMessage *msg,
                 guint              status,
                 JsonBuilder       *builder)
{
  g_autoptr(JsonNode) node = json_builder_get_root (builder);

  respond_json (msg, status, node);
}

/* The personality the request is answered in; handle_request tags each
 * message, so the error helpers need no server pointer. */
static const char *
msg_personality (SoupServerMessage *msg)
{
  const char *personality = g_object_get_data (G_OBJECT (msg), "mock-personality");

  return personality != NULL ? personality : "generic";
}

static gboolean
msg_is (SoupServerMessage *msg,
        const char        *personality)
{
  return g_str_equal (msg_personality (msg), personality);
}

/* An OAuth error in the shape of the personality's service. */
static void
respond_oauth_error (SoupServerMessage *msg,
                     guint              status,
                     const char        *error,
                     const char        *description)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  if (msg_is (msg, "zoho"))
    {
      /* Zoho: HTTP 200 {"error":"invalid_code"}; its name for a bad code or
       * refresh token is invalid_code. */
      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "error");
      json_builder_add_string_value (builder, g_str_equal (error, "invalid_grant") ? "invalid_code" : error);
      json_builder_end_object (builder);
      respond_builder (msg, status == SOUP_STATUS_METHOD_NOT_ALLOWED ? status : SOUP_STATUS_OK, builder);
      return;
    }
  if (msg_is (msg, "invoiced"))
    {
      /* Invoiced: every OAuth error is 400 {"type":"invalid_request",
       * "message":…}, without an error member. */
      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "type");
      json_builder_add_string_value (builder, "invalid_request");
      json_builder_set_member_name (builder, "message");
      json_builder_add_string_value (builder, description != NULL ? description : error);
      json_builder_end_object (builder);
      respond_builder (msg, status >= 500 ? status : SOUP_STATUS_BAD_REQUEST, builder);
      return;
    }
  if (msg_is (msg, "apruve"))
    {
      /* Apruve: 401 [{"message":…}] for a bad client or token. */
      gboolean auth = g_str_equal (error, "invalid_grant") || g_str_equal (error, "invalid_client");

      json_builder_begin_array (builder);
      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "message");
      json_builder_add_string_value (builder, auth ? "Invalid authentication token." :
                                     description != NULL ? description : error);
      json_builder_end_object (builder);
      json_builder_end_array (builder);
      respond_builder (msg, auth ? SOUP_STATUS_UNAUTHORIZED : status, builder);
      return;
    }

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "error");
  json_builder_add_string_value (builder, error);
  if (description != NULL)
    {
      json_builder_set_member_name (builder, "error_description");
      json_builder_add_string_value (builder, description);
    }
  json_builder_end_object (builder);
  respond_builder (msg, status, builder);
}

static void
respond_page (SoupServerMessage *msg,
              guint              status,
              const char        *text)
{
  g_autofree char *escaped = g_markup_escape_text (text, -1);
  g_autofree char *body = g_strdup_printf ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
                                           "<title>Test authorization server</title></head>"
                                           "<body><p>%s</p></body></html>\n",
                                           escaped);

  respond (msg, status, "text/html; charset=utf-8", body);
}

static void
on_message_gone (SoupServerMessage *msg,
                 gpointer           user_data)
{
  g_object_set_data (G_OBJECT (msg), "mock-gone", GINT_TO_POINTER (1));
}

static gboolean
unpause_cb (gpointer user_data)
{
  SoupServerMessage *msg = user_data;

  /* Unpausing a message whose client went away is a programmer error in
   * libsoup, and a slow answer is exactly when clients give up. */
  if (g_object_get_data (G_OBJECT (msg), "mock-gone") == NULL)
    soup_server_message_unpause (msg);
  return G_SOURCE_REMOVE;
}

static void
respond_after (SoupServerMessage *msg,
               gint64             delay_ms)
{
  if (delay_ms <= 0)
    return;

  g_signal_connect (msg, "finished", G_CALLBACK (on_message_gone), NULL);
  g_signal_connect (msg, "disconnected", G_CALLBACK (on_message_gone), NULL);
  soup_server_message_pause (msg);
  g_timeout_add_full (G_PRIORITY_DEFAULT, (guint) MIN (delay_ms, MAX_DELAY_MS),
                      unpause_cb, g_object_ref (msg), g_object_unref);
}

/* --- request parsing ------------------------------------------------------- */

/* Decodes an application/x-www-form-urlencoded body. Returns NULL and
 * answers the request when the body is unacceptable. */
static GHashTable *
read_form (SoupServerMessage *msg)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  SoupMessageBody *body = soup_server_message_get_request_body (msg);
  g_autoptr(GBytes) bytes = NULL;
  const char *content_type;
  g_autofree char *text = NULL;
  gsize len;
  const char *data;

  content_type = soup_message_headers_get_content_type (headers, NULL);
  if (g_strcmp0 (content_type, "application/x-www-form-urlencoded") != 0)
    {
      respond_oauth_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_request",
                           "The body must be application/x-www-form-urlencoded.");
      return NULL;
    }

  bytes = soup_message_body_flatten (body);
  data = g_bytes_get_data (bytes, &len);
  if (len > MAX_BODY_BYTES)
    {
      respond_oauth_error (msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "invalid_request",
                           "The body is too large.");
      return NULL;
    }
  if (memchr (data, '\0', len) != NULL)
    {
      respond_oauth_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_request",
                           "The body contains a NUL byte.");
      return NULL;
    }

  text = g_strndup (data, len);
  return soup_form_decode (text);
}

typedef struct
{
  char *basic_id;     /* (owned) (nullable) */
  char *basic_secret; /* (owned) (nullable) */
} BasicAuth;

static void
basic_auth_clear (BasicAuth *auth)
{
  g_clear_pointer (&auth->basic_id, g_free);
  g_clear_pointer (&auth->basic_secret, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (BasicAuth, basic_auth_clear)

/* RFC 6749 §2.3.1: HTTP Basic with form-urlencoded id and secret. */
static gboolean
read_basic_auth (SoupServerMessage *msg,
                 BasicAuth         *auth)
{
  const char *header = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                     "Authorization");
  g_autofree guchar *decoded = NULL;
  g_autofree char *text = NULL;
  gsize len = 0;
  char *colon;

  if (header == NULL || g_ascii_strncasecmp (header, "Basic ", 6) != 0)
    return TRUE;

  decoded = g_base64_decode (header + 6, &len);
  text = g_strndup ((const char *) decoded, len);
  colon = strchr (text, ':');
  if (colon == NULL)
    return FALSE;
  *colon = '\0';
  auth->basic_id = g_uri_unescape_string (text, NULL);
  auth->basic_secret = g_uri_unescape_string (colon + 1, NULL);
  return auth->basic_id != NULL && auth->basic_secret != NULL;
}

/* Authenticates the client of a token or revocation request, answering the
 * request itself on failure. */
static const MockClient *
mock_server_authenticate_client (MockServer        *self,
                                 SoupServerMessage *msg,
                                 GHashTable        *form)
{
  g_auto(BasicAuth) auth = { NULL, NULL };
  const char *form_id = g_hash_table_lookup (form, "client_id");
  const char *form_secret = g_hash_table_lookup (form, "client_secret");
  const char *client_id;
  const char *secret;
  const MockClient *client;

  if (!read_basic_auth (msg, &auth))
    {
      respond_oauth_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_request",
                           "Malformed Basic authorization header.");
      return NULL;
    }
  mock_server_add_secret (self, auth.basic_secret);
  mock_server_add_secret (self, form_secret);

  if (auth.basic_id != NULL && form_secret != NULL)
    {
      respond_oauth_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_request",
                           "More than one client authentication method was used.");
      return NULL;
    }
  if (auth.basic_id != NULL && form_id != NULL && !g_str_equal (auth.basic_id, form_id))
    {
      respond_oauth_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_request",
                           "The client_id does not match the authenticated client.");
      return NULL;
    }

  client_id = auth.basic_id != NULL ? auth.basic_id : form_id;
  secret = auth.basic_id != NULL ? auth.basic_secret : form_secret;
  client = mock_server_find_client (self, client_id);
  /* ZITADEL: a public client authenticates with its client_id only. */
  if (client != NULL && client->client_secret == NULL && secret != NULL && mock_server_is (self, "invora"))
    client = NULL;
  if (client == NULL ||
      (client->client_secret != NULL && g_strcmp0 (secret, client->client_secret) != 0))
    {
      if (auth.basic_id != NULL)
        soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                      "WWW-Authenticate", "Basic realm=\"mock\"");
      respond_oauth_error (msg, SOUP_STATUS_UNAUTHORIZED, "invalid_client",
                           "Client authentication failed.");
      return NULL;
    }
  return client;
}

static gboolean
is_loopback_redirect (const char *redirect_uri)
{
  g_autoptr(GUri) uri = NULL;
  const char *host;

  if (redirect_uri == NULL)
    return FALSE;
  uri = g_uri_parse (redirect_uri, G_URI_FLAGS_NONE, NULL);
  if (uri == NULL || g_strcmp0 (g_uri_get_scheme (uri), "http") != 0)
    return FALSE;
  if (g_uri_get_fragment (uri) != NULL || g_uri_get_userinfo (uri) != NULL)
    return FALSE;
  host = g_uri_get_host (uri);
  return g_strcmp0 (host, "127.0.0.1") == 0 || g_strcmp0 (host, "::1") == 0 ||
         g_strcmp0 (host, "localhost") == 0;
}

/* --- endpoints -------------------------------------------------------------- */

static void
add_string_array (JsonBuilder        *builder,
                  const char         *member,
                  const char * const *values)
{
  json_builder_set_member_name (builder, member);
  json_builder_begin_array (builder);
  for (gsize i = 0; values[i] != NULL; i++)
    json_builder_add_string_value (builder, values[i]);
  json_builder_end_array (builder);
}

static void
add_endpoint (JsonBuilder *builder,
              MockServer  *self,
              const char  *member,
              const char  *path)
{
  g_autofree char *url = g_strconcat (self->base_url, path, NULL);

  json_builder_set_member_name (builder, member);
  json_builder_add_string_value (builder, url);
}

static void
handle_discovery (MockServer        *self,
                  SoupServerMessage *msg)
{
  static const char * const grants[] = { "authorization_code", "refresh_token", "client_credentials", NULL };
  static const char * const scopes[] = { "openid", "email", "profile", "offline_access", NULL };
  static const char * const auth_methods[] = { "client_secret_basic", "client_secret_post", "none", NULL };
  static const char * const response_types[] = { "code", NULL };
  static const char * const s256[] = { "S256", NULL };
  static const char * const plain[] = { "plain", NULL };
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "issuer");
  json_builder_add_string_value (builder, mock_server_issuer (self));
  if (mock_server_is (self, "invora"))
    {
      /* ZITADEL's paths. */
      add_endpoint (builder, self, "authorization_endpoint", "/oauth/v2/authorize");
      add_endpoint (builder, self, "token_endpoint", "/oauth/v2/token");
      add_endpoint (builder, self, "revocation_endpoint", "/oauth/v2/revoke");
      add_endpoint (builder, self, "userinfo_endpoint", "/oidc/v1/userinfo");
      add_endpoint (builder, self, "introspection_endpoint", "/oauth/v2/introspect");
      add_endpoint (builder, self, "end_session_endpoint", "/oidc/v1/end_session");
    }
  else
    {
      add_endpoint (builder, self, "authorization_endpoint", "/authorize");
      add_endpoint (builder, self, "token_endpoint", "/token");
      add_endpoint (builder, self, "revocation_endpoint", "/revoke");
      add_endpoint (builder, self, "userinfo_endpoint", "/userinfo");
    }
  add_string_array (builder, "response_types_supported", response_types);
  add_string_array (builder, "code_challenge_methods_supported",
                    self->config.advertise_s256 ? s256 : plain);
  json_builder_set_member_name (builder, "authorization_response_iss_parameter_supported");
  json_builder_add_boolean_value (builder, self->config.iss_parameter_supported);
  add_string_array (builder, "grant_types_supported", grants);
  add_string_array (builder, "scopes_supported", scopes);
  add_string_array (builder, "token_endpoint_auth_methods_supported", auth_methods);
  add_string_array (builder, "revocation_endpoint_auth_methods_supported", auth_methods);
  json_builder_end_object (builder);
  respond_builder (msg, SOUP_STATUS_OK, builder);
}

static void
append_param (GString    *url,
              const char *name,
              const char *value)
{
  g_autofree char *escaped = NULL;

  if (value == NULL)
    return;
  escaped = g_uri_escape_string (value, NULL, FALSE);
  g_string_append_c (url, strchr (url->str, '?') != NULL ? '&' : '?');
  g_string_append_printf (url, "%s=%s", name, escaped);
}

static void
handle_authorize (MockServer        *self,
                  SoupServerMessage *msg,
                  GHashTable        *query)
{
  const char *response_type = query != NULL ? g_hash_table_lookup (query, "response_type") : NULL;
  const char *client_id = query != NULL ? g_hash_table_lookup (query, "client_id") : NULL;
  const char *redirect_uri = query != NULL ? g_hash_table_lookup (query, "redirect_uri") : NULL;
  const char *state = query != NULL ? g_hash_table_lookup (query, "state") : NULL;
  const char *challenge = query != NULL ? g_hash_table_lookup (query, "code_challenge") : NULL;
  const char *method = query != NULL ? g_hash_table_lookup (query, "code_challenge_method") : NULL;
  const char *scope = query != NULL ? g_hash_table_lookup (query, "scope") : NULL;
  const char *nonce = query != NULL ? g_hash_table_lookup (query, "nonce") : NULL;
  const char *iss = NULL;
  g_autoptr(GString) location = NULL;

  self->authorize_requests++;
  g_free (self->last_redirect_uri_authorize);
  self->last_redirect_uri_authorize = g_strdup (redirect_uri);
  g_clear_pointer (&self->last_authorize_query, json_object_unref);
  self->last_authorize_query = json_object_new ();
  if (query != NULL)
    {
      GHashTableIter iter;
      gpointer key;
      gpointer value;

      g_hash_table_iter_init (&iter, query);
      while (g_hash_table_iter_next (&iter, &key, &value))
        json_object_set_string_member (self->last_authorize_query, key, value);
    }

  if (soup_server_message_get_method (msg) != SOUP_METHOD_GET)
    {
      respond_page (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "Use GET.");
      return;
    }
  /* Everything up to here is checked before any redirect: a request we
   * cannot trust must never send the browser to its redirect_uri. */
  if (mock_server_find_client (self, client_id) == NULL)
    {
      respond_page (msg, SOUP_STATUS_BAD_REQUEST, "Unknown client_id.");
      return;
    }
  if (!is_loopback_redirect (redirect_uri))
    {
      respond_page (msg, SOUP_STATUS_BAD_REQUEST, "redirect_uri must be a loopback http URL.");
      return;
    }
  if (g_strcmp0 (response_type, "code") != 0)
    {
      respond_page (msg, SOUP_STATUS_BAD_REQUEST, "response_type must be code.");
      return;
    }
  if (state == NULL || *state == '\0')
    {
      respond_page (msg, SOUP_STATUS_BAD_REQUEST, "state is missing.");
      return;
    }
  if (challenge != NULL && g_strcmp0 (method, "S256") != 0)
    {
      respond_page (msg, SOUP_STATUS_BAD_REQUEST, "code_challenge_method must be S256.");
      return;
    }
  if (challenge == NULL && self->config.pkce_required)
    {
      respond_page (msg, SOUP_STATUS_BAD_REQUEST, "code_challenge is missing.");
      return;
    }
  if (mock_server_tables_full (self))
    {
      respond_page (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "Too many live codes and tokens.");
      return;
    }

  /* Only the OpenID personalities name their issuer in the callback. */
  if (!mock_server_is (self, "generic") && !mock_server_is (self, "invora"))
    ;
  else if (g_str_equal (self->config.iss_mode, "correct"))
    iss = mock_server_issuer (self);
  else if (g_str_equal (self->config.iss_mode, "wrong"))
    iss = WRONG_ISSUER;

  location = g_string_new (redirect_uri);
  if (g_str_equal (self->config.consent, "deny"))
    {
      /* Invoiced sends only error_description (and state). */
      if (!mock_server_is (self, "invoiced"))
        append_param (location, "error", "access_denied");
      append_param (location, "error_description", "The user denied the request.");
    }
  else
    {
      g_autoptr(MockCode) info = g_new0 (MockCode, 1);
      g_autofree char *code = random_token ("code-");

      info->client_id = g_strdup (client_id);
      info->redirect_uri = g_strdup (redirect_uri);
      info->challenge = g_strdup (challenge);
      info->nonce = g_strdup (nonce);
      info->scope = g_strdup (scope != NULL ? scope : "");
      info->subject = g_strdup (self->config.subject);
      info->state = g_strdup (state);
      info->check_redirect_uri = TRUE;
      info->refresh_token_allowed = TRUE;
      if (mock_server_is (self, "zoho"))
        {
          /* Zoho: a refresh token only with access_type=offline, and again
           * after the first consent only with prompt=consent. */
          const char *access_type = g_hash_table_lookup (query, "access_type");
          const char *prompt = g_hash_table_lookup (query, "prompt");

          info->refresh_token_allowed = g_strcmp0 (access_type, "offline") == 0 &&
                                        g_strcmp0 (prompt, "consent") == 0;
        }
      info->expires_at = g_get_real_time () + CODE_LIFETIME_SECONDS * G_USEC_PER_SEC;
      mock_server_add_secret (self, code);
      append_param (location, "code", code);
      g_hash_table_insert (self->codes, g_steal_pointer (&code), g_steal_pointer (&info));
    }
  append_param (location, "state", state);
  append_param (location, "iss", iss);
  if (mock_server_is (self, "zoho"))
    {
      /* The user's data centre; token, refresh and revoke must go there. */
      append_param (location, "location", self->config.zoho_location);
      append_param (location, "accounts-server", self->base_url);
    }
  soup_server_message_set_redirect (msg, SOUP_STATUS_FOUND, location->str);
}

static char *
mock_server_make_id_token (MockServer *self,
                           const char *client_id,
                           const char *subject,
                           const char *nonce)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GList) overrides = NULL;
  g_autofree char *payload = NULL;
  g_autofree char *header64 = NULL;
  g_autofree char *payload64 = NULL;
  const char *header = "{\"alg\":\"none\",\"typ\":\"JWT\"}";
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  JsonObject *object;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "iss");
  json_builder_add_string_value (builder, mock_server_issuer (self));
  json_builder_set_member_name (builder, "sub");
  json_builder_add_string_value (builder, subject);
  json_builder_set_member_name (builder, "aud");
  json_builder_add_string_value (builder, client_id);
  json_builder_set_member_name (builder, "iat");
  json_builder_add_int_value (builder, now);
  json_builder_set_member_name (builder, "exp");
  json_builder_add_int_value (builder, now + 3600);
  if (nonce != NULL)
    {
      json_builder_set_member_name (builder, "nonce");
      json_builder_add_string_value (builder, nonce);
    }
  json_builder_set_member_name (builder, "email");
  json_builder_add_string_value (builder, self->config.email);
  json_builder_set_member_name (builder, "email_verified");
  json_builder_add_boolean_value (builder, TRUE);
  json_builder_set_member_name (builder, "name");
  json_builder_add_string_value (builder, self->config.name);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  object = json_node_get_object (root);
  overrides = json_object_get_members (self->config.id_token_claims);
  for (GList *l = overrides; l != NULL; l = l->next)
    json_object_set_member (object, l->data,
                            json_object_dup_member (self->config.id_token_claims, l->data));

  payload = json_to_string (root, FALSE);
  header64 = base64url_encode ((const guint8 *) header, strlen (header));
  payload64 = base64url_encode ((const guint8 *) payload, strlen (payload));
  /* alg "none": an empty signature part. */
  return g_strconcat (header64, ".", payload64, ".", NULL);
}

/* Issues an access token (and optionally a refresh token and an id_token)
 * and answers with them. @refresh_token, when given, is sent as the refresh
 * token instead of a new one (rotation "off"). */
static void
mock_server_answer_tokens (MockServer        *self,
                           SoupServerMessage *msg,
                           const char        *client_id,
                           const char        *scope,
                           const char        *subject,
                           guint64            grant_id,
                           gboolean           new_refresh_token,
                           const char        *refresh_token,
                           const char        *predecessor,
                           gboolean           id_token,
                           const char        *nonce,
                           gboolean           exchange)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *access = random_token ("at-");
  g_autofree char *refresh = NULL;
  g_autofree char *jwt = NULL;
  gint64 lifetime = self->config.token_lifetime;
  JsonObject *answer;

  mock_server_add_secret (self, access);
  g_hash_table_insert (self->access_tokens, g_strdup (access),
                       mock_token_new (client_id, scope, subject, grant_id, lifetime));
  if (new_refresh_token)
    {
      MockToken *token = mock_token_new (client_id, scope, subject, grant_id, 0);

      refresh = random_token ("rt-");
      token->predecessor = g_strdup (predecessor);
      mock_server_add_secret (self, refresh);
      g_hash_table_insert (self->refresh_tokens, g_strdup (refresh), token);
    }
  else
    refresh = g_strdup (refresh_token);
  if (id_token)
    {
      jwt = mock_server_make_id_token (self, client_id, subject, nonce);
      mock_server_add_secret (self, jwt);
    }

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "access_token");
  json_builder_add_string_value (builder, access);
  json_builder_set_member_name (builder, "token_type");
  json_builder_add_string_value (builder, self->config.token_type);
  if (lifetime > 0)
    {
      json_builder_set_member_name (builder, "expires_in");
      json_builder_add_int_value (builder, lifetime);
    }
  if (refresh != NULL)
    {
      json_builder_set_member_name (builder, "refresh_token");
      json_builder_add_string_value (builder, refresh);
    }
  json_builder_set_member_name (builder, "scope");
  json_builder_add_string_value (builder, scope);
  if (jwt != NULL)
    {
      json_builder_set_member_name (builder, "id_token");
      json_builder_add_string_value (builder, jwt);
    }
  json_builder_end_object (builder);

  /* The services' own answer shapes. */
  root = json_builder_get_root (builder);
  answer = json_node_get_object (root);
  if (mock_server_is (self, "zoho"))
    {
      /* The API host of the user's data centre; no scope member. */
      json_object_set_string_member (answer, "api_domain", self->base_url);
      json_object_remove_member (answer, "scope");
    }
  else if (mock_server_is (self, "apruve"))
    {
      /* The exchange answers "token", the refresh "access_token"; both
       * carry corporate_account_id, neither a lifetime nor a type. */
      if (exchange)
        {
          json_object_set_string_member (answer, "token", access);
          json_object_remove_member (answer, "access_token");
        }
      json_object_set_string_member (answer, "corporate_account_id", self->config.corporate_account_id);
      json_object_remove_member (answer, "token_type");
      json_object_remove_member (answer, "expires_in");
      json_object_remove_member (answer, "scope");
    }
  else if (mock_server_is (self, "invproc"))
    {
      /* camelCase, nothing else. */
      json_object_set_string_member (answer, "accessToken", access);
      json_object_remove_member (answer, "access_token");
      if (refresh != NULL)
        {
          json_object_set_string_member (answer, "refreshToken", refresh);
          json_object_remove_member (answer, "refresh_token");
        }
      json_object_remove_member (answer, "token_type");
      json_object_remove_member (answer, "expires_in");
      json_object_remove_member (answer, "scope");
      json_object_remove_member (answer, "id_token");
    }
  respond_json (msg, SOUP_STATUS_OK, root);
}

static void
grant_authorization_code (MockServer        *self,
                          SoupServerMessage *msg,
                          GHashTable        *form,
                          const MockClient  *client)
{
  const char *code = g_hash_table_lookup (form, "code");
  const char *redirect_uri = g_hash_table_lookup (form, "redirect_uri");
  const char *verifier = g_hash_table_lookup (form, "code_verifier");
  g_autoptr(MockCode) info = NULL;
  gpointer key = NULL;
  gpointer value = NULL;

  if (code == NULL)
    {
      respond_oauth_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_request", "code is missing.");
      return;
    }
  /* Single use: the code is gone whatever happens next. */
  if (g_hash_table_steal_extended (self->codes, code, &key, &value))
    {
      g_free (key);
      info = value;
    }
  if (info == NULL || info->expires_at <= g_get_real_time ())
    {
      respond_oauth_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_grant",
                           "The code is unknown, used or expired.");
      return;
    }
  if (!g_str_equal (info->client_id, client->client_id))
    {
      respond_oauth_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_grant",
                           "The code was issued to another client.");
      return;
    }
  if (info->check_redirect_uri && g_strcmp0 (redirect_uri, info->redirect_uri) != 0)
    {
      respond_oauth_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_grant",
                           "redirect_uri differs from the authorization request.");
      return;
    }
  if (info->challenge != NULL)
    {
      g_autofree char *computed = NULL;

      if (verifier == NULL || !pkce_verifier_valid (verifier))
        {
          respond_oauth_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_grant",
                               "code_verifier is missing or malformed.");
          return;
        }
      computed = pkce_s256 (verifier);
      if (!g_str_equal (computed, info->challenge))
        {
          respond_oauth_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_grant",
                               "code_verifier does not match the code_challenge.");
          return;
        }
    }
  else if (verifier != NULL)
    {
      /* RFC 9700 §2.1.1: a verifier without a challenge is a downgrade. */
      respond_oauth_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_grant",
                           "code_verifier sent but no code_challenge was.");
      return;
    }

  /* Apruve wants the state of the authorization request back. */
  if (mock_server_is (self, "apruve") &&
      (g_hash_table_lookup (form, "state") == NULL ||
       g_strcmp0 (g_hash_table_lookup (form, "state"), info->state) != 0 ||
       redirect_uri == NULL))
    {
      respond_oauth_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_request",
                           "state and redirect_uri must be sent and match.");
      return;
    }

  mock_server_answer_tokens (self, msg, client->client_id, info->scope, info->subject,
                             ++self->next_grant_id,
                             info->refresh_token_allowed &&
                             (scope_contains (info->scope, "offline_access") ||
                              self->config.always_refresh_token),
                             NULL, NULL,
                             scope_contains (info->scope, "openid"), info->nonce, TRUE);
}

static void
grant_refresh_token (MockServer        *self,
                     SoupServerMessage *msg,
                     GHashTable        *form,
                     const MockClient  *client)
{
  const char *refresh_token = g_hash_table_lookup (form, "refresh_token");
  const char *rotation = self->config.rotation;
  g_autofree char *scope = NULL;
  g_autofree char *subject = NULL;
  MockToken *token;
  guint64 grant_id;

  if (refresh_token == NULL)
    {
      respond_oauth_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_request",
                           "refresh_token is missing.");
      return;
    }
  token = g_hash_table_lookup (self->refresh_tokens, refresh_token);
  if (token == NULL || !g_str_equal (token->client_id, client->client_id))
    {
      respond_oauth_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_grant",
                           "The refresh token is invalid, revoked or rotated out.");
      return;
    }

  /* Under "grace" the token this one replaced lives until this one is
   * first used — now. */
  if (token->predecessor != NULL)
    {
      g_hash_table_remove (self->refresh_tokens, token->predecessor);
      g_clear_pointer (&token->predecessor, g_free);
    }

  scope = g_strdup (token->scope);
  subject = g_strdup (token->subject);
  grant_id = token->grant_id;
  if (g_str_equal (rotation, "strict"))
    g_hash_table_remove (self->refresh_tokens, refresh_token);
  if (mock_server_is (self, "invoiced"))
    {
      GHashTableIter iter;
      MockToken *old;

      /* league/oauth2-server revokes the old access token as well. */
      g_hash_table_iter_init (&iter, self->access_tokens);
      while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &old))
        if (old->grant_id == grant_id)
          g_hash_table_iter_remove (&iter);
    }

  /* Zoho answers a refresh without refresh_token: the old one stays. */
  mock_server_answer_tokens (self, msg, client->client_id, scope, subject, grant_id,
                             !g_str_equal (rotation, "off"),
                             mock_server_is (self, "zoho") ? NULL : refresh_token,
                             g_str_equal (rotation, "grace") ? refresh_token : NULL,
                             scope_contains (scope, "openid"), NULL, FALSE);
}

static void
grant_client_credentials (MockServer        *self,
                          SoupServerMessage *msg,
                          GHashTable        *form,
                          const MockClient  *client)
{
  const char *scope = g_hash_table_lookup (form, "scope");

  if (client->client_secret == NULL)
    {
      respond_oauth_error (msg, SOUP_STATUS_BAD_REQUEST, "unauthorized_client",
                           "Public clients cannot use client credentials.");
      return;
    }
  {
    gint64 saved = self->config.token_lifetime;

    /* ZITADEL's machine tokens last 12 hours. */
    if (mock_server_is (self, "invora"))
      self->config.token_lifetime = 43200;
    mock_server_answer_tokens (self, msg, client->client_id, scope != NULL ? scope : "",
                               client->client_id, ++self->next_grant_id,
                               FALSE, NULL, NULL, FALSE, NULL, FALSE);
    self->config.token_lifetime = saved;
  }
}

static void
respond_fault (SoupServerMessage *msg,
               const MockFault   *fault)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
  const char *content_type = fault->content_type;

  if (content_type == NULL)
    content_type = (fault->body != NULL && fault->body[0] == '{') ? "application/json" : "text/html";
  if (fault->retry_after >= 0)
    {
      g_autofree char *value = g_strdup_printf ("%" G_GINT64_FORMAT, fault->retry_after);

      soup_message_headers_replace (headers, "Retry-After", value);
    }
  respond (msg, fault->status, content_type, fault->body != NULL ? fault->body : "");
}

/* Decodes a JSON object body into a table of its string members (others
 * are left out), as Invoice Processor's endpoints take them. Returns NULL
 * and answers the request when the body is unacceptable. */
static GHashTable *
read_json_params (SoupServerMessage *msg,
                  JsonObject       **out_object)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  g_autoptr(GBytes) bytes = soup_message_body_flatten (soup_server_message_get_request_body (msg));
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GList) members = NULL;
  GHashTable *params;
  JsonObject *object;
  gsize len;
  const char *data = g_bytes_get_data (bytes, &len);

  if (g_strcmp0 (soup_message_headers_get_content_type (headers, NULL), "application/json") != 0 ||
      len > MAX_BODY_BYTES ||
      !json_parser_load_from_data (parser, data, (gssize) len, NULL) ||
      !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      respond_oauth_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_request",
                           "The body must be a JSON object (application/json).");
      return NULL;
    }
  object = json_node_get_object (json_parser_get_root (parser));
  params = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  members = json_object_get_members (object);
  for (GList *l = members; l != NULL; l = l->next)
    {
      JsonNode *node = json_object_get_member (object, l->data);

      if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
        g_hash_table_insert (params, g_strdup (l->data), g_strdup (json_node_get_string (node)));
    }
  if (out_object != NULL)
    *out_object = json_object_ref (object);
  return params;
}

static void mock_server_token_request (MockServer        *self,
                                       SoupServerMessage *msg,
                                       GHashTable        *form);

static void
handle_token (MockServer        *self,
              SoupServerMessage *msg)
{
  g_autoptr(GHashTable) form = NULL;

  if (soup_server_message_get_method (msg) == SOUP_METHOD_POST)
    form = read_form (msg);
  else
    respond_oauth_error (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "invalid_request", "Use POST.");
  mock_server_token_request (self, msg, form);
}

/* Invoice Processor: JSON {client_id, client_secret, authorization_code,
 * code_verifier}; the grant type is implied by the members. */
static void
handle_invproc_token (MockServer        *self,
                      SoupServerMessage *msg)
{
  g_autoptr(GHashTable) form = NULL;

  if (soup_server_message_get_method (msg) == SOUP_METHOD_POST)
    form = read_json_params (msg, NULL);
  else
    respond_oauth_error (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "invalid_request", "Use POST.");
  if (form != NULL)
    {
      char *value;

      if ((value = g_hash_table_lookup (form, "authorization_code")) != NULL)
        g_hash_table_insert (form, g_strdup ("code"), g_strdup (value));
      if ((value = g_hash_table_lookup (form, "refreshToken")) != NULL)
        g_hash_table_insert (form, g_strdup ("refresh_token"), g_strdup (value));
      if (!g_hash_table_contains (form, "grant_type"))
        g_hash_table_insert (form, g_strdup ("grant_type"),
                             g_strdup (g_hash_table_contains (form, "refresh_token")
                                       ? "refresh_token" : "authorization_code"));
    }
  mock_server_token_request (self, msg, form);
}

static void
mock_server_token_request (MockServer        *self,
                           SoupServerMessage *msg,
                           GHashTable        *form)
{
  const char *grant_type = NULL;
  const MockClient *client;
  gint64 delay_ms = self->config.delay_ms;
  guint count;

  self->token_requests++;

  if (form != NULL)
    grant_type = g_hash_table_lookup (form, "grant_type");
  count = GPOINTER_TO_UINT (g_hash_table_lookup (self->token_requests_by_grant,
                                                 grant_type != NULL ? grant_type : "(none)"));
  g_hash_table_insert (self->token_requests_by_grant,
                       g_strdup (grant_type != NULL ? grant_type : "(none)"),
                       GUINT_TO_POINTER (count + 1));
  if (form == NULL)
    {
      respond_after (msg, delay_ms);
      return;
    }

  if (g_hash_table_contains (form, "redirect_uri"))
    {
      g_free (self->last_redirect_uri_token);
      self->last_redirect_uri_token = g_strdup (g_hash_table_lookup (form, "redirect_uri"));
    }
  mock_server_add_secret (self, g_hash_table_lookup (form, "code_verifier"));
  mock_server_add_secret (self, g_hash_table_lookup (form, "code"));
  mock_server_add_secret (self, g_hash_table_lookup (form, "refresh_token"));

  /* An injected fault stands for a server that failed before looking at
   * the request: nothing is consumed or rotated. */
  if (!g_queue_is_empty (&self->faults))
    {
      MockFault *fault = g_queue_pop_head (&self->faults);

      respond_fault (msg, fault);
      respond_after (msg, delay_ms + fault->delay_ms);
      mock_fault_free (fault);
      return;
    }

  client = mock_server_authenticate_client (self, msg, form);
  if (client == NULL)
    ;
  else if (mock_server_tables_full (self))
    respond_oauth_error (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "temporarily_unavailable",
                         "Too many live tokens.");
  else if (g_strcmp0 (grant_type, "authorization_code") == 0)
    grant_authorization_code (self, msg, form, client);
  else if (g_strcmp0 (grant_type, "refresh_token") == 0 && mock_server_is (self, "invproc") &&
           g_str_equal (self->config.invproc_refresh, "refused"))
    respond_oauth_error (msg, SOUP_STATUS_BAD_REQUEST, "unsupported_grant_type",
                         "Refreshing is not supported.");
  else if (g_strcmp0 (grant_type, "refresh_token") == 0)
    grant_refresh_token (self, msg, form, client);
  else if (g_strcmp0 (grant_type, "client_credentials") == 0)
    grant_client_credentials (self, msg, form, client);
  else
    respond_oauth_error (msg, SOUP_STATUS_BAD_REQUEST, "unsupported_grant_type",
                         "The grant type is not supported.");

  respond_after (msg, delay_ms);
}

static void
handle_revoke (MockServer        *self,
               SoupServerMessage *msg)
{
  g_autoptr(GHashTable) form = NULL;
  g_autoptr(JsonBuilder) builder = NULL;
  const MockClient *client;
  const char *token;
  const char *hint;
  const char *kind = "unknown";
  MockToken *info;

  if (soup_server_message_get_method (msg) != SOUP_METHOD_POST)
    {
      respond_oauth_error (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "invalid_request", "Use POST.");
      return;
    }
  form = read_form (msg);
  if (form == NULL)
    return;
  token = g_hash_table_lookup (form, "token");
  hint = g_hash_table_lookup (form, "token_type_hint");
  mock_server_add_secret (self, token);

  client = mock_server_authenticate_client (self, msg, form);
  if (client == NULL)
    return;
  if (token == NULL)
    {
      respond_oauth_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_request", "token is missing.");
      return;
    }

  /* RFC 7009 §2.2: unknown tokens are answered with 200 too; only the
   * owner can revoke. */
  info = g_hash_table_lookup (self->refresh_tokens, token);
  if (info != NULL && g_str_equal (info->client_id, client->client_id))
    {
      kind = "refresh";
      mock_server_kill_grant (self, info->grant_id);
    }
  else
    {
      info = g_hash_table_lookup (self->access_tokens, token);
      if (info != NULL && g_str_equal (info->client_id, client->client_id))
        {
          kind = "access";
          g_hash_table_remove (self->access_tokens, token);
        }
    }

  builder = json_builder_new ();
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "token_type_hint");
  if (hint != NULL)
    json_builder_add_string_value (builder, hint);
  else
    json_builder_add_null_value (builder);
  json_builder_set_member_name (builder, "token_kind");
  json_builder_add_string_value (builder, kind);
  json_builder_set_member_name (builder, "client_secret_sent");
  json_builder_add_boolean_value (builder, g_hash_table_contains (form, "client_secret") ||
                                  soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                                "Authorization") != NULL);
  json_builder_set_member_name (builder, "style");
  json_builder_add_string_value (builder, "rfc7009");
  json_builder_end_object (builder);
  json_array_add_element (self->revocations, json_builder_get_root (builder));

  respond (msg, SOUP_STATUS_OK, "text/plain", "");
}

/* Records a revocation of a service's own kind. */
static void
mock_server_record_revocation (MockServer        *self,
                               SoupServerMessage *msg,
                               const char        *style,
                               const char        *kind,
                               gboolean           client_auth_sent)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "token_type_hint");
  json_builder_add_null_value (builder);
  json_builder_set_member_name (builder, "token_kind");
  json_builder_add_string_value (builder, kind);
  json_builder_set_member_name (builder, "client_secret_sent");
  json_builder_add_boolean_value (builder, client_auth_sent);
  json_builder_set_member_name (builder, "style");
  json_builder_add_string_value (builder, style);
  json_builder_end_object (builder);
  json_array_add_element (self->revocations, json_builder_get_root (builder));
}

static gboolean
request_has_client_auth (SoupServerMessage *msg,
                         GHashTable        *params)
{
  return (params != NULL &&
          (g_hash_table_contains (params, "client_secret") || g_hash_table_contains (params, "client_id"))) ||
         soup_message_headers_get_one (soup_server_message_get_request_headers (msg), "Authorization") != NULL;
}

/* Zoho: POST /oauth/v2/token/revoke?token=REFRESH_TOKEN, no client
 * authentication, {"status":"success"}; 400 for an unknown token. */
static void
handle_zoho_revoke (MockServer        *self,
                    SoupServerMessage *msg,
                    GHashTable        *query)
{
  const char *token = query != NULL ? g_hash_table_lookup (query, "token") : NULL;
  MockToken *info;

  if (soup_server_message_get_method (msg) != SOUP_METHOD_POST)
    {
      respond_oauth_error (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "invalid_request", "Use POST.");
      return;
    }
  mock_server_add_secret (self, token);
  info = token != NULL ? g_hash_table_lookup (self->refresh_tokens, token) : NULL;
  if (info == NULL)
    {
      respond (msg, SOUP_STATUS_BAD_REQUEST, "application/json",
               "{\"status\":\"failure\",\"error\":\"invalid_token\"}");
      return;
    }
  /* It ends the access tokens minted from it too. */
  mock_server_kill_grant (self, info->grant_id);
  mock_server_record_revocation (self, msg, "zoho-query", "refresh", request_has_client_auth (msg, query));
  respond (msg, SOUP_STATUS_OK, "application/json", "{\"status\":\"success\"}");
}

/* Invoiced: POST /oauth/revoke token=ACCESS_JWT, no client
 * authentication, 204. Refresh tokens cannot be revoked there. */
static void
handle_invoiced_revoke (MockServer        *self,
                        SoupServerMessage *msg)
{
  g_autoptr(GHashTable) form = NULL;
  const char *token;
  const char *kind = "unknown";

  if (soup_server_message_get_method (msg) != SOUP_METHOD_POST)
    {
      respond_oauth_error (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "invalid_request", "Use POST.");
      return;
    }
  form = read_form (msg);
  if (form == NULL)
    return;
  token = g_hash_table_lookup (form, "token");
  mock_server_add_secret (self, token);
  mock_server_add_secret (self, g_hash_table_lookup (form, "client_secret"));
  if (token == NULL)
    {
      respond_oauth_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_request", "token is missing.");
      return;
    }
  if (g_hash_table_remove (self->access_tokens, token))
    kind = "access";
  mock_server_record_revocation (self, msg, "invoiced", kind, request_has_client_auth (msg, form));
  respond (msg, SOUP_STATUS_NO_CONTENT, NULL, NULL);
}

static void add_nullable_string_member (JsonBuilder *builder,
                                        const char  *member,
                                        const char  *value);

/* Invoice Processor, step 1: POST /api/oauth2/auth with JSON {client_id,
 * client_secret, code_challenge, code_challenge_method, state, isSignup};
 * answered with 307 to the login page. A client that follows the 307 POSTs
 * the body, secret included, to the login page: counted, and refused. */
static void
handle_invproc_auth (MockServer        *self,
                     SoupServerMessage *msg)
{
  g_autoptr(GHashTable) params = NULL;
  g_autoptr(JsonObject) object = NULL;
  g_autoptr(MockCode) info = NULL;
  g_autoptr(GList) members = NULL;
  g_autofree char *request_id = NULL;
  g_autofree char *location = NULL;
  const MockClient *client;
  const char *secret;
  const char *redirect_uri;
  JsonNode *signup;
  JsonArray *names;

  self->authorize_requests++;
  if (soup_server_message_get_method (msg) != SOUP_METHOD_POST)
    {
      respond_page (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "Use POST with a JSON body.");
      return;
    }
  self->invproc_auth_posts++;
  params = read_json_params (msg, &object);
  if (params == NULL)
    return;
  secret = g_hash_table_lookup (params, "client_secret");
  mock_server_add_secret (self, secret);

  /* What the request carried, for the tests; never the secret itself. */
  g_clear_pointer (&self->last_invproc_auth, json_object_unref);
  self->last_invproc_auth = json_object_new ();
  names = json_array_new ();
  members = json_object_get_members (object);
  for (GList *l = members; l != NULL; l = l->next)
    json_array_add_string_element (names, l->data);
  json_object_set_array_member (self->last_invproc_auth, "members", names);
  signup = json_object_get_member (object, "isSignup");
  if (signup != NULL)
    json_object_set_member (self->last_invproc_auth, "isSignup", json_node_copy (signup));
  if (g_hash_table_contains (params, "code_challenge_method"))
    json_object_set_string_member (self->last_invproc_auth, "code_challenge_method",
                                   g_hash_table_lookup (params, "code_challenge_method"));

  client = mock_server_find_client (self, g_hash_table_lookup (params, "client_id"));
  if (client == NULL || client->client_secret == NULL || g_strcmp0 (secret, client->client_secret) != 0)
    {
      respond_oauth_error (msg, SOUP_STATUS_UNAUTHORIZED, "invalid_client", "Client authentication failed.");
      return;
    }
  if (g_hash_table_lookup (params, "state") == NULL || g_hash_table_lookup (params, "code_challenge") == NULL ||
      g_strcmp0 (g_hash_table_lookup (params, "code_challenge_method"), "S256") != 0 ||
      (signup != NULL && (!JSON_NODE_HOLDS_VALUE (signup) ||
                          json_node_get_value_type (signup) != G_TYPE_BOOLEAN)))
    {
      respond_oauth_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_request",
                           "state, code_challenge (S256) are required; isSignup is a boolean.");
      return;
    }
  /* The redirect URI is the one registered for the client; one sent in
   * the body must be that one. */
  redirect_uri = self->config.invproc_redirect_uri;
  if (redirect_uri == NULL ||
      (g_hash_table_contains (params, "redirect_uri") &&
       g_strcmp0 (g_hash_table_lookup (params, "redirect_uri"), redirect_uri) != 0))
    {
      respond_oauth_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_request",
                           "The redirect URI is not the registered one.");
      return;
    }

  info = g_new0 (MockCode, 1);
  info->client_id = g_strdup (client->client_id);
  info->redirect_uri = g_strdup (redirect_uri);
  info->challenge = g_strdup (g_hash_table_lookup (params, "code_challenge"));
  info->scope = g_strdup ("");
  info->subject = g_strdup (self->config.subject);
  info->state = g_strdup (g_hash_table_lookup (params, "state"));
  info->refresh_token_allowed = TRUE;
  info->check_redirect_uri = FALSE;
  info->expires_at = g_get_real_time () + CODE_LIFETIME_SECONDS * G_USEC_PER_SEC;
  request_id = random_token ("login-");
  location = g_strconcat (self->base_url, "/api/oauth2/login?request=", request_id, NULL);
  g_hash_table_insert (self->pending_logins, g_steal_pointer (&request_id), g_steal_pointer (&info));
  soup_server_message_set_redirect (msg, SOUP_STATUS_TEMPORARY_REDIRECT, location);
}

/* Invoice Processor, step 2: the login page the browser opens; it sends
 * the browser on to the registered redirect URI with code and state. */
static void
handle_invproc_login (MockServer        *self,
                      SoupServerMessage *msg,
                      GHashTable        *query)
{
  const char *request_id = query != NULL ? g_hash_table_lookup (query, "request") : NULL;
  g_autoptr(MockCode) info = NULL;
  g_autoptr(GString) location = NULL;
  g_autofree char *state = NULL;
  gpointer key = NULL;
  gpointer value = NULL;

  if (soup_server_message_get_method (msg) != SOUP_METHOD_GET)
    {
      self->invproc_login_posts++;
      respond_page (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "The login page is opened with GET.");
      return;
    }
  self->invproc_login_gets++;
  if (request_id != NULL && g_hash_table_steal_extended (self->pending_logins, request_id, &key, &value))
    {
      g_free (key);
      info = value;
    }
  if (info == NULL)
    {
      respond_page (msg, SOUP_STATUS_BAD_REQUEST, "Unknown or used login request.");
      return;
    }

  state = g_strdup (info->state);
  location = g_string_new (info->redirect_uri);
  if (g_str_equal (self->config.consent, "deny"))
    append_param (location, "error", "access_denied");
  else
    {
      g_autofree char *code = random_token ("code-");

      mock_server_add_secret (self, code);
      append_param (location, "code", code);
      g_hash_table_insert (self->codes, g_steal_pointer (&code), g_steal_pointer (&info));
    }
  append_param (location, "state", state);
  soup_server_message_set_redirect (msg, SOUP_STATUS_FOUND, location->str);
}

/* The services' APIs: the token in the service's Authorization scheme, and
 * for Zoho the organisation header on everything but /organizations. The
 * answer tells what the server saw. */
static void
handle_service_api (MockServer        *self,
                    SoupServerMessage *msg,
                    const char        *path)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  const char *header = soup_message_headers_get_one (headers, "Authorization");
  const char *scheme = mock_server_is (self, "zoho") ? "Zoho-oauthtoken " : "Bearer ";
  const char *org = NULL;
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  MockToken *info = NULL;

  self->api_requests++;
  if (header != NULL && g_str_has_prefix (header, scheme))
    info = mock_server_live_access_token (self, header + strlen (scheme));
  if (info == NULL)
    {
      if (mock_server_is (self, "apruve"))
        respond (msg, SOUP_STATUS_UNAUTHORIZED, "application/json",
                 "[{\"message\":\"Invalid authentication token.\"}]");
      else if (mock_server_is (self, "zoho"))
        respond (msg, SOUP_STATUS_UNAUTHORIZED, "application/json",
                 "{\"code\":57,\"message\":\"You are not authorized to perform this operation\"}");
      else
        {
          soup_message_headers_replace (soup_server_message_get_response_headers (msg), "WWW-Authenticate",
                                        "Bearer realm=\"mock\", error=\"invalid_token\"");
          respond (msg, SOUP_STATUS_UNAUTHORIZED, "text/plain", "");
        }
      return;
    }
  if (mock_server_is (self, "zoho"))
    {
      org = soup_message_headers_get_one (headers, "X-com-zoho-invoice-organizationid");
      if (org == NULL && !g_str_has_suffix (path, "/organizations"))
        {
          respond (msg, SOUP_STATUS_BAD_REQUEST, "application/json",
                   "{\"code\":6041,\"message\":\"Organization id is missing.\"}");
          return;
        }
    }
  else
    org = soup_message_headers_get_one (headers, "X-Target-Org-Id");

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "sub");
  json_builder_add_string_value (builder, info->subject);
  add_nullable_string_member (builder, "org", org);
  json_builder_set_member_name (builder, "path");
  json_builder_add_string_value (builder, path);
  json_builder_end_object (builder);
  respond_builder (msg, SOUP_STATUS_OK, builder);
}

/* /userinfo and /api/whoami: who does this bearer token belong to? */
static void
handle_bearer_resource (MockServer        *self,
                        SoupServerMessage *msg,
                        gboolean           userinfo)
{
  const char *header = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                     "Authorization");
  SoupMessageHeaders *response_headers = soup_server_message_get_response_headers (msg);
  g_autoptr(JsonBuilder) builder = NULL;
  const char *token = NULL;
  const char *subject = NULL;
  MockToken *info;

  if (userinfo)
    self->userinfo_requests++;
  else
    self->api_requests++;

  if (header == NULL || g_ascii_strncasecmp (header, "Bearer ", 7) != 0)
    {
      soup_message_headers_replace (response_headers, "WWW-Authenticate", "Bearer realm=\"mock\"");
      respond (msg, SOUP_STATUS_UNAUTHORIZED, "text/plain", "");
      return;
    }
  token = header + 7;
  info = mock_server_live_access_token (self, token);
  if (info != NULL)
    subject = info->subject;
  else if (g_ptr_array_find_with_equal_func (self->config.pats, token, g_str_equal, NULL))
    subject = self->config.subject;
  if (subject == NULL)
    {
      soup_message_headers_replace (response_headers, "WWW-Authenticate",
                                    "Bearer realm=\"mock\", error=\"invalid_token\"");
      respond (msg, SOUP_STATUS_UNAUTHORIZED, "text/plain", "");
      return;
    }

  builder = json_builder_new ();
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "sub");
  json_builder_add_string_value (builder, subject);
  json_builder_set_member_name (builder, "email");
  json_builder_add_string_value (builder, self->config.email);
  if (userinfo)
    {
      json_builder_set_member_name (builder, "name");
      json_builder_add_string_value (builder, self->config.name);
    }
  json_builder_end_object (builder);
  respond_builder (msg, SOUP_STATUS_OK, builder);
}

static void
add_int_member (JsonBuilder *builder,
                const char  *member,
                gint64       value)
{
  json_builder_set_member_name (builder, member);
  json_builder_add_int_value (builder, value);
}

static void
add_nullable_string_member (JsonBuilder *builder,
                            const char  *member,
                            const char  *value)
{
  json_builder_set_member_name (builder, member);
  if (value != NULL)
    json_builder_add_string_value (builder, value);
  else
    json_builder_add_null_value (builder);
}

static void
handle_stats (MockServer        *self,
              SoupServerMessage *msg)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  GHashTableIter iter;
  gpointer key;
  gpointer value;

  json_builder_begin_object (builder);
  add_int_member (builder, "token_requests", (gint64) self->token_requests);
  json_builder_set_member_name (builder, "token_requests_by_grant");
  json_builder_begin_object (builder);
  g_hash_table_iter_init (&iter, self->token_requests_by_grant);
  while (g_hash_table_iter_next (&iter, &key, &value))
    add_int_member (builder, key, GPOINTER_TO_UINT (value));
  json_builder_end_object (builder);
  add_int_member (builder, "authorize_requests", (gint64) self->authorize_requests);
  json_builder_set_member_name (builder, "revocations");
  json_builder_add_value (builder, json_node_init_array (json_node_alloc (), self->revocations));
  add_int_member (builder, "userinfo_requests", (gint64) self->userinfo_requests);
  add_int_member (builder, "api_requests", (gint64) self->api_requests);
  add_int_member (builder, "current_refresh_tokens", g_hash_table_size (self->refresh_tokens));
  add_int_member (builder, "current_access_tokens", g_hash_table_size (self->access_tokens));
  add_int_member (builder, "pending_faults", self->faults.length);
  add_nullable_string_member (builder, "last_redirect_uri_authorize",
                              self->last_redirect_uri_authorize);
  add_nullable_string_member (builder, "last_redirect_uri_token", self->last_redirect_uri_token);
  add_int_member (builder, "invproc_auth_posts", (gint64) self->invproc_auth_posts);
  add_int_member (builder, "invproc_login_posts", (gint64) self->invproc_login_posts);
  add_int_member (builder, "invproc_login_gets", (gint64) self->invproc_login_gets);
  json_builder_set_member_name (builder, "last_authorize_query");
  if (self->last_authorize_query != NULL)
    json_builder_add_value (builder, json_node_init_object (json_node_alloc (), self->last_authorize_query));
  else
    json_builder_add_null_value (builder);
  json_builder_set_member_name (builder, "last_invproc_auth");
  if (self->last_invproc_auth != NULL)
    json_builder_add_value (builder, json_node_init_object (json_node_alloc (), self->last_invproc_auth));
  else
    json_builder_add_null_value (builder);
  json_builder_end_object (builder);
  respond_builder (msg, SOUP_STATUS_OK, builder);
}

static void
handle_secrets (MockServer        *self,
                SoupServerMessage *msg)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  json_builder_begin_array (builder);
  for (guint i = 0; i < self->secrets->len; i++)
    json_builder_add_string_value (builder, g_ptr_array_index (self->secrets, i));
  json_builder_end_array (builder);
  respond_builder (msg, SOUP_STATUS_OK, builder);
}

static void
handle_config (MockServer        *self,
               SoupServerMessage *msg)
{
  SoupMessageBody *body = soup_server_message_get_request_body (msg);
  g_autoptr(GBytes) bytes = soup_message_body_flatten (body);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GList) members = NULL;
  JsonNode *root;
  JsonObject *object;
  gsize len;
  const char *data = g_bytes_get_data (bytes, &len);

  if (len > MAX_BODY_BYTES ||
      !json_parser_load_from_data (parser, data, (gssize) len, &error) ||
      !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      respond_page (msg, SOUP_STATUS_BAD_REQUEST, "The configuration must be a JSON object.");
      return;
    }
  root = json_parser_get_root (parser);
  object = json_node_get_object (root);
  members = json_object_get_members (object);
  /* The personality sets defaults that the other knobs may override. */
  if (json_object_has_member (object, "personality") &&
      !mock_server_set_knob (self, "personality", json_object_get_member (object, "personality"), &error))
    {
      respond_page (msg, SOUP_STATUS_BAD_REQUEST, error->message);
      return;
    }
  for (GList *l = members; l != NULL; l = l->next)
    {
      if (g_str_equal (l->data, "personality"))
        continue;
      if (!mock_server_set_knob (self, l->data, json_object_get_member (object, l->data), &error))
        {
          respond_page (msg, SOUP_STATUS_BAD_REQUEST, error->message);
          return;
        }
    }
  respond (msg, SOUP_STATUS_OK, "application/json", "{}");
}

static gboolean
is_loopback_peer (SoupServerMessage *msg)
{
  GSocketAddress *address = soup_server_message_get_remote_address (msg);

  return G_IS_INET_SOCKET_ADDRESS (address) &&
         g_inet_address_get_is_loopback (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (address)));
}

static void
handle_control (MockServer        *self,
                SoupServerMessage *msg,
                const char        *path)
{
  const char *method = soup_server_message_get_method (msg);

  if (!is_loopback_peer (msg))
    respond_page (msg, SOUP_STATUS_FORBIDDEN, "The control API is for loopback clients only.");
  else if (g_str_equal (path, "/_control/config") && method == SOUP_METHOD_POST)
    handle_config (self, msg);
  else if (g_str_equal (path, "/_control/reset") && method == SOUP_METHOD_POST)
    {
      mock_server_reset (self);
      respond (msg, SOUP_STATUS_OK, "application/json", "{}");
    }
  else if (g_str_equal (path, "/_control/stats") && method == SOUP_METHOD_GET)
    handle_stats (self, msg);
  else if (g_str_equal (path, "/_control/secrets") && method == SOUP_METHOD_GET)
    handle_secrets (self, msg);
  else
    respond_page (msg, SOUP_STATUS_NOT_FOUND, "No such control endpoint.");
}

static void
handle_request (SoupServer        *server,
                SoupServerMessage *msg,
                const char        *path,
                GHashTable        *query,
                gpointer           user_data)
{
  MockServer *self = user_data;
  const char *method = soup_server_message_get_method (msg);

  /* The error helpers answer in this personality's shapes. */
  g_object_set_data_full (G_OBJECT (msg), "mock-personality",
                          g_strdup (self->config.personality), g_free);

  if (g_str_equal (path, "/.well-known/openid-configuration") ||
      g_str_equal (path, "/.well-known/oauth-authorization-server"))
    {
      if (method == SOUP_METHOD_GET)
        handle_discovery (self, msg);
      else
        respond_page (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "Use GET.");
    }
  /* The generic paths, and each service's own (Zoho, Invoiced, Apruve,
   * ZITADEL for Invora). */
  else if (g_str_equal (path, "/authorize") || g_str_equal (path, "/oauth/v2/auth") ||
           g_str_equal (path, "/oauth/authorize") || g_str_equal (path, "/oauth2/authorize") ||
           g_str_equal (path, "/oauth/v2/authorize"))
    handle_authorize (self, msg, query);
  else if (g_str_equal (path, "/token") || g_str_equal (path, "/oauth/v2/token") ||
           g_str_equal (path, "/oauth/access_token") || g_str_equal (path, "/oauth2/token"))
    handle_token (self, msg);
  else if (g_str_equal (path, "/revoke") || g_str_equal (path, "/oauth/v2/revoke"))
    handle_revoke (self, msg);
  else if (g_str_equal (path, "/oauth/v2/token/revoke"))
    handle_zoho_revoke (self, msg, query);
  else if (g_str_equal (path, "/oauth/revoke"))
    handle_invoiced_revoke (self, msg);
  else if (g_str_equal (path, "/api/oauth2/auth"))
    handle_invproc_auth (self, msg);
  else if (g_str_equal (path, "/api/oauth2/login"))
    handle_invproc_login (self, msg, query);
  else if (g_str_equal (path, "/api/oauth2/tokens"))
    handle_invproc_token (self, msg);
  else if (g_str_has_prefix (path, "/invoice/v3/") || g_str_has_prefix (path, "/api/v4/") ||
           g_str_has_prefix (path, "/api/v1/") || g_str_equal (path, "/customers") ||
           g_str_equal (path, "/api/invoices"))
    {
      if (method == SOUP_METHOD_GET)
        handle_service_api (self, msg, path);
      else
        respond_page (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "Use GET.");
    }
  else if (g_str_equal (path, "/userinfo") || g_str_equal (path, "/api/whoami") ||
           g_str_equal (path, "/oidc/v1/userinfo"))
    {
      if (method == SOUP_METHOD_GET)
        handle_bearer_resource (self, msg, !g_str_equal (path, "/api/whoami"));
      else
        respond_page (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "Use GET.");
    }
  else if (g_str_has_prefix (path, "/_control/"))
    handle_control (self, msg, path);
  else
    respond_page (msg, SOUP_STATUS_NOT_FOUND, "Not found.");
}

/* --- main ------------------------------------------------------------------- */

static gboolean
on_stdin (gint         fd,
          GIOCondition condition,
          gpointer     user_data)
{
  MockServer *self = user_data;
  char buffer[256];
  ssize_t n = read (fd, buffer, sizeof buffer);

  if (n > 0 || (n < 0 && (errno == EINTR || errno == EAGAIN)))
    return G_SOURCE_CONTINUE;

  /* End of file or a broken pipe: whoever started us is gone. */
  g_main_loop_quit (self->loop);
  return G_SOURCE_REMOVE;
}

static gboolean
on_quit (gpointer user_data)
{
  MockServer *self = user_data;

  g_main_loop_quit (self->loop);
  return G_SOURCE_REMOVE;
}

static void
mock_server_free (MockServer *self)
{
  if (self->server != NULL)
    soup_server_disconnect (self->server);
  g_clear_object (&self->server);
  g_clear_pointer (&self->loop, g_main_loop_unref);
  g_clear_pointer (&self->base_url, g_free);
  mock_config_clear (&self->config);
  g_queue_clear_full (&self->faults, (GDestroyNotify) mock_fault_free);
  g_clear_pointer (&self->codes, g_hash_table_unref);
  g_clear_pointer (&self->pending_logins, g_hash_table_unref);
  g_clear_pointer (&self->access_tokens, g_hash_table_unref);
  g_clear_pointer (&self->refresh_tokens, g_hash_table_unref);
  g_clear_pointer (&self->token_requests_by_grant, g_hash_table_unref);
  g_clear_pointer (&self->revocations, json_array_unref);
  g_clear_pointer (&self->last_redirect_uri_authorize, g_free);
  g_clear_pointer (&self->last_redirect_uri_token, g_free);
  g_clear_pointer (&self->last_authorize_query, json_object_unref);
  g_clear_pointer (&self->last_invproc_auth, json_object_unref);
  g_clear_pointer (&self->secret_set, g_hash_table_unref);
  g_clear_pointer (&self->secrets, g_ptr_array_unref);
  g_free (self);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MockServer, mock_server_free)

static MockServer *
mock_server_new (void)
{
  MockServer *self = g_new0 (MockServer, 1);

  self->loop = g_main_loop_new (NULL, FALSE);
  g_queue_init (&self->faults);
  self->codes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) mock_code_free);
  self->pending_logins = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                (GDestroyNotify) mock_code_free);
  self->access_tokens = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                               (GDestroyNotify) mock_token_free);
  self->refresh_tokens = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                (GDestroyNotify) mock_token_free);
  self->token_requests_by_grant = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->secret_set = g_hash_table_new (g_str_hash, g_str_equal);
  self->secrets = g_ptr_array_new_with_free_func (g_free);
  mock_server_reset (self);
  return self;
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(MockServer) self = NULL;
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSList) uris = NULL;
  int max_lifetime = DEFAULT_MAX_LIFETIME_SECONDS;
  gboolean ignore_stdin = FALSE;
  const GOptionEntry entries[] = {
    { "max-lifetime", 0, 0, G_OPTION_ARG_INT, &max_lifetime,
      "Exit after this many seconds (default 1800)", "SECONDS" },
    { "ignore-stdin", 0, 0, G_OPTION_ARG_NONE, &ignore_stdin,
      "Do not exit when stdin reaches end-of-file", NULL },
    { NULL }
  };
  int port;

  context = g_option_context_new ("- test OAuth 2.0 / OpenID Connect server on 127.0.0.1");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  if (max_lifetime <= 0)
    {
      g_printerr ("--max-lifetime must be positive\n");
      return 2;
    }

  /* A client that goes away must not kill us with SIGPIPE. */
  signal (SIGPIPE, SIG_IGN);

  self = mock_server_new ();
  self->server = soup_server_new ("server-header", "bursar-mock-server ", NULL);
  soup_server_add_handler (self->server, NULL, handle_request, self, NULL);
  if (!soup_server_listen_local (self->server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error))
    {
      g_printerr ("Cannot listen on 127.0.0.1: %s\n", error->message);
      return 1;
    }
  uris = soup_server_get_uris (self->server);
  g_assert (uris != NULL);
  port = g_uri_get_port (uris->data);
  g_slist_free_full (g_steal_pointer (&uris), (GDestroyNotify) g_uri_unref);
  self->base_url = g_strdup_printf ("http://127.0.0.1:%d", port);

  g_print ("%s\n", self->base_url);
  fflush (stdout);

  if (!ignore_stdin)
    g_unix_fd_add (STDIN_FILENO, G_IO_IN | G_IO_HUP | G_IO_ERR, on_stdin, self);
  g_timeout_add_seconds ((guint) max_lifetime, on_quit, self);
  g_unix_signal_add (SIGTERM, on_quit, self);
  g_unix_signal_add (SIGINT, on_quit, self);

  g_main_loop_run (self->loop);
  return 0;
}
