/* The periodic samplers: every interval seconds, a queue_status event (what the application
 * reports about its queues, plus the hub's own figures) and a system_metric event (CPU of
 * this process, RSS, threads, open files, requests per second, event-stream clients), both
 * published with ev_publish_sample (unnumbered, never replayed, this replica only; the data
 * carries "instance" so that a dashboard can tell replicas apart). One thread; nothing is
 * built while no client is connected. */
#ifndef DLB_EVENTS_SAMPLER_H
#define DLB_EVENTS_SAMPLER_H

#include <stdint.h>

#include "events/events.h"

struct json_t;

typedef struct {
    /* Adds the application's queue figures to data (worker pools, outboxes ...). */
    void (*queues)(void *ctx, struct json_t *data);
    /* Requests finished since start (for requests per second); NULL: not reported. */
    uint64_t (*requests)(void *ctx);
    /* Adds more to the hub part of queue_status (the relay's backlog ...); may be NULL. */
    void (*hub_extra)(void *ctx, struct json_t *hub);
    void *ctx;
} ev_sampler_src;

typedef struct ev_sampler ev_sampler;

/* NULL when interval <= 0 (off) or the thread cannot start. */
ev_sampler *ev_sampler_start(ev_hub *h, double interval, const ev_sampler_src *src);
/* Stops and frees (NULL is fine). Before ev_hub_free. */
void ev_sampler_stop(ev_sampler *s);

/* One reading, exported for tests: CPU seconds used by this process so far, and the time. */
double ev_sampler_cpu_seconds(void);

#endif
