/* bench-stats.c: small statistics and /proc helpers for bursar-bench.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench-stats.h"

static int
compare_doubles (gconstpointer a,
                 gconstpointer b)
{
  double x = *(const double *) a;
  double y = *(const double *) b;

  return (x > y) - (x < y);
}

double
bench_percentile (GArray *values,
                  double  p)
{
  guint rank;

  if (values->len == 0)
    return NAN;
  g_array_sort (values, compare_doubles);
  rank = (guint) ceil (p / 100.0 * values->len);
  rank = CLAMP (rank, 1, values->len);
  return g_array_index (values, double, rank - 1);
}

/* Value of "@key:" in a /proc status-like file, or -1. */
static gint64
status_value (const char *contents,
              const char *key)
{
  g_autofree char *needle = g_strconcat ("\n", key, ":", NULL);
  const char *at = strstr (contents, needle);

  if (at == NULL)
    return -1;
  return g_ascii_strtoll (at + strlen (needle), NULL, 10);
}

typedef gint64 (*TaskReader) (const char *task_dir);

static gint64
sum_over_tasks (GPid       pid,
                TaskReader reader)
{
  g_autofree char *dir_path = g_strdup_printf ("/proc/%d/task", (int) pid);
  g_autoptr(GDir) dir = g_dir_open (dir_path, 0, NULL);
  const char *entry;
  gint64 total = 0;

  if (dir == NULL)
    return -1;
  while ((entry = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *task_dir = g_build_filename (dir_path, entry, NULL);
      gint64 value = reader (task_dir);

      if (value < 0)
        return -1;
      total += value;
    }
  return total;
}

static gint64
task_context_switches (const char *task_dir)
{
  g_autofree char *path = g_build_filename (task_dir, "status", NULL);
  g_autofree char *contents = NULL;
  gint64 voluntary, involuntary;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return -1;
  voluntary = status_value (contents, "voluntary_ctxt_switches");
  involuntary = status_value (contents, "nonvoluntary_ctxt_switches");
  if (voluntary < 0 || involuntary < 0)
    return -1;
  return voluntary + involuntary;
}

gint64
bench_proc_context_switches (GPid pid)
{
  return sum_over_tasks (pid, task_context_switches);
}

static gint64
task_timeslices (const char *task_dir)
{
  g_autofree char *path = g_build_filename (task_dir, "schedstat", NULL);
  g_autofree char *contents = NULL;
  g_auto(GStrv) fields = NULL;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return -1;
  fields = g_strsplit (g_strstrip (contents), " ", -1);
  if (g_strv_length (fields) < 3)
    return -1;
  return g_ascii_strtoll (fields[2], NULL, 10);
}

gint64
bench_proc_timeslices (GPid pid)
{
  return sum_over_tasks (pid, task_timeslices);
}

gint64
bench_proc_rss_kib (GPid pid)
{
  return bench_proc_status_kib (pid, "VmRSS");
}

gint64
bench_proc_status_kib (GPid        pid,
                       const char *field)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/status", (int) pid);
  g_autofree char *contents = NULL;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return -1;
  return status_value (contents, field);
}

char *
bench_cpu_model (void)
{
  g_autofree char *contents = NULL;
  g_auto(GStrv) lines = NULL;

  if (!g_file_get_contents ("/proc/cpuinfo", &contents, NULL, NULL))
    return g_strdup ("unknown");
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      if (g_str_has_prefix (lines[i], "model name"))
        {
          const char *colon = strchr (lines[i], ':');

          if (colon != NULL)
            return g_strstrip (g_strdup (colon + 1));
        }
    }
  return g_strdup ("unknown");
}

gint64
bench_mem_total_mib (void)
{
  g_autofree char *contents = NULL;
  g_autofree char *prefixed = NULL;

  if (!g_file_get_contents ("/proc/meminfo", &contents, NULL, NULL))
    return -1;
  /* status_value() looks for the key after a newline. */
  prefixed = g_strconcat ("\n", contents, NULL);
  return status_value (prefixed, "MemTotal") / 1024;
}
