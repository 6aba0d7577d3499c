/* The streaming JSON rows splitter that feeds appends. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/json_rows.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *in = fmemopen((void *)data, size, "r");
    if (!in) return 0;
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    char err[256];
    if (out) {
        (void)json_rows_to_ndjson(in, out, err, sizeof(err));
        fclose(out);
    }
    fclose(in);
    free(buf);
    return 0;
}
