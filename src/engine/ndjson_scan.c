/* Outside strings only {}[]," and newlines matter; a string is skipped to its closing quote
 * (a backslash escapes the byte after it). Measured on a 90 MB body
 * of 1 M rows, the single pass was about a tenth of the append's CPU and ran alone before
 * DuckDB's reader started: halves on two threads take that wait down by about half. */
#include "ndjson_scan.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Below this the second thread costs more than it saves. */
#define SPLIT_MIN (8u << 20)

typedef struct {
    const char *const *names;
    const size_t *lens;
    int ncols;
} key_set;

static int key_known(const key_set *ks, const unsigned char *k, size_t n)
{
    for (int i = 0; i < ks->ncols; i++)
        if (ks->lens[i] == n && memcmp(ks->names[i], k, n) == 0) return 1;
    return 0;
}

static void scan_range(const unsigned char *p, const unsigned char *end, const key_set *ks,
                       ndjson_scan *out)
{
    static const unsigned char structural[256] = {
        ['"'] = 1, ['{'] = 1, ['}'] = 1, ['['] = 1, [']'] = 1, [','] = 1, ['\n'] = 1};
    const unsigned char *line = p;
    int depth = 0, want_key = 0, top_obj = 0, open_string = 0;
    memset(out, 0, sizeof(*out));
    while (p < end) {
        while (p < end && !structural[*p])
            p++;
        if (p == end) break;
        unsigned char c = *p++;
        switch (c) {
        case '\n':
            if (p - 1 - line > out->longest) out->longest = p - 1 - line;
            line = p;
            break;
        case '"': {
            /* byte by byte: strings here are short, where memchr's set-up costs more */
            const unsigned char *s = p;
            int esc = 0;
            while (p < end && *p != '"') {
                if (*p == '\\') {
                    esc = 1;
                    p++;
                }
                p++;
            }
            if (p >= end) { /* unterminated: DuckDB reports it */
                open_string = 1;
                p = end;
                break;
            }
            const unsigned char *q = p++;
            if (depth == 1 && top_obj && want_key) {
                size_t len = (size_t)(q - s);
                if (esc) {
                    out->escaped = 1;
                } else if (!key_known(ks, s, len)) {
                    out->bad_row = out->rows;
                    out->bad_key = s;
                    out->bad_len = len;
                    p = end;
                }
            }
            want_key = 0;
            break;
        }
        case '{':
        case '[':
            if (depth == 0) {
                out->rows++;
                top_obj = c == '{';
                want_key = top_obj;
            }
            depth++;
            break;
        case '}':
        case ']':
            if (depth > 0) depth--;
            break;
        default: /* ',' */
            want_key = depth == 1 && top_obj;
            break;
        }
    }
    /* After an unknown key the rest is not read: the longest line is of the lines before. */
    if (!out->bad_row && end - line > out->longest) out->longest = end - line;
    out->clean = depth == 0 && !open_string && !out->bad_row;
}

typedef struct {
    const unsigned char *p, *end;
    const key_set *ks;
    ndjson_scan res;
} half;

static void *scan_half(void *arg)
{
    half *h = arg;
    scan_range(h->p, h->end, h->ks, &h->res);
    return NULL;
}

void ndjson_scan_run(const unsigned char *p, const unsigned char *end, const char *const *names,
                     int ncols, ndjson_scan *out)
{
    ndjson_scan_split(p, end, names, ncols, SPLIT_MIN, out);
}

void ndjson_scan_split(const unsigned char *p, const unsigned char *end, const char *const *names,
                       int ncols, size_t split_min, ndjson_scan *out)
{
    size_t size = (size_t)(end - p), lens[64];
    size_t *lp = ncols <= 64 ? lens : malloc(sizeof(size_t) * (size_t)ncols);
    if (!lp) { /* no memory for the lengths: a name never matches, so say so loudly */
        memset(out, 0, sizeof(*out));
        out->bad_row = 1;
        out->bad_key = (const unsigned char *)"(out of memory)";
        out->bad_len = 15;
        return;
    }
    for (int i = 0; i < ncols; i++)
        lp[i] = strlen(names[i]);
    key_set ks = {names, lp, ncols};
    const unsigned char *mid = size && size >= split_min
                                   ? memchr(p + size / 2, '\n', (size_t)(end - (p + size / 2)))
                                   : NULL;
    pthread_t t;
    half second = {mid ? mid + 1 : NULL, end, &ks, {0}};
    if (!mid || pthread_create(&t, NULL, scan_half, &second) != 0) {
        scan_range(p, end, &ks, out);
        goto done;
    }
    scan_range(p, mid + 1, &ks, out);
    pthread_join(t, NULL);
    if (out->bad_row) goto done; /* the first unknown key is in the first half */
    if (!out->clean) {           /* the halves do not join at a row boundary: one pass decides */
        scan_range(p, end, &ks, out);
        goto done;
    }
    if (second.res.longest > out->longest) out->longest = second.res.longest;
    out->escaped |= second.res.escaped;
    if (second.res.bad_row) {
        out->bad_row = out->rows + second.res.bad_row;
        out->bad_key = second.res.bad_key;
        out->bad_len = second.res.bad_len;
    }
    out->rows += second.res.rows;
    out->clean = second.res.clean;
done:
    if (lp != lens) free(lp);
}
