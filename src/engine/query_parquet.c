/* Parquet results. DuckDB writes the file; the user's SQL is never pasted into another
 * statement. The prepared statement runs as a streaming result on the sandboxed connection; a
 * table function dlb_query_result(id) on the trusted database hands its chunks on (zero copy:
 * duckdb_vector_reference_vector) to
 *     COPY (SELECT * FROM dlb_query_result(<id>)) TO '<tmp>/dlb-q-<pid>-<id>.parquet'
 *         (FORMAT parquet)
 * run on lim->parquet_con, with only the id and our own staging path in the SQL text. The file
 * is then streamed to the sink and deleted: memory stays at a row group or so, the staged file
 * is the only full copy. Rejected alternatives: duckdb_execute_prepared_arrow materialises the
 * whole result first; an appender into a temporary table copies every value twice and holds
 * the result in the trusted database's memory. */
#include "engine/query_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct pq_stream {
    int64_t id;
    duckdb_result *res;
    int64_t max_rows, rows;
    int truncated, done;
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
    int64_t n = (int64_t)duckdb_data_chunk_get_size(ch);
    if (s->max_rows > 0 && s->rows >= s->max_rows) {
        s->truncated = n > 0;
        s->done = 1;
        n = 0;
    } else if (s->max_rows > 0 && n > s->max_rows - s->rows) {
        n = s->max_rows - s->rows;
        s->truncated = 1;
        s->done = 1;
    }
    if (n > 0) {
        idx_t nc = duckdb_data_chunk_get_column_count(ch);
        for (idx_t k = 0; k < nc; k++)
            duckdb_vector_reference_vector(duckdb_data_chunk_get_vector(output, k),
                                           duckdb_data_chunk_get_vector(ch, k));
        duckdb_data_chunk_set_size(output, (idx_t)n);
        s->rows += n;
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

/* Streams path to the sink in pieces of about chunk bytes. */
static int send_file(const char *path, size_t chunk, query_sink sink, void *ctx, query_outcome *out,
                     dlb_err *err)
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
        ssize_t n = read(fd, buf, chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            dlb_err_set(err, 500, "query_internal_error", "cannot read the staged result: %s",
                        strerror(errno));
            goto done;
        }
        if (n == 0) break;
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

int query_run_parquet(duckdb_connection con, duckdb_prepared_statement st, const query_limits *lim,
                      query_sink sink, void *sink_ctx, query_outcome *out, dlb_err *err)
{
    if (!lim || !lim->parquet_con || !lim->tmp_dir) {
        dlb_err_set(err, 500, "query_internal_error",
                    "Parquet results need a trusted connection and a staging directory");
        return -1;
    }
    duckdb_result res;
    if (duckdb_execute_prepared_streaming(st, &res) == DuckDBError) {
        query_map_error(duckdb_result_error_type(&res), duckdb_result_error(&res), err);
        duckdb_destroy_result(&res);
        return -1;
    }
    register_tf(lim->parquet_con);
    pq_stream s = {0};
    s.res = &res;
    s.max_rows = lim->max_rows;
    pq_add(&s);

    char path[1024], sql[1400];
    snprintf(path, sizeof(path), "%s/dlb-q-%ld-%lld.parquet", lim->tmp_dir, (long)getpid(),
             (long long)s.id);
    /* The path is ours (configuration + numbers); quotes are doubled all the same. */
    size_t n = (size_t)snprintf(
        sql, sizeof(sql), "COPY (SELECT * FROM dlb_query_result(%lld)) TO '", (long long)s.id);
    for (const char *p = path; *p && n + 4 < sizeof(sql); p++) {
        if (*p == '\'') sql[n++] = '\'';
        sql[n++] = *p;
    }
    snprintf(sql + n, sizeof(sql) - n, "' (FORMAT parquet)");

    int rc = -1;
    duckdb_result cr;
    if (duckdb_query(lim->parquet_con, sql, &cr) == DuckDBError) {
        /* The user's error (from the fetch) or the writer's. */
        const char *e =
            duckdb_result_error(s.res) ? duckdb_result_error(s.res) : duckdb_result_error(&cr);
        query_map_error(duckdb_result_error(s.res) ? duckdb_result_error_type(s.res)
                                                   : duckdb_result_error_type(&cr),
                        e, err);
        duckdb_destroy_result(&cr);
        pq_remove(&s);
        duckdb_destroy_result(&res);
        unlink(path);
        return -1;
    }
    duckdb_destroy_result(&cr);
    pq_remove(&s);
    duckdb_destroy_result(&res);
    out->rows = s.rows;
    out->truncated = s.truncated;
    rc =
        send_file(path, lim->chunk_bytes ? lim->chunk_bytes : 256 * 1024, sink, sink_ctx, out, err);
    unlink(path);
    return rc;
}
