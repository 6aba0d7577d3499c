#include "periodic.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct periodic {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* signalled by periodic_stop */
    int stop;
    int first_now;
    double interval;
    void (*fn)(void *);
    void *arg;
};

/* On the monotonic clock (the condition variable is set up for it), so that a step of the
 * wall clock neither stalls nor hurries the ticks. */
static struct timespec deadline(double interval)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long ns = ts.tv_nsec + (long long)(interval * 1e9);
    ts.tv_sec += (time_t)(ns / 1000000000LL);
    ts.tv_nsec = (long)(ns % 1000000000LL);
    return ts;
}

static void *run(void *arg)
{
    periodic *p = arg;
    if (p->first_now) p->fn(p->arg);
    pthread_mutex_lock(&p->lock);
    while (!p->stop) {
        struct timespec ts = deadline(p->interval);
        while (!p->stop && pthread_cond_timedwait(&p->cond, &p->lock, &ts) == 0) {
        }
        if (p->stop) break;
        pthread_mutex_unlock(&p->lock);
        p->fn(p->arg);
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

periodic *periodic_start(double interval, int first_now, void (*fn)(void *), void *arg)
{
    periodic *p = calloc(1, sizeof(*p));
    if (!p) return NULL;
    p->interval = interval;
    p->first_now = first_now;
    p->fn = fn;
    p->arg = arg;
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&p->thread, NULL, run, p)) {
        pthread_cond_destroy(&p->cond);
        pthread_mutex_destroy(&p->lock);
        free(p);
        return NULL;
    }
    return p;
}

void periodic_stop(periodic *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    p->stop = 1;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
