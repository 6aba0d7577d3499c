/* The lake on S3 (issue 4 item 4, docs/decisions/0012-object-storage.md): the data path is
 * s3://<bucket>/<prefix>/; appends write their Parquet file locally (DuckDB), upload it
 * through store/ before the catalog commit and delete the local copy; reads go through a
 * local LRU cache of the immutable files (cache.c): a query pins every file of its snapshot
 * (downloading the missing ones) before the views are bound and unpins them when it ends, and
 * the views name the files' cache paths. DuckDB never talks to S3 (no httpfs). */
#include "lake_internal.h"

#include "lake/cache.h"
#include "obs/metrics.h"
#include "store/store.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_PREFIX "ducklake-data/"
#define PARQUET_TYPE   "application/vnd.apache.parquet"

static int is_s3(const char *p)
{
    return p && strncmp(p, "s3://", 5) == 0;
}

/* s3://bucket/key -> bucket, key (pointing into url). 0 or -1. */
static int split_url(const char *url, char *bucket, size_t blen, const char **key)
{
    if (!is_s3(url)) return -1;
    const char *b = url + 5, *slash = strchr(b, '/');
    if (!slash || (size_t)(slash - b) >= blen || slash == b) return -1;
    memcpy(bucket, b, (size_t)(slash - b));
    bucket[slash - b] = 0;
    *key = slash + 1;
    return 0;
}

static int mkdirs(const char *path, mode_t mode)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp)) return -1;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, mode) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(tmp, mode) != 0 && errno != EEXIST ? -1 : 0;
}

/* ---- creating a new lake ----------------------------------------------------------------- */

static int ensure_bucket(store_t *s, const char *bucket, dlb_err *err)
{
    int ex = store_bucket_exists(s, bucket, err);
    if (ex < 0) return -1;
    if (ex) return 0;
    if (store_bucket_create(s, bucket, err) == 0) return 0;
    return err->status == 409 ? 0 : -1; /* created by someone else meanwhile */
}

int lake_remote_default_path(lake_t *l, char *out, size_t outlen)
{
    if (!l->store || strcmp(store_backend(l->store), "s3") != 0) return 0;
    const char *bucket = l->cfg->storage_default_bucket;
    dlb_err e = {0};
    if (!bucket || store_bucket_name_ok(bucket, &e) != 0) return -1;
    if (snprintf(out, outlen, "s3://%s/" DEFAULT_PREFIX, bucket) >= (int)outlen) return -1;
    if (ensure_bucket(l->store, bucket, &e) != 0)
        log_warn("lake: cannot make sure the lake bucket exists; the first upload will try again",
                 "bucket", bucket, "error", e.detail);
    return 1;
}

/* ---- the cache's download callback ------------------------------------------------------- */

typedef struct {
    FILE *fp;
    uint64_t want, got;
    int io_errno;
} fetch_sink;

static int fs_begin(void *ctx, const store_object *info, uint64_t offset, uint64_t length)
{
    (void)info;
    (void)offset;
    fetch_sink *f = ctx;
    f->want = length;
    return 0;
}

static int fs_data(void *ctx, const void *p, size_t n)
{
    fetch_sink *f = ctx;
    if (fwrite(p, 1, n, f->fp) != n) {
        f->io_errno = errno ? errno : EIO;
        return -1;
    }
    f->got += n;
    return 0;
}

static int fetch(void *ctx, const char *url, const char *dest, uint64_t *size, dlb_err *e)
{
    lake_t *l = ctx;
    char bucket[STORE_BUCKET_MAX + 1];
    const char *key;
    if (split_url(url, bucket, sizeof(bucket), &key) != 0) {
        dlb_err_set(e, 500, "lake_data_path", "not an s3:// URL: %.300s", url);
        return -1;
    }
    int fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    FILE *fp = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!fp) {
        if (fd >= 0) close(fd);
        dlb_err_set(e, errno == ENOSPC ? 507 : 503, "lake_cache",
                    "cannot create a file in the lake cache: %s", strerror(errno));
        return -1;
    }
    setvbuf(fp, NULL, _IOFBF, 1 << 20);
    fetch_sink f = {.fp = fp};
    store_sink sink = {.begin = fs_begin, .data = fs_data, .ctx = &f};
    dlb_err se = {0};
    int rc = store_get(l->store, bucket, key, NULL, &sink, NULL, &se);
    if (fclose(fp) != 0 && rc == 0) {
        f.io_errno = errno;
        rc = -1;
    }
    if (rc == 0 && f.got != f.want) {
        dlb_err_set(e, 503, "store_unavailable",
                    "lake file %.300s: the store sent %llu of %llu bytes", url,
                    (unsigned long long)f.got, (unsigned long long)f.want);
        return -1;
    }
    if (rc != 0) {
        if (f.io_errno)
            dlb_err_set(e, f.io_errno == ENOSPC ? 507 : 503, "lake_cache",
                        "cannot write lake file %.300s to the cache: %s", url,
                        strerror(f.io_errno));
        else if (se.status == 404)
            /* The catalog names a file the store does not have: the lake is damaged. */
            dlb_err_set(e, 500, "lake_file_missing",
                        "the catalog refers to %.300s, which the object store does not have: %s",
                        url, se.detail);
        else
            dlb_err_set(e, se.status ? se.status : 503, se.code[0] ? se.code : "store_unavailable",
                        "cannot read lake file %.300s from the object store: %s", url, se.detail);
        return -1;
    }
    *size = f.got;
    return 0;
}

/* ---- opening, closing ------------------------------------------------------------------ */

int lake_remote_init(lake_t *l, dlb_err *err)
{
    if (!is_s3(l->data_root)) return 0;
    if (!l->store || strcmp(store_backend(l->store), "s3") != 0) {
        dlb_err_set(err, 503, "lake_data_path",
                    "the lake's data path %s is on S3 but the object store is %s: set "
                    "STORAGE_BACKEND=s3 and STORAGE_MINIO_* to reach it",
                    l->data_root, l->store ? store_backend(l->store) : "not configured");
        return -1;
    }
    char bucket[STORE_BUCKET_MAX + 1];
    const char *prefix;
    dlb_err be = {0};
    if (split_url(l->data_root, bucket, sizeof(bucket), &prefix) != 0 ||
        store_bucket_name_ok(bucket, &be) != 0) {
        dlb_err_set(err, 503, "lake_data_path", "the lake's data path %s names no usable bucket",
                    l->data_root);
        return -1;
    }
    const char *d = l->cfg->data_dir && *l->cfg->data_dir ? l->cfg->data_dir : ".";
    char base[PATH_MAX], dir[PATH_MAX + 16];
    if (mkdirs(d, 0755) != 0 || !realpath(d, base)) {
        dlb_err_set(err, 503, "lake_data_path", "cannot use DATA_DIR %s: %s", d, strerror(errno));
        return -1;
    }
    if (snprintf(l->upload_dir, sizeof(l->upload_dir), "%s/tmp/", base) >=
            (int)sizeof(l->upload_dir) ||
        snprintf(dir, sizeof(dir), "%s/cache/lake", base) >= (int)sizeof(dir)) {
        dlb_err_set(err, 503, "lake_data_path", "DATA_DIR %s is too long", base);
        return -1;
    }
    if (mkdirs(l->upload_dir, 0755) != 0) {
        dlb_err_set(err, 503, "lake_data_path", "cannot create %s: %s", l->upload_dir,
                    strerror(errno));
        return -1;
    }
    l->cache = lake_cache_open(dir, (uint64_t)l->cfg->storage_cache_max_bytes, fetch, l, err);
    if (!l->cache) return -1;
    l->remote = 1;
    return 0;
}

void lake_remote_close(lake_t *l)
{
    lake_cache_close(l->cache);
    l->cache = NULL;
}

/* ---- reading ------------------------------------------------------------------------------ */

static int localize(lake_t *l, char **path, char **url)
{
    if (!*path || !is_s3(*path)) return 0;
    char local[PATH_MAX];
    if (lake_cache_path(l->cache, *path, local, sizeof(local)) != 0) return -1;
    char *p = strdup(local);
    if (!p) return -1;
    *url = *path;
    *path = p;
    return 0;
}

int lake_files_localize(lake_t *l, lake_table *t, dlb_err *err)
{
    if (!l->cache) return 0;
    for (int i = 0; i < t->nfiles; i++) {
        lake_file *f = &t->files[i];
        if (localize(l, &f->path, &f->url) != 0 ||
            (f->has_del && localize(l, &f->del_path, &f->del_url) != 0)) {
            dlb_err_set(err, 500, "out_of_memory", "out of memory");
            return -1;
        }
    }
    return 0;
}

struct lake_pins {
    lake_cache_entry **e;
    int n;
};

void lake_pins_release(lake_t *l, lake_pins *p)
{
    if (!p) return;
    for (int i = 0; i < p->n; i++)
        lake_cache_unpin(l->cache, p->e[i]);
    free(p->e);
    free(p);
}

static int pin_url(lake_t *l, lake_pins *p, const char *url, dlb_err *err)
{
    if (!url) return 0;
    lake_cache_entry *en = lake_cache_pin(l->cache, url, err);
    if (!en) return -1;
    p->e[p->n++] = en;
    return 0;
}

int lake_pin_snapshot(lake_t *l, int64_t snapshot, lake_pins **out, dlb_err *err)
{
    *out = NULL;
    if (!l->cache) return 0;
    meta_conn *c = meta_acquire(l->meta);
    if (!c) {
        dlb_err_set(err, 503, "metadata_unavailable", "no metadata database connection");
        return -1;
    }
    lake_table *t = NULL;
    int n = 0;
    int rc = lake_tables_load(l, c, snapshot, NULL, NULL, 1, &t, &n, err);
    meta_release(l->meta, c);
    if (rc != 0) return -1;
    int files = 0;
    for (int i = 0; i < n; i++)
        files += 2 * t[i].nfiles;
    lake_pins *p = calloc(1, sizeof(*p));
    if (p) p->e = calloc(files ? (size_t)files : 1, sizeof(*p->e));
    if (!p || !p->e) {
        if (p) free(p);
        lake_tables_free(t, n);
        dlb_err_set(err, 500, "out_of_memory", "out of memory");
        return -1;
    }
    for (int i = 0; rc == 0 && i < n; i++)
        for (int k = 0; rc == 0 && k < t[i].nfiles; k++) {
            const lake_file *f = &t[i].files[k];
            rc = pin_url(l, p, f->url, err);
            if (rc == 0) rc = pin_url(l, p, f->has_del ? f->del_url : NULL, err);
        }
    lake_tables_free(t, n);
    if (rc != 0) {
        lake_pins_release(l, p);
        return -1;
    }
    *out = p;
    return 0;
}

int lake_pin_file(lake_t *l, const char *url, lake_pins **out, dlb_err *err)
{
    *out = NULL;
    if (!l->cache || !is_s3(url)) return 0;
    lake_pins *p = calloc(1, sizeof(*p));
    if (p) p->e = calloc(1, sizeof(*p->e));
    if (!p || !p->e) {
        free(p);
        dlb_err_set(err, 500, "out_of_memory", "out of memory");
        return -1;
    }
    if (pin_url(l, p, url, err) != 0) {
        lake_pins_release(l, p);
        return -1;
    }
    *out = p;
    return 0;
}

/* ---- writing ------------------------------------------------------------------------------ */

int lake_remote_publish(lake_t *l, char **path, const char *dir, const char *name, dlb_err *err)
{
    char url[8192], bucket[STORE_BUCKET_MAX + 1];
    const char *key;
    struct stat sb;
    int rc = -1;
    if (snprintf(url, sizeof(url), "%s%s", dir, name) >= (int)sizeof(url) ||
        split_url(url, bucket, sizeof(bucket), &key) != 0) {
        dlb_err_set(err, 500, "lake_data_path", "cannot form the object name of %s in %s", name,
                    dir);
        goto out;
    }
    if (stat(*path, &sb) != 0) {
        dlb_err_set(err, 500, "internal", "the data file %s vanished before its upload", *path);
        goto out;
    }
    dlb_err se = {0};
    rc = store_put_file(l->store, bucket, key, *path, 0, (uint64_t)sb.st_size, PARQUET_TYPE, NULL,
                        &se);
    if (rc != 0 && se.status == 404 && strcmp(se.code, "no_such_bucket") == 0) {
        /* A new lake whose bucket could not be created at start (store down then). */
        dlb_err be = {0};
        if (ensure_bucket(l->store, bucket, &be) == 0) {
            memset(&se, 0, sizeof(se));
            rc = store_put_file(l->store, bucket, key, *path, 0, (uint64_t)sb.st_size, PARQUET_TYPE,
                                NULL, &se);
        }
    }
    if (rc != 0) {
        dlb_err_set(err, se.status ? se.status : 503, se.code[0] ? se.code : "store_unavailable",
                    "cannot upload the new data file to the object store (%s); nothing was "
                    "committed: %s",
                    url, se.detail);
        goto out;
    }
    char *u = strdup(url);
    if (!u) {
        /* Uploaded but unnamed: remove it again, nothing refers to it. */
        dlb_err ig;
        store_delete(l->store, bucket, key, &ig);
        dlb_err_set(err, 500, "out_of_memory", "out of memory");
        rc = -1;
        goto out;
    }
    unlink(*path);
    free(*path);
    *path = u;
    return 0;
out:
    unlink(*path);
    return -1;
}

int lake_file_remove(lake_t *l, const char *path)
{
    if (!is_s3(path)) return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
    char bucket[STORE_BUCKET_MAX + 1];
    const char *key;
    if (!l->store || split_url(path, bucket, sizeof(bucket), &key) != 0) return -1;
    dlb_err e = {0};
    if (store_delete(l->store, bucket, key, &e) == 0 || e.status == 404) return 0;
    log_warn("lake: cannot delete an uncommitted data file from the object store", "url", path,
             "error", e.detail);
    return -1;
}

/* ---- metrics -------------------------------------------------------------------------------- */

static struct {
    obs_series *hits, *misses, *evictions, *fetch_errors, *fetched, *bytes, *files, *max, *pinned;
    uint64_t s_hits, s_misses, s_evictions, s_fetch_errors, s_fetched;
} g_m;

static void add_delta(obs_series *s, uint64_t now, uint64_t *seen)
{
    if (s && now > *seen) obs_counter_add(s, now - *seen);
    *seen = now;
}

static void refresh(void *ctx)
{
    lake_t *l = ctx;
    lake_cache_stats st;
    lake_cache_get_stats(l->cache, &st);
    add_delta(g_m.hits, st.hits, &g_m.s_hits);
    add_delta(g_m.misses, st.misses, &g_m.s_misses);
    add_delta(g_m.evictions, st.evictions, &g_m.s_evictions);
    add_delta(g_m.fetch_errors, st.fetch_errors, &g_m.s_fetch_errors);
    add_delta(g_m.fetched, st.fetched_bytes, &g_m.s_fetched);
    if (g_m.bytes) obs_gauge_set(g_m.bytes, (double)st.bytes);
    if (g_m.files) obs_gauge_set(g_m.files, (double)st.files);
    if (g_m.max) obs_gauge_set(g_m.max, (double)st.max_bytes);
    if (g_m.pinned) obs_gauge_set(g_m.pinned, (double)st.pinned);
}

static obs_series *one(obs_family *f)
{
    return f ? obs_series_get(f, NULL) : NULL;
}

void lake_metrics_register(lake_t *l)
{
    if (!l || !l->cache) return;
    memset(&g_m, 0, sizeof(g_m));
    g_m.hits = one(obs_counter_family("dlb_lake_cache_hits_total",
                                      "Lake files a query found in the local cache", NULL));
    g_m.misses = one(obs_counter_family(
        "dlb_lake_cache_misses_total",
        "Lake files a query had to download from the object store into the cache", NULL));
    g_m.evictions = one(obs_counter_family(
        "dlb_lake_cache_evictions_total",
        "Lake files removed from the cache to stay within STORAGE_CACHE_MAX_BYTES", NULL));
    g_m.fetch_errors = one(obs_counter_family("dlb_lake_cache_fetch_errors_total",
                                              "Downloads of lake files that failed", NULL));
    g_m.fetched = one(obs_counter_family("dlb_lake_cache_fetched_bytes_total",
                                         "Bytes of lake files downloaded into the cache", NULL));
    g_m.bytes =
        one(obs_gauge_family("dlb_lake_cache_bytes", "Bytes the lake cache holds now", NULL));
    g_m.files =
        one(obs_gauge_family("dlb_lake_cache_files", "Files the lake cache holds now", NULL));
    g_m.max = one(obs_gauge_family("dlb_lake_cache_max_bytes",
                                   "The lake cache's budget (STORAGE_CACHE_MAX_BYTES)", NULL));
    g_m.pinned = one(obs_gauge_family("dlb_lake_cache_pinned_files",
                                      "Lake cache files pinned by running queries", NULL));
    obs_metrics_on_scrape(refresh, l);
}
