/* Reading side of the type mapping: DuckLake column types (ducklake_column.column_type, spec
 * digest §10) to DuckDB type text, nested types spelled out from the child rows. The writer's
 * own checks live in types.c. Also the quoting helpers every generated SQL text uses. */
#include "lake_internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static const char *const simple[][2] = {
    {"boolean", "BOOLEAN"},
    {"int8", "TINYINT"},
    {"int16", "SMALLINT"},
    {"int32", "INTEGER"},
    {"int64", "BIGINT"},
    {"uint8", "UTINYINT"},
    {"uint16", "USMALLINT"},
    {"uint32", "UINTEGER"},
    {"uint64", "UBIGINT"},
    {"int128", "HUGEINT"},
    {"uint128", "UHUGEINT"},
    {"float32", "FLOAT"},
    {"float64", "DOUBLE"},
    {"date", "DATE"},
    {"time", "TIME"},
    {"time_ns", "TIME_NS"},
    {"timetz", "TIME WITH TIME ZONE"},
    {"timestamp", "TIMESTAMP"},
    {"timestamp_us", "TIMESTAMP"},
    {"timestamptz", "TIMESTAMP WITH TIME ZONE"},
    {"timestamp_s", "TIMESTAMP_S"},
    {"timestamp_ms", "TIMESTAMP_MS"},
    {"timestamp_ns", "TIMESTAMP_NS"},
    {"interval", "INTERVAL"},
    {"varchar", "VARCHAR"},
    {"json", "JSON"},
    {"blob", "BLOB"},
    {"uuid", "UUID"},
    {"variant", "VARIANT"},
    {"geometry", "GEOMETRY"},
};

int lake_sql_ident(buf_t *b, const char *s)
{
    int fail = buf_appends(b, "\"");
    for (const char *p = s; *p; p++)
        fail |= *p == '"' ? buf_appends(b, "\"\"") : buf_append(b, p, 1);
    fail |= buf_appends(b, "\"");
    return fail ? -1 : 0;
}

int lake_sql_string(buf_t *b, const char *s)
{
    int fail = buf_appends(b, "'");
    for (const char *p = s; *p; p++)
        fail |= *p == '\'' ? buf_appends(b, "''") : buf_append(b, p, 1);
    fail |= buf_appends(b, "'");
    return fail ? -1 : 0;
}

static int plain_name(const char *s)
{
    if (!(isalpha((unsigned char)s[0]) || s[0] == '_')) return 0;
    for (const char *p = s + 1; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '_')) return 0;
    return 1;
}

static int append_type(buf_t *b, const lake_column *cols, int idx, int quote, int depth)
{
    const lake_column *c = &cols[idx];
    if (depth > 64) return -1;
    for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
        if (strcmp(c->type, simple[i][0]) == 0) return buf_appends(b, simple[i][1]);
    if (strncmp(c->type, "decimal(", 8) == 0) {
        /* decimal(P,S): only digits and one comma, so it is safe to copy. */
        for (const char *p = c->type + 8; *p && *p != ')'; p++)
            if (!isdigit((unsigned char)*p) && *p != ',' && *p != ' ') return -1;
        int fail = buf_appends(b, "DECIMAL");
        return fail | buf_appends(b, c->type + 7);
    }
    int fail = 0;
    if (strcmp(c->type, "list") == 0) {
        if (c->first_child < 0) return -1;
        fail |= append_type(b, cols, c->first_child, quote, depth + 1);
        return fail | buf_appends(b, "[]");
    }
    if (strcmp(c->type, "map") == 0) {
        int k = c->first_child;
        int v = k >= 0 ? cols[k].next_sibling : -1;
        if (k < 0 || v < 0) return -1;
        fail |= buf_appends(b, "MAP(");
        fail |= append_type(b, cols, k, quote, depth + 1);
        fail |= buf_appends(b, ", ");
        fail |= append_type(b, cols, v, quote, depth + 1);
        return fail | buf_appends(b, ")");
    }
    if (strcmp(c->type, "struct") == 0) {
        fail |= buf_appends(b, "STRUCT(");
        for (int ch = c->first_child; ch >= 0; ch = cols[ch].next_sibling) {
            if (ch != c->first_child) fail |= buf_appends(b, ", ");
            if (quote || !plain_name(cols[ch].name))
                fail |= lake_sql_ident(b, cols[ch].name);
            else
                fail |= buf_appends(b, cols[ch].name);
            fail |= buf_appends(b, " ");
            fail |= append_type(b, cols, ch, quote, depth + 1);
        }
        return fail | buf_appends(b, ")");
    }
    return -1;
}

char *lake_column_duckdb_type(const lake_column *cols, int idx, int quote)
{
    buf_t b;
    buf_init(&b, 0);
    if (append_type(&b, cols, idx, quote, 0) != 0) {
        buf_free(&b);
        return NULL;
    }
    return buf_steal(&b, NULL);
}
