/* The zombie rules, as a pure function of what the hub knows about a client, so that they
 * can be tested without sockets. What each counter means (docs/decisions/0010-sse.md):
 * - write_errors: consecutive sweeps in which bytes waited and the socket took none, plus
 *   one for a socket error (which also closes the connection at once);
 * - missed_pings: pings sent while the previous one was still unanswered;
 * - queue_full_count: publications that found the queue at or above half its bounds,
 *   reset when the reader empties it;
 * - last_activity: the socket took bytes, a pong came, or there was nothing to take.
 * A client that has never sent a pong is judged by its socket alone: the pong rules apply
 * to it only once its socket stalls (a plain EventSource cannot pong). */
#ifndef DLB_EVENTS_ZOMBIE_H
#define DLB_EVENTS_ZOMBIE_H

typedef struct {
    int max_write_errors; /* more than this: "write_errors" */
    int max_missed_pings; /* more than this: "missed_pings" */
    int queue_full_count; /* at least this, and still high: "queue_consistently_full" */
    double inactivity;    /* seconds without activity: "timeout" */
    double pong_timeout;  /* seconds after the first ping without any pong: "no_pong_response" */
} ev_zombie_rules;

typedef struct {
    double now;
    double first_ping_at; /* 0: no ping sent yet */
    double last_pong_at;  /* 0: never */
    double last_activity;
    int write_errors;
    int missed_pings;
    int queue_full_count;
    int queue_high; /* the queue is at or above half its bounds now */
} ev_zombie_input;

/* The reason a client is a zombie ("write_errors", ...), or NULL when it is healthy. */
const char *ev_zombie_reason(const ev_zombie_input *in, const ev_zombie_rules *rules);

#endif
