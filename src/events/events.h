/* The Server-Sent Events hub: producers publish from any thread; every event gets the next
 * id, is serialised once, kept in a bounded history ring and queued (by reference) for each
 * client whose filters match. Clients read their queue from the HTTP thread through the
 * sink they registered; a client whose queue overflows is dropped, never waited for. A
 * background thread sends heartbeats and pings, notices hung-up sockets and applies the
 * zombie rules. The hub knows neither HTTP nor any producer. */
#ifndef DLB_EVENTS_H
#define DLB_EVENTS_H

#include "events/frame.h"
#include "events/zombie.h"

#include <stddef.h>
#include <stdint.h>

struct json_t;

enum {
    EV_LINEAGE_EVENT,
    EV_JOB_STATUS,
    EV_QUEUE_STATUS,
    EV_SYSTEM_METRIC,
    EV_ERROR,
    EV_HEARTBEAT,
    EV_PING,
    EV_NTYPES
};
#define EV_MASK(t) (1u << (t))
#define EV_ALL     ((1u << EV_NTYPES) - 1)

const char *ev_type_name(int type);
/* EV_* for a type name, -1 when unknown. */
int ev_type_parse(const char *name);

typedef struct {
    size_t history_size;       /* events kept for replay */
    int retry_ms;              /* sent as retry: on connect */
    double heartbeat_interval; /* a heartbeat to a client idle this long; 0: none */
    double ping_interval;      /* a ping to every client this often; 0: none */
    double check_interval;     /* seconds between zombie checks */
    double zombie_grace;       /* a zombie is disconnected after this long; 0: at once */
    int max_clients;           /* in total */
    int max_clients_per_ip;    /* 0: no limit */
    size_t queue_events;       /* per client, beyond which it is dropped */
    size_t queue_bytes;
    ev_zombie_rules rules;
} ev_options;

typedef struct ev_hub ev_hub;
typedef struct ev_client ev_client;

/* How the hub reaches a client's connection. wake and abort are called with the hub's lock
 * held: they must not call back into the hub. */
typedef struct {
    void (*wake)(void *arg);  /* there are bytes to read, or the stream should end */
    void (*abort)(void *arg); /* cut the connection now (slow reader, zombie, hung up) */
    void *arg;
    int fd; /* the socket, polled for hang-ups while the stream is idle; -1: none */
} ev_sink;

typedef struct {
    unsigned types;                       /* EV_MASK bits; 0 means every type */
    const char *jobs, *runs, *namespaces; /* comma lists; NULL: no filter */
    const char *last_event_id;            /* replay after this id; NULL: live only */
    const char *ip;                       /* for the per-address limit */
} ev_subscription;

enum { EV_OK, EV_LIMIT_TOTAL, EV_LIMIT_IP, EV_CLOSED, EV_NOMEM };

ev_hub *ev_hub_create(const ev_options *opt);
/* Starts the heartbeat, ping and zombie thread. 0 on success. */
int ev_hub_start(ev_hub *h);
/* Stops the thread, refuses new clients and ends every stream (after a last frame with a
 * randomised retry: so that clients spread over other replicas). */
void ev_hub_shutdown(ev_hub *h);
/* After the HTTP server has stopped (no client may remain). */
void ev_hub_free(ev_hub *h);

/* Registers a client: its queue starts with retry:, a comment, the connected event and the
 * replay (or a reset event), atomically with respect to publication, so that nothing is
 * missed or repeated. EV_OK and *out, or the reason for refusing. */
int ev_hub_connect(ev_hub *h, const ev_subscription *sub, const ev_sink *sink, ev_client **out);
const char *ev_client_id(const ev_client *c);
/* For the HTTP thread: bytes read into out (> 0), 0 when nothing is ready, -1 when the
 * stream should end cleanly, -2 when the connection should be cut, -3 when the hub writes
 * to the socket itself (ev_client_park): stay parked until woken. */
long ev_client_read(ev_client *c, char *out, size_t max);
/* For the HTTP thread, when a read found nothing and the connection is about to park at a
 * chunk boundary of an HTTP/1.1 chunked body (nothing of it left in the server's buffers)
 * on a plain socket (sink.fd): from then on the hub's fan-out thread writes the stream's
 * frames to the socket itself, as chunks, while the connection stays parked, and wakes it
 * (at a chunk boundary) or aborts it only to end the stream. 1 when taken; 0 when it never
 * will be (no fan-out thread, no socket); -1 when the stream has bytes or is ending: read
 * again. */
int ev_client_park(ev_client *c);
/* The connection is over: unregisters (if still registered) and frees c. */
void ev_client_done(ev_client *c, int ok);

/* Publishes to every matching client; returns the event id (0 when out of memory). data is
 * borrowed; tags NULL means taken from data (job_name, run_id, namespace...). */
uint64_t ev_publish(ev_hub *h, int type, struct json_t *data, const ev_tags *tags);
/* Publishes to the named clients only (not kept in history); *delivered counts them. */
uint64_t ev_publish_to(ev_hub *h, int type, struct json_t *data, const char *const *ids,
                       size_t nids, size_t *delivered);

/* A periodic sample (queue_status, system_metric): delivered to the matching clients as an
 * unnumbered event, like a heartbeat: not kept in history, never replayed (the next sample
 * supersedes it), never forwarded to other replicas. Does nothing when no client is
 * connected. data is borrowed. */
void ev_publish_sample(ev_hub *h, int type, struct json_t *data);
/* lineage_publish_fn's shape (lineage/lineage.h), ctx being the hub: publishes data under
 * the type name ("job_status", "lineage_event"); an unknown name is ignored. */
void ev_publish_named(void *hub, const char *type, const struct json_t *data);

/* ---- fan-out across replicas (events/relay.h) ---- */

/* Called under the hub's lock, in id order, for every event published on this replica
 * (ev_publish, ev_publish_to; never for samples nor for events that came from another
 * replica). env is the serialised envelope; targets is NULL for a broadcast. Must not
 * block and must not call into the hub. */
typedef void (*ev_forward_fn)(void *ctx, int type, const char *env, size_t len, double ts,
                              const ev_tags *tags, const char *const *targets, size_t ntargets);
/* Set before clients connect and producers publish (or NULL to stop forwarding). */
void ev_hub_set_forward(ev_hub *h, ev_forward_fn fn, void *ctx);
/* An event that another replica published: numbered by this hub (so that a client's
 * Last-Event-ID replay on this replica stays gap-free), kept in history and delivered like a
 * local one (to the named clients only when targets is not NULL), never forwarded again.
 * Returns the local id, 0 when out of memory or type is unknown. */
uint64_t ev_publish_envelope(ev_hub *h, int type, const char *env, size_t len, double ts,
                             const ev_tags *tags, const char *const *targets, size_t ntargets);
/* This process's random instance id (16 hex digits): the origin of the events it forwards. */
const char *ev_hub_instance(const ev_hub *h);

/* Registers the hub's Prometheus series (obs/metrics.h): dlb_sse_clients,
 * dlb_sse_connections_total, dlb_sse_events_published_total{type},
 * dlb_sse_clients_dropped_total{reason}, dlb_sse_zombies_detected_total{reason} and
 * dlb_sse_delivery_latency_seconds (publication to the last byte handed to the socket). Once,
 * before the server starts, and only when metrics are on. */
void ev_hub_enable_metrics(ev_hub *h);

/* Ends a client's stream now. 0, or -1 when no such client. */
int ev_hub_disconnect(ev_hub *h, const char *client_id);
/* Records a pong. 0, or -1 when no such client; *matched tells whether ping_id was the
 * outstanding ping (any pong counts as a sign of life). */
int ev_hub_pong(ev_hub *h, const char *client_id, const char *ping_id, int *matched);
/* Documents for the management API (the caller owns them). */
struct json_t *ev_hub_stats(ev_hub *h, int with_clients);
struct json_t *ev_hub_zombies(ev_hub *h);
/* Disconnects every current zombie: {"zombies_before", "zombies_removed"}. */
struct json_t *ev_hub_cleanup(ev_hub *h);
size_t ev_hub_clients(ev_hub *h);

#endif
