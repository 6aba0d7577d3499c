/* Direct writes: the fan-out thread writes a parked stream's frames to its socket itself, as
 * HTTP/1.1 chunks, instead of resuming the connection for libmicrohttpd to ask for them. A
 * resume/poll/suspend cycle per delivery cost several times the send it wraps; here a
 * delivery is one non-blocking sendmsg of every frame queued since the last (one chunk),
 * and a socket that cannot take it all waits in the thread's epoll set for room, its
 * remainder kept in the client's bounded queue. The HTTP server gets the connection back,
 * at a chunk boundary, only to end the stream (it writes the last chunk) or to cut it. */
#include "hub_internal.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define DW_IOV       64
#define DW_CHUNK_MAX (64 * 1024)

enum { DW_IDLE, DW_BLOCKED, DW_FAILED };

static int at_boundary(const ev_client *c)
{
    return !c->hdr_left && !c->body_left && !c->trail_left;
}

/* Writes what c's queue holds, chunk by chunk, until it is empty (DW_IDLE, at a chunk
 * boundary), the socket is full (DW_BLOCKED) or failed (DW_FAILED). Client lock held; *ts
 * becomes the publication time of the newest numbered frame sent whole. */
static int flush(ev_hub *h, ev_client *c, double *ts)
{
    static const char crlf[] = "\r\n";
    for (;;) {
        if (at_boundary(c)) {
            if (c->end_now) ev_queue_clear(&c->q);
            if (!c->q.bytes) return DW_IDLE;
            size_t len = c->q.bytes < DW_CHUNK_MAX ? c->q.bytes : DW_CHUNK_MAX;
            c->hdr_len = snprintf(c->chunk_hdr, sizeof(c->chunk_hdr), "%zx\r\n", len);
            c->hdr_left = c->hdr_len;
            c->body_left = len;
            c->trail_left = 2;
        }
        struct iovec iov[DW_IOV + 2];
        int n = 0, used = 0;
        if (c->hdr_left)
            iov[n++] = (struct iovec){c->chunk_hdr + c->hdr_len - c->hdr_left, (size_t)c->hdr_left};
        size_t body = ev_queue_iov(&c->q, iov + n, DW_IOV, c->body_left, &used);
        n += used;
        if (body == c->body_left)
            iov[n++] = (struct iovec){(char *)crlf + 2 - c->trail_left, (size_t)c->trail_left};
        size_t total = 0;
        for (int i = 0; i < n; i++)
            total += iov[i].iov_len;
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        /* Without the lock, so that publishers queueing for c never wait for a send. The
         * frames stay: while c is direct only this thread takes them off its queue (a drop
         * hands the clearing to it), and pushes only append. */
        pthread_mutex_unlock(&c->lock);
        ssize_t w = sendmsg(c->sink.fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
        int err = errno;
        pthread_mutex_lock(&c->lock);
        atomic_fetch_add_explicit(&h->direct_sends, 1, memory_order_relaxed);
        if (w < 0) {
            errno = err;
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                atomic_fetch_add_explicit(&h->direct_blocked, 1, memory_order_relaxed);
                return DW_BLOCKED;
            }
            return DW_FAILED;
        }
        size_t k = (size_t)w, t = k < (size_t)c->hdr_left ? k : (size_t)c->hdr_left;
        c->hdr_left -= (int)t;
        k -= t;
        t = k < body ? k : body;
        if (t) {
            ev_queue_consume(&c->q, t, ts);
            c->body_left -= t;
            c->consumed += t;
            c->last_consumed = ev_now();
            if (!c->q.count) c->queue_full_count = 0;
        }
        k -= t;
        c->trail_left -= (int)k;
        if ((size_t)w < total) {
            atomic_fetch_add_explicit(&h->direct_blocked, 1, memory_order_relaxed);
            return DW_BLOCKED;
        }
    }
}

/* Waits for room on c's socket (one event, then re-armed). Fan-out thread only. */
static int arm(ev_hub *h, ev_client *c)
{
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLONESHOT, .data.ptr = c};
    int rc = epoll_ctl(h->fo[c->shard].epfd, c->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD,
                       c->sink.fd, &ev);
    if (!rc) c->in_epoll = 1;
    return rc;
}

enum { LEAVE_NONE, LEAVE_HANDBACK, LEAVE_ABORT, LEAVE_FAILED };

void ev_fanout_client(ev_hub *h, ev_client *c, int final)
{
    double ts = 0;
    int leave = LEAVE_NONE;
    pthread_mutex_lock(&c->lock);
    if (!c->direct) {
        /* A stream the HTTP server reads: resume it, unless its connection is gone (the
         * check and the wake are one step against ev_client_done under this lock). */
        if (!c->finished) c->sink.wake(c->sink.arg);
        pthread_mutex_unlock(&c->lock);
        return;
    }
    if (c->aborting) {
        leave = LEAVE_ABORT;
    } else {
        int r = flush(h, c, &ts);
        if (r == DW_FAILED)
            leave = LEAVE_FAILED;
        else if (r == DW_IDLE && (c->closing || final))
            leave = LEAVE_HANDBACK; /* the server ends it, or reads it from now on */
        else if (r == DW_BLOCKED && (final || arm(h, c)))
            leave = LEAVE_FAILED; /* no thread will wait for room any more: cut it */
    }
    if (leave != LEAVE_NONE) {
        /* Out of the epoll set before the connection may close its socket. */
        if (c->in_epoll) epoll_ctl(h->fo[c->shard].epfd, EPOLL_CTL_DEL, c->sink.fd, NULL);
        c->in_epoll = 0;
        c->direct = 0;
        if (leave == LEAVE_HANDBACK) {
            c->sink.wake(c->sink.arg);
        } else {
            c->closing = c->aborting = 1;
            ev_queue_clear(&c->q);
            /* A failed peer that is still registered is cut by its drop, below. */
            if (leave == LEAVE_ABORT) c->sink.abort(c->sink.arg);
        }
    }
    pthread_mutex_unlock(&c->lock);
    if (ts > 0) ev_metrics_latency(h, ts);
    if (leave == LEAVE_NONE) return;
    pthread_mutex_lock(&h->lock);
    if (c->dprev)
        c->dprev->dnext = c->dnext;
    else
        h->direct_head = c->dnext;
    if (c->dnext) c->dnext->dprev = c->dprev;
    c->dprev = c->dnext = NULL;
    h->ndirect--;
    if (leave == LEAVE_HANDBACK)
        atomic_fetch_add_explicit(&h->direct_handbacks, 1, memory_order_relaxed);
    /* A peer that failed is counted like one that hung up. */
    int cut = leave == LEAVE_FAILED && !c->linked;
    if (leave == LEAVE_FAILED && c->linked) ev_drop_locked(h, c, DROP_CLIENT_CLOSED, END_ABORT);
    pthread_mutex_unlock(&h->lock);
    if (cut) { /* already dropped (ending): nobody else cuts it */
        pthread_mutex_lock(&c->lock);
        if (!c->finished) c->sink.abort(c->sink.arg);
        pthread_mutex_unlock(&c->lock);
    }
    ev_client_unref(c); /* the direct list's */
}

int ev_client_park(ev_client *c)
{
    ev_hub *h = c->hub;
    int rc;
    pthread_mutex_lock(&h->lock);
    pthread_mutex_lock(&c->lock);
    if (!h->waker_started || c->sink.fd < 0)
        rc = 0;
    else if (c->q.count || c->closing || c->aborting || !c->linked)
        rc = -1;
    else {
        rc = 1;
        c->direct = 1;
        c->end_now = 0;
        c->hdr_left = c->trail_left = 0;
        c->body_left = 0;
        atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
        c->dprev = NULL;
        c->dnext = h->direct_head;
        if (h->direct_head) h->direct_head->dprev = c;
        h->direct_head = c;
        h->ndirect++;
    }
    pthread_mutex_unlock(&c->lock);
    pthread_mutex_unlock(&h->lock);
    if (rc == 1) {
        /* Each write is a whole chunk of whole events: send it now, not after an ACK. */
        int on = 1;
        setsockopt(c->sink.fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    }
    return rc;
}

void ev_direct_release_all(ev_hub *h)
{
    for (;;) {
        pthread_mutex_lock(&h->lock);
        ev_client *c = h->direct_head;
        if (c) atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
        pthread_mutex_unlock(&h->lock);
        if (!c) return;
        ev_fanout_client(h, c, 1); /* leaves the list: handed back, or cut */
        ev_client_unref(c);
    }
}

void *ev_fanout_main(void *arg)
{
    ev_fanout *fo = arg;
    ev_hub *h = fo->hub;
    ev_client **batch = NULL;
    size_t cap = 0;
    struct epoll_event evs[256];
    for (;;) {
        pthread_mutex_lock(&h->lock);
        if (h->waker_stop) {
            pthread_mutex_unlock(&h->lock);
            break;
        }
        size_t n = ev_take_wakes_locked(fo, &batch, &cap);
        if (n) {
            h->wake_batches++;
            h->wakes += n;
        }
        pthread_mutex_unlock(&h->lock);
        for (size_t i = 0; i < n; i++) {
            ev_fanout_client(h, batch[i], 0);
            ev_client_unref(batch[i]);
        }
        /* Sockets with room again; without wakes in hand, sleep until either comes. */
        int ne = epoll_wait(fo->epfd, evs, 256, n ? 0 : -1);
        for (int i = 0; i < ne; i++) {
            if (!evs[i].data.ptr) {
                uint64_t v;
                if (read(fo->evfd, &v, sizeof(v)) < 0) {
                    /* EAGAIN: another round drained it */
                }
                continue;
            }
            /* The direct list's reference keeps c alive: it is dropped only after the
             * socket has left the set, by this thread. */
            ev_fanout_client(h, evs[i].data.ptr, 0);
        }
    }
    free(batch);
    return NULL;
}
