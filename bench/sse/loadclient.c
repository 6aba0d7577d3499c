/* bench/sse load client: holds N event-stream connections to one server, publishes
 * broadcasts at a fixed rate through POST /events/broadcast, each carrying its send time,
 * and measures publish-to-deliver latency on every client. The publishers are open-loop:
 * PUBLISHERS threads (env SSE_BENCH_PUBLISHERS, default 8), one keep-alive connection each,
 * take turns on one schedule, so a slow answer to one broadcast does not delay the next
 * (in-process producers never wait for an HTTP round trip either).
 *
 *   loadclient HOST PORT CLIENTS SOURCES SERVER_PID PHASES
 *     SOURCES     client addresses 127.0.0.1 .. 127.0.0.SOURCES (ephemeral ports per source)
 *     PHASES      comma list of rate:seconds ("100:20,50:8"); each phase is measured alone
 *
 * Prints one line per phase: rate achieved, deliveries expected and received, latency
 * percentiles, server CPU (% of one core) and RSS. Build: cc -O2 -pthread loadclient.c */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUFSZ     2048
#define HIST_US   10000000 /* latency histogram: 1 µs buckets would be big; use 10 µs up to 10 s */
#define HIST_STEP 10
#define NBUCKETS  (HIST_US / HIST_STEP + 1)

typedef struct {
    int fd;
    int connected; /* got the connected event */
    int closed;
    size_t len;
    char buf[BUFSZ];
} conn_t;

static const char *g_host;
static int g_port;
static conn_t *g_conns;
static int g_n;
static atomic_int g_phase = -1; /* the phase being measured, -1: none */
static atomic_long g_sent_in_phase;
static uint64_t *g_hist;
static uint64_t g_received, g_stale, g_closed, g_maxlat;

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void sleep_until(uint64_t t)
{
    uint64_t n = now_us();
    if (t <= n) return;
    struct timespec ts = {(time_t)((t - n) / 1000000u), (long)((t - n) % 1000000u) * 1000};
    nanosleep(&ts, NULL);
}

static int connect_from(int source)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)source);
    if (bind(fd, (struct sockaddr *)&src, sizeof(src))) {
        close(fd);
        return -1;
    }
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
    inet_pton(AF_INET, g_host, &dst.sin_addr);
    if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Handles the complete frames in c's buffer. */
static void frames(conn_t *c)
{
    char *p = c->buf, *end = c->buf + c->len;
    for (;;) {
        char *sep = memmem(p, (size_t)(end - p), "\n\n", 2);
        if (!sep) break;
        *sep = 0;
        if (!c->connected && strstr(p, "event: connected")) c->connected = 1;
        char *b = strstr(p, "\"b\":[");
        if (b) {
            int phase = 0;
            unsigned long long t = 0;
            if (sscanf(b + 5, "%d,%llu", &phase, &t) == 2) {
                if (phase == atomic_load(&g_phase)) {
                    uint64_t lat = now_us() - t;
                    if (lat > g_maxlat) g_maxlat = lat;
                    g_hist[lat / HIST_STEP < NBUCKETS ? lat / HIST_STEP : NBUCKETS - 1]++;
                    g_received++;
                } else {
                    g_stale++;
                }
            }
        }
        p = sep + 2;
    }
    c->len = (size_t)(end - p);
    memmove(c->buf, p, c->len);
}

static double pct(double q, uint64_t total)
{
    uint64_t want = (uint64_t)(q * (double)total), acc = 0;
    for (size_t i = 0; i < NBUCKETS; i++) {
        acc += g_hist[i];
        if (acc > want) return (double)(i * HIST_STEP + HIST_STEP / 2) / 1000.0;
    }
    return (double)HIST_US / 1000.0;
}

/* ---- publisher thread: POST /events/broadcast at the phase's rate ---- */

typedef struct {
    int rate;
    double seconds;
} phase_t;
static phase_t g_phases[16];
static int g_nphases;
static atomic_int g_pub_phase = -1, g_pub_stop;
static int g_npub = 8;
static _Atomic uint64_t g_pub_start;             /* the phase's schedule origin (µs) */
static atomic_long g_post_us_sum, g_post_us_max; /* answer times of the phase's broadcasts */

static int http_post(int fd, const char *body)
{
    char req[1024];
    int n = snprintf(req, sizeof(req),
                     "POST /events/broadcast HTTP/1.1\r\nHost: x\r\nContent-Type: "
                     "application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     strlen(body), body);
    if (write(fd, req, (size_t)n) != n) return -1;
    char resp[4096];
    size_t got = 0;
    for (;;) {
        ssize_t r = read(fd, resp + got, sizeof(resp) - 1 - got);
        if (r <= 0) return -1;
        got += (size_t)r;
        resp[got] = 0;
        char *hend = strstr(resp, "\r\n\r\n");
        if (!hend) continue;
        char *cl = strcasestr(resp, "content-length:");
        size_t len = cl ? (size_t)atol(cl + 15) : 0;
        if (got >= (size_t)(hend + 4 - resp) + len) return atoi(resp + 9);
    }
}

static void *publisher(void *arg)
{
    uint64_t me = (uint64_t)(uintptr_t)arg;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
    inet_pton(AF_INET, g_host, &dst.sin_addr);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&dst, sizeof(dst))) {
        perror("publisher connect");
        return NULL;
    }
    while (!atomic_load(&g_pub_stop)) {
        int ph = atomic_load(&g_pub_phase);
        if (ph < 0) {
            usleep(2000);
            continue;
        }
        uint64_t start = atomic_load(&g_pub_start),
                 interval = 1000000u / (uint64_t)g_phases[ph].rate;
        for (uint64_t k = me; atomic_load(&g_pub_phase) == ph; k += (uint64_t)g_npub) {
            sleep_until(start + k * interval);
            if (atomic_load(&g_pub_phase) != ph) break;
            char body[160];
            snprintf(body, sizeof(body),
                     "{\"event_type\":\"job_status\",\"data\":{\"b\":[%d,%llu],\"job_name\":"
                     "\"bench\"}}",
                     ph, (unsigned long long)now_us());
            atomic_fetch_add(&g_sent_in_phase, 1); /* counted when sent: its events count */
            uint64_t t0 = now_us();
            int st = http_post(fd, body);
            long took = (long)(now_us() - t0);
            atomic_fetch_add(&g_post_us_sum, took);
            long m = atomic_load(&g_post_us_max);
            while (took > m && !atomic_compare_exchange_weak(&g_post_us_max, &m, took)) {
            }
            if (st != 200) {
                fprintf(stderr, "broadcast answered %d\n", st);
                close(fd);
                return NULL;
            }
        }
    }
    close(fd);
    return NULL;
}

/* ---- server figures from /proc ---- */

static double proc_cpu_s(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    if (p) sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st);
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long proc_kb(int pid, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    long v = 0;
    if (!f) return 0;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, key, strlen(key)) == 0) v = atol(line + strlen(key) + 1);
    fclose(f);
    return v;
}

/* ---- main loop ---- */

static int g_ep;

static void pump(int ms)
{
    struct epoll_event evs[512];
    int n = epoll_wait(g_ep, evs, 512, ms);
    for (int i = 0; i < n; i++) {
        conn_t *c = &g_conns[evs[i].data.u32];
        if (c->closed) continue;
        for (;;) {
            ssize_t r = read(c->fd, c->buf + c->len, BUFSZ - 1 - c->len);
            if (r > 0) {
                c->len += (size_t)r;
                frames(c);
                if (c->len >= BUFSZ - 1) c->len = 0; /* a frame this large is not ours */
                continue;
            }
            if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                c->closed = 1;
                g_closed++;
                epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
            }
            break;
        }
    }
}

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: %s HOST PORT CLIENTS SOURCES SERVER_PID PHASES\n", argv[0]);
        return 2;
    }
    g_host = argv[1];
    g_port = atoi(argv[2]);
    g_n = atoi(argv[3]);
    int sources = atoi(argv[4]), pid = atoi(argv[5]);
    for (char *p = argv[6]; *p && g_nphases < 16;) {
        g_phases[g_nphases].rate = atoi(p);
        char *c = strchr(p, ':');
        g_phases[g_nphases].seconds = c ? atof(c + 1) : 10;
        g_nphases++;
        char *comma = strchr(p, ',');
        if (!comma) break;
        p = comma + 1;
    }
    g_conns = calloc((size_t)g_n, sizeof(*g_conns));
    g_hist = calloc(NBUCKETS, sizeof(*g_hist));
    g_ep = epoll_create1(EPOLL_CLOEXEC);
    const char req[] = "GET /events/stream?events=job_status HTTP/1.1\r\nHost: x\r\nAccept: "
                       "text/event-stream\r\n\r\n";

    /* Connect in waves, so that the listen backlog never overflows. */
    uint64_t t0 = now_us();
    int opened = 0;
    for (int i = 0; i < g_n; i++) {
        int fd = connect_from(i % sources);
        if (fd < 0) {
            fprintf(stderr, "connect %d: %s\n", i, strerror(errno));
            return 1;
        }
        g_conns[i].fd = fd;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)i};
        epoll_ctl(g_ep, EPOLL_CTL_ADD, fd, &ev);
        opened++;
        if (opened % 200 == 0) {
            /* Finish the handshakes of this wave: send the requests once writable. */
            uint64_t until = now_us() + 2000000;
            int pending = 1;
            while (pending && now_us() < until) {
                struct epoll_event evs[512];
                int n = epoll_wait(g_ep, evs, 512, 50);
                for (int k = 0; k < n; k++) {
                    conn_t *c = &g_conns[evs[k].data.u32];
                    if ((evs[k].events & EPOLLOUT) && !c->connected && c->len == 0) {
                        if (write(c->fd, req, sizeof(req) - 1) == (ssize_t)(sizeof(req) - 1)) {
                            struct epoll_event e2 = {.events = EPOLLIN,
                                                     .data.u32 = evs[k].data.u32};
                            epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &e2);
                            c->len = 0;
                            c->connected = -1; /* request sent */
                        }
                    }
                }
                pending = 0;
                for (int k = opened - 200; k < opened; k++)
                    if (g_conns[k].connected == 0) pending = 1;
            }
        }
    }
    /* The rest of the requests and every connected event. */
    for (int i = 0; i < g_n; i++)
        if (g_conns[i].connected == 0) {
            if (write(g_conns[i].fd, req, sizeof(req) - 1) == (ssize_t)(sizeof(req) - 1)) {
                struct epoll_event e2 = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
                epoll_ctl(g_ep, EPOLL_CTL_MOD, g_conns[i].fd, &e2);
                g_conns[i].connected = -1;
            }
        }
    for (int i = 0; i < g_n; i++)
        if (g_conns[i].connected == -1) g_conns[i].connected = 0;
    uint64_t until = now_us() + 60000000;
    int ready = 0;
    while (now_us() < until) {
        pump(100);
        ready = 0;
        for (int i = 0; i < g_n; i++)
            if (g_conns[i].connected == 1 && !g_conns[i].closed) ready++;
        if (ready == g_n) break;
    }
    printf("connected: %d of %d streams in %.1f s (closed %llu); server RSS %.1f MB\n", ready, g_n,
           (double)(now_us() - t0) / 1e6, (unsigned long long)g_closed,
           (double)proc_kb(pid, "VmRSS:") / 1024.0);
    fflush(stdout);
    if (ready < g_n) return 1;

    const char *np = getenv("SSE_BENCH_PUBLISHERS");
    if (np && atoi(np) > 0 && atoi(np) <= 64) g_npub = atoi(np);
    pthread_t pt[64];
    for (int i = 0; i < g_npub; i++)
        pthread_create(&pt[i], NULL, publisher, (void *)(uintptr_t)i);
    printf("%-6s %-9s %-10s %-12s %-12s %-8s %-8s %-8s %-8s %-7s %-8s %-7s %-17s %s\n", "rate",
           "achieved", "broadcasts", "expected", "received", "p50_ms", "p99_ms", "p999_ms",
           "max_ms", "cpu_%", "rss_mb", "dropped", "post_ms(avg/max)", "cpu_us/delivery");
    for (int ph = 0; ph < g_nphases; ph++) {
        memset(g_hist, 0, NBUCKETS * sizeof(*g_hist));
        g_received = g_stale = 0;
        g_maxlat = 0;
        atomic_store(&g_sent_in_phase, 0);
        uint64_t closed0 = g_closed;
        double cpu0 = proc_cpu_s(pid);
        atomic_store(&g_post_us_sum, 0);
        atomic_store(&g_post_us_max, 0);
        uint64_t p0 = now_us();
        atomic_store(&g_pub_start, p0);
        atomic_store(&g_phase, ph);
        atomic_store(&g_pub_phase, ph);
        uint64_t pend = p0 + (uint64_t)(g_phases[ph].seconds * 1e6);
        while (now_us() < pend)
            pump(20);
        atomic_store(&g_pub_phase, -1);
        uint64_t p1 = now_us();
        double cpu1 = proc_cpu_s(pid);
        long rss = proc_kb(pid, "VmRSS:");
        /* Let what was published arrive (bounded). */
        long sent = atomic_load(&g_sent_in_phase);
        uint64_t alive = (uint64_t)g_n - g_closed;
        uint64_t drain = now_us() + 5000000;
        while (now_us() < drain && g_received < (uint64_t)sent * alive)
            pump(20);
        double secs = (double)(p1 - p0) / 1e6;
        char post[32]; /* answer time of POST /events/broadcast, mean/max */
        snprintf(post, sizeof(post), "%.1f/%.1f",
                 sent ? (double)atomic_load(&g_post_us_sum) / (double)sent / 1000.0 : 0.0,
                 (double)atomic_load(&g_post_us_max) / 1000.0);
        printf("%-6d %-9.1f %-10ld %-12llu %-12llu %-8.2f %-8.2f %-8.2f %-8.2f %-7.0f %-8.1f "
               "%-7llu %-17s %.2f\n",
               g_phases[ph].rate, (double)sent / secs, sent,
               (unsigned long long)((uint64_t)sent * (uint64_t)g_n), (unsigned long long)g_received,
               pct(0.50, g_received), pct(0.99, g_received), pct(0.999, g_received),
               (double)g_maxlat / 1000.0, 100.0 * (cpu1 - cpu0) / secs, (double)rss / 1024.0,
               (unsigned long long)(g_closed - closed0), post,
               g_received ? (cpu1 - cpu0) * 1e6 / (double)g_received : 0.0);
        fflush(stdout);
        atomic_store(&g_phase, -1);
        /* Settle between phases. */
        uint64_t settle = now_us() + 1000000;
        while (now_us() < settle)
            pump(20);
    }
    atomic_store(&g_pub_stop, 1);
    for (int i = 0; i < g_npub; i++)
        pthread_join(pt[i], NULL);
    printf("server peak RSS (VmHWM) %.1f MB\n", (double)proc_kb(pid, "VmHWM:") / 1024.0);
    return 0;
}
