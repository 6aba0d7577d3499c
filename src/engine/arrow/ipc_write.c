/* Arrow IPC writer (see ipc_write.h). */
#include "engine/arrow/ipc_write.h"

#include "engine/arrow/fb.h"
#include "engine/arrow/ipc.h"

#include <stdlib.h>
#include <string.h>

enum {
    L_NONE,
    L_FIXED,
    L_BITS,
    L_VAR32,
    L_VAR64,
    L_LIST32,
    L_LIST64,
    L_FSL,
    L_STRUCT,
    L_UUID_TEXT
};

typedef struct wnode wnode;
struct wnode {
    int type;   /* union Type */
    int layout; /* L_* */
    int width;  /* L_FIXED: bytes per value; L_FSL: list size */
    int bits, is_signed, precision, scale, unit, flag;
    char *tz;
    char *name;
    int nullable;
    char *meta; /* C Data Interface metadata blob (copied) or NULL */
    size_t meta_len;
    int nchild;
    wnode *child;
};

typedef struct {
    int64_t offset, meta_len, body_len;
} block;

struct ipc_writer {
    wnode root;
    int file_format;
    size_t flush_bytes;
    ipc_sink sink;
    void *sink_ctx;
    uint8_t *out;
    size_t out_len, out_cap;
    uint64_t pos;  /* bytes produced (handed on or held) */
    uint64_t sent; /* bytes handed to the sink */
    int started, sink_failed;
    block *blocks;
    size_t nblocks, cap_blocks;
    /* per batch */
    uint8_t *nodes, *bufs;
    size_t nnodes, nbufs, cap_nodes, cap_bufs;
    struct wref {
        const void *p;
        int64_t len;
    } * refs;
    size_t nrefs, cap_refs;
    void **owned;
    size_t nowned, cap_owned;
};

/* ---- plan from the C schema ----------------------------------------------------------------- */

static const char *meta_ext_name(const char *meta, size_t *len)
{
    if (!meta) return NULL;
    int32_t n;
    memcpy(&n, meta, 4);
    const char *p = meta + 4;
    for (int32_t i = 0; i < n; i++) {
        int32_t kl, vl;
        memcpy(&kl, p, 4);
        const char *k = p + 4;
        memcpy(&vl, k + kl, 4);
        const char *v = k + kl + 4;
        if (kl == 20 && memcmp(k, "ARROW:extension:name", 20) == 0) {
            *len = (size_t)vl;
            return v;
        }
        p = v + vl;
    }
    return NULL;
}

static size_t meta_size(const char *meta)
{
    if (!meta) return 0;
    int32_t n;
    memcpy(&n, meta, 4);
    const char *p = meta + 4;
    for (int32_t i = 0; i < 2 * n; i++) {
        int32_t l;
        memcpy(&l, p, 4);
        p += 4 + l;
    }
    return (size_t)(p - meta);
}

static void wnode_free(wnode *w)
{
    for (int i = 0; i < w->nchild; i++)
        wnode_free(&w->child[i]);
    free(w->child);
    free(w->tz);
    free(w->name);
    free(w->meta);
}

static int unit_of(char c)
{
    return c == 's'   ? TU_SECOND
           : c == 'm' ? TU_MILLI
           : c == 'u' ? TU_MICRO
           : c == 'n' ? TU_NANO
                      : -1;
}

static int plan(wnode *w, const struct ArrowSchema *s, const char *path, int depth, dlb_err *err)
{
    const char *f = s->format ? s->format : "";
    const char *name = s->name ? s->name : "";
    memset(w, 0, sizeof(*w));
    if (depth > 64) {
        dlb_err_set(err, 422, "unsupported_type", "column %s: nesting is too deep", path);
        return -1;
    }
    w->name = strdup(name);
    w->nullable = (s->flags & ARROW_FLAG_NULLABLE) != 0;
    w->meta_len = meta_size(s->metadata);
    if (w->meta_len) {
        w->meta = malloc(w->meta_len);
        if (w->meta) memcpy(w->meta, s->metadata, w->meta_len);
    }
    if (!w->name || (w->meta_len && !w->meta)) goto oom;
    if (s->dictionary) {
        dlb_err_set(err, 422, "unsupported_type",
                    "column %s: dictionary-encoded values (ENUM) cannot be written as Arrow; "
                    "CAST the column to VARCHAR",
                    path);
        return -1;
    }
    size_t extlen = 0;
    const char *ext = meta_ext_name(w->meta, &extlen);
    int is_uuid = ext && extlen == 10 && memcmp(ext, "arrow.uuid", 10) == 0;
    static const struct {
        char c;
        int bits, is_signed;
    } ints[] = {{'c', 8, 1},  {'C', 8, 0},  {'s', 16, 1}, {'S', 16, 0},
                {'i', 32, 1}, {'I', 32, 0}, {'l', 64, 1}, {'L', 64, 0}};
    if (f[0] && !f[1]) {
        for (size_t k = 0; k < sizeof(ints) / sizeof(ints[0]); k++)
            if (f[0] == ints[k].c) {
                w->type = T_INT;
                w->layout = L_FIXED;
                w->width = ints[k].bits / 8;
                w->bits = ints[k].bits;
                w->is_signed = ints[k].is_signed;
                return 0;
            }
        switch (f[0]) {
        case 'n':
            w->type = T_NULL;
            w->layout = L_NONE;
            return 0;
        case 'b':
            w->type = T_BOOL;
            w->layout = L_BITS;
            return 0;
        case 'e':
        case 'f':
        case 'g':
            w->type = T_FLOAT;
            w->layout = L_FIXED;
            w->precision = f[0] == 'e' ? 0 : f[0] == 'f' ? 1 : 2;
            w->width = f[0] == 'e' ? 2 : f[0] == 'f' ? 4 : 8;
            return 0;
        case 'u':
        case 'z':
            if (is_uuid && f[0] == 'u') {
                w->type = T_FIXED_BINARY;
                w->layout = L_UUID_TEXT;
                w->width = 16;
                return 0;
            }
            w->type = f[0] == 'u' ? T_UTF8 : T_BINARY;
            w->layout = L_VAR32;
            return 0;
        case 'U':
        case 'Z':
            w->type = f[0] == 'U' ? T_LARGE_UTF8 : T_LARGE_BINARY;
            w->layout = L_VAR64;
            return 0;
        default:
            break;
        }
    } else if (f[0] == 'd' && f[1] == ':') {
        int p = 0, sc = 0, bw = 128;
        int n = sscanf(f + 2, "%d,%d,%d", &p, &sc, &bw);
        if (n >= 2 && bw == 128) {
            w->type = T_DECIMAL;
            w->layout = L_FIXED;
            w->width = 16;
            w->precision = p;
            w->scale = sc;
            w->bits = 128;
            return 0;
        }
    } else if (f[0] == 'w' && f[1] == ':') {
        int n = atoi(f + 2);
        if (n > 0) {
            w->type = T_FIXED_BINARY;
            w->layout = L_FIXED;
            w->width = n;
            return 0;
        }
    } else if (f[0] == 't' && f[1] == 'd' && (f[2] == 'D' || f[2] == 'm') && !f[3]) {
        w->type = T_DATE;
        w->layout = L_FIXED;
        w->unit = f[2] == 'D' ? 0 : 1;
        w->width = f[2] == 'D' ? 4 : 8;
        return 0;
    } else if (f[0] == 't' && f[1] == 't' && unit_of(f[2]) >= 0 && !f[3]) {
        w->type = T_TIME;
        w->layout = L_FIXED;
        w->unit = unit_of(f[2]);
        w->width = w->unit <= TU_MILLI ? 4 : 8;
        w->bits = w->width * 8;
        return 0;
    } else if (f[0] == 't' && f[1] == 's' && unit_of(f[2]) >= 0 && f[3] == ':') {
        w->type = T_TIMESTAMP;
        w->layout = L_FIXED;
        w->unit = unit_of(f[2]);
        w->width = 8;
        if (f[4] && !(w->tz = strdup(f + 4))) goto oom;
        return 0;
    } else if (f[0] == 't' && f[1] == 'D' && unit_of(f[2]) >= 0 && !f[3]) {
        w->type = T_DURATION;
        w->layout = L_FIXED;
        w->unit = unit_of(f[2]);
        w->width = 8;
        return 0;
    } else if (f[0] == 't' && f[1] == 'i' && (f[2] == 'M' || f[2] == 'D' || f[2] == 'n') && !f[3]) {
        w->type = T_INTERVAL;
        w->layout = L_FIXED;
        w->unit = f[2] == 'M' ? 0 : f[2] == 'D' ? 1 : 2;
        w->width = f[2] == 'M' ? 4 : f[2] == 'D' ? 8 : 16;
        return 0;
    } else if (f[0] == '+') {
        int nchild = -1;
        if (f[1] == 'l' && !f[2]) {
            w->type = T_LIST;
            w->layout = L_LIST32;
            nchild = 1;
        } else if (f[1] == 'L' && !f[2]) {
            w->type = T_LARGE_LIST;
            w->layout = L_LIST64;
            nchild = 1;
        } else if (f[1] == 'w' && f[2] == ':' && atoi(f + 3) > 0) {
            w->type = T_FIXED_LIST;
            w->layout = L_FSL;
            w->width = atoi(f + 3);
            nchild = 1;
        } else if (f[1] == 's' && !f[2]) {
            w->type = T_STRUCT;
            w->layout = L_STRUCT;
            nchild = (int)s->n_children;
        } else if (f[1] == 'm' && !f[2]) {
            w->type = T_MAP;
            w->layout = L_LIST32;
            w->flag = (s->flags & ARROW_FLAG_MAP_KEYS_SORTED) != 0;
            nchild = 1;
        }
        if (nchild >= 0) {
            if (s->n_children != nchild) {
                dlb_err_set(err, 500, "internal_error", "column %s: %s with %lld children", path, f,
                            (long long)s->n_children);
                return -1;
            }
            if (nchild && !(w->child = calloc((size_t)nchild, sizeof(wnode)))) goto oom;
            w->nchild = nchild;
            for (int i = 0; i < nchild; i++) {
                char sub[512];
                snprintf(sub, sizeof(sub), "%s.%s", path,
                         s->children[i]->name ? s->children[i]->name : "?");
                if (plan(&w->child[i], s->children[i], sub, depth + 1, err)) return -1;
            }
            return 0;
        }
    }
    dlb_err_set(err, 422, "unsupported_type",
                "column %s: Arrow type '%.40s' cannot be written; CAST it in the query", path, f);
    return -1;
oom:
    dlb_err_set(err, 500, "out_of_memory", "out of memory");
    return -1;
}

/* ---- flatbuffers ---------------------------------------------------------------------------- */

static void put_string_field(fbb *b, size_t slot, const char *s, size_t n)
{
    fbb_patch(b, slot, fbb_string(b, s, n));
}

static size_t write_type(fbb *b, const wnode *w)
{
    fbt t;
    fbt_init(&t);
    switch (w->type) {
    case T_INT:
        fbt_scalar(&t, 0, 4, (uint32_t)w->bits);
        fbt_scalar(&t, 1, 1, (uint64_t)w->is_signed);
        break;
    case T_FLOAT:
        fbt_scalar(&t, 0, 2, (uint16_t)w->precision);
        break;
    case T_DECIMAL:
        fbt_scalar(&t, 0, 4, (uint32_t)w->precision);
        fbt_scalar(&t, 1, 4, (uint32_t)w->scale);
        fbt_scalar(&t, 2, 4, 128);
        break;
    case T_DATE:
    case T_INTERVAL:
    case T_DURATION:
        fbt_scalar(&t, 0, 2, (uint16_t)w->unit);
        break;
    case T_TIME:
        fbt_scalar(&t, 0, 2, (uint16_t)w->unit);
        fbt_scalar(&t, 1, 4, (uint32_t)w->bits);
        break;
    case T_TIMESTAMP:
        fbt_scalar(&t, 0, 2, (uint16_t)w->unit);
        if (w->tz) fbt_offset(&t, 1);
        break;
    case T_FIXED_BINARY:
    case T_FIXED_LIST:
        fbt_scalar(&t, 0, 4, (uint32_t)w->width);
        break;
    case T_MAP:
        fbt_scalar(&t, 0, 1, (uint64_t)w->flag);
        break;
    default:
        break;
    }
    size_t pos = fbt_write(b, &t);
    if (w->type == T_TIMESTAMP && w->tz) put_string_field(b, t.pos[1], w->tz, strlen(w->tz));
    return pos;
}

static size_t write_metadata(fbb *b, const char *meta)
{
    int32_t n;
    memcpy(&n, meta, 4);
    size_t v = fbb_vector(b, (uint32_t)n, 4);
    size_t slots = fbb_put(b, NULL, 4 * (size_t)n);
    const char *p = meta + 4;
    for (int32_t i = 0; i < n; i++) {
        int32_t kl, vl;
        memcpy(&kl, p, 4);
        const char *k = p + 4;
        memcpy(&vl, k + kl, 4);
        const char *val = k + kl + 4;
        p = val + vl;
        fbt t;
        fbt_init(&t);
        fbt_offset(&t, 0);
        fbt_offset(&t, 1);
        size_t kv = fbt_write(b, &t);
        fbb_patch(b, slots + 4 * (size_t)i, kv);
        put_string_field(b, t.pos[0], k, (size_t)kl);
        put_string_field(b, t.pos[1], val, (size_t)vl);
    }
    return v;
}

static size_t write_field(fbb *b, const wnode *w);

static size_t write_fields(fbb *b, const wnode *parent)
{
    size_t v = fbb_vector(b, (uint32_t)parent->nchild, 4);
    size_t slots = fbb_put(b, NULL, 4 * (size_t)parent->nchild);
    for (int i = 0; i < parent->nchild; i++)
        fbb_patch(b, slots + 4 * (size_t)i, write_field(b, &parent->child[i]));
    return v;
}

static size_t write_field(fbb *b, const wnode *w)
{
    fbt t;
    fbt_init(&t);
    fbt_offset(&t, FLD_NAME);
    fbt_scalar(&t, FLD_NULLABLE, 1, (uint64_t)w->nullable);
    fbt_scalar(&t, FLD_TYPE_TYPE, 1, (uint64_t)w->type);
    fbt_offset(&t, FLD_TYPE);
    fbt_offset(&t, FLD_CHILDREN);
    if (w->meta) fbt_offset(&t, FLD_METADATA);
    size_t pos = fbt_write(b, &t);
    put_string_field(b, t.pos[FLD_NAME], w->name, strlen(w->name));
    fbb_patch(b, t.pos[FLD_TYPE], write_type(b, w));
    fbb_patch(b, t.pos[FLD_CHILDREN], write_fields(b, w));
    if (w->meta) fbb_patch(b, t.pos[FLD_METADATA], write_metadata(b, w->meta));
    return pos;
}

static size_t write_schema(fbb *b, const wnode *root)
{
    fbt t;
    fbt_init(&t);
    fbt_scalar(&t, SCH_ENDIANNESS, 2, 0);
    fbt_offset(&t, SCH_FIELDS);
    size_t pos = fbt_write(b, &t);
    fbb_patch(b, t.pos[SCH_FIELDS], write_fields(b, root));
    return pos;
}

/* A Message table at the root of b whose header is written by the callback. */
static size_t message_begin(fbb *b, int header_type, int64_t body_len, size_t *header_slot)
{
    size_t root = fbb_slot(b);
    fbt t;
    fbt_init(&t);
    fbt_scalar(&t, MSG_VERSION, 2, IPC_V5);
    fbt_scalar(&t, MSG_HEADER_TYPE, 1, (uint64_t)header_type);
    fbt_offset(&t, MSG_HEADER);
    fbt_scalar(&t, MSG_BODY_LENGTH, 8, (uint64_t)body_len);
    fbb_patch(b, root, fbt_write(b, &t));
    *header_slot = t.pos[MSG_HEADER];
    return root;
}

/* ---- output --------------------------------------------------------------------------------- */

static int flush(ipc_writer *w)
{
    if (!w->out_len) return 0;
    w->started = 1;
    if (w->sink(w->sink_ctx, w->out, w->out_len)) {
        w->sink_failed = 1;
        return -1;
    }
    w->sent += w->out_len;
    w->out_len = 0;
    return 0;
}

static int emit(ipc_writer *w, const void *p, size_t n)
{
    static const uint8_t zeros[64];
    if (n == 0) return 0;
    if (n >= w->flush_bytes) { /* big: straight through, no copy */
        if (flush(w)) return -1;
        w->started = 1;
        if (w->sink(w->sink_ctx, p, n)) {
            w->sink_failed = 1;
            return -1;
        }
        w->sent += n;
        w->pos += n;
        return 0;
    }
    if (w->out_len + n > w->out_cap) {
        if (flush(w)) return -1;
        if (n > w->out_cap) {
            uint8_t *o = realloc(w->out, n);
            if (!o) return -1;
            w->out = o;
            w->out_cap = n;
        }
    }
    if (p) {
        memcpy(w->out + w->out_len, p, n);
    } else {
        for (size_t k = 0; k < n; k += sizeof(zeros)) {
            size_t m = n - k < sizeof(zeros) ? n - k : sizeof(zeros);
            memcpy(w->out + w->out_len + k, zeros, m);
        }
    }
    w->out_len += n;
    w->pos += n;
    return 0;
}

/* Frames b as a message: continuation, length (padded to 8), the flatbuffer, padding. */
static int emit_message(ipc_writer *w, fbb *b, int64_t *meta_len)
{
    fbb_pad(b, 8);
    if (b->oom) return -1;
    uint32_t pre[2] = {IPC_CONTINUATION, (uint32_t)b->len};
    if (emit(w, pre, 8) || emit(w, b->p, b->len)) return -1;
    if (meta_len) *meta_len = 8 + (int64_t)b->len;
    return 0;
}

static void oom_or_sink(ipc_writer *w, dlb_err *err)
{
    if (!w->sink_failed) dlb_err_set(err, 500, "out_of_memory", "out of memory while encoding");
}

ipc_writer *ipc_writer_new(const struct ArrowSchema *schema, int file_format, size_t flush_bytes,
                           ipc_sink sink, void *sink_ctx, dlb_err *err)
{
    ipc_writer *w = calloc(1, sizeof(*w));
    if (!w) {
        dlb_err_set(err, 500, "out_of_memory", "out of memory");
        return NULL;
    }
    w->file_format = file_format;
    w->flush_bytes = flush_bytes ? flush_bytes : 256 * 1024;
    w->sink = sink;
    w->sink_ctx = sink_ctx;
    w->out_cap = w->flush_bytes;
    w->out = malloc(w->out_cap);
    if (!w->out) {
        dlb_err_set(err, 500, "out_of_memory", "out of memory");
        goto fail;
    }
    const char *f = schema && schema->format ? schema->format : "";
    if (strcmp(f, "+s") != 0) {
        dlb_err_set(err, 500, "internal_error", "the result schema is not a struct");
        goto fail;
    }
    w->root.type = T_STRUCT;
    w->root.layout = L_STRUCT;
    w->root.nchild = (int)schema->n_children;
    if (w->root.nchild && !(w->root.child = calloc((size_t)w->root.nchild, sizeof(wnode)))) {
        dlb_err_set(err, 500, "out_of_memory", "out of memory");
        goto fail;
    }
    for (int i = 0; i < w->root.nchild; i++) {
        const char *n = schema->children[i]->name ? schema->children[i]->name : "?";
        if (plan(&w->root.child[i], schema->children[i], n, 1, err)) goto fail;
    }
    if (file_format && emit(w, IPC_MAGIC "\0\0", 8)) goto oom;
    fbb b;
    fbb_init(&b);
    size_t hs;
    message_begin(&b, MH_SCHEMA, 0, &hs);
    fbb_patch(&b, hs, write_schema(&b, &w->root));
    int rc = emit_message(w, &b, NULL);
    fbb_free(&b);
    if (rc) goto oom;
    return w;
oom:
    dlb_err_set(err, 500, "out_of_memory", "out of memory");
fail:
    ipc_writer_free(w);
    return NULL;
}

/* ---- record batches ------------------------------------------------------------------------- */

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap * 2 : 64;
    while (c < need)
        c *= 2;
    void *n = realloc(*p, c * elem);
    if (!n) return -1;
    *p = n;
    *cap = c;
    return 0;
}

static void put64(uint8_t *d, int64_t v)
{
    uint64_t u = (uint64_t)v;
    for (int k = 0; k < 8; k++)
        d[k] = (uint8_t)(u >> (8 * k));
}

static int add_node(ipc_writer *w, int64_t len, int64_t nulls)
{
    if (grow((void **)&w->nodes, &w->cap_nodes, (w->nnodes + 1) * 16, 1)) return -1;
    put64(w->nodes + w->nnodes * 16, len);
    put64(w->nodes + w->nnodes * 16 + 8, nulls);
    w->nnodes++;
    return 0;
}

static int add_buf(ipc_writer *w, const void *p, int64_t len)
{
    if (grow((void **)&w->refs, &w->cap_refs, w->nrefs + 1, sizeof(*w->refs))) return -1;
    w->refs[w->nrefs].p = p;
    w->refs[w->nrefs].len = p ? len : 0;
    w->nrefs++;
    return 0;
}

static void *own(ipc_writer *w, size_t n)
{
    if (grow((void **)&w->owned, &w->cap_owned, w->nowned + 1, sizeof(void *))) return NULL;
    void *p = calloc(1, n ? n : 1);
    if (p) w->owned[w->nowned++] = p;
    return p;
}

static int64_t count_nulls(const uint8_t *bits, int64_t n)
{
    int64_t valid = 0;
    for (int64_t i = 0; i < n; i++)
        valid += (bits[i >> 3] >> (i & 7)) & 1;
    return n - valid;
}

static int hexval(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

static const int32_t zero_offsets[2];

static int walk(ipc_writer *w, const wnode *n, const struct ArrowArray *a, dlb_err *err)
{
    int64_t len = a->length;
    if (a->offset != 0) {
        dlb_err_set(err, 500, "internal_error", "sliced arrays are not supported");
        return -1;
    }
    const uint8_t *valid = a->n_buffers > 0 ? a->buffers[0] : NULL;
    int64_t nulls = a->null_count;
    if (n->layout == L_NONE) {
        nulls = len;
    } else if (!valid) {
        nulls = 0;
    } else if (nulls < 0) {
        nulls = count_nulls(valid, len);
    }
    if (add_node(w, len, nulls)) goto oom;
    if (n->layout == L_NONE) return 0;
    if (add_buf(w, nulls ? valid : NULL, (len + 7) / 8)) goto oom;
    const void *b1 = a->n_buffers > 1 ? a->buffers[1] : NULL;
    switch (n->layout) {
    case L_FIXED:
        return add_buf(w, b1, len * n->width) ? -1 : 0;
    case L_BITS:
        return add_buf(w, b1, (len + 7) / 8) ? -1 : 0;
    case L_VAR32:
    case L_VAR64: {
        int wide = n->layout == L_VAR64;
        if (!b1 && len > 0) goto bad;
        const void *off = b1 ? b1 : zero_offsets;
        int64_t first, last;
        if (wide) {
            memcpy(&first, off, 8);
            memcpy(&last, (const int64_t *)off + (len && b1 ? len : 0), 8);
        } else {
            int32_t f32, l32;
            memcpy(&f32, off, 4);
            memcpy(&l32, (const int32_t *)off + (len && b1 ? len : 0), 4);
            first = f32;
            last = l32;
        }
        if (first != 0) {
            dlb_err_set(err, 500, "internal_error", "string offsets do not start at 0");
            return -1;
        }
        if (add_buf(w, off, (len + 1) * (wide ? 8 : 4)) ||
            add_buf(w, a->n_buffers > 2 ? a->buffers[2] : NULL, last))
            goto oom;
        return 0;
    }
    case L_UUID_TEXT: {
        uint8_t *o = own(w, (size_t)len * 16);
        if (!o) goto oom;
        const int32_t *off = b1;
        const char *data = a->n_buffers > 2 ? a->buffers[2] : NULL;
        for (int64_t i = 0; off && data && i < len; i++) {
            if (valid && !((valid[i >> 3] >> (i & 7)) & 1)) continue;
            const char *s = data + off[i];
            int32_t sl = off[i + 1] - off[i];
            int k = 0;
            for (int32_t j = 0; j < sl && k < 32; j++) {
                int h = hexval((unsigned char)s[j]);
                if (h < 0) continue; /* dashes */
                o[i * 16 + k / 2] |= (uint8_t)(k % 2 ? h : h << 4);
                k++;
            }
        }
        return add_buf(w, o, len * 16) ? -1 : 0;
    }
    case L_LIST32:
    case L_LIST64: {
        int wide = n->layout == L_LIST64;
        if (!b1 && len > 0) goto bad;
        const void *off = b1 ? b1 : zero_offsets;
        if (add_buf(w, off, (len + 1) * (wide ? 8 : 4))) goto oom;
        return walk(w, &n->child[0], a->children[0], err);
    }
    case L_FSL:
        return walk(w, &n->child[0], a->children[0], err);
    case L_STRUCT:
        for (int i = 0; i < n->nchild; i++)
            if (walk(w, &n->child[i], a->children[i], err)) return -1;
        return 0;
    default:
        return 0;
    }
oom:
    dlb_err_set(err, 500, "out_of_memory", "out of memory while encoding");
    return -1;
bad:
    dlb_err_set(err, 500, "internal_error", "an array without offsets");
    return -1;
}

static void batch_reset(ipc_writer *w)
{
    for (size_t i = 0; i < w->nowned; i++)
        free(w->owned[i]);
    w->nowned = w->nnodes = w->nrefs = 0;
}

int ipc_writer_batch(ipc_writer *w, const struct ArrowArray *batch, dlb_err *err)
{
    batch_reset(w);
    if (batch->n_children != w->root.nchild) {
        dlb_err_set(err, 500, "internal_error", "the batch does not match the schema");
        return -1;
    }
    for (int i = 0; i < w->root.nchild; i++)
        if (walk(w, &w->root.child[i], batch->children[i], err)) return -1;
    /* body layout: every buffer on 8 bytes */
    int64_t body = 0;
    if (grow((void **)&w->bufs, &w->cap_bufs, w->nrefs * 16 + 1, 1)) goto oom;
    for (size_t i = 0; i < w->nrefs; i++) {
        put64(w->bufs + i * 16, body);
        put64(w->bufs + i * 16 + 8, w->refs[i].len);
        body += (w->refs[i].len + 7) & ~(int64_t)7;
    }
    fbb b;
    fbb_init(&b);
    size_t hs;
    message_begin(&b, MH_RECORD_BATCH, body, &hs);
    fbt t;
    fbt_init(&t);
    fbt_scalar(&t, RB_LENGTH, 8, (uint64_t)batch->length);
    fbt_offset(&t, RB_NODES);
    fbt_offset(&t, RB_BUFFERS);
    fbb_patch(&b, hs, fbt_write(&b, &t));
    fbb_patch(&b, t.pos[RB_NODES], fbb_vector(&b, (uint32_t)w->nnodes, 8));
    fbb_put(&b, w->nodes, w->nnodes * 16);
    fbb_patch(&b, t.pos[RB_BUFFERS], fbb_vector(&b, (uint32_t)w->nrefs, 8));
    fbb_put(&b, w->bufs, w->nrefs * 16);
    uint64_t at = w->pos;
    int64_t meta_len = 0;
    int rc = emit_message(w, &b, &meta_len);
    fbb_free(&b);
    if (rc) goto fail;
    for (size_t i = 0; i < w->nrefs; i++) {
        int64_t l = w->refs[i].len, pad = ((l + 7) & ~(int64_t)7) - l;
        if (emit(w, w->refs[i].p, (size_t)l) || emit(w, NULL, (size_t)pad)) goto fail;
    }
    batch_reset(w);
    if (w->file_format) {
        if (grow((void **)&w->blocks, &w->cap_blocks, w->nblocks + 1, sizeof(block))) goto oom;
        w->blocks[w->nblocks++] = (block){(int64_t)at, meta_len, body};
    }
    if (w->out_len >= w->flush_bytes && flush(w)) goto fail;
    return 0;
oom:
    batch_reset(w);
    dlb_err_set(err, 500, "out_of_memory", "out of memory while encoding");
    return -1;
fail:
    batch_reset(w);
    oom_or_sink(w, err);
    return -1;
}

int ipc_writer_end(ipc_writer *w, dlb_err *err)
{
    uint32_t eos[2] = {IPC_CONTINUATION, 0};
    if (emit(w, eos, 8)) goto fail;
    if (w->file_format) {
        fbb b;
        fbb_init(&b);
        size_t root = fbb_slot(&b);
        fbt t;
        fbt_init(&t);
        fbt_scalar(&t, FT_VERSION, 2, IPC_V5);
        fbt_offset(&t, FT_SCHEMA);
        fbt_offset(&t, FT_DICTIONARIES);
        fbt_offset(&t, FT_RECORD_BATCHES);
        fbb_patch(&b, root, fbt_write(&b, &t));
        fbb_patch(&b, t.pos[FT_SCHEMA], write_schema(&b, &w->root));
        fbb_patch(&b, t.pos[FT_DICTIONARIES], fbb_vector(&b, 0, 8));
        fbb_patch(&b, t.pos[FT_RECORD_BATCHES], fbb_vector(&b, (uint32_t)w->nblocks, 8));
        for (size_t i = 0; i < w->nblocks; i++) {
            uint8_t blk[24] = {0};
            put64(blk, w->blocks[i].offset);
            int32_t ml = (int32_t)w->blocks[i].meta_len;
            memcpy(blk + 8, &ml, 4);
            put64(blk + 16, w->blocks[i].body_len);
            fbb_put(&b, blk, 24);
        }
        int32_t flen = (int32_t)b.len;
        int rc = b.oom || emit(w, b.p, b.len) || emit(w, &flen, 4) || emit(w, IPC_MAGIC, 6);
        fbb_free(&b);
        if (rc) goto fail;
    }
    if (flush(w)) goto fail;
    return 0;
fail:
    oom_or_sink(w, err);
    return -1;
}

int ipc_writer_started(const ipc_writer *w)
{
    return w->started;
}

int ipc_writer_sink_failed(const ipc_writer *w)
{
    return w->sink_failed;
}

uint64_t ipc_writer_bytes(const ipc_writer *w)
{
    return w->sent;
}

void ipc_writer_free(ipc_writer *w)
{
    if (!w) return;
    batch_reset(w);
    wnode_free(&w->root);
    free(w->out);
    free(w->blocks);
    free(w->nodes);
    free(w->bufs);
    free(w->refs);
    free(w->owned);
    free(w);
}
