/* Accept header negotiation for query results (RFC 9110 §12.5.1): every format gets the q of
 * the most specific media range that matches it; the highest q wins, then an exact match over
 * a wildcard, then the range listed first, then JSON, NDJSON, CSV, Parquet in that order. */
#include "engine/query.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *type;
    query_format fmt;
} names[] = {
    {"application/json", QF_JSON},
    {"application/x-ndjson", QF_NDJSON},
    {"application/ndjson", QF_NDJSON},
    {"application/jsonl", QF_NDJSON},
    {"text/csv", QF_CSV},
    {"application/vnd.apache.parquet", QF_PARQUET},
    {"application/parquet", QF_PARQUET},
    {"application/x-parquet", QF_PARQUET},
    {"application/octet-stream", QF_PARQUET},
    {"application/vnd.apache.arrow.stream", QF_ARROW},
};

typedef struct {
    double q;
    int spec; /* -1 unmatched, 0 * / *, 1 type/ *, 2 exact */
    int pos;
} match;

/* Does the range [r, r+n) match full type t? Returns the specificity or -1. */
static int range_matches(const char *r, size_t n, const char *t)
{
    if (n == 3 && memcmp(r, "*/*", 3) == 0) return 0;
    const char *slash = strchr(t, '/');
    size_t major = (size_t)(slash - t);
    if (n == major + 2 && strncasecmp(r, t, major) == 0 && r[major] == '/' && r[major + 1] == '*')
        return 1;
    if (n == strlen(t) && strncasecmp(r, t, n) == 0) return 2;
    return -1;
}

static double parse_q(const char *p, const char *end)
{
    /* Parameters: ;name=value ... ; only q matters. */
    while (p < end) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        if (!semi) break;
        p = semi + 1;
        while (p < end && isspace((unsigned char)*p))
            p++;
        if (end - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
            char tmp[16];
            size_t n = 0;
            for (const char *s = p + 2; s < end && *s != ';' && n < sizeof(tmp) - 1; s++)
                if (!isspace((unsigned char)*s)) tmp[n++] = *s;
            tmp[n] = 0;
            char *e;
            double q = strtod(tmp, &e);
            if (e == tmp || *e || q < 0 || q > 1) return 0; /* malformed: not acceptable */
            return q;
        }
    }
    return 1.0;
}

int query_negotiate(const char *accept, query_format *out)
{
    match m[QF_COUNT];
    for (int f = 0; f < QF_COUNT; f++)
        m[f] = (match){0, -1, 0};
    const char *p = accept;
    int pos = 0;
    while (p && *p) {
        const char *end = strchr(p, ',');
        if (!end) end = p + strlen(p);
        const char *s = p;
        while (s < end && isspace((unsigned char)*s))
            s++;
        const char *te = s;
        while (te < end && *te != ';' && !isspace((unsigned char)*te))
            te++;
        if (te > s) {
            double q = parse_q(te, end);
            for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
                int spec = range_matches(s, (size_t)(te - s), names[k].type);
                match *x = &m[names[k].fmt];
                if (spec < 0) continue;
                /* The most specific range decides the format's q; among equals the first. */
                if (spec > x->spec) *x = (match){q, spec, pos};
            }
            pos++;
        }
        p = *end ? end + 1 : end;
    }
    if (pos == 0) { /* no Accept, or an empty one: anything goes */
        *out = QF_JSON;
        return 0;
    }
    int best = -1;
    for (int f = 0; f < QF_COUNT; f++) {
        if (m[f].spec < 0 || m[f].q <= 0) continue;
        if (best < 0 || m[f].q > m[best].q ||
            (m[f].q == m[best].q &&
             (m[f].spec > m[best].spec || (m[f].spec == m[best].spec && m[f].pos < m[best].pos))))
            best = f;
    }
    if (best < 0) return -1;
    *out = (query_format)best;
    return 0;
}

const char *query_content_type(query_format fmt)
{
    switch (fmt) {
    case QF_NDJSON:
        return "application/x-ndjson";
    case QF_CSV:
        return "text/csv; charset=utf-8";
    case QF_PARQUET:
        return "application/vnd.apache.parquet";
    case QF_ARROW:
        return "application/vnd.apache.arrow.stream";
    default:
        return "application/json";
    }
}

const char *query_supported_types(void)
{
    return "application/json, application/x-ndjson, text/csv, application/vnd.apache.parquet, "
           "application/vnd.apache.arrow.stream";
}
