#include "breaker.h"

void breaker_init(breaker_t *b, int threshold, double cooldown_s)
{
    pthread_mutex_init(&b->lock, NULL);
    b->threshold = threshold > 0 ? threshold : 5;
    b->cooldown_ns = (uint64_t)((cooldown_s > 0 ? cooldown_s : 2.0) * 1e9);
    b->fails = 0;
    b->state = BREAKER_CLOSED;
    b->open_until = 0;
    b->probe_out = 0;
}

void breaker_destroy(breaker_t *b)
{
    pthread_mutex_destroy(&b->lock);
}

int breaker_allow(breaker_t *b, uint64_t now, int *probe, uint64_t *wait_ms)
{
    int rc = 0;
    *probe = 0;
    pthread_mutex_lock(&b->lock);
    if (b->state == BREAKER_OPEN && now >= b->open_until) b->state = BREAKER_HALF_OPEN;
    if (b->state == BREAKER_OPEN) {
        *wait_ms = (b->open_until - now) / 1000000 + 1;
        rc = -1;
    } else if (b->state == BREAKER_HALF_OPEN) {
        if (b->probe_out) {
            *wait_ms = 100; /* the probe decides soon */
            rc = -1;
        } else {
            b->probe_out = 1;
            *probe = 1;
        }
    }
    pthread_mutex_unlock(&b->lock);
    return rc;
}

void breaker_success(breaker_t *b)
{
    pthread_mutex_lock(&b->lock);
    b->fails = 0;
    b->state = BREAKER_CLOSED;
    b->probe_out = 0;
    pthread_mutex_unlock(&b->lock);
}

int breaker_failure(breaker_t *b, uint64_t now, int probe)
{
    int opened = 0;
    pthread_mutex_lock(&b->lock);
    b->fails++;
    if (probe) b->probe_out = 0;
    if ((probe || b->fails >= b->threshold) && b->state != BREAKER_OPEN) {
        b->state = BREAKER_OPEN;
        b->open_until = now + b->cooldown_ns;
        opened = 1;
    }
    pthread_mutex_unlock(&b->lock);
    return opened;
}

void breaker_release(breaker_t *b, int probe)
{
    if (!probe) return;
    pthread_mutex_lock(&b->lock);
    b->probe_out = 0;
    pthread_mutex_unlock(&b->lock);
}
