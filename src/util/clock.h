#ifndef DLB_UTIL_CLOCK_H
#define DLB_UTIL_CLOCK_H

#include <stdint.h>

/* Monotonic nanoseconds, for durations. */
uint64_t clock_mono_ns(void);
/* Wall-clock seconds since the epoch with sub-second precision. */
double clock_wall(void);

#endif
