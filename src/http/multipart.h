/* multipart/form-data (RFC 7578): finds one named field of a body (a spooled file, or any
 * source such as the request as it arrives) and hands its content on, in constant memory
 * whatever the part's size. */
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

/* The streaming form: the body comes from read (bytes, 0 at the end, < 0 on failure); begin
 * is called once the named part's headers are known (part has its filename and content type)
 * and data with its content, in pieces. A non-zero return from begin or data stops. */
typedef struct {
    long (*read)(void *ctx, void *buf, size_t max);
    int (*begin)(void *ctx, const multipart_part *part);
    int (*data)(void *ctx, const void *p, size_t n);
    void *ctx;
} multipart_stream;

/* 0 when the part was delivered whole (the rest of the body is not read); 1 when no part
 * has that name; -1 with a message in err when the body is malformed; -2 when the source or
 * a callback failed (their own error applies). */
int multipart_extract_stream(const multipart_stream *ms, const char *content_type,
                             const char *field, multipart_part *part, char *err, size_t errlen);

#endif
