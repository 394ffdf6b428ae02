/* bursar-secret-store.c
 *
 * Uses the SecretService API rather than secret_password_lookup(): the
 * latter returns NULL without an error when an unlock prompt is dismissed,
 * which would make a locked keyring look like a missing account.
 *
 * Neither lookups nor stores let libsecret unlock on its own (no
 * SECRET_SEARCH_UNLOCK, no secret_service_store() on an existing
 * collection): each would open its own prompt, one per account. Unlocking
 * goes through unlock_async(), which keeps one prompt in flight.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <json-glib/json-glib.h>
/* For the D-Bus path functions (secret-paths.h), which libsecret marks
 * unstable but has kept unchanged since 0.7: secret_service_store() is
 * built on them. The stable route, secret_item_create() on a
 * SecretCollection, leaks in libsecret 0.20 whenever that collection
 * proxy sees an ItemCreated signal. */
#define SECRET_API_SUBJECT_TO_CHANGE
#include <libsecret/secret.h>
#include <string.h>

#include "bursar-error.h"
#include "bursar-secret.h"
#include "bursar-secret-store.h"

#define DEFAULT_COLLECTION_PATH "/org/freedesktop/secrets/aliases/default"

struct _BursarSecretStore
{
  GObject parent_instance;

  /* GTasks waiting for the unlock prompt in flight; the first one
   * started it. Empty when no prompt is open. */
  GPtrArray *unlock_waiters; /* (owned) */
  /* The last prompt was dismissed and nothing has been read or written
   * since: writes do not ask again. */
  gboolean prompt_dismissed;
  SecretService *unlock_service; /* (owned) (nullable): while a round runs */
  /* The prompt of the round, while it is shown. */
  guint prompt_round;
  guint prompt_signal;
  guint prompt_watch;
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

static void
set_locked_error (GError **error)
{
  g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_KEYRING_LOCKED,
                       _("The keyring is locked; unlock it and try again."));
}

static GHashTable *
account_attributes (const char *account_id)
{
  GHashTable *attributes = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);

  g_hash_table_insert (attributes, (gpointer) "account-id", g_strdup (account_id));
  return attributes;
}

/* --- unlock: one prompt at a time ------------------------------------ */

/* Unlocks @path (an item or collection) through the one prompt the
 * store allows in flight: while a prompt is open, every other caller waits
 * for its outcome instead of opening another one. Finishes TRUE when
 * something was unlocked; a dismissed prompt (which libsecret reports as
 * nothing unlocked, without an error) is BURSAR_ERROR_KEYRING_LOCKED for
 * all of them. A waiter's cancellable is only looked at when the prompt
 * ends (GTask checks it), the prompt itself is never cancelled. */
static void
unlock_async (BursarSecretStore   *self,
              SecretService       *service,
              const char          *path,
              GCancellable        *cancellable,
              GAsyncReadyCallback  callback,
              gpointer             user_data);

static gboolean
unlock_finish (BursarSecretStore  *self,
               GAsyncResult       *result,
               GError            **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  if (!g_task_propagate_boolean (G_TASK (result), error))
    {
      bursar_error_convert (error);
      return FALSE;
    }
  return TRUE;
}

/* Ends the round: every waiter gets the outcome. @count is how many
 * objects were unlocked. */
static void
unlock_done (BursarSecretStore *self,
             gint               count,
             GError            *error)
{
  g_autoptr(GPtrArray) waiters = g_steal_pointer (&self->unlock_waiters);
  g_autoptr(GError) outcome = error != NULL ? g_error_copy (error) : NULL;

  self->unlock_waiters = g_ptr_array_new_with_free_func (g_object_unref);
  g_clear_object (&self->unlock_service);

  if (outcome != NULL)
    convert_keyring_error (&outcome);
  else if (count <= 0)
    set_locked_error (&outcome);

  self->prompt_dismissed = g_error_matches (outcome, BURSAR_ERROR, BURSAR_ERROR_KEYRING_LOCKED);
  g_debug ("Keyring unlock %s; %u operation(s) were waiting for it",
           outcome == NULL ? "done" : (self->prompt_dismissed ? "dismissed" : "failed"),
           waiters->len);

  /* The array is ours now: a callback that asks for another unlock
   * starts a new round. */
  for (guint i = 0; i < waiters->len; i++)
    {
      GTask *task = g_ptr_array_index (waiters, i);

      if (outcome != NULL)
        g_task_return_error (task, g_error_copy (outcome));
      else
        g_task_return_boolean (task, TRUE);
    }
}

/* --- the prompt ------------------------------------------------------ */

/* The Prompt() call and its Completed signal by hand, not through
 * secret_service_prompt(): libsecret 0.20 leaks on every prompt (the
 * signal's parameters, and the unlock's result array). */

static void
prompt_end (BursarSecretStore *self,
            gint               count,
            GError            *error)
{
  GDBusConnection *connection = g_dbus_proxy_get_connection (G_DBUS_PROXY (self->unlock_service));

  self->prompt_round++;
  if (self->prompt_signal != 0)
    g_dbus_connection_signal_unsubscribe (connection, self->prompt_signal);
  self->prompt_signal = 0;
  g_clear_handle_id (&self->prompt_watch, g_bus_unwatch_name);
  unlock_done (self, count, error);
}

static void
prompt_completed_cb (GDBusConnection *connection,
                     const char      *sender,
                     const char      *path,
                     const char      *iface,
                     const char      *signal,
                     GVariant        *parameters,
                     gpointer         user_data)
{
  g_autoptr(BursarSecretStore) self = g_object_ref (BURSAR_SECRET_STORE (user_data));
  g_autoptr(GVariant) result = NULL;
  gboolean dismissed = TRUE;

  if (g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(bv)")))
    g_variant_get (parameters, "(bv)", &dismissed, &result);
  if (dismissed || result == NULL)
    prompt_end (self, 0, NULL);
  else if (g_variant_is_of_type (result, G_VARIANT_TYPE_OBJECT_PATH_ARRAY))
    prompt_end (self, (gint) g_variant_n_children (result), NULL);
  else
    prompt_end (self, 1, NULL);
}

static void
prompt_vanished_cb (GDBusConnection *connection,
                    const char      *name,
                    gpointer         user_data)
{
  g_autoptr(BursarSecretStore) self = g_object_ref (BURSAR_SECRET_STORE (user_data));
  g_autoptr(GError) error = g_error_new_literal (G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN,
                                                 "The Secret Service went away during its prompt");

  prompt_end (self, -1, error);
}

typedef struct
{
  BursarSecretStore *self; /* (owned) */
  guint round;
} PromptCall;

static void
prompt_called_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  PromptCall *call = user_data;
  g_autoptr(BursarSecretStore) self = call->self;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;

  reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  /* On success the answer comes with the Completed signal. */
  if (reply == NULL && call->round == self->prompt_round)
    prompt_end (self, -1, error);
  g_free (call);
}

static void
prompt_show (BursarSecretStore *self,
             const char        *prompt)
{
  GDBusConnection *connection = g_dbus_proxy_get_connection (G_DBUS_PROXY (self->unlock_service));
  g_autofree char *owner = g_dbus_proxy_get_name_owner (G_DBUS_PROXY (self->unlock_service));
  PromptCall *call;

  if (owner == NULL)
    {
      g_autoptr(GError) error = g_error_new_literal (G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN,
                                                     "The Secret Service went away");

      unlock_done (self, -1, error);
      return;
    }

  /* Both hold the store through the round: prompt_end() drops them. */
  self->prompt_signal = g_dbus_connection_signal_subscribe (connection, owner,
                                                            "org.freedesktop.Secret.Prompt",
                                                            "Completed", prompt,
                                                            NULL, /* arg0 */
                                                            G_DBUS_SIGNAL_FLAGS_NONE,
                                                            prompt_completed_cb,
                                                            g_object_ref (self), g_object_unref);
  self->prompt_watch = g_bus_watch_name_on_connection (connection, owner, G_BUS_NAME_WATCHER_FLAGS_NONE,
                                                       NULL, /* appeared */
                                                       prompt_vanished_cb,
                                                       g_object_ref (self), g_object_unref);

  call = g_new0 (PromptCall, 1);
  call->self = g_object_ref (self);
  call->round = self->prompt_round;
  /* No cancellable: one caller going away must not dismiss the prompt the
   * others wait for. */
  g_dbus_connection_call (connection, owner, prompt, "org.freedesktop.Secret.Prompt", "Prompt",
                          g_variant_new ("(s)", ""), /* no parent window */
                          G_VARIANT_TYPE ("()"), G_DBUS_CALL_FLAGS_NO_AUTO_START, -1,
                          NULL, /* cancellable */
                          prompt_called_cb, call);
}

static void
unlock_called_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(BursarSecretStore) self = BURSAR_SECRET_STORE (user_data);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) unlocked = NULL;
  const char *prompt = NULL;

  reply = g_dbus_proxy_call_finish (G_DBUS_PROXY (source), result, &error);
  if (reply == NULL)
    {
      unlock_done (self, -1, error);
      return;
    }

  g_variant_get (reply, "(@ao&o)", &unlocked, &prompt);
  if (g_str_equal (prompt, "/"))
    {
      /* Unlocked meanwhile, or without asking the user. */
      unlock_done (self, (gint) g_variant_n_children (unlocked), NULL);
      return;
    }

  g_debug ("Keyring unlock needs the user; showing the Secret Service's prompt");
  prompt_show (self, prompt);
}

/* Unlock() and its prompt by hand rather than secret_service_unlock():
 * see prompt_show(). */
static void
unlock_async (BursarSecretStore   *self,
              SecretService       *service,
              const char          *path,
              GCancellable        *cancellable,
              GAsyncReadyCallback  callback,
              gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  const char *paths[] = { path, NULL };

  g_task_set_source_tag (task, unlock_async);
  g_ptr_array_add (self->unlock_waiters, g_steal_pointer (&task));
  if (self->unlock_waiters->len > 1)
    {
      g_debug ("Keyring locked; waiting for the unlock prompt already open");
      return;
    }

  g_debug ("Keyring locked; asking the Secret Service to unlock it");
  self->unlock_service = g_object_ref (service);
  g_dbus_proxy_call (G_DBUS_PROXY (service), "Unlock",
                     g_variant_new ("(@ao)", g_variant_new_objv (paths, -1)),
                     G_DBUS_CALL_FLAGS_NO_AUTO_START, -1,
                     NULL, /* cancellable: see unlock_called_cb() */
                     unlock_called_cb, g_object_ref (self));
}

/* --- lookup ---------------------------------------------------------- */

typedef struct
{
  char *account_id;
  SecretService *service;
  gboolean unlock_tried;
} LookupData;

static void
lookup_data_free (LookupData *data)
{
  g_free (data->account_id);
  g_clear_object (&data->service);
  g_free (data);
}

static void lookup_search (GTask *task);

static void
lookup_unlocked_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  g_autoptr(GError) error = NULL;

  if (!unlock_finish (BURSAR_SECRET_STORE (source), result, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  lookup_search (g_steal_pointer (&task));
}

static void
lookup_search_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  GCancellable *cancellable = g_task_get_cancellable (task);
  BursarSecretStore *self = g_task_get_source_object (task);
  LookupData *data = g_task_get_task_data (task);
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

      /* Locked, or no secret although it was asked for: never "no
       * account". Unlock once (through the one prompt in flight), then
       * look again; still locked means the prompt was dismissed. */
      if (secret_item_get_locked (item) || value == NULL)
        {
          if (!data->unlock_tried)
            {
              data->unlock_tried = TRUE;
              unlock_async (self, data->service,
                            g_dbus_proxy_get_object_path (G_DBUS_PROXY (item)),
                            cancellable, lookup_unlocked_cb,
                            g_steal_pointer (&task));
              g_list_free_full (items, g_object_unref);
              return;
            }
          set_locked_error (&error);
        }
      else
        {
          gsize length = 0;
          /* Not secret_value_get_text(): that wants text/plain, and a
           * Secret Service that keeps our application/json content type
           * (gnome-keyring does not, others do) would make every item
           * look damaged. libsecret terminates the data with a NUL. */
          const char *text = secret_value_get (value, &length);

          self->prompt_dismissed = FALSE;
          if (text == NULL || memchr (text, '\0', length) != NULL ||
              !g_utf8_validate (text, (gssize) length, NULL))
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

/* Without SECRET_SEARCH_UNLOCK: libsecret would open a prompt of its own
 * for every search, one per account, outside the one-prompt rule. */
static void
lookup_search (GTask *task)
{
  LookupData *data = g_task_get_task_data (task);
  g_autoptr(GHashTable) attributes = account_attributes (data->account_id);
  GCancellable *cancellable = g_task_get_cancellable (task);

  secret_service_search (data->service, bursar_account_schema (), attributes,
                         SECRET_SEARCH_LOAD_SECRETS, cancellable, lookup_search_cb, task);
}

static void
lookup_service_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  g_autoptr(GError) error = NULL;
  LookupData *data = g_task_get_task_data (task);

  data->service = secret_service_get_finish (result, &error);
  if (data->service == NULL)
    {
      convert_keyring_error (&error);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  lookup_search (g_steal_pointer (&task));
}

void
bursar_secret_store_lookup_async (BursarSecretStore   *self,
                                  const char          *account_id,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  LookupData *data = g_new0 (LookupData, 1);

  g_task_set_source_tag (task, bursar_secret_store_lookup_async);
  data->account_id = g_strdup (account_id);
  g_task_set_task_data (task, data, (GDestroyNotify) lookup_data_free);
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

typedef struct
{
  char *account_id;
  char *label;
  SecretValue *value;
  SecretService *service;
  GHashTable *properties; /* of the item, for CreateItem */
  gboolean unlock_tried;
} StoreData;

static void
store_data_free (StoreData *data)
{
  g_free (data->account_id);
  g_free (data->label);
  g_clear_pointer (&data->value, secret_value_unref);
  g_clear_object (&data->service);
  g_clear_pointer (&data->properties, g_hash_table_unref);
  g_free (data);
}

/* What secret_service_store() sends: the label, and the attributes with
 * the schema name. */
static GHashTable *
item_properties (const char *account_id,
                 const char *label)
{
  GHashTable *properties = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                                  (GDestroyNotify) g_variant_unref);
  g_auto(GVariantBuilder) attributes = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE ("a{ss}"));

  g_variant_builder_add (&attributes, "{ss}", "xdg:schema", bursar_account_schema ()->name);
  g_variant_builder_add (&attributes, "{ss}", "account-id", account_id);
  g_hash_table_insert (properties, (gpointer) "org.freedesktop.Secret.Item.Label",
                       g_variant_ref_sink (g_variant_new_string (label)));
  g_hash_table_insert (properties, (gpointer) "org.freedesktop.Secret.Item.Attributes",
                       g_variant_ref_sink (g_variant_builder_end (&attributes)));
  return properties;
}

static void store_create (GTask *task);

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
store_unlocked_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  g_autoptr(GError) error = NULL;

  if (!unlock_finish (BURSAR_SECRET_STORE (source), result, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  store_create (g_steal_pointer (&task));
}

static void
store_created_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  GCancellable *cancellable = g_task_get_cancellable (task);
  BursarSecretStore *self = g_task_get_source_object (task);
  StoreData *data = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;

  path = secret_service_create_item_dbus_path_finish (SECRET_SERVICE (source), result, &error);
  if (path != NULL)
    {
      self->prompt_dismissed = FALSE;
      g_task_return_boolean (task, TRUE);
      return;
    }

  if (g_error_matches (error, SECRET_ERROR, SECRET_ERROR_IS_LOCKED))
    {
      /* Ask once, through the one prompt in flight. After the user
       * dismissed a prompt, a write (such as the account's background
       * retry) waits for the keyring to be unlocked some other way rather
       * than asking again; it still joins a prompt that is open. */
      if (!data->unlock_tried && (!self->prompt_dismissed || self->unlock_waiters->len > 0))
        {
          data->unlock_tried = TRUE;
          unlock_async (self, data->service, DEFAULT_COLLECTION_PATH,
                        cancellable, store_unlocked_cb, g_steal_pointer (&task));
          return;
        }
      g_clear_error (&error);
      set_locked_error (&error);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  if (g_error_matches (error, SECRET_ERROR, SECRET_ERROR_NO_SUCH_OBJECT) ||
      g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD) ||
      g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_OBJECT))
    {
      g_autoptr(GHashTable) attributes = account_attributes (data->account_id);

      /* No default collection yet: libsecret creates it (with the
       * keyring's own first-use prompt) and stores there. */
      g_debug ("Secret Service: no default collection yet, letting libsecret create it");
      secret_service_store (data->service, bursar_account_schema (), attributes, NULL, data->label,
                            data->value, cancellable, store_cb, g_steal_pointer (&task));
      return;
    }

  convert_keyring_error (&error);
  g_task_return_error (task, g_steal_pointer (&error));
}

/* CreateItem on the default collection, as secret_service_store() does,
 * except that IsLocked comes back here instead of libsecret opening an
 * unlock prompt of its own, outside the one-prompt rule. Replaces the
 * account's existing item. */
static void
store_create (GTask *task)
{
  StoreData *data = g_task_get_task_data (task);

  secret_service_create_item_dbus_path (data->service, DEFAULT_COLLECTION_PATH, data->properties,
                                        data->value, SECRET_ITEM_CREATE_REPLACE,
                                        g_task_get_cancellable (task), store_created_cb, task);
}

static void
store_service_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  g_autoptr(GError) error = NULL;
  StoreData *data = g_task_get_task_data (task);

  data->service = secret_service_get_finish (result, &error);
  if (data->service == NULL)
    {
      convert_keyring_error (&error);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  store_create (g_steal_pointer (&task));
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
  data->properties = item_properties (account_id, label);
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
bursar_secret_store_finalize (GObject *object)
{
  BursarSecretStore *self = BURSAR_SECRET_STORE (object);

  /* Each unlock in flight holds a reference, so no waiter is left. */
  g_assert (self->unlock_waiters->len == 0);
  g_clear_pointer (&self->unlock_waiters, g_ptr_array_unref);
  g_clear_object (&self->unlock_service);

  G_OBJECT_CLASS (bursar_secret_store_parent_class)->finalize (object);
}

static void
bursar_secret_store_class_init (BursarSecretStoreClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = bursar_secret_store_finalize;
  /* Registers libsecret's D-Bus error names (IsLocked, NoSuchObject)
   * before the first reply that may carry one. */
  (void) SECRET_ERROR;
}

static void
bursar_secret_store_init (BursarSecretStore *self)
{
  self->unlock_waiters = g_ptr_array_new_with_free_func (g_object_unref);
}

BursarSecretStore *
bursar_secret_store_new (void)
{
  return g_object_new (BURSAR_TYPE_SECRET_STORE, NULL);
}
