/* The local driver: DATA_DIR/objects/<bucket>/ holds one directory per key segment ("d_"
 * + segment), the object's bytes ("o_" + last segment) and a sidecar with its ETag and
 * content type ("m_" + last segment). The prefixes keep "a" and "a/b" from colliding (a
 * file and a directory of the same name). Writes go to objects/.tmp, are fsynced and then
 * renamed into place, so a crash never leaves half an object visible. The sidecar records
 * the inode of the bytes it describes; when they disagree (a crash between the two
 * renames, or a reader racing an overwrite) the ETag is computed from the bytes. */
#include "store_internal.h"

#include "util/ids.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK   (256 * 1024)
#define SEG_MAX 250 /* a file name holds 255 bytes: the 2-byte tag and a margin */

typedef struct {
    char root[4096]; /* .../objects */
    store_counters *c;
} local_store;

static void errno_err(dlb_err *e, const char *what, const char *name)
{
    int en = errno;
    if (en == ENOSPC || en == EDQUOT)
        dlb_err_set(e, 507, "insufficient_storage", "cannot %s '%s': %s", what, name, strerror(en));
    else
        dlb_err_set(e, 500, "store_error", "cannot %s '%s': %s", what, name, strerror(en));
}

static int mkdir_p(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        int rc = mkdir(path, 0755);
        *p = '/';
        if (rc && errno != EEXIST) return -1;
    }
    return mkdir(path, 0755) && errno != EEXIST ? -1 : 0;
}

void *store_local_open(const store_options *opt, store_counters *c, dlb_err *e)
{
    local_store *l = calloc(1, sizeof(*l));
    if (!l) {
        dlb_err_set(e, 500, "internal_error", "out of memory");
        return NULL;
    }
    l->c = c;
    snprintf(l->root, sizeof(l->root), "%s/objects", opt->data_dir ? opt->data_dir : ".");
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s/.tmp", l->root);
    if (mkdir_p(tmp)) {
        dlb_err_set(e, 500, "store_error", "cannot create %s: %s", tmp, strerror(errno));
        free(l);
        return NULL;
    }
    return l;
}

static void local_close(void *d)
{
    free(d);
}

static void bucket_path(const local_store *l, const char *bucket, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", l->root, bucket);
}

/* The path of the object's file with tag 'o' or 'm' for its last segment; dirlen gets the
 * length of its directory part. -1 (400) when a segment is too long for a file name. */
static int key_path(const local_store *l, const char *bucket, const char *key, char tag, char *out,
                    size_t n, size_t *dirlen, dlb_err *e)
{
    int w = snprintf(out, n, "%s/%s", l->root, bucket);
    size_t used = (size_t)w;
    for (const char *seg = key; seg;) {
        const char *slash = strchr(seg, '/');
        size_t len = slash ? (size_t)(slash - seg) : strlen(seg);
        if (len > SEG_MAX) {
            dlb_err_set(e, 400, "invalid_object_name",
                        "the local store keeps object names whose '/'-separated parts are at "
                        "most %d bytes",
                        SEG_MAX);
            return -1;
        }
        if (!slash && dirlen) *dirlen = used;
        w = snprintf(out + used, n - used, "/%c_%.*s", slash ? 'd' : tag, (int)len, seg);
        if (w < 0 || (size_t)w >= n - used) {
            dlb_err_set(e, 400, "invalid_object_name", "object name too long");
            return -1;
        }
        used += (size_t)w;
        seg = slash ? slash + 1 : NULL;
    }
    return 0;
}

static int bucket_missing(const local_store *l, const char *bucket, dlb_err *e)
{
    char p[4200];
    struct stat st;
    bucket_path(l, bucket, p, sizeof(p));
    if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) return 0;
    dlb_err_set(e, 404, "no_such_bucket", "bucket '%s' does not exist", bucket);
    return 1;
}

static int local_bucket_create(void *d, const char *bucket, dlb_err *e)
{
    local_store *l = d;
    char p[4200];
    bucket_path(l, bucket, p, sizeof(p));
    if (mkdir(p, 0755) == 0) return 0;
    if (errno == EEXIST) {
        dlb_err_set(e, 409, "bucket_exists", "bucket '%s' already exists", bucket);
        return -1;
    }
    errno_err(e, "create bucket", bucket);
    return -1;
}

static int local_bucket_exists(void *d, const char *bucket, dlb_err *e)
{
    dlb_err ignored;
    (void)e;
    return bucket_missing(d, bucket, &ignored) ? 0 : 1;
}

static int local_bucket_delete(void *d, const char *bucket, dlb_err *e)
{
    local_store *l = d;
    char p[4200];
    bucket_path(l, bucket, p, sizeof(p));
    if (rmdir(p) == 0) return 0;
    if (errno == ENOENT)
        dlb_err_set(e, 404, "no_such_bucket", "bucket '%s' does not exist", bucket);
    else if (errno == ENOTEMPTY || errno == EEXIST)
        dlb_err_set(e, 409, "bucket_not_empty", "bucket '%s' is not empty", bucket);
    else
        errno_err(e, "delete bucket", bucket);
    return -1;
}

/* ---- sidecar -------------------------------------------------------------------------- */

typedef struct {
    unsigned long long ino;
    char etag[80];
    char ctype[128];
} sidecar;

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_sidecar(const char *path, sidecar *m)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[256];
    int ok = fgets(line, sizeof(line), f) && strcmp(line, "dlb-object 1\n") == 0 &&
             fscanf(f, "%llu\n%79[0-9a-f-]\n", &m->ino, m->etag) == 2 &&
             fgets(m->ctype, sizeof(m->ctype), f);
    fclose(f);
    if (!ok) return -1;
    m->ctype[strcspn(m->ctype, "\r\n")] = 0;
    return 0;
}

static int md5_fd(int fd, uint64_t off, uint64_t len, char out[33])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    char *buf = malloc(CHUNK);
    int rc = -1;
    if (!md || !buf || !EVP_DigestInit_ex(md, EVP_md5(), NULL)) goto out;
    while (len) {
        ssize_t r = pread(fd, buf, len < CHUNK ? (size_t)len : CHUNK, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) goto out;
        EVP_DigestUpdate(md, buf, (size_t)r);
        off += (uint64_t)r;
        len -= (uint64_t)r;
    }
    unsigned char dig[16];
    EVP_DigestFinal_ex(md, dig, NULL);
    store_hex(dig, 16, out);
    rc = 0;
out:
    EVP_MD_CTX_free(md);
    free(buf);
    return rc;
}

/* Fills out from an open object file and its sidecar. */
static int describe(int fd, const char *mpath, store_object *out, dlb_err *e)
{
    struct stat st;
    if (fstat(fd, &st)) {
        errno_err(e, "stat", mpath);
        return -1;
    }
    out->size = (uint64_t)st.st_size;
    out->mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
    sidecar m;
    if (read_sidecar(mpath, &m) == 0 && m.ino == (unsigned long long)st.st_ino) {
        snprintf(out->etag, sizeof(out->etag), "%s", m.etag);
        snprintf(out->content_type, sizeof(out->content_type), "%s", m.ctype);
        return 0;
    }
    snprintf(out->content_type, sizeof(out->content_type), "application/octet-stream");
    if (md5_fd(fd, 0, out->size, out->etag)) {
        errno_err(e, "read", mpath);
        return -1;
    }
    return 0;
}

/* ---- put ------------------------------------------------------------------------------ */

static int tmp_file(const local_store *l, const char *ext, char *path, size_t n)
{
    char rnd[33];
    ids_request_id(rnd);
    snprintf(path, n, "%s/.tmp/%s.%s", l->root, rnd, ext);
    return open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
}

/* Copies len bytes of src from off into dst, hashing them. */
static int copy_md5(int src, uint64_t off, uint64_t len, int dst, char etag[33])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    char *buf = malloc(CHUNK);
    int rc = -1;
    if (!md || !buf || !EVP_DigestInit_ex(md, EVP_md5(), NULL)) goto out;
    while (len) {
        ssize_t r = pread(src, buf, len < CHUNK ? (size_t)len : CHUNK, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            if (r == 0) errno = EIO; /* the source is shorter than announced */
            goto out;
        }
        EVP_DigestUpdate(md, buf, (size_t)r);
        if (write_all(dst, buf, (size_t)r)) goto out;
        off += (uint64_t)r;
        len -= (uint64_t)r;
    }
    unsigned char dig[16];
    EVP_DigestFinal_ex(md, dig, NULL);
    store_hex(dig, 16, etag);
    rc = 0;
out:
    EVP_MD_CTX_free(md);
    free(buf);
    return rc;
}

static void fsync_dir(const char *path, size_t len)
{
    char dir[4200];
    snprintf(dir, sizeof(dir), "%.*s", (int)len, path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* Where an object goes: its bytes, its sidecar and the length of its directory part. */
typedef struct {
    char opath[4200], mpath[4200];
    size_t dirlen;
} target;

static int target_of(local_store *l, const char *bucket, const char *key, target *t, dlb_err *e)
{
    if (key_path(l, bucket, key, 'o', t->opath, sizeof(t->opath), &t->dirlen, e) ||
        key_path(l, bucket, key, 'm', t->mpath, sizeof(t->mpath), NULL, e))
        return -1;
    return bucket_missing(l, bucket, e) ? -1 : 0;
}

/* Makes the bytes written to dst (the temporary file tdata) the object at t: fsync, sidecar,
 * renames. Closes dst; clears tdata once it has been renamed (the caller unlinks it
 * otherwise). */
static int publish(local_store *l, const char *key, const target *t, int dst, char *tdata,
                   const char *etag, const char *ctype, uint64_t size, store_object *out,
                   dlb_err *e)
{
    char tmeta[4200] = "";
    struct stat st;
    int rc = -1;
    if (fsync(dst) || fstat(dst, &st)) {
        errno_err(e, "store", key);
        close(dst);
        return -1;
    }
    close(dst);
    dst = tmp_file(l, "meta", tmeta, sizeof(tmeta));
    char meta[512];
    int mlen = snprintf(meta, sizeof(meta), "dlb-object 1\n%llu\n%s\n%s\n",
                        (unsigned long long)st.st_ino, etag, ctype);
    if (dst < 0 || write_all(dst, meta, (size_t)mlen) || fsync(dst)) {
        if (dst < 0) tmeta[0] = 0;
        errno_err(e, "store", key);
        goto out;
    }
    /* A delete emptying the same directories may remove them between mkdir and rename. */
    for (int attempt = 0;; attempt++) {
        char dir[4200];
        snprintf(dir, sizeof(dir), "%.*s", (int)t->dirlen, t->opath);
        if (mkdir_p(dir) == 0 && rename(tdata, t->opath) == 0) break;
        if (errno != ENOENT || attempt == 3) {
            errno_err(e, "store", key);
            goto out;
        }
    }
    tdata[0] = 0;
    if (rename(tmeta, t->mpath) == 0) tmeta[0] = 0;
    fsync_dir(t->opath, t->dirlen);
    out->size = size;
    out->mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
    snprintf(out->etag, sizeof(out->etag), "%s", etag);
    snprintf(out->content_type, sizeof(out->content_type), "%s", ctype);
    rc = 0;
out:
    if (dst >= 0) close(dst);
    if (tmeta[0]) unlink(tmeta);
    return rc;
}

static int local_put(void *d, const char *bucket, const char *key, const char *path,
                     uint64_t offset, uint64_t size, const char *ctype, store_object *out,
                     dlb_err *e)
{
    local_store *l = d;
    target t;
    char tdata[4200] = "";
    int src = -1, dst = -1, rc = -1;
    if (target_of(l, bucket, key, &t, e)) return -1;
    src = open(path, O_RDONLY | O_CLOEXEC);
    if (src < 0) {
        errno_err(e, "read the upload", key);
        goto out;
    }
    dst = tmp_file(l, "data", tdata, sizeof(tdata));
    if (dst < 0) {
        tdata[0] = 0;
        errno_err(e, "store", key);
        goto out;
    }
    char etag[33];
    if (copy_md5(src, offset, size, dst, etag)) {
        errno_err(e, "store", key);
        goto out;
    }
    rc = publish(l, key, &t, dst, tdata, etag, ctype, size, out, e);
    dst = -1;
out:
    if (src >= 0) close(src);
    if (dst >= 0) close(dst);
    if (tdata[0]) unlink(tdata);
    return rc;
}

/* ---- streaming put -------------------------------------------------------------------- */

/* The bytes go to a temporary file as they come, hashed on the way; finish publishes it. */
typedef struct {
    local_store *l;
    target t;
    char tdata[4200];
    char key[STORE_KEY_MAX + 1];
    char ctype[128];
    int fd;
    EVP_MD_CTX *md;
    uint64_t size;
} local_writer;

static void local_writer_abort(void *p)
{
    local_writer *w = p;
    if (w->fd >= 0) close(w->fd);
    if (w->tdata[0]) unlink(w->tdata);
    EVP_MD_CTX_free(w->md);
    free(w);
}

static void *local_writer_open(void *d, const char *bucket, const char *key, const char *ctype,
                               uint64_t size_hint, dlb_err *e)
{
    (void)size_hint;
    local_writer *w = calloc(1, sizeof(*w));
    if (!w) {
        dlb_err_set(e, 500, "internal_error", "out of memory");
        return NULL;
    }
    w->l = d;
    w->fd = -1;
    snprintf(w->key, sizeof(w->key), "%s", key);
    snprintf(w->ctype, sizeof(w->ctype), "%s", ctype);
    if (target_of(w->l, bucket, key, &w->t, e)) {
        free(w);
        return NULL;
    }
    w->md = EVP_MD_CTX_new();
    if (!w->md || !EVP_DigestInit_ex(w->md, EVP_md5(), NULL)) {
        dlb_err_set(e, 500, "internal_error", "cannot hash the upload");
        local_writer_abort(w);
        return NULL;
    }
    w->fd = tmp_file(w->l, "data", w->tdata, sizeof(w->tdata));
    if (w->fd < 0) {
        w->tdata[0] = 0;
        errno_err(e, "store", key);
        local_writer_abort(w);
        return NULL;
    }
    return w;
}

static int local_writer_write(void *p, const void *data, size_t n, dlb_err *e)
{
    local_writer *w = p;
    EVP_DigestUpdate(w->md, data, n);
    if (write_all(w->fd, data, n)) {
        errno_err(e, "store", w->key);
        return -1;
    }
    w->size += n;
    return 0;
}

static int local_writer_finish(void *p, store_object *out, dlb_err *e)
{
    local_writer *w = p;
    unsigned char dig[16];
    char etag[33];
    EVP_DigestFinal_ex(w->md, dig, NULL);
    store_hex(dig, 16, etag);
    int rc = publish(w->l, w->key, &w->t, w->fd, w->tdata, etag, w->ctype, w->size, out, e);
    w->fd = -1;
    local_writer_abort(w); /* removes the temporary file if it was not published */
    return rc;
}

/* ---- head, get, delete ---------------------------------------------------------------- */

static int open_object(local_store *l, const char *bucket, const char *key, char *mpath,
                       size_t mlen, dlb_err *e)
{
    char opath[4200];
    if (key_path(l, bucket, key, 'o', opath, sizeof(opath), NULL, e) ||
        key_path(l, bucket, key, 'm', mpath, mlen, NULL, e))
        return -1;
    int fd = open(opath, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) return fd;
    if (errno == ENOENT || errno == ENOTDIR) {
        if (!bucket_missing(l, bucket, e))
            dlb_err_set(e, 404, "no_such_key", "object '%s' does not exist in bucket '%s'", key,
                        bucket);
    } else {
        errno_err(e, "open", key);
    }
    return -1;
}

static int local_head(void *d, const char *bucket, const char *key, store_object *out, dlb_err *e)
{
    char mpath[4200];
    int fd = open_object(d, bucket, key, mpath, sizeof(mpath), e);
    if (fd < 0) return -1;
    int rc = describe(fd, mpath, out, e);
    close(fd);
    return rc;
}

static int local_get(void *d, const char *bucket, const char *key, const store_range *range,
                     const store_sink *sink, uint64_t *size_out, dlb_err *e)
{
    char mpath[4200];
    store_object info = {0};
    char *buf = NULL;
    int rc = -1;
    int fd = open_object(d, bucket, key, mpath, sizeof(mpath), e);
    if (fd < 0) return -1;
    if (describe(fd, mpath, &info, e)) goto out;
    if (size_out) *size_out = info.size;
    uint64_t off, len;
    if (store_range_resolve(range, info.size, &off, &len)) {
        dlb_err_set(e, 416, "range_not_satisfiable",
                    "the range does not overlap the object's %llu bytes",
                    (unsigned long long)info.size);
        goto out;
    }
    if (sink->begin && sink->begin(sink->ctx, &info, off, len)) goto sink_failed;
    buf = malloc(CHUNK);
    if (!buf) {
        dlb_err_set(e, 500, "internal_error", "out of memory");
        goto out;
    }
    posix_fadvise(fd, (off_t)off, (off_t)len, POSIX_FADV_SEQUENTIAL);
    while (len) {
        ssize_t r = pread(fd, buf, len < CHUNK ? (size_t)len : CHUNK, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            errno_err(e, "read", key);
            goto out;
        }
        if (sink->data(sink->ctx, buf, (size_t)r)) goto sink_failed;
        off += (uint64_t)r;
        len -= (uint64_t)r;
    }
    rc = 0;
    goto out;
sink_failed:
    if (e && !e->status) dlb_err_set(e, 499, "client_gone", "the reader went away");
out:
    free(buf);
    close(fd);
    return rc;
}

static int local_delete(void *d, const char *bucket, const char *key, dlb_err *e)
{
    local_store *l = d;
    char opath[4200], mpath[4200];
    size_t dirlen = 0;
    if (key_path(l, bucket, key, 'o', opath, sizeof(opath), &dirlen, e) ||
        key_path(l, bucket, key, 'm', mpath, sizeof(mpath), NULL, e))
        return -1;
    if (unlink(opath)) {
        if (errno == ENOENT || errno == ENOTDIR) {
            if (!bucket_missing(l, bucket, e))
                dlb_err_set(e, 404, "no_such_key", "object '%s' does not exist in bucket '%s'", key,
                            bucket);
        } else {
            errno_err(e, "delete", key);
        }
        return -1;
    }
    unlink(mpath);
    /* Drop the directories the key leaves empty, up to the bucket. */
    char bdir[4200];
    bucket_path(l, bucket, bdir, sizeof(bdir));
    size_t blen = strlen(bdir);
    opath[dirlen] = 0;
    while (strlen(opath) > blen && rmdir(opath) == 0) {
        char *slash = strrchr(opath, '/');
        if (!slash) break;
        *slash = 0;
    }
    return 0;
}

/* ---- list ----------------------------------------------------------------------------- */

typedef struct {
    char **keys;
    size_t n, cap;
} keyvec;

static int keyvec_add(keyvec *v, const char *k)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 256;
        char **p = realloc(v->keys, cap * sizeof(*p));
        if (!p) return -1;
        v->keys = p;
        v->cap = cap;
    }
    v->keys[v->n] = strdup(k);
    return v->keys[v->n] ? (int)(v->n++, 0) : -1;
}

static void keyvec_free(keyvec *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->keys[i]);
    free(v->keys);
}

/* Collects the keys under dir (whose key prefix is kp, "" or ending in '/') that start with
 * prefix. Directories that cannot hold such keys are not entered. */
static int walk(const char *dir, char *kp, size_t kplen, const char *prefix, keyvec *out)
{
    DIR *dh = opendir(dir);
    if (!dh) return errno == ENOENT ? 0 : -1;
    int rc = 0;
    size_t plen = prefix ? strlen(prefix) : 0;
    struct dirent *de;
    /* readdir on a stream of our own is thread-safe in glibc; readdir_r is deprecated. */
    // cppcheck-suppress readdirCalled
    while (rc == 0 && (de = readdir(dh)) != NULL) {
        const char *n = de->d_name;
        if ((n[0] != 'o' && n[0] != 'd') || n[1] != '_') continue;
        size_t nl = strlen(n + 2);
        if (kplen + nl + 2 > STORE_KEY_MAX + 2) continue;
        memcpy(kp + kplen, n + 2, nl);
        kp[kplen + nl] = 0;
        size_t klen = kplen + nl;
        /* The key (or every key below this directory) must agree with the prefix as far
         * as both go. */
        size_t cmp = klen < plen ? klen : plen;
        if (cmp && memcmp(kp, prefix, cmp) != 0) continue;
        if (n[0] == 'o') {
            if (klen >= plen) rc = keyvec_add(out, kp);
            continue;
        }
        char sub[4200];
        snprintf(sub, sizeof(sub), "%s/%s", dir, n);
        kp[klen] = '/';
        kp[klen + 1] = 0;
        rc = walk(sub, kp, klen + 1, prefix, out);
    }
    closedir(dh);
    return rc;
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Tokens name where the last page stopped: "k" + the last key, or "p" + the last common
 * prefix (everything under it was summarised), hex-encoded so that they travel in URLs. */
static char *make_token(char kind, const char *s)
{
    size_t n = strlen(s);
    char *t = malloc(2 * (n + 1) + 1);
    if (!t) return NULL;
    unsigned char *raw = malloc(n + 1);
    if (!raw) {
        free(t);
        return NULL;
    }
    raw[0] = (unsigned char)kind;
    memcpy(raw + 1, s, n);
    store_hex(raw, n + 1, t);
    free(raw);
    return t;
}

static int parse_token(const char *t, char *kind, char *out, size_t outlen)
{
    size_t n = strlen(t);
    if (n < 2 || n % 2 || n / 2 > outlen) return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(t + 2 * i, "%2x", &v) != 1) return -1;
        if (i == 0)
            *kind = (char)v;
        else
            out[i - 1] = (char)v;
    }
    out[n / 2 - 1] = 0;
    return (*kind == 'k' || *kind == 'p') && strlen(out) == n / 2 - 1 ? 0 : -1;
}

static int local_list(void *d, const char *bucket, const char *prefix, const char *delimiter,
                      int limit, const char *token, store_listing *out, dlb_err *e)
{
    local_store *l = d;
    char after[STORE_KEY_MAX + 1] = "", kind = 0;
    if (token && parse_token(token, &kind, after, sizeof(after))) {
        dlb_err_set(e, 400, "invalid_continuation_token",
                    "continuation_token is not one this server issued");
        return -1;
    }
    if (bucket_missing(l, bucket, e)) return -1;
    keyvec keys = {0};
    char root[4200], kp[STORE_KEY_MAX + 4] = "";
    bucket_path(l, bucket, root, sizeof(root));
    if (walk(root, kp, 0, prefix, &keys)) {
        keyvec_free(&keys);
        errno_err(e, "list", bucket);
        return -1;
    }
    qsort(keys.keys, keys.n, sizeof(char *), cmp_keys);
    size_t plen = prefix ? strlen(prefix) : 0, alen = strlen(after);
    size_t dlen = delimiter ? strlen(delimiter) : 0;
    int count = 0, rc = 0;
    char last_prefix[STORE_KEY_MAX + 1] = "";
    const char *last = NULL;
    char last_kind = 0;
    for (size_t i = 0; i < keys.n && rc == 0; i++) {
        const char *k = keys.keys[i];
        if (kind == 'k' && strcmp(k, after) <= 0) continue;
        if (kind == 'p' && (strncmp(k, after, alen) == 0 || strcmp(k, after) <= 0)) continue;
        const char *cut = delimiter ? strstr(k + plen, delimiter) : NULL;
        if (cut) {
            size_t cl = (size_t)(cut - k) + dlen;
            if (strlen(last_prefix) == cl && strncmp(last_prefix, k, cl) == 0) continue;
            if (count == limit) {
                out->truncated = 1;
                break;
            }
            snprintf(last_prefix, sizeof(last_prefix), "%.*s", (int)cl, k);
            rc = store_listing_add_prefix(out, last_prefix);
            last = last_prefix;
            last_kind = 'p';
            count++;
            continue;
        }
        if (count == limit) {
            out->truncated = 1;
            break;
        }
        char mpath[4200];
        dlb_err gone = {0};
        int fd = open_object(l, bucket, k, mpath, sizeof(mpath), &gone);
        if (fd < 0) continue; /* deleted while listing */
        store_object o = {0};
        if (describe(fd, mpath, &o, &gone) == 0)
            rc = store_listing_add(out, k, o.size, o.etag, o.content_type, o.mtime_ms);
        close(fd);
        last = k;
        last_kind = 'k';
        count++;
    }
    if (rc == 0 && out->truncated && last) {
        out->next_token = make_token(last_kind, last);
        if (!out->next_token) rc = -1;
    }
    keyvec_free(&keys);
    if (rc) dlb_err_set(e, 500, "internal_error", "out of memory listing '%s'", bucket);
    return rc;
}

const store_driver store_local_driver = {
    .name = "local",
    .close = local_close,
    .bucket_create = local_bucket_create,
    .bucket_exists = local_bucket_exists,
    .bucket_delete = local_bucket_delete,
    .put_file = local_put,
    .writer_open = local_writer_open,
    .writer_write = local_writer_write,
    .writer_finish = local_writer_finish,
    .writer_abort = local_writer_abort,
    .head = local_head,
    .get = local_get,
    .del = local_delete,
    .list = local_list,
};
