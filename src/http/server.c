/* libmicrohttpd glue: connection contexts, the hand-off to the worker pool with
 * suspend/resume, limits, and the final assembly of every response. */
#include "http.h"
#include "guard.h"
#include "internal.h"
#include "router.h"

#include "util/clock.h"
#include "util/ids.h"
#include "util/log.h"
#include "util/pool.h"
#include "util/strlist.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define STREAM_CAPACITY (256 * 1024)
/* A chunked answer longer than this is written by its producer straight to the socket. */
#define DIRECT_AFTER  STREAM_CAPACITY
#define DISCARD_LIMIT (4u << 20)
/* A streamed request body (ROUTE_BODY_STREAM) waits here for its handler: big enough that
 * the handler's reads are large, small enough that a thousand uploads cost little. */
#define BODY_RING_CAPACITY (512 * 1024)

enum { ST_NEW, ST_BODY, ST_DISPATCHED, ST_STREAMING, ST_DONE };

struct http_server {
    struct MHD_Daemon *d;
    http_options opt;
    const http_route *routes;
    size_t nroutes;
    atomic_uint inflight;
    atomic_int quiescing;
    atomic_int stopping;
    conn_guard *guard;         /* slow-client deadlines; NULL when off */
    pthread_mutex_t list_lock; /* guards the list of live contexts */
    struct conn_ctx *live;
    int port;
    char *cors_store;
    const char *cors_origins[128];
    int n_cors_origins;
};

/* One per request; shared by the MHD thread, a worker and a streaming response, hence the
 * reference count. The stream ring lives here so that the producer never outlives it. */
typedef struct conn_ctx {
    struct conn_ctx *prev, *next; /* http_server.live */
    guard_entry *guard;           /* the connection's slow-client deadline */
    http_server *srv;
    struct MHD_Connection *conn;
    http_req req;
    http_resp resp;
    int state;
    int early;   /* a response decided before the handler runs (413, 404, ...) */
    int body_fd; /* spool file */
    uint64_t body_limit;
    atomic_int refs;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int suspended;      /* under lock */
    int ready;          /* the worker has a response (or the stream headers) */
    int gone;           /* the request is finished from MHD's side: stop producing */
    int closed;         /* the producer is done */
    int stop_requested; /* the server is stopping: producers give up, streams end */
    char *ring;
    size_t head, len;
    uint64_t streamed;
    uint64_t discarded; /* body bytes dropped after an early answer */
    int sized;          /* http_resp_stream_sized: the stream's length is known */
    uint64_t size;
    /* Pull stream (http_resp_pull): the HTTP thread reads from the source. */
    const http_pull_ops *pull_ops;
    void *pull_src;
    int pull_started; /* under lock: the response is queued, so a wake may resume */
    int pull_wake;    /* under lock: the source has news since the last read */
    int pull_abort;   /* under lock: cut the connection */
    /* Streamed request body (ROUTE_BODY_STREAM): the HTTP thread fills the ring, the
     * handler drains it; all under lock. */
    char *in_ring;
    size_t in_head, in_len;
    int in_eof;    /* the whole body is in the ring */
    int in_err;    /* HTTP_BODY_TOO_LARGE: the body passed the limit */
    int pull_park; /* HTTP thread: the socket may still be offered to the source */
    int http11;    /* the request said HTTP/1.1: an unsized body goes out chunked */
    /* Direct writes of a long chunked answer (see stream_reader): under lock. */
    int direct_ok;      /* chunked HTTP/1.1 over plain TCP */
    int direct;         /* the producer owns the socket; the connection stays parked */
    int direct_failed;  /* the producer gave the socket back mid-answer: cut it */
    int writer_waiting; /* the producer waits for room in the ring */
    int direct_fd;
} conn_ctx;

struct http_stream {
    conn_ctx ctx; /* never instantiated: http_stream* is a conn_ctx* in disguise */
};

struct http_pull {
    conn_ctx ctx; /* likewise */
};

static void ctx_release(conn_ctx *c)
{
    if (atomic_fetch_sub(&c->refs, 1) != 1) return;
    http_req_params_free(&c->req);
    buf_free(&c->req.body);
    if (c->body_fd >= 0) close(c->body_fd);
    if (c->req.body_path) {
        unlink(c->req.body_path);
        free(c->req.body_path);
    }
    http_resp_clear(&c->resp);
    free(c->req.user);
    free(c->ring);
    free(c->in_ring);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cond);
    free(c);
}

/* Caller holds c->lock. Once MHD is done with the request (gone) the connection may no
 * longer exist, so it is never touched again. */
static void ctx_resume_locked(conn_ctx *c)
{
    /* While the producer writes to the socket itself the connection stays parked: only the
     * hand-back (which clears direct first) or a server stop (wake_all) resumes it. */
    if (c->suspended && !c->gone && !c->direct) {
        c->suspended = 0;
        MHD_resume_connection(c->conn);
    }
}

const char *http_req_header(const http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_req_query(const http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* ---- streamed request bodies --------------------------------------------------------- */

long http_req_body_read(http_req *req, void *out, size_t max)
{
    conn_ctx *c = (conn_ctx *)((char *)req - offsetof(conn_ctx, req));
    pthread_mutex_lock(&c->lock);
    while (!c->in_len) {
        long rc = c->in_err                      ? c->in_err
                  : c->in_eof                    ? 0
                  : c->gone || c->stop_requested ? HTTP_BODY_GONE
                                                 : 1;
        if (rc <= 0) {
            pthread_mutex_unlock(&c->lock);
            return rc;
        }
        pthread_cond_wait(&c->cond, &c->lock);
    }
    size_t n = c->in_len < max ? c->in_len : max;
    size_t first = BODY_RING_CAPACITY - c->in_head;
    if (first > n) first = n;
    memcpy(out, c->in_ring + c->in_head, first);
    memcpy((char *)out + first, c->in_ring, n - first);
    c->in_head = (c->in_head + n) % BODY_RING_CAPACITY;
    c->in_len -= n;
    /* The HTTP thread parked the connection when the ring was full: there is room now. */
    ctx_resume_locked(c);
    pthread_mutex_unlock(&c->lock);
    return (long)n;
}

uint64_t http_req_body_limit(const http_req *req)
{
    const conn_ctx *c = (const conn_ctx *)((const char *)req - offsetof(conn_ctx, req));
    return c->body_limit;
}

/* ---- streaming ---------------------------------------------------------------------- */

http_stream *http_resp_stream(http_req *req, http_resp *resp, int status, const char *ctype)
{
    conn_ctx *c = (conn_ctx *)((char *)req - offsetof(conn_ctx, req));
    c->ring = malloc(STREAM_CAPACITY);
    if (!c->ring) {
        http_resp_error(resp, 500, "internal_error", "out of memory");
        return NULL;
    }
    http_resp_bytes(resp, status, ctype, NULL, 0);
    resp->stream = (http_stream *)c;
    pthread_mutex_lock(&c->lock);
    c->ready = 1;
    ctx_resume_locked(c);
    pthread_mutex_unlock(&c->lock);
    return resp->stream;
}

http_stream *http_resp_stream_sized(http_req *req, http_resp *resp, int status, const char *ctype,
                                    uint64_t length)
{
    conn_ctx *c = (conn_ctx *)((char *)req - offsetof(conn_ctx, req));
    /* Set before http_resp_stream resumes the connection: send_response reads them then. */
    c->sized = 1;
    c->size = length;
    return http_resp_stream(req, resp, status, ctype);
}

/* ---- direct writes ---------------------------------------------------------------------
 * Through libmicrohttpd a chunked answer leaves in pieces of about half the connection's
 * 16 KiB pool (kept small for 10,000 idle event streams), a read callback and a send per piece.
 * Once an answer has passed DIRECT_AFTER, the reader, called at a chunk boundary with nothing
 * of MHD's left to send, parks the connection and hands the socket to the producer, which then
 * sends each write as one chunk (one sendmsg of size line, data and CRLF, no copy). The end
 * hands the socket back at a chunk boundary and MHD writes the last chunk, so keep-alive,
 * the access log and completion work as before. TLS and HTTP/1.0 answers keep MHD's path. */

/* Sends body as one chunk. Lock held on entry and exit; released only while waiting for the
 * socket to take more. -1: the client is gone or stalled past the connection timeout, or the
 * server stops. Sends happen under the lock after checking gone/stop_requested: MHD closes the
 * fd only after a resume that this lock orders. */
static int direct_chunk(conn_ctx *c, const struct iovec *body, int nbody)
{
    static const char crlf[] = "\r\n";
    struct iovec iov[8];
    char hdr[24];
    size_t len = 0;
    for (int i = 0; i < nbody; i++)
        len += body[i].iov_len;
    if (!len) return 0;
    int n = 0, at = 0;
    iov[n++] = (struct iovec){hdr, (size_t)snprintf(hdr, sizeof(hdr), "%zx\r\n", len)};
    for (int i = 0; i < nbody && n < 7; i++)
        if (body[i].iov_len) iov[n++] = body[i];
    iov[n++] = (struct iovec){(char *)crlf, 2};
    unsigned waited_ms = 0, limit_ms = c->srv->opt.connection_timeout * 1000u;
    while (at < n) {
        if (c->gone || c->stop_requested || !c->direct) return -1;
        struct msghdr m = {.msg_iov = iov + at, .msg_iovlen = (size_t)(n - at)};
        ssize_t w = sendmsg(c->direct_fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return -1;
        if (w > 0) {
            waited_ms = 0;
            while (at < n && (size_t)w >= iov[at].iov_len)
                w -= (ssize_t)iov[at++].iov_len;
            if (at < n) {
                iov[at].iov_base = (char *)iov[at].iov_base + w;
                iov[at].iov_len -= (size_t)w;
            }
            continue;
        }
        /* A full socket: slices of 100 ms, so that a stop or a stalled client is noticed. */
        struct pollfd pfd = {.fd = c->direct_fd, .events = POLLOUT};
        pthread_mutex_unlock(&c->lock);
        int r = poll(&pfd, 1, 100);
        pthread_mutex_lock(&c->lock);
        if (r == 0 && limit_ms && (waited_ms += 100) >= limit_ms) return -1;
    }
    c->streamed += len;
    return 0;
}

/* The ring's bytes in order, as up to two pieces; returns the count. */
static int ring_pieces(const conn_ctx *c, struct iovec *out)
{
    if (!c->len) return 0;
    size_t first = STREAM_CAPACITY - c->head;
    if (first >= c->len) {
        out[0] = (struct iovec){c->ring + c->head, c->len};
        return 1;
    }
    out[0] = (struct iovec){c->ring + c->head, first};
    out[1] = (struct iovec){c->ring, c->len - first};
    return 2;
}

/* Sends what the ring holds and data after it, as one chunk. Lock held. */
static int direct_send(conn_ctx *c, const void *data, size_t len)
{
    struct iovec b[3];
    int nb = ring_pieces(c, b);
    if (len) b[nb++] = (struct iovec){(void *)data, len};
    int rc = direct_chunk(c, b, nb);
    c->head = c->len = 0;
    if (rc) { /* mid-chunk or unsent: only cutting the connection tells the client */
        c->direct = 0;
        c->direct_failed = 1;
        ctx_resume_locked(c);
    }
    return rc;
}

void http_stream_abort(http_stream *s)
{
    conn_ctx *c = (conn_ctx *)s;
    pthread_mutex_lock(&c->lock);
    c->direct = 0;
    c->stop_requested = 1; /* the reader cuts the connection instead of ending cleanly */
    pthread_cond_broadcast(&c->cond);
    ctx_resume_locked(c);
    pthread_mutex_unlock(&c->lock);
}

int http_stream_write(http_stream *s, const void *data, size_t len)
{
    conn_ctx *c = (conn_ctx *)s;
    const char *p = data;
    pthread_mutex_lock(&c->lock);
    while (len) {
        if (c->gone || c->stop_requested || c->direct_failed) {
            pthread_mutex_unlock(&c->lock);
            return -1;
        }
        if (c->direct) {
            int rc = direct_send(c, p, len);
            pthread_mutex_unlock(&c->lock);
            return rc;
        }
        size_t space = STREAM_CAPACITY - c->len;
        if (!space) {
            ctx_resume_locked(c);
            c->writer_waiting = 1;
            pthread_cond_wait(&c->cond, &c->lock);
            c->writer_waiting = 0;
            continue;
        }
        size_t tail = (c->head + c->len) % STREAM_CAPACITY;
        size_t n = len < space ? len : space;
        if (n > STREAM_CAPACITY - tail) n = STREAM_CAPACITY - tail;
        memcpy(c->ring + tail, p, n);
        c->len += n;
        p += n;
        len -= n;
    }
    ctx_resume_locked(c);
    pthread_mutex_unlock(&c->lock);
    return 0;
}

static void stream_close(conn_ctx *c)
{
    pthread_mutex_lock(&c->lock);
    if (c->direct && direct_send(c, NULL, 0) == 0) c->direct = 0; /* back at a chunk boundary */
    c->closed = 1;
    ctx_resume_locked(c);
    pthread_mutex_unlock(&c->lock);
}

/* Parks the connection from its read callback (lock held; released): "no data now". */
static ssize_t park_unlock(conn_ctx *c)
{
    c->suspended = 1;
    MHD_suspend_connection(c->conn);
    pthread_mutex_unlock(&c->lock);
    return 0;
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *out, size_t max)
{
    conn_ctx *c = cls;
    (void)pos;
    pthread_mutex_lock(&c->lock);
    if (c->direct || c->direct_failed) {
        /* Resumed while the producer owns the socket: only a stop does that (mid-chunk: cut);
         * or the producer gave up mid-answer. */
        if (c->direct_failed || c->stop_requested) {
            c->direct = 0;
            pthread_mutex_unlock(&c->lock);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        return park_unlock(c);
    }
    /* Called only once MHD has sent everything it had: a chunk boundary. The producer takes
     * the socket when it waits for room (it sends the ring first) or the ring is empty, never
     * while ring bytes could sit unsent behind a producer busy elsewhere. */
    if (c->direct_ok && c->streamed >= DIRECT_AFTER && !c->closed && !c->stop_requested &&
        (c->writer_waiting || !c->len)) {
        int fd = http_req_socket(&c->req);
        if (fd >= 0) {
            c->direct_fd = fd;
            c->direct = 1;
            pthread_cond_signal(&c->cond);
            return park_unlock(c);
        }
    }
    if (c->len) {
        size_t n = c->len < max ? c->len : max;
        if (n > STREAM_CAPACITY - c->head) n = STREAM_CAPACITY - c->head;
        memcpy(out, c->ring + c->head, n);
        c->head = (c->head + n) % STREAM_CAPACITY;
        c->len -= n;
        c->streamed += n;
        pthread_cond_signal(&c->cond);
        pthread_mutex_unlock(&c->lock);
        return (ssize_t)n;
    }
    if (c->closed) {
        pthread_mutex_unlock(&c->lock);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    if (c->stop_requested) { /* cut the stream so that the client sees it is incomplete */
        pthread_mutex_unlock(&c->lock);
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    /* Nothing yet: park the connection instead of letting MHD spin; the producer resumes
     * it on its next write or when it closes the stream. */
    return park_unlock(c);
}

static void stream_free(void *cls)
{
    ctx_release(cls);
}

/* ---- pull streams ----------------------------------------------------------------------- */

http_pull *http_pull_handle(http_req *req)
{
    return (http_pull *)((char *)req - offsetof(conn_ctx, req));
}

void http_resp_pull(http_req *req, http_resp *resp, int status, const char *ctype,
                    const http_pull_ops *ops, void *src)
{
    conn_ctx *c = (conn_ctx *)http_pull_handle(req);
    http_resp_bytes(resp, status, ctype, NULL, 0);
    resp->stream = (http_stream *)c; /* a stream as far as gzip and the access log go */
    c->pull_ops = ops;
    c->pull_src = src;
}

void http_pull_wake(http_pull *p)
{
    conn_ctx *c = (conn_ctx *)p;
    pthread_mutex_lock(&c->lock);
    c->pull_wake = 1;
    if (c->pull_started) ctx_resume_locked(c);
    pthread_mutex_unlock(&c->lock);
}

void http_pull_abort(http_pull *p)
{
    conn_ctx *c = (conn_ctx *)p;
    pthread_mutex_lock(&c->lock);
    c->pull_abort = 1;
    c->pull_wake = 1;
    if (!c->gone) {
        /* A reader that stopped reading leaves the connection waiting for a writable socket,
         * where no read callback comes. Shutting the socket down makes the next poll report
         * it. Safe against fd reuse: MHD closes the fd only after on_completed, which sets
         * gone under this lock first. */
        int fd = http_req_socket(&c->req);
        if (fd >= 0) shutdown(fd, SHUT_RDWR);
        if (c->pull_started) ctx_resume_locked(c);
    }
    pthread_mutex_unlock(&c->lock);
}

int http_req_socket(const http_req *req)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? (int)ci->connect_fd : -1;
}

static ssize_t pull_reader(void *cls, uint64_t pos, char *out, size_t max)
{
    conn_ctx *c = cls;
    (void)pos;
    for (;;) {
        /* The wake flag is cleared before reading and checked again before parking, so a
         * wake that lands between the two is never lost; no lock is held while the source
         * reads (it takes its own, and wakes come from under the source's locks). */
        pthread_mutex_lock(&c->lock);
        int aborted = c->pull_abort, stopping = c->stop_requested;
        c->pull_wake = 0;
        pthread_mutex_unlock(&c->lock);
        if (aborted) return MHD_CONTENT_READER_END_WITH_ERROR;
        long n = c->pull_ops->read(c->pull_src, out, max);
        if (n > 0) {
            c->streamed += (uint64_t)n;
            return (ssize_t)n;
        }
        if (n == HTTP_PULL_END) return MHD_CONTENT_READER_END_OF_STREAM;
        if (n == HTTP_PULL_PARKED) {
            /* The source may be mid-chunk: a last chunk now would corrupt the body. */
            if (stopping) return MHD_CONTENT_READER_END_WITH_ERROR;
        } else if (n < 0) {
            return MHD_CONTENT_READER_END_WITH_ERROR;
        } else if (stopping) {
            return MHD_CONTENT_READER_END_OF_STREAM;
        } else if (c->pull_park) {
            /* At a chunk boundary with nothing buffered (libmicrohttpd asks for more only
             * once the previous chunk is sent): the source may take the socket from here. */
            int r = c->pull_ops->park(c->pull_src);
            if (r < 0) continue;
            c->pull_park = 0;
        }
        pthread_mutex_lock(&c->lock);
        if (!c->pull_wake && !c->stop_requested) {
            c->suspended = 1;
            MHD_suspend_connection(c->conn);
            pthread_mutex_unlock(&c->lock);
            return 0;
        }
        pthread_mutex_unlock(&c->lock);
    }
}

/* ---- response assembly ---------------------------------------------------------------- */

static int origin_allowed(http_server *s, const char *origin, const char **acao)
{
    for (int i = 0; i < s->n_cors_origins; i++) {
        if (strcmp(s->cors_origins[i], "*") == 0) {
            *acao = "*";
            return 1;
        }
        if (strcmp(s->cors_origins[i], origin) == 0) {
            *acao = origin;
            return 1;
        }
    }
    return 0;
}

static void add_cors(conn_ctx *c, struct MHD_Response *r)
{
    http_server *s = c->srv;
    const char *origin, *acao;
    if (!s->n_cors_origins || !(origin = http_req_header(&c->req, "Origin"))) return;
    if (!origin_allowed(s, origin, &acao)) return;
    MHD_add_response_header(r, "Access-Control-Allow-Origin", acao);
    if (acao != (const char *)"*") MHD_add_response_header(r, "Vary", "Origin");
    MHD_add_response_header(r, "Access-Control-Expose-Headers",
                            "X-Request-ID, Retry-After, Content-Encoding");
}

static int accepts_gzip(conn_ctx *c)
{
    const char *ae = http_req_header(&c->req, "Accept-Encoding");
    if (!ae) return 0;
    const char *g = strcasestr(ae, "gzip");
    if (!g) return 0;
    const char *q = strchr(g, ';');
    const char *comma = strchr(g, ',');
    if (q && (!comma || q < comma)) {
        while (*++q == ' ') {
        }
        if (strncmp(q, "q=0", 3) == 0 && (q[3] == 0 || q[3] == ',' || strncmp(q + 3, ".0", 2) == 0))
            return 0;
    }
    return 1;
}

static enum MHD_Result send_response(conn_ctx *c, http_resp *resp)
{
    struct MHD_Response *r;
    const char *encoding = NULL;
    if (!resp->status) http_resp_error(resp, 500, "internal_error", "handler produced no response");

    if (resp->stream && c->pull_ops) {
        atomic_fetch_add(&c->refs, 1);
        /* Small blocks: events are small and thousands of these may be open. libmicrohttpd
         * callocs the block with each response (measured: 4 KiB cost 3.6 KB of RSS per
         * stream), and a chunked (HTTP/1.1) body is read straight into the connection's
         * write buffer anyway: the block only bounds reads of an HTTP/1.0 stream. */
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 512, pull_reader, c, stream_free);
        if (!r) {
            atomic_fetch_sub(&c->refs, 1);
            return MHD_NO;
        }
        /* Idle is normal for these; the source judges silent readers. */
        MHD_set_connection_option(c->conn, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
        /* Direct writes need the chunked framing libmicrohttpd uses for an unsized HTTP/1.1
         * body, and a socket it does not wrap in TLS; HEAD never reads. */
        const char *cert = c->srv->opt.tls_cert_file;
        c->pull_park =
            c->pull_ops->park && c->http11 && c->req.method == HTTP_GET && !(cert && cert[0]);
        pthread_mutex_lock(&c->lock);
        c->pull_started = 1;
        pthread_mutex_unlock(&c->lock);
    } else if (resp->stream) {
        atomic_fetch_add(&c->refs, 1);
        r = MHD_create_response_from_callback(c->sized ? c->size : MHD_SIZE_UNKNOWN, 64 * 1024,
                                              stream_reader, c, stream_free);
        if (!r) {
            atomic_fetch_sub(&c->refs, 1);
            return MHD_NO;
        }
        const char *cert = c->srv->opt.tls_cert_file;
        c->direct_ok = !c->sized && c->http11 && c->req.method != HTTP_HEAD && !(cert && cert[0]);
    } else {
        if (resp->json) {
            if (resp->is_error && json_is_object(resp->json))
                json_object_set_new(resp->json, "request_id", json_string(c->req.request_id));
            char *body = json_dumps(resp->json, JSON_COMPACT | JSON_PRESERVE_ORDER);
            json_decref(resp->json);
            resp->json = NULL;
            if (!body)
                body = strdup(
                    "{\"detail\":\"response not serialisable\",\"error\":\"internal_error\"}");
            free(resp->body);
            resp->body = body;
            resp->body_len = body ? strlen(body) : 0;
        }
        if (c->srv->opt.gzip_enabled && !resp->no_gzip &&
            resp->body_len >= c->srv->opt.gzip_min_size && resp->body_len > 0 && accepts_gzip(c)) {
            char *z;
            size_t zlen;
            if (http_gzip(resp->body, resp->body_len, &z, &zlen) == 0) {
                free(resp->body);
                resp->body = z;
                resp->body_len = zlen;
                encoding = "gzip";
            }
        }
        r = MHD_create_response_from_buffer(resp->body_len, resp->body, MHD_RESPMEM_MUST_FREE);
        if (!r) return MHD_NO;
        resp->body = NULL; /* MHD owns it now */
        resp->body_len = 0;
    }
    if (resp->content_type) MHD_add_response_header(r, "Content-Type", resp->content_type);
    if (encoding) {
        MHD_add_response_header(r, "Content-Encoding", encoding);
        MHD_add_response_header(r, "Vary", "Accept-Encoding");
    }
    MHD_add_response_header(r, "X-Request-ID", c->req.request_id);
    for (int i = 0; i < resp->nheaders; i++)
        MHD_add_response_header(r, resp->headers[i].name, resp->headers[i].value);
    add_cors(c, r);
    enum MHD_Result rc = MHD_queue_response(c->conn, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    c->state = ST_DONE;
    return rc;
}

/* ---- dispatch ------------------------------------------------------------------------- */

static void run_job(void *arg)
{
    conn_ctx *c = arg;
    log_set_request_id(c->req.request_id);
    c->req.route->fn(&c->req, &c->resp);
    log_set_request_id(NULL);
    if (c->resp.stream && !c->pull_ops) {
        stream_close(c);
    } else {
        pthread_mutex_lock(&c->lock);
        c->ready = 1;
        ctx_resume_locked(c);
        pthread_mutex_unlock(&c->lock);
    }
    ctx_release(c);
}

static void set_overloaded(http_resp *resp)
{
    http_resp_error(resp, 503, "overloaded",
                    "server is busy: the worker queue is full, retry shortly");
    http_resp_header(resp, "Retry-After", "1");
}

static enum MHD_Result preflight(conn_ctx *c, int allowed)
{
    http_server *s = c->srv;
    char allow[128];
    router_allow_header(allowed | HTTP_OPTIONS, allow, sizeof(allow));
    http_resp_bytes(&c->resp, 204, NULL, NULL, 0);
    http_resp_header(&c->resp, "Allow", allow);
    const char *origin = http_req_header(&c->req, "Origin"), *acao;
    const char *want = http_req_header(&c->req, "Access-Control-Request-Method");
    if (s->n_cors_origins && origin && want && origin_allowed(s, origin, &acao)) {
        http_resp_header(&c->resp, "Access-Control-Allow-Methods", s->opt.cors_methods);
        const char *hdrs = s->opt.cors_headers;
        if (strcmp(hdrs, "*") == 0) {
            const char *asked = http_req_header(&c->req, "Access-Control-Request-Headers");
            hdrs = asked ? asked : "*";
        }
        http_resp_header(&c->resp, "Access-Control-Allow-Headers", hdrs);
        http_resp_header(&c->resp, "Access-Control-Max-Age", "600");
    }
    return send_response(c, &c->resp);
}

static enum MHD_Result dispatch(conn_ctx *c)
{
    const http_route *route = c->req.route;
    int inline_ok = (route->flags & ROUTE_INLINE) ||
                    ((route->flags & ROUTE_INLINE_SMALL) && c->req.body_len <= 64 * 1024);
    if (inline_ok) {
        log_set_request_id(c->req.request_id);
        route->fn(&c->req, &c->resp);
        log_set_request_id(NULL);
        return send_response(c, &c->resp);
    }
    c->state = ST_DISPATCHED;
    atomic_fetch_add(&c->refs, 1);
    pthread_mutex_lock(&c->lock);
    c->suspended = 1;
    MHD_suspend_connection(c->conn);
    pthread_mutex_unlock(&c->lock);
    pool_t *pool = c->srv->opt.pool;
    if ((route->flags & ROUTE_CONTROL) && c->srv->opt.control_pool) pool = c->srv->opt.control_pool;
    if (pool_submit(pool, run_job, c) != 0) {
        atomic_fetch_sub(&c->refs, 1);
        set_overloaded(&c->resp);
        pthread_mutex_lock(&c->lock);
        c->ready = 1;
        ctx_resume_locked(c);
        pthread_mutex_unlock(&c->lock);
    }
    return MHD_YES;
}

static int spool_open(conn_ctx *c)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/upload-%s.tmp", c->srv->opt.spool_dir, c->req.request_id);
    /* The request id may come from the client: make the file name ours alone. */
    char rnd[33];
    ids_request_id(rnd);
    snprintf(path, sizeof(path), "%s/upload-%s.tmp", c->srv->opt.spool_dir, rnd);
    c->body_fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (c->body_fd < 0) return -1;
    c->req.body_path = strdup(path);
    return c->req.body_path ? 0 : -1;
}

static void sockaddr_text(const struct sockaddr *sa, char *out, size_t len)
{
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)len);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)len);
}

static void begin_request(conn_ctx *c, const char *url, const char *method)
{
    http_server *s = c->srv;
    http_req *req = &c->req;
    req->method_str = method;
    req->method = http_method_bit(method);
    req->path = url;
    const char *rid = http_req_header(req, "X-Request-ID");
    if (rid && ids_request_id_sane(rid))
        snprintf(req->request_id, sizeof(req->request_id), "%s", rid);
    else
        ids_request_id(req->request_id);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr)
        sockaddr_text(ci->client_addr, req->client_ip, sizeof(req->client_ip));

    int allowed = 0;
    if (s->guard && guard_over_limit(s->guard, c->guard)) {
        http_resp_error(&c->resp, 429, "too_many_connections",
                        "too many connections from %s (HTTP_MAX_CONNECTIONS_PER_IP) or in total "
                        "(HTTP_MAX_CONNECTIONS)",
                        req->client_ip);
        http_resp_header(&c->resp, "Connection", "close");
        http_resp_header(&c->resp, "Retry-After", "1");
        c->early = 1;
        return;
    }
    if (atomic_load(&s->quiescing)) {
        /* Keep-alive clients would otherwise keep the drain busy forever. */
        http_resp_error(&c->resp, 503, "shutting_down", "the server is shutting down");
        http_resp_header(&c->resp, "Connection", "close");
        http_resp_header(&c->resp, "Retry-After", "1");
        c->early = 1;
        return;
    }
    if (!req->method) {
        http_resp_error(&c->resp, 405, "method_not_allowed", "method %s is not supported", method);
        http_resp_header(&c->resp, "Allow", "GET, HEAD, POST, PUT, DELETE, OPTIONS");
        c->early = 1;
        return;
    }
    req->route = router_match(s->routes, s->nroutes, url, req->method, req, &allowed);
    if (!req->route) {
        if (req->method == HTTP_OPTIONS && allowed) {
            c->early = 2;             /* preflight or plain OPTIONS */
            c->resp.status = allowed; /* stash the methods for preflight() */
            return;
        }
        if (allowed) {
            char allow[128];
            router_allow_header(allowed | HTTP_OPTIONS, allow, sizeof(allow));
            http_resp_error(&c->resp, 405, "method_not_allowed",
                            "method %s is not allowed on %s; allowed: %s", method, url, allow);
            http_resp_header(&c->resp, "Allow", allow);
        } else {
            http_resp_error(&c->resp, 404, "not_found", "no route for %s %s", method, url);
        }
        c->early = 1;
        return;
    }
    /* Before any body byte: an unauthenticated upload is refused, not stored. */
    if (s->opt.authorize && s->opt.authorize(s->opt.app, req, &c->resp)) {
        c->early = 1;
        return;
    }
    c->body_limit = s->opt.max_body_size;
    if (req->route->body_limit_var && s->opt.body_limit)
        c->body_limit = s->opt.body_limit(s->opt.app, req->route->body_limit_var);
    const char *cl = http_req_header(req, "Content-Length");
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno || *end || n > c->body_limit) {
            http_resp_error(&c->resp, 413, "payload_too_large",
                            "request body of %s bytes exceeds the limit of %llu bytes", cl,
                            (unsigned long long)c->body_limit);
            c->early = 1;
            return;
        }
    }
    if (req->route->flags & ROUTE_BODY_STREAM) {
        c->in_ring = malloc(BODY_RING_CAPACITY);
        if (!c->in_ring) {
            http_resp_error(&c->resp, 503, "overloaded", "out of memory for the upload");
            c->early = 1;
        }
    } else if (req->route->flags & ROUTE_SPOOL) {
        if (spool_open(c)) {
            http_resp_error(&c->resp, 507, "insufficient_storage",
                            "cannot create a temporary file for the upload");
            c->early = 1;
        }
    } else {
        buf_init(&req->body, c->body_limit);
    }
}

static int take_body(conn_ctx *c, const char *data, size_t size)
{
    c->req.body_len += size;
    if (c->req.body_len > c->body_limit) {
        http_resp_error(&c->resp, 413, "payload_too_large",
                        "request body exceeds the limit of %llu bytes",
                        (unsigned long long)c->body_limit);
        return -1;
    }
    if (c->body_fd >= 0) {
        while (size) {
            ssize_t w = write(c->body_fd, data, size);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                http_resp_error(&c->resp, 507, "insufficient_storage",
                                "cannot store the upload: %s", strerror(errno));
                return -1;
            }
            data += w;
            size -= (size_t)w;
        }
        return 0;
    }
    if (buf_append(&c->req.body, data, size)) {
        http_resp_error(&c->resp, 413, "payload_too_large", "request body too large");
        return -1;
    }
    return 0;
}

/* Resumed by http_server_stop while the worker still runs: the worker owns c->resp, so the
 * goodbye goes out in a response of its own. */
static enum MHD_Result send_goodbye(conn_ctx *c)
{
    http_resp bye;
    memset(&bye, 0, sizeof(bye));
    http_resp_error(&bye, 503, "shutting_down", "the server stopped before the request finished");
    enum MHD_Result rc = send_response(c, &bye);
    http_resp_clear(&bye);
    c->resp.status = 503;
    return rc;
}

/* ROUTE_BODY_STREAM: the handler goes to the pool before the body, which it then reads with
 * http_req_body_read. The connection is not parked: MHD keeps feeding body_stream_step. */
static void body_stream_start(conn_ctx *c)
{
    pool_t *pool = c->srv->opt.pool;
    c->state = ST_STREAMING;
    atomic_fetch_add(&c->refs, 1);
    if (pool_submit(pool, run_job, c) != 0) {
        atomic_fetch_sub(&c->refs, 1);
        set_overloaded(&c->resp);
        c->early = 1;
        c->state = ST_BODY;
    }
}

/* One call of MHD's for a streamed body: bytes go into the ring (the connection parks while
 * it is full and the handler's next read resumes it); at the end of the body the answer goes
 * out once the handler has one. After the handler answered, or the body passed its limit,
 * the rest is read and dropped, as for early answers. */
static enum MHD_Result body_stream_step(conn_ctx *c, const char *data, size_t *size)
{
    int stopping = atomic_load(&c->srv->stopping);
    pthread_mutex_lock(&c->lock);
    int ready = c->ready;
    if (*size) {
        size_t n = *size;
        if (ready || c->in_err || (stopping && !ready)) {
            *size = 0;
            c->discarded += n;
            pthread_mutex_unlock(&c->lock);
            if (ready && c->discarded > DISCARD_LIMIT) return send_response(c, &c->resp);
            return MHD_YES;
        }
        if (c->req.body_len + n > c->body_limit) {
            c->in_err = HTTP_BODY_TOO_LARGE;
            *size = 0;
            c->discarded += n;
            pthread_cond_broadcast(&c->cond);
            pthread_mutex_unlock(&c->lock);
            return MHD_YES;
        }
        size_t room = BODY_RING_CAPACITY - c->in_len;
        size_t take = n < room ? n : room;
        size_t tail = (c->in_head + c->in_len) % BODY_RING_CAPACITY;
        size_t first = BODY_RING_CAPACITY - tail;
        if (first > take) first = take;
        memcpy(c->in_ring + tail, data, first);
        memcpy(c->in_ring, data + first, take - first);
        c->in_len += take;
        c->req.body_len += take;
        *size = n - take;
        if (take) pthread_cond_broadcast(&c->cond);
        if (*size) { /* full: park until the handler reads */
            c->suspended = 1;
            MHD_suspend_connection(c->conn);
        }
        pthread_mutex_unlock(&c->lock);
        return MHD_YES;
    }
    c->in_eof = 1;
    pthread_cond_broadcast(&c->cond);
    if (!ready && !stopping) { /* run_job resumes the connection with the answer */
        c->suspended = 1;
        MHD_suspend_connection(c->conn);
    }
    pthread_mutex_unlock(&c->lock);
    if (ready) return send_response(c, &c->resp);
    return stopping ? send_goodbye(c) : MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    http_server *s = cls;
    conn_ctx *c = *con_cls;
    if (!c) {
        c = calloc(1, sizeof(*c));
        if (!c) return MHD_NO;
        c->srv = s;
        c->conn = conn;
        c->body_fd = -1;
        c->req.conn = conn;
        c->req.app = s->opt.app;
        c->req.start_ns = clock_mono_ns();
        c->http11 = strcmp(version, "HTTP/1.1") == 0;
        atomic_init(&c->refs, 1);
        pthread_mutex_init(&c->lock, NULL);
        pthread_cond_init(&c->cond, NULL);
        *con_cls = c;
        atomic_fetch_add(&s->inflight, 1);
        pthread_mutex_lock(&s->list_lock);
        c->next = s->live;
        if (s->live) s->live->prev = c;
        s->live = c;
        pthread_mutex_unlock(&s->list_lock);
        if (s->guard) {
            const union MHD_ConnectionInfo *si =
                MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
            c->guard = si ? si->socket_context : NULL;
            guard_headers_done(s->guard, c->guard);
        }
        begin_request(c, url, method);
        c->state = ST_BODY;
        if (!c->early && (c->req.route->flags & ROUTE_BODY_STREAM)) body_stream_start(c);
        /* Queuing in this first call makes MHD 0.9.75 close keep-alive connections. */
        return MHD_YES;
    }
    if (c->state == ST_DONE) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (c->state == ST_DISPATCHED) {
        pthread_mutex_lock(&c->lock);
        int ready = c->ready;
        pthread_mutex_unlock(&c->lock);
        if (ready) return send_response(c, &c->resp);
        if (!atomic_load(&s->stopping)) return MHD_YES;
        return send_goodbye(c);
    }
    if (c->state == ST_STREAMING) return body_stream_step(c, upload_data, upload_data_size);
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (c->early) {
            /* Read and drop the body so that the client gets the answer on a healthy
             * connection; past a few MiB, answer now and let the connection close. */
            c->discarded += n;
            if (c->early == 1 && c->discarded > DISCARD_LIMIT) return send_response(c, &c->resp);
            return MHD_YES;
        }
        if (take_body(c, upload_data, n)) {
            c->early = 1;
            c->discarded = n;
        }
        return MHD_YES;
    }
    if (c->early == 2) return preflight(c, c->resp.status);
    if (c->early) return send_response(c, &c->resp);
    if (c->body_fd >= 0) {
        close(c->body_fd);
        c->body_fd = -1;
    }
    return dispatch(c);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    http_server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *ai =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        char ip[64] = "";
        if (ai && ai->client_addr) sockaddr_text(ai->client_addr, ip, sizeof(ip));
        *socket_context = ci ? guard_open(s->guard, ci->connect_fd, ip) : NULL;
    } else {
        guard_close(s->guard, *socket_context);
        *socket_context = NULL;
    }
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    http_server *s = cls;
    conn_ctx *c = *con_cls;
    (void)conn;
    if (!c) return;
    *con_cls = NULL;
    uint64_t ns = clock_mono_ns() - c->req.start_ns;
    int status = c->resp.status;
    if (c->early == 2) status = 204;
    if (s->opt.on_complete) s->opt.on_complete(s->opt.app, &c->req, status, ns);
    if (s->opt.on_finish) s->opt.on_finish(s->opt.app, &c->req, status);
    if (s->guard) guard_request_done(s->guard, c->guard);
    if (s->opt.access_log && log_enabled(LOG_INFO)) {
        json_t *f = json_pack("{s:s, s:s, s:s, s:s, s:i, s:f, s:s, s:b}", "request_id",
                              c->req.request_id, "method", c->req.method_str, "path", c->req.path,
                              "route", c->req.route ? c->req.route->pattern : "", "status", status,
                              "duration_ms", (double)ns / 1e6, "client", c->req.client_ip,
                              "completed", toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
        if (f && c->resp.stream)
            json_object_set_new(f, "streamed_bytes", json_integer((json_int_t)c->streamed));
        if (f)
            log_json(LOG_INFO, "request", f);
        else /* a path or method that is not UTF-8 cannot be a JSON string */
            log_msg(LOG_INFO, "request", "request_id", c->req.request_id, "path",
                    "(not valid UTF-8)", (const char *)0);
        json_decref(f);
    }
    /* MHD reads no more from a finished request: the source may let go of its handle. */
    if (c->pull_ops) c->pull_ops->done(c->pull_src, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
    pthread_mutex_lock(&c->lock);
    c->gone = 1;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    pthread_mutex_lock(&s->list_lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->live = c->next;
    if (c->next) c->next->prev = c->prev;
    pthread_mutex_unlock(&s->list_lock);
    atomic_fetch_sub(&s->inflight, 1);
    ctx_release(c);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = 0;
    log_msg(LOG_DEBUG, msg, "component", "libmicrohttpd", (const char *)0);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    buf_t b;
    buf_init(&b, 1 << 20);
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        if (buf_append(&b, tmp, n)) break;
    fclose(f);
    return buf_steal(&b, NULL);
}

http_server *http_server_start(const http_options *opt, const http_route *routes, size_t nroutes,
                               char *err, size_t errlen)
{
    http_server *s = calloc(1, sizeof(*s));
    char *cert = NULL, *key = NULL;
    struct addrinfo *ai = NULL;
    if (!s) return NULL;
    s->opt = *opt;
    pthread_mutex_init(&s->list_lock, NULL);
    s->routes = routes;
    s->nroutes = nroutes;
    if (opt->cors_origins)
        s->n_cors_origins = strlist_split(opt->cors_origins, &s->cors_store, s->cors_origins, 128);

    struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM};
    char port[16];
    snprintf(port, sizeof(port), "%d", opt->port);
    int gai = getaddrinfo(opt->host, port, &hints, &ai);
    if (gai) {
        snprintf(err, errlen, "cannot resolve HOST=%s: %s", opt->host, gai_strerror(gai));
        goto fail;
    }
    unsigned flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    struct MHD_OptionItem ops[24];
    int no = 0;
    ops[no++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, ai->ai_addr};
    ops[no++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s};
    if (opt->header_timeout > 0) {
        s->guard = guard_start(opt->header_timeout, (double)opt->connection_timeout);
        if (!s->guard) {
            snprintf(err, errlen, "cannot start the slow-client guard");
            goto fail;
        }
        guard_limits(s->guard, opt->max_connections, opt->max_connections_per_ip);
        ops[no++] =
            (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, s};
    }
    /* With the guard on, its caps answer 429; MHD's own, a little higher, only stop floods. */
    unsigned hard_total = opt->max_connections, hard_ip = opt->max_connections_per_ip;
    if (opt->header_timeout > 0) {
        hard_total += hard_total / 10 + 16;
        if (hard_ip) hard_ip += hard_ip / 2 + 8;
    }
    ops[no++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, hard_total, NULL};
    ops[no++] =
        (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, opt->connection_timeout, NULL};
    ops[no++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL};
    /* Each connection's pool holds its request line and headers and its write buffer: 16 KiB
     * caps headers and URL (a larger request is refused by libmicrohttpd with 431/414) and
     * keeps 10,000 idle event streams affordable. */
    ops[no++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT, 16 * 1024, NULL};
    /* MHD's per-address cap only resets connections; when the guard runs it answers 429. */
    if (opt->max_connections_per_ip && opt->header_timeout <= 0)
        ops[no++] = (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT, hard_ip, NULL};
    if (opt->threads > 1)
        ops[no++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, opt->threads, NULL};
    if (opt->tls_cert_file && opt->tls_cert_file[0]) {
        cert = read_file(opt->tls_cert_file);
        key = read_file(opt->tls_key_file);
        if (!cert || !key || !cert[0] || !key[0]) {
            snprintf(err, errlen, "cannot read SECURITY_TLS_CERT_FILE or SECURITY_TLS_KEY_FILE");
            goto fail;
        }
        flags |= MHD_USE_TLS;
        ops[no++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, cert};
        ops[no++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, key};
    }
    ops[no++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    s->d = MHD_start_daemon(flags, (uint16_t)opt->port, NULL, NULL, on_request, s, MHD_OPTION_ARRAY,
                            ops, MHD_OPTION_END);
    if (!s->d) {
        snprintf(err, errlen, "cannot listen on %s:%d: %s", opt->host, opt->port,
                 errno ? strerror(errno) : "libmicrohttpd refused the options");
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : opt->port;
    freeaddrinfo(ai);
    free(cert);
    free(key);
    return s;
fail:
    if (ai) freeaddrinfo(ai);
    free(cert);
    free(key);
    guard_stop(s->guard);
    free(s->cors_store);
    free(s);
    return NULL;
}

int http_server_port(const http_server *s)
{
    return s->port;
}

void http_server_quiesce(http_server *s)
{
    if (atomic_exchange(&s->quiescing, 1)) return;
    MHD_socket fd = MHD_quiesce_daemon(s->d);
    if (fd != MHD_INVALID_SOCKET) close(fd);
}

unsigned http_server_inflight(const http_server *s)
{
    return atomic_load(&s->inflight);
}

/* MHD refuses to stop while connections are suspended, so every parked request is woken
 * first: streams end, requests still on a worker get a 503 of their own. */
static void wake_all(http_server *s)
{
    pthread_mutex_lock(&s->list_lock);
    for (conn_ctx *c = s->live; c; c = c->next) {
        pthread_mutex_lock(&c->lock);
        if (c->suspended) {
            c->suspended = 0;
            MHD_resume_connection(c->conn);
        }
        c->stop_requested = 1;
        pthread_cond_broadcast(&c->cond);
        pthread_mutex_unlock(&c->lock);
    }
    pthread_mutex_unlock(&s->list_lock);
}

void http_server_stop(http_server *s)
{
    if (!s) return;
    atomic_store(&s->stopping, 1);
    for (int i = 0; i < 150; i++) {
        wake_all(s);
        if (!atomic_load(&s->inflight)) break;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(s->d);
    guard_stop(s->guard); /* after MHD: every connection has said goodbye */
    pthread_mutex_destroy(&s->list_lock);
    free(s->cors_store);
    free(s);
}
