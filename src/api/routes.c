#include "api.h"

/* Order matters only between patterns that can match the same path: the first wins. */
static const http_route routes[] = {
    {HTTP_GET, "/", api_root, ROUTE_INLINE, "public", NULL},
    {HTTP_GET, "/health", api_health, ROUTE_CONTROL, "public", NULL},
    {HTTP_GET, "/health/live", api_health_live, ROUTE_INLINE, "public", NULL},
    {HTTP_GET, "/health/ready", api_health_ready, ROUTE_INLINE, "public", NULL},
    {HTTP_POST, "/debug/echo", api_debug_echo, ROUTE_INLINE_SMALL, "reader", NULL},
    {HTTP_GET, "/debug/sleep", api_debug_sleep, 0, "reader", NULL},
    {HTTP_GET, "/debug/stream", api_debug_stream, ROUTE_STREAM, "reader", NULL},
    /* API keys (admin_keys.c). */
    {HTTP_GET, "/admin/keys", api_keys_list, 0, "admin", NULL},
    {HTTP_POST, "/admin/keys", api_keys_create, 0, "admin", NULL},
    {HTTP_DELETE, "/admin/keys/{key_id}", api_keys_revoke, 0, "admin", NULL},
    /* DuckLake tables (tables.c). Appends spool their body to a file as it arrives, up to
     * STORAGE_MAX_FILE_SIZE; query answers stream. */
    {HTTP_POST, "/tables", api_tables_create, 0, "writer", NULL},
    {HTTP_GET, "/tables", api_tables_list, 0, "reader", NULL},
    {HTTP_GET, "/tables/{name}", api_tables_get, 0, "reader", NULL},
    {HTTP_PUT, "/tables/{name}", api_tables_append, ROUTE_SPOOL, "writer", "STORAGE_MAX_FILE_SIZE"},
    {HTTP_DELETE, "/tables/{name}", api_tables_drop, 0, "admin", NULL},
    {HTTP_POST, "/tables/{name}/query", api_tables_query, ROUTE_STREAM, "reader", NULL},
    {HTTP_GET, "/tables/{name}/snapshots", api_snapshots, 0, "reader", NULL},
    {HTTP_GET, "/snapshots", api_snapshots, 0, "reader", NULL},
    /* Observability and configuration (metrics.c, config_api.c); on the control pool so that
     * a busy server still answers them. The Prometheus path is MONITORING_METRICS_PATH. */
    {HTTP_GET, api_metrics_path, api_metrics, ROUTE_CONTROL, "public", NULL},
    {HTTP_GET, "/metrics/memory", api_metrics_memory, ROUTE_CONTROL, "reader", NULL},
    {HTTP_GET, "/metrics/performance", api_metrics_performance, ROUTE_CONTROL, "reader", NULL},
    {HTTP_POST, "/metrics/gc", api_metrics_gc, ROUTE_CONTROL, "admin", NULL},
    {HTTP_GET, "/config/summary", api_config_summary, ROUTE_CONTROL, "admin", NULL},
    {HTTP_GET, "/config/validate", api_config_validate, ROUTE_CONTROL, "admin", NULL},
    {HTTP_GET, "/config/features", api_config_features, ROUTE_INLINE, "reader", NULL},
    {HTTP_GET, "/config/health", api_config_health, ROUTE_CONTROL, "admin", NULL},
    {HTTP_GET, "/config/health/last", api_config_health_last, ROUTE_INLINE, "admin", NULL},
    {HTTP_GET, "/config/ducklake", api_config_ducklake, ROUTE_CONTROL, "admin", NULL},
    {HTTP_POST, "/config/ducklake/reconnect", api_config_ducklake_reconnect, ROUTE_CONTROL, "admin",
     NULL},
    /* Server-Sent Events (events.c). Streams register inline (no worker is held per stream);
     * the listings walk every client, so they run on the control pool. */
    {HTTP_GET, "/events/stream", api_events_stream, ROUTE_INLINE | ROUTE_STREAM, "reader", NULL},
    {HTTP_GET, "/events/lineage", api_events_lineage, ROUTE_INLINE | ROUTE_STREAM, "reader", NULL},
    {HTTP_GET, "/events/jobs", api_events_jobs, ROUTE_INLINE | ROUTE_STREAM, "reader", NULL},
    {HTTP_GET, "/events/metrics", api_events_metrics, ROUTE_INLINE | ROUTE_STREAM, "reader", NULL},
    {HTTP_GET, "/events/stats", api_events_stats, ROUTE_CONTROL, "reader", NULL},
    {HTTP_POST, "/events/broadcast", api_events_broadcast, 0, "admin", NULL},
    {HTTP_DELETE, "/events/clients/{client_id}", api_events_client_delete, ROUTE_INLINE, "admin",
     NULL},
    {HTTP_GET, "/events/zombies", api_events_zombies, ROUTE_CONTROL, "reader", NULL},
    {HTTP_POST, "/events/zombies/cleanup", api_events_zombies_cleanup, ROUTE_CONTROL, "admin",
     NULL},
    {HTTP_POST, "/events/pong", api_events_pong, ROUTE_INLINE_SMALL, "reader", NULL},
    {HTTP_GET, "/events/test", api_events_page, ROUTE_INLINE, "public", NULL},
    /* Object storage (datasets.c). Uploads go to the store as they arrive, up to
     * STORAGE_MAX_FILE_SIZE; downloads stream (GET rows answer HEAD too). */
    {HTTP_POST, "/datasets/{bucket}", api_datasets_bucket_create, 0, "writer", NULL},
    {HTTP_GET, "/datasets/{bucket}", api_datasets_list, 0, "reader", NULL},
    {HTTP_DELETE, "/datasets/{bucket}", api_datasets_bucket_delete, 0, "admin", NULL},
    {HTTP_PUT, "/datasets/{bucket}/{object*}", api_datasets_put, ROUTE_BODY_STREAM, "writer",
     "STORAGE_MAX_FILE_SIZE"},
    {HTTP_GET, "/datasets/{bucket}/{object*}", api_datasets_get, ROUTE_STREAM, "reader", NULL},
    {HTTP_DELETE, "/datasets/{bucket}/{object*}", api_datasets_delete, 0, "admin", NULL},
    /* Jobs and OpenLineage (jobs.c, lineage.c). Everything touches the metadata database, so
     * it runs on the worker pool. */
    {HTTP_POST, "/jobs", api_jobs_create, 0, "writer", NULL},
    {HTTP_GET, "/jobs", api_jobs_list, 0, "reader", NULL},
    {HTTP_GET, "/jobs/{job}", api_job_get, 0, "reader", NULL},
    {HTTP_POST, "/jobs/{job}/runs", api_job_run_start, 0, "writer", NULL},
    {HTTP_PUT, "/jobs/{job}/runs/{run_id}/complete", api_job_run_complete, 0, "writer", NULL},
    {HTTP_GET, "/jobs/{job}/runs/{run_id}", api_job_run_get, 0, "reader", NULL},
    {HTTP_POST, "/api/v1/lineage", api_lineage_collect, 0, "writer", NULL},
    {HTTP_POST, "/api/v1/lineage/batch", api_lineage_batch, 0, "writer", NULL},
    {HTTP_POST, "/api/v1/lineage/events", api_lineage_collect, 0, "writer", NULL},
    {HTTP_GET, "/api/v1/lineage", api_lineage_graph, 0, "reader", NULL},
    {HTTP_GET, "/api/v1/lineage/jobs", api_lineage_jobs, 0, "reader", NULL},
    {HTTP_GET, "/api/v1/lineage/jobs/{job}/runs", api_lineage_job_runs, 0, "reader", NULL},
    {HTTP_GET, "/api/v1/lineage/runs/{run_id}", api_lineage_run, 0, "reader", NULL},
    {HTTP_GET, "/api/v1/lineage/datasets", api_lineage_datasets, 0, "reader", NULL},
    {HTTP_GET, "/api/v1/lineage/datasets/lineage", api_lineage_dataset_lineage, 0, "reader", NULL},
    {HTTP_GET, "/api/v1/lineage/datasets/{namespace}/{name}/lineage", api_lineage_dataset_lineage,
     0, "reader", NULL},
    {HTTP_GET, "/api/v1/lineage/stats", api_lineage_stats, 0, "reader", NULL},
    {HTTP_GET, "/api/v1/events/lineage", api_lineage_events_list, 0, "reader", NULL},
    /* Dead letters of the lineage delivery (lineage.c). */
    {HTTP_GET, "/lineage/dlq", api_lineage_dlq_list, 0, "reader", NULL},
    {HTTP_POST, "/lineage/dlq/replay", api_lineage_dlq_replay_all, 0, "admin", NULL},
    {HTTP_POST, "/lineage/dlq/{id}/replay", api_lineage_dlq_replay, 0, "admin", NULL},
    {HTTP_DELETE, "/lineage/dlq/{id}", api_lineage_dlq_delete, 0, "admin", NULL},
};

const http_route *api_routes(size_t *n)
{
    *n = sizeof(routes) / sizeof(routes[0]);
    return routes;
}
