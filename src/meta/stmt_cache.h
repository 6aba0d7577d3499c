/* Prepared-statement cache of one pooled connection, keyed by SQL text (plus a driver-chosen
 * signature, e.g. the parameter types PostgreSQL fixed at prepare time). Bounded: the least
 * recently used statement is handed to the driver's free function when a new one needs room.
 * It lives and dies with the driver's handle, so a reconnect starts empty. Not thread-safe: a
 * pooled connection has one user at a time. */
#ifndef DLB_META_STMT_CACHE_H
#define DLB_META_STMT_CACHE_H

#include <stddef.h>
#include <stdint.h>

/* Statements at most per connection: the lineage ingest path uses ~15 distinct ones, the
 * whole server well under a hundred. */
#define STMT_CACHE_CAP 96
/* Statements with more parameters are generated per call (IN lists of varying length) and
 * would only churn the cache: they are prepared each time. */
#define STMT_CACHE_MAX_PARAMS 64

typedef void (*stmt_free_fn)(void *ctx, void *stmt);

typedef struct {
    char *key; /* sql, NUL, signature */
    size_t klen;
    uint64_t hash, used;
    void *stmt;
} stmt_entry;

typedef struct stmt_cache_s {
    stmt_entry e[STMT_CACHE_CAP];
    int n;
    uint64_t tick;
    stmt_free_fn free_fn;
    void *ctx;
    uint64_t hits, misses; /* for tests and /debug */
} stmt_cache;

void stmt_cache_init(stmt_cache *sc, stmt_free_fn fn, void *ctx);
/* Frees every statement (through free_fn) and forgets them. */
void stmt_cache_clear(stmt_cache *sc);
/* The statement cached for (sql, sig), or NULL (counts a hit or a miss). */
void *stmt_cache_get(stmt_cache *sc, const char *sql, const char *sig);
/* Caches stmt for (sql, sig), evicting the least recently used entry when full. 0, or -1 when
 * out of memory (then nothing is kept: the caller still owns stmt). */
int stmt_cache_put(stmt_cache *sc, const char *sql, const char *sig, void *stmt);
/* Drops the entry holding stmt (through free_fn); a no-op when absent. */
void stmt_cache_drop(stmt_cache *sc, void *stmt);

#endif
