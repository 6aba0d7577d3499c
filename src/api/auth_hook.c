/* Who may call what: the HTTP core asks before reading a body (api_authorize) and reports
 * every finished request (api_audit). The rules live in the route table's role column. */
#include "api.h"

#include "app.h"
#include "auth/auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *presented_key(const app_t *app, http_req *req)
{
    const char *h = http_req_header(req, "Authorization");
    if (h && strncasecmp(h, "Bearer ", 7) == 0) {
        h += 7;
        while (*h == ' ')
            h++;
        return h;
    }
    h = http_req_header(req, app->cfg->security_api_key_header);
    if (h) return h;
    /* Browsers cannot set headers on an EventSource: event streams take the key in the URL. */
    if (strncmp(req->path, "/events/", 8) == 0) {
        h = http_req_query(req, "api_key");
        if (!h) h = http_req_query(req, "access_token");
    }
    return h;
}

static int required_role(const app_t *app, const http_req *req)
{
    int r = auth_role_parse(req->route->role);
    if (r < 0) return ROLE_ADMIN; /* an undeclared role is the strictest, never the loosest */
    if (r == ROLE_NONE && app->cfg->security_metrics_require_auth &&
        strcmp(req->path, app->cfg->monitoring_metrics_path) == 0)
        return ROLE_READER;
    return r;
}

int api_authorize(void *appv, http_req *req, http_resp *resp)
{
    app_t *app = appv;
    int need = required_role(app, req);
    if (need == ROLE_NONE) return 0; /* probes and the root stay open */
    auth_principal *p = calloc(1, sizeof(*p));
    if (!p) {
        http_resp_error(resp, 500, "internal_error", "out of memory");
        return -1;
    }
    req->user = p;
    const char *bucket = req->client_ip;
    if (auth_enabled(app->auth)) {
        if (auth_check(app->auth, presented_key(app, req), p)) {
            http_resp_error(resp, 401, "unauthorized",
                            "a valid API key is required: send 'Authorization: Bearer <key>' or "
                            "the %s header",
                            app->cfg->security_api_key_header);
            http_resp_header(resp, "WWW-Authenticate", "Bearer realm=\"ducklake-backend\"");
            return -1;
        }
        if (app->cfg->feature_authorization && (int)p->role < need) {
            http_resp_error(resp, 403, "forbidden", "%s %s needs the %s role; this key (%s) has %s",
                            req->method_str, req->route->pattern, auth_role_name((auth_role)need),
                            p->key_id, auth_role_name(p->role));
            return -1;
        }
        bucket = p->key_id;
    } else {
        p->role = ROLE_ADMIN; /* authentication off: every caller may do everything */
    }
    int retry;
    if (!auth_rate_allow(app->auth, bucket, &retry)) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%d", retry);
        http_resp_error(resp, 429, "rate_limited",
                        "too many requests: at most %ld per %ld s (burst %ld); retry in %d s",
                        app->cfg->security_rate_limit_requests,
                        app->cfg->security_rate_limit_window, app->cfg->security_rate_limit_burst,
                        retry);
        http_resp_header(resp, "Retry-After", ra);
        return -1;
    }
    return 0;
}

void api_audit(void *appv, const http_req *req, int status)
{
    app_t *app = appv;
    int m = req->method;
    if (!(m & (HTTP_POST | HTTP_PUT | HTTP_DELETE | HTTP_PATCH))) return;
    /* Reader routes change nothing even when they take a body (queries, pongs): only routes
     * that need writer or admin, or that no route matched, are state-changing. */
    if (req->route && auth_role_parse(req->route->role) >= 0 &&
        auth_role_parse(req->route->role) <= ROLE_READER)
        return;
    auth_audit(app->auth, req->user, req->method_str, req->route ? req->route->pattern : NULL,
               req->path, status, req->request_id, req->client_ip);
}
