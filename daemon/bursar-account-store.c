/* bursar-account-store.c
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#include "bursar-account-store.h"

#define GROUP_PREFIX "Account "

/* Translations are kept so that a Label[de] someone added by hand
 * survives the daemon rewriting that account. */
#define KEY_FILE_FLAGS (G_KEY_FILE_KEEP_COMMENTS | G_KEY_FILE_KEEP_TRANSLATIONS)

/* One group of the file as text: its header, its lines, and the comment
 * and blank lines just above the header. Always ends in a newline.
 * A bound group has no text: its owner writes it (see
 * bursar_account_store_bind()). */
typedef struct
{
  char *name;   /* (owned) the group name, as GKeyFile parsed it */
  char *text;   /* (owned) (nullable) NULL while bound */
  BursarAccountStoreWriteFunc write;
  gpointer owner;  /* (unowned) */
} Chunk;

struct _BursarAccountStore
{
  GObject parent_instance;

  char *path;          /* (owned) */
  char *preamble;      /* (owned) (nullable) the lines before the first group */
  GPtrArray *chunks;   /* (owned) (element-type Chunk) in file order */
  GHashTable *groups;  /* (owned) group name → Chunk, both owned by @chunks */
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
chunk_free (Chunk *chunk)
{
  g_free (chunk->name);
  g_free (chunk->text);
  g_free (chunk);
}

static void
bursar_account_store_finalize (GObject *object)
{
  BursarAccountStore *self = BURSAR_ACCOUNT_STORE (object);

  g_clear_pointer (&self->path, g_free);
  g_clear_pointer (&self->preamble, g_free);
  /* The table borrows its keys from the chunks: it goes first. */
  g_clear_pointer (&self->groups, g_hash_table_unref);
  g_clear_pointer (&self->chunks, g_ptr_array_unref);

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
  self->chunks = g_ptr_array_new_with_free_func ((GDestroyNotify) chunk_free);
  self->groups = g_hash_table_new (g_str_hash, g_str_equal);
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

char *
bursar_account_store_group_for (const char *account_id)
{
  return g_strconcat (GROUP_PREFIX, account_id, NULL);
}

/* --- text ------------------------------------------------------------- */

/* A copy of @len bytes of @text, with a final newline added if the file's
 * last line had none, so that chunks can be written one after another.
 * NULL for nothing. */
static char *
copy_lines (const char *text,
            gsize       len)
{
  gboolean add_newline = len > 0 && text[len - 1] != '\n';
  char *copy;

  if (len == 0)
    return NULL;
  copy = g_malloc (len + 2);
  memcpy (copy, text, len);
  if (add_newline)
    copy[len++] = '\n';
  copy[len] = '\0';
  return copy;
}

static GKeyFile *
parse_chunk (const char  *text,
             GError     **error)
{
  g_autoptr(GKeyFile) kf = g_key_file_new ();

  if (!g_key_file_load_from_data (kf, text, (gsize) -1, KEY_FILE_FLAGS, error))
    return NULL;
  return g_steal_pointer (&kf);
}

typedef enum
{
  LINE_COMMENT,  /* also blank lines */
  LINE_GROUP,
  LINE_OTHER,    /* a key, or something the parser will refuse */
} LineKind;

/* The rule GKeyFile parses by: leading blanks are skipped, then an empty
 * line or a '#' is a comment and a '[' a group header. Only the first
 * character is looked at; whether the header is well formed is for the
 * parser to say. */
static LineKind
classify_line (const char *line,
               const char *end)
{
  while (line < end && g_ascii_isspace (*line))
    line++;
  if (line == end || *line == '#')
    return LINE_COMMENT;
  if (*line == '[')
    return LINE_GROUP;
  return LINE_OTHER;
}

/* Takes @text, one group's chunk as read: checks that it parses, and
 * files it under the group name the parser found. */
static gboolean
add_read_chunk (BursarAccountStore  *self,
                char                *text,
                GError             **error)
{
  g_autofree char *owned = text;
  g_autoptr(GKeyFile) kf = parse_chunk (text, error);
  g_autofree char *name = NULL;
  Chunk *chunk;

  if (kf == NULL)
    return FALSE;
  name = g_key_file_get_start_group (kf);
  if (name == NULL)
    {
      /* A chunk starts with a header line, and a parser that accepts it
       * has read a group: only a change in GKeyFile could get here. */
      g_set_error_literal (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_PARSE,
                           "Key file group without a name");
      return FALSE;
    }

  chunk = g_hash_table_lookup (self->groups, name);
  if (chunk != NULL)
    {
      /* GKeyFile merges a repeated group into its first occurrence, the
       * later keys winning; the merged text parses the same way. */
      char *merged = g_strconcat (chunk->text, text, NULL);

      g_free (chunk->text);
      chunk->text = merged;
      return TRUE;
    }

  chunk = g_new0 (Chunk, 1);
  chunk->name = g_steal_pointer (&name);
  chunk->text = g_steal_pointer (&owned);
  g_ptr_array_add (self->chunks, chunk);
  g_hash_table_insert (self->groups, chunk->name, chunk);
  return TRUE;
}

/* Cuts @contents into the preamble and a chunk per group, at the header
 * lines. The comment and blank lines between a group's last key and the
 * next header go with the next group: GKeyFile counts them as that
 * group's comment (g_key_file_get_comment()), and they must stay above it
 * when the group before is removed or rewritten. */
static gboolean
split_groups (BursarAccountStore  *self,
              const char          *contents,
              gsize                length,
              GError             **error)
{
  const char *end = contents + length;
  const char *chunk_start = NULL;  /* NULL while in the preamble */
  const char *body_end = contents; /* after the last line that is no comment */
  const char *line = contents;

  /* Chunks are C strings; GKeyFile itself would silently drop the rest
   * of such a line, and this store would drop the rest of the group. */
  if (memchr (contents, '\0', length) != NULL)
    {
      g_set_error_literal (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_PARSE,
                           "Key file contains a NUL byte");
      return FALSE;
    }

  while (line < end)
    {
      const char *eol = memchr (line, '\n', end - line);
      const char *next = eol != NULL ? eol + 1 : end;

      switch (classify_line (line, eol != NULL ? eol : end))
        {
        case LINE_GROUP:
          if (chunk_start == NULL)
            {
              self->preamble = copy_lines (contents, line - contents);
              chunk_start = line;
            }
          else
            {
              if (!add_read_chunk (self, copy_lines (chunk_start, body_end - chunk_start), error))
                return FALSE;
              chunk_start = body_end;
            }
          body_end = next;
          break;
        case LINE_OTHER:
          body_end = next;
          break;
        case LINE_COMMENT:
          break;
        }
      line = next;
    }

  if (chunk_start == NULL)
    self->preamble = copy_lines (contents, length);
  else if (!add_read_chunk (self, copy_lines (chunk_start, end - chunk_start), error))
    return FALSE;

  /* Only comments belong before the first group; the parser says so
   * ("does not start with a group") for anything else. */
  if (self->preamble != NULL)
    {
      g_autoptr(GKeyFile) kf = parse_chunk (self->preamble, error);

      if (kf == NULL)
        return FALSE;
    }
  return TRUE;
}

/* --- reading ---------------------------------------------------------- */

gboolean
bursar_account_store_load (BursarAccountStore          *self,
                           BursarAccountStoreLoadFunc   func,
                           gpointer                     user_data,
                           GError                     **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autofree char *contents = NULL;
  gsize length = 0;

  g_return_val_if_fail (BURSAR_IS_ACCOUNT_STORE (self), FALSE);
  g_return_val_if_fail (self->chunks->len == 0 && self->preamble == NULL, FALSE);

  if (!g_file_get_contents (self->path, &contents, &length, &local_error))
    {
      if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return TRUE;
      /* GLib's message names the file already. */
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }

  if (!split_groups (self, contents, length, &local_error))
    {
      /* Nothing of a file that does not parse is kept, so that nothing
       * half-read could be written back over it. */
      g_hash_table_remove_all (self->groups);
      g_ptr_array_set_size (self->chunks, 0);
      g_clear_pointer (&self->preamble, g_free);
      g_propagate_prefixed_error (error, g_steal_pointer (&local_error), "%s: ", self->path);
      return FALSE;
    }
  /* The chunks hold their own copies. */
  g_clear_pointer (&contents, g_free);

  /* By index, and with a copy of the name: @func may save an account,
   * which changes the store under this loop. */
  for (guint i = 0; i < self->chunks->len; i++)
    {
      Chunk *chunk = g_ptr_array_index (self->chunks, i);
      g_autofree char *group = NULL;
      g_autoptr(GKeyFile) kf = NULL;

      if (!g_str_has_prefix (chunk->name, GROUP_PREFIX))
        continue;

      /* Parsed again rather than kept from the split: a repeated group is
       * whole only now, and one parsed group at a time keeps start-up
       * memory flat however many accounts there are. */
      kf = parse_chunk (chunk->text, &local_error);
      if (kf == NULL)
        {
          g_propagate_prefixed_error (error, g_steal_pointer (&local_error), "%s: ", self->path);
          return FALSE;
        }
      group = g_strdup (chunk->name);
      func (group + strlen (GROUP_PREFIX), kf, group, user_data);
    }
  return TRUE;
}

gboolean
bursar_account_store_has_account (BursarAccountStore *self,
                                  const char         *account_id)
{
  g_autofree char *group = bursar_account_store_group_for (account_id);

  return g_hash_table_contains (self->groups, group);
}

GKeyFile *
bursar_account_store_dup_account (BursarAccountStore *self,
                                  const char         *account_id)
{
  g_autofree char *group = bursar_account_store_group_for (account_id);
  Chunk *chunk = g_hash_table_lookup (self->groups, group);
  g_autoptr(GError) error = NULL;
  GKeyFile *kf;

  if (chunk == NULL)
    return g_key_file_new ();
  if (chunk->write != NULL)
    {
      kf = g_key_file_new ();
      chunk->write (chunk->owner, kf, chunk->name);
      return kf;
    }
  kf = parse_chunk (chunk->text, &error);
  if (kf == NULL)
    {
      /* Every chunk parsed when it was read or set. */
      g_critical ("%s: %s", self->path, error->message);
      return g_key_file_new ();
    }
  return kf;
}

/* A bound chunk's text, as its owner writes it now. */
static char *
chunk_write (Chunk *chunk)
{
  g_autoptr(GKeyFile) kf = g_key_file_new ();

  chunk->write (chunk->owner, kf, chunk->name);
  return g_key_file_to_data (kf, NULL, NULL);
}

/* --- binding ----------------------------------------------------------- */

/* Whether @func writes everything @chunk's text holds: no comment or blank
 * line (but the blank line that sets a group apart, which the writer
 * adds), and the same keys with the same values. The order of the keys
 * may differ: a key removed and set again goes to the end. */
static gboolean
writes_all_of (Chunk                       *chunk,
               GKeyFile                    *parsed,
               BursarAccountStoreWriteFunc  func,
               gpointer                     owner)
{
  g_autoptr(GKeyFile) stored = parsed != NULL ? g_key_file_ref (parsed) : NULL;
  g_autoptr(GKeyFile) written = g_key_file_new ();
  g_auto(GStrv) stored_keys = NULL;
  g_auto(GStrv) written_keys = NULL;
  const char *text = chunk->text;

  while (*text == '\n')
    text++;
  if (*text == '#' || strstr (text, "\n#") != NULL || strstr (text, "\n\n") != NULL)
    return FALSE;
  if (stored == NULL)
    stored = parse_chunk (text, NULL);
  if (stored == NULL)
    return FALSE;
  func (owner, written, chunk->name);
  stored_keys = g_key_file_get_keys (stored, chunk->name, NULL, NULL);
  written_keys = g_key_file_get_keys (written, chunk->name, NULL, NULL);
  if (stored_keys == NULL || written_keys == NULL ||
      g_strv_length (stored_keys) != g_strv_length (written_keys))
    return FALSE;
  for (guint i = 0; written_keys[i] != NULL; i++)
    {
      g_autofree char *a = g_key_file_get_value (stored, chunk->name, written_keys[i], NULL);
      g_autofree char *b = g_key_file_get_value (written, chunk->name, written_keys[i], NULL);

      if (a == NULL || g_strcmp0 (a, b) != 0)
        return FALSE;
    }
  return TRUE;
}

gboolean
bursar_account_store_bind (BursarAccountStore          *self,
                           const char                  *account_id,
                           GKeyFile                    *parsed,
                           BursarAccountStoreWriteFunc  func,
                           gpointer                     owner)
{
  g_autofree char *group = bursar_account_store_group_for (account_id);
  Chunk *chunk = g_hash_table_lookup (self->groups, group);

  if (chunk == NULL)
    {
      chunk = g_new0 (Chunk, 1);
      chunk->name = g_steal_pointer (&group);
      g_ptr_array_add (self->chunks, chunk);
      g_hash_table_insert (self->groups, chunk->name, chunk);
    }
  else if (chunk->text != NULL)
    {
      if (!writes_all_of (chunk, parsed, func, owner))
        return FALSE;
      g_clear_pointer (&chunk->text, g_free);
    }
  chunk->write = func;
  chunk->owner = owner;
  return TRUE;
}

void
bursar_account_store_unbind (BursarAccountStore *self,
                             const char         *account_id,
                             gpointer            owner)
{
  g_autofree char *group = bursar_account_store_group_for (account_id);
  Chunk *chunk = g_hash_table_lookup (self->groups, group);

  if (chunk == NULL || chunk->write == NULL || chunk->owner != owner)
    return;
  chunk->text = chunk_write (chunk);
  chunk->write = NULL;
  chunk->owner = NULL;
}

/* --- changes ---------------------------------------------------------- */

void
bursar_account_store_set_account (BursarAccountStore *self,
                                  const char         *account_id,
                                  GKeyFile           *keyfile)
{
  g_autofree char *group = bursar_account_store_group_for (account_id);
  g_auto(GStrv) groups = g_key_file_get_groups (keyfile, NULL);
  g_autofree char *text = NULL;
  gsize len = 0;
  Chunk *chunk;

  /* Another group in @keyfile would be written twice. */
  g_return_if_fail (groups[0] != NULL && groups[1] == NULL && g_str_equal (groups[0], group));

  text = g_key_file_to_data (keyfile, &len, NULL);
  /* GKeyFile's buffer grows by doubling; what is kept for the daemon's
   * life is cut to size. Every line it writes ends in a newline. */
  text = g_realloc (text, len + 1);

  chunk = g_hash_table_lookup (self->groups, group);
  if (chunk == NULL)
    {
      chunk = g_new0 (Chunk, 1);
      chunk->name = g_steal_pointer (&group);
      g_ptr_array_add (self->chunks, chunk);
      g_hash_table_insert (self->groups, chunk->name, chunk);
    }
  g_free (chunk->text);
  chunk->text = g_steal_pointer (&text);
  chunk->write = NULL;
  chunk->owner = NULL;
  bursar_account_store_save (self);
}

void
bursar_account_store_remove (BursarAccountStore *self,
                             const char         *account_id)
{
  g_autofree char *group = bursar_account_store_group_for (account_id);
  Chunk *chunk = g_hash_table_lookup (self->groups, group);

  if (chunk != NULL)
    {
      g_hash_table_remove (self->groups, group);
      g_ptr_array_remove (self->chunks, chunk); /* keeps the order; frees it */
    }
  bursar_account_store_save (self);
}

/* --- writing ---------------------------------------------------------- */

static GBytes *
serialize (BursarAccountStore *self)
{
  GString *data = g_string_new (self->preamble);

  for (guint i = 0; i < self->chunks->len; i++)
    {
      Chunk *chunk = g_ptr_array_index (self->chunks, i);
      g_autofree char *written = chunk->write != NULL ? chunk_write (chunk) : NULL;
      const char *text = written != NULL ? written : chunk->text;

      /* Groups are set apart by a blank line, as GKeyFile writes them,
       * unless one is there already. @data ends in a newline here. */
      if (i > 0 && text[0] != '\n' &&
          !(data->len >= 2 && data->str[data->len - 2] == '\n'))
        g_string_append_c (data, '\n');
      g_string_append (data, text);
    }
  return g_string_free_to_bytes (data);
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

  self->dirty = FALSE;
  self->writing = TRUE;

  /* The directory is made once, the first time an account is added. */
  if (g_mkdir_with_parents (g_file_peek_path (dir), 0700) != 0)
    g_warning ("Could not create %s: %s", g_file_peek_path (dir), g_strerror (errno));

  bytes = serialize (self);
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
