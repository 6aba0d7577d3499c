/* Object storage: buckets of named objects on the local filesystem (DATA_DIR/objects) or on
 * an S3-compatible store (MinIO, AWS). One interface, two drivers; every call is blocking
 * and meant for worker threads. Bodies stream in both directions: a put reads from a file,
 * a get hands bytes to a sink, so memory never grows with object size.
 *
 * Errors come back as dlb_err: 400 bad name, 404 no_such_bucket / no_such_key, 409
 * bucket_exists / bucket_not_empty, 416 range_not_satisfiable, 502 store_access_denied
 * (the store refused our credentials or signature; the detail says why), 503
 * store_unavailable (unreachable, or the circuit breaker is open), 500 store_error. */
#ifndef DLB_STORE_H
#define DLB_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define STORE_KEY_MAX    1024 /* bytes of UTF-8, as S3 */
#define STORE_BUCKET_MAX 63

typedef struct store store_t;

typedef struct {
    const char *backend;  /* "local" or "s3" */
    const char *data_dir; /* local: objects live under data_dir/objects */
    /* s3 */
    const char *endpoint; /* "host:port", or a URL whose scheme overrides secure */
    const char *access_key, *secret_key, *region;
    int secure;                   /* https with certificate verification */
    int sse;                      /* x-amz-server-side-encryption: AES256 on every write */
    uint64_t multipart_threshold; /* larger puts use multipart upload */
    double timeout;               /* seconds one transfer may take */
    int attempts;                 /* tries on 5xx and transport errors (0: 3) */
    int breaker_failures;         /* consecutive transport failures that open the breaker (0: 5) */
    double breaker_cooldown;      /* seconds the breaker stays open before a probe (0: 2) */
    double backoff_base;          /* seconds before the first retry (0: 0.05) */
} store_options;

typedef struct {
    char *key; /* owned */
    uint64_t size;
    char etag[80]; /* without quotes */
    char content_type[128];
    int64_t mtime_ms; /* last modified, ms since the epoch */
} store_object;

typedef struct {
    store_object *objects;
    size_t nobjects;
    char **prefixes; /* common prefixes when a delimiter was given */
    size_t nprefixes;
    char *next_token; /* NULL when the listing is complete */
    int truncated;
} store_listing;

/* A byte range as a client asked for it; resolved against the object's size. */
typedef struct {
    int set;         /* 0: the whole object */
    int64_t first;   /* -1 for a suffix range */
    int64_t last;    /* -1: to the end */
    uint64_t suffix; /* with first == -1: the last suffix bytes */
} store_range;

/* Where a get delivers. begin is called once before any data, with what the store knows
 * about the object and the slice that follows (offset, length); a non-zero return from either
 * callback stops the transfer (the get then fails with the sink's own error, if it set e). */
typedef struct {
    int (*begin)(void *ctx, const store_object *info, uint64_t offset, uint64_t length);
    int (*data)(void *ctx, const void *p, size_t n);
    void *ctx;
} store_sink;

/* Counters kept by the drivers (obs/ will export them). */
typedef struct {
    uint64_t ops, errors, retries, breaker_opens, fast_fails;
    uint64_t bytes_in, bytes_out; /* bytes written to / read from the store */
    uint64_t op_ns;               /* total time in store calls */
} store_stats;

store_t *store_open(const store_options *opt, dlb_err *e);
struct config;
/* store_open with the STORAGE_* settings. Opening S3 contacts nothing: an unreachable store
 * shows up as 503s from the calls, not as a failed start. */
store_t *store_open_config(const struct config *cfg, dlb_err *e);
void store_close(store_t *s);
const char *store_backend(const store_t *s);
void store_get_stats(const store_t *s, store_stats *out);

/* Name rules: buckets 3-63 of [a-z0-9.-], starting and ending with a letter or digit, no
 * "..", not an IP address; keys 1-1024 bytes of valid UTF-8 without control characters, no
 * leading "/", no empty, "." or ".." segments. 0 when valid, else -1 with a 400 in e. */
int store_bucket_name_ok(const char *bucket, dlb_err *e);
int store_key_ok(const char *key, dlb_err *e);

/* Parses a Range header value ("bytes=a-b", "bytes=a-", "bytes=-n"). Anything else,
 * including several ranges, leaves r->set at 0 (the whole object is served, as RFC 9110
 * allows). */
void store_range_parse(const char *header, store_range *r);
/* The slice r selects of an object of size bytes: 0, or -1 when it cannot be satisfied. */
int store_range_resolve(const store_range *r, uint64_t size, uint64_t *offset, uint64_t *length);

int store_bucket_create(store_t *s, const char *bucket, dlb_err *e);
/* 1 exists, 0 does not, -1 error. */
int store_bucket_exists(store_t *s, const char *bucket, dlb_err *e);
/* Only an empty bucket (409 bucket_not_empty otherwise). */
int store_bucket_delete(store_t *s, const char *bucket, dlb_err *e);

/* Stores size bytes of the file at path, from offset, as bucket/key. The object appears
 * whole or not at all. out (may be NULL) gets what a head would answer; out->key is NULL. */
int store_put_file(store_t *s, const char *bucket, const char *key, const char *path,
                   uint64_t offset, uint64_t size, const char *content_type, store_object *out,
                   dlb_err *e);
/* Streaming puts, for bodies that arrive in pieces of unknown total (uploads as they come
 * in). Writes may block while earlier bytes are still on their way to the store (memory per
 * writer is bounded: on S3 a few multipart parts); on S3 a body larger than one part
 * (STORAGE_MULTIPART_THRESHOLD, at least 5 MiB) goes as a multipart upload whose parts are
 * sent in parallel, a smaller one as a single PUT at finish. The object appears at
 * store_writer_finish, whole, or never: abort (or a failed write or finish) leaves nothing,
 * an S3 multipart upload included. size_hint (0: unknown) is the expected total when the
 * caller knows it (a declared Content-Length): the S3 driver picks parts large enough for
 * S3's 10,000-part cap. */
typedef struct store_writer store_writer;
store_writer *store_writer_open(store_t *s, const char *bucket, const char *key,
                                const char *content_type, uint64_t size_hint, dlb_err *e);
/* 0, or -1 with e set; after a failure only store_writer_abort may follow. */
int store_writer_write(store_writer *w, const void *p, size_t n, dlb_err *e);
/* Publishes the object and frees w (also on failure, which leaves nothing behind). out gets
 * what a head would answer; out->key is NULL. */
int store_writer_finish(store_writer *w, store_object *out, dlb_err *e);
/* Discards everything written and frees w. NULL is allowed. */
void store_writer_abort(store_writer *w);

/* out->key is NULL. */
int store_head(store_t *s, const char *bucket, const char *key, store_object *out, dlb_err *e);
/* range may be NULL. 416 range_not_satisfiable carries the size in *size_out (may be NULL). */
int store_get(store_t *s, const char *bucket, const char *key, const store_range *range,
              const store_sink *sink, uint64_t *size_out, dlb_err *e);
/* 404 no_such_key when absent. */
int store_delete(store_t *s, const char *bucket, const char *key, dlb_err *e);
/* Up to limit (1-1000) keys after token (NULL: from the start) in key order. */
int store_list(store_t *s, const char *bucket, const char *prefix, const char *delimiter, int limit,
               const char *token, store_listing *out, dlb_err *e);
void store_listing_free(store_listing *l);

#endif
