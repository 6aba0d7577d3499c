/* Partitioned appends (digest §3.14, §7.10): the keys of the scheme in force, their transformed
 * values as the extension stores them, the Hive directory of a key tuple and the
 * ducklake_file_partition_value rows. write_append.c splits the rows and writes the files. */
#include "lake/write.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int lake_partition_in_force(meta_conn *c, int64_t table_id, int64_t *out, dlb_err *err)
{
    int rc = 0;
    meta_val p[] = {MVINT(table_id)};
    meta_result *r = lake_query(c,
                                "SELECT partition_id FROM ducklake_partition_info WHERE "
                                "table_id = ? AND end_snapshot IS NULL",
                                p, 1, &rc, err);
    if (!r) return rc ? rc : -1;
    *out = meta_result_rows(r) > 0 ? meta_result_int(r, 0, 0) : -1;
    meta_result_free(r);
    return 0;
}

/* The Hive key name of k: the column for identity, else the transform, or <transform>_<col>
 * when a column or an earlier key already has that name (the extension's rule). */
static void key_name(const lake_table_def *t, lake_part_key *keys, int i)
{
    lake_part_key *k = &keys[i];
    const char *col = t->cols[k->col]->name;
    if (!strcmp(k->transform, "identity")) {
        snprintf(k->name, sizeof k->name, "%s", col);
        return;
    }
    int used = 0;
    for (int j = 0; j < t->ncols; j++)
        used |= !strcasecmp(t->cols[j]->name, k->transform);
    for (int j = 0; j < i; j++)
        used |= !strcasecmp(keys[j].name, k->transform);
    if (used)
        snprintf(k->name, sizeof k->name, "%s_%s", k->transform, col);
    else
        snprintf(k->name, sizeof k->name, "%s", k->transform);
}

int lake_partition_keys(lake_t *l, const lake_table_def *t, lake_part_key **out, int *n,
                        dlb_err *err)
{
    *out = NULL;
    *n = 0;
    if (t->partition_id < 0) return 0;
    meta_conn *c = meta_acquire(l->meta);
    if (!c) {
        dlb_err_set(err, 503, "catalog_unavailable", "no metadata connection available");
        return -1;
    }
    int rc = 0;
    meta_val p[] = {MVINT(t->partition_id), MVINT(t->table_id)};
    meta_result *r = lake_query(c,
                                "SELECT column_id, \"transform\" FROM ducklake_partition_column "
                                "WHERE partition_id = ? AND table_id = ? ORDER BY "
                                "partition_key_index",
                                p, 2, &rc, err);
    meta_release(l->meta, c);
    if (!r) return -1;
    int rows = meta_result_rows(r);
    lake_part_key *keys = calloc((size_t)(rows ? rows : 1), sizeof *keys);
    if (!keys) {
        meta_result_free(r);
        dlb_err_set(err, 500, "out_of_memory", "out of memory");
        return -1;
    }
    for (int i = 0; i < rows; i++) {
        int64_t id = meta_result_int(r, i, 0);
        const char *tr = meta_result_get(r, i, 1);
        keys[i].col = -1;
        for (int j = 0; j < t->ncols; j++)
            if (t->cols[j]->id == id) keys[i].col = j;
        if (keys[i].col < 0 || !tr ||
            (strcmp(tr, "identity") && strcmp(tr, "year") && strcmp(tr, "month") &&
             strcmp(tr, "day") && strcmp(tr, "hour"))) {
            /* bucket(N) needs the extension's murmur3; a writer that cannot reproduce the
             * layout must not write files readers would prune wrongly */
            dlb_err_set(err, 422, "unsupported_partitioning",
                        "table %s.%s is partitioned by %s, which this server cannot write",
                        t->schema_name, t->table_name, tr ? tr : "an unknown column");
            meta_result_free(r);
            free(keys);
            return -1;
        }
        snprintf(keys[i].transform, sizeof keys[i].transform, "%s", tr);
        key_name(t, keys, i);
    }
    meta_result_free(r);
    *out = keys;
    *n = rows;
    return 0;
}

int lake_partition_expr(const lake_part_key *k, const char *col_sql, buf_t *out)
{
    /* year() etc. give BIGINT; the stored value is its decimal text (digest §7.10) */
    if (!strcmp(k->transform, "identity")) return buf_printf(out, "CAST(%s AS VARCHAR)", col_sql);
    return buf_printf(out, "CAST(%s(%s) AS VARCHAR)", k->transform, col_sql);
}

/* DuckDB's Hive escaping: RFC 3986 unreserved bytes stay, every other byte is %XX. */
static int hive_escape(buf_t *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int keep = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                   (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' || *p == '~';
        char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
        if (keep ? buf_append(b, (const char *)p, 1) : buf_append(b, e, 3)) return -1;
    }
    return 0;
}

int lake_partition_dir(const lake_part_key *keys, int n, char *const *values, buf_t *out)
{
    for (int i = 0; i < n; i++) {
        if (hive_escape(out, keys[i].name) || buf_appends(out, "=")) return -1;
        if (values[i] ? hive_escape(out, values[i])
                      : buf_appends(out, "__HIVE_DEFAULT_PARTITION__"))
            return -1;
        if (buf_appends(out, "/")) return -1;
    }
    return 0;
}

int lake_insert_partition_values(meta_conn *c, int64_t file_id, int64_t table_id,
                                 char *const *values, int n, dlb_err *err)
{
    for (int i = 0; i < n; i++) {
        meta_val p[] = {MVINT(file_id), MVINT(table_id), MVINT(i), MVTEXT(values[i])};
        int rc = lake_exec(c, "INSERT INTO ducklake_file_partition_value VALUES (?, ?, ?, ?)", p, 4,
                           err);
        if (rc) return rc;
    }
    return 0;
}
