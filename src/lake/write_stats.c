/* File statistics from DuckDB's COPY ... RETURN_STATS (what the extension stores, digest §7.3,
 * §8.3), the ducklake_file_column_stats rows, and the merge into table statistics. */
#include "lake/write.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ leaves */

void lake_leaves_free(lake_leaf *v, int n)
{
    for (int i = 0; v && i < n; i++)
        free(v[i].key);
    free(v);
}

static int collect(const lake_type *t, const char *prefix, lake_leaf **v, int *n, int *cap)
{
    buf_t k;
    buf_init(&k, 0);
    if (prefix && (buf_appends(&k, prefix) || buf_appends(&k, "."))) goto oom;
    if (sql_ident(&k, t->name ? t->name : "")) goto oom;
    if (!lake_type_nested(t)) {
        if (*n == *cap) {
            int nc = *cap ? *cap * 2 : 16;
            lake_leaf *g = realloc(*v, sizeof *g * (size_t)nc);
            if (!g) goto oom;
            *v = g;
            *cap = nc;
        }
        (*v)[*n].node = t;
        (*v)[*n].key = buf_steal(&k, NULL);
        if (!(*v)[*n].key) goto oom;
        (*n)++;
        return 0;
    }
    for (int i = 0; i < t->nchildren; i++)
        if (collect(t->children[i], k.data, v, n, cap)) goto oom;
    buf_free(&k);
    return 0;
oom:
    buf_free(&k);
    return -1;
}

int lake_leaves(const lake_table_def *t, lake_leaf **out, int *n)
{
    lake_leaf *v = NULL;
    int cnt = 0, cap = 0;
    for (int i = 0; i < t->ncols; i++)
        if (collect(t->cols[i], NULL, &v, &cnt, &cap)) {
            lake_leaves_free(v, cnt);
            return -1;
        }
    *out = v;
    *n = cnt;
    return 0;
}

void lake_file_stats_free(lake_file_stats *f)
{
    if (!f) return;
    for (int i = 0; i < f->nleaves; i++) {
        free(f->leaves[i].min);
        free(f->leaves[i].max);
    }
    free(f->leaves);
    free(f->path);
    free(f->name);
    memset(f, 0, sizeof *f);
}

/* ------------------------------------------------------------------ RETURN_STATS */

static char *dup_str(duckdb_string_t *s, int *has_nul)
{
    uint32_t len = duckdb_string_t_length(*s);
    const char *p = duckdb_string_t_data(s);
    if (has_nul) *has_nul = memchr(p, '\0', len) != NULL;
    char *o = malloc((size_t)len + 1);
    if (!o) return NULL;
    memcpy(o, p, len);
    o[len] = '\0';
    return o;
}

static int valid(duckdb_vector v, idx_t row)
{
    uint64_t *m = duckdb_vector_get_validity(v);
    return !m || duckdb_validity_row_is_valid(m, row);
}

/* Reads the inner MAP(VARCHAR, VARCHAR) of one leaf into st. */
static int read_inner(duckdb_vector inner, idx_t row, lake_leaf_stats *st)
{
    duckdb_list_entry *e = duckdb_vector_get_data(inner);
    duckdb_vector kv = duckdb_list_vector_get_child(inner);
    duckdb_vector kk = duckdb_struct_vector_get_child(kv, 0);
    duckdb_vector vv = duckdb_struct_vector_get_child(kv, 1);
    duckdb_string_t *ks = duckdb_vector_get_data(kk);
    duckdb_string_t *vs = duckdb_vector_get_data(vv);
    int have_nv = 0, have_nc = 0;
    int64_t num_values = 0;
    for (idx_t j = e[row].offset; j < e[row].offset + e[row].length; j++) {
        if (!valid(vv, j)) continue;
        char *key = dup_str(&ks[j], NULL);
        int nul = 0;
        char *val = dup_str(&vs[j], &nul);
        if (!key || !val) {
            free(key);
            free(val);
            return -1;
        }
        if (!strcmp(key, "min") || !strcmp(key, "max")) {
            char **slot = key[1] == 'i' ? &st->min : &st->max;
            free(*slot);
            *slot = nul ? NULL : val; /* the extension writes NULL for strings with NUL */
            if (nul) free(val);
            val = NULL;
        } else if (!strcmp(key, "null_count")) {
            st->null_count = strtoll(val, NULL, 10);
            have_nc = 1;
        } else if (!strcmp(key, "num_values")) {
            num_values = strtoll(val, NULL, 10);
            have_nv = 1;
        } else if (!strcmp(key, "column_size_bytes")) {
            st->column_size_bytes = strtoll(val, NULL, 10);
        } else if (!strcmp(key, "has_nan")) {
            st->contains_nan = !strcmp(val, "true");
        }
        free(key);
        free(val);
    }
    if (!have_nc) st->no_counts = 1;
    /* The extension's value_count is the non-NULL count (digest §3.10). */
    st->value_count = have_nv && have_nc ? num_values - st->null_count : -1;
    if (!have_nv) st->no_counts = 1;
    return 0;
}

int lake_copy_with_stats(duckdb_connection con, const char *sql, const lake_table_def *t,
                         lake_file_stats *f, dlb_err *err)
{
    lake_leaf *leaves = NULL;
    int nleaves = 0;
    if (lake_leaves(t, &leaves, &nleaves)) {
        dlb_err_set(err, 500, "out_of_memory", "out of memory");
        return -1;
    }
    f->leaves = calloc((size_t)(nleaves ? nleaves : 1), sizeof *f->leaves);
    if (!f->leaves) {
        lake_leaves_free(leaves, nleaves);
        dlb_err_set(err, 500, "out_of_memory", "out of memory");
        return -1;
    }
    f->nleaves = nleaves;
    for (int i = 0; i < nleaves; i++) {
        lake_leaf_stats *st = &f->leaves[i];
        st->column_id = leaves[i].node->id;
        st->cls = lake_type_cmp_class(leaves[i].node);
        st->is_float = st->cls == LCMP_FLOAT;
        st->contains_nan = st->is_float ? 0 : -1;
        st->value_count = st->null_count = -1;
        /* INTERVAL: RETURN_STATS reports zeros (no statistics at all); store unknown. */
        st->no_counts = leaves[i].node->kind == LT_INTERVAL;
    }
    duckdb_result res;
    if (duck_query(con, sql, &res, 500, "parquet_write_failed", err)) {
        lake_leaves_free(leaves, nleaves);
        return -1;
    }
    int rc = -1, rows = 0;
    duckdb_data_chunk chunk;
    while ((chunk = duckdb_fetch_chunk(res)) != NULL) {
        idx_t n = duckdb_data_chunk_get_size(chunk);
        for (idx_t r = 0; r < n; r++, rows++) {
            if (rows > 0) continue;
            duckdb_vector vcount = duckdb_data_chunk_get_vector(chunk, 1);
            duckdb_vector vsize = duckdb_data_chunk_get_vector(chunk, 2);
            duckdb_vector vfoot = duckdb_data_chunk_get_vector(chunk, 3);
            duckdb_vector vstats = duckdb_data_chunk_get_vector(chunk, 4);
            f->record_count = (int64_t)((uint64_t *)duckdb_vector_get_data(vcount))[r];
            f->file_size_bytes = (int64_t)((uint64_t *)duckdb_vector_get_data(vsize))[r];
            f->footer_size =
                valid(vfoot, r) ? (int64_t)((uint64_t *)duckdb_vector_get_data(vfoot))[r] : -1;
            duckdb_list_entry *e = duckdb_vector_get_data(vstats);
            duckdb_vector kv = duckdb_list_vector_get_child(vstats);
            duckdb_vector keys = duckdb_struct_vector_get_child(kv, 0);
            duckdb_vector inner = duckdb_struct_vector_get_child(kv, 1);
            duckdb_string_t *ks = duckdb_vector_get_data(keys);
            for (idx_t j = e[r].offset; j < e[r].offset + e[r].length; j++) {
                char *key = dup_str(&ks[j], NULL);
                if (!key) {
                    duckdb_destroy_data_chunk(&chunk);
                    goto oom;
                }
                for (int i = 0; i < nleaves; i++)
                    if (!strcmp(leaves[i].key, key) && valid(inner, j)) {
                        int no_counts = f->leaves[i].no_counts;
                        if (read_inner(inner, j, &f->leaves[i])) {
                            free(key);
                            duckdb_destroy_data_chunk(&chunk);
                            goto oom;
                        }
                        if (no_counts) f->leaves[i].no_counts = 1;
                    }
                free(key);
            }
        }
        duckdb_destroy_data_chunk(&chunk);
    }
    if (rows != 1) {
        dlb_err_set(err, 500, "parquet_write_failed", "COPY returned %d files, expected 1", rows);
        goto done;
    }
    rc = 0;
    goto done;
oom:
    dlb_err_set(err, 500, "out_of_memory", "out of memory");
done:
    duckdb_destroy_result(&res);
    lake_leaves_free(leaves, nleaves);
    return rc;
}

/* ------------------------------------------------------------------ catalog rows */

static meta_val opt_int(int64_t v, int known)
{
    return known ? MVINT(v) : MVNULL;
}

int lake_insert_file_stats(meta_conn *c, int64_t file_id, int64_t table_id,
                           const lake_file_stats *f, dlb_err *err)
{
    for (int i = 0; i < f->nleaves; i++) {
        const lake_leaf_stats *s = &f->leaves[i];
        int counts = !s->no_counts && s->value_count >= 0;
        meta_val p[] = {MVINT(file_id),
                        MVINT(table_id),
                        MVINT(s->column_id),
                        MVINT(s->column_size_bytes),
                        opt_int(s->value_count, counts),
                        opt_int(s->null_count, counts),
                        MVTEXT(s->min),
                        MVTEXT(s->max),
                        s->is_float && s->contains_nan >= 0 ? MVINT(s->contains_nan) : MVNULL};
        int rc = lake_exec(c,
                           "INSERT INTO ducklake_file_column_stats VALUES "
                           "(?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                           p, 9, err);
        if (rc) return rc;
    }
    return 0;
}

/* One table_column_stats row being merged. */
typedef struct {
    int64_t column_id;
    int contains_null, contains_nan; /* -1 unknown */
    char *min, *max;
    int present; /* a row exists */
} col_row;

/* The extension's DuckLakeColumnStats::MergeStats for min/max (digest §7.3). */
static int merge_bound(lake_cmp cls, char **old_min, char **old_max, const char *nmin,
                       const char *nmax)
{
    if (!nmin && !nmax) return 0; /* all NULL: keep the old bounds */
    if (!*old_min && !*old_max) {
        *old_min = nmin ? strdup(nmin) : NULL;
        *old_max = nmax ? strdup(nmax) : NULL;
        return (nmin && !*old_min) || (nmax && !*old_max) ? -1 : 0;
    }
    char *mn = NULL, *mx = NULL;
    if (*old_min && nmin) mn = strdup(lake_stat_cmp(cls, nmin, *old_min) < 0 ? nmin : *old_min);
    if (*old_max && nmax) mx = strdup(lake_stat_cmp(cls, nmax, *old_max) > 0 ? nmax : *old_max);
    int oom = (*old_min && nmin && !mn) || (*old_max && nmax && !mx);
    free(*old_min);
    free(*old_max);
    *old_min = mn;
    *old_max = mx;
    return oom ? -1 : 0;
}

int lake_merge_table_stats(meta_conn *c, int64_t table_id, int64_t rows, int64_t bytes,
                           const lake_leaf_stats *leaves, int nleaves, int64_t *row_id_start,
                           dlb_err *err)
{
    int rc = 0;
    meta_val tp[] = {MVINT(table_id)};
    meta_result *r = lake_query(c,
                                "SELECT record_count, next_row_id, file_size_bytes FROM "
                                "ducklake_table_stats WHERE table_id = ?",
                                tp, 1, &rc, err);
    if (!r) return rc ? rc : -1;
    int first = meta_result_rows(r) == 0;
    int64_t rec = first ? 0 : meta_result_int(r, 0, 0);
    int64_t nrid = first ? 0 : meta_result_int(r, 0, 1);
    int64_t size = first ? 0 : meta_result_int(r, 0, 2);
    meta_result_free(r);
    *row_id_start = nrid;
    meta_val sp[] = {MVINT(rec + rows), MVINT(nrid + rows), MVINT(size + bytes), MVINT(table_id)};
    rc = lake_exec(c,
                   first ? "INSERT INTO ducklake_table_stats (record_count, next_row_id, "
                           "file_size_bytes, table_id) VALUES (?, ?, ?, ?)"
                         : "UPDATE ducklake_table_stats SET record_count = ?, next_row_id = ?, "
                           "file_size_bytes = ? WHERE table_id = ?",
                   sp, 4, err);
    if (rc) return rc;

    col_row *cr = calloc((size_t)(nleaves ? nleaves : 1), sizeof *cr);
    if (!cr) goto oom;
    for (int i = 0; i < nleaves; i++) {
        cr[i].column_id = leaves[i].column_id;
        cr[i].contains_null = cr[i].contains_nan = -1;
    }
    if (!first) {
        r = lake_query(c,
                       "SELECT column_id, contains_null, contains_nan, min_value, max_value FROM "
                       "ducklake_table_column_stats WHERE table_id = ?",
                       tp, 1, &rc, err);
        if (!r) goto fail;
        for (int k = 0; k < meta_result_rows(r); k++) {
            int64_t id = meta_result_int(r, k, 0);
            for (int i = 0; i < nleaves; i++) {
                if (cr[i].column_id != id) continue;
                cr[i].present = 1;
                cr[i].contains_null = meta_result_isnull(r, k, 1) ? -1 : !!meta_result_int(r, k, 1);
                cr[i].contains_nan = meta_result_isnull(r, k, 2) ? -1 : !!meta_result_int(r, k, 2);
                const char *mn = meta_result_get(r, k, 3), *mx = meta_result_get(r, k, 4);
                cr[i].min = mn ? strdup(mn) : NULL;
                cr[i].max = mx ? strdup(mx) : NULL;
                if ((mn && !cr[i].min) || (mx && !cr[i].max)) {
                    meta_result_free(r);
                    goto oom;
                }
            }
        }
        meta_result_free(r);
    }
    for (int i = 0; i < nleaves; i++) {
        const lake_leaf_stats *s = &leaves[i];
        col_row *o = &cr[i];
        /* A column without a row after the first insert stays "unknown" (the extension never
         * adds one either, digest §3.13). */
        if (!first && !o->present) continue;
        int new_null = s->no_counts || s->null_count < 0 ? 1 : s->null_count > 0;
        int new_nan = s->is_float ? s->contains_nan : -1;
        if (first) {
            o->contains_null = new_null;
            o->contains_nan = new_nan;
            o->min = s->min ? strdup(s->min) : NULL;
            o->max = s->max ? strdup(s->max) : NULL;
            if ((s->min && !o->min) || (s->max && !o->max)) goto oom;
        } else {
            if (o->contains_null >= 0) o->contains_null = o->contains_null || new_null;
            if (s->is_float)
                o->contains_nan =
                    o->contains_nan < 0 || new_nan < 0 ? -1 : o->contains_nan || new_nan;
            else
                o->contains_nan = -1;
            if (merge_bound(s->cls, &o->min, &o->max, s->min, s->max)) goto oom;
        }
        meta_val p[] = {o->contains_null >= 0 ? MVINT(o->contains_null) : MVNULL,
                        o->contains_nan >= 0 ? MVINT(o->contains_nan) : MVNULL,
                        MVTEXT(o->min),
                        MVTEXT(o->max),
                        MVINT(table_id),
                        MVINT(o->column_id)};
        rc = lake_exec(c,
                       first ? "INSERT INTO ducklake_table_column_stats (contains_null, "
                               "contains_nan, min_value, max_value, table_id, column_id) "
                               "VALUES (?, ?, ?, ?, ?, ?)"
                             : "UPDATE ducklake_table_column_stats SET contains_null = ?, "
                               "contains_nan = ?, min_value = ?, max_value = ? WHERE "
                               "table_id = ? AND column_id = ?",
                       p, 6, err);
        if (rc) goto fail;
    }
    rc = 0;
    goto done;
oom:
    dlb_err_set(err, 500, "out_of_memory", "out of memory");
fail:
    if (!rc) rc = -1;
done:
    for (int i = 0; cr && i < nleaves; i++) {
        free(cr[i].min);
        free(cr[i].max);
    }
    free(cr);
    return rc;
}
