/* The few S3 XML documents the driver reads (errors, ListObjectsV2, multipart initiation),
 * parsed with a small scanner: S3 answers flat, namespace-default, entity-escaped XML, and
 * nothing else is needed from it. */
#ifndef DLB_STORE_S3_XML_H
#define DLB_STORE_S3_XML_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* Content of the next <tag>...</tag> (or <tag/>) at or after *pos in doc[0..len), entity-
 * decoded and malloc'd; *pos moves past it. NULL when there is none. */
char *s3_xml_take(const char *doc, size_t len, size_t *pos, const char *tag);
/* Bounds of the next element's raw content, for nested elements. 0 or -1. */
int s3_xml_next(const char *doc, size_t len, size_t *pos, const char *tag, size_t *start,
                size_t *clen);
/* Decodes &amp; &lt; &gt; &quot; &apos; &#N; &#xH; in place semantics: returns malloc'd. */
char *s3_xml_decode(const char *s, size_t n);

/* <Error><Code>..</Code><Message>..</Message></Error>: 0 when found. */
int s3_xml_error(const char *doc, size_t len, char *code, size_t codelen, char *msg, size_t msglen);
/* ListObjectsV2 result into out (objects, common prefixes, next token, truncation). */
int s3_xml_list(const char *doc, size_t len, store_listing *out);
/* "2009-10-12T17:50:30.000Z" to ms since the epoch; -1 when malformed. */
int64_t s3_iso8601_ms(const char *s);

#endif
