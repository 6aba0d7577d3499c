/* Unit tests of src/lake/cache.c: the LRU cache of immutable lake files (misses, hits, the
 * byte budget, pins, failed downloads, concurrent pins of one key, adoption at open). The
 * fetch callback writes size-named files; no store, no DuckDB. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "lake/cache.h"

#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    atomic_int calls;
    atomic_int fail;     /* next fetches fail */
    atomic_int delay_ms; /* each fetch sleeps */
} fake_store;

/* Key "name:<size>" -> a file of <size> bytes 'k'. */
static int fake_fetch(void *ctx, const char *key, const char *dest, uint64_t *size, dlb_err *e)
{
    fake_store *fs = ctx;
    atomic_fetch_add(&fs->calls, 1);
    if (atomic_load(&fs->delay_ms)) usleep((useconds_t)atomic_load(&fs->delay_ms) * 1000);
    if (atomic_load(&fs->fail)) {
        FILE *p = fopen(dest, "wb"); /* a partial file the cache must remove */
        if (p) {
            fputs("part", p);
            fclose(p);
        }
        dlb_err_set(e, 503, "store_unavailable", "store down for %s", key);
        return -1;
    }
    const char *c = strrchr(key, ':');
    uint64_t n = c ? strtoull(c + 1, NULL, 10) : 1;
    FILE *f = fopen(dest, "wbx");
    if (!f) return -1;
    for (uint64_t i = 0; i < n; i++)
        fputc('k', f);
    fclose(f);
    *size = n;
    return 0;
}

static char g_dir[256];

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof(g_dir), "/tmp/dlb-cache-test-XXXXXX");
    if (!mkdtemp(g_dir)) return -1;
    strcat(g_dir, "/cache/lake"); /* created by the cache */
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char root[256];
    snprintf(root, sizeof(root), "%s", g_dir);
    *strstr(root, "/cache/lake") = 0;
    nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static int files_in_dir(uint64_t *bytes)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "find %s -maxdepth 1 -type f -printf '%%s\\n'", g_dir);
    FILE *p = popen(cmd, "r");
    int n = 0;
    uint64_t b = 0;
    unsigned long long s;
    while (p && fscanf(p, "%llu", &s) == 1) {
        n++;
        b += s;
    }
    if (p) pclose(p);
    if (bytes) *bytes = b;
    return n;
}

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static void test_miss_then_hit(void **state)
{
    (void)state;
    fake_store fs = {0};
    dlb_err e = {0};
    lake_cache *c = lake_cache_open(g_dir, 1000, fake_fetch, &fs, &e);
    assert_non_null(c);
    char want[1024];
    assert_int_equal(lake_cache_path(c, "s3://b/t/ducklake-1.parquet:100", want, sizeof(want)), 0);
    assert_false(exists(want));
    lake_cache_entry *en = lake_cache_pin(c, "s3://b/t/ducklake-1.parquet:100", &e);
    assert_non_null(en);
    assert_string_equal(lake_cache_entry_path(en), want);
    assert_true(exists(want));
    /* the name keeps the basename (sanitised) after a hash */
    assert_non_null(strstr(want, "-ducklake-1.parquet_100"));
    lake_cache_unpin(c, en);
    en = lake_cache_pin(c, "s3://b/t/ducklake-1.parquet:100", &e);
    assert_non_null(en);
    lake_cache_unpin(c, en);
    lake_cache_stats st;
    lake_cache_get_stats(c, &st);
    assert_int_equal(st.misses, 1);
    assert_int_equal(st.hits, 1);
    assert_int_equal(st.files, 1);
    assert_int_equal(st.bytes, 100);
    assert_int_equal(st.fetched_bytes, 100);
    assert_int_equal(st.pinned, 0);
    assert_int_equal(atomic_load(&fs.calls), 1);
    /* two keys with the same basename do not collide */
    char other[1024];
    assert_int_equal(lake_cache_path(c, "s3://b/u/ducklake-1.parquet:100", other, sizeof(other)),
                     0);
    assert_string_not_equal(want, other);
    lake_cache_close(c);
}

static void test_lru_budget(void **state)
{
    (void)state;
    fake_store fs = {0};
    dlb_err e = {0};
    lake_cache *c = lake_cache_open(g_dir, 300, fake_fetch, &fs, &e);
    assert_non_null(c);
    const char *k[4] = {"a:100", "b:100", "c:100", "d:100"};
    for (int i = 0; i < 3; i++)
        lake_cache_unpin(c, lake_cache_pin(c, k[i], &e));
    /* a is used again: b is now the least recently used */
    lake_cache_unpin(c, lake_cache_pin(c, k[0], &e));
    lake_cache_unpin(c, lake_cache_pin(c, k[3], &e));
    char p[1024];
    lake_cache_stats st;
    lake_cache_get_stats(c, &st);
    assert_int_equal(st.evictions, 1);
    assert_int_equal(st.bytes, 300);
    lake_cache_path(c, k[1], p, sizeof(p));
    assert_false(exists(p));
    for (int i = 0; i < 4; i++) {
        if (i == 1) continue;
        lake_cache_path(c, k[i], p, sizeof(p));
        assert_true(exists(p));
    }
    uint64_t bytes;
    assert_int_equal(files_in_dir(&bytes), 3);
    assert_int_equal(bytes, 300);
    lake_cache_close(c);
}

static void test_pinned_never_evicted(void **state)
{
    (void)state;
    fake_store fs = {0};
    dlb_err e = {0};
    lake_cache *c = lake_cache_open(g_dir, 150, fake_fetch, &fs, &e);
    lake_cache_entry *a = lake_cache_pin(c, "a:100", &e);
    lake_cache_entry *b = lake_cache_pin(c, "b:100", &e);
    lake_cache_entry *big = lake_cache_pin(c, "big:1000", &e); /* larger than the budget */
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(big);
    /* all pinned: the budget is exceeded while they are read */
    assert_true(exists(lake_cache_entry_path(a)));
    assert_true(exists(lake_cache_entry_path(b)));
    assert_true(exists(lake_cache_entry_path(big)));
    lake_cache_stats st;
    lake_cache_get_stats(c, &st);
    assert_int_equal(st.bytes, 1200);
    assert_int_equal(st.pinned, 3);
    assert_int_equal(st.evictions, 0);
    char bigpath[1024];
    snprintf(bigpath, sizeof(bigpath), "%s", lake_cache_entry_path(big));
    lake_cache_unpin(c, big); /* now the oldest unpinned file... but a, b are still pinned */
    lake_cache_get_stats(c, &st);
    assert_int_equal(st.evictions, 1);
    assert_false(exists(bigpath));
    lake_cache_unpin(c, a);
    lake_cache_unpin(c, b);
    lake_cache_get_stats(c, &st);
    assert_true(st.bytes <= 150);
    assert_int_equal(st.pinned, 0);
    /* a budget of 0 keeps nothing once unpinned */
    lake_cache_close(c);
    lake_cache *z = lake_cache_open(g_dir, 0, fake_fetch, &fs, &e);
    assert_non_null(z);
    lake_cache_get_stats(z, &st);
    assert_int_equal(st.files, 0);
    lake_cache_entry *x = lake_cache_pin(z, "x:10", &e);
    assert_true(exists(lake_cache_entry_path(x)));
    lake_cache_unpin(z, x);
    assert_int_equal(files_in_dir(NULL), 0);
    lake_cache_close(z);
}

static void test_failed_fetch(void **state)
{
    (void)state;
    fake_store fs = {0};
    dlb_err e = {0};
    lake_cache *c = lake_cache_open(g_dir, 1000, fake_fetch, &fs, &e);
    atomic_store(&fs.fail, 1);
    memset(&e, 0, sizeof(e));
    assert_null(lake_cache_pin(c, "f:10", &e));
    assert_int_equal(e.status, 503);
    assert_string_equal(e.code, "store_unavailable");
    assert_int_equal(files_in_dir(NULL), 0); /* no partial file, no temporary left */
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A %s)\"", g_dir);
    assert_int_equal(system(cmd), 0);
    /* the store is back: the next pin downloads */
    atomic_store(&fs.fail, 0);
    lake_cache_entry *en = lake_cache_pin(c, "f:10", &e);
    assert_non_null(en);
    lake_cache_unpin(c, en);
    lake_cache_stats st;
    lake_cache_get_stats(c, &st);
    assert_int_equal(st.fetch_errors, 1);
    assert_int_equal(st.misses, 2);
    assert_int_equal(st.files, 1);
    lake_cache_close(c);
}

typedef struct {
    lake_cache *c;
    const char *key;
    int ok;
} pin_arg;

static void *pin_thread(void *p)
{
    pin_arg *a = p;
    dlb_err e = {0};
    lake_cache_entry *en = lake_cache_pin(a->c, a->key, &e);
    a->ok = en && exists(lake_cache_entry_path(en));
    lake_cache_unpin(a->c, en);
    return NULL;
}

static void test_concurrent_pins_one_download(void **state)
{
    (void)state;
    fake_store fs = {0};
    atomic_store(&fs.delay_ms, 50);
    dlb_err e = {0};
    lake_cache *c = lake_cache_open(g_dir, 100000, fake_fetch, &fs, &e);
    pthread_t th[8];
    pin_arg args[8];
    for (int i = 0; i < 8; i++) {
        args[i] = (pin_arg){.c = c, .key = "same:500"};
        pthread_create(&th[i], NULL, pin_thread, &args[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        assert_true(args[i].ok);
    }
    assert_int_equal(atomic_load(&fs.calls), 1);
    lake_cache_stats st;
    lake_cache_get_stats(c, &st);
    assert_int_equal(st.misses, 1);
    assert_int_equal(st.hits, 7);
    assert_int_equal(st.pinned, 0);
    /* and many keys at once under a small budget: every pin sees its file */
    lake_cache_close(c);
    atomic_store(&fs.delay_ms, 0);
    c = lake_cache_open(g_dir, 700, fake_fetch, &fs, &e);
    pthread_t t2[16];
    pin_arg a2[16];
    char keys[16][32];
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 16; i++) {
            snprintf(keys[i], sizeof(keys[i]), "k%d:100", (i + round) % 24);
            a2[i] = (pin_arg){.c = c, .key = keys[i]};
            pthread_create(&t2[i], NULL, pin_thread, &a2[i]);
        }
        for (int i = 0; i < 16; i++) {
            pthread_join(t2[i], NULL);
            assert_true(a2[i].ok);
        }
    }
    lake_cache_get_stats(c, &st);
    assert_true(st.bytes <= 700);
    assert_int_equal(st.pinned, 0);
    assert_true(st.evictions > 0);
    uint64_t bytes;
    files_in_dir(&bytes);
    assert_int_equal(bytes, st.bytes);
    lake_cache_close(c);
}

static void test_adopts_files_of_an_earlier_run(void **state)
{
    (void)state;
    fake_store fs = {0};
    dlb_err e = {0};
    lake_cache *c = lake_cache_open(g_dir, 1000, fake_fetch, &fs, &e);
    lake_cache_unpin(c, lake_cache_pin(c, "old:100", &e));
    sleep(1); /* mtime order */
    lake_cache_unpin(c, lake_cache_pin(c, "new:100", &e));
    lake_cache_close(c);
    /* a stray temporary (a download cut by a crash) and a foreign file */
    char p[1024];
    snprintf(p, sizeof(p), "%s/.tmp-1-2-x", g_dir);
    FILE *f = fopen(p, "w");
    fputs("junk", f);
    fclose(f);
    int calls = atomic_load(&fs.calls);
    /* reopened with room for one file: the older one goes */
    c = lake_cache_open(g_dir, 150, fake_fetch, &fs, &e);
    assert_non_null(c);
    assert_false(exists(p));
    lake_cache_stats st;
    lake_cache_get_stats(c, &st);
    assert_int_equal(st.files, 1);
    assert_int_equal(st.bytes, 100);
    assert_int_equal(st.evictions, 1);
    lake_cache_entry *en = lake_cache_pin(c, "new:100", &e);
    assert_non_null(en);
    lake_cache_unpin(c, en);
    assert_int_equal(atomic_load(&fs.calls), calls); /* a hit: no download */
    lake_cache_get_stats(c, &st);
    assert_int_equal(st.hits, 1);
    lake_cache_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_miss_then_hit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lru_budget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pinned_never_evicted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_fetch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_pins_one_download, setup, teardown),
        cmocka_unit_test_setup_teardown(test_adopts_files_of_an_earlier_run, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
