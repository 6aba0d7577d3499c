/* Scalar values to text for the encoders: integers, decimals, floating point, dates, times,
 * intervals, UUIDs and the byte encodings. Pure functions; no DuckDB calls except
 * duckdb_from_time_tz. */
#include "engine/encode_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int ebuf_grow(ebuf *b, size_t n)
{
    size_t need = b->len + n;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

/* ---- integers -------------------------------------------------------------------------------- */

static const char digits2[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233"
    "34353637383940414243444546474849505152535455565758596061626364656667"
    "6869707172737475767778798081828384858687888990919293949596979899";

size_t fmt_u64(char *dst, uint64_t v)
{
    char tmp[24];
    char *p = tmp + sizeof(tmp);
    while (v >= 100) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        p -= 2;
        memcpy(p, digits2 + r * 2, 2);
    }
    if (v >= 10) {
        p -= 2;
        memcpy(p, digits2 + v * 2, 2);
    } else {
        *--p = (char)('0' + v);
    }
    size_t n = (size_t)(tmp + sizeof(tmp) - p);
    memcpy(dst, p, n);
    return n;
}

size_t fmt_i64(char *dst, int64_t v)
{
    if (v < 0) {
        dst[0] = '-';
        return 1 + fmt_u64(dst + 1, (uint64_t)0 - (uint64_t)v);
    }
    return fmt_u64(dst, (uint64_t)v);
}

size_t fmt_u128(char *dst, unsigned __int128 v)
{
    if (v <= UINT64_MAX) return fmt_u64(dst, (uint64_t)v);
    /* Split into base-10^19 limbs. */
    const uint64_t base = 10000000000000000000ULL;
    uint64_t lo = (uint64_t)(v % base);
    v /= base;
    size_t n;
    if (v >= base) {
        uint64_t mid = (uint64_t)(v % base);
        n = fmt_u64(dst, (uint64_t)(v / base));
        n += (size_t)sprintf(dst + n, "%019llu", (unsigned long long)mid);
    } else {
        n = fmt_u64(dst, (uint64_t)v);
    }
    n += (size_t)sprintf(dst + n, "%019llu", (unsigned long long)lo);
    return n;
}

size_t fmt_i128(char *dst, __int128 v)
{
    if (v < 0) {
        dst[0] = '-';
        return 1 + fmt_u128(dst + 1, (unsigned __int128)0 - (unsigned __int128)v);
    }
    return fmt_u128(dst, (unsigned __int128)v);
}

size_t fmt_decimal(char *dst, __int128 v, unsigned scale)
{
    if (scale == 0) return fmt_i128(dst, v);
    size_t n = 0;
    unsigned __int128 u = (unsigned __int128)v;
    if (v < 0) {
        dst[n++] = '-';
        u = (unsigned __int128)0 - u;
    }
    char tmp[48];
    size_t len = fmt_u128(tmp, u);
    if (len <= scale) { /* 0.00ddd */
        dst[n++] = '0';
        dst[n++] = '.';
        for (size_t k = len; k < scale; k++)
            dst[n++] = '0';
        memcpy(dst + n, tmp, len);
        return n + len;
    }
    memcpy(dst + n, tmp, len - scale);
    n += len - scale;
    dst[n++] = '.';
    memcpy(dst + n, tmp + len - scale, scale);
    return n + scale;
}

/* ---- floating point ------------------------------------------------------------------------- */

static const double pow10d[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8};

/* Values with at most 8 fraction digits and an integer part below 2^53 (most data): if
 * t = v*10^k is an integer below 2^53 and t/10^k (correctly rounded, both exact) gives v back,
 * the decimal text t*10^-k reads back as v; the smallest such k gives the shortest text. */
static size_t fmt_fixed_fast(char *dst, double v)
{
    for (int k = 0; k <= 8; k++) {
        double t = v * pow10d[k];
        if (!(fabs(t) < 9007199254740992.0)) return 0;
        int64_t ti = (int64_t)t;
        if ((double)ti != t) continue;
        if ((double)ti / pow10d[k] != v) continue;
        size_t n = 0;
        uint64_t u = ti < 0 ? (uint64_t)0 - (uint64_t)ti : (uint64_t)ti;
        if (ti < 0 || (ti == 0 && signbit(v))) dst[n++] = '-';
        uint64_t p = 1;
        for (int j = 0; j < k; j++)
            p *= 10;
        n += fmt_u64(dst + n, u / p);
        if (k) {
            dst[n++] = '.';
            char fr[24];
            size_t fl = fmt_u64(fr, u % p);
            for (size_t j = fl; j < (size_t)k; j++)
                dst[n++] = '0';
            memcpy(dst + n, fr, fl);
            n += fl;
        }
        return n;
    }
    return 0;
}

size_t fmt_double(char *dst, double v, int *special)
{
    *special = 0;
    if (isnan(v)) {
        *special = 3;
        return 0;
    }
    if (isinf(v)) {
        *special = v > 0 ? 1 : 2;
        return 0;
    }
    size_t n = fmt_fixed_fast(dst, v);
    if (n) return n;
    for (int prec = 15; prec <= 17; prec++) {
        n = (size_t)snprintf(dst, ENC_SCALAR_MAX, "%.*g", prec, v);
        if (prec == 17 || strtod(dst, NULL) == v) break;
    }
    return n;
}

size_t fmt_float(char *dst, float v, int *special)
{
    *special = 0;
    if (isnan(v)) {
        *special = 3;
        return 0;
    }
    if (isinf(v)) {
        *special = v > 0 ? 1 : 2;
        return 0;
    }
    size_t n = 0;
    for (int prec = 6; prec <= 9; prec++) {
        n = (size_t)snprintf(dst, ENC_SCALAR_MAX, "%.*g", prec, (double)v);
        if (prec == 9 || strtof(dst, NULL) == v) break;
    }
    return n;
}

/* ---- dates and times ------------------------------------------------------------------------ */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* Days since 1970-01-01 to proleptic Gregorian y/m/d (H. Hinnant's civil_from_days). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yy + (*m <= 2);
}

static size_t put2(char *dst, unsigned v)
{
    memcpy(dst, digits2 + (v % 100) * 2, 2);
    return 2;
}

static size_t fmt_ymd(char *dst, int64_t days)
{
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    size_t n = 0;
    if (y >= 0 && y <= 9999) {
        n += put2(dst, (unsigned)(y / 100));
        n += put2(dst + n, (unsigned)(y % 100));
    } else {
        dst[n++] = y < 0 ? '-' : '+';
        uint64_t ay = y < 0 ? (uint64_t)(-y) : (uint64_t)y;
        char tmp[24];
        size_t l = fmt_u64(tmp, ay);
        for (size_t k = l; k < 4; k++)
            dst[n++] = '0';
        memcpy(dst + n, tmp, l);
        n += l;
    }
    dst[n++] = '-';
    n += put2(dst + n, m);
    dst[n++] = '-';
    n += put2(dst + n, d);
    return n;
}

static size_t put_inf(char *dst, int neg)
{
    if (neg) {
        memcpy(dst, "-infinity", 9);
        return 9;
    }
    memcpy(dst, "infinity", 8);
    return 8;
}

size_t fmt_date(char *dst, int32_t days)
{
    if (days == INT32_MAX || days == -INT32_MAX) return put_inf(dst, days < 0);
    return fmt_ymd(dst, days);
}

/* HH:MM:SS[.fraction] from a count of sub-second units (digits = 6 or 9) in one day. */
static size_t fmt_hms(char *dst, uint64_t v, int digits)
{
    uint64_t per_s = digits == 9 ? 1000000000ULL : 1000000ULL;
    uint64_t s = v / per_s, frac = v % per_s;
    size_t n = put2(dst, (unsigned)(s / 3600));
    dst[n++] = ':';
    n += put2(dst + n, (unsigned)(s / 60 % 60));
    dst[n++] = ':';
    n += put2(dst + n, (unsigned)(s % 60));
    if (frac) {
        dst[n++] = '.';
        for (int k = digits - 1; k >= 0; k--) {
            dst[n + (size_t)k] = (char)('0' + frac % 10);
            frac /= 10;
        }
        size_t l = (size_t)digits;
        while (dst[n + l - 1] == '0')
            l--;
        n += l;
    }
    return n;
}

size_t fmt_time_us(char *dst, int64_t micros)
{
    return fmt_hms(dst, micros < 0 ? 0 : (uint64_t)micros, 6);
}

size_t fmt_time_ns(char *dst, int64_t nanos)
{
    return fmt_hms(dst, nanos < 0 ? 0 : (uint64_t)nanos, 9);
}

size_t fmt_time_tz(char *dst, uint64_t bits)
{
    duckdb_time_tz tz = {bits};
    duckdb_time_tz_struct s = duckdb_from_time_tz(tz);
    uint64_t us = (uint64_t)s.time.hour * 3600000000ULL + (uint64_t)s.time.min * 60000000ULL +
                  (uint64_t)s.time.sec * 1000000ULL + (uint64_t)s.time.micros;
    size_t n = fmt_hms(dst, us, 6);
    int32_t off = s.offset;
    dst[n++] = off < 0 ? '-' : '+';
    if (off < 0) off = -off;
    n += put2(dst + n, (unsigned)(off / 3600));
    dst[n++] = ':';
    n += put2(dst + n, (unsigned)(off / 60 % 60));
    if (off % 60) {
        dst[n++] = ':';
        n += put2(dst + n, (unsigned)(off % 60));
    }
    return n;
}

size_t fmt_timestamp(char *dst, int64_t v, int unit, int utc)
{
    if (v == INT64_MAX || v == -INT64_MAX) return put_inf(dst, v < 0);
    int64_t per_day;
    int digits = 6;
    uint64_t scale = 1;
    switch (unit) {
    case 0:
        per_day = 86400;
        scale = 1000000;
        break;
    case 3:
        per_day = 86400000;
        scale = 1000;
        break;
    case 9:
        per_day = 86400000000000LL;
        digits = 9;
        break;
    default:
        per_day = 86400000000LL;
        break;
    }
    int64_t days = floor_div(v, per_day);
    uint64_t rem = (uint64_t)(v - days * per_day) * scale;
    size_t n = fmt_ymd(dst, days);
    dst[n++] = 'T';
    n += fmt_hms(dst + n, rem, digits);
    if (utc) {
        memcpy(dst + n, "+00:00", 6);
        n += 6;
    }
    return n;
}

static size_t put_part(char *dst, int64_t v, char unit)
{
    size_t n = fmt_i64(dst, v);
    dst[n++] = unit;
    return n;
}

size_t fmt_interval(char *dst, duckdb_interval iv)
{
    size_t n = 0;
    dst[n++] = 'P';
    int32_t years = iv.months / 12, months = iv.months % 12;
    if (years) n += put_part(dst + n, years, 'Y');
    if (months) n += put_part(dst + n, months, 'M');
    if (iv.days) n += put_part(dst + n, iv.days, 'D');
    if (iv.micros || n == 1) {
        dst[n++] = 'T';
        int64_t us = iv.micros;
        int64_t h = us / 3600000000LL;
        us -= h * 3600000000LL;
        int64_t mi = us / 60000000LL;
        us -= mi * 60000000LL;
        if (h) n += put_part(dst + n, h, 'H');
        if (mi) n += put_part(dst + n, mi, 'M');
        if (us || (!h && !mi)) {
            if (us < 0) dst[n++] = '-';
            uint64_t a = us < 0 ? (uint64_t)(-us) : (uint64_t)us;
            n += fmt_u64(dst + n, a / 1000000);
            uint64_t frac = a % 1000000;
            if (frac) {
                dst[n++] = '.';
                for (int k = 5; k >= 0; k--) {
                    dst[n + (size_t)k] = (char)('0' + frac % 10);
                    frac /= 10;
                }
                size_t l = 6;
                while (dst[n + l - 1] == '0')
                    l--;
                n += l;
            }
            dst[n++] = 'S';
        }
    }
    return n;
}

size_t fmt_uuid(char *dst, duckdb_hugeint h)
{
    static const char hex[] = "0123456789abcdef";
    /* DuckDB stores a UUID as a signed 128-bit integer with the top bit flipped so that
     * comparisons sort like the text. */
    uint64_t hi = (uint64_t)h.upper ^ (1ULL << 63), lo = h.lower;
    uint8_t b[16];
    for (int k = 0; k < 8; k++) {
        b[k] = (uint8_t)(hi >> (56 - 8 * k));
        b[8 + k] = (uint8_t)(lo >> (56 - 8 * k));
    }
    size_t n = 0;
    for (int k = 0; k < 16; k++) {
        if (k == 4 || k == 6 || k == 8 || k == 10) dst[n++] = '-';
        dst[n++] = hex[b[k] >> 4];
        dst[n++] = hex[b[k] & 15];
    }
    return n;
}

/* ---- byte encodings ------------------------------------------------------------------------- */

int enc_base64(ebuf *b, const uint8_t *s, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (ebuf_reserve(b, (n + 2) / 3 * 4)) return -1;
    char *o = b->p + b->len;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = tab[(v >> 6) & 63];
        *o++ = tab[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    b->len = (size_t)(o - b->p);
    return 0;
}

int enc_blob_text(ebuf *b, const uint8_t *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    if (ebuf_reserve(b, n * 4)) return -1;
    char *o = b->p + b->len;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        if (c >= 32 && c <= 126 && c != '\\' && c != '\'' && c != '"') {
            *o++ = (char)c;
        } else {
            *o++ = '\\';
            *o++ = 'x';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    b->len = (size_t)(o - b->p);
    return 0;
}

int enc_bits(ebuf *b, const uint8_t *s, size_t n)
{
    if (n < 1) return 0;
    unsigned pad = s[0];
    size_t nbits = (n - 1) * 8;
    if (ebuf_reserve(b, nbits)) return -1;
    for (size_t k = pad; k < nbits; k++)
        b->p[b->len++] = (char)('0' + ((s[1 + k / 8] >> (7 - k % 8)) & 1));
    return 0;
}

int enc_json_string(ebuf *b, const char *s, size_t n)
{
    /* 0: copy; 1: \uXXXX; else the letter after the backslash. */
    static const char esc[256] = {1, 1,   1,   1,   1, 1,   1,
                                  1, 'b', 't', 'n', 1, 'f', 'r',
                                  1, 1,   1,   1,   1, 1,   1,
                                  1, 1,   1,   1,   1, 1,   1,
                                  1, 1,   1,   1,   0, 0,   '"',
                                  0, 0,   0,   0,   0, 0,   0,
                                  0, 0,   0,   0,   0, 0,   ['\\'] = '\\'};
    static const char hex[] = "0123456789abcdef";
    if (ebuf_reserve(b, n + 2)) return -1;
    b->p[b->len++] = '"';
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char e = esc[c];
        if (!e) continue;
        if (ebuf_reserve(b, i - start + 7)) return -1;
        memcpy(b->p + b->len, s + start, i - start);
        b->len += i - start;
        char *o = b->p + b->len;
        *o++ = '\\';
        if (e == 1) {
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        } else {
            *o++ = e;
        }
        b->len = (size_t)(o - b->p);
        start = i + 1;
    }
    if (ebuf_reserve(b, n - start + 1)) return -1;
    memcpy(b->p + b->len, s + start, n - start);
    b->len += n - start;
    b->p[b->len++] = '"';
    return 0;
}
