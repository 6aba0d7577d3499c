/* HTTP handlers: they translate requests into calls on the subsystems and nothing else. */
#ifndef DLB_API_H
#define DLB_API_H

#include <stddef.h>

#include "http/http.h"

/* The whole route table (every route declares the role it needs). */
const http_route *api_routes(size_t *n);

struct config;
/* Prepares what handlers compute once (the root document). */
void api_root_init(const struct config *cfg);

/* Handlers, grouped by file. */
void api_root(http_req *req, http_resp *resp);
void api_health(http_req *req, http_resp *resp);
void api_health_live(http_req *req, http_resp *resp);
void api_health_ready(http_req *req, http_resp *resp);
void api_debug_echo(http_req *req, http_resp *resp);
void api_debug_sleep(http_req *req, http_resp *resp);
void api_debug_stream(http_req *req, http_resp *resp);

#endif
