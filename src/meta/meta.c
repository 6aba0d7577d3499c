/* Metadata database: configuration, connection pool, dispatch to the driver, results. */
#include "meta_internal.h"
#include "stmt_cache.h"

#include "config.h"
#include "util/log.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

void meta_seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int meta_ident_valid(const char *s)
{
    if (!s || !*s) return 0;
    size_t n = 0;
    for (const char *p = s; *p; p++, n++) {
        char ch = *p;
        int alpha = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || ch == '_';
        int digit = ch >= '0' && ch <= '9';
        if (!(alpha || (n > 0 && digit))) return 0;
    }
    return n <= 63;
}

/* ---------------------------------------------------------------- results */

meta_result *meta_result_new(int cols)
{
    meta_result *r = calloc(1, sizeof(*r));
    if (!r) return NULL;
    r->cols = cols;
    if (cols > 0) {
        r->colnames = calloc((size_t)cols, sizeof(char *));
        if (!r->colnames) {
            free(r);
            return NULL;
        }
    }
    return r;
}

int meta_result_set_colname(meta_result *r, int col, const char *name)
{
    r->colnames[col] = strdup(name ? name : "");
    return r->colnames[col] ? 0 : -1;
}

int meta_result_add_row(meta_result *r)
{
    if (r->rows == r->cap) {
        int ncap = r->cap ? r->cap * 2 : 16;
        size_t cells = (size_t)ncap * (size_t)(r->cols ? r->cols : 1);
        char **nv = realloc(r->vals, cells * sizeof(char *));
        if (!nv) return -1;
        r->vals = nv;
        size_t *nl = realloc(r->lens, cells * sizeof(size_t));
        if (!nl) return -1;
        r->lens = nl;
        r->cap = ncap;
    }
    size_t base = (size_t)r->rows * (size_t)r->cols;
    for (int c = 0; c < r->cols; c++) {
        r->vals[base + (size_t)c] = NULL;
        r->lens[base + (size_t)c] = 0;
    }
    return r->rows++;
}

int meta_result_set(meta_result *r, int row, int col, const char *data, size_t len)
{
    if (!data) return 0;
    char *copy = malloc(len + 1);
    if (!copy) return -1;
    if (len) memcpy(copy, data, len);
    copy[len] = 0;
    meta_result_take(r, row, col, copy, len);
    return 0;
}

void meta_result_take(meta_result *r, int row, int col, char *data, size_t len)
{
    size_t i = (size_t)row * (size_t)r->cols + (size_t)col;
    free(r->vals[i]);
    r->vals[i] = data;
    r->lens[i] = len;
}

static int cell_ok(const meta_result *r, int row, int col)
{
    return r && row >= 0 && row < r->rows && col >= 0 && col < r->cols;
}

int meta_result_rows(const meta_result *r)
{
    return r ? r->rows : 0;
}

int meta_result_cols(const meta_result *r)
{
    return r ? r->cols : 0;
}

const char *meta_result_colname(const meta_result *r, int col)
{
    return r && col >= 0 && col < r->cols ? r->colnames[col] : NULL;
}

const char *meta_result_get(const meta_result *r, int row, int col)
{
    return cell_ok(r, row, col) ? r->vals[(size_t)row * (size_t)r->cols + (size_t)col] : NULL;
}

size_t meta_result_len(const meta_result *r, int row, int col)
{
    return cell_ok(r, row, col) ? r->lens[(size_t)row * (size_t)r->cols + (size_t)col] : 0;
}

int meta_result_isnull(const meta_result *r, int row, int col)
{
    return meta_result_get(r, row, col) == NULL;
}

int64_t meta_result_int(const meta_result *r, int row, int col)
{
    const char *s = meta_result_get(r, row, col);
    if (!s) return 0;
    if (strcmp(s, "t") == 0 || strcmp(s, "true") == 0) return 1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end != s && *end && *end != ' ') {
        /* "3.0" or "1e3": go through double, clamped. */
        double d = strtod(s, NULL);
        if (isnan(d)) return 0;
        if (d >= 9.2e18) return INT64_MAX;
        if (d <= -9.2e18) return INT64_MIN;
        return (int64_t)d;
    }
    return (int64_t)v;
}

double meta_result_double(const meta_result *r, int row, int col)
{
    const char *s = meta_result_get(r, row, col);
    return s ? strtod(s, NULL) : 0.0;
}

void meta_result_free(meta_result *r)
{
    if (!r) return;
    for (size_t i = 0; i < (size_t)r->rows * (size_t)r->cols; i++)
        free(r->vals[i]);
    for (int c = 0; c < r->cols; c++)
        free(r->colnames[c]);
    free(r->colnames);
    free(r->vals);
    free(r->lens);
    free(r);
}

/* ---------------------------------------------------------------- pool */

static void deadline_after(struct timespec *ts, double seconds)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    double whole = floor(seconds);
    ts->tv_sec += (time_t)whole;
    ts->tv_nsec += (long)((seconds - whole) * 1e9);
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Connects c (held in use by the caller, so no lock needed for its fields). */
static int conn_open(meta_t *m, meta_conn *c, unsigned gen, char *err, size_t errlen)
{
    void *h = NULL;
    int rc = m->drv->connect(m, &h, err, errlen);
    if (rc != META_OK) return rc;
    c->h = h;
    c->broken = 0;
    c->gen = gen;
    return META_OK;
}

meta_conn *meta_acquire(meta_t *m)
{
    if (!m) return NULL;
    struct timespec dl;
    deadline_after(&dl, m->conn_timeout);
    pthread_mutex_lock(&m->mu);
    meta_conn *pick = NULL;
    for (;;) {
        meta_conn *empty = NULL;
        for (int i = 0; i < m->nslots; i++) {
            meta_conn *c = &m->slots[i];
            if (c->in_use) continue;
            if (c->h) {
                pick = c;
                break;
            }
            if (!empty) empty = c;
        }
        if (!pick) pick = empty;
        if (pick) break;
        if (pthread_cond_timedwait(&m->cv, &m->mu, &dl) == ETIMEDOUT) {
            pthread_mutex_unlock(&m->mu);
            log_warn("metadata pool exhausted", "backend", m->drv->name);
            return NULL;
        }
    }
    pick->in_use = 1;
    unsigned gen = m->gen;
    pthread_mutex_unlock(&m->mu);
    if (pick->h) return pick;

    char err[256];
    if (conn_open(m, pick, gen, err, sizeof(err)) != META_OK) {
        log_warn("metadata connection failed", "backend", m->drv->name, "error", err);
        pthread_mutex_lock(&m->mu);
        snprintf(m->last_err, sizeof(m->last_err), "%s", err);
        pick->in_use = 0;
        pthread_cond_signal(&m->cv);
        pthread_mutex_unlock(&m->mu);
        return NULL;
    }
    return pick;
}

void meta_release(meta_t *m, meta_conn *c)
{
    if (!m || !c) return;
    if (c->h && !c->broken && m->drv->in_transaction(c)) {
        log_warn("metadata connection released inside a transaction; rolling back", "backend",
                 m->drv->name);
        if (meta_rollback(c) != META_OK) c->broken = 1;
    }
    pthread_mutex_lock(&m->mu);
    void *drop = NULL;
    if (c->h && (c->broken || c->gen != m->gen)) {
        drop = c->h;
        c->h = NULL;
    }
    c->broken = 0;
    c->in_use = 0;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
    if (drop) m->drv->disconnect(drop);
}

void meta_reconnect(meta_t *m)
{
    if (!m) return;
    void **drop = calloc((size_t)m->nslots, sizeof(void *));
    int ndrop = 0;
    pthread_mutex_lock(&m->mu);
    m->gen++;
    for (int i = 0; i < m->nslots; i++) {
        meta_conn *c = &m->slots[i];
        if (!c->in_use && c->h) {
            if (drop)
                drop[ndrop++] = c->h;
            else
                m->drv->disconnect(c->h); /* out of memory: close under the lock */
            c->h = NULL;
        }
    }
    pthread_mutex_unlock(&m->mu);
    for (int i = 0; i < ndrop; i++)
        m->drv->disconnect(drop[i]);
    free(drop);
    log_info("metadata connections dropped for reconnect", "backend", m->drv->name);
}

void meta_stmt_stats(meta_conn *c, uint64_t *hits, uint64_t *misses, int *cached)
{
    const stmt_cache *sc = c && c->h ? c->m->drv->cache(c) : NULL;
    *hits = sc ? sc->hits : 0;
    *misses = sc ? sc->misses : 0;
    *cached = sc ? sc->n : 0;
}

int meta_pool_size(const meta_t *m)
{
    return m ? m->nslots : 0;
}

/* ---------------------------------------------------------------- statements */

static void mark(meta_conn *c, int64_t rc)
{
    if (rc == META_CONN) c->broken = 1;
}

int64_t meta_exec(meta_conn *c, const char *sql, const meta_val *params, int nparams, char *err,
                  size_t errlen)
{
    if (err && errlen) err[0] = 0;
    if (!c || !c->h || !sql || nparams < 0 || (nparams > 0 && !params)) {
        meta_seterr(err, errlen, "invalid arguments");
        return META_ERR;
    }
    int64_t rc = c->m->drv->exec(c, sql, params, nparams, err, errlen);
    mark(c, rc);
    return rc;
}

meta_result *meta_query(meta_conn *c, const char *sql, const meta_val *params, int nparams, int *rc,
                        char *err, size_t errlen)
{
    int dummy;
    if (!rc) rc = &dummy;
    if (err && errlen) err[0] = 0;
    if (!c || !c->h || !sql || nparams < 0 || (nparams > 0 && !params)) {
        meta_seterr(err, errlen, "invalid arguments");
        *rc = META_ERR;
        return NULL;
    }
    *rc = META_OK;
    meta_result *r = c->m->drv->query(c, sql, params, nparams, rc, err, errlen);
    if (!r && *rc == META_OK) *rc = META_ERR;
    mark(c, *rc);
    return r;
}

int meta_exec_script(meta_conn *c, const char *sql, char *err, size_t errlen)
{
    if (err && errlen) err[0] = 0;
    if (!c || !c->h || !sql) {
        meta_seterr(err, errlen, "invalid arguments");
        return META_ERR;
    }
    int rc = c->m->drv->exec_script(c, sql, err, errlen);
    mark(c, rc);
    return rc;
}

static int simple(meta_conn *c, const char *sql)
{
    char err[256];
    int64_t rc = meta_exec(c, sql, NULL, 0, err, sizeof(err));
    if (rc < 0) {
        log_warn("metadata transaction statement failed", "statement", sql, "error", err);
        return (int)rc;
    }
    return META_OK;
}

int meta_begin(meta_conn *c)
{
    return c ? simple(c, c->m->drv->begin_sql) : META_ERR;
}

int meta_commit(meta_conn *c)
{
    return simple(c, "COMMIT");
}

int meta_rollback(meta_conn *c)
{
    if (!c || !c->h) return META_ERR;
    if (!c->m->drv->in_transaction(c)) return META_OK;
    return simple(c, "ROLLBACK");
}

/* ---------------------------------------------------------------- open / close */

const char *meta_backend(const meta_t *m)
{
    return m ? m->drv->name : "none";
}

int meta_ping(meta_t *m, char *err, size_t errlen)
{
    if (err && errlen) err[0] = 0;
    meta_conn *c = meta_acquire(m);
    if (!c) {
        if (m) {
            pthread_mutex_lock(&m->mu);
            meta_seterr(err, errlen, "no metadata connection: %s",
                        m->last_err[0] ? m->last_err : "pool timeout");
            pthread_mutex_unlock(&m->mu);
        }
        return META_CONN;
    }
    meta_result *r = meta_query(c, "SELECT 1", NULL, 0, NULL, err, errlen);
    int rc = r && meta_result_int(r, 0, 0) == 1 ? META_OK : META_CONN;
    if (!r) c->broken = 1;
    meta_result_free(r);
    meta_release(m, c);
    return rc;
}

int meta_schema_version(meta_t *m)
{
    meta_conn *c = meta_acquire(m);
    if (!c) return -1;
    int rc;
    meta_result *r = meta_query(c, "SELECT COALESCE(MAX(version), 0) FROM dlb_schema_migrations",
                                NULL, 0, &rc, NULL, 0);
    int v = r ? (int)meta_result_int(r, 0, 0) : -1;
    meta_result_free(r);
    meta_release(m, c);
    return v;
}

static char *dup_or_null(const char *s, int *fail)
{
    char *d = strdup(s ? s : "");
    if (!d) *fail = 1;
    return d;
}

static int mkdir_p(const char *path)
{
    char *p = strdup(path);
    if (!p) return -1;
    int rc = 0;
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == 0) {
            char save = *s;
            *s = 0;
            if (mkdir(p, 0750) != 0 && errno != EEXIST) {
                rc = -1;
                break;
            }
            *s = save;
            if (!save) break;
        }
    }
    free(p);
    if (rc == 0) {
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) rc = -1;
    }
    return rc;
}

void meta_close(meta_t *m)
{
    if (!m) return;
    for (int i = 0; m->slots && i < m->nslots; i++)
        if (m->slots[i].h) m->drv->disconnect(m->slots[i].h);
    free(m->slots);
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cv);
    free(m->sqlite_path);
    free(m->pg_host);
    free(m->pg_port);
    free(m->pg_db);
    free(m->pg_user);
    if (m->pg_password) {
        volatile char *p = m->pg_password;
        while (*p)
            *p++ = 0;
    }
    free(m->pg_password);
    free(m->pg_sslmode);
    free(m->pg_schema);
    free(m->pg_lake_schema);
    free(m);
}

static void sleep_seconds(double s)
{
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - floor(s)) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int configure(meta_t *m, const config_t *cfg, char *err, size_t errlen)
{
    int fail = 0;
    if (cfg->use_postgres) {
        m->is_pg = 1;
        m->drv = &meta_pg_driver;
        if (!meta_ident_valid(cfg->db_postgres_schema)) {
            meta_seterr(err, errlen,
                        "invalid DB_POSTGRES_SCHEMA=%s: expected an identifier "
                        "[A-Za-z_][A-Za-z0-9_]{0,62}",
                        cfg->db_postgres_schema);
            return -1;
        }
        const char *lake = cfg->db_ducklake_metadata_schema;
        if (lake && *lake && strcmp(lake, "main") != 0 &&
            strcmp(lake, cfg->db_postgres_schema) != 0) {
            if (!meta_ident_valid(lake)) {
                meta_seterr(err, errlen,
                            "invalid DB_DUCKLAKE_METADATA_SCHEMA=%s: expected an identifier "
                            "[A-Za-z_][A-Za-z0-9_]{0,62}",
                            lake);
                return -1;
            }
            m->pg_lake_schema = dup_or_null(lake, &fail);
        }
        char port[16];
        snprintf(port, sizeof(port), "%ld", cfg->db_postgres_port);
        m->pg_host = dup_or_null(cfg->db_postgres_host, &fail);
        m->pg_port = dup_or_null(port, &fail);
        m->pg_db = dup_or_null(cfg->db_postgres_db, &fail);
        m->pg_user = dup_or_null(cfg->db_postgres_user, &fail);
        m->pg_password = dup_or_null(cfg->db_postgres_password, &fail);
        m->pg_sslmode = dup_or_null(cfg->db_postgres_sslmode, &fail);
        m->pg_schema = dup_or_null(cfg->db_postgres_schema, &fail);
        /* libpq takes whole seconds; values below 2 are raised to 2 by libpq anyway. */
        long ct = (long)ceil(cfg->db_postgres_connection_timeout);
        snprintf(m->pg_connect_timeout, sizeof(m->pg_connect_timeout), "%ld", ct < 2 ? 2 : ct);
        m->statement_timeout_ms = (long)(cfg->db_postgres_command_timeout * 1000.0);
        m->conn_timeout = cfg->db_postgres_connection_timeout;
        m->nslots = (int)cfg->db_postgres_max_connections;
    } else {
        m->drv = &meta_sqlite_driver;
        const char *dir = cfg->data_dir && *cfg->data_dir ? cfg->data_dir : ".";
        if (mkdir_p(dir) != 0) {
            meta_seterr(err, errlen, "cannot create DATA_DIR %s: %s", dir, strerror(errno));
            return -1;
        }
        size_t n = strlen(dir) + sizeof("/catalog.sqlite");
        m->sqlite_path = malloc(n);
        if (m->sqlite_path)
            snprintf(m->sqlite_path, n, "%s/catalog.sqlite", dir);
        else
            fail = 1;
        m->conn_timeout = cfg->db_ducklake_connection_timeout;
        m->statement_timeout_ms = (long)(cfg->db_postgres_command_timeout * 1000.0);
        int n_conns = (int)cfg->worker_threads + 4;
        m->nslots = n_conns < 8 ? 8 : n_conns > 64 ? 64 : n_conns;
    }
    if (m->conn_timeout <= 0) m->conn_timeout = 30;
    if (m->nslots < 1) m->nslots = 1;
    if (fail) {
        meta_seterr(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static void describe(const meta_t *m, char *out, size_t outlen)
{
    if (m->is_pg)
        snprintf(out, outlen, "PostgreSQL %s:%s/%s (user %s)", m->pg_host, m->pg_port, m->pg_db,
                 m->pg_user);
    else
        snprintf(out, outlen, "SQLite %s", m->sqlite_path);
}

meta_t *meta_open(const struct config *cfg, char *err, size_t errlen)
{
    if (err && errlen) err[0] = 0;
    if (!cfg) {
        meta_seterr(err, errlen, "no configuration");
        return NULL;
    }
    meta_t *m = calloc(1, sizeof(*m));
    if (!m) {
        meta_seterr(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&m->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->cv, &ca);
    pthread_condattr_destroy(&ca);

    if (configure(m, cfg, err, errlen) != 0) {
        meta_close(m);
        return NULL;
    }
    m->slots = calloc((size_t)m->nslots, sizeof(meta_conn));
    if (!m->slots) {
        meta_seterr(err, errlen, "out of memory");
        meta_close(m);
        return NULL;
    }
    for (int i = 0; i < m->nslots; i++) {
        m->slots[i].m = m;
        m->slots[i].index = i;
    }

    char where[512];
    describe(m, where, sizeof(where));
    int attempts =
        cfg->db_ducklake_connection_retries > 0 ? (int)cfg->db_ducklake_connection_retries : 1;
    double delay = cfg->db_ducklake_connection_retry_delay;
    char cerr[256] = "";
    meta_conn *c = &m->slots[0];
    c->in_use = 1;
    int rc = META_ERR;
    for (int a = 1; a <= attempts; a++) {
        rc = conn_open(m, c, m->gen, cerr, sizeof(cerr));
        if (rc == META_OK) break;
        char an[32];
        snprintf(an, sizeof(an), "%d/%d", a, attempts);
        log_warn("cannot open metadata database", "database", where, "attempt", an, "error", cerr);
        if (a < attempts && delay > 0) sleep_seconds(delay);
    }
    if (rc != META_OK) {
        meta_seterr(err, errlen, "cannot open metadata database %s after %d attempt%s: %s", where,
                    attempts, attempts == 1 ? "" : "s", cerr);
        meta_close(m);
        return NULL;
    }

    rc = meta_migrate(c, cerr, sizeof(cerr));
    if (rc != META_OK) {
        meta_seterr(err, errlen, "migrating metadata database %s failed: %s", where, cerr);
        meta_close(m);
        return NULL;
    }
    meta_release(m, c);

    /* PostgreSQL: open the minimum number of connections now (failures only logged: they are
     * retried lazily by meta_acquire). */
    if (m->is_pg) {
        int want = (int)cfg->db_postgres_min_connections;
        if (want > m->nslots) want = m->nslots;
        for (int i = 1; i < want; i++) {
            meta_conn *x = &m->slots[i];
            x->in_use = 1;
            if (conn_open(m, x, m->gen, cerr, sizeof(cerr)) != META_OK)
                log_warn("cannot open metadata connection", "database", where, "error", cerr);
            meta_release(m, x);
        }
    }
    int version = meta_schema_version(m);
    char vs[16], ps[16];
    snprintf(vs, sizeof(vs), "%d", version);
    snprintf(ps, sizeof(ps), "%d", m->nslots);
    log_info("metadata database ready", "backend", m->drv->name, "database", where,
             "schema_version", vs, "pool_size", ps);
    return m;
}
