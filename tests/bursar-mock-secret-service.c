/* bursar-mock-secret-service.c: a scripted Secret Service for tests.
 *
 * Real gnome-keyring cannot be driven headless into the states that
 * matter here: locked at start, locked again while in use, an unlock
 * prompt that the user dismisses or leaves open. This is a small,
 * independent implementation of the part of the freedesktop Secret
 * Service API that libsecret 0.20 uses for our calls (plain sessions
 * only), with one collection, "login", which is also the "default" alias.
 *
 * A control interface lets a test script it:
 *
 *   org.bursar.Test.SecretControl at /org/bursar/Test/SecretControl
 *     SetLocked (b locked)              lock or unlock the collection
 *     SetPromptBehaviour (s behaviour)  what Prompt() does: "accept"
 *                                       (unlocks), "dismiss", or "hold"
 *                                       (wait for ReleasePrompts)
 *     ReleasePrompts (b accept) -> (u)  completes every held prompt
 *     GetCounters () -> (a{su})         what clients did (see below)
 *     ResetCounters ()
 *
 * Counters: "calls" (every method call on a Secret Service object,
 * Properties and Introspect included), "searches", "unlocks" (Unlock()
 * calls), "prompts" (Prompt() calls, i.e. prompts shown), "held" (prompts
 * waiting now), "writes" (items created or replaced while unlocked),
 * "locked_writes" (CreateItem refused with IsLocked), "deletes", "items"
 * (items stored now), "locked" (1 when the collection is locked).
 *
 * It owns org.freedesktop.secrets on the session bus it is given (the
 * test's private bus), never prints a secret, and exits when stdin reaches
 * end-of-file or after --max-lifetime seconds.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define SECRETS_NAME "org.freedesktop.secrets"
#define SERVICE_PATH "/org/freedesktop/secrets"
#define COLLECTION_PATH "/org/freedesktop/secrets/collection/login"
#define ALIAS_PATH "/org/freedesktop/secrets/aliases/default"
#define CONTROL_PATH "/org/bursar/Test/SecretControl"
#define SERVICE_IFACE "org.freedesktop.Secret.Service"
#define COLLECTION_IFACE "org.freedesktop.Secret.Collection"
#define ITEM_IFACE "org.freedesktop.Secret.Item"
#define SESSION_IFACE "org.freedesktop.Secret.Session"
#define PROMPT_IFACE "org.freedesktop.Secret.Prompt"
#define ERROR_IS_LOCKED "org.freedesktop.Secret.Error.IsLocked"
#define ERROR_NO_SESSION "org.freedesktop.Secret.Error.NoSession"
#define ERROR_NO_SUCH_OBJECT "org.freedesktop.Secret.Error.NoSuchObject"
#define ERROR_NOT_SUPPORTED "org.freedesktop.DBus.Error.NotSupported"
#define DEFAULT_MAX_LIFETIME_SECONDS 1800

static const char introspection_xml[] =
  "<node>"
  "  <interface name='org.freedesktop.Secret.Service'>"
  "    <method name='OpenSession'>"
  "      <arg name='algorithm' type='s' direction='in'/>"
  "      <arg name='input' type='v' direction='in'/>"
  "      <arg name='output' type='v' direction='out'/>"
  "      <arg name='result' type='o' direction='out'/>"
  "    </method>"
  "    <method name='CreateCollection'>"
  "      <arg name='properties' type='a{sv}' direction='in'/>"
  "      <arg name='alias' type='s' direction='in'/>"
  "      <arg name='collection' type='o' direction='out'/>"
  "      <arg name='prompt' type='o' direction='out'/>"
  "    </method>"
  "    <method name='SearchItems'>"
  "      <arg name='attributes' type='a{ss}' direction='in'/>"
  "      <arg name='unlocked' type='ao' direction='out'/>"
  "      <arg name='locked' type='ao' direction='out'/>"
  "    </method>"
  "    <method name='Unlock'>"
  "      <arg name='objects' type='ao' direction='in'/>"
  "      <arg name='unlocked' type='ao' direction='out'/>"
  "      <arg name='prompt' type='o' direction='out'/>"
  "    </method>"
  "    <method name='Lock'>"
  "      <arg name='objects' type='ao' direction='in'/>"
  "      <arg name='locked' type='ao' direction='out'/>"
  "      <arg name='Prompt' type='o' direction='out'/>"
  "    </method>"
  "    <method name='GetSecrets'>"
  "      <arg name='items' type='ao' direction='in'/>"
  "      <arg name='session' type='o' direction='in'/>"
  "      <arg name='secrets' type='a{o(oayays)}' direction='out'/>"
  "    </method>"
  "    <method name='ReadAlias'>"
  "      <arg name='name' type='s' direction='in'/>"
  "      <arg name='collection' type='o' direction='out'/>"
  "    </method>"
  "    <method name='SetAlias'>"
  "      <arg name='name' type='s' direction='in'/>"
  "      <arg name='collection' type='o' direction='in'/>"
  "    </method>"
  "    <property name='Collections' type='ao' access='read'/>"
  "  </interface>"
  "  <interface name='org.freedesktop.Secret.Collection'>"
  "    <method name='Delete'>"
  "      <arg name='prompt' type='o' direction='out'/>"
  "    </method>"
  "    <method name='SearchItems'>"
  "      <arg name='attributes' type='a{ss}' direction='in'/>"
  "      <arg name='results' type='ao' direction='out'/>"
  "    </method>"
  "    <method name='CreateItem'>"
  "      <arg name='properties' type='a{sv}' direction='in'/>"
  "      <arg name='secret' type='(oayays)' direction='in'/>"
  "      <arg name='replace' type='b' direction='in'/>"
  "      <arg name='item' type='o' direction='out'/>"
  "      <arg name='prompt' type='o' direction='out'/>"
  "    </method>"
  "    <signal name='ItemCreated'><arg name='item' type='o'/></signal>"
  "    <signal name='ItemDeleted'><arg name='item' type='o'/></signal>"
  "    <signal name='ItemChanged'><arg name='item' type='o'/></signal>"
  "    <property name='Items' type='ao' access='read'/>"
  "    <property name='Label' type='s' access='read'/>"
  "    <property name='Locked' type='b' access='read'/>"
  "    <property name='Created' type='t' access='read'/>"
  "    <property name='Modified' type='t' access='read'/>"
  "  </interface>"
  "  <interface name='org.freedesktop.Secret.Item'>"
  "    <method name='Delete'>"
  "      <arg name='Prompt' type='o' direction='out'/>"
  "    </method>"
  "    <method name='GetSecret'>"
  "      <arg name='session' type='o' direction='in'/>"
  "      <arg name='secret' type='(oayays)' direction='out'/>"
  "    </method>"
  "    <method name='SetSecret'>"
  "      <arg name='secret' type='(oayays)' direction='in'/>"
  "    </method>"
  "    <property name='Locked' type='b' access='read'/>"
  "    <property name='Attributes' type='a{ss}' access='read'/>"
  "    <property name='Label' type='s' access='read'/>"
  "    <property name='Created' type='t' access='read'/>"
  "    <property name='Modified' type='t' access='read'/>"
  "  </interface>"
  "  <interface name='org.freedesktop.Secret.Session'>"
  "    <method name='Close'/>"
  "  </interface>"
  "  <interface name='org.freedesktop.Secret.Prompt'>"
  "    <method name='Prompt'>"
  "      <arg name='window_id' type='s' direction='in'/>"
  "    </method>"
  "    <method name='Dismiss'/>"
  "    <signal name='Completed'>"
  "      <arg name='dismissed' type='b'/>"
  "      <arg name='result' type='v'/>"
  "    </signal>"
  "  </interface>"
  "  <interface name='org.bursar.Test.SecretControl'>"
  "    <method name='SetLocked'>"
  "      <arg name='locked' type='b' direction='in'/>"
  "    </method>"
  "    <method name='SetPromptBehaviour'>"
  "      <arg name='behaviour' type='s' direction='in'/>"
  "    </method>"
  "    <method name='ReleasePrompts'>"
  "      <arg name='accept' type='b' direction='in'/>"
  "      <arg name='released' type='u' direction='out'/>"
  "    </method>"
  "    <method name='GetCounters'>"
  "      <arg name='counters' type='a{su}' direction='out'/>"
  "    </method>"
  "    <method name='ResetCounters'/>"
  "  </interface>"
  "</node>";

typedef struct _MockService MockService;

typedef struct
{
  MockService *service; /* (unowned) */
  char *path;           /* (owned) */
  char *label;          /* (owned) */
  GHashTable *attributes; /* (owned): name → value */
  GBytes *secret;       /* (owned) */
  char *content_type;   /* (owned) */
  guint64 created;
  guint64 modified;
  guint registration;
} MockItem;

typedef struct
{
  MockService *service; /* (unowned) */
  char *path;           /* (owned) */
  GPtrArray *objects;   /* (owned): what an accepted prompt unlocks */
  gboolean shown;
  gboolean held;
  guint registration;
} MockPrompt;

typedef struct
{
  char *path; /* (owned) */
  guint registration;
} MockSession;

struct _MockService
{
  GMainLoop *loop;         /* (owned) */
  GDBusConnection *bus;    /* (owned) */
  GDBusNodeInfo *node;     /* (owned) */
  GHashTable *items;       /* (owned): path → MockItem */
  GHashTable *sessions;    /* (owned): path → MockSession */
  GHashTable *prompts;     /* (owned): path → MockPrompt */
  GPtrArray *registrations; /* (owned): ids of the fixed objects */
  char *prompt_behaviour;  /* (owned): accept | dismiss | hold */
  gboolean locked;
  guint next_id;
  guint64 created;
  guint64 modified;
  guint filter_id;
  int exit_status;

  /* Counted on the GDBus worker thread, hence atomic. */
  int calls;
  guint searches;
  guint unlocks;
  guint prompts_shown;
  guint writes;
  guint locked_writes;
  guint deletes;
};

static GDBusInterfaceInfo *
interface_info (MockService *self,
                const char  *name)
{
  return g_dbus_node_info_lookup_interface (self->node, name);
}

static guint64
now_seconds (void)
{
  return (guint64) (g_get_real_time () / G_USEC_PER_SEC);
}

static void
emit_property_changed (MockService *self,
                       const char  *path,
                       const char  *iface,
                       const char  *name,
                       GVariant    *value)
{
  g_auto(GVariantBuilder) changed = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);

  g_variant_builder_add (&changed, "{sv}", name, value);
  g_dbus_connection_emit_signal (self->bus, NULL, path, "org.freedesktop.DBus.Properties",
                                 "PropertiesChanged",
                                 g_variant_new ("(sa{sv}as)", iface, &changed, NULL), NULL);
}

static GVariant *
item_paths_variant (MockService *self)
{
  g_auto(GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_OBJECT_PATH_ARRAY);
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, self->items);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_variant_builder_add (&builder, "o", key);
  return g_variant_builder_end (&builder);
}

static void
set_locked (MockService *self,
            gboolean     locked)
{
  GHashTableIter iter;
  gpointer key;

  if (self->locked == locked)
    return;
  self->locked = locked;
  g_message ("collection %s", locked ? "locked" : "unlocked");

  emit_property_changed (self, COLLECTION_PATH, COLLECTION_IFACE, "Locked", g_variant_new_boolean (locked));
  emit_property_changed (self, ALIAS_PATH, COLLECTION_IFACE, "Locked", g_variant_new_boolean (locked));
  g_hash_table_iter_init (&iter, self->items);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    emit_property_changed (self, key, ITEM_IFACE, "Locked", g_variant_new_boolean (locked));
}

static gboolean
is_collection_path (const char *path)
{
  return g_strcmp0 (path, COLLECTION_PATH) == 0 || g_strcmp0 (path, ALIAS_PATH) == 0;
}

static gboolean
check_session (MockService           *self,
               GDBusMethodInvocation *invocation,
               const char            *session)
{
  if (g_hash_table_contains (self->sessions, session))
    return TRUE;
  g_dbus_method_invocation_return_dbus_error (invocation, ERROR_NO_SESSION, "No such session");
  return FALSE;
}

static GVariant *
item_encode_secret (MockItem   *item,
                    const char *session)
{
  gsize len;
  gconstpointer data = g_bytes_get_data (item->secret, &len);

  return g_variant_new ("(o@ay@ays)", session,
                        g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, "", 0, 1),
                        g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, data, len, 1),
                        item->content_type);
}

/* Takes a (oayays) plain secret into @item; FALSE with a D-Bus error
 * returned when it is not one. */
static gboolean
item_take_secret (MockItem              *item,
                  GVariant              *secret,
                  GDBusMethodInvocation *invocation)
{
  g_autoptr(GVariant) parameter = NULL;
  g_autoptr(GVariant) value = NULL;
  const char *session = NULL;
  const char *content_type = NULL;
  gconstpointer data;
  gsize len;

  g_variant_get (secret, "(&o@ay@ay&s)", &session, &parameter, &value, &content_type);
  if (!check_session (item->service, invocation, session))
    return FALSE;
  if (g_variant_n_children (parameter) != 0)
    {
      g_dbus_method_invocation_return_dbus_error (invocation, ERROR_NOT_SUPPORTED,
                                                  "Only plain secrets are supported");
      return FALSE;
    }
  data = g_variant_get_fixed_array (value, &len, 1);
  g_clear_pointer (&item->secret, g_bytes_unref);
  item->secret = g_bytes_new (data, len);
  g_free (item->content_type);
  item->content_type = g_strdup (content_type);
  item->modified = now_seconds ();
  return TRUE;
}

static gboolean
item_matches (MockItem *item,
              GVariant *attributes)
{
  GVariantIter iter;
  const char *name;
  const char *value;

  g_variant_iter_init (&iter, attributes);
  while (g_variant_iter_next (&iter, "{&s&s}", &name, &value))
    if (g_strcmp0 (g_hash_table_lookup (item->attributes, name), value) != 0)
      return FALSE;
  return TRUE;
}

static gboolean
attributes_equal (GHashTable *attributes,
                  GVariant   *other)
{
  return g_variant_n_children (other) == g_hash_table_size (attributes);
}

static void
item_free (MockItem *item)
{
  if (item->registration != 0)
    g_dbus_connection_unregister_object (item->service->bus, item->registration);
  g_free (item->path);
  g_free (item->label);
  g_clear_pointer (&item->attributes, g_hash_table_unref);
  g_clear_pointer (&item->secret, g_bytes_unref);
  g_free (item->content_type);
  g_free (item);
}

static void
prompt_free (MockPrompt *prompt)
{
  if (prompt->registration != 0)
    g_dbus_connection_unregister_object (prompt->service->bus, prompt->registration);
  g_free (prompt->path);
  g_clear_pointer (&prompt->objects, g_ptr_array_unref);
  g_free (prompt);
}

static void
session_free (MockSession *session)
{
  g_free (session->path);
  g_free (session);
}

/* --- items -------------------------------------------------------------- */

static GVariant *
item_get_property (GDBusConnection  *connection,
                   const char       *sender,
                   const char       *path,
                   const char       *iface,
                   const char       *name,
                   GError          **error,
                   gpointer          user_data)
{
  MockItem *item = user_data;

  if (g_str_equal (name, "Locked"))
    return g_variant_new_boolean (item->service->locked);
  if (g_str_equal (name, "Label"))
    return g_variant_new_string (item->label);
  if (g_str_equal (name, "Created"))
    return g_variant_new_uint64 (item->created);
  if (g_str_equal (name, "Modified"))
    return g_variant_new_uint64 (item->modified);
  if (g_str_equal (name, "Attributes"))
    {
      g_auto(GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE ("a{ss}"));
      GHashTableIter iter;
      gpointer key, value;

      g_hash_table_iter_init (&iter, item->attributes);
      while (g_hash_table_iter_next (&iter, &key, &value))
        g_variant_builder_add (&builder, "{ss}", key, value);
      return g_variant_builder_end (&builder);
    }
  g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_PROPERTY, "No property %s", name);
  return NULL;
}

static void
item_method_call (GDBusConnection       *connection,
                  const char            *sender,
                  const char            *path,
                  const char            *iface,
                  const char            *method,
                  GVariant              *parameters,
                  GDBusMethodInvocation *invocation,
                  gpointer               user_data)
{
  MockItem *item = user_data;
  MockService *self = item->service;

  if (self->locked)
    {
      g_dbus_method_invocation_return_dbus_error (invocation, ERROR_IS_LOCKED,
                                                  "The collection is locked");
      return;
    }

  if (g_str_equal (method, "GetSecret"))
    {
      const char *session = NULL;

      g_variant_get (parameters, "(&o)", &session);
      if (check_session (self, invocation, session))
        g_dbus_method_invocation_return_value (invocation,
                                               g_variant_new ("(@(oayays))",
                                                              item_encode_secret (item, session)));
    }
  else if (g_str_equal (method, "SetSecret"))
    {
      g_autoptr(GVariant) secret = g_variant_get_child_value (parameters, 0);

      if (item_take_secret (item, secret, invocation))
        {
          self->writes++;
          g_dbus_connection_emit_signal (self->bus, NULL, COLLECTION_PATH, COLLECTION_IFACE,
                                         "ItemChanged", g_variant_new ("(o)", item->path), NULL);
          g_dbus_method_invocation_return_value (invocation, NULL);
        }
    }
  else if (g_str_equal (method, "Delete"))
    {
      g_autofree char *item_path = g_strdup (item->path);

      self->deletes++;
      /* Frees @item, and unregisters the object it was called on. */
      g_hash_table_remove (self->items, item_path);
      g_dbus_connection_emit_signal (self->bus, NULL, COLLECTION_PATH, COLLECTION_IFACE,
                                     "ItemDeleted", g_variant_new ("(o)", item_path), NULL);
      emit_property_changed (self, COLLECTION_PATH, COLLECTION_IFACE, "Items", item_paths_variant (self));
      g_dbus_method_invocation_return_value (invocation, g_variant_new ("(o)", "/"));
    }
  else
    g_dbus_method_invocation_return_dbus_error (invocation, "org.freedesktop.DBus.Error.UnknownMethod",
                                                "Unknown method");
}

static const GDBusInterfaceVTable item_vtable = {
  item_method_call, item_get_property, NULL, { 0 }
};

/* --- collection ----------------------------------------------------------- */

static MockItem *
find_item (MockService *self,
           GVariant    *attributes)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->items);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      MockItem *item = value;

      if (attributes_equal (item->attributes, attributes) && item_matches (item, attributes))
        return item;
    }
  return NULL;
}

static void
collection_create_item (MockService           *self,
                        GVariant              *parameters,
                        GDBusMethodInvocation *invocation)
{
  g_autoptr(GVariant) properties = NULL;
  g_autoptr(GVariant) secret = NULL;
  g_autoptr(GVariant) attributes = NULL;
  const char *label = "";
  gboolean replace = FALSE;
  MockItem *item = NULL;
  gboolean created = FALSE;
  GVariantIter iter;
  const char *name;
  const char *value;

  if (self->locked)
    {
      self->locked_writes++;
      g_dbus_method_invocation_return_dbus_error (invocation, ERROR_IS_LOCKED,
                                                  "The collection is locked");
      return;
    }

  g_variant_get (parameters, "(@a{sv}@(oayays)b)", &properties, &secret, &replace);
  g_variant_lookup (properties, ITEM_IFACE ".Label", "&s", &label);
  attributes = g_variant_lookup_value (properties, ITEM_IFACE ".Attributes", G_VARIANT_TYPE ("a{ss}"));
  if (attributes == NULL)
    attributes = g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE ("{ss}"), NULL, 0));

  if (replace)
    item = find_item (self, attributes);
  if (item == NULL)
    {
      g_autoptr(GError) error = NULL;

      item = g_new0 (MockItem, 1);
      item->service = self;
      item->path = g_strdup_printf ("%s/%u", COLLECTION_PATH, ++self->next_id);
      item->attributes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
      item->secret = g_bytes_new (NULL, 0);
      item->content_type = g_strdup ("text/plain");
      item->created = now_seconds ();
      g_variant_iter_init (&iter, attributes);
      while (g_variant_iter_next (&iter, "{&s&s}", &name, &value))
        g_hash_table_insert (item->attributes, g_strdup (name), g_strdup (value));
      item->registration = g_dbus_connection_register_object (self->bus, item->path,
                                                              interface_info (self, ITEM_IFACE),
                                                              &item_vtable, item, NULL, &error);
      g_assert_no_error (error);
      g_hash_table_insert (self->items, item->path, item);
      created = TRUE;
    }

  if (!item_take_secret (item, secret, invocation))
    {
      if (created)
        g_hash_table_remove (self->items, item->path);
      return;
    }
  g_free (item->label);
  item->label = g_strdup (label);
  self->writes++;
  self->modified = now_seconds ();

  g_dbus_connection_emit_signal (self->bus, NULL, COLLECTION_PATH, COLLECTION_IFACE,
                                 created ? "ItemCreated" : "ItemChanged",
                                 g_variant_new ("(o)", item->path), NULL);
  if (created)
    emit_property_changed (self, COLLECTION_PATH, COLLECTION_IFACE, "Items", item_paths_variant (self));
  g_dbus_method_invocation_return_value (invocation, g_variant_new ("(oo)", item->path, "/"));
}

static GVariant *
collection_get_property (GDBusConnection  *connection,
                         const char       *sender,
                         const char       *path,
                         const char       *iface,
                         const char       *name,
                         GError          **error,
                         gpointer          user_data)
{
  MockService *self = user_data;

  if (g_str_equal (name, "Items"))
    return item_paths_variant (self);
  if (g_str_equal (name, "Label"))
    return g_variant_new_string ("Login");
  if (g_str_equal (name, "Locked"))
    return g_variant_new_boolean (self->locked);
  if (g_str_equal (name, "Created"))
    return g_variant_new_uint64 (self->created);
  if (g_str_equal (name, "Modified"))
    return g_variant_new_uint64 (self->modified);
  g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_PROPERTY, "No property %s", name);
  return NULL;
}

static GVariant *
search_items (MockService *self,
              GVariant    *attributes,
              gboolean     want_locked)
{
  g_auto(GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_OBJECT_PATH_ARRAY);
  GHashTableIter iter;
  gpointer key, value;

  g_hash_table_iter_init (&iter, self->items);
  while (g_hash_table_iter_next (&iter, &key, &value))
    if (self->locked == want_locked && item_matches (value, attributes))
      g_variant_builder_add (&builder, "o", key);
  return g_variant_builder_end (&builder);
}

static void
collection_method_call (GDBusConnection       *connection,
                        const char            *sender,
                        const char            *path,
                        const char            *iface,
                        const char            *method,
                        GVariant              *parameters,
                        GDBusMethodInvocation *invocation,
                        gpointer               user_data)
{
  MockService *self = user_data;

  if (g_str_equal (method, "CreateItem"))
    collection_create_item (self, parameters, invocation);
  else if (g_str_equal (method, "SearchItems"))
    {
      g_autoptr(GVariant) attributes = g_variant_get_child_value (parameters, 0);
      g_autoptr(GVariant) unlocked = g_variant_ref_sink (search_items (self, attributes, FALSE));
      g_autoptr(GVariant) locked = g_variant_ref_sink (search_items (self, attributes, TRUE));
      g_autoptr(GPtrArray) all = g_ptr_array_new ();
      GVariantIter iter;
      const char *item;

      self->searches++;
      g_variant_iter_init (&iter, unlocked);
      while (g_variant_iter_next (&iter, "&o", &item))
        g_ptr_array_add (all, (gpointer) item);
      g_variant_iter_init (&iter, locked);
      while (g_variant_iter_next (&iter, "&o", &item))
        g_ptr_array_add (all, (gpointer) item);
      g_dbus_method_invocation_return_value (invocation,
                                             g_variant_new ("(@ao)",
                                                            g_variant_new_objv ((const char * const *) all->pdata,
                                                                                all->len)));
    }
  else
    /* The one collection is never deleted. */
    g_dbus_method_invocation_return_dbus_error (invocation, ERROR_NOT_SUPPORTED,
                                                "This collection cannot be deleted");
}

static const GDBusInterfaceVTable collection_vtable = {
  collection_method_call, collection_get_property, NULL, { 0 }
};

/* --- prompts -------------------------------------------------------------- */

static void
prompt_complete (MockPrompt *prompt,
                 gboolean    dismissed)
{
  MockService *self = prompt->service;
  GVariant *result;

  if (!dismissed)
    {
      set_locked (self, FALSE);
      result = g_variant_new_objv ((const char * const *) prompt->objects->pdata, prompt->objects->len);
    }
  else
    result = g_variant_new_objv (NULL, 0);

  g_message ("prompt %s %s", prompt->path, dismissed ? "dismissed" : "accepted");
  g_dbus_connection_emit_signal (self->bus, NULL, prompt->path, PROMPT_IFACE, "Completed",
                                 g_variant_new ("(bv)", dismissed, result), NULL);
  /* Frees @prompt; the object goes away with it. */
  g_hash_table_remove (self->prompts, prompt->path);
}

typedef struct
{
  MockService *service;
  char *path;
  gboolean dismissed;
} PendingCompletion;

static gboolean
complete_later_cb (gpointer user_data)
{
  PendingCompletion *pending = user_data;
  MockPrompt *prompt = g_hash_table_lookup (pending->service->prompts, pending->path);

  if (prompt != NULL)
    prompt_complete (prompt, pending->dismissed);
  g_free (pending->path);
  g_free (pending);
  return G_SOURCE_REMOVE;
}

/* After the method reply has gone out, as a real prompt would. */
static void
complete_later (MockPrompt *prompt,
                gboolean    dismissed)
{
  PendingCompletion *pending = g_new0 (PendingCompletion, 1);

  pending->service = prompt->service;
  pending->path = g_strdup (prompt->path);
  pending->dismissed = dismissed;
  g_idle_add (complete_later_cb, pending);
}

static void
prompt_method_call (GDBusConnection       *connection,
                    const char            *sender,
                    const char            *path,
                    const char            *iface,
                    const char            *method,
                    GVariant              *parameters,
                    GDBusMethodInvocation *invocation,
                    gpointer               user_data)
{
  MockPrompt *prompt = user_data;
  MockService *self = prompt->service;

  if (g_str_equal (method, "Prompt"))
    {
      if (prompt->shown)
        {
          g_dbus_method_invocation_return_dbus_error (invocation, "org.freedesktop.Secret.Error.AlreadyExists",
                                                      "This prompt has already been shown");
          return;
        }
      prompt->shown = TRUE;
      self->prompts_shown++;
      g_message ("prompt %s shown (%s)", prompt->path, self->prompt_behaviour);
      g_dbus_method_invocation_return_value (invocation, NULL);
      if (g_str_equal (self->prompt_behaviour, "hold"))
        prompt->held = TRUE;
      else
        complete_later (prompt, g_str_equal (self->prompt_behaviour, "dismiss"));
    }
  else
    {
      g_dbus_method_invocation_return_value (invocation, NULL);
      complete_later (prompt, TRUE);
    }
}

static const GDBusInterfaceVTable prompt_vtable = {
  prompt_method_call, NULL, NULL, { 0 }
};

static MockPrompt *
prompt_new (MockService        *self,
            const char * const *objects)
{
  g_autoptr(GError) error = NULL;
  MockPrompt *prompt = g_new0 (MockPrompt, 1);

  prompt->service = self;
  prompt->path = g_strdup_printf ("%s/prompt/p%u", SERVICE_PATH, ++self->next_id);
  prompt->objects = g_ptr_array_new_null_terminated (0, g_free, TRUE);
  for (gsize i = 0; objects[i] != NULL; i++)
    g_ptr_array_add (prompt->objects, g_strdup (objects[i]));
  prompt->registration = g_dbus_connection_register_object (self->bus, prompt->path,
                                                            interface_info (self, PROMPT_IFACE),
                                                            &prompt_vtable, prompt, NULL, &error);
  g_assert_no_error (error);
  g_hash_table_insert (self->prompts, prompt->path, prompt);
  return prompt;
}

/* --- sessions ------------------------------------------------------------- */

static void
session_method_call (GDBusConnection       *connection,
                     const char            *sender,
                     const char            *path,
                     const char            *iface,
                     const char            *method,
                     GVariant              *parameters,
                     GDBusMethodInvocation *invocation,
                     gpointer               user_data)
{
  MockService *self = user_data;
  MockSession *session = g_hash_table_lookup (self->sessions, path);

  g_dbus_method_invocation_return_value (invocation, NULL);
  if (session != NULL)
    {
      g_dbus_connection_unregister_object (self->bus, session->registration);
      g_hash_table_remove (self->sessions, path);
    }
}

static const GDBusInterfaceVTable session_vtable = {
  session_method_call, NULL, NULL, { 0 }
};

/* --- the service ---------------------------------------------------------- */

static gboolean
all_known (MockService        *self,
           const char * const *objects)
{
  for (gsize i = 0; objects[i] != NULL; i++)
    if (!is_collection_path (objects[i]) && !g_hash_table_contains (self->items, objects[i]))
      return FALSE;
  return TRUE;
}

static void
service_method_call (GDBusConnection       *connection,
                     const char            *sender,
                     const char            *path,
                     const char            *iface,
                     const char            *method,
                     GVariant              *parameters,
                     GDBusMethodInvocation *invocation,
                     gpointer               user_data)
{
  MockService *self = user_data;

  if (g_str_equal (method, "OpenSession"))
    {
      g_autoptr(GError) error = NULL;
      const char *algorithm = NULL;
      MockSession *session;

      g_variant_get (parameters, "(&sv)", &algorithm, NULL);
      if (!g_str_equal (algorithm, "plain"))
        {
          /* libsecret then asks for a plain session. */
          g_dbus_method_invocation_return_dbus_error (invocation, ERROR_NOT_SUPPORTED,
                                                      "Only plain sessions are supported");
          return;
        }
      session = g_new0 (MockSession, 1);
      session->path = g_strdup_printf ("%s/session/s%u", SERVICE_PATH, ++self->next_id);
      session->registration = g_dbus_connection_register_object (self->bus, session->path,
                                                                 interface_info (self, SESSION_IFACE),
                                                                 &session_vtable, self, NULL, &error);
      g_assert_no_error (error);
      g_hash_table_insert (self->sessions, session->path, session);
      g_dbus_method_invocation_return_value (invocation,
                                             g_variant_new ("(vo)", g_variant_new_string (""),
                                                            session->path));
    }
  else if (g_str_equal (method, "SearchItems"))
    {
      g_autoptr(GVariant) attributes = g_variant_get_child_value (parameters, 0);

      self->searches++;
      g_dbus_method_invocation_return_value (invocation,
                                             g_variant_new ("(@ao@ao)",
                                                            search_items (self, attributes, FALSE),
                                                            search_items (self, attributes, TRUE)));
    }
  else if (g_str_equal (method, "Unlock"))
    {
      g_autofree const char **objects = NULL;
      MockPrompt *prompt;

      g_variant_get (parameters, "(^a&o)", &objects);
      self->unlocks++;
      if (!all_known (self, objects))
        {
          g_dbus_method_invocation_return_dbus_error (invocation, ERROR_NO_SUCH_OBJECT, "No such object");
          return;
        }
      if (!self->locked)
        {
          g_dbus_method_invocation_return_value (invocation,
                                                 g_variant_new ("(@aoo)", g_variant_new_objv (objects, -1), "/"));
          return;
        }
      prompt = prompt_new (self, objects);
      g_dbus_method_invocation_return_value (invocation,
                                             g_variant_new ("(@aoo)", g_variant_new_objv (NULL, 0),
                                                            prompt->path));
    }
  else if (g_str_equal (method, "Lock"))
    {
      g_autofree const char **objects = NULL;

      g_variant_get (parameters, "(^a&o)", &objects);
      set_locked (self, TRUE);
      g_dbus_method_invocation_return_value (invocation,
                                             g_variant_new ("(@aoo)", g_variant_new_objv (objects, -1), "/"));
    }
  else if (g_str_equal (method, "GetSecrets"))
    {
      g_auto(GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE ("a{o(oayays)}"));
      g_autofree const char **items = NULL;
      const char *session = NULL;

      g_variant_get (parameters, "(^a&o&o)", &items, &session);
      if (!check_session (self, invocation, session))
        return;
      for (gsize i = 0; items[i] != NULL; i++)
        {
          MockItem *item = g_hash_table_lookup (self->items, items[i]);

          if (item != NULL && !self->locked)
            g_variant_builder_add (&builder, "{o@(oayays)}", item->path, item_encode_secret (item, session));
        }
      g_dbus_method_invocation_return_value (invocation, g_variant_new ("(a{o(oayays)})", &builder));
    }
  else if (g_str_equal (method, "ReadAlias"))
    {
      const char *name = NULL;

      g_variant_get (parameters, "(&s)", &name);
      g_dbus_method_invocation_return_value (invocation,
                                             g_variant_new ("(o)", g_str_equal (name, "default")
                                                                   ? COLLECTION_PATH : "/"));
    }
  else if (g_str_equal (method, "SetAlias"))
    g_dbus_method_invocation_return_value (invocation, NULL);
  else if (g_str_equal (method, "CreateCollection"))
    {
      const char *alias = NULL;

      /* There is one collection; asking for the default one gets it. */
      g_variant_get (parameters, "(@a{sv}&s)", NULL, &alias);
      if (*alias == '\0' || g_str_equal (alias, "default") || g_str_equal (alias, "login"))
        g_dbus_method_invocation_return_value (invocation, g_variant_new ("(oo)", COLLECTION_PATH, "/"));
      else
        g_dbus_method_invocation_return_dbus_error (invocation, ERROR_NOT_SUPPORTED,
                                                    "Only the default collection exists");
    }
  else
    g_dbus_method_invocation_return_dbus_error (invocation, "org.freedesktop.DBus.Error.UnknownMethod",
                                                "Unknown method");
}

static GVariant *
service_get_property (GDBusConnection  *connection,
                      const char       *sender,
                      const char       *path,
                      const char       *iface,
                      const char       *name,
                      GError          **error,
                      gpointer          user_data)
{
  if (g_str_equal (name, "Collections"))
    {
      const char *collections[] = { COLLECTION_PATH, NULL };

      return g_variant_new_objv (collections, -1);
    }
  g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_PROPERTY, "No property %s", name);
  return NULL;
}

static const GDBusInterfaceVTable service_vtable = {
  service_method_call, service_get_property, NULL, { 0 }
};

/* --- control -------------------------------------------------------------- */

static void
control_method_call (GDBusConnection       *connection,
                     const char            *sender,
                     const char            *path,
                     const char            *iface,
                     const char            *method,
                     GVariant              *parameters,
                     GDBusMethodInvocation *invocation,
                     gpointer               user_data)
{
  MockService *self = user_data;

  if (g_str_equal (method, "SetLocked"))
    {
      gboolean locked = FALSE;

      g_variant_get (parameters, "(b)", &locked);
      set_locked (self, locked);
      g_dbus_method_invocation_return_value (invocation, NULL);
    }
  else if (g_str_equal (method, "SetPromptBehaviour"))
    {
      const char *behaviour = NULL;

      g_variant_get (parameters, "(&s)", &behaviour);
      if (!g_str_equal (behaviour, "accept") && !g_str_equal (behaviour, "dismiss") &&
          !g_str_equal (behaviour, "hold"))
        {
          g_dbus_method_invocation_return_dbus_error (invocation, "org.freedesktop.DBus.Error.InvalidArgs",
                                                      "Behaviour must be accept, dismiss or hold");
          return;
        }
      g_free (self->prompt_behaviour);
      self->prompt_behaviour = g_strdup (behaviour);
      g_dbus_method_invocation_return_value (invocation, NULL);
    }
  else if (g_str_equal (method, "ReleasePrompts"))
    {
      g_autoptr(GPtrArray) held = g_ptr_array_new ();
      gboolean accept = FALSE;
      GHashTableIter iter;
      gpointer value;

      g_variant_get (parameters, "(b)", &accept);
      g_hash_table_iter_init (&iter, self->prompts);
      while (g_hash_table_iter_next (&iter, NULL, &value))
        if (((MockPrompt *) value)->held)
          g_ptr_array_add (held, value);
      g_dbus_method_invocation_return_value (invocation, g_variant_new ("(u)", held->len));
      for (guint i = 0; i < held->len; i++)
        {
          MockPrompt *prompt = g_ptr_array_index (held, i);

          prompt->held = FALSE;
          complete_later (prompt, !accept);
        }
    }
  else if (g_str_equal (method, "GetCounters"))
    {
      g_auto(GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE ("a{su}"));
      GHashTableIter iter;
      gpointer value;
      guint held = 0;

      g_hash_table_iter_init (&iter, self->prompts);
      while (g_hash_table_iter_next (&iter, NULL, &value))
        held += ((MockPrompt *) value)->held ? 1 : 0;

      g_variant_builder_add (&builder, "{su}", "calls", (guint32) g_atomic_int_get (&self->calls));
      g_variant_builder_add (&builder, "{su}", "searches", self->searches);
      g_variant_builder_add (&builder, "{su}", "unlocks", self->unlocks);
      g_variant_builder_add (&builder, "{su}", "prompts", self->prompts_shown);
      g_variant_builder_add (&builder, "{su}", "held", held);
      g_variant_builder_add (&builder, "{su}", "writes", self->writes);
      g_variant_builder_add (&builder, "{su}", "locked_writes", self->locked_writes);
      g_variant_builder_add (&builder, "{su}", "deletes", self->deletes);
      g_variant_builder_add (&builder, "{su}", "items", g_hash_table_size (self->items));
      g_variant_builder_add (&builder, "{su}", "locked", (guint32) self->locked);
      g_dbus_method_invocation_return_value (invocation, g_variant_new ("(a{su})", &builder));
    }
  else if (g_str_equal (method, "ResetCounters"))
    {
      g_atomic_int_set (&self->calls, 0);
      self->searches = 0;
      self->unlocks = 0;
      self->prompts_shown = 0;
      self->writes = 0;
      self->locked_writes = 0;
      self->deletes = 0;
      g_dbus_method_invocation_return_value (invocation, NULL);
    }
  else
    g_dbus_method_invocation_return_dbus_error (invocation, "org.freedesktop.DBus.Error.UnknownMethod",
                                                "Unknown method");
}

static const GDBusInterfaceVTable control_vtable = {
  control_method_call, NULL, NULL, { 0 }
};

/* Runs on the GDBus worker thread: counts every call that reaches a
 * Secret Service object, whatever its interface. */
static GDBusMessage *
count_calls_filter (GDBusConnection *connection,
                    GDBusMessage    *message,
                    gboolean         incoming,
                    gpointer         user_data)
{
  MockService *self = user_data;
  const char *path = g_dbus_message_get_path (message);

  if (incoming && g_dbus_message_get_message_type (message) == G_DBUS_MESSAGE_TYPE_METHOD_CALL &&
      path != NULL && g_str_has_prefix (path, SERVICE_PATH))
    g_atomic_int_inc (&self->calls);
  return message;
}

/* --- main ----------------------------------------------------------------- */

static void
register_fixed (MockService                *self,
                const char                 *path,
                const char                 *iface,
                const GDBusInterfaceVTable *vtable)
{
  g_autoptr(GError) error = NULL;
  guint id = g_dbus_connection_register_object (self->bus, path, interface_info (self, iface),
                                                vtable, self, NULL, &error);

  if (id == 0)
    g_error ("Cannot export %s: %s", path, error->message);
  g_ptr_array_add (self->registrations, GUINT_TO_POINTER (id));
}

static void
on_name_acquired (GDBusConnection *connection,
                  const char      *name,
                  gpointer         user_data)
{
  g_print ("ready\n");
  fflush (stdout);
}

static void
on_name_lost (GDBusConnection *connection,
              const char      *name,
              gpointer         user_data)
{
  MockService *self = user_data;

  g_printerr ("Lost or could not own %s\n", name);
  self->exit_status = 1;
  g_main_loop_quit (self->loop);
}

static gboolean
on_stdin (gint         fd,
          GIOCondition condition,
          gpointer     user_data)
{
  MockService *self = user_data;
  char buffer[256];
  ssize_t n = read (fd, buffer, sizeof buffer);

  if (n > 0 || (n < 0 && (errno == EINTR || errno == EAGAIN)))
    return G_SOURCE_CONTINUE;
  /* End of file: whoever started us is gone. */
  g_main_loop_quit (self->loop);
  return G_SOURCE_REMOVE;
}

static gboolean
on_quit (gpointer user_data)
{
  g_main_loop_quit (((MockService *) user_data)->loop);
  return G_SOURCE_REMOVE;
}

static void
mock_service_free (MockService *self)
{
  if (self->filter_id != 0)
    g_dbus_connection_remove_filter (self->bus, self->filter_id);
  for (guint i = 0; self->registrations != NULL && i < self->registrations->len; i++)
    g_dbus_connection_unregister_object (self->bus, GPOINTER_TO_UINT (g_ptr_array_index (self->registrations, i)));
  g_clear_pointer (&self->registrations, g_ptr_array_unref);
  g_clear_pointer (&self->prompts, g_hash_table_unref);
  g_clear_pointer (&self->items, g_hash_table_unref);
  if (self->sessions != NULL)
    {
      GHashTableIter iter;
      gpointer value;

      g_hash_table_iter_init (&iter, self->sessions);
      while (g_hash_table_iter_next (&iter, NULL, &value))
        g_dbus_connection_unregister_object (self->bus, ((MockSession *) value)->registration);
      g_clear_pointer (&self->sessions, g_hash_table_unref);
    }
  g_clear_pointer (&self->node, g_dbus_node_info_unref);
  g_clear_object (&self->bus);
  g_clear_pointer (&self->loop, g_main_loop_unref);
  g_free (self->prompt_behaviour);
  g_free (self);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MockService, mock_service_free)

int
main (int   argc,
      char *argv[])
{
  g_autoptr(MockService) self = g_new0 (MockService, 1);
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  int max_lifetime = DEFAULT_MAX_LIFETIME_SECONDS;
  gboolean locked = FALSE;
  guint owner_id;
  const GOptionEntry entries[] = {
    { "max-lifetime", 0, 0, G_OPTION_ARG_INT, &max_lifetime,
      "Exit after this many seconds (default 1800)", "SECONDS" },
    { "locked", 0, 0, G_OPTION_ARG_NONE, &locked, "Start with the collection locked", NULL },
    { NULL }
  };

  context = g_option_context_new ("- scripted Secret Service for tests");
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
  signal (SIGPIPE, SIG_IGN);

  self->loop = g_main_loop_new (NULL, FALSE);
  self->items = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) item_free);
  self->sessions = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) session_free);
  self->prompts = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) prompt_free);
  self->registrations = g_ptr_array_new ();
  self->prompt_behaviour = g_strdup ("dismiss");
  self->locked = locked;
  self->created = self->modified = now_seconds ();
  self->node = g_dbus_node_info_new_for_xml (introspection_xml, &error);
  g_assert_no_error (error);

  self->bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &error);
  if (self->bus == NULL)
    {
      g_printerr ("Cannot connect to the session bus: %s\n", error->message);
      return 1;
    }
  g_dbus_connection_set_exit_on_close (self->bus, FALSE);
  g_signal_connect_swapped (self->bus, "closed", G_CALLBACK (g_main_loop_quit), self->loop);

  self->filter_id = g_dbus_connection_add_filter (self->bus, count_calls_filter, self, NULL);
  register_fixed (self, SERVICE_PATH, SERVICE_IFACE, &service_vtable);
  register_fixed (self, COLLECTION_PATH, COLLECTION_IFACE, &collection_vtable);
  register_fixed (self, ALIAS_PATH, COLLECTION_IFACE, &collection_vtable);
  register_fixed (self, CONTROL_PATH, "org.bursar.Test.SecretControl", &control_vtable);

  owner_id = g_bus_own_name_on_connection (self->bus, SECRETS_NAME, G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE,
                                           on_name_acquired, on_name_lost, self, NULL);

  g_unix_fd_add (STDIN_FILENO, G_IO_IN | G_IO_HUP | G_IO_ERR, on_stdin, self);
  g_timeout_add_seconds ((guint) max_lifetime, on_quit, self);
  g_unix_signal_add (SIGTERM, on_quit, self);
  g_unix_signal_add (SIGINT, on_quit, self);

  g_main_loop_run (self->loop);
  g_bus_unown_name (owner_id);
  g_dbus_connection_flush_sync (self->bus, NULL, NULL);
  return self->exit_status;
}
