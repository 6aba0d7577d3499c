#include "config_monitor.h"

#include "config.h"
#include "meta/meta.h"
#include "obs/metrics.h"
#include "obs/obs.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/periodic.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

struct cfgmon {
    const config_t *cfg;
    meta_t *meta;
    periodic *checker;
    pthread_mutex_t lock; /* last */
    json_t *last;
    unsigned char salt[16];
    char start_hash[17];
    obs_series *g_status; /* dlb_config_health_status, NULL when not exported */
};

/* config_load keeps its ENV_FILE values in globals while it runs. */
static pthread_mutex_t g_load_lock = PTHREAD_MUTEX_INITIALIZER;

/* ------------------------------------------------------------------- configuration hash */

/* The hash covers every value, secrets included (a changed password needs a restart too),
 * salted with a per-process random key so that it reveals nothing about a secret. */
static void hash_bytes(EVP_MD_CTX *c, const char *name, const void *p, size_t n)
{
    EVP_DigestUpdate(c, name, strlen(name) + 1);
    EVP_DigestUpdate(c, p, n);
}
static void hash_str(EVP_MD_CTX *c, const char *name, char *const *v)
{
    hash_bytes(c, name, *v ? *v : "", *v ? strlen(*v) + 1 : 1);
}
#define HASH_STR(c, n, p)  hash_str(c, n, p)
#define HASH_ENUM(c, n, p) hash_str(c, n, p)
#define HASH_LIST(c, n, p) hash_str(c, n, p)
#define HASH_PCT(c, n, p)  hash_str(c, n, p)
#define HASH_BOOL(c, n, p) hash_bytes(c, n, p, sizeof(*(p)))
#define HASH_INT(c, n, p)  hash_bytes(c, n, p, sizeof(*(p)))
#define HASH_SIZE(c, n, p) hash_bytes(c, n, p, sizeof(*(p)))
#define HASH_DBL(c, n, p)  hash_bytes(c, n, p, sizeof(*(p)))

static void config_hash(const cfgmon_t *m, const config_t *cfg, char out[17])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    snprintf(out, 17, "unavailable");
    if (!c) return;
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    EVP_DigestUpdate(c, m->salt, sizeof(m->salt));
#define X(kind, NAME, field, def, allowed, min, max, flags, desc)                                  \
    HASH_##kind(c, #NAME, &cfg->field);
    CONFIG_VARS(X)
#undef X
    EVP_DigestFinal_ex(c, md, &len);
    EVP_MD_CTX_free(c);
    for (int i = 0; i < 8; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

json_t *cfgmon_validate(void)
{
    static config_t fresh;
    char err[8192];
    pthread_mutex_lock(&g_load_lock);
    int rc = config_load(&fresh, err, sizeof(err));
    config_free(&fresh);
    pthread_mutex_unlock(&g_load_lock);
    json_t *errors = json_array();
    if (rc == 0) return errors;
    for (char *sp, *line = strtok_r(err, "\n", &sp); line; line = strtok_r(NULL, "\n", &sp))
        json_array_append_new(errors, json_string(line));
    return errors;
}

/* ------------------------------------------------------------------------------ checks */

typedef struct {
    int healthy, warning, unhealthy;
} tally_t;

static json_t *finish(json_t *c, const char *status, uint64_t t0, tally_t *t)
{
    json_object_set_new(c, "status", json_string(status));
    json_object_set_new(c, "response_time", json_real((double)(clock_mono_ns() - t0) / 1e9));
    if (!strcmp(status, "healthy") || !strcmp(status, "skipped"))
        t->healthy++;
    else if (!strcmp(status, "warning"))
        t->warning++;
    else
        t->unhealthy++;
    return c;
}

static json_t *check_configuration(cfgmon_t *m, char *hash_now, tally_t *t)
{
    uint64_t t0 = clock_mono_ns();
    static config_t fresh;
    char err[8192];
    pthread_mutex_lock(&g_load_lock);
    int rc = config_load(&fresh, err, sizeof(err));
    if (rc == 0)
        config_hash(m, &fresh, hash_now);
    else
        snprintf(hash_now, 17, "%s", m->start_hash);
    config_free(&fresh);
    pthread_mutex_unlock(&g_load_lock);
    json_t *errors = json_array();
    if (rc)
        for (char *sp, *line = strtok_r(err, "\n", &sp); line; line = strtok_r(NULL, "\n", &sp))
            json_array_append_new(errors, json_string(line));
    int changed = strcmp(hash_now, m->start_hash) != 0;
    json_t *c = json_pack("{s:b, s:o, s:b}", "valid", rc == 0, "validation_errors", errors,
                          "restart_required", changed);
    if (changed)
        json_object_set_new(c, "message",
                            json_string("the environment or ENV_FILE changed since start; "
                                        "restart to apply"));
    return finish(c, rc ? "unhealthy" : changed ? "warning" : "healthy", t0, t);
}

static json_t *check_database(cfgmon_t *m, tally_t *t)
{
    uint64_t t0 = clock_mono_ns();
    if (!m->cfg->feature_health_checks)
        return finish(json_pack("{s:s}", "detail", "FEATURE_ENABLE_HEALTH_CHECKS is off"),
                      "skipped", t0, t);
    char err[512] = "";
    int ok = meta_ping(m->meta, err, sizeof(err)) == 0;
    obs_dep_observe("metadata_db", "ping", clock_mono_ns() - t0, ok);
    json_t *c = json_pack("{s:s, s:b}", "backend", meta_backend(m->meta), "connected", ok);
    if (!ok) json_object_set_new(c, "error", json_string(err));
    return finish(c, ok ? "healthy" : "unhealthy", t0, t);
}

/* A TCP connection to host:port within timeout seconds; 0 when it opened. */
static int tcp_probe(const char *endpoint, double timeout, char *err, size_t errlen)
{
    char host[256];
    snprintf(host, sizeof(host), "%s", endpoint);
    char *colon = strrchr(host, ':');
    if (!colon) {
        snprintf(err, errlen, "endpoint is not host:port");
        return -1;
    }
    *colon = 0;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int gai = getaddrinfo(host, colon + 1, &hints, &res);
    if (gai) {
        snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(gai));
        return -1;
    }
    int rc = -1;
    for (struct addrinfo *a = res; a && rc; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
            rc = 0;
        } else if (errno == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int soerr = 0;
            socklen_t sl = sizeof(soerr);
            if (poll(&p, 1, (int)(timeout * 1000)) == 1 &&
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
                rc = 0;
            else
                snprintf(err, errlen, "cannot connect to %s: %s", endpoint,
                         soerr ? strerror(soerr) : "timed out");
        } else {
            snprintf(err, errlen, "cannot connect to %s: %s", endpoint, strerror(errno));
        }
        close(fd);
    }
    freeaddrinfo(res);
    return rc;
}

static json_t *check_storage(cfgmon_t *m, tally_t *t)
{
    uint64_t t0 = clock_mono_ns();
    const config_t *cfg = m->cfg;
    json_t *c = json_pack("{s:s}", "backend", cfg->storage_backend);
    const char *status = "healthy";
    struct statvfs sv;
    if (access(cfg->data_dir, W_OK) != 0) {
        json_object_set_new(c, "error", json_string("DATA_DIR is not writable"));
        status = "unhealthy";
    } else if (statvfs(cfg->data_dir, &sv) == 0) {
        double free_b = (double)sv.f_bavail * (double)sv.f_frsize;
        double total = (double)sv.f_blocks * (double)sv.f_frsize;
        json_object_set_new(c, "data_dir_free_bytes", json_integer((json_int_t)free_b));
        json_object_set_new(c, "data_dir_free_percent",
                            json_real(total > 0 ? 100.0 * free_b / total : 0));
        if (total > 0 && free_b / total < 0.05) {
            json_object_set_new(c, "warning", json_string("less than 5% free under DATA_DIR"));
            status = "warning";
        }
    }
    if (!strcmp(cfg->storage_backend, "s3")) {
        json_object_set_new(c, "endpoint", json_string(cfg->storage_minio_endpoint));
        if (!cfg->feature_health_checks) {
            json_object_set_new(c, "reachable", json_null());
        } else {
            char err[300] = "";
            uint64_t p0 = clock_mono_ns();
            int ok = tcp_probe(cfg->storage_minio_endpoint, cfg->monitoring_health_check_timeout,
                               err, sizeof(err)) == 0;
            obs_dep_observe("storage", "connect", clock_mono_ns() - p0, ok);
            json_object_set_new(c, "reachable", json_boolean(ok));
            if (!ok) {
                json_object_set_new(c, "error", json_string(err));
                status = "unhealthy";
            }
        }
    }
    return finish(c, status, t0, t);
}

static json_t *check_features(cfgmon_t *m, tally_t *t)
{
    uint64_t t0 = clock_mono_ns();
    const config_t *cfg = m->cfg;
    int on = 0, off = 0;
#define X(NAME, field) (cfg->field ? on++ : off++);
    CFGMON_FEATURES(X)
#undef X
    json_t *warnings = json_array();
    if (cfg->feature_prometheus_metrics && !cfg->monitoring_metrics_enabled)
        json_array_append_new(warnings,
                              json_string("FEATURE_ENABLE_PROMETHEUS_METRICS is on but "
                                          "MONITORING_METRICS_ENABLED is off: no /metrics"));
    if (cfg->feature_s3_encryption && strcmp(cfg->storage_backend, "s3") != 0)
        json_array_append_new(warnings,
                              json_string("FEATURE_ENABLE_S3_ENCRYPTION has no effect with "
                                          "STORAGE_BACKEND=local"));
    if (cfg->auth_enabled && !cfg->feature_authorization)
        json_array_append_new(warnings, json_string("authentication without authorization: "
                                                    "every key may do everything"));
    json_t *c = json_pack("{s:i, s:i, s:o}", "enabled", on, "disabled", off, "warnings", warnings);
    return finish(c, json_array_size(warnings) ? "warning" : "healthy", t0, t);
}

static json_t *check_environment(cfgmon_t *m, tally_t *t)
{
    uint64_t t0 = clock_mono_ns();
    const config_t *cfg = m->cfg;
    json_t *warnings = json_array();
    if (!strcmp(cfg->environment, "production")) {
        if (!cfg->auth_enabled)
            json_array_append_new(warnings,
                                  json_string("production without FEATURE_ENABLE_AUTHENTICATION"));
        if (!strcmp(cfg->log_level, "DEBUG"))
            json_array_append_new(warnings, json_string("LOG_LEVEL=DEBUG in production"));
        if (!cfg->security_secret_key[0])
            json_array_append_new(warnings,
                                  json_string("SECURITY_SECRET_KEY unset: a random one per start"));
        if (!cfg->monitoring_openlineage_url[0])
            json_array_append_new(warnings,
                                  json_string("MONITORING_OPENLINEAGE_URL unset: lineage is kept "
                                              "locally only"));
        if (!strcmp(cfg->storage_backend, "s3") &&
            !strcmp(cfg->storage_minio_access_key, "minioadmin"))
            json_array_append_new(warnings,
                                  json_string("the default MinIO credentials are in use"));
        if (cfg->feature_cors && !strcmp(cfg->security_cors_origins, "*"))
            json_array_append_new(warnings, json_string("CORS allows every origin"));
        if (!cfg->use_postgres)
            json_array_append_new(warnings,
                                  json_string("the embedded SQLite catalog serves one replica "
                                              "only; set DB_POSTGRES_HOST"));
    }
    json_t *c = json_pack("{s:s, s:b, s:o}", "environment", cfg->environment, "debug", cfg->debug,
                          "warnings", warnings);
    return finish(c, json_array_size(warnings) ? "warning" : "healthy", t0, t);
}

json_t *cfgmon_check(cfgmon_t *m)
{
    uint64_t t0 = clock_mono_ns();
    double at = clock_wall();
    tally_t t = {0, 0, 0};
    char hash_now[17];
    json_t *checks = json_object();
    json_object_set_new(checks, "configuration", check_configuration(m, hash_now, &t));
    json_object_set_new(checks, "database", check_database(m, &t));
    json_object_set_new(checks, "storage", check_storage(m, &t));
    json_object_set_new(checks, "features", check_features(m, &t));
    json_object_set_new(checks, "environment", check_environment(m, &t));
    const char *overall = t.unhealthy ? "unhealthy" : t.warning ? "warning" : "healthy";
    json_t *r = json_pack("{s:s, s:f, s:f, s:b, s:s, s:s, s:o, s:{s:i, s:i, s:i, s:i}}",
                          "overall_status", overall, "check_time", at, "duration_seconds",
                          (double)(clock_mono_ns() - t0) / 1e9, "config_changed",
                          strcmp(hash_now, m->start_hash) != 0, "config_hash", hash_now,
                          "environment", m->cfg->environment, "checks", checks, "summary",
                          "total_checks", t.healthy + t.warning + t.unhealthy, "healthy_checks",
                          t.healthy, "warning_checks", t.warning, "unhealthy_checks", t.unhealthy);
    obs_gauge_set(m->g_status, t.unhealthy ? 2 : t.warning ? 1 : 0);
    pthread_mutex_lock(&m->lock);
    const char *before =
        m->last ? json_string_value(json_object_get(m->last, "overall_status")) : "healthy";
    int changed = before && strcmp(before, overall) != 0;
    json_decref(m->last);
    m->last = json_deep_copy(r);
    pthread_mutex_unlock(&m->lock);
    if (changed)
        log_msg(t.unhealthy || t.warning ? LOG_WARNING : LOG_INFO, "configuration health changed",
                "status", overall, (const char *)0);
    return r;
}

json_t *cfgmon_last(cfgmon_t *m)
{
    pthread_mutex_lock(&m->lock);
    json_t *r = m->last ? json_deep_copy(m->last) : NULL;
    pthread_mutex_unlock(&m->lock);
    return r;
}

/* ------------------------------------------------------------------------------ thread */

static void check_tick(void *arg)
{
    json_decref(cfgmon_check(arg));
}

cfgmon_t *cfgmon_start(const config_t *cfg, meta_t *meta, int export_metrics)
{
    cfgmon_t *m = calloc(1, sizeof(*m));
    if (!m) return NULL;
    m->cfg = cfg;
    m->meta = meta;
    pthread_mutex_init(&m->lock, NULL);
    if (RAND_bytes(m->salt, sizeof(m->salt)) != 1) {
        /* Without a random salt the hash could be used to guess a short secret. */
        for (size_t i = 0; i < sizeof(m->salt); i++)
            m->salt[i] = (unsigned char)(clock_mono_ns() >> (i % 8 * 8));
    }
    config_hash(m, cfg, m->start_hash);
    if (export_metrics)
        m->g_status = obs_series_get(
            obs_gauge_family("dlb_config_health_status",
                             "Configuration monitor: 0 healthy, 1 warning, 2 unhealthy", NULL),
            NULL);
    m->checker = periodic_start(cfg->monitoring_health_check_interval, 1, check_tick, m);
    if (!m->checker) {
        pthread_mutex_destroy(&m->lock);
        free(m);
        return NULL;
    }
    return m;
}

void cfgmon_stop(cfgmon_t *m)
{
    if (!m) return;
    periodic_stop(m->checker);
    json_decref(m->last);
    pthread_mutex_destroy(&m->lock);
    free(m);
}
