/* /jobs: the seed's jobs API (persisted jobs, runs started and completed over HTTP). Each
 * handler only translates the request into a lineage_* call. */
#include "api.h"

#include "app.h"
#include "lineage/lineage.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

void api_lineage_answer_err(http_resp *resp, const dlb_err *e)
{
    http_resp_error(resp, e->status ? e->status : 500, e->code[0] ? e->code : "internal_error",
                    "%s", e->detail);
    if (e->status == 503) http_resp_header(resp, "Retry-After", "1");
}

int api_lineage_paging(http_req *req, http_resp *resp, int *limit, int *offset)
{
    const char *l = http_req_query(req, "limit"), *o = http_req_query(req, "offset");
    char *end;
    *limit = 100;
    *offset = 0;
    if (l) {
        long v = strtol(l, &end, 10);
        if (end == l || *end || v < 1 || v > 1000) {
            http_resp_error(resp, 422, "validation_error", "limit must be 1 to 1000");
            return -1;
        }
        *limit = (int)v;
    }
    if (o) {
        long v = strtol(o, &end, 10);
        if (end == o || *end || v < 0 || v > 100000000) {
            http_resp_error(resp, 422, "validation_error", "offset must be 0 or more");
            return -1;
        }
        *offset = (int)v;
    }
    return 0;
}

/* The namespace of /jobs/{job}...: ?namespace=, else MONITORING_OPENLINEAGE_NAMESPACE. */
static const char *job_ns(http_req *req)
{
    const app_t *app = req->app;
    const char *ns = http_req_query(req, "namespace");
    return ns && *ns ? ns : lineage_default_namespace(app->lineage);
}

/* The seed's /jobs answers carry the request id. */
static void answer(http_req *req, http_resp *resp, int status, json_t *body, const dlb_err *e)
{
    if (!body) {
        api_lineage_answer_err(resp, e);
        return;
    }
    if (json_is_object(body)) json_object_set_new(body, "request_id", json_string(req->request_id));
    http_resp_json(resp, status, body);
}

/* An optional JSON body: NULL without error when empty. */
static int optional_body(http_req *req, http_resp *resp, json_t **out)
{
    *out = NULL;
    if (req->body.len == 0) return 0;
    *out = http_req_json(req, resp);
    return *out ? 0 : -1;
}

void api_jobs_create(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    json_t *body = http_req_json(req, resp);
    if (!body) return;
    dlb_err e = {0};
    json_t *job = lineage_job_create(app->lineage, body, &e);
    json_decref(body);
    if (job) {
        char msg[300];
        snprintf(msg, sizeof(msg), "Job '%.200s' created successfully.",
                 json_string_value(json_object_get(job, "name")));
        json_object_set_new(job, "message", json_string(msg));
    }
    answer(req, resp, 201, job, &e);
}

void api_jobs_list(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    int limit, offset;
    if (api_lineage_paging(req, resp, &limit, &offset)) return;
    dlb_err e = {0};
    answer(req, resp, 200,
           lineage_jobs_list(app->lineage, http_req_query(req, "namespace"), limit, offset, &e),
           &e);
}

void api_job_get(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    dlb_err e = {0};
    answer(req, resp, 200,
           lineage_job_get(app->lineage, job_ns(req), http_req_param(req, "job"), &e), &e);
}

void api_job_run_start(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    json_t *body;
    if (optional_body(req, resp, &body)) return;
    dlb_err e = {0};
    json_t *out =
        lineage_run_start(app->lineage, job_ns(req), http_req_param(req, "job"), body, &e);
    json_decref(body);
    answer(req, resp, 201, out, &e);
}

void api_job_run_complete(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    json_t *body;
    if (optional_body(req, resp, &body)) return;
    dlb_err e = {0};
    json_t *out = lineage_run_complete(app->lineage, job_ns(req), http_req_param(req, "job"),
                                       http_req_param(req, "run_id"), body, &e);
    json_decref(body);
    answer(req, resp, 200, out, &e);
}

void api_job_run_get(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    dlb_err e = {0};
    answer(req, resp, 200,
           lineage_run_get(app->lineage, job_ns(req), http_req_param(req, "job"),
                           http_req_param(req, "run_id"), 1, &e),
           &e);
}
