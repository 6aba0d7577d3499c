/* The hub's Prometheus series. Counters are kept by the hub under its lock (as for
 * /events/stats) and handed to the registry as deltas by a scrape hook, so publication pays
 * nothing for them; only the delivery latency is observed where it happens (one histogram
 * observation per read that completed a numbered frame). */
#include "hub_internal.h"

#include "obs/metrics.h"
#include "util/clock.h"

#include <stdlib.h>
#include <string.h>

struct ev_metrics {
    obs_series *clients, *connects, *latency;
    obs_series *published[EV_NTYPES], *dropped[EV_NDROPREASONS], *zombies[EV_NZREASONS];
    /* What the registry has been given so far (scrape thread only). */
    uint64_t s_connects, s_published[EV_NTYPES], s_dropped[EV_NDROPREASONS],
        s_zombies[EV_NZREASONS];
};

/* Publication to delivery, in seconds: 0.5 ms to 10 s. */
static const double latency_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,    0.25,  0.5,    1,     2.5,  5,     10};

static void add_delta(obs_series *s, uint64_t now, uint64_t *seen)
{
    if (s && now > *seen) obs_counter_add(s, now - *seen);
    *seen = now;
}

static void refresh(void *ctx)
{
    ev_hub *h = ctx;
    struct ev_metrics *m = h->metrics;
    pthread_mutex_lock(&h->lock);
    size_t clients = h->nclients;
    uint64_t connects = h->connects, pub[EV_NTYPES], drop[EV_NDROPREASONS], zr[EV_NZREASONS];
    memcpy(pub, h->published_by_type, sizeof(pub));
    memcpy(drop, h->dropped, sizeof(drop));
    memcpy(zr, h->zombie_reasons, sizeof(zr));
    pthread_mutex_unlock(&h->lock);
    if (m->clients) obs_gauge_set(m->clients, (double)clients);
    add_delta(m->connects, connects, &m->s_connects);
    for (int i = 0; i < EV_NTYPES; i++)
        add_delta(m->published[i], pub[i], &m->s_published[i]);
    for (int i = 0; i < EV_NDROPREASONS; i++)
        add_delta(m->dropped[i], drop[i], &m->s_dropped[i]);
    for (int i = 0; i < EV_NZREASONS; i++)
        add_delta(m->zombies[i], zr[i], &m->s_zombies[i]);
}

void ev_hub_enable_metrics(ev_hub *h)
{
    if (h->metrics) return;
    struct ev_metrics *m = calloc(1, sizeof(*m));
    if (!m) return;
    obs_family *f = obs_gauge_family("dlb_sse_clients", "Connected event-stream clients", NULL);
    if (f) m->clients = obs_series_get(f, NULL);
    f = obs_counter_family("dlb_sse_connections_total", "Event streams opened", NULL);
    if (f) m->connects = obs_series_get(f, NULL);
    f = obs_counter_family("dlb_sse_events_published_total",
                           "Events published to the hub (samples included), by type", "type");
    for (int i = 0; f && i < EV_NTYPES; i++)
        m->published[i] = obs_series_get(f, OBS_LABELS(ev_type_name(i)));
    f = obs_counter_family("dlb_sse_clients_dropped_total", "Event streams ended, by reason",
                           "reason");
    for (int i = 0; f && i < EV_NDROPREASONS; i++)
        m->dropped[i] = obs_series_get(f, OBS_LABELS(ev_drop_reasons[i]));
    f = obs_counter_family("dlb_sse_zombies_detected_total",
                           "Event-stream clients found to be zombies, by reason", "reason");
    for (int i = 0; f && i < EV_NZREASONS; i++)
        m->zombies[i] = obs_series_get(f, OBS_LABELS(ev_zombie_reasons[i]));
    f = obs_histogram_family("dlb_sse_delivery_latency_seconds",
                             "Time from an event's publication to its last byte being handed to "
                             "a client's socket",
                             NULL, latency_bounds,
                             (int)(sizeof(latency_bounds) / sizeof(latency_bounds[0])));
    if (f) m->latency = obs_series_get(f, NULL);
    h->metrics = m;
    obs_metrics_on_scrape(refresh, h);
}

void ev_metrics_latency(ev_hub *h, double ts)
{
    struct ev_metrics *m = h->metrics;
    if (!m || !m->latency) return;
    double d = clock_wall() - ts;
    obs_hist_observe(m->latency, d < 0 ? 0 : d);
}

void ev_metrics_free(ev_hub *h)
{
    /* The scrape hook stays registered until obs_destroy drops it; the server has stopped
     * by then, so nobody scrapes. */
    free(h->metrics);
    h->metrics = NULL;
}
