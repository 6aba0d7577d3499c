#include "memory.h"

#include "mem_account.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/periodic.h"

#include <dirent.h>
#include <jansson.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MB        1048576.0
#define WINDOW_N  60 /* samples kept: 5 minutes at the default 5 s interval */
#define LINE_SIZE 256

/* Reads several keys of one /proc file in one pass. */
typedef struct {
    const char *key;
    int64_t *out; /* bytes (kB lines) or plain numbers when plain is set */
    int plain;
} proc_key;

static void proc_keys(const char *path, proc_key *keys, int n)
{
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[LINE_SIZE];
    while (fgets(line, sizeof(line), f)) {
        for (int i = 0; i < n; i++) {
            size_t kl = strlen(keys[i].key);
            if (strncmp(line, keys[i].key, kl) != 0 || line[kl] != ':') continue;
            long long x = strtoll(line + kl + 1, NULL, 10);
            *keys[i].out = keys[i].plain ? (int64_t)x : (int64_t)x * 1024;
        }
    }
    fclose(f);
}

/* The cgroup memory limit (v2, then v1); -1 when there is none. */
static int64_t cgroup_limit(void)
{
    static const char *paths[] = {"/sys/fs/cgroup/memory.max",
                                  "/sys/fs/cgroup/memory/memory.limit_in_bytes"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        FILE *f = fopen(paths[i], "r");
        if (!f) continue;
        char buf[64] = "";
        int got = fgets(buf, sizeof(buf), f) != NULL;
        fclose(f);
        if (!got || strncmp(buf, "max", 3) == 0) return -1;
        long long v = strtoll(buf, NULL, 10);
        /* cgroup v1 reports "no limit" as a huge page-aligned number. */
        if (v > 0 && v < (1LL << 50)) return (int64_t)v;
        return -1;
    }
    return -1;
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    int n = 0;
    const struct dirent *e;
    /* readdir on a stream of our own is thread-safe in glibc; readdir_r is deprecated. */
    // cppcheck-suppress readdirCalled
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1; /* the directory stream's own descriptor */
}

int obs_mem_read(obs_mem_sample *s)
{
    memset(s, 0, sizeof(*s));
    s->t = clock_wall();
    int64_t threads = 0;
    proc_key st[] = {{"VmRSS", &s->rss, 0},
                     {"VmSize", &s->vms, 0},
                     {"VmHWM", &s->hwm, 0},
                     {"Threads", &threads, 1}};
    proc_keys("/proc/self/status", st, 4);
    s->threads = (int)threads;
    proc_key mi[] = {{"MemTotal", &s->mem_total, 0}, {"MemAvailable", &s->mem_available, 0}};
    proc_keys("/proc/meminfo", mi, 2);
    s->limit = s->mem_total;
    int64_t cg = cgroup_limit();
    if (cg > 0 && (s->limit <= 0 || cg < s->limit)) s->limit = cg;
    s->open_files = count_fds();
    struct mallinfo2 m = mallinfo2();
    s->heap_arena = (int64_t)m.arena;
    s->heap_in_use = (int64_t)m.uordblks;
    s->heap_free = (int64_t)m.fordblks;
    s->heap_mmapped = (int64_t)m.hblkhd;
    s->heap_releasable = (int64_t)m.keepcost;
    return s->rss > 0 ? 0 : -1;
}

json_t *obs_mem_sample_json(const obs_mem_sample *s)
{
    double pct = s->limit > 0 ? 100.0 * (double)s->rss / (double)s->limit : 0;
    return json_pack("{s:I, s:f, s:f, s:f, s:f, s:f, s:I, s:i, s:i, s:f}", "rss_bytes",
                     (json_int_t)s->rss, "rss_mb", (double)s->rss / MB, "vms_mb",
                     (double)s->vms / MB, "peak_rss_mb", (double)s->hwm / MB, "percent", pct,
                     "available_mb", (double)s->mem_available / MB, "limit_bytes",
                     (json_int_t)s->limit, "thread_count", s->threads, "open_files", s->open_files,
                     "timestamp", s->t);
}

json_t *obs_mem_allocator_json(const obs_mem_sample *s)
{
    return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", "allocator", "glibc malloc",
                     "heap_arena_bytes", (json_int_t)s->heap_arena, "in_use_bytes",
                     (json_int_t)s->heap_in_use, "free_in_heap_bytes", (json_int_t)s->heap_free,
                     "mmapped_bytes", (json_int_t)s->heap_mmapped, "releasable_bytes",
                     (json_int_t)s->heap_releasable);
}

/* ---------------------------------------------------------------------------- sampler */

struct obs_memmon {
    periodic *sampler;
    pthread_mutex_t lock;
    double interval, warn, crit;
    obs_mem_sample ring[WINDOW_N]; /* under lock */
    int n, head;                   /* samples held, next write position */
    int status;                    /* 0 ok, 1 warning, 2 critical */
};

static const char *status_name(int st)
{
    return st == 2 ? "critical" : st == 1 ? "warning" : "ok";
}

static void take_sample(obs_memmon *m)
{
    obs_mem_sample s;
    if (obs_mem_read(&s)) return;
    double share = s.limit > 0 ? (double)s.rss / (double)s.limit : 0;
    int st = share >= m->crit ? 2 : share >= m->warn ? 1 : 0;
    pthread_mutex_lock(&m->lock);
    m->ring[m->head] = s;
    m->head = (m->head + 1) % WINDOW_N;
    if (m->n < WINDOW_N) m->n++;
    int before = m->status;
    m->status = st;
    pthread_mutex_unlock(&m->lock);
    if (st == before) return;
    char rss[32], limit[32], pct[32];
    snprintf(rss, sizeof(rss), "%.1f", (double)s.rss / MB);
    snprintf(limit, sizeof(limit), "%.1f", (double)s.limit / MB);
    snprintf(pct, sizeof(pct), "%.1f", share * 100);
    log_msg(st > before ? LOG_WARNING : LOG_INFO,
            st == 2   ? "memory use is critical"
            : st == 1 ? "memory use above the warning threshold"
                      : "memory use back below the warning threshold",
            "status", status_name(st), "rss_mb", rss, "limit_mb", limit, "percent", pct,
            (const char *)0);
}

static void sample_tick(void *arg)
{
    take_sample(arg);
}

obs_memmon *obs_memmon_start(double interval, double warn_share, double crit_share)
{
    obs_memmon *m = calloc(1, sizeof(*m));
    if (!m) return NULL;
    pthread_mutex_init(&m->lock, NULL);
    m->interval = interval;
    m->warn = warn_share;
    m->crit = crit_share;
    take_sample(m);
    m->sampler = periodic_start(interval, 0, sample_tick, m);
    if (!m->sampler) {
        pthread_mutex_destroy(&m->lock);
        free(m);
        return NULL;
    }
    return m;
}

void obs_memmon_stop(obs_memmon *m)
{
    if (!m) return;
    periodic_stop(m->sampler);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

const char *obs_memmon_status(obs_memmon *m)
{
    pthread_mutex_lock(&m->lock);
    int st = m->status;
    pthread_mutex_unlock(&m->lock);
    return status_name(st);
}

json_t *obs_memmon_json(obs_memmon *m)
{
    obs_mem_sample now;
    obs_mem_read(&now);
    pthread_mutex_lock(&m->lock);
    int n = m->n;
    obs_mem_sample win[WINDOW_N] = {0};
    for (int i = 0; i < n; i++) /* oldest first */
        win[i] = m->ring[(m->head - n + i + WINDOW_N) % WINDOW_N];
    int st = m->status;
    pthread_mutex_unlock(&m->lock);

    double min = 0, max = 0, sum = 0, slope = 0;
    for (int i = 0; i < n; i++) {
        double r = (double)win[i].rss;
        if (!i || r < min) min = r;
        if (!i || r > max) max = r;
        sum += r;
    }
    /* Growth rate: the least-squares slope of RSS over time, steadier than first-to-last. */
    if (n >= 2) {
        double mt = 0, mr = sum / n, cov = 0, var = 0;
        for (int i = 0; i < n; i++)
            mt += win[i].t - win[0].t;
        mt /= n;
        for (int i = 0; i < n; i++) {
            double dt = win[i].t - win[0].t - mt;
            cov += dt * ((double)win[i].rss - mr);
            var += dt * dt;
        }
        slope = var > 0 ? cov / var : 0;
    }
    json_t *stats = json_pack(
        "{s:f, s:f, s:f, s:f, s:i, s:f, s:f}", "min_rss_mb", min / MB, "max_rss_mb", max / MB,
        "avg_rss_mb", n ? sum / n / MB : 0.0, "growth_rate_mb_per_sec", slope / MB, "samples", n,
        "window_seconds", n >= 2 ? win[n - 1].t - win[0].t : 0.0, "interval_seconds", m->interval);
    json_t *thr = json_pack("{s:f, s:f}", "warning", m->warn, "critical", m->crit);
    return json_pack("{s:s, s:o, s:o, s:o, s:o, s:o}", "status", status_name(st), "current",
                     obs_mem_sample_json(&now), "stats", stats, "allocator",
                     obs_mem_allocator_json(&now), "components", obs_mem_json(), "thresholds", thr);
}
