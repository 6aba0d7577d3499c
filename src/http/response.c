#include "http.h"
#include "internal.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static void clear_body(http_resp *resp)
{
    free(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
    json_decref(resp->json);
    resp->json = NULL;
    resp->is_error = 0;
}

void http_resp_clear(http_resp *resp)
{
    clear_body(resp);
    for (int i = 0; i < resp->nheaders; i++) {
        free(resp->headers[i].name);
        free(resp->headers[i].value);
    }
    resp->nheaders = 0;
}

void http_resp_json(http_resp *resp, int status, json_t *body)
{
    clear_body(resp);
    resp->status = status;
    resp->content_type = "application/json";
    resp->json = body;
}

void http_resp_bytes(http_resp *resp, int status, const char *ctype, char *data, size_t len)
{
    clear_body(resp);
    resp->status = status;
    resp->content_type = ctype;
    resp->body = data;
    resp->body_len = len;
}

void http_resp_error(http_resp *resp, int status, const char *code, const char *fmt, ...)
{
    char detail[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    json_t *o = json_object();
    json_t *d = json_string(detail);
    /* A detail quoting invalid UTF-8 from the client must still produce a valid answer. */
    json_object_set_new(o, "detail", d ? d : json_string("(detail not representable)"));
    json_object_set_new(o, "error", json_string(code));
    http_resp_json(resp, status, o);
    resp->is_error = 1;
}

void http_resp_header(http_resp *resp, const char *name, const char *value)
{
    for (int i = 0; i < resp->nheaders; i++) {
        if (strcasecmp(resp->headers[i].name, name) == 0) {
            char *v = strdup(value);
            if (!v) return;
            free(resp->headers[i].value);
            resp->headers[i].value = v;
            return;
        }
    }
    if (resp->nheaders == (int)(sizeof(resp->headers) / sizeof(resp->headers[0]))) return;
    http_header *h = &resp->headers[resp->nheaders];
    h->name = strdup(name);
    h->value = strdup(value);
    if (!h->name || !h->value) {
        free(h->name);
        free(h->value);
        return;
    }
    resp->nheaders++;
}

json_t *http_req_json(http_req *req, http_resp *resp)
{
    json_error_t e;
    if (req->body.len == 0) {
        http_resp_error(resp, 400, "invalid_json",
                        "request body is empty; a JSON document is required");
        return NULL;
    }
    /* Scalars parse too: "a body that is not an object" is the handler's 422 to give. */
    json_t *j =
        json_loadb(req->body.data, req->body.len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &e);
    if (!j)
        http_resp_error(resp, 400, "invalid_json",
                        "invalid JSON at line %d column %d (byte %d): %s", e.line, e.column,
                        e.position, e.text);
    return j;
}

int http_gzip(const char *in, size_t len, char **out, size_t *outlen)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    /* windowBits 15 + 16 selects the gzip wrapper; level 1 because the wire, not the CPU,
     * is what large JSON answers save on, and level 1 already gets most of the ratio. */
    if (deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return -1;
    size_t cap = deflateBound(&zs, len);
    char *buf = malloc(cap);
    if (!buf) {
        deflateEnd(&zs);
        return -1;
    }
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    zs.next_out = (Bytef *)buf;
    zs.avail_out = (uInt)cap;
    int rc = deflate(&zs, Z_FINISH);
    size_t produced = zs.total_out;
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        free(buf);
        return -1;
    }
    *out = buf;
    *outlen = produced;
    return 0;
}
