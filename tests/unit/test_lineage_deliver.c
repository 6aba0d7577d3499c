/* Lineage delivery policy without a server: response classes, exponential backoff with
 * jitter, Retry-After (seconds and the three HTTP-date forms), the circuit breaker's states
 * (closed, open and fail fast, one half-open probe, doubling open periods, 429 pauses) and the
 * per-run ordering rank. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "lineage/deliver.h"

#include <math.h>

static void test_classify(void **state)
{
    (void)state;
    assert_int_equal(dlv_classify(200), DLV_DELIVERED);
    assert_int_equal(dlv_classify(201), DLV_DELIVERED);
    assert_int_equal(dlv_classify(204), DLV_DELIVERED);
    assert_int_equal(dlv_classify(0), DLV_RETRY); /* no response: network error, timeout */
    assert_int_equal(dlv_classify(408), DLV_RETRY);
    assert_int_equal(dlv_classify(429), DLV_RETRY);
    assert_int_equal(dlv_classify(500), DLV_RETRY);
    assert_int_equal(dlv_classify(502), DLV_RETRY);
    assert_int_equal(dlv_classify(503), DLV_RETRY);
    assert_int_equal(dlv_classify(400), DLV_PERMANENT);
    assert_int_equal(dlv_classify(401), DLV_PERMANENT);
    assert_int_equal(dlv_classify(404), DLV_PERMANENT);
    assert_int_equal(dlv_classify(422), DLV_PERMANENT);
    assert_int_equal(dlv_classify(301), DLV_PERMANENT);
    assert_true(dlv_is_outage(0));
    assert_true(dlv_is_outage(503));
    assert_true(dlv_is_outage(408));
    assert_false(dlv_is_outage(429));
    assert_false(dlv_is_outage(400));
    assert_false(dlv_is_outage(200));
}

static void test_backoff(void **state)
{
    (void)state;
    /* r = 0.999...: the top of the window, d; r = 0: d/2. */
    for (int a = 1; a <= 6; a++) {
        double d = 0.5 * pow(2, a - 1);
        assert_true(fabs(dlv_backoff(0.5, a, 600, 0.0) - d / 2) < 1e-9);
        assert_true(fabs(dlv_backoff(0.5, a, 600, 0.9999999) - d) < 1e-5);
        double mid = dlv_backoff(0.5, a, 600, 0.5);
        assert_true(mid >= d / 2 && mid <= d);
    }
    /* grows monotonically (at the same draw) until the cap */
    double prev = 0;
    for (int a = 1; a <= 30; a++) {
        double v = dlv_backoff(1.0, a, 60, 0.5);
        assert_true(v >= prev);
        assert_true(v <= 60);
        prev = v;
    }
    assert_true(fabs(dlv_backoff(1.0, 1000, 60, 0.0) - 30) < 1e-9); /* huge attempt: capped */
    assert_true(dlv_backoff(0.1, 0, 60, 0.0) > 0);                  /* attempt < 1 as 1 */
}

static void test_retry_after(void **state)
{
    (void)state;
    time_t now = 784111777; /* Sun, 06 Nov 1994 08:49:37 GMT */
    assert_true(dlv_retry_after("120", now) == 120);
    assert_true(dlv_retry_after(" 7 ", now) == 7);
    assert_true(dlv_retry_after("0", now) == 0);
    assert_true(dlv_retry_after(NULL, now) < 0);
    assert_true(dlv_retry_after("", now) < 0);
    assert_true(dlv_retry_after("soon", now) < 0);
    assert_true(dlv_retry_after("12abc", now) < 0);
    assert_true(dlv_retry_after("-5", now) < 0);
    /* a year at most */
    assert_true(dlv_retry_after("99999999999", now) == 365.0 * 86400);
    /* IMF-fixdate, RFC 850 and asctime, 30 s after now */
    assert_true(dlv_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now) == 30);
    assert_true(dlv_retry_after("Sunday, 06-Nov-94 08:50:07 GMT", now) == 30);
    assert_true(dlv_retry_after("Sun Nov  6 08:50:07 1994", now) == 30);
    /* month and day handling across the year */
    assert_true(dlv_retry_after("Sat, 31 Dec 1994 23:59:59 GMT", now) == (double)(788918399 - now));
    /* in the past: now */
    assert_true(dlv_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now) == 0);
    /* garbage around a date */
    assert_true(dlv_retry_after("Sun, 06 Nov 1994 08:50:07 GMT trailing", now) < 0);
    assert_true(dlv_retry_after("Sun, 06 Foo 1994 08:50:07 GMT", now) < 0);
    assert_true(dlv_retry_after("Sun, 06 Nov 1994 25:50:07 GMT", now) < 0);
}

static void test_breaker(void **state)
{
    (void)state;
    dlv_breaker b;
    dlv_breaker_init(&b, 3, 1.0, 4.0);
    double until = 0, t = 100;
    assert_int_equal(dlv_breaker_acquire(&b, t, &until), DLV_GO);
    /* two outages, a success in between resets the count */
    dlv_breaker_result(&b, 0, 1, t);
    dlv_breaker_result(&b, 0, 1, t);
    dlv_breaker_result(&b, 0, 0, t);
    assert_int_equal(b.state, DLV_CLOSED);
    dlv_breaker_result(&b, 0, 1, t);
    dlv_breaker_result(&b, 0, 1, t);
    assert_int_equal(dlv_breaker_acquire(&b, t, &until), DLV_GO);
    dlv_breaker_result(&b, 0, 1, t); /* third in a row: open */
    assert_int_equal(b.state, DLV_OPEN);
    assert_int_equal(b.opened, 1);
    /* open: fail fast until the period ends */
    assert_int_equal(dlv_breaker_acquire(&b, t + 0.5, &until), DLV_WAIT);
    assert_true(until == t + 1.0);
    /* a late outage answer from before it opened changes nothing */
    dlv_breaker_result(&b, 0, 1, t + 0.6);
    assert_true(b.open_until == t + 1.0);
    /* half-open: exactly one probe */
    assert_int_equal(dlv_breaker_acquire(&b, t + 1.0, &until), DLV_PROBE);
    assert_int_equal(b.state, DLV_HALF_OPEN);
    assert_int_equal(dlv_breaker_acquire(&b, t + 1.1, &until), DLV_WAIT);
    /* the probe fails: open again for twice as long */
    assert_int_equal(dlv_breaker_result(&b, 1, 1, t + 1.2), 0);
    assert_int_equal(b.state, DLV_OPEN);
    assert_true(fabs(b.open_until - (t + 3.2)) < 1e-9);
    assert_int_equal(dlv_breaker_acquire(&b, t + 3.0, &until), DLV_WAIT);
    assert_int_equal(dlv_breaker_acquire(&b, t + 3.2, &until), DLV_PROBE);
    /* a probe that found nothing to send lets the next acquire probe */
    dlv_breaker_release_probe(&b);
    assert_int_equal(dlv_breaker_acquire(&b, t + 3.3, &until), DLV_PROBE);
    /* fails again: 4 s (the maximum), then stays at the maximum */
    dlv_breaker_result(&b, 1, 1, t + 3.4);
    assert_true(fabs(b.open_until - (t + 7.4)) < 1e-9);
    assert_int_equal(dlv_breaker_acquire(&b, t + 7.4, &until), DLV_PROBE);
    dlv_breaker_result(&b, 1, 1, t + 7.5);
    assert_true(fabs(b.open_until - (t + 11.5)) < 1e-9);
    /* the probe succeeds: closed, and the open period is back to the base */
    assert_int_equal(dlv_breaker_acquire(&b, t + 11.5, &until), DLV_PROBE);
    assert_int_equal(dlv_breaker_result(&b, 1, 0, t + 11.6), 1);
    assert_int_equal(b.state, DLV_CLOSED);
    assert_int_equal(b.failures, 0);
    assert_true(b.open_for == 1.0);
    assert_int_equal(dlv_breaker_acquire(&b, t + 11.7, &until), DLV_GO);
    /* a 429 pause holds everything back without opening the breaker */
    dlv_breaker_pause(&b, t + 20);
    dlv_breaker_pause(&b, t + 15); /* an earlier pause does not shorten it */
    assert_int_equal(dlv_breaker_acquire(&b, t + 12, &until), DLV_WAIT);
    assert_true(until == t + 20);
    assert_int_equal(b.state, DLV_CLOSED);
    assert_int_equal(dlv_breaker_acquire(&b, t + 20, &until), DLV_GO);
    assert_string_equal(dlv_breaker_state_name(DLV_OPEN), "open");
    assert_string_equal(dlv_breaker_state_name(DLV_HALF_OPEN), "half_open");
    assert_string_equal(dlv_breaker_state_name(DLV_CLOSED), "closed");
}

static void test_run_rank(void **state)
{
    (void)state;
    assert_int_equal(dlv_run_rank("START"), 0);
    assert_int_equal(dlv_run_rank("RUNNING"), 1);
    assert_int_equal(dlv_run_rank("OTHER"), 1);
    assert_int_equal(dlv_run_rank(NULL), 1);
    assert_int_equal(dlv_run_rank("COMPLETE"), 2);
    assert_int_equal(dlv_run_rank("ABORT"), 2);
    assert_int_equal(dlv_run_rank("FAIL"), 2);
    assert_int_equal(dlv_run_rank("complete"), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify),    cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_retry_after), cmocka_unit_test(test_breaker),
        cmocka_unit_test(test_run_rank),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
