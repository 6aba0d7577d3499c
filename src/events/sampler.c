#include "sampler.h"

#include "hub_internal.h"
#include "obs/memory.h"
#include "util/clock.h"
#include "util/periodic.h"

#include <jansson.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

struct ev_sampler {
    ev_hub *hub;
    double interval;
    ev_sampler_src src;
    periodic *ticks;
    /* The previous reading, for rates. */
    double prev_mono, prev_cpu;
    uint64_t prev_requests;
};

double ev_sampler_cpu_seconds(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru)) return 0;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* The hub's own queue figures: clients, history, and what waits in client queues. */
static json_t *hub_json(ev_hub *h)
{
    pthread_mutex_lock(&h->lock);
    size_t clients = h->nclients, hist = h->hist_count, queued = 0, qbytes = 0, qmax = 0;
    uint64_t published = h->published, dropped = 0;
    for (int i = 0; i < EV_NDROPREASONS; i++)
        dropped += h->dropped[i];
    for (ev_client *c = h->clients; c; c = c->next) {
        pthread_mutex_lock(&c->lock);
        queued += c->q.count;
        qbytes += c->q.bytes;
        if (c->q.count > qmax) qmax = c->q.count;
        pthread_mutex_unlock(&c->lock);
    }
    pthread_mutex_unlock(&h->lock);
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "clients", (json_int_t)clients,
                     "history_size", (json_int_t)hist, "history_capacity",
                     (json_int_t)h->opt.history_size, "queued_events", (json_int_t)queued,
                     "queued_bytes", (json_int_t)qbytes, "max_client_queue", (json_int_t)qmax,
                     "events_published", (json_int_t)published, "clients_dropped",
                     (json_int_t)dropped);
}

static void sample(ev_sampler *s)
{
    ev_hub *h = s->hub;
    double mono = ev_now(), cpu = ev_sampler_cpu_seconds(), span = mono - s->prev_mono;
    uint64_t req = s->src.requests ? s->src.requests(s->src.ctx) : 0;
    double prev_cpu = s->prev_cpu;
    uint64_t prev_req = s->prev_requests;
    s->prev_mono = mono;
    s->prev_cpu = cpu;
    s->prev_requests = req;
    if (!ev_hub_clients(h)) return; /* nobody listens: build nothing */

    json_t *q = json_object();
    json_object_set_new(q, "instance", json_string(h->instance));
    if (s->src.queues) s->src.queues(s->src.ctx, q);
    json_t *hub = hub_json(h);
    if (s->src.hub_extra) s->src.hub_extra(s->src.ctx, hub);
    json_object_set_new(q, "sse", hub);
    ev_publish_sample(h, EV_QUEUE_STATUS, q);
    json_decref(q);

    obs_mem_sample m;
    int mem_ok = obs_mem_read(&m) == 0;
    json_t *d = json_object();
    json_object_set_new(d, "instance", json_string(h->instance));
    json_object_set_new(d, "cpu_percent",
                        json_real(span > 0 ? 100.0 * (cpu - prev_cpu) / span : 0));
    json_object_set_new(d, "cpu_cores", json_integer(sysconf(_SC_NPROCESSORS_ONLN)));
    json_object_set_new(d, "rss_bytes", mem_ok ? json_integer((json_int_t)m.rss) : json_null());
    json_object_set_new(d, "rss_mb", mem_ok ? json_real((double)m.rss / 1048576.0) : json_null());
    json_object_set_new(d, "memory_percent",
                        mem_ok && m.limit > 0 ? json_real(100.0 * (double)m.rss / (double)m.limit)
                                              : json_null());
    json_object_set_new(d, "threads", mem_ok ? json_integer(m.threads) : json_null());
    json_object_set_new(d, "open_files", mem_ok ? json_integer(m.open_files) : json_null());
    if (s->src.requests) {
        json_object_set_new(d, "requests_total", json_integer((json_int_t)req));
        json_object_set_new(
            d, "requests_per_second",
            json_real(span > 0 && req >= prev_req ? (double)(req - prev_req) / span : 0));
    }
    json_object_set_new(d, "sse_clients", json_integer((json_int_t)ev_hub_clients(h)));
    json_object_set_new(d, "interval", json_real(s->interval));
    ev_publish_sample(h, EV_SYSTEM_METRIC, d);
    json_decref(d);
}

static void sample_tick(void *arg)
{
    sample(arg);
}

ev_sampler *ev_sampler_start(ev_hub *h, double interval, const ev_sampler_src *src)
{
    if (interval <= 0) return NULL;
    ev_sampler *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    s->hub = h;
    s->interval = interval;
    if (src) s->src = *src;
    s->prev_mono = ev_now();
    s->prev_cpu = ev_sampler_cpu_seconds();
    s->prev_requests = s->src.requests ? s->src.requests(s->src.ctx) : 0;
    s->ticks = periodic_start(interval, 0, sample_tick, s);
    if (!s->ticks) {
        free(s);
        return NULL;
    }
    return s;
}

void ev_sampler_stop(ev_sampler *s)
{
    if (!s) return;
    periodic_stop(s->ticks);
    free(s);
}
