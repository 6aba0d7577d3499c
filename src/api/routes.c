#include "api.h"

/* Order matters only between patterns that can match the same path: the first wins. */
static const http_route routes[] = {
    {HTTP_GET, "/", api_root, ROUTE_INLINE, "public", NULL},
    {HTTP_GET, "/health", api_health, ROUTE_CONTROL, "public", NULL},
    {HTTP_GET, "/health/live", api_health_live, ROUTE_INLINE, "public", NULL},
    {HTTP_GET, "/health/ready", api_health_ready, ROUTE_INLINE, "public", NULL},
    {HTTP_POST, "/debug/echo", api_debug_echo, ROUTE_INLINE_SMALL, "reader", NULL},
    {HTTP_GET, "/debug/sleep", api_debug_sleep, 0, "reader", NULL},
    {HTTP_GET, "/debug/stream", api_debug_stream, ROUTE_STREAM, "reader", NULL},
};

const http_route *api_routes(size_t *n)
{
    *n = sizeof(routes) / sizeof(routes[0]);
    return routes;
}
