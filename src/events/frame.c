#include "frame.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bytes of the text "data: " lines take for payload: each line costs its bytes plus 7. */
static size_t data_lines_size(const char *p, size_t len)
{
    size_t n = 7; /* the first (perhaps empty) line */
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '\r') {
            if (i + 1 < len && p[i + 1] == '\n') i++;
            n += 7;
        } else if (p[i] == '\n') {
            n += 7;
        } else if (p[i]) {
            n++;
        }
    }
    return n;
}

static size_t tag_size(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

static const char *tag_copy(char **at, const char *s)
{
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    memcpy(*at, s, n);
    const char *r = *at;
    *at += n;
    return r;
}

ev_frame *ev_frame_event(uint64_t id, int type, const char *event, const char *payload, size_t len,
                         double ts, const ev_tags *tags)
{
    char idline[32] = "";
    int idn = id ? snprintf(idline, sizeof(idline), "id: %llu\n", (unsigned long long)id) : 0;
    size_t evlen = strlen(event);
    const char *job = tags ? tags->job : NULL, *run = tags ? tags->run : NULL,
               *ns = tags ? tags->ns : NULL;
    size_t text = (size_t)idn + 7 + evlen + 1 + data_lines_size(payload, len) + 1;
    size_t extra = tag_size(job) + tag_size(run) + tag_size(ns);
    ev_frame *f = malloc(sizeof(*f) + text + 1 + extra);
    if (!f) return NULL;
    atomic_init(&f->refs, 1);
    f->id = id;
    f->type = type;
    f->ts = ts;
    char *o = f->text;
    memcpy(o, idline, (size_t)idn);
    o += idn;
    memcpy(o, "event: ", 7);
    o += 7;
    for (size_t i = 0; i < evlen; i++) /* a type must never open a second field */
        if (event[i] != '\r' && event[i] != '\n') *o++ = event[i];
    *o++ = '\n';
    memcpy(o, "data: ", 6);
    o += 6;
    for (size_t i = 0; i < len; i++) {
        char ch = payload[i];
        if (ch == '\r' || ch == '\n') {
            if (ch == '\r' && i + 1 < len && payload[i + 1] == '\n') i++;
            memcpy(o, "\ndata: ", 7);
            o += 7;
        } else if (ch) {
            *o++ = ch;
        }
    }
    *o++ = '\n';
    *o++ = '\n';
    f->len = (size_t)(o - f->text);
    *o++ = 0;
    f->job = tag_copy(&o, job);
    f->run = tag_copy(&o, run);
    f->ns = tag_copy(&o, ns);
    return f;
}

ev_frame *ev_frame_raw(const char *text, size_t len)
{
    ev_frame *f = malloc(sizeof(*f) + len + 1);
    if (!f) return NULL;
    atomic_init(&f->refs, 1);
    f->id = 0;
    f->type = -1;
    f->ts = 0;
    f->job = f->run = f->ns = NULL;
    memcpy(f->text, text, len);
    f->text[len] = 0;
    f->len = len;
    return f;
}

void ev_frame_unref(ev_frame *f)
{
    if (f && atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1) free(f);
}

char *ev_envelope(double ts, const char *data_json, size_t *len)
{
    size_t dl = strlen(data_json);
    char *s = malloc(dl + 64);
    if (!s) return NULL;
    int n = snprintf(s, 64, "{\"timestamp\":%.3f,\"data\":", ts);
    memcpy(s + n, data_json, dl);
    s[n + dl] = '}';
    s[n + dl + 1] = 0;
    *len = (size_t)n + dl + 1;
    return s;
}
