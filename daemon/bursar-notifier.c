/* bursar-notifier.c
 *
 * The notification is best effort: no notification server on the bus is
 * not an error, and the account's AttentionNeeded/LastError properties
 * carry the same news for apps that watch them.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib/gi18n-lib.h>

#include "bursar-notifier.h"

#define NOTIFICATIONS_NAME "org.freedesktop.Notifications"
#define NOTIFICATIONS_PATH "/org/freedesktop/Notifications"
#define NOTIFICATIONS_IFACE "org.freedesktop.Notifications"
#define ACTION_SIGN_IN "sign-in"

struct _BursarNotifier
{
  GObject parent_instance;

  GDBusConnection *connection; /* (owned) */
  GHashTable *notified;        /* (owned) account → notification id (0 = pending) */
  guint action_subscription;
  GCancellable *cancellable;   /* (owned) */
};

G_DEFINE_TYPE (BursarNotifier, bursar_notifier, G_TYPE_OBJECT)

static void
bursar_notifier_dispose (GObject *object)
{
  BursarNotifier *self = BURSAR_NOTIFIER (object);

  g_cancellable_cancel (self->cancellable);
  if (self->connection != NULL && self->action_subscription != 0)
    g_dbus_connection_signal_unsubscribe (self->connection, self->action_subscription);
  self->action_subscription = 0;
  g_clear_pointer (&self->notified, g_hash_table_unref);
  g_clear_object (&self->connection);
  g_clear_object (&self->cancellable);

  G_OBJECT_CLASS (bursar_notifier_parent_class)->dispose (object);
}

static void
bursar_notifier_class_init (BursarNotifierClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = bursar_notifier_dispose;
}

static void
bursar_notifier_init (BursarNotifier *self)
{
  /* Keys are accounts in need (a reference each); values are the id of
   * the notification shown for them, 0 while none is. */
  self->notified = g_hash_table_new_full (g_direct_hash, g_direct_equal, g_object_unref, NULL);
  self->cancellable = g_cancellable_new ();
}

static void
authorize_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *url = bursar_account_authorize_finish (BURSAR_ACCOUNT (source), result, &error);

  if (url == NULL)
    g_message ("Account %s: sign-in from the notification failed: %s",
               bursar_account_get_id (BURSAR_ACCOUNT (source)), error->message);
}

static void
action_invoked (GDBusConnection *connection,
                const char      *sender,
                const char      *path,
                const char      *iface,
                const char      *signal,
                GVariant        *params,
                gpointer         user_data)
{
  BursarNotifier *self = user_data;
  GHashTableIter iter;
  gpointer account, value;
  guint32 id;
  const char *action;

  if (!g_variant_is_of_type (params, G_VARIANT_TYPE ("(us)")))
    return;
  g_variant_get (params, "(u&s)", &id, &action);
  if (id == 0 || (g_strcmp0 (action, ACTION_SIGN_IN) != 0 && g_strcmp0 (action, "default") != 0))
    return;

  g_hash_table_iter_init (&iter, self->notified);
  while (g_hash_table_iter_next (&iter, &account, &value))
    {
      if (GPOINTER_TO_UINT (value) == id)
        {
          g_message ("Account %s: sign-in started from the notification",
                     bursar_account_get_id (account));
          bursar_account_authorize_async (account, TRUE, self->cancellable, authorize_cb, NULL);
          return;
        }
    }
}

BursarNotifier *
bursar_notifier_new (GDBusConnection *connection)
{
  BursarNotifier *self = g_object_new (BURSAR_TYPE_NOTIFIER, NULL);

  self->connection = g_object_ref (connection);
  /* Signals from any sender: the notification server's unique name may
   * change when it restarts; the notification id ties it to us. */
  self->action_subscription =
    g_dbus_connection_signal_subscribe (connection, NULL, NOTIFICATIONS_IFACE, "ActionInvoked",
                                        NOTIFICATIONS_PATH, NULL, G_DBUS_SIGNAL_FLAGS_NONE,
                                        action_invoked, self, NULL);
  return self;
}

typedef struct
{
  BursarNotifier *self;    /* (owned) */
  BursarAccount *account;  /* (owned) */
} NotifyCall;

static void
notify_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  NotifyCall *call = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  guint32 id = 0;

  if (reply == NULL)
    g_debug ("No desktop notification for account %s: %s",
             bursar_account_get_id (call->account), error->message);
  else
    g_variant_get (reply, "(u)", &id);

  /* Still watched and still in need: remember the id for the action. */
  if (call->self->notified != NULL &&
      g_hash_table_contains (call->self->notified, call->account) && id != 0)
    g_hash_table_insert (call->self->notified, g_object_ref (call->account), GUINT_TO_POINTER (id));

  g_object_unref (call->self);
  g_object_unref (call->account);
  g_free (call);
}

static void
send_notification (BursarNotifier *self,
                   BursarAccount  *account)
{
  g_autofree char *label = NULL;
  g_autofree char *identity = NULL;
  g_autofree char *provider_name = NULL;
  g_autofree char *summary = NULL;
  g_autofree char *body = NULL;
  const char *who;
  const char *actions[] = { "default", _("Sign in"), ACTION_SIGN_IN, _("Sign in"), NULL };
  g_auto(GVariantBuilder) hints = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  NotifyCall *call;

  g_object_get (account, "label", &label, "identity", &identity, "provider-name", &provider_name, NULL);
  who = label != NULL && *label != '\0' ? label
        : identity != NULL && *identity != '\0' ? identity
        : bursar_account_get_id (account);

  summary = g_strdup_printf (_("Sign in to %s again"), provider_name);
  body = g_strdup_printf (_("Bursar can no longer get tokens for the account “%s”. Apps using it will fail until you sign in again."),
                          who);
  g_variant_builder_add (&hints, "{sv}", "urgency", g_variant_new_byte (1));
  g_variant_builder_add (&hints, "{sv}", "category", g_variant_new_string ("network"));

  call = g_new0 (NotifyCall, 1);
  call->self = g_object_ref (self);
  call->account = g_object_ref (account);
  g_dbus_connection_call (self->connection, NOTIFICATIONS_NAME, NOTIFICATIONS_PATH,
                          NOTIFICATIONS_IFACE, "Notify",
                          g_variant_new ("(susss^as@a{sv}i)", "Bursar", (guint32) 0,
                                         "dialog-password", summary, body, actions,
                                         g_variant_builder_end (&hints), (gint32) -1),
                          G_VARIANT_TYPE ("(u)"),
                          G_DBUS_CALL_FLAGS_NO_AUTO_START, 10000, self->cancellable,
                          notify_cb, call);
}

static void
close_notification (BursarNotifier *self,
                    guint32         id)
{
  g_dbus_connection_call (self->connection, NOTIFICATIONS_NAME, NOTIFICATIONS_PATH,
                          NOTIFICATIONS_IFACE, "CloseNotification", g_variant_new ("(u)", id),
                          NULL, G_DBUS_CALL_FLAGS_NO_AUTO_START, 10000, self->cancellable,
                          NULL, NULL);
}

void
bursar_notifier_attention_changed (BursarNotifier *self,
                                   BursarAccount  *account)
{
  gboolean attention = FALSE;
  gpointer value;
  gboolean shown = g_hash_table_lookup_extended (self->notified, account, NULL, &value);

  g_object_get (account, "attention-needed", &attention, NULL);

  if (attention && !shown)
    {
      g_hash_table_insert (self->notified, g_object_ref (account), GUINT_TO_POINTER (0));
      send_notification (self, account);
    }
  else if (!attention && shown)
    {
      if (GPOINTER_TO_UINT (value) != 0)
        close_notification (self, GPOINTER_TO_UINT (value));
      g_hash_table_remove (self->notified, account);
    }
}

void
bursar_notifier_watch (BursarNotifier *self,
                       BursarAccount  *account)
{
  gboolean attention = FALSE;

  /* An account already in need at start-up was notified before: the user
   * knows, and a login session should not start with old news. */
  g_object_get (account, "attention-needed", &attention, NULL);
  if (attention)
    g_hash_table_insert (self->notified, g_object_ref (account), GUINT_TO_POINTER (0));
}

void
bursar_notifier_unwatch (BursarNotifier *self,
                         BursarAccount  *account)
{
  gpointer value;

  if (g_hash_table_lookup_extended (self->notified, account, NULL, &value))
    {
      if (GPOINTER_TO_UINT (value) != 0)
        close_notification (self, GPOINTER_TO_UINT (value));
      g_hash_table_remove (self->notified, account);
    }
}
