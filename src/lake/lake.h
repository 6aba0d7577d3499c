/* The DuckLake lake: catalog rows in the metadata database (meta/), data in Parquet files under
 * the data path, read and written through DuckDB (engine/). Format: docs/lake-format.md and
 * ../shared/ducklake-spec.md. Every function that can fail fills a dlb_err (util/err.h). */
#ifndef DLB_LAKE_H
#define DLB_LAKE_H

#include <duckdb.h>
#include <stdint.h>

#include "util/err.h"

struct config;
struct meta;
struct json_t;
typedef struct lake lake_t;

/* ---- opening ----------------------------------------------------------------------------- */

/* Opens the lake whose catalog lives in the metadata database: creates it (DDL + bootstrap
 * rows, data path DATA_DIR/lake/ unless one is given) when the catalog tables are missing,
 * adopts an existing one as it is (its data_path, its contents) and refuses a spec version it
 * cannot read. data_path NULL means the default. */
lake_t *lake_open(const struct config *cfg, struct meta *meta, const char *data_path, dlb_err *err);
/* lake_open with the object store (store/store.h; not owned, must outlive the lake). With an
 * S3 store a new catalog's default data path is s3://STORAGE_DEFAULT_BUCKET/ducklake-data/
 * (the bucket is created when missing); an s3:// data path (new or adopted) needs an S3 store
 * (503 lake_data_path otherwise): appends upload their files through it and reads go through
 * the local cache DATA_DIR/cache/lake (STORAGE_CACHE_MAX_BYTES, LRU). lake_open = no store. */
struct store;
lake_t *lake_open_store(const struct config *cfg, struct meta *meta, struct store *store,
                        const char *data_path, dlb_err *err);
void lake_close(lake_t *l);
/* The data path as stored (ends with '/'), the format version ("1.0"). */
const char *lake_data_path(const lake_t *l);
const char *lake_version(const lake_t *l);
int lake_read_only(const lake_t *l);

/* ---- snapshots ----------------------------------------------------------------------------- */

/* The snapshot a read uses: ?snapshot=N (must exist), ?as_of=<ISO time> (the newest at or
 * before it), else DB_DUCKLAKE_SNAPSHOT_VERSION/_TIME when pinned, else the latest. Either
 * text may be NULL. 404 for a snapshot that does not exist, 422 for unparseable values. */
int lake_resolve_snapshot(lake_t *l, const char *snapshot, const char *as_of, int64_t *out,
                          dlb_err *err);
/* {"snapshots": [{"snapshot_id", "snapshot_time", "schema_version", "changes": {...}}]}
 * for the whole lake, or only those that touched table (schema.name) when table != NULL. */
struct json_t *lake_snapshots_json(lake_t *l, const char *schema, const char *table, dlb_err *err);

/* ---- reading ------------------------------------------------------------------------------- */

/* Table names of the snapshot: ["t1", "other_schema.t2", ...] (schema main unqualified). With
 * details, objects with name, schema, row_count, file_count, bytes, snapshot_id. */
struct json_t *lake_tables_json(lake_t *l, int64_t snapshot, int details, dlb_err *err);
/* One table: {"name", "schema_name", "table_id", "schema": {"col": "TYPE"}, "columns": [{
 * "column_id", "name", "type", "nullable"}], "row_count", "file_count", "bytes",
 * "snapshot_id", "partitioning", "comment"}. 404 when it does not exist at that snapshot. */
struct json_t *lake_table_json(lake_t *l, int64_t snapshot, const char *schema, const char *name,
                               dlb_err *err);
/* The table_id of schema.name at snapshot (one catalog query: no columns, files or
 * statistics), or -1 with 404 table_not_found (or 503). */
int64_t lake_table_id(lake_t *l, int64_t snapshot, const char *schema, const char *name,
                      dlb_err *err);

/* Makes every table of the snapshot queryable on con by its name (schema main unqualified,
 * other schemas as schema.table): views over read_parquet of the live data files, columns
 * mapped by field id (renames, added columns), deleted rows removed (delete files and inlined
 * deletes), inlined rows included. Cheap when con is already bound to that snapshot. */
int lake_bind(lake_t *l, duckdb_connection con, int64_t snapshot, dlb_err *err);
/* Tables of at most rows rows are copied into a temp table by lake_bind instead of being
 * views (faster queries, see read_bind.c); 0 or less: never. For tests of both paths. */
void lake_set_materialize_rows(lake_t *l, int64_t rows);

/* Lake on S3: the views of lake_bind read the files' local cache copies, which must be present
 * while a query binds and runs. lake_pin_snapshot downloads the missing files of every table of
 * the snapshot and pins them all (no eviction) until lake_pins_release; call it before
 * lake_bind and release after the query. *out is NULL (nothing to release) for a local lake.
 * 0, or -1 with err (503 store_unavailable naming the file when the store cannot be read). */
typedef struct lake_pins lake_pins;
int lake_pin_snapshot(lake_t *l, int64_t snapshot, lake_pins **out, dlb_err *err);
/* The same for one file (its s3:// URL); *out NULL when url is not remote. */
int lake_pin_file(lake_t *l, const char *url, lake_pins **out, dlb_err *err);
void lake_pins_release(lake_t *l, lake_pins *p); /* p may be NULL */
/* Registers the cache's Prometheus series (dlb_lake_cache_hits_total, _misses_total,
 * _evictions_total, _fetch_errors_total, _fetched_bytes_total, _bytes, _files, _max_bytes,
 * _pinned_files); nothing for a local lake. */
void lake_metrics_register(lake_t *l);

/* ---- writing ------------------------------------------------------------------------------- */

typedef struct {
    const char *name; /* validated identifier */
    const char *type; /* user type text: INTEGER, DECIMAL(10,2), STRUCT(a INT), INT[] ... */
} lake_coldef;

/* Checks a user type text and gives its canonical DuckDB spelling (out, outlen); 422 naming
 * the type when it is unknown or malformed. Used by the API before anything is written. */
int lake_type_check(const char *type, char *out, size_t outlen, dlb_err *err);
/* [A-Za-z_][A-Za-z0-9_]{0,62}, not a reserved word: 1 when acceptable. */
int lake_identifier_ok(const char *name);

/* CREATE TABLE in a new snapshot. 409 when it exists, 422 for bad names/types, 403 when the
 * lake is read-only. */
int lake_create_table(lake_t *l, const char *schema, const char *name, const lake_coldef *cols,
                      int ncols, const char *comment, const char *const *partition_by,
                      int npartition, int64_t *snapshot_out, dlb_err *err);

/* Appends rows: source_sql is a DuckDB table expression built by the caller from trusted
 * parts only (e.g. read_csv('<spool path>', columns={...}) with the path and names quoted).
 * The rows are cast to the table's types; a row that does not fit gives 422 naming the row
 * (1-based) and the column, and nothing is committed. The Parquet file is written (field ids =
 * column ids, statistics) before one metadata transaction commits it; a snapshot conflict is
 * retried on the newer snapshot; a failed commit leaves no visible trace and schedules its file
 * for deletion. Small appends are inlined when DB_DUCKLAKE_DATA_INLINING_ROW_LIMIT allows. */
int lake_append(lake_t *l, duckdb_connection con, const char *schema, const char *table,
                const char *source_sql, int64_t *rows_out, int64_t *snapshot_out, dlb_err *err);
/* lake_append reads source_sql once in the common case (one COPY casts the rows and writes the
 * Parquet file) and reads it again only when that fails, to name the bad row. A source that can
 * be read only once (an Arrow stream view) passes LAKE_APPEND_READ_ONCE: it is staged in a
 * DuckDB temp table first and everything else reads the stage. */
#define LAKE_APPEND_READ_ONCE 1u
int lake_append_ex(lake_t *l, duckdb_connection con, const char *schema, const char *table,
                   const char *source_sql, unsigned flags, int64_t *rows_out, int64_t *snapshot_out,
                   dlb_err *err);

/* DROP TABLE in a new snapshot; its files are scheduled for deletion only when no snapshot
 * still references them (time travel keeps working). 404 when absent. */
int lake_drop_table(lake_t *l, const char *schema, const char *name, int64_t *snapshot_out,
                    dlb_err *err);

#endif
