/* bursar-account-bus.c
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include "bursar-account-bus.h"
#include "bursar-generated.h"

#define OBJECT_MANAGER_INTERFACE "org.freedesktop.DBus.ObjectManager"
#define PROPERTIES_INTERFACE "org.freedesktop.DBus.Properties"

/* The interface as the D-Bus specification defines it. */
static const char object_manager_xml[] =
  "<node>"
  "  <interface name='" OBJECT_MANAGER_INTERFACE "'>"
  "    <method name='GetManagedObjects'>"
  "      <arg name='objects' type='a{oa{sa{sv}}}' direction='out'/>"
  "    </method>"
  "    <signal name='InterfacesAdded'>"
  "      <arg name='object_path' type='o'/>"
  "      <arg name='interfaces_and_properties' type='a{sa{sv}}'/>"
  "    </signal>"
  "    <signal name='InterfacesRemoved'>"
  "      <arg name='object_path' type='o'/>"
  "      <arg name='interfaces' type='as'/>"
  "    </signal>"
  "  </interface>"
  "</node>";

struct _BursarAccountBus
{
  GDBusConnection *connection;      /* (owned) */
  char *manager_path;               /* (owned) */
  char *accounts_path;              /* (owned) */
  GHashTable *accounts;             /* (unowned) id → BursarAccount */
  BursarAccountBusMethodFunc method_func;
  gpointer user_data;

  GDBusInterfaceInfo *account_info; /* (owned) */
  GDBusNodeInfo *manager_node;      /* (owned) */
  /* The account's GObject property behind each D-Bus property, in the
   * order of account_info->properties. */
  GParamSpec **pspecs;              /* (owned) (array) elements unowned */
  guint n_properties;

  guint manager_id;
  guint subtree_id;

  /* Accounts with changed properties not yet announced: BursarAccount
   * (owned) → bit mask over account_info->properties. Empty at rest, so
   * an account costs nothing here. */
  GHashTable *pending;              /* (owned) */
  guint flush_id;
};

/* "ApiBaseUrl" → "api-base-url": BursarAccount names its properties
 * after the interface's, the way gdbus-codegen does. */
static char *
property_gobject_name (const char *dbus_name)
{
  GString *name = g_string_new (NULL);

  for (const char *p = dbus_name; *p != '\0'; p++)
    {
      if (g_ascii_isupper (*p) && p != dbus_name)
        g_string_append_c (name, '-');
      g_string_append_c (name, g_ascii_tolower (*p));
    }
  return g_string_free (name, FALSE);
}

/* The account at @object_path, if it is (still) one of ours. */
static BursarAccount *
account_for_path (BursarAccountBus *self,
                  const char       *object_path)
{
  size_t len = strlen (self->accounts_path);

  if (strncmp (object_path, self->accounts_path, len) != 0 || object_path[len] != '/')
    return NULL;
  return g_hash_table_lookup (self->accounts, object_path + len + 1);
}

static char *
account_path (BursarAccountBus *self,
              const char       *account_id)
{
  return g_strconcat (self->accounts_path, "/", account_id, NULL);
}

static GVariant *
property_value (BursarAccountBus *self,
                BursarAccount    *account,
                guint             index)
{
  g_auto(GValue) value = G_VALUE_INIT;

  g_value_init (&value, self->pspecs[index]->value_type);
  g_object_get_property (G_OBJECT (account), self->pspecs[index]->name, &value);
  return g_dbus_gvalue_to_gvariant (&value,
                                    G_VARIANT_TYPE (self->account_info->properties[index]->signature));
}

/* The properties in @mask as a{sv}; all of them for a mask of ~0. */
static GVariant *
property_dict (BursarAccountBus *self,
               BursarAccount    *account,
               guint32           mask)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  for (guint i = 0; i < self->n_properties; i++)
    {
      if (mask & (1u << i))
        {
          g_autoptr(GVariant) value = property_value (self, account, i);

          g_variant_builder_add (&builder, "{sv}", self->account_info->properties[i]->name, value);
        }
    }
  return g_variant_builder_end (&builder);
}

/* {"org.bursar.Bursar1.Account": {all properties}} */
static GVariant *
interfaces_dict (BursarAccountBus *self,
                 BursarAccount    *account)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{sa{sv}}"));
  g_variant_builder_add (&builder, "{s@a{sv}}", self->account_info->name,
                         property_dict (self, account, G_MAXUINT32));
  return g_variant_builder_end (&builder);
}

/* --- org.freedesktop.DBus.ObjectManager -------------------------------- */

static void
manager_method_call (GDBusConnection       *connection,
                     const char            *sender,
                     const char            *object_path,
                     const char            *interface_name,
                     const char            *method_name,
                     GVariant              *parameters,
                     GDBusMethodInvocation *invocation,
                     gpointer               user_data)
{
  BursarAccountBus *self = user_data;
  GVariantBuilder builder;
  GHashTableIter iter;
  gpointer value;

  /* GDBus checked the name and signature against the introspection. */
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{oa{sa{sv}}}"));
  g_hash_table_iter_init (&iter, self->accounts);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      g_autofree char *path = account_path (self, bursar_account_get_id (value));

      g_variant_builder_add (&builder, "{o@a{sa{sv}}}", path, interfaces_dict (self, value));
    }
  g_dbus_method_invocation_return_value (invocation, g_variant_new ("(a{oa{sa{sv}}})", &builder));
}

static const GDBusInterfaceVTable manager_vtable = {
  .method_call = manager_method_call,
};

void
bursar_account_bus_added (BursarAccountBus *self,
                          BursarAccount    *account)
{
  g_autofree char *path = account_path (self, bursar_account_get_id (account));

  g_dbus_connection_emit_signal (self->connection, NULL, self->manager_path,
                                 OBJECT_MANAGER_INTERFACE, "InterfacesAdded",
                                 g_variant_new ("(o@a{sa{sv}})", path, interfaces_dict (self, account)),
                                 NULL);
}

void
bursar_account_bus_removed (BursarAccountBus *self,
                            BursarAccount    *account)
{
  g_autofree char *path = account_path (self, bursar_account_get_id (account));
  const char * const interfaces[] = { self->account_info->name, NULL };

  g_hash_table_remove (self->pending, account);
  g_dbus_connection_emit_signal (self->connection, NULL, self->manager_path,
                                 OBJECT_MANAGER_INTERFACE, "InterfacesRemoved",
                                 g_variant_new ("(o^as)", path, interfaces), NULL);
}

/* --- PropertiesChanged ------------------------------------------------- */

static gboolean
flush_cb (gpointer user_data)
{
  BursarAccountBus *self = user_data;
  GHashTableIter iter;
  gpointer account, mask;

  self->flush_id = 0;
  g_hash_table_iter_init (&iter, self->pending);
  while (g_hash_table_iter_next (&iter, &account, &mask))
    {
      g_autofree char *path = account_path (self, bursar_account_get_id (account));
      const char * const invalidated[] = { NULL };

      g_dbus_connection_emit_signal (self->connection, NULL, path, PROPERTIES_INTERFACE,
                                     "PropertiesChanged",
                                     g_variant_new ("(s@a{sv}^as)", self->account_info->name,
                                                    property_dict (self, account,
                                                                   GPOINTER_TO_UINT (mask)),
                                                    invalidated),
                                     NULL);
      g_hash_table_iter_remove (&iter);
    }
  return G_SOURCE_REMOVE;
}

void
bursar_account_bus_notify (BursarAccountBus *self,
                           BursarAccount    *account,
                           GParamSpec       *pspec)
{
  guint32 mask;

  for (guint i = 0; i < self->n_properties; i++)
    {
      if (self->pspecs[i] != pspec)
        continue;
      mask = GPOINTER_TO_UINT (g_hash_table_lookup (self->pending, account));
      /* The table keeps one reference: an existing key's new one is
       * dropped again by the insert. */
      g_hash_table_insert (self->pending, g_object_ref (account), GUINT_TO_POINTER (mask | (1u << i)));
      if (self->flush_id == 0)
        self->flush_id = g_idle_add (flush_cb, self);
      return;
    }
}

/* --- the accounts subtree ---------------------------------------------- */

static void
account_method_call (GDBusConnection       *connection,
                     const char            *sender,
                     const char            *object_path,
                     const char            *interface_name,
                     const char            *method_name,
                     GVariant              *parameters,
                     GDBusMethodInvocation *invocation,
                     gpointer               user_data)
{
  BursarAccountBus *self = user_data;
  BursarAccount *account = account_for_path (self, object_path);

  /* Removed between GDBus's dispatch and this call. */
  if (account == NULL)
    {
      g_dbus_method_invocation_return_error (invocation, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_OBJECT,
                                             "No such object %s", object_path);
      return;
    }
  self->method_func (account, invocation, self->user_data);
}

static GVariant *
account_get_property (GDBusConnection  *connection,
                      const char       *sender,
                      const char       *object_path,
                      const char       *interface_name,
                      const char       *property_name,
                      GError          **error,
                      gpointer          user_data)
{
  BursarAccountBus *self = user_data;
  BursarAccount *account = account_for_path (self, object_path);

  if (account == NULL)
    {
      g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_OBJECT, "No such object %s",
                   object_path);
      return NULL;
    }
  for (guint i = 0; i < self->n_properties; i++)
    if (g_str_equal (self->account_info->properties[i]->name, property_name))
      return property_value (self, account, i);
  /* GDBus checked the name against the introspection. */
  g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_PROPERTY, "No such property %s",
               property_name);
  return NULL;
}

static const GDBusInterfaceVTable account_vtable = {
  .method_call = account_method_call,
  .get_property = account_get_property,
};

static char **
subtree_enumerate (GDBusConnection *connection,
                   const char      *sender,
                   const char      *object_path,
                   gpointer         user_data)
{
  BursarAccountBus *self = user_data;
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  GHashTableIter iter;
  gpointer id;

  g_hash_table_iter_init (&iter, self->accounts);
  while (g_hash_table_iter_next (&iter, &id, NULL))
    g_strv_builder_add (builder, id);
  return g_strv_builder_end (builder);
}

static GDBusInterfaceInfo **
subtree_introspect (GDBusConnection *connection,
                    const char      *sender,
                    const char      *object_path,
                    const char      *node,
                    gpointer         user_data)
{
  BursarAccountBus *self = user_data;
  GDBusInterfaceInfo **interfaces;

  /* Nothing at the accounts path itself; an unknown account is an
   * unknown object. */
  if (node == NULL || !g_hash_table_contains (self->accounts, node))
    return NULL;
  interfaces = g_new0 (GDBusInterfaceInfo *, 2);
  interfaces[0] = g_dbus_interface_info_ref (self->account_info);
  return interfaces;
}

static const GDBusInterfaceVTable *
subtree_dispatch (GDBusConnection *connection,
                  const char      *sender,
                  const char      *object_path,
                  const char      *interface_name,
                  const char      *node,
                  gpointer        *out_user_data,
                  gpointer         user_data)
{
  BursarAccountBus *self = user_data;

  if (!g_str_equal (interface_name, self->account_info->name))
    return NULL;
  *out_user_data = self;
  return &account_vtable;
}

static const GDBusSubtreeVTable subtree_vtable = {
  .enumerate = subtree_enumerate,
  .introspect = subtree_introspect,
  .dispatch = subtree_dispatch,
};

/* --- life cycle --------------------------------------------------------- */

BursarAccountBus *
bursar_account_bus_new (GDBusConnection             *connection,
                        const char                  *manager_path,
                        const char                  *accounts_path,
                        GHashTable                  *accounts,
                        BursarAccountBusMethodFunc   method_func,
                        gpointer                     user_data,
                        GError                     **error)
{
  g_autoptr(BursarAccountBus) self = g_new0 (BursarAccountBus, 1);
  g_autoptr(GTypeClass) account_class = g_type_class_ref (BURSAR_TYPE_ACCOUNT);

  self->connection = g_object_ref (connection);
  self->manager_path = g_strdup (manager_path);
  self->accounts_path = g_strdup (accounts_path);
  self->accounts = accounts;
  self->method_func = method_func;
  self->user_data = user_data;
  self->pending = g_hash_table_new_full (NULL, NULL, g_object_unref, NULL);

  self->account_info = g_dbus_interface_info_ref (bursar_dbus_account_interface_info ());
  /* Built once: GDBus looks properties and methods up by name. */
  g_dbus_interface_info_cache_build (self->account_info);
  while (self->account_info->properties[self->n_properties] != NULL)
    self->n_properties++;
  g_assert (self->n_properties <= 32);
  self->pspecs = g_new0 (GParamSpec *, self->n_properties);
  for (guint i = 0; i < self->n_properties; i++)
    {
      g_autofree char *name = property_gobject_name (self->account_info->properties[i]->name);

      self->pspecs[i] = g_object_class_find_property (G_OBJECT_CLASS (account_class), name);
      g_assert (self->pspecs[i] != NULL);
    }

  self->manager_node = g_dbus_node_info_new_for_xml (object_manager_xml, NULL);
  g_assert (self->manager_node != NULL);
  self->manager_id = g_dbus_connection_register_object (connection, manager_path,
                                                        self->manager_node->interfaces[0],
                                                        &manager_vtable, self, NULL, error);
  if (self->manager_id == 0)
    return NULL;
  /* Unenumerated nodes are dispatched too: the check is
   * subtree_introspect()'s one lookup, not a list of every account on
   * every call. */
  self->subtree_id = g_dbus_connection_register_subtree (connection, accounts_path, &subtree_vtable,
                                                         G_DBUS_SUBTREE_FLAGS_DISPATCH_TO_UNENUMERATED_NODES,
                                                         self, NULL, error);
  if (self->subtree_id == 0)
    return NULL;
  return g_steal_pointer (&self);
}

void
bursar_account_bus_free (BursarAccountBus *self)
{
  if (self->subtree_id != 0)
    g_dbus_connection_unregister_subtree (self->connection, self->subtree_id);
  if (self->manager_id != 0)
    g_dbus_connection_unregister_object (self->connection, self->manager_id);
  g_clear_handle_id (&self->flush_id, g_source_remove);
  g_clear_pointer (&self->pending, g_hash_table_unref);
  g_clear_pointer (&self->manager_node, g_dbus_node_info_unref);
  if (self->account_info != NULL)
    g_dbus_interface_info_cache_release (self->account_info);
  g_clear_pointer (&self->account_info, g_dbus_interface_info_unref);
  g_free (self->pspecs);
  g_free (self->accounts_path);
  g_free (self->manager_path);
  g_clear_object (&self->connection);
  g_free (self);
}
