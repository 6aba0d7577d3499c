/* multipart/form-data extraction. Input: the first line is the Content-Type header value, the
 * rest is the body. The body is parsed twice through the streaming parser, once in one read
 * and once in short reads whose sizes come from the body's own bytes, and both parses must
 * agree: a result that depends on where the network split the body is a bug (the request
 * body arrives in arbitrary pieces). The spooled-file entry point is run too. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/multipart.h"

typedef struct {
    const uint8_t *p;
    size_t n, off;
    int shorts;   /* 1: short reads */
    unsigned rng; /* short read sizes */
    char *got;    /* delivered content */
    size_t got_n;
    int begun;
} src;

static long src_read(void *ctx, void *buf, size_t max)
{
    src *s = ctx;
    size_t left = s->n - s->off, take = left < max ? left : max;
    if (s->shorts && take > 1) {
        s->rng = s->rng * 1103515245u + 12345u;
        size_t cut = 1 + (s->rng >> 16) % 97;
        if (cut < take) take = cut;
    }
    memcpy(buf, s->p + s->off, take);
    s->off += take;
    return (long)take;
}

static int src_begin(void *ctx, const multipart_part *part)
{
    (void)part;
    ((src *)ctx)->begun++;
    return 0;
}

static int src_data(void *ctx, const void *p, size_t n)
{
    src *s = ctx;
    char *g = realloc(s->got, s->got_n + n + 1);
    if (!g) return 1;
    memcpy(g + s->got_n, p, n);
    s->got = g;
    s->got_n += n;
    return 0;
}

static int parse(src *s, const char *ctype, multipart_part *part)
{
    multipart_stream ms = {src_read, src_begin, src_data, s};
    char err[256];
    memset(part, 0, sizeof(*part));
    return multipart_extract_stream(&ms, ctype, "file", part, err, sizeof(err));
}

static void spooled(const uint8_t *body, size_t n, const char *ctype)
{
    char in[] = "/tmp/dlb-fuzz-mp-XXXXXX", out[] = "/tmp/dlb-fuzz-mpo-XXXXXX";
    int fd = mkstemp(in), fo = mkstemp(out);
    if (fd >= 0 && fo >= 0 && write(fd, body, n) == (ssize_t)n) {
        multipart_part part;
        char err[256];
        (void)multipart_extract(in, ctype, "file", out, &part, err, sizeof(err));
    }
    if (fd >= 0) close(fd), unlink(in);
    if (fo >= 0) close(fo), unlink(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    if (!nl) return 0;
    size_t hl = (size_t)(nl - data);
    char *ctype = strndup((const char *)data, hl);
    if (!ctype) return 0;
    const uint8_t *body = nl + 1;
    size_t n = size - hl - 1;

    src whole = {body, n, 0, 0, 0, NULL, 0, 0};
    src pieces = {body, n, 0, 1, (unsigned)size, NULL, 0, 0};
    multipart_part pw, pp;
    int rw = parse(&whole, ctype, &pw), rp = parse(&pieces, ctype, &pp);
    if (rw != rp || whole.begun != pieces.begun) abort();
    if (rw == 0 && (whole.got_n != pieces.got_n || pw.size != pp.size ||
                    strcmp(pw.filename, pp.filename) || strcmp(pw.content_type, pp.content_type) ||
                    (whole.got_n && memcmp(whole.got, pieces.got, whole.got_n))))
        abort();
    free(whole.got);
    free(pieces.got);
    if (size < 4096) spooled(body, n, ctype); /* the file wrapper; temp files are slow */
    free(ctype);
    return 0;
}
