/* Streams the elements of a top-level JSON array — or of the "rows" array of a top-level
 * object, the seed's {"rows": [...]} — into newline-delimited JSON, one element per line,
 * with constant memory. It only tracks strings and nesting; DuckDB parses the elements. */
#ifndef DLB_UTIL_JSON_ROWS_H
#define DLB_UTIL_JSON_ROWS_H

#include <stdint.h>
#include <stdio.h>

/* Reads in, writes out. Returns the number of elements, or -1 with a message in err (e.g.
 * "byte 17: expected an array of rows", "unterminated string"). */
int64_t json_rows_to_ndjson(FILE *in, FILE *out, char *err, size_t errlen);

#endif
