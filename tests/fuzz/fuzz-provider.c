/* fuzz-provider.c: provider files (*.provider, GKeyFile) — read from
 * ~/.config/bursar/providers, so any process of the user, or a package,
 * can put one there — through bursar_provider_new_from_data() and every
 * getter the engine calls.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <stdlib.h>

#include "bursar-error.h"
#include "bursar-provider.h"
#include "fuzz-common.h"

static const BursarEndpoint endpoints[] = {
  BURSAR_ENDPOINT_ISSUER, BURSAR_ENDPOINT_AUTHORIZATION, BURSAR_ENDPOINT_TOKEN,
  BURSAR_ENDPOINT_REVOCATION, BURSAR_ENDPOINT_USERINFO, BURSAR_ENDPOINT_API_BASE,
};

static const BursarCall calls[] = {
  BURSAR_CALL_EXCHANGE, BURSAR_CALL_REFRESH, BURSAR_CALL_CLIENT_CREDENTIALS, BURSAR_CALL_REVOKE,
};

static void
check_strv (const char * const *strv)
{
  /* Lists the daemon iterates over must be NULL-terminated UTF-8. */
  for (gsize i = 0; strv != NULL && strv[i] != NULL; i++)
    if (!g_utf8_validate (strv[i], -1, NULL))
      {
        g_printerr ("provider list entry is not UTF-8\n");
        abort ();
      }
}

static void
read_environment (BursarProvider *provider,
                  const char     *environment)
{
  for (gsize i = 0; i < G_N_ELEMENTS (endpoints); i++)
    (void) bursar_provider_get_endpoint (provider, environment, endpoints[i]);
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
  g_autoptr(BursarProvider) provider = NULL;
  g_autoptr(GError) error = NULL;
  const char * const *environments;
  guint count = 0, window = 0;

  provider = bursar_provider_new_from_data ("fuzz", (const char *) data, (gssize) size, &error);
  if ((provider == NULL) == (error == NULL))
    {
      g_printerr ("new_from_data must give exactly one of a provider and an error\n");
      abort ();
    }
  if (provider == NULL)
    {
      /* The message is only logged (by the registry), so it is not held
       * to UTF-8 here; it must come in one of the documented domains. */
      if (error->domain != G_KEY_FILE_ERROR && error->domain != BURSAR_ERROR)
        {
          g_printerr ("provider refused in an unexpected error domain: %s\n",
                      g_quark_to_string (error->domain));
          abort ();
        }
      return 0;
    }

  (void) bursar_provider_get_id (provider);
  (void) bursar_provider_get_path (provider);
  (void) bursar_provider_get_name (provider);
  check_strv (bursar_provider_get_flows (provider));
  (void) bursar_provider_supports_flow (provider, "authorization_code");
  (void) bursar_provider_supports_flow (provider, "client_credentials");
  (void) bursar_provider_supports_flow (provider, "personal_access_token");

  environments = bursar_provider_get_environments (provider);
  check_strv (environments);
  read_environment (provider, NULL);
  for (gsize i = 0; environments != NULL && environments[i] != NULL; i++)
    {
      if (!bursar_provider_has_environment (provider, environments[i]))
        {
          g_printerr ("listed environment not found\n");
          abort ();
        }
      read_environment (provider, environments[i]);
    }
  (void) bursar_provider_has_environment (provider, "sandbox");

  check_strv (bursar_provider_get_known_hosts (provider));
  (void) bursar_provider_get_discovery (provider);
  (void) bursar_provider_get_endpoints_from_options (provider);
  (void) bursar_provider_get_client_id (provider);
  (void) bursar_provider_get_client_secret (provider);
  (void) bursar_provider_get_needs_client_secret (provider);
  check_strv (bursar_provider_get_default_scopes (provider));
  check_strv (bursar_provider_get_required_scopes (provider));
  (void) bursar_provider_get_scope_separator (provider);
  (void) bursar_provider_get_pkce (provider);
  check_strv (bursar_provider_get_authorize_params (provider));
  (void) bursar_provider_get_redirect_host (provider);
  (void) bursar_provider_get_token_encoding (provider);
  for (gsize i = 0; i < G_N_ELEMENTS (calls); i++)
    (void) bursar_provider_get_client_auth (provider, calls[i]);
  (void) bursar_provider_get_code_param (provider);
  (void) bursar_provider_get_exchange_sends_redirect_uri (provider);
  (void) bursar_provider_get_exchange_sends_state (provider);
  check_strv (bursar_provider_get_access_token_fields (provider, BURSAR_CALL_EXCHANGE));
  check_strv (bursar_provider_get_access_token_fields (provider, BURSAR_CALL_REFRESH));
  check_strv (bursar_provider_get_refresh_token_fields (provider, BURSAR_CALL_EXCHANGE));
  check_strv (bursar_provider_get_refresh_token_fields (provider, BURSAR_CALL_REFRESH));
  (void) bursar_provider_get_default_lifetime (provider);
  (void) bursar_provider_get_token_type_optional (provider);
  check_strv (bursar_provider_get_reauth_errors (provider));
  (void) bursar_provider_get_refresh_supported (provider);
  (void) bursar_provider_get_revocation (provider);
  (void) bursar_provider_get_revocation_encoding (provider);
  (void) bursar_provider_get_revocation_sends_hint (provider);
  (void) bursar_provider_get_header_scheme (provider);
  (void) bursar_provider_get_authorization_method (provider);
  (void) bursar_provider_get_error_shapes (provider);
  check_strv (bursar_provider_get_host_override_params (provider));
  (void) bursar_provider_get_api_domain_field (provider);
  check_strv (bursar_provider_get_details_fields (provider));
  check_strv (bursar_provider_get_headers_from_options (provider));
  check_strv (bursar_provider_get_templated_scopes (provider));
  (void) bursar_provider_get_redirect_uri_required (provider);
  (void) bursar_provider_get_expiry_margin (provider);
  (void) bursar_provider_get_refresh_limit (provider, &count, &window);
  return 0;
}
