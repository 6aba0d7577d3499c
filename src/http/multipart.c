#include "multipart.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CHUNK       (64 * 1024)
#define MAX_HEADERS (16 * 1024)

typedef struct {
    FILE *in;
    char *buf;
    size_t n, cap;
    int eof;
} reader;

static void fill(reader *r)
{
    while (!r->eof && r->n < r->cap) {
        size_t got = fread(r->buf + r->n, 1, r->cap - r->n, r->in);
        if (!got) r->eof = 1;
        r->n += got;
    }
}

/* Copies everything before the next delim to out (NULL: drop it) and consumes the delim.
 * -1 when the input ends first. Only the bytes that cannot start a delim are released, so a
 * delimiter split across two reads is still found. */
static int until(reader *r, const char *delim, size_t dlen, FILE *out, uint64_t *copied)
{
    for (;;) {
        fill(r);
        char *hit = memmem(r->buf, r->n, delim, dlen);
        size_t take = hit ? (size_t)(hit - r->buf) : (r->n >= dlen ? r->n - dlen + 1 : 0);
        if (out && take && fwrite(r->buf, 1, take, out) != take) return -1;
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

int multipart_extract(const char *body_path, const char *content_type, const char *field,
                      const char *out_path, multipart_part *part, char *err, size_t errlen)
{
    char boundary[128], delim[140];
    int rc = -1;
    FILE *out = NULL;
    reader r = {0};
    memset(part, 0, sizeof(*part));
    if (!content_type || strncasecmp(content_type, "multipart/form-data", 19) != 0 ||
        header_param(content_type, "boundary", boundary, sizeof(boundary)) || !boundary[0] ||
        strlen(boundary) > 70) {
        snprintf(err, errlen, "multipart/form-data needs a boundary of 1 to 70 characters");
        return -1;
    }
    r.in = fopen(body_path, "rb");
    r.cap = CHUNK + MAX_HEADERS;
    r.buf = malloc(r.cap);
    if (!r.in || !r.buf) {
        snprintf(err, errlen, "cannot read the request body");
        goto out;
    }
    /* The first delimiter has no CRLF before it; every later one does. */
    snprintf(delim, sizeof(delim), "--%s", boundary);
    if (until(&r, delim, strlen(delim), NULL, NULL)) {
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
            out = fopen(out_path, "wb");
            if (!out) {
                snprintf(err, errlen, "cannot write the uploaded part");
                goto out;
            }
        }
        if (until(&r, delim, strlen(delim), out, mine ? &part->size : NULL)) {
            snprintf(err, errlen, "multipart body ends inside a part (no closing boundary)");
            goto out;
        }
        if (mine) {
            if (fclose(out)) {
                out = NULL;
                snprintf(err, errlen, "cannot write the uploaded part");
                goto out;
            }
            out = NULL;
            snprintf(part->filename, sizeof(part->filename), "%s", fname);
            snprintf(part->content_type, sizeof(part->content_type), "%s", ctype);
            rc = 0;
            goto out;
        }
    }
out:
    if (out) fclose(out);
    if (r.in) fclose(r.in);
    free(r.buf);
    return rc;
}
