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

/* One written file of an append with its partition key values (NULL entries: NULL keys). */
typedef struct {
    lake_file_stats f;
    char **values; /* nkeys strings, or NULL when the table is unpartitioned */
} append_file;

static void append_files_free(append_file *v, int n, int nkeys)
{
    for (int i = 0; v && i < n; i++) {
        lake_file_stats_free(&v[i].f);
        for (int k = 0; v[i].values && k < nkeys; k++)
            free(v[i].values[k]);
        free(v[i].values);
    }
    free(v);
}

typedef struct {
    lake_t *l;
    const lake_table_def *t;
    append_file *files;
    int nfiles, nkeys;
    int64_t first_file_id; /* ids of the last try, for the deletion schedule; -1 none */
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
    int rc = lake_check_table_unchanged(c, t, err);
    if (rc) return rc;
    /* the files were split by the scheme loaded with t: a concurrent SET/RESET PARTITIONED BY
     * makes them wrong for the new one */
    int64_t pid = -1;
    if ((rc = lake_partition_in_force(c, t->table_id, &pid, err)) != 0) return rc;
    if (pid != t->partition_id) {
        dlb_err_set(err, 409, "table_changed",
                    "the partitioning of %s.%s was changed by a concurrent commit; retry the "
                    "append",
                    t->schema_name, t->table_name);
        return -1;
    }
    a->first_file_id = next->next_file_id;
    for (int i = 0; i < a->nfiles; i++) {
        const lake_file_stats *f = &a->files[i].f;
        int64_t file_id = next->next_file_id++;
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
                        MVINT(row_id_start),
                        t->partition_id >= 0 ? MVINT(t->partition_id) : MVNULL};
        rc = lake_exec(c,
                       "INSERT INTO ducklake_data_file VALUES (?, ?, ?, NULL, NULL, ?, ?, "
                       "'parquet', ?, ?, ?, ?, ?, NULL, NULL, NULL)",
                       p, 10, err);
        if (rc) return rc;
        rc = lake_insert_file_stats(c, file_id, t->table_id, f, err);
        if (rc) return rc;
        if (a->files[i].values &&
            (rc = lake_insert_partition_values(c, file_id, t->table_id, a->files[i].values,
                                               a->nkeys, err)) != 0)
            return rc;
    }
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
    if (lake_file_remove(l, f->path) == 0) return; /* local file or s3:// object (remote.c) */
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

/* What one append works with: the table, its cast types, the source -> table column map. */
typedef struct {
    lake_t *l;
    duckdb_connection con;
    lake_table_def t;
    buf_t **types;    /* per table column: the cast target */
    int *src_of;      /* per table column: the source column, -1 when absent */
    char **src_names; /* source column names */
    idx_t nsrc;
    lake_part_key *keys; /* the partitioning in force when the table was loaded */
    int nkeys;           /* -1: a scheme this writer cannot split by (part_err says why) */
    dlb_err part_err;
} append_ctx;

static void ctx_free_map(append_ctx *x)
{
    for (idx_t s = 0; x->src_names && s < x->nsrc; s++)
        free(x->src_names[s]);
    free(x->src_names);
    x->src_names = NULL;
    x->nsrc = 0;
}

/* Source columns -> table columns by name (case-insensitive), from the columns `SELECT * FROM
 * from LIMIT 0` yields (nothing is scanned). 422 for an unknown or duplicate column. */
static int map_columns(append_ctx *x, const char *from, int read_status, dlb_err *err)
{
    const lake_table_def *t = &x->t;
    buf_t q;
    buf_init(&q, 0);
    buf_printf(&q, "SELECT * FROM %s LIMIT 0", from);
    duckdb_result res;
    ctx_free_map(x);
    if (!q.data) {
        dlb_err_set(err, 500, "out_of_memory", "out of memory");
        return -1;
    }
    int rc = duck_query(x->con, q.data, &res, read_status,
                        read_status == 422 ? "invalid_input" : "stage_failed", err);
    buf_free(&q);
    if (rc) return -1;
    x->nsrc = duckdb_column_count(&res);
    x->src_names = calloc(x->nsrc ? x->nsrc : 1, sizeof *x->src_names);
    if (!x->src_names) goto oom;
    for (int i = 0; i < t->ncols; i++)
        x->src_of[i] = -1;
    for (idx_t s = 0; s < x->nsrc; s++) {
        x->src_names[s] = strdup(duckdb_column_name(&res, s));
        if (!x->src_names[s]) goto oom;
        int match = -1;
        for (int i = 0; i < t->ncols; i++)
            if (!strcasecmp(t->cols[i]->name, x->src_names[s])) match = i;
        if (match < 0 || x->src_of[match] >= 0) {
            dlb_err_set(err, 422, "invalid_input", "%s column '%.100s' in the input",
                        match < 0 ? "unknown" : "duplicate", x->src_names[s]);
            duckdb_destroy_result(&res);
            return -1;
        }
        x->src_of[match] = (int)s;
    }
    duckdb_destroy_result(&res);
    return 0;
oom:
    duckdb_destroy_result(&res);
    dlb_err_set(err, 500, "out_of_memory", "out of memory");
    return -1;
}

/* The rows as the table's types, in column order: SELECT CAST(..) AS "c", ... FROM from.
 * guard: a NULL in a NOT NULL column raises an error (the one-pass write; the staged path has
 * found such rows before). order: the staged rows in input order. */
static int build_select(const append_ctx *x, const char *from, int guard, int order, buf_t *sel);

/* build_select plus ", extra" in the select list. */
static int build_select_ex(const append_ctx *x, const char *from, int guard, int order,
                           const char *extra, buf_t *sel);

static int build_select(const append_ctx *x, const char *from, int guard, int order, buf_t *sel)
{
    return build_select_ex(x, from, guard, order, NULL, sel);
}

static int build_select_ex(const append_ctx *x, const char *from, int guard, int order,
                           const char *extra, buf_t *sel)
{
    const lake_table_def *t = &x->t;
    buf_appends(sel, "SELECT ");
    for (int i = 0; i < t->ncols; i++) {
        if (i) buf_appends(sel, ", ");
        if (x->src_of[i] >= 0) {
            buf_t col;
            buf_init(&col, 0);
            sql_ident(&col, x->src_names[x->src_of[i]]);
            if (!col.data) return -1;
            if (guard && t->cols[i]->not_null)
                buf_printf(sel,
                           "CASE WHEN %s IS NULL THEN error('NULL in a NOT NULL column') "
                           "ELSE CAST(%s AS %s) END AS ",
                           col.data, col.data, x->types[i]->data);
            else
                buf_printf(sel, "CAST(%s AS %s) AS ", col.data, x->types[i]->data);
            buf_free(&col);
        } else {
            buf_printf(sel, "CAST(NULL AS %s) AS ", x->types[i]->data);
        }
        sql_ident(sel, t->cols[i]->name);
    }
    if (extra) buf_printf(sel, ", %s", extra);
    buf_appends(sel, " FROM ");
    buf_appends(sel, from);
    if (order) buf_appends(sel, " ORDER BY rowid");
    return sel->data ? 0 : -1;
}

/* Writes the rows of sel to one Parquet file of the table. 0 with f filled (f->record_count
 * may be 0: the caller removes the file), -1 with err (the file is removed). */
static int write_file(append_ctx *x, const char *sel, const char *subdir, lake_file_stats *f,
                      dlb_err *err)
{
    const lake_table_def *t = &x->t;
    char uuid[37];
    ids_uuid7(uuid);
    buf_t q;
    buf_init(&q, 0);
    buf_printf(&q, "%sducklake-%s.parquet", subdir, uuid);
    f->name = buf_steal(&q, NULL);
    buf_init(&q, 0);
    /* lake on S3 (remote.c): written under DATA_DIR/tmp/, uploaded by commit_file */
    buf_printf(&q, "%s%s", x->l->remote ? x->l->upload_dir : t->dir, f->name ? f->name : "");
    f->path = buf_steal(&q, NULL);
    if (!f->name || !f->path) goto oom;
    /* the file's directory: the table's (or the upload dir), plus the Hive key directories */
    char dir[4096];
    if (snprintf(dir, sizeof dir, "%s", f->path) >= (int)sizeof dir) {
        dlb_err_set(err, 422, "invalid_input", "the data file path is too long");
        return -1;
    }
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    if ((!x->l->remote || *subdir) && slash && make_dirs(dir)) {
        dlb_err_set(err, 503, "storage_unavailable", "cannot create directory %s: %s", dir,
                    strerror(errno));
        return -1;
    }
    buf_init(&q, 0);
    buf_printf(&q, "COPY (%s) TO ", sel);
    sql_string(&q, f->path);
    /* snappy and DuckDB's default row groups (122,880 rows), as the extension writes */
    buf_appends(&q, " (FORMAT parquet, COMPRESSION snappy, FIELD_IDS {");
    for (int i = 0; i < t->ncols; i++)
        if ((i && buf_appends(&q, ", ")) || field_ids(&q, t->cols[i])) goto oom;
    buf_appends(&q, "}, RETURN_STATS)");
    if (!q.data) goto oom;
    int rc = lake_copy_with_stats(x->con, q.data, t, f, err);
    buf_free(&q);
    if (rc) unlink(f->path);
    return rc;
oom:
    buf_free(&q);
    dlb_err_set(err, 500, "out_of_memory", "out of memory");
    return -1;
}

/* Commits the written files (each with record_count > 0) in one snapshot; on failure every
 * file is deleted or scheduled for deletion. */
static int commit_files(append_ctx *x, append_file *files, int nfiles, int nkeys, int64_t *rows_out,
                        int64_t *snapshot_out, dlb_err *err)
{
    append_args a = {.l = x->l,
                     .t = &x->t,
                     .files = files,
                     .nfiles = nfiles,
                     .nkeys = nkeys,
                     .first_file_id = -1};
    int64_t snap = 0, rows = 0, bytes = 0;
    for (int i = 0; i < nfiles; i++) {
        rows += files[i].f.record_count;
        bytes += files[i].f.file_size_bytes;
    }
    /* lake on S3: the objects exist before the catalog names them; f.path becomes the URL */
    for (int i = 0; x->l->remote && i < nfiles; i++)
        if (lake_remote_publish(x->l, &files[i].f.path, x->t.dir, files[i].f.name, err) != 0) {
            for (int j = 0; j < nfiles; j++)
                if (j != i) discard_file(x->l, &x->t, &files[j].f, -1);
            return -1;
        }
    lake_commit_info ci; /* automatic lineage (lake_commit_describe) */
    lake_commit_info_table(&ci, "append", &x->t);
    ci.rows = rows;
    ci.bytes = bytes;
    ci.files = nfiles;
    lake_commit_describe(&ci);
    int crc = lake_commit(x->l, append_body, &a, &snap, err);
    lake_commit_describe(NULL);
    if (crc != 0) {
        for (int i = 0; i < nfiles; i++)
            discard_file(x->l, &x->t, &files[i].f, a.first_file_id >= 0 ? a.first_file_id + i : -1);
        return -1;
    }
    if (rows_out) *rows_out = rows;
    if (snapshot_out) *snapshot_out = snap;
    return 0;
}

/* One unpartitioned file. */
static int commit_file(append_ctx *x, lake_file_stats *f, int64_t *rows_out, int64_t *snapshot_out,
                       dlb_err *err)
{
    append_file one = {.f = *f, .values = NULL};
    int rc = commit_files(x, &one, 1, 0, rows_out, snapshot_out, err);
    *f = one.f; /* the path may have become a URL; the caller frees f */
    return rc;
}

/* The staged rows split by the transformed partition keys (digest §7.10): a temp table
 * with the keys and a group number beside the rows, then one COPY per group into
 * <table dir>/<k>=<v>/.../ducklake-<uuidv7>.parquet, rows in input order. Group numbers, not
 * key values, go into the SQL, so no value is ever pasted. 0 with *files (the caller frees),
 * -1 with err (every file written so far removed). */
static int write_partitioned(append_ctx *x, const char *stage, const lake_part_key *keys, int nkeys,
                             append_file **files_out, int *nfiles_out, dlb_err *err)
{
    const lake_table_def *t = &x->t;
    char parts[80];
    snprintf(parts, sizeof parts, "%s_p", stage);
    buf_t q, inner, extra, pt, cols;
    buf_init(&q, 0);
    buf_init(&inner, 0);
    buf_init(&extra, 0);
    buf_init(&pt, 0);
    buf_init(&cols, 0);
    append_file *files = NULL;
    int nfiles = 0, nalloc = 0, made = 0, rc = -1; /* nfiles: written (and not removed) */
    duckdb_result res;
    int have_res = 0;

    sql_ident(&pt, parts);
    /* the keys of the cast values (the outer select sees the table's column names) */
    for (int k = 0; k < nkeys; k++) {
        buf_t col;
        buf_init(&col, 0);
        sql_ident(&col, t->cols[keys[k].col]->name);
        buf_appends(&extra, k ? ", " : "*, ");
        if (!col.data || lake_partition_expr(&keys[k], col.data, &extra)) {
            buf_free(&col);
            goto oom;
        }
        buf_printf(&extra, " AS __dlb_k%d", k);
        buf_free(&col);
    }
    if (!extra.data || !pt.data) goto oom;
    buf_t from;
    buf_init(&from, 0);
    sql_ident(&from, stage);
    int bad = !from.data || build_select_ex(x, from.data, 0, 0, "rowid AS __dlb_ord", &inner);
    buf_free(&from);
    if (bad) goto oom;
    buf_printf(&q, "CREATE TEMP TABLE %s AS SELECT *, dense_rank() OVER (ORDER BY ", pt.data);
    for (int k = 0; k < nkeys; k++)
        buf_printf(&q, "%s__dlb_k%d NULLS LAST", k ? ", " : "", k);
    buf_printf(&q, ") AS __dlb_pk FROM (SELECT %s FROM (%s))", extra.data, inner.data);
    if (!q.data) goto oom;
    if (duck_exec(x->con, q.data, 500, "partition_failed", err)) goto done;
    made = 1;

    buf_reset(&q);
    buf_appends(&q, "SELECT __dlb_pk");
    for (int k = 0; k < nkeys; k++)
        buf_printf(&q, ", any_value(__dlb_k%d)", k);
    buf_printf(&q, " FROM %s GROUP BY __dlb_pk ORDER BY __dlb_pk", pt.data);
    if (!q.data) goto oom;
    if (duck_query(x->con, q.data, &res, 500, "partition_failed", err)) goto done;
    have_res = 1;
    idx_t groups = duckdb_row_count(&res);
    files = calloc(groups ? groups : 1, sizeof *files);
    if (!files) goto oom;
    nalloc = (int)groups;
    for (int i = 0; i < t->ncols; i++)
        if ((i && buf_appends(&cols, ", ")) || sql_ident(&cols, t->cols[i]->name)) goto oom;
    for (idx_t g = 0; g < groups; g++) {
        append_file *af = &files[nfiles];
        af->values = calloc((size_t)nkeys, sizeof *af->values);
        if (!af->values) goto oom;
        for (int k = 0; k < nkeys; k++)
            if (!duckdb_value_is_null(&res, (idx_t)k + 1, g)) {
                char *v = duckdb_value_varchar(&res, (idx_t)k + 1, g);
                af->values[k] = v ? strdup(v) : NULL;
                duckdb_free(v);
                if (!af->values[k]) goto oom;
            }
        buf_t sub, sel;
        buf_init(&sub, 0);
        buf_init(&sel, 0);
        lake_partition_dir(keys, nkeys, af->values, &sub);
        buf_printf(&sel, "SELECT %s FROM %s WHERE __dlb_pk = %lld ORDER BY __dlb_ord", cols.data,
                   pt.data, (long long)duckdb_value_int64(&res, 0, g));
        int wrc = !sub.data || !sel.data ? -2 : write_file(x, sel.data, sub.data, &af->f, err);
        buf_free(&sub);
        buf_free(&sel);
        if (wrc == -2) goto oom;
        if (wrc) goto done; /* write_file removed its file */
        nfiles++;
    }
    rc = 0;
    goto done;
oom:
    dlb_err_set(err, 500, "out_of_memory", "out of memory");
done:
    if (have_res) duckdb_destroy_result(&res);
    if (made) {
        buf_reset(&q);
        buf_printf(&q, "DROP TABLE IF EXISTS %s", pt.data);
        dlb_err ignored;
        if (q.data) duck_exec(x->con, q.data, 500, "stage_drop", &ignored);
    }
    if (rc) {
        for (int i = 0; i < nfiles; i++)
            unlink(files[i].f.path);
        append_files_free(files, nalloc, nkeys);
        files = NULL;
        nfiles = 0;
    }
    buf_free(&q);
    buf_free(&inner);
    buf_free(&extra);
    buf_free(&pt);
    buf_free(&cols);
    *files_out = files;
    *nfiles_out = nfiles;
    return rc;
}

static int empty_append(append_ctx *x, int64_t *rows_out, int64_t *snapshot_out, dlb_err *err)
{
    int64_t s = 0;
    if (latest_snapshot_id(x->l, &s, err)) return -1;
    if (rows_out) *rows_out = 0;
    if (snapshot_out) *snapshot_out = s;
    return 0;
}

/* The one-pass write (the common, valid case): COPY (SELECT CAST(...) FROM source) TO parquet,
 * reading the source once, in parallel, rows in input order. 1 when it does not apply or
 * fails (the caller takes the staged path, which re-reads the source and names the first bad
 * row and column), 0 done, -1 error that the staged path would not change (err set). */
static int append_direct(append_ctx *x, const char *source_sql, int64_t *rows_out,
                         int64_t *snapshot_out, dlb_err *err)
{
    const lake_table_def *t = &x->t;
    dlb_err e2 = {0};
    if (x->nkeys) return 1; /* a partitioned write splits staged rows */
    if (map_columns(x, source_sql, 422, err)) return -1; /* the staged path says the same */
    for (int i = 0; i < t->ncols; i++)
        if (x->src_of[i] < 0 && t->cols[i]->not_null) return 1; /* 422 if there are rows */
    if (x->l->inlining_row_limit > 0 && lake_inline_eligible(t)) {
        /* Small enough to inline? Read at most limit + 1 rows to know. */
        buf_t q;
        buf_init(&q, 0);
        buf_printf(&q, "SELECT count(*) FROM (SELECT 1 FROM %s LIMIT %d)", source_sql,
                   x->l->inlining_row_limit + 1);
        duckdb_result res;
        int small = 1;
        if (q.data && !duck_query(x->con, q.data, &res, 422, "invalid_input", &e2)) {
            small = duckdb_value_int64(&res, 0, 0) <= x->l->inlining_row_limit;
            duckdb_destroy_result(&res);
        }
        buf_free(&q);
        if (small) return 1;
    }
    buf_t sel;
    buf_init(&sel, 0);
    lake_file_stats f;
    memset(&f, 0, sizeof f);
    int rc = 1;
    if (build_select(x, source_sql, 1, 0, &sel)) {
        dlb_err_set(err, 500, "out_of_memory", "out of memory");
        rc = -1;
    } else if (write_file(x, sel.data, "", &f, &e2)) {
        /* a bad row (or an unreadable input): the staged path finds and names it; a storage
         * failure is reported as it is */
        if (e2.status == 503) {
            *err = e2;
            rc = -1;
        }
    } else if (f.record_count == 0) {
        unlink(f.path);
        rc = empty_append(x, rows_out, snapshot_out, err);
    } else {
        rc = commit_file(x, &f, rows_out, snapshot_out, err);
    }
    buf_free(&sel);
    lake_file_stats_free(&f);
    return rc;
}

/* The staged path: the source into a DuckDB temp table (read once), counted, every value
 * checked with TRY_CAST (the first bad row and column give 422), then inlined or written. */
static int append_staged(append_ctx *x, const char *source_sql, int64_t *rows_out,
                         int64_t *snapshot_out, dlb_err *err)
{
    const lake_table_def *t = &x->t;
    lake_t *l = x->l;
    duckdb_connection con = x->con;
    int rc = -1;
    char stage[64], rid[33];
    ids_request_id(rid);
    snprintf(stage, sizeof stage, "__dlb_stage_%.16s", rid);
    buf_t q, sel, from;
    buf_init(&q, 0);
    buf_init(&sel, 0);
    buf_init(&from, 0);
    int staged = 0;
    lake_file_stats f;
    memset(&f, 0, sizeof f);

    buf_appends(&q, "CREATE TEMP TABLE ");
    sql_ident(&q, stage);
    buf_printf(&q, " AS SELECT * FROM %s", source_sql);
    sql_ident(&from, stage);
    if (!q.data || !from.data) goto oom;
    if (duck_exec(con, q.data, 422, "invalid_input", err)) goto done;
    staged = 1;
    if (map_columns(x, from.data, 500, err)) goto done;

    buf_reset(&q);
    buf_printf(&q, "SELECT count(*) FROM %s", from.data);
    duckdb_result res;
    if (!q.data || duck_query(con, q.data, &res, 500, "stage_failed", err)) goto done;
    int64_t nrows = duckdb_value_int64(&res, 0, 0);
    duckdb_destroy_result(&res);
    if (nrows > 0)
        for (int i = 0; i < t->ncols; i++)
            if (x->src_of[i] < 0 && t->cols[i]->not_null) {
                dlb_err_set(err, 422, "invalid_row",
                            "row 1, column '%s': NULL in a NOT NULL column (missing from the "
                            "input)",
                            t->cols[i]->name);
                goto done;
            }
    if (nrows == 0) {
        rc = empty_append(x, rows_out, snapshot_out, err);
        goto done;
    }
    if (validate_rows(con, stage, t, x->src_of, x->src_names, x->types, err)) goto done;

    /* The rows as the table's types, in column order and input order. */
    if (build_select(x, from.data, 0, 1, &sel)) goto oom;

    if (l->inlining_row_limit > 0 && nrows <= l->inlining_row_limit && lake_inline_eligible(t)) {
        int64_t snap = 0;
        lake_commit_info ci; /* automatic lineage: inlined rows, no file */
        lake_commit_info_table(&ci, "append", t);
        ci.rows = nrows;
        ci.bytes = 0;
        ci.files = 0;
        lake_commit_describe(&ci);
        rc = lake_append_inline(l, con, t, stage, sel.data, nrows, &snap, err);
        lake_commit_describe(NULL);
        if (rc == 0) {
            if (rows_out) *rows_out = nrows;
            if (snapshot_out) *snapshot_out = snap;
        }
        goto done;
    }
    if (x->nkeys < 0) { /* inlined rows need no split; files do */
        *err = x->part_err;
        goto done;
    }
    if (x->nkeys) {
        append_file *files = NULL;
        int nfiles = 0;
        if (write_partitioned(x, stage, x->keys, x->nkeys, &files, &nfiles, err)) goto done;
        rc = commit_files(x, files, nfiles, x->nkeys, rows_out, snapshot_out, err);
        append_files_free(files, nfiles, x->nkeys);
        goto done;
    }
    if (write_file(x, sel.data, "", &f, err)) {
        if (!strncmp(err->detail, "Conversion Error", 16) ||
            !strncmp(err->detail, "Invalid Input Error", 19) ||
            strstr(err->detail, "do not support negative intervals")) {
            err->status = 422;
            snprintf(err->code, sizeof err->code, "invalid_row");
        }
        goto done;
    }
    rc = commit_file(x, &f, rows_out, snapshot_out, err);
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
    buf_free(&q);
    buf_free(&sel);
    buf_free(&from);
    lake_file_stats_free(&f);
    return rc;
}

int lake_append(lake_t *l, duckdb_connection con, const char *schema, const char *table,
                const char *source_sql, int64_t *rows_out, int64_t *snapshot_out, dlb_err *err)
{
    return lake_append_ex(l, con, schema, table, source_sql, 0, rows_out, snapshot_out, err);
}

int lake_append_ex(lake_t *l, duckdb_connection con, const char *schema, const char *table,
                   const char *source_sql, unsigned flags, int64_t *rows_out, int64_t *snapshot_out,
                   dlb_err *err)
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
    append_ctx x;
    memset(&x, 0, sizeof x);
    x.l = l;
    x.con = con;
    meta_conn *mc = meta_acquire(l->meta);
    if (!mc) {
        dlb_err_set(err, 503, "catalog_unavailable", "no metadata connection available");
        return -1;
    }
    int found = lake_table_load(l, mc, schema, table, &x.t, err);
    meta_release(l->meta, mc);
    if (found < 0) return -1;
    if (found == 0) {
        dlb_err_set(err, 404, "table_not_found", "table %s.%s does not exist", schema, table);
        return -1;
    }
    const lake_table_def *t = &x.t;
    int rc = -1;
    x.src_of = calloc((size_t)t->ncols + 1, sizeof *x.src_of);
    x.types = calloc((size_t)t->ncols + 1, sizeof *x.types);
    if (!x.src_of || !x.types) goto oom;
    for (int i = 0; i < t->ncols; i++) {
        x.types[i] = calloc(1, sizeof **x.types);
        if (!x.types[i]) goto oom;
        buf_init(x.types[i], 0);
        if (lake_type_sql(t->cols[i], 1, x.types[i]) || !x.types[i]->data) goto oom;
    }

    if (lake_partition_keys(l, t, &x.keys, &x.nkeys, &x.part_err)) {
        if (strcmp(x.part_err.code, "unsupported_partitioning")) {
            *err = x.part_err;
            goto done;
        }
        x.nkeys = -1;
    }

    /* Session settings our text forms rely on (TIMESTAMPTZ in UTC); no ICU: nothing to do. */
    duckdb_result ignore;
    duckdb_query(con, "SET TimeZone = 'UTC'", &ignore);
    duckdb_destroy_result(&ignore);

    rc = flags & LAKE_APPEND_READ_ONCE ? 1
                                       : append_direct(&x, source_sql, rows_out, snapshot_out, err);
    if (rc == 1) rc = append_staged(&x, source_sql, rows_out, snapshot_out, err);
    goto done;
oom:
    dlb_err_set(err, 500, "out_of_memory", "out of memory");
done:
    ctx_free_map(&x);
    for (int i = 0; x.types && i < t->ncols; i++)
        if (x.types[i]) {
            buf_free(x.types[i]);
            free(x.types[i]);
        }
    free(x.types);
    free(x.src_of);
    free(x.keys);
    lake_table_def_free(&x.t);
    return rc;
}
