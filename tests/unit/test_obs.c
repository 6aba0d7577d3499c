/* Unit tests of src/obs: log-bucket histogram, metrics registry and exposition format,
 * performance windows, per-subsystem memory accounting. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "obs/loghist.h"
#include "obs/mem_account.h"
#include "obs/memory.h"
#include "obs/metrics.h"
#include "obs/perf.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* -------------------------------------------------------------------------------- loghist */

static void test_loghist_buckets(void **state)
{
    (void)state;
    assert_int_equal(loghist_index(0), 0);
    assert_int_equal(loghist_index(1023), 0);
    assert_int_equal(loghist_index(1024), 1);
    assert_int_equal(loghist_index(1ULL << 50), LOGHIST_N - 1);
    /* Every bucket holds exactly [lower, upper) and buckets are contiguous. */
    for (int i = 1; i < LOGHIST_N - 1; i++) {
        assert_int_equal(loghist_index(loghist_lower(i)), i);
        assert_int_equal(loghist_index(loghist_upper(i) - 1), i);
        assert_int_equal(loghist_upper(i), loghist_lower(i + 1));
        /* Four buckets per power of two: the width is at most a quarter of the lower bound. */
        assert_true(loghist_upper(i) - loghist_lower(i) <= loghist_lower(i) / 4 + 1);
    }
}

static void test_loghist_quantiles(void **state)
{
    (void)state;
    uint32_t c[LOGHIST_N];
    memset(c, 0, sizeof(c));
    assert_true(loghist_quantile(c, 0.5) == 0);
    /* 1 ms .. 1000 ms, one sample each: p50 ~ 500 ms, p99 ~ 990 ms, within 12.5%. */
    for (int ms = 1; ms <= 1000; ms++)
        c[loghist_index((uint64_t)ms * 1000000ULL)]++;
    double p50 = loghist_quantile(c, 0.50) / 1e6, p95 = loghist_quantile(c, 0.95) / 1e6,
           p99 = loghist_quantile(c, 0.99) / 1e6;
    assert_true(fabs(p50 - 500) / 500 <= 0.125);
    assert_true(fabs(p95 - 950) / 950 <= 0.125);
    assert_true(fabs(p99 - 990) / 990 <= 0.125);
    assert_true(p50 < p95 && p95 <= p99);
    /* One value: every quantile is its bucket. */
    memset(c, 0, sizeof(c));
    c[loghist_index(3000000)] = 1;
    assert_true(fabs(loghist_quantile(c, 0.01) / 3e6 - 1) <= 0.125);
    assert_true(fabs(loghist_quantile(c, 1.0) / 3e6 - 1) <= 0.125);
}

/* -------------------------------------------------------------------------------- metrics */

static char *render(void)
{
    buf_t b;
    buf_init(&b, 0);
    assert_int_equal(obs_metrics_render(&b), 0);
    size_t n;
    char *s = buf_steal(&b, &n);
    return s ? s : strdup("");
}

static void test_escaping(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 0);
    obs_escape_label(&b, "a\\b\"c\nd");
    assert_string_equal(b.data, "a\\\\b\\\"c\\nd");
    buf_reset(&b);
    obs_escape_help(&b, "x\\y\"z\nw");
    assert_string_equal(b.data, "x\\\\y\"z\\nw"); /* HELP keeps quotes */
    buf_free(&b);
    char v[64];
    obs_format_value(v, sizeof(v), 3);
    assert_string_equal(v, "3");
    obs_format_value(v, sizeof(v), 0.0005);
    assert_string_equal(v, "0.0005");
    obs_format_value(v, sizeof(v), INFINITY);
    assert_string_equal(v, "+Inf");
    obs_format_value(v, sizeof(v), -INFINITY);
    assert_string_equal(v, "-Inf");
    obs_format_value(v, sizeof(v), NAN);
    assert_string_equal(v, "NaN");
    obs_format_value(v, sizeof(v), 0.1 + 0.2);
    assert_true(strtod(v, NULL) == 0.1 + 0.2);
}

static void test_registry_exposition(void **state)
{
    (void)state;
    obs_metrics_reset();
    obs_family *c = obs_counter_family("t_requests_total", "Requests\nby \\route", "route,status");
    assert_non_null(c);
    /* Registering again gives the same family; another kind under the name is refused. */
    assert_ptr_equal(obs_counter_family("t_requests_total", "x", "route,status"), c);
    assert_null(obs_gauge_family("t_requests_total", "x", NULL));
    assert_null(obs_counter_family("bad-name", "x", NULL));
    assert_null(obs_counter_family("t_ok", "x", "le"));
    assert_null(obs_counter_family("t_ok2", "x", "9bad"));
    obs_series *a = obs_series_get(c, OBS_LABELS("/x\"y", "200"));
    assert_ptr_equal(obs_series_get(c, OBS_LABELS("/x\"y", "200")), a);
    obs_counter_inc(a);
    obs_counter_add(a, 2);
    obs_counter_inc(obs_series_get(c, OBS_LABELS("/z", "404")));
    obs_series *g = obs_series_get(obs_gauge_family("t_temp_bytes", "Gauge", NULL), NULL);
    obs_gauge_set(g, 10);
    obs_gauge_add(g, -2.5);
    static const double bounds[] = {0.1, 1};
    obs_series *h = obs_series_get(
        obs_histogram_family("t_dur_seconds", "Durations", "op", bounds, 2), OBS_LABELS("q"));
    obs_hist_observe(h, 0.05);
    obs_hist_observe(h, 0.1); /* upper bounds are inclusive */
    obs_hist_observe(h, 0.5);
    obs_hist_observe(h, 7);
    char *text = render();
    const char *want = "# HELP t_requests_total Requests\\nby \\\\route\n"
                       "# TYPE t_requests_total counter\n"
                       "t_requests_total{route=\"/x\\\"y\",status=\"200\"} 3\n"
                       "t_requests_total{route=\"/z\",status=\"404\"} 1\n"
                       "# HELP t_temp_bytes Gauge\n"
                       "# TYPE t_temp_bytes gauge\n"
                       "t_temp_bytes 7.5\n"
                       "# HELP t_dur_seconds Durations\n"
                       "# TYPE t_dur_seconds histogram\n"
                       "t_dur_seconds_bucket{op=\"q\",le=\"0.1\"} 2\n"
                       "t_dur_seconds_bucket{op=\"q\",le=\"1\"} 3\n"
                       "t_dur_seconds_bucket{op=\"q\",le=\"+Inf\"} 4\n"
                       "t_dur_seconds_sum{op=\"q\"} 7.65\n"
                       "t_dur_seconds_count{op=\"q\"} 4\n";
    assert_string_equal(text, want);
    free(text);
    obs_metrics_reset();
}

static int g_hook_calls;
static obs_series *g_hooked;
static void hook(void *ctx)
{
    g_hook_calls++;
    obs_gauge_set(g_hooked, *(double *)ctx);
}

static void test_scrape_hook(void **state)
{
    (void)state;
    obs_metrics_reset();
    static double value = 42;
    g_hooked =
        obs_series_get(obs_gauge_family("t_queue_depth", "Depth", "pool"), OBS_LABELS("data"));
    obs_metrics_on_scrape(hook, &value);
    char *text = render();
    assert_int_equal(g_hook_calls, 1);
    assert_non_null(strstr(text, "t_queue_depth{pool=\"data\"} 42\n"));
    free(text);
    obs_metrics_reset();
}

/* ----------------------------------------------------------------------------------- perf */

static void test_perf_window(void **state)
{
    (void)state;
    perf_track *t = perf_track_new("GET /x");
    assert_non_null(t);
    uint64_t start = 1000;
    /* 100 requests of 10 ms over 10 s, 5 of them errors; then one of 900 ms. */
    for (int i = 0; i < 100; i++)
        perf_track_record(t, start + (uint64_t)i / 10, 10000000, i % 20 == 0);
    perf_track_record(t, start + 9, 900000000, 0);
    perf_summary s;
    perf_track_summary(t, start + 9, start, &s);
    assert_int_equal(s.count, 101);
    assert_int_equal(s.errors, 5);
    assert_true(s.window_seconds == 10); /* tracking began 10 s ago */
    assert_true(fabs(s.rps - 10.1) < 1e-9);
    assert_true(fabs(s.p50_ms / 10 - 1) <= 0.125);
    assert_true(s.p99_ms <= s.max_ms);
    assert_true(fabs(s.max_ms - 900) < 1e-9);
    /* Four minutes later everything is still in the window; six minutes later nothing is. */
    perf_track_summary(t, start + 240, start, &s);
    assert_int_equal(s.count, 101);
    assert_true(s.window_seconds <= 300);
    perf_track_summary(t, start + 360, start, &s);
    assert_int_equal(s.count, 0);
    /* 300 s after start the ring has wrapped onto the slot of seconds 0-4 (50 requests):
     * it starts from zero, while seconds 5-9 (51 requests) are still inside the window. */
    perf_track_record(t, start + 300, 1000000, 0);
    perf_track_summary(t, start + 300, start, &s);
    assert_int_equal(s.count, 52);
    /* Several tracks merge. */
    perf_track *u = perf_track_new("GET /y");
    perf_track_record(u, start + 300, 2000000, 1);
    const perf_track *both[2] = {t, u};
    perf_summary_of(both, 2, 1, start + 300, start, &s); /* the current slot only */
    assert_int_equal(s.count, 2);
    assert_int_equal(s.errors, 1);
    json_t *j = perf_summary_json("GET /y", &s);
    assert_true(json_real_value(json_object_get(j, "error_rate")) == 0.5);
    json_decref(j);
    perf_track_free(u);
    perf_track_free(t);
}

/* --------------------------------------------------------------------------------- memory */

static void test_mem_account(void **state)
{
    (void)state;
    obs_mem_add("sse", 1000);
    obs_mem_add("sse", -400);
    obs_mem_slot *s = obs_mem_slot_get("cache");
    obs_mem_slot_add(s, 5);
    json_t *j = obs_mem_json();
    assert_int_equal(json_integer_value(json_object_get(j, "sse")), 600);
    assert_int_equal(json_integer_value(json_object_get(j, "cache")), 5);
    json_decref(j);
    /* Names beyond the limit are counted under "other", never lost. */
    char name[32];
    for (int i = 0; i < OBS_MEM_MAX_SUBSYSTEMS + 5; i++) {
        snprintf(name, sizeof(name), "sub%d", i);
        obs_mem_add(name, 1);
    }
    j = obs_mem_json();
    assert_true(json_object_size(j) <= OBS_MEM_MAX_SUBSYSTEMS);
    assert_true(json_integer_value(json_object_get(j, "other")) >= 5);
    json_decref(j);
}

static void test_mem_read(void **state)
{
    (void)state;
    obs_mem_sample s;
    assert_int_equal(obs_mem_read(&s), 0);
    assert_true(s.rss > 0 && s.vms >= s.rss && s.threads >= 1 && s.open_files >= 3);
    assert_true(s.limit > 0 && s.mem_available > 0);
    obs_memmon *m = obs_memmon_start(1, 0.8, 0.9);
    assert_non_null(m);
    json_t *j = obs_memmon_json(m);
    assert_true(json_integer_value(json_object_get(json_object_get(j, "current"), "rss_bytes")) >
                0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "stats"), "samples")),
                     1);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "ok");
    json_decref(j);
    obs_memmon_stop(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loghist_buckets), cmocka_unit_test(test_loghist_quantiles),
        cmocka_unit_test(test_escaping),        cmocka_unit_test(test_registry_exposition),
        cmocka_unit_test(test_scrape_hook),     cmocka_unit_test(test_perf_window),
        cmocka_unit_test(test_mem_account),     cmocka_unit_test(test_mem_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
