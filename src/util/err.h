/* An error a subsystem hands up to the API layer: the HTTP status it maps to, a snake_case
 * code and a message for the client. Subsystems know no HTTP; they only pick the status class
 * (404 unknown name, 409 conflict, 422 invalid input, 503 dependency down, 500 bug). */
#ifndef DLB_UTIL_ERR_H
#define DLB_UTIL_ERR_H

#include <stdarg.h>
#include <stdio.h>

typedef struct {
    int status;
    char code[48];
    char detail[1024];
} dlb_err;

static inline void dlb_err_set(dlb_err *e, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static inline void dlb_err_set(dlb_err *e, int status, const char *code, const char *fmt, ...)
{
    if (!e) return;
    e->status = status;
    snprintf(e->code, sizeof(e->code), "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->detail, sizeof(e->detail), fmt, ap);
    va_end(ap);
}

#endif
