#include "guard.h"

#include "util/clock.h"
#include "util/log.h"
#include "util/periodic.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

struct guard_entry {
    guard_entry *prev, *next;
    int fd;
    char address[64];
    int over;        /* opened beyond a cap: its requests get 429 */
    double deadline; /* monotonic seconds; 0 while a request is being handled */
    int dropped;
};

struct conn_guard {
    pthread_mutex_t lock;
    guard_entry *head;
    double first, next;
    unsigned long dropped;
    unsigned total, count, per_address;
    periodic *sweeper;
};

static double now_s(void)
{
    return (double)clock_mono_ns() / 1e9;
}

/* Four sweeps a second: a stalled client is dropped at most 250 ms after its deadline. */
static void sweep_tick(void *arg)
{
    conn_guard *g = arg;
    pthread_mutex_lock(&g->lock);
    double t = now_s();
    for (guard_entry *e = g->head; e; e = e->next) {
        if (e->dropped || e->deadline == 0 || t < e->deadline) continue;
        /* The entry leaves the list before MHD closes its fd, so the fd is still ours. */
        shutdown(e->fd, SHUT_RDWR);
        e->dropped = 1;
        g->dropped++;
        log_msg(LOG_INFO, "connection dropped: request headers too slow", "component", "http",
                (const char *)0);
    }
    pthread_mutex_unlock(&g->lock);
}

conn_guard *guard_start(double first, double next)
{
    conn_guard *g = calloc(1, sizeof(*g));
    if (!g) return NULL;
    g->first = first;
    g->next = next;
    pthread_mutex_init(&g->lock, NULL);
    g->sweeper = periodic_start(0.25, 0, sweep_tick, g);
    if (!g->sweeper) {
        pthread_mutex_destroy(&g->lock);
        free(g);
        return NULL;
    }
    return g;
}

void guard_stop(conn_guard *g)
{
    if (!g) return;
    periodic_stop(g->sweeper);
    while (g->head) {
        guard_entry *e = g->head;
        g->head = e->next;
        free(e);
    }
    pthread_mutex_destroy(&g->lock);
    free(g);
}

void guard_limits(conn_guard *g, unsigned total, unsigned per_address)
{
    pthread_mutex_lock(&g->lock);
    g->total = total;
    g->per_address = per_address;
    pthread_mutex_unlock(&g->lock);
}

guard_entry *guard_open(conn_guard *g, int fd, const char *address)
{
    guard_entry *e = calloc(1, sizeof(*e));
    if (!e) return NULL;
    e->fd = fd;
    snprintf(e->address, sizeof(e->address), "%s", address ? address : "");
    e->deadline = now_s() + g->first;
    pthread_mutex_lock(&g->lock);
    g->count++;
    if (g->total && g->count > g->total) e->over = 1;
    if (g->per_address && e->address[0]) {
        /* A linear walk: caps are checked once per connection, not per request. */
        unsigned same = 1;
        for (guard_entry *o = g->head; o; o = o->next)
            same += strcmp(o->address, e->address) == 0;
        if (same > g->per_address) e->over = 1;
    }
    e->next = g->head;
    if (g->head) g->head->prev = e;
    g->head = e;
    pthread_mutex_unlock(&g->lock);
    return e;
}

void guard_headers_done(conn_guard *g, guard_entry *e)
{
    if (!e) return;
    pthread_mutex_lock(&g->lock);
    e->deadline = 0;
    pthread_mutex_unlock(&g->lock);
}

void guard_request_done(conn_guard *g, guard_entry *e)
{
    if (!e) return;
    pthread_mutex_lock(&g->lock);
    e->deadline = now_s() + g->next;
    pthread_mutex_unlock(&g->lock);
}

int guard_over_limit(conn_guard *g, const guard_entry *e)
{
    (void)g;
    return e && e->over;
}

void guard_close(conn_guard *g, guard_entry *e)
{
    if (!e) return;
    pthread_mutex_lock(&g->lock);
    g->count--;
    if (e->prev)
        e->prev->next = e->next;
    else
        g->head = e->next;
    if (e->next) e->next->prev = e->prev;
    pthread_mutex_unlock(&g->lock);
    free(e);
}

unsigned long guard_dropped(conn_guard *g)
{
    pthread_mutex_lock(&g->lock);
    unsigned long n = g->dropped;
    pthread_mutex_unlock(&g->lock);
    return n;
}
