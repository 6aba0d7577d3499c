/* HTTP handlers: they translate requests into calls on the subsystems and nothing else. */
#ifndef DLB_API_H
#define DLB_API_H

#include <stddef.h>

#include "http/http.h"
#include "util/err.h"

/* The whole route table (every route declares the role it needs). */
const http_route *api_routes(size_t *n);

struct config;
/* Prepares what handlers compute once (the root document). */
void api_root_init(const struct config *cfg);

/* Handlers, grouped by file. */
void api_root(http_req *req, http_resp *resp);
void api_health(http_req *req, http_resp *resp);
void api_health_live(http_req *req, http_resp *resp);
void api_health_ready(http_req *req, http_resp *resp);
void api_debug_echo(http_req *req, http_resp *resp);
/* Security glue (auth_hook.c, admin_keys.c). */
int api_authorize(void *app, http_req *req, http_resp *resp);
void api_audit(void *app, const http_req *req, int status);
void api_keys_list(http_req *req, http_resp *resp);
void api_keys_create(http_req *req, http_resp *resp);
void api_keys_revoke(http_req *req, http_resp *resp);
void api_tables_create(http_req *req, http_resp *resp);
void api_tables_list(http_req *req, http_resp *resp);
void api_tables_get(http_req *req, http_resp *resp);
void api_tables_append(http_req *req, http_resp *resp);
void api_tables_drop(http_req *req, http_resp *resp);
void api_tables_query(http_req *req, http_resp *resp);
void api_snapshots(http_req *req, http_resp *resp);
void api_debug_sleep(http_req *req, http_resp *resp);
void api_debug_stream(http_req *req, http_resp *resp);

/* metrics.c: observability endpoints and the per-request hook (http_options.on_complete). */
struct app;
extern char api_metrics_path[128]; /* MONITORING_METRICS_PATH, set by api_metrics_init */
void api_metrics_init(const struct config *cfg);
/* Registers the application's gauges (pools, in-flight, metadata DB, DuckDB) when the
 * Prometheus exposition is on. After app->obs exists. */
void api_metrics_start(struct app *app);
void api_on_complete(void *app, const http_req *req, int status, uint64_t ns);
void api_metrics(http_req *req, http_resp *resp);
void api_metrics_memory(http_req *req, http_resp *resp);
void api_metrics_performance(http_req *req, http_resp *resp);
void api_metrics_gc(http_req *req, http_resp *resp);
/* config_api.c */
void api_config_summary(http_req *req, http_resp *resp);
void api_config_validate(http_req *req, http_resp *resp);
void api_config_features(http_req *req, http_resp *resp);
void api_config_health(http_req *req, http_resp *resp);
void api_config_health_last(http_req *req, http_resp *resp);
void api_config_ducklake(http_req *req, http_resp *resp);
void api_config_ducklake_reconnect(http_req *req, http_resp *resp);
/* events.c: Server-Sent Event streams and their management; events_page.c: the test page. */
void api_events_stream(http_req *req, http_resp *resp);
void api_events_lineage(http_req *req, http_resp *resp);
void api_events_jobs(http_req *req, http_resp *resp);
void api_events_metrics(http_req *req, http_resp *resp);
void api_events_stats(http_req *req, http_resp *resp);
void api_events_broadcast(http_req *req, http_resp *resp);
void api_events_client_delete(http_req *req, http_resp *resp);
void api_events_zombies(http_req *req, http_resp *resp);
void api_events_zombies_cleanup(http_req *req, http_resp *resp);
void api_events_pong(http_req *req, http_resp *resp);
void api_events_page(http_req *req, http_resp *resp);
/* datasets.c: object storage buckets and objects. */
void api_datasets_bucket_create(http_req *req, http_resp *resp);
void api_datasets_list(http_req *req, http_resp *resp);
void api_datasets_bucket_delete(http_req *req, http_resp *resp);
void api_datasets_put(http_req *req, http_resp *resp);
void api_datasets_get(http_req *req, http_resp *resp);
void api_datasets_delete(http_req *req, http_resp *resp);

/* jobs.c: the /jobs API; lineage.c: the OpenLineage collector and lineage read API. */
void api_jobs_create(http_req *req, http_resp *resp);
void api_jobs_list(http_req *req, http_resp *resp);
void api_job_get(http_req *req, http_resp *resp);
void api_job_run_start(http_req *req, http_resp *resp);
void api_job_run_complete(http_req *req, http_resp *resp);
void api_job_run_get(http_req *req, http_resp *resp);
void api_lineage_collect(http_req *req, http_resp *resp);
void api_lineage_batch(http_req *req, http_resp *resp);
void api_lineage_graph(http_req *req, http_resp *resp);
void api_lineage_jobs(http_req *req, http_resp *resp);
void api_lineage_job_runs(http_req *req, http_resp *resp);
void api_lineage_run(http_req *req, http_resp *resp);
void api_lineage_datasets(http_req *req, http_resp *resp);
void api_lineage_dataset_lineage(http_req *req, http_resp *resp);
void api_lineage_stats(http_req *req, http_resp *resp);
void api_lineage_events_list(http_req *req, http_resp *resp);
/* /lineage/dlq: dead letters of the delivery worker (list reader; replay, delete admin). */
void api_lineage_dlq_list(http_req *req, http_resp *resp);
void api_lineage_dlq_replay(http_req *req, http_resp *resp);
void api_lineage_dlq_replay_all(http_req *req, http_resp *resp);
void api_lineage_dlq_delete(http_req *req, http_resp *resp);
/* Shared by jobs.c and lineage.c: a dlb_err as the JSON error; ?limit= (1..1000, default 100)
 * and ?offset= (422 answered when invalid). */
void api_lineage_answer_err(http_resp *resp, const dlb_err *e);
int api_lineage_paging(http_req *req, http_resp *resp, int *limit, int *offset);

#endif
