/* Fan-out across replicas through PostgreSQL LISTEN/NOTIFY.
 *
 * Every event published on this replica (broadcast or targeted; not the samplers', not the
 * ones that came from another replica) is handed over by the hub under its lock, so in id
 * order, and queued; a sender thread NOTIFYs it on its own connection. A listener thread
 * holds another connection that LISTENs and republishes what other replicas sent into the
 * local hub, which numbers it with its own ids: a client's Last-Event-ID replay on its
 * replica stays gap-free, and events from one origin keep their order (one sender per
 * origin, NOTIFY delivers in commit order).
 *
 * Wire format: the channel is dlb_sse_<16 hex digits of a hash of the scope> (the scope is
 * DB_POSTGRES_SCHEMA: replicas sharing a schema share events, tests on other schemas of the
 * same database do not cross-talk). A message is a JSON meta line
 * {"t": type, "ts": time, "j"/"r"/"n": routing tags, "c": [client ids] (targeted only)},
 * a newline, then the envelope. NOTIFY payloads must stay under 8000 bytes, so a message is
 * cut (at UTF-8 boundaries) into parts of at most EV_RELAY_PART bytes, each prefixed with
 * "<origin> <seq> <part> <nparts>\n", all NOTIFYed in one transaction; the receiver
 * reassembles them. No table is needed. Messages above max_event_bytes are not forwarded
 * (counted). Receivers drop their own origin's messages (echo suppression) and repeated
 * (origin, seq) pairs, and count gaps in an origin's sequence.
 *
 * While PostgreSQL is unreachable, events stay local: the sender keeps at most queue_max
 * messages (then drops new ones, counted) and retries a batch a few times; the listener
 * reconnects with back-off. Events sent while a listener was away are not recovered. */
#ifndef DLB_EVENTS_RELAY_H
#define DLB_EVENTS_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "events/events.h"

struct json_t;

#define EV_RELAY_PART 7800 /* payload bytes per NOTIFY, header included (limit: 8000) */

typedef struct {
    const char *host, *port, *dbname, *user, *password, *sslmode;
    const char *scope;      /* channel scope (DB_POSTGRES_SCHEMA) */
    size_t max_event_bytes; /* 0: 1 MiB */
    size_t queue_max;       /* messages waiting to be sent; 0: 10,000 */
} ev_relay_conf;

typedef struct ev_relay ev_relay;

/* Creates the relay without connecting or starting anything (tests use it as is). */
ev_relay *ev_relay_create(ev_hub *h, const ev_relay_conf *c);
/* Installs the hub's forward hook and starts both threads (they connect, and reconnect, on
 * their own). 0 on success. */
int ev_relay_run(ev_relay *r);
/* Removes the hook, stops the threads, frees. Before ev_hub_free. NULL is fine. */
void ev_relay_stop(ev_relay *r);
/* {"channel", "instance", "listening", "sent", "received", "echo_ignored", "duplicates",
 *  "gaps", "dropped_queue_full", "dropped_too_large", "dropped_send_failed",
 *  "send_failures", "reconnects",
 *  "backlog"} */
struct json_t *ev_relay_stats(ev_relay *r);
const char *ev_relay_channel(const ev_relay *r);

/* For tests: the hub's forward hook with r as context, the NOTIFY payloads of what is
 * queued (removing it; *out malloc'd, each payload malloc'd), and the handling of one
 * received payload. */
void ev_relay_forward(void *r, int type, const char *env, size_t len, double ts,
                      const ev_tags *tags, const char *const *targets, size_t ntargets);
size_t ev_relay_take_payloads(ev_relay *r, char ***out);
void ev_relay_deliver(ev_relay *r, const char *payload);

#endif
