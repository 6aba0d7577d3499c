#include "json_rows.h"

#include <ctype.h>
#include <string.h>

typedef struct {
    FILE *in, *out;
    int64_t pos;
    int peeked;
    char *err;
    size_t errlen;
} scan_t;

static int next(scan_t *s)
{
    int c;
    if (s->peeked != EOF) {
        c = s->peeked;
        s->peeked = EOF;
    } else {
        c = getc(s->in);
    }
    if (c != EOF) s->pos++;
    return c;
}

static int skip_ws(scan_t *s)
{
    int c;
    do
        c = next(s);
    while (c != EOF && isspace(c));
    return c;
}

static int fail(scan_t *s, const char *what)
{
    snprintf(s->err, s->errlen, "byte %lld: %s", (long long)s->pos, what);
    return -1;
}

/* Copies (when out) or skips a string whose opening quote was read. key receives its raw
 * bytes when non-NULL (truncated). */
static int string_body(scan_t *s, FILE *out, char *key, size_t keylen)
{
    size_t k = 0;
    for (;;) {
        int c = next(s);
        if (c == EOF) return fail(s, "unterminated string");
        if (c < 0x20) return fail(s, "control character in a string");
        if (out) putc(c, out);
        if (c == '"') break;
        if (key && k + 1 < keylen) key[k++] = (char)c;
        if (c == '\\') {
            c = next(s);
            if (c == EOF) return fail(s, "unterminated string");
            if (out) putc(c, out);
            if (key && k + 1 < keylen) key[k++] = (char)c;
        }
    }
    if (key) key[k] = 0;
    return 0;
}

/* Copies or skips one value whose first byte c was read. */
static int value(scan_t *s, int c, FILE *out)
{
    int depth = 0;
    for (;;) {
        if (c == EOF) return fail(s, "unexpected end of input");
        if (c == '"') {
            if (out) putc(c, out);
            if (string_body(s, out, NULL, 0)) return -1;
        } else {
            if (c == '{' || c == '[') depth++;
            if (c == '}' || c == ']') {
                if (depth == 0) return fail(s, "unbalanced bracket");
                depth--;
            }
            /* Whitespace between tokens is dropped so that each element stays on one line. */
            if (out && !isspace(c)) putc(c, out);
        }
        if (depth == 0) {
            /* A scalar ends at the next delimiter, which belongs to the caller. */
            if (c == '"' || c == '}' || c == ']') return 0;
            int p = getc(s->in);
            if (p == EOF || p == ',' || p == ']' || p == '}' || isspace(p)) {
                s->peeked = p;
                return 0;
            }
            s->pos++;
            c = p;
            continue;
        }
        c = next(s);
    }
}

static int64_t array(scan_t *s)
{
    int64_t n = 0;
    int c = skip_ws(s);
    if (c == ']') return 0;
    for (;;) {
        if (c != '{' && c != '[') return fail(s, "each row must be a JSON object");
        if (value(s, c, s->out)) return -1;
        putc('\n', s->out);
        n++;
        c = skip_ws(s);
        if (c == ']') return n;
        if (c != ',') return fail(s, "expected ',' or ']' between rows");
        c = skip_ws(s);
    }
}

int64_t json_rows_to_ndjson(FILE *in, FILE *out, char *err, size_t errlen)
{
    scan_t s = {in, out, 0, EOF, err, errlen};
    int c = skip_ws(&s);
    int64_t n = -1;
    if (c == '[') {
        n = array(&s);
    } else if (c == '{') {
        int found = 0;
        c = skip_ws(&s);
        while (c != '}') {
            char key[16];
            if (c != '"') return fail(&s, "expected a key");
            if (string_body(&s, NULL, key, sizeof(key))) return -1;
            if (skip_ws(&s) != ':') return fail(&s, "expected ':'");
            c = skip_ws(&s);
            if (strcmp(key, "rows") == 0 && !found) {
                if (c != '[') return fail(&s, "\"rows\" must be an array");
                n = array(&s);
                if (n < 0) return -1;
                found = 1;
            } else if (value(&s, c, NULL)) {
                return -1;
            }
            c = skip_ws(&s);
            if (c == ',')
                c = skip_ws(&s);
            else if (c != '}')
                return fail(&s, "expected ',' or '}'");
        }
        if (!found) return fail(&s, "expected a \"rows\" array");
    } else {
        return fail(&s, "expected {\"rows\": [...]} or an array of rows");
    }
    if (n < 0) return -1;
    if (skip_ws(&s) != EOF) return fail(&s, "unexpected data after the rows");
    return n;
}
