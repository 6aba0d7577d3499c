/* Metadata database layer: the same tests against SQLite (always) and PostgreSQL (when
 * DB_POSTGRES_HOST is set, e.g. by scripts/run-unit.sh; otherwise those tests are skipped). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "config.h"
#include "meta/meta.h"
#include "util/ids.h"
#include "util/log.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int pg;
    char dir[128];   /* SQLite DATA_DIR */
    char schema[64]; /* PostgreSQL schema */
    config_t cfg;
    meta_t *m;
} fixture;

static char g_pg_host[256];

/* Environment for one backend, then config_load. */
static int load_config(fixture *f, const char *schema)
{
    setenv("ENV_FILE", "/dev/null", 1);
    setenv("LOG_LEVEL", "WARNING", 1);
    setenv("DB_DUCKLAKE_CONNECTION_RETRIES", "1", 1);
    if (f->pg) {
        setenv("DB_POSTGRES_HOST", g_pg_host, 1);
        setenv("DB_POSTGRES_SCHEMA", schema, 1);
        setenv("DB_POSTGRES_SSLMODE", "disable", 1);
        setenv("DB_POSTGRES_MIN_CONNECTIONS", "2", 1);
        setenv("DB_POSTGRES_MAX_CONNECTIONS", "6", 1);
    } else {
        unsetenv("DB_POSTGRES_HOST");
        setenv("DATA_DIR", f->dir, 1);
        setenv("WORKER_THREADS", "2", 1); /* pool of 8 */
    }
    char err[4096];
    if (config_load(&f->cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "config_load: %s\n", err);
        return -1;
    }
    return 0;
}

static void random_schema(char *out, size_t n)
{
    char rid[33];
    ids_request_id(rid);
    snprintf(out, n, "dlbtest_%.12s", rid);
}

static int drop_schema(meta_t *m, const char *schema)
{
    meta_conn *c = meta_acquire(m);
    if (!c) return -1;
    char sql[128];
    snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS \"%s\" CASCADE", schema);
    int rc = meta_exec_script(c, sql, NULL, 0);
    meta_release(m, c);
    return rc;
}

static int setup_common(void **state, int pg)
{
    fixture *f = calloc(1, sizeof(*f));
    if (!f) return -1;
    f->pg = pg;
    if (pg) {
        random_schema(f->schema, sizeof(f->schema));
    } else {
        snprintf(f->dir, sizeof(f->dir), "/tmp/dlb-test-meta-XXXXXX");
        if (!mkdtemp(f->dir)) {
            free(f);
            return -1;
        }
        /* A sub-directory that does not exist yet: meta_open creates it. */
        strcat(f->dir, "/data");
    }
    if (load_config(f, f->schema) != 0) {
        free(f);
        return -1;
    }
    char err[512];
    f->m = meta_open(&f->cfg, err, sizeof(err));
    if (!f->m) {
        fprintf(stderr, "meta_open: %s\n", err);
        config_free(&f->cfg);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int setup_sqlite(void **state)
{
    log_set_level(LOG_WARNING);
    return setup_common(state, 0);
}

static int setup_pg(void **state)
{
    *state = NULL;
    if (!g_pg_host[0]) return 0;
    return setup_common(state, 1);
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (!f) return 0;
    if (f->pg) drop_schema(f->m, f->schema);
    meta_close(f->m);
    config_free(&f->cfg);
    if (!f->pg) {
        char cmd[300];
        char *slash = strrchr(f->dir, '/');
        if (slash) *slash = 0;
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
        if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", f->dir);
    }
    free(f);
    return 0;
}

static fixture *fx(void **state)
{
    fixture *f = *state;
    if (!f) skip(); /* PostgreSQL not configured (DB_POSTGRES_HOST unset) */
    return f;
}

static const char *blob_type(fixture *f)
{
    return f->pg ? "BYTEA" : "BLOB";
}

/* Runs a statement that must succeed. */
static void ok_exec(meta_conn *c, const char *sql)
{
    char err[256];
    int64_t rc = meta_exec(c, sql, NULL, 0, err, sizeof(err));
    if (rc < 0) fail_msg("%s: %s", sql, err);
}

static int64_t count_rows(meta_conn *c, const char *sql, const meta_val *p, int n)
{
    char err[256];
    int rc;
    meta_result *r = meta_query(c, sql, p, n, &rc, err, sizeof(err));
    if (!r) fail_msg("%s: %s", sql, err);
    int64_t v = meta_result_int(r, 0, 0);
    meta_result_free(r);
    return v;
}

/* ------------------------------------------------------------------ tests */

static void test_open_and_migrations(void **state)
{
    fixture *f = fx(state);
    assert_string_equal(meta_backend(f->m), f->pg ? "postgres" : "sqlite");
    int v = meta_schema_version(f->m);
    assert_true(v >= 1);
    char err[256];
    assert_int_equal(meta_ping(f->m, err, sizeof(err)), META_OK);

    meta_conn *c = meta_acquire(f->m);
    assert_non_null(c);
    int rc;
    meta_result *r = meta_query(c, "SELECT value FROM dlb_kv WHERE key = ?",
                                (meta_val[]){MVTEXT("installation_id")}, 1, &rc, err, sizeof(err));
    assert_non_null(r);
    assert_int_equal(meta_result_rows(r), 1);
    char id[64];
    snprintf(id, sizeof(id), "%s", meta_result_get(r, 0, 0));
    assert_true(ids_uuid_valid(id));
    meta_result_free(r);
    /* Versions are not dense (separate series grow independently): the highest applied one is
     * the schema version, and each migration was recorded once. */
    int64_t nmig = count_rows(c, "SELECT COUNT(*) FROM dlb_schema_migrations", NULL, 0);
    int64_t ndistinct =
        count_rows(c, "SELECT COUNT(DISTINCT version) FROM dlb_schema_migrations", NULL, 0);
    assert_int_equal(count_rows(c, "SELECT MAX(version) FROM dlb_schema_migrations", NULL, 0), v);
    assert_int_equal(nmig, ndistinct);
    assert_true(nmig >= 1 && nmig <= v);
    meta_release(f->m, c);

    /* Opening again applies nothing and keeps the installation id. */
    meta_t *m2 = meta_open(&f->cfg, err, sizeof(err));
    assert_non_null(m2);
    assert_int_equal(meta_schema_version(m2), v);
    c = meta_acquire(m2);
    assert_non_null(c);
    assert_int_equal(count_rows(c, "SELECT COUNT(*) FROM dlb_schema_migrations", NULL, 0), nmig);
    r = meta_query(c, "SELECT value FROM dlb_kv WHERE key = 'installation_id'", NULL, 0, &rc, err,
                   sizeof(err));
    assert_non_null(r);
    assert_int_equal(meta_result_rows(r), 1);
    assert_string_equal(meta_result_get(r, 0, 0), id);
    meta_result_free(r);
    meta_release(m2, c);
    meta_close(m2);
}

typedef struct {
    const config_t *cfg;
    meta_t *m;
    char err[256];
} opener;

static void *open_thread(void *arg)
{
    opener *o = arg;
    o->m = meta_open(o->cfg, o->err, sizeof(o->err));
    return NULL;
}

/* Two processes starting at once on a fresh database must not both apply a migration. */
static void test_concurrent_first_open(void **state)
{
    fixture *f = fx(state);
    fixture g = {.pg = f->pg};
    if (f->pg)
        random_schema(g.schema, sizeof(g.schema));
    else
        snprintf(g.dir, sizeof(g.dir), "%.100s/concurrent", f->dir);
    assert_int_equal(load_config(&g, g.schema), 0);
    enum { N = 4 };
    opener o[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        o[i] = (opener){.cfg = &g.cfg};
        assert_int_equal(pthread_create(&t[i], NULL, open_thread, &o[i]), 0);
    }
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < N; i++)
        if (!o[i].m) fail_msg("open %d: %s", i, o[i].err);
    meta_conn *c = meta_acquire(o[0].m);
    assert_non_null(c);
    assert_int_equal(count_rows(c, "SELECT COUNT(*) FROM dlb_kv", NULL, 0), 1);
    assert_int_equal(count_rows(c, "SELECT MAX(version) FROM dlb_schema_migrations", NULL, 0),
                     meta_schema_version(o[1].m));
    assert_int_equal(
        count_rows(c, "SELECT COUNT(*) FROM dlb_schema_migrations", NULL, 0),
        count_rows(c, "SELECT COUNT(DISTINCT version) FROM dlb_schema_migrations", NULL, 0));
    meta_release(o[0].m, c);
    if (g.pg) assert_int_equal(drop_schema(o[0].m, g.schema), META_OK);
    for (int i = 0; i < N; i++)
        meta_close(o[i].m);
    config_free(&g.cfg);
}

static void test_value_types(void **state)
{
    fixture *f = fx(state);
    meta_conn *c = meta_acquire(f->m);
    assert_non_null(c);
    char sql[256];
    snprintf(sql, sizeof(sql),
             "CREATE TABLE t_types (id INTEGER PRIMARY KEY, i BIGINT, d DOUBLE PRECISION, "
             "s TEXT, b %s, n TEXT)",
             blob_type(f));
    ok_exec(c, sql);
    const char uni[] = "Grüße, 世界 🦆 \"quoted\" 'single'";
    const char blob[] = {'a', 0, 'b', 0, 0, (char)0xff, 'z'};
    char err[256];
    meta_val p[] = {MVINT(1),    MVINT(-9007199254740993LL), MVDBL(3.25),
                    MVTEXT(uni), MVBLOB(blob, sizeof(blob)), MVNULL};
    assert_int_equal(meta_exec(c,
                               "INSERT INTO t_types(id, i, d, s, b, n) VALUES (?, ?, ?, ?, ?, ?)",
                               p, 6, err, sizeof(err)),
                     1);
    meta_val p2[] = {MVINT(2),   MVINT(INT64_MAX), MVDBL(-0.1),
                     MVTEXT(""), MVBLOB("", 0),    MVTEXT(NULL)};
    assert_int_equal(meta_exec(c,
                               "INSERT INTO t_types(id, i, d, s, b, n) VALUES (?, ?, ?, ?, ?, ?)",
                               p2, 6, err, sizeof(err)),
                     1);

    int rc;
    meta_result *r = meta_query(c, "SELECT id, i, d, s, b, n FROM t_types ORDER BY id", NULL, 0,
                                &rc, err, sizeof(err));
    assert_non_null(r);
    assert_int_equal(meta_result_rows(r), 2);
    assert_int_equal(meta_result_cols(r), 6);
    assert_string_equal(meta_result_colname(r, 0), "id");
    assert_string_equal(meta_result_colname(r, 4), "b");
    assert_int_equal(meta_result_int(r, 0, 0), 1);
    assert_true(meta_result_int(r, 0, 1) == -9007199254740993LL);
    assert_string_equal(meta_result_get(r, 0, 1), "-9007199254740993");
    assert_true(meta_result_double(r, 0, 2) == 3.25);
    assert_string_equal(meta_result_get(r, 0, 3), uni);
    assert_int_equal(meta_result_len(r, 0, 3), strlen(uni));
    assert_int_equal(meta_result_len(r, 0, 4), sizeof(blob));
    assert_memory_equal(meta_result_get(r, 0, 4), blob, sizeof(blob));
    assert_true(meta_result_isnull(r, 0, 5));
    assert_null(meta_result_get(r, 0, 5));
    assert_int_equal(meta_result_int(r, 0, 5), 0);
    assert_true(meta_result_int(r, 1, 1) == INT64_MAX);
    assert_true(meta_result_double(r, 1, 2) == -0.1);
    assert_false(meta_result_isnull(r, 1, 3));
    assert_string_equal(meta_result_get(r, 1, 3), "");
    assert_false(meta_result_isnull(r, 1, 4));
    assert_int_equal(meta_result_len(r, 1, 4), 0);
    assert_true(meta_result_isnull(r, 1, 5));
    /* Out of range is NULL, not a crash. */
    assert_null(meta_result_get(r, 2, 0));
    assert_null(meta_result_get(r, 0, 6));
    meta_result_free(r);

    /* Parameters in WHERE, a boolean expression (1/0 on both backends), no rows. */
    r = meta_query(c, "SELECT id, (i > ?) AS big FROM t_types WHERE s = ?",
                   (meta_val[]){MVINT(0), MVTEXT(uni)}, 2, &rc, err, sizeof(err));
    assert_non_null(r);
    assert_int_equal(meta_result_rows(r), 1);
    assert_string_equal(meta_result_get(r, 0, 1), "0");
    meta_result_free(r);
    r = meta_query(c, "SELECT id FROM t_types WHERE id = ?", (meta_val[]){MVINT(99)}, 1, &rc, err,
                   sizeof(err));
    assert_non_null(r);
    assert_int_equal(meta_result_rows(r), 0);
    assert_int_equal(meta_result_cols(r), 1);
    meta_result_free(r);

    /* Rows affected. */
    assert_int_equal(meta_exec(c, "UPDATE t_types SET n = ? WHERE id >= ?",
                               (meta_val[]){MVTEXT("x"), MVINT(1)}, 2, err, sizeof(err)),
                     2);
    assert_int_equal(meta_exec(c, "DELETE FROM t_types WHERE id = ?", (meta_val[]){MVINT(42)}, 1,
                               err, sizeof(err)),
                     0);
    assert_int_equal(meta_exec(c, "CREATE TABLE t_empty (x INTEGER)", NULL, 0, err, sizeof(err)),
                     0);
    meta_release(f->m, c);
}

static void test_placeholders_in_literals(void **state)
{
    fixture *f = fx(state);
    meta_conn *c = meta_acquire(f->m);
    assert_non_null(c);
    char err[256];
    int rc;
    meta_result *r = meta_query(c,
                                "SELECT 'what?' AS a, ? AS b, 'it''s ?' AS c, \"q\" FROM "
                                "(SELECT ? AS \"q\") AS sub -- trailing ? comment\n",
                                (meta_val[]){MVTEXT("B?"), MVTEXT("Q")}, 2, &rc, err, sizeof(err));
    if (!r) fail_msg("query: %s", err);
    assert_string_equal(meta_result_get(r, 0, 0), "what?");
    assert_string_equal(meta_result_get(r, 0, 1), "B?");
    assert_string_equal(meta_result_get(r, 0, 2), "it's ?");
    assert_string_equal(meta_result_get(r, 0, 3), "Q");
    meta_result_free(r);

    /* Wrong number of values is an error, not a crash or a silent NULL. */
    r = meta_query(c, "SELECT ?, ?", (meta_val[]){MVINT(1)}, 1, &rc, err, sizeof(err));
    assert_null(r);
    assert_int_equal(rc, META_ERR);
    assert_true(strlen(err) > 0);
    meta_release(f->m, c);
}

static void test_transactions(void **state)
{
    fixture *f = fx(state);
    meta_conn *c = meta_acquire(f->m);
    meta_conn *c2 = meta_acquire(f->m);
    assert_non_null(c);
    assert_non_null(c2);
    assert_ptr_not_equal(c, c2);
    ok_exec(c, "CREATE TABLE t_tx (id INTEGER PRIMARY KEY, v TEXT)");
    char err[256];

    assert_int_equal(meta_begin(c), META_OK);
    assert_int_equal(meta_exec(c, "INSERT INTO t_tx VALUES (?, ?)",
                               (meta_val[]){MVINT(1), MVTEXT("rolled back")}, 2, err, sizeof(err)),
                     1);
    assert_int_equal(count_rows(c, "SELECT COUNT(*) FROM t_tx", NULL, 0), 1);
    assert_int_equal(meta_rollback(c), META_OK);
    assert_int_equal(count_rows(c, "SELECT COUNT(*) FROM t_tx", NULL, 0), 0);

    assert_int_equal(meta_begin(c), META_OK);
    assert_int_equal(meta_exec(c, "INSERT INTO t_tx VALUES (?, ?)",
                               (meta_val[]){MVINT(2), MVTEXT("committed")}, 2, err, sizeof(err)),
                     1);
    /* Not visible to another connection before the commit. */
    assert_int_equal(count_rows(c2, "SELECT COUNT(*) FROM t_tx", NULL, 0), 0);
    assert_int_equal(meta_commit(c), META_OK);
    assert_int_equal(count_rows(c2, "SELECT COUNT(*) FROM t_tx WHERE v = 'committed'", NULL, 0), 1);

    /* Released inside a transaction: rolled back, connection reusable. */
    assert_int_equal(meta_begin(c2), META_OK);
    ok_exec(c2, "INSERT INTO t_tx VALUES (3, 'abandoned')");
    meta_release(f->m, c2);
    assert_int_equal(count_rows(c, "SELECT COUNT(*) FROM t_tx", NULL, 0), 1);

    /* A failed statement inside a transaction: rollback recovers the connection. */
    assert_int_equal(meta_begin(c), META_OK);
    assert_true(meta_exec(c, "INSERT INTO nonexistent VALUES (1)", NULL, 0, err, sizeof(err)) ==
                META_ERR);
    assert_int_equal(meta_rollback(c), META_OK);
    assert_int_equal(count_rows(c, "SELECT COUNT(*) FROM t_tx", NULL, 0), 1);
    meta_release(f->m, c);
}

static void test_conflict(void **state)
{
    fixture *f = fx(state);
    meta_conn *c = meta_acquire(f->m);
    assert_non_null(c);
    ok_exec(c, "CREATE TABLE t_conf (id TEXT PRIMARY KEY, u TEXT UNIQUE, nn TEXT NOT NULL)");
    char err[256];
    meta_val p[] = {MVTEXT("secret-key-1"), MVTEXT("u1"), MVTEXT("x")};
    assert_int_equal(meta_exec(c, "INSERT INTO t_conf VALUES (?, ?, ?)", p, 3, err, sizeof(err)),
                     1);
    assert_true(meta_exec(c, "INSERT INTO t_conf VALUES (?, ?, ?)", p, 3, err, sizeof(err)) ==
                META_CONFLICT);
    assert_true(strlen(err) > 0);
    assert_null(strstr(err, "secret-key-1")); /* values never in error text */
    meta_val p2[] = {MVTEXT("k2"), MVTEXT("u1"), MVTEXT("x")};
    assert_true(meta_exec(c, "INSERT INTO t_conf VALUES (?, ?, ?)", p2, 3, err, sizeof(err)) ==
                META_CONFLICT);
    /* Other constraints are plain errors. */
    meta_val p3[] = {MVTEXT("k3"), MVTEXT("u3"), MVNULL};
    assert_true(meta_exec(c, "INSERT INTO t_conf VALUES (?, ?, ?)", p3, 3, err, sizeof(err)) ==
                META_ERR);
    /* Syntax error. */
    int rc;
    assert_null(meta_query(c, "SELEC nonsense", NULL, 0, &rc, err, sizeof(err)));
    assert_int_equal(rc, META_ERR);
    /* Conflict inside a transaction, then rollback and retry. */
    assert_int_equal(meta_begin(c), META_OK);
    assert_true(meta_exec(c, "INSERT INTO t_conf VALUES (?, ?, ?)", p, 3, err, sizeof(err)) ==
                META_CONFLICT);
    assert_int_equal(meta_rollback(c), META_OK);
    assert_int_equal(count_rows(c, "SELECT COUNT(*) FROM t_conf", NULL, 0), 1);
    meta_release(f->m, c);
}

static void test_injection_verbatim(void **state)
{
    fixture *f = fx(state);
    meta_conn *c = meta_acquire(f->m);
    assert_non_null(c);
    ok_exec(c, "CREATE TABLE t_inj (id INTEGER PRIMARY KEY, v TEXT)");
    const char *evil[] = {
        "Robert'); DROP TABLE t_inj; --",
        "x' OR '1'='1",
        "$1 ? $$ dollar $$ \\' \\\" ;",
        "\"; DELETE FROM t_inj; --",
    };
    char err[256];
    for (int i = 0; i < 4; i++)
        assert_int_equal(meta_exec(c, "INSERT INTO t_inj VALUES (?, ?)",
                                   (meta_val[]){MVINT(i), MVTEXT(evil[i])}, 2, err, sizeof(err)),
                         1);
    for (int i = 0; i < 4; i++) {
        int rc;
        meta_result *r = meta_query(c, "SELECT v FROM t_inj WHERE v = ?",
                                    (meta_val[]){MVTEXT(evil[i])}, 1, &rc, err, sizeof(err));
        assert_non_null(r);
        assert_int_equal(meta_result_rows(r), 1);
        assert_string_equal(meta_result_get(r, 0, 0), evil[i]);
        meta_result_free(r);
    }
    assert_int_equal(count_rows(c, "SELECT COUNT(*) FROM t_inj", NULL, 0), 4);
    meta_release(f->m, c);
}

static void test_exec_script(void **state)
{
    fixture *f = fx(state);
    meta_conn *c = meta_acquire(f->m);
    assert_non_null(c);
    char err[256];
    assert_int_equal(meta_exec_script(c,
                                      "CREATE TABLE t_s1 (a INTEGER);\n"
                                      "INSERT INTO t_s1 VALUES (1);\n"
                                      "INSERT INTO t_s1 VALUES (2); -- comment ?\n"
                                      "CREATE TABLE t_s2 (b TEXT);",
                                      err, sizeof(err)),
                     META_OK);
    assert_int_equal(count_rows(c, "SELECT SUM(a) FROM t_s1", NULL, 0), 3);
    assert_int_equal(
        meta_exec_script(c, "INSERT INTO t_s2 VALUES ('x'); SELEC bad;", err, sizeof(err)),
        META_ERR);
    assert_true(strlen(err) > 0);
    /* meta_exec refuses several statements instead of running only the first. */
    assert_true(meta_exec(c, "INSERT INTO t_s1 VALUES (5); INSERT INTO t_s1 VALUES (6)", NULL, 0,
                          err, sizeof(err)) < 0);
    meta_release(f->m, c);
}

typedef struct {
    meta_t *m;
    int id;
    int failures;
    char err[256];
} worker;

enum { THREADS = 8, PER_THREAD = 40 };

static void *pool_worker(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        meta_conn *c = meta_acquire(w->m);
        if (!c) {
            w->failures++;
            snprintf(w->err, sizeof(w->err), "acquire failed");
            continue;
        }
        int64_t rc = meta_exec(c, "INSERT INTO t_pool(t, i) VALUES (?, ?)",
                               (meta_val[]){MVINT(w->id), MVINT(i)}, 2, w->err, sizeof(w->err));
        if (rc != 1) w->failures++;
        meta_release(w->m, c);
    }
    return NULL;
}

static void test_pool_threads(void **state)
{
    fixture *f = fx(state);
    meta_conn *c = meta_acquire(f->m);
    assert_non_null(c);
    ok_exec(c, "CREATE TABLE t_pool (t INTEGER, i INTEGER, PRIMARY KEY (t, i))");
    meta_release(f->m, c);
    worker w[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){.m = f->m, .id = i};
        assert_int_equal(pthread_create(&t[i], NULL, pool_worker, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < THREADS; i++)
        if (w[i].failures) fail_msg("thread %d: %d failures: %s", i, w[i].failures, w[i].err);
    c = meta_acquire(f->m);
    assert_non_null(c);
    assert_int_equal(count_rows(c, "SELECT COUNT(*) FROM t_pool", NULL, 0), THREADS * PER_THREAD);
    meta_release(f->m, c);
}

typedef struct {
    meta_t *m;
    meta_conn *c;
} releaser;

static void *release_later(void *arg)
{
    releaser *r = arg;
    struct timespec ts = {0, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
    meta_release(r->m, r->c);
    return NULL;
}

static void test_pool_exhaustion(void **state)
{
    fixture *f = fx(state);
    int n = meta_pool_size(f->m);
    assert_true(n >= 1 && n <= 64);
    meta_conn *all[64];
    for (int i = 0; i < n; i++) {
        all[i] = meta_acquire(f->m);
        assert_non_null(all[i]);
    }
    /* Full: the next acquire waits until another thread releases one. */
    releaser r = {f->m, all[0]};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, release_later, &r), 0);
    meta_conn *c = meta_acquire(f->m);
    pthread_join(t, NULL);
    assert_non_null(c);
    assert_ptr_equal(c, all[0]);
    ok_exec(c, "SELECT 1");
    all[0] = c;
    for (int i = 0; i < n; i++)
        meta_release(f->m, all[i]);
}

static void test_reconnect(void **state)
{
    fixture *f = fx(state);
    char err[256];
    meta_conn *held = meta_acquire(f->m);
    assert_non_null(held);
    meta_reconnect(f->m);
    /* The held connection still works until released, then it is replaced. */
    ok_exec(held, "SELECT 1");
    meta_release(f->m, held);
    assert_int_equal(meta_ping(f->m, err, sizeof(err)), META_OK);
    assert_true(meta_schema_version(f->m) >= 1);
}

/* PostgreSQL only: a killed backend reports META_CONN; the pool reconnects. */
static void test_connection_lost(void **state)
{
    fixture *f = fx(state);
    if (!f->pg) skip();
    meta_conn *victim = meta_acquire(f->m);
    meta_conn *killer = meta_acquire(f->m);
    assert_non_null(victim);
    assert_non_null(killer);
    int rc;
    char err[256];
    meta_result *r = meta_query(victim, "SELECT pg_backend_pid()", NULL, 0, &rc, err, sizeof(err));
    assert_non_null(r);
    int64_t pid = meta_result_int(r, 0, 0);
    meta_result_free(r);
    r = meta_query(killer, "SELECT pg_terminate_backend(?::int)", (meta_val[]){MVINT(pid)}, 1, &rc,
                   err, sizeof(err));
    if (!r) fail_msg("terminate: %s", err);
    meta_result_free(r);
    meta_release(f->m, killer);
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
    r = meta_query(victim, "SELECT 1", NULL, 0, &rc, err, sizeof(err));
    assert_null(r);
    assert_int_equal(rc, META_CONN);
    meta_release(f->m, victim);
    for (int i = 0; i < meta_pool_size(f->m) + 1; i++)
        assert_int_equal(meta_ping(f->m, err, sizeof(err)), META_OK);
}

/* The prepared-statement cache: the same SQL text runs from the cache with fresh values, a
 * blob and a text value in the same place each get a statement of their own on PostgreSQL,
 * the cache stays bounded, a column change under a cached SELECT * is survived, and a
 * reconnect starts empty. */
static void test_statement_cache(void **state)
{
    fixture *f = fx(state);
    char err[256], sql[128];
    meta_conn *c = meta_acquire(f->m);
    assert_non_null(c);
    ok_exec(c, "DROP TABLE IF EXISTS sc_t");
    ok_exec(c, "CREATE TABLE sc_t (k INTEGER PRIMARY KEY, v TEXT)");
    uint64_t h0, m0, h1, m1;
    int n0, n1;
    meta_stmt_stats(c, &h0, &m0, &n0);
    for (int i = 0; i < 20; i++) {
        char v[16];
        snprintf(v, sizeof(v), "v%d", i);
        meta_val p[] = {MVINT(i), MVTEXT(v)};
        if (meta_exec(c, "INSERT INTO sc_t (k, v) VALUES (?, ?)", p, 2, err, sizeof(err)) != 1)
            fail_msg("insert %d: %s", i, err);
    }
    meta_stmt_stats(c, &h1, &m1, &n1);
    assert_int_equal(m1 - m0, 1);
    assert_int_equal(h1 - h0, 19);
    /* Values are bound per call, not remembered from the first one. */
    for (int i = 0; i < 20; i += 7) {
        meta_val p[] = {MVINT(i)};
        int rc;
        meta_result *r =
            meta_query(c, "SELECT v FROM sc_t WHERE k = ?", p, 1, &rc, err, sizeof(err));
        if (!r) fail_msg("select: %s", err);
        char want[16];
        snprintf(want, sizeof(want), "v%d", i);
        assert_string_equal(meta_result_get(r, 0, 0), want);
        meta_result_free(r);
    }
    /* A wrong number of values is still refused when the statement is cached. */
    meta_val one[] = {MVINT(1)};
    assert_int_equal(
        meta_exec(c, "INSERT INTO sc_t (k, v) VALUES (?, ?)", one, 1, err, sizeof(err)), META_ERR);
    assert_non_null(strstr(err, "placeholders"));
    /* Same text, a blob where text was: a statement typed for bytea on PostgreSQL. */
    meta_val pb[] = {MVINT(100), MVBLOB("ab", 2)};
    if (!f->pg) {
        if (meta_exec(c, "INSERT INTO sc_t (k, v) VALUES (?, ?)", pb, 2, err, sizeof(err)) != 1)
            fail_msg("blob insert: %s", err);
    }
    /* Bounded: many distinct statements, each still answered correctly. */
    for (int i = 0; i < 300; i++) {
        snprintf(sql, sizeof(sql), "SELECT k + %d FROM sc_t WHERE k = ?", i);
        meta_val p[] = {MVINT(7)};
        assert_int_equal(count_rows(c, sql, p, 1), 7 + i);
    }
    meta_stmt_stats(c, &h1, &m1, &n1);
    assert_true(n1 > 0 && n1 <= 96);
    /* The table changes its columns under a cached SELECT *. */
    assert_int_equal(count_rows(c, "SELECT count(*) FROM (SELECT * FROM sc_t) x", NULL, 0),
                     21 - f->pg);
    int rc;
    meta_result *r =
        meta_query(c, "SELECT * FROM sc_t WHERE k = 1", NULL, 0, &rc, err, sizeof(err));
    if (!r) fail_msg("select *: %s", err);
    assert_int_equal(meta_result_cols(r), 2);
    meta_result_free(r);
    ok_exec(c, "ALTER TABLE sc_t ADD COLUMN w INTEGER");
    r = meta_query(c, "SELECT * FROM sc_t WHERE k = 1", NULL, 0, &rc, err, sizeof(err));
    if (!r) fail_msg("select * after ALTER: %s", err);
    assert_int_equal(meta_result_cols(r), 3);
    meta_result_free(r);
    ok_exec(c, "DROP TABLE sc_t");
    meta_release(f->m, c);
    /* A reconnect drops the connections and their statements. */
    meta_reconnect(f->m);
    c = meta_acquire(f->m);
    assert_non_null(c);
    meta_stmt_stats(c, &h1, &m1, &n1);
    assert_int_equal(n1, 0);
    assert_int_equal(h1, 0);
    ok_exec(c, "SELECT 1");
    meta_release(f->m, c);
}

/* A cached statement inside a rolled-back transaction, then reused after it. */
static void test_statement_cache_transactions(void **state)
{
    fixture *f = fx(state);
    char err[256];
    meta_conn *c = meta_acquire(f->m);
    assert_non_null(c);
    ok_exec(c, "DROP TABLE IF EXISTS sc_tx");
    ok_exec(c, "CREATE TABLE sc_tx (k INTEGER PRIMARY KEY)");
    const char *ins = "INSERT INTO sc_tx (k) VALUES (?)";
    for (int round = 0; round < 3; round++) {
        assert_int_equal(meta_begin(c), META_OK);
        meta_val p[] = {MVINT(1)};
        assert_int_equal(meta_exec(c, ins, p, 1, err, sizeof(err)), 1);
        /* A unique violation fails the statement (and on PostgreSQL the transaction). */
        assert_int_equal(meta_exec(c, ins, p, 1, err, sizeof(err)), META_CONFLICT);
        assert_int_equal(meta_rollback(c), META_OK);
    }
    meta_val p2[] = {MVINT(2)};
    assert_int_equal(meta_exec(c, ins, p2, 1, err, sizeof(err)), 1);
    assert_int_equal(count_rows(c, "SELECT count(*) FROM sc_tx", NULL, 0), 1);
    ok_exec(c, "DROP TABLE sc_tx");
    meta_release(f->m, c);
}

static void test_open_failure_message(void **state)
{
    fixture *f = fx(state);
    config_t cfg = f->cfg;
    char err[512];
    if (f->pg) {
        /* Nobody listens on port 1; the password must not appear in the message. */
        cfg.db_postgres_port = 1;
        cfg.db_postgres_connection_timeout = 2;
        cfg.db_ducklake_connection_retries = 2;
        cfg.db_ducklake_connection_retry_delay = 0.1;
        assert_null(meta_open(&cfg, err, sizeof(err)));
        assert_non_null(strstr(err, ":1/"));
        assert_non_null(strstr(err, cfg.db_postgres_db));
        if (cfg.db_postgres_password[0]) assert_null(strstr(err, cfg.db_postgres_password));
        cfg = f->cfg;
        cfg.db_postgres_schema = "bad-schema\"; DROP";
        assert_null(meta_open(&cfg, err, sizeof(err)));
        assert_non_null(strstr(err, "DB_POSTGRES_SCHEMA"));
    } else {
        cfg.data_dir = "/proc/definitely/not/writable";
        cfg.db_ducklake_connection_retries = 1;
        assert_null(meta_open(&cfg, err, sizeof(err)));
        assert_non_null(strstr(err, "/proc/definitely/not/writable"));
    }
}

int main(void)
{
    log_set_level(LOG_ERROR);
    const char *h = getenv("DB_POSTGRES_HOST");
    if (h) snprintf(g_pg_host, sizeof(g_pg_host), "%s", h);

#define TESTS                                                                                      \
    cmocka_unit_test(test_open_and_migrations), cmocka_unit_test(test_concurrent_first_open),      \
        cmocka_unit_test(test_value_types), cmocka_unit_test(test_placeholders_in_literals),       \
        cmocka_unit_test(test_transactions), cmocka_unit_test(test_conflict),                      \
        cmocka_unit_test(test_injection_verbatim), cmocka_unit_test(test_exec_script),             \
        cmocka_unit_test(test_pool_threads), cmocka_unit_test(test_pool_exhaustion),               \
        cmocka_unit_test(test_reconnect), cmocka_unit_test(test_connection_lost),                  \
        cmocka_unit_test(test_open_failure_message), cmocka_unit_test(test_statement_cache),       \
        cmocka_unit_test(test_statement_cache_transactions)

    const struct CMUnitTest sqlite_tests[] = {TESTS};
    const struct CMUnitTest pg_tests[] = {TESTS};
    int failed = cmocka_run_group_tests_name("meta_sqlite", sqlite_tests, setup_sqlite, teardown);
    if (!g_pg_host[0])
        fprintf(stderr, "test_meta: DB_POSTGRES_HOST is not set: PostgreSQL tests skipped\n");
    failed += cmocka_run_group_tests_name("meta_postgres", pg_tests, setup_pg, teardown);
    return failed ? 1 : 0;
}
