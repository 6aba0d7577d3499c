/* Dead letters (ol_dead_letters): list, replay one or all (back into the outbox, attempts
 * reset, in one transaction with the removal), delete. */
#include "internal.h"

#include "deliver.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int parse_id(const char *s, int64_t *id)
{
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v <= 0) return -1;
    *id = v;
    return 0;
}

json_t *lineage_dlq_list(lineage_t *lg, int limit, int offset, dlb_err *e)
{
    meta_result *r = lineage_read(lg, "SELECT COUNT(*) FROM ol_dead_letters", NULL, 0, e);
    if (!r) return NULL;
    json_int_t total = (json_int_t)meta_result_int(r, 0, 0);
    meta_result_free(r);
    meta_val p[] = {MVINT(limit), MVINT(offset)};
    r = lineage_read(lg,
                     "SELECT d.id, d.event_id, d.attempts, d.last_status, d.reason, d.created_at, "
                     "d.dead_at, e.kind, e.event_type, e.run_id, e.job_namespace, e.job_name, "
                     "e.event_time, e.payload FROM ol_dead_letters d JOIN ol_events e ON e.id = "
                     "d.event_id ORDER BY d.id LIMIT ? OFFSET ?",
                     p, 2, e);
    if (!r) return NULL;
    json_t *items = json_array();
    for (int i = 0; i < meta_result_rows(r); i++) {
        json_t *o = json_object();
        json_object_set_new(o, "id", json_integer((json_int_t)meta_result_int(r, i, 0)));
        json_object_set_new(o, "event_id", json_integer((json_int_t)meta_result_int(r, i, 1)));
        json_object_set_new(o, "attempts", json_integer((json_int_t)meta_result_int(r, i, 2)));
        json_object_set_new(o, "last_status",
                            meta_result_isnull(r, i, 3)
                                ? json_null()
                                : json_integer((json_int_t)meta_result_int(r, i, 3)));
        json_object_set_new(o, "reason", json_string(meta_result_get(r, i, 4)));
        lineage_set_time(o, "created_at", meta_result_int(r, i, 5));
        lineage_set_time(o, "dead_at", meta_result_int(r, i, 6));
        json_object_set_new(o, "kind", json_string(meta_result_get(r, i, 7)));
        const char *cols[] = {"event_type", "run_id", "job_namespace", "job_name", "event_time"};
        for (int k = 0; k < 5; k++) {
            const char *v = meta_result_get(r, i, 8 + k);
            json_object_set_new(o, cols[k], v ? json_string(v) : json_null());
        }
        json_object_set_new(o, "event", lineage_json_col(r, i, 13));
        json_array_append_new(items, o);
    }
    meta_result_free(r);
    return json_pack("{s:o, s:I, s:i, s:i}", "dead_letters", items, "total", total, "limit", limit,
                     "offset", offset);
}

typedef struct {
    int64_t id; /* 0: all */
    int64_t count;
} replay_arg;

/* Back into the outbox with a fresh attempt count; the ordering key comes from the event. */
#define REQUEUE_SQL                                                                                \
    "INSERT INTO ol_outbox(event_id, run_id, run_rank, event_time_us, attempts, "                  \
    "next_attempt_at, created_at) SELECT DISTINCT e.id, e.run_id, CASE e.event_type WHEN "         \
    "'START' THEN 0 WHEN 'COMPLETE' THEN 2 WHEN 'ABORT' THEN 2 WHEN 'FAIL' THEN 2 ELSE 1 END, "    \
    "e.event_time_us, 0, CAST(? AS BIGINT), CAST(? AS BIGINT) FROM ol_dead_letters d JOIN "        \
    "ol_events e ON e.id = d.event_id WHERE "                                                      \
    "%s ON CONFLICT (event_id) DO NOTHING"

static int replay_tx(lineage_t *lg, meta_conn *c, void *argp, dlb_err *e)
{
    replay_arg *a = argp;
    char err[256] = "";
    int rc = META_ERR;
    int64_t now = lineage_now_us(), upto = a->id;
    if (!a->id) {
        /* Everything that is dead now: rows dying during the replay stay for the next one. */
        meta_result *r = meta_query(c, "SELECT COALESCE(MAX(id), 0) FROM ol_dead_letters", NULL, 0,
                                    &rc, err, sizeof(err));
        if (!r) {
            lineage_db_err(e, rc, "replay dead letters", err);
            return -1;
        }
        upto = meta_result_int(r, 0, 0);
        meta_result_free(r);
        if (!upto) {
            a->count = 0;
            return 0;
        }
    }
    char sql[1024];
    snprintf(sql, sizeof(sql), REQUEUE_SQL, a->id ? "d.id = ?" : "d.id <= ?");
    meta_val p[] = {MVINT(now), MVINT(now), MVINT(upto)};
    int64_t n = meta_exec(c, sql, p, 3, err, sizeof(err));
    if (n < 0) {
        lineage_db_err(e, (int)n, "replay dead letters", err);
        return -1;
    }
    meta_val d[] = {MVINT(upto)};
    n = meta_exec(c,
                  a->id ? "DELETE FROM ol_dead_letters WHERE id = ?"
                        : "DELETE FROM ol_dead_letters WHERE id <= ?",
                  d, 1, err, sizeof(err));
    if (n < 0) {
        lineage_db_err(e, (int)n, "replay dead letters", err);
        return -1;
    }
    if (a->id && n == 0) {
        dlb_err_set(e, 404, "not_found", "dead letter %lld not found", (long long)a->id);
        return -1;
    }
    a->count = n;
    if (n > 0) lineage_tl_outbox = 1;
    return 0;
}

static int need_collector(const lineage_t *lg, dlb_err *e)
{
    if (lg->outbox) return 0;
    dlb_err_set(e, 409, "no_collector",
                "MONITORING_OPENLINEAGE_URL is not set: nothing would deliver a replayed event");
    return -1;
}

json_t *lineage_dlq_replay(lineage_t *lg, const char *id, dlb_err *e)
{
    replay_arg a = {0};
    if (parse_id(id, &a.id)) {
        dlb_err_set(e, 404, "not_found", "dead letter '%.60s' not found", id ? id : "");
        return NULL;
    }
    if (need_collector(lg, e) || lineage_tx(lg, replay_tx, &a, e)) return NULL;
    return json_pack("{s:s, s:I}", "status", "requeued", "id", (json_int_t)a.id);
}

json_t *lineage_dlq_replay_all(lineage_t *lg, dlb_err *e)
{
    replay_arg a = {0};
    if (need_collector(lg, e) || lineage_tx(lg, replay_tx, &a, e)) return NULL;
    return json_pack("{s:s, s:I}", "status", "requeued", "requeued", (json_int_t)a.count);
}

static int delete_tx(lineage_t *lg, meta_conn *c, void *argp, dlb_err *e)
{
    (void)lg;
    replay_arg *a = argp;
    char err[256] = "";
    meta_val p[] = {MVINT(a->id)};
    int64_t n = meta_exec(c, "DELETE FROM ol_dead_letters WHERE id = ?", p, 1, err, sizeof(err));
    if (n < 0) {
        lineage_db_err(e, (int)n, "delete dead letter", err);
        return -1;
    }
    if (n == 0) {
        dlb_err_set(e, 404, "not_found", "dead letter %lld not found", (long long)a->id);
        return -1;
    }
    return 0;
}

json_t *lineage_dlq_delete(lineage_t *lg, const char *id, dlb_err *e)
{
    replay_arg a = {0};
    if (parse_id(id, &a.id)) {
        dlb_err_set(e, 404, "not_found", "dead letter '%.60s' not found", id ? id : "");
        return NULL;
    }
    if (lineage_tx(lg, delete_tx, &a, e)) return NULL;
    return json_pack("{s:s, s:I}", "status", "deleted", "id", (json_int_t)a.id);
}
