#ifndef DLB_UTIL_STRLIST_H
#define DLB_UTIL_STRLIST_H

/* Splits a comma list into at most max trimmed, non-empty items. The items point into a
 * copy that *storage owns (free it). Returns the number of items. */
int strlist_split(const char *value, char **storage, const char **items, int max);
/* 1 when item is one of the comma list's entries (exact match after trimming). */
int strlist_contains(const char *list, const char *item);

/* Strips leading and trailing white space in place; returns the first kept byte. */
char *str_trim(char *s);

#endif
