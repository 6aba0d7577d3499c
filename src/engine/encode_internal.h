/* Shared between the encoders: the output buffer, the column plan and scalar text helpers. */
#ifndef DLB_ENGINE_ENCODE_INTERNAL_H
#define DLB_ENGINE_ENCODE_INTERNAL_H

#include "engine/encode.h"

#include <stdint.h>
#include <string.h>

/* ---- output buffer -------------------------------------------------------------------------- */

typedef struct {
    char *p;
    size_t len, cap;
} ebuf;

/* Room for n more bytes; 0, or -1 when memory ran out (buffer kept). */
int ebuf_grow(ebuf *b, size_t n);
static inline int ebuf_reserve(ebuf *b, size_t n)
{
    return b->len + n <= b->cap ? 0 : ebuf_grow(b, n);
}
static inline int ebuf_put(ebuf *b, const void *s, size_t n)
{
    if (ebuf_reserve(b, n)) return -1;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    return 0;
}
static inline int ebuf_putc(ebuf *b, char c)
{
    if (ebuf_reserve(b, 1)) return -1;
    b->p[b->len++] = c;
    return 0;
}
#define EBUF_LIT(b, s) ebuf_put((b), (s), sizeof(s) - 1)

/* ---- column plan ---------------------------------------------------------------------------- */

typedef struct ecol ecol;
struct ecol {
    duckdb_type t;    /* logical type id */
    duckdb_type phys; /* storage of DECIMAL and ENUM */
    uint8_t scale;    /* DECIMAL */
    int is_json;      /* VARCHAR with alias JSON */
    int string_keys;  /* MAP with VARCHAR keys */
    size_t array_size;
    /* ENUM dictionary: the value as a JSON string literal and as its raw text. */
    uint32_t ndict;
    char **dict_json, **dict_raw;
    size_t *dict_json_len, *dict_raw_len;
    /* STRUCT, UNION (members), LIST/ARRAY/MAP (one child). */
    size_t nchild;
    ecol *child;
    char **key_json; /* STRUCT/UNION member names as "name": */
    size_t *key_json_len;
    /* Bound per chunk. */
    const void *data;
    const uint64_t *valid;
    const uint8_t *tags; /* UNION */
};

/* Builds col for type; 0, -1 with err (unsupported type names path, or out of memory). */
int ecol_build(ecol *col, duckdb_logical_type type, const char *path, dlb_err *err);
void ecol_free(ecol *col);
/* Points col (and its children) at vector's data. */
void ecol_bind(ecol *col, duckdb_vector vec);

static inline int ecol_valid(const ecol *c, size_t i)
{
    return !c->valid || ((c->valid[i >> 6] >> (i & 63)) & 1);
}

static inline const char *dstr_ptr(const duckdb_string_t *s, uint32_t *len)
{
    *len = s->value.inlined.length;
    return *len <= 12 ? s->value.inlined.inlined : s->value.pointer.ptr;
}

/* ---- scalar text (dst has room for ENC_SCALAR_MAX bytes; the length is returned) ------------ */

#define ENC_SCALAR_MAX 96

size_t fmt_u64(char *dst, uint64_t v);
size_t fmt_i64(char *dst, int64_t v);
size_t fmt_u128(char *dst, unsigned __int128 v);
size_t fmt_i128(char *dst, __int128 v);
size_t fmt_decimal(char *dst, __int128 v, unsigned scale);
/* NaN and infinities write nothing and set *special (1 +inf, 2 -inf, 3 nan), else 0. */
size_t fmt_double(char *dst, double v, int *special);
size_t fmt_float(char *dst, float v, int *special);
size_t fmt_date(char *dst, int32_t days);
size_t fmt_time_us(char *dst, int64_t micros);
size_t fmt_time_ns(char *dst, int64_t nanos);
size_t fmt_time_tz(char *dst, uint64_t bits);
/* unit: 0 seconds, 3 millis, 6 micros, 9 nanos. utc appends "+00:00". */
size_t fmt_timestamp(char *dst, int64_t v, int unit, int utc);
size_t fmt_interval(char *dst, duckdb_interval iv);
size_t fmt_uuid(char *dst, duckdb_hugeint h);

/* Variable-length encodings into b. */
int enc_base64(ebuf *b, const uint8_t *s, size_t n);
int enc_blob_text(ebuf *b, const uint8_t *s, size_t n); /* DuckDB's \xNN form */
int enc_bits(ebuf *b, const uint8_t *s, size_t n);      /* BIT storage to 0/1 text */
int enc_json_string(ebuf *b, const char *s, size_t n);  /* "..." with JSON escapes */

/* A scalar value at row i: its JSON form (json=1) or its raw text (json=0, for CSV: strings
 * unquoted, NaN/Inf as nan/inf, blobs in DuckDB's escaped form). Nested types are not scalars. */
int enc_scalar(ebuf *b, const ecol *c, size_t i, int json);

/* JSON text of the value at row i of col (used by the JSON encoders and for nested CSV
 * fields). */
int enc_json_value(ebuf *b, const ecol *col, size_t i);

#endif
