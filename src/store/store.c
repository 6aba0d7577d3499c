/* The store facade: validates names, picks the driver, times and counts every call. */
#include "store_internal.h"

#include "obs/obs.h"

#include "util/clock.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct store {
    const store_driver *drv;
    void *d;
    store_counters counters;
};

store_t *store_open(const store_options *opt, dlb_err *e)
{
    store_t *s = calloc(1, sizeof(*s));
    if (!s) {
        dlb_err_set(e, 500, "internal_error", "out of memory");
        return NULL;
    }
    const char *backend = opt->backend ? opt->backend : "local";
    if (strcmp(backend, "s3") == 0) {
        s->drv = &store_s3_driver;
        s->d = store_s3_open(opt, &s->counters, e);
    } else if (strcmp(backend, "local") == 0) {
        s->drv = &store_local_driver;
        s->d = store_local_open(opt, &s->counters, e);
    } else {
        dlb_err_set(e, 500, "invalid_config", "STORAGE_BACKEND=%s is not local or s3", backend);
    }
    if (!s->d) {
        free(s);
        return NULL;
    }
    return s;
}

void store_close(store_t *s)
{
    if (!s) return;
    s->drv->close(s->d);
    free(s);
}

const char *store_backend(const store_t *s)
{
    return s->drv->name;
}

void store_get_stats(const store_t *s, store_stats *out)
{
    const store_counters *c = &s->counters;
    out->ops = atomic_load(&c->ops);
    out->errors = atomic_load(&c->errors);
    out->retries = atomic_load(&c->retries);
    out->breaker_opens = atomic_load(&c->breaker_opens);
    out->fast_fails = atomic_load(&c->fast_fails);
    out->bytes_in = atomic_load(&c->bytes_in);
    out->bytes_out = atomic_load(&c->bytes_out);
    out->op_ns = atomic_load(&c->op_ns);
}

/* ---- names ---------------------------------------------------------------------------- */

int store_bucket_name_ok(const char *b, dlb_err *e)
{
    size_t n = b ? strlen(b) : 0;
    const char *why = NULL;
    if (n < 3 || n > STORE_BUCKET_MAX)
        why = "must be 3 to 63 characters long";
    else if (!isalnum((unsigned char)b[0]) || !isalnum((unsigned char)b[n - 1]))
        why = "must start and end with a lowercase letter or a digit";
    else if (strstr(b, "..") || strstr(b, ".-") || strstr(b, "-."))
        why = "must not contain '..', '.-' or '-.'";
    for (size_t i = 0; !why && i < n; i++)
        if (!(islower((unsigned char)b[i]) || isdigit((unsigned char)b[i]) || b[i] == '-' ||
              b[i] == '.'))
            why = "may only contain lowercase letters, digits, '-' and '.'";
    if (!why) {
        unsigned a, bb, c, d;
        char tail;
        if (sscanf(b, "%u.%u.%u.%u%c", &a, &bb, &c, &d, &tail) == 4)
            why = "must not look like an IP address";
    }
    if (!why) return 0;
    dlb_err_set(e, 400, "invalid_bucket_name", "bucket name '%.80s' %s", b ? b : "", why);
    return -1;
}

/* Length of the UTF-8 sequence at p (1-4), or 0 when it is not valid UTF-8 (overlong forms,
 * surrogates and code points above U+10FFFF included). */
static size_t utf8_len(const unsigned char *p)
{
    if (p[0] < 0x80) return 1;
    if (p[0] >= 0xC2 && p[0] <= 0xDF) return (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (p[0] >= 0xE0 && p[0] <= 0xEF) {
        unsigned lo = p[0] == 0xE0 ? 0xA0 : 0x80, hi = p[0] == 0xED ? 0x9F : 0xBF;
        return p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (p[0] >= 0xF0 && p[0] <= 0xF4) {
        unsigned lo = p[0] == 0xF0 ? 0x90 : 0x80, hi = p[0] == 0xF4 ? 0x8F : 0xBF;
        return p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 && (p[3] & 0xC0) == 0x80 ? 4 : 0;
    }
    return 0;
}

int store_key_ok(const char *key, dlb_err *e)
{
    size_t n = key ? strlen(key) : 0;
    const char *why = NULL;
    if (n == 0 || n > STORE_KEY_MAX)
        why = "must be 1 to 1024 bytes long";
    else if (key[0] == '/')
        why = "must not start with '/'";
    for (size_t i = 0; !why && i < n;) {
        const unsigned char *p = (const unsigned char *)key + i;
        size_t l = utf8_len(p);
        if (!l)
            why = "is not valid UTF-8";
        else if (p[0] < 0x20 || p[0] == 0x7F || (p[0] == 0xC2 && p[1] < 0xA0))
            why = "must not contain control characters";
        i += l ? l : 1;
    }
    /* Segments: none empty ("//", a trailing "/"), none "." or "..". */
    for (const char *seg = key; !why && seg;) {
        const char *slash = strchr(seg, '/');
        size_t len = slash ? (size_t)(slash - seg) : strlen(seg);
        if (len == 0)
            why = "must not contain empty segments ('//' or a trailing '/')";
        else if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
            why = "must not contain '.' or '..' segments";
        seg = slash ? slash + 1 : NULL;
    }
    if (!why) return 0;
    /* The name may hold anything: show a printable prefix only. */
    char shown[81];
    size_t j = 0;
    for (size_t i = 0; key && key[i] && j < sizeof(shown) - 1; i++)
        shown[j++] = (unsigned char)key[i] < 0x20 || key[i] == 0x7F ? '?' : key[i];
    shown[j] = 0;
    dlb_err_set(e, 400, "invalid_object_name", "object name '%s' %s", shown, why);
    return -1;
}

/* ---- ranges --------------------------------------------------------------------------- */

static int parse_u64(const char *p, const char *end, int64_t *out)
{
    if (p == end || end - p > 18) return -1;
    int64_t v = 0;
    for (; p < end; p++) {
        if (!isdigit((unsigned char)*p)) return -1;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return 0;
}

void store_range_parse(const char *h, store_range *r)
{
    memset(r, 0, sizeof(*r));
    if (!h) return;
    while (*h == ' ')
        h++;
    if (strncmp(h, "bytes=", 6) != 0) return;
    h += 6;
    const char *end = h + strlen(h);
    while (end > h && end[-1] == ' ')
        end--;
    const char *dash = memchr(h, '-', (size_t)(end - h));
    if (!dash || memchr(h, ',', (size_t)(end - h))) return; /* several ranges: whole object */
    int64_t a = -1, b = -1;
    if (dash == h) { /* -n */
        if (parse_u64(dash + 1, end, &b)) return;
        r->set = 1;
        r->first = -1;
        r->last = -1;
        r->suffix = (uint64_t)b;
        return;
    }
    if (parse_u64(h, dash, &a)) return;
    if (dash + 1 < end && parse_u64(dash + 1, end, &b)) return;
    if (b >= 0 && b < a) return; /* invalid syntax: ignored, like any malformed Range */
    r->set = 1;
    r->first = a;
    r->last = b;
}

int store_range_resolve(const store_range *r, uint64_t size, uint64_t *off, uint64_t *len)
{
    if (!r || !r->set) {
        *off = 0;
        *len = size;
        return 0;
    }
    if (r->first < 0) {
        if (r->suffix == 0 || size == 0) return -1;
        uint64_t n = r->suffix < size ? r->suffix : size;
        *off = size - n;
        *len = n;
        return 0;
    }
    if ((uint64_t)r->first >= size) return -1;
    uint64_t last = r->last < 0 || (uint64_t)r->last >= size ? size - 1 : (uint64_t)r->last;
    *off = (uint64_t)r->first;
    *len = last - *off + 1;
    return 0;
}

/* ---- listings ------------------------------------------------------------------------- */

void store_hex(const unsigned char *in, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[in[i] >> 4];
        out[2 * i + 1] = hx[in[i] & 15];
    }
    out[2 * n] = 0;
}

int store_listing_add(store_listing *l, const char *key, uint64_t size, const char *etag,
                      const char *ctype, int64_t mtime_ms)
{
    /* Grows by doubling: listings hold at most 1000 entries. */
    if ((l->nobjects & (l->nobjects - 1)) == 0) {
        size_t cap = l->nobjects ? l->nobjects * 2 : 16;
        store_object *o = realloc(l->objects, cap * sizeof(*o));
        if (!o) return -1;
        l->objects = o;
    }
    store_object *o = &l->objects[l->nobjects];
    memset(o, 0, sizeof(*o));
    o->key = strdup(key);
    if (!o->key) return -1;
    o->size = size;
    snprintf(o->etag, sizeof(o->etag), "%s", etag ? etag : "");
    snprintf(o->content_type, sizeof(o->content_type), "%s", ctype ? ctype : "");
    o->mtime_ms = mtime_ms;
    l->nobjects++;
    return 0;
}

int store_listing_add_prefix(store_listing *l, const char *prefix)
{
    if ((l->nprefixes & (l->nprefixes - 1)) == 0) {
        size_t cap = l->nprefixes ? l->nprefixes * 2 : 16;
        char **p = realloc(l->prefixes, cap * sizeof(*p));
        if (!p) return -1;
        l->prefixes = p;
    }
    l->prefixes[l->nprefixes] = strdup(prefix);
    if (!l->prefixes[l->nprefixes]) return -1;
    l->nprefixes++;
    return 0;
}

void store_listing_free(store_listing *l)
{
    if (!l) return;
    for (size_t i = 0; i < l->nobjects; i++)
        free(l->objects[i].key);
    for (size_t i = 0; i < l->nprefixes; i++)
        free(l->prefixes[i]);
    free(l->objects);
    free(l->prefixes);
    free(l->next_token);
    memset(l, 0, sizeof(*l));
}

/* ---- calls ---------------------------------------------------------------------------- */

/* Every call goes through here: timing and counting in one place, and the latency and
 * errors of the store as a dependency (/metrics, /metrics/performance). An answer such as
 * "no such key" is the store working; only failures of the store count as errors there. */
static int finish_op(store_t *s, const char *op, uint64_t t0, int rc, const dlb_err *e)
{
    uint64_t ns = clock_mono_ns() - t0;
    atomic_fetch_add(&s->counters.ops, 1);
    atomic_fetch_add(&s->counters.op_ns, ns);
    if (rc < 0) atomic_fetch_add(&s->counters.errors, 1);
    obs_dep_observe("object_store", op, ns, rc >= 0 || (e && e->status && e->status < 500));
    return rc;
}
/* The operation is the calling function's name without "store_" (store_get: "get"). */
#define finish(s, t0, rc) finish_op((s), __func__ + 6, (t0), (rc), e)

int store_bucket_create(store_t *s, const char *bucket, dlb_err *e)
{
    if (store_bucket_name_ok(bucket, e)) return -1;
    uint64_t t0 = clock_mono_ns();
    return finish(s, t0, s->drv->bucket_create(s->d, bucket, e));
}

int store_bucket_exists(store_t *s, const char *bucket, dlb_err *e)
{
    if (store_bucket_name_ok(bucket, e)) return -1;
    uint64_t t0 = clock_mono_ns();
    return finish(s, t0, s->drv->bucket_exists(s->d, bucket, e));
}

int store_bucket_delete(store_t *s, const char *bucket, dlb_err *e)
{
    if (store_bucket_name_ok(bucket, e)) return -1;
    uint64_t t0 = clock_mono_ns();
    return finish(s, t0, s->drv->bucket_delete(s->d, bucket, e));
}

int store_put_file(store_t *s, const char *bucket, const char *key, const char *path,
                   uint64_t offset, uint64_t size, const char *ctype, store_object *out, dlb_err *e)
{
    if (store_bucket_name_ok(bucket, e) || store_key_ok(key, e)) return -1;
    uint64_t t0 = clock_mono_ns();
    store_object tmp;
    if (!out) out = &tmp;
    memset(out, 0, sizeof(*out));
    if (!ctype || !*ctype) ctype = "application/octet-stream";
    int rc = s->drv->put_file(s->d, bucket, key, path, offset, size, ctype, out, e);
    if (rc == 0) atomic_fetch_add(&s->counters.bytes_in, size);
    return finish(s, t0, rc);
}

struct store_writer {
    store_t *s;
    void *w;
    uint64_t t0, bytes;
};

store_writer *store_writer_open(store_t *s, const char *bucket, const char *key,
                                const char *content_type, uint64_t size_hint, dlb_err *e)
{
    if (store_bucket_name_ok(bucket, e) || store_key_ok(key, e)) return NULL;
    store_writer *w = calloc(1, sizeof(*w));
    if (!w) {
        dlb_err_set(e, 500, "internal_error", "out of memory");
        return NULL;
    }
    w->s = s;
    w->t0 = clock_mono_ns();
    if (!content_type || !*content_type) content_type = "application/octet-stream";
    w->w = s->drv->writer_open(s->d, bucket, key, content_type, size_hint, e);
    if (!w->w) {
        finish_op(s, "put_stream", w->t0, -1, e);
        free(w);
        return NULL;
    }
    return w;
}

int store_writer_write(store_writer *w, const void *p, size_t n, dlb_err *e)
{
    if (!n) return 0;
    if (w->s->drv->writer_write(w->w, p, n, e)) return -1;
    w->bytes += n;
    return 0;
}

int store_writer_finish(store_writer *w, store_object *out, dlb_err *e)
{
    store_t *s = w->s;
    store_object tmp;
    if (!out) out = &tmp;
    memset(out, 0, sizeof(*out));
    int rc = s->drv->writer_finish(w->w, out, e);
    if (rc == 0) atomic_fetch_add(&s->counters.bytes_in, w->bytes);
    /* The whole upload is one operation, client pace included. */
    finish_op(s, "put_stream", w->t0, rc, e);
    free(w);
    return rc;
}

void store_writer_abort(store_writer *w)
{
    if (!w) return;
    w->s->drv->writer_abort(w->w);
    free(w);
}

int store_head(store_t *s, const char *bucket, const char *key, store_object *out, dlb_err *e)
{
    if (store_bucket_name_ok(bucket, e) || store_key_ok(key, e)) return -1;
    uint64_t t0 = clock_mono_ns();
    memset(out, 0, sizeof(*out));
    return finish(s, t0, s->drv->head(s->d, bucket, key, out, e));
}

typedef struct {
    const store_sink *inner;
    store_counters *c;
} counting_sink;

static int count_data(void *ctx, const void *p, size_t n)
{
    counting_sink *cs = ctx;
    atomic_fetch_add(&cs->c->bytes_out, n);
    return cs->inner->data(cs->inner->ctx, p, n);
}

static int count_begin(void *ctx, const store_object *info, uint64_t off, uint64_t len)
{
    counting_sink *cs = ctx;
    return cs->inner->begin ? cs->inner->begin(cs->inner->ctx, info, off, len) : 0;
}

int store_get(store_t *s, const char *bucket, const char *key, const store_range *range,
              const store_sink *sink, uint64_t *size_out, dlb_err *e)
{
    if (store_bucket_name_ok(bucket, e) || store_key_ok(key, e)) return -1;
    uint64_t t0 = clock_mono_ns();
    counting_sink cs = {sink, &s->counters};
    store_sink wrap = {count_begin, count_data, &cs};
    return finish(s, t0, s->drv->get(s->d, bucket, key, range, &wrap, size_out, e));
}

int store_delete(store_t *s, const char *bucket, const char *key, dlb_err *e)
{
    if (store_bucket_name_ok(bucket, e) || store_key_ok(key, e)) return -1;
    uint64_t t0 = clock_mono_ns();
    return finish(s, t0, s->drv->del(s->d, bucket, key, e));
}

int store_list(store_t *s, const char *bucket, const char *prefix, const char *delimiter, int limit,
               const char *token, store_listing *out, dlb_err *e)
{
    memset(out, 0, sizeof(*out));
    if (store_bucket_name_ok(bucket, e)) return -1;
    if (limit < 1 || limit > 1000) {
        dlb_err_set(e, 400, "invalid_limit", "limit must be between 1 and 1000, not %d", limit);
        return -1;
    }
    if (prefix && strlen(prefix) > STORE_KEY_MAX) {
        dlb_err_set(e, 400, "invalid_prefix", "prefix is longer than 1024 bytes");
        return -1;
    }
    if (delimiter && (!*delimiter || strlen(delimiter) > 16)) {
        dlb_err_set(e, 400, "invalid_delimiter", "delimiter must be 1 to 16 bytes");
        return -1;
    }
    uint64_t t0 = clock_mono_ns();
    int rc = s->drv->list(s->d, bucket, prefix && *prefix ? prefix : NULL, delimiter, limit,
                          token && *token ? token : NULL, out, e);
    if (rc) store_listing_free(out);
    return finish(s, t0, rc);
}
