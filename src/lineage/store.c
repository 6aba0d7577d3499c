/* The lineage store: module set-up, the transaction wrapper with retries, and the one
 * function that writes an event with everything derived from it (raw row, job, run, datasets,
 * run inputs/outputs, job-level edges, outbox row) inside the caller's transaction. */
#include "internal.h"

#include "config.h"
#include "deliver.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

lineage_t *lineage_create(meta_t *m, const config_t *cfg, char *err, size_t errlen)
{
    lineage_t *lg = calloc(1, sizeof(*lg));
    if (!lg) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    lg->meta = m;
    lg->is_pg = strcmp(meta_backend(m), "postgres") == 0;
    lg->strict = cfg->lineage_validation && strcmp(cfg->lineage_validation, "strict") == 0;
    lg->outbox = cfg->monitoring_openlineage_url && *cfg->monitoring_openlineage_url;
    lg->ns = strdup(cfg->monitoring_openlineage_namespace && *cfg->monitoring_openlineage_namespace
                        ? cfg->monitoring_openlineage_namespace
                        : "ducklake");
    lg->catalog = strdup(cfg->db_ducklake_metadata_catalog && *cfg->db_ducklake_metadata_catalog
                             ? cfg->db_ducklake_metadata_catalog
                             : "ducklake");
    pthread_mutex_init(&lg->gc_mu, NULL);
    pthread_mutex_init(&lg->gsnap_mu, NULL);
    pthread_cond_init(&lg->turn_cv, NULL);
    pthread_cond_init(&lg->gc_cv, NULL);
    lg->gc_tail = &lg->gc_head;
    /* SQLite has one writer at a time: one committing group, the next gathers behind it.
     * (PostgreSQL does not group single events: collect.c.) */
    lg->gc_max_leaders = 1;
    if (!lg->ns || !lg->catalog) {
        lineage_destroy(lg);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    return lg;
}

_Thread_local int lineage_tl_outbox;

void lineage_destroy(lineage_t *lg)
{
    if (!lg) return;
    lineage_deliver_stop(lg);
    lineage_deliver_free(lg);
    lineage_graph_forget(lg);
    pthread_mutex_destroy(&lg->gsnap_mu);
    pthread_cond_destroy(&lg->turn_cv);
    pthread_mutex_destroy(&lg->gc_mu);
    pthread_cond_destroy(&lg->gc_cv);
    free(lg->ns);
    free(lg->catalog);
    free(lg);
}

void lineage_set_publisher(lineage_t *lg, lineage_publish_fn fn, void *ctx)
{
    lg->publish = fn;
    lg->publish_ctx = ctx;
}

const char *lineage_default_namespace(const lineage_t *lg)
{
    return lg->ns;
}

int64_t lineage_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Days since 1970-01-01 -> civil date (H. Hinnant's civil_from_days, proleptic Gregorian). */
static void civil(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static char *digits(char *p, unsigned v, int n)
{
    for (int i = n - 1; i >= 0; i--, v /= 10)
        p[i] = (char)('0' + v % 10);
    return p + n;
}

/* "YYYY-MM-DDTHH:MM:SS.ffffffZ" without strftime/snprintf: the graph formats two per node. */
void lineage_fmt_time(int64_t us, char out[40])
{
    int64_t s = us / 1000000, frac = us % 1000000;
    if (frac < 0) {
        frac += 1000000;
        s--;
    }
    int64_t days = s / 86400, sod = s % 86400;
    if (sod < 0) {
        sod += 86400;
        days--;
    }
    int64_t y;
    unsigned m, d;
    civil(days, &y, &m, &d);
    if (y < 1000 || y > 9999) { /* keep strftime's rendering of unusual years */
        time_t t = (time_t)s;
        struct tm tm;
        gmtime_r(&t, &tm);
        char base[32];
        strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(out, 40, "%s.%06lldZ", base, (long long)frac);
        return;
    }
    char *p = digits(out, (unsigned)y, 4);
    *p++ = '-';
    p = digits(p, m, 2);
    *p++ = '-';
    p = digits(p, d, 2);
    *p++ = 'T';
    p = digits(p, (unsigned)(sod / 3600), 2);
    *p++ = ':';
    p = digits(p, (unsigned)(sod / 60 % 60), 2);
    *p++ = ':';
    p = digits(p, (unsigned)(sod % 60), 2);
    *p++ = '.';
    p = digits(p, (unsigned)frac, 6);
    *p++ = 'Z';
    *p = 0;
}

void lineage_set_time(json_t *o, const char *key, int64_t us)
{
    if (!us) {
        json_object_set_new(o, key, json_null());
        return;
    }
    char t[40];
    lineage_fmt_time(us, t);
    json_object_set_new(o, key, json_string(t));
}

void lineage_db_err(dlb_err *e, int rc, const char *what, const char *msg)
{
    if (rc == META_CONFLICT)
        dlb_err_set(e, 503, "db_conflict", "%s: concurrent update, retry", what);
    else if (rc == META_BUSY)
        dlb_err_set(e, 503, "database_busy", "%s: the metadata database is busy", what);
    else if (rc == META_CONN)
        dlb_err_set(e, 503, "database_unavailable", "%s: the metadata database is unreachable",
                    what);
    else {
        log_error("lineage database error", "what", what, "error", msg ? msg : "");
        dlb_err_set(e, 500, "database_error", "%s failed", what);
    }
}

int lineage_err_transient(const dlb_err *e)
{
    return !strcmp(e->code, "db_conflict") || !strcmp(e->code, "database_busy");
}

int lineage_tx(lineage_t *lg, lineage_tx_fn fn, void *arg, dlb_err *e)
{
    for (int attempt = 0;; attempt++) {
        dlb_err tmp = {0};
        meta_conn *c = meta_acquire(lg->meta);
        if (!c) {
            dlb_err_set(e, 503, "database_unavailable", "no metadata database connection");
            return -1;
        }
        lineage_tl_outbox = 0;
        int rc = meta_begin(c);
        if (rc != META_OK) {
            lineage_db_err(&tmp, rc, "begin", NULL);
        } else if (fn(lg, c, arg, &tmp) == 0) {
            rc = meta_commit(c);
            if (rc == META_OK) {
                atomic_fetch_add(&lg->commits, 1);
                meta_release(lg->meta, c);
                if (lineage_tl_outbox) lineage_deliver_wake(lg);
                lineage_tl_outbox = 0;
                return 0;
            }
            lineage_db_err(&tmp, rc, "commit", NULL);
            meta_rollback(c);
        } else {
            meta_rollback(c);
        }
        meta_release(lg->meta, c);
        if (!lineage_err_transient(&tmp) || attempt >= 6) {
            *e = tmp;
            return -1;
        }
        /* Back off with jitter so that colliding writers do not collide again. */
        struct timespec ts = {0, (long)((1 << attempt) * 2000000L + rand() % 2000000)};
        nanosleep(&ts, NULL);
    }
}

json_t *lineage_json_col(const meta_result *r, int row, int col)
{
    const char *s = meta_result_get(r, row, col);
    json_t *j = s ? json_loads(s, JSON_DECODE_ANY, NULL) : NULL;
    return j ? j : json_null();
}

/* ---- writing one event ---- */

static int exec(meta_conn *c, const char *sql, const meta_val *p, int n, const char *what,
                dlb_err *e)
{
    char err[256] = "";
    int64_t rc = meta_exec(c, sql, p, n, err, sizeof(err));
    if (rc < 0) {
        lineage_db_err(e, (int)rc, what, err);
        return -1;
    }
    return 0;
}

static meta_result *query(meta_conn *c, const char *sql, const meta_val *p, int n, const char *what,
                          dlb_err *e)
{
    char err[256] = "";
    int rc = META_ERR;
    meta_result *r = meta_query(c, sql, p, n, &rc, err, sizeof(err));
    if (!r) lineage_db_err(e, rc, what, err);
    return r;
}

/* Loads facets + facet_times (cols fc, fc+1 of r), merges src, and reports the new texts. */
static int merge_cols(const meta_result *r, int fc, const json_t *src, int64_t t, char **facets,
                      char **times)
{
    json_t *f = lineage_json_col(r, 0, fc), *ft = lineage_json_col(r, 0, fc + 1);
    if (!json_is_object(f)) {
        json_decref(f);
        f = json_object();
    }
    if (!json_is_object(ft)) {
        json_decref(ft);
        ft = json_object();
    }
    int changed = ol_facets_merge(f, ft, src, t);
    *facets = lineage_dump(f);
    *times = lineage_dump(ft);
    json_decref(f);
    json_decref(ft);
    return changed;
}

/* Upserts a job or dataset row (table ol_jobs / ol_datasets) and merges facets into it. */
static int upsert_entity(meta_conn *c, int is_job, const char *ns, const char *name,
                         const json_t *facets, int64_t t, int64_t now, int64_t *id, dlb_err *e)
{
    meta_val p[] = {MVTEXT(ns), MVTEXT(name), MVINT(now), MVINT(now)};
    meta_result *r = query(c,
                           is_job ? "INSERT INTO ol_jobs(namespace, name, facets, facet_times, "
                                    "created_at, updated_at) VALUES (?, ?, '{}', '{}', ?, ?) "
                                    "ON CONFLICT (namespace, name) DO UPDATE SET updated_at = "
                                    "excluded.updated_at RETURNING id, facets, facet_times"
                                  : "INSERT INTO ol_datasets(namespace, name, facets, facet_times, "
                                    "created_at, updated_at) VALUES (?, ?, '{}', '{}', ?, ?) "
                                    "ON CONFLICT (namespace, name) DO UPDATE SET updated_at = "
                                    "excluded.updated_at RETURNING id, facets, facet_times",
                           p, 4, is_job ? "upsert job" : "upsert dataset", e);
    if (!r) return -1;
    if (meta_result_rows(r) != 1) {
        meta_result_free(r);
        dlb_err_set(e, 500, "database_error", "upsert returned no row");
        return -1;
    }
    *id = meta_result_int(r, 0, 0);
    int rc = 0;
    if (json_object_size(facets) > 0) {
        char *f = NULL, *ft = NULL;
        merge_cols(r, 1, facets, t, &f, &ft);
        meta_val u[] = {MVTEXT(f), MVTEXT(ft), MVINT(*id)};
        rc = exec(c,
                  is_job ? "UPDATE ol_jobs SET facets = ?, facet_times = ? WHERE id = ?"
                         : "UPDATE ol_datasets SET facets = ?, facet_times = ? WHERE id = ?",
                  u, 3, "merge facets", e);
        free(f);
        free(ft);
    }
    meta_result_free(r);
    return rc;
}

static const char *str_at(const json_t *o, const char *a, const char *b)
{
    const json_t *v = json_object_get(o, a);
    if (b) v = json_object_get(v, b);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The run row: state machine, times, facets and the fields derived from facets. */
static int update_run(meta_conn *c, const ol_item *it, int64_t job_id, int64_t now, dlb_err *e)
{
    const char *run_id = it->chk.run_id;
    const char *type = it->chk.event_type[0] ? it->chk.event_type : "OTHER";
    int64_t t = it->chk.event_time_us;
    meta_val p[] = {MVTEXT(run_id), MVINT(job_id), MVINT(now), MVINT(now)};
    meta_result *r = query(c,
                           "INSERT INTO ol_runs(run_id, job_id, state, state_time, facets, "
                           "facet_times, created_at, updated_at) VALUES (?, ?, '', 0, '{}', '{}', "
                           "?, ?) ON CONFLICT (run_id) DO UPDATE SET updated_at = "
                           "excluded.updated_at RETURNING state, state_time, started_at, "
                           "ended_at, facets, facet_times",
                           p, 4, "upsert run", e);
    if (!r) return -1;
    const char *cur = meta_result_get(r, 0, 0);
    int64_t cur_t = meta_result_int(r, 0, 1);
    int64_t started = meta_result_int(r, 0, 2), ended = meta_result_int(r, 0, 3);
    char state[16];
    snprintf(state, sizeof(state), "%s", cur ? cur : "");
    int64_t state_t = cur_t;
    if (ol_state_wins(state, cur_t, type, t)) {
        snprintf(state, sizeof(state), "%s", type);
        state_t = t;
    }
    if ((!strcmp(type, "START") || !strcmp(type, "RUNNING")) && (!started || t < started))
        started = t;
    ended = ol_state_terminal(state) ? state_t : 0;

    json_t *f = lineage_json_col(r, 0, 4), *ft = lineage_json_col(r, 0, 5);
    meta_result_free(r);
    if (!json_is_object(f)) {
        json_decref(f);
        f = json_object();
    }
    if (!json_is_object(ft)) {
        json_decref(ft);
        ft = json_object();
    }
    ol_facets_merge(f, ft, json_object_get(json_object_get(it->ev, "run"), "facets"), t);
    char *fs = lineage_dump(f), *fts = lineage_dump(ft);
    meta_val u[] = {
        MVTEXT(state),
        MVINT(state_t),
        started ? MVINT(started) : MVNULL,
        ended ? MVINT(ended) : MVNULL,
        MVTEXT(fs),
        MVTEXT(fts),
        MVTEXT(str_at(json_object_get(f, "nominalTime"), "nominalStartTime", NULL)),
        MVTEXT(str_at(json_object_get(f, "nominalTime"), "nominalEndTime", NULL)),
        MVTEXT(str_at(json_object_get(f, "parent"), "run", "runId")),
        MVTEXT(str_at(json_object_get(f, "parent"), "job", "namespace")),
        MVTEXT(str_at(json_object_get(f, "parent"), "job", "name")),
        MVTEXT(str_at(f, "errorMessage", "message")),
        MVTEXT(run_id),
    };
    int rc = exec(c,
                  "UPDATE ol_runs SET state = ?, state_time = ?, started_at = ?, ended_at = ?, "
                  "facets = ?, facet_times = ?, nominal_start = ?, nominal_end = ?, "
                  "parent_run_id = ?, parent_job_namespace = ?, parent_job_name = ?, "
                  "error_message = ? WHERE run_id = ?",
                  u, 13, "update run", e);
    free(fs);
    free(fts);
    json_decref(f);
    json_decref(ft);
    return rc;
}

/* Inputs or outputs: datasets, the run's inputs/outputs and the job-level edges. */
static int store_io(meta_conn *c, const ol_item *it, int64_t job_id, const char *key,
                    const char *io_key, const char *dir, int64_t now, dlb_err *e)
{
    size_t i;
    const json_t *ds;
    int64_t t = it->chk.event_time_us;
    json_array_foreach(json_object_get(it->ev, key), i, ds)
    {
        int64_t ds_id;
        if (upsert_entity(c, 0, str_at(ds, "namespace", NULL), str_at(ds, "name", NULL),
                          json_object_get(ds, "facets"), t, now, &ds_id, e))
            return -1;
        if (it->chk.kind == OL_RUN) {
            const json_t *iof = json_object_get(ds, io_key);
            char *fs = json_is_object(iof) ? lineage_dump(iof) : NULL;
            meta_val p[] = {MVTEXT(it->chk.run_id),
                            MVINT(ds_id),
                            MVTEXT(dir),
                            MVTEXT(fs),
                            MVINT(t),
                            MVINT(now)};
            int rc = exec(c,
                          "INSERT INTO ol_run_io(run_id, dataset_id, direction, facets, "
                          "facets_time, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT "
                          "(run_id, dataset_id, direction) DO UPDATE SET facets = "
                          "excluded.facets, facets_time = excluded.facets_time WHERE "
                          "excluded.facets IS NOT NULL AND ol_run_io.facets_time <= "
                          "excluded.facets_time",
                          p, 6, "run io", e);
            free(fs);
            if (rc) return -1;
        }
        meta_val p[] = {MVINT(job_id), MVINT(ds_id), MVTEXT(dir), MVINT(t), MVINT(t)};
        if (exec(c,
                 "INSERT INTO ol_edges(job_id, dataset_id, direction, first_seen, last_seen) "
                 "VALUES (?, ?, ?, ?, ?) ON CONFLICT (job_id, dataset_id, direction) DO UPDATE "
                 "SET last_seen = excluded.last_seen WHERE ol_edges.last_seen < "
                 "excluded.last_seen",
                 p, 5, "edge", e))
            return -1;
    }
    return 0;
}

int lineage_store_tx(lineage_t *lg, meta_conn *c, ol_item *it, dlb_err *e)
{
    char hash[65];
    if (lineage_event_hash(it->ev, hash)) {
        dlb_err_set(e, 500, "internal_error", "cannot hash the event");
        return -1;
    }
    int64_t now = lineage_now_us();
    const json_t *ev = it->ev, *job = json_object_get(ev, "job"),
                 *ds = json_object_get(ev, "dataset");
    char *payload = strndup(it->raw, it->len);
    if (!payload) {
        dlb_err_set(e, 500, "internal_error", "out of memory");
        return -1;
    }
    char *warn = NULL;
    if (ol_check_deviations(&it->chk) > 0) warn = lineage_dump(it->chk.problems);
    const char *dsns = it->chk.kind == OL_DATASET ? str_at(ds, "namespace", NULL) : NULL;
    const char *dsname = it->chk.kind == OL_DATASET ? str_at(ds, "name", NULL) : NULL;
    meta_val p[] = {
        MVTEXT(hash),
        MVTEXT(ol_kind_name(it->chk.kind)),
        MVTEXT(it->chk.event_type[0] ? it->chk.event_type : NULL),
        MVTEXT(str_at(ev, "eventTime", NULL)),
        MVINT(it->chk.event_time_us),
        MVTEXT(str_at(ev, "producer", NULL)),
        MVTEXT(str_at(ev, "schemaURL", NULL)),
        MVTEXT(it->chk.run_id[0] ? it->chk.run_id : NULL),
        MVTEXT(str_at(job, "namespace", NULL)),
        MVTEXT(str_at(job, "name", NULL)),
        MVTEXT(dsns),
        MVTEXT(dsname),
        MVTEXT(payload),
        MVTEXT(warn),
        MVINT(now),
    };
    meta_result *r = query(c,
                           "INSERT INTO ol_events(hash, kind, event_type, event_time, "
                           "event_time_us, producer, schema_url, run_id, job_namespace, "
                           "job_name, dataset_namespace, dataset_name, payload, warnings, "
                           "received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                           "ON CONFLICT (hash) DO NOTHING RETURNING id",
                           p, 15, "store event", e);
    free(payload);
    free(warn);
    if (!r) return -1;
    if (meta_result_rows(r) == 0) {
        /* Seen before: the first copy already did everything below. */
        meta_result_free(r);
        meta_val h[] = {MVTEXT(hash)};
        r = query(c, "SELECT id FROM ol_events WHERE hash = ?", h, 1, "find duplicate", e);
        if (!r) return -1;
        it->event_id = meta_result_int(r, 0, 0);
        it->duplicate = 1;
        meta_result_free(r);
        return 0;
    }
    it->event_id = meta_result_int(r, 0, 0);
    it->duplicate = 0;
    meta_result_free(r);

    int64_t t = it->chk.event_time_us, id = 0;
    if (it->chk.kind == OL_DATASET) {
        if (upsert_entity(c, 0, dsns, dsname, json_object_get(ds, "facets"), t, now, &id, e))
            return -1;
    } else {
        if (upsert_entity(c, 1, str_at(job, "namespace", NULL), str_at(job, "name", NULL),
                          json_object_get(job, "facets"), t, now, &id, e))
            return -1;
        if (it->chk.kind == OL_RUN && update_run(c, it, id, now, e)) return -1;
        if (store_io(c, it, id, "inputs", "inputFacets", "INPUT", now, e) ||
            store_io(c, it, id, "outputs", "outputFacets", "OUTPUT", now, e))
            return -1;
    }
    if (lg->outbox) {
        /* run_rank and event_time_us order a run's events for delivery (START first). */
        meta_val o[] = {MVINT(it->event_id),
                        MVTEXT(it->chk.run_id[0] ? it->chk.run_id : NULL),
                        MVINT(dlv_run_rank(it->chk.event_type[0] ? it->chk.event_type : NULL)),
                        MVINT(it->chk.event_time_us),
                        MVINT(now),
                        MVINT(now)};
        if (exec(c,
                 "INSERT INTO ol_outbox(event_id, run_id, run_rank, event_time_us, attempts, "
                 "next_attempt_at, created_at) VALUES (?, ?, ?, ?, 0, ?, ?)",
                 o, 6, "outbox", e))
            return -1;
        lineage_tl_outbox = 1;
    }
    return 0;
}

/* ---- several events in one transaction ---- */

typedef struct {
    ol_item **items;
    size_t n;
    int *rcs;
    dlb_err *errs;
} many_arg;

static int savepoint(meta_conn *c, const char *sql, dlb_err *e)
{
    return exec(c, sql, NULL, 0, "savepoint", e);
}

static int many_fn(lineage_t *lg, meta_conn *c, void *arg, dlb_err *e)
{
    many_arg *a = arg;
    if (a->n == 1) { /* nothing to keep apart: no savepoint */
        a->rcs[0] = 0;
        return lineage_store_tx(lg, c, a->items[0], e);
    }
    for (size_t i = 0; i < a->n; i++) { /* a retry starts from scratch */
        a->rcs[i] = 0;
        memset(&a->errs[i], 0, sizeof(a->errs[i]));
    }
    for (size_t i = 0; i < a->n; i++) {
        if (savepoint(c, "SAVEPOINT lg_item", e)) return -1;
        dlb_err ie = {0};
        if (lineage_store_tx(lg, c, a->items[i], &ie) == 0) {
            if (savepoint(c, "RELEASE SAVEPOINT lg_item", e)) return -1;
            continue;
        }
        /* Conflicts and lock timeouts concern the transaction (PostgreSQL aborts it on a
         * deadlock or serialization failure): start over. Anything else is this event's. */
        if (lineage_err_transient(&ie)) {
            *e = ie;
            return -1;
        }
        if (savepoint(c, "ROLLBACK TO SAVEPOINT lg_item", e) ||
            savepoint(c, "RELEASE SAVEPOINT lg_item", e))
            return -1;
        a->rcs[i] = -1;
        a->errs[i] = ie;
    }
    return 0;
}

/* A ticket lock (FIFO) around the event writes of this process on SQLite, where only one
 * writer at a time gets anywhere: a queued batch or group waits its turn here, woken the moment
 * the previous one commits, instead of in SQLite's busy handler (sleeps growing to 100 ms, no
 * order: under load some waiters lost for seconds). PostgreSQL runs them side by side. */
static void turn_enter(lineage_t *lg)
{
    if (lg->is_pg) return;
    pthread_mutex_lock(&lg->gc_mu);
    unsigned long mine = lg->turn_next++;
    while (lg->turn_serving != mine)
        pthread_cond_wait(&lg->turn_cv, &lg->gc_mu);
    pthread_mutex_unlock(&lg->gc_mu);
}

static void turn_leave(lineage_t *lg)
{
    if (lg->is_pg) return;
    pthread_mutex_lock(&lg->gc_mu);
    lg->turn_serving++;
    pthread_cond_broadcast(&lg->turn_cv);
    pthread_mutex_unlock(&lg->gc_mu);
}

int lineage_store_many(lineage_t *lg, ol_item **items, size_t n, int *rcs, dlb_err *errs,
                       dlb_err *e)
{
    if (n == 0) return 0;
    many_arg a = {items, n, rcs, errs};
    turn_enter(lg);
    int rc = lineage_tx(lg, many_fn, &a, e);
    turn_leave(lg);
    return rc;
}
