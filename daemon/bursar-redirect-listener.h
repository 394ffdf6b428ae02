/* bursar-redirect-listener.h: the one-shot loopback listener that receives
 * the browser's redirect at the end of an authorization (RFC 8252 §7.3).
 *
 * Binds 127.0.0.1 only (never 0.0.0.0), on an ephemeral port unless the
 * account names a fixed loopback redirect URI. Stray requests (wrong path,
 * method or Host, missing or wrong `state`, wrong `iss`, oversized) get an
 * inert 400/404 page and the listener keeps waiting; only a request with the
 * right `state` ends the wait. The answer page is static, translated, with
 * no external resources, Referrer-Policy: no-referrer, and never a redirect.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define BURSAR_TYPE_REDIRECT_LISTENER (bursar_redirect_listener_get_type ())
G_DECLARE_FINAL_TYPE (BursarRedirectListener, bursar_redirect_listener, BURSAR, REDIRECT_LISTENER, GObject)

/* @redirect_uri: NULL for http://127.0.0.1:<ephemeral>/callback, or a fixed
 * http://127.0.0.1:PORT/PATH, http://[::1]:PORT/PATH or
 * http://localhost:PORT/PATH (bound to 127.0.0.1). */
BursarRedirectListener *bursar_redirect_listener_new (const char  *redirect_uri,
                                                      GError     **error);

/* The exact redirect_uri to send in both the authorization and the token
 * request (byte-identical, RFC 6749 §4.1.3). */
const char *bursar_redirect_listener_get_redirect_uri (BursarRedirectListener *self);

/* Waits for the one valid callback. @expected_issuer NULL: `iss` is not
 * checked; otherwise an `iss` that is sent must equal it, and with
 * @issuer_required a missing `iss` is rejected (RFC 9207). Fails with
 * G_IO_ERROR_TIMED_OUT after @timeout_seconds, or when cancelled. */
void bursar_redirect_listener_wait_async (BursarRedirectListener *self,
                                          const char             *expected_state,
                                          const char             *expected_issuer,
                                          gboolean                issuer_required,
                                          guint                   timeout_seconds,
                                          GCancellable           *cancellable,
                                          GAsyncReadyCallback     callback,
                                          gpointer                user_data);
/* The callback's query parameters (string → string; values wiped on
 * free): `code`, or `error`/`error_description`, plus provider extras. */
GHashTable *bursar_redirect_listener_wait_finish (BursarRedirectListener  *self,
                                                  GAsyncResult            *result,
                                                  GError                 **error);

/* Answers the browser that made the valid callback (its response is held
 * until now) with a success or failure page showing @message (escaped),
 * then stops listening. */
void bursar_redirect_listener_respond (BursarRedirectListener *self,
                                       gboolean                success,
                                       const char             *message);

/* Stops listening; a held browser request gets a failure page. */
void bursar_redirect_listener_close (BursarRedirectListener *self);

/* Shared with CompleteAuthorization(): parses the query of a full redirect
 * URL into a table as above. */
GHashTable *bursar_callback_parse_url (const char  *redirect_url,
                                       GError     **error);
/* Checks `state` (constant-time) and `iss` as described above. */
gboolean bursar_callback_check (GHashTable  *params,
                                const char  *expected_state,
                                const char  *expected_issuer,
                                gboolean     issuer_required,
                                GError     **error);

G_END_DECLS
