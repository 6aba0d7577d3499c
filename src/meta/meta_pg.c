/* PostgreSQL driver (libpq): '?' placeholders rewritten to $n, values bound as text (blobs as
 * binary bytea), results materialised as text (bool as "1"/"0", bytea as raw bytes). */
#include "meta_internal.h"
#include "stmt_cache.h"

#include "util/log.h"

#include <ctype.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define OID_BOOL  16
#define OID_BYTEA 17

/* ------------------------------------------------------------ placeholders */

static int ident_char(char ch)
{
    return isalnum((unsigned char)ch) || ch == '_' || (unsigned char)ch >= 0x80;
}

/* Rewrites '?' outside string literals, quoted identifiers, comments and dollar quotes into
 * $1..$n. Returns a malloc'd string (count in *n) or NULL when out of memory. */
static char *pg_rewrite(const char *sql, int *n)
{
    size_t len = strlen(sql);
    size_t count = 0;
    for (size_t i = 0; i < len; i++)
        if (sql[i] == '?') count++;
    char *out = malloc(len + count * 11 + 1);
    if (!out) return NULL;
    size_t o = 0;
    int k = 0;
    size_t i = 0;
    while (i < len) {
        char ch = sql[i];
        if (ch == '\'') {
            /* E'...' strings treat backslash as an escape. */
            int esc = i > 0 && (sql[i - 1] == 'E' || sql[i - 1] == 'e') &&
                      (i < 2 || !ident_char(sql[i - 2]));
            out[o++] = sql[i++];
            while (i < len) {
                if (esc && sql[i] == '\\' && i + 1 < len) {
                    out[o++] = sql[i++];
                    out[o++] = sql[i++];
                    continue;
                }
                if (sql[i] == '\'') {
                    out[o++] = sql[i++];
                    if (i < len && sql[i] == '\'') { /* doubled quote stays inside */
                        out[o++] = sql[i++];
                        continue;
                    }
                    break;
                }
                out[o++] = sql[i++];
            }
        } else if (ch == '"') {
            out[o++] = sql[i++];
            while (i < len) {
                char q = sql[i];
                out[o++] = sql[i++];
                if (q == '"') {
                    if (i < len && sql[i] == '"') {
                        out[o++] = sql[i++];
                        continue;
                    }
                    break;
                }
            }
        } else if (ch == '-' && i + 1 < len && sql[i + 1] == '-') {
            while (i < len && sql[i] != '\n')
                out[o++] = sql[i++];
        } else if (ch == '/' && i + 1 < len && sql[i + 1] == '*') {
            int depth = 0;
            while (i < len) {
                if (sql[i] == '/' && i + 1 < len && sql[i + 1] == '*') {
                    depth++;
                    out[o++] = sql[i++];
                    out[o++] = sql[i++];
                } else if (sql[i] == '*' && i + 1 < len && sql[i + 1] == '/') {
                    depth--;
                    out[o++] = sql[i++];
                    out[o++] = sql[i++];
                    if (depth == 0) break;
                } else
                    out[o++] = sql[i++];
            }
        } else if (ch == '$' && (i == 0 || !ident_char(sql[i - 1]))) {
            /* Dollar quote $tag$ ... $tag$ (tag: identifier characters, may be empty). */
            size_t j = i + 1;
            while (j < len && (isalpha((unsigned char)sql[j]) || sql[j] == '_' ||
                               (j > i + 1 && isdigit((unsigned char)sql[j]))))
                j++;
            if (j < len && sql[j] == '$') {
                size_t taglen = j - i + 1;
                const char *tag = sql + i;
                const char *end = NULL;
                for (size_t p = j + 1; p + taglen <= len; p++)
                    if (memcmp(sql + p, tag, taglen) == 0) {
                        end = sql + p + taglen;
                        break;
                    }
                size_t stop = end ? (size_t)(end - sql) : len;
                while (i < stop)
                    out[o++] = sql[i++];
            } else
                out[o++] = sql[i++];
        } else if (ch == '?') {
            o += (size_t)sprintf(out + o, "$%d", ++k);
            i++;
        } else
            out[o++] = sql[i++];
    }
    out[o] = 0;
    *n = k;
    return out;
}

/* ------------------------------------------------------------ errors */

/* libpq messages carry newlines: one line, no trailing blank. */
static void flatten(char *s)
{
    if (!s) return;
    for (char *p = s; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t') *p = ' ';
    size_t n = strlen(s);
    while (n && s[n - 1] == ' ')
        s[--n] = 0;
}

static int pg_map(PGconn *conn, const PGresult *res, char *err, size_t errlen)
{
    if (!res) {
        meta_seterr(err, errlen, "%s", PQerrorMessage(conn));
        flatten(err);
        return META_CONN;
    }
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) return META_OK;
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    if (!state) state = "";
    if (!primary) primary = PQresultErrorMessage(res);
    /* Data exceptions (class 22) quote the offending value: do not echo it. */
    if (strncmp(state, "22", 2) == 0) primary = "invalid value for the column or expression";
    meta_seterr(err, errlen, "%s (SQLSTATE %s)", primary, *state ? state : "none");
    flatten(err);
    if (PQstatus(conn) == CONNECTION_BAD) return META_CONN;
    if (!strcmp(state, "23505") || !strcmp(state, "40001") || !strcmp(state, "40P01"))
        return META_CONFLICT;
    if (!strcmp(state, "55P03") || !strcmp(state, "57014")) return META_BUSY;
    if (!strncmp(state, "08", 2) || !strcmp(state, "57P01") || !strcmp(state, "57P02") ||
        !strcmp(state, "57P03"))
        return META_CONN;
    return META_ERR;
}

/* ------------------------------------------------------------ statements */

/* A connection: statements run as named prepared statements of the session (PQprepare once,
 * then PQexecPrepared), so the server parses and plans each SQL text once per connection
 * instead of once per call. */
typedef struct {
    PGconn *conn;
    stmt_cache cache;
    unsigned long next; /* statement names dlb_<n>, never reused in a session */
    int closing;        /* disconnecting: the session's statements go with it */
} pg_t;

typedef struct {
    char name[32];
} pg_stmt;

static void pg_dealloc(void *ctx, void *p)
{
    pg_t *pc = ctx;
    pg_stmt *st = p;
    /* Prepared statements are not transactional: DEALLOCATE works inside a transaction and
     * in an aborted one merely fails (the name is never reused, so that only costs memory on
     * the server until the session ends). */
    if (!pc->closing && PQstatus(pc->conn) == CONNECTION_OK &&
        PQtransactionStatus(pc->conn) != PQTRANS_INERROR) {
        char sql[64];
        snprintf(sql, sizeof(sql), "DEALLOCATE %s", st->name);
        PQclear(PQexec(pc->conn, sql));
    }
    free(st);
}

/* Parameter arrays for up to this many values live on the stack. */
#define PG_STACK_PARAMS STMT_CACHE_MAX_PARAMS

typedef struct {
    const char **vals;
    int *lens, *fmts;
    Oid *types;
    char *nums;
    char sig[PG_STACK_PARAMS + 1]; /* per value 'b' (bytea, typed at prepare) or '.' */
    const char *s_vals[PG_STACK_PARAMS];
    int s_lens[PG_STACK_PARAMS], s_fmts[PG_STACK_PARAMS];
    Oid s_types[PG_STACK_PARAMS];
    char s_nums[PG_STACK_PARAMS * 32];
    int heap;
} pg_params;

static void params_free(pg_params *pp)
{
    if (!pp->heap) return;
    free(pp->vals);
    free(pp->lens);
    free(pp->fmts);
    free(pp->types);
    free(pp->nums);
}

static int params_build(pg_params *pp, const meta_val *params, int nparams, char *err,
                        size_t errlen)
{
    size_t n = (size_t)nparams;
    if (nparams <= PG_STACK_PARAMS) {
        pp->vals = pp->s_vals;
        pp->lens = pp->s_lens;
        pp->fmts = pp->s_fmts;
        pp->types = pp->s_types;
        pp->nums = pp->s_nums;
        pp->heap = 0;
        memset(pp->s_vals, 0, n * sizeof(*pp->s_vals));
        memset(pp->s_lens, 0, n * sizeof(*pp->s_lens));
        memset(pp->s_fmts, 0, n * sizeof(*pp->s_fmts));
        memset(pp->s_types, 0, n * sizeof(*pp->s_types));
    } else {
        pp->heap = 1;
        pp->vals = calloc(n, sizeof(*pp->vals));
        pp->lens = calloc(n, sizeof(*pp->lens));
        pp->fmts = calloc(n, sizeof(*pp->fmts));
        pp->types = calloc(n, sizeof(*pp->types));
        pp->nums = calloc(n, 32);
        if (!pp->vals || !pp->lens || !pp->fmts || !pp->types || !pp->nums) {
            params_free(pp);
            meta_seterr(err, errlen, "out of memory");
            return META_ERR;
        }
    }
    for (int i = 0; i < nparams; i++) {
        const meta_val *v = &params[i];
        char *num = pp->nums + (size_t)i * 32;
        if (i < PG_STACK_PARAMS) pp->sig[i] = v->type == MV_BLOB ? 'b' : '.';
        switch (v->type) {
        case MV_NULL:
            break;
        case MV_INT:
            snprintf(num, 32, "%lld", (long long)v->i);
            pp->vals[i] = num;
            break;
        case MV_DOUBLE:
            if (isnan(v->d))
                snprintf(num, 32, "NaN");
            else if (isinf(v->d))
                snprintf(num, 32, "%sInfinity", v->d < 0 ? "-" : "");
            else
                snprintf(num, 32, "%.17g", v->d);
            pp->vals[i] = num;
            break;
        case MV_TEXT:
            pp->vals[i] = v->s;
            break;
        case MV_BLOB:
            pp->vals[i] = v->s ? v->s : "";
            pp->lens[i] = (int)v->len;
            pp->fmts[i] = 1;
            pp->types[i] = OID_BYTEA;
            break;
        default:
            meta_seterr(err, errlen, "value %d has an unknown type", i + 1);
            params_free(pp);
            return META_ERR;
        }
    }
    pp->sig[nparams <= PG_STACK_PARAMS ? nparams : 0] = 0;
    return META_OK;
}

/* The cached prepared statement for sql, prepared now when new; NULL with *rc META_OK when
 * the statement is not to be cached, NULL with an error code when preparing failed. */
static pg_stmt *pg_prepared(pg_t *pc, const char *sql, int nparams, const pg_params *pp, char *err,
                            size_t errlen, int *rc)
{
    *rc = META_OK;
    if (nparams > STMT_CACHE_MAX_PARAMS) return NULL;
    pg_stmt *st = stmt_cache_get(&pc->cache, sql, pp->sig);
    if (st) return st;
    int n = 0;
    char *q = pg_rewrite(sql, &n);
    if (!q) {
        meta_seterr(err, errlen, "out of memory");
        *rc = META_ERR;
        return NULL;
    }
    if (n != nparams) {
        meta_seterr(err, errlen, "statement has %d placeholders, %d values given", n, nparams);
        free(q);
        *rc = META_ERR;
        return NULL;
    }
    st = calloc(1, sizeof(*st));
    if (!st) {
        free(q);
        return NULL; /* run unprepared */
    }
    snprintf(st->name, sizeof(st->name), "dlb_%lu", ++pc->next);
    PGresult *res = PQprepare(pc->conn, st->name, q, nparams, pp->types);
    free(q);
    *rc = pg_map(pc->conn, res, err, errlen);
    PQclear(res);
    if (*rc != META_OK) {
        free(st);
        return NULL;
    }
    if (stmt_cache_put(&pc->cache, sql, pp->sig, st)) {
        pg_dealloc(pc, st);
        return NULL; /* out of memory for the entry: run unprepared */
    }
    return st;
}

static PGresult *pg_run(pg_t *pc, const char *sql, const meta_val *params, int nparams, char *err,
                        size_t errlen, int *rc)
{
    pg_params pp;
    *rc = params_build(&pp, params, nparams, err, errlen);
    if (*rc != META_OK) return NULL;
    PGresult *res = NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        pg_stmt *st = pg_prepared(pc, sql, nparams, &pp, err, errlen, rc);
        if (!st && *rc != META_OK) break;
        if (st) {
            res = PQexecPrepared(pc->conn, st->name, nparams, pp.vals, pp.lens, pp.fmts, 0);
        } else {
            int n = 0;
            char *q = pg_rewrite(sql, &n);
            if (!q || n != nparams) {
                if (q)
                    meta_seterr(err, errlen, "statement has %d placeholders, %d values given", n,
                                nparams);
                else
                    meta_seterr(err, errlen, "out of memory");
                free(q);
                *rc = META_ERR;
                break;
            }
            res = PQexecParams(pc->conn, q, nparams, pp.types, pp.vals, pp.lens, pp.fmts, 0);
            free(q);
        }
        *rc = pg_map(pc->conn, res, err, errlen);
        if (*rc == META_OK || !st) break;
        /* A table under a cached statement changed its columns ("cached plan must not change
         * result type", 0A000): the statement is stale for good. Outside a transaction it is
         * prepared afresh at once; inside one, the transaction has failed and its retry will. */
        const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        if (!state || strcmp(state, "0A000") != 0) break;
        stmt_cache_drop(&pc->cache, st);
        if (PQtransactionStatus(pc->conn) != PQTRANS_IDLE) {
            *rc = META_CONFLICT;
            break;
        }
        PQclear(res);
        res = NULL;
    }
    params_free(&pp);
    if (*rc != META_OK) {
        PQclear(res);
        return NULL;
    }
    return res;
}

static int64_t pg_exec(meta_conn *c, const char *sql, const meta_val *params, int nparams,
                       char *err, size_t errlen)
{
    int rc;
    PGresult *res = pg_run(c->h, sql, params, nparams, err, errlen, &rc);
    if (!res) return rc;
    int64_t out = 0;
    const char *tuples = PQcmdTuples(res);
    if (tuples && *tuples) out = strtoll(tuples, NULL, 10);
    /* COMMIT of a failed transaction succeeds with the tag ROLLBACK. */
    const char *p = sql;
    while (isspace((unsigned char)*p))
        p++;
    if (strncasecmp(p, "COMMIT", 6) == 0 && strcmp(PQcmdStatus(res), "ROLLBACK") == 0) {
        meta_seterr(err, errlen, "transaction had failed and was rolled back");
        out = META_ERR;
    }
    PQclear(res);
    return out;
}

static meta_result *pg_query(meta_conn *c, const char *sql, const meta_val *params, int nparams,
                             int *rcp, char *err, size_t errlen)
{
    PGresult *res = pg_run(c->h, sql, params, nparams, err, errlen, rcp);
    if (!res) return NULL;
    int ncols = PQnfields(res), nrows = PQntuples(res);
    meta_result *r = meta_result_new(ncols);
    if (!r) goto oom;
    for (int i = 0; i < ncols; i++)
        if (meta_result_set_colname(r, i, PQfname(res, i))) goto oom;
    for (int row = 0; row < nrows; row++) {
        if (meta_result_add_row(r) < 0) goto oom;
        for (int i = 0; i < ncols; i++) {
            if (PQgetisnull(res, row, i)) continue;
            const char *v = PQgetvalue(res, row, i);
            size_t n = (size_t)PQgetlength(res, row, i);
            Oid t = PQftype(res, i);
            int bad;
            if (t == OID_BOOL) {
                bad = meta_result_set(r, row, i, v[0] == 't' ? "1" : "0", 1);
            } else if (t == OID_BYTEA) {
                size_t bn = 0;
                unsigned char *b = PQunescapeBytea((const unsigned char *)v, &bn);
                bad = b ? meta_result_set(r, row, i, (const char *)b, bn) : -1;
                if (b) PQfreemem(b);
            } else
                bad = meta_result_set(r, row, i, v, n);
            if (bad) goto oom;
        }
    }
    PQclear(res);
    return r;
oom:
    PQclear(res);
    meta_result_free(r);
    meta_seterr(err, errlen, "out of memory");
    *rcp = META_ERR;
    return NULL;
}

static int pg_exec_script(meta_conn *c, const char *sql, char *err, size_t errlen)
{
    PGconn *conn = ((pg_t *)c->h)->conn;
    PGresult *res = PQexec(conn, sql);
    int rc = pg_map(conn, res, err, errlen);
    PQclear(res);
    return rc;
}

static int pg_in_transaction(meta_conn *c)
{
    PGTransactionStatusType t = PQtransactionStatus(((pg_t *)c->h)->conn);
    return t == PQTRANS_INTRANS || t == PQTRANS_INERROR;
}

/* ------------------------------------------------------------ connect */

static void pg_notice(void *arg, const char *message)
{
    (void)arg;
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", message);
    flatten(buf);
    log_debug("postgres notice", "message", buf);
}

static void pg_disconnect(void *h)
{
    pg_t *pc = h;
    if (!pc) return;
    pc->closing = 1;
    stmt_cache_clear(&pc->cache);
    PQfinish(pc->conn);
    free(pc);
}

/* One bound statement during connection set-up; META_OK or a code with err set. */
static int pg_setup(PGconn *conn, const char *sql, const char *value, char *err, size_t errlen,
                    int *found)
{
    const char *vals[1] = {value};
    PGresult *res =
        PQexecParams(conn, sql, value ? 1 : 0, NULL, value ? vals : NULL, NULL, NULL, 0);
    int rc = pg_map(conn, res, err, errlen);
    if (found) *found = rc == META_OK && PQntuples(res) > 0;
    PQclear(res);
    return rc;
}

static int pg_ensure_schema(PGconn *conn, const char *schema, char *err, size_t errlen)
{
    int found = 0;
    int rc = pg_setup(conn, "SELECT 1 FROM pg_namespace WHERE nspname = $1", schema, err, errlen,
                      &found);
    if (rc != META_OK || found) return rc;
    /* The name is a validated identifier ([A-Za-z_][A-Za-z0-9_]*), so quoting is exact. */
    char sql[128];
    snprintf(sql, sizeof(sql), "CREATE SCHEMA IF NOT EXISTS \"%s\"", schema);
    PGresult *res = PQexec(conn, sql);
    rc = pg_map(conn, res, err, errlen);
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    /* Another process created it at the same moment. */
    if (rc != META_OK && state && (!strcmp(state, "42P06") || !strcmp(state, "23505")))
        rc = META_OK;
    PQclear(res);
    if (rc == META_OK) log_info("created PostgreSQL schema", "schema", schema);
    return rc;
}

static int pg_connect(meta_t *m, void **handle, char *err, size_t errlen)
{
    const char *kw[12], *val[12];
    int k = 0;
    kw[k] = "host", val[k++] = m->pg_host;
    kw[k] = "port", val[k++] = m->pg_port;
    kw[k] = "dbname", val[k++] = m->pg_db;
    kw[k] = "user", val[k++] = m->pg_user;
    if (m->pg_password && *m->pg_password) kw[k] = "password", val[k++] = m->pg_password;
    kw[k] = "sslmode", val[k++] = m->pg_sslmode;
    kw[k] = "connect_timeout", val[k++] = m->pg_connect_timeout;
    kw[k] = "application_name", val[k++] = "ducklake-backend";
    kw[k] = "client_encoding", val[k++] = "UTF8";
    kw[k] = NULL, val[k] = NULL;
    PGconn *conn = PQconnectdbParams(kw, val, 0);
    if (!conn) {
        meta_seterr(err, errlen, "out of memory");
        return META_CONN;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        meta_seterr(err, errlen, "%s", PQerrorMessage(conn));
        flatten(err);
        PQfinish(conn);
        return META_CONN;
    }
    PQsetNoticeProcessor(conn, pg_notice, NULL);

    char ms[32], path[160];
    snprintf(ms, sizeof(ms), "%ld", m->statement_timeout_ms);
    if (m->pg_lake_schema)
        snprintf(path, sizeof(path), "\"%s\", \"%s\"", m->pg_schema, m->pg_lake_schema);
    else
        snprintf(path, sizeof(path), "\"%s\"", m->pg_schema);
    int rc =
        pg_setup(conn, "SELECT set_config('statement_timeout', $1, false)", ms, err, errlen, NULL);
    if (rc == META_OK) rc = pg_ensure_schema(conn, m->pg_schema, err, errlen);
    if (rc == META_OK && m->pg_lake_schema)
        rc = pg_ensure_schema(conn, m->pg_lake_schema, err, errlen);
    if (rc == META_OK)
        rc = pg_setup(conn, "SELECT set_config('search_path', $1, false)", path, err, errlen, NULL);
    if (rc != META_OK) {
        PQfinish(conn);
        return rc == META_BUSY ? META_BUSY : META_CONN;
    }
    pg_t *pc = calloc(1, sizeof(*pc));
    if (!pc) {
        PQfinish(conn);
        meta_seterr(err, errlen, "out of memory");
        return META_CONN;
    }
    pc->conn = conn;
    stmt_cache_init(&pc->cache, pg_dealloc, pc);
    *handle = pc;
    return META_OK;
}

static stmt_cache *pg_cache(meta_conn *c)
{
    return &((pg_t *)c->h)->cache;
}

const meta_driver meta_pg_driver = {
    .name = "postgres",
    .connect = pg_connect,
    .disconnect = pg_disconnect,
    .exec = pg_exec,
    .query = pg_query,
    .exec_script = pg_exec_script,
    .in_transaction = pg_in_transaction,
    .cache = pg_cache,
    .begin_sql = "BEGIN",
};
