/* query_prepare (statement rules) and query_run for the text formats (JSON, NDJSON, CSV):
 * a streaming result fetched chunk by chunk into the encoders. */
#include "engine/query_internal.h"

#include "engine/encode.h"
#include "engine/query_watchdog.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *stmt_type_name(duckdb_statement_type t)
{
    static const char *const n[] = {
        "INVALID",     "SELECT",   "INSERT",    "UPDATE",       "EXPLAIN", "DELETE",  "PREPARE",
        "CREATE",      "EXECUTE",  "ALTER",     "TRANSACTION",  "COPY",    "ANALYZE", "SET",
        "CREATE FUNC", "DROP",     "EXPORT",    "PRAGMA",       "VACUUM",  "CALL",    "SET",
        "LOAD",        "RELATION", "EXTENSION", "LOGICAL PLAN", "ATTACH",  "DETACH",  "MULTI"};
    return (unsigned)t < sizeof(n) / sizeof(n[0]) ? n[t] : "UNKNOWN";
}

/* The first keyword of sql (comments, blanks and opening parentheses skipped), upper-cased. */
static void first_keyword(const char *s, char *kw, size_t kwlen)
{
    for (;;) {
        while (isspace((unsigned char)*s) || *s == '(')
            s++;
        if (s[0] == '-' && s[1] == '-') {
            s = strchr(s, '\n');
            if (!s) break;
        } else if (s[0] == '/' && s[1] == '*') {
            const char *e = strstr(s + 2, "*/");
            if (!e) break;
            s = e + 2;
        } else {
            break;
        }
    }
    size_t n = 0;
    while (s && n + 1 < kwlen && (isalpha((unsigned char)s[n]) || s[n] == '_')) {
        kw[n] = (char)toupper((unsigned char)s[n]);
        n++;
    }
    kw[n] = 0;
}

static int select_keyword(const char *kw)
{
    static const char *const ok[] = {"SELECT",   "WITH", "FROM",      "VALUES", "TABLE",
                                     "DESCRIBE", "SHOW", "SUMMARIZE", "PIVOT",  "UNPIVOT"};
    for (size_t k = 0; k < sizeof(ok) / sizeof(ok[0]); k++)
        if (strcmp(kw, ok[k]) == 0) return 1;
    return 0;
}

void query_map_error(duckdb_error_type type, const char *msg, dlb_err *err)
{
    if (!msg) msg = "query failed";
    /* DuckDB appends a stack trace to INTERNAL errors: library paths are not the client's. */
    char cut[2048];
    const char *trace = strstr(msg, "\n\nStack Trace");
    if (trace) {
        snprintf(cut, sizeof(cut), "%.*s", (int)(trace - msg), msg);
        msg = cut;
    }
    if (type == DUCKDB_ERROR_PERMISSION || strncmp(msg, "Permission Error", 16) == 0)
        dlb_err_set(err, 403, "query_not_allowed", "%s", msg);
    else if (type == DUCKDB_ERROR_INTERRUPT)
        dlb_err_set(err, 504, "query_timeout", "%s", msg);
    else if (type == DUCKDB_ERROR_OUT_OF_MEMORY || strncmp(msg, "Out of Memory Error", 19) == 0)
        dlb_err_set(err, 503, "query_out_of_memory", "%s", msg);
    else if (type == DUCKDB_ERROR_INTERNAL || type == DUCKDB_ERROR_FATAL)
        dlb_err_set(err, 500, "query_internal_error", "%s", msg);
    else
        dlb_err_set(err, 400, "invalid_query", "%s", msg);
}

int query_prepare(duckdb_connection con, const char *sql, duckdb_prepared_statement *out,
                  dlb_err *err)
{
    *out = NULL;
    if (!con) {
        dlb_err_set(err, 503, "engine_unavailable", "the query engine is not available");
        return -1;
    }
    duckdb_extracted_statements ex = NULL;
    idx_t n = duckdb_extract_statements(con, sql ? sql : "", &ex);
    int rc = -1;
    char kw[24];
    if (n == 0) {
        const char *m = ex ? duckdb_extract_statements_error(ex) : NULL;
        if (m)
            dlb_err_set(err, 400, "invalid_query", "%s", m);
        else
            dlb_err_set(err, 400, "invalid_query", "the query is empty");
        goto done;
    }
    if (n > 1) {
        dlb_err_set(err, 403, "query_not_allowed",
                    "exactly one statement is allowed, the query has %llu", (unsigned long long)n);
        goto done;
    }
    /* The first keyword decides before DuckDB binds anything: a PRAGMA that DuckDB rewrites
     * into a SELECT (PRAGMA version) or a statement whose binding fails (COPY to a forbidden
     * file) is refused for what it is. The prepared statement's type is checked as well. */
    first_keyword(sql, kw, sizeof(kw));
    if (!select_keyword(kw)) {
        dlb_err_set(err, 403, "query_not_allowed", "only SELECT statements are allowed, not %s",
                    kw[0] ? kw : "this statement");
        goto done;
    }
    if (duckdb_prepare_extracted_statement(con, ex, 0, out) == DuckDBError) {
        const char *m = duckdb_prepare_error(*out);
        query_map_error(DUCKDB_ERROR_INVALID, m ? m : "cannot prepare the query", err);
        duckdb_destroy_prepare(out);
        goto done;
    }
    duckdb_statement_type t = duckdb_prepared_statement_type(*out);
    if (t != DUCKDB_STATEMENT_TYPE_SELECT) {
        dlb_err_set(err, 403, "query_not_allowed", "only SELECT statements are allowed, not %s",
                    stmt_type_name(t));
        duckdb_destroy_prepare(out);
        goto done;
    }
    if (duckdb_nparams(*out) > 0) {
        dlb_err_set(err, 400, "invalid_query", "query parameters ($1, ?) are not supported");
        duckdb_destroy_prepare(out);
        goto done;
    }
    rc = 0;
done:
    duckdb_destroy_extracted(&ex);
    return rc;
}

int query_columns_get(duckdb_result *res, query_columns *cols, dlb_err *err)
{
    cols->n = (size_t)duckdb_column_count(res);
    cols->names = calloc(cols->n ? cols->n : 1, sizeof(char *));
    cols->types = calloc(cols->n ? cols->n : 1, sizeof(duckdb_logical_type));
    if (!cols->names || !cols->types) {
        dlb_err_set(err, 500, "out_of_memory", "out of memory");
        return -1;
    }
    for (size_t k = 0; k < cols->n; k++) {
        cols->names[k] = duckdb_column_name(res, k);
        cols->types[k] = duckdb_column_logical_type(res, k);
    }
    return 0;
}

void query_columns_free(query_columns *cols)
{
    for (size_t k = 0; cols->types && k < cols->n; k++)
        duckdb_destroy_logical_type(&cols->types[k]);
    free(cols->types);
    free(cols->names);
    memset(cols, 0, sizeof(*cols));
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int result_failed(duckdb_result *res, dlb_err *err)
{
    query_map_error(duckdb_result_error_type(res), duckdb_result_error(res), err);
    return -1;
}

static int run_text(duckdb_connection con, duckdb_prepared_statement st, query_format fmt,
                    const query_limits *lim, query_sink sink, void *sink_ctx, query_outcome *out,
                    dlb_err *err)
{
    duckdb_result res;
    if (duckdb_execute_prepared_streaming(st, &res) == DuckDBError) {
        result_failed(&res, err);
        duckdb_destroy_result(&res);
        return -1;
    }
    int rc = -1;
    query_columns cols = {0};
    encoder_t *enc = NULL;
    if (query_columns_get(&res, &cols, err)) goto done;
    encode_format ef = fmt == QF_CSV ? ENC_CSV : fmt == QF_NDJSON ? ENC_NDJSON : ENC_JSON;
    enc = encoder_new(ef, cols.n, cols.names, cols.types, lim ? lim->chunk_bytes : 0, sink,
                      sink_ctx, err);
    if (!enc) goto done;
    query_cap cap = {.max = lim ? lim->max_rows : 0};
    while (!cap.done) {
        duckdb_data_chunk ch = duckdb_fetch_chunk(res);
        if (!ch) {
            if (duckdb_result_error(&res)) goto failed;
            break;
        }
        int64_t n = query_cap_take(&cap, (int64_t)duckdb_data_chunk_get_size(ch));
        int erc = n > 0 ? encoder_chunk(enc, ch, (size_t)n) : 0;
        duckdb_destroy_data_chunk(&ch);
        if (erc) goto enc_failed;
        out->rows = cap.rows;
        out->truncated = cap.truncated;
    }
    if (encoder_end(enc)) goto enc_failed;
    rc = 0;
    goto done;
enc_failed:
    if (encoder_sink_failed(enc)) {
        out->client_gone = 1;
        duckdb_interrupt(con);
    } else {
        dlb_err_set(err, 500, "out_of_memory", "out of memory while encoding the result");
    }
    goto done;
failed:
    result_failed(&res, err);
done:
    if (enc) {
        out->started = encoder_started(enc);
        out->bytes = encoder_bytes(enc);
    }
    encoder_free(enc);
    query_columns_free(&cols);
    duckdb_destroy_result(&res);
    return rc;
}

static long retries;

long query_retry_count(void)
{
    return __atomic_load_n(&retries, __ATOMIC_RELAXED);
}

static int run_once(duckdb_connection con, duckdb_prepared_statement st, query_format fmt,
                    const query_limits *lim, query_sink sink, void *sink_ctx, query_outcome *out,
                    dlb_err *err)
{
    memset(out, 0, sizeof(*out));
    if (err) *err = (dlb_err){0};
    return fmt == QF_PARQUET ? query_run_parquet(con, st, lim, sink, sink_ctx, out, err)
           : fmt == QF_ARROW ? query_run_arrow(con, st, lim, sink, sink_ctx, out, err)
                             : run_text(con, st, fmt, lim, sink, sink_ctx, out, err);
}

/* An interruption that neither the deadline (wd, when armed) nor a departed client caused. */
static int unrequested_interrupt(qwd_entry *wd, const query_outcome *out, const dlb_err *err)
{
    return err && strcmp(err->code, "query_timeout") == 0 && !out->client_gone &&
           !(wd && qwd_fired(wd));
}

int query_run(duckdb_connection con, duckdb_prepared_statement st, query_format fmt,
              const query_limits *lim, query_sink sink, void *sink_ctx, query_outcome *out,
              dlb_err *err)
{
    memset(out, 0, sizeof(*out));
    double t0 = now_s();
    qwd_entry wd;
    int armed = lim && lim->timeout_s > 0 && qwd_arm(&wd, con, lim->timeout_s) == 0;
    int rc = run_once(con, st, fmt, lim, sink, sink_ctx, out, err);
    /* An error on one of DuckDB's worker threads interrupts the query, and the thread that
     * fetches may see that interruption before the error itself (SimpleBufferedData checks
     * the interrupt first): the real error is then lost. A read-only query is run once more
     * when nothing was sent yet, which in practice surfaces the error. */
    if (rc && unrequested_interrupt(armed ? &wd : NULL, out, err) && !out->started) {
        __atomic_add_fetch(&retries, 1, __ATOMIC_RELAXED);
        rc = run_once(con, st, fmt, lim, sink, sink_ctx, out, err);
    }
    int fired = armed ? qwd_disarm(&wd) : 0;
    if (fired && rc && !out->client_gone)
        dlb_err_set(err, 504, "query_timeout", "the query ran longer than %g s and was stopped",
                    lim->timeout_s);
    else if (rc && unrequested_interrupt(NULL, out, err))
        dlb_err_set(err, 500, "query_internal_error",
                    "the query failed on a worker thread and DuckDB reported only an "
                    "interruption; run it again");
    out->seconds = now_s() - t0;
    return rc;
}
