/* bursar-provider.c: one provider, read from a `*.provider` GKeyFile.
 *
 * The file format is documented in docs/bursar-provider.5. Every key is
 * checked when the file is read, so the engine can trust what it gets and
 * a typo in a file is an error at start-up rather than a strange request
 * at run time.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"


#include <string.h>
#include <sys/stat.h>

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>

#include "bursar-error.h"
#include "bursar-provider.h"
#include "bursar-secret.h"

#define PROVIDER_GROUP "Provider"
#define ENVIRONMENT_PREFIX "Environment "
#define N_ENDPOINTS (BURSAR_ENDPOINT_API_BASE + 1)
#define N_CALLS (BURSAR_CALL_REVOKE + 1)

/* A provider file is a handful of lines; anything bigger is not one. */
#define MAX_FILE_SIZE (256 * 1024)

typedef struct
{
  char *name;                   /* (owned) */
  char *endpoints[N_ENDPOINTS]; /* (owned) (nullable) */
} Environment;

struct _BursarProvider
{
  GObject parent_instance;

  char *id;   /* (owned) */
  char *path; /* (owned) (nullable) */
  char *name; /* (owned) */

  GStrv flows;             /* (owned) */
  GPtrArray *environments; /* (owned) (element-type Environment) */
  GStrv environment_names; /* (owned) */
  GStrv known_hosts;       /* (owned) */
  gboolean discovery;
  gboolean endpoints_from_options;

  char *client_id;     /* (owned) (nullable) */
  char *client_secret; /* (owned) (nullable), wiped on free */
  gboolean needs_client_secret;

  GStrv default_scopes;  /* (owned) */
  GStrv required_scopes; /* (owned) */
  const char *scope_separator;
  gboolean pkce;
  GStrv authorize_params; /* (owned) */
  char *redirect_host;    /* (owned) */
  gboolean redirect_uri_required;

  BursarBodyEncoding token_encoding;
  BursarClientAuth client_auth[N_CALLS];
  char *code_param; /* (owned) */
  gboolean exchange_sends_redirect_uri;
  gboolean exchange_sends_state;
  GStrv access_token_fields[2];  /* (owned) [0] exchange, [1] refresh */
  GStrv refresh_token_fields[2]; /* (owned) [0] exchange, [1] refresh */
  gint64 default_lifetime;
  gboolean token_type_optional;
  GStrv reauth_errors; /* (owned) */
  gboolean refresh_supported;
  gint64 expiry_margin;
  guint refresh_limit_count;
  guint refresh_limit_window;

  BursarRevocation revocation;
  BursarBodyEncoding revocation_encoding;
  gboolean revocation_sends_hint;

  char *header_scheme; /* (owned) */

  BursarAuthorizationMethod authorization_method;
  BursarErrorShape error_shapes;
  GStrv host_override_params; /* (owned) */
  char *api_domain_field;     /* (owned) (nullable) */
  GStrv details_fields;       /* (owned) */
  GStrv headers_from_options; /* (owned) */
  GStrv templated_scopes;     /* (owned) */
};

G_DEFINE_TYPE (BursarProvider, bursar_provider, G_TYPE_OBJECT)

/* The keys a [Provider] group may hold. Anything else is refused, so a
 * misspelt key cannot silently fall back to a default. */
static const char *const provider_keys[] = {
  "Name", "Flows", "Discovery", "EndpointsFromOptions",
  "ClientId", "ClientSecret", "NeedsClientSecret",
  "DefaultScopes", "RequiredScopes", "ScopeSeparator", "TemplatedScopes",
  "Pkce", "AuthorizeParams", "AuthorizationMethod",
  "RedirectHost", "RedirectUriRequired",
  "TokenEncoding", "ClientAuth", "ClientAuthRefresh",
  "ClientAuthClientCredentials", "ClientAuthRevoke",
  "CodeParam", "ExchangeSendsRedirectUri", "ExchangeSendsState",
  "AccessTokenFields", "RefreshAccessTokenFields",
  "RefreshTokenFields", "RefreshRefreshTokenFields",
  "DefaultLifetime", "TokenTypeOptional", "ReauthErrors", "ErrorShapes",
  "Refresh", "RefreshLimit", "ExpiryMargin",
  "Revocation", "RevocationEncoding", "RevocationSendsHint",
  "HeaderScheme", "HeadersFromOptions",
  "HostOverrideParams", "ApiDomainField", "DetailsFields",
};

static const char *const endpoint_keys[N_ENDPOINTS] = {
  [BURSAR_ENDPOINT_ISSUER] = "Issuer",
  [BURSAR_ENDPOINT_AUTHORIZATION] = "AuthorizationEndpoint",
  [BURSAR_ENDPOINT_TOKEN] = "TokenEndpoint",
  [BURSAR_ENDPOINT_REVOCATION] = "RevocationEndpoint",
  [BURSAR_ENDPOINT_USERINFO] = "UserinfoEndpoint",
  [BURSAR_ENDPOINT_API_BASE] = "ApiBaseUrl",
};

static const char *const known_flows[] = {
  "authorization_code", "client_credentials", "personal_access_token",
};

/* Parameters the engine itself writes into the authorization request; a
 * file must not be able to replace them (PKCE, state and the redirect are
 * security properties, not provider quirks). */
static const char *const reserved_authorize_params[] = {
  "response_type", "client_id", "redirect_uri", "scope", "state", "nonce",
  "code_challenge", "code_challenge_method",
};

typedef struct
{
  const char *name;
  int value;
} EnumEntry;

static const EnumEntry encoding_entries[] = {
  { "form", BURSAR_BODY_FORM },
  { "json", BURSAR_BODY_JSON },
  { "query", BURSAR_BODY_QUERY },
  { NULL, 0 },
};

static const EnumEntry client_auth_entries[] = {
  { "post", BURSAR_CLIENT_AUTH_POST },
  { "basic", BURSAR_CLIENT_AUTH_BASIC },
  { "none", BURSAR_CLIENT_AUTH_NONE },
  { "omit", BURSAR_CLIENT_AUTH_OMIT },
  { NULL, 0 },
};

static const EnumEntry revocation_entries[] = {
  { "none", BURSAR_REVOCATION_NONE },
  { "refresh", BURSAR_REVOCATION_REFRESH },
  { "access", BURSAR_REVOCATION_ACCESS },
  { NULL, 0 },
};

static const EnumEntry authorization_method_entries[] = {
  { "get", BURSAR_AUTHORIZATION_GET },
  { "post-json", BURSAR_AUTHORIZATION_POST_JSON },
  { NULL, 0 },
};

static const EnumEntry error_shape_entries[] = {
  { "rfc6749", BURSAR_ERROR_SHAPE_RFC6749 },
  { "ok-with-error", BURSAR_ERROR_SHAPE_OK_WITH_ERROR },
  { "type-message", BURSAR_ERROR_SHAPE_TYPE_MESSAGE },
  { "message-array", BURSAR_ERROR_SHAPE_MESSAGE_ARRAY },
  { "callback-description", BURSAR_ERROR_SHAPE_CALLBACK_DESCRIPTION },
  { NULL, 0 },
};

/* Values are booleans in the ordinary keys; PKCE has its own spelling
 * because "plain" must be refused by name. */
static const EnumEntry pkce_entries[] = {
  { "S256", TRUE },
  { "none", FALSE },
  { NULL, 0 },
};

static const EnumEntry scope_separator_entries[] = {
  { "space", ' ' },
  { "comma", ',' },
  { NULL, 0 },
};

static const EnumEntry redirect_host_entries[] = {
  { "127.0.0.1", 0 },
  { "localhost", 1 },
  { NULL, 0 },
};

/* The state of one parse: the key file and the name used in messages. */
typedef struct
{
  GKeyFile *key_file;
  const char *file; /* path, or "<id>.provider" for data */
} Parser;

static void
environment_free (Environment *env)
{
  g_free (env->name);
  for (guint i = 0; i < N_ENDPOINTS; i++)
    g_free (env->endpoints[i]);
  g_free (env);
}

static void
bursar_provider_finalize (GObject *object)
{
  BursarProvider *self = BURSAR_PROVIDER (object);

  g_free (self->id);
  g_free (self->path);
  g_free (self->name);
  g_strfreev (self->flows);
  g_clear_pointer (&self->environments, g_ptr_array_unref);
  g_strfreev (self->environment_names);
  g_strfreev (self->known_hosts);
  g_free (self->client_id);
  g_clear_pointer (&self->client_secret, bursar_secret_free);
  g_strfreev (self->default_scopes);
  g_strfreev (self->required_scopes);
  g_strfreev (self->authorize_params);
  g_free (self->redirect_host);
  g_free (self->code_param);
  for (guint i = 0; i < 2; i++)
    {
      g_strfreev (self->access_token_fields[i]);
      g_strfreev (self->refresh_token_fields[i]);
    }
  g_strfreev (self->reauth_errors);
  g_free (self->header_scheme);
  g_strfreev (self->host_override_params);
  g_free (self->api_domain_field);
  g_strfreev (self->details_fields);
  g_strfreev (self->headers_from_options);
  g_strfreev (self->templated_scopes);

  G_OBJECT_CLASS (bursar_provider_parent_class)->finalize (object);
}

static void
bursar_provider_class_init (BursarProviderClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = bursar_provider_finalize;
}

static void
bursar_provider_init (BursarProvider *self)
{
  self->environments = g_ptr_array_new_with_free_func ((GDestroyNotify) environment_free);
}

/* --- errors ------------------------------------------------------------ */

/* Every message names the file, the group and the key, so the person who
 * wrote the file can find the line. Values are quoted only where they are
 * not secret (never for ClientSecret). */
static gboolean G_GNUC_PRINTF (5, 6)
set_key_error (GError     **error,
               const Parser *parser,
               const char  *group,
               const char  *key,
               const char  *format,
               ...)
{
  g_autofree char *reason = NULL;
  va_list args;

  va_start (args, format);
  reason = g_strdup_vprintf (format, args);
  va_end (args);

  /* Translators: the first %s is a file, the second a group such as
   * [Provider], the third a key such as TokenEndpoint, the last the
   * reason it was refused. */
  g_set_error (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
               _("%s: key “%s” in group [%s]: %s"),
               parser->file, key, group, reason);
  return FALSE;
}

/* --- small validators -------------------------------------------------- */

static gboolean
str_in (const char        *str,
        const char *const *list,
        gsize              n_list)
{
  for (gsize i = 0; i < n_list; i++)
    if (g_strcmp0 (str, list[i]) == 0)
      return TRUE;
  return FALSE;
}

/* RFC 3986 unreserved characters: safe as a parameter name anywhere. */
static gboolean
is_param_name (const char *str)
{
  if (str == NULL || *str == '\0')
    return FALSE;
  for (const char *p = str; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && strchr ("-._~", *p) == NULL)
      return FALSE;
  return TRUE;
}

/* RFC 9110 token: header names and authentication schemes. */
static gboolean
is_http_token (const char *str)
{
  if (str == NULL || *str == '\0')
    return FALSE;
  for (const char *p = str; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && strchr ("!#$%&'*+-.^_`|~", *p) == NULL)
      return FALSE;
  return TRUE;
}

/* A JSON member or claim name: anything printable without spaces. */
static gboolean
is_member_name (const char *str)
{
  if (str == NULL || *str == '\0' || !g_utf8_validate (str, -1, NULL))
    return FALSE;
  for (const char *p = str; *p != '\0'; p++)
    if ((guchar) *p <= 0x20 || *p == 0x7f)
      return FALSE;
  return TRUE;
}

/* RFC 6749 §3.3 scope-token, minus the separator in use. */
static gboolean
is_scope_token (const char *str,
                char        separator)
{
  if (str == NULL || *str == '\0')
    return FALSE;
  for (const char *p = str; *p != '\0'; p++)
    {
      guchar c = (guchar) *p;

      if (c < 0x21 || c > 0x7e || c == '"' || c == '\\' || c == (guchar) separator)
        return FALSE;
    }
  return TRUE;
}

/* A host name or IP literal as the known-hosts list holds it. */
static gboolean
is_host_name (const char *str)
{
  gsize len;

  if (str == NULL || *str == '\0')
    return FALSE;
  if (g_hostname_is_ip_address (str))
    return TRUE;
  len = strlen (str);
  if (str[0] == '.' || str[0] == '-' || str[len - 1] == '.' || str[len - 1] == '-')
    return FALSE;
  for (const char *p = str; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && *p != '.' && *p != '-')
      return FALSE;
  return TRUE;
}

/* Checks a "{name}" template: placeholders are [a-z0-9_]+ and braces
 * balance. @out_n_placeholders counts them. */
static gboolean
is_template (const char *str,
             guint      *out_n_placeholders)
{
  guint n = 0;

  for (const char *p = str; *p != '\0'; p++)
    {
      if (*p == '}')
        return FALSE;
      if (*p != '{')
        continue;

      p++;
      if (*p == '}')
        return FALSE;
      while (*p != '}')
        {
          if (*p == '\0' || !(g_ascii_islower (*p) || g_ascii_isdigit (*p) || *p == '_'))
            return FALSE;
          p++;
        }
      n++;
    }
  *out_n_placeholders = n;
  return TRUE;
}

static gboolean
is_loopback_host (const char *host)
{
  g_autoptr(GInetAddress) address = NULL;

  if (g_ascii_strcasecmp (host, "localhost") == 0)
    return TRUE;
  address = g_inet_address_new_from_string (host);
  return address != NULL && g_inet_address_get_is_loopback (address);
}

/* An endpoint is an absolute https: URL (http: only on loopback, for test
 * servers), without user info or fragment. On success the lower-cased host
 * goes to @out_host. */
static gboolean
check_url (const Parser *parser,
           const char   *group,
           const char   *key,
           const char   *url,
           char        **out_host,
           GError      **error)
{
  g_autoptr(GUri) uri = NULL;
  const char *scheme;
  const char *host;

  uri = g_uri_parse (url, G_URI_FLAGS_NONE, NULL);
  if (uri == NULL)
    return set_key_error (error, parser, group, key, _("“%s” is not a URL"), url);

  scheme = g_uri_get_scheme (uri);
  host = g_uri_get_host (uri);
  if (host == NULL || *host == '\0')
    return set_key_error (error, parser, group, key, _("“%s” has no host"), url);
  if (g_ascii_strcasecmp (scheme, "https") != 0
      && !(g_ascii_strcasecmp (scheme, "http") == 0 && is_loopback_host (host)))
    return set_key_error (error, parser, group, key,
                          _("“%s” must use https: (http: is allowed only on loopback)"), url);
  if (g_uri_get_userinfo (uri) != NULL)
    return set_key_error (error, parser, group, key,
                          _("a URL must not carry user information"));
  if (g_uri_get_fragment (uri) != NULL)
    return set_key_error (error, parser, group, key,
                          _("“%s” must not have a fragment"), url);

  *out_host = g_ascii_strdown (host, -1);
  return TRUE;
}

/* --- typed key readers ------------------------------------------------- */
/* Each returns FALSE with an error naming the key; a missing key gives the
 * default. */

static gboolean
read_string (const Parser *parser,
             const char   *group,
             const char   *key,
             const char   *default_value,
             char        **out_value,
             GError      **error)
{
  g_autofree char *value = NULL;

  if (!g_key_file_has_key (parser->key_file, group, key, NULL))
    {
      *out_value = g_strdup (default_value);
      return TRUE;
    }

  value = g_key_file_get_string (parser->key_file, group, key, NULL);
  if (value == NULL || !g_utf8_validate (value, -1, NULL))
    return set_key_error (error, parser, group, key, _("the value is not valid UTF-8 text"));
  if (*value == '\0')
    return set_key_error (error, parser, group, key, _("the value is empty"));

  *out_value = g_steal_pointer (&value);
  return TRUE;
}

static gboolean
read_boolean (const Parser *parser,
              const char   *group,
              const char   *key,
              gboolean      default_value,
              gboolean     *out_value,
              GError      **error)
{
  g_autoptr(GError) local_error = NULL;
  gboolean value;

  if (!g_key_file_has_key (parser->key_file, group, key, NULL))
    {
      *out_value = default_value;
      return TRUE;
    }

  value = g_key_file_get_boolean (parser->key_file, group, key, &local_error);
  if (local_error != NULL)
    return set_key_error (error, parser, group, key, _("the value must be true or false"));

  *out_value = value;
  return TRUE;
}

static gboolean
read_int64 (const Parser *parser,
            const char   *group,
            const char   *key,
            gint64        default_value,
            gint64        max_value,
            gint64       *out_value,
            GError      **error)
{
  g_autofree char *text = NULL;
  gint64 value;

  if (!read_string (parser, group, key, NULL, &text, error))
    return FALSE;
  if (text == NULL)
    {
      *out_value = default_value;
      return TRUE;
    }

  if (!g_ascii_string_to_signed (text, 10, 0, max_value, &value, NULL))
    {
      /* Formatted apart: xgettext cannot read a format macro. */
      g_autofree char *max_text = g_strdup_printf ("%" G_GINT64_FORMAT, max_value);

      return set_key_error (error, parser, group, key,
                            _("the value must be a whole number from 0 to %s"), max_text);
    }

  *out_value = value;
  return TRUE;
}

static gboolean
read_enum (const Parser    *parser,
           const char      *group,
           const char      *key,
           const EnumEntry *entries,
           int              default_value,
           int             *out_value,
           GError         **error)
{
  g_autofree char *text = NULL;
  g_autoptr(GString) allowed = NULL;

  if (!read_string (parser, group, key, NULL, &text, error))
    return FALSE;
  if (text == NULL)
    {
      *out_value = default_value;
      return TRUE;
    }

  for (const EnumEntry *e = entries; e->name != NULL; e++)
    {
      if (g_strcmp0 (text, e->name) == 0)
        {
          *out_value = e->value;
          return TRUE;
        }
    }

  allowed = g_string_new (NULL);
  for (const EnumEntry *e = entries; e->name != NULL; e++)
    g_string_append_printf (allowed, "%s%s", allowed->len > 0 ? ", " : "", e->name);

  return set_key_error (error, parser, group, key, _("“%s” is not one of: %s"),
                        text, allowed->str);
}

typedef gboolean (*ItemCheck) (const char *item,
                               gpointer    user_data);

/* A ';'-separated list. A missing key gives @default_value (copied); an
 * item failing @check is an error. The result is never NULL. */
static gboolean
read_list (const Parser      *parser,
           const char        *group,
           const char        *key,
           const char *const *default_value,
           ItemCheck          check,
           gpointer           check_data,
           GStrv             *out_value,
           GError           **error)
{
  g_auto(GStrv) items = NULL;

  if (!g_key_file_has_key (parser->key_file, group, key, NULL))
    {
      *out_value = default_value != NULL ? g_strdupv ((char **) default_value) : g_new0 (char *, 1);
      return TRUE;
    }

  items = g_key_file_get_string_list (parser->key_file, group, key, NULL, NULL);
  if (items == NULL)
    items = g_new0 (char *, 1);

  for (guint i = 0; items[i] != NULL; i++)
    {
      if (!g_utf8_validate (items[i], -1, NULL))
        return set_key_error (error, parser, group, key, _("the value is not valid UTF-8 text"));
      if (check != NULL && !check (items[i], check_data))
        return set_key_error (error, parser, group, key, _("“%s” is not a valid entry"), items[i]);
    }

  *out_value = g_steal_pointer (&items);
  return TRUE;
}

static gboolean
check_member_name (const char *item,
                   gpointer    user_data)
{
  return is_member_name (item);
}

static gboolean
check_param_name (const char *item,
                  gpointer    user_data)
{
  return is_param_name (item);
}

static gboolean
check_scope (const char *item,
             gpointer    user_data)
{
  return is_scope_token (item, GPOINTER_TO_INT (user_data));
}

static gboolean
check_flow (const char *item,
            gpointer    user_data)
{
  return str_in (item, known_flows, G_N_ELEMENTS (known_flows));
}

static gboolean
check_host (const char *item,
            gpointer    user_data)
{
  return is_host_name (item);
}

/* "name=value": a parameter the engine does not write itself. */
static gboolean
check_authorize_param (const char *item,
                       gpointer    user_data)
{
  const char *eq = strchr (item, '=');
  g_autofree char *name = NULL;

  if (eq == NULL)
    return FALSE;
  name = g_strndup (item, eq - item);
  if (!is_param_name (name))
    return FALSE;
  if (str_in (name, reserved_authorize_params, G_N_ELEMENTS (reserved_authorize_params)))
    return FALSE;
  for (const char *p = eq + 1; *p != '\0'; p++)
    if ((guchar) *p < 0x20 || *p == 0x7f)
      return FALSE;
  return TRUE;
}

/* "member" or "detail=member". */
static gboolean
check_details_field (const char *item,
                     gpointer    user_data)
{
  const char *eq = strchr (item, '=');
  g_autofree char *detail = NULL;

  if (eq == NULL)
    return is_member_name (item);
  detail = g_strndup (item, eq - item);
  return is_param_name (detail) && is_member_name (eq + 1);
}

/* "Header-Name=template"; the engine writes Authorization itself. */
static gboolean
check_header_template (const char *item,
                       gpointer    user_data)
{
  const char *eq = strchr (item, '=');
  g_autofree char *header = NULL;
  guint n_placeholders;

  if (eq == NULL)
    return FALSE;
  header = g_strndup (item, eq - item);
  if (!is_http_token (header) || g_ascii_strcasecmp (header, "Authorization") == 0)
    return FALSE;
  for (const char *p = eq + 1; *p != '\0'; p++)
    if ((guchar) *p < 0x20 || *p == 0x7f)
      return FALSE;
  return *(eq + 1) != '\0' && is_template (eq + 1, &n_placeholders) && n_placeholders > 0;
}

/* A scope with at least one {placeholder}; the rest must be scope text. */
static gboolean
check_scope_template (const char *item,
                      gpointer    user_data)
{
  g_autoptr(GString) stripped = g_string_new (NULL);
  guint n_placeholders;

  if (!is_template (item, &n_placeholders) || n_placeholders == 0)
    return FALSE;
  for (const char *p = item; *p != '\0'; p++)
    {
      if (*p == '{' || *p == '}')
        continue;
      g_string_append_c (stripped, *p);
    }
  return is_scope_token (stripped->str, GPOINTER_TO_INT (user_data));
}

/* --- the groups -------------------------------------------------------- */

/* Keys of the form Name[de] are translations; only Name has them. */
static gboolean
check_provider_keys (const Parser *parser,
                     GError      **error)
{
  g_auto(GStrv) keys = g_key_file_get_keys (parser->key_file, PROVIDER_GROUP, NULL, NULL);

  for (guint i = 0; keys != NULL && keys[i] != NULL; i++)
    {
      const char *bracket = strchr (keys[i], '[');
      g_autofree char *base = NULL;

      base = bracket != NULL ? g_strndup (keys[i], bracket - keys[i]) : g_strdup (keys[i]);
      if (bracket != NULL && g_strcmp0 (base, "Name") != 0)
        return set_key_error (error, parser, PROVIDER_GROUP, keys[i],
                              _("only Name may be translated"));
      if (!str_in (base, provider_keys, G_N_ELEMENTS (provider_keys)))
        return set_key_error (error, parser, PROVIDER_GROUP, keys[i], _("unknown key"));
    }
  return TRUE;
}

static gboolean
is_environment_name (const char *name)
{
  if (*name == '\0')
    return FALSE;
  for (const char *p = name; *p != '\0'; p++)
    if (!g_ascii_islower (*p) && !g_ascii_isdigit (*p) && *p != '-' && *p != '_')
      return FALSE;
  return TRUE;
}

/* Adds @host to @hosts unless it is there already. */
static void
add_host (GPtrArray  *hosts,
          const char *host)
{
  for (guint i = 0; i < hosts->len; i++)
    if (g_strcmp0 (g_ptr_array_index (hosts, i), host) == 0)
      return;
  g_ptr_array_add (hosts, g_strdup (host));
}

static gboolean
parse_environment (BursarProvider *self,
                   const Parser   *parser,
                   const char     *group,
                   GPtrArray      *hosts,
                   GError        **error)
{
  g_auto(GStrv) keys = NULL;
  g_auto(GStrv) known_hosts = NULL;
  Environment *env;
  const char *name = group + strlen (ENVIRONMENT_PREFIX);
  gboolean fixed_endpoints = !self->discovery && !self->endpoints_from_options;

  if (!is_environment_name (name))
    {
      g_set_error (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                   _("%s: group [%s]: an environment name may hold only a–z, 0–9, “-” and “_”"),
                   parser->file, group);
      return FALSE;
    }

  keys = g_key_file_get_keys (parser->key_file, group, NULL, NULL);
  for (guint i = 0; keys != NULL && keys[i] != NULL; i++)
    {
      if (!str_in (keys[i], endpoint_keys, N_ENDPOINTS) && g_strcmp0 (keys[i], "KnownHosts") != 0)
        return set_key_error (error, parser, group, keys[i], _("unknown key"));
    }

  env = g_new0 (Environment, 1);
  env->name = g_strdup (name);
  g_ptr_array_add (self->environments, env);

  for (guint i = 0; i < N_ENDPOINTS; i++)
    {
      g_autofree char *url = NULL;
      g_autofree char *host = NULL;

      if (!read_string (parser, group, endpoint_keys[i], NULL, &url, error))
        return FALSE;
      if (url == NULL)
        continue;
      if (!check_url (parser, group, endpoint_keys[i], url, &host, error))
        return FALSE;
      add_host (hosts, host);
      env->endpoints[i] = g_steal_pointer (&url);
    }

  if (!read_list (parser, group, "KnownHosts", NULL, check_host, NULL, &known_hosts, error))
    return FALSE;
  for (guint i = 0; known_hosts[i] != NULL; i++)
    {
      g_autofree char *host = g_ascii_strdown (known_hosts[i], -1);
      add_host (hosts, host);
    }

  /* Without discovery or options the file is the only source of the
   * endpoints the chosen flows need. With discovery, the issuer (or a
   * fixed token endpoint) must be there to start from. */
  if (fixed_endpoints && env->endpoints[BURSAR_ENDPOINT_TOKEN] == NULL)
    return set_key_error (error, parser, group, "TokenEndpoint", _("the key is missing"));
  if (fixed_endpoints
      && g_strv_contains ((const char * const *) self->flows, "authorization_code")
      && env->endpoints[BURSAR_ENDPOINT_AUTHORIZATION] == NULL)
    return set_key_error (error, parser, group, "AuthorizationEndpoint",
                          _("the key is missing (flow authorization_code needs it)"));
  if (fixed_endpoints
      && g_strv_contains ((const char * const *) self->flows, "personal_access_token")
      && env->endpoints[BURSAR_ENDPOINT_USERINFO] == NULL)
    return set_key_error (error, parser, group, "UserinfoEndpoint",
                          _("the key is missing (flow personal_access_token needs it)"));
  if (self->discovery
      && env->endpoints[BURSAR_ENDPOINT_ISSUER] == NULL
      && env->endpoints[BURSAR_ENDPOINT_TOKEN] == NULL)
    return set_key_error (error, parser, group, "Issuer",
                          _("the key is missing (Discovery=true needs it)"));

  return TRUE;
}

static gboolean
parse_environments (BursarProvider *self,
                    const Parser   *parser,
                    GError        **error)
{
  g_auto(GStrv) groups = g_key_file_get_groups (parser->key_file, NULL);
  g_autoptr(GPtrArray) hosts = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; groups[i] != NULL; i++)
    {
      if (g_strcmp0 (groups[i], PROVIDER_GROUP) == 0)
        continue;
      if (!g_str_has_prefix (groups[i], ENVIRONMENT_PREFIX))
        {
          g_set_error (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                       _("%s: unknown group [%s]"), parser->file, groups[i]);
          return FALSE;
        }
      if (!parse_environment (self, parser, groups[i], hosts, error))
        return FALSE;
    }

  if (self->environments->len == 0 && !self->discovery && !self->endpoints_from_options)
    {
      g_set_error (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                   _("%s: no [Environment NAME] group, and neither Discovery nor EndpointsFromOptions is true"),
                   parser->file);
      return FALSE;
    }

  for (guint i = 0; i < self->environments->len; i++)
    {
      Environment *env = g_ptr_array_index (self->environments, i);
      g_ptr_array_add (names, g_strdup (env->name));
    }
  g_ptr_array_add (names, NULL);
  self->environment_names = (GStrv) g_ptr_array_free (g_steal_pointer (&names), FALSE);

  g_ptr_array_add (hosts, NULL);
  self->known_hosts = (GStrv) g_ptr_array_free (g_steal_pointer (&hosts), FALSE);
  return TRUE;
}

static gboolean
parse_client (BursarProvider *self,
              const Parser   *parser,
              GError        **error)
{
  static const char *const call_keys[N_CALLS] = {
    [BURSAR_CALL_EXCHANGE] = "ClientAuth",
    [BURSAR_CALL_REFRESH] = "ClientAuthRefresh",
    [BURSAR_CALL_CLIENT_CREDENTIALS] = "ClientAuthClientCredentials",
    [BURSAR_CALL_REVOKE] = "ClientAuthRevoke",
  };
  g_auto(BursarSecret) secret = NULL;
  gboolean confidential;
  int value;

  if (!read_string (parser, PROVIDER_GROUP, "ClientId", NULL, &self->client_id, error))
    return FALSE;

  /* Not read_string(): its messages are fine, but the value is a secret
   * and must be wiped once copied. */
  if (g_key_file_has_key (parser->key_file, PROVIDER_GROUP, "ClientSecret", NULL))
    {
      secret = g_key_file_get_string (parser->key_file, PROVIDER_GROUP, "ClientSecret", NULL);
      if (secret == NULL || *secret == '\0' || !g_utf8_validate (secret, -1, NULL))
        return set_key_error (error, parser, PROVIDER_GROUP, "ClientSecret",
                              _("the value is empty or not valid UTF-8 text"));
      if (self->client_id == NULL)
        return set_key_error (error, parser, PROVIDER_GROUP, "ClientId",
                              _("the key is missing (ClientSecret needs it)"));
      self->client_secret = g_steal_pointer (&secret);
    }

  if (!read_enum (parser, PROVIDER_GROUP, call_keys[BURSAR_CALL_EXCHANGE], client_auth_entries,
                  BURSAR_CLIENT_AUTH_POST, &value, error))
    return FALSE;
  self->client_auth[BURSAR_CALL_EXCHANGE] = value;

  /* The other calls default to the exchange's choice. */
  for (guint i = BURSAR_CALL_EXCHANGE + 1; i < N_CALLS; i++)
    {
      if (!read_enum (parser, PROVIDER_GROUP, call_keys[i], client_auth_entries,
                      self->client_auth[BURSAR_CALL_EXCHANGE], &value, error))
        return FALSE;
      self->client_auth[i] = value;
    }

  /* Client credentials without a secret make no sense. */
  if (g_strv_contains ((const char * const *) self->flows, "client_credentials")
      && self->client_auth[BURSAR_CALL_CLIENT_CREDENTIALS] != BURSAR_CLIENT_AUTH_POST
      && self->client_auth[BURSAR_CALL_CLIENT_CREDENTIALS] != BURSAR_CLIENT_AUTH_BASIC)
    return set_key_error (error, parser, PROVIDER_GROUP,
                          g_key_file_has_key (parser->key_file, PROVIDER_GROUP,
                                              call_keys[BURSAR_CALL_CLIENT_CREDENTIALS], NULL)
                            ? call_keys[BURSAR_CALL_CLIENT_CREDENTIALS]
                            : call_keys[BURSAR_CALL_EXCHANGE],
                          _("flow client_credentials needs post or basic"));

  /* By default the user must bring a secret when the client authenticates
   * with one on its first call and the file ships none. */
  if (g_strv_contains ((const char * const *) self->flows, "authorization_code"))
    value = self->client_auth[BURSAR_CALL_EXCHANGE];
  else
    value = self->client_auth[BURSAR_CALL_CLIENT_CREDENTIALS];
  confidential = value == BURSAR_CLIENT_AUTH_POST || value == BURSAR_CLIENT_AUTH_BASIC;
  if (!read_boolean (parser, PROVIDER_GROUP, "NeedsClientSecret",
                     confidential && self->client_secret == NULL,
                     &self->needs_client_secret, error))
    return FALSE;

  return TRUE;
}

static gboolean
parse_scopes (BursarProvider *self,
              const Parser   *parser,
              GError        **error)
{
  int separator;

  if (!read_enum (parser, PROVIDER_GROUP, "ScopeSeparator", scope_separator_entries,
                  ' ', &separator, error))
    return FALSE;
  self->scope_separator = separator == ',' ? "," : " ";

  if (!read_list (parser, PROVIDER_GROUP, "DefaultScopes", NULL, check_scope,
                  GINT_TO_POINTER (separator), &self->default_scopes, error))
    return FALSE;
  if (!read_list (parser, PROVIDER_GROUP, "RequiredScopes", NULL, check_scope,
                  GINT_TO_POINTER (separator), &self->required_scopes, error))
    return FALSE;
  if (!read_list (parser, PROVIDER_GROUP, "TemplatedScopes", NULL, check_scope_template,
                  GINT_TO_POINTER (separator), &self->templated_scopes, error))
    return FALSE;
  return TRUE;
}

static gboolean
parse_authorization (BursarProvider *self,
                     const Parser   *parser,
                     GError        **error)
{
  g_autofree char *pkce = NULL;
  int value;

  /* "plain" gets its own message: it is a known PKCE method, refused on
   * purpose (RFC 9700 §2.1.1), not a typo. */
  if (!read_string (parser, PROVIDER_GROUP, "Pkce", NULL, &pkce, error))
    return FALSE;
  if (g_strcmp0 (pkce, "plain") == 0)
    return set_key_error (error, parser, PROVIDER_GROUP, "Pkce",
                          _("the plain method is refused; use S256 or none"));
  if (!read_enum (parser, PROVIDER_GROUP, "Pkce", pkce_entries, TRUE, &self->pkce, error))
    return FALSE;

  if (!read_enum (parser, PROVIDER_GROUP, "AuthorizationMethod", authorization_method_entries,
                  BURSAR_AUTHORIZATION_GET, &value, error))
    return FALSE;
  self->authorization_method = value;

  if (!read_list (parser, PROVIDER_GROUP, "AuthorizeParams", NULL, check_authorize_param,
                  NULL, &self->authorize_params, error))
    return FALSE;

  if (!read_enum (parser, PROVIDER_GROUP, "RedirectHost", redirect_host_entries, 0, &value, error))
    return FALSE;
  self->redirect_host = g_strdup (redirect_host_entries[value].name);

  if (!read_boolean (parser, PROVIDER_GROUP, "RedirectUriRequired", FALSE,
                     &self->redirect_uri_required, error))
    return FALSE;

  if (!read_list (parser, PROVIDER_GROUP, "HostOverrideParams", NULL, check_param_name,
                  NULL, &self->host_override_params, error))
    return FALSE;

  return TRUE;
}

static gboolean
parse_token (BursarProvider *self,
             const Parser   *parser,
             GError        **error)
{
  static const char *const default_access[] = { "access_token", NULL };
  static const char *const default_refresh[] = { "refresh_token", NULL };
  static const char *const default_reauth[] = { "invalid_grant", NULL };
  static const char *const default_shapes[] = { "rfc6749", NULL };
  g_auto(GStrv) shapes = NULL;
  g_autofree char *limit = NULL;
  int value;

  if (!read_enum (parser, PROVIDER_GROUP, "TokenEncoding", encoding_entries,
                  BURSAR_BODY_FORM, &value, error))
    return FALSE;
  self->token_encoding = value;

  if (!read_string (parser, PROVIDER_GROUP, "CodeParam", "code", &self->code_param, error))
    return FALSE;
  if (!is_param_name (self->code_param))
    return set_key_error (error, parser, PROVIDER_GROUP, "CodeParam",
                          _("“%s” is not a valid parameter name"), self->code_param);

  if (!read_boolean (parser, PROVIDER_GROUP, "ExchangeSendsRedirectUri", TRUE,
                     &self->exchange_sends_redirect_uri, error)
      || !read_boolean (parser, PROVIDER_GROUP, "ExchangeSendsState", FALSE,
                        &self->exchange_sends_state, error))
    return FALSE;

  if (!read_list (parser, PROVIDER_GROUP, "AccessTokenFields", default_access,
                  check_member_name, NULL, &self->access_token_fields[0], error)
      || !read_list (parser, PROVIDER_GROUP, "RefreshAccessTokenFields",
                     (const char * const *) self->access_token_fields[0],
                     check_member_name, NULL, &self->access_token_fields[1], error)
      || !read_list (parser, PROVIDER_GROUP, "RefreshTokenFields", default_refresh,
                     check_member_name, NULL, &self->refresh_token_fields[0], error)
      || !read_list (parser, PROVIDER_GROUP, "RefreshRefreshTokenFields",
                     (const char * const *) self->refresh_token_fields[0],
                     check_member_name, NULL, &self->refresh_token_fields[1], error))
    return FALSE;
  if (self->access_token_fields[0][0] == NULL)
    return set_key_error (error, parser, PROVIDER_GROUP, "AccessTokenFields", _("the list is empty"));
  if (self->access_token_fields[1][0] == NULL)
    return set_key_error (error, parser, PROVIDER_GROUP, "RefreshAccessTokenFields",
                          _("the list is empty"));

  /* Ten years: beyond that a "lifetime" is a typo. */
  if (!read_int64 (parser, PROVIDER_GROUP, "DefaultLifetime", 0, 10 * 365 * 24 * 3600,
                   &self->default_lifetime, error)
      || !read_int64 (parser, PROVIDER_GROUP, "ExpiryMargin", 60, 24 * 3600,
                      &self->expiry_margin, error))
    return FALSE;

  if (!read_boolean (parser, PROVIDER_GROUP, "TokenTypeOptional", FALSE,
                     &self->token_type_optional, error)
      || !read_boolean (parser, PROVIDER_GROUP, "Refresh", TRUE,
                        &self->refresh_supported, error))
    return FALSE;

  if (!read_list (parser, PROVIDER_GROUP, "ReauthErrors", default_reauth,
                  check_param_name, NULL, &self->reauth_errors, error))
    return FALSE;

  if (!read_list (parser, PROVIDER_GROUP, "ErrorShapes", default_shapes, NULL, NULL, &shapes, error))
    return FALSE;
  for (guint i = 0; shapes[i] != NULL; i++)
    {
      gboolean found = FALSE;

      for (const EnumEntry *e = error_shape_entries; e->name != NULL; e++)
        {
          if (g_strcmp0 (shapes[i], e->name) == 0)
            {
              self->error_shapes |= e->value;
              found = TRUE;
            }
        }
      if (!found)
        return set_key_error (error, parser, PROVIDER_GROUP, "ErrorShapes",
                              _("“%s” is not a known error shape"), shapes[i]);
    }

  /* COUNT/SECONDS, e.g. Zoho's 10 refreshes per 10 minutes. */
  if (!read_string (parser, PROVIDER_GROUP, "RefreshLimit", NULL, &limit, error))
    return FALSE;
  if (limit != NULL)
    {
      g_auto(GStrv) parts = g_strsplit (limit, "/", 3);
      guint64 count, window;

      if (g_strv_length (parts) != 2
          || !g_ascii_string_to_unsigned (parts[0], 10, 1, G_MAXUINT, &count, NULL)
          || !g_ascii_string_to_unsigned (parts[1], 10, 1, G_MAXUINT, &window, NULL))
        return set_key_error (error, parser, PROVIDER_GROUP, "RefreshLimit",
                              _("the value must look like COUNT/SECONDS, e.g. 10/600"));
      self->refresh_limit_count = count;
      self->refresh_limit_window = window;
    }

  if (!read_string (parser, PROVIDER_GROUP, "ApiDomainField", NULL, &self->api_domain_field, error))
    return FALSE;
  if (self->api_domain_field != NULL && !is_member_name (self->api_domain_field))
    return set_key_error (error, parser, PROVIDER_GROUP, "ApiDomainField",
                          _("“%s” is not a valid member name"), self->api_domain_field);

  if (!read_list (parser, PROVIDER_GROUP, "DetailsFields", NULL, check_details_field,
                  NULL, &self->details_fields, error))
    return FALSE;

  return TRUE;
}

static gboolean
parse_revocation_and_api (BursarProvider *self,
                          const Parser   *parser,
                          GError        **error)
{
  gboolean all_have_endpoint = self->environments->len > 0;
  gboolean any_has_endpoint = FALSE;
  int value;

  for (guint i = 0; i < self->environments->len; i++)
    {
      Environment *env = g_ptr_array_index (self->environments, i);

      if (env->endpoints[BURSAR_ENDPOINT_REVOCATION] != NULL)
        any_has_endpoint = TRUE;
      else
        all_have_endpoint = FALSE;
    }

  /* Revoke where the file (or discovery) names an endpoint. */
  if (!read_enum (parser, PROVIDER_GROUP, "Revocation", revocation_entries,
                  any_has_endpoint || self->discovery ? BURSAR_REVOCATION_REFRESH : BURSAR_REVOCATION_NONE,
                  &value, error))
    return FALSE;
  self->revocation = value;
  if (self->revocation != BURSAR_REVOCATION_NONE
      && !self->discovery && !self->endpoints_from_options && !all_have_endpoint)
    return set_key_error (error, parser, PROVIDER_GROUP, "Revocation",
                          _("every environment needs a RevocationEndpoint, or set Revocation=none"));

  if (!read_enum (parser, PROVIDER_GROUP, "RevocationEncoding", encoding_entries,
                  BURSAR_BODY_FORM, &value, error))
    return FALSE;
  self->revocation_encoding = value;
  if (!read_boolean (parser, PROVIDER_GROUP, "RevocationSendsHint", TRUE,
                     &self->revocation_sends_hint, error))
    return FALSE;

  if (!read_string (parser, PROVIDER_GROUP, "HeaderScheme", "Bearer", &self->header_scheme, error))
    return FALSE;
  if (!is_http_token (self->header_scheme))
    return set_key_error (error, parser, PROVIDER_GROUP, "HeaderScheme",
                          _("“%s” is not a valid authentication scheme"), self->header_scheme);

  if (!read_list (parser, PROVIDER_GROUP, "HeadersFromOptions", NULL, check_header_template,
                  NULL, &self->headers_from_options, error))
    return FALSE;

  return TRUE;
}

static gboolean
parse_provider (BursarProvider *self,
                const Parser   *parser,
                GError        **error)
{
  static const char *const default_flows[] = { "authorization_code", NULL };
  g_autofree char *name = NULL;

  if (!g_key_file_has_group (parser->key_file, PROVIDER_GROUP))
    {
      g_set_error (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                   _("%s: the group [%s] is missing"), parser->file, PROVIDER_GROUP);
      return FALSE;
    }
  if (!check_provider_keys (parser, error))
    return FALSE;

  /* NULL locale: the current one, LANGUAGE included. */
  name = g_key_file_get_locale_string (parser->key_file, PROVIDER_GROUP, "Name", NULL, NULL);
  if (name == NULL || *name == '\0' || !g_utf8_validate (name, -1, NULL))
    return set_key_error (error, parser, PROVIDER_GROUP, "Name", _("the key is missing or empty"));
  self->name = g_steal_pointer (&name);

  if (!read_list (parser, PROVIDER_GROUP, "Flows", default_flows, check_flow, NULL,
                  &self->flows, error))
    return FALSE;
  if (self->flows[0] == NULL)
    return set_key_error (error, parser, PROVIDER_GROUP, "Flows", _("the list is empty"));
  for (guint i = 0; self->flows[i] != NULL; i++)
    for (guint j = 0; j < i; j++)
      if (g_strcmp0 (self->flows[i], self->flows[j]) == 0)
        return set_key_error (error, parser, PROVIDER_GROUP, "Flows",
                              _("“%s” is listed twice"), self->flows[i]);

  if (!read_boolean (parser, PROVIDER_GROUP, "Discovery", FALSE, &self->discovery, error)
      || !read_boolean (parser, PROVIDER_GROUP, "EndpointsFromOptions", FALSE,
                        &self->endpoints_from_options, error))
    return FALSE;
  if (self->discovery && self->endpoints_from_options)
    return set_key_error (error, parser, PROVIDER_GROUP, "EndpointsFromOptions",
                          _("Discovery and EndpointsFromOptions exclude each other"));

  return parse_environments (self, parser, error)
         && parse_client (self, parser, error)
         && parse_scopes (self, parser, error)
         && parse_authorization (self, parser, error)
         && parse_token (self, parser, error)
         && parse_revocation_and_api (self, parser, error);
}

/* The id becomes part of D-Bus answers and keyring attributes. */
static gboolean
is_valid_id (const char *id)
{
  if (id == NULL || *id == '\0' || strlen (id) > 64)
    return FALSE;
  for (const char *p = id; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_')
      return FALSE;
  return TRUE;
}

static BursarProvider *
provider_new (const char  *id,
              const char  *path,
              const char  *file,
              const char  *data,
              gsize        length,
              GError     **error)
{
  g_autoptr(BursarProvider) self = NULL;
  g_autoptr(GKeyFile) key_file = g_key_file_new ();
  g_autoptr(GError) local_error = NULL;
  Parser parser = { key_file, file };

  if (!is_valid_id (id))
    {
      g_set_error (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                   _("%s: a provider id may hold only letters, digits, “-” and “_”"), file);
      return NULL;
    }

  /* Keep every translation so that a translated key other than Name is
   * refused whatever the current locale is. */
  if (!g_key_file_load_from_data (key_file, data, length, G_KEY_FILE_KEEP_TRANSLATIONS, &local_error))
    {
      g_propagate_prefixed_error (error, g_steal_pointer (&local_error), "%s: ", file);
      return NULL;
    }

  self = g_object_new (BURSAR_TYPE_PROVIDER, NULL);
  self->id = g_strdup (id);
  self->path = g_strdup (path);
  if (!parse_provider (self, &parser, error))
    return NULL;

  return g_steal_pointer (&self);
}

BursarProvider *
bursar_provider_new_from_file (const char  *path,
                               GError     **error)
{
  g_autofree char *basename = NULL;
  g_autofree char *id = NULL;
  g_autofree char *data = NULL;
  g_autoptr(GError) local_error = NULL;
  gsize length;
  GStatBuf st;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  basename = g_path_get_basename (path);
  if (!g_str_has_suffix (basename, ".provider"))
    {
      g_set_error (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                   _("%s: a provider file name must end in “.provider”"), path);
      return NULL;
    }
  id = g_strndup (basename, strlen (basename) - strlen (".provider"));

  /* Refuse devices and FIFOs before reading: g_file_get_contents() would
   * block on a FIFO or read /dev/zero until memory runs out. */
  if (g_stat (path, &st) != 0 || !S_ISREG (st.st_mode) || st.st_size > MAX_FILE_SIZE)
    {
      g_set_error (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                   _("%s: not a regular file of at most %d bytes"), path, MAX_FILE_SIZE);
      return NULL;
    }

  if (!g_file_get_contents (path, &data, &length, &local_error))
    {
      g_set_error (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                   "%s", local_error->message);
      return NULL;
    }

  return provider_new (id, path, path, data, length, error);
}

BursarProvider *
bursar_provider_new_from_data (const char  *id,
                               const char  *data,
                               gssize       length,
                               GError     **error)
{
  g_autofree char *file = NULL;

  g_return_val_if_fail (id != NULL, NULL);
  g_return_val_if_fail (data != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  file = g_strconcat (id, ".provider", NULL);
  return provider_new (id, NULL, file, data, length < 0 ? strlen (data) : (gsize) length, error);
}

/* --- getters ----------------------------------------------------------- */

const char *
bursar_provider_get_id (BursarProvider *self)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), NULL);
  return self->id;
}

const char *
bursar_provider_get_path (BursarProvider *self)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), NULL);
  return self->path;
}

const char *
bursar_provider_get_name (BursarProvider *self)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), NULL);
  return self->name;
}

const char * const *
bursar_provider_get_flows (BursarProvider *self)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), NULL);
  return (const char * const *) self->flows;
}

gboolean
bursar_provider_supports_flow (BursarProvider *self,
                               const char     *flow)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), FALSE);
  return flow != NULL && g_strv_contains ((const char * const *) self->flows, flow);
}

const char * const *
bursar_provider_get_environments (BursarProvider *self)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), NULL);
  return (const char * const *) self->environment_names;
}

gboolean
bursar_provider_has_environment (BursarProvider *self,
                                 const char     *environment)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), FALSE);
  return environment != NULL
         && g_strv_contains ((const char * const *) self->environment_names, environment);
}

const char *
bursar_provider_get_endpoint (BursarProvider *self,
                              const char     *environment,
                              BursarEndpoint  endpoint)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), NULL);
  g_return_val_if_fail ((guint) endpoint < N_ENDPOINTS, NULL);

  for (guint i = 0; i < self->environments->len; i++)
    {
      Environment *env = g_ptr_array_index (self->environments, i);

      if (environment == NULL || g_strcmp0 (env->name, environment) == 0)
        return env->endpoints[endpoint];
    }
  return NULL;
}

const char * const *
bursar_provider_get_known_hosts (BursarProvider *self)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), NULL);
  return (const char * const *) self->known_hosts;
}

gboolean
bursar_provider_get_discovery (BursarProvider *self)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), FALSE);
  return self->discovery;
}

gboolean
bursar_provider_get_endpoints_from_options (BursarProvider *self)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), FALSE);
  return self->endpoints_from_options;
}

const char *
bursar_provider_get_client_id (BursarProvider *self)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), NULL);
  return self->client_id;
}

const char *
bursar_provider_get_client_secret (BursarProvider *self)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), NULL);
  return self->client_secret;
}

gboolean
bursar_provider_get_needs_client_secret (BursarProvider *self)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), FALSE);
  return self->needs_client_secret;
}

const char * const *
bursar_provider_get_default_scopes (BursarProvider *self)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), NULL);
  return (const char * const *) self->default_scopes;
}

const char * const *
bursar_provider_get_required_scopes (BursarProvider *self)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), NULL);
  return (const char * const *) self->required_scopes;
}

const char *
bursar_provider_get_scope_separator (BursarProvider *self)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), NULL);
  return self->scope_separator;
}

gboolean
bursar_provider_get_pkce (BursarProvider *self)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), TRUE);
  return self->pkce;
}

const char * const *
bursar_provider_get_authorize_params (BursarProvider *self)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), NULL);
  return (const char * const *) self->authorize_params;
}

const char *
bursar_provider_get_redirect_host (BursarProvider *self)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), NULL);
  return self->redirect_host;
}

BursarBodyEncoding
bursar_provider_get_token_encoding (BursarProvider *self)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), BURSAR_BODY_FORM);
  return self->token_encoding;
}

BursarClientAuth
bursar_provider_get_client_auth (BursarProvider *self,
                                 BursarCall      call)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), BURSAR_CLIENT_AUTH_POST);
  g_return_val_if_fail ((guint) call < N_CALLS, BURSAR_CLIENT_AUTH_POST);
  return self->client_auth[call];
}

const char *
bursar_provider_get_code_param (BursarProvider *self)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), NULL);
  return self->code_param;
}

gboolean
bursar_provider_get_exchange_sends_redirect_uri (BursarProvider *self)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), TRUE);
  return self->exchange_sends_redirect_uri;
}

gboolean
bursar_provider_get_exchange_sends_state (BursarProvider *self)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), FALSE);
  return self->exchange_sends_state;
}

/* Refresh answers may differ; every other call is shaped like the code
 * exchange (client credentials answers are the same token response). */
const char * const *
bursar_provider_get_access_token_fields (BursarProvider *self,
                                         BursarCall      call)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), NULL);
  return (const char * const *) self->access_token_fields[call == BURSAR_CALL_REFRESH ? 1 : 0];
}

const char * const *
bursar_provider_get_refresh_token_fields (BursarProvider *self,
                                          BursarCall      call)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), NULL);
  return (const char * const *) self->refresh_token_fields[call == BURSAR_CALL_REFRESH ? 1 : 0];
}

gint64
bursar_provider_get_default_lifetime (BursarProvider *self)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), 0);
  return self->default_lifetime;
}

gboolean
bursar_provider_get_token_type_optional (BursarProvider *self)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), FALSE);
  return self->token_type_optional;
}

const char * const *
bursar_provider_get_reauth_errors (BursarProvider *self)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), NULL);
  return (const char * const *) self->reauth_errors;
}

gboolean
bursar_provider_get_refresh_supported (BursarProvider *self)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), FALSE);
  return self->refresh_supported;
}

BursarRevocation
bursar_provider_get_revocation (BursarProvider *self)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), BURSAR_REVOCATION_NONE);
  return self->revocation;
}

BursarBodyEncoding
bursar_provider_get_revocation_encoding (BursarProvider *self)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), BURSAR_BODY_FORM);
  return self->revocation_encoding;
}

gboolean
bursar_provider_get_revocation_sends_hint (BursarProvider *self)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), TRUE);
  return self->revocation_sends_hint;
}

const char *
bursar_provider_get_header_scheme (BursarProvider *self)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), NULL);
  return self->header_scheme;
}

BursarAuthorizationMethod
bursar_provider_get_authorization_method (BursarProvider *self)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), BURSAR_AUTHORIZATION_GET);
  return self->authorization_method;
}

BursarErrorShape
bursar_provider_get_error_shapes (BursarProvider *self)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), BURSAR_ERROR_SHAPE_RFC6749);
  return self->error_shapes;
}

const char * const *
bursar_provider_get_host_override_params (BursarProvider *self)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), NULL);
  return (const char * const *) self->host_override_params;
}

const char *
bursar_provider_get_api_domain_field (BursarProvider *self)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), NULL);
  return self->api_domain_field;
}

const char * const *
bursar_provider_get_details_fields (BursarProvider *self)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), NULL);
  return (const char * const *) self->details_fields;
}

const char * const *
bursar_provider_get_headers_from_options (BursarProvider *self)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), NULL);
  return (const char * const *) self->headers_from_options;
}

const char * const *
bursar_provider_get_templated_scopes (BursarProvider *self)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), NULL);
  return (const char * const *) self->templated_scopes;
}

gboolean
bursar_provider_get_redirect_uri_required (BursarProvider *self)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), FALSE);
  return self->redirect_uri_required;
}

gint64
bursar_provider_get_expiry_margin (BursarProvider *self)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), 60);
  return self->expiry_margin;
}

gboolean
bursar_provider_get_refresh_limit (BursarProvider *self,
                                   guint          *out_count,
                                   guint          *out_window)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER (self), FALSE);

  if (self->refresh_limit_count == 0)
    return FALSE;
  if (out_count != NULL)
    *out_count = self->refresh_limit_count;
  if (out_window != NULL)
    *out_window = self->refresh_limit_window;
  return TRUE;
}
