/* Arrow IPC reader (see ipc_read.h). */
#include "engine/arrow/ipc_read.h"

#include "engine/arrow/fb.h"
#include "engine/arrow/ipc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DEPTH       48
#define MAX_FIELDS      4096
#define MAX_BATCH_ROWS  INT32_MAX
#define MAX_NAME        1024
#define MAX_META_PAIRS  64
#define MAX_META_BYTES  65536
#define MAX_FIXED_WIDTH (1 << 20)

/* ---- shared, reference-counted memory ------------------------------------------------------- */

typedef struct {
    atomic_int refs;
    const uint8_t *p;
    size_t n;
    void *map; /* munmap'd at the end, when mapped */
} source;

static void source_unref(source *s)
{
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1) return;
    if (s->map) munmap(s->map, s->n);
    free(s);
}

/* What one decoded batch (record or dictionary) owns: its copies and a reference on the
 * input. Every exported array node holds a reference. */
typedef struct {
    atomic_int refs;
    source *src;
    void **blocks;
    size_t nblocks, cap;
} arena;

static arena *arena_new(source *s)
{
    arena *a = calloc(1, sizeof(*a));
    if (!a) return NULL;
    atomic_init(&a->refs, 1);
    a->src = s;
    atomic_fetch_add(&s->refs, 1);
    return a;
}

static void arena_ref(arena *a)
{
    atomic_fetch_add(&a->refs, 1);
}

static void arena_unref(arena *a)
{
    if (!a || atomic_fetch_sub(&a->refs, 1) != 1) return;
    for (size_t i = 0; i < a->nblocks; i++)
        free(a->blocks[i]);
    free(a->blocks);
    source_unref(a->src);
    free(a);
}

static void *arena_alloc(arena *a, size_t n)
{
    if (a->nblocks == a->cap) {
        size_t c = a->cap ? a->cap * 2 : 16;
        void **b = realloc(a->blocks, c * sizeof(void *));
        if (!b) return NULL;
        a->blocks = b;
        a->cap = c;
    }
    void *p = NULL;
    if (posix_memalign(&p, 64, n ? n : 1)) return NULL;
    memset(p, 0, n ? n : 1);
    a->blocks[a->nblocks++] = p;
    return p;
}

/* ---- schema --------------------------------------------------------------------------------- */

enum {
    K_NULL,
    K_BOOL,
    K_FIXED, /* ints, floats, decimal, dates, times, timestamps, durations, intervals, FSB */
    K_VAR32, /* utf8, binary */
    K_VAR64, /* large utf8, large binary */
    K_LIST32,
    K_LIST64,
    K_FSL,
    K_STRUCT,
};

typedef struct afield afield;
struct afield {
    int kind;
    int width; /* K_FIXED: bytes; K_FSL: list size */
    int utf8;  /* K_VAR*: check UTF-8 */
    char *name;
    char *format; /* C Data Interface format of the value type */
    char *meta;   /* C Data Interface metadata, or NULL */
    int nullable, flags;
    int nchild;
    afield *child;
    /* dictionary encoding */
    int dict;
    int64_t dict_id;
    int index_bytes, index_signed;
    struct ArrowSchema *cs, *cs_dict; /* the exported schema nodes */
};

typedef struct {
    int64_t id;
    const afield *f;
    arena *a;     /* NULL until loaded */
    void *values; /* anode */
    int64_t length;
} dictent;

typedef struct anode anode;
struct anode {
    int64_t length, null_count;
    int nbuf;
    const void *buf[3];
    int nchild;
    anode *child;
    const dictent *dict; /* dictionary-encoded node: its dictionary */
};

struct ipc_reader {
    source *src;
    int file;
    afield root;
    int nfields;
    dictent *dicts;
    int ndicts;
    size_t start, pos; /* stream: first message after the schema, next message */
    fb_vec dict_blocks, batch_blocks;
    uint32_t next_block;
    int done;
    char errmsg[1024];
    struct ArrowSchema *cs_root;
};

static int fail(dlb_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(dlb_err *err, const char *fmt, ...)
{
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    dlb_err_set(err, 400, "invalid_arrow", "invalid Arrow IPC input: %s", msg);
    return -1;
}

static int oom(dlb_err *err)
{
    dlb_err_set(err, 500, "out_of_memory", "out of memory while reading Arrow");
    return -1;
}

static void afield_free(afield *f)
{
    for (int i = 0; i < f->nchild; i++)
        afield_free(&f->child[i]);
    free(f->child);
    free(f->name);
    free(f->format);
    free(f->meta);
    if (f->cs) {
        free(f->cs->children);
        free(f->cs);
    }
    if (f->cs_dict) {
        free(f->cs_dict->children);
        free(f->cs_dict);
    }
    memset(f, 0, sizeof(*f));
}

static char *dupn(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

static const char *type_name(int t)
{
    static const char *const n[] = {
        "NONE",          "Null",      "Int",           "FloatingPoint",
        "Binary",        "Utf8",      "Bool",          "Decimal",
        "Date",          "Time",      "Timestamp",     "Interval",
        "List",          "Struct",    "Union",         "FixedSizeBinary",
        "FixedSizeList", "Map",       "Duration",      "LargeBinary",
        "LargeUtf8",     "LargeList", "RunEndEncoded", "BinaryView",
        "Utf8View",      "ListView",  "LargeListView"};
    return t >= 0 && t < (int)(sizeof(n) / sizeof(n[0])) ? n[t] : "unknown";
}

/* KeyValue vector -> C Data Interface metadata blob. */
static int parse_metadata(const fb_tab *ft, int id, char **out, const char *path, dlb_err *err)
{
    fb_vec v;
    int r = fb_vector(ft, id, 4, &v);
    if (r < 0) return fail(err, "field %s: bad custom_metadata", path);
    if (r == 0 || v.len == 0) return 0;
    if (v.len > MAX_META_PAIRS) return fail(err, "field %s: too many metadata pairs", path);
    size_t total = 4;
    const char *ks[MAX_META_PAIRS], *vs[MAX_META_PAIRS];
    size_t kl[MAX_META_PAIRS], vl[MAX_META_PAIRS];
    for (uint32_t i = 0; i < v.len; i++) {
        fb_tab kv;
        if (fb_vec_table(&v, i, &kv)) return fail(err, "field %s: bad metadata entry", path);
        int a = fb_string(&kv, 0, &ks[i], &kl[i]), b = fb_string(&kv, 1, &vs[i], &vl[i]);
        if (a < 0 || b < 0) return fail(err, "field %s: bad metadata entry", path);
        if (a == 0) ks[i] = "", kl[i] = 0;
        if (b == 0) vs[i] = "", vl[i] = 0;
        total += 8 + kl[i] + vl[i];
        if (total > MAX_META_BYTES) return fail(err, "field %s: metadata too large", path);
    }
    char *m = malloc(total), *p = m;
    if (!m) return oom(err);
    int32_t n = (int32_t)v.len;
    memcpy(p, &n, 4);
    p += 4;
    for (uint32_t i = 0; i < v.len; i++) {
        int32_t l = (int32_t)kl[i];
        memcpy(p, &l, 4);
        memcpy(p + 4, ks[i], kl[i]);
        p += 4 + kl[i];
        l = (int32_t)vl[i];
        memcpy(p, &l, 4);
        memcpy(p + 4, vs[i], vl[i]);
        p += 4 + vl[i];
    }
    *out = m;
    return 0;
}

static const char *int_format(int bytes, int is_signed)
{
    switch (bytes) {
    case 1:
        return is_signed ? "c" : "C";
    case 2:
        return is_signed ? "s" : "S";
    case 4:
        return is_signed ? "i" : "I";
    case 8:
        return is_signed ? "l" : "L";
    default:
        return NULL;
    }
}

static const char unit_char[] = "smun";

static int parse_field(ipc_reader *r, const fb_tab *ft, afield *f, int depth, int in_dict,
                       const char *parent, dlb_err *err);

static int parse_children(ipc_reader *r, const fb_tab *ft, afield *f, int depth, int in_dict,
                          const char *path, dlb_err *err)
{
    fb_vec v;
    int rc = fb_vector(ft, FLD_CHILDREN, 4, &v);
    if (rc < 0) return fail(err, "field %s: bad children vector", path);
    if (rc == 0 || v.len == 0) return 0;
    if (v.len > MAX_FIELDS) return fail(err, "field %s: too many children", path);
    f->child = calloc(v.len, sizeof(afield));
    if (!f->child) return oom(err);
    f->nchild = (int)v.len;
    for (uint32_t i = 0; i < v.len; i++) {
        fb_tab c;
        if (fb_vec_table(&v, i, &c)) return fail(err, "field %s: bad child %u", path, i);
        if (parse_field(r, &c, &f->child[i], depth + 1, in_dict, path, err)) return -1;
    }
    return 0;
}

static int parse_field(ipc_reader *r, const fb_tab *ft, afield *f, int depth, int in_dict,
                       const char *parent, dlb_err *err)
{
    char path[300];
    const char *nm = NULL;
    size_t nl = 0;
    if (++r->nfields > MAX_FIELDS)
        return fail(err, "more than %d fields in the schema", MAX_FIELDS);
    if (depth > MAX_DEPTH) return fail(err, "fields nested deeper than %d", MAX_DEPTH);
    int rc = fb_string(ft, FLD_NAME, &nm, &nl);
    if (rc < 0) return fail(err, "a field of %s has a bad name", parent[0] ? parent : "the schema");
    if (nl > MAX_NAME) return fail(err, "a field name is longer than %d bytes", MAX_NAME);
    if (!(f->name = dupn(rc ? nm : "", rc ? nl : 0))) return oom(err);
    if (memchr(f->name, 0, nl)) return fail(err, "a field name contains a NUL byte");
    snprintf(path, sizeof(path), "%s%s'%.120s'", parent, parent[0] ? "." : "", f->name);
    uint8_t nullable = 1, tt = 0;
    if (fb_u8(ft, FLD_NULLABLE, 0, &nullable) || fb_u8(ft, FLD_TYPE_TYPE, 0, &tt))
        return fail(err, "field %s: bad flatbuffer", path);
    f->nullable = nullable != 0;
    f->flags = f->nullable ? ARROW_FLAG_NULLABLE : 0;
    fb_tab ty;
    int has_type = fb_table(ft, FLD_TYPE, &ty);
    if (has_type < 0) return fail(err, "field %s: bad type table", path);
    if (parse_metadata(ft, FLD_METADATA, &f->meta, path, err)) return -1;
    /* dictionary encoding */
    fb_tab de;
    rc = fb_table(ft, FLD_DICTIONARY, &de);
    if (rc < 0) return fail(err, "field %s: bad dictionary encoding", path);
    if (rc) {
        if (in_dict)
            return fail(err, "field %s: dictionaries inside dictionaries are not supported", path);
        fb_tab it;
        int32_t bw = 32;
        uint8_t sg = 1, ord = 0;
        int hr = fb_table(&de, DE_INDEX_TYPE, &it);
        if (fb_i64(&de, DE_ID, 0, &f->dict_id) || fb_u8(&de, DE_ORDERED, 0, &ord) || hr < 0 ||
            (hr && (fb_i32(&it, 0, 32, &bw) || fb_u8(&it, 1, 1, &sg))))
            return fail(err, "field %s: bad dictionary encoding", path);
        if (!int_format(bw / 8, sg) || bw % 8)
            return fail(err, "field %s: dictionary index width %d is not 8, 16, 32 or 64", path,
                        bw);
        f->dict = 1;
        f->index_bytes = bw / 8;
        f->index_signed = sg;
        if (ord) f->flags |= ARROW_FLAG_DICTIONARY_ORDERED;
        for (int i = 0; i < r->ndicts; i++)
            if (r->dicts[i].id == f->dict_id)
                return fail(err, "field %s: dictionary id %lld is used twice", path,
                            (long long)f->dict_id);
        dictent *d = realloc(r->dicts, (size_t)(r->ndicts + 1) * sizeof(dictent));
        if (!d) return oom(err);
        r->dicts = d;
        memset(&d[r->ndicts], 0, sizeof(dictent));
        d[r->ndicts].id = f->dict_id;
        d[r->ndicts].f = NULL; /* set after the tree stops moving */
        r->ndicts++;
        in_dict = 1;
    }
    if (parse_children(r, ft, f, depth, in_dict, path, err)) return -1;
    char fmt[160] = "";
    int nchild = 0; /* expected children; -1 any */
    int16_t unit = 0;
    int32_t i32a = 0, i32b = 0, i32c = 0;
    uint8_t u8a = 0;
    if (!has_type && tt != T_NULL && tt != T_BOOL && tt != T_UTF8 && tt != T_BINARY &&
        tt != T_LARGE_UTF8 && tt != T_LARGE_BINARY && tt != T_LIST && tt != T_LARGE_LIST &&
        tt != T_STRUCT && tt != T_MAP)
        return fail(err, "field %s: type %s has no type table", path, type_name(tt));
    switch (tt) {
    case T_NULL:
        f->kind = K_NULL;
        strcpy(fmt, "n");
        break;
    case T_BOOL:
        f->kind = K_BOOL;
        strcpy(fmt, "b");
        break;
    case T_INT:
        if (fb_i32(&ty, 0, 0, &i32a) || fb_u8(&ty, 1, 0, &u8a))
            return fail(err, "field %s: bad Int", path);
        if (i32a % 8 || !int_format(i32a / 8, u8a))
            return fail(err, "field %s: integer width %d is not 8, 16, 32 or 64", path, i32a);
        f->kind = K_FIXED;
        f->width = i32a / 8;
        strcpy(fmt, int_format(f->width, u8a));
        break;
    case T_FLOAT:
        if (fb_i16(&ty, 0, 0, &unit) || unit < 0 || unit > 2)
            return fail(err, "field %s: bad FloatingPoint precision", path);
        f->kind = K_FIXED;
        f->width = unit == 0 ? 2 : unit == 1 ? 4 : 8;
        strcpy(fmt, unit == 0 ? "e" : unit == 1 ? "f" : "g");
        break;
    case T_DECIMAL:
        if (fb_i32(&ty, 0, 0, &i32a) || fb_i32(&ty, 1, 0, &i32b) || fb_i32(&ty, 2, 128, &i32c))
            return fail(err, "field %s: bad Decimal", path);
        if (i32c != 128)
            return fail(err, "field %s: decimal width %d is not supported (only 128)", path, i32c);
        if (i32a < 1 || i32a > 38 || i32b < 0 || i32b > i32a)
            return fail(err, "field %s: decimal(%d, %d) is out of range", path, i32a, i32b);
        f->kind = K_FIXED;
        f->width = 16;
        snprintf(fmt, sizeof(fmt), "d:%d,%d", i32a, i32b);
        break;
    case T_DATE:
        if (fb_i16(&ty, 0, 1, &unit) || unit < 0 || unit > 1)
            return fail(err, "field %s: bad Date unit", path);
        f->kind = K_FIXED;
        f->width = unit == 0 ? 4 : 8;
        strcpy(fmt, unit == 0 ? "tdD" : "tdm");
        break;
    case T_TIME:
        if (fb_i16(&ty, 0, 1, &unit) || fb_i32(&ty, 1, 32, &i32a) || unit < 0 || unit > 3)
            return fail(err, "field %s: bad Time", path);
        if (i32a != (unit <= TU_MILLI ? 32 : 64))
            return fail(err, "field %s: time width %d does not fit its unit", path, i32a);
        f->kind = K_FIXED;
        f->width = i32a / 8;
        snprintf(fmt, sizeof(fmt), "tt%c", unit_char[unit]);
        break;
    case T_TIMESTAMP: {
        const char *tz = NULL;
        size_t tzl = 0;
        int hz = fb_string(&ty, 1, &tz, &tzl);
        if (fb_i16(&ty, 0, 0, &unit) || unit < 0 || unit > 3 || hz < 0)
            return fail(err, "field %s: bad Timestamp", path);
        if (hz && (tzl > 100 || memchr(tz, 0, tzl)))
            return fail(err, "field %s: bad time zone", path);
        f->kind = K_FIXED;
        f->width = 8;
        snprintf(fmt, sizeof(fmt), "ts%c:%.*s", unit_char[unit], hz ? (int)tzl : 0, hz ? tz : "");
        break;
    }
    case T_DURATION:
        if (fb_i16(&ty, 0, 1, &unit) || unit < 0 || unit > 3)
            return fail(err, "field %s: bad Duration", path);
        f->kind = K_FIXED;
        f->width = 8;
        snprintf(fmt, sizeof(fmt), "tD%c", unit_char[unit]);
        break;
    case T_INTERVAL:
        if (fb_i16(&ty, 0, 0, &unit) || unit < 0 || unit > 2)
            return fail(err, "field %s: bad Interval unit", path);
        f->kind = K_FIXED;
        f->width = unit == 0 ? 4 : unit == 1 ? 8 : 16;
        strcpy(fmt, unit == 0 ? "tiM" : unit == 1 ? "tiD" : "tin");
        break;
    case T_FIXED_BINARY:
        if (fb_i32(&ty, 0, 0, &i32a) || i32a < 1 || i32a > MAX_FIXED_WIDTH)
            return fail(err, "field %s: bad FixedSizeBinary width", path);
        f->kind = K_FIXED;
        f->width = i32a;
        snprintf(fmt, sizeof(fmt), "w:%d", i32a);
        break;
    case T_UTF8:
    case T_BINARY:
        f->kind = K_VAR32;
        f->utf8 = tt == T_UTF8;
        strcpy(fmt, tt == T_UTF8 ? "u" : "z");
        break;
    case T_LARGE_UTF8:
    case T_LARGE_BINARY:
        f->kind = K_VAR64;
        f->utf8 = tt == T_LARGE_UTF8;
        strcpy(fmt, tt == T_LARGE_UTF8 ? "U" : "Z");
        break;
    case T_LIST:
    case T_LARGE_LIST:
        f->kind = tt == T_LIST ? K_LIST32 : K_LIST64;
        strcpy(fmt, tt == T_LIST ? "+l" : "+L");
        nchild = 1;
        break;
    case T_FIXED_LIST:
        if (fb_i32(&ty, 0, 0, &i32a) || i32a < 1 || i32a > MAX_FIXED_WIDTH)
            return fail(err, "field %s: bad FixedSizeList size", path);
        f->kind = K_FSL;
        f->width = i32a;
        snprintf(fmt, sizeof(fmt), "+w:%d", i32a);
        nchild = 1;
        break;
    case T_STRUCT:
        if (f->nchild == 0) return fail(err, "field %s: a struct without fields", path);
        f->kind = K_STRUCT;
        strcpy(fmt, "+s");
        nchild = -1;
        break;
    case T_MAP:
        if (has_type && fb_u8(&ty, 0, 0, &u8a)) return fail(err, "field %s: bad Map", path);
        if (u8a) f->flags |= ARROW_FLAG_MAP_KEYS_SORTED;
        if (f->nchild != 1 || f->child[0].kind != K_STRUCT || f->child[0].nchild != 2 ||
            f->child[0].dict)
            return fail(err, "field %s: a map's child must be a struct of key and value", path);
        f->kind = K_LIST32;
        strcpy(fmt, "+m");
        nchild = 1;
        break;
    default:
        return fail(err, "field %s: Arrow type %s is not supported", path, type_name(tt));
    }
    if (nchild >= 0 && f->nchild != nchild)
        return fail(err, "field %s: %s must have %d child field(s), not %d", path, type_name(tt),
                    nchild, f->nchild);
    if (!(f->format = strdup(fmt))) return oom(err);
    return 0;
}

/* ---- exported schema (owned by the reader) -------------------------------------------------- */

static void schema_release_mark(struct ArrowSchema *s)
{
    s->release = NULL;
}

static int export_schema(afield *f, int is_root, dlb_err *err)
{
    struct ArrowSchema *s = calloc(1, sizeof(*s));
    if (!s) return oom(err);
    f->cs = s;
    s->name = f->name ? f->name : "";
    s->metadata = f->meta;
    s->flags = f->flags;
    s->release = schema_release_mark;
    if (f->nchild && !(s->children = calloc((size_t)f->nchild, sizeof(*s->children))))
        return oom(err);
    for (int i = 0; i < f->nchild; i++) {
        if (export_schema(&f->child[i], 0, err)) return -1;
        s->children[i] = f->child[i].cs;
    }
    if (f->dict) {
        struct ArrowSchema *d = calloc(1, sizeof(*d));
        if (!d) return oom(err);
        f->cs_dict = d;
        *d = *s;
        d->name = "";
        d->metadata = NULL;
        d->flags = ARROW_FLAG_NULLABLE;
        d->format = f->format;
        s->format = int_format(f->index_bytes, f->index_signed);
        s->n_children = 0;
        s->dictionary = d;
        d->n_children = f->nchild;
        s->children = NULL;
    } else {
        s->format = is_root ? "+s" : f->format;
        s->n_children = f->nchild;
    }
    return 0;
}

/* Links each dictionary entry to its field once the tree no longer moves. */
static void link_dicts(ipc_reader *r, afield *f)
{
    if (f->dict)
        for (int i = 0; i < r->ndicts; i++)
            if (r->dicts[i].id == f->dict_id) r->dicts[i].f = f;
    for (int i = 0; i < f->nchild; i++)
        link_dicts(r, &f->child[i]);
}

static int parse_schema(ipc_reader *r, const fb_tab *st, dlb_err *err)
{
    int16_t endian = 0;
    if (fb_i16(st, SCH_ENDIANNESS, 0, &endian)) return fail(err, "bad Schema table");
    if (endian != 0) return fail(err, "big-endian data is not supported");
    fb_vec v;
    int rc = fb_vector(st, SCH_FIELDS, 4, &v);
    if (rc < 0) return fail(err, "bad Schema fields");
    if (rc == 0 || v.len == 0) return fail(err, "the schema has no columns");
    if (v.len > MAX_FIELDS) return fail(err, "more than %d columns", MAX_FIELDS);
    r->root.kind = K_STRUCT;
    r->root.child = calloc(v.len, sizeof(afield));
    if (!r->root.child || !(r->root.format = strdup("+s")) || !(r->root.name = strdup("")))
        return oom(err);
    r->root.nchild = (int)v.len;
    for (uint32_t i = 0; i < v.len; i++) {
        fb_tab ft;
        if (fb_vec_table(&v, i, &ft)) return fail(err, "bad field %u in the schema", i);
        if (parse_field(r, &ft, &r->root.child[i], 1, 0, "", err)) return -1;
    }
    link_dicts(r, &r->root);
    if (export_schema(&r->root, 1, err)) return -1;
    r->cs_root = r->root.cs;
    return 0;
}

/* ---- messages ------------------------------------------------------------------------------- */

typedef struct {
    int type;
    fb_tab header;
    const uint8_t *body;
    int64_t body_len;
    size_t end; /* the position after the body */
} imsg;

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The message at pos (bounded by limit). 1 message, 0 end of stream, -1 malformed. */
static int read_message(const ipc_reader *r, size_t pos, size_t limit, imsg *m, dlb_err *err)
{
    const uint8_t *p = r->src->p;
    if (pos >= limit) return 0;
    if (limit - pos < 4) return fail(err, "truncated message at byte %zu", pos);
    uint32_t len = rd32(p + pos);
    size_t hdr = 4;
    if (len == IPC_CONTINUATION) {
        if (limit - pos < 8) return fail(err, "truncated message at byte %zu", pos);
        len = rd32(p + pos + 4);
        hdr = 8;
    }
    if (len == 0) return 0;
    if (len > INT32_MAX || len > limit - pos - hdr)
        return fail(err, "message at byte %zu: metadata length %u exceeds the %zu bytes left", pos,
                    len, limit - pos - hdr);
    const uint8_t *meta = p + pos + hdr;
    fb_tab msg;
    if (fb_root(meta, len, &msg)) return fail(err, "message at byte %zu: bad flatbuffer", pos);
    int16_t version = 0;
    uint8_t ht = 0;
    int64_t body_len = 0;
    if (fb_i16(&msg, MSG_VERSION, 0, &version) || fb_u8(&msg, MSG_HEADER_TYPE, 0, &ht) ||
        fb_i64(&msg, MSG_BODY_LENGTH, 0, &body_len))
        return fail(err, "message at byte %zu: bad Message table", pos);
    if (version < IPC_V4 || version > IPC_V5)
        return fail(err, "message at byte %zu: metadata version %d is not supported (V4, V5)", pos,
                    version + 1);
    size_t body_at = pos + hdr + len;
    if (body_len < 0 || (uint64_t)body_len > limit - body_at)
        return fail(err, "message at byte %zu: body length %lld exceeds the %zu bytes left", pos,
                    (long long)body_len, limit - body_at);
    int hr = fb_table(&msg, MSG_HEADER, &m->header);
    if (hr <= 0) return fail(err, "message at byte %zu: no header", pos);
    m->type = ht;
    m->body = p + body_at;
    m->body_len = body_len;
    m->end = body_at + (size_t)body_len;
    return 1;
}

/* ---- record batches ------------------------------------------------------------------------- */

typedef struct {
    const uint8_t *body;
    int64_t body_len;
    fb_vec nodes, bufs;
    uint32_t ni, bi;
    arena *a;
    ipc_reader *r;
} dctx;

static int next_node(dctx *c, int64_t *len, int64_t *nulls, const char *name, dlb_err *err)
{
    if (c->ni >= c->nodes.len)
        return fail(err, "column '%s': the batch has too few field nodes", name);
    const uint8_t *e = fb_vec_at(&c->nodes, c->ni++, IPC_FIELD_NODE_SIZE);
    memcpy(len, e, 8);
    memcpy(nulls, e + 8, 8);
    if (*len < 0 || *len > MAX_BATCH_ROWS)
        return fail(err, "column '%s': length %lld is out of range", name, (long long)*len);
    if (*nulls < 0 || *nulls > *len)
        return fail(err, "column '%s': null count %lld is out of range", name, (long long)*nulls);
    return 0;
}

/* The next buffer, at least min bytes (absent when min is 0 and it is empty): *out NULL or a
 * pointer to 8-byte-aligned memory. */
static int next_buf(dctx *c, int64_t min, const void **out, int64_t *have, const char *name,
                    dlb_err *err)
{
    if (c->bi >= c->bufs.len) return fail(err, "column '%s': the batch has too few buffers", name);
    const uint8_t *e = fb_vec_at(&c->bufs, c->bi++, IPC_BUFFER_SIZE);
    int64_t off, len;
    memcpy(&off, e, 8);
    memcpy(&len, e + 8, 8);
    if (off < 0 || len < 0 || off > c->body_len || len > c->body_len - off)
        return fail(err, "column '%s': buffer [%lld, +%lld) lies outside the %lld-byte body", name,
                    (long long)off, (long long)len, (long long)c->body_len);
    if (len < min)
        return fail(err, "column '%s': buffer of %lld bytes, %lld needed", name, (long long)len,
                    (long long)min);
    if (have) *have = len;
    if (len == 0) {
        *out = NULL;
        return 0;
    }
    const uint8_t *p = c->body + off;
    if ((uintptr_t)p % 8) { /* misaligned: copy */
        void *cp = arena_alloc(c->a, (size_t)len);
        if (!cp) return oom(err);
        memcpy(cp, p, (size_t)len);
        p = cp;
    }
    *out = p;
    return 0;
}

static const int64_t zero_offsets[1];

static int utf8_ok(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k;
        uint32_t cp;
        if ((c & 0xE0) == 0xC0) {
            k = 1;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            k = 2;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            k = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i <= k) return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

static inline int bit(const uint8_t *v, int64_t i)
{
    return !v || ((v[i >> 3] >> (i & 7)) & 1);
}

/* Offsets (n+1 entries, 4 or 8 bytes): first >= 0, non-decreasing, last <= limit (limit < 0:
 * no limit). *last gets the last one. */
static int check_offsets(const void *off, int wide, int64_t n, int64_t limit, int64_t *last,
                         const char *name, dlb_err *err)
{
    int64_t prev = 0;
    for (int64_t i = 0; i <= n; i++) {
        int64_t o = wide ? ((const int64_t *)off)[i] : ((const int32_t *)off)[i];
        if (o < 0 || (i && o < prev))
            return fail(err, "column '%s': offset %lld at %lld is negative or decreasing", name,
                        (long long)o, (long long)i);
        prev = o;
    }
    if (limit >= 0 && prev > limit)
        return fail(err, "column '%s': offsets reach %lld, past the %lld available", name,
                    (long long)prev, (long long)limit);
    *last = prev;
    return 0;
}

static const dictent *find_dict(const ipc_reader *r, int64_t id)
{
    for (int i = 0; i < r->ndicts; i++)
        if (r->dicts[i].id == id) return &r->dicts[i];
    return NULL;
}

static int decode(dctx *c, const afield *f, int as_value, int64_t need, anode *n, dlb_err *err);

static int decode_indices(dctx *c, const afield *f, int64_t len, anode *n, dlb_err *err)
{
    const char *name = f->name;
    const dictent *d = find_dict(c->r, f->dict_id);
    if (!d || !d->a)
        return fail(err, "column '%s': dictionary %lld has not been sent", name,
                    (long long)f->dict_id);
    const void *idx;
    if (next_buf(c, len * f->index_bytes, &idx, NULL, name, err)) return -1;
    if (!idx) idx = zero_offsets; /* len == 0 */
    const uint8_t *valid = n->null_count ? n->buf[0] : NULL;
    int copied = 0;
    for (int64_t i = 0; i < len; i++) {
        uint64_t v;
        int64_t s;
        switch (f->index_bytes) {
        case 1:
            if (f->index_signed)
                s = ((const int8_t *)idx)[i];
            else
                s = ((const uint8_t *)idx)[i];
            break;
        case 2:
            if (f->index_signed)
                s = ((const int16_t *)idx)[i];
            else
                s = ((const uint16_t *)idx)[i];
            break;
        case 4:
            if (f->index_signed)
                s = ((const int32_t *)idx)[i];
            else
                s = ((const uint32_t *)idx)[i];
            break;
        default:
            memcpy(&v, (const uint64_t *)idx + i, 8);
            s = f->index_signed || v <= INT64_MAX ? (int64_t)v : -1;
            break;
        }
        if (s >= 0 && s < d->length) continue;
        if (bit(valid, i))
            return fail(err,
                        "column '%s': dictionary index %lld at row %lld is outside the "
                        "%lld-entry dictionary",
                        name, (long long)s, (long long)i, (long long)d->length);
        /* a null slot with garbage: zero it in a copy, the consumer may still look it up */
        if (!copied) {
            void *cp = arena_alloc(c->a, (size_t)(len * f->index_bytes));
            if (!cp) return oom(err);
            memcpy(cp, idx, (size_t)(len * f->index_bytes));
            idx = cp;
            copied = 1;
        }
        memset((uint8_t *)idx + i * f->index_bytes, 0, (size_t)f->index_bytes);
    }
    if (d->length == 0 && len > n->null_count)
        return fail(err, "column '%s': rows refer to an empty dictionary", name);
    n->buf[1] = idx;
    n->nbuf = 2;
    n->dict = d;
    return 0;
}

static int decode(dctx *c, const afield *f, int as_value, int64_t need, anode *n, dlb_err *err)
{
    const char *name = f->name;
    int64_t len = 0, nulls = 0;
    if (next_node(c, &len, &nulls, name, err)) return -1;
    if (len < need)
        return fail(err, "column '%s': %lld values, %lld needed", name, (long long)len,
                    (long long)need);
    n->length = len;
    n->null_count = nulls;
    if (f->kind == K_NULL && !(f->dict && !as_value)) {
        n->null_count = len;
        return 0;
    }
    const void *valid;
    if (next_buf(c, nulls ? (len + 7) / 8 : 0, &valid, NULL, name, err)) return -1;
    if (nulls && !valid)
        return fail(err, "column '%s': %lld nulls but no validity bitmap", name, (long long)nulls);
    n->buf[0] = nulls ? valid : NULL;
    n->nbuf = 1;
    if (f->dict && !as_value) return decode_indices(c, f, len, n, err);
    const uint8_t *vb = n->buf[0];
    switch (f->kind) {
    case K_BOOL:
    case K_FIXED: {
        int64_t bytes = f->kind == K_BOOL ? (len + 7) / 8 : len * f->width;
        const void *data;
        if (next_buf(c, bytes, &data, NULL, name, err)) return -1;
        n->buf[1] = data ? data : zero_offsets;
        n->nbuf = 2;
        return 0;
    }
    case K_VAR32:
    case K_VAR64: {
        int wide = f->kind == K_VAR64;
        const void *off, *data;
        int64_t have, last;
        if (next_buf(c, len ? (len + 1) * (wide ? 8 : 4) : 0, &off, NULL, name, err) ||
            next_buf(c, 0, &data, &have, name, err))
            return -1;
        /* No rows: the one offset may sit in a buffer shorter than an entry (found by the
         * fuzzer); it carries nothing, so a zero stands in for it. */
        if (!off || len == 0) off = zero_offsets;
        if (!data) data = zero_offsets; /* empty: have == 0, so every offset is 0 */
        if (check_offsets(off, wide, len, have, &last, name, err)) return -1;
        if (f->utf8) {
            for (int64_t i = 0; i < len; i++) {
                if (!bit(vb, i)) continue;
                int64_t a = wide ? ((const int64_t *)off)[i] : ((const int32_t *)off)[i];
                int64_t b = wide ? ((const int64_t *)off)[i + 1] : ((const int32_t *)off)[i + 1];
                if (!utf8_ok((const uint8_t *)data + a, (size_t)(b - a)))
                    return fail(err, "column '%s': row %lld is not valid UTF-8", name,
                                (long long)i);
            }
        }
        n->buf[1] = off;
        n->buf[2] = data;
        n->nbuf = 3;
        return 0;
    }
    case K_LIST32:
    case K_LIST64: {
        int wide = f->kind == K_LIST64;
        const void *off;
        int64_t last;
        if (next_buf(c, len ? (len + 1) * (wide ? 8 : 4) : 0, &off, NULL, name, err)) return -1;
        if (!off || len == 0) off = zero_offsets; /* as for strings: no rows, no offsets */
        if (check_offsets(off, wide, len, -1, &last, name, err)) return -1;
        n->buf[1] = off;
        n->nbuf = 2;
        n->child = arena_alloc(c->a, sizeof(anode));
        if (!n->child) return oom(err);
        n->nchild = 1;
        return decode(c, &f->child[0], 0, last, n->child, err);
    }
    case K_FSL:
        n->child = arena_alloc(c->a, sizeof(anode));
        if (!n->child) return oom(err);
        n->nchild = 1;
        return decode(c, &f->child[0], 0, len * f->width, n->child, err);
    case K_STRUCT:
        n->child = arena_alloc(c->a, (size_t)f->nchild * sizeof(anode));
        if (!n->child) return oom(err);
        n->nchild = f->nchild;
        for (int i = 0; i < f->nchild; i++)
            if (decode(c, &f->child[i], 0, len, &n->child[i], err)) return -1;
        return 0;
    default:
        return fail(err, "column '%s': unexpected type", name);
    }
}

/* A RecordBatch table into root (a struct node whose children are the columns of fields). */
static int decode_batch(ipc_reader *r, const fb_tab *rb, const uint8_t *body, int64_t body_len,
                        const afield *fields, int as_value, arena *a, anode *root, dlb_err *err)
{
    dctx c = {.body = body, .body_len = body_len, .a = a, .r = r};
    int64_t length = 0;
    fb_tab comp;
    if (fb_i64(rb, RB_LENGTH, 0, &length)) return fail(err, "bad RecordBatch table");
    if (length < 0 || length > MAX_BATCH_ROWS)
        return fail(err, "record batch length %lld is out of range", (long long)length);
    int hc = fb_table(rb, RB_COMPRESSION, &comp);
    if (hc < 0) return fail(err, "bad RecordBatch compression");
    if (hc) return fail(err, "compressed record batches (LZ4, ZSTD) are not supported");
    if (fb_vector(rb, RB_NODES, IPC_FIELD_NODE_SIZE, &c.nodes) < 0 ||
        fb_vector(rb, RB_BUFFERS, IPC_BUFFER_SIZE, &c.bufs) < 0)
        return fail(err, "bad RecordBatch nodes or buffers");
    root->length = length;
    root->null_count = 0;
    root->nbuf = 1;
    root->buf[0] = NULL;
    root->nchild = fields->nchild;
    root->child = arena_alloc(a, (size_t)fields->nchild * sizeof(anode));
    if (!root->child) return oom(err);
    for (int i = 0; i < fields->nchild; i++)
        if (decode(&c, &fields->child[i], as_value, length, &root->child[i], err)) return -1;
    if (c.ni != c.nodes.len || c.bi != c.bufs.len)
        return fail(err,
                    "record batch has %u field nodes and %u buffers, the schema takes %u and %u",
                    c.nodes.len, c.bufs.len, c.ni, c.bi);
    return 0;
}

static int load_dictionary(ipc_reader *r, const imsg *m, dlb_err *err)
{
    int64_t id = 0;
    uint8_t delta = 0;
    fb_tab data;
    if (fb_i64(&m->header, DB_ID, 0, &id) || fb_u8(&m->header, DB_DELTA, 0, &delta))
        return fail(err, "bad DictionaryBatch table");
    dictent *d = NULL;
    for (int i = 0; i < r->ndicts; i++)
        if (r->dicts[i].id == id) d = &r->dicts[i];
    if (!d || !d->f) return fail(err, "dictionary batch for unknown id %lld", (long long)id);
    if (delta)
        return fail(err, "delta dictionaries are not supported (dictionary %lld)", (long long)id);
    if (fb_table(&m->header, DB_DATA, &data) <= 0)
        return fail(err, "dictionary batch without data");
    arena *a = arena_new(r->src);
    if (!a) return oom(err);
    /* a one-column batch of the field's value type */
    afield holder;
    memset(&holder, 0, sizeof(holder));
    holder.nchild = 1;
    holder.child = (afield *)d->f;
    anode *root = arena_alloc(a, sizeof(anode));
    if (!root || decode_batch(r, &data, m->body, m->body_len, &holder, 1, a, root, err)) {
        if (!root) oom(err);
        arena_unref(a);
        return -1;
    }
    arena_unref(d->a);
    d->a = a;
    d->values = &root->child[0];
    d->length = root->child[0].length;
    return 0;
}

/* ---- exported arrays ------------------------------------------------------------------------ */

typedef struct {
    arena *a;
    struct ArrowArray *kids;
    struct ArrowArray **kidp;
    struct ArrowArray *dict;
} xpriv;

static void array_release(struct ArrowArray *x)
{
    xpriv *p = x->private_data;
    for (int64_t i = 0; i < x->n_children; i++)
        if (p->kids[i].release) p->kids[i].release(&p->kids[i]);
    if (p->dict && p->dict->release) p->dict->release(p->dict);
    arena_unref(p->a);
    free(p->kids);
    free(p->kidp);
    free(p->dict);
    free(p);
    x->release = NULL;
}

static int export_array(const anode *n, arena *a, struct ArrowArray *x)
{
    memset(x, 0, sizeof(*x));
    xpriv *p = calloc(1, sizeof(*p));
    if (!p) return -1;
    p->a = a;
    arena_ref(a);
    x->length = n->length;
    x->null_count = n->null_count;
    x->n_buffers = n->nbuf;
    x->buffers = (const void **)n->buf;
    x->private_data = p;
    x->release = array_release;
    if (n->nchild) {
        p->kids = calloc((size_t)n->nchild, sizeof(struct ArrowArray));
        p->kidp = calloc((size_t)n->nchild, sizeof(struct ArrowArray *));
        if (!p->kids || !p->kidp) goto fail;
        x->n_children = n->nchild;
        x->children = p->kidp;
        for (int i = 0; i < n->nchild; i++) {
            p->kidp[i] = &p->kids[i];
            if (export_array(&n->child[i], a, &p->kids[i])) goto fail;
        }
    }
    if (n->dict) {
        p->dict = calloc(1, sizeof(struct ArrowArray));
        if (!p->dict || export_array(n->dict->values, n->dict->a, p->dict)) goto fail;
        x->dictionary = p->dict;
    }
    return 0;
fail:
    array_release(x);
    return -1;
}

/* ---- reading -------------------------------------------------------------------------------- */

static int read_file_dictionaries(ipc_reader *r, size_t limit, dlb_err *err)
{
    for (uint32_t i = 0; i < r->dict_blocks.len; i++) {
        const uint8_t *b = fb_vec_at(&r->dict_blocks, i, IPC_BLOCK_SIZE);
        int64_t off;
        memcpy(&off, b, 8);
        if (off < 8 || (uint64_t)off >= limit)
            return fail(err, "dictionary block %u: offset %lld is outside the file", i,
                        (long long)off);
        imsg m;
        int rc = read_message(r, (size_t)off, limit, &m, err);
        if (rc < 0) return -1;
        if (rc == 0 || m.type != MH_DICTIONARY_BATCH)
            return fail(err, "dictionary block %u is not a dictionary batch", i);
        if (load_dictionary(r, &m, err)) return -1;
    }
    return 0;
}

static ipc_reader *open_source(source *s, dlb_err *err)
{
    ipc_reader *r = calloc(1, sizeof(*r));
    if (!r) {
        oom(err);
        source_unref(s);
        return NULL;
    }
    r->src = s;
    const uint8_t *p = s->p;
    size_t n = s->n;
    fb_tab schema;
    if (n >= 6 && memcmp(p, IPC_MAGIC, 6) == 0) {
        r->file = 1;
        if (n < 8 + 4 + 6 || memcmp(p + n - 6, IPC_MAGIC, 6) != 0) {
            fail(err, "file format without the closing ARROW1 magic (truncated?)");
            goto fail;
        }
        uint32_t flen = rd32(p + n - 10);
        if (flen == 0 || flen > n - 10 - 8) {
            fail(err, "footer length %u does not fit the file", flen);
            goto fail;
        }
        size_t fstart = n - 10 - flen;
        fb_tab footer;
        if (fb_root(p + fstart, flen, &footer)) {
            fail(err, "bad footer flatbuffer");
            goto fail;
        }
        if (fb_table(&footer, FT_SCHEMA, &schema) <= 0) {
            fail(err, "the footer has no schema");
            goto fail;
        }
        int a = fb_vector(&footer, FT_DICTIONARIES, IPC_BLOCK_SIZE, &r->dict_blocks);
        int b = fb_vector(&footer, FT_RECORD_BATCHES, IPC_BLOCK_SIZE, &r->batch_blocks);
        if (a < 0 || b < 0) {
            fail(err, "bad footer blocks");
            goto fail;
        }
        if (parse_schema(r, &schema, err)) goto fail;
        if (read_file_dictionaries(r, fstart, err)) goto fail;
        return r;
    }
    imsg m;
    int rc = read_message(r, 0, n, &m, err);
    if (rc < 0) goto fail;
    if (rc == 0 || m.type != MH_SCHEMA) {
        fail(err, "the stream does not start with a Schema message");
        goto fail;
    }
    if (parse_schema(r, &m.header, err)) goto fail;
    r->start = r->pos = m.end;
    return r;
fail:
    ipc_reader_close(r);
    return NULL;
}

ipc_reader *ipc_reader_open_mem(const void *data, size_t len, dlb_err *err)
{
    source *s = calloc(1, sizeof(*s));
    if (!s) {
        oom(err);
        return NULL;
    }
    atomic_init(&s->refs, 1);
    s->p = data;
    s->n = len;
    if (!len) {
        free(s);
        fail(err, "the input is empty");
        return NULL;
    }
    return open_source(s, err);
}

ipc_reader *ipc_reader_open_path(const char *path, dlb_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st)) {
        dlb_err_set(err, 500, "internal_error", "cannot read the body: %s", strerror(errno));
        if (fd >= 0) close(fd);
        return NULL;
    }
    if (st.st_size == 0) {
        close(fd);
        fail(err, "the input is empty");
        return NULL;
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        dlb_err_set(err, 500, "internal_error", "cannot map the body: %s", strerror(errno));
        return NULL;
    }
    source *s = calloc(1, sizeof(*s));
    if (!s) {
        munmap(map, (size_t)st.st_size);
        oom(err);
        return NULL;
    }
    madvise(map, (size_t)st.st_size, MADV_SEQUENTIAL);
    atomic_init(&s->refs, 1);
    s->p = map;
    s->n = (size_t)st.st_size;
    s->map = map;
    return open_source(s, err);
}

const struct ArrowSchema *ipc_reader_schema(const ipc_reader *r)
{
    return r->cs_root;
}

static int emit_batch(ipc_reader *r, const imsg *m, struct ArrowArray *out, dlb_err *err)
{
    arena *a = arena_new(r->src);
    if (!a) return oom(err);
    anode *root = arena_alloc(a, sizeof(anode));
    if (!root) {
        arena_unref(a);
        return oom(err);
    }
    if (decode_batch(r, &m->header, m->body, m->body_len, &r->root, 0, a, root, err)) {
        arena_unref(a);
        return -1;
    }
    int rc = export_array(root, a, out);
    arena_unref(a); /* the arrays hold their own references */
    return rc ? oom(err) : 0;
}

int ipc_reader_next(ipc_reader *r, struct ArrowArray *out, dlb_err *err)
{
    memset(out, 0, sizeof(*out));
    if (r->done) return 0;
    if (r->file) {
        size_t limit = r->src->n - 10 - rd32(r->src->p + r->src->n - 10);
        if (r->next_block >= r->batch_blocks.len) {
            r->done = 1;
            return 0;
        }
        uint32_t i = r->next_block++;
        const uint8_t *b = fb_vec_at(&r->batch_blocks, i, IPC_BLOCK_SIZE);
        int64_t off;
        memcpy(&off, b, 8);
        if (off < 8 || (uint64_t)off >= limit)
            return fail(err, "record batch block %u: offset %lld is outside the file", i,
                        (long long)off);
        imsg m;
        int rc = read_message(r, (size_t)off, limit, &m, err);
        if (rc < 0) return -1;
        if (rc == 0 || m.type != MH_RECORD_BATCH)
            return fail(err, "record batch block %u is not a record batch", i);
        return emit_batch(r, &m, out, err);
    }
    for (;;) {
        imsg m;
        int rc = read_message(r, r->pos, r->src->n, &m, err);
        if (rc < 0) return -1;
        if (rc == 0) {
            r->done = 1;
            return 0;
        }
        size_t at = r->pos;
        r->pos = m.end;
        switch (m.type) {
        case MH_RECORD_BATCH:
            return emit_batch(r, &m, out, err);
        case MH_DICTIONARY_BATCH:
            if (load_dictionary(r, &m, err)) return -1;
            break;
        case MH_SCHEMA:
            return fail(err, "a second Schema message at byte %zu", at);
        default:
            return fail(err, "message type %d at byte %zu is not supported", m.type, at);
        }
    }
}

void ipc_reader_rewind(ipc_reader *r)
{
    r->pos = r->start;
    r->next_block = 0;
    r->done = 0;
}

/* ---- ArrowArrayStream ----------------------------------------------------------------------- */

static int stream_get_schema(struct ArrowArrayStream *st, struct ArrowSchema *out)
{
    ipc_reader *r = st->private_data;
    *out = *r->cs_root;
    out->release = schema_release_mark;
    return 0;
}

static int stream_get_next(struct ArrowArrayStream *st, struct ArrowArray *out)
{
    ipc_reader *r = st->private_data;
    dlb_err e = {0};
    if (ipc_reader_next(r, out, &e) == 0) return 0;
    snprintf(r->errmsg, sizeof(r->errmsg), "%s", e.detail);
    return EINVAL;
}

static const char *stream_last_error(struct ArrowArrayStream *st)
{
    ipc_reader *r = st->private_data;
    return r->errmsg[0] ? r->errmsg : NULL;
}

static void stream_release(struct ArrowArrayStream *st)
{
    st->release = NULL;
}

void ipc_reader_stream(ipc_reader *r, struct ArrowArrayStream *out)
{
    out->get_schema = stream_get_schema;
    out->get_next = stream_get_next;
    out->get_last_error = stream_last_error;
    out->release = stream_release;
    out->private_data = r;
}

void ipc_reader_close(ipc_reader *r)
{
    if (!r) return;
    for (int i = 0; i < r->ndicts; i++)
        arena_unref(r->dicts[i].a);
    free(r->dicts);
    afield_free(&r->root);
    source_unref(r->src);
    free(r);
}
