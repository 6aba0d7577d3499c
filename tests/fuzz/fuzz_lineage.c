/* OpenLineage events as a collector receives them: JSON text, then the event checks. */
#include <jansson.h>
#include <stdint.h>

#include "lineage/validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t e;
    json_t *ev = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &e);
    if (!ev) return 0;
    ol_check chk;
    (void)ol_validate(ev, &chk);
    char first[512];
    ol_check_first(&chk, 0, first, sizeof(first));
    ol_check_free(&chk);
    json_decref(ev);
    return 0;
}
