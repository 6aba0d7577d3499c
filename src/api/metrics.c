/* GET /metrics (Prometheus), GET /metrics/memory, GET /metrics/performance, POST /metrics/gc,
 * and the per-request hook that feeds them. Figures come from obs/; this file adds what only
 * the application knows (pools, in-flight requests, the metadata database, DuckDB). */
#include "api.h"

#include "app.h"
#include "obs/obs.h"
#include "util/clock.h"
#include "util/log.h"

#include <jansson.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>

char api_metrics_path[128] = "/metrics";

static obs_series *g_inflight, *g_meta_up, *g_meta_ping, *g_duck_state[3], *g_duck_limit;
static obs_series *g_pool_depth[2], *g_pool_cap[2], *g_pool_busy[2], *g_pool_threads[2];

void api_metrics_init(const config_t *cfg)
{
    snprintf(api_metrics_path, sizeof(api_metrics_path), "%s", cfg->monitoring_metrics_path);
}

static const char *method_name(int m)
{
    switch (m) {
    case HTTP_GET:
        return "GET";
    case HTTP_HEAD:
        return "HEAD";
    case HTTP_POST:
        return "POST";
    case HTTP_PUT:
        return "PUT";
    case HTTP_DELETE:
        return "DELETE";
    case HTTP_OPTIONS:
        return "OPTIONS";
    case HTTP_PATCH:
        return "PATCH";
    default:
        return "OTHER"; /* never the client's text: it would be an unbounded label */
    }
}

void api_on_complete(void *app, const http_req *req, int status, uint64_t ns)
{
    app_t *a = app;
    const http_route *r = req->route;
    obs_http_observe(a->obs, r, r ? r->pattern : NULL, method_name(req->method), status, ns,
                     req->request_id, r && (r->flags & ROUTE_STREAM));
}

/* Scrape hook: the application's gauges, read right before each render. */
static void refresh_app(void *ctx)
{
    app_t *app = ctx;
    obs_gauge_set(g_inflight, app->http ? http_server_inflight(app->http) : 0);
    pool_t *pools[2] = {app->pool, app->control_pool};
    for (int i = 0; i < 2; i++) {
        if (!pools[i]) continue;
        obs_gauge_set(g_pool_depth[i], (double)pool_queue_depth(pools[i]));
        obs_gauge_set(g_pool_cap[i], (double)pool_queue_capacity(pools[i]));
        obs_gauge_set(g_pool_busy[i], pool_busy(pools[i]));
        obs_gauge_set(g_pool_threads[i], pool_threads(pools[i]));
    }
    char err[256];
    uint64_t t0 = clock_mono_ns();
    int ok = meta_ping(app->meta, err, sizeof(err)) == 0;
    uint64_t ns = clock_mono_ns() - t0;
    obs_dep_observe("metadata_db", "ping", ns, ok);
    obs_gauge_set(g_meta_up, ok);
    obs_gauge_set(g_meta_ping, (double)ns / 1e9);
    int st = engine_started(app->engine); /* never starts DuckDB: a scrape is no first use */
    for (int i = 0; i < 3; i++)
        obs_gauge_set(g_duck_state[i], st == i - 1);
    obs_gauge_set(g_duck_limit, (double)engine_memory_limit(app->engine));
}

void api_metrics_start(app_t *app)
{
    if (!obs_prometheus_on(app->obs)) return;
    g_inflight = obs_series_get(
        obs_gauge_family("dlb_http_requests_in_flight", "Requests accepted and not finished", NULL),
        NULL);
    obs_family *depth =
        obs_gauge_family("dlb_worker_queue_depth", "Jobs waiting for a worker", "pool");
    obs_family *cap = obs_gauge_family("dlb_worker_queue_capacity",
                                       "Jobs that may wait before requests get 503", "pool");
    obs_family *busy = obs_gauge_family("dlb_worker_busy_threads", "Workers running a job", "pool");
    obs_family *thr = obs_gauge_family("dlb_worker_threads", "Worker threads", "pool");
    static const char *names[2] = {"data", "control"};
    for (int i = 0; i < 2; i++) {
        g_pool_depth[i] = obs_series_get(depth, OBS_LABELS(names[i]));
        g_pool_cap[i] = obs_series_get(cap, OBS_LABELS(names[i]));
        g_pool_busy[i] = obs_series_get(busy, OBS_LABELS(names[i]));
        g_pool_threads[i] = obs_series_get(thr, OBS_LABELS(names[i]));
    }
    g_meta_up =
        obs_series_get(obs_gauge_family("dlb_metadata_db_up",
                                        "1 when the metadata database answered the scrape's "
                                        "ping",
                                        "backend"),
                       OBS_LABELS(meta_backend(app->meta)));
    g_meta_ping = obs_series_get(obs_gauge_family("dlb_metadata_db_ping_seconds",
                                                  "Duration of the scrape's metadata database ping",
                                                  "backend"),
                                 OBS_LABELS(meta_backend(app->meta)));
    obs_family *duck = obs_gauge_family("dlb_duckdb_state",
                                        "DuckDB state (it starts on first use): 1 for the "
                                        "current state",
                                        "state");
    static const char *states[3] = {"failed", "not_started", "running"};
    for (int i = 0; i < 3; i++)
        g_duck_state[i] = obs_series_get(duck, OBS_LABELS(states[i]));
    g_duck_limit = obs_series_get(
        obs_gauge_family("dlb_duckdb_memory_limit_bytes", "DB_DUCKDB_MEMORY_LIMIT resolved", NULL),
        NULL);
    obs_metrics_on_scrape(refresh_app, app);
}

static void disabled(http_resp *resp, const char *what, const char *var)
{
    http_resp_error(resp, 404, "feature_disabled", "%s is disabled: set %s=true to enable it", what,
                    var);
}

void api_metrics(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    if (!app->cfg->feature_prometheus_metrics) {
        disabled(resp, "the Prometheus exposition", "FEATURE_ENABLE_PROMETHEUS_METRICS");
        return;
    }
    if (!app->cfg->monitoring_metrics_enabled) {
        disabled(resp, "metrics collection", "MONITORING_METRICS_ENABLED");
        return;
    }
    buf_t b;
    buf_init(&b, 64u << 20);
    if (obs_metrics_render(&b)) {
        buf_free(&b);
        http_resp_error(resp, 500, "internal_error", "cannot render the metrics");
        return;
    }
    size_t len;
    char *text = buf_steal(&b, &len);
    http_resp_bytes(resp, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

void api_metrics_memory(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    obs_memmon *m = obs_memory_monitor(app->obs);
    if (!m) {
        disabled(resp, "memory monitoring", "FEATURE_ENABLE_MEMORY_MONITORING");
        return;
    }
    http_resp_json(resp, 200, obs_memmon_json(m));
}

void api_metrics_performance(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    if (!obs_perf_on(app->obs)) {
        disabled(resp, "performance tracking", "FEATURE_ENABLE_PERFORMANCE_TRACKING");
        return;
    }
    unsigned active = app->http ? http_server_inflight(app->http) : 0;
    http_resp_json(resp, 200, obs_performance_json(app->obs, active));
}

/* DuckDB keeps recently read file blocks in its external file cache; turning the cache off
 * and on again empties it (checked with duckdb_memory() on DuckDB 1.5). Runs on this control
 * worker's own connection, and only when DuckDB already runs: a GC is no reason to start it. */
static json_t *duckdb_release(app_t *app)
{
    int st = engine_started(app->engine);
    if (st != 1)
        return json_pack("{s:s, s:b}", "state", st == 0 ? "not_started" : "failed", "released", 0);
    duckdb_connection con = engine_conn(app->engine, pool_worker_index());
    if (!con) return json_pack("{s:s, s:b}", "state", "running", "released", 0);
    static const char *usage = "SELECT coalesce(sum(memory_usage_bytes), 0)::BIGINT, "
                               "current_setting('enable_external_file_cache')::BOOLEAN "
                               "FROM duckdb_memory()";
    duckdb_result r;
    int64_t before = -1, after = -1;
    int cache_on = 0, released = 0;
    const char *error = NULL;
    char errbuf[256] = "";
    if (duckdb_query(con, usage, &r) == DuckDBSuccess) {
        before = duckdb_value_int64(&r, 0, 0);
        cache_on = duckdb_value_boolean(&r, 1, 0);
    }
    duckdb_destroy_result(&r);
    if (cache_on) {
        duckdb_result x;
        if (duckdb_query(con, "SET enable_external_file_cache = false", &x) == DuckDBSuccess) {
            duckdb_destroy_result(&x);
            released =
                duckdb_query(con, "SET enable_external_file_cache = true", &x) == DuckDBSuccess;
        }
        if (!released) {
            snprintf(errbuf, sizeof(errbuf), "%s",
                     duckdb_result_error(&x) ? duckdb_result_error(&x) : "refused");
            error = errbuf;
        }
        duckdb_destroy_result(&x);
    }
    if (duckdb_query(con, usage, &r) == DuckDBSuccess) after = duckdb_value_int64(&r, 0, 0);
    duckdb_destroy_result(&r);
    json_t *o = json_pack("{s:s, s:b, s:I, s:I}", "state", "running", "released", released,
                          "memory_before_bytes", (json_int_t)before, "memory_after_bytes",
                          (json_int_t)after);
    if (error) json_object_set_new(o, "error", json_string(error));
    return o;
}

void api_metrics_gc(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    if (!obs_memory_monitor(app->obs)) {
        disabled(resp, "memory monitoring (and POST /metrics/gc with it)",
                 "FEATURE_ENABLE_MEMORY_MONITORING");
        return;
    }
    obs_mem_sample before, after;
    obs_mem_read(&before);
    uint64_t t0 = clock_mono_ns();
    json_t *duck = duckdb_release(app);
    /* Returns free heap pages of every malloc arena to the system (not only the top). */
    int trimmed = malloc_trim(0);
    obs_mem_read(&after);
    char freed[32];
    snprintf(freed, sizeof(freed), "%.1f", (double)(before.rss - after.rss) / 1048576.0);
    log_info("memory returned to the system", "released_mb", freed);
    http_resp_json(resp, 200,
                   json_pack("{s:i, s:o, s:o, s:I, s:f, s:{s:b}, s:o, s:f}", "collected_objects", 0,
                             "memory_before_gc", obs_mem_sample_json(&before), "memory_after_gc",
                             obs_mem_sample_json(&after), "released_bytes",
                             (json_int_t)(before.rss - after.rss), "released_mb",
                             (double)(before.rss - after.rss) / 1048576.0, "allocator", "trimmed",
                             trimmed, "duckdb", duck, "duration_ms",
                             (double)(clock_mono_ns() - t0) / 1e6));
}
