/* Data inlining (digest §7.9): small appends stored as rows of
 * ducklake_inlined_data_<table_id>_<schema_version> in the catalog database, values bound. */
#include "lake/write.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int lake_inline_eligible(const lake_table_def *t)
{
    for (int i = 0; i < t->ncols; i++) {
        const char *n = t->cols[i]->name;
        if (!strcasecmp(n, "row_id") || !strcasecmp(n, "begin_snapshot") ||
            !strcasecmp(n, "end_snapshot") || !strncasecmp(n, "_ducklake_internal_", 19) ||
            strlen(n) > 63)
            return 0;
    }
    return 1;
}

/* Physical type of a column in an inlined-data table (docs/lake-format.md §3). */
static const char *inline_type(int postgres, const lake_type *t, char *buf, size_t n)
{
    if (lake_type_nested(t)) return "VARCHAR";
    switch (t->kind) {
    case LT_BOOLEAN:
        return postgres ? "BOOLEAN" : "BIGINT";
    case LT_INT8:
    case LT_INT16:
        return postgres ? "SMALLINT" : "BIGINT";
    case LT_INT32:
    case LT_UINT8:
    case LT_UINT16:
        return postgres ? "INTEGER" : "BIGINT";
    case LT_INT64:
    case LT_UINT32:
        return "BIGINT";
    case LT_FLOAT32:
        return postgres ? "REAL" : "VARCHAR";
    case LT_FLOAT64:
        return postgres ? "DOUBLE PRECISION" : "VARCHAR";
    case LT_DECIMAL:
        if (!postgres) return "VARCHAR";
        snprintf(buf, n, "NUMERIC(%d,%d)", t->precision, t->scale);
        return buf;
    case LT_VARCHAR:
    case LT_JSON:
        return postgres ? "BYTEA" : "VARCHAR";
    case LT_BLOB:
        return postgres ? "BYTEA" : "BLOB";
    case LT_TIME:
        return postgres ? "TIME" : "VARCHAR";
    case LT_INTERVAL:
        return postgres ? "INTERVAL" : "VARCHAR";
    case LT_UUID:
        return postgres ? "UUID" : "VARCHAR";
    default: /* uint64, dates and timestamps */
        return "VARCHAR";
    }
}

/* How a value travels from DuckDB to the bind: 0 int64, 1 blob, 2 text. */
static int inline_class(int postgres, const lake_type *t)
{
    if (lake_type_nested(t)) return 2;
    switch (t->kind) {
    case LT_BOOLEAN:
    case LT_INT8:
    case LT_INT16:
    case LT_INT32:
    case LT_INT64:
    case LT_UINT8:
    case LT_UINT16:
    case LT_UINT32:
        return 0;
    case LT_BLOB:
        return 1;
    case LT_VARCHAR:
    case LT_JSON:
        return postgres ? 1 : 2;
    default:
        return 2;
    }
}

int lake_inline_ddl(int postgres, int64_t table_id, int64_t version, const lake_type *const *cols,
                    int ncols, buf_t *out)
{
    if (buf_printf(out,
                   "CREATE TABLE IF NOT EXISTS ducklake_inlined_data_%lld_%lld(row_id BIGINT, "
                   "begin_snapshot BIGINT, end_snapshot BIGINT",
                   (long long)table_id, (long long)version))
        return -1;
    for (int i = 0; i < ncols; i++) {
        char tb[48];
        if (buf_appends(out, ", ") || sql_ident(out, cols[i]->name) || buf_appends(out, " ") ||
            buf_appends(out, inline_type(postgres, cols[i], tb, sizeof tb)))
            return -1;
    }
    return buf_appends(out, ")");
}

int lake_inline_create(lake_t *l, meta_conn *c, int64_t table_id, int64_t version,
                       const lake_type *const *cols, int ncols, dlb_err *err)
{
    buf_t ddl;
    buf_init(&ddl, 0);
    if (lake_inline_ddl(l->postgres, table_id, version, cols, ncols, &ddl) || !ddl.data) {
        buf_free(&ddl);
        dlb_err_set(err, 500, "out_of_memory", "out of memory");
        return -1;
    }
    int rc = lake_exec(c, ddl.data, NULL, 0, err);
    buf_free(&ddl);
    if (rc) return rc;
    char name[96];
    snprintf(name, sizeof name, "ducklake_inlined_data_%lld_%lld", (long long)table_id,
             (long long)version);
    meta_val p[] = {MVINT(table_id), MVTEXT(name), MVINT(version)};
    return lake_exec(c, "INSERT INTO ducklake_inlined_data_tables VALUES (?, ?, ?)", p, 3, err);
}

/* ------------------------------------------------------------------ statistics of a batch */

/* Statistics of one leaf, computed by DuckDB over the staged rows in the text forms
 * RETURN_STATS uses (booleans 0/1, blobs as hex, NaN outside min/max). */
static int leaf_stats(duckdb_connection con, const char *stage, const lake_type *leaf,
                      const char *expr, int listform, lake_leaf_stats *st, dlb_err *err)
{
    st->column_id = leaf->id;
    st->cls = lake_type_cmp_class(leaf);
    st->is_float = st->cls == LCMP_FLOAT;
    st->contains_nan = -1;
    const char *mn = "min(v)::VARCHAR", *mx = "max(v)::VARCHAR", *nan = "NULL::BOOLEAN";
    if (leaf->kind == LT_BOOLEAN) {
        mn = "min(v::INTEGER)::VARCHAR";
        mx = "max(v::INTEGER)::VARCHAR";
    } else if (st->is_float) {
        mn = "(min(v) FILTER (WHERE NOT isnan(v)))::VARCHAR";
        mx = "(max(v) FILTER (WHERE NOT isnan(v)))::VARCHAR";
        nan = "coalesce(bool_or(isnan(v)), false)";
    } else if (leaf->kind == LT_BLOB) {
        mn = "hex(min(v))";
        mx = "hex(max(v))";
    } else if (leaf->kind == LT_INTERVAL) {
        mn = mx = "NULL::VARCHAR";
    }
    buf_t q;
    buf_init(&q, 0);
    buf_printf(&q,
               "SELECT count(v), count(*) - count(v), %s, %s, %s FROM (SELECT %s%s%s AS v FROM ",
               mn, mx, nan, listform ? "unnest(" : "", expr, listform ? ")" : "");
    sql_ident(&q, stage);
    buf_appends(&q, ")");
    duckdb_result res;
    if (!q.data || duck_query(con, q.data, &res, 500, "stats_failed", err)) {
        buf_free(&q);
        return -1;
    }
    buf_free(&q);
    st->value_count = duckdb_value_int64(&res, 0, 0);
    st->null_count = duckdb_value_int64(&res, 1, 0);
    char *a = duckdb_value_is_null(&res, 2, 0) ? NULL : duckdb_value_varchar(&res, 2, 0);
    char *b = duckdb_value_is_null(&res, 3, 0) ? NULL : duckdb_value_varchar(&res, 3, 0);
    st->min = a ? strdup(a) : NULL;
    st->max = b ? strdup(b) : NULL;
    if (a) duckdb_free(a);
    if (b) duckdb_free(b);
    if (st->is_float) st->contains_nan = duckdb_value_boolean(&res, 4, 0) ? 1 : 0;
    duckdb_destroy_result(&res);
    return 0;
}

/* Walks the tree: expr is the node's value, a list of its values when listform. */
static int walk(duckdb_connection con, const char *stage, const lake_type *t, const char *expr,
                int listform, int depth, lake_file_stats *f, dlb_err *err)
{
    if (!lake_type_nested(t)) {
        lake_leaf_stats *g = realloc(f->leaves, sizeof *g * (size_t)(f->nleaves + 1));
        if (!g) return -1;
        f->leaves = g;
        memset(&f->leaves[f->nleaves], 0, sizeof *g);
        f->nleaves++;
        return leaf_stats(con, stage, t, expr, listform, &f->leaves[f->nleaves - 1], err);
    }
    for (int i = 0; i < t->nchildren; i++) {
        const lake_type *ch = t->children[i];
        buf_t e;
        buf_init(&e, 0);
        int lf = 1;
        if (t->kind == LT_STRUCT) {
            buf_t key;
            buf_init(&key, 0);
            sql_string(&key, ch->name);
            if (listform)
                buf_printf(&e, "list_transform(%s, lambda z%d: struct_extract(z%d, %s))", expr,
                           depth, depth, key.data ? key.data : "''");
            else
                buf_printf(&e, "struct_extract(%s, %s)", expr, key.data ? key.data : "''");
            lf = listform;
            buf_free(&key);
        } else if (t->kind == LT_LIST) {
            buf_printf(&e, listform ? "flatten(%s)" : "%s", expr);
        } else { /* map */
            const char *fn = i == 0 ? "map_keys" : "map_values";
            if (listform)
                buf_printf(&e, "flatten(list_transform(%s, lambda z%d: %s(z%d)))", expr, depth, fn,
                           depth);
            else
                buf_printf(&e, "%s(%s)", fn, expr);
        }
        int rc = e.data ? walk(con, stage, ch, e.data, lf, depth + 1, f, err) : -1;
        buf_free(&e);
        if (rc) return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ commit */

typedef struct {
    lake_t *l;
    const lake_table_def *t;
    lake_file_stats *stats;
    duckdb_result *rows;
    int64_t nrows;
} inline_args;

static int inline_body(meta_conn *c, const lake_snap *cur, lake_snap *next, buf_t *changes,
                       void *arg, dlb_err *err)
{
    inline_args *a = arg;
    const lake_table_def *t = a->t;
    lake_t *l = a->l;
    int rc = lake_check_table_unchanged(c, t, err);
    if (rc) return rc;
    meta_val tp[] = {MVINT(t->table_id)};
    meta_result *r = lake_query(c,
                                "SELECT (SELECT max(schema_version) FROM "
                                "ducklake_inlined_data_tables WHERE table_id = ?), (SELECT "
                                "max(schema_version) FROM ducklake_schema_versions WHERE "
                                "table_id = ?)",
                                (meta_val[]){tp[0], tp[0]}, 2, &rc, err);
    if (!r) return rc ? rc : -1;
    int have = !meta_result_isnull(r, 0, 0);
    int64_t inl = meta_result_int(r, 0, 0);
    int64_t layout = meta_result_isnull(r, 0, 1) ? -1 : meta_result_int(r, 0, 1);
    meta_result_free(r);
    if (!have || inl < layout) {
        /* The extension creates it lazily with a schema_version bump (checked against the
         * reference build: new table _<T>_<new version>, no schema_versions row). */
        next->schema_version = cur->schema_version + 1;
        inl = next->schema_version;
        rc = lake_inline_create(l, c, t->table_id, inl, (const lake_type *const *)t->cols, t->ncols,
                                err);
        if (rc) return rc;
    }
    int64_t row_id_start = 0;
    rc = lake_merge_table_stats(c, t->table_id, a->nrows, 0, a->stats->leaves, a->stats->nleaves,
                                &row_id_start, err);
    if (rc) return rc;

    buf_t ins;
    buf_init(&ins, 0);
    buf_printf(&ins, "INSERT INTO ducklake_inlined_data_%lld_%lld VALUES (?, ?, NULL",
               (long long)t->table_id, (long long)inl);
    for (int i = 0; i < t->ncols; i++)
        buf_appends(&ins, ", ?");
    buf_appends(&ins, ")");
    meta_val *p = calloc((size_t)t->ncols + 2, sizeof *p);
    char **texts = calloc((size_t)t->ncols, sizeof *texts);
    duckdb_blob *blobs = calloc((size_t)t->ncols, sizeof *blobs);
    if (!ins.data || !p || !texts || !blobs) {
        dlb_err_set(err, 500, "out_of_memory", "out of memory");
        rc = -1;
    }
    for (int64_t row = 0; !rc && row < a->nrows; row++) {
        p[0] = MVINT(row_id_start + row);
        p[1] = MVINT(next->snapshot_id);
        for (int i = 0; i < t->ncols; i++) {
            idx_t col = (idx_t)i, rw = (idx_t)row;
            if (duckdb_value_is_null(a->rows, col, rw)) {
                p[i + 2] = MVNULL;
                continue;
            }
            switch (inline_class(l->postgres, t->cols[i])) {
            case 0:
                p[i + 2] = MVINT(duckdb_value_int64(a->rows, col, rw));
                break;
            case 1:
                blobs[i] = duckdb_value_blob(a->rows, col, rw);
                p[i + 2] = MVBLOB(blobs[i].data ? (const char *)blobs[i].data : "", blobs[i].size);
                break;
            default:
                texts[i] = duckdb_value_varchar(a->rows, col, rw);
                p[i + 2] = MVTEXT(texts[i] ? texts[i] : "");
            }
        }
        rc = lake_exec(c, ins.data, p, t->ncols + 2, err);
        for (int i = 0; i < t->ncols; i++) {
            if (texts[i]) duckdb_free(texts[i]);
            if (blobs[i].data) duckdb_free(blobs[i].data);
            texts[i] = NULL;
            blobs[i].data = NULL;
        }
    }
    free(p);
    free(texts);
    free(blobs);
    buf_free(&ins);
    if (rc) return rc;
    next->next_file_id = cur->next_file_id + 1; /* the stats cache key moves (digest §4.4) */
    if (buf_printf(changes, "inlined_insert:%lld", (long long)t->table_id)) {
        dlb_err_set(err, 500, "out_of_memory", "out of memory");
        return -1;
    }
    return 0;
}

int lake_append_inline(lake_t *l, duckdb_connection con, const lake_table_def *t, const char *stage,
                       const char *select_sql, int64_t nrows, int64_t *snapshot_out, dlb_err *err)
{
    lake_file_stats stats;
    memset(&stats, 0, sizeof stats);
    int rc = -1;
    buf_t q;
    buf_init(&q, 0);
    duckdb_result rows;
    int have_rows = 0;
    /* Statistics over the cast values. */
    buf_printf(&q, "CREATE OR REPLACE TEMP TABLE ");
    sql_ident(&q, stage);
    buf_printf(&q, " AS %s", select_sql);
    if (!q.data || duck_exec(con, q.data, 500, "stage_failed", err)) goto done;
    for (int i = 0; i < t->ncols; i++) {
        buf_t e;
        buf_init(&e, 0);
        sql_ident(&e, t->cols[i]->name);
        int wr = e.data ? walk(con, stage, t->cols[i], e.data, 0, 0, &stats, err) : -1;
        buf_free(&e);
        if (wr) goto done;
    }
    /* The values in their bind classes. */
    buf_reset(&q);
    buf_appends(&q, "SELECT ");
    for (int i = 0; i < t->ncols; i++) {
        buf_t col;
        buf_init(&col, 0);
        sql_ident(&col, t->cols[i]->name);
        const lake_type *ct = t->cols[i];
        const char *fmt;
        switch (inline_class(l->postgres, ct)) {
        case 0:
            fmt = "CAST(%s AS BIGINT)";
            break;
        case 1:
            fmt = ct->kind == LT_BLOB ? "CAST(%s AS BLOB)" : "encode(%s)";
            break;
        default:
            fmt = "CAST(%s AS VARCHAR)";
        }
        if (i) buf_appends(&q, ", ");
        buf_printf(&q, fmt, col.data ? col.data : "\"\"");
        buf_free(&col);
    }
    buf_appends(&q, " FROM ");
    sql_ident(&q, stage);
    buf_appends(&q, " ORDER BY rowid");
    if (!q.data || duck_query(con, q.data, &rows, 500, "stage_failed", err)) goto done;
    have_rows = 1;
    inline_args a = {.l = l, .t = t, .stats = &stats, .rows = &rows, .nrows = nrows};
    rc = lake_commit(l, inline_body, &a, snapshot_out, err);
done:
    if (have_rows) duckdb_destroy_result(&rows);
    buf_free(&q);
    lake_file_stats_free(&stats);
    return rc;
}
