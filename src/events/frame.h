/* SSE frames: the bytes of one event, serialised once and shared (by reference count) by
 * the history ring and every client queue that holds it. */
#ifndef DLB_EVENTS_FRAME_H
#define DLB_EVENTS_FRAME_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ev_frame {
    atomic_int refs;
    uint64_t id; /* 0: an unnumbered frame (connected, heartbeat, ping): no id: line, so the
                    client's last event id, hence its replay cursor, is left alone */
    int type;    /* EV_* of events.h, or -1 for a control frame (retry, comments) */
    double ts;   /* publication time, unix seconds */
    /* Routing tags (NULL when the event has none), inside this allocation. */
    const char *job, *run, *ns;
    size_t len; /* bytes of text */
    char text[];
} ev_frame;

typedef struct {
    const char *job, *run, *ns;
} ev_tags;

/* Builds "id: <id>\n" (when id is not 0), "event: <event>\n", one "data: " line per line of
 * payload (split at CRLF, CR or LF, the separators the EventSource parser knows) and a blank
 * line. CR, LF and NUL are removed from event; NUL bytes of payload are dropped. refs is 1.
 * NULL when out of memory. */
ev_frame *ev_frame_event(uint64_t id, int type, const char *event, const char *payload, size_t len,
                         double ts, const ev_tags *tags);
/* A frame of raw text (retry:, comments), copied as is; type -1. */
ev_frame *ev_frame_raw(const char *text, size_t len);

static inline ev_frame *ev_frame_ref(ev_frame *f)
{
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    return f;
}
void ev_frame_unref(ev_frame *f);

/* The envelope every event's data carries: {"timestamp":<unix s>,"data":<data_json>}.
 * Returns a malloc'd string (*len set), NULL when out of memory. */
char *ev_envelope(double ts, const char *data_json, size_t *len);

#endif
