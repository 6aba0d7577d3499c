#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FAMILIES 160
#define MAX_HOOKS    32

typedef enum { K_COUNTER, K_GAUGE, K_HISTOGRAM } kind_t;

/* Values are split in per-thread shards, each on its own cache line, so that the HTTP threads
 * updating the same series do not fight over one line; a render sums the shards. */
typedef struct {
    _Alignas(64) atomic_uint_fast64_t n;
    atomic_uint_fast64_t f;
} shard_t;

/* Zeroed memory on a cache-line boundary (calloc only promises 16 bytes). */
static void *zalloc64(size_t n)
{
    n = (n + 63) / 64 * 64;
    void *p = aligned_alloc(64, n);
    if (p) memset(p, 0, n);
    return p;
}

struct obs_series {
    struct obs_series *next; /* written before publication, under the family lock */
    const struct obs_family *fam;
    char *values[OBS_MAX_LABELS];
    /* Counter: integer part n plus fractional part (double bits) f, per shard. Gauge: double
     * bits in shard 0's f (a gauge is set, not summed). Histogram: count n and sum f per shard,
     * and per shard a row of bucket counts (not cumulative; the last is +Inf). */
    shard_t sh[OBS_SHARDS];
    atomic_uint_fast64_t *buckets; /* OBS_SHARDS rows of stride entries */
};

struct obs_family {
    kind_t kind;
    char *name, *help;
    int nlabels;
    char *labels[OBS_MAX_LABELS];
    double *bounds;
    int nbounds;
    int stride;           /* bucket row length, rounded up to whole cache lines */
    pthread_mutex_t lock; /* series list */
    obs_series *series, *tail;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER; /* families and hooks */
static obs_family *g_families[MAX_FAMILIES];
static int g_nfamilies;
typedef struct {
    obs_scrape_fn fn;
    void *ctx;
} hook_t;
static hook_t g_hooks[MAX_HOOKS];
static int g_nhooks;

static const double default_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,    0.25,  0.5,    1,     2.5,  5,     10};

/* ------------------------------------------------------------------------ atomic doubles */

static double bits_to_d(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof(d));
    return d;
}

static uint64_t d_to_bits(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof(b));
    return b;
}

static void atomic_add_double(atomic_uint_fast64_t *a, double v)
{
    uint_fast64_t old = atomic_load_explicit(a, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(a, &old, d_to_bits(bits_to_d(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}

/* ------------------------------------------------------------------------- registration */

static int name_ok(const char *s, int allow_colon)
{
    if (!s || !*s) return 0;
    for (const char *p = s; *p; p++) {
        int alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
                    (allow_colon && *p == ':');
        if (!alpha && !(p > s && *p >= '0' && *p <= '9')) return 0;
    }
    return 1;
}

static void family_free(obs_family *f)
{
    if (!f) return;
    for (obs_series *s = f->series, *next; s; s = next) {
        next = s->next;
        for (int i = 0; i < f->nlabels; i++)
            free(s->values[i]);
        free(s->buckets);
        free(s);
    }
    for (int i = 0; i < f->nlabels; i++)
        free(f->labels[i]);
    pthread_mutex_destroy(&f->lock);
    free(f->bounds);
    free(f->name);
    free(f->help);
    free(f);
}

static obs_family *family_new(kind_t kind, const char *name, const char *help, const char *labels,
                              const double *bounds, int nbounds)
{
    if (!name_ok(name, 1)) return NULL;
    obs_family *f = calloc(1, sizeof(*f));
    if (!f) return NULL;
    pthread_mutex_init(&f->lock, NULL);
    f->kind = kind;
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    if (!f->name || !f->help) goto fail;
    if (labels && *labels) {
        const char *p = labels;
        while (*p) {
            const char *comma = strchr(p, ',');
            size_t n = comma ? (size_t)(comma - p) : strlen(p);
            if (f->nlabels == OBS_MAX_LABELS) goto fail;
            f->labels[f->nlabels] = strndup(p, n);
            if (!f->labels[f->nlabels] || !name_ok(f->labels[f->nlabels], 0) ||
                strcmp(f->labels[f->nlabels], "le") == 0)
                goto fail_label;
            f->nlabels++;
            if (!comma) break;
            p = comma + 1;
        }
    }
    if (kind == K_HISTOGRAM) {
        if (!bounds) {
            bounds = default_bounds;
            nbounds = (int)(sizeof(default_bounds) / sizeof(default_bounds[0]));
        }
        f->bounds = malloc(sizeof(double) * (size_t)nbounds);
        if (!f->bounds) goto fail;
        for (int i = 0; i < nbounds; i++) {
            if (i && bounds[i] <= bounds[i - 1]) goto fail;
            f->bounds[i] = bounds[i];
        }
        f->nbounds = nbounds;
        f->stride = (nbounds + 1 + 7) / 8 * 8;
    }
    return f;
fail_label:
    free(f->labels[f->nlabels]);
fail:
    family_free(f);
    return NULL;
}

static obs_family *family_register(kind_t kind, const char *name, const char *help,
                                   const char *labels, const double *bounds, int nbounds)
{
    pthread_mutex_lock(&g_lock);
    obs_family *found = NULL;
    for (int i = 0; i < g_nfamilies; i++)
        if (strcmp(g_families[i]->name, name) == 0) found = g_families[i];
    if (found) {
        pthread_mutex_unlock(&g_lock);
        return found->kind == kind ? found : NULL;
    }
    obs_family *f = NULL;
    if (g_nfamilies < MAX_FAMILIES) f = family_new(kind, name, help, labels, bounds, nbounds);
    if (f) g_families[g_nfamilies++] = f;
    pthread_mutex_unlock(&g_lock);
    return f;
}

obs_family *obs_counter_family(const char *name, const char *help, const char *labels)
{
    return family_register(K_COUNTER, name, help, labels, NULL, 0);
}

obs_family *obs_gauge_family(const char *name, const char *help, const char *labels)
{
    return family_register(K_GAUGE, name, help, labels, NULL, 0);
}

obs_family *obs_histogram_family(const char *name, const char *help, const char *labels,
                                 const double *bounds, int nbounds)
{
    return family_register(K_HISTOGRAM, name, help, labels, bounds, nbounds);
}

obs_series *obs_series_get(obs_family *f, const char *const *values)
{
    if (!f) return NULL;
    pthread_mutex_lock(&f->lock);
    obs_series *s;
    for (s = f->series; s; s = s->next) {
        int same = 1;
        for (int i = 0; i < f->nlabels && same; i++)
            same = strcmp(s->values[i], values[i] ? values[i] : "") == 0;
        if (same) break;
    }
    if (!s && (s = zalloc64(sizeof(*s)))) {
        int ok = 1;
        s->fam = f;
        for (int i = 0; i < f->nlabels; i++)
            ok &= (s->values[i] = strdup(values[i] ? values[i] : "")) != NULL;
        if (ok && f->kind == K_HISTOGRAM)
            ok = (s->buckets = zalloc64((size_t)f->stride * OBS_SHARDS * sizeof(*s->buckets))) !=
                 NULL;
        if (!ok) {
            for (int i = 0; i < f->nlabels; i++)
                free(s->values[i]);
            free(s->buckets);
            free(s);
            s = NULL;
        } else {
            if (f->tail)
                f->tail->next = s;
            else
                f->series = s;
            f->tail = s;
        }
    }
    pthread_mutex_unlock(&f->lock);
    return s;
}

/* ------------------------------------------------------------------------------ updates */

int obs_thread_shard(void)
{
    static atomic_uint next;
    static _Thread_local int shard = -1;
    if (shard < 0) shard = (int)(atomic_fetch_add(&next, 1) % OBS_SHARDS);
    return shard;
}

void obs_counter_inc(obs_series *s)
{
    if (s) atomic_fetch_add_explicit(&s->sh[obs_thread_shard()].n, 1, memory_order_relaxed);
}

void obs_counter_add(obs_series *s, uint64_t n)
{
    if (s) atomic_fetch_add_explicit(&s->sh[obs_thread_shard()].n, n, memory_order_relaxed);
}

void obs_counter_addf(obs_series *s, double v)
{
    if (s && v > 0) atomic_add_double(&s->sh[obs_thread_shard()].f, v);
}

void obs_gauge_set(obs_series *s, double v)
{
    if (s) atomic_store_explicit(&s->sh[0].f, d_to_bits(v), memory_order_relaxed);
}

void obs_gauge_add(obs_series *s, double v)
{
    if (s) atomic_add_double(&s->sh[0].f, v);
}

void obs_hist_observe(obs_series *s, double v)
{
    if (!s || !s->buckets) return;
    const obs_family *f = s->fam;
    int i = 0;
    while (i < f->nbounds && v > f->bounds[i])
        i++;
    int k = obs_thread_shard();
    atomic_fetch_add_explicit(&s->buckets[k * f->stride + i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->sh[k].n, 1, memory_order_relaxed);
    atomic_add_double(&s->sh[k].f, v);
}

void obs_metrics_on_scrape(obs_scrape_fn fn, void *ctx)
{
    pthread_mutex_lock(&g_lock);
    if (g_nhooks < MAX_HOOKS) g_hooks[g_nhooks++] = (hook_t){fn, ctx};
    pthread_mutex_unlock(&g_lock);
}

/* ---------------------------------------------------------------------------- rendering */

int obs_escape_label(buf_t *out, const char *s)
{
    int rc = 0;
    for (const char *p = s; *p && !rc; p++) {
        if (*p == '\\')
            rc = buf_appends(out, "\\\\");
        else if (*p == '"')
            rc = buf_appends(out, "\\\"");
        else if (*p == '\n')
            rc = buf_appends(out, "\\n");
        else
            rc = buf_append(out, p, 1);
    }
    return rc;
}

int obs_escape_help(buf_t *out, const char *s)
{
    int rc = 0;
    for (const char *p = s; *p && !rc; p++) {
        if (*p == '\\')
            rc = buf_appends(out, "\\\\");
        else if (*p == '\n')
            rc = buf_appends(out, "\\n");
        else
            rc = buf_append(out, p, 1);
    }
    return rc;
}

void obs_format_value(char *dst, size_t len, double v)
{
    if (isnan(v))
        snprintf(dst, len, "NaN");
    else if (isinf(v))
        snprintf(dst, len, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 9.0e15)
        snprintf(dst, len, "%.0f", v);
    else {
        /* The shortest form that reads back as the same double: 0.0005, not 0.00050000000000000001.
         */
        for (int prec = 6; prec <= 17; prec++) {
            snprintf(dst, len, "%.*g", prec, v);
            if (strtod(dst, NULL) == v) break;
        }
    }
}

/* name{l1="v1",...,extra="x"} value\n */
static int sample(buf_t *out, const obs_family *f, const char *suffix, const obs_series *s,
                  const char *extra_name, const char *extra_val, double v)
{
    int rc = buf_appends(out, f->name) | buf_appends(out, suffix);
    if (f->nlabels || extra_name) {
        rc |= buf_appends(out, "{");
        for (int i = 0; i < f->nlabels; i++) {
            rc |= buf_printf(out, "%s%s=\"", i ? "," : "", f->labels[i]);
            rc |= obs_escape_label(out, s->values[i]);
            rc |= buf_appends(out, "\"");
        }
        if (extra_name)
            rc |= buf_printf(out, "%s%s=\"%s\"", f->nlabels ? "," : "", extra_name, extra_val);
        rc |= buf_appends(out, "}");
    }
    char num[64];
    obs_format_value(num, sizeof(num), v);
    rc |= buf_printf(out, " %s\n", num);
    return rc;
}

static int render_family(buf_t *out, obs_family *f)
{
    static const char *types[] = {"counter", "gauge", "histogram"};
    int rc = buf_printf(out, "# HELP %s ", f->name);
    rc |= obs_escape_help(out, f->help);
    rc |= buf_printf(out, "\n# TYPE %s %s\n", f->name, types[f->kind]);
    pthread_mutex_lock(&f->lock);
    for (const obs_series *s = f->series; s && !rc; s = s->next) {
        uint64_t n = 0;
        double fv = 0;
        for (int k = 0; k < OBS_SHARDS; k++) {
            n += atomic_load_explicit(&s->sh[k].n, memory_order_relaxed);
            fv += bits_to_d(atomic_load_explicit(&s->sh[k].f, memory_order_relaxed));
        }
        switch (f->kind) {
        case K_COUNTER:
            rc |= sample(out, f, "", s, NULL, NULL, (double)n + fv);
            break;
        case K_GAUGE:
            rc |= sample(out, f, "", s, NULL, NULL,
                         bits_to_d(atomic_load_explicit(&s->sh[0].f, memory_order_relaxed)));
            break;
        case K_HISTOGRAM: {
            /* Buckets are read one by one while others may add: make the cumulative counts
             * monotonic and +Inf equal to _count, as Prometheus requires. */
            uint64_t cum = 0;
            for (int i = 0; i <= f->nbounds; i++) {
                for (int k = 0; k < OBS_SHARDS; k++)
                    cum +=
                        atomic_load_explicit(&s->buckets[k * f->stride + i], memory_order_relaxed);
                char le[64];
                if (i == f->nbounds) {
                    if (n < cum) n = cum;
                    cum = n;
                    snprintf(le, sizeof(le), "+Inf");
                } else {
                    obs_format_value(le, sizeof(le), f->bounds[i]);
                }
                rc |= sample(out, f, "_bucket", s, "le", le, (double)cum);
            }
            rc |= sample(out, f, "_sum", s, NULL, NULL, fv);
            rc |= sample(out, f, "_count", s, NULL, NULL, (double)n);
            break;
        }
        }
    }
    pthread_mutex_unlock(&f->lock);
    return rc;
}

int obs_metrics_render(buf_t *out)
{
    pthread_mutex_lock(&g_lock);
    int nhooks = g_nhooks;
    hook_t hooks[MAX_HOOKS];
    memcpy(hooks, g_hooks, sizeof(hooks[0]) * (size_t)nhooks);
    pthread_mutex_unlock(&g_lock);
    for (int i = 0; i < nhooks; i++)
        hooks[i].fn(hooks[i].ctx);

    pthread_mutex_lock(&g_lock);
    int n = g_nfamilies;
    obs_family *fams[MAX_FAMILIES];
    memcpy(fams, g_families, sizeof(fams[0]) * (size_t)n);
    pthread_mutex_unlock(&g_lock);
    int rc = 0;
    for (int i = 0; i < n && !rc; i++)
        rc = render_family(out, fams[i]);
    return rc;
}

void obs_metrics_reset(void)
{
    pthread_mutex_lock(&g_lock);
    for (int i = 0; i < g_nfamilies; i++)
        family_free(g_families[i]);
    g_nfamilies = 0;
    g_nhooks = 0;
    pthread_mutex_unlock(&g_lock);
}
