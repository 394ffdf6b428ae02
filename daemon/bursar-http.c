/* bursar-http.c
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>
#include <libsoup/soup.h>

#include "bursar-error.h"
#include "bursar-http.h"
#include "bursar-json.h"
#include "bursar-secret.h"

/* Seconds a request may stall before it fails as transient. */
#define DEFAULT_TIMEOUT_S 20
/* Pooled connections close after this, so an idle daemon holds no
 * sockets and the machine can sleep. */
#define IDLE_TIMEOUT_S 60

#define DEFAULT_MAX_ATTEMPTS 3
#define DEFAULT_BASE_DELAY_MS 500
#define DEFAULT_BUDGET_MS 20000

/* Bodies beyond this are refused: no token answer comes close. */
#define MAX_ANSWER_SIZE BURSAR_JSON_MAX_SIZE
#define READ_CHUNK 16384

/* An expires_in beyond ten years is nonsense or an attack on the
 * arithmetic, not a real lifetime. */
#define MAX_LIFETIME_S ((gint64) 10 * 366 * 24 * 60 * 60)

/* RFC 6585; libsoup 3.2 has no name for it. */
#define HTTP_TOO_MANY_REQUESTS 429

/* Server-provided text quoted in an error message is cut to this. */
#define MAX_QUOTED_CHARS 200

static const char * const default_access_fields[] = { "access_token", NULL };
static const char * const default_refresh_fields[] = { "refresh_token", NULL };
static const char * const default_reauth_errors[] = { "invalid_grant", NULL };

/* Members that carry a token whatever the request's field names are; they
 * never go into the extras. */
static const char * const token_members[] = {
  "access_token", "refresh_token", "id_token", "token", "accessToken",
  "refreshToken", "idToken", "client_secret", "code", "token_type",
  "expires_in", "scope", NULL
};

/* Parameters whose values are not secret and may well appear in a
 * server's error text ("refresh_token is invalid"); all others are
 * redacted from quoted text. */
static const char * const public_params[] = {
  "grant_type", "redirect_uri", "scope", "token_type_hint", "client_id",
  "response_type", "audience", "resource", NULL
};

/* ----- token request ----- */

struct _BursarTokenRequest
{
  char *url;
  BursarBodyEncoding encoding;
  BursarClientAuth auth;
  char *client_id;
  char *client_secret;    /* secret */
  GPtrArray *names;       /* (element-type utf8) */
  GPtrArray *values;      /* (element-type utf8) secrets */
  GPtrArray *bool_names;  /* (element-type utf8) JSON booleans, not strings */
  GStrv access_fields;    /* NULL = default */
  GStrv refresh_fields;   /* NULL = default */
  GStrv reauth_errors;    /* NULL = default */
  gint64 default_lifetime;
  gboolean token_type_optional;
};

BursarTokenRequest *
bursar_token_request_new (const char *url)
{
  BursarTokenRequest *request;

  g_return_val_if_fail (url != NULL, NULL);

  request = g_new0 (BursarTokenRequest, 1);
  request->url = g_strdup (url);
  request->encoding = BURSAR_BODY_FORM;
  request->auth = BURSAR_CLIENT_AUTH_OMIT;
  request->names = g_ptr_array_new_with_free_func (g_free);
  request->values = g_ptr_array_new_with_free_func ((GDestroyNotify) bursar_secret_free);
  request->bool_names = g_ptr_array_new_with_free_func (g_free);
  return request;
}

void
bursar_token_request_free (BursarTokenRequest *request)
{
  if (request == NULL)
    return;

  g_free (request->url);
  g_free (request->client_id);
  bursar_secret_free (request->client_secret);
  g_ptr_array_unref (request->names);
  g_ptr_array_unref (request->values);
  g_ptr_array_unref (request->bool_names);
  g_strfreev (request->access_fields);
  g_strfreev (request->refresh_fields);
  g_strfreev (request->reauth_errors);
  g_free (request);
}

void
bursar_token_request_set_encoding (BursarTokenRequest *request,
                                   BursarBodyEncoding  encoding)
{
  g_return_if_fail (request != NULL);
  request->encoding = encoding;
}

void
bursar_token_request_set_client (BursarTokenRequest *request,
                                 BursarClientAuth    auth,
                                 const char         *client_id,
                                 const char         *client_secret)
{
  g_return_if_fail (request != NULL);

  request->auth = auth;
  g_free (request->client_id);
  request->client_id = g_strdup (client_id);
  bursar_secret_replace (&request->client_secret, client_secret);
}

void
bursar_token_request_add_param (BursarTokenRequest *request,
                                const char         *name,
                                const char         *value)
{
  g_return_if_fail (request != NULL);
  g_return_if_fail (name != NULL);

  g_ptr_array_add (request->names, g_strdup (name));
  g_ptr_array_add (request->values, g_strdup (value != NULL ? value : ""));
}

/* A flag: "true"/"false" in a form or query, a JSON boolean in JSON. */
void
bursar_token_request_add_bool_param (BursarTokenRequest *request,
                                     const char         *name,
                                     gboolean            value)
{
  g_return_if_fail (request != NULL);
  g_return_if_fail (name != NULL);

  bursar_token_request_add_param (request, name, value ? "true" : "false");
  g_ptr_array_add (request->bool_names, g_strdup (name));
}

void
bursar_token_request_set_field_names (BursarTokenRequest *request,
                                      const char * const *access_token_fields,
                                      const char * const *refresh_token_fields)
{
  g_return_if_fail (request != NULL);

  g_clear_pointer (&request->access_fields, g_strfreev);
  g_clear_pointer (&request->refresh_fields, g_strfreev);
  if (access_token_fields != NULL && access_token_fields[0] != NULL)
    request->access_fields = g_strdupv ((GStrv) access_token_fields);
  if (refresh_token_fields != NULL && refresh_token_fields[0] != NULL)
    request->refresh_fields = g_strdupv ((GStrv) refresh_token_fields);
}

void
bursar_token_request_set_default_lifetime (BursarTokenRequest *request,
                                           gint64              seconds)
{
  g_return_if_fail (request != NULL);
  request->default_lifetime = CLAMP (seconds, 0, MAX_LIFETIME_S);
}

void
bursar_token_request_set_reauth_errors (BursarTokenRequest *request,
                                        const char * const *errors)
{
  g_return_if_fail (request != NULL);

  g_clear_pointer (&request->reauth_errors, g_strfreev);
  if (errors != NULL)
    request->reauth_errors = g_strdupv ((GStrv) errors);
}

void
bursar_token_request_set_token_type_optional (BursarTokenRequest *request,
                                              gboolean            optional)
{
  g_return_if_fail (request != NULL);
  request->token_type_optional = optional;
}

void
bursar_token_response_free (BursarTokenResponse *response)
{
  if (response == NULL)
    return;

  bursar_secret_free (response->access_token);
  bursar_secret_free (response->refresh_token);
  bursar_secret_free (response->id_token);
  g_free (response->token_type);
  g_free (response->scope);
  g_clear_pointer (&response->extras, g_hash_table_unref);
  g_free (response);
}

/* ----- the client object ----- */

struct _BursarHttp
{
  GObject parent_instance;

  SoupSession *session; /* (owned) */
  guint max_attempts;
  guint base_delay_ms;
  guint budget_ms;
};

G_DEFINE_FINAL_TYPE (BursarHttp, bursar_http, G_TYPE_OBJECT)

static void
bursar_http_dispose (GObject *object)
{
  BursarHttp *self = BURSAR_HTTP (object);

  g_clear_object (&self->session);

  G_OBJECT_CLASS (bursar_http_parent_class)->dispose (object);
}

static void
bursar_http_class_init (BursarHttpClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = bursar_http_dispose;
}

static void
bursar_http_init (BursarHttp *self)
{
  /* No SoupLogger is ever attached: it would write bodies and headers,
   * that is tokens, to the log. */
  self->session = soup_session_new_with_options ("timeout", DEFAULT_TIMEOUT_S,
                                                 "idle-timeout", IDLE_TIMEOUT_S,
                                                 "user-agent", "bursar/" PACKAGE_VERSION,
                                                 NULL);
  self->max_attempts = DEFAULT_MAX_ATTEMPTS;
  self->base_delay_ms = DEFAULT_BASE_DELAY_MS;
  self->budget_ms = DEFAULT_BUDGET_MS;
}

BursarHttp *
bursar_http_new (void)
{
  return g_object_new (BURSAR_TYPE_HTTP, NULL);
}

void
bursar_http_set_retry_policy (BursarHttp *self,
                              guint       max_attempts,
                              guint       base_delay_ms,
                              guint       budget_ms)
{
  g_return_if_fail (BURSAR_IS_HTTP (self));

  self->max_attempts = MAX (max_attempts, 1);
  self->base_delay_ms = base_delay_ms;
  self->budget_ms = budget_ms;
}

void
bursar_http_set_timeout (BursarHttp *self,
                         guint       seconds)
{
  g_return_if_fail (BURSAR_IS_HTTP (self));

  g_object_set (self->session, "timeout", seconds, NULL);
}

/* ----- URL policy ----- */

static gboolean
host_is_loopback (const char *host)
{
  g_autoptr(GInetAddress) address = NULL;

  if (host == NULL)
    return FALSE;
  if (g_ascii_strcasecmp (host, "localhost") == 0)
    return TRUE;

  /* Only literal addresses: "127.1" or a name that happens to resolve to
   * loopback today are not trusted. */
  address = g_inet_address_new_from_string (host);
  return address != NULL && g_inet_address_get_is_loopback (address);
}

gboolean
bursar_http_check_url (const char  *url,
                       GError     **error)
{
  g_autoptr(GUri) uri = NULL;
  const char *scheme, *host;

  if (url == NULL || url[0] == '\0')
    {
      g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                           _("No URL was given for the provider endpoint."));
      return FALSE;
    }

  uri = g_uri_parse (url, SOUP_HTTP_URI_FLAGS, NULL);
  if (uri == NULL)
    {
      g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                           _("The provider endpoint is not a valid URL."));
      return FALSE;
    }

  scheme = g_uri_get_scheme (uri);
  host = g_uri_get_host (uri);
  if (host == NULL || host[0] == '\0')
    {
      g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                           _("The provider endpoint URL has no host."));
      return FALSE;
    }

  /* Credentials in a URL end up in logs and in Referer headers. */
  if (g_uri_get_userinfo (uri) != NULL || g_uri_get_user (uri) != NULL)
    {
      g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                           _("The provider endpoint URL must not contain a user name or password."));
      return FALSE;
    }

  if (g_ascii_strcasecmp (scheme, "https") == 0)
    return TRUE;

  if (g_ascii_strcasecmp (scheme, "http") == 0)
    {
      if (host_is_loopback (host))
        return TRUE;
      g_set_error (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                   _("The provider endpoint on “%s” does not use https:, which is required except on this computer."),
                   host);
      return FALSE;
    }

  g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                       _("The provider endpoint must be an https: URL."));
  return FALSE;
}

gboolean
bursar_http_url_is_loopback (const char *url)
{
  g_autoptr(GUri) uri = NULL;

  if (url == NULL)
    return FALSE;

  uri = g_uri_parse (url, SOUP_HTTP_URI_FLAGS, NULL);
  return uri != NULL && host_is_loopback (g_uri_get_host (uri));
}

/* ----- text helpers ----- */

/* application/x-www-form-urlencoded as the WHATWG URL standard spells it,
 * also used for the Basic credentials (RFC 6749 §2.3.1). */
static void
form_append (GString    *out,
             const char *text)
{
  static const char hex[] = "0123456789ABCDEF";

  for (const guchar *p = (const guchar *) text; *p != '\0'; p++)
    {
      if (g_ascii_isalnum (*p) || *p == '*' || *p == '-' || *p == '.' || *p == '_')
        g_string_append_c (out, (char) *p);
      else if (*p == ' ')
        g_string_append_c (out, '+');
      else
        {
          g_string_append_c (out, '%');
          g_string_append_c (out, hex[*p >> 4]);
          g_string_append_c (out, hex[*p & 0xf]);
        }
    }
}

/* Frees a GString that may hold secrets, wiping its whole allocation. */
static void
secret_string_free (GString *string)
{
  if (string == NULL)
    return;
  explicit_bzero (string->str, string->allocated_len);
  g_string_free (string, TRUE);
}

typedef GString SecretGString;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SecretGString, secret_string_free)

static void
wipe_and_free (gpointer data)
{
  /* The GBytes below always own a NUL-terminated copy. */
  if (data != NULL)
    explicit_bzero (data, strlen (data));
  g_free (data);
}

/* Takes over a GString's text as GBytes that wipe it when released. */
static GBytes *
secret_bytes_from_string (GString *string)
{
  gsize len = string->len;
  char *data = g_strndup (string->str, len);

  return g_bytes_new_with_free_func (data, len, wipe_and_free, data);
}

/* Server text quoted in an error: secrets the request carried are
 * replaced, control and invisible characters become spaces, and the
 * result is cut to MAX_QUOTED_CHARS characters. */
static char *
sanitize_quote (const char *text,
                GPtrArray  *secrets)
{
  g_autoptr(GString) redacted = NULL;
  g_autoptr(GString) out = NULL;
  guint n_chars = 0;

  if (text == NULL)
    return NULL;

  redacted = g_string_new (text);
  for (guint i = 0; secrets != NULL && i < secrets->len; i++)
    g_string_replace (redacted, g_ptr_array_index (secrets, i), "[…]", 0);

  if (!g_utf8_validate (redacted->str, (gssize) redacted->len, NULL))
    return g_strdup ("");

  out = g_string_new (NULL);
  for (const char *p = redacted->str; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (n_chars == MAX_QUOTED_CHARS)
        {
          g_string_append (out, "…");
          break;
        }
      if (g_unichar_isprint (c))
        g_string_append_unichar (out, c);
      else
        g_string_append_c (out, ' ');
      n_chars++;
    }

  g_strstrip (out->str);
  return g_strdup (out->str);
}

static gboolean
strv_has (const char * const *strv,
          const char         *value)
{
  return value != NULL && g_strv_contains (strv, value);
}

/* ----- one call, with its attempts ----- */

typedef enum
{
  CALL_TOKEN,
  CALL_REVOKE,
  CALL_GET_JSON,
  CALL_LOCATION,
} CallKind;

typedef struct
{
  CallKind kind;
  const char *method;
  GUri *uri;                /* (owned) may carry secrets in its query */
  char *log_target;         /* host and path only, for g_debug() */
  GBytes *body;             /* (owned) (nullable) wiped when released */
  char *content_type;       /* (nullable) */
  char *authorization;      /* (nullable) secret */
  GPtrArray *secrets;       /* (element-type utf8) wiped; redacted from quotes */

  /* Token answers only. */
  GStrv access_fields;
  GStrv refresh_fields;
  GStrv reauth_errors;
  gint64 default_lifetime;
  gboolean token_type_optional;

  /* Retry state. */
  guint max_attempts;
  guint base_delay_ms;
  guint budget_ms;
  guint attempt;
  gint64 start_time;        /* monotonic µs */
  GError *last_transient;   /* (owned) (nullable) */

  /* Cancellation: the caller's cancellable and the deadline both cancel
   * @internal, which every operation uses. */
  GCancellable *internal;   /* (owned) */
  GCancellable *external;   /* (owned) (nullable) */
  gulong external_handler;
  GSource *deadline_source; /* (owned) (nullable) */
  gboolean deadline_hit;
  GSource *wait_source;     /* (owned) (nullable) */
  GSource *wait_cancel_source; /* (owned) (nullable) */

  /* The current attempt. */
  SoupMessage *msg;         /* (owned) (nullable) */
  GInputStream *stream;     /* (owned) (nullable) */
  guint8 *data;             /* answer so far; wiped */
  gsize data_len;
  gsize data_alloc;
} Call;

static void
clear_source (GSource **source)
{
  if (*source != NULL)
    {
      g_source_destroy (*source);
      g_clear_pointer (source, g_source_unref);
    }
}

static void
call_clear_data (Call *call)
{
  if (call->data != NULL)
    explicit_bzero (call->data, call->data_alloc);
  g_clear_pointer (&call->data, g_free);
  call->data_len = 0;
  call->data_alloc = 0;
}

/* Stops every timer and handler; safe to call more than once. */
static void
call_stop (Call *call)
{
  clear_source (&call->deadline_source);
  clear_source (&call->wait_source);
  clear_source (&call->wait_cancel_source);
  if (call->external != NULL && call->external_handler != 0)
    {
      g_cancellable_disconnect (call->external, call->external_handler);
      call->external_handler = 0;
    }
}

static void
call_free (Call *call)
{
  call_stop (call);
  g_clear_pointer (&call->uri, g_uri_unref);
  g_free (call->log_target);
  g_clear_pointer (&call->body, g_bytes_unref);
  g_free (call->content_type);
  bursar_secret_free (call->authorization);
  g_clear_pointer (&call->secrets, g_ptr_array_unref);
  g_strfreev (call->access_fields);
  g_strfreev (call->refresh_fields);
  g_strfreev (call->reauth_errors);
  g_clear_error (&call->last_transient);
  g_clear_object (&call->internal);
  g_clear_object (&call->external);
  g_clear_object (&call->stream);
  g_clear_object (&call->msg);
  call_clear_data (call);
  g_free (call);
}

static void start_attempt (GTask *task);

static void
call_return_error (GTask  *task,
                   GError *error)
{
  Call *call = g_task_get_task_data (task);

  call_stop (call);
  g_task_return_error (task, error);
}

static void
return_cancelled (GTask *task)
{
  call_return_error (task, g_error_new_literal (BURSAR_ERROR, BURSAR_ERROR_CANCELLED,
                                                _("The operation was cancelled.")));
}

static void
return_deadline (GTask *task)
{
  call_return_error (task, g_error_new_literal (BURSAR_ERROR, BURSAR_ERROR_NETWORK,
                                                _("The provider did not answer in time; try again later.")));
}

/* The internal cancellable fired: tell the caller's cancel apart from the
 * call's own deadline. */
static void
return_interrupted (GTask *task)
{
  Call *call = g_task_get_task_data (task);

  if (call->external != NULL && g_cancellable_is_cancelled (call->external))
    return_cancelled (task);
  else if (call->deadline_hit)
    return_deadline (task);
  else
    return_cancelled (task);
}

static gboolean
wait_done_cb (gpointer user_data)
{
  g_autoptr(GTask) task = g_object_ref (user_data);
  Call *call = g_task_get_task_data (task);

  clear_source (&call->wait_source);
  clear_source (&call->wait_cancel_source);

  if (g_cancellable_is_cancelled (call->internal))
    return_interrupted (task);
  else
    start_attempt (task);

  return G_SOURCE_REMOVE;
}

static gboolean
wait_cancelled_cb (GCancellable *cancellable,
                   gpointer      user_data)
{
  return wait_done_cb (user_data);
}

/* A transient failure: try again after a jittered exponential backoff
 * (at least @retry_after_ms when the server asked for it), as long as
 * attempts and the time budget allow; otherwise fail with the last
 * transient error as BURSAR_ERROR_NETWORK. Takes @error. */
static void
retry_or_fail (GTask  *task,
               GError *error,
               gint64  retry_after_ms)
{
  Call *call = g_task_get_task_data (task);
  gint64 elapsed_ms = (g_get_monotonic_time () - call->start_time) / 1000;
  gint64 delay_ms;

  g_clear_error (&call->last_transient);
  call->last_transient = error;

  if (call->attempt < call->max_attempts)
    {
      guint shift = MIN (call->attempt - 1, 16);
      gint64 backoff = (gint64) call->base_delay_ms << shift;

      /* "Equal jitter": half fixed, half random, so that clients that
       * failed together do not come back together. */
      delay_ms = backoff / 2 + (backoff > 1 ? g_random_int_range (0, (gint32) MIN (backoff / 2, G_MAXINT32 - 1) + 1) : 0);
      if (retry_after_ms > delay_ms)
        delay_ms = retry_after_ms;

      if (call->budget_ms == 0 || elapsed_ms + delay_ms < (gint64) call->budget_ms)
        {
          g_debug ("%s %s: transient failure, retry %u in %" G_GINT64_FORMAT " ms",
                   call->method, call->log_target, call->attempt, delay_ms);

          call->wait_source = g_timeout_source_new ((guint) delay_ms);
          g_source_set_callback (call->wait_source, wait_done_cb,
                                 g_object_ref (task), g_object_unref);
          g_source_set_static_name (call->wait_source, "[bursar] http retry");
          g_source_attach (call->wait_source, g_task_get_context (task));

          call->wait_cancel_source = g_cancellable_source_new (call->internal);
          g_source_set_callback (call->wait_cancel_source, G_SOURCE_FUNC (wait_cancelled_cb),
                                 g_object_ref (task), g_object_unref);
          g_source_attach (call->wait_cancel_source, g_task_get_context (task));
          return;
        }
    }

  call_return_error (task, g_error_new_literal (BURSAR_ERROR, BURSAR_ERROR_NETWORK,
                                                call->last_transient->message));
}

static GError *
transient_error (const char *message)
{
  return g_error_new_literal (BURSAR_ERROR, BURSAR_ERROR_NETWORK, message);
}

/* A failure below HTTP: connecting, TLS, sending or reading. */
static void
handle_transport_error (GTask        *task,
                        const GError *error)
{
  Call *call = g_task_get_task_data (task);

  if (g_cancellable_is_cancelled (call->internal))
    {
      return_interrupted (task);
      return;
    }

  /* A certificate that does not validate is an attack or a broken
   * server, not bad luck: never retried, never accepted. */
  if (g_error_matches (error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE) ||
      (call->msg != NULL && soup_message_get_tls_peer_certificate_errors (call->msg) != 0))
    {
      g_debug ("%s %s: TLS certificate refused", call->method, call->log_target);
      call_return_error (task, g_error_new_literal (BURSAR_ERROR, BURSAR_ERROR_NETWORK,
                                                    _("The provider’s TLS certificate is not valid, so Bursar did not connect.")));
      return;
    }

  /* GIO's messages name at most the host; they are for --verbose only,
   * the caller gets a fixed sentence. */
  g_debug ("%s %s: %s", call->method, call->log_target, error->message);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
    retry_or_fail (task, transient_error (_("The provider did not answer in time; try again later.")), -1);
  else if (error->domain == G_RESOLVER_ERROR)
    retry_or_fail (task, transient_error (_("The provider’s server name could not be resolved; check the network connection.")), -1);
  else if (error->domain == G_TLS_ERROR)
    retry_or_fail (task, transient_error (_("The secure connection to the provider failed; try again later.")), -1);
  else
    retry_or_fail (task, transient_error (_("The provider could not be reached; check the network connection.")), -1);
}

/* Retry-After (RFC 9110 §10.2.3) as milliseconds, or -1. */
static gint64
parse_retry_after (SoupMessage *msg)
{
  const char *value = soup_message_headers_get_one (soup_message_get_response_headers (msg),
                                                    "Retry-After");
  guint64 seconds = 0;

  if (value == NULL)
    return -1;

  if (g_ascii_string_to_unsigned (value, 10, 0, 24 * 60 * 60, &seconds, NULL))
    return (gint64) seconds * 1000;

  {
    g_autoptr(GDateTime) when = soup_date_time_new_from_http_string (value);
    g_autoptr(GDateTime) now = NULL;

    if (when == NULL)
      return -1;
    now = g_date_time_new_now_utc ();
    return MAX (g_date_time_difference (when, now) / 1000, 0);
  }
}

/* Finds an error in one of the shapes servers use:
 *   {"error": "code", "error_description": "…"}   RFC 6749 §5.2
 *   {"error": {"code"|"status": "…", "message": "…"}}
 *   {"type": "code", "message": "…"}               Invoiced (non-2xx only)
 *   [{"message": "…"}]                             Apruve (non-2xx only)
 * @code and @description point into @root. */
static gboolean
find_error (JsonNode    *root,
            gboolean     success_status,
            const char **out_code,
            const char **out_description)
{
  *out_code = NULL;
  *out_description = NULL;

  if (root == NULL)
    return FALSE;

  if (JSON_NODE_HOLDS_OBJECT (root))
    {
      JsonObject *object = json_node_get_object (root);
      JsonObject *nested = bursar_json_get_object (object, "error");
      const char *code = bursar_json_get_string (object, "error");

      if (code != NULL)
        {
          *out_code = code;
          *out_description = bursar_json_get_string (object, "error_description");
          if (*out_description == NULL)
            *out_description = bursar_json_get_string (object, "message");
          return TRUE;
        }

      if (nested != NULL)
        {
          *out_code = bursar_json_get_string (nested, "code");
          if (*out_code == NULL)
            *out_code = bursar_json_get_string (nested, "status");
          *out_description = bursar_json_get_string (nested, "message");
          return *out_code != NULL || *out_description != NULL;
        }

      /* A 200 answer may legitimately have "type" or "message" members. */
      if (success_status)
        return FALSE;

      code = bursar_json_get_string (object, "type");
      if (code != NULL && bursar_json_get_string (object, "message") != NULL)
        {
          *out_code = code;
          *out_description = bursar_json_get_string (object, "message");
          return TRUE;
        }
      return FALSE;
    }

  if (JSON_NODE_HOLDS_ARRAY (root) && !success_status)
    {
      JsonArray *array = json_node_get_array (root);
      JsonNode *first;

      if (json_array_get_length (array) == 0)
        return FALSE;
      first = json_array_get_element (array, 0);
      if (!JSON_NODE_HOLDS_OBJECT (first))
        return FALSE;
      *out_description = bursar_json_get_string (json_node_get_object (first), "message");
      if (*out_description == NULL)
        *out_description = bursar_json_get_string (json_node_get_object (first), "error");
      return *out_description != NULL;
    }

  return FALSE;
}

/* RFC 6749 §5.2 errors and their look-alikes, classified (SECURITY-NOTES
 * item 16): the grant is gone, the server is busy, or the request is
 * wrong. */
static void
handle_oauth_error (GTask      *task,
                    guint       status,
                    const char *code,
                    const char *description)
{
  Call *call = g_task_get_task_data (task);
  const char * const *reauth = call->reauth_errors != NULL ?
                               (const char * const *) call->reauth_errors :
                               default_reauth_errors;
  g_autofree char *safe_code = sanitize_quote (code, call->secrets);
  g_autofree char *safe_description = sanitize_quote (description, call->secrets);

  g_debug ("%s %s: HTTP %u, error “%s”", call->method, call->log_target, status,
           safe_code != NULL ? safe_code : "");

  /* Error shapes without a code (Apruve's [{"message"}]) can name the
   * dead grant only by their status: ReauthErrors=http-401. */
  g_autofree char *status_code = g_strdup_printf ("http-%u", status);

  if (strv_has (reauth, code) || (code == NULL && strv_has (reauth, status_code)))
    {
      call_return_error (task, g_error_new (BURSAR_ERROR, BURSAR_ERROR_NEEDS_AUTHORIZATION,
                                            _("The provider no longer accepts this account’s sign-in (%s); sign in again."),
                                            safe_code != NULL ? safe_code : status_code));
      return;
    }

  if (g_strcmp0 (code, "server_error") == 0 ||
      g_strcmp0 (code, "temporarily_unavailable") == 0)
    {
      g_autoptr(GError) error = g_error_new (BURSAR_ERROR, BURSAR_ERROR_NETWORK,
                                             _("The provider reported a temporary problem (%s); try again later."),
                                             safe_code);
      retry_or_fail (task, g_steal_pointer (&error), call->msg != NULL ? parse_retry_after (call->msg) : -1);
      return;
    }

  if (safe_code != NULL && safe_code[0] != '\0' &&
      safe_description != NULL && safe_description[0] != '\0')
    call_return_error (task, g_error_new (BURSAR_ERROR, BURSAR_ERROR_PROVIDER,
                                          _("The provider refused the request: %s (%s)."),
                                          safe_code, safe_description));
  else if (safe_code != NULL && safe_code[0] != '\0')
    call_return_error (task, g_error_new (BURSAR_ERROR, BURSAR_ERROR_PROVIDER,
                                          _("The provider refused the request: %s."),
                                          safe_code));
  else if (safe_description != NULL && safe_description[0] != '\0')
    call_return_error (task, g_error_new (BURSAR_ERROR, BURSAR_ERROR_PROVIDER,
                                          _("The provider refused the request: %s."),
                                          safe_description));
  else
    call_return_error (task, g_error_new (BURSAR_ERROR, BURSAR_ERROR_PROVIDER,
                                          _("The provider refused the request (HTTP %u)."),
                                          status));
}

/* expires_in as a number of seconds, or the odd numeric string. */
static gboolean
parse_expires_in (JsonObject *object,
                  gint64     *out_seconds,
                  gboolean   *out_present)
{
  JsonNode *node = json_object_get_member (object, "expires_in");
  const char *text;
  gint64 seconds = 0;

  *out_present = FALSE;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  *out_present = TRUE;

  text = bursar_json_get_string (object, "expires_in");
  if (text != NULL)
    {
      guint64 value = 0;

      /* Digits only: no sign, no space, no exponent, no fraction. */
      if (text[0] == '\0' || strspn (text, "0123456789") != strlen (text) ||
          !g_ascii_string_to_unsigned (text, 10, 0, (guint64) MAX_LIFETIME_S, &value, NULL))
        return FALSE;
      seconds = (gint64) value;
    }
  else if (!bursar_json_node_get_int (node, &seconds))
    return FALSE;

  if (seconds < 0 || seconds > MAX_LIFETIME_S)
    return FALSE;

  *out_seconds = seconds;
  return TRUE;
}

static void
set_malformed_answer (GError     **error,
                      const char  *member)
{
  g_set_error (error, BURSAR_ERROR, BURSAR_ERROR_PROVIDER,
               _("The provider’s token answer has an invalid “%s” member."),
               member);
}

/* Looks up the first of @fields present (and not null). *out_value is
 * NULL when none is there; FALSE when one is there but not a non-empty
 * string. */
static gboolean
find_token_field (JsonObject          *object,
                  const char * const  *fields,
                  const char         **out_field,
                  const char         **out_value)
{
  *out_field = NULL;
  *out_value = NULL;

  for (gsize i = 0; fields[i] != NULL; i++)
    {
      const char *value;

      if (bursar_json_is_absent (object, fields[i]))
        continue;

      *out_field = fields[i];
      value = bursar_json_get_string (object, fields[i]);
      if (value == NULL || value[0] == '\0')
        return FALSE;
      *out_value = value;
      return TRUE;
    }
  return TRUE;
}

static BursarTokenResponse *
token_response_from_json (Call        *call,
                          JsonObject  *object,
                          GError     **error)
{
  g_autoptr(BursarTokenResponse) response = g_new0 (BursarTokenResponse, 1);
  const char * const *access_fields = call->access_fields != NULL ?
                                      (const char * const *) call->access_fields :
                                      default_access_fields;
  const char * const *refresh_fields = call->refresh_fields != NULL ?
                                       (const char * const *) call->refresh_fields :
                                       default_refresh_fields;
  const char *field = NULL, *value = NULL;
  const char *token_type;
  gboolean expires_present = FALSE;
  gint64 expires_in = 0;
  JsonObjectIter iter;
  const char *name;
  JsonNode *node;

  if (!find_token_field (object, access_fields, &field, &value))
    {
      set_malformed_answer (error, field);
      return NULL;
    }
  if (value == NULL)
    {
      g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_PROVIDER,
                           _("The provider’s answer has no access token."));
      return NULL;
    }
  response->access_token = g_strdup (value);

  if (!find_token_field (object, refresh_fields, &field, &value))
    {
      set_malformed_answer (error, field);
      return NULL;
    }
  response->refresh_token = g_strdup (value);

  if (!bursar_json_is_absent (object, "id_token"))
    {
      value = bursar_json_get_string (object, "id_token");
      if (value == NULL)
        {
          set_malformed_answer (error, "id_token");
          return NULL;
        }
      response->id_token = g_strdup (value);
    }

  /* RFC 6749 §7.1: a client must not use a token whose type it does not
   * understand; a DPoP token sent as Bearer would simply fail later. */
  if (bursar_json_is_absent (object, "token_type"))
    {
      if (!call->token_type_optional)
        {
          g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_PROVIDER,
                               _("The provider’s answer does not say what type of token it issued."));
          return NULL;
        }
      response->token_type = g_strdup ("Bearer");
    }
  else
    {
      token_type = bursar_json_get_string (object, "token_type");
      if (token_type == NULL)
        {
          set_malformed_answer (error, "token_type");
          return NULL;
        }
      if (g_ascii_strcasecmp (token_type, "Bearer") != 0)
        {
          g_autofree char *safe = sanitize_quote (token_type, call->secrets);

          if (g_utf8_strlen (safe, -1) > 40)
            *g_utf8_offset_to_pointer (safe, 40) = '\0';
          g_set_error (error, BURSAR_ERROR, BURSAR_ERROR_PROVIDER,
                       _("The provider issued a token of type “%s”; only Bearer tokens are supported."),
                       safe);
          return NULL;
        }
      response->token_type = g_strdup (token_type);
    }

  if (!parse_expires_in (object, &expires_in, &expires_present))
    {
      set_malformed_answer (error, "expires_in");
      return NULL;
    }
  if (!expires_present)
    expires_in = call->default_lifetime;
  response->expires_in = expires_in;
  response->expires_at = expires_in > 0 ? g_get_real_time () / G_USEC_PER_SEC + expires_in : 0;

  /* Some servers send the scope as a list. */
  if (bursar_json_get_string (object, "scope") != NULL)
    response->scope = g_strdup (bursar_json_get_string (object, "scope"));
  else if (bursar_json_get_array (object, "scope") != NULL)
    {
      JsonArray *scopes = bursar_json_get_array (object, "scope");
      g_autoptr(GString) joined = g_string_new (NULL);

      for (guint i = 0; i < json_array_get_length (scopes); i++)
        {
          JsonNode *element = json_array_get_element (scopes, i);

          if (!JSON_NODE_HOLDS_VALUE (element) ||
              json_node_get_value_type (element) != G_TYPE_STRING)
            continue;
          if (joined->len > 0)
            g_string_append_c (joined, ' ');
          g_string_append (joined, json_node_get_string (element));
        }
      response->scope = g_strdup (joined->str);
    }

  response->extras = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  json_object_iter_init (&iter, object);
  while (json_object_iter_next (&iter, &name, &node))
    {
      char *text;

      if (g_strv_contains (token_members, name) ||
          g_strv_contains (access_fields, name) ||
          g_strv_contains (refresh_fields, name))
        continue;

      text = bursar_json_node_dup_scalar (node);
      if (text != NULL)
        g_hash_table_replace (response->extras, g_strdup (name), text);
    }

  return g_steal_pointer (&response);
}

static void
handle_success (GTask   *task,
                JsonNode *root)
{
  Call *call = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;

  switch (call->kind)
    {
    case CALL_REVOKE:
      call_stop (call);
      g_task_return_boolean (task, TRUE);
      return;

    case CALL_LOCATION:
      call_return_error (task, g_error_new_literal (BURSAR_ERROR, BURSAR_ERROR_PROVIDER,
                                                    _("The provider did not say where to sign in.")));
      return;

    case CALL_GET_JSON:
      if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
        {
          call_return_error (task, g_error_new_literal (BURSAR_ERROR, BURSAR_ERROR_PROVIDER,
                                                        _("The provider’s answer is not a JSON object.")));
          return;
        }
      call_stop (call);
      g_task_return_pointer (task, json_node_dup_object (root),
                             (GDestroyNotify) json_object_unref);
      return;

    case CALL_TOKEN:
      {
        BursarTokenResponse *response;

        if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
          {
            call_return_error (task, g_error_new_literal (BURSAR_ERROR, BURSAR_ERROR_PROVIDER,
                                                          _("The provider’s token answer is not a JSON object.")));
            return;
          }
        response = token_response_from_json (call, json_node_get_object (root), &error);
        if (response == NULL)
          {
            call_return_error (task, g_steal_pointer (&error));
            return;
          }
        call_stop (call);
        g_task_return_pointer (task, response, (GDestroyNotify) bursar_token_response_free);
        return;
      }

    default:
      g_assert_not_reached ();
    }
}

static void
handle_answer (GTask *task)
{
  Call *call = g_task_get_task_data (task);
  guint status = soup_message_get_status (call->msg);
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GError) parse_error = NULL;
  const char *code = NULL, *description = NULL;
  gboolean success = SOUP_STATUS_IS_SUCCESSFUL (status);

  g_debug ("%s %s: HTTP %u", call->method, call->log_target, status);

  /* An authorization started by a POST answers with the login page's
   * address: it is read, never followed. */
  if (call->kind == CALL_LOCATION && SOUP_STATUS_IS_REDIRECTION (status))
    {
      const char *location = soup_message_headers_get_one (soup_message_get_response_headers (call->msg),
                                                           "Location");
      g_autoptr(GUri) target = NULL;
      g_autoptr(GError) error = NULL;

      call_clear_data (call);
      if (location != NULL)
        target = g_uri_parse_relative (call->uri, location, SOUP_HTTP_URI_FLAGS, NULL);
      if (target == NULL)
        {
          call_return_error (task, g_error_new_literal (BURSAR_ERROR, BURSAR_ERROR_PROVIDER,
                                                        _("The provider did not say where to sign in.")));
          return;
        }
      {
        g_autofree char *url = g_uri_to_string (target);

        if (!bursar_http_check_url (url, &error))
          {
            call_return_error (task, g_steal_pointer (&error));
            return;
          }
        call_stop (call);
        g_task_return_pointer (task, g_steal_pointer (&url), g_free);
      }
      return;
    }

  /* A redirect is never followed (a 307 re-sends the body, secret and
   * all, to wherever the Location says). */
  if (SOUP_STATUS_IS_REDIRECTION (status))
    {
      call_return_error (task, g_error_new (BURSAR_ERROR, BURSAR_ERROR_PROVIDER,
                                            _("The provider answered with a redirect (HTTP %u), which Bursar does not follow."),
                                            status));
      return;
    }

  if (call->data_len > 0)
    root = bursar_json_parse ((const char *) call->data, call->data_len, &parse_error);

  /* The body is not needed any more and may hold tokens. */
  call_clear_data (call);

  if (status == HTTP_TOO_MANY_REQUESTS || SOUP_STATUS_IS_SERVER_ERROR (status))
    {
      g_autoptr(GError) error = g_error_new (BURSAR_ERROR, BURSAR_ERROR_NETWORK,
                                             _("The provider is busy or unavailable (HTTP %u); try again later."),
                                             status);
      retry_or_fail (task, g_steal_pointer (&error), parse_retry_after (call->msg));
      return;
    }

  if (find_error (root, success, &code, &description))
    {
      handle_oauth_error (task, status, code, description);
      return;
    }

  if (success)
    {
      if (root == NULL && call->kind != CALL_REVOKE)
        {
          call_return_error (task, parse_error != NULL ?
                                   g_steal_pointer (&parse_error) :
                                   g_error_new_literal (BURSAR_ERROR, BURSAR_ERROR_PROVIDER,
                                                        _("The provider’s answer is empty.")));
          return;
        }
      handle_success (task, root);
      return;
    }

  /* Userinfo and similar calls: 401 is the resource server refusing the
   * token (RFC 6750 §3.1 puts the reason in a header, not the body). */
  if (call->kind == CALL_GET_JSON && status == SOUP_STATUS_UNAUTHORIZED &&
      call->authorization != NULL)
    {
      call_return_error (task, g_error_new_literal (BURSAR_ERROR, BURSAR_ERROR_PROVIDER,
                                                    _("The provider refused the access token.")));
      return;
    }

  /* A 4xx without an error we can read is most likely a proxy or a web
   * application firewall, not the authorization server refusing: retry
   * rather than drop the grant (SECURITY-NOTES item 16). */
  {
    g_autoptr(GError) error = g_error_new (BURSAR_ERROR, BURSAR_ERROR_NETWORK,
                                           _("The provider answered with an unexpected error (HTTP %u); try again later."),
                                           status);
    retry_or_fail (task, g_steal_pointer (&error), -1);
  }
}

static void
stream_closed_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_input_stream_close_finish (G_INPUT_STREAM (source), result, NULL);
}

static void
call_close_stream (Call *call)
{
  if (call->stream == NULL)
    return;
  /* Closing before the end makes libsoup drop the connection instead of
   * reading the rest. */
  g_input_stream_close_async (call->stream, G_PRIORITY_DEFAULT, NULL, stream_closed_cb, NULL);
  g_clear_object (&call->stream);
}

static void
return_too_large (GTask *task)
{
  Call *call = g_task_get_task_data (task);

  call_close_stream (call);
  call_clear_data (call);
  call_return_error (task, g_error_new_literal (BURSAR_ERROR, BURSAR_ERROR_PROVIDER,
                                                _("The provider’s answer is too large.")));
}

static void read_more (GTask *task);

static void
read_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  Call *call = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  gssize n;

  n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);
  if (n < 0)
    {
      call_close_stream (call);
      call_clear_data (call);
      handle_transport_error (task, error);
      return;
    }

  if (n == 0)
    {
      call_close_stream (call);
      handle_answer (task);
      return;
    }

  call->data_len += (gsize) n;
  if (call->data_len > MAX_ANSWER_SIZE)
    {
      return_too_large (task);
      return;
    }

  read_more (task);
}

/* Reads into a buffer that grows by copying and wiping, so no stale copy
 * of a token is left behind by realloc(). */
static void
read_more (GTask *task)
{
  Call *call = g_task_get_task_data (task);

  if (call->data_alloc - call->data_len < READ_CHUNK)
    {
      gsize new_alloc = MAX (call->data_alloc * 2, call->data_len + READ_CHUNK);
      guint8 *new_data = g_malloc (new_alloc);

      if (call->data_len > 0)
        memcpy (new_data, call->data, call->data_len);
      if (call->data != NULL)
        explicit_bzero (call->data, call->data_alloc);
      g_free (call->data);
      call->data = new_data;
      call->data_alloc = new_alloc;
    }

  g_input_stream_read_async (call->stream,
                             call->data + call->data_len,
                             READ_CHUNK,
                             G_PRIORITY_DEFAULT,
                             call->internal,
                             read_cb,
                             g_object_ref (task));
}

static void
sent_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  Call *call = g_task_get_task_data (task);
  SoupMessageHeaders *headers;
  g_autoptr(GError) error = NULL;
  GInputStream *stream;

  stream = soup_session_send_finish (SOUP_SESSION (source), result, &error);
  if (stream == NULL)
    {
      handle_transport_error (task, error);
      return;
    }
  call->stream = stream;

  /* Refuse a declared oversize body without reading any of it. */
  headers = soup_message_get_response_headers (call->msg);
  if (soup_message_headers_get_encoding (headers) == SOUP_ENCODING_CONTENT_LENGTH &&
      soup_message_headers_get_content_length (headers) > MAX_ANSWER_SIZE)
    {
      return_too_large (task);
      return;
    }

  read_more (task);
}

static void
start_attempt (GTask *task)
{
  Call *call = g_task_get_task_data (task);
  BursarHttp *self = g_task_get_source_object (task);
  SoupMessageHeaders *headers;

  if (g_cancellable_is_cancelled (call->internal))
    {
      return_interrupted (task);
      return;
    }

  call->attempt++;
  g_clear_object (&call->msg);
  call_clear_data (call);

  call->msg = soup_message_new_from_uri (call->method, call->uri);
  soup_message_add_flags (call->msg, SOUP_MESSAGE_NO_REDIRECT);
  headers = soup_message_get_request_headers (call->msg);
  soup_message_headers_replace (headers, "Accept", "application/json");
  if (call->authorization != NULL)
    soup_message_headers_replace (headers, "Authorization", call->authorization);
  if (call->body != NULL)
    soup_message_set_request_body_from_bytes (call->msg, call->content_type, call->body);

  soup_session_send_async (self->session, call->msg, G_PRIORITY_DEFAULT, call->internal,
                           sent_cb, g_object_ref (task));
}

static void
external_cancelled_cb (GCancellable *cancellable,
                       gpointer      user_data)
{
  g_cancellable_cancel (G_CANCELLABLE (user_data));
}

static gboolean
deadline_cb (gpointer user_data)
{
  Call *call = user_data;

  call->deadline_hit = TRUE;
  g_clear_pointer (&call->deadline_source, g_source_unref);
  g_cancellable_cancel (call->internal);
  return G_SOURCE_REMOVE;
}

/* Creates the task for a call. The URL is checked before anything else;
 * on failure the task has already been given its error and NULL is
 * returned. */
static Call *
call_new (BursarHttp          *self,
          CallKind             kind,
          const char          *method,
          const char          *url,
          GCancellable        *cancellable,
          GAsyncReadyCallback  callback,
          gpointer             user_data,
          gpointer             source_tag,
          GTask              **out_task)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GUri) uri = NULL;
  Call *call;

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, source_tag);
  /* The call reports cancellation itself, in the Bursar domain. */
  g_task_set_check_cancellable (task, FALSE);

  if (!bursar_http_check_url (url, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      *out_task = NULL;
      return NULL;
    }

  uri = g_uri_parse (url, SOUP_HTTP_URI_FLAGS, &error);
  if (uri == NULL)
    {
      g_task_return_new_error (task, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                               _("The provider endpoint is not a valid URL."));
      *out_task = NULL;
      return NULL;
    }

  call = g_new0 (Call, 1);
  call->kind = kind;
  call->method = method;
  call->log_target = g_strdup_printf ("%s%s", g_uri_get_host (uri), g_uri_get_path (uri));
  call->uri = g_steal_pointer (&uri);
  call->secrets = g_ptr_array_new_with_free_func ((GDestroyNotify) bursar_secret_free);
  call->max_attempts = self->max_attempts;
  call->base_delay_ms = self->base_delay_ms;
  call->budget_ms = self->budget_ms;
  call->internal = g_cancellable_new ();
  g_task_set_task_data (task, call, (GDestroyNotify) call_free);

  *out_task = g_steal_pointer (&task);
  return call;
}

static void
call_run (GTask        *task,
          GCancellable *cancellable)
{
  Call *call = g_task_get_task_data (task);

  call->start_time = g_get_monotonic_time ();

  if (cancellable != NULL)
    {
      call->external = g_object_ref (cancellable);
      /* Runs at once when already cancelled. */
      call->external_handler = g_cancellable_connect (cancellable,
                                                      G_CALLBACK (external_cancelled_cb),
                                                      g_object_ref (call->internal),
                                                      g_object_unref);
    }

  if (call->budget_ms > 0)
    {
      call->deadline_source = g_timeout_source_new (call->budget_ms);
      g_source_set_callback (call->deadline_source, deadline_cb, call, NULL);
      g_source_set_static_name (call->deadline_source, "[bursar] http deadline");
      g_source_attach (call->deadline_source, g_task_get_context (task));
    }

  start_attempt (task);
}

static void
add_secret (Call       *call,
            const char *value)
{
  /* Very short values would redact ordinary words. */
  if (value != NULL && strlen (value) >= 6)
    g_ptr_array_add (call->secrets, g_strdup (value));
}

/* Builds method, URL, headers and body of a token or revocation call. */
static void
call_set_request (Call               *call,
                  BursarTokenRequest *request)
{
  g_autoptr(GPtrArray) names = g_ptr_array_new ();
  g_autoptr(GPtrArray) values = g_ptr_array_new ();

  for (guint i = 0; i < request->names->len; i++)
    {
      const char *name = g_ptr_array_index (request->names, i);
      const char *value = g_ptr_array_index (request->values, i);

      g_ptr_array_add (names, (gpointer) name);
      g_ptr_array_add (values, (gpointer) value);
      if (!g_strv_contains (public_params, name))
        add_secret (call, value);
    }

  switch (request->auth)
    {
    case BURSAR_CLIENT_AUTH_POST:
      if (request->client_id != NULL)
        {
          g_ptr_array_add (names, (gpointer) "client_id");
          g_ptr_array_add (values, request->client_id);
        }
      if (request->client_secret != NULL)
        {
          g_ptr_array_add (names, (gpointer) "client_secret");
          g_ptr_array_add (values, request->client_secret);
        }
      break;

    case BURSAR_CLIENT_AUTH_BASIC:
      {
        /* RFC 6749 §2.3.1: each part form-urlencoded, then joined. */
        g_autoptr(SecretGString) pair = g_string_new (NULL);
        g_autoptr(SecretGString) header = g_string_new ("Basic ");
        g_autofree char *encoded = NULL;

        form_append (pair, request->client_id != NULL ? request->client_id : "");
        g_string_append_c (pair, ':');
        form_append (pair, request->client_secret != NULL ? request->client_secret : "");
        encoded = g_base64_encode ((const guchar *) pair->str, pair->len);
        g_string_append (header, encoded);
        explicit_bzero (encoded, strlen (encoded));
        call->authorization = g_strdup (header->str);
        break;
      }

    case BURSAR_CLIENT_AUTH_NONE:
      if (request->client_id != NULL)
        {
          g_ptr_array_add (names, (gpointer) "client_id");
          g_ptr_array_add (values, request->client_id);
        }
      break;

    case BURSAR_CLIENT_AUTH_OMIT:
    default:
      break;
    }
  add_secret (call, request->client_secret);

  switch (request->encoding)
    {
    case BURSAR_BODY_JSON:
      {
        g_autoptr(JsonBuilder) builder = json_builder_new ();
        g_autoptr(JsonGenerator) generator = json_generator_new ();
        g_autoptr(JsonNode) root = NULL;
        g_autoptr(SecretGString) text = g_string_new (NULL);

        json_builder_begin_object (builder);
        for (guint i = 0; i < names->len; i++)
          {
            const char *name = g_ptr_array_index (names, i);
            const char *value = g_ptr_array_index (values, i);

            json_builder_set_member_name (builder, name);
            if (g_ptr_array_find_with_equal_func (request->bool_names, name, g_str_equal, NULL))
              json_builder_add_boolean_value (builder, g_str_equal (value, "true"));
            else
              json_builder_add_string_value (builder, value);
          }
        json_builder_end_object (builder);
        root = json_builder_get_root (builder);
        json_generator_set_root (generator, root);
        json_generator_to_gstring (generator, text);
        /* json-glib keeps its own copies of the values in the tree and
         * frees them unwiped; that copy lives only this long. */
        call->body = secret_bytes_from_string (text);
        call->content_type = g_strdup ("application/json");
        break;
      }

    case BURSAR_BODY_QUERY:
      {
        g_autoptr(SecretGString) query = g_string_new (g_uri_get_query (call->uri));
        GUri *old = call->uri;

        for (guint i = 0; i < names->len; i++)
          {
            if (query->len > 0)
              g_string_append_c (query, '&');
            form_append (query, g_ptr_array_index (names, i));
            g_string_append_c (query, '=');
            form_append (query, g_ptr_array_index (values, i));
          }
        call->uri = g_uri_build (g_uri_get_flags (old),
                                 g_uri_get_scheme (old),
                                 NULL, /* userinfo: refused by the check */
                                 g_uri_get_host (old),
                                 g_uri_get_port (old),
                                 g_uri_get_path (old),
                                 query->len > 0 ? query->str : NULL,
                                 NULL); /* fragment */
        g_uri_unref (old);
        /* An empty body, so the POST carries a Content-Length. */
        call->body = g_bytes_new_static ("", 0);
        break;
      }

    case BURSAR_BODY_FORM:
    default:
      {
        g_autoptr(SecretGString) text = g_string_new (NULL);

        for (guint i = 0; i < names->len; i++)
          {
            if (i > 0)
              g_string_append_c (text, '&');
            form_append (text, g_ptr_array_index (names, i));
            g_string_append_c (text, '=');
            form_append (text, g_ptr_array_index (values, i));
          }
        call->body = secret_bytes_from_string (text);
        call->content_type = g_strdup ("application/x-www-form-urlencoded");
        break;
      }
    }
}

void
bursar_http_token_async (BursarHttp          *self,
                         BursarTokenRequest  *request,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  Call *call;

  g_return_if_fail (BURSAR_IS_HTTP (self));
  g_return_if_fail (request != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  call = call_new (self, CALL_TOKEN, SOUP_METHOD_POST, request->url, cancellable,
                   callback, user_data, bursar_http_token_async, &task);
  if (call == NULL)
    return;

  call_set_request (call, request);
  call->access_fields = g_strdupv (request->access_fields);
  call->refresh_fields = g_strdupv (request->refresh_fields);
  call->reauth_errors = g_strdupv (request->reauth_errors);
  call->default_lifetime = request->default_lifetime;
  call->token_type_optional = request->token_type_optional;

  call_run (task, cancellable);
}

BursarTokenResponse *
bursar_http_token_finish (BursarHttp    *self,
                          GAsyncResult  *result,
                          GError       **error)
{
  g_return_val_if_fail (BURSAR_IS_HTTP (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == bursar_http_token_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

void
bursar_http_revoke_async (BursarHttp          *self,
                          BursarTokenRequest  *request,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  Call *call;

  g_return_if_fail (BURSAR_IS_HTTP (self));
  g_return_if_fail (request != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  call = call_new (self, CALL_REVOKE, SOUP_METHOD_POST, request->url, cancellable,
                   callback, user_data, bursar_http_revoke_async, &task);
  if (call == NULL)
    return;

  call_set_request (call, request);
  call->reauth_errors = g_strdupv (request->reauth_errors);

  call_run (task, cancellable);
}

gboolean
bursar_http_revoke_finish (BursarHttp    *self,
                           GAsyncResult  *result,
                           GError       **error)
{
  g_return_val_if_fail (BURSAR_IS_HTTP (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == bursar_http_revoke_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

void
bursar_http_get_json_async (BursarHttp          *self,
                            const char          *url,
                            const char          *bearer_token,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  Call *call;

  g_return_if_fail (BURSAR_IS_HTTP (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  call = call_new (self, CALL_GET_JSON, SOUP_METHOD_GET, url, cancellable,
                   callback, user_data, bursar_http_get_json_async, &task);
  if (call == NULL)
    return;

  if (bearer_token != NULL)
    {
      call->authorization = g_strconcat ("Bearer ", bearer_token, NULL);
      add_secret (call, bearer_token);
    }

  call_run (task, cancellable);
}

JsonObject *
bursar_http_get_json_finish (BursarHttp    *self,
                             GAsyncResult  *result,
                             GError       **error)
{
  g_return_val_if_fail (BURSAR_IS_HTTP (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == bursar_http_get_json_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* POSTs @request (an authorization started by a JSON POST, as Invoice
 * Processor does) and finishes with the URL of the answer's Location
 * header — the login page to open in the browser. The redirect itself is
 * never followed: a 307 would send the client secret along. */
void
bursar_http_authorize_location_async (BursarHttp          *self,
                                      BursarTokenRequest  *request,
                                      GCancellable        *cancellable,
                                      GAsyncReadyCallback  callback,
                                      gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  Call *call;

  g_return_if_fail (BURSAR_IS_HTTP (self));
  g_return_if_fail (request != NULL);

  call = call_new (self, CALL_LOCATION, SOUP_METHOD_POST, request->url, cancellable,
                   callback, user_data, bursar_http_authorize_location_async, &task);
  if (call == NULL)
    return;

  call_set_request (call, request);
  call->reauth_errors = g_strdupv (request->reauth_errors);
  call_run (task, cancellable);
}

char *
bursar_http_authorize_location_finish (BursarHttp    *self,
                                       GAsyncResult  *result,
                                       GError       **error)
{
  g_return_val_if_fail (BURSAR_IS_HTTP (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == bursar_http_authorize_location_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* Replaces scheme, host and port of @url by those of @origin, keeping path
 * and query: base_url accounts and server-directed hosts (Zoho's
 * accounts-server). NULL when either does not parse. */
char *
bursar_http_rebase_url (const char *url,
                        const char *origin)
{
  g_autoptr(GUri) uri = g_uri_parse (url, G_URI_FLAGS_ENCODED, NULL);
  g_autoptr(GUri) base = g_uri_parse (origin, G_URI_FLAGS_ENCODED, NULL);
  g_autoptr(GUri) result = NULL;

  if (uri == NULL || base == NULL)
    return NULL;
  result = g_uri_build (G_URI_FLAGS_ENCODED, g_uri_get_scheme (base), NULL,
                        g_uri_get_host (base), g_uri_get_port (base),
                        g_uri_get_path (uri), g_uri_get_query (uri), NULL);
  return g_uri_to_string (result);
}

/* The scheme://host[:port] of a URL a server named at run time, if it may
 * be used: https on one of @known_hosts, or — for an account pointed at a
 * local instance with base_url — any loopback URL. NULL otherwise. */
char *
bursar_http_check_server_origin (const char         *url,
                                 const char * const *known_hosts,
                                 gboolean            allow_loopback)
{
  g_autoptr(GUri) uri = NULL;
  g_autoptr(GUri) origin = NULL;
  g_autofree char *host = NULL;
  const char *scheme;

  if (url == NULL)
    return NULL;
  uri = g_uri_parse (url, G_URI_FLAGS_ENCODED, NULL);
  if (uri == NULL || g_uri_get_host (uri) == NULL || g_uri_get_userinfo (uri) != NULL)
    return NULL;

  scheme = g_uri_get_scheme (uri);
  host = g_ascii_strdown (g_uri_get_host (uri), -1);
  if (allow_loopback && bursar_http_url_is_loopback (url))
    {
      if (g_strcmp0 (scheme, "http") != 0 && g_strcmp0 (scheme, "https") != 0)
        return NULL;
    }
  else if (g_strcmp0 (scheme, "https") != 0 || known_hosts == NULL ||
           !g_strv_contains (known_hosts, host))
    return NULL;

  origin = g_uri_build (G_URI_FLAGS_NONE, scheme, NULL, g_uri_get_host (uri),
                        g_uri_get_port (uri), "", NULL, NULL);
  return g_uri_to_string (origin);
}
