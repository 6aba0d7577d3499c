/* The encoder object: a column plan, an output buffer flushed to the sink in pieces, and the
 * row loops of JSON, NDJSON and CSV. */
#include "engine/encode_internal.h"

#include <stdlib.h>

#define FLUSH_DEFAULT (256u * 1024u)

struct encoder {
    encode_format fmt;
    size_t ncols;
    ecol *cols;
    char **key_json; /* "name": per column */
    size_t *key_len;
    ebuf out;
    ebuf scratch; /* CSV: a nested value's JSON before quoting */
    size_t flush_bytes;
    encode_sink sink;
    void *sink_ctx;
    int started, opened, sink_failed;
    uint64_t rows, bytes;
};

static int flush(encoder_t *enc)
{
    if (!enc->out.len) return 0;
    enc->started = 1;
    if (enc->sink(enc->sink_ctx, enc->out.p, enc->out.len) < 0) {
        enc->sink_failed = 1;
        return -1;
    }
    enc->bytes += enc->out.len;
    enc->out.len = 0;
    return 0;
}

/* CSV field: quoted when it holds a comma, a quote, CR or LF (RFC 4180), or is empty (so that
 * an empty string differs from NULL); quotes doubled. */
static int csv_field(ebuf *b, const char *s, size_t n)
{
    int q = n == 0;
    size_t nq = 0;
    for (size_t k = 0; k < n; k++) {
        char c = s[k];
        if (c == '"') {
            nq++;
            q = 1;
        } else if (c == ',' || c == '\n' || c == '\r') {
            q = 1;
        }
    }
    if (!q) return ebuf_put(b, s, n);
    if (ebuf_reserve(b, n + nq + 2)) return -1;
    char *o = b->p + b->len;
    *o++ = '"';
    for (size_t k = 0; k < n; k++) {
        if (s[k] == '"') *o++ = '"';
        *o++ = s[k];
    }
    *o++ = '"';
    b->len = (size_t)(o - b->p);
    return 0;
}

static int csv_value(encoder_t *enc, const ecol *c, size_t i)
{
    if (!ecol_valid(c, i)) return 0;
    switch (c->t) {
    case DUCKDB_TYPE_VARCHAR:
    case DUCKDB_TYPE_BLOB: {
        if (c->t == DUCKDB_TYPE_VARCHAR) {
            uint32_t len;
            const char *s = dstr_ptr(&((const duckdb_string_t *)c->data)[i], &len);
            return csv_field(&enc->out, s, len);
        }
        enc->scratch.len = 0;
        if (enc_scalar(&enc->scratch, c, i, 0)) return -1;
        return csv_field(&enc->out, enc->scratch.p, enc->scratch.len);
    }
    case DUCKDB_TYPE_ENUM:
    case DUCKDB_TYPE_BIT:
        enc->scratch.len = 0;
        if (enc_scalar(&enc->scratch, c, i, 0)) return -1;
        return csv_field(&enc->out, enc->scratch.p, enc->scratch.len);
    case DUCKDB_TYPE_LIST:
    case DUCKDB_TYPE_ARRAY:
    case DUCKDB_TYPE_MAP:
    case DUCKDB_TYPE_STRUCT:
    case DUCKDB_TYPE_UNION:
        enc->scratch.len = 0;
        if (enc_json_value(&enc->scratch, c, i)) return -1;
        return csv_field(&enc->out, enc->scratch.p, enc->scratch.len);
    default:
        /* Numbers, temporal values, UUIDs: never contain a separator or a quote. */
        return enc_scalar(&enc->out, c, i, 0);
    }
}

encoder_t *encoder_new(encode_format fmt, size_t ncols, const char *const *names,
                       duckdb_logical_type const *types, size_t flush_bytes, encode_sink sink,
                       void *sink_ctx, dlb_err *err)
{
    encoder_t *enc = calloc(1, sizeof(*enc));
    if (!enc) goto oom;
    enc->fmt = fmt;
    enc->flush_bytes = flush_bytes ? flush_bytes : FLUSH_DEFAULT;
    enc->sink = sink;
    enc->sink_ctx = sink_ctx;
    enc->cols = calloc(ncols ? ncols : 1, sizeof(ecol));
    enc->key_json = calloc(ncols ? ncols : 1, sizeof(char *));
    enc->key_len = calloc(ncols ? ncols : 1, sizeof(size_t));
    if (!enc->cols || !enc->key_json || !enc->key_len) goto oom;
    for (size_t k = 0; k < ncols; k++) {
        const char *name = names[k] ? names[k] : "";
        if (ecol_build(&enc->cols[k], types[k], name, err)) {
            enc->ncols = k + 1;
            encoder_free(enc);
            return NULL;
        }
        enc->ncols = k + 1;
        ebuf kb = {0};
        if (fmt == ENC_CSV) {
            if (csv_field(&kb, name, strlen(name)) || ebuf_putc(&kb, 0)) {
                free(kb.p);
                goto oom;
            }
            kb.len--;
        } else if (enc_json_string(&kb, name, strlen(name)) || ebuf_putc(&kb, ':')) {
            free(kb.p);
            goto oom;
        }
        enc->key_json[k] = kb.p;
        enc->key_len[k] = kb.len;
    }
    return enc;
oom:
    dlb_err_set(err, 500, "out_of_memory", "out of memory while preparing the result encoder");
    encoder_free(enc);
    return NULL;
}

static int header_csv(encoder_t *enc)
{
    for (size_t k = 0; k < enc->ncols; k++) {
        if (k && ebuf_putc(&enc->out, ',')) return -1;
        if (ebuf_put(&enc->out, enc->key_json[k], enc->key_len[k])) return -1;
    }
    return ebuf_putc(&enc->out, '\n');
}

static int begin(encoder_t *enc)
{
    enc->opened = 1;
    if (enc->fmt == ENC_JSON) return EBUF_LIT(&enc->out, "{\"result\":[");
    if (enc->fmt == ENC_CSV) return header_csv(enc);
    return 0;
}

int encoder_chunk(encoder_t *enc, duckdb_data_chunk chunk, size_t nrows)
{
    enc->sink_failed = 0;
    if (!enc->opened && begin(enc)) return -1;
    for (size_t k = 0; k < enc->ncols; k++)
        ecol_bind(&enc->cols[k], duckdb_data_chunk_get_vector(chunk, k));
    ebuf *b = &enc->out;
    for (size_t r = 0; r < nrows; r++) {
        if (enc->fmt == ENC_CSV) {
            for (size_t k = 0; k < enc->ncols; k++) {
                if (k && ebuf_putc(b, ',')) return -1;
                if (csv_value(enc, &enc->cols[k], r)) return -1;
            }
            if (ebuf_putc(b, '\n')) return -1;
        } else {
            if (enc->fmt == ENC_JSON && enc->rows && ebuf_putc(b, ',')) return -1;
            if (ebuf_putc(b, '{')) return -1;
            for (size_t k = 0; k < enc->ncols; k++) {
                if (k && ebuf_putc(b, ',')) return -1;
                if (ebuf_put(b, enc->key_json[k], enc->key_len[k]) ||
                    enc_json_value(b, &enc->cols[k], r))
                    return -1;
            }
            if (ebuf_putc(b, '}')) return -1;
            if (enc->fmt == ENC_NDJSON && ebuf_putc(b, '\n')) return -1;
        }
        enc->rows++;
        if (b->len >= enc->flush_bytes && flush(enc)) return -1;
    }
    return 0;
}

int encoder_end(encoder_t *enc)
{
    enc->sink_failed = 0;
    if (!enc->opened && begin(enc)) return -1;
    if (enc->fmt == ENC_JSON && EBUF_LIT(&enc->out, "]}")) return -1;
    /* An empty NDJSON result has no bytes at all; the sink still hears of it once. */
    if (!enc->out.len && !enc->started) {
        enc->started = 1;
        if (enc->sink(enc->sink_ctx, "", 0) < 0) {
            enc->sink_failed = 1;
            return -1;
        }
        return 0;
    }
    return flush(enc);
}

int encoder_started(const encoder_t *enc)
{
    return enc->started;
}

int encoder_sink_failed(const encoder_t *enc)
{
    return enc->sink_failed;
}

uint64_t encoder_bytes(const encoder_t *enc)
{
    return enc->bytes;
}

void encoder_free(encoder_t *enc)
{
    if (!enc) return;
    for (size_t k = 0; k < enc->ncols; k++) {
        ecol_free(&enc->cols[k]);
        if (enc->key_json) free(enc->key_json[k]);
    }
    free(enc->cols);
    free(enc->key_json);
    free(enc->key_len);
    free(enc->out.p);
    free(enc->scratch.p);
    free(enc);
}
