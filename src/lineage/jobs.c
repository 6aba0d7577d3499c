/* The jobs API: registered jobs, runs started and completed through HTTP. Every change is an
 * OpenLineage event (JobEvent on creation, START, COMPLETE or FAIL) stored in the same
 * transaction as the job or run row it describes. */
#include "internal.h"

#include "util/ids.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RUNS_SHOWN 100

static int name_rule(const char *s, const char *extra)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 200) return 0;
    if (!isalnum((unsigned char)s[0]) && s[0] != '_') return 0;
    for (size_t i = 1; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr(extra, s[i])) return 0;
    return 1;
}

int lineage_job_name_ok(const char *s)
{
    return name_rule(s, "_.-");
}

int lineage_namespace_ok(const char *s)
{
    return name_rule(s, "_.:/@+-");
}

static const char *opt_str(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* ---- JSON views of rows ---- */

#define JOB_COLS                                                                                   \
    "SELECT j.id, j.namespace, j.name, j.description, j.job_type, j.owner, j.metadata, "           \
    "j.created_at, j.updated_at, j.registered, (SELECT COUNT(*) FROM ol_runs c WHERE c.job_id = "  \
    "j.id), lr.run_id, lr.state, lr.started_at, lr.ended_at FROM ol_jobs j LEFT JOIN ol_runs lr "  \
    "ON lr.run_id = (SELECT r2.run_id FROM ol_runs r2 WHERE r2.job_id = j.id ORDER BY "            \
    "r2.created_at DESC, r2.run_id DESC LIMIT 1) "

static json_t *job_json(const meta_result *r, int i)
{
    json_t *j = json_pack("{s:s, s:s}", "namespace", meta_result_get(r, i, 1), "name",
                          meta_result_get(r, i, 2));
    const char *keys[] = {"description", "type", "owner"};
    for (int k = 0; k < 3; k++) {
        const char *v = meta_result_get(r, i, 3 + k);
        json_object_set_new(j, keys[k], v ? json_string(v) : json_null());
    }
    json_t *md = lineage_json_col(r, i, 6);
    json_object_set_new(j, "metadata", json_is_null(md) ? json_object() : md);
    if (json_is_null(md)) json_decref(md);
    lineage_set_time(j, "created_at", meta_result_int(r, i, 7));
    lineage_set_time(j, "updated_at", meta_result_int(r, i, 8));
    json_object_set_new(j, "registered", json_boolean(meta_result_int(r, i, 9)));
    json_object_set_new(j, "total_runs", json_integer(meta_result_int(r, i, 10)));
    if (meta_result_isnull(r, i, 11)) {
        json_object_set_new(j, "last_run", json_null());
        json_object_set_new(j, "last_run_state", json_null());
    } else {
        json_t *lr = json_pack("{s:s, s:s}", "run_id", meta_result_get(r, i, 11), "state",
                               meta_result_get(r, i, 12));
        lineage_set_time(lr, "started_at", meta_result_int(r, i, 13));
        lineage_set_time(lr, "ended_at", meta_result_int(r, i, 14));
        json_object_set_new(j, "last_run_state", json_string(meta_result_get(r, i, 12)));
        json_object_set_new(j, "last_run", lr);
    }
    return j;
}

#define RUN_COLS                                                                                   \
    "SELECT r.run_id, j.namespace, j.name, r.state, r.started_at, r.ended_at, r.nominal_start, "   \
    "r.nominal_end, r.parent_run_id, r.parent_job_namespace, r.parent_job_name, "                  \
    "r.error_message, r.metadata, r.created_at, r.updated_at, r.facets FROM ol_runs r JOIN "       \
    "ol_jobs j ON j.id = r.job_id "

static json_t *run_json(const meta_result *r, int i, int with_facets)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "run_id", meta_result_get(r, i, 0), "namespace",
                          meta_result_get(r, i, 1), "job_name", meta_result_get(r, i, 2), "state",
                          meta_result_get(r, i, 3));
    lineage_set_time(o, "started_at", meta_result_int(r, i, 4));
    lineage_set_time(o, "ended_at", meta_result_int(r, i, 5));
    const char *ns = meta_result_get(r, i, 6), *ne = meta_result_get(r, i, 7);
    json_object_set_new(o, "nominal_start_time", ns ? json_string(ns) : json_null());
    json_object_set_new(o, "nominal_end_time", ne ? json_string(ne) : json_null());
    if (meta_result_isnull(r, i, 8)) {
        json_object_set_new(o, "parent", json_null());
    } else {
        json_object_set_new(o, "parent",
                            json_pack("{s:s, s:s?, s:s?}", "run_id", meta_result_get(r, i, 8),
                                      "namespace", meta_result_get(r, i, 9), "job_name",
                                      meta_result_get(r, i, 10)));
    }
    const char *em = meta_result_get(r, i, 11);
    json_object_set_new(o, "error_message", em ? json_string(em) : json_null());
    json_t *md = lineage_json_col(r, i, 12);
    json_object_set_new(o, "metadata", md);
    lineage_set_time(o, "created_at", meta_result_int(r, i, 13));
    lineage_set_time(o, "updated_at", meta_result_int(r, i, 14));
    if (with_facets) json_object_set_new(o, "facets", lineage_json_col(r, i, 15));
    return o;
}

static meta_result *q(meta_conn *c, const char *sql, const meta_val *p, int n, dlb_err *e)
{
    char err[256] = "";
    int rc = META_ERR;
    meta_result *r = meta_query(c, sql, p, n, &rc, err, sizeof(err));
    if (!r) lineage_db_err(e, rc, "query", err);
    return r;
}

/* Runs a read-only query on a pooled connection. */
static meta_result *read_q(lineage_t *lg, const char *sql, const meta_val *p, int n, dlb_err *e)
{
    meta_conn *c = meta_acquire(lg->meta);
    if (!c) {
        dlb_err_set(e, 503, "database_unavailable", "no metadata database connection");
        return NULL;
    }
    meta_result *r = q(c, sql, p, n, e);
    meta_release(lg->meta, c);
    return r;
}

meta_result *lineage_read(lineage_t *lg, const char *sql, const meta_val *p, int n, dlb_err *e)
{
    return read_q(lg, sql, p, n, e);
}

/* ---- POST /jobs ---- */

typedef struct {
    const char *ns, *name, *desc, *type, *owner;
    char *metadata;
    json_t *out;
} create_arg;

static int create_tx(lineage_t *lg, meta_conn *c, void *argp, dlb_err *e)
{
    create_arg *a = argp;
    meta_val k[] = {MVTEXT(a->ns), MVTEXT(a->name)};
    meta_result *r =
        q(c, "SELECT registered FROM ol_jobs WHERE namespace = ? AND name = ?", k, 2, e);
    if (!r) return -1;
    int exists = meta_result_rows(r) > 0 && meta_result_int(r, 0, 0);
    meta_result_free(r);
    if (exists) {
        dlb_err_set(e, 409, "job_exists", "job '%s' already exists in namespace '%s'", a->name,
                    a->ns);
        return -1;
    }
    json_t *facets = json_object();
    json_t *jt = emit_facet("JobTypeJobFacet", "2-0-4");
    json_object_set_new(jt, "processingType", json_string("BATCH"));
    json_object_set_new(jt, "integration", json_string("DUCKLAKE"));
    json_object_set_new(jt, "jobType", json_string(a->type ? a->type : "JOB"));
    json_object_set_new(facets, "jobType", jt);
    if (a->desc) {
        json_t *d = emit_facet("DocumentationJobFacet", "1-1-0");
        json_object_set_new(d, "description", json_string(a->desc));
        json_object_set_new(facets, "documentation", d);
    }
    if (a->owner) {
        json_t *o = emit_facet("OwnershipJobFacet", "1-0-1");
        json_object_set_new(o, "owners", json_pack("[{s:s}]", "name", a->owner));
        json_object_set_new(facets, "ownership", o);
    }
    json_t *ev = emit_job_event(a->ns, a->name, facets);
    int rc = emit_store(lg, c, ev, NULL, e);
    json_decref(ev);
    if (rc) return -1;
    meta_val u[] = {MVTEXT(a->desc),     MVTEXT(a->type), MVTEXT(a->owner),
                    MVTEXT(a->metadata), MVTEXT(a->ns),   MVTEXT(a->name)};
    char err[256] = "";
    int64_t n = meta_exec(c,
                          "UPDATE ol_jobs SET registered = 1, description = ?, job_type = ?, "
                          "owner = ?, metadata = ? WHERE namespace = ? AND name = ?",
                          u, 6, err, sizeof(err));
    if (n < 0) {
        lineage_db_err(e, (int)n, "register job", err);
        return -1;
    }
    r = q(c, JOB_COLS "WHERE j.namespace = ? AND j.name = ?", k, 2, e);
    if (!r) return -1;
    a->out = meta_result_rows(r) ? job_json(r, 0) : NULL;
    meta_result_free(r);
    return 0;
}

json_t *lineage_job_create(lineage_t *lg, json_t *body, dlb_err *e)
{
    if (!json_is_object(body)) {
        dlb_err_set(e, 422, "validation_error",
                    "body must be {\"name\": string, \"namespace\"?, \"description\"?, "
                    "\"type\"?, \"owner\"?, \"metadata\"?: object}");
        return NULL;
    }
    const json_t *jn = json_object_get(body, "name");
    if (!json_is_string(jn)) {
        dlb_err_set(e, 422, "validation_error", "name is required and must be a string");
        return NULL;
    }
    create_arg a = {.name = json_string_value(jn)};
    const char *fields[] = {"namespace", "description", "type", "owner"};
    const char **dst[] = {&a.ns, &a.desc, &a.type, &a.owner};
    for (int i = 0; i < 4; i++) {
        const json_t *v = json_object_get(body, fields[i]);
        if (v && !json_is_null(v) && !json_is_string(v)) {
            dlb_err_set(e, 422, "validation_error", "%s must be a string", fields[i]);
            return NULL;
        }
        *dst[i] = opt_str(body, fields[i]);
    }
    if (!a.ns) a.ns = lg->ns;
    if (!lineage_job_name_ok(a.name)) {
        dlb_err_set(e, 422, "invalid_name",
                    "'%.200s' is not a valid job name: 1 to 200 characters of letters, digits, "
                    "_ . and -, starting with a letter, digit or _",
                    a.name);
        return NULL;
    }
    if (!lineage_namespace_ok(a.ns)) {
        dlb_err_set(e, 422, "invalid_name",
                    "'%.200s' is not a valid namespace: 1 to 200 characters of letters, digits "
                    "and _ . : / @ + -, starting with a letter, digit or _",
                    a.ns);
        return NULL;
    }
    const json_t *md = json_object_get(body, "metadata");
    if (md && !json_is_null(md) && !json_is_object(md)) {
        dlb_err_set(e, 422, "validation_error", "metadata must be an object");
        return NULL;
    }
    a.metadata = json_is_object(md) ? lineage_dump(md) : NULL;
    int rc = lineage_tx(lg, create_tx, &a, e);
    free(a.metadata);
    if (rc) return NULL;
    if (!a.out) dlb_err_set(e, 500, "internal_error", "job vanished after creation");
    return a.out;
}

/* ---- GET /jobs, GET /jobs/{job} ---- */

json_t *lineage_jobs_list(lineage_t *lg, const char *ns, int limit, int offset, dlb_err *e)
{
    meta_val p[3];
    int n = 0;
    if (ns) p[n++] = MVTEXT(ns);
    p[n++] = MVINT(limit);
    p[n++] = MVINT(offset);
    meta_result *r = read_q(lg,
                            ns ? JOB_COLS "WHERE j.namespace = ? ORDER BY j.updated_at DESC, j.id "
                                          "DESC LIMIT ? OFFSET ?"
                               : JOB_COLS "ORDER BY j.updated_at DESC, j.id DESC LIMIT ? OFFSET ?",
                            p, n, e);
    if (!r) return NULL;
    json_t *jobs = json_array();
    for (int i = 0; i < meta_result_rows(r); i++)
        json_array_append_new(jobs, job_json(r, i));
    meta_result_free(r);
    r = read_q(lg,
               ns ? "SELECT COUNT(*) FROM ol_jobs WHERE namespace = ?"
                  : "SELECT COUNT(*) FROM ol_jobs",
               p, ns ? 1 : 0, e);
    if (!r) {
        json_decref(jobs);
        return NULL;
    }
    json_t *out = json_pack("{s:o, s:I, s:i, s:i}", "jobs", jobs, "total",
                            (json_int_t)meta_result_int(r, 0, 0), "limit", limit, "offset", offset);
    meta_result_free(r);
    return out;
}

json_t *lineage_job_get(lineage_t *lg, const char *ns, const char *name, dlb_err *e)
{
    meta_val k[] = {MVTEXT(ns), MVTEXT(name)};
    meta_result *r = read_q(lg, JOB_COLS "WHERE j.namespace = ? AND j.name = ?", k, 2, e);
    if (!r) return NULL;
    if (meta_result_rows(r) == 0) {
        meta_result_free(r);
        dlb_err_set(e, 404, "job_not_found", "job '%.200s' not found in namespace '%.200s'", name,
                    ns);
        return NULL;
    }
    json_t *job = job_json(r, 0);
    meta_result_free(r);
    json_t *runs = lineage_runs_of(lg, ns, name, MAX_RUNS_SHOWN, 0, e);
    if (!runs) {
        json_decref(job);
        return NULL;
    }
    json_object_set_new(job, "runs", runs);
    return job;
}

/* The runs of a job, newest first (shared with the read API). */
json_t *lineage_runs_of(lineage_t *lg, const char *ns, const char *job, int limit, int offset,
                        dlb_err *e)
{
    meta_val p[] = {MVTEXT(ns), MVTEXT(job), MVINT(limit), MVINT(offset)};
    meta_result *r = read_q(lg,
                            RUN_COLS "WHERE j.namespace = ? AND j.name = ? ORDER BY r.created_at "
                                     "DESC, r.run_id DESC LIMIT ? OFFSET ?",
                            p, 4, e);
    if (!r) return NULL;
    json_t *runs = json_array();
    for (int i = 0; i < meta_result_rows(r); i++)
        json_array_append_new(runs, run_json(r, i, 0));
    meta_result_free(r);
    return runs;
}

/* ---- runs ---- */

static void publish_status(lineage_t *lg, const char *job, const char *run_id, const char *status,
                           int progress)
{
    if (!lg->publish) return;
    json_t *d = json_pack("{s:s, s:s?, s:s}", "job_name", job, "run_id", run_id, "status", status);
    json_object_set_new(d, "progress", progress >= 0 ? json_integer(progress) : json_null());
    lg->publish(lg->publish_ctx, "job_status", d);
    json_decref(d);
}

static json_t *metadata_facet(const json_t *md)
{
    json_t *f = json_pack("{s:s, s:s}", "_producer", LINEAGE_PRODUCER, "_schemaURL",
                          LINEAGE_PRODUCER "/docs/lineage/DucklakeMetadataRunFacet.json");
    json_object_set(f, "metadata", (json_t *)md);
    return f;
}

typedef struct {
    const char *ns, *job;
    const json_t *metadata, *parent;
    const char *nominal;
    char run_id[37];
    char event_time[40];
    int64_t event_id;
} start_arg;

static int find_job(meta_conn *c, const char *ns, const char *job, dlb_err *e)
{
    meta_val k[] = {MVTEXT(ns), MVTEXT(job)};
    meta_result *r = q(c, "SELECT id FROM ol_jobs WHERE namespace = ? AND name = ?", k, 2, e);
    if (!r) return -1;
    int found = meta_result_rows(r) > 0;
    meta_result_free(r);
    if (!found) {
        dlb_err_set(e, 404, "job_not_found", "job '%.200s' not found in namespace '%.200s'", job,
                    ns);
        return -1;
    }
    return 0;
}

/* The parent facet from {"parent": "<run id>"} or {"parent": {"run_id", "job", "namespace"}}. */
static json_t *parent_facet(meta_conn *c, const json_t *parent, const char *dflt_ns, dlb_err *e)
{
    const char *rid =
        json_is_string(parent) ? json_string_value(parent) : opt_str(parent, "run_id");
    const char *pjob = json_is_object(parent) ? opt_str(parent, "job") : NULL;
    const char *pns = json_is_object(parent) ? opt_str(parent, "namespace") : NULL;
    if (!rid || !ids_uuid_valid(rid)) {
        dlb_err_set(e, 422, "validation_error",
                    "parent must be a run id (UUID) or {\"run_id\", \"job\"?, \"namespace\"?}");
        return NULL;
    }
    char lower[37];
    for (int i = 0; i < 37; i++)
        lower[i] = (char)tolower((unsigned char)rid[i]);
    json_t *f = NULL;
    if (pjob) {
        f = emit_facet("ParentRunFacet", "1-2-0");
        json_object_set_new(f, "run", json_pack("{s:s}", "runId", lower));
        json_object_set_new(
            f, "job", json_pack("{s:s, s:s}", "namespace", pns ? pns : dflt_ns, "name", pjob));
        return f;
    }
    meta_val k[] = {MVTEXT(lower)};
    meta_result *r = q(c,
                       "SELECT j.namespace, j.name FROM ol_runs r JOIN ol_jobs j ON j.id = "
                       "r.job_id WHERE r.run_id = ?",
                       k, 1, e);
    if (!r) return NULL;
    if (meta_result_rows(r) == 0) {
        dlb_err_set(e, 422, "validation_error",
                    "parent run %s is unknown: give {\"run_id\", \"job\", \"namespace\"}", lower);
    } else {
        f = emit_facet("ParentRunFacet", "1-2-0");
        json_object_set_new(f, "run", json_pack("{s:s}", "runId", lower));
        json_object_set_new(f, "job",
                            json_pack("{s:s, s:s}", "namespace", meta_result_get(r, 0, 0), "name",
                                      meta_result_get(r, 0, 1)));
    }
    meta_result_free(r);
    return f;
}

static int start_tx(lineage_t *lg, meta_conn *c, void *argp, dlb_err *e)
{
    start_arg *a = argp;
    if (find_job(c, a->ns, a->job, e)) return -1;
    json_t *facets = json_object();
    if (a->parent && !json_is_null(a->parent)) {
        json_t *pf = parent_facet(c, a->parent, a->ns, e);
        if (!pf) {
            json_decref(facets);
            return -1;
        }
        json_object_set_new(facets, "parent", pf);
    }
    if (a->nominal) {
        json_t *nf = emit_facet("NominalTimeRunFacet", "1-0-1");
        json_object_set_new(nf, "nominalStartTime", json_string(a->nominal));
        json_object_set_new(facets, "nominalTime", nf);
    }
    if (json_object_size(a->metadata) > 0)
        json_object_set_new(facets, "ducklake_metadata", metadata_facet(a->metadata));
    ids_uuid7(a->run_id);
    json_t *ev = emit_run_event("START", a->run_id, a->ns, a->job, facets, NULL, NULL, NULL);
    snprintf(a->event_time, sizeof(a->event_time), "%s", opt_str(ev, "eventTime"));
    int rc = emit_store(lg, c, ev, &a->event_id, e);
    json_decref(ev);
    if (rc) return -1;
    char *md = json_is_object(a->metadata) ? lineage_dump(a->metadata) : NULL;
    meta_val u[] = {MVTEXT(md), MVTEXT(a->run_id)};
    char err[256] = "";
    int64_t n =
        meta_exec(c, "UPDATE ol_runs SET metadata = ? WHERE run_id = ?", u, 2, err, sizeof(err));
    free(md);
    if (n < 0) {
        lineage_db_err(e, (int)n, "run metadata", err);
        return -1;
    }
    return 0;
}

json_t *lineage_run_start(lineage_t *lg, const char *ns, const char *job, json_t *body, dlb_err *e)
{
    start_arg a = {.ns = ns, .job = job};
    if (body && !json_is_object(body)) {
        dlb_err_set(e, 422, "validation_error",
                    "body must be {\"metadata\"?: object, \"parent\"?, \"nominal_time\"?}");
        return NULL;
    }
    a.metadata = json_object_get(body, "metadata");
    if (a.metadata && !json_is_null(a.metadata) && !json_is_object(a.metadata)) {
        dlb_err_set(e, 422, "validation_error", "metadata must be an object");
        return NULL;
    }
    a.parent = json_object_get(body, "parent");
    const json_t *nt = json_object_get(body, "nominal_time");
    if (nt && !json_is_null(nt)) {
        if (!json_is_string(nt) || ol_time_parse(json_string_value(nt), NULL) != 0) {
            dlb_err_set(e, 422, "validation_error",
                        "nominal_time must be an RFC 3339 date-time with a zone");
            return NULL;
        }
        a.nominal = json_string_value(nt);
    }
    publish_status(lg, job, NULL, "starting", 0);
    if (lineage_tx(lg, start_tx, &a, e)) {
        publish_status(lg, job, NULL, "failed", -1);
        return NULL;
    }
    publish_status(lg, job, a.run_id, "running", 10);
    char msg[300];
    snprintf(msg, sizeof(msg), "Job run started for '%.200s'", job);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "message", msg, "run_id", a.run_id,
                     "job_name", job, "namespace", ns, "state", "START", "event_time", a.event_time,
                     "event_id", (json_int_t)a.event_id);
}

typedef struct {
    const char *ns, *job, *run_id;
    int success;
    const json_t *metadata, *error;
    json_t *inputs, *outputs; /* built datasets (owned) */
    char event_time[40];
    int64_t event_id;
} complete_arg;

/* A dataset of the jobs API: "table" or "schema.table" names a lake table (namespace
 * ducklake://<catalog>, see docs/decisions/0013-lineage.md); {"namespace", "name"} anything. */
static json_t *api_dataset(lineage_t *lg, const json_t *d, const char *where, size_t i, dlb_err *e)
{
    char ns[300], name[600];
    if (json_is_string(d) && json_string_length(d) > 0 && json_string_length(d) < 500) {
        snprintf(ns, sizeof(ns), "ducklake://%s", lg->catalog);
        const char *s = json_string_value(d);
        snprintf(name, sizeof(name), "%s%s", strchr(s, '.') ? "" : "main.", s);
    } else if (json_is_object(d) && opt_str(d, "namespace") && opt_str(d, "name") &&
               *opt_str(d, "namespace") && *opt_str(d, "name") &&
               strlen(opt_str(d, "namespace")) < 300 && strlen(opt_str(d, "name")) < 600) {
        snprintf(ns, sizeof(ns), "%s", opt_str(d, "namespace"));
        snprintf(name, sizeof(name), "%s", opt_str(d, "name"));
    } else {
        dlb_err_set(e, 422, "validation_error",
                    "metadata.%s[%zu] must be a table name or {\"namespace\", \"name\"}", where, i);
        return NULL;
    }
    json_t *ds = json_pack("{s:s, s:s}", "namespace", ns, "name", name);
    json_t *src = emit_facet("DatasourceDatasetFacet", "1-0-1");
    json_object_set_new(src, "name", json_string(ns));
    json_object_set_new(src, "uri", json_string(ol_uri_valid(ns) ? ns : "urn:dataset"));
    json_object_set_new(ds, "facets", json_pack("{s:o}", "dataSource", src));
    return ds;
}

static json_t *api_datasets(lineage_t *lg, const json_t *md, const char *key, dlb_err *e)
{
    const json_t *a = json_object_get(md, key);
    json_t *out = json_array();
    if (!a || json_is_null(a)) return out;
    if (!json_is_array(a)) {
        json_decref(out);
        dlb_err_set(e, 422, "validation_error", "metadata.%s must be a list", key);
        return NULL;
    }
    size_t i;
    const json_t *d;
    json_array_foreach((json_t *)a, i, d)
    {
        json_t *ds = api_dataset(lg, d, key, i, e);
        if (!ds) {
            json_decref(out);
            return NULL;
        }
        json_array_append_new(out, ds);
    }
    return out;
}

static int complete_tx(lineage_t *lg, meta_conn *c, void *argp, dlb_err *e)
{
    complete_arg *a = argp;
    meta_val k[] = {MVTEXT(a->run_id), MVTEXT(a->ns), MVTEXT(a->job)};
    meta_result *r = q(c,
                       lg->is_pg ? "SELECT r.state FROM ol_runs r JOIN ol_jobs j ON j.id = "
                                   "r.job_id WHERE r.run_id = ? AND j.namespace = ? AND j.name = "
                                   "? FOR UPDATE OF r"
                                 : "SELECT r.state FROM ol_runs r JOIN ol_jobs j ON j.id = "
                                   "r.job_id WHERE r.run_id = ? AND j.namespace = ? AND j.name = ?",
                       k, 3, e);
    if (!r) return -1;
    if (meta_result_rows(r) == 0) {
        meta_result_free(r);
        dlb_err_set(e, 404, "run_not_found", "run %s of job '%.200s' not found", a->run_id, a->job);
        return -1;
    }
    char state[16];
    snprintf(state, sizeof(state), "%s", meta_result_get(r, 0, 0));
    meta_result_free(r);
    if (ol_state_terminal(state)) {
        dlb_err_set(e, 409, "run_finished", "run %s already finished (%s)", a->run_id, state);
        return -1;
    }
    json_t *facets = json_object();
    if (!a->success) {
        json_t *f = emit_facet("ErrorMessageRunFacet", "1-0-1");
        const char *msg =
            json_is_string(a->error) ? json_string_value(a->error) : opt_str(a->error, "message");
        json_object_set_new(f, "message", json_string(msg ? msg : "the job reported a failure"));
        const char *lang = opt_str(a->error, "programmingLanguage");
        json_object_set_new(f, "programmingLanguage", json_string(lang ? lang : "unknown"));
        const char *st = opt_str(a->error, "stackTrace");
        if (st) json_object_set_new(f, "stackTrace", json_string(st));
        json_object_set_new(facets, "errorMessage", f);
    }
    /* What the caller sent besides inputs/outputs travels in our metadata facet. */
    json_t *rest = json_is_object(a->metadata) ? json_deep_copy(a->metadata) : json_object();
    json_object_del(rest, "inputs");
    json_object_del(rest, "outputs");
    if (json_object_size(rest) > 0)
        json_object_set_new(facets, "ducklake_metadata", metadata_facet(rest));
    json_decref(rest);
    json_t *ev = emit_run_event(a->success ? "COMPLETE" : "FAIL", a->run_id, a->ns, a->job, facets,
                                NULL, json_incref(a->inputs), json_incref(a->outputs));
    snprintf(a->event_time, sizeof(a->event_time), "%s", opt_str(ev, "eventTime"));
    int rc = emit_store(lg, c, ev, &a->event_id, e);
    json_decref(ev);
    return rc;
}

json_t *lineage_run_complete(lineage_t *lg, const char *ns, const char *job, const char *run_id,
                             json_t *body, dlb_err *e)
{
    complete_arg a = {.ns = ns, .job = job, .success = 1};
    char lower[37];
    if (!run_id || !ids_uuid_valid(run_id)) {
        dlb_err_set(e, 404, "run_not_found", "run '%.100s' not found (run ids are UUIDs)",
                    run_id ? run_id : "");
        return NULL;
    }
    for (int i = 0; i < 37; i++)
        lower[i] = (char)tolower((unsigned char)run_id[i]);
    a.run_id = lower;
    if (body && !json_is_object(body)) {
        dlb_err_set(e, 422, "validation_error",
                    "body must be {\"success\"?: bool, \"metadata\"?: {\"inputs\", \"outputs\"}, "
                    "\"error\"?}");
        return NULL;
    }
    const json_t *s = json_object_get(body, "success");
    if (s && !json_is_boolean(s)) {
        dlb_err_set(e, 422, "validation_error", "success must be a boolean");
        return NULL;
    }
    a.success = !s || json_is_true(s);
    a.metadata = json_object_get(body, "metadata");
    if (a.metadata && !json_is_null(a.metadata) && !json_is_object(a.metadata)) {
        dlb_err_set(e, 422, "validation_error", "metadata must be an object");
        return NULL;
    }
    a.error = json_object_get(body, "error");
    if (a.error && !json_is_null(a.error) && !json_is_string(a.error) &&
        !(json_is_object(a.error) && opt_str(a.error, "message"))) {
        dlb_err_set(e, 422, "validation_error",
                    "error must be a string or {\"message\", \"stackTrace\"?, "
                    "\"programmingLanguage\"?}");
        return NULL;
    }
    a.inputs = api_datasets(lg, a.metadata, "inputs", e);
    if (!a.inputs) return NULL;
    a.outputs = api_datasets(lg, a.metadata, "outputs", e);
    if (!a.outputs) {
        json_decref(a.inputs);
        return NULL;
    }
    publish_status(lg, job, lower, "completing", 90);
    int rc = lineage_tx(lg, complete_tx, &a, e);
    json_decref(a.inputs);
    json_decref(a.outputs);
    if (rc) {
        if (e->status >= 500) publish_status(lg, job, lower, "failed", -1);
        return NULL;
    }
    publish_status(lg, job, lower, a.success ? "completed" : "failed", a.success ? 100 : -1);
    char msg[300];
    snprintf(msg, sizeof(msg), "Job run %s for '%.200s'", a.success ? "completed" : "failed", job);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "message", msg, "run_id", lower, "job_name",
                     job, "state", a.success ? "COMPLETE" : "FAIL", "event_time", a.event_time,
                     "event_id", (json_int_t)a.event_id);
}

/* ---- one run ---- */

json_t *lineage_run_get(lineage_t *lg, const char *ns, const char *job, const char *run_id,
                        int with_events, dlb_err *e)
{
    if (!run_id || !ids_uuid_valid(run_id)) {
        dlb_err_set(e, 404, "run_not_found", "run '%.100s' not found (run ids are UUIDs)",
                    run_id ? run_id : "");
        return NULL;
    }
    char lower[37];
    for (int i = 0; i < 37; i++)
        lower[i] = (char)tolower((unsigned char)run_id[i]);
    meta_val p[] = {MVTEXT(lower), MVTEXT(ns), MVTEXT(job)};
    meta_result *r = read_q(lg,
                            job ? RUN_COLS "WHERE r.run_id = ? AND j.namespace = ? AND j.name = ?"
                                : RUN_COLS "WHERE r.run_id = ?",
                            p, job ? 3 : 1, e);
    if (!r) return NULL;
    if (meta_result_rows(r) == 0) {
        meta_result_free(r);
        dlb_err_set(e, 404, "run_not_found", "Run %s not found", lower);
        return NULL;
    }
    json_t *run = run_json(r, 0, 1);
    meta_result_free(r);
    r = read_q(lg,
               "SELECT d.namespace, d.name, io.direction, io.facets, d.facets FROM ol_run_io io "
               "JOIN ol_datasets d ON d.id = io.dataset_id WHERE io.run_id = ? ORDER BY "
               "d.namespace, d.name",
               p, 1, e);
    if (!r) {
        json_decref(run);
        return NULL;
    }
    json_t *ins = json_array(), *outs = json_array();
    for (int i = 0; i < meta_result_rows(r); i++) {
        json_t *df = lineage_json_col(r, i, 4);
        const char *uri = opt_str(json_object_get(df, "dataSource"), "uri");
        json_t *d = json_pack("{s:s, s:s, s:s?}", "namespace", meta_result_get(r, i, 0), "name",
                              meta_result_get(r, i, 1), "uri", uri);
        if (!uri) json_object_set_new(d, "uri", json_null());
        json_object_set_new(d, "facets", lineage_json_col(r, i, 3));
        json_decref(df);
        json_array_append_new(strcmp(meta_result_get(r, i, 2), "INPUT") ? outs : ins, d);
    }
    meta_result_free(r);
    json_object_set_new(run, "inputs", ins);
    json_object_set_new(run, "outputs", outs);
    if (with_events) {
        r = read_q(lg,
                   "SELECT id, event_type, event_time, payload FROM ol_events WHERE run_id = ? "
                   "ORDER BY event_time_us, id",
                   p, 1, e);
        if (!r) {
            json_decref(run);
            return NULL;
        }
        json_t *evs = json_array();
        for (int i = 0; i < meta_result_rows(r); i++) {
            const char *et = meta_result_get(r, i, 1);
            json_t *o = json_pack("{s:I, s:s?, s:s}", "id", (json_int_t)meta_result_int(r, i, 0),
                                  "event_type", et, "event_time", meta_result_get(r, i, 2));
            json_object_set_new(o, "event", lineage_json_col(r, i, 3));
            json_array_append_new(evs, o);
        }
        meta_result_free(r);
        json_object_set_new(run, "events", evs);
    }
    return run;
}
