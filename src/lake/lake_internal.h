/* Shared by the files of lake/ only. */
#ifndef DLB_LAKE_INTERNAL_H
#define DLB_LAKE_INTERNAL_H

#include <duckdb.h>
#include <pthread.h>
#include <stdint.h>

#include "config.h"
#include "lake.h"
#include "meta/meta.h"
#include "util/buf.h"

struct lake {
    const config_t *cfg;
    meta_t *meta;
    int postgres;
    char data_path[4096]; /* as stored in ducklake_metadata: ends with '/' */
    char version[16];
    int read_only;           /* DB_DUCKLAKE_READ_ONLY or a pinned snapshot */
    int64_t pinned_snapshot; /* -1 when not pinned */
    int inlining_row_limit;  /* DB_DUCKLAKE_DATA_INLINING_ROW_LIMIT */
    pthread_mutex_t lock;    /* guards whatever lake/ caches here */
    /* ---- added by the reader (open.c, snapshot.c, read*.c) ---- */
    /* data_path made absolute for reading: a relative stored data_path is taken relative to
     * DATA_DIR (the SQLite catalog's folder), see docs/lake-format.md "Reading". Ends '/'. */
    char data_root[4096];
    int encrypted;                /* ducklake_metadata 'encrypted' = 'true' */
    uint64_t token;               /* unique per lake_open in this process: tags bound connections */
    int lock_ok;                  /* lock initialised (lake_close destroys it) */
    int64_t materialize_max_rows; /* read_bind.c: relations up to this many rows are copied */
    duckdb_database count_db;     /* private in-memory DuckDB for exact row counts (lazy) */
    duckdb_connection count_con;  /* used under lock */
    /* ---- lake on S3 (remote.c) ---- */
    struct store *store;      /* the object store (lake_open_store), or NULL */
    int remote;               /* data_root is an s3:// URL: files live in the store */
    char upload_dir[4096];    /* DATA_DIR/tmp/ (ends '/'): Parquet files before their upload */
    struct lake_cache *cache; /* local copies of the store's files (remote only) */
    /* ---- read_bind.c ---- */
    int pad_failed; /* a pad file could not be written: reads go without (under lock) */
};

/* Bounds of the tables lake_bind copies into a temp table (read_bind.c, materialize): rows
 * (lake_set_materialize_rows, default below) and bytes of data files. */
#define LAKE_MATERIALIZE_MAX_ROWS  10000
#define LAKE_MATERIALIZE_MAX_BYTES (256 << 10)

/* ---- reader internals (read_catalog.c) ------------------------------------------------- */

/* One ducklake_column row valid at the snapshot; a tree through first_child/next_sibling
 * (indexes into the table's array, -1 for none), children in column_order. */
typedef struct {
    int64_t id, parent;                    /* parent -1 at top level */
    char *name, *type;                     /* DuckLake type name (lowercase) */
    char *initial_default, *default_value; /* NULL when SQL NULL */
    int nullable;
    int first_child, next_sibling;
} lake_column;

/* A live data file with its (at most one) live delete file. Paths are resolved. */
typedef struct {
    int64_t id, record_count, file_size;
    int64_t row_id_start; /* -1: stored in the file (_ducklake_internal_row_id) */
    int64_t partial_max;  /* -1 when not a partial file */
    int64_t mapping_id;   /* -1 unless name-mapped */
    char *path, *key;     /* key: base64 encryption key or NULL */
    int has_del;
    int64_t del_count, del_partial_max; /* del_partial_max -1 when plain */
    char *del_path, *del_key, *del_format;
    /* Lake on S3: the object URLs (s3://bucket/key) of path / del_path, which then name the
     * files' places in the local cache (remote.c); NULL for local files. */
    char *url, *del_url;
} lake_file;

typedef struct {
    int64_t table_id, schema_id, begin_snapshot;
    char *schema, *name, *dir; /* dir: resolved table directory, ends '/' */
    lake_column *cols;
    int ncols, ntop; /* ntop: top-level columns, which come first in column_order */
    lake_file *files;
    int nfiles;
} lake_table;

/* Tables visible at snapshot (only schema.name when name != NULL), with columns, and with
 * live files when files != 0. *out owned by the caller: lake_tables_free. 0 or -1 (err). */
int lake_tables_load(lake_t *l, meta_conn *c, int64_t snapshot, const char *schema,
                     const char *name, int files, lake_table **out, int *n, dlb_err *err);
void lake_tables_free(lake_table *t, int n);
/* Columns of table_id valid at snapshot, tree-linked, top level first. 0 or -1. */
int lake_columns_load(meta_conn *c, int64_t table_id, int64_t snapshot, lake_column **out, int *n,
                      int *ntop, dlb_err *err);
void lake_columns_free(lake_column *cols, int n);
/* 1 when the catalog table (ducklake_inlined_delete_7 ...) exists in the metadata DB. */
int lake_meta_table_exists(lake_t *l, meta_conn *c, const char *name);

/* ---- types (read_types.c) ---------------------------------------------------------------- */

/* DuckDB type text of column idx (nested types spelled out). quote: child names always
 * double-quoted (for SQL) instead of only when needed (for display). malloc'd or NULL. */
char *lake_column_duckdb_type(const lake_column *cols, int idx, int quote);

/* ---- snapshots (snapshot.c) ------------------------------------------------------------- */

/* Newest snapshot id; -1 with err on failure. */
int64_t lake_snapshot_latest(lake_t *l, meta_conn *c, dlb_err *err);
/* ISO-8601 text (date, date+time, optional fraction and zone) to unix microseconds. 0 or -1. */
int lake_parse_time(const char *s, int64_t *unix_micros);

/* ---- row counts (read_count.c) ---------------------------------------------------------- */

/* Exact number of rows of t at snapshot (what SELECT count(*) returns). -1 with err. */
int64_t lake_table_row_count(lake_t *l, meta_conn *c, const lake_table *t, int64_t snapshot,
                             dlb_err *err);

/* ---- relation SQL (read_sql.c) ---------------------------------------------------------- */

/* What lake_bind loaded into the connection for one table. */
typedef struct {
    const char *inlined_table; /* temp table with the inlined rows (raw text), or NULL */
    const int *file_has_idel;  /* per file: positions in temp.main.__dlb_idel; may be NULL */
    /* An empty Parquet file listed beside each large data file, or NULL: DuckDB reads a single
     * file given with schema= on one thread (it counts row groups only in a file it opened at
     * bind, which schema= skips); two files lift that cap. It holds every field id the
     * relation maps: a file without a mapped column that another file of the same scan has
     * makes DuckDB 1.5 fail (INTERNAL, invalidating the database) on any filter on
     * file_row_number (read_bind.c, lake_pad_copy_sql, ADR 0018). */
    const char *pad_file;
} lake_bind_extra;

/* The COPY that writes t's pad file at path (columns c<id> and the two internal ones, field
 * ids set, no rows), or NULL when t has a nested column (no pad then) or out of memory. */
char *lake_pad_copy_sql(const lake_table *t, const char *path);

/* Data files of at least this many rows (two of DuckDB's row groups) get the pad file. */
#define LAKE_PAD_MIN_ROWS (2 * 122880)

/* SELECT __dlb_rowid, <columns by name> of table t at snapshot s (top-level columns are
 * cols[0..ntop)). malloc'd, or NULL with err. */
char *lake_relation_sql(const lake_table *t, const lake_bind_extra *x, int64_t s, dlb_err *err);

/* ---- lake on S3 (remote.c) ----------------------------------------------------------------- */

/* The data path a new catalog gets when none is given and the store is S3:
 * s3://STORAGE_DEFAULT_BUCKET/ducklake-data/ (the bucket is created when missing; a store that
 * does not answer is only logged: the first upload creates it then). 1 when out was set, 0
 * when the default local path applies. */
int lake_remote_default_path(lake_t *l, char *out, size_t outlen);
/* After the data path is known: an s3:// data path needs the S3 store and gets the cache
 * (DATA_DIR/cache/lake, STORAGE_CACHE_MAX_BYTES). 0 or -1 with err. */
int lake_remote_init(lake_t *l, dlb_err *err);
void lake_remote_close(lake_t *l);
/* For a remote lake: every s3:// path of t's files becomes its cache path, the URL kept in
 * url / del_url. No-op otherwise. 0 or -1 (memory). */
int lake_files_localize(lake_t *l, lake_table *t, dlb_err *err);
/* Uploads the local file *path as dir + name (dir an s3:// URL), removes the local file (also
 * on failure), and replaces *path by the object's URL. 0, or -1 with err (503 when the store
 * is unavailable, naming the file). */
int lake_remote_publish(lake_t *l, char **path, const char *dir, const char *name, dlb_err *err);
/* Removes a data file that no snapshot refers to: an s3:// URL through the store, else the
 * local file. 0 when gone (or absent), -1 when it could not be removed. */
int lake_file_remove(lake_t *l, const char *path);

/* ---- SQL text helpers (read_types.c) ------------------------------------------------------- */

/* "ident" with '"' doubled / 'text' with '\'' doubled, appended to a buf_t. 0 or -1. */
int lake_sql_ident(buf_t *b, const char *s);
int lake_sql_string(buf_t *b, const char *s);

#endif
