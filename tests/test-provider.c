/* test-provider.c: provider files and the provider search path.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include <glib/gstdio.h>

#include "bursar-error.h"
#include "bursar-provider.h"

/* The log domain of the daemon code (see daemon/bursar-provider*.c). */
#define DAEMON_LOG_DOMAIN "bursar"

static char *
shipped_path (const char *id)
{
  const char *dir = g_getenv ("BURSAR_PROVIDERS_DIR");
  g_autofree char *file = g_strconcat (id, ".provider", NULL);

  g_assert_nonnull (dir);
  return g_build_filename (dir, file, NULL);
}

static BursarProvider *
load_shipped (const char *id)
{
  g_autofree char *path = shipped_path (id);
  g_autoptr(GError) error = NULL;
  BursarProvider *provider;

  provider = bursar_provider_new_from_file (path, &error);
  g_assert_no_error (error);
  g_assert_nonnull (provider);
  return provider;
}

static void
assert_strv (const char * const *actual,
             const char * const *expected)
{
  g_assert_nonnull (actual);
  g_assert_cmpuint (g_strv_length ((char **) actual), ==, g_strv_length ((char **) expected));
  for (guint i = 0; expected[i] != NULL; i++)
    g_assert_cmpstr (actual[i], ==, expected[i]);
}

static void
test_shipped_oidc (void)
{
  g_autoptr(BursarProvider) provider = load_shipped ("oidc");
  g_autofree char *path = shipped_path ("oidc");

  g_assert_cmpstr (bursar_provider_get_id (provider), ==, "oidc");
  g_assert_cmpstr (bursar_provider_get_path (provider), ==, path);
  g_assert_cmpstr (bursar_provider_get_name (provider), ==, "OpenID Connect");
  assert_strv (bursar_provider_get_flows (provider),
               (const char *[]) { "authorization_code", "client_credentials",
                                  "personal_access_token", NULL });
  g_assert_true (bursar_provider_supports_flow (provider, "personal_access_token"));
  g_assert_false (bursar_provider_supports_flow (provider, "implicit"));
  g_assert_true (bursar_provider_get_discovery (provider));
  g_assert_false (bursar_provider_get_endpoints_from_options (provider));
  assert_strv (bursar_provider_get_environments (provider), (const char *[]) { NULL });
  g_assert_false (bursar_provider_has_environment (provider, "production"));
  g_assert_null (bursar_provider_get_endpoint (provider, NULL, BURSAR_ENDPOINT_TOKEN));
  assert_strv (bursar_provider_get_known_hosts (provider), (const char *[]) { NULL });

  assert_strv (bursar_provider_get_default_scopes (provider),
               (const char *[]) { "openid", "profile", "email", "offline_access", NULL });
  assert_strv (bursar_provider_get_required_scopes (provider), (const char *[]) { "openid", NULL });
  g_assert_cmpstr (bursar_provider_get_scope_separator (provider), ==, " ");
  g_assert_true (bursar_provider_get_pkce (provider));
  g_assert_cmpstr (bursar_provider_get_redirect_host (provider), ==, "127.0.0.1");
  g_assert_null (bursar_provider_get_client_id (provider));
  g_assert_null (bursar_provider_get_client_secret (provider));
  g_assert_false (bursar_provider_get_needs_client_secret (provider));
  g_assert_cmpint (bursar_provider_get_token_encoding (provider), ==, BURSAR_BODY_FORM);
  for (BursarCall call = BURSAR_CALL_EXCHANGE; call <= BURSAR_CALL_REVOKE; call++)
    g_assert_cmpint (bursar_provider_get_client_auth (provider, call), ==, BURSAR_CLIENT_AUTH_POST);
  g_assert_cmpint (bursar_provider_get_revocation (provider), ==, BURSAR_REVOCATION_REFRESH);
  g_assert_true (bursar_provider_get_revocation_sends_hint (provider));
  g_assert_cmpstr (bursar_provider_get_header_scheme (provider), ==, "Bearer");
  assert_strv (bursar_provider_get_details_fields (provider), (const char *[]) { "subject=sub", NULL });

  /* Defaults of keys the file leaves out. */
  g_assert_cmpstr (bursar_provider_get_code_param (provider), ==, "code");
  g_assert_true (bursar_provider_get_exchange_sends_redirect_uri (provider));
  g_assert_false (bursar_provider_get_exchange_sends_state (provider));
  assert_strv (bursar_provider_get_access_token_fields (provider, BURSAR_CALL_EXCHANGE),
               (const char *[]) { "access_token", NULL });
  assert_strv (bursar_provider_get_access_token_fields (provider, BURSAR_CALL_REFRESH),
               (const char *[]) { "access_token", NULL });
  assert_strv (bursar_provider_get_refresh_token_fields (provider, BURSAR_CALL_REFRESH),
               (const char *[]) { "refresh_token", NULL });
  assert_strv (bursar_provider_get_reauth_errors (provider), (const char *[]) { "invalid_grant", NULL });
  assert_strv (bursar_provider_get_authorize_params (provider), (const char *[]) { NULL });
  g_assert_cmpint (bursar_provider_get_default_lifetime (provider), ==, 0);
  g_assert_false (bursar_provider_get_token_type_optional (provider));
  g_assert_true (bursar_provider_get_refresh_supported (provider));
  g_assert_cmpint (bursar_provider_get_authorization_method (provider), ==, BURSAR_AUTHORIZATION_GET);
  g_assert_cmpint (bursar_provider_get_error_shapes (provider), ==, BURSAR_ERROR_SHAPE_RFC6749);
  g_assert_cmpint (bursar_provider_get_expiry_margin (provider), ==, 60);
  g_assert_false (bursar_provider_get_refresh_limit (provider, NULL, NULL));
  g_assert_false (bursar_provider_get_redirect_uri_required (provider));
  g_assert_null (bursar_provider_get_api_domain_field (provider));
}

static void
test_shipped_oauth2 (void)
{
  g_autoptr(BursarProvider) provider = load_shipped ("oauth2");

  g_assert_cmpstr (bursar_provider_get_id (provider), ==, "oauth2");
  g_assert_cmpstr (bursar_provider_get_name (provider), ==, "OAuth 2.0");
  assert_strv (bursar_provider_get_flows (provider),
               (const char *[]) { "authorization_code", "client_credentials", NULL });
  g_assert_false (bursar_provider_get_discovery (provider));
  g_assert_true (bursar_provider_get_endpoints_from_options (provider));
  assert_strv (bursar_provider_get_environments (provider), (const char *[]) { NULL });
  assert_strv (bursar_provider_get_default_scopes (provider), (const char *[]) { NULL });
  g_assert_cmpint (bursar_provider_get_revocation (provider), ==, BURSAR_REVOCATION_NONE);
  /* Public clients work; a secret, where issued, comes with the account. */
  g_assert_false (bursar_provider_get_needs_client_secret (provider));
  g_assert_true (bursar_provider_get_pkce (provider));
}

/* A file with Zoho's quirks: three data centres, comma scopes, extra
 * authorization parameters, a revoke call without client auth and the
 * token in the query, and its own header scheme. */
static const char zoho_data[] =
  "# Zoho-like\n"
  "[Provider]\n"
  "Name=Zoho Invoice\n"
  "Name[de]=Zoho Invoice (Rechnungen)\n"
  "Flows=authorization_code;\n"
  "ClientId=1000.ABC\n"
  "DefaultScopes=ZohoInvoice.invoices.READ;ZohoInvoice.invoices.CREATE;\n"
  "ScopeSeparator=comma\n"
  "AuthorizeParams=access_type=offline;prompt=consent;\n"
  "RedirectHost=localhost\n"
  "RedirectUriRequired=true\n"
  "TokenEncoding=form\n"
  "ClientAuth=post\n"
  "ClientAuthRevoke=omit\n"
  "Revocation=refresh\n"
  "RevocationEncoding=query\n"
  "RevocationSendsHint=false\n"
  "HeaderScheme=Zoho-oauthtoken\n"
  "HeadersFromOptions=X-com-zoho-invoice-organizationid={organization_id};\n"
  "HostOverrideParams=accounts-server;\n"
  "ApiDomainField=api_domain\n"
  "DetailsFields=location;api_domain;\n"
  "ErrorShapes=rfc6749;ok-with-error;\n"
  "RefreshLimit=10/600\n"
  "DefaultLifetime=3600\n"
  "ExpiryMargin=120\n"
  "\n"
  "[Environment us]\n"
  "AuthorizationEndpoint=https://accounts.zoho.com/oauth/v2/auth\n"
  "TokenEndpoint=https://accounts.zoho.com/oauth/v2/token\n"
  "RevocationEndpoint=https://accounts.zoho.com/oauth/v2/token/revoke\n"
  "ApiBaseUrl=https://www.zohoapis.com/invoice/v3\n"
  "\n"
  "[Environment eu]\n"
  "AuthorizationEndpoint=https://accounts.zoho.com/oauth/v2/auth\n"
  "TokenEndpoint=https://accounts.zoho.eu/oauth/v2/token\n"
  "RevocationEndpoint=https://accounts.zoho.eu/oauth/v2/token/revoke\n"
  "ApiBaseUrl=https://www.zohoapis.eu/invoice/v3\n"
  "KnownHosts=accounts.zoho.eu;www.zohoapis.eu;\n"
  "\n"
  "[Environment ca]\n"
  "AuthorizationEndpoint=https://accounts.zoho.com/oauth/v2/auth\n"
  "TokenEndpoint=https://accounts.zohocloud.ca/oauth/v2/token\n"
  "RevocationEndpoint=https://accounts.zohocloud.ca/oauth/v2/token/revoke\n"
  "ApiBaseUrl=https://WWW.ZohoApis.ca/invoice/v3\n"
  "KnownHosts=Accounts.ZohoCloud.ca;\n";

static void
test_quirky (void)
{
  g_autoptr(BursarProvider) provider = NULL;
  g_autoptr(GError) error = NULL;
  guint count = 0, window = 0;

  provider = bursar_provider_new_from_data ("zoho", zoho_data, -1, &error);
  g_assert_no_error (error);
  g_assert_nonnull (provider);

  g_assert_cmpstr (bursar_provider_get_id (provider), ==, "zoho");
  g_assert_null (bursar_provider_get_path (provider));
  g_assert_cmpstr (bursar_provider_get_name (provider), ==, "Zoho Invoice");
  assert_strv (bursar_provider_get_environments (provider),
               (const char *[]) { "us", "eu", "ca", NULL });
  g_assert_true (bursar_provider_has_environment (provider, "eu"));
  g_assert_false (bursar_provider_has_environment (provider, "uk"));

  /* NULL is the first environment; an unknown one has no endpoints. */
  g_assert_cmpstr (bursar_provider_get_endpoint (provider, NULL, BURSAR_ENDPOINT_TOKEN), ==,
                   "https://accounts.zoho.com/oauth/v2/token");
  g_assert_cmpstr (bursar_provider_get_endpoint (provider, "eu", BURSAR_ENDPOINT_TOKEN), ==,
                   "https://accounts.zoho.eu/oauth/v2/token");
  g_assert_cmpstr (bursar_provider_get_endpoint (provider, "ca", BURSAR_ENDPOINT_REVOCATION), ==,
                   "https://accounts.zohocloud.ca/oauth/v2/token/revoke");
  g_assert_cmpstr (bursar_provider_get_endpoint (provider, "ca", BURSAR_ENDPOINT_API_BASE), ==,
                   "https://WWW.ZohoApis.ca/invoice/v3");
  g_assert_null (bursar_provider_get_endpoint (provider, "eu", BURSAR_ENDPOINT_USERINFO));
  g_assert_null (bursar_provider_get_endpoint (provider, "eu", BURSAR_ENDPOINT_ISSUER));
  g_assert_null (bursar_provider_get_endpoint (provider, "uk", BURSAR_ENDPOINT_TOKEN));

  /* Endpoint hosts plus KnownHosts, lower case, each once, file order. */
  assert_strv (bursar_provider_get_known_hosts (provider),
               (const char *[]) { "accounts.zoho.com", "www.zohoapis.com",
                                  "accounts.zoho.eu", "www.zohoapis.eu",
                                  "accounts.zohocloud.ca", "www.zohoapis.ca", NULL });

  g_assert_cmpstr (bursar_provider_get_client_id (provider), ==, "1000.ABC");
  g_assert_true (bursar_provider_get_needs_client_secret (provider));
  assert_strv (bursar_provider_get_default_scopes (provider),
               (const char *[]) { "ZohoInvoice.invoices.READ", "ZohoInvoice.invoices.CREATE", NULL });
  g_assert_cmpstr (bursar_provider_get_scope_separator (provider), ==, ",");
  assert_strv (bursar_provider_get_authorize_params (provider),
               (const char *[]) { "access_type=offline", "prompt=consent", NULL });
  g_assert_cmpstr (bursar_provider_get_redirect_host (provider), ==, "localhost");
  g_assert_true (bursar_provider_get_redirect_uri_required (provider));

  g_assert_cmpint (bursar_provider_get_client_auth (provider, BURSAR_CALL_EXCHANGE), ==, BURSAR_CLIENT_AUTH_POST);
  g_assert_cmpint (bursar_provider_get_client_auth (provider, BURSAR_CALL_REFRESH), ==, BURSAR_CLIENT_AUTH_POST);
  g_assert_cmpint (bursar_provider_get_client_auth (provider, BURSAR_CALL_REVOKE), ==, BURSAR_CLIENT_AUTH_OMIT);
  g_assert_cmpint (bursar_provider_get_revocation (provider), ==, BURSAR_REVOCATION_REFRESH);
  g_assert_cmpint (bursar_provider_get_revocation_encoding (provider), ==, BURSAR_BODY_QUERY);
  g_assert_false (bursar_provider_get_revocation_sends_hint (provider));
  g_assert_cmpstr (bursar_provider_get_header_scheme (provider), ==, "Zoho-oauthtoken");
  assert_strv (bursar_provider_get_headers_from_options (provider),
               (const char *[]) { "X-com-zoho-invoice-organizationid={organization_id}", NULL });
  assert_strv (bursar_provider_get_host_override_params (provider),
               (const char *[]) { "accounts-server", NULL });
  g_assert_cmpstr (bursar_provider_get_api_domain_field (provider), ==, "api_domain");
  assert_strv (bursar_provider_get_details_fields (provider),
               (const char *[]) { "location", "api_domain", NULL });
  g_assert_cmpint (bursar_provider_get_error_shapes (provider), ==,
                   BURSAR_ERROR_SHAPE_RFC6749 | BURSAR_ERROR_SHAPE_OK_WITH_ERROR);
  g_assert_true (bursar_provider_get_refresh_limit (provider, &count, &window));
  g_assert_cmpuint (count, ==, 10);
  g_assert_cmpuint (window, ==, 600);
  g_assert_cmpint (bursar_provider_get_default_lifetime (provider), ==, 3600);
  g_assert_cmpint (bursar_provider_get_expiry_margin (provider), ==, 120);
}

/* Apruve's and Invoice Processor's field renames, JSON, the POST start. */
static void
test_field_mapping (void)
{
  static const char data[] =
    "[Provider]\n"
    "Name=Mapped\n"
    "CodeParam=authorization_code\n"
    "TokenEncoding=json\n"
    "AuthorizationMethod=post-json\n"
    "ExchangeSendsRedirectUri=false\n"
    "ExchangeSendsState=true\n"
    "AccessTokenFields=token;accessToken;\n"
    "RefreshAccessTokenFields=access_token;\n"
    "RefreshTokenFields=refreshToken;refresh_token;\n"
    "TokenTypeOptional=true\n"
    "Refresh=false\n"
    "ReauthErrors=invalid_grant;invalid_code;\n"
    "ErrorShapes=message-array;type-message;callback-description;\n"
    "TemplatedScopes=urn:zitadel:iam:org:id:{target_org_id};\n"
    "DetailsFields=org_id=urn:zitadel:iam:user:resourceowner:id;corporate_account_id;\n"
    "ClientId=public\n"
    "ClientSecret=shipped-secret\n"
    "Pkce=none\n"
    "[Environment production]\n"
    "AuthorizationEndpoint=https://api.example.com/api/oauth2/auth\n"
    "TokenEndpoint=https://api.example.com/api/oauth2/tokens\n"
    "[Environment local]\n"
    "AuthorizationEndpoint=http://127.0.0.1:8080/auth\n"
    "TokenEndpoint=http://[::1]:8080/token\n";
  g_autoptr(BursarProvider) provider = NULL;
  g_autoptr(GError) error = NULL;

  provider = bursar_provider_new_from_data ("mapped", data, -1, &error);
  g_assert_no_error (error);

  g_assert_cmpstr (bursar_provider_get_code_param (provider), ==, "authorization_code");
  g_assert_cmpint (bursar_provider_get_token_encoding (provider), ==, BURSAR_BODY_JSON);
  g_assert_cmpint (bursar_provider_get_authorization_method (provider), ==, BURSAR_AUTHORIZATION_POST_JSON);
  g_assert_false (bursar_provider_get_exchange_sends_redirect_uri (provider));
  g_assert_true (bursar_provider_get_exchange_sends_state (provider));
  assert_strv (bursar_provider_get_access_token_fields (provider, BURSAR_CALL_EXCHANGE),
               (const char *[]) { "token", "accessToken", NULL });
  assert_strv (bursar_provider_get_access_token_fields (provider, BURSAR_CALL_CLIENT_CREDENTIALS),
               (const char *[]) { "token", "accessToken", NULL });
  assert_strv (bursar_provider_get_access_token_fields (provider, BURSAR_CALL_REFRESH),
               (const char *[]) { "access_token", NULL });
  /* RefreshRefreshTokenFields defaults to RefreshTokenFields. */
  assert_strv (bursar_provider_get_refresh_token_fields (provider, BURSAR_CALL_REFRESH),
               (const char *[]) { "refreshToken", "refresh_token", NULL });
  g_assert_true (bursar_provider_get_token_type_optional (provider));
  g_assert_false (bursar_provider_get_refresh_supported (provider));
  assert_strv (bursar_provider_get_reauth_errors (provider),
               (const char *[]) { "invalid_grant", "invalid_code", NULL });
  g_assert_cmpint (bursar_provider_get_error_shapes (provider), ==,
                   BURSAR_ERROR_SHAPE_MESSAGE_ARRAY | BURSAR_ERROR_SHAPE_TYPE_MESSAGE
                   | BURSAR_ERROR_SHAPE_CALLBACK_DESCRIPTION);
  assert_strv (bursar_provider_get_templated_scopes (provider),
               (const char *[]) { "urn:zitadel:iam:org:id:{target_org_id}", NULL });
  g_assert_cmpstr (bursar_provider_get_client_secret (provider), ==, "shipped-secret");
  /* The file ships a secret, so the user need not bring one. */
  g_assert_false (bursar_provider_get_needs_client_secret (provider));
  g_assert_false (bursar_provider_get_pkce (provider));
  /* No revocation endpoint anywhere: Remove() is local. */
  g_assert_cmpint (bursar_provider_get_revocation (provider), ==, BURSAR_REVOCATION_NONE);
  assert_strv (bursar_provider_get_known_hosts (provider),
               (const char *[]) { "api.example.com", "127.0.0.1", "::1", NULL });
}

#define HEAD "[Provider]\nName=X\n"
#define ENV "[Environment prod]\n" \
            "AuthorizationEndpoint=https://a.example/auth\n" \
            "TokenEndpoint=https://a.example/token\n"

typedef struct
{
  const char *data;
  const char *key; /* must appear in the message */
} BadCase;

static const BadCase bad_cases[] = {
  { "[Provider]\nFlows=authorization_code;\n" ENV, "Name" },
  { "[Provider]\nName=\n" ENV, "Name" },
  { HEAD "Pkce=plain\n" ENV, "Pkce" },
  { HEAD "Pkce=S512\n" ENV, "Pkce" },
  { HEAD "Pkce=\n" ENV, "Pkce" },
  { HEAD "TokenEncoding=xml\n" ENV, "TokenEncoding" },
  { HEAD "RevocationEncoding=body\n" ENV, "RevocationEncoding" },
  { HEAD "ClientAuth=private_key_jwt\n" ENV, "ClientAuth" },
  { HEAD "ClientAuthRevoke=bogus\n" ENV, "ClientAuthRevoke" },
  { HEAD "ClientAuthRefresh=Basic\n" ENV, "ClientAuthRefresh" },
  { HEAD "Flows=client_credentials;\nClientAuthClientCredentials=none\n" ENV, "ClientAuthClientCredentials" },
  { HEAD "Revocation=maybe\n" ENV, "Revocation" },
  { HEAD "Revocation=refresh\n" ENV, "Revocation" },
  { HEAD "ScopeSeparator=tab\n" ENV, "ScopeSeparator" },
  { HEAD "ScopeSeparator=comma\nDefaultScopes=a,b;\n" ENV, "DefaultScopes" },
  { HEAD "RequiredScopes=open id;\n" ENV, "RequiredScopes" },
  { HEAD "RedirectHost=0.0.0.0\n" ENV, "RedirectHost" },
  { HEAD "AuthorizationMethod=post\n" ENV, "AuthorizationMethod" },
  { HEAD "Flows=implicit;\n" ENV, "Flows" },
  { HEAD "Flows=authorization_code;authorization_code;\n" ENV, "Flows" },
  { HEAD "Discovery=yes\n" ENV, "Discovery" },
  { HEAD "Discovery=true\nEndpointsFromOptions=true\n", "EndpointsFromOptions" },
  { HEAD "DefaultLifetime=-5\n" ENV, "DefaultLifetime" },
  { HEAD "DefaultLifetime=1h\n" ENV, "DefaultLifetime" },
  { HEAD "AuthorizeParams=state=abc;\n" ENV, "AuthorizeParams" },
  { HEAD "AuthorizeParams=noequals;\n" ENV, "AuthorizeParams" },
  { HEAD "CodeParam=co de\n" ENV, "CodeParam" },
  { HEAD "AccessTokenFields=\n" ENV, "AccessTokenFields" },
  { HEAD "HeaderScheme=Bearer token\n" ENV, "HeaderScheme" },
  { HEAD "HeadersFromOptions=Authorization=x {org};\n" ENV, "HeadersFromOptions" },
  { HEAD "HeadersFromOptions=X-Org=fixed;\n" ENV, "HeadersFromOptions" },
  { HEAD "HeadersFromOptions=X-Org={Org};\n" ENV, "HeadersFromOptions" },
  { HEAD "TemplatedScopes=urn:org:{org;\n" ENV, "TemplatedScopes" },
  { HEAD "TemplatedScopes=plain_scope;\n" ENV, "TemplatedScopes" },
  { HEAD "HostOverrideParams=accounts server;\n" ENV, "HostOverrideParams" },
  { HEAD "DetailsFields=a b;\n" ENV, "DetailsFields" },
  { HEAD "ApiDomainField=api domain\n" ENV, "ApiDomainField" },
  { HEAD "RefreshLimit=10\n" ENV, "RefreshLimit" },
  { HEAD "RefreshLimit=0/600\n" ENV, "RefreshLimit" },
  { HEAD "ErrorShapes=xml;\n" ENV, "ErrorShapes" },
  { HEAD "Colour=blue\n" ENV, "Colour" },
  { HEAD "DefaultScopes[de]=a;\n" ENV, "DefaultScopes[de]" },
  { HEAD "ClientSecret=s\n" ENV, "ClientId" },
  { HEAD "[Environment prod]\nAuthorizationEndpoint=https://a.example/auth\n", "TokenEndpoint" },
  { HEAD "[Environment prod]\nTokenEndpoint=https://a.example/token\n", "AuthorizationEndpoint" },
  { HEAD "Flows=personal_access_token;\n" ENV, "UserinfoEndpoint" },
  { HEAD "Discovery=true\n[Environment prod]\nApiBaseUrl=https://a.example/\n", "Issuer" },
  { HEAD "[Environment prod]\nAuthorizationEndpoint=https://a.example/auth\n"
    "TokenEndpoint=http://a.example/token\n", "TokenEndpoint" },
  { HEAD "[Environment prod]\nAuthorizationEndpoint=ftp://a.example/auth\n"
    "TokenEndpoint=https://a.example/token\n", "AuthorizationEndpoint" },
  { HEAD ENV "RevocationEndpoint=https://user:pw@a.example/revoke\n", "RevocationEndpoint" },
  { HEAD ENV "UserinfoEndpoint=https://a.example/userinfo#x\n", "UserinfoEndpoint" },
  { HEAD ENV "ApiBaseUrl=not a url\n", "ApiBaseUrl" },
  { HEAD ENV "Issuer=https:///nohost\n", "Issuer" },
  { HEAD ENV "KnownHosts=bad host;\n", "KnownHosts" },
  { HEAD ENV "KnownHosts=host.example:443;\n", "KnownHosts" },
  { HEAD ENV "Tokenendpoint=https://a.example/token\n", "Tokenendpoint" },
  { HEAD "[Environment Prod]\nTokenEndpoint=https://a.example/token\n", "Environment Prod" },
  { HEAD ENV "[Enviroment eu]\nTokenEndpoint=https://a.example/token\n", "Enviroment eu" },
  { HEAD, "Environment" },
  { ENV, "[Provider]" },
};

static void
test_malformed (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (bad_cases); i++)
    {
      g_autoptr(BursarProvider) provider = NULL;
      g_autoptr(GError) error = NULL;

      g_test_message ("case %u: expecting %s", i, bad_cases[i].key);
      provider = bursar_provider_new_from_data ("bad", bad_cases[i].data, -1, &error);
      g_assert_null (provider);
      g_assert_nonnull (error);
      g_assert_true (error->domain == BURSAR_ERROR || error->domain == G_KEY_FILE_ERROR);
      g_test_message ("  %s", error->message);
      g_assert_true (g_str_has_prefix (error->message, "bad.provider: "));
      g_assert_nonnull (strstr (error->message, bad_cases[i].key));
    }
}

/* GKeyFile syntax errors keep their domain, with the file named. */
static void
test_syntax_error (void)
{
  g_autoptr(BursarProvider) provider = NULL;
  g_autoptr(GError) error = NULL;

  provider = bursar_provider_new_from_data ("broken", "[Provider\nName=X\n", -1, &error);
  g_assert_null (provider);
  g_assert_true (error->domain == G_KEY_FILE_ERROR);
  g_assert_true (g_str_has_prefix (error->message, "broken.provider: "));
}

/* A client secret never appears in a message, even when its own key is
 * the fault or another key fails next to it. */
static void
test_secret_not_in_errors (void)
{
  static const char *const cases[] = {
    HEAD "ClientId=id\nClientSecret=canary-secret-value\nPkce=plain\n" ENV,
    HEAD "ClientSecret=canary-secret-value\n" ENV,
    HEAD "ClientId=id\nClientSecret=canary-secret-value\nClientAuth=canary-secret-value\n" ENV,
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(BursarProvider) provider = NULL;
      g_autoptr(GError) error = NULL;

      provider = bursar_provider_new_from_data ("secret", cases[i], -1, &error);
      g_assert_null (provider);
      g_assert_nonnull (error);
      /* The third case echoes the ClientAuth value, which is not secret
       * by design; only check that ClientSecret itself is not reported. */
      if (i < 2)
        g_assert_null (strstr (error->message, "canary"));
    }
}

static void
test_bad_ids (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(BursarProvider) provider = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *path = NULL;

  provider = bursar_provider_new_from_data ("a/b", HEAD ENV, -1, &error);
  g_assert_null (provider);
  g_assert_error (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  provider = bursar_provider_new_from_file ("/nonexistent/x.conf", &error);
  g_assert_null (provider);
  g_assert_error (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  /* A directory called *.provider is not read. */
  dir = g_dir_make_tmp ("bursar-provider-XXXXXX", &error);
  g_assert_no_error (error);
  path = g_build_filename (dir, "x.provider", NULL);
  g_assert_cmpint (g_mkdir (path, 0700), ==, 0);
  provider = bursar_provider_new_from_file (path, &error);
  g_assert_null (provider);
  g_assert_error (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, path));
  g_assert_cmpint (g_rmdir (path), ==, 0);
  g_assert_cmpint (g_rmdir (dir), ==, 0);
}

/* A minimal valid provider file called @name. */
#define PROVIDER_TEXT(name) "[Provider]\nName=" name "\nEndpointsFromOptions=true\n"

static void
write_file (const char *dir,
            const char *name,
            const char *contents)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr(GError) error = NULL;

  g_file_set_contents (path, contents, -1, &error);
  g_assert_no_error (error);
}

static void
remove_tree (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);
      g_assert_cmpint (g_remove (child), ==, 0);
    }
  g_assert_cmpint (g_rmdir (path), ==, 0);
}

static void
assert_provider (BursarProviderRegistry *registry,
                 const char             *id,
                 const char             *name,
                 const char             *dir)
{
  BursarProvider *provider = bursar_provider_registry_lookup (registry, id);
  g_autofree char *file = g_strconcat (id, ".provider", NULL);
  g_autofree char *path = g_build_filename (dir, file, NULL);

  g_assert_nonnull (provider);
  g_assert_cmpstr (bursar_provider_get_name (provider), ==, name);
  g_assert_cmpstr (bursar_provider_get_path (provider), ==, path);
}

static void
test_registry (void)
{
  char *dirs[3] = { NULL, };
  g_autofree char *missing = NULL;
  g_autoptr(BursarProviderRegistry) registry = NULL;
  g_autoptr(GPtrArray) list = NULL;
  const char *search[5];
  static const char *const expected_ids[] = { "a", "b", "c", "x" };

  for (guint i = 0; i < 3; i++)
    {
      g_autoptr(GError) error = NULL;

      dirs[i] = g_dir_make_tmp ("bursar-providers-XXXXXX", &error);
      g_assert_no_error (error);
      search[i] = dirs[i];
    }
  missing = g_build_filename (dirs[0], "missing", NULL);
  search[3] = missing;
  search[4] = NULL;

  /* dir 1: wins for a; a broken x that must not hide dir 2's x; files
   * that are not provider files. */
  write_file (dirs[0], "a.provider", PROVIDER_TEXT ("A1"));
  write_file (dirs[0], "x.provider", "[Provider]\nName=X1\nEndpointsFromOptions=true\nPkce=plain\n");
  write_file (dirs[0], "readme.txt", "not a provider");
  write_file (dirs[0], ".hidden.provider", "garbage");
  /* dir 2 */
  write_file (dirs[1], "a.provider", PROVIDER_TEXT ("A2"));
  write_file (dirs[1], "b.provider", PROVIDER_TEXT ("B2"));
  write_file (dirs[1], "x.provider", PROVIDER_TEXT ("X2"));
  /* dir 3: a broken file shadowed by a valid one is never parsed, so it
   * adds no warning. */
  write_file (dirs[2], "a.provider", "garbage");
  write_file (dirs[2], "b.provider", PROVIDER_TEXT ("B3"));
  write_file (dirs[2], "c.provider", PROVIDER_TEXT ("C3"));

  /* Exactly one warning: a second one would abort (fatal-warnings). */
  g_test_expect_message (DAEMON_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "*x.provider*Pkce*");
  registry = bursar_provider_registry_new (search);
  g_test_assert_expected_messages ();

  assert_provider (registry, "a", "A1", dirs[0]);
  assert_provider (registry, "b", "B2", dirs[1]);
  assert_provider (registry, "c", "C3", dirs[2]);
  assert_provider (registry, "x", "X2", dirs[1]);
  g_assert_null (bursar_provider_registry_lookup (registry, "hidden"));
  g_assert_null (bursar_provider_registry_lookup (registry, ".hidden"));
  g_assert_null (bursar_provider_registry_lookup (registry, "readme"));
  g_assert_null (bursar_provider_registry_lookup (registry, NULL));

  list = bursar_provider_registry_list (registry);
  g_assert_cmpuint (list->len, ==, G_N_ELEMENTS (expected_ids));
  for (guint i = 0; i < list->len; i++)
    g_assert_cmpstr (bursar_provider_get_id (g_ptr_array_index (list, i)), ==, expected_ids[i]);

  for (guint i = 0; i < 3; i++)
    {
      remove_tree (dirs[i]);
      g_free (dirs[i]);
    }
}

/* The shipped files load through the search path without a warning. */
static void
test_registry_shipped (void)
{
  const char *search[] = { g_getenv ("BURSAR_PROVIDERS_DIR"), NULL };
  g_autoptr(BursarProviderRegistry) registry = bursar_provider_registry_new (search);

  g_assert_nonnull (bursar_provider_registry_lookup (registry, "oidc"));
  g_assert_nonnull (bursar_provider_registry_lookup (registry, "oauth2"));
}

static void
test_default_dirs (void)
{
  if (g_test_subprocess ())
    {
      g_auto(GStrv) dirs = NULL;
      g_autofree char *sysconf = g_build_filename (SYSCONFDIR, "bursar", "providers", NULL);
      g_autofree char *pkgdata = g_build_filename (PKGDATADIR, "providers", NULL);

      /* Before the first g_get_user_config_dir(), which caches. */
      g_setenv ("XDG_CONFIG_HOME", "/test/config", TRUE);
      g_setenv ("BURSAR_PROVIDERS_DIR", "/test/a::/test/b", TRUE);
      dirs = bursar_provider_registry_default_dirs ();
      assert_strv ((const char * const *) dirs,
                   (const char *[]) { "/test/config/bursar/providers", sysconf, pkgdata,
                                      "/test/a", "/test/b", NULL });
      return;
    }

  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

/* g_get_language_names() follows LANGUAGE, and the name is picked when
 * the file is read; a subprocess keeps the setenv() out of the others. */
static void
test_translated_name (void)
{
  if (g_test_subprocess ())
    {
      g_autoptr(BursarProvider) oidc = NULL;
      g_autoptr(BursarProvider) oauth2 = NULL;

      g_setenv ("LANGUAGE", "de", TRUE);
      oidc = load_shipped ("oidc");
      oauth2 = load_shipped ("oauth2");
      g_assert_cmpstr (bursar_provider_get_name (oidc), ==, "OpenID Connect (beliebiger Anbieter)");
      g_assert_cmpstr (bursar_provider_get_name (oauth2), ==, "OAuth 2.0 (beliebiger Server)");
      return;
    }

  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

/* The annotated example of bursar-provider(5) is a valid file. */
static void
test_man_example (void)
{
  g_autofree char *path = NULL;
  g_autofree char *page = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(BursarProvider) provider = NULL;
  const char *start;
  const char *end;
  g_autofree char *example = NULL;

  g_assert_nonnull (g_getenv ("BURSAR_SRCDIR"));
  path = g_build_filename (g_getenv ("BURSAR_SRCDIR"), "docs", "bursar-provider.5", NULL);
  g_file_get_contents (path, &page, NULL, &error);
  g_assert_no_error (error);

  start = strstr (page, "\n.EX\n");
  g_assert_nonnull (start);
  start += strlen ("\n.EX\n");
  end = strstr (start, ".EE\n");
  g_assert_nonnull (end);
  example = g_strndup (start, end - start);
  /* The example is plain text: no troff escapes to undo. */
  g_assert_null (strchr (example, '\\'));

  provider = bursar_provider_new_from_data ("zoho", example, -1, &error);
  g_assert_no_error (error);
  assert_strv (bursar_provider_get_environments (provider), (const char *[]) { "us", "eu", NULL });
  g_assert_cmpstr (bursar_provider_get_header_scheme (provider), ==, "Zoho-oauthtoken");
  g_assert_cmpint (bursar_provider_get_client_auth (provider, BURSAR_CALL_REVOKE), ==, BURSAR_CLIENT_AUTH_OMIT);
}

int
main (int   argc,
      char *argv[])
{
  /* The English names are the reference; a LANGUAGE from the calling
   * shell must not change them. */
  g_unsetenv ("LANGUAGE");

  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/provider/shipped/oidc", test_shipped_oidc);
  g_test_add_func ("/provider/shipped/oauth2", test_shipped_oauth2);
  g_test_add_func ("/provider/quirky", test_quirky);
  g_test_add_func ("/provider/field-mapping", test_field_mapping);
  g_test_add_func ("/provider/malformed", test_malformed);
  g_test_add_func ("/provider/syntax-error", test_syntax_error);
  g_test_add_func ("/provider/secret-not-in-errors", test_secret_not_in_errors);
  g_test_add_func ("/provider/bad-ids", test_bad_ids);
  g_test_add_func ("/provider/translated-name", test_translated_name);
  g_test_add_func ("/provider/man-example", test_man_example);
  g_test_add_func ("/registry/shadowing", test_registry);
  g_test_add_func ("/registry/shipped", test_registry_shipped);
  g_test_add_func ("/registry/default-dirs", test_default_dirs);

  return g_test_run ();
}
