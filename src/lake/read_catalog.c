/* Catalog rows of one snapshot S (spec digest §6.2, §6.3): the tables, their column trees and
 * their live data files with the delete file of each. Every query filters on S:
 * begin_snapshot <= S AND (end_snapshot IS NULL OR end_snapshot > S). */
#include "lake_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VALID(a) a ".begin_snapshot <= ? AND (" a ".end_snapshot IS NULL OR " a ".end_snapshot > ?)"

static char *dup_or_null(const char *s, int *fail)
{
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) *fail = 1;
    return d;
}

static char *join_path(const char *base, const char *rel, int is_relative, int *fail)
{
    if (!rel) rel = "";
    if (!is_relative) return dup_or_null(rel, fail);
    size_t n = strlen(base) + strlen(rel) + 1;
    char *p = malloc(n);
    if (!p) {
        *fail = 1;
        return NULL;
    }
    snprintf(p, n, "%s%s", base, rel);
    return p;
}

static int64_t int_or(const meta_result *r, int row, int col, int64_t dflt)
{
    return meta_result_isnull(r, row, col) ? dflt : meta_result_int(r, row, col);
}

void lake_columns_free(lake_column *cols, int n)
{
    if (!cols) return;
    for (int i = 0; i < n; i++) {
        free(cols[i].name);
        free(cols[i].type);
        free(cols[i].initial_default);
        free(cols[i].default_value);
    }
    free(cols);
}

int lake_columns_load(meta_conn *c, int64_t table_id, int64_t snapshot, lake_column **out, int *n,
                      int *ntop, dlb_err *err)
{
    meta_val p[3] = {MVINT(table_id), MVINT(snapshot), MVINT(snapshot)};
    char merr[256] = "";
    /* Top level first, each level in column_order: children then link in that order. */
    meta_result *r = meta_query(
        c,
        "SELECT column_id, parent_column, column_name, column_type, initial_default, "
        "default_value, nulls_allowed FROM ducklake_column c WHERE table_id = ? AND " VALID(
            "c") " ORDER BY CASE WHEN parent_column IS NULL THEN 0 ELSE 1 END, column_order, "
                 "column_id",
        p, 3, NULL, merr, sizeof(merr));
    if (!r) {
        dlb_err_set(err, 503, "metadata_unavailable", "cannot read columns: %s", merr);
        return -1;
    }
    int rows = meta_result_rows(r);
    lake_column *cols = calloc(rows ? (size_t)rows : 1, sizeof(*cols));
    int fail = !cols, top = 0;
    for (int i = 0; !fail && i < rows; i++) {
        lake_column *col = &cols[i];
        col->id = meta_result_int(r, i, 0);
        col->parent = int_or(r, i, 1, -1);
        col->name = dup_or_null(meta_result_get(r, i, 2), &fail);
        col->type = dup_or_null(meta_result_get(r, i, 3), &fail);
        col->initial_default = dup_or_null(meta_result_get(r, i, 4), &fail);
        col->default_value = dup_or_null(meta_result_get(r, i, 5), &fail);
        col->nullable = int_or(r, i, 6, 1) != 0;
        col->first_child = col->next_sibling = -1;
        if (!col->name || !col->type) fail = 1;
        if (col->parent < 0) top++;
    }
    meta_result_free(r);
    if (fail) {
        lake_columns_free(cols, rows);
        dlb_err_set(err, 500, "out_of_memory", "out of memory (or a NULL column name/type)");
        return -1;
    }
    for (int i = 0; i < rows; i++) {
        if (cols[i].parent < 0) continue;
        int pi = -1;
        for (int j = 0; j < rows; j++)
            if (cols[j].id == cols[i].parent) pi = j;
        if (pi < 0) continue; /* orphan: its parent is not valid at S */
        if (cols[pi].first_child < 0) {
            cols[pi].first_child = i;
        } else {
            int k = cols[pi].first_child;
            while (cols[k].next_sibling >= 0)
                k = cols[k].next_sibling;
            cols[k].next_sibling = i;
        }
    }
    *out = cols;
    *n = rows;
    *ntop = top;
    return 0;
}

static void files_free(lake_file *f, int n)
{
    if (!f) return;
    for (int i = 0; i < n; i++) {
        free(f[i].path);
        free(f[i].key);
        free(f[i].del_path);
        free(f[i].del_key);
        free(f[i].del_format);
        free(f[i].url);
        free(f[i].del_url);
    }
    free(f);
}

void lake_tables_free(lake_table *t, int n)
{
    if (!t) return;
    for (int i = 0; i < n; i++) {
        free(t[i].schema);
        free(t[i].name);
        free(t[i].dir);
        lake_columns_free(t[i].cols, t[i].ncols);
        files_free(t[i].files, t[i].nfiles);
    }
    free(t);
}

static int load_files(meta_conn *c, lake_table *t, int64_t s, dlb_err *err)
{
    meta_val p[5] = {MVINT(s), MVINT(s), MVINT(t->table_id), MVINT(s), MVINT(s)};
    char merr[256] = "";
    meta_result *r = meta_query(
        c,
        "SELECT d.data_file_id, d.path, d.path_is_relative, d.record_count, d.file_size_bytes, "
        "d.row_id_start, d.partial_max, d.mapping_id, d.encryption_key, del.path, "
        "del.path_is_relative, del.delete_count, del.partial_max, del.encryption_key, "
        "del.format, del.delete_file_id FROM ducklake_data_file d LEFT JOIN "
        "ducklake_delete_file del ON del.data_file_id = d.data_file_id AND "
        "del.table_id = d.table_id AND " VALID("del") " WHERE d.table_id = ? AND " VALID(
            "d") " ORDER BY d.data_file_id, del.delete_file_id DESC",
        p, 5, NULL, merr, sizeof(merr));
    if (!r) {
        dlb_err_set(err, 503, "metadata_unavailable", "cannot read data files: %s", merr);
        return -1;
    }
    int rows = meta_result_rows(r), n = 0, fail = 0;
    lake_file *f = calloc(rows ? (size_t)rows : 1, sizeof(*f));
    if (!f) fail = 1;
    for (int i = 0; !fail && i < rows; i++) {
        int64_t id = meta_result_int(r, i, 0);
        /* At most one delete file per data file is live; should a catalog have two, the
         * newest (highest id) is taken. */
        if (n > 0 && f[n - 1].id == id) continue;
        lake_file *x = &f[n++];
        x->id = id;
        x->path = join_path(t->dir, meta_result_get(r, i, 1), (int)int_or(r, i, 2, 1), &fail);
        x->record_count = int_or(r, i, 3, 0);
        x->file_size = int_or(r, i, 4, 0);
        x->row_id_start = int_or(r, i, 5, -1);
        x->partial_max = int_or(r, i, 6, -1);
        x->mapping_id = int_or(r, i, 7, -1);
        x->key = dup_or_null(meta_result_get(r, i, 8), &fail);
        x->del_partial_max = -1;
        if (!meta_result_isnull(r, i, 15)) {
            x->has_del = 1;
            x->del_path =
                join_path(t->dir, meta_result_get(r, i, 9), (int)int_or(r, i, 10, 1), &fail);
            x->del_count = int_or(r, i, 11, 0);
            x->del_partial_max = int_or(r, i, 12, -1);
            x->del_key = dup_or_null(meta_result_get(r, i, 13), &fail);
            x->del_format = dup_or_null(meta_result_get(r, i, 14), &fail);
        }
    }
    meta_result_free(r);
    if (fail) {
        files_free(f, n);
        dlb_err_set(err, 500, "out_of_memory", "out of memory");
        return -1;
    }
    t->files = f;
    t->nfiles = n;
    return 0;
}

int lake_tables_load(lake_t *l, meta_conn *c, int64_t s, const char *schema, const char *name,
                     int files, lake_table **out, int *n, dlb_err *err)
{
    char merr[256] = "";
    meta_val p[6] = {MVINT(s), MVINT(s), MVINT(s), MVINT(s), MVTEXT(schema), MVTEXT(name)};
    meta_result *r = meta_query(
        c,
        name ? "SELECT t.table_id, t.schema_id, t.begin_snapshot, sc.schema_name, t.table_name, "
               "sc.path, sc.path_is_relative, t.path, t.path_is_relative FROM ducklake_table t "
               "JOIN ducklake_schema sc ON sc.schema_id = t.schema_id WHERE " VALID(
                   "t") " AND " VALID("sc") " AND sc.schema_name = ? AND t.table_name = ?"
             : "SELECT t.table_id, t.schema_id, t.begin_snapshot, sc.schema_name, t.table_name, "
               "sc.path, sc.path_is_relative, t.path, t.path_is_relative FROM ducklake_table t "
               "JOIN ducklake_schema sc ON sc.schema_id = t.schema_id WHERE " VALID(
                   "t") " AND " VALID("sc") " ORDER BY sc.schema_name, t.table_name",
        p, name ? 6 : 4, NULL, merr, sizeof(merr));
    if (!r) {
        dlb_err_set(err, 503, "metadata_unavailable", "cannot read tables: %s", merr);
        return -1;
    }
    int rows = meta_result_rows(r), fail = 0;
    lake_table *t = calloc(rows ? (size_t)rows : 1, sizeof(*t));
    if (!t) fail = 1;
    for (int i = 0; !fail && i < rows; i++) {
        lake_table *x = &t[i];
        x->table_id = meta_result_int(r, i, 0);
        x->schema_id = meta_result_int(r, i, 1);
        x->begin_snapshot = meta_result_int(r, i, 2);
        x->schema = dup_or_null(meta_result_get(r, i, 3), &fail);
        x->name = dup_or_null(meta_result_get(r, i, 4), &fail);
        char *sdir =
            join_path(l->data_root, meta_result_get(r, i, 5), (int)int_or(r, i, 6, 1), &fail);
        if (sdir)
            x->dir = join_path(sdir, meta_result_get(r, i, 7), (int)int_or(r, i, 8, 1), &fail);
        free(sdir);
        if (!x->schema || !x->name || !x->dir) fail = 1;
    }
    meta_result_free(r);
    if (fail) {
        lake_tables_free(t, rows);
        dlb_err_set(err, 500, "out_of_memory", "out of memory");
        return -1;
    }
    for (int i = 0; i < rows; i++) {
        if (lake_columns_load(c, t[i].table_id, s, &t[i].cols, &t[i].ncols, &t[i].ntop, err) != 0 ||
            (files &&
             (load_files(c, &t[i], s, err) != 0 || lake_files_localize(l, &t[i], err) != 0))) {
            lake_tables_free(t, rows);
            return -1;
        }
    }
    *out = t;
    *n = rows;
    return 0;
}
