/* Growable byte buffer with a hard maximum (after curl's dynbuf). */
#ifndef DLB_UTIL_BUF_H
#define DLB_UTIL_BUF_H

#include <stddef.h>

typedef struct {
    char *data; /* always NUL-terminated when non-NULL */
    size_t len;
    size_t cap;
    size_t max; /* 0 means unbounded */
} buf_t;

void buf_init(buf_t *b, size_t max);
/* 0 on success, -1 when max would be exceeded or memory ran out (buffer kept). */
int buf_append(buf_t *b, const void *data, size_t len);
int buf_appends(buf_t *b, const char *s);
int buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the bytes to the caller (free() them); the buffer is reset. */
char *buf_steal(buf_t *b, size_t *len);
void buf_reset(buf_t *b);
void buf_free(buf_t *b);

#endif
