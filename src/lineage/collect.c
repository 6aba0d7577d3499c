/* The OpenLineage collector: one event or a batch, validated (lenient or strict), stored
 * durably, then announced. A 2xx is only ever built after lineage_tx has committed. */
#include "internal.h"

#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int store_fn(lineage_t *lg, meta_conn *c, void *arg, dlb_err *e)
{
    return lineage_store_tx(lg, c, arg, e);
}

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

/* Validates and stores one parsed event. 0, or -1 with e set (and *errors when invalid). */
static int collect_one(lineage_t *lg, ol_item *it, dlb_err *e, json_t **errors)
{
    int bad = ol_validate(it->ev, &it->chk) != 0 || (lg->strict && ol_check_deviations(&it->chk));
    if (bad) {
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
    if (lineage_tx(lg, store_fn, it, e)) return -1;
    atomic_fetch_add(it->duplicate ? &lg->duplicates : &lg->accepted, 1);
    if (ol_check_deviations(&it->chk) && !it->duplicate) atomic_fetch_add(&lg->warned, 1);
    announce(lg, it);
    return 0;
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
    if (collect_one(lg, &it, e, errors) == 0) {
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
    json_t *failed = json_array(), *warnings = json_array();
    size_t ok = 0, retriable = 0, fatal = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = raw + starts[i];
        json_error_t je;
        dlb_err ee = {0};
        json_t *ev = json_loadb(s, lens[i], JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
        if (!ev) {
            char reason[300];
            snprintf(reason, sizeof(reason), "invalid JSON at column %d: %s", je.column, je.text);
            json_array_append_new(failed, json_pack("{s:I, s:s, s:b}", "index", (json_int_t)i,
                                                    "reason", reason, "retriable", 0));
            fatal++;
            continue;
        }
        ol_item it = {.raw = s, .len = lens[i], .ev = ev};
        if (collect_one(lg, &it, &ee, NULL) == 0) {
            ok++;
            if (ol_check_deviations(&it.chk))
                json_array_append_new(warnings, json_pack("{s:I, s:o}", "index", (json_int_t)i,
                                                          "warnings", warnings_of(&it.chk)));
        } else {
            int retry = ee.status >= 500;
            json_array_append_new(failed, json_pack("{s:I, s:s, s:b}", "index", (json_int_t)i,
                                                    "reason", ee.detail, "retriable", retry));
            if (retry)
                retriable++;
            else
                fatal++;
        }
        ol_check_free(&it.chk);
        json_decref(ev);
    }
    free(starts);
    free(lens);
    /* Nothing stored and only transient failures: a 503 makes stock clients retry. */
    *status = (ok == 0 && retriable > 0 && fatal == 0) ? 503 : 200;
    return json_pack("{s:s, s:{s:I, s:I, s:I, s:I, s:I}, s:o, s:o}", "status",
                     ok == n ? "success" : "partial_success", "summary", "received", (json_int_t)n,
                     "successful", (json_int_t)ok, "failed", (json_int_t)(n - ok), "retriable",
                     (json_int_t)retriable, "non_retriable", (json_int_t)fatal, "failed_events",
                     failed, "warnings", warnings);
}
