/* ducklake-backend: wires configuration, logging, the metadata database, DuckDB, the worker
 * pool and the HTTP server, then waits for SIGTERM/SIGINT and shuts down in order. */
#include "api/api.h"
#include "app.h"
#include "auth/auth.h"
#include "cli_keys.h"
#include "config.h"
#include "events/events.h"
#include "events/relay.h"
#include "events/sampler.h"
#include "lake/write.h"
#include "obs/config_monitor.h"
#include "obs/obs.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/log.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CONTROL_THREADS 2

static app_t g_app;

static void usage(FILE *f)
{
    fprintf(f, "Usage: ducklake-backend [--help | --version | --check-config | --env-example |\n"
               "                         --config-markdown]\n"
               "       ducklake-backend keys create --name NAME --role reader|writer|admin\n"
               "       ducklake-backend keys list | keys revoke KEY_ID\n"
               "       ducklake-backend --routes   (the route table as JSON lines)\n\n"
               "Serves the DuckLake data platform API. Configuration comes from environment\n"
               "variables (and ENV_FILE, default .env); see README.md or --config-markdown.\n\n"
               "  --help             this text\n"
               "  --version          print the version and exit\n"
               "  --check-config     validate the configuration and exit (0 valid, 2 invalid)\n"
               "  --env-example      print every variable with its default (.env.example)\n"
               "  --config-markdown  print the configuration table for README.md\n");
}

static int mkdir_p(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0755) && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(tmp, 0755) && errno != EEXIST ? -1 : 0;
}

static void on_worker_start(int index)
{
    (void)index;
    /* Workers must not take the signals main waits for with sigwait. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static uint64_t body_limit(void *app, const char *var)
{
    const app_t *a = app;
    if (strcmp(var, "STORAGE_MAX_FILE_SIZE") == 0) return (uint64_t)a->cfg->storage_max_file_size;
    return (uint64_t)a->cfg->http_max_body_size;
}

static void drain(app_t *app)
{
    double grace = app->cfg->shutdown_grace_period;
    uint64_t deadline = clock_mono_ns() + (uint64_t)(grace * 1e9);
    while (http_server_inflight(app->http) > 0 && clock_mono_ns() < deadline) {
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    unsigned left = http_server_inflight(app->http);
    if (left) {
        char n[16];
        snprintf(n, sizeof(n), "%u", left);
        log_warn("grace period over; closing remaining connections", "inflight", n);
    }
}

/* ---- event producers: the samplers' sources and the request count ---- */

static atomic_ullong g_requests_done; /* requests per second in system_metric events */

static void on_request_complete(void *a, const http_req *req, int status, uint64_t ns)
{
    const app_t *app = a;
    atomic_fetch_add_explicit(&g_requests_done, 1, memory_order_relaxed);
    if (obs_prometheus_on(app->obs) || obs_perf_on(app->obs)) api_on_complete(a, req, status, ns);
}

static uint64_t events_requests(void *ctx)
{
    (void)ctx;
    return atomic_load_explicit(&g_requests_done, memory_order_relaxed);
}

static json_t *pool_json(pool_t *p)
{
    return json_pack("{s:I, s:i, s:i, s:I}", "depth", (json_int_t)pool_queue_depth(p), "busy",
                     pool_busy(p), "threads", pool_threads(p), "capacity",
                     (json_int_t)pool_queue_capacity(p));
}

/* queue_status: both worker pools, requests in flight and the lineage outbox. */
static void events_queues(void *ctx, json_t *d)
{
    app_t *app = ctx;
    json_t *pools = json_object();
    json_object_set_new(pools, "data", pool_json(app->pool));
    json_object_set_new(pools, "control", pool_json(app->control_pool));
    json_object_set_new(d, "worker_pools", pools);
    json_object_set_new(d, "http_inflight", json_integer(http_server_inflight(app->http)));
    lineage_queue_stats_t q;
    dlb_err e = {0};
    if (lineage_queue_stats(app->lineage, &q, &e) == 0)
        json_object_set_new(d, "lineage_outbox",
                            json_pack("{s:I, s:I, s:I, s:f, s:I, s:s}", "depth",
                                      (json_int_t)q.depth, "leased", (json_int_t)q.leased,
                                      "retrying", (json_int_t)q.retrying, "oldest_age",
                                      q.oldest_age, "dead_letters", (json_int_t)q.dead_letters,
                                      "breaker", q.breaker ? q.breaker : "closed"));
}

static void events_hub_extra(void *ctx, json_t *hub)
{
    app_t *app = ctx;
    if (app->events_relay) json_object_set_new(hub, "relay", ev_relay_stats(app->events_relay));
}

/* The route table as JSON lines (method bits spelled out, pattern, role, run mode): the
 * security tests walk it, so a route cannot slip in without a declared role. */
/* The lake's commit hook -> automatic lineage: the COMPLETE event of every described commit
 * (create, append, drop through the API) in the commit's own transaction; c NULL: committed. */
static int lake_lineage_hook(meta_conn *c, int64_t snapshot_id, const char *changes,
                             const lake_commit_info *ci, void *arg)
{
    (void)changes;
    if (!c) {
        lineage_auto_committed(arg);
        return 0;
    }
    if (!ci) return 0;
    lineage_table_op op = {.operation = ci->operation,
                           .schema = ci->schema,
                           .table = ci->table,
                           .table_id = ci->table_id,
                           .snapshot_id = snapshot_id,
                           .rows = ci->rows,
                           .bytes = ci->bytes,
                           .files = ci->files,
                           .location = ci->location};
    return lineage_auto_commit(arg, c, &op);
}

static int print_routes(void)
{
    size_t n;
    const http_route *r = api_routes(&n);
    static const struct {
        int bit;
        const char *name;
    } m[] = {{HTTP_GET, "GET"},
             {HTTP_POST, "POST"},
             {HTTP_PUT, "PUT"},
             {HTTP_DELETE, "DELETE"},
             {HTTP_PATCH, "PATCH"}};
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < sizeof(m) / sizeof(m[0]); k++)
            if (r[i].methods & m[k].bit)
                printf("{\"method\":\"%s\",\"pattern\":\"%s\",\"role\":\"%s\",\"stream\":%s}\n",
                       m[k].name, r[i].pattern, r[i].role ? r[i].role : "",
                       (r[i].flags & ROUTE_STREAM) ? "true" : "false");
    return 0;
}

int main(int argc, char **argv)
{
    int check_only = 0;
    if (argc > 1 && !strcmp(argv[1], "keys")) return cli_keys(argc - 2, argv + 2);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--version")) {
            printf("ducklake-backend %s (DuckDB %s)\n", DLB_VERSION, engine_version());
            return 0;
        } else if (!strcmp(argv[i], "--env-example")) {
            config_print_env_example();
            return 0;
        } else if (!strcmp(argv[i], "--config-markdown")) {
            config_print_markdown();
            return 0;
        } else if (!strcmp(argv[i], "--routes")) {
            return print_routes();
        } else if (!strcmp(argv[i], "--check-config")) {
            check_only = 1;
        } else {
            fprintf(stderr, "ducklake-backend: unknown argument %s\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }

    static config_t cfg;
    char err[8192];
    if (config_load(&cfg, err, sizeof(err))) {
        fprintf(stderr, "ducklake-backend: invalid configuration:\n%s", err);
        config_free(&cfg);
        return 2;
    }
    if (check_only) {
        printf("configuration is valid\n");
        config_free(&cfg);
        return 0;
    }
    log_set_level(log_level_parse(cfg.log_level));
    config_register_secrets(&cfg);
    signal(SIGPIPE, SIG_IGN);

    /* Block the shutdown signals before any thread starts so that only sigwait sees them. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    app_t *app = &g_app;
    app->cfg = &cfg;
    app->started_at = clock_wall();
    int rc = 1;
    char tmpdir[4096];
    snprintf(tmpdir, sizeof(tmpdir), "%s/tmp", cfg.data_dir);
    if (mkdir_p(cfg.data_dir) || mkdir_p(tmpdir)) {
        log_error("cannot create DATA_DIR", "path", cfg.data_dir, "error", strerror(errno));
        goto out;
    }

    app->meta = meta_open(&cfg, err, sizeof(err));
    if (!app->meta) {
        log_error("cannot open the metadata database", "error", err);
        goto out;
    }
    dlb_err aerr = {0};
    app->auth = auth_create(&cfg, app->meta, &aerr);
    if (!app->auth) {
        log_error("cannot start authentication", "error", aerr.detail);
        goto out;
    }
    app->lineage = lineage_create(app->meta, &cfg, err, sizeof(err));
    if (!app->lineage) {
        log_error("cannot start lineage", "error", err);
        goto out;
    }
    int workers = (int)cfg.worker_threads;
    /* One DuckDB connection per worker index: the data pool's, then the control pool's. */
    app->engine = engine_open(&cfg, workers + CONTROL_THREADS, err, sizeof(err));
    if (!app->engine) {
        log_error("cannot start DuckDB", "error", err);
        goto out;
    }
    /* Before the lake: with STORAGE_BACKEND=s3 its files live in the store. Opening contacts
     * nothing (an unreachable store shows as 503s later). */
    dlb_err store_err = {0};
    app->store = store_open_config(&cfg, &store_err);
    if (!app->store) {
        log_error("cannot open object storage", "error", store_err.detail);
        goto out;
    }
    dlb_err lerr = {0};
    app->lake = lake_open_store(&cfg, app->meta, app->store, NULL, &lerr);
    if (!app->lake) {
        log_error("cannot open the lake", "error", lerr.detail);
        goto out;
    }
    /* Automatic lineage: every lake commit stores its event in its own transaction. */
    lake_set_commit_hook(lake_lineage_hook, app->lineage);
    /* User queries may read the lake's files and nothing else. */
    engine_set_lake_path(app->engine, lake_data_path(app->lake));
    app->pool = pool_create(workers, (size_t)cfg.worker_queue_size, on_worker_start, NULL);
    app->control_pool = pool_create_at(CONTROL_THREADS, 64, workers, on_worker_start, NULL);
    if (!app->pool || !app->control_pool) {
        log_error("cannot start the worker pool");
        goto out;
    }

    /* Observability before the server: features that are off start nothing (obs/obs.h). */
    app->obs = obs_create(&cfg);
    if (!app->obs) {
        log_error("cannot start observability");
        goto out;
    }
    api_metrics_init(&cfg);
    api_metrics_start(app);
    if (obs_prometheus_on(app->obs)) lake_metrics_register(app->lake); /* lake cache (S3) */
    app->cfgmon = cfgmon_start(&cfg, app->meta, obs_prometheus_on(app->obs));
    if (!app->cfgmon) log_warn("cannot start the configuration monitor");
    /* Lineage delivery to MONITORING_OPENLINEAGE_URL (nothing starts when it is unset). */
    if (obs_prometheus_on(app->obs)) lineage_metrics_register(app->lineage);
    if (lineage_deliver_start(app->lineage, &cfg, err, sizeof(err))) {
        log_error("cannot start lineage delivery", "error", err);
        goto out;
    }

    app->events = ev_hub_create(&(ev_options){
        .history_size = (size_t)cfg.sse_history_size,
        .retry_ms = (int)cfg.sse_retry_ms,
        .heartbeat_interval = cfg.sse_heartbeat_interval,
        .ping_interval = cfg.sse_ping_interval,
        .check_interval = cfg.sse_zombie_check_interval,
        .zombie_grace = cfg.sse_zombie_grace,
        .max_clients = (int)cfg.sse_max_clients,
        .max_clients_per_ip = (int)cfg.sse_max_clients_per_ip,
        .queue_events = (size_t)cfg.sse_client_queue_events,
        .queue_bytes = (size_t)cfg.sse_client_queue_bytes,
        .rules = {.max_write_errors = (int)cfg.sse_zombie_max_write_errors,
                  .max_missed_pings = (int)cfg.sse_zombie_max_missed_pings,
                  .queue_full_count = (int)cfg.sse_zombie_queue_full_count,
                  .inactivity = cfg.sse_zombie_inactivity_timeout,
                  .pong_timeout = cfg.sse_zombie_pong_timeout},
    });
    if (!app->events || ev_hub_start(app->events)) {
        log_error("cannot start the event hub");
        goto out;
    }
    if (obs_prometheus_on(app->obs)) ev_hub_enable_metrics(app->events);
    /* Job runs (job_status) and lineage ingest (lineage_event) publish to the hub. */
    lineage_set_publisher(app->lineage, ev_publish_named, app->events);
    if (cfg.use_postgres && cfg.sse_replica_fanout) {
        char pgport[16];
        snprintf(pgport, sizeof(pgport), "%ld", cfg.db_postgres_port);
        app->events_relay =
            ev_relay_create(app->events, &(ev_relay_conf){.host = cfg.db_postgres_host,
                                                          .port = pgport,
                                                          .dbname = cfg.db_postgres_db,
                                                          .user = cfg.db_postgres_user,
                                                          .password = cfg.db_postgres_password,
                                                          .sslmode = cfg.db_postgres_sslmode,
                                                          .scope = cfg.db_postgres_schema});
        if (!app->events_relay || ev_relay_run(app->events_relay)) {
            log_error("cannot start the event relay");
            goto out;
        }
    }

    api_root_init(&cfg);
    size_t nroutes;
    const http_route *routes = api_routes(&nroutes);
    http_options opt = {
        .host = cfg.host,
        .port = (int)cfg.port,
        .threads = cfg.http_threads_eff,
        .max_connections = (unsigned)cfg.http_max_connections,
        .max_connections_per_ip = (unsigned)cfg.http_max_connections_per_ip,
        .connection_timeout = (unsigned)cfg.http_connection_timeout,
        .max_body_size = (uint64_t)cfg.http_max_body_size,
        .gzip_min_size = (uint64_t)cfg.http_gzip_min_size,
        .gzip_enabled = cfg.feature_data_compression,
        .access_log = cfg.log_access,
        .spool_dir = tmpdir,
        .cors_origins = cfg.feature_cors ? cfg.security_cors_origins : NULL,
        .cors_methods = cfg.security_cors_methods,
        .cors_headers = cfg.security_cors_headers,
        .tls_cert_file = cfg.security_tls_cert_file,
        .tls_key_file = cfg.security_tls_key_file,
        .pool = app->pool,
        .control_pool = app->control_pool,
        .app = app,
        .body_limit = body_limit,
        /* No per-request work at all when neither metrics nor tracking is on. */
        .authorize = api_authorize,
        .on_finish = api_audit,
        .header_timeout = cfg.http_header_timeout,
        .on_complete =
            obs_prometheus_on(app->obs) || obs_perf_on(app->obs) || cfg.sse_metrics_interval > 0
                ? on_request_complete
                : NULL,
    };
    app->http = http_server_start(&opt, routes, nroutes, err, sizeof(err));
    if (!app->http) {
        log_error("cannot start the HTTP server", "error", err);
        goto out;
    }
    /* After the server (the queue sampler reads its figures); only with clients connected
     * does it build anything. */
    app->events_sampler =
        ev_sampler_start(app->events, cfg.sse_metrics_interval,
                         &(ev_sampler_src){events_queues, events_requests, events_hub_extra, app});
    char port[16], threads[16];
    snprintf(port, sizeof(port), "%d", http_server_port(app->http));
    snprintf(threads, sizeof(threads), "%d", workers);
    log_info("ducklake-backend started", "version", DLB_VERSION, "host", cfg.host, "port", port,
             "environment", cfg.environment, "metadata_backend", meta_backend(app->meta), "duckdb",
             engine_version(), "workers", threads);

    int sig = 0;
    while (sigwait(&sigs, &sig) != 0) {
    }
    log_info("shutting down", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    atomic_store(&app->shutting_down, 1);
    http_server_quiesce(app->http);
    ev_hub_shutdown(app->events); /* event streams never end by themselves */
    drain(app);
    rc = 0;

out:
    ev_sampler_stop(app->events_sampler); /* it reads the server, the pools and lineage */
    /* Stores the queued query events while the hub they are announced on still exists. */
    lineage_auto_stop(app->lineage);
    /* Before the metrics registry and the metadata database go; rows in flight stay queued. */
    if (app->lineage) lineage_deliver_stop(app->lineage);
    if (app->http) http_server_stop(app->http);
    /* Before the hub it publishes into. */
    ev_relay_stop(app->events_relay);
    ev_hub_free(app->events); /* after the server: the last streams release their clients */
    if (app->pool) pool_destroy(app->pool);
    if (app->control_pool) pool_destroy(app->control_pool);
    if (app->cfgmon) cfgmon_stop(app->cfgmon);
    if (app->obs) obs_destroy(app->obs);
    store_close(app->store); /* after the pools: no handler uses it any more */
    if (app->engine) engine_close(app->engine);
    if (app->lake) lake_close(app->lake); /* after the pools: no handler uses it any more */
    lake_set_commit_hook(NULL, NULL);     /* no lake commit runs any more (pools are gone) */
    lineage_destroy(app->lineage);
    auth_destroy(app->auth); /* after the server: no request checks a key any more */
    if (app->meta) meta_close(app->meta);
    if (rc == 0) log_info("stopped");
    config_free(&cfg);
    return rc;
}
