#include "router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int http_method_bit(const char *m)
{
    switch (m[0]) {
    case 'G':
        return strcmp(m, "GET") == 0 ? HTTP_GET : 0;
    case 'H':
        return strcmp(m, "HEAD") == 0 ? HTTP_HEAD : 0;
    case 'P':
        if (strcmp(m, "POST") == 0) return HTTP_POST;
        if (strcmp(m, "PUT") == 0) return HTTP_PUT;
        return strcmp(m, "PATCH") == 0 ? HTTP_PATCH : 0;
    case 'D':
        return strcmp(m, "DELETE") == 0 ? HTTP_DELETE : 0;
    case 'O':
        return strcmp(m, "OPTIONS") == 0 ? HTTP_OPTIONS : 0;
    default:
        return 0;
    }
}

/* Compares one route pattern with the path segment by segment. Parameters capture a
 * non-empty segment; "{name*}" captures the non-empty rest of the path. */
static int match_one(const char *pat, const char *path, http_req *req)
{
    int np = 0;
    const char *names[HTTP_MAX_PARAMS];
    const char *starts[HTTP_MAX_PARAMS];
    size_t lens[HTTP_MAX_PARAMS];
    const char *p = pat, *s = path;
    while (*p) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            if (!close || np == HTTP_MAX_PARAMS) return 0;
            int rest = close[-1] == '*';
            const char *seg_end = rest ? s + strlen(s) : strchr(s, '/');
            if (!seg_end) seg_end = s + strlen(s);
            if (seg_end == s) return 0;
            names[np] = p + 1;
            starts[np] = s;
            lens[np] = (size_t)(seg_end - s);
            np++;
            s = seg_end;
            p = close + 1;
        } else {
            if (*p != *s) return 0;
            p++;
            s++;
        }
    }
    if (*s) return 0;
    if (!req) return 1;
    req->nparams = np;
    for (int i = 0; i < np; i++) {
        req->param_names[i] = names[i];
        req->param_values[i] = strndup(starts[i], lens[i]);
    }
    return 1;
}

const http_route *router_match(const http_route *routes, size_t n, const char *path, int method,
                               http_req *req, int *allowed)
{
    *allowed = 0;
    int want = method == HTTP_HEAD ? (HTTP_HEAD | HTTP_GET) : method;
    for (size_t i = 0; i < n; i++) {
        const http_route *r = &routes[i];
        int methods = r->methods | ((r->methods & HTTP_GET) ? HTTP_HEAD : 0);
        if (!match_one(r->pattern, path, NULL)) continue;
        if (methods & want) {
            match_one(r->pattern, path, req);
            return r;
        }
        *allowed |= methods;
    }
    return NULL;
}

void http_req_params_free(http_req *req)
{
    for (int i = 0; i < req->nparams; i++) {
        free(req->param_values[i]);
        req->param_values[i] = NULL;
    }
    req->nparams = 0;
}

const char *http_req_param(const http_req *req, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < req->nparams; i++) {
        const char *pn = req->param_names[i];
        if (strncmp(pn, name, n) == 0 && (pn[n] == '}' || (pn[n] == '*' && pn[n + 1] == '}')))
            return req->param_values[i];
    }
    return NULL;
}

void router_allow_header(int methods, char *out, size_t len)
{
    static const struct {
        int bit;
        const char *name;
    } names[] = {{HTTP_GET, "GET"},        {HTTP_HEAD, "HEAD"},   {HTTP_POST, "POST"},
                 {HTTP_PUT, "PUT"},        {HTTP_PATCH, "PATCH"}, {HTTP_DELETE, "DELETE"},
                 {HTTP_OPTIONS, "OPTIONS"}};
    out[0] = 0;
    size_t used = 0;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (!(methods & names[i].bit)) continue;
        size_t need = strlen(names[i].name) + (used ? 2 : 0);
        if (used + need >= len) break; /* never leave half a method name behind */
        snprintf(out + used, len - used, "%s%s", used ? ", " : "", names[i].name);
        used += need;
    }
}
