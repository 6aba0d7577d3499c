/* Result encoders: DuckDB data chunks to JSON ({"result":[{...},...]}), NDJSON (one object per
 * line) or CSV (header row, RFC 4180 quoting), written straight from the vectors.
 *
 * Value rendering (the same in JSON and NDJSON; CSV notes in brackets):
 * - integers of every width, HUGEINT/UHUGEINT and DECIMAL: JSON numbers with exact text
 *   (DECIMAL keeps its scale: 1.50); clients that parse numbers as doubles lose digits past 2^53.
 * - FLOAT/DOUBLE: shortest text that reads back to the same value; NaN and +-Inf are null
 *   [CSV: nan, inf, -inf as DuckDB prints them].
 * - VARCHAR, ENUM: strings. JSON (the type): embedded as raw JSON [CSV: its text].
 * - BLOB: base64 string [CSV: DuckDB's own text, printable ASCII kept and every other byte, plus
 *   \ ' ", as \xNN, so read_csv with a BLOB column reads it back].
 * - DATE 2024-01-31, TIME 12:00:00.5, TIMESTAMP 2024-01-31T12:00:00.123456 (ISO 8601, 'T',
 *   fraction without trailing zeros, up to 9 digits for TIMESTAMP_NS), TIMESTAMPTZ in UTC with
 *   "+00:00", TIMETZ with its offset. Years are astronomical (1 BC is 0000, 44 BC is -0043);
 *   years past 9999 carry a '+'. Infinite dates and timestamps are "infinity" / "-infinity".
 * - INTERVAL: ISO 8601 duration, P1Y2M3DT4H5M6.5S, zero PT0S; a negative part carries its own
 *   sign (P-1M, PT-1H-30M), as PostgreSQL's iso_8601 style does.
 * - UUID: canonical lower-case 8-4-4-4-12.
 * - BIT: string of 0 and 1. UNION: the value of its active member.
 * - LIST/ARRAY: arrays; STRUCT: objects; MAP: an object when the keys are VARCHAR, else an array
 *   of {"key":..,"value":..} [CSV: nested values are written as their JSON text, quoted].
 * - NULL: null [CSV: empty field; an empty string is written as ""].
 * Types without an encoding (BIGNUM and anything newer) are refused up front (422
 * unsupported_type naming the column), never guessed: the user can CAST them in the query. */
#ifndef DLB_ENGINE_ENCODE_H
#define DLB_ENGINE_ENCODE_H

#include <duckdb.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef enum { ENC_JSON, ENC_NDJSON, ENC_CSV } encode_format;

/* Receives encoded bytes; returns 0, or -1 when the consumer is gone (encoding stops). */
typedef int (*encode_sink)(void *ctx, const void *data, size_t len);

typedef struct encoder encoder_t;

/* An encoder for ncols columns with these names and types (copied: the caller keeps its own).
 * Bytes go to sink in pieces of about flush_bytes (0: 256 KiB); the first call to the sink
 * happens in the first encoder_chunk or in encoder_end, never before. NULL with err filled when
 * a column's type cannot be encoded (422 unsupported_type) or memory ran out (500). Free with
 * encoder_free. */
encoder_t *encoder_new(encode_format fmt, size_t ncols, const char *const *names,
                       duckdb_logical_type const *types, size_t flush_bytes, encode_sink sink,
                       void *sink_ctx, dlb_err *err);
/* Encodes the first nrows rows of chunk (nrows <= its size). 0, or -1 when the sink refused
 * (encoder_sink_failed) or memory ran out. */
int encoder_chunk(encoder_t *enc, duckdb_data_chunk chunk, size_t nrows);
/* Writes the closing bytes (and the opening ones when no row came) and flushes. 0 or -1. */
int encoder_end(encoder_t *enc);
/* 1 once the sink has been called at least once. */
int encoder_started(const encoder_t *enc);
/* 1 when the last failure came from the sink (client gone), 0 when from memory. */
int encoder_sink_failed(const encoder_t *enc);
/* Bytes handed to the sink so far. */
uint64_t encoder_bytes(const encoder_t *enc);
void encoder_free(encoder_t *enc);

#endif
