#include "obs.h"

#include "config.h"
#include "engine/engine.h"
#include "obs/mem_account.h"
#include "obs/perf.h"
#include "util/clock.h"
#include "util/log.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROUTE_SLOTS  512 /* open addressing; routes x methods stay far below */
#define STATUS_SLOTS 8   /* statuses a route answers with, looked up without a lock */
#define MAX_DEPS     32
#define SLOW_KEEP    32

typedef struct {
    atomic_int status; /* 0 = free; set after s (release) */
    obs_series *s;
} status_slot;

typedef struct {
    const void *key;
    const char *method;
    const char *pattern;
    obs_series *duration; /* NULL when Prometheus is off */
    status_slot st[STATUS_SLOTS];
    perf_track *perf[OBS_SHARDS]; /* one per thread shard; NULL when tracking is off */
} route_ent;

typedef struct {
    char dep[32], op[32];
    obs_series *dur, *err;
    perf_track *perf; /* per dependency (all operations) */
} dep_ent;

typedef struct {
    double at;
    char kind[16], what[200], request_id[40];
    int status;
    double ms;
} slow_ent;

struct obs {
    int prom, perf;
    uint64_t slow_ns;
    double slow_s;
    uint64_t started_s; /* monotonic seconds */
    obs_memmon *memmon;
    obs_family *f_req, *f_dur, *f_dep_dur, *f_dep_err;
    obs_series *slow_total;
    obs_series *rss, *vms, *hwm, *fds, *threads, *heap, *limit, *avail;
    obs_family *f_sub;
    _Atomic(route_ent *) routes[ROUTE_SLOTS];
    pthread_mutex_t lock; /* route inserts, deps, slow list */
    dep_ent deps[MAX_DEPS];
    int ndeps;
    perf_track *dep_tracks[MAX_DEPS]; /* one per dependency name */
    char dep_names[MAX_DEPS][32];
    int ndep_tracks;
    slow_ent slow[SLOW_KEEP];
    int nslow, slow_head;
};

static obs_t *_Atomic g_obs;

static uint64_t mono_s(void)
{
    return clock_mono_ns() / 1000000000ULL;
}

/* ------------------------------------------------------------------ process gauges */

static void sub_gauge(void *ctx, const char *name, int64_t bytes)
{
    obs_t *o = ctx;
    obs_gauge_set(obs_series_get(o->f_sub, OBS_LABELS(name)), (double)bytes);
}

static void refresh_process(void *ctx)
{
    obs_t *o = ctx;
    obs_mem_sample s;
    if (obs_mem_read(&s) == 0) {
        obs_gauge_set(o->rss, (double)s.rss);
        obs_gauge_set(o->vms, (double)s.vms);
        obs_gauge_set(o->hwm, (double)s.hwm);
        obs_gauge_set(o->fds, s.open_files);
        obs_gauge_set(o->threads, s.threads);
        obs_gauge_set(o->heap, (double)s.heap_in_use);
        obs_gauge_set(o->limit, (double)s.limit);
        obs_gauge_set(o->avail, (double)s.mem_available);
    }
    obs_mem_each(sub_gauge, o);
}

static obs_series *gauge1(const char *name, const char *help)
{
    return obs_series_get(obs_gauge_family(name, help, NULL), NULL);
}

static void register_families(obs_t *o, const config_t *cfg)
{
    obs_gauge_set(
        obs_series_get(obs_gauge_family("dlb_build_info", "Build of the running server (always 1)",
                                        "version,duckdb"),
                       OBS_LABELS(DLB_VERSION, engine_version())),
        1);
    obs_gauge_set(gauge1("dlb_process_start_time_seconds", "Start time since the epoch"),
                  clock_wall());
    o->f_req = obs_counter_family("dlb_http_requests_total",
                                  "HTTP requests by method, route template and status",
                                  "method,route,status");
    o->f_dur = obs_histogram_family("dlb_http_request_duration_seconds",
                                    "HTTP request duration by method and route template",
                                    "method,route", NULL, 0);
    o->slow_total = obs_series_get(
        obs_counter_family("dlb_http_slow_requests_total",
                           "Requests slower than MONITORING_SLOW_QUERY_THRESHOLD", NULL),
        NULL);
    o->f_dep_dur = obs_histogram_family("dlb_dependency_duration_seconds",
                                        "Calls to a dependency (metadata_db, duckdb, storage ...)",
                                        "dependency,operation", NULL, 0);
    o->f_dep_err = obs_counter_family("dlb_dependency_errors_total", "Failed calls to a dependency",
                                      "dependency,operation");
    o->rss = gauge1("dlb_process_resident_memory_bytes", "Resident set size (VmRSS)");
    o->vms = gauge1("dlb_process_virtual_memory_bytes", "Virtual memory size (VmSize)");
    o->hwm = gauge1("dlb_process_resident_memory_peak_bytes", "Peak resident set size (VmHWM)");
    o->fds = gauge1("dlb_process_open_fds", "Open file descriptors");
    o->threads = gauge1("dlb_process_threads", "Threads of the process");
    o->heap = gauge1("dlb_process_heap_in_use_bytes", "malloc heap in use (mallinfo2 uordblks)");
    o->limit = gauge1("dlb_memory_limit_bytes",
                      "Memory available to the process: MemTotal or the cgroup limit");
    o->avail = gauge1("dlb_memory_available_bytes", "MemAvailable of the host");
    o->f_sub =
        obs_gauge_family("dlb_subsystem_memory_bytes",
                         "Bytes held per subsystem, as the subsystems report them", "subsystem");
    obs_gauge_set(gauge1("dlb_slow_threshold_seconds", "MONITORING_SLOW_QUERY_THRESHOLD"),
                  cfg->monitoring_slow_query_threshold);
    obs_metrics_on_scrape(refresh_process, o);
}

obs_t *obs_create(const config_t *cfg)
{
    obs_t *o = calloc(1, sizeof(*o));
    if (!o) return NULL;
    pthread_mutex_init(&o->lock, NULL);
    o->prom = cfg->feature_prometheus_metrics && cfg->monitoring_metrics_enabled;
    o->perf = cfg->feature_performance_tracking;
    o->slow_s = cfg->monitoring_slow_query_threshold;
    o->slow_ns = (uint64_t)(cfg->monitoring_slow_query_threshold * 1e9);
    o->started_s = mono_s();
    if (o->prom) register_families(o, cfg);
    if (cfg->feature_memory_monitoring) {
        o->memmon = obs_memmon_start(cfg->monitoring_memory_check_interval,
                                     cfg->monitoring_memory_threshold_warning,
                                     cfg->monitoring_memory_threshold_critical);
        if (!o->memmon) log_warn("cannot start the memory sampler");
    }
    atomic_store(&g_obs, o);
    return o;
}

void obs_destroy(obs_t *o)
{
    if (!o) return;
    atomic_store(&g_obs, NULL);
    obs_memmon_stop(o->memmon);
    for (int i = 0; i < ROUTE_SLOTS; i++) {
        route_ent *r = atomic_load(&o->routes[i]);
        if (!r) continue;
        for (int k = 0; k < OBS_SHARDS; k++)
            perf_track_free(r->perf[k]);
        free(r);
    }
    for (int i = 0; i < o->ndep_tracks; i++)
        perf_track_free(o->dep_tracks[i]);
    pthread_mutex_destroy(&o->lock);
    free(o);
    /* The registry outlives every user once the server and the monitors have stopped. */
    obs_metrics_reset();
}

int obs_prometheus_on(const obs_t *o)
{
    return o && o->prom;
}

int obs_perf_on(const obs_t *o)
{
    return o && o->perf;
}

obs_memmon *obs_memory_monitor(obs_t *o)
{
    return o ? o->memmon : NULL;
}

/* ------------------------------------------------------------------------- HTTP path */

static unsigned route_hash(const void *key, const char *method)
{
    uintptr_t h =
        (uintptr_t)key * 0x9E3779B97F4A7C15ULL ^ (uintptr_t)method * 0xC2B2AE3D27D4EB4FULL;
    return (unsigned)(h >> 23) & (ROUTE_SLOTS - 1);
}

static route_ent *route_find(obs_t *o, const void *key, const char *method, const char *pattern)
{
    unsigned h = route_hash(key, method);
    for (unsigned i = 0; i < ROUTE_SLOTS; i++) {
        route_ent *r =
            atomic_load_explicit(&o->routes[(h + i) & (ROUTE_SLOTS - 1)], memory_order_acquire);
        if (!r) break;
        if (r->key == key && r->method == method) return r;
    }
    /* First request of this route and method: create its entry under the lock. */
    pthread_mutex_lock(&o->lock);
    route_ent *found = NULL;
    unsigned i;
    for (i = 0; i < ROUTE_SLOTS; i++) {
        route_ent *r = atomic_load(&o->routes[(h + i) & (ROUTE_SLOTS - 1)]);
        if (!r) break;
        if (r->key == key && r->method == method) {
            found = r;
            break;
        }
    }
    if (!found && i < ROUTE_SLOTS - 1 && (found = calloc(1, sizeof(*found)))) {
        found->key = key;
        found->method = method;
        found->pattern = pattern;
        if (o->prom) found->duration = obs_series_get(o->f_dur, OBS_LABELS(method, pattern));
        if (o->perf) {
            char name[300];
            snprintf(name, sizeof(name), "%s %s", method, pattern);
            for (int k = 0; k < OBS_SHARDS; k++)
                found->perf[k] = perf_track_new(name);
        }
        atomic_store_explicit(&o->routes[(h + i) & (ROUTE_SLOTS - 1)], found, memory_order_release);
    }
    pthread_mutex_unlock(&o->lock);
    return found;
}

static obs_series *status_series(obs_t *o, route_ent *r, int status)
{
    for (int i = 0; i < STATUS_SLOTS; i++) {
        int st = atomic_load_explicit(&r->st[i].status, memory_order_acquire);
        if (st == status) return r->st[i].s;
        if (!st) break;
    }
    char code[16];
    snprintf(code, sizeof(code), "%d", status);
    obs_series *s = obs_series_get(o->f_req, OBS_LABELS(r->method, r->pattern, code));
    pthread_mutex_lock(&o->lock);
    for (int i = 0; i < STATUS_SLOTS; i++) {
        int st = atomic_load(&r->st[i].status);
        if (st == status) break;
        if (!st) {
            r->st[i].s = s;
            atomic_store_explicit(&r->st[i].status, status, memory_order_release);
            break;
        }
    }
    pthread_mutex_unlock(&o->lock);
    return s;
}

/* Truncating copy (snprintf with "%s" trips -Werror=restrict on these struct fields). */
static void copy(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = 0;
}

static void slow_add(obs_t *o, const char *kind, const char *what, const char *rid, int status,
                     uint64_t ns)
{
    pthread_mutex_lock(&o->lock);
    slow_ent *e = &o->slow[o->slow_head];
    o->slow_head = (o->slow_head + 1) % SLOW_KEEP;
    if (o->nslow < SLOW_KEEP) o->nslow++;
    e->at = clock_wall();
    copy(e->kind, sizeof(e->kind), kind);
    copy(e->what, sizeof(e->what), what);
    copy(e->request_id, sizeof(e->request_id), rid ? rid : "");
    e->status = status;
    e->ms = (double)ns / 1e6;
    pthread_mutex_unlock(&o->lock);
}

void obs_http_observe(obs_t *o, const void *route_key, const char *pattern, const char *method,
                      int status, uint64_t ns, const char *request_id, int is_stream)
{
    if (!route_key) pattern = "unmatched"; /* never the raw path: unbounded label values */
    route_ent *r = route_find(o, route_key, method, pattern);
    if (!r) return;
    if (o->prom) {
        obs_counter_inc(status_series(o, r, status));
        obs_hist_observe(r->duration, (double)ns / 1e9);
    }
    if (o->perf) perf_track_record(r->perf[obs_thread_shard()], mono_s(), ns, status >= 500);
    /* Streams (SSE, large exports) are long by design: not slow requests. */
    if (ns >= o->slow_ns && !is_stream) {
        obs_counter_inc(o->slow_total);
        char what[300], ms[32], st[16];
        snprintf(what, sizeof(what), "%s %s", method, pattern);
        snprintf(ms, sizeof(ms), "%.1f", (double)ns / 1e6);
        snprintf(st, sizeof(st), "%d", status);
        if (o->perf) slow_add(o, "request", what, request_id, status, ns);
        log_warn("slow request", "route", what, "status", st, "duration_ms", ms, "request_id",
                 request_id ? request_id : "");
    }
}

/* ---------------------------------------------------------------------- dependencies */

void obs_dep_observe(const char *dependency, const char *operation, uint64_t ns, int ok)
{
    obs_t *o = atomic_load(&g_obs);
    if (!o || (!o->prom && !o->perf)) return;
    pthread_mutex_lock(&o->lock);
    dep_ent *d = NULL;
    for (int i = 0; i < o->ndeps && !d; i++)
        if (!strcmp(o->deps[i].dep, dependency) && !strcmp(o->deps[i].op, operation))
            d = &o->deps[i];
    if (!d && o->ndeps < MAX_DEPS) {
        d = &o->deps[o->ndeps++];
        copy(d->dep, sizeof(d->dep), dependency);
        copy(d->op, sizeof(d->op), operation);
        if (o->prom) {
            d->dur = obs_series_get(o->f_dep_dur, OBS_LABELS(d->dep, d->op));
            d->err = obs_series_get(o->f_dep_err, OBS_LABELS(d->dep, d->op));
        }
        for (int i = 0; i < o->ndep_tracks && !d->perf; i++)
            if (!strcmp(o->dep_names[i], d->dep)) d->perf = o->dep_tracks[i];
        if (!d->perf && o->perf && o->ndep_tracks < MAX_DEPS &&
            (d->perf = perf_track_new(d->dep))) {
            copy(o->dep_names[o->ndep_tracks], sizeof(o->dep_names[0]), d->dep);
            o->dep_tracks[o->ndep_tracks++] = d->perf;
        }
    }
    pthread_mutex_unlock(&o->lock);
    if (!d) return;
    obs_hist_observe(d->dur, (double)ns / 1e9);
    if (!ok) obs_counter_inc(d->err);
    if (d->perf) perf_track_record(d->perf, mono_s(), ns, !ok);
}

void obs_slow_observe(const char *kind, const char *detail, uint64_t ns)
{
    obs_t *o = atomic_load(&g_obs);
    if (!o || ns < o->slow_ns) return;
    char ms[32];
    snprintf(ms, sizeof(ms), "%.1f", (double)ns / 1e6);
    log_warn("slow operation", "kind", kind, "detail", detail, "duration_ms", ms);
    if (o->perf) slow_add(o, kind, detail, log_request_id(), 0, ns);
}

/* ----------------------------------------------------------------------- performance */

typedef struct {
    const perf_track *const *t; /* OBS_SHARDS tracks of one route */
    uint64_t n;
} ranked;

static int by_count(const void *a, const void *b)
{
    uint64_t x = ((const ranked *)a)->n, y = ((const ranked *)b)->n;
    return x < y ? 1 : x > y ? -1 : 0;
}

static json_t *summary_obj(const perf_summary *s)
{
    return json_pack("{s:I, s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "total_requests",
                     (json_int_t)s->count, "errors", (json_int_t)s->errors, "error_rate",
                     s->count ? (double)s->errors / (double)s->count : 0.0, "requests_per_second",
                     s->rps, "avg_duration_ms", s->avg_ms, "max_duration_ms", s->max_ms, "p50_ms",
                     s->p50_ms, "p95_ms", s->p95_ms, "p99_ms", s->p99_ms, "window_seconds",
                     s->window_seconds);
}

json_t *obs_performance_json(obs_t *o, unsigned active)
{
    uint64_t now = mono_s();
    static ranked rs[ROUTE_SLOTS]; /* static: too large for a worker's stack; under lock */
    static const perf_track *all[ROUTE_SLOTS * OBS_SHARDS];
    static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&report_lock);
    int n = 0, nall = 0;
    for (int i = 0; i < ROUTE_SLOTS; i++) {
        route_ent *r = atomic_load(&o->routes[i]);
        if (!r || !r->perf[0]) continue;
        uint64_t count = 0;
        for (int k = 0; k < OBS_SHARDS; k++) {
            count += perf_track_count(r->perf[k], now);
            all[nall++] = r->perf[k];
        }
        rs[n++] = (ranked){(const perf_track *const *)r->perf, count};
    }
    qsort(rs, (size_t)n, sizeof(rs[0]), by_count);
    perf_summary s;
    perf_summary_of(all, nall, PERF_SLOTS, now, o->started_s, &s);
    json_t *requests = summary_obj(&s);
    perf_summary_of(all, nall, 1, now, o->started_s, &s);
    json_t *throughput = json_pack("{s:f, s:I, s:f}", "requests_per_second", s.rps, "requests",
                                   (json_int_t)s.count, "window_seconds", s.window_seconds);
    json_t *routes = json_array();
    for (int i = 0; i < n; i++) {
        if (!rs[i].n) continue;
        perf_summary_of(rs[i].t, OBS_SHARDS, PERF_SLOTS, now, o->started_s, &s);
        json_array_append_new(routes, perf_summary_json(perf_track_name(rs[i].t[0]), &s));
    }
    json_t *deps = json_object();
    pthread_mutex_lock(&o->lock);
    for (int i = 0; i < o->ndep_tracks; i++) {
        perf_track_summary(o->dep_tracks[i], now, o->started_s, &s);
        json_object_set_new(deps, o->dep_names[i], perf_summary_json(o->dep_names[i], &s));
    }
    json_t *slow = json_array();
    for (int i = 0; i < o->nslow; i++) { /* newest first */
        const slow_ent *e = &o->slow[(o->slow_head - 1 - i + SLOW_KEEP) % SLOW_KEEP];
        json_t *x = json_pack("{s:s, s:s, s:f, s:f}", "kind", e->kind, "what", e->what,
                              "duration_ms", e->ms, "timestamp", e->at);
        if (e->status) json_object_set_new(x, "status", json_integer(e->status));
        if (e->request_id[0]) json_object_set_new(x, "request_id", json_string(e->request_id));
        json_array_append_new(slow, x);
    }
    pthread_mutex_unlock(&o->lock);
    pthread_mutex_unlock(&report_lock);
    return json_pack("{s:o, s:o, s:o, s:o, s:i, s:o, s:f, s:i}", "requests", requests, "routes",
                     routes, "database", deps, "throughput", throughput, "active_requests",
                     (int)active, "slow_requests", slow, "slow_threshold_seconds", o->slow_s,
                     "window_seconds", PERF_SLOTS * PERF_SLOT_SECONDS);
}
