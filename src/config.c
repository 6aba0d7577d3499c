#include "config.h"

#include "util/log.h"
#include "util/strlist.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

enum kind { K_STR, K_ENUM, K_BOOL, K_INT, K_DBL, K_LIST, K_SIZE, K_PCT };

typedef struct {
    enum kind kind;
    const char *name;
    size_t offset;
    const char *def;
    const char *allowed;
    double min, max;
    int flags;
    const char *desc;
} var_t;

#define K_OF_STR  K_STR
#define K_OF_ENUM K_ENUM
#define K_OF_BOOL K_BOOL
#define K_OF_INT  K_INT
#define K_OF_DBL  K_DBL
#define K_OF_LIST K_LIST
#define K_OF_SIZE K_SIZE
#define K_OF_PCT  K_PCT

static const var_t vars[] = {
#define X(kind, NAME, field, def, allowed, min, max, flags, desc)                                  \
    {K_OF_##kind, #NAME, offsetof(config_t, field), def, allowed, min, max, flags, desc},
    CONFIG_VARS(X)
#undef X
};
#define NVARS (sizeof(vars) / sizeof(vars[0]))

/* Values read from ENV_FILE, used only for names the environment leaves unset. */
typedef struct {
    char *name, *value;
} kv_t;

static kv_t *g_file;
static size_t g_nfile;

static void file_free(void)
{
    for (size_t i = 0; i < g_nfile; i++) {
        free(g_file[i].name);
        free(g_file[i].value);
    }
    free(g_file);
    g_file = NULL;
    g_nfile = 0;
}

static void file_load(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[4096];
    while (fgets(line, sizeof(line), f)) {
        char *s = str_trim(line);
        if (!*s || *s == '#') continue;
        if (strncmp(s, "export ", 7) == 0) s = str_trim(s + 7);
        char *eq = strchr(s, '=');
        if (!eq) continue;
        *eq = 0;
        char *k = str_trim(s), *v = str_trim(eq + 1);
        size_t vl = strlen(v);
        if (vl >= 2 && (v[0] == '"' || v[0] == '\'') && v[vl - 1] == v[0]) {
            v[vl - 1] = 0;
            v++;
        } else {
            char *hash = strstr(v, " #"); /* an inline comment after an unquoted value */
            if (hash) {
                *hash = 0;
                v = str_trim(v);
            }
        }
        kv_t *n = realloc(g_file, (g_nfile + 1) * sizeof(kv_t));
        if (!n) break;
        g_file = n;
        g_file[g_nfile].name = strdup(k);
        g_file[g_nfile].value = strdup(v);
        g_nfile++;
    }
    fclose(f);
}

static const char *lookup(const char *name)
{
    const char *v = getenv(name);
    if (v) return v;
    for (size_t i = g_nfile; i-- > 0;)
        if (strcasecmp(g_file[i].name, name) == 0) return g_file[i].value;
    return NULL;
}

static int parse_bool(const char *s, int *out)
{
    static const char *t[] = {"true", "1", "yes", "on"}, *f[] = {"false", "0", "no", "off"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, t[i]) == 0) return *out = 1, 0;
        if (strcasecmp(s, f[i]) == 0) return *out = 0, 0;
    }
    return -1;
}

/* Bytes with an optional K/M/G/T suffix (powers of 1024; "KB", "KiB" alike). */
static int parse_size(const char *s, long long *out)
{
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (end == s || errno || !isfinite(v) || v < 0) return -1;
    while (*end == ' ')
        end++;
    double mul = 1;
    switch (toupper((unsigned char)*end)) {
    case 0:
        break;
    case 'B':
        end++;
        break;
    case 'K':
        mul = 1024.0, end++;
        break;
    case 'M':
        mul = 1048576.0, end++;
        break;
    case 'G':
        mul = 1073741824.0, end++;
        break;
    case 'T':
        mul = 1099511627776.0, end++;
        break;
    default:
        return -1;
    }
    if (mul > 1) {
        if (toupper((unsigned char)*end) == 'I') end++;
        if (toupper((unsigned char)*end) == 'B') end++;
    }
    if (*end) return -1;
    v *= mul;
    if (v > 9.0e18) return -1;
    *out = (long long)v;
    return 0;
}

static int enum_match(const char *allowed, const char *s, char *canon, size_t canon_len)
{
    const char *p = allowed;
    while (*p) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (strlen(s) == n && strncasecmp(p, s, n) == 0) {
            snprintf(canon, canon_len, "%.*s", (int)n, p);
            return 0;
        }
        if (!bar) break;
        p = bar + 1;
    }
    return -1;
}

/* LIST values arrive as a JSON array (the seed's form) or as a comma list; both become a
 * comma list. Returns NULL when a JSON array is malformed or holds a non-string. */
static char *normalize_list(const char *s)
{
    const char *p = s;
    while (isspace((unsigned char)*p))
        p++;
    if (*p != '[') {
        char *copy = strdup(s);
        if (!copy) return NULL;
        char *out = strdup(str_trim(copy));
        free(copy);
        return out;
    }
    json_error_t jerr;
    json_t *arr = json_loads(p, 0, &jerr);
    if (!arr || !json_is_array(arr)) {
        json_decref(arr);
        return NULL;
    }
    size_t total = 1, i;
    json_t *it;
    json_array_foreach(arr, i, it)
    {
        if (!json_is_string(it) || strchr(json_string_value(it), ',')) {
            json_decref(arr);
            return NULL;
        }
        total += json_string_length(it) + 1;
    }
    char *out = calloc(1, total);
    if (out) {
        json_array_foreach(arr, i, it)
        {
            if (i) strcat(out, ",");
            strcat(out, json_string_value(it));
        }
    }
    json_decref(arr);
    return out;
}

static int parse_iso_time(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = strptime(s, "%Y-%m-%d", &tm);
    if (!end) return -1;
    if (*end == 'T' || *end == ' ') {
        end = strptime(end + 1, "%H:%M:%S", &tm);
        if (!end) return -1;
        if (*end == '.')
            for (end++; isdigit((unsigned char)*end); end++) {
            }
        if (*end == 'Z')
            end++;
        else if (*end == '+' || *end == '-') {
            end++;
            for (int i = 0; i < 5 && (isdigit((unsigned char)*end) || *end == ':'); i++)
                end++;
        }
    }
    return *end ? -1 : 0;
}

static void add_err(char *err, size_t errlen, const char *fmt, const char *name, const char *val,
                    const char *rule)
{
    size_t used = strlen(err);
    if (used + 1 >= errlen) return;
    snprintf(err + used, errlen - used, fmt, name, val, rule);
}

#define FIELD(cfg, v, type) ((type *)(void *)((char *)(cfg) + (v)->offset))

int config_load(config_t *cfg, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof(*cfg));
    err[0] = 0;
    const char *env_file = getenv("ENV_FILE");
    file_load(env_file && *env_file ? env_file : ".env");

    for (size_t i = 0; i < NVARS; i++) {
        const var_t *v = &vars[i];
        const char *raw = lookup(v->name);
        int from_default = raw == NULL;
        if (!raw) raw = v->def;
        char rule[256] = "";
        int bad = 0;
        /* Secrets are never echoed back, even in an error. */
        const char *shown = (v->flags & CFG_SECRET) ? "***" : raw;

        switch (v->kind) {
        case K_STR:
            if (!*raw && !(v->flags & CFG_OPTIONAL)) {
                bad = 1;
                snprintf(rule, sizeof(rule), "a non-empty value");
            }
            *FIELD(cfg, v, char *) = strdup(raw);
            break;
        case K_ENUM: {
            char canon[64];
            if (enum_match(v->allowed, raw, canon, sizeof(canon))) {
                bad = 1;
                snprintf(rule, sizeof(rule), "one of %s", v->allowed);
                snprintf(canon, sizeof(canon), "%s", v->def);
                enum_match(v->allowed, v->def, canon, sizeof(canon));
            }
            *FIELD(cfg, v, char *) = strdup(canon);
            break;
        }
        case K_BOOL:
            if (parse_bool(raw, FIELD(cfg, v, int))) {
                bad = 1;
                snprintf(rule, sizeof(rule), "true or false");
            }
            break;
        case K_INT: {
            errno = 0;
            char *end;
            long x = strtol(raw, &end, 10);
            if (end == raw || *end || errno || x < (long)v->min || x > (long)v->max) {
                bad = 1;
                snprintf(rule, sizeof(rule), "an integer from %.0f to %.0f", v->min, v->max);
            } else {
                *FIELD(cfg, v, long) = x;
            }
            break;
        }
        case K_DBL: {
            errno = 0;
            char *end;
            double x = strtod(raw, &end);
            if (end == raw || *end || errno || !isfinite(x) || x < v->min || x > v->max) {
                bad = 1;
                snprintf(rule, sizeof(rule), "a number from %g to %g", v->min, v->max);
            } else {
                *FIELD(cfg, v, double) = x;
            }
            break;
        }
        case K_SIZE: {
            long long x;
            if (parse_size(raw, &x) || x < (long long)v->min) {
                bad = 1;
                snprintf(rule, sizeof(rule), "a byte size of at least %.0f (suffixes K, M, G)",
                         v->min);
            } else {
                *FIELD(cfg, v, long long) = x;
            }
            break;
        }
        case K_PCT: {
            long long x;
            size_t n = strlen(raw);
            int ok;
            if (n > 1 && raw[n - 1] == '%') {
                char *end;
                double p = strtod(raw, &end);
                ok = end == raw + n - 1 && p > 0 && p <= 100;
            } else {
                ok = parse_size(raw, &x) == 0 && x >= 16 * 1048576LL;
            }
            if (!ok) {
                bad = 1;
                snprintf(rule, sizeof(rule), "a percentage of RAM (1%%-100%%) or a size >= 16MB");
            }
            *FIELD(cfg, v, char *) = strdup(raw);
            break;
        }
        case K_LIST: {
            char *norm = normalize_list(raw);
            if (!norm) {
                bad = 1;
                snprintf(rule, sizeof(rule), "a JSON array of strings or a comma-separated list");
                norm = strdup(v->def);
            }
            *FIELD(cfg, v, char *) = norm;
            break;
        }
        }
        if (bad) add_err(err, errlen, "invalid %s=%s: expected %s\n", v->name, shown, rule);
        (void)from_default;
    }
    file_free();

    /* Rules that tie several variables together. */
    char shown[64];
    if (cfg->db_postgres_min_connections > cfg->db_postgres_max_connections) {
        snprintf(shown, sizeof(shown), "%ld", cfg->db_postgres_min_connections);
        add_err(err, errlen, "invalid %s=%s: expected %s\n", "DB_POSTGRES_MIN_CONNECTIONS", shown,
                "a value not above DB_POSTGRES_MAX_CONNECTIONS");
    }
    if (cfg->monitoring_memory_threshold_warning >= cfg->monitoring_memory_threshold_critical) {
        snprintf(shown, sizeof(shown), "%g", cfg->monitoring_memory_threshold_warning);
        add_err(err, errlen, "invalid %s=%s: expected %s\n", "MONITORING_MEMORY_THRESHOLD_WARNING",
                shown, "a value below MONITORING_MEMORY_THRESHOLD_CRITICAL");
    }
    cfg->snapshot_id = -1;
    if (cfg->db_ducklake_snapshot_version[0]) {
        char *end;
        errno = 0;
        long long s = strtoll(cfg->db_ducklake_snapshot_version, &end, 10);
        if (*end || errno || s < 0)
            add_err(err, errlen, "invalid %s=%s: expected %s\n", "DB_DUCKLAKE_SNAPSHOT_VERSION",
                    cfg->db_ducklake_snapshot_version, "a snapshot id (integer >= 0)");
        else
            cfg->snapshot_id = s;
        if (cfg->db_ducklake_snapshot_time[0])
            add_err(err, errlen, "invalid %s=%s: expected %s\n", "DB_DUCKLAKE_SNAPSHOT_TIME",
                    cfg->db_ducklake_snapshot_time,
                    "unset when DB_DUCKLAKE_SNAPSHOT_VERSION is set");
    }
    if (cfg->db_ducklake_snapshot_time[0] && parse_iso_time(cfg->db_ducklake_snapshot_time))
        add_err(err, errlen, "invalid %s=%s: expected %s\n", "DB_DUCKLAKE_SNAPSHOT_TIME",
                cfg->db_ducklake_snapshot_time, "an ISO 8601 time such as 2026-01-31T12:00:00Z");
    if (!strchr(cfg->storage_minio_endpoint, ':'))
        add_err(err, errlen, "invalid %s=%s: expected %s\n", "STORAGE_MINIO_ENDPOINT",
                cfg->storage_minio_endpoint, "host:port");
    if (cfg->monitoring_metrics_path[0] != '/')
        add_err(err, errlen, "invalid %s=%s: expected %s\n", "MONITORING_METRICS_PATH",
                cfg->monitoring_metrics_path, "a path starting with /");
    if (cfg->monitoring_metrics_port[0]) {
        char *end;
        long p = strtol(cfg->monitoring_metrics_port, &end, 10);
        if (*end || p < 1024 || p > 65535)
            add_err(err, errlen, "invalid %s=%s: expected %s\n", "MONITORING_METRICS_PORT",
                    cfg->monitoring_metrics_port, "an integer from 1024 to 65535");
    }
    const char *ol = cfg->monitoring_openlineage_url;
    if (ol[0] && strncmp(ol, "http://", 7) != 0 && strncmp(ol, "https://", 8) != 0)
        add_err(err, errlen, "invalid %s=%s: expected %s\n", "MONITORING_OPENLINEAGE_URL", ol,
                "an http:// or https:// URL");
    if (strcmp(cfg->environment, "production") == 0 && cfg->debug)
        add_err(err, errlen, "invalid %s=%s: expected %s\n", "DEBUG",
                getenv("DEBUG") ? getenv("DEBUG") : "true", "false when ENVIRONMENT=production");
    const char *fa = cfg->feature_authentication;
    int auth;
    if (!fa[0])
        cfg->auth_enabled = strcmp(cfg->environment, "production") == 0;
    else if (parse_bool(fa, &auth) == 0)
        cfg->auth_enabled = auth;
    else
        add_err(err, errlen, "invalid %s=%s: expected %s\n", "FEATURE_ENABLE_AUTHENTICATION", fa,
                "true or false");
    int has_cert = cfg->security_tls_cert_file[0] != 0, has_key = cfg->security_tls_key_file[0];
    if (has_cert != (has_key != 0))
        add_err(err, errlen, "invalid %s=%s: expected %s\n", "SECURITY_TLS_KEY_FILE",
                cfg->security_tls_key_file, "set together with SECURITY_TLS_CERT_FILE");
    if (has_cert && access(cfg->security_tls_cert_file, R_OK))
        add_err(err, errlen, "invalid %s=%s: expected %s\n", "SECURITY_TLS_CERT_FILE",
                cfg->security_tls_cert_file, "a readable PEM file");
    if (has_key && access(cfg->security_tls_key_file, R_OK))
        add_err(err, errlen, "invalid %s=%s: expected %s\n", "SECURITY_TLS_KEY_FILE",
                cfg->security_tls_key_file, "a readable PEM file");

    cfg->use_postgres = cfg->db_postgres_host[0] != 0;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    cfg->http_threads_eff =
        cfg->http_threads > 0 ? (int)cfg->http_threads : (int)(ncpu > 0 ? ncpu : 1);
    return err[0] ? -1 : 0;
}

void config_free(config_t *cfg)
{
    for (size_t i = 0; i < NVARS; i++) {
        const var_t *v = &vars[i];
        if (v->kind == K_STR || v->kind == K_ENUM || v->kind == K_LIST || v->kind == K_PCT) {
            free(*FIELD(cfg, v, char *));
            *FIELD(cfg, v, char *) = NULL;
        }
    }
}

void config_register_secrets(const config_t *cfg)
{
    for (size_t i = 0; i < NVARS; i++)
        if (vars[i].flags & CFG_SECRET) log_add_secret(*FIELD(cfg, &vars[i], char *const));
}

json_t *config_summary_json(const config_t *cfg)
{
    json_t *o = json_object();
    for (size_t i = 0; i < NVARS; i++) {
        const var_t *v = &vars[i];
        json_t *val = NULL;
        switch (v->kind) {
        case K_STR:
        case K_ENUM:
        case K_LIST:
        case K_PCT: {
            const char *s = *FIELD(cfg, v, char *const);
            if (v->flags & CFG_SECRET)
                val = s && *s ? json_string("***") : json_null();
            else
                val = s && *s ? json_string(s) : json_null();
            break;
        }
        case K_BOOL:
            val = json_boolean(*FIELD(cfg, v, const int));
            break;
        case K_INT:
            val = json_integer(*FIELD(cfg, v, const long));
            break;
        case K_SIZE:
            val = json_integer(*FIELD(cfg, v, const long long));
            break;
        case K_DBL:
            val = json_real(*FIELD(cfg, v, const double));
            break;
        }
        json_object_set_new(o, v->name, val);
    }
    return o;
}

void config_print_markdown(void)
{
    printf("| variable | default | allowed | meaning |\n| --- | --- | --- | --- |\n");
    for (size_t i = 0; i < NVARS; i++) {
        const var_t *v = &vars[i];
        char allowed[160] = "";
        switch (v->kind) {
        case K_ENUM:
            snprintf(allowed, sizeof(allowed), "%s", v->allowed);
            for (char *p = allowed; *p; p++)
                if (*p == '|') *p = ',';
            break;
        case K_BOOL:
            snprintf(allowed, sizeof(allowed), "true, false");
            break;
        case K_INT:
        case K_DBL:
            snprintf(allowed, sizeof(allowed), "%g to %g", v->min, v->max);
            break;
        case K_SIZE:
            snprintf(allowed, sizeof(allowed), "bytes >= %.0f", v->min);
            break;
        case K_LIST:
            snprintf(allowed, sizeof(allowed), "list");
            break;
        default:
            break;
        }
        printf("| `%s` | %s%s%s | %s | %s |\n", v->name, v->def[0] ? "`" : "",
               v->def[0] ? v->def : "(unset)", v->def[0] ? "`" : "", allowed, v->desc);
    }
}

void config_print_env_example(void)
{
    printf("# ducklake-backend configuration: every variable with its default.\n"
           "# Generated by `ducklake-backend --env-example`; see README.md for the rules.\n");
    for (size_t i = 0; i < NVARS; i++) {
        const var_t *v = &vars[i];
        printf("\n# %s\n%s%s=%s\n", v->desc, v->def[0] ? "" : "# ", v->name, v->def);
    }
}
