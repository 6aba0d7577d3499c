/* Performance tracker: per route template (and per dependency) request count, errors and
 * latency percentiles over the last 5 minutes, from a ring of 5-second slots that each hold
 * a log-bucket histogram (loghist.h). Recording is a handful of relaxed atomic adds; nothing
 * is allocated or locked on the request path once a track exists. Only created when
 * FEATURE_ENABLE_PERFORMANCE_TRACKING is on. */
#ifndef DLB_OBS_PERF_H
#define DLB_OBS_PERF_H

#include <stdint.h>

struct json_t;

#define PERF_SLOT_SECONDS 5
#define PERF_SLOTS        60 /* 60 x 5 s = the 5-minute window */

typedef struct perf_track perf_track;

perf_track *perf_track_new(const char *name);
void perf_track_free(perf_track *t);
/* now_s: monotonic seconds (the slot clock); is_error: counted in errors. */
void perf_track_record(perf_track *t, uint64_t now_s, uint64_t ns, int is_error);
/* The count of one track in the window (for sorting). */
uint64_t perf_track_count(const perf_track *t, uint64_t now_s);

typedef struct {
    uint64_t count, errors;
    double window_seconds; /* the span the figures cover (shorter right after start) */
    double rps, avg_ms, max_ms, p50_ms, p95_ms, p99_ms;
} perf_summary;

/* Figures over the last nslots slots up to now_s (the current one included; PERF_SLOTS for
 * the whole window), merged over n tracks. started_s: when tracking started, to shorten the
 * window during the first minutes. */
void perf_summary_of(const perf_track *const *tracks, int n, int nslots, uint64_t now_s,
                     uint64_t started_s, perf_summary *out);
void perf_track_summary(const perf_track *t, uint64_t now_s, uint64_t started_s, perf_summary *out);
/* {"name", "count", "errors", "error_rate", "requests_per_second", "avg_ms", "max_ms",
 * "p50_ms", "p95_ms", "p99_ms"} */
struct json_t *perf_summary_json(const char *name, const perf_summary *s);
const char *perf_track_name(const perf_track *t);

#endif
