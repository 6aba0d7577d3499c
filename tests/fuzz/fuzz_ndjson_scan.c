/* The NDJSON pre-scan (src/engine/ndjson_scan.c) over untrusted append bodies. Large bodies are
 * scanned in two halves on two threads, and the answer must be the single pass's whatever the
 * bytes: here every input is scanned both ways (split at its middle newline, and whole) and the
 * two results must agree field by field. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ndjson_scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"id", "name", "v", "a b", ""};
    const unsigned char *p = data, *end = data + size;
    ndjson_scan one, two;
    ndjson_scan_split(p, end, names, 5, (size_t)-1, &one);
    ndjson_scan_split(p, end, names, 5, 0, &two);
    if (one.rows != two.rows || one.longest != two.longest || one.bad_row != two.bad_row ||
        one.bad_key != two.bad_key || one.bad_len != two.bad_len || one.escaped != two.escaped ||
        one.clean != two.clean) {
        fprintf(stderr,
                "split and single scans disagree: rows %lld/%lld longest %lld/%lld bad_row "
                "%lld/%lld escaped %d/%d clean %d/%d\n",
                one.rows, two.rows, one.longest, two.longest, one.bad_row, two.bad_row, one.escaped,
                two.escaped, one.clean, two.clean);
        abort();
    }
    if (one.bad_row && (one.bad_key < p || one.bad_key + one.bad_len > end)) abort();
    return 0;
}
