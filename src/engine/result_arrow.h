/* A streaming DuckDB result as an Arrow C stream, for duckdb_arrow_scan (the Parquet path of
 * query_run, engine/query_parquet.c). Each get_next fetches chunks until a batch holds about
 * RESULT_ARROW_BATCH_ROWS rows and hands them over as one struct array that owns its buffers
 * (DuckDB's scan threads may hold several at once). The row cap is applied as the other formats
 * apply it.
 *
 * Only flat columns whose Arrow round trip gives back the same DuckDB type are accepted (the
 * kinds of engine/encode_arrow.h, without type aliases such as JSON): result_arrow_new returns
 * NULL otherwise and the caller takes another path. tests/unit/test_query.c compares the Parquet
 * written through this stream with the one written without it, type by type. */
#ifndef DLB_ENGINE_RESULT_ARROW_H
#define DLB_ENGINE_RESULT_ARROW_H

#include <duckdb.h>
#include <stdint.h>

#include "engine/arrow/abi.h"
#include "util/err.h"

#define RESULT_ARROW_BATCH_ROWS 122880 /* DuckDB's Parquet ROW_GROUP_SIZE default */

typedef struct result_arrow result_arrow;

/* res: a streaming result nobody has fetched from yet (the caller keeps it and destroys it after
 * result_arrow_free); con: its connection (Arrow options; interrupted when the reader must stop
 * early); max_rows: 0 for no cap. NULL when a column is not accepted or memory ran out. */
result_arrow *result_arrow_new(duckdb_connection con, duckdb_result *res, int64_t max_rows);
/* The stream to give duckdb_arrow_scan; it belongs to r (its release does nothing). */
struct ArrowArrayStream *result_arrow_stream(result_arrow *r);
/* Whether reading has begun (before that, the result is untouched). */
int result_arrow_fetched(result_arrow *r);
/* Whether the reader has read the whole result (up to the cap) without error: from then on no
 * error of the user's query can come, whatever the consumer still does. */
int result_arrow_read_all(result_arrow *r);
/* Stops the reader (after the consumer is done with the stream, or gave up) and waits for it.
 * 0, or -1 with err set when reading failed: the result's error (query_map_error) or a batch
 * that could not be built. */
int result_arrow_finish(result_arrow *r, dlb_err *err);
/* Rows handed over, and whether the cap cut the result; valid after result_arrow_finish. */
int64_t result_arrow_rows(const result_arrow *r);
int result_arrow_truncated(const result_arrow *r);
void result_arrow_free(result_arrow *r);

#endif
