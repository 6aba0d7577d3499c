/* The SQL of one table's relation at snapshot S (spec digest §6.4-§6.8): one read_parquet per
 * live data file with columns mapped by Parquet field id (read_parquet's schema = MAP {id:
 * {name, type, default_value}}: renames, added columns with their initial default, type
 * promotions cast), deleted positions removed (delete file, inlined deletes), rows of partial
 * files newer than S dropped, plus the inlined rows loaded into a temp table; UNION ALL. A large
 * file is listed with an empty pad file (lake_bind_extra.pad_file) so DuckDB reads it in
 * parallel.
 * Output columns: __dlb_rowid, then the table's top-level columns by their names at S.
 * Values from the catalog that end up in the text (paths, names, defaults, keys) are quoted
 * with lake_sql_string / lake_sql_ident; nothing from a request ever reaches this text. */
#include "lake_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Field ids the extension gives its internal columns (spec digest §10). */
#define FIELD_ROW_ID      2147483540LL
#define FIELD_SNAPSHOT_ID 2147483539LL

/* CAST('<initial_default>' AS type) or NULL. */
static int append_default(buf_t *b, const lake_column *c, const char *type)
{
    if (!c->initial_default) return buf_appends(b, "NULL");
    int fail = buf_appends(b, "CAST(");
    fail |= lake_sql_string(b, c->initial_default);
    return fail | buf_printf(b, " AS %s)", type);
}

static int append_file_part(buf_t *b, const lake_table *t, char **types, const lake_file *f,
                            int has_inlined_deletes, const char *pad_file, int64_t s, dlb_err *err)
{
    int fail = 0;
    if (f->mapping_id >= 0) {
        dlb_err_set(err, 500, "lake_unsupported",
                    "table %s.%s: data file %" PRId64 " has no field ids (name mapping %" PRId64
                    "), which this reader does not support yet",
                    t->schema, t->name, f->id, f->mapping_id);
        return -1;
    }
    if (f->has_del && f->del_format && strcmp(f->del_format, "parquet") != 0) {
        dlb_err_set(err, 500, "lake_unsupported",
                    "table %s.%s: delete file of data file %" PRId64
                    " has format '%s' (deletion vectors are not supported)",
                    t->schema, t->name, f->id, f->del_format);
        return -1;
    }
    if (f->row_id_start >= 0)
        fail |= buf_printf(b, "SELECT coalesce(__dlb_irid, %" PRId64 " + file_row_number)",
                           f->row_id_start);
    else
        fail |= buf_appends(b, "SELECT __dlb_irid");
    fail |= buf_appends(b, " AS __dlb_rowid");
    for (int k = 0; k < t->ntop; k++)
        fail |= buf_printf(b, ", c%" PRId64, t->cols[k].id);
    int pad = pad_file && !f->key && f->record_count >= LAKE_PAD_MIN_ROWS;
    fail |= buf_appends(b, pad ? " FROM read_parquet([" : " FROM read_parquet(");
    fail |= lake_sql_string(b, f->path);
    if (pad) {
        fail |= buf_appends(b, ", ");
        fail |= lake_sql_string(b, pad_file);
        fail |= buf_appends(b, "]");
    }
    fail |= buf_appends(b, ", schema = MAP {");
    for (int k = 0; k < t->ntop; k++) {
        const lake_column *c = &t->cols[k];
        fail |= buf_printf(b, "%" PRId64 ": {name: 'c%" PRId64 "', type: ", c->id, c->id);
        fail |= lake_sql_string(b, types[k]);
        fail |= buf_appends(b, ", default_value: ");
        fail |= append_default(b, c, types[k]);
        fail |= buf_appends(b, "}, ");
    }
    fail |= buf_printf(b,
                       "%lld: {name: '__dlb_irid', type: 'BIGINT', default_value: NULL}, "
                       "%lld: {name: '__dlb_isnap', type: 'BIGINT', default_value: NULL}}",
                       FIELD_ROW_ID, FIELD_SNAPSHOT_ID);
    /* Hive auto-detection would add phantom year=/bucket= columns (digest §6.5). */
    fail |= buf_appends(b, ", file_row_number = true, hive_partitioning = false");
    if (f->key) {
        fail |= buf_appends(b, ", encryption_config = {footer_key_value: from_base64(");
        fail |= lake_sql_string(b, f->key);
        fail |= buf_appends(b, ")}");
    }
    fail |= buf_appends(b, ") WHERE true");
    /* Merged / flushed files hold rows of several snapshots (digest §6.7). */
    if (f->partial_max > s) fail |= buf_printf(b, " AND __dlb_isnap <= %" PRId64, s);
    if (f->has_del) {
        fail |= buf_appends(b, " AND file_row_number NOT IN (SELECT pos FROM read_parquet(");
        fail |= lake_sql_string(b, f->del_path);
        if (f->del_key) {
            fail |= buf_appends(b, ", encryption_config = {footer_key_value: from_base64(");
            fail |= lake_sql_string(b, f->del_key);
            fail |= buf_appends(b, ")}");
        }
        fail |= buf_appends(b, ")");
        /* A cumulative delete file tags each position with the snapshot that deleted it. */
        if (f->del_partial_max > s)
            fail |= buf_printf(b, " WHERE _ducklake_internal_snapshot_id <= %" PRId64, s);
        fail |= buf_appends(b, ")");
    }
    if (has_inlined_deletes)
        fail |= buf_printf(b,
                           " AND file_row_number NOT IN (SELECT pos FROM temp.main.__dlb_idel "
                           "WHERE file_id = %" PRId64 ")",
                           f->id);
    return fail ? -1 : 0;
}

static int append_inlined_part(buf_t *b, const lake_table *t, char **types, const char *tmp)
{
    int fail = buf_appends(b, "SELECT __dlb_rowid");
    for (int k = 0; k < t->ntop; k++)
        fail |= buf_printf(b, ", CAST(v%d AS %s) AS c%" PRId64, k, types[k], t->cols[k].id);
    fail |= buf_appends(b, " FROM temp.main.");
    fail |= lake_sql_ident(b, tmp);
    return fail ? -1 : 0;
}

char *lake_relation_sql(const lake_table *t, const lake_bind_extra *x, int64_t s, dlb_err *err)
{
    buf_t b;
    buf_init(&b, 0);
    char **types = calloc(t->ntop ? (size_t)t->ntop : 1, sizeof(char *));
    int fail = !types, parts = 0;
    for (int k = 0; !fail && k < t->ntop; k++) {
        types[k] = lake_column_duckdb_type(t->cols, k, 1);
        if (!types[k]) {
            dlb_err_set(err, 500, "lake_unsupported", "table %s.%s: column %s has type %s",
                        t->schema, t->name, t->cols[k].name, t->cols[k].type);
            goto fail;
        }
    }
    if (fail) goto oom;
    fail |= buf_appends(&b, "SELECT __dlb_rowid");
    for (int k = 0; k < t->ntop; k++) {
        const lake_column *c = &t->cols[k];
        fail |= buf_printf(&b, ", c%" PRId64 " AS ", c->id);
        fail |= lake_sql_ident(&b, c->name);
    }
    fail |= buf_appends(&b, " FROM (");
    for (int i = 0; i < t->nfiles; i++) {
        if (parts++) fail |= buf_appends(&b, " UNION ALL ");
        if (append_file_part(&b, t, types, &t->files[i], x->file_has_idel && x->file_has_idel[i],
                             x->pad_file, s, err) != 0)
            goto fail;
    }
    if (x->inlined_table) {
        if (parts++) fail |= buf_appends(&b, " UNION ALL ");
        fail |= append_inlined_part(&b, t, types, x->inlined_table);
    }
    if (!parts) {
        /* No rows at all: a typed, empty relation. */
        fail |= buf_appends(&b, "SELECT CAST(NULL AS BIGINT) AS __dlb_rowid");
        for (int k = 0; k < t->ntop; k++)
            fail |= buf_printf(&b, ", CAST(NULL AS %s) AS c%" PRId64, types[k], t->cols[k].id);
        fail |= buf_appends(&b, " WHERE false");
    }
    fail |= buf_appends(&b, ")");
    if (fail) goto oom;
    for (int k = 0; k < t->ntop; k++)
        free(types[k]);
    free(types);
    return buf_steal(&b, NULL);
oom:
    dlb_err_set(err, 500, "out_of_memory", "out of memory");
fail:
    if (types)
        for (int k = 0; k < t->ntop; k++)
            free(types[k]);
    free(types);
    buf_free(&b);
    return NULL;
}

char *lake_pad_copy_sql(const lake_table *t, const char *path)
{
    buf_t b;
    buf_init(&b, 0);
    int fail = buf_appends(&b, "COPY (SELECT ");
    for (int k = 0; k < t->ntop && !fail; k++) {
        char *type = lake_column_duckdb_type(t->cols, k, 1);
        /* nested columns would need field ids for their children too */
        if (!type || strchr(type, '[') || strncmp(type, "STRUCT", 6) == 0 ||
            strncmp(type, "MAP", 3) == 0 || strncmp(type, "UNION", 5) == 0)
            fail = 1;
        else
            fail |= buf_printf(&b, "CAST(NULL AS %s) AS c%" PRId64 ", ", type, t->cols[k].id);
        free(type);
    }
    fail |=
        buf_appends(&b, "NULL::BIGINT AS __dlb_irid, NULL::BIGINT AS __dlb_isnap WHERE false) TO ");
    fail |= lake_sql_string(&b, path);
    fail |= buf_appends(&b, " (FORMAT parquet, FIELD_IDS {");
    for (int k = 0; k < t->ntop; k++)
        fail |= buf_printf(&b, "c%" PRId64 ": %" PRId64 ", ", t->cols[k].id, t->cols[k].id);
    fail |=
        buf_printf(&b, "__dlb_irid: %lld, __dlb_isnap: %lld})", FIELD_ROW_ID, FIELD_SNAPSHOT_ID);
    if (fail) {
        buf_free(&b);
        return NULL;
    }
    return buf_steal(&b, NULL);
}
