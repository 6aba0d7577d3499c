/* Versioned migrations of the server's own tables, applied at open.
 *
 * To add one: append an entry to `migrations` with the next version, a short name and its
 * SQL (`sql` for both dialects, or `sqlite`/`pg` when they differ), plus an optional `post`
 * hook for rows that need values computed at run time. Never edit or renumber an applied
 * migration: add a new one. Each migration runs in its own transaction together with its
 * dlb_schema_migrations row; on PostgreSQL an advisory transaction lock serialises concurrent
 * starts of several processes, on SQLite BEGIN IMMEDIATE does. */
#include "meta_internal.h"

#include "util/ids.h"
#include "util/log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

typedef struct {
    int version;
    const char *name;
    const char *sql;    /* both dialects, when they agree */
    const char *sqlite; /* SQLite only (overrides sql) */
    const char *pg;     /* PostgreSQL only (overrides sql) */
    int (*post)(meta_conn *c, char *err, size_t errlen);
} migration_t;

/* Key of pg_advisory_xact_lock taken by every migration transaction. */
#define MIGRATION_LOCK_KEY "7236518342011001"

static int m1_installation_id(meta_conn *c, char *err, size_t errlen)
{
    char id[37];
    ids_uuid4(id);
    meta_val p[] = {MVTEXT("installation_id"), MVTEXT(id)};
    int64_t rc = meta_exec(c, "INSERT INTO dlb_kv(key, value) VALUES (?, ?)", p, 2, err, errlen);
    return rc < 0 ? (int)rc : META_OK;
}

/* Lineage (src/lineage): jobs, runs, raw events, datasets, run inputs/outputs, job-level
 * edges for the graph, the delivery outbox and dead letters. Times are microseconds since the
 * epoch (UTC) in BIGINT so that both dialects sort and compare them alike; JSON is TEXT. Only
 * the serial key differs between the dialects. */
#define LINEAGE_DDL(SERIAL)                                                                        \
    "CREATE TABLE ol_jobs (id " SERIAL ", namespace TEXT NOT NULL, name TEXT NOT NULL, "           \
    "registered INTEGER NOT NULL DEFAULT 0, description TEXT, job_type TEXT, owner TEXT, "         \
    "metadata TEXT, facets TEXT, facet_times TEXT, created_at BIGINT NOT NULL, "                   \
    "updated_at BIGINT NOT NULL, UNIQUE (namespace, name));"                                       \
    "CREATE TABLE ol_runs (run_id TEXT PRIMARY KEY, job_id BIGINT NOT NULL REFERENCES "            \
    "ol_jobs(id), state TEXT NOT NULL, state_time BIGINT NOT NULL, started_at BIGINT, "            \
    "ended_at BIGINT, nominal_start TEXT, nominal_end TEXT, parent_run_id TEXT, "                  \
    "parent_job_namespace TEXT, parent_job_name TEXT, error_message TEXT, metadata TEXT, "         \
    "facets TEXT, facet_times TEXT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);"      \
    "CREATE INDEX ol_runs_job ON ol_runs(job_id, created_at);"                                     \
    "CREATE INDEX ol_runs_state ON ol_runs(state);"                                                \
    "CREATE TABLE ol_events (id " SERIAL ", hash TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, "       \
    "event_type TEXT, event_time TEXT NOT NULL, event_time_us BIGINT NOT NULL, producer TEXT, "    \
    "schema_url TEXT, run_id TEXT, job_namespace TEXT, job_name TEXT, dataset_namespace TEXT, "    \
    "dataset_name TEXT, payload TEXT NOT NULL, warnings TEXT, received_at BIGINT NOT NULL);"       \
    "CREATE INDEX ol_events_time ON ol_events(event_time_us, id);"                                 \
    "CREATE INDEX ol_events_run ON ol_events(run_id, event_time_us);"                              \
    "CREATE INDEX ol_events_job ON ol_events(job_namespace, job_name, event_time_us);"             \
    "CREATE TABLE ol_datasets (id " SERIAL ", namespace TEXT NOT NULL, name TEXT NOT NULL, "       \
    "facets TEXT, facet_times TEXT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, "      \
    "UNIQUE (namespace, name));"                                                                   \
    "CREATE TABLE ol_run_io (run_id TEXT NOT NULL, dataset_id BIGINT NOT NULL REFERENCES "         \
    "ol_datasets(id), direction TEXT NOT NULL, facets TEXT, facets_time BIGINT NOT NULL, "         \
    "created_at BIGINT NOT NULL, PRIMARY KEY (run_id, dataset_id, direction));"                    \
    "CREATE INDEX ol_run_io_dataset ON ol_run_io(dataset_id, direction);"                          \
    "CREATE TABLE ol_edges (job_id BIGINT NOT NULL REFERENCES ol_jobs(id), dataset_id BIGINT "     \
    "NOT NULL REFERENCES ol_datasets(id), direction TEXT NOT NULL, first_seen BIGINT NOT NULL, "   \
    "last_seen BIGINT NOT NULL, PRIMARY KEY (job_id, dataset_id, direction));"                     \
    "CREATE INDEX ol_edges_dataset ON ol_edges(dataset_id, job_id);"                               \
    "CREATE TABLE ol_outbox (id " SERIAL ", event_id BIGINT NOT NULL UNIQUE REFERENCES "           \
    "ol_events(id), run_id TEXT, attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at BIGINT "     \
    "NOT NULL, lease_owner TEXT, lease_until BIGINT, last_status INTEGER, last_error TEXT, "       \
    "created_at BIGINT NOT NULL);"                                                                 \
    "CREATE INDEX ol_outbox_due ON ol_outbox(next_attempt_at);"                                    \
    "CREATE INDEX ol_outbox_run ON ol_outbox(run_id, event_id);"                                   \
    "CREATE TABLE ol_dead_letters (id " SERIAL ", event_id BIGINT NOT NULL REFERENCES "            \
    "ol_events(id), attempts INTEGER NOT NULL, last_status INTEGER, reason TEXT NOT NULL, "        \
    "created_at BIGINT NOT NULL, dead_at BIGINT NOT NULL);"                                        \
    "CREATE INDEX ol_dead_letters_event ON ol_dead_letters(event_id);"

/* Delivery (src/lineage/deliver.c): each outbox row carries its run's ordering key, so the
 * claim query can hold a run's later events back while an earlier one is pending without
 * joining ol_events: rank (START 0, RUNNING/OTHER 1, COMPLETE/ABORT/FAIL 2), then eventTime.
 * Existing rows are back-filled from ol_events. Dead letters get their run and an index for
 * the age-based purge. */
#define DELIVERY_DDL                                                                               \
    "ALTER TABLE ol_outbox ADD COLUMN run_rank INTEGER NOT NULL DEFAULT 1;"                        \
    "ALTER TABLE ol_outbox ADD COLUMN event_time_us BIGINT NOT NULL DEFAULT 0;"                    \
    "UPDATE ol_outbox SET event_time_us = COALESCE((SELECT e.event_time_us FROM ol_events e "      \
    "WHERE e.id = ol_outbox.event_id), 0), run_rank = COALESCE((SELECT CASE e.event_type WHEN "    \
    "'START' THEN 0 WHEN 'COMPLETE' THEN 2 WHEN 'ABORT' THEN 2 WHEN 'FAIL' THEN 2 ELSE 1 END "     \
    "FROM ol_events e WHERE e.id = ol_outbox.event_id), 1);"                                       \
    "CREATE INDEX ol_outbox_run_seq ON ol_outbox(run_id, run_rank, event_time_us, id);"            \
    "ALTER TABLE ol_dead_letters ADD COLUMN run_id TEXT;"                                          \
    "CREATE INDEX ol_dead_letters_dead ON ol_dead_letters(dead_at);"

static const migration_t migrations[] = {
    {1, "kv store and installation id",
     "CREATE TABLE dlb_kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);", NULL, NULL,
     m1_installation_id},
    {2, "lineage: jobs, runs, events, datasets, edges, outbox", NULL,
     LINEAGE_DDL("INTEGER PRIMARY KEY"), LINEAGE_DDL("BIGSERIAL PRIMARY KEY"), NULL},
    {3, "lineage delivery: per-run ordering key in the outbox", DELIVERY_DDL, NULL, NULL, NULL},
    /* The graph's fingerprint (src/lineage/graph.c) aggregates updated_at of every job and
     * dataset on each deep graph request: these make it a scan of small index entries instead
     * of the rows, where facets (often kilobytes, spilling to overflow pages) come before
     * updated_at and SQLite would read through them to reach it. */
    {4, "lineage graph: updated_at indexes for the fingerprint",
     "CREATE INDEX ol_jobs_updated ON ol_jobs(updated_at);"
     "CREATE INDEX ol_datasets_updated ON ol_datasets(updated_at);",
     NULL, NULL, NULL},
    /* API keys (src/auth): only a salted SHA-256 of each secret is kept. Numbered apart from
     * the lineage series so that the two can grow independently. */
    {20, "api keys",
     "CREATE TABLE dlb_api_keys (key_id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT "
     "NULL, salt TEXT NOT NULL, hash TEXT NOT NULL, created_at BIGINT NOT NULL, revoked_at "
     "BIGINT);",
     NULL, NULL, NULL},
};
#define NMIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

static const char *k_create_table =
    "CREATE TABLE IF NOT EXISTS dlb_schema_migrations (version INTEGER PRIMARY KEY, "
    "name TEXT NOT NULL, applied_at TEXT NOT NULL)";

static int is_pg(const meta_conn *c)
{
    return c->m->is_pg;
}

/* BEGIN (+ advisory lock on PostgreSQL). */
static int tx_begin(meta_conn *c, char *err, size_t errlen)
{
    int rc = meta_begin(c);
    if (rc != META_OK) {
        meta_seterr(err, errlen, "cannot begin a migration transaction");
        return rc;
    }
    if (is_pg(c)) {
        meta_result *r = meta_query(c, "SELECT pg_advisory_xact_lock(" MIGRATION_LOCK_KEY ")", NULL,
                                    0, &rc, err, errlen);
        meta_result_free(r);
        if (!r) {
            meta_rollback(c);
            return rc;
        }
    }
    return META_OK;
}

static int applied(meta_conn *c, int version, int *yes, char *err, size_t errlen)
{
    int rc;
    meta_val p[] = {MVINT(version)};
    meta_result *r = meta_query(c, "SELECT 1 FROM dlb_schema_migrations WHERE version = ?", p, 1,
                                &rc, err, errlen);
    if (!r) return rc;
    *yes = meta_result_rows(r) > 0;
    meta_result_free(r);
    return META_OK;
}

static void now_iso(char out[32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int apply_one(meta_conn *c, const migration_t *mg, char *err, size_t errlen)
{
    int rc = tx_begin(c, err, errlen);
    if (rc != META_OK) return rc;
    int done = 0;
    rc = applied(c, mg->version, &done, err, errlen);
    if (rc == META_OK && done) return meta_commit(c) == META_OK ? META_OK : META_ERR;

    const char *sql = is_pg(c) ? (mg->pg ? mg->pg : mg->sql) : (mg->sqlite ? mg->sqlite : mg->sql);
    if (rc == META_OK && sql && *sql) rc = meta_exec_script(c, sql, err, errlen);
    if (rc == META_OK && mg->post) rc = mg->post(c, err, errlen);
    if (rc == META_OK) {
        char when[32];
        now_iso(when);
        meta_val p[] = {MVINT(mg->version), MVTEXT(mg->name), MVTEXT(when)};
        int64_t n = meta_exec(c,
                              "INSERT INTO dlb_schema_migrations(version, name, applied_at) "
                              "VALUES (?, ?, ?)",
                              p, 3, err, errlen);
        rc = n < 0 ? (int)n : META_OK;
    }
    if (rc == META_OK) {
        rc = meta_commit(c);
        if (rc != META_OK) meta_seterr(err, errlen, "commit failed");
    }
    if (rc != META_OK) {
        char keep[256];
        snprintf(keep, sizeof(keep), "%s", err ? err : "");
        meta_rollback(c);
        meta_seterr(err, errlen, "migration %d (%s): %s", mg->version, mg->name, keep);
        return rc;
    }
    char v[16];
    snprintf(v, sizeof(v), "%d", mg->version);
    log_info("metadata migration applied", "version", v, "name", mg->name, "backend",
             c->m->drv->name);
    return META_OK;
}

int meta_migrate(meta_conn *c, char *err, size_t errlen)
{
    int rc = tx_begin(c, err, errlen);
    if (rc != META_OK) return rc;
    rc = meta_exec_script(c, k_create_table, err, errlen);
    if (rc == META_OK) rc = meta_commit(c);
    if (rc != META_OK) {
        meta_rollback(c);
        return rc;
    }
    for (int i = 0; i < NMIGRATIONS; i++) {
        rc = apply_one(c, &migrations[i], err, errlen);
        if (rc != META_OK) return rc;
    }
    /* A newer binary may have migrated further: allowed, but worth a line in the log. */
    meta_result *r = meta_query(c, "SELECT COALESCE(MAX(version), 0) FROM dlb_schema_migrations",
                                NULL, 0, &rc, err, errlen);
    if (!r) return rc;
    int64_t top = meta_result_int(r, 0, 0);
    meta_result_free(r);
    if (top > migrations[NMIGRATIONS - 1].version) {
        char v[24];
        snprintf(v, sizeof(v), "%lld", (long long)top);
        log_warn("metadata database has migrations newer than this binary", "version", v);
    }
    return META_OK;
}
