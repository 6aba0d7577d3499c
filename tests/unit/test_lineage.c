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

#include "lineage/internal.h"

#include <dirent.h>
#include <jansson.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_event),       cmocka_unit_test(test_fatal_problems),
        cmocka_unit_test(test_deviations),       cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_formats),          cmocka_unit_test(test_state_order),
        cmocka_unit_test(test_facet_merge),      cmocka_unit_test(test_split_array),
        cmocka_unit_test(test_inflate_and_hash), cmocka_unit_test(test_spec_fixtures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
