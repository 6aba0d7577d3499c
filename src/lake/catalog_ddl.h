/* DuckLake 1.0 catalog: the tables a fresh lake needs and its bootstrap rows, for the SQLite and
 * PostgreSQL metadata databases. Layout and rules: docs/lake-format.md. */
#ifndef DLB_LAKE_CATALOG_DDL_H
#define DLB_LAKE_CATALOG_DDL_H

#include <stddef.h>
#include <stdint.h>

#include "meta/meta.h"

/* Value of ducklake_metadata 'version'. DuckDB >= 1.5.2 opens a catalog only when it is exactly
 * this string (spec digest §1). */
#define LAKE_FORMAT_VERSION "1.0"
/* Number of catalog tables the DDL creates. */
#define LAKE_CATALOG_TABLES 28
/* "YYYY-MM-DD HH:MM:SS.ffffff+00" + NUL, with room to spare. */
#define LAKE_TS_LEN          40
#define LAKE_STMT_MAX_PARAMS 4
/* Upper bound of lake_catalog_init_statements' output. */
#define LAKE_INIT_MAX_STMTS 8

/* One parameterised statement: '?' placeholders, values in order. Strings point into the
 * lake_init_params the statement was made from, so keep those alive until executed. */
typedef struct {
    const char *sql;
    meta_val params[LAKE_STMT_MAX_PARAMS];
    int nparams;
} lake_stmt;

typedef struct {
    const char *data_path;     /* as lake_data_path_store() makes it: ends with '/' */
    const char *schema_uuid;   /* uuid of schema 'main' (canonical text) */
    const char *snapshot_time; /* snapshot 0's time, lake_catalog_timestamp() form */
    const char *created_by;    /* free text; NULL means "ducklake-backend" */
    int encrypted;             /* writes 'true' / 'false' */
    /* < 0: no row (what the extension does). >= 0: also store the global option
     * data_inlining_row_limit, e.g. 0 to stop other writers inlining into our catalog. */
    int inlining_row_limit;
} lake_init_params;

/* The CREATE TABLE script (statements separated by ';', no parameters) for the SQLite (0) or
 * PostgreSQL (non-zero) catalog. Names are unqualified: on PostgreSQL the caller sets
 * search_path to the metadata schema first. Static storage. */
const char *lake_catalog_ddl(int postgres);

/* Fills out[0..n) with the statements that write the rows of a fresh lake (snapshot 0, its
 * changes row, the metadata keys, schema 'main'), in the extension's order. Returns n, or -1
 * when max is too small or a parameter is missing or malformed. Run them with the DDL in one
 * transaction. */
int lake_catalog_init_statements(int postgres, const lake_init_params *p, lake_stmt *out, int max);

/* Text of a timestamp as DuckDB casts a TIMESTAMPTZ in UTC to VARCHAR, which is how the
 * extension stores snapshot_time in SQLite: "2026-11-26 20:20:19.646673+00", trailing zeros of
 * the fraction dropped ("...:19.5+00", "...:19+00"). */
void lake_catalog_timestamp(int64_t unix_micros, char out[LAKE_TS_LEN]);

/* The extension's data_path normalisation: trailing '/' and '\' removed, one '/' appended.
 * Relative paths are kept as given (the caller should pass an absolute path or URL).
 * 0 on success, -1 when in is empty or out is too small. */
int lake_data_path_store(const char *in, char *out, size_t outlen);

#endif
