/* Process memory: a reading of /proc and the allocator now (obs_mem_read, cheap enough for a
 * scrape), and the sampler thread behind GET /metrics/memory (FEATURE_ENABLE_MEMORY_MONITORING)
 * that keeps a window of samples for min/max/avg RSS and the growth rate, and logs a warning
 * when RSS crosses MONITORING_MEMORY_THRESHOLD_WARNING or _CRITICAL of the memory limit. */
#ifndef DLB_OBS_MEMORY_H
#define DLB_OBS_MEMORY_H

#include <stdint.h>

struct json_t;

typedef struct {
    double t;                /* wall clock */
    int64_t rss, vms, hwm;   /* bytes: VmRSS, VmSize, VmHWM */
    int64_t mem_total;       /* MemTotal */
    int64_t mem_available;   /* MemAvailable */
    int64_t limit;           /* the smaller of MemTotal and the cgroup limit */
    int threads, open_files; /* Threads:, entries of /proc/self/fd */
    /* glibc mallinfo2: heap obtained from the system, in use, free inside it, mmapped. */
    int64_t heap_arena, heap_in_use, heap_free, heap_mmapped, heap_releasable;
} obs_mem_sample;

/* Fills s from /proc and mallinfo2; 0 on success. */
int obs_mem_read(obs_mem_sample *s);
/* {"rss_bytes", "rss_mb", "vms_mb", "percent", "available_mb", "thread_count", "open_files",
 *  "limit_bytes", ...}: one sample as JSON (also used by POST /metrics/gc). */
struct json_t *obs_mem_sample_json(const obs_mem_sample *s);
struct json_t *obs_mem_allocator_json(const obs_mem_sample *s);

typedef struct obs_memmon obs_memmon;

/* Starts the sampler (first sample taken before it returns). interval in seconds. */
obs_memmon *obs_memmon_start(double interval, double warn_share, double crit_share);
void obs_memmon_stop(obs_memmon *m);
/* {"current": {...}, "stats": {min_rss_mb, max_rss_mb, avg_rss_mb, growth_rate_mb_per_sec,
 *  samples, window_seconds}, "allocator": {...}, "components": {...}, "status",
 *  "thresholds": {...}} */
struct json_t *obs_memmon_json(obs_memmon *m);
/* "ok", "warning" or "critical" as of the last sample. */
const char *obs_memmon_status(obs_memmon *m);

#endif
