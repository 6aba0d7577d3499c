/* libFuzzer target for the Arrow IPC reader (src/engine/arrow/ipc_read.c): the input is read
 * as a stream or file, the schema walked and every batch drained through the
 * ArrowArrayStream, and each array is then read the way a consumer (DuckDB) reads it, every
 * byte its length, offsets and type promise: AddressSanitizer reports any promise the reader
 * made without backing memory. No DuckDB involved. */
#include "engine/arrow/ipc_read.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static volatile uint8_t sink;

static void touch(const void *p, int64_t n)
{
    const uint8_t *b = p;
    uint8_t x = 0;
    for (int64_t i = 0; i < n; i++)
        x ^= b[i];
    sink ^= x;
}

static int fixed_width(const char *f)
{
    if (!f[1]) {
        switch (f[0]) {
        case 'c':
        case 'C':
            return 1;
        case 's':
        case 'S':
        case 'e':
            return 2;
        case 'i':
        case 'I':
        case 'f':
            return 4;
        case 'l':
        case 'L':
        case 'g':
            return 8;
        default:
            return 0;
        }
    }
    if (f[0] == 'd' && f[1] == ':') return 16;
    if (f[0] == 'w' && f[1] == ':') return atoi(f + 2);
    if (!strcmp(f, "tdD") || !strcmp(f, "tts") || !strcmp(f, "ttm") || !strcmp(f, "tiM")) return 4;
    if (!strcmp(f, "tdm") || !strcmp(f, "ttu") || !strcmp(f, "ttn") || !strcmp(f, "tiD")) return 8;
    if (!strcmp(f, "tin")) return 16;
    if (f[0] == 't' && (f[1] == 's' || f[1] == 'D')) return 8;
    return 0;
}

static void walk(const struct ArrowSchema *s, const struct ArrowArray *a)
{
    int64_t n = a->length;
    const char *f = s->format;
    if (a->null_count && a->buffers[0]) touch(a->buffers[0], (n + 7) / 8);
    if (s->dictionary) {
        touch(a->buffers[1], n * fixed_width(f));
        walk(s->dictionary, a->dictionary);
        return;
    }
    int w = fixed_width(f);
    if (w) {
        touch(a->buffers[1], n * w);
    } else if (!strcmp(f, "b")) {
        touch(a->buffers[1], (n + 7) / 8);
    } else if (!strcmp(f, "u") || !strcmp(f, "z")) {
        const int32_t *o = a->buffers[1];
        touch(o, (n + 1) * 4);
        touch((const uint8_t *)a->buffers[2] + o[0], o[n] - o[0]);
    } else if (!strcmp(f, "U") || !strcmp(f, "Z")) {
        const int64_t *o = a->buffers[1];
        touch(o, (n + 1) * 8);
        touch((const uint8_t *)a->buffers[2] + o[0], o[n] - o[0]);
    } else if (!strcmp(f, "+l") || !strcmp(f, "+m") || !strcmp(f, "+L")) {
        touch(a->buffers[1], (n + 1) * (f[1] == 'L' ? 8 : 4));
        walk(s->children[0], a->children[0]);
    } else if (f[0] == '+') {
        for (int64_t i = 0; i < s->n_children; i++)
            walk(s->children[i], a->children[i]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a private copy: the reader may keep pointers into it until the arrays are released */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    memcpy(copy, data, size);
    dlb_err e = {0};
    ipc_reader *r = ipc_reader_open_mem(copy, size, &e);
    if (r) {
        struct ArrowArrayStream st;
        ipc_reader_stream(r, &st);
        struct ArrowSchema schema;
        if (st.get_schema(&st, &schema) == 0) {
            for (int k = 0; k < 2; k++) { /* twice: rewinding must work */
                for (int batches = 0; batches < 10000; batches++) {
                    struct ArrowArray a;
                    if (st.get_next(&st, &a)) {
                        (void)st.get_last_error(&st);
                        break;
                    }
                    if (!a.release) break;
                    walk(&schema, &a);
                    a.release(&a);
                }
                ipc_reader_rewind(r);
            }
            schema.release(&schema);
        }
        st.release(&st);
        ipc_reader_close(r);
    }
    free(copy);
    return 0;
}
