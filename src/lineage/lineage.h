/* Jobs and OpenLineage: the collector, the jobs API, the lineage read API and the graph.
 *
 * Every accepted event is stored in ONE metadata transaction: the raw event (byte-exact, with
 * a content hash that makes duplicates no-ops), its normalised rows (job, run, datasets,
 * edges) and, when a collector is configured, an outbox row for the delivery worker. Callers
 * answer 2xx only after these functions return success, i.e. after the commit.
 *
 * Functions return a JSON document owned by the caller, or NULL with e filled (status,
 * snake_case code and detail; see util/err.h). They never speak HTTP. */
#ifndef DLB_LINEAGE_H
#define DLB_LINEAGE_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

struct json_t;
struct config;
struct meta;

typedef struct lineage lineage_t;

/* Where run transitions and processed events are announced (the SSE hub, later). type is
 * "job_status" or "lineage_event"; data is borrowed for the duration of the call. Called after
 * the commit, from the worker thread that handled the request: it must not block. */
typedef void (*lineage_publish_fn)(void *ctx, const char *type, const struct json_t *data);

lineage_t *lineage_create(struct meta *m, const struct config *cfg, char *err, size_t errlen);
void lineage_destroy(lineage_t *lg);
/* Set once at start-up, before requests are served. fn NULL turns publishing off. */
void lineage_set_publisher(lineage_t *lg, lineage_publish_fn fn, void *ctx);
/* The namespace jobs get when none is given (MONITORING_OPENLINEAGE_NAMESPACE). */
const char *lineage_default_namespace(const lineage_t *lg);

/* ---- collector (POST /api/v1/lineage, /batch) ---- */

/* One event as received (raw bytes, already inflated). Answers {"status": "accepted" |
 * "duplicate", "event_id", "kind", "run_id"?, "event_type"?, "warnings": [...]}; a malformed
 * event is 400 invalid_event with the JSON path and the rule in the detail; *errors (when not
 * NULL) receives every problem as [{"path", "rule"}] on failure (caller owns it). */
struct json_t *lineage_collect(lineage_t *lg, const char *raw, size_t len, dlb_err *e,
                               struct json_t **errors);
/* A JSON array of events: each in its own transaction. Answers the OpenLineage partial-success
 * document; *status is 200, or 503 when nothing was stored and every failure was transient. */
struct json_t *lineage_collect_batch(lineage_t *lg, const char *raw, size_t len, int *status,
                                     dlb_err *e);

/* Inflates a gzip (or zlib) request body up to max bytes into *out (malloc'd, NUL-terminated).
 * 0, -1 when corrupt or truncated, -2 when larger than max. */
int lineage_inflate(const char *in, size_t len, size_t max, char **out, size_t *outlen);

/* ---- jobs API (/jobs) ---- */

/* Job names: 1 to 200 characters of [A-Za-z0-9_.-], starting with a letter, digit or _.
 * Namespaces: 1 to 200 characters of [A-Za-z0-9_.:/@+-], starting with a letter, digit or _. */
int lineage_job_name_ok(const char *s);
int lineage_namespace_ok(const char *s);

struct json_t *lineage_job_create(lineage_t *lg, struct json_t *body, dlb_err *e);
struct json_t *lineage_jobs_list(lineage_t *lg, const char *ns, int limit, int offset, dlb_err *e);
struct json_t *lineage_job_get(lineage_t *lg, const char *ns, const char *name, dlb_err *e);
struct json_t *lineage_run_start(lineage_t *lg, const char *ns, const char *job,
                                 struct json_t *body, dlb_err *e);
struct json_t *lineage_run_complete(lineage_t *lg, const char *ns, const char *job,
                                    const char *run_id, struct json_t *body, dlb_err *e);
/* One run with its inputs, outputs and (with_events) its raw events; job NULL = any job. */
struct json_t *lineage_run_get(lineage_t *lg, const char *ns, const char *job, const char *run_id,
                               int with_events, dlb_err *e);

/* ---- read API (/api/v1/lineage/..., /api/v1/events/lineage) ---- */

struct json_t *lineage_read_jobs(lineage_t *lg, const char *ns, int limit, int offset, dlb_err *e);
struct json_t *lineage_read_job_runs(lineage_t *lg, const char *ns, const char *job, int limit,
                                     int offset, dlb_err *e);
struct json_t *lineage_read_datasets(lineage_t *lg, const char *ns, int limit, int offset,
                                     dlb_err *e);
struct json_t *lineage_read_dataset_lineage(lineage_t *lg, const char *ns, const char *name,
                                            dlb_err *e);
struct json_t *lineage_stats(lineage_t *lg, dlb_err *e);

/* Marquez's graph around nodeId ("job:<ns>:<name>" or "dataset:<ns>:<name>"), both
 * directions, at most depth job hops away, as the JSON text of {"graph": [...]} (malloc'd,
 * NUL-terminated, *len bytes; written straight into a buffer, it can be megabytes). */
char *lineage_graph_json(lineage_t *lg, const char *node_id, int depth, size_t *len, dlb_err *e);

typedef struct {
    const char *after, *before; /* RFC 3339, on eventTime (after inclusive, before exclusive) */
    const char *ns, *job, *run_id;
    const char *cursor; /* next_cursor of the previous page */
    int limit;
    int ascending;
} lineage_event_filter;
struct json_t *lineage_events_list(lineage_t *lg, const lineage_event_filter *f, dlb_err *e);

/* ---- delivery to MONITORING_OPENLINEAGE_URL (deliver.c, dlq.c) ---- */

/* Starts QUEUE_WORKER_COUNT delivery threads when MONITORING_OPENLINEAGE_URL is set (a no-op
 * otherwise). They deliver the outbox to <url>/api/v1/lineage, at least once, per-run in order,
 * with retries, a circuit breaker and the dead-letter table (docs/decisions/0013-lineage.md).
 * 0, or -1 with a message. */
int lineage_deliver_start(lineage_t *lg, const struct config *cfg, char *err, size_t errlen);
/* Stops the threads (an in-flight POST is aborted; its row stays in the outbox). Idempotent;
 * call before the metrics registry and the metadata database go away. */
void lineage_deliver_stop(lineage_t *lg);
/* Registers dlb_lineage_* metrics (call once at start, when Prometheus metrics are on). */
void lineage_metrics_register(lineage_t *lg);

typedef struct {
    int64_t depth;          /* events waiting in the outbox (leased ones included) */
    int64_t leased;         /* being delivered right now (by any replica) */
    int64_t retrying;       /* waiting after at least one failed attempt */
    double oldest_age;      /* seconds since the oldest waiting event was committed; 0 if none */
    int64_t attempts;       /* failed attempts summed over the waiting events */
    int64_t dead_letters;   /* rows in the dead-letter table */
    uint64_t delivered;     /* this process: events the collector accepted (2xx) */
    uint64_t failed;        /* this process: failed attempts (any reason) */
    uint64_t dead_lettered; /* this process: events moved to the dead letters */
    uint64_t dropped;       /* this process: dead events dropped (QUEUE_DLQ_ENABLED=false) */
    int running;            /* delivery threads are running */
    const char *breaker;    /* "closed", "open", "half_open" */
} lineage_queue_stats_t;
/* Queue figures for metrics and GET /api/v1/lineage/stats. 0, or -1 with e set. */
int lineage_queue_stats(lineage_t *lg, lineage_queue_stats_t *s, dlb_err *e);

/* Dead letters: {"dead_letters": [...], "total", "limit", "offset"}, oldest first. */
struct json_t *lineage_dlq_list(lineage_t *lg, int limit, int offset, dlb_err *e);
/* Moves one dead letter (id as in the list) back into the outbox; 404 for an unknown id, 409
 * when no collector is configured. */
struct json_t *lineage_dlq_replay(lineage_t *lg, const char *id, dlb_err *e);
/* Moves every dead letter back; {"requeued": n}. */
struct json_t *lineage_dlq_replay_all(lineage_t *lg, dlb_err *e);
/* Deletes one dead letter (the event stays in the lineage store); 404 for an unknown id. */
struct json_t *lineage_dlq_delete(lineage_t *lg, const char *id, dlb_err *e);

/* ---- automatic lineage for table operations (auto.c) ---- */

struct meta_conn;

/* One table operation through the API. Its RunEvent: job ducklake.<operation>.<schema>.<table>
 * in MONITORING_OPENLINEAGE_NAMESPACE; the table is the dataset ducklake://<catalog> /
 * <schema>.<table> with schema (read from the catalog at the snapshot), dataSource, storage,
 * version (the snapshot id), symlinks (location), lifecycleStateChange (create, drop) and
 * outputStatistics (append); queries add the sql job facet (docs/decisions/0013-lineage.md). */
typedef struct {
    const char *operation;      /* "create_table", "append", "drop_table", "query" */
    const char *schema, *table; /* the names as stored */
    int64_t table_id;           /* -1 when unknown */
    int64_t snapshot_id;        /* written (create, append, drop) or read (query) */
    int64_t rows, bytes, files; /* append: what was added; -1 otherwise */
    const char *location;       /* the table's directory, or NULL */
    const char *sql;            /* query: the statement */
    const char *error;          /* query: NULL when it succeeded, else what went wrong */
    uint64_t started_mono_ns;   /* clock_mono_ns() when the operation began; 0 unknown */
} lineage_table_op;

/* The COMPLETE event of a create, append or drop, stored inside the lake commit's own
 * transaction c (the lake commit hook; no event exists unless the change commits). 0, or a
 * META_* code: META_CONFLICT / META_BUSY make the lake retry its commit, others abort it. */
int lineage_auto_commit(lineage_t *lg, struct meta_conn *c, const lineage_table_op *op);
/* After that commit succeeded (outside the transaction): wakes the delivery worker and
 * announces the event. */
void lineage_auto_committed(lineage_t *lg);
/* A query that finished (op->error NULL) or failed: its START and COMPLETE or FAIL events are
 * queued (op is copied; cheap, never blocks) and stored by a background thread in their own
 * transaction. Best effort: dropped (and counted in the log) when the queue is full. */
void lineage_auto_query(lineage_t *lg, const lineage_table_op *op);
/* Stores what is queued and stops the background thread; call before lineage_destroy. */
void lineage_auto_stop(lineage_t *lg);

#endif
