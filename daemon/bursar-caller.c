/* bursar-caller.c: tells a Flatpak app from a host program by its PID.
 *
 * First as xdg-desktop-portal does it: a Flatpak sandbox's root has
 * /.flatpak-info, a read-only mount the app cannot change; the host's root
 * has none. Read through /proc/PID/root it is the file the caller sees.
 *
 * bursard runs in its own user namespace (PrivateUsers=yes in the unit),
 * and there the kernel refuses /proc/PID/root of every process outside it,
 * same uid or not; /proc/PID/mountinfo stays readable. So, if (and only
 * if) /proc/PID/root is refused, the caller's mount table is read instead:
 *
 * - No mount point /.flatpak-info: a host program (as the portal's ENOENT).
 * - Flatpak (checked against common/flatpak-run.c,
 *   flatpak_run_add_app_info_args()) writes the instance's info file to
 *   $XDG_RUNTIME_DIR/.flatpak/INSTANCE-ID/info on the host, mounts a copy
 *   of it at /.flatpak-info (--ro-bind-data: the mount's root is a deleted
 *   file on bubblewrap's tmpfs, not the host file) and bind-mounts the
 *   host's instance directory read-only at /run/flatpak/.flatpak/INSTANCE-ID.
 *   That mount names the instance; its device must be the device of the
 *   host directory we open, its root must be the tail of that directory's
 *   path, and the info file's [Instance] instance-id must name it too.
 * - A plain bind mount of the host info file onto /.flatpak-info (root
 *   ".../.flatpak/INSTANCE-ID/info", as a hand-made bwrap sandbox does) is
 *   accepted the same way, against that mount's device.
 *
 * Why this can be trusted as much as the portal's way: mountinfo is
 * written by the kernel, not by the caller; an app inside a Flatpak
 * sandbox has no privilege to mount or unmount anything (no capabilities,
 * and Flatpak's seccomp filter refuses mount, umount, the new mount API
 * and new user namespaces), so /.flatpak-info and the instance mount are
 * the ones Flatpak set up; and the host file we then read is, by device
 * and path, the file Flatpak wrote for that very instance — the one the
 * portal would read through /proc/PID/root. The host's
 * $XDG_RUNTIME_DIR/.flatpak is writable only by same-user host processes,
 * which are not a boundary (SECURITY.md). Any doubt — unreadable or
 * oversized input, a malformed line, two candidate mounts, a device or id
 * mismatch, a symlink, an invalid app id — is "unknown", i.e. refused.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "bursar-caller.h"

#define MOUNTINFO_MAX (1024 * 1024)
#define INFO_MAX (64 * 1024)
#define INSTANCE_ID_MAX 20
#define FLATPAK_INFO_MOUNT "/.flatpak-info"
#define FLATPAK_INSTANCE_MOUNT_PREFIX "/run/flatpak/.flatpak/"

typedef struct
{
  guint32 major;
  guint32 minor;
  char *root;         /* (owned) unescaped */
  char *mount_point;  /* (owned) unescaped */
} Mount;

static void
mount_free (Mount *mount)
{
  g_free (mount->root);
  g_free (mount->mount_point);
  g_free (mount);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Mount, mount_free)

static BursarCallerKind
fail (GError    **error,
      const char *format,
      ...) G_GNUC_PRINTF (2, 3);

static BursarCallerKind
fail (GError    **error,
      const char *format,
      ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, message);
  return BURSAR_CALLER_UNKNOWN;
}

static BursarCallerKind
fail_errno (GError    **error,
            int         errsv,
            const char *what)
{
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
               "%s: %s", what, g_strerror (errsv));
  return BURSAR_CALLER_UNKNOWN;
}

static gboolean
is_digits (const char *s,
           gsize       len,
           gsize       max_len)
{
  if (len == 0 || len > max_len)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    {
      if (!g_ascii_isdigit (s[i]))
        return FALSE;
    }
  return TRUE;
}

static gboolean
parse_u32 (const char *s,
           gsize       len,
           guint32    *out)
{
  guint64 value = 0;

  if (!is_digits (s, len, 10))
    return FALSE;
  for (gsize i = 0; i < len; i++)
    value = value * 10 + (guint64) (s[i] - '0');
  if (value > G_MAXUINT32)
    return FALSE;
  *out = (guint32) value;
  return TRUE;
}

/* The kernel writes space, tab, newline and backslash (newer kernels
 * also '#') in paths as \ooo. Anything else after a backslash, or an
 * escaped NUL, is not kernel output: refused. */
static char *
unescape_path (const char *field)
{
  g_autoptr(GString) out = g_string_sized_new (strlen (field));

  if (field[0] == '\0')
    return NULL;
  for (const char *p = field; *p != '\0'; p++)
    {
      int value;

      if (*p != '\\')
        {
          g_string_append_c (out, *p);
          continue;
        }
      if (p[1] < '0' || p[1] > '3' || p[2] < '0' || p[2] > '7' || p[3] < '0' || p[3] > '7')
        return NULL;
      value = (p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0');
      if (value == 0)
        return NULL;
      g_string_append_c (out, (char) value);
      p += 3;
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* One line of /proc/PID/mountinfo (proc(5)): mount ID, parent ID,
 * major:minor, root, mount point, mount options, optional fields ending
 * with "-", filesystem type, source, super options. */
static Mount *
parse_line (const char *line)
{
  g_auto(GStrv) fields = g_strsplit (line, " ", 0);
  g_autoptr(Mount) mount = g_new0 (Mount, 1);
  guint n = g_strv_length (fields);
  guint32 id;
  const char *colon;
  guint sep = 0;

  if (n < 10)
    return NULL;
  if (!parse_u32 (fields[0], strlen (fields[0]), &id) ||
      !parse_u32 (fields[1], strlen (fields[1]), &id))
    return NULL;
  colon = strchr (fields[2], ':');
  if (colon == NULL ||
      !parse_u32 (fields[2], (gsize) (colon - fields[2]), &mount->major) ||
      !parse_u32 (colon + 1, strlen (colon + 1), &mount->minor))
    return NULL;
  /* A root need not be a path ("net:[4026531840]" for a bind-mounted
   * namespace); a mount point always is one. */
  mount->root = unescape_path (fields[3]);
  mount->mount_point = unescape_path (fields[4]);
  if (mount->root == NULL || mount->mount_point == NULL ||
      mount->mount_point[0] != '/' || *fields[5] == '\0')
    return NULL;
  for (guint i = 6; i < n; i++)
    {
      if (g_str_equal (fields[i], "-"))
        {
          sep = i;
          break;
        }
      if (*fields[i] == '\0')
        return NULL;
    }
  /* "-" then exactly filesystem type, source and super options. */
  if (sep == 0 || n - sep != 4 || *fields[sep + 1] == '\0')
    return NULL;
  return g_steal_pointer (&mount);
}

/* The INSTANCE-ID in @path = ".../.flatpak/INSTANCE-ID@tail", or NULL. */
static char *
instance_id_in_path (const char *path,
                     const char *tail)
{
  gsize len = strlen (path);
  gsize tail_len = strlen (tail);
  const char *end;
  const char *start;

  if (len < tail_len || !g_str_has_suffix (path, tail))
    return NULL;
  end = path + len - tail_len;
  start = end;
  while (start > path && start[-1] != '/')
    start--;
  if (!is_digits (start, (gsize) (end - start), INSTANCE_ID_MAX))
    return NULL;
  if ((gsize) (start - path) < strlen ("/.flatpak/") ||
      strncmp (start - strlen ("/.flatpak/"), "/.flatpak/", strlen ("/.flatpak/")) != 0)
    return NULL;
  return g_strndup (start, (gsize) (end - start));
}

static gboolean
same_device (const struct stat *st,
             const Mount       *mount)
{
  return major (st->st_dev) == mount->major && minor (st->st_dev) == mount->minor;
}

/* Reads an info file from @fd (taken) and returns its app id. When
 * @instance_id is given, [Instance] instance-id must equal it, or, unless
 * @instance_id_required, be absent. */
static BursarCallerKind
read_info (int          fd,
           const Mount *mount,
           const char  *instance_id,
           gboolean     instance_id_required,
           char       **out_app_id,
           GError     **error)
{
  g_autoptr(GKeyFile) info = g_key_file_new ();
  g_autofree char *data = NULL;
  g_autofree char *app_id = NULL;
  g_autofree char *file_instance = NULL;
  struct stat st;
  gsize done = 0;

  if (fstat (fd, &st) != 0)
    {
      int errsv = errno;

      close (fd);
      return fail_errno (error, errsv, "Could not stat the Flatpak info file");
    }
  if (!S_ISREG (st.st_mode) || st.st_size < 0 || st.st_size > INFO_MAX)
    {
      close (fd);
      return fail (error, "The Flatpak info file is not a regular file of at most %d bytes",
                   INFO_MAX);
    }
  if (mount != NULL && !same_device (&st, mount))
    {
      close (fd);
      return fail (error, "The Flatpak info file is not on the device the sandbox mounted");
    }
  data = g_malloc0 ((gsize) st.st_size + 1);
  while (done < (gsize) st.st_size)
    {
      ssize_t n = read (fd, data + done, (gsize) st.st_size - done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      done += (gsize) n;
    }
  close (fd);
  if (done != (gsize) st.st_size ||
      !g_key_file_load_from_data (info, data, done, G_KEY_FILE_NONE, NULL))
    return fail (error, "The Flatpak info file could not be read or parsed");

  if (instance_id != NULL)
    {
      file_instance = g_key_file_get_string (info, "Instance", "instance-id", NULL);
      if (file_instance == NULL ? instance_id_required
                                : !g_str_equal (file_instance, instance_id))
        return fail (error, "The Flatpak info file does not name this instance");
    }
  app_id = g_key_file_get_string (info, "Application", "name", NULL);
  if (app_id == NULL || !g_application_id_is_valid (app_id))
    return fail (error, "The Flatpak info file has no valid [Application] name");

  *out_app_id = g_steal_pointer (&app_id);
  return BURSAR_CALLER_APP;
}

/* Opens @name in @dir_fd without following a symlink or blocking on a
 * FIFO; returns -1 with errno set. */
static int
open_beneath (int         dir_fd,
              const char *name,
              int         flags)
{
  return openat (dir_fd, name, flags | O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
}

/* Opens RUNTIME/.flatpak/@instance_id (a real directory, no symlinks from
 * .flatpak on) and checks it against @dir_mount when given. */
static int
open_instance_dir (const char  *runtime_dir,
                   const char  *instance_id,
                   const Mount *dir_mount,
                   GError     **error)
{
  int runtime_fd, flatpak_fd, instance_fd;
  struct stat st;

  runtime_fd = open (runtime_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOCTTY);
  if (runtime_fd < 0)
    {
      fail_errno (error, errno, "Could not open the runtime directory");
      return -1;
    }
  flatpak_fd = open_beneath (runtime_fd, ".flatpak", O_DIRECTORY);
  close (runtime_fd);
  if (flatpak_fd < 0)
    {
      fail_errno (error, errno, "Could not open the Flatpak instance directory");
      return -1;
    }
  instance_fd = open_beneath (flatpak_fd, instance_id, O_DIRECTORY);
  close (flatpak_fd);
  if (instance_fd < 0)
    {
      fail_errno (error, errno, "Could not open the Flatpak instance directory");
      return -1;
    }
  if (dir_mount != NULL && (fstat (instance_fd, &st) != 0 || !same_device (&st, dir_mount)))
    {
      close (instance_fd);
      fail (error, "The Flatpak instance directory is not on the device the sandbox mounted");
      return -1;
    }
  return instance_fd;
}

BursarCallerKind
bursar_caller_parse_mountinfo (const char  *mountinfo,
                               gsize        length,
                               const char  *runtime_dir,
                               char       **out_app_id,
                               GError     **error)
{
  g_autoptr(GPtrArray) info_mounts = g_ptr_array_new_with_free_func ((GDestroyNotify) mount_free);
  g_autoptr(GPtrArray) instance_mounts = g_ptr_array_new_with_free_func ((GDestroyNotify) mount_free);
  g_autofree char *instance_id = NULL;
  g_autofree char *expected = NULL;
  const Mount *info_mount;
  const Mount *anchor;
  gboolean plain_bind;
  gsize start = 0;
  guint n_lines = 0;
  int dir_fd, info_fd;

  g_return_val_if_fail (mountinfo != NULL || length == 0, BURSAR_CALLER_UNKNOWN);
  g_return_val_if_fail (runtime_dir != NULL, BURSAR_CALLER_UNKNOWN);
  g_return_val_if_fail (out_app_id != NULL, BURSAR_CALLER_UNKNOWN);

  if (length > MOUNTINFO_MAX)
    return fail (error, "The mount table is larger than %d bytes", MOUNTINFO_MAX);
  if (memchr (mountinfo, '\0', length) != NULL)
    return fail (error, "The mount table has a NUL byte");

  while (start < length)
    {
      const char *nl = memchr (mountinfo + start, '\n', length - start);
      g_autofree char *line = NULL;
      Mount *mount;

      if (nl == NULL)
        return fail (error, "The mount table ends in a partial line");
      line = g_strndup (mountinfo + start, (gsize) (nl - (mountinfo + start)));
      start = (gsize) (nl - mountinfo) + 1;
      n_lines++;
      mount = parse_line (line);
      if (mount == NULL)
        return fail (error, "Line %u of the mount table is malformed", n_lines);
      if (g_str_equal (mount->mount_point, FLATPAK_INFO_MOUNT))
        g_ptr_array_add (info_mounts, mount);
      else if (g_str_has_prefix (mount->mount_point, FLATPAK_INSTANCE_MOUNT_PREFIX))
        g_ptr_array_add (instance_mounts, mount);
      else
        mount_free (mount);
    }
  /* Every process has a root mount: an empty table is not one. */
  if (n_lines == 0)
    return fail (error, "The mount table is empty");

  if (info_mounts->len == 0)
    return BURSAR_CALLER_HOST;
  if (info_mounts->len > 1)
    return fail (error, "%u mounts on %s", info_mounts->len, FLATPAK_INFO_MOUNT);
  info_mount = g_ptr_array_index (info_mounts, 0);

  /* Which mount names the instance: /.flatpak-info itself when it is a
   * bind mount of the host file, else the instance directory. */
  instance_id = instance_id_in_path (info_mount->root, "/info");
  plain_bind = instance_id != NULL;
  if (plain_bind)
    {
      anchor = info_mount;
      expected = g_build_filename (runtime_dir, ".flatpak", instance_id, "info", NULL);
    }
  else
    {
      if (instance_mounts->len != 1)
        return fail (error, "%u Flatpak instance mounts, expected one", instance_mounts->len);
      anchor = g_ptr_array_index (instance_mounts, 0);
      instance_id = instance_id_in_path (anchor->root, "");
      if (instance_id == NULL ||
          !g_str_equal (anchor->mount_point + strlen (FLATPAK_INSTANCE_MOUNT_PREFIX), instance_id))
        return fail (error, "The Flatpak instance mount is not of the expected form");
      expected = g_build_filename (runtime_dir, ".flatpak", instance_id, NULL);
    }
  /* The mount's root is the path from its filesystem's root: it must be
   * the tail of the host path we are about to open. */
  if (anchor->root[0] != '/' || !g_str_has_suffix (expected, anchor->root))
    return fail (error, "The sandbox's mount does not come from %s", runtime_dir);

  dir_fd = open_instance_dir (runtime_dir, instance_id, plain_bind ? NULL : anchor, error);
  if (dir_fd < 0)
    return BURSAR_CALLER_UNKNOWN;
  info_fd = open_beneath (dir_fd, "info", 0);
  close (dir_fd);
  if (info_fd < 0)
    return fail_errno (error, errno, "Could not open the Flatpak info file");
  return read_info (info_fd, anchor, instance_id, !plain_bind, out_app_id, error);
}

BursarCallerKind
bursar_caller_identify_app_from_mountinfo (guint32      pid,
                                           const char  *runtime_dir,
                                           char       **out_app_id,
                                           GError     **error)
{
  g_autofree char *path = g_strdup_printf ("/proc/%u/mountinfo", pid);
  g_autoptr(GByteArray) data = g_byte_array_new ();
  guint8 buffer[16384];
  int fd;

  g_return_val_if_fail (out_app_id != NULL, BURSAR_CALLER_UNKNOWN);

  if (pid == 0)
    return fail (error, "No process id");
  fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return fail_errno (error, errno, "Could not open the caller's mount table");
  for (;;)
    {
      ssize_t n = read (fd, buffer, sizeof buffer);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int errsv = errno;

          close (fd);
          return fail_errno (error, errsv, "Could not read the caller's mount table");
        }
      if (n == 0)
        break;
      g_byte_array_append (data, buffer, (guint) n);
      if (data->len > MOUNTINFO_MAX)
        {
          close (fd);
          return fail (error, "The mount table is larger than %d bytes", MOUNTINFO_MAX);
        }
    }
  close (fd);
  return bursar_caller_parse_mountinfo ((const char *) data->data, data->len, runtime_dir,
                                        out_app_id, error);
}

BursarCallerKind
bursar_caller_identify_app (guint32   pid,
                            char    **out_app_id,
                            GError  **error)
{
  g_autofree char *root_path = g_strdup_printf ("/proc/%u/root", pid);
  int root_fd, info_fd;

  g_return_val_if_fail (out_app_id != NULL, BURSAR_CALLER_UNKNOWN);

  if (pid == 0)
    return fail (error, "No process id");
  root_fd = open (root_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOCTTY);
  if (root_fd < 0)
    {
      int errsv = errno;

      /* Refused across user namespaces (PrivateUsers=yes): see the top. */
      if (errsv == EACCES || errsv == EPERM)
        return bursar_caller_identify_app_from_mountinfo (pid, g_get_user_runtime_dir (),
                                                          out_app_id, error);
      return fail_errno (error, errsv, "Could not open the caller's root");
    }
  info_fd = open_beneath (root_fd, ".flatpak-info", 0);
  if (info_fd < 0)
    {
      int errsv = errno;

      close (root_fd);
      if (errsv == ENOENT)
        return BURSAR_CALLER_HOST;
      return fail_errno (error, errsv, "Could not open the caller's /.flatpak-info");
    }
  close (root_fd);
  return read_info (info_fd, NULL, NULL, FALSE, out_app_id, error);
}
