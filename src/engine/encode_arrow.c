/* DuckDB chunks of flat columns to large Arrow record batches (see encode_arrow.h). */
#include "engine/encode_arrow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { K_FIXED, K_BOOL, K_DEC, K_STR32, K_STR64 };

typedef struct {
    int kind;
    int width; /* K_FIXED: bytes a value, DuckDB's and Arrow's alike; K_DEC: DuckDB's storage */
    uint64_t *valid; /* the batch's validity bits, cap + 2 words' worth */
    int64_t nulls;
    uint8_t *data; /* K_FIXED, K_DEC (16 bytes a value), K_BOOL (bits, as valid) */
    void *offsets; /* K_STR32 (int32), K_STR64 (int64): cap + 1 entries */
    char *chars;
    size_t chars_len, chars_cap;
    const void *bufs[3];
    struct ArrowArray arr;
} acol;

struct arrow_batcher {
    size_t ncols, rows,
        cap; /* cap: rows a batch can hold (ARROW_BATCH_ROWS or the rows asked for, + one chunk) */
    size_t row_bytes; /* fixed bytes a row: the part of the size that is not string data */
    acol *col;
    struct ArrowArray root;
    struct ArrowArray **children;
    const void *root_bufs[1];
};

static void no_release(struct ArrowArray *a)
{
    a->release = NULL;
}

/* The kind of column for DuckDB type t exported with Arrow format f; -1 when not flat. */
static int kind_of(duckdb_logical_type t, const char *f, int *width)
{
    static const struct {
        duckdb_type id;
        const char *format;
        int width;
    } fixed[] = {
        {DUCKDB_TYPE_TINYINT, "c", 1},         {DUCKDB_TYPE_UTINYINT, "C", 1},
        {DUCKDB_TYPE_SMALLINT, "s", 2},        {DUCKDB_TYPE_USMALLINT, "S", 2},
        {DUCKDB_TYPE_INTEGER, "i", 4},         {DUCKDB_TYPE_UINTEGER, "I", 4},
        {DUCKDB_TYPE_BIGINT, "l", 8},          {DUCKDB_TYPE_UBIGINT, "L", 8},
        {DUCKDB_TYPE_FLOAT, "f", 4},           {DUCKDB_TYPE_DOUBLE, "g", 8},
        {DUCKDB_TYPE_DATE, "tdD", 4},          {DUCKDB_TYPE_TIME, "ttu", 8},
        {DUCKDB_TYPE_TIMESTAMP, "tsu:", 8},    {DUCKDB_TYPE_TIMESTAMP_S, "tss:", 8},
        {DUCKDB_TYPE_TIMESTAMP_MS, "tsm:", 8}, {DUCKDB_TYPE_TIMESTAMP_NS, "tsn:", 8},
    };
    duckdb_type id = duckdb_get_type_id(t);
    for (size_t k = 0; k < sizeof(fixed) / sizeof(fixed[0]); k++)
        if (id == fixed[k].id) {
            *width = fixed[k].width;
            return strcmp(f, fixed[k].format) == 0 ? K_FIXED : -1;
        }
    switch (id) {
    case DUCKDB_TYPE_BOOLEAN:
        return strcmp(f, "b") == 0 ? K_BOOL : -1;
    case DUCKDB_TYPE_TIMESTAMP_TZ: /* "tsu:" and the zone name */
        *width = 8;
        return strncmp(f, "tsu:", 4) == 0 ? K_FIXED : -1;
    case DUCKDB_TYPE_VARCHAR:
    case DUCKDB_TYPE_BLOB: {
        char small = id == DUCKDB_TYPE_VARCHAR ? 'u' : 'z',
             large = id == DUCKDB_TYPE_VARCHAR ? 'U' : 'Z';
        if (f[0] && !f[1]) return f[0] == small ? K_STR32 : f[0] == large ? K_STR64 : -1;
        return -1;
    }
    case DUCKDB_TYPE_DECIMAL: {
        int p, s, bw = 128;
        if (f[0] != 'd' || f[1] != ':' || sscanf(f + 2, "%d,%d,%d", &p, &s, &bw) < 2 || bw != 128)
            return -1;
        switch (duckdb_decimal_internal_type(t)) {
        case DUCKDB_TYPE_SMALLINT:
            *width = 2;
            return K_DEC;
        case DUCKDB_TYPE_INTEGER:
            *width = 4;
            return K_DEC;
        case DUCKDB_TYPE_BIGINT:
            *width = 8;
            return K_DEC;
        case DUCKDB_TYPE_HUGEINT:
            *width = 16;
            return K_DEC;
        default:
            return -1;
        }
    }
    default:
        return -1;
    }
}

static void col_free(acol *c)
{
    free(c->valid);
    free(c->data);
    free(c->offsets);
    free(c->chars);
}

void arrow_batcher_free(arrow_batcher *b)
{
    if (!b) return;
    for (size_t k = 0; b->col && k < b->ncols; k++)
        col_free(&b->col[k]);
    free(b->col);
    free(b->children);
    free(b);
}

static size_t bit_words(size_t cap)
{
    return cap / 64 + 2; /* a shifted copy may touch the word after the last bit */
}

arrow_batcher *arrow_batcher_new(const struct ArrowSchema *schema, const duckdb_logical_type *types,
                                 size_t n)
{
    return arrow_batcher_new_rows(schema, types, n, ARROW_BATCH_ROWS);
}

arrow_batcher *arrow_batcher_new_rows(const struct ArrowSchema *schema,
                                      const duckdb_logical_type *types, size_t n, size_t rows)
{
    if (!schema || (size_t)schema->n_children != n || n == 0) return NULL;
    arrow_batcher *b = calloc(1, sizeof(*b));
    if (!b) return NULL;
    b->ncols = n;
    b->cap = rows + (size_t)duckdb_vector_size();
    b->col = calloc(n, sizeof(acol));
    b->children = calloc(n, sizeof(*b->children));
    if (!b->col || !b->children) goto fail;
    for (size_t k = 0; k < n; k++) {
        const struct ArrowSchema *s = schema->children[k];
        b->col[k].kind =
            s->dictionary ? -1 : kind_of(types[k], s->format ? s->format : "", &b->col[k].width);
        if (b->col[k].kind < 0) goto fail;
    }
    size_t words = bit_words(b->cap);
    for (size_t k = 0; k < n; k++) {
        acol *c = &b->col[k];
        if (!(c->valid = malloc(words * 8))) goto fail;
        switch (c->kind) {
        case K_FIXED:
            c->data = malloc(b->cap * (size_t)c->width);
            b->row_bytes += (size_t)c->width;
            break;
        case K_DEC:
            c->data = malloc(b->cap * 16);
            b->row_bytes += 16;
            break;
        case K_BOOL:
            c->data = malloc(words * 8);
            break;
        default:
            c->offsets = malloc((b->cap + 1) * (c->kind == K_STR32 ? 4 : 8));
            b->row_bytes += c->kind == K_STR32 ? 4 : 8;
            break;
        }
        if (!c->data && !c->offsets) goto fail;
        b->children[k] = &c->arr;
    }
    arrow_batcher_reset(b);
    return b;
fail:
    arrow_batcher_free(b);
    return NULL;
}

void arrow_batcher_reset(arrow_batcher *b)
{
    size_t words = bit_words(b->cap);
    for (size_t k = 0; k < b->ncols; k++) {
        acol *c = &b->col[k];
        memset(c->valid, 0, words * 8);
        if (c->kind == K_BOOL) memset(c->data, 0, words * 8);
        c->nulls = 0;
        c->chars_len = 0;
        if (c->kind == K_STR32) ((int32_t *)c->offsets)[0] = 0;
        if (c->kind == K_STR64) ((int64_t *)c->offsets)[0] = 0;
    }
    b->rows = 0;
}

/* ---- bits ------------------------------------------------------------------------------------ */

/* Sets bits [at, at + n) of dst. */
static void bits_ones(uint64_t *dst, size_t at, size_t n)
{
    while (n) {
        size_t s = at % 64, m = 64 - s < n ? 64 - s : n;
        dst[at / 64] |= (m == 64 ? ~0ull : ((1ull << m) - 1)) << s;
        at += m;
        n -= m;
    }
}

/* ORs the first n bits of src into dst at bit position at. dst has a word past the last bit. */
static void bits_put(uint64_t *dst, size_t at, const uint64_t *src, size_t n)
{
    uint64_t *d = dst + at / 64;
    size_t s = at % 64;
    for (size_t k = 0; k * 64 < n; k++) {
        uint64_t w = src[k];
        if (n - k * 64 < 64) w &= (1ull << (n - k * 64)) - 1;
        d[k] |= w << s;
        if (s) d[k + 1] |= w >> (64 - s);
    }
}

static int64_t bits_count(const uint64_t *src, size_t n)
{
    int64_t c = 0;
    for (size_t k = 0; k * 64 < n; k++) {
        uint64_t w = src[k];
        if (n - k * 64 < 64) w &= (1ull << (n - k * 64)) - 1;
        c += __builtin_popcountll(w);
    }
    return c;
}

static inline int is_valid(const uint64_t *m, size_t i)
{
    return !m || ((m[i >> 6] >> (i & 63)) & 1);
}

/* ---- columns --------------------------------------------------------------------------------- */

static void add_decimals(acol *c, size_t at, const void *src, size_t n)
{
    uint8_t *d = c->data + at * 16;
    if (c->width == 16) { /* duckdb_hugeint {lower, upper}: the little-endian 128-bit integer */
        memcpy(d, src, n * 16);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        int64_t v = c->width == 2   ? ((const int16_t *)src)[i]
                    : c->width == 4 ? ((const int32_t *)src)[i]
                                    : ((const int64_t *)src)[i];
        int64_t hi = v < 0 ? -1 : 0;
        memcpy(d + i * 16, &v, 8);
        memcpy(d + i * 16 + 8, &hi, 8);
    }
}

static void add_bools(acol *c, size_t at, const uint8_t *src, size_t n)
{
    uint64_t *bits = (uint64_t *)c->data;
    for (size_t i = 0; i < n; i++)
        bits[(at + i) >> 6] |= (uint64_t)(src[i] != 0) << ((at + i) & 63);
}

static int add_strings(acol *c, size_t at, const duckdb_string_t *src, const uint64_t *m, size_t n,
                       dlb_err *err)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        if (is_valid(m, i)) total += src[i].value.inlined.length;
    size_t need = c->chars_len + total;
    if (c->kind == K_STR32 && need > INT32_MAX) {
        dlb_err_set(err, 422, "unsupported_type",
                    "the strings of one result chunk exceed 2 GiB, too much for an Arrow batch");
        return -1;
    }
    if (need > c->chars_cap) {
        size_t cap = c->chars_cap ? c->chars_cap : 64 * 1024;
        while (cap < need)
            cap *= 2;
        char *p = realloc(c->chars, cap);
        if (!p) {
            dlb_err_set(err, 500, "out_of_memory", "out of memory while encoding");
            return -1;
        }
        c->chars = p;
        c->chars_cap = cap;
    }
    size_t pos = c->chars_len;
    for (size_t i = 0; i < n; i++) {
        if (is_valid(m, i)) {
            uint32_t len = src[i].value.inlined.length;
            const char *s = len <= 12 ? src[i].value.inlined.inlined : src[i].value.pointer.ptr;
            memcpy(c->chars + pos, s, len);
            pos += len;
        }
        if (c->kind == K_STR32)
            ((int32_t *)c->offsets)[at + i + 1] = (int32_t)pos;
        else
            ((int64_t *)c->offsets)[at + i + 1] = (int64_t)pos;
    }
    c->chars_len = pos;
    return 0;
}

int arrow_batcher_add(arrow_batcher *b, duckdb_data_chunk ch, size_t n, dlb_err *err)
{
    if (n > b->cap - b->rows || (size_t)duckdb_data_chunk_get_column_count(ch) != b->ncols) {
        dlb_err_set(err, 500, "internal_error", "a result chunk does not fit the Arrow batch");
        return -1;
    }
    size_t at = b->rows, chars = 0;
    for (size_t k = 0; k < b->ncols; k++) {
        acol *c = &b->col[k];
        duckdb_vector v = duckdb_data_chunk_get_vector(ch, k);
        const void *src = duckdb_vector_get_data(v);
        const uint64_t *m = duckdb_vector_get_validity(v);
        if (m) {
            c->nulls += (int64_t)n - bits_count(m, n);
            bits_put(c->valid, at, m, n);
        } else {
            bits_ones(c->valid, at, n);
        }
        switch (c->kind) {
        case K_FIXED:
            memcpy(c->data + at * (size_t)c->width, src, n * (size_t)c->width);
            break;
        case K_DEC:
            add_decimals(c, at, src, n);
            break;
        case K_BOOL:
            add_bools(c, at, src, n);
            break;
        default:
            if (add_strings(c, at, src, m, n, err)) return -1;
            chars += c->chars_len;
            break;
        }
    }
    b->rows += n;
    return b->rows >= ARROW_BATCH_ROWS || b->rows * b->row_bytes + chars >= ARROW_BATCH_BYTES;
}

void arrow_batcher_batch(arrow_batcher *b, struct ArrowArray *out)
{
    for (size_t k = 0; k < b->ncols; k++) {
        acol *c = &b->col[k];
        c->bufs[0] = c->nulls ? c->valid : NULL;
        c->bufs[1] = c->kind == K_STR32 || c->kind == K_STR64 ? c->offsets : c->data;
        c->bufs[2] = c->chars;
        c->arr = (struct ArrowArray){
            .length = (int64_t)b->rows,
            .null_count = c->nulls,
            .n_buffers = c->kind == K_STR32 || c->kind == K_STR64 ? 3 : 2,
            .buffers = c->bufs,
            .release = no_release,
        };
    }
    b->root_bufs[0] = NULL;
    *out = (struct ArrowArray){
        .length = (int64_t)b->rows,
        .n_buffers = 1,
        .n_children = (int64_t)b->ncols,
        .buffers = b->root_bufs,
        .children = b->children,
        .release = no_release,
    };
}
