/* The lake writer's internals (lake-private): the commit skeleton, catalog look-ups, Parquet
 * file statistics and their merge into table statistics. Shared by write*.c and commit*.c. */
#ifndef DLB_LAKE_WRITE_H
#define DLB_LAKE_WRITE_H

#include <duckdb.h>
#include <stdint.h>

#include "lake/lake_internal.h"
#include "lake/types.h"
#include "util/buf.h"
#include "util/err.h"

/* ---- commit (commit.c) --------------------------------------------------------------------- */

/* The counters of one snapshot row. */
typedef struct {
    int64_t snapshot_id, schema_version, next_catalog_id, next_file_id;
} lake_snap;

/* The body of a commit: runs inside the metadata transaction after the latest snapshot (cur)
 * was read; next starts as cur with snapshot_id + 1 and the body advances its counters,
 * inserts its rows and appends its change entries to changes (comma-separated). Returns 0,
 * -1 with err set (no retry), or META_CONFLICT / META_BUSY (the commit is retried on fresh
 * state). */
typedef int (*lake_commit_body)(meta_conn *c, const lake_snap *cur, lake_snap *next, buf_t *changes,
                                void *arg, dlb_err *err);

/* What a commit does, for the hook (automatic lineage): filled by the operation's caller and
 * announced with lake_commit_describe. Pointers are borrowed for the commit's duration. */
typedef struct lake_commit_info {
    const char *operation;        /* "create_table", "append", "drop_table" */
    char schema[128], table[128]; /* as stored (drop's body corrects the caller's spelling) */
    int64_t table_id;             /* -1 when unknown; create's and drop's bodies fill it in */
    int64_t rows, bytes, files;   /* append: what the commit adds; -1 when not an append */
    const char *location;         /* the table's directory (local path or s3:// URL), or NULL */
} lake_commit_info;

/* Describes the next lake_commit of the calling thread (the hook receives it); NULL clears.
 * Callers clear it after lake_commit returns, so no description outlives its commit. */
void lake_commit_describe(lake_commit_info *info);
/* The description of the commit running on this thread (for its body), or NULL. */
lake_commit_info *lake_commit_described(void);

/* Called in the same transaction after the body (the lineage outbox hooks in here) with the
 * description (NULL for commits nobody described); a non-zero return aborts the commit. Called
 * once more with c NULL after the commit succeeded, outside any transaction (to wake whoever
 * reads the outbox); the return value is ignored then. */
typedef int (*lake_commit_hook)(meta_conn *c, int64_t snapshot_id, const char *changes,
                                const lake_commit_info *info, void *arg);
/* Process-wide; NULL removes it. Set it before the first write. */
void lake_set_commit_hook(lake_commit_hook fn, void *arg);

/* Runs body in one transaction that adds snapshot cur+1 and its snapshot_changes row;
 * META_CONFLICT / META_BUSY are retried (LAKE_COMMIT_RETRIES times, jittered exponential
 * backoff). 0 with *snapshot_out set, or -1 with err (403 read-only, the body's error, 409
 * after the last conflict, 503 catalog unavailable, 500 otherwise). */
#define LAKE_COMMIT_RETRIES 10
int lake_commit(lake_t *l, lake_commit_body body, void *arg, int64_t *snapshot_out, dlb_err *err);

/* meta_exec that maps failures: returns 0, or the META_* code with err filled (500/503). */
int lake_exec(meta_conn *c, const char *sql, const meta_val *params, int nparams, dlb_err *err);
/* meta_query that maps failures the same way; NULL with *rc set on failure. */
meta_result *lake_query(meta_conn *c, const char *sql, const meta_val *params, int nparams, int *rc,
                        dlb_err *err);
/* The latest snapshot row, in c's transaction. */
int lake_latest_snapshot(meta_conn *c, lake_snap *out, dlb_err *err);
/* snapshot_time text for now (lake_catalog_timestamp form). */
void lake_now_text(char out[40]);

/* ---- tables (write_table.c) ---------------------------------------------------------------- */

/* A table as the writer sees it at the latest snapshot. */
typedef struct {
    int64_t table_id, schema_id;
    char *schema_name, *table_name;
    char *dir;     /* absolute directory of the table's files, ends with '/' */
    char *rel_dir; /* the same relative to data_path (scheduled-for-deletion paths) */
    int ncols;
    lake_type **cols;     /* top-level columns; node->name, ->id, ->not_null set, children too */
    char sig[96];         /* columns signature: changes when any column row is added or ended */
    int64_t partition_id; /* -1 when unpartitioned */
} lake_table_def;

/* A commit description (lake_commit_describe) of operation op on t: names, id and location
 * from t; rows, bytes and files -1 (an append sets them). */
void lake_commit_info_table(lake_commit_info *ci, const char *op, const lake_table_def *t);

/* Looks schema.table up at the latest snapshot (case-insensitive), with its columns. 1 found,
 * 0 absent, -1 error (err set). Uses c (any transaction state). */
int lake_table_load(lake_t *l, meta_conn *c, const char *schema, const char *table,
                    lake_table_def *out, dlb_err *err);
void lake_table_def_free(lake_table_def *t);
/* 0 when the table is still live with the columns t was loaded with; 409 table_changed
 * otherwise (or a META code). */
int lake_check_table_unchanged(meta_conn *c, const lake_table_def *t, dlb_err *err);
/* The columns signature of table_id now; 0 on success. */
int lake_table_signature(meta_conn *c, int64_t table_id, char out[96], dlb_err *err);

/* ---- SQL text (write_sql.c) ---------------------------------------------------------------- */

/* "name" with '"' doubled / 'text' with '\'' doubled. 0 or -1 (memory). */
int sql_ident(buf_t *b, const char *name);
int sql_string(buf_t *b, const char *s);

/* ---- statistics (write_stats.c) ------------------------------------------------------------ */

/* Statistics of one leaf column in one file (or one inlined batch). */
typedef struct {
    int64_t column_id;
    lake_cmp cls;
    int is_float, no_counts; /* no_counts: value/null counts unknown (INTERVAL) */
    int64_t column_size_bytes, value_count, null_count;
    char *min, *max;  /* NULL when unknown / all NULL */
    int contains_nan; /* -1 unknown, 0, 1 */
} lake_leaf_stats;

typedef struct {
    char *path; /* absolute */
    char *name; /* relative to the table directory */
    int64_t record_count, file_size_bytes, footer_size;
    int nleaves;
    lake_leaf_stats *leaves;
} lake_file_stats;

void lake_file_stats_free(lake_file_stats *f);
/* Leaves of the table's columns in column-id order, with their RETURN_STATS key ("a"."b"),
 * into an array the caller frees with lake_leaves_free. */
typedef struct {
    const lake_type *node;
    char *key;
} lake_leaf;
int lake_leaves(const lake_table_def *t, lake_leaf **out, int *n);
void lake_leaves_free(lake_leaf *v, int n);

/* Runs a COPY ... RETURN_STATS statement on con and fills f from its single row. */
int lake_copy_with_stats(duckdb_connection con, const char *sql, const lake_table_def *t,
                         lake_file_stats *f, dlb_err *err);
/* Inserts the file_column_stats rows of a file. */
int lake_insert_file_stats(meta_conn *c, int64_t file_id, int64_t table_id,
                           const lake_file_stats *f, dlb_err *err);
/* Adds rows/bytes to ducklake_table_stats and merges the leaves into
 * ducklake_table_column_stats the way the extension does (digest §7.3). *row_id_start gets
 * the table's next_row_id before the addition. */
int lake_merge_table_stats(meta_conn *c, int64_t table_id, int64_t rows, int64_t bytes,
                           const lake_leaf_stats *leaves, int nleaves, int64_t *row_id_start,
                           dlb_err *err);

/* ---- partitioning (write_partition.c) ------------------------------------------------------ */

/* One key of the partitioning in force (digest §7.10). */
typedef struct {
    int col;            /* index into the table's cols */
    char transform[16]; /* identity, year, month, day, hour */
    char name[160];     /* the Hive directory key (unescaped) */
} lake_part_key;

/* The partition_id in force now (-1 none), in c's transaction. */
int lake_partition_in_force(meta_conn *c, int64_t table_id, int64_t *out, dlb_err *err);
/* The keys of t->partition_id in key order (*n = 0 when unpartitioned); the caller frees *out.
 * 422 for a transform this writer cannot reproduce (bucket). */
int lake_partition_keys(lake_t *l, const lake_table_def *t, lake_part_key **out, int *n,
                        dlb_err *err);
/* DuckDB SQL giving the transformed key of col_sql as the stored VARCHAR (NULL for NULL). */
int lake_partition_expr(const lake_part_key *k, const char *col_sql, buf_t *out);
/* Appends "k0=v0/k1=v1/" (DuckDB's Hive escaping, NULL as __HIVE_DEFAULT_PARTITION__). */
int lake_partition_dir(const lake_part_key *keys, int n, char *const *values, buf_t *out);
/* The ducklake_file_partition_value rows of a file (values[i] NULL: SQL NULL). */
int lake_insert_partition_values(meta_conn *c, int64_t file_id, int64_t table_id,
                                 char *const *values, int n, dlb_err *err);

/* ---- inlining (write_inline.c) ------------------------------------------------------------- */

/* 1 when the table's rows may be inlined (names and types allow it). */
int lake_inline_eligible(const lake_table_def *t);
/* CREATE TABLE statement of ducklake_inlined_data_<table_id>_<version> for the backend. */
int lake_inline_ddl(int postgres, int64_t table_id, int64_t version, const lake_type *const *cols,
                    int ncols, buf_t *out);
/* Creates and registers the inlined-data table (inside the caller's transaction). */
int lake_inline_create(lake_t *l, meta_conn *c, int64_t table_id, int64_t version,
                       const lake_type *const *cols, int ncols, dlb_err *err);
/* Appends the staged rows (DuckDB table stage) inline; called by lake_append. */
int lake_append_inline(lake_t *l, duckdb_connection con, const lake_table_def *t, const char *stage,
                       const char *select_sql, int64_t nrows, int64_t *snapshot_out, dlb_err *err);

/* ---- DuckDB helpers (write_duck.c) --------------------------------------------------------- */

/* Runs sql; on failure err gets status/code and DuckDB's message. 0 or -1. */
int duck_exec(duckdb_connection con, const char *sql, int status, const char *code, dlb_err *err);
/* Runs sql into *res (caller destroys). 0 or -1 (res destroyed). */
int duck_query(duckdb_connection con, const char *sql, duckdb_result *res, int status,
               const char *code, dlb_err *err);

#endif
