/* fuzz-json.c: bursar_json_parse() and the type-checked getters, on any
 * bytes (SECURITY-NOTES item 19: size and depth caps, invalid UTF-8,
 * NULs, type confusion, huge numbers).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <stdlib.h>

#include "bursar-json.h"
#include "fuzz-common.h"

/* Bounds the walk over a (legitimately) wide document. */
#define MAX_VISITS 4096

static const char * const probes[] = {
  "access_token", "refresh_token", "expires_in", "token_type", "scope",
  "error", "issuer", "exp", "aud", "nonce", "", NULL
};

static void visit_node (JsonNode *node, guint depth, guint *visits);

static void
check_depth (guint depth)
{
  /* The cap of bursar-json.h must hold for whatever was accepted. */
  if (depth > BURSAR_JSON_MAX_DEPTH + 1)
    {
      g_printerr ("document deeper than BURSAR_JSON_MAX_DEPTH accepted\n");
      abort ();
    }
}

static void
visit_object (JsonObject *object,
              guint       depth,
              guint      *visits)
{
  JsonObjectIter iter;
  const char *name;
  JsonNode *member;

  for (gsize i = 0; probes[i] != NULL; i++)
    {
      gint64 number = 0;
      gboolean flag = FALSE;

      (void) bursar_json_get_string (object, probes[i]);
      (void) bursar_json_get_int (object, probes[i], &number);
      (void) bursar_json_get_boolean (object, probes[i], &flag);
      (void) bursar_json_get_object (object, probes[i]);
      (void) bursar_json_get_array (object, probes[i]);
      (void) bursar_json_is_absent (object, probes[i]);
    }

  json_object_iter_init (&iter, object);
  while (json_object_iter_next (&iter, &name, &member) && *visits < MAX_VISITS)
    {
      const char *text = bursar_json_get_string (object, name);
      gint64 number = 0;
      gboolean flag = FALSE;

      /* json-glib 1.6 decodes "\600" (an octal escape) and a lone
       * "\ud800" to bytes that are not UTF-8 although the input was. */
      if (text != NULL && !g_utf8_validate (text, -1, NULL) && !fuzz_known_bug ("json-utf8"))
        {
          g_printerr ("invalid UTF-8 accepted in a string member\n");
          abort ();
        }
      (void) bursar_json_get_int (object, name, &number);
      (void) bursar_json_get_boolean (object, name, &flag);
      (void) bursar_json_is_absent (object, name);
      visit_node (member, depth + 1, visits);
    }
}

static void
visit_node (JsonNode *node,
            guint     depth,
            guint    *visits)
{
  g_autofree char *scalar = NULL;
  gint64 number = 0;

  check_depth (depth);
  if (++(*visits) > MAX_VISITS)
    return;

  (void) bursar_json_node_get_int (node, &number);
  scalar = bursar_json_node_dup_scalar (node);

  if (JSON_NODE_HOLDS_OBJECT (node))
    visit_object (json_node_get_object (node), depth, visits);
  else if (JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *array = json_node_get_array (node);
      guint n = json_array_get_length (array);

      for (guint i = 0; i < n && *visits < MAX_VISITS; i++)
        visit_node (json_array_get_element (array, i), depth + 1, visits);
    }
}

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  fuzz_init ();
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(JsonObject) object = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) object_error = NULL;
  guint visits = 0;

  root = bursar_json_parse ((const char *) data, size, &error);
  if ((root == NULL) == (error == NULL))
    {
      g_printerr ("bursar_json_parse must give exactly one of a node and an error\n");
      abort ();
    }
  if (root != NULL)
    visit_node (root, 0, &visits);

  object = bursar_json_parse_object ((const char *) data, size, &object_error);
  if (object != NULL && (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)))
    {
      g_printerr ("bursar_json_parse_object accepted what bursar_json_parse did not see as an object\n");
      abort ();
    }
  if (object == NULL && root != NULL && JSON_NODE_HOLDS_OBJECT (root))
    {
      g_printerr ("bursar_json_parse_object refused an object bursar_json_parse accepted\n");
      abort ();
    }
  return 0;
}
