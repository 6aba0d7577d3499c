/* Unit tests of config_load: defaults, validation messages, sizes, lists, ENV_FILE and the
 * masked summary. Every test starts from an environment without any configuration variable
 * and with ENV_FILE=/nonexistent, so neither the developer's shell nor a stray .env leaks in. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "config.h"
#include "util/strlist.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const all_names[] = {
#define X(kind, NAME, field, def, allowed, min, max, flags, desc) #NAME,
    CONFIG_VARS(X)
#undef X
};
#define NNAMES (sizeof(all_names) / sizeof(all_names[0]))

static char g_tmp_env[64];

static void clean_env(void)
{
    for (size_t i = 0; i < NNAMES; i++)
        unsetenv(all_names[i]);
}

static int setup(void **state)
{
    (void)state;
    clean_env();
    setenv("ENV_FILE", "/nonexistent", 1);
    g_tmp_env[0] = 0;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    clean_env();
    unsetenv("ENV_FILE");
    if (g_tmp_env[0]) unlink(g_tmp_env);
    g_tmp_env[0] = 0;
    return 0;
}

static char g_err[8192];

static int load(config_t *cfg)
{
    memset(g_err, 'X', sizeof(g_err)); /* config_load must clear it */
    return config_load(cfg, g_err, sizeof(g_err));
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void test_defaults(void **state)
{
    (void)state;
    config_t c;
    assert_int_equal(load(&c), 0);
    assert_string_equal(g_err, "");
    assert_int_equal(c.port, 8000);
    assert_string_equal(c.host, "127.0.0.1");
    assert_string_equal(c.data_dir, "./data");
    assert_string_equal(c.environment, "development");
    assert_string_equal(c.log_level, "INFO");
    assert_int_equal(c.debug, 0);
    assert_int_equal(c.use_postgres, 0);
    assert_string_equal(c.db_postgres_host, "");
    assert_int_equal(c.auth_enabled, 0);
    assert_int_equal(c.snapshot_id, -1);
    assert_int_equal(c.db_duckdb_threads, 0); /* one per core */
    assert_int_equal(c.storage_max_file_size, 104857600LL);
    assert_int_equal(c.http_max_body_size, 10485760LL);
    assert_true(c.db_ducklake_connection_retry_delay > 1.99 &&
                c.db_ducklake_connection_retry_delay < 2.01);
    assert_true(c.http_threads_eff >= 1);
    config_free(&c);
    assert_null(c.host);
}

static void test_auth_default_by_environment(void **state)
{
    (void)state;
    config_t c;
    setenv("ENVIRONMENT", "production", 1);
    assert_int_equal(load(&c), 0);
    assert_string_equal(c.environment, "production");
    assert_int_equal(c.auth_enabled, 1);
    config_free(&c);

    setenv("ENVIRONMENT", "staging", 1);
    assert_int_equal(load(&c), 0);
    assert_int_equal(c.auth_enabled, 0);
    config_free(&c);

    /* An explicit value wins over the environment's default, both ways. */
    setenv("ENVIRONMENT", "production", 1);
    setenv("FEATURE_ENABLE_AUTHENTICATION", "false", 1);
    assert_int_equal(load(&c), 0);
    assert_int_equal(c.auth_enabled, 0);
    config_free(&c);
    setenv("ENVIRONMENT", "development", 1);
    setenv("FEATURE_ENABLE_AUTHENTICATION", "true", 1);
    assert_int_equal(load(&c), 0);
    assert_int_equal(c.auth_enabled, 1);
    config_free(&c);

    setenv("FEATURE_ENABLE_AUTHENTICATION", "sometimes", 1);
    assert_int_equal(load(&c), -1);
    assert_non_null(strstr(g_err, "FEATURE_ENABLE_AUTHENTICATION=sometimes"));
    config_free(&c);
}

/* Sets NAME=VALUE pairs (NULL-terminated), loads, expects a refusal whose message contains
 * every string of want (NULL-terminated) and is exactly `lines` lines long. */
static void expect_refused(const char *const *pairs, const char *const *want, int lines)
{
    for (int i = 0; pairs[i]; i += 2)
        setenv(pairs[i], pairs[i + 1], 1);
    config_t c;
    int rc = load(&c);
    config_free(&c);
    for (int i = 0; pairs[i]; i += 2)
        unsetenv(pairs[i]);
    if (rc != -1) fail_msg("accepted %s=%s", pairs[0], pairs[1]);
    for (int i = 0; want[i]; i++)
        if (!strstr(g_err, want[i]))
            fail_msg("message for %s=%s lacks \"%s\": %s", pairs[0], pairs[1], want[i], g_err);
    if (count_lines(g_err) != lines)
        fail_msg("expected %d message line(s) for %s=%s: %s", lines, pairs[0], pairs[1], g_err);
}

#define PAIRS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_invalid_values(void **state)
{
    (void)state;
    expect_refused(PAIRS("PORT", "abc"), PAIRS("PORT=abc", "65535"), 1);
    expect_refused(PAIRS("PORT", "70000"), PAIRS("PORT=70000", "65535"), 1);
    expect_refused(PAIRS("PORT", "0"), PAIRS("PORT=0"), 1);
    expect_refused(PAIRS("PORT", "80x"), PAIRS("PORT=80x"), 1);
    expect_refused(PAIRS("PORT", ""), PAIRS("PORT="), 1);
    expect_refused(PAIRS("LOG_LEVEL", "LOUD"), PAIRS("LOG_LEVEL=LOUD", "DEBUG"), 1);
    expect_refused(PAIRS("DB_DUCKDB_THREADS", "99"), PAIRS("DB_DUCKDB_THREADS=99", "32"), 1);
    expect_refused(PAIRS("DEBUG", "maybe"), PAIRS("DEBUG=maybe"), 1);
    expect_refused(PAIRS("STORAGE_MAX_FILE_SIZE", "12"), PAIRS("STORAGE_MAX_FILE_SIZE=12", "1024"),
                   1);
    expect_refused(PAIRS("STORAGE_MAX_FILE_SIZE", "10X"), PAIRS("STORAGE_MAX_FILE_SIZE=10X"), 1);
    expect_refused(PAIRS("STORAGE_MAX_FILE_SIZE", "-5M"), PAIRS("STORAGE_MAX_FILE_SIZE=-5M"), 1);
    expect_refused(PAIRS("SHUTDOWN_GRACE_PERIOD", "601"), PAIRS("SHUTDOWN_GRACE_PERIOD=601"), 1);
    expect_refused(PAIRS("DB_DUCKDB_MEMORY_LIMIT", "0%"), PAIRS("DB_DUCKDB_MEMORY_LIMIT=0%"), 1);
    expect_refused(PAIRS("HOST", ""), PAIRS("HOST="), 1);
    expect_refused(
        PAIRS("DB_DUCKLAKE_SNAPSHOT_VERSION", "1", "DB_DUCKLAKE_SNAPSHOT_TIME",
              "2026-01-31T12:00:00Z"),
        PAIRS("DB_DUCKLAKE_SNAPSHOT_TIME=2026-01-31T12:00:00Z", "DB_DUCKLAKE_SNAPSHOT_VERSION"), 1);
    expect_refused(PAIRS("DB_DUCKLAKE_SNAPSHOT_VERSION", "abc"),
                   PAIRS("DB_DUCKLAKE_SNAPSHOT_VERSION=abc"), 1);
    expect_refused(PAIRS("ENVIRONMENT", "production", "DEBUG", "true"),
                   PAIRS("DEBUG=true", "production"), 1);
    /* Two bad variables: two messages, each naming its own. */
    expect_refused(PAIRS("PORT", "abc", "DEBUG", "maybe"), PAIRS("PORT=abc", "DEBUG=maybe"), 2);
}

/* Each value alone is fine; the snapshot pin alone is accepted and parsed. */
static void test_snapshot_alone(void **state)
{
    (void)state;
    config_t c;
    setenv("DB_DUCKLAKE_SNAPSHOT_VERSION", "17", 1);
    assert_int_equal(load(&c), 0);
    assert_int_equal(c.snapshot_id, 17);
    config_free(&c);
    unsetenv("DB_DUCKLAKE_SNAPSHOT_VERSION");
    setenv("DB_DUCKLAKE_SNAPSHOT_TIME", "2026-01-31T12:00:00Z", 1);
    assert_int_equal(load(&c), 0);
    assert_int_equal(c.snapshot_id, -1);
    assert_string_equal(c.db_ducklake_snapshot_time, "2026-01-31T12:00:00Z");
    config_free(&c);
}

/* The header promises a message naming the variable *and its value* for every bad variable;
 * the rules tying two variables together must say which value was refused. */
static void test_min_above_max_names_value(void **state)
{
    (void)state;
    setenv("DB_POSTGRES_MAX_CONNECTIONS", "10", 1);
    config_t c;
    setenv("DB_POSTGRES_MIN_CONNECTIONS", "10", 1);
    assert_int_equal(load(&c), 0); /* equal is fine */
    config_free(&c);
    expect_refused(PAIRS("DB_POSTGRES_MIN_CONNECTIONS", "20", "DB_POSTGRES_MAX_CONNECTIONS", "10"),
                   PAIRS("DB_POSTGRES_MIN_CONNECTIONS=20", "DB_POSTGRES_MAX_CONNECTIONS"), 1);
}

static void test_memory_thresholds_name_value(void **state)
{
    (void)state;
    expect_refused(
        PAIRS("MONITORING_MEMORY_THRESHOLD_WARNING", "0.9", "MONITORING_MEMORY_THRESHOLD_CRITICAL",
              "0.85"),
        PAIRS("MONITORING_MEMORY_THRESHOLD_WARNING=0.9", "MONITORING_MEMORY_THRESHOLD_CRITICAL"),
        1);
}

static void test_secret_never_echoed(void **state)
{
    (void)state;
    const char *pw = "Sup3r-Secret-Pw";
    setenv("DB_POSTGRES_PASSWORD", pw, 1);
    setenv("PORT", "abc", 1);
    setenv("DEBUG", "maybe", 1);
    config_t c;
    assert_int_equal(load(&c), -1);
    assert_non_null(strstr(g_err, "PORT=abc"));
    assert_null(strstr(g_err, pw));
    assert_null(strstr(g_err, "Secret"));
    /* The value itself was kept for the program. */
    assert_string_equal(c.db_postgres_password, pw);
    config_free(&c);

    /* A secret that is itself invalid (empty where required) is named, its value masked. */
    unsetenv("PORT");
    unsetenv("DEBUG");
    setenv("STORAGE_MINIO_SECRET_KEY", "", 1);
    assert_int_equal(load(&c), -1);
    assert_non_null(strstr(g_err, "STORAGE_MINIO_SECRET_KEY=***"));
    assert_null(strstr(g_err, pw));
    config_free(&c);
}

static void test_sizes(void **state)
{
    (void)state;
    static const struct {
        const char *var, *value;
        long long want;
    } cases[] = {
        {"STORAGE_MAX_FILE_SIZE", "10M", 10LL * 1024 * 1024},
        {"STORAGE_MAX_FILE_SIZE", "1GiB", 1024LL * 1024 * 1024},
        {"STORAGE_MAX_FILE_SIZE", "2KB", 2048},
        {"STORAGE_MAX_FILE_SIZE", "3k", 3072},
        {"STORAGE_MAX_FILE_SIZE", "1.5M", 1572864},
        {"STORAGE_MAX_FILE_SIZE", "5000", 5000},
        {"STORAGE_MAX_FILE_SIZE", "2T", 2LL * 1024 * 1024 * 1024 * 1024},
        {"HTTP_MAX_BODY_SIZE", "1024", 1024},
        {"HTTP_MAX_BODY_SIZE", "1K", 1024},
        {"HTTP_GZIP_MIN_SIZE", "0", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        setenv(cases[i].var, cases[i].value, 1);
        config_t c;
        if (load(&c) != 0) fail_msg("%s=%s refused: %s", cases[i].var, cases[i].value, g_err);
        long long got = strcmp(cases[i].var, "STORAGE_MAX_FILE_SIZE") == 0 ? c.storage_max_file_size
                        : strcmp(cases[i].var, "HTTP_MAX_BODY_SIZE") == 0  ? c.http_max_body_size
                                                                           : c.http_gzip_min_size;
        if (got != cases[i].want)
            fail_msg("%s=%s gave %lld, want %lld", cases[i].var, cases[i].value, got,
                     cases[i].want);
        config_free(&c);
        unsetenv(cases[i].var);
    }
    /* 1023 bytes is below HTTP_MAX_BODY_SIZE's minimum. */
    expect_refused(PAIRS("HTTP_MAX_BODY_SIZE", "1023"), PAIRS("HTTP_MAX_BODY_SIZE=1023"), 1);
    expect_refused(PAIRS("HTTP_MAX_BODY_SIZE", "10MM"), PAIRS("HTTP_MAX_BODY_SIZE=10MM"), 1);
}

/* Items of a LIST value, via the same splitter the server uses. */
static void check_list(const char *value, const char *const *want, int nwant)
{
    setenv("STORAGE_ALLOWED_EXTENSIONS", value, 1);
    config_t c;
    if (load(&c) != 0) fail_msg("list %s refused: %s", value, g_err);
    char *store;
    const char *items[16];
    int n = strlist_split(c.storage_allowed_extensions, &store, items, 16);
    if (n != nwant) fail_msg("list %s: %d items (%s)", value, n, c.storage_allowed_extensions);
    for (int i = 0; i < n; i++)
        assert_string_equal(items[i], want[i]);
    free(store);
    config_free(&c);
}

static void test_lists(void **state)
{
    (void)state;
    const char *const ab[] = {"a", "b"};
    check_list("[\"a\",\"b\"]", ab, 2);
    check_list("  [ \"a\" , \"b\" ]  ", ab, 2);
    check_list("a, b", ab, 2);
    check_list("a,b", ab, 2);
    const char *const one[] = {".parquet"};
    check_list("[\".parquet\"]", one, 1);
    check_list(".parquet", one, 1);
    /* The default. */
    const char *const defs[] = {".parquet", ".csv", ".json", ".txt", ".log"};
    unsetenv("STORAGE_ALLOWED_EXTENSIONS");
    config_t c;
    assert_int_equal(load(&c), 0);
    assert_true(strlist_contains(c.storage_allowed_extensions, ".csv"));
    config_free(&c);
    check_list(".parquet,.csv,.json,.txt,.log", defs, 5);

    expect_refused(PAIRS("STORAGE_ALLOWED_EXTENSIONS", "[\"a\", 1]"),
                   PAIRS("STORAGE_ALLOWED_EXTENSIONS=[\"a\", 1]"), 1);
    expect_refused(PAIRS("STORAGE_ALLOWED_EXTENSIONS", "[\"a\""),
                   PAIRS("STORAGE_ALLOWED_EXTENSIONS=[\"a\""), 1);
    /* An item holding a comma would split into two. */
    expect_refused(PAIRS("STORAGE_ALLOWED_EXTENSIONS", "[\"a,b\"]"),
                   PAIRS("STORAGE_ALLOWED_EXTENSIONS"), 1);
}

static void test_case_insensitive_enums(void **state)
{
    (void)state;
    config_t c;
    setenv("LOG_LEVEL", "debug", 1);
    assert_int_equal(load(&c), 0);
    assert_string_equal(c.log_level, "DEBUG");
    config_free(&c);
    setenv("LOG_LEVEL", "Warning", 1);
    setenv("ENVIRONMENT", "PRODUCTION", 1);
    setenv("DEBUG", "FALSE", 1);
    assert_int_equal(load(&c), 0);
    assert_string_equal(c.log_level, "WARNING");
    assert_string_equal(c.environment, "production");
    assert_int_equal(c.auth_enabled, 1);
    config_free(&c);
    /* Booleans take the usual spellings. */
    const char *truthy[] = {"true", "1", "yes", "on", "TRUE", "On"};
    for (size_t i = 0; i < sizeof(truthy) / sizeof(truthy[0]); i++) {
        unsetenv("ENVIRONMENT");
        setenv("DEBUG", truthy[i], 1);
        assert_int_equal(load(&c), 0);
        assert_int_equal(c.debug, 1);
        config_free(&c);
    }
    setenv("DEBUG", "off", 1);
    assert_int_equal(load(&c), 0);
    assert_int_equal(c.debug, 0);
    config_free(&c);
}

static void write_env_file(const char *text)
{
    snprintf(g_tmp_env, sizeof(g_tmp_env), "/tmp/dlb-test-env.XXXXXX");
    int fd = mkstemp(g_tmp_env);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
    setenv("ENV_FILE", g_tmp_env, 1);
}

static void test_env_file(void **state)
{
    (void)state;
    write_env_file("# a comment\n"
                   "\n"
                   "PORT=9001\n"
                   "HOST=0.0.0.0\n"
                   "export APP_NAME=\"Quoted Name\"\n"
                   "  DATA_DIR = '/srv/lake data'  \n"
                   "LOG_LEVEL=error\n");
    setenv("HOST", "10.1.2.3", 1);     /* the environment wins */
    setenv("LOG_LEVEL", "WARNING", 1); /* also for enums */
    config_t c;
    if (load(&c) != 0) fail_msg("%s", g_err);
    assert_int_equal(c.port, 9001);
    assert_string_equal(c.host, "10.1.2.3");
    assert_string_equal(c.app_name, "Quoted Name");
    assert_string_equal(c.data_dir, "/srv/lake data");
    assert_string_equal(c.log_level, "WARNING");
    config_free(&c);

    /* Without the environment's values the file's apply. */
    unsetenv("HOST");
    unsetenv("LOG_LEVEL");
    assert_int_equal(load(&c), 0);
    assert_string_equal(c.host, "0.0.0.0");
    assert_string_equal(c.log_level, "ERROR");
    config_free(&c);

    /* The file is read again on each load (nothing cached from the previous one). */
    unlink(g_tmp_env);
    assert_int_equal(load(&c), 0);
    assert_int_equal(c.port, 8000);
    assert_string_equal(c.host, "127.0.0.1");
    config_free(&c);
}

static void test_env_file_invalid_value(void **state)
{
    (void)state;
    write_env_file("PORT=99999\n");
    config_t c;
    assert_int_equal(load(&c), -1);
    assert_non_null(strstr(g_err, "PORT=99999"));
    config_free(&c);
    /* An environment value hides the file's bad one. */
    setenv("PORT", "8080", 1);
    assert_int_equal(load(&c), 0);
    assert_int_equal(c.port, 8080);
    config_free(&c);
}

static void test_summary_masks_secrets(void **state)
{
    (void)state;
    setenv("DB_POSTGRES_PASSWORD", "pw-value-123", 1);
    setenv("PORT", "8123", 1);
    config_t c;
    assert_int_equal(load(&c), 0);
    json_t *s = config_summary_json(&c);
    assert_non_null(s);
    assert_int_equal(json_object_size(s), NNAMES);
    for (size_t i = 0; i < NNAMES; i++)
        if (!json_object_get(s, all_names[i])) fail_msg("summary lacks %s", all_names[i]);

    assert_string_equal(json_string_value(json_object_get(s, "DB_POSTGRES_PASSWORD")), "***");
    /* Set by default: masked. Unset: null. */
    assert_string_equal(json_string_value(json_object_get(s, "STORAGE_MINIO_SECRET_KEY")), "***");
    assert_true(json_is_null(json_object_get(s, "SECURITY_JWT_SECRET")));
    assert_true(json_is_null(json_object_get(s, "MONITORING_OPENLINEAGE_API_KEY")));
    /* Ordinary values are shown as what they are. */
    assert_int_equal(json_integer_value(json_object_get(s, "PORT")), 8123);
    assert_string_equal(json_string_value(json_object_get(s, "HOST")), "127.0.0.1");
    assert_true(json_is_false(json_object_get(s, "DEBUG")));
    assert_true(json_is_null(json_object_get(s, "DB_POSTGRES_HOST")));
    assert_int_equal(json_integer_value(json_object_get(s, "STORAGE_MAX_FILE_SIZE")), 104857600);

    char *dump = json_dumps(s, JSON_COMPACT);
    assert_non_null(dump);
    assert_null(strstr(dump, "pw-value-123"));
    assert_null(strstr(dump, "minioadmin"));
    free(dump);
    json_decref(s);
    config_free(&c);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_defaults),
        T(test_auth_default_by_environment),
        T(test_invalid_values),
        T(test_snapshot_alone),
        T(test_min_above_max_names_value),
        T(test_memory_thresholds_name_value),
        T(test_secret_never_echoed),
        T(test_sizes),
        T(test_lists),
        T(test_case_insensitive_enums),
        T(test_env_file),
        T(test_env_file_invalid_value),
        T(test_summary_masks_secrets),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
