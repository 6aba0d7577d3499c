/* Bytes held per subsystem, as the subsystems themselves report them: each adds what it
 * allocates for long-lived state and subtracts what it frees, e.g.
 *     obs_mem_add("sse", +(int64_t)queue_bytes);
 * Always available (a relaxed atomic add after a short name lookup); hot paths may keep the
 * slot: obs_mem_slot *s = obs_mem_slot_get("sse"); obs_mem_slot_add(s, n).
 * Shown by GET /metrics/memory ("components") and /metrics (dlb_subsystem_memory_bytes). */
#ifndef DLB_OBS_MEM_ACCOUNT_H
#define DLB_OBS_MEM_ACCOUNT_H

#include <stdint.h>

struct json_t;
typedef struct obs_mem_slot obs_mem_slot;

#define OBS_MEM_MAX_SUBSYSTEMS 32

void obs_mem_add(const char *subsystem, int64_t delta);
/* NULL once OBS_MEM_MAX_SUBSYSTEMS names exist (then obs_mem_add counts under "other"). */
obs_mem_slot *obs_mem_slot_get(const char *subsystem);
void obs_mem_slot_add(obs_mem_slot *s, int64_t delta);

/* Calls fn for every subsystem with its current bytes. */
void obs_mem_each(void (*fn)(void *ctx, const char *name, int64_t bytes), void *ctx);
/* {"name": bytes, ...} */
struct json_t *obs_mem_json(void);

#endif
