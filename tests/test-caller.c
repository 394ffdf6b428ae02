/* test-caller.c: telling Flatpak apps from host programs (bursar-caller.c).
 *
 * Mount tables are written by hand against a real runtime directory in a
 * temporary directory, then a real bubblewrap sandbox is identified both
 * through /proc/PID/root and through its mount table.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib-unix.h>
#include <glib/gstdio.h>

#include "bursar-caller.h"

#define APP "org.example.App"

/* A runtime directory whose name needs escaping in mountinfo. */
static char *tmpdir;       /* (owned) */
static char *runtime_dir;  /* (owned) tmpdir/"run time" */
static char *runtime_esc;  /* (owned) runtime_dir as the kernel writes it */
static char *dev;          /* (owned) "major:minor" of runtime_dir */

static void
write_file (const char *path,
            const char *contents,
            gssize      len)
{
  g_autoptr(GError) error = NULL;

  g_file_set_contents (path, contents, len, &error);
  g_assert_no_error (error);
}

static char *
instance_path (const char *instance,
               const char *name)
{
  return g_build_filename (runtime_dir, ".flatpak", instance, name, NULL);
}

/* RUNTIME/.flatpak/@instance/info with @contents (NULL: directory only). */
static void
make_instance (const char *instance,
               const char *contents)
{
  g_autofree char *dir = instance_path (instance, NULL);
  g_autofree char *info = instance_path (instance, "info");

  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  if (contents != NULL)
    write_file (info, contents, -1);
}

static void
setup_runtime (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  g_autoptr(GString) padded = NULL;
  struct stat st;

  tmpdir = g_dir_make_tmp ("bursar-caller-XXXXXX", &error);
  g_assert_no_error (error);
  runtime_dir = g_build_filename (tmpdir, "run time", NULL);
  g_assert_cmpint (g_mkdir (runtime_dir, 0700), ==, 0);
  g_assert_cmpint (stat (runtime_dir, &st), ==, 0);
  dev = g_strdup_printf ("%u:%u", major (st.st_dev), minor (st.st_dev));
  {
    g_auto(GStrv) parts = g_strsplit (runtime_dir, " ", -1);

    runtime_esc = g_strjoinv ("\\040", parts);
  }

  /* Good ones: as Flatpak writes them, and without [Instance]. */
  make_instance ("1234", "[Application]\nname=" APP "\n\n[Instance]\ninstance-id=1234\n");
  make_instance ("8000", "[Application]\nname=" APP "\n");
  /* Bad ones. */
  make_instance ("2000", NULL);
  path = instance_path ("2000", "info");
  g_assert_cmpint (symlink ("../1234/info", path), ==, 0);
  g_clear_pointer (&path, g_free);
  path = instance_path ("3000", NULL);
  g_assert_cmpint (symlink ("1234", path), ==, 0);
  g_clear_pointer (&path, g_free);
  make_instance ("4000", NULL);
  padded = g_string_new ("[Application]\nname=" APP "\n\n[Instance]\ninstance-id=5000\n");
  while (padded->len <= 64 * 1024)
    g_string_append (padded, "# padding padding padding padding padding padding\n");
  make_instance ("5000", padded->str);
  make_instance ("6000", "[Application]\nname=not an app id\n\n[Instance]\ninstance-id=6000\n");
  make_instance ("6001", "[Application]\nname=\n\n[Instance]\ninstance-id=6001\n");
  make_instance ("6002", "[Runtime]\nname=org.example.Platform\n\n[Instance]\ninstance-id=6002\n");
  make_instance ("6003", "this is [not a key file\n\x01\x02");
  make_instance ("7000", "[Application]\nname=" APP "\n\n[Instance]\ninstance-id=1\n");
  make_instance ("7001", "[Application]\nname=" APP "\n");
  make_instance ("9000", NULL);
  path = instance_path ("9000", "info");
  g_assert_cmpint (mkfifo (path, 0600), ==, 0);
  g_clear_pointer (&path, g_free);
}

static void
remove_tree (const char *path)
{
  struct stat st;

  if (lstat (path, &st) != 0)
    return;
  if (S_ISDIR (st.st_mode))
    {
      g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
      const char *name;

      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);

          remove_tree (child);
        }
      g_rmdir (path);
    }
  else
    {
      g_unlink (path);
    }
}

/* Replaces @RT@ (the escaped runtime directory) and @DEV@ in @template. */
static char *
expand (const char *template)
{
  g_autoptr(GString) text = g_string_new (template);

  g_string_replace (text, "@RT@", runtime_esc, 0);
  g_string_replace (text, "@DEV@", dev, 0);
  return g_string_free (g_steal_pointer (&text), FALSE);
}

/* A host's mount table, with the unusual but legal lines. */
#define HOST_LINES \
  "26 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n" \
  "27 26 0:5 / /dev rw,nosuid shared:2 master:9 - devtmpfs udev rw,size=10k\n" \
  "28 26 0:4 net:[4026531840] /run/netns/a rw - nsfs nsfs rw\n" \
  "29 26 0:33 / /mnt/with\\040space rw - tmpfs  rw\n" \
  "30 26 0:34 / /run/user/1000 rw,nosuid - tmpfs tmpfs rw,mode=700\n"

/* Flatpak's own shape: /.flatpak-info is a copy (--ro-bind-data), the
 * instance directory is bind-mounted from the host. */
#define FLATPAK_INFO_LINE \
  "90 80 0:38 /bindfileMAo3lY//deleted /.flatpak-info ro,nosuid,nodev - tmpfs tmpfs rw\n"
#define SANDBOX_ROOT \
  "80 70 0:37 / / rw,nosuid shared:40 - tmpfs tmpfs rw\n"
#define INSTANCE_LINE(id, root_id, dev) \
  "91 80 " dev " @RT@/.flatpak/" root_id " /run/flatpak/.flatpak/" id \
  " ro,nosuid,nodev - ext4 /dev/vda rw\n"
/* A hand-made sandbox's shape: the host file bind-mounted. */
#define BIND_LINE(id, dev) \
  "92 80 " dev " @RT@/.flatpak/" id "/info /.flatpak-info ro,nosuid,nodev - ext4 /dev/vda rw\n"

typedef struct
{
  const char *name;
  const char *mountinfo;
  BursarCallerKind expected;
} Case;

static const Case cases[] = {
  { "host", HOST_LINES, BURSAR_CALLER_HOST },
  { "flatpak", SANDBOX_ROOT FLATPAK_INFO_LINE INSTANCE_LINE ("1234", "1234", "@DEV@"),
    BURSAR_CALLER_APP },
  { "flatpak-other-mounts",
    HOST_LINES INSTANCE_LINE ("1234", "1234", "@DEV@") FLATPAK_INFO_LINE,
    BURSAR_CALLER_APP },
  { "bind", SANDBOX_ROOT BIND_LINE ("1234", "@DEV@"), BURSAR_CALLER_APP },
  { "bind-without-instance-id", SANDBOX_ROOT BIND_LINE ("8000", "@DEV@"), BURSAR_CALLER_APP },
  { "escaped-mount-point",
    SANDBOX_ROOT "92 80 @DEV@ @RT@/.flatpak/1234/info /.flatpak\\055info ro - ext4 /dev/vda rw\n",
    BURSAR_CALLER_APP },
  /* Which mount names the instance, and how. */
  { "no-instance-mount", SANDBOX_ROOT FLATPAK_INFO_LINE, BURSAR_CALLER_UNKNOWN },
  { "two-info-mounts", SANDBOX_ROOT FLATPAK_INFO_LINE BIND_LINE ("1234", "@DEV@"),
    BURSAR_CALLER_UNKNOWN },
  { "two-instance-mounts",
    SANDBOX_ROOT FLATPAK_INFO_LINE INSTANCE_LINE ("1234", "1234", "@DEV@")
    INSTANCE_LINE ("8000", "8000", "@DEV@"),
    BURSAR_CALLER_UNKNOWN },
  { "wrong-suffix",
    SANDBOX_ROOT "92 80 @DEV@ @RT@/.flatpak/1234/inf /.flatpak-info ro - ext4 /dev/vda rw\n",
    BURSAR_CALLER_UNKNOWN },
  { "wrong-dir-name",
    SANDBOX_ROOT "92 80 @DEV@ @RT@/flatpak/1234/info /.flatpak-info ro - ext4 /dev/vda rw\n",
    BURSAR_CALLER_UNKNOWN },
  { "instance-ids-differ", SANDBOX_ROOT FLATPAK_INFO_LINE INSTANCE_LINE ("1234", "8000", "@DEV@"),
    BURSAR_CALLER_UNKNOWN },
  { "non-digit-instance", SANDBOX_ROOT FLATPAK_INFO_LINE INSTANCE_LINE ("12a4", "12a4", "@DEV@"),
    BURSAR_CALLER_UNKNOWN },
  { "non-digit-instance-bind", SANDBOX_ROOT BIND_LINE ("12a4", "@DEV@"), BURSAR_CALLER_UNKNOWN },
  { "overlong-instance",
    SANDBOX_ROOT BIND_LINE ("123456789012345678901", "@DEV@"), BURSAR_CALLER_UNKNOWN },
  { "not-from-runtime-dir",
    SANDBOX_ROOT "92 80 @DEV@ /elsewhere/.flatpak/1234/info /.flatpak-info ro - ext4 /dev/vda rw\n",
    BURSAR_CALLER_UNKNOWN },
  { "device-mismatch", SANDBOX_ROOT FLATPAK_INFO_LINE INSTANCE_LINE ("1234", "1234", "999:999"),
    BURSAR_CALLER_UNKNOWN },
  { "device-mismatch-bind", SANDBOX_ROOT BIND_LINE ("1234", "999:999"), BURSAR_CALLER_UNKNOWN },
  /* The host side of the instance. */
  { "info-symlink", SANDBOX_ROOT BIND_LINE ("2000", "@DEV@"), BURSAR_CALLER_UNKNOWN },
  { "instance-dir-symlink", SANDBOX_ROOT FLATPAK_INFO_LINE INSTANCE_LINE ("3000", "3000", "@DEV@"),
    BURSAR_CALLER_UNKNOWN },
  { "info-missing", SANDBOX_ROOT FLATPAK_INFO_LINE INSTANCE_LINE ("4000", "4000", "@DEV@"),
    BURSAR_CALLER_UNKNOWN },
  { "instance-missing", SANDBOX_ROOT FLATPAK_INFO_LINE INSTANCE_LINE ("4001", "4001", "@DEV@"),
    BURSAR_CALLER_UNKNOWN },
  { "info-oversized", SANDBOX_ROOT FLATPAK_INFO_LINE INSTANCE_LINE ("5000", "5000", "@DEV@"),
    BURSAR_CALLER_UNKNOWN },
  { "info-fifo", SANDBOX_ROOT BIND_LINE ("9000", "@DEV@"), BURSAR_CALLER_UNKNOWN },
  { "app-id-garbage", SANDBOX_ROOT FLATPAK_INFO_LINE INSTANCE_LINE ("6000", "6000", "@DEV@"),
    BURSAR_CALLER_UNKNOWN },
  { "app-id-empty", SANDBOX_ROOT FLATPAK_INFO_LINE INSTANCE_LINE ("6001", "6001", "@DEV@"),
    BURSAR_CALLER_UNKNOWN },
  { "runtime-not-app", SANDBOX_ROOT FLATPAK_INFO_LINE INSTANCE_LINE ("6002", "6002", "@DEV@"),
    BURSAR_CALLER_UNKNOWN },
  { "info-not-key-file", SANDBOX_ROOT FLATPAK_INFO_LINE INSTANCE_LINE ("6003", "6003", "@DEV@"),
    BURSAR_CALLER_UNKNOWN },
  { "info-other-instance", SANDBOX_ROOT FLATPAK_INFO_LINE INSTANCE_LINE ("7000", "7000", "@DEV@"),
    BURSAR_CALLER_UNKNOWN },
  { "info-without-instance", SANDBOX_ROOT FLATPAK_INFO_LINE INSTANCE_LINE ("7001", "7001", "@DEV@"),
    BURSAR_CALLER_UNKNOWN },
  /* Not a mount table: never "host". */
  { "empty", "", BURSAR_CALLER_UNKNOWN },
  { "truncated", "26 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw", BURSAR_CALLER_UNKNOWN },
  { "truncated-mid-line", HOST_LINES "31 26 0:35 / /x", BURSAR_CALLER_UNKNOWN },
  { "no-separator", "26 1 254:0 / / rw shared:1 ext4 /dev/vda rw x\n", BURSAR_CALLER_UNKNOWN },
  { "too-many-after-separator", "26 1 254:0 / / rw - ext4 /dev/vda rw x\n", BURSAR_CALLER_UNKNOWN },
  { "bad-ids", "2x6 1 254:0 / / rw - ext4 /dev/vda rw\n", BURSAR_CALLER_UNKNOWN },
  { "bad-device", "26 1 254 / / rw - ext4 /dev/vda rw\n", BURSAR_CALLER_UNKNOWN },
  { "huge-device", "26 1 99999999999:0 / / rw - ext4 /dev/vda rw\n", BURSAR_CALLER_UNKNOWN },
  { "bad-escape", "26 1 254:0 / /a\\x rw - ext4 /dev/vda rw\n", BURSAR_CALLER_UNKNOWN },
  { "escaped-nul", "26 1 254:0 / /a\\000 rw - ext4 /dev/vda rw\n", BURSAR_CALLER_UNKNOWN },
  { "short-escape", "26 1 254:0 / /a\\04 rw - ext4 /dev/vda rw\n", BURSAR_CALLER_UNKNOWN },
  { "relative-mount-point", "26 1 254:0 / a rw - ext4 /dev/vda rw\n", BURSAR_CALLER_UNKNOWN },
  { "garbage", HOST_LINES "\x01\x02 garbage\n", BURSAR_CALLER_UNKNOWN },
  { "blank-line", HOST_LINES "\n", BURSAR_CALLER_UNKNOWN },
  { "double-space", "26  1 254:0 / / rw - ext4 /dev/vda rw\n", BURSAR_CALLER_UNKNOWN },
};

static void
test_mountinfo (gconstpointer data)
{
  const Case *c = data;
  g_autofree char *text = expand (c->mountinfo);
  g_autofree char *app_id = NULL;
  g_autoptr(GError) error = NULL;
  BursarCallerKind kind;

  kind = bursar_caller_parse_mountinfo (text, strlen (text), runtime_dir, &app_id, &error);
  if (error != NULL)
    g_test_message ("%s: %s", c->name, error->message);
  g_assert_cmpint (kind, ==, c->expected);
  g_assert_true ((error != NULL) == (kind == BURSAR_CALLER_UNKNOWN));
  g_assert_cmpstr (app_id, ==, kind == BURSAR_CALLER_APP ? APP : NULL);
}

static void
test_nul_byte (void)
{
  static const char text[] = "26 1 254:0 / / rw - ext4 /dev/vda rw\n\0";
  g_autofree char *app_id = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_cmpint (bursar_caller_parse_mountinfo (text, sizeof text - 1, runtime_dir,
                                                  &app_id, &error),
                   ==, BURSAR_CALLER_UNKNOWN);
  g_assert_nonnull (error);
  g_assert_null (app_id);
}

/* Over 1 MiB of well-formed host lines: refused, not scanned for ever. */
static void
test_huge (void)
{
  g_autoptr(GString) text = g_string_new (NULL);
  g_autofree char *app_id = NULL;
  g_autoptr(GError) error = NULL;

  while (text->len <= 1024 * 1024)
    g_string_append (text, HOST_LINES);
  g_assert_cmpint (bursar_caller_parse_mountinfo (text->str, text->len, runtime_dir,
                                                  &app_id, &error),
                   ==, BURSAR_CALLER_UNKNOWN);
  g_assert_nonnull (error);

  /* The same lines, under the bound, are a host. */
  g_clear_error (&error);
  g_string_truncate (text, 512 * 1024);
  g_string_truncate (text, (gsize) (strrchr (text->str, '\n') - text->str) + 1);
  g_assert_cmpint (bursar_caller_parse_mountinfo (text->str, text->len, runtime_dir,
                                                  &app_id, &error),
                   ==, BURSAR_CALLER_HOST);
  g_assert_no_error (error);
}

/* This test process, a vanished PID and PID 0, both ways. */
static void
test_processes (void)
{
  g_autofree char *app_id = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_cmpint (bursar_caller_identify_app ((guint32) getpid (), &app_id, &error),
                   ==, BURSAR_CALLER_HOST);
  g_assert_no_error (error);
  g_assert_cmpint (bursar_caller_identify_app_from_mountinfo ((guint32) getpid (), runtime_dir,
                                                              &app_id, &error),
                   ==, BURSAR_CALLER_HOST);
  g_assert_no_error (error);
  g_assert_null (app_id);

  g_assert_cmpint (bursar_caller_identify_app (0, &app_id, &error), ==, BURSAR_CALLER_UNKNOWN);
  g_clear_error (&error);
  /* Above the kernel's PID_MAX_LIMIT (2^22): never a process. */
  g_assert_cmpint (bursar_caller_identify_app (G_MAXUINT32 - 1, &app_id, &error),
                   ==, BURSAR_CALLER_UNKNOWN);
  g_clear_error (&error);
  g_assert_cmpint (bursar_caller_identify_app_from_mountinfo (G_MAXUINT32 - 1, runtime_dir,
                                                              &app_id, &error),
                   ==, BURSAR_CALLER_UNKNOWN);
  g_assert_nonnull (error);
  g_assert_null (app_id);
}

/* Starts `sleep` in a bubblewrap sandbox with the extra bwrap @args and
 * returns the sandboxed process's PID once it runs (bwrap's own PID stays
 * outside the sandbox's mount namespace). */
static GSubprocess *
spawn_sandbox (const char * const *args,
               int                 data_fd,
               guint32            *out_pid)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) info = g_string_new (NULL);
  GSubprocess *proc;
  int pipe_fds[2];
  const char *child;
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  g_assert_true (g_unix_open_pipe (pipe_fds, FD_CLOEXEC, &error));
  g_assert_no_error (error);
  g_subprocess_launcher_take_fd (launcher, pipe_fds[1], 4);
  if (data_fd >= 0)
    g_subprocess_launcher_take_fd (launcher, data_fd, 3);
  /* A tmpfs root with the system read-only on it, as tests/test-faults.c
   * does: binding the host's / would create the /.flatpak-info mount
   * point on the host's own root. */
  for (const char * const *a = (const char * const[]) {
         "bwrap", "--die-with-parent", "--info-fd", "4",
         "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib",
         "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin",
         "--proc", "/proc", "--dev", "/dev", NULL };
       *a != NULL; a++)
    g_ptr_array_add (argv, (gpointer) *a);
  for (const char * const *a = args; *a != NULL; a++)
    g_ptr_array_add (argv, (gpointer) *a);
  for (const char * const *a = (const char * const[]) { "sleep", "30", NULL }; *a != NULL; a++)
    g_ptr_array_add (argv, (gpointer) *a);
  g_ptr_array_add (argv, NULL);
  proc = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);

  /* --info-fd gives {"child-pid": N}. */
  while (strchr (info->str, '}') == NULL)
    {
      char buffer[256];
      ssize_t n = read (pipe_fds[0], buffer, sizeof buffer);

      if (n < 0 && errno == EINTR)
        continue;
      g_assert_cmpint (n, >, 0);
      g_string_append_len (info, buffer, n);
    }
  close (pipe_fds[0]);
  child = strstr (info->str, "\"child-pid\":");
  g_assert_nonnull (child);
  *out_pid = (guint32) g_ascii_strtoull (child + strlen ("\"child-pid\":"), NULL, 10);
  g_assert_cmpuint (*out_pid, >, 0);

  /* Wait until the sandbox is set up and `sleep` runs. */
  for (;;)
    {
      g_autofree char *link = g_strdup_printf ("/proc/%u/exe", *out_pid);
      g_autofree char *exe = g_file_read_link (link, NULL);

      if (exe != NULL && g_str_has_suffix (exe, "/sleep"))
        break;
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (10 * 1000);
    }
  return proc;
}

static void
stop_sandbox (GSubprocess *proc,
              guint32      pid)
{
  kill ((pid_t) pid, SIGKILL);
  g_subprocess_force_exit (proc);
  g_subprocess_wait (proc, NULL, NULL);
}

static void
assert_app_both_ways (guint32 pid)
{
  g_autofree char *via_root = NULL;
  g_autofree char *via_mountinfo = NULL;
  g_autoptr(GError) error = NULL;

  /* Step 1, as the portal: /proc/PID/root is open to us here. */
  g_assert_cmpint (bursar_caller_identify_app (pid, &via_root, &error), ==, BURSAR_CALLER_APP);
  g_assert_no_error (error);
  /* The fallback the daemon takes in its own user namespace. */
  g_assert_cmpint (bursar_caller_identify_app_from_mountinfo (pid, runtime_dir, &via_mountinfo,
                                                              &error),
                   ==, BURSAR_CALLER_APP);
  g_assert_no_error (error);
  g_assert_cmpstr (via_root, ==, APP);
  g_assert_cmpstr (via_mountinfo, ==, APP);
}

/* The host file bind-mounted on /.flatpak-info, as tests/test-faults.c
 * builds its sandbox. */

/* bwrap is a test dependency (scripts/install-deps.sh): missing, the test
 * fails rather than skips. */
static void
assert_have_bwrap (void)
{
  g_autofree char *bwrap = g_find_program_in_path ("bwrap");

  g_assert_nonnull (bwrap);
}

static void
test_bwrap_bind (void)
{
  g_autofree char *info = instance_path ("1234", "info");
  g_autoptr(GSubprocess) proc = NULL;
  guint32 pid;

  assert_have_bwrap ();
  proc = spawn_sandbox ((const char * const[]) { "--ro-bind", info, "/.flatpak-info", NULL },
                        -1, &pid);
  assert_app_both_ways (pid);
  stop_sandbox (proc, pid);
}

/* As `flatpak run` builds it: a copy of the info file on /.flatpak-info
 * and the instance directory on /run/flatpak/.flatpak/ID. */
static void
test_bwrap_flatpak (void)
{
  g_autofree char *info = instance_path ("1234", "info");
  g_autofree char *dir = instance_path ("1234", NULL);
  g_autoptr(GSubprocess) proc = NULL;
  guint32 pid;
  int fd;

  assert_have_bwrap ();
  fd = g_open (info, O_RDONLY | O_CLOEXEC, 0);
  g_assert_cmpint (fd, >=, 0);
  proc = spawn_sandbox ((const char * const[]) {
                          "--ro-bind", dir, "/run/flatpak/.flatpak/1234",
                          "--ro-bind-data", "3", "/.flatpak-info", NULL },
                        fd, &pid);
  assert_app_both_ways (pid);
  stop_sandbox (proc, pid);
}

int
main (int   argc,
      char *argv[])
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  setup_runtime ();

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_strconcat ("/caller/mountinfo/", cases[i].name, NULL);

      g_test_add_data_func (path, &cases[i], test_mountinfo);
    }
  g_test_add_func ("/caller/mountinfo/nul-byte", test_nul_byte);
  g_test_add_func ("/caller/mountinfo/huge", test_huge);
  g_test_add_func ("/caller/processes", test_processes);
  g_test_add_func ("/caller/bwrap/bind", test_bwrap_bind);
  g_test_add_func ("/caller/bwrap/flatpak", test_bwrap_flatpak);

  ret = g_test_run ();
  remove_tree (tmpdir);
  g_free (tmpdir);
  g_free (runtime_dir);
  g_free (runtime_esc);
  g_free (dev);
  return ret;
}
