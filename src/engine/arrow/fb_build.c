/* FlatBuffers builder, front to back (see fb.h). */
#include "engine/arrow/fb.h"

#include <stdlib.h>
#include <string.h>

void fbb_init(fbb *b)
{
    memset(b, 0, sizeof(*b));
}

void fbb_free(fbb *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

static int reserve(fbb *b, size_t n)
{
    if (b->oom) return -1;
    if (b->len + n <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 512;
    while (cap < b->len + n)
        cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

size_t fbb_put(fbb *b, const void *p, size_t n)
{
    size_t at = b->len;
    if (reserve(b, n)) return at;
    if (p)
        memcpy(b->p + b->len, p, n);
    else
        memset(b->p + b->len, 0, n);
    b->len += n;
    return at;
}

void fbb_pad(fbb *b, size_t align)
{
    size_t r = b->len % align;
    if (r) fbb_put(b, NULL, align - r);
}

static void put_le(uint8_t *d, uint64_t v, unsigned size)
{
    for (unsigned k = 0; k < size; k++)
        d[k] = (uint8_t)(v >> (8 * k));
}

size_t fbb_slot(fbb *b)
{
    fbb_pad(b, 4);
    return fbb_put(b, NULL, 4);
}

void fbb_patch(fbb *b, size_t slot, size_t target)
{
    if (b->oom || slot + 4 > b->len || target <= slot) return;
    put_le(b->p + slot, (uint64_t)(target - slot), 4);
}

size_t fbb_string(fbb *b, const char *s, size_t n)
{
    fbb_pad(b, 4);
    uint8_t len[4];
    put_le(len, n, 4);
    size_t at = fbb_put(b, len, 4);
    fbb_put(b, s, n);
    fbb_put(b, NULL, 1); /* NUL */
    return at;
}

size_t fbb_vector(fbb *b, uint32_t n, size_t align)
{
    if (align < 4) align = 4;
    /* the elements (4 bytes after the length) land on align */
    while ((b->len + 4) % align)
        fbb_put(b, NULL, 1);
    uint8_t len[4];
    put_le(len, n, 4);
    return fbb_put(b, len, 4);
}

void fbt_init(fbt *t)
{
    memset(t, 0, sizeof(*t));
}

void fbt_scalar(fbt *t, int id, unsigned size, uint64_t v)
{
    if (id < 0 || id >= FBT_MAX) return;
    t->f[id].size = (uint8_t)size;
    t->f[id].is_off = 0;
    t->f[id].v = v;
    if (id + 1 > t->n) t->n = id + 1;
}

void fbt_offset(fbt *t, int id)
{
    fbt_scalar(t, id, 4, 0);
    if (id >= 0 && id < FBT_MAX) t->f[id].is_off = 1;
}

size_t fbt_write(fbb *b, fbt *t)
{
    /* Inline layout: soffset at 0, then 8-, 4-, 2-, 1-byte fields. The table starts at 4 mod 8
     * so that offset 4 is 8-aligned. */
    uint16_t off[FBT_MAX] = {0};
    size_t at = 4;
    for (unsigned size = 8; size >= 1; size /= 2)
        for (int i = 0; i < t->n; i++)
            if (t->f[i].size == size) {
                off[i] = (uint16_t)at;
                at += size;
            }
    size_t tsz = at;
    size_t vtsz = 4 + 2 * (size_t)t->n;
    fbb_pad(b, 2);
    uint8_t vt[4 + 2 * FBT_MAX];
    put_le(vt, vtsz, 2);
    put_le(vt + 2, tsz, 2);
    for (int i = 0; i < t->n; i++)
        put_le(vt + 4 + 2 * i, off[i], 2);
    size_t vpos = fbb_put(b, vt, vtsz);
    while (b->len % 8 != 4)
        fbb_put(b, NULL, 1);
    size_t tpos = fbb_put(b, NULL, tsz);
    if (b->oom) return tpos;
    put_le(b->p + tpos, (uint64_t)(uint32_t)(int32_t)(tpos - vpos), 4);
    for (int i = 0; i < t->n; i++) {
        if (!t->f[i].size) continue;
        t->pos[i] = tpos + off[i];
        put_le(b->p + tpos + off[i], t->f[i].v, t->f[i].size);
    }
    return tpos;
}
