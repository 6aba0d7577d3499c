/* Quoting for the few names and paths that must appear in generated SQL text (DuckDB table
 * functions take no parameters for file paths). Values from users are bound, never quoted. */
#ifndef DLB_UTIL_SQLQ_H
#define DLB_UTIL_SQLQ_H

#include "buf.h"

/* "name" with embedded double quotes doubled. */
int sqlq_ident(buf_t *b, const char *name);
/* 'text' with embedded single quotes doubled. */
int sqlq_string(buf_t *b, const char *text);

#endif
