/* Structured logging: one JSON object per line on stdout. */
#ifndef DLB_UTIL_LOG_H
#define DLB_UTIL_LOG_H

#include <stdarg.h>

typedef enum {
    LOG_DEBUG = 10,
    LOG_INFO = 20,
    LOG_WARNING = 30,
    LOG_ERROR = 40,
    LOG_CRITICAL = 50
} log_level;

/* Parses DEBUG/INFO/WARNING/ERROR/CRITICAL (case-insensitive); -1 when unknown. */
int log_level_parse(const char *s);
void log_set_level(int level);
int log_enabled(int level);
/* Redirects log lines (tests); fd -1 restores stdout. */
void log_set_fd(int fd);

/* Registers a secret: any later log line containing it has it replaced by "***".
 * Secrets shorter than 4 bytes are ignored (they would mask ordinary words). */
void log_add_secret(const char *secret);

/* Thread-local request id picked up by every line logged on this thread. */
void log_set_request_id(const char *rid);
const char *log_request_id(void);

/* log_msg(level, message, "key", "value", ..., NULL): context fields are string pairs. */
void log_msg(int level, const char *msg, ...);
/* Same with a json_t* object of context fields (borrowed). */
struct json_t;
void log_json(int level, const char *msg, struct json_t *fields);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__, (const char *)0)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__, (const char *)0)
#define log_warn(...)  log_msg(LOG_WARNING, __VA_ARGS__, (const char *)0)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__, (const char *)0)

#endif
