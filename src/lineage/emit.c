/* Events this server emits (jobs API; later table operations). They are built here, checked
 * by the same validator as received events (an emitted event with any problem is a bug and is
 * refused with 500 rather than stored) and stored through the same path. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *emit_facet(const char *name, const char *version)
{
    char url[256];
    snprintf(url, sizeof(url), "https://openlineage.io/spec/facets/%s/%s.json#/$defs/%s", version,
             name, name);
    return json_pack("{s:s, s:s}", "_producer", LINEAGE_PRODUCER, "_schemaURL", url);
}

static json_t *base_event(void)
{
    char t[40];
    lineage_fmt_time(lineage_now_us(), t);
    return json_pack("{s:s, s:s, s:s}", "eventTime", t, "producer", LINEAGE_PRODUCER, "schemaURL",
                     LINEAGE_SCHEMA_URL "#/$defs/RunEvent");
}

static json_t *job_obj(const char *ns, const char *job, json_t *job_facets)
{
    json_t *j = json_pack("{s:s, s:s}", "namespace", ns, "name", job);
    json_object_set_new(j, "facets", job_facets ? job_facets : json_object());
    return j;
}

json_t *emit_run_event(const char *type, const char *run_id, const char *ns, const char *job,
                       json_t *run_facets, json_t *job_facets, json_t *inputs, json_t *outputs)
{
    json_t *ev = base_event();
    json_object_set_new(ev, "eventType", json_string(type));
    json_t *run = json_pack("{s:s}", "runId", run_id);
    json_object_set_new(run, "facets", run_facets ? run_facets : json_object());
    json_object_set_new(ev, "run", run);
    json_object_set_new(ev, "job", job_obj(ns, job, job_facets));
    json_object_set_new(ev, "inputs", inputs ? inputs : json_array());
    json_object_set_new(ev, "outputs", outputs ? outputs : json_array());
    return ev;
}

json_t *emit_job_event(const char *ns, const char *job, json_t *job_facets)
{
    json_t *ev = base_event();
    json_object_set_new(ev, "schemaURL", json_string(LINEAGE_SCHEMA_URL "#/$defs/JobEvent"));
    json_object_set_new(ev, "job", job_obj(ns, job, job_facets));
    json_object_set_new(ev, "inputs", json_array());
    json_object_set_new(ev, "outputs", json_array());
    return ev;
}

int emit_store(lineage_t *lg, meta_conn *c, json_t *ev, int64_t *event_id, dlb_err *e)
{
    char *raw = json_dumps(ev, JSON_COMPACT);
    if (!raw) {
        dlb_err_set(e, 500, "internal_error", "cannot serialise an event");
        return -1;
    }
    ol_item it = {.raw = raw, .len = strlen(raw), .ev = ev};
    int rc = -1;
    if (ol_validate(ev, &it.chk) != 0 || ol_check_deviations(&it.chk) > 0) {
        char first[600];
        ol_check_first(&it.chk, 0, first, sizeof(first));
        dlb_err_set(e, 500, "internal_error", "emitted event is invalid: %s", first);
    } else {
        rc = lineage_store_tx(lg, c, &it, e);
        if (rc == 0 && event_id) *event_id = it.event_id;
    }
    ol_check_free(&it.chk);
    free(raw);
    return rc;
}
