/* bursarctl-authorize.c
 *
 * Starts the daemon's browser flow and waits for its outcome. The outcome
 * arrives as the account's State property changing (PropertiesChanged),
 * because the daemon finishes the flow in its own loopback listener; with
 * --no-browser the user may instead paste the redirect address here, which
 * goes to CompleteAuthorization.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include <gio/gunixinputstream.h>
#include <glib/gi18n.h>

#include "bursarctl-authorize.h"
#include "bursarctl-common.h"

typedef struct
{
  GMainLoop *loop;            /* (owned) */
  GCancellable *cancellable;  /* (owned) */
  BursarDBusAccount *account; /* (owned) */
  GDataInputStream *input;    /* (owned) (nullable) */
  char *account_id;           /* (owned) */
  guint timeout_id;
  /* The reply to Authorize can overtake the PropertiesChanged that moves
   * the account to `authorizing`, so a state other than `ready` only ends
   * the wait once `authorizing` has been seen (or LastError was set). */
  gboolean seen_authorizing;
  /* A pasted URL is being completed: its reply, not a State change, says
   * how the flow ended. */
  gboolean completing;
  gboolean done;
  int exit_code;
} WaitData;

static void
wait_data_clear (gpointer user_data)
{
  WaitData *data = user_data;

  g_clear_pointer (&data->loop, g_main_loop_unref);
  g_clear_object (&data->cancellable);
  g_clear_object (&data->account);
  g_clear_object (&data->input);
  g_clear_pointer (&data->account_id, g_free);
}

static WaitData *
wait_data_ref (WaitData *data)
{
  return g_rc_box_acquire (data);
}

static void
wait_data_unref (WaitData *data)
{
  g_rc_box_release_full (data, wait_data_clear);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WaitData, wait_data_unref)

static void
wait_finish (WaitData *data,
             int       exit_code)
{
  if (data->done)
    return;

  data->done = TRUE;
  data->exit_code = exit_code;
  g_cancellable_cancel (data->cancellable);
  g_main_loop_quit (data->loop);
}

static void
wait_succeed (WaitData *data)
{
  g_printerr (_("Account %s is ready.\n"), data->account_id);
  wait_finish (data, BURSARCTL_EXIT_OK);
}

static void
wait_fail_from_last_error (WaitData *data)
{
  const char *last_error = bursar_dbus_account_get_last_error (data->account);

  if (last_error == NULL || *last_error == '\0')
    bursarctl_print_message (_("The authorization of account %s did not complete."),
                             data->account_id);
  else
    bursarctl_print_message ("%s", last_error);

  wait_finish (data, BURSARCTL_EXIT_NEEDS_AUTHORIZATION);
}

static void
on_properties_changed (GDBusProxy *proxy,
                       GVariant   *changed,
                       GStrv       invalidated,
                       gpointer    user_data)
{
  WaitData *data = user_data;
  const char *state = NULL;
  const char *last_error = NULL;
  gboolean has_state;
  gboolean has_error;

  if (data->done)
    return;

  has_state = g_variant_lookup (changed, "State", "&s", &state);
  has_error = (g_variant_lookup (changed, "LastError", "&s", &last_error) &&
               *last_error != '\0');

  /* Only a change to `ready` counts: when re-authorizing a ready account
   * the cached State still says `ready` until the daemon's first update. */
  if (has_state && g_str_equal (state, "ready"))
    {
      wait_succeed (data);
      return;
    }
  if (has_state && g_str_equal (state, "authorizing"))
    {
      data->seen_authorizing = TRUE;
      return;
    }
  if (!has_state && !has_error)
    return;
  if (data->completing)
    return;

  if (!has_state)
    state = bursar_dbus_account_get_state (data->account);
  if (g_strcmp0 (state, "authorizing") == 0 || g_strcmp0 (state, "ready") == 0)
    return;

  if (data->seen_authorizing || has_error)
    wait_fail_from_last_error (data);
}

static void
on_object_removed (GDBusObjectManager *manager,
                   GDBusObject        *object,
                   gpointer            user_data)
{
  WaitData *data = user_data;

  if (data->done)
    return;

  if (g_strcmp0 (g_dbus_object_get_object_path (object),
                 g_dbus_proxy_get_object_path (G_DBUS_PROXY (data->account))) == 0)
    {
      bursarctl_print_message (_("Account %s was removed while waiting for its authorization."),
                               data->account_id);
      wait_finish (data, BURSARCTL_EXIT_UNKNOWN);
    }
}

static void
on_name_owner_changed (GObject    *object,
                       GParamSpec *pspec,
                       gpointer    user_data)
{
  WaitData *data = user_data;
  g_autofree char *owner = NULL;

  if (data->done)
    return;

  owner = g_dbus_object_manager_client_get_name_owner (G_DBUS_OBJECT_MANAGER_CLIENT (object));
  if (owner == NULL)
    {
      bursarctl_print_message (_("The Bursar daemon stopped while waiting for the authorization."));
      wait_finish (data, BURSARCTL_EXIT_NO_DAEMON);
    }
}

static gboolean
on_timeout (gpointer user_data)
{
  WaitData *data = user_data;

  data->timeout_id = 0;
  bursarctl_print_message (_("No authorization arrived within %u minutes; run “bursarctl authorize %s” to try again."),
                           (guint) (BURSARCTL_AUTHORIZE_WAIT_SECONDS / 60), data->account_id);
  wait_finish (data, BURSARCTL_EXIT_NEEDS_AUTHORIZATION);

  return G_SOURCE_REMOVE;
}

static void read_next_line (WaitData *data);

static void
on_complete_authorization (GObject      *source,
                           GAsyncResult *result,
                           gpointer      user_data)
{
  g_autoptr(WaitData) data = user_data;
  g_autoptr(GError) error = NULL;
  BursarctlExit code;

  if (bursar_dbus_account_call_complete_authorization_finish (BURSAR_DBUS_ACCOUNT (source),
                                                              result, &error))
    {
      if (!data->done)
        wait_succeed (data);
      return;
    }
  if (data->done)
    return;

  data->completing = FALSE;
  code = bursarctl_exit_for_error (error);

  /* A mistyped or truncated paste is rejected without ending the flow;
   * let the user try again while the listener still waits. */
  if (code == BURSARCTL_EXIT_INVALID_ARGUMENT &&
      g_strcmp0 (bursar_dbus_account_get_state (data->account), "authorizing") == 0)
    {
      bursarctl_report_error (error);
      g_printerr (_("Paste the address again, or press Ctrl+C to stop:\n"));
      read_next_line (data);
      return;
    }

  bursarctl_report_error_as (code, error);
  wait_finish (data, code);
}

static void
on_line_read (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(WaitData) data = user_data;
  g_autoptr(GError) error = NULL;
  g_auto(BursarctlSecret) line = NULL;

  /* The line holds a one-time code: keep it only as long as the call
   * needs it, and never print it. */
  line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source),
                                                    result, NULL, &error);
  if (data->done)
    return;

  if (error != NULL)
    {
      /* The browser flow can still finish through the listener. */
      bursarctl_print_message (_("Cannot read standard input: %s"), error->message);
      return;
    }
  if (line == NULL)
    return; /* end of input: keep waiting for the listener */

  g_strstrip (line);
  if (*line == '\0')
    {
      read_next_line (data);
      return;
    }

  data->completing = TRUE;
  bursar_dbus_account_call_complete_authorization (data->account, line,
                                                   data->cancellable,
                                                   on_complete_authorization,
                                                   wait_data_ref (data));
}

static void
read_next_line (WaitData *data)
{
  g_data_input_stream_read_line_async (data->input, G_PRIORITY_DEFAULT,
                                       data->cancellable, on_line_read,
                                       wait_data_ref (data));
}

/* The redirect URI is a parameter of the authorization URL; showing it
 * tells the user which address to copy back. */
static char *
redirect_uri_of (const char *url)
{
  g_autoptr(GUri) uri = g_uri_parse (url, G_URI_FLAGS_ENCODED_QUERY, NULL);
  g_autoptr(GHashTable) params = NULL;
  const char *query;

  if (uri == NULL)
    return NULL;
  query = g_uri_get_query (uri);
  if (query == NULL)
    return NULL;

  params = g_uri_parse_params (query, -1, "&", G_URI_PARAMS_NONE, NULL);
  if (params == NULL)
    return NULL;

  return g_strdup (g_hash_table_lookup (params, "redirect_uri"));
}

static const char *
account_id_of (BursarDBusAccount *account)
{
  const char *id = bursar_dbus_account_get_id (account);
  const char *path;

  if (id != NULL && *id != '\0')
    return id;

  path = g_dbus_proxy_get_object_path (G_DBUS_PROXY (account));
  return strrchr (path, '/') + 1;
}

static int
wait_for_authorization (GDBusObjectManager *manager,
                        BursarDBusAccount  *account,
                        gboolean            read_stdin)
{
  g_autoptr(WaitData) data = g_rc_box_new0 (WaitData);
  gulong properties_id, removed_id, owner_id = 0;

  data->loop = g_main_loop_new (NULL, FALSE);
  data->cancellable = g_cancellable_new ();
  data->account = g_object_ref (account);
  data->account_id = g_strdup (account_id_of (account));
  data->exit_code = BURSARCTL_EXIT_FAILURE;
  data->seen_authorizing = (g_strcmp0 (bursar_dbus_account_get_state (account),
                                       "authorizing") == 0);

  properties_id = g_signal_connect (account, "g-properties-changed",
                                    G_CALLBACK (on_properties_changed), data);
  removed_id = g_signal_connect (manager, "object-removed",
                                 G_CALLBACK (on_object_removed), data);
  if (G_IS_DBUS_OBJECT_MANAGER_CLIENT (manager))
    owner_id = g_signal_connect (manager, "notify::name-owner",
                                 G_CALLBACK (on_name_owner_changed), data);
  data->timeout_id = g_timeout_add_seconds (BURSARCTL_AUTHORIZE_WAIT_SECONDS,
                                            on_timeout, data);

  if (read_stdin)
    {
      g_autoptr(GInputStream) stdin_stream = g_unix_input_stream_new (STDIN_FILENO,
                                                                      FALSE /* close fd */);

      data->input = g_data_input_stream_new (stdin_stream);
      g_data_input_stream_set_newline_type (data->input, G_DATA_STREAM_NEWLINE_TYPE_ANY);
      read_next_line (data);
    }

  g_main_loop_run (data->loop);

  g_signal_handler_disconnect (account, properties_id);
  g_signal_handler_disconnect (manager, removed_id);
  if (owner_id != 0)
    g_signal_handler_disconnect (manager, owner_id);
  g_clear_handle_id (&data->timeout_id, g_source_remove);
  g_cancellable_cancel (data->cancellable);

  return data->exit_code;
}

/* Calls Authorize on @account, tells the user where to sign in and, when
 * @wait, waits until the account is ready, the flow fails, or
 * BURSARCTL_AUTHORIZE_WAIT_SECONDS pass. Returns a BursarctlExit code;
 * every failure has been reported on stderr. */
int
bursarctl_authorize_run (GDBusObjectManager *manager,
                         BursarDBusAccount  *account,
                         gboolean            open_browser,
                         gboolean            wait)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *url = NULL;
  g_autofree char *redirect_uri = NULL;
  g_autoptr(GVariantDict) options = g_variant_dict_new (NULL);
  const char *id = account_id_of (account);

  g_return_val_if_fail (G_IS_DBUS_OBJECT_MANAGER (manager), BURSARCTL_EXIT_FAILURE);
  g_return_val_if_fail (BURSAR_DBUS_IS_ACCOUNT (account), BURSARCTL_EXIT_FAILURE);

  g_variant_dict_insert (options, "open_browser", "b", open_browser);
  if (!bursar_dbus_account_call_authorize_sync (account,
                                                g_variant_dict_end (options),
                                                &url,
                                                NULL, /* cancellable */
                                                &error))
    return bursarctl_report_error (error);

  /* Instructions go to stderr: stdout of `add` carries only the id. */
  if (open_browser)
    {
      g_printerr (_("Opening your browser to authorize account %s…\n"
                    "If it does not open, visit:\n"
                    "  %s\n"),
                  id, url);
    }
  else
    {
      redirect_uri = redirect_uri_of (url);
      g_printerr (_("Open this URL in a browser:\n  %s\n"), url);
      if (!wait)
        g_printerr (_("Then run “bursarctl complete %s -” and paste the address your browser was sent to.\n"),
                    id);
      else if (redirect_uri != NULL)
        g_printerr (_("Then paste the address your browser was sent to (it starts with %s) and press Enter:\n"),
                    redirect_uri);
      else
        g_printerr (_("Then paste the address your browser was sent to (it starts with the redirect URI) and press Enter:\n"));
    }

  if (!wait)
    return BURSARCTL_EXIT_OK;

  if (open_browser)
    g_printerr (_("Waiting for the authorization to finish (Ctrl+C to stop)…\n"));

  return wait_for_authorization (manager, account, !open_browser);
}
