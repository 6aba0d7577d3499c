/* multipart/form-data extraction: the first line is the Content-Type header value, the rest
 * is the body (as spooled to a file by the HTTP core). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/multipart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    if (!nl) return 0;
    size_t hl = (size_t)(nl - data);
    char *ctype = strndup((const char *)data, hl);
    char in[] = "/tmp/dlb-fuzz-mp-XXXXXX", out[] = "/tmp/dlb-fuzz-mpo-XXXXXX";
    int fd = mkstemp(in), fo = mkstemp(out);
    if (fd >= 0 && fo >= 0 && ctype) {
        size_t n = size - hl - 1;
        if (write(fd, nl + 1, n) == (ssize_t)n) {
            multipart_part part;
            char err[256];
            (void)multipart_extract(in, ctype, "file", out, &part, err, sizeof(err));
        }
    }
    if (fd >= 0) close(fd), unlink(in);
    if (fo >= 0) close(fo), unlink(out);
    free(ctype);
    return 0;
}
