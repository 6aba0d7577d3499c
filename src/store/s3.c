/* The S3 driver: path-style requests (endpoint/bucket/key) signed by libcurl's built-in
 * AWS SigV4 (CURLOPT_AWS_SIGV4). libcurl 7.88 does not send x-amz-content-sha256, which S3
 * and MinIO demand, so every request carries it as a header of ours, and curl signs it with
 * the others: the real SHA-256 for in-memory bodies, UNSIGNED-PAYLOAD for file bodies (their
 * hash would cost a second read of the file; TLS protects them in transit when
 * STORAGE_MINIO_SECURE is on). Transport errors and 5xx answers are retried with
 * exponential backoff and jitter as long as no byte has reached the caller's sink; a circuit
 * breaker turns a dead store into immediate 503s. Easy handles are pooled (one per
 * concurrent call, never shared), so connections are reused across requests. */
#include "s3_internal.h"

#include "s3_xml.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/ids.h"
#include "util/log.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void *store_s3_open(const store_options *opt, store_counters *c, dlb_err *e)
{
    pthread_once(&curl_once, curl_init_once);
    s3_store *s = calloc(1, sizeof(*s));
    if (!s) {
        dlb_err_set(e, 500, "internal_error", "out of memory");
        return NULL;
    }
    const char *ep = opt->endpoint && *opt->endpoint ? opt->endpoint : "localhost:9000";
    int secure = opt->secure;
    if (strncmp(ep, "https://", 8) == 0) {
        secure = 1;
        ep += 8;
    } else if (strncmp(ep, "http://", 7) == 0) {
        secure = 0;
        ep += 7;
    }
    size_t eplen = strcspn(ep, "/");
    snprintf(s->endpoint, sizeof(s->endpoint), "%.*s", (int)eplen, ep);
    snprintf(s->base, sizeof(s->base), "%s://%s", secure ? "https" : "http", s->endpoint);
    snprintf(s->sigv4, sizeof(s->sigv4), "aws:amz:%s:s3",
             opt->region && *opt->region ? opt->region : "us-east-1");
    size_t ul = strlen(opt->access_key ? opt->access_key : "") +
                strlen(opt->secret_key ? opt->secret_key : "") + 2;
    s->userpwd = malloc(ul);
    if (!s->userpwd) {
        free(s);
        dlb_err_set(e, 500, "internal_error", "out of memory");
        return NULL;
    }
    snprintf(s->userpwd, ul, "%s:%s", opt->access_key ? opt->access_key : "",
             opt->secret_key ? opt->secret_key : "");
    s->secure = secure;
    s->sse = opt->sse;
    s->threshold = opt->multipart_threshold ? opt->multipart_threshold : (8u << 20);
    s->part_size = s->threshold > MIN_PART ? s->threshold : MIN_PART;
    s->timeout_ms = (long)((opt->timeout > 0 ? opt->timeout : 300) * 1000);
    s->attempts = opt->attempts > 0 ? opt->attempts : 3;
    s->backoff_base = opt->backoff_base > 0 ? opt->backoff_base : 0.05;
    s->c = c;
    breaker_init(&s->breaker, opt->breaker_failures, opt->breaker_cooldown);
    pthread_mutex_init(&s->lock, NULL);
    return s;
}

static void s3_close(void *d)
{
    s3_store *s = d;
    for (int i = 0; i < s->npool; i++)
        curl_easy_cleanup(s->pool[i]);
    breaker_destroy(&s->breaker);
    pthread_mutex_destroy(&s->lock);
    free(s->userpwd);
    free(s);
}

static CURL *handle_get(s3_store *s)
{
    CURL *h = NULL;
    pthread_mutex_lock(&s->lock);
    if (s->npool) h = s->pool[--s->npool];
    pthread_mutex_unlock(&s->lock);
    return h ? h : curl_easy_init();
}

/* A handle goes back with its connections open; reset clears the options only. */
static void handle_put(s3_store *s, CURL *h)
{
    curl_easy_reset(h);
    pthread_mutex_lock(&s->lock);
    if (s->npool < POOL_MAX) {
        s->pool[s->npool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&s->lock);
    if (h) curl_easy_cleanup(h);
}

/* ---- encoding ------------------------------------------------------------------------- */

/* AWS URI encoding: everything but A-Z a-z 0-9 - _ . ~ is %XX (and '/' too unless keep). */
static int uri_encode(buf_t *b, const char *s, int keep_slash)
{
    static const char hx[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char tmp[3];
        if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~' ||
            (keep_slash && *p == '/')) {
            if (buf_append(b, p, 1)) return -1;
            continue;
        }
        tmp[0] = '%';
        tmp[1] = hx[*p >> 4];
        tmp[2] = hx[*p & 15];
        if (buf_append(b, tmp, 3)) return -1;
    }
    return 0;
}

static void sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char d[32];
    unsigned int dl = 0;
    EVP_Digest(p, n, d, &dl, EVP_sha256(), NULL);
    store_hex(d, 32, out);
}

/* ---- curl callbacks ------------------------------------------------------------------- */

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    s3_call *c = ud;
    size_t len = size * n;
    char line[1024];
    snprintf(line, sizeof(line), "%.*s", (int)(len < sizeof(line) - 1 ? len : sizeof(line) - 1), p);
    line[strcspn(line, "\r\n")] = 0;
    if (strncmp(line, "HTTP/", 5) == 0) { /* a new response (after 100 Continue) */
        const char *sp = strchr(line, ' ');
        c->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        return len;
    }
    char *colon = strchr(line, ':');
    if (!colon) return len;
    *colon = 0;
    char *v = colon + 1;
    while (*v == ' ')
        v++;
    if (strcasecmp(line, "ETag") == 0) {
        size_t vl = strlen(v);
        if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"')
            snprintf(c->info.etag, sizeof(c->info.etag), "%.*s", (int)(vl - 2), v + 1);
        else
            snprintf(c->info.etag, sizeof(c->info.etag), "%s", v);
    } else if (strcasecmp(line, "Content-Length") == 0) {
        c->info.size = strtoull(v, NULL, 10);
    } else if (strcasecmp(line, "Content-Type") == 0) {
        snprintf(c->info.content_type, sizeof(c->info.content_type), "%s", v);
    } else if (strcasecmp(line, "Last-Modified") == 0) {
        struct tm tm = {0};
        if (strptime(v, "%a, %d %b %Y %H:%M:%S", &tm))
            c->info.mtime_ms = (int64_t)timegm(&tm) * 1000;
    } else if (strcasecmp(line, "Content-Range") == 0) {
        unsigned long long a, b, t;
        if (sscanf(v, "bytes %llu-%llu/%llu", &a, &b, &t) == 3) {
            c->has_crange = 1;
            c->crange_first = a;
            c->crange_total = t;
        }
    }
    return len;
}

static int call_begin(s3_call *c)
{
    c->began = 1;
    if (!c->sink->begin) return 0;
    uint64_t length = c->info.size, offset = c->has_crange ? c->crange_first : 0;
    store_object whole = c->info;
    if (c->has_crange) whole.size = c->crange_total;
    return c->sink->begin(c->sink->ctx, &whole, offset, length);
}

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
    s3_call *c = ud;
    size_t len = size * n;
    if (c->sink && c->status >= 200 && c->status < 300) {
        if (!c->began && call_begin(c)) {
            c->sink_failed = 1;
            return 0;
        }
        if (c->sink->data(c->sink->ctx, p, len)) {
            c->sink_failed = 1;
            return 0;
        }
        c->delivered += len;
        return len;
    }
    if (buf_append(&c->body, p, len)) return 0; /* an answer larger than we expect */
    return len;
}

static size_t on_read(char *out, size_t size, size_t n, void *ud)
{
    s3_call *c = ud;
    size_t want = size * n;
    uint64_t left = c->len - c->sent;
    if (want > left) want = (size_t)left;
    if (!want) return 0;
    if (c->fd < 0) { /* a memory body */
        memcpy(out, c->mem + c->sent, want);
        c->sent += want;
        return want;
    }
    for (;;) {
        ssize_t r = pread(c->fd, out, want, (off_t)(c->off + c->sent));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return CURL_READFUNC_ABORT;
        c->sent += (uint64_t)r;
        return (size_t)r;
    }
}

/* A retry re-sends the body from its start. */
static int on_seek(void *ud, curl_off_t offset, int origin)
{
    s3_call *c = ud;
    if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > c->len) return CURL_SEEKFUNC_FAIL;
    c->sent = (uint64_t)offset;
    return CURL_SEEKFUNC_OK;
}

/* Stops a transfer whose caller gave up (an upload abandoned by its client). */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    const s3_call *c = ud;
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    return atomic_load(c->cancel) ? 1 : 0;
}

/* ---- one attempt ---------------------------------------------------------------------- */

static CURLcode perform(s3_store *s, CURL *h, s3_call *c)
{
    buf_t url;
    struct curl_slist *hdrs = NULL;
    char hv[600];
    buf_init(&url, 0);
    buf_appends(&url, s->base);
    buf_appends(&url, "/");
    if (c->bucket) uri_encode(&url, c->bucket, 0);
    if (c->key) {
        buf_appends(&url, "/");
        uri_encode(&url, c->key, 1);
    }
    if (c->query) {
        buf_appends(&url, "?");
        buf_appends(&url, c->query);
    }
    if (!url.data) return CURLE_OUT_OF_MEMORY;

    curl_easy_setopt(h, CURLOPT_URL, url.data);
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, s->sigv4);
    curl_easy_setopt(h, CURLOPT_USERPWD, s->userpwd);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
    /* Downloads are paced by our reader (back-pressure), so they get a stall limit
     * instead of a total one. */
    if (c->sink) {
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
    } else {
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, s->timeout_ms);
    }
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    if (s->secure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    }
    char sha[65];
    if (c->fd >= 0) {
        snprintf(sha, sizeof(sha), "UNSIGNED-PAYLOAD");
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, c);
        curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(h, CURLOPT_SEEKDATA, c);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)c->len);
        curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 512L * 1024);
        c->sent = 0;
    } else if (c->mem) {
        if (strcmp(c->method, "PUT") == 0) {
            /* Parts and small objects from memory; an empty PUT creates a bucket. Hashing
             * megabytes only to sign them would cost more CPU than sending them. */
            if (c->memlen)
                snprintf(sha, sizeof(sha), "UNSIGNED-PAYLOAD");
            else
                snprintf(sha, sizeof(sha), "%s", EMPTY_SHA256);
            curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
            curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)c->memlen);
            c->off = 0;
            c->len = c->memlen;
            c->sent = 0;
            curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
            curl_easy_setopt(h, CURLOPT_READDATA, c);
            curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
            curl_easy_setopt(h, CURLOPT_SEEKDATA, c);
            curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 512L * 1024);
        } else {
            sha256_hex(c->mem, c->memlen, sha);
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->mem);
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->memlen);
        }
    } else {
        snprintf(sha, sizeof(sha), "%s", EMPTY_SHA256);
    }
    if (strcmp(c->method, "HEAD") == 0)
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    else if (strcmp(c->method, "DELETE") == 0)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
    snprintf(hv, sizeof(hv), "x-amz-content-sha256: %s", sha);
    hdrs = curl_slist_append(hdrs, hv);
    if (c->ctype) {
        snprintf(hv, sizeof(hv), "Content-Type: %s", c->ctype);
        hdrs = curl_slist_append(hdrs, hv);
    } else if (c->mem && strcmp(c->method, "POST") == 0) {
        /* curl would send form encoding otherwise */
        hdrs = curl_slist_append(hdrs, "Content-Type: application/xml");
    }
    if (c->range) {
        snprintf(hv, sizeof(hv), "Range: %s", c->range);
        hdrs = curl_slist_append(hdrs, hv);
    }
    if (c->sse) hdrs = curl_slist_append(hdrs, "x-amz-server-side-encryption: AES256");
    /* No "Expect:" to suppress 100-continue: curl 7.88 would sign that empty header (which
     * it never sends) and break the signature. The 100-continue wait is capped instead. */
    curl_easy_setopt(h, CURLOPT_EXPECT_100_TIMEOUT_MS, 200L);
    if (c->cancel) {
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);

    c->status = 0;
    c->began = 0;
    c->has_crange = 0;
    memset(&c->info, 0, sizeof(c->info));
    buf_reset(&c->body);
    CURLcode rc = hdrs ? curl_easy_perform(h) : CURLE_OUT_OF_MEMORY;
    long code = 0;
    if (rc == CURLE_OK && curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK)
        c->status = code;
    curl_slist_free_all(hdrs);
    buf_free(&url);
    return rc;
}

static int transport_retryable(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        return 1;
    default:
        return 0;
    }
}

static void backoff_sleep(const s3_store *s, int attempt)
{
    /* base * 2^(attempt-1), with full jitter between half and the whole of it */
    double d = s->backoff_base * (double)(1u << (attempt - 1));
    unsigned r;
    ids_random(&r, sizeof(r));
    d = d / 2 + d / 2 * ((double)(r % 1000) / 1000.0);
    struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
    nanosleep(&ts, NULL);
}

/* Maps an S3 error answer to ours. */
static void map_error(const s3_store *s, s3_call *c, dlb_err *e)
{
    char code[64] = "", msg[512] = "";
    s3_xml_error(c->body.data, c->body.len, code, sizeof(code), msg, sizeof(msg));
    long st = c->status;
    const char *b = c->bucket ? c->bucket : "", *k = c->key ? c->key : "";
    if (!code[0]) { /* HEAD answers carry no body */
        if (st == 404)
            snprintf(code, sizeof(code), "%s", c->key ? "NoSuchKey" : "NoSuchBucket");
        else if (st == 403)
            snprintf(code, sizeof(code), "AccessDenied");
        else if (st == 416)
            snprintf(code, sizeof(code), "InvalidRange");
    }
    if (strcmp(code, "NoSuchBucket") == 0)
        dlb_err_set(e, 404, "no_such_bucket", "bucket '%s' does not exist", b);
    else if (strcmp(code, "NoSuchKey") == 0)
        dlb_err_set(e, 404, "no_such_key", "object '%s' does not exist in bucket '%s'", k, b);
    else if (strcmp(code, "BucketAlreadyExists") == 0 ||
             strcmp(code, "BucketAlreadyOwnedByYou") == 0)
        dlb_err_set(e, 409, "bucket_exists", "bucket '%s' already exists", b);
    else if (strcmp(code, "BucketNotEmpty") == 0)
        dlb_err_set(e, 409, "bucket_not_empty", "bucket '%s' is not empty", b);
    else if (strcmp(code, "InvalidRange") == 0)
        dlb_err_set(e, 416, "range_not_satisfiable", "the range does not overlap the object");
    else if (strcmp(code, "EntityTooLarge") == 0)
        dlb_err_set(e, 413, "payload_too_large", "the object store refused the size: %s", msg);
    else if (strcmp(code, "InvalidBucketName") == 0)
        dlb_err_set(e, 400, "invalid_bucket_name", "the object store refused bucket '%s': %s", b,
                    msg);
    else if (st == 401 || st == 403 || strcmp(code, "AccessDenied") == 0 ||
             strcmp(code, "SignatureDoesNotMatch") == 0 ||
             strcmp(code, "InvalidAccessKeyId") == 0 ||
             strcmp(code, "AuthorizationHeaderMalformed") == 0 ||
             strcmp(code, "RequestTimeTooSkewed") == 0)
        dlb_err_set(e, 502, "store_access_denied",
                    "the object store at %s refused the request (%s%s%s): check "
                    "STORAGE_MINIO_ACCESS_KEY, STORAGE_MINIO_SECRET_KEY and STORAGE_MINIO_REGION",
                    s->endpoint, code[0] ? code : "HTTP 403", msg[0] ? ": " : "", msg);
    else if (st >= 500)
        dlb_err_set(e, 503, "store_unavailable", "the object store at %s answered %ld%s%s%s%s",
                    s->endpoint, st, code[0] ? " " : "", code, msg[0] ? ": " : "", msg);
    else
        dlb_err_set(e, 502, "store_error", "the object store at %s answered %ld%s%s%s%s",
                    s->endpoint, st, code[0] ? " " : "", code, msg[0] ? ": " : "", msg);
}

/* Runs c with retries and the breaker. 0 on a 2xx answer, else -1 with e set. */
int s3_do(s3_store *s, s3_call *c, dlb_err *e)
{
    dlb_err scratch = {0};
    if (!e) e = &scratch;
    CURL *h = handle_get(s);
    if (!h) {
        dlb_err_set(e, 500, "internal_error", "cannot create a curl handle");
        return -1;
    }
    buf_init(&c->body, c->sink ? ERRBODY_MAX : (c->body_max ? c->body_max : ERRBODY_MAX));
    int rc = -1;
    for (int attempt = 1;; attempt++) {
        int probe;
        uint64_t wait_ms;
        if (breaker_allow(&s->breaker, clock_mono_ns(), &probe, &wait_ms)) {
            atomic_fetch_add(&s->c->fast_fails, 1);
            dlb_err_set(e, 503, "store_unavailable",
                        "the object store at %s is unreachable (circuit open after repeated "
                        "connection failures; next attempt in %llu ms)",
                        s->endpoint, (unsigned long long)wait_ms);
            break;
        }
        CURLcode cr = perform(s, h, c);
        if (c->cancel && atomic_load(c->cancel)) {
            breaker_release(&s->breaker, probe);
            if (!e->status) dlb_err_set(e, 499, "client_gone", "the upload was abandoned");
            break;
        }
        if (c->sink_failed) {
            breaker_release(&s->breaker, probe);
            if (!e->status) dlb_err_set(e, 499, "client_gone", "the reader went away");
            break;
        }
        if (cr != CURLE_OK) {
            int transport = transport_retryable(cr);
            if (transport) {
                if (breaker_failure(&s->breaker, clock_mono_ns(), probe)) {
                    atomic_fetch_add(&s->c->breaker_opens, 1);
                    log_warn("object store unreachable: circuit open", "endpoint", s->endpoint,
                             "error", curl_easy_strerror(cr));
                }
            } else {
                breaker_release(&s->breaker, probe);
            }
            dlb_err_set(e, transport ? 503 : 502, transport ? "store_unavailable" : "store_error",
                        "the object store at %s is unreachable: %s", s->endpoint,
                        curl_easy_strerror(cr));
            if (transport && !c->delivered && attempt < s->attempts) {
                atomic_fetch_add(&s->c->retries, 1);
                /* A kept-alive connection from before an outage fails on first use: the retry
                 * opens a new one instead of trusting the pool again. */
                curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
                backoff_sleep(s, attempt);
                continue;
            }
            break;
        }
        breaker_success(&s->breaker);
        if (c->status >= 200 && c->status < 300) {
            if (c->sink && !c->began && call_begin(c)) { /* an empty object */
                if (!e->status) dlb_err_set(e, 499, "client_gone", "the reader went away");
                break;
            }
            rc = 0;
            break;
        }
        map_error(s, c, e);
        if (c->status >= 500 && !c->delivered && attempt < s->attempts) {
            atomic_fetch_add(&s->c->retries, 1);
            backoff_sleep(s, attempt);
            continue;
        }
        break;
    }
    curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 0L);
    handle_put(s, h);
    return rc;
}

void s3_call_init(s3_call *c, const char *method, const char *bucket, const char *key)
{
    memset(c, 0, sizeof(*c));
    c->method = method;
    c->bucket = bucket;
    c->key = key;
    c->fd = -1;
}

/* ---- buckets -------------------------------------------------------------------------- */

static int s3_bucket_exists(void *d, const char *bucket, dlb_err *e)
{
    s3_call c;
    s3_call_init(&c, "HEAD", bucket, NULL);
    int rc = s3_do(d, &c, e);
    buf_free(&c.body);
    if (rc == 0) return 1;
    return e->status == 404 ? 0 : -1;
}

static int s3_bucket_create(void *d, const char *bucket, dlb_err *e)
{
    /* S3 in us-east-1 answers 200 to its owner re-creating a bucket: ask first. */
    int ex = s3_bucket_exists(d, bucket, e);
    if (ex < 0) return -1;
    if (ex == 1) {
        dlb_err_set(e, 409, "bucket_exists", "bucket '%s' already exists", bucket);
        return -1;
    }
    memset(e, 0, sizeof(*e));
    s3_call c;
    s3_call_init(&c, "PUT", bucket, NULL);
    c.mem = "";
    int rc = s3_do(d, &c, e);
    buf_free(&c.body);
    return rc;
}

static int s3_bucket_delete(void *d, const char *bucket, dlb_err *e)
{
    s3_call c;
    s3_call_init(&c, "DELETE", bucket, NULL);
    int rc = s3_do(d, &c, e);
    buf_free(&c.body);
    return rc;
}

/* ---- objects -------------------------------------------------------------------------- */

static int s3_head(void *d, const char *bucket, const char *key, store_object *out, dlb_err *e)
{
    s3_call c;
    s3_call_init(&c, "HEAD", bucket, key);
    int rc = s3_do(d, &c, e);
    buf_free(&c.body);
    if (rc == 0) {
        *out = c.info;
        out->key = NULL;
        return 0;
    }
    /* A HEAD 404 does not say whether the bucket or the key is missing. */
    if (e->status == 404) {
        dlb_err be = {0};
        if (s3_bucket_exists(d, bucket, &be) == 0)
            dlb_err_set(e, 404, "no_such_bucket", "bucket '%s' does not exist", bucket);
    }
    return -1;
}

static int put_single(s3_store *s, const char *bucket, const char *key, int fd, uint64_t off,
                      uint64_t size, const char *ctype, store_object *out, dlb_err *e)
{
    s3_call c;
    s3_call_init(&c, "PUT", bucket, key);
    c.fd = fd;
    c.off = off;
    c.len = size;
    c.ctype = ctype;
    c.sse = s->sse;
    int rc = s3_do(s, &c, e);
    if (rc == 0) snprintf(out->etag, sizeof(out->etag), "%s", c.info.etag);
    buf_free(&c.body);
    return rc;
}

void s3_upload_abort(s3_store *s, const char *bucket, const char *key, const char *qid)
{
    s3_call c;
    dlb_err e = {0};
    s3_call_init(&c, "DELETE", bucket, key);
    c.query = qid;
    if (s3_do(s, &c, &e))
        log_warn("cannot abort a multipart upload; the store's lifecycle rules must clean it",
                 "bucket", bucket, "key", key, "error", e.detail);
    buf_free(&c.body);
}

int s3_upload_start(s3_store *s, const char *bucket, const char *key, const char *ctype, buf_t *idq,
                    dlb_err *e)
{
    s3_call c;
    s3_call_init(&c, "POST", bucket, key);
    c.query = "uploads=";
    c.mem = "";
    c.ctype = ctype;
    c.sse = s->sse;
    if (s3_do(s, &c, e)) {
        buf_free(&c.body);
        return -1;
    }
    size_t pos = 0;
    char *upload_id = s3_xml_take(c.body.data, c.body.len, &pos, "UploadId");
    buf_free(&c.body);
    int rc = -1;
    if (!upload_id || !*upload_id) {
        dlb_err_set(e, 502, "store_error", "the object store started no multipart upload");
    } else {
        buf_init(idq, 0);
        buf_appends(idq, "uploadId=");
        uri_encode(idq, upload_id, 0);
        rc = idq->data ? 0 : -1;
        if (rc) dlb_err_set(e, 500, "internal_error", "out of memory");
    }
    free(upload_id);
    return rc;
}

int s3_upload_complete(s3_store *s, const char *bucket, const char *key, const char *idq,
                       const buf_t *xml, store_object *out, dlb_err *e)
{
    s3_call c;
    s3_call_init(&c, "POST", bucket, key);
    c.query = idq;
    c.mem = xml->data;
    c.memlen = xml->len;
    int ok = xml->data && s3_do(s, &c, e) == 0;
    /* S3 may answer 200 and still fail the completion in the body. */
    char code[64], msg[256];
    if (ok && s3_xml_error(c.body.data, c.body.len, code, sizeof(code), msg, sizeof(msg)) == 0) {
        dlb_err_set(e, 502, "store_error", "the object store failed the upload: %s: %s", code, msg);
        ok = 0;
    }
    if (ok) {
        size_t pos = 0;
        char *etag = s3_xml_take(c.body.data, c.body.len, &pos, "ETag");
        if (etag) {
            size_t el = strlen(etag);
            if (el >= 2 && etag[0] == '"')
                snprintf(out->etag, sizeof(out->etag), "%.*s", (int)(el - 2), etag + 1);
            else
                snprintf(out->etag, sizeof(out->etag), "%s", etag);
        }
        free(etag);
    } else if (!xml->data && !e->status) {
        dlb_err_set(e, 500, "internal_error", "out of memory");
    }
    buf_free(&c.body);
    return ok ? 0 : -1;
}

static int put_multipart(s3_store *s, const char *bucket, const char *key, int fd, uint64_t off,
                         uint64_t size, const char *ctype, store_object *out, dlb_err *e)
{
    s3_call c;
    buf_t q, done, idq;
    if (s3_upload_start(s, bucket, key, ctype, &idq, e)) return -1;
    buf_init(&q, 0);
    buf_init(&done, 0);
    int rc = -1;
    uint64_t part = s->part_size;
    if ((size + part - 1) / part > MAX_PARTS) part = (size + MAX_PARTS - 1) / MAX_PARTS;
    buf_appends(&done, "<CompleteMultipartUpload>");
    int n = 0;
    for (uint64_t at = 0; at < size; at += part) {
        n++;
        buf_reset(&q);
        buf_printf(&q, "partNumber=%d&%s", n, idq.data);
        s3_call_init(&c, "PUT", bucket, key);
        c.query = q.data;
        c.fd = fd;
        c.off = off + at;
        c.len = size - at < part ? size - at : part;
        if (s3_do(s, &c, e)) {
            buf_free(&c.body);
            goto out;
        }
        buf_printf(&done, "<Part><PartNumber>%d</PartNumber><ETag>\"%s\"</ETag></Part>", n,
                   c.info.etag);
        buf_free(&c.body);
    }
    buf_appends(&done, "</CompleteMultipartUpload>");
    rc = s3_upload_complete(s, bucket, key, idq.data, &done, out, e);
out:
    if (rc) s3_upload_abort(s, bucket, key, idq.data);
    buf_free(&idq);
    buf_free(&q);
    buf_free(&done);
    return rc;
}

static int s3_put(void *d, const char *bucket, const char *key, const char *path, uint64_t offset,
                  uint64_t size, const char *ctype, store_object *out, dlb_err *e)
{
    s3_store *s = d;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        dlb_err_set(e, 500, "store_error", "cannot read the upload: %s", strerror(errno));
        return -1;
    }
    posix_fadvise(fd, (off_t)offset, (off_t)size, POSIX_FADV_SEQUENTIAL);
    int rc = size > s->threshold ? put_multipart(s, bucket, key, fd, offset, size, ctype, out, e)
                                 : put_single(s, bucket, key, fd, offset, size, ctype, out, e);
    close(fd);
    if (rc == 0) {
        out->size = size;
        out->mtime_ms = (int64_t)(clock_wall() * 1000);
        snprintf(out->content_type, sizeof(out->content_type), "%s", ctype);
    }
    return rc;
}

static int s3_get(void *d, const char *bucket, const char *key, const store_range *range,
                  const store_sink *sink, uint64_t *size_out, dlb_err *e)
{
    s3_store *s = d;
    char rh[96];
    store_range abs = {0};
    if (range && range->set && range->first < 0) {
        /* Suffix ranges: some stores (s3rver) read "-n" as "0-n"; send absolute ones. */
        store_object info;
        if (s3_head(d, bucket, key, &info, e)) return -1;
        uint64_t off, len;
        if (size_out) *size_out = info.size;
        if (store_range_resolve(range, info.size, &off, &len)) {
            dlb_err_set(e, 416, "range_not_satisfiable",
                        "the range does not overlap the object's %llu bytes",
                        (unsigned long long)info.size);
            return -1;
        }
        abs.set = 1;
        abs.first = (int64_t)off;
        abs.last = (int64_t)(off + len - 1);
        range = &abs;
    }
    s3_call c;
    s3_call_init(&c, "GET", bucket, key);
    c.sink = sink;
    if (range && range->set) {
        if (range->last >= 0)
            snprintf(rh, sizeof(rh), "bytes=%lld-%lld", (long long)range->first,
                     (long long)range->last);
        else
            snprintf(rh, sizeof(rh), "bytes=%lld-", (long long)range->first);
        c.range = rh;
    }
    int rc = s3_do(s, &c, e);
    if (rc && e->status == 416 && size_out) {
        /* The error names the size (ActualObjectSize); the API needs it for Content-Range. */
        size_t pos = 0;
        char *sz = s3_xml_take(c.body.data, c.body.len, &pos, "ActualObjectSize");
        if (sz) *size_out = strtoull(sz, NULL, 10);
        free(sz);
    }
    buf_free(&c.body);
    return rc;
}

static int s3_delete(void *d, const char *bucket, const char *key, dlb_err *e)
{
    /* S3 deletes answer 204 whether or not the key existed; the API promises 404. */
    store_object info;
    if (s3_head(d, bucket, key, &info, e)) return -1;
    s3_call c;
    s3_call_init(&c, "DELETE", bucket, key);
    int rc = s3_do(d, &c, e);
    buf_free(&c.body);
    return rc;
}

static int s3_list(void *d, const char *bucket, const char *prefix, const char *delimiter,
                   int limit, const char *token, store_listing *out, dlb_err *e)
{
    buf_t q;
    buf_init(&q, 0);
    /* Sorted by name, values AWS-encoded: the canonical query string SigV4 signs. */
    if (token) {
        buf_appends(&q, "continuation-token=");
        uri_encode(&q, token, 0);
        buf_appends(&q, "&");
    }
    if (delimiter) {
        buf_appends(&q, "delimiter=");
        uri_encode(&q, delimiter, 0);
        buf_appends(&q, "&");
    }
    buf_printf(&q, "list-type=2&max-keys=%d", limit);
    if (prefix) {
        buf_appends(&q, "&prefix=");
        uri_encode(&q, prefix, 0);
    }
    s3_call c;
    s3_call_init(&c, "GET", bucket, NULL);
    c.query = q.data;
    c.body_max = LISTBODY_MAX;
    int rc = q.data ? s3_do(d, &c, e) : -1;
    if (rc == 0 && s3_xml_list(c.body.data, c.body.len, out)) {
        dlb_err_set(e, 502, "store_error", "the object store's listing could not be read");
        rc = -1;
    }
    buf_free(&c.body);
    buf_free(&q);
    return rc;
}

const store_driver store_s3_driver = {
    .name = "s3",
    .close = s3_close,
    .bucket_create = s3_bucket_create,
    .bucket_exists = s3_bucket_exists,
    .bucket_delete = s3_bucket_delete,
    .put_file = s3_put,
    .writer_open = s3_writer_open,
    .writer_write = s3_writer_write,
    .writer_finish = s3_writer_finish,
    .writer_abort = s3_writer_abort,
    .head = s3_head,
    .get = s3_get,
    .del = s3_delete,
    .list = s3_list,
};
