#include "strlist.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

char *str_trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = 0;
    return s;
}

int strlist_split(const char *value, char **storage, const char **items, int max)
{
    *storage = strdup(value ? value : "");
    if (!*storage) return 0;
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(*storage, ",", &save); t && n < max; t = strtok_r(NULL, ",", &save)) {
        t = str_trim(t);
        if (*t) items[n++] = t;
    }
    return n;
}

int strlist_contains(const char *list, const char *item)
{
    size_t n = strlen(item);
    const char *p = list ? list : "";
    while (*p) {
        while (*p == ',' || isspace((unsigned char)*p))
            p++;
        const char *end = strchr(p, ',');
        if (!end) end = p + strlen(p);
        const char *last = end;
        while (last > p && isspace((unsigned char)last[-1]))
            last--;
        if ((size_t)(last - p) == n && n && strncmp(p, item, n) == 0) return 1;
        p = end;
    }
    return 0;
}
