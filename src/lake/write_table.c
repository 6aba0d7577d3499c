/* CREATE TABLE and DROP TABLE (digest §7.2, §7.6), and loading a table's definition for the
 * writer. */
#include "lake/write.h"

#include "util/ids.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_COLUMNS    4096
#define MAX_PARTITIONS 8

/* ------------------------------------------------------------------ loading */

void lake_table_def_free(lake_table_def *t)
{
    if (!t) return;
    free(t->schema_name);
    free(t->table_name);
    free(t->dir);
    free(t->rel_dir);
    for (int i = 0; i < t->ncols; i++)
        lake_type_free(t->cols[i]);
    free(t->cols);
    memset(t, 0, sizeof *t);
}

void lake_commit_info_table(lake_commit_info *ci, const char *op, const lake_table_def *t)
{
    memset(ci, 0, sizeof *ci);
    ci->operation = op;
    snprintf(ci->schema, sizeof ci->schema, "%s", t->schema_name);
    snprintf(ci->table, sizeof ci->table, "%s", t->table_name);
    ci->table_id = t->table_id;
    ci->rows = ci->bytes = ci->files = -1;
    ci->location = t->dir;
}

int lake_table_signature(meta_conn *c, int64_t table_id, char out[96], dlb_err *err)
{
    int rc = 0;
    meta_val p[] = {MVINT(table_id)};
    meta_result *r = lake_query(c,
                                "SELECT count(*), max(begin_snapshot), max(end_snapshot) "
                                "FROM ducklake_column WHERE table_id = ?",
                                p, 1, &rc, err);
    if (!r) return rc;
    snprintf(out, 96, "%s:%s:%s", meta_result_get(r, 0, 0) ? meta_result_get(r, 0, 0) : "-",
             meta_result_get(r, 0, 1) ? meta_result_get(r, 0, 1) : "-",
             meta_result_get(r, 0, 2) ? meta_result_get(r, 0, 2) : "-");
    meta_result_free(r);
    return 0;
}

/* Joins a stored path to its parent directory (digest §5). */
static char *join_path(const char *parent, const char *path, int relative)
{
    if (!path) return strdup(parent);
    buf_t b;
    buf_init(&b, 0);
    if ((relative && buf_appends(&b, parent)) || buf_appends(&b, path) ||
        (b.len && b.data[b.len - 1] != '/' && buf_appends(&b, "/"))) {
        buf_free(&b);
        return NULL;
    }
    return buf_steal(&b, NULL);
}

static lake_type *find_node(lake_type *t, int64_t id)
{
    if (t->id == id) return t;
    for (int i = 0; i < t->nchildren; i++) {
        lake_type *f = find_node(t->children[i], id);
        if (f) return f;
    }
    return NULL;
}

static int load_columns(meta_conn *c, lake_table_def *t, dlb_err *err)
{
    int rc = 0;
    meta_val p[] = {MVINT(t->table_id)};
    meta_result *r = lake_query(c,
                                "SELECT column_id, column_name, column_type, nulls_allowed, "
                                "parent_column FROM ducklake_column WHERE table_id = ? AND "
                                "end_snapshot IS NULL ORDER BY parent_column NULLS FIRST, "
                                "column_order",
                                p, 1, &rc, err);
    if (!r) return rc ? rc : -1;
    int n = meta_result_rows(r);
    t->cols = calloc((size_t)(n ? n : 1), sizeof *t->cols);
    if (!t->cols) goto oom;
    for (int i = 0; i < n; i++) {
        const char *name = meta_result_get(r, i, 1);
        const char *type = meta_result_get(r, i, 2);
        lake_type *node = type ? lake_type_from_catalog(type) : NULL;
        if (!node) {
            dlb_err_set(err, 422, "unsupported_type",
                        "column '%s' of %s.%s has type '%s', which this server cannot write",
                        name ? name : "?", t->schema_name, t->table_name, type ? type : "NULL");
            meta_result_free(r);
            return -1;
        }
        node->id = meta_result_int(r, i, 0);
        node->not_null = !meta_result_int(r, i, 3);
        node->name = strdup(name ? name : "");
        if (!node->name) {
            lake_type_free(node);
            goto oom;
        }
        if (meta_result_isnull(r, i, 4)) {
            t->cols[t->ncols++] = node;
            continue;
        }
        int64_t parent = meta_result_int(r, i, 4);
        lake_type *pn = NULL;
        for (int k = 0; k < t->ncols && !pn; k++)
            pn = find_node(t->cols[k], parent);
        if (!pn || !lake_type_nested(pn) || lake_type_add_child(pn, node)) {
            lake_type_free(node);
            if (!pn || !lake_type_nested(pn)) {
                dlb_err_set(err, 500, "catalog_error", "column %lld has no usable parent %lld",
                            (long long)meta_result_int(r, i, 0), (long long)parent);
                meta_result_free(r);
                return -1;
            }
            goto oom;
        }
    }
    meta_result_free(r);
    if (t->ncols == 0) {
        dlb_err_set(err, 500, "catalog_error", "table %s.%s has no columns", t->schema_name,
                    t->table_name);
        return -1;
    }
    return 0;
oom:
    meta_result_free(r);
    dlb_err_set(err, 500, "out_of_memory", "out of memory");
    return -1;
}

int lake_table_load(lake_t *l, meta_conn *c, const char *schema, const char *table,
                    lake_table_def *out, dlb_err *err)
{
    memset(out, 0, sizeof *out);
    out->partition_id = -1;
    int rc = 0;
    meta_val p[] = {MVTEXT(schema), MVTEXT(table)};
    meta_result *r =
        lake_query(c,
                   "SELECT t.table_id, t.schema_id, s.schema_name, t.table_name, s.path, "
                   "s.path_is_relative, t.path, t.path_is_relative FROM ducklake_table t "
                   "JOIN ducklake_schema s ON s.schema_id = t.schema_id "
                   "WHERE lower(s.schema_name) = lower(?) AND lower(t.table_name) = lower(?) "
                   "AND t.end_snapshot IS NULL AND s.end_snapshot IS NULL",
                   p, 2, &rc, err);
    if (!r) return -1;
    if (meta_result_rows(r) == 0) {
        meta_result_free(r);
        return 0;
    }
    out->table_id = meta_result_int(r, 0, 0);
    out->schema_id = meta_result_int(r, 0, 1);
    out->schema_name = strdup(meta_result_get(r, 0, 2));
    out->table_name = strdup(meta_result_get(r, 0, 3));
    char *sdir = join_path(l->data_path, meta_result_get(r, 0, 4), meta_result_int(r, 0, 5) != 0);
    if (sdir) out->dir = join_path(sdir, meta_result_get(r, 0, 6), meta_result_int(r, 0, 7) != 0);
    free(sdir);
    meta_result_free(r);
    if (!out->schema_name || !out->table_name || !out->dir) goto oom;
    size_t dl = strlen(l->data_path);
    out->rel_dir = strdup(strncmp(out->dir, l->data_path, dl) ? out->dir : out->dir + dl);
    if (!out->rel_dir) goto oom;
    if (load_columns(c, out, err)) goto fail;
    if (lake_table_signature(c, out->table_id, out->sig, err)) goto fail;
    meta_val pp[] = {MVINT(out->table_id)};
    r = lake_query(c,
                   "SELECT partition_id FROM ducklake_partition_info WHERE table_id = ? AND "
                   "end_snapshot IS NULL",
                   pp, 1, &rc, err);
    if (!r) goto fail;
    if (meta_result_rows(r) > 0) out->partition_id = meta_result_int(r, 0, 0);
    meta_result_free(r);
    return 1;
oom:
    dlb_err_set(err, 500, "out_of_memory", "out of memory");
fail:
    lake_table_def_free(out);
    return -1;
}

/* ------------------------------------------------------------------ CREATE TABLE */

typedef struct {
    int col;            /* index into cols */
    char transform[16]; /* identity, year, month, day, hour */
} part_key;

typedef struct {
    lake_t *l;
    const char *schema, *name, *comment;
    lake_type **cols;
    int ncols;
    part_key parts[MAX_PARTITIONS];
    int nparts;
} create_args;

static int schema_of(meta_conn *c, const char *schema, int64_t *id, dlb_err *err)
{
    int rc = 0;
    meta_val p[] = {MVTEXT(schema)};
    meta_result *r = lake_query(c,
                                "SELECT schema_id FROM ducklake_schema WHERE lower(schema_name) = "
                                "lower(?) AND end_snapshot IS NULL",
                                p, 1, &rc, err);
    if (!r) return rc ? rc : -1;
    int found = meta_result_rows(r) > 0;
    if (found) *id = meta_result_int(r, 0, 0);
    meta_result_free(r);
    return found ? 1 : 0;
}

static int insert_columns(meta_conn *c, int64_t table_id, int64_t snap, lake_type *t,
                          int64_t parent, int64_t *next_id, dlb_err *err)
{
    t->id = (*next_id)++;
    /* The catalog names list and map children element / key / value (digest §3.7). */
    if (!t->name) {
        dlb_err_set(err, 500, "bug", "unnamed column node");
        return -1;
    }
    char tn[48];
    lake_type_catalog_name(t, tn, sizeof tn);
    /* The extension leaves default_value_type '' on nested parents (golden catalog). */
    meta_val p[] = {MVINT(t->id),
                    MVINT(snap),
                    MVINT(table_id),
                    MVINT(t->id),
                    MVTEXT(t->name),
                    MVTEXT(tn),
                    MVINT(t->not_null ? 0 : 1),
                    parent >= 0 ? MVINT(parent) : MVNULL,
                    MVTEXT(lake_type_nested(t) ? "" : "literal")};
    int rc = lake_exec(c,
                       "INSERT INTO ducklake_column VALUES (?, ?, NULL, ?, ?, ?, ?, NULL, 'NULL', "
                       "?, ?, ?, 'duckdb')",
                       p, 9, err);
    for (int i = 0; !rc && i < t->nchildren; i++)
        rc = insert_columns(c, table_id, snap, t->children[i], t->id, next_id, err);
    return rc;
}

/* Gives list and map children their catalog names. */
static int name_children(lake_type *t)
{
    for (int i = 0; i < t->nchildren; i++) {
        lake_type *ch = t->children[i];
        if (t->kind != LT_STRUCT) {
            free(ch->name);
            ch->name = strdup(t->kind == LT_LIST ? "element" : i == 0 ? "key" : "value");
            if (!ch->name) return -1;
        }
        if (name_children(ch)) return -1;
    }
    return 0;
}

static int append_change_name(buf_t *b, const char *tag, const char *schema, const char *name)
{
    /* tag:"schema"."name" with '"' doubled (digest §8.1). */
    if ((b->len && buf_appends(b, ",")) || buf_appends(b, tag) || buf_appends(b, ":") ||
        sql_ident(b, schema))
        return -1;
    if (name && (buf_appends(b, ".") || sql_ident(b, name))) return -1;
    return 0;
}

static int create_body(meta_conn *c, const lake_snap *cur, lake_snap *next, buf_t *changes,
                       void *arg, dlb_err *err)
{
    create_args *a = arg;
    lake_t *l = a->l;
    int64_t S = next->snapshot_id;
    lake_table_def existing;
    int found = lake_table_load(l, c, a->schema, a->name, &existing, err);
    if (found < 0) {
        /* A table we cannot load (unknown column type) still exists. */
        if (err->status != 422) return -1;
        found = 1;
    }
    if (found > 0) {
        lake_table_def_free(&existing);
        dlb_err_set(err, 409, "table_exists", "table %s.%s already exists", a->schema, a->name);
        return -1;
    }
    int rc = 0;
    meta_val vp[] = {MVTEXT(a->schema), MVTEXT(a->name)};
    meta_result *r = lake_query(c,
                                "SELECT 1 FROM ducklake_view v JOIN ducklake_schema s ON "
                                "s.schema_id = v.schema_id WHERE lower(s.schema_name) = lower(?) "
                                "AND lower(v.view_name) = lower(?) AND v.end_snapshot IS NULL "
                                "AND s.end_snapshot IS NULL",
                                vp, 2, &rc, err);
    if (!r) return rc ? rc : -1;
    int view = meta_result_rows(r) > 0;
    meta_result_free(r);
    if (view) {
        dlb_err_set(err, 409, "table_exists", "a view %s.%s already exists", a->schema, a->name);
        return -1;
    }

    int64_t schema_id = 0;
    rc = schema_of(c, a->schema, &schema_id, err);
    if (rc < 0) return rc;
    if (rc == 0) { /* a new schema in the same snapshot (docs/lake-format.md "Writing") */
        schema_id = next->next_catalog_id++;
        char uuid[37], path[128];
        ids_uuid7(uuid);
        snprintf(path, sizeof path, "%s/", a->schema);
        meta_val sp[] = {MVINT(schema_id), MVTEXT(uuid), MVINT(S), MVTEXT(a->schema), MVTEXT(path)};
        rc = lake_exec(c,
                       l->postgres ? "INSERT INTO ducklake_schema VALUES "
                                     "(?, CAST(? AS UUID), ?, NULL, ?, ?, TRUE)"
                                   : "INSERT INTO ducklake_schema VALUES (?, ?, ?, NULL, ?, ?, 1)",
                       sp, 5, err);
        if (rc) return rc;
        if (append_change_name(changes, "created_schema", a->schema, NULL)) goto oom;
    }

    int64_t table_id = next->next_catalog_id++;
    next->schema_version = cur->schema_version + 1;
    char uuid[37], path[128];
    ids_uuid7(uuid);
    snprintf(path, sizeof path, "%s/", a->name);
    meta_val tp[] = {MVINT(table_id),  MVTEXT(uuid),    MVINT(S),
                     MVINT(schema_id), MVTEXT(a->name), MVTEXT(path)};
    rc = lake_exec(c,
                   l->postgres ? "INSERT INTO ducklake_table VALUES "
                                 "(?, CAST(? AS UUID), ?, NULL, ?, ?, ?, TRUE)"
                               : "INSERT INTO ducklake_table VALUES (?, ?, ?, NULL, ?, ?, ?, 1)",
                   tp, 6, err);
    if (rc) return rc;
    int64_t next_col = 1;
    for (int i = 0; i < a->ncols && !rc; i++)
        rc = insert_columns(c, table_id, S, a->cols[i], -1, &next_col, err);
    if (rc) return rc;

    if (a->nparts > 0) {
        int64_t pid = next->next_catalog_id++;
        meta_val pp[] = {MVINT(pid), MVINT(table_id), MVINT(S)};
        rc = lake_exec(c, "INSERT INTO ducklake_partition_info VALUES (?, ?, ?, NULL)", pp, 3, err);
        for (int i = 0; i < a->nparts && !rc; i++) {
            meta_val kp[] = {MVINT(pid), MVINT(table_id), MVINT(i),
                             MVINT(a->cols[a->parts[i].col]->id), MVTEXT(a->parts[i].transform)};
            rc = lake_exec(c, "INSERT INTO ducklake_partition_column VALUES (?, ?, ?, ?, ?)", kp, 5,
                           err);
        }
        if (rc) return rc;
    }
    if (a->comment) {
        meta_val cp[] = {MVINT(table_id), MVINT(S), MVTEXT(a->comment)};
        rc = lake_exec(c, "INSERT INTO ducklake_tag VALUES (?, ?, NULL, 'comment', ?)", cp, 3, err);
        if (rc) return rc;
    }
    if (l->inlining_row_limit > 0) {
        lake_table_def probe = {.ncols = a->ncols, .cols = a->cols};
        if (lake_inline_eligible(&probe)) {
            rc = lake_inline_create(l, c, table_id, next->schema_version,
                                    (const lake_type *const *)a->cols, a->ncols, err);
            if (rc) return rc;
        }
    }
    meta_val vv[] = {MVINT(S), MVINT(next->schema_version), MVINT(table_id)};
    rc = lake_exec(c, "INSERT INTO ducklake_schema_versions VALUES (?, ?, ?)", vv, 3, err);
    if (rc) return rc;
    if (append_change_name(changes, "created_table", a->schema, a->name)) goto oom;
    lake_commit_info *ci = lake_commit_described(); /* automatic lineage */
    if (ci) ci->table_id = table_id;
    return 0;
oom:
    dlb_err_set(err, 500, "out_of_memory", "out of memory");
    return -1;
}

/* "col", "year(col)", "month(col)", "day(col)", "hour(col)" -> key; 422 otherwise. */
static int parse_partition(const char *spec, lake_type **cols, int ncols, part_key *out,
                           dlb_err *err)
{
    char s[160];
    size_t o = 0;
    for (const char *p = spec; *p && o + 1 < sizeof s; p++)
        if (!isspace((unsigned char)*p)) s[o++] = *p;
    s[o] = '\0';
    char col[128];
    const char *open = strchr(s, '(');
    snprintf(out->transform, sizeof out->transform, "identity");
    if (open) {
        size_t fl = (size_t)(open - s);
        size_t len = strlen(s);
        if (s[len - 1] != ')' || fl == 0 || fl >= sizeof out->transform) goto bad;
        char fn[16];
        memcpy(fn, s, fl);
        fn[fl] = '\0';
        for (char *q = fn; *q; q++)
            *q = (char)tolower((unsigned char)*q);
        if (!strcmp(fn, "bucket")) {
            dlb_err_set(err, 422, "invalid_partition",
                        "partition transform bucket is not supported by this server ('%s')", spec);
            return -1;
        }
        if (strcmp(fn, "year") && strcmp(fn, "month") && strcmp(fn, "day") && strcmp(fn, "hour"))
            goto bad;
        snprintf(out->transform, sizeof out->transform, "%s", fn);
        size_t cl = len - fl - 2;
        if (cl == 0 || cl >= sizeof col) goto bad;
        memcpy(col, open + 1, cl);
        col[cl] = '\0';
    } else {
        size_t sl = strlen(s);
        if (sl >= sizeof col) goto bad;
        memcpy(col, s, sl + 1);
    }
    out->col = -1;
    for (int i = 0; i < ncols; i++)
        if (!strcasecmp(cols[i]->name, col)) out->col = i;
    if (out->col < 0) {
        dlb_err_set(err, 422, "invalid_partition", "partition key '%s' names no column", spec);
        return -1;
    }
    const lake_type *t = cols[out->col];
    if (lake_type_nested(t)) {
        dlb_err_set(err, 422, "invalid_partition",
                    "partition key '%s': nested columns cannot be partition keys", spec);
        return -1;
    }
    if (strcmp(out->transform, "identity")) {
        int temporal = t->kind == LT_DATE || t->kind == LT_TIMESTAMP || t->kind == LT_TIMESTAMP_S ||
                       t->kind == LT_TIMESTAMP_MS || t->kind == LT_TIMESTAMP_NS;
        int timeonly = !strcmp(out->transform, "hour") && t->kind == LT_DATE;
        if (!temporal || timeonly) {
            dlb_err_set(err, 422, "invalid_partition",
                        "partition key '%s': %s() needs a DATE or TIMESTAMP column", spec,
                        out->transform);
            return -1;
        }
    }
    return 0;
bad:
    dlb_err_set(err, 422, "invalid_partition",
                "bad partition key '%s' (column, year(col), month(col), day(col), hour(col))",
                spec);
    return -1;
}

int lake_create_table(lake_t *l, const char *schema, const char *name, const lake_coldef *cols,
                      int ncols, const char *comment, const char *const *partition_by,
                      int npartition, int64_t *snapshot_out, dlb_err *err)
{
    if (l->read_only) {
        dlb_err_set(err, 403, "read_only", "the lake is read-only");
        return -1;
    }
    if (!schema) schema = "main";
    if (!lake_identifier_ok(schema)) {
        dlb_err_set(err, 422, "invalid_name", "invalid schema name '%.100s'", schema);
        return -1;
    }
    if (!name || !lake_identifier_ok(name)) {
        dlb_err_set(err, 422, "invalid_name", "invalid table name '%.100s'", name ? name : "");
        return -1;
    }
    if (ncols < 1 || ncols > MAX_COLUMNS || !cols) {
        dlb_err_set(err, 422, "invalid_columns", "a table needs 1 to %d columns", MAX_COLUMNS);
        return -1;
    }
    if (npartition < 0 || npartition > MAX_PARTITIONS || (npartition && !partition_by)) {
        dlb_err_set(err, 422, "invalid_partition", "at most %d partition keys", MAX_PARTITIONS);
        return -1;
    }
    create_args a = {.l = l, .schema = schema, .name = name, .comment = comment, .ncols = ncols};
    a.cols = calloc((size_t)ncols, sizeof *a.cols);
    if (!a.cols) {
        dlb_err_set(err, 500, "out_of_memory", "out of memory");
        return -1;
    }
    int rc = -1;
    for (int i = 0; i < ncols; i++) {
        const char *cn = cols[i].name;
        if (!cn || !lake_identifier_ok(cn) || !strncasecmp(cn, "_ducklake_internal_", 19)) {
            dlb_err_set(err, 422, "invalid_name", "invalid column name '%.100s'", cn ? cn : "");
            goto done;
        }
        for (int k = 0; k < i; k++)
            if (!strcasecmp(cols[k].name, cn)) {
                dlb_err_set(err, 422, "invalid_name", "duplicate column name '%.100s'", cn);
                goto done;
            }
        int not_null = 0;
        a.cols[i] = lake_type_parse(cols[i].type, &not_null, err);
        if (!a.cols[i]) {
            char detail[sizeof err->detail];
            snprintf(detail, sizeof detail, "%s", err->detail);
            dlb_err_set(err, 422, "invalid_type", "column '%s': %s", cn, detail);
            goto done;
        }
        a.cols[i]->not_null = not_null;
        a.cols[i]->name = strdup(cn);
        if (!a.cols[i]->name || name_children(a.cols[i])) {
            dlb_err_set(err, 500, "out_of_memory", "out of memory");
            goto done;
        }
    }
    for (int i = 0; i < npartition; i++) {
        if (!partition_by[i] ||
            parse_partition(partition_by[i], a.cols, ncols, &a.parts[i], err) != 0)
            goto done;
        for (int k = 0; k < i; k++)
            if (a.parts[k].col == a.parts[i].col &&
                !strcmp(a.parts[k].transform, a.parts[i].transform)) {
                dlb_err_set(err, 422, "invalid_partition", "duplicate partition key '%s'",
                            partition_by[i]);
                goto done;
            }
        a.nparts++;
    }
    int64_t snap = 0;
    lake_commit_info ci = {
        .operation = "create_table", .table_id = -1, .rows = -1, .bytes = -1, .files = -1};
    snprintf(ci.schema, sizeof ci.schema, "%s", schema);
    snprintf(ci.table, sizeof ci.table, "%s", name);
    lake_commit_describe(&ci);
    rc = lake_commit(l, create_body, &a, &snap, err);
    lake_commit_describe(NULL);
    if (rc == 0 && snapshot_out) *snapshot_out = snap;
done:
    for (int i = 0; i < ncols; i++)
        lake_type_free(a.cols[i]);
    free(a.cols);
    return rc;
}

/* ------------------------------------------------------------------ DROP TABLE */

typedef struct {
    lake_t *l;
    const char *schema, *name;
} drop_args;

static int drop_body(meta_conn *c, const lake_snap *cur, lake_snap *next, buf_t *changes, void *arg,
                     dlb_err *err)
{
    drop_args *a = arg;
    int rc = 0;
    meta_val p[] = {MVTEXT(a->schema), MVTEXT(a->name)};
    meta_result *r = lake_query(c,
                                "SELECT t.table_id, s.schema_name, t.table_name FROM "
                                "ducklake_table t JOIN ducklake_schema s "
                                "ON s.schema_id = t.schema_id WHERE lower(s.schema_name) = "
                                "lower(?) AND lower(t.table_name) = lower(?) AND t.end_snapshot "
                                "IS NULL AND s.end_snapshot IS NULL",
                                p, 2, &rc, err);
    if (!r) return rc ? rc : -1;
    if (meta_result_rows(r) == 0) {
        meta_result_free(r);
        dlb_err_set(err, 404, "table_not_found", "table %s.%s does not exist", a->schema, a->name);
        return -1;
    }
    int64_t id = meta_result_int(r, 0, 0);
    lake_commit_info *ci = lake_commit_described(); /* automatic lineage: the stored names */
    if (ci) {
        ci->table_id = id;
        snprintf(ci->schema, sizeof ci->schema, "%s", meta_result_get(r, 0, 1));
        snprintf(ci->table, sizeof ci->table, "%s", meta_result_get(r, 0, 2));
    }
    meta_result_free(r);
    static const char *const ends[] = {
        "UPDATE ducklake_table SET end_snapshot = ? WHERE table_id = ? AND end_snapshot IS NULL",
        "UPDATE ducklake_partition_info SET end_snapshot = ? WHERE table_id = ? AND "
        "end_snapshot IS NULL",
        "UPDATE ducklake_column SET end_snapshot = ? WHERE table_id = ? AND end_snapshot IS NULL",
        "UPDATE ducklake_column_tag SET end_snapshot = ? WHERE table_id = ? AND end_snapshot IS "
        "NULL",
        "UPDATE ducklake_data_file SET end_snapshot = ? WHERE table_id = ? AND end_snapshot IS "
        "NULL",
        "UPDATE ducklake_delete_file SET end_snapshot = ? WHERE table_id = ? AND end_snapshot IS "
        "NULL",
        "UPDATE ducklake_sort_info SET end_snapshot = ? WHERE table_id = ? AND end_snapshot IS "
        "NULL",
        "UPDATE ducklake_tag SET end_snapshot = ? WHERE object_id = ? AND end_snapshot IS NULL",
    };
    meta_val up[] = {MVINT(next->snapshot_id), MVINT(id)};
    for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++)
        if ((rc = lake_exec(c, ends[i], up, 2, err)) != 0) return rc;
    next->schema_version = cur->schema_version + 1;
    if (buf_printf(changes, "dropped_table:%lld", (long long)id)) {
        dlb_err_set(err, 500, "out_of_memory", "out of memory");
        return -1;
    }
    return 0;
}

int lake_drop_table(lake_t *l, const char *schema, const char *name, int64_t *snapshot_out,
                    dlb_err *err)
{
    if (!schema) schema = "main";
    if (!name || !*name) {
        dlb_err_set(err, 404, "table_not_found", "no table name given");
        return -1;
    }
    drop_args a = {.l = l, .schema = schema, .name = name};
    int64_t snap = 0;
    lake_commit_info ci = {
        .operation = "drop_table", .table_id = -1, .rows = -1, .bytes = -1, .files = -1};
    snprintf(ci.schema, sizeof ci.schema, "%s", schema);
    snprintf(ci.table, sizeof ci.table, "%s", name);
    lake_commit_describe(&ci);
    int rc = lake_commit(l, drop_body, &a, &snap, err);
    lake_commit_describe(NULL);
    if (rc == 0 && snapshot_out) *snapshot_out = snap;
    return rc;
}
