/* The query watchdog thread (see query_watchdog.h). Started on first use; it sleeps on a
 * condition variable until the earliest deadline, so an idle server pays nothing. It is never
 * joined: it lives as long as the process and holds no resources but its stack. */
#include "engine/query_watchdog.h"

#include <pthread.h>

static pthread_mutex_t wd_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wd_cond;
static pthread_once_t wd_once = PTHREAD_ONCE_INIT;
static int wd_ok;
static qwd_entry *wd_head;

static int ts_before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static void *wd_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&wd_lock);
    for (;;) {
        struct timespec now, next = {0, 0};
        int have = 0;
        clock_gettime(CLOCK_MONOTONIC, &now);
        for (qwd_entry *e = wd_head; e; e = e->next) {
            if (e->fired) continue;
            if (!ts_before(&now, &e->deadline)) {
                e->fired = 1;
                /* Under the lock: qwd_disarm waits, so con is still valid here. */
                duckdb_interrupt(e->con);
            } else if (!have || ts_before(&e->deadline, &next)) {
                next = e->deadline;
                have = 1;
            }
        }
        if (have)
            pthread_cond_timedwait(&wd_cond, &wd_lock, &next);
        else
            pthread_cond_wait(&wd_cond, &wd_lock);
    }
    return NULL;
}

static void wd_start(void)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&wd_cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&at, 64 * 1024);
    pthread_t t;
    wd_ok = pthread_create(&t, &at, wd_main, NULL) == 0;
    pthread_attr_destroy(&at);
}

int qwd_arm(qwd_entry *e, duckdb_connection con, double timeout_s)
{
    pthread_once(&wd_once, wd_start);
    e->con = con;
    e->fired = 0;
    e->prev = e->next = NULL;
    if (!wd_ok) return -1;
    clock_gettime(CLOCK_MONOTONIC, &e->deadline);
    long long ns = (long long)(timeout_s * 1e9);
    e->deadline.tv_sec += (time_t)(ns / 1000000000LL);
    e->deadline.tv_nsec += (long)(ns % 1000000000LL);
    if (e->deadline.tv_nsec >= 1000000000L) {
        e->deadline.tv_sec++;
        e->deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&wd_lock);
    e->next = wd_head;
    if (wd_head) wd_head->prev = e;
    wd_head = e;
    pthread_cond_signal(&wd_cond);
    pthread_mutex_unlock(&wd_lock);
    return 0;
}

int qwd_disarm(qwd_entry *e)
{
    if (!wd_ok) return 0;
    pthread_mutex_lock(&wd_lock);
    if (e->prev)
        e->prev->next = e->next;
    else if (wd_head == e)
        wd_head = e->next;
    if (e->next) e->next->prev = e->prev;
    e->prev = e->next = NULL;
    int fired = e->fired;
    pthread_mutex_unlock(&wd_lock);
    return fired;
}

int qwd_fired(qwd_entry *e)
{
    pthread_mutex_lock(&wd_lock);
    int fired = e->fired;
    pthread_mutex_unlock(&wd_lock);
    return fired;
}
