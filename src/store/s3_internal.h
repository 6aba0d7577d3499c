/* Shared between the files of the S3 driver (s3.c, s3_upload.c) only: the store, one
 * exchange with it, and the multipart steps. */
#ifndef DLB_S3_INTERNAL_H
#define DLB_S3_INTERNAL_H

#include "store_internal.h"

#include "breaker.h"
#include "util/buf.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>

#define POOL_MAX     32
#define ERRBODY_MAX  (64 * 1024)
#define LISTBODY_MAX (8u << 20)
#define MIN_PART     (5u << 20) /* S3's smallest part (but the last) */
#define MAX_PARTS    10000
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

typedef struct {
    char base[600];     /* scheme://host[:port] */
    char sigv4[160];    /* aws:amz:<region>:s3 */
    char *userpwd;      /* access:secret */
    char endpoint[512]; /* for messages */
    int secure, sse;
    uint64_t part_size, threshold;
    long timeout_ms;
    int attempts;
    double backoff_base;
    store_counters *c;
    breaker_t breaker;
    pthread_mutex_t lock; /* guards the handle pool */
    CURL *pool[POOL_MAX];
    int npool;
} s3_store;

/* One HTTP exchange with the store. */
typedef struct {
    const char *method; /* GET HEAD PUT POST DELETE */
    const char *bucket, *key, *query;
    int fd; /* file body: fd from off for len bytes (fd < 0: none) */
    uint64_t off, len, sent;
    const char *mem; /* in-memory body (may be "" for an empty POST/PUT); a PUT of memory
                        goes UNSIGNED-PAYLOAD like a file body */
    size_t memlen;
    const char *ctype, *range;
    int sse;
    const store_sink *sink; /* 2xx bodies of GET go here; others to body */
    size_t body_max;
    /* response */
    long status;
    buf_t body;
    store_object info;
    uint64_t crange_total; /* Content-Range's /total, 0 when absent */
    uint64_t crange_first;
    int has_crange;
    int began, sink_failed;
    uint64_t delivered;
    dlb_err *e;
    const atomic_int *cancel; /* may be NULL; once set, the transfer stops (no retry) */
} s3_call;

void s3_call_init(s3_call *c, const char *method, const char *bucket, const char *key);
/* Runs c with retries and the breaker. 0 on a 2xx answer, else -1 with e set. c->body holds
 * the answer until buf_free(&c->body). */
int s3_do(s3_store *s, s3_call *c, dlb_err *e);
/* Starts a multipart upload; idq gets "uploadId=<encoded id>" (the query of its parts). */
int s3_upload_start(s3_store *s, const char *bucket, const char *key, const char *ctype, buf_t *idq,
                    dlb_err *e);
/* Completes it with the <CompleteMultipartUpload> document xml; out->etag is set. */
int s3_upload_complete(s3_store *s, const char *bucket, const char *key, const char *idq,
                       const buf_t *xml, store_object *out, dlb_err *e);
/* Aborts it (a failure is logged: the store's lifecycle rules must then clean up). */
void s3_upload_abort(s3_store *s, const char *bucket, const char *key, const char *idq);

/* The streaming put (s3_upload.c), as the driver table's writer_*. */
void *s3_writer_open(void *d, const char *bucket, const char *key, const char *ctype,
                     uint64_t size_hint, dlb_err *e);
int s3_writer_write(void *w, const void *data, size_t n, dlb_err *e);
int s3_writer_finish(void *w, store_object *out, dlb_err *e);
void s3_writer_abort(void *w);

#endif
