/* OpenLineage 2-0-2 event checks in C: the core schema's required fields, types, formats
 * (uuid, date-time, uri), the eventType enum, the oneOf between RunEvent, JobEvent and
 * DatasetEvent, and every facet's _producer / _schemaURL.
 *
 * Problems come in two kinds. Fatal: the event's identity is unsound (no UUID run id, no job
 * namespace and name, no parseable time) or its structure cannot be stored (inputs that are
 * not a list of datasets ...): 400 in every mode. Deviations: the rest (a missing schemaURL,
 * an eventTime without a zone, a facet without _producer ...): warnings in lenient mode, 400
 * in strict mode. Each problem names its JSON pointer and the rule. */
#ifndef DLB_LINEAGE_VALIDATE_H
#define DLB_LINEAGE_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

struct json_t;

typedef enum { OL_NONE = 0, OL_RUN, OL_JOB, OL_DATASET } ol_kind;

typedef struct {
    ol_kind kind;
    int fatal;               /* count of fatal problems */
    struct json_t *problems; /* [{"path", "rule", "fatal": bool}] (owned) */
    int64_t event_time_us;   /* normalised eventTime */
    char event_type[16];     /* normalised eventType ("" when absent) */
    char run_id[37];         /* lowercase (RunEvent) */
} ol_check;

/* Checks ev; 0 when it may be stored (no fatal problem), -1 otherwise. Always fill chk; free
 * with ol_check_free. */
int ol_validate(const struct json_t *ev, ol_check *chk);
void ol_check_free(ol_check *chk);
/* Number of deviations (non-fatal problems). */
int ol_check_deviations(const ol_check *chk);
/* The first problem as "path: rule" (fatal ones first; deviations when only_fatal is 0). */
void ol_check_first(const ol_check *chk, int only_fatal, char *out, size_t outlen);

const char *ol_kind_name(ol_kind k); /* "RunEvent" ... */

/* RFC 3986 absolute URI (scheme ":" then URI characters and %XX escapes). */
int ol_uri_valid(const char *s);
/* RFC 3339 date-time. Returns 0 when s is one, 1 when it parses but deviates (no zone, which
 * is read as UTC; a space for the T), -1 when it is not a time. */
int ol_time_parse(const char *s, int64_t *us);

#endif
