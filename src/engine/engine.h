/* The DuckDB query engine: one in-memory database, one connection per worker thread. */
#ifndef DLB_ENGINE_H
#define DLB_ENGINE_H

#include <duckdb.h>
#include <stddef.h>

struct config;
typedef struct engine engine_t;

/* Prepares the engine; DuckDB itself starts on first use (or engine_start), with nconns
 * connections, one per worker index. */
engine_t *engine_open(const struct config *cfg, int nconns, char *err, size_t errlen);
/* Starts DuckDB now if it is not running; 0 when it runs. A failure is remembered. */
int engine_start(engine_t *e, char *err, size_t errlen);
/* 0 not started yet, 1 running, -1 failed to start. */
int engine_started(engine_t *e);
void engine_close(engine_t *e);
/* The calling worker's connection (pool_worker_index()); a shared, locked one elsewhere
 * is not offered: callers outside the pool use engine_with_spare. */
duckdb_connection engine_conn(engine_t *e, int index);
/* Runs SELECT 1 on a spare connection; 0 when healthy. */
int engine_ping(engine_t *e, char *err, size_t errlen);
const char *engine_version(void);
/* Effective memory limit in bytes, as configured. */
long long engine_memory_limit(const engine_t *e);

/* ---- user queries: a second, sandboxed database ------------------------------------------ */

/* The lake's data path (local directory; a remote s3:// path adds nothing): with the cache
 * directory DATA_DIR/cache, the only files user queries may read. Call once, before the first
 * engine_query_conn; 0, or -1 when the sandbox already runs or the path is unusable. */
int engine_set_lake_path(engine_t *e, const char *data_path);
/* The sandboxed connection of worker index: its own in-memory database (QUERY_MEMORY_LIMIT,
 * its own spill directory), enable_external_access=false with allowed_directories = lake data
 * path + cache + export staging directory, configuration locked. Started on first use; NULL when it
 * cannot start (engine_query_error says why) or index is out of range. Views made by lake_bind live
 * on it; run user SQL only through engine/query.h. */
duckdb_connection engine_query_conn(engine_t *e, int index);
/* Hands back what engine_query_conn gave worker index. failed: the request ended in an error,
 * so the database is probed; one that DuckDB invalidated (an INTERNAL or FATAL error) is
 * replaced by a fresh one for the next query, and closed once no worker is inside it. */
void engine_query_release(engine_t *e, int index, int failed);
/* Times the query database was reopened after being invalidated. */
long engine_query_reopens(engine_t *e);
/* Why the query database failed to start, or NULL. */
const char *engine_query_error(engine_t *e);
/* Staging directory for Parquet results (query_limits.tmp_dir). The sandboxed connection may
 * write and read there (it writes the answers itself); it holds nothing but such answers. */
const char *engine_export_dir(const engine_t *e);

#endif
