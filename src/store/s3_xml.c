#include "s3_xml.h"

#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void put_utf8(char *o, size_t *j, unsigned long cp)
{
    if (cp < 0x80) {
        o[(*j)++] = (char)cp;
    } else if (cp < 0x800) {
        o[(*j)++] = (char)(0xC0 | (cp >> 6));
        o[(*j)++] = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        o[(*j)++] = (char)(0xE0 | (cp >> 12));
        o[(*j)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[(*j)++] = (char)(0x80 | (cp & 0x3F));
    } else {
        o[(*j)++] = (char)(0xF0 | (cp >> 18));
        o[(*j)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
        o[(*j)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[(*j)++] = (char)(0x80 | (cp & 0x3F));
    }
}

char *s3_xml_decode(const char *s, size_t n)
{
    char *o = malloc(n + 1); /* decoding never lengthens: "&#x10FFFF;" is 10 bytes for 4 */
    if (!o) return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] != '&') {
            o[j++] = s[i++];
            continue;
        }
        const char *semi = memchr(s + i, ';', n - i < 12 ? n - i : 12);
        size_t el = semi ? (size_t)(semi - (s + i)) + 1 : 0;
        static const struct {
            const char *ent;
            char c;
        } named[] = {
            {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
        int done = 0;
        for (size_t k = 0; semi && k < sizeof(named) / sizeof(named[0]); k++)
            if (strlen(named[k].ent) == el && memcmp(s + i, named[k].ent, el) == 0) {
                o[j++] = named[k].c;
                done = 1;
            }
        if (!done && semi && el > 3 && s[i + 1] == '#') {
            char num[16];
            snprintf(num, sizeof(num), "%.*s", (int)(el - 3), s + i + 2);
            char *end;
            unsigned long cp = num[0] == 'x' ? strtoul(num + 1, &end, 16) : strtoul(num, &end, 10);
            if (*end == 0 && cp > 0 && cp <= 0x10FFFF) {
                put_utf8(o, &j, cp);
                done = 1;
            }
        }
        if (done) {
            i += el;
        } else {
            o[j++] = s[i++];
        }
    }
    o[j] = 0;
    return o;
}

int s3_xml_next(const char *doc, size_t len, size_t *pos, const char *tag, size_t *start,
                size_t *clen)
{
    size_t tl = strlen(tag);
    size_t i = *pos;
    while (i < len) {
        const char *lt = memchr(doc + i, '<', len - i);
        if (!lt) return -1;
        i = (size_t)(lt - doc) + 1;
        if (len - i < tl + 1 || memcmp(doc + i, tag, tl) != 0) continue;
        char after = doc[i + tl];
        if (after == '/' && i + tl + 1 < len && doc[i + tl + 1] == '>') { /* <tag/> */
            *start = i + tl + 2;
            *clen = 0;
            *pos = *start;
            return 0;
        }
        if (after != '>' && after != ' ') continue;
        const char *gt = memchr(doc + i, '>', len - i);
        if (!gt) return -1;
        size_t cs = (size_t)(gt - doc) + 1;
        /* The matching close tag: S3's elements never nest inside a same-named one. */
        char close[80];
        snprintf(close, sizeof(close), "</%s>", tag);
        size_t cl = strlen(close);
        for (size_t k = cs; k + cl <= len; k++) {
            if (doc[k] == '<' && memcmp(doc + k, close, cl) == 0) {
                *start = cs;
                *clen = k - cs;
                *pos = k + cl;
                return 0;
            }
        }
        return -1;
    }
    return -1;
}

char *s3_xml_take(const char *doc, size_t len, size_t *pos, const char *tag)
{
    size_t s, n;
    if (s3_xml_next(doc, len, pos, tag, &s, &n)) return NULL;
    return s3_xml_decode(doc + s, n);
}

int s3_xml_error(const char *doc, size_t len, char *code, size_t codelen, char *msg, size_t msglen)
{
    size_t pos = 0, s, n;
    if (!doc || s3_xml_next(doc, len, &pos, "Error", &s, &n)) return -1;
    size_t p = 0;
    char *c = s3_xml_take(doc + s, n, &p, "Code");
    p = 0;
    char *m = s3_xml_take(doc + s, n, &p, "Message");
    snprintf(code, codelen, "%s", c ? c : "");
    snprintf(msg, msglen, "%s", m ? m : "");
    free(c);
    free(m);
    return code[0] ? 0 : -1;
}

int64_t s3_iso8601_ms(const char *s)
{
    struct tm tm = {0};
    int ms = 0;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                     &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
        return -1;
    const char *dot = strchr(s, '.');
    if (dot) {
        int digits = 0;
        for (const char *p = dot + 1; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 3) ms = ms * 10 + (*p - '0');
        for (; digits < 3; digits++)
            ms *= 10;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

/* S3 quotes ETags ("\"abc\""); the API shows them bare. */
static void strip_quotes(char *s)
{
    size_t n = strlen(s);
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        memmove(s, s + 1, n - 2);
        s[n - 2] = 0;
    }
}

int s3_xml_list(const char *doc, size_t len, store_listing *out)
{
    size_t pos = 0, s, n;
    int rc = 0;
    while (rc == 0 && s3_xml_next(doc, len, &pos, "Contents", &s, &n) == 0) {
        const char *c = doc + s;
        size_t p = 0;
        char *key = s3_xml_take(c, n, &p, "Key");
        p = 0;
        char *size = s3_xml_take(c, n, &p, "Size");
        p = 0;
        char *etag = s3_xml_take(c, n, &p, "ETag");
        p = 0;
        char *lm = s3_xml_take(c, n, &p, "LastModified");
        if (key && size) {
            if (etag) strip_quotes(etag);
            rc = store_listing_add(out, key, strtoull(size, NULL, 10), etag, NULL,
                                   lm ? s3_iso8601_ms(lm) : 0);
        } else {
            rc = -1;
        }
        free(key);
        free(size);
        free(etag);
        free(lm);
    }
    pos = 0;
    while (rc == 0 && s3_xml_next(doc, len, &pos, "CommonPrefixes", &s, &n) == 0) {
        size_t p = 0;
        char *pre = s3_xml_take(doc + s, n, &p, "Prefix");
        rc = pre ? store_listing_add_prefix(out, pre) : -1;
        free(pre);
    }
    pos = 0;
    char *tr = s3_xml_take(doc, len, &pos, "IsTruncated");
    out->truncated = tr && strcmp(tr, "true") == 0;
    free(tr);
    pos = 0;
    out->next_token = s3_xml_take(doc, len, &pos, "NextContinuationToken");
    if (out->next_token && !out->next_token[0]) {
        free(out->next_token);
        out->next_token = NULL;
    }
    if (!out->truncated && out->next_token) {
        free(out->next_token);
        out->next_token = NULL;
    }
    return rc;
}
