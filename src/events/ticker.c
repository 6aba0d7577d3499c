/* The hub's background thread: heartbeats to idle clients, pings, a poll of parked
 * sockets for hang-ups, and the zombie rules. One pass over the clients per tick. */
#include "hub_internal.h"

#include "util/ids.h"

#include <jansson.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static ev_frame *event_frame(ev_hub *h, int type, json_t *data)
{
    double ts = ev_now() + h->wall_offset;
    json_object_set_new(data, "timestamp", json_real(ts));
    char *dj = json_dumps(data, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(data);
    if (!dj) return NULL;
    size_t len;
    char *env = ev_envelope(ts, dj, &len);
    free(dj);
    ev_frame *f = env ? ev_frame_event(0, type, ev_type_name(type), env, len, ts, NULL) : NULL;
    free(env);
    return f;
}

static void send_ping(ev_hub *h, ev_client *c, double now)
{
    if (c->ping_outstanding) c->missed_pings++;
    ids_uuid4(c->ping_id);
    json_t *d = json_object();
    json_object_set_new(d, "ping_id", json_string(c->ping_id));
    json_object_set_new(d, "client_id", json_string(c->id));
    json_object_set_new(d, "expected_pong", json_true());
    ev_frame *f = event_frame(h, EV_PING, d);
    c->ping_count++;
    c->ping_outstanding = 1;
    c->last_ping_at = now;
    if (!c->first_ping_at) c->first_ping_at = now;
    if (f && ev_push_locked(h, c, f, 0)) ev_drop_locked(h, c, DROP_QUEUE_OVERFLOW, END_ABORT);
}

/* Parked streams are not watched by the HTTP server, so a client that hangs up would go
 * unnoticed until the next event: poll their sockets (without waiting) for it. */
static void probe_hangups(ev_hub *h)
{
    if (h->probe_cap < h->nclients) {
        size_t cap = h->nclients * 2;
        struct pollfd *p = realloc(h->probe, cap * sizeof(*p));
        if (p) h->probe = p;
        ev_client **pc = realloc(h->probe_clients, cap * sizeof(*pc));
        if (pc) h->probe_clients = pc;
        if (!p || !pc) return;
        h->probe_cap = cap;
    }
    size_t n = 0;
    for (ev_client *c = h->clients; c; c = c->next) {
        if (c->sink.fd < 0) continue;
        h->probe[n] = (struct pollfd){.fd = c->sink.fd, .events = POLLRDHUP};
        h->probe_clients[n++] = c;
    }
    if (!n || poll(h->probe, n, 0) <= 0) return;
    for (size_t i = 0; i < n; i++)
        if (h->probe[i].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))
            ev_drop_locked(h, h->probe_clients[i], DROP_CLIENT_CLOSED, END_ABORT);
}

static void check_zombie(ev_hub *h, ev_client *c, double now)
{
    pthread_mutex_lock(&c->lock);
    uint64_t consumed = c->consumed;
    int pending = c->q.bytes > 0;
    int high = c->q.count * 2 >= h->opt.queue_events || c->q.bytes * 2 >= h->opt.queue_bytes;
    int qfull = c->queue_full_count;
    pthread_mutex_unlock(&c->lock);
    int progress = consumed != c->consumed_at_check;
    c->consumed_at_check = consumed;
    /* A stalled write: bytes waited through a whole check interval and the socket took
     * none of them (bytes queued just before this check are not evidence yet). */
    if (pending && c->pending_at_check && !progress)
        c->write_errors++;
    else
        c->write_errors = 0;
    c->pending_at_check = pending;
    if (progress || !pending) c->last_activity = now;
    ev_zombie_input in = {
        .now = now,
        .first_ping_at = c->first_ping_at,
        .last_pong_at = c->last_pong_at,
        .last_activity = c->last_activity,
        .write_errors = c->write_errors,
        .missed_pings = c->missed_pings,
        .queue_full_count = qfull,
        .queue_high = high,
    };
    const char *why = ev_zombie_reason(&in, &h->opt.rules);
    if (!why) {
        c->zombie_reason = -1; /* recovered */
        return;
    }
    int reason = 0;
    while (reason < EV_NZREASONS - 1 && strcmp(why, ev_zombie_reasons[reason]) != 0)
        reason++;
    if (c->zombie_reason < 0) { /* counted once, at detection */
        c->zombie_at = now;
        h->zombie_total++;
        h->zombie_reasons[reason]++;
    }
    c->zombie_reason = reason; /* the listing shows what holds now */
    if (now - c->zombie_at >= h->opt.zombie_grace) {
        ev_drop_locked(h, c, DROP_ZOMBIE, END_ABORT);
        h->last_cleanup = now + h->wall_offset;
    }
}

static double tick_of(const ev_options *o)
{
    double t = 1.0;
    if (o->heartbeat_interval > 0 && o->heartbeat_interval / 2 < t) t = o->heartbeat_interval / 2;
    if (o->ping_interval > 0 && o->ping_interval / 2 < t) t = o->ping_interval / 2;
    if (o->check_interval / 2 < t) t = o->check_interval / 2;
    return t < 0.02 ? 0.02 : t;
}

void *ev_ticker_main(void *arg)
{
    ev_hub *h = arg;
    double tick = tick_of(&h->opt), next_check = ev_now() + h->opt.check_interval;
    pthread_mutex_lock(&h->lock);
    while (!h->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        long ns = ts.tv_nsec + (long)(tick * 1e9);
        ts.tv_sec += ns / 1000000000L;
        ts.tv_nsec = ns % 1000000000L;
        pthread_cond_timedwait(&h->cond, &h->lock, &ts);
        if (h->stop) break;
        double now = ev_now();
        ev_frame *hb = NULL;
        int check = now >= next_check;
        if (check) next_check = now + h->opt.check_interval;
        for (ev_client *c = h->clients, *next; c; c = next) {
            next = c->next;
            if (h->opt.heartbeat_interval > 0 &&
                now - c->last_enqueue_at >= h->opt.heartbeat_interval) {
                if (!hb) /* built once per tick, shared by every idle client */
                    hb = event_frame(h, EV_HEARTBEAT,
                                     json_pack("{s:I}", "clients", (json_int_t)h->nclients));
                if (hb && ev_push_locked(h, c, ev_frame_ref(hb), 0)) {
                    ev_drop_locked(h, c, DROP_QUEUE_OVERFLOW, END_ABORT);
                    continue;
                }
            }
            if (c->linked && h->opt.ping_interval > 0 &&
                now - c->last_ping_at >= h->opt.ping_interval)
                send_ping(h, c, now);
            if (c->linked && check) check_zombie(h, c, now);
        }
        ev_frame_unref(hb);
        probe_hangups(h);
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}
