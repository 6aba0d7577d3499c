/* /admin/keys: API keys for admins (the command line offers the same: `keys create|list|
 * revoke`). A key's secret is shown once, in the answer that creates it. */
#include "api.h"

#include "app.h"
#include "auth/auth.h"

#include <jansson.h>

void api_keys_list(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    dlb_err e = {0};
    json_t *keys = auth_keys_json(app->auth, &e);
    if (!keys) {
        http_resp_error(resp, e.status, e.code, "%s", e.detail);
        return;
    }
    http_resp_json(resp, 200, json_pack("{s:o}", "keys", keys));
}

void api_keys_create(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    json_t *doc = http_req_json(req, resp);
    if (!doc) return;
    json_t *name = json_object_get(doc, "name"), *role = json_object_get(doc, "role");
    if (!json_is_object(doc) || !json_is_string(name) || !json_is_string(role)) {
        http_resp_error(
            resp, 422, "validation_error",
            "body must be {\"name\": string, \"role\": \"reader\"|\"writer\"|\"admin\"}");
        json_decref(doc);
        return;
    }
    char key[128], id[32];
    dlb_err e = {0};
    if (auth_key_create(app->auth, json_string_value(name), json_string_value(role), key,
                        sizeof(key), id, sizeof(id), &e)) {
        http_resp_error(resp, e.status, e.code, "%s", e.detail);
    } else {
        http_resp_json(resp, 201,
                       json_pack("{s:s, s:s, s:s, s:s, s:s}", "key_id", id, "key", key, "name",
                                 json_string_value(name), "role", json_string_value(role), "note",
                                 "store the key now: it cannot be shown again"));
        resp->no_gzip = 1;
    }
    json_decref(doc);
}

void api_keys_revoke(http_req *req, http_resp *resp)
{
    app_t *app = req->app;
    dlb_err e = {0};
    if (auth_key_revoke(app->auth, http_req_param(req, "key_id"), &e)) {
        http_resp_error(resp, e.status, e.code, "%s", e.detail);
        return;
    }
    http_resp_bytes(resp, 204, NULL, NULL, 0);
}
