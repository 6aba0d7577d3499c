#ifndef DLB_UTIL_PERIODIC_H
#define DLB_UTIL_PERIODIC_H

/* A thread that calls fn(arg) every interval seconds until periodic_stop, which wakes it
 * at once (shutdown never waits out an interval). The first call happens one interval
 * after the start, or at once when first_now is set. fn runs without any lock held. */
typedef struct periodic periodic;

periodic *periodic_start(double interval, int first_now, void (*fn)(void *), void *arg);
/* Stops and joins the thread (a call in progress finishes first); NULL is a no-op. */
void periodic_stop(periodic *p);

#endif
