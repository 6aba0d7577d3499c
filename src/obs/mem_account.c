#include "mem_account.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

struct obs_mem_slot {
    char name[32];
    atomic_int_fast64_t bytes;
};

static obs_mem_slot g_slots[OBS_MEM_MAX_SUBSYSTEMS];
/* Slots are filled in order and never removed: readers scan [0, g_n) without a lock. */
static atomic_int g_n;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static obs_mem_slot *find(const char *name, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(g_slots[i].name, name) == 0) return &g_slots[i];
    return NULL;
}

obs_mem_slot *obs_mem_slot_get(const char *subsystem)
{
    obs_mem_slot *s = find(subsystem, atomic_load(&g_n));
    if (s) return s;
    pthread_mutex_lock(&g_lock);
    int n = atomic_load(&g_n);
    s = find(subsystem, n);
    /* The last slot is kept for "other", where names beyond the limit are counted. */
    if (!s && (n < OBS_MEM_MAX_SUBSYSTEMS - 1 ||
               (n < OBS_MEM_MAX_SUBSYSTEMS && strcmp(subsystem, "other") == 0))) {
        s = &g_slots[n];
        snprintf(s->name, sizeof(s->name), "%s", subsystem);
        atomic_store(&s->bytes, 0);
        atomic_store(&g_n, n + 1); /* publishes the name */
    }
    pthread_mutex_unlock(&g_lock);
    return s;
}

void obs_mem_slot_add(obs_mem_slot *s, int64_t delta)
{
    if (s) atomic_fetch_add_explicit(&s->bytes, delta, memory_order_relaxed);
}

void obs_mem_add(const char *subsystem, int64_t delta)
{
    obs_mem_slot *s = obs_mem_slot_get(subsystem);
    if (!s) s = obs_mem_slot_get("other");
    obs_mem_slot_add(s, delta);
}

void obs_mem_each(void (*fn)(void *ctx, const char *name, int64_t bytes), void *ctx)
{
    int n = atomic_load(&g_n);
    for (int i = 0; i < n; i++)
        fn(ctx, g_slots[i].name, atomic_load_explicit(&g_slots[i].bytes, memory_order_relaxed));
}

static void add_json(void *ctx, const char *name, int64_t bytes)
{
    json_object_set_new(ctx, name, json_integer((json_int_t)bytes));
}

json_t *obs_mem_json(void)
{
    json_t *o = json_object();
    obs_mem_each(add_json, o);
    return o;
}
