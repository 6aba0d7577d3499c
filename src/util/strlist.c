#include "strlist.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static char *trim(char *s)
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
        t = trim(t);
        if (*t) items[n++] = t;
    }
    return n;
}

int strlist_contains(const char *list, const char *item)
{
    char *store;
    const char *items[64];
    int n = strlist_split(list, &store, items, 64), found = 0;
    for (int i = 0; i < n && !found; i++)
        found = strcmp(items[i], item) == 0;
    free(store);
    return found;
}
