/* Shared by the query paths (query.c, query_arrow.c, query_parquet.c, result_arrow.c). */
#ifndef DLB_ENGINE_QUERY_INTERNAL_H
#define DLB_ENGINE_QUERY_INTERNAL_H

#include "engine/query.h"

/* The row cap (QUERY_MAX_ROWS) over a result read chunk by chunk, the same for every path:
 * query_cap_take gives how many of the next chunk's n rows to keep and counts them. Reaching
 * the cap exactly reads one chunk more, to tell a capped result from one that just fits. */
typedef struct {
    int64_t max;   /* 0: no cap */
    int64_t rows;  /* kept so far */
    int truncated; /* rows beyond the cap exist */
    int done;      /* the cap ended the result: fetch no more */
} query_cap;

static inline int64_t query_cap_take(query_cap *c, int64_t n)
{
    if (c->max > 0 && c->rows >= c->max) {
        c->truncated = n > 0;
        c->done = 1;
        return 0;
    }
    if (c->max > 0 && n > c->max - c->rows) {
        n = c->max - c->rows;
        c->truncated = 1;
        c->done = 1;
    }
    c->rows += n;
    return n;
}

/* Fills err from a failed DuckDB result or message (type may be DUCKDB_ERROR_INVALID). */
void query_map_error(duckdb_error_type type, const char *msg, dlb_err *err);

/* A result's column names (owned by res) and logical types, for the encoders. 0, or -1 with
 * err set; release with query_columns_free whatever the outcome. */
typedef struct {
    size_t n;
    const char **names;
    duckdb_logical_type *types;
} query_columns;
int query_columns_get(duckdb_result *res, query_columns *cols, dlb_err *err);
void query_columns_free(query_columns *cols);

/* The Parquet path of query_run: the result is written by DuckDB on lim->parquet_con into a
 * staged file, which is then streamed to the sink and deleted. */
int query_run_parquet(duckdb_connection con, duckdb_prepared_statement st, const query_limits *lim,
                      query_sink sink, void *sink_ctx, query_outcome *out, dlb_err *err);
/* The best source query_run_parquet may take (tests compare them): 0 the table function only;
 * 1 the Arrow view when the result's types allow it; 2 (default) the sandboxed COPY when the
 * limits allow it. The counts: results written through the Arrow view, the sandboxed COPY. */
void query_parquet_use_source(int best);
long query_parquet_arrow_count(void);
long query_parquet_sandbox_count(void);

/* Queries run a second time by query_run after an interruption nobody asked for (query.c). */
long query_retry_count(void);

/* The Arrow path of query_run: DuckDB chunks through the C Data Interface to Arrow IPC record
 * batches (query_arrow.c). */
int query_run_arrow(duckdb_connection con, duckdb_prepared_statement st, const query_limits *lim,
                    query_sink sink, void *sink_ctx, query_outcome *out, dlb_err *err);

#endif
