/* Turns an uploaded body (a spooled file) into a DuckDB table expression with one column per
 * table column, for lake_append. DuckDB parses the input (design §9: several times faster than
 * parsing rows in C, and it streams). */
#ifndef DLB_ENGINE_INGEST_H
#define DLB_ENGINE_INGEST_H

#include <duckdb.h>

#include "util/err.h"

typedef enum {
    INGEST_JSON,   /* {"rows": [...]} or [...] */
    INGEST_NDJSON, /* one object per line */
    INGEST_CSV,    /* header row */
    INGEST_PARQUET,
    INGEST_ARROW, /* Arrow IPC stream or file (engine/arrow/ipc_read.h) */
} ingest_format;

/* From a Content-Type (parameters ignored) or, when that is generic or absent, a file name's
 * extension. -1 when neither names a supported format (the caller answers 415). */
int ingest_format_pick(const char *content_type, const char *filename, ingest_format *out);
/* "application/json, application/x-ndjson, text/csv, application/vnd.apache.parquet,
 * application/vnd.apache.arrow.stream, application/vnd.apache.arrow.file" */
const char *ingest_supported(void);

/* Builds, in *sql_out (malloc'd), a parenthesised SELECT over the file at path whose columns are
 * the table's (names[i], typed so that lake_append can cast them to types[i] and report the first
 * row that does not fit). Input columns the table does not have give 422 naming them; table columns
 * the input lacks read as NULL. JSON input is rewritten as NDJSON into scratch_path first (the
 * caller removes it). *rows_hint gets the row count when it is known cheaply (JSON), else -1. */
int ingest_source(duckdb_connection con, ingest_format fmt, const char *path,
                  const char *scratch_path, const char *const *names, const char *const *types,
                  int ncols, char **sql_out, long long *rows_hint, dlb_err *err);

/* INGEST_ARROW: the input is checked whole first (a malformed stream gives 400 invalid_arrow
 * before DuckDB sees it), then registered on con as a view over an ArrowArrayStream that reads
 * the mapped file; *sql_out selects from that view, so lake_append must run on the same con.
 * The view, the reader and the mapping live until ingest_release(con), or until the next
 * ingest_source on con, whichever comes first. Other formats hold nothing. */
void ingest_release(duckdb_connection con);

#endif
