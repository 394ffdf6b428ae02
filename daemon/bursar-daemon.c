/* bursar-daemon.c
 *
 * Every method handler first checks the caller (see check_caller()); the
 * check is asynchronous — it asks the bus for the caller's credentials —
 * so it cannot be a g-authorize-method handler, which must answer at once
 * and would block the main loop on a synchronous bus call. Credentials are
 * cached per unique bus name, which the bus never reuses.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bursar-account.h"
#include "bursar-account-bus.h"
#include "bursar-account-store.h"
#include "bursar-caller.h"
#include "bursar-daemon.h"
#include "bursar-error.h"
#include "bursar-fast-path.h"
#include "bursar-generated.h"
#include "bursar-http.h"
#include "bursar-notifier.h"
#include "bursar-provider.h"
#include "bursar-secret.h"
#include "bursar-secret-store.h"

/* Upper bound on any string argument: no legitimate option comes near. */
#define MAX_STRING_ARG 8192
#define MAX_SCOPES 64
#define CALLER_CACHE_MAX 512
#define ANNOUNCED_MAX 4096

struct _BursarDaemon
{
  GObject parent_instance;

  GDBusConnection *connection;             /* (owned) */
  BursarAccountBus *account_bus;           /* (owned) */
  BursarDBusManager *manager;              /* (owned) */
  BursarProviderRegistry *providers;       /* (owned) */
  BursarHttp *http;                        /* (owned) */
  BursarSecretStore *secret_store;         /* (owned) */
  BursarAccountStore *account_store;       /* (owned) */
  GHashTable *accounts;                    /* (owned) id → BursarAccount */
  GHashTable *callers;                     /* (owned) unique name → Caller */
  GHashTable *announced;                   /* (owned) set of "name\naccount":
                                            * hand-outs already in the log */
  GHashTable *pending_callers;             /* (owned) unique name → CallerLookup
                                            * whose credentials are being asked */
  BursarFastPath *fast_path;               /* (owned) repeats of cached answers */
  BursarNotifier *notifier;                /* (owned) */
  GNetworkMonitor *network_monitor;        /* (owned) */
  gboolean online;
  GCancellable *cancellable;               /* (owned) */
};

G_DEFINE_TYPE (BursarDaemon, bursar_daemon, G_TYPE_OBJECT)

enum
{
  SIGNAL_IDLE,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

typedef struct
{
  guint32 uid;
  guint32 pid;
  char *exe;
  char *app_id;        /* Flatpak app id; NULL outside a sandbox */
  gboolean unknown;    /* could not be identified: treated as sandboxed */
  char *description;   /* for the hand-out log: name, pid, exe, app */
} Caller;

static void
caller_free (Caller *caller)
{
  g_free (caller->exe);
  g_free (caller->app_id);
  g_free (caller->description);
  g_free (caller);
}

typedef enum
{
  POLICY_ANY,        /* providers, adding an account */
  POLICY_ACCOUNT,    /* an account's methods: sandboxed apps need a grant */
  POLICY_HOST_ONLY,  /* changing grants: never from a sandbox */
} CallerPolicy;

/* The Flatpak app id of @pid (see bursar-caller.c): as xdg-desktop-portal
 * finds it through /proc/PID/root, or, where our user namespace makes the
 * kernel refuse that, through the caller's mount table. Any doubt fails
 * closed. The PID comes from the bus and may be recycled by the time we
 * look (no pidfd on dbus 1.14); a recycled PID of a host process would
 * read as unsandboxed. */
static void
caller_identify_app (Caller *caller)
{
  g_autoptr(GError) error = NULL;

  switch (bursar_caller_identify_app (caller->pid, &caller->app_id, &error))
    {
    case BURSAR_CALLER_HOST:
    case BURSAR_CALLER_APP:
      break;
    case BURSAR_CALLER_UNKNOWN:
    default:
      g_message ("Could not tell whether pid %u is sandboxed: %s", caller->pid,
                 error != NULL ? error->message : "?");
      caller->unknown = TRUE;
      break;
    }
}

static const char *
caller_describe_app (const Caller *caller)
{
  if (caller->unknown)
    return "unidentified sandbox";
  return caller->app_id != NULL ? caller->app_id : "host";
}

static void
bursar_daemon_dispose (GObject *object)
{
  BursarDaemon *self = BURSAR_DAEMON (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_pointer (&self->fast_path, bursar_fast_path_free);
  if (self->manager != NULL)
    g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (self->manager));
  g_clear_object (&self->manager);
  g_clear_pointer (&self->account_bus, bursar_account_bus_free);
  if (self->accounts != NULL)
    {
      GHashTableIter iter;
      gpointer account;

      g_hash_table_iter_init (&iter, self->accounts);
      while (g_hash_table_iter_next (&iter, NULL, &account))
        bursar_account_set_watch (account, NULL, NULL);
    }
  g_clear_object (&self->notifier);
  if (self->network_monitor != NULL)
    g_signal_handlers_disconnect_by_data (self->network_monitor, self);
  g_clear_object (&self->network_monitor);
  g_clear_pointer (&self->accounts, g_hash_table_unref);
  g_clear_object (&self->providers);
  g_clear_object (&self->http);
  g_clear_object (&self->secret_store);
  g_clear_object (&self->account_store);
  g_clear_object (&self->connection);
  g_clear_pointer (&self->callers, g_hash_table_unref);
  g_clear_pointer (&self->announced, g_hash_table_unref);

  G_OBJECT_CLASS (bursar_daemon_parent_class)->dispose (object);
}

static void
bursar_daemon_finalize (GObject *object)
{
  BursarDaemon *self = BURSAR_DAEMON (object);

  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->pending_callers, g_hash_table_unref);

  G_OBJECT_CLASS (bursar_daemon_parent_class)->finalize (object);
}

static void
bursar_daemon_class_init (BursarDaemonClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = bursar_daemon_dispose;
  object_class->finalize = bursar_daemon_finalize;

  signals[SIGNAL_IDLE] = g_signal_new ("idle", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                       0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
bursar_daemon_init (BursarDaemon *self)
{
  self->accounts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->callers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                         (GDestroyNotify) caller_free);
  self->announced = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  /* Keys are owned by the CallerLookup values, which free themselves. */
  self->pending_callers = g_hash_table_new (g_str_hash, g_str_equal);
  self->cancellable = g_cancellable_new ();
}

BursarDaemon *
bursar_daemon_new (GDBusConnection *connection)
{
  BursarDaemon *self = g_object_new (BURSAR_TYPE_DAEMON, NULL);

  self->connection = g_object_ref (connection);
  return self;
}

gboolean
bursar_daemon_is_busy (BursarDaemon *self)
{
  return self->account_store != NULL && bursar_account_store_is_busy (self->account_store);
}

/* --- errors ---------------------------------------------------------- */

/* Only documented errors leave the daemon: anything else becomes
 * org.freedesktop.DBus.Error.Failed with a generic sentence, and its
 * detail goes to the log. */
static void
return_error (GDBusMethodInvocation *invocation,
              GError                *error)
{
  bursar_error_convert (&error);
  if (error->domain != BURSAR_ERROR)
    {
      g_warning ("Internal error in %s: %s",
                 g_dbus_method_invocation_get_method_name (invocation), error->message);
      g_dbus_method_invocation_return_error_literal (invocation, G_DBUS_ERROR, G_DBUS_ERROR_FAILED,
                                                     _("Bursar failed unexpectedly; see its log for details."));
      g_error_free (error);
      return;
    }
  g_dbus_method_invocation_take_error (invocation, error);
}

/* --- the caller check ----------------------------------------------- */

typedef void (*CallerContinuation) (BursarDaemon          *self,
                                    GDBusMethodInvocation *invocation,
                                    const Caller          *caller,
                                    gpointer               data);

typedef struct
{
  BursarDaemon *self;                 /* (owned) */
  GDBusMethodInvocation *invocation;  /* (owned) */
  CallerContinuation continuation;
  CallerPolicy policy;
  gpointer data;                      /* (owned) a GObject or NULL */
} CallerCheck;

static void
caller_check_free (CallerCheck *check)
{
  g_clear_object (&check->self);
  g_clear_object (&check->invocation);
  g_clear_object (&check->data);
  g_free (check);
}

static void
caller_dispatch (CallerCheck  *check,
                 const Caller *caller)
{
  /* The session bus only lets the user's own processes in; a different
   * uid here means a misconfigured bus, and gets nothing. */
  if (caller->uid != getuid ())
    {
      g_warning ("Refused %s from %s: uid %u is not ours",
                 g_dbus_method_invocation_get_method_name (check->invocation),
                 g_dbus_method_invocation_get_sender (check->invocation), caller->uid);
      g_dbus_method_invocation_return_error_literal (check->invocation, BURSAR_ERROR,
                                                     BURSAR_ERROR_ACCESS_DENIED,
                                                     _("Only processes of the same user may use Bursar."));
      return;
    }
  if (check->policy != POLICY_ANY && (caller->unknown || caller->app_id != NULL))
    {
      gboolean allowed = check->policy == POLICY_ACCOUNT && !caller->unknown &&
                         bursar_account_is_app_allowed (check->data, caller->app_id);

      if (!allowed)
        {
          g_message ("Refused %s on %s to %s (%s)",
                     g_dbus_method_invocation_get_method_name (check->invocation),
                     g_dbus_method_invocation_get_object_path (check->invocation),
                     g_dbus_method_invocation_get_sender (check->invocation),
                     caller_describe_app (caller));
          g_dbus_method_invocation_return_error_literal (check->invocation, BURSAR_ERROR,
                                                         BURSAR_ERROR_ACCESS_DENIED,
                                                         _("This application is not allowed to use this account; “bursarctl allow” grants it."));
          return;
        }
    }
  check->continuation (check->self, check->invocation, caller, check->data);
}

/* One GetConnectionCredentials in flight per unknown caller: the checks
 * of every call that caller makes meanwhile wait for its answer (a burst
 * of calls on a new connection asks the bus once, not once per call). */
typedef struct
{
  BursarDaemon *self;  /* (owned) */
  char *sender;        /* (owned) */
  GPtrArray *checks;   /* (owned) (element-type CallerCheck) */
} CallerLookup;

static void
caller_lookup_free (CallerLookup *lookup)
{
  g_clear_object (&lookup->self);
  g_free (lookup->sender);
  g_ptr_array_unref (lookup->checks);
  g_free (lookup);
}

static void
caller_lookup_fail (CallerLookup *lookup)
{
  for (guint i = 0; i < lookup->checks->len; i++)
    {
      CallerCheck *check = g_ptr_array_index (lookup->checks, i);

      g_dbus_method_invocation_return_error_literal (check->invocation, BURSAR_ERROR,
                                                     BURSAR_ERROR_ACCESS_DENIED,
                                                     _("The caller could not be identified."));
    }
}

/* The caller's executable and whether it is a Flatpak app come from
 * /proc: local files, but another process's, and its mount table can be
 * long, so they are read in GIO's thread pool rather than on the main
 * loop. */
static void
identify_thread (GTask        *task,
                 gpointer      source_object,
                 gpointer      task_data,
                 GCancellable *cancellable)
{
  Caller *caller = task_data;

  if (caller->pid != 0)
    {
      g_autofree char *link = g_strdup_printf ("/proc/%u/exe", caller->pid);

      caller->exe = g_file_read_link (link, NULL);
    }
  caller_identify_app (caller);
  g_task_return_boolean (task, TRUE);
}

static void
identified_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  CallerLookup *lookup = user_data;
  BursarDaemon *self = lookup->self;
  Caller *caller = g_task_get_task_data (G_TASK (result));
  const char *sender = lookup->sender;

  /* Ours now: the task's data has no free function. */
  caller->description = g_strdup_printf ("%s (pid %u, %s, %s)", sender, caller->pid,
                                         caller->exe != NULL ? caller->exe : "?",
                                         caller_describe_app (caller));
  if (sender != NULL)
    g_hash_table_remove (self->pending_callers, sender);
  if (g_hash_table_size (self->callers) >= CALLER_CACHE_MAX)
    g_hash_table_remove_all (self->callers);
  g_hash_table_replace (self->callers, g_strdup (sender), caller);

  for (guint i = 0; i < lookup->checks->len; i++)
    caller_dispatch (g_ptr_array_index (lookup->checks, i), caller);
  caller_lookup_free (lookup);
}

static void
credentials_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  CallerLookup *lookup = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) dict = NULL;
  g_autoptr(GTask) task = NULL;
  Caller *caller;
  guint32 value;

  reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  if (reply == NULL)
    {
      g_message ("Could not identify caller %s: %s", lookup->sender, error->message);
      if (lookup->sender != NULL)
        g_hash_table_remove (lookup->self->pending_callers, lookup->sender);
      caller_lookup_fail (lookup);
      caller_lookup_free (lookup);
      return;
    }

  dict = g_variant_get_child_value (reply, 0);
  caller = g_new0 (Caller, 1);
  caller->uid = G_MAXUINT32;
  if (g_variant_lookup (dict, "UnixUserID", "u", &value))
    caller->uid = value;
  if (g_variant_lookup (dict, "ProcessID", "u", &value))
    caller->pid = value;

  /* Calls of this caller meanwhile still join the lookup: it stays in
   * pending_callers until identified_cb(). */
  task = g_task_new (lookup->self, NULL, identified_cb, lookup);
  g_task_set_source_tag (task, credentials_cb);
  g_task_set_task_data (task, caller, NULL);
  g_task_run_in_thread (task, identify_thread);
}

static void
check_caller (BursarDaemon          *self,
              GDBusMethodInvocation *invocation,
              CallerPolicy           policy,
              CallerContinuation     continuation,
              gpointer               data)
{
  CallerCheck *check = g_new0 (CallerCheck, 1);
  const char *sender = g_dbus_method_invocation_get_sender (invocation);
  const Caller *cached = sender != NULL ? g_hash_table_lookup (self->callers, sender) : NULL;
  CallerLookup *lookup;

  check->self = g_object_ref (self);
  check->invocation = g_object_ref (invocation);
  check->continuation = continuation;
  check->policy = policy;
  check->data = data != NULL ? g_object_ref (data) : NULL;

  if (cached != NULL)
    {
      caller_dispatch (check, cached);
      caller_check_free (check);
      return;
    }

  lookup = sender != NULL ? g_hash_table_lookup (self->pending_callers, sender) : NULL;
  if (lookup != NULL)
    {
      g_ptr_array_add (lookup->checks, check);
      return;
    }

  lookup = g_new0 (CallerLookup, 1);
  lookup->self = g_object_ref (self);
  lookup->sender = g_strdup (sender);
  lookup->checks = g_ptr_array_new_with_free_func ((GDestroyNotify) caller_check_free);
  g_ptr_array_add (lookup->checks, check);
  if (lookup->sender != NULL)
    g_hash_table_insert (self->pending_callers, lookup->sender, lookup);
  g_dbus_connection_call (self->connection, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                          "org.freedesktop.DBus", "GetConnectionCredentials",
                          g_variant_new ("(s)", sender), G_VARIANT_TYPE ("(a{sv})"),
                          G_DBUS_CALL_FLAGS_NONE, 10000, self->cancellable,
                          credentials_cb, lookup);
}

/* --- options ---------------------------------------------------------- */

typedef struct
{
  const char *key;
  const char *type;
} OptionSpec;

static const OptionSpec add_account_options[] = {
  { "flow", "s" },
  { "environment", "s" },
  { "client_id", "s" },
  { "client_secret", "s" },
  { "scopes", "as" },
  { "label", "s" },
  { "redirect_uri", "s" },
  { "issuer", "s" },
  { "authorization_endpoint", "s" },
  { "token_endpoint", "s" },
  { "token", "s" },
  { "base_url", "s" },
  { "signup", "b" },
  { "target_org_id", "s" },
};

static const OptionSpec get_token_options[] = {
  { "min_valid", "u" },
};

static const OptionSpec authorize_options[] = {
  { "open_browser", "b" },
};

/* Checks an a{sv} against a table of allowed keys and types, and bounds
 * every string in it. The message names the key, never the value. */
static gboolean
check_options (GVariant          *options,
               const OptionSpec  *specs,
               gsize              n_specs,
               GError           **error)
{
  GVariantIter iter;
  const char *key;
  GVariant *value;

  g_variant_iter_init (&iter, options);
  while (g_variant_iter_loop (&iter, "{&sv}", &key, &value))
    {
      const OptionSpec *spec = NULL;

      for (gsize i = 0; i < n_specs; i++)
        if (g_str_equal (specs[i].key, key))
          spec = &specs[i];

      if (spec == NULL)
        {
          g_autofree char *shown = g_utf8_make_valid (key, MIN (strlen (key), 64));

          g_set_error (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                       _("Unknown option “%s”."), shown);
          g_variant_unref (value);
          return FALSE;
        }
      if (!g_variant_is_of_type (value, G_VARIANT_TYPE (spec->type)))
        {
          g_set_error (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                       _("Option “%s” must be of type “%s”."), spec->key, spec->type);
          g_variant_unref (value);
          return FALSE;
        }
      if (g_variant_is_of_type (value, G_VARIANT_TYPE_STRING) &&
          g_variant_get_size (value) > MAX_STRING_ARG)
        {
          g_set_error (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                       _("Option “%s” is too long."), spec->key);
          g_variant_unref (value);
          return FALSE;
        }
      if (g_variant_is_of_type (value, G_VARIANT_TYPE_STRING_ARRAY))
        {
          gsize n = g_variant_n_children (value);

          if (n > MAX_SCOPES || g_variant_get_size (value) > MAX_STRING_ARG)
            {
              g_set_error (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                           _("Option “%s” is too long."), spec->key);
              g_variant_unref (value);
              return FALSE;
            }
        }
    }
  return TRUE;
}

static const char *
lookup_string (GVariant   *options,
               const char *key)
{
  const char *value = NULL;

  if (!g_variant_lookup (options, key, "&s", &value) || *value == '\0')
    return NULL;
  return value;
}

/* --- accounts on the bus --------------------------------------------- */

static char *
account_path (const char *id)
{
  return g_strconcat (BURSAR_DBUS_ACCOUNTS_PATH "/", id, NULL);
}

/* Every change of an account (see BursarAccountWatchFunc). Whatever
 * changed, the worker thread's copies of the account's answers go; the
 * next call is answered (and offered again) by the main loop. */
static void
account_changed_cb (BursarAccount *account,
                    GParamSpec    *pspec,
                    gpointer       user_data)
{
  BursarDaemon *self = user_data;

  if (self->fast_path != NULL)
    {
      g_autofree char *path = account_path (bursar_account_get_id (account));

      bursar_fast_path_forget (self->fast_path, path);
    }
  if (pspec == NULL)
    return;
  if (self->account_bus != NULL)
    bursar_account_bus_notify (self->account_bus, account, pspec);
  if (g_str_equal (pspec->name, "attention-needed"))
    bursar_notifier_attention_changed (self->notifier, account);
}

static void
export_account (BursarDaemon  *self,
                BursarAccount *account)
{
  g_hash_table_replace (self->accounts, g_strdup (bursar_account_get_id (account)),
                        g_object_ref (account));
  /* Unset by unexport_account() or dispose. */
  bursar_account_set_watch (account, account_changed_cb, self);
  /* At start-up the accounts are on the bus when it is registered. */
  if (self->account_bus != NULL)
    bursar_account_bus_added (self->account_bus, account);
  bursar_notifier_watch (self->notifier, account);
}

static void
unexport_account (BursarDaemon  *self,
                  BursarAccount *account)
{
  g_autofree char *path = account_path (bursar_account_get_id (account));

  bursar_notifier_unwatch (self->notifier, account);
  if (self->fast_path != NULL)
    bursar_fast_path_forget (self->fast_path, path);
  bursar_account_set_watch (account, NULL, NULL);
  if (self->account_bus != NULL)
    bursar_account_bus_removed (self->account_bus, account);
  bursar_account_store_remove (self->account_store, bursar_account_get_id (account));
  g_hash_table_remove (self->accounts, bursar_account_get_id (account));
}

/* --- token methods --------------------------------------------------- */

typedef enum
{
  TOKEN_REPLY_SHORT, /* (si) */
  TOKEN_REPLY_FULL,  /* (sa{sv}) */
} TokenReply;

typedef struct
{
  BursarDaemon *self;                /* (owned) */
  GDBusMethodInvocation *invocation; /* (owned) */
  BursarAccount *account;            /* (owned) */
  TokenReply reply;
  char *caller;                      /* (owned) for the log */
} TokenCall;

static void
token_call_free (TokenCall *call)
{
  g_clear_object (&call->self);
  g_clear_object (&call->invocation);
  g_clear_object (&call->account);
  g_free (call->caller);
  g_free (call);
}

static gint32
expires_in (gint64 expires_at)
{
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;

  if (expires_at == 0)
    return 0;
  /* An expires_in of 0 would read as "no expiry": a token that is already
   * at its end says 1. */
  return (gint32) CLAMP (expires_at - now, 1, G_MAXINT32);
}

/* Every hand-out is logged. The first one of an account to a bus
 * connection goes to the journal (g_message), so the default log says
 * which programs got which account's tokens; the repeats (apps ask before
 * every request) are info lines, shown with --verbose. */
static void
log_hand_out (BursarDaemon          *self,
              GDBusMethodInvocation *invocation,
              BursarAccount         *account,
              const char            *caller)
{
  const char *id = bursar_account_get_id (account);
  g_autofree char *key = g_strconcat (g_dbus_method_invocation_get_sender (invocation), "\n",
                                      id, NULL);

  if (!g_hash_table_contains (self->announced, key))
    {
      if (g_hash_table_size (self->announced) >= ANNOUNCED_MAX)
        g_hash_table_remove_all (self->announced);
      g_hash_table_add (self->announced, g_steal_pointer (&key));
      g_message ("Token of account %s handed to %s", id, caller);
    }
  /* The check only saves formatting a line the default writer would drop
   * (no --verbose, no G_MESSAGES_DEBUG). */
  else if (!g_log_writer_default_would_drop (G_LOG_LEVEL_INFO, G_LOG_DOMAIN))
    g_info ("Token of account %s handed to %s", id, caller);
}

/* Answers @invocation with @info and logs the hand-out. */
static void
return_token (BursarDaemon          *self,
              GDBusMethodInvocation *invocation,
              BursarAccount         *account,
              TokenReply             reply,
              const char            *caller,
              BursarTokenInfo       *info)
{
  log_hand_out (self, invocation, account, caller);

  if (reply == TOKEN_REPLY_SHORT)
    {
      g_dbus_method_invocation_return_value (invocation,
                                             g_variant_new ("(si)", info->access_token,
                                                            expires_in (info->expires_at)));
    }
  else
    {
      g_auto(GVariantDict) dict;
      const char * const empty[] = { NULL };

      g_variant_dict_init (&dict, NULL);
      g_variant_dict_insert (&dict, "expires_in", "i", expires_in (info->expires_at));
      g_variant_dict_insert (&dict, "expires_at", "x", info->expires_at);
      g_variant_dict_insert (&dict, "token_type", "s", info->token_type);
      g_variant_dict_insert_value (&dict, "scopes",
                                   g_variant_new_strv (info->scopes != NULL
                                                       ? (const char * const *) info->scopes
                                                       : empty, -1));
      g_variant_dict_insert_value (&dict, "headers",
                                   bursar_account_build_headers (account, info->access_token));
      g_dbus_method_invocation_return_value (invocation,
                                             g_variant_new ("(s@a{sv})", info->access_token,
                                                            g_variant_dict_end (&dict)));
    }
}

static void
token_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  TokenCall *call = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(BursarTokenInfo) info = NULL;

  info = bursar_account_get_token_finish (BURSAR_ACCOUNT (source), result, &error);
  if (info == NULL)
    {
      if (error == NULL)
        g_set_error_literal (&error, BURSAR_ERROR, BURSAR_ERROR_NEEDS_AUTHORIZATION,
                             _("This account has no access token."));
      return_error (call->invocation, g_steal_pointer (&error));
      token_call_free (call);
      return;
    }

  return_token (call->self, call->invocation, call->account, call->reply, call->caller, info);
  token_call_free (call);
}

static void
start_token_call (BursarDaemon          *self,
                  BursarAccount         *account,
                  GDBusMethodInvocation *invocation,
                  const Caller          *caller,
                  TokenReply             reply,
                  guint                  min_valid,
                  gboolean               force)
{
  TokenCall *call;

  /* A valid cached token with nothing in flight is answered at once,
   * without the queue's GTask and its extra main-loop iteration. */
  if (!force)
    {
      g_autoptr(BursarTokenInfo) info = bursar_account_peek_token (account, min_valid);

      if (info != NULL)
        {
          return_token (self, invocation, account, reply, caller->description, info);
          /* GetAccessToken() again from this connection, while the same
           * token is good for it, needs nothing of the main loop. */
          if (reply == TOKEN_REPLY_SHORT && self->fast_path != NULL)
            bursar_fast_path_offer (self->fast_path,
                                    g_dbus_method_invocation_get_object_path (invocation),
                                    g_dbus_method_invocation_get_sender (invocation),
                                    caller->description, info->access_token, info->expires_at,
                                    info->expires_at == 0
                                    ? G_MAXINT64
                                    : info->expires_at - bursar_account_get_min_valid (account));
          return;
        }
    }

  call = g_new0 (TokenCall, 1);
  call->self = g_object_ref (self);
  call->invocation = g_object_ref (invocation);
  call->account = g_object_ref (account);
  call->reply = reply;
  call->caller = g_strdup (caller->description);
  bursar_account_get_token_async (account, min_valid, force, NULL, token_cb, call);
}

static void
do_get_access_token (BursarDaemon          *self,
                     GDBusMethodInvocation *invocation,
                     const Caller          *caller,
                     gpointer               data)
{
  start_token_call (self, data, invocation, caller, TOKEN_REPLY_SHORT, BURSAR_ACCOUNT_MIN_VALID, FALSE);
}

static void
do_refresh (BursarDaemon          *self,
            GDBusMethodInvocation *invocation,
            const Caller          *caller,
            gpointer               data)
{
  start_token_call (self, data, invocation, caller, TOKEN_REPLY_SHORT, BURSAR_ACCOUNT_MIN_VALID, TRUE);
}

static void
do_get_token (BursarDaemon          *self,
              GDBusMethodInvocation *invocation,
              const Caller          *caller,
              gpointer               data)
{
  GVariant *params = g_dbus_method_invocation_get_parameters (invocation);
  g_autoptr(GVariant) options = g_variant_get_child_value (params, 0);
  g_autoptr(GError) error = NULL;
  guint32 min_valid = BURSAR_ACCOUNT_MIN_VALID;

  if (!check_options (options, get_token_options, G_N_ELEMENTS (get_token_options), &error))
    {
      return_error (invocation, g_steal_pointer (&error));
      return;
    }
  g_variant_lookup (options, "min_valid", "u", &min_valid);
  /* More than a day cannot be promised by any provider we know; the bound
   * keeps the arithmetic far from overflow. */
  if (min_valid > 24 * 3600)
    {
      return_error (invocation, g_error_new_literal (BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                                                     _("Option “min_valid” is too large.")));
      return;
    }
  start_token_call (self, data, invocation, caller, TOKEN_REPLY_FULL, min_valid, FALSE);
}

/* --- authorization --------------------------------------------------- */

static void
authorize_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(GDBusMethodInvocation) invocation = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *url = NULL;

  url = bursar_account_authorize_finish (BURSAR_ACCOUNT (source), result, &error);
  if (url == NULL)
    {
      return_error (invocation, g_steal_pointer (&error));
      return;
    }
  g_dbus_method_invocation_return_value (invocation, g_variant_new ("(s)", url));
}

static void
do_authorize (BursarDaemon          *self,
              GDBusMethodInvocation *invocation,
              const Caller          *caller,
              gpointer               data)
{
  GVariant *params = g_dbus_method_invocation_get_parameters (invocation);
  g_autoptr(GVariant) options = g_variant_get_child_value (params, 0);
  g_autoptr(GError) error = NULL;
  gboolean open_browser = TRUE;

  if (!check_options (options, authorize_options, G_N_ELEMENTS (authorize_options), &error))
    {
      return_error (invocation, g_steal_pointer (&error));
      return;
    }
  g_variant_lookup (options, "open_browser", "b", &open_browser);
  bursar_account_authorize_async (data, open_browser, NULL, authorize_cb, g_object_ref (invocation));
}

static void
complete_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(GDBusMethodInvocation) invocation = user_data;
  g_autoptr(GError) error = NULL;

  if (!bursar_account_complete_authorization_finish (BURSAR_ACCOUNT (source), result, &error))
    {
      return_error (invocation, g_steal_pointer (&error));
      return;
    }
  g_dbus_method_invocation_return_value (invocation, NULL);
}

static void
do_complete_authorization (BursarDaemon          *self,
                           GDBusMethodInvocation *invocation,
                           const Caller          *caller,
                           gpointer               data)
{
  GVariant *params = g_dbus_method_invocation_get_parameters (invocation);
  const char *url = NULL;

  g_variant_get (params, "(&s)", &url);
  if (strlen (url) > MAX_STRING_ARG)
    {
      return_error (invocation, g_error_new_literal (BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                                                     _("The redirect URL is too long.")));
      return;
    }
  bursar_account_complete_authorization_async (data, url, NULL, complete_cb,
                                               g_object_ref (invocation));
}

/* --- removal ---------------------------------------------------------- */

typedef struct
{
  BursarDaemon *self;                /* (owned) */
  GDBusMethodInvocation *invocation; /* (owned) */
} RemoveCall;

static void
remove_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  RemoveCall *call = user_data;
  BursarAccount *account = BURSAR_ACCOUNT (source);
  g_autoptr(GError) error = NULL;

  if (!bursar_account_remove_finish (account, result, &error))
    return_error (call->invocation, g_steal_pointer (&error));
  else
    {
      g_message ("Account %s removed", bursar_account_get_id (account));
      unexport_account (call->self, account);
      g_dbus_method_invocation_return_value (call->invocation, NULL);
    }
  g_object_unref (call->self);
  g_object_unref (call->invocation);
  g_free (call);
}

static void
do_remove (BursarDaemon          *self,
           GDBusMethodInvocation *invocation,
           const Caller          *caller,
           gpointer               data)
{
  RemoveCall *call = g_new0 (RemoveCall, 1);

  call->self = g_object_ref (self);
  call->invocation = g_object_ref (invocation);
  bursar_account_remove_async (data, NULL, remove_cb, call);
}

/* --- grants for sandboxed apps ---------------------------------------- */

static void
do_set_app (BursarDaemon          *self,
            GDBusMethodInvocation *invocation,
            const Caller          *caller,
            gpointer               data)
{
  const char *app_id = NULL;
  gboolean allow = g_str_equal (g_dbus_method_invocation_get_method_name (invocation), "AllowApp");

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(&s)", &app_id);
  /* Flatpak app ids are D-Bus names with at least three elements. */
  if (strlen (app_id) > 255 || !g_dbus_is_name (app_id) || g_dbus_is_unique_name (app_id) ||
      strchr (strchr (app_id, '.') + 1, '.') == NULL)
    {
      return_error (invocation, g_error_new_literal (BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                                                     _("That is not a valid application id.")));
      return;
    }
  bursar_account_set_app_allowed (data, app_id, allow);
  g_message ("Account %s: %s %s", bursar_account_get_id (data),
             allow ? "allowed" : "denied", app_id);
  g_dbus_method_invocation_return_value (invocation, NULL);
}

/* --- dispatch of account methods ------------------------------------- */

static const struct
{
  const char *name;
  CallerPolicy policy;
  CallerContinuation continuation;
} account_methods[] = {
  { "GetAccessToken", POLICY_ACCOUNT, do_get_access_token },
  { "Refresh", POLICY_ACCOUNT, do_refresh },
  { "GetToken", POLICY_ACCOUNT, do_get_token },
  { "Authorize", POLICY_ACCOUNT, do_authorize },
  { "CompleteAuthorization", POLICY_ACCOUNT, do_complete_authorization },
  { "Remove", POLICY_ACCOUNT, do_remove },
  { "AllowApp", POLICY_HOST_ONLY, do_set_app },
  { "DenyApp", POLICY_HOST_ONLY, do_set_app },
};

/* Every account method starts with the caller check; GDBus has checked
 * the method name and the arguments' types against the introspection. */
static void
account_method_call (BursarAccount         *account,
                     GDBusMethodInvocation *invocation,
                     gpointer               user_data)
{
  BursarDaemon *self = user_data;
  const char *method = g_dbus_method_invocation_get_method_name (invocation);

  for (guint i = 0; i < G_N_ELEMENTS (account_methods); i++)
    if (g_str_equal (method, account_methods[i].name))
      {
        check_caller (self, invocation, account_methods[i].policy,
                      account_methods[i].continuation, account);
        return;
      }
  g_dbus_method_invocation_return_error (invocation, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD,
                                         "No such method %s", method);
}

/* --- Manager ---------------------------------------------------------- */

static GVariant *
strv_variant (const char * const *strv)
{
  const char * const empty[] = { NULL };

  return g_variant_new_strv (strv != NULL ? strv : empty, -1);
}

static void
do_list_providers (BursarDaemon          *self,
                   GDBusMethodInvocation *invocation,
                   const Caller          *caller,
                   gpointer               data)
{
  g_autoptr(GPtrArray) providers = bursar_provider_registry_list (self->providers);
  g_autoptr(GVariantBuilder) builder = g_variant_builder_new (G_VARIANT_TYPE ("aa{sv}"));

  for (guint i = 0; i < providers->len; i++)
    {
      BursarProvider *provider = g_ptr_array_index (providers, i);
      g_auto(GVariantDict) dict;

      g_variant_dict_init (&dict, NULL);
      g_variant_dict_insert (&dict, "id", "s", bursar_provider_get_id (provider));
      g_variant_dict_insert (&dict, "name", "s", bursar_provider_get_name (provider));
      g_variant_dict_insert_value (&dict, "flows", strv_variant (bursar_provider_get_flows (provider)));
      g_variant_dict_insert_value (&dict, "environments",
                                   strv_variant (bursar_provider_get_environments (provider)));
      g_variant_dict_insert_value (&dict, "default_scopes",
                                   strv_variant (bursar_provider_get_default_scopes (provider)));
      g_variant_dict_insert (&dict, "needs_client_secret", "b",
                             bursar_provider_get_needs_client_secret (provider));
      g_variant_builder_add_value (builder, g_variant_dict_end (&dict));
    }
  g_dbus_method_invocation_return_value (invocation,
                                         g_variant_new ("(aa{sv})", builder));
}

static gboolean
handle_list_providers (BursarDBusManager     *manager,
                       GDBusMethodInvocation *invocation,
                       gpointer               user_data)
{
  check_caller (user_data, invocation, POLICY_ANY, do_list_providers, NULL);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

typedef struct
{
  BursarDaemon *self;                /* (owned) */
  GDBusMethodInvocation *invocation; /* (owned) */
  BursarAccount *account;            /* (owned) */
  BursarSecrets *initial;            /* (owned) */
} AddCall;

static void
add_call_free (AddCall *call)
{
  g_clear_object (&call->self);
  g_clear_object (&call->invocation);
  g_clear_object (&call->account);
  g_clear_pointer (&call->initial, bursar_secrets_free);
  g_free (call);
}

static char *
new_account_id (BursarDaemon   *self,
                BursarProvider *provider)
{
  g_autofree char *prefix = g_strdup (bursar_provider_get_id (provider));

  /* Object path elements allow [A-Za-z0-9_] only. */
  for (char *p = prefix; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p))
      *p = '_';

  for (guint n = 1; ; n++)
    {
      g_autofree char *id = g_strdup_printf ("%s_%u", prefix, n);

      /* An account kept in the file but not loaded holds its id too. */
      if (!g_hash_table_contains (self->accounts, id) &&
          !bursar_account_store_has_account (self->account_store, id))
        return g_steal_pointer (&id);
    }
}

static void
add_setup_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  AddCall *call = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;

  if (!bursar_account_setup_finish (call->account, result, &error))
    {
      /* Nothing of a failed account stays behind. */
      bursar_secret_store_clear_async (call->self->secret_store,
                                       bursar_account_get_id (call->account),
                                       NULL, NULL, NULL);
      bursar_account_store_remove (call->self->account_store, bursar_account_get_id (call->account));
      return_error (call->invocation, g_steal_pointer (&error));
      add_call_free (call);
      return;
    }

  export_account (call->self, call->account);
  path = account_path (bursar_account_get_id (call->account));
  g_message ("Account %s added (provider %s, flow %s)", bursar_account_get_id (call->account),
             bursar_provider_get_id (bursar_account_get_provider (call->account)),
             bursar_account_get_config (call->account)->flow);
  g_dbus_method_invocation_return_value (call->invocation, g_variant_new ("(o)", path));
  add_call_free (call);
}

static void
add_finish_setup (AddCall *call)
{
  bursar_account_setup_async (call->account, call->initial, NULL, add_setup_cb, call);
}

static gboolean
store_endpoint (char       **field,
                const char  *url,
                const char  *what,
                gboolean     required,
                GError     **error)
{
  if (url == NULL)
    {
      if (required)
        {
          g_set_error (error, BURSAR_ERROR, BURSAR_ERROR_PROVIDER,
                       _("The provider's metadata has no %s."), what);
          return FALSE;
        }
      return TRUE;
    }
  if (!bursar_http_check_url (url, error))
    {
      g_prefix_error (error, "%s: ", what);
      return FALSE;
    }
  g_free (*field);
  *field = g_strdup (url);
  return TRUE;
}

static const char *
json_string (JsonObject *object,
             const char *member)
{
  JsonNode *node = json_object_get_member (object, member);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

static void
discovery_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  AddCall *call = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) metadata = NULL;
  BursarAccountConfig *config = bursar_account_get_config (call->account);
  gboolean needs_browser = g_strcmp0 (config->flow, "authorization_code") == 0;
  JsonNode *methods;
  JsonNode *iss_supported;

  metadata = bursar_http_get_json_finish (BURSAR_HTTP (source), result, &error);
  if (metadata == NULL)
    {
      g_prefix_error (&error, "%s ", _("OpenID discovery failed."));
      return_error (call->invocation, g_steal_pointer (&error));
      add_call_free (call);
      return;
    }

  /* RFC 8414 §3.3 / OIDC Discovery §4.3: the document must name exactly
   * the issuer it was fetched for, or it may be someone else's. */
  if (g_strcmp0 (json_string (metadata, "issuer"), config->issuer) != 0)
    {
      return_error (call->invocation,
                    g_error_new_literal (BURSAR_ERROR, BURSAR_ERROR_PROVIDER,
                                         _("The provider's discovery document names a different issuer.")));
      add_call_free (call);
      return;
    }

  /* RFC 7636: a server that lists its PKCE methods without S256 cannot be
   * used safely; never fall back to plain. */
  methods = json_object_get_member (metadata, "code_challenge_methods_supported");
  if (needs_browser && methods != NULL)
    {
      gboolean s256 = FALSE;

      if (JSON_NODE_HOLDS_ARRAY (methods))
        {
          JsonArray *array = json_node_get_array (methods);

          for (guint i = 0; i < json_array_get_length (array); i++)
            {
              JsonNode *m = json_array_get_element (array, i);

              if (JSON_NODE_HOLDS_VALUE (m) && json_node_get_value_type (m) == G_TYPE_STRING &&
                  g_strcmp0 (json_node_get_string (m), "S256") == 0)
                s256 = TRUE;
            }
        }
      if (!s256)
        {
          return_error (call->invocation,
                        g_error_new_literal (BURSAR_ERROR, BURSAR_ERROR_NOT_SUPPORTED,
                                             _("The provider does not support PKCE with S256, which Bursar requires.")));
          add_call_free (call);
          return;
        }
    }

  iss_supported = json_object_get_member (metadata, "authorization_response_iss_parameter_supported");
  config->issuer_required = iss_supported != NULL && JSON_NODE_HOLDS_VALUE (iss_supported) &&
                            json_node_get_value_type (iss_supported) == G_TYPE_BOOLEAN &&
                            json_node_get_boolean (iss_supported);

  if (!store_endpoint (&config->authorization_endpoint,
                       json_string (metadata, "authorization_endpoint"),
                       "authorization_endpoint", needs_browser, &error) ||
      !store_endpoint (&config->token_endpoint, json_string (metadata, "token_endpoint"),
                       "token_endpoint", TRUE, &error) ||
      !store_endpoint (&config->revocation_endpoint, json_string (metadata, "revocation_endpoint"),
                       "revocation_endpoint", FALSE, &error) ||
      !store_endpoint (&config->userinfo_endpoint, json_string (metadata, "userinfo_endpoint"),
                       "userinfo_endpoint", FALSE, &error))
    {
      return_error (call->invocation, g_steal_pointer (&error));
      add_call_free (call);
      return;
    }

  add_finish_setup (call);
}

static GStrv
build_scopes (BursarProvider *provider,
              GVariant       *options)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_autoptr(GPtrArray) seen = g_ptr_array_new ();
  g_autofree const char **given = NULL;
  const char * const *base;
  const char * const *required = bursar_provider_get_required_scopes (provider);

  if (g_variant_lookup (options, "scopes", "^a&s", &given))
    base = given;
  else
    base = bursar_provider_get_default_scopes (provider);

  for (guint i = 0; required != NULL && required[i] != NULL; i++)
    if (!g_ptr_array_find_with_equal_func (seen, required[i], g_str_equal, NULL))
      {
        g_ptr_array_add (seen, (gpointer) required[i]);
        g_strv_builder_add (builder, required[i]);
      }
  for (guint i = 0; base != NULL && base[i] != NULL; i++)
    if (*base[i] != '\0' && !g_ptr_array_find_with_equal_func (seen, base[i], g_str_equal, NULL))
      {
        g_ptr_array_add (seen, (gpointer) base[i]);
        g_strv_builder_add (builder, base[i]);
      }
  return g_strv_builder_end (builder);
}

static gboolean
check_scope_token (const char  *scope,
                   GError     **error)
{
  /* RFC 6749 §3.3 scope-token: %x21 / %x23-5B / %x5D-7E. */
  for (const char *p = scope; *p != '\0'; p++)
    {
      if (*p < 0x21 || *p > 0x7e || *p == '"' || *p == '\\' || *p == ',')
        {
          g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                               _("A scope contains a character that is not allowed."));
          return FALSE;
        }
    }
  return TRUE;
}

static void
do_add_account (BursarDaemon          *self,
                GDBusMethodInvocation *invocation,
                const Caller          *caller,
                gpointer               data)
{
  GVariant *params = g_dbus_method_invocation_get_parameters (invocation);
  g_autoptr(GVariant) options = g_variant_get_child_value (params, 1);
  g_autoptr(GError) error = NULL;
  g_autoptr(BursarAccount) account = NULL;
  g_autoptr(BursarSecrets) initial = bursar_secrets_new ();
  g_autofree char *id = NULL;
  g_autofree char *env_issuer = NULL;
  const char *provider_id = NULL;
  BursarProvider *provider;
  BursarAccountConfig *config;
  const char *flow, *environment, *value;
  const char *issuer, *authorization_endpoint, *token_endpoint, *redirect_uri, *base_url;
  gboolean signup = FALSE;
  AddCall *call;

  g_variant_get_child (params, 0, "&s", &provider_id);
  if (!check_options (options, add_account_options, G_N_ELEMENTS (add_account_options), &error))
    {
      return_error (invocation, g_steal_pointer (&error));
      return;
    }

  provider = bursar_provider_registry_lookup (self->providers, provider_id);
  if (provider == NULL)
    {
      g_autofree char *shown = g_utf8_make_valid (provider_id, MIN (strlen (provider_id), 64));

      return_error (invocation, g_error_new (BURSAR_ERROR, BURSAR_ERROR_UNKNOWN_PROVIDER,
                                             _("There is no provider “%s”."), shown));
      return;
    }

  flow = lookup_string (options, "flow");
  if (flow == NULL)
    flow = bursar_provider_get_flows (provider)[0];
  if (!bursar_provider_supports_flow (provider, flow))
    {
      return_error (invocation, g_error_new (BURSAR_ERROR, BURSAR_ERROR_NOT_SUPPORTED,
                                             _("Provider “%s” does not support the flow “%s”."),
                                             provider_id, flow));
      return;
    }

  environment = lookup_string (options, "environment");
  if (environment != NULL && !bursar_provider_has_environment (provider, environment))
    {
      return_error (invocation, g_error_new (BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                                             _("Provider “%s” has no environment “%s”."),
                                             provider_id, environment));
      return;
    }
  if (environment == NULL && bursar_provider_get_environments (provider) != NULL)
    environment = bursar_provider_get_environments (provider)[0];

  issuer = lookup_string (options, "issuer");
  authorization_endpoint = lookup_string (options, "authorization_endpoint");
  token_endpoint = lookup_string (options, "token_endpoint");
  redirect_uri = lookup_string (options, "redirect_uri");
  base_url = lookup_string (options, "base_url");

  /* A discovery provider with a fixed issuer per environment (Invora)
   * needs no issuer option; base_url moves it like every other URL. */
  if (issuer == NULL && bursar_provider_get_discovery (provider))
    {
      const char *from_file = bursar_provider_get_endpoint (provider, environment,
                                                            BURSAR_ENDPOINT_ISSUER);

      if (from_file != NULL)
        env_issuer = base_url != NULL ? bursar_http_rebase_url (from_file, base_url)
                                      : g_strdup (from_file);
      issuer = env_issuer;
    }

  /* Every URL is checked before anything is stored or fetched. */
  if ((issuer != NULL && !bursar_http_check_url (issuer, &error)) ||
      (authorization_endpoint != NULL && !bursar_http_check_url (authorization_endpoint, &error)) ||
      (token_endpoint != NULL && !bursar_http_check_url (token_endpoint, &error)) ||
      (base_url != NULL && !bursar_http_check_url (base_url, &error)))
    {
      return_error (invocation, g_steal_pointer (&error));
      return;
    }
  if (redirect_uri != NULL &&
      (!g_str_has_prefix (redirect_uri, "http://") || !bursar_http_url_is_loopback (redirect_uri)))
    {
      return_error (invocation, g_error_new_literal (BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                                                     _("The redirect URI must be an http:// address on the loopback interface.")));
      return;
    }

  if (bursar_provider_get_redirect_uri_required (provider) && redirect_uri == NULL &&
      g_str_equal (flow, "authorization_code"))
    {
      return_error (invocation, g_error_new (BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                                             _("Provider “%s” needs the option “redirect_uri”: the redirect registered with it."),
                                             provider_id));
      return;
    }
  if (bursar_provider_get_discovery (provider) && issuer == NULL)
    {
      return_error (invocation, g_error_new (BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                                             _("Provider “%s” needs the option “issuer”."), provider_id));
      return;
    }
  if (bursar_provider_get_endpoints_from_options (provider) &&
      (token_endpoint == NULL ||
       (authorization_endpoint == NULL && g_str_equal (flow, "authorization_code"))))
    {
      return_error (invocation, g_error_new (BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                                             _("Provider “%s” needs the options “authorization_endpoint” and “token_endpoint”."),
                                             provider_id));
      return;
    }
  if (!bursar_provider_get_endpoints_from_options (provider) &&
      (authorization_endpoint != NULL || token_endpoint != NULL))
    {
      return_error (invocation, g_error_new (BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                                             _("Provider “%s” takes its endpoints from its provider file; use “base_url” to point it elsewhere."),
                                             provider_id));
      return;
    }

  value = lookup_string (options, "token");
  if ((value != NULL) != g_str_equal (flow, "personal_access_token"))
    {
      return_error (invocation, g_error_new_literal (BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                                                     value != NULL
                                                     ? _("The option “token” is only for the flow “personal_access_token”.")
                                                     : _("The flow “personal_access_token” needs the option “token”.")));
      return;
    }
  initial->personal_token = g_strdup (value);
  initial->client_secret = g_strdup (lookup_string (options, "client_secret"));

  id = new_account_id (self, provider);
  account = bursar_account_new (id, provider, self->http, self->secret_store, self->account_store);
  config = bursar_account_get_config (account);
  config->flow = g_strdup (flow);
  config->environment = g_strdup (environment);
  config->label = g_strdup (lookup_string (options, "label"));
  config->client_id = g_strdup (lookup_string (options, "client_id"));
  config->issuer = g_strdup (issuer);
  config->authorization_endpoint = g_strdup (authorization_endpoint);
  config->token_endpoint = g_strdup (token_endpoint);
  config->redirect_uri = g_strdup (redirect_uri);
  config->base_url = g_strdup (base_url);
  config->target_org_id = g_strdup (lookup_string (options, "target_org_id"));
  /* An app that adds an account from its sandbox may use it. */
  if (caller->app_id != NULL && !caller->unknown)
    {
      const char *apps[] = { caller->app_id, NULL };

      config->allowed_apps = g_strdupv ((char **) apps);
    }
  if (g_variant_lookup (options, "signup", "b", &signup))
    config->signup = signup;
  config->scopes = build_scopes (provider, options);
  {
    const char * const *templated = bursar_provider_get_templated_scopes (provider);
    g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

    g_strv_builder_addv (builder, (const char **) config->scopes);
    for (guint i = 0; templated != NULL && templated[i] != NULL; i++)
      {
        g_autofree char *scope = bursar_account_expand_template (account, templated[i]);

        if (scope != NULL && !g_strv_contains ((const char * const *) config->scopes, scope))
          g_strv_builder_add (builder, scope);
      }
    g_strfreev (config->scopes);
    config->scopes = g_strv_builder_end (builder);
  }

  for (guint i = 0; config->scopes[i] != NULL; i++)
    if (!check_scope_token (config->scopes[i], &error))
      {
        return_error (invocation, g_steal_pointer (&error));
        return;
      }

  if (!g_str_equal (flow, "personal_access_token") &&
      config->client_id == NULL && bursar_provider_get_client_id (provider) == NULL)
    {
      return_error (invocation, g_error_new (BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                                             _("Provider “%s” needs the option “client_id”."), provider_id));
      return;
    }
  if (!g_str_equal (flow, "personal_access_token") &&
      initial->client_secret == NULL && bursar_provider_get_client_secret (provider) == NULL &&
      (bursar_provider_get_needs_client_secret (provider) || g_str_equal (flow, "client_credentials")))
    {
      return_error (invocation, g_error_new (BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                                             _("Provider “%s” needs the option “client_secret” for this flow."),
                                             provider_id));
      return;
    }
  if (!bursar_provider_get_discovery (provider) &&
      !bursar_provider_get_endpoints_from_options (provider) &&
      bursar_account_get_endpoint (account, BURSAR_ENDPOINT_TOKEN) == NULL &&
      !g_str_equal (flow, "personal_access_token"))
    {
      return_error (invocation, g_error_new_literal (BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT,
                                                     _("The provider file has no token endpoint for this environment.")));
      return;
    }
  /* With base_url, the rebased endpoints must still be acceptable. */
  for (BursarEndpoint e = BURSAR_ENDPOINT_AUTHORIZATION; e <= BURSAR_ENDPOINT_USERINFO; e++)
    {
      const char *url = bursar_account_get_endpoint (account, e);

      if (url != NULL && !bursar_http_check_url (url, &error))
        {
          return_error (invocation, g_steal_pointer (&error));
          return;
        }
    }

  call = g_new0 (AddCall, 1);
  call->self = g_object_ref (self);
  call->invocation = g_object_ref (invocation);
  call->account = g_steal_pointer (&account);
  call->initial = g_steal_pointer (&initial);

  if (bursar_provider_get_discovery (provider))
    {
      g_autofree char *trimmed = g_strdup (issuer);
      g_autofree char *url = NULL;

      if (g_str_has_suffix (trimmed, "/"))
        trimmed[strlen (trimmed) - 1] = '\0';
      url = g_strconcat (trimmed, "/.well-known/openid-configuration", NULL);
      bursar_http_get_json_async (self->http, url, NULL, self->cancellable, discovery_cb, call);
      return;
    }
  add_finish_setup (call);
}

static gboolean
handle_add_account (BursarDBusManager     *manager,
                    GDBusMethodInvocation *invocation,
                    const char            *provider,
                    GVariant              *options,
                    gpointer               user_data)
{
  check_caller (user_data, invocation, POLICY_ANY, do_add_account, NULL);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* --- start-up --------------------------------------------------------- */

/* BursarAccountStoreLoadFunc: one account of accounts.conf. An account
 * that is not loaded stays in the file as it is. */
static void
load_account (const char *account_id,
              GKeyFile   *kf,
              const char *group,
              gpointer    user_data)
{
  BursarDaemon *self = user_data;
  g_autofree char *provider_id = g_key_file_get_string (kf, group, "Provider", NULL);
  g_autoptr(BursarAccount) account = NULL;
  g_autoptr(GError) error = NULL;
  BursarProvider *provider;

  if (!g_regex_match_simple ("^[A-Za-z0-9_]+$", account_id, 0, 0))
    {
      g_warning ("accounts.conf: skipping account with invalid id “%s”", account_id);
      return;
    }
  provider = provider_id != NULL ? bursar_provider_registry_lookup (self->providers, provider_id) : NULL;
  if (provider == NULL)
    {
      /* Kept in the file: the provider file may come back. */
      g_warning ("accounts.conf: account %s uses unknown provider “%s”; not loaded",
                 account_id, provider_id != NULL ? provider_id : "");
      return;
    }
  account = bursar_account_new (account_id, provider, self->http, self->secret_store,
                                self->account_store);
  if (!bursar_account_load (account, kf, group, &error))
    {
      g_warning ("accounts.conf: %s; not loaded", error->message);
      return;
    }
  export_account (self, account);
}

/* Reads accounts.conf and exports its accounts; fails only for a file
 * that cannot be read or parsed. */
static gboolean
load_accounts (BursarDaemon  *self,
               GError       **error)
{
  if (!bursar_account_store_load (self->account_store, load_account, self, error))
    return FALSE;
  g_debug ("%u accounts loaded", g_hash_table_size (self->accounts));
  return TRUE;
}

/* --- the network ----------------------------------------------------- */

static gboolean
network_is_online (GNetworkMonitor *monitor)
{
  return g_network_monitor_get_network_available (monitor) &&
         g_network_monitor_get_connectivity (monitor) == G_NETWORK_CONNECTIVITY_FULL;
}

/* Refresh stays lazy (nothing wakes up while idle), except when the
 * network comes back: then the accounts in use whose refresh failed for
 * want of network, or whose token ran out meanwhile, are renewed at once
 * instead of making their next caller wait. */
static void
on_network_changed (BursarDaemon *self)
{
  gboolean online = network_is_online (self->network_monitor);
  GHashTableIter iter;
  gpointer value;
  guint started = 0;

  if (online == self->online)
    return;
  self->online = online;
  g_debug ("Network %s", online ? "online" : "offline");
  if (!online)
    return;

  g_hash_table_iter_init (&iter, self->accounts);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (bursar_account_refresh_if_due (BURSAR_ACCOUNT (value)))
      started++;
  if (started > 0)
    g_message ("Network back online: renewing %u account token(s)", started);
}

static void
watch_network (BursarDaemon *self)
{
  /* Netlink, or NetworkManager's connectivity when it runs: signals
   * only, no polling. */
  self->network_monitor = g_object_ref (g_network_monitor_get_default ());
  self->online = network_is_online (self->network_monitor);
  g_debug ("Network monitor %s, %s", G_OBJECT_TYPE_NAME (self->network_monitor),
           self->online ? "online" : "offline");
  g_signal_connect_object (self->network_monitor, "notify::network-available",
                           G_CALLBACK (on_network_changed), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->network_monitor, "notify::connectivity",
                           G_CALLBACK (on_network_changed), self, G_CONNECT_SWAPPED);
}

static void
on_store_idle (BursarDaemon *self)
{
  g_signal_emit (self, signals[SIGNAL_IDLE], 0);
}

gboolean
bursar_daemon_start (BursarDaemon  *self,
                     GError       **error)
{
  g_auto(GStrv) dirs = bursar_provider_registry_default_dirs ();
  g_autofree char *conf = g_build_filename (g_get_user_config_dir (), "bursar", "accounts.conf", NULL);

  self->providers = bursar_provider_registry_new ((const char * const *) dirs);
  self->http = bursar_http_new ();
  self->secret_store = bursar_secret_store_new ();
  self->notifier = bursar_notifier_new (self->connection);
  self->account_store = bursar_account_store_new (conf);
  g_signal_connect_object (self->account_store, "idle", G_CALLBACK (on_store_idle), self,
                           G_CONNECT_SWAPPED);

  self->fast_path = bursar_fast_path_new (self->connection, BURSAR_DBUS_ACCOUNTS_PATH,
                                         bursar_dbus_account_interface_info ()->name);
  self->manager = bursar_dbus_manager_skeleton_new ();
  bursar_dbus_manager_set_version (self->manager, PACKAGE_VERSION);
  g_signal_connect (self->manager, "handle-list-providers", G_CALLBACK (handle_list_providers), self);
  g_signal_connect (self->manager, "handle-add-account", G_CALLBACK (handle_add_account), self);

  /* Accounts are exported as they are read, so the file is read only
   * now that what export_account() uses exists. */
  if (!load_accounts (self, error))
    return FALSE;
  watch_network (self);

  if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (self->manager),
                                         self->connection, BURSAR_DBUS_PATH, error))
    return FALSE;
  self->account_bus = bursar_account_bus_new (self->connection, BURSAR_DBUS_PATH,
                                              BURSAR_DBUS_ACCOUNTS_PATH, self->accounts,
                                              account_method_call, self, error);
  return self->account_bus != NULL;
}
