/* Unit tests of src/store: names, ranges, the local driver, the S3 XML readers and the
 * circuit breaker. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "store/breaker.h"
#include "store/s3_xml.h"
#include "store/store.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------- names */

static void test_bucket_names(void **state)
{
    (void)state;
    dlb_err e;
    const char *good[] = {"abc", "my-bucket", "a.b.c", "ducklake-data", "b0", "x1y"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        memset(&e, 0, sizeof(e));
        int rc = store_bucket_name_ok(good[i], &e);
        if (strlen(good[i]) < 3)
            assert_int_equal(rc, -1);
        else
            assert_int_equal(rc, 0);
    }
    const char *bad[] = {"ab",   "Upper", "under_score", "-lead", "trail-", "a..b",
                         "a.-b", "a-.b",  "192.168.1.1", "",      NULL};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&e, 0, sizeof(e));
        assert_int_equal(store_bucket_name_ok(bad[i], &e), -1);
        assert_int_equal(e.status, 400);
        assert_string_equal(e.code, "invalid_bucket_name");
    }
    char long64[65];
    memset(long64, 'a', 64);
    long64[64] = 0;
    assert_int_equal(store_bucket_name_ok(long64, &e), -1);
    long64[63] = 0;
    assert_int_equal(store_bucket_name_ok(long64, &e), 0);
}

static void test_key_names(void **state)
{
    (void)state;
    dlb_err e;
    const char *good[] = {"a",           "a/b/c.txt",    "données/été.csv",
                          "日本/語.txt", "emoji/🦆",   "a..b/c.d..e",
                          "...",         "a b+c=d&e?f#g"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        memset(&e, 0, sizeof(e));
        assert_int_equal(store_key_ok(good[i], &e), 0);
    }
    const char *bad[] = {"",         "/abs",         "a//b",       "trail/",
                         "a/../b",   "..",           "a/./b",      ".",
                         "a\x01b",   "tab\there",    "del\x7f",    "bad\xff",
                         "\xc0\xaf", "\xed\xa0\x80", "c1\xc2\x85", NULL};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&e, 0, sizeof(e));
        assert_int_equal(store_key_ok(bad[i], &e), -1);
        assert_int_equal(e.status, 400);
        assert_string_equal(e.code, "invalid_object_name");
        assert_null(strchr(e.detail, '\x01'));
    }
    char k[1100];
    memset(k, 'k', sizeof(k));
    k[1024] = 0;
    assert_int_equal(store_key_ok(k, &e), 0);
    k[1024] = 'k';
    k[1025] = 0;
    assert_int_equal(store_key_ok(k, &e), -1);
}

/* --------------------------------------------------------------------------------- ranges */

static void test_ranges(void **state)
{
    (void)state;
    store_range r;
    uint64_t off, len;
    store_range_parse("bytes=0-4", &r);
    assert_true(r.set);
    assert_int_equal(store_range_resolve(&r, 20, &off, &len), 0);
    assert_int_equal(off, 0);
    assert_int_equal(len, 5);
    store_range_parse("bytes=5-", &r);
    assert_int_equal(store_range_resolve(&r, 20, &off, &len), 0);
    assert_int_equal(off, 5);
    assert_int_equal(len, 15);
    store_range_parse("bytes=-3", &r);
    assert_int_equal(store_range_resolve(&r, 20, &off, &len), 0);
    assert_int_equal(off, 17);
    assert_int_equal(len, 3);
    store_range_parse("bytes=-300", &r);
    assert_int_equal(store_range_resolve(&r, 20, &off, &len), 0);
    assert_int_equal(off, 0);
    assert_int_equal(len, 20);
    store_range_parse("bytes=10-1000", &r);
    assert_int_equal(store_range_resolve(&r, 20, &off, &len), 0);
    assert_int_equal(len, 10);
    /* Unsatisfiable. */
    store_range_parse("bytes=20-", &r);
    assert_int_equal(store_range_resolve(&r, 20, &off, &len), -1);
    store_range_parse("bytes=-0", &r);
    assert_int_equal(store_range_resolve(&r, 20, &off, &len), -1);
    store_range_parse("bytes=0-", &r);
    assert_int_equal(store_range_resolve(&r, 0, &off, &len), -1);
    /* Ignored: the whole object. */
    const char *ignored[] = {"bytes=0-1,3-4",
                             "items=0-1",
                             "bytes=5-2",
                             "bytes=a-b",
                             "bytes=-",
                             "bytes=",
                             "bytes=99999999999999999999-",
                             NULL};
    for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
        store_range_parse(ignored[i], &r);
        assert_false(r.set);
        assert_int_equal(store_range_resolve(&r, 20, &off, &len), 0);
        assert_int_equal(len, 20);
    }
}

/* ---------------------------------------------------------------------------- local store */

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

typedef struct {
    char dir[256];
    store_t *s;
} fixture;

static int local_setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/dlb-store-test-XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    store_options o = {.backend = "local", .data_dir = f->dir};
    dlb_err e = {0};
    f->s = store_open(&o, &e);
    if (!f->s) return -1;
    *state = f;
    return 0;
}

static int local_teardown(void **state)
{
    fixture *f = *state;
    store_close(f->s);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void write_file(const char *path, const char *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, n, fp), n);
    fclose(fp);
}

typedef struct {
    char buf[4096];
    size_t n;
    uint64_t off, len, size;
    int began;
} collect;

static int c_begin(void *ctx, const store_object *info, uint64_t off, uint64_t len)
{
    collect *c = ctx;
    c->began++;
    c->off = off;
    c->len = len;
    c->size = info->size;
    return 0;
}

static int c_data(void *ctx, const void *p, size_t n)
{
    collect *c = ctx;
    assert_true(c->n + n <= sizeof(c->buf));
    memcpy(c->buf + c->n, p, n);
    c->n += n;
    return 0;
}

static void put_str(store_t *s, const char *dir, const char *bucket, const char *key,
                    const char *data)
{
    char src[512];
    snprintf(src, sizeof(src), "%s/src", dir);
    write_file(src, data, strlen(data));
    dlb_err e = {0};
    store_object o;
    assert_int_equal(store_put_file(s, bucket, key, src, 0, strlen(data), "text/plain", &o, &e), 0);
    assert_int_equal(o.size, strlen(data));
}

static void test_local_objects(void **state)
{
    fixture *f = *state;
    dlb_err e = {0};
    assert_int_equal(store_bucket_create(f->s, "bkt", &e), 0);
    assert_int_equal(store_bucket_create(f->s, "bkt", &e), -1);
    assert_int_equal(e.status, 409);
    assert_int_equal(store_bucket_exists(f->s, "bkt", &e), 1);
    assert_int_equal(store_bucket_exists(f->s, "nope", &e), 0);

    /* A slice of a file (offset) is what gets stored; its ETag is the MD5 of that slice. */
    char src[512];
    snprintf(src, sizeof(src), "%s/src", f->dir);
    write_file(src, "XXhello worldYY", 15);
    store_object o;
    assert_int_equal(store_put_file(f->s, "bkt", "a/b.txt", src, 2, 11, "text/plain", &o, &e), 0);
    assert_string_equal(o.etag, "5eb63bbbe01eeed093cb22bb8f5acdc3"); /* md5("hello world") */
    /* "a" and "a/b.txt" coexist (a file and a directory in the local layout). */
    put_str(f->s, f->dir, "bkt", "a", "just a");

    store_object h;
    assert_int_equal(store_head(f->s, "bkt", "a/b.txt", &h, &e), 0);
    assert_int_equal(h.size, 11);
    assert_string_equal(h.content_type, "text/plain");
    assert_string_equal(h.etag, o.etag);

    collect c = {0};
    store_sink sink = {c_begin, c_data, &c};
    store_range r;
    store_range_parse("bytes=-5", &r);
    assert_int_equal(store_get(f->s, "bkt", "a/b.txt", &r, &sink, NULL, &e), 0);
    assert_int_equal(c.began, 1);
    assert_int_equal(c.off, 6);
    assert_int_equal(c.size, 11);
    assert_memory_equal(c.buf, "world", 5);
    store_range_parse("bytes=11-", &r);
    uint64_t size = 0;
    memset(&e, 0, sizeof(e));
    assert_int_equal(store_get(f->s, "bkt", "a/b.txt", &r, &sink, &size, &e), -1);
    assert_int_equal(e.status, 416);
    assert_int_equal(size, 11);

    memset(&e, 0, sizeof(e));
    assert_int_equal(store_head(f->s, "bkt", "a/none", &h, &e), -1);
    assert_int_equal(e.status, 404);
    assert_string_equal(e.code, "no_such_key");
    assert_int_equal(store_head(f->s, "nobkt", "a", &h, &e), -1);
    assert_string_equal(e.code, "no_such_bucket");
    assert_int_equal(store_put_file(f->s, "nobkt", "a", src, 0, 1, NULL, NULL, &e), -1);
    assert_string_equal(e.code, "no_such_bucket");

    /* Deleting a non-empty bucket is refused; deletes clean up the directories. */
    assert_int_equal(store_bucket_delete(f->s, "bkt", &e), -1);
    assert_int_equal(e.status, 409);
    assert_int_equal(store_delete(f->s, "bkt", "a/b.txt", &e), 0);
    assert_int_equal(store_delete(f->s, "bkt", "a/b.txt", &e), -1);
    assert_int_equal(e.status, 404);
    assert_int_equal(store_delete(f->s, "bkt", "a", &e), 0);
    assert_int_equal(store_bucket_delete(f->s, "bkt", &e), 0);

    /* No temporary file is left behind. */
    char tmp[512];
    snprintf(tmp, sizeof(tmp), "%s/objects/.tmp", f->dir);
    assert_int_equal(rmdir(tmp), 0);
    mkdir(tmp, 0755);
}

/* The streaming put: bytes in pieces, the object only at finish; abort leaves nothing. */
static void test_local_writer(void **state)
{
    fixture *f = *state;
    dlb_err e = {0};
    char tmp[512];
    snprintf(tmp, sizeof(tmp), "%s/objects/.tmp", f->dir);
    assert_int_equal(store_bucket_create(f->s, "bkt", &e), 0);

    store_writer *w = store_writer_open(f->s, "bkt", "w/obj.txt", "text/x-w", 0, &e);
    assert_non_null(w);
    assert_int_equal(store_writer_write(w, "hello", 5, &e), 0);
    store_object h;
    assert_int_equal(store_head(f->s, "bkt", "w/obj.txt", &h, &e), -1); /* not yet */
    assert_int_equal(store_writer_write(w, " world", 6, &e), 0);
    store_object o;
    assert_int_equal(store_writer_finish(w, &o, &e), 0);
    assert_int_equal(o.size, 11);
    assert_string_equal(o.etag, "5eb63bbbe01eeed093cb22bb8f5acdc3"); /* md5("hello world") */
    assert_int_equal(store_head(f->s, "bkt", "w/obj.txt", &h, &e), 0);
    assert_string_equal(h.content_type, "text/x-w");
    assert_string_equal(h.etag, o.etag);

    /* An abandoned upload: neither the object nor its temporary file remains, and an
     * existing object of that name is untouched. */
    w = store_writer_open(f->s, "bkt", "w/obj.txt", NULL, 0, &e);
    assert_non_null(w);
    assert_int_equal(store_writer_write(w, "partial", 7, &e), 0);
    store_writer_abort(w);
    assert_int_equal(store_head(f->s, "bkt", "w/obj.txt", &h, &e), 0);
    assert_int_equal(h.size, 11);
    w = store_writer_open(f->s, "bkt", "w/gone.txt", NULL, 0, &e);
    assert_non_null(w);
    store_writer_abort(w);
    memset(&e, 0, sizeof(e));
    assert_int_equal(store_head(f->s, "bkt", "w/gone.txt", &h, &e), -1);
    assert_int_equal(e.status, 404);

    /* A missing bucket is known before any byte is taken. */
    assert_null(store_writer_open(f->s, "nobkt", "a", NULL, 0, &e));
    assert_string_equal(e.code, "no_such_bucket");

    assert_int_equal(store_delete(f->s, "bkt", "w/obj.txt", &e), 0);
    assert_int_equal(store_bucket_delete(f->s, "bkt", &e), 0);
    assert_int_equal(rmdir(tmp), 0); /* empty: no temporary file left */
    mkdir(tmp, 0755);
}

static void test_local_listing(void **state)
{
    fixture *f = *state;
    dlb_err e = {0};
    assert_int_equal(store_bucket_create(f->s, "lst", &e), 0);
    const char *keys[] = {"a-c", "a/b", "a/c/d", "b", "z/1", "z/2", "z/3"};
    for (int i = 6; i >= 0; i--)
        put_str(f->s, f->dir, "lst", keys[i], keys[i]);
    store_listing l;
    /* Byte order: "a-c" < "a/b" because '-' < '/'. */
    assert_int_equal(store_list(f->s, "lst", NULL, NULL, 1000, NULL, &l, &e), 0);
    assert_int_equal(l.nobjects, 7);
    for (int i = 0; i < 7; i++)
        assert_string_equal(l.objects[i].key, keys[i]);
    assert_false(l.truncated);
    assert_null(l.next_token);
    store_listing_free(&l);

    /* Pages of 3 walk the whole bucket once. */
    char *token = NULL;
    int seen = 0, pages = 0;
    do {
        assert_int_equal(store_list(f->s, "lst", NULL, NULL, 3, token, &l, &e), 0);
        free(token);
        token = l.next_token ? strdup(l.next_token) : NULL;
        for (size_t i = 0; i < l.nobjects; i++)
            assert_string_equal(l.objects[i].key, keys[seen++]);
        pages++;
        store_listing_free(&l);
    } while (token);
    assert_int_equal(seen, 7);
    assert_int_equal(pages, 3);

    /* Delimiter: common prefixes count as entries and a page may end on one. */
    assert_int_equal(store_list(f->s, "lst", NULL, "/", 2, NULL, &l, &e), 0);
    assert_int_equal(l.nobjects, 1);
    assert_string_equal(l.objects[0].key, "a-c");
    assert_int_equal(l.nprefixes, 1);
    assert_string_equal(l.prefixes[0], "a/");
    assert_true(l.truncated);
    token = strdup(l.next_token);
    store_listing_free(&l);
    assert_int_equal(store_list(f->s, "lst", NULL, "/", 2, token, &l, &e), 0);
    free(token);
    assert_int_equal(l.nobjects, 1);
    assert_string_equal(l.objects[0].key, "b");
    assert_int_equal(l.nprefixes, 1);
    assert_string_equal(l.prefixes[0], "z/");
    store_listing_free(&l);

    assert_int_equal(store_list(f->s, "lst", "z/", NULL, 1000, NULL, &l, &e), 0);
    assert_int_equal(l.nobjects, 3);
    assert_string_equal(l.objects[0].key, "z/1");
    assert_string_equal(l.objects[0].content_type, "text/plain");
    store_listing_free(&l);

    assert_int_equal(store_list(f->s, "lst", NULL, NULL, 10, "zz", &l, &e), -1);
    assert_int_equal(e.status, 400);
    assert_int_equal(store_list(f->s, "lst", NULL, NULL, 0, NULL, &l, &e), -1);
    assert_int_equal(store_list(f->s, "nope", NULL, NULL, 10, NULL, &l, &e), -1);
    assert_int_equal(e.status, 404);
}

/* ------------------------------------------------------------------------------------ XML */

static void test_xml_error(void **state)
{
    (void)state;
    const char *doc = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>"
                      "<Message>The specified key does not exist.</Message><Key>a&amp;b</Key>"
                      "<RequestId>1</RequestId></Error>";
    char code[64], msg[256];
    assert_int_equal(s3_xml_error(doc, strlen(doc), code, sizeof(code), msg, sizeof(msg)), 0);
    assert_string_equal(code, "NoSuchKey");
    assert_string_equal(msg, "The specified key does not exist.");
    assert_int_equal(s3_xml_error("<ok/>", 5, code, sizeof(code), msg, sizeof(msg)), -1);
    assert_int_equal(s3_xml_error(NULL, 0, code, sizeof(code), msg, sizeof(msg)), -1);
}

static void test_xml_list(void **state)
{
    (void)state;
    const char *doc = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                      "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                      "<Name>b</Name><Prefix>p/</Prefix><KeyCount>3</KeyCount><MaxKeys>2</MaxKeys>"
                      "<Delimiter>/</Delimiter><IsTruncated>true</IsTruncated>"
                      "<Contents><Key>p/a&amp;b &lt;c&gt; &#233;&#x1F986;</Key>"
                      "<LastModified>2024-01-02T03:04:05.678Z</LastModified>"
                      "<ETag>&quot;5eb63bbbe01eeed093cb22bb8f5acdc3&quot;</ETag><Size>11</Size>"
                      "<StorageClass>STANDARD</StorageClass></Contents>"
                      "<Contents><Key>p/z</Key><LastModified>2024-01-02T03:04:05Z</LastModified>"
                      "<ETag>\"abc-2\"</ETag><Size>0</Size></Contents>"
                      "<CommonPrefixes><Prefix>p/dir/</Prefix></CommonPrefixes>"
                      "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</"
                      "NextContinuationToken>"
                      "</ListBucketResult>";
    store_listing l = {0};
    assert_int_equal(s3_xml_list(doc, strlen(doc), &l), 0);
    assert_int_equal(l.nobjects, 2);
    assert_string_equal(l.objects[0].key, "p/a&b <c> \xc3\xa9\xf0\x9f\xa6\x86");
    assert_int_equal(l.objects[0].size, 11);
    assert_string_equal(l.objects[0].etag, "5eb63bbbe01eeed093cb22bb8f5acdc3");
    assert_int_equal(l.objects[0].mtime_ms, 1704164645678LL);
    assert_string_equal(l.objects[1].etag, "abc-2");
    assert_int_equal(l.objects[1].mtime_ms, 1704164645000LL);
    assert_int_equal(l.nprefixes, 1);
    assert_string_equal(l.prefixes[0], "p/dir/");
    assert_true(l.truncated);
    assert_string_equal(l.next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
    store_listing_free(&l);

    const char *empty = "<ListBucketResult><Name>b</Name><IsTruncated>false</IsTruncated>"
                        "<KeyCount>0</KeyCount></ListBucketResult>";
    assert_int_equal(s3_xml_list(empty, strlen(empty), &l), 0);
    assert_int_equal(l.nobjects, 0);
    assert_false(l.truncated);
    assert_null(l.next_token);
    store_listing_free(&l);

    size_t pos = 0;
    const char *init = "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>"
                       "<UploadId>VXBsb2FkIElE+/=</UploadId></InitiateMultipartUploadResult>";
    char *id = s3_xml_take(init, strlen(init), &pos, "UploadId");
    assert_string_equal(id, "VXBsb2FkIElE+/=");
    free(id);
    pos = 0;
    assert_null(s3_xml_take(init, strlen(init), &pos, "Missing"));
    assert_int_equal(s3_iso8601_ms("garbage"), -1);
}

/* -------------------------------------------------------------------------------- breaker */

static void test_breaker(void **state)
{
    (void)state;
    breaker_t b;
    breaker_init(&b, 3, 2.0);
    int probe;
    uint64_t wait, t = 1000000000ULL, s = 1000000000ULL;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(breaker_allow(&b, t, &probe, &wait), 0);
        assert_int_equal(breaker_failure(&b, t, probe), 0);
    }
    /* A success resets the count. */
    breaker_success(&b);
    for (int i = 0; i < 2; i++)
        breaker_failure(&b, t, 0);
    assert_int_equal(breaker_allow(&b, t, &probe, &wait), 0);
    assert_int_equal(breaker_failure(&b, t, probe), 1); /* the third opens it */
    assert_int_equal(breaker_allow(&b, t + s, &probe, &wait), -1);
    assert_true(wait > 900 && wait <= 1001);
    /* After the cool-down one probe goes; others still fail fast. */
    assert_int_equal(breaker_allow(&b, t + 2 * s, &probe, &wait), 0);
    assert_int_equal(probe, 1);
    assert_int_equal(breaker_allow(&b, t + 2 * s, &probe, &wait), -1);
    /* The probe fails: open again for a whole cool-down. */
    assert_int_equal(breaker_failure(&b, t + 2 * s, 1), 1);
    assert_int_equal(breaker_allow(&b, t + 3 * s, &probe, &wait), -1);
    assert_int_equal(breaker_allow(&b, t + 4 * s, &probe, &wait), 0);
    assert_int_equal(probe, 1);
    breaker_success(&b);
    assert_int_equal(breaker_allow(&b, t + 4 * s, &probe, &wait), 0);
    assert_int_equal(probe, 0);
    breaker_destroy(&b);
}

/* --------------------------------------------------------------------------- S3 offline */

/* Against a port where nothing listens: 503 store_unavailable after the retries, then the
 * breaker answers at once. */
static void test_s3_unreachable(void **state)
{
    (void)state;
    store_options o = {.backend = "s3",
                       .endpoint = "127.0.0.1:1",
                       .access_key = "k",
                       .secret_key = "s",
                       .attempts = 2,
                       .breaker_failures = 4,
                       .backoff_base = 0.001};
    dlb_err e = {0};
    store_t *s = store_open(&o, &e);
    assert_non_null(s);
    assert_string_equal(store_backend(s), "s3");
    for (int i = 0; i < 3; i++) {
        memset(&e, 0, sizeof(e));
        assert_int_equal(store_bucket_exists(s, "bkt", &e), -1);
        assert_int_equal(e.status, 503);
        assert_string_equal(e.code, "store_unavailable");
    }
    assert_non_null(strstr(e.detail, "circuit open"));
    store_stats st;
    store_get_stats(s, &st);
    assert_true(st.fast_fails >= 1);
    assert_int_equal(st.breaker_opens, 1);
    assert_true(st.retries >= 1);
    store_close(s);
}

/* The S3 writer against a dead store: small bodies fail at finish (one PUT), large ones
 * at the first part; either way the error is the store's 503 and nothing leaks (ASan). */
static void test_s3_writer_unreachable(void **state)
{
    (void)state;
    store_options o = {.backend = "s3",
                       .endpoint = "127.0.0.1:1",
                       .access_key = "k",
                       .secret_key = "s",
                       .attempts = 1,
                       .multipart_threshold = 5u << 20,
                       .backoff_base = 0.001};
    dlb_err e = {0};
    store_t *s = store_open(&o, &e);
    assert_non_null(s);
    store_writer *w = store_writer_open(s, "bkt", "small", NULL, 0, &e);
    assert_non_null(w);
    assert_int_equal(store_writer_write(w, "abc", 3, &e), 0);
    assert_int_equal(store_writer_finish(w, NULL, &e), -1);
    assert_int_equal(e.status, 503);

    char *big = calloc(1, 1u << 20);
    assert_non_null(big);
    memset(&e, 0, sizeof(e));
    w = store_writer_open(s, "bkt", "big", NULL, 0, &e);
    assert_non_null(w);
    int rc = 0;
    for (int i = 0; i < 6 && rc == 0; i++) /* the 6th MiB starts the multipart upload */
        rc = store_writer_write(w, big, 1u << 20, &e);
    assert_int_equal(rc, -1);
    assert_int_equal(e.status, 503);
    store_writer_abort(w);
    /* Aborting a writer that never failed nor sent anything is fine too. */
    w = store_writer_open(s, "bkt", "idle", NULL, 0, &e);
    assert_non_null(w);
    store_writer_abort(w);
    free(big);
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_names),
        cmocka_unit_test(test_key_names),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test_setup_teardown(test_local_objects, local_setup, local_teardown),
        cmocka_unit_test_setup_teardown(test_local_listing, local_setup, local_teardown),
        cmocka_unit_test(test_xml_error),
        cmocka_unit_test(test_xml_list),
        cmocka_unit_test(test_breaker),
        cmocka_unit_test(test_s3_unreachable),
        cmocka_unit_test_setup_teardown(test_local_writer, local_setup, local_teardown),
        cmocka_unit_test(test_s3_writer_unreachable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
