/* bursar-json.c
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include <glib/gi18n-lib.h>

#include "bursar-error.h"
#include "bursar-json.h"

typedef enum
{
  SCAN_OK,
  SCAN_TOO_DEEP,
  SCAN_BAD_INTEGER,
} ScanResult;

/* True when the integer literal at @start (no fraction, no exponent)
 * fits in a gint64. */
static gboolean
integer_fits (const char *start,
              gsize       len)
{
  char buffer[32];

  /* 20 characters hold any gint64 with its sign. */
  if (len >= sizeof buffer)
    return FALSE;
  memcpy (buffer, start, len);
  buffer[len] = '\0';
  return g_ascii_string_to_signed (buffer, 10, G_MININT64, G_MAXINT64, NULL, NULL);
}

/* Two things json-glib 1.6 gets wrong with hostile input are caught here
 * before it sees the text:
 *  - it parses nested arrays and objects recursively without a limit, so
 *    100000 '[' crash the daemon: count the nesting and stop at the cap;
 *  - it reads an integer beyond gint64 with silent wrap-around, so
 *    18446744073709555616 would become 4000: refuse such literals.
 * The insides of strings (and their escapes) are skipped. Nothing else is
 * validated; json-glib does that afterwards. */
static ScanResult
prescan (const char *data,
         gsize       len,
         guint       max_depth)
{
  gboolean in_string = FALSE;
  guint depth = 0;

  for (gsize i = 0; i < len; i++)
    {
      char c = data[i];

      if (in_string)
        {
          if (c == '\\')
            i++; /* the escaped character cannot end the string */
          else if (c == '"')
            in_string = FALSE;
          continue;
        }

      switch (c)
        {
        case '"':
          in_string = TRUE;
          break;
        case '[':
        case '{':
          if (++depth > max_depth)
            return SCAN_TOO_DEEP;
          break;
        case ']':
        case '}':
          if (depth > 0)
            depth--;
          break;
        default:
          /* Outside strings only numbers hold digits. */
          if (c == '-' || g_ascii_isdigit (c))
            {
              gsize start = i;
              gboolean integral = TRUE;

              while (i + 1 < len &&
                     (g_ascii_isdigit (data[i + 1]) || data[i + 1] == '.' ||
                      data[i + 1] == 'e' || data[i + 1] == 'E' ||
                      data[i + 1] == '+' || data[i + 1] == '-'))
                {
                  if (!g_ascii_isdigit (data[i + 1]))
                    integral = FALSE;
                  i++;
                }
              if (integral && !integer_fits (data + start, i - start + 1))
                return SCAN_BAD_INTEGER;
            }
          break;
        }
    }

  return SCAN_OK;
}

JsonNode *
bursar_json_parse (const char  *data,
                   gsize        len,
                   GError     **error)
{
  g_autoptr(JsonParser) parser = NULL;
  g_autoptr(GError) local_error = NULL;
  JsonNode *root;

  g_return_val_if_fail (data != NULL || len == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (len > BURSAR_JSON_MAX_SIZE)
    {
      g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_PROVIDER,
                           _("The server’s answer is too large."));
      return NULL;
    }

  /* json-glib would stop at a NUL and parse only the part before it,
   * which is not what the server sent. */
  if (len > 0 && memchr (data, '\0', len) != NULL)
    {
      g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_PROVIDER,
                           _("The server’s answer contains a NUL character."));
      return NULL;
    }

  if (!g_utf8_validate_len (data, len, NULL))
    {
      g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_PROVIDER,
                           _("The server’s answer is not valid UTF-8."));
      return NULL;
    }

  switch (prescan (data, len, BURSAR_JSON_MAX_DEPTH))
    {
    case SCAN_TOO_DEEP:
      g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_PROVIDER,
                           _("The server’s answer is nested too deeply."));
      return NULL;
    case SCAN_BAD_INTEGER:
      g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_PROVIDER,
                           _("The server’s answer holds a number out of range."));
      return NULL;
    case SCAN_OK:
    default:
      break;
    }

  parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, len > 0 ? data : "", (gssize) len, &local_error))
    {
      /* json-glib's message may quote a piece of the answer, which could
       * hold a token: keep it out of the error and the log. */
      g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_PROVIDER,
                           _("The server’s answer is not valid JSON."));
      return NULL;
    }

  root = json_parser_get_root (parser);
  if (root == NULL)
    {
      g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_PROVIDER,
                           _("The server’s answer is empty."));
      return NULL;
    }

  return json_node_copy (root);
}

JsonObject *
bursar_json_parse_object (const char  *data,
                          gsize        len,
                          GError     **error)
{
  g_autoptr(JsonNode) root = bursar_json_parse (data, len, error);

  if (root == NULL)
    return NULL;

  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error_literal (error, BURSAR_ERROR, BURSAR_ERROR_PROVIDER,
                           _("The server’s answer is not a JSON object."));
      return NULL;
    }

  return json_node_dup_object (root);
}

static JsonNode *
get_member (JsonObject *object,
            const char *member)
{
  if (object == NULL || member == NULL)
    return NULL;
  return json_object_get_member (object, member);
}

const char *
bursar_json_get_string (JsonObject *object,
                        const char *member)
{
  JsonNode *node = get_member (object, member);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;

  /* json-glib 1.6 turns some escapes of valid input ("\600", a lone
   * surrogate) into bytes that are not UTF-8; nothing downstream (D-Bus
   * strings, headers) can carry them, so they are no strings at all. */
  if (!g_utf8_validate (json_node_get_string (node), -1, NULL))
    return NULL;

  return json_node_get_string (node);
}

/* The largest double whose integers are all exact. Beyond it "integral"
 * no longer means "what the server wrote". */
#define MAX_EXACT_DOUBLE 9007199254740992.0

gboolean
bursar_json_node_get_int (JsonNode *node,
                          gint64   *out)
{
  GType type;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return FALSE;

  type = json_node_get_value_type (node);
  if (type == G_TYPE_INT64)
    {
      if (out != NULL)
        *out = json_node_get_int (node);
      return TRUE;
    }

  /* json-glib reads 1e3 and 1e999 as doubles (the latter as infinity);
   * only a finite, exactly integral value counts. */
  if (type == G_TYPE_DOUBLE)
    {
      double value = json_node_get_double (node);

      /* The range check comes first, so the cast below is defined; no
       * floor() keeps libm out of the link. */
      if (!isfinite (value) ||
          value > MAX_EXACT_DOUBLE || value < -MAX_EXACT_DOUBLE ||
          (double) (gint64) value != value)
        return FALSE;
      if (out != NULL)
        *out = (gint64) value;
      return TRUE;
    }

  return FALSE;
}

gboolean
bursar_json_get_int (JsonObject *object,
                     const char *member,
                     gint64     *out)
{
  return bursar_json_node_get_int (get_member (object, member), out);
}

gboolean
bursar_json_get_boolean (JsonObject *object,
                         const char *member,
                         gboolean   *out)
{
  JsonNode *node = get_member (object, member);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_BOOLEAN)
    return FALSE;

  if (out != NULL)
    *out = json_node_get_boolean (node);
  return TRUE;
}

JsonObject *
bursar_json_get_object (JsonObject *object,
                        const char *member)
{
  JsonNode *node = get_member (object, member);

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    return NULL;
  return json_node_get_object (node);
}

JsonArray *
bursar_json_get_array (JsonObject *object,
                       const char *member)
{
  JsonNode *node = get_member (object, member);

  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node))
    return NULL;
  return json_node_get_array (node);
}

gboolean
bursar_json_is_absent (JsonObject *object,
                       const char *member)
{
  JsonNode *node = get_member (object, member);

  return node == NULL || JSON_NODE_HOLDS_NULL (node);
}

char *
bursar_json_node_dup_scalar (JsonNode *node)
{
  GType type;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return NULL;

  type = json_node_get_value_type (node);
  if (type == G_TYPE_STRING)
    {
      const char *text = json_node_get_string (node);

      return g_utf8_validate (text, -1, NULL) ? g_strdup (text) : NULL;
    }
  if (type == G_TYPE_INT64)
    return g_strdup_printf ("%" G_GINT64_FORMAT, json_node_get_int (node));
  if (type == G_TYPE_BOOLEAN)
    return g_strdup (json_node_get_boolean (node) ? "true" : "false");
  if (type == G_TYPE_DOUBLE)
    {
      char buffer[G_ASCII_DTOSTR_BUF_SIZE];
      double value = json_node_get_double (node);

      if (!isfinite (value))
        return NULL;
      return g_strdup (g_ascii_dtostr (buffer, sizeof buffer, value));
    }

  return NULL;
}
