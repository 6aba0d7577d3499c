#include "sqlq.h"

static int quoted(buf_t *b, const char *s, char q)
{
    if (buf_append(b, &q, 1)) return -1;
    for (; *s; s++) {
        if (*s == q && buf_append(b, &q, 1)) return -1;
        if (buf_append(b, s, 1)) return -1;
    }
    return buf_append(b, &q, 1);
}

int sqlq_ident(buf_t *b, const char *name)
{
    return quoted(b, name, '"');
}

int sqlq_string(buf_t *b, const char *text)
{
    return quoted(b, text, '\'');
}
