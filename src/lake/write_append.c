/* INSERT (digest §7.3): stage the caller's rows in DuckDB, find the first row that does not
 * fit the table, write one Parquet file with field ids = column ids and take its statistics
 * from RETURN_STATS, then commit the file in one metadata transaction (or inline small
 * batches, write_inline.c). */
#include "lake/write.h"

#include "util/ids.h"
#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* mkdir -p for the table directory (local data paths). */
static int make_dirs(const char *dir)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s", dir) >= (int)sizeof tmp) return -1;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
    return 0;
}

/* FIELD_IDS {'a': 1, 's': {__duckdb_field_id: 2, 'x': 3}, 'l': {__duckdb_field_id: 4,
 * 'element': 5}} for the tree (digest §7.3). */
static int field_ids(buf_t *b, const lake_type *t)
{
    if (sql_string(b, t->name) || buf_appends(b, ": ")) return -1;
    if (!lake_type_nested(t)) return buf_printf(b, "%lld", (long long)t->id);
    if (buf_printf(b, "{__duckdb_field_id: %lld", (long long)t->id)) return -1;
    for (int i = 0; i < t->nchildren; i++)
        if (buf_appends(b, ", ") || field_ids(b, t->children[i])) return -1;
    return buf_appends(b, "}");
}

typedef struct {
    lake_t *l;
    const lake_table_def *t;
    lake_file_stats *f;
    int64_t file_id; /* last id tried, for the deletion schedule */
} append_args;

int lake_check_table_unchanged(meta_conn *c, const lake_table_def *t, dlb_err *err)
{
    int rc = 0;
    meta_val p[] = {MVINT(t->table_id)};
    meta_result *r =
        lake_query(c, "SELECT 1 FROM ducklake_table WHERE table_id = ? AND end_snapshot IS NULL", p,
                   1, &rc, err);
    if (!r) return rc ? rc : -1;
    int live = meta_result_rows(r) > 0;
    meta_result_free(r);
    char sig[96];
    if (live && (rc = lake_table_signature(c, t->table_id, sig, err)) != 0) return rc;
    if (!live || strcmp(sig, t->sig)) {
        dlb_err_set(err, 409, "table_changed",
                    "table %s.%s was %s by a concurrent commit; retry the append", t->schema_name,
                    t->table_name, live ? "altered" : "dropped");
        return -1;
    }
    return 0;
}

static int append_body(meta_conn *c, const lake_snap *cur, lake_snap *next, buf_t *changes,
                       void *arg, dlb_err *err)
{
    (void)cur;
    append_args *a = arg;
    const lake_table_def *t = a->t;
    lake_file_stats *f = a->f;
    int rc = lake_check_table_unchanged(c, t, err);
    if (rc) return rc;
    int64_t file_id = next->next_file_id++;
    a->file_id = file_id;
    int64_t row_id_start = 0;
    rc = lake_merge_table_stats(c, t->table_id, f->record_count, f->file_size_bytes, f->leaves,
                                f->nleaves, &row_id_start, err);
    if (rc) return rc;
    meta_val p[] = {MVINT(file_id),
                    MVINT(t->table_id),
                    MVINT(next->snapshot_id),
                    MVTEXT(f->name),
                    MVINT(1),
                    MVINT(f->record_count),
                    MVINT(f->file_size_bytes),
                    f->footer_size >= 0 ? MVINT(f->footer_size) : MVNULL,
                    MVINT(row_id_start)};
    rc = lake_exec(c,
                   "INSERT INTO ducklake_data_file VALUES (?, ?, ?, NULL, NULL, ?, ?, 'parquet', "
                   "?, ?, ?, ?, NULL, NULL, NULL, NULL)",
                   p, 9, err);
    if (rc) return rc;
    rc = lake_insert_file_stats(c, file_id, t->table_id, f, err);
    if (rc) return rc;
    if (buf_printf(changes, "inserted_into_table:%lld", (long long)t->table_id)) {
        dlb_err_set(err, 500, "out_of_memory", "out of memory");
        return -1;
    }
    return 0;
}

/* A file no snapshot refers to: delete it; when that fails, record it in
 * ducklake_files_scheduled_for_deletion so that cleanup finds it (never silently orphaned). */
static void discard_file(lake_t *l, const lake_table_def *t, const lake_file_stats *f,
                         int64_t file_id)
{
    if (unlink(f->path) == 0 || errno == ENOENT) return;
    log_error("lake: cannot delete uncommitted data file; scheduling it", "path", f->path);
    meta_conn *c = meta_acquire(l->meta);
    if (!c) return;
    buf_t rel;
    buf_init(&rel, 0);
    char ts[40];
    lake_now_text(ts);
    if (!buf_appends(&rel, t->rel_dir) && !buf_appends(&rel, f->name)) {
        meta_val p[] = {MVINT(file_id), MVTEXT(rel.data), MVINT(1), MVTEXT(ts)};
        if (meta_begin(c) == META_OK) {
            int64_t rc =
                meta_exec(c,
                          l->postgres ? "INSERT INTO ducklake_files_scheduled_for_deletion "
                                        "VALUES (?, ?, ?, CAST(? AS TIMESTAMPTZ))"
                                      : "INSERT INTO ducklake_files_scheduled_for_deletion "
                                        "VALUES (?, ?, ?, ?)",
                          p, 4, NULL, 0);
            if (rc < 0 || meta_commit(c) != META_OK) {
                meta_rollback(c);
                log_error("lake: orphaned data file could not be scheduled", "path", f->path);
            }
        }
    }
    buf_free(&rel);
    meta_release(l->meta, c);
}

/* Finds the first row (then column) that does not fit; 422 naming it. 0 when all fit. */
static int validate_rows(duckdb_connection con, const char *stage, const lake_table_def *t,
                         const int *src_of, char **src_names, buf_t *const *types, dlb_err *err)
{
    buf_t q;
    buf_init(&q, 0);
    int rc = -1;
    buf_appends(&q, "SELECT ");
    for (int i = 0; i < t->ncols; i++) {
        if (i) buf_appends(&q, ", ");
        if (src_of[i] < 0) {
            buf_appends(&q, "NULL::BIGINT, NULL::BIGINT");
            continue;
        }
        buf_t col;
        buf_init(&col, 0);
        sql_ident(&col, src_names[src_of[i]]);
        buf_printf(&q,
                   "min(CASE WHEN %s IS NOT NULL AND TRY_CAST(%s AS %s) IS NULL THEN rowid END)",
                   col.data, col.data, types[i]->data);
        if (t->cols[i]->not_null)
            buf_printf(&q, ", min(CASE WHEN TRY_CAST(%s AS %s) IS NULL THEN rowid END)", col.data,
                       types[i]->data);
        else
            buf_appends(&q, ", NULL::BIGINT");
        buf_free(&col);
    }
    buf_appends(&q, " FROM ");
    if (sql_ident(&q, stage) || !q.data) {
        buf_free(&q);
        dlb_err_set(err, 500, "out_of_memory", "out of memory");
        return -1;
    }
    duckdb_result res;
    if (duck_query(con, q.data, &res, 500, "validation_failed", err)) {
        buf_free(&q);
        return -1;
    }
    int64_t best = -1;
    int best_col = -1, best_kind = 0;
    for (int i = 0; i < t->ncols; i++)
        for (int k = 0; k < 2; k++) {
            idx_t col = (idx_t)(2 * i + k);
            if (duckdb_value_is_null(&res, col, 0)) continue;
            int64_t row = duckdb_value_int64(&res, col, 0);
            if (best < 0 || row < best) {
                best = row;
                best_col = i;
                best_kind = k;
            }
        }
    duckdb_destroy_result(&res);
    buf_free(&q);
    if (best < 0) return 0;

    const char *cname = t->cols[best_col]->name;
    if (best_kind == 1) {
        dlb_err_set(err, 422, "invalid_row", "row %lld, column '%s': NULL in a NOT NULL column",
                    (long long)best + 1, cname);
        return -1;
    }
    /* The offending value, through a prepared statement. */
    buf_init(&q, 0);
    buf_appends(&q, "SELECT CAST(");
    sql_ident(&q, src_names[src_of[best_col]]);
    buf_appends(&q, " AS VARCHAR) FROM ");
    sql_ident(&q, stage);
    buf_appends(&q, " WHERE rowid = ?");
    char *val = NULL;
    duckdb_prepared_statement ps = NULL;
    if (q.data && duckdb_prepare(con, q.data, &ps) == DuckDBSuccess &&
        duckdb_bind_int64(ps, 1, best) == DuckDBSuccess &&
        duckdb_execute_prepared(ps, &res) == DuckDBSuccess) {
        if (!duckdb_value_is_null(&res, 0, 0)) val = duckdb_value_varchar(&res, 0, 0);
        duckdb_destroy_result(&res);
    }
    duckdb_destroy_prepare(&ps);
    buf_free(&q);
    buf_t tn;
    buf_init(&tn, 0);
    lake_type_sql(t->cols[best_col], 0, &tn);
    dlb_err_set(err, 422, "invalid_row", "row %lld, column '%s': cannot convert '%.200s' to %s",
                (long long)best + 1, cname, val ? val : "?", tn.data ? tn.data : "?");
    buf_free(&tn);
    if (val) duckdb_free(val);
    rc = -1;
    return rc;
}

static int latest_snapshot_id(lake_t *l, int64_t *out, dlb_err *err)
{
    meta_conn *c = meta_acquire(l->meta);
    if (!c) {
        dlb_err_set(err, 503, "catalog_unavailable", "no metadata connection available");
        return -1;
    }
    lake_snap s;
    int rc = lake_latest_snapshot(c, &s, err);
    meta_release(l->meta, c);
    if (rc) return -1;
    *out = s.snapshot_id;
    return 0;
}

int lake_append(lake_t *l, duckdb_connection con, const char *schema, const char *table,
                const char *source_sql, int64_t *rows_out, int64_t *snapshot_out, dlb_err *err)
{
    if (l->read_only) {
        dlb_err_set(err, 403, "read_only", "the lake is read-only");
        return -1;
    }
    if (!schema) schema = "main";
    if (!table || !source_sql) {
        dlb_err_set(err, 422, "invalid_input", "no table or no source given");
        return -1;
    }
    lake_table_def t;
    meta_conn *mc = meta_acquire(l->meta);
    if (!mc) {
        dlb_err_set(err, 503, "catalog_unavailable", "no metadata connection available");
        return -1;
    }
    int found = lake_table_load(l, mc, schema, table, &t, err);
    meta_release(l->meta, mc);
    if (found < 0) return -1;
    if (found == 0) {
        dlb_err_set(err, 404, "table_not_found", "table %s.%s does not exist", schema, table);
        return -1;
    }

    int rc = -1;
    char stage[64], rid[33];
    ids_request_id(rid);
    snprintf(stage, sizeof stage, "__dlb_stage_%.16s", rid);
    buf_t q, sel;
    buf_init(&q, 0);
    buf_init(&sel, 0);
    int *src_of = calloc((size_t)t.ncols, sizeof *src_of);
    buf_t **types = calloc((size_t)t.ncols, sizeof *types);
    char **src_names = NULL;
    idx_t nsrc = 0;
    int staged = 0;
    lake_file_stats f;
    memset(&f, 0, sizeof f);
    if (!src_of || !types) goto oom;
    for (int i = 0; i < t.ncols; i++) {
        types[i] = calloc(1, sizeof **types);
        if (!types[i]) goto oom;
        buf_init(types[i], 0);
        if (lake_type_sql(t.cols[i], 1, types[i]) || !types[i]->data) goto oom;
    }

    /* Session settings our text forms rely on (TIMESTAMPTZ in UTC); no ICU: nothing to do. */
    duckdb_result ignore;
    if (duckdb_query(con, "SET TimeZone = 'UTC'", &ignore) == DuckDBSuccess)
        duckdb_destroy_result(&ignore);
    else
        duckdb_destroy_result(&ignore);

    buf_appends(&q, "CREATE TEMP TABLE ");
    sql_ident(&q, stage);
    buf_printf(&q, " AS SELECT * FROM %s", source_sql);
    if (!q.data) goto oom;
    if (duck_exec(con, q.data, 422, "invalid_input", err)) goto done;
    staged = 1;

    /* Source columns -> table columns by name (case-insensitive). */
    buf_reset(&q);
    buf_appends(&q, "SELECT * FROM ");
    sql_ident(&q, stage);
    buf_appends(&q, " LIMIT 0");
    duckdb_result res;
    if (!q.data || duck_query(con, q.data, &res, 500, "stage_failed", err)) goto done;
    nsrc = duckdb_column_count(&res);
    src_names = calloc(nsrc ? nsrc : 1, sizeof *src_names);
    if (!src_names) {
        duckdb_destroy_result(&res);
        goto oom;
    }
    for (int i = 0; i < t.ncols; i++)
        src_of[i] = -1;
    for (idx_t s = 0; s < nsrc; s++) {
        src_names[s] = strdup(duckdb_column_name(&res, s));
        if (!src_names[s]) {
            duckdb_destroy_result(&res);
            goto oom;
        }
        int match = -1;
        for (int i = 0; i < t.ncols; i++)
            if (!strcasecmp(t.cols[i]->name, src_names[s])) match = i;
        if (match < 0 || src_of[match] >= 0) {
            dlb_err_set(err, 422, "invalid_input", "%s column '%.100s' in the input",
                        match < 0 ? "unknown" : "duplicate", src_names[s]);
            duckdb_destroy_result(&res);
            goto done;
        }
        src_of[match] = (int)s;
    }
    duckdb_destroy_result(&res);

    buf_reset(&q);
    buf_appends(&q, "SELECT count(*) FROM ");
    sql_ident(&q, stage);
    if (!q.data || duck_query(con, q.data, &res, 500, "stage_failed", err)) goto done;
    int64_t nrows = duckdb_value_int64(&res, 0, 0);
    duckdb_destroy_result(&res);
    if (nrows > 0)
        for (int i = 0; i < t.ncols; i++)
            if (src_of[i] < 0 && t.cols[i]->not_null) {
                dlb_err_set(err, 422, "invalid_row",
                            "row 1, column '%s': NULL in a NOT NULL column (missing from the "
                            "input)",
                            t.cols[i]->name);
                goto done;
            }
    if (nrows == 0) {
        if (rows_out) *rows_out = 0;
        int64_t s = 0;
        if (latest_snapshot_id(l, &s, err)) goto done;
        if (snapshot_out) *snapshot_out = s;
        rc = 0;
        goto done;
    }
    if (validate_rows(con, stage, &t, src_of, src_names, types, err)) goto done;

    /* The rows as the table's types, in column order and input order. */
    buf_appends(&sel, "SELECT ");
    for (int i = 0; i < t.ncols; i++) {
        if (i) buf_appends(&sel, ", ");
        if (src_of[i] >= 0) {
            buf_appends(&sel, "CAST(");
            sql_ident(&sel, src_names[src_of[i]]);
            buf_printf(&sel, " AS %s) AS ", types[i]->data);
        } else {
            buf_printf(&sel, "CAST(NULL AS %s) AS ", types[i]->data);
        }
        sql_ident(&sel, t.cols[i]->name);
    }
    buf_appends(&sel, " FROM ");
    sql_ident(&sel, stage);
    buf_appends(&sel, " ORDER BY rowid");
    if (!sel.data) goto oom;

    if (l->inlining_row_limit > 0 && nrows <= l->inlining_row_limit && lake_inline_eligible(&t)) {
        int64_t snap = 0;
        rc = lake_append_inline(l, con, &t, stage, sel.data, nrows, &snap, err);
        if (rc == 0) {
            if (rows_out) *rows_out = nrows;
            if (snapshot_out) *snapshot_out = snap;
        }
        goto done;
    }

    /* Parquet file under the table directory. */
    char uuid[37];
    ids_uuid7(uuid);
    buf_t name;
    buf_init(&name, 0);
    buf_printf(&name, "ducklake-%s.parquet", uuid);
    f.name = buf_steal(&name, NULL);
    buf_init(&name, 0);
    buf_printf(&name, "%s%s", t.dir, f.name ? f.name : "");
    f.path = buf_steal(&name, NULL);
    if (!f.name || !f.path) goto oom;
    if (make_dirs(t.dir)) {
        dlb_err_set(err, 503, "storage_unavailable", "cannot create directory %s: %s", t.dir,
                    strerror(errno));
        goto done;
    }
    buf_reset(&q);
    buf_printf(&q, "COPY (%s) TO ", sel.data);
    sql_string(&q, f.path);
    buf_appends(&q, " (FORMAT parquet, COMPRESSION snappy, FIELD_IDS {");
    for (int i = 0; i < t.ncols; i++)
        if ((i && buf_appends(&q, ", ")) || field_ids(&q, t.cols[i])) goto oom;
    buf_appends(&q, "}, RETURN_STATS)");
    if (!q.data) goto oom;
    if (lake_copy_with_stats(con, q.data, &t, &f, err)) {
        if (!strncmp(err->detail, "Conversion Error", 16) ||
            !strncmp(err->detail, "Invalid Input Error", 19) ||
            strstr(err->detail, "do not support negative intervals")) {
            err->status = 422;
            snprintf(err->code, sizeof err->code, "invalid_row");
        }
        unlink(f.path);
        goto done;
    }
    append_args a = {.l = l, .t = &t, .f = &f, .file_id = -1};
    int64_t snap = 0;
    if (lake_commit(l, append_body, &a, &snap, err) != 0) {
        discard_file(l, &t, &f, a.file_id);
        goto done;
    }
    if (rows_out) *rows_out = f.record_count;
    if (snapshot_out) *snapshot_out = snap;
    rc = 0;
    goto done;
oom:
    dlb_err_set(err, 500, "out_of_memory", "out of memory");
done:
    if (staged) {
        buf_reset(&q);
        buf_appends(&q, "DROP TABLE IF EXISTS ");
        sql_ident(&q, stage);
        if (q.data) {
            dlb_err ignored;
            duck_exec(con, q.data, 500, "stage_drop", &ignored);
        }
    }
    for (idx_t s = 0; src_names && s < nsrc; s++)
        free(src_names[s]);
    free(src_names);
    for (int i = 0; types && i < t.ncols; i++)
        if (types[i]) {
            buf_free(types[i]);
            free(types[i]);
        }
    free(types);
    free(src_of);
    buf_free(&q);
    buf_free(&sel);
    lake_file_stats_free(&f);
    lake_table_def_free(&t);
    return rc;
}
