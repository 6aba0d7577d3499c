#!/usr/bin/env bash
# End-to-end tests: starts the real binary (DLB_BIN, default build/ducklake-backend) from
# tests/e2e/*.test.js under node's test runner.
#   scripts/run-e2e.sh sqlite      metadata in SQLite under each server's DATA_DIR
#   scripts/run-e2e.sh postgres    a throwaway PostgreSQL (scripts/pg.sh); one schema per server
# Env: DLB_ASAN=1 (sanitizer options; a sanitizer report fails the test), E2E_CONCURRENCY
# (test files run at once, default 1), E2E_FILES (test files, default all), DLB_KEEP_DATA=1.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

mode=${1:-sqlite}
case "$mode" in
sqlite | postgres) ;;
*)
    echo "usage: $0 sqlite|postgres" >&2
    exit 2
    ;;
esac

bin=${DLB_BIN:-build/ducklake-backend}
case "$bin" in /*) ;; *) bin="$root/$bin" ;; esac
if [ ! -x "$bin" ]; then
    echo "run-e2e: no server binary at $bin (run make, or set DLB_BIN)" >&2
    exit 1
fi
export DLB_BIN="$bin"
export DLB_E2E_BACKEND="$mode"

if [ "${DLB_ASAN:-0}" = 1 ]; then
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1"
    export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
fi

if ! command -v node >/dev/null 2>&1; then
    echo "run-e2e: node is not installed (Node 20 or newer is needed)" >&2
    exit 1
fi

# Test dependencies (none yet; later: eventsource, apache-arrow, ajv ...), from the lockfile.
if grep -q '"dependencies"' tests/e2e/package.json &&
    { [ ! -d tests/e2e/node_modules ] || [ tests/e2e/package-lock.json -nt tests/e2e/node_modules ]; }; then
    (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
    touch tests/e2e/node_modules
fi

# Only what the chosen mode asks for reaches the servers.
unset DB_POSTGRES_HOST DB_POSTGRES_PORT DB_POSTGRES_DB DB_POSTGRES_USER DB_POSTGRES_PASSWORD \
    DB_POSTGRES_SCHEMA

pgdir=""
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
    if [ -n "$pgdir" ]; then
        bash scripts/pg.sh stop "$pgdir" >/dev/null 2>&1 || true
        rm -rf "$pgdir"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "$mode" = postgres ]; then
    if [ ! -f scripts/pg.sh ]; then
        echo "run-e2e: scripts/pg.sh is missing" >&2
        exit 1
    fi
    pgdir=$(mktemp -d "${TMPDIR:-/tmp}/dlb-e2e-pg.XXXXXX")
    pgenv=$(bash scripts/pg.sh start "$pgdir")
    eval "$pgenv"
    : "${DB_POSTGRES_HOST:?scripts/pg.sh start printed no DB_POSTGRES_HOST}"
    export DB_POSTGRES_HOST DB_POSTGRES_PORT DB_POSTGRES_DB DB_POSTGRES_USER DB_POSTGRES_PASSWORD
    echo "run-e2e: PostgreSQL on $DB_POSTGRES_HOST:${DB_POSTGRES_PORT:-5432} db ${DB_POSTGRES_DB:-?}"
fi

# The lake oracles beside the repository (as scripts/run-unit.sh): the reference DuckDB with the
# official ducklake extension and the golden lake it wrote. tables_interop.test.js skips with a
# message when they are absent.
shared=$(cd "$root/.." && pwd)/shared
if [ -x "$shared/tools/ducklake-reference/duckdb-ref" ] && [ -z "${DLB_DUCKDB_REF:-}" ]; then
    export DLB_DUCKDB_REF="$shared/tools/ducklake-reference/duckdb-ref"
fi
if [ -d "$shared/research/ducklake-golden" ] && [ -z "${DLB_GOLDEN_DIR:-}" ]; then
    export DLB_GOLDEN_DIR="$shared/research/ducklake-golden"
fi

echo "run-e2e: $mode, $DLB_BIN${DLB_ASAN:+ (DLB_ASAN=$DLB_ASAN)}"
# shellcheck disable=SC2206
files=(${E2E_FILES:-tests/e2e/*.test.js})
rc=0
node --test --test-reporter=tap --test-concurrency="${E2E_CONCURRENCY:-1}" --test-timeout=120000 \
    "${files[@]}" || rc=$?
exit $rc
