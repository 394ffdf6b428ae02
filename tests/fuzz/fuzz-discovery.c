/* fuzz-discovery.c: an OpenID discovery document (or any JSON the daemon
 * GETs: userinfo) through bursar_http_get_json_async() — the daemon's
 * bounded read, bursar_json_parse() and error-shape detection — then the
 * checks bursar-daemon.c's discovery_cb() applies: issuer equality, S256
 * in code_challenge_methods_supported, the iss-parameter flag and
 * bursar_http_check_url() on every endpoint.
 *
 * discovery_cb() itself is static; the checks are repeated here with the
 * same public pieces (see the report: a bursar_discovery_parse() entry
 * point would let this target call the daemon's code directly).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <stdlib.h>

#include "bursar-error.h"
#include "bursar-http.h"
#include "bursar-json.h"
#include "fuzz-common.h"

#define CALL_TIMEOUT_MS 10000

static BursarHttp *http;

static const char * const endpoints[] = {
  "authorization_endpoint", "token_endpoint", "revocation_endpoint",
  "userinfo_endpoint", "jwks_uri", "end_session_endpoint", NULL
};

static const char * const known_hosts[] = { "id.example.com", "accounts.example.com", NULL };

static void
get_cb (GObject      *source,
        GAsyncResult *result,
        gpointer      user_data)
{
  gpointer *out = user_data;
  GError *error = NULL;

  out[0] = bursar_http_get_json_finish (BURSAR_HTTP (source), result, &error);
  out[1] = error;
  out[2] = GINT_TO_POINTER (TRUE);
}

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  fuzz_init ();
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autoptr(JsonObject) metadata = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *url = NULL;
  gpointer out[3] = { NULL, NULL, NULL };
  JsonArray *methods;

  if (http == NULL)
    {
      http = bursar_http_new ();
      bursar_http_set_retry_policy (http, 1, 0, CALL_TIMEOUT_MS);
    }

  fuzz_server_set_answer (200, NULL, data, size);
  url = g_strconcat (fuzz_server_url (), ".well-known/openid-configuration", NULL);
  bursar_http_get_json_async (http, url, NULL, NULL, get_cb, out);
  fuzz_iterate_until ((const gboolean *) &out[2], CALL_TIMEOUT_MS + 2000);
  metadata = out[0];
  error = out[1];

  if ((metadata == NULL) == (error == NULL))
    {
      g_printerr ("get_json must give exactly one of an object and an error\n");
      abort ();
    }
  if (error != NULL)
    {
      if (error->domain != BURSAR_ERROR || !g_utf8_validate (error->message, -1, NULL))
        {
          g_printerr ("unclassified or non-UTF-8 error: %s\n", g_quark_to_string (error->domain));
          abort ();
        }
      return 0;
    }

  (void) g_strcmp0 (bursar_json_get_string (metadata, "issuer"), "https://id.example.com");

  methods = bursar_json_get_array (metadata, "code_challenge_methods_supported");
  if (methods != NULL)
    {
      guint n = json_array_get_length (methods);

      for (guint i = 0; i < n; i++)
        {
          g_autofree char *method = bursar_json_node_dup_scalar (json_array_get_element (methods, i));

          (void) g_strcmp0 (method, "S256");
        }
    }

  {
    gboolean flag = FALSE;

    (void) bursar_json_get_boolean (metadata, "authorization_response_iss_parameter_supported", &flag);
  }

  for (gsize i = 0; endpoints[i] != NULL; i++)
    {
      const char *endpoint = bursar_json_get_string (metadata, endpoints[i]);
      g_autoptr(GError) url_error = NULL;

      if (endpoint == NULL)
        continue;
      if (bursar_http_check_url (endpoint, &url_error))
        {
          g_autofree char *scheme = g_uri_parse_scheme (endpoint);
          g_autofree char *origin = bursar_http_check_server_origin (endpoint, known_hosts, TRUE);
          g_autofree char *rebased = NULL;

          /* The promise of bursar-http.h: https:, or http: on loopback. */
          if (scheme == NULL ||
              (g_ascii_strcasecmp (scheme, "https") != 0 &&
               !(g_ascii_strcasecmp (scheme, "http") == 0 && bursar_http_url_is_loopback (endpoint))))
            {
              g_printerr ("bursar_http_check_url accepted a URL that is neither https: nor loopback\n");
              abort ();
            }
          if (origin != NULL)
            {
              if (!g_str_has_prefix (origin, "https://") && !bursar_http_url_is_loopback (origin))
                {
                  g_printerr ("bursar_http_check_server_origin accepted a foreign origin\n");
                  abort ();
                }
              rebased = bursar_http_rebase_url ("https://id.example.com/oauth/token?x=1", origin);
            }
        }
      else if (url_error == NULL || url_error->domain != BURSAR_ERROR)
        {
          g_printerr ("bursar_http_check_url failed without a Bursar error\n");
          abort ();
        }
    }
  return 0;
}
