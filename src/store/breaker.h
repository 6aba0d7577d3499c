/* A circuit breaker for one remote dependency: after `threshold` consecutive transport
 * failures it opens, and calls fail fast for `cooldown`; then one call goes through as a
 * probe (half-open): its success closes the breaker, its failure opens it again. Times are
 * passed in (monotonic ns) so that tests need no clock. */
#ifndef DLB_STORE_BREAKER_H
#define DLB_STORE_BREAKER_H

#include <pthread.h>
#include <stdint.h>

enum { BREAKER_CLOSED, BREAKER_OPEN, BREAKER_HALF_OPEN };

typedef struct {
    pthread_mutex_t lock;
    int threshold;
    uint64_t cooldown_ns;
    int fails; /* consecutive */
    int state;
    uint64_t open_until;
    int probe_out; /* half-open: the probe is in flight */
} breaker_t;

void breaker_init(breaker_t *b, int threshold, double cooldown_s);
void breaker_destroy(breaker_t *b);
/* 0: go ahead (*probe = 1 when this call is the half-open probe). -1: fail fast; *wait_ms
 * says when the next probe may go. */
int breaker_allow(breaker_t *b, uint64_t now, int *probe, uint64_t *wait_ms);
void breaker_success(breaker_t *b);
/* 1 when this failure opened (or re-opened) the breaker. */
int breaker_failure(breaker_t *b, uint64_t now, int probe);
/* Probe ended without telling (the call failed for another reason): let another probe go. */
void breaker_release(breaker_t *b, int probe);

#endif
