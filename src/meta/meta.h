/* Metadata database: one interface, two drivers (SQLite file, PostgreSQL via libpq).
 * SQL is written once with '?' placeholders; the PostgreSQL driver rewrites them to $n.
 * Values are always bound, never pasted into SQL. */
#ifndef DLB_META_H
#define DLB_META_H

#include <stddef.h>
#include <stdint.h>

struct config;

typedef struct meta meta_t;
typedef struct meta_conn meta_conn;
typedef struct meta_result meta_result;

/* Result codes (negative) of exec/query/begin/commit. */
enum {
    META_OK = 0,
    META_ERR = -1,      /* anything else: bad SQL, constraint other than unique ... */
    META_CONFLICT = -2, /* unique violation or serialization failure: retry on fresh state */
    META_BUSY = -3,     /* lock or pool timeout */
    META_CONN = -4,     /* connection lost or cannot connect */
};

typedef enum { MV_NULL, MV_INT, MV_DOUBLE, MV_TEXT, MV_BLOB } meta_type;

typedef struct {
    meta_type type;
    int64_t i;
    double d;
    const char *s; /* MV_TEXT (NUL-terminated) or MV_BLOB */
    size_t len;    /* MV_BLOB */
} meta_val;

#define MVNULL   ((meta_val){.type = MV_NULL})
#define MVINT(x) ((meta_val){.type = MV_INT, .i = (x)})
#define MVDBL(x) ((meta_val){.type = MV_DOUBLE, .d = (x)})
/* A function, not a conditional in the macro: with a char array argument the NULL test would
 * trip -Werror=address. NULL text binds SQL NULL. */
static inline meta_val meta_text_val(const char *s)
{
    return (meta_val){.type = s ? MV_TEXT : MV_NULL, .s = s};
}
#define MVTEXT(x)    meta_text_val(x)
#define MVBLOB(p, n) ((meta_val){.type = MV_BLOB, .s = (p), .len = (n)})

/* Opens the database the configuration names (PostgreSQL when DB_POSTGRES_HOST is set, else
 * DATA_DIR/catalog.sqlite), retrying per DB_DUCKLAKE_CONNECTION_RETRIES/_RETRY_DELAY, and
 * applies pending migrations. NULL with a message in err on failure. */
meta_t *meta_open(const struct config *cfg, char *err, size_t errlen);
void meta_close(meta_t *m);
/* "sqlite" or "postgres". */
const char *meta_backend(const meta_t *m);
/* Cheap liveness check (SELECT 1 on a pooled connection); 0 when healthy. */
int meta_ping(meta_t *m, char *err, size_t errlen);
/* Drops every idle pooled connection so the next acquire reconnects; in-use ones are
 * replaced when released. */
void meta_reconnect(meta_t *m);
/* Highest applied migration version. */
int meta_schema_version(meta_t *m);

/* Connections come from a pool: acquire blocks up to the connection timeout (NULL then). */
meta_conn *meta_acquire(meta_t *m);
void meta_release(meta_t *m, meta_conn *c);

int meta_begin(meta_conn *c); /* SQLite: BEGIN IMMEDIATE; PostgreSQL: BEGIN */
int meta_commit(meta_conn *c);
int meta_rollback(meta_conn *c);

/* Runs one statement; returns rows affected by INSERT/UPDATE/DELETE (>= 0) or a META_* code.
 * err may be NULL; it never contains bound values. A META_CONN connection is replaced when
 * released. */
int64_t meta_exec(meta_conn *c, const char *sql, const meta_val *params, int nparams, char *err,
                  size_t errlen);
/* Runs a query and materialises the result; NULL on error (code in *rc when rc != NULL). */
meta_result *meta_query(meta_conn *c, const char *sql, const meta_val *params, int nparams, int *rc,
                        char *err, size_t errlen);
/* Several statements separated by ';' without parameters (migrations, DDL). */
int meta_exec_script(meta_conn *c, const char *sql, char *err, size_t errlen);

int meta_result_rows(const meta_result *r);
int meta_result_cols(const meta_result *r);
const char *meta_result_colname(const meta_result *r, int col);
/* Text form of a value; NULL for SQL NULL. Valid until meta_result_free. Integers and doubles
 * as decimal text, blobs (SQLite BLOB, PostgreSQL bytea) as their raw bytes (see
 * meta_result_len), PostgreSQL booleans as "1"/"0" like SQLite. Always NUL-terminated. */
const char *meta_result_get(const meta_result *r, int row, int col);
int meta_result_isnull(const meta_result *r, int row, int col);
int64_t meta_result_int(const meta_result *r, int row, int col); /* 0 for NULL */
double meta_result_double(const meta_result *r, int row, int col);
/* Length in bytes of a value (blobs may contain NUL bytes; 0 for NULL). */
size_t meta_result_len(const meta_result *r, int row, int col);
void meta_result_free(meta_result *r);

/* The prepared-statement cache of a connection (for tests and diagnostics): lookups that
 * found a statement, lookups that prepared one, statements held. */
void meta_stmt_stats(meta_conn *c, uint64_t *hits, uint64_t *misses, int *cached);

/* Number of pooled connections at most. */
int meta_pool_size(const meta_t *m);

#endif
