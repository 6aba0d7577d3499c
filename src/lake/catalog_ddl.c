/* DuckLake 1.0 catalog DDL and bootstrap rows (spec digest §2, §3.1-3.4). The reference is what
 * the official extension (DuckDB 1.5.5, ducklake v1.5-variegata) leaves in a new catalog;
 * tests/unit/test_lake_ddl.c compares against it column by column. */
#include "lake/catalog_ddl.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* The extension issues one DuckDB-typed DDL (InitializeDuckLake) and the scanner of each backend
 * turns the types into physical ones (§2.2, §2.3). We write the physical form directly, from one
 * text, so the two backends cannot drift apart:
 *   BOOL  BOOLEAN     -> SQLite BIGINT (0/1),  PostgreSQL boolean
 *   UUID  UUID        -> SQLite VARCHAR,       PostgreSQL uuid
 *   TSTZ  TIMESTAMPTZ -> SQLite VARCHAR (text, see lake_catalog_timestamp), PostgreSQL timestamptz
 * The SQLite text is byte for byte what sqlite_scanner stores in sqlite_master, keyword
 * identifiers double-quoted included. No declared type may be TIMESTAMPTZ/UUID/BOOLEAN in
 * SQLite: DuckDB's scanner would read them back with other types and reject the values.
 * Primary keys: exactly these five tables; every other table is versioned (several rows per id)
 * or keyed by nothing. No other index or constraint exists, apart from the two NOT NULLs. */
#define LAKE_DDL(BOOL, UUID, TSTZ)                                                                 \
    "CREATE TABLE ducklake_metadata(\"key\" VARCHAR NOT NULL, \"value\" VARCHAR NOT NULL, "        \
    "\"scope\" VARCHAR, scope_id BIGINT);\n"                                                       \
    "CREATE TABLE ducklake_snapshot(snapshot_id BIGINT PRIMARY KEY, snapshot_time " TSTZ           \
    ", schema_version BIGINT, next_catalog_id BIGINT, next_file_id BIGINT);\n"                     \
    "CREATE TABLE ducklake_snapshot_changes(snapshot_id BIGINT PRIMARY KEY, changes_made "         \
    "VARCHAR, author VARCHAR, commit_message VARCHAR, commit_extra_info VARCHAR);\n"               \
    "CREATE TABLE ducklake_schema(schema_id BIGINT PRIMARY KEY, schema_uuid " UUID                 \
    ", begin_snapshot BIGINT, end_snapshot BIGINT, schema_name VARCHAR, path VARCHAR, "            \
    "path_is_relative " BOOL ");\n"                                                                \
    "CREATE TABLE ducklake_table(table_id BIGINT, table_uuid " UUID                                \
    ", begin_snapshot BIGINT, end_snapshot BIGINT, schema_id BIGINT, table_name VARCHAR, path "    \
    "VARCHAR, path_is_relative " BOOL ");\n"                                                       \
    "CREATE TABLE ducklake_view(view_id BIGINT, view_uuid " UUID                                   \
    ", begin_snapshot BIGINT, end_snapshot BIGINT, schema_id BIGINT, view_name VARCHAR, dialect "  \
    "VARCHAR, \"sql\" VARCHAR, column_aliases VARCHAR);\n"                                         \
    "CREATE TABLE ducklake_tag(object_id BIGINT, begin_snapshot BIGINT, end_snapshot BIGINT, "     \
    "\"key\" VARCHAR, \"value\" VARCHAR);\n"                                                       \
    "CREATE TABLE ducklake_column_tag(table_id BIGINT, column_id BIGINT, begin_snapshot BIGINT, "  \
    "end_snapshot BIGINT, \"key\" VARCHAR, \"value\" VARCHAR);\n"                                  \
    "CREATE TABLE ducklake_data_file(data_file_id BIGINT PRIMARY KEY, table_id BIGINT, "           \
    "begin_snapshot BIGINT, end_snapshot BIGINT, file_order BIGINT, path VARCHAR, "                \
    "path_is_relative " BOOL ", file_format VARCHAR, record_count BIGINT, file_size_bytes "        \
    "BIGINT, footer_size BIGINT, row_id_start BIGINT, partition_id BIGINT, encryption_key "        \
    "VARCHAR, mapping_id BIGINT, partial_max BIGINT);\n"                                           \
    "CREATE TABLE ducklake_file_column_stats(data_file_id BIGINT, table_id BIGINT, column_id "     \
    "BIGINT, column_size_bytes BIGINT, value_count BIGINT, null_count BIGINT, min_value VARCHAR, " \
    "max_value VARCHAR, contains_nan " BOOL ", extra_stats VARCHAR);\n"                            \
    "CREATE TABLE ducklake_file_variant_stats(data_file_id BIGINT, table_id BIGINT, column_id "    \
    "BIGINT, variant_path VARCHAR, shredded_type VARCHAR, column_size_bytes BIGINT, value_count "  \
    "BIGINT, null_count BIGINT, min_value VARCHAR, max_value VARCHAR, contains_nan " BOOL          \
    ", extra_stats VARCHAR);\n"                                                                    \
    "CREATE TABLE ducklake_delete_file(delete_file_id BIGINT PRIMARY KEY, table_id BIGINT, "       \
    "begin_snapshot BIGINT, end_snapshot BIGINT, data_file_id BIGINT, path VARCHAR, "              \
    "path_is_relative " BOOL ", format VARCHAR, delete_count BIGINT, file_size_bytes BIGINT, "     \
    "footer_size BIGINT, encryption_key VARCHAR, partial_max BIGINT);\n"                           \
    "CREATE TABLE ducklake_column(column_id BIGINT, begin_snapshot BIGINT, end_snapshot BIGINT, "  \
    "table_id BIGINT, column_order BIGINT, column_name VARCHAR, column_type VARCHAR, "             \
    "initial_default VARCHAR, default_value VARCHAR, nulls_allowed " BOOL                          \
    ", parent_column BIGINT, default_value_type VARCHAR, default_value_dialect VARCHAR);\n"        \
    "CREATE TABLE ducklake_table_stats(table_id BIGINT, record_count BIGINT, next_row_id BIGINT, " \
    "file_size_bytes BIGINT);\n"                                                                   \
    "CREATE TABLE ducklake_table_column_stats(table_id BIGINT, column_id BIGINT, "                 \
    "contains_null " BOOL ", contains_nan " BOOL                                                   \
    ", min_value VARCHAR, max_value VARCHAR, extra_stats VARCHAR);\n"                              \
    "CREATE TABLE ducklake_partition_info(partition_id BIGINT, table_id BIGINT, begin_snapshot "   \
    "BIGINT, end_snapshot BIGINT);\n"                                                              \
    "CREATE TABLE ducklake_partition_column(partition_id BIGINT, table_id BIGINT, "                \
    "partition_key_index BIGINT, column_id BIGINT, \"transform\" VARCHAR);\n"                      \
    "CREATE TABLE ducklake_file_partition_value(data_file_id BIGINT, table_id BIGINT, "            \
    "partition_key_index BIGINT, partition_value VARCHAR);\n"                                      \
    "CREATE TABLE ducklake_files_scheduled_for_deletion(data_file_id BIGINT, path VARCHAR, "       \
    "path_is_relative " BOOL ", schedule_start " TSTZ ");\n"                                       \
    "CREATE TABLE ducklake_inlined_data_tables(table_id BIGINT, table_name VARCHAR, "              \
    "schema_version BIGINT);\n"                                                                    \
    "CREATE TABLE ducklake_column_mapping(mapping_id BIGINT, table_id BIGINT, \"type\" "           \
    "VARCHAR);\n"                                                                                  \
    "CREATE TABLE ducklake_name_mapping(mapping_id BIGINT, column_id BIGINT, source_name "         \
    "VARCHAR, target_field_id BIGINT, parent_column BIGINT, is_partition " BOOL ");\n"             \
    "CREATE TABLE ducklake_schema_versions(begin_snapshot BIGINT, schema_version BIGINT, "         \
    "table_id BIGINT);\n"                                                                          \
    "CREATE TABLE ducklake_macro(schema_id BIGINT, macro_id BIGINT, macro_name VARCHAR, "          \
    "begin_snapshot BIGINT, end_snapshot BIGINT);\n"                                               \
    "CREATE TABLE ducklake_macro_impl(macro_id BIGINT, impl_id BIGINT, dialect VARCHAR, \"sql\" "  \
    "VARCHAR, \"type\" VARCHAR);\n"                                                                \
    "CREATE TABLE ducklake_macro_parameters(macro_id BIGINT, impl_id BIGINT, column_id BIGINT, "   \
    "parameter_name VARCHAR, parameter_type VARCHAR, default_value VARCHAR, default_value_type "   \
    "VARCHAR);\n"                                                                                  \
    "CREATE TABLE ducklake_sort_info(sort_id BIGINT, table_id BIGINT, begin_snapshot BIGINT, "     \
    "end_snapshot BIGINT);\n"                                                                      \
    "CREATE TABLE ducklake_sort_expression(sort_id BIGINT, table_id BIGINT, sort_key_index "       \
    "BIGINT, expression VARCHAR, dialect VARCHAR, sort_direction VARCHAR, null_order VARCHAR);\n"

static const char ddl_sqlite[] = LAKE_DDL("BIGINT", "VARCHAR", "VARCHAR");
static const char ddl_postgres[] = LAKE_DDL("BOOLEAN", "UUID", "TIMESTAMPTZ");

const char *lake_catalog_ddl(int postgres)
{
    return postgres ? ddl_postgres : ddl_sqlite;
}

static int uuid_text_ok(const char *s)
{
    if (!s || strlen(s) != 36) return 0;
    for (int i = 0; i < 36; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        char c = s[i];
        int hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        if (dash ? c != '-' : !hex) return 0;
    }
    return 1;
}

static lake_stmt *add(lake_stmt *out, int *n, const char *sql)
{
    lake_stmt *s = &out[(*n)++];
    memset(s, 0, sizeof *s);
    s->sql = sql;
    return s;
}

static void bind_text(lake_stmt *s, const char *v)
{
    s->params[s->nparams].type = MV_TEXT;
    s->params[s->nparams++].s = v;
}

/* The extension writes these rows in one transaction with the DDL (InitializeDuckLake):
 * snapshot 0 (schema_version 0, next_catalog_id 1 because schema 'main' took id 0,
 * next_file_id 0), its change string, four metadata keys, then schema 'main' (id 0, path
 * 'main/' relative to data_path). Fixed format constants stay literals; everything that comes
 * from outside (path, uuid, time, tool name) is bound.
 * PostgreSQL gets explicit casts so the statements work whatever parameter types the driver
 * declares; SQLite must not get them (CAST AS TIMESTAMPTZ has INTEGER affinity there). */
int lake_catalog_init_statements(int postgres, const lake_init_params *p, lake_stmt *out, int max)
{
    if (!p || !out || max < LAKE_INIT_MAX_STMTS) return -1;
    size_t dl = p->data_path ? strlen(p->data_path) : 0;
    if (dl == 0 || p->data_path[dl - 1] != '/') return -1;
    if (!uuid_text_ok(p->schema_uuid) || !p->snapshot_time || !*p->snapshot_time) return -1;

    static const char *md = "INSERT INTO ducklake_metadata (\"key\", \"value\") VALUES (?, ?)";
    int n = 0;
    lake_stmt *st = add(out, &n,
                        postgres ? "INSERT INTO ducklake_snapshot VALUES "
                                   "(0, CAST(? AS TIMESTAMPTZ), 0, 1, 0)"
                                 : "INSERT INTO ducklake_snapshot VALUES (0, ?, 0, 1, 0)");
    bind_text(st, p->snapshot_time);
    /* Exact change-string syntax matters: the extension parses it on every conflict check. */
    add(out, &n,
        "INSERT INTO ducklake_snapshot_changes VALUES "
        "(0, 'created_schema:\"main\"', NULL, NULL, NULL)");
    st = add(out, &n, md);
    bind_text(st, "version");
    bind_text(st, LAKE_FORMAT_VERSION);
    st = add(out, &n, md);
    bind_text(st, "created_by");
    bind_text(st, p->created_by ? p->created_by : "ducklake-backend");
    st = add(out, &n, md);
    bind_text(st, "data_path");
    bind_text(st, p->data_path);
    /* Exactly 'true' or 'false': anything else makes the extension refuse to attach. */
    st = add(out, &n, md);
    bind_text(st, "encrypted");
    bind_text(st, p->encrypted ? "true" : "false");
    if (p->inlining_row_limit >= 0) {
        /* A persisted global option, as set_option stores it (value text, scope NULL). */
        st = add(
            out, &n,
            "INSERT INTO ducklake_metadata (\"key\", \"value\") VALUES (?, CAST(? AS VARCHAR))");
        bind_text(st, "data_inlining_row_limit");
        st->params[st->nparams].type = MV_INT;
        st->params[st->nparams++].i = p->inlining_row_limit;
    }
    st = add(out, &n,
             postgres ? "INSERT INTO ducklake_schema VALUES "
                        "(0, CAST(? AS UUID), 0, NULL, 'main', 'main/', TRUE)"
                      : "INSERT INTO ducklake_schema VALUES (0, ?, 0, NULL, 'main', 'main/', 1)");
    bind_text(st, p->schema_uuid);
    return n;
}

void lake_catalog_timestamp(int64_t unix_micros, char out[LAKE_TS_LEN])
{
    int64_t secs = unix_micros / 1000000;
    int64_t us = unix_micros % 1000000;
    if (us < 0) {
        us += 1000000;
        secs -= 1;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(out, LAKE_TS_LEN, "%Y-%m-%d %H:%M:%S", &tm);
    if (us) {
        char frac[8];
        snprintf(frac, sizeof frac, ".%06d", (int)us);
        size_t fl = strlen(frac);
        while (frac[fl - 1] == '0')
            frac[--fl] = '\0';
        snprintf(out + n, LAKE_TS_LEN - n, "%s+00", frac);
    } else {
        snprintf(out + n, LAKE_TS_LEN - n, "+00");
    }
}

int lake_data_path_store(const char *in, char *out, size_t outlen)
{
    if (!in || !*in) return -1;
    size_t n = strlen(in);
    while (n > 0 && (in[n - 1] == '/' || in[n - 1] == '\\'))
        n--;
    if (n + 2 > outlen) return -1;
    memcpy(out, in, n);
    out[n] = '/';
    out[n + 1] = '\0';
    return 0;
}
