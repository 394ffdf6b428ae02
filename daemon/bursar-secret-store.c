/* bursar-secret-store.c
 *
 * Uses the SecretService API rather than secret_password_lookup(): the
 * latter returns NULL without an error when an unlock prompt is dismissed,
 * which would make a locked keyring look like a missing account.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <json-glib/json-glib.h>
#include <libsecret/secret.h>
#include <string.h>

#include "bursar-error.h"
#include "bursar-secret.h"
#include "bursar-secret-store.h"

struct _BursarSecretStore
{
  GObject parent_instance;
};

G_DEFINE_TYPE (BursarSecretStore, bursar_secret_store, G_TYPE_OBJECT)

static const SecretSchema *
bursar_account_schema (void)
{
  static const SecretSchema schema = {
    "org.bursar.Account",
    SECRET_SCHEMA_NONE,
    {
      { "account-id", SECRET_SCHEMA_ATTRIBUTE_STRING },
      { NULL, 0 },
    },
    0, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  };
  return &schema;
}

BursarSecrets *
bursar_secrets_new (void)
{
  return g_new0 (BursarSecrets, 1);
}

BursarSecrets *
bursar_secrets_copy (const BursarSecrets *secrets)
{
  BursarSecrets *copy = bursar_secrets_new ();

  copy->refresh_token = g_strdup (secrets->refresh_token);
  copy->access_token = g_strdup (secrets->access_token);
  copy->expires_at = secrets->expires_at;
  copy->token_type = g_strdup (secrets->token_type);
  copy->client_secret = g_strdup (secrets->client_secret);
  copy->personal_token = g_strdup (secrets->personal_token);
  return copy;
}

void
bursar_secrets_free (BursarSecrets *secrets)
{
  if (secrets == NULL)
    return;
  bursar_secret_free (secrets->refresh_token);
  bursar_secret_free (secrets->access_token);
  g_free (secrets->token_type);
  bursar_secret_free (secrets->client_secret);
  bursar_secret_free (secrets->personal_token);
  g_free (secrets);
}

static void
builder_add_secret (JsonBuilder *builder,
                    const char  *name,
                    const char  *value)
{
  if (value == NULL)
    return;
  json_builder_set_member_name (builder, name);
  json_builder_add_string_value (builder, value);
}

char *
bursar_secrets_serialize (const BursarSecrets *secrets)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "version");
  json_builder_add_int_value (builder, 1);
  builder_add_secret (builder, "refresh_token", secrets->refresh_token);
  builder_add_secret (builder, "access_token", secrets->access_token);
  builder_add_secret (builder, "token_type", secrets->token_type);
  builder_add_secret (builder, "client_secret", secrets->client_secret);
  builder_add_secret (builder, "personal_token", secrets->personal_token);
  if (secrets->expires_at != 0)
    {
      json_builder_set_member_name (builder, "expires_at");
      json_builder_add_int_value (builder, secrets->expires_at);
    }
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  return json_generator_to_data (generator, NULL);
}

static char *
object_dup_string (JsonObject *object,
                   const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_dup_string (node);
}

BursarSecrets *
bursar_secrets_parse (const char  *text,
                      GError     **error)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  g_autoptr(BursarSecrets) secrets = bursar_secrets_new ();
  JsonObject *object;
  JsonNode *node;

  /* Our own item, written by bursar_secrets_serialize(): small and flat.
   * A size cap still guards against a foreign item with our schema. */
  if (strlen (text) > 64 * 1024 ||
      !json_parser_load_from_data (parser, text, -1, NULL) ||
      !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_KEYRING_UNAVAILABLE,
                           _("The keyring item of this account is damaged."));
      return NULL;
    }

  object = json_node_get_object (json_parser_get_root (parser));
  secrets->refresh_token = object_dup_string (object, "refresh_token");
  secrets->access_token = object_dup_string (object, "access_token");
  secrets->token_type = object_dup_string (object, "token_type");
  secrets->client_secret = object_dup_string (object, "client_secret");
  secrets->personal_token = object_dup_string (object, "personal_token");
  node = json_object_get_member (object, "expires_at");
  if (node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
      json_node_get_value_type (node) == G_TYPE_INT64)
    secrets->expires_at = json_node_get_int (node);

  return g_steal_pointer (&secrets);
}

/* Maps libsecret and D-Bus failures onto the two keyring errors of the
 * contract. */
static void
convert_keyring_error (GError **error)
{
  GError *e = *error;
  gboolean locked;

  if (e == NULL || e->domain == BURSAR_ERROR)
    return;

  if (g_error_matches (e, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      bursar_error_convert (error);
      return;
    }

  locked = g_error_matches (e, SECRET_ERROR, SECRET_ERROR_IS_LOCKED);
  g_debug ("Secret Service: %s", e->message);
  g_clear_error (error);

  if (locked)
    {
      g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_KEYRING_LOCKED,
                           _("The keyring is locked; unlock it and try again."));
    }
  else
    {
      /* A vanished or restarted keyring leaves libsecret's cached service
       * proxy and session stale; reconnect on the next call. */
      secret_service_disconnect ();
      g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_KEYRING_UNAVAILABLE,
                           _("No keyring (Secret Service) is available on the session bus."));
    }
}

static GHashTable *
account_attributes (const char *account_id)
{
  GHashTable *attributes = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);

  g_hash_table_insert (attributes, (gpointer) "account-id", g_strdup (account_id));
  return attributes;
}

typedef struct
{
  char *account_id;
  char *label;
  SecretValue *value;
} StoreData;

static void
store_data_free (StoreData *data)
{
  g_free (data->account_id);
  g_free (data->label);
  g_clear_pointer (&data->value, secret_value_unref);
  g_free (data);
}

/* --- lookup ---------------------------------------------------------- */

static void
lookup_search_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  g_autoptr(GError) error = NULL;
  GList *items;
  BursarSecrets *secrets = NULL;

  items = secret_service_search_finish (SECRET_SERVICE (source), result, &error);
  if (error != NULL)
    {
      convert_keyring_error (&error);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  if (items != NULL)
    {
      SecretItem *item = items->data;
      g_autoptr(SecretValue) value = secret_item_get_secret (item);

      /* The unlock was asked for: an item that is still locked, or has no
       * secret, means the prompt was dismissed. */
      if (secret_item_get_locked (item) || value == NULL)
        {
          g_set_error_literal (&error, BURSAR_ERROR, BURSAR_ERROR_KEYRING_LOCKED,
                               _("The keyring is locked; unlock it and try again."));
        }
      else
        {
          const char *text = secret_value_get_text (value);

          if (text == NULL)
            g_set_error_literal (&error, BURSAR_ERROR, BURSAR_ERROR_KEYRING_UNAVAILABLE,
                                 _("The keyring item of this account is damaged."));
          else
            secrets = bursar_secrets_parse (text, &error);
        }
    }
  g_list_free_full (items, g_object_unref);

  if (error != NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task, secrets, (GDestroyNotify) bursar_secrets_free);
}

static void
lookup_service_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  g_autoptr(GError) error = NULL;
  g_autoptr(SecretService) service = NULL;
  g_autoptr(GHashTable) attributes = NULL;

  service = secret_service_get_finish (result, &error);
  if (service == NULL)
    {
      convert_keyring_error (&error);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  attributes = account_attributes (g_task_get_task_data (task));
  secret_service_search (service, bursar_account_schema (), attributes,
                         SECRET_SEARCH_UNLOCK | SECRET_SEARCH_LOAD_SECRETS,
                         g_task_get_cancellable (task), lookup_search_cb,
                         g_object_ref (task));
}

void
bursar_secret_store_lookup_async (BursarSecretStore   *self,
                                  const char          *account_id,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, bursar_secret_store_lookup_async);
  g_task_set_task_data (task, g_strdup (account_id), g_free);
  secret_service_get (SECRET_SERVICE_OPEN_SESSION, cancellable, lookup_service_cb,
                      g_steal_pointer (&task));
}

BursarSecrets *
bursar_secret_store_lookup_finish (BursarSecretStore  *self,
                                   GAsyncResult       *result,
                                   GError            **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* --- store ----------------------------------------------------------- */

static void
store_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  g_autoptr(GError) error = NULL;

  if (!secret_service_store_finish (SECRET_SERVICE (source), result, &error))
    {
      convert_keyring_error (&error);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  g_task_return_boolean (task, TRUE);
}

static void
store_service_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  g_autoptr(GError) error = NULL;
  g_autoptr(SecretService) service = NULL;
  g_autoptr(GHashTable) attributes = NULL;
  StoreData *data = g_task_get_task_data (task);

  service = secret_service_get_finish (result, &error);
  if (service == NULL)
    {
      convert_keyring_error (&error);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  attributes = account_attributes (data->account_id);
  /* NULL collection: the default one, as every desktop app uses. The store
   * replaces the existing item with the same attributes. */
  secret_service_store (service, bursar_account_schema (), attributes, NULL, data->label,
                        data->value, g_task_get_cancellable (task), store_cb,
                        g_object_ref (task));
}

void
bursar_secret_store_store_async (BursarSecretStore   *self,
                                 const char          *account_id,
                                 const char          *label,
                                 const BursarSecrets *secrets,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  StoreData *data = g_new0 (StoreData, 1);
  char *text = bursar_secrets_serialize (secrets);

  g_task_set_source_tag (task, bursar_secret_store_store_async);
  data->account_id = g_strdup (account_id);
  data->label = g_strdup (label);
  data->value = secret_value_new_full (text, -1, "application/json",
                                       (GDestroyNotify) bursar_secret_free);
  g_task_set_task_data (task, data, (GDestroyNotify) store_data_free);
  secret_service_get (SECRET_SERVICE_OPEN_SESSION, cancellable, store_service_cb,
                      g_steal_pointer (&task));
}

gboolean
bursar_secret_store_store_finish (BursarSecretStore  *self,
                                  GAsyncResult       *result,
                                  GError            **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* --- clear ----------------------------------------------------------- */

static void
clear_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  g_autoptr(GError) error = NULL;

  /* FALSE without an error means there was nothing to delete. */
  if (!secret_service_clear_finish (SECRET_SERVICE (source), result, &error) && error != NULL)
    {
      convert_keyring_error (&error);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  g_task_return_boolean (task, TRUE);
}

static void
clear_service_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  g_autoptr(GError) error = NULL;
  g_autoptr(SecretService) service = NULL;
  g_autoptr(GHashTable) attributes = NULL;

  service = secret_service_get_finish (result, &error);
  if (service == NULL)
    {
      convert_keyring_error (&error);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  attributes = account_attributes (g_task_get_task_data (task));
  secret_service_clear (service, bursar_account_schema (), attributes,
                        g_task_get_cancellable (task), clear_cb, g_object_ref (task));
}

void
bursar_secret_store_clear_async (BursarSecretStore   *self,
                                 const char          *account_id,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, bursar_secret_store_clear_async);
  g_task_set_task_data (task, g_strdup (account_id), g_free);
  secret_service_get (SECRET_SERVICE_OPEN_SESSION, cancellable, clear_service_cb,
                      g_steal_pointer (&task));
}

gboolean
bursar_secret_store_clear_finish (BursarSecretStore  *self,
                                  GAsyncResult       *result,
                                  GError            **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
bursar_secret_store_class_init (BursarSecretStoreClass *klass)
{
}

static void
bursar_secret_store_init (BursarSecretStore *self)
{
}

BursarSecretStore *
bursar_secret_store_new (void)
{
  return g_object_new (BURSAR_TYPE_SECRET_STORE, NULL);
}
