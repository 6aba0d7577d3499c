#include "auth.h"
#include "auth_internal.h"

#include "config.h"
#include "util/log.h"
#include "util/periodic.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Keys created or revoked on another replica reach this one within a second. */
static void refresh_tick(void *arg)
{
    auth_reload(arg);
}

auth_t *auth_create(const config_t *cfg, struct meta *meta, dlb_err *err)
{
    auth_t *a = calloc(1, sizeof(*a));
    if (!a) {
        dlb_err_set(err, 500, "internal_error", "out of memory");
        return NULL;
    }
    a->cfg = cfg;
    a->meta = meta;
    a->enabled = cfg->auth_enabled;
    a->audit_fd = -1;
    pthread_rwlock_init(&a->keys_lock, NULL);
    for (int i = 0; i < RATE_SHARDS; i++)
        pthread_mutex_init(&a->shard[i], NULL);
    if (cfg->feature_rate_limiting) {
        a->slots = calloc(RATE_SLOTS, sizeof(bucket));
        if (!a->slots) goto fail;
        a->rate_on = 1;
        a->rate_per_s =
            (double)cfg->security_rate_limit_requests / (double)cfg->security_rate_limit_window;
        a->burst = (double)cfg->security_rate_limit_burst;
    }
    if (cfg->feature_audit_logging) {
        a->audit_on = 1;
        if (cfg->security_audit_log_file[0]) {
            a->audit_fd =
                open(cfg->security_audit_log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
            if (a->audit_fd < 0) {
                dlb_err_set(err, 500, "audit_log_unavailable", "cannot open %s: %s",
                            cfg->security_audit_log_file, strerror(errno));
                goto fail;
            }
        }
    }
    if (a->enabled) {
        if (auth_reload(a)) {
            dlb_err_set(err, 503, "database_unavailable", "cannot read the API keys");
            goto fail;
        }
        a->refresher = periodic_start(1.0, 0, refresh_tick, a);
    }
    return a;
fail:
    auth_destroy(a);
    return NULL;
}

void auth_destroy(auth_t *a)
{
    if (!a) return;
    periodic_stop(a->refresher);
    if (a->audit_fd >= 0) close(a->audit_fd);
    free(a->keys);
    free(a->slots);
    pthread_rwlock_destroy(&a->keys_lock);
    for (int i = 0; i < RATE_SHARDS; i++)
        pthread_mutex_destroy(&a->shard[i]);
    free(a);
}

int auth_enabled(const auth_t *a)
{
    return a && a->enabled;
}
