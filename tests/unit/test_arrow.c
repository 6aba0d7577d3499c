/* Unit tests of the Arrow IPC writer and reader (src/engine/arrow): DuckDB query -> our writer
 * -> our reader -> DuckDB scan, value for value, for every type a lake table holds (NULLs,
 * nested values, several batches), in the stream and the file format; malformed inputs
 * (truncated, bad offsets, huge lengths, broken flatbuffers, invalid UTF-8, decreasing offsets,
 * short children) give clean errors; ingest_source over an Arrow file. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "engine/arrow/ipc_read.h"
#include "engine/arrow/ipc_write.h"
#include "engine/encode_arrow.h"
#include "engine/ingest.h"
#include "engine/query.h"

#include <duckdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static duckdb_database g_db;
static duckdb_connection g_con;

typedef struct {
    uint8_t *data;
    size_t len, cap;
} bytes;

static int sink_fn(void *ctx, const void *data, size_t len)
{
    bytes *b = ctx;
    if (b->len + len > b->cap) {
        b->cap = (b->len + len) * 2;
        b->data = realloc(b->data, b->cap);
        assert_non_null(b->data);
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

static void exec(const char *sql)
{
    duckdb_result r;
    if (duckdb_query(g_con, sql, &r) == DuckDBError)
        fail_msg("%.200s: %s", sql, duckdb_result_error(&r));
    duckdb_destroy_result(&r);
}

static int64_t scalar_i64(const char *sql)
{
    duckdb_result r;
    if (duckdb_query(g_con, sql, &r) == DuckDBError)
        fail_msg("%s: %s", sql, duckdb_result_error(&r));
    int64_t v = duckdb_value_int64(&r, 0, 0);
    duckdb_destroy_result(&r);
    return v;
}

/* The result of sql as an Arrow IPC stream, through query_run. */
static bytes arrow_of(const char *sql)
{
    duckdb_prepared_statement st;
    dlb_err e = {0};
    if (query_prepare(g_con, sql, &st, &e)) fail_msg("prepare: %s", e.detail);
    bytes b = {0};
    query_limits lim = {.chunk_bytes = 4096};
    query_outcome out;
    if (query_run(g_con, st, QF_ARROW, &lim, sink_fn, &b, &out, &e)) fail_msg("run: %s", e.detail);
    duckdb_destroy_prepare(&st);
    assert_int_equal(out.bytes, b.len);
    return b;
}

/* Drains a reader over data; 0 when the whole input read cleanly, else -1 with e. The largest
 * batch's row count goes to *largest, the number of batches to *batches (when not NULL). */
static int drain_batches(const void *data, size_t len, int64_t *rows, int64_t *batches,
                         int64_t *largest, dlb_err *e)
{
    ipc_reader *r = ipc_reader_open_mem(data, len, e);
    if (!r) return -1;
    int rc = 0;
    if (rows) *rows = 0;
    if (batches) *batches = 0;
    if (largest) *largest = 0;
    for (;;) {
        struct ArrowArray a;
        if (ipc_reader_next(r, &a, e)) {
            rc = -1;
            break;
        }
        if (!a.release) break;
        if (rows) *rows += a.length;
        if (batches) (*batches)++;
        if (largest && a.length > *largest) *largest = a.length;
        a.release(&a);
    }
    ipc_reader_close(r);
    return rc;
}

static int drain(const void *data, size_t len, int64_t *rows, dlb_err *e)
{
    return drain_batches(data, len, rows, NULL, NULL, e);
}

/* Registers data as view name on g_con; the reader stays open until the caller closes it. */
static ipc_reader *scan_as(const bytes *b, const char *name, struct ArrowArrayStream *st)
{
    dlb_err e = {0};
    ipc_reader *r = ipc_reader_open_mem(b->data, b->len, &e);
    if (!r) fail_msg("open: %s", e.detail);
    ipc_reader_stream(r, st);
    assert_int_equal(duckdb_arrow_scan(g_con, name, (duckdb_arrow_stream)st), DuckDBSuccess);
    return r;
}

static const char *ALL_TYPES =
    "SELECT i::INTEGER AS id, (i % 2 = 0) AS b, (i % 100)::TINYINT AS i8, i::SMALLINT AS i16, "
    "(i * 7)::INTEGER AS i32, (i * 100000000000)::BIGINT AS i64, (i % 200)::UTINYINT AS u8, "
    "i::USMALLINT AS u16, (i * 3)::UINTEGER AS u32, (i * 18446744073709)::UBIGINT AS u64, "
    "(i / 3.0)::FLOAT AS f32, (i / 7.0)::DOUBLE AS f64, (i * 1.25)::DECIMAL(9,2) AS d9, "
    "(i * 12345678901.123456789)::DECIMAL(38,10) AS d38, (i * 1.5)::DECIMAL(18,3) AS d18, "
    "'s' || i || 'é€😀' AS s, ('b' || i)::BLOB AS bl, DATE '2020-01-01' + i::INTEGER AS dt, "
    "TIME '00:00:00' + INTERVAL (i) SECOND AS t, TIMESTAMP '2020-01-01 00:00:00.123456' + "
    "INTERVAL (i) MINUTE AS ts, TIMESTAMPTZ '2021-06-01 00:00:00+00' + INTERVAL (i) HOUR AS tz, "
    "('2020-01-01'::TIMESTAMP_S + INTERVAL (i) DAY)::TIMESTAMP_S AS ts_s, "
    "('2020-01-01'::TIMESTAMP_MS + INTERVAL (i) DAY)::TIMESTAMP_MS AS ts_ms, "
    "('2020-01-01'::TIMESTAMP_NS + INTERVAL (i) DAY)::TIMESTAMP_NS AS ts_ns, "
    "md5(i::VARCHAR)::UUID AS u, [i, NULL, i + 1] AS l, ['x' || i, 'y'] AS ls, "
    "{'a': i, 'b': 'v' || i, 'c': [i]} AS st, MAP {'k' || i: i, 'z': NULL} AS m, "
    "[{'p': i, 'q': md5(i::VARCHAR)::UUID}] AS lst, INTERVAL (i) DAY + INTERVAL 5 MONTH AS iv "
    "FROM range(5000) r(i) "
    "UNION ALL SELECT 5000, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
    "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
    "NULL, NULL, NULL, NULL "
    "UNION ALL SELECT 5001, true, -128, -32768, -2147483648, -9223372036854775808, 255, 65535, "
    "4294967295, 18446744073709551615::UBIGINT, 'inf'::FLOAT, '-inf'::DOUBLE, -9999999.99, "
    "-9999999999999999999999999999.9999999999, 0, '', ''::BLOB, DATE '1970-01-01', "
    "TIME '23:59:59.999999', TIMESTAMP '1900-01-01', TIMESTAMPTZ '1970-01-01 00:00:00+00', "
    "TIMESTAMP_S '1970-01-01', TIMESTAMP_MS '1970-01-01', TIMESTAMP_NS '1970-01-01', "
    "'00000000-0000-0000-0000-000000000000'::UUID, [], [NULL], {'a': NULL, 'b': NULL, 'c': NULL}, "
    "MAP {}, [], INTERVAL 0 DAY";

static void compare_tables(const char *a, const char *b)
{
    char q[512];
    snprintf(q, sizeof(q), "SELECT count(*) FROM (SELECT * FROM %s EXCEPT ALL SELECT * FROM %s)", a,
             b);
    assert_int_equal(scalar_i64(q), 0);
    snprintf(q, sizeof(q), "SELECT count(*) FROM (SELECT * FROM %s EXCEPT ALL SELECT * FROM %s)", b,
             a);
    assert_int_equal(scalar_i64(q), 0);
    snprintf(q, sizeof(q), "SELECT (SELECT count(*) FROM %s) - (SELECT count(*) FROM %s)", a, b);
    assert_int_equal(scalar_i64(q), 0);
}

static void test_roundtrip_stream(void **state)
{
    (void)state;
    static char q[16384];
    snprintf(q, sizeof(q), "CREATE OR REPLACE TABLE src AS %s", ALL_TYPES);
    exec(q);
    bytes b = arrow_of("SELECT * FROM src ORDER BY id");
    assert_true(b.len > 8);
    assert_memory_equal(b.data + b.len - 8, "\xff\xff\xff\xff\0\0\0\0", 8); /* end of stream */
    int64_t rows;
    dlb_err e = {0};
    assert_int_equal(drain(b.data, b.len, &rows, &e), 0);
    assert_int_equal(rows, 5002);
    struct ArrowArrayStream st;
    ipc_reader *r = scan_as(&b, "rt_stream", &st);
    /* the types came back as they went (uuid through arrow.uuid) */
    assert_int_equal(scalar_i64("SELECT count(*) FROM (DESCRIBE src) a JOIN (DESCRIBE rt_stream) b "
                                "USING (column_name) WHERE a.column_type <> b.column_type "
                                "AND a.column_name NOT IN ('tz', 'u64')"),
                     0);
    exec("CREATE OR REPLACE TABLE rt AS SELECT * FROM rt_stream");
    compare_tables("src", "rt");
    exec("DROP VIEW rt_stream");
    ipc_reader_close(r);
    free(b.data);
}

/* Re-writes what our reader gives as the file format, reads that back. */
static void test_roundtrip_file(void **state)
{
    (void)state;
    bytes b = arrow_of("SELECT * FROM src ORDER BY id");
    dlb_err e = {0};
    ipc_reader *r = ipc_reader_open_mem(b.data, b.len, &e);
    assert_non_null(r);
    bytes f = {0};
    ipc_writer *w = ipc_writer_new(ipc_reader_schema(r), 1, 1000, sink_fn, &f, &e);
    if (!w) fail_msg("writer: %s", e.detail);
    int batches = 0;
    for (;;) {
        struct ArrowArray a;
        assert_int_equal(ipc_reader_next(r, &a, &e), 0);
        if (!a.release) break;
        assert_int_equal(ipc_writer_batch(w, &a, &e), 0);
        a.release(&a);
        batches++;
    }
    assert_true(batches >= 3);
    assert_int_equal(ipc_writer_end(w, &e), 0);
    ipc_writer_free(w);
    ipc_reader_close(r);
    assert_memory_equal(f.data, "ARROW1\0\0", 8);
    assert_memory_equal(f.data + f.len - 6, "ARROW1", 6);
    FILE *out = fopen("build/test_arrow_all.arrow", "wb");
    if (out) {
        fwrite(f.data, 1, f.len, out);
        fclose(out);
    }
    struct ArrowArrayStream st;
    r = scan_as(&f, "rt_file", &st);
    exec("CREATE OR REPLACE TABLE rt2 AS SELECT * FROM rt_file");
    compare_tables("src", "rt2");
    exec("DROP VIEW rt_file");
    ipc_reader_close(r);
    free(f.data);
    free(b.data);
}

static void test_empty_and_truncated_result(void **state)
{
    (void)state;
    bytes b = arrow_of("SELECT * FROM src WHERE id < 0");
    int64_t rows = -1;
    dlb_err e = {0};
    assert_int_equal(drain(b.data, b.len, &rows, &e), 0);
    assert_int_equal(rows, 0);
    free(b.data);
    /* max_rows */
    duckdb_prepared_statement st;
    assert_int_equal(query_prepare(g_con, "SELECT * FROM src", &st, &e), 0);
    bytes c = {0};
    query_limits lim = {.max_rows = 2100};
    query_outcome out;
    assert_int_equal(query_run(g_con, st, QF_ARROW, &lim, sink_fn, &c, &out, &e), 0);
    assert_int_equal(out.rows, 2100);
    assert_true(out.truncated);
    assert_int_equal(drain(c.data, c.len, &rows, &e), 0);
    assert_int_equal(rows, 2100);
    duckdb_destroy_prepare(&st);
    free(c.data);
}

/* Flat columns go through encode_arrow.c, several chunks a batch when rows are narrow: NULLs at
 * every bit position (a filter makes chunks of odd sizes, so chunks start at any bit of the
 * batch's validity and boolean bitmaps), decimals of every storage width, both string offset
 * widths' paths through the writer, and max_rows cutting a chunk short. */
static void test_flat_batches(void **state)
{
    (void)state;
    exec("CREATE OR REPLACE TABLE flat AS SELECT i AS id, "
         "CASE WHEN i % 7 = 0 THEN NULL ELSE i % 3 = 0 END AS b, "
         "CASE WHEN i % 11 = 0 THEN NULL ELSE (i % 100)::TINYINT END AS i8, "
         "(i % 30000 - 15000)::SMALLINT AS i16, (i * 7)::INTEGER AS i32, CASE WHEN i % 13 = 1 THEN "
         "NULL ELSE i * "
         "100000000000 END AS i64, (i % 200)::UTINYINT AS u8, (i % 60000)::USMALLINT AS u16, "
         "(i * 3)::UINTEGER AS u32, (i * 18446744073)::UBIGINT AS u64, (i / 3.0)::FLOAT AS f32, "
         "CASE WHEN i % 5 = 0 THEN NULL ELSE i / 7.0 END::DOUBLE AS f64, "
         "((i % 7000) * -0.125)::DECIMAL(4,1) AS d4, (i * -1.25)::DECIMAL(9,2) AS d9, "
         "(i * -1.5)::DECIMAL(18,3) AS d18, (i * -12345678901.123456789)::DECIMAL(38,10) AS d38, "
         "CASE WHEN i % 9 = 4 THEN NULL WHEN i % 9 = 5 THEN '' ELSE 's' || i || repeat('é', "
         "(i % 17)::INTEGER) END AS s, CASE WHEN i % 4 = 0 THEN NULL ELSE ('b' || i)::BLOB END AS "
         "bl, DATE '2020-01-01' + (i % 10000)::INTEGER AS dt, TIME '00:00:00' + INTERVAL (i % "
         "86400) SECOND AS t, TIMESTAMP '2020-01-01 00:00:00.123456' + INTERVAL (i) SECOND AS ts, "
         "TIMESTAMPTZ '2021-06-01 00:00:00+00' + INTERVAL (i) MINUTE AS tz, "
         "('2020-01-01'::TIMESTAMP_S + INTERVAL (i) SECOND)::TIMESTAMP_S AS ts_s, "
         "('2020-01-01'::TIMESTAMP_MS + INTERVAL (i) SECOND)::TIMESTAMP_MS AS ts_ms, "
         "('2020-01-01'::TIMESTAMP_NS + INTERVAL (i) SECOND)::TIMESTAMP_NS AS ts_ns "
         "FROM range(150000) r(i)");
    const char *q = "SELECT * FROM flat WHERE id % 3 <> 1 OR id % 5 = 0"; /* odd-sized chunks */
    bytes b = arrow_of(q);
    int64_t rows, batches, largest;
    dlb_err e = {0};
    assert_int_equal(drain_batches(b.data, b.len, &rows, &batches, &largest, &e), 0);
    int64_t want = scalar_i64("SELECT count(*) FROM flat WHERE id % 3 <> 1 OR id % 5 = 0");
    assert_int_equal(rows, want);
    assert_true(batches >= 2 && largest <= ARROW_BATCH_ROWS + (int64_t)duckdb_vector_size());
    struct ArrowArrayStream st;
    ipc_reader *r = scan_as(&b, "flat_rt", &st);
    assert_int_equal(scalar_i64("SELECT count(*) FROM (DESCRIBE flat) a JOIN (DESCRIBE flat_rt) b "
                                "USING (column_name) WHERE a.column_type <> b.column_type "
                                "AND a.column_name NOT IN ('tz')"),
                     0);
    exec("CREATE OR REPLACE TABLE flat_rt_t AS SELECT * FROM flat_rt");
    exec("CREATE OR REPLACE TABLE flat_want AS SELECT * FROM flat WHERE id % 3 <> 1 OR id % 5 = 0");
    compare_tables("flat_want", "flat_rt_t");
    exec("DROP VIEW flat_rt");
    ipc_reader_close(r);
    free(b.data);

    /* narrow rows: several odd-sized chunks gathered into one batch */
    b = arrow_of("SELECT id, b, i8, s FROM flat WHERE id % 3 <> 1 OR id % 5 = 0");
    assert_int_equal(drain_batches(b.data, b.len, &rows, &batches, &largest, &e), 0);
    assert_int_equal(rows, want);
    assert_true(largest > (int64_t)duckdb_vector_size());
    r = scan_as(&b, "narrow_rt", &st);
    exec("CREATE OR REPLACE TABLE narrow_rt_t AS SELECT * FROM narrow_rt");
    exec("CREATE OR REPLACE TABLE narrow_want AS SELECT id, b, i8, s FROM flat WHERE id % 3 <> 1 "
         "OR id % 5 = 0");
    compare_tables("narrow_want", "narrow_rt_t");
    exec("DROP VIEW narrow_rt");
    ipc_reader_close(r);
    free(b.data);

    /* max_rows in the middle of a chunk */
    duckdb_prepared_statement ps;
    assert_int_equal(query_prepare(g_con, "SELECT id, s FROM flat ORDER BY id", &ps, &e), 0);
    bytes c = {0};
    query_limits lim = {.max_rows = 70001};
    query_outcome out;
    assert_int_equal(query_run(g_con, ps, QF_ARROW, &lim, sink_fn, &c, &out, &e), 0);
    duckdb_destroy_prepare(&ps);
    assert_int_equal(out.rows, 70001);
    assert_true(out.truncated);
    assert_int_equal(drain(c.data, c.len, &rows, &e), 0);
    assert_int_equal(rows, 70001);
    r = scan_as(&c, "flat_cut", &st);
    assert_int_equal(scalar_i64("SELECT count(*) FROM flat_cut JOIN flat USING (id) WHERE "
                                "flat_cut.s IS NOT DISTINCT FROM flat.s AND id < 70001"),
                     70001);
    exec("DROP VIEW flat_cut");
    ipc_reader_close(r);
    free(c.data);
}

static void test_negotiate(void **state)
{
    (void)state;
    query_format f = QF_JSON;
    assert_int_equal(query_negotiate("application/vnd.apache.arrow.stream", &f), 0);
    assert_int_equal(f, QF_ARROW);
    assert_int_equal(query_negotiate("*/*", &f), 0);
    assert_int_equal(f, QF_JSON);
    assert_int_equal(
        query_negotiate("application/json;q=0.5, application/vnd.apache.arrow.stream", &f), 0);
    assert_int_equal(f, QF_ARROW);
    assert_string_equal(query_content_type(QF_ARROW), "application/vnd.apache.arrow.stream");
    assert_non_null(strstr(query_supported_types(), "arrow"));
    ingest_format g;
    assert_int_equal(ingest_format_pick("application/vnd.apache.arrow.stream", NULL, &g), 0);
    assert_int_equal(g, INGEST_ARROW);
    assert_int_equal(ingest_format_pick("application/vnd.apache.arrow.file; x=1", NULL, &g), 0);
    assert_int_equal(g, INGEST_ARROW);
    assert_int_equal(ingest_format_pick("application/octet-stream", "t.arrow", &g), 0);
    assert_int_equal(g, INGEST_ARROW);
    assert_int_equal(ingest_format_pick(NULL, "t.arrows", &g), 0);
    assert_int_equal(g, INGEST_ARROW);
}

/* ---- malformed input ------------------------------------------------------------------------ */

static void expect_error(const void *data, size_t len, const char *needle)
{
    dlb_err e = {0};
    if (drain(data, len, NULL, &e) == 0) fail_msg("accepted, expected '%s'", needle);
    assert_int_equal(e.status, 400);
    assert_string_equal(e.code, "invalid_arrow");
    if (!strstr(e.detail, needle)) fail_msg("'%s' does not say '%s'", e.detail, needle);
}

/* A hand-made one-column batch: a utf8 column with the given offsets and data. */
static bytes utf8_stream(const int32_t *off, int64_t n, const char *data)
{
    struct ArrowSchema col = {.format = "u", .name = "s", .flags = ARROW_FLAG_NULLABLE};
    struct ArrowSchema *kids[] = {&col};
    struct ArrowSchema root = {.format = "+s", .name = "", .n_children = 1, .children = kids};
    const void *cb[] = {NULL, off, data};
    struct ArrowArray ca = {.length = n, .n_buffers = 3, .buffers = cb};
    struct ArrowArray *ck[] = {&ca};
    const void *rb[] = {NULL};
    struct ArrowArray ra = {
        .length = n, .n_buffers = 1, .buffers = rb, .n_children = 1, .children = ck};
    bytes b = {0};
    dlb_err e = {0};
    ipc_writer *w = ipc_writer_new(&root, 0, 0, sink_fn, &b, &e);
    assert_non_null(w);
    assert_int_equal(ipc_writer_batch(w, &ra, &e), 0);
    assert_int_equal(ipc_writer_end(w, &e), 0);
    ipc_writer_free(w);
    return b;
}

static void test_malformed(void **state)
{
    (void)state;
    dlb_err e = {0};
    expect_error("", 0, "empty");
    expect_error("\xff\xff\xff\xff", 4, "truncated");
    /* decreasing offsets, invalid UTF-8 */
    int32_t bad_off[] = {0, 5, 3};
    bytes b = utf8_stream(bad_off, 2, "hello");
    expect_error(b.data, b.len, "decreasing");
    free(b.data);
    int32_t ok_off[] = {0, 2, 4};
    b = utf8_stream(ok_off, 2, "ab\xff\xfe");
    expect_error(b.data, b.len, "UTF-8");
    free(b.data);
    b = utf8_stream(ok_off, 2, "abcd");
    assert_int_equal(drain(b.data, b.len, NULL, &e), 0);
    /* metadata length beyond the input */
    bytes c = {malloc(b.len), b.len, b.len};
    memcpy(c.data, b.data, b.len);
    memcpy(c.data + 4, "\xff\xff\xff\x7f", 4);
    expect_error(c.data, c.len, "exceeds");
    /* root offset outside the flatbuffer */
    memcpy(c.data, b.data, b.len);
    memcpy(c.data + 8, "\x00\xff\xff\x0f", 4);
    expect_error(c.data, c.len, "flatbuffer");
    /* a vtable offset pointing outside (soffset of the root table) */
    memcpy(c.data, b.data, b.len);
    uint32_t root;
    memcpy(&root, c.data + 8, 4);
    memcpy(c.data + 8 + root, "\x00\x00\x00\x80", 4);
    expect_error(c.data, c.len, "flatbuffer");
    /* every truncation: an error or a clean shorter read, never a crash */
    for (size_t k = 0; k < b.len; k++)
        drain(b.data, k, NULL, &e);
    /* every single-byte corruption */
    for (size_t k = 0; k < b.len; k++) {
        memcpy(c.data, b.data, b.len);
        c.data[k] ^= 0x5a;
        drain(c.data, c.len, NULL, &e);
        c.data[k] = 0xff;
        drain(c.data, c.len, NULL, &e);
    }
    free(c.data);
    free(b.data);
    /* a list whose offsets reach past its child */
    struct ArrowSchema item = {.format = "i", .name = "item", .flags = ARROW_FLAG_NULLABLE};
    struct ArrowSchema *ik[] = {&item};
    struct ArrowSchema lcol = {.format = "+l", .name = "l", .n_children = 1, .children = ik};
    struct ArrowSchema *lk[] = {&lcol};
    struct ArrowSchema root_s = {.format = "+s", .name = "", .n_children = 1, .children = lk};
    int32_t vals[] = {1, 2};
    int32_t loff[] = {0, 10};
    const void *ib[] = {NULL, vals};
    struct ArrowArray ia = {.length = 2, .n_buffers = 2, .buffers = ib};
    struct ArrowArray *iak[] = {&ia};
    const void *lb[] = {NULL, loff};
    struct ArrowArray la = {
        .length = 1, .n_buffers = 2, .buffers = lb, .n_children = 1, .children = iak};
    struct ArrowArray *lak[] = {&la};
    const void *rb[] = {NULL};
    struct ArrowArray ra = {
        .length = 1, .n_buffers = 1, .buffers = rb, .n_children = 1, .children = lak};
    bytes d = {0};
    ipc_writer *w = ipc_writer_new(&root_s, 0, 0, sink_fn, &d, &e);
    assert_non_null(w);
    assert_int_equal(ipc_writer_batch(w, &ra, &e), 0);
    assert_int_equal(ipc_writer_end(w, &e), 0);
    ipc_writer_free(w);
    expect_error(d.data, d.len, "needed");
    free(d.data);
    /* file format: bad footer */
    bytes f = arrow_of("SELECT 1 AS x");
    expect_error("ARROW1\0\0\0\0\0\0\0\0ARROW1", 20, "footer");
    expect_error("ARROW1\0\0garbage", 15, "magic");
    free(f.data);
}

/* Seeds made by apache-arrow (tests/fuzz/corpus/arrow): dictionaries, both formats. */
static void test_corpus_files(void **state)
{
    (void)state;
    static const char *const files[] = {"tests/fuzz/corpus/arrow/js_dict.arrows",
                                        "tests/fuzz/corpus/arrow/js_dict.arrow"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        if (access(files[i], R_OK)) continue;
        dlb_err e = {0};
        ipc_reader *r = ipc_reader_open_path(files[i], &e);
        if (!r) fail_msg("%s: %s", files[i], e.detail);
        struct ArrowArrayStream st;
        ipc_reader_stream(r, &st);
        assert_int_equal(duckdb_arrow_scan(g_con, "js", (duckdb_arrow_stream)&st), DuckDBSuccess);
        /* read whole (no projection or filter reaches the stream: see ingest.h) */
        exec("CREATE OR REPLACE TABLE js_t AS SELECT * FROM js");
        exec("DROP VIEW js");
        assert_int_equal(scalar_i64("SELECT count(*) FROM js_t WHERE color = 'red'"), 2);
        assert_int_equal(scalar_i64("SELECT count(*) FROM js_t WHERE color IS NULL AND n IS NULL"),
                         1);
        assert_int_equal(scalar_i64("SELECT sum(n) + sum(len(l)) FROM js_t"), 12 + 4);
        assert_int_equal(scalar_i64("SELECT count(*) FROM js_t WHERE st.b = 'y' AND st.a IS NULL"),
                         1);
        ipc_reader_close(r);
    }
}

static void test_ingest_source(void **state)
{
    (void)state;
    bytes b = arrow_of("SELECT id, s, u, l FROM src WHERE id < 100");
    const char *path = "build/test_arrow_ingest.arrows";
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(b.data, 1, b.len, f);
    fclose(f);
    /* table order differs from the input's: the scan must still read the right columns */
    const char *names[] = {"l", "extra", "u", "id", "s"};
    const char *types[] = {"INTEGER[]", "VARCHAR", "UUID", "INTEGER", "VARCHAR"};
    char *sql = NULL;
    long long hint;
    dlb_err e = {0};
    if (ingest_source(g_con, INGEST_ARROW, path, "build/unused", names, types, 5, &sql, &hint, &e))
        fail_msg("ingest_source: %s", e.detail);
    char q[1024];
    /* as lake_append reads it: whole */
    snprintf(q, sizeof(q), "CREATE OR REPLACE TEMP TABLE staged AS SELECT * FROM %s", sql);
    exec(q);
    assert_int_equal(scalar_i64("SELECT count(*) FROM staged s JOIN src USING (id) WHERE "
                                "s.extra IS NULL AND s.l[1] = id AND s.u = src.u AND s.s = src.s"),
                     100);
    free(sql);
    ingest_release(g_con);
    /* a column the table lacks: 422 */
    if (ingest_source(g_con, INGEST_ARROW, path, "build/unused", names + 2, types + 2, 2, &sql,
                      &hint, &e) == 0)
        fail_msg("accepted an unknown column");
    assert_int_equal(e.status, 422);
    /* a broken body: 400 before DuckDB sees it */
    f = fopen(path, "wb");
    fwrite(b.data, 1, b.len / 2, f);
    fclose(f);
    assert_int_equal(
        ingest_source(g_con, INGEST_ARROW, path, "build/unused", names, types, 5, &sql, &hint, &e),
        -1);
    assert_int_equal(e.status, 400);
    ingest_release(g_con);
    ingest_release(g_con);
    unlink(path);
    free(b.data);
}

static int setup(void **state)
{
    (void)state;
    if (duckdb_open(NULL, &g_db) == DuckDBError || duckdb_connect(g_db, &g_con) == DuckDBError)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    duckdb_disconnect(&g_con);
    duckdb_close(&g_db);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_stream),
        cmocka_unit_test(test_roundtrip_file),
        cmocka_unit_test(test_empty_and_truncated_result),
        cmocka_unit_test(test_flat_batches),
        cmocka_unit_test(test_negotiate),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_corpus_files),
        cmocka_unit_test(test_ingest_source),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
