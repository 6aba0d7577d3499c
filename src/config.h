/* Configuration: every environment variable, its default and its rule, in one table.
 * Values come from the environment, then from ENV_FILE (default ".env") for names the
 * environment does not set. Every value is validated once at start. */
#ifndef DLB_CONFIG_H
#define DLB_CONFIG_H

#include <stddef.h>

struct json_t;

#define CFG_SECRET   1 /* never printed, masked in logs */
#define CFG_OPTIONAL 2 /* may be unset (empty) */

/* X(kind, NAME, field, default, allowed, min, max, flags, description)
 * kind: STR, ENUM (allowed = "a|b|c"), BOOL, INT, DBL, LIST (JSON array or comma list),
 * SIZE (bytes, accepts K/M/G suffixes), PCT (DuckDB memory: "75%" or "4GB"). */
#define CONFIG_VARS(X)                                                                             \
    X(ENUM, ENVIRONMENT, environment, "development", "development|staging|production|testing", 0,  \
      0, 0, "Deployment environment; production turns authentication on by default")               \
    X(BOOL, DEBUG, debug, "false", NULL, 0, 0, 0, "Debug mode (must be false in production)")      \
    X(ENUM, LOG_LEVEL, log_level, "INFO", "DEBUG|INFO|WARNING|ERROR|CRITICAL", 0, 0, 0,            \
      "Lowest level logged")                                                                       \
    X(BOOL, LOG_ACCESS, log_access, "true", NULL, 0, 0, 0, "One access log line per request")      \
    X(STR, HOST, host, "127.0.0.1", NULL, 0, 0, 0, "Listen address")                               \
    X(INT, PORT, port, "8000", NULL, 1, 65535, 0, "Listen port")                                   \
    X(BOOL, RELOAD, reload, "false", NULL, 0, 0, 0, "Accepted for compatibility; no effect")       \
    X(INT, WORKERS, workers, "1", NULL, 1, 16, 0,                                                  \
      "Accepted for compatibility (uvicorn processes); see HTTP_THREADS")                          \
    X(STR, APP_NAME, app_name, "DuckLake API", NULL, 0, 0, 0, "Service name shown by GET /")       \
    X(STR, APP_VERSION, app_version, DLB_VERSION, NULL, 0, 0, 0, "Version shown by GET /")         \
    X(STR, APP_DESCRIPTION, app_description,                                                       \
      "DuckLake data platform: lake tables, object storage, OpenLineage and live events", NULL, 0, \
      0, 0, "Description shown by GET /")                                                          \
    X(STR, DATA_DIR, data_dir, "./data", NULL, 0, 0, 0,                                            \
      "Directory for the embedded catalog, lake files, objects and cache")                         \
    X(INT, HTTP_THREADS, http_threads, "0", NULL, 0, 64, 0,                                        \
      "HTTP event-loop threads (0 = one per core)")                                                \
    X(INT, WORKER_THREADS, worker_threads, "8", NULL, 1, 256, 0,                                   \
      "Worker threads for database, storage and network work")                                     \
    X(INT, WORKER_QUEUE_SIZE, worker_queue_size, "256", NULL, 1, 100000, 0,                        \
      "Jobs that may wait for a worker; beyond it requests get 503")                               \
    X(SIZE, HTTP_MAX_BODY_SIZE, http_max_body_size, "10485760", NULL, 1024, 0, 0,                  \
      "Largest JSON request body in bytes (uploads use STORAGE_MAX_FILE_SIZE)")                    \
    X(INT, HTTP_MAX_CONNECTIONS, http_max_connections, "10000", NULL, 1, 1000000, 0,               \
      "Concurrent connections in total")                                                           \
    X(INT, HTTP_MAX_CONNECTIONS_PER_IP, http_max_connections_per_ip, "0", NULL, 0, 1000000, 0,     \
      "Concurrent connections per client address (0 = no limit)")                                  \
    X(INT, HTTP_CONNECTION_TIMEOUT, http_connection_timeout, "60", NULL, 1, 3600, 0,               \
      "Seconds an idle or stalled connection is kept")                                             \
    X(SIZE, HTTP_GZIP_MIN_SIZE, http_gzip_min_size, "1024", NULL, 0, 0, 0,                         \
      "JSON responses at least this large are gzipped when the client accepts it")                 \
    X(DBL, SHUTDOWN_GRACE_PERIOD, shutdown_grace_period, "10", NULL, 0, 600, 0,                    \
      "Seconds in-flight requests get to finish on SIGTERM")                                       \
    X(STR, DB_POSTGRES_HOST, db_postgres_host, "", NULL, 0, 0, CFG_OPTIONAL,                       \
      "PostgreSQL host; when set the catalog and metadata live in PostgreSQL")                     \
    X(INT, DB_POSTGRES_PORT, db_postgres_port, "5432", NULL, 1, 65535, 0, "PostgreSQL port")       \
    X(STR, DB_POSTGRES_DB, db_postgres_db, "ducklakedb", NULL, 0, 0, 0, "PostgreSQL database")     \
    X(STR, DB_POSTGRES_USER, db_postgres_user, "postgres", NULL, 0, 0, 0, "PostgreSQL user")       \
    X(STR, DB_POSTGRES_PASSWORD, db_postgres_password, "", NULL, 0, 0, CFG_SECRET | CFG_OPTIONAL,  \
      "PostgreSQL password")                                                                       \
    X(STR, DB_POSTGRES_SCHEMA, db_postgres_schema, "public", NULL, 0, 0, 0,                        \
      "PostgreSQL schema for the server's own tables")                                             \
    X(ENUM, DB_POSTGRES_SSLMODE, db_postgres_sslmode, "prefer",                                    \
      "disable|allow|prefer|require|verify-ca|verify-full", 0, 0, 0, "libpq sslmode")              \
    X(INT, DB_POSTGRES_MIN_CONNECTIONS, db_postgres_min_connections, "2", NULL, 1, 50, 0,          \
      "PostgreSQL connections opened at start")                                                    \
    X(INT, DB_POSTGRES_MAX_CONNECTIONS, db_postgres_max_connections, "10", NULL, 1, 100, 0,        \
      "PostgreSQL connections at most")                                                            \
    X(DBL, DB_POSTGRES_CONNECTION_TIMEOUT, db_postgres_connection_timeout, "30", NULL, 1, 300, 0,  \
      "Seconds to establish a PostgreSQL connection")                                              \
    X(DBL, DB_POSTGRES_COMMAND_TIMEOUT, db_postgres_command_timeout, "60", NULL, 1, 3600, 0,       \
      "Seconds a metadata statement may run")                                                      \
    X(PCT, DB_DUCKDB_MEMORY_LIMIT, db_duckdb_memory_limit, "75%", NULL, 0, 0, 0,                   \
      "DuckDB memory limit: a share of RAM (75%) or a size (4GB)")                                 \
    X(INT, DB_DUCKDB_THREADS, db_duckdb_threads, "0", NULL, 0, 32, 0,                              \
      "DuckDB threads (0 = one per core; more threads than cores slow small queries down)")        \
    X(BOOL, DB_DUCKDB_ENABLE_OPTIMIZER, db_duckdb_enable_optimizer, "true", NULL, 0, 0, 0,         \
      "DuckDB query optimizer")                                                                    \
    X(STR, DB_DUCKLAKE_METADATA_SCHEMA, db_ducklake_metadata_schema, "main", NULL, 0, 0, 0,        \
      "Schema of the DuckLake catalog tables (PostgreSQL; 'main' means the connection default)")   \
    X(STR, DB_DUCKLAKE_METADATA_CATALOG, db_ducklake_metadata_catalog, "ducklake_metadata", NULL,  \
      0, 0, 0, "Name of the attached catalog")                                                     \
    X(BOOL, DB_DUCKLAKE_ENCRYPTED, db_ducklake_encrypted, "false", NULL, 0, 0, 0,                  \
      "Encrypt lake Parquet files")                                                                \
    X(INT, DB_DUCKLAKE_DATA_INLINING_ROW_LIMIT, db_ducklake_data_inlining_row_limit, "0", NULL, 0, \
      10000, 0, "Appends of at most this many rows are inlined in the catalog")                    \
    X(STR, DB_DUCKLAKE_SNAPSHOT_VERSION, db_ducklake_snapshot_version, "", NULL, 0, 0,             \
      CFG_OPTIONAL, "Pin reads to this snapshot id (read-only)")                                   \
    X(STR, DB_DUCKLAKE_SNAPSHOT_TIME, db_ducklake_snapshot_time, "", NULL, 0, 0, CFG_OPTIONAL,     \
      "Pin reads to the snapshot current at this ISO time (read-only)")                            \
    X(BOOL, DB_DUCKLAKE_READ_ONLY, db_ducklake_read_only, "false", NULL, 0, 0, 0,                  \
      "Refuse every write to the lake")                                                            \
    X(INT, DB_DUCKLAKE_CONNECTION_RETRIES, db_ducklake_connection_retries, "3", NULL, 1, 10, 0,    \
      "Attempts to open the catalog database")                                                     \
    X(DBL, DB_DUCKLAKE_CONNECTION_RETRY_DELAY, db_ducklake_connection_retry_delay, "2.0", NULL,    \
      0.1, 10, 0, "Seconds between attempts")                                                      \
    X(DBL, DB_DUCKLAKE_CONNECTION_TIMEOUT, db_ducklake_connection_timeout, "30", NULL, 5, 300, 0,  \
      "Seconds one attempt may take")                                                              \
    X(ENUM, STORAGE_BACKEND, storage_backend, "local", "local|s3", 0, 0, 0,                        \
      "Object store: local directory under DATA_DIR or S3/MinIO")                                  \
    X(STR, STORAGE_MINIO_ENDPOINT, storage_minio_endpoint, "localhost:9000", NULL, 0, 0, 0,        \
      "S3/MinIO endpoint host:port")                                                               \
    X(STR, STORAGE_MINIO_ACCESS_KEY, storage_minio_access_key, "minioadmin", NULL, 0, 0,           \
      CFG_SECRET, "S3 access key id")                                                              \
    X(STR, STORAGE_MINIO_SECRET_KEY, storage_minio_secret_key, "minioadmin", NULL, 0, 0,           \
      CFG_SECRET, "S3 secret key")                                                                 \
    X(BOOL, STORAGE_MINIO_SECURE, storage_minio_secure, "false", NULL, 0, 0, 0,                    \
      "Use HTTPS (with certificate verification) for S3")                                          \
    X(STR, STORAGE_MINIO_REGION, storage_minio_region, "us-east-1", NULL, 0, 0, 0, "S3 region")    \
    X(STR, STORAGE_DEFAULT_BUCKET, storage_default_bucket, "ducklake-data", NULL, 0, 0, 0,         \
      "Bucket holding the lake's data files")                                                      \
    X(STR, STORAGE_BACKUP_BUCKET, storage_backup_bucket, "", NULL, 0, 0, CFG_OPTIONAL,             \
      "Backup bucket")                                                                             \
    X(STR, STORAGE_TEMP_BUCKET, storage_temp_bucket, "ducklake-temp", NULL, 0, 0, 0,               \
      "Bucket for temporary objects")                                                              \
    X(SIZE, STORAGE_MAX_FILE_SIZE, storage_max_file_size, "104857600", NULL, 1024, 0, 0,           \
      "Largest upload in bytes")                                                                   \
    X(LIST, STORAGE_ALLOWED_EXTENSIONS, storage_allowed_extensions,                                \
      ".parquet,.csv,.json,.txt,.log", NULL, 0, 0, 0, "Upload extensions accepted")                \
    X(DBL, STORAGE_UPLOAD_TIMEOUT, storage_upload_timeout, "300", NULL, 10, 3600, 0,               \
      "Seconds an upload may take")                                                                \
    X(SIZE, STORAGE_MULTIPART_THRESHOLD, storage_multipart_threshold, "8388608", NULL, 1048576, 0, \
      0, "Uploads above this size use S3 multipart")                                               \
    X(INT, STORAGE_MAX_CONCURRENCY, storage_max_concurrency, "10", NULL, 1, 50, 0,                 \
      "Parallel S3 transfers")                                                                     \
    X(SIZE, STORAGE_CACHE_MAX_BYTES, storage_cache_max_bytes, "1073741824", NULL, 0, 0, 0,         \
      "Byte budget of the local cache of lake files read from S3")                                 \
    X(STR, MONITORING_OPENLINEAGE_URL, monitoring_openlineage_url, "", NULL, 0, 0, CFG_OPTIONAL,   \
      "OpenLineage collector to forward events to")                                                \
    X(STR, MONITORING_OPENLINEAGE_API_KEY, monitoring_openlineage_api_key, "", NULL, 0, 0,         \
      CFG_SECRET | CFG_OPTIONAL, "Bearer key for the collector")                                   \
    X(STR, MONITORING_OPENLINEAGE_NAMESPACE, monitoring_openlineage_namespace, "ducklake", NULL,   \
      0, 0, 0, "Default job namespace")                                                            \
    X(BOOL, MONITORING_METRICS_ENABLED, monitoring_metrics_enabled, "true", NULL, 0, 0, 0,         \
      "Collect metrics")                                                                           \
    X(STR, MONITORING_METRICS_PATH, monitoring_metrics_path, "/metrics", NULL, 0, 0, 0,            \
      "Path of the Prometheus exposition")                                                         \
    X(STR, MONITORING_METRICS_PORT, monitoring_metrics_port, "", NULL, 0, 0, CFG_OPTIONAL,         \
      "Separate metrics port (1024-65535); unset serves metrics on PORT")                          \
    X(DBL, MONITORING_HEALTH_CHECK_TIMEOUT, monitoring_health_check_timeout, "10", NULL, 1, 60, 0, \
      "Seconds a health check may take")                                                           \
    X(DBL, MONITORING_HEALTH_CHECK_INTERVAL, monitoring_health_check_interval, "30", NULL, 5, 300, \
      0, "Seconds between configuration health checks")                                            \
    X(DBL, MONITORING_MEMORY_THRESHOLD_WARNING, monitoring_memory_threshold_warning, "0.8", NULL,  \
      0.1, 0.95, 0, "Memory share that raises a warning")                                          \
    X(DBL, MONITORING_MEMORY_THRESHOLD_CRITICAL, monitoring_memory_threshold_critical, "0.9",      \
      NULL, 0.1, 0.99, 0, "Memory share that is critical")                                         \
    X(DBL, MONITORING_MEMORY_CHECK_INTERVAL, monitoring_memory_check_interval, "5", NULL, 1, 60,   \
      0, "Seconds between memory samples")                                                         \
    X(DBL, MONITORING_SLOW_QUERY_THRESHOLD, monitoring_slow_query_threshold, "1.0", NULL, 0.1, 10, \
      0, "Seconds above which a query is logged as slow")                                          \
    X(DBL, MONITORING_REQUEST_TIMEOUT, monitoring_request_timeout, "30", NULL, 1, 300, 0,          \
      "Seconds a request (or query) may run before 504")                                           \
    X(INT, QUEUE_QUEUE_BATCH_SIZE, queue_batch_size, "10", NULL, 1, 100, 0,                        \
      "Lineage events delivered per batch")                                                        \
    X(INT, QUEUE_QUEUE_POLL_INTERVAL, queue_poll_interval, "5", NULL, 1, 60, 0,                    \
      "Seconds between outbox polls when idle")                                                    \
    X(INT, QUEUE_QUEUE_RETRY_ATTEMPTS, queue_retry_attempts, "3", NULL, 1, 10, 0,                  \
      "Delivery attempts before the dead-letter table")                                            \
    X(DBL, QUEUE_QUEUE_RETRY_DELAY, queue_retry_delay, "1.0", NULL, 0.1, 60, 0,                    \
      "First retry delay in seconds (doubles each attempt)")                                       \
    X(BOOL, QUEUE_DLQ_ENABLED, queue_dlq_enabled, "true", NULL, 0, 0, 0, "Keep dead letters")      \
    X(INT, QUEUE_DLQ_MAX_AGE, queue_dlq_max_age, "604800", NULL, 3600, 315360000, 0,               \
      "Seconds dead letters are kept")                                                             \
    X(INT, QUEUE_WORKER_COUNT, queue_worker_count, "2", NULL, 1, 10, 0, "Delivery workers")        \
    X(DBL, QUEUE_WORKER_TIMEOUT, queue_worker_timeout, "60", NULL, 10, 600, 0,                     \
      "Seconds one delivery may take")                                                             \
    X(ENUM, LINEAGE_VALIDATION, lineage_validation, "lenient", "lenient|strict", 0, 0, 0,          \
      "How strictly incoming OpenLineage events are checked")                                      \
    X(STR, SECURITY_API_KEY_HEADER, security_api_key_header, "X-API-Key", NULL, 0, 0, 0,           \
      "Header carrying an API key")                                                                \
    X(LIST, SECURITY_CORS_ORIGINS, security_cors_origins, "*", NULL, 0, 0, 0,                      \
      "Allowed CORS origins")                                                                      \
    X(LIST, SECURITY_CORS_METHODS, security_cors_methods, "GET,POST,PUT,DELETE,OPTIONS", NULL, 0,  \
      0, 0, "Allowed CORS methods")                                                                \
    X(LIST, SECURITY_CORS_HEADERS, security_cors_headers, "*", NULL, 0, 0, 0,                      \
      "Allowed CORS request headers")                                                              \
    X(INT, SECURITY_RATE_LIMIT_REQUESTS, security_rate_limit_requests, "100", NULL, 1, 10000000,   \
      0, "Requests per window per key or address")                                                 \
    X(INT, SECURITY_RATE_LIMIT_WINDOW, security_rate_limit_window, "60", NULL, 1, 86400, 0,        \
      "Rate limit window in seconds")                                                              \
    X(INT, SECURITY_RATE_LIMIT_BURST, security_rate_limit_burst, "150", NULL, 1, 10000000, 0,      \
      "Token bucket size")                                                                         \
    X(STR, SECURITY_SECRET_KEY, security_secret_key, "", NULL, 0, 0, CFG_SECRET | CFG_OPTIONAL,    \
      "Server secret (random per start when unset)")                                               \
    X(STR, SECURITY_JWT_SECRET, security_jwt_secret, "", NULL, 0, 0, CFG_SECRET | CFG_OPTIONAL,    \
      "JWT signing secret")                                                                        \
    X(STR, SECURITY_ENCRYPTION_KEY, security_encryption_key, "", NULL, 0, 0,                       \
      CFG_SECRET | CFG_OPTIONAL, "Data encryption key")                                            \
    X(STR, SECURITY_TLS_CERT_FILE, security_tls_cert_file, "", NULL, 0, 0, CFG_OPTIONAL,           \
      "PEM certificate: serve HTTPS")                                                              \
    X(STR, SECURITY_TLS_KEY_FILE, security_tls_key_file, "", NULL, 0, 0, CFG_OPTIONAL,             \
      "PEM private key for SECURITY_TLS_CERT_FILE")                                                \
    X(BOOL, SECURITY_METRICS_REQUIRE_AUTH, security_metrics_require_auth, "false", NULL, 0, 0, 0,  \
      "With authentication on, /metrics needs a reader key too")                                   \
    X(STR, SECURITY_AUDIT_LOG_FILE, security_audit_log_file, "", NULL, 0, 0, CFG_OPTIONAL,         \
      "File the audit trail is appended to (unset: audit lines go to stdout with the logs)")       \
    X(DBL, HTTP_HEADER_TIMEOUT, http_header_timeout, "15", NULL, 1, 3600, 0,                       \
      "Seconds a client may take to send a request's headers (slowloris guard)")                   \
    X(BOOL, FEATURE_ENABLE_ASYNC_PROCESSING, feature_async_processing, "true", NULL, 0, 0, 0,      \
      "Background lineage processing")                                                             \
    X(BOOL, FEATURE_ENABLE_BATCH_OPTIMIZATION, feature_batch_optimization, "true", NULL, 0, 0, 0,  \
      "Batch delivery")                                                                            \
    X(BOOL, FEATURE_ENABLE_MEMORY_MONITORING, feature_memory_monitoring, "true", NULL, 0, 0, 0,    \
      "Memory monitoring endpoints and sampler")                                                   \
    X(BOOL, FEATURE_ENABLE_PERFORMANCE_TRACKING, feature_performance_tracking, "true", NULL, 0, 0, \
      0, "Per-route latency tracking")                                                             \
    X(BOOL, FEATURE_ENABLE_RATE_LIMITING, feature_rate_limiting, "false", NULL, 0, 0, 0,           \
      "Token-bucket rate limiting")                                                                \
    X(BOOL, FEATURE_ENABLE_REQUEST_CACHING, feature_request_caching, "false", NULL, 0, 0, 0,       \
      "Accepted for compatibility")                                                                \
    X(BOOL, FEATURE_ENABLE_CORS, feature_cors, "true", NULL, 0, 0, 0, "CORS headers")              \
    X(BOOL, FEATURE_ENABLE_API_VERSIONING, feature_api_versioning, "false", NULL, 0, 0, 0,         \
      "Accepted for compatibility")                                                                \
    X(BOOL, FEATURE_ENABLE_PROMETHEUS_METRICS, feature_prometheus_metrics, "true", NULL, 0, 0, 0,  \
      "Prometheus exposition")                                                                     \
    X(BOOL, FEATURE_ENABLE_HEALTH_CHECKS, feature_health_checks, "true", NULL, 0, 0, 0,            \
      "Dependency checks in GET /health")                                                          \
    X(BOOL, FEATURE_ENABLE_ERROR_TRACKING, feature_error_tracking, "true", NULL, 0, 0, 0,          \
      "Error events")                                                                              \
    X(BOOL, FEATURE_ENABLE_DISTRIBUTED_TRACING, feature_distributed_tracing, "false", NULL, 0, 0,  \
      0, "Accepted for compatibility")                                                             \
    X(BOOL, FEATURE_ENABLE_S3_ENCRYPTION, feature_s3_encryption, "false", NULL, 0, 0, 0,           \
      "Server-side encryption on every object written")                                            \
    X(BOOL, FEATURE_ENABLE_DATA_COMPRESSION, feature_data_compression, "true", NULL, 0, 0, 0,      \
      "gzip for large responses")                                                                  \
    X(BOOL, FEATURE_ENABLE_BACKUP_AUTOMATION, feature_backup_automation, "false", NULL, 0, 0, 0,   \
      "Accepted for compatibility")                                                                \
    X(STR, FEATURE_ENABLE_AUTHENTICATION, feature_authentication, "", NULL, 0, 0, CFG_OPTIONAL,    \
      "API keys required (default: true in production, false elsewhere)")                          \
    X(BOOL, FEATURE_ENABLE_AUTHORIZATION, feature_authorization, "true", NULL, 0, 0, 0,            \
      "Role checks for authenticated keys")                                                        \
    X(BOOL, FEATURE_ENABLE_AUDIT_LOGGING, feature_audit_logging, "true", NULL, 0, 0, 0,            \
      "Audit line per state-changing request")                                                     \
    X(BOOL, FEATURE_ENABLE_INPUT_VALIDATION, feature_input_validation, "true", NULL, 0, 0, 0,      \
      "Accepted for compatibility; input is always validated")                                     \
    X(PCT, QUERY_MEMORY_LIMIT, query_memory_limit, "25%", NULL, 0, 0, 0,                           \
      "Memory of the sandboxed DuckDB that runs user queries, shared by all of them")              \
    X(SIZE, QUERY_MAX_TEMP_SIZE, query_max_temp_size, "0", NULL, 0, 0, 0,                          \
      "Disk user queries may spill to together (0: DuckDB's default, 90% of free space)")          \
    X(INT, QUERY_MAX_ROWS, query_max_rows, "0", NULL, 0, 1000000000000, 0,                         \
      "Rows a query answer may hold at most (0: no cap; a capped answer says so)")                 \
    X(INT, SSE_HISTORY_SIZE, sse_history_size, "1000", NULL, 1, 1000000, 0,                        \
      "Events kept for replay to clients reconnecting with Last-Event-ID")                         \
    X(INT, SSE_RETRY_MS, sse_retry_ms, "3000", NULL, 100, 600000, 0,                               \
      "Reconnection delay sent to event-stream clients (retry:), in milliseconds")                 \
    X(DBL, SSE_HEARTBEAT_INTERVAL, sse_heartbeat_interval, "15", NULL, 0, 3600, 0,                 \
      "Seconds of silence after which a client gets a heartbeat event (0: none)")                  \
    X(DBL, SSE_PING_INTERVAL, sse_ping_interval, "30", NULL, 0, 3600, 0,                           \
      "Seconds between ping events to each client (0: none); pong is optional")                    \
    X(INT, SSE_MAX_CLIENTS, sse_max_clients, "10000", NULL, 1, 1000000, 0,                         \
      "Event-stream clients at most; beyond it a new stream gets 429")                             \
    X(INT, SSE_MAX_CLIENTS_PER_IP, sse_max_clients_per_ip, "1000", NULL, 0, 1000000, 0,            \
      "Event-stream clients per client address (0: no limit); beyond it 429")                      \
    X(INT, SSE_CLIENT_QUEUE_EVENTS, sse_client_queue_events, "1000", NULL, 2, 1000000, 0,          \
      "Events waiting for one client; a client that falls further behind is dropped")              \
    X(SIZE, SSE_CLIENT_QUEUE_BYTES, sse_client_queue_bytes, "4M", NULL, 4096, 0, 0,                \
      "Bytes waiting for one client; a client that falls further behind is dropped")               \
    X(DBL, SSE_ZOMBIE_CHECK_INTERVAL, sse_zombie_check_interval, "10", NULL, 0.05, 3600, 0,        \
      "Seconds between zombie checks of every client")                                             \
    X(DBL, SSE_ZOMBIE_GRACE, sse_zombie_grace, "60", NULL, 0, 3600, 0,                             \
      "Seconds a zombie stays listed before it is disconnected (0: at once)")                      \
    X(INT, SSE_ZOMBIE_MAX_WRITE_ERRORS, sse_zombie_max_write_errors, "3", NULL, 0, 1000, 0,        \
      "Zombie after more consecutive checks than this in which the socket took nothing")           \
    X(INT, SSE_ZOMBIE_MAX_MISSED_PINGS, sse_zombie_max_missed_pings, "3", NULL, 0, 1000, 0,        \
      "Zombie after more missed pings than this (clients that pong, or whose socket stalls)")      \
    X(INT, SSE_ZOMBIE_QUEUE_FULL_COUNT, sse_zombie_queue_full_count, "10", NULL, 1, 1000000, 0,    \
      "Zombie after this many events found the client's queue half full or more")                  \
    X(DBL, SSE_ZOMBIE_INACTIVITY_TIMEOUT, sse_zombie_inactivity_timeout, "120", NULL, 0.1, 86400,  \
      0, "Zombie after this many seconds in which waiting bytes were not taken")                   \
    X(DBL, SSE_ZOMBIE_PONG_TIMEOUT, sse_zombie_pong_timeout, "90", NULL, 0.1, 86400, 0,            \
      "Zombie when a stalled client sent no pong this long after its first ping")                  \
    X(DBL, SSE_METRICS_INTERVAL, sse_metrics_interval, "5", NULL, 0, 3600, 0,                      \
      "Seconds between queue_status and system_metric events (0: no samplers)")                    \
    X(BOOL, SSE_REPLICA_FANOUT, sse_replica_fanout, "true", NULL, 0, 0, 0,                         \
      "With PostgreSQL, relay events to the replicas sharing DB_POSTGRES_SCHEMA (LISTEN/NOTIFY)")

#define CFG_T_STR  char *
#define CFG_T_ENUM char *
#define CFG_T_LIST char *
#define CFG_T_PCT  char *
#define CFG_T_BOOL int
#define CFG_T_INT  long
#define CFG_T_SIZE long long
#define CFG_T_DBL  double

typedef struct config {
#define X(kind, NAME, field, def, allowed, min, max, flags, desc) CFG_T_##kind field;
    CONFIG_VARS(X)
#undef X
    /* Derived values. */
    int use_postgres;      /* DB_POSTGRES_HOST is set */
    int auth_enabled;      /* FEATURE_ENABLE_AUTHENTICATION resolved */
    int http_threads_eff;  /* HTTP_THREADS resolved */
    long long snapshot_id; /* DB_DUCKLAKE_SNAPSHOT_VERSION or -1 */
} config_t;

/* Loads and validates. On failure returns -1 and writes one message per bad variable into
 * err (naming the variable, its value and what is allowed). getenv_fn may be NULL (getenv). */
int config_load(config_t *cfg, char *err, size_t errlen);
void config_free(config_t *cfg);

/* Registers every secret value with the logger so that no log line can carry it. */
void config_register_secrets(const config_t *cfg);

/* {"NAME": value, ...} with secrets masked ("***" when set, null when unset). */
struct json_t *config_summary_json(const config_t *cfg);
/* Prints the variables as a Markdown table (README) or as .env.example lines. */
void config_print_markdown(void);
void config_print_env_example(void);

#endif
