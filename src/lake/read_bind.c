/* lake_bind: makes the tables of one snapshot queryable on a DuckDB connection.
 *
 * Per connection (all TEMP, so connections bound to different snapshots do not see each
 * other's objects):
 *   temp.main.__dlb_rel_<table_id>   the relation with its row id (__dlb_rowid), read_sql.c;
 *                                    a temp table holding it for small tables (materialize)
 *   temp.main."<table>"              main-schema tables: the relation without the row id
 *   temp.main."__dlb_pub:<n>:<schema>.<table>"  same for other schemas, reached through
 *   <schema>.main."<table>"          a view in an in-memory database ATTACHed as <schema>
 *                                    (shared by all connections; it only forwards to the
 *                                    connection's own temp view, DuckDB binds it per query)
 *   temp.main.__dlb_inl_<table_id>   inlined rows read from the metadata DB (raw text/blob,
 *                                    appended, never pasted into SQL), cast in the relation
 *   temp.main.__dlb_idel             inlined file deletions (file_id, pos)
 *   temp.main.__dlb_objects          what to drop on the next bind
 * The connection remembers what it is bound to in the variable __dlb_lake_bind
 * ("<lake token>:<snapshot>:<latest snapshot>"): the same snapshot with no newer commit
 * (flush and merge rewrite history, but only in a new snapshot) costs one query. */
#include "lake_internal.h"

#include "util/fnv.h"
#include "util/log.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int ddb_exec(duckdb_connection con, const char *sql, dlb_err *err)
{
    duckdb_result res;
    if (duckdb_query(con, sql, &res) == DuckDBError) {
        dlb_err_set(err, 500, "lake_bind_failed", "DuckDB: %s", duckdb_result_error(&res));
        duckdb_destroy_result(&res);
        return -1;
    }
    duckdb_destroy_result(&res);
    return 0;
}

static void bound_state(duckdb_connection con, char *out, size_t n)
{
    out[0] = 0;
    duckdb_result res;
    if (duckdb_query(con, "SELECT getvariable('__dlb_lake_bind')", &res) == DuckDBSuccess) {
        char *v = duckdb_value_varchar(&res, 0, 0);
        if (v) snprintf(out, n, "%s", v);
        duckdb_free(v);
    }
    duckdb_destroy_result(&res);
}

/* Drops what the previous bind created (listed in __dlb_objects, absent on a fresh
 * connection). */
static int drop_previous(duckdb_connection con, dlb_err *err)
{
    duckdb_result res;
    if (duckdb_query(con, "SELECT kind, name FROM temp.main.__dlb_objects", &res) !=
        DuckDBSuccess) {
        duckdb_destroy_result(&res);
        return 0;
    }
    int rc = 0;
    idx_t rows = duckdb_row_count(&res);
    for (idx_t i = 0; rc == 0 && i < rows; i++) {
        char *kind = duckdb_value_varchar(&res, 0, i);
        char *name = duckdb_value_varchar(&res, 1, i);
        buf_t b;
        buf_init(&b, 0);
        int fail = buf_printf(&b, "DROP %s IF EXISTS temp.main.",
                              kind && strcmp(kind, "table") == 0 ? "TABLE" : "VIEW");
        fail |= lake_sql_ident(&b, name ? name : "");
        if (fail) dlb_err_set(err, 500, "out_of_memory", "out of memory");
        rc = fail ? -1 : ddb_exec(con, b.data, err);
        buf_free(&b);
        duckdb_free(kind);
        duckdb_free(name);
    }
    duckdb_destroy_result(&res);
    return rc;
}

/* Records an object in __dlb_objects (bound, not pasted). */
static int remember(duckdb_connection con, const char *kind, const char *name, dlb_err *err)
{
    duckdb_prepared_statement st;
    if (duckdb_prepare(con, "INSERT INTO temp.main.__dlb_objects VALUES (?, ?)", &st) !=
        DuckDBSuccess) {
        dlb_err_set(err, 500, "lake_bind_failed", "DuckDB: %s", duckdb_prepare_error(st));
        duckdb_destroy_prepare(&st);
        return -1;
    }
    duckdb_bind_varchar(st, 1, kind);
    duckdb_bind_varchar(st, 2, name);
    duckdb_result res;
    int rc = duckdb_execute_prepared(st, &res) == DuckDBSuccess ? 0 : -1;
    if (rc) dlb_err_set(err, 500, "lake_bind_failed", "DuckDB: %s", duckdb_result_error(&res));
    duckdb_destroy_result(&res);
    duckdb_destroy_prepare(&st);
    return rc;
}

static int append_done(duckdb_appender *a, dlb_err *err)
{
    int rc = 0;
    if (duckdb_appender_close(*a) != DuckDBSuccess) {
        dlb_err_set(err, 500, "lake_bind_failed", "DuckDB appender: %s", duckdb_appender_error(*a));
        rc = -1;
    }
    duckdb_appender_destroy(a);
    return rc;
}

/* Positions deleted inline from t's files (ducklake_inlined_delete_<T>, by file id). */
static int load_inlined_deletes(lake_t *l, meta_conn *c, duckdb_connection con, const lake_table *t,
                                int64_t s, int *has, dlb_err *err)
{
    char name[64];
    snprintf(name, sizeof(name), "ducklake_inlined_delete_%" PRId64, t->table_id);
    int ex = lake_meta_table_exists(l, c, name);
    if (ex <= 0) return ex;
    char sql[160], merr[256] = "";
    snprintf(sql, sizeof(sql), "SELECT file_id, row_id FROM \"%s\" WHERE begin_snapshot <= ?",
             name);
    meta_val p[1] = {MVINT(s)};
    meta_result *r = meta_query(c, sql, p, 1, NULL, merr, sizeof(merr));
    if (!r) {
        dlb_err_set(err, 503, "metadata_unavailable", "cannot read %s: %s", name, merr);
        return -1;
    }
    duckdb_appender a;
    if (duckdb_appender_create_ext(con, "temp", "main", "__dlb_idel", &a) != DuckDBSuccess) {
        dlb_err_set(err, 500, "lake_bind_failed", "DuckDB appender: %s", duckdb_appender_error(a));
        duckdb_appender_destroy(&a);
        meta_result_free(r);
        return -1;
    }
    for (int i = 0; i < meta_result_rows(r); i++) {
        int64_t fid = meta_result_int(r, i, 0);
        for (int k = 0; k < t->nfiles; k++)
            if (t->files[k].id == fid) has[k] = 1;
        duckdb_append_int64(a, fid);
        duckdb_append_int64(a, meta_result_int(r, i, 1));
        duckdb_appender_end_row(a);
    }
    meta_result_free(r);
    return append_done(&a, err);
}

/* The column layout of an inlined-data table: the table's columns at the snapshot its schema
 * version began (ducklake_schema_versions; else the table's first snapshot), spec §6.8. */
static int layout_snapshot(meta_conn *c, int64_t table_id, int64_t version, int64_t *out,
                           dlb_err *err)
{
    meta_val p[2] = {MVINT(table_id), MVINT(version)};
    char merr[256] = "";
    meta_result *r = meta_query(c,
                                "SELECT begin_snapshot FROM ducklake_schema_versions WHERE "
                                "table_id = ? AND schema_version = ?",
                                p, 2, NULL, merr, sizeof(merr));
    if (r && meta_result_rows(r) > 0 && !meta_result_isnull(r, 0, 0)) {
        *out = meta_result_int(r, 0, 0);
        meta_result_free(r);
        return 0;
    }
    meta_result_free(r);
    r = meta_query(c, "SELECT min(begin_snapshot) FROM ducklake_table WHERE table_id = ?", p, 1,
                   NULL, merr, sizeof(merr));
    if (!r || meta_result_rows(r) < 1) {
        meta_result_free(r);
        dlb_err_set(err, 503, "metadata_unavailable", "cannot read table versions: %s", merr);
        return -1;
    }
    *out = meta_result_int(r, 0, 0);
    meta_result_free(r);
    return 0;
}

/* Appends the rows of one inlined-data table valid at s, mapped to t's columns by id. */
static int append_inlined_table(meta_conn *c, duckdb_appender a, const lake_table *t,
                                const char *tname, int64_t version, int64_t s, int *rows,
                                dlb_err *err)
{
    int64_t vb;
    if (layout_snapshot(c, t->table_id, version, &vb, err) != 0) return -1;
    lake_column *old = NULL;
    int nold = 0, ntop_old = 0;
    if (lake_columns_load(c, t->table_id, vb, &old, &nold, &ntop_old, err) != 0) return -1;
    buf_t q;
    buf_init(&q, 0);
    int fail = buf_appends(&q, "SELECT * FROM ");
    fail |= lake_sql_ident(&q, tname);
    fail |= buf_appends(&q, " WHERE begin_snapshot <= ? AND (end_snapshot IS NULL OR "
                            "end_snapshot > ?) ORDER BY row_id");
    meta_val p[2] = {MVINT(s), MVINT(s)};
    char merr[256] = "";
    meta_result *r = fail ? NULL : meta_query(c, q.data, p, 2, NULL, merr, sizeof(merr));
    buf_free(&q);
    int *src = calloc(t->ntop ? (size_t)t->ntop : 1, sizeof(int));
    int rc = -1, rowcol = -1;
    if (!r || !src) {
        dlb_err_set(err, 503, "metadata_unavailable", "cannot read %s: %s", tname, merr);
        goto out;
    }
    /* Result column of each current column: by name at vb -> column id -> current. */
    for (int k = 0; k < t->ntop; k++) {
        src[k] = -1;
        for (int j = 0; j < meta_result_cols(r); j++) {
            const char *cn = meta_result_colname(r, j);
            for (int o = 0; o < ntop_old; o++)
                if (old[o].id == t->cols[k].id && strcmp(old[o].name, cn) == 0) src[k] = j;
        }
    }
    for (int j = 0; j < meta_result_cols(r); j++)
        if (strcmp(meta_result_colname(r, j), "row_id") == 0) rowcol = j;
    if (rowcol < 0) {
        dlb_err_set(err, 500, "lake_unsupported", "%s has no row_id column", tname);
        goto out;
    }
    for (int i = 0; i < meta_result_rows(r); i++) {
        duckdb_append_int64(a, meta_result_int(r, i, rowcol));
        for (int k = 0; k < t->ntop; k++) {
            const lake_column *col = &t->cols[k];
            int blob = strcmp(col->type, "blob") == 0;
            const char *v;
            size_t len;
            if (src[k] < 0) {
                /* Added after this inlined table was made: its initial default. */
                v = col->initial_default;
                len = v ? strlen(v) : 0;
            } else if (meta_result_isnull(r, i, src[k])) {
                v = NULL, len = 0;
            } else {
                v = meta_result_get(r, i, src[k]);
                len = meta_result_len(r, i, src[k]);
            }
            if (!v)
                duckdb_append_null(a);
            else if (blob)
                duckdb_append_blob(a, v, len);
            else
                duckdb_append_varchar_length(a, v, len);
        }
        if (duckdb_appender_end_row(a) != DuckDBSuccess) {
            dlb_err_set(err, 500, "lake_bind_failed", "DuckDB appender: %s",
                        duckdb_appender_error(a));
            goto out;
        }
        (*rows)++;
    }
    rc = 0;
out:
    free(src);
    meta_result_free(r);
    lake_columns_free(old, nold);
    return rc;
}

/* Inlined rows of t valid at s into temp.main.__dlb_inl_<T>; *loaded = rows. */
static int load_inlined_rows(lake_t *l, meta_conn *c, duckdb_connection con, const lake_table *t,
                             int64_t s, const char *tmp, int *loaded, dlb_err *err)
{
    meta_val p[1] = {MVINT(t->table_id)};
    char merr[256] = "";
    meta_result *r = meta_query(c,
                                "SELECT table_name, schema_version FROM "
                                "ducklake_inlined_data_tables WHERE table_id = ? "
                                "ORDER BY schema_version",
                                p, 1, NULL, merr, sizeof(merr));
    if (!r) {
        dlb_err_set(err, 503, "metadata_unavailable", "cannot read inlined tables: %s", merr);
        return -1;
    }
    int rc = 0;
    if (meta_result_rows(r) == 0) goto out;
    buf_t b;
    buf_init(&b, 0);
    int fail = buf_appends(&b, "CREATE TEMP TABLE ");
    fail |= lake_sql_ident(&b, tmp);
    fail |= buf_appends(&b, " (__dlb_rowid BIGINT");
    for (int k = 0; k < t->ntop; k++)
        fail |= buf_printf(&b, ", v%d %s", k, strcmp(t->cols[k].type, "blob") ? "VARCHAR" : "BLOB");
    fail |= buf_appends(&b, ")");
    rc = fail ? -1 : ddb_exec(con, b.data, err);
    buf_free(&b);
    if (fail) dlb_err_set(err, 500, "out_of_memory", "out of memory");
    if (rc == 0) rc = remember(con, "table", tmp, err);
    if (rc != 0) goto out;
    duckdb_appender a;
    if (duckdb_appender_create_ext(con, "temp", "main", tmp, &a) != DuckDBSuccess) {
        dlb_err_set(err, 500, "lake_bind_failed", "DuckDB appender: %s", duckdb_appender_error(a));
        duckdb_appender_destroy(&a);
        rc = -1;
        goto out;
    }
    for (int i = 0; rc == 0 && i < meta_result_rows(r); i++) {
        const char *tn = meta_result_get(r, i, 0);
        if (!tn) continue;
        int ex = lake_meta_table_exists(l, c, tn);
        if (ex < 0) {
            dlb_err_set(err, 503, "metadata_unavailable", "cannot inspect %s", tn);
            rc = -1;
        } else if (ex) {
            /* A flush drops superseded inlined tables but may leave the registration. */
            rc = append_inlined_table(c, a, t, tn, meta_result_int(r, i, 1), s, loaded, err);
        }
    }
    if (append_done(&a, rc == 0 ? err : NULL) != 0) rc = -1;
out:
    meta_result_free(r);
    return rc;
}

static void pub_name(const lake_table *t, char *out, size_t n)
{
    if (strcmp(t->schema, "main") == 0)
        snprintf(out, n, "%s", t->name);
    else
        snprintf(out, n, "__dlb_pub:%zu:%s.%s", strlen(t->schema), t->schema, t->name);
}

/* Whether t's relation is copied into a temp table instead of being a view. Every query of a
 * view over read_parquet binds it twice (DuckDB re-binds a prepared statement that reads files
 * when it executes): for a handful of rows that planning is most of the query's time (count(*)
 * of a 3-row table: ~4 M instructions through the view, ~0.5 M from a table). The copy is made
 * once per bind (snapshot or newer commit) and per connection, hence the small bound. */
static int materialize(const lake_t *l, const lake_table *t, int inlined_rows)
{
    int64_t rows = inlined_rows, bytes = 0;
    for (int i = 0; i < t->nfiles; i++) {
        rows += t->files[i].record_count;
        bytes += t->files[i].file_size;
    }
    return rows <= l->materialize_max_rows && bytes <= LAKE_MATERIALIZE_MAX_BYTES;
}

#define PAD_PATH_MAX 4200

/* t's pad file (lake_bind_extra.pad_file) at path, written through con when missing, or NULL
 * when no file of t is large enough to need it or it cannot be written (reads then go on one
 * thread per file). con may be the sandboxed connection: DATA_DIR/cache is one of its allowed
 * directories. The name is a hash of the COPY that writes it, so one file serves every table
 * and snapshot with the same columns and types. */
static const char *table_pad(lake_t *l, duckdb_connection con, const lake_table *t, char *path,
                             size_t cap)
{
    int need = 0;
    for (int i = 0; i < t->nfiles; i++)
        need |= !t->files[i].key && t->files[i].record_count >= LAKE_PAD_MIN_ROWS;
    if (!need) return NULL;
    char dir[4096], abs[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/cache", l->cfg->data_dir);
    mkdir(dir, 0700);
    char *key = realpath(dir, abs) ? lake_pad_copy_sql(t, "") : NULL;
    if (!key) return NULL;
    int n = snprintf(path, cap, "%s/dlb-pad-%016" PRIx64 ".parquet", abs, fnv1a64(key));
    free(key);
    /* written under a temporary name and renamed: a crash never leaves a torn pad behind */
    char tmp[PAD_PATH_MAX + 32];
    snprintf(tmp, sizeof(tmp), "%s.tmp-%ld", path, (long)getpid());
    char *copy = n > 0 && (size_t)n < cap ? lake_pad_copy_sql(t, tmp) : NULL;
    if (!copy) return NULL;
    const char *out = NULL;
    struct stat st;
    pthread_mutex_lock(&l->lock); /* one writer per file; readers wait until it is whole */
    if (!l->pad_failed && stat(path, &st) == 0) {
        out = path;
    } else if (!l->pad_failed) {
        dlb_err e = {0};
        if (ddb_exec(con, copy, &e) == 0 && rename(tmp, path) == 0) {
            out = path;
        } else {
            l->pad_failed = 1;
            unlink(tmp);
            log_warn("lake: cannot write a pad file; large files are read on one thread", "error",
                     e.detail);
        }
    }
    pthread_mutex_unlock(&l->lock);
    free(copy);
    return out;
}

/* Creates the relation and public views of one table. */
static int bind_table(lake_t *l, meta_conn *c, duckdb_connection con, const lake_table *t,
                      int64_t s, const char *pad, dlb_err *err)
{
    char rel[64], inl[64], pub[1024];
    snprintf(rel, sizeof(rel), "__dlb_rel_%" PRId64, t->table_id);
    snprintf(inl, sizeof(inl), "__dlb_inl_%" PRId64, t->table_id);
    pub_name(t, pub, sizeof(pub));
    int *has = calloc(t->nfiles ? (size_t)t->nfiles : 1, sizeof(int));
    if (!has) {
        dlb_err_set(err, 500, "out_of_memory", "out of memory");
        return -1;
    }
    int loaded = 0, rc = -1;
    char *sql = NULL;
    buf_t b;
    buf_init(&b, 0);
    if (load_inlined_deletes(l, c, con, t, s, has, err) < 0) goto out;
    if (load_inlined_rows(l, c, con, t, s, inl, &loaded, err) != 0) goto out;
    lake_bind_extra x = {
        .inlined_table = loaded ? inl : NULL, .file_has_idel = has, .pad_file = pad};
    sql = lake_relation_sql(t, &x, s, err);
    if (!sql) goto out;
    int small = materialize(l, t, loaded);
    int fail = buf_appends(&b, small ? "CREATE TEMP TABLE " : "CREATE TEMP VIEW ");
    fail |= lake_sql_ident(&b, rel);
    fail |= buf_appends(&b, " AS ");
    fail |= buf_appends(&b, sql);
    if (fail) goto oom;
    if (ddb_exec(con, b.data, err) != 0 || remember(con, small ? "table" : "view", rel, err) != 0)
        goto out;
    buf_reset(&b);
    fail |= buf_appends(&b, "CREATE OR REPLACE TEMP VIEW ");
    fail |= lake_sql_ident(&b, pub);
    fail |= buf_appends(&b, " AS SELECT * EXCLUDE (__dlb_rowid) FROM temp.main.");
    fail |= lake_sql_ident(&b, rel);
    if (fail) goto oom;
    if (ddb_exec(con, b.data, err) != 0 || remember(con, "view", pub, err) != 0) goto out;
    rc = 0;
    goto out;
oom:
    dlb_err_set(err, 500, "out_of_memory", "out of memory");
out:
    buf_free(&b);
    free(sql);
    free(has);
    return rc;
}

/* <schema>.<table> for schemas other than main: an attached in-memory database named after
 * the schema holds a forwarding view (see the top of this file). Names DuckDB reserves are
 * skipped (the table stays reachable as temp.main."__dlb_pub:...": documented). */
static int bind_schemas(lake_t *l, duckdb_connection con, const lake_table *t, int n, dlb_err *err)
{
    static const char *const reserved[] = {"main", "temp", "system", "memory"};
    int rc = 0;
    pthread_mutex_lock(&l->lock); /* concurrent ATTACH/CREATE of the same name conflict */
    for (int i = 0; rc == 0 && i < n; i++) {
        int skip = 0;
        for (size_t k = 0; k < sizeof(reserved) / sizeof(reserved[0]); k++)
            if (strcmp(t[i].schema, reserved[k]) == 0) skip = 1;
        if (skip) continue;
        char pub[1024];
        pub_name(&t[i], pub, sizeof(pub));
        buf_t b;
        buf_init(&b, 0);
        int fail = buf_appends(&b, "ATTACH IF NOT EXISTS ':memory:' AS ");
        fail |= lake_sql_ident(&b, t[i].schema);
        rc = fail ? -1 : ddb_exec(con, b.data, err);
        buf_reset(&b);
        fail |= buf_appends(&b, "CREATE VIEW IF NOT EXISTS ");
        fail |= lake_sql_ident(&b, t[i].schema);
        fail |= buf_appends(&b, ".main.");
        fail |= lake_sql_ident(&b, t[i].name);
        fail |= buf_appends(&b, " AS SELECT * FROM temp.main.");
        fail |= lake_sql_ident(&b, pub);
        if (rc == 0) rc = fail ? -1 : ddb_exec(con, b.data, err);
        if (fail) dlb_err_set(err, 500, "out_of_memory", "out of memory");
        buf_free(&b);
    }
    pthread_mutex_unlock(&l->lock);
    return rc;
}

int lake_bind(lake_t *l, duckdb_connection con, int64_t snapshot, dlb_err *err)
{
    meta_conn *c = meta_acquire(l->meta);
    if (!c) {
        dlb_err_set(err, 503, "metadata_unavailable", "no metadata database connection");
        return -1;
    }
    lake_table *t = NULL;
    char *pads = NULL; /* n paths of PAD_PATH_MAX bytes, "" for none */
    int n = 0, rc = -1, in_txn = 0;
    int64_t latest = lake_snapshot_latest(l, c, err);
    if (latest < 0) goto out;
    if (snapshot < 0 || snapshot > latest) {
        dlb_err_set(err, 404, "snapshot_not_found", "snapshot %" PRId64 " does not exist",
                    snapshot);
        goto out;
    }
    char want[96], have[96];
    snprintf(want, sizeof(want), "%" PRIu64 ":%" PRId64 ":%" PRId64, l->token, snapshot, latest);
    bound_state(con, have, sizeof(have));
    if (strcmp(want, have) == 0) {
        rc = 0;
        goto out;
    }
    if (lake_tables_load(l, c, snapshot, NULL, NULL, 1, &t, &n, err) != 0) goto out;
    /* Pad files first: a failed COPY inside the transaction below would abort it. */
    pads = calloc(n ? (size_t)n : 1, PAD_PATH_MAX);
    if (!pads) {
        dlb_err_set(err, 500, "out_of_memory", "out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++)
        if (!table_pad(l, con, &t[i], pads + (size_t)i * PAD_PATH_MAX, PAD_PATH_MAX))
            pads[(size_t)i * PAD_PATH_MAX] = 0;
    /* Forget the old state first: should anything below fail after the commit, the next
     * call rebuilds instead of trusting half-replaced objects. */
    if (ddb_exec(con, "SET VARIABLE __dlb_lake_bind = ''", err) != 0) goto out;
    if (ddb_exec(con, "BEGIN TRANSACTION", err) != 0) goto out;
    in_txn = 1;
    if (drop_previous(con, err) != 0 ||
        ddb_exec(con,
                 "CREATE OR REPLACE TEMP TABLE __dlb_objects (kind VARCHAR, name VARCHAR); "
                 "CREATE OR REPLACE TEMP TABLE __dlb_idel (file_id BIGINT, pos BIGINT)",
                 err) != 0)
        goto out;
    for (int i = 0; i < n; i++) {
        const char *pad = pads + (size_t)i * PAD_PATH_MAX;
        if (bind_table(l, c, con, &t[i], snapshot, pad[0] ? pad : NULL, err) != 0) goto out;
    }
    if (ddb_exec(con, "COMMIT", err) != 0) goto out;
    in_txn = 0;
    if (bind_schemas(l, con, t, n, err) != 0) goto out;
    char set[160];
    snprintf(set, sizeof(set), "SET VARIABLE __dlb_lake_bind = '%s'", want);
    rc = ddb_exec(con, set, err);
out:
    if (in_txn) {
        duckdb_result res;
        duckdb_query(con, "ROLLBACK", &res);
        duckdb_destroy_result(&res);
    }
    free(pads);
    lake_tables_free(t, n);
    meta_release(l->meta, c);
    return rc;
}

void lake_set_materialize_rows(lake_t *l, int64_t rows)
{
    l->materialize_max_rows = rows > 0 ? rows : -1;
}
