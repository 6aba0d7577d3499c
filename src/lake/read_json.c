/* Table listings and details at a snapshot, as JSON for the API. */
#include "lake_internal.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VALID(a) a ".begin_snapshot <= ? AND (" a ".end_snapshot IS NULL OR " a ".end_snapshot > ?)"

static meta_conn *acquire(lake_t *l, dlb_err *err)
{
    meta_conn *c = meta_acquire(l->meta);
    if (!c) dlb_err_set(err, 503, "metadata_unavailable", "no metadata database connection");
    return c;
}

/* row_count, file_count, bytes (data files) of a loaded table into o. */
static int add_stats(lake_t *l, meta_conn *c, const lake_table *t, int64_t s, json_t *o,
                     dlb_err *err)
{
    int64_t rows = lake_table_row_count(l, c, t, s, err);
    if (rows < 0) return -1;
    int64_t bytes = 0;
    for (int i = 0; i < t->nfiles; i++)
        bytes += t->files[i].file_size;
    json_object_set_new(o, "row_count", json_integer(rows));
    json_object_set_new(o, "file_count", json_integer(t->nfiles));
    json_object_set_new(o, "bytes", json_integer(bytes));
    json_object_set_new(o, "snapshot_id", json_integer(s));
    return 0;
}

json_t *lake_tables_json(lake_t *l, int64_t snapshot, int details, dlb_err *err)
{
    meta_conn *c = acquire(l, err);
    if (!c) return NULL;
    lake_table *t = NULL;
    int n = 0;
    json_t *out = NULL;
    if (lake_tables_load(l, c, snapshot, NULL, NULL, details, &t, &n, err) != 0) goto done;
    out = json_array();
    if (!out) goto oom;
    for (int i = 0; i < n; i++) {
        int main_schema = strcmp(t[i].schema, "main") == 0;
        if (!details) {
            char *q = NULL;
            if (main_schema) {
                json_array_append_new(out, json_string(t[i].name));
                continue;
            }
            if (asprintf(&q, "%s.%s", t[i].schema, t[i].name) < 0) goto oom;
            json_array_append_new(out, json_string(q));
            free(q);
            continue;
        }
        json_t *o = json_pack("{s:s, s:s, s:I}", "name", t[i].name, "schema", t[i].schema,
                              "table_id", (json_int_t)t[i].table_id);
        if (!o) goto oom;
        if (add_stats(l, c, &t[i], snapshot, o, err) != 0) {
            json_decref(o);
            goto fail;
        }
        json_array_append_new(out, o);
    }
    goto done;
oom:
    dlb_err_set(err, 500, "out_of_memory", "out of memory");
fail:
    json_decref(out);
    out = NULL;
done:
    lake_tables_free(t, n);
    meta_release(l->meta, c);
    return out;
}

/* [{"column", "column_id", "transform", "index"}] of the partitioning valid at s, or []. */
static json_t *partitioning(meta_conn *c, const lake_table *t, int64_t s)
{
    meta_val p[3] = {MVINT(t->table_id), MVINT(s), MVINT(s)};
    meta_result *r = meta_query(
        c,
        "SELECT pc.partition_key_index, pc.column_id, pc.transform FROM ducklake_partition_info "
        "pi JOIN ducklake_partition_column pc ON pc.partition_id = pi.partition_id AND "
        "pc.table_id = pi.table_id WHERE pi.table_id = ? AND " VALID(
            "pi") " ORDER BY pc.partition_key_index",
        p, 3, NULL, NULL, 0);
    if (!r) return NULL;
    json_t *a = json_array();
    for (int i = 0; a && i < meta_result_rows(r); i++) {
        int64_t cid = meta_result_int(r, i, 1);
        const char *cname = NULL;
        for (int k = 0; k < t->ntop; k++)
            if (t->cols[k].id == cid) cname = t->cols[k].name;
        json_array_append_new(a, json_pack("{s:I, s:s?, s:I, s:s?}", "index",
                                           (json_int_t)meta_result_int(r, i, 0), "column", cname,
                                           "column_id", (json_int_t)cid, "transform",
                                           meta_result_get(r, i, 2)));
    }
    meta_result_free(r);
    return a;
}

/* The 'comment' tag of an object (table) or a column valid at s; NULL when none. */
static json_t *comment(meta_conn *c, int64_t table_id, int64_t column_id, int64_t s)
{
    meta_val p[4] = {MVINT(table_id), MVINT(column_id), MVINT(s), MVINT(s)};
    meta_result *r =
        column_id < 0 ? meta_query(c,
                                   "SELECT value FROM ducklake_tag t WHERE object_id = ? AND key = "
                                   "'comment' AND " VALID("t") " ORDER BY begin_snapshot DESC",
                                   (meta_val[]){p[0], p[2], p[3]}, 3, NULL, NULL, 0)
                      : meta_query(c,
                                   "SELECT value FROM ducklake_column_tag t WHERE table_id = ? AND "
                                   "column_id = ? AND key = 'comment' AND " VALID(
                                       "t") " ORDER BY begin_snapshot DESC",
                                   p, 4, NULL, NULL, 0);
    json_t *v = NULL;
    if (r && meta_result_rows(r) > 0 && !meta_result_isnull(r, 0, 0))
        v = json_string(meta_result_get(r, 0, 0));
    meta_result_free(r);
    return v ? v : json_null();
}

static json_t *columns_json(meta_conn *c, const lake_table *t, int64_t s, json_t *schema)
{
    json_t *a = json_array();
    for (int k = 0; a && k < t->ntop; k++) {
        const lake_column *col = &t->cols[k];
        char *type = lake_column_duckdb_type(t->cols, k, 0);
        const char *dv = col->default_value;
        if (dv && strcmp(dv, "NULL") == 0) dv = NULL; /* the extension's "no default" */
        json_t *o =
            json_pack("{s:I, s:s, s:s?, s:s, s:b, s:s?, s:o}", "column_id", (json_int_t)col->id,
                      "name", col->name, "type", type, "ducklake_type", col->type, "nullable",
                      col->nullable, "default", dv, "comment", comment(c, t->table_id, col->id, s));
        if (o) json_array_append_new(a, o);
        if (type) json_object_set_new(schema, col->name, json_string(type));
        free(type);
    }
    return a;
}

json_t *lake_table_json(lake_t *l, int64_t snapshot, const char *schema, const char *name,
                        dlb_err *err)
{
    if (!schema || !*schema) schema = "main";
    meta_conn *c = acquire(l, err);
    if (!c) return NULL;
    lake_table *t = NULL;
    int n = 0;
    json_t *o = NULL;
    if (lake_tables_load(l, c, snapshot, schema, name, 1, &t, &n, err) != 0) goto done;
    if (n == 0) {
        dlb_err_set(err, 404, "table_not_found", "table %s.%s does not exist at snapshot %" PRId64,
                    schema, name, snapshot);
        goto done;
    }
    json_t *types = json_object();
    o = json_pack("{s:s, s:s, s:I, s:o}", "name", t->name, "schema_name", t->schema, "table_id",
                  (json_int_t)t->table_id, "schema", types);
    if (!o) {
        dlb_err_set(err, 500, "out_of_memory", "out of memory");
        goto done;
    }
    json_object_set_new(o, "columns", columns_json(c, t, snapshot, types));
    json_t *part = partitioning(c, t, snapshot);
    json_object_set_new(o, "partitioning", part ? part : json_array());
    json_object_set_new(o, "comment", comment(c, t->table_id, -1, snapshot));
    if (add_stats(l, c, t, snapshot, o, err) != 0) {
        json_decref(o);
        o = NULL;
    }
done:
    lake_tables_free(t, n);
    meta_release(l->meta, c);
    return o;
}

int64_t lake_table_id(lake_t *l, int64_t snapshot, const char *schema, const char *name,
                      dlb_err *err)
{
    if (!schema || !*schema) schema = "main";
    meta_conn *c = acquire(l, err);
    if (!c) return -1;
    /* the WHERE of lake_tables_load for one name, without columns, files or statistics */
    meta_val p[6] = {MVINT(snapshot), MVINT(snapshot), MVINT(snapshot),
                     MVINT(snapshot), MVTEXT(schema),  MVTEXT(name)};
    char merr[256] = "";
    meta_result *r = meta_query(c,
                                "SELECT t.table_id FROM ducklake_table t JOIN ducklake_schema sc "
                                "ON sc.schema_id = t.schema_id WHERE " VALID("t") " AND " VALID(
                                    "sc") " AND sc.schema_name = ? AND t.table_name = ?",
                                p, 6, NULL, merr, sizeof(merr));
    int64_t id = -1;
    if (!r)
        dlb_err_set(err, 503, "metadata_unavailable", "cannot read tables: %s", merr);
    else if (meta_result_rows(r) == 0)
        dlb_err_set(err, 404, "table_not_found", "table %s.%s does not exist at snapshot %" PRId64,
                    schema, name, snapshot);
    else
        id = meta_result_int(r, 0, 0);
    meta_result_free(r);
    meta_release(l->meta, c);
    return id;
}
