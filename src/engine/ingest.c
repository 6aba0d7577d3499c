#include "ingest.h"

#include "engine/arrow/ipc_read.h"
#include "engine/ndjson_scan.h"
#include "util/buf.h"
#include "util/json_rows.h"
#include "util/sqlq.h"

#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
    const char *ctype, *ext;
    ingest_format fmt;
} formats[] = {
    {"application/json", ".json", INGEST_JSON},
    {"application/x-ndjson", ".ndjson", INGEST_NDJSON},
    {"application/ndjson", ".jsonl", INGEST_NDJSON},
    {"application/jsonlines", NULL, INGEST_NDJSON},
    {"text/csv", ".csv", INGEST_CSV},
    {"application/vnd.apache.parquet", ".parquet", INGEST_PARQUET},
    {"application/parquet", NULL, INGEST_PARQUET},
    {"application/x-parquet", NULL, INGEST_PARQUET},
    {"application/vnd.apache.arrow.stream", ".arrows", INGEST_ARROW},
    {"application/vnd.apache.arrow.file", ".arrow", INGEST_ARROW},
    {"application/x-apache-arrow-stream", NULL, INGEST_ARROW},
};
#define NFORMATS (sizeof(formats) / sizeof(formats[0]))

const char *ingest_supported(void)
{
    return "application/json, application/x-ndjson, text/csv, application/vnd.apache.parquet, "
           "application/vnd.apache.arrow.stream, application/vnd.apache.arrow.file "
           "(or multipart/form-data with a 'file' field)";
}

int ingest_format_pick(const char *content_type, const char *filename, ingest_format *out)
{
    if (content_type) {
        size_t n = strcspn(content_type, "; ");
        for (size_t i = 0; i < NFORMATS; i++) {
            if (strlen(formats[i].ctype) == n &&
                strncasecmp(content_type, formats[i].ctype, n) == 0) {
                *out = formats[i].fmt;
                return 0;
            }
        }
    }
    const char *dot = filename ? strrchr(filename, '.') : NULL;
    for (size_t i = 0; dot && i < NFORMATS; i++) {
        if (formats[i].ext && strcasecmp(dot, formats[i].ext) == 0) {
            *out = formats[i].fmt;
            return 0;
        }
    }
    return -1;
}

/* DuckDB's first line says what went wrong; the rest repeats the query. */
static void duck_error(dlb_err *err, int status, const char *code, const char *what,
                       const char *msg)
{
    char first[600];
    snprintf(first, sizeof(first), "%s", msg ? msg : "unknown error");
    first[strcspn(first, "\n")] = 0;
    dlb_err_set(err, status, code, "%s: %s", what, first);
}

/* Nested and JSON columns travel as JSON so that DuckDB's JSON casts apply; scalars as text. */
static const char *json_carrier(const char *type)
{
    if (strchr(type, '(') && strncasecmp(type, "DECIMAL", 7) && strncasecmp(type, "NUMERIC", 7))
        return "JSON";
    if (strstr(type, "[]") || strcasecmp(type, "JSON") == 0) return "JSON";
    return "VARCHAR";
}

/* Names of the columns a file-reading expression yields, via DESCRIBE. */
static int describe(duckdb_connection con, const char *from, char ***names, int *n, dlb_err *err)
{
    buf_t q;
    buf_init(&q, 0);
    buf_printf(&q, "DESCRIBE SELECT * FROM %s", from);
    duckdb_result r;
    int rc = -1;
    if (duckdb_query(con, q.data, &r) == DuckDBError) {
        duck_error(err, 422, "invalid_input", "cannot read the input", duckdb_result_error(&r));
        goto out;
    }
    idx_t rows = duckdb_row_count(&r);
    *names = calloc(rows + 1, sizeof(char *));
    if (!*names) goto out;
    for (idx_t i = 0; i < rows; i++) {
        char *v = duckdb_value_varchar(&r, 0, i);
        (*names)[i] = strdup(v ? v : "");
        duckdb_free(v);
    }
    *n = (int)rows;
    rc = 0;
out:
    duckdb_destroy_result(&r);
    buf_free(&q);
    return rc;
}

static void free_names(char **names, int n)
{
    for (int i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
}

static int find(const char *const *names, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0) return i;
    return -1;
}

/* One of DuckDB's sniffer candidates (sniff_csv shows "no character" as "(empty)"): only these
 * reach the SQL text; anything else keeps the auto-detecting read. */
static const char *csv_opt(const char *v, const char *const *allowed)
{
    if (!v) return NULL;
    if (strcmp(v, "(empty)") == 0) v = "";
    for (; *allowed; allowed++)
        if (strcmp(v, *allowed) == 0) return *allowed;
    return NULL;
}

/* The CSV read with the sniffed dialect given explicitly (auto_detect=false), so DuckDB sniffs
 * the body once instead of twice (a DESCRIBE for the header's names, then the read):
 *     read_csv(<path>, auto_detect=false, delim=..., quote=..., escape=..., new_line=...,
 *              skip=N, comment=..., header=true, columns={<name>: 'VARCHAR', ...},
 *              allow_quoted_nulls=false)
 * The header's names must all be table columns (else 422, as before); the text holds only the
 * table's own names and sniffer candidates. *have gets the names in file order. 1 when the
 * dialect is not one of the known candidates or cannot be sniffed (the caller keeps the
 * auto-detecting read, which reports the error), 0, or -1 with err set. */
static int csv_explicit(duckdb_connection con, const char *path, const char *const *names,
                        int ncols, buf_t *from, char ***have, int *nhave, dlb_err *err)
{
    static const char *const delims[] = {",", "|", ";", "\t", NULL};
    static const char *const quotes[] = {"", "\"", "'", "\\", NULL};
    static const char *const comments[] = {"", "#", ";", NULL};
    static const char *const newlines[] = {"\\n", "\\r\\n", "\\r", "mix", NULL};
    buf_t q;
    buf_init(&q, 0);
    int rc = 1;
    int fail = buf_appends(&q, "SELECT Delimiter, Quote, Escape, NewLineDelimiter, Comment, "
                               "SkipRows, unnest(list_transform(Columns, c -> c.name)) FROM "
                               "sniff_csv(");
    fail |= sqlq_string(&q, path);
    fail |= buf_appends(&q, ", header=true, all_varchar=true, allow_quoted_nulls=false)");
    duckdb_result r;
    if (fail || duckdb_query(con, q.data, &r) == DuckDBError) {
        if (!fail) duckdb_destroy_result(&r);
        buf_free(&q);
        return 1;
    }
    buf_free(&q);
    idx_t n = duckdb_row_count(&r);
    char *v[6] = {0};
    for (int k = 0; n > 0 && k < 6; k++)
        v[k] = duckdb_value_varchar(&r, (idx_t)k, 0);
    const char *delim = csv_opt(v[0], delims), *quote = csv_opt(v[1], quotes);
    const char *escape = csv_opt(v[2], quotes), *nl = csv_opt(v[3], newlines);
    const char *comment = csv_opt(v[4], comments);
    if (n == 0 || !delim || !quote || !escape || !nl || !comment) goto out;
    *have = calloc(n + 1, sizeof(char *));
    if (!*have) goto out;
    for (idx_t i = 0; i < n; i++) {
        char *name = duckdb_value_varchar(&r, 6, i);
        int at = name ? find(names, ncols, name) : -1;
        if (at < 0) {
            dlb_err_set(err, 422, "unknown_column",
                        "the input has a column '%.200s' that the table does not have",
                        name ? name : "");
            duckdb_free(name);
            rc = -1;
            goto out;
        }
        duckdb_free(name);
        (*have)[i] = strdup(names[at]);
        if (!(*have)[i]) goto out;
        *nhave = (int)i + 1;
    }
    fail = buf_appends(from, "read_csv(");
    fail |= sqlq_string(from, path);
    fail |= buf_appends(from, ", auto_detect=false, delim=");
    fail |= sqlq_string(from, delim);
    fail |= buf_appends(from, ", quote=");
    fail |= sqlq_string(from, quote);
    fail |= buf_appends(from, ", escape=");
    fail |= sqlq_string(from, escape);
    if (strcmp(nl, "mix") != 0) {
        fail |= buf_appends(from, ", new_line=");
        fail |= sqlq_string(from, nl);
    }
    fail |= buf_printf(from, ", skip=%lld, comment=", atoll(v[5] ? v[5] : "0"));
    fail |= sqlq_string(from, comment);
    fail |= buf_appends(from, ", header=true, columns={");
    for (int i = 0; i < *nhave; i++) {
        if (i) fail |= buf_appends(from, ", ");
        fail |= sqlq_string(from, (*have)[i]);
        fail |= buf_appends(from, ": 'VARCHAR'");
    }
    /* allow_quoted_nulls=false: "" is an empty string, only an empty field is NULL (what our
     * CSV answers write, so they can be appended again) */
    fail |= buf_appends(from, "}, allow_quoted_nulls=false)");
    rc = fail ? 1 : 0;
out:
    if (rc == 1) {
        free_names(*have, *nhave);
        *have = NULL;
        *nhave = 0;
        buf_reset(from);
    }
    for (int k = 0; k < 6; k++)
        duckdb_free(v[k]);
    duckdb_destroy_result(&r);
    return rc;
}

/* Keys of JSON rows that are not columns of the table: the first one found gives 422. */
static int check_json_keys(duckdb_connection con, const char *path, const char *const *names,
                           int ncols, long long cap, dlb_err *err)
{
    buf_t q;
    buf_init(&q, 0);
    buf_appends(&q, "SELECT rn, k FROM (SELECT row_number() OVER () AS rn, json_keys(json) AS ks "
                    "FROM read_json_objects(");
    sqlq_string(&q, path);
    buf_printf(&q, ", format='newline_delimited', maximum_object_size=%lld)) t, ", cap);
    buf_appends(&q, "unnest(t.ks) AS u(k) WHERE k NOT IN (");
    for (int i = 0; i < ncols; i++) {
        if (i) buf_appends(&q, ", ");
        sqlq_string(&q, names[i]);
    }
    buf_appends(&q, ") ORDER BY rn LIMIT 1");
    duckdb_result r;
    int rc = -1;
    if (duckdb_query(con, q.data, &r) == DuckDBError) {
        duck_error(err, 422, "invalid_input", "cannot read the JSON rows", duckdb_result_error(&r));
    } else if (duckdb_row_count(&r) > 0) {
        char *key = duckdb_value_varchar(&r, 1, 0);
        dlb_err_set(err, 422, "unknown_column", "row %lld: the table has no column '%.200s'",
                    (long long)duckdb_value_int64(&r, 0, 0), key ? key : "");
        duckdb_free(key);
    } else {
        rc = 0;
    }
    duckdb_destroy_result(&r);
    buf_free(&q);
    return rc;
}

/* ---- NDJSON pre-scan (one pass in C) ------------------------------------------------------ */

/* One pass over the NDJSON body: the longest line and the top-level
 * keys of every row checked against the table's columns, byte by byte (no DuckDB query, no
 * window over the rows). The first unknown key gives 422 naming its row (1-based, counted by
 * top-level values, i.e. by line for NDJSON). A key written with a backslash escape is left to
 * check_json_keys (DuckDB unescapes it), which then runs as before; that is rare.
 * maximum_object_size for read_json is the longest line of the file (+1), at least 1 MiB, at
 * most 1 GiB: DuckDB's JSON reader reserves buffers of about twice this size per reader and
 * counts them against memory_limit, so a fixed 1 GiB made 8 concurrent appends of a few rows
 * fail with "Out of Memory Error ... 18.0 GiB used". */
static int ndjson_prescan(duckdb_connection con, const char *path, const char *const *names,
                          int ncols, long long *cap_out, dlb_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st)) {
        if (fd >= 0) close(fd);
        dlb_err_set(err, 500, "internal_error", "cannot read the JSON rows");
        return -1;
    }
    size_t size = (size_t)st.st_size;
    void *m = size ? mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    const unsigned char *base = m == MAP_FAILED ? NULL : m;
    close(fd);
    if (size && !base) {
        dlb_err_set(err, 500, "internal_error", "cannot map the JSON rows");
        return -1;
    }
    if (size) madvise((void *)base, size, MADV_SEQUENTIAL);
    ndjson_scan sc;
    ndjson_scan_run(base, base + size, names, ncols, &sc);
    if (sc.bad_row)
        dlb_err_set(err, 422, "unknown_column", "row %lld: the table has no column '%.*s'",
                    sc.bad_row, (int)(sc.bad_len > 200 ? 200 : sc.bad_len),
                    (const char *)sc.bad_key);
    if (size) munmap((void *)base, size);
    if (sc.bad_row) return -1;
    long long longest = sc.longest + 1;
    if (longest < (1LL << 20)) longest = 1LL << 20;
    if (longest > (1LL << 30)) longest = 1LL << 30;
    *cap_out = longest;
    return sc.escaped ? check_json_keys(con, path, names, ncols, longest, err) : 0;
}

/* ---- end of the NDJSON pre-scan ------------------------------------------------------------ */

/* ---- JSON -> NDJSON fast path ------------------------------------------------------------- */

static const unsigned char *skip_blank(const unsigned char *p, const unsigned char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* The common layouts ([...], or {"rows": [...]} with "rows" its only key) copied from the
 * mapped body to out, one row per line, blanks outside strings dropped: what
 * json_rows_to_ndjson writes, with memchr and one fwrite per row instead of getc/putc per byte
 * (those take the stream lock every byte in a threaded process: ~8 s for 92 MB). The row
 * count; -2 for anything else (json_rows_to_ndjson then converts it or names the error); -1 on
 * a write error. */
static int64_t json_rows_fast(const unsigned char *p, const unsigned char *end, FILE *out)
{
    static const unsigned char cls[256] = {['"'] = 1, ['{'] = 2,  ['['] = 2,  ['}'] = 3, [']'] = 3,
                                           [' '] = 4, ['\t'] = 4, ['\n'] = 4, ['\r'] = 4};
    int obj = 0;
    int64_t n = 0;
    p = skip_blank(p, end);
    if (p < end && *p == '{') {
        obj = 1;
        p = skip_blank(p + 1, end);
        if (end - p < 6 || memcmp(p, "\"rows\"", 6)) return -2;
        p = skip_blank(p + 6, end);
        if (p == end || *p != ':') return -2;
        p = skip_blank(p + 1, end);
    }
    if (p == end || *p != '[') return -2;
    p = skip_blank(p + 1, end);
    if (p < end && *p == ']') {
        p++;
        goto tail;
    }
    for (;;) {
        if (p == end || (*p != '{' && *p != '[')) return -2;
        const unsigned char *span = p;
        int depth = 0;
        while (p < end) {
            unsigned char k = cls[*p];
            if (!k) {
                p++;
            } else if (k == 1) { /* a string: to the first '"' after an even run of '\' */
                const unsigned char *s = ++p, *q;
                for (;;) {
                    q = memchr(p, '"', (size_t)(end - p));
                    if (!q) return -2;
                    size_t nb = 0;
                    while (q - nb > s && q[-1 - (ptrdiff_t)nb] == '\\')
                        nb++;
                    p = q + 1;
                    if (nb % 2 == 0) break;
                }
                unsigned char bad = 0; /* control characters: the slow path names them */
                for (const unsigned char *c = s; c < q; c++)
                    bad |= *c < 0x20;
                if (bad) return -2;
            } else if (k == 4) {
                if (p > span &&
                    fwrite_unlocked(span, 1, (size_t)(p - span), out) != (size_t)(p - span))
                    return -1;
                span = ++p;
            } else {
                depth += k == 2 ? 1 : -1;
                p++;
                if (depth == 0) break;
            }
        }
        if (depth) return -2;
        if (p > span && fwrite_unlocked(span, 1, (size_t)(p - span), out) != (size_t)(p - span))
            return -1;
        if (putc_unlocked('\n', out) == EOF) return -1;
        n++;
        p = skip_blank(p, end);
        if (p == end) return -2;
        if (*p == ']') {
            p++;
            break;
        }
        if (*p != ',') return -2;
        p = skip_blank(p + 1, end);
    }
tail:
    p = skip_blank(p, end);
    if (obj) {
        if (p == end || *p != '}') return -2;
        p = skip_blank(p + 1, end);
    }
    return p == end ? n : -2;
}

/* 1: done (*rows set), 0: not the common layout, -1: error (err set). */
static int json_to_ndjson_fast(const char *path, const char *scratch, long long *rows, dlb_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) || st.st_size == 0) {
        if (fd >= 0) close(fd);
        return 0;
    }
    size_t size = (size_t)st.st_size;
    void *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return 0;
    madvise(m, size, MADV_SEQUENTIAL);
    FILE *out = fopen(scratch, "wb");
    int64_t n = -1;
    if (out) {
        setvbuf(out, NULL, _IOFBF, 1 << 20);
        n = json_rows_fast(m, (const unsigned char *)m + size, out);
        if (fclose(out) && n >= 0) n = -1;
    }
    munmap(m, size);
    if (n == -2) return 0;
    if (n < 0) {
        dlb_err_set(err, 500, "internal_error", "cannot convert the JSON body");
        return -1;
    }
    *rows = n;
    return 1;
}

/* ---- end of the JSON -> NDJSON fast path --------------------------------------------------- */

static int json_to_ndjson(const char *path, const char *scratch, long long *rows, dlb_err *err)
{
    int fast = json_to_ndjson_fast(path, scratch, rows, err);
    if (fast) return fast > 0 ? 0 : -1;
    FILE *in = fopen(path, "rb"), *out = fopen(scratch, "wb");
    char msg[256] = "";
    int64_t n = -1;
    if (in && out) n = json_rows_to_ndjson(in, out, msg, sizeof(msg));
    if (in) fclose(in);
    if (out && fclose(out)) n = -1;
    if (n < 0) {
        dlb_err_set(err, msg[0] ? 400 : 500, msg[0] ? "invalid_json" : "internal_error", "%s",
                    msg[0] ? msg : "cannot convert the JSON body");
        return -1;
    }
    *rows = n;
    return 0;
}

/* Exact DECIMALs from JSON. DuckDB's JSON reader (yyjson) parses a non-integer number into a
 * double, so 9999999999999999999999999999.9999999999 reaches a DECIMAL(38,10) column as 1e+28
 * (422) and 0.12345678901234567 loses digits. A double keeps 15 significant digits, so only
 * DECIMALs with precision > 15 are at risk: for those columns, top-level number values are
 * rewritten as JSON strings (text casts to DECIMAL exactly) before DuckDB reads the file.
 * Values nested in LIST/STRUCT/MAP columns are not rewritten (documented limitation); keys with
 * escapes never match a column name (names are plain identifiers). */
static int wide_decimal(const char *type)
{
    int p = 18; /* DuckDB's default DECIMAL is (18,3) */
    if (strncasecmp(type, "DECIMAL", 7) && strncasecmp(type, "NUMERIC", 7)) return 0;
    const char *paren = strchr(type, '(');
    if (paren) p = atoi(paren + 1);
    return p > 15 && !strchr(type, '[');
}

static int quote_wide_numbers(const char *in_path, const char *out_path, const char *const *names,
                              const char *const *types, int ncols, dlb_err *err)
{
    FILE *in = fopen(in_path, "rb"), *out = in ? fopen(out_path, "wb") : NULL;
    char key[256];
    size_t klen = 0;
    int depth = 0, c, in_str = 0, esc = 0, is_key = 0, want = 0, in_num = 0, rc = -1;
    int after_colon = 0; /* depth 1, after "key": -> the next token is that key's value */
    if (!in || !out) goto done;
    while ((c = getc_unlocked(in)) != EOF) {
        if (in_num) {
            if (strchr("0123456789+-.eE", c)) {
                putc_unlocked(c, out);
                continue;
            }
            putc_unlocked('"', out);
            in_num = 0;
        }
        if (in_str) {
            putc_unlocked(c, out);
            if (esc) {
                esc = 0;
                if (is_key && klen < sizeof(key)) key[klen++] = '\\';
            } else if (c == '\\') {
                esc = 1;
            } else if (c == '"') {
                in_str = 0;
            } else if (is_key && klen < sizeof(key)) {
                key[klen++] = (char)c;
            }
            continue;
        }
        switch (c) {
        case '"':
            in_str = 1;
            /* at depth 1 a string that is not a value is a key */
            is_key = depth == 1 && !after_colon;
            if (is_key) klen = 0;
            after_colon = 0;
            break;
        case ':':
            if (depth == 1) {
                want = 0;
                for (int i = 0; i < ncols && klen < sizeof(key); i++)
                    if (strlen(names[i]) == klen && memcmp(names[i], key, klen) == 0)
                        want = wide_decimal(types[i]);
                after_colon = 1;
            }
            break;
        case '{':
        case '[':
            depth++;
            after_colon = 0;
            break;
        case '}':
        case ']':
            depth--;
            break;
        case ',':
            after_colon = 0;
            break;
        default:
            if (after_colon && want && (c == '-' || (c >= '0' && c <= '9'))) {
                putc_unlocked('"', out);
                in_num = 1;
                after_colon = 0;
            } else if (!strchr(" \t\r\n", c)) {
                after_colon = 0;
            }
        }
        putc_unlocked(c, out);
    }
    if (in_num) putc_unlocked('"', out);
    rc = ferror(in) ? -1 : 0;
done:
    if (in) fclose(in);
    if (out && fclose(out)) rc = -1;
    if (rc) dlb_err_set(err, 500, "internal_error", "cannot prepare the JSON rows");
    return rc;
}

/* INTERVAL text in ISO 8601 (`P1Y2M3DT4H5M6.789S`, what our JSON/NDJSON/CSV answers hold) is
 * rewritten into DuckDB's interval syntax (`1 years 2 months 3 days 4 hours 5 minutes 6.789
 * seconds`), so an answer can be appended again; other text goes to the cast unchanged. The
 * column name is the only input and it is quoted. */
static void interval_expr(buf_t *sql, const char *name)
{
    static const char *const date_units[][2] = {
        {"Y", "years"}, {"M", "months"}, {"W", "weeks"}, {"D", "days"}};
    static const char *const time_units[][2] = {{"H", "hours"}, {"M", "minutes"}, {"S", "seconds"}};
    buf_appends(sql, "CASE WHEN starts_with(");
    sqlq_ident(sql, name);
    buf_appends(sql, ", 'P') THEN trim(");
    for (int i = 0; i < 4; i++)
        buf_appends(sql, "regexp_replace(");
    buf_appends(sql, "split_part(");
    sqlq_ident(sql, name);
    buf_appends(sql, "[2:], 'T', 1)");
    for (int i = 0; i < 4; i++)
        buf_printf(sql, ", '([-+0-9.]+)%s', '\\1 %s ', 'g')", date_units[i][0], date_units[i][1]);
    buf_appends(sql, " || ' ' || ");
    for (int i = 0; i < 3; i++)
        buf_appends(sql, "regexp_replace(");
    buf_appends(sql, "split_part(");
    sqlq_ident(sql, name);
    buf_appends(sql, "[2:], 'T', 2)");
    for (int i = 0; i < 3; i++)
        buf_printf(sql, ", '([-+0-9.]+)%s', '\\1 %s ', 'g')", time_units[i][0], time_units[i][1]);
    buf_appends(sql, ") ELSE ");
    sqlq_ident(sql, name);
    buf_appends(sql, " END");
}

/* ---- Arrow: a view over a stream, one per connection --------------------------------------- */

typedef struct arrow_src {
    duckdb_connection con;
    char view[64];
    ipc_reader *reader;
    struct ArrowArrayStream *stream;
    struct arrow_src *next;
} arrow_src;

static pthread_mutex_t arrow_mu = PTHREAD_MUTEX_INITIALIZER;
static arrow_src *arrow_list;
static unsigned long arrow_seq;

static void arrow_src_free(arrow_src *a)
{
    char q[128];
    snprintf(q, sizeof(q), "DROP VIEW IF EXISTS \"%s\"", a->view);
    duckdb_result r;
    duckdb_query(a->con, q, &r);
    duckdb_destroy_result(&r);
    ipc_reader_close(a->reader);
    free(a->stream);
    free(a);
}

void ingest_release(duckdb_connection con)
{
    pthread_mutex_lock(&arrow_mu);
    arrow_src **pp = &arrow_list, *found = NULL;
    while (*pp) {
        if ((*pp)->con == con) {
            found = *pp;
            *pp = found->next;
            break;
        }
        pp = &(*pp)->next;
    }
    pthread_mutex_unlock(&arrow_mu);
    if (found) arrow_src_free(found);
}

/* Checks the whole input, then registers the view; its quoted name goes to from. */
static int arrow_view(duckdb_connection con, const char *path, buf_t *from, dlb_err *err)
{
    ingest_release(con);
    ipc_reader *r = ipc_reader_open_path(path, err);
    if (!r) return -1;
    for (;;) {
        struct ArrowArray a;
        if (ipc_reader_next(r, &a, err)) {
            ipc_reader_close(r);
            return -1;
        }
        if (!a.release) break;
        a.release(&a);
    }
    ipc_reader_rewind(r);
    arrow_src *s = calloc(1, sizeof(*s));
    struct ArrowArrayStream *st = calloc(1, sizeof(*st));
    if (!s || !st) {
        free(s);
        free(st);
        ipc_reader_close(r);
        dlb_err_set(err, 500, "out_of_memory", "out of memory");
        return -1;
    }
    pthread_mutex_lock(&arrow_mu);
    unsigned long seq = ++arrow_seq;
    pthread_mutex_unlock(&arrow_mu);
    s->con = con;
    s->reader = r;
    s->stream = st;
    snprintf(s->view, sizeof(s->view), "__dlb_arrow_%lu", seq);
    ipc_reader_stream(r, st);
    if (duckdb_arrow_scan(con, s->view, (duckdb_arrow_stream)st) == DuckDBError) {
        dlb_err_set(err, 422, "invalid_input", "DuckDB cannot scan this Arrow input");
        arrow_src_free(s);
        return -1;
    }
    pthread_mutex_lock(&arrow_mu);
    s->next = arrow_list;
    arrow_list = s;
    pthread_mutex_unlock(&arrow_mu);
    /* DuckDB's C API does not hand the scan's projection to the stream, yet arrow_scan takes
     * the arrays it gets as projected: the view must be read whole and in order. SELECT * binds
     * every column in order, and the caller selects every input column (unknown ones are
     * refused), so the scan's columns stay the identity. */
    buf_appends(from, "(SELECT * FROM ");
    sqlq_ident(from, s->view);
    buf_appends(from, ")");
    return 0;
}

int ingest_source(duckdb_connection con, ingest_format fmt, const char *path,
                  const char *scratch_path, const char *const *names, const char *const *types,
                  int ncols, char **sql_out, long long *rows_hint, dlb_err *err)
{
    buf_t from, sql;
    buf_init(&from, 0);
    buf_init(&sql, 0);
    char **have = NULL;
    int nhave = 0, rc = -1, explicit_csv = 1;
    *rows_hint = -1;
    *sql_out = NULL;

    if (fmt == INGEST_JSON) {
        if (json_to_ndjson(path, scratch_path, rows_hint, err)) goto out;
        path = scratch_path;
        fmt = INGEST_NDJSON;
    }
    int wide = 0;
    long long cap = 0;
    for (int i = 0; i < ncols; i++)
        wide |= wide_decimal(types[i]);
    if (fmt == INGEST_NDJSON && wide) {
        /* NDJSON: the body -> scratch; JSON: scratch -> scratch.dec, renamed over scratch (the
         * caller removes scratch_path only). */
        char tmp[4200];
        int from_scratch = path == scratch_path;
        snprintf(tmp, sizeof(tmp), "%s%s", scratch_path, from_scratch ? ".dec" : "");
        if (quote_wide_numbers(path, tmp, names, types, ncols, err)) {
            remove(tmp);
            goto out;
        }
        if (from_scratch && rename(tmp, scratch_path)) {
            remove(tmp);
            dlb_err_set(err, 500, "internal_error", "cannot prepare the JSON rows");
            goto out;
        }
        path = scratch_path;
    }
    switch (fmt) {
    case INGEST_NDJSON:
        if (ndjson_prescan(con, path, names, ncols, &cap, err)) goto out;
        buf_appends(&from, "read_json(");
        sqlq_string(&from, path);
        buf_printf(&from, ", format='newline_delimited', maximum_object_size=%lld, columns={", cap);
        for (int i = 0; i < ncols; i++) {
            if (i) buf_appends(&from, ", ");
            sqlq_string(&from, names[i]);
            buf_printf(&from, ": '%s'", json_carrier(types[i]));
        }
        buf_appends(&from, "})");
        break;
    case INGEST_CSV:
        explicit_csv = csv_explicit(con, path, names, ncols, &from, &have, &nhave, err);
        if (explicit_csv < 0) goto out;
        if (explicit_csv == 0) break;
        buf_appends(&from, "read_csv(");
        sqlq_string(&from, path);
        /* allow_quoted_nulls=false: "" is an empty string, only an empty field is NULL (what
         * our CSV answers write, so they can be appended again) */
        buf_appends(&from, ", header=true, all_varchar=true, allow_quoted_nulls=false)");
        break;
    case INGEST_ARROW:
        if (arrow_view(con, path, &from, err)) goto out;
        break;
    default:
        buf_appends(&from, "read_parquet(");
        sqlq_string(&from, path);
        buf_appends(&from, ")");
        break;
    }
    if (fmt == INGEST_NDJSON) {
        nhave = -1; /* read_json yields exactly the declared columns */
    } else if (explicit_csv != 0) {
        if (describe(con, from.data, &have, &nhave, err)) goto out;
        for (int i = 0; i < nhave; i++) {
            if (find(names, ncols, have[i]) < 0) {
                dlb_err_set(err, 422, "unknown_column",
                            "the input has a column '%.200s' that the table does not have",
                            have[i]);
                goto out;
            }
        }
    }
    /* A parenthesised subquery: lake_append takes a table expression. */
    buf_appends(&sql, "(SELECT ");
    for (int i = 0; i < ncols; i++) {
        if (i) buf_appends(&sql, ", ");
        if (nhave >= 0 && find((const char *const *)have, nhave, names[i]) < 0)
            buf_appends(&sql, "NULL::VARCHAR");
        else if ((fmt == INGEST_NDJSON || fmt == INGEST_CSV) && /* text sources only */
                 strcasecmp(types[i], "INTERVAL") == 0)
            interval_expr(&sql, names[i]);
        else
            sqlq_ident(&sql, names[i]);
        buf_appends(&sql, " AS ");
        sqlq_ident(&sql, names[i]);
    }
    buf_appends(&sql, " FROM ");
    buf_append(&sql, from.data, from.len);
    buf_appends(&sql, ")");
    *sql_out = buf_steal(&sql, NULL);
    rc = 0;
out:
    free_names(have, nhave);
    buf_free(&from);
    buf_free(&sql);
    return rc;
}
