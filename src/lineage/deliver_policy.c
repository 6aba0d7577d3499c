/* Delivery policy: response classes, backoff with jitter, Retry-After and the circuit
 * breaker. No I/O, no clock: the worker (deliver.c) passes the time in. */
#include "deliver.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

dlv_class dlv_classify(long status)
{
    if (status >= 200 && status < 300) return DLV_DELIVERED;
    if (status == 0 || status == 408 || status == 429 || status >= 500) return DLV_RETRY;
    return DLV_PERMANENT;
}

int dlv_is_outage(long status)
{
    return status == 0 || status == 408 || status >= 500;
}

double dlv_backoff(double base, int attempt, double cap, double r)
{
    if (base <= 0) base = 0.1;
    if (attempt < 1) attempt = 1;
    if (attempt > 40) attempt = 40; /* 2^40 * base is past any cap */
    double d = base * ldexp(1.0, attempt - 1);
    if (cap > 0 && d > cap) d = cap;
    if (r < 0) r = 0;
    if (r >= 1) r = 0.999999;
    return d / 2 + r * (d / 2);
}

static int month_index(const char *m)
{
    static const char *names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    for (int i = 0; i < 12; i++)
        if (!strncasecmp(m, names[i], 3)) return i;
    return -1;
}

/* Days since the epoch of a proleptic Gregorian date (no timegm: it reads the TZ database). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int parse_http_date(const char *s, time_t *out)
{
    char wk[16], mon[4];
    int d, y, hh, mm, ss;
    int n = 0;
    if (sscanf(s, "%15[A-Za-z], %2d %3s %4d %2d:%2d:%2d GMT%n", wk, &d, mon, &y, &hh, &mm, &ss,
               &n) == 7 &&
        n > 0)
        goto parsed; /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
    n = 0;
    if (sscanf(s, "%15[A-Za-z], %2d-%3s-%2d %2d:%2d:%2d GMT%n", wk, &d, mon, &y, &hh, &mm, &ss,
               &n) == 7 &&
        n > 0) {
        /* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT (two-digit year) */
        y += y < 70 ? 2000 : 1900;
        goto parsed;
    }
    n = 0;
    if (sscanf(s, "%3s %3s %2d %2d:%2d:%2d %4d%n", wk, mon, &d, &hh, &mm, &ss, &y, &n) == 7 &&
        n > 0)
        goto parsed; /* asctime: Sun Nov  6 08:49:37 1994 */
    return -1;
parsed:
    while (s[n] && isspace((unsigned char)s[n]))
        n++;
    if (s[n]) return -1;
    int m = month_index(mon);
    if (m < 0 || d < 1 || d > 31 || hh > 23 || mm > 59 || ss > 60 || y < 1970 || hh < 0 || mm < 0 ||
        ss < 0)
        return -1;
    int64_t t = days_from_civil(y, m + 1, d) * 86400 + hh * 3600 + mm * 60 + ss;
    *out = (time_t)t;
    return 0;
}

double dlv_retry_after(const char *v, time_t now)
{
    if (!v) return -1;
    while (isspace((unsigned char)*v))
        v++;
    if (!*v) return -1;
    if (isdigit((unsigned char)*v)) {
        char *end;
        unsigned long long secs = strtoull(v, &end, 10);
        while (isspace((unsigned char)*end))
            end++;
        if (*end) return -1;
        if (secs > 365ULL * 86400) secs = 365ULL * 86400;
        return (double)secs;
    }
    time_t t;
    if (parse_http_date(v, &t)) return -1;
    return t > now ? (double)(t - now) : 0;
}

void dlv_breaker_init(dlv_breaker *b, int threshold, double base_open, double max_open)
{
    memset(b, 0, sizeof(*b));
    b->threshold = threshold > 0 ? threshold : 1;
    b->base_open = base_open > 0 ? base_open : 1;
    b->max_open = max_open >= b->base_open ? max_open : b->base_open;
    b->open_for = b->base_open;
}

int dlv_breaker_acquire(dlv_breaker *b, double now, double *until)
{
    if (now < b->pause_until) {
        *until = b->pause_until;
        return DLV_WAIT;
    }
    switch (b->state) {
    case DLV_OPEN:
        if (now < b->open_until) {
            *until = b->open_until;
            return DLV_WAIT;
        }
        b->state = DLV_HALF_OPEN;
        b->probe_out = 1;
        return DLV_PROBE;
    case DLV_HALF_OPEN:
        if (b->probe_out) {
            *until = now + 1;
            return DLV_WAIT;
        }
        b->probe_out = 1;
        return DLV_PROBE;
    default:
        return DLV_GO;
    }
}

static void trip(dlv_breaker *b, double now)
{
    b->state = DLV_OPEN;
    b->open_until = now + b->open_for;
    b->opened++;
}

int dlv_breaker_result(dlv_breaker *b, int probe, int outage, double now)
{
    if (probe) b->probe_out = 0;
    if (!outage) {
        int was = b->state;
        b->state = DLV_CLOSED;
        b->failures = 0;
        b->open_for = b->base_open;
        return was != DLV_CLOSED;
    }
    if (b->state == DLV_HALF_OPEN && probe) {
        b->open_for = b->open_for * 2 > b->max_open ? b->max_open : b->open_for * 2;
        trip(b, now);
        return 0;
    }
    if (b->state != DLV_CLOSED) return 0; /* a late answer from before it opened */
    if (++b->failures >= b->threshold) trip(b, now);
    return 0;
}

void dlv_breaker_release_probe(dlv_breaker *b)
{
    b->probe_out = 0;
}

void dlv_breaker_pause(dlv_breaker *b, double until)
{
    if (until > b->pause_until) b->pause_until = until;
}

const char *dlv_breaker_state_name(int state)
{
    return state == DLV_OPEN ? "open" : state == DLV_HALF_OPEN ? "half_open" : "closed";
}

int dlv_run_rank(const char *t)
{
    if (!t) return 1;
    if (!strcasecmp(t, "START")) return 0;
    if (!strcasecmp(t, "COMPLETE") || !strcasecmp(t, "ABORT") || !strcasecmp(t, "FAIL")) return 2;
    return 1;
}
