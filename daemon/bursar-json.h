/* bursar-json.h: parsing JSON from untrusted servers.
 *
 * Every answer from an authorization server goes through
 * bursar_json_parse(), which caps the size and the nesting depth before
 * json-glib sees the text (json-glib 1.6 has no depth limit and recurses
 * until the stack runs out), and refuses invalid UTF-8 and embedded NULs.
 * The getters check a member's type before reading it, so a hostile
 * answer ("access_token": 5, "expires_in": 1e999) cannot trip a
 * json-glib critical.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* An answer larger than this is refused, not parsed. */
#define BURSAR_JSON_MAX_SIZE (1024 * 1024)
/* Deepest nesting of arrays and objects accepted. */
#define BURSAR_JSON_MAX_DEPTH 64

JsonNode *bursar_json_parse (const char  *data,
                             gsize        len,
                             GError     **error);
/* As bursar_json_parse(), but the root must be an object. */
JsonObject *bursar_json_parse_object (const char  *data,
                                      gsize        len,
                                      GError     **error);

/* NULL when absent or not a string. */
const char *bursar_json_get_string (JsonObject *object,
                                    const char *member);
/* FALSE when absent, not a number, not integral or out of range;
 * @out is written only on success. */
gboolean bursar_json_get_int (JsonObject *object,
                              const char *member,
                              gint64     *out);
/* FALSE when absent or not a boolean. */
gboolean bursar_json_get_boolean (JsonObject *object,
                                  const char *member,
                                  gboolean   *out);
/* NULL when absent or of another type; not a new reference. */
JsonObject *bursar_json_get_object (JsonObject *object,
                                    const char *member);
JsonArray *bursar_json_get_array (JsonObject *object,
                                  const char *member);
/* TRUE when @member is absent or JSON null. */
gboolean bursar_json_is_absent (JsonObject *object,
                                const char *member);

/* An integral number from a node; the rules of bursar_json_get_int(). */
gboolean bursar_json_node_get_int (JsonNode *node,
                                   gint64   *out);
/* A string, number or boolean node as text; NULL for anything else. */
char *bursar_json_node_dup_scalar (JsonNode *node);

G_END_DECLS
