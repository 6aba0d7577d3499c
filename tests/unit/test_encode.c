/* Unit tests of the result encoders (src/engine/encode*): every type a lake table can hold,
 * NULLs, extremes, nested values, CSV quoting, NDJSON lines and the sink protocol. Values come
 * from a plain in-memory DuckDB. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "engine/encode.h"

#include <duckdb.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static duckdb_database g_db;
static duckdb_connection g_con;

typedef struct {
    char *data;
    size_t len, cap;
    int calls;
    size_t max_piece;
    int fail_after; /* calls before returning -1; 0 never */
} sinkbuf;

static int sink_fn(void *ctx, const void *data, size_t len)
{
    sinkbuf *s = ctx;
    s->calls++;
    if (s->fail_after && s->calls >= s->fail_after) return -1;
    if (len > s->max_piece) s->max_piece = len;
    if (s->len + len + 1 > s->cap) {
        s->cap = (s->len + len + 1) * 2;
        s->data = realloc(s->data, s->cap);
        assert_non_null(s->data);
    }
    memcpy(s->data + s->len, data, len);
    s->len += len;
    s->data[s->len] = 0;
    return 0;
}

/* Runs sql and encodes its whole result; returns the text (free it). rc_out gets the last
 * encoder return code; err_out the construction error (result NULL then). */
static char *encode_sql_ex(const char *sql, encode_format fmt, size_t flush, sinkbuf *sb,
                           dlb_err *err_out)
{
    duckdb_result r;
    if (duckdb_query(g_con, sql, &r) == DuckDBError) {
        fprintf(stderr, "query failed: %s\n%s\n", sql, duckdb_result_error(&r));
        fail();
    }
    size_t n = (size_t)duckdb_column_count(&r);
    const char *names[64];
    duckdb_logical_type types[64];
    assert_true(n <= 64);
    for (size_t k = 0; k < n; k++) {
        names[k] = duckdb_column_name(&r, k);
        types[k] = duckdb_column_logical_type(&r, k);
    }
    dlb_err err = {0};
    encoder_t *enc = encoder_new(fmt, n, names, types, flush, sink_fn, sb, &err);
    for (size_t k = 0; k < n; k++)
        duckdb_destroy_logical_type(&types[k]);
    if (!enc) {
        if (err_out) *err_out = err;
        duckdb_destroy_result(&r);
        return NULL;
    }
    assert_int_equal(sb->calls, 0);
    for (;;) {
        duckdb_data_chunk ch = duckdb_fetch_chunk(r);
        if (!ch) break;
        int rc = encoder_chunk(enc, ch, (size_t)duckdb_data_chunk_get_size(ch));
        duckdb_destroy_data_chunk(&ch);
        if (rc) break;
    }
    encoder_end(enc);
    assert_true(encoder_started(enc));
    encoder_free(enc);
    duckdb_destroy_result(&r);
    char *out = sb->data ? sb->data : strdup("");
    sb->data = NULL;
    return out;
}

static char *encode_sql(const char *sql, encode_format fmt)
{
    sinkbuf sb = {0};
    return encode_sql_ex(sql, fmt, 0, &sb, NULL);
}

static void expect(const char *sql, encode_format fmt, const char *want)
{
    char *got = encode_sql(sql, fmt);
    if (strcmp(got, want) != 0) fprintf(stderr, "sql:  %s\nwant: %s\ngot:  %s\n", sql, want, got);
    assert_string_equal(got, want);
    if (fmt == ENC_JSON) { /* and it is valid JSON */
        json_error_t je;
        json_t *j = json_loads(got, JSON_DECODE_INT_AS_REAL, &je);
        if (!j) fprintf(stderr, "invalid JSON: %s (%s)\n", got, je.text);
        assert_non_null(j);
        json_decref(j);
    }
    free(got);
}

static int setup(void **state)
{
    (void)state;
    if (duckdb_open(NULL, &g_db) == DuckDBError) return -1;
    if (duckdb_connect(g_db, &g_con) == DuckDBError) return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    duckdb_disconnect(&g_con);
    duckdb_close(&g_db);
    return 0;
}

static void test_integers(void **state)
{
    (void)state;
    expect("SELECT true AS b, false AS f, (-128)::TINYINT AS i8, (-32768)::SMALLINT AS i16, "
           "(-2147483648)::INTEGER AS i32, (-9223372036854775808)::BIGINT AS i64min, "
           "9223372036854775807::BIGINT AS i64max, 255::UTINYINT AS u8, 65535::USMALLINT AS u16, "
           "4294967295::UINTEGER AS u32, 18446744073709551615::UBIGINT AS u64, "
           "NULL::INTEGER AS n",
           ENC_JSON,
           "{\"result\":[{\"b\":true,\"f\":false,\"i8\":-128,\"i16\":-32768,\"i32\":-2147483648,"
           "\"i64min\":-9223372036854775808,\"i64max\":9223372036854775807,\"u8\":255,"
           "\"u16\":65535,\"u32\":4294967295,\"u64\":18446744073709551615,\"n\":null}]}");
    expect("SELECT '-170141183460469231731687303715884105728'::HUGEINT AS hmin, "
           "'170141183460469231731687303715884105727'::HUGEINT AS hmax, "
           "'340282366920938463463374607431768211455'::UHUGEINT AS umax, "
           "0::HUGEINT AS z, (-1)::HUGEINT AS m1, '18446744073709551616'::HUGEINT AS h64, "
           "'10000000000000000000000000000000000000'::HUGEINT AS p37",
           ENC_JSON,
           "{\"result\":[{\"hmin\":-170141183460469231731687303715884105728,"
           "\"hmax\":170141183460469231731687303715884105727,"
           "\"umax\":340282366920938463463374607431768211455,\"z\":0,\"m1\":-1,"
           "\"h64\":18446744073709551616,\"p37\":10000000000000000000000000000000000000}]}");
    /* Plain integers parse back exactly with jansson. */
    char *got = encode_sql("SELECT range AS i FROM range(-5, 5)", ENC_JSON);
    json_t *j = json_loads(got, 0, NULL);
    assert_non_null(j);
    json_t *rows = json_object_get(j, "result");
    assert_int_equal(json_array_size(rows), 10);
    for (size_t k = 0; k < 10; k++)
        assert_int_equal(json_integer_value(json_object_get(json_array_get(rows, k), "i")),
                         (json_int_t)k - 5);
    json_decref(j);
    free(got);
}

static void test_floats(void **state)
{
    (void)state;
    expect("SELECT 1.5::DOUBLE a, 0.1::DOUBLE b, 1e300::DOUBLE c, (-2.0)::DOUBLE d, "
           "'nan'::DOUBLE e, 'inf'::DOUBLE f, '-inf'::DOUBLE g, 0.1::FLOAT h, 3::FLOAT i, "
           "'nan'::FLOAT j, 123456.789::DOUBLE k, 1e-7::DOUBLE l",
           ENC_JSON,
           "{\"result\":[{\"a\":1.5,\"b\":0.1,\"c\":1e+300,\"d\":-2,\"e\":null,\"f\":null,"
           "\"g\":null,\"h\":0.1,\"i\":3,\"j\":null,\"k\":123456.789,\"l\":0.0000001}]}");
    expect("SELECT 'nan'::DOUBLE a, 'inf'::DOUBLE b, '-inf'::FLOAT c, 2.5::DOUBLE d", ENC_CSV,
           "a,b,c,d\nnan,inf,-inf,2.5\n");
    /* Round trip of awkward values through jansson. */
    const double vals[] = {
        1.0 / 3.0,           2.0 / 3.0,           1e-300, 5e-324, 1.7976931348623157e308,
        0.30000000000000004, 123456789.123456789, -0.0001};
    for (size_t k = 0; k < sizeof(vals) / sizeof(vals[0]); k++) {
        char sql[128];
        snprintf(sql, sizeof(sql), "SELECT %.17g::DOUBLE AS v", vals[k]);
        char *got = encode_sql(sql, ENC_JSON);
        json_t *j = json_loads(got, 0, NULL);
        assert_non_null(j);
        double v =
            json_real_value(json_object_get(json_array_get(json_object_get(j, "result"), 0), "v"));
        assert_true(v == vals[k]);
        json_decref(j);
        free(got);
    }
}

static void test_decimals(void **state)
{
    (void)state;
    expect("SELECT (-12.34)::DECIMAL(4,2) a, (-0.5)::DECIMAL(3,2) b, 0::DECIMAL(5,3) c, "
           "123456789012.345678::DECIMAL(18,6) d, "
           "'9999999999999999999999999999.9999999999'::DECIMAL(38,10) e, "
           "'-9999999999999999999999999999.9999999999'::DECIMAL(38,10) f, "
           "'0.0000000001'::DECIMAL(38,10) g, 42::DECIMAL(10,0) h, 0.05::DECIMAL(9,4) i",
           ENC_JSON,
           "{\"result\":[{\"a\":-12.34,\"b\":-0.50,\"c\":0.000,\"d\":123456789012.345678,"
           "\"e\":9999999999999999999999999999.9999999999,"
           "\"f\":-9999999999999999999999999999.9999999999,\"g\":0.0000000001,\"h\":42,"
           "\"i\":0.0500}]}");
}

static void test_strings_blobs(void **state)
{
    (void)state;
    expect("SELECT 'héllo ☃ 𝄞' a, 'q\"b\\n' || chr(10) || chr(9) || chr(1) || '/' b, '' c, "
           "'a string longer than twelve bytes' d, NULL::VARCHAR e",
           ENC_JSON,
           "{\"result\":[{\"a\":\"héllo ☃ 𝄞\",\"b\":\"q\\\"b\\\\n\\n\\t\\u0001/\",\"c\":\"\","
           "\"d\":\"a string longer than twelve bytes\",\"e\":null}]}");
    expect("SELECT '\\x00\\xFFabc'::BLOB a, ''::BLOB b, 'ab'::BLOB c, 'a''\"\\x5C'::BLOB d",
           ENC_JSON,
           "{\"result\":[{\"a\":\"AP9hYmM=\",\"b\":\"\",\"c\":\"YWI=\",\"d\":\"YSciXA==\"}]}");
    expect("SELECT '\\x00\\xFFa,c'::BLOB a, 'a''\"\\x5C'::BLOB b", ENC_CSV,
           "a,b\n\"\\x00\\xFFa,c\",a\\x27\\x22\\x5C\n");
    /* The CSV form of a blob reads back as the same blob. */
    char *got = encode_sql("SELECT '\\x00\\xFFa,c'::BLOB a", ENC_CSV);
    assert_string_equal(got, "a\n\"\\x00\\xFFa,c\"\n");
    free(got);
    duckdb_result r;
    assert_int_equal(
        duckdb_query(g_con, "SELECT '\\x00\\xFFa,c'::BLOB = '\\x00\\xFFa,c'::VARCHAR::BLOB", &r),
        DuckDBSuccess);
    assert_true(duckdb_value_boolean(&r, 0, 0));
    duckdb_destroy_result(&r);
}

static void test_temporal(void **state)
{
    (void)state;
    expect("SELECT DATE '1970-01-01' a, DATE '9999-12-31' b, DATE '0044-03-15 (BC)' c, "
           "DATE '0001-01-01 (BC)' d, DATE '2024-02-29' e, 'infinity'::DATE f, "
           "'-infinity'::DATE g, DATE '1969-12-31' h",
           ENC_JSON,
           "{\"result\":[{\"a\":\"1970-01-01\",\"b\":\"9999-12-31\",\"c\":\"-0043-03-15\","
           "\"d\":\"0000-01-01\",\"e\":\"2024-02-29\",\"f\":\"infinity\",\"g\":\"-infinity\","
           "\"h\":\"1969-12-31\"}]}");
    expect("SELECT TIME '12:34:56.789' a, TIME '00:00:00' b, TIME '23:59:59.999999' c, "
           "TIMETZ '12:00:00+05:30' d, TIMETZ '01:02:03.5-08' e",
           ENC_JSON,
           "{\"result\":[{\"a\":\"12:34:56.789\",\"b\":\"00:00:00\",\"c\":\"23:59:59.999999\","
           "\"d\":\"12:00:00+05:30\",\"e\":\"01:02:03.5-08:00\"}]}");
    expect("SELECT TIMESTAMP '2024-02-29 23:59:59.123456' a, TIMESTAMP '1969-12-31 23:59:59.5' b, "
           "'2024-01-01 00:00:00.123456789'::TIMESTAMP_NS c, '2024-01-01 10:11:12'::TIMESTAMP_S d, "
           "'2024-01-01 10:11:12.345'::TIMESTAMP_MS e, "
           "TIMESTAMPTZ '2024-01-01 12:00:00+02' f, 'infinity'::TIMESTAMP g, "
           "TIMESTAMP '0010-06-01 (BC)' h, TIMESTAMP '9999-12-31 23:59:59.999999' i, "
           "'1960-01-01 00:00:00.000000001'::TIMESTAMP_NS j",
           ENC_JSON,
           "{\"result\":[{\"a\":\"2024-02-29T23:59:59.123456\",\"b\":\"1969-12-31T23:59:59.5\","
           "\"c\":\"2024-01-01T00:00:00.123456789\",\"d\":\"2024-01-01T10:11:12\","
           "\"e\":\"2024-01-01T10:11:12.345\",\"f\":\"2024-01-01T10:00:00+00:00\","
           "\"g\":\"infinity\",\"h\":\"-0009-06-01T00:00:00\","
           "\"i\":\"9999-12-31T23:59:59.999999\",\"j\":\"1960-01-01T00:00:00.000000001\"}]}");
    expect("SELECT INTERVAL '1 year 2 months 3 days 04:05:06.5' a, INTERVAL '0 seconds' b, "
           "-INTERVAL '90 minutes' c, INTERVAL '-1 month' d, INTERVAL '0.000001 seconds' e, "
           "INTERVAL '25 hours' f",
           ENC_JSON,
           "{\"result\":[{\"a\":\"P1Y2M3DT4H5M6.5S\",\"b\":\"PT0S\",\"c\":\"PT-1H-30M\","
           "\"d\":\"P-1M\",\"e\":\"PT0.000001S\",\"f\":\"PT25H\"}]}");
    expect("SELECT DATE '2024-01-02' d, TIMESTAMP '2024-01-02 03:04:05' t", ENC_CSV,
           "d,t\n2024-01-02,2024-01-02T03:04:05\n");
}

static void test_uuid_enum_json_bit_union(void **state)
{
    (void)state;
    expect("SELECT '550e8400-e29b-41d4-a716-446655440000'::UUID a, "
           "'00000000-0000-0000-0000-000000000000'::UUID b, "
           "'ffffffff-ffff-ffff-ffff-ffffffffffff'::UUID c, "
           "'7fffffff-0000-0000-8000-000000000001'::UUID d",
           ENC_JSON,
           "{\"result\":[{\"a\":\"550e8400-e29b-41d4-a716-446655440000\","
           "\"b\":\"00000000-0000-0000-0000-000000000000\","
           "\"c\":\"ffffffff-ffff-ffff-ffff-ffffffffffff\","
           "\"d\":\"7fffffff-0000-0000-8000-000000000001\"}]}");
    duckdb_result r;
    duckdb_query(g_con, "CREATE TYPE mood AS ENUM ('sad', 'ok', 'ha\"ppy,')", &r);
    duckdb_destroy_result(&r);
    expect("SELECT 'ok'::mood a, 'ha\"ppy,'::mood b, NULL::mood c", ENC_JSON,
           "{\"result\":[{\"a\":\"ok\",\"b\":\"ha\\\"ppy,\",\"c\":null}]}");
    expect("SELECT 'ok'::mood a, 'ha\"ppy,'::mood b, NULL::mood c", ENC_CSV,
           "a,b,c\nok,\"ha\"\"ppy,\",\n");
    /* JSON is built into this DuckDB? Then it is embedded raw. */
    if (duckdb_query(g_con, "SELECT '{\"a\": [1, 2]}'::JSON", &r) == DuckDBSuccess) {
        duckdb_destroy_result(&r);
        expect("SELECT '{\"a\": [1, 2]}'::JSON j, NULL::JSON n", ENC_JSON,
               "{\"result\":[{\"j\":{\"a\": [1, 2]},\"n\":null}]}");
        expect("SELECT '{\"a\": [1, 2]}'::JSON j", ENC_CSV, "j\n\"{\"\"a\"\": [1, 2]}\"\n");
    } else {
        duckdb_destroy_result(&r);
    }
    expect("SELECT '0101100111'::BIT b", ENC_JSON, "{\"result\":[{\"b\":\"0101100111\"}]}");
    expect("SELECT u FROM (SELECT 42::UNION(i INT, s VARCHAR) u UNION ALL "
           "SELECT 'x'::UNION(i INT, s VARCHAR)) ORDER BY u.i NULLS LAST",
           ENC_JSON, "{\"result\":[{\"u\":42},{\"u\":\"x\"}]}");
}

static void test_nested(void **state)
{
    (void)state;
    expect("SELECT [1, 2, NULL] a, []::INT[] b, NULL::INT[] c, {'x': 1, 'y': 'z'} d, "
           "[{'k': 1, 'v': [1.5]}, {'k': 2, 'v': []}] e, [1, 2, 3]::INT[3] f, "
           "MAP {'k1': 1, 'k\"2': NULL} g, MAP {1: 'a', 2: 'b'} h, MAP {}::MAP(VARCHAR, INT) i, "
           "[[1], [], NULL] j, {'n': NULL, 's': {'t': [DATE '2024-01-01']}} k",
           ENC_JSON,
           "{\"result\":[{\"a\":[1,2,null],\"b\":[],\"c\":null,\"d\":{\"x\":1,\"y\":\"z\"},"
           "\"e\":[{\"k\":1,\"v\":[1.5]},{\"k\":2,\"v\":[]}],\"f\":[1,2,3],"
           "\"g\":{\"k1\":1,\"k\\\"2\":null},"
           "\"h\":[{\"key\":1,\"value\":\"a\"},{\"key\":2,\"value\":\"b\"}],\"i\":{},"
           "\"j\":[[1],[],null],\"k\":{\"n\":null,\"s\":{\"t\":[\"2024-01-01\"]}}}]}");
    /* Many rows with lists: offsets into the child vector across chunks. */
    char *got = encode_sql("SELECT range AS i, [range, range + 1] AS l, {'a': range} AS s "
                           "FROM range(5000)",
                           ENC_NDJSON);
    char *line = got;
    for (int k = 0; k < 5000; k++) {
        char want[128];
        int n = snprintf(want, sizeof(want), "{\"i\":%d,\"l\":[%d,%d],\"s\":{\"a\":%d}}\n", k, k,
                         k + 1, k);
        assert_memory_equal(line, want, (size_t)n);
        line += n;
    }
    assert_int_equal(*line, 0);
    free(got);
    expect("SELECT [1, 2] l, {'a': 'x,y'} s", ENC_CSV,
           "l,s\n\"[1,2]\",\"{\"\"a\"\":\"\"x,y\"\"}\"\n");
}

static void test_csv_quoting(void **state)
{
    (void)state;
    expect("SELECT * FROM (VALUES (1, 'plain'), (2, 'a,b'), (3, 'say \"hi\"'), "
           "(4, 'line' || chr(10) || 'break'), (5, ''), (6, NULL), (7, 'cr' || chr(13))) "
           "t(\"id\", \"the, text\")",
           ENC_CSV,
           "id,\"the, text\"\n1,plain\n2,\"a,b\"\n3,\"say \"\"hi\"\"\"\n4,\"line\nbreak\"\n"
           "5,\"\"\n6,\n7,\"cr\r\"\n");
}

static void test_ndjson_and_empty(void **state)
{
    (void)state;
    expect("SELECT range AS i, 'x' || range AS s FROM range(3)", ENC_NDJSON,
           "{\"i\":0,\"s\":\"x0\"}\n{\"i\":1,\"s\":\"x1\"}\n{\"i\":2,\"s\":\"x2\"}\n");
    expect("SELECT range AS i FROM range(0)", ENC_JSON, "{\"result\":[]}");
    expect("SELECT range AS i FROM range(0)", ENC_NDJSON, "");
    expect("SELECT range AS i, 1 AS j FROM range(0)", ENC_CSV, "i,j\n");
}

static void test_sink_pieces(void **state)
{
    (void)state;
    sinkbuf sb = {0};
    char *got = encode_sql_ex("SELECT range AS i, repeat('x', 50) AS s FROM range(200000)",
                              ENC_JSON, 64 * 1024, &sb, NULL);
    assert_true(sb.calls > 100);
    /* A piece is at most the threshold plus one row. */
    assert_true(sb.max_piece < 64 * 1024 + 200);
    json_t *j = json_loads(got, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_array_size(json_object_get(j, "result")), 200000);
    json_decref(j);
    free(got);

    /* A sink that fails stops the encoder. */
    sinkbuf sb2 = {.fail_after = 2};
    duckdb_result r;
    assert_int_equal(duckdb_query(g_con, "SELECT range AS i FROM range(100000)", &r),
                     DuckDBSuccess);
    duckdb_logical_type t = duckdb_column_logical_type(&r, 0);
    const char *name = "i";
    encoder_t *enc = encoder_new(ENC_CSV, 1, &name, &t, 1024, sink_fn, &sb2, NULL);
    duckdb_destroy_logical_type(&t);
    assert_non_null(enc);
    int rc = 0, chunks = 0;
    for (;;) {
        duckdb_data_chunk ch = duckdb_fetch_chunk(r);
        if (!ch) break;
        chunks++;
        rc = encoder_chunk(enc, ch, (size_t)duckdb_data_chunk_get_size(ch));
        duckdb_destroy_data_chunk(&ch);
        if (rc) break;
    }
    assert_int_equal(rc, -1);
    assert_true(encoder_sink_failed(enc));
    assert_int_equal(chunks, 1);
    assert_int_equal(sb2.calls, 2);
    encoder_free(enc);
    duckdb_destroy_result(&r);
    free(sb2.data);
}

static void test_unsupported_type(void **state)
{
    (void)state;
    duckdb_result r;
    if (duckdb_query(g_con, "SELECT 1::BIGNUM", &r) == DuckDBError) { /* no BIGNUM here */
        duckdb_destroy_result(&r);
        skip();
    }
    duckdb_destroy_result(&r);
    sinkbuf sb = {0};
    dlb_err err = {0};
    char *got = encode_sql_ex("SELECT 1 AS a, {'x': 12345678901234567890::BIGNUM} AS big", ENC_JSON,
                              0, &sb, &err);
    assert_null(got);
    assert_int_equal(err.status, 422);
    assert_string_equal(err.code, "unsupported_type");
    assert_non_null(strstr(err.detail, "big.x"));
    assert_int_equal(sb.calls, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_integers),         cmocka_unit_test(test_floats),
        cmocka_unit_test(test_decimals),         cmocka_unit_test(test_strings_blobs),
        cmocka_unit_test(test_temporal),         cmocka_unit_test(test_uuid_enum_json_bit_union),
        cmocka_unit_test(test_nested),           cmocka_unit_test(test_csv_quoting),
        cmocka_unit_test(test_ndjson_and_empty), cmocka_unit_test(test_sink_pieces),
        cmocka_unit_test(test_unsupported_type),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
