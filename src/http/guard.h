/* Slow-client guard (slowloris): libmicrohttpd's timeout is an idle timeout, so a client that
 * drips a header byte every few seconds would hold its connection forever. The guard gives
 * every connection a deadline for its request headers and shuts the socket down when it
 * passes. Private to http/. */
#ifndef DLB_HTTP_GUARD_H
#define DLB_HTTP_GUARD_H

typedef struct conn_guard conn_guard;
typedef struct guard_entry guard_entry;

/* first: seconds for the first request's headers on a new connection; next: seconds for the
 * headers of each later request on a kept-alive connection, counted from the previous one's
 * end. */
conn_guard *guard_start(double first, double next);
/* Connection caps answered with 429 (0: none): the HTTP core's hard caps sit above these so
 * that a client over its share gets an answer rather than a reset. */
void guard_limits(conn_guard *g, unsigned total, unsigned per_address);
void guard_stop(conn_guard *g);
guard_entry *guard_open(conn_guard *g, int fd, const char *address);
/* 1 when the connection was over a cap when it opened. */
int guard_over_limit(conn_guard *g, const guard_entry *e);
/* The current request's headers have arrived: no deadline until the request ends. */
void guard_headers_done(conn_guard *g, guard_entry *e);
/* The request ended; the next one's headers are due within `next` seconds. */
void guard_request_done(conn_guard *g, guard_entry *e);
/* The connection closed (before its fd is closed). */
void guard_close(conn_guard *g, guard_entry *e);
unsigned long guard_dropped(conn_guard *g);

#endif
