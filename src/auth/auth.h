/* Authentication (API keys), roles, rate limits and the audit trail.
 *
 * A key reads "dlb_<key id>_<secret>". The metadata database keeps the key id, a name, a role
 * and a salted SHA-256 of the secret, never the secret. Checks run on the HTTP threads against
 * an in-memory copy of the key table (refreshed every second from the database, and at once on
 * this replica when a key is created or revoked), so they never wait on the database. */
#ifndef DLB_AUTH_H
#define DLB_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

struct config;
struct meta;
struct json_t;
typedef struct auth auth_t;

typedef enum { ROLE_NONE = 0, ROLE_READER = 1, ROLE_WRITER = 2, ROLE_ADMIN = 3 } auth_role;

typedef struct {
    auth_role role;
    char key_id[24]; /* "" for anonymous requests */
    char name[64];
} auth_principal;

auth_t *auth_create(const struct config *cfg, struct meta *meta, dlb_err *err);
void auth_destroy(auth_t *a);
int auth_enabled(const auth_t *a);

/* "reader", "writer", "admin" (and "public" → ROLE_NONE); -1 when unknown. */
int auth_role_parse(const char *s);
const char *auth_role_name(auth_role r);

/* Checks a presented key (NULL when the request carried none). 0 with *out filled, or -1 when
 * it is missing, malformed, unknown or revoked (401). Constant-time on the secret. */
int auth_check(auth_t *a, const char *presented, auth_principal *out);

/* Creates a key; its full text goes to key_out once (it cannot be read back). */
int auth_key_create(auth_t *a, const char *name, const char *role, char *key_out, size_t keylen,
                    char *id_out, size_t idlen, dlb_err *err);
/* [{"key_id", "name", "role", "created_at", "revoked_at"}] */
struct json_t *auth_keys_json(auth_t *a, dlb_err *err);
/* 0, or -1 with 404 when there is no such key. */
int auth_key_revoke(auth_t *a, const char *key_id, dlb_err *err);

/* Token bucket keyed by key id or client address: 1 when the request may go on, 0 when it
 * must wait (*retry_after gets whole seconds). Always 1 when rate limiting is off. */
int auth_rate_allow(auth_t *a, const char *bucket_key, int *retry_after);

/* One JSON line per state-changing request when audit logging is on. */
void auth_audit(auth_t *a, const auth_principal *p, const char *method, const char *route,
                const char *path, int status, const char *request_id, const char *client);

#endif
