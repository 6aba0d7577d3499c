#include "api.h"

#include "app.h"
#include "util/clock.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* The root document never changes while the process runs: build it once. */
static char *g_root_body;
static size_t g_root_len;

void api_root_init(const config_t *cfg)
{
    json_t *links =
        json_pack("{s:s, s:s, s:s, s:s, s:s}", "health", "/health", "live", "/health/live", "ready",
                  "/health/ready", "tables", "/tables", "events", "/events/stream");
    json_t *doc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "service", cfg->app_name, "name",
                            "ducklake-backend", "version", cfg->app_version, "description",
                            cfg->app_description, "environment", cfg->environment, "links", links);
    free(g_root_body);
    g_root_body = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    g_root_len = g_root_body ? strlen(g_root_body) : 0;
    json_decref(doc);
}

void api_root(http_req *req, http_resp *resp)
{
    (void)req;
    char *body = g_root_body ? malloc(g_root_len) : NULL;
    if (!body) {
        http_resp_error(resp, 500, "internal_error", "root document unavailable");
        return;
    }
    memcpy(body, g_root_body, g_root_len);
    http_resp_bytes(resp, 200, "application/json", body, g_root_len);
}

void api_health_live(http_req *req, http_resp *resp)
{
    (void)req;
    http_resp_json(resp, 200, json_pack("{s:s}", "status", "alive"));
}

void api_health_ready(http_req *req, http_resp *resp)
{
    const app_t *app = req->app;
    if (atomic_load(&app->shutting_down)) {
        http_resp_json(resp, 503,
                       json_pack("{s:s, s:s}", "status", "shutting_down", "detail",
                                 "the server is draining its requests"));
        http_resp_header(resp, "Retry-After", "1");
        return;
    }
    http_resp_json(resp, 200, json_pack("{s:s}", "status", "ready"));
}

static json_t *check(int ok, double ms, const char *error)
{
    json_t *o = json_pack("{s:s, s:f}", "status", ok ? "healthy" : "unhealthy", "latency_ms", ms);
    if (!ok) json_object_set_new(o, "error", json_string(error));
    return o;
}

void api_health(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    char err[512] = "";
    int healthy = 1, degraded = 0;
    json_t *checks = json_object();

    uint64_t t0 = clock_mono_ns();
    int ok = meta_ping(app->meta, err, sizeof(err)) == 0;
    json_t *c = check(ok, (double)(clock_mono_ns() - t0) / 1e6, err);
    json_object_set_new(c, "backend", json_string(meta_backend(app->meta)));
    json_object_set_new(c, "schema_version", json_integer(meta_schema_version(app->meta)));
    json_object_set_new(checks, "metadata_db", c);
    healthy &= ok;

    t0 = clock_mono_ns();
    err[0] = 0;
    ok = engine_ping(app->engine, err, sizeof(err)) == 0;
    c = check(ok, (double)(clock_mono_ns() - t0) / 1e6, err);
    json_object_set_new(c, "version", json_string(engine_version()));
    json_object_set_new(checks, "duckdb", c);
    healthy &= ok;

    size_t depth = pool_queue_depth(app->pool), cap = pool_queue_capacity(app->pool);
    int saturated = depth * 10 >= cap * 8;
    degraded |= saturated;
    json_object_set_new(checks, "worker_pool",
                        json_pack("{s:s, s:i, s:I, s:I, s:i}", "status",
                                  saturated ? "degraded" : "healthy", "threads",
                                  pool_threads(app->pool), "queue_depth", (json_int_t)depth,
                                  "queue_capacity", (json_int_t)cap, "busy", pool_busy(app->pool)));

    const char *status = !healthy ? "unhealthy" : degraded ? "degraded" : "healthy";
    json_t *body =
        json_pack("{s:s, s:s, s:s, s:f, s:f, s:o}", "status", status, "version",
                  app->cfg->app_version, "environment", app->cfg->environment, "timestamp",
                  clock_wall(), "uptime_seconds", clock_wall() - app->started_at, "checks", checks);
    http_resp_json(resp, healthy ? 200 : 503, body);
    if (!healthy) http_resp_header(resp, "Retry-After", "5");
}
