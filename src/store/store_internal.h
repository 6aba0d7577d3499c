/* Shared between the files of store/ only: the driver table and the counters. */
#ifndef DLB_STORE_INTERNAL_H
#define DLB_STORE_INTERNAL_H

#include "store.h"

#include <stdatomic.h>

typedef struct {
    atomic_uint_fast64_t ops, errors, retries, breaker_opens, fast_fails;
    atomic_uint_fast64_t bytes_in, bytes_out, op_ns;
} store_counters;

/* Every driver function gets its own state first. Names are validated before the call. */
typedef struct {
    const char *name;
    void (*close)(void *d);
    int (*bucket_create)(void *d, const char *bucket, dlb_err *e);
    int (*bucket_exists)(void *d, const char *bucket, dlb_err *e);
    int (*bucket_delete)(void *d, const char *bucket, dlb_err *e);
    int (*put_file)(void *d, const char *bucket, const char *key, const char *path, uint64_t offset,
                    uint64_t size, const char *ctype, store_object *out, dlb_err *e);
    /* Streaming put (store_writer_*): open returns the driver's writer state. */
    void *(*writer_open)(void *d, const char *bucket, const char *key, const char *ctype,
                         uint64_t size_hint, dlb_err *e);
    int (*writer_write)(void *w, const void *p, size_t n, dlb_err *e);
    int (*writer_finish)(void *w, store_object *out, dlb_err *e); /* frees w */
    void (*writer_abort)(void *w);                                /* frees w */
    int (*head)(void *d, const char *bucket, const char *key, store_object *out, dlb_err *e);
    int (*get)(void *d, const char *bucket, const char *key, const store_range *range,
               const store_sink *sink, uint64_t *size_out, dlb_err *e);
    int (*del)(void *d, const char *bucket, const char *key, dlb_err *e);
    int (*list)(void *d, const char *bucket, const char *prefix, const char *delimiter, int limit,
                const char *token, store_listing *out, dlb_err *e);
} store_driver;

extern const store_driver store_local_driver;
extern const store_driver store_s3_driver;

void *store_local_open(const store_options *opt, store_counters *c, dlb_err *e);
void *store_s3_open(const store_options *opt, store_counters *c, dlb_err *e);

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void store_hex(const unsigned char *in, size_t n, char *out);
/* Appends one entry to a listing; 0 or -1 (out of memory). */
int store_listing_add(store_listing *l, const char *key, uint64_t size, const char *etag,
                      const char *ctype, int64_t mtime_ms);
int store_listing_add_prefix(store_listing *l, const char *prefix);

#endif
