/* Unit tests of src/events: frame bytes, queues, history and replay hand-off, filters,
 * slow-client drops and the zombie rules. The hub runs without HTTP: a fake sink counts
 * wakes and aborts, and tests read client queues directly. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "events/events.h"
#include "events/queue.h"
#include "events/relay.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------- frames */

static void test_frame_exact_bytes(void **state)
{
    (void)state;
    ev_tags tags = {"job1", NULL, "ns"};
    ev_frame *f = ev_frame_event(42, EV_JOB_STATUS, "job_status", "{\"a\":1}", 7, 1.5, &tags);
    assert_non_null(f);
    assert_string_equal(f->text, "id: 42\nevent: job_status\ndata: {\"a\":1}\n\n");
    assert_int_equal(f->len, strlen(f->text));
    assert_string_equal(f->job, "job1");
    assert_null(f->run);
    assert_string_equal(f->ns, "ns");
    ev_frame_unref(f);

    /* Unnumbered: no id line, so the client's last event id stays where it was. */
    f = ev_frame_event(0, EV_HEARTBEAT, "heartbeat", "{}", 2, 0, NULL);
    assert_string_equal(f->text, "event: heartbeat\ndata: {}\n\n");
    ev_frame_unref(f);
}

static void test_frame_multiline_data(void **state)
{
    (void)state;
    /* LF, CRLF and CR each end a line; each line becomes its own data: field. */
    const char payload[] = "one\ntwo\r\nthree\rfour";
    ev_frame *f = ev_frame_event(7, EV_ERROR, "error", payload, sizeof(payload) - 1, 0, NULL);
    assert_string_equal(f->text, "id: 7\nevent: error\ndata: one\ndata: two\ndata: three\n"
                                 "data: four\n\n");
    assert_int_equal(f->len, strlen(f->text));
    ev_frame_unref(f);

    /* Empty lines survive (the parser joins data lines with LF); a trailing newline gives
     * a last empty data line. */
    f = ev_frame_event(1, EV_ERROR, "error", "a\n\nb\n", 5, 0, NULL);
    assert_string_equal(f->text, "id: 1\nevent: error\ndata: a\ndata: \ndata: b\ndata: \n\n");
    ev_frame_unref(f);

    /* Empty payload: still one data line, so the event is dispatched. */
    f = ev_frame_event(1, EV_ERROR, "error", "", 0, 0, NULL);
    assert_string_equal(f->text, "id: 1\nevent: error\ndata: \n\n");
    ev_frame_unref(f);
}

static void test_frame_no_field_injection(void **state)
{
    (void)state;
    /* CR/LF in the type cannot start another field; NUL in the payload is dropped. */
    const char payload[] = {'x', 0, 'y'};
    ev_frame *f = ev_frame_event(3, EV_ERROR, "bad\r\nid: 99", payload, 3, 0, NULL);
    assert_string_equal(f->text, "id: 3\nevent: badid: 99\ndata: xy\n\n");
    assert_int_equal(f->len, strlen(f->text));
    for (size_t i = 0; i < f->len; i++)
        assert_true(f->text[i] != 0);
    ev_frame_unref(f);
}

static void test_envelope(void **state)
{
    (void)state;
    size_t len;
    char *e = ev_envelope(1700000000.25, "{\"k\":\"v\"}", &len);
    assert_string_equal(e, "{\"timestamp\":1700000000.250,\"data\":{\"k\":\"v\"}}");
    assert_int_equal(len, strlen(e));
    free(e);
}

/* ---------------------------------------------------------------------------- queue */

static void test_queue_partial_reads(void **state)
{
    (void)state;
    ev_queue q;
    ev_queue_init(&q);
    ev_frame *a = ev_frame_raw("abcdef", 6), *b = ev_frame_raw("XYZ", 3);
    ev_frame_ref(a); /* keep one to see that the queue lets go of its own */
    assert_int_equal(ev_queue_push(&q, a), 0);
    assert_int_equal(ev_queue_push(&q, b), 0);
    assert_int_equal(q.count, 2);
    assert_int_equal(q.bytes, 9);
    char out[16] = {0};
    assert_int_equal(ev_queue_read(&q, out, 4), 4);
    assert_memory_equal(out, "abcd", 4);
    assert_int_equal(q.bytes, 5);
    assert_int_equal(ev_queue_read(&q, out, 3), 3);
    assert_memory_equal(out, "efX", 3);
    assert_int_equal(atomic_load(&a->refs), 1); /* read whole: the queue's ref is gone */
    assert_int_equal(ev_queue_read(&q, out, 16), 2);
    assert_memory_equal(out, "YZ", 2);
    assert_int_equal(q.count, 0);
    assert_int_equal(q.bytes, 0);
    assert_int_equal(ev_queue_read(&q, out, 16), 0);
    /* Growth past the first allocation keeps order. */
    for (int i = 0; i < 100; i++) {
        char c = (char)('0' + i % 10);
        assert_int_equal(ev_queue_push(&q, ev_frame_raw(&c, 1)), 0);
    }
    char big[128];
    assert_int_equal(ev_queue_read(&q, big, sizeof(big)), 100);
    for (int i = 0; i < 100; i++)
        assert_int_equal(big[i], '0' + i % 10);
    ev_queue_free(&q);
    ev_frame_unref(a);
}

/* ---------------------------------------------------------------------------- hub */

typedef struct {
    atomic_int wakes, aborts;
    atomic_int dead; /* ev_client_done returned: a wake now would touch a freed connection */
    atomic_int late; /* wakes that came after that */
} fake_conn;

static void fake_wake(void *arg)
{
    fake_conn *fc = arg;
    if (atomic_load(&fc->dead)) atomic_fetch_add(&fc->late, 1);
    atomic_fetch_add(&fc->wakes, 1);
}

/* A connection whose resume is slow: keeps the waker busy in the middle of a batch. */
static void slow_wake(void *arg)
{
    struct timespec ts = {0, 20 * 1000000L};
    nanosleep(&ts, NULL);
    fake_wake(arg);
}

static void fake_abort(void *arg)
{
    atomic_fetch_add(&((fake_conn *)arg)->aborts, 1);
}

static ev_options test_options(void)
{
    return (ev_options){
        .history_size = 100,
        .retry_ms = 1500,
        .heartbeat_interval = 0,
        .ping_interval = 0,
        .check_interval = 3600,
        .zombie_grace = 0,
        .max_clients = 100,
        .max_clients_per_ip = 0,
        .queue_events = 100000,
        .queue_bytes = 1 << 30,
        .rules = {3, 3, 10, 120, 90},
    };
}

static ev_client *connect_client(ev_hub *h, fake_conn *fc, unsigned types, const char *jobs,
                                 const char *last)
{
    ev_subscription sub = {.types = types, .jobs = jobs, .last_event_id = last, .ip = "10.0.0.1"};
    ev_sink sink = {fake_wake, fake_abort, fc, -1};
    ev_client *c = NULL;
    assert_int_equal(ev_hub_connect(h, &sub, &sink, &c), EV_OK);
    assert_non_null(c);
    return c;
}

/* Everything queued for c, as a string (the caller frees it). */
static char *drain(ev_client *c, long *last_rc)
{
    size_t cap = 1 << 16, len = 0;
    char *s = malloc(cap);
    for (;;) {
        if (cap - len < 4096) s = realloc(s, cap *= 2);
        long n = ev_client_read(c, s + len, 1000); /* small reads: frames split across them */
        if (n <= 0) {
            if (last_rc) *last_rc = n;
            break;
        }
        len += (size_t)n;
    }
    s[len] = 0;
    return s;
}

typedef struct {
    char event[32];
    char id[32];
    char data[512];
} parsed;

/* Splits a stream into dispatched events the way an EventSource parser would. */
static int parse_stream(const char *s, parsed *out, int max)
{
    int n = 0;
    parsed cur;
    memset(&cur, 0, sizeof(cur));
    int has_data = 0;
    while (*s) {
        const char *eol = strchr(s, '\n');
        size_t len = eol ? (size_t)(eol - s) : strlen(s);
        if (len == 0) {
            if (has_data && n < max) out[n++] = cur;
            memset(&cur, 0, sizeof(cur));
            has_data = 0;
        } else if (strncmp(s, "event: ", 7) == 0) {
            snprintf(cur.event, sizeof(cur.event), "%.*s", (int)len - 7, s + 7);
        } else if (strncmp(s, "id: ", 4) == 0) {
            snprintf(cur.id, sizeof(cur.id), "%.*s", (int)len - 4, s + 4);
        } else if (strncmp(s, "data: ", 6) == 0) {
            size_t dl = strlen(cur.data);
            snprintf(cur.data + dl, sizeof(cur.data) - dl, "%s%.*s", has_data ? "\n" : "",
                     (int)len - 6, s + 6);
            has_data = 1;
        }
        if (!eol) break;
        s = eol + 1;
    }
    return n;
}

static uint64_t pub(ev_hub *h, int type, const char *job, int seq)
{
    json_t *d = json_pack("{s:i}", "seq", seq);
    if (job) json_object_set_new(d, "job_name", json_string(job));
    uint64_t id = ev_publish(h, type, d, NULL);
    json_decref(d);
    assert_true(id > 0);
    return id;
}

static void test_hub_connect_and_publish(void **state)
{
    (void)state;
    ev_options o = test_options();
    ev_hub *h = ev_hub_create(&o);
    fake_conn fc = {0};
    ev_client *c = connect_client(h, &fc, 0, NULL, NULL);
    char *s = drain(c, NULL);
    /* retry: and a comment first, then connected with the client id. */
    assert_true(strncmp(s, "retry: 1500\n: ", 14) == 0);
    parsed ev[8];
    int n = parse_stream(s, ev, 8);
    assert_int_equal(n, 1);
    assert_string_equal(ev[0].event, "connected");
    assert_string_equal(ev[0].id, "");
    assert_non_null(strstr(ev[0].data, ev_client_id(c)));
    free(s);

    int wakes = atomic_load(&fc.wakes);
    uint64_t id1 = pub(h, EV_JOB_STATUS, "j", 1);
    uint64_t id2 = pub(h, EV_LINEAGE_EVENT, NULL, 2);
    assert_int_equal(id2, id1 + 1);
    /* One wake for the transition from empty; none for the second event. */
    assert_int_equal(atomic_load(&fc.wakes), wakes + 1);
    s = drain(c, NULL);
    n = parse_stream(s, ev, 8);
    assert_int_equal(n, 2);
    assert_string_equal(ev[0].event, "job_status");
    char want[32];
    snprintf(want, sizeof(want), "%llu", (unsigned long long)id1);
    assert_string_equal(ev[0].id, want);
    json_t *j = json_loads(ev[0].data, 0, NULL);
    assert_non_null(j);
    assert_true(json_is_real(json_object_get(j, "timestamp")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "data"), "seq")), 1);
    json_decref(j);
    assert_string_equal(ev[1].event, "lineage_event");
    free(s);
    ev_client_done(c, 1);
    assert_int_equal(ev_hub_clients(h), 0);
    ev_hub_free(h);
}

static void test_hub_filters(void **state)
{
    (void)state;
    ev_options o = test_options();
    ev_hub *h = ev_hub_create(&o);
    fake_conn fa = {0}, fb = {0};
    ev_client *a = connect_client(h, &fa, EV_MASK(EV_JOB_STATUS), NULL, NULL);
    ev_client *b = connect_client(h, &fb, 0, "j1,j2", NULL);
    free(drain(a, NULL));
    free(drain(b, NULL));
    pub(h, EV_JOB_STATUS, "j1", 1);
    pub(h, EV_LINEAGE_EVENT, "j2", 2);
    pub(h, EV_JOB_STATUS, "other", 3);
    pub(h, EV_SYSTEM_METRIC, NULL, 4); /* no job: excluded by a job filter */
    parsed ev[8];
    char *s = drain(a, NULL);
    int n = parse_stream(s, ev, 8);
    assert_int_equal(n, 2);
    assert_non_null(strstr(ev[0].data, "\"seq\":1"));
    assert_non_null(strstr(ev[1].data, "\"seq\":3"));
    free(s);
    s = drain(b, NULL);
    n = parse_stream(s, ev, 8);
    assert_int_equal(n, 2);
    assert_non_null(strstr(ev[0].data, "\"seq\":1"));
    assert_non_null(strstr(ev[1].data, "\"seq\":2"));
    free(s);
    /* Targeted: only the named client. */
    const char *ids[] = {ev_client_id(b), "no-such-client"};
    size_t delivered = 0;
    json_t *d = json_object();
    assert_true(ev_publish_to(h, EV_ERROR, d, ids, 2, &delivered) > 0);
    json_decref(d);
    assert_int_equal(delivered, 1);
    s = drain(a, NULL);
    assert_string_equal(s, "");
    free(s);
    s = drain(b, NULL);
    assert_int_equal(parse_stream(s, ev, 8), 1);
    assert_string_equal(ev[0].event, "error");
    free(s);
    ev_client_done(a, 1);
    ev_client_done(b, 1);
    ev_hub_free(h);
}

static void test_hub_replay_and_reset(void **state)
{
    (void)state;
    ev_options o = test_options();
    o.history_size = 5;
    ev_hub *h = ev_hub_create(&o);
    uint64_t ids[10];
    for (int i = 0; i < 10; i++)
        ids[i] = pub(h, i % 2 ? EV_JOB_STATUS : EV_LINEAGE_EVENT, NULL, i);
    /* History holds ids[5..9]. From ids[6]: exactly ids[7..9]. */
    char last[32];
    snprintf(last, sizeof(last), "%llu", (unsigned long long)ids[6]);
    fake_conn fc = {0};
    ev_client *c = connect_client(h, &fc, 0, NULL, last);
    parsed ev[16];
    char *s = drain(c, NULL);
    int n = parse_stream(s, ev, 16);
    assert_int_equal(n, 4); /* connected + 3 */
    for (int i = 0; i < 3; i++)
        assert_int_equal(strtoull(ev[1 + i].id, NULL, 10), ids[7 + i]);
    free(s);
    ev_client_done(c, 1);

    /* With a type filter the replay skips what does not match. */
    c = connect_client(h, &fc, EV_MASK(EV_JOB_STATUS), NULL, last);
    s = drain(c, NULL);
    n = parse_stream(s, ev, 16);
    assert_int_equal(n, 3); /* connected, ids[7] and ids[9] (the odd ones are job_status) */
    assert_int_equal(strtoull(ev[1].id, NULL, 10), ids[7]);
    assert_int_equal(strtoull(ev[2].id, NULL, 10), ids[9]);
    free(s);
    ev_client_done(c, 1);

    /* The oldest kept event's predecessor is still a whole replay. */
    snprintf(last, sizeof(last), "%llu", (unsigned long long)ids[4]);
    c = connect_client(h, &fc, 0, NULL, last);
    s = drain(c, NULL);
    assert_int_equal(parse_stream(s, ev, 16), 6);
    free(s);
    ev_client_done(c, 1);

    /* Too old, from the future, or not an id: a reset numbered with the newest id. */
    const char *bad[] = {"1", "99999999999999999", "abc"};
    const char *why[] = {"history_exhausted", "unknown_id", "invalid_id"};
    for (int k = 0; k < 3; k++) {
        if (k == 0) snprintf(last, sizeof(last), "%llu", (unsigned long long)ids[3]);
        c = connect_client(h, &fc, 0, NULL, k == 0 ? last : bad[k]);
        s = drain(c, NULL);
        n = parse_stream(s, ev, 16);
        assert_int_equal(n, 2);
        assert_string_equal(ev[1].event, "reset");
        assert_int_equal(strtoull(ev[1].id, NULL, 10), ids[9]);
        assert_non_null(strstr(ev[1].data, why[k]));
        free(s);
        ev_client_done(c, 1);
    }
    /* Up to date: nothing replayed, no reset. */
    snprintf(last, sizeof(last), "%llu", (unsigned long long)ids[9]);
    c = connect_client(h, &fc, 0, NULL, last);
    s = drain(c, NULL);
    assert_int_equal(parse_stream(s, ev, 16), 1);
    free(s);
    ev_client_done(c, 1);
    ev_hub_free(h);
}

/* Clients connect with a Last-Event-ID while a publisher runs: each must see every id after
 * its cursor exactly once and in order (the replay/live hand-off has no gap or repeat). */
typedef struct {
    ev_hub *h;
    int count;
} pub_arg;

static void *publisher(void *arg)
{
    pub_arg *p = arg;
    for (int i = 0; i < p->count; i++) {
        json_t *d = json_pack("{s:i}", "seq", i);
        ev_publish(p->h, EV_JOB_STATUS, d, NULL);
        json_decref(d);
    }
    return NULL;
}

static void test_hub_handoff_no_gap_no_duplicate(void **state)
{
    (void)state;
    ev_options o = test_options();
    o.history_size = 100000;
    ev_hub *h = ev_hub_create(&o);
    uint64_t first = pub(h, EV_JOB_STATUS, NULL, -1);
    pub_arg pa = {h, 20000};
    pthread_t t;
    pthread_create(&t, NULL, publisher, &pa);
    enum { NC = 30 };
    ev_client *cs[NC];
    uint64_t cursor[NC];
    fake_conn fc = {0};
    for (int i = 0; i < NC; i++) {
        /* Cursor: somewhere in what has been published so far. */
        json_t *st = ev_hub_stats(h, 0);
        uint64_t head = (uint64_t)json_integer_value(json_object_get(st, "last_event_id"));
        json_decref(st);
        cursor[i] = first + (head - first) * (uint64_t)i / NC;
        char last[32];
        snprintf(last, sizeof(last), "%llu", (unsigned long long)cursor[i]);
        cs[i] = connect_client(h, &fc, 0, NULL, last);
    }
    pthread_join(t, NULL);
    uint64_t head = first + (uint64_t)pa.count;
    for (int i = 0; i < NC; i++) {
        char *s = drain(cs[i], NULL);
        uint64_t expect = cursor[i] + 1;
        /* A plain scan: strstr from each match is quadratic under ASan's interceptor. */
        for (const char *p = s; *p; p++) {
            if (p[0] != '\n' || strncmp(p + 1, "id: ", 4) != 0) continue;
            uint64_t id = strtoull(p + 5, NULL, 10);
            assert_int_equal(id, expect);
            expect++;
        }
        assert_int_equal(expect, head + 1);
        free(s);
        ev_client_done(cs[i], 1);
    }
    ev_hub_free(h);
}

static void test_hub_slow_client_dropped(void **state)
{
    (void)state;
    ev_options o = test_options();
    o.queue_events = 10;
    ev_hub *h = ev_hub_create(&o);
    fake_conn slow = {0}, fast = {0};
    ev_client *s = connect_client(h, &slow, 0, NULL, NULL);
    ev_client *f = connect_client(h, &fast, 0, NULL, NULL);
    int got = 0;
    parsed ev[16];
    for (int i = 0; i < 50; i++) {
        pub(h, EV_JOB_STATUS, NULL, i);
        char *txt = drain(f, NULL);
        got += parse_stream(txt, ev, 16);
        free(txt);
    }
    assert_int_equal(got, 51); /* connected + 50: the fast reader lost nothing */
    assert_int_equal(atomic_load(&slow.aborts), 1);
    assert_int_equal(atomic_load(&fast.aborts), 0);
    long rc = 0;
    char *txt = drain(s, &rc);
    assert_int_equal(rc, -2); /* the connection is to be cut */
    free(txt);
    json_t *st = ev_hub_stats(h, 1);
    assert_int_equal(json_integer_value(json_object_get(st, "connected_clients")), 1);
    json_t *dr = json_object_get(st, "disconnect_reasons");
    assert_int_equal(json_integer_value(json_object_get(dr, "queue_overflow")), 1);
    json_decref(st);
    /* The byte bound drops too. */
    o.queue_events = 1000;
    o.queue_bytes = 4096;
    ev_hub *h2 = ev_hub_create(&o);
    fake_conn b = {0};
    ev_client *bc = connect_client(h2, &b, 0, NULL, NULL);
    for (int i = 0; i < 100 && !atomic_load(&b.aborts); i++)
        pub(h2, EV_JOB_STATUS, NULL, i);
    assert_int_equal(atomic_load(&b.aborts), 1);
    ev_client_done(bc, 0);
    ev_hub_free(h2);
    ev_client_done(s, 0);
    ev_client_done(f, 1);
    ev_hub_free(h);
}

static void test_hub_limits_disconnect_pong(void **state)
{
    (void)state;
    ev_options o = test_options();
    o.max_clients = 3;
    o.max_clients_per_ip = 2;
    ev_hub *h = ev_hub_create(&o);
    fake_conn fc = {0};
    ev_sink sink = {fake_wake, fake_abort, &fc, -1};
    ev_client *c[4] = {0};
    ev_subscription a = {.ip = "1.1.1.1"}, b = {.ip = "2.2.2.2"}, x = {.ip = "3.3.3.3"};
    assert_int_equal(ev_hub_connect(h, &a, &sink, &c[0]), EV_OK);
    assert_int_equal(ev_hub_connect(h, &a, &sink, &c[1]), EV_OK);
    ev_client *no = NULL;
    assert_int_equal(ev_hub_connect(h, &a, &sink, &no), EV_LIMIT_IP);
    assert_int_equal(ev_hub_connect(h, &b, &sink, &c[2]), EV_OK);
    assert_int_equal(ev_hub_connect(h, &x, &sink, &no), EV_LIMIT_TOTAL);
    assert_null(no);

    /* Disconnect by id: the stream ends at once (queued bytes dropped, clean end). */
    assert_int_equal(ev_hub_disconnect(h, ev_client_id(c[0])), 0);
    assert_int_equal(ev_hub_disconnect(h, "unknown"), -1);
    char buf[64];
    assert_int_equal(ev_client_read(c[0], buf, sizeof(buf)), -1);
    assert_int_equal(ev_hub_connect(h, &a, &sink, &c[3]), EV_OK); /* the slot is free again */

    int matched = -1;
    assert_int_equal(ev_hub_pong(h, ev_client_id(c[1]), "whatever", &matched), 0);
    assert_int_equal(matched, 0); /* no ping outstanding */
    assert_int_equal(ev_hub_pong(h, "unknown", NULL, &matched), -1);
    json_t *st = ev_hub_stats(h, 1);
    json_t *cl = json_object_get(st, "clients");
    int seen_pong = 0;
    for (size_t i = 0; i < json_array_size(cl); i++)
        if (!json_is_null(json_object_get(json_array_get(cl, i), "last_pong"))) seen_pong++;
    assert_int_equal(seen_pong, 1);
    json_decref(st);
    for (int i = 0; i < 4; i++)
        ev_client_done(c[i], 1);
    ev_hub_free(h);
}

static void test_hub_shutdown_ends_streams(void **state)
{
    (void)state;
    ev_options o = test_options();
    ev_hub *h = ev_hub_create(&o);
    assert_int_equal(ev_hub_start(h), 0);
    fake_conn fc = {0};
    ev_client *c = connect_client(h, &fc, 0, NULL, NULL);
    free(drain(c, NULL));
    ev_hub_shutdown(h);
    long rc = 0;
    char *s = drain(c, &rc);
    assert_non_null(strstr(s, "retry: "));
    assert_int_equal(rc, -1);
    free(s);
    ev_client *no = NULL;
    ev_subscription sub = {.ip = "x"};
    ev_sink sink = {fake_wake, fake_abort, &fc, -1};
    assert_int_equal(ev_hub_connect(h, &sub, &sink, &no), EV_CLOSED);
    ev_client_done(c, 1);
    ev_hub_free(h);
}

/* ---------------------------------------------------------------------------- zombies */

static void test_zombie_rules(void **state)
{
    (void)state;
    ev_zombie_rules r = {3, 3, 10, 120, 90};
    ev_zombie_input ok = {.now = 1000, .last_activity = 1000};
    assert_null(ev_zombie_reason(&ok, &r));

    ev_zombie_input in = ok;
    in.write_errors = 4;
    assert_string_equal(ev_zombie_reason(&in, &r), "write_errors");
    in.write_errors = 3;
    assert_null(ev_zombie_reason(&in, &r));

    in = ok;
    in.queue_full_count = 10;
    assert_null(ev_zombie_reason(&in, &r)); /* the queue has drained since */
    in.queue_high = 1;
    assert_string_equal(ev_zombie_reason(&in, &r), "queue_consistently_full");

    in = ok;
    in.last_activity = 1000 - 121;
    assert_string_equal(ev_zombie_reason(&in, &r), "timeout");

    /* A plain EventSource never pongs: with a healthy socket it is no zombie, however many
     * pings went unanswered. */
    in = ok;
    in.first_ping_at = 1000 - 500;
    in.missed_pings = 15;
    assert_null(ev_zombie_reason(&in, &r));
    /* A client that did pong and then stopped is one. */
    in.last_pong_at = 1000 - 400;
    assert_string_equal(ev_zombie_reason(&in, &r), "missed_pings");
    in.missed_pings = 3;
    assert_null(ev_zombie_reason(&in, &r));
    /* A never-ponging client whose socket stalls: no pong within 90 s of the first ping. */
    in = ok;
    in.first_ping_at = 1000 - 91;
    in.write_errors = 1;
    assert_string_equal(ev_zombie_reason(&in, &r), "no_pong_response");
    in.first_ping_at = 1000 - 89;
    assert_null(ev_zombie_reason(&in, &r));
}

/* ---------------------------------------------------------------------------- producers */

static json_int_t stat_of(ev_hub *h, const char *key)
{
    json_t *st = ev_hub_stats(h, 0);
    json_int_t v = json_integer_value(json_object_get(st, key));
    json_decref(st);
    return v;
}

static void test_sample_and_named(void **state)
{
    (void)state;
    ev_options o = test_options();
    ev_hub *h = ev_hub_create(&o);
    json_t *d = json_pack("{s:f}", "cpu_percent", 1.5);
    ev_publish_sample(h, EV_SYSTEM_METRIC, d); /* nobody listens: nothing */
    fake_conn fc = {0};
    ev_client *c =
        connect_client(h, &fc, EV_MASK(EV_SYSTEM_METRIC) | EV_MASK(EV_JOB_STATUS), NULL, NULL);
    free(drain(c, NULL));
    json_int_t last = stat_of(h, "last_event_id");
    ev_publish_sample(h, EV_SYSTEM_METRIC, d);
    json_decref(d);
    char *s = drain(c, NULL);
    assert_non_null(strstr(s, "event: system_metric\ndata: {\"timestamp\":"));
    assert_null(strstr(s, "id: ")); /* unnumbered: the cursor does not move */
    free(s);
    assert_int_equal(stat_of(h, "last_event_id"), last);
    assert_int_equal(stat_of(h, "event_history_size"), 0);

    /* lineage's publisher shape: a known name publishes, an unknown one is ignored. */
    json_t *js = json_pack("{s:s, s:s, s:i}", "job_name", "j", "status", "running", "progress", 10);
    ev_publish_named(h, "job_status", js);
    ev_publish_named(h, "no_such_type", js);
    json_decref(js);
    s = drain(c, NULL);
    parsed ev[4];
    assert_int_equal(parse_stream(s, ev, 4), 1);
    assert_string_equal(ev[0].event, "job_status");
    assert_true(strtoull(ev[0].id, NULL, 10) == (uint64_t)last + 1);
    free(s);
    ev_client_done(c, 1);
    ev_hub_free(h);
}

static int utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = *p < 0x80 ? 0 : (*p & 0xE0) == 0xC0 ? 1 : (*p & 0xF0) == 0xE0 ? 2 : 3;
        if (*p >= 0x80 && (*p & 0xC0) == 0x80) return 0;
        p++;
        for (int i = 0; i < n; i++, p++)
            if ((*p & 0xC0) != 0x80) return 0;
    }
    return 1;
}

static void test_relay_roundtrip(void **state)
{
    (void)state;
    ev_options o = test_options();
    ev_hub *a = ev_hub_create(&o), *b = ev_hub_create(&o);
    ev_relay_conf conf = {.scope = "public"};
    ev_relay *ra = ev_relay_create(a, &conf), *rb = ev_relay_create(b, &conf);
    assert_non_null(ra);
    assert_string_equal(ev_relay_channel(ra), ev_relay_channel(rb));
    ev_relay_conf other = {.scope = "other"};
    ev_relay *rx = ev_relay_create(b, &other);
    assert_string_not_equal(ev_relay_channel(ra), ev_relay_channel(rx));
    ev_relay_stop(rx);
    ev_hub_set_forward(a, ev_relay_forward, ra);

    fake_conn fc = {0};
    ev_client *cb = connect_client(b, &fc, 0, NULL, NULL);
    free(drain(cb, NULL));

    /* A small event, a large multi-byte one (several NOTIFY parts), a targeted one. */
    pub(a, EV_JOB_STATUS, "first", 1);
    size_t bl = 30000;
    char *blob = malloc(bl + 1);
    for (size_t i = 0; i < bl; i += 3)
        memcpy(blob + i, "\xe2\x82\xac", 3); /* the euro sign */
    blob[bl] = 0;
    json_t *d = json_pack("{s:s, s:s}", "job_name", "big", "blob", blob);
    assert_true(ev_publish(a, EV_LINEAGE_EVENT, d, NULL) > 0);
    json_decref(d);
    const char *ids[1] = {ev_client_id(cb)};
    size_t delivered = 9;
    d = json_pack("{s:s}", "message", "for b");
    assert_true(ev_publish_to(a, EV_ERROR, d, ids, 1, &delivered) > 0);
    json_decref(d);
    assert_int_equal(delivered, 0);               /* not a client of A */
    ev_publish_sample(a, EV_SYSTEM_METRIC, NULL); /* samples stay local */

    char **p = NULL;
    size_t n = ev_relay_take_payloads(ra, &p);
    assert_true(n >= 6); /* 1 + at least 4 parts of 90 KB of text + 1 */
    for (size_t i = 0; i < n; i++) {
        assert_true(strlen(p[i]) < 8000);
        assert_true(utf8_valid(p[i]));
    }
    /* Echo: A ignores its own. */
    json_int_t pub_a = stat_of(a, "events_published");
    for (size_t i = 0; i < n; i++)
        ev_relay_deliver(ra, p[i]);
    assert_int_equal(stat_of(a, "events_published"), pub_a);
    /* B republishes all three, in order, with its own ids; twice is once. */
    for (int round = 0; round < 2; round++)
        for (size_t i = 0; i < n; i++)
            ev_relay_deliver(rb, p[i]);
    char *s = drain(cb, NULL);
    static parsed ev[8];
    assert_int_equal(parse_stream(s, ev, 8), 3);
    assert_string_equal(ev[0].event, "job_status");
    assert_string_equal(ev[1].event, "lineage_event");
    assert_string_equal(ev[2].event, "error");
    assert_non_null(strstr(s, "\"message\":\"for b\""));
    assert_non_null(strstr(s, blob));
    assert_true(strtoull(ev[1].id, NULL, 10) == strtoull(ev[0].id, NULL, 10) + 1);
    free(s);
    json_t *st = ev_relay_stats(rb);
    assert_int_equal(json_integer_value(json_object_get(st, "received")), 3);
    assert_int_equal(json_integer_value(json_object_get(st, "duplicates")), 3);
    assert_int_equal(json_integer_value(json_object_get(st, "gaps")), 0);
    json_decref(st);
    st = ev_relay_stats(ra);
    assert_int_equal(json_integer_value(json_object_get(st, "echo_ignored")), 3);
    json_decref(st);
    for (size_t i = 0; i < n; i++)
        free(p[i]);
    free(p);
    free(blob);
    ev_hub_set_forward(a, NULL, NULL);
    ev_relay_stop(ra);
    ev_relay_stop(rb);
    ev_client_done(cb, 1);
    ev_hub_free(a);
    ev_hub_free(b);
}

/* Waits (bounded) until fc has at least n wakes. */
static int wait_wakes(fake_conn *fc, int n)
{
    for (int i = 0; i < 400 && atomic_load(&fc->wakes) < n; i++) {
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return atomic_load(&fc->wakes);
}

/* With the hub started, wakes come from the waker thread, outside the hub lock: one per
 * empty-to-not-empty transition however many events were queued, and never after
 * ev_client_done returned (the waker may still hold the client then). */
static void test_hub_waker_coalesces_and_respects_done(void **state)
{
    (void)state;
    enum { N = 20 };
    ev_options o = test_options();
    ev_hub *h = ev_hub_create(&o);
    assert_int_equal(ev_hub_start(h), 0);
    fake_conn slow = {0}, fc[N];
    memset(fc, 0, sizeof(fc));
    ev_subscription sub = {.ip = "10.0.0.2"};
    ev_sink ss = {slow_wake, fake_abort, &slow, -1};
    ev_client *cs = NULL, *c[N];
    assert_int_equal(ev_hub_connect(h, &sub, &ss, &cs), EV_OK);
    for (int i = 0; i < N; i++)
        c[i] = connect_client(h, &fc[i], 0, NULL, NULL);
    /* The hello frames made every queue non-empty: one wake each, asynchronously. */
    for (int i = 0; i < N; i++)
        assert_int_equal(wait_wakes(&fc[i], 1), 1);
    assert_int_equal(wait_wakes(&slow, 1), 1);
    for (int i = 0; i < N; i++)
        free(drain(c[i], NULL));
    free(drain(cs, NULL));

    /* Many events, nobody reading: exactly one more wake per client. */
    for (int k = 0; k < 10; k++)
        pub(h, EV_JOB_STATUS, "j", k);
    for (int i = 0; i < N; i++)
        assert_int_equal(wait_wakes(&fc[i], 2), 2);
    char *s = drain(c[0], NULL);
    parsed ev[16];
    assert_int_equal(parse_stream(s, ev, 16), 10);
    free(s);
    json_t *st = ev_hub_stats(h, 0);
    assert_true(json_integer_value(json_object_get(st, "wakes")) >= 2 * (N + 1));
    json_decref(st);

    /* The slow connection first in the batch, then the others end while it is woken. */
    free(drain(cs, NULL));
    for (int i = 0; i < N; i++)
        free(drain(c[i], NULL));
    pub(h, EV_JOB_STATUS, "j", 99);
    for (int i = 0; i < N; i++) {
        ev_client_done(c[i], 1);
        atomic_store(&fc[i].dead, 1);
    }
    wait_wakes(&slow, 3);
    struct timespec ts = {0, 50 * 1000000L};
    nanosleep(&ts, NULL);
    for (int i = 0; i < N; i++)
        assert_int_equal(atomic_load(&fc[i].late), 0);
    ev_client_done(cs, 1);
    ev_hub_free(h);
}

/* ---------------------------------------------------------------------------- direct writes */

/* Reads what the peer end of a socket holds, waiting up to ms for the first byte and until
 * it stays quiet for 50 ms; appends to *buf (NUL-terminated). */
static void read_socket(int fd, char **buf, size_t *len, size_t *cap, int ms)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, ms) <= 0) return;
        ms = 50;
        if (*cap - *len < 65536) *buf = realloc(*buf, *cap = *cap * 2 + 65536);
        ssize_t n = read(fd, *buf + *len, *cap - *len - 1);
        if (n <= 0) return;
        *len += (size_t)n;
        (*buf)[*len] = 0;
    }
}

/* Decodes HTTP/1.1 chunks; -1 on a framing error, else the body's length (in out, NUL-
 * terminated) with *whole set when the input ends at a chunk boundary. */
static long dechunk(const char *in, size_t len, char *out, int *whole)
{
    size_t i = 0, o = 0;
    *whole = 1;
    while (i < len) {
        char *end;
        unsigned long n = strtoul(in + i, &end, 16);
        size_t hdr = (size_t)(end - (in + i));
        if (!hdr || (size_t)(end - in) + 2 > len) return *whole = 0, (long)o;
        if (end[0] != '\r' || end[1] != '\n' || n == 0) return -1;
        i += hdr + 2;
        if (i + n + 2 > len) {
            *whole = 0;
            return (long)o;
        }
        memcpy(out + o, in + i, n);
        o += n;
        i += n;
        if (in[i] != '\r' || in[i + 1] != '\n') return -1;
        i += 2;
    }
    out[o] = 0;
    return (long)o;
}

/* A parked stream handed to the hub: frames go to the socket as HTTP/1.1 chunks from the
 * fan-out thread, a socket that cannot take them all waits for room (nothing lost, nothing
 * reordered), a deleted stream is handed back at a chunk boundary, and a peer that hung up
 * is cut and counted as closed. */
static void test_hub_direct_writes(void **state)
{
    (void)state;
    ev_options o = test_options();
    ev_hub *h = ev_hub_create(&o);
    assert_int_equal(ev_hub_start(h), 0);
    int sv[2], sv2[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv2), 0);
    int small = 4096; /* so that a burst fills the socket */
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    fake_conn fc = {0}, fc2 = {0};
    ev_subscription sub = {.ip = "10.0.0.3"};
    ev_sink sink = {fake_wake, fake_abort, &fc, sv[0]},
            sink2 = {fake_wake, fake_abort, &fc2, sv2[0]};
    ev_client *c = NULL, *c2 = NULL;
    assert_int_equal(ev_hub_connect(h, &sub, &sink, &c), EV_OK);
    assert_int_equal(ev_hub_connect(h, &sub, &sink2, &c2), EV_OK);
    /* Not while bytes wait for the HTTP server's read. */
    assert_int_equal(ev_client_park(c), -1);
    free(drain(c, NULL));
    free(drain(c2, NULL));
    assert_int_equal(ev_client_park(c), 1);
    assert_int_equal(ev_client_park(c2), 1);
    char tmp[64];
    assert_int_equal(ev_client_read(c, tmp, sizeof(tmp)), -3);

    /* A burst far above the socket's buffer, read only afterwards. */
    enum { N = 3000 };
    uint64_t first = 0;
    for (int i = 0; i < N; i++) {
        uint64_t id = pub(h, EV_JOB_STATUS, "j", i);
        if (!first) first = id;
    }
    size_t len = 0, cap = 0;
    char *raw = NULL;
    read_socket(sv[1], &raw, &len, &cap, 2000);
    for (int k = 0; k < 100; k++) { /* until the fan-out thread has written it all */
        json_t *st = ev_hub_stats(h, 1), *cl;
        size_t i;
        int empty = 0;
        json_array_foreach(json_object_get(st, "clients"), i, cl)
        {
            if (strcmp(json_string_value(json_object_get(cl, "client_id")), ev_client_id(c)) == 0)
                empty = json_integer_value(json_object_get(cl, "queue_size")) == 0;
        }
        json_decref(st);
        read_socket(sv[1], &raw, &len, &cap, 20);
        if (empty) break;
    }
    read_socket(sv[1], &raw, &len, &cap, 100); /* the last chunk's CRLF */
    char *body = malloc(len + 1);
    int whole = 0;
    assert_true(dechunk(raw, len, body, &whole) > 0);
    assert_true(whole);
    parsed *ev = calloc(N, sizeof(*ev));
    assert_int_equal(parse_stream(body, ev, N), N);
    for (int i = 0; i < N; i++) {
        char want[32];
        snprintf(want, sizeof(want), "%llu", (unsigned long long)(first + (uint64_t)i));
        assert_string_equal(ev[i].id, want);
    }
    json_t *st = ev_hub_stats(h, 0);
    json_t *dw = json_object_get(st, "direct_writes");
    assert_int_equal(json_integer_value(json_object_get(dw, "streams")), 2);
    assert_true(json_integer_value(json_object_get(dw, "blocked")) > 0);
    json_decref(st);

    /* Deleted: handed back (a wake) at a chunk boundary; the server's read then ends it. */
    int wakes = atomic_load(&fc.wakes);
    assert_int_equal(ev_hub_disconnect(h, ev_client_id(c)), 0);
    assert_int_equal(wait_wakes(&fc, wakes + 1), wakes + 1);
    long rc = 0;
    free(drain(c, &rc));
    assert_int_equal(rc, -1);

    /* The peer hung up: the next write fails, the stream is cut and counted as closed. */
    close(sv2[1]);
    pub(h, EV_JOB_STATUS, "j", -1);
    for (int i = 0; i < 400 && !atomic_load(&fc2.aborts); i++) {
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(atomic_load(&fc2.aborts), 1);
    assert_int_equal(ev_client_read(c2, tmp, sizeof(tmp)), -2);
    st = ev_hub_stats(h, 0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "disconnect_reasons"),
                                                        "client_closed")),
                     1);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(st, "direct_writes"), "streams")), 0);
    json_decref(st);
    ev_client_done(c, 1);
    ev_client_done(c2, 0);
    ev_hub_free(h);
    free(ev);
    free(body);
    free(raw);
    close(sv[0]);
    close(sv[1]);
    close(sv2[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_exact_bytes),
        cmocka_unit_test(test_frame_multiline_data),
        cmocka_unit_test(test_frame_no_field_injection),
        cmocka_unit_test(test_envelope),
        cmocka_unit_test(test_queue_partial_reads),
        cmocka_unit_test(test_hub_connect_and_publish),
        cmocka_unit_test(test_hub_filters),
        cmocka_unit_test(test_hub_replay_and_reset),
        cmocka_unit_test(test_hub_handoff_no_gap_no_duplicate),
        cmocka_unit_test(test_hub_slow_client_dropped),
        cmocka_unit_test(test_hub_waker_coalesces_and_respects_done),
        cmocka_unit_test(test_hub_direct_writes),
        cmocka_unit_test(test_hub_limits_disconnect_pong),
        cmocka_unit_test(test_hub_shutdown_ends_streams),
        cmocka_unit_test(test_zombie_rules),
        cmocka_unit_test(test_sample_and_named),
        cmocka_unit_test(test_relay_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
