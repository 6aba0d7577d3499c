/* Matches a method and path against the route table (private to http/). */
#ifndef DLB_HTTP_ROUTER_H
#define DLB_HTTP_ROUTER_H

#include "http.h"

int http_method_bit(const char *method);

/* Finds the route for path and method. Fills req->params (values malloc'd, freed with
 * http_req_params_free). Returns the route, or NULL with *allowed set to the methods that
 * do match the path (0: no route has this path at all). */
const http_route *router_match(const http_route *routes, size_t n, const char *path, int method,
                               http_req *req, int *allowed);
void http_req_params_free(http_req *req);
/* "GET, HEAD, POST" for an Allow header. */
void router_allow_header(int methods, char *out, size_t len);

#endif
