/* Fixed-size worker pool with a bounded queue: when the queue is full, submit fails at once
 * (the caller answers 503) instead of letting memory grow. */
#ifndef DLB_UTIL_POOL_H
#define DLB_UTIL_POOL_H

#include <stddef.h>

typedef struct pool pool_t;
typedef void (*pool_fn)(void *arg);

/* on_thread_start/stop run once in every worker thread (per-thread resources). Worker
 * indices run from index_base to index_base + threads - 1, so that several pools can share
 * per-index resources (one DuckDB connection per index) without two threads on one. */
pool_t *pool_create_at(int threads, size_t queue_size, int index_base,
                       void (*on_thread_start)(int index), void (*on_thread_stop)(int index));
/* pool_create_at with index_base 0. */
pool_t *pool_create(int threads, size_t queue_size, void (*on_thread_start)(int index),
                    void (*on_thread_stop)(int index));
/* 0 when queued, -1 when the queue is full or the pool is stopping. */
int pool_submit(pool_t *p, pool_fn fn, void *arg);
/* Index of the calling worker thread, -1 outside any pool. */
int pool_worker_index(void);
size_t pool_queue_depth(pool_t *p);
int pool_busy(pool_t *p);
int pool_threads(pool_t *p);
size_t pool_queue_capacity(pool_t *p);
/* Runs what is queued, then joins every thread. */
void pool_destroy(pool_t *p);

#endif
