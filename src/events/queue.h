/* A client's bounded queue of shared frames. Its memory is a ring of pointers that grows
 * on demand (most clients hold nothing), so holding 10,000 clients costs little. Not
 * thread-safe: the hub guards each queue with its client's lock. */
#ifndef DLB_EVENTS_QUEUE_H
#define DLB_EVENTS_QUEUE_H

#include "frame.h"

#include <stddef.h>
#include <sys/uio.h>

typedef struct {
    ev_frame **ring;
    size_t cap, head, count;
    size_t bytes;  /* unread bytes, counting only what is left of the first frame */
    size_t offset; /* bytes of the first frame already read */
} ev_queue;

void ev_queue_init(ev_queue *q);
/* Takes the caller's reference to f. -1 when out of memory (the reference is dropped). */
int ev_queue_push(ev_queue *q, ev_frame *f);
/* Copies up to max bytes of the queued frames into out, freeing frames once read whole. */
size_t ev_queue_read(ev_queue *q, char *out, size_t max);
/* The same; *ts becomes the publication time of the newest numbered frame read whole (left
 * alone when none was). */
size_t ev_queue_read_ts(ev_queue *q, char *out, size_t max, double *ts);
/* Points iov (at most niov entries) at the unread bytes, up to max of them, without
 * consuming; returns the bytes covered, *used the entries filled. */
size_t ev_queue_iov(const ev_queue *q, struct iovec *iov, int niov, size_t max, int *used);
/* Consumes n unread bytes (n <= bytes), like ev_queue_read_ts without the copy. */
void ev_queue_consume(ev_queue *q, size_t n, double *ts);
/* Drops every frame. */
void ev_queue_clear(ev_queue *q);
void ev_queue_free(ev_queue *q);

#endif
