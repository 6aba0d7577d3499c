#include "engine.h"

#include "config.h"
#include "util/log.h"

#include <pthread.h>
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
};

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
    snprintf(e->threads, sizeof(e->threads), "%ld", cfg->db_duckdb_threads);
    snprintf(e->tmpdir, sizeof(e->tmpdir), "%s/duckdb-tmp", cfg->data_dir);
    e->optimizer = cfg->db_duckdb_enable_optimizer;
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

void engine_interrupt(engine_t *e, int index)
{
    if (engine_started(e) != 1) return;
    if (index >= 0 && index < e->nconns) duckdb_interrupt(e->conns[index]);
}

long long engine_memory_limit(const engine_t *e)
{
    return e->memory_limit;
}
