/* bursarctl.c: the command-line client of bursard.
 *
 * Every command talks to the daemon over the session bus only, through the
 * gdbus-codegen proxies of org.bursar.Bursar1; `token` first tries one
 * plain call, which is quicker (see call_account()). Standard output carries
 * data (ids, tables, JSON, tokens) and nothing else; messages and errors go
 * to standard error, so `$(bursarctl token work)` is just the token.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <locale.h>
#include <stdio.h>
#include <string.h>

#include <glib/gi18n.h>

#include "bursar-error.h"
#include "bursar-generated.h"
#include "bursarctl-authorize.h"
#include "bursarctl-common.h"

/* bursard owns its name only once start-up (keyring included) is done,
 * which can take longer than D-Bus' default 25 s on a cold session. */
#define ACTIVATION_TIMEOUT_MS (60 * 1000)

static const char *
exit_status_help (void)
{
  return _("Exit status:\n"
           "  0   success\n"
           "  1   other failure\n"
           "  2   usage error\n"
           "  3   unknown account or provider\n"
           "  4   the account needs authorization, or the authorization failed\n"
           "  5   network failure\n"
           "  6   the provider refused the request\n"
           "  7   the keyring is locked or unavailable\n"
           "  8   access denied\n"
           "  9   invalid argument\n"
           "  10  the Bursar daemon is not running and could not be started");
}

/* Parses the options of one command. @argv[0] is the command name. The
 * positional arguments end up in @out_args, which holds between
 * @min_args and @max_args of them. Returns FALSE after reporting a usage
 * error. */
static gboolean
parse_command (const char          *command,
               const char          *parameters,
               const char          *summary,
               const GOptionEntry  *entries,
               int                  argc,
               char               **argv,
               guint                min_args,
               guint                max_args,
               GStrv               *out_args)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *parameter_string = NULL;
  g_auto(GStrv) remaining = NULL;
  g_auto(GStrv) strv = NULL;
  guint n_args;
  const GOptionEntry remaining_entries[] = {
    { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &remaining, NULL, NULL },
    G_OPTION_ENTRY_NULL
  };

  if (parameters != NULL)
    parameter_string = g_strdup_printf ("%s %s", command, parameters);
  else
    parameter_string = g_strdup (command);

  context = g_option_context_new (parameter_string);
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  g_option_context_set_summary (context, summary);
  g_option_context_set_description (context, exit_status_help ());
  if (entries != NULL)
    g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  g_option_context_add_main_entries (context, remaining_entries, GETTEXT_PACKAGE);

  /* GOption wants the program name first; the command name is not an
   * argument of the command. */
  strv = g_new0 (char *, (gsize) argc + 1);
  strv[0] = g_strdup (g_get_prgname ());
  for (int i = 1; i < argc; i++)
    strv[i] = g_strdup (argv[i]);

  if (!g_option_context_parse_strv (context, &strv, &error))
    {
      bursarctl_print_message (_("%s (see “bursarctl %s --help”)"), error->message, command);
      return FALSE;
    }

  n_args = (remaining != NULL) ? g_strv_length (remaining) : 0;
  if (n_args < min_args)
    {
      bursarctl_print_message (_("Missing argument; usage: bursarctl %s"), parameter_string);
      return FALSE;
    }
  if (n_args > max_args)
    {
      bursarctl_print_message (_("Too many arguments; usage: bursarctl %s"), parameter_string);
      return FALSE;
    }

  *out_args = (remaining != NULL) ? g_steal_pointer (&remaining) : g_new0 (char *, 1);
  return TRUE;
}

/* Connects to the session bus; GDBus keeps the connection, so a second
 * call hands out the same one. */
static GDBusConnection *
connect_to_bus (int *out_exit)
{
  g_autoptr(GError) error = NULL;
  GDBusConnection *connection;

  connection = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL /* cancellable */, &error);
  if (connection == NULL)
    {
      bursarctl_print_message (_("Cannot connect to the session bus: %s"), error->message);
      *out_exit = BURSARCTL_EXIT_NO_DAEMON;
      return NULL;
    }
  /* Report a lost bus as an error instead of being killed by SIGTERM. */
  g_dbus_connection_set_exit_on_close (connection, FALSE);

  return connection;
}

/* Connects to the session bus and makes sure bursard runs, starting it by
 * D-Bus activation when needed. Doing this once up front turns a missing
 * daemon into one clear message and exit status 10, whichever command
 * would have noticed first. */
static gboolean
connect_to_daemon (GDBusConnection **out_connection,
                   int              *out_exit)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusConnection) connection = NULL;
  g_autoptr(GVariant) reply = NULL;
  gboolean has_owner = FALSE;

  connection = connect_to_bus (out_exit);
  if (connection == NULL)
    return FALSE;

  /* dbus-daemon answers StartServiceByName with ServiceUnknown for a name
   * that is owned but has no .service file (a bursard started by hand, as
   * in the tests), so ask whether it runs first. */
  reply = g_dbus_connection_call_sync (connection,
                                       "org.freedesktop.DBus",
                                       "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus",
                                       "NameHasOwner",
                                       g_variant_new ("(s)", BURSARCTL_BUS_NAME),
                                       G_VARIANT_TYPE ("(b)"),
                                       G_DBUS_CALL_FLAGS_NONE,
                                       -1, /* default timeout */
                                       NULL, /* cancellable */
                                       &error);
  if (reply == NULL)
    {
      g_dbus_error_strip_remote_error (error);
      bursarctl_print_message (_("Cannot talk to the session bus: %s"), error->message);
      *out_exit = BURSARCTL_EXIT_NO_DAEMON;
      return FALSE;
    }
  g_variant_get (reply, "(b)", &has_owner);
  if (has_owner)
    {
      *out_connection = g_steal_pointer (&connection);
      return TRUE;
    }
  g_clear_pointer (&reply, g_variant_unref);

  reply = g_dbus_connection_call_sync (connection,
                                       "org.freedesktop.DBus",
                                       "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus",
                                       "StartServiceByName",
                                       g_variant_new ("(su)", BURSARCTL_BUS_NAME, 0),
                                       G_VARIANT_TYPE ("(u)"),
                                       G_DBUS_CALL_FLAGS_NONE,
                                       ACTIVATION_TIMEOUT_MS,
                                       NULL, /* cancellable */
                                       &error);
  if (reply == NULL)
    {
      g_dbus_error_strip_remote_error (error);
      bursarctl_print_message (_("The Bursar daemon is not running and could not be started: %s"),
                               error->message);
      *out_exit = BURSARCTL_EXIT_NO_DAEMON;
      return FALSE;
    }

  *out_connection = g_steal_pointer (&connection);
  return TRUE;
}

static BursarDBusManager *
get_manager (GDBusConnection  *connection,
             int              *out_exit)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(BursarDBusManager) manager = NULL;

  manager = bursar_dbus_manager_proxy_new_sync (connection,
                                                G_DBUS_PROXY_FLAGS_NONE,
                                                BURSARCTL_BUS_NAME,
                                                BURSARCTL_MANAGER_PATH,
                                                NULL, /* cancellable */
                                                &error);
  if (manager == NULL)
    {
      *out_exit = bursarctl_report_error (error);
      return NULL;
    }
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (manager), BURSARCTL_CALL_TIMEOUT_MS);

  return g_steal_pointer (&manager);
}

static GDBusObjectManager *
get_objects (GDBusConnection *connection,
             int             *out_exit)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusObjectManager) objects = NULL;
  g_autofree char *owner = NULL;

  objects = bursar_dbus_object_manager_client_new_sync (connection,
                                                        G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_DO_NOT_AUTO_START,
                                                        BURSARCTL_BUS_NAME,
                                                        BURSARCTL_MANAGER_PATH,
                                                        NULL, /* cancellable */
                                                        &error);
  if (objects == NULL)
    {
      *out_exit = bursarctl_report_error (error);
      return NULL;
    }

  /* The client does not fail when nobody owns the name; it just shows no
   * objects, which would read as "no accounts". */
  owner = g_dbus_object_manager_client_get_name_owner (G_DBUS_OBJECT_MANAGER_CLIENT (objects));
  if (owner == NULL)
    {
      bursarctl_print_message (_("The Bursar daemon is not running."));
      *out_exit = BURSARCTL_EXIT_NO_DAEMON;
      return NULL;
    }

  return g_steal_pointer (&objects);
}

static int
compare_accounts (gconstpointer a,
                  gconstpointer b)
{
  BursarDBusAccount *account_a = *(BursarDBusAccount * const *) a;
  BursarDBusAccount *account_b = *(BursarDBusAccount * const *) b;

  return g_strcmp0 (bursar_dbus_account_get_id (account_a),
                    bursar_dbus_account_get_id (account_b));
}

/* All accounts, sorted by id so the output is stable. */
static GPtrArray *
list_accounts (GDBusObjectManager *objects)
{
  g_autoptr(GPtrArray) accounts = g_ptr_array_new_with_free_func (g_object_unref);
  GList *list = g_dbus_object_manager_get_objects (objects);

  for (GList *l = list; l != NULL; l = l->next)
    {
      BursarDBusAccount *account = bursar_dbus_object_get_account (BURSAR_DBUS_OBJECT (l->data));

      if (account == NULL)
        continue;
      g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (account), BURSARCTL_CALL_TIMEOUT_MS);
      g_ptr_array_add (accounts, account);
    }
  g_list_free_full (list, g_object_unref);

  g_ptr_array_sort (accounts, compare_accounts);
  return g_steal_pointer (&accounts);
}

/* Finds the account whose Id is @name or, when no id matches, whose
 * Label is @name and is the only one with that label. */
static BursarDBusAccount *
resolve_account (GDBusObjectManager *objects,
                 const char         *name,
                 int                *out_exit)
{
  g_autoptr(GPtrArray) accounts = list_accounts (objects);
  BursarDBusAccount *by_label = NULL;
  guint n_by_label = 0;

  for (guint i = 0; i < accounts->len; i++)
    {
      BursarDBusAccount *account = g_ptr_array_index (accounts, i);

      if (g_strcmp0 (bursar_dbus_account_get_id (account), name) == 0)
        return g_object_ref (account);
      if (g_strcmp0 (bursar_dbus_account_get_label (account), name) == 0)
        {
          by_label = account;
          n_by_label++;
        }
    }

  if (n_by_label == 1)
    return g_object_ref (by_label);

  if (n_by_label > 1)
    bursarctl_print_message (_("Several accounts are labelled “%s”; use the account id instead."),
                             name);
  else
    bursarctl_print_message (_("No account has the id or label “%s”; “bursarctl list” shows them."),
                             name);
  *out_exit = BURSARCTL_EXIT_UNKNOWN;
  return NULL;
}

/* Whether @name has the form of an account id, which is also the last
 * element of the account's object path. A loop rather than a GRegex,
 * whose compilation alone costs more than the whole check. */
static gboolean
is_account_id (const char *name)
{
  if (*name == '\0')
    return FALSE;
  for (const char *p = name; *p != '\0'; p++)
    {
      if (!g_ascii_isalnum (*p) && *p != '_')
        return FALSE;
    }
  return TRUE;
}

/* Connects and resolves @name: the common start of the account commands. */
static BursarDBusAccount *
open_account (const char          *name,
              GDBusObjectManager **out_objects,
              int                 *out_exit)
{
  g_autoptr(GDBusConnection) connection = NULL;
  g_autoptr(GDBusObjectManager) objects = NULL;
  BursarDBusAccount *account;

  if (!connect_to_daemon (&connection, out_exit))
    return NULL;

  /* An account id names its object: one proxy, no listing of every
   * account. Labels, and ids that do not exist, go through the object
   * manager below. */
  if (out_objects == NULL && is_account_id (name))
    {
      g_autofree char *path = g_strconcat (BURSARCTL_ACCOUNTS_PATH "/", name, NULL);
      g_autoptr(BursarDBusAccount) direct = NULL;
      g_auto(GStrv) cached = NULL;

      direct = bursar_dbus_account_proxy_new_sync (connection, G_DBUS_PROXY_FLAGS_NONE,
                                                   BURSARCTL_BUS_NAME, path,
                                                   NULL /* cancellable */, NULL);
      if (direct != NULL)
        cached = g_dbus_proxy_get_cached_property_names (G_DBUS_PROXY (direct));
      if (cached != NULL && cached[0] != NULL)
        {
          g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (direct), BURSARCTL_CALL_TIMEOUT_MS);
          return g_steal_pointer (&direct);
        }
    }

  objects = get_objects (connection, out_exit);
  if (objects == NULL)
    return NULL;
  account = resolve_account (objects, name, out_exit);
  if (account == NULL)
    return NULL;

  if (out_objects != NULL)
    *out_objects = g_steal_pointer (&objects);
  return account;
}

/* Whether the direct call of call_account() failed only because it cut a
 * corner that open_account() does not: the daemon does not run (the call
 * does not start it), or no object has that path (the name may be a
 * label). A bus policy refusal also goes the long way, which has always
 * had its own answer to it. Anything else is the answer to the call. */
static gboolean
is_direct_call_miss (const GError *error)
{
  return g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN) ||
         g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER) ||
         g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_OBJECT) ||
         g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_INTERFACE) ||
         g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD) ||
         g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED);
}

/* Calls @method of the account interface on account @name and returns
 * the reply, or NULL after reporting the error, with the exit status in
 * @out_exit. @parameters may be floating.
 *
 * An account id names its object, so the call first goes straight there:
 * besides the bus handshake, that is the only round trip, where
 * open_account() makes half a dozen (NameHasOwner, the proxy's match
 * rules, name owner and properties) before the call itself. This is what
 * keeps `bursarctl token ID` quick. When it misses, the long way through
 * open_account() starts the daemon or resolves a label, and the call is
 * made again; it never reached an account the first time. */
static GVariant *
call_account (const char         *name,
              const char         *method,
              GVariant           *parameters,
              const GVariantType *reply_type,
              int                *out_exit)
{
  g_autoptr(GVariant) owned_parameters = NULL;
  g_autoptr(GDBusConnection) connection = NULL;
  g_autoptr(BursarDBusAccount) account = NULL;
  g_autoptr(GError) error = NULL;
  GVariant *reply;

  /* Sent up to twice, so keep a reference of our own. */
  if (parameters != NULL)
    owned_parameters = g_variant_ref_sink (parameters);

  if (is_account_id (name))
    {
      g_autofree char *path = g_strconcat (BURSARCTL_ACCOUNTS_PATH "/", name, NULL);

      connection = connect_to_bus (out_exit);
      if (connection == NULL)
        return NULL;

      /* No auto-start: starting the daemon is connect_to_daemon()'s job,
       * with its longer timeout and its own messages. */
      reply = g_dbus_connection_call_sync (connection, BURSARCTL_BUS_NAME, path,
                                           BURSARCTL_ACCOUNT_INTERFACE, method,
                                           owned_parameters, reply_type,
                                           G_DBUS_CALL_FLAGS_NO_AUTO_START,
                                           BURSARCTL_CALL_TIMEOUT_MS,
                                           NULL /* cancellable */, &error);
      if (reply != NULL)
        return reply;
      if (!is_direct_call_miss (error))
        {
          *out_exit = bursarctl_report_error (error);
          return NULL;
        }
      g_clear_error (&error);
    }

  account = open_account (name, NULL, out_exit);
  if (account == NULL)
    return NULL;

  /* The proxy checks the reply against the interface's out arguments. */
  reply = g_dbus_proxy_call_sync (G_DBUS_PROXY (account), method, owned_parameters,
                                  G_DBUS_CALL_FLAGS_NONE, -1 /* the proxy's timeout */,
                                  NULL /* cancellable */, &error);
  if (reply == NULL)
    {
      *out_exit = bursarctl_report_error (error);
      return NULL;
    }

  return reply;
}

static const char *
or_dash (const char *value)
{
  return (value != NULL && *value != '\0') ? value : "-";
}

static char **
table_row (guint n_columns,
           ...)
{
  char **row = g_new0 (char *, n_columns + 1);
  va_list args;

  va_start (args, n_columns);
  for (guint i = 0; i < n_columns; i++)
    row[i] = g_strdup (va_arg (args, const char *));
  va_end (args);

  return row;
}

static JsonNode *
json_strv (const char * const *strv)
{
  g_autoptr(JsonArray) array = json_array_new ();
  JsonNode *node = json_node_new (JSON_NODE_ARRAY);

  for (gsize i = 0; strv != NULL && strv[i] != NULL; i++)
    json_array_add_string_element (array, strv[i]);
  json_node_set_array (node, array);

  return node;
}

/* ---- providers ------------------------------------------------------- */

static int
compare_provider_dicts (gconstpointer a,
                        gconstpointer b)
{
  GVariant *dict_a = *(GVariant * const *) a;
  GVariant *dict_b = *(GVariant * const *) b;
  const char *id_a = NULL;
  const char *id_b = NULL;

  g_variant_lookup (dict_a, "id", "&s", &id_a);
  g_variant_lookup (dict_b, "id", "&s", &id_b);
  return g_strcmp0 (id_a, id_b);
}

static int
cmd_providers (int    argc,
               char **argv)
{
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("Print JSON"), NULL },
    G_OPTION_ENTRY_NULL
  };
  g_auto(GStrv) args = NULL;
  g_autoptr(GDBusConnection) connection = NULL;
  g_autoptr(BursarDBusManager) manager = NULL;
  g_autoptr(GVariant) providers = NULL;
  g_autoptr(GPtrArray) dicts = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);
  g_autoptr(GError) error = NULL;
  GVariantIter iter;
  GVariant *child;
  int exit_code = BURSARCTL_EXIT_FAILURE;

  if (!parse_command ("providers", NULL, _("List the providers Bursar knows."),
                      entries, argc, argv, 0, 0, &args))
    return BURSARCTL_EXIT_USAGE;
  if (!connect_to_daemon (&connection, &exit_code))
    return exit_code;
  manager = get_manager (connection, &exit_code);
  if (manager == NULL)
    return exit_code;

  if (!bursar_dbus_manager_call_list_providers_sync (manager, &providers,
                                                     NULL /* cancellable */, &error))
    return bursarctl_report_error (error);

  g_variant_iter_init (&iter, providers);
  while ((child = g_variant_iter_next_value (&iter)) != NULL)
    g_ptr_array_add (dicts, child);
  g_ptr_array_sort (dicts, compare_provider_dicts);

  if (json)
    {
      g_autoptr(JsonArray) array = json_array_new ();
      g_autoptr(JsonNode) root = json_node_new (JSON_NODE_ARRAY);

      for (guint i = 0; i < dicts->len; i++)
        {
          GVariant *dict = g_ptr_array_index (dicts, i);
          g_autoptr(JsonObject) object = json_object_new ();
          const char *id = "", *name = "";
          g_autofree const char **flows = NULL;
          g_autofree const char **environments = NULL;
          g_autofree const char **scopes = NULL;
          gboolean needs_secret = FALSE;

          g_variant_lookup (dict, "id", "&s", &id);
          g_variant_lookup (dict, "name", "&s", &name);
          g_variant_lookup (dict, "flows", "^a&s", &flows);
          g_variant_lookup (dict, "environments", "^a&s", &environments);
          g_variant_lookup (dict, "default_scopes", "^a&s", &scopes);
          g_variant_lookup (dict, "needs_client_secret", "b", &needs_secret);

          json_object_set_string_member (object, "id", id);
          json_object_set_string_member (object, "name", name);
          json_object_set_member (object, "flows", json_strv (flows));
          json_object_set_member (object, "environments", json_strv (environments));
          json_object_set_member (object, "default_scopes", json_strv (scopes));
          json_object_set_boolean_member (object, "needs_client_secret", needs_secret);
          json_array_add_object_element (array, g_steal_pointer (&object));
        }
      json_node_set_array (root, array);
      bursarctl_print_json (root);
      return BURSARCTL_EXIT_OK;
    }
  else
    {
      g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);

      g_ptr_array_add (rows, table_row (5, _("ID"), _("NAME"), _("FLOWS"),
                                        _("ENVIRONMENTS"), _("DEFAULT SCOPES")));
      for (guint i = 0; i < dicts->len; i++)
        {
          GVariant *dict = g_ptr_array_index (dicts, i);
          const char *id = "", *name = "";
          g_autofree const char **flows = NULL;
          g_autofree const char **environments = NULL;
          g_autofree const char **scopes = NULL;
          g_autofree char *flows_text = NULL;
          g_autofree char *environments_text = NULL;
          g_autofree char *scopes_text = NULL;

          g_variant_lookup (dict, "id", "&s", &id);
          g_variant_lookup (dict, "name", "&s", &name);
          g_variant_lookup (dict, "flows", "^a&s", &flows);
          g_variant_lookup (dict, "environments", "^a&s", &environments);
          g_variant_lookup (dict, "default_scopes", "^a&s", &scopes);

          flows_text = bursarctl_join_strv (flows, ",");
          environments_text = bursarctl_join_strv (environments, ",");
          scopes_text = bursarctl_join_strv (scopes, " ");
          g_ptr_array_add (rows, table_row (5, or_dash (id), or_dash (name),
                                            or_dash (flows_text),
                                            or_dash (environments_text),
                                            or_dash (scopes_text)));
        }
      bursarctl_print_table (rows, 5);
      return BURSARCTL_EXIT_OK;
    }
}

/* ---- add ------------------------------------------------------------- */

static void
insert_string_option (GVariantDict *options,
                      const char   *key,
                      const char   *value)
{
  if (value != NULL)
    g_variant_dict_insert (options, key, "s", value);
}

/* Each --scope may hold one scope or several separated by blanks, so both
 * `--scope openid --scope email` and `--scope "openid email"` work. */
static GPtrArray *
collect_scopes (char **scope_args)
{
  GPtrArray *scopes = g_ptr_array_new_with_free_func (g_free);

  for (gsize i = 0; scope_args != NULL && scope_args[i] != NULL; i++)
    {
      g_auto(GStrv) parts = g_strsplit_set (scope_args[i], " \t\n", -1);

      for (gsize j = 0; parts[j] != NULL; j++)
        {
          if (*parts[j] != '\0')
            g_ptr_array_add (scopes, g_strdup (parts[j]));
        }
    }
  g_ptr_array_add (scopes, NULL);

  return scopes;
}

static int
cmd_add (int    argc,
         char **argv)
{
  g_autofree char *environment = NULL;
  g_autofree char *flow = NULL;
  g_autofree char *client_id = NULL;
  g_autofree char *client_secret_file = NULL;
  g_auto(GStrv) scope_args = NULL;
  g_autofree char *label = NULL;
  g_autofree char *issuer = NULL;
  g_autofree char *authorization_endpoint = NULL;
  g_autofree char *token_endpoint = NULL;
  g_autofree char *redirect_uri = NULL;
  g_autofree char *base_url = NULL;
  g_autofree char *token_file = NULL;
  g_autofree char *target_org_id = NULL;
  gboolean signup = FALSE;
  gboolean no_browser = FALSE;
  gboolean no_wait = FALSE;
  const GOptionEntry entries[] = {
    { "environment", 0, 0, G_OPTION_ARG_STRING, &environment,
      N_("Provider environment or region (default: the provider’s first)"), N_("ENV") },
    { "flow", 0, 0, G_OPTION_ARG_STRING, &flow,
      N_("authorization_code, client_credentials or personal_access_token (default: the provider’s first)"), N_("FLOW") },
    { "client-id", 0, 0, G_OPTION_ARG_STRING, &client_id,
      N_("OAuth client id (default: the provider file’s)"), N_("ID") },
    { "client-secret-file", 0, 0, G_OPTION_ARG_FILENAME, &client_secret_file,
      N_("Read the client secret from FILE, or from standard input for -"), N_("FILE") },
    { "scope", 0, 0, G_OPTION_ARG_STRING_ARRAY, &scope_args,
      N_("Scope to request; repeat for several (default: the provider’s)"), N_("SCOPE") },
    { "label", 0, 0, G_OPTION_ARG_STRING, &label,
      N_("A name for the account"), N_("LABEL") },
    { "issuer", 0, 0, G_OPTION_ARG_STRING, &issuer,
      N_("OpenID Connect issuer URL (provider oidc)"), N_("URL") },
    { "authorization-endpoint", 0, 0, G_OPTION_ARG_STRING, &authorization_endpoint,
      N_("Authorization endpoint (provider oauth2)"), N_("URL") },
    { "token-endpoint", 0, 0, G_OPTION_ARG_STRING, &token_endpoint,
      N_("Token endpoint (provider oauth2)"), N_("URL") },
    { "redirect-uri", 0, 0, G_OPTION_ARG_STRING, &redirect_uri,
      N_("Fixed loopback redirect URI registered with the provider"), N_("URI") },
    { "base-url", 0, 0, G_OPTION_ARG_STRING, &base_url,
      N_("Replace scheme, host and port of the provider’s URLs (staging, self-hosted)"), N_("URL") },
    { "token-file", 0, 0, G_OPTION_ARG_FILENAME, &token_file,
      N_("Read a personal access token from FILE, or from standard input for -; implies --flow personal_access_token"), N_("FILE") },
    { "signup", 0, 0, G_OPTION_ARG_NONE, &signup,
      N_("Sign up instead of signing in, where the provider offers it"), NULL },
    { "target-org-id", 0, 0, G_OPTION_ARG_STRING, &target_org_id,
      N_("Organisation the tokens act for, where the provider needs one"), N_("ID") },
    { "no-browser", 0, 0, G_OPTION_ARG_NONE, &no_browser,
      N_("Do not open a browser; print the URL and read the redirect address from standard input"), NULL },
    { "no-wait", 0, 0, G_OPTION_ARG_NONE, &no_wait,
      N_("Return once the authorization URL is printed"), NULL },
    G_OPTION_ENTRY_NULL
  };
  g_auto(GStrv) args = NULL;
  g_autoptr(GDBusConnection) connection = NULL;
  g_autoptr(BursarDBusManager) manager = NULL;
  g_autoptr(GDBusObjectManager) objects = NULL;
  g_autoptr(BursarDBusAccount) account = NULL;
  g_autoptr(GVariantDict) options = g_variant_dict_new (NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  const char *id;
  const char *state;
  int exit_code = BURSARCTL_EXIT_FAILURE;

  if (!parse_command ("add", _("PROVIDER"), _("Add an account and authorize it."),
                      entries, argc, argv, 1, 1, &args))
    return BURSARCTL_EXIT_USAGE;

  if (client_secret_file != NULL && token_file != NULL &&
      g_str_equal (client_secret_file, "-") && g_str_equal (token_file, "-"))
    {
      bursarctl_print_message (_("Only one of --client-secret-file and --token-file can read standard input."));
      return BURSARCTL_EXIT_USAGE;
    }

  if (!connect_to_daemon (&connection, &exit_code))
    return exit_code;
  manager = get_manager (connection, &exit_code);
  if (manager == NULL)
    return exit_code;
  objects = get_objects (connection, &exit_code);
  if (objects == NULL)
    return exit_code;

  /* A token is only meaningful for that flow; saying so twice would be
   * busywork. */
  if (flow == NULL && token_file != NULL)
    flow = g_strdup ("personal_access_token");

  insert_string_option (options, "flow", flow);
  insert_string_option (options, "environment", environment);
  insert_string_option (options, "client_id", client_id);
  insert_string_option (options, "label", label);
  insert_string_option (options, "redirect_uri", redirect_uri);
  insert_string_option (options, "issuer", issuer);
  insert_string_option (options, "authorization_endpoint", authorization_endpoint);
  insert_string_option (options, "token_endpoint", token_endpoint);
  insert_string_option (options, "base_url", base_url);
  insert_string_option (options, "target_org_id", target_org_id);
  if (signup)
    g_variant_dict_insert (options, "signup", "b", TRUE);
  if (scope_args != NULL)
    {
      g_autoptr(GPtrArray) scopes = collect_scopes (scope_args);

      g_variant_dict_insert_value (options, "scopes",
                                   g_variant_new_strv ((const char * const *) scopes->pdata, -1));
    }

  /* Secrets come from a file or stdin, never argv: see SECURITY in
   * bursarctl(1). They are read only now that the daemon is known to be
   * there, so nobody types a secret for nothing. */
  if (client_secret_file != NULL)
    {
      g_auto(BursarctlSecret) secret = bursarctl_read_secret (client_secret_file,
                                                              _("Client secret:"),
                                                              FALSE /* echo */,
                                                              &error);
      if (secret == NULL)
        {
          bursarctl_print_message (_("Cannot read the client secret: %s"), error->message);
          return BURSARCTL_EXIT_USAGE;
        }
      g_variant_dict_insert (options, "client_secret", "s", secret);
    }
  if (token_file != NULL)
    {
      g_auto(BursarctlSecret) secret = bursarctl_read_secret (token_file,
                                                              _("Access token:"),
                                                              FALSE /* echo */,
                                                              &error);
      if (secret == NULL)
        {
          bursarctl_print_message (_("Cannot read the access token: %s"), error->message);
          return BURSARCTL_EXIT_USAGE;
        }
      g_variant_dict_insert (options, "token", "s", secret);
    }

  if (!bursar_dbus_manager_call_add_account_sync (manager, args[0],
                                                  g_variant_dict_end (options),
                                                  &path,
                                                  NULL, /* cancellable */
                                                  &error))
    return bursarctl_report_error (error);

  /* A proxy of our own, rather than waiting for the object manager to
   * hear of the new object: its properties are loaded right now. */
  account = bursar_dbus_account_proxy_new_sync (connection, G_DBUS_PROXY_FLAGS_NONE,
                                                BURSARCTL_BUS_NAME, path,
                                                NULL /* cancellable */, &error);
  if (account == NULL)
    return bursarctl_report_error (error);
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (account), BURSARCTL_CALL_TIMEOUT_MS);

  id = bursar_dbus_account_get_id (account);
  if (id == NULL || *id == '\0')
    id = strrchr (path, '/') + 1;
  g_print ("%s\n", id);
  fflush (stdout);

  /* Client credentials and PAT accounts come back ready; the state, not
   * the flow name, says whether a browser is still needed. */
  state = bursar_dbus_account_get_state (account);
  if (g_strcmp0 (state, "needs-authorization") == 0 ||
      g_strcmp0 (state, "needs-reauthorization") == 0)
    return bursarctl_authorize_run (objects, account, !no_browser, !no_wait);

  if (g_strcmp0 (state, "ready") == 0)
    g_printerr (_("Account %s is ready.\n"), id);
  else
    g_printerr (_("Account %s was added; its state is %s.\n"), id, or_dash (state));

  return BURSARCTL_EXIT_OK;
}

/* ---- list ------------------------------------------------------------ */

static int
cmd_list (int    argc,
          char **argv)
{
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("Print JSON"), NULL },
    G_OPTION_ENTRY_NULL
  };
  g_auto(GStrv) args = NULL;
  g_autoptr(GDBusConnection) connection = NULL;
  g_autoptr(GDBusObjectManager) objects = NULL;
  g_autoptr(GPtrArray) accounts = NULL;
  int exit_code = BURSARCTL_EXIT_FAILURE;

  if (!parse_command ("list", NULL, _("List the accounts."),
                      entries, argc, argv, 0, 0, &args))
    return BURSARCTL_EXIT_USAGE;
  if (!connect_to_daemon (&connection, &exit_code))
    return exit_code;
  objects = get_objects (connection, &exit_code);
  if (objects == NULL)
    return exit_code;

  accounts = list_accounts (objects);

  if (json)
    {
      g_autoptr(JsonArray) array = json_array_new ();
      g_autoptr(JsonNode) root = json_node_new (JSON_NODE_ARRAY);

      for (guint i = 0; i < accounts->len; i++)
        {
          BursarDBusAccount *account = g_ptr_array_index (accounts, i);
          g_autoptr(JsonObject) object = json_object_new ();

          json_object_set_string_member (object, "id", bursar_dbus_account_get_id (account));
          json_object_set_string_member (object, "provider", bursar_dbus_account_get_provider (account));
          json_object_set_string_member (object, "provider_name", bursar_dbus_account_get_provider_name (account));
          json_object_set_string_member (object, "label", bursar_dbus_account_get_label (account));
          json_object_set_string_member (object, "identity", bursar_dbus_account_get_identity (account));
          json_object_set_string_member (object, "environment", bursar_dbus_account_get_environment (account));
          json_object_set_string_member (object, "flow", bursar_dbus_account_get_flow (account));
          json_object_set_string_member (object, "state", bursar_dbus_account_get_state (account));
          json_object_set_boolean_member (object, "attention_needed",
                                          bursar_dbus_account_get_attention_needed (account));
          json_array_add_object_element (array, g_steal_pointer (&object));
        }
      json_node_set_array (root, array);
      bursarctl_print_json (root);
    }
  else if (accounts->len == 0)
    {
      g_printerr (_("No accounts. Add one with “bursarctl add PROVIDER”.\n"));
    }
  else
    {
      g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);

      g_ptr_array_add (rows, table_row (5, _("ID"), _("PROVIDER"), _("LABEL"),
                                        _("IDENTITY"), _("STATE")));
      for (guint i = 0; i < accounts->len; i++)
        {
          BursarDBusAccount *account = g_ptr_array_index (accounts, i);
          g_autofree char *state = NULL;

          /* A trailing "!" marks an account the user must act on; the
           * state itself says what to do. */
          if (bursar_dbus_account_get_attention_needed (account))
            state = g_strdup_printf ("%s !", or_dash (bursar_dbus_account_get_state (account)));
          else
            state = g_strdup (or_dash (bursar_dbus_account_get_state (account)));

          g_ptr_array_add (rows, table_row (5,
                                            or_dash (bursar_dbus_account_get_id (account)),
                                            or_dash (bursar_dbus_account_get_provider (account)),
                                            or_dash (bursar_dbus_account_get_label (account)),
                                            or_dash (bursar_dbus_account_get_identity (account)),
                                            state));
        }
      bursarctl_print_table (rows, 5);
    }

  return BURSARCTL_EXIT_OK;
}

/* ---- show ------------------------------------------------------------ */

static char *
format_expiry (gint64 expires_at)
{
  g_autoptr(GDateTime) when = NULL;
  g_autofree char *text = NULL;
  g_autofree char *seconds = NULL;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;

  if (expires_at <= 0)
    return g_strdup (_("unknown"));

  when = g_date_time_new_from_unix_local (expires_at);
  if (when == NULL)
    return g_strdup_printf ("%" G_GINT64_FORMAT, expires_at);
  text = g_date_time_format (when, "%Y-%m-%d %H:%M:%S %Z");
  if (expires_at <= now)
    return g_strdup_printf (_("%s (expired)"), text);

  seconds = g_strdup_printf ("%" G_GINT64_FORMAT, expires_at - now);
  return g_strdup_printf (_("%s (in %s s)"), text, seconds);
}

static void
show_json (BursarDBusAccount *account)
{
  g_autoptr(JsonObject) object = json_object_new ();
  g_autoptr(JsonNode) root = json_node_new (JSON_NODE_OBJECT);

  json_object_set_string_member (object, "id", bursar_dbus_account_get_id (account));
  json_object_set_string_member (object, "provider", bursar_dbus_account_get_provider (account));
  json_object_set_string_member (object, "provider_name", bursar_dbus_account_get_provider_name (account));
  json_object_set_string_member (object, "label", bursar_dbus_account_get_label (account));
  json_object_set_string_member (object, "identity", bursar_dbus_account_get_identity (account));
  json_object_set_string_member (object, "environment", bursar_dbus_account_get_environment (account));
  json_object_set_string_member (object, "flow", bursar_dbus_account_get_flow (account));
  json_object_set_member (object, "scopes", json_strv (bursar_dbus_account_get_scopes (account)));
  json_object_set_string_member (object, "state", bursar_dbus_account_get_state (account));
  json_object_set_boolean_member (object, "attention_needed",
                                  bursar_dbus_account_get_attention_needed (account));
  json_object_set_string_member (object, "last_error", bursar_dbus_account_get_last_error (account));
  json_object_set_int_member (object, "expires_at", bursar_dbus_account_get_expires_at (account));
  json_object_set_string_member (object, "api_base_url", bursar_dbus_account_get_api_base_url (account));
  json_object_set_member (object, "details",
                          bursarctl_variant_dict_to_json (bursar_dbus_account_get_details (account)));
  json_object_set_member (object, "allowed_apps",
                          json_strv (bursar_dbus_account_get_allowed_apps (account)));

  json_node_set_object (root, object);
  bursarctl_print_json (root);
}

static void
show_text (BursarDBusAccount *account)
{
  g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  g_autofree char *scopes = bursarctl_join_strv (bursar_dbus_account_get_scopes (account), " ");
  g_autofree char *expiry = format_expiry (bursar_dbus_account_get_expires_at (account));
  GVariant *details = bursar_dbus_account_get_details (account);
  const char *attention = bursar_dbus_account_get_attention_needed (account) ? _("yes") : _("no");

  g_ptr_array_add (rows, table_row (2, _("Id:"), or_dash (bursar_dbus_account_get_id (account))));
  g_ptr_array_add (rows, table_row (2, _("Provider:"), or_dash (bursar_dbus_account_get_provider (account))));
  g_ptr_array_add (rows, table_row (2, _("Provider name:"), or_dash (bursar_dbus_account_get_provider_name (account))));
  g_ptr_array_add (rows, table_row (2, _("Label:"), or_dash (bursar_dbus_account_get_label (account))));
  g_ptr_array_add (rows, table_row (2, _("Identity:"), or_dash (bursar_dbus_account_get_identity (account))));
  g_ptr_array_add (rows, table_row (2, _("Environment:"), or_dash (bursar_dbus_account_get_environment (account))));
  g_ptr_array_add (rows, table_row (2, _("Flow:"), or_dash (bursar_dbus_account_get_flow (account))));
  g_ptr_array_add (rows, table_row (2, _("Scopes:"), or_dash (scopes)));
  g_ptr_array_add (rows, table_row (2, _("State:"), or_dash (bursar_dbus_account_get_state (account))));
  g_ptr_array_add (rows, table_row (2, _("Attention needed:"), attention));
  g_ptr_array_add (rows, table_row (2, _("Last error:"), or_dash (bursar_dbus_account_get_last_error (account))));
  g_ptr_array_add (rows, table_row (2, _("Token expires:"), expiry));
  g_ptr_array_add (rows, table_row (2, _("API base URL:"), or_dash (bursar_dbus_account_get_api_base_url (account))));
  {
    g_autofree char *apps = bursarctl_join_strv (bursar_dbus_account_get_allowed_apps (account), " ");

    g_ptr_array_add (rows, table_row (2, _("Allowed apps:"), or_dash (apps)));
  }

  if (details != NULL && g_variant_is_of_type (details, G_VARIANT_TYPE_VARDICT) &&
      g_variant_n_children (details) > 0)
    {
      g_autoptr(JsonNode) sorted = bursarctl_variant_dict_to_json (details);
      JsonObject *object = json_node_get_object (sorted);
      g_autoptr(GList) members = json_object_get_members (object);

      g_ptr_array_add (rows, table_row (2, _("Details:"), ""));
      /* The JSON object only served to sort the keys; the values are
       * shown from the variants. */
      for (GList *l = members; l != NULL; l = l->next)
        {
          const char *key = l->data;
          g_autoptr(GVariant) value = g_variant_lookup_value (details, key, NULL);
          g_autofree char *name = g_strdup_printf ("  %s:", key);
          g_autofree char *text = (value != NULL) ? bursarctl_variant_to_display (value) : g_strdup ("");

          g_ptr_array_add (rows, table_row (2, name, or_dash (text)));
        }
    }

  bursarctl_print_table (rows, 2);
}

static int
cmd_show (int    argc,
          char **argv)
{
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("Print JSON"), NULL },
    G_OPTION_ENTRY_NULL
  };
  g_auto(GStrv) args = NULL;
  g_autoptr(BursarDBusAccount) account = NULL;
  int exit_code = BURSARCTL_EXIT_FAILURE;

  if (!parse_command ("show", _("ACCOUNT"), _("Show everything about an account except its secrets."),
                      entries, argc, argv, 1, 1, &args))
    return BURSARCTL_EXIT_USAGE;
  account = open_account (args[0], NULL, &exit_code);
  if (account == NULL)
    return exit_code;

  if (json)
    show_json (account);
  else
    show_text (account);

  return BURSARCTL_EXIT_OK;
}

/* ---- token ----------------------------------------------------------- */

static int
compare_header_lines (gconstpointer a,
                      gconstpointer b)
{
  const char *line_a = *(const char * const *) a;
  const char *line_b = *(const char * const *) b;
  gboolean auth_a = g_ascii_strncasecmp (line_a, "Authorization:", 14) == 0;
  gboolean auth_b = g_ascii_strncasecmp (line_b, "Authorization:", 14) == 0;

  /* Authorization first, the rest in a stable order. */
  if (auth_a != auth_b)
    return auth_a ? -1 : 1;
  return g_ascii_strcasecmp (line_a, line_b);
}

static void
print_headers (GVariant *info)
{
  g_autoptr(GVariant) headers = g_variant_lookup_value (info, "headers", G_VARIANT_TYPE ("a{ss}"));
  g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func ((GDestroyNotify) bursarctl_secret_free);
  GVariantIter iter;
  const char *name;
  const char *value;

  if (headers == NULL)
    return;

  /* The Authorization line holds the token: wipe the copies too. */
  g_variant_iter_init (&iter, headers);
  while (g_variant_iter_next (&iter, "{&s&s}", &name, &value))
    g_ptr_array_add (lines, g_strdup_printf ("%s: %s", name, value));
  g_ptr_array_sort (lines, compare_header_lines);

  for (guint i = 0; i < lines->len; i++)
    g_print ("%s\n", (const char *) g_ptr_array_index (lines, i));
}

static int
cmd_token (int    argc,
           char **argv)
{
  g_autofree char *min_valid_text = NULL;
  gboolean headers = FALSE;
  const GOptionEntry entries[] = {
    { "min-valid", 0, 0, G_OPTION_ARG_STRING, &min_valid_text,
      N_("The token must be valid for at least SECONDS more (default 60)"), N_("SECONDS") },
    { "headers", 0, 0, G_OPTION_ARG_NONE, &headers,
      N_("Print the HTTP headers for an API request instead of the bare token"), NULL },
    G_OPTION_ENTRY_NULL
  };
  g_auto(GStrv) args = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(BursarctlSecret) token = NULL;
  guint64 min_valid = 0;
  int exit_code = BURSARCTL_EXIT_FAILURE;

  if (!parse_command ("token", _("ACCOUNT"), _("Print an access token, and nothing else, on standard output."),
                      entries, argc, argv, 1, 1, &args))
    return BURSARCTL_EXIT_USAGE;
  if (min_valid_text != NULL &&
      !g_ascii_string_to_unsigned (min_valid_text, 10, 0, G_MAXUINT32, &min_valid, &error))
    {
      bursarctl_print_message (_("Invalid --min-valid “%s”: %s"), min_valid_text, error->message);
      return BURSARCTL_EXIT_USAGE;
    }

  if (min_valid_text != NULL || headers)
    {
      g_autoptr(GVariantDict) options = g_variant_dict_new (NULL);
      g_autoptr(GVariant) info = NULL;

      if (min_valid_text != NULL)
        g_variant_dict_insert (options, "min_valid", "u", (guint32) min_valid);
      reply = call_account (args[0], "GetToken",
                            g_variant_new ("(@a{sv})", g_variant_dict_end (options)),
                            G_VARIANT_TYPE ("(sa{sv})"), &exit_code);
      if (reply == NULL)
        return exit_code;
      g_variant_get (reply, "(s@a{sv})", &token, &info);

      if (headers)
        print_headers (info);
      else
        g_print ("%s\n", token);
    }
  else
    {
      reply = call_account (args[0], "GetAccessToken", NULL /* parameters */,
                            G_VARIANT_TYPE ("(si)"), &exit_code);
      if (reply == NULL)
        return exit_code;
      g_variant_get (reply, "(si)", &token, NULL);
      g_print ("%s\n", token);
    }

  /* A closed pipe or a full disk must not look like success to
   * `$(bursarctl token …)`. */
  if (fflush (stdout) != 0 || ferror (stdout))
    {
      bursarctl_print_message (_("Cannot write to standard output."));
      return BURSARCTL_EXIT_FAILURE;
    }

  return BURSARCTL_EXIT_OK;
}

/* ---- refresh --------------------------------------------------------- */

static int
cmd_refresh (int    argc,
             char **argv)
{
  gboolean print = FALSE;
  const GOptionEntry entries[] = {
    { "print", 0, 0, G_OPTION_ARG_NONE, &print,
      N_("Print the new token instead of its lifetime"), NULL },
    G_OPTION_ENTRY_NULL
  };
  g_auto(GStrv) args = NULL;
  g_autoptr(BursarDBusAccount) account = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(BursarctlSecret) token = NULL;
  gint expires_in = 0;
  int exit_code = BURSARCTL_EXIT_FAILURE;

  if (!parse_command ("refresh", _("ACCOUNT"), _("Refresh the access token now."),
                      entries, argc, argv, 1, 1, &args))
    return BURSARCTL_EXIT_USAGE;
  account = open_account (args[0], NULL, &exit_code);
  if (account == NULL)
    return exit_code;

  if (!bursar_dbus_account_call_refresh_sync (account, &token, &expires_in,
                                              NULL /* cancellable */, &error))
    return bursarctl_report_error (error);

  if (print)
    g_print ("%s\n", token);
  else if (expires_in > 0)
    g_print (_("Refreshed; valid for %d s.\n"), expires_in);
  else
    g_print (_("Refreshed; the provider gave no expiry.\n"));

  return BURSARCTL_EXIT_OK;
}

/* ---- authorize ------------------------------------------------------- */

static int
cmd_authorize (int    argc,
               char **argv)
{
  gboolean no_browser = FALSE;
  gboolean no_wait = FALSE;
  const GOptionEntry entries[] = {
    { "no-browser", 0, 0, G_OPTION_ARG_NONE, &no_browser,
      N_("Do not open a browser; print the URL and read the redirect address from standard input"), NULL },
    { "no-wait", 0, 0, G_OPTION_ARG_NONE, &no_wait,
      N_("Return once the authorization URL is printed"), NULL },
    G_OPTION_ENTRY_NULL
  };
  g_auto(GStrv) args = NULL;
  g_autoptr(GDBusObjectManager) objects = NULL;
  g_autoptr(BursarDBusAccount) account = NULL;
  int exit_code = BURSARCTL_EXIT_FAILURE;

  if (!parse_command ("authorize", _("ACCOUNT"), _("Sign in to an account (again) in the browser."),
                      entries, argc, argv, 1, 1, &args))
    return BURSARCTL_EXIT_USAGE;
  account = open_account (args[0], &objects, &exit_code);
  if (account == NULL)
    return exit_code;

  return bursarctl_authorize_run (objects, account, !no_browser, !no_wait);
}

/* ---- complete -------------------------------------------------------- */

static int
cmd_complete (int    argc,
              char **argv)
{
  g_auto(GStrv) args = NULL;
  g_autoptr(BursarDBusAccount) account = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(BursarctlSecret) url = NULL;
  int exit_code = BURSARCTL_EXIT_FAILURE;

  if (!parse_command ("complete", _("ACCOUNT URL|-"),
                      _("Finish an authorization with the address the browser was sent to. "
                        "Give - to read it from standard input, which keeps its one-time code "
                        "out of the process list."),
                      NULL, argc, argv, 2, 2, &args))
    return BURSARCTL_EXIT_USAGE;
  account = open_account (args[0], NULL, &exit_code);
  if (account == NULL)
    return exit_code;

  if (g_str_equal (args[1], "-"))
    {
      url = bursarctl_read_secret ("-", _("Paste the address your browser was sent to and press Enter:"),
                                   TRUE /* echo */, &error);
      if (url == NULL)
        {
          bursarctl_print_message (_("Cannot read the redirect address: %s"), error->message);
          return BURSARCTL_EXIT_USAGE;
        }
      g_strstrip (url);
    }
  else
    {
      url = g_strdup (args[1]);
    }

  if (!bursar_dbus_account_call_complete_authorization_sync (account, url,
                                                             NULL /* cancellable */, &error))
    return bursarctl_report_error (error);

  g_print (_("Account %s is ready.\n"), bursar_dbus_account_get_id (account));
  return BURSARCTL_EXIT_OK;
}

/* ---- remove ---------------------------------------------------------- */

static int
cmd_remove (int    argc,
            char **argv)
{
  g_auto(GStrv) args = NULL;
  g_autoptr(BursarDBusAccount) account = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *id = NULL;
  int exit_code = BURSARCTL_EXIT_FAILURE;

  if (!parse_command ("remove", _("ACCOUNT"),
                      _("Revoke an account’s tokens at the provider and remove the account and its keyring item."),
                      NULL, argc, argv, 1, 1, &args))
    return BURSARCTL_EXIT_USAGE;
  account = open_account (args[0], NULL, &exit_code);
  if (account == NULL)
    return exit_code;

  id = bursar_dbus_account_dup_id (account);
  if (!bursar_dbus_account_call_remove_sync (account, NULL /* cancellable */, &error))
    return bursarctl_report_error (error);

  g_print (_("Removed account %s.\n"), id);
  return BURSARCTL_EXIT_OK;
}

/* ---- allow / deny ---------------------------------------------------- */

static int
cmd_allow_deny (int    argc,
                char **argv)
{
  g_auto(GStrv) args = NULL;
  g_autoptr(BursarDBusAccount) account = NULL;
  g_autoptr(GError) error = NULL;
  gboolean allow = g_str_equal (argv[0], "allow");
  int exit_code = BURSARCTL_EXIT_FAILURE;
  gboolean ok;

  if (!parse_command (argv[0], _("ACCOUNT APP-ID"),
                      allow ? _("Let a sandboxed (Flatpak) application use an account.")
                            : _("Stop a sandboxed (Flatpak) application from using an account."),
                      NULL, argc, argv, 2, 2, &args))
    return BURSARCTL_EXIT_USAGE;
  account = open_account (args[0], NULL, &exit_code);
  if (account == NULL)
    return exit_code;

  if (allow)
    ok = bursar_dbus_account_call_allow_app_sync (account, args[1], NULL /* cancellable */, &error);
  else
    ok = bursar_dbus_account_call_deny_app_sync (account, args[1], NULL /* cancellable */, &error);
  if (!ok)
    return bursarctl_report_error (error);
  return BURSARCTL_EXIT_OK;
}

/* ---- main ------------------------------------------------------------ */

static const struct
{
  const char *name;
  int (*run) (int argc, char **argv);
} commands[] = {
  { "providers", cmd_providers },
  { "add", cmd_add },
  { "list", cmd_list },
  { "show", cmd_show },
  { "token", cmd_token },
  { "refresh", cmd_refresh },
  { "authorize", cmd_authorize },
  { "complete", cmd_complete },
  { "remove", cmd_remove },
  { "allow", cmd_allow_deny },
  { "deny", cmd_allow_deny },
};

int
main (int    argc,
      char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  gboolean version = FALSE;
  const GOptionEntry entries[] = {
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, N_("Show the version and exit"), NULL },
    G_OPTION_ENTRY_NULL
  };

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, g_getenv ("BURSAR_LOCALEDIR") != NULL
                                   ? g_getenv ("BURSAR_LOCALEDIR") : LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);
  g_set_prgname ("bursarctl");

  /* Registers the org.bursar.Bursar1.Error.* names before any call, so
   * remote errors arrive in the BURSAR_ERROR domain. */
  (void) BURSAR_ERROR;

  context = g_option_context_new (_("COMMAND [ARGUMENT…]"));
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  /* Stop at the command name; the command parses the rest. */
  g_option_context_set_strict_posix (context, TRUE);
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  g_option_context_set_summary (context,
                                _("Manage Bursar’s OAuth 2.0 and OpenID Connect accounts and get their tokens.\n"
                                  "\n"
                                  "Commands:\n"
                                  "  providers                List the providers\n"
                                  "  add PROVIDER             Add an account and authorize it\n"
                                  "  list                     List the accounts\n"
                                  "  show ACCOUNT             Show an account\n"
                                  "  token ACCOUNT            Print an access token\n"
                                  "  refresh ACCOUNT          Refresh the access token now\n"
                                  "  authorize ACCOUNT        Sign in to an account (again)\n"
                                  "  complete ACCOUNT URL|-   Finish an authorization by hand\n"
                                  "  remove ACCOUNT           Revoke and remove an account\n"
                                  "  allow ACCOUNT APP-ID     Let a Flatpak app use an account\n"
                                  "  deny ACCOUNT APP-ID      Stop a Flatpak app from using it\n"
                                  "\n"
                                  "ACCOUNT is an account id or, if no id matches, a unique label.\n"
                                  "Run “bursarctl COMMAND --help” for the options of a command."));
  g_option_context_set_description (context, exit_status_help ());

  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      bursarctl_print_message (_("%s (see “bursarctl --help”)"), error->message);
      return BURSARCTL_EXIT_USAGE;
    }

  if (version)
    {
      g_print ("bursarctl %s\n", PACKAGE_VERSION);
      return BURSARCTL_EXIT_OK;
    }

  if (argc < 2)
    {
      bursarctl_print_message (_("No command given; “bursarctl --help” lists them."));
      return BURSARCTL_EXIT_USAGE;
    }

  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      if (g_str_equal (argv[1], commands[i].name))
        return commands[i].run (argc - 1, argv + 1);
    }

  bursarctl_print_message (_("Unknown command “%s”; “bursarctl --help” lists them."), argv[1]);
  return BURSARCTL_EXIT_USAGE;
}
