/* Internals shared by the pool (meta.c), the two drivers and the migrations. */
#ifndef DLB_META_INTERNAL_H
#define DLB_META_INTERNAL_H

#include "meta.h"

#include <pthread.h>

typedef struct meta_driver {
    const char *name;
    /* Opens one connection into *handle; META_OK or a META_* code with err set. */
    int (*connect)(meta_t *m, void **handle, char *err, size_t errlen);
    void (*disconnect)(void *handle);
    int64_t (*exec)(meta_conn *c, const char *sql, const meta_val *params, int nparams, char *err,
                    size_t errlen);
    meta_result *(*query)(meta_conn *c, const char *sql, const meta_val *params, int nparams,
                          int *rc, char *err, size_t errlen);
    int (*exec_script)(meta_conn *c, const char *sql, char *err, size_t errlen);
    /* 1 when a transaction is open on the connection. */
    int (*in_transaction)(meta_conn *c);
    /* The connection's prepared-statement cache (stmt_cache.h). */
    struct stmt_cache_s *(*cache)(meta_conn *c);
    const char *begin_sql;
} meta_driver;

struct meta_conn {
    meta_t *m;
    void *h;      /* sqlite3 * or PGconn *; NULL until connected */
    int in_use;   /* handed out by meta_acquire */
    int broken;   /* a call reported META_CONN: discard on release */
    unsigned gen; /* pool generation the handle was opened in */
    int index;
};

struct meta {
    const meta_driver *drv;
    int is_pg;
    /* SQLite */
    char *sqlite_path;
    /* PostgreSQL (password kept only for reconnecting; never logged) */
    char *pg_host, *pg_port, *pg_db, *pg_user, *pg_password, *pg_sslmode;
    char *pg_schema;      /* validated identifier, unquoted */
    char *pg_lake_schema; /* validated identifier or NULL ("main" = connection default) */
    char pg_connect_timeout[24];
    long statement_timeout_ms;
    double conn_timeout; /* seconds: acquire wait, SQLite busy timeout */

    pthread_mutex_t mu;
    pthread_cond_t cv;
    meta_conn *slots;
    int nslots;
    unsigned gen;
    char last_err[256]; /* last connect error (under mu) */
};

struct meta_result {
    int rows, cols, cap;
    char **colnames;
    char **vals; /* rows * cols; NULL for SQL NULL; always NUL-terminated */
    size_t *lens;
};

extern const meta_driver meta_sqlite_driver;
extern const meta_driver meta_pg_driver;

/* Result building (meta.c). */
meta_result *meta_result_new(int cols);
/* Sets a column name (copied); 0 or -1 on allocation failure. */
int meta_result_set_colname(meta_result *r, int col, const char *name);
/* Appends an empty row; its index or -1. */
int meta_result_add_row(meta_result *r);
/* Copies len bytes (+NUL) into the value; data NULL stores SQL NULL. 0 or -1. */
int meta_result_set(meta_result *r, int row, int col, const char *data, size_t len);
/* Takes ownership of a malloc'd buffer holding len bytes plus a NUL. */
void meta_result_take(meta_result *r, int row, int col, char *data, size_t len);

/* Writes "fmt..." into err when err is not NULL. */
void meta_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* 1 when s matches [A-Za-z_][A-Za-z0-9_]{0,62}. */
int meta_ident_valid(const char *s);

/* Applies pending migrations on c (migrations.c); META_OK or a META_* code. */
int meta_migrate(meta_conn *c, char *err, size_t errlen);

#endif
