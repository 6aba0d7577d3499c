/* Delivery of outbox events to the configured OpenLineage collector: the pure policy (what a
 * response means, how long to wait, the circuit breaker) and the worker's internals. The
 * policy functions do no I/O and take the time as an argument, so the unit tests drive them
 * directly (tests/unit/test_lineage_deliver.c). */
#ifndef DLB_LINEAGE_DELIVER_H
#define DLB_LINEAGE_DELIVER_H

#include <stdint.h>
#include <time.h>

/* What one delivery attempt's outcome asks for. */
typedef enum {
    DLV_DELIVERED, /* 2xx: remove the row */
    DLV_RETRY,     /* network error, timeout, 408, 429, 5xx: retry until delivered */
    DLV_PERMANENT, /* any other status: retry up to QUEUE_QUEUE_RETRY_ATTEMPTS, then dead letter */
} dlv_class;

/* status is the HTTP status, or 0 when no response came (network error, timeout). */
dlv_class dlv_classify(long status);
/* 1 when the outcome is evidence that the collector is down (counts for the breaker):
 * no response, 408 or 5xx. 429 is a live collector asking us to slow down. */
int dlv_is_outage(long status);

/* Delay in seconds before retry number `attempt` (1 = after the first failure): base *
 * 2^(attempt-1), at most cap, with "equal jitter": a uniform draw in [d/2, d] (r in [0, 1)),
 * so colliding workers spread out while the delay still grows. */
double dlv_backoff(double base, int attempt, double cap, double r);

/* Retry-After (RFC 9110 10.2.3): delta-seconds ("120") or an HTTP-date (IMF-fixdate, and the
 * obsolete RFC 850 and asctime forms). Seconds from now (0 for a date in the past), or -1
 * when v is NULL, empty or not parseable. */
double dlv_retry_after(const char *v, time_t now);

/* Circuit breaker over the collector. Not thread-safe: the caller holds its lock.
 * CLOSED: everything goes; `threshold` consecutive outages open it. OPEN: nothing goes (fail
 * fast) until open_until; then HALF_OPEN: exactly one probe delivery; its success closes the
 * breaker, its failure opens it again for twice as long (up to max_open). A 429's
 * Retry-After pauses every delivery until then without opening it. */
enum { DLV_CLOSED = 0, DLV_OPEN = 1, DLV_HALF_OPEN = 2 };
typedef struct {
    int state;
    int failures; /* consecutive outages */
    int threshold;
    int probe_out; /* HALF_OPEN: the probe is in flight */
    double base_open, max_open, open_for;
    double open_until, pause_until; /* monotonic seconds */
    uint64_t opened;                /* times it opened */
} dlv_breaker;

/* What a worker may do now. */
enum { DLV_GO = 0, DLV_PROBE = 1, DLV_WAIT = 2 };

void dlv_breaker_init(dlv_breaker *b, int threshold, double base_open, double max_open);
/* DLV_GO (deliver a batch), DLV_PROBE (deliver exactly one row, then report it) or DLV_WAIT
 * (*until: when to ask again; a probe in flight has no deadline, *until is now + 1). */
int dlv_breaker_acquire(dlv_breaker *b, double now, double *until);
/* The outcome of one delivery. ok: the collector answered (2xx or a permanent 4xx);
 * outage: dlv_is_outage. Returns 1 when this closed an open or half-open breaker. */
int dlv_breaker_result(dlv_breaker *b, int probe, int outage, double now);
/* The probe found nothing to deliver: the next acquire may probe again. */
void dlv_breaker_release_probe(dlv_breaker *b);
/* No delivery before until (a 429's Retry-After). */
void dlv_breaker_pause(dlv_breaker *b, double until);
const char *dlv_breaker_state_name(int state);

/* Per-run ordering rank of an event type: START 0, RUNNING/OTHER/none 1, terminal 2. Within a
 * run the outbox delivers by (rank, eventTime, id). */
int dlv_run_rank(const char *event_type);

#endif
