/* SipHash-2-4 (Aumasson and Bernstein): a keyed 64-bit PRF for short inputs. */
#ifndef DLB_UTIL_SIPHASH_H
#define DLB_UTIL_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t siphash24(const uint8_t key[16], const void *data, size_t len);

#endif
