/* The S3 streaming put: bytes fill part buffers as they arrive; the first full part that is
 * followed by more bytes starts a multipart upload, and full parts go to a few sender
 * threads, so several parts are in flight (each on a kept-alive connection from the handle
 * pool) while the next one fills. The writer blocks when every buffer is taken: memory is
 * SLOTS part buffers whatever the object's size, and the client is held back instead. A
 * body that never fills one part goes as one PUT at finish. Any failure (a part
 * refused, the caller giving up) stops the senders, cancels transfers in flight and aborts
 * the upload, so the store keeps neither the object nor its parts. */
#include "s3_internal.h"

#include "util/clock.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define SLOTS   4 /* part buffers per upload: one filling, the others on their way */
#define SENDERS 3 /* parts in flight at once */

enum { SLOT_FREE, SLOT_FILLING, SLOT_QUEUED, SLOT_SENDING };

typedef struct {
    char *data; /* mmap'd part_size bytes (pages are only used as they are written) */
    size_t len;
    int state, number;
} slot;

typedef struct {
    s3_store *s;
    char *bucket, *key, *ctype;
    size_t part_size;
    slot slots[SLOTS];
    int cur; /* the slot being filled */
    uint64_t total;
    buf_t idq; /* "uploadId=..." once the multipart upload has started */
    int started;
    pthread_t senders[SENDERS];
    int nsenders;
    pthread_mutex_t lock; /* the rest */
    pthread_cond_t cond;
    int nparts;
    char (*etags)[80]; /* by part number - 1 */
    int etags_cap;
    int closing; /* no more parts: senders exit once the queue is empty */
    int failed;
    dlb_err err; /* the first failure */
    atomic_int cancel;
} s3_writer;

static int slot_alloc(s3_writer *w, slot *sl)
{
    /* mmap rather than malloc: the pages go back to the system at munmap, where glibc would
     * keep freed multi-MiB blocks in its heap once its mmap threshold has grown. */
    // cppcheck-suppress invalidFunctionArg
    void *p = mmap(NULL, w->part_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return -1;
    sl->data = p;
    sl->len = 0;
    return 0;
}

/* Sends queued parts until the queue is empty and the writer closes, or anything fails. */
static void *sender(void *arg)
{
    s3_writer *w = arg;
    buf_t q;
    buf_init(&q, 0);
    pthread_mutex_lock(&w->lock);
    for (;;) {
        slot *sl = NULL;
        for (int i = 0; i < SLOTS; i++)
            if (w->slots[i].state == SLOT_QUEUED && (!sl || w->slots[i].number < sl->number))
                sl = &w->slots[i];
        if (w->failed || (!sl && w->closing)) break;
        if (!sl) {
            pthread_cond_wait(&w->cond, &w->lock);
            continue;
        }
        sl->state = SLOT_SENDING;
        pthread_mutex_unlock(&w->lock);

        dlb_err e = {0};
        s3_call c;
        buf_reset(&q);
        buf_printf(&q, "partNumber=%d&%s", sl->number, w->idq.data);
        s3_call_init(&c, "PUT", w->bucket, w->key);
        c.query = q.data;
        c.mem = sl->data;
        c.memlen = sl->len;
        c.cancel = &w->cancel;
        int rc = q.data ? s3_do(w->s, &c, &e) : -1;
        if (!q.data) dlb_err_set(&e, 500, "internal_error", "out of memory");
        buf_free(&c.body);

        pthread_mutex_lock(&w->lock);
        if (rc == 0) {
            snprintf(w->etags[sl->number - 1], sizeof(w->etags[0]), "%s", c.info.etag);
        } else if (!w->failed) {
            w->failed = 1;
            w->err = e;
            atomic_store(&w->cancel, 1); /* the other parts are useless now */
        }
        sl->len = 0;
        sl->state = SLOT_FREE;
        pthread_cond_broadcast(&w->cond);
    }
    pthread_mutex_unlock(&w->lock);
    buf_free(&q);
    return NULL;
}

static int fail(s3_writer *w, dlb_err *e, int status, const char *code, const char *detail)
{
    pthread_mutex_lock(&w->lock);
    if (!w->failed) {
        w->failed = 1;
        dlb_err_set(&w->err, status, code, "%s", detail);
    }
    atomic_store(&w->cancel, 1);
    *e = w->err;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    return -1;
}

static int start_multipart(s3_writer *w, dlb_err *e)
{
    if (s3_upload_start(w->s, w->bucket, w->key, w->ctype, &w->idq, e)) return -1;
    w->started = 1;
    for (int i = 0; i < SENDERS; i++) {
        if (pthread_create(&w->senders[i], NULL, sender, w)) break;
        w->nsenders++;
    }
    if (!w->nsenders) return fail(w, e, 500, "internal_error", "cannot start the part senders");
    return 0;
}

/* Queues the filling slot as the next part and takes a free one to fill, waiting while
 * every buffer is on its way. */
static int ship(s3_writer *w, dlb_err *e)
{
    pthread_mutex_lock(&w->lock);
    if (w->nparts == MAX_PARTS) {
        pthread_mutex_unlock(&w->lock);
        return fail(w, e, 413, "payload_too_large",
                    "the object needs more than 10,000 multipart parts of "
                    "STORAGE_MULTIPART_THRESHOLD bytes");
    }
    if (w->nparts == w->etags_cap) {
        int cap = w->etags_cap ? w->etags_cap * 2 : 64;
        if (cap > MAX_PARTS) cap = MAX_PARTS;
        void *p = realloc(w->etags, (size_t)cap * sizeof(w->etags[0]));
        if (!p) {
            pthread_mutex_unlock(&w->lock);
            return fail(w, e, 500, "internal_error", "out of memory");
        }
        w->etags = p;
        w->etags_cap = cap;
    }
    slot *sl = &w->slots[w->cur];
    sl->number = ++w->nparts;
    sl->state = SLOT_QUEUED;
    pthread_cond_broadcast(&w->cond);
    for (;;) {
        if (w->failed) {
            *e = w->err;
            pthread_mutex_unlock(&w->lock);
            return -1;
        }
        int pick = -1;
        for (int i = 0; i < SLOTS && pick < 0; i++)
            if (w->slots[i].state == SLOT_FREE) pick = i;
        if (pick >= 0) {
            w->cur = pick;
            w->slots[pick].state = SLOT_FILLING;
            break;
        }
        pthread_cond_wait(&w->cond, &w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    slot *next = &w->slots[w->cur];
    if (!next->data && slot_alloc(w, next))
        return fail(w, e, 500, "internal_error", "out of memory for an upload part");
    return 0;
}

/* Stops the senders (after the queue drains unless the upload failed) and waits for them. */
static void join_senders(s3_writer *w)
{
    pthread_mutex_lock(&w->lock);
    w->closing = 1;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    for (int i = 0; i < w->nsenders; i++)
        pthread_join(w->senders[i], NULL);
    w->nsenders = 0;
}

static void writer_free(s3_writer *w)
{
    for (int i = 0; i < SLOTS; i++)
        if (w->slots[i].data) munmap(w->slots[i].data, w->part_size);
    buf_free(&w->idq);
    free(w->etags);
    free(w->bucket);
    free(w->key);
    free(w->ctype);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    free(w);
}

void *s3_writer_open(void *d, const char *bucket, const char *key, const char *ctype,
                     uint64_t size_hint, dlb_err *e)
{
    s3_store *s = d;
    s3_writer *w = calloc(1, sizeof(*w));
    if (!w) {
        dlb_err_set(e, 500, "internal_error", "out of memory");
        return NULL;
    }
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    atomic_init(&w->cancel, 0);
    buf_init(&w->idq, 0);
    w->s = s;
    uint64_t part = s->part_size;
    /* A declared size that would need more than S3's 10,000 parts gets larger parts (to
     * whole MiB); an undeclared one finds out at part 10,001 (413). */
    if (size_hint && (size_hint + part - 1) / part > MAX_PARTS)
        part = ((size_hint + MAX_PARTS - 1) / MAX_PARTS + (1u << 20) - 1) &
               ~(uint64_t)((1u << 20) - 1);
    w->part_size = (size_t)part;
    w->bucket = strdup(bucket);
    w->key = strdup(key);
    w->ctype = strdup(ctype);
    if (!w->bucket || !w->key || !w->ctype || slot_alloc(w, &w->slots[0])) {
        dlb_err_set(e, 500, "internal_error", "out of memory");
        writer_free(w);
        return NULL;
    }
    w->slots[0].state = SLOT_FILLING;
    w->cur = 0;
    return w;
}

int s3_writer_write(void *wp, const void *data, size_t n, dlb_err *e)
{
    s3_writer *w = wp;
    const char *in = data;
    while (n) {
        slot *sl = &w->slots[w->cur];
        if (sl->len == w->part_size) {
            /* More bytes after a full part: it is a multipart upload from here on. */
            if (!w->started && start_multipart(w, e)) return -1;
            if (ship(w, e)) return -1;
            sl = &w->slots[w->cur];
        }
        size_t take = w->part_size - sl->len;
        if (take > n) take = n;
        memcpy(sl->data + sl->len, in, take);
        sl->len += take;
        in += take;
        n -= take;
        w->total += take;
    }
    return 0;
}

static int finish_single(s3_writer *w, store_object *out, dlb_err *e)
{
    s3_call c;
    slot *sl = &w->slots[w->cur];
    s3_call_init(&c, "PUT", w->bucket, w->key);
    c.mem = sl->len ? sl->data : "";
    c.memlen = sl->len;
    c.ctype = w->ctype;
    c.sse = w->s->sse;
    int rc = s3_do(w->s, &c, e);
    if (rc == 0) snprintf(out->etag, sizeof(out->etag), "%s", c.info.etag);
    buf_free(&c.body);
    return rc;
}

static int finish_multipart(s3_writer *w, store_object *out, dlb_err *e)
{
    /* The last part (never empty: parts ship only when more bytes follow). */
    pthread_mutex_lock(&w->lock);
    slot *sl = &w->slots[w->cur];
    sl->number = ++w->nparts;
    sl->state = SLOT_QUEUED;
    pthread_mutex_unlock(&w->lock);
    join_senders(w);
    if (w->failed) {
        *e = w->err;
        return -1;
    }
    buf_t xml;
    buf_init(&xml, 0);
    buf_appends(&xml, "<CompleteMultipartUpload>");
    for (int i = 0; i < w->nparts; i++)
        buf_printf(&xml, "<Part><PartNumber>%d</PartNumber><ETag>\"%s\"</ETag></Part>", i + 1,
                   w->etags[i]);
    buf_appends(&xml, "</CompleteMultipartUpload>");
    int rc = s3_upload_complete(w->s, w->bucket, w->key, w->idq.data, &xml, out, e);
    buf_free(&xml);
    return rc;
}

int s3_writer_finish(void *p, store_object *out, dlb_err *e)
{
    s3_writer *w = p;
    int rc;
    if (w->failed) {
        *e = w->err;
        rc = -1;
    } else {
        rc = w->started ? finish_multipart(w, out, e) : finish_single(w, out, e);
    }
    if (rc == 0) {
        out->size = w->total;
        out->mtime_ms = (int64_t)(clock_wall() * 1000);
        snprintf(out->content_type, sizeof(out->content_type), "%s", w->ctype);
    } else if (w->started) {
        atomic_store(&w->cancel, 1);
        join_senders(w);
        s3_upload_abort(w->s, w->bucket, w->key, w->idq.data);
    }
    writer_free(w);
    return rc;
}

void s3_writer_abort(void *p)
{
    s3_writer *w = p;
    if (w->nsenders) {
        pthread_mutex_lock(&w->lock);
        w->failed = 1; /* senders stop without taking another part */
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->lock);
        atomic_store(&w->cancel, 1);
        join_senders(w);
    }
    if (w->started) s3_upload_abort(w->s, w->bucket, w->key, w->idq.data);
    writer_free(w);
}
