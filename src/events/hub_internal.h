/* Shared by the files of events/ only. Lock order: hub->lock, then a client's lock; the
 * HTTP thread reading a client takes the client's lock alone. */
#ifndef DLB_EVENTS_HUB_INTERNAL_H
#define DLB_EVENTS_HUB_INTERNAL_H

#include "events.h"
#include "queue.h"

#include <pthread.h>
#include <stdatomic.h>

#define EV_MAX_FILTER   16
#define EV_ID_BUCKETS   4096
#define EV_IP_BUCKETS   1024
#define EV_NZREASONS    5
#define EV_NDROPREASONS 6

/* Why a client's stream ended (counted in stats). */
enum {
    DROP_CLIENT_CLOSED,
    DROP_QUEUE_OVERFLOW,
    DROP_DELETED,
    DROP_ZOMBIE,
    DROP_SHUTDOWN,
    DROP_OUT_OF_MEMORY
};
/* How the stream ends. */
enum { END_DRAIN, END_NOW, END_ABORT };

#define EV_MAX_FANOUT 4

/* One fan-out thread: its wake list (under the hub lock) and its epoll set (the sockets of
 * its direct clients waiting for room, and the eventfd that signals the wake list). */
typedef struct ev_fanout {
    struct ev_hub *hub;
    pthread_t thread;
    int started;
    int epfd, evfd;
    struct ev_client *wake_head, **wake_tail;
} ev_fanout;

typedef struct ev_ipcount {
    struct ev_ipcount *next;
    int count;
    char ip[64];
} ev_ipcount;

struct ev_client {
    /* The connection holds one reference until ev_client_done, the waker one while the
     * client waits in its list. */
    atomic_int refs;
    /* Under the hub lock. */
    ev_client *prev, *next, *hnext;
    ev_client *wnext; /* the waker's list */
    int wake_pending; /* in the waker's list */
    int shard;        /* its fan-out thread (hub->fo) */
    ev_hub *hub;
    int linked;
    char id[37];
    char ip[64];
    unsigned types;
    char *filter_store[3];
    const char **filters[3]; /* jobs, runs, namespaces; allocated only when given */
    int nfilters[3];
    ev_sink sink;
    double connected_at, last_enqueue_at, last_ping_at, first_ping_at, last_pong_at;
    double last_activity, zombie_at;
    uint64_t consumed_at_check, events_queued;
    int ping_count, missed_pings, write_errors, ping_outstanding, pending_at_check;
    int zombie_reason; /* index in zombie reasons, -1: not a zombie */
    char ping_id[40];

    /* Under the client's lock (the HTTP thread reads the queue). */
    pthread_mutex_t lock;
    ev_queue q;
    int closing;  /* end once the queue is drained */
    int aborting; /* cut at once */
    int finished; /* ev_client_done ran: the sink is gone, never wake it */
    int queue_full_count;
    uint64_t consumed;
    double last_consumed;
    /* Direct writes (events/direct.c): while direct, the connection stays parked and the
     * fan-out thread writes the queue to sink.fd as HTTP/1.1 chunks; the chunk under way is
     * chunk_hdr (hdr_left bytes of it still to send), body_left queued bytes, trail_left
     * bytes of its CRLF. */
    int direct;
    int end_now; /* ended while direct: finish the chunk under way, drop the rest */
    char chunk_hdr[20];
    int hdr_len, hdr_left, trail_left;
    size_t body_left;

    /* The fan-out thread's alone. */
    int in_epoll;
    /* Under the hub lock: the hub's list of direct clients (holding a reference). */
    ev_client *dprev, *dnext;
};

struct ev_hub {
    ev_options opt;
    pthread_mutex_t lock;
    ev_client *clients;
    size_t nclients;
    ev_client *by_id[EV_ID_BUCKETS];
    ev_ipcount *by_ip[EV_IP_BUCKETS];
    int closed;
    /* History: a ring of numbered frames, oldest first. */
    ev_frame **history;
    size_t hist_head, hist_count;
    uint64_t last_id;      /* the newest id handed out */
    uint64_t evicted_upto; /* the newest id no longer in history: replay after it is whole */
    ev_frame *hello;       /* retry: and a comment, the first bytes of every stream */
    /* Counters. */
    uint64_t published, delivered, connects;
    uint64_t published_by_type[EV_NTYPES], samples;
    uint64_t dropped[EV_NDROPREASONS];
    uint64_t zombie_total, zombie_reasons[EV_NZREASONS];
    double last_cleanup; /* wall clock, 0: never */
    double wall_offset;  /* wall = monotonic + offset */
    char instance[17];   /* this process's random id (relay origin, samples) */
    /* Fan-out to other replicas: called under the lock for every event published here. */
    ev_forward_fn forward;
    void *forward_ctx;
    /* Prometheus series (ev_hub_enable_metrics); NULL when metrics are off. */
    struct ev_metrics *metrics;
    /* Background thread. */
    pthread_t thread;
    int thread_started, stop;
    pthread_cond_t cond;
    struct pollfd *probe;
    ev_client **probe_clients;
    size_t probe_cap;
    /* The fan-out threads (one per CPU, up to EV_MAX_FANOUT; each client belongs to one):
     * write to direct clients and resume the connections of the others whose queue went from
     * empty to not empty, outside the hub lock, in batches (clients queued again while a
     * batch is being handled wait for the next, so many events ride one send or resume).
     * Not started (unit tests): wakes are synchronous. */
    ev_fanout fo[EV_MAX_FANOUT];
    int nfanout;
    int waker_started, waker_stop;
    uint64_t wake_batches, wakes;
    /* Direct writes: the direct clients, counters. */
    ev_client *direct_head;
    size_t ndirect;
    atomic_uint_fast64_t direct_sends, direct_blocked, direct_handbacks;
};

extern const char *const ev_zombie_reasons[EV_NZREASONS];
extern const char *const ev_drop_reasons[EV_NDROPREASONS];

double ev_now(void); /* monotonic seconds */
/* Queues f (taking the caller's reference) for c, with the overflow rule unless replay is
 * set. Returns 0, or -1 when c must be dropped (overflow or memory). Hub lock held. */
int ev_push_locked(ev_hub *h, ev_client *c, ev_frame *f, int replay);
/* Ends c's stream and unregisters it. Hub lock held. */
void ev_drop_locked(ev_hub *h, ev_client *c, int reason, int how);
/* Observes the delivery latency of a frame published at ts (wall clock); any thread. */
void ev_metrics_latency(ev_hub *h, double ts);
void ev_metrics_free(ev_hub *h);
/* Asks for c's sink to be woken: at once when no waker runs, else by the waker thread.
 * Hub lock held. */
void ev_wake_locked(ev_hub *h, ev_client *c);
/* Drops a reference to c (freeing it at the last). */
void ev_client_unref(ev_client *c);
/* Direct writes (events/direct.c). The fan-out thread's body; its handling of one client
 * (a wake or a writable socket), no lock held; the hand-back of every direct client after
 * the thread has stopped. */
void *ev_fanout_main(void *arg);
void ev_fanout_client(ev_hub *h, ev_client *c, int final);
void ev_direct_release_all(ev_hub *h);
/* Takes the wake list (each entry holding a reference) into *batch. Hub lock held. */
size_t ev_take_wakes_locked(ev_fanout *fo, ev_client ***batch, size_t *cap);
/* The background thread's body. */
void *ev_ticker_main(void *arg);

#endif
