/* API keys: creation, listing, revocation, and the in-memory copy the HTTP threads check. */
#include "auth.h"
#include "auth_internal.h"

#include "config.h"
#include "meta/meta.h"
#include "util/clock.h"
#include "util/ids.h"
#include "util/log.h"
#include "util/siphash.h"

#include <jansson.h>
#include <pthread.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *role_names[] = {"public", "reader", "writer", "admin"};

int auth_role_parse(const char *s)
{
    for (int i = 0; s && i < 4; i++)
        if (strcasecmp(s, role_names[i]) == 0) return i;
    return -1;
}

const char *auth_role_name(auth_role r)
{
    return r <= ROLE_ADMIN ? role_names[r] : "unknown";
}

static void hex(const unsigned char *in, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[in[i] >> 4];
        out[2 * i + 1] = d[in[i] & 15];
    }
    out[2 * n] = 0;
}

/* SHA-256 of "salt:secret". Secrets are 192 random bits, so a fast hash is enough: there is
 * nothing to brute-force that a slow one would protect. */
static EVP_MD *g_sha256;
static pthread_once_t g_sha256_once = PTHREAD_ONCE_INIT;
static pthread_key_t g_ctx_key; /* one digest context per thread, freed with the thread */

static void free_ctx(void *ctx)
{
    EVP_MD_CTX_free(ctx);
}

/* OpenSSL 3 looks an algorithm up on every EVP_sha256() use; fetch it once instead. */
static void fetch_sha256(void)
{
    g_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    pthread_key_create(&g_ctx_key, free_ctx);
}

static void digest(const char *salt, const char *secret, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char buf[256];
    int n = snprintf(buf, sizeof(buf), "%s:%s", salt, secret);
    pthread_once(&g_sha256_once, fetch_sha256);
    EVP_MD_CTX *t_ctx = pthread_getspecific(g_ctx_key);
    if (!t_ctx && (t_ctx = EVP_MD_CTX_new()) != NULL) pthread_setspecific(g_ctx_key, t_ctx);
    if (n < 0 || (size_t)n >= sizeof(buf) || !g_sha256 || !t_ctx ||
        !EVP_DigestInit_ex(t_ctx, g_sha256, NULL) || !EVP_DigestUpdate(t_ctx, buf, (size_t)n) ||
        !EVP_DigestFinal_ex(t_ctx, md, &mdlen) || mdlen != 32) {
        memset(out, 'x', 64); /* never equal to a stored hex digest */
        out[64] = 0;
        return;
    }
    hex(md, 32, out);
}

static void cache_free(key_entry *k, int n)
{
    free(k);
    (void)n;
}

/* Replaces the in-memory copy with the table's current rows. */
int auth_reload(auth_t *a)
{
    meta_conn *c = meta_acquire(a->meta);
    if (!c) return -1;
    int rc;
    meta_result *r =
        meta_query(c, "SELECT key_id, name, role, salt, hash, revoked_at FROM dlb_api_keys", NULL,
                   0, &rc, NULL, 0);
    meta_release(a->meta, c);
    if (!r) return -1;
    int n = meta_result_rows(r);
    key_entry *k = calloc((size_t)n + 1, sizeof(key_entry));
    if (!k) {
        meta_result_free(r);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        snprintf(k[i].key_id, sizeof(k[i].key_id), "%s", meta_result_get(r, i, 0));
        snprintf(k[i].name, sizeof(k[i].name), "%s", meta_result_get(r, i, 1));
        int role = auth_role_parse(meta_result_get(r, i, 2));
        k[i].role = role > 0 ? (auth_role)role : ROLE_NONE;
        snprintf(k[i].salt, sizeof(k[i].salt), "%s", meta_result_get(r, i, 3));
        snprintf(k[i].hash, sizeof(k[i].hash), "%s", meta_result_get(r, i, 4));
        k[i].revoked = !meta_result_isnull(r, i, 5);
    }
    meta_result_free(r);
    pthread_rwlock_wrlock(&a->keys_lock);
    key_entry *old = a->keys;
    int oldn = a->nkeys;
    a->keys = k;
    a->nkeys = n;
    atomic_fetch_add(&a->keys_gen, 1);
    pthread_rwlock_unlock(&a->keys_lock);
    cache_free(old, oldn);
    return 0;
}

/* Verified keys, per thread. A client sends the same key with every request; proving it with
 * SHA-256 each time cost about as much as the rest of the check (measured: libcrypto was 3.5 %
 * of the server's CPU on a GET). A key that passed is remembered as its key id and a keyed hash
 * of the whole key (SipHash-2-4 under a random per-process key: the secret itself is not kept,
 * and without the process key a forged match is a 2^-64 guess per request) together with the
 * key list's generation: any reload (a revocation, a new key, the periodic refresh) expires
 * every entry at once. */
#define VCACHE_SLOTS 4

typedef struct {
    const auth_t *a;
    uint64_t gen, h;
    auth_principal who;
} vcache_entry;

static _Thread_local vcache_entry t_vcache[VCACHE_SLOTS];
static _Thread_local unsigned t_vcache_next;
static uint8_t g_vkey[16];
static int g_vkey_ok;
static pthread_once_t g_vkey_once = PTHREAD_ONCE_INIT;

static void make_vkey(void)
{
    g_vkey_ok = ids_random(g_vkey, sizeof(g_vkey)) == 0;
}

static int vhash(const char *presented, uint64_t *h)
{
    pthread_once(&g_vkey_once, make_vkey);
    if (!g_vkey_ok) return -1;
    *h = siphash24(g_vkey, presented, strlen(presented));
    return 0;
}

static const vcache_entry *vcache_find(const auth_t *a, uint64_t gen, uint64_t h,
                                       const char *key_id, size_t idlen)
{
    for (int i = 0; i < VCACHE_SLOTS; i++) {
        const vcache_entry *e = &t_vcache[i];
        if (e->a == a && e->gen == gen && CRYPTO_memcmp(&e->h, &h, sizeof(h)) == 0 &&
            strncmp(e->who.key_id, key_id, idlen) == 0 && e->who.key_id[idlen] == 0)
            return e;
    }
    return NULL;
}

static void vcache_put(const auth_t *a, uint64_t gen, uint64_t h, const auth_principal *who)
{
    vcache_entry *e = &t_vcache[t_vcache_next++ % VCACHE_SLOTS];
    e->a = a;
    e->gen = gen;
    e->h = h;
    e->who = *who;
}

int auth_check(auth_t *a, const char *presented, auth_principal *out)
{
    memset(out, 0, sizeof(*out));
    if (!presented || strncmp(presented, "dlb_", 4) != 0) return -1;
    const char *id = presented + 4, *sep = strchr(id, '_');
    if (!sep || sep == id || (size_t)(sep - id) >= sizeof(out->key_id) || !sep[1]) return -1;
    /* Read before the list: a reload between the two only makes a fresh entry look stale. */
    uint64_t gen = atomic_load(&a->keys_gen), h = 0;
    int hashed = vhash(presented, &h) == 0;
    const vcache_entry *hit = hashed ? vcache_find(a, gen, h, id, (size_t)(sep - id)) : NULL;
    if (hit) {
        *out = hit->who;
        return 0;
    }
    char key_id[24];
    snprintf(key_id, sizeof(key_id), "%.*s", (int)(sep - id), id);
    int ok = -1;
    pthread_rwlock_rdlock(&a->keys_lock);
    for (int i = 0; i < a->nkeys; i++) {
        key_entry *k = &a->keys[i];
        if (strcmp(k->key_id, key_id) != 0) continue;
        char hd[65];
        digest(k->salt, sep + 1, hd);
        if (CRYPTO_memcmp(hd, k->hash, 64) == 0 && !k->revoked && k->role > ROLE_NONE) {
            out->role = k->role;
            snprintf(out->key_id, sizeof(out->key_id), "%s", k->key_id);
            snprintf(out->name, sizeof(out->name), "%s", k->name);
            ok = 0;
        }
        break;
    }
    pthread_rwlock_unlock(&a->keys_lock);
    if (ok == 0 && hashed) vcache_put(a, gen, h, out);
    return ok;
}

static int valid_name(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 63) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7f || ch == '"' || ch == '\\') return 0;
    }
    return 1;
}

int auth_key_create(auth_t *a, const char *name, const char *role, char *key_out, size_t keylen,
                    char *id_out, size_t idlen, dlb_err *err)
{
    int r = auth_role_parse(role);
    if (r <= ROLE_NONE) {
        dlb_err_set(err, 422, "invalid_role", "role must be reader, writer or admin");
        return -1;
    }
    if (!valid_name(name)) {
        dlb_err_set(err, 422, "invalid_name",
                    "a key name is 1 to 63 printable characters without quotes or backslashes");
        return -1;
    }
    unsigned char idb[6], secretb[24], saltb[16];
    char id[13], secret[49], salt[33], hash[65];
    if (ids_random(idb, sizeof(idb)) || ids_random(secretb, sizeof(secretb)) ||
        ids_random(saltb, sizeof(saltb))) {
        dlb_err_set(err, 500, "internal_error", "no randomness available");
        return -1;
    }
    hex(idb, sizeof(idb), id);
    hex(secretb, sizeof(secretb), secret);
    hex(saltb, sizeof(saltb), salt);
    digest(salt, secret, hash);
    meta_conn *c = meta_acquire(a->meta);
    if (!c) {
        dlb_err_set(err, 503, "database_unavailable", "the metadata database is not available");
        return -1;
    }
    meta_val p[] = {MVTEXT(id),   MVTEXT(name), MVTEXT(auth_role_name((auth_role)r)),
                    MVTEXT(salt), MVTEXT(hash), MVINT((int64_t)(clock_wall() * 1e6))};
    int64_t rc = meta_exec(c,
                           "INSERT INTO dlb_api_keys (key_id, name, role, salt, hash, created_at) "
                           "VALUES (?, ?, ?, ?, ?, ?)",
                           p, 6, NULL, 0);
    meta_release(a->meta, c);
    if (rc < 0) {
        dlb_err_set(err, 503, "database_unavailable", "cannot store the key");
        return -1;
    }
    snprintf(key_out, keylen, "dlb_%s_%s", id, secret);
    snprintf(id_out, idlen, "%s", id);
    auth_reload(a);
    log_info("api key created", "key_id", id, "role", auth_role_name((auth_role)r));
    return 0;
}

json_t *auth_keys_json(auth_t *a, dlb_err *err)
{
    meta_conn *c = meta_acquire(a->meta);
    if (!c) {
        dlb_err_set(err, 503, "database_unavailable", "the metadata database is not available");
        return NULL;
    }
    int rc;
    meta_result *r = meta_query(
        c,
        "SELECT key_id, name, role, created_at, revoked_at FROM dlb_api_keys ORDER BY created_at",
        NULL, 0, &rc, NULL, 0);
    meta_release(a->meta, c);
    if (!r) {
        dlb_err_set(err, 503, "database_unavailable", "cannot list the keys");
        return NULL;
    }
    json_t *arr = json_array();
    for (int i = 0; i < meta_result_rows(r); i++) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:f}", "key_id", meta_result_get(r, i, 0), "name",
                              meta_result_get(r, i, 1), "role", meta_result_get(r, i, 2),
                              "created_at", (double)meta_result_int(r, i, 3) / 1e6);
        if (!o) continue;
        json_object_set_new(o, "revoked_at",
                            meta_result_isnull(r, i, 4)
                                ? json_null()
                                : json_real((double)meta_result_int(r, i, 4) / 1e6));
        json_array_append_new(arr, o);
    }
    meta_result_free(r);
    return arr;
}

int auth_key_revoke(auth_t *a, const char *key_id, dlb_err *err)
{
    meta_conn *c = meta_acquire(a->meta);
    if (!c) {
        dlb_err_set(err, 503, "database_unavailable", "the metadata database is not available");
        return -1;
    }
    meta_val p[] = {MVINT((int64_t)(clock_wall() * 1e6)), MVTEXT(key_id)};
    int64_t n = meta_exec(c,
                          "UPDATE dlb_api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at "
                          "IS NULL",
                          p, 2, NULL, 0);
    meta_release(a->meta, c);
    if (n < 0) {
        dlb_err_set(err, 503, "database_unavailable", "cannot revoke the key");
        return -1;
    }
    if (n == 0) {
        dlb_err_set(err, 404, "key_not_found", "no active key with id '%.40s'", key_id);
        return -1;
    }
    auth_reload(a); /* this replica stops accepting it now; others within a second */
    log_info("api key revoked", "key_id", key_id);
    return 0;
}
