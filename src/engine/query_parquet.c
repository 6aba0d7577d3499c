/* Parquet results. DuckDB writes the file, which is then streamed to the sink and deleted (the
 * staged file is the only full copy); the user's SQL is never pasted into another statement.
 * Three sources, the first that applies:
 *
 * 1. The sandboxed connection writes it (copy_in_sandbox): the user's text bound as a value to
 *    DuckDB's query() inside our COPY. One pipeline, all threads, DuckDB's own speed. Needs the
 *    text (query_limits.sql) and no row cap; the staging directory is one of the sandbox's
 *    allowed directories (ADR 0018).
 * 2. Otherwise the prepared statement runs as a streaming result on the sandboxed connection
 *    and reaches, on the trusted connection lim->parquet_con,
 *        COPY (SELECT * FROM <source>) TO '<tmp>/dlb-q-<pid>-<id>.parquet' (FORMAT parquet)
 *    with only our own names and staging path in the SQL text; the file is sent from the moment
 *    the whole result has been read, while DuckDB still writes its end. <source> is a view over
 *    an Arrow stream of the result (engine/result_arrow.h, registered with duckdb_arrow_scan):
 *    arrow_scan gives every batch an index, so the writer encodes row groups on all its threads
 *    and still writes them in the result's order. It takes only the flat types whose Arrow round
 *    trip is exact.
 * 3. Otherwise (nested, UUID, INTERVAL, HUGEINT, ENUM, JSON... under a row cap, or when the view
 *    cannot be set up before the first fetch) <source> is the table function
 *    dlb_query_result(id), which hands the result's chunks on without copying
 *    (duckdb_vector_reference_vector) but, declaring no batch index, is written on one thread.
 * Rejected alternatives: duckdb_execute_prepared_arrow materialises the whole result first; an
 * appender into a temporary table copies every value twice and holds the result in the trusted
 * database's memory. */
#include "engine/query_internal.h"

#include "engine/result_arrow.h"
#include "util/log.h"
#include "util/sqlq.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct pq_stream {
    int64_t id;
    duckdb_result *res;
    query_cap cap;
    int done;
    struct pq_stream *next;
} pq_stream;

static pthread_mutex_t pq_lock = PTHREAD_MUTEX_INITIALIZER;
static pq_stream *pq_head;
static int64_t pq_next_id = 1;

static pq_stream *pq_find(int64_t id)
{
    pthread_mutex_lock(&pq_lock);
    pq_stream *s = pq_head;
    while (s && s->id != id)
        s = s->next;
    pthread_mutex_unlock(&pq_lock);
    return s;
}

static void pq_add(pq_stream *s)
{
    pthread_mutex_lock(&pq_lock);
    s->id = pq_next_id++;
    s->next = pq_head;
    pq_head = s;
    pthread_mutex_unlock(&pq_lock);
}

static void pq_remove(pq_stream *s)
{
    pthread_mutex_lock(&pq_lock);
    for (pq_stream **p = &pq_head; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            break;
        }
    pthread_mutex_unlock(&pq_lock);
}

static void tf_bind(duckdb_bind_info info)
{
    duckdb_value v = duckdb_bind_get_parameter(info, 0);
    int64_t id = duckdb_get_int64(v);
    duckdb_destroy_value(&v);
    pq_stream *s = pq_find(id);
    if (!s) {
        duckdb_bind_set_error(info, "no such query result");
        return;
    }
    idx_t n = duckdb_column_count(s->res);
    for (idx_t k = 0; k < n; k++) {
        duckdb_logical_type t = duckdb_column_logical_type(s->res, k);
        duckdb_bind_add_result_column(info, duckdb_column_name(s->res, k), t);
        duckdb_destroy_logical_type(&t);
    }
    duckdb_bind_set_bind_data(info, s, NULL);
}

static void tf_init(duckdb_init_info info)
{
    duckdb_init_set_max_threads(info, 1);
}

static void tf_scan(duckdb_function_info info, duckdb_data_chunk output)
{
    pq_stream *s = duckdb_function_get_bind_data(info);
    duckdb_data_chunk_set_size(output, 0);
    if (s->done) return;
    duckdb_data_chunk ch = duckdb_fetch_chunk(*s->res);
    if (!ch) {
        s->done = 1;
        const char *e = duckdb_result_error(s->res);
        if (e) duckdb_function_set_error(info, e);
        return;
    }
    int64_t n = query_cap_take(&s->cap, (int64_t)duckdb_data_chunk_get_size(ch));
    if (s->cap.done) s->done = 1;
    if (n > 0) {
        idx_t nc = duckdb_data_chunk_get_column_count(ch);
        for (idx_t k = 0; k < nc; k++)
            duckdb_vector_reference_vector(duckdb_data_chunk_get_vector(output, k),
                                           duckdb_data_chunk_get_vector(ch, k));
        duckdb_data_chunk_set_size(output, (idx_t)n);
    }
    duckdb_destroy_data_chunk(&ch);
}

/* Registers dlb_query_result on con's database; a second registration fails harmlessly. */
static void register_tf(duckdb_connection con)
{
    duckdb_table_function tf = duckdb_create_table_function();
    duckdb_table_function_set_name(tf, "dlb_query_result");
    duckdb_logical_type bt = duckdb_create_logical_type(DUCKDB_TYPE_BIGINT);
    duckdb_table_function_add_parameter(tf, bt);
    duckdb_destroy_logical_type(&bt);
    duckdb_table_function_set_bind(tf, tf_bind);
    duckdb_table_function_set_init(tf, tf_init);
    duckdb_table_function_set_function(tf, tf_scan);
    duckdb_register_table_function(con, tf);
    duckdb_destroy_table_function(&tf);
}

static int use_source = 2;
static long arrow_count, sandbox_count;

void query_parquet_use_source(int best)
{
    __atomic_store_n(&use_source, best, __ATOMIC_RELAXED);
}

long query_parquet_arrow_count(void)
{
    return __atomic_load_n(&arrow_count, __ATOMIC_RELAXED);
}

long query_parquet_sandbox_count(void)
{
    return __atomic_load_n(&sandbox_count, __ATOMIC_RELAXED);
}

/* COPY (SELECT * FROM <from>) TO '<path>' (FORMAT parquet), malloc'd, or NULL (out of memory);
 * from is ours (a view name, dlb_query_result(<id>) or query($1)), the path ours too
 * (configuration + numbers), quoted all the same. */
static char *copy_sql(const char *from, const char *path)
{
    buf_t b;
    buf_init(&b, 0);
    int fail = buf_printf(&b, "COPY (SELECT * FROM %s) TO ", from);
    fail |= sqlq_string(&b, path);
    fail |= buf_appends(&b, " (FORMAT parquet)");
    if (fail) {
        buf_free(&b);
        return NULL;
    }
    return buf_steal(&b, NULL);
}

static void exec_quiet(duckdb_connection con, const char *sql)
{
    duckdb_result r;
    duckdb_query(con, sql, &r);
    duckdb_destroy_result(&r);
}

/* The COPY on a thread of its own, so that the file can be sent while DuckDB writes its end. */
typedef struct {
    duckdb_connection con;
    const char *sql;
    duckdb_result res;
    int failed, done;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} copy_job;

static void *copy_main(void *arg)
{
    copy_job *j = arg;
    int failed = duckdb_query(j->con, j->sql, &j->res) == DuckDBError;
    pthread_mutex_lock(&j->mu);
    j->failed = failed;
    j->done = 1;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

/* Waits up to ms for the COPY to end; whether it has. */
static int copy_wait(copy_job *j, long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&j->mu);
    if (!j->done) pthread_cond_timedwait(&j->cv, &j->mu, &ts);
    int done = j->done;
    pthread_mutex_unlock(&j->mu);
    return done;
}

/* Sends the file as DuckDB appends to it (a Parquet file is written front to back, footer last,
 * never rewritten) until the COPY has ended and everything it wrote is sent. 0, or -1 (client
 * gone: out->client_gone; a read error: err). */
static int send_growing(const char *path, copy_job *j, size_t chunk, query_sink sink, void *ctx,
                        query_outcome *out, dlb_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        dlb_err_set(err, 500, "query_internal_error", "cannot open the staged result: %s",
                    strerror(errno));
        return -1;
    }
    char *buf = malloc(chunk);
    int rc = -1;
    if (!buf) {
        dlb_err_set(err, 500, "out_of_memory", "out of memory");
        goto done;
    }
    for (;;) {
        int finished = !j || copy_wait(j, 0); /* before the read: then EOF means all of it */
        ssize_t n = read(fd, buf, chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            dlb_err_set(err, 500, "query_internal_error", "cannot read the staged result: %s",
                        strerror(errno));
            goto done;
        }
        if (n == 0) {
            if (finished) break;
            copy_wait(j, 2);
            continue;
        }
        out->started = 1;
        if (sink(ctx, buf, (size_t)n) < 0) {
            out->client_gone = 1;
            goto done;
        }
        out->bytes += (uint64_t)n;
    }
    rc = 0;
done:
    free(buf);
    close(fd);
    return rc;
}

/* Streams the finished file at path to the sink in pieces of about chunk bytes. */
static int send_file(const char *path, size_t chunk, query_sink sink, void *ctx, query_outcome *out,
                     dlb_err *err)
{
    return send_growing(path, NULL, chunk, sink, ctx, out, err);
}

/* The Arrow view source, the file sent as soon as the whole result is read (no error of the
 * user's query can come after that; until then nothing is sent, as with the table function).
 * 1 when the view was not usable and nothing was fetched (take the table function), 0 when the
 * file was sent, -1 with err set or out->client_gone. */
static int export_via_arrow(duckdb_connection con, duckdb_result *res, const query_limits *lim,
                            const char *path, query_sink sink, void *sink_ctx, query_outcome *out,
                            dlb_err *err)
{
    static pthread_mutex_t seq_lock = PTHREAD_MUTEX_INITIALIZER;
    static unsigned long seq;
    result_arrow *ra = result_arrow_new(con, res, lim->max_rows);
    if (!ra) return 1;
    pthread_mutex_lock(&seq_lock);
    unsigned long id = ++seq;
    pthread_mutex_unlock(&seq_lock);
    char view[64], from[80], drop[120];
    snprintf(view, sizeof(view), "__dlb_pq_%lu", id);
    snprintf(from, sizeof(from), "\"%s\"", view);
    char *sql = copy_sql(from, path);
    if (!sql || duckdb_arrow_scan(lim->parquet_con, view,
                                  (duckdb_arrow_stream)result_arrow_stream(ra)) == DuckDBError) {
        free(sql);
        result_arrow_free(ra);
        return 1;
    }
    size_t chunk = lim->chunk_bytes ? lim->chunk_bytes : 256 * 1024;
    copy_job j = {.con = lim->parquet_con, .sql = sql};
    pthread_mutex_init(&j.mu, NULL);
    pthread_cond_init(&j.cv, NULL);
    pthread_t t;
    int threaded = pthread_create(&t, NULL, copy_main, &j) == 0;
    if (!threaded) copy_main(&j);
    int sent = 0, send_rc = 0;
    while (!copy_wait(&j, 5))
        if (result_arrow_read_all(ra)) {
            sent = 1;
            send_rc = send_growing(path, &j, chunk, sink, sink_ctx, out, err);
            if (send_rc) duckdb_interrupt(lim->parquet_con); /* the COPY is of no use now */
            break;
        }
    if (threaded) pthread_join(t, NULL);
    int fetched = result_arrow_fetched(ra);
    dlb_err rerr = {0};
    int read_failed = result_arrow_finish(ra, &rerr);
    int rc = 0;
    if (j.failed && !fetched) {
        const char *m = duckdb_result_error(&j.res);
        log_warn("Parquet result: the Arrow source failed before its first fetch", "error",
                 m ? m : "?");
        unlink(path);
        rc = 1;
    } else if (read_failed) { /* the user's error (from the fetch) first */
        if (err) *err = rerr;
        rc = -1;
    } else if (send_rc) {
        rc = -1;
    } else if (j.failed) { /* then the writer's */
        query_map_error(duckdb_result_error_type(&j.res), duckdb_result_error(&j.res), err);
        rc = -1;
    } else if (!sent) {
        rc = send_file(path, chunk, sink, sink_ctx, out, err);
    }
    if (rc == 0) __atomic_add_fetch(&arrow_count, 1, __ATOMIC_RELAXED);
    duckdb_destroy_result(&j.res);
    pthread_cond_destroy(&j.cv);
    pthread_mutex_destroy(&j.mu);
    snprintf(drop, sizeof(drop), "DROP VIEW IF EXISTS %s", from);
    exec_quiet(lim->parquet_con, drop);
    free(sql);
    out->rows = result_arrow_rows(ra);
    out->truncated = result_arrow_truncated(ra);
    result_arrow_free(ra);
    return rc;
}

/* The table-function source: 0 (the file is at path) or -1 with err set (the file removed). */
static int copy_via_function(duckdb_result *res, const query_limits *lim, const char *path,
                             query_outcome *out, dlb_err *err)
{
    register_tf(lim->parquet_con);
    pq_stream s = {0};
    s.res = res;
    s.cap.max = lim->max_rows;
    pq_add(&s);
    char from[64];
    snprintf(from, sizeof(from), "dlb_query_result(%lld)", (long long)s.id);
    char *sql = copy_sql(from, path);
    if (!sql) {
        pq_remove(&s);
        dlb_err_set(err, 500, "out_of_memory", "out of memory");
        return -1;
    }
    duckdb_result cr;
    int rc = 0;
    if (duckdb_query(lim->parquet_con, sql, &cr) == DuckDBError) {
        /* The user's error (from the fetch) or the writer's. */
        const char *e =
            duckdb_result_error(s.res) ? duckdb_result_error(s.res) : duckdb_result_error(&cr);
        query_map_error(duckdb_result_error(s.res) ? duckdb_result_error_type(s.res)
                                                   : duckdb_result_error_type(&cr),
                        e, err);
        unlink(path);
        rc = -1;
    }
    duckdb_destroy_result(&cr);
    free(sql);
    pq_remove(&s);
    out->rows = s.cap.rows;
    out->truncated = s.cap.truncated;
    return rc;
}

/* The first choice: the sandboxed connection writes the file itself,
 *     COPY (SELECT * FROM query($1)) TO '<export dir>/dlb-q-<pid>-<id>.parquet' (FORMAT parquet)
 * with the user's text bound to $1 (query() takes a single SELECT only, and the text was
 * checked by query_prepare already). One pipeline from the lake's files to the writer, on all
 * of the query database's threads, under its memory limit: what DuckDB's own COPY costs.
 * 1 when it cannot be prepared (take the other sources), 0 when the file is at path, -1 with
 * err set (the file removed). */
static int copy_in_sandbox(duckdb_connection con, const query_limits *lim, const char *path,
                           query_outcome *out, dlb_err *err)
{
    char *sql = copy_sql("query($1)", path);
    duckdb_prepared_statement ps = NULL;
    int prepared = sql && duckdb_prepare(con, sql, &ps) == DuckDBSuccess;
    free(sql);
    if (!prepared || duckdb_bind_varchar(ps, 1, lim->sql) == DuckDBError) {
        const char *m = ps ? duckdb_prepare_error(ps) : NULL;
        log_warn("Parquet result: the sandboxed COPY cannot be prepared", "error", m ? m : "?");
        duckdb_destroy_prepare(&ps);
        return 1;
    }
    duckdb_result r;
    int rc = 0;
    if (duckdb_execute_prepared(ps, &r) == DuckDBError &&
        duckdb_result_error_type(&r) == DUCKDB_ERROR_PARSER) {
        /* The text prepared on its own, so a parser error is query()'s refusal (its rules are
         * narrower in places; a PIVOT without IN values is one, though query_prepare already
         * refuses that as two statements): the other sources take it. */
        unlink(path);
        rc = 1;
    } else if (duckdb_result_error(&r)) {
        /* The user's error as it would read without our COPY around it: DuckDB appends the
         * position in the statement, which is ours (and names the staging path). */
        char msg[2048];
        const char *m = duckdb_result_error(&r);
        snprintf(msg, sizeof(msg), "%s", m ? m : "query failed");
        char *line = strstr(msg, "\n\nLINE ");
        if (line) *line = 0;
        query_map_error(duckdb_result_error_type(&r), msg, err);
        unlink(path);
        rc = -1;
    } else {
        out->rows = duckdb_value_int64(&r, 0, 0);
        __atomic_add_fetch(&sandbox_count, 1, __ATOMIC_RELAXED);
    }
    duckdb_destroy_result(&r);
    duckdb_destroy_prepare(&ps);
    return rc;
}

int query_run_parquet(duckdb_connection con, duckdb_prepared_statement st, const query_limits *lim,
                      query_sink sink, void *sink_ctx, query_outcome *out, dlb_err *err)
{
    if (!lim || !lim->parquet_con || !lim->tmp_dir) {
        dlb_err_set(err, 500, "query_internal_error",
                    "Parquet results need a trusted connection and a staging directory");
        return -1;
    }
    static pthread_mutex_t seq_lock = PTHREAD_MUTEX_INITIALIZER;
    static unsigned long long seq;
    pthread_mutex_lock(&seq_lock);
    unsigned long long id = ++seq;
    pthread_mutex_unlock(&seq_lock);
    char path[1024];
    snprintf(path, sizeof(path), "%s/dlb-q-%ld-%llu.parquet", lim->tmp_dir, (long)getpid(), id);

    size_t chunk = lim->chunk_bytes ? lim->chunk_bytes : 256 * 1024;
    int rc = 1;
    if (lim->sql && lim->max_rows <= 0 && __atomic_load_n(&use_source, __ATOMIC_RELAXED) == 2) {
        rc = copy_in_sandbox(con, lim, path, out, err);
        if (rc == 0) rc = send_file(path, chunk, sink, sink_ctx, out, err);
    }
    if (rc == 1) {
        duckdb_result res;
        if (duckdb_execute_prepared_streaming(st, &res) == DuckDBError) {
            query_map_error(duckdb_result_error_type(&res), duckdb_result_error(&res), err);
            duckdb_destroy_result(&res);
            return -1;
        }
        if (__atomic_load_n(&use_source, __ATOMIC_RELAXED) >= 1)
            rc = export_via_arrow(con, &res, lim, path, sink, sink_ctx, out, err);
        if (rc == 1) {
            rc = copy_via_function(&res, lim, path, out, err);
            if (rc == 0) rc = send_file(path, chunk, sink, sink_ctx, out, err);
        }
        duckdb_destroy_result(&res);
    }
    unlink(path);
    return rc ? -1 : 0;
}
