#include "perf.h"

#include "loghist.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    /* The 5-second period this slot holds; a recorder that finds an older one claims the
     * slot with a compare-and-swap and clears it. A sample racing with the clear may be lost:
     * the figures are statistics, not accounting. */
    atomic_uint_fast64_t epoch;
    atomic_uint_fast32_t count, errors;
    atomic_uint_fast64_t sum_ns, max_ns;
    _Atomic uint32_t buckets[LOGHIST_N];
} slot_t;

struct perf_track {
    char *name;
    slot_t slots[PERF_SLOTS];
};

perf_track *perf_track_new(const char *name)
{
    perf_track *t = calloc(1, sizeof(*t));
    if (!t) return NULL;
    t->name = strdup(name);
    if (!t->name) {
        free(t);
        return NULL;
    }
    /* Epoch 0 is "empty"; real epochs start at 1 (see record). */
    return t;
}

void perf_track_free(perf_track *t)
{
    if (!t) return;
    free(t->name);
    free(t);
}

const char *perf_track_name(const perf_track *t)
{
    return t->name;
}

static void slot_clear(slot_t *s)
{
    atomic_store_explicit(&s->count, 0, memory_order_relaxed);
    atomic_store_explicit(&s->errors, 0, memory_order_relaxed);
    atomic_store_explicit(&s->sum_ns, 0, memory_order_relaxed);
    atomic_store_explicit(&s->max_ns, 0, memory_order_relaxed);
    for (int i = 0; i < LOGHIST_N; i++)
        atomic_store_explicit(&s->buckets[i], 0, memory_order_relaxed);
}

void perf_track_record(perf_track *t, uint64_t now_s, uint64_t ns, int is_error)
{
    if (!t) return;
    uint64_t epoch = now_s / PERF_SLOT_SECONDS + 1;
    slot_t *s = &t->slots[epoch % PERF_SLOTS];
    uint_fast64_t e = atomic_load_explicit(&s->epoch, memory_order_acquire);
    if (e != epoch) {
        if (e > epoch) return; /* a stale clock read on a slow thread: drop the sample */
        if (atomic_compare_exchange_strong(&s->epoch, &e, epoch))
            slot_clear(s);
        else if (e != epoch)
            return;
    }
    atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
    if (is_error) atomic_fetch_add_explicit(&s->errors, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->sum_ns, ns, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->buckets[loghist_index(ns)], 1, memory_order_relaxed);
    uint_fast64_t m = atomic_load_explicit(&s->max_ns, memory_order_relaxed);
    while (ns > m && !atomic_compare_exchange_weak_explicit(
                         &s->max_ns, &m, ns, memory_order_relaxed, memory_order_relaxed)) {
    }
}

void perf_summary_of(const perf_track *const *tracks, int n, int nslots, uint64_t now_s,
                     uint64_t started_s, perf_summary *out)
{
    memset(out, 0, sizeof(*out));
    if (nslots < 1 || nslots > PERF_SLOTS) nslots = PERF_SLOTS;
    uint64_t now_epoch = now_s / PERF_SLOT_SECONDS + 1;
    uint64_t oldest = now_epoch >= (uint64_t)nslots ? now_epoch - (uint64_t)nslots + 1 : 1;
    uint32_t counts[LOGHIST_N];
    memset(counts, 0, sizeof(counts));
    uint64_t sum = 0, max = 0;
    for (int k = 0; k < n; k++) {
        for (int i = 0; i < PERF_SLOTS; i++) {
            slot_t *s = (slot_t *)&tracks[k]->slots[i];
            uint64_t e = atomic_load_explicit(&s->epoch, memory_order_acquire);
            if (e < oldest || e > now_epoch) continue;
            out->count += atomic_load_explicit(&s->count, memory_order_relaxed);
            out->errors += atomic_load_explicit(&s->errors, memory_order_relaxed);
            sum += atomic_load_explicit(&s->sum_ns, memory_order_relaxed);
            uint64_t m = atomic_load_explicit(&s->max_ns, memory_order_relaxed);
            if (m > max) max = m;
            for (int b = 0; b < LOGHIST_N; b++)
                counts[b] += atomic_load_explicit(&s->buckets[b], memory_order_relaxed);
        }
    }
    /* The window ends now and starts at the oldest slot kept, or when tracking began. */
    double span = (double)(now_s - (oldest - 1) * PERF_SLOT_SECONDS) + 1.0;
    double since_start = now_s >= started_s ? (double)(now_s - started_s) + 1.0 : 1.0;
    if (since_start < span) span = since_start;
    out->window_seconds = span;
    if (out->count) {
        out->rps = (double)out->count / span;
        out->avg_ms = (double)sum / (double)out->count / 1e6;
        out->max_ms = (double)max / 1e6;
        out->p50_ms = loghist_quantile(counts, 0.50) / 1e6;
        out->p95_ms = loghist_quantile(counts, 0.95) / 1e6;
        out->p99_ms = loghist_quantile(counts, 0.99) / 1e6;
        /* A bucket midpoint can exceed the largest value seen: never report above it. */
        if (out->p50_ms > out->max_ms) out->p50_ms = out->max_ms;
        if (out->p95_ms > out->max_ms) out->p95_ms = out->max_ms;
        if (out->p99_ms > out->max_ms) out->p99_ms = out->max_ms;
    }
}

void perf_track_summary(const perf_track *t, uint64_t now_s, uint64_t started_s, perf_summary *out)
{
    perf_summary_of(&t, 1, PERF_SLOTS, now_s, started_s, out);
}

uint64_t perf_track_count(const perf_track *t, uint64_t now_s)
{
    uint64_t now_epoch = now_s / PERF_SLOT_SECONDS + 1, n = 0;
    uint64_t oldest = now_epoch >= PERF_SLOTS ? now_epoch - PERF_SLOTS + 1 : 1;
    for (int i = 0; i < PERF_SLOTS; i++) {
        uint64_t e = atomic_load_explicit(&t->slots[i].epoch, memory_order_acquire);
        if (e >= oldest && e <= now_epoch)
            n += atomic_load_explicit(&t->slots[i].count, memory_order_relaxed);
    }
    return n;
}

json_t *perf_summary_json(const char *name, const perf_summary *s)
{
    return json_pack("{s:s, s:I, s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "name", name,
                     "count", (json_int_t)s->count, "errors", (json_int_t)s->errors, "error_rate",
                     s->count ? (double)s->errors / (double)s->count : 0.0, "requests_per_second",
                     s->rps, "avg_ms", s->avg_ms, "max_ms", s->max_ms, "p50_ms", s->p50_ms,
                     "p95_ms", s->p95_ms, "p99_ms", s->p99_ms, "window_seconds", s->window_seconds);
}
