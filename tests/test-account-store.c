/* test-account-store.c: accounts.conf kept as text, group by group.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include <glib/gstdio.h>

#include "bursar-account.h"
#include "bursar-account-store.h"
#include "bursar-error.h"
#include "bursar-http.h"
#include "bursar-provider.h"
#include "bursar-secret-store.h"

/* A file with a bit of everything: a preamble, comments inside groups and
 * above one, a group that is no account, and an account whose provider
 * does not exist. Written as GKeyFile writes, so an unchanged store must
 * write it back byte for byte. */
static const char sample[] =
  "# Accounts of bursard.\n"
  "# Edited by hand as well.\n"
  "\n"
  "[Account a_1]\n"
  "Provider=oidc\n"
  "# a comment inside a_1\n"
  "Label=First\n"
  "Flow=authorization_code\n"
  "ClientId=client-a\n"
  "Custom=kept\n"
  "\n"
  "[Other]\n"
  "# inside Other\n"
  "Color=blue\n"
  "Shape=round\n"
  "\n"
  "[Account a_2]\n"
  "Provider=oidc\n"
  "Label=Second\n"
  "\n"
  "# about gone_1\n"
  "[Account gone_1]\n"
  "Provider=gone\n"
  "Label=Kept\n";

static const char other_group[] =
  "[Other]\n"
  "# inside Other\n"
  "Color=blue\n"
  "Shape=round\n";

static const char gone_group[] =
  "# about gone_1\n"
  "[Account gone_1]\n"
  "Provider=gone\n"
  "Label=Kept\n";

typedef struct
{
  char *dir;   /* (owned) a fresh temporary directory */
  char *path;  /* (owned) accounts.conf in it */
} Fixture;

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  fixture->dir = g_dir_make_tmp ("bursar-test-store-XXXXXX", &error);
  g_assert_no_error (error);
  fixture->path = g_build_filename (fixture->dir, "accounts.conf", NULL);
}

static void
remove_tree (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  if (dir == NULL)
    {
      g_assert_true (g_remove (path) == 0 || errno == ENOENT);
      return;
    }
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      remove_tree (child);
    }
  g_assert_cmpint (g_rmdir (path), ==, 0);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  remove_tree (fixture->dir);
  g_free (fixture->dir);
  g_free (fixture->path);
}

static void
write_file (const char  *path,
            const char  *contents,
            gssize       length)
{
  g_autoptr(GError) error = NULL;

  g_file_set_contents (path, contents, length, &error);
  g_assert_no_error (error);
}

static char *
read_file (const char *path)
{
  g_autoptr(GError) error = NULL;
  char *contents = NULL;

  g_file_get_contents (path, &contents, NULL, &error);
  g_assert_no_error (error);
  return contents;
}

/* What the load function saw: the accounts in call order, and each one's
 * key file as text (the key file itself is freed after the call). */
typedef struct
{
  GPtrArray *ids;     /* (element-type utf8) */
  GHashTable *texts;  /* account id → g_key_file_to_data() */
} Seen;

static void
seen_clear (Seen *seen)
{
  g_clear_pointer (&seen->ids, g_ptr_array_unref);
  g_clear_pointer (&seen->texts, g_hash_table_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Seen, seen_clear)

static void
seen_init (Seen *seen)
{
  seen->ids = g_ptr_array_new_with_free_func (g_free);
  seen->texts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

static void
record_account (const char *account_id,
                GKeyFile   *keyfile,
                const char *group,
                gpointer    user_data)
{
  Seen *seen = user_data;
  g_autofree char *expected_group = g_strconcat ("Account ", account_id, NULL);
  g_auto(GStrv) groups = g_key_file_get_groups (keyfile, NULL);

  /* One group a call, the account's, and the group name to match. */
  g_assert_cmpstr (group, ==, expected_group);
  g_assert_cmpuint (g_strv_length (groups), ==, 1);
  g_assert_cmpstr (groups[0], ==, group);

  g_ptr_array_add (seen->ids, g_strdup (account_id));
  g_hash_table_insert (seen->texts, g_strdup (account_id),
                       g_key_file_to_data (keyfile, NULL, NULL));
}

static void
assert_ids (Seen               *seen,
            const char * const *expected)
{
  g_assert_cmpuint (seen->ids->len, ==, g_strv_length ((char **) expected));
  for (guint i = 0; expected[i] != NULL; i++)
    g_assert_cmpstr (g_ptr_array_index (seen->ids, i), ==, expected[i]);
}

/* The value of @key in what the load function saw of @account_id. */
static char *
seen_value (Seen       *seen,
            const char *account_id,
            const char *key)
{
  const char *text = g_hash_table_lookup (seen->texts, account_id);
  g_autofree char *group = g_strconcat ("Account ", account_id, NULL);
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_autoptr(GError) error = NULL;

  g_assert_nonnull (text);
  g_key_file_load_from_data (kf, text, (gsize) -1, G_KEY_FILE_NONE, &error);
  g_assert_no_error (error);
  return g_key_file_get_string (kf, group, key, NULL);
}

static void
assert_seen_value (Seen       *seen,
                   const char *account_id,
                   const char *key,
                   const char *expected)
{
  g_autofree char *value = seen_value (seen, account_id, key);

  g_assert_cmpstr (value, ==, expected);
}

static BursarAccountStore *
load_store (const char *path,
            Seen       *seen)
{
  g_autoptr(BursarAccountStore) store = bursar_account_store_new (path);
  g_autoptr(GError) error = NULL;

  g_assert_true (bursar_account_store_load (store, record_account, seen, &error));
  g_assert_no_error (error);
  return g_steal_pointer (&store);
}

static gboolean
idle_timeout_cb (gpointer user_data)
{
  g_error ("accounts.conf was not written within 10 s");
  return G_SOURCE_REMOVE;
}

/* Waits for the write that a change started. */
static void
wait_idle (BursarAccountStore *store)
{
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  gulong handler;
  guint timeout;

  /* Every change writes; not busy here would mean nothing was written. */
  g_assert_true (bursar_account_store_is_busy (store));
  handler = g_signal_connect_swapped (store, "idle", G_CALLBACK (g_main_loop_quit), loop);
  timeout = g_timeout_add_seconds (10, idle_timeout_cb, NULL);
  g_main_loop_run (loop);
  g_source_remove (timeout);
  g_signal_handler_disconnect (store, handler);
  g_assert_false (bursar_account_store_is_busy (store));
}

static void
assert_groups (GKeyFile           *kf,
               const char * const *expected)
{
  g_auto(GStrv) groups = g_key_file_get_groups (kf, NULL);

  g_assert_cmpuint (g_strv_length (groups), ==, g_strv_length ((char **) expected));
  for (guint i = 0; expected[i] != NULL; i++)
    g_assert_cmpstr (groups[i], ==, expected[i]);
}

static void
assert_string (GKeyFile   *kf,
               const char *group,
               const char *key,
               const char *expected)
{
  g_autofree char *value = g_key_file_get_string (kf, group, key, NULL);

  g_assert_cmpstr (value, ==, expected);
}

/* GKeyFile merges a repeated group, so a group written twice would go
 * unnoticed by parsing the file: count its headers in the text. */
static void
assert_header_once (const char *contents,
                    const char *group)
{
  g_autofree char *header = g_strdup_printf ("[%s]\n", group);
  const char *first = strstr (contents, header);

  g_assert_nonnull (first);
  g_assert_null (strstr (first + 1, header));
}

static GKeyFile *
parse_file (const char *path)
{
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_autoptr(GError) error = NULL;

  g_key_file_load_from_file (kf, path, G_KEY_FILE_KEEP_COMMENTS, &error);
  g_assert_no_error (error);
  return g_steal_pointer (&kf);
}

/* --- tests ------------------------------------------------------------ */

static void
test_load (Fixture       *fixture,
           gconstpointer  data)
{
  g_auto(Seen) seen = { NULL, };
  g_autoptr(BursarAccountStore) store = NULL;

  write_file (fixture->path, sample, -1);
  seen_init (&seen);
  store = load_store (fixture->path, &seen);

  /* Every account group, in file order, the other group not. */
  assert_ids (&seen, (const char *[]) { "a_1", "a_2", "gone_1", NULL });
  assert_seen_value (&seen, "a_1", "Provider", "oidc");
  assert_seen_value (&seen, "a_1", "Label", "First");
  assert_seen_value (&seen, "a_1", "Flow", "authorization_code");
  assert_seen_value (&seen, "a_1", "Custom", "kept");
  assert_seen_value (&seen, "a_2", "Label", "Second");
  assert_seen_value (&seen, "a_2", "Flow", NULL);
  assert_seen_value (&seen, "gone_1", "Provider", "gone");
  /* Each key file holds its own group only. */
  assert_seen_value (&seen, "a_2", "Color", NULL);

  g_assert_true (bursar_account_store_has_account (store, "a_1"));
  g_assert_true (bursar_account_store_has_account (store, "gone_1"));
  g_assert_false (bursar_account_store_has_account (store, "Other"));
  g_assert_false (bursar_account_store_has_account (store, "a_3"));
  /* Loading writes nothing. */
  g_assert_false (bursar_account_store_is_busy (store));
}

/* Nothing changed, nothing lost: the file comes back byte for byte. */
static void
test_round_trip (Fixture       *fixture,
                 gconstpointer  data)
{
  g_auto(Seen) seen = { NULL, };
  g_autoptr(BursarAccountStore) store = NULL;
  g_autofree char *contents = NULL;

  write_file (fixture->path, sample, -1);
  seen_init (&seen);
  store = load_store (fixture->path, &seen);
  bursar_account_store_save (store);
  wait_idle (store);

  contents = read_file (fixture->path);
  g_assert_cmpstr (contents, ==, sample);
}

static void
test_write (Fixture       *fixture,
            gconstpointer  data)
{
  g_auto(Seen) seen = { NULL, };
  g_auto(Seen) reloaded = { NULL, };
  g_autoptr(BursarAccountStore) store = NULL;
  g_autoptr(BursarAccountStore) store2 = NULL;
  g_autoptr(GKeyFile) a_1 = NULL;
  g_autoptr(GKeyFile) b_1 = g_key_file_new ();
  g_autoptr(GKeyFile) written = NULL;
  g_autofree char *contents = NULL;
  g_autofree char *comment = NULL;
  GStatBuf st;

  write_file (fixture->path, sample, -1);
  g_assert_cmpint (g_chmod (fixture->path, 0644), ==, 0);
  seen_init (&seen);
  store = load_store (fixture->path, &seen);

  /* Changed, removed, added, back to back: the writes coalesce. */
  a_1 = bursar_account_store_dup_account (store, "a_1");
  assert_string (a_1, "Account a_1", "Custom", "kept");
  g_key_file_set_string (a_1, "Account a_1", "Label", "Renamed");
  g_key_file_set_string (a_1, "Account a_1", "State", "ready");
  bursar_account_store_set_account (store, "a_1", a_1);
  bursar_account_store_remove (store, "a_2");
  g_key_file_set_string (b_1, "Account b_1", "Provider", "oidc");
  g_key_file_set_string (b_1, "Account b_1", "Label", "New");
  bursar_account_store_set_account (store, "b_1", b_1);
  g_assert_true (bursar_account_store_has_account (store, "b_1"));
  g_assert_false (bursar_account_store_has_account (store, "a_2"));
  wait_idle (store);

  contents = read_file (fixture->path);
  /* The preamble, and the groups no one changed, as they were. */
  g_assert_true (g_str_has_prefix (contents, "# Accounts of bursard.\n# Edited by hand as well.\n\n"
                                   "[Account a_1]\n"));
  g_assert_nonnull (strstr (contents, other_group));
  /* Its comment went with the account below a_2, not with a_2. */
  g_assert_nonnull (strstr (contents, gone_group));
  g_assert_null (strstr (contents, "a_2"));
  g_assert_null (strstr (contents, "Second"));
  /* The changed account keeps its place, its comment and the key bursard
   * does not know. */
  assert_header_once (contents, "Account a_1");
  assert_header_once (contents, "Account b_1");
  g_assert_nonnull (strstr (contents, "# a comment inside a_1\n"));

  written = parse_file (fixture->path);
  assert_groups (written, (const char *[]) { "Account a_1", "Other", "Account gone_1",
                                             "Account b_1", NULL });
  assert_string (written, "Account a_1", "Label", "Renamed");
  assert_string (written, "Account a_1", "State", "ready");
  assert_string (written, "Account a_1", "Flow", "authorization_code");
  assert_string (written, "Account a_1", "Custom", "kept");
  assert_string (written, "Account b_1", "Provider", "oidc");
  assert_string (written, "Account b_1", "Label", "New");
  assert_string (written, "Other", "Color", "blue");
  comment = g_key_file_get_comment (written, "Account gone_1", NULL, NULL);
  g_assert_nonnull (comment);
  g_assert_nonnull (strstr (comment, "about gone_1"));

  /* Written afresh, so private whatever the old file's mode. */
  g_assert_cmpint (g_stat (fixture->path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);

  /* And what was written loads again. */
  seen_init (&reloaded);
  store2 = load_store (fixture->path, &reloaded);
  assert_ids (&reloaded, (const char *[]) { "a_1", "gone_1", "b_1", NULL });
  assert_seen_value (&reloaded, "a_1", "Label", "Renamed");
  assert_seen_value (&reloaded, "b_1", "Label", "New");
}

/* Groups stay apart by a blank line, even when the file had none or
 * ended without a newline. */
static void
test_separators (Fixture       *fixture,
                 gconstpointer  data)
{
  g_auto(Seen) seen = { NULL, };
  g_autoptr(BursarAccountStore) store = NULL;
  g_autoptr(GKeyFile) n_1 = g_key_file_new ();
  g_autofree char *contents = NULL;

  write_file (fixture->path, "[Account a_1]\nA=1\n[Other]\nX=1", -1);
  seen_init (&seen);
  store = load_store (fixture->path, &seen);
  assert_ids (&seen, (const char *[]) { "a_1", NULL });

  g_key_file_set_string (n_1, "Account n_1", "N", "1");
  bursar_account_store_set_account (store, "n_1", n_1);
  wait_idle (store);

  contents = read_file (fixture->path);
  g_assert_cmpstr (contents, ==, "[Account a_1]\nA=1\n\n[Other]\nX=1\n\n[Account n_1]\nN=1\n");
}

/* The comment above a group goes with it; removing the group before
 * leaves it in place. */
static void
test_comment_above (Fixture       *fixture,
                    gconstpointer  data)
{
  g_auto(Seen) seen = { NULL, };
  g_autoptr(BursarAccountStore) store = NULL;
  g_autofree char *contents = NULL;

  write_file (fixture->path,
              "[Account a_1]\nA=1\n# about b_1\n[Account b_1]\nB=1\n\n# about c_1\n[Account c_1]\nC=1\n",
              -1);
  seen_init (&seen);
  store = load_store (fixture->path, &seen);
  bursar_account_store_remove (store, "a_1");
  bursar_account_store_remove (store, "c_1");
  wait_idle (store);

  contents = read_file (fixture->path);
  g_assert_cmpstr (contents, ==, "# about b_1\n[Account b_1]\nB=1\n");
}

static void
test_missing_file (Fixture       *fixture,
                   gconstpointer  data)
{
  g_auto(Seen) seen = { NULL, };
  g_autofree char *path = g_build_filename (fixture->dir, "bursar", "accounts.conf", NULL);
  g_autoptr(BursarAccountStore) store = NULL;
  g_autoptr(GKeyFile) n_1 = g_key_file_new ();
  g_autoptr(GKeyFile) empty = NULL;
  g_autofree char *contents = NULL;
  GStatBuf st;

  seen_init (&seen);
  store = load_store (path, &seen);
  assert_ids (&seen, (const char *[]) { NULL });
  g_assert_false (bursar_account_store_has_account (store, "n_1"));
  g_assert_false (bursar_account_store_is_busy (store));
  empty = bursar_account_store_dup_account (store, "n_1");
  g_assert_null (g_key_file_get_start_group (empty));

  /* The first account makes the directory and the file. */
  g_key_file_set_string (n_1, "Account n_1", "N", "1");
  bursar_account_store_set_account (store, "n_1", n_1);
  wait_idle (store);
  contents = read_file (path);
  g_assert_cmpstr (contents, ==, "[Account n_1]\nN=1\n");
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);

  /* Removing the last account leaves an empty file, and that loads. */
  bursar_account_store_remove (store, "n_1");
  wait_idle (store);
  g_clear_pointer (&contents, g_free);
  contents = read_file (path);
  g_assert_cmpstr (contents, ==, "");
  g_clear_object (&store);
  seen_clear (&seen);
  seen_init (&seen);
  store = load_store (path, &seen);
  assert_ids (&seen, (const char *[]) { NULL });
}

static void
assert_load_fails (const char *path,
                   const char *contents,
                   gssize      length)
{
  g_auto(Seen) seen = { NULL, };
  g_autoptr(BursarAccountStore) store = bursar_account_store_new (path);
  g_autoptr(GError) error = NULL;
  g_autofree char *prefix = g_strconcat (path, ": ", NULL);

  write_file (path, contents, length);
  seen_init (&seen);
  g_assert_false (bursar_account_store_load (store, record_account, &seen, &error));
  /* The code depends on what is wrong; the path is always said. */
  g_assert_nonnull (error);
  g_assert_cmpuint (error->domain, ==, G_KEY_FILE_ERROR);
  g_assert_true (g_str_has_prefix (error->message, prefix));
  /* Not one account of a broken file, and nothing of it kept. */
  assert_ids (&seen, (const char *[]) { NULL });
  g_assert_false (bursar_account_store_has_account (store, "a_1"));
}

static void
test_syntax_error (Fixture       *fixture,
                   gconstpointer  data)
{
  static const char with_nul[] = "[Account a_1]\nProvider=oi\0dc\n";

  /* In a group, after a good group, before any group, a NUL byte. */
  assert_load_fails (fixture->path, "[Account a_1]\nProvider=oidc\ngarbage\n", -1);
  assert_load_fails (fixture->path, "[Account a_1]\nProvider=oidc\n\n[Other]\ngarbage\n", -1);
  assert_load_fails (fixture->path, "Key=before any group\n[Account a_1]\nProvider=oidc\n", -1);
  assert_load_fails (fixture->path, "[Account a_1\nProvider=oidc\n", -1);
  assert_load_fails (fixture->path, with_nul, sizeof with_nul - 1);
}

/* A file that is there but cannot be read fails too, not as empty. A
 * directory stands for it: the tests may run as root. */
static void
test_unreadable (Fixture       *fixture,
                 gconstpointer  data)
{
  g_auto(Seen) seen = { NULL, };
  g_autoptr(BursarAccountStore) store = bursar_account_store_new (fixture->path);
  g_autoptr(GError) error = NULL;

  g_assert_cmpint (g_mkdir (fixture->path, 0700), ==, 0);
  seen_init (&seen);
  g_assert_false (bursar_account_store_load (store, record_account, &seen, &error));
  g_assert_nonnull (error);
  g_assert_cmpuint (error->domain, ==, G_FILE_ERROR);
  g_assert_nonnull (strstr (error->message, fixture->path));
  assert_ids (&seen, (const char *[]) { NULL });
}

/* A repeated group is one group, as GKeyFile reads it. */
static void
test_repeated_group (Fixture       *fixture,
                     gconstpointer  data)
{
  g_auto(Seen) seen = { NULL, };
  g_autoptr(BursarAccountStore) store = NULL;
  g_autoptr(GKeyFile) written = NULL;
  g_autofree char *contents = NULL;

  write_file (fixture->path,
              "[Account a_1]\nProvider=oidc\nLabel=First\n\n"
              "[Other]\nX=1\n\n"
              "[Account a_1]\nFlow=authorization_code\nLabel=Later\n",
              -1);
  seen_init (&seen);
  store = load_store (fixture->path, &seen);
  assert_ids (&seen, (const char *[]) { "a_1", NULL });
  assert_seen_value (&seen, "a_1", "Provider", "oidc");
  assert_seen_value (&seen, "a_1", "Flow", "authorization_code");
  assert_seen_value (&seen, "a_1", "Label", "Later");

  bursar_account_store_save (store);
  wait_idle (store);
  contents = read_file (fixture->path);
  /* Merged into the first, as GKeyFile would write it. */
  g_assert_true (g_str_has_prefix (contents, "[Account a_1]\n"));
  g_assert_nonnull (strstr (contents, "Label=Later\n\n[Other]\n"));
  written = parse_file (fixture->path);
  assert_groups (written, (const char *[]) { "Account a_1", "Other", NULL });
  assert_string (written, "Account a_1", "Provider", "oidc");
  assert_string (written, "Account a_1", "Flow", "authorization_code");
  assert_string (written, "Other", "X", "1");
}

/* bursar_account_load() and bursar_account_save() through the store. */
typedef struct
{
  BursarProvider *provider;
  BursarHttp *http;
  BursarSecretStore *secret_store;
  BursarAccountStore *store;
  GPtrArray *accounts;  /* (element-type BursarAccount) loaded ones */
  GPtrArray *failed;    /* (element-type utf8) ids that did not load */
} AccountLoad;

static void
load_account (const char *account_id,
              GKeyFile   *keyfile,
              const char *group,
              gpointer    user_data)
{
  AccountLoad *load = user_data;
  g_autoptr(BursarAccount) account = bursar_account_new (account_id, load->provider, load->http,
                                                         load->secret_store, load->store);
  g_autoptr(GError) error = NULL;

  if (!bursar_account_load (account, keyfile, group, &error))
    {
      g_assert_error (error, BURSAR_ERROR, BURSAR_ERROR_INVALID_ARGUMENT);
      g_ptr_array_add (load->failed, g_strdup (account_id));
      return;
    }
  g_ptr_array_add (load->accounts, g_steal_pointer (&account));
}

static void
test_account_save (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autofree char *provider_path = g_build_filename (g_getenv ("BURSAR_PROVIDERS_DIR"),
                                                     "oidc.provider", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GKeyFile) written = NULL;
  g_autofree char *contents = NULL;
  g_autofree char *state = NULL;
  g_auto(GStrv) apps = NULL;
  AccountLoad load = { NULL, };
  BursarAccount *account;

  write_file (fixture->path, sample, -1);
  load.provider = bursar_provider_new_from_file (provider_path, &error);
  g_assert_no_error (error);
  load.http = bursar_http_new ();
  load.secret_store = bursar_secret_store_new ();
  load.store = bursar_account_store_new (fixture->path);
  load.accounts = g_ptr_array_new_with_free_func (g_object_unref);
  load.failed = g_ptr_array_new_with_free_func (g_free);

  g_assert_true (bursar_account_store_load (load.store, load_account, &load, &error));
  g_assert_no_error (error);
  /* a_2 has no flow; gone_1 neither (its provider would be refused first
   * in bursard, here it is read with oidc's). */
  g_assert_cmpuint (load.accounts->len, ==, 1);
  g_assert_cmpuint (load.failed->len, ==, 2);
  account = g_ptr_array_index (load.accounts, 0);
  g_assert_cmpstr (bursar_account_get_id (account), ==, "a_1");
  g_assert_cmpstr (bursar_account_get_config (account)->label, ==, "First");
  g_assert_cmpstr (bursar_account_get_config (account)->client_id, ==, "client-a");

  bursar_account_set_app_allowed (account, "org.example.App", TRUE);
  wait_idle (load.store);

  written = parse_file (fixture->path);
  apps = g_key_file_get_string_list (written, "Account a_1", "AllowedApps", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstrv (apps, ((const char *[]) { "org.example.App", NULL }));
  assert_string (written, "Account a_1", "Label", "First");
  assert_string (written, "Account a_1", "ClientId", "client-a");
  state = g_key_file_get_string (written, "Account a_1", "State", NULL);
  g_assert_nonnull (state);
  /* What the account does not write stays, and so do the others. */
  assert_string (written, "Account a_1", "Custom", "kept");
  contents = read_file (fixture->path);
  assert_header_once (contents, "Account a_1");
  g_assert_nonnull (strstr (contents, "# a comment inside a_1\n"));
  g_assert_nonnull (strstr (contents, other_group));
  g_assert_nonnull (strstr (contents, "[Account a_2]\nProvider=oidc\nLabel=Second\n"));
  g_assert_nonnull (strstr (contents, gone_group));

  g_ptr_array_unref (load.accounts);
  g_ptr_array_unref (load.failed);
  g_object_unref (load.store);
  g_object_unref (load.secret_store);
  g_object_unref (load.http);
  g_object_unref (load.provider);
}

/* --- bound groups ------------------------------------------------------ */

/* What a test owner writes: Provider and Label. */
typedef struct
{
  const char *label;
} Owner;

static void
write_owner (gpointer    owner,
             GKeyFile   *keyfile,
             const char *group)
{
  Owner *o = owner;

  g_key_file_set_string (keyfile, group, "Provider", "oidc");
  g_key_file_set_string (keyfile, group, "Label", o->label);
}

static const char bind_sample[] =
  "[Account plain_1]\n"
  "Label=Plain\n"
  "Provider=oidc\n"
  "\n"
  "[Account comment_1]\n"
  "Provider=oidc\n"
  "# why this label\n"
  "Label=Plain\n"
  "\n"
  "[Account extra_1]\n"
  "Provider=oidc\n"
  "Label=Plain\n"
  "Custom=kept\n"
  "\n"
  "[Account other_1]\n"
  "Provider=oidc\n"
  "Label=Different\n";

/* A group the owner writes whole is written from the owner at every
 * write; any group holding more stays text; unbinding keeps what the
 * owner last wrote. */
static void
test_bind (Fixture       *fixture,
           gconstpointer  data)
{
  g_auto(Seen) seen = { NULL, };
  g_autoptr(BursarAccountStore) store = NULL;
  g_autoptr(GKeyFile) written = NULL;
  g_autoptr(GKeyFile) dup = NULL;
  g_autofree char *contents = NULL;
  Owner plain = { "Plain" }, other = { "Plain" }, fresh = { "New" };

  write_file (fixture->path, bind_sample, -1);
  seen_init (&seen);
  store = load_store (fixture->path, &seen);

  /* Key order does not matter; a comment, an unknown key or another value
   * keeps the text. */
  g_assert_true (bursar_account_store_bind (store, "plain_1", NULL, write_owner, &plain));
  g_assert_false (bursar_account_store_bind (store, "comment_1", NULL, write_owner, &other));
  g_assert_false (bursar_account_store_bind (store, "extra_1", NULL, write_owner, &other));
  g_assert_false (bursar_account_store_bind (store, "other_1", NULL, write_owner, &other));
  g_assert_true (bursar_account_store_bind (store, "new_1", NULL, write_owner, &fresh));
  g_assert_true (bursar_account_store_has_account (store, "new_1"));

  /* The owner's values at the time of the write. */
  plain.label = "Changed";
  dup = bursar_account_store_dup_account (store, "plain_1");
  assert_string (dup, "Account plain_1", "Label", "Changed");
  bursar_account_store_save (store);
  wait_idle (store);
  written = parse_file (fixture->path);
  assert_groups (written, (const char * const[]) { "Account plain_1", "Account comment_1",
                                                   "Account extra_1", "Account other_1",
                                                   "Account new_1", NULL });
  assert_string (written, "Account plain_1", "Label", "Changed");
  assert_string (written, "Account new_1", "Label", "New");
  contents = read_file (fixture->path);
  g_assert_nonnull (strstr (contents, "\n\n[Account comment_1]\nProvider=oidc\n# why this label\n"
                                      "Label=Plain\n\n[Account extra_1]\nProvider=oidc\n"
                                      "Label=Plain\nCustom=kept\n\n[Account other_1]\n"
                                      "Provider=oidc\nLabel=Different\n\n[Account new_1]\n"));

  /* Unbound, the group keeps what the owner wrote last. */
  bursar_account_store_unbind (store, "plain_1", &plain);
  plain.label = "After";
  /* Only the owner that bound it unbinds it. */
  bursar_account_store_unbind (store, "new_1", &plain);
  fresh.label = "Newer";
  bursar_account_store_remove (store, "other_1");
  wait_idle (store);
  g_clear_pointer (&written, g_key_file_unref);
  written = parse_file (fixture->path);
  assert_string (written, "Account plain_1", "Label", "Changed");
  assert_string (written, "Account new_1", "Label", "Newer");
  g_assert_false (g_key_file_has_group (written, "Account other_1"));

  /* A removed group stays removed when its owner lets go. */
  bursar_account_store_remove (store, "new_1");
  bursar_account_store_unbind (store, "new_1", &fresh);
  wait_idle (store);
  g_clear_pointer (&written, g_key_file_unref);
  written = parse_file (fixture->path);
  assert_groups (written, (const char * const[]) { "Account plain_1", "Account comment_1",
                                                   "Account extra_1", NULL });
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(name, func) \
  g_test_add ("/account-store/" name, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("load", test_load);
  ADD ("round-trip", test_round_trip);
  ADD ("write", test_write);
  ADD ("separators", test_separators);
  ADD ("comment-above", test_comment_above);
  ADD ("missing-file", test_missing_file);
  ADD ("syntax-error", test_syntax_error);
  ADD ("unreadable", test_unreadable);
  ADD ("repeated-group", test_repeated_group);
  ADD ("account-save", test_account_save);
  ADD ("bind", test_bind);
#undef ADD

  return g_test_run ();
}
