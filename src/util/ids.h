/* Identifiers: request ids, UUIDs and random bytes. */
#ifndef DLB_UTIL_IDS_H
#define DLB_UTIL_IDS_H

#include <stddef.h>
#include <stdint.h>

/* Cryptographically strong random bytes (OpenSSL); 0 on success. */
int ids_random(void *out, size_t len);
/* 32 lowercase hex characters + NUL into out[33]; fast (per-thread generator seeded from
 * OpenSSL), not for secrets. */
void ids_request_id(char out[33]);
/* A request id sent by a client is kept when it is 1..128 of [A-Za-z0-9._:-]. */
int ids_request_id_sane(const char *s);
/* UUIDv7 (time-ordered) / v4 in canonical 8-4-4-4-12 form into out[37]. */
void ids_uuid7(char out[37]);
void ids_uuid4(char out[37]);
/* 1 when s is a canonical UUID (any version, case-insensitive hex). */
int ids_uuid_valid(const char *s);

#endif
