/* Management views of the hub. The figures are copied under the lock and turned into JSON
 * after it, so that listing 10,000 clients does not hold up publication for long. */
#include "hub_internal.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char id[37];
    char ip[64];
    unsigned types;
    size_t queue_size, queue_bytes;
    uint64_t consumed, events_queued;
    double connected_at, last_ping_at, last_pong_at, zombie_at, last_consumed;
    int ping_count, missed_pings, queue_full_count, write_errors, zombie_reason;
} snap_t;

static snap_t *snapshot_locked(ev_hub *h, size_t *n, int zombies_only)
{
    snap_t *s = malloc((h->nclients ? h->nclients : 1) * sizeof(*s));
    *n = 0;
    if (!s) return NULL;
    for (ev_client *c = h->clients; c; c = c->next) {
        if (zombies_only && c->zombie_reason < 0) continue;
        snap_t *x = &s[(*n)++];
        memcpy(x->id, c->id, sizeof(x->id));
        memcpy(x->ip, c->ip, sizeof(x->ip));
        x->types = c->types;
        x->connected_at = c->connected_at;
        x->last_ping_at = c->ping_count ? c->last_ping_at : 0;
        x->last_pong_at = c->last_pong_at;
        x->zombie_at = c->zombie_at;
        x->ping_count = c->ping_count;
        x->missed_pings = c->missed_pings;
        x->write_errors = c->write_errors;
        x->zombie_reason = c->zombie_reason;
        x->events_queued = c->events_queued;
        pthread_mutex_lock(&c->lock);
        x->queue_size = c->q.count;
        x->queue_bytes = c->q.bytes;
        x->consumed = c->consumed;
        x->last_consumed = c->last_consumed;
        x->queue_full_count = c->queue_full_count;
        pthread_mutex_unlock(&c->lock);
    }
    return s;
}

static json_t *time_or_null(double t, double offset)
{
    return t > 0 ? json_real(t + offset) : json_null();
}

static json_t *reasons_json(const uint64_t *counts, const char *const *names, int n)
{
    json_t *o = json_object();
    for (int i = 0; i < n; i++)
        if (counts[i]) json_object_set_new(o, names[i], json_integer((json_int_t)counts[i]));
    return o;
}

static json_t *client_json(const snap_t *x, double now, double off)
{
    json_t *subs = json_array();
    for (int t = 0; t < EV_NTYPES; t++)
        if (x->types & EV_MASK(t)) json_array_append_new(subs, json_string(ev_type_name(t)));
    json_t *o = json_object();
    json_object_set_new(o, "client_id", json_string(x->id));
    json_object_set_new(o, "client_ip", json_string(x->ip));
    json_object_set_new(o, "subscriptions", subs);
    json_object_set_new(o, "queue_size", json_integer((json_int_t)x->queue_size));
    json_object_set_new(o, "queue_bytes", json_integer((json_int_t)x->queue_bytes));
    json_object_set_new(o, "connected_duration", json_real(now - x->connected_at));
    json_object_set_new(o, "last_ping", time_or_null(x->last_ping_at, off));
    json_object_set_new(o, "last_pong", time_or_null(x->last_pong_at, off));
    json_object_set_new(o, "ping_count", json_integer(x->ping_count));
    json_object_set_new(o, "missed_pings", json_integer(x->missed_pings));
    json_object_set_new(o, "queue_full_count", json_integer(x->queue_full_count));
    json_object_set_new(o, "write_errors", json_integer(x->write_errors));
    json_object_set_new(o, "events_queued", json_integer((json_int_t)x->events_queued));
    json_object_set_new(o, "bytes_sent", json_integer((json_int_t)x->consumed));
    json_object_set_new(o, "last_write", time_or_null(x->last_consumed, off));
    json_object_set_new(o, "is_zombie", json_boolean(x->zombie_reason >= 0));
    json_object_set_new(o, "zombie_reason",
                        x->zombie_reason >= 0 ? json_string(ev_zombie_reasons[x->zombie_reason])
                                              : json_null());
    json_object_set_new(o, "zombie_detected_at",
                        x->zombie_reason >= 0 ? json_real(x->zombie_at + off) : json_null());
    json_object_set_new(o, "connection_healthy", json_boolean(x->write_errors == 0));
    return o;
}

json_t *ev_hub_stats(ev_hub *h, int with_clients)
{
    pthread_mutex_lock(&h->lock);
    size_t n = 0;
    snap_t *s = snapshot_locked(h, &n, 0);
    double now = ev_now(), off = h->wall_offset;
    size_t hist = h->hist_count;
    uint64_t last_id = h->last_id, published = h->published, delivered = h->delivered,
             connects = h->connects, zombie_total = h->zombie_total;
    uint64_t wake_batches = h->wake_batches, wakes = h->wakes, ndirect = h->ndirect;
    uint64_t dropped[EV_NDROPREASONS], zr[EV_NZREASONS];
    memcpy(dropped, h->dropped, sizeof(dropped));
    memcpy(zr, h->zombie_reasons, sizeof(zr));
    double last_cleanup = h->last_cleanup;
    uint64_t oldest = hist ? h->history[h->hist_head]->id : 0;
    pthread_mutex_unlock(&h->lock);

    size_t zombies = 0, healthy = 0;
    json_t *clients = json_array();
    for (size_t i = 0; i < n; i++) {
        if (s[i].zombie_reason >= 0) zombies++;
        if (s[i].write_errors == 0 && s[i].zombie_reason < 0) healthy++;
        if (with_clients) json_array_append_new(clients, client_json(&s[i], now, off));
    }
    free(s);
    json_t *zd = json_object();
    json_object_set_new(zd, "total_detected", json_integer((json_int_t)zombie_total));
    json_object_set_new(zd, "detection_reasons", reasons_json(zr, ev_zombie_reasons, EV_NZREASONS));
    json_object_set_new(zd, "last_cleanup",
                        last_cleanup > 0 ? json_real(last_cleanup) : json_null());
    json_t *o = json_object();
    json_object_set_new(o, "connected_clients", json_integer((json_int_t)n));
    json_object_set_new(o, "healthy_clients", json_integer((json_int_t)healthy));
    json_object_set_new(o, "zombie_clients", json_integer((json_int_t)zombies));
    json_object_set_new(o, "event_history_size", json_integer((json_int_t)hist));
    json_object_set_new(o, "history_capacity", json_integer((json_int_t)h->opt.history_size));
    json_object_set_new(o, "oldest_event_id",
                        oldest ? json_integer((json_int_t)oldest) : json_null());
    json_object_set_new(o, "last_event_id", json_integer((json_int_t)last_id));
    json_object_set_new(o, "events_published", json_integer((json_int_t)published));
    json_object_set_new(o, "events_queued", json_integer((json_int_t)delivered));
    json_object_set_new(o, "connections_total", json_integer((json_int_t)connects));
    /* Wakes handled by the fan-out threads (a send or a resume each), and their rounds. */
    json_object_set_new(o, "wakes", json_integer((json_int_t)wakes));
    json_object_set_new(o, "wake_batches", json_integer((json_int_t)wake_batches));
    /* Streams written by the fan-out thread itself (events/direct.c): how many now, its
     * sends, the sends the socket could not take whole, the streams handed back to end. */
    json_t *dw = json_object();
    json_object_set_new(dw, "streams", json_integer((json_int_t)ndirect));
    json_object_set_new(dw, "sends", json_integer((json_int_t)atomic_load(&h->direct_sends)));
    json_object_set_new(dw, "blocked", json_integer((json_int_t)atomic_load(&h->direct_blocked)));
    json_object_set_new(dw, "handbacks",
                        json_integer((json_int_t)atomic_load(&h->direct_handbacks)));
    json_object_set_new(o, "direct_writes", dw);
    json_object_set_new(o, "disconnect_reasons",
                        reasons_json(dropped, ev_drop_reasons, EV_NDROPREASONS));
    json_object_set_new(o, "zombie_detection", zd);
    json_t *lim = json_object();
    json_object_set_new(lim, "max_clients", json_integer(h->opt.max_clients));
    json_object_set_new(lim, "max_clients_per_ip", json_integer(h->opt.max_clients_per_ip));
    json_object_set_new(lim, "queue_events", json_integer((json_int_t)h->opt.queue_events));
    json_object_set_new(lim, "queue_bytes", json_integer((json_int_t)h->opt.queue_bytes));
    json_object_set_new(o, "limits", lim);
    if (with_clients)
        json_object_set_new(o, "clients", clients);
    else
        json_decref(clients);
    return o;
}

json_t *ev_hub_zombies(ev_hub *h)
{
    pthread_mutex_lock(&h->lock);
    size_t n = 0;
    snap_t *s = snapshot_locked(h, &n, 1);
    double now = ev_now(), off = h->wall_offset, last_cleanup = h->last_cleanup;
    uint64_t total = h->zombie_total, zr[EV_NZREASONS];
    memcpy(zr, h->zombie_reasons, sizeof(zr));
    pthread_mutex_unlock(&h->lock);
    json_t *details = json_array();
    for (size_t i = 0; i < n; i++) {
        const snap_t *x = &s[i];
        json_t *d = json_object();
        json_object_set_new(d, "client_id", json_string(x->id));
        json_object_set_new(d, "reason", json_string(ev_zombie_reasons[x->zombie_reason]));
        json_object_set_new(d, "zombie_detected_at", json_real(x->zombie_at + off));
        json_object_set_new(d, "zombie_duration", json_real(now - x->zombie_at));
        json_object_set_new(d, "missed_pings", json_integer(x->missed_pings));
        json_object_set_new(d, "queue_full_count", json_integer(x->queue_full_count));
        json_object_set_new(d, "write_errors", json_integer(x->write_errors));
        json_object_set_new(d, "connection_healthy", json_boolean(x->write_errors == 0));
        json_array_append_new(details, d);
    }
    free(s);
    json_t *o = json_object();
    json_object_set_new(o, "current_zombies", json_integer((json_int_t)n));
    json_object_set_new(o, "total_detected", json_integer((json_int_t)total));
    json_object_set_new(o, "detection_reasons", reasons_json(zr, ev_zombie_reasons, EV_NZREASONS));
    json_object_set_new(o, "last_cleanup",
                        last_cleanup > 0 ? json_real(last_cleanup) : json_null());
    json_object_set_new(o, "zombie_details", details);
    return o;
}

json_t *ev_hub_cleanup(ev_hub *h)
{
    pthread_mutex_lock(&h->lock);
    size_t before = 0, removed = 0;
    for (ev_client *c = h->clients, *next; c; c = next) {
        next = c->next;
        if (c->zombie_reason < 0) continue;
        before++;
        ev_drop_locked(h, c, DROP_ZOMBIE, END_ABORT);
        removed++;
    }
    h->last_cleanup = ev_now() + h->wall_offset;
    pthread_mutex_unlock(&h->lock);
    return json_pack("{s:s, s:I, s:I}", "message", "Zombie cleanup completed", "zombies_before",
                     (json_int_t)before, "zombies_removed", (json_int_t)removed);
}
