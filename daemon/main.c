/* main.c: bursard, the Bursar daemon.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib-unix.h>
#include <glib/gi18n-lib.h>
#include <locale.h>
#include <stdlib.h>
#include <sys/prctl.h>

#include "bursar-daemon.h"

/* How long shut-down waits for accounts.conf to be written. */
#define SHUTDOWN_FLUSH_SECONDS 5

typedef struct
{
  GMainLoop *loop;
  BursarDaemon *daemon;
  gboolean name_acquired;
  int exit_status;
} Context;

static void
on_name_acquired (GDBusConnection *connection,
                  const char      *name,
                  gpointer         user_data)
{
  Context *context = user_data;

  context->name_acquired = TRUE;
  g_debug ("Owning %s", name);
}

static void
on_name_lost (GDBusConnection *connection,
              const char      *name,
              gpointer         user_data)
{
  Context *context = user_data;

  if (!context->name_acquired)
    {
      g_printerr ("bursard: %s\n", _("Another Bursar daemon is already running; use --replace to replace it."));
      context->exit_status = EXIT_FAILURE;
    }
  else
    g_message ("Lost the bus name %s; exiting", name);
  g_main_loop_quit (context->loop);
}

static gboolean
on_signal (gpointer user_data)
{
  Context *context = user_data;

  g_debug ("Terminating on signal");
  g_main_loop_quit (context->loop);
  return G_SOURCE_REMOVE;
}

static gboolean
on_flush_timeout (gpointer user_data)
{
  g_message ("accounts.conf is still being written; exiting anyway");
  g_main_loop_quit (user_data);
  return G_SOURCE_REMOVE;
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GOptionContext) option_context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusConnection) connection = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  g_autoptr(BursarDaemon) daemon = NULL;
  gboolean replace = FALSE;
  gboolean verbose = FALSE;
  gboolean version = FALSE;
  Context context = { 0 };
  guint owner_id;
  const GOptionEntry entries[] = {
    { "replace", 'r', 0, G_OPTION_ARG_NONE, &replace, N_("Replace a running daemon"), NULL },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, N_("Log what the daemon does (never secrets)"), NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, N_("Print the version and exit"), NULL },
    { NULL }
  };

  /* No core dumps of a process that holds tokens (as libsecret does for
   * its own memory, and the unit's LimitCORE=0). */
  prctl (PR_SET_DUMPABLE, 0, 0, 0, 0);

  setlocale (LC_ALL, "");
  /* BURSAR_LOCALEDIR lets an uninstalled build (the test suite, the demo)
   * find the catalogues it just compiled. */
  bindtextdomain (GETTEXT_PACKAGE, g_getenv ("BURSAR_LOCALEDIR") != NULL
                                   ? g_getenv ("BURSAR_LOCALEDIR") : LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  option_context = g_option_context_new (NULL);
  g_option_context_set_summary (option_context,
                                _("Keeps the user's OAuth accounts and hands out access tokens on the session bus."));
  g_option_context_add_main_entries (option_context, entries, GETTEXT_PACKAGE);
  if (!g_option_context_parse (option_context, &argc, &argv, &error))
    {
      g_printerr ("bursard: %s\n", error->message);
      return 2;
    }
  if (version)
    {
      g_print ("bursard %s\n", PACKAGE_VERSION);
      return EXIT_SUCCESS;
    }
  if (verbose)
    g_log_set_debug_enabled (TRUE);

  connection = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &error);
  if (connection == NULL)
    {
      g_printerr ("bursard: %s: %s\n", _("Cannot connect to the session bus"), error->message);
      return EXIT_FAILURE;
    }
  /* Exit on our own terms when the bus goes away. */
  g_dbus_connection_set_exit_on_close (connection, FALSE);

  loop = g_main_loop_new (NULL, FALSE);
  context.loop = loop;
  context.exit_status = EXIT_SUCCESS;

  daemon = bursar_daemon_new (connection);
  if (!bursar_daemon_start (daemon, &error))
    {
      g_printerr ("bursard: %s\n", error->message);
      return EXIT_FAILURE;
    }
  context.daemon = daemon;

  g_signal_connect_swapped (connection, "closed", G_CALLBACK (g_main_loop_quit), loop);
  g_unix_signal_add (SIGTERM, on_signal, &context);
  g_unix_signal_add (SIGINT, on_signal, &context);
  g_unix_signal_add (SIGHUP, on_signal, &context);

  /* Only now, with every object exported, may callers find us. */
  owner_id = g_bus_own_name_on_connection (connection, "org.bursar.Bursar1",
                                           G_BUS_NAME_OWNER_FLAGS_ALLOW_REPLACEMENT |
                                           G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE |
                                           (replace ? G_BUS_NAME_OWNER_FLAGS_REPLACE : 0),
                                           on_name_acquired, on_name_lost, &context, NULL);

  g_main_loop_run (loop);
  g_bus_unown_name (owner_id);

  /* Let a pending accounts.conf write land before exiting. */
  if (bursar_daemon_is_busy (daemon))
    {
      g_autoptr(GMainLoop) flush = g_main_loop_new (NULL, FALSE);
      g_autoptr(GSource) timeout = g_timeout_source_new_seconds (SHUTDOWN_FLUSH_SECONDS);

      g_debug ("Waiting for accounts.conf to be written");
      g_source_set_callback (timeout, on_flush_timeout, flush, NULL);
      g_source_attach (timeout, NULL);
      g_signal_connect_swapped (daemon, "idle", G_CALLBACK (g_main_loop_quit), flush);
      g_main_loop_run (flush);
      g_source_destroy (timeout);
    }

  g_clear_object (&daemon);
  g_dbus_connection_flush_sync (connection, NULL, NULL);
  return context.exit_status;
}
