/* Identifiers and type names from table definitions. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lake/lake.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = strndup((const char *)data, size);
    if (!s) return 0;
    char out[4096];
    dlb_err err;
    (void)lake_identifier_ok(s);
    (void)lake_type_check(s, out, sizeof(out), &err);
    free(s);
    return 0;
}
