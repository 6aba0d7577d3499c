/* Automatic lineage for table operations through the API (issue 5 item 4; decisions in
 * docs/decisions/0013-lineage.md, "Automatic lineage for table operations").
 *
 * Writes (create, append, drop): one COMPLETE RunEvent stored by the lake's commit hook inside
 * the lake commit's own metadata transaction, so an event exists exactly when its snapshot
 * does. Queries: START and COMPLETE or FAIL, queued by the handler after its answer is built
 * and stored by one background thread in their own transactions (several queries per
 * transaction), so the query path pays a malloc and a signal, not an insert. */
#include "internal.h"

#include "util/clock.h"
#include "util/ids.h"
#include "util/log.h"

#include <pthread.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AUTO_QUEUE_MAX   4096        /* queued queries */
#define AUTO_QUEUE_BYTES (16u << 20) /* bytes of queued SQL text and errors */
#define AUTO_BATCH       32          /* queries stored per transaction */
#define AUTO_LINGER_MS   100         /* a batch waits this long for company (one fsync for many) */
#define AUTO_NICE        10          /* the thread yields the CPU to request handling */

/* ---- names and facets ---- */

/* create_table -> create / CREATE_TABLE, ... (the job name's operation, the jobType). */
static const char *op_word(const char *op)
{
    if (!strcmp(op, "create_table")) return "create";
    if (!strcmp(op, "drop_table")) return "drop";
    return op;
}

static void upper(const char *s, char *out, size_t n)
{
    size_t i = 0;
    for (; s[i] && i + 1 < n; i++)
        out[i] = (char)(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 32 : s[i]);
    out[i] = '\0';
}

/* The table's columns at snapshot v as SchemaDatasetFacet fields (DuckLake type names, nested
 * fields under their parents), read from the catalog in c's transaction. NULL on error (e). */
static json_t *schema_fields(meta_conn *c, int64_t table_id, int64_t v, dlb_err *e)
{
    meta_val p[] = {MVINT(table_id), MVINT(v), MVINT(v)};
    char msg[256] = "";
    int rc = META_ERR;
    meta_result *r = meta_query(c,
                                "SELECT column_id, column_name, column_type, parent_column FROM "
                                "ducklake_column WHERE table_id = ? AND begin_snapshot <= ? AND "
                                "(end_snapshot IS NULL OR end_snapshot > ?) ORDER BY "
                                "parent_column NULLS FIRST, column_order",
                                p, 3, &rc, msg, sizeof(msg));
    if (!r) {
        lineage_db_err(e, rc, "table columns", msg);
        return NULL;
    }
    int n = meta_result_rows(r);
    json_t *top = json_array();
    json_t **node = calloc((size_t)(n ? n : 1), sizeof(*node));
    int64_t *ids = calloc((size_t)(n ? n : 1), sizeof(*ids));
    for (int i = 0; node && ids && i < n; i++) {
        const char *name = meta_result_get(r, i, 1), *type = meta_result_get(r, i, 2);
        ids[i] = meta_result_int(r, i, 0);
        node[i] = json_pack("{s:s, s:s}", "name", name ? name : "", "type", type ? type : "");
        json_t *into = top;
        if (!meta_result_isnull(r, i, 3)) {
            int64_t parent = meta_result_int(r, i, 3);
            into = NULL;
            for (int k = 0; k < i && !into; k++)
                if (ids[k] == parent && node[k]) {
                    into = json_object_get(node[k], "fields");
                    if (!into) {
                        into = json_array();
                        json_object_set_new(node[k], "fields", into);
                    }
                }
        }
        if (into && node[i]) json_array_append(into, node[i]);
    }
    for (int i = 0; node && i < n; i++)
        json_decref(node[i]);
    free(node);
    free(ids);
    meta_result_free(r);
    return top;
}

/* The dataset of a lake table with its dataset facets (fields may be NULL). */
static json_t *table_dataset(lineage_t *lg, const lineage_table_op *op, json_t *fields,
                             const char *lifecycle)
{
    char ns[300], name[300];
    snprintf(ns, sizeof(ns), "ducklake://%s", lg->catalog);
    snprintf(name, sizeof(name), "%s.%s", op->schema ? op->schema : "main", op->table);
    json_t *facets = json_object();
    if (fields && json_array_size(fields) > 0) {
        json_t *f = emit_facet("SchemaDatasetFacet", "1-2-0");
        json_object_set(f, "fields", fields);
        json_object_set_new(facets, "schema", f);
    }
    json_t *src = emit_facet("DatasourceDatasetFacet", "1-0-1");
    json_object_set_new(src, "name", json_string(ns));
    json_object_set_new(src, "uri", json_string(ol_uri_valid(ns) ? ns : "urn:ducklake"));
    json_object_set_new(facets, "dataSource", src);
    json_t *st = emit_facet("StorageDatasetFacet", "1-0-1");
    json_object_set_new(st, "storageLayer", json_string("ducklake"));
    json_object_set_new(st, "fileFormat", json_string("parquet"));
    json_object_set_new(facets, "storage", st);
    if (op->snapshot_id >= 0) {
        char v[32];
        snprintf(v, sizeof(v), "%lld", (long long)op->snapshot_id);
        json_t *vf = emit_facet("DatasetVersionDatasetFacet", "1-0-1");
        json_object_set_new(vf, "datasetVersion", json_string(v));
        json_object_set_new(facets, "version", vf);
    }
    if (op->location && *op->location) {
        /* The physical place: OpenLineage's naming for files (file + absolute path, or
         * s3://bucket + key). */
        char lns[300];
        const char *lname = op->location;
        snprintf(lns, sizeof(lns), "file");
        if (!strncmp(op->location, "s3://", 5)) {
            const char *slash = strchr(op->location + 5, '/');
            int blen = slash ? (int)(slash - op->location) : (int)strlen(op->location);
            snprintf(lns, sizeof(lns), "%.*s", blen, op->location);
            lname = slash ? slash + 1 : "";
        }
        json_t *sy = emit_facet("SymlinksDatasetFacet", "1-0-1");
        json_object_set_new(
            sy, "identifiers",
            json_pack("[{s:s, s:s, s:s}]", "namespace", lns, "name", lname, "type", "LOCATION"));
        json_object_set_new(facets, "symlinks", sy);
    }
    if (lifecycle) {
        json_t *lc = emit_facet("LifecycleStateChangeDatasetFacet", "1-0-1");
        json_object_set_new(lc, "lifecycleStateChange", json_string(lifecycle));
        json_object_set_new(facets, "lifecycleStateChange", lc);
    }
    json_t *ds = json_pack("{s:s, s:s}", "namespace", ns, "name", name);
    json_object_set_new(ds, "facets", facets);
    return ds;
}

static json_t *job_facets(const lineage_table_op *op)
{
    char jt[32];
    upper(op->operation, jt, sizeof(jt));
    json_t *f = emit_facet("JobTypeJobFacet", "2-0-4");
    json_object_set_new(f, "processingType", json_string("BATCH"));
    json_object_set_new(f, "integration", json_string("DUCKLAKE"));
    json_object_set_new(f, "jobType", json_string(jt));
    json_t *facets = json_pack("{s:o}", "jobType", f);
    if (op->sql) {
        json_t *q = emit_facet("SQLJobFacet", "1-1-0");
        json_object_set_new(q, "query", json_string(op->sql));
        json_object_set_new(q, "dialect", json_string("duckdb"));
        json_object_set_new(facets, "sql", q);
    }
    return facets;
}

static json_t *run_facets(const char *error)
{
    json_t *pe = emit_facet("ProcessingEngineRunFacet", "1-1-1");
    json_object_set_new(pe, "version", json_string(DLB_VERSION));
    json_object_set_new(pe, "name", json_string("ducklake-backend"));
    json_t *facets = json_pack("{s:o}", "processing_engine", pe);
    if (error) {
        json_t *em = emit_facet("ErrorMessageRunFacet", "1-0-1");
        json_object_set_new(em, "message", json_string(error));
        json_object_set_new(em, "programmingLanguage", json_string("SQL"));
        json_object_set_new(facets, "errorMessage", em);
    }
    return facets;
}

/* One RunEvent of op. fields: the table's schema fields (borrowed, may be NULL). */
static json_t *op_event(lineage_t *lg, const lineage_table_op *op, const char *type,
                        const char *run_id, int64_t time_us, json_t *fields)
{
    char job[400];
    snprintf(job, sizeof(job), "ducklake.%s.%s.%s", op_word(op->operation),
             op->schema ? op->schema : "main", op->table);
    int query = !strcmp(op->operation, "query");
    const char *lifecycle = !strcmp(op->operation, "create_table") ? "CREATE"
                            : !strcmp(op->operation, "drop_table") ? "DROP"
                                                                   : NULL;
    json_t *ds = table_dataset(lg, op, fields, lifecycle);
    if (op->rows >= 0 && !query) {
        json_t *os = emit_facet("OutputStatisticsOutputDatasetFacet", "1-0-2");
        json_object_set_new(os, "rowCount", json_integer(op->rows));
        json_object_set_new(os, "size", json_integer(op->bytes >= 0 ? op->bytes : 0));
        json_object_set_new(os, "fileCount", json_integer(op->files >= 0 ? op->files : 0));
        json_object_set_new(ds, "outputFacets", json_pack("{s:o}", "outputStatistics", os));
    }
    json_t *in = json_array(), *out = json_array();
    json_array_append_new(query ? in : out, ds);
    json_t *ev = emit_run_event(type, run_id, lg->ns, job,
                                run_facets(!strcmp(type, "FAIL") ? op->error : NULL),
                                job_facets(op), in, out);
    char t[40];
    lineage_fmt_time(time_us, t);
    json_object_set_new(ev, "eventTime", json_string(t));
    return ev;
}

static int meta_code(const dlb_err *e)
{
    if (!strcmp(e->code, "db_conflict")) return META_CONFLICT;
    if (!strcmp(e->code, "database_busy")) return META_BUSY;
    if (!strcmp(e->code, "database_unavailable")) return META_CONN;
    return META_ERR;
}

static void announce(lineage_t *lg, int64_t event_id, const char *type, const char *run_id,
                     const char *job)
{
    if (!lg->publish) return;
    json_t *d = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:s}", "status", "completed", "event_id",
                          (json_int_t)event_id, "kind", "RunEvent", "event_type", type, "run_id",
                          run_id, "job_namespace", lg->ns, "job_name", job);
    if (d) lg->publish(lg->publish_ctx, "lineage_event", d);
    json_decref(d);
}

/* ---- writes: inside the lake commit ---- */

/* What the last lineage_auto_commit of this thread stored, announced once it committed. */
static _Thread_local struct {
    int pending;
    int64_t event_id;
    char run_id[37], job[400];
} tl_last;

int lineage_auto_commit(lineage_t *lg, meta_conn *c, const lineage_table_op *op)
{
    tl_last.pending = 0;
    if (!lg || !op || !op->operation || !op->table) return 0;
    dlb_err e = {0};
    json_t *fields = NULL;
    if (op->table_id >= 0) {
        /* A drop's schema is the one the table had before it (snapshot - 1). */
        int64_t v = op->snapshot_id - (!strcmp(op->operation, "drop_table") ? 1 : 0);
        fields = schema_fields(c, op->table_id, v, &e);
        if (!fields) goto fail;
    }
    char run_id[37];
    ids_uuid7(run_id);
    json_t *ev = op_event(lg, op, "COMPLETE", run_id, lineage_now_us(), fields);
    json_decref(fields);
    int64_t id = 0;
    int rc = emit_store(lg, c, ev, &id, &e);
    if (rc == 0) {
        tl_last.pending = 1;
        tl_last.event_id = id;
        snprintf(tl_last.run_id, sizeof(tl_last.run_id), "%s", run_id);
        snprintf(tl_last.job, sizeof(tl_last.job), "%s",
                 json_string_value(json_object_get(json_object_get(ev, "job"), "name")));
    }
    json_decref(ev);
    if (rc == 0) return 0;
fail:
    log_error("lineage: cannot store the event of a lake commit", "operation", op->operation,
              "table", op->table, "error", e.detail);
    return meta_code(&e);
}

void lineage_auto_committed(lineage_t *lg)
{
    if (!lg) return;
    if (lineage_tl_outbox) lineage_deliver_wake(lg);
    lineage_tl_outbox = 0;
    if (tl_last.pending) announce(lg, tl_last.event_id, "COMPLETE", tl_last.run_id, tl_last.job);
    tl_last.pending = 0;
}

/* ---- queries: a queue and one background thread ---- */

typedef struct auto_job {
    struct auto_job *next;
    lineage_table_op op; /* strings point into the job's own copies below */
    int64_t start_us, end_us;
    size_t bytes;
    char *schema, *table, *location, *sql, *error;
} auto_job;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    lineage_t *lg;
    auto_job *head, *tail;
    size_t n, bytes;
    int started, stopping;
    pthread_t thread;
    unsigned long long dropped;
} g_q = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void job_free(auto_job *j)
{
    if (!j) return;
    free(j->schema);
    free(j->table);
    free(j->location);
    free(j->sql);
    free(j->error);
    free(j);
}

typedef struct {
    auto_job **jobs;
    int n;
    /* filled for the announcements after the commit */
    int64_t ids[AUTO_BATCH][2];
    char run_ids[AUTO_BATCH][37];
} batch_arg;

static int store_batch(lineage_t *lg, meta_conn *c, void *arg, dlb_err *e)
{
    batch_arg *b = arg;
    for (int i = 0; i < b->n; i++) {
        auto_job *j = b->jobs[i];
        json_t *fields = j->op.table_id >= 0
                             ? schema_fields(c, j->op.table_id, j->op.snapshot_id, e)
                             : json_array();
        if (!fields) return -1;
        ids_uuid7(b->run_ids[i]);
        json_t *start = op_event(lg, &j->op, "START", b->run_ids[i], j->start_us, fields);
        json_t *end = op_event(lg, &j->op, j->op.error ? "FAIL" : "COMPLETE", b->run_ids[i],
                               j->end_us, fields);
        json_decref(fields);
        int rc = emit_store(lg, c, start, &b->ids[i][0], e);
        if (rc == 0) rc = emit_store(lg, c, end, &b->ids[i][1], e);
        json_decref(start);
        json_decref(end);
        if (rc) return -1;
    }
    return 0;
}

static void store_jobs(lineage_t *lg, auto_job **jobs, int n)
{
    batch_arg b = {.jobs = jobs, .n = n};
    dlb_err e = {0};
    if (lineage_tx(lg, store_batch, &b, &e) != 0) {
        if (n > 1) { /* one bad query must not lose the others */
            for (int i = 0; i < n; i++)
                store_jobs(lg, jobs + i, 1);
            return;
        }
        log_error("lineage: cannot store the events of a query", "table", jobs[0]->op.table,
                  "error", e.detail);
        return;
    }
    for (int i = 0; i < n; i++) {
        char job[400];
        snprintf(job, sizeof(job), "ducklake.query.%s.%s", jobs[i]->op.schema, jobs[i]->op.table);
        announce(lg, b.ids[i][0], "START", b.run_ids[i], job);
        announce(lg, b.ids[i][1], jobs[i]->op.error ? "FAIL" : "COMPLETE", b.run_ids[i], job);
    }
}

static void *auto_thread(void *arg)
{
    lineage_t *lg = arg;
    auto_job *batch[AUTO_BATCH];
    /* Linux: nice applies to this thread only; storing lineage must not slow the answers. */
    if (setpriority(PRIO_PROCESS, (id_t)gettid(), AUTO_NICE) != 0)
        log_warn("lineage: cannot lower the priority of the query-event thread");
    pthread_mutex_lock(&g_q.mu);
    for (;;) {
        while (!g_q.head && !g_q.stopping)
            pthread_cond_wait(&g_q.cv, &g_q.mu);
        if (!g_q.head) break;                      /* stopping and drained */
        if (g_q.n < AUTO_BATCH && !g_q.stopping) { /* let a few more arrive */
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += AUTO_LINGER_MS * 1000000L;
            until.tv_sec += until.tv_nsec / 1000000000L;
            until.tv_nsec %= 1000000000L;
            while (g_q.n < AUTO_BATCH && !g_q.stopping &&
                   pthread_cond_timedwait(&g_q.cv, &g_q.mu, &until) == 0) {
            }
        }
        int n = 0;
        while (g_q.head && n < AUTO_BATCH) {
            auto_job *j = g_q.head;
            g_q.head = j->next;
            if (!g_q.head) g_q.tail = NULL;
            g_q.n--;
            g_q.bytes -= j->bytes;
            batch[n++] = j;
        }
        pthread_mutex_unlock(&g_q.mu);
        store_jobs(lg, batch, n);
        for (int i = 0; i < n; i++)
            job_free(batch[i]);
        pthread_mutex_lock(&g_q.mu);
    }
    pthread_mutex_unlock(&g_q.mu);
    return NULL;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

void lineage_auto_query(lineage_t *lg, const lineage_table_op *op)
{
    if (!lg || !op || !op->table) return;
    int64_t end = lineage_now_us();
    uint64_t mono = clock_mono_ns();
    auto_job *j = calloc(1, sizeof(*j));
    if (!j) return;
    j->end_us = end;
    j->start_us = op->started_mono_ns && op->started_mono_ns <= mono
                      ? end - (int64_t)((mono - op->started_mono_ns) / 1000)
                      : end;
    j->op = *op;
    j->op.operation = "query";
    j->schema = strdup(op->schema ? op->schema : "main");
    j->table = strdup(op->table);
    j->location = dup_or_null(op->location);
    j->sql = strdup(op->sql ? op->sql : "");
    j->error = dup_or_null(op->error);
    j->op.schema = j->schema;
    j->op.table = j->table;
    j->op.location = j->location;
    j->op.sql = j->sql;
    j->op.error = j->error;
    j->op.rows = j->op.bytes = j->op.files = -1;
    j->bytes = sizeof(*j) + (j->sql ? strlen(j->sql) : 0) + (j->error ? strlen(j->error) : 0);
    if (!j->schema || !j->table || !j->sql || (op->error && !j->error) ||
        (op->location && !j->location)) {
        job_free(j);
        return;
    }
    pthread_mutex_lock(&g_q.mu);
    int ok = !g_q.stopping && g_q.n < AUTO_QUEUE_MAX && g_q.bytes + j->bytes <= AUTO_QUEUE_BYTES;
    if (ok && !g_q.started) {
        g_q.lg = lg;
        ok = pthread_create(&g_q.thread, NULL, auto_thread, lg) == 0;
        g_q.started = ok;
    }
    unsigned long long dropped = 0;
    if (ok) {
        if (g_q.tail)
            g_q.tail->next = j;
        else
            g_q.head = j;
        g_q.tail = j;
        g_q.n++;
        g_q.bytes += j->bytes;
        pthread_cond_signal(&g_q.cv);
    } else {
        dropped = ++g_q.dropped;
    }
    pthread_mutex_unlock(&g_q.mu);
    if (!ok) {
        job_free(j);
        if ((dropped & (dropped - 1)) == 0) { /* 1st, 2nd, 4th, 8th ... drop */
            char n[24];
            snprintf(n, sizeof(n), "%llu", dropped);
            log_warn("lineage: query events dropped (queue full or stopping)", "dropped", n);
        }
    }
}

void lineage_auto_stop(lineage_t *lg)
{
    pthread_mutex_lock(&g_q.mu);
    int join = g_q.started && (!lg || g_q.lg == lg);
    g_q.stopping = 1;
    pthread_cond_broadcast(&g_q.cv);
    pthread_mutex_unlock(&g_q.mu);
    if (join) pthread_join(g_q.thread, NULL);
    pthread_mutex_lock(&g_q.mu);
    g_q.started = 0;
    pthread_mutex_unlock(&g_q.mu);
}
