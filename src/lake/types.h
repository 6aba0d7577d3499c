/* Column types of lake tables (lake-private): the user's type text parsed into a tree, its
 * canonical DuckDB spelling, the DuckLake catalog names (ducklake_column.column_type) and the
 * reverse mapping from catalog rows. Only the types DuckLake maps losslessly are accepted
 * (digest §10); docs/lake-format.md "Writing" lists them. */
#ifndef DLB_LAKE_TYPES_H
#define DLB_LAKE_TYPES_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

typedef enum {
    LT_BOOLEAN,
    LT_INT8,
    LT_INT16,
    LT_INT32,
    LT_INT64,
    LT_UINT8,
    LT_UINT16,
    LT_UINT32,
    LT_UINT64,
    LT_FLOAT32,
    LT_FLOAT64,
    LT_DECIMAL,
    LT_VARCHAR,
    LT_BLOB,
    LT_DATE,
    LT_TIME,
    LT_TIMESTAMP,
    LT_TIMESTAMP_S,
    LT_TIMESTAMP_MS,
    LT_TIMESTAMP_NS,
    LT_TIMESTAMPTZ,
    LT_INTERVAL,
    LT_UUID,
    LT_JSON,
    LT_LIST,   /* one child, named "element" in the catalog */
    LT_STRUCT, /* named children */
    LT_MAP,    /* children "key" and "value" */
} lake_type_kind;

typedef struct lake_type {
    lake_type_kind kind;
    int precision, scale; /* LT_DECIMAL */
    char *name;           /* struct field or column name of this node (owned) or NULL */
    int64_t id;           /* ducklake column_id when known (0 otherwise) */
    int not_null;         /* top-level NOT NULL */
    int nchildren;
    struct lake_type **children; /* owned */
} lake_type;

/* How min/max strings of a leaf compare when table statistics are merged (digest §7.3). */
typedef enum { LCMP_INT, LCMP_FLOAT, LCMP_DECIMAL, LCMP_TEMPORAL, LCMP_STRING, LCMP_NONE } lake_cmp;

/* Parses a user type text (case-insensitive, any whitespace). A trailing NOT NULL is accepted
 * only when not_null != NULL (sets it to 1; 0 otherwise). NULL with a 422 "invalid_type" error
 * naming the text on failure. Free with lake_type_free. */
lake_type *lake_type_parse(const char *text, int *not_null, dlb_err *err);
void lake_type_free(lake_type *t);

/* A leaf from its catalog name ("int32", "decimal(10,2)"); list/struct/map get no children
 * (the caller adds them from the child rows). NULL for names this server cannot write. */
lake_type *lake_type_from_catalog(const char *name);
/* Adds child (ownership moves) to a nested node; 0 on success. */
int lake_type_add_child(lake_type *parent, lake_type *child);

/* DuckDB spelling: INTEGER, DECIMAL(10,2), VARCHAR[], STRUCT(a INTEGER, "select" VARCHAR),
 * MAP(VARCHAR, INTEGER), TIMESTAMP WITH TIME ZONE. Struct field names are quoted as DuckDB
 * prints them (only reserved words), or always when quote_all (for generated SQL). */
int lake_type_sql(const lake_type *t, int quote_all, buf_t *out);
/* The DuckLake name of this node: int32, decimal(10,2), list ... into out. */
const char *lake_type_catalog_name(const lake_type *t, char *out, size_t outlen);
/* Number of nodes (the node itself and every descendant): the column ids it takes. */
int lake_type_nodes(const lake_type *t);
int lake_type_nested(const lake_type *t);
lake_cmp lake_type_cmp_class(const lake_type *t);

/* 1 when name is a DuckDB reserved word (case-insensitive). */
int lake_reserved_word(const char *name);

/* Compares two min/max strings of one class: <0, 0, >0. */
int lake_stat_cmp(lake_cmp cls, const char *a, const char *b);

#endif
