/* Internals shared by the lineage module's files. */
#ifndef DLB_LINEAGE_INTERNAL_H
#define DLB_LINEAGE_INTERNAL_H

#include "lineage.h"
#include "meta/meta.h"
#include "util/buf.h"
#include "validate.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>

/* The producer URI of every event and facet this server emits. One place, so that the
 * published repository URL can be put here. */
#define LINEAGE_PRODUCER   "https://github.com/ducklake-backend/ducklake-backend/tree/v" DLB_VERSION
#define LINEAGE_SCHEMA_URL "https://openlineage.io/spec/2-0-2/OpenLineage.json"
#define LINEAGE_MAX_BATCH  1000
#define LINEAGE_MAX_NAME   1024 /* longest namespace or name accepted from the wire */
#define LINEAGE_GROUP_MAX  64   /* single events committed together at most */

struct lineage {
    meta_t *meta;
    int is_pg;
    int strict;
    int outbox; /* a collector is configured: write outbox rows */
    char *ns;   /* MONITORING_OPENLINEAGE_NAMESPACE */
    char *catalog;
    lineage_publish_fn publish;
    void *publish_ctx;
    atomic_llong accepted, duplicates, rejected, warned;
    /* delivery (deliver.c): NULL when no collector is configured or before start */
    struct lineage_deliverer *dlv;
    atomic_ullong delivered, failed, dead_lettered, dropped;
    struct obs_series *m_outcome[4]; /* dlb_lineage_deliveries_total by outcome */
    /* Group commit of single events (collect.c): callers queue their validated event; one of
     * them at a time (per allowed leader) stores everything queued in one transaction. */
    pthread_mutex_t gc_mu;
    pthread_cond_t gc_cv;
    struct lineage_gc_req *gc_head, **gc_tail;
    int gc_leaders, gc_max_leaders;
    /* SQLite: lineage writes of this process take turns in arrival order (store.c) instead of
     * polling SQLite's lock in its busy handler, whose sleeps starve waiters for seconds. */
    pthread_cond_t turn_cv;
    unsigned long turn_next, turn_serving;
    atomic_llong gc_groups;       /* transactions that stored single events (group commits) */
    atomic_llong commits;         /* transactions committed by lineage_tx (for tests) */
    atomic_llong graph_big_until; /* graph.c: the tables were too large to snapshot until then */
    pthread_mutex_t gsnap_mu;
    struct graph_snap *gsnap; /* graph.c: the latest in-memory snapshot of the graph */
};

/* Set by lineage_store_tx (and replays) when the transaction wrote an outbox row; lineage_tx
 * wakes the delivery threads after the commit and clears it. */
extern _Thread_local int lineage_tl_outbox;
/* Wakes the delivery threads (a new outbox row committed). Safe when none run. */
void lineage_deliver_wake(lineage_t *lg);
/* Frees what lineage_deliver_start allocated (after lineage_deliver_stop). */
void lineage_deliver_free(lineage_t *lg);
/* Delivery outcomes for dlb_lineage_deliveries_total. */
enum { LG_OUT_DELIVERED, LG_OUT_RETRY, LG_OUT_DEAD_LETTER, LG_OUT_DROPPED };

/* One event on its way into the store. */
typedef struct {
    const char *raw; /* as received */
    size_t len;
    json_t *ev; /* parsed raw (borrowed) */
    ol_check chk;
    /* filled by lineage_store_tx */
    int64_t event_id;
    int duplicate;
} ol_item;

/* A unit of work in one transaction; returns 0, or -1 with e set (META code in *rc). */
typedef int (*lineage_tx_fn)(lineage_t *lg, meta_conn *c, void *arg, dlb_err *e);
/* Acquire, BEGIN, fn, COMMIT; retried a few times on META_CONFLICT / META_BUSY. */
int lineage_tx(lineage_t *lg, lineage_tx_fn fn, void *arg, dlb_err *e);
/* 1 when e is a transient database error (conflict, busy): lineage_tx retries those. */
int lineage_err_transient(const dlb_err *e);
/* Stores n validated events in ONE transaction (one commit, one fsync), each inside its own
 * savepoint: an event that fails for a reason of its own is rolled back alone (rcs[i] -1,
 * errs[i] set) and the others commit; a transient error (conflict, busy) retries the whole
 * transaction. Returns 0 when the transaction committed (check rcs), -1 with e when it did
 * not (then nothing was stored). n == 1 runs without a savepoint. */
int lineage_store_many(lineage_t *lg, ol_item **items, size_t n, int *rcs, dlb_err *errs,
                       dlb_err *e);
/* Stores one validated event inside the caller's transaction. */
int lineage_store_tx(lineage_t *lg, meta_conn *c, ol_item *it, dlb_err *e);
/* Maps a META_* code to an error (503 for transient trouble, 500 otherwise). */
void lineage_db_err(dlb_err *e, int rc, const char *what, const char *msg);

/* Time: microseconds since the epoch (UTC) <-> RFC 3339 ("...T...Z", microseconds). */
int64_t lineage_now_us(void);
void lineage_fmt_time(int64_t us, char out[40]);
/* Sets key to the formatted time, or to null when us is 0. */
void lineage_set_time(json_t *o, const char *key, int64_t us);

/* Events this server emits. */
json_t *emit_facet(const char *name, const char *version);
json_t *emit_run_event(const char *type, const char *run_id, const char *ns, const char *job,
                       json_t *run_facets, json_t *job_facets, json_t *inputs, json_t *outputs);
json_t *emit_job_event(const char *ns, const char *job, json_t *job_facets);
/* Serialises ev, validates it like a received event and stores it in the transaction. */
int emit_store(lineage_t *lg, meta_conn *c, json_t *ev, int64_t *event_id, dlb_err *e);

/* State machine and facet merge (state.c). */
int ol_state_terminal(const char *t);
/* 1 when an event of type next at next_t replaces the state cur set at cur_t. */
int ol_state_wins(const char *cur, int64_t cur_t, const char *next, int64_t next_t);
/* Applies src (an event's facet map, at time t) to dst with per-facet times: a facet is
 * replaced only by one from an event that is not older; {"_deleted": true} removes it.
 * Returns 1 when dst changed. */
int ol_facets_merge(json_t *dst, json_t *times, const json_t *src, int64_t t);

/* Bodies (body.c). */
/* Splits a JSON array into the byte spans of its elements. 0, or -1 (not an array of
 * values; *bad_at is the byte offset). starts/lens are malloc'd (caller frees). */
int lineage_split_array(const char *s, size_t len, size_t **starts, size_t **lens, size_t *n,
                        size_t *bad_at);
/* Lowercase hex SHA-256 of the event's canonical form (sorted keys, compact). */
int lineage_event_hash(const json_t *ev, char out[65]);

/* The runs of a job, newest first (jobs.c; shared with the read API). */
json_t *lineage_runs_of(lineage_t *lg, const char *ns, const char *job, int limit, int offset,
                        dlb_err *e);
/* A read-only query on a pooled connection (NULL with e set on failure). */
meta_result *lineage_read(lineage_t *lg, const char *sql, const meta_val *p, int n, dlb_err *e);

/* Drops the graph snapshot (graph.c; at lineage_destroy). */
void lineage_graph_forget(lineage_t *lg);

/* JSON writing into a buffer (jsonw.c): s[0..n) as a JSON string with its quotes, escaped
 * per RFC 8259 (", \\, control characters; bytes that are not UTF-8 become U+FFFD). s NULL
 * writes "". 0, or -1 when the buffer cannot grow. */
int lineage_json_str(buf_t *b, const char *s, size_t n);
int lineage_json_strz(buf_t *b, const char *s);

/* Small helpers (store.c). */
json_t *lineage_json_col(const meta_result *r, int row, int col); /* parsed or null */
char *lineage_dump(const json_t *j);                              /* compact, sorted */

#endif
