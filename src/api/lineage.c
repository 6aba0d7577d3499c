/* /api/v1/lineage...: the OpenLineage collector (single, batch, the seed's /events alias), the
 * lineage read API, the graph and the raw events list. */
#include "api.h"

#include "app.h"
#include "lineage/lineage.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void answer(http_resp *resp, int status, json_t *body, const dlb_err *e)
{
    if (body)
        http_resp_json(resp, status, body);
    else
        api_lineage_answer_err(resp, e);
}

/* The request body, inflated when Content-Encoding says gzip or deflate. *owned is the buffer
 * to free (NULL when the body is used in place). */
static int body_bytes(http_req *req, http_resp *resp, const char **data, size_t *len, char **owned)
{
    const app_t *app = req->app;
    const char *enc = http_req_header(req, "Content-Encoding");
    *owned = NULL;
    *data = req->body.data ? req->body.data : "";
    *len = req->body.len;
    if (!enc || !*enc || !strcasecmp(enc, "identity")) return 0;
    if (strcasecmp(enc, "gzip") && strcasecmp(enc, "x-gzip") && strcasecmp(enc, "deflate")) {
        http_resp_error(resp, 415, "unsupported_encoding",
                        "Content-Encoding %.60s is not supported (gzip, deflate, identity)", enc);
        return -1;
    }
    size_t max = (size_t)app->cfg->http_max_body_size;
    int rc = lineage_inflate(*data, *len, max, owned, len);
    if (rc == -2) {
        http_resp_error(resp, 413, "payload_too_large",
                        "the inflated body is larger than HTTP_MAX_BODY_SIZE (%zu bytes)", max);
        return -1;
    }
    if (rc) {
        http_resp_error(resp, 400, "invalid_encoding", "the %s body cannot be inflated", enc);
        return -1;
    }
    *data = *owned;
    return 0;
}

void api_lineage_collect(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    const char *data;
    size_t len;
    char *owned;
    if (body_bytes(req, resp, &data, &len, &owned)) return;
    if (len == 0) {
        free(owned);
        http_resp_error(resp, 400, "invalid_json", "request body is empty; an event is required");
        return;
    }
    dlb_err e = {0};
    json_t *errors = NULL;
    json_t *out = lineage_collect(app->lineage, data, len, &e, &errors);
    free(owned);
    answer(resp, 200, out, &e);
    if (!out && errors && resp->json)
        json_object_set_new(resp->json, "errors", errors);
    else
        json_decref(errors);
}

void api_lineage_batch(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    const char *data;
    size_t len;
    char *owned;
    if (body_bytes(req, resp, &data, &len, &owned)) return;
    dlb_err e = {0};
    int status = 200;
    json_t *out = lineage_collect_batch(app->lineage, data, len, &status, &e);
    free(owned);
    answer(resp, status, out, &e);
    if (out && status == 503) http_resp_header(resp, "Retry-After", "1");
}

void api_lineage_graph(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    const char *node = http_req_query(req, "nodeId"), *d = http_req_query(req, "depth");
    if (!node || !*node) {
        http_resp_error(resp, 422, "validation_error",
                        "nodeId is required: job:<namespace>:<name> or dataset:<namespace>:<name>");
        return;
    }
    int depth = 20;
    if (d) {
        char *end;
        long v = strtol(d, &end, 10);
        if (end == d || *end || v < 0 || v > 100) {
            http_resp_error(resp, 422, "validation_error", "depth must be 0 to 100");
            return;
        }
        depth = (int)v;
    }
    dlb_err e = {0};
    size_t len = 0;
    char *body = lineage_graph_json(app->lineage, node, depth, &len, &e);
    if (body)
        http_resp_bytes(resp, 200, "application/json", body, len);
    else
        api_lineage_answer_err(resp, &e);
}

static const char *ns_or_default(http_req *req)
{
    const app_t *app = req->app;
    const char *ns = http_req_query(req, "namespace");
    return ns && *ns ? ns : lineage_default_namespace(app->lineage);
}

void api_lineage_jobs(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    int limit, offset;
    if (api_lineage_paging(req, resp, &limit, &offset)) return;
    dlb_err e = {0};
    answer(resp, 200,
           lineage_read_jobs(app->lineage, http_req_query(req, "namespace"), limit, offset, &e),
           &e);
}

void api_lineage_job_runs(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    int limit, offset;
    if (api_lineage_paging(req, resp, &limit, &offset)) return;
    dlb_err e = {0};
    answer(resp, 200,
           lineage_read_job_runs(app->lineage, ns_or_default(req), http_req_param(req, "job"),
                                 limit, offset, &e),
           &e);
}

void api_lineage_run(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    dlb_err e = {0};
    answer(resp, 200,
           lineage_run_get(app->lineage, NULL, NULL, http_req_param(req, "run_id"), 0, &e), &e);
}

void api_lineage_datasets(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    int limit, offset;
    if (api_lineage_paging(req, resp, &limit, &offset)) return;
    dlb_err e = {0};
    answer(resp, 200,
           lineage_read_datasets(app->lineage, http_req_query(req, "namespace"), limit, offset, &e),
           &e);
}

/* /datasets/{namespace}/{name}/lineage, or /datasets/lineage?namespace=&name= for namespaces
 * that hold '/' (s3://bucket) and cannot be one path segment. */
void api_lineage_dataset_lineage(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    const char *ns = http_req_param(req, "namespace"), *name = http_req_param(req, "name");
    if (!ns) ns = http_req_query(req, "namespace");
    if (!name) name = http_req_query(req, "name");
    if (!ns || !*ns || !name || !*name) {
        http_resp_error(resp, 422, "validation_error", "namespace and name are required");
        return;
    }
    dlb_err e = {0};
    answer(resp, 200, lineage_read_dataset_lineage(app->lineage, ns, name, &e), &e);
}

void api_lineage_stats(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    dlb_err e = {0};
    answer(resp, 200, lineage_stats(app->lineage, &e), &e);
}

void api_lineage_events_list(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    int limit, offset;
    if (api_lineage_paging(req, resp, &limit, &offset)) return;
    const char *dir = http_req_query(req, "sortDirection");
    if (dir && strcasecmp(dir, "asc") && strcasecmp(dir, "desc")) {
        http_resp_error(resp, 422, "validation_error", "sortDirection must be asc or desc");
        return;
    }
    lineage_event_filter f = {
        .after = http_req_query(req, "after"),
        .before = http_req_query(req, "before"),
        .ns = http_req_query(req, "namespace"),
        .job = http_req_query(req, "job"),
        .run_id = http_req_query(req, "run_id"),
        .cursor = http_req_query(req, "cursor"),
        .limit = limit,
        .ascending = dir && !strcasecmp(dir, "asc"),
    };
    dlb_err e = {0};
    answer(resp, 200, lineage_events_list(app->lineage, &f, &e), &e);
}

/* ---- /lineage/dlq: dead letters of the delivery to MONITORING_OPENLINEAGE_URL ---- */

void api_lineage_dlq_list(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    int limit, offset;
    if (api_lineage_paging(req, resp, &limit, &offset)) return;
    dlb_err e = {0};
    answer(resp, 200, lineage_dlq_list(app->lineage, limit, offset, &e), &e);
}

void api_lineage_dlq_replay(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    dlb_err e = {0};
    answer(resp, 200, lineage_dlq_replay(app->lineage, http_req_param(req, "id"), &e), &e);
}

void api_lineage_dlq_replay_all(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    dlb_err e = {0};
    answer(resp, 200, lineage_dlq_replay_all(app->lineage, &e), &e);
}

void api_lineage_dlq_delete(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    dlb_err e = {0};
    answer(resp, 200, lineage_dlq_delete(app->lineage, http_req_param(req, "id"), &e), &e);
}
