/* Shared by the files of auth/ only. */
#ifndef DLB_AUTH_INTERNAL_H
#define DLB_AUTH_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "auth.h"

typedef struct {
    char key_id[24];
    char name[64];
    auth_role role;
    char salt[40];
    char hash[72];
    int revoked;
} key_entry;

typedef struct {
    char key[72];
    double tokens;
    double last; /* monotonic seconds of the last refill */
} bucket;

#define RATE_SLOTS  8192
#define RATE_SHARDS 16

struct auth {
    const struct config *cfg;
    struct meta *meta;
    int enabled;
    pthread_rwlock_t keys_lock;
    key_entry *keys;
    int nkeys;
    atomic_uint_fast64_t keys_gen; /* bumped by every reload: verified-key caches expire */
    struct periodic *refresher;    /* NULL when authentication is off */
    /* rate limiting */
    int rate_on;
    double rate_per_s, burst;
    bucket *slots;
    pthread_mutex_t shard[RATE_SHARDS];
    /* audit */
    int audit_on;
    int audit_fd; /* -1: log lines on stdout */
};

int auth_reload(auth_t *a);

#endif
