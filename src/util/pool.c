#include "pool.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct {
    pool_fn fn;
    void *arg;
} job_t;

struct pool {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    job_t *ring;
    size_t cap, head, count;
    int nthreads, busy, stopping;
    pthread_t *threads;
    void (*on_start)(int);
    void (*on_stop)(int);
};

typedef struct {
    pool_t *p;
    int index;
} start_t;

static _Thread_local int t_index = -1;

static void *worker_main(void *arg)
{
    start_t st = *(start_t *)arg;
    free(arg);
    pool_t *p = st.p;
    t_index = st.index;
    if (p->on_start) p->on_start(st.index);
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->count && !p->stopping)
            pthread_cond_wait(&p->cond, &p->lock);
        if (!p->count && p->stopping) break;
        job_t j = p->ring[p->head];
        p->head = (p->head + 1) % p->cap;
        p->count--;
        p->busy++;
        pthread_mutex_unlock(&p->lock);
        j.fn(j.arg);
        pthread_mutex_lock(&p->lock);
        p->busy--;
    }
    pthread_mutex_unlock(&p->lock);
    if (p->on_stop) p->on_stop(st.index);
    return NULL;
}

pool_t *pool_create(int threads, size_t queue_size, void (*on_thread_start)(int),
                    void (*on_thread_stop)(int))
{
    return pool_create_at(threads, queue_size, 0, on_thread_start, on_thread_stop);
}

pool_t *pool_create_at(int threads, size_t queue_size, int index_base, void (*on_thread_start)(int),
                       void (*on_thread_stop)(int))
{
    pool_t *p = calloc(1, sizeof(*p));
    if (!p) return NULL;
    p->cap = queue_size ? queue_size : 1;
    p->ring = calloc(p->cap, sizeof(job_t));
    p->threads = calloc((size_t)threads, sizeof(pthread_t));
    p->on_start = on_thread_start;
    p->on_stop = on_thread_stop;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    if (!p->ring || !p->threads) goto fail;
    for (int i = 0; i < threads; i++) {
        start_t *st = malloc(sizeof(*st));
        if (!st) goto fail;
        st->p = p;
        st->index = index_base + i;
        if (pthread_create(&p->threads[i], NULL, worker_main, st)) {
            free(st);
            goto fail;
        }
        p->nthreads++;
    }
    return p;
fail:
    pool_destroy(p);
    return NULL;
}

int pool_submit(pool_t *p, pool_fn fn, void *arg)
{
    pthread_mutex_lock(&p->lock);
    if (p->stopping || p->count == p->cap) {
        pthread_mutex_unlock(&p->lock);
        return -1;
    }
    p->ring[(p->head + p->count) % p->cap] = (job_t){fn, arg};
    p->count++;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

int pool_worker_index(void)
{
    return t_index;
}

size_t pool_queue_depth(pool_t *p)
{
    pthread_mutex_lock(&p->lock);
    size_t n = p->count;
    pthread_mutex_unlock(&p->lock);
    return n;
}

int pool_busy(pool_t *p)
{
    pthread_mutex_lock(&p->lock);
    int n = p->busy;
    pthread_mutex_unlock(&p->lock);
    return n;
}

int pool_threads(pool_t *p)
{
    return p->nthreads;
}

size_t pool_queue_capacity(pool_t *p)
{
    return p->cap;
}

void pool_destroy(pool_t *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    p->stopping = 1;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p->ring);
    free(p->threads);
    free(p);
}
