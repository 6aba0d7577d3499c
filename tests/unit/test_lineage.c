/* Lineage without a server: the OpenLineage validator (fatal problems vs deviations, JSON
 * paths, formats), the order-independent run state, the facet merge, batch splitting, gzip
 * and every fixture of the bundled spec examples wrapped into a RunEvent. The spec folder is
 * DLB_OL_SPEC_DIR or ../shared/openlineage-spec from the repository root; the fixture test is
 * skipped when it is absent. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "config.h"
#include "lineage/internal.h"
#include "util/log.h"

#include <dirent.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define GOOD                                                                                       \
    "{\"eventType\":\"START\",\"eventTime\":\"2024-01-02T03:04:05.678+01:00\","                    \
    "\"producer\":\"https://example.com/p\",\"schemaURL\":"                                        \
    "\"https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent\","                      \
    "\"run\":{\"runId\":\"0190A9F3-1C1E-7B8A-9D2E-3F4A5B6C7D8E\"},"                                \
    "\"job\":{\"namespace\":\"ns\",\"name\":\"j\"},\"inputs\":[{\"namespace\":\"a\",\"name\":"     \
    "\"b\"}],\"outputs\":[]}"

static json_t *parse(const char *s)
{
    json_t *j = json_loads(s, 0, NULL);
    assert_non_null(j);
    return j;
}

/* Validates ev after applying a JSON-Merge-Patch-like override; returns the check. */
static int check(const char *patch, ol_check *chk)
{
    json_t *ev = parse(GOOD);
    if (patch) {
        json_t *p = parse(patch);
        json_object_update(ev, p);
        json_decref(p);
    }
    int rc = ol_validate(ev, chk);
    json_decref(ev);
    return rc;
}

static void expect_first(const char *patch, int fatal, const char *want)
{
    ol_check chk;
    int rc = check(patch, &chk);
    char first[600];
    ol_check_first(&chk, fatal, first, sizeof(first));
    if (!strstr(first, want)) fail_msg("patch %s: got '%s', want '%s'", patch, first, want);
    assert_int_equal(rc, fatal ? -1 : 0);
    if (!fatal) assert_true(ol_check_deviations(&chk) > 0);
    ol_check_free(&chk);
}

static void test_good_event(void **state)
{
    (void)state;
    ol_check chk;
    assert_int_equal(check(NULL, &chk), 0);
    assert_int_equal(chk.kind, OL_RUN);
    assert_int_equal(json_array_size(chk.problems), 0);
    assert_string_equal(chk.event_type, "START");
    assert_string_equal(chk.run_id, "0190a9f3-1c1e-7b8a-9d2e-3f4a5b6c7d8e");
    /* 03:04:05.678 at +01:00 is 02:04:05.678 UTC */
    assert_int_equal(chk.event_time_us, 1704161045678000LL);
    ol_check_free(&chk);
}

static void test_fatal_problems(void **state)
{
    (void)state;
    expect_first("{\"run\":{\"runId\":\"x\"}}", 1, "/run/runId: must be a UUID");
    expect_first("{\"run\":{}}", 1, "/run/runId: is required");
    expect_first("{\"job\":{\"name\":\"j\"}}", 1, "/job/namespace: is required");
    expect_first("{\"job\":{\"namespace\":\"\",\"name\":\"j\"}}", 1, "/job/namespace: must be 1");
    expect_first("{\"eventType\":\"DONE\"}", 1, "/eventType: must be one of");
    expect_first("{\"eventTime\":\"2024-13-01T00:00:00Z\"}", 1, "/eventTime: must be an RFC");
    expect_first("{\"eventTime\":\"2024-02-30T00:00:00Z\"}", 1, "/eventTime: must be an RFC");
    expect_first("{\"eventTime\":5}", 1, "/eventTime: must be a string");
    expect_first("{\"inputs\":{}}", 1, "/inputs: must be an array");
    expect_first("{\"outputs\":[{\"namespace\":\"a\"}]}", 1, "/outputs/0/name: is required");
    expect_first("{\"run\":5}", 1, "/run: must be an object");
}

static void test_deviations(void **state)
{
    (void)state;
    expect_first("{\"schemaURL\":null}", 0, "/schemaURL: must be a string");
    expect_first("{\"producer\":\"not a uri\"}", 0, "/producer: must be a URI");
    expect_first("{\"eventTime\":\"2024-01-01T00:00:00\"}", 0, "with a zone");
    expect_first("{\"eventTime\":\"2024-01-01 00:00:00Z\"}", 0, "/eventTime");
    expect_first("{\"eventType\":\"complete\"}", 0, "/eventType: must be upper case");
    expect_first("{\"run\":{\"runId\":\"0190a9f3-1c1e-7b8a-9d2e-3f4a5b6c7d8e\",\"facets\":{\"m\":"
                 "{\"x\":1}}}}",
                 0, "/run/facets/m/_producer: is required");
    expect_first("{\"job\":{\"namespace\":\"n\",\"name\":\"j\",\"facets\":{\"a/b\":{\"_producer\":"
                 "\"https://x\",\"_schemaURL\":\"https://y\",\"_deleted\":1}}}}",
                 0, "/job/facets/a~1b/_deleted: must be a boolean");
    expect_first("{\"job\":{\"namespace\":\"n\",\"name\":\"j\",\"facets\":[]}}", 0,
                 "/job/facets: must be an object");
}

static void test_kinds(void **state)
{
    (void)state;
    const char *base = "\"eventTime\":\"2024-01-01T00:00:00Z\",\"producer\":\"https://p\","
                       "\"schemaURL\":\"https://s\"";
    char buf[512];
    ol_check chk;
    snprintf(buf, sizeof(buf), "{%s,\"job\":{\"namespace\":\"n\",\"name\":\"j\"}}", base);
    json_t *ev = parse(buf);
    assert_int_equal(ol_validate(ev, &chk), 0);
    assert_int_equal(chk.kind, OL_JOB);
    ol_check_free(&chk);
    json_decref(ev);
    snprintf(buf, sizeof(buf), "{%s,\"dataset\":{\"namespace\":\"n\",\"name\":\"d\"}}", base);
    ev = parse(buf);
    assert_int_equal(ol_validate(ev, &chk), 0);
    assert_int_equal(chk.kind, OL_DATASET);
    ol_check_free(&chk);
    json_decref(ev);
    snprintf(buf, sizeof(buf),
             "{%s,\"dataset\":{\"namespace\":\"n\",\"name\":\"d\"},\"job\":{\"namespace\":\"n\","
             "\"name\":\"j\"}}",
             base);
    ev = parse(buf);
    assert_int_equal(ol_validate(ev, &chk), -1); /* oneOf: two branches match */
    ol_check_free(&chk);
    json_decref(ev);
}

static void test_formats(void **state)
{
    (void)state;
    assert_true(ol_uri_valid("https://openlineage.io/spec/facets/1-0-1/X.json#/$defs/X"));
    assert_true(ol_uri_valid("s3://bucket/key%20x"));
    assert_true(ol_uri_valid("urn:uuid:1"));
    assert_false(ol_uri_valid("no-scheme"));
    assert_false(ol_uri_valid("http://a b"));
    assert_false(ol_uri_valid("http://a#b#c"));
    assert_false(ol_uri_valid("1http://a"));
    int64_t us;
    assert_int_equal(ol_time_parse("1970-01-01T00:00:01Z", &us), 0);
    assert_int_equal(us, 1000000);
    assert_int_equal(ol_time_parse("1970-01-01T00:00:00.5-00:30", &us), 0);
    assert_int_equal(us, 1800500000);
    assert_int_equal(ol_time_parse("2024-02-29T23:59:60Z", &us), 0);
    assert_int_equal(ol_time_parse("2023-02-29T00:00:00Z", &us), -1);
    assert_int_equal(ol_time_parse("2024-01-01T00:00:00+0100", &us), 1);
    assert_int_equal(ol_time_parse("2024-01-01T00:00:00Zjunk", &us), -1);
    char out[40];
    lineage_fmt_time(1704161045678000LL, out);
    assert_string_equal(out, "2024-01-02T02:04:05.678000Z");
}

static void test_state_order(void **state)
{
    (void)state;
    /* every permutation of the same events ends in the same state */
    const char *types[] = {"START", "RUNNING", "OTHER", "COMPLETE", "FAIL"};
    int64_t times[] = {10, 20, 50, 30, 25};
    int perm[5] = {0, 1, 2, 3, 4};
    char first[16] = "";
    for (int n = 0; n < 120; n++) {
        /* n-th permutation (factorial number system) */
        int avail[5] = {0, 1, 2, 3, 4}, k = n, navail = 5;
        for (int i = 5; i >= 1; i--) {
            int f = 1;
            for (int j = 2; j < i; j++)
                f *= j;
            int idx = k / f;
            k %= f;
            perm[5 - i] = avail[idx];
            for (int j = idx; j < navail - 1; j++)
                avail[j] = avail[j + 1];
            navail--;
        }
        char cur[16] = "";
        int64_t cur_t = 0;
        for (int i = 0; i < 5; i++) {
            if (ol_state_wins(cur, cur_t, types[perm[i]], times[perm[i]])) {
                snprintf(cur, sizeof(cur), "%s", types[perm[i]]);
                cur_t = times[perm[i]];
            }
        }
        if (!first[0]) snprintf(first, sizeof(first), "%s", cur);
        assert_string_equal(cur, first);
    }
    assert_string_equal(first, "COMPLETE"); /* the latest terminal event */
    assert_false(ol_state_wins("START", 10, "OTHER", 99));
    assert_true(ol_state_wins("OTHER", 99, "START", 10));
    assert_true(ol_state_wins("COMPLETE", 10, "FAIL", 10)); /* tie: FAIL > COMPLETE */
    assert_false(ol_state_wins("FAIL", 10, "COMPLETE", 10));
}

static void test_facet_merge(void **state)
{
    (void)state;
    json_t *dst = json_object(), *times = json_object();
    json_t *a = parse("{\"x\":{\"v\":1},\"y\":{\"v\":1},\"bad\":5}");
    json_t *older = parse("{\"x\":{\"v\":0}}");
    json_t *del = parse("{\"y\":{\"_deleted\":true}}");
    assert_int_equal(ol_facets_merge(dst, times, a, 100), 1);
    assert_null(json_object_get(dst, "bad"));
    assert_int_equal(ol_facets_merge(dst, times, older, 50), 0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(dst, "x"), "v")), 1);
    assert_int_equal(ol_facets_merge(dst, times, del, 200), 1);
    assert_null(json_object_get(dst, "y"));
    assert_int_equal(ol_facets_merge(dst, times, a, 150), 0); /* older than the deletion */
    assert_null(json_object_get(dst, "y"));
    json_decref(a);
    json_decref(older);
    json_decref(del);
    json_decref(dst);
    json_decref(times);
}

static void test_split_array(void **state)
{
    (void)state;
    const char *s = " [ {\"a\":\"]},\\\"\"} , [1,2],\"x\", 3 ,null]  ";
    size_t *st = NULL, *ln = NULL, n = 0, bad = 0;
    assert_int_equal(lineage_split_array(s, strlen(s), &st, &ln, &n, &bad), 0);
    assert_int_equal(n, 5);
    assert_memory_equal(s + st[0], "{\"a\":\"]},\\\"\"}", ln[0]);
    assert_memory_equal(s + st[1], "[1,2]", ln[1]);
    assert_memory_equal(s + st[3], "3", ln[3]);
    assert_memory_equal(s + st[4], "null", ln[4]);
    free(st);
    free(ln);
    assert_int_equal(lineage_split_array("[]", 2, &st, &ln, &n, &bad), 0);
    assert_int_equal(n, 0);
    free(st);
    free(ln);
    const char *bads[] = {"{}", "[1,", "[1 2]", "[{]", "[1] x", ""};
    for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++)
        assert_int_equal(lineage_split_array(bads[i], strlen(bads[i]), &st, &ln, &n, &bad), -1);
}

static void test_inflate_and_hash(void **state)
{
    (void)state;
    const char *msg = GOOD;
    unsigned char gz[1024];
    z_stream zs = {0};
    assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = (Bytef *)msg;
    zs.avail_in = (uInt)strlen(msg);
    zs.next_out = gz;
    zs.avail_out = sizeof(gz);
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t gzlen = zs.total_out;
    deflateEnd(&zs);
    char *out = NULL;
    size_t outlen = 0;
    assert_int_equal(lineage_inflate((char *)gz, gzlen, 1 << 20, &out, &outlen), 0);
    assert_int_equal(outlen, strlen(msg));
    assert_memory_equal(out, msg, outlen);
    free(out);
    assert_int_equal(lineage_inflate((char *)gz, gzlen, 10, &out, &outlen), -2);
    assert_int_equal(lineage_inflate((char *)gz, gzlen / 2, 1 << 20, &out, &outlen), -1);
    assert_int_equal(lineage_inflate("garbage", 7, 1 << 20, &out, &outlen), -1);
    /* the hash ignores key order and whitespace */
    json_t *a = parse("{\"a\":1,\"b\":[1,2]}"), *b = parse("{ \"b\" : [1, 2], \"a\" : 1 }");
    char ha[65], hb[65];
    assert_int_equal(lineage_event_hash(a, ha), 0);
    assert_int_equal(lineage_event_hash(b, hb), 0);
    assert_string_equal(ha, hb);
    json_decref(a);
    json_decref(b);
}

/* ---- spec fixtures ---- */

static char g_spec[4096];

static int find_spec(void)
{
    const char *env = getenv("DLB_OL_SPEC_DIR");
    const char *cands[] = {env, "../shared/openlineage-spec", "../../shared/openlineage-spec"};
    for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]); i++) {
        if (!cands[i]) continue;
        char p[4200];
        snprintf(p, sizeof(p), "%s/OpenLineage.json", cands[i]);
        struct stat st;
        if (stat(p, &st) == 0) {
            snprintf(g_spec, sizeof(g_spec), "%s", cands[i]);
            return 1;
        }
    }
    return 0;
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* Wraps a facet fixture into a RunEvent at the level its directory name says. */
static json_t *wrap(const char *dir, json_t *fixture)
{
    if (json_object_get(fixture, "eventTime")) return json_incref(fixture);
    json_t *ev = parse(GOOD);
    json_t *out = json_pack("{s:s, s:s}", "namespace", "fx", "name", "out");
    json_array_append_new(json_object_get(ev, "outputs"), out);
    json_t *in = json_array_get(json_object_get(ev, "inputs"), 0);
    if (ends_with(dir, "InputDatasetFacet"))
        json_object_set(in, "inputFacets", fixture);
    else if (ends_with(dir, "OutputDatasetFacet"))
        json_object_set(out, "outputFacets", fixture);
    else if (ends_with(dir, "JobFacet"))
        json_object_set(json_object_get(ev, "job"), "facets", fixture);
    else if (ends_with(dir, "RunFacet"))
        json_object_set(json_object_get(ev, "run"), "facets", fixture);
    else
        json_object_set(out, "facets", fixture);
    return ev;
}

static int check_file(const char *dir, const char *path)
{
    json_error_t je;
    json_t *fx = json_load_file(path, 0, &je);
    if (!fx) {
        print_error("%s: %s\n", path, je.text);
        return 1;
    }
    json_t *ev = wrap(dir, fx);
    ol_check chk;
    int rc = ol_validate(ev, &chk);
    int bad = rc != 0 || ol_check_deviations(&chk) != 0;
    if (bad) {
        char first[600];
        ol_check_first(&chk, 0, first, sizeof(first));
        print_error("%s: %s\n", path, first);
    }
    ol_check_free(&chk);
    json_decref(ev);
    json_decref(fx);
    return bad;
}

static void test_spec_fixtures(void **state)
{
    (void)state;
    if (!find_spec()) {
        print_message("SKIP: OpenLineage spec not found (set DLB_OL_SPEC_DIR or put it at "
                      "../shared/openlineage-spec from the repository root)\n");
        skip();
    }
    char ex[4200];
    snprintf(ex, sizeof(ex), "%s/examples", g_spec);
    DIR *d = opendir(ex);
    assert_non_null(d);
    int files = 0, failures = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char p[4600];
        snprintf(p, sizeof(p), "%s/%s", ex, de->d_name);
        struct stat st;
        if (stat(p, &st) != 0) continue;
        if (!S_ISDIR(st.st_mode)) {
            failures += check_file(de->d_name, p);
            files++;
            continue;
        }
        DIR *sub = opendir(p);
        struct dirent *fe;
        while (sub && (fe = readdir(sub))) {
            if (!ends_with(fe->d_name, ".json")) continue;
            char f[5000];
            snprintf(f, sizeof(f), "%s/%s", p, fe->d_name);
            failures += check_file(de->d_name, f);
            files++;
        }
        if (sub) closedir(sub);
    }
    closedir(d);
    print_message("spec fixtures: %d checked, %d rejected\n", files, failures);
    assert_true(files >= 40);
    assert_int_equal(failures, 0);
}

/* ---- the JSON writer (graph answers) ---- */

static char *jw(const char *s, size_t n)
{
    buf_t b;
    buf_init(&b, 0);
    assert_int_equal(lineage_json_str(&b, s, n), 0);
    return buf_steal(&b, NULL);
}

static void expect_jw(const char *s, size_t n, const char *want)
{
    char *got = jw(s, n);
    if (strcmp(got, want)) fail_msg("escaping %zu bytes: got %s, want %s", n, got, want);
    /* whatever went in, the output is one valid JSON string */
    json_t *j = json_loads(got, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!json_is_string(j)) fail_msg("not a JSON string: %s", got);
    json_decref(j);
    free(got);
}

static void test_json_writer_escaping(void **state)
{
    (void)state;
    expect_jw("plain", 5, "\"plain\"");
    expect_jw("", 0, "\"\"");
    expect_jw(NULL, 3, "\"\"");
    expect_jw("a\"b\\c/d", 7, "\"a\\\"b\\\\c/d\"");
    expect_jw("\b\f\n\r\t", 5, "\"\\b\\f\\n\\r\\t\"");
    expect_jw("\x01\x1f\x7f", 3, "\"\\u0001\\u001f\x7f\"");
    expect_jw("a\0b", 3, "\"a\\u0000b\""); /* explicit length: NUL is data */
    /* valid UTF-8 (2, 3 and 4 bytes) is copied as it is */
    expect_jw("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9,
              "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
    /* not UTF-8: each bad byte becomes U+FFFD (stray continuation, 0xff, overlong, surrogate,
     * above U+10FFFF, cut short at the end) */
    expect_jw("a\x80z", 3, "\"a\xef\xbf\xbdz\"");
    expect_jw("\xff", 1, "\"\xef\xbf\xbd\"");
    expect_jw("\xc0\x80", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\"");
    expect_jw("\xed\xa0\x80", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    expect_jw("\xf4\x90\x80\x80", 4, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    expect_jw("x\xe2\x82", 3, "\"x\xef\xbf\xbd\xef\xbf\xbd\"");
    /* round trip against jansson for every single byte and a long mixed string */
    char all[256];
    for (int i = 0; i < 128; i++)
        all[i] = (char)(i ? i : ' ');
    char *got = jw(all, 128);
    json_t *j = json_loads(got, JSON_DECODE_ANY, NULL);
    assert_non_null(j);
    assert_int_equal(json_string_length(j), 128);
    assert_memory_equal(json_string_value(j), all, 128);
    json_decref(j);
    free(got);
    buf_t b;
    buf_init(&b, 0);
    assert_int_equal(lineage_json_strz(&b, "job:s3://b:x"), 0);
    assert_string_equal(b.data, "\"job:s3://b:x\"");
    buf_free(&b);
}

static void test_fmt_time(void **state)
{
    (void)state;
    /* the fast formatter against gmtime/strftime over a spread of instants */
    int64_t samples[] = {0,
                         1,
                         -1,
                         999999,
                         1704161045678000LL,
                         951782400000000LL /* 2000-02-29 */,
                         4102444799999999LL /* 2099-12-31T23:59:59.999999 */,
                         -2208988800000000LL /* 1900-01-01 */,
                         253402300799000000LL /* 9999-12-31T23:59:59 */};
    for (size_t k = 0; k < sizeof(samples) / sizeof(samples[0]) + 2000; k++) {
        int64_t us = k < sizeof(samples) / sizeof(samples[0])
                         ? samples[k]
                         : (int64_t)((uint64_t)k * 2654435761ULL * 977ULL % 4102444800000000ULL);
        char got[40], want[64], base[32];
        lineage_fmt_time(us, got);
        int64_t s = us / 1000000, frac = us % 1000000;
        if (frac < 0) {
            frac += 1000000;
            s--;
        }
        time_t t = (time_t)s;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(want, sizeof(want), "%s.%06lldZ", base, (long long)frac);
        if (strcmp(got, want)) fail_msg("%lld: got %s, want %s", (long long)us, got, want);
    }
}

/* ---- storing: one transaction per batch, savepoints, group commit (SQLite) ---- */

typedef struct {
    char dir[64];
    config_t cfg;
    meta_t *m;
    lineage_t *lg;
} store_fx;

static int store_setup(void **state)
{
    store_fx *f = calloc(1, sizeof(*f));
    if (!f) return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/dlb-test-lineage-XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    setenv("ENV_FILE", "/dev/null", 1);
    log_set_level(LOG_CRITICAL); /* the "boom" errors below are expected */
    setenv("DB_DUCKLAKE_CONNECTION_RETRIES", "1", 1);
    unsetenv("DB_POSTGRES_HOST");
    unsetenv("MONITORING_OPENLINEAGE_URL");
    setenv("DATA_DIR", f->dir, 1);
    char err[4096];
    if (config_load(&f->cfg, err, sizeof(err))) {
        fprintf(stderr, "config_load: %s\n", err);
        return -1;
    }
    f->m = meta_open(&f->cfg, err, sizeof(err));
    if (!f->m) {
        fprintf(stderr, "meta_open: %s\n", err);
        return -1;
    }
    f->lg = lineage_create(f->m, &f->cfg, err, sizeof(err));
    if (!f->lg) return -1;
    /* A job named "boom" cannot be stored: a database error of that one event. */
    meta_conn *c = meta_acquire(f->m);
    int rc = meta_exec_script(c,
                              "CREATE TRIGGER boom BEFORE INSERT ON ol_jobs WHEN NEW.name = "
                              "'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END",
                              err, sizeof(err));
    meta_release(f->m, c);
    *state = f;
    return rc ? -1 : 0;
}

static int store_teardown(void **state)
{
    store_fx *f = *state;
    lineage_destroy(f->lg);
    meta_close(f->m);
    config_free(&f->cfg);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd)) fprintf(stderr, "cannot remove %s\n", f->dir);
    free(f);
    return 0;
}

static int64_t count_rows(store_fx *f, const char *sql)
{
    meta_conn *c = meta_acquire(f->m);
    meta_result *r = meta_query(c, sql, NULL, 0, NULL, NULL, 0);
    int64_t n = r ? meta_result_int(r, 0, 0) : -1;
    meta_result_free(r);
    meta_release(f->m, c);
    return n;
}

#define EV(run, job)                                                                               \
    "{\"eventType\":\"COMPLETE\",\"eventTime\":\"2024-01-02T03:04:05Z\",\"producer\":"             \
    "\"https://example.com/p\",\"schemaURL\":\"https://openlineage.io/spec/2-0-2/"                 \
    "OpenLineage.json#/$defs/RunEvent\",\"run\":{\"runId\":\"" run "\"},\"job\":{\"namespace\":"   \
    "\"t\",\"name\":\"" job "\"},\"inputs\":[{\"namespace\":\"t\",\"name\":\"in\"}],"              \
    "\"outputs\":[{\"namespace\":\"t\",\"name\":\"out_" job "\"}]}"
#define RUN(n) "0190a9f3-1c1e-7b8a-9d2e-3f4a5b6c7d" n

static void test_batch_partial_success_one_tx(void **state)
{
    store_fx *f = *state;
    const char *body = "[" EV(RUN("01"), "a") "," EV("not-a-uuid", "b") "," EV(
        RUN("03"), "boom") "," EV(RUN("04"), "c") ", {\"eventType\": 1} ," EV(RUN("01"), "a") "]";
    long long commits = atomic_load(&f->lg->commits);
    int status = 0;
    dlb_err e = {0};
    json_t *out = lineage_collect_batch(f->lg, body, strlen(body), &status, &e);
    assert_non_null(out);
    assert_int_equal(status, 200);
    /* every stored element committed together: exactly one transaction */
    assert_int_equal(atomic_load(&f->lg->commits) - commits, 1);
    json_t *sum = json_object_get(out, "summary");
    assert_string_equal(json_string_value(json_object_get(out, "status")), "partial_success");
    assert_int_equal(json_integer_value(json_object_get(sum, "received")), 6);
    assert_int_equal(json_integer_value(json_object_get(sum, "successful")), 3);
    assert_int_equal(json_integer_value(json_object_get(sum, "failed")), 3);
    assert_int_equal(json_integer_value(json_object_get(sum, "retriable")), 1);
    assert_int_equal(json_integer_value(json_object_get(sum, "non_retriable")), 2);
    json_t *failed = json_object_get(out, "failed_events");
    assert_int_equal(json_array_size(failed), 3);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(failed, 0), "index")), 1);
    /* the database failure of element 2 was rolled back alone (its savepoint) ... */
    json_t *boom = json_array_get(failed, 1);
    assert_int_equal(json_integer_value(json_object_get(boom, "index")), 2);
    assert_true(json_is_true(json_object_get(boom, "retriable")));
    assert_int_equal(json_integer_value(json_object_get(json_array_get(failed, 2), "index")), 4);
    json_decref(out);
    /* ... while its neighbours are stored; the last element is a duplicate of the first */
    assert_int_equal(count_rows(f, "SELECT count(*) FROM ol_events"), 2);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM ol_events WHERE job_name = 'boom'"), 0);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM ol_runs"), 2);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM ol_edges"), 4);
    assert_int_equal(atomic_load(&f->lg->duplicates), 1);

    /* nothing storable: no transaction is needed, and the answer says so */
    commits = atomic_load(&f->lg->commits);
    const char *bad = "[" EV("nope", "x") "]";
    out = lineage_collect_batch(f->lg, bad, strlen(bad), &status, &e);
    assert_non_null(out);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(out, "summary"), "failed")),
                     1);
    json_decref(out);
}

typedef struct {
    store_fx *f;
    int i;
    int ok;
} single_arg;

static void *post_single(void *p)
{
    single_arg *a = p;
    char ev[1024];
    const char *job = a->i == 5 ? "boom" : "g";
    snprintf(ev, sizeof(ev), EV("0190a9f3-1c1e-7b8a-9d2e-%012d", "%s"), a->i, job, job);
    dlb_err e = {0};
    json_t *out = lineage_collect(a->f->lg, ev, strlen(ev), &e, NULL);
    a->ok = out && !strcmp(json_string_value(json_object_get(out, "status")), "accepted");
    if (!out) a->ok = e.status == 500 ? -1 : 0;
    json_decref(out);
    return NULL;
}

static void test_group_commit(void **state)
{
    store_fx *f = *state;
    enum { N = 16 };
    pthread_t th[N];
    single_arg args[N];
    long long groups = atomic_load(&f->lg->gc_groups);
    for (int i = 0; i < N; i++) {
        args[i] = (single_arg){f, i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, post_single, &args[i]), 0);
    }
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    /* each caller got its own outcome: the "boom" event failed alone (500), the rest are in */
    for (int i = 0; i < N; i++)
        assert_int_equal(args[i].ok, i == 5 ? -1 : 1);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM ol_events WHERE job_name = 'g'"), N - 1);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM ol_events WHERE job_name = 'boom'"), 0);
    long long used = atomic_load(&f->lg->gc_groups) - groups;
    print_message("group commit: %d events in %lld transactions\n", N, used);
    assert_true(used >= 1 && used <= N);
}

/* A layered graph of 700 jobs (1,400+ nodes: deep walks switch to the in-memory snapshot). */
static void store_layers(store_fx *f, int layers, int width, const char *tag)
{
    size_t cap = (size_t)layers * width * 700 + 16, o = 0;
    char *body = malloc(cap);
    assert_non_null(body);
    o += (size_t)snprintf(body + o, cap - o, "[");
    for (int l = 0; l < layers; l++)
        for (int i = 0; i < width; i++)
            o += (size_t)snprintf(
                body + o, cap - o,
                "%s{\"eventType\":\"COMPLETE\",\"eventTime\":\"2024-01-02T03:04:05Z\","
                "\"producer\":\"https://example.com/p\",\"run\":{\"runId\":"
                "\"0190a9f3-1c1e-7b8a-9d2e-%04d%04d%04d\"},\"job\":{\"namespace\":\"g\",\"name\":"
                "\"j_%d_%d\"},\"inputs\":[{\"namespace\":\"g\",\"name\":\"d_%d_%d\"},{"
                "\"namespace\":"
                "\"g\",\"name\":\"d_%d_%d\"}],\"outputs\":[{\"namespace\":\"g\",\"name\":"
                "\"d_%d_%d%s\"}]}",
                l || i ? "," : "", l, i, tag[0] ? 1 : 0, l, i, l - 1, i, l - 1, (i + 1) % width, l,
                i, tag);
    o += (size_t)snprintf(body + o, cap - o, "]");
    int status = 0;
    dlb_err e = {0};
    json_t *out = lineage_collect_batch(f->lg, body, o, &status, &e);
    assert_non_null(out);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(out, "summary"), "failed")),
                     0);
    json_decref(out);
    free(body);
}

static char *graph_of(store_fx *f, const char *node, int depth, int snapshot)
{
    /* graph_big_until in the future: no fingerprint, no snapshot (SQL only) */
    atomic_store(&f->lg->graph_big_until, snapshot ? 0 : INT64_MAX);
    dlb_err e = {0};
    size_t len = 0;
    char *g = lineage_graph_json(f->lg, node, depth, &len, &e);
    if (!g) fail_msg("graph %s: %s", node, e.detail);
    assert_int_equal(strlen(g), len);
    return g;
}

static void test_graph_snapshot(void **state)
{
    store_fx *f = *state;
    store_layers(f, 14, 50, ""); /* 700 jobs, 750 datasets */
    const char *node = "job:g:j_7_25";
    char *sql = graph_of(f, node, 20, 0);
    char *snap1 = graph_of(f, node, 20, 1); /* builds the snapshot mid-walk */
    assert_non_null(f->lg->gsnap);
    char *snap2 = graph_of(f, node, 20, 1); /* runs on it */
    assert_string_equal(snap1, sql);
    assert_string_equal(snap2, sql);
    json_t *j = json_loads(sql, 0, NULL);
    assert_non_null(j);
    assert_true(json_array_size(json_object_get(j, "graph")) > 1000);
    json_decref(j);
    /* a change (new outputs: new datasets and edges) invalidates the snapshot */
    store_layers(f, 1, 50, "_new");
    char *sql2 = graph_of(f, "dataset:g:d_0_3_new", 20, 0);
    char *snap3 = graph_of(f, "dataset:g:d_0_3_new", 20, 1);
    assert_string_equal(snap3, sql2);
    assert_non_null(strstr(snap3, "\"dataset:g:d_0_3_new\""));
    char *snap4 = graph_of(f, node, 20, 1);
    assert_string_not_equal(snap4, sql);
    char *sql3 = graph_of(f, node, 20, 0);
    assert_string_equal(snap4, sql3);
    /* shallow walks never need it and answer the same */
    char *small_sql = graph_of(f, node, 1, 0), *small = graph_of(f, node, 1, 1);
    assert_string_equal(small, small_sql);
    free(sql);
    free(snap1);
    free(snap2);
    free(sql2);
    free(snap3);
    free(snap4);
    free(sql3);
    free(small_sql);
    free(small);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_event),
        cmocka_unit_test(test_fatal_problems),
        cmocka_unit_test(test_deviations),
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_state_order),
        cmocka_unit_test(test_facet_merge),
        cmocka_unit_test(test_split_array),
        cmocka_unit_test(test_inflate_and_hash),
        cmocka_unit_test(test_spec_fixtures),
        cmocka_unit_test(test_json_writer_escaping),
        cmocka_unit_test(test_fmt_time),
        cmocka_unit_test_setup_teardown(test_batch_partial_success_one_tx, store_setup,
                                        store_teardown),
        cmocka_unit_test_setup_teardown(test_group_commit, store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(test_graph_snapshot, store_setup, store_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
