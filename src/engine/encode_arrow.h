/* Arrow record batches straight from DuckDB's vectors, for results whose columns are all flat:
 * booleans, integers, floats, decimals, dates, times, timestamps, strings and blobs. The
 * values of up to ARROW_BATCH_ROWS rows are copied from the vectors into one set of buffers per
 * column and handed to the IPC writer as one C Data Interface struct array.
 *
 * Why not DuckDB's duckdb_data_chunk_to_arrow: it converts one 2048-row chunk per call, with
 * allocations and buffer growth per call that cost more than the copy itself, and every chunk
 * then becomes its own record batch (a message to frame, a batch for the client to decode). The
 * layout is the one duckdb_to_arrow_schema announced for the connection's options (checked
 * format string by format string), so both paths give the same bytes for a type. Nested, UUID,
 * INTERVAL, HUGEINT, ENUM, string-view or any other column: arrow_batcher_new returns NULL and
 * the caller converts chunk by chunk with DuckDB.
 *
 * Size: a batch ends once it holds about ARROW_BATCH_BYTES of values (or ARROW_BATCH_ROWS rows):
 * half the HTTP stream's 256 KiB ring, so that one batch is being sent while the next is built.
 * Batches of 64 K rows (~2.5 MB) were measured 27 % slower in wall time on a 10 M-row export
 * than 2048-row ones, with no CPU gain: the worker stalled on the ring, then the sender idled.
 * Narrow rows still gather several chunks a batch. Memory: one batch's buffers, reused. */
#ifndef DLB_ENGINE_ENCODE_ARROW_H
#define DLB_ENGINE_ENCODE_ARROW_H

#include <duckdb.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/arrow/abi.h"
#include "util/err.h"

#define ARROW_BATCH_ROWS  65536
#define ARROW_BATCH_BYTES (128u << 10)

typedef struct arrow_batcher arrow_batcher;

/* schema: the struct duckdb_to_arrow_schema made for the n result columns of the given types.
 * NULL when a column is not flat (or memory ran out): the caller takes the chunk-by-chunk path. */
arrow_batcher *arrow_batcher_new(const struct ArrowSchema *schema, const duckdb_logical_type *types,
                                 size_t n);
/* The same with room for rows + one chunk of rows instead of ARROW_BATCH_ROWS + one chunk (add
 * still answers 1 past ARROW_BATCH_ROWS rows or ARROW_BATCH_BYTES; the caller may go on adding
 * up to rows). */
arrow_batcher *arrow_batcher_new_rows(const struct ArrowSchema *schema,
                                      const duckdb_logical_type *types, size_t n, size_t rows);
/* Appends the first n rows of ch (the caller keeps ch; n <= duckdb_vector_size()). 1 when the
 * batch is full (write it, then arrow_batcher_reset), 0 when more rows fit, -1 with err. */
int arrow_batcher_add(arrow_batcher *b, duckdb_data_chunk ch, size_t n, dlb_err *err);
/* The rows added since the last reset as a struct array (out->length; 0 when none). It points into
 * the batcher: valid until the next add, reset or free; its release does nothing. */
void arrow_batcher_batch(arrow_batcher *b, struct ArrowArray *out);
void arrow_batcher_reset(arrow_batcher *b);
void arrow_batcher_free(arrow_batcher *b);

#endif
