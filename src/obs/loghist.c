#include "loghist.h"

#include <math.h>

#define SUB (1 << LOGHIST_SUB_BITS)

int loghist_index(uint64_t ns)
{
    if (ns < (1ULL << LOGHIST_MIN_BIT)) return 0;
    if (ns >= (1ULL << LOGHIST_MAX_BIT)) return LOGHIST_N - 1;
    int msb = 63 - __builtin_clzll(ns);
    int sub = (int)((ns >> (msb - LOGHIST_SUB_BITS)) & (SUB - 1));
    return 1 + (msb - LOGHIST_MIN_BIT) * SUB + sub;
}

uint64_t loghist_lower(int i)
{
    if (i <= 0) return 0;
    if (i >= LOGHIST_N - 1) return 1ULL << LOGHIST_MAX_BIT;
    int msb = LOGHIST_MIN_BIT + (i - 1) / SUB, sub = (i - 1) % SUB;
    return (1ULL << msb) + ((uint64_t)sub << (msb - LOGHIST_SUB_BITS));
}

uint64_t loghist_upper(int i)
{
    if (i >= LOGHIST_N - 1) return 1ULL << (LOGHIST_MAX_BIT + 1);
    return loghist_lower(i + 1);
}

double loghist_quantile(const uint32_t *counts, double q)
{
    uint64_t total = 0;
    for (int i = 0; i < LOGHIST_N; i++)
        total += counts[i];
    if (!total) return 0;
    uint64_t rank = (uint64_t)ceil(q * (double)total);
    if (rank < 1) rank = 1;
    uint64_t seen = 0;
    for (int i = 0; i < LOGHIST_N; i++) {
        seen += counts[i];
        if (seen >= rank) return ((double)loghist_lower(i) + (double)loghist_upper(i)) / 2.0;
    }
    return (double)loghist_lower(LOGHIST_N - 1);
}
