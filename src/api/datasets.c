/* /datasets: buckets and objects, translated into store_* calls. Bodies stream both ways:
 * an upload is read as it arrives (ROUTE_BODY_STREAM) into a store writer, which holds the
 * client back while the store is behind; a download flows from the store's sink into
 * http_stream_write, which blocks while the client is behind, so memory never grows with
 * the object's size. */
#include "api.h"

#include "app.h"
#include "http/multipart.h"
#include "store/store.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static void answer_err(http_resp *resp, const dlb_err *e)
{
    int st = e->status ? e->status : 500;
    http_resp_error(resp, st, e->code[0] ? e->code : "internal_error", "%s",
                    e->detail[0] ? e->detail : "object storage failed");
    if (st == 503) http_resp_header(resp, "Retry-After", "2");
}

static store_t *store_of(http_req *req, http_resp *resp)
{
    const app_t *app = req->app;
    if (!app->store)
        http_resp_error(resp, 503, "store_unavailable", "object storage is not configured");
    return app->store;
}

static void iso_time(int64_t ms, char *out, size_t n)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char base[32];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, n, "%s.%03dZ", base, (int)(ms % 1000));
}

static void http_time(int64_t ms, char *out, size_t n)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* ---- buckets -------------------------------------------------------------------------- */

void api_datasets_bucket_create(http_req *req, http_resp *resp)
{
    store_t *st = store_of(req, resp);
    const char *bucket = http_req_param(req, "bucket");
    dlb_err e = {0};
    if (!st) return;
    if (store_bucket_create(st, bucket, &e)) {
        answer_err(resp, &e);
        return;
    }
    http_resp_json(resp, 201, json_pack("{s:s, s:b}", "bucket", bucket, "created", 1));
}

void api_datasets_bucket_delete(http_req *req, http_resp *resp)
{
    store_t *st = store_of(req, resp);
    dlb_err e = {0};
    if (!st) return;
    if (store_bucket_delete(st, http_req_param(req, "bucket"), &e)) {
        answer_err(resp, &e);
        return;
    }
    http_resp_bytes(resp, 204, NULL, NULL, 0);
}

static json_t *object_json(const char *bucket, const store_object *o, const char *name)
{
    char lm[40];
    iso_time(o->mtime_ms, lm, sizeof(lm));
    json_t *j = json_pack("{s:s, s:I, s:s, s:s}", "name", name, "size", (json_int_t)o->size, "etag",
                          o->etag, "last_modified", lm);
    if (j && o->content_type[0])
        json_object_set_new(j, "content_type", json_string(o->content_type));
    (void)bucket;
    return j;
}

void api_datasets_list(http_req *req, http_resp *resp)
{
    store_t *st = store_of(req, resp);
    const char *bucket = http_req_param(req, "bucket");
    const char *lim = http_req_query(req, "limit");
    dlb_err e = {0};
    if (!st) return;
    int limit = 1000;
    if (lim) {
        char *end;
        long v = strtol(lim, &end, 10);
        if (!*lim || *end || v < 1 || v > 1000) {
            http_resp_error(resp, 400, "invalid_limit",
                            "limit must be an integer between 1 and 1000, not '%.40s'", lim);
            return;
        }
        limit = (int)v;
    }
    store_listing l;
    if (store_list(st, bucket, http_req_query(req, "prefix"), http_req_query(req, "delimiter"),
                   limit, http_req_query(req, "continuation_token"), &l, &e)) {
        answer_err(resp, &e);
        return;
    }
    json_t *objs = json_array();
    for (size_t i = 0; i < l.nobjects; i++)
        json_array_append_new(objs, object_json(bucket, &l.objects[i], l.objects[i].key));
    json_t *doc = json_pack("{s:s, s:o, s:b, s:I}", "bucket", bucket, "objects", objs,
                            "is_truncated", l.truncated, "count", (json_int_t)l.nobjects);
    if (http_req_query(req, "delimiter")) {
        json_t *pre = json_array();
        for (size_t i = 0; i < l.nprefixes; i++)
            json_array_append_new(pre, json_string(l.prefixes[i]));
        json_object_set_new(doc, "prefixes", pre);
    }
    if (l.next_token)
        json_object_set_new(doc, "next_continuation_token", json_string(l.next_token));
    store_listing_free(&l);
    http_resp_json(resp, 200, doc);
}

/* ---- objects -------------------------------------------------------------------------- */

/* {bucket} and {object} validated; 400 answered otherwise. */
static int names(http_req *req, http_resp *resp, const char **bucket, const char **key)
{
    dlb_err e = {0};
    *bucket = http_req_param(req, "bucket");
    *key = http_req_param(req, "object");
    if (store_bucket_name_ok(*bucket, &e) || store_key_ok(*key, &e)) {
        answer_err(resp, &e);
        return -1;
    }
    return 0;
}

/* An upload on its way: body bytes (or a form's "file" part) go to a store writer as they
 * arrive. */
typedef struct {
    http_req *req;
    store_t *st;
    const char *bucket, *key;
    uint64_t hint; /* the object's exact size, 0 when unknown */
    store_writer *w;
    long body_rc; /* the body's failure (HTTP_BODY_*), 0 if none */
    dlb_err e;    /* the store's failure, when store_failed */
    int store_failed;
} upload;

#define UPLOAD_CHUNK (256 * 1024)

static long up_read(void *ctx, void *buf, size_t max)
{
    upload *u = ctx;
    long n = http_req_body_read(u->req, buf, max);
    if (n < 0) u->body_rc = n;
    return n;
}

static int up_begin(void *ctx, const multipart_part *part)
{
    upload *u = ctx;
    const char *ctype = part->content_type[0] ? part->content_type : NULL;
    u->w = store_writer_open(u->st, u->bucket, u->key, ctype, u->hint, &u->e);
    u->store_failed = !u->w;
    return u->w ? 0 : -1;
}

static int up_data(void *ctx, const void *p, size_t n)
{
    upload *u = ctx;
    if (store_writer_write(u->w, p, n, &u->e) == 0) return 0;
    u->store_failed = 1;
    return -1;
}

/* A raw body: all of it is the object. 0, or -1 with u's failure set. */
static int upload_raw(upload *u, const char *ctype)
{
    multipart_part whole = {0};
    if (ctype) snprintf(whole.content_type, sizeof(whole.content_type), "%s", ctype);
    if (up_begin(u, &whole)) return -1;
    char *buf = malloc(UPLOAD_CHUNK);
    if (!buf) {
        dlb_err_set(&u->e, 500, "internal_error", "out of memory");
        u->store_failed = 1;
        return -1;
    }
    long n;
    while ((n = up_read(u, buf, UPLOAD_CHUNK)) > 0)
        if (up_data(u, buf, (size_t)n)) break;
    free(buf);
    return n == 0 ? 0 : -1;
}

/* ROUTE_BODY_STREAM: the body is read here while it arrives, and the object appears (whole)
 * only once all of it has reached the store; any failure on the way leaves nothing. */
void api_datasets_put(http_req *req, http_resp *resp)
{
    store_t *st = store_of(req, resp);
    upload u = {0};
    if (!st || names(req, resp, &u.bucket, &u.key)) return;
    u.req = req;
    u.st = st;
    const char *ctype = http_req_header(req, "Content-Type");
    int rc, form = ctype && strncasecmp(ctype, "multipart/form-data", 19) == 0;
    /* A raw body's declared length is the object's exact size (the HTTP core holds the
     * client to it); a form's says nothing exact about its file. */
    const char *cl = http_req_header(req, "Content-Length");
    if (cl && !form) u.hint = strtoull(cl, NULL, 10);
    if (form) {
        /* The seed's clients send a form with a "file" field: its content is the object. */
        char err[256];
        multipart_part part;
        multipart_stream ms = {up_read, up_begin, up_data, &u};
        rc = multipart_extract_stream(&ms, ctype, "file", &part, err, sizeof(err));
        if (rc > 0 || rc == -1) {
            store_writer_abort(u.w);
            if (u.body_rc == 0) {
                http_resp_error(resp, rc > 0 ? 422 : 400, rc > 0 ? "missing_file" : "invalid_body",
                                "%s", rc > 0 ? "the form has no 'file' field" : err);
                return;
            }
            rc = -1; /* the body itself failed: said below */
        }
    } else {
        rc = upload_raw(&u, ctype);
    }
    store_object o;
    if (rc == 0) {
        store_writer *w = u.w;
        u.w = NULL;
        if (store_writer_finish(w, &o, &u.e)) {
            answer_err(resp, &u.e);
            return;
        }
    } else {
        store_writer_abort(u.w);
        if (u.body_rc == HTTP_BODY_TOO_LARGE)
            http_resp_error(resp, 413, "payload_too_large",
                            "request body exceeds the limit of %llu bytes (STORAGE_MAX_FILE_SIZE)",
                            (unsigned long long)http_req_body_limit(req));
        else if (u.body_rc == HTTP_BODY_GONE)
            http_resp_error(resp, 400, "client_gone", "the client went away mid-upload");
        else
            answer_err(resp, &u.e);
        return;
    }
    char lm[40];
    iso_time(o.mtime_ms, lm, sizeof(lm));
    http_resp_json(resp, 201,
                   json_pack("{s:s, s:s, s:I, s:s, s:s, s:s}", "bucket", u.bucket, "object", u.key,
                             "size", (json_int_t)o.size, "etag", o.etag, "content_type",
                             o.content_type, "last_modified", lm));
}

/* Headers every answer about an object carries. Content-Type goes in as a header (copied)
 * rather than resp->content_type, which would point into this handler's stack. */
static void object_headers(http_resp *resp, const store_object *o)
{
    char v[128];
    snprintf(v, sizeof(v), "\"%s\"", o->etag);
    http_resp_header(resp, "ETag", v);
    http_time(o->mtime_ms, v, sizeof(v));
    http_resp_header(resp, "Last-Modified", v);
    http_resp_header(resp, "Accept-Ranges", "bytes");
    http_resp_header(resp, "Content-Type",
                     o->content_type[0] ? o->content_type : "application/octet-stream");
}

typedef struct {
    http_req *req;
    http_resp *resp;
    http_stream *stream;
    int ranged;
} get_ctx;

static int get_begin(void *ud, const store_object *info, uint64_t off, uint64_t len)
{
    get_ctx *g = ud;
    object_headers(g->resp, info);
    if (g->ranged) {
        char cr[96];
        snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu", (unsigned long long)off,
                 (unsigned long long)(off + len - 1), (unsigned long long)info->size);
        http_resp_header(g->resp, "Content-Range", cr);
    }
    g->stream = http_resp_stream_sized(g->req, g->resp, g->ranged ? 206 : 200, NULL, len);
    return g->stream ? 0 : -1;
}

static int get_data(void *ud, const void *p, size_t n)
{
    get_ctx *g = ud;
    return http_stream_write(g->stream, p, n);
}

void api_datasets_get(http_req *req, http_resp *resp)
{
    store_t *st = store_of(req, resp);
    const char *bucket, *key;
    dlb_err e = {0};
    if (!st || names(req, resp, &bucket, &key)) return;
    if (req->method == HTTP_HEAD) {
        store_object o;
        if (store_head(st, bucket, key, &o, &e)) {
            answer_err(resp, &e);
            return;
        }
        object_headers(resp, &o);
        http_resp_stream_sized(req, resp, 200, NULL, o.size); /* headers only */
        return;
    }
    store_range r;
    store_range_parse(http_req_header(req, "Range"), &r);
    get_ctx g = {req, resp, NULL, r.set};
    store_sink sink = {get_begin, get_data, &g};
    uint64_t size = 0;
    if (store_get(st, bucket, key, &r, &sink, &size, &e) == 0) return;
    if (g.stream) return; /* failed mid-body: the short body tells the client */
    answer_err(resp, &e);
    if (e.status == 416) {
        char cr[64];
        snprintf(cr, sizeof(cr), "bytes */%llu", (unsigned long long)size);
        http_resp_header(resp, "Content-Range", cr);
    }
}

void api_datasets_delete(http_req *req, http_resp *resp)
{
    store_t *st = store_of(req, resp);
    const char *bucket, *key;
    dlb_err e = {0};
    if (!st || names(req, resp, &bucket, &key)) return;
    if (store_delete(st, bucket, key, &e)) {
        answer_err(resp, &e);
        return;
    }
    http_resp_bytes(resp, 204, NULL, NULL, 0);
}
