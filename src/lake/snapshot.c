/* Snapshots: which one a read uses (latest, ?snapshot=, ?as_of=, pinned), and the snapshot
 * list with each commit's changes_made parsed the way DuckDB's snapshots() shows it. */
#include "lake_internal.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t lake_snapshot_latest(lake_t *l, meta_conn *c, dlb_err *err)
{
    (void)l;
    char merr[256] = "";
    meta_result *r = meta_query(c, "SELECT max(snapshot_id) FROM ducklake_snapshot", NULL, 0, NULL,
                                merr, sizeof(merr));
    if (!r || meta_result_rows(r) < 1 || meta_result_isnull(r, 0, 0)) {
        meta_result_free(r);
        dlb_err_set(err, 503, "metadata_unavailable", "cannot read the latest snapshot: %s",
                    merr[0] ? merr : "no snapshot");
        return -1;
    }
    int64_t s = meta_result_int(r, 0, 0);
    meta_result_free(r);
    return s;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i])) return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

/* Accepts YYYY-MM-DD, then optionally [T ]HH:MM[:SS[.f{1,9}]], then optionally Z, +HH,
 * +HHMM, +HH:MM (or -); no zone means UTC. This covers ISO-8601 input and the text both
 * catalogs store (SQLite "2026-11-26 20:20:19.646673+00", PostgreSQL timestamptz output). */
int lake_parse_time(const char *s, int64_t *out)
{
    if (!s) return -1;
    const char *p = s;
    int y, mo, d, h = 0, mi = 0, se = 0;
    int64_t frac = 0;
    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' || digits(&p, 2, &d))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31) return -1;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi)) return -1;
        if (*p == ':') {
            p++;
            if (digits(&p, 2, &se)) return -1;
            if (*p == '.' || *p == ',') {
                p++;
                int n = 0;
                int64_t scale = 100000;
                while (isdigit((unsigned char)*p)) {
                    if (n < 6) frac += (*p - '0') * scale, scale /= 10;
                    n++, p++;
                }
                if (n == 0 || n > 9) return -1;
            }
        }
        if (h > 23 || mi > 59 || se > 60) return -1;
    }
    int64_t off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om = 0;
        if (digits(&p, 2, &oh)) return -1;
        if (*p == ':') p++;
        if (isdigit((unsigned char)*p) && digits(&p, 2, &om)) return -1;
        if (oh > 23 || om > 59) return -1;
        off = sign * (int64_t)(oh * 3600 + om * 60);
    }
    if (*p) return -1;
    int64_t secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se;
    *out = (secs - off) * 1000000 + frac;
    return 0;
}

static void format_time(int64_t us, char out[40])
{
    int64_t secs = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
    int64_t frac = us - secs * 1000000;
    int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    int64_t rem = secs - days * 86400;
    /* civil_from_days */
    int64_t z = days + 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = (int64_t)yoe + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    snprintf(out, 40, "%04" PRId64 "-%02u-%02uT%02d:%02d:%02d.%06dZ", y, m, d, (int)(rem / 3600),
             (int)(rem / 60 % 60), (int)(rem % 60), (int)frac);
}

static int parse_snapshot_id(const char *s, int64_t *out)
{
    if (!s || !*s) return -1;
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p)) return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end) return -1;
    *out = v;
    return 0;
}

static int resolve_as_of(meta_conn *c, const char *as_of, int64_t *out, dlb_err *err)
{
    int64_t t;
    if (lake_parse_time(as_of, &t) != 0) {
        dlb_err_set(err, 422, "invalid_as_of",
                    "as_of '%.64s' is not an ISO-8601 time (YYYY-MM-DD[THH:MM[:SS[.ffffff]]]"
                    "[Z|+HH:MM])",
                    as_of);
        return -1;
    }
    /* Times are compared in C: SQLite stores text, and the text of an offset other than +00
     * would not compare correctly as a string. */
    char merr[256] = "";
    meta_result *r = meta_query(c, "SELECT snapshot_id, snapshot_time FROM ducklake_snapshot", NULL,
                                0, NULL, merr, sizeof(merr));
    if (!r) {
        dlb_err_set(err, 503, "metadata_unavailable", "cannot read snapshots: %s", merr);
        return -1;
    }
    int64_t best = -1;
    for (int i = 0; i < meta_result_rows(r); i++) {
        int64_t st;
        if (lake_parse_time(meta_result_get(r, i, 1), &st) != 0) continue;
        int64_t id = meta_result_int(r, i, 0);
        if (st <= t && id > best) best = id;
    }
    meta_result_free(r);
    if (best < 0) {
        dlb_err_set(err, 404, "snapshot_not_found", "no snapshot at or before %.64s", as_of);
        return -1;
    }
    *out = best;
    return 0;
}

int lake_resolve_snapshot(lake_t *l, const char *snapshot, const char *as_of, int64_t *out,
                          dlb_err *err)
{
    if (snapshot && !*snapshot) snapshot = NULL;
    if (as_of && !*as_of) as_of = NULL;
    if (snapshot && as_of) {
        dlb_err_set(err, 422, "invalid_snapshot", "give either snapshot or as_of, not both");
        return -1;
    }
    int64_t id = -1;
    if (snapshot && parse_snapshot_id(snapshot, &id) != 0) {
        dlb_err_set(err, 422, "invalid_snapshot",
                    "snapshot '%.64s' is not a non-negative integer snapshot id", snapshot);
        return -1;
    }
    if (!snapshot && !as_of && l->pinned_snapshot >= 0) {
        *out = l->pinned_snapshot;
        return 0;
    }
    meta_conn *c = meta_acquire(l->meta);
    if (!c) {
        dlb_err_set(err, 503, "metadata_unavailable", "no metadata database connection");
        return -1;
    }
    int rc = 0;
    if (snapshot) {
        meta_val p[1] = {MVINT(id)};
        char merr[256] = "";
        meta_result *r = meta_query(c, "SELECT 1 FROM ducklake_snapshot WHERE snapshot_id = ?", p,
                                    1, NULL, merr, sizeof(merr));
        if (!r) {
            dlb_err_set(err, 503, "metadata_unavailable", "cannot read snapshots: %s", merr);
            rc = -1;
        } else if (meta_result_rows(r) == 0) {
            dlb_err_set(err, 404, "snapshot_not_found", "snapshot %" PRId64 " does not exist", id);
            rc = -1;
        } else {
            *out = id;
        }
        meta_result_free(r);
    } else if (as_of) {
        rc = resolve_as_of(c, as_of, out, err);
    } else {
        int64_t s = lake_snapshot_latest(l, c, err);
        if (s < 0)
            rc = -1;
        else
            *out = s;
    }
    meta_release(l->meta, c);
    return rc;
}

/* ---- changes_made -------------------------------------------------------------------------- */

/* tag in the catalog -> key in DuckDB's snapshots() map (ducklake_snapshots function). */
static const char *change_key(const char *tag)
{
    static const char *const map[][2] = {
        {"created_schema", "schemas_created"},
        {"created_table", "tables_created"},
        {"created_view", "views_created"},
        {"created_scalar_macro", "scalar_macros_created"},
        {"created_table_macro", "table_macros_created"},
        {"dropped_schema", "schemas_dropped"},
        {"dropped_table", "tables_dropped"},
        {"dropped_view", "views_dropped"},
        {"dropped_scalar_macro", "scalar_macros_dropped"},
        {"dropped_table_macro", "table_macros_dropped"},
        {"inserted_into_table", "tables_inserted_into"},
        {"deleted_from_table", "tables_deleted_from"},
        {"altered_table", "tables_altered"},
        {"altered_view", "views_altered"},
        {"inlined_insert", "inlined_insert"},
        {"inlined_delete", "inlined_delete"},
        {"inline_flush", "flushed_inlined"},
        {"flushed_inlined", "flushed_inlined"},
        {"merge_adjacent", "merge_adjacent"},
        {"rewrite_delete", "rewrite_delete"},
        {"compacted_table", "tables_compacted"},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(map[i][0], tag) == 0) return map[i][1];
    return NULL;
}

static int simple_ident(const char *s, size_t n)
{
    if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_')) return 0;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_')) return 0;
    return 1;
}

/* DuckDB's keywords (all categories), `SELECT keyword_name FROM duckdb_keywords() ORDER BY
 * keyword_name COLLATE C` on DuckDB 1.5.5; sorted for bsearch. */
static const char *const duck_keywords[] = {
    "abort",
    "absolute",
    "access",
    "action",
    "add",
    "admin",
    "after",
    "aggregate",
    "all",
    "also",
    "alter",
    "always",
    "analyse",
    "analyze",
    "and",
    "anti",
    "any",
    "array",
    "as",
    "asc",
    "asof",
    "assertion",
    "assignment",
    "asymmetric",
    "at",
    "attach",
    "attribute",
    "authorization",
    "backward",
    "before",
    "begin",
    "between",
    "bigint",
    "binary",
    "bit",
    "boolean",
    "both",
    "by",
    "cache",
    "call",
    "called",
    "cascade",
    "cascaded",
    "case",
    "cast",
    "catalog",
    "centuries",
    "century",
    "chain",
    "char",
    "character",
    "characteristics",
    "check",
    "checkpoint",
    "class",
    "close",
    "cluster",
    "coalesce",
    "collate",
    "collation",
    "column",
    "columns",
    "comment",
    "comments",
    "commit",
    "committed",
    "compression",
    "concurrently",
    "configuration",
    "conflict",
    "connection",
    "constraint",
    "constraints",
    "content",
    "continue",
    "conversion",
    "copy",
    "cost",
    "create",
    "cross",
    "csv",
    "cube",
    "current",
    "cursor",
    "cycle",
    "data",
    "database",
    "day",
    "days",
    "deallocate",
    "dec",
    "decade",
    "decades",
    "decimal",
    "declare",
    "default",
    "defaults",
    "deferrable",
    "deferred",
    "definer",
    "delete",
    "delimiter",
    "delimiters",
    "depends",
    "desc",
    "describe",
    "detach",
    "dictionary",
    "disable",
    "discard",
    "distinct",
    "do",
    "document",
    "domain",
    "double",
    "drop",
    "each",
    "else",
    "enable",
    "encoding",
    "encrypted",
    "end",
    "enum",
    "error",
    "escape",
    "event",
    "except",
    "exclude",
    "excluding",
    "exclusive",
    "execute",
    "exists",
    "explain",
    "export",
    "export_state",
    "extension",
    "extensions",
    "external",
    "extract",
    "false",
    "family",
    "fetch",
    "filter",
    "first",
    "float",
    "following",
    "for",
    "force",
    "foreign",
    "forward",
    "freeze",
    "from",
    "full",
    "function",
    "functions",
    "generated",
    "glob",
    "global",
    "grant",
    "granted",
    "group",
    "grouping",
    "grouping_id",
    "groups",
    "handler",
    "having",
    "header",
    "hold",
    "hour",
    "hours",
    "identity",
    "if",
    "ignore",
    "ilike",
    "immediate",
    "immutable",
    "implicit",
    "import",
    "in",
    "include",
    "including",
    "increment",
    "index",
    "indexes",
    "inherit",
    "inherits",
    "initially",
    "inline",
    "inner",
    "inout",
    "input",
    "insensitive",
    "insert",
    "install",
    "instead",
    "int",
    "integer",
    "intersect",
    "interval",
    "into",
    "invoker",
    "is",
    "isnull",
    "isolation",
    "join",
    "json",
    "key",
    "label",
    "lambda",
    "language",
    "large",
    "last",
    "lateral",
    "leading",
    "leakproof",
    "left",
    "level",
    "like",
    "limit",
    "listen",
    "load",
    "local",
    "location",
    "lock",
    "locked",
    "logged",
    "macro",
    "map",
    "mapping",
    "match",
    "matched",
    "materialized",
    "maxvalue",
    "merge",
    "method",
    "microsecond",
    "microseconds",
    "millennia",
    "millennium",
    "millisecond",
    "milliseconds",
    "minute",
    "minutes",
    "minvalue",
    "mode",
    "month",
    "months",
    "move",
    "name",
    "names",
    "national",
    "natural",
    "nchar",
    "new",
    "next",
    "no",
    "none",
    "not",
    "nothing",
    "notify",
    "notnull",
    "nowait",
    "null",
    "nullif",
    "nulls",
    "numeric",
    "object",
    "of",
    "off",
    "offset",
    "oids",
    "old",
    "on",
    "only",
    "operator",
    "option",
    "options",
    "or",
    "order",
    "ordinality",
    "others",
    "out",
    "outer",
    "over",
    "overlaps",
    "overlay",
    "overriding",
    "owned",
    "owner",
    "parallel",
    "parser",
    "partial",
    "partition",
    "partitioned",
    "passing",
    "password",
    "percent",
    "persistent",
    "pivot",
    "pivot_longer",
    "pivot_wider",
    "placing",
    "plans",
    "policy",
    "position",
    "positional",
    "pragma",
    "preceding",
    "precision",
    "prepare",
    "prepared",
    "preserve",
    "primary",
    "prior",
    "privileges",
    "procedural",
    "procedure",
    "program",
    "publication",
    "qualify",
    "quarter",
    "quarters",
    "quote",
    "range",
    "read",
    "real",
    "reassign",
    "recheck",
    "recursive",
    "ref",
    "references",
    "referencing",
    "refresh",
    "reindex",
    "relative",
    "release",
    "rename",
    "repeatable",
    "replace",
    "replica",
    "reset",
    "respect",
    "restart",
    "restrict",
    "returning",
    "returns",
    "revoke",
    "right",
    "role",
    "rollback",
    "rollup",
    "row",
    "rows",
    "rule",
    "sample",
    "savepoint",
    "schema",
    "schemas",
    "scope",
    "scroll",
    "search",
    "second",
    "seconds",
    "secret",
    "security",
    "select",
    "semi",
    "sequence",
    "sequences",
    "serializable",
    "server",
    "session",
    "set",
    "setof",
    "sets",
    "share",
    "show",
    "similar",
    "simple",
    "skip",
    "smallint",
    "snapshot",
    "some",
    "sorted",
    "source",
    "sql",
    "stable",
    "standalone",
    "start",
    "statement",
    "statistics",
    "stdin",
    "stdout",
    "storage",
    "stored",
    "strict",
    "strip",
    "struct",
    "subscription",
    "substring",
    "summarize",
    "symmetric",
    "sysid",
    "system",
    "table",
    "tables",
    "tablesample",
    "tablespace",
    "target",
    "temp",
    "template",
    "temporary",
    "text",
    "then",
    "ties",
    "time",
    "timestamp",
    "to",
    "trailing",
    "transaction",
    "transform",
    "treat",
    "trigger",
    "trim",
    "true",
    "truncate",
    "trusted",
    "try_cast",
    "type",
    "types",
    "unbounded",
    "uncommitted",
    "unencrypted",
    "union",
    "unique",
    "unknown",
    "unlisten",
    "unlogged",
    "unpack",
    "unpivot",
    "until",
    "update",
    "use",
    "user",
    "using",
    "vacuum",
    "valid",
    "validate",
    "validator",
    "value",
    "values",
    "varchar",
    "variable",
    "variadic",
    "varying",
    "verbose",
    "version",
    "view",
    "views",
    "virtual",
    "volatile",
    "week",
    "weeks",
    "when",
    "where",
    "whitespace",
    "window",
    "with",
    "within",
    "without",
    "work",
    "wrapper",
    "write",
    "xml",
    "xmlattributes",
    "xmlconcat",
    "xmlelement",
    "xmlexists",
    "xmlforest",
    "xmlnamespaces",
    "xmlparse",
    "xmlpi",
    "xmlroot",
    "xmlserialize",
    "xmltable",
    "year",
    "years",
    "yes",
    "zone",
};

static int kw_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* DuckDB's KeywordHelper::IsKeyword, case-insensitive (keywords are stored lowercase). */
static int duck_keyword(const char *s)
{
    char low[64];
    size_t n = strlen(s);
    if (n >= sizeof(low)) return 0;
    for (size_t i = 0; i <= n; i++)
        low[i] = (char)tolower((unsigned char)s[i]);
    const char *key = low;
    return bsearch(&key, duck_keywords, sizeof(duck_keywords) / sizeof(duck_keywords[0]),
                   sizeof(duck_keywords[0]), kw_cmp) != NULL;
}

/* "schema"."table" (quotes doubled inside) -> main.people / main."We ird.Name", the way
 * snapshots() prints names: in a qualified name a part is quoted when it is not a plain
 * identifier or is a DuckDB keyword (KeywordHelper::WriteOptionallyQuoted: the extension shows
 * `main."types"`, `"data".t`); a lone schema name is shown bare (`schemas_created: [data]`),
 * checked against the reference extension. */
static json_t *name_value(const char *v, size_t n)
{
    int parts = 1, inq = 0;
    for (size_t k = 0; k < n; k++) {
        if (v[k] == '"') inq = !inq;
        if (v[k] == '.' && !inq) parts++;
    }
    buf_t out;
    buf_init(&out, 0);
    int fail = 0;
    size_t i = 0;
    int first = 1;
    while (i < n) {
        if (!first) fail |= buf_appends(&out, ".");
        first = 0;
        char part[1024];
        size_t pl = 0;
        if (v[i] == '"') {
            i++;
            while (i < n) {
                if (v[i] == '"') {
                    if (i + 1 < n && v[i + 1] == '"') {
                        if (pl + 1 < sizeof(part)) part[pl++] = '"';
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                if (pl + 1 < sizeof(part)) part[pl++] = v[i];
                i++;
            }
        } else {
            while (i < n && v[i] != '.') {
                if (pl + 1 < sizeof(part)) part[pl++] = v[i];
                i++;
            }
        }
        part[pl] = 0;
        if (simple_ident(part, pl) && (parts == 1 || !duck_keyword(part))) {
            fail |= buf_appends(&out, part);
        } else {
            fail |= lake_sql_ident(&out, part);
        }
        if (i < n && v[i] == '.') i++;
    }
    json_t *j = fail ? NULL : json_string(out.data ? out.data : "");
    buf_free(&out);
    return j;
}

/* Parses "tag:value,tag:value" (commas inside double quotes do not split) into
 * {"tables_created": ["main.t"], "tables_inserted_into": [5], ...}. Unknown tags keep their
 * own name and the raw value, so nothing is lost. */
static json_t *parse_changes(const char *s)
{
    json_t *obj = json_object();
    if (!obj || !s) return obj;
    size_t n = strlen(s), i = 0;
    while (i < n) {
        size_t start = i;
        int inq = 0;
        while (i < n && (inq || s[i] != ',')) {
            if (s[i] == '"') inq = !inq;
            i++;
        }
        const char *item = s + start;
        size_t len = i - start;
        if (i < n) i++; /* the comma */
        const char *colon = memchr(item, ':', len);
        if (!colon) continue;
        char tag[64];
        size_t tl = (size_t)(colon - item);
        if (tl >= sizeof(tag)) continue;
        memcpy(tag, item, tl);
        tag[tl] = 0;
        const char *val = colon + 1;
        size_t vl = len - tl - 1;
        const char *key = change_key(tag);
        json_t *v;
        if (vl > 0 && val[0] == '"') {
            v = name_value(val, vl);
        } else {
            char num[32];
            int isnum = vl > 0 && vl < sizeof(num);
            for (size_t k = 0; isnum && k < vl; k++)
                if (!isdigit((unsigned char)val[k])) isnum = 0;
            if (isnum) {
                memcpy(num, val, vl);
                num[vl] = 0;
                v = json_integer(strtoll(num, NULL, 10));
            } else {
                v = json_stringn(val, vl);
            }
        }
        if (!v) continue;
        const char *k = key ? key : tag;
        json_t *arr = json_object_get(obj, k);
        if (!arr) {
            arr = json_array();
            if (!arr || json_object_set_new(obj, k, arr) != 0) {
                json_decref(v);
                continue;
            }
        }
        json_array_append_new(arr, v);
    }
    return obj;
}

/* 1 when the parsed changes touch one of ids (id-valued entries). */
static int touches(json_t *changes, const int64_t *ids, int nids)
{
    const char *k;
    json_t *arr;
    json_object_foreach(changes, k, arr)
    {
        size_t i;
        json_t *v;
        json_array_foreach(arr, i, v)
        {
            if (!json_is_integer(v)) continue;
            for (int j = 0; j < nids; j++)
                if (json_integer_value(v) == ids[j]) return 1;
        }
    }
    return 0;
}

/* Ids of every table ever named schema.table, and the snapshots that created or renamed
 * them (begin_snapshot of their rows). */
static int table_history(meta_conn *c, const char *schema, const char *table, int64_t **ids,
                         int *nids, int64_t **begins, int *nbegins, dlb_err *err)
{
    meta_val p[2] = {MVTEXT(schema), MVTEXT(table)};
    char merr[256] = "";
    meta_result *r = meta_query(
        c,
        "SELECT t2.table_id, t2.begin_snapshot FROM ducklake_table t2 WHERE t2.table_id IN ("
        "SELECT t.table_id FROM ducklake_table t JOIN ducklake_schema s ON s.schema_id = "
        "t.schema_id WHERE s.schema_name = ? AND t.table_name = ?)",
        p, 2, NULL, merr, sizeof(merr));
    if (!r) {
        dlb_err_set(err, 503, "metadata_unavailable", "cannot read tables: %s", merr);
        return -1;
    }
    int rows = meta_result_rows(r);
    if (rows == 0) {
        meta_result_free(r);
        dlb_err_set(err, 404, "table_not_found", "table %s.%s does not exist", schema, table);
        return -1;
    }
    *ids = calloc((size_t)rows, sizeof(int64_t));
    *begins = calloc((size_t)rows, sizeof(int64_t));
    if (!*ids || !*begins) {
        free(*ids);
        free(*begins);
        meta_result_free(r);
        dlb_err_set(err, 500, "out_of_memory", "out of memory");
        return -1;
    }
    for (int i = 0; i < rows; i++) {
        (*ids)[i] = meta_result_int(r, i, 0);
        (*begins)[i] = meta_result_int(r, i, 1);
    }
    *nids = *nbegins = rows;
    meta_result_free(r);
    return 0;
}

json_t *lake_snapshots_json(lake_t *l, const char *schema, const char *table, dlb_err *err)
{
    if (table && !schema) schema = "main";
    meta_conn *c = meta_acquire(l->meta);
    if (!c) {
        dlb_err_set(err, 503, "metadata_unavailable", "no metadata database connection");
        return NULL;
    }
    json_t *out = NULL, *list = NULL;
    int64_t *ids = NULL, *begins = NULL;
    int nids = 0, nbegins = 0;
    meta_result *r = NULL;
    if (table && table_history(c, schema, table, &ids, &nids, &begins, &nbegins, err) != 0)
        goto done;
    char merr[256] = "";
    r = meta_query(c,
                   "SELECT s.snapshot_id, s.snapshot_time, s.schema_version, c.changes_made, "
                   "c.author, c.commit_message, c.commit_extra_info FROM ducklake_snapshot s "
                   "LEFT JOIN ducklake_snapshot_changes c ON c.snapshot_id = s.snapshot_id "
                   "ORDER BY s.snapshot_id",
                   NULL, 0, NULL, merr, sizeof(merr));
    if (!r) {
        dlb_err_set(err, 503, "metadata_unavailable", "cannot read snapshots: %s", merr);
        goto done;
    }
    list = json_array();
    if (!list) goto oom;
    for (int i = 0; i < meta_result_rows(r); i++) {
        int64_t id = meta_result_int(r, i, 0);
        const char *raw = meta_result_get(r, i, 3);
        json_t *changes = parse_changes(raw);
        if (!changes) goto oom;
        if (table) {
            int keep = touches(changes, ids, nids);
            for (int k = 0; !keep && k < nbegins; k++)
                if (begins[k] == id) keep = 1;
            if (!keep) {
                json_decref(changes);
                continue;
            }
        }
        char iso[40] = "";
        int64_t us;
        const char *st = meta_result_get(r, i, 1);
        if (lake_parse_time(st, &us) == 0) format_time(us, iso);
        json_t *o =
            json_pack("{s:I, s:s?, s:I, s:o, s:s?, s:s?, s:s?, s:s?}", "snapshot_id",
                      (json_int_t)id, "snapshot_time", iso[0] ? iso : st, "schema_version",
                      (json_int_t)meta_result_int(r, i, 2), "changes", changes, "changes_made", raw,
                      "author", meta_result_get(r, i, 4), "commit_message",
                      meta_result_get(r, i, 5), "commit_extra_info", meta_result_get(r, i, 6));
        if (!o || json_array_append_new(list, o) != 0) goto oom;
    }
    out = json_pack("{s:o}", "snapshots", list);
    list = NULL;
    if (!out) goto oom;
    goto done;
oom:
    dlb_err_set(err, 500, "out_of_memory", "out of memory");
done:
    json_decref(list);
    meta_result_free(r);
    free(ids);
    free(begins);
    meta_release(l->meta, c);
    return out;
}
