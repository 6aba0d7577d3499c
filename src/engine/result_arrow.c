/* A streaming result as an ArrowArrayStream (see result_arrow.h).
 *
 * A thread of ours fetches and copies ahead, up to QUEUE_DEPTH batches: get_next runs under
 * arrow_scan's lock, so a fetch there (which also runs the sandboxed query's pipeline on the
 * caller's thread) would hold every scan thread of the writer. Each batch is one arrow_batcher
 * (engine/encode_arrow.h) whose array's release frees it, so a batch lives exactly as long as
 * DuckDB holds it. The thread starts on the first get_next: until then the result is untouched
 * and the caller may still read it another way. */
#include "engine/result_arrow.h"

#include "engine/encode_arrow.h"
#include "engine/query_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A batch ends at this many bytes of values (strings counted as they come) even short of
 * RESULT_ARROW_BATCH_ROWS rows: wide rows make fewer rows a batch, not bigger batches. */
#define BATCH_BYTES (16u << 20)
#define QUEUE_DEPTH 2

struct result_arrow {
    duckdb_connection con;
    duckdb_result *res;
    size_t ncols;
    duckdb_logical_type *types;
    struct ArrowSchema schema;
    size_t row_bytes;    /* fixed bytes a row (string offsets included) */
    size_t batch_rows;   /* rows a batch aims at */
    unsigned char *offw; /* per column: 4 or 8 for strings (offset width), 0 otherwise */
    struct ArrowArrayStream stream;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int started;
    /* under mu */
    struct ArrowArray queue[QUEUE_DEPTH];
    size_t qhead, qlen;
    int ended;  /* the thread made its last batch (end of result, cap or error) */
    int stop;   /* the consumer is gone */
    int failed; /* 1: the result's error; 2: own (a batch could not be built) */
    char last_error[1024];
    /* the thread's own until it ends, then read after the join */
    query_cap cap;
    int done;
    dlb_err own;
};

/* Bytes a value of Arrow format f takes in its fixed buffers (strings: the offset); 0 when the
 * format is not one a batcher writes. */
static size_t value_bytes(const char *f, unsigned char *offw)
{
    *offw = 0;
    if (!f[0]) return 0;
    if (!f[1]) switch (f[0]) {
        case 'b':
        case 'c':
        case 'C':
            return 1;
        case 's':
        case 'S':
            return 2;
        case 'i':
        case 'I':
        case 'f':
            return 4;
        case 'l':
        case 'L':
        case 'g':
            return 8;
        case 'u':
        case 'z':
            return *offw = 4;
        case 'U':
        case 'Z':
            return *offw = 8;
        default:
            return 0;
        }
    if (strcmp(f, "tdD") == 0) return 4;
    if (strcmp(f, "ttu") == 0 || (f[0] == 't' && f[1] == 's')) return 8;
    if (f[0] == 'd' && f[1] == ':') return 16;
    return 0;
}

/* Type aliases (JSON, user types) would come back from Arrow as their base type. */
static int has_alias(duckdb_logical_type t)
{
    char *a = duckdb_logical_type_get_alias(t);
    if (!a) return 0;
    duckdb_free(a);
    return 1;
}

static void batch_release(struct ArrowArray *a)
{
    arrow_batcher_free(a->private_data);
    a->release = NULL;
}

/* Bytes of string data in the batch so far (the last offset of each string column). */
static size_t batch_chars(result_arrow *r, arrow_batcher *b)
{
    struct ArrowArray a;
    arrow_batcher_batch(b, &a);
    size_t n = 0;
    for (size_t k = 0; k < r->ncols; k++) {
        const void *off = a.children[k]->buffers[1];
        if (r->offw[k] == 4)
            n += (size_t)((const int32_t *)off)[a.length];
        else if (r->offw[k] == 8)
            n += (size_t)((const int64_t *)off)[a.length];
    }
    return n;
}

/* The next batch into out (out->release NULL: none, the end); 0, or -1 with r->failed set. */
static int build_batch(result_arrow *r, struct ArrowArray *out)
{
    memset(out, 0, sizeof(*out));
    arrow_batcher *b = arrow_batcher_new_rows(&r->schema, r->types, r->ncols, r->batch_rows);
    if (!b) {
        dlb_err_set(&r->own, 500, "out_of_memory", "out of memory while staging the result");
        return -1;
    }
    size_t rows = 0;
    while (rows < r->batch_rows && !r->done) {
        duckdb_data_chunk ch = duckdb_fetch_chunk(*r->res);
        if (!ch) {
            r->done = 1;
            if (duckdb_result_error(r->res)) {
                arrow_batcher_free(b);
                return -1;
            }
            break;
        }
        int64_t n = query_cap_take(&r->cap, (int64_t)duckdb_data_chunk_get_size(ch));
        if (r->cap.done) r->done = 1;
        int rc = n > 0 ? arrow_batcher_add(b, ch, (size_t)n, &r->own) : 0;
        duckdb_destroy_data_chunk(&ch);
        if (rc < 0) {
            arrow_batcher_free(b);
            return -1;
        }
        rows += (size_t)n;
        if (rc > 0 && rows * r->row_bytes + batch_chars(r, b) >= BATCH_BYTES) break;
    }
    if (rows == 0) {
        arrow_batcher_free(b);
        return 0;
    }
    arrow_batcher_batch(b, out);
    out->private_data = b;
    out->release = batch_release;
    return 0;
}

static void *producer(void *arg)
{
    result_arrow *r = arg;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        while (r->qlen == QUEUE_DEPTH && !r->stop)
            pthread_cond_wait(&r->cv, &r->mu);
        int stop = r->stop;
        pthread_mutex_unlock(&r->mu);
        if (stop) break;
        struct ArrowArray a;
        int rc = build_batch(r, &a);
        pthread_mutex_lock(&r->mu);
        if (rc && !r->stop) { /* after a stop, the failure is our own interrupt */
            r->failed = r->own.status ? 2 : 1;
            snprintf(r->last_error, sizeof(r->last_error), "%s",
                     r->failed == 2 ? r->own.detail : duckdb_result_error(r->res));
        } else if (a.release) {
            r->queue[(r->qhead + r->qlen++) % QUEUE_DEPTH] = a;
        }
        int end = rc || !a.release;
        if (end) r->ended = 1;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
        if (end) break;
    }
    return NULL;
}

static int stream_get_next(struct ArrowArrayStream *st, struct ArrowArray *out)
{
    result_arrow *r = st->private_data;
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&r->mu);
    if (!r->started) {
        if (pthread_create(&r->thread, NULL, producer, r)) {
            pthread_mutex_unlock(&r->mu);
            snprintf(r->last_error, sizeof(r->last_error), "cannot start the result reader");
            return EIO;
        }
        r->started = 1;
    }
    while (r->qlen == 0 && !r->ended)
        pthread_cond_wait(&r->cv, &r->mu);
    int rc = 0;
    if (r->qlen) {
        *out = r->queue[r->qhead];
        r->qhead = (r->qhead + 1) % QUEUE_DEPTH;
        r->qlen--;
        pthread_cond_broadcast(&r->cv);
    } else if (r->failed) {
        rc = EIO;
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

/* DuckDB never releases what get_schema gives (duckdb_arrow_scan): a view of our own schema. */
static void schema_no_release(struct ArrowSchema *s)
{
    s->release = NULL;
}

static int stream_get_schema(struct ArrowArrayStream *st, struct ArrowSchema *out)
{
    result_arrow *r = st->private_data;
    *out = r->schema;
    out->release = schema_no_release;
    return 0;
}

/* Read by DuckDB after get_next failed, i.e. once the thread has ended. */
static const char *stream_last_error(struct ArrowArrayStream *st)
{
    result_arrow *r = st->private_data;
    return r->last_error[0] ? r->last_error : NULL;
}

static void stream_release(struct ArrowArrayStream *st)
{
    st->release = NULL;
}

result_arrow *result_arrow_new(duckdb_connection con, duckdb_result *res, int64_t max_rows)
{
    result_arrow *r = calloc(1, sizeof(*r));
    if (!r) return NULL;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->con = con;
    r->res = res;
    r->cap.max = max_rows;
    r->ncols = (size_t)duckdb_column_count(res);
    const char **names = calloc(r->ncols ? r->ncols : 1, sizeof(*names));
    r->types = calloc(r->ncols ? r->ncols : 1, sizeof(*r->types));
    r->offw = calloc(r->ncols ? r->ncols : 1, 1);
    if (!names || !r->types || !r->offw || r->ncols == 0) goto fail;
    for (size_t k = 0; k < r->ncols; k++) {
        names[k] = duckdb_column_name(res, k);
        r->types[k] = duckdb_column_logical_type(res, k);
        if (!names[k] || !r->types[k] || has_alias(r->types[k])) goto fail;
    }
    duckdb_arrow_options opts = NULL;
    duckdb_connection_get_arrow_options(con, &opts);
    duckdb_error_data e = duckdb_to_arrow_schema(opts, r->types, names, r->ncols, &r->schema);
    duckdb_destroy_arrow_options(&opts);
    int bad = e && duckdb_error_data_has_error(e); /* NULL: success */
    if (e) duckdb_destroy_error_data(&e);
    if (bad || (size_t)r->schema.n_children != r->ncols) goto fail;
    for (size_t k = 0; k < r->ncols; k++) {
        const struct ArrowSchema *c = r->schema.children[k];
        size_t w = c->dictionary ? 0 : value_bytes(c->format ? c->format : "", &r->offw[k]);
        if (!w) goto fail;
        r->row_bytes += w;
    }
    r->batch_rows = BATCH_BYTES / r->row_bytes;
    if (r->batch_rows > RESULT_ARROW_BATCH_ROWS) r->batch_rows = RESULT_ARROW_BATCH_ROWS;
    if (r->batch_rows < 1) r->batch_rows = 1;
    /* The batcher takes the final word on the kinds it can copy. */
    arrow_batcher *probe = arrow_batcher_new_rows(&r->schema, r->types, r->ncols, 1);
    if (!probe) goto fail;
    arrow_batcher_free(probe);
    free(names);
    r->stream = (struct ArrowArrayStream){.get_schema = stream_get_schema,
                                          .get_next = stream_get_next,
                                          .get_last_error = stream_last_error,
                                          .release = stream_release,
                                          .private_data = r};
    return r;
fail:
    free(names);
    result_arrow_free(r);
    return NULL;
}

struct ArrowArrayStream *result_arrow_stream(result_arrow *r)
{
    return &r->stream;
}

/* Stops the thread (interrupting the query when it is still fetching) and waits for it. */
static void stop_thread(result_arrow *r)
{
    pthread_mutex_lock(&r->mu);
    int started = r->started, ended = r->ended;
    r->stop = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    if (!started) return;
    if (!ended) duckdb_interrupt(r->con);
    pthread_join(r->thread, NULL);
}

int result_arrow_read_all(result_arrow *r)
{
    pthread_mutex_lock(&r->mu);
    int all = r->ended && !r->failed;
    pthread_mutex_unlock(&r->mu);
    return all;
}

/* After result_arrow_finish (the thread joined). */
int64_t result_arrow_rows(const result_arrow *r)
{
    return r->cap.rows;
}

int result_arrow_truncated(const result_arrow *r)
{
    return r->cap.truncated;
}

int result_arrow_fetched(result_arrow *r)
{
    pthread_mutex_lock(&r->mu);
    int f = r->started;
    pthread_mutex_unlock(&r->mu);
    return f;
}

int result_arrow_finish(result_arrow *r, dlb_err *err)
{
    stop_thread(r);
    if (r->failed == 1) {
        query_map_error(duckdb_result_error_type(r->res), duckdb_result_error(r->res), err);
        return -1;
    }
    if (r->failed == 2) {
        *err = r->own;
        return -1;
    }
    return 0;
}

void result_arrow_free(result_arrow *r)
{
    if (!r) return;
    stop_thread(r);
    for (; r->qlen; r->qlen--, r->qhead = (r->qhead + 1) % QUEUE_DEPTH)
        r->queue[r->qhead].release(&r->queue[r->qhead]);
    if (r->schema.release) r->schema.release(&r->schema);
    for (size_t k = 0; r->types && k < r->ncols; k++)
        if (r->types[k]) duckdb_destroy_logical_type(&r->types[k]);
    free(r->types);
    free(r->offw);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}
