#include "relay.h"

#include "util/log.h"

#include <errno.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define NORIGINS      64
#define BATCH_MSGS    64
#define SEND_ATTEMPTS 3

typedef struct msg {
    struct msg *next;
    uint64_t seq;
    size_t len;
    char body[]; /* meta line, '\n', envelope */
} msg;

typedef struct {
    char origin[17];
    uint64_t last_seq; /* 0: none yet */
    uint64_t used;     /* for replacement, the least recently seen goes */
    /* A message being reassembled. */
    uint64_t part_seq;
    int next_part, nparts;
    char *buf;
    size_t len;
} origin_state;

struct ev_relay {
    ev_hub *hub;
    char *host, *port, *dbname, *user, *password, *sslmode;
    char channel[32];
    char instance[17];
    size_t max_event_bytes, queue_max;

    /* Outgoing queue (under lock). */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    msg *head, *tail;
    size_t queued;
    uint64_t next_seq;
    int stop;

    /* Receiving side (listener thread only, or the test). */
    origin_state origins[NORIGINS];
    uint64_t tick;

    pthread_t sender, listener;
    int started;
    int wakefd;

    /* Counters (under lock). */
    uint64_t sent, received, echo, dups, gaps, drop_full, drop_large, drop_failed, send_failures,
        reconnects;
    int listening;
};

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

ev_relay *ev_relay_create(ev_hub *h, const ev_relay_conf *c)
{
    ev_relay *r = calloc(1, sizeof(*r));
    if (!r) return NULL;
    r->hub = h;
    r->host = dup_or_empty(c->host);
    r->port = dup_or_empty(c->port);
    r->dbname = dup_or_empty(c->dbname);
    r->user = dup_or_empty(c->user);
    r->password = dup_or_empty(c->password);
    r->sslmode = dup_or_empty(c->sslmode);
    r->max_event_bytes = c->max_event_bytes ? c->max_event_bytes : 1 << 20;
    r->queue_max = c->queue_max ? c->queue_max : 10000;
    r->wakefd = -1;
    uint64_t x = 1469598103934665603ULL; /* FNV-1a 64 */
    for (const char *p = c->scope ? c->scope : ""; *p; p++)
        x = (x ^ (unsigned char)*p) * 1099511628211ULL;
    snprintf(r->channel, sizeof(r->channel), "dlb_sse_%016llx", (unsigned long long)x);
    snprintf(r->instance, sizeof(r->instance), "%s", ev_hub_instance(h));
    pthread_mutex_init(&r->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (!r->host || !r->port || !r->dbname || !r->user || !r->password || !r->sslmode) {
        ev_relay_stop(r);
        return NULL;
    }
    return r;
}

const char *ev_relay_channel(const ev_relay *r)
{
    return r->channel;
}

/* ---- sending -------------------------------------------------------------------------- */

void ev_relay_forward(void *ctx, int type, const char *env, size_t len, double ts,
                      const ev_tags *tags, const char *const *targets, size_t ntargets)
{
    ev_relay *r = ctx;
    json_t *meta = json_pack("{s:s, s:f}", "t", ev_type_name(type), "ts", ts);
    if (!meta) return;
    if (tags && tags->job) json_object_set_new(meta, "j", json_string(tags->job));
    if (tags && tags->run) json_object_set_new(meta, "r", json_string(tags->run));
    if (tags && tags->ns) json_object_set_new(meta, "n", json_string(tags->ns));
    if (targets) {
        json_t *a = json_array();
        for (size_t i = 0; i < ntargets; i++)
            json_array_append_new(a, json_string(targets[i]));
        json_object_set_new(meta, "c", a);
    }
    char *mj = json_dumps(meta, JSON_COMPACT);
    json_decref(meta);
    if (!mj) return;
    size_t ml = strlen(mj);
    pthread_mutex_lock(&r->lock);
    if (ml + 1 + len > r->max_event_bytes) {
        r->drop_large++;
    } else if (r->queued >= r->queue_max) {
        r->drop_full++;
    } else {
        msg *m = malloc(sizeof(*m) + ml + 1 + len + 1);
        if (m) {
            m->next = NULL;
            m->seq = ++r->next_seq;
            memcpy(m->body, mj, ml);
            m->body[ml] = '\n';
            memcpy(m->body + ml + 1, env, len);
            m->len = ml + 1 + len;
            m->body[m->len] = 0;
            if (r->tail)
                r->tail->next = m;
            else
                r->head = m;
            r->tail = m;
            r->queued++;
            pthread_cond_signal(&r->cond);
        }
    }
    pthread_mutex_unlock(&r->lock);
    free(mj);
}

/* Where a part that starts at off and may hold max bytes ends: never inside a UTF-8
 * sequence (a NOTIFY payload must be valid text). */
static size_t part_end(const char *s, size_t len, size_t off, size_t max)
{
    if (len - off <= max) return len;
    size_t e = off + max;
    while (e > off && ((unsigned char)s[e] & 0xC0) == 0x80)
        e--;
    return e > off ? e : off + max;
}

/* The NOTIFY payloads of m: *n of them, each malloc'd. NULL when out of memory. */
static char **encode(const ev_relay *r, const msg *m, size_t *n)
{
    char hdr[96];
    /* The header is at most about 60 bytes: leave room for it in every part. */
    size_t room = EV_RELAY_PART - 64, parts = 0;
    for (size_t off = 0; off < m->len; off = part_end(m->body, m->len, off, room))
        parts++;
    if (!parts) parts = 1;
    char **out = calloc(parts, sizeof(*out));
    if (!out) return NULL;
    size_t off = 0;
    for (size_t k = 0; k < parts; k++) {
        size_t end = part_end(m->body, m->len, off, room);
        int hl = snprintf(hdr, sizeof(hdr), "%s %llu %zu %zu\n", r->instance,
                          (unsigned long long)m->seq, k, parts);
        out[k] = malloc((size_t)hl + (end - off) + 1);
        if (!out[k]) {
            for (size_t j = 0; j < k; j++)
                free(out[j]);
            free(out);
            return NULL;
        }
        memcpy(out[k], hdr, (size_t)hl);
        memcpy(out[k] + hl, m->body + off, end - off);
        out[k][(size_t)hl + (end - off)] = 0;
        off = end;
    }
    *n = parts;
    return out;
}

static void free_payloads(char **p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(p[i]);
    free(p);
}

size_t ev_relay_take_payloads(ev_relay *r, char ***out)
{
    pthread_mutex_lock(&r->lock);
    msg *m = r->head;
    r->head = r->tail = NULL;
    r->queued = 0;
    pthread_mutex_unlock(&r->lock);
    size_t total = 0, cap = 0;
    char **all = NULL;
    while (m) {
        msg *next = m->next;
        size_t n = 0;
        char **p = encode(r, m, &n);
        for (size_t i = 0; p && i < n; i++) {
            if (total == cap) {
                cap = cap ? cap * 2 : 8;
                char **g = realloc(all, cap * sizeof(*g));
                if (!g) break;
                all = g;
            }
            all[total++] = p[i];
            p[i] = NULL;
        }
        if (p) free_payloads(p, n);
        free(m);
        m = next;
    }
    *out = all;
    return total;
}

static PGconn *pg_connect(ev_relay *r)
{
    const char *kw[10], *val[10];
    int k = 0;
    kw[k] = "host", val[k++] = r->host;
    kw[k] = "port", val[k++] = r->port;
    kw[k] = "dbname", val[k++] = r->dbname;
    kw[k] = "user", val[k++] = r->user;
    if (*r->password) kw[k] = "password", val[k++] = r->password;
    kw[k] = "sslmode", val[k++] = r->sslmode;
    kw[k] = "connect_timeout", val[k++] = "5";
    kw[k] = "application_name", val[k++] = "ducklake-backend-sse";
    kw[k] = "client_encoding", val[k++] = "UTF8";
    kw[k] = NULL, val[k] = NULL;
    PGconn *c = PQconnectdbParams(kw, val, 0);
    if (c && PQstatus(c) == CONNECTION_OK) return c;
    char e[256];
    snprintf(e, sizeof(e), "%s", c ? PQerrorMessage(c) : "out of memory");
    for (char *p = e; *p; p++)
        if (*p == '\n') *p = ' ';
    log_warn("event relay: cannot connect to PostgreSQL", "error", e);
    PQfinish(c);
    return NULL;
}

static int exec_ok(PGconn *c, const char *sql, int n, const char *const *params)
{
    PGresult *res = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok) {
        char e[256];
        snprintf(e, sizeof(e), "%s", PQresultErrorMessage(res));
        for (char *p = e; *p; p++)
            if (*p == '\n') *p = ' ';
        log_warn("event relay: statement failed", "error", e);
    }
    PQclear(res);
    return ok;
}

/* NOTIFYs the batch in one transaction (parts of a message arrive together, in order). */
static int send_batch(ev_relay *r, PGconn *c, msg *batch)
{
    if (!exec_ok(c, "BEGIN", 0, NULL)) return -1;
    for (msg *m = batch; m; m = m->next) {
        size_t n = 0;
        char **p = encode(r, m, &n);
        if (!p) continue; /* out of memory: this one is lost */
        int ok = 1;
        for (size_t i = 0; ok && i < n; i++) {
            const char *params[2] = {r->channel, p[i]};
            ok = exec_ok(c, "SELECT pg_notify($1, $2)", 2, params);
        }
        free_payloads(p, n);
        if (!ok) {
            PGresult *res = PQexec(c, "ROLLBACK");
            PQclear(res);
            return -1;
        }
    }
    return exec_ok(c, "COMMIT", 0, NULL) ? 0 : -1;
}

/* Sleeps up to s seconds unless stopping (lock held). 1 when stopping. */
static int wait_locked(ev_relay *r, double s)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long ns = ts.tv_nsec + (long long)(s * 1e9);
    ts.tv_sec += (time_t)(ns / 1000000000LL);
    ts.tv_nsec = (long)(ns % 1000000000LL);
    if (!r->stop) pthread_cond_timedwait(&r->cond, &r->lock, &ts);
    return r->stop;
}

static void free_msgs(msg *m)
{
    while (m) {
        msg *n = m->next;
        free(m);
        m = n;
    }
}

static void *sender_main(void *arg)
{
    ev_relay *r = arg;
    PGconn *c = NULL;
    double backoff = 0.5;
    pthread_mutex_lock(&r->lock);
    while (!r->stop) {
        if (!r->head) {
            wait_locked(r, 1.0);
            continue;
        }
        /* Take up to BATCH_MSGS messages. */
        msg *batch = r->head, *last = batch;
        size_t n = 1;
        while (last->next && n < BATCH_MSGS) {
            last = last->next;
            n++;
        }
        r->head = last->next;
        if (!r->head) r->tail = NULL;
        last->next = NULL;
        r->queued -= n;
        pthread_mutex_unlock(&r->lock);
        int done = 0;
        for (int attempt = 0; attempt < SEND_ATTEMPTS && !done; attempt++) {
            if (!c) c = pg_connect(r);
            if (c && send_batch(r, c, batch) == 0) {
                done = 1;
                break;
            }
            if (c && PQstatus(c) != CONNECTION_OK) {
                PQfinish(c);
                c = NULL;
            }
            pthread_mutex_lock(&r->lock);
            r->send_failures++;
            int stop = wait_locked(r, backoff);
            pthread_mutex_unlock(&r->lock);
            backoff = backoff * 2 > 10 ? 10 : backoff * 2;
            if (stop) break;
        }
        if (done) backoff = 0.5;
        free_msgs(batch);
        pthread_mutex_lock(&r->lock);
        if (done)
            r->sent += n;
        else
            r->drop_failed += n;
    }
    pthread_mutex_unlock(&r->lock);
    PQfinish(c);
    return NULL;
}

/* ---- receiving ------------------------------------------------------------------------ */

static origin_state *origin_of(ev_relay *r, const char *origin)
{
    origin_state *free_slot = NULL, *oldest = &r->origins[0];
    for (int i = 0; i < NORIGINS; i++) {
        origin_state *o = &r->origins[i];
        if (o->origin[0] && strcmp(o->origin, origin) == 0) return o;
        if (!o->origin[0] && !free_slot) free_slot = o;
        if (o->used < oldest->used) oldest = o;
    }
    origin_state *o = free_slot ? free_slot : oldest;
    free(o->buf);
    memset(o, 0, sizeof(*o));
    snprintf(o->origin, sizeof(o->origin), "%.16s", origin); /* instance ids are 16 hex digits */
    return o;
}

static void publish_message(ev_relay *r, const char *body, size_t len)
{
    const char *nl = memchr(body, '\n', len);
    if (!nl) return;
    json_t *meta = json_loadb(body, (size_t)(nl - body), 0, NULL);
    const char *tn = json_string_value(json_object_get(meta, "t"));
    int type = tn ? ev_type_parse(tn) : -1;
    if (meta && type >= 0) {
        ev_tags t = {
            .job = json_string_value(json_object_get(meta, "j")),
            .run = json_string_value(json_object_get(meta, "r")),
            .ns = json_string_value(json_object_get(meta, "n")),
        };
        double ts = json_number_value(json_object_get(meta, "ts"));
        json_t *c = json_object_get(meta, "c");
        const char **ids = NULL;
        size_t nids = 0;
        if (json_is_array(c)) {
            ids = calloc(json_array_size(c) + 1, sizeof(*ids));
            for (size_t i = 0; ids && i < json_array_size(c); i++) {
                const char *s = json_string_value(json_array_get(c, i));
                if (s) ids[nids++] = s;
            }
        }
        if (!json_is_array(c) || ids)
            ev_publish_envelope(r->hub, type, nl + 1, len - (size_t)(nl + 1 - body), ts, &t, ids,
                                nids);
        free(ids);
    }
    json_decref(meta);
}

void ev_relay_deliver(ev_relay *r, const char *payload)
{
    char origin[32];
    unsigned long long seq;
    size_t part, nparts;
    if (sscanf(payload, "%31s %llu %zu %zu", origin, &seq, &part, &nparts) != 4 || part >= nparts ||
        strlen(origin) != 16)
        return;
    const char *nl = strchr(payload, '\n');
    if (!nl) return;
    const char *chunk = nl + 1;
    size_t clen = strlen(chunk);
    if (strcmp(origin, r->instance) == 0) {
        if (part == 0) {
            pthread_mutex_lock(&r->lock);
            r->echo++;
            pthread_mutex_unlock(&r->lock);
        }
        return;
    }
    origin_state *o = origin_of(r, origin);
    o->used = ++r->tick;
    if (o->last_seq && seq <= o->last_seq) {
        if (part == 0) {
            pthread_mutex_lock(&r->lock);
            r->dups++;
            pthread_mutex_unlock(&r->lock);
        }
        return;
    }
    if (part == 0) {
        free(o->buf);
        o->buf = NULL;
        o->len = 0;
        o->part_seq = seq;
        o->nparts = (int)nparts;
        o->next_part = 0;
    } else if (o->part_seq != seq || (size_t)o->next_part != part || (size_t)o->nparts != nparts) {
        return; /* a part without its beginning */
    }
    if (nparts == 1) {
        pthread_mutex_lock(&r->lock);
        if (o->last_seq && seq > o->last_seq + 1) r->gaps += seq - o->last_seq - 1;
        r->received++;
        pthread_mutex_unlock(&r->lock);
        o->last_seq = seq;
        publish_message(r, chunk, clen);
        return;
    }
    char *b = realloc(o->buf, o->len + clen + 1);
    if (!b) {
        free(o->buf);
        o->buf = NULL;
        o->part_seq = 0;
        return;
    }
    memcpy(b + o->len, chunk, clen);
    o->buf = b;
    o->len += clen;
    o->buf[o->len] = 0;
    o->next_part++;
    if ((size_t)o->next_part < nparts) return;
    pthread_mutex_lock(&r->lock);
    if (o->last_seq && seq > o->last_seq + 1) r->gaps += seq - o->last_seq - 1;
    r->received++;
    pthread_mutex_unlock(&r->lock);
    o->last_seq = seq;
    publish_message(r, o->buf, o->len);
    free(o->buf);
    o->buf = NULL;
    o->len = 0;
}

static void set_listening(ev_relay *r, int on)
{
    pthread_mutex_lock(&r->lock);
    r->listening = on;
    pthread_mutex_unlock(&r->lock);
}

static int stopping(ev_relay *r)
{
    pthread_mutex_lock(&r->lock);
    int s = r->stop;
    pthread_mutex_unlock(&r->lock);
    return s;
}

/* Waits up to ms for the stop signal. 1 when stopping. */
static int pause_ms(ev_relay *r, int ms)
{
    struct pollfd p = {.fd = r->wakefd, .events = POLLIN};
    poll(&p, 1, ms);
    return stopping(r);
}

static void *listener_main(void *arg)
{
    ev_relay *r = arg;
    int backoff = 500, first = 1;
    char listen_sql[64];
    snprintf(listen_sql, sizeof(listen_sql), "LISTEN %s", r->channel);
    while (!stopping(r)) {
        PGconn *c = pg_connect(r);
        if (!c || !exec_ok(c, listen_sql, 0, NULL)) {
            PQfinish(c);
            if (pause_ms(r, backoff)) break;
            backoff = backoff * 2 > 10000 ? 10000 : backoff * 2;
            continue;
        }
        if (!first) {
            pthread_mutex_lock(&r->lock);
            r->reconnects++;
            pthread_mutex_unlock(&r->lock);
            log_info("event relay: listening again", "channel", r->channel);
        }
        first = 0;
        backoff = 500;
        set_listening(r, 1);
        for (;;) {
            PGnotify *nt;
            while ((nt = PQnotifies(c)) != NULL) {
                if (nt->extra) ev_relay_deliver(r, nt->extra);
                PQfreemem(nt);
            }
            if (PQstatus(c) != CONNECTION_OK) break;
            struct pollfd p[2] = {{.fd = PQsocket(c), .events = POLLIN},
                                  {.fd = r->wakefd, .events = POLLIN}};
            int n = poll(p, 2, 5000);
            if (n < 0 && errno != EINTR) break;
            if (stopping(r)) break;
            if (!PQconsumeInput(c)) {
                log_warn("event relay: lost the PostgreSQL connection; reconnecting", "channel",
                         r->channel);
                break;
            }
        }
        set_listening(r, 0);
        PQfinish(c);
    }
    return NULL;
}

/* ---- lifecycle ------------------------------------------------------------------------ */

int ev_relay_run(ev_relay *r)
{
    r->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (r->wakefd < 0) return -1;
    if (pthread_create(&r->listener, NULL, listener_main, r)) return -1;
    if (pthread_create(&r->sender, NULL, sender_main, r)) {
        pthread_mutex_lock(&r->lock);
        r->stop = 1;
        pthread_mutex_unlock(&r->lock);
        uint64_t one = 1;
        if (write(r->wakefd, &one, sizeof(one)) < 0) {
        }
        pthread_join(r->listener, NULL);
        return -1;
    }
    r->started = 1;
    ev_hub_set_forward(r->hub, ev_relay_forward, r);
    log_info("event relay: fan-out across replicas through PostgreSQL", "channel", r->channel,
             "instance", r->instance);
    return 0;
}

void ev_relay_stop(ev_relay *r)
{
    if (!r) return;
    if (r->started) {
        ev_hub_set_forward(r->hub, NULL, NULL);
        pthread_mutex_lock(&r->lock);
        r->stop = 1;
        pthread_cond_broadcast(&r->cond);
        pthread_mutex_unlock(&r->lock);
        uint64_t one = 1;
        if (write(r->wakefd, &one, sizeof(one)) < 0) {
        }
        pthread_join(r->sender, NULL);
        pthread_join(r->listener, NULL);
    }
    if (r->wakefd >= 0) close(r->wakefd);
    free_msgs(r->head);
    for (int i = 0; i < NORIGINS; i++)
        free(r->origins[i].buf);
    free(r->host);
    free(r->port);
    free(r->dbname);
    free(r->user);
    free(r->password);
    free(r->sslmode);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

json_t *ev_relay_stats(ev_relay *r)
{
    pthread_mutex_lock(&r->lock);
    json_t *o =
        json_pack("{s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                  "channel", r->channel, "instance", r->instance, "listening", r->listening, "sent",
                  (json_int_t)r->sent, "received", (json_int_t)r->received, "echo_ignored",
                  (json_int_t)r->echo, "duplicates", (json_int_t)r->dups, "gaps",
                  (json_int_t)r->gaps, "dropped_queue_full", (json_int_t)r->drop_full,
                  "dropped_too_large", (json_int_t)r->drop_large, "dropped_send_failed",
                  (json_int_t)r->drop_failed, "send_failures", (json_int_t)r->send_failures,
                  "reconnects", (json_int_t)r->reconnects, "backlog", (json_int_t)r->queued);
    pthread_mutex_unlock(&r->lock);
    return o;
}
