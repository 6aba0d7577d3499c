#!/usr/bin/env bash
# Runs cmocka unit-test binaries: once without PostgreSQL, then (when the PostgreSQL server
# binaries are installed) once more against a throwaway PostgreSQL started by scripts/pg.sh,
# so that the backend-neutral suites (test_meta ...) run on both databases.
# Usage: scripts/run-unit.sh BIN...   (DLB_SKIP_PG=1 skips the PostgreSQL pass)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)

[ $# -gt 0 ] || {
    echo "usage: $0 BIN..." >&2
    exit 2
}

failed=()
run_pass() {
    local label=$1 bin
    shift
    for bin in "$@"; do
        echo "=== $(basename "$bin") [$label]"
        if ! "$bin"; then
            failed+=("$(basename "$bin") [$label]")
        fi
    done
}

# The oracles of the lake tests live in shared/ beside the repository (CI has a copy there):
# the golden lake written by the official extension, the reference DuckDB with the extension
# and the OpenLineage spec. Tests that need one skip with a message when it is absent.
shared=$(cd "$here/../.." && pwd)/shared
if [ -d "$shared/research/ducklake-golden" ] && [ -z "${DLB_GOLDEN_DIR:-}" ]; then
    export DLB_GOLDEN_DIR="$shared/research/ducklake-golden"
fi
if [ -x "$shared/tools/ducklake-reference/duckdb-ref" ] && [ -z "${DLB_DUCKDB_REF:-}" ]; then
    export DLB_DUCKDB_REF="$shared/tools/ducklake-reference/duckdb-ref"
fi
if [ -d "$shared/openlineage-spec" ] && [ -z "${DLB_OL_SPEC_DIR:-}" ]; then
    export DLB_OL_SPEC_DIR="$shared/openlineage-spec"
fi
echo "run-unit: golden lake: ${DLB_GOLDEN_DIR:-absent}; reference DuckDB: ${DLB_DUCKDB_REF:-absent}"

# Each binary sets what it needs; nothing from a developer's shell or .env leaks in.
unset DB_POSTGRES_HOST DB_POSTGRES_PORT DB_POSTGRES_DB DB_POSTGRES_USER DB_POSTGRES_PASSWORD
run_pass sqlite "$@"

have_pg=0
if [ "${DLB_SKIP_PG:-0}" != 1 ] && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    have_pg=1
fi
if [ $have_pg = 1 ]; then
    pgdir=$(mktemp -d /tmp/dlb-unit-pg.XXXXXX)
    trap '"$here/pg.sh" stop "$pgdir" >/dev/null 2>&1 || true' EXIT INT TERM
    if env_lines=$("$here/pg.sh" start "$pgdir"); then
        eval "$env_lines"
        export DB_POSTGRES_SSLMODE=disable
        run_pass postgres "$@"
    else
        echo "run-unit: could not start PostgreSQL (see above)" >&2
        failed+=("PostgreSQL start")
    fi
else
    echo "run-unit: PostgreSQL server binaries not installed (or DLB_SKIP_PG=1): PostgreSQL pass skipped" >&2
fi

if [ ${#failed[@]} -gt 0 ]; then
    echo "run-unit: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "run-unit: all passed"
