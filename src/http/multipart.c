#include "multipart.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CHUNK       (64 * 1024)
#define MAX_HEADERS (16 * 1024)

/* The body comes from a source (a file, or the request as it arrives); the wanted part's
 * content goes to a sink. */
typedef struct {
    const multipart_stream *ms;
    char *buf;
    size_t n, cap;
    int eof;
    int failed; /* the source or the sink failed: their own error stands */
} reader;

static void fill(reader *r)
{
    while (!r->eof && r->n < r->cap) {
        long got = r->ms->read(r->ms->ctx, r->buf + r->n, r->cap - r->n);
        if (got <= 0) {
            r->eof = 1;
            if (got < 0) r->failed = 1;
            break;
        }
        r->n += (size_t)got;
    }
}

/* Copies everything before the next delim to the sink (when out) and consumes the delim.
 * -1 when the input ends first. Only the bytes that cannot start a delim are released, so a
 * delimiter split across two reads is still found. */
static int until(reader *r, const char *delim, size_t dlen, int out, uint64_t *copied)
{
    for (;;) {
        fill(r);
        if (r->failed) return -1;
        char *hit = memmem(r->buf, r->n, delim, dlen);
        size_t take = hit ? (size_t)(hit - r->buf) : (r->n >= dlen ? r->n - dlen + 1 : 0);
        if (out && take && r->ms->data(r->ms->ctx, r->buf, take)) {
            r->failed = 1;
            return -1;
        }
        if (copied) *copied += take;
        size_t drop = take + (hit ? dlen : 0);
        memmove(r->buf, r->buf + drop, r->n - drop);
        r->n -= drop;
        if (hit) return 0;
        if (r->eof && !take) return -1;
    }
}

/* Value of a parameter (name="value" or name=value) inside a header value. */
static int header_param(const char *h, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    for (const char *p = h; (p = strcasestr(p, name)) != NULL; p += nl) {
        if (p != h && !(p[-1] == ';' || p[-1] == ' ' || p[-1] == '\t')) continue;
        const char *v = p + nl;
        while (*v == ' ')
            v++;
        if (*v != '=') continue;
        v++;
        while (*v == ' ')
            v++;
        size_t i = 0;
        if (*v == '"') {
            for (v++; *v && *v != '"' && i + 1 < outlen; v++) {
                if (*v == '\\' && v[1]) v++;
                out[i++] = *v;
            }
        } else {
            for (; *v && *v != ';' && !isspace((unsigned char)*v) && i + 1 < outlen; v++)
                out[i++] = *v;
        }
        out[i] = 0;
        return 0;
    }
    return -1;
}

int multipart_extract_stream(const multipart_stream *ms, const char *content_type,
                             const char *field, multipart_part *part, char *err, size_t errlen)
{
    char boundary[128], delim[140];
    int rc = -1;
    reader r = {0};
    r.ms = ms;
    memset(part, 0, sizeof(*part));
    if (!content_type || strncasecmp(content_type, "multipart/form-data", 19) != 0 ||
        header_param(content_type, "boundary", boundary, sizeof(boundary)) || !boundary[0] ||
        strlen(boundary) > 70) {
        snprintf(err, errlen, "multipart/form-data needs a boundary of 1 to 70 characters");
        return -1;
    }
    r.cap = CHUNK + MAX_HEADERS;
    r.buf = malloc(r.cap);
    if (!r.buf) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    /* The first delimiter has no CRLF before it; every later one does. */
    snprintf(delim, sizeof(delim), "--%s", boundary);
    if (until(&r, delim, strlen(delim), 0, NULL)) {
        snprintf(err, errlen, "multipart body has no boundary line");
        goto out;
    }
    snprintf(delim, sizeof(delim), "\r\n--%s", boundary);
    for (;;) {
        fill(&r);
        if (r.n >= 2 && r.buf[0] == '-' && r.buf[1] == '-') { /* closing delimiter */
            rc = 1;
            goto out;
        }
        char *hend = memmem(r.buf, r.n, "\r\n\r\n", 4);
        if (!hend || r.n < 2 || r.buf[0] != '\r' || r.buf[1] != '\n') {
            snprintf(err, errlen, "malformed multipart part headers");
            goto out;
        }
        size_t hlen = (size_t)(hend - r.buf);
        char *headers = strndup(r.buf + 2, hlen - 2);
        if (!headers) goto out;
        memmove(r.buf, r.buf + hlen + 4, r.n - hlen - 4);
        r.n -= hlen + 4;
        char name[128] = "", fname[256] = "", ctype[128] = "";
        for (char *save = NULL, *line = strtok_r(headers, "\r\n", &save); line;
             line = strtok_r(NULL, "\r\n", &save)) {
            if (strncasecmp(line, "Content-Disposition:", 20) == 0) {
                header_param(line + 20, "name", name, sizeof(name));
                header_param(line + 20, "filename", fname, sizeof(fname));
            } else if (strncasecmp(line, "Content-Type:", 13) == 0) {
                const char *v = line + 13;
                while (*v == ' ')
                    v++;
                snprintf(ctype, sizeof(ctype), "%s", v);
            }
        }
        free(headers);
        int mine = strcmp(name, field) == 0;
        if (mine) {
            snprintf(part->filename, sizeof(part->filename), "%s", fname);
            snprintf(part->content_type, sizeof(part->content_type), "%s", ctype);
            if (ms->begin && ms->begin(ms->ctx, part)) {
                r.failed = 1;
                goto out;
            }
        }
        if (until(&r, delim, strlen(delim), mine, mine ? &part->size : NULL)) {
            snprintf(err, errlen, "multipart body ends inside a part (no closing boundary)");
            goto out;
        }
        if (mine) {
            rc = 0;
            goto out;
        }
    }
out:
    free(r.buf);
    if (rc < 0 && r.failed) {
        snprintf(err, errlen, "the upload failed");
        rc = -2;
    }
    return rc;
}

typedef struct {
    FILE *in, *out;
    const char *out_path;
} file_pair;

static long file_read(void *ctx, void *buf, size_t max)
{
    file_pair *f = ctx;
    size_t got = fread(buf, 1, max, f->in);
    return got ? (long)got : (ferror(f->in) ? -1 : 0);
}

static int file_begin(void *ctx, const multipart_part *part)
{
    file_pair *f = ctx;
    (void)part;
    f->out = fopen(f->out_path, "wb");
    return f->out ? 0 : -1;
}

static int file_write(void *ctx, const void *p, size_t n)
{
    return fwrite(p, 1, n, ((file_pair *)ctx)->out) == n ? 0 : -1;
}

int multipart_extract(const char *body_path, const char *content_type, const char *field,
                      const char *out_path, multipart_part *part, char *err, size_t errlen)
{
    file_pair f = {fopen(body_path, "rb"), NULL, out_path};
    if (!f.in) {
        memset(part, 0, sizeof(*part));
        snprintf(err, errlen, "cannot read the request body");
        return -1;
    }
    multipart_stream ms = {file_read, file_begin, file_write, &f};
    int rc = multipart_extract_stream(&ms, content_type, field, part, err, errlen);
    if (f.out && fclose(f.out) && rc == 0) rc = -2;
    fclose(f.in);
    if (rc == -2) {
        snprintf(err, errlen, "cannot write the uploaded part");
        rc = -1;
    }
    return rc;
}
