/* Configuration health monitor: a thread that checks, every MONITORING_HEALTH_CHECK_INTERVAL
 * seconds, that the configuration still validates (the environment and ENV_FILE read again)
 * and whether it changed since start (a restart is needed to apply it), that the metadata
 * database answers, that storage is reachable and has room, and what the feature flags and the
 * environment imply (production without authentication ...). GET /config/health runs a check
 * now; GET /config/health/last returns the monitor's last result. */
#ifndef DLB_OBS_CONFIG_MONITOR_H
#define DLB_OBS_CONFIG_MONITOR_H

/* Every FEATURE_ENABLE_* flag: X(NAME, config field). AUTHENTICATION is the resolved value
 * (the variable may be unset and then depends on ENVIRONMENT). */
#define CFGMON_FEATURES(X)                                                                         \
    X(ASYNC_PROCESSING, feature_async_processing)                                                  \
    X(BATCH_OPTIMIZATION, feature_batch_optimization)                                              \
    X(MEMORY_MONITORING, feature_memory_monitoring)                                                \
    X(PERFORMANCE_TRACKING, feature_performance_tracking)                                          \
    X(RATE_LIMITING, feature_rate_limiting)                                                        \
    X(REQUEST_CACHING, feature_request_caching)                                                    \
    X(CORS, feature_cors)                                                                          \
    X(API_VERSIONING, feature_api_versioning)                                                      \
    X(PROMETHEUS_METRICS, feature_prometheus_metrics)                                              \
    X(HEALTH_CHECKS, feature_health_checks)                                                        \
    X(ERROR_TRACKING, feature_error_tracking)                                                      \
    X(DISTRIBUTED_TRACING, feature_distributed_tracing)                                            \
    X(S3_ENCRYPTION, feature_s3_encryption)                                                        \
    X(DATA_COMPRESSION, feature_data_compression)                                                  \
    X(BACKUP_AUTOMATION, feature_backup_automation)                                                \
    X(AUTHENTICATION, auth_enabled)                                                                \
    X(AUTHORIZATION, feature_authorization)                                                        \
    X(AUDIT_LOGGING, feature_audit_logging)                                                        \
    X(INPUT_VALIDATION, feature_input_validation)

struct config;
struct meta;
struct json_t;
typedef struct cfgmon cfgmon_t;

/* The first check runs in the thread right away (start-up is not delayed). */
cfgmon_t *cfgmon_start(const struct config *cfg, struct meta *meta, int export_metrics);
void cfgmon_stop(cfgmon_t *m);
/* Runs every check now, keeps the result as the last one and returns it (caller owns):
 * {overall_status, check_time, duration_seconds, config_changed, config_hash, environment,
 *  checks: {configuration, database, storage, features, environment}, summary: {...}} */
struct json_t *cfgmon_check(cfgmon_t *m);
/* The last result (caller owns), NULL before the first check finished. */
struct json_t *cfgmon_last(cfgmon_t *m);

/* Loads the configuration again from the environment and ENV_FILE and validates it.
 * Returns a JSON array of error messages (empty when valid; caller owns); secrets never
 * appear in them. Serialised: config loading is not thread-safe. */
struct json_t *cfgmon_validate(void);

#endif
