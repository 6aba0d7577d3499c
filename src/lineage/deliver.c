/* The delivery worker: QUEUE_WORKER_COUNT threads that forward the outbox to
 * MONITORING_OPENLINEAGE_URL + /api/v1/lineage.
 *
 * A thread claims up to QUEUE_QUEUE_BATCH_SIZE due rows in one short transaction (PostgreSQL:
 * FOR UPDATE SKIP LOCKED, so replicas never claim the same row; SQLite: BEGIN IMMEDIATE makes
 * every claim exclusive) and leases them (lease_owner = this thread, lease_until = now +
 * QUEUE_WORKER_TIMEOUT + a margin, extended while the batch is worked through). The claim
 * skips a run's event while an earlier one of the same run (by rank START < RUNNING/OTHER <
 * terminal, then eventTime, then id) is still in the outbox, leased or not: a run's events go
 * out one at a time in order. Then it POSTs each row outside any transaction and records the
 * outcome: 2xx deletes the row; a network error, timeout, 408, 429 or 5xx schedules a retry
 * (exponential backoff with jitter, or Retry-After); another status retries up to
 * QUEUE_QUEUE_RETRY_ATTEMPTS attempts and then moves the row to ol_dead_letters with the reason.
 * A row is removed only after the collector's 2xx, so a crash at any point re-sends it after
 * its lease expires: at least once (the collector dedupes). See docs/decisions/0013-lineage.md.
 */
#include "internal.h"

#include "config.h"
#include "deliver.h"
#include "obs/metrics.h"
#include "obs/obs.h"
#include "util/ids.h"
#include "util/log.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define BREAKER_THRESHOLD 5      /* consecutive outages that open the breaker */
#define BREAKER_MAX_OPEN  60.0   /* seconds, longest open period */
#define BACKOFF_CAP       600.0  /* seconds, longest backoff between attempts */
#define RETRY_AFTER_CAP   3600.0 /* seconds, longest Retry-After honoured */
#define LEASE_MARGIN_US   5000000
#define PURGE_EVERY_US    60000000
#define MAX_BATCH         100
#define REASON_MAX        480

struct lineage_deliverer {
    lineage_t *lg;
    char *url;  /* <MONITORING_OPENLINEAGE_URL>/api/v1/lineage */
    char *auth; /* "Authorization: Bearer ..." or NULL */
    char owner[96];
    int nthreads, started;
    pthread_t *threads;
    long timeout_ms;
    double retry_delay, poll;
    int max_attempts, batch, dlq_enabled;
    int64_t dlq_max_age_us, last_purge_us;

    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    uint64_t wake_gen;
    atomic_int stop;
    dlv_breaker br;
    void *workers_mem; /* worker_t[nthreads] */
};

typedef struct {
    struct lineage_deliverer *d;
    int index;
    char owner[112];
    unsigned seed;
} worker_t;

typedef struct {
    int64_t id, event_id;
    int attempts;
    char *payload;
} row_t;

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- waking and waiting ---- */

void lineage_deliver_wake(lineage_t *lg)
{
    struct lineage_deliverer *d = lg->dlv;
    if (!d) return;
    pthread_mutex_lock(&d->mu);
    d->wake_gen++;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

/* Sleeps until the monotonic time `until`, a wake-up after gen, or stop. */
static void wait_until(struct lineage_deliverer *d, uint64_t gen, double until)
{
    pthread_mutex_lock(&d->mu);
    while (!atomic_load(&d->stop) && d->wake_gen == gen) {
        double now = mono();
        if (now >= until) break;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        double left = until - now;
        ts.tv_sec += (time_t)left;
        ts.tv_nsec += (long)((left - (double)(time_t)left) * 1e9);
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&d->cv, &d->mu, &ts);
    }
    pthread_mutex_unlock(&d->mu);
}

/* ---- database steps (each its own short transaction or statement) ---- */

/* Rows due now whose run has no earlier event still waiting. */
#define CLAIMABLE                                                                                  \
    "(o.lease_until IS NULL OR o.lease_until < ?) AND (o.run_id IS NULL OR NOT EXISTS (SELECT 1 "  \
    "FROM ol_outbox p WHERE p.run_id = o.run_id AND (p.run_rank < o.run_rank OR (p.run_rank = "    \
    "o.run_rank AND (p.event_time_us < o.event_time_us OR (p.event_time_us = o.event_time_us "     \
    "AND p.id < o.id))))))"

typedef struct {
    worker_t *w;
    int limit;
    row_t *rows;
    int n;
    int64_t next_at; /* nothing claimed: the earliest next_attempt_at of a claimable row, or 0 */
} claim_arg;

static int claim_tx(lineage_t *lg, meta_conn *c, void *arg, dlb_err *e)
{
    claim_arg *a = arg;
    struct lineage_deliverer *d = a->w->d;
    int64_t now = lineage_now_us();
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "SELECT o.id, o.event_id, o.attempts, e.payload FROM ol_outbox o JOIN ol_events e "
             "ON e.id = o.event_id WHERE o.next_attempt_at <= ? AND " CLAIMABLE
             " ORDER BY o.id LIMIT ?%s",
             lg->is_pg ? " FOR UPDATE OF o SKIP LOCKED" : "");
    meta_val p[] = {MVINT(now), MVINT(now), MVINT(a->limit)};
    char err[256] = "";
    int rc = META_ERR;
    meta_result *r = meta_query(c, sql, p, 3, &rc, err, sizeof(err));
    if (!r) {
        lineage_db_err(e, rc, "claim outbox", err);
        return -1;
    }
    a->n = 0;
    a->next_at = 0;
    int rows = meta_result_rows(r);
    int64_t until = now + d->timeout_ms * 1000 + LEASE_MARGIN_US;
    for (int i = 0; i < rows; i++) {
        meta_val u[] = {MVTEXT(a->w->owner), MVINT(until), MVINT(meta_result_int(r, i, 0))};
        int64_t n =
            meta_exec(c, "UPDATE ol_outbox SET lease_owner = ?, lease_until = ? WHERE id = ?", u, 3,
                      err, sizeof(err));
        if (n < 0) {
            for (int j = 0; j < a->n; j++)
                free(a->rows[j].payload);
            a->n = 0;
            meta_result_free(r);
            lineage_db_err(e, (int)n, "lease outbox", err);
            return -1;
        }
        row_t *row = &a->rows[a->n];
        row->id = meta_result_int(r, i, 0);
        row->event_id = meta_result_int(r, i, 1);
        row->attempts = (int)meta_result_int(r, i, 2);
        row->payload = strdup(meta_result_get(r, i, 3) ? meta_result_get(r, i, 3) : "");
        if (row->payload) a->n++;
    }
    meta_result_free(r);
    if (a->n == 0) {
        meta_val q[] = {MVINT(now)};
        r = meta_query(c, "SELECT MIN(o.next_attempt_at) FROM ol_outbox o WHERE " CLAIMABLE, q, 1,
                       &rc, err, sizeof(err));
        if (r) {
            a->next_at = meta_result_int(r, 0, 0);
            meta_result_free(r);
        }
    }
    return 0;
}

/* One statement outside a transaction; rows affected or -1 (logged). */
static int64_t exec1(lineage_t *lg, const char *what, const char *sql, const meta_val *p, int n)
{
    meta_conn *c = meta_acquire(lg->meta);
    if (!c) {
        log_warn("lineage delivery: no metadata database connection", "step", what);
        return -1;
    }
    char err[256] = "";
    int64_t rc = meta_exec(c, sql, p, n, err, sizeof(err));
    meta_release(lg->meta, c);
    if (rc < 0) log_warn("lineage delivery: database step failed", "step", what, "error", err);
    return rc;
}

/* Gives every row this thread still holds back, untouched (no attempt counted). */
static void release_mine(worker_t *w)
{
    meta_val p[] = {MVTEXT(w->owner)};
    exec1(w->d->lg, "release",
          "UPDATE ol_outbox SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?", p,
          1);
}

static void extend_lease(worker_t *w, int64_t *lease_until)
{
    int64_t now = lineage_now_us(), need = w->d->timeout_ms * 1000 + LEASE_MARGIN_US;
    if (*lease_until - now >= need) return;
    *lease_until = now + need;
    meta_val p[] = {MVINT(*lease_until), MVTEXT(w->owner)};
    exec1(w->d->lg, "extend lease", "UPDATE ol_outbox SET lease_until = ? WHERE lease_owner = ?", p,
          2);
}

typedef struct {
    worker_t *w;
    const row_t *row;
    int attempts;
    long status;
    const char *reason;
    int moved;
} dead_arg;

static int dead_tx(lineage_t *lg, meta_conn *c, void *arg, dlb_err *e)
{
    dead_arg *a = arg;
    char err[256] = "";
    int64_t now = lineage_now_us();
    meta_val p[] = {MVINT(a->row->id), MVTEXT(a->w->owner)};
    int64_t n = meta_exec(c, "DELETE FROM ol_outbox WHERE id = ? AND lease_owner = ?", p, 2, err,
                          sizeof(err));
    if (n < 0) {
        lineage_db_err(e, (int)n, "dead letter", err);
        return -1;
    }
    a->moved = n > 0;
    if (n == 0 || !lg->dlv->dlq_enabled) return 0; /* lost the lease: someone else has it */
    meta_val q[] = {MVINT(a->attempts), a->status ? MVINT(a->status) : MVNULL,
                    MVTEXT(a->reason),  MVINT(now),
                    MVINT(now),         MVINT(a->row->event_id)};
    n = meta_exec(c,
                  "INSERT INTO ol_dead_letters(event_id, run_id, attempts, last_status, reason, "
                  "created_at, dead_at) SELECT e.id, e.run_id, ?, ?, ?, ?, ? FROM ol_events e "
                  "WHERE e.id = ?",
                  q, 6, err, sizeof(err));
    if (n < 0) {
        lineage_db_err(e, (int)n, "dead letter", err);
        return -1;
    }
    return 0;
}

/* Rows that failed because the collector was down may go again at once (the breaker just
 * closed); 429's Retry-After and 4xx backoffs are kept. */
static void reset_outage_backoff(struct lineage_deliverer *d)
{
    int64_t now = lineage_now_us();
    meta_val p[] = {MVINT(now), MVINT(now)};
    exec1(d->lg, "reset backoff",
          "UPDATE ol_outbox SET next_attempt_at = ? WHERE next_attempt_at > ? AND lease_owner "
          "IS NULL AND (last_status = 0 OR last_status = 408 OR last_status >= 500)",
          p, 2);
}

static void purge_dead_letters(struct lineage_deliverer *d)
{
    int64_t now = lineage_now_us();
    if (now - d->last_purge_us < PURGE_EVERY_US) return;
    d->last_purge_us = now;
    meta_val p[] = {MVINT(now - d->dlq_max_age_us)};
    int64_t n =
        exec1(d->lg, "purge dead letters", "DELETE FROM ol_dead_letters WHERE dead_at < ?", p, 1);
    if (n > 0) {
        char s[24];
        snprintf(s, sizeof(s), "%lld", (long long)n);
        log_info("lineage dead letters older than QUEUE_DLQ_MAX_AGE purged", "count", s);
    }
}

/* ---- one HTTP POST ---- */

typedef struct {
    struct lineage_deliverer *d;
    long status;
    double retry_after; /* seconds, -1 when absent */
    char body[200];
    size_t blen;
} post_t;

static size_t on_header(char *buf, size_t size, size_t n, void *ud)
{
    post_t *p = ud;
    size_t len = size * n;
    if (len >= 5 && !strncmp(buf, "HTTP/", 5)) p->retry_after = -1; /* a new response */
    if (len > 12 && !strncasecmp(buf, "Retry-After:", 12)) {
        char v[128];
        size_t vl = len - 12 < sizeof(v) - 1 ? len - 12 : sizeof(v) - 1;
        memcpy(v, buf + 12, vl);
        v[vl] = 0;
        char *end = v + strlen(v);
        while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
            *--end = 0;
        p->retry_after = dlv_retry_after(v, time(NULL));
    }
    return len;
}

static size_t on_body(char *buf, size_t size, size_t n, void *ud)
{
    post_t *p = ud;
    size_t len = size * n, room = sizeof(p->body) - 1 - p->blen;
    size_t take = len < room ? len : room;
    memcpy(p->body + p->blen, buf, take);
    p->blen += take;
    p->body[p->blen] = 0;
    return len;
}

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t e)
{
    (void)a, (void)b, (void)c, (void)e;
    const post_t *p = ud;
    return atomic_load(&p->d->stop) ? 1 : 0;
}

/* 0 with p->status (0: no response, reason in err), or 1 when aborted by stop. */
static int post_event(CURL *h, struct curl_slist *hdrs, post_t *p, const char *payload, char *err,
                      size_t errlen)
{
    struct lineage_deliverer *d = p->d;
    char cerr[CURL_ERROR_SIZE] = "";
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, d->url);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(payload));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, d->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, d->timeout_ms < 10000 ? d->timeout_ms : 10000L);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, p);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, p);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, p);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "ducklake-backend/" DLB_VERSION);
    uint64_t t0 = (uint64_t)(mono() * 1e9);
    CURLcode rc = curl_easy_perform(h);
    uint64_t ns = (uint64_t)(mono() * 1e9) - t0;
    if (rc == CURLE_ABORTED_BY_CALLBACK) return 1;
    if (rc != CURLE_OK) {
        p->status = 0;
        snprintf(err, errlen, "%s", cerr[0] ? cerr : curl_easy_strerror(rc));
        obs_dep_observe("openlineage", "post", ns, 0);
        return 0;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &p->status);
    obs_dep_observe("openlineage", "post", ns, p->status >= 200 && p->status < 500);
    snprintf(err, errlen, "HTTP %ld", p->status);
    return 0;
}

static void count(lineage_t *lg, int outcome)
{
    switch (outcome) {
    case LG_OUT_DELIVERED:
        atomic_fetch_add(&lg->delivered, 1);
        break;
    case LG_OUT_RETRY:
        atomic_fetch_add(&lg->failed, 1);
        break;
    case LG_OUT_DEAD_LETTER:
        atomic_fetch_add(&lg->failed, 1);
        atomic_fetch_add(&lg->dead_lettered, 1);
        break;
    default:
        atomic_fetch_add(&lg->failed, 1);
        atomic_fetch_add(&lg->dropped, 1);
        break;
    }
    obs_counter_inc(lg->m_outcome[outcome]);
}

/* Records the outcome of one POST of row. */
static void settle(worker_t *w, const row_t *row, int probe, const post_t *p, const char *why)
{
    struct lineage_deliverer *d = w->d;
    lineage_t *lg = d->lg;
    dlv_class cls = dlv_classify(p->status);
    double now = mono();
    double r = (double)rand_r(&w->seed) / ((double)RAND_MAX + 1.0);
    int attempts = row->attempts + 1;
    double delay = dlv_backoff(d->retry_delay, attempts, BACKOFF_CAP, r);
    if (cls != DLV_DELIVERED && p->retry_after >= 0) {
        /* The collector said when: honour it (never earlier), with a little jitter on top. */
        double ra = p->retry_after < RETRY_AFTER_CAP ? p->retry_after : RETRY_AFTER_CAP;
        delay = ra + r * (ra * 0.1 < 1 ? ra * 0.1 : 1);
    }

    pthread_mutex_lock(&d->mu);
    int was = d->br.state;
    int closed = dlv_breaker_result(&d->br, probe, dlv_is_outage(p->status), now);
    int opened = was != DLV_OPEN && d->br.state == DLV_OPEN;
    if (p->status == 429) dlv_breaker_pause(&d->br, now + delay);
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
    if (opened)
        log_warn("lineage delivery: collector unreachable, circuit breaker open", "url", d->url,
                 "error", why);
    if (closed) {
        log_info("lineage delivery: collector answers again, circuit breaker closed", "url",
                 d->url);
        reset_outage_backoff(d);
    }

    char ev[24], st[16];
    snprintf(ev, sizeof(ev), "%lld", (long long)row->event_id);
    snprintf(st, sizeof(st), "%ld", p->status);
    if (cls == DLV_DELIVERED) {
        meta_val q[] = {MVINT(row->id)};
        exec1(lg, "delivered", "DELETE FROM ol_outbox WHERE id = ?", q, 1);
        count(lg, LG_OUT_DELIVERED);
        return;
    }
    char reason[REASON_MAX];
    if (p->status)
        snprintf(reason, sizeof(reason), "HTTP %ld from the collector%s%.200s", p->status,
                 p->blen ? ": " : "", p->body);
    else
        snprintf(reason, sizeof(reason), "no response: %s", why);
    if (cls == DLV_PERMANENT && attempts >= d->max_attempts) {
        dead_arg a = {
            .w = w, .row = row, .attempts = attempts, .status = p->status, .reason = reason};
        dlb_err e = {0};
        if (lineage_tx(lg, dead_tx, &a, &e)) {
            log_warn("lineage delivery: cannot move an event to the dead letters", "event_id", ev,
                     "error", e.detail);
            return; /* the lease expires and it is tried again */
        }
        if (!a.moved) return;
        count(lg, d->dlq_enabled ? LG_OUT_DEAD_LETTER : LG_OUT_DROPPED);
        log_warn(d->dlq_enabled ? "lineage event moved to the dead letters"
                                : "lineage event dropped after the last attempt (QUEUE_DLQ_ENABLED "
                                  "is false)",
                 "event_id", ev, "status", st, "reason", reason);
        return;
    }
    int64_t next = lineage_now_us() + (int64_t)(delay * 1e6);
    meta_val q[] = {MVINT(attempts), MVINT(next),    MVINT(p->status),
                    MVTEXT(reason),  MVINT(row->id), MVTEXT(w->owner)};
    exec1(lg, "retry",
          "UPDATE ol_outbox SET attempts = ?, next_attempt_at = ?, last_status = ?, last_error = "
          "?, lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?",
          q, 6);
    count(lg, LG_OUT_RETRY);
    char dl[32];
    snprintf(dl, sizeof(dl), "%.3f", delay);
    log_debug("lineage delivery failed; will retry", "event_id", ev, "status", st, "reason", reason,
              "retry_in_seconds", dl);
}

static void deliver_rows(worker_t *w, CURL *h, struct curl_slist *hdrs, row_t *rows, int n,
                         int probe)
{
    struct lineage_deliverer *d = w->d;
    int64_t lease_until = lineage_now_us() + d->timeout_ms * 1000 + LEASE_MARGIN_US;
    for (int i = 0; i < n; i++) {
        if (atomic_load(&d->stop)) break;
        if (i > 0) {
            /* Fail fast: the breaker opened (or a 429 paused us) during this batch. */
            pthread_mutex_lock(&d->mu);
            int blocked = d->br.state != DLV_CLOSED || mono() < d->br.pause_until;
            pthread_mutex_unlock(&d->mu);
            if (blocked) break;
            extend_lease(w, &lease_until);
        }
        post_t p = {.d = d, .retry_after = -1};
        char why[CURL_ERROR_SIZE + 16] = "";
        if (post_event(h, hdrs, &p, rows[i].payload, why, sizeof(why))) break; /* stopping */
        settle(w, &rows[i], probe, &p, why);
    }
    release_mine(w); /* whatever was not attempted goes back as it was */
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    struct lineage_deliverer *d = w->d;
    CURL *h = curl_easy_init();
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, "Expect:");
    if (d->auth) hdrs = curl_slist_append(hdrs, d->auth);
    row_t *rows = calloc((size_t)d->batch, sizeof(*rows));
    if (!h || !hdrs || !rows) {
        log_error("lineage delivery: cannot start a worker (out of memory)");
        goto out;
    }
    while (!atomic_load(&d->stop)) {
        pthread_mutex_lock(&d->mu);
        uint64_t gen = d->wake_gen;
        double until = 0;
        int mode = dlv_breaker_acquire(&d->br, mono(), &until);
        pthread_mutex_unlock(&d->mu);
        if (mode == DLV_WAIT) {
            wait_until(d, gen, until);
            continue;
        }
        if (w->index == 0 && d->dlq_max_age_us > 0) purge_dead_letters(d);
        claim_arg a = {.w = w, .limit = mode == DLV_PROBE ? 1 : d->batch, .rows = rows};
        dlb_err e = {0};
        int rc = lineage_tx(d->lg, claim_tx, &a, &e);
        if (rc || a.n == 0) {
            if (mode == DLV_PROBE) {
                pthread_mutex_lock(&d->mu);
                dlv_breaker_release_probe(&d->br);
                pthread_cond_broadcast(&d->cv);
                pthread_mutex_unlock(&d->mu);
            }
            if (rc) log_warn("lineage delivery: cannot claim outbox rows", "error", e.detail);
            double next = mono() + d->poll;
            if (!rc && a.next_at > 0) {
                double in = (double)(a.next_at - lineage_now_us()) / 1e6;
                if (in < 0.01) in = 0.01;
                if (mono() + in < next) next = mono() + in;
            }
            wait_until(d, gen, next);
            continue;
        }
        deliver_rows(w, h, hdrs, rows, a.n, mode == DLV_PROBE);
        for (int i = 0; i < a.n; i++)
            free(rows[i].payload);
    }
out:
    free(rows);
    curl_slist_free_all(hdrs);
    if (h) curl_easy_cleanup(h);
    return NULL;
}

/* ---- start, stop, metrics, stats ---- */

int lineage_deliver_start(lineage_t *lg, const config_t *cfg, char *err, size_t errlen)
{
    const char *base = cfg->monitoring_openlineage_url;
    if (!base || !*base || lg->dlv) return 0;
    if (strncasecmp(base, "http://", 7) && strncasecmp(base, "https://", 8)) {
        snprintf(err, errlen, "MONITORING_OPENLINEAGE_URL must be an http:// or https:// URL");
        return -1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct lineage_deliverer *d = calloc(1, sizeof(*d));
    if (!d) goto oom;
    d->lg = lg;
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    /* A URL that already names the endpoint is used as it is. */
    const char *suffix =
        bl >= 15 && !strncmp(base + bl - 15, "/api/v1/lineage", 15) ? "" : "/api/v1/lineage";
    if (asprintf(&d->url, "%.*s%s", (int)bl, base, suffix) < 0) {
        d->url = NULL;
        goto oom;
    }
    const char *key = cfg->monitoring_openlineage_api_key;
    if (key && *key && asprintf(&d->auth, "Authorization: Bearer %s", key) < 0) {
        d->auth = NULL;
        goto oom;
    }
    d->nthreads = (int)cfg->queue_worker_count;
    d->timeout_ms = (long)(cfg->queue_worker_timeout * 1000.0);
    d->retry_delay = cfg->queue_retry_delay;
    d->poll = (double)cfg->queue_poll_interval;
    d->max_attempts = (int)cfg->queue_retry_attempts;
    d->batch = (int)cfg->queue_batch_size;
    if (d->batch > MAX_BATCH) d->batch = MAX_BATCH;
    d->dlq_enabled = cfg->queue_dlq_enabled;
    d->dlq_max_age_us = (int64_t)cfg->queue_dlq_max_age * 1000000;
    /* Open for at least a second, at most BREAKER_MAX_OPEN, doubling per failed probe. */
    dlv_breaker_init(&d->br, BREAKER_THRESHOLD, d->retry_delay > 1 ? d->retry_delay : 1,
                     BREAKER_MAX_OPEN);
    char host[64] = "";
    gethostname(host, sizeof(host) - 1);
    unsigned char rnd[4] = {0};
    ids_random(rnd, sizeof(rnd));
    snprintf(d->owner, sizeof(d->owner), "%.60s:%ld:%02x%02x%02x%02x", host, (long)getpid(), rnd[0],
             rnd[1], rnd[2], rnd[3]);
    pthread_mutex_init(&d->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&d->cv, &ca);
    pthread_condattr_destroy(&ca);
    d->threads = calloc((size_t)d->nthreads, sizeof(pthread_t));
    worker_t *ws = calloc((size_t)d->nthreads, sizeof(worker_t));
    if (!d->threads || !ws) {
        free(ws);
        goto oom_locked;
    }
    if (!lg->is_pg) {
        /* SQLite: this process is the only claimer, so a lease in the file belongs to a
         * previous run that died (kill -9): its rows may go at once instead of after the lease
         * expires. PostgreSQL leases may belong to live replicas; they expire by time. */
        int64_t n = exec1(lg, "release stale leases",
                          "UPDATE ol_outbox SET lease_owner = NULL, lease_until = NULL WHERE "
                          "lease_owner IS NOT NULL",
                          NULL, 0);
        if (n > 0) {
            char c[24];
            snprintf(c, sizeof(c), "%lld", (long long)n);
            log_info("lineage delivery: released leases of a previous run", "rows", c);
        }
    }
    lg->dlv = d;
    for (int i = 0; i < d->nthreads; i++) {
        ws[i].d = d;
        ws[i].index = i;
        ws[i].seed = (unsigned)getpid() ^ (unsigned)(i * 2654435761u) ^ (unsigned)time(NULL);
        snprintf(ws[i].owner, sizeof(ws[i].owner), "%s/%d", d->owner, i);
        if (pthread_create(&d->threads[i], NULL, worker_main, &ws[i])) {
            snprintf(err, errlen, "cannot start lineage delivery thread %d", i);
            d->workers_mem = ws;
            lineage_deliver_stop(lg);
            return -1;
        }
        d->started++;
    }
    d->workers_mem = ws;
    char n[16];
    snprintf(n, sizeof(n), "%d", d->nthreads);
    log_info("lineage delivery started", "url", d->url, "workers", n);
    return 0;
oom_locked:
    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->cv);
oom:
    if (d) {
        free(d->threads);
        free(d->url);
        free(d->auth);
        free(d);
    }
    snprintf(err, errlen, "out of memory");
    return -1;
}

void lineage_deliver_stop(lineage_t *lg)
{
    struct lineage_deliverer *d = lg ? lg->dlv : NULL;
    if (!d || !d->started) return;
    pthread_mutex_lock(&d->mu);
    atomic_store(&d->stop, 1);
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
    for (int i = 0; i < d->started; i++)
        pthread_join(d->threads[i], NULL);
    d->started = 0;
    log_info("lineage delivery stopped");
}

void lineage_deliver_free(lineage_t *lg)
{
    struct lineage_deliverer *d = lg ? lg->dlv : NULL;
    if (!d) return;
    lineage_deliver_stop(lg);
    lg->dlv = NULL;
    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->cv);
    free(d->workers_mem);
    free(d->threads);
    free(d->url);
    free(d->auth);
    free(d);
}

int lineage_queue_stats(lineage_t *lg, lineage_queue_stats_t *s, dlb_err *e)
{
    memset(s, 0, sizeof(*s));
    int64_t now = lineage_now_us();
    meta_val p[] = {MVINT(now)};
    meta_result *r = lineage_read(
        lg,
        "SELECT COUNT(*), COALESCE(MIN(created_at), 0), COALESCE(SUM(attempts), 0), "
        "COALESCE(SUM(CASE WHEN lease_until >= ? THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN "
        "attempts > 0 THEN 1 ELSE 0 END), 0), (SELECT COUNT(*) FROM ol_dead_letters) FROM "
        "ol_outbox",
        p, 1, e);
    if (!r) return -1;
    s->depth = meta_result_int(r, 0, 0);
    int64_t oldest = meta_result_int(r, 0, 1);
    s->oldest_age = s->depth > 0 && oldest > 0 && now > oldest ? (double)(now - oldest) / 1e6 : 0;
    s->attempts = meta_result_int(r, 0, 2);
    s->leased = meta_result_int(r, 0, 3);
    s->retrying = meta_result_int(r, 0, 4);
    s->dead_letters = meta_result_int(r, 0, 5);
    meta_result_free(r);
    s->delivered = atomic_load(&lg->delivered);
    s->failed = atomic_load(&lg->failed);
    s->dead_lettered = atomic_load(&lg->dead_lettered);
    s->dropped = atomic_load(&lg->dropped);
    struct lineage_deliverer *d = lg->dlv;
    s->breaker = "closed";
    if (d) {
        pthread_mutex_lock(&d->mu);
        s->running = d->started > 0 && !atomic_load(&d->stop);
        s->breaker = dlv_breaker_state_name(d->br.state);
        pthread_mutex_unlock(&d->mu);
    }
    return 0;
}

/* ---- metrics ---- */

static obs_series *g_depth, *g_oldest, *g_attempts, *g_dead, *g_open;

static void refresh_metrics(void *ctx)
{
    lineage_t *lg = ctx;
    lineage_queue_stats_t s;
    dlb_err e = {0};
    if (lineage_queue_stats(lg, &s, &e)) return; /* keep the last values */
    obs_gauge_set(g_depth, (double)s.depth);
    obs_gauge_set(g_oldest, s.oldest_age);
    obs_gauge_set(g_attempts, (double)s.attempts);
    obs_gauge_set(g_dead, (double)s.dead_letters);
    obs_gauge_set(g_open, strcmp(s.breaker, "closed") ? 1 : 0);
}

void lineage_metrics_register(lineage_t *lg)
{
    g_depth =
        obs_series_get(obs_gauge_family("dlb_lineage_queue_depth",
                                        "Lineage events waiting in the delivery outbox", NULL),
                       NULL);
    g_oldest = obs_series_get(
        obs_gauge_family("dlb_lineage_queue_oldest_age_seconds",
                         "Seconds since the oldest waiting lineage event was committed", NULL),
        NULL);
    g_attempts = obs_series_get(
        obs_gauge_family("dlb_lineage_queue_attempts",
                         "Failed delivery attempts summed over the waiting lineage events", NULL),
        NULL);
    g_dead = obs_series_get(obs_gauge_family("dlb_lineage_dead_letters",
                                             "Lineage events in the dead-letter table", NULL),
                            NULL);
    g_open = obs_series_get(
        obs_gauge_family("dlb_lineage_circuit_open",
                         "1 while the circuit breaker over the OpenLineage collector is open "
                         "or half-open",
                         NULL),
        NULL);
    obs_family *f = obs_counter_family("dlb_lineage_deliveries_total",
                                       "Lineage delivery attempts by outcome (delivered, retry, "
                                       "dead_letter, dropped)",
                                       "outcome");
    static const char *names[4] = {"delivered", "retry", "dead_letter", "dropped"};
    for (int i = 0; i < 4; i++)
        lg->m_outcome[i] = f ? obs_series_get(f, OBS_LABELS(names[i])) : NULL;
    obs_metrics_on_scrape(refresh_metrics, lg);
}
