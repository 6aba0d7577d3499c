/* SQLite driver: one sqlite3 handle per pooled connection, WAL, synchronous=FULL. */
#include "meta_internal.h"
#include "stmt_cache.h"

#include "util/clock.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    sqlite3 *db;
    uint64_t deadline_ns; /* 0: no statement running */
    /* Parsing is most of the CPU of a small statement (bench/lineage: half of an event's),
     * so statements are prepared once per connection and reset between uses. */
    stmt_cache cache;
} sq_t;

static void sq_finalize(void *ctx, void *st)
{
    (void)ctx;
    sqlite3_finalize(st);
}

/* Progress handler: interrupts a statement running longer than the command timeout. */
static int sq_progress(void *arg)
{
    const sq_t *s = arg;
    return s->deadline_ns && clock_mono_ns() > s->deadline_ns;
}

static int sq_map(int rc)
{
    switch (rc) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return META_OK;
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        return META_CONFLICT;
    default:
        break;
    }
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_INTERRUPT:
        return META_BUSY;
    case SQLITE_CANTOPEN:
    case SQLITE_NOTADB:
        return META_CONN;
    default:
        return META_ERR;
    }
}

static int sq_fail(sq_t *s, int rc, char *err, size_t errlen)
{
    if ((rc & 0xff) == SQLITE_INTERRUPT)
        meta_seterr(err, errlen, "statement timeout (SQLite)");
    else
        meta_seterr(err, errlen, "%s (SQLite %d)", sqlite3_errmsg(s->db), rc);
    return sq_map(rc);
}

static void sq_disconnect(void *h)
{
    sq_t *s = h;
    if (!s) return;
    stmt_cache_clear(&s->cache);
    sqlite3_close_v2(s->db);
    free(s);
}

static int sq_connect(meta_t *m, void **handle, char *err, size_t errlen)
{
    sq_t *s = calloc(1, sizeof(*s));
    if (!s) {
        meta_seterr(err, errlen, "out of memory");
        return META_ERR;
    }
    stmt_cache_init(&s->cache, sq_finalize, NULL);
    int rc =
        sqlite3_open_v2(m->sqlite_path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        meta_seterr(err, errlen, "cannot open %s: %s", m->sqlite_path,
                    s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        sq_disconnect(s);
        return META_CONN;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, (int)(m->conn_timeout * 1000.0));
    sqlite3_progress_handler(s->db, 10000, sq_progress, s);
    char *msg = NULL;
    rc = sqlite3_exec(s->db,
                      "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
                      NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        meta_seterr(err, errlen, "cannot configure %s: %s", m->sqlite_path,
                    msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        sq_disconnect(s);
        return sq_map(rc) == META_BUSY ? META_BUSY : META_CONN;
    }
    *handle = s;
    return META_OK;
}

/* Prepares one statement (or takes it from the connection's cache), checked to be a single
 * statement with nparams placeholders. */
static int sq_compile(sq_t *s, const char *sql, int nparams, sqlite3_stmt **out, int *cached,
                      char *err, size_t errlen)
{
    int cacheable = nparams <= STMT_CACHE_MAX_PARAMS;
    sqlite3_stmt *st = cacheable ? stmt_cache_get(&s->cache, sql, "") : NULL;
    *cached = st != NULL;
    if (st) {
        if (sqlite3_bind_parameter_count(st) != nparams) {
            meta_seterr(err, errlen, "statement has %d placeholders, %d values given",
                        sqlite3_bind_parameter_count(st), nparams);
            return META_ERR;
        }
        *out = st;
        return META_OK;
    }
    const char *tail = NULL;
    int rc =
        sqlite3_prepare_v3(s->db, sql, -1, cacheable ? SQLITE_PREPARE_PERSISTENT : 0, &st, &tail);
    if (rc != SQLITE_OK) return sq_fail(s, rc, err, errlen);
    if (!st) {
        meta_seterr(err, errlen, "empty statement");
        return META_ERR;
    }
    while (tail && *tail &&
           (*tail == ';' || *tail == ' ' || *tail == '\n' || *tail == '\t' || *tail == '\r'))
        tail++;
    if (tail && *tail) {
        sqlite3_finalize(st);
        meta_seterr(err, errlen, "more than one statement (use meta_exec_script)");
        return META_ERR;
    }
    if (sqlite3_bind_parameter_count(st) != nparams) {
        meta_seterr(err, errlen, "statement has %d placeholders, %d values given",
                    sqlite3_bind_parameter_count(st), nparams);
        sqlite3_finalize(st);
        return META_ERR;
    }
    /* Out of memory for the cache entry: the statement is simply not kept. */
    *cached = cacheable && stmt_cache_put(&s->cache, sql, "", st) == 0;
    *out = st;
    return META_OK;
}

/* Ends a use of st: a cached statement is reset (which also ends the read transaction an
 * unfinished one would hold open in WAL mode) and loses its bindings (they point into the
 * caller's memory); any other is finalized. */
static void sq_done(sqlite3_stmt *st, int cached)
{
    if (!cached) {
        sqlite3_finalize(st);
        return;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* Prepares one statement and binds the parameters. */
static int sq_prepare(meta_conn *c, const char *sql, const meta_val *params, int nparams,
                      sqlite3_stmt **out, int *cached, char *err, size_t errlen)
{
    sq_t *s = c->h;
    sqlite3_stmt *st = NULL;
    int rc = sq_compile(s, sql, nparams, &st, cached, err, errlen);
    if (rc != META_OK) return rc;
    for (int i = 0; i < nparams; i++) {
        const meta_val *v = &params[i];
        switch (v->type) {
        case MV_NULL:
            rc = sqlite3_bind_null(st, i + 1);
            break;
        case MV_INT:
            rc = sqlite3_bind_int64(st, i + 1, v->i);
            break;
        case MV_DOUBLE:
            rc = sqlite3_bind_double(st, i + 1, v->d);
            break;
        case MV_TEXT:
            rc = v->s ? sqlite3_bind_text(st, i + 1, v->s, -1, SQLITE_STATIC)
                      : sqlite3_bind_null(st, i + 1);
            break;
        case MV_BLOB:
            if (v->len == 0 || !v->s)
                rc = sqlite3_bind_zeroblob(st, i + 1, 0);
            else
                rc = sqlite3_bind_blob64(st, i + 1, v->s, v->len, SQLITE_STATIC);
            break;
        default:
            rc = SQLITE_MISUSE;
            break;
        }
        if (rc != SQLITE_OK) {
            meta_seterr(err, errlen, "cannot bind value %d: %s", i + 1, sqlite3_errstr(rc));
            sq_done(st, *cached);
            return META_ERR;
        }
    }
    *out = st;
    return META_OK;
}

static void sq_arm(meta_conn *c)
{
    sq_t *s = c->h;
    s->deadline_ns = c->m->statement_timeout_ms > 0
                         ? clock_mono_ns() + (uint64_t)c->m->statement_timeout_ms * 1000000ull
                         : 0;
}

static void sq_disarm(meta_conn *c)
{
    ((sq_t *)c->h)->deadline_ns = 0;
}

static int64_t sq_exec(meta_conn *c, const char *sql, const meta_val *params, int nparams,
                       char *err, size_t errlen)
{
    sq_t *s = c->h;
    sqlite3_stmt *st = NULL;
    int cached = 0;
    int rc = sq_prepare(c, sql, params, nparams, &st, &cached, err, errlen);
    if (rc != META_OK) return rc;
    sq_arm(c);
    sqlite3_int64 before = sqlite3_total_changes64(s->db);
    do {
        rc = sqlite3_step(st);
    } while (rc == SQLITE_ROW);
    sq_disarm(c);
    int64_t out;
    if (rc == SQLITE_DONE)
        out = sqlite3_total_changes64(s->db) == before ? 0 : (int64_t)sqlite3_changes64(s->db);
    else
        out = sq_fail(s, rc, err, errlen);
    sq_done(st, cached);
    return out;
}

static meta_result *sq_query(meta_conn *c, const char *sql, const meta_val *params, int nparams,
                             int *rcp, char *err, size_t errlen)
{
    sq_t *s = c->h;
    sqlite3_stmt *st = NULL;
    int cached = 0;
    *rcp = sq_prepare(c, sql, params, nparams, &st, &cached, err, errlen);
    if (*rcp != META_OK) return NULL;
    /* Columns are read after the first step: a cached statement whose tables changed is
     * recompiled by that step, and "SELECT *" may then have other columns. */
    sq_arm(c);
    int rc = sqlite3_step(st);
    int ncols = sqlite3_column_count(st);
    meta_result *r = meta_result_new(ncols);
    if (!r) goto oom;
    for (int i = 0; i < ncols; i++)
        if (meta_result_set_colname(r, i, sqlite3_column_name(st, i))) goto oom;
    for (; rc == SQLITE_ROW; rc = sqlite3_step(st)) {
        int row = meta_result_add_row(r);
        if (row < 0) goto oom;
        for (int i = 0; i < ncols; i++) {
            char num[32];
            int bad = 0;
            switch (sqlite3_column_type(st, i)) {
            case SQLITE_NULL:
                break;
            case SQLITE_INTEGER:
                snprintf(num, sizeof(num), "%lld", (long long)sqlite3_column_int64(st, i));
                bad = meta_result_set(r, row, i, num, strlen(num));
                break;
            case SQLITE_FLOAT:
                snprintf(num, sizeof(num), "%.17g", sqlite3_column_double(st, i));
                bad = meta_result_set(r, row, i, num, strlen(num));
                break;
            case SQLITE_BLOB: {
                const void *b = sqlite3_column_blob(st, i);
                size_t n = (size_t)sqlite3_column_bytes(st, i);
                bad = meta_result_set(r, row, i, b ? b : "", n);
                break;
            }
            default: {
                const unsigned char *t = sqlite3_column_text(st, i);
                size_t n = (size_t)sqlite3_column_bytes(st, i);
                bad = meta_result_set(r, row, i, t ? (const char *)t : "", n);
                break;
            }
            }
            if (bad) goto oom;
        }
    }
    sq_disarm(c);
    if (rc != SQLITE_DONE) {
        *rcp = sq_fail(s, rc, err, errlen);
        sq_done(st, cached);
        meta_result_free(r);
        return NULL;
    }
    sq_done(st, cached);
    return r;
oom:
    sq_disarm(c);
    sq_done(st, cached);
    meta_result_free(r);
    meta_seterr(err, errlen, "out of memory");
    *rcp = META_ERR;
    return NULL;
}

static int sq_exec_script(meta_conn *c, const char *sql, char *err, size_t errlen)
{
    sq_t *s = c->h;
    char *msg = NULL;
    sq_arm(c);
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);
    sq_disarm(c);
    if (rc != SQLITE_OK) {
        meta_seterr(err, errlen, "%s (SQLite %d)", msg ? msg : sqlite3_errstr(rc), rc);
        sqlite3_free(msg);
        return sq_map(rc);
    }
    return META_OK;
}

static int sq_in_transaction(meta_conn *c)
{
    return !sqlite3_get_autocommit(((sq_t *)c->h)->db);
}

static stmt_cache *sq_cache(meta_conn *c)
{
    return &((sq_t *)c->h)->cache;
}

const meta_driver meta_sqlite_driver = {
    .name = "sqlite",
    .connect = sq_connect,
    .disconnect = sq_disconnect,
    .exec = sq_exec,
    .query = sq_query,
    .exec_script = sq_exec_script,
    .in_transaction = sq_in_transaction,
    .cache = sq_cache,
    .begin_sql = "BEGIN IMMEDIATE",
};
