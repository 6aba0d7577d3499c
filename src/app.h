/* What main wires together and hands to every handler (req->app). */
#ifndef DLB_APP_H
#define DLB_APP_H

#include <stdatomic.h>

#include "config.h"
#include "engine/engine.h"
#include "http/http.h"
#include "lake/lake.h"
#include "lineage/lineage.h"
#include "meta/meta.h"
#include "util/pool.h"

typedef struct app {
    config_t *cfg;
    meta_t *meta;
    engine_t *engine;
    lake_t *lake;
    struct auth *auth;
    lineage_t *lineage; /* jobs and OpenLineage */
    pool_t *pool;
    pool_t *control_pool; /* health and admin work, never behind data work */
    http_server *http;
    struct ev_hub *events; /* Server-Sent Events hub (events/events.h) */
    /* Fan-out across replicas (events/relay.h), or NULL; the samplers (events/sampler.h). */
    struct ev_relay *events_relay;
    struct ev_sampler *events_sampler;
    struct obs *obs;       /* metrics, performance, memory sampler (obs/obs.h) */
    struct cfgmon *cfgmon; /* configuration health monitor (obs/config_monitor.h) */
    struct store *store;   /* object storage, local or S3 (store/store.h) */
    double started_at;     /* wall clock */
    atomic_int shutting_down;
} app_t;

#endif
