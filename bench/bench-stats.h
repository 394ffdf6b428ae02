/* bench-stats.h: small statistics and /proc helpers for bursar-bench.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Nearest-rank percentile (0 < @p <= 100) of @values; sorts @values. */
double bench_percentile (GArray *values,
                         double  p);

/* Sum of voluntary and involuntary context switches of every thread of
 * @pid (each one is a wake-up or a preemption), or -1. */
gint64 bench_proc_context_switches (GPid pid);

/* Sum of the "timeslices run" field of /proc/PID/task/TID/schedstat, or
 * -1 when schedstat is not available. */
gint64 bench_proc_timeslices (GPid pid);

/* VmRSS of @pid in KiB, or -1. */
gint64 bench_proc_rss_kib (GPid pid);
/* A "kB" line of /proc/PID/status (RssAnon, RssFile, …); -1 if unread. */
gint64 bench_proc_status_kib (GPid        pid,
                              const char *field);

/* "model name" of the first CPU, total memory in MiB. */
char *bench_cpu_model (void);
gint64 bench_mem_total_mib (void);

G_END_DECLS
