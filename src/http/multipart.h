/* multipart/form-data (RFC 7578) over a spooled request body: finds one named field and
 * copies its content to a file, in constant memory whatever the part's size. */
#ifndef DLB_HTTP_MULTIPART_H
#define DLB_HTTP_MULTIPART_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char filename[256];     /* the part's filename parameter, "" when absent */
    char content_type[128]; /* the part's Content-Type, "" when absent */
    uint64_t size;          /* bytes copied */
} multipart_part;

/* Extracts the part named field from the body in body_path (Content-Type header value in
 * content_type, which carries the boundary) into out_path. 0 on success; -1 with a message in
 * err when the body is malformed, 1 when no part has that name. */
int multipart_extract(const char *body_path, const char *content_type, const char *field,
                      const char *out_path, multipart_part *part, char *err, size_t errlen);

#endif
