/* Arrow IPC writer: a schema (C Data Interface) and record batches (struct arrays: a DuckDB
 * chunk, or many gathered by encode_arrow.c) to the IPC stream format (Schema message, RecordBatch
 * messages, end-of-stream marker) or the file format (ARROW1 magic, the same messages, a footer
 * with the batch blocks). Messages are framed with the continuation marker and a length; every body
 * buffer is padded to 8 bytes. Only the current batch is ever held: memory stays flat.
 *
 * Types: null, bool, int8..64, uint8..64, float16/32/64, decimal128, utf8/binary and their
 * large variants, fixed-size binary, date32/64, time32/64, timestamp (unit, time zone),
 * duration, interval, list/large list, fixed-size list, struct, map. A field whose metadata
 * names the extension arrow.uuid is written as fixed-size binary(16); when its data comes as
 * canonical UUID text (utf8, as DuckDB exports UUIDs by default) the text is converted. Union,
 * view and dictionary-encoded types are refused by ipc_writer_new (422 unsupported_type). */
#ifndef DLB_ENGINE_ARROW_IPC_WRITE_H
#define DLB_ENGINE_ARROW_IPC_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/arrow/abi.h"
#include "util/err.h"

/* Receives bytes; 0, or -1 when the consumer is gone. */
typedef int (*ipc_sink)(void *ctx, const void *data, size_t len);

typedef struct ipc_writer ipc_writer;

/* schema must be a struct ("+s") whose children are the columns; it is only read here. The
 * Schema message is held until the first flush; bytes go to sink in pieces of about
 * flush_bytes (0: 256 KiB). file_format: 1 for the file format. NULL with err filled. */
ipc_writer *ipc_writer_new(const struct ArrowSchema *schema, int file_format, size_t flush_bytes,
                           ipc_sink sink, void *sink_ctx, dlb_err *err);
/* Writes one record batch from a struct array laid out as the schema said. 0, or -1 (err; see
 * ipc_writer_sink_failed). */
int ipc_writer_batch(ipc_writer *w, const struct ArrowArray *batch, dlb_err *err);
/* End-of-stream marker (and the footer for the file format), then flushes. 0 or -1. */
int ipc_writer_end(ipc_writer *w, dlb_err *err);
int ipc_writer_started(const ipc_writer *w);     /* the sink was called */
int ipc_writer_sink_failed(const ipc_writer *w); /* the last failure came from the sink */
uint64_t ipc_writer_bytes(const ipc_writer *w);  /* bytes handed to the sink */
void ipc_writer_free(ipc_writer *w);

#endif
