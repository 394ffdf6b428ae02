/* bursarctl-common.c
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "bursar-error.h"
#include "bursarctl-common.h"

/* Nothing bursarctl reads from a file or stdin is anywhere near this; the
 * cap keeps a mistaken `--token-file /dev/zero` from eating memory. */
#define SECRET_MAX_BYTES (64 * 1024)

static const struct
{
  const char *name;
  BursarctlExit code;
} remote_error_exits[] = {
  { "org.bursar.Bursar1.Error.NeedsAuthorization", BURSARCTL_EXIT_NEEDS_AUTHORIZATION },
  { "org.bursar.Bursar1.Error.KeyringLocked", BURSARCTL_EXIT_KEYRING },
  { "org.bursar.Bursar1.Error.KeyringUnavailable", BURSARCTL_EXIT_KEYRING },
  { "org.bursar.Bursar1.Error.Network", BURSARCTL_EXIT_NETWORK },
  { "org.bursar.Bursar1.Error.Provider", BURSARCTL_EXIT_PROVIDER },
  { "org.bursar.Bursar1.Error.InvalidArgument", BURSARCTL_EXIT_INVALID_ARGUMENT },
  { "org.bursar.Bursar1.Error.UnknownProvider", BURSARCTL_EXIT_UNKNOWN },
  { "org.bursar.Bursar1.Error.UnknownAccount", BURSARCTL_EXIT_UNKNOWN },
  { "org.bursar.Bursar1.Error.NotSupported", BURSARCTL_EXIT_FAILURE },
  { "org.bursar.Bursar1.Error.Cancelled", BURSARCTL_EXIT_FAILURE },
  { "org.bursar.Bursar1.Error.AccessDenied", BURSARCTL_EXIT_ACCESS_DENIED },
  /* The bus itself: the daemon went away between two calls, or a bus
   * policy refused us. */
  { "org.freedesktop.DBus.Error.ServiceUnknown", BURSARCTL_EXIT_NO_DAEMON },
  { "org.freedesktop.DBus.Error.NameHasNoOwner", BURSARCTL_EXIT_NO_DAEMON },
  { "org.freedesktop.DBus.Error.AccessDenied", BURSARCTL_EXIT_ACCESS_DENIED },
};

static BursarctlExit
exit_for_bursar_code (int code)
{
  switch ((BursarError) code)
    {
    case BURSAR_ERROR_NEEDS_AUTHORIZATION:
      return BURSARCTL_EXIT_NEEDS_AUTHORIZATION;
    case BURSAR_ERROR_KEYRING_LOCKED:
    case BURSAR_ERROR_KEYRING_UNAVAILABLE:
      return BURSARCTL_EXIT_KEYRING;
    case BURSAR_ERROR_NETWORK:
      return BURSARCTL_EXIT_NETWORK;
    case BURSAR_ERROR_PROVIDER:
      return BURSARCTL_EXIT_PROVIDER;
    case BURSAR_ERROR_INVALID_ARGUMENT:
      return BURSARCTL_EXIT_INVALID_ARGUMENT;
    case BURSAR_ERROR_UNKNOWN_PROVIDER:
    case BURSAR_ERROR_UNKNOWN_ACCOUNT:
      return BURSARCTL_EXIT_UNKNOWN;
    case BURSAR_ERROR_ACCESS_DENIED:
      return BURSARCTL_EXIT_ACCESS_DENIED;
    case BURSAR_ERROR_NOT_SUPPORTED:
    case BURSAR_ERROR_CANCELLED:
    default:
      return BURSARCTL_EXIT_FAILURE;
    }
}

/* Maps an error, local or from the daemon, to the documented exit status.
 * The remote D-Bus error name decides where there is one, so the mapping
 * holds even for a name this build's error domain does not know. */
BursarctlExit
bursarctl_exit_for_error (const GError *error)
{
  g_autofree char *remote_name = NULL;

  g_return_val_if_fail (error != NULL, BURSARCTL_EXIT_FAILURE);

  remote_name = g_dbus_error_get_remote_error (error);
  if (remote_name != NULL)
    {
      for (gsize i = 0; i < G_N_ELEMENTS (remote_error_exits); i++)
        {
          if (g_str_equal (remote_name, remote_error_exits[i].name))
            return remote_error_exits[i].code;
        }
    }

  if (error->domain == BURSAR_ERROR)
    return exit_for_bursar_code (error->code);
  if (g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN) ||
      g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER))
    return BURSARCTL_EXIT_NO_DAEMON;
  if (g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED))
    return BURSARCTL_EXIT_ACCESS_DENIED;
  if (error->domain == G_OPTION_ERROR)
    return BURSARCTL_EXIT_USAGE;

  return BURSARCTL_EXIT_FAILURE;
}

/* Prints "bursarctl: <message>" as exactly one line on stderr, so scripts
 * can log it and tests can match it; embedded newlines become spaces. */
void
bursarctl_print_message (const char *format,
                         ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);

  g_strdelimit (g_strstrip (message), "\r\n", ' ');
  fflush (stdout);
  g_printerr ("bursarctl: %s\n", message);
}

int
bursarctl_report_error_as (BursarctlExit  code,
                           const GError  *error)
{
  g_autoptr(GError) copy = g_error_copy (error);

  /* "GDBus.Error:org.bursar.Bursar1.Error.Network: …" is for programs;
   * a person wants the sentence the daemon wrote. */
  g_dbus_error_strip_remote_error (copy);
  bursarctl_print_message ("%s", copy->message);

  return code;
}

int
bursarctl_report_error (const GError *error)
{
  return bursarctl_report_error_as (bursarctl_exit_for_error (error), error);
}

/* Overwrites a secret before freeing it, so it does not linger in freed
 * heap for a later core dump. */
void
bursarctl_secret_free (char *secret)
{
  if (secret == NULL)
    return;
  explicit_bzero (secret, strlen (secret));
  g_free (secret);
}

/* A growable buffer that never leaves a copy of its contents behind when
 * it grows. */
typedef struct
{
  char *data;
  gsize len;
  gsize allocated;
} SecretBuffer;

static void
secret_buffer_clear (SecretBuffer *buffer)
{
  if (buffer->data != NULL)
    explicit_bzero (buffer->data, buffer->allocated);
  g_clear_pointer (&buffer->data, g_free);
  buffer->len = 0;
  buffer->allocated = 0;
}

static gboolean
secret_buffer_reserve (SecretBuffer  *buffer,
                       gsize          extra,
                       GError       **error)
{
  gsize wanted = buffer->len + extra + 1;
  gsize allocated;
  char *data;

  if (wanted <= buffer->allocated)
    return TRUE;
  if (wanted > SECRET_MAX_BYTES + 1)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                   _("The input is larger than %u bytes."), (guint) SECRET_MAX_BYTES);
      return FALSE;
    }

  allocated = MAX (buffer->allocated, 256);
  while (allocated < wanted)
    allocated *= 2;
  allocated = MIN (allocated, SECRET_MAX_BYTES + 1);

  data = g_malloc0 (allocated);
  if (buffer->data != NULL)
    {
      memcpy (data, buffer->data, buffer->len);
      explicit_bzero (buffer->data, buffer->allocated);
      g_free (buffer->data);
    }
  buffer->data = data;
  buffer->allocated = allocated;
  return TRUE;
}

/* Reads @fd to its end, or to the first newline when @one_line. */
static gboolean
read_fd (int            fd,
         gboolean       one_line,
         SecretBuffer  *buffer,
         GError       **error)
{
  for (;;)
    {
      gsize chunk = one_line ? 1 : 4096;
      gssize n;

      if (!secret_buffer_reserve (buffer, chunk, error))
        return FALSE;

      n = read (fd, buffer->data + buffer->len, chunk);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved_errno = errno;

          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                       "%s", g_strerror (saved_errno));
          return FALSE;
        }
      if (n == 0)
        break;

      buffer->len += (gsize) n;
      buffer->data[buffer->len] = '\0';
      if (one_line && buffer->data[buffer->len - 1] == '\n')
        break;
    }

  return TRUE;
}

/* The terminal settings to restore if a signal arrives while echo is off;
 * only touched from the main thread and the handler below. */
static struct termios saved_termios;

static void
restore_termios_and_reraise (int signum)
{
  tcsetattr (STDIN_FILENO, TCSAFLUSH, &saved_termios);
  signal (signum, SIG_DFL);
  raise (signum);
}

static gboolean
read_terminal_line (gboolean       echo,
                    SecretBuffer  *buffer,
                    GError       **error)
{
  struct termios quiet;
  struct sigaction action = { 0 };
  struct sigaction old_int, old_term, old_hup;
  gboolean ok;

  if (echo || tcgetattr (STDIN_FILENO, &saved_termios) != 0)
    return read_fd (STDIN_FILENO, TRUE, buffer, error);

  /* Put echo back even when the user presses Ctrl+C at the prompt. */
  action.sa_handler = restore_termios_and_reraise;
  sigemptyset (&action.sa_mask);
  sigaction (SIGINT, &action, &old_int);
  sigaction (SIGTERM, &action, &old_term);
  sigaction (SIGHUP, &action, &old_hup);

  quiet = saved_termios;
  quiet.c_lflag &= ~(tcflag_t) ECHO;
  quiet.c_lflag |= ECHONL;
  tcsetattr (STDIN_FILENO, TCSAFLUSH, &quiet);

  ok = read_fd (STDIN_FILENO, TRUE, buffer, error);

  tcsetattr (STDIN_FILENO, TCSAFLUSH, &saved_termios);
  sigaction (SIGINT, &old_int, NULL);
  sigaction (SIGTERM, &old_term, NULL);
  sigaction (SIGHUP, &old_hup, NULL);

  return ok;
}

/* Reads a secret (a client secret, a token, a redirect URL holding a
 * code) from the file @path, or from stdin when @path is "-". On a
 * terminal it prompts with @prompt and reads one line, without echo unless
 * @echo; otherwise it reads to the end. One trailing newline is removed,
 * as `echo` and editors add one. Free the result with
 * bursarctl_secret_free(). */
char *
bursarctl_read_secret (const char  *path,
                       const char  *prompt,
                       gboolean     echo,
                       GError     **error)
{
  SecretBuffer buffer = { NULL, 0, 0 };
  gboolean ok;
  char *result;

  g_return_val_if_fail (path != NULL, NULL);

  if (g_str_equal (path, "-"))
    {
      if (isatty (STDIN_FILENO))
        {
          fflush (stdout);
          g_printerr ("%s ", prompt);
          ok = read_terminal_line (echo, &buffer, error);
        }
      else
        {
          ok = read_fd (STDIN_FILENO, FALSE, &buffer, error);
        }
      if (!ok)
        g_prefix_error (error, _("Cannot read standard input: "));
    }
  else
    {
      int fd = g_open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY, 0);

      if (fd < 0)
        {
          int saved_errno = errno;

          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                       _("Cannot open “%s”: %s"), path, g_strerror (saved_errno));
          return NULL;
        }
      ok = read_fd (fd, FALSE, &buffer, error);
      close (fd);
      if (!ok)
        g_prefix_error (error, _("Cannot read “%s”: "), path);
    }

  if (!ok)
    {
      secret_buffer_clear (&buffer);
      return NULL;
    }

  if (buffer.data == NULL || strlen (buffer.data) != buffer.len)
    {
      gboolean empty = (buffer.len == 0);

      secret_buffer_clear (&buffer);
      if (empty)
        g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                             _("The input is empty."));
      else
        g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                             _("The input contains a NUL byte."));
      return NULL;
    }

  if (buffer.len > 0 && buffer.data[buffer.len - 1] == '\n')
    buffer.data[--buffer.len] = '\0';
  if (buffer.len > 0 && buffer.data[buffer.len - 1] == '\r')
    buffer.data[--buffer.len] = '\0';

  if (buffer.len == 0)
    {
      secret_buffer_clear (&buffer);
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           _("The input is empty."));
      return NULL;
    }
  if (!g_utf8_validate (buffer.data, (gssize) buffer.len, NULL))
    {
      secret_buffer_clear (&buffer);
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           _("The input is not valid UTF-8 text."));
      return NULL;
    }

  /* Hand out an exact-size copy, so bursarctl_secret_free() (which wipes
   * strlen() bytes) covers all of it. */
  result = g_strndup (buffer.data, buffer.len);
  secret_buffer_clear (&buffer);
  return result;
}

/* Pretty-printed JSON with a trailing newline on stdout. */
void
bursarctl_print_json (JsonNode *node)
{
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autofree char *text = NULL;

  json_generator_set_pretty (generator, TRUE);
  json_generator_set_indent (generator, 2);
  json_generator_set_root (generator, node);
  text = json_generator_to_data (generator, NULL);
  g_print ("%s\n", text);
}

/* Prints @rows (each a char*[n_columns]; the first row is the header) as
 * left-aligned columns two spaces apart. Widths count characters, not
 * bytes, so translated headers and non-ASCII labels line up. */
void
bursarctl_print_table (GPtrArray *rows,
                       guint      n_columns)
{
  g_autofree glong *widths = g_new0 (glong, n_columns);

  for (guint r = 0; r < rows->len; r++)
    {
      char **row = g_ptr_array_index (rows, r);

      for (guint c = 0; c < n_columns; c++)
        widths[c] = MAX (widths[c], g_utf8_strlen (row[c], -1));
    }

  for (guint r = 0; r < rows->len; r++)
    {
      char **row = g_ptr_array_index (rows, r);
      g_autoptr(GString) line = g_string_new (NULL);

      for (guint c = 0; c < n_columns; c++)
        {
          g_string_append (line, row[c]);
          if (c + 1 < n_columns)
            {
              for (glong pad = g_utf8_strlen (row[c], -1); pad < widths[c] + 2; pad++)
                g_string_append_c (line, ' ');
            }
        }
      /* A column left empty at the end would leave trailing blanks. */
      while (line->len > 0 && line->str[line->len - 1] == ' ')
        g_string_truncate (line, line->len - 1);
      g_print ("%s\n", line->str);
    }
}

char *
bursarctl_join_strv (const char * const *strv,
                     const char         *separator)
{
  if (strv == NULL)
    return g_strdup ("");
  return g_strjoinv (separator, (char **) strv);
}

/* A short human form of a Details value: strings bare, string lists
 * comma-separated, booleans as yes/no, anything else in GVariant text. */
char *
bursarctl_variant_to_display (GVariant *value)
{
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_VARIANT))
    {
      g_autoptr(GVariant) inner = g_variant_get_variant (value);

      return bursarctl_variant_to_display (inner);
    }
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_STRING) ||
      g_variant_is_of_type (value, G_VARIANT_TYPE_OBJECT_PATH))
    return g_variant_dup_string (value, NULL);
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_STRING_ARRAY))
    {
      g_autofree const char **strv = g_variant_get_strv (value, NULL);

      return bursarctl_join_strv (strv, ", ");
    }
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_BOOLEAN))
    return g_strdup (g_variant_get_boolean (value) ? _("yes") : _("no"));

  return g_variant_print (value, FALSE);
}

static int
compare_strings (gconstpointer a,
                 gconstpointer b)
{
  return g_strcmp0 (*(const char * const *) a, *(const char * const *) b);
}

/* An a{sv} as a JSON object with its keys sorted, so the output is the
 * same from one run to the next whatever order the daemon sent. */
JsonNode *
bursarctl_variant_dict_to_json (GVariant *dict)
{
  g_autoptr(JsonObject) object = json_object_new ();
  g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func (g_free);
  JsonNode *node;

  if (dict != NULL && g_variant_is_of_type (dict, G_VARIANT_TYPE_VARDICT))
    {
      GVariantIter iter;
      const char *key;

      g_variant_iter_init (&iter, dict);
      while (g_variant_iter_next (&iter, "{&sv}", &key, NULL))
        g_ptr_array_add (keys, g_strdup (key));
      g_ptr_array_sort (keys, compare_strings);

      for (guint i = 0; i < keys->len; i++)
        {
          const char *name = g_ptr_array_index (keys, i);
          g_autoptr(GVariant) value = g_variant_lookup_value (dict, name, NULL);

          if (value != NULL)
            json_object_set_member (object, name, json_gvariant_serialize (value));
        }
    }

  node = json_node_new (JSON_NODE_OBJECT);
  json_node_set_object (node, object);
  return node;
}
