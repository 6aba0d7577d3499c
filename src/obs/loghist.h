/* Log-bucket latency histogram (HDR-like): four buckets per power of two of nanoseconds from
 * 1 us to about 18 minutes, so a percentile read from it is within 12.5% of the true value.
 * Counts are plain uint32 arrays owned by the caller (the performance ring holds one per
 * slot); these functions only map values to buckets and back. */
#ifndef DLB_OBS_LOGHIST_H
#define DLB_OBS_LOGHIST_H

#include <stdint.h>

#define LOGHIST_SUB_BITS 2
#define LOGHIST_MIN_BIT  10 /* values below 2^10 ns (~1 us) share bucket 0 */
#define LOGHIST_MAX_BIT  40 /* values at or above 2^40 ns (~18 min) share the last bucket */
#define LOGHIST_N        ((LOGHIST_MAX_BIT - LOGHIST_MIN_BIT) * (1 << LOGHIST_SUB_BITS) + 2)

/* Bucket of a duration in nanoseconds. */
int loghist_index(uint64_t ns);
/* Smallest and largest value (ns) that fall into bucket i (upper is exclusive). */
uint64_t loghist_lower(int i);
uint64_t loghist_upper(int i);
/* The q-quantile (0 < q <= 1) of counts[LOGHIST_N], in ns: the midpoint of the bucket holding
 * the ceil(q * total)-th value. 0 when counts are all zero. */
double loghist_quantile(const uint32_t *counts, double q);

#endif
