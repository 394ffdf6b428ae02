/* test-json.c: the hardened JSON parser and typed getters.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include "bursar-error.h"
#include "bursar-json.h"

static JsonNode *
parse (const char  *text,
       GError     **error)
{
  return bursar_json_parse (text, strlen (text), error);
}

static void
test_json_parse_ok (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) root = parse ("{\"a\": [1, 2, {\"b\": \"c\"}], \"d\": true}", &error);

  g_assert_no_error (error);
  g_assert_nonnull (root);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (root));
}

static void
test_json_refuses (void)
{
  static const struct
  {
    const char *text;
    gssize len; /* -1: strlen */
  } cases[] = {
    { "", -1 },
    { "{", -1 },
    { "{\"a\": }", -1 },
    { "{\"a\": \"\xff\xfe\"}", -1 },    /* invalid UTF-8 */
    { "{\"a\": \"\xed\xa0\x80\"}", -1 }, /* UTF-8-encoded surrogate */
    { "{\"a\": 1}\0{\"b\": 2}", 17 },  /* embedded NUL */
    { "{\"a\": \"x\0y\"}", 12 },
    /* json-glib 1.6 would wrap these around to small numbers. */
    { "{\"a\": 99999999999999999999}", -1 },
    { "{\"a\": 18446744073709555616}", -1 },
    { "[-9223372036854775809]", -1 },
    { "[-]", -1 },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      gsize len = cases[i].len < 0 ? strlen (cases[i].text) : (gsize) cases[i].len;
      g_autoptr(JsonNode) root = bursar_json_parse (cases[i].text, len, &error);

      g_test_message ("case %" G_GSIZE_FORMAT, i);
      g_assert_null (root);
      g_assert_error (error, BURSAR_ERROR, BURSAR_ERROR_PROVIDER);
    }
}

static void
test_json_integer_limits (void)
{
  const char *text = "{\"max\": 9223372036854775807, \"min\": -9223372036854775808,"
                     " \"s\": \"99999999999999999999\", \"neg\": -0}";
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) object = bursar_json_parse_object (text, strlen (text), &error);
  gint64 value = 0;

  g_assert_no_error (error);
  g_assert_true (bursar_json_get_int (object, "max", &value));
  g_assert_cmpint (value, ==, G_MAXINT64);
  g_assert_true (bursar_json_get_int (object, "min", &value));
  g_assert_cmpint (value, ==, G_MININT64);
  g_assert_true (bursar_json_get_int (object, "neg", &value));
  g_assert_cmpint (value, ==, 0);
  /* Digits inside a string are not a number. */
  g_assert_cmpstr (bursar_json_get_string (object, "s"), ==, "99999999999999999999");
}

static void
test_json_depth (void)
{
  g_autoptr(GString) deep = g_string_new (NULL);
  g_autoptr(GString) ok = g_string_new (NULL);
  g_autoptr(GString) in_string = g_string_new ("[\"");
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) root = NULL;

  /* JSONTestSuite n_structure_100000_opening_arrays: must not crash. */
  for (guint i = 0; i < 100000; i++)
    g_string_append_c (deep, '[');
  root = bursar_json_parse (deep->str, deep->len, &error);
  g_assert_null (root);
  g_assert_error (error, BURSAR_ERROR, BURSAR_ERROR_PROVIDER);
  g_clear_error (&error);

  /* The same with objects, closed properly: still too deep. */
  g_string_truncate (deep, 0);
  for (guint i = 0; i < 1000; i++)
    g_string_append (deep, "{\"a\":");
  g_string_append (deep, "1");
  for (guint i = 0; i < 1000; i++)
    g_string_append_c (deep, '}');
  root = bursar_json_parse (deep->str, deep->len, &error);
  g_assert_null (root);
  g_assert_error (error, BURSAR_ERROR, BURSAR_ERROR_PROVIDER);
  g_clear_error (&error);

  /* Exactly at the cap is fine. */
  for (guint i = 0; i < BURSAR_JSON_MAX_DEPTH; i++)
    g_string_append_c (ok, '[');
  for (guint i = 0; i < BURSAR_JSON_MAX_DEPTH; i++)
    g_string_append_c (ok, ']');
  root = bursar_json_parse (ok->str, ok->len, &error);
  g_assert_no_error (error);
  g_assert_nonnull (root);
  g_clear_pointer (&root, json_node_unref);

  /* Brackets and escaped quotes inside strings do not count. */
  for (guint i = 0; i < 1000; i++)
    g_string_append (in_string, "[{\\\"");
  g_string_append (in_string, "\"]");
  root = bursar_json_parse (in_string->str, in_string->len, &error);
  g_assert_no_error (error);
  g_assert_nonnull (root);
}

static void
test_json_size (void)
{
  gsize len = BURSAR_JSON_MAX_SIZE + 1;
  g_autofree char *big = g_malloc (len);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) root = NULL;

  memset (big, ' ', len);
  big[0] = '1';
  root = bursar_json_parse (big, len, &error);
  g_assert_null (root);
  g_assert_error (error, BURSAR_ERROR, BURSAR_ERROR_PROVIDER);
}

static void
test_json_object (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) object = bursar_json_parse_object ("[1]", 3, &error);

  g_assert_null (object);
  g_assert_error (error, BURSAR_ERROR, BURSAR_ERROR_PROVIDER);
  g_clear_error (&error);

  object = bursar_json_parse_object ("{\"a\":1}", 7, &error);
  g_assert_no_error (error);
  g_assert_nonnull (object);
}

static void
test_json_getters (void)
{
  const char *text =
    "{\"s\": \"str\", \"i\": 3600, \"neg\": -5, \"f\": 3.5, \"inf\": 1e999,"
    " \"exp\": 1e3, \"big\": 1e300, \"str_num\": \"3600\", \"b\": true,"
    " \"n\": null, \"o\": {\"x\": 1}, \"a\": [1], \"dup\": 1, \"dup\": \"two\"}";
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) object = bursar_json_parse_object (text, strlen (text), &error);
  gint64 value = 42;
  gboolean flag = FALSE;

  g_assert_no_error (error);
  g_assert_nonnull (object);

  g_assert_cmpstr (bursar_json_get_string (object, "s"), ==, "str");
  g_assert_null (bursar_json_get_string (object, "i"));
  g_assert_null (bursar_json_get_string (object, "n"));
  g_assert_null (bursar_json_get_string (object, "o"));
  g_assert_null (bursar_json_get_string (object, "missing"));

  g_assert_true (bursar_json_get_int (object, "i", &value));
  g_assert_cmpint (value, ==, 3600);
  g_assert_true (bursar_json_get_int (object, "neg", &value));
  g_assert_cmpint (value, ==, -5);
  g_assert_true (bursar_json_get_int (object, "exp", &value));
  g_assert_cmpint (value, ==, 1000);

  value = 42;
  g_assert_false (bursar_json_get_int (object, "f", &value));
  g_assert_false (bursar_json_get_int (object, "inf", &value));
  g_assert_false (bursar_json_get_int (object, "big", &value));
  g_assert_false (bursar_json_get_int (object, "str_num", &value));
  g_assert_false (bursar_json_get_int (object, "s", &value));
  g_assert_false (bursar_json_get_int (object, "b", &value));
  g_assert_false (bursar_json_get_int (object, "n", &value));
  g_assert_false (bursar_json_get_int (object, "missing", &value));
  /* Written only on success. */
  g_assert_cmpint (value, ==, 42);

  g_assert_true (bursar_json_get_boolean (object, "b", &flag));
  g_assert_true (flag);
  g_assert_false (bursar_json_get_boolean (object, "i", &flag));

  g_assert_nonnull (bursar_json_get_object (object, "o"));
  g_assert_null (bursar_json_get_object (object, "a"));
  g_assert_nonnull (bursar_json_get_array (object, "a"));
  g_assert_null (bursar_json_get_array (object, "o"));

  g_assert_true (bursar_json_is_absent (object, "n"));
  g_assert_true (bursar_json_is_absent (object, "missing"));
  g_assert_false (bursar_json_is_absent (object, "s"));

  /* Duplicate keys: one of them wins, without a crash or a critical. */
  g_assert_true (bursar_json_get_string (object, "dup") != NULL ||
                 bursar_json_get_int (object, "dup", NULL));
}

static void
test_json_scalar (void)
{
  const char *text = "{\"s\": \"x\", \"i\": 7, \"b\": false, \"d\": 2.5, \"o\": {}, \"n\": null}";
  g_autoptr(JsonObject) object = bursar_json_parse_object (text, strlen (text), NULL);
  g_autofree char *s = NULL, *i = NULL, *b = NULL, *d = NULL, *o = NULL, *n = NULL;

  g_assert_nonnull (object);
  s = bursar_json_node_dup_scalar (json_object_get_member (object, "s"));
  i = bursar_json_node_dup_scalar (json_object_get_member (object, "i"));
  b = bursar_json_node_dup_scalar (json_object_get_member (object, "b"));
  d = bursar_json_node_dup_scalar (json_object_get_member (object, "d"));
  o = bursar_json_node_dup_scalar (json_object_get_member (object, "o"));
  n = bursar_json_node_dup_scalar (json_object_get_member (object, "n"));
  g_assert_cmpstr (s, ==, "x");
  g_assert_cmpstr (i, ==, "7");
  g_assert_cmpstr (b, ==, "false");
  g_assert_cmpstr (d, ==, "2.5");
  g_assert_null (o);
  g_assert_null (n);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/json/parse-ok", test_json_parse_ok);
  g_test_add_func ("/json/refuses", test_json_refuses);
  g_test_add_func ("/json/depth", test_json_depth);
  g_test_add_func ("/json/integer-limits", test_json_integer_limits);
  g_test_add_func ("/json/size", test_json_size);
  g_test_add_func ("/json/object", test_json_object);
  g_test_add_func ("/json/getters", test_json_getters);
  g_test_add_func ("/json/scalar", test_json_scalar);

  return g_test_run ();
}
