/* The commit skeleton shared by every lake write (digest §7.0): one metadata transaction reads
 * the latest snapshot, runs the operation's body, inserts the new snapshot and its changes
 * row, runs the commit hook and commits; conflicts are retried on the newer snapshot. */
#include "lake/write.h"

#include "lake/catalog_ddl.h"
#include "util/ids.h"
#include "util/log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static _Atomic(lake_commit_hook) g_hook;
static void *_Atomic g_hook_arg;

/* The description of the calling thread's next commit (lake_commit_describe). */
static _Thread_local lake_commit_info *tl_info;

void lake_commit_describe(lake_commit_info *info)
{
    tl_info = info;
}

lake_commit_info *lake_commit_described(void)
{
    return tl_info;
}

void lake_set_commit_hook(lake_commit_hook fn, void *arg)
{
    atomic_store(&g_hook_arg, arg);
    atomic_store(&g_hook, fn);
}

static void map_meta_error(int rc, const char *what, const char *msg, dlb_err *err)
{
    if (rc == META_CONN || rc == META_BUSY)
        dlb_err_set(err, 503, "catalog_unavailable", "metadata database unavailable (%s): %s", what,
                    msg);
    else if (rc == META_CONFLICT)
        dlb_err_set(err, 409, "commit_conflict", "concurrent commit (%s): %s", what, msg);
    else
        dlb_err_set(err, 500, "catalog_error", "metadata statement failed (%s): %s", what, msg);
}

int lake_exec(meta_conn *c, const char *sql, const meta_val *params, int nparams, dlb_err *err)
{
    char msg[512] = "";
    int64_t rc = meta_exec(c, sql, params, nparams, msg, sizeof msg);
    if (rc >= 0) return 0;
    map_meta_error((int)rc, "write", msg, err);
    return (int)rc;
}

meta_result *lake_query(meta_conn *c, const char *sql, const meta_val *params, int nparams, int *rc,
                        dlb_err *err)
{
    char msg[512] = "";
    int code = META_OK;
    meta_result *r = meta_query(c, sql, params, nparams, &code, msg, sizeof msg);
    if (!r) {
        if (code == META_OK) code = META_ERR;
        map_meta_error(code, "read", msg, err);
    }
    if (rc) *rc = r ? META_OK : code;
    return r;
}

int lake_latest_snapshot(meta_conn *c, lake_snap *out, dlb_err *err)
{
    int rc = 0;
    meta_result *r = lake_query(c,
                                "SELECT snapshot_id, schema_version, next_catalog_id, next_file_id "
                                "FROM ducklake_snapshot WHERE snapshot_id = "
                                "(SELECT max(snapshot_id) FROM ducklake_snapshot)",
                                NULL, 0, &rc, err);
    if (!r) return rc;
    if (meta_result_rows(r) != 1) {
        meta_result_free(r);
        dlb_err_set(err, 500, "catalog_error", "the catalog has no snapshot");
        return -1;
    }
    out->snapshot_id = meta_result_int(r, 0, 0);
    out->schema_version = meta_result_int(r, 0, 1);
    out->next_catalog_id = meta_result_int(r, 0, 2);
    out->next_file_id = meta_result_int(r, 0, 3);
    meta_result_free(r);
    return 0;
}

void lake_now_text(char out[40])
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    lake_catalog_timestamp((int64_t)tv.tv_sec * 1000000 + tv.tv_usec, out);
}

static void backoff(int attempt)
{
    /* The extension's policy: 100 ms * 1.5^attempt * random [0.5, 1.0]; ours starts at 5 ms
     * because our commit transactions are short. */
    double ms = 5.0;
    for (int i = 0; i < attempt; i++)
        ms *= 1.5;
    unsigned char rnd = 0;
    ids_random(&rnd, 1);
    ms *= 0.5 + (double)rnd / 510.0;
    long ns = (long)(ms * 1e6);
    struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
    nanosleep(&ts, NULL);
}

static int retryable(int rc)
{
    return rc == META_CONFLICT || rc == META_BUSY;
}

/* One attempt on c: 0, -1 (err set) or a retryable META code. */
static int attempt_once(lake_t *l, meta_conn *c, lake_commit_body body, void *arg,
                        int64_t *snapshot_out, dlb_err *err)
{
    int rc = meta_begin(c);
    if (rc != META_OK) {
        map_meta_error(rc, "begin", "cannot start a transaction", err);
        return retryable(rc) ? rc : -1;
    }
    lake_snap cur, next;
    buf_t changes;
    buf_init(&changes, 0);
    if (l->postgres) {
        /* PostgreSQL runs READ COMMITTED without a write lock at BEGIN: concurrent committers
         * all read the same latest snapshot and collide on ducklake_data_file/snapshot keys.
         * With 8 writers the 10 optimistic retries ran out (409 commit_conflict seen in the
         * e2e concurrency test). A transaction-scoped advisory lock per catalog schema
         * serialises our committers (like BEGIN IMMEDIATE on SQLite); conflicts with other
         * writers (the extension) are still retried below. The lock statement runs before
         * the snapshot is read, so the read sees the previous holder's commit. */
        rc = lake_exec(c,
                       "SELECT pg_advisory_xact_lock(hashtext('ducklake-backend commit:' || "
                       "current_schema()))",
                       NULL, 0, err);
        if (rc) goto fail;
    }
    rc = lake_latest_snapshot(c, &cur, err);
    if (rc) goto fail;
    next = cur;
    next.snapshot_id = cur.snapshot_id + 1;
    rc = body(c, &cur, &next, &changes, arg, err);
    if (rc) goto fail;
    char ts[40];
    lake_now_text(ts);
    meta_val sp[] = {MVINT(next.snapshot_id), MVTEXT(ts), MVINT(next.schema_version),
                     MVINT(next.next_catalog_id), MVINT(next.next_file_id)};
    rc = lake_exec(c,
                   l->postgres ? "INSERT INTO ducklake_snapshot VALUES "
                                 "(?, CAST(? AS TIMESTAMPTZ), ?, ?, ?)"
                               : "INSERT INTO ducklake_snapshot VALUES (?, ?, ?, ?, ?)",
                   sp, 5, err);
    if (rc) goto fail;
    meta_val cp[] = {MVINT(next.snapshot_id), MVTEXT(changes.data)};
    rc = lake_exec(c, "INSERT INTO ducklake_snapshot_changes VALUES (?, ?, NULL, NULL, NULL)", cp,
                   2, err);
    if (rc) goto fail;
    lake_commit_hook hook = atomic_load(&g_hook);
    void *hook_arg = atomic_load(&g_hook_arg);
    int hrc =
        hook ? hook(c, next.snapshot_id, changes.data ? changes.data : "", tl_info, hook_arg) : 0;
    if (hrc != 0) { /* META_CONFLICT / META_BUSY from the hook retry the whole commit */
        map_meta_error(retryable(hrc) ? hrc : META_ERR, "commit hook", "the hook refused", err);
        rc = retryable(hrc) ? hrc : -1;
        goto fail;
    }
    rc = meta_commit(c);
    if (rc != META_OK) {
        map_meta_error(rc, "commit", "commit failed", err);
        goto fail;
    }
    if (hook) hook(NULL, next.snapshot_id, NULL, tl_info, hook_arg); /* committed */
    buf_free(&changes);
    *snapshot_out = next.snapshot_id;
    return 0;
fail:
    meta_rollback(c);
    buf_free(&changes);
    return retryable(rc) ? rc : -1;
}

int lake_commit(lake_t *l, lake_commit_body body, void *arg, int64_t *snapshot_out, dlb_err *err)
{
    if (l->read_only) {
        dlb_err_set(err, 403, "read_only", "the lake is read-only");
        return -1;
    }
    for (int attempt = 0;; attempt++) {
        meta_conn *c = meta_acquire(l->meta);
        if (!c) {
            dlb_err_set(err, 503, "catalog_unavailable", "no metadata connection available");
            return -1;
        }
        int rc = attempt_once(l, c, body, arg, snapshot_out, err);
        meta_release(l->meta, c);
        if (rc == 0) return 0;
        if (rc == -1 || attempt >= LAKE_COMMIT_RETRIES) {
            if (rc != -1) {
                char n[16];
                snprintf(n, sizeof n, "%d", attempt + 1);
                log_warn("lake commit gave up", "attempts", n, "error", err->detail);
            }
            return -1;
        }
        backoff(attempt);
    }
}
