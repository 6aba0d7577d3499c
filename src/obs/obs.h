/* Observability: what main starts and the API reads. One instance per process (the calls
 * below that take no obs_t use it), created by main after the configuration is loaded.
 *
 *   - Prometheus metrics (metrics.h) when FEATURE_ENABLE_PROMETHEUS_METRICS and
 *     MONITORING_METRICS_ENABLED are on: HTTP requests by route template, method and status,
 *     latency histograms, process memory, dependency latency and errors, build info.
 *   - Performance tracking (perf.h) when FEATURE_ENABLE_PERFORMANCE_TRACKING is on.
 *   - The memory sampler (memory.h) when FEATURE_ENABLE_MEMORY_MONITORING is on.
 * A feature that is off allocates nothing, starts no thread and adds no work per request. */
#ifndef DLB_OBS_OBS_H
#define DLB_OBS_OBS_H

#include <stdint.h>

#include "obs/memory.h"
#include "obs/metrics.h"

struct config;
struct json_t;
typedef struct obs obs_t;

obs_t *obs_create(const struct config *cfg);
/* After the HTTP server, the pools and the monitors stopped: also drops the metrics registry. */
void obs_destroy(obs_t *o);

int obs_prometheus_on(const obs_t *o);
int obs_perf_on(const obs_t *o);
/* NULL when memory monitoring is off. */
obs_memmon *obs_memory_monitor(obs_t *o);

/* One finished HTTP request. route_key identifies the route (the route table row; NULL for
 * requests that matched none, counted under route "unmatched"); pattern is its template;
 * method a static string ("GET"); is_stream: a long-lived response (never "slow").
 * Lock-free after the first request of a route and status. */
void obs_http_observe(obs_t *o, const void *route_key, const char *pattern, const char *method,
                      int status, uint64_t ns, const char *request_id, int is_stream);

/* One call to a dependency, from any subsystem: dependency "metadata_db", "duckdb",
 * "storage", "openlineage" ...; operation "ping", "query", "put" ... Feeds
 * dlb_dependency_duration_seconds / dlb_dependency_errors_total and the "dependencies"
 * section of GET /metrics/performance. A no-op before obs_create. */
void obs_dep_observe(const char *dependency, const char *operation, uint64_t ns, int ok);

/* A slow operation other than an HTTP request (a DuckDB query ...): kept in the slow list
 * of GET /metrics/performance and logged when above MONITORING_SLOW_QUERY_THRESHOLD.
 * detail is shown as given (at most 200 bytes): never pass secrets. */
void obs_slow_observe(const char *kind, const char *detail, uint64_t ns);

/* GET /metrics/performance body (perf tracking on); active: requests in flight. */
struct json_t *obs_performance_json(obs_t *o, unsigned active);

#endif
