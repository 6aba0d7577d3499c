/* Streaming body parsers: JSON rows to NDJSON and multipart/form-data extraction. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/ndjson_scan.h"
#include "http/multipart.h"
#include "util/json_rows.h"

static int64_t rows(const char *in, char *out, size_t outlen, char *err)
{
    FILE *fi = fmemopen((void *)in, strlen(in), "r");
    char *buf = NULL;
    size_t blen = 0;
    FILE *fo = open_memstream(&buf, &blen);
    int64_t n = json_rows_to_ndjson(fi, fo, err, 256);
    fclose(fi);
    fclose(fo);
    snprintf(out, outlen, "%s", buf ? buf : "");
    free(buf);
    return n;
}

static void test_rows_object(void **state)
{
    (void)state;
    char out[512], err[256];
    assert_int_equal(
        rows("{\"rows\": [ {\"a\": 1, \"b\": \"x, ]}\"},\n {\"a\": [1, {\"c\": null}]} ]}", out,
             sizeof(out), err),
        2);
    assert_string_equal(out, "{\"a\":1,\"b\":\"x, ]}\"}\n{\"a\":[1,{\"c\":null}]}\n");
}

static void test_rows_other_keys_and_array(void **state)
{
    (void)state;
    char out[512], err[256];
    assert_int_equal(
        rows("{\"meta\": {\"x\": [1,2]}, \"n\": 5, \"s\": \"q\\\"\", \"rows\": [{\"a\":true}]}",
             out, sizeof(out), err),
        1);
    assert_string_equal(out, "{\"a\":true}\n");
    assert_int_equal(rows("[{\"a\":\"\\u00e9\\\\\"}]", out, sizeof(out), err), 1);
    assert_string_equal(out, "{\"a\":\"\\u00e9\\\\\"}\n");
    assert_int_equal(rows("{\"rows\": []}", out, sizeof(out), err), 0);
    assert_string_equal(out, "");
}

static void test_rows_errors(void **state)
{
    (void)state;
    char out[512], err[256];
    const char *bad[] = {"",
                         "42",
                         "{\"x\": 1}",
                         "{\"rows\": 5}",
                         "[1, 2]",
                         "[{\"a\": 1}",
                         "[{\"a\": \"open}]",
                         "[{\"a\":1}] trailing",
                         "[{\"a\":1}}]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = 0;
        assert_int_equal(rows(bad[i], out, sizeof(out), err), -1);
        assert_non_null(strstr(err, "byte "));
    }
}

static char *write_tmp(const char *data, size_t len)
{
    char *path = strdup("/tmp/dlb-mp-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
    return path;
}

static void test_multipart_extract(void **state)
{
    (void)state;
    const char body[] = "preamble\r\n--XyZ\r\n"
                        "Content-Disposition: form-data; name=\"note\"\r\n\r\n"
                        "hello\r\n--XyZ\r\n"
                        "Content-Disposition: form-data; name=\"file\"; filename=\"a b.csv\"\r\n"
                        "Content-Type: text/csv\r\n\r\n"
                        "id,name\r\n1,\"--XyZ not a boundary\"\r\n\r\n--XyZ--\r\n";
    char *in = write_tmp(body, sizeof(body) - 1);
    char out[] = "/tmp/dlb-mp-out-XXXXXX";
    close(mkstemp(out));
    multipart_part part;
    char err[256];
    assert_int_equal(multipart_extract(in, "multipart/form-data; boundary=XyZ", "file", out, &part,
                                       err, sizeof(err)),
                     0);
    assert_string_equal(part.filename, "a b.csv");
    assert_string_equal(part.content_type, "text/csv");
    FILE *f = fopen(out, "rb");
    char got[256] = "";
    size_t n = fread(got, 1, sizeof(got) - 1, f);
    fclose(f);
    got[n] = 0;
    assert_string_equal(got, "id,name\r\n1,\"--XyZ not a boundary\"\r\n");
    assert_int_equal(part.size, strlen(got));
    /* A field that is not there, and a body cut short. */
    assert_int_equal(multipart_extract(in, "multipart/form-data; boundary=\"XyZ\"", "missing", out,
                                       &part, err, sizeof(err)),
                     1);
    unlink(in);
    free(in);
    const char cut[] = "--B\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc";
    in = write_tmp(cut, sizeof(cut) - 1);
    assert_int_equal(multipart_extract(in, "multipart/form-data; boundary=B", "file", out, &part,
                                       err, sizeof(err)),
                     -1);
    assert_int_equal(
        multipart_extract(in, "multipart/form-data", "file", out, &part, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "boundary"));
    unlink(in);
    free(in);
    unlink(out);
}

static void test_multipart_large_part(void **state)
{
    (void)state;
    /* A part larger than the parser's buffer, with boundary-like bytes near chunk edges. */
    size_t big = 300 * 1024;
    char *payload = malloc(big);
    for (size_t i = 0; i < big; i++)
        payload[i] = (char)('a' + (i % 23));
    memcpy(payload + 65530, "\r\n--QQ", 6); /* a prefix of the delimiter only */
    const char head[] = "--QQQ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n";
    const char tail[] = "\r\n--QQQ--\r\n";
    size_t total = sizeof(head) - 1 + big + sizeof(tail) - 1;
    char *body = malloc(total);
    memcpy(body, head, sizeof(head) - 1);
    memcpy(body + sizeof(head) - 1, payload, big);
    memcpy(body + sizeof(head) - 1 + big, tail, sizeof(tail) - 1);
    char *in = write_tmp(body, total);
    char out[] = "/tmp/dlb-mp-out-XXXXXX";
    close(mkstemp(out));
    multipart_part part;
    char err[256];
    assert_int_equal(multipart_extract(in, "multipart/form-data; boundary=QQQ", "file", out, &part,
                                       err, sizeof(err)),
                     0);
    assert_int_equal(part.size, big);
    FILE *f = fopen(out, "rb");
    char *got = malloc(big);
    assert_int_equal(fread(got, 1, big, f), big);
    fclose(f);
    assert_memory_equal(got, payload, big);
    free(got);
    free(payload);
    free(body);
    unlink(in);
    free(in);
    unlink(out);
}

/* ---- the NDJSON pre-scan: two halves give what one pass gives -------------------------- */

/* n rows of {"id":k,"name":"..."}; row bad_at (1-based, 0: none) gets the key "zz"; rows from
 * pretty_at on are written over two lines (an object split by a newline). */
static char *ndjson_body(long n, long bad_at, long pretty_at, size_t *len, long *longest)
{
    size_t cap = (size_t)n * 64 + 64, at = 0;
    char *b = malloc(cap);
    *longest = 0;
    for (long k = 1; k <= n; k++) {
        int w = snprintf(b + at, cap - at, "{\"%s\":%ld,%s\"name\":\"r\\\"%ld, x\"}\n",
                         k == bad_at ? "zz" : "id", k, pretty_at && k >= pretty_at ? "\n" : "", k);
        long line = w - 1;
        if (pretty_at && k >= pretty_at) { /* two lines: the longer one counts */
            const char *nl = memchr(b + at, '\n', (size_t)w);
            long first = nl - (b + at), second = w - 2 - first;
            line = first > second ? first : second;
        }
        if (line > *longest) *longest = line;
        at += (size_t)w;
    }
    *len = at;
    return b;
}

static void test_ndjson_scan_halves(void **state)
{
    (void)state;
    const char *names[] = {"id", "name"};
    const long n = 400000; /* ~15 MB: split on two threads */
    size_t len;
    long longest;
    ndjson_scan sc;
    char *b = ndjson_body(n, 0, 0, &len, &longest);
    assert_true(len > (8u << 20));
    ndjson_scan_run((unsigned char *)b, (unsigned char *)b + len, names, 2, &sc);
    assert_int_equal(sc.rows, n);
    assert_int_equal(sc.longest, longest);
    assert_int_equal(sc.bad_row, 0);
    assert_true(sc.clean);
    free(b);
    /* an unknown key in the second half, then in the first: its row counted from the start */
    for (long bad = n - 7; bad > 0; bad = bad == n - 7 ? 13 : 0) {
        b = ndjson_body(n, bad, 0, &len, &longest);
        ndjson_scan_run((unsigned char *)b, (unsigned char *)b + len, names, 2, &sc);
        assert_int_equal(sc.bad_row, bad);
        assert_int_equal(sc.bad_len, 2);
        assert_memory_equal(sc.bad_key, "zz", 2);
        free(b);
    }
    /* objects over two lines from the middle on: the halves do not meet at a row boundary, so
     * one pass decides; rows and the unknown key's row are still exact */
    b = ndjson_body(n, n - 3, n / 3, &len, &longest);
    ndjson_scan_run((unsigned char *)b, (unsigned char *)b + len, names, 2, &sc);
    assert_int_equal(sc.bad_row, n - 3);
    free(b);
    b = ndjson_body(n, 0, n / 3, &len, &longest);
    ndjson_scan_run((unsigned char *)b, (unsigned char *)b + len, names, 2, &sc);
    assert_int_equal(sc.rows, n);
    assert_int_equal(sc.longest, longest);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ndjson_scan_halves),
        cmocka_unit_test(test_rows_object),
        cmocka_unit_test(test_rows_other_keys_and_array),
        cmocka_unit_test(test_rows_errors),
        cmocka_unit_test(test_multipart_extract),
        cmocka_unit_test(test_multipart_large_part),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
