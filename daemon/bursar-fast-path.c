/* bursar-fast-path.c
 *
 * Threads: the filter runs on GDBus's worker thread, everything else on
 * the main loop; the table and its entries are shared under one mutex,
 * held for a hash lookup and the copy of a short string. The struct is
 * reference counted because GDBus may still be running the filter when
 * it is removed: the filter's own reference goes with its destroy notify.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include "bursar-fast-path.h"
#include "bursar-secret.h"

/* Connections one account keeps answers for; past it they start over
 * (each then goes once more through the main loop). Unique names are
 * never reused, so stale ones only cost memory until then. */
#define CALLERS_MAX 1024

typedef struct
{
  char *id;             /* (owned) the account id, for the log */
  char *access_token;   /* (owned) secret: wiped when freed */
  gint64 expires_at;    /* unix seconds; 0: no known expiry */
  gint64 fresh_until;   /* unix seconds; answered while now <= this */
  GHashTable *callers;  /* (owned) unique name → description */
} Entry;

struct _BursarFastPath
{
  GMutex lock;
  GHashTable *entries;  /* (owned) object path → Entry */
  char *prefix;         /* (owned) accounts path + "/" */
  char *interface;      /* (owned) */
  GDBusConnection *connection;  /* (unowned) outlives us; main() keeps it */
  guint filter_id;
};

static void
entry_free (Entry *entry)
{
  g_free (entry->id);
  bursar_secret_free (entry->access_token);
  g_hash_table_unref (entry->callers);
  g_free (entry);
}

static void
fast_path_clear (BursarFastPath *self)
{
  g_hash_table_unref (self->entries);
  g_free (self->prefix);
  g_free (self->interface);
  g_mutex_clear (&self->lock);
}

static void
fast_path_release (gpointer data)
{
  g_atomic_rc_box_release_full (data, (GDestroyNotify) fast_path_clear);
}

/* Same arithmetic as the main loop's answer (see expires_in() in
 * bursar-daemon.c): 0 is "no known expiry", so a token at its very end
 * says 1. */
static gint32
expires_in (gint64 expires_at,
            gint64 now)
{
  if (expires_at == 0)
    return 0;
  return (gint32) CLAMP (expires_at - now, 1, G_MAXINT32);
}

/* Called with the lock held. @out_log gets the hand-out's log line when
 * the log would show it, to be written once the lock is released. */
static GDBusMessage *
answer_locked (BursarFastPath  *self,
               GDBusMessage    *message,
               const char      *path,
               const char      *sender,
               char           **out_log)
{
  Entry *entry = g_hash_table_lookup (self->entries, path);
  const char *caller;
  GDBusMessage *reply;
  gint64 now;

  if (entry == NULL || (caller = g_hash_table_lookup (entry->callers, sender)) == NULL)
    return NULL;
  /* The wall clock, as the cache's own check: after a suspend the token
   * may have run out while nothing ran. */
  now = g_get_real_time () / G_USEC_PER_SEC;
  if (now > entry->fresh_until)
    return NULL;

  reply = g_dbus_message_new_method_reply (message);
  g_dbus_message_set_body (reply, g_variant_new ("(si)", entry->access_token,
                                                 expires_in (entry->expires_at, now)));
  if (!g_log_writer_default_would_drop (G_LOG_LEVEL_INFO, G_LOG_DOMAIN))
    *out_log = g_strdup_printf ("Token of account %s handed to %s", entry->id, caller);
  return reply;
}

static gboolean
is_read_only_call (const char *interface,
                   const char *member)
{
  if (g_strcmp0 (interface, "org.freedesktop.DBus.Properties") == 0)
    return g_strcmp0 (member, "Get") == 0 || g_strcmp0 (member, "GetAll") == 0;
  return g_strcmp0 (interface, "org.freedesktop.DBus.Introspectable") == 0 ||
         g_strcmp0 (interface, "org.freedesktop.DBus.Peer") == 0;
}

static GDBusMessage *
filter_cb (GDBusConnection *connection,
           GDBusMessage    *message,
           gboolean         incoming,
           gpointer         user_data)
{
  BursarFastPath *self = user_data;
  g_autoptr(GDBusMessage) reply = NULL;
  g_autofree char *log_line = NULL;
  const char *path;
  const char *interface;
  const char *member;
  const char *sender;

  if (!incoming || g_dbus_message_get_message_type (message) != G_DBUS_MESSAGE_TYPE_METHOD_CALL)
    return message;
  path = g_dbus_message_get_path (message);
  if (path == NULL || !g_str_has_prefix (path, self->prefix))
    return message;
  interface = g_dbus_message_get_interface (message);
  member = g_dbus_message_get_member (message);
  sender = g_dbus_message_get_sender (message);

  g_mutex_lock (&self->lock);
  if (g_strcmp0 (interface, self->interface) == 0 && g_strcmp0 (member, "GetAccessToken") == 0)
    {
      /* Anything unusual (arguments, no reply wanted, no sender) is the
       * main loop's to answer or refuse. */
      if (sender != NULL && g_dbus_message_get_body (message) == NULL &&
          (g_dbus_message_get_flags (message) & G_DBUS_MESSAGE_FLAGS_NO_REPLY_EXPECTED) == 0)
        reply = answer_locked (self, message, path, sender, &log_line);
    }
  else if (!is_read_only_call (interface, member))
    {
      /* Refresh, Remove, DenyApp, Authorize, …: from now on this account
       * is answered in order by the main loop, until it offers again. */
      g_hash_table_remove (self->entries, path);
    }
  g_mutex_unlock (&self->lock);

  if (reply == NULL)
    return message;
  g_dbus_connection_send_message (connection, reply, G_DBUS_SEND_MESSAGE_FLAGS_NONE, NULL, NULL);
  /* After the reply and outside the lock: a slow log holds up neither
   * the caller nor the main loop. */
  if (log_line != NULL)
    g_info ("%s", log_line);
  g_object_unref (message);
  return NULL;
}

BursarFastPath *
bursar_fast_path_new (GDBusConnection *connection,
                      const char      *accounts_path,
                      const char      *account_interface)
{
  BursarFastPath *self;

  g_return_val_if_fail (G_IS_DBUS_CONNECTION (connection), NULL);

  self = g_atomic_rc_box_new0 (BursarFastPath);
  g_mutex_init (&self->lock);
  self->entries = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                         (GDestroyNotify) entry_free);
  self->prefix = g_strconcat (accounts_path, "/", NULL);
  self->interface = g_strdup (account_interface);
  self->connection = connection;
  self->filter_id = g_dbus_connection_add_filter (connection, filter_cb,
                                                  g_atomic_rc_box_acquire (self),
                                                  fast_path_release);
  return self;
}

void
bursar_fast_path_free (BursarFastPath *self)
{
  if (self == NULL)
    return;

  g_dbus_connection_remove_filter (self->connection, self->filter_id);
  /* The filter may run once more meanwhile; it finds nothing to answer. */
  g_mutex_lock (&self->lock);
  g_hash_table_remove_all (self->entries);
  g_mutex_unlock (&self->lock);
  fast_path_release (self);
}

void
bursar_fast_path_offer (BursarFastPath *self,
                        const char     *object_path,
                        const char     *sender,
                        const char     *caller,
                        const char     *access_token,
                        gint64          expires_at,
                        gint64          fresh_until)
{
  Entry *entry;

  g_return_if_fail (self != NULL);
  g_return_if_fail (g_str_has_prefix (object_path, self->prefix));

  if (sender == NULL || access_token == NULL)
    return;

  g_mutex_lock (&self->lock);
  entry = g_hash_table_lookup (self->entries, object_path);
  if (entry == NULL || entry->expires_at != expires_at || entry->fresh_until != fresh_until ||
      !bursar_secret_equal (entry->access_token, access_token))
    {
      entry = g_new0 (Entry, 1);
      entry->id = g_strdup (object_path + strlen (self->prefix));
      entry->access_token = g_strdup (access_token);
      entry->expires_at = expires_at;
      entry->fresh_until = fresh_until;
      entry->callers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
      g_hash_table_replace (self->entries, g_strdup (object_path), entry);
    }
  if (!g_hash_table_contains (entry->callers, sender))
    {
      if (g_hash_table_size (entry->callers) >= CALLERS_MAX)
        g_hash_table_remove_all (entry->callers);
      g_hash_table_insert (entry->callers, g_strdup (sender), g_strdup (caller));
    }
  g_mutex_unlock (&self->lock);
}

void
bursar_fast_path_forget (BursarFastPath *self,
                         const char     *object_path)
{
  g_return_if_fail (self != NULL);

  g_mutex_lock (&self->lock);
  g_hash_table_remove (self->entries, object_path);
  g_mutex_unlock (&self->lock);
}
