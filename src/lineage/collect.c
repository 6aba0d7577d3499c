/* The OpenLineage collector: one event or a batch, validated (lenient or strict), stored
 * durably, then announced. A 2xx is only ever built after lineage_tx has committed. */
#include "internal.h"

#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void announce(lineage_t *lg, const ol_item *it)
{
    if (!lg->publish || it->duplicate) return;
    const json_t *job = json_object_get(it->ev, "job");
    json_t *d = json_pack("{s:s, s:I, s:s, s:s?, s:s?, s:s?, s:s?}", "status", "completed",
                          "event_id", (json_int_t)it->event_id, "kind", ol_kind_name(it->chk.kind),
                          "event_type", it->chk.event_type[0] ? it->chk.event_type : NULL, "run_id",
                          it->chk.run_id[0] ? it->chk.run_id : NULL, "job_namespace",
                          json_string_value(json_object_get(job, "namespace")), "job_name",
                          json_string_value(json_object_get(job, "name")));
    lg->publish(lg->publish_ctx, "lineage_event", d);
    json_decref(d);
}

/* Validates one parsed event. 0, or -1 with e set (and *errors when not NULL). */
static int check_one(lineage_t *lg, ol_item *it, dlb_err *e, json_t **errors)
{
    int bad = ol_validate(it->ev, &it->chk) != 0 || (lg->strict && ol_check_deviations(&it->chk));
    if (!bad) return 0;
    char first[700];
    ol_check_first(&it->chk, !lg->strict, first, sizeof(first));
    dlb_err_set(e, 400, "invalid_event", "%s", first);
    if (errors) {
        *errors = json_array();
        size_t i;
        json_t *p;
        json_array_foreach(it->chk.problems, i, p)
        {
            if (!lg->strict && !json_is_true(json_object_get(p, "fatal"))) continue;
            json_array_append_new(*errors,
                                  json_pack("{s:O, s:O}", "path", json_object_get(p, "path"),
                                            "rule", json_object_get(p, "rule")));
        }
    }
    atomic_fetch_add(&lg->rejected, 1);
    return -1;
}

/* Counts and announces an event after the commit that stored it. */
static void stored(lineage_t *lg, const ol_item *it)
{
    atomic_fetch_add(it->duplicate ? &lg->duplicates : &lg->accepted, 1);
    if (ol_check_deviations(&it->chk) && !it->duplicate) atomic_fetch_add(&lg->warned, 1);
    announce(lg, it);
}

/* ---- group commit of single events ----
 * SQLite only. Each caller queues its validated event and waits. While no group is committing
 * (gc_max_leaders, 1), a waiting caller becomes the leader: it takes everything queued at that
 * moment (up to LINEAGE_GROUP_MAX), stores it with lineage_store_many (one transaction, a
 * savepoint per event, so one bad event does not fail its neighbours) and wakes the callers.
 * Every caller returns only after the commit that holds its own event (or with its error), so
 * "2xx after the durable commit" is kept, and concurrent clients share one fsync. */
struct lineage_gc_req {
    ol_item *it;
    dlb_err err;
    int rc, done;
    struct lineage_gc_req *next;
};

static void commit_group(lineage_t *lg, struct lineage_gc_req **grp, size_t n)
{
    ol_item *items[LINEAGE_GROUP_MAX];
    int rcs[LINEAGE_GROUP_MAX] = {0};
    dlb_err *errs = calloc(n, sizeof(*errs)), e = {0};
    for (size_t i = 0; i < n; i++)
        items[i] = grp[i]->it;
    int rc = errs ? lineage_store_many(lg, items, n, rcs, errs, &e) : -1;
    if (!errs) dlb_err_set(&e, 500, "internal_error", "out of memory");
    for (size_t i = 0; i < n; i++) {
        grp[i]->rc = rc || rcs[i] ? -1 : 0;
        if (rc)
            grp[i]->err = e;
        else if (rcs[i])
            grp[i]->err = errs[i];
    }
    free(errs);
    atomic_fetch_add(&lg->gc_groups, 1);
}

static int store_grouped(lineage_t *lg, ol_item *it, dlb_err *e)
{
    struct lineage_gc_req me = {.it = it};
    pthread_mutex_lock(&lg->gc_mu);
    /* me lives on this stack until it is done, and a leader unlinks it before that. */
    // cppcheck-suppress autoVariables
    *lg->gc_tail = &me;
    // cppcheck-suppress autoVariables
    lg->gc_tail = &me.next;
    while (!me.done) {
        if (!lg->gc_head || lg->gc_leaders >= lg->gc_max_leaders) {
            pthread_cond_wait(&lg->gc_cv, &lg->gc_mu);
            continue;
        }
        struct lineage_gc_req *grp[LINEAGE_GROUP_MAX];
        size_t n = 0;
        while (lg->gc_head && n < LINEAGE_GROUP_MAX) {
            grp[n++] = lg->gc_head;
            lg->gc_head = lg->gc_head->next;
        }
        if (!lg->gc_head) lg->gc_tail = &lg->gc_head;
        lg->gc_leaders++;
        pthread_mutex_unlock(&lg->gc_mu);
        commit_group(lg, grp, n);
        pthread_mutex_lock(&lg->gc_mu);
        lg->gc_leaders--;
        /* After this, the other callers may return: their requests live on their stacks. */
        for (size_t i = 0; i < n; i++)
            grp[i]->done = 1;
        pthread_cond_broadcast(&lg->gc_cv);
    }
    pthread_mutex_unlock(&lg->gc_mu);
    if (me.rc) *e = me.err;
    return me.rc;
}

/* PostgreSQL: each single event in its own transaction, as many side by side as requests.
 * Concurrent commits already share WAL flushes there, and a group would add two round trips
 * per event (its savepoint) and hold row locks longer: measured slower in bench/lineage. */
static int store_alone(lineage_t *lg, ol_item *it, dlb_err *e)
{
    int rc0 = 0;
    dlb_err err0 = {0};
    return lineage_store_many(lg, &it, 1, &rc0, &err0, e);
}

static json_t *warnings_of(const ol_check *chk)
{
    json_t *w = json_array();
    size_t i;
    json_t *p;
    json_array_foreach(chk->problems, i, p)
    {
        if (json_is_true(json_object_get(p, "fatal"))) continue;
        char s[800];
        snprintf(s, sizeof(s), "%s: %s", json_string_value(json_object_get(p, "path")),
                 json_string_value(json_object_get(p, "rule")));
        json_array_append_new(w, json_string(s));
    }
    return w;
}

json_t *lineage_collect(lineage_t *lg, const char *raw, size_t len, dlb_err *e, json_t **errors)
{
    json_error_t je;
    json_t *ev = json_loadb(raw, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!ev) {
        dlb_err_set(e, 400, "invalid_json", "invalid JSON at line %d column %d: %s", je.line,
                    je.column, je.text);
        atomic_fetch_add(&lg->rejected, 1);
        return NULL;
    }
    ol_item it = {.raw = raw, .len = len, .ev = ev};
    json_t *out = NULL;
    int rc = check_one(lg, &it, e, errors);
    if (rc == 0) rc = lg->is_pg ? store_alone(lg, &it, e) : store_grouped(lg, &it, e);
    if (rc == 0) {
        stored(lg, &it);
        out = json_pack("{s:s, s:I, s:s}", "status", it.duplicate ? "duplicate" : "accepted",
                        "event_id", (json_int_t)it.event_id, "kind", ol_kind_name(it.chk.kind));
        if (it.chk.run_id[0]) json_object_set_new(out, "run_id", json_string(it.chk.run_id));
        if (it.chk.event_type[0])
            json_object_set_new(out, "event_type", json_string(it.chk.event_type));
        json_object_set_new(out, "warnings", warnings_of(&it.chk));
    }
    ol_check_free(&it.chk);
    json_decref(ev);
    return out;
}

json_t *lineage_collect_batch(lineage_t *lg, const char *raw, size_t len, int *status, dlb_err *e)
{
    size_t *starts = NULL, *lens = NULL, n = 0, bad_at = 0;
    if (lineage_split_array(raw, len, &starts, &lens, &n, &bad_at)) {
        dlb_err_set(e, 400, "invalid_json",
                    "a batch must be a JSON array of events (problem at byte %zu)", bad_at);
        return NULL;
    }
    if (n > LINEAGE_MAX_BATCH) {
        free(starts);
        free(lens);
        dlb_err_set(e, 413, "batch_too_large", "a batch holds at most %d events, not %zu",
                    LINEAGE_MAX_BATCH, n);
        return NULL;
    }
    /* Parse and validate every element first, then store the valid ones in ONE transaction
     * (a savepoint each: an element that fails alone is rolled back alone). */
    ol_item *items = calloc(n + 1, sizeof(*items));
    ol_item **valid = calloc(n + 1, sizeof(*valid));
    dlb_err *errs = calloc(n + 1, sizeof(*errs));
    int *rcs = calloc(n + 1, sizeof(*rcs)); /* per element: 0 stored, -1 failed (errs) */
    size_t *vidx = calloc(n + 1, sizeof(*vidx));
    json_t *answer = NULL;
    if (!items || !valid || !errs || !rcs || !vidx) {
        dlb_err_set(e, 500, "internal_error", "out of memory");
        goto out;
    }
    size_t nvalid = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = raw + starts[i];
        json_error_t je;
        items[i].raw = s;
        items[i].len = lens[i];
        items[i].ev = json_loadb(s, lens[i], JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
        rcs[i] = -1;
        if (!items[i].ev) {
            dlb_err_set(&errs[i], 400, "invalid_json", "invalid JSON at column %d: %s", je.column,
                        je.text);
            continue;
        }
        if (check_one(lg, &items[i], &errs[i], NULL)) continue;
        vidx[nvalid] = i;
        valid[nvalid++] = &items[i];
    }
    int *vrc = calloc(nvalid + 1, sizeof(*vrc));
    dlb_err *verr = calloc(nvalid + 1, sizeof(*verr)), txe = {0};
    int txrc = -1;
    if (!vrc || !verr)
        dlb_err_set(&txe, 500, "internal_error", "out of memory");
    else
        txrc = lineage_store_many(lg, valid, nvalid, vrc, verr, &txe);
    for (size_t k = 0; k < nvalid; k++) {
        size_t i = vidx[k];
        if (txrc)
            errs[i] = txe;
        else if (vrc[k])
            errs[i] = verr[k];
        else
            rcs[i] = 0;
    }
    free(vrc);
    free(verr);

    json_t *failed = json_array(), *warnings = json_array();
    size_t ok = 0, retriable = 0, fatal = 0;
    for (size_t i = 0; i < n; i++) {
        if (rcs[i] == 0) {
            ok++;
            stored(lg, &items[i]);
            if (ol_check_deviations(&items[i].chk))
                json_array_append_new(warnings, json_pack("{s:I, s:o}", "index", (json_int_t)i,
                                                          "warnings", warnings_of(&items[i].chk)));
        } else {
            int retry = errs[i].status >= 500;
            json_array_append_new(failed, json_pack("{s:I, s:s, s:b}", "index", (json_int_t)i,
                                                    "reason", errs[i].detail, "retriable", retry));
            if (retry)
                retriable++;
            else
                fatal++;
        }
        if (items[i].ev) {
            ol_check_free(&items[i].chk);
            json_decref(items[i].ev);
        }
    }
    /* Nothing stored and only transient failures: a 503 makes stock clients retry. */
    *status = (ok == 0 && retriable > 0 && fatal == 0) ? 503 : 200;
    answer = json_pack("{s:s, s:{s:I, s:I, s:I, s:I, s:I}, s:o, s:o}", "status",
                       ok == n ? "success" : "partial_success", "summary", "received",
                       (json_int_t)n, "successful", (json_int_t)ok, "failed", (json_int_t)(n - ok),
                       "retriable", (json_int_t)retriable, "non_retriable", (json_int_t)fatal,
                       "failed_events", failed, "warnings", warnings);
out:
    free(items);
    free(valid);
    free(errs);
    free(rcs);
    free(vidx);
    free(starts);
    free(lens);
    return answer;
}
