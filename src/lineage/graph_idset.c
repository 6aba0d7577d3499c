/* The id sets of the lineage graph (graph_internal.h): open addressing, linear probing. */
#include "graph_internal.h"

#include <stdlib.h>
#include <string.h>

int idset_init(idset *s)
{
    memset(s, 0, sizeof(*s));
    s->cap = 1024;
    s->slots = calloc(s->cap, sizeof(*s->slots));
    s->slot_idx = calloc(s->cap, sizeof(*s->slot_idx));
    return s->slots && s->slot_idx ? 0 : -1;
}

void idset_free(idset *s)
{
    free(s->slots);
    free(s->slot_idx);
    free(s->order);
}

static size_t hash64(int64_t k)
{
    uint64_t x = (uint64_t)k * 0x9E3779B97F4A7C15ull;
    return (size_t)(x ^ (x >> 29));
}

int idset_find(const idset *s, int64_t id)
{
    for (size_t i = hash64(id) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (s->slots[i] == 0) return -1;
        if (s->slots[i] == id) return s->slot_idx[i];
    }
}

int idset_add(idset *s, int64_t id)
{
    if ((s->n + 1) * 2 > s->cap) {
        idset bigger = {.cap = s->cap * 2};
        bigger.slots = calloc(bigger.cap, sizeof(*bigger.slots));
        bigger.slot_idx = calloc(bigger.cap, sizeof(*bigger.slot_idx));
        if (!bigger.slots || !bigger.slot_idx) {
            free(bigger.slots);
            free(bigger.slot_idx);
            return -1;
        }
        for (size_t i = 0; i < s->cap; i++) {
            if (!s->slots[i]) continue;
            size_t j = hash64(s->slots[i]) & (bigger.cap - 1);
            while (bigger.slots[j])
                j = (j + 1) & (bigger.cap - 1);
            bigger.slots[j] = s->slots[i];
            bigger.slot_idx[j] = s->slot_idx[i];
        }
        free(s->slots);
        free(s->slot_idx);
        s->slots = bigger.slots;
        s->slot_idx = bigger.slot_idx;
        s->cap = bigger.cap;
    }
    size_t i = hash64(id) & (s->cap - 1);
    while (s->slots[i]) {
        if (s->slots[i] == id) return 0;
        i = (i + 1) & (s->cap - 1);
    }
    if (s->n == s->order_cap) {
        size_t nc = s->order_cap ? s->order_cap * 2 : 256;
        int64_t *o = realloc(s->order, nc * sizeof(*o));
        if (!o) return -1;
        s->order = o;
        s->order_cap = nc;
    }
    s->slots[i] = id;
    s->slot_idx[i] = (int)s->n;
    s->order[s->n++] = id;
    return 1;
}
