#include "auth.h"
#include "auth_internal.h"

#include "util/log.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void auth_audit(auth_t *a, const auth_principal *p, const char *method, const char *route,
                const char *path, int status, const char *request_id, const char *client)
{
    if (!a || !a->audit_on) return;
    const char *who = p && p->key_id[0] ? p->name : "anonymous";
    json_t *o = json_pack("{s:s, s:s, s:s?, s:s, s:s, s:s, s:i, s:s, s:s}", "who", who, "key_id",
                          p && p->key_id[0] ? p->key_id : "", "role",
                          p && p->key_id[0] ? auth_role_name(p->role) : NULL, "action", method,
                          "route", route ? route : "", "target", path, "result", status,
                          "request_id", request_id, "client", client);
    if (!o) return; /* a path that is not UTF-8 */
    json_object_set_new(o, "outcome", json_string(status < 400 ? "success" : "failure"));
    if (a->audit_fd < 0) {
        json_object_set_new(o, "log", json_string("audit"));
        log_json(LOG_INFO, "audit", o);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        json_object_set_new(o, "timestamp", json_real((double)ts.tv_sec + ts.tv_nsec / 1e9));
        char *line = json_dumps(o, JSON_COMPACT);
        if (line) {
            size_t n = strlen(line);
            line[n] = '\n'; /* replaces the NUL: one write of n + 1 bytes keeps lines whole */
            ssize_t w = write(a->audit_fd, line, n + 1);
            (void)w;
            free(line);
        }
    }
    json_decref(o);
}
