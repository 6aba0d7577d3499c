/* FNV-1a, 64 bits: a fast, non-keyed hash for names and table slots (not for anything an
 * attacker may choose to collide: util/siphash.h is for that). */
#ifndef DLB_UTIL_FNV_H
#define DLB_UTIL_FNV_H

#include <stdint.h>

static inline uint64_t fnv1a64(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

#endif
