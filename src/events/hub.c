/* The hub: registration, publication, history and replay. */
#include "hub_internal.h"

#include "util/clock.h"
#include "util/ids.h"
#include "util/strlist.h"

#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

static const char *const type_names[EV_NTYPES] = {
    "lineage_event", "job_status", "queue_status", "system_metric", "error", "heartbeat", "ping",
};

const char *const ev_zombie_reasons[EV_NZREASONS] = {
    "write_errors", "missed_pings", "queue_consistently_full", "timeout", "no_pong_response",
};

const char *const ev_drop_reasons[EV_NDROPREASONS] = {
    "client_closed", "queue_overflow", "deleted", "zombie", "shutdown", "out_of_memory",
};

const char *ev_type_name(int type)
{
    return type >= 0 && type < EV_NTYPES ? type_names[type] : "message";
}

int ev_type_parse(const char *name)
{
    for (int i = 0; i < EV_NTYPES; i++)
        if (strcmp(name, type_names[i]) == 0) return i;
    return -1;
}

double ev_now(void)
{
    return (double)clock_mono_ns() / 1e9;
}

static unsigned hash_str(const char *s)
{
    unsigned h = 2166136261u; /* FNV-1a */
    while (*s)
        h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

/* ---- lifecycle ---------------------------------------------------------------------- */

ev_hub *ev_hub_create(const ev_options *opt)
{
    ev_hub *h = calloc(1, sizeof(*h));
    if (!h) return NULL;
    h->opt = *opt;
    if (h->opt.history_size < 1) h->opt.history_size = 1;
    h->history = calloc(h->opt.history_size, sizeof(*h->history));
    char hello[96];
    int n =
        snprintf(hello, sizeof(hello), "retry: %d\n: ducklake-backend events\n\n", opt->retry_ms);
    h->hello = ev_frame_raw(hello, (size_t)n);
    if (!h->history || !h->hello) {
        free(h->history);
        ev_frame_unref(h->hello);
        free(h);
        return NULL;
    }
    pthread_mutex_init(&h->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->cond, &ca);
    pthread_condattr_destroy(&ca);
    for (int i = 0; i < EV_MAX_FANOUT; i++) {
        h->fo[i].hub = h;
        h->fo[i].wake_tail = &h->fo[i].wake_head;
        h->fo[i].epfd = h->fo[i].evfd = -1;
    }
    h->wall_offset = clock_wall() - ev_now();
    /* Ids start at the start time in microseconds: a restarted server never hands out an id
     * an old client still holds, so such a client gets a reset instead of a wrong replay. */
    h->last_id = (uint64_t)(clock_wall() * 1e6);
    h->evicted_upto = h->last_id;
    unsigned char r[8];
    ids_random(r, sizeof(r));
    for (int i = 0; i < 8; i++)
        snprintf(h->instance + 2 * i, 3, "%02x", r[i]);
    return h;
}

void ev_wake_locked(ev_hub *h, ev_client *c)
{
    if (!h->waker_started) {
        c->sink.wake(c->sink.arg); /* c is linked, so its connection is alive */
        return;
    }
    if (c->wake_pending) return;
    c->wake_pending = 1;
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    c->wnext = NULL;
    ev_fanout *fo = &h->fo[c->shard];
    int was_idle = !fo->wake_head;
    *fo->wake_tail = c;
    fo->wake_tail = &c->wnext;
    if (was_idle) {
        uint64_t one = 1;
        if (write(fo->evfd, &one, sizeof(one)) < 0) {
            /* The counter cannot overflow here; nothing else can fail on an eventfd. */
        }
    }
}

/* Takes the waker's list into an array (the clients' links may be reused at once). */
size_t ev_take_wakes_locked(ev_fanout *h, ev_client ***batch, size_t *cap)
{
    size_t n = 0;
    for (ev_client *c = h->wake_head, *next; c; c = next) {
        next = c->wnext;
        if (n == *cap) {
            size_t nc = *cap ? *cap * 2 : 1024;
            ev_client **b = realloc(*batch, nc * sizeof(*b));
            if (!b) break; /* the rest waits for the next round */
            *batch = b;
            *cap = nc;
        }
        c->wake_pending = 0;
        c->wnext = NULL;
        (*batch)[n++] = c;
        h->wake_head = next;
    }
    if (!h->wake_head) h->wake_tail = &h->wake_head;
    return n;
}

int ev_hub_start(ev_hub *h)
{
    /* One fan-out thread per CPU: at 10,000 clients x 100 events/s a single one would need a
     * whole core for its sends. */
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int n = ncpu < 1 ? 1 : ncpu > EV_MAX_FANOUT ? EV_MAX_FANOUT : (int)ncpu;
    for (int i = 0; i < n; i++) {
        ev_fanout *fo = &h->fo[i];
        fo->epfd = epoll_create1(EPOLL_CLOEXEC);
        fo->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (fo->epfd < 0 || fo->evfd < 0) return -1;
        /* The eventfd's events carry no client (data.ptr NULL). */
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
        if (epoll_ctl(fo->epfd, EPOLL_CTL_ADD, fo->evfd, &ev)) return -1;
        if (pthread_create(&fo->thread, NULL, ev_fanout_main, fo)) return -1;
        fo->started = 1;
        /* Clients connected so far stay on thread 0. */
        pthread_mutex_lock(&h->lock);
        h->nfanout = i + 1;
        h->waker_started = 1;
        pthread_mutex_unlock(&h->lock);
    }
    if (pthread_create(&h->thread, NULL, ev_ticker_main, h)) return -1;
    h->thread_started = 1;
    return 0;
}

static void stop_thread(ev_hub *h)
{
    pthread_mutex_lock(&h->lock);
    h->stop = 1;
    h->waker_stop = 1;
    pthread_cond_broadcast(&h->cond);
    for (int i = 0; i < EV_MAX_FANOUT; i++) {
        uint64_t one = 1;
        if (h->fo[i].evfd >= 0 && write(h->fo[i].evfd, &one, sizeof(one)) < 0) {
            /* see ev_wake_locked */
        }
    }
    pthread_mutex_unlock(&h->lock);
    if (h->thread_started) pthread_join(h->thread, NULL);
    h->thread_started = 0;
    for (int i = 0; i < EV_MAX_FANOUT; i++) {
        if (h->fo[i].started) pthread_join(h->fo[i].thread, NULL);
        h->fo[i].started = 0;
    }
    /* Wakes still waiting are delivered here; from now on they are synchronous, and the
     * direct streams go back to the HTTP server (or are cut when mid-chunk). */
    pthread_mutex_lock(&h->lock);
    h->waker_started = 0;
    ev_client **batch = NULL;
    size_t cap = 0;
    for (int k = 0; k < EV_MAX_FANOUT; k++) {
        size_t n = ev_take_wakes_locked(&h->fo[k], &batch, &cap);
        pthread_mutex_unlock(&h->lock);
        for (size_t i = 0; i < n; i++) {
            ev_fanout_client(h, batch[i], 1);
            ev_client_unref(batch[i]);
        }
        pthread_mutex_lock(&h->lock);
    }
    pthread_mutex_unlock(&h->lock);
    free(batch);
    ev_direct_release_all(h);
}

void ev_hub_shutdown(ev_hub *h)
{
    if (!h) return;
    stop_thread(h);
    pthread_mutex_lock(&h->lock);
    h->closed = 1;
    for (ev_client *c = h->clients, *next; c; c = next) {
        next = c->next;
        /* Spread the reconnections: between one and two retry periods. */
        unsigned r = 0;
        ids_random(&r, sizeof(r));
        int retry = h->opt.retry_ms + (int)(r % (unsigned)(h->opt.retry_ms + 1));
        char bye[96];
        int n = snprintf(bye, sizeof(bye), "retry: %d\n: server shutting down\n\n", retry);
        ev_frame *f = ev_frame_raw(bye, (size_t)n);
        if (f) ev_push_locked(h, c, f, 1);
        ev_drop_locked(h, c, DROP_SHUTDOWN, END_DRAIN);
    }
    pthread_mutex_unlock(&h->lock);
}

void ev_hub_free(ev_hub *h)
{
    if (!h) return;
    stop_thread(h);
    /* Clients still registered belong to connections that never finished: release them. */
    while (h->clients)
        ev_client_done(h->clients, 0);
    for (size_t i = 0; i < h->hist_count; i++)
        ev_frame_unref(h->history[(h->hist_head + i) % h->opt.history_size]);
    free(h->history);
    ev_frame_unref(h->hello);
    for (size_t i = 0; i < EV_IP_BUCKETS; i++)
        for (ev_ipcount *e = h->by_ip[i], *n; e; e = n) {
            n = e->next;
            free(e);
        }
    free(h->probe);
    free(h->probe_clients);
    ev_metrics_free(h);
    for (int i = 0; i < EV_MAX_FANOUT; i++) {
        if (h->fo[i].epfd >= 0) close(h->fo[i].epfd);
        if (h->fo[i].evfd >= 0) close(h->fo[i].evfd);
    }
    pthread_cond_destroy(&h->cond);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

/* ---- registry ----------------------------------------------------------------------- */

static ev_ipcount **ip_slot(ev_hub *h, const char *ip)
{
    ev_ipcount **p = &h->by_ip[hash_str(ip) % EV_IP_BUCKETS];
    while (*p && strcmp((*p)->ip, ip) != 0)
        p = &(*p)->next;
    return p;
}

static ev_client *find_locked(ev_hub *h, const char *id)
{
    ev_client *c = h->by_id[hash_str(id) % EV_ID_BUCKETS];
    while (c && strcmp(c->id, id) != 0)
        c = c->hnext;
    return c;
}

static void unlink_locked(ev_hub *h, ev_client *c)
{
    if (!c->linked) return;
    c->linked = 0;
    if (c->prev)
        c->prev->next = c->next;
    else
        h->clients = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
    ev_client **p = &h->by_id[hash_str(c->id) % EV_ID_BUCKETS];
    while (*p != c)
        p = &(*p)->hnext;
    *p = c->hnext;
    ev_ipcount **ip = ip_slot(h, c->ip);
    if (*ip && --(*ip)->count == 0) {
        ev_ipcount *e = *ip;
        *ip = e->next;
        free(e);
    }
    h->nclients--;
}

void ev_drop_locked(ev_hub *h, ev_client *c, int reason, int how)
{
    if (!c->linked) return;
    unlink_locked(h, c);
    h->dropped[reason]++;
    pthread_mutex_lock(&c->lock);
    c->closing = 1;
    if (c->direct) {
        /* The fan-out thread owns the socket: it ends the stream at a chunk boundary (or
         * cuts it) and hands the connection back. */
        if (how == END_ABORT) c->aborting = 1;
        if (how == END_NOW) c->end_now = 1;
        pthread_mutex_unlock(&c->lock);
        ev_wake_locked(h, c);
        return;
    }
    if (how != END_DRAIN) ev_queue_clear(&c->q);
    if (how == END_ABORT) c->aborting = 1;
    pthread_mutex_unlock(&c->lock);
    if (how == END_ABORT)
        c->sink.abort(c->sink.arg);
    else
        c->sink.wake(c->sink.arg);
}

int ev_push_locked(ev_hub *h, ev_client *c, ev_frame *f, int replay)
{
    pthread_mutex_lock(&c->lock);
    if (c->closing) {
        pthread_mutex_unlock(&c->lock);
        ev_frame_unref(f);
        return 0;
    }
    if (!replay &&
        (c->q.count + 1 > h->opt.queue_events || c->q.bytes + f->len > h->opt.queue_bytes)) {
        pthread_mutex_unlock(&c->lock);
        ev_frame_unref(f);
        return -1;
    }
    int was_empty = c->q.count == 0;
    if (ev_queue_push(&c->q, f)) {
        pthread_mutex_unlock(&c->lock);
        return -1;
    }
    if (!replay && (c->q.count * 2 >= h->opt.queue_events || c->q.bytes * 2 >= h->opt.queue_bytes))
        c->queue_full_count++;
    pthread_mutex_unlock(&c->lock);
    c->events_queued++;
    c->last_enqueue_at = ev_now();
    h->delivered++;
    /* A reader with bytes left is either reading or already woken: only the transition
     * from empty needs a wake (which may cost a system call to resume the connection); the
     * waker thread does it, outside this lock. */
    if (was_empty) ev_wake_locked(h, c);
    return 0;
}

/* Most clients filter on nothing: the pointer arrays exist only for the lists given.
 * -1 when out of memory (the client must not silently receive everything). */
static int parse_filter(ev_client *c, int k, const char *list)
{
    if (!list || !*list) return 0;
    c->filters[k] = malloc(EV_MAX_FILTER * sizeof(*c->filters[k]));
    if (!c->filters[k]) return -1;
    c->nfilters[k] = strlist_split(list, &c->filter_store[k], c->filters[k], EV_MAX_FILTER);
    return 0;
}

static int in_list(ev_client *c, int k, const char *v)
{
    if (!c->nfilters[k]) return 1;
    if (!v) return 0;
    for (int i = 0; i < c->nfilters[k]; i++)
        if (strcmp(c->filters[k][i], v) == 0) return 1;
    return 0;
}

static int matches(ev_client *c, const ev_frame *f)
{
    return (c->types & EV_MASK(f->type)) && in_list(c, 0, f->job) && in_list(c, 1, f->run) &&
           in_list(c, 2, f->ns);
}

static void client_free(ev_client *c)
{
    /* Unlinked everywhere: nobody else can reach c. */
    ev_queue_free(&c->q);
    for (int k = 0; k < 3; k++) {
        free(c->filter_store[k]);
        free(c->filters[k]);
    }
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* A private, unnumbered event for one client (connected, ping). */
static ev_frame *private_frame(ev_hub *h, int type, const char *name, json_t *data)
{
    double ts = ev_now() + h->wall_offset;
    char *dj = json_dumps(data, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(data);
    if (!dj) return NULL;
    size_t len;
    char *env = ev_envelope(ts, dj, &len);
    free(dj);
    if (!env) return NULL;
    ev_frame *f = ev_frame_event(0, type, name, env, len, ts, NULL);
    free(env);
    return f;
}

static json_t *subscriptions_json(const ev_client *c)
{
    json_t *a = json_array();
    for (int t = 0; t < EV_NTYPES; t++)
        if (c->types & EV_MASK(t)) json_array_append_new(a, json_string(type_names[t]));
    return a;
}

static json_t *filters_json(const ev_client *c)
{
    static const char *const names[3] = {"job", "run_id", "namespace"};
    json_t *o = json_object();
    for (int k = 0; k < 3; k++) {
        if (!c->nfilters[k]) continue;
        json_t *a = json_array();
        for (int i = 0; i < c->nfilters[k]; i++)
            json_array_append_new(a, json_string(c->filters[k][i]));
        json_object_set_new(o, names[k], a);
    }
    return o;
}

/* Parses a Last-Event-ID: 1 with *id, 0 when it is not a decimal id. */
static int parse_id(const char *s, uint64_t *id)
{
    if (!*s || strlen(s) > 20) return 0;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') return 0;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *id = v;
    return 1;
}

/* Queues the replay after last, or a reset event when history cannot give all of it. */
static int replay_locked(ev_hub *h, ev_client *c, const char *last)
{
    uint64_t after = 0;
    const char *why = NULL;
    if (!parse_id(last, &after))
        why = "invalid_id";
    else if (after > h->last_id)
        why = "unknown_id";
    else if (after < h->evicted_upto)
        why = "history_exhausted";
    if (why) {
        uint64_t oldest = h->hist_count ? h->history[h->hist_head]->id : 0;
        json_t *d = json_object();
        json_object_set_new(d, "reason", json_string(why));
        json_object_set_new(d, "requested", json_string(last));
        json_object_set_new(d, "oldest_available",
                            oldest ? json_integer((json_int_t)oldest) : json_null());
        json_object_set_new(d, "last_event_id", json_integer((json_int_t)h->last_id));
        char *dj = json_dumps(d, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(d);
        double ts = ev_now() + h->wall_offset;
        size_t len;
        char *env = dj ? ev_envelope(ts, dj, &len) : NULL;
        free(dj);
        /* Numbered with the newest id, so the client's cursor moves past the gap. */
        ev_frame *f = env ? ev_frame_event(h->last_id, -1, "reset", env, len, ts, NULL) : NULL;
        free(env);
        return f ? ev_push_locked(h, c, f, 1) : -1;
    }
    size_t n = h->hist_count, i = n;
    while (i > 0 && h->history[(h->hist_head + i - 1) % h->opt.history_size]->id > after)
        i--;
    for (; i < n; i++) {
        ev_frame *f = h->history[(h->hist_head + i) % h->opt.history_size];
        if (matches(c, f) && ev_push_locked(h, c, ev_frame_ref(f), 1)) return -1;
    }
    return 0;
}

int ev_hub_connect(ev_hub *h, const ev_subscription *sub, const ev_sink *sink, ev_client **out)
{
    ev_client *c = calloc(1, sizeof(*c));
    if (!c) return EV_NOMEM;
    atomic_init(&c->refs, 1);
    c->hub = h;
    c->sink = *sink;
    c->types = (sub->types ? sub->types : EV_ALL) | EV_MASK(EV_HEARTBEAT) | EV_MASK(EV_PING);
    c->zombie_reason = -1;
    snprintf(c->ip, sizeof(c->ip), "%s", sub->ip ? sub->ip : "");
    ids_uuid4(c->id);
    pthread_mutex_init(&c->lock, NULL);
    ev_queue_init(&c->q);
    if (parse_filter(c, 0, sub->jobs) || parse_filter(c, 1, sub->runs) ||
        parse_filter(c, 2, sub->namespaces)) {
        client_free(c);
        return EV_NOMEM;
    }

    json_t *d = json_object();
    json_object_set_new(d, "client_id", json_string(c->id));
    json_object_set_new(d, "subscriptions", subscriptions_json(c));
    json_object_set_new(d, "filters", filters_json(c));
    json_object_set_new(d, "retry_ms", json_integer(h->opt.retry_ms));
    json_object_set_new(d, "ping_interval", json_real(h->opt.ping_interval));
    json_object_set_new(d, "pong_url", json_string("/events/pong"));
    ev_frame *hello_evt = private_frame(h, -1, "connected", d);
    if (!hello_evt) {
        client_free(c);
        return EV_NOMEM;
    }

    pthread_mutex_lock(&h->lock);
    int rc = EV_OK;
    ev_ipcount **ip = ip_slot(h, c->ip);
    if (h->closed)
        rc = EV_CLOSED;
    else if (h->nclients >= (size_t)h->opt.max_clients)
        rc = EV_LIMIT_TOTAL;
    else if (h->opt.max_clients_per_ip > 0 && *ip && (*ip)->count >= h->opt.max_clients_per_ip)
        rc = EV_LIMIT_IP;
    else if (!*ip && !(*ip = calloc(1, sizeof(**ip))))
        rc = EV_NOMEM;
    if (rc != EV_OK) {
        pthread_mutex_unlock(&h->lock);
        ev_frame_unref(hello_evt);
        client_free(c);
        return rc;
    }
    snprintf((*ip)->ip, sizeof((*ip)->ip), "%s", c->ip);
    (*ip)->count++;
    c->linked = 1;
    c->next = h->clients;
    if (h->clients) h->clients->prev = c;
    h->clients = c;
    unsigned b = hash_str(c->id) % EV_ID_BUCKETS;
    c->hnext = h->by_id[b];
    h->by_id[b] = c;
    h->nclients++;
    h->connects++;
    c->shard = h->nfanout > 1 ? (int)(h->connects % (uint64_t)h->nfanout) : 0;
    double now = ev_now();
    c->connected_at = c->last_ping_at = c->last_activity = c->last_consumed = now;
    /* All under the hub lock: a publication lands either in the replay or after it. */
    int bad = ev_push_locked(h, c, ev_frame_ref(h->hello), 1) ||
              ev_push_locked(h, c, hello_evt, 1) ||
              (sub->last_event_id && replay_locked(h, c, sub->last_event_id));
    if (bad) ev_drop_locked(h, c, DROP_OUT_OF_MEMORY, END_NOW);
    pthread_mutex_unlock(&h->lock);
    *out = c;
    return EV_OK;
}

const char *ev_client_id(const ev_client *c)
{
    return c->id;
}

long ev_client_read(ev_client *c, char *out, size_t max)
{
    pthread_mutex_lock(&c->lock);
    if (c->aborting) {
        pthread_mutex_unlock(&c->lock);
        return -2;
    }
    if (c->direct) { /* the fan-out thread writes; the connection only waits */
        pthread_mutex_unlock(&c->lock);
        return -3;
    }
    double ts = 0;
    size_t n = ev_queue_read_ts(&c->q, out, max, &ts);
    if (n) {
        c->consumed += n;
        c->last_consumed = ev_now();
        if (!c->q.count) c->queue_full_count = 0;
    }
    int end = !n && c->closing;
    pthread_mutex_unlock(&c->lock);
    if (ts > 0) ev_metrics_latency(c->hub, ts);
    return end ? -1 : (long)n;
}

void ev_client_done(ev_client *c, int ok)
{
    ev_hub *h = c->hub;
    (void)ok;
    pthread_mutex_lock(&h->lock);
    if (c->linked) {
        unlink_locked(h, c);
        h->dropped[DROP_CLIENT_CLOSED]++;
    }
    pthread_mutex_unlock(&h->lock);
    /* The waker may still hold c: it checks this flag under the same lock before waking. */
    pthread_mutex_lock(&c->lock);
    c->finished = 1;
    pthread_mutex_unlock(&c->lock);
    ev_client_unref(c);
}

void ev_client_unref(ev_client *c)
{
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1) client_free(c);
}

/* ---- publication -------------------------------------------------------------------- */

static const char *str_at(json_t *o, const char *k1, const char *k2)
{
    json_t *v = json_object_get(o, k1);
    if (k2) v = json_object_get(v, k2);
    return json_string_value(v);
}

static void derive_tags(json_t *d, ev_tags *t)
{
    t->job = str_at(d, "job_name", NULL);
    if (!t->job) t->job = str_at(d, "job", NULL);
    if (!t->job) t->job = str_at(d, "job", "name");
    t->run = str_at(d, "run_id", NULL);
    if (!t->run) t->run = str_at(d, "run", "runId");
    t->ns = str_at(d, "namespace", NULL);
    if (!t->ns) t->ns = str_at(d, "metadata", "namespace");
    if (!t->ns) t->ns = str_at(d, "job", "namespace");
    if (!t->ns) t->ns = str_at(d, "job_namespace", NULL);
}

/* Serialises data into its envelope; the id is added under the lock. */
static char *envelope_of(ev_hub *h, const json_t *data, double *ts, size_t *len)
{
    *ts = ev_now() + h->wall_offset;
    char *dj = data ? json_dumps(data, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY)
                    : strdup("{}");
    if (!dj) return NULL;
    char *env = ev_envelope(*ts, dj, len);
    free(dj);
    return env;
}

enum { PUB_FORWARD = 1, PUB_SAMPLE = 2 };

/* Numbers (unless a sample), keeps in history (broadcasts only) and queues env for the
 * matching clients, or for the named ones when ids is not NULL. Returns the id (1 for a
 * sample), 0 when out of memory. */
static uint64_t publish_env(ev_hub *h, int type, const char *env, size_t len, double ts,
                            const ev_tags *t, const char *const *ids, size_t nids, int flags,
                            size_t *delivered)
{
    int sample = flags & PUB_SAMPLE;
    pthread_mutex_lock(&h->lock);
    uint64_t id = sample ? 0 : ++h->last_id;
    ev_frame *f = ev_frame_event(id, type, ev_type_name(type), env, len, ts, ids ? NULL : t);
    if (!f) {
        /* The id is burnt; record it as evicted so that replay across it says reset. */
        if (!sample && !ids) h->evicted_upto = id;
        pthread_mutex_unlock(&h->lock);
        return 0;
    }
    if (!sample && !ids) {
        size_t cap = h->opt.history_size;
        if (h->hist_count == cap) {
            ev_frame *old = h->history[h->hist_head];
            h->evicted_upto = old->id;
            ev_frame_unref(old);
            h->hist_head = (h->hist_head + 1) % cap;
            h->hist_count--;
        }
        h->history[(h->hist_head + h->hist_count) % cap] = ev_frame_ref(f);
        h->hist_count++;
    }
    if (sample)
        h->samples++;
    else
        h->published++;
    h->published_by_type[type]++;
    /* Under the lock, so that the other replicas receive this replica's events in id order. */
    if ((flags & PUB_FORWARD) && h->forward)
        h->forward(h->forward_ctx, type, env, len, ts, ids ? NULL : t, ids, nids);
    if (ids) {
        for (size_t i = 0; i < nids; i++) {
            ev_client *c = find_locked(h, ids[i]);
            if (!c) continue;
            if (ev_push_locked(h, c, ev_frame_ref(f), 0))
                ev_drop_locked(h, c, DROP_QUEUE_OVERFLOW, END_ABORT);
            else if (delivered)
                (*delivered)++;
        }
    } else {
        for (ev_client *c = h->clients, *next; c; c = next) {
            next = c->next;
            if (matches(c, f) && ev_push_locked(h, c, ev_frame_ref(f), 0))
                ev_drop_locked(h, c, DROP_QUEUE_OVERFLOW, END_ABORT);
        }
    }
    pthread_mutex_unlock(&h->lock);
    ev_frame_unref(f);
    return sample ? 1 : id;
}

uint64_t ev_publish(ev_hub *h, int type, json_t *data, const ev_tags *tags)
{
    ev_tags t = {0};
    if (tags)
        t = *tags;
    else if (json_is_object(data))
        derive_tags(data, &t);
    double ts;
    size_t len;
    char *env = envelope_of(h, data, &ts, &len);
    if (!env) return 0;
    uint64_t id = publish_env(h, type, env, len, ts, &t, NULL, 0, PUB_FORWARD, NULL);
    free(env);
    return id;
}

uint64_t ev_publish_to(ev_hub *h, int type, json_t *data, const char *const *ids, size_t nids,
                       size_t *delivered)
{
    double ts;
    size_t len;
    *delivered = 0;
    char *env = envelope_of(h, data, &ts, &len);
    if (!env) return 0;
    uint64_t id = publish_env(h, type, env, len, ts, NULL, ids ? ids : (const char *const[]){""},
                              ids ? nids : 0, PUB_FORWARD, delivered);
    free(env);
    return id;
}

void ev_publish_sample(ev_hub *h, int type, json_t *data)
{
    if (type < 0 || type >= EV_NTYPES || !ev_hub_clients(h)) return;
    double ts;
    size_t len;
    char *env = envelope_of(h, data, &ts, &len);
    if (!env) return;
    publish_env(h, type, env, len, ts, NULL, NULL, 0, PUB_SAMPLE, NULL);
    free(env);
}

void ev_publish_named(void *hub, const char *type, const json_t *data)
{
    int t = type ? ev_type_parse(type) : -1;
    /* ev_publish only reads data (json_dumps and lookups): the cast drops no guarantee. */
    if (t >= 0) ev_publish(hub, t, (json_t *)data, NULL);
}

uint64_t ev_publish_envelope(ev_hub *h, int type, const char *env, size_t len, double ts,
                             const ev_tags *tags, const char *const *targets, size_t ntargets)
{
    if (type < 0 || type >= EV_NTYPES) return 0;
    return publish_env(h, type, env, len, ts, tags, targets, targets ? ntargets : 0, 0, NULL);
}

void ev_hub_set_forward(ev_hub *h, ev_forward_fn fn, void *ctx)
{
    pthread_mutex_lock(&h->lock);
    h->forward = fn;
    h->forward_ctx = ctx;
    pthread_mutex_unlock(&h->lock);
}

const char *ev_hub_instance(const ev_hub *h)
{
    return h->instance;
}

/* ---- management --------------------------------------------------------------------- */

int ev_hub_disconnect(ev_hub *h, const char *client_id)
{
    pthread_mutex_lock(&h->lock);
    ev_client *c = find_locked(h, client_id);
    if (c) ev_drop_locked(h, c, DROP_DELETED, END_NOW);
    pthread_mutex_unlock(&h->lock);
    return c ? 0 : -1;
}

int ev_hub_pong(ev_hub *h, const char *client_id, const char *ping_id, int *matched)
{
    pthread_mutex_lock(&h->lock);
    ev_client *c = find_locked(h, client_id);
    if (c) {
        double now = ev_now();
        *matched = ping_id && c->ping_outstanding && strcmp(ping_id, c->ping_id) == 0;
        c->last_pong_at = now;
        c->last_activity = now;
        c->missed_pings = 0;
        c->ping_outstanding = 0;
    }
    pthread_mutex_unlock(&h->lock);
    return c ? 0 : -1;
}

size_t ev_hub_clients(ev_hub *h)
{
    pthread_mutex_lock(&h->lock);
    size_t n = h->nclients;
    pthread_mutex_unlock(&h->lock);
    return n;
}
