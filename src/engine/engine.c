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
        snprintf(err, errlen, "DuckDB rejected setting %s=%s", k, v);
        return -1;
    }
    return 0;
}

engine_t *engine_open(const config_t *cfg, int nconns, char *err, size_t errlen)
{
    engine_t *e = calloc(1, sizeof(*e));
    duckdb_config dc = NULL;
    char *open_err = NULL;
    if (!e) return NULL;
    pthread_mutex_init(&e->spare_lock, NULL);
    e->memory_limit = resolve_memory_limit(cfg->db_duckdb_memory_limit);
    if (duckdb_create_config(&dc) == DuckDBError) {
        snprintf(err, errlen, "cannot create a DuckDB configuration");
        goto fail;
    }
    char mem[32], threads[16], tmpdir[4096];
    snprintf(mem, sizeof(mem), "%lldB", e->memory_limit);
    snprintf(threads, sizeof(threads), "%ld", cfg->db_duckdb_threads);
    snprintf(tmpdir, sizeof(tmpdir), "%s/duckdb-tmp", cfg->data_dir);
    mkdir(tmpdir, 0700);
    /* Extensions are never fetched at run time: what the product needs is built in. */
    if (set_opt(dc, "memory_limit", mem, err, errlen) ||
        set_opt(dc, "threads", threads, err, errlen) ||
        set_opt(dc, "temp_directory", tmpdir, err, errlen) ||
        set_opt(dc, "autoinstall_known_extensions", "false", err, errlen) ||
        set_opt(dc, "autoload_known_extensions", "false", err, errlen))
        goto fail;
    if (duckdb_open_ext(NULL, &e->db, dc, &open_err) == DuckDBError) {
        snprintf(err, errlen, "cannot open DuckDB: %s", open_err ? open_err : "unknown error");
        duckdb_free(open_err);
        goto fail;
    }
    duckdb_destroy_config(&dc);
    e->conns = calloc((size_t)nconns, sizeof(duckdb_connection));
    if (!e->conns) goto fail;
    for (int i = 0; i < nconns; i++) {
        if (duckdb_connect(e->db, &e->conns[i]) == DuckDBError) {
            snprintf(err, errlen, "cannot connect to DuckDB");
            goto fail;
        }
        e->nconns++;
        if (!cfg->db_duckdb_enable_optimizer) {
            duckdb_result r;
            duckdb_query(e->conns[i], "PRAGMA disable_optimizer", &r);
            duckdb_destroy_result(&r);
        }
    }
    if (duckdb_connect(e->db, &e->spare) == DuckDBError) {
        snprintf(err, errlen, "cannot connect to DuckDB");
        goto fail;
    }
    return e;
fail:
    if (dc) duckdb_destroy_config(&dc);
    engine_close(e);
    return NULL;
}

void engine_close(engine_t *e)
{
    if (!e) return;
    for (int i = 0; i < e->nconns; i++)
        duckdb_disconnect(&e->conns[i]);
    if (e->spare) duckdb_disconnect(&e->spare);
    if (e->db) duckdb_close(&e->db);
    pthread_mutex_destroy(&e->spare_lock);
    free(e->conns);
    free(e);
}

duckdb_connection engine_conn(engine_t *e, int index)
{
    if (index < 0 || index >= e->nconns) return NULL;
    return e->conns[index];
}

int engine_ping(engine_t *e, char *err, size_t errlen)
{
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
    if (index >= 0 && index < e->nconns) duckdb_interrupt(e->conns[index]);
}

long long engine_memory_limit(const engine_t *e)
{
    return e->memory_limit;
}
