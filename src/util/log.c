#include "log.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define MAX_SECRETS 32

static int g_level = LOG_INFO;
static int g_fd = STDOUT_FILENO;
static pthread_mutex_t g_secret_lock = PTHREAD_MUTEX_INITIALIZER;
static char *g_secrets[MAX_SECRETS];
static int g_nsecrets;
static _Thread_local char t_rid[136]; /* request ids are at most 128 characters */

static const struct {
    const char *name;
    int level;
} levels[] = {{"DEBUG", LOG_DEBUG},  {"INFO", LOG_INFO},   {"WARNING", LOG_WARNING},
              {"WARN", LOG_WARNING}, {"ERROR", LOG_ERROR}, {"CRITICAL", LOG_CRITICAL}};

int log_level_parse(const char *s)
{
    for (size_t i = 0; s && i < sizeof(levels) / sizeof(levels[0]); i++)
        if (strcasecmp(s, levels[i].name) == 0) return levels[i].level;
    return -1;
}

static const char *level_name(int level)
{
    switch (level) {
    case LOG_DEBUG:
        return "DEBUG";
    case LOG_INFO:
        return "INFO";
    case LOG_WARNING:
        return "WARNING";
    case LOG_ERROR:
        return "ERROR";
    default:
        return "CRITICAL";
    }
}

void log_set_level(int level)
{
    g_level = level;
}

int log_enabled(int level)
{
    return level >= g_level;
}

void log_set_fd(int fd)
{
    g_fd = fd < 0 ? STDOUT_FILENO : fd;
}

static void add_one(const char *secret)
{
    for (int i = 0; i < g_nsecrets; i++)
        if (strcmp(g_secrets[i], secret) == 0) return;
    if (g_nsecrets == MAX_SECRETS) return;
    char *copy = strdup(secret);
    if (!copy) return;
    /* Longest first: a secret's escaped spelling contains the plain one, and masking the
     * shorter first would leave half an escape sequence behind. */
    size_t n = strlen(copy);
    int at = g_nsecrets;
    while (at > 0 && strlen(g_secrets[at - 1]) < n) {
        g_secrets[at] = g_secrets[at - 1];
        at--;
    }
    g_secrets[at] = copy;
    g_nsecrets++;
}

void log_add_secret(const char *secret)
{
    if (!secret || strlen(secret) < 4) return;
    /* Lines are masked after JSON encoding, where quotes, backslashes and control characters
     * appear escaped: register the escaped spelling too. */
    json_t *js = json_string(secret);
    char *enc = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
    json_decref(js);
    pthread_mutex_lock(&g_secret_lock);
    add_one(secret);
    if (enc && strlen(enc) >= 2) {
        enc[strlen(enc) - 1] = 0;
        add_one(enc + 1);
    }
    pthread_mutex_unlock(&g_secret_lock);
    free(enc);
}

void log_set_request_id(const char *rid)
{
    if (!rid) {
        t_rid[0] = 0;
        return;
    }
    size_t n = strlen(rid);
    if (n >= sizeof(t_rid)) n = sizeof(t_rid) - 1;
    memcpy(t_rid, rid, n);
    t_rid[n] = 0;
}

const char *log_request_id(void)
{
    return t_rid;
}

/* Masks every registered secret in place; the line only shrinks or keeps its size. */
static void mask_secrets(char *line)
{
    pthread_mutex_lock(&g_secret_lock);
    for (int i = 0; i < g_nsecrets; i++) {
        size_t sl = strlen(g_secrets[i]);
        char *p;
        while ((p = strstr(line, g_secrets[i])) != NULL) {
            memcpy(p, "***", 3);
            memmove(p + 3, p + sl, strlen(p + sl) + 1);
        }
    }
    pthread_mutex_unlock(&g_secret_lock);
}

/* Fields go after the fixed ones so that every line starts the same way. */
static void emit(int level, const char *msg, json_t *fields)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char stamp[40];
    size_t n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + n, sizeof(stamp) - n, ".%03ldZ", ts.tv_nsec / 1000000);

    json_t *obj = json_object();
    json_object_set_new(obj, "timestamp", json_string(stamp));
    json_object_set_new(obj, "level", json_string(level_name(level)));
    json_object_set_new(obj, "service", json_string("ducklake-backend"));
    json_t *m = json_string(msg ? msg : "");
    json_object_set_new(obj, "message", m ? m : json_string("(message not representable)"));
    if (t_rid[0]) json_object_set_new(obj, "request_id", json_string(t_rid));
    if (fields) json_object_update_missing(obj, fields); /* the fixed fields cannot be replaced */
    char *line = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    if (!line) return;
    mask_secrets(line);
    size_t len = strlen(line);
    line[len] = '\n'; /* replaces the NUL: exactly len + 1 bytes are written */
    ssize_t w = write(g_fd, line, len + 1);
    (void)w;
    free(line);
}

void log_msg(int level, const char *msg, ...)
{
    if (level < g_level) return;
    json_t *obj = json_object();
    va_list ap;
    va_start(ap, msg);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (!k) break;
        const char *v = va_arg(ap, const char *);
        json_object_set_new(obj, k, v ? json_string(v) : json_null());
    }
    va_end(ap);
    emit(level, msg, obj);
    json_decref(obj);
}

void log_json(int level, const char *msg, json_t *fields)
{
    if (level < g_level) return;
    emit(level, msg, fields);
}
