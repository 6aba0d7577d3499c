/* Diagnostic routes, present only when DEBUG=true: the request-parsing benchmark target,
 * a worker that sleeps (overload and shutdown tests) and a synthetic stream. */
#include "api.h"

#include "app.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int debug_off(http_req *req, http_resp *resp)
{
    const app_t *app = req->app;
    if (app->cfg->debug) return 0;
    http_resp_error(resp, 404, "not_found", "no route for %s %s (debug routes need DEBUG=true)",
                    req->method_str, req->path);
    return 1;
}

static long query_long(http_req *req, const char *name, long def, long min, long max,
                       http_resp *resp)
{
    const char *v = http_req_query(req, name);
    if (!v) return def;
    char *end;
    long x = strtol(v, &end, 10);
    if (!*v || *end || x < min || x > max) {
        http_resp_error(resp, 422, "validation_error",
                        "query parameter %s must be an integer from %ld to %ld", name, min, max);
        return -1;
    }
    return x;
}

typedef struct {
    const char *name;
    int (*ok)(const json_t *);
    const char *expected;
} field_rule;

static int is_int(const json_t *j)
{
    return json_is_integer(j);
}
static int is_str(const json_t *j)
{
    return json_is_string(j);
}
static int is_num(const json_t *j)
{
    return json_is_number(j);
}
static int is_bool(const json_t *j)
{
    return json_is_boolean(j);
}
static int is_str_list(const json_t *j)
{
    size_t i;
    json_t *v;
    if (!json_is_array(j)) return 0;
    json_array_foreach(j, i, v) if (!json_is_string(v)) return 0;
    return 1;
}

static const field_rule row_rules[] = {
    {"id", is_int, "an integer"},
    {"name", is_str, "a string"},
    {"value", is_num, "a number"},
    {"active", is_bool, "a boolean"},
    {"tags", is_str_list, "a list of strings"},
    {"created_at", is_str, "a string"},
};

void api_debug_echo(http_req *req, http_resp *resp)
{
    if (debug_off(req, resp)) return;
    json_t *doc = http_req_json(req, resp);
    if (!doc) return;
    json_t *rows = json_object_get(doc, "rows");
    if (!json_is_object(doc) || !json_is_array(rows)) {
        http_resp_error(resp, 422, "validation_error",
                        "body must be an object with a \"rows\" array");
        json_decref(doc);
        return;
    }
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        if (!json_is_object(row)) {
            http_resp_error(resp, 422, "validation_error", "rows[%zu]: expected an object", i);
            json_decref(doc);
            return;
        }
        for (size_t f = 0; f < sizeof(row_rules) / sizeof(row_rules[0]); f++) {
            json_t *v = json_object_get(row, row_rules[f].name);
            if (!v || !row_rules[f].ok(v)) {
                http_resp_error(resp, 422, "validation_error", "rows[%zu].%s: %s %s", i,
                                row_rules[f].name, v ? "expected" : "missing, expected",
                                row_rules[f].expected);
                json_decref(doc);
                return;
            }
        }
    }
    json_t *out = json_pack("{s:I}", "rows", (json_int_t)json_array_size(rows));
    const char *echo = http_req_query(req, "echo");
    if (echo && (strcmp(echo, "true") == 0 || strcmp(echo, "1") == 0))
        json_object_set(out, "data", rows);
    json_decref(doc);
    http_resp_json(resp, 200, out);
}

void api_debug_sleep(http_req *req, http_resp *resp)
{
    if (debug_off(req, resp)) return;
    long ms = query_long(req, "ms", 100, 0, 30000, resp);
    if (ms < 0) return;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
    http_resp_json(resp, 200, json_pack("{s:i}", "slept_ms", (int)ms));
}

void api_debug_stream(http_req *req, http_resp *resp)
{
    if (debug_off(req, resp)) return;
    long chunks = query_long(req, "chunks", 10, 0, 1000000, resp);
    if (chunks < 0) return;
    long size = query_long(req, "size", 1024, 1, 1 << 20, resp);
    if (size < 0) return;
    char *block = malloc((size_t)size);
    if (!block) {
        http_resp_error(resp, 500, "internal_error", "out of memory");
        return;
    }
    http_stream *s = http_resp_stream(req, resp, 200, "text/plain");
    for (long i = 0; s && i < chunks; i++) {
        memset(block, 'a' + (int)(i % 26), (size_t)size);
        if (http_stream_write(s, block, (size_t)size)) break;
    }
    free(block);
}
