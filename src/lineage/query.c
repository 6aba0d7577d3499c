/* The lineage read API: the seed's /api/v1/lineage/{jobs,runs,datasets,stats} shapes and the
 * raw events list with a time window, filters and keyset (cursor) pagination. */
#include "internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *lineage_read_jobs(lineage_t *lg, const char *ns, int limit, int offset, dlb_err *e)
{
    json_t *l = lineage_jobs_list(lg, ns, limit, offset, e);
    if (!l) return NULL;
    json_t *a = json_incref(json_object_get(l, "jobs"));
    json_decref(l);
    return a;
}

json_t *lineage_read_job_runs(lineage_t *lg, const char *ns, const char *job, int limit, int offset,
                              dlb_err *e)
{
    meta_val k[] = {MVTEXT(ns), MVTEXT(job)};
    meta_result *r =
        lineage_read(lg, "SELECT id FROM ol_jobs WHERE namespace = ? AND name = ?", k, 2, e);
    if (!r) return NULL;
    int found = meta_result_rows(r) > 0;
    meta_result_free(r);
    if (!found) {
        dlb_err_set(e, 404, "job_not_found", "job '%.200s' not found in namespace '%.200s'", job,
                    ns);
        return NULL;
    }
    return lineage_runs_of(lg, ns, job, limit, offset, e);
}

static const char *source_uri(const json_t *facets)
{
    const json_t *u = json_object_get(json_object_get(facets, "dataSource"), "uri");
    return json_is_string(u) ? json_string_value(u) : NULL;
}

#define DATASET_COLS                                                                               \
    "SELECT d.id, d.namespace, d.name, d.facets, d.created_at, d.updated_at, (SELECT "             \
    "COUNT(DISTINCT io.run_id) FROM ol_run_io io WHERE io.dataset_id = d.id), (SELECT "            \
    "MAX(io.created_at) FROM ol_run_io io WHERE io.dataset_id = d.id AND io.direction = "          \
    "'INPUT'), (SELECT MAX(io.created_at) FROM ol_run_io io WHERE io.dataset_id = d.id AND "       \
    "io.direction = 'OUTPUT') FROM ol_datasets d "

static json_t *dataset_json(const meta_result *r, int i, int full)
{
    json_t *f = lineage_json_col(r, i, 3);
    const char *uri = source_uri(f);
    json_t *o = json_pack("{s:I, s:s, s:s, s:s}", "id", (json_int_t)meta_result_int(r, i, 0),
                          "namespace", meta_result_get(r, i, 1), "name", meta_result_get(r, i, 2),
                          "physical_name", meta_result_get(r, i, 2));
    json_object_set_new(o, "source_uri", uri ? json_string(uri) : json_null());
    if (full) {
        lineage_set_time(o, "created_at", meta_result_int(r, i, 4));
        lineage_set_time(o, "updated_at", meta_result_int(r, i, 5));
        json_object_set_new(o, "involved_runs", json_integer(meta_result_int(r, i, 6)));
        lineage_set_time(o, "last_input", meta_result_int(r, i, 7));
        lineage_set_time(o, "last_output", meta_result_int(r, i, 8));
        json_object_set(o, "facets", f);
    }
    json_decref(f);
    return o;
}

json_t *lineage_read_datasets(lineage_t *lg, const char *ns, int limit, int offset, dlb_err *e)
{
    meta_val p[3];
    int n = 0;
    if (ns) p[n++] = MVTEXT(ns);
    p[n++] = MVINT(limit);
    p[n++] = MVINT(offset);
    meta_result *r = lineage_read(
        lg,
        ns ? DATASET_COLS "WHERE d.namespace = ? ORDER BY d.updated_at DESC, d.id DESC LIMIT ? "
                          "OFFSET ?"
           : DATASET_COLS "ORDER BY d.updated_at DESC, d.id DESC LIMIT ? OFFSET ?",
        p, n, e);
    if (!r) return NULL;
    json_t *a = json_array();
    for (int i = 0; i < meta_result_rows(r); i++)
        json_array_append_new(a, dataset_json(r, i, 1));
    meta_result_free(r);
    return a;
}

static json_t *io_runs(lineage_t *lg, int64_t ds, const char *dir, dlb_err *e)
{
    meta_val p[] = {MVINT(ds), MVTEXT(dir)};
    meta_result *r = lineage_read(lg,
                                  "SELECT r.run_id, j.namespace, j.name, r.state, r.started_at, "
                                  "r.ended_at, io.created_at FROM ol_run_io io JOIN ol_runs r ON "
                                  "r.run_id = io.run_id JOIN ol_jobs j ON j.id = r.job_id WHERE "
                                  "io.dataset_id = ? AND io.direction = ? ORDER BY io.created_at "
                                  "DESC, r.run_id DESC LIMIT 100",
                                  p, 2, e);
    if (!r) return NULL;
    json_t *a = json_array();
    for (int i = 0; i < meta_result_rows(r); i++) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "run_id", meta_result_get(r, i, 0),
                              "namespace", meta_result_get(r, i, 1), "job_name",
                              meta_result_get(r, i, 2), "state", meta_result_get(r, i, 3));
        lineage_set_time(o, "started_at", meta_result_int(r, i, 4));
        lineage_set_time(o, "ended_at", meta_result_int(r, i, 5));
        lineage_set_time(o, "lineage_created_at", meta_result_int(r, i, 6));
        json_array_append_new(a, o);
    }
    meta_result_free(r);
    return a;
}

json_t *lineage_read_dataset_lineage(lineage_t *lg, const char *ns, const char *name, dlb_err *e)
{
    meta_val k[] = {MVTEXT(ns), MVTEXT(name)};
    meta_result *r = lineage_read(lg, DATASET_COLS "WHERE d.namespace = ? AND d.name = ?", k, 2, e);
    if (!r) return NULL;
    if (meta_result_rows(r) == 0) {
        meta_result_free(r);
        dlb_err_set(e, 404, "dataset_not_found", "dataset '%.200s' not found in namespace '%.200s'",
                    name, ns);
        return NULL;
    }
    json_t *ds = dataset_json(r, 0, 0);
    int64_t id = meta_result_int(r, 0, 0);
    meta_result_free(r);
    json_t *cons = io_runs(lg, id, "INPUT", e), *prod = cons ? io_runs(lg, id, "OUTPUT", e) : NULL;
    if (!prod) {
        json_decref(ds);
        json_decref(cons);
        return NULL;
    }
    return json_pack("{s:o, s:o, s:o}", "dataset", ds, "consumed_by", cons, "produced_by", prod);
}

json_t *lineage_stats(lineage_t *lg, dlb_err *e)
{
    meta_result *r = lineage_read(
        lg,
        "SELECT (SELECT COUNT(*) FROM ol_jobs), (SELECT COUNT(*) FROM ol_runs), (SELECT COUNT(*) "
        "FROM ol_datasets), (SELECT COUNT(*) FROM ol_events), (SELECT COUNT(*) FROM ol_runs "
        "WHERE state IN ('START', 'RUNNING')), (SELECT COUNT(*) FROM ol_outbox), (SELECT "
        "COUNT(*) FROM ol_dead_letters)",
        NULL, 0, e);
    if (!r) return NULL;
    json_int_t v[7];
    for (int i = 0; i < 7; i++)
        v[i] = (json_int_t)meta_result_int(r, 0, i);
    meta_result_free(r);
    json_t *q = json_pack("{s:I, s:I, s:i, s:I}", "lineage_events", v[5], "lineage_events_dlq",
                          v[6], "lineage_notifications", 0, "total_messages", v[5] + v[6]);
    lineage_set_time(q, "timestamp", lineage_now_us());
    json_t *out = json_pack("{s:{s:I, s:I, s:I, s:I, s:I}, s:o}", "database", "total_jobs", v[0],
                            "total_runs", v[1], "total_datasets", v[2], "total_events", v[3],
                            "active_runs", v[4], "queues", q);
    json_object_set_new(out, "ingest",
                        json_pack("{s:I, s:I, s:I, s:I, s:s}", "accepted",
                                  (json_int_t)atomic_load(&lg->accepted), "duplicates",
                                  (json_int_t)atomic_load(&lg->duplicates), "rejected",
                                  (json_int_t)atomic_load(&lg->rejected), "with_warnings",
                                  (json_int_t)atomic_load(&lg->warned), "validation",
                                  lg->strict ? "strict" : "lenient"));
    lineage_queue_stats_t qs;
    dlb_err qe = {0};
    if (lineage_queue_stats(lg, &qs, &qe) == 0)
        json_object_set_new(
            out, "delivery",
            json_pack("{s:b, s:b, s:s, s:I, s:I, s:I, s:f, s:I, s:I, s:I, s:I, s:I, s:I}",
                      "configured", lg->outbox, "running", qs.running, "circuit_breaker",
                      qs.breaker, "queue_depth", (json_int_t)qs.depth, "leased",
                      (json_int_t)qs.leased, "retrying", (json_int_t)qs.retrying,
                      "oldest_age_seconds", qs.oldest_age, "failed_attempts_queued",
                      (json_int_t)qs.attempts, "dead_letters", (json_int_t)qs.dead_letters,
                      "delivered", (json_int_t)qs.delivered, "failed", (json_int_t)qs.failed,
                      "dead_lettered", (json_int_t)qs.dead_lettered, "dropped",
                      (json_int_t)qs.dropped));
    return out;
}

/* ---- GET /api/v1/events/lineage ---- */

static int parse_cursor(const char *s, int64_t *t, int64_t *id)
{
    char *end;
    long long a = strtoll(s, &end, 10);
    if (end == s || *end != '.') return -1;
    const char *b = end + 1;
    long long c = strtoll(b, &end, 10);
    if (end == b || *end || c <= 0) return -1;
    *t = a;
    *id = c;
    return 0;
}

json_t *lineage_events_list(lineage_t *lg, const lineage_event_filter *f, dlb_err *e)
{
    char sql[1024] = "WHERE 1 = 1";
    meta_val p[12];
    int n = 0;
    int64_t after = 0, before = 0, ct = 0, cid = 0;
    if (f->after && ol_time_parse(f->after, &after) < 0) {
        dlb_err_set(e, 422, "validation_error", "after must be an RFC 3339 date-time");
        return NULL;
    }
    if (f->before && ol_time_parse(f->before, &before) < 0) {
        dlb_err_set(e, 422, "validation_error", "before must be an RFC 3339 date-time");
        return NULL;
    }
    if (f->cursor && parse_cursor(f->cursor, &ct, &cid)) {
        dlb_err_set(e, 422, "invalid_cursor", "cursor must be a next_cursor from a previous page");
        return NULL;
    }
    if (f->after) {
        strcat(sql, " AND event_time_us >= ?");
        p[n++] = MVINT(after);
    }
    if (f->before) {
        strcat(sql, " AND event_time_us < ?");
        p[n++] = MVINT(before);
    }
    if (f->ns) {
        strcat(sql, " AND (job_namespace = ? OR dataset_namespace = ?)");
        p[n++] = MVTEXT(f->ns);
        p[n++] = MVTEXT(f->ns);
    }
    if (f->job) {
        strcat(sql, " AND job_name = ?");
        p[n++] = MVTEXT(f->job);
    }
    if (f->run_id) {
        strcat(sql, " AND run_id = ?");
        p[n++] = MVTEXT(f->run_id);
    }
    int nfilter = n;
    char count_sql[1200];
    snprintf(count_sql, sizeof(count_sql), "SELECT COUNT(*) FROM ol_events %s", sql);
    if (f->cursor) {
        strcat(sql, f->ascending ? " AND (event_time_us > ? OR (event_time_us = ? AND id > ?))"
                                 : " AND (event_time_us < ? OR (event_time_us = ? AND id < ?))");
        p[n++] = MVINT(ct);
        p[n++] = MVINT(ct);
        p[n++] = MVINT(cid);
    }
    char list_sql[1400];
    snprintf(list_sql, sizeof(list_sql),
             "SELECT id, event_time_us, payload FROM ol_events %s ORDER BY event_time_us %s, id "
             "%s LIMIT ?",
             sql, f->ascending ? "ASC" : "DESC", f->ascending ? "ASC" : "DESC");
    p[n++] = MVINT(f->limit + 1);
    meta_result *r = lineage_read(lg, list_sql, p, n, e);
    if (!r) return NULL;
    json_t *events = json_array();
    int rows = meta_result_rows(r), shown = rows > f->limit ? f->limit : rows;
    for (int i = 0; i < shown; i++)
        json_array_append_new(events, lineage_json_col(r, i, 2));
    json_t *next = json_null();
    if (rows > f->limit && shown > 0) {
        char c[64];
        snprintf(c, sizeof(c), "%" PRId64 ".%" PRId64, meta_result_int(r, shown - 1, 1),
                 meta_result_int(r, shown - 1, 0));
        next = json_string(c);
    }
    meta_result_free(r);
    r = lineage_read(lg, count_sql, p, nfilter, e);
    if (!r) {
        json_decref(events);
        json_decref(next);
        return NULL;
    }
    json_t *out = json_pack("{s:o, s:I, s:o}", "events", events, "totalCount",
                            (json_int_t)meta_result_int(r, 0, 0), "next_cursor", next);
    meta_result_free(r);
    return out;
}
