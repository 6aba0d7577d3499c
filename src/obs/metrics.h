/* Metrics registry: counters, gauges and histograms with labels, rendered in the Prometheus
 * text exposition format (version 0.0.4). One registry per process.
 *
 * Families are registered once (at start) and series are found or created by their label
 * values; callers keep the obs_series pointer and update it with relaxed atomics, so the hot
 * path takes no lock. Names follow Prometheus conventions: prefix dlb_, the unit in the name
 * (_seconds, _bytes), _total for counters.
 *
 * How a subsystem adds its series (lake, storage, lineage queue, SSE ...):
 *
 *   static obs_series *g_puts;
 *   obs_family *f = obs_counter_family("dlb_storage_operations_total",
 *                                      "Object storage operations", "backend,operation");
 *   g_puts = obs_series_get(f, OBS_LABELS("s3", "put"));
 *   ...
 *   obs_counter_inc(g_puts);
 *
 * Values only known when asked (queue depth, client counts) are refreshed by a scrape hook:
 *   obs_metrics_on_scrape(my_refresh, my_ctx);   // my_refresh sets gauges right before render
 */
#ifndef DLB_OBS_METRICS_H
#define DLB_OBS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

typedef struct obs_family obs_family;
typedef struct obs_series obs_series;

#define OBS_MAX_LABELS 4
/* A compound literal of label values, in the order the family named its labels. */
#define OBS_LABELS(...) ((const char *const[]){__VA_ARGS__})

/* labels: comma-separated label names ("route,method,status"), NULL or "" for none.
 * Registering a name again returns the family already registered (same kind), so a
 * subsystem may call this from its init without coordination. NULL when the name or a label
 * name is not a valid Prometheus name, or the registry is full. */
obs_family *obs_counter_family(const char *name, const char *help, const char *labels);
obs_family *obs_gauge_family(const char *name, const char *help, const char *labels);
/* bounds: ascending upper bounds (the +Inf bucket is implicit); NULL for the default latency
 * buckets in seconds (0.5 ms to 10 s). */
obs_family *obs_histogram_family(const char *name, const char *help, const char *labels,
                                 const double *bounds, int nbounds);

/* The series of these label values (as many as the family has labels; NULL when it has
 * none), created on first use. Stable for the life of the process. */
obs_series *obs_series_get(obs_family *f, const char *const *values);

void obs_counter_inc(obs_series *s);
void obs_counter_add(obs_series *s, uint64_t n);
void obs_counter_addf(obs_series *s, double v); /* fractional (seconds of work) */
void obs_gauge_set(obs_series *s, double v);
void obs_gauge_add(obs_series *s, double v);
void obs_hist_observe(obs_series *s, double v);

/* Updates go to one of OBS_SHARDS copies chosen per thread (no cache line shared between the
 * HTTP threads); readers sum them. The calling thread's shard, for other sharded structures. */
#define OBS_SHARDS 4
int obs_thread_shard(void);

/* Called (in registration order, on the scraping thread) right before every render. */
typedef void (*obs_scrape_fn)(void *ctx);
void obs_metrics_on_scrape(obs_scrape_fn fn, void *ctx);

/* Runs the scrape hooks, then appends every family to out. 0 on success. */
int obs_metrics_render(buf_t *out);

/* Drops every family, series and hook (unit tests; never while other threads use them). */
void obs_metrics_reset(void);

/* Exposition helpers, exported for tests: label values escape \, " and newline; HELP text
 * escapes \ and newline. Append to out. */
int obs_escape_label(buf_t *out, const char *s);
int obs_escape_help(buf_t *out, const char *s);
/* A sample value as Prometheus reads it: integers without exponent, +Inf/-Inf/NaN. */
void obs_format_value(char *dst, size_t len, double v);

#endif
