/* Shared between the files of http/ only. */
#ifndef DLB_HTTP_INTERNAL_H
#define DLB_HTTP_INTERNAL_H

#include <stddef.h>

/* gzip-compresses in; *out is malloc'd. 0 on success. */
int http_gzip(const char *in, size_t len, char **out, size_t *outlen);

#endif
