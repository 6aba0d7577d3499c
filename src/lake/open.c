/* Opening the lake: create the DuckLake catalog when it is missing (one transaction, DDL plus
 * bootstrap rows), otherwise adopt the one that is there (its data_path, its version). */
#include "lake_internal.h"

#include "lake/catalog_ddl.h"
#include "util/ids.h"
#include "util/log.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>

/* Any constant: the key of the PostgreSQL advisory lock that serialises catalog creation
 * between processes ("dklk"). */
#define LAKE_CREATE_LOCK_KEY 0x646b6c6bLL

static atomic_ullong g_token;

/* The schema our catalog tables live in on PostgreSQL when it is not the connection's default
 * (same rule as meta.c's search_path), else NULL. */
static const char *pg_lake_schema(const lake_t *l)
{
    const char *s = l->cfg->db_ducklake_metadata_schema;
    if (!l->postgres || !s || !*s || strcmp(s, "main") == 0) return NULL;
    if (l->cfg->db_postgres_schema && strcmp(s, l->cfg->db_postgres_schema) == 0) return NULL;
    return s;
}

int lake_meta_table_exists(lake_t *l, meta_conn *c, const char *name)
{
    /* PostgreSQL: any schema of the search path (meta sets it to the server schema and the
     * lake schema), like the unqualified names our queries use. */
    const char *sql = l->postgres ? "SELECT 1 FROM information_schema.tables WHERE table_name = ? "
                                    "AND table_schema = ANY (current_schemas(false))"
                                  : "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?";
    meta_val p[1] = {MVTEXT(name)};
    meta_result *r = meta_query(c, sql, p, 1, NULL, NULL, 0);
    if (!r) return -1;
    int found = meta_result_rows(r) > 0;
    meta_result_free(r);
    return found;
}

static int mkdir_p(const char *path)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp)) return -1;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
    return 0;
}

static int is_url(const char *p)
{
    return strstr(p, "://") != NULL;
}

/* DATA_DIR as an absolute path (created when missing). */
static int data_dir_abs(const lake_t *l, char *out, size_t outlen)
{
    const char *d = l->cfg->data_dir && *l->cfg->data_dir ? l->cfg->data_dir : ".";
    if (mkdir_p(d) != 0) return -1;
    char real[PATH_MAX];
    if (!realpath(d, real)) return -1;
    return snprintf(out, outlen, "%s", real) < (int)outlen ? 0 : -1;
}

static int64_t now_micros(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* Creates the catalog unless another process did it first (checked again under the lock). */
static int create_catalog(lake_t *l, meta_conn *c, const char *data_path, dlb_err *err)
{
    char merr[512] = "";
    char stored[4096], dir[4096];
    int remote = 0;
    if (data_path && *data_path) {
        if (snprintf(dir, sizeof(dir), "%s", data_path) >= (int)sizeof(dir)) goto bad_path;
    } else if ((remote = lake_remote_default_path(l, dir, sizeof(dir))) != 0) {
        if (remote < 0) goto bad_path; /* with an S3 store: s3://<bucket>/ducklake-data/ */
    } else {
        char base[4000];
        if (data_dir_abs(l, base, sizeof(base)) != 0) goto bad_path;
        snprintf(dir, sizeof(dir), "%s/lake/", base);
    }
    if (lake_data_path_store(dir, stored, sizeof(stored)) != 0) goto bad_path;
    if (!is_url(stored) && stored[0] == '/' && mkdir_p(stored) != 0) goto bad_path;

    if (meta_begin(c) != META_OK) {
        dlb_err_set(err, 503, "metadata_unavailable", "cannot start a metadata transaction");
        return -1;
    }
    if (l->postgres) {
        /* Transaction-scoped: released by COMMIT/ROLLBACK. A second process waits here and
         * then finds the tables the first one committed. */
        meta_val k[1] = {MVINT(LAKE_CREATE_LOCK_KEY)};
        meta_result *r =
            meta_query(c, "SELECT pg_advisory_xact_lock(?)", k, 1, NULL, merr, sizeof(merr));
        if (!r) goto fail;
        meta_result_free(r);
    }
    int exists = lake_meta_table_exists(l, c, "ducklake_metadata");
    if (exists < 0) goto fail;
    if (exists) return meta_commit(c) == META_OK ? 0 : -1;

    const char *ls = pg_lake_schema(l);
    if (ls) {
        /* meta puts the server's schema first in search_path; the catalog belongs in the lake
         * schema (validated identifier), for this transaction only. */
        char sql[160];
        snprintf(sql, sizeof(sql), "SET LOCAL search_path TO \"%s\"", ls);
        if (meta_exec(c, sql, NULL, 0, merr, sizeof(merr)) < 0) goto fail;
    }
    if (meta_exec_script(c, lake_catalog_ddl(l->postgres), merr, sizeof(merr)) != META_OK)
        goto fail;
    char uuid[37], ts[LAKE_TS_LEN];
    ids_uuid4(uuid);
    lake_catalog_timestamp(now_micros(), ts);
    lake_init_params p = {.data_path = stored,
                          .schema_uuid = uuid,
                          .snapshot_time = ts,
                          .created_by = NULL,
                          .encrypted = l->cfg->db_ducklake_encrypted,
                          .inlining_row_limit = l->inlining_row_limit};
    lake_stmt st[LAKE_INIT_MAX_STMTS];
    int n = lake_catalog_init_statements(l->postgres, &p, st, LAKE_INIT_MAX_STMTS);
    if (n < 0) {
        snprintf(merr, sizeof(merr), "bootstrap statements could not be built");
        goto fail;
    }
    for (int i = 0; i < n; i++)
        if (meta_exec(c, st[i].sql, st[i].params, st[i].nparams, merr, sizeof(merr)) < 0) goto fail;
    if (meta_commit(c) != META_OK) {
        snprintf(merr, sizeof(merr), "commit failed");
        goto fail;
    }
    log_info("created DuckLake catalog", "data_path", stored);
    return 0;

fail:
    meta_rollback(c);
    dlb_err_set(err, 503, "lake_create_failed", "cannot create the DuckLake catalog: %s", merr);
    return -1;
bad_path:
    dlb_err_set(err, 503, "lake_data_path",
                "cannot use the lake data path %s (DATA_DIR=%s): not creatable or too long",
                data_path && *data_path ? data_path : "DATA_DIR/lake/",
                l->cfg->data_dir ? l->cfg->data_dir : "");
    return -1;
}

/* Reads version, data_path and encrypted (global scope; of duplicate keys the last row wins,
 * like the extension). */
static int read_metadata(lake_t *l, meta_conn *c, dlb_err *err)
{
    char merr[512] = "";
    meta_result *r =
        meta_query(c, "SELECT key, value FROM ducklake_metadata WHERE scope IS NULL OR scope = ''",
                   NULL, 0, NULL, merr, sizeof(merr));
    if (!r) {
        dlb_err_set(err, 503, "metadata_unavailable", "cannot read ducklake_metadata: %s", merr);
        return -1;
    }
    const char *version = NULL, *path = NULL, *enc = NULL;
    for (int i = 0; i < meta_result_rows(r); i++) {
        const char *k = meta_result_get(r, i, 0), *v = meta_result_get(r, i, 1);
        if (!k || !v) continue;
        if (strcmp(k, "version") == 0)
            version = v;
        else if (strcmp(k, "data_path") == 0)
            path = v;
        else if (strcmp(k, "encrypted") == 0)
            enc = v;
    }
    int rc = -1;
    if (!version || strcmp(version, LAKE_FORMAT_VERSION) != 0) {
        dlb_err_set(err, 503, "lake_version_unsupported",
                    "the DuckLake catalog has version '%s' (ducklake_metadata key 'version'); "
                    "this server reads version %s only: migrate the catalog with DuckDB >= 1.5.2 "
                    "(ATTACH ... (AUTOMATIC_MIGRATION true)) or use a fresh metadata database",
                    version ? version : "(missing)", LAKE_FORMAT_VERSION);
        goto out;
    }
    if (!path || !*path || strlen(path) >= sizeof(l->data_path)) {
        dlb_err_set(err, 503, "lake_data_path", "the DuckLake catalog has no usable data_path");
        goto out;
    }
    snprintf(l->version, sizeof(l->version), "%s", version);
    snprintf(l->data_path, sizeof(l->data_path), "%s", path);
    l->encrypted = enc && strcmp(enc, "true") == 0;
    if (path[0] == '/' || is_url(path)) {
        snprintf(l->data_root, sizeof(l->data_root), "%s", path);
    } else {
        char base[4000];
        if (data_dir_abs(l, base, sizeof(base)) != 0 ||
            snprintf(l->data_root, sizeof(l->data_root), "%s/%s", base, path) >=
                (int)sizeof(l->data_root)) {
            dlb_err_set(err, 503, "lake_data_path", "cannot resolve the relative data_path %s",
                        path);
            goto out;
        }
    }
    size_t n = strlen(l->data_root);
    if (n && l->data_root[n - 1] != '/' && n + 1 < sizeof(l->data_root)) strcat(l->data_root, "/");
    rc = 0;
out:
    meta_result_free(r);
    return rc;
}

/* DB_DUCKLAKE_SNAPSHOT_VERSION / _TIME pin every read (and make the lake read-only). */
static int resolve_pin(lake_t *l, dlb_err *err)
{
    const config_t *cfg = l->cfg;
    const char *ver = cfg->db_ducklake_snapshot_version;
    const char *tm = cfg->db_ducklake_snapshot_time;
    if (!(ver && *ver) && !(tm && *tm)) return 0;
    int64_t s = -1;
    /* lake_resolve_snapshot falls back to the pin, so resolve before setting it. */
    if (lake_resolve_snapshot(l, ver && *ver ? ver : NULL, ver && *ver ? NULL : tm, &s, err) != 0) {
        char why[sizeof(err->detail)];
        snprintf(why, sizeof(why), "%s", err->detail);
        dlb_err_set(err, 503, "lake_snapshot_pin", "%s=%s: %s",
                    ver && *ver ? "DB_DUCKLAKE_SNAPSHOT_VERSION" : "DB_DUCKLAKE_SNAPSHOT_TIME",
                    ver && *ver ? ver : tm, why);
        return -1;
    }
    l->pinned_snapshot = s;
    return 0;
}

lake_t *lake_open(const struct config *cfg, struct meta *meta, const char *data_path, dlb_err *err)
{
    return lake_open_store(cfg, meta, NULL, data_path, err);
}

lake_t *lake_open_store(const struct config *cfg, struct meta *meta, struct store *store,
                        const char *data_path, dlb_err *err)
{
    lake_t *l = calloc(1, sizeof(*l));
    if (!l) {
        dlb_err_set(err, 500, "out_of_memory", "out of memory");
        return NULL;
    }
    l->cfg = cfg;
    l->store = store;
    l->meta = meta;
    l->postgres = strcmp(meta_backend(meta), "postgres") == 0;
    l->pinned_snapshot = -1;
    l->inlining_row_limit = (int)cfg->db_ducklake_data_inlining_row_limit;
    l->materialize_max_rows = LAKE_MATERIALIZE_MAX_ROWS;
    l->token = atomic_fetch_add(&g_token, 1) + 1;
    if (pthread_mutex_init(&l->lock, NULL) != 0) {
        free(l);
        dlb_err_set(err, 500, "internal", "mutex");
        return NULL;
    }
    l->lock_ok = 1;

    meta_conn *c = meta_acquire(meta);
    if (!c) {
        dlb_err_set(err, 503, "metadata_unavailable", "no metadata database connection");
        goto fail;
    }
    int exists = lake_meta_table_exists(l, c, "ducklake_metadata");
    int rc = 0;
    if (exists < 0) {
        dlb_err_set(err, 503, "metadata_unavailable", "cannot inspect the metadata database");
        rc = -1;
    } else if (!exists) {
        rc = create_catalog(l, c, data_path, err);
    }
    if (rc == 0) rc = read_metadata(l, c, err);
    meta_release(meta, c);
    if (rc != 0) goto fail;
    if (lake_remote_init(l, err) != 0) goto fail; /* an s3:// data path: store + cache */
    if (resolve_pin(l, err) != 0) goto fail;
    l->read_only = cfg->db_ducklake_read_only || l->pinned_snapshot >= 0;
    return l;
fail:
    lake_close(l);
    return NULL;
}

void lake_close(lake_t *l)
{
    if (!l) return;
    if (l->count_con) duckdb_disconnect(&l->count_con);
    if (l->count_db) duckdb_close(&l->count_db);
    lake_remote_close(l);
    if (l->lock_ok) pthread_mutex_destroy(&l->lock);
    free(l);
}

const char *lake_data_path(const lake_t *l)
{
    return l->data_path;
}

const char *lake_version(const lake_t *l)
{
    return l->version;
}

int lake_read_only(const lake_t *l)
{
    return l->read_only;
}
