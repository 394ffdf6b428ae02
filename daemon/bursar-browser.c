/* bursar-browser.c
 *
 * bursard runs in a hardened systemd unit (MemoryDenyWriteExecute=,
 * RestrictNamespaces=, a read-only home, …). A browser started as our
 * child inherits all of it: JIT engines fail, the browser's own sandbox
 * cannot make namespaces, its profile cannot be written. The desktop
 * portal's OpenURI starts the handler from outside our unit, so it is
 * tried first; without a portal on the bus (a bare session, the test
 * bus) the browser is launched directly, as before.
 *
 * URLs carry state, nonce and code challenge: they are never logged.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include "bursar-browser.h"

#define PORTAL_BUS_NAME "org.freedesktop.portal.Desktop"
#define PORTAL_OBJECT_PATH "/org/freedesktop/portal/desktop"
#define PORTAL_OPEN_URI_IFACE "org.freedesktop.portal.OpenURI"
/* The portal may have to be activated first. */
#define PORTAL_TIMEOUT_MS 30000

static void
launched_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  g_autoptr(GError) error = NULL;

  if (!g_app_info_launch_default_for_uri_finish (result, &error))
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_boolean (task, TRUE);
}

static void
launch_directly (GTask *task)
{
  const char *uri = g_task_get_task_data (task);

  g_app_info_launch_default_for_uri_async (uri,
                                           NULL, /* launch context */
                                           g_task_get_cancellable (task),
                                           launched_cb, task);
}

/* The errors that mean "no portal here", as opposed to a portal that
 * refused or failed. */
static gboolean
error_is_no_portal (const GError *error)
{
  return g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN) ||
         g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER) ||
         g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD) ||
         g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_OBJECT) ||
         g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_INTERFACE);
}

static void
portal_open_uri_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;

  reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  if (reply == NULL && error_is_no_portal (error))
    {
      g_debug ("No desktop portal (%s); launching the web browser directly", error->message);
      launch_directly (g_steal_pointer (&task));
      return;
    }
  if (reply == NULL)
    {
      g_dbus_error_strip_remote_error (error);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  /* The reply is the handle of a portal Request; its Response says only
   * whether the user picked a handler, which changes nothing here: the
   * caller has the URL either way. The Request object is the portal's to
   * drop once it has answered. */
  g_debug ("Web browser opened through the desktop portal");
  g_task_return_boolean (task, TRUE);
}

static void
bus_got_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  g_autoptr(GDBusConnection) bus = NULL;
  g_autoptr(GError) error = NULL;
  const char *uri = g_task_get_task_data (task);
  GCancellable *cancellable = g_task_get_cancellable (task);

  bus = g_bus_get_finish (result, &error);
  if (bus == NULL)
    {
      g_debug ("No session bus (%s); launching the web browser directly", error->message);
      launch_directly (g_steal_pointer (&task));
      return;
    }

  g_dbus_connection_call (bus, PORTAL_BUS_NAME, PORTAL_OBJECT_PATH,
                          PORTAL_OPEN_URI_IFACE, "OpenURI",
                          g_variant_new ("(ssa{sv})",
                                         "", /* parent window */
                                         uri,
                                         NULL /* options */),
                          G_VARIANT_TYPE ("(o)"),
                          G_DBUS_CALL_FLAGS_NONE, PORTAL_TIMEOUT_MS,
                          cancellable, portal_open_uri_cb, g_steal_pointer (&task));
}

void
bursar_browser_open_async (const char          *uri,
                           GCancellable        *cancellable,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (uri != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, bursar_browser_open_async);
  g_task_set_task_data (task, g_strdup (uri), g_free);
  g_bus_get (G_BUS_TYPE_SESSION, cancellable, bus_got_cb, g_steal_pointer (&task));
}

gboolean
bursar_browser_open_finish (GAsyncResult  *result,
                            GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == bursar_browser_open_async, FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}
