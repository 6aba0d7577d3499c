/* A local cache of immutable files (the lake's Parquet files when the data path is on S3):
 * one directory, a byte budget, LRU eviction, no invalidation (a file never changes once
 * written). A reader pins a file for as long as it reads it: a pinned file is never evicted
 * (the budget may then be exceeded until the pins go; eviction catches up at unpin). A miss
 * downloads through the fetch callback into a temporary name, renamed into place when whole;
 * concurrent pins of the same key wait for one download. Files left by an earlier run are
 * adopted at open (oldest first in LRU order), stray temporaries removed. Thread-safe. */
#ifndef DLB_LAKE_CACHE_H
#define DLB_LAKE_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct lake_cache lake_cache;
typedef struct lake_cache_entry lake_cache_entry;

/* Writes the object named key into the new file dest (created by the callback); *size gets
 * its length. 0, or -1 with e set (the callback may leave a partial dest: it is removed). */
typedef int (*lake_cache_fetch_fn)(void *ctx, const char *key, const char *dest, uint64_t *size,
                                   dlb_err *e);

typedef struct {
    uint64_t hits, misses;  /* pins that found the file / had to download it */
    uint64_t evictions;     /* files removed to stay within the budget */
    uint64_t fetch_errors;  /* downloads that failed */
    uint64_t fetched_bytes; /* bytes downloaded */
    uint64_t bytes, files;  /* what the cache holds now */
    uint64_t pinned;        /* entries pinned now */
    uint64_t max_bytes;     /* the budget */
} lake_cache_stats;

/* dir is created when missing. max_bytes 0 keeps nothing once unpinned. NULL with e set. */
lake_cache *lake_cache_open(const char *dir, uint64_t max_bytes, lake_cache_fetch_fn fetch,
                            void *ctx, dlb_err *e);
/* No entry may be pinned any more. The files stay (adopted by the next open). */
void lake_cache_close(lake_cache *c);

/* The local path key is (or would be) cached at: dir/<32 hex of SHA-256(key)>-<basename>.
 * 0, or -1 when it does not fit. Deterministic: SQL may name it before the file exists. */
int lake_cache_path(const lake_cache *c, const char *key, char *out, size_t outlen);

/* Makes key present locally and pins it; NULL with e set when the download failed (every
 * waiter of that download gets its error). */
lake_cache_entry *lake_cache_pin(lake_cache *c, const char *key, dlb_err *e);
/* The local path of a pinned entry (valid until unpinned). */
const char *lake_cache_entry_path(const lake_cache_entry *en);
/* Releases a pin (NULL is ignored); evicts least recently used files over the budget. */
void lake_cache_unpin(lake_cache *c, lake_cache_entry *en);

void lake_cache_get_stats(lake_cache *c, lake_cache_stats *out);

#endif
