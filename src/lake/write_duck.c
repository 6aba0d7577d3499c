/* Small DuckDB C API helpers for the writer: errors become dlb_err with DuckDB's message. */
#include "lake/write.h"

int duck_query(duckdb_connection con, const char *sql, duckdb_result *res, int status,
               const char *code, dlb_err *err)
{
    if (duckdb_query(con, sql, res) == DuckDBSuccess) return 0;
    const char *msg = duckdb_result_error(res);
    dlb_err_set(err, status, code, "%s", msg ? msg : "DuckDB query failed");
    duckdb_destroy_result(res);
    return -1;
}

int duck_exec(duckdb_connection con, const char *sql, int status, const char *code, dlb_err *err)
{
    duckdb_result res;
    if (duck_query(con, sql, &res, status, code, err)) return -1;
    duckdb_destroy_result(&res);
    return 0;
}
