/* Query deadlines: one shared thread keeps a list of armed queries and interrupts the DuckDB
 * connection of each one whose deadline passes (duckdb_interrupt). Entries live in the caller's
 * stack frame between arm and disarm. */
#ifndef DLB_ENGINE_QUERY_WATCHDOG_H
#define DLB_ENGINE_QUERY_WATCHDOG_H

#include <duckdb.h>
#include <time.h>

typedef struct qwd_entry {
    struct timespec deadline; /* CLOCK_MONOTONIC */
    duckdb_connection con;
    int fired;
    struct qwd_entry *prev, *next;
} qwd_entry;

/* Arms e: con is interrupted once timeout_s seconds have passed. 0, or -1 when the watchdog
 * thread cannot start (the query then runs without a deadline). */
int qwd_arm(qwd_entry *e, duckdb_connection con, double timeout_s);
/* Disarms e; after it returns the watchdog no longer touches con. 1 when it had fired. */
int qwd_disarm(qwd_entry *e);
/* 1 when e's deadline has fired. */
int qwd_fired(qwd_entry *e);

#endif
