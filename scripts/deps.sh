#!/usr/bin/env bash
# Installs everything the build, the server and the tests need, and nothing twice.
# Debian packages come from apt-get; DuckDB comes from the npm registry, pinned and
# integrity-checked, and is unpacked under third_party/duckdb/.
set -euo pipefail
cd "$(dirname "$0")/.."

DUCKDB_LIB_PKG="@duckdb/node-bindings-linux-x64@1.5.6-r.1"
DUCKDB_LIB_SHA512="IXcrZJE6kEqM0Z4wwdVnGBHX/frOS33VPNAwDXQ/Q+Fs84b058Qe94chrCCIcNJlG8Y3UHIUU4eBeCQxW5mN1Q=="
DUCKDB_HDR_PKG="duckdb@1.4.4"
DUCKDB_HDR_SHA512="hEJJ5hyVF0VLj3dmOLpsWrQR0b3d4Ykqtygm6iUXjHJDDnSqg/USKxcb5qvNrOhFYPgktayU6dXCtgPqcmmpog=="

BUILD_PKGS="build-essential pkg-config libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev
 libsqlite3-dev libpq-dev libssl-dev zlib1g-dev libcmocka-dev xz-utils"
TEST_PKGS="postgresql postgresql-contrib clang libclang-rt-14-dev cppcheck clang-format gcovr prometheus chromium"
BENCH_PKGS="nginx-light wrk hyperfine python3-fastapi python3-uvicorn"

want="$BUILD_PKGS"
case "${1:-build}" in
test) want="$BUILD_PKGS $TEST_PKGS" ;;
bench) want="$BUILD_PKGS $TEST_PKGS $BENCH_PKGS" ;;
esac

missing=""
# Node.js ships npm itself on most machines (nodesource); Debian's npm would conflict with it.
command -v npm >/dev/null 2>&1 || want="$want nodejs npm"
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "deps: installing Debian packages:$missing"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# fetch_npm PKG SHA512 DEST: npm pack into a cache, check the pinned integrity, unpack.
fetch_npm() {
    local pkg=$1 sum=$2 dest=$3 cache=third_party/cache
    mkdir -p "$cache" "$dest"
    local tgz
    tgz=$(ls "$cache"/*.tgz 2>/dev/null | grep -F "$(echo "${pkg#@}" | tr '/@' '-' )" | head -n1 || true)
    if [ -z "$tgz" ]; then
        (cd "$cache" && npm pack --silent "$pkg" >/dev/null)
        tgz=$(ls "$cache"/*.tgz | grep -F "$(echo "${pkg#@}" | tr '/@' '-')" | head -n1)
    fi
    local got
    got=$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)
    if [ "$got" != "$sum" ]; then
        echo "deps: integrity mismatch for $pkg ($tgz): got $got" >&2
        rm -f "$tgz"
        exit 1
    fi
    tar xzf "$tgz" -C "$dest"
}

if [ ! -f third_party/duckdb/lib/libduckdb.so ] || [ ! -f third_party/duckdb/include/duckdb.h ]; then
    echo "deps: fetching DuckDB ($DUCKDB_LIB_PKG, header from $DUCKDB_HDR_PKG)"
    rm -rf third_party/duckdb third_party/unpack
    fetch_npm "$DUCKDB_LIB_PKG" "$DUCKDB_LIB_SHA512" third_party/unpack/lib
    fetch_npm "$DUCKDB_HDR_PKG" "$DUCKDB_HDR_SHA512" third_party/unpack/hdr
    mkdir -p third_party/duckdb/lib third_party/duckdb/include
    mv third_party/unpack/lib/package/libduckdb.so third_party/duckdb/lib/
    mv third_party/unpack/hdr/package/src/duckdb/src/include/duckdb.h third_party/duckdb/include/
    rm -rf third_party/unpack
fi

# Test clients from the lockfile; a stamp records that this lockfile was installed.
stamp=tests/e2e/node_modules/.installed
if [ "${1:-build}" != build ] && { [ ! -f "$stamp" ] || [ tests/e2e/package-lock.json -nt "$stamp" ]; }; then
    echo "deps: installing test clients (npm ci)"
    (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
    mkdir -p tests/e2e/node_modules && touch "$stamp"
fi
