/* Request routing over the real route table: a method byte, then the path. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "http/router.h"
#include "util/ids.h"

/* Set by api_metrics_init in the server; the route table points at it. */
char api_metrics_path[128] = "/metrics";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *methods[] = {"GET",    "HEAD",    "POST",  "PUT",
                                    "DELETE", "OPTIONS", "PATCH", "BREW"};
    if (size < 1) return 0;
    char *path = malloc(size);
    if (!path) return 0;
    memcpy(path, data + 1, size - 1);
    path[size - 1] = 0;
    size_t n;
    const http_route *routes = api_routes(&n);
    http_req req;
    memset(&req, 0, sizeof(req));
    int allowed = 0;
    const http_route *r =
        router_match(routes, n, path, http_method_bit(methods[data[0] % 8]), &req, &allowed);
    if (r)
        for (int i = 0; i < req.nparams; i++)
            (void)http_req_param(&req, req.param_names[i]);
    char allow[128];
    router_allow_header(allowed, allow, sizeof(allow));
    http_req_params_free(&req);
    (void)ids_request_id_sane(path);
    free(path);
    return 0;
}
