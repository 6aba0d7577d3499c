/* Prepared-statement cache (see stmt_cache.h). A linear scan over at most STMT_CACHE_CAP
 * hashes is cheaper than the hashing of the SQL text it needs anyway. */
#include "stmt_cache.h"

#include <stdlib.h>
#include <string.h>

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* The key "sql\0sig" hashed as one byte string. */
static uint64_t key_hash(const char *sql, size_t sl, const char *sig, size_t gl)
{
    uint64_t h = fnv1a(sql, sl + 1);
    return h ^ (fnv1a(sig, gl) * 31);
}

void stmt_cache_init(stmt_cache *sc, stmt_free_fn fn, void *ctx)
{
    memset(sc, 0, sizeof(*sc));
    sc->free_fn = fn;
    sc->ctx = ctx;
}

static void entry_free(stmt_cache *sc, stmt_entry *e)
{
    if (e->stmt && sc->free_fn) sc->free_fn(sc->ctx, e->stmt);
    free(e->key);
    memset(e, 0, sizeof(*e));
}

void stmt_cache_clear(stmt_cache *sc)
{
    for (int i = 0; i < sc->n; i++)
        entry_free(sc, &sc->e[i]);
    sc->n = 0;
}

void *stmt_cache_get(stmt_cache *sc, const char *sql, const char *sig)
{
    size_t sl = strlen(sql), gl = strlen(sig);
    uint64_t h = key_hash(sql, sl, sig, gl);
    for (int i = 0; i < sc->n; i++) {
        stmt_entry *e = &sc->e[i];
        if (e->hash == h && e->klen == sl + 1 + gl && !memcmp(e->key, sql, sl + 1) &&
            !memcmp(e->key + sl + 1, sig, gl)) {
            e->used = ++sc->tick;
            sc->hits++;
            return e->stmt;
        }
    }
    sc->misses++;
    return NULL;
}

int stmt_cache_put(stmt_cache *sc, const char *sql, const char *sig, void *stmt)
{
    size_t sl = strlen(sql), gl = strlen(sig);
    char *key = malloc(sl + 1 + gl + 1);
    if (!key) return -1;
    memcpy(key, sql, sl + 1);
    memcpy(key + sl + 1, sig, gl + 1);
    stmt_entry *slot;
    if (sc->n < STMT_CACHE_CAP) {
        slot = &sc->e[sc->n++];
    } else {
        slot = &sc->e[0];
        for (int i = 1; i < sc->n; i++)
            if (sc->e[i].used < slot->used) slot = &sc->e[i];
        entry_free(sc, slot);
    }
    *slot = (stmt_entry){.key = key,
                         .klen = sl + 1 + gl,
                         .hash = key_hash(sql, sl, sig, gl),
                         .used = ++sc->tick,
                         .stmt = stmt};
    return 0;
}

void stmt_cache_drop(stmt_cache *sc, void *stmt)
{
    for (int i = 0; i < sc->n; i++) {
        if (sc->e[i].stmt != stmt) continue;
        entry_free(sc, &sc->e[i]);
        sc->e[i] = sc->e[--sc->n];
        if (i != sc->n) memset(&sc->e[sc->n], 0, sizeof(sc->e[sc->n]));
        return;
    }
}
