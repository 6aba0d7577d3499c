/* Just enough FlatBuffers for Arrow IPC metadata (Message.fbs, Schema.fbs, File.fbs).
 *
 * Builder: objects are laid out front to back. A table is written whole (vtable, then its
 * inline fields, 8-byte fields first); the objects it points to are written after it, and the
 * offset slots are patched then (uoffsets point forward, as the format requires). Scalars are
 * aligned to their size, vectors of 8-byte structs to 8.
 *
 * Reader: every access is bounds-checked against the buffer: root and uoffsets, soffset to the
 * vtable, vtable size and table size, each field's offset inside the table's inline size,
 * vector lengths (overflow-safe) and string lengths; tables must be 4-aligned, vtables
 * 2-aligned, vectors 4-aligned relative to the buffer start. Reads go through memcpy, so the
 * buffer itself may sit at any address. A malformed buffer gives -1, never a read outside. */
#ifndef DLB_ENGINE_ARROW_FB_H
#define DLB_ENGINE_ARROW_FB_H

#include <stddef.h>
#include <stdint.h>

/* ---- builder -------------------------------------------------------------------------------- */

typedef struct {
    uint8_t *p;
    size_t len, cap;
    int oom; /* sticky: some write failed for memory */
} fbb;

void fbb_init(fbb *b);
void fbb_free(fbb *b);
void fbb_pad(fbb *b, size_t align); /* zero bytes up to a multiple of align */
size_t fbb_put(fbb *b, const void *p, size_t n);
/* A uoffset placeholder at the current position (4-aligned); returns its position. */
size_t fbb_slot(fbb *b);
/* Makes the uoffset at slot point at target (target > slot). */
void fbb_patch(fbb *b, size_t slot, size_t target);
/* A string: returns its position. */
size_t fbb_string(fbb *b, const char *s, size_t n);
/* A vector header for n elements of elem_size bytes aligned to align; returns the position of
 * the length field; the elements start 4 bytes later and are written by the caller. */
size_t fbb_vector(fbb *b, uint32_t n, size_t align);

#define FBT_MAX 8
typedef struct {
    int n; /* 1 + the highest field id set */
    struct {
        uint8_t size;   /* 1, 2, 4, 8; 0 = absent */
        uint8_t is_off; /* a uoffset to patch later */
        uint64_t v;
    } f[FBT_MAX];
    size_t pos[FBT_MAX]; /* after fbt_write: absolute position of each field */
} fbt;

void fbt_init(fbt *t);
void fbt_scalar(fbt *t, int id, unsigned size, uint64_t v);
void fbt_offset(fbt *t, int id); /* patched later with fbb_patch(b, t->pos[id], target) */
/* Writes the vtable and the table; returns the table's position. */
size_t fbt_write(fbb *b, fbt *t);

/* ---- reader --------------------------------------------------------------------------------- */

typedef struct {
    const uint8_t *base;
    size_t n;
    size_t pos;    /* the table */
    size_t vt;     /* its vtable */
    uint16_t vtsz; /* vtable bytes */
    uint16_t tsz;  /* table inline bytes */
} fb_tab;

typedef struct {
    const uint8_t *base;
    size_t n;
    size_t data; /* first element */
    uint32_t len;
} fb_vec;

/* The root table of buf; 0 or -1. */
int fb_root(const uint8_t *buf, size_t n, fb_tab *out);
/* Scalars: the value, or dflt when absent; -1 when the field lies outside the table. */
int fb_u8(const fb_tab *t, int id, uint8_t dflt, uint8_t *out);
int fb_i16(const fb_tab *t, int id, int16_t dflt, int16_t *out);
int fb_i32(const fb_tab *t, int id, int32_t dflt, int32_t *out);
int fb_i64(const fb_tab *t, int id, int64_t dflt, int64_t *out);
/* References: 1 present, 0 absent, -1 malformed. */
int fb_table(const fb_tab *t, int id, fb_tab *out);
int fb_vector(const fb_tab *t, int id, size_t elem_size, fb_vec *out);
int fb_string(const fb_tab *t, int id, const char **s, size_t *len);
/* The i-th table of a vector of tables (i < v->len); 0 or -1. */
int fb_vec_table(const fb_vec *v, uint32_t i, fb_tab *out);
/* The i-th string of a vector of strings; 0 or -1. */
int fb_vec_string(const fb_vec *v, uint32_t i, const char **s, size_t *len);
/* The i-th element of a vector of scalars/structs (bounds were checked by fb_vector). */
static inline const uint8_t *fb_vec_at(const fb_vec *v, uint32_t i, size_t elem_size)
{
    return v->base + v->data + (size_t)i * elem_size;
}

#endif
