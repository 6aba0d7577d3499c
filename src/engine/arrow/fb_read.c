/* Bounds-checked FlatBuffers accessors (see fb.h). */
#include "engine/arrow/fb.h"

#include <string.h>

static uint64_t get_le(const uint8_t *p, unsigned size)
{
    uint64_t v = 0;
    for (unsigned k = 0; k < size; k++)
        v |= (uint64_t)p[k] << (8 * k);
    return v;
}

static int tab_at(const uint8_t *base, size_t n, size_t pos, fb_tab *out)
{
    if (pos % 4 || pos > n || n - pos < 4) return -1;
    int32_t soff = (int32_t)(uint32_t)get_le(base + pos, 4);
    int64_t vt = (int64_t)pos - (int64_t)soff;
    if (vt < 0 || vt % 2 || (uint64_t)vt > n || n - (size_t)vt < 4) return -1;
    uint16_t vtsz = (uint16_t)get_le(base + vt, 2), tsz = (uint16_t)get_le(base + vt + 2, 2);
    if (vtsz < 4 || vtsz % 2 || n - (size_t)vt < vtsz) return -1;
    if (tsz < 4 || n - pos < tsz) return -1;
    out->base = base;
    out->n = n;
    out->pos = pos;
    out->vt = (size_t)vt;
    out->vtsz = vtsz;
    out->tsz = tsz;
    return 0;
}

int fb_root(const uint8_t *buf, size_t n, fb_tab *out)
{
    if (!buf || n < 4) return -1;
    return tab_at(buf, n, (size_t)get_le(buf, 4), out);
}

/* The field's offset in the table: 0 absent, >0 present, -1 outside the inline size. */
static int field(const fb_tab *t, int id, unsigned size, size_t *at)
{
    size_t slot = 4 + 2 * (size_t)id;
    if (id < 0 || slot + 2 > t->vtsz) return 0;
    uint16_t off = (uint16_t)get_le(t->base + t->vt + slot, 2);
    if (!off) return 0;
    if (off < 4 || (size_t)off + size > t->tsz) return -1;
    *at = t->pos + off;
    return 1;
}

static int scalar(const fb_tab *t, int id, unsigned size, uint64_t *v)
{
    size_t at;
    int r = field(t, id, size, &at);
    if (r <= 0) return r;
    *v = get_le(t->base + at, size);
    return 1;
}

int fb_u8(const fb_tab *t, int id, uint8_t dflt, uint8_t *out)
{
    uint64_t v;
    int r = scalar(t, id, 1, &v);
    *out = r > 0 ? (uint8_t)v : dflt;
    return r < 0 ? -1 : 0;
}

int fb_i16(const fb_tab *t, int id, int16_t dflt, int16_t *out)
{
    uint64_t v;
    int r = scalar(t, id, 2, &v);
    *out = r > 0 ? (int16_t)(uint16_t)v : dflt;
    return r < 0 ? -1 : 0;
}

int fb_i32(const fb_tab *t, int id, int32_t dflt, int32_t *out)
{
    uint64_t v;
    int r = scalar(t, id, 4, &v);
    *out = r > 0 ? (int32_t)(uint32_t)v : dflt;
    return r < 0 ? -1 : 0;
}

int fb_i64(const fb_tab *t, int id, int64_t dflt, int64_t *out)
{
    uint64_t v;
    int r = scalar(t, id, 8, &v);
    *out = r > 0 ? (int64_t)v : dflt;
    return r < 0 ? -1 : 0;
}

/* Follows the uoffset in field id: the absolute target position. */
static int deref(const fb_tab *t, int id, size_t *target)
{
    size_t at;
    int r = field(t, id, 4, &at);
    if (r <= 0) return r;
    uint64_t u = get_le(t->base + at, 4);
    if (u == 0 || u > t->n - at) return -1;
    *target = at + (size_t)u;
    return 1;
}

int fb_table(const fb_tab *t, int id, fb_tab *out)
{
    size_t pos;
    int r = deref(t, id, &pos);
    if (r <= 0) return r;
    return tab_at(t->base, t->n, pos, out) ? -1 : 1;
}

static int vec_at(const uint8_t *base, size_t n, size_t pos, size_t elem_size, fb_vec *out)
{
    if (pos % 4 || pos > n || n - pos < 4) return -1;
    uint32_t len = (uint32_t)get_le(base + pos, 4);
    size_t room = n - pos - 4;
    if (elem_size && (uint64_t)len > room / elem_size) return -1;
    out->base = base;
    out->n = n;
    out->data = pos + 4;
    out->len = len;
    return 0;
}

int fb_vector(const fb_tab *t, int id, size_t elem_size, fb_vec *out)
{
    size_t pos;
    int r = deref(t, id, &pos);
    if (r <= 0) return r;
    return vec_at(t->base, t->n, pos, elem_size, out) ? -1 : 1;
}

int fb_string(const fb_tab *t, int id, const char **s, size_t *len)
{
    fb_vec v;
    int r = fb_vector(t, id, 1, &v);
    if (r <= 0) return r;
    *s = (const char *)(v.base + v.data);
    *len = v.len;
    return 1;
}

int fb_vec_table(const fb_vec *v, uint32_t i, fb_tab *out)
{
    if (i >= v->len) return -1;
    size_t at = v->data + (size_t)i * 4;
    uint64_t u = get_le(v->base + at, 4);
    if (u == 0 || u > v->n - at) return -1;
    return tab_at(v->base, v->n, at + (size_t)u, out);
}

int fb_vec_string(const fb_vec *v, uint32_t i, const char **s, size_t *len)
{
    if (i >= v->len) return -1;
    size_t at = v->data + (size_t)i * 4;
    uint64_t u = get_le(v->base + at, 4);
    fb_vec sv;
    if (u == 0 || u > v->n - at || vec_at(v->base, v->n, at + (size_t)u, 1, &sv)) return -1;
    *s = (const char *)(sv.base + sv.data);
    *len = sv.len;
    return 0;
}
