/* Unit tests of the router: matching, parameters, 405 bits, Allow header, method bits. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "http/router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void h_noop(http_req *req, http_resp *resp)
{
    (void)req;
    (void)resp;
}

static const http_route routes[] = {
    {HTTP_GET, "/health", h_noop, 0, "public", NULL},                                   /* 0 */
    {HTTP_GET | HTTP_POST, "/tables", h_noop, 0, "reader", NULL},                       /* 1 */
    {HTTP_GET | HTTP_DELETE, "/tables/{name}", h_noop, 0, "reader", NULL},              /* 2 */
    {HTTP_POST, "/tables/{name}/query", h_noop, 0, "reader", NULL},                     /* 3 */
    {HTTP_GET | HTTP_PUT, "/buckets/{bucket}/objects/{object*}", h_noop, 0, "w", NULL}, /* 4 */
    {HTTP_GET, "/first/{x}", h_noop, 0, "public", NULL},                                /* 5 */
    {HTTP_GET, "/first/fixed", h_noop, 0, "public", NULL},                              /* 6 */
    {HTTP_POST, "/upload", h_noop, 0, "writer", NULL},                                  /* 7 */
    {HTTP_PATCH, "/upload", h_noop, 0, "writer", NULL},                                 /* 8 */
    {HTTP_GET, "/a/{p}/b/{q}/c/{r}", h_noop, 0, "public", NULL},                        /* 9 */
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/* A request with its params zeroed. */
static void req_init(http_req *req)
{
    memset(req, 0, sizeof(*req));
}

static const http_route *match(const char *path, int method, http_req *req, int *allowed)
{
    *allowed = -12345; /* router_match must set it */
    return router_match(routes, NROUTES, path, method, req, allowed);
}

static void test_exact_paths(void **state)
{
    (void)state;
    http_req req;
    int allowed;
    req_init(&req);
    assert_ptr_equal(match("/health", HTTP_GET, &req, &allowed), &routes[0]);
    assert_int_equal(req.nparams, 0);
    assert_ptr_equal(match("/tables", HTTP_GET, &req, &allowed), &routes[1]);
    assert_ptr_equal(match("/tables", HTTP_POST, &req, &allowed), &routes[1]);
    assert_int_equal(req.nparams, 0);
    /* Prefixes, extensions and case differences do not match. */
    assert_null(match("/healt", HTTP_GET, &req, &allowed));
    assert_int_equal(allowed, 0);
    assert_null(match("/healthz", HTTP_GET, &req, &allowed));
    assert_int_equal(allowed, 0);
    assert_null(match("/Health", HTTP_GET, &req, &allowed));
    assert_int_equal(allowed, 0);
    assert_null(match("", HTTP_GET, &req, &allowed));
    assert_int_equal(allowed, 0);
    assert_null(match("/", HTTP_GET, &req, &allowed));
    assert_int_equal(allowed, 0);
    assert_int_equal(req.nparams, 0);
}

static void test_params_copied(void **state)
{
    (void)state;
    http_req req;
    int allowed;
    req_init(&req);
    char path[] = "/tables/orders/query";
    assert_ptr_equal(match(path, HTTP_POST, &req, &allowed), &routes[3]);
    assert_int_equal(req.nparams, 1);
    assert_non_null(req.param_values[0]);
    assert_string_equal(req.param_values[0], "orders");
    /* A copy: the value does not point into the path and survives changes to it. */
    assert_true(req.param_values[0] < path || req.param_values[0] >= path + sizeof(path));
    memset(path, 'Z', sizeof(path) - 1);
    assert_string_equal(req.param_values[0], "orders");
    assert_string_equal(http_req_param(&req, "name"), "orders");
    http_req_params_free(&req);
    assert_int_equal(req.nparams, 0);
    assert_null(req.param_values[0]);
    assert_null(http_req_param(&req, "name"));

    /* Several params, in order. */
    req_init(&req);
    assert_ptr_equal(match("/a/1/b/22/c/333", HTTP_GET, &req, &allowed), &routes[9]);
    assert_int_equal(req.nparams, 3);
    assert_string_equal(http_req_param(&req, "p"), "1");
    assert_string_equal(http_req_param(&req, "q"), "22");
    assert_string_equal(http_req_param(&req, "r"), "333");
    assert_string_equal(req.param_values[0], "1");
    assert_string_equal(req.param_values[2], "333");
    http_req_params_free(&req);

    /* Special characters inside a segment are part of the value. */
    req_init(&req);
    assert_ptr_equal(match("/tables/my.table-1%20x", HTTP_GET, &req, &allowed), &routes[2]);
    assert_string_equal(http_req_param(&req, "name"), "my.table-1%20x");
    http_req_params_free(&req);
}

static void test_rest_param(void **state)
{
    (void)state;
    http_req req;
    int allowed;
    req_init(&req);
    assert_ptr_equal(match("/buckets/b1/objects/dir/sub/file.parquet", HTTP_GET, &req, &allowed),
                     &routes[4]);
    assert_int_equal(req.nparams, 2);
    assert_string_equal(http_req_param(&req, "bucket"), "b1");
    assert_string_equal(http_req_param(&req, "object"), "dir/sub/file.parquet");
    http_req_params_free(&req);

    /* A single segment and a trailing slash are part of the rest. */
    req_init(&req);
    assert_ptr_equal(match("/buckets/b1/objects/x", HTTP_PUT, &req, &allowed), &routes[4]);
    assert_string_equal(http_req_param(&req, "object"), "x");
    http_req_params_free(&req);
    req_init(&req);
    assert_ptr_equal(match("/buckets/b1/objects/d/", HTTP_GET, &req, &allowed), &routes[4]);
    assert_string_equal(http_req_param(&req, "object"), "d/");
    http_req_params_free(&req);

    /* The rest must not be empty. */
    req_init(&req);
    assert_null(match("/buckets/b1/objects/", HTTP_GET, &req, &allowed));
    assert_int_equal(allowed, 0);
    assert_null(match("/buckets/b1/objects", HTTP_GET, &req, &allowed));
    assert_int_equal(allowed, 0);
    assert_int_equal(req.nparams, 0);
}

static void test_empty_segment_and_trailing_slash(void **state)
{
    (void)state;
    http_req req;
    int allowed;
    req_init(&req);
    /* An empty segment never fills a parameter. */
    assert_null(match("/tables//query", HTTP_POST, &req, &allowed));
    assert_int_equal(allowed, 0);
    assert_null(match("/tables/", HTTP_GET, &req, &allowed));
    assert_int_equal(allowed, 0);
    assert_null(match("/buckets//objects/x", HTTP_GET, &req, &allowed));
    assert_int_equal(allowed, 0);
    /* Trailing slashes do not match a route without one, and a parameter stops at '/'. */
    assert_null(match("/health/", HTTP_GET, &req, &allowed));
    assert_int_equal(allowed, 0);
    assert_null(match("/tables/orders/", HTTP_GET, &req, &allowed));
    assert_int_equal(allowed, 0);
    assert_null(match("/tables/a/b", HTTP_GET, &req, &allowed));
    assert_int_equal(allowed, 0);
    assert_null(match("/tables/orders/query/", HTTP_POST, &req, &allowed));
    assert_int_equal(allowed, 0);
    assert_int_equal(req.nparams, 0);
}

static void test_head_and_405(void **state)
{
    (void)state;
    http_req req;
    int allowed;
    req_init(&req);
    /* HEAD is served by a GET route. */
    assert_ptr_equal(match("/health", HTTP_HEAD, &req, &allowed), &routes[0]);
    assert_ptr_equal(match("/tables/t1", HTTP_HEAD, &req, &allowed), &routes[2]);
    assert_string_equal(http_req_param(&req, "name"), "t1");
    http_req_params_free(&req);

    /* Known path, wrong method: NULL with the methods that do exist (GET implies HEAD). */
    req_init(&req);
    assert_null(match("/health", HTTP_DELETE, &req, &allowed));
    assert_int_equal(allowed, HTTP_GET | HTTP_HEAD);
    assert_null(match("/tables", HTTP_PATCH, &req, &allowed));
    assert_int_equal(allowed, HTTP_GET | HTTP_HEAD | HTTP_POST);
    assert_null(match("/tables/t1", HTTP_POST, &req, &allowed));
    assert_int_equal(allowed, HTTP_GET | HTTP_HEAD | HTTP_DELETE);
    assert_int_equal(req.nparams, 0); /* no params filled on a 405 */
    /* HEAD on a route without GET is a 405 too. */
    assert_null(match("/tables/t1/query", HTTP_HEAD, &req, &allowed));
    assert_int_equal(allowed, HTTP_POST);
    /* The bits of several routes with the same path add up. */
    assert_null(match("/upload", HTTP_GET, &req, &allowed));
    assert_int_equal(allowed, HTTP_POST | HTTP_PATCH);
    assert_ptr_equal(match("/upload", HTTP_PATCH, &req, &allowed), &routes[8]);
    /* An unknown method (bit 0) never matches but reports the path's methods. */
    assert_null(match("/health", 0, &req, &allowed));
    assert_int_equal(allowed, HTTP_GET | HTTP_HEAD);
    /* Unknown path: allowed 0. */
    assert_null(match("/nothing/here", HTTP_GET, &req, &allowed));
    assert_int_equal(allowed, 0);
    assert_null(match("/nothing/here", HTTP_DELETE, &req, &allowed));
    assert_int_equal(allowed, 0);
    assert_int_equal(req.nparams, 0);
}

static void test_first_match_wins(void **state)
{
    (void)state;
    http_req req;
    int allowed;
    req_init(&req);
    /* "/first/{x}" is listed before "/first/fixed" and takes it. */
    assert_ptr_equal(match("/first/fixed", HTTP_GET, &req, &allowed), &routes[5]);
    assert_string_equal(http_req_param(&req, "x"), "fixed");
    http_req_params_free(&req);
    /* In the other order the literal route wins. */
    const http_route rev[] = {routes[6], routes[5]};
    req_init(&req);
    allowed = -1;
    assert_ptr_equal(router_match(rev, 2, "/first/fixed", HTTP_GET, &req, &allowed), &rev[0]);
    assert_int_equal(req.nparams, 0);
    assert_ptr_equal(router_match(rev, 2, "/first/other", HTTP_GET, &req, &allowed), &rev[1]);
    assert_string_equal(http_req_param(&req, "x"), "other");
    http_req_params_free(&req);
    /* A route whose method does not fit is skipped for a later one with the same path. */
    const http_route two[] = {{HTTP_POST, "/t/{a}", h_noop, 0, NULL, NULL},
                              {HTTP_GET, "/t/{b}", h_noop, 0, NULL, NULL}};
    req_init(&req);
    assert_ptr_equal(router_match(two, 2, "/t/v", HTTP_GET, &req, &allowed), &two[1]);
    assert_int_equal(req.nparams, 1);
    assert_null(http_req_param(&req, "a"));
    assert_string_equal(http_req_param(&req, "b"), "v");
    http_req_params_free(&req);
}

static void test_req_param_lookup(void **state)
{
    (void)state;
    http_req req;
    int allowed;
    req_init(&req);
    assert_non_null(match("/buckets/bk/objects/o/p", HTTP_GET, &req, &allowed));
    assert_string_equal(http_req_param(&req, "bucket"), "bk");
    assert_string_equal(http_req_param(&req, "object"), "o/p");
    /* Only whole names. */
    assert_null(http_req_param(&req, "bucke"));
    assert_null(http_req_param(&req, "buckets"));
    assert_null(http_req_param(&req, "obj"));
    assert_null(http_req_param(&req, "objects"));
    assert_null(http_req_param(&req, "Bucket"));
    assert_null(http_req_param(&req, ""));
    assert_null(http_req_param(&req, "name"));
    http_req_params_free(&req);
}

static void test_allow_header(void **state)
{
    (void)state;
    char out[128];
    memset(out, 'X', sizeof(out));
    router_allow_header(0, out, sizeof(out));
    assert_string_equal(out, "");
    router_allow_header(HTTP_GET, out, sizeof(out));
    assert_string_equal(out, "GET");
    router_allow_header(HTTP_GET | HTTP_HEAD | HTTP_POST, out, sizeof(out));
    assert_string_equal(out, "GET, HEAD, POST");
    router_allow_header(HTTP_OPTIONS | HTTP_DELETE, out, sizeof(out));
    assert_string_equal(out, "DELETE, OPTIONS");
    router_allow_header(HTTP_GET | HTTP_HEAD | HTTP_POST | HTTP_PUT | HTTP_DELETE | HTTP_OPTIONS |
                            HTTP_PATCH,
                        out, sizeof(out));
    assert_string_equal(out, "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
    /* Unknown bits are ignored. */
    router_allow_header(HTTP_PUT | 1024, out, sizeof(out));
    assert_string_equal(out, "PUT");
}

/* A buffer too small for every method must not end in half a method name. */
static void test_allow_header_truncation(void **state)
{
    (void)state;
    char out[16];
    memset(out, 'X', sizeof(out));
    router_allow_header(HTTP_GET | HTTP_HEAD, out, 8); /* "GET, HEAD" needs 10 */
    assert_int_equal(out[15], 'X');                    /* nothing past len written */
    assert_true(strlen(out) < 8);
    assert_string_equal(out, "GET");
}

static void test_method_bits(void **state)
{
    (void)state;
    assert_int_equal(http_method_bit("GET"), HTTP_GET);
    assert_int_equal(http_method_bit("HEAD"), HTTP_HEAD);
    assert_int_equal(http_method_bit("POST"), HTTP_POST);
    assert_int_equal(http_method_bit("PUT"), HTTP_PUT);
    assert_int_equal(http_method_bit("DELETE"), HTTP_DELETE);
    assert_int_equal(http_method_bit("OPTIONS"), HTTP_OPTIONS);
    assert_int_equal(http_method_bit("PATCH"), HTTP_PATCH);
    /* Every bit distinct. */
    int all = HTTP_GET | HTTP_HEAD | HTTP_POST | HTTP_PUT | HTTP_DELETE | HTTP_OPTIONS | HTTP_PATCH;
    assert_int_equal(__builtin_popcount((unsigned)all), 7);
    /* Unknown, misspelt, lowercase (methods are case-sensitive) and empty: 0. */
    const char *bad[] = {"",      "get",     "Get",      "GETS", "GE",      "PO",
                         "POS",   "POSTS",   "PUTT",     "PATC", "DELETEX", "OPTION",
                         "TRACE", "CONNECT", "PROPFIND", "H"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (http_method_bit(bad[i]) != 0) fail_msg("\"%s\" got a method bit", bad[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_paths),
        cmocka_unit_test(test_params_copied),
        cmocka_unit_test(test_rest_param),
        cmocka_unit_test(test_empty_segment_and_trailing_slash),
        cmocka_unit_test(test_head_and_405),
        cmocka_unit_test(test_first_match_wins),
        cmocka_unit_test(test_req_param_lookup),
        cmocka_unit_test(test_allow_header),
        cmocka_unit_test(test_allow_header_truncation),
        cmocka_unit_test(test_method_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
