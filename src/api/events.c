/* /events: Server-Sent Event streams and their management. A stream is a pull response
 * (http_resp_pull) reading the client's queue in the hub, so an idle client costs a parked
 * connection and a few hundred bytes, never a thread. */
#include "api.h"

#include "app.h"
#include "events/events.h"
#include "events/relay.h"

#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ---- streams -------------------------------------------------------------------------- */

static long sse_read(void *src, char *out, size_t max)
{
    long n = ev_client_read(src, out, max);
    return n == -1 ? HTTP_PULL_END : n == -2 ? HTTP_PULL_ABORT : n == -3 ? HTTP_PULL_PARKED : n;
}

static void sse_done(void *src, int ok)
{
    ev_client_done(src, ok);
}

static int sse_park(void *src)
{
    return ev_client_park(src);
}

static const http_pull_ops sse_ops = {sse_read, sse_done, sse_park};

static void sink_wake(void *arg)
{
    http_pull_wake(arg);
}

static void sink_abort(void *arg)
{
    http_pull_abort(arg);
}

/* Keepalive probes and a user timeout let the kernel declare a vanished peer dead (the hub
 * then sees the socket fail), instead of queueing for it until the zombie rules fire. */
static void tune_socket(int fd, double dead_after)
{
    if (fd < 0) return;
    int on = 1, idle = 30, intvl = 10, cnt = 3;
    unsigned ut = (unsigned)(dead_after * 1000);
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ut, sizeof(ut));
}

static const char *query_either(http_req *req, const char *a, const char *b)
{
    const char *v = http_req_query(req, a);
    return v ? v : http_req_query(req, b);
}

/* The types of "?events=a,b": 0 for every type, -1 (with 400 in resp) for an unknown one. */
static long parse_types(http_req *req, http_resp *resp)
{
    const char *list = http_req_query(req, "events");
    if (!list) return 0;
    unsigned mask = 0;
    const char *p = list;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n && *p == ' ')
            p++, n--;
        while (n && p[n - 1] == ' ')
            n--;
        char name[32];
        if (n) {
            int t = -1;
            if (n < sizeof(name)) {
                memcpy(name, p, n);
                name[n] = 0;
                t = ev_type_parse(name);
            }
            if (t < 0) {
                http_resp_error(resp, 400, "invalid_event_type",
                                "unknown event type '%.*s' in events; known: lineage_event, "
                                "job_status, queue_status, system_metric, error, heartbeat, ping",
                                (int)(n > 64 ? 64 : n), p);
                return -1;
            }
            mask |= EV_MASK(t);
        }
        if (!end) break;
        p = end + 1;
    }
    return mask;
}

static void open_stream(http_req *req, http_resp *resp, unsigned types)
{
    app_t *app = req->app;
    const char *last = http_req_header(req, "Last-Event-ID");
    if (!last || !*last) last = http_req_query(req, "last_event_id");
    ev_subscription sub = {
        .types = types,
        .jobs = query_either(req, "job", "job_name"),
        .runs = query_either(req, "run_id", "run"),
        .namespaces = http_req_query(req, "namespace"),
        .last_event_id = last && *last ? last : NULL,
        .ip = req->client_ip,
    };
    http_pull *pull = http_pull_handle(req);
    int fd = http_req_socket(req);
    ev_sink sink = {sink_wake, sink_abort, pull, fd};
    ev_client *c = NULL;
    switch (ev_hub_connect(app->events, &sub, &sink, &c)) {
    case EV_OK:
        break;
    case EV_LIMIT_TOTAL:
        http_resp_error(resp, 429, "too_many_clients",
                        "the server holds its maximum of %ld event streams",
                        app->cfg->sse_max_clients);
        http_resp_header(resp, "Retry-After", "5");
        return;
    case EV_LIMIT_IP:
        http_resp_error(resp, 429, "too_many_clients",
                        "address %s holds its maximum of %ld event streams", req->client_ip,
                        app->cfg->sse_max_clients_per_ip);
        http_resp_header(resp, "Retry-After", "5");
        return;
    case EV_CLOSED:
        http_resp_error(resp, 503, "shutting_down", "the server is shutting down");
        http_resp_header(resp, "Retry-After", "1");
        return;
    default:
        http_resp_error(resp, 503, "overloaded", "out of memory for a new event stream");
        http_resp_header(resp, "Retry-After", "1");
        return;
    }
    tune_socket(fd, app->cfg->sse_zombie_inactivity_timeout);
    http_resp_pull(req, resp, 200, "text/event-stream; charset=utf-8", &sse_ops, c);
    http_resp_header(resp, "Cache-Control", "no-cache");
    http_resp_header(resp, "X-Accel-Buffering", "no");
    http_resp_header(resp, "X-SSE-Client-ID", ev_client_id(c));
}

void api_events_stream(http_req *req, http_resp *resp)
{
    long types = parse_types(req, resp);
    if (types >= 0) open_stream(req, resp, (unsigned)types);
}

void api_events_lineage(http_req *req, http_resp *resp)
{
    open_stream(req, resp, EV_MASK(EV_LINEAGE_EVENT) | EV_MASK(EV_ERROR));
}

void api_events_jobs(http_req *req, http_resp *resp)
{
    open_stream(req, resp, EV_MASK(EV_JOB_STATUS) | EV_MASK(EV_ERROR));
}

void api_events_metrics(http_req *req, http_resp *resp)
{
    open_stream(req, resp,
                EV_MASK(EV_SYSTEM_METRIC) | EV_MASK(EV_QUEUE_STATUS) | EV_MASK(EV_ERROR));
}

/* ---- management ----------------------------------------------------------------------- */

void api_events_stats(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    const char *cl = http_req_query(req, "clients");
    int with = !(cl && (strcmp(cl, "false") == 0 || strcmp(cl, "0") == 0));
    json_t *o = ev_hub_stats(app->events, with);
    json_object_set_new(o, "instance", json_string(ev_hub_instance(app->events)));
    json_object_set_new(o, "relay",
                        app->events_relay ? ev_relay_stats(app->events_relay) : json_null());
    http_resp_json(resp, 200, o);
}

void api_events_zombies(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    http_resp_json(resp, 200, ev_hub_zombies(app->events));
}

void api_events_zombies_cleanup(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    http_resp_json(resp, 200, ev_hub_cleanup(app->events));
}

/* A JSON object body, or NULL (with the answer in resp when there was a bad one). An empty
 * body is no error: some fields may come as query parameters instead. */
static json_t *optional_body(http_req *req, http_resp *resp, int *bad)
{
    *bad = 0;
    if (req->body.len == 0) return NULL;
    json_t *b = http_req_json(req, resp);
    if (!b) {
        *bad = 1;
        return NULL;
    }
    if (!json_is_object(b)) {
        json_decref(b);
        http_resp_error(resp, 422, "validation_error", "the body must be a JSON object");
        *bad = 1;
        return NULL;
    }
    return b;
}

void api_events_broadcast(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    int bad;
    json_t *body = optional_body(req, resp, &bad);
    if (bad) return;
    const char *name = json_string_value(json_object_get(body, "event_type"));
    if (!name) name = http_req_query(req, "event_type");
    int type = name ? ev_type_parse(name) : -1;
    json_t *targets = json_object_get(body, "target_clients");
    json_t *data = json_object_get(body, "data");
    if (!name) {
        http_resp_error(resp, 400, "invalid_event_type",
                        "event_type is required (in the body or the query)");
    } else if (type < 0) {
        http_resp_error(resp, 400, "invalid_event_type",
                        "unknown event_type '%.64s'; known: lineage_event, job_status, "
                        "queue_status, system_metric, error, heartbeat, ping",
                        name);
    } else if (targets && !json_is_null(targets) && !json_is_array(targets)) {
        http_resp_error(resp, 422, "validation_error",
                        "target_clients must be a list of client ids or null");
    } else {
        json_t *d = data ? json_incref(data) : json_object();
        uint64_t id;
        size_t delivered = 0;
        json_t *out = json_pack("{s:s}", "message", "Event broadcasted successfully");
        if (json_is_array(targets)) {
            size_t n = json_array_size(targets), k = 0;
            const char **ids = calloc(n ? n : 1, sizeof(*ids));
            for (size_t i = 0; ids && i < n; i++) {
                const char *s = json_string_value(json_array_get(targets, i));
                if (s) ids[k++] = s;
            }
            id = ids ? ev_publish_to(app->events, type, d, ids, k, &delivered) : 0;
            free(ids);
            json_object_set_new(out, "delivered_to", json_integer((json_int_t)delivered));
        } else {
            id = ev_publish(app->events, type, d, NULL);
        }
        json_decref(d);
        if (!id) {
            json_decref(out);
            http_resp_error(resp, 503, "overloaded", "out of memory for the event");
        } else {
            char ids[24];
            snprintf(ids, sizeof(ids), "%llu", (unsigned long long)id);
            json_object_set_new(out, "event_id", json_string(ids));
            json_object_set_new(out, "event_type", json_string(name));
            http_resp_json(resp, 200, out);
        }
    }
    json_decref(body);
}

void api_events_client_delete(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    const char *id = http_req_param(req, "client_id");
    if (ev_hub_disconnect(app->events, id)) {
        http_resp_error(resp, 404, "not_found", "no event-stream client %.64s", id);
        return;
    }
    char msg[128];
    snprintf(msg, sizeof(msg), "Client %s disconnected successfully", id);
    http_resp_json(resp, 200, json_pack("{s:s, s:s}", "message", msg, "client_id", id));
}

void api_events_pong(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    int bad;
    json_t *body = optional_body(req, resp, &bad);
    if (bad) return;
    const char *cid = json_string_value(json_object_get(body, "client_id"));
    const char *pid = json_string_value(json_object_get(body, "ping_id"));
    if (!cid) cid = http_req_query(req, "client_id");
    if (!pid) pid = http_req_query(req, "ping_id");
    int matched = 0;
    if (!cid) {
        http_resp_error(resp, 400, "validation_error",
                        "client_id is required (query parameter or JSON body)");
    } else if (ev_hub_pong(app->events, cid, pid, &matched)) {
        http_resp_error(resp, 404, "not_found", "no event-stream client %.64s", cid);
    } else {
        json_t *o = json_pack("{s:s, s:s, s:b}", "message", "Pong received successfully",
                              "client_id", cid, "matched", matched);
        json_object_set_new(o, "ping_id", pid ? json_string(pid) : json_null());
        http_resp_json(resp, 200, o);
    }
    json_decref(body);
}
