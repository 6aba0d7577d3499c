/* A small JSON writer into a util/buf.h buffer, for answers too large to build as jansson
 * objects (the lineage graph). Strings are escaped as RFC 8259 requires: '"', '\\' and every
 * control character below 0x20 (the short forms \b \f \n \r \t, else \u00XX). Bytes that are
 * not valid UTF-8 (overlong forms, surrogates, above U+10FFFF, cut sequences) become U+FFFD,
 * so the answer is always valid JSON in UTF-8 whatever the database holds. */
#include "internal.h"

#include <string.h>

/* Length of the valid UTF-8 sequence at s (1 to 4), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    if (c < 0xC2) return 0; /* continuation byte, or overlong 2-byte form */
    if (c < 0xE0) return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c < 0xF0) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && s[1] < 0xA0) return 0;  /* overlong */
        if (c == 0xED && s[1] >= 0xA0) return 0; /* UTF-16 surrogates */
        return 3;
    }
    if (c < 0xF5) {
        if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        if (c == 0xF0 && s[1] < 0x90) return 0;  /* overlong */
        if (c == 0xF4 && s[1] >= 0x90) return 0; /* above U+10FFFF */
        return 4;
    }
    return 0;
}

int lineage_json_str(buf_t *b, const char *str, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)(str ? str : "");
    if (!str) n = 0;
    if (buf_append(b, "\"", 1)) return -1;
    size_t run = 0; /* start of the pending run of bytes copied as they are */
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        size_t k = c >= 0x80 ? utf8_len(s + i, n - i) : 1;
        if (c >= 0x80 && k) {
            i += k;
            continue;
        }
        if (i > run && buf_append(b, s + run, i - run)) return -1;
        char esc[8];
        size_t elen = 2;
        esc[0] = '\\';
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            if (c < 0x20) {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                elen = 6;
            } else {
                memcpy(esc, "\xEF\xBF\xBD", 3); /* invalid UTF-8 byte: U+FFFD */
                elen = 3;
            }
        }
        if (buf_append(b, esc, elen)) return -1;
        i++;
        run = i;
    }
    if (i > run && buf_append(b, s + run, i - run)) return -1;
    return buf_append(b, "\"", 1);
}

int lineage_json_strz(buf_t *b, const char *s)
{
    return lineage_json_str(b, s, s ? strlen(s) : 0);
}
