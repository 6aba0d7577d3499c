/* The lake writer: CREATE TABLE, append (Parquet and inlined), DROP TABLE on a fresh SQLite
 * lake, the catalog rows checked table by table, and (when DLB_DUCKDB_REF names the reference
 * DuckDB with the official ducklake extension) the extension reading what we wrote: every
 * value, snapshots() and time travel. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "config.h"
#include "lake/lake.h"
#include "lake/lake_internal.h"
#include "meta/meta.h"

#include <duckdb.h>
#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    char dir[64];
    char cat[128];
    char data[160];
    config_t cfg;
    meta_t *m;
    lake_t *l;
    duckdb_database db;
    duckdb_connection con;
} fixture;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int open_lake(fixture *f, const char *inline_limit)
{
    setenv("ENV_FILE", "/dev/null", 1);
    setenv("LOG_LEVEL", "ERROR", 1);
    unsetenv("DB_POSTGRES_HOST");
    setenv("DATA_DIR", f->dir, 1);
    setenv("WORKER_THREADS", "4", 1);
    setenv("DB_DUCKLAKE_DATA_INLINING_ROW_LIMIT", inline_limit, 1);
    char err[4096];
    if (config_load(&f->cfg, err, sizeof err) != 0) {
        fprintf(stderr, "config_load: %s\n", err);
        return -1;
    }
    f->m = meta_open(&f->cfg, err, sizeof err);
    if (!f->m) {
        fprintf(stderr, "meta_open: %s\n", err);
        return -1;
    }
    dlb_err e = {0};
    f->l = lake_open(&f->cfg, f->m, f->data, &e);
    if (!f->l) {
        fprintf(stderr, "lake_open: %s\n", e.detail);
        return -1;
    }
    snprintf(f->cat, sizeof f->cat, "%s/catalog.sqlite", f->dir);
    if (duckdb_open(NULL, &f->db) != DuckDBSuccess) return -1;
    if (duckdb_connect(f->db, &f->con) != DuckDBSuccess) return -1;
    return 0;
}

static int setup_with(void **state, const char *limit)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/dlb-lake-write-XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->data, sizeof f->data, "%s/data/", f->dir);
    *state = f;
    return open_lake(f, limit);
}

static int setup(void **state)
{
    return setup_with(state, "0");
}

static int setup_inline(void **state)
{
    return setup_with(state, "10");
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f->con) duckdb_disconnect(&f->con);
    if (f->db) duckdb_close(&f->db);
    if (f->l) lake_close(f->l);
    if (f->m) meta_close(f->m);
    config_free(&f->cfg);
    if (!getenv("DLB_KEEP")) nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* Column 0 of every row joined with sep (caller frees). */
static char *q(fixture *f, const char *sql, const char *sep)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(f->cat, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("prepare %s: %s", sql, sqlite3_errmsg(db));
    size_t cap = 1 << 16, len = 0;
    char *out = calloc(1, cap);
    assert_non_null(out);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        if (!v) v = "<NULL>";
        size_t need = len + strlen(v) + strlen(sep) + 1;
        if (need > cap) {
            cap = need * 2;
            out = realloc(out, cap);
            assert_non_null(out);
        }
        len += (size_t)sprintf(out + len, "%s%s", len ? sep : "", v);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

static void expect_q(fixture *f, const char *sql, const char *want)
{
    char *got = q(f, sql, "\n");
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "%s\n--- got\n%s\n--- want\n%s\n", sql, got, want);
        fail_msg("catalog rows differ");
    }
    free(got);
}

static int64_t count_q(fixture *f, const char *sql)
{
    char *s = q(f, sql, "");
    int64_t v = strtoll(s, NULL, 10);
    free(s);
    return v;
}

static void create_ok(fixture *f, const char *schema, const char *name, const lake_coldef *cols,
                      int n, const char *comment, const char *const *parts, int np,
                      int64_t want_snap)
{
    dlb_err e = {0};
    int64_t snap = -1;
    int rc = lake_create_table(f->l, schema, name, cols, n, comment, parts, np, &snap, &e);
    if (rc != 0) fail_msg("create %s: %d %s %s", name, e.status, e.code, e.detail);
    assert_int_equal(snap, want_snap);
}

static void append_ok(fixture *f, const char *table, const char *src, int64_t rows,
                      int64_t want_snap)
{
    dlb_err e = {0};
    int64_t n = -1, snap = -1;
    int rc = lake_append(f->l, f->con, "main", table, src, &n, &snap, &e);
    if (rc != 0) fail_msg("append to %s: %d %s %s", table, e.status, e.code, e.detail);
    assert_int_equal(n, rows);
    if (want_snap >= 0) assert_int_equal(snap, want_snap);
}

/* ------------------------------------------------------------------ reference DuckDB */

/* cmocka's skip() takes no message: print one first. */
#define skip_msg(m)                                                                                \
    do {                                                                                           \
        print_message("[  SKIP    ] %s\n", m);                                                     \
        skip();                                                                                    \
    } while (0)

static const char *ref_bin(void)
{
    const char *r = getenv("DLB_DUCKDB_REF");
    return r && *r ? r : NULL;
}

/* Runs the reference DuckDB on sql (ATTACH prepended) and returns its CSV output. */
static char *ref_run(fixture *f, const char *sql)
{
    char path[256];
    snprintf(path, sizeof path, "%s/ref.sql", f->dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fprintf(fp,
            "ATTACH 'ducklake:sqlite:%s' AS l (DATA_PATH '%s', READ_ONLY);\n"
            "%s\n",
            f->cat, f->data, sql);
    fclose(fp);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' -csv -noheader -f '%s' 2>&1", ref_bin(), path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    size_t got;
    while ((got = fread(out + len, 1, cap - len - 1, p)) > 0) {
        len += got;
        if (cap - len < 4096) {
            cap *= 2;
            out = realloc(out, cap);
            assert_non_null(out);
        }
    }
    out[len] = '\0';
    pclose(p);
    return out;
}

/* The same query on our DuckDB (the expected values), as CSV text like the CLI's. */
static char *local_csv(fixture *f, const char *sql)
{
    char path[256], copy[8192];
    snprintf(path, sizeof path, "%s/local.csv", f->dir);
    snprintf(copy, sizeof copy, "SET TimeZone = 'UTC'; COPY (%s) TO '%s' (HEADER false)", sql,
             path);
    duckdb_result r;
    if (duckdb_query(f->con, copy, &r) != DuckDBSuccess)
        fail_msg("local %s: %s", sql, duckdb_result_error(&r));
    duckdb_destroy_result(&r);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *out = calloc(1, (size_t)n + 1);
    assert_non_null(out);
    assert_int_equal(fread(out, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    return out;
}

/* The extension's CSV of a query must equal ours of the expected query. */
static void ref_compare(fixture *f, const char *ref_sql, const char *local_sql)
{
    char wrapped[8192];
    snprintf(wrapped, sizeof wrapped, "COPY (%s) TO '/dev/stdout' (HEADER false);", ref_sql);
    char *got = ref_run(f, wrapped);
    char *want = local_csv(f, local_sql);
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "extension disagrees on %s\n--- extension\n%s\n--- expected\n%s\n", ref_sql,
                got, want);
        fail_msg("extension disagrees");
    }
    free(got);
    free(want);
}

/* ------------------------------------------------------------------ tests */

static const lake_coldef all_types[] = {
    {"id", "INTEGER NOT NULL"},
    {"b", "BOOLEAN"},
    {"i8", "TINYINT"},
    {"i16", "INT2"},
    {"i64", "LONG"},
    {"u8", "UTINYINT"},
    {"u16", "USMALLINT"},
    {"u32", "UINTEGER"},
    {"u64", "UBIGINT"},
    {"f", "REAL"},
    {"d", "DOUBLE"},
    {"price", "DECIMAL(10,2)"},
    {"big", "NUMERIC(38,5)"},
    {"s", "TEXT"},
    {"bl", "BYTEA"},
    {"dt", "DATE"},
    {"tm", "TIME"},
    {"ts", "TIMESTAMP"},
    {"tss", "TIMESTAMP_S"},
    {"tsms", "TIMESTAMP_MS"},
    {"tsns", "TIMESTAMP_NS"},
    {"tz", "TIMESTAMP WITH TIME ZONE"},
    {"iv", "INTERVAL"},
    {"u", "UUID"},
    {"j", "JSON"},
    {"tags", "VARCHAR[]"},
    {"addr", "STRUCT(city VARCHAR, zip INTEGER)"},
    {"m", "MAP(VARCHAR, INTEGER)"},
    {"ll", "LIST(INTEGER[])"},
};
#define NTYPES ((int)(sizeof all_types / sizeof all_types[0]))

/* Rows as text, in the table's column order. */
static const char *rows_a =
    "(VALUES "
    "('1', 'true', '-128', '-32768', '-9223372036854775808', '0', '0', '0', '0', '1.5', "
    "'2.25', '12345678.91', '123456789012345678901234567890123.12345', 'hello', '\\xAA\\x01', "
    "'2024-02-29', '10:11:12.5', '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05', "
    "'2024-01-02 03:04:05.123', '2024-01-02 03:04:05.123456789', '2024-01-02 03:04:05+02', "
    "'1 year 2 months 3 days', '00000000-0000-4000-8000-000000000001', '{\"a\": [1, 2]}', "
    "'[a, NULL, \"c,d\"]', '{''city'': ''Paris'', ''zip'': 75001}', '{k1=1, k2=NULL}', "
    "'[[1, 2], [], NULL]'), "
    "('2', 'false', '127', '32767', '9223372036854775807', '255', '65535', '4294967295', "
    "'18446744073709551615', 'nan', '-inf', '-0.01', '-1', 'it''s \"quoted\"', '', "
    "'1970-01-01', '00:00:00', '1970-01-01 00:00:00', '1900-01-01 00:00:00', "
    "'2262-04-11 23:47:16.854', '1677-09-22 00:00:00', '2024-12-31 23:59:59.999999+00', "
    "'1 day 00:00:01', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '[]', '[]', '{''city'': NULL, "
    "''zip'': "
    "NULL}', '{}', '[]'), "
    "('3', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
    "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)) "
    "v(id, b, i8, i16, i64, u8, u16, u32, u64, f, d, price, big, s, bl, dt, tm, ts, tss, tsms, "
    "tsns, tz, iv, u, j, tags, addr, m, ll)";

/* The expected typed values of rows_a, computed by our DuckDB. */
static const char *typed_select =
    "SELECT id::INTEGER, b::BOOLEAN, i8::TINYINT, i16::SMALLINT, i64::BIGINT, u8::UTINYINT, "
    "u16::USMALLINT, u32::UINTEGER, u64::UBIGINT, f::FLOAT, d::DOUBLE, price::DECIMAL(10,2), "
    "big::DECIMAL(38,5), s::VARCHAR, bl::BLOB, dt::DATE, tm::TIME, ts::TIMESTAMP, "
    "tss::TIMESTAMP_S, tsms::TIMESTAMP_MS, tsns::TIMESTAMP_NS, tz::TIMESTAMPTZ, iv::INTERVAL, "
    "u::UUID, j::JSON, tags::VARCHAR[], addr::STRUCT(city VARCHAR, zip INTEGER), "
    "m::MAP(VARCHAR, INTEGER), ll::INTEGER[][] FROM ";

static void test_types_roundtrip(void **state)
{
    fixture *f = *state;
    create_ok(f, "main", "t", all_types, NTYPES, "all the types", NULL, 0, 1);

    /* Catalog rows of CREATE TABLE (digest §7.2, golden catalog). */
    expect_q(f,
             "SELECT snapshot_id || ',' || schema_version || ',' || next_catalog_id || ',' || "
             "next_file_id FROM ducklake_snapshot ORDER BY 1",
             "0,0,1,0\n1,1,2,0");
    expect_q(f, "SELECT changes_made FROM ducklake_snapshot_changes WHERE snapshot_id = 1",
             "created_table:\"main\".\"t\"");
    expect_q(f,
             "SELECT table_id || ',' || begin_snapshot || ',' || ifnull(end_snapshot, 'N') || ',' "
             "|| schema_id || ',' || table_name || ',' || path || ',' || path_is_relative || ',' "
             "|| typeof(path_is_relative) || ',' || length(table_uuid) FROM ducklake_table",
             "1,1,N,0,t,t/,1,integer,36");
    expect_q(
        f,
        "SELECT group_concat(column_id || ':' || column_order || ':' || column_name || ':' || "
        "column_type || ':' || nulls_allowed || ':' || ifnull(parent_column, '-') || ':' || "
        "default_value || ':' || default_value_type || ':' || default_value_dialect || ':' "
        "|| ifnull(initial_default, 'N'), ' ') FROM (SELECT * FROM ducklake_column ORDER BY "
        "column_id)",
        "1:1:id:int32:0:-:NULL:literal:duckdb:N 2:2:b:boolean:1:-:NULL:literal:duckdb:N "
        "3:3:i8:int8:1:-:NULL:literal:duckdb:N 4:4:i16:int16:1:-:NULL:literal:duckdb:N "
        "5:5:i64:int64:1:-:NULL:literal:duckdb:N 6:6:u8:uint8:1:-:NULL:literal:duckdb:N "
        "7:7:u16:uint16:1:-:NULL:literal:duckdb:N 8:8:u32:uint32:1:-:NULL:literal:duckdb:N "
        "9:9:u64:uint64:1:-:NULL:literal:duckdb:N 10:10:f:float32:1:-:NULL:literal:duckdb:N "
        "11:11:d:float64:1:-:NULL:literal:duckdb:N "
        "12:12:price:decimal(10,2):1:-:NULL:literal:duckdb:N "
        "13:13:big:decimal(38,5):1:-:NULL:literal:duckdb:N "
        "14:14:s:varchar:1:-:NULL:literal:duckdb:N 15:15:bl:blob:1:-:NULL:literal:duckdb:N "
        "16:16:dt:date:1:-:NULL:literal:duckdb:N 17:17:tm:time:1:-:NULL:literal:duckdb:N "
        "18:18:ts:timestamp:1:-:NULL:literal:duckdb:N "
        "19:19:tss:timestamp_s:1:-:NULL:literal:duckdb:N "
        "20:20:tsms:timestamp_ms:1:-:NULL:literal:duckdb:N "
        "21:21:tsns:timestamp_ns:1:-:NULL:literal:duckdb:N "
        "22:22:tz:timestamptz:1:-:NULL:literal:duckdb:N "
        "23:23:iv:interval:1:-:NULL:literal:duckdb:N 24:24:u:uuid:1:-:NULL:literal:duckdb:N "
        "25:25:j:json:1:-:NULL:literal:duckdb:N 26:26:tags:list:1:-:NULL::duckdb:N "
        "27:27:element:varchar:1:26:NULL:literal:duckdb:N "
        "28:28:addr:struct:1:-:NULL::duckdb:N 29:29:city:varchar:1:28:NULL:literal:duckdb:N "
        "30:30:zip:int32:1:28:NULL:literal:duckdb:N 31:31:m:map:1:-:NULL::duckdb:N "
        "32:32:key:varchar:1:31:NULL:literal:duckdb:N "
        "33:33:value:int32:1:31:NULL:literal:duckdb:N 34:34:ll:list:1:-:NULL::duckdb:N "
        "35:35:element:list:1:34:NULL::duckdb:N 36:36:element:int32:1:35:NULL:literal:duckdb:N");
    expect_q(f,
             "SELECT begin_snapshot || ',' || schema_version || ',' || table_id FROM "
             "ducklake_schema_versions",
             "1,1,1");
    expect_q(f,
             "SELECT object_id || ',' || begin_snapshot || ',' || \"key\" || ',' || \"value\" "
             "FROM ducklake_tag",
             "1,1,comment,all the types");

    char src[8192];
    snprintf(src, sizeof src, "%s", rows_a);
    append_ok(f, "t", src, 3, 2);
    append_ok(f, "t", src, 3, 3);

    expect_q(f,
             "SELECT snapshot_id || ',' || schema_version || ',' || next_catalog_id || ',' || "
             "next_file_id FROM ducklake_snapshot ORDER BY 1",
             "0,0,1,0\n1,1,2,0\n2,1,2,1\n3,1,2,2");
    expect_q(f, "SELECT changes_made FROM ducklake_snapshot_changes WHERE snapshot_id >= 2",
             "inserted_into_table:1\ninserted_into_table:1");
    expect_q(f,
             "SELECT data_file_id || ',' || table_id || ',' || begin_snapshot || ',' || "
             "ifnull(end_snapshot, 'N') || ',' || ifnull(file_order, 'N') || ',' || "
             "(path LIKE 'ducklake-%.parquet') || ',' || path_is_relative || ',' || file_format "
             "|| ',' || record_count || ',' || row_id_start || ',' || ifnull(partition_id, 'N') "
             "|| ',' || (footer_size > 0) || ',' || (file_size_bytes > footer_size) FROM "
             "ducklake_data_file ORDER BY 1",
             "0,1,2,N,N,1,1,parquet,3,0,N,1,1\n1,1,3,N,N,1,1,parquet,3,3,N,1,1");
    /* record_count, next_row_id, file_size_bytes (= sum of the files). */
    expect_q(f,
             "SELECT s.record_count || ',' || s.next_row_id || ',' || (s.file_size_bytes = (SELECT "
             "sum(file_size_bytes) FROM ducklake_data_file)) FROM ducklake_table_stats s",
             "6,6,1");
    /* File statistics, leaf columns only, in the extension's text forms (digest §8.3). */
    expect_q(f,
             "SELECT group_concat(column_id || '|' || ifnull(value_count, 'N') || '|' || "
             "ifnull(null_count, 'N') || '|' || ifnull(min_value, 'N') || '|' || "
             "ifnull(max_value, 'N') || '|' || ifnull(contains_nan, 'N'), ' ') FROM (SELECT * "
             "FROM ducklake_file_column_stats WHERE data_file_id = 0 ORDER BY column_id)",
             "1|3|0|1|3|N 2|2|1|0|1|N 3|2|1|-128|127|N 4|2|1|-32768|32767|N "
             "5|2|1|-9223372036854775808|9223372036854775807|N 6|2|1|0|255|N 7|2|1|0|65535|N "
             "8|2|1|0|4294967295|N 9|2|1|0|18446744073709551615|N 10|2|1|1.5|1.5|1 "
             "11|2|1|-inf|2.25|0 12|2|1|-0.01|12345678.91|N "
             "13|2|1|-1.00000|123456789012345678901234567890123.12345|N "
             "14|2|1|hello|it's \"quoted\"|N 15|2|1||AA01|N 16|2|1|1970-01-01|2024-02-29|N "
             "17|2|1|00:00:00|10:11:12.5|N 18|2|1|1970-01-01 00:00:00|2024-01-02 "
             "03:04:05.123456|N 19|2|1|1900-01-01 00:00:00|2024-01-02 03:04:05|N "
             "20|2|1|2024-01-02 03:04:05.123|2262-04-11 23:47:16.854|N 21|2|1|1677-09-22 "
             "00:00:00|2024-01-02 03:04:05.123456789|N 22|2|1|2024-01-02 01:04:05+00|2024-12-31 "
             "23:59:59.999999+00|N 23|N|N|N|N|N "
             "24|2|1|00000000-0000-4000-8000-000000000001|ffffffff-ffff-ffff-ffff-ffffffffffff|N "
             "25|2|1|[]|{\"a\": [1, 2]}|N 27|2|3|a|c,d|N 29|1|2|Paris|Paris|N "
             "30|1|2|75001|75001|N 32|2|2|k1|k2|N 33|1|3|1|1|N 36|2|4|1|2|N");
    expect_q(f,
             "SELECT group_concat(column_id || '|' || ifnull(contains_null, 'N') || '|' || "
             "ifnull(contains_nan, 'N') || '|' || ifnull(min_value, 'N') || '|' || "
             "ifnull(max_value, 'N'), ' ') FROM (SELECT * FROM ducklake_table_column_stats "
             "WHERE column_id IN (1, 10, 11, 12, 15, 22, 23, 36) ORDER BY column_id)",
             "1|0|N|1|3 10|1|1|1.5|1.5 11|1|0|-inf|2.25 12|1|N|-0.01|12345678.91 15|1|N||AA01 "
             "22|1|N|2024-01-02 01:04:05+00|2024-12-31 23:59:59.999999+00 23|1|N|N|N 36|1|N|1|2");

    /* Field ids = column ids, nested included; snappy like the extension. */
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT string_agg(name || '=' || coalesce(field_id::VARCHAR, '-'), ' ') FROM "
             "parquet_schema('%smain/t/*.parquet') WHERE file_name LIKE '%%' GROUP BY file_name "
             "LIMIT 1",
             f->data);
    duckdb_result r;
    assert_int_equal(duckdb_query(f->con, sql, &r), DuckDBSuccess);
    char *ids = duckdb_value_varchar(&r, 0, 0);
    assert_string_equal(ids, "duckdb_schema=- id=1 b=2 i8=3 i16=4 i64=5 u8=6 u16=7 u32=8 u64=9 "
                             "f=10 d=11 price=12 big=13 s=14 bl=15 dt=16 tm=17 ts=18 tss=19 "
                             "tsms=20 tsns=21 tz=22 iv=23 u=24 j=25 tags=26 list=- element=27 "
                             "addr=28 city=29 zip=30 m=31 key_value=- key=32 value=33 ll=34 "
                             "list=- element=35 list=- element=36");
    duckdb_free(ids);
    duckdb_destroy_result(&r);
    snprintf(sql, sizeof sql,
             "SELECT DISTINCT compression FROM parquet_metadata('%smain/t/*.parquet')", f->data);
    assert_int_equal(duckdb_query(f->con, sql, &r), DuckDBSuccess);
    assert_int_equal(duckdb_row_count(&r), 1);
    char *comp = duckdb_value_varchar(&r, 0, 0);
    assert_string_equal(comp, "SNAPPY");
    duckdb_free(comp);
    duckdb_destroy_result(&r);

    if (!ref_bin()) {
        skip_msg("DLB_DUCKDB_REF unset: the extension does not read this lake; set it to "
                 "../shared/tools/ducklake-reference/duckdb-ref (scripts/run-unit.sh does)");
        return;
    }
    char local[8192];
    snprintf(local, sizeof local, "%s%s UNION ALL %s%s ORDER BY ALL", typed_select, rows_a,
             typed_select, rows_a);
    ref_compare(f, "SELECT * FROM l.t ORDER BY ALL", local);
    snprintf(local, sizeof local, "%s%s ORDER BY ALL", typed_select, rows_a);
    ref_compare(f, "SELECT * FROM l.t AT (VERSION => 2) ORDER BY ALL", local);
    ref_compare(f, "SELECT count(*) FROM l.t AT (VERSION => 1)", "SELECT 0");
    ref_compare(f, "SELECT rowid, id FROM l.t ORDER BY rowid",
                "SELECT * FROM (VALUES (0, 1), (1, 2), (2, 3), (3, 1), (4, 2), (5, 3))");
    /* Table-level statistics answer MIN/MAX in the extension: they must be exact. */
    ref_compare(f,
                "SELECT min(id), max(id), min(price), max(price), max(s), min(dt), max(tz), "
                "count(*) FROM l.t",
                "SELECT 1, 3, -0.01::DECIMAL(10,2), 12345678.91::DECIMAL(10,2), 'it''s "
                "\"quoted\"', DATE '1970-01-01', TIMESTAMPTZ '2024-12-31 23:59:59.999999+00', 6");
    ref_compare(f, "SELECT snapshot_id, changes FROM l.snapshots() ORDER BY snapshot_id",
                "SELECT * FROM (VALUES (0, MAP {'schemas_created': ['main']}), (1, MAP "
                "{'tables_created': ['main.t']}), (2, MAP {'tables_inserted_into': ['1']}), (3, "
                "MAP {'tables_inserted_into': ['1']}))");
}

static void test_bad_row(void **state)
{
    fixture *f = *state;
    const lake_coldef cols[] = {{"id", "BIGINT NOT NULL"}, {"price", "DECIMAL(10,2)"}};
    create_ok(f, NULL, "p", cols, 2, NULL, NULL, 0, 1);
    append_ok(f, "p", "(VALUES ('1', '2.50')) v(id, price)", 1, 2);
    dlb_err e = {0};
    int64_t n = -1, snap = -1;
    int rc = lake_append(f->l, f->con, "main", "p",
                         "(VALUES ('1', '1.5'), ('2', NULL), ('3', 'abc'), ('x', '1')) v(id, "
                         "price)",
                         &n, &snap, &e);
    assert_int_equal(rc, -1);
    assert_int_equal(e.status, 422);
    assert_string_equal(e.detail, "row 3, column 'price': cannot convert 'abc' to DECIMAL(10,2)");
    rc = lake_append(f->l, f->con, "main", "p", "(VALUES ('1', '1.5'), (NULL, '2')) v(id, price)",
                     &n, &snap, &e);
    assert_int_equal(rc, -1);
    assert_int_equal(e.status, 422);
    assert_string_equal(e.detail, "row 2, column 'id': NULL in a NOT NULL column");
    rc = lake_append(f->l, f->con, "main", "p", "(VALUES ('123456789012', '1')) v(price, nope)", &n,
                     &snap, &e);
    assert_int_equal(e.status, 422);
    rc = lake_append(f->l, f->con, "main", "p", "(VALUES ('1', '123456789012')) v(id, price)", &n,
                     &snap, &e);
    assert_int_equal(rc, -1);
    assert_string_equal(e.detail,
                        "row 1, column 'price': cannot convert '123456789012' to DECIMAL(10,2)");
    rc = lake_append(f->l, f->con, "main", "nope", "(VALUES (1)) v(id)", &n, &snap, &e);
    assert_int_equal(e.status, 404);
    /* Nothing committed, no file left behind. */
    assert_int_equal(count_q(f, "SELECT count(*) FROM ducklake_snapshot"), 3);
    assert_int_equal(count_q(f, "SELECT count(*) FROM ducklake_data_file"), 1);
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM glob('%smain/p/*')", f->data);
    duckdb_result r;
    assert_int_equal(duckdb_query(f->con, sql, &r), DuckDBSuccess);
    assert_int_equal(duckdb_value_int64(&r, 0, 0), 1);
    duckdb_destroy_result(&r);
    /* Empty input: no snapshot. */
    append_ok(f, "p", "(SELECT '1' AS id WHERE false)", 0, 2);
}

static void test_create_errors(void **state)
{
    fixture *f = *state;
    const lake_coldef ok[] = {{"a", "INT"}};
    create_ok(f, NULL, "x", ok, 1, NULL, NULL, 0, 1);
    dlb_err e = {0};
    assert_int_equal(lake_create_table(f->l, NULL, "X", ok, 1, NULL, NULL, 0, NULL, &e), -1);
    assert_int_equal(e.status, 409);
    assert_int_equal(lake_create_table(f->l, NULL, "select", ok, 1, NULL, NULL, 0, NULL, &e), -1);
    assert_int_equal(e.status, 422);
    assert_int_equal(lake_create_table(f->l, NULL, "a b", ok, 1, NULL, NULL, 0, NULL, &e), -1);
    assert_int_equal(e.status, 422);
    const lake_coldef bad[] = {{"a", "INT; DROP TABLE x"}};
    assert_int_equal(lake_create_table(f->l, NULL, "y", bad, 1, NULL, NULL, 0, NULL, &e), -1);
    assert_int_equal(e.status, 422);
    assert_non_null(strstr(e.detail, "INT; DROP TABLE x"));
    const lake_coldef dup[] = {{"a", "INT"}, {"A", "INT"}};
    assert_int_equal(lake_create_table(f->l, NULL, "y", dup, 2, NULL, NULL, 0, NULL, &e), -1);
    assert_int_equal(e.status, 422);
    const char *bucket[] = {"bucket(4, a)"};
    assert_int_equal(lake_create_table(f->l, NULL, "y", ok, 1, NULL, bucket, 1, NULL, &e), -1);
    assert_int_equal(e.status, 422);
    assert_int_equal(count_q(f, "SELECT count(*) FROM ducklake_snapshot"), 2);
    /* Another schema is created with the table; partition keys become partition rows. */
    const lake_coldef ev[] = {{"id", "INT"}, {"ts", "TIMESTAMP"}};
    const char *parts[] = {"year(ts)", "id"};
    create_ok(f, "s1", "ev", ev, 2, NULL, parts, 2, 2);
    expect_q(f, "SELECT changes_made FROM ducklake_snapshot_changes WHERE snapshot_id = 2",
             "created_schema:\"s1\",created_table:\"s1\".\"ev\"");
    expect_q(f, "SELECT schema_id || ',' || schema_name || ',' || path FROM ducklake_schema",
             "0,main,main/\n2,s1,s1/");
    expect_q(f,
             "SELECT snapshot_id || ',' || schema_version || ',' || next_catalog_id FROM "
             "ducklake_snapshot WHERE snapshot_id = 2",
             "2,2,5");
    expect_q(f,
             "SELECT partition_id || ',' || table_id || ',' || begin_snapshot FROM "
             "ducklake_partition_info",
             "4,3,2");
    expect_q(f,
             "SELECT partition_key_index || ',' || column_id || ',' || \"transform\" FROM "
             "ducklake_partition_column ORDER BY 1",
             "0,2,year\n1,1,identity");
    /* Read-only lakes refuse writes. */
    f->l->read_only = 1;
    assert_int_equal(lake_create_table(f->l, NULL, "z", ok, 1, NULL, NULL, 0, NULL, &e), -1);
    assert_int_equal(e.status, 403);
    assert_int_equal(lake_drop_table(f->l, NULL, "x", NULL, &e), -1);
    assert_int_equal(e.status, 403);
    f->l->read_only = 0;
    if (ref_bin())
        ref_compare(f,
                    "SELECT table_name FROM duckdb_tables() WHERE database_name = 'l' ORDER BY 1",
                    "SELECT * FROM (VALUES ('ev'), ('x'))");
}

static void test_drop(void **state)
{
    fixture *f = *state;
    const lake_coldef cols[] = {{"a", "INTEGER"}, {"l", "INT[]"}};
    create_ok(f, NULL, "d", cols, 2, "c", NULL, 0, 1);
    append_ok(f, "d", "(SELECT range::VARCHAR AS a, [range]::VARCHAR AS l FROM range(25))", 25, 2);
    int64_t snap = -1;
    dlb_err e = {0};
    assert_int_equal(lake_drop_table(f->l, "main", "D", &snap, &e), 0);
    assert_int_equal(snap, 3);
    expect_q(f, "SELECT changes_made FROM ducklake_snapshot_changes WHERE snapshot_id = 3",
             "dropped_table:1");
    expect_q(f,
             "SELECT schema_version || ',' || next_catalog_id || ',' || next_file_id FROM "
             "ducklake_snapshot WHERE snapshot_id = 3",
             "2,2,1");
    expect_q(f, "SELECT end_snapshot FROM ducklake_table", "3");
    expect_q(f, "SELECT group_concat(end_snapshot) FROM ducklake_column", "3,3,3");
    expect_q(f, "SELECT end_snapshot FROM ducklake_data_file", "3");
    expect_q(f, "SELECT end_snapshot FROM ducklake_tag", "3");
    assert_int_equal(lake_drop_table(f->l, "main", "d", &snap, &e), -1);
    assert_int_equal(e.status, 404);
    int64_t n;
    assert_int_equal(lake_append(f->l, f->con, "main", "d", "(VALUES (1)) v(a)", &n, &snap, &e),
                     -1);
    assert_int_equal(e.status, 404);
    /* The name is free again. */
    create_ok(f, NULL, "d", cols, 2, NULL, NULL, 0, 4);
    if (!ref_bin()) {
        skip_msg("DLB_DUCKDB_REF unset: interop check skipped");
        return;
    }
    ref_compare(f, "SELECT sum(a), count(*) FROM l.d AT (VERSION => 2)", "SELECT 300, 25");
    ref_compare(f, "SELECT count(*) FROM l.d", "SELECT 0");
    ref_compare(f, "SELECT snapshot_id, changes FROM l.snapshots() WHERE snapshot_id = 3",
                "SELECT 3, MAP {'tables_dropped': ['1']}");
}

static void test_inlined(void **state)
{
    fixture *f = *state;
    const lake_coldef cols[] = {{"id", "INTEGER"}, {"s", "VARCHAR"},
                                {"f", "DOUBLE"},   {"bl", "BLOB"},
                                {"u", "UBIGINT"},  {"st", "STRUCT(x INT, y INT[])"},
                                {"b", "BOOLEAN"}};
    create_ok(f, NULL, "small", cols, 7, NULL, NULL, 0, 1);
    expect_q(f,
             "SELECT table_id || ',' || table_name || ',' || schema_version FROM "
             "ducklake_inlined_data_tables",
             "1,ducklake_inlined_data_1_1,1");
    const char *src = "(VALUES ('1', 'a''b', 'nan', '\\x00\\xFF', '18446744073709551615', "
                      "'{x: 1, y: [1, 2]}', 'true'), ('2', NULL, '0.5', NULL, NULL, NULL, NULL)) "
                      "v(id, s, f, bl, u, st, b)";
    append_ok(f, "small", src, 2, 2);
    expect_q(f,
             "SELECT row_id || ',' || begin_snapshot || ',' || ifnull(end_snapshot, 'N') || ',' "
             "|| id || ',' || ifnull(s, 'N') || ',' || f || ',' || typeof(bl) || ',' || ifnull(u, "
             "'N') || ',' || ifnull(st, 'N') || ',' || ifnull(b, 'N') FROM "
             "ducklake_inlined_data_1_1 ORDER BY row_id",
             "0,2,N,1,a'b,nan,blob,18446744073709551615,{'x': 1, 'y': [1, 2]},1\n"
             "1,2,N,2,N,0.5,null,N,N,N");
    expect_q(f, "SELECT changes_made FROM ducklake_snapshot_changes WHERE snapshot_id = 2",
             "inlined_insert:1");
    expect_q(f,
             "SELECT schema_version || ',' || next_file_id FROM ducklake_snapshot WHERE "
             "snapshot_id = 2",
             "1,1");
    expect_q(f,
             "SELECT record_count || ',' || next_row_id || ',' || file_size_bytes FROM "
             "ducklake_table_stats",
             "2,2,0");
    assert_int_equal(count_q(f, "SELECT count(*) FROM ducklake_data_file"), 0);
    /* Above the limit: a Parquet file, row ids continue. */
    append_ok(f, "small", "(SELECT range::VARCHAR AS id, 'x' || range AS s FROM range(100, 120))",
              20, 3);
    expect_q(f, "SELECT row_id_start FROM ducklake_data_file", "2");
    if (!ref_bin()) {
        skip_msg("DLB_DUCKDB_REF unset: interop check skipped");
        return;
    }
    ref_compare(
        f, "SELECT id, s, f, bl, u, st, b FROM l.small WHERE id < 100 ORDER BY id",
        "SELECT 1, 'a''b', 'nan'::DOUBLE, '\\x00\\xFF'::BLOB, 18446744073709551615::UBIGINT, "
        "{'x': 1, 'y': [1, 2]}::STRUCT(x INT, y INT[]), true UNION ALL SELECT 2, NULL, "
        "0.5, NULL, NULL, NULL, NULL");
    ref_compare(f, "SELECT count(*), sum(id), max(s) FROM l.small", "SELECT 22, 2193, 'x119'");
    ref_compare(f, "SELECT count(*) FROM l.small AT (VERSION => 2)", "SELECT 2");
}

/* ------------------------------------------------------------------ concurrency */

typedef struct {
    fixture *f;
    int idx;
    int failures;
    char msg[1100];
} worker;

static void *append_worker(void *arg)
{
    worker *w = arg;
    duckdb_connection con;
    if (duckdb_connect(w->f->db, &con) != DuckDBSuccess) {
        w->failures = 20;
        return NULL;
    }
    for (int b = 0; b < 20; b++) {
        char src[256];
        int base = (w->idx * 20 + b) * 5;
        snprintf(src, sizeof src, "(SELECT range::VARCHAR AS id, %d AS w FROM range(%d, %d))",
                 w->idx, base, base + 5);
        dlb_err e = {0};
        int64_t n = 0, snap = 0;
        if (lake_append(w->f->l, con, "main", "c", src, &n, &snap, &e) != 0 || n != 5) {
            w->failures++;
            snprintf(w->msg, sizeof w->msg, "%d %s", e.status, e.detail);
        }
    }
    duckdb_disconnect(&con);
    return NULL;
}

/* Partitioned appends (digest §3.14, §7.10): one file per transformed key tuple under
 * k=<v>/year=<y>/, partition_id on each file, one file_partition_value row per key with the
 * raw (unescaped) value and SQL NULL for a NULL key, as the extension writes them. */
static void test_partitioned(void **state)
{
    fixture *f = *state;
    const lake_coldef cols[] = {{"id", "INTEGER"}, {"k", "VARCHAR"}, {"ts", "TIMESTAMP"}};
    const char *parts[] = {"k", "year(ts)"};
    create_ok(f, NULL, "p", cols, 3, NULL, parts, 2, 1);
    append_ok(f, "p",
              "(SELECT * FROM (VALUES (1, 'a', '2023-05-01 10:00:00'), (2, 'a', '2023-06-01'), "
              "(3, 'b', '2024-01-01'), (4, NULL, '2024-02-01'), (5, 'a/b c', NULL), "
              "(6, 'a', '2024-03-03')) v(id, k, ts))",
              6, 2);
    expect_q(f, "SELECT count(*) FROM ducklake_data_file", "5");
    expect_q(f,
             "SELECT count(*) FROM ducklake_data_file d JOIN ducklake_partition_info i ON "
             "i.partition_id = d.partition_id AND i.table_id = d.table_id AND "
             "i.end_snapshot IS NULL",
             "5");
    expect_q(f,
             "SELECT substr(d.path, 1, instr(d.path, 'ducklake-') - 1) || '|' || d.record_count "
             "|| '|' || coalesce(v0.partition_value, 'NULL') || '|' || "
             "coalesce(v1.partition_value, 'NULL') AS x FROM ducklake_data_file d "
             "LEFT JOIN ducklake_file_partition_value v0 ON v0.data_file_id = d.data_file_id AND "
             "v0.partition_key_index = 0 AND v0.table_id = 1 "
             "LEFT JOIN ducklake_file_partition_value v1 ON v1.data_file_id = d.data_file_id AND "
             "v1.partition_key_index = 1 AND v1.table_id = 1 ORDER BY x",
             "k=__HIVE_DEFAULT_PARTITION__/year=2024/|1|NULL|2024\n"
             "k=a%2Fb%20c/year=__HIVE_DEFAULT_PARTITION__/|1|a/b c|NULL\n"
             "k=a/year=2023/|2|a|2023\nk=a/year=2024/|1|a|2024\nk=b/year=2024/|1|b|2024");
    expect_q(f, "SELECT count(*) FROM ducklake_file_partition_value", "10");
    /* row ids: contiguous over the files, one snapshot, one change entry */
    expect_q(f, "SELECT sum(record_count) || ',' || min(row_id_start) FROM ducklake_data_file",
             "6,0");
    expect_q(f,
             "SELECT count(DISTINCT row_id_start) || ',' || max(row_id_start + record_count) "
             "FROM ducklake_data_file",
             "5,6");
    expect_q(f, "SELECT next_row_id || ',' || record_count FROM ducklake_table_stats", "6,6");
    expect_q(f, "SELECT changes_made FROM ducklake_snapshot_changes WHERE snapshot_id = 2",
             "inserted_into_table:1");
    /* per-file statistics, as for unpartitioned files */
    expect_q(f,
             "SELECT s.min_value || '-' || s.max_value FROM ducklake_file_column_stats s JOIN "
             "ducklake_data_file d ON d.data_file_id = s.data_file_id WHERE s.column_id = 1 AND "
             "d.path LIKE 'k=a/year=2023/%'",
             "1-2");
    /* the files are where the catalog says */
    char *paths = q(f, "SELECT path FROM ducklake_data_file ORDER BY path", ";");
    for (char *save = NULL, *p = strtok_r(paths, ";", &save); p; p = strtok_r(NULL, ";", &save)) {
        char full[512];
        snprintf(full, sizeof full, "%smain/p/%s", f->data, p);
        struct stat sb;
        if (stat(full, &sb) != 0) fail_msg("missing data file %s", full);
    }
    free(paths);
    /* a second append adds files to existing key directories, none elsewhere */
    append_ok(f, "p", "(SELECT 7 AS id, 'b' AS k, TIMESTAMP '2024-12-31 23:59:59' AS ts)", 1, 3);
    expect_q(f,
             "SELECT d.path LIKE 'k=b/year=2024/ducklake-%.parquet' FROM ducklake_data_file d "
             "WHERE begin_snapshot = 3",
             "1");
    if (!ref_bin()) {
        skip_msg("DLB_DUCKDB_REF unset: interop check skipped");
        return;
    }
    ref_compare(f, "SELECT id, k, ts FROM l.p ORDER BY id",
                "SELECT * FROM (VALUES (1, 'a', TIMESTAMP '2023-05-01 10:00:00'), "
                "(2, 'a', TIMESTAMP '2023-06-01'), (3, 'b', TIMESTAMP '2024-01-01'), "
                "(4, NULL, TIMESTAMP '2024-02-01'), (5, 'a/b c', NULL), "
                "(6, 'a', TIMESTAMP '2024-03-03'), (7, 'b', TIMESTAMP '2024-12-31 23:59:59'))");
    ref_compare(f, "SELECT count(*) FROM l.p WHERE year(ts) = 2024 AND k = 'a'", "SELECT 1");
}

static void test_concurrent_appends(void **state)
{
    fixture *f = *state;
    const lake_coldef cols[] = {{"id", "BIGINT"}, {"w", "INTEGER"}};
    create_ok(f, NULL, "c", cols, 2, NULL, NULL, 0, 1);
    pthread_t th[4];
    worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){.f = f, .idx = i};
        assert_int_equal(pthread_create(&th[i], NULL, append_worker, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++)
        if (w[i].failures) fail_msg("worker %d: %d failures, last %s", i, w[i].failures, w[i].msg);
    /* Snapshots dense 0..81, one file each, row ids disjoint and dense. */
    expect_q(f,
             "SELECT count(*) || ',' || min(snapshot_id) || ',' || max(snapshot_id) FROM "
             "ducklake_snapshot",
             "82,0,81");
    expect_q(f,
             "SELECT count(*) || ',' || count(DISTINCT row_id_start) || ',' || "
             "max(row_id_start) || ',' || sum(record_count) FROM ducklake_data_file",
             "80,80,395,400");
    expect_q(f,
             "SELECT group_concat(next_file_id) = group_concat(snapshot_id - 1) FROM "
             "(SELECT * FROM ducklake_snapshot WHERE snapshot_id > 0 ORDER BY snapshot_id)",
             "1");
    expect_q(f, "SELECT record_count || ',' || next_row_id FROM ducklake_table_stats", "400,400");
    expect_q(f,
             "SELECT min_value || ',' || max_value FROM ducklake_table_column_stats WHERE "
             "column_id = 1",
             "0,399");
    if (!ref_bin()) {
        skip_msg("DLB_DUCKDB_REF unset: interop check skipped");
        return;
    }
    ref_compare(f,
                "SELECT count(*), count(DISTINCT id), min(id), max(id), count(DISTINCT rowid) "
                "FROM l.c",
                "SELECT 400, 400, 0, 399, 400");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_types_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_row, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inlined, setup_inline, teardown),
        cmocka_unit_test_setup_teardown(test_partitioned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_appends, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
