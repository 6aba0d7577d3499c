/* /tables and /snapshots: translate requests into lake_* and engine calls. */
#include "api.h"

#include "app.h"
#include "engine/ingest.h"
#include "engine/query.h"
#include "http/multipart.h"
#include "lake/lake.h"
#include "obs/obs.h"
#include "util/pool.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define MAX_COLUMNS 1024

static void answer_err(http_resp *resp, const dlb_err *e)
{
    http_resp_error(resp, e->status ? e->status : 500, e->code[0] ? e->code : "internal_error",
                    "%s", e->detail);
    if (e->status == 503) http_resp_header(resp, "Retry-After", "2");
}

/* "{name}" may carry a schema as "schema.table"; ?schema_name= does too. */
static int table_ref(http_req *req, http_resp *resp, char *schema, size_t slen, char *name,
                     size_t nlen)
{
    const char *raw = http_req_param(req, "name");
    const char *qs = http_req_query(req, "schema_name");
    const char *dot = raw ? strchr(raw, '.') : NULL;
    if (dot) {
        snprintf(schema, slen, "%.*s", (int)(dot - raw), raw);
        snprintf(name, nlen, "%s", dot + 1);
    } else {
        snprintf(schema, slen, "%s", qs && *qs ? qs : "main");
        snprintf(name, nlen, "%s", raw ? raw : "");
    }
    if (!lake_identifier_ok(schema) || !lake_identifier_ok(name)) {
        http_resp_error(resp, 422, "invalid_name",
                        "'%.200s' is not a valid table name: use letters, digits and _, starting "
                        "with a letter or _, at most 63 characters",
                        raw ? raw : "");
        return -1;
    }
    return 0;
}

static int resolve_snapshot(http_req *req, http_resp *resp, int64_t *snap)
{
    const app_t *app = req->app;
    dlb_err e = {0};
    if (lake_resolve_snapshot(app->lake, http_req_query(req, "snapshot"),
                              http_req_query(req, "as_of"), snap, &e)) {
        answer_err(resp, &e);
        return -1;
    }
    return 0;
}

static int is_true(const char *v)
{
    return v && (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcasecmp(v, "yes") == 0);
}

void api_tables_create(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    json_t *doc = http_req_json(req, resp);
    if (!doc) return;
    lake_coldef cols[MAX_COLUMNS];
    const char *parts[64];
    int ncols = 0, nparts = 0;
    json_t *jname = json_object_get(doc, "name"), *jschema = json_object_get(doc, "schema");
    json_t *jsn = json_object_get(doc, "schema_name"), *jcomment = json_object_get(doc, "comment");
    json_t *jpart = json_object_get(doc, "partition_by");
    if (!json_is_object(doc) || !json_is_string(jname) || !json_is_object(jschema)) {
        http_resp_error(resp, 422, "validation_error",
                        "body must be {\"name\": string, \"schema\": {\"column\": \"TYPE\", ...}}");
        goto out;
    }
    const char *name = json_string_value(jname);
    const char *schema = json_is_string(jsn) ? json_string_value(jsn) : "main";
    if ((jsn && !json_is_string(jsn)) ||
        (jcomment && !json_is_string(jcomment) && !json_is_null(jcomment))) {
        http_resp_error(resp, 422, "validation_error", "schema_name and comment must be strings");
        goto out;
    }
    if (!lake_identifier_ok(name) || !lake_identifier_ok(schema)) {
        http_resp_error(resp, 422, "invalid_name", "'%.200s' is not a valid %s name",
                        lake_identifier_ok(name) ? schema : name,
                        lake_identifier_ok(name) ? "schema" : "table");
        goto out;
    }
    if (json_object_size(jschema) == 0 || json_object_size(jschema) > MAX_COLUMNS) {
        http_resp_error(resp, 422, "validation_error", "schema must have 1 to %d columns",
                        MAX_COLUMNS);
        goto out;
    }
    const char *col;
    json_t *t;
    json_object_foreach(jschema, col, t)
    {
        if (!lake_identifier_ok(col)) {
            http_resp_error(resp, 422, "invalid_name", "'%.200s' is not a valid column name", col);
            goto out;
        }
        if (!json_is_string(t)) {
            http_resp_error(resp, 422, "invalid_type", "column '%s': the type must be a string",
                            col);
            goto out;
        }
        cols[ncols].name = col;
        cols[ncols].type = json_string_value(t);
        ncols++;
    }
    if (jpart && !json_is_null(jpart)) {
        size_t i;
        json_t *p;
        if (!json_is_array(jpart) || json_array_size(jpart) > 64) {
            http_resp_error(resp, 422, "validation_error",
                            "partition_by must be a list of at most 64 partition keys");
            goto out;
        }
        /* The keys ("col" or "year(col)", month, day, hour) are parsed and checked against
         * the columns by lake_create_table (422 invalid_partition naming the key). */
        json_array_foreach(jpart, i, p)
        {
            if (!json_is_string(p) || json_string_length(p) == 0 || json_string_length(p) > 150) {
                http_resp_error(resp, 422, "validation_error",
                                "partition_by[%zu] must be a column name or year(col), "
                                "month(col), day(col), hour(col)",
                                i);
                goto out;
            }
            parts[nparts++] = json_string_value(p);
        }
    }
    int64_t snap = 0;
    dlb_err e = {0};
    if (lake_create_table(app->lake, schema, name, cols, ncols,
                          json_is_string(jcomment) ? json_string_value(jcomment) : NULL, parts,
                          nparts, &snap, &e)) {
        answer_err(resp, &e);
        goto out;
    }
    char msg[256];
    snprintf(msg, sizeof(msg), "Table %s created", name);
    http_resp_json(resp, 201,
                   json_pack("{s:s, s:s, s:s, s:I, s:s}", "message", msg, "name", name,
                             "schema_name", schema, "snapshot_id", (json_int_t)snap, "type",
                             "ducklake"));
out:
    json_decref(doc);
}

void api_tables_list(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    int64_t snap;
    if (resolve_snapshot(req, resp, &snap)) return;
    dlb_err e = {0};
    json_t *tables = lake_tables_json(app->lake, snap, is_true(http_req_query(req, "details")), &e);
    if (!tables) {
        answer_err(resp, &e);
        return;
    }
    http_resp_json(resp, 200,
                   json_pack("{s:o, s:s, s:I}", "tables", tables, "type", "ducklake", "snapshot_id",
                             (json_int_t)snap));
}

void api_tables_get(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    char schema[128], name[128];
    int64_t snap;
    if (table_ref(req, resp, schema, sizeof(schema), name, sizeof(name)) ||
        resolve_snapshot(req, resp, &snap))
        return;
    dlb_err e = {0};
    json_t *t = lake_table_json(app->lake, snap, schema, name, &e);
    if (!t) {
        answer_err(resp, &e);
        return;
    }
    json_object_set_new(t, "type", json_string("ducklake"));
    http_resp_json(resp, 200, t);
}

void api_tables_drop(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    char schema[128], name[128];
    if (table_ref(req, resp, schema, sizeof(schema), name, sizeof(name))) return;
    int64_t snap = 0;
    dlb_err e = {0};
    if (lake_drop_table(app->lake, schema, name, &snap, &e)) {
        answer_err(resp, &e);
        return;
    }
    char msg[256];
    snprintf(msg, sizeof(msg), "Table %s dropped", name);
    http_resp_json(resp, 200,
                   json_pack("{s:s, s:s, s:I}", "message", msg, "name", name, "snapshot_id",
                             (json_int_t)snap));
}

/* The table's top-level columns, as names and type texts pointing into t. */
static int table_columns(json_t *t, const char **names, const char **types, int max)
{
    json_t *cols = json_object_get(t, "columns"), *c;
    size_t i;
    int n = 0;
    json_array_foreach(cols, i, c)
    {
        if (n == max) break;
        names[n] = json_string_value(json_object_get(c, "name"));
        types[n] = json_string_value(json_object_get(c, "type"));
        if (names[n] && types[n]) n++;
    }
    return n;
}

void api_tables_append(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    char schema[128], name[128], part_path[4200] = "", scratch[4200] = "";
    const char *input = req->body_path;
    json_t *table = NULL;
    char *sql = NULL;
    if (table_ref(req, resp, schema, sizeof(schema), name, sizeof(name))) return;
    if (!input || req->body_len == 0) {
        http_resp_error(resp, 422, "validation_error", "the request body is empty: send rows");
        return;
    }
    const char *ctype = http_req_header(req, "Content-Type");
    ingest_format fmt;
    if (ctype && strncasecmp(ctype, "multipart/form-data", 19) == 0) {
        multipart_part part;
        char msg[256];
        snprintf(part_path, sizeof(part_path), "%s.part", req->body_path);
        int rc =
            multipart_extract(req->body_path, ctype, "file", part_path, &part, msg, sizeof(msg));
        if (rc) {
            http_resp_error(resp, rc > 0 ? 422 : 400,
                            rc > 0 ? "validation_error" : "invalid_multipart", "%s",
                            rc > 0 ? "multipart body has no 'file' field" : msg);
            goto out;
        }
        input = part_path;
        if (ingest_format_pick(part.content_type, part.filename, &fmt)) {
            http_resp_error(resp, 415, "unsupported_media_type",
                            "cannot tell the format of upload '%.200s' (%.100s); supported: %s",
                            part.filename, part.content_type, ingest_supported());
            goto out;
        }
    } else if (ingest_format_pick(ctype, NULL, &fmt)) {
        http_resp_error(resp, 415, "unsupported_media_type",
                        "Content-Type %.100s is not supported; supported: %s",
                        ctype ? ctype : "(none)", ingest_supported());
        goto out;
    }
    dlb_err e = {0};
    int64_t latest;
    if (lake_resolve_snapshot(app->lake, NULL, NULL, &latest, &e) ||
        !(table = lake_table_json(app->lake, latest, schema, name, &e))) {
        answer_err(resp, &e);
        goto out;
    }
    const char *names[MAX_COLUMNS], *types[MAX_COLUMNS];
    int ncols = table_columns(table, names, types, MAX_COLUMNS);
    duckdb_connection con = engine_conn(app->engine, pool_worker_index());
    if (!con) {
        http_resp_error(resp, 503, "engine_unavailable", "DuckDB is not available");
        goto out;
    }
    snprintf(scratch, sizeof(scratch), "%s.ndjson", req->body_path);
    long long hint;
    if (ingest_source(con, fmt, input, scratch, names, types, ncols, &sql, &hint, &e)) {
        answer_err(resp, &e);
        goto out;
    }
    int64_t rows = 0, snap = 0;
    /* an Arrow stream view can be read only once: lake_append stages it first */
    int failed = lake_append_ex(app->lake, con, schema, name, sql,
                                fmt == INGEST_ARROW ? LAKE_APPEND_READ_ONCE : 0, &rows, &snap, &e);
    ingest_release(con); /* an Arrow body's view and mapping go now, not at the next upload */
    if (failed) {
        answer_err(resp, &e);
        goto out;
    }
    char msg[256];
    snprintf(msg, sizeof(msg), "Appended %lld rows to %s", (long long)rows, name);
    http_resp_json(resp, 200,
                   json_pack("{s:s, s:I, s:I}", "message", msg, "rows", (json_int_t)rows,
                             "snapshot_id", (json_int_t)snap));
out:
    free(sql);
    json_decref(table);
    if (part_path[0]) unlink(part_path);
    if (scratch[0]) unlink(scratch);
}

void api_snapshots(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    char schema[128], name[128];
    int per_table = http_req_param(req, "name") != NULL;
    if (per_table && table_ref(req, resp, schema, sizeof(schema), name, sizeof(name))) return;
    dlb_err e = {0};
    json_t *s =
        lake_snapshots_json(app->lake, per_table ? schema : NULL, per_table ? name : NULL, &e);
    if (!s) {
        answer_err(resp, &e);
        return;
    }
    http_resp_json(resp, 200, s);
}

/* ---- queries ------------------------------------------------------------------------------ */

#define BUFFERED_MAX (16u << 20) /* "stream": false answers up to this size in one piece */

typedef struct {
    http_req *req;
    http_resp *resp;
    query_format fmt;
    int streaming; /* the client asked for "stream": true */
    http_stream *stream;
    buf_t held; /* "stream": false: the answer so far */
} query_sink_ctx;

static int open_stream(query_sink_ctx *q)
{
    q->stream = http_resp_stream(q->req, q->resp, 200, query_content_type(q->fmt));
    if (!q->stream) return -1;
    if (q->held.len && http_stream_write(q->stream, q->held.data, q->held.len)) return -1;
    buf_free(&q->held);
    return 0;
}

/* Holds the answer while it is small enough to send whole (an error can still become a JSON
 * error then); streams from the first byte when asked to, or once it grows past the cap. */
static int sink(void *ctx, const void *data, size_t len)
{
    query_sink_ctx *q = ctx;
    if (!q->stream && !q->streaming && q->held.len + len <= BUFFERED_MAX)
        return buf_append(&q->held, data, len) ? -1 : 0;
    if (!q->stream && open_stream(q)) return -1;
    return http_stream_write(q->stream, data, len);
}

void api_tables_query(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    char schema[128], name[128];
    int64_t snap;
    json_t *doc = NULL, *t = NULL;
    duckdb_prepared_statement st = NULL;
    lake_pins *pins = NULL; /* lake on S3: the snapshot's files stay in the local cache */
    query_sink_ctx q = {.req = req, .resp = resp};
    int qidx = -1, qfailed = 1; /* the query connection held, and whether the request failed */
    buf_init(&q.held, 0);
    if (table_ref(req, resp, schema, sizeof(schema), name, sizeof(name))) return;
    if (query_negotiate(http_req_header(req, "Accept"), &q.fmt)) {
        http_resp_error(resp, 406, "not_acceptable", "cannot answer in %.200s; supported: %s",
                        http_req_header(req, "Accept"), query_supported_types());
        return;
    }
    if (!(doc = http_req_json(req, resp))) return;
    json_t *jq = json_object_get(doc, "query"), *js = json_object_get(doc, "stream");
    if (!json_is_object(doc) || !json_is_string(jq) || (js && !json_is_boolean(js))) {
        http_resp_error(resp, 422, "validation_error",
                        "body must be {\"query\": \"SELECT ...\", \"stream\": false}");
        goto out;
    }
    q.streaming = json_is_true(js);
    if (resolve_snapshot(req, resp, &snap)) goto out;
    dlb_err e = {0};
    /* Only existence and identity are needed here, not the table's JSON (columns, comments,
     * statistics: a dozen catalog queries): one query. */
    int64_t table_id = lake_table_id(app->lake, snap, schema, name, &e);
    if (table_id < 0) {
        answer_err(resp, &e);
        goto out;
    }
    t = json_pack("{s:s, s:s, s:I}", "schema_name", schema[0] ? schema : "main", "name", name,
                  "table_id", (json_int_t)table_id);
    int idx = pool_worker_index();
    duckdb_connection con = engine_query_conn(app->engine, idx);
    if (con) qidx = idx;
    if (!con) {
        http_resp_error(resp, 503, "engine_unavailable", "the query engine is not available");
        goto out;
    }
    if (lake_pin_snapshot(app->lake, snap, &pins, &e) || lake_bind(app->lake, con, snap, &e) ||
        query_prepare(con, json_string_value(jq), &st, &e)) {
        answer_err(resp, &e);
        goto out;
    }
    query_limits lim = {
        .max_rows = app->cfg->query_max_rows,
        .timeout_s = app->cfg->monitoring_request_timeout,
        .tmp_dir = engine_export_dir(app->engine),
        .parquet_con = engine_conn(app->engine, idx),
        .sql = json_string_value(jq),
    };
    query_outcome out = {0};
    int qrc = query_run(con, st, q.fmt, &lim, sink, &q, &out, &e);
    qfailed = qrc != 0 && !out.client_gone;
    /* DuckDB query durations for /metrics; a query the user got wrong is not a DuckDB error. */
    obs_dep_observe("duckdb", "query", (uint64_t)(out.seconds * 1e9),
                    qrc == 0 || out.client_gone || (e.status > 0 && e.status < 500));
    if (qrc) {
        if (out.client_gone) goto out;
        if (q.stream) {
            http_stream_abort(q.stream); /* the client must see a broken transfer */
            goto out;
        }
        answer_err(resp, &e);
        goto out;
    }
    if (!q.stream) {
        size_t len;
        char *body = buf_steal(&q.held, &len);
        http_resp_bytes(resp, 200, query_content_type(q.fmt), body, len);
        resp->no_gzip = q.fmt == QF_PARQUET || q.fmt == QF_ARROW;
    }
    char rows[32];
    snprintf(rows, sizeof(rows), "%lld", (long long)out.rows);
    if (!q.stream) http_resp_header(resp, "X-Result-Rows", rows);
    if (out.truncated && !q.stream) http_resp_header(resp, "X-Result-Truncated", "true");
out:
    if (t) /* automatic lineage: queued here, stored by a background thread (lineage/auto.c) */
        lineage_auto_query(app->lineage,
                           &(lineage_table_op){
                               .operation = "query",
                               .schema = json_string_value(json_object_get(t, "schema_name")),
                               .table = json_string_value(json_object_get(t, "name")),
                               .table_id = json_integer_value(json_object_get(t, "table_id")),
                               .snapshot_id = snap,
                               .rows = -1,
                               .bytes = -1,
                               .files = -1,
                               .sql = json_string_value(jq),
                               .error = e.code[0]             ? e.detail
                                        : resp->status >= 400 ? "the query could not run"
                                                              : NULL,
                               .started_mono_ns = req->start_ns,
                           });
    if (st) duckdb_destroy_prepare(&st);
    /* after the statement: the last release of an invalidated database closes it */
    if (qidx >= 0) engine_query_release(app->engine, qidx, qfailed);
    lake_pins_release(app->lake, pins);
    buf_free(&q.held);
    json_decref(t);
    json_decref(doc);
}
