/* The lake reader against the golden lake written by the official ducklake extension
 * (../shared/research/ducklake-golden, or DLB_GOLDEN_DIR): every table at every snapshot must
 * give exactly the extension's rows. Also: creating a fresh catalog, adopting one, refusing an
 * unknown version, time-travel resolution, listings and details.
 *
 * Comparison: the expected CSVs were written by DuckDB's COPY ... (HEADER) from
 * SELECT rowid AS __rowid, * ... ORDER BY rowid. We write our relation the same way with the
 * same DuckDB COPY (so value text, float and NULL spelling are DuckDB's on both sides, time
 * zone UTC) and compare the files byte for byte; that also checks row ids. Then the public
 * view (SELECT * FROM <name>) is compared as a multiset of lines against the expected file
 * without its __rowid field. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <duckdb.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "lake/lake.h"
#include "meta/meta.h"
#include "util/log.h"

static char g_golden[2048];

/* ---- small helpers ---------------------------------------------------------------------- */

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s) s[n] = 0;
    if (len) *len = (size_t)n;
    fclose(f);
    return s;
}

static int copy_file(const char *from, const char *to)
{
    size_t n;
    char *d = slurp(from, &n);
    if (!d) return -1;
    FILE *f = fopen(to, "wb");
    int rc = f && fwrite(d, 1, n, f) == n ? 0 : -1;
    if (f) fclose(f);
    free(d);
    return rc;
}

static char g_copy_from[4096], g_copy_to[4096];

static int copy_cb(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st, (void)ftw;
    char dst[PATH_MAX];
    snprintf(dst, sizeof(dst), "%s%s", g_copy_to, path + strlen(g_copy_from));
    if (type == FTW_D) return mkdir(dst, 0755) == 0 || errno == EEXIST ? 0 : -1;
    return type == FTW_F ? copy_file(path, dst) : 0;
}

static int rm_cb(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st, (void)type, (void)ftw;
    return remove(path);
}

static void rm_rf(const char *dir)
{
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* The golden folder: DLB_GOLDEN_DIR, else ../shared/research/ducklake-golden next to the repo
 * root (found by walking up from the working directory to the folder holding src/lake). */
static int find_golden(void)
{
    const char *env = getenv("DLB_GOLDEN_DIR");
    struct stat st;
    if (env && *env) {
        snprintf(g_golden, sizeof(g_golden), "%s", env);
        return stat(g_golden, &st) == 0 ? 0 : -1;
    }
    char dir[1024];
    if (!getcwd(dir, sizeof(dir))) return -1;
    for (;;) {
        char probe[4096];
        snprintf(probe, sizeof(probe), "%s/src/lake/lake.h", dir);
        if (stat(probe, &st) == 0) {
            snprintf(g_golden, sizeof(g_golden), "%s/../shared/research/ducklake-golden", dir);
            snprintf(probe, sizeof(probe), "%s/catalog.sqlite", g_golden);
            return stat(probe, &st) == 0 ? 0 : -1;
        }
        char *slash = strrchr(dir, '/');
        if (!slash || slash == dir) return -1;
        *slash = 0;
    }
}

static int sqlite_exec(const char *db, const char *sql)
{
    sqlite3 *h;
    if (sqlite3_open(db, &h) != SQLITE_OK) return -1;
    int rc = sqlite3_exec(h, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
    sqlite3_close(h);
    return rc;
}

/* ---- fixture: a lake in a temp DATA_DIR ---------------------------------------------------- */

typedef struct {
    char dir[256];
    config_t cfg;
    meta_t *m;
    lake_t *l;
    duckdb_database db;
    duckdb_connection con;
} fx;

static int fx_config(fx *f)
{
    setenv("ENV_FILE", "/dev/null", 1);
    setenv("LOG_LEVEL", "ERROR", 1);
    setenv("DB_DUCKLAKE_CONNECTION_RETRIES", "1", 1);
    unsetenv("DB_POSTGRES_HOST");
    setenv("DATA_DIR", f->dir, 1);
    setenv("WORKER_THREADS", "2", 1);
    char err[4096];
    if (config_load(&f->cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "config_load: %s\n", err);
        return -1;
    }
    char merr[512];
    f->m = meta_open(&f->cfg, merr, sizeof(merr));
    if (!f->m) fprintf(stderr, "meta_open: %s\n", merr);
    return f->m ? 0 : -1;
}

static void fx_free(fx *f)
{
    if (!f) return;
    if (f->con) duckdb_disconnect(&f->con);
    if (f->db) duckdb_close(&f->db);
    lake_close(f->l);
    if (f->m) meta_close(f->m);
    config_free(&f->cfg);
    rm_rf(f->dir);
    free(f);
}

static fx *fx_new(void)
{
    fx *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/dlb-lake-read-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    return f;
}

static int duck(fx *f)
{
    if (duckdb_open(NULL, &f->db) != DuckDBSuccess) return -1;
    if (duckdb_connect(f->db, &f->con) != DuckDBSuccess) return -1;
    duckdb_result r;
    /* Without ICU this fails and TIMESTAMPTZ prints in UTC anyway. */
    duckdb_query(f->con, "SET TimeZone = 'UTC'", &r);
    duckdb_destroy_result(&r);
    return 0;
}

/* Golden lake copied to a temp DATA_DIR: catalog.sqlite + data/, data_path pointed at the
 * copy (the golden catalog stores the absolute /tmp/ducklake-golden/data/). */
static fx *fx_golden(void)
{
    if (find_golden() != 0) return NULL;
    fx *f = fx_new();
    char src[PATH_MAX + 32], cat[PATH_MAX + 32], sql[PATH_MAX + 128];
    snprintf(src, sizeof(src), "%s/catalog.sqlite", g_golden);
    snprintf(cat, sizeof(cat), "%s/catalog.sqlite", f->dir);
    assert_int_equal(copy_file(src, cat), 0);
    snprintf(g_copy_from, sizeof(g_copy_from), "%s/data", g_golden);
    snprintf(g_copy_to, sizeof(g_copy_to), "%s/data", f->dir);
    assert_int_equal(nftw(g_copy_from, copy_cb, 16, FTW_PHYS), 0);
    snprintf(sql, sizeof(sql),
             "UPDATE ducklake_metadata SET value = '%s/data/' WHERE key = 'data_path'", f->dir);
    assert_int_equal(sqlite_exec(cat, sql), 0);
    assert_int_equal(fx_config(f), 0);
    dlb_err err = {0};
    f->l = lake_open(&f->cfg, f->m, "/nonexistent/ignored/", &err);
    if (!f->l) fprintf(stderr, "lake_open: %s\n", err.detail);
    assert_non_null(f->l);
    assert_int_equal(duck(f), 0);
    return f;
}

#define GOLDEN_OR_SKIP(f)                                                                          \
    fx *f = fx_golden();                                                                           \
    if (!f) {                                                                                      \
        fprintf(stderr, "SKIP: golden lake not found (set DLB_GOLDEN_DIR or put it at "            \
                        "../shared/research/ducklake-golden beside the repo)\n");                  \
        skip();                                                                                    \
    }

/* ---- CSV comparison ------------------------------------------------------------------------ */

static int duck_exec(duckdb_connection con, const char *sql)
{
    duckdb_result r;
    int rc = duckdb_query(con, sql, &r) == DuckDBSuccess ? 0 : -1;
    if (rc) fprintf(stderr, "DuckDB: %s\n  in: %.300s\n", duckdb_result_error(&r), sql);
    duckdb_destroy_result(&r);
    return rc;
}

static int cmp_lines(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lines of a CSV text (header kept first, the rest sorted); drop_first removes the first
 * field of every line. Newlines inside quoted fields do not occur in these files. */
static char *sorted_lines(const char *text, int drop_first)
{
    char *copy = strdup(text);
    size_t cap = 16, n = 0;
    char **lines = malloc(cap * sizeof(char *));
    for (char *save = NULL, *ln = strtok_r(copy, "\n", &save); ln;
         ln = strtok_r(NULL, "\n", &save)) {
        if (drop_first) {
            char *comma = strchr(ln, ',');
            ln = comma ? comma + 1 : ln + strlen(ln);
        }
        if (n == cap) lines = realloc(lines, (cap *= 2) * sizeof(char *));
        lines[n++] = ln;
    }
    if (n > 1) qsort(lines + 1, n - 1, sizeof(char *), cmp_lines);
    size_t total = 1;
    for (size_t i = 0; i < n; i++)
        total += strlen(lines[i]) + 1;
    char *out = malloc(total), *p = out;
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s\n", lines[i]);
    *p = 0;
    free(lines);
    free(copy);
    return out;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* Qualified name of table_id at snapshot from the details listing; 0 when found. */
static int table_name_at(lake_t *l, int64_t snap, int64_t id, char *out, size_t n, int64_t *rows)
{
    dlb_err err = {0};
    json_t *a = lake_tables_json(l, snap, 1, &err);
    if (!a) fprintf(stderr, "lake_tables_json: %s\n", err.detail);
    assert_non_null(a);
    size_t i;
    json_t *o;
    int rc = -1;
    json_array_foreach(a, i, o)
    {
        if (json_integer_value(json_object_get(o, "table_id")) != id) continue;
        const char *s = json_string_value(json_object_get(o, "schema"));
        const char *t = json_string_value(json_object_get(o, "name"));
        if (strcmp(s, "main") == 0)
            snprintf(out, n, "\"%s\"", t);
        else
            snprintf(out, n, "\"%s\".\"%s\"", s, t);
        *rows = json_integer_value(json_object_get(o, "row_count"));
        rc = 0;
    }
    json_decref(a);
    return rc;
}

static int compare_one(fx *f, int64_t tid, int64_t snap, const char *expected_path)
{
    char *expected = slurp(expected_path, NULL);
    assert_non_null(expected);
    dlb_err err = {0};
    if (lake_bind(f->l, f->con, snap, &err) != 0) {
        fprintf(stderr, "lake_bind(%lld): %s\n", (long long)snap, err.detail);
        fail();
    }
    char name[512], out[512], sql[8192];
    int64_t rows = -1;
    assert_int_equal(table_name_at(f->l, snap, tid, name, sizeof(name), &rows), 0);
    snprintf(out, sizeof(out), "%s/out.csv", f->dir);
    int bad = 0;
    /* 1. the relation with row ids, byte for byte */
    snprintf(sql, sizeof(sql),
             "COPY (SELECT __dlb_rowid AS __rowid, * EXCLUDE (__dlb_rowid) FROM "
             "temp.main.__dlb_rel_%lld ORDER BY __dlb_rowid) TO '%s' (HEADER)",
             (long long)tid, out);
    assert_int_equal(duck_exec(f->con, sql), 0);
    char *got = slurp(out, NULL);
    if (strcmp(got, expected) != 0) {
        fprintf(stderr, "MISMATCH t%lld v%lld (%s)\n--- expected\n%.1500s\n--- got\n%.1500s\n",
                (long long)tid, (long long)snap, name, expected, got);
        bad = 1;
    }
    free(got);
    /* 2. the public name, as a multiset of rows */
    snprintf(sql, sizeof(sql), "COPY (SELECT * FROM %s ORDER BY ALL) TO '%s' (HEADER)", name, out);
    assert_int_equal(duck_exec(f->con, sql), 0);
    got = slurp(out, NULL);
    char *a = sorted_lines(expected, 1), *b = sorted_lines(got, 0);
    if (strcmp(a, b) != 0) {
        fprintf(stderr, "MISMATCH via name %s at v%lld\n", name, (long long)snap);
        bad = 1;
    }
    /* 3. row_count of the listing = rows of SELECT * */
    if (rows != count_lines(expected) - 1) {
        fprintf(stderr, "row_count t%lld v%lld: %lld, expected %d\n", (long long)tid,
                (long long)snap, (long long)rows, count_lines(expected) - 1);
        bad = 1;
    }
    free(a);
    free(b);
    free(got);
    free(expected);
    return bad;
}

/* Small tables are copied into temp tables by lake_bind, larger ones are views: the golden
 * tables are all small, so they are compared both ways (materialize_rows 0: views only). */
static void golden_every_snapshot(int64_t materialize_rows)
{
    GOLDEN_OR_SKIP(f);
    lake_set_materialize_rows(f->l, materialize_rows);
    char dir[PATH_MAX + 16];
    snprintf(dir, sizeof(dir), "%s/expected", g_golden);
    struct dirent **ents;
    int n = scandir(dir, &ents, NULL, alphasort);
    assert_true(n > 0);
    int checked = 0, bad = 0;
    /* Snapshot-major order, like a client time-travelling forward; rebinds only on change. */
    for (int snap = 0; snap <= 28; snap++) {
        for (int i = 0; i < n; i++) {
            long long tid, v;
            char tail[8];
            if (sscanf(ents[i]->d_name, "t%lld_v%lld.%3s", &tid, &v, tail) != 3 || v != snap)
                continue;
            char path[PATH_MAX + 300];
            snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
            bad += compare_one(f, tid, v, path);
            checked++;
        }
    }
    for (int i = 0; i < n; i++)
        free(ents[i]);
    free(ents);
    assert_int_equal(checked, 41);
    assert_int_equal(bad, 0);
    /* the path under test was the one taken */
    duckdb_result r;
    assert_int_equal(duckdb_query(f->con,
                                  "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE "
                                  "'__dlb_rel_%'",
                                  &r),
                     DuckDBSuccess);
    int64_t copied = duckdb_value_int64(&r, 0, 0);
    duckdb_destroy_result(&r);
    if (materialize_rows > 0)
        assert_true(copied > 0);
    else
        assert_int_equal(copied, 0);
    fx_free(f);
}

static void test_golden_every_snapshot(void **state)
{
    (void)state;
    golden_every_snapshot(10000);
}

static void test_golden_every_snapshot_views(void **state)
{
    (void)state;
    golden_every_snapshot(0);
}

/* ---- snapshots ------------------------------------------------------------------------------ */

/* "k=[a, b]" entries of one changes object, sorted and joined with "; ". */
static char *render_changes(json_t *changes)
{
    char *items[64];
    int n = 0;
    const char *k;
    json_t *arr;
    json_object_foreach(changes, k, arr)
    {
        char buf[1024];
        int p = snprintf(buf, sizeof(buf), "%s=[", k);
        size_t i;
        json_t *v;
        json_array_foreach(arr, i, v)
        {
            if (i) p += snprintf(buf + p, sizeof(buf) - (size_t)p, ", ");
            if (json_is_integer(v))
                p += snprintf(buf + p, sizeof(buf) - (size_t)p, "%lld",
                              (long long)json_integer_value(v));
            else
                p += snprintf(buf + p, sizeof(buf) - (size_t)p, "%s", json_string_value(v));
        }
        snprintf(buf + p, sizeof(buf) - (size_t)p, "]");
        if (n < 64) items[n++] = strdup(buf);
    }
    qsort(items, (size_t)n, sizeof(char *), cmp_lines);
    char *out = calloc(1, 4096);
    for (int i = 0; i < n; i++) {
        if (i) strcat(out, "; ");
        strncat(out, items[i], 4000 - strlen(out));
        free(items[i]);
    }
    return out;
}

/* The expected "{a=[x], b=[y, z]}" in the same form. */
static char *render_expected(const char *map)
{
    char *s = strdup(map + 1);
    s[strlen(s) - 1] = 0; /* braces */
    char *items[64];
    int n = 0;
    char *p = s;
    while (*p && n < 64) {
        char *end = strstr(p, "], ");
        if (end) *end = 0;
        char buf[1024];
        snprintf(buf, sizeof(buf), "%s%s", p, end ? "]" : "");
        items[n++] = strdup(buf);
        if (!end) break;
        p = end + 3;
    }
    qsort(items, (size_t)n, sizeof(char *), cmp_lines);
    char *out = calloc(1, 4096);
    for (int i = 0; i < n; i++) {
        if (i) strcat(out, "; ");
        strncat(out, items[i], 4000 - strlen(out));
        free(items[i]);
    }
    free(s);
    return out;
}

static void test_golden_snapshots(void **state)
{
    (void)state;
    GOLDEN_OR_SKIP(f);
    dlb_err err = {0};
    json_t *j = lake_snapshots_json(f->l, NULL, NULL, &err);
    assert_non_null(j);
    json_t *list = json_object_get(j, "snapshots");
    assert_int_equal(json_array_size(list), 29);
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/expected/snapshots.csv", g_golden);
    char *csv = slurp(path, NULL);
    assert_non_null(csv);
    char *save = NULL;
    strtok_r(csv, "\n", &save); /* header */
    int rows = 0;
    for (char *ln = strtok_r(NULL, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save)) {
        long long id = strtoll(ln, NULL, 10);
        char *map = strchr(ln, ',') + 1;
        if (*map == '"') { /* quoted CSV field */
            map++;
            map[strlen(map) - 1] = 0;
        }
        json_t *snap = json_array_get(list, (size_t)id);
        assert_int_equal(json_integer_value(json_object_get(snap, "snapshot_id")), id);
        char *want = render_expected(map);
        char *got = render_changes(json_object_get(snap, "changes"));
        if (strcmp(want, got) != 0) fprintf(stderr, "snapshot %lld: %s vs %s\n", id, want, got);
        assert_string_equal(want, got);
        free(want);
        free(got);
        rows++;
    }
    assert_int_equal(rows, 29);
    free(csv);
    assert_non_null(json_object_get(json_array_get(list, 26), "changes_made"));
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(list, 26), "changes_made")),
        "deleted_from_table:1,inline_flush:1,inline_flush:3");
    json_decref(j);

    /* Only what touched persons (created as people at 1, renamed at 15): not s1's 17..21. */
    j = lake_snapshots_json(f->l, "main", "persons", &err);
    assert_non_null(j);
    list = json_object_get(j, "snapshots");
    size_t i;
    json_t *o;
    int saw1 = 0, saw15 = 0;
    json_array_foreach(list, i, o)
    {
        int64_t id = json_integer_value(json_object_get(o, "snapshot_id"));
        assert_true(id < 17 || id == 26);
        saw1 |= id == 1, saw15 |= id == 15;
    }
    assert_true(saw1 && saw15);
    json_decref(j);
    assert_null(lake_snapshots_json(f->l, "main", "nope", &err));
    assert_int_equal(err.status, 404);
    fx_free(f);
}

static void test_time_travel_resolution(void **state)
{
    (void)state;
    GOLDEN_OR_SKIP(f);
    dlb_err err = {0};
    int64_t s = -1;
    assert_int_equal(lake_resolve_snapshot(f->l, NULL, NULL, &s, &err), 0);
    assert_int_equal(s, 28);
    assert_int_equal(lake_resolve_snapshot(f->l, "5", NULL, &s, &err), 0);
    assert_int_equal(s, 5);
    assert_int_equal(lake_resolve_snapshot(f->l, "0", NULL, &s, &err), 0);
    assert_int_equal(s, 0);
    assert_int_not_equal(lake_resolve_snapshot(f->l, "29", NULL, &s, &err), 0);
    assert_int_equal(err.status, 404);
    assert_int_not_equal(lake_resolve_snapshot(f->l, "-1", NULL, &s, &err), 0);
    assert_int_equal(err.status, 422);
    assert_int_not_equal(lake_resolve_snapshot(f->l, "5x", NULL, &s, &err), 0);
    assert_int_equal(err.status, 422);
    assert_int_not_equal(lake_resolve_snapshot(f->l, "1", "2024-01-01", &s, &err), 0);
    assert_int_equal(err.status, 422);
    assert_int_not_equal(lake_resolve_snapshot(f->l, NULL, "yesterday", &s, &err), 0);
    assert_int_equal(err.status, 422);
    /* Before the first snapshot: 404 (there was no lake then). */
    assert_int_not_equal(lake_resolve_snapshot(f->l, NULL, "2000-01-01T00:00:00Z", &s, &err), 0);
    assert_int_equal(err.status, 404);
    assert_int_equal(lake_resolve_snapshot(f->l, NULL, "2999-01-01", &s, &err), 0);
    assert_int_equal(s, 28);
    /* Exactly at snapshot 10's time -> 10; one microsecond before -> 9 (times are distinct). */
    json_t *j = lake_snapshots_json(f->l, NULL, NULL, &err);
    const char *t10 = json_string_value(
        json_object_get(json_array_get(json_object_get(j, "snapshots"), 10), "snapshot_time"));
    assert_int_equal(lake_resolve_snapshot(f->l, NULL, t10, &s, &err), 0);
    assert_int_equal(s, 10);
    char before[64];
    snprintf(before, sizeof(before), "%s", t10);
    /* "....ffffffZ": decrement the microseconds when they are not 0 */
    char *dot = strrchr(before, '.');
    long us = strtol(dot + 1, NULL, 10);
    if (us > 0) {
        snprintf(dot + 1, sizeof(before) - (size_t)(dot + 1 - before), "%06ldZ", us - 1);
        assert_int_equal(lake_resolve_snapshot(f->l, NULL, before, &s, &err), 0);
        assert_int_equal(s, 9);
    }
    /* The same instant in another zone. */
    json_decref(j);
    assert_int_equal(lake_resolve_snapshot(f->l, NULL, "2999-01-01T05:00:00+05:00", &s, &err), 0);
    fx_free(f);
}

static void test_golden_listing_and_details(void **state)
{
    (void)state;
    GOLDEN_OR_SKIP(f);
    dlb_err err = {0};
    json_t *a = lake_tables_json(f->l, 28, 0, &err);
    char *s = json_dumps(a, JSON_COMPACT);
    assert_string_equal(s, "[\"persons\",\"s1.ev\"]");
    free(s);
    json_decref(a);
    a = lake_tables_json(f->l, 24, 0, &err);
    s = json_dumps(a, JSON_COMPACT);
    assert_string_equal(s, "[\"persons\",\"tmp\",\"s1.ev\"]");
    free(s);
    json_decref(a);
    a = lake_tables_json(f->l, 0, 0, &err);
    assert_int_equal(json_array_size(a), 0);
    json_decref(a);

    json_t *t = lake_table_json(f->l, 28, NULL, "persons", &err);
    assert_non_null(t);
    assert_string_equal(json_string_value(json_object_get(t, "comment")), "people, renamed");
    assert_int_equal(json_integer_value(json_object_get(t, "table_id")), 1);
    json_t *schema = json_object_get(t, "schema");
    assert_string_equal(json_string_value(json_object_get(schema, "id")), "BIGINT");
    assert_string_equal(json_string_value(json_object_get(schema, "tags")), "VARCHAR[]");
    assert_string_equal(json_string_value(json_object_get(schema, "addr")),
                        "STRUCT(city VARCHAR, zip INTEGER, country VARCHAR)");
    assert_string_equal(json_string_value(json_object_get(schema, "amount")), "DECIMAL(12,3)");
    assert_string_equal(json_string_value(json_object_get(schema, "seen")),
                        "TIMESTAMP WITH TIME ZONE");
    assert_null(json_object_get(schema, "raw"));
    json_t *cols = json_object_get(t, "columns");
    json_t *c0 = json_array_get(cols, 0), *c1 = json_array_get(cols, 1);
    assert_int_equal(json_integer_value(json_object_get(c0, "column_id")), 1);
    assert_false(json_is_true(json_object_get(c0, "nullable")));
    assert_string_equal(json_string_value(json_object_get(c1, "name")), "full_name");
    assert_int_equal(json_integer_value(json_object_get(c1, "column_id")), 2);
    json_t *email = json_array_get(cols, json_array_size(cols) - 1);
    assert_string_equal(json_string_value(json_object_get(email, "name")), "email");
    assert_int_equal(json_array_size(json_object_get(t, "partitioning")), 0);
    json_decref(t);

    /* Time travel by name: persons did not exist as such at 14, people did. */
    assert_null(lake_table_json(f->l, 14, "main", "persons", &err));
    assert_int_equal(err.status, 404);
    t = lake_table_json(f->l, 14, "main", "people", &err);
    assert_non_null(t);
    assert_string_equal(json_string_value(json_object_get(json_object_get(t, "schema"), "id")),
                        "BIGINT");
    json_decref(t);
    t = lake_table_json(f->l, 9, "main", "people", &err);
    assert_string_equal(json_string_value(json_object_get(json_object_get(t, "schema"), "id")),
                        "INTEGER");
    assert_non_null(json_object_get(json_object_get(t, "schema"), "raw"));
    json_decref(t);

    t = lake_table_json(f->l, 28, "s1", "ev", &err);
    assert_non_null(t);
    json_t *part = json_object_get(t, "partitioning");
    assert_int_equal(json_array_size(part), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(part, 0), "transform")),
                        "year");
    assert_string_equal(json_string_value(json_object_get(json_array_get(part, 0), "column")),
                        "ts");
    assert_string_equal(json_string_value(json_object_get(json_array_get(part, 1), "transform")),
                        "bucket(4)");
    assert_true(json_integer_value(json_object_get(t, "file_count")) > 0);
    assert_true(json_integer_value(json_object_get(t, "bytes")) > 0);
    json_decref(t);
    assert_null(lake_table_json(f->l, 17, "s1", "ev", &err));
    assert_int_equal(err.status, 404);
    fx_free(f);
}

/* Rebinding the same snapshot is a no-op; the schema-qualified name works; a view of a
 * table dropped in the new snapshot disappears. */
static void test_bind_cache_and_names(void **state)
{
    (void)state;
    GOLDEN_OR_SKIP(f);
    dlb_err err = {0};
    assert_int_equal(lake_bind(f->l, f->con, 24, &err), 0);
    assert_int_equal(duck_exec(f->con, "SELECT count(*) FROM tmp"), 0);
    assert_int_equal(duck_exec(f->con, "SELECT count(*) FROM s1.ev"), 0);
    /* Mark the connection: a no-op rebind keeps the mark. */
    assert_int_equal(duck_exec(f->con, "CREATE TEMP TABLE mark AS SELECT 1"), 0);
    assert_int_equal(lake_bind(f->l, f->con, 24, &err), 0);
    assert_int_equal(duck_exec(f->con, "SELECT * FROM mark"), 0);
    assert_int_equal(lake_bind(f->l, f->con, 25, &err), 0);
    duckdb_result r;
    assert_int_equal(duckdb_query(f->con, "SELECT count(*) FROM tmp", &r), DuckDBError);
    duckdb_destroy_result(&r);
    assert_int_not_equal(lake_bind(f->l, f->con, 99, &err), 0);
    assert_int_equal(err.status, 404);
    /* A second connection bound elsewhere does not disturb the first. */
    duckdb_connection c2;
    assert_int_equal(duckdb_connect(f->db, &c2), DuckDBSuccess);
    assert_int_equal(lake_bind(f->l, c2, 24, &err), 0);
    assert_int_equal(duckdb_query(c2, "SELECT count(*) FROM tmp", &r), DuckDBSuccess);
    assert_int_equal(duckdb_value_int64(&r, 0, 0), 25);
    duckdb_destroy_result(&r);
    assert_int_equal(duckdb_query(f->con, "SELECT count(*) FROM tmp", &r), DuckDBError);
    duckdb_destroy_result(&r);
    duckdb_disconnect(&c2);
    fx_free(f);
}

/* ---- opening ------------------------------------------------------------------------------- */

static void test_fresh_lake(void **state)
{
    (void)state;
    fx *f = fx_new();
    assert_int_equal(fx_config(f), 0);
    dlb_err err = {0};
    f->l = lake_open(&f->cfg, f->m, NULL, &err);
    if (!f->l) fprintf(stderr, "lake_open: %s\n", err.detail);
    assert_non_null(f->l);
    char want[PATH_MAX + 16], real[PATH_MAX];
    assert_non_null(realpath(f->dir, real));
    snprintf(want, sizeof(want), "%s/lake/", real);
    assert_string_equal(lake_data_path(f->l), want);
    assert_string_equal(lake_version(f->l), "1.0");
    assert_int_equal(lake_read_only(f->l), 0);
    struct stat st;
    assert_int_equal(stat(want, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    /* 28 catalog tables, snapshot 0, schema main */
    meta_conn *c = meta_acquire(f->m);
    meta_result *r = meta_query(c,
                                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                                "name LIKE 'ducklake_%'",
                                NULL, 0, NULL, NULL, 0);
    assert_int_equal(meta_result_int(r, 0, 0), 28);
    meta_result_free(r);
    r = meta_query(c, "SELECT schema_name, path FROM ducklake_schema", NULL, 0, NULL, NULL, 0);
    assert_int_equal(meta_result_rows(r), 1);
    assert_string_equal(meta_result_get(r, 0, 0), "main");
    meta_result_free(r);
    meta_release(f->m, c);
    json_t *j = lake_snapshots_json(f->l, NULL, NULL, &err);
    char *s =
        json_dumps(json_object_get(json_array_get(json_object_get(j, "snapshots"), 0), "changes"),
                   JSON_COMPACT);
    assert_string_equal(s, "{\"schemas_created\":[\"main\"]}");
    free(s);
    json_decref(j);
    json_t *a = lake_tables_json(f->l, 0, 1, &err);
    assert_int_equal(json_array_size(a), 0);
    json_decref(a);
    assert_int_equal(duck(f), 0);
    assert_int_equal(lake_bind(f->l, f->con, 0, &err), 0);

    /* Reopen: adopted as it is, nothing created twice. */
    lake_close(f->l);
    f->l = lake_open(&f->cfg, f->m, "/elsewhere/", &err);
    assert_non_null(f->l);
    assert_string_equal(lake_data_path(f->l), want);
    c = meta_acquire(f->m);
    r = meta_query(c, "SELECT count(*) FROM ducklake_snapshot", NULL, 0, NULL, NULL, 0);
    assert_int_equal(meta_result_int(r, 0, 0), 1);
    meta_result_free(r);
    /* A version we cannot read is refused, naming it. */
    assert_true(meta_exec(c, "UPDATE ducklake_metadata SET value = '0.3' WHERE key = 'version'",
                          NULL, 0, NULL, 0) == 1);
    meta_release(f->m, c);
    lake_close(f->l);
    memset(&err, 0, sizeof(err));
    f->l = lake_open(&f->cfg, f->m, NULL, &err);
    assert_null(f->l);
    assert_non_null(strstr(err.detail, "'0.3'"));
    assert_non_null(strstr(err.detail, "1.0"));
    fx_free(f);
}

/* Adopting the golden lake keeps its data_path (the argument only applies to new lakes). */
static void test_adopt_keeps_data_path(void **state)
{
    (void)state;
    GOLDEN_OR_SKIP(f);
    char want[PATH_MAX + 16];
    snprintf(want, sizeof(want), "%s/data/", f->dir);
    assert_string_equal(lake_data_path(f->l), want);
    fx_free(f);
}

/* A pinned snapshot makes reads default to it and the lake read-only. */
static void test_pinned_snapshot(void **state)
{
    (void)state;
    if (find_golden() != 0) skip();
    setenv("DB_DUCKLAKE_SNAPSHOT_VERSION", "7", 1);
    GOLDEN_OR_SKIP(f);
    unsetenv("DB_DUCKLAKE_SNAPSHOT_VERSION");
    assert_int_equal(lake_read_only(f->l), 1);
    int64_t s = -1;
    dlb_err err = {0};
    assert_int_equal(lake_resolve_snapshot(f->l, NULL, NULL, &s, &err), 0);
    assert_int_equal(s, 7);
    assert_int_equal(lake_resolve_snapshot(f->l, "3", NULL, &s, &err), 0);
    assert_int_equal(s, 3);
    fx_free(f);
}

/* ---- PostgreSQL (run-unit.sh's second pass sets DB_POSTGRES_HOST) ------------------------ */

static char g_pg_host[256];

typedef struct {
    config_t *cfg;
    meta_t *m;
    lake_t *l;
    dlb_err err;
} opener;

static void *open_thread(void *arg)
{
    opener *o = arg;
    o->l = lake_open(o->cfg, o->m, NULL, &o->err);
    return NULL;
}

/* Two "processes" (separate pools) create the catalog at the same moment in a lake schema
 * of their own: one creates, the other waits on the advisory lock and adopts. */
static void test_pg_concurrent_create(void **state)
{
    (void)state;
    if (!g_pg_host[0]) skip();
    fx *f = fx_new();
    char rid[16], schema[64], lschema[64];
    snprintf(rid, sizeof(rid), "%06x", (unsigned)(getpid() ^ (unsigned)time(NULL)) & 0xffffff);
    snprintf(schema, sizeof(schema), "dlbt_srv_%s", rid);
    snprintf(lschema, sizeof(lschema), "dlbt_lake_%s", rid);
    setenv("ENV_FILE", "/dev/null", 1);
    setenv("DB_POSTGRES_HOST", g_pg_host, 1);
    setenv("DB_POSTGRES_SCHEMA", schema, 1);
    setenv("DB_DUCKLAKE_METADATA_SCHEMA", lschema, 1);
    setenv("DB_POSTGRES_SSLMODE", "disable", 1);
    setenv("DATA_DIR", f->dir, 1);
    char err[4096];
    assert_int_equal(config_load(&f->cfg, err, sizeof(err)), 0);
    unsetenv("DB_DUCKLAKE_METADATA_SCHEMA");
    meta_t *m2 = meta_open(&f->cfg, err, sizeof(err));
    f->m = meta_open(&f->cfg, err, sizeof(err));
    assert_non_null(m2);
    assert_non_null(f->m);
    opener a = {.cfg = &f->cfg, .m = f->m}, b = {.cfg = &f->cfg, .m = m2};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, open_thread, &a);
    pthread_create(&tb, NULL, open_thread, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    if (!a.l) fprintf(stderr, "a: %s\n", a.err.detail);
    if (!b.l) fprintf(stderr, "b: %s\n", b.err.detail);
    assert_non_null(a.l);
    assert_non_null(b.l);
    assert_string_equal(lake_data_path(a.l), lake_data_path(b.l));
    meta_conn *c = meta_acquire(f->m);
    meta_result *r = meta_query(c,
                                "SELECT table_schema, count(*) FROM information_schema.tables "
                                "WHERE table_name LIKE 'ducklake%' AND table_schema IN (?, ?) "
                                "GROUP BY table_schema",
                                (meta_val[]){MVTEXT(schema), MVTEXT(lschema)}, 2, NULL, NULL, 0);
    assert_int_equal(meta_result_rows(r), 1);
    assert_string_equal(meta_result_get(r, 0, 0), lschema);
    assert_int_equal(meta_result_int(r, 0, 1), 28);
    meta_result_free(r);
    r = meta_query(c, "SELECT count(*) FROM ducklake_snapshot", NULL, 0, NULL, NULL, 0);
    assert_int_equal(meta_result_int(r, 0, 0), 1);
    meta_result_free(r);
    dlb_err e = {0};
    int64_t s = -1;
    assert_int_equal(lake_resolve_snapshot(a.l, NULL, "2999-01-01", &s, &e), 0);
    assert_int_equal(s, 0);
    json_t *j = lake_snapshots_json(b.l, NULL, NULL, &e);
    assert_int_equal(json_array_size(json_object_get(j, "snapshots")), 1);
    json_decref(j);
    lake_close(a.l);
    lake_close(b.l);
    char sql[256];
    snprintf(sql, sizeof(sql),
             "DROP SCHEMA IF EXISTS \"%s\" CASCADE; DROP SCHEMA IF EXISTS "
             "\"%s\" CASCADE",
             lschema, schema);
    assert_int_equal(meta_exec_script(c, sql, NULL, 0), 0);
    meta_release(f->m, c);
    meta_close(m2);
    fx_free(f);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    const char *h = getenv("DB_POSTGRES_HOST");
    if (h) snprintf(g_pg_host, sizeof(g_pg_host), "%s", h);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh_lake),
        cmocka_unit_test(test_adopt_keeps_data_path),
        cmocka_unit_test(test_time_travel_resolution),
        cmocka_unit_test(test_pinned_snapshot),
        cmocka_unit_test(test_golden_every_snapshot_views),
        cmocka_unit_test(test_golden_snapshots),
        cmocka_unit_test(test_golden_listing_and_details),
        cmocka_unit_test(test_bind_cache_and_names),
        cmocka_unit_test(test_golden_every_snapshot),
        cmocka_unit_test(test_pg_concurrent_create),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
