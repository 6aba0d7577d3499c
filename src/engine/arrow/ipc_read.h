/* Arrow IPC reader: the stream format (Schema message, DictionaryBatch and RecordBatch
 * messages, optional end-of-stream marker) and the file format (ARROW1 magic, footer with the
 * dictionary and record batch blocks), to C Data Interface arrays.
 *
 * Nothing is trusted: every message length, flatbuffer (root, vtables, offsets, vectors,
 * strings), field node, buffer offset and length, validity bitmap size, value buffer size,
 * offset array (first >= 0, non-decreasing, last within the data or the child), UTF-8 of utf8
 * values, dictionary index (within the dictionary), nesting depth and field count is checked
 * before the data is handed on. A malformed input gives -1 with a 400 invalid_arrow error
 * saying what is wrong, never a read outside the input.
 *
 * Arrays point into the input where it is 8-byte aligned (zero copy) and into copies where not;
 * they hold a reference on the input (and on their dictionary), so they may outlive the reader
 * and be released from any thread. Dictionary-encoded columns come out as dictionary arrays
 * (ArrowArray.dictionary). Not supported (clear error): compressed bodies, delta dictionaries,
 * dictionaries nested in dictionaries, union, view and run-end encoded types, big-endian
 * data. */
#ifndef DLB_ENGINE_ARROW_IPC_READ_H
#define DLB_ENGINE_ARROW_IPC_READ_H

#include <stddef.h>

#include "engine/arrow/abi.h"
#include "util/err.h"

typedef struct ipc_reader ipc_reader;

/* Maps the file at path (stream or file format, told by the magic). NULL with err (400 for a
 * malformed schema, 500 when the file cannot be read). */
ipc_reader *ipc_reader_open_path(const char *path, dlb_err *err);
/* Reads len bytes at data, which the caller keeps unchanged until the reader is closed and
 * every array it gave is released. */
ipc_reader *ipc_reader_open_mem(const void *data, size_t len, dlb_err *err);
/* The schema (a struct, one child per column), owned by the reader: valid until it is closed;
 * its release only marks it released. */
const struct ArrowSchema *ipc_reader_schema(const ipc_reader *r);
/* The next record batch as a struct array (the caller releases it), or out->release == NULL
 * at the end. 0, or -1 with err. */
int ipc_reader_next(ipc_reader *r, struct ArrowArray *out, dlb_err *err);
/* Back to the first record batch. */
void ipc_reader_rewind(ipc_reader *r);
/* An ArrowArrayStream over the reader (for duckdb_arrow_scan): get_schema hands out the
 * reader's schema (release marks only), get_next reads on, release only marks the stream
 * released. The reader must outlive every use of the stream. */
void ipc_reader_stream(ipc_reader *r, struct ArrowArrayStream *out);
void ipc_reader_close(ipc_reader *r);

#endif
