/* Unit tests of src/util: buf, ids, strlist, pool and log. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "util/buf.h"
#include "util/ids.h"
#include "util/log.h"
#include "util/periodic.h"
#include "util/pool.h"
#include "util/siphash.h"
#include "util/strlist.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------ buf */

static void test_buf_growth(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 0);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    /* 5000 single bytes go well past the first allocation and several doublings. */
    for (int i = 0; i < 5000; i++) {
        char c = (char)('a' + i % 26);
        assert_int_equal(buf_append(&b, &c, 1), 0);
        assert_int_equal(b.len, (size_t)i + 1);
        assert_true(b.cap >= b.len + 1);
        assert_int_equal(b.data[b.len], 0);
    }
    for (int i = 0; i < 5000; i++)
        assert_int_equal(b.data[i], 'a' + i % 26);
    assert_int_equal(strlen(b.data), 5000);
    /* A large append in one go. */
    char big[70000];
    memset(big, 'Z', sizeof(big));
    assert_int_equal(buf_append(&b, big, sizeof(big)), 0);
    assert_int_equal(b.len, 5000 + sizeof(big));
    assert_int_equal(b.data[4999], 'a' + 4999 % 26);
    assert_int_equal(b.data[5000], 'Z');
    assert_int_equal(b.data[b.len - 1], 'Z');
    assert_int_equal(b.data[b.len], 0);
    /* Empty appends keep the buffer NUL-terminated and unchanged. */
    assert_int_equal(buf_append(&b, "", 0), 0);
    assert_int_equal(b.len, 5000 + sizeof(big));
    buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);

    /* An empty append on a fresh buffer still yields a valid empty string. */
    buf_init(&b, 0);
    assert_int_equal(buf_appends(&b, ""), 0);
    assert_non_null(b.data);
    assert_string_equal(b.data, "");
    buf_free(&b);
}

static void test_buf_max_refusal_keeps_content(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 10);
    assert_int_equal(buf_appends(&b, "hello"), 0);
    /* 5 + 6 = 11 > 10: refused, content kept. */
    assert_int_equal(buf_appends(&b, "world!"), -1);
    assert_int_equal(b.len, 5);
    assert_string_equal(b.data, "hello");
    /* Exactly the maximum is allowed. */
    assert_int_equal(buf_appends(&b, "world"), 0);
    assert_int_equal(b.len, 10);
    assert_string_equal(b.data, "helloworld");
    /* Nothing more fits, not even one byte, through any entry point. */
    assert_int_equal(buf_appends(&b, "x"), -1);
    assert_int_equal(buf_printf(&b, "%d", 7), -1);
    char longs[600];
    memset(longs, 'q', sizeof(longs) - 1);
    longs[sizeof(longs) - 1] = 0;
    assert_int_equal(buf_printf(&b, "%s", longs), -1);
    assert_int_equal(b.len, 10);
    assert_string_equal(b.data, "helloworld");
    /* Reset makes room again; the max still holds. */
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    assert_int_equal(buf_printf(&b, "%s", longs), -1); /* long path of buf_printf */
    assert_int_equal(b.len, 0);
    assert_int_equal(buf_printf(&b, "%05d", 42), 0);
    assert_string_equal(b.data, "00042");
    buf_free(&b);
}

static void test_buf_printf_long(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 0);
    assert_int_equal(buf_printf(&b, "%s=%d;", "short", 12), 0);
    assert_string_equal(b.data, "short=12;");

    /* Longer than any small stack buffer: 3000 characters through one %s. */
    char *s = malloc(3001);
    assert_non_null(s);
    for (int i = 0; i < 3000; i++)
        s[i] = (char)('A' + i % 26);
    s[3000] = 0;
    assert_int_equal(buf_printf(&b, "[%s]%d", s, 99), 0);
    size_t expect_len = strlen("short=12;") + 1 + 3000 + 1 + 2;
    assert_int_equal(b.len, expect_len);
    assert_int_equal(strlen(b.data), expect_len);
    assert_memory_equal(b.data, "short=12;[", 10);
    assert_memory_equal(b.data + 10, s, 3000);
    assert_string_equal(b.data + 10 + 3000, "]99");

    /* Exactly at the boundaries of a 256-byte scratch buffer (255, 256, 257 chars). */
    for (size_t n = 254; n <= 258; n++) {
        buf_t c;
        buf_init(&c, 0);
        assert_int_equal(buf_printf(&c, "%.*s", (int)n, s), 0);
        assert_int_equal(c.len, n);
        assert_memory_equal(c.data, s, n);
        assert_int_equal(c.data[n], 0);
        buf_free(&c);
    }
    free(s);
    buf_free(&b);
}

static void test_buf_steal(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 100);
    assert_int_equal(buf_appends(&b, "payload"), 0);
    size_t len = 0;
    char *p = buf_steal(&b, &len);
    assert_non_null(p);
    assert_int_equal(len, 7);
    assert_string_equal(p, "payload");
    /* The buffer was reset and does not share the stolen memory. */
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    assert_int_equal(buf_appends(&b, "again"), 0);
    assert_ptr_not_equal(b.data, p);
    assert_string_equal(p, "payload");
    assert_string_equal(b.data, "again");
    /* The max survives the steal. */
    char big[101];
    memset(big, 'x', sizeof(big));
    assert_int_equal(buf_append(&b, big, sizeof(big)), -1);
    free(p);

    /* Stealing an empty buffer gives an empty string, never NULL. */
    buf_t e;
    buf_init(&e, 0);
    len = 123;
    char *q = buf_steal(&e, &len);
    assert_non_null(q);
    assert_int_equal(len, 0);
    assert_string_equal(q, "");
    free(q);
    /* len may be NULL. */
    q = buf_steal(&b, NULL);
    assert_string_equal(q, "again");
    free(q);
    buf_free(&b);
}

/* ------------------------------------------------------------------------------------ ids */

static int is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static void test_request_id_format_unique(void **state)
{
    (void)state;
    enum { N = 10000 };
    char(*ids)[33] = malloc(sizeof(*ids) * N);
    assert_non_null(ids);
    for (int i = 0; i < N; i++) {
        memset(ids[i], 'X', 33);
        ids_request_id(ids[i]);
        assert_int_equal(strlen(ids[i]), 32);
        for (int j = 0; j < 32; j++)
            assert_true(is_lower_hex(ids[i][j]));
        /* Every generated id is also acceptable as a client id. */
        assert_true(ids_request_id_sane(ids[i]));
    }
    qsort(ids, N, sizeof(*ids), cmp_str);
    for (int i = 1; i < N; i++)
        assert_string_not_equal(ids[i - 1], ids[i]);
    free(ids);
}

static void test_request_id_sane(void **state)
{
    (void)state;
    assert_true(ids_request_id_sane("abc-123"));
    assert_true(ids_request_id_sane("a.b:c_d"));
    assert_true(ids_request_id_sane("Z"));
    assert_true(ids_request_id_sane("ABCxyz0189.-_:"));
    char s[131];
    memset(s, 'a', sizeof(s));
    s[128] = 0;
    assert_true(ids_request_id_sane(s)); /* 128 characters */
    s[128] = 'a';
    s[129] = 0;
    assert_false(ids_request_id_sane(s)); /* 129 characters */
    s[127] = 0;
    assert_true(ids_request_id_sane(s)); /* 127 */

    assert_false(ids_request_id_sane(""));
    assert_false(ids_request_id_sane(NULL));
    assert_false(ids_request_id_sane("abc 123"));
    assert_false(ids_request_id_sane(" abc"));
    assert_false(ids_request_id_sane("abc\n"));
    assert_false(ids_request_id_sane("abc\r\nX-Evil: 1"));
    assert_false(ids_request_id_sane("a/b"));
    assert_false(ids_request_id_sane("a\\b"));
    assert_false(ids_request_id_sane("caf\xc3\xa9")); /* UTF-8 e-acute */
    assert_false(ids_request_id_sane("\xff\xfe"));    /* raw high bytes */
    assert_false(ids_request_id_sane("a\"b"));        /* would need escaping */
    assert_false(ids_request_id_sane("id;drop"));
    assert_false(ids_request_id_sane("a\tb"));
}

/* Checks the 8-4-4-4-12 shape, lowercase hex, the version nibble and the RFC 4122 variant. */
static void check_uuid(const char *u, char version)
{
    assert_int_equal(strlen(u), 36);
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            assert_int_equal(u[i], '-');
        else
            assert_true(is_lower_hex(u[i]));
    }
    assert_int_equal(u[14], version);
    assert_non_null(strchr("89ab", u[19]));
    assert_true(ids_uuid_valid(u));
}

/* The reference vectors of the SipHash paper (key 00..0f; messages 00.., of each length). */
static void test_siphash_vectors(void **state)
{
    (void)state;
    uint8_t key[16], msg[64];
    for (int i = 0; i < 16; i++)
        key[i] = (uint8_t)i;
    for (int i = 0; i < 64; i++)
        msg[i] = (uint8_t)i;
    assert_true(siphash24(key, msg, 0) == 0x726fdb47dd0e0e31ULL);
    assert_true(siphash24(key, msg, 1) == 0x74f839c593dc67fdULL);
    assert_true(siphash24(key, msg, 8) == 0x93f5f5799a932462ULL);
    assert_true(siphash24(key, msg, 15) == 0xa129ca6149be45e5ULL);
    assert_true(siphash24(key, msg, 63) == 0x958a324ceb064572ULL);
    key[0] ^= 1; /* keyed: another key, another value */
    assert_true(siphash24(key, msg, 15) != 0xa129ca6149be45e5ULL);
}

static void test_uuid4(void **state)
{
    (void)state;
    char prev[37] = "";
    int saw_variant[4] = {0};
    for (int i = 0; i < 2000; i++) {
        char u[37];
        ids_uuid4(u);
        check_uuid(u, '4');
        assert_string_not_equal(u, prev);
        saw_variant[strchr("89ab", u[19]) - "89ab"]++;
        memcpy(prev, u, sizeof(u));
    }
    /* The 62 random bits are really random: all four variant nibbles appear. */
    for (int i = 0; i < 4; i++)
        assert_true(saw_variant[i] > 0);
}

static uint64_t uuid7_ms(const char *u)
{
    char hex[13];
    memcpy(hex, u, 8);
    memcpy(hex + 8, u + 9, 4);
    hex[12] = 0;
    return strtoull(hex, NULL, 16);
}

static void test_uuid7(void **state)
{
    (void)state;
    char a[37], b[37];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t before = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    ids_uuid7(a);
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t after = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    check_uuid(a, '7');
    /* The first 48 bits are the Unix time in milliseconds. */
    uint64_t ms = uuid7_ms(a);
    assert_true(ms >= before && ms <= after);

    for (int i = 0; i < 20; i++) {
        struct timespec d = {0, 2 * 1000 * 1000};
        nanosleep(&d, NULL);
        ids_uuid7(b);
        check_uuid(b, '7');
        assert_true(strcmp(a, b) < 0);
        assert_true(uuid7_ms(b) > uuid7_ms(a));
        memcpy(a, b, sizeof(a));
    }
}

static void test_uuid_valid(void **state)
{
    (void)state;
    assert_true(ids_uuid_valid("00000000-0000-0000-0000-000000000000"));
    assert_true(ids_uuid_valid("123e4567-e89b-12d3-a456-426614174000"));
    assert_true(ids_uuid_valid("123E4567-E89B-12D3-A456-426614174000"));
    assert_false(ids_uuid_valid(NULL));
    assert_false(ids_uuid_valid(""));
    assert_false(ids_uuid_valid("123e4567-e89b-12d3-a456-42661417400"));   /* 35 */
    assert_false(ids_uuid_valid("123e4567-e89b-12d3-a456-4266141740000")); /* 37 */
    assert_false(ids_uuid_valid("123e4567e89b-12d3-a456-4266141740000"));  /* dash moved */
    assert_false(ids_uuid_valid("123e4567-e89b-12d3-a456_426614174000"));
    assert_false(ids_uuid_valid("123e4567-e89b-12d3-a456-42661417400g"));
    assert_false(ids_uuid_valid("{23e4567-e89b-12d3-a456-42661417400}"));
    assert_false(ids_uuid_valid("123e4567-e89b-12d3-a456-42661417400 "));
    assert_false(ids_uuid_valid("123e4567+e89b-12d3-a456-426614174000"));
    assert_false(ids_uuid_valid("123e4567-e89b-12d3-a456-4266-14174000"));
}

static void test_ids_random(void **state)
{
    (void)state;
    unsigned char a[32], b[32];
    memset(a, 0, sizeof(a));
    memset(b, 0, sizeof(b));
    assert_int_equal(ids_random(a, sizeof(a)), 0);
    assert_int_equal(ids_random(b, sizeof(b)), 0);
    assert_memory_not_equal(a, b, sizeof(a));
}

/* -------------------------------------------------------------------------------- strlist */

static void test_strlist_split(void **state)
{
    (void)state;
    char *store = NULL;
    const char *items[8];
    int n = strlist_split("  a , b ,, \t c\t ,  ,", &store, items, 8);
    assert_int_equal(n, 3);
    assert_string_equal(items[0], "a");
    assert_string_equal(items[1], "b");
    assert_string_equal(items[2], "c");
    free(store);

    n = strlist_split("one", &store, items, 8);
    assert_int_equal(n, 1);
    assert_string_equal(items[0], "one");
    free(store);

    /* Inner spaces of an item stay. */
    n = strlist_split("x y , z", &store, items, 8);
    assert_int_equal(n, 2);
    assert_string_equal(items[0], "x y");
    assert_string_equal(items[1], "z");
    free(store);

    /* At most max items. */
    n = strlist_split("1,2,3,4,5", &store, items, 2);
    assert_int_equal(n, 2);
    assert_string_equal(items[0], "1");
    assert_string_equal(items[1], "2");
    free(store);

    /* Empty items do not count towards max. */
    n = strlist_split(",,, ,p,,q", &store, items, 2);
    assert_int_equal(n, 2);
    assert_string_equal(items[0], "p");
    assert_string_equal(items[1], "q");
    free(store);

    n = strlist_split("", &store, items, 8);
    assert_int_equal(n, 0);
    free(store);
    n = strlist_split(" , ,, ", &store, items, 8);
    assert_int_equal(n, 0);
    free(store);
    store = NULL;
    n = strlist_split(NULL, &store, items, 8);
    assert_int_equal(n, 0);
    free(store);

    /* The input is not modified (items point into a copy). */
    char input[] = " k , v ";
    n = strlist_split(input, &store, items, 8);
    assert_int_equal(n, 2);
    assert_string_equal(input, " k , v ");
    assert_true(items[0] < input || items[0] >= input + sizeof(input));
    free(store);
}

static void test_strlist_contains(void **state)
{
    (void)state;
    assert_true(strlist_contains("GET, POST ,PUT", "POST"));
    assert_true(strlist_contains("GET, POST ,PUT", "GET"));
    assert_true(strlist_contains("GET, POST ,PUT", "PUT"));
    assert_false(strlist_contains("GET, POST ,PUT", "POS"));
    assert_false(strlist_contains("GET, POST ,PUT", "POSTS"));
    assert_false(strlist_contains("GET, POST ,PUT", "post")); /* exact, case-sensitive */
    assert_false(strlist_contains("a,,b", ""));
    assert_false(strlist_contains("", "a"));
    assert_false(strlist_contains(NULL, "a"));
    assert_true(strlist_contains("*", "*"));
    assert_true(strlist_contains(" https://a.example , https://b.example ", "https://b.example"));
}

/* The header promises membership for any entry of the list; a long list (for example many
 * CORS origins or extensions) must not lose its later entries. */
static void test_strlist_contains_long_list(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 0);
    for (int i = 0; i < 100; i++)
        assert_int_equal(buf_printf(&b, "%sitem%d", i ? "," : "", i), 0);
    assert_true(strlist_contains(b.data, "item0"));
    assert_true(strlist_contains(b.data, "item63"));
    assert_true(strlist_contains(b.data, "item64"));
    assert_true(strlist_contains(b.data, "item99"));
    assert_false(strlist_contains(b.data, "item100"));
    buf_free(&b);
}

/* ----------------------------------------------------------------------------------- pool */

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_started_idx[16], g_stopped_idx[16];

static void on_start(int index)
{
    pthread_mutex_lock(&g_mu);
    if (index >= 0 && index < 16) g_started_idx[index]++;
    pthread_mutex_unlock(&g_mu);
}

static void on_stop(int index)
{
    pthread_mutex_lock(&g_mu);
    if (index >= 0 && index < 16) g_stopped_idx[index]++;
    pthread_mutex_unlock(&g_mu);
}

typedef struct {
    int runs;
    int worker;
} job_rec;

static void count_job(void *arg)
{
    job_rec *r = arg;
    int w = pool_worker_index();
    pthread_mutex_lock(&g_mu);
    r->runs++;
    r->worker = w;
    pthread_mutex_unlock(&g_mu);
}

static void test_pool_runs_every_job_once(void **state)
{
    (void)state;
    enum { THREADS = 4, JOBS = 5000 };
    memset(g_started_idx, 0, sizeof(g_started_idx));
    memset(g_stopped_idx, 0, sizeof(g_stopped_idx));
    assert_int_equal(pool_worker_index(), -1);
    pool_t *p = pool_create(THREADS, JOBS, on_start, on_stop);
    assert_non_null(p);
    assert_int_equal(pool_threads(p), THREADS);
    assert_int_equal(pool_queue_capacity(p), JOBS);
    job_rec *recs = calloc(JOBS, sizeof(*recs));
    assert_non_null(recs);
    for (int i = 0; i < JOBS; i++) {
        recs[i].worker = -2;
        assert_int_equal(pool_submit(p, count_job, &recs[i]), 0);
    }
    /* pool_destroy runs what is still queued before joining. */
    pool_destroy(p);
    for (int i = 0; i < JOBS; i++) {
        assert_int_equal(recs[i].runs, 1);
        assert_in_range(recs[i].worker, 0, THREADS - 1);
    }
    for (int i = 0; i < 16; i++) {
        assert_int_equal(g_started_idx[i], i < THREADS ? 1 : 0);
        assert_int_equal(g_stopped_idx[i], i < THREADS ? 1 : 0);
    }
    assert_int_equal(pool_worker_index(), -1);
    free(recs);
}

/* Jobs that block until the test opens the gate. */
static int g_gate_open, g_blocked, g_gate_runs;

static void gate_job(void *arg)
{
    int *ran = arg;
    pthread_mutex_lock(&g_mu);
    g_blocked++;
    pthread_cond_broadcast(&g_cv);
    while (!g_gate_open)
        pthread_cond_wait(&g_cv, &g_mu);
    (*ran)++;
    g_gate_runs++;
    pthread_mutex_unlock(&g_mu);
}

static void wait_blocked(int n)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 10;
    pthread_mutex_lock(&g_mu);
    while (g_blocked < n) {
        if (pthread_cond_timedwait(&g_cv, &g_mu, &dl)) break;
    }
    int got = g_blocked;
    pthread_mutex_unlock(&g_mu);
    assert_int_equal(got, n);
}

static void test_pool_submit_full(void **state)
{
    (void)state;
    enum { THREADS = 2, QUEUE = 3 };
    g_gate_open = 0;
    g_blocked = 0;
    g_gate_runs = 0;
    int ran[THREADS + QUEUE + 1] = {0};
    pool_t *p = pool_create(THREADS, QUEUE, NULL, NULL);
    assert_non_null(p);
    assert_int_equal(pool_queue_capacity(p), QUEUE);
    /* Occupy every worker. */
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pool_submit(p, gate_job, &ran[i]), 0);
    wait_blocked(THREADS);
    assert_int_equal(pool_busy(p), THREADS);
    assert_int_equal(pool_queue_depth(p), 0);
    /* The queue takes exactly QUEUE more. */
    for (int i = 0; i < QUEUE; i++) {
        assert_int_equal(pool_submit(p, gate_job, &ran[THREADS + i]), 0);
        assert_int_equal(pool_queue_depth(p), (size_t)i + 1);
    }
    /* Full: refused at once, nothing queued. */
    assert_int_equal(pool_submit(p, gate_job, &ran[THREADS + QUEUE]), -1);
    assert_int_equal(pool_submit(p, gate_job, &ran[THREADS + QUEUE]), -1);
    assert_int_equal(pool_queue_depth(p), QUEUE);
    assert_int_equal(pool_busy(p), THREADS);

    pthread_mutex_lock(&g_mu);
    g_gate_open = 1;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
    pool_destroy(p);
    for (int i = 0; i < THREADS + QUEUE; i++)
        assert_int_equal(ran[i], 1);
    assert_int_equal(ran[THREADS + QUEUE], 0);
    assert_int_equal(g_gate_runs, THREADS + QUEUE);
}

/* Each worker reports a distinct index in 0..threads-1. */
static int g_idx_seen[8];
static int g_idx_arrived;

static void index_job(void *arg)
{
    (void)arg;
    int w = pool_worker_index();
    pthread_mutex_lock(&g_mu);
    if (w >= 0 && w < 8) g_idx_seen[w]++;
    g_idx_arrived++;
    pthread_cond_broadcast(&g_cv);
    /* Hold this worker until every worker has one job, so each job lands on its own thread. */
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 10;
    while (g_idx_arrived < 3)
        if (pthread_cond_timedwait(&g_cv, &g_mu, &dl)) break;
    pthread_mutex_unlock(&g_mu);
}

static void test_pool_worker_index(void **state)
{
    (void)state;
    memset(g_idx_seen, 0, sizeof(g_idx_seen));
    g_idx_arrived = 0;
    pool_t *p = pool_create(3, 8, NULL, NULL);
    assert_non_null(p);
    for (int i = 0; i < 3; i++)
        assert_int_equal(pool_submit(p, index_job, NULL), 0);
    pool_destroy(p);
    assert_int_equal(g_idx_arrived, 3);
    for (int i = 0; i < 8; i++)
        assert_int_equal(g_idx_seen[i], i < 3 ? 1 : 0);
    assert_int_equal(pool_worker_index(), -1);
}

/* ------------------------------------------------------------------------------------ log */

static FILE *g_logf;

static int log_setup(void **state)
{
    (void)state;
    g_logf = tmpfile();
    if (!g_logf) return -1;
    log_set_fd(fileno(g_logf));
    log_set_level(LOG_DEBUG);
    log_set_request_id(NULL);
    return 0;
}

static int log_teardown(void **state)
{
    (void)state;
    log_set_fd(-1);
    log_set_level(LOG_INFO);
    log_set_request_id(NULL);
    if (g_logf) fclose(g_logf);
    g_logf = NULL;
    return 0;
}

/* Everything written so far (malloc'd). */
static char *log_output(void)
{
    long end = lseek(fileno(g_logf), 0, SEEK_END);
    assert_true(end >= 0);
    char *s = malloc((size_t)end + 1);
    assert_non_null(s);
    assert_int_equal(pread(fileno(g_logf), s, (size_t)end, 0), end);
    s[end] = 0;
    return s;
}

/* Splits the output into lines and parses each as a JSON object; returns the count. */
static int log_lines(json_t **out, int max)
{
    char *all = log_output();
    int n = 0;
    char *save = NULL;
    size_t total = strlen(all);
    if (total) assert_int_equal(all[total - 1], '\n'); /* every line is terminated */
    for (char *line = strtok_r(all, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        assert_true(n < max);
        json_error_t e;
        json_t *j = json_loads(line, 0, &e);
        if (!j) {
            char msg[512];
            snprintf(msg, sizeof(msg), "log line is not JSON (%s): %s", e.text, line);
            free(all);
            fail_msg("%s", msg);
        }
        assert_true(json_is_object(j));
        out[n++] = j;
    }
    free(all);
    return n;
}

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void check_fixed_fields(json_t *o, const char *level, const char *msg)
{
    const char *ts = jstr(o, "timestamp");
    assert_non_null(ts);
    /* 2026-01-31T12:00:00.123Z, UTC, close to now. */
    assert_int_equal(strlen(ts), 24);
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *rest = strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm);
    assert_non_null(rest);
    assert_int_equal(rest[0], '.');
    assert_true(is_lower_hex(rest[1]) && rest[1] <= '9');
    assert_true(is_lower_hex(rest[2]) && rest[2] <= '9');
    assert_true(is_lower_hex(rest[3]) && rest[3] <= '9');
    assert_string_equal(rest + 4, "Z");
    time_t t = timegm(&tm);
    time_t now = time(NULL);
    assert_true(t <= now && now - t <= 10);
    assert_string_equal(jstr(o, "level"), level);
    assert_string_equal(jstr(o, "service"), "ducklake-backend");
    assert_string_equal(jstr(o, "message"), msg);
}

static void test_log_lines_are_json(void **state)
{
    (void)state;
    log_info("hello", "table", "orders", "count", "3");
    log_warn("quote \" backslash \\ newline \n tab \t end");
    log_error("bye");
    log_debug("dbg");
    json_t *f = json_pack("{s:i, s:b}", "rows", 42, "ok", 1);
    log_json(LOG_CRITICAL, "structured", f);
    json_decref(f);

    json_t *l[8];
    int n = log_lines(l, 8);
    assert_int_equal(n, 5);
    check_fixed_fields(l[0], "INFO", "hello");
    assert_string_equal(jstr(l[0], "table"), "orders");
    assert_string_equal(jstr(l[0], "count"), "3");
    assert_null(json_object_get(l[0], "request_id"));
    check_fixed_fields(l[1], "WARNING", "quote \" backslash \\ newline \n tab \t end");
    check_fixed_fields(l[2], "ERROR", "bye");
    check_fixed_fields(l[3], "DEBUG", "dbg");
    check_fixed_fields(l[4], "CRITICAL", "structured");
    assert_int_equal(json_integer_value(json_object_get(l[4], "rows")), 42);
    assert_true(json_is_true(json_object_get(l[4], "ok")));
    for (int i = 0; i < n; i++)
        json_decref(l[i]);
}

static void test_log_level_filter(void **state)
{
    (void)state;
    log_set_level(LOG_WARNING);
    assert_false(log_enabled(LOG_DEBUG));
    assert_false(log_enabled(LOG_INFO));
    assert_true(log_enabled(LOG_WARNING));
    assert_true(log_enabled(LOG_CRITICAL));
    log_debug("d");
    log_info("i");
    log_json(LOG_INFO, "ij", NULL);
    log_warn("w");
    log_error("e");
    log_json(LOG_ERROR, "ej", NULL);
    json_t *l[8];
    int n = log_lines(l, 8);
    assert_int_equal(n, 3);
    check_fixed_fields(l[0], "WARNING", "w");
    check_fixed_fields(l[1], "ERROR", "e");
    check_fixed_fields(l[2], "ERROR", "ej");
    for (int i = 0; i < n; i++)
        json_decref(l[i]);

    assert_int_equal(log_level_parse("DEBUG"), LOG_DEBUG);
    assert_int_equal(log_level_parse("debug"), LOG_DEBUG);
    assert_int_equal(log_level_parse("Info"), LOG_INFO);
    assert_int_equal(log_level_parse("warning"), LOG_WARNING);
    assert_int_equal(log_level_parse("ERROR"), LOG_ERROR);
    assert_int_equal(log_level_parse("critical"), LOG_CRITICAL);
    assert_int_equal(log_level_parse("LOUD"), -1);
    assert_int_equal(log_level_parse(""), -1);
    assert_int_equal(log_level_parse("DEBUGX"), -1);
    assert_int_equal(log_level_parse(NULL), -1);
}

static void test_log_secret_masked(void **state)
{
    (void)state;
    log_add_secret("hunter2secret");
    log_info("password is hunter2secret!", "field", "x-hunter2secret-y", "hunter2secret", "k");
    json_t *f = json_pack("{s:s}", "nested", "hunter2secrethunter2secret");
    log_json(LOG_WARNING, "json fields", f);
    json_decref(f);
    char *all = log_output();
    assert_null(strstr(all, "hunter2secret"));
    assert_non_null(strstr(all, "***"));
    free(all);

    json_t *l[4];
    int n = log_lines(l, 4);
    assert_int_equal(n, 2);
    check_fixed_fields(l[0], "INFO", "password is ***!");
    assert_string_equal(jstr(l[0], "field"), "x-***-y");
    check_fixed_fields(l[1], "WARNING", "json fields");
    assert_string_equal(jstr(l[1], "nested"), "******");
    for (int i = 0; i < n; i++)
        json_decref(l[i]);

    /* Secrets shorter than 4 bytes are ignored: ordinary words stay readable. */
    log_add_secret("abc");
    log_add_secret(NULL);
    log_info("abc abc");
    n = log_lines(l, 4);
    assert_int_equal(n, 3);
    check_fixed_fields(l[2], "INFO", "abc abc");
    for (int i = 0; i < n; i++)
        json_decref(l[i]);
}

/* A password may well contain a quote or a backslash; JSON escaping must not let it leak. */
static void test_log_secret_with_json_special_chars(void **state)
{
    (void)state;
    const char *secret = "pa\"ss\\w0rd";
    log_add_secret(secret);
    log_info("connecting with pa\"ss\\w0rd", "password", secret);
    json_t *l[2];
    int n = log_lines(l, 2);
    assert_int_equal(n, 1);
    const char *msg = jstr(l[0], "message");
    const char *pw = jstr(l[0], "password");
    assert_non_null(msg);
    assert_null(strstr(msg, secret));
    assert_true(pw == NULL || strstr(pw, secret) == NULL);
    json_decref(l[0]);
}

/* A secret ending in a backslash: masking must neither leak it nor leave a dangling escape that
 * makes the line invalid JSON. */
static void test_log_secret_trailing_backslash(void **state)
{
    (void)state;
    const char *secret = "tr41l1ng\\";
    log_add_secret(secret);
    log_info("pw tr41l1ng\\ and more", "password", secret);
    char *all = log_output();
    assert_null(strstr(all, "tr41l1ng"));
    free(all);
    json_t *l[2];
    int n = log_lines(l, 2); /* fails when a line is not valid JSON */
    assert_int_equal(n, 1);
    check_fixed_fields(l[0], "INFO", "pw *** and more");
    assert_string_equal(jstr(l[0], "password"), "***");
    json_decref(l[0]);
}

typedef struct {
    char rid[40];
    char seen[80];
} rid_arg;

static void *rid_thread(void *arg)
{
    rid_arg *a = arg;
    /* A fresh thread starts without a request id. */
    snprintf(a->seen, sizeof(a->seen), "%s", log_request_id());
    log_set_request_id(a->rid);
    log_info("from thread");
    return NULL;
}

static void test_log_request_id(void **state)
{
    (void)state;
    log_set_request_id("rid-main-1");
    assert_string_equal(log_request_id(), "rid-main-1");
    log_info("main 1");
    rid_arg a = {.rid = "rid-thread-2"};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, rid_thread, &a), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_string_equal(a.seen, "");
    /* The other thread did not change this thread's id. */
    assert_string_equal(log_request_id(), "rid-main-1");
    log_info("main 2");
    log_set_request_id(NULL);
    assert_string_equal(log_request_id(), "");
    log_info("main 3");

    json_t *l[4];
    int n = log_lines(l, 4);
    assert_int_equal(n, 4);
    check_fixed_fields(l[0], "INFO", "main 1");
    assert_string_equal(jstr(l[0], "request_id"), "rid-main-1");
    check_fixed_fields(l[1], "INFO", "from thread");
    assert_string_equal(jstr(l[1], "request_id"), "rid-thread-2");
    assert_string_equal(jstr(l[2], "request_id"), "rid-main-1");
    assert_null(json_object_get(l[3], "request_id"));
    for (int i = 0; i < n; i++)
        json_decref(l[i]);
}

/* The server keeps any client id that ids_request_id_sane accepts (up to 128 characters) and
 * echoes it in X-Request-ID; log lines must carry the same id, not a truncated one. */
static void test_log_request_id_full_length(void **state)
{
    (void)state;
    char rid[129];
    for (int i = 0; i < 128; i++)
        rid[i] = "0123456789abcdefghijklmnopqrstuvwxyz"[i % 36];
    rid[128] = 0;
    assert_true(ids_request_id_sane(rid));
    log_set_request_id(rid);
    assert_string_equal(log_request_id(), rid);
    log_info("long id");
    json_t *l[2];
    int n = log_lines(l, 2);
    assert_int_equal(n, 1);
    assert_string_equal(jstr(l[0], "request_id"), rid);
    json_decref(l[0]);
}

static void count_tick(void *arg)
{
    atomic_fetch_add((atomic_int *)arg, 1);
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Ticks keep coming at the interval, first_now runs one at once, and stop never waits
 * out a long interval (shutdown would hang for it otherwise). */
static void test_periodic(void **state)
{
    (void)state;
    atomic_int n = 0;
    periodic *p = periodic_start(0.01, 0, count_tick, &n);
    assert_non_null(p);
    for (int i = 0; i < 500 && atomic_load(&n) < 5; i++)
        usleep(10000);
    periodic_stop(p);
    int seen = atomic_load(&n);
    assert_true(seen >= 5);
    usleep(30000);
    assert_int_equal(atomic_load(&n), seen); /* nothing runs after stop */

    atomic_int m = 0;
    p = periodic_start(3600, 1, count_tick, &m);
    assert_non_null(p);
    for (int i = 0; i < 500 && atomic_load(&m) == 0; i++)
        usleep(1000);
    double t0 = mono_s();
    periodic_stop(p);
    assert_true(mono_s() - t0 < 1.0);
    assert_int_equal(atomic_load(&m), 1);

    periodic_stop(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_growth),
        cmocka_unit_test(test_buf_max_refusal_keeps_content),
        cmocka_unit_test(test_buf_printf_long),
        cmocka_unit_test(test_buf_steal),
        cmocka_unit_test(test_request_id_format_unique),
        cmocka_unit_test(test_request_id_sane),
        cmocka_unit_test(test_siphash_vectors),
        cmocka_unit_test(test_uuid4),
        cmocka_unit_test(test_uuid7),
        cmocka_unit_test(test_uuid_valid),
        cmocka_unit_test(test_ids_random),
        cmocka_unit_test(test_strlist_split),
        cmocka_unit_test(test_strlist_contains),
        cmocka_unit_test(test_strlist_contains_long_list),
        cmocka_unit_test(test_pool_runs_every_job_once),
        cmocka_unit_test(test_pool_submit_full),
        cmocka_unit_test(test_pool_worker_index),
        cmocka_unit_test(test_periodic),
        cmocka_unit_test_setup_teardown(test_log_lines_are_json, log_setup, log_teardown),
        cmocka_unit_test_setup_teardown(test_log_level_filter, log_setup, log_teardown),
        cmocka_unit_test_setup_teardown(test_log_secret_masked, log_setup, log_teardown),
        cmocka_unit_test_setup_teardown(test_log_secret_with_json_special_chars, log_setup,
                                        log_teardown),
        cmocka_unit_test_setup_teardown(test_log_secret_trailing_backslash, log_setup,
                                        log_teardown),
        cmocka_unit_test_setup_teardown(test_log_request_id, log_setup, log_teardown),
        cmocka_unit_test_setup_teardown(test_log_request_id_full_length, log_setup, log_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
