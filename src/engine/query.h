/* User queries: check, negotiate, run and stream. The connection is a sandboxed one
 * (engine_query_conn): no file access outside the lake and the cache, no extensions, locked
 * settings; query_prepare adds the statement rules on top (exactly one SELECT).
 *
 * Errors (dlb_err): 400 invalid_query (parse/bind/run errors, DuckDB's message), 403
 * query_not_allowed (not a single SELECT, or a file outside the lake), 422 unsupported_type (a
 * result column the encoders cannot write), 504 query_timeout, 503 query_out_of_memory, 500
 * for bugs. */
#ifndef DLB_ENGINE_QUERY_H
#define DLB_ENGINE_QUERY_H

#include <duckdb.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* Parses sql on con: exactly one statement, of type SELECT, without parameters. On success
 * *out is a prepared statement the caller destroys (duckdb_destroy_prepare). */
int query_prepare(duckdb_connection con, const char *sql, duckdb_prepared_statement *out,
                  dlb_err *err);

/* ---- formats -------------------------------------------------------------------------------- */

/* QF_ARROW: the Arrow IPC stream format (application/vnd.apache.arrow.stream); flat columns
 * batch several DuckDB chunks (about 128 KiB of values, engine/encode_arrow.h), nested ones
 * one batch per chunk (engine/arrow/ipc_write.h). */
typedef enum { QF_JSON, QF_NDJSON, QF_CSV, QF_PARQUET, QF_ARROW } query_format;
#define QF_COUNT 5

/* Picks a format from an Accept header (q-values honoured, ties go to the earlier entry; NULL or
 * empty means JSON; * / * and application/ * mean JSON, text/ * means CSV). 0, or -1 when nothing
 * offered is acceptable (answer 406 listing query_supported_types()). */
int query_negotiate(const char *accept, query_format *out);
const char *query_content_type(query_format fmt);
/* "application/json, application/x-ndjson, text/csv, application/vnd.apache.parquet,
 * application/vnd.apache.arrow.stream" */
const char *query_supported_types(void);

/* ---- running -------------------------------------------------------------------------------- */

/* Gets encoded bytes; returns 0, or -1 when the client is gone (the query stops). */
typedef int (*query_sink)(void *ctx, const void *data, size_t len);

typedef struct {
    int64_t max_rows;              /* 0: no cap */
    double timeout_s;              /* 0: no deadline; covers execution and streaming */
    const char *tmp_dir;           /* QF_PARQUET: where the file is staged */
    duckdb_connection parquet_con; /* QF_PARQUET: a trusted connection that writes the file */
    size_t chunk_bytes;            /* bytes per sink call, about; 0: 256 KiB */
    /* QF_PARQUET: the text st was prepared from, or NULL. With it (and no max_rows) the
     * sandboxed connection writes the file itself, the text bound as a value to DuckDB's
     * query() table function; tmp_dir must then be engine_export_dir. */
    const char *sql;
} query_limits;

typedef struct {
    int64_t rows;    /* rows written */
    uint64_t bytes;  /* bytes handed to the sink */
    int truncated;   /* max_rows cut the result short */
    int started;     /* the sink was called: an error can no longer become an error response; the
                      * caller ends the stream abruptly instead (no final chunk), so that the
                      * client sees a broken transfer rather than a short result */
    int client_gone; /* the sink returned -1 */
    double seconds;  /* wall time */
} query_outcome;

/* Executes st (from query_prepare, on the same con) and streams the result to sink in fmt:
 * chunk by chunk, never the whole result in memory. The sink is first called only after the
 * first chunk was computed (or the query finished empty), so an error before that is reported
 * with out->started == 0. On a deadline the connection is interrupted (504). When the sink
 * returns -1 the query stops and -1 comes back with out->client_gone set and err untouched.
 * The caller keeps st (it may run it again). */
int query_run(duckdb_connection con, duckdb_prepared_statement st, query_format fmt,
              const query_limits *lim, query_sink sink, void *sink_ctx, query_outcome *out,
              dlb_err *err);

#endif
