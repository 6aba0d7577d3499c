#include "engine.h"

#include "config.h"
#include "util/log.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct engine {
    /* DuckDB starts on first use: a replica that only ingests lineage, serves objects or
     * streams events never pays its ~15 MB of touched code and catalog. */
    pthread_mutex_t open_lock;
    int opened; /* 1 open, -1 failed (err kept) */
    char open_err[512];
    char mem[32], threads[16], tmpdir[400];
    int optimizer;
    int want_conns;
    duckdb_database db;
    duckdb_connection *conns;
    int nconns;
    duckdb_connection spare; /* health checks from any thread, under spare_lock */
    pthread_mutex_t spare_lock;
    long long memory_limit;
    /* The sandboxed database for user queries (see open_query_db), also started on first use. */
    int qopened; /* 1 open, -1 failed (qopen_err kept) */
    char qopen_err[512];
    char qmem[32], qtmpdir[400], qmaxtemp[32], cache_dir[400], export_dir[400];
    char lake_path[1024]; /* absolute, ends with '/'; empty when the lake is not local */
    int lake_path_set;
    duckdb_database qdb;
    duckdb_connection *qconns;
    int nqconns;
    /* An INTERNAL or FATAL error in DuckDB invalidates its whole database; the query database is
     * then reopened for the next query (qbroken), while workers still inside the old one finish
     * there: handed-out connections are counted per generation and a retired generation is
     * closed by its last release. Under open_lock. */
    unsigned qgen;   /* generation of qdb, from 1 */
    unsigned *qheld; /* per worker index: the generation it holds, 0 none */
    int qrefs;       /* connections of qdb handed out and not released */
    int qbroken;     /* qdb was found invalidated: reopen on the next acquire */
    long qreopens;   /* for tests and logs */
    struct qretired *qold;
};

typedef struct qretired {
    unsigned gen;
    duckdb_database db;
    duckdb_connection *conns;
    int n, refs;
    struct qretired *next;
} qretired;

static void qretired_close(qretired *r)
{
    for (int i = 0; i < r->n; i++)
        duckdb_disconnect(&r->conns[i]);
    if (r->db) duckdb_close(&r->db);
    free(r->conns);
    free(r);
}

/* "75%" of physical memory, or an absolute size such as "4GB". */
static long long resolve_memory_limit(const char *v)
{
    size_t n = strlen(v);
    if (n > 1 && v[n - 1] == '%') {
        double pct = strtod(v, NULL);
        long long phys = (long long)sysconf(_SC_PHYS_PAGES) * (long long)sysconf(_SC_PAGESIZE);
        return (long long)((double)phys * pct / 100.0);
    }
    char *end;
    double x = strtod(v, &end);
    while (*end == ' ')
        end++;
    switch (*end) {
    case 'K':
    case 'k':
        x *= 1024.0;
        break;
    case 'M':
    case 'm':
        x *= 1048576.0;
        break;
    case 'G':
    case 'g':
        x *= 1073741824.0;
        break;
    case 'T':
    case 't':
        x *= 1099511627776.0;
        break;
    default:
        break;
    }
    return (long long)x;
}

static int set_opt(duckdb_config c, const char *k, const char *v, char *err, size_t errlen)
{
    if (duckdb_set_config(c, k, v) == DuckDBError) {
        snprintf(err, errlen, "DuckDB rejected setting %s=%.200s", k, v);
        return -1;
    }
    return 0;
}

engine_t *engine_open(const config_t *cfg, int nconns, char *err, size_t errlen)
{
    engine_t *e = calloc(1, sizeof(*e));
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&e->spare_lock, NULL);
    pthread_mutex_init(&e->open_lock, NULL);
    e->memory_limit = resolve_memory_limit(cfg->db_duckdb_memory_limit);
    snprintf(e->mem, sizeof(e->mem), "%lldB", e->memory_limit);
    long threads = cfg->db_duckdb_threads;
    if (threads <= 0)
        threads = sysconf(_SC_NPROCESSORS_ONLN) > 0 ? sysconf(_SC_NPROCESSORS_ONLN) : 1;
    snprintf(e->threads, sizeof(e->threads), "%ld", threads);
    snprintf(e->tmpdir, sizeof(e->tmpdir), "%s/duckdb-tmp", cfg->data_dir);
    e->optimizer = cfg->db_duckdb_enable_optimizer;
    snprintf(e->qmem, sizeof(e->qmem), "%lldB", resolve_memory_limit(cfg->query_memory_limit));
    if (cfg->query_max_temp_size > 0)
        snprintf(e->qmaxtemp, sizeof(e->qmaxtemp), "%lldB", cfg->query_max_temp_size);
    snprintf(e->qtmpdir, sizeof(e->qtmpdir), "%s/duckdb-tmp-query", cfg->data_dir);
    snprintf(e->cache_dir, sizeof(e->cache_dir), "%s/cache", cfg->data_dir);
    snprintf(e->export_dir, sizeof(e->export_dir), "%s/duckdb-tmp-query/export", cfg->data_dir);
    e->want_conns = nconns;
    return e;
}

/* Opens the database and every connection; caller holds open_lock. */
static int open_now(engine_t *e, char *err, size_t errlen)
{
    duckdb_config dc = NULL;
    char *open_err = NULL;
    mkdir(e->tmpdir, 0700);
    if (duckdb_create_config(&dc) == DuckDBError) {
        snprintf(err, errlen, "cannot create a DuckDB configuration");
        return -1;
    }
    /* Extensions are never fetched at run time: what the product needs is built in. */
    if (set_opt(dc, "memory_limit", e->mem, err, errlen) ||
        set_opt(dc, "threads", e->threads, err, errlen) ||
        set_opt(dc, "temp_directory", e->tmpdir, err, errlen) ||
        set_opt(dc, "autoinstall_known_extensions", "false", err, errlen) ||
        set_opt(dc, "autoload_known_extensions", "false", err, errlen)) {
        duckdb_destroy_config(&dc);
        return -1;
    }
    if (duckdb_open_ext(NULL, &e->db, dc, &open_err) == DuckDBError) {
        snprintf(err, errlen, "cannot open DuckDB: %s", open_err ? open_err : "unknown error");
        duckdb_free(open_err);
        duckdb_destroy_config(&dc);
        return -1;
    }
    duckdb_destroy_config(&dc);
    e->conns = calloc((size_t)e->want_conns, sizeof(duckdb_connection));
    if (!e->conns) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int i = 0; i < e->want_conns; i++) {
        if (duckdb_connect(e->db, &e->conns[i]) == DuckDBError) {
            snprintf(err, errlen, "cannot connect to DuckDB");
            return -1;
        }
        e->nconns++;
        if (!e->optimizer) {
            duckdb_result r;
            duckdb_query(e->conns[i], "PRAGMA disable_optimizer", &r);
            duckdb_destroy_result(&r);
        }
    }
    if (duckdb_connect(e->db, &e->spare) == DuckDBError) {
        snprintf(err, errlen, "cannot connect to DuckDB");
        return -1;
    }
    return 0;
}

int engine_start(engine_t *e, char *err, size_t errlen)
{
    pthread_mutex_lock(&e->open_lock);
    if (!e->opened) {
        e->opened = open_now(e, e->open_err, sizeof(e->open_err)) == 0 ? 1 : -1;
        if (e->opened < 0) log_error("DuckDB failed to start", "error", e->open_err);
    }
    int ok = e->opened == 1;
    if (!ok && err) snprintf(err, errlen, "%s", e->open_err);
    pthread_mutex_unlock(&e->open_lock);
    return ok ? 0 : -1;
}

int engine_started(engine_t *e)
{
    pthread_mutex_lock(&e->open_lock);
    int st = e->opened;
    pthread_mutex_unlock(&e->open_lock);
    return st;
}

void engine_close(engine_t *e)
{
    if (!e) return;
    while (e->qold) {
        qretired *r = e->qold;
        e->qold = r->next;
        qretired_close(r);
    }
    free(e->qheld);
    for (int i = 0; i < e->nqconns; i++)
        duckdb_disconnect(&e->qconns[i]);
    if (e->qdb) duckdb_close(&e->qdb);
    free(e->qconns);
    for (int i = 0; i < e->nconns; i++)
        duckdb_disconnect(&e->conns[i]);
    if (e->spare) duckdb_disconnect(&e->spare);
    if (e->db) duckdb_close(&e->db);
    pthread_mutex_destroy(&e->spare_lock);
    pthread_mutex_destroy(&e->open_lock);
    free(e->conns);
    free(e);
}

duckdb_connection engine_conn(engine_t *e, int index)
{
    if (engine_start(e, NULL, 0)) return NULL;
    if (index < 0 || index >= e->nconns) return NULL;
    return e->conns[index];
}

int engine_ping(engine_t *e, char *err, size_t errlen)
{
    if (engine_start(e, err, errlen)) return -1;
    duckdb_result r;
    pthread_mutex_lock(&e->spare_lock);
    duckdb_state st = duckdb_query(e->spare, "SELECT 42", &r);
    int ok = st == DuckDBSuccess && duckdb_value_int32(&r, 0, 0) == 42;
    if (!ok && err)
        snprintf(err, errlen, "%s",
                 duckdb_result_error(&r) ? duckdb_result_error(&r) : "unexpected answer");
    duckdb_destroy_result(&r);
    pthread_mutex_unlock(&e->spare_lock);
    return ok ? 0 : -1;
}

const char *engine_version(void)
{
    return duckdb_library_version();
}

long long engine_memory_limit(const engine_t *e)
{
    return e->memory_limit;
}

/* ---- the sandboxed database for user queries ---------------------------------------------- */

/* An absolute form of path with a trailing '/', for allowed_directories (a prefix match);
 * -1 (out empty) when it does not fit. */
static int dir_prefix(const char *path, char *out, size_t outlen)
{
    char abs[PATH_MAX];
    if (!realpath(path, abs)) snprintf(abs, sizeof(abs), "%s", path);
    size_t n = strlen(abs);
    int slash = n > 0 && abs[n - 1] == '/';
    out[0] = 0;
    if (n + 2 > outlen) return -1;
    memcpy(out, abs, n);
    if (!slash) out[n++] = '/';
    out[n] = 0;
    return 0;
}

int engine_set_lake_path(engine_t *e, const char *data_path)
{
    pthread_mutex_lock(&e->open_lock);
    int rc = -1;
    if (e->qopened) goto done; /* too late: the sandbox is fixed once it runs */
    e->lake_path[0] = 0;
    /* Remote paths (s3://...) are read through the local cache, never directly. */
    if (data_path && !strstr(data_path, "://")) {
        mkdir(data_path, 0755);
        if (dir_prefix(data_path, e->lake_path, sizeof(e->lake_path)) ||
            strchr(e->lake_path, '\'')) {
            e->lake_path[0] = 0;
            goto done;
        }
    }
    e->lake_path_set = 1;
    rc = 0;
done:
    pthread_mutex_unlock(&e->open_lock);
    return rc;
}

static int exec_sql(duckdb_connection c, const char *sql, char *err, size_t errlen)
{
    duckdb_result r;
    int ok = duckdb_query(c, sql, &r) == DuckDBSuccess;
    if (!ok) snprintf(err, errlen, "%.200s: %.300s", sql, duckdb_result_error(&r));
    duckdb_destroy_result(&r);
    return ok ? 0 : -1;
}

/* Staged answers of a process that is gone (killed in the middle of an export) are removed;
 * DuckDB's own scratch names (tmp_...) carry the same pid. */
static void remove_stale_exports(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    /* readdir on a stream of our own is thread-safe in glibc; readdir_r is deprecated. */
    // cppcheck-suppress readdirCalled
    while ((de = readdir(d))) {
        const char *p = strstr(de->d_name, "dlb-q-");
        long pid;
        if (!p || sscanf(p, "dlb-q-%ld-", &pid) != 1 || pid <= 0) continue;
        if (pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        unlinkat(dirfd(d), de->d_name, 0);
    }
    closedir(d);
}

/* Opens the query database; caller holds open_lock.
 * - Its own memory_limit (QUERY_MEMORY_LIMIT) and spill cap (QUERY_MAX_TEMP_SIZE), its own
 *   temp directory: DuckDB 1.5 has no per-query or per-connection memory limit, so the whole
 *   database is the unit: user queries together cannot take the ingest database's memory, and
 *   a query over the limit fails with 503 query_out_of_memory instead of hurting the process.
 * - allowed_directories = the lake data path, the cache and the export staging directory (where
 *   Parquet answers are written, query_parquet.c), then enable_external_access=false
 *   (no other file, no network, no ATTACH of files, no INSTALL/LOAD), then
 *   lock_configuration=true (no SET can undo any of it). allowed_directories cannot be given
 *   through duckdb_set_config in 1.5 (rejected), hence the SET statements, which run before any
 *   user SQL can. */
static int open_query_db(engine_t *e, char *err, size_t errlen)
{
    duckdb_config dc = NULL;
    char *open_err = NULL;
    char sql[2200];
    mkdir(e->qtmpdir, 0700);
    mkdir(e->cache_dir, 0700);
    mkdir(e->tmpdir, 0700);
    mkdir(e->export_dir, 0700);
    remove_stale_exports(e->export_dir);
    if (!e->lake_path_set) {
        snprintf(err, errlen, "the lake data path is not set (engine_set_lake_path)");
        return -1;
    }
    if (duckdb_create_config(&dc) == DuckDBError) {
        snprintf(err, errlen, "cannot create a DuckDB configuration");
        return -1;
    }
    if (set_opt(dc, "memory_limit", e->qmem, err, errlen) ||
        set_opt(dc, "threads", e->threads, err, errlen) ||
        set_opt(dc, "temp_directory", e->qtmpdir, err, errlen) ||
        (e->qmaxtemp[0] && set_opt(dc, "max_temp_directory_size", e->qmaxtemp, err, errlen)) ||
        set_opt(dc, "autoinstall_known_extensions", "false", err, errlen) ||
        set_opt(dc, "autoload_known_extensions", "false", err, errlen) ||
        set_opt(dc, "allow_community_extensions", "false", err, errlen)) {
        duckdb_destroy_config(&dc);
        return -1;
    }
    if (duckdb_open_ext(NULL, &e->qdb, dc, &open_err) == DuckDBError) {
        snprintf(err, errlen, "cannot open the query DuckDB: %s",
                 open_err ? open_err : "unknown error");
        duckdb_free(open_err);
        duckdb_destroy_config(&dc);
        return -1;
    }
    duckdb_destroy_config(&dc);
    e->qconns = calloc((size_t)e->want_conns, sizeof(duckdb_connection));
    if (!e->qconns) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int i = 0; i < e->want_conns; i++) {
        if (duckdb_connect(e->qdb, &e->qconns[i]) == DuckDBError) {
            snprintf(err, errlen, "cannot connect to the query DuckDB");
            return -1;
        }
        e->nqconns++;
    }
    char cache[420], export[420];
    if (dir_prefix(e->cache_dir, cache, sizeof(cache)) || strchr(cache, '\'') ||
        dir_prefix(e->export_dir, export, sizeof(export)) || strchr(export, '\'')) {
        snprintf(err, errlen, "DATA_DIR must not contain a single quote");
        return -1;
    }
    if (e->lake_path[0])
        snprintf(sql, sizeof(sql), "SET allowed_directories=['%s', '%s', '%s']", e->lake_path,
                 cache, export);
    else
        snprintf(sql, sizeof(sql), "SET allowed_directories=['%s', '%s']", cache, export);
    duckdb_connection c = e->qconns[0];
    for (int i = 0; !e->optimizer && i < e->nqconns; i++)
        if (exec_sql(e->qconns[i], "PRAGMA disable_optimizer", err, errlen)) return -1;
    if (exec_sql(c, sql, err, errlen) ||
        /* Lake files never change once written: their Parquet footers can be cached. */
        exec_sql(c, "SET parquet_metadata_cache=true", err, errlen) ||
        exec_sql(c, "SET enable_external_access=false", err, errlen) ||
        exec_sql(c, "SET lock_configuration=true", err, errlen))
        return -1;
    return 0;
}

/* Moves the current query database to the retired list (closed at once when nobody holds it);
 * caller holds open_lock. */
static void retire_query_db(engine_t *e)
{
    qretired *r = calloc(1, sizeof(*r));
    if (!r) return; /* keep using it: every query fails, but nothing is closed under anyone */
    *r = (qretired){
        .gen = e->qgen, .db = e->qdb, .conns = e->qconns, .n = e->nqconns, .refs = e->qrefs};
    e->qdb = NULL;
    e->qconns = NULL;
    e->nqconns = 0;
    e->qrefs = 0;
    e->qbroken = 0;
    e->qopened = 0;
    if (r->refs == 0) {
        qretired_close(r);
    } else {
        r->next = e->qold;
        e->qold = r;
    }
}

duckdb_connection engine_query_conn(engine_t *e, int index)
{
    pthread_mutex_lock(&e->open_lock);
    if (e->qopened == 1 && e->qbroken) {
        retire_query_db(e);
        e->qreopens++;
    }
    if (!e->qopened) {
        if (!e->qheld) e->qheld = calloc((size_t)e->want_conns, sizeof(unsigned));
        e->qopened = e->qheld && open_query_db(e, e->qopen_err, sizeof(e->qopen_err)) == 0 ? 1 : -1;
        if (e->qopened < 0) log_error("query DuckDB failed to start", "error", e->qopen_err);
        if (e->qopened == 1) e->qgen++;
    }
    duckdb_connection c = NULL;
    if (e->qopened == 1 && index >= 0 && index < e->nqconns) {
        if (e->qheld[index] != e->qgen) e->qrefs++;
        e->qheld[index] = e->qgen;
        c = e->qconns[index];
    }
    pthread_mutex_unlock(&e->open_lock);
    return c;
}

void engine_query_release(engine_t *e, int index, int failed)
{
    pthread_mutex_lock(&e->open_lock);
    unsigned g = e->qheld && index >= 0 && index < e->want_conns ? e->qheld[index] : 0;
    duckdb_connection c = g && g == e->qgen ? e->qconns[index] : NULL;
    pthread_mutex_unlock(&e->open_lock);
    if (!g) return;
    /* After a failure: is the database still usable? (only this worker uses its connection) */
    int broken = 0;
    if (failed && c) {
        duckdb_result r;
        if (duckdb_query(c, "SELECT 1", &r) == DuckDBError) {
            const char *m = duckdb_result_error(&r);
            broken = m && strstr(m, "invalidated") != NULL;
            if (broken)
                log_error("the query DuckDB was invalidated by an internal error; it is reopened "
                          "for the next query",
                          "error", m);
        }
        duckdb_destroy_result(&r);
    }
    qretired *done = NULL;
    pthread_mutex_lock(&e->open_lock);
    e->qheld[index] = 0;
    if (g == e->qgen) {
        e->qrefs--;
        if (broken) e->qbroken = 1;
    } else {
        for (qretired **p = &e->qold; *p; p = &(*p)->next)
            if ((*p)->gen == g) {
                if (--(*p)->refs == 0) {
                    done = *p;
                    *p = done->next;
                }
                break;
            }
    }
    pthread_mutex_unlock(&e->open_lock);
    if (done) qretired_close(done);
}

long engine_query_reopens(engine_t *e)
{
    pthread_mutex_lock(&e->open_lock);
    long n = e->qreopens;
    pthread_mutex_unlock(&e->open_lock);
    return n;
}

const char *engine_query_error(engine_t *e)
{
    pthread_mutex_lock(&e->open_lock);
    const char *m = e->qopened < 0 ? e->qopen_err : NULL;
    pthread_mutex_unlock(&e->open_lock);
    return m;
}

const char *engine_export_dir(const engine_t *e)
{
    return e->export_dir;
}
