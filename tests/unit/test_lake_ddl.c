/* DuckLake catalog DDL and bootstrap rows against what the official extension writes.
 * Expectations below were taken from an empty lake made by the reference DuckDB 1.5.5 +
 * ducklake extension (ATTACH 'ducklake:sqlite:...' (DATA_PATH ...); DETACH). When
 * DLB_DUCKDB_REF names that reference binary, the tests also compare live and let the
 * extension open and write a catalog we created. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <sqlite3.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lake/catalog_ddl.h"

/* PRAGMA table_info of each table as "name:type:notnull:pk,...", in sqlite_master order. */
static const struct {
    const char *table;
    const char *cols;
} expected[] = {
    {"ducklake_metadata",
     "key:VARCHAR:1:0,value:VARCHAR:1:0,scope:VARCHAR:0:0,scope_id:BIGINT:0:0"},
    {"ducklake_snapshot",
     "snapshot_id:BIGINT:0:1,snapshot_time:VARCHAR:0:0,schema_version:BIGINT:0:0,"
     "next_catalog_id:BIGINT:0:0,next_file_id:BIGINT:0:0"},
    {"ducklake_snapshot_changes",
     "snapshot_id:BIGINT:0:1,changes_made:VARCHAR:0:0,author:VARCHAR:0:0,"
     "commit_message:VARCHAR:0:0,commit_extra_info:VARCHAR:0:0"},
    {"ducklake_schema", "schema_id:BIGINT:0:1,schema_uuid:VARCHAR:0:0,begin_snapshot:BIGINT:0:0,"
                        "end_snapshot:BIGINT:0:0,schema_name:VARCHAR:0:0,path:VARCHAR:0:0,"
                        "path_is_relative:BIGINT:0:0"},
    {"ducklake_table",
     "table_id:BIGINT:0:0,table_uuid:VARCHAR:0:0,begin_snapshot:BIGINT:0:0,"
     "end_snapshot:BIGINT:0:0,schema_id:BIGINT:0:0,table_name:VARCHAR:0:0,path:VARCHAR:0:0,"
     "path_is_relative:BIGINT:0:0"},
    {"ducklake_view",
     "view_id:BIGINT:0:0,view_uuid:VARCHAR:0:0,begin_snapshot:BIGINT:0:0,"
     "end_snapshot:BIGINT:0:0,schema_id:BIGINT:0:0,view_name:VARCHAR:0:0,dialect:VARCHAR:0:0,"
     "sql:VARCHAR:0:0,column_aliases:VARCHAR:0:0"},
    {"ducklake_tag",
     "object_id:BIGINT:0:0,begin_snapshot:BIGINT:0:0,end_snapshot:BIGINT:0:0,key:VARCHAR:0:0,"
     "value:VARCHAR:0:0"},
    {"ducklake_column_tag", "table_id:BIGINT:0:0,column_id:BIGINT:0:0,begin_snapshot:BIGINT:0:0,"
                            "end_snapshot:BIGINT:0:0,key:VARCHAR:0:0,value:VARCHAR:0:0"},
    {"ducklake_data_file",
     "data_file_id:BIGINT:0:1,table_id:BIGINT:0:0,begin_snapshot:BIGINT:0:0,"
     "end_snapshot:BIGINT:0:0,file_order:BIGINT:0:0,path:VARCHAR:0:0,"
     "path_is_relative:BIGINT:0:0,file_format:VARCHAR:0:0,record_count:BIGINT:0:0,"
     "file_size_bytes:BIGINT:0:0,footer_size:BIGINT:0:0,row_id_start:BIGINT:0:0,"
     "partition_id:BIGINT:0:0,encryption_key:VARCHAR:0:0,mapping_id:BIGINT:0:0,"
     "partial_max:BIGINT:0:0"},
    {"ducklake_file_column_stats",
     "data_file_id:BIGINT:0:0,table_id:BIGINT:0:0,column_id:BIGINT:0:0,"
     "column_size_bytes:BIGINT:0:0,value_count:BIGINT:0:0,null_count:BIGINT:0:0,"
     "min_value:VARCHAR:0:0,max_value:VARCHAR:0:0,contains_nan:BIGINT:0:0,"
     "extra_stats:VARCHAR:0:0"},
    {"ducklake_file_variant_stats",
     "data_file_id:BIGINT:0:0,table_id:BIGINT:0:0,column_id:BIGINT:0:0,"
     "variant_path:VARCHAR:0:0,shredded_type:VARCHAR:0:0,column_size_bytes:BIGINT:0:0,"
     "value_count:BIGINT:0:0,null_count:BIGINT:0:0,min_value:VARCHAR:0:0,"
     "max_value:VARCHAR:0:0,contains_nan:BIGINT:0:0,extra_stats:VARCHAR:0:0"},
    {"ducklake_delete_file",
     "delete_file_id:BIGINT:0:1,table_id:BIGINT:0:0,begin_snapshot:BIGINT:0:0,"
     "end_snapshot:BIGINT:0:0,data_file_id:BIGINT:0:0,path:VARCHAR:0:0,"
     "path_is_relative:BIGINT:0:0,format:VARCHAR:0:0,delete_count:BIGINT:0:0,"
     "file_size_bytes:BIGINT:0:0,footer_size:BIGINT:0:0,encryption_key:VARCHAR:0:0,"
     "partial_max:BIGINT:0:0"},
    {"ducklake_column",
     "column_id:BIGINT:0:0,begin_snapshot:BIGINT:0:0,end_snapshot:BIGINT:0:0,"
     "table_id:BIGINT:0:0,column_order:BIGINT:0:0,column_name:VARCHAR:0:0,"
     "column_type:VARCHAR:0:0,initial_default:VARCHAR:0:0,default_value:VARCHAR:0:0,"
     "nulls_allowed:BIGINT:0:0,parent_column:BIGINT:0:0,default_value_type:VARCHAR:0:0,"
     "default_value_dialect:VARCHAR:0:0"},
    {"ducklake_table_stats", "table_id:BIGINT:0:0,record_count:BIGINT:0:0,next_row_id:BIGINT:0:0,"
                             "file_size_bytes:BIGINT:0:0"},
    {"ducklake_table_column_stats",
     "table_id:BIGINT:0:0,column_id:BIGINT:0:0,contains_null:BIGINT:0:0,"
     "contains_nan:BIGINT:0:0,min_value:VARCHAR:0:0,max_value:VARCHAR:0:0,"
     "extra_stats:VARCHAR:0:0"},
    {"ducklake_partition_info",
     "partition_id:BIGINT:0:0,table_id:BIGINT:0:0,begin_snapshot:BIGINT:0:0,"
     "end_snapshot:BIGINT:0:0"},
    {"ducklake_partition_column",
     "partition_id:BIGINT:0:0,table_id:BIGINT:0:0,partition_key_index:BIGINT:0:0,"
     "column_id:BIGINT:0:0,transform:VARCHAR:0:0"},
    {"ducklake_file_partition_value",
     "data_file_id:BIGINT:0:0,table_id:BIGINT:0:0,partition_key_index:BIGINT:0:0,"
     "partition_value:VARCHAR:0:0"},
    {"ducklake_files_scheduled_for_deletion",
     "data_file_id:BIGINT:0:0,path:VARCHAR:0:0,path_is_relative:BIGINT:0:0,"
     "schedule_start:VARCHAR:0:0"},
    {"ducklake_inlined_data_tables",
     "table_id:BIGINT:0:0,table_name:VARCHAR:0:0,schema_version:BIGINT:0:0"},
    {"ducklake_column_mapping", "mapping_id:BIGINT:0:0,table_id:BIGINT:0:0,type:VARCHAR:0:0"},
    {"ducklake_name_mapping",
     "mapping_id:BIGINT:0:0,column_id:BIGINT:0:0,source_name:VARCHAR:0:0,"
     "target_field_id:BIGINT:0:0,parent_column:BIGINT:0:0,is_partition:BIGINT:0:0"},
    {"ducklake_schema_versions",
     "begin_snapshot:BIGINT:0:0,schema_version:BIGINT:0:0,table_id:BIGINT:0:0"},
    {"ducklake_macro", "schema_id:BIGINT:0:0,macro_id:BIGINT:0:0,macro_name:VARCHAR:0:0,"
                       "begin_snapshot:BIGINT:0:0,end_snapshot:BIGINT:0:0"},
    {"ducklake_macro_impl",
     "macro_id:BIGINT:0:0,impl_id:BIGINT:0:0,dialect:VARCHAR:0:0,sql:VARCHAR:0:0,"
     "type:VARCHAR:0:0"},
    {"ducklake_macro_parameters",
     "macro_id:BIGINT:0:0,impl_id:BIGINT:0:0,column_id:BIGINT:0:0,"
     "parameter_name:VARCHAR:0:0,parameter_type:VARCHAR:0:0,default_value:VARCHAR:0:0,"
     "default_value_type:VARCHAR:0:0"},
    {"ducklake_sort_info", "sort_id:BIGINT:0:0,table_id:BIGINT:0:0,begin_snapshot:BIGINT:0:0,"
                           "end_snapshot:BIGINT:0:0"},
    {"ducklake_sort_expression",
     "sort_id:BIGINT:0:0,table_id:BIGINT:0:0,sort_key_index:BIGINT:0:0,"
     "expression:VARCHAR:0:0,dialect:VARCHAR:0:0,sort_direction:VARCHAR:0:0,"
     "null_order:VARCHAR:0:0"},
};
#define NEXPECTED ((int)(sizeof expected / sizeof expected[0]))

/* The only indexes: SQLite's automatic ones for the five primary keys. */
static const char *expected_indexes = "sqlite_autoindex_ducklake_data_file_1,"
                                      "sqlite_autoindex_ducklake_delete_file_1,"
                                      "sqlite_autoindex_ducklake_schema_1,"
                                      "sqlite_autoindex_ducklake_snapshot_1,"
                                      "sqlite_autoindex_ducklake_snapshot_changes_1";

#define UUID_MAIN "24ce8b44-01af-4bcd-8d3b-ea2e6d95df00"

typedef struct {
    char dir[64];
    char db[128];
    char data[128];
} fixture;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/dlb-lake-ddl-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->db, sizeof f->db, "%s/cat.sqlite", f->dir);
    snprintf(f->data, sizeof f->data, "%s/data/", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void exec_stmt(sqlite3 *db, const lake_stmt *s)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, s->sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_bind_parameter_count(st), s->nparams);
    for (int i = 0; i < s->nparams; i++) {
        const meta_val *v = &s->params[i];
        switch (v->type) {
        case MV_INT:
            sqlite3_bind_int64(st, i + 1, v->i);
            break;
        case MV_TEXT:
            sqlite3_bind_text(st, i + 1, v->s, -1, SQLITE_STATIC);
            break;
        case MV_NULL:
            sqlite3_bind_null(st, i + 1);
            break;
        default:
            fail_msg("unexpected parameter type %d", (int)v->type);
        }
    }
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
}

/* Creates a catalog the way the server will: DDL and rows in one transaction. */
static void create_catalog(const char *path, const char *data_path, int inlining_row_limit)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char ts[LAKE_TS_LEN];
    lake_catalog_timestamp(1764188419646673LL, ts);
    lake_init_params p = {.data_path = data_path,
                          .schema_uuid = UUID_MAIN,
                          .snapshot_time = ts,
                          .created_by = "ducklake-backend test",
                          .encrypted = 0,
                          .inlining_row_limit = inlining_row_limit};
    lake_stmt st[LAKE_INIT_MAX_STMTS];
    int n = lake_catalog_init_statements(0, &p, st, LAKE_INIT_MAX_STMTS);
    assert_true(n > 0);
    char *err = NULL;
    assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    if (sqlite3_exec(db, lake_catalog_ddl(0), NULL, NULL, &err) != SQLITE_OK)
        fail_msg("DDL failed: %s", err ? err : "?");
    for (int i = 0; i < n; i++)
        exec_stmt(db, &st[i]);
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* Concatenates column 0 of every row, separated by sep; caller frees. */
static char *query_join(sqlite3 *db, const char *sql, const char *sep)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    size_t cap = 8192, len = 0;
    char *out = calloc(1, cap);
    assert_non_null(out);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        if (!v) v = "<NULL>";
        size_t need = len + strlen(v) + strlen(sep) + 1;
        if (need > cap) {
            cap = need * 2;
            char *grown = realloc(out, cap);
            assert_non_null(grown);
            out = grown;
        }
        len += (size_t)sprintf(out + len, "%s%s", len ? sep : "", v);
    }
    sqlite3_finalize(st);
    return out;
}

static char *table_info(sqlite3 *db, const char *table)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT name || ':' || type || ':' || \"notnull\" || ':' || pk "
             "FROM pragma_table_info('%s') ORDER BY cid",
             table);
    return query_join(db, sql, ",");
}

static sqlite3 *open_ro(const char *path)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    return db;
}

static void test_ddl_matches_extension(void **state)
{
    fixture *f = *state;
    create_catalog(f->db, f->data, -1);
    sqlite3 *db = open_ro(f->db);

    char *tables =
        query_join(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY rowid", ",");
    char want[2048] = "";
    for (int i = 0; i < NEXPECTED; i++) {
        if (i) strcat(want, ",");
        strcat(want, expected[i].table);
    }
    assert_string_equal(tables, want);
    assert_int_equal(NEXPECTED, LAKE_CATALOG_TABLES);
    free(tables);

    for (int i = 0; i < NEXPECTED; i++) {
        char *got = table_info(db, expected[i].table);
        if (strcmp(got, expected[i].cols) != 0)
            fail_msg("%s:\n got  %s\n want %s", expected[i].table, got, expected[i].cols);
        free(got);
    }
    char *idx =
        query_join(db, "SELECT name FROM sqlite_master WHERE type = 'index' ORDER BY name", ",");
    assert_string_equal(idx, expected_indexes);
    free(idx);
    char *other =
        query_join(db, "SELECT name FROM sqlite_master WHERE type NOT IN ('table', 'index')", ",");
    assert_string_equal(other, "");
    free(other);
    sqlite3_close(db);
}

static void test_initial_rows(void **state)
{
    fixture *f = *state;
    create_catalog(f->db, f->data, -1);
    sqlite3 *db = open_ro(f->db);

    /* Storage classes matter as much as values: DuckDB's SQLite scanner rejects a TEXT value in
     * a BIGINT column and the other way round. */
    char *md =
        query_join(db,
                   "SELECT \"key\" || '=' || \"value\" || '|' || typeof(\"value\") || '|' || "
                   "typeof(\"scope\") || '|' || typeof(scope_id) "
                   "FROM ducklake_metadata ORDER BY rowid",
                   ";");
    char want[512];
    snprintf(want, sizeof want,
             "version=1.0|text|null|null;created_by=ducklake-backend test|text|null|null;"
             "data_path=%s|text|null|null;encrypted=false|text|null|null",
             f->data);
    assert_string_equal(md, want);
    free(md);

    char *snap =
        query_join(db,
                   "SELECT snapshot_id || ',' || snapshot_time || ',' || schema_version || "
                   "',' || next_catalog_id || ',' || next_file_id || ',' || "
                   "typeof(snapshot_id) || typeof(snapshot_time) || typeof(next_file_id) "
                   "FROM ducklake_snapshot",
                   ";");
    assert_string_equal(snap, "0,2025-11-26 20:20:19.646673+00,0,1,0,integertextinteger");
    free(snap);

    char *ch = query_join(db,
                          "SELECT snapshot_id || ',' || changes_made || ',' || "
                          "typeof(author) || typeof(commit_message) || typeof(commit_extra_info) "
                          "FROM ducklake_snapshot_changes",
                          ";");
    assert_string_equal(ch, "0,created_schema:\"main\",nullnullnull");
    free(ch);

    char *sc =
        query_join(db,
                   "SELECT schema_id || ',' || schema_uuid || ',' || begin_snapshot || ',' || "
                   "typeof(end_snapshot) || ',' || schema_name || ',' || path || ',' || "
                   "path_is_relative || typeof(path_is_relative) FROM ducklake_schema",
                   ";");
    assert_string_equal(sc, "0," UUID_MAIN ",0,null,main,main/,1integer");
    free(sc);

    /* Everything else starts empty. */
    for (int i = 0; i < NEXPECTED; i++) {
        const char *t = expected[i].table;
        if (!strcmp(t, "ducklake_metadata") || !strcmp(t, "ducklake_snapshot") ||
            !strcmp(t, "ducklake_snapshot_changes") || !strcmp(t, "ducklake_schema"))
            continue;
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", t);
        char *c = query_join(db, sql, "");
        if (strcmp(c, "0") != 0) fail_msg("%s has %s rows", t, c);
        free(c);
    }
    sqlite3_close(db);
}

static void test_inlining_option_row(void **state)
{
    fixture *f = *state;
    create_catalog(f->db, f->data, 0);
    sqlite3 *db = open_ro(f->db);
    char *md = query_join(db,
                          "SELECT \"value\" || typeof(\"value\") || typeof(\"scope\") FROM "
                          "ducklake_metadata WHERE \"key\" = 'data_inlining_row_limit'",
                          ";");
    assert_string_equal(md, "0textnull");
    free(md);
    sqlite3_close(db);
}

/* The PostgreSQL script is the SQLite one with the three logical types kept native. */
static void test_postgres_ddl(void **state)
{
    (void)state;
    const char *pg = lake_catalog_ddl(1);
    const char *lite = lake_catalog_ddl(0);
    assert_ptr_not_equal(pg, lite);
    struct {
        const char *from, *to;
        int count;
    } map[] = {
        {" BOOLEAN", " BIGINT", 11}, {" UUID", " VARCHAR", 3}, {" TIMESTAMPTZ", " VARCHAR", 2}};
    char *s = strdup(pg);
    assert_non_null(s);
    for (size_t m = 0; m < sizeof map / sizeof map[0]; m++) {
        int count = 0;
        char *p;
        while ((p = strstr(s, map[m].from)) != NULL) {
            size_t fl = strlen(map[m].from), tl = strlen(map[m].to);
            memmove(p + tl, p + fl, strlen(p + fl) + 1);
            memcpy(p, map[m].to, tl);
            count++;
        }
        assert_int_equal(count, map[m].count);
    }
    assert_string_equal(s, lite);
    free(s);
    assert_null(strstr(pg, "CREATE SCHEMA"));
    assert_null(strstr(pg, "public."));

    char ts[LAKE_TS_LEN];
    lake_catalog_timestamp(0, ts);
    lake_init_params p = {.data_path = "s3://b/lake/",
                          .schema_uuid = UUID_MAIN,
                          .snapshot_time = ts,
                          .encrypted = 1,
                          .inlining_row_limit = -1};
    lake_stmt st[LAKE_INIT_MAX_STMTS];
    int n = lake_catalog_init_statements(1, &p, st, LAKE_INIT_MAX_STMTS);
    assert_int_equal(n, 7);
    assert_non_null(strstr(st[0].sql, "CAST(? AS TIMESTAMPTZ)"));
    assert_non_null(strstr(st[6].sql, "CAST(? AS UUID)"));
    assert_non_null(strstr(st[6].sql, "TRUE"));
    assert_string_equal(st[3].params[1].s, "ducklake-backend");
    assert_string_equal(st[5].params[1].s, "true");
}

static void test_init_rejects_bad_input(void **state)
{
    (void)state;
    lake_stmt st[LAKE_INIT_MAX_STMTS];
    lake_init_params ok = {.data_path = "/d/",
                           .schema_uuid = UUID_MAIN,
                           .snapshot_time = "1970-01-01 00:00:00+00",
                           .inlining_row_limit = -1};
    assert_int_equal(lake_catalog_init_statements(0, &ok, st, LAKE_INIT_MAX_STMTS), 7);
    assert_int_equal(lake_catalog_init_statements(0, &ok, st, 3), -1);
    lake_init_params p = ok;
    p.data_path = "/d";
    assert_int_equal(lake_catalog_init_statements(0, &p, st, LAKE_INIT_MAX_STMTS), -1);
    p = ok;
    p.data_path = "";
    assert_int_equal(lake_catalog_init_statements(0, &p, st, LAKE_INIT_MAX_STMTS), -1);
    p = ok;
    p.schema_uuid = "not-a-uuid";
    assert_int_equal(lake_catalog_init_statements(0, &p, st, LAKE_INIT_MAX_STMTS), -1);
    p = ok;
    p.snapshot_time = NULL;
    assert_int_equal(lake_catalog_init_statements(0, &p, st, LAKE_INIT_MAX_STMTS), -1);
    /* A hostile path is only ever bound, never part of the SQL text. */
    p = ok;
    p.data_path = "/x'); DROP TABLE ducklake_schema; --/";
    int n = lake_catalog_init_statements(0, &p, st, LAKE_INIT_MAX_STMTS);
    assert_int_equal(n, 7);
    for (int i = 0; i < n; i++)
        assert_null(strstr(st[i].sql, "DROP"));
}

static void test_timestamp_text(void **state)
{
    (void)state;
    char ts[LAKE_TS_LEN];
    lake_catalog_timestamp(0, ts);
    assert_string_equal(ts, "1970-01-01 00:00:00+00");
    lake_catalog_timestamp(1704067200500000LL, ts);
    assert_string_equal(ts, "2024-01-01 00:00:00.5+00");
    lake_catalog_timestamp(1704067200123456LL, ts);
    assert_string_equal(ts, "2024-01-01 00:00:00.123456+00");
    lake_catalog_timestamp(1704067200000010LL, ts);
    assert_string_equal(ts, "2024-01-01 00:00:00.00001+00");
    lake_catalog_timestamp(-1, ts);
    assert_string_equal(ts, "1969-12-31 23:59:59.999999+00");
}

static void test_data_path_store(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(lake_data_path_store("/tmp/x/data", out, sizeof out), 0);
    assert_string_equal(out, "/tmp/x/data/");
    assert_int_equal(lake_data_path_store("/tmp/x/data//", out, sizeof out), 0);
    assert_string_equal(out, "/tmp/x/data/");
    assert_int_equal(lake_data_path_store("s3://b/lake\\", out, sizeof out), 0);
    assert_string_equal(out, "s3://b/lake/");
    assert_int_equal(lake_data_path_store("reldata", out, sizeof out), 0);
    assert_string_equal(out, "reldata/");
    assert_int_equal(lake_data_path_store("", out, sizeof out), -1);
    assert_int_equal(lake_data_path_store("/abc", out, 5), -1);
    assert_int_equal(lake_data_path_store("/abc", out, 6), 0);
}

/* ---- live checks against the reference DuckDB + ducklake extension ---- */

static const char *reference_binary(void)
{
    const char *ref = getenv("DLB_DUCKDB_REF");
    if (!ref || !*ref || access(ref, X_OK) != 0) return NULL;
    return ref;
}

/* Runs the reference CLI on sql; returns its exit status, output in out. */
static int run_reference(const char *ref, const char *sql, char *out, size_t outlen)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' -csv -noheader -c \"%s\" 2>&1", ref, sql);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, outlen - 1, p);
    out[n] = '\0';
    return pclose(p);
}

static void test_live_same_schema_as_extension(void **state)
{
    fixture *f = *state;
    const char *ref = reference_binary();
    if (!ref) {
        print_message("skipped: set DLB_DUCKDB_REF to the reference duckdb-ref binary "
                      "(shared/tools/ducklake-reference/duckdb-ref) for the live check\n");
        skip();
    }
    char refdb[160], sql[1024], out[8192];
    snprintf(refdb, sizeof refdb, "%s/ref.sqlite", f->dir);
    snprintf(sql, sizeof sql,
             "ATTACH 'ducklake:sqlite:%s' AS l (DATA_PATH '%s/refdata'); DETACH l;", refdb, f->dir);
    int rc = run_reference(ref, sql, out, sizeof out);
    if (rc != 0) fail_msg("reference failed to create a lake (%d): %s", rc, out);
    create_catalog(f->db, f->data, -1);

    sqlite3 *a = open_ro(f->db), *b = open_ro(refdb);
    /* Same objects, same CREATE text, byte for byte. */
    const char *q = "SELECT type || ' ' || name || ': ' || coalesce(sql, '') FROM sqlite_master "
                    "ORDER BY rowid";
    char *ours = query_join(a, q, "\n"), *theirs = query_join(b, q, "\n");
    assert_string_equal(ours, theirs);
    free(ours);
    free(theirs);
    for (int i = 0; i < NEXPECTED; i++) {
        char *x = table_info(a, expected[i].table), *y = table_info(b, expected[i].table);
        assert_string_equal(x, y);
        free(x);
        free(y);
    }
    /* Same rows, apart from what is meant to differ (time, uuid, tool, path). */
    const char *rows[] = {
        "SELECT \"key\" || '|' || typeof(\"value\") || typeof(\"scope\") || typeof(scope_id) || "
        "'|' "
        "|| CASE WHEN \"key\" IN ('created_by', 'data_path') THEN '' ELSE \"value\" END "
        "FROM ducklake_metadata ORDER BY rowid",
        "SELECT snapshot_id || ',' || schema_version || ',' || next_catalog_id || ',' || "
        "next_file_id || typeof(snapshot_time) FROM ducklake_snapshot",
        "SELECT snapshot_id || ',' || changes_made || typeof(author) || typeof(commit_message) || "
        "typeof(commit_extra_info) FROM ducklake_snapshot_changes",
        "SELECT schema_id || ',' || length(schema_uuid) || typeof(schema_uuid) || ',' || "
        "begin_snapshot || typeof(end_snapshot) || schema_name || path || path_is_relative || "
        "typeof(path_is_relative) FROM ducklake_schema",
        "SELECT snapshot_time LIKE '____-__-__ __:__:__%+00' FROM ducklake_snapshot",
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char *x = query_join(a, rows[i], ";"), *y = query_join(b, rows[i], ";");
        assert_string_equal(x, y);
        free(x);
        free(y);
    }
    sqlite3_close(a);
    sqlite3_close(b);
}

static void test_live_extension_opens_our_catalog(void **state)
{
    fixture *f = *state;
    const char *ref = reference_binary();
    if (!ref) {
        print_message("skipped: set DLB_DUCKDB_REF to the reference duckdb-ref binary "
                      "(shared/tools/ducklake-reference/duckdb-ref) for the live check\n");
        skip();
    }
    create_catalog(f->db, f->data, -1);
    char sql[1024], out[8192];
    snprintf(sql, sizeof sql,
             "ATTACH 'ducklake:sqlite:%s' AS l (DATA_PATH '%s'); "
             "CREATE TABLE l.t(a INT); INSERT INTO l.t VALUES (1); "
             "SELECT 'row' || a FROM l.t; SELECT count(*) FROM l.snapshots();",
             f->db, f->data);
    int rc = run_reference(ref, sql, out, sizeof out);
    if (rc != 0) fail_msg("reference could not use our catalog (%d): %s", rc, out);
    assert_non_null(strstr(out, "row1\n"));
    assert_non_null(strstr(out, "\n3\n"));

    /* Its commits continued our counters: table 1 in schema 0, snapshots 1 and 2. */
    sqlite3 *db = open_ro(f->db);
    char *t = query_join(
        db, "SELECT table_id || ',' || schema_id || ',' || path FROM ducklake_table", ";");
    assert_string_equal(t, "1,0,t/");
    free(t);
    char *s = query_join(db, "SELECT max(snapshot_id) FROM ducklake_snapshot", "");
    assert_string_equal(s, "2");
    free(s);
    sqlite3_close(db);
}

/* With data_inlining_row_limit '0' stored, the extension writes even one row as Parquet. */
static void test_live_inlining_off(void **state)
{
    fixture *f = *state;
    const char *ref = reference_binary();
    if (!ref) {
        print_message("skipped: set DLB_DUCKDB_REF to the reference duckdb-ref binary "
                      "(shared/tools/ducklake-reference/duckdb-ref) for the live check\n");
        skip();
    }
    create_catalog(f->db, f->data, 0);
    char sql[1024], out[8192];
    snprintf(sql, sizeof sql,
             "ATTACH 'ducklake:sqlite:%s' AS l (DATA_PATH '%s'); "
             "CREATE TABLE l.t(a INT); INSERT INTO l.t VALUES (7); SELECT 'row' || a FROM l.t;",
             f->db, f->data);
    int rc = run_reference(ref, sql, out, sizeof out);
    if (rc != 0) fail_msg("reference could not use our catalog (%d): %s", rc, out);
    assert_non_null(strstr(out, "row7\n"));
    sqlite3 *db = open_ro(f->db);
    char *d =
        query_join(db,
                   "SELECT count(*) || ',' || (SELECT count(*) FROM sqlite_master WHERE name "
                   "LIKE 'ducklake_inlined_data_%' AND name <> 'ducklake_inlined_data_tables') "
                   "FROM ducklake_data_file",
                   "");
    assert_string_equal(d, "1,0");
    free(d);
    sqlite3_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ddl_matches_extension, setup, teardown),
        cmocka_unit_test_setup_teardown(test_initial_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inlining_option_row, setup, teardown),
        cmocka_unit_test(test_postgres_ddl),
        cmocka_unit_test(test_init_rejects_bad_input),
        cmocka_unit_test(test_timestamp_text),
        cmocka_unit_test(test_data_path_store),
        cmocka_unit_test_setup_teardown(test_live_same_schema_as_extension, setup, teardown),
        cmocka_unit_test_setup_teardown(test_live_extension_opens_our_catalog, setup, teardown),
        cmocka_unit_test_setup_teardown(test_live_inlining_off, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
