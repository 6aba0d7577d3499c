/* The NDJSON pre-scan: one pass in C over an appended body, before DuckDB reads it. */
#ifndef DLB_ENGINE_NDJSON_SCAN_H
#define DLB_ENGINE_NDJSON_SCAN_H

#include <stddef.h>

typedef struct {
    long long rows;               /* top-level values seen */
    long long longest;            /* longest line, bytes */
    long long bad_row;            /* 1-based row of the first unknown top-level key; 0: none */
    const unsigned char *bad_key; /* inside the scanned bytes */
    size_t bad_len;
    int escaped; /* a top-level key with a backslash escape was seen (not checked here) */
    int clean;   /* ended outside any value and string: a following range may be scanned alone */
} ndjson_scan;

/* Scans [p, end): rows, the longest line and every top-level key of an object row checked
 * against names (the first unknown one stops the scan). Large inputs are split at a newline
 * and scanned on two threads; the result is the one a single pass gives. */
void ndjson_scan_run(const unsigned char *p, const unsigned char *end, const char *const *names,
                     int ncols, ndjson_scan *out);
/* The same with the size from which the input is split (the fuzz target splits everything). */
void ndjson_scan_split(const unsigned char *p, const unsigned char *end, const char *const *names,
                       int ncols, size_t split_min, ndjson_scan *out);

#endif
