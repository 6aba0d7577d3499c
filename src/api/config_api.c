/* GET /config/summary, /config/validate, /config/features, /config/health,
 * /config/health/last, /config/ducklake and POST /config/ducklake/reconnect. No secret ever
 * leaves this file: every value comes from config_summary_json (masked) or is not a secret. */
#include "api.h"

#include "app.h"
#include "obs/config_monitor.h"
#include "obs/obs.h"
#include "util/clock.h"
#include "util/log.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

static json_t *str_or_null(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

static json_t *ducklake_settings(const config_t *c)
{
    return json_pack("{s:s, s:s, s:b, s:i, s:o, s:o, s:b, s:i, s:f, s:f}", "metadata_schema",
                     c->db_ducklake_metadata_schema, "metadata_catalog",
                     c->db_ducklake_metadata_catalog, "encrypted", c->db_ducklake_encrypted,
                     "data_inlining_row_limit", (int)c->db_ducklake_data_inlining_row_limit,
                     "snapshot_version", str_or_null(c->db_ducklake_snapshot_version),
                     "snapshot_time", str_or_null(c->db_ducklake_snapshot_time), "read_only",
                     c->db_ducklake_read_only, "connection_retries",
                     (int)c->db_ducklake_connection_retries, "connection_retry_delay",
                     c->db_ducklake_connection_retry_delay, "connection_timeout",
                     c->db_ducklake_connection_timeout);
}

static json_t *storage_settings(const config_t *c)
{
    return json_pack("{s:s, s:s, s:b, s:s, s:s}", "backend", c->storage_backend, "endpoint",
                     c->storage_minio_endpoint, "secure", c->storage_minio_secure, "default_bucket",
                     c->storage_default_bucket, "region", c->storage_minio_region);
}

static int features_on(const config_t *c)
{
    int n = 0;
#define X(NAME, field) n += c->field != 0;
    CFGMON_FEATURES(X)
#undef X
    return n;
}

static json_t *summary(const config_t *c, const char *backend)
{
    char pool[32];
    snprintf(pool, sizeof(pool), "%ld-%ld", c->db_postgres_min_connections,
             c->db_postgres_max_connections);
    json_t *db = json_pack("{s:s, s:o, s:i, s:s, s:s}", "backend", backend, "host",
                           str_or_null(c->db_postgres_host), "port", (int)c->db_postgres_port,
                           "database", c->db_postgres_db, "pool_size", pool);
    return json_pack("{s:s, s:b, s:s, s:s, s:i, s:o, s:o, s:o, s:i, s:b, s:o}", "environment",
                     c->environment, "debug", c->debug, "log_level", c->log_level, "host", c->host,
                     "port", (int)c->port, "database", db, "ducklake", ducklake_settings(c),
                     "storage", storage_settings(c), "features_enabled", features_on(c),
                     "monitoring_enabled", c->monitoring_metrics_enabled, "variables",
                     config_summary_json(c));
}

void api_config_summary(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    http_resp_json(resp, 200, summary(app->cfg, meta_backend(app->meta)));
}

void api_config_validate(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    json_t *errors = cfgmon_validate();
    if (json_array_size(errors) == 0) {
        json_t *brief = summary(app->cfg, meta_backend(app->meta));
        json_object_del(brief, "variables");
        http_resp_json(resp, 200,
                       json_pack("{s:b, s:s, s:o, s:o}", "valid", 1, "environment",
                                 app->cfg->environment, "config_summary", brief,
                                 "validation_errors", errors));
        return;
    }
    http_resp_json(resp, 200,
                   json_pack("{s:b, s:s, s:o}", "valid", 0, "error",
                             "the environment and ENV_FILE no longer validate; the running "
                             "server keeps the configuration it started with",
                             "validation_errors", errors));
}

void api_config_features(http_req *req, http_resp *resp)
{
    const config_t *c = ((app_t *)req->app)->cfg;
    json_t *o = json_object();
    char key[64];
#define X(NAME, field)                                                                             \
    snprintf(key, sizeof(key), "enable_%s", #NAME);                                                \
    for (char *p = key; *p; p++)                                                                   \
        *p = (char)tolower((unsigned char)*p);                                                     \
    json_object_set_new(o, key, json_boolean(c->field));
    CFGMON_FEATURES(X)
#undef X
    http_resp_json(resp, 200, o);
}

void api_config_health(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    if (!app->cfgmon) {
        http_resp_error(resp, 503, "unavailable", "the configuration monitor is not running");
        return;
    }
    http_resp_json(resp, 200, cfgmon_check(app->cfgmon));
}

void api_config_health_last(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    json_t *last = app->cfgmon ? cfgmon_last(app->cfgmon) : NULL;
    if (!last) {
        http_resp_error(resp, 503, "not_ready",
                        "the configuration monitor has not finished its first check yet");
        http_resp_header(resp, "Retry-After", "1");
        return;
    }
    http_resp_json(resp, 200, last);
}

/* The catalog connection as the metadata database reports it (the DuckLake catalog lives in
 * that database). */
static json_t *catalog_state(app_t *app, int *connected)
{
    char err[512] = "";
    uint64_t t0 = clock_mono_ns();
    *connected = meta_ping(app->meta, err, sizeof(err)) == 0;
    uint64_t ns = clock_mono_ns() - t0;
    obs_dep_observe("metadata_db", "ping", ns, *connected);
    json_t *o = json_pack("{s:s, s:b, s:f, s:i, s:i}", "backend", meta_backend(app->meta),
                          "connected", *connected, "latency_ms", (double)ns / 1e6, "schema_version",
                          *connected ? meta_schema_version(app->meta) : -1, "pool_size",
                          meta_pool_size(app->meta));
    if (!*connected) json_object_set_new(o, "error", json_string(err));
    return o;
}

void api_config_ducklake(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    const config_t *c = app->cfg;
    int connected;
    json_t *catalog = catalog_state(app, &connected);
    char data_path[4200];
    snprintf(data_path, sizeof(data_path), "%s/lake/", c->data_dir);
    json_t *snapshot = json_null(), *tables = json_null(), *lake;
    if (!app->lake) {
        /* main has not opened the lake (an older wiring or a failed open): say so instead of
         * guessing figures from the catalog rows. */
        lake = json_pack("{s:s, s:s}", "state", "not_initialised", "detail",
                         "the lake is not open in this server; current_snapshot and "
                         "table_count are null");
    } else {
        snprintf(data_path, sizeof(data_path), "%s", lake_data_path(app->lake));
        lake = json_pack("{s:s, s:s, s:b}", "state", "open", "format_version",
                         lake_version(app->lake), "read_only", lake_read_only(app->lake));
        dlb_err err = {0};
        int64_t snap;
        /* The snapshot reads use: the pinned one (DB_DUCKLAKE_SNAPSHOT_*) or the latest. */
        if (lake_resolve_snapshot(app->lake, NULL, NULL, &snap, &err) == 0) {
            snapshot = json_integer((json_int_t)snap);
            json_t *list = lake_tables_json(app->lake, snap, 0, &err);
            if (list) tables = json_integer((json_int_t)json_array_size(list));
            json_decref(list);
        }
        if (err.status) json_object_set_new(lake, "error", json_string(err.detail));
    }
    http_resp_json(resp, 200,
                   json_pack("{s:s, s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:s}", "connection_status",
                             connected ? "connected" : "disconnected", "catalog", catalog,
                             "data_path", data_path, "current_snapshot", snapshot, "table_count",
                             tables, "lake", lake, "configuration", ducklake_settings(c),
                             "storage_config", storage_settings(c), "environment", c->environment));
}

void api_config_ducklake_reconnect(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    /* Idle pooled connections are closed now; those in use finish their request and are
     * replaced when released, so no request in flight is dropped. */
    meta_reconnect(app->meta);
    int connected;
    json_t *catalog = catalog_state(app, &connected);
    log_msg(connected ? LOG_INFO : LOG_WARNING, "metadata database reconnect", "result",
            connected ? "successful" : "failed", (const char *)0);
    if (!connected) {
        const char *e = json_string_value(json_object_get(catalog, "error"));
        http_resp_error(resp, 503, "reconnect_failed", "DuckLake reconnection failed: %s",
                        e ? e : "unknown error");
        http_resp_header(resp, "Retry-After", "5");
        json_decref(catalog);
        return;
    }
    http_resp_json(resp, 200,
                   json_pack("{s:s, s:{s:b, s:f, s:s, s:s}, s:o}", "message",
                             "DuckLake catalog connections reopened", "status", "connected", 1,
                             "timestamp", clock_wall(), "environment", app->cfg->environment,
                             "reconnection", "successful", "catalog", catalog));
}
