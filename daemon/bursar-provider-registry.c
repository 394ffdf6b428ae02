/* bursar-provider-registry.c: the providers found on the search path.
 *
 * The files are read synchronously, once, at start-up: they are a few
 * small local files, and bursard reads them before it owns its bus name,
 * so no caller can be kept waiting by it.
 *
 * Shadowing: the first *valid* file of an id wins. A malformed file is
 * skipped with one warning and does not claim its id, so a user's broken
 * override in ~/.config does not hide the working built-in file of the same
 * id: the daemon keeps working and the warning says what to fix.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"


#include <string.h>

#include "bursar-provider.h"

struct _BursarProviderRegistry
{
  GObject parent_instance;

  GHashTable *providers; /* (owned) id → (owned) BursarProvider */
};

G_DEFINE_TYPE (BursarProviderRegistry, bursar_provider_registry, G_TYPE_OBJECT)

static void
bursar_provider_registry_finalize (GObject *object)
{
  BursarProviderRegistry *self = BURSAR_PROVIDER_REGISTRY (object);

  g_clear_pointer (&self->providers, g_hash_table_unref);

  G_OBJECT_CLASS (bursar_provider_registry_parent_class)->finalize (object);
}

static void
bursar_provider_registry_class_init (BursarProviderRegistryClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = bursar_provider_registry_finalize;
}

static void
bursar_provider_registry_init (BursarProviderRegistry *self)
{
  self->providers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
}

static int
compare_strings (gconstpointer a,
                 gconstpointer b)
{
  return strcmp (*(const char * const *) a, *(const char * const *) b);
}

/* Loads the *.provider files of one directory whose ids are not taken yet.
 * Files are visited in name order so that what gets loaded, and the order
 * of warnings, does not depend on the file system. */
static void
load_dir (BursarProviderRegistry *self,
          const char             *dir_path)
{
  g_autoptr(GDir) dir = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  dir = g_dir_open (dir_path, 0, &error);
  if (dir == NULL)
    {
      /* A missing directory is normal: most of the path is optional. */
      if (!g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_NOENT)
          && !g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_NOTDIR))
        g_warning ("Cannot read provider directory %s: %s", dir_path, error->message);
      return;
    }

  while ((name = g_dir_read_name (dir)) != NULL)
    {
      /* Hidden files are editor backups and the like. */
      if (name[0] != '.' && g_str_has_suffix (name, ".provider"))
        g_ptr_array_add (names, g_strdup (name));
    }
  g_ptr_array_sort (names, compare_strings);

  for (guint i = 0; i < names->len; i++)
    {
      const char *file_name = g_ptr_array_index (names, i);
      g_autofree char *id = g_strndup (file_name, strlen (file_name) - strlen (".provider"));
      g_autofree char *path = NULL;
      g_autoptr(BursarProvider) provider = NULL;
      g_autoptr(GError) local_error = NULL;

      /* Shadowed by a valid file earlier on the path: not even parsed, so
       * a broken lower-priority file that is never used stays quiet. */
      if (g_hash_table_contains (self->providers, id))
        continue;

      path = g_build_filename (dir_path, file_name, NULL);
      provider = bursar_provider_new_from_file (path, &local_error);
      if (provider == NULL)
        {
          /* The message names the file and the key already. */
          g_warning ("Skipping provider file: %s", local_error->message);
          continue;
        }

      g_debug ("Provider %s from %s", id, path);
      g_hash_table_insert (self->providers, g_steal_pointer (&id), g_steal_pointer (&provider));
    }
}

/* @dirs NULL means bursar_provider_registry_default_dirs(). */
BursarProviderRegistry *
bursar_provider_registry_new (const char * const *dirs)
{
  g_autoptr(BursarProviderRegistry) self = g_object_new (BURSAR_TYPE_PROVIDER_REGISTRY, NULL);
  g_auto(GStrv) default_dirs = NULL;

  if (dirs == NULL)
    {
      default_dirs = bursar_provider_registry_default_dirs ();
      dirs = (const char * const *) default_dirs;
    }

  for (guint i = 0; dirs[i] != NULL; i++)
    load_dir (self, dirs[i]);

  return g_steal_pointer (&self);
}

char **
bursar_provider_registry_default_dirs (void)
{
  g_autoptr(GPtrArray) dirs = g_ptr_array_new_with_free_func (g_free);
  const char *extra = g_getenv ("BURSAR_PROVIDERS_DIR");

  g_ptr_array_add (dirs, g_build_filename (g_get_user_config_dir (), "bursar", "providers", NULL));
  g_ptr_array_add (dirs, g_build_filename (SYSCONFDIR, "bursar", "providers", NULL));
  g_ptr_array_add (dirs, g_build_filename (PKGDATADIR, "providers", NULL));

  /* Last, so an uninstalled build finds its own files without shadowing
   * what the user or the administrator put in place. */
  if (extra != NULL)
    {
      g_auto(GStrv) parts = g_strsplit (extra, G_SEARCHPATH_SEPARATOR_S, -1);

      for (guint i = 0; parts[i] != NULL; i++)
        {
          if (parts[i][0] != '\0')
            g_ptr_array_add (dirs, g_strdup (parts[i]));
        }
    }

  g_ptr_array_add (dirs, NULL);
  return (char **) g_ptr_array_free (g_steal_pointer (&dirs), FALSE);
}

BursarProvider *
bursar_provider_registry_lookup (BursarProviderRegistry *self,
                                 const char             *id)
{
  g_return_val_if_fail (BURSAR_IS_PROVIDER_REGISTRY (self), NULL);

  if (id == NULL)
    return NULL;
  return g_hash_table_lookup (self->providers, id);
}

static int
compare_providers (gconstpointer a,
                   gconstpointer b)
{
  BursarProvider *pa = *(BursarProvider * const *) a;
  BursarProvider *pb = *(BursarProvider * const *) b;

  return strcmp (bursar_provider_get_id (pa), bursar_provider_get_id (pb));
}

GPtrArray *
bursar_provider_registry_list (BursarProviderRegistry *self)
{
  GPtrArray *list;
  GHashTableIter iter;
  gpointer value;

  g_return_val_if_fail (BURSAR_IS_PROVIDER_REGISTRY (self), NULL);

  list = g_ptr_array_sized_new (g_hash_table_size (self->providers));
  g_hash_table_iter_init (&iter, self->providers);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (list, value);
  g_ptr_array_sort (list, compare_providers);
  return list;
}
