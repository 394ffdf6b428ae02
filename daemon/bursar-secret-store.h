/* bursar-secret-store.h: an account's secrets in the Secret Service.
 *
 * One item per account, schema org.bursar.Account, attribute account-id;
 * the secret is a small JSON object. Nothing here is ever written to disk
 * by Bursar itself.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct
{
  char *refresh_token;  /* NULL when none */
  char *access_token;   /* NULL when none cached */
  gint64 expires_at;    /* of access_token; unix seconds, 0 unknown */
  char *token_type;     /* NULL = Bearer */
  char *client_secret;  /* NULL when the account has none of its own */
  char *personal_token; /* flow personal_access_token */
} BursarSecrets;

BursarSecrets *bursar_secrets_new (void);
BursarSecrets *bursar_secrets_copy (const BursarSecrets *secrets);
void bursar_secrets_free (BursarSecrets *secrets);
char *bursar_secrets_serialize (const BursarSecrets *secrets);
BursarSecrets *bursar_secrets_parse (const char  *text,
                                     GError     **error);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BursarSecrets, bursar_secrets_free)

#define BURSAR_TYPE_SECRET_STORE (bursar_secret_store_get_type ())
G_DECLARE_FINAL_TYPE (BursarSecretStore, bursar_secret_store, BURSAR, SECRET_STORE, GObject)

BursarSecretStore *bursar_secret_store_new (void);

/* Nothing here touches the Secret Service before the first call.
 *
 * At most one unlock prompt is open at a time, for all accounts: a lookup
 * or store that finds the keyring locked while a prompt is open waits for
 * that prompt and shares its outcome.
 *
 * Finishes with NULL and no error when the account has no item. A locked
 * collection is unlocked (the user may be prompted, this is only called on
 * an explicit request); a dismissed prompt is BURSAR_ERROR_KEYRING_LOCKED,
 * never "no item". No Secret Service: BURSAR_ERROR_KEYRING_UNAVAILABLE. */
void bursar_secret_store_lookup_async (BursarSecretStore   *self,
                                       const char          *account_id,
                                       GCancellable        *cancellable,
                                       GAsyncReadyCallback  callback,
                                       gpointer             user_data);
BursarSecrets *bursar_secret_store_lookup_finish (BursarSecretStore  *self,
                                                  GAsyncResult       *result,
                                                  GError            **error);

/* Replaces the account's item in the default collection. A locked
 * collection is unlocked through the one prompt, once; after the user
 * dismissed a prompt, stores (such as background retries) do not ask
 * again until the keyring has been seen unlocked, and finish with
 * BURSAR_ERROR_KEYRING_LOCKED. */
void bursar_secret_store_store_async (BursarSecretStore   *self,
                                      const char          *account_id,
                                      const char          *label,
                                      const BursarSecrets *secrets,
                                      GCancellable        *cancellable,
                                      GAsyncReadyCallback  callback,
                                      gpointer             user_data);
gboolean bursar_secret_store_store_finish (BursarSecretStore  *self,
                                           GAsyncResult       *result,
                                           GError            **error);

void bursar_secret_store_clear_async (BursarSecretStore   *self,
                                      const char          *account_id,
                                      GCancellable        *cancellable,
                                      GAsyncReadyCallback  callback,
                                      gpointer             user_data);
gboolean bursar_secret_store_clear_finish (BursarSecretStore  *self,
                                           GAsyncResult       *result,
                                           GError            **error);

G_END_DECLS
