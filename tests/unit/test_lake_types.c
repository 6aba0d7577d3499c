/* Type texts: accepted spellings, their canonical DuckDB form and DuckLake catalog names, and
 * refusals that name the type. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "lake/lake.h"
#include "lake/types.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *in, *canonical, *catalog;
} ok[] = {
    {"BOOLEAN", "BOOLEAN", "boolean"},
    {"bool", "BOOLEAN", "boolean"},
    {"TINYINT", "TINYINT", "int8"},
    {"int1", "TINYINT", "int8"},
    {"SMALLINT", "SMALLINT", "int16"},
    {"INT2", "SMALLINT", "int16"},
    {"INTEGER", "INTEGER", "int32"},
    {" int ", "INTEGER", "int32"},
    {"INT4", "INTEGER", "int32"},
    {"BIGINT", "BIGINT", "int64"},
    {"INT8", "BIGINT", "int64"},
    {"long", "BIGINT", "int64"},
    {"UTINYINT", "UTINYINT", "uint8"},
    {"USMALLINT", "USMALLINT", "uint16"},
    {"UINTEGER", "UINTEGER", "uint32"},
    {"UBIGINT", "UBIGINT", "uint64"},
    {"FLOAT", "FLOAT", "float32"},
    {"real", "FLOAT", "float32"},
    {"DOUBLE", "DOUBLE", "float64"},
    {"double  precision", "DOUBLE", "float64"},
    {"DECIMAL(10,2)", "DECIMAL(10,2)", "decimal(10,2)"},
    {"numeric ( 38 , 0 )", "DECIMAL(38,0)", "decimal(38,0)"},
    {"DECIMAL", "DECIMAL(18,3)", "decimal(18,3)"},
    {"DECIMAL(5)", "DECIMAL(5,0)", "decimal(5,0)"},
    {"VARCHAR", "VARCHAR", "varchar"},
    {"varchar(255)", "VARCHAR", "varchar"},
    {"TEXT", "VARCHAR", "varchar"},
    {"String", "VARCHAR", "varchar"},
    {"BLOB", "BLOB", "blob"},
    {"bytea", "BLOB", "blob"},
    {"DATE", "DATE", "date"},
    {"TIME", "TIME", "time"},
    {"TIMESTAMP", "TIMESTAMP", "timestamp"},
    {"timestamp without time zone", "TIMESTAMP", "timestamp"},
    {"TIMESTAMP_S", "TIMESTAMP_S", "timestamp_s"},
    {"TIMESTAMP_MS", "TIMESTAMP_MS", "timestamp_ms"},
    {"TIMESTAMP_NS", "TIMESTAMP_NS", "timestamp_ns"},
    {"TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE", "timestamptz"},
    {"timestamp with  time zone", "TIMESTAMP WITH TIME ZONE", "timestamptz"},
    {"INTERVAL", "INTERVAL", "interval"},
    {"UUID", "UUID", "uuid"},
    {"JSON", "JSON", "json"},
    {"INT[]", "INTEGER[]", "list"},
    {"list(varchar)", "VARCHAR[]", "list"},
    {"INT[][]", "INTEGER[][]", "list"},
    {"STRUCT(a INT, \"Bc\" VARCHAR)", "STRUCT(a INTEGER, Bc VARCHAR)", "struct"},
    {"struct(City text, \"select\" int[])", "STRUCT(City VARCHAR, \"select\" INTEGER[])", "struct"},
    {"MAP(VARCHAR, DOUBLE)", "MAP(VARCHAR, DOUBLE)", "map"},
    {"MAP(INT, STRUCT(x INT))[]", "MAP(INTEGER, STRUCT(x INTEGER))[]", "list"},
    {"INTEGER NOT NULL", "INTEGER NOT NULL", "int32"},
};

static void test_accepted(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char out[256];
        dlb_err e = {0};
        if (lake_type_check(ok[i].in, out, sizeof out, &e) != 0)
            fail_msg("'%s' refused: %s", ok[i].in, e.detail);
        if (strcmp(out, ok[i].canonical))
            fail_msg("'%s' -> '%s', want '%s'", ok[i].in, out, ok[i].canonical);
        int nn = 0;
        lake_type *t = lake_type_parse(ok[i].in, &nn, &e);
        assert_non_null(t);
        char cat[48];
        assert_string_equal(lake_type_catalog_name(t, cat, sizeof cat), ok[i].catalog);
        lake_type_free(t);
    }
}

static void test_nested_tree(void **state)
{
    (void)state;
    dlb_err e = {0};
    lake_type *t = lake_type_parse("STRUCT(a INT[], m MAP(VARCHAR, BIGINT))", NULL, &e);
    assert_non_null(t);
    assert_int_equal(lake_type_nodes(t), 6);
    assert_int_equal(t->nchildren, 2);
    assert_string_equal(t->children[0]->name, "a");
    assert_int_equal(t->children[0]->kind, LT_LIST);
    assert_int_equal(t->children[1]->children[1]->kind, LT_INT64);
    buf_t b;
    buf_init(&b, 0);
    assert_int_equal(lake_type_sql(t, 1, &b), 0);
    assert_string_equal(b.data, "STRUCT(\"a\" INTEGER[], \"m\" MAP(VARCHAR, BIGINT))");
    buf_free(&b);
    lake_type_free(t);
    /* Reverse mapping of catalog names. */
    const char *names[] = {"int32", "decimal(12,3)", "timestamptz", "timestamp_us", "list"};
    for (size_t i = 0; i < 5; i++) {
        lake_type *c = lake_type_from_catalog(names[i]);
        assert_non_null(c);
        lake_type_free(c);
    }
    assert_null(lake_type_from_catalog("int128"));
    assert_null(lake_type_from_catalog("decimal(40,2)"));
    assert_null(lake_type_from_catalog("variant"));
}

static const struct {
    const char *in, *needle;
} bad[] = {
    {"VARCHAR(", "invalid type 'VARCHAR('"},
    {"DECIMAL(40,2)", "precision must be between 1 and 38"},
    {"DECIMAL(4,5)", "scale"},
    {"FOO", "unknown type 'FOO'"},
    {"INT; DROP TABLE x", "invalid type 'INT; DROP TABLE x': unexpected ';'"},
    {"", "empty type"},
    {"   ", "a type is expected"},
    {"HUGEINT", "HUGEINT is not supported"},
    {"ENUM('a')", "ENUM is not supported"},
    {"INT[3]", "fixed-size arrays"},
    {"STRUCT()", "field name"},
    {"STRUCT(a INT, a INT)", "duplicate STRUCT field"},
    {"STRUCT(select INT)", "bad STRUCT field name 'select'"},
    {"STRUCT(\"a b\" INT)", "bad STRUCT field name 'a b'"},
    {"MAP(INT[], INT)", "MAP keys"},
    {"MAP(INT)", "',' expected"},
    {"TIME WITH TIME ZONE", "not supported"},
    {"INTEGER(3)", "takes no parameters"},
    {"INT NOT", "NOT NULL expected"},
    {"LIST(INT", "')' expected"},
    {"\"INT\"", "unexpected"},
};

static void test_refused(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char out[256];
        dlb_err e = {0};
        if (lake_type_check(bad[i].in, out, sizeof out, &e) == 0)
            fail_msg("'%s' accepted as '%s'", bad[i].in, out);
        assert_int_equal(e.status, 422);
        assert_string_equal(e.code, "invalid_type");
        if (!strstr(e.detail, bad[i].needle))
            fail_msg("'%s': message '%s' lacks '%s'", bad[i].in, e.detail, bad[i].needle);
    }
    /* NOT NULL only where allowed. */
    dlb_err e = {0};
    assert_null(lake_type_parse("INT NOT NULL", NULL, &e));
}

static void test_identifiers(void **state)
{
    (void)state;
    assert_true(lake_identifier_ok("a"));
    assert_true(lake_identifier_ok("_x1"));
    assert_true(lake_identifier_ok("Name_2"));
    assert_true(lake_identifier_ok("year"));
    char longest[64];
    memset(longest, 'a', 63);
    longest[63] = '\0';
    assert_true(lake_identifier_ok(longest));
    char too_long[65];
    memset(too_long, 'a', 64);
    too_long[64] = '\0';
    assert_false(lake_identifier_ok(too_long));
    assert_false(lake_identifier_ok(""));
    assert_false(lake_identifier_ok(NULL));
    assert_false(lake_identifier_ok("1a"));
    assert_false(lake_identifier_ok("a b"));
    assert_false(lake_identifier_ok("a\"b"));
    assert_false(lake_identifier_ok("select"));
    assert_false(lake_identifier_ok("SELECT"));
    assert_false(lake_identifier_ok("täble"));
}

static void test_stat_order(void **state)
{
    (void)state;
    assert_true(lake_stat_cmp(LCMP_INT, "-10", "9") < 0);
    assert_true(lake_stat_cmp(LCMP_INT, "100", "99") > 0);
    assert_true(lake_stat_cmp(LCMP_INT, "18446744073709551615", "9223372036854775807") > 0);
    assert_true(lake_stat_cmp(LCMP_DECIMAL, "-0.01", "-0.1") > 0);
    assert_true(lake_stat_cmp(LCMP_DECIMAL, "12.5", "12.50") == 0);
    assert_true(lake_stat_cmp(LCMP_FLOAT, "-inf", "-1e300") < 0);
    assert_true(lake_stat_cmp(LCMP_TEMPORAL, "2024-01-02 03:04:05+00", "2024-01-02 03:04:05.5+00") <
                0);
    assert_true(lake_stat_cmp(LCMP_TEMPORAL, "10000-01-01", "9999-12-31") > 0);
    assert_true(lake_stat_cmp(LCMP_TEMPORAL, "-infinity", "0001-01-01") < 0);
    assert_true(lake_stat_cmp(LCMP_TEMPORAL, "10:00:00", "9:00:00") != 0);
    assert_true(lake_stat_cmp(LCMP_STRING, "AA", "AA01") < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepted),   cmocka_unit_test(test_nested_tree),
        cmocka_unit_test(test_refused),    cmocka_unit_test(test_identifiers),
        cmocka_unit_test(test_stat_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
