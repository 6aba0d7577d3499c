/* Type texts, the type tree, DuckLake catalog names and identifier rules. */
#include "lake/types.h"

#include "lake/lake.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* DuckDB's reserved keywords (duckdb_keywords() WHERE keyword_category = 'reserved', v1.5). */
static const char *const reserved[] = {
    "all",          "analyse",     "analyze", "and",       "any",        "array",      "as",
    "asc",          "asymmetric",  "both",    "case",      "cast",       "check",      "collate",
    "column",       "constraint",  "create",  "default",   "deferrable", "desc",       "describe",
    "distinct",     "do",          "else",    "end",       "except",     "false",      "fetch",
    "for",          "foreign",     "from",    "group",     "having",     "in",         "initially",
    "intersect",    "into",        "lambda",  "lateral",   "leading",    "limit",      "not",
    "null",         "offset",      "on",      "only",      "or",         "order",      "pivot",
    "pivot_longer", "pivot_wider", "placing", "primary",   "qualify",    "references", "returning",
    "select",       "show",        "some",    "summarize", "symmetric",  "table",      "then",
    "to",           "trailing",    "true",    "union",     "unique",     "unpivot",    "using",
    "variadic",     "when",        "where",   "window",    "with",
};

int lake_reserved_word(const char *name)
{
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (!strcasecmp(name, reserved[i])) return 1;
    return 0;
}

int lake_identifier_ok(const char *name)
{
    if (!name || !(isalpha((unsigned char)name[0]) || name[0] == '_')) return 0;
    size_t n = 0;
    for (const char *p = name; *p; p++, n++)
        if (!(isalnum((unsigned char)*p) || *p == '_')) return 0;
    if (n > 63) return 0;
    return !lake_reserved_word(name);
}

/* ------------------------------------------------------------------ tree */

static lake_type *node_new(lake_type_kind kind)
{
    lake_type *t = calloc(1, sizeof *t);
    if (t) t->kind = kind;
    return t;
}

void lake_type_free(lake_type *t)
{
    if (!t) return;
    for (int i = 0; i < t->nchildren; i++)
        lake_type_free(t->children[i]);
    free(t->children);
    free(t->name);
    free(t);
}

int lake_type_add_child(lake_type *parent, lake_type *child)
{
    lake_type **grown = realloc(parent->children, sizeof *grown * (size_t)(parent->nchildren + 1));
    if (!grown) return -1;
    parent->children = grown;
    parent->children[parent->nchildren++] = child;
    return 0;
}

int lake_type_nested(const lake_type *t)
{
    return t->kind == LT_LIST || t->kind == LT_STRUCT || t->kind == LT_MAP;
}

int lake_type_nodes(const lake_type *t)
{
    int n = 1;
    for (int i = 0; i < t->nchildren; i++)
        n += lake_type_nodes(t->children[i]);
    return n;
}

/* ------------------------------------------------------------------ names */

static const struct {
    lake_type_kind kind;
    const char *sql;     /* DuckDB spelling */
    const char *catalog; /* DuckLake name */
    lake_cmp cmp;
} kinds[] = {
    {LT_BOOLEAN, "BOOLEAN", "boolean", LCMP_INT},
    {LT_INT8, "TINYINT", "int8", LCMP_INT},
    {LT_INT16, "SMALLINT", "int16", LCMP_INT},
    {LT_INT32, "INTEGER", "int32", LCMP_INT},
    {LT_INT64, "BIGINT", "int64", LCMP_INT},
    {LT_UINT8, "UTINYINT", "uint8", LCMP_INT},
    {LT_UINT16, "USMALLINT", "uint16", LCMP_INT},
    {LT_UINT32, "UINTEGER", "uint32", LCMP_INT},
    {LT_UINT64, "UBIGINT", "uint64", LCMP_INT},
    {LT_FLOAT32, "FLOAT", "float32", LCMP_FLOAT},
    {LT_FLOAT64, "DOUBLE", "float64", LCMP_FLOAT},
    {LT_DECIMAL, "DECIMAL", "decimal", LCMP_DECIMAL},
    {LT_VARCHAR, "VARCHAR", "varchar", LCMP_STRING},
    {LT_BLOB, "BLOB", "blob", LCMP_STRING},
    {LT_DATE, "DATE", "date", LCMP_TEMPORAL},
    {LT_TIME, "TIME", "time", LCMP_TEMPORAL},
    {LT_TIMESTAMP, "TIMESTAMP", "timestamp", LCMP_TEMPORAL},
    {LT_TIMESTAMP_S, "TIMESTAMP_S", "timestamp_s", LCMP_TEMPORAL},
    {LT_TIMESTAMP_MS, "TIMESTAMP_MS", "timestamp_ms", LCMP_TEMPORAL},
    {LT_TIMESTAMP_NS, "TIMESTAMP_NS", "timestamp_ns", LCMP_TEMPORAL},
    {LT_TIMESTAMPTZ, "TIMESTAMP WITH TIME ZONE", "timestamptz", LCMP_TEMPORAL},
    {LT_INTERVAL, "INTERVAL", "interval", LCMP_NONE},
    {LT_UUID, "UUID", "uuid", LCMP_STRING},
    {LT_JSON, "JSON", "json", LCMP_STRING},
    {LT_LIST, "LIST", "list", LCMP_NONE},
    {LT_STRUCT, "STRUCT", "struct", LCMP_NONE},
    {LT_MAP, "MAP", "map", LCMP_NONE},
};
#define NKINDS (sizeof kinds / sizeof kinds[0])

lake_cmp lake_type_cmp_class(const lake_type *t)
{
    return kinds[t->kind].cmp;
}

const char *lake_type_catalog_name(const lake_type *t, char *out, size_t outlen)
{
    if (t->kind == LT_DECIMAL)
        snprintf(out, outlen, "decimal(%d,%d)", t->precision, t->scale);
    else
        snprintf(out, outlen, "%s", kinds[t->kind].catalog);
    return out;
}

lake_type *lake_type_from_catalog(const char *name)
{
    if (!strncmp(name, "decimal(", 8)) {
        int p = 0, s = 0, used = 0;
        if (sscanf(name, "decimal(%d,%d)%n", &p, &s, &used) != 2 || name[used] != '\0' || p < 1 ||
            p > 38 || s < 0 || s > p)
            return NULL;
        lake_type *t = node_new(LT_DECIMAL);
        if (t) {
            t->precision = p;
            t->scale = s;
        }
        return t;
    }
    /* timestamp_us is the extension's alias of timestamp. */
    if (!strcmp(name, "timestamp_us")) return node_new(LT_TIMESTAMP);
    for (size_t i = 0; i < NKINDS; i++)
        if (kinds[i].kind != LT_DECIMAL && !strcmp(name, kinds[i].catalog))
            return node_new(kinds[i].kind);
    return NULL;
}

static int needs_quotes(const char *name)
{
    if (!(isalpha((unsigned char)name[0]) || name[0] == '_')) return 1;
    for (const char *p = name; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '_')) return 1;
    return lake_reserved_word(name);
}

static int append_ident(buf_t *out, const char *name, int quote)
{
    if (!quote) return buf_appends(out, name);
    if (buf_append(out, "\"", 1)) return -1;
    for (const char *p = name; *p; p++)
        if (buf_append(out, p, 1) || (*p == '"' && buf_append(out, "\"", 1))) return -1;
    return buf_append(out, "\"", 1);
}

int lake_type_sql(const lake_type *t, int quote_all, buf_t *out)
{
    switch (t->kind) {
    case LT_DECIMAL:
        return buf_printf(out, "DECIMAL(%d,%d)", t->precision, t->scale);
    case LT_LIST:
        if (t->nchildren != 1 || lake_type_sql(t->children[0], quote_all, out)) return -1;
        return buf_appends(out, "[]");
    case LT_MAP:
        if (t->nchildren != 2 || buf_appends(out, "MAP(") ||
            lake_type_sql(t->children[0], quote_all, out) || buf_appends(out, ", ") ||
            lake_type_sql(t->children[1], quote_all, out))
            return -1;
        return buf_appends(out, ")");
    case LT_STRUCT:
        if (t->nchildren < 1 || buf_appends(out, "STRUCT(")) return -1;
        for (int i = 0; i < t->nchildren; i++) {
            const lake_type *c = t->children[i];
            if ((i && buf_appends(out, ", ")) ||
                append_ident(out, c->name, quote_all || needs_quotes(c->name)) ||
                buf_appends(out, " ") || lake_type_sql(c, quote_all, out))
                return -1;
        }
        return buf_appends(out, ")");
    default:
        return buf_appends(out, kinds[t->kind].sql);
    }
}

/* ------------------------------------------------------------------ parser */

typedef enum { TK_END, TK_WORD, TK_QUOTED, TK_NUMBER, TK_PUNCT, TK_BAD } tok_kind;

typedef struct {
    const char *text; /* whole input, for messages */
    const char *p;
    tok_kind kind;
    char tok[128];
    dlb_err *err;
    int failed;
} parser;

static void fail(parser *ps, const char *fmt, const char *arg)
{
    if (ps->failed) return;
    ps->failed = 1;
    char msg[512];
    snprintf(msg, sizeof msg, fmt, arg);
    dlb_err_set(ps->err, 422, "invalid_type", "invalid type '%.200s': %s", ps->text, msg);
}

static void next(parser *ps)
{
    while (isspace((unsigned char)*ps->p))
        ps->p++;
    const char *s = ps->p;
    ps->tok[0] = '\0';
    if (!*s) {
        ps->kind = TK_END;
        return;
    }
    size_t n = 0;
    if (isalpha((unsigned char)*s) || *s == '_') {
        while (isalnum((unsigned char)s[n]) || s[n] == '_')
            n++;
        ps->kind = TK_WORD;
    } else if (isdigit((unsigned char)*s)) {
        while (isdigit((unsigned char)s[n]))
            n++;
        ps->kind = TK_NUMBER;
    } else if (*s == '"') {
        size_t o = 0;
        n = 1;
        for (;;) {
            if (!s[n]) {
                ps->kind = TK_BAD;
                snprintf(ps->tok, sizeof ps->tok, "%s", "\"");
                ps->p = s + n;
                return;
            }
            if (s[n] == '"') {
                if (s[n + 1] == '"') {
                    n++;
                } else {
                    n++;
                    break;
                }
            }
            if (o + 1 < sizeof ps->tok) ps->tok[o++] = s[n];
            n++;
        }
        ps->tok[o] = '\0';
        ps->kind = TK_QUOTED;
        ps->p = s + n;
        return;
    } else if (strchr("(),[]", *s)) {
        n = 1;
        ps->kind = TK_PUNCT;
    } else {
        ps->kind = TK_BAD;
        n = 1;
    }
    size_t copy = n < sizeof ps->tok ? n : sizeof ps->tok - 1;
    memcpy(ps->tok, s, copy);
    ps->tok[copy] = '\0';
    ps->p = s + n;
}

static int is_punct(const parser *ps, char ch)
{
    return ps->kind == TK_PUNCT && ps->tok[0] == ch;
}

static int is_word(const parser *ps, const char *w)
{
    return ps->kind == TK_WORD && !strcasecmp(ps->tok, w);
}

static void expect_punct(parser *ps, char ch)
{
    if (is_punct(ps, ch)) {
        next(ps);
        return;
    }
    char want[2] = {ch, '\0'};
    if (ps->kind == TK_END)
        fail(ps, "'%s' expected before the end", want);
    else
        fail(ps, "'%s' expected", want);
}

static long number(parser *ps, const char *what)
{
    if (ps->kind != TK_NUMBER || strlen(ps->tok) > 6) {
        fail(ps, "%s must be a number", what);
        return -1;
    }
    long v = strtol(ps->tok, NULL, 10);
    next(ps);
    return v;
}

static const struct {
    const char *word;
    lake_type_kind kind;
} aliases[] = {
    {"BOOLEAN", LT_BOOLEAN},
    {"BOOL", LT_BOOLEAN},
    {"LOGICAL", LT_BOOLEAN},
    {"TINYINT", LT_INT8},
    {"INT1", LT_INT8},
    {"SMALLINT", LT_INT16},
    {"INT2", LT_INT16},
    {"SHORT", LT_INT16},
    {"INTEGER", LT_INT32},
    {"INT", LT_INT32},
    {"INT4", LT_INT32},
    {"SIGNED", LT_INT32},
    {"BIGINT", LT_INT64},
    {"INT8", LT_INT64},
    {"LONG", LT_INT64},
    {"UTINYINT", LT_UINT8},
    {"USMALLINT", LT_UINT16},
    {"UINTEGER", LT_UINT32},
    {"UBIGINT", LT_UINT64},
    {"FLOAT", LT_FLOAT32},
    {"REAL", LT_FLOAT32},
    {"FLOAT4", LT_FLOAT32},
    {"DOUBLE", LT_FLOAT64},
    {"FLOAT8", LT_FLOAT64},
    {"VARCHAR", LT_VARCHAR},
    {"TEXT", LT_VARCHAR},
    {"STRING", LT_VARCHAR},
    {"CHAR", LT_VARCHAR},
    {"BPCHAR", LT_VARCHAR},
    {"BLOB", LT_BLOB},
    {"BYTEA", LT_BLOB},
    {"BINARY", LT_BLOB},
    {"VARBINARY", LT_BLOB},
    {"DATE", LT_DATE},
    {"TIME", LT_TIME},
    {"TIMESTAMP", LT_TIMESTAMP},
    {"DATETIME", LT_TIMESTAMP},
    {"TIMESTAMP_US", LT_TIMESTAMP},
    {"TIMESTAMP_S", LT_TIMESTAMP_S},
    {"TIMESTAMP_MS", LT_TIMESTAMP_MS},
    {"TIMESTAMP_NS", LT_TIMESTAMP_NS},
    {"TIMESTAMPTZ", LT_TIMESTAMPTZ},
    {"INTERVAL", LT_INTERVAL},
    {"UUID", LT_UUID},
    {"JSON", LT_JSON},
    {"DECIMAL", LT_DECIMAL},
    {"NUMERIC", LT_DECIMAL},
};

/* DuckDB types DuckLake cannot hold losslessly, with the reason given to the user. */
static const struct {
    const char *word;
    const char *why;
} unsupported[] = {
    {"HUGEINT", "DuckLake stores it as DOUBLE in Parquet (lossy); use DECIMAL(38,0)"},
    {"INT128", "DuckLake stores it as DOUBLE in Parquet (lossy); use DECIMAL(38,0)"},
    {"UHUGEINT", "DuckLake stores it as DOUBLE in Parquet (lossy); use DECIMAL(38,0)"},
    {"UINT128", "DuckLake stores it as DOUBLE in Parquet (lossy); use DECIMAL(38,0)"},
    {"TIMETZ", "not supported by this server"},
    {"TIME_NS", "not supported by this server"},
    {"ENUM", "DuckLake has no ENUM; use VARCHAR"},
    {"UNION", "DuckLake has no UNION"},
    {"BIT", "DuckLake has no BIT"},
    {"BITSTRING", "DuckLake has no BIT"},
    {"VARINT", "DuckLake has no VARINT"},
    {"BIGNUM", "DuckLake has no BIGNUM"},
    {"VARIANT", "not supported by this server"},
    {"GEOMETRY", "not supported by this server"},
    {"ARRAY", "fixed-size arrays are not supported; use T[]"},
};

static lake_type *parse_type(parser *ps, int depth);

static lake_type *parse_struct(parser *ps, int depth)
{
    lake_type *t = node_new(LT_STRUCT);
    if (!t) {
        fail(ps, "%s", "out of memory");
        return NULL;
    }
    expect_punct(ps, '(');
    while (!ps->failed) {
        if (ps->kind != TK_WORD && ps->kind != TK_QUOTED) {
            fail(ps, "%s", "a STRUCT field name is expected");
            break;
        }
        char fname[128];
        snprintf(fname, sizeof fname, "%s", ps->tok);
        int quoted = ps->kind == TK_QUOTED;
        int okname = isalpha((unsigned char)fname[0]) || fname[0] == '_';
        for (const char *c = fname; *c && okname; c++)
            okname = isalnum((unsigned char)*c) || *c == '_';
        if (!okname || strlen(fname) > 63 || (!quoted && lake_reserved_word(fname))) {
            fail(ps, "bad STRUCT field name '%s'", fname);
            break;
        }
        for (int i = 0; i < t->nchildren; i++)
            if (!strcasecmp(t->children[i]->name, fname)) {
                fail(ps, "duplicate STRUCT field '%s'", fname);
                break;
            }
        if (ps->failed) break;
        next(ps);
        lake_type *c = parse_type(ps, depth + 1);
        if (!c) break;
        c->name = strdup(fname);
        if (!c->name || lake_type_add_child(t, c)) {
            lake_type_free(c);
            fail(ps, "%s", "out of memory");
            break;
        }
        if (is_punct(ps, ',')) {
            next(ps);
            continue;
        }
        expect_punct(ps, ')');
        break;
    }
    if (ps->failed) {
        lake_type_free(t);
        return NULL;
    }
    return t;
}

static lake_type *wrap(parser *ps, lake_type_kind kind, lake_type *a, lake_type *b)
{
    lake_type *t = node_new(kind);
    int ok = t != NULL;
    if (ok && lake_type_add_child(t, a) == 0)
        a = NULL;
    else
        ok = 0;
    if (ok && b) {
        if (lake_type_add_child(t, b) == 0)
            b = NULL;
        else
            ok = 0;
    }
    if (ok) return t;
    lake_type_free(a);
    lake_type_free(b);
    lake_type_free(t);
    fail(ps, "%s", "out of memory");
    return NULL;
}

static lake_type *parse_base(parser *ps, int depth)
{
    if (ps->kind == TK_END) {
        fail(ps, "%s", ps->text[0] ? "a type is expected" : "empty type");
        return NULL;
    }
    if (ps->kind != TK_WORD) {
        fail(ps, "unexpected '%s'", ps->tok);
        return NULL;
    }
    char word[128];
    snprintf(word, sizeof word, "%s", ps->tok);
    next(ps);
    if (!strcasecmp(word, "STRUCT") || !strcasecmp(word, "ROW")) return parse_struct(ps, depth);
    if (!strcasecmp(word, "LIST")) {
        expect_punct(ps, '(');
        if (ps->failed) return NULL;
        lake_type *c = parse_type(ps, depth + 1);
        if (!c) return NULL;
        expect_punct(ps, ')');
        if (ps->failed) {
            lake_type_free(c);
            return NULL;
        }
        return wrap(ps, LT_LIST, c, NULL);
    }
    if (!strcasecmp(word, "MAP")) {
        expect_punct(ps, '(');
        if (ps->failed) return NULL;
        lake_type *k = parse_type(ps, depth + 1);
        if (!k) return NULL;
        if (lake_type_nested(k)) {
            lake_type_free(k);
            fail(ps, "%s", "MAP keys must be of a primitive type");
            return NULL;
        }
        expect_punct(ps, ',');
        lake_type *v = ps->failed ? NULL : parse_type(ps, depth + 1);
        if (!v) {
            lake_type_free(k);
            return NULL;
        }
        expect_punct(ps, ')');
        if (ps->failed) {
            lake_type_free(k);
            lake_type_free(v);
            return NULL;
        }
        return wrap(ps, LT_MAP, k, v);
    }
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++)
        if (!strcasecmp(word, unsupported[i].word)) {
            char msg[256];
            snprintf(msg, sizeof msg, "%s is not supported: %s", unsupported[i].word,
                     unsupported[i].why);
            fail(ps, "%s", msg);
            return NULL;
        }
    int found = -1;
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (!strcasecmp(word, aliases[i].word)) {
            found = (int)i;
            break;
        }
    if (found < 0) {
        fail(ps, "unknown type '%s'", word);
        return NULL;
    }
    lake_type_kind kind = aliases[found].kind;
    /* Multi-word spellings. */
    if (kind == LT_FLOAT64 && is_word(ps, "PRECISION")) next(ps);
    if ((kind == LT_TIMESTAMP || kind == LT_TIME) &&
        (is_word(ps, "WITH") || is_word(ps, "WITHOUT"))) {
        int with = is_word(ps, "WITH");
        next(ps);
        if (!is_word(ps, "TIME")) {
            fail(ps, "%s", "TIME ZONE expected");
            return NULL;
        }
        next(ps);
        if (!is_word(ps, "ZONE")) {
            fail(ps, "%s", "TIME ZONE expected");
            return NULL;
        }
        next(ps);
        if (with && kind == LT_TIME) {
            fail(ps, "%s", "TIME WITH TIME ZONE is not supported by this server");
            return NULL;
        }
        if (with) kind = LT_TIMESTAMPTZ;
    }
    lake_type *t = node_new(kind);
    if (!t) {
        fail(ps, "%s", "out of memory");
        return NULL;
    }
    if (kind == LT_DECIMAL) {
        t->precision = 18;
        t->scale = 3;
        if (is_punct(ps, '(')) {
            next(ps);
            long p = number(ps, "DECIMAL precision");
            long s = 0;
            if (!ps->failed && is_punct(ps, ',')) {
                next(ps);
                s = number(ps, "DECIMAL scale");
            }
            if (!ps->failed) expect_punct(ps, ')');
            if (!ps->failed && (p < 1 || p > 38))
                fail(ps, "%s", "DECIMAL precision must be between 1 and 38");
            if (!ps->failed && (s < 0 || s > p))
                fail(ps, "%s", "DECIMAL scale must be between 0 and the precision");
            t->precision = (int)p;
            t->scale = (int)s;
        }
    } else if (kind == LT_VARCHAR && is_punct(ps, '(')) {
        /* VARCHAR(n): DuckDB ignores the length; so do we. */
        next(ps);
        long n = number(ps, "VARCHAR length");
        if (!ps->failed) expect_punct(ps, ')');
        if (!ps->failed && n < 1) fail(ps, "%s", "VARCHAR length must be positive");
    } else if (is_punct(ps, '(')) {
        fail(ps, "%s takes no parameters", word);
    }
    if (ps->failed) {
        lake_type_free(t);
        return NULL;
    }
    return t;
}

static lake_type *parse_type(parser *ps, int depth)
{
    if (depth > 16) {
        fail(ps, "%s", "nested too deeply");
        return NULL;
    }
    lake_type *t = parse_base(ps, depth);
    while (t && is_punct(ps, '[')) {
        next(ps);
        if (ps->kind == TK_NUMBER) {
            fail(ps, "%s", "fixed-size arrays are not supported; use T[]");
        } else {
            expect_punct(ps, ']');
        }
        if (ps->failed) {
            lake_type_free(t);
            return NULL;
        }
        t = wrap(ps, LT_LIST, t, NULL);
    }
    return t;
}

lake_type *lake_type_parse(const char *text, int *not_null, dlb_err *err)
{
    if (not_null) *not_null = 0;
    parser ps = {.text = text ? text : "", .p = text ? text : "", .err = err};
    if (strlen(ps.text) > 4096) {
        dlb_err_set(err, 422, "invalid_type", "type text is too long (%zu bytes)", strlen(ps.text));
        return NULL;
    }
    next(&ps);
    lake_type *t = parse_type(&ps, 0);
    if (!t) return NULL;
    if (is_word(&ps, "NOT") && not_null) {
        next(&ps);
        if (is_word(&ps, "NULL")) {
            next(&ps);
            *not_null = 1;
        } else {
            fail(&ps, "%s", "NOT NULL expected");
        }
    } else if (is_word(&ps, "NULL") && not_null) {
        next(&ps);
    }
    if (!ps.failed && ps.kind != TK_END) fail(&ps, "unexpected '%s'", ps.tok);
    if (ps.failed) {
        lake_type_free(t);
        return NULL;
    }
    return t;
}

int lake_type_check(const char *type, char *out, size_t outlen, dlb_err *err)
{
    int not_null = 0;
    lake_type *t = lake_type_parse(type, &not_null, err);
    if (!t) return -1;
    buf_t b;
    buf_init(&b, 0);
    int rc = lake_type_sql(t, 0, &b);
    if (!rc && not_null) rc = buf_appends(&b, " NOT NULL");
    lake_type_free(t);
    if (rc || !b.data || b.len >= outlen) {
        buf_free(&b);
        dlb_err_set(err, 422, "invalid_type", "type '%.200s' is too long", type);
        return -1;
    }
    memcpy(out, b.data, b.len + 1);
    buf_free(&b);
    return 0;
}

/* ------------------------------------------------------------------ statistics order */

/* Decimal strings: sign, then integer digits by length, then digit by digit. */
static int cmp_decimal(const char *a, const char *b)
{
    int na = a[0] == '-', nb = b[0] == '-';
    if (na != nb) return na ? -1 : 1;
    const char *x = a + na, *y = b + nb;
    size_t ix = strcspn(x, "."), iy = strcspn(y, ".");
    while (ix > 1 && *x == '0')
        x++, ix--;
    while (iy > 1 && *y == '0')
        y++, iy--;
    int r;
    if (ix != iy) {
        r = ix < iy ? -1 : 1;
    } else {
        r = strncmp(x, y, ix);
        if (!r) {
            const char *fx = x[ix] == '.' ? x + ix + 1 : "";
            const char *fy = y[iy] == '.' ? y + iy + 1 : "";
            while (!r && (*fx || *fy)) {
                char cx = *fx ? *fx++ : '0', cy = *fy ? *fy++ : '0';
                r = (cx > cy) - (cx < cy);
            }
        }
    }
    return na ? -r : r;
}

/* Dates/times/timestamps as DuckDB prints them: [-]YYYY...-MM-DD[ HH:MM:SS[.f]][+00] or
 * (-)infinity. The year may be longer than 4 digits or negative (" (BC)" is never printed
 * by the statistics: they use ISO years). */
static int cmp_temporal(const char *a, const char *b)
{
    int ia = !strcmp(a, "infinity") ? 1 : !strcmp(a, "-infinity") ? -1 : 0;
    int ib = !strcmp(b, "infinity") ? 1 : !strcmp(b, "-infinity") ? -1 : 0;
    if (ia || ib) return ia - ib;
    const char *da = strchr(a + (a[0] == '-'), '-');
    const char *db = strchr(b + (b[0] == '-'), '-');
    if (da && db && strchr(a, ':') != a + 2) { /* has a year part */
        long ya = strtol(a, NULL, 10), yb = strtol(b, NULL, 10);
        if (ya != yb) return ya < yb ? -1 : 1;
        return strcmp(da, db);
    }
    return strcmp(a, b);
}

int lake_stat_cmp(lake_cmp cls, const char *a, const char *b)
{
    switch (cls) {
    case LCMP_INT:
    case LCMP_DECIMAL:
        return cmp_decimal(a, b);
    case LCMP_FLOAT: {
        double x = strtod(a, NULL), y = strtod(b, NULL);
        return (x > y) - (x < y);
    }
    case LCMP_TEMPORAL:
        return cmp_temporal(a, b);
    default: {
        int r = strcmp(a, b);
        return (r > 0) - (r < 0);
    }
    }
}
