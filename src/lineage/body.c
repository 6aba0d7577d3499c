/* Request bodies of the collector: gzip inflation with a cap, byte-exact splitting of a batch
 * array (so each event is stored exactly as sent) and the content hash used for idempotency. */
#include "internal.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

int lineage_inflate(const char *in, size_t len, size_t max, char **out, size_t *outlen)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    /* 15 + 32: accept both the gzip and the zlib wrapper (header auto-detection). */
    if (inflateInit2(&zs, 15 + 32) != Z_OK) return -1;
    size_t cap = len * 4 + 1024 < max + 1 ? len * 4 + 1024 : max + 1;
    char *buf = malloc(cap + 1);
    if (!buf) {
        inflateEnd(&zs);
        return -1;
    }
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
        if (zs.total_out == cap) {
            if (cap > max) break;
            size_t ncap = cap * 2 < max + 1 ? cap * 2 : max + 1;
            char *nb = realloc(buf, ncap + 1);
            if (!nb) break;
            buf = nb;
            cap = ncap;
        }
        zs.next_out = (Bytef *)buf + zs.total_out;
        zs.avail_out = (uInt)(cap - zs.total_out);
        rc = inflate(&zs, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END) break;
        if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out > 0) break; /* truncated input */
    }
    size_t got = zs.total_out;
    inflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        free(buf);
        return got > max ? -2 : -1;
    }
    if (got > max) {
        free(buf);
        return -2;
    }
    buf[got] = 0;
    *out = buf;
    *outlen = got;
    return 0;
}

static size_t skip_ws(const char *s, size_t i, size_t len)
{
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* End (exclusive) of the JSON value starting at i, or 0 when it is cut short. Only bounds
 * are found here; jansson parses each span afterwards and reports real syntax errors. */
static size_t value_end(const char *s, size_t i, size_t len)
{
    int depth = 0;
    for (; i < len; i++) {
        char ch = s[i];
        if (ch == '"') {
            for (i++; i < len && s[i] != '"'; i++)
                if (s[i] == '\\') i++;
            if (i >= len) return 0;
            if (depth == 0) return i + 1;
        } else if (ch == '{' || ch == '[') {
            depth++;
        } else if (ch == '}' || ch == ']') {
            if (depth == 0) return i; /* the enclosing array's end: a scalar ended */
            if (--depth == 0) return i + 1;
        } else if (depth == 0 &&
                   (ch == ',' || ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r')) {
            return i;
        }
    }
    return depth == 0 ? len : 0;
}

int lineage_split_array(const char *s, size_t len, size_t **starts, size_t **lens, size_t *n,
                        size_t *bad_at)
{
    size_t cap = 16, cnt = 0;
    size_t *st = malloc(cap * sizeof(*st)), *ln = malloc(cap * sizeof(*ln));
    size_t i = skip_ws(s, 0, len);
    if (!st || !ln || i >= len || s[i] != '[') goto bad;
    i = skip_ws(s, i + 1, len);
    if (i < len && s[i] == ']') {
        i++;
        goto end;
    }
    for (;;) {
        size_t e = value_end(s, i, len);
        if (e <= i) goto bad;
        if (cnt == cap) {
            cap *= 2;
            size_t *a = realloc(st, cap * sizeof(*st));
            if (a) st = a;
            size_t *b = realloc(ln, cap * sizeof(*ln));
            if (b) ln = b;
            if (!a || !b) goto bad;
        }
        st[cnt] = i;
        ln[cnt] = e - i;
        cnt++;
        i = skip_ws(s, e, len);
        if (i < len && s[i] == ',') {
            i = skip_ws(s, i + 1, len);
            continue;
        }
        if (i < len && s[i] == ']') {
            i++;
            break;
        }
        goto bad;
    }
end:
    if (skip_ws(s, i, len) != len) goto bad;
    *starts = st;
    *lens = ln;
    *n = cnt;
    return 0;
bad:
    free(st);
    free(ln);
    *bad_at = i;
    return -1;
}

char *lineage_dump(const json_t *j)
{
    return json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

int lineage_event_hash(const json_t *ev, char out[65])
{
    /* Canonical form, so that the same event re-serialised by a retrying client (other key
     * order, other whitespace) is still recognised as the same event. */
    char *c = lineage_dump(ev);
    if (!c) return -1;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int ok = EVP_Digest(c, strlen(c), md, &mdlen, EVP_sha256(), NULL);
    free(c);
    if (!ok) return -1;
    for (unsigned i = 0; i < mdlen && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    out[64] = 0;
    return 0;
}
