/* HTTP core: a libmicrohttpd server with a router, a worker pool hand-off, JSON errors,
 * request ids, limits, CORS, gzip and chunked streaming with back-pressure.
 * It knows no subsystem: handlers are registered by main through api/. */
#ifndef DLB_HTTP_H
#define DLB_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

struct json_t;

enum {
    HTTP_GET = 1,
    HTTP_HEAD = 2,
    HTTP_POST = 4,
    HTTP_PUT = 8,
    HTTP_DELETE = 16,
    HTTP_OPTIONS = 32,
    HTTP_PATCH = 64,
};

/* Route flags. */
#define ROUTE_INLINE       1 /* runs on the HTTP thread: must never block */
#define ROUTE_SPOOL        2 /* the body is written to a temporary file as it arrives */
#define ROUTE_STREAM       4 /* the response may be a long-lived stream (no gzip, no timeout) */
#define ROUTE_INLINE_SMALL 8 /* inline when the body is at most 64 KiB, else on the pool */
#define ROUTE_CONTROL                                                                              \
    16 /* on the small control pool: health and admin never queue                                  \
           behind data work */
#define ROUTE_BODY_STREAM                                                                          \
    32 /* the handler runs on the pool as soon as the headers are in and reads the body            \
           with http_req_body_read while it arrives; its response must not be a stream */

#define HTTP_MAX_PARAMS 8

typedef struct http_req http_req;
typedef struct http_resp http_resp;
typedef struct http_stream http_stream;
typedef void (*http_handler_fn)(http_req *req, http_resp *resp);

typedef struct {
    int methods;         /* HTTP_GET | HTTP_POST ... (GET implies HEAD) */
    const char *pattern; /* "/tables/{name}/query"; "{object*}" takes the rest of the path */
    http_handler_fn fn;
    int flags;
    const char *role;           /* "public", "reader", "writer" or "admin" */
    const char *body_limit_var; /* NULL: HTTP_MAX_BODY_SIZE; else a larger limit's name */
} http_route;

struct http_req {
    int method;
    const char *method_str;
    const char *path;
    const http_route *route;
    int nparams;
    const char *param_names[HTTP_MAX_PARAMS];
    char *param_values[HTTP_MAX_PARAMS];
    char request_id[132];
    char client_ip[64];
    buf_t body;        /* in-memory body (routes without ROUTE_SPOOL) */
    char *body_path;   /* spooled body file (ROUTE_SPOOL), removed after the request */
    uint64_t body_len; /* bytes received */
    uint64_t start_ns;
    void *app;  /* what http_server_start was given */
    void *conn; /* the MHD connection (opaque) */
    void *user; /* for later layers (auth principal) */
};

typedef struct {
    char *name, *value;
} http_header;

struct http_resp {
    int status;
    const char *content_type;
    char *body;
    size_t body_len;
    int nheaders;
    http_header headers[16];
    struct json_t *json; /* serialised when sent; errors get request_id added then */
    int is_error;
    http_stream *stream; /* set by http_resp_stream */
    int no_gzip;
};

/* Request accessors. Header names are case-insensitive. NULL when absent. */
const char *http_req_header(const http_req *req, const char *name);
const char *http_req_query(const http_req *req, const char *name);
const char *http_req_param(const http_req *req, const char *name);
/* Parses the in-memory body as JSON. On failure answers 400 (naming line, column and the
 * problem) into resp and returns NULL. The returned value belongs to the caller. */
struct json_t *http_req_json(http_req *req, http_resp *resp);

/* ROUTE_BODY_STREAM handlers: copies up to max bytes of the body into out, blocking until
 * some arrive (the client is held back while the handler is behind: memory stays bounded).
 * 0 at the end of the body; HTTP_BODY_TOO_LARGE once it passes the route's limit (nothing
 * more is read); HTTP_BODY_GONE when the client went away or the server is stopping. */
#define HTTP_BODY_GONE      (-1)
#define HTTP_BODY_TOO_LARGE (-2)
long http_req_body_read(http_req *req, void *out, size_t max);
/* The body limit that applies to req (HTTP_MAX_BODY_SIZE or the route's own). */
uint64_t http_req_body_limit(const http_req *req);

/* Response builders. Each replaces what was set before. */
void http_resp_json(http_resp *resp, int status, struct json_t *body); /* steals body */
void http_resp_bytes(http_resp *resp, int status, const char *ctype, char *data,
                     size_t len); /* steals data (malloc'd) */
void http_resp_error(http_resp *resp, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void http_resp_header(http_resp *resp, const char *name, const char *value);
/* Frees what the response holds (used by the server; handlers need not call it). */
void http_resp_clear(http_resp *resp);

/* Starts a chunked response; the handler then writes with http_stream_write and returns
 * when done (the stream ends then). Only from handlers running on the worker pool. */
http_stream *http_resp_stream(http_req *req, http_resp *resp, int status, const char *ctype);
/* Blocks while the client is behind (back-pressure). -1 once the client is gone. */
int http_stream_write(http_stream *s, const void *data, size_t len);
/* Ends the stream as broken (no final chunk), e.g. when a query fails after its first bytes
 * went out: the client sees a cut transfer rather than a short, complete-looking answer. */
void http_stream_abort(http_stream *s);
/* Like http_resp_stream for a body whose length is known (downloads): the answer carries
 * Content-Length instead of chunked framing. The handler writes exactly length bytes; if it
 * stops short the connection is cut, so the client sees the truncation. For HEAD nothing is
 * written: the headers (with the length) are the whole answer. */
http_stream *http_resp_stream_sized(http_req *req, http_resp *resp, int status, const char *ctype,
                                    uint64_t length);

/* Pull streams, for long-lived responses with many idle readers (Server-Sent Events):
 * no thread is held per stream. Whenever the socket can take more, the HTTP thread asks
 * the source for bytes; when it has none the connection is parked (suspended) until the
 * source calls http_pull_wake. Only for ROUTE_INLINE handlers; such responses have no
 * idle timeout (the source decides when a silent reader is dead). */
#define HTTP_PULL_END    (-1) /* read: finish the response cleanly */
#define HTTP_PULL_ABORT  (-2) /* read: cut the connection */
#define HTTP_PULL_PARKED (-3) /* read: the source writes to the socket itself (park) */
typedef struct http_pull http_pull;
typedef struct {
    /* Copies up to max bytes into out and returns the count; 0 when nothing is ready now
     * (the connection parks until http_pull_wake), or HTTP_PULL_END / HTTP_PULL_ABORT.
     * Runs on an HTTP thread: must never block. */
    long (*read)(void *src, char *out, size_t max);
    /* Called exactly once when the request is over, after the last read and with no lock of
     * the server held; ok is 1 when the response ended normally. After it returns the
     * source must not use the http_pull handle again. */
    void (*done)(void *src, int ok);
    /* Optional. Offered once, when a read found nothing and the response is an HTTP/1.1
     * chunked body on a plain (not TLS) socket, with nothing of it left in the server's
     * buffers: 1 when the source takes over writing chunks (<hex length>\r\n<bytes>\r\n)
     * to the socket while the connection stays parked; it then calls http_pull_wake (at a
     * chunk boundary; reads resume) or http_pull_abort to end it, and reads return
     * HTTP_PULL_PARKED meanwhile. 0: never; -1: not now, read again. */
    int (*park)(void *src);
} http_pull_ops;

/* The handle of req's future pull stream: available before http_resp_pull so that the
 * source can be registered (and woken) before the response is set. */
http_pull *http_pull_handle(http_req *req);
/* Makes resp a pull stream reading from src with ops (a static table). */
void http_resp_pull(http_req *req, http_resp *resp, int status, const char *ctype,
                    const http_pull_ops *ops, void *src);
/* Any thread, until done has returned: the source has bytes (or wants to end). Cheap when
 * the connection is not parked. */
void http_pull_wake(http_pull *p);
/* Any thread, until done has returned: ends the stream at once, even if the reader has
 * stopped reading (the socket is shut down so that the server notices now). */
void http_pull_abort(http_pull *p);
/* The connection's socket, for keepalive options and liveness polls (-1 if unknown). */
int http_req_socket(const http_req *req);

/* Server. */
typedef struct http_server http_server;

typedef struct {
    const char *host;
    int port;
    int threads;
    unsigned max_connections;
    unsigned max_connections_per_ip;
    unsigned connection_timeout;
    uint64_t max_body_size;
    uint64_t gzip_min_size;
    int gzip_enabled;
    int access_log;
    const char *spool_dir;
    /* CORS (NULL origins = off). Comma lists. */
    const char *cors_origins, *cors_methods, *cors_headers;
    /* TLS: both set to serve HTTPS. */
    const char *tls_cert_file, *tls_key_file;
    struct pool *pool;
    struct pool *control_pool; /* for ROUTE_CONTROL; NULL means the main pool */
    void *app;
    /* Body limit lookup for routes naming body_limit_var. */
    uint64_t (*body_limit)(void *app, const char *var);
    /* Called once per finished request (metrics); may be NULL. */
    void (*on_complete)(void *app, const http_req *req, int status, uint64_t ns);
    /* Called once the route is known, before any body byte is read: 0 lets the request go
     * on; otherwise it has filled resp (401, 403, 429) and the request ends there. May set
     * req->user to a malloc'd principal, freed with the request. NULL: everything passes. */
    int (*authorize)(void *app, http_req *req, http_resp *resp);
    /* Called when a request ends, with its final status (audit trail); may be NULL. */
    void (*on_finish)(void *app, const http_req *req, int status);
    /* Seconds a connection may take to deliver a request's headers (slowloris); 0: no
     * limit beyond connection_timeout. */
    double header_timeout;
} http_options;

http_server *http_server_start(const http_options *opt, const http_route *routes, size_t nroutes,
                               char *err, size_t errlen);
/* The port actually bound (useful with port 0). */
int http_server_port(const http_server *s);
/* Stops accepting new connections; in-flight requests keep running. */
void http_server_quiesce(http_server *s);
/* Requests accepted and not finished. */
unsigned http_server_inflight(const http_server *s);
void http_server_stop(http_server *s);

#endif
