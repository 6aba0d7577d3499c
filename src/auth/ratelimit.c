/* Token buckets in a fixed open-addressing table: memory is bounded whatever the number of
 * clients; when a probe run is full the stalest bucket is reused (a client idle long enough
 * has a full bucket anyway). */
#include "auth.h"
#include "auth_internal.h"

#include "util/clock.h"
#include "util/fnv.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define PROBE 16

int auth_rate_allow(auth_t *a, const char *bucket_key, int *retry_after)
{
    *retry_after = 0;
    if (!a || !a->rate_on) return 1;
    uint64_t h = fnv1a64(bucket_key);
    /* Each shard owns a contiguous range of slots, so a probe never crosses shards. */
    size_t per = RATE_SLOTS / RATE_SHARDS, shard = h % RATE_SHARDS;
    size_t base = shard * per, start = (h / RATE_SHARDS) % per;
    double now = (double)clock_mono_ns() / 1e9;
    pthread_mutex_lock(&a->shard[shard]);
    bucket *b = NULL, *stalest = NULL;
    for (size_t i = 0; i < PROBE; i++) {
        bucket *s = &a->slots[base + (start + i) % per];
        if (s->key[0] && strcmp(s->key, bucket_key) == 0) {
            b = s;
            break;
        }
        if (!s->key[0]) {
            if (!stalest || stalest->key[0]) stalest = s;
        } else if (!stalest || (stalest->key[0] && s->last < stalest->last)) {
            stalest = s;
        }
    }
    if (!b) {
        b = stalest;
        snprintf(b->key, sizeof(b->key), "%s", bucket_key);
        b->tokens = a->burst;
        b->last = now;
    }
    b->tokens = fmin(a->burst, b->tokens + (now - b->last) * a->rate_per_s);
    b->last = now;
    int ok = b->tokens >= 1.0;
    if (ok)
        b->tokens -= 1.0;
    else
        *retry_after = (int)ceil((1.0 - b->tokens) / a->rate_per_s);
    pthread_mutex_unlock(&a->shard[shard]);
    if (!ok && *retry_after < 1) *retry_after = 1;
    return ok;
}
