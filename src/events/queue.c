#include "queue.h"

#include "obs/mem_account.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Bytes waiting in client queues, for /metrics/memory. Frames are shared between clients, so
 * this counts what the queues would hold if each had its own copy: the backlog, not the heap. */
static void account(int64_t delta)
{
    static _Atomic(obs_mem_slot *) slot;
    obs_mem_slot *s = atomic_load_explicit(&slot, memory_order_relaxed);
    if (!s) {
        s = obs_mem_slot_get("sse_client_queues");
        atomic_store_explicit(&slot, s, memory_order_relaxed);
    }
    if (s)
        obs_mem_slot_add(s, delta);
    else
        obs_mem_add("sse_client_queues", delta);
}

void ev_queue_init(ev_queue *q)
{
    memset(q, 0, sizeof(*q));
}

static int grow(ev_queue *q)
{
    size_t cap = q->cap ? q->cap * 2 : 8;
    ev_frame **r = malloc(cap * sizeof(*r));
    if (!r) return -1;
    for (size_t i = 0; i < q->count; i++)
        r[i] = q->ring[(q->head + i) % q->cap];
    free(q->ring);
    q->ring = r;
    q->cap = cap;
    q->head = 0;
    return 0;
}

int ev_queue_push(ev_queue *q, ev_frame *f)
{
    if (q->count == q->cap && grow(q)) {
        ev_frame_unref(f);
        return -1;
    }
    q->ring[(q->head + q->count) % q->cap] = f;
    q->count++;
    q->bytes += f->len;
    account((int64_t)f->len);
    return 0;
}

size_t ev_queue_read(ev_queue *q, char *out, size_t max)
{
    double ts;
    return ev_queue_read_ts(q, out, max, &ts);
}

size_t ev_queue_read_ts(ev_queue *q, char *out, size_t max, double *ts)
{
    size_t n = 0;
    while (q->count && n < max) {
        const ev_frame *f = q->ring[q->head];
        size_t take = f->len - q->offset;
        if (take > max - n) take = max - n;
        memcpy(out + n, f->text + q->offset, take);
        n += take;
        ev_queue_consume(q, take, ts);
    }
    return n;
}

size_t ev_queue_iov(const ev_queue *q, struct iovec *iov, int niov, size_t max, int *used)
{
    size_t n = 0, off = q->offset;
    int k = 0;
    for (size_t i = 0; i < q->count && k < niov && n < max; i++, off = 0) {
        const ev_frame *f = q->ring[(q->head + i) % q->cap];
        size_t take = f->len - off;
        if (take > max - n) take = max - n;
        iov[k].iov_base = (char *)f->text + off;
        iov[k++].iov_len = take;
        n += take;
    }
    *used = k;
    return n;
}

void ev_queue_consume(ev_queue *q, size_t n, double *ts)
{
    while (n && q->count) {
        ev_frame *f = q->ring[q->head];
        size_t take = f->len - q->offset;
        if (take > n) take = n;
        n -= take;
        q->offset += take;
        q->bytes -= take;
        account(-(int64_t)take);
        if (q->offset == f->len) {
            if (f->id) *ts = f->ts;
            ev_frame_unref(f);
            q->head = (q->head + 1) % q->cap;
            q->count--;
            q->offset = 0;
        }
    }
}

void ev_queue_clear(ev_queue *q)
{
    if (q->bytes) account(-(int64_t)q->bytes);
    while (q->count) {
        ev_frame_unref(q->ring[q->head]);
        q->head = (q->head + 1) % q->cap;
        q->count--;
    }
    q->head = q->offset = q->bytes = 0;
}

void ev_queue_free(ev_queue *q)
{
    ev_queue_clear(q);
    free(q->ring);
    memset(q, 0, sizeof(*q));
}
