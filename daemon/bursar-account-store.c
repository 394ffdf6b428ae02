/* bursar-account-store.c
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#include "bursar-account-store.h"

#define GROUP_PREFIX "Account "

struct _BursarAccountStore
{
  GObject parent_instance;

  char *path;         /* (owned) */
  GKeyFile *keyfile;  /* (owned) */
  gboolean writing;
  gboolean dirty;
};

enum
{
  SIGNAL_IDLE,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (BursarAccountStore, bursar_account_store, G_TYPE_OBJECT)

static void
bursar_account_store_finalize (GObject *object)
{
  BursarAccountStore *self = BURSAR_ACCOUNT_STORE (object);

  g_clear_pointer (&self->path, g_free);
  g_clear_pointer (&self->keyfile, g_key_file_unref);

  G_OBJECT_CLASS (bursar_account_store_parent_class)->finalize (object);
}

static void
bursar_account_store_class_init (BursarAccountStoreClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = bursar_account_store_finalize;

  signals[SIGNAL_IDLE] = g_signal_new ("idle", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                       0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
bursar_account_store_init (BursarAccountStore *self)
{
  self->keyfile = g_key_file_new ();
}

BursarAccountStore *
bursar_account_store_new (const char *path)
{
  BursarAccountStore *self = g_object_new (BURSAR_TYPE_ACCOUNT_STORE, NULL);

  self->path = g_strdup (path);
  return self;
}

const char *
bursar_account_store_get_path (BursarAccountStore *self)
{
  return self->path;
}

gboolean
bursar_account_store_load (BursarAccountStore  *self,
                           GError             **error)
{
  g_autoptr(GError) local_error = NULL;

  if (!g_key_file_load_from_file (self->keyfile, self->path,
                                  G_KEY_FILE_KEEP_COMMENTS, &local_error))
    {
      if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return TRUE;
      g_propagate_prefixed_error (error, g_steal_pointer (&local_error),
                                  "%s: ", self->path);
      return FALSE;
    }
  return TRUE;
}

GStrv
bursar_account_store_list_ids (BursarAccountStore *self)
{
  g_auto(GStrv) groups = g_key_file_get_groups (self->keyfile, NULL);
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

  for (guint i = 0; groups[i] != NULL; i++)
    {
      if (g_str_has_prefix (groups[i], GROUP_PREFIX))
        g_strv_builder_add (builder, groups[i] + strlen (GROUP_PREFIX));
    }
  return g_strv_builder_end (builder);
}

GKeyFile *
bursar_account_store_get_keyfile (BursarAccountStore *self)
{
  return self->keyfile;
}

char *
bursar_account_store_group_for (const char *account_id)
{
  return g_strconcat (GROUP_PREFIX, account_id, NULL);
}

void
bursar_account_store_remove (BursarAccountStore *self,
                             const char         *account_id)
{
  g_autofree char *group = bursar_account_store_group_for (account_id);

  g_key_file_remove_group (self->keyfile, group, NULL);
  bursar_account_store_save (self);
}

static void write_now (BursarAccountStore *self);

static void
write_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(BursarAccountStore) self = BURSAR_ACCOUNT_STORE (user_data);
  g_autoptr(GError) error = NULL;

  if (!g_file_replace_contents_finish (G_FILE (source), result, NULL, &error))
    g_warning ("Could not write %s: %s", self->path, error->message);

  self->writing = FALSE;
  if (self->dirty)
    write_now (self);
  else
    g_signal_emit (self, signals[SIGNAL_IDLE], 0);
}

static void
write_now (BursarAccountStore *self)
{
  g_autoptr(GFile) file = g_file_new_for_path (self->path);
  g_autoptr(GFile) dir = g_file_get_parent (file);
  g_autoptr(GBytes) bytes = NULL;
  gsize len = 0;
  char *data;

  self->dirty = FALSE;
  self->writing = TRUE;

  /* The directory is made once, the first time an account is added. */
  if (g_mkdir_with_parents (g_file_peek_path (dir), 0700) != 0)
    g_warning ("Could not create %s: %s", g_file_peek_path (dir), g_strerror (errno));

  data = g_key_file_to_data (self->keyfile, &len, NULL);
  bytes = g_bytes_new_take (data, len);
  /* G_FILE_CREATE_PRIVATE gives 0600; replace writes a temporary file and
   * renames it over the old one, so a crash never leaves half a file. */
  g_file_replace_contents_bytes_async (file, bytes, NULL, FALSE,
                                       G_FILE_CREATE_PRIVATE | G_FILE_CREATE_REPLACE_DESTINATION,
                                       NULL, /* cancellable: a started write finishes */
                                       write_cb, g_object_ref (self));
}

void
bursar_account_store_save (BursarAccountStore *self)
{
  if (self->writing)
    {
      self->dirty = TRUE;
      return;
    }
  write_now (self);
}

gboolean
bursar_account_store_is_busy (BursarAccountStore *self)
{
  return self->writing || self->dirty;
}
