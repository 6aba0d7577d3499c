/* Quoting for generated SQL: identifiers in double quotes, literals in single quotes, the
 * quote character doubled inside. Values are bound instead wherever a driver allows it. */
#include "lake/write.h"

#include <string.h>

static int quoted(buf_t *b, const char *s, char q)
{
    if (buf_append(b, &q, 1)) return -1;
    for (const char *p = s; *p; p++) {
        size_t run = strcspn(p, (char[]){q, '\0'});
        if (run && buf_append(b, p, run)) return -1;
        p += run;
        if (!*p) break;
        if (buf_append(b, &q, 1) || buf_append(b, &q, 1)) return -1;
    }
    return buf_append(b, &q, 1);
}

int sql_ident(buf_t *b, const char *name)
{
    return quoted(b, name, '"');
}

int sql_string(buf_t *b, const char *s)
{
    return quoted(b, s, '\'');
}
