/* The local LRU cache of immutable files (cache.h). One mutex guards the table, the LRU list
 * and the counters; downloads run outside it (other keys are served meanwhile), waiters of
 * the same key sleep on the condition variable. Files are deleted under the mutex so that a
 * new download of the same key can never be removed by an eviction racing it. */
#include "lake/cache.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TMP_PREFIX ".tmp-"
#define HASH_HEX   32 /* first 16 bytes of SHA-256, in hex */
#define BASE_MAX   120

enum { LOADING, READY, FAILED };

struct lake_cache_entry {
    char *name, *path;
    uint64_t size;
    int pins;
    int state;
    int64_t mtime; /* adoption order only */
    dlb_err err;   /* FAILED: what the download said */
    lake_cache_entry *hnext;
    lake_cache_entry *prev, *next; /* LRU list (READY only): head most recent */
    int in_hash, in_lru;
};

struct lake_cache {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    char dir[4096];
    uint64_t max;
    lake_cache_fetch_fn fetch;
    void *ctx;
    lake_cache_entry **tab;
    size_t nbuckets, n;
    lake_cache_entry *head, *tail;
    lake_cache_stats st;
};

static atomic_uint g_tmp_seq;

/* ---- names ------------------------------------------------------------------------------ */

static uint64_t fnv(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

/* <hex>-<sanitised basename> into out. */
static int entry_name(const char *key, char *out, size_t outlen)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)key, strlen(key), md);
    static const char hex[] = "0123456789abcdef";
    if (outlen < HASH_HEX + 2 + BASE_MAX) return -1;
    size_t o = 0;
    for (int i = 0; i < HASH_HEX / 2; i++) {
        out[o++] = hex[md[i] >> 4];
        out[o++] = hex[md[i] & 15];
    }
    out[o++] = '-';
    const char *b = strrchr(key, '/');
    b = b ? b + 1 : key;
    for (size_t i = 0; i < BASE_MAX && b[i]; i++) {
        char ch = b[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '.' || ch == '_' || ch == '-';
        out[o++] = ok ? ch : '_';
    }
    out[o] = 0;
    return 0;
}

static int is_entry_name(const char *n)
{
    for (int i = 0; i < HASH_HEX; i++)
        if (!((n[i] >= '0' && n[i] <= '9') || (n[i] >= 'a' && n[i] <= 'f'))) return 0;
    return n[HASH_HEX] == '-';
}

int lake_cache_path(const lake_cache *c, const char *key, char *out, size_t outlen)
{
    char name[HASH_HEX + 2 + BASE_MAX];
    if (!key || entry_name(key, name, sizeof(name))) return -1;
    return snprintf(out, outlen, "%s/%s", c->dir, name) < (int)outlen ? 0 : -1;
}

/* ---- table and LRU list (lock held) ----------------------------------------------------- */

static lake_cache_entry *find(lake_cache *c, const char *name)
{
    for (lake_cache_entry *e = c->tab[fnv(name) % c->nbuckets]; e; e = e->hnext)
        if (strcmp(e->name, name) == 0) return e;
    return NULL;
}

static void grow(lake_cache *c)
{
    size_t nb = c->nbuckets * 2;
    lake_cache_entry **t = calloc(nb, sizeof(*t));
    if (!t) return; /* longer chains, still correct */
    for (size_t i = 0; i < c->nbuckets; i++)
        for (lake_cache_entry *e = c->tab[i], *nx; e; e = nx) {
            nx = e->hnext;
            size_t b = fnv(e->name) % nb;
            e->hnext = t[b];
            t[b] = e;
        }
    free(c->tab);
    c->tab = t;
    c->nbuckets = nb;
}

static void hash_add(lake_cache *c, lake_cache_entry *e)
{
    if (c->n + 1 > c->nbuckets) grow(c);
    size_t b = fnv(e->name) % c->nbuckets;
    e->hnext = c->tab[b];
    c->tab[b] = e;
    e->in_hash = 1;
    c->n++;
}

static void hash_del(lake_cache *c, lake_cache_entry *e)
{
    if (!e->in_hash) return;
    lake_cache_entry **p = &c->tab[fnv(e->name) % c->nbuckets];
    while (*p && *p != e)
        p = &(*p)->hnext;
    if (*p) *p = e->hnext;
    e->in_hash = 0;
    c->n--;
}

static void lru_del(lake_cache *c, lake_cache_entry *e)
{
    if (!e->in_lru) return;
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
    e->in_lru = 0;
}

static void lru_front(lake_cache *c, lake_cache_entry *e)
{
    lru_del(c, e);
    e->next = c->head;
    e->prev = NULL;
    if (c->head) c->head->prev = e;
    c->head = e;
    if (!c->tail) c->tail = e;
    e->in_lru = 1;
}

static void entry_free(lake_cache_entry *e)
{
    if (!e) return;
    free(e->name);
    free(e->path);
    free(e);
}

static lake_cache_entry *entry_new(const lake_cache *c, const char *name)
{
    lake_cache_entry *e = calloc(1, sizeof(*e));
    if (!e) return NULL;
    size_t n = strlen(c->dir) + strlen(name) + 2;
    e->name = strdup(name);
    e->path = malloc(n);
    if (!e->name || !e->path) {
        entry_free(e);
        return NULL;
    }
    snprintf(e->path, n, "%s/%s", c->dir, name);
    return e;
}

/* Least recently used unpinned files go until the cache fits its budget. */
static void evict(lake_cache *c)
{
    lake_cache_entry *e = c->tail;
    while (c->st.bytes > c->max && e) {
        lake_cache_entry *prev = e->prev;
        if (e->pins == 0 && e->state == READY) {
            unlink(e->path);
            lru_del(c, e);
            hash_del(c, e);
            c->st.bytes -= e->size;
            c->st.files--;
            c->st.evictions++;
            entry_free(e);
        }
        e = prev;
    }
}

/* ---- open / close ------------------------------------------------------------------------ */

static int mkdirs(const char *path)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp)) return -1;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0700) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(tmp, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

static int by_mtime(const void *a, const void *b)
{
    const lake_cache_entry *x = *(lake_cache_entry *const *)a, *y = *(lake_cache_entry *const *)b;
    return x->mtime < y->mtime ? -1 : x->mtime > y->mtime;
}

/* Files of an earlier run become entries, the oldest least recently used. */
static void adopt(lake_cache *c)
{
    DIR *d = opendir(c->dir);
    if (!d) return;
    lake_cache_entry **v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    /* readdir on a stream of our own is thread-safe in glibc; readdir_r is deprecated. */
    // cppcheck-suppress readdirCalled
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' && strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) != 0)
            continue;
        char path[8192];
        snprintf(path, sizeof(path), "%s/%s", c->dir, de->d_name);
        if (strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0) {
            unlink(path); /* an interrupted download */
            continue;
        }
        struct stat sb;
        if (!is_entry_name(de->d_name) || stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            lake_cache_entry **nv = realloc(v, nc * sizeof(*v));
            if (!nv) break;
            v = nv;
            cap = nc;
        }
        lake_cache_entry *e = entry_new(c, de->d_name);
        if (!e) break;
        e->size = (uint64_t)sb.st_size;
        e->mtime = (int64_t)sb.st_mtime;
        e->state = READY;
        v[n++] = e;
    }
    closedir(d);
    if (n) qsort(v, n, sizeof(*v), by_mtime);
    for (size_t i = 0; i < n; i++) {
        hash_add(c, v[i]);
        lru_front(c, v[i]);
        c->st.bytes += v[i]->size;
        c->st.files++;
    }
    free(v);
    evict(c);
}

lake_cache *lake_cache_open(const char *dir, uint64_t max_bytes, lake_cache_fetch_fn fetch,
                            void *ctx, dlb_err *e)
{
    lake_cache *c = calloc(1, sizeof(*c));
    if (!c || !dir || !fetch || strlen(dir) + HASH_HEX + BASE_MAX + 40 >= sizeof(c->dir)) {
        free(c);
        dlb_err_set(e, 500, "lake_cache", "cannot set up the lake cache in %s",
                    dir ? dir : "(none)");
        return NULL;
    }
    snprintf(c->dir, sizeof(c->dir), "%s", dir);
    size_t l = strlen(c->dir);
    while (l > 1 && c->dir[l - 1] == '/')
        c->dir[--l] = 0;
    if (mkdirs(c->dir) != 0) {
        dlb_err_set(e, 503, "lake_cache", "cannot create the lake cache directory %s: %s", c->dir,
                    strerror(errno));
        free(c);
        return NULL;
    }
    c->max = max_bytes;
    c->st.max_bytes = max_bytes;
    c->fetch = fetch;
    c->ctx = ctx;
    c->nbuckets = 256;
    c->tab = calloc(c->nbuckets, sizeof(*c->tab));
    if (!c->tab) {
        free(c);
        dlb_err_set(e, 500, "out_of_memory", "out of memory");
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    adopt(c);
    return c;
}

void lake_cache_close(lake_cache *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->nbuckets; i++)
        for (lake_cache_entry *e = c->tab[i], *nx; e; e = nx) {
            nx = e->hnext;
            entry_free(e);
        }
    free(c->tab);
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* ---- pin / unpin ------------------------------------------------------------------------- */

static void pin_one(lake_cache *c, lake_cache_entry *e)
{
    if (e->pins++ == 0) c->st.pinned++;
}

static void unpin_one(lake_cache *c, lake_cache_entry *e)
{
    if (--e->pins == 0) c->st.pinned--;
}

/* Downloads e (pinned, LOADING, in the table) without the lock; 0 or -1 (e->err set). */
static int download(lake_cache *c, lake_cache_entry *e, const char *key)
{
    char tmp[8192];
    snprintf(tmp, sizeof(tmp), "%s/%s%u-%ld-%.40s", c->dir, TMP_PREFIX,
             atomic_fetch_add(&g_tmp_seq, 1), (long)getpid(), e->name);
    uint64_t size = 0;
    dlb_err fe = {0};
    if (c->fetch(c->ctx, key, tmp, &size, &fe) != 0) {
        unlink(tmp);
        if (!fe.status) dlb_err_set(&fe, 503, "lake_cache_fetch", "cannot download %s", key);
        e->err = fe;
        return -1;
    }
    struct stat sb;
    if (stat(tmp, &sb) == 0) size = (uint64_t)sb.st_size;
    if (rename(tmp, e->path) != 0) {
        dlb_err_set(&e->err, 503, "lake_cache", "cannot place %s in the lake cache: %s", key,
                    strerror(errno));
        unlink(tmp);
        return -1;
    }
    e->size = size;
    return 0;
}

lake_cache_entry *lake_cache_pin(lake_cache *c, const char *key, dlb_err *err)
{
    char name[HASH_HEX + 2 + BASE_MAX];
    if (!key || entry_name(key, name, sizeof(name))) {
        dlb_err_set(err, 500, "lake_cache", "unusable cache key");
        return NULL;
    }
    pthread_mutex_lock(&c->lock);
    lake_cache_entry *e = find(c, name);
    if (e) {
        pin_one(c, e);
        while (e->state == LOADING)
            pthread_cond_wait(&c->cond, &c->lock);
        if (e->state == READY) {
            c->st.hits++;
            lru_front(c, e);
            pthread_mutex_unlock(&c->lock);
            return e;
        }
        /* The download this pin waited for failed: its error, for every waiter. */
        if (err) *err = e->err;
        unpin_one(c, e);
        if (e->pins == 0) entry_free(e);
        pthread_mutex_unlock(&c->lock);
        return NULL;
    }
    e = entry_new(c, name);
    if (!e) {
        pthread_mutex_unlock(&c->lock);
        dlb_err_set(err, 500, "out_of_memory", "out of memory");
        return NULL;
    }
    e->state = LOADING;
    pin_one(c, e);
    hash_add(c, e);
    c->st.misses++;
    pthread_mutex_unlock(&c->lock);

    int rc = download(c, e, key);

    pthread_mutex_lock(&c->lock);
    if (rc == 0) {
        e->state = READY;
        lru_front(c, e);
        c->st.bytes += e->size;
        c->st.files++;
        c->st.fetched_bytes += e->size;
        evict(c); /* e is pinned: others go */
    } else {
        e->state = FAILED;
        hash_del(c, e); /* the next pin tries again */
        c->st.fetch_errors++;
        if (err) *err = e->err;
        unpin_one(c, e);
    }
    pthread_cond_broadcast(&c->cond);
    if (rc != 0 && e->pins == 0) entry_free(e);
    pthread_mutex_unlock(&c->lock);
    return rc == 0 ? e : NULL;
}

const char *lake_cache_entry_path(const lake_cache_entry *en)
{
    return en ? en->path : NULL;
}

void lake_cache_unpin(lake_cache *c, lake_cache_entry *en)
{
    if (!c || !en) return;
    pthread_mutex_lock(&c->lock);
    unpin_one(c, en);
    if (en->pins == 0) evict(c);
    pthread_mutex_unlock(&c->lock);
}

void lake_cache_get_stats(lake_cache *c, lake_cache_stats *out)
{
    pthread_mutex_lock(&c->lock);
    *out = c->st;
    pthread_mutex_unlock(&c->lock);
}
