#!/usr/bin/env bash
# DuckLake tables benchmark (a benchmark, not a test: it prints figures, never fails on a slow
# result; loopback only; bounded: about 1-2 minutes on 2 cores).
#   bench/lake/run.sh                      (BENCH_BIN=... another binary)
#   BENCH_APPEND_ROWS=1000000 BENCH_EXPORT_ROWS=10000000 (defaults) BENCH_COUNT_REQS=300
#   BENCH_PARTS="append export count" (default: all three) BENCH_FORMATS="csv parquet json ndjson"
# Prints, from one run:
#   1. append of BENCH_APPEND_ROWS rows as CSV, Parquet and JSON through PUT /tables/{name}
#      (rows/s, curl wall time of the request) beside the reference DuckDB's own
#      `COPY (FROM <same input>) TO '...parquet'` of the same file (target: ours >= 0.7x);
#   2. full-scan export of BENCH_EXPORT_ROWS rows as CSV, NDJSON and Parquet over HTTP (curl to
#      /dev/null, "stream": true) beside the reference DuckDB's COPY of the same lake files to a
#      file (target >= 0.7x);
#   3. SELECT count(*) on a small table: p50/p90 of curl's time_total over one keep-alive
#      connection (target p50 < 3 ms).
# The reference is the DuckDB CLI `duckdb-ref` (DLB_DUCKDB_REF, else
# ../shared/tools/ducklake-reference/duckdb-ref), run as one process per measurement (its
# start-up, ~20 ms, is included and noted).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

bin=${BENCH_BIN:-build/ducklake-backend}
case "$bin" in /*) ;; *) bin="$root/$bin" ;; esac
[ -x "$bin" ] || make >/dev/null
ref=${DLB_DUCKDB_REF:-$(cd "$root/.." && pwd)/shared/tools/ducklake-reference/duckdb-ref}
if [ ! -x "$ref" ]; then
    echo "bench/lake: no reference DuckDB at $ref (set DLB_DUCKDB_REF)" >&2
    exit 1
fi
command -v curl >/dev/null || {
    echo "bench/lake: curl is needed" >&2
    exit 1
}

APPEND_ROWS=${BENCH_APPEND_ROWS:-1000000}
EXPORT_ROWS=${BENCH_EXPORT_ROWS:-10000000}
COUNT_REQS=${BENCH_COUNT_REQS:-300}
PARTS=" ${BENCH_PARTS:-append export count} "
FORMATS=${BENCH_FORMATS:-csv parquet json ndjson arrow}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/dlb-bench-lake.XXXXXX")
pid=""
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }'; }
ratio() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { r = (b > 0 ? a / b : 0); printf "%.2fx%s", r, (r >= t ? "" : " MISSED") }'; }
refsql() { "$ref" -c "$1" >/dev/null; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$tmp/data"
(cd "$tmp/data" && DATA_DIR="$tmp/data" HOST=127.0.0.1 PORT=$port LOG_LEVEL=WARNING LOG_ACCESS=false \
    STORAGE_MAX_FILE_SIZE=$((2 << 30)) MONITORING_REQUEST_TIMEOUT=300 \
    exec env -u DB_POSTGRES_HOST "$bin" >"$tmp/server.log" 2>&1) &
pid=$!
url="http://127.0.0.1:$port"
for _ in $(seq 1 150); do
    curl -sf "$url/health/live" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -sf "$url/health/live" >/dev/null || {
    echo "bench/lake: the server did not start" >&2
    cat "$tmp/server.log" >&2
    exit 1
}

create() { curl -sf -X POST "$url/tables" -H 'Content-Type: application/json' -d "$1" >/dev/null; }
put() { # table content-type file -> seconds
    curl -s -o "$tmp/put.out" -w '%{http_code} %{time_total}\n' -X PUT "$url/tables/$1" \
        -H "Content-Type: $2" --data-binary "@$3" | {
        read -r code t
        if [ "$code" != 200 ]; then
            echo "bench/lake: PUT $1 ($2) answered $code: $(head -c 300 "$tmp/put.out")" >&2
            exit 1
        fi
        echo "$t"
    }
}

echo "bench/lake: $("$bin" --version 2>/dev/null | head -1 || echo "$bin"); reference: $("$ref" --version) ($ref)"
echo "bench/lake: $(nproc) CPUs; append $APPEND_ROWS rows, export $EXPORT_ROWS rows"

# ---- inputs (made by the reference DuckDB, not timed) ------------------------------------
if [[ $PARTS == *" append "* ]]; then
schema='{"id":"BIGINT","name":"VARCHAR","value":"DOUBLE","active":"BOOLEAN","ts":"TIMESTAMP"}'
gen="SELECT i AS id, 'name-' || i AS name, i * 1.5 AS value, i % 2 = 0 AS active, TIMESTAMP '2024-01-01' + to_seconds(i) AS ts FROM range($APPEND_ROWS) t(i)"
refsql "COPY ($gen) TO '$tmp/in.csv' (HEADER); COPY ($gen) TO '$tmp/in.parquet' (FORMAT parquet);
        COPY ($gen) TO '$tmp/in.ndjson' (FORMAT json); COPY ($gen) TO '$tmp/in.json' (FORMAT json, ARRAY true);"
# the seed's JSON shape {"rows": [...]}
{ printf '{"rows":'; cat "$tmp/in.json"; printf '}'; } >"$tmp/in.rows.json"

# ---- 1. appends ------------------------------------------------------------------------------
printf '\n%-28s %12s %10s   %-34s %12s %8s\n' "append ${APPEND_ROWS} rows" "ours rows/s" "ours s" "reference (DuckDB COPY -> parquet)" "ref rows/s" "ratio"
for fmt in $FORMATS; do
    if [ "$fmt" = arrow ]; then
        # DuckDB has no Arrow IPC reader or writer: the input is our own Arrow answer for the
        # Parquet input (made untimed), and the figure stands beside our Parquet ingest.
        [ -n "${PARQUET_T:-}" ] || { echo "bench/lake: arrow needs the parquet append first" >&2; continue; }
        create '{"name":"a_arrow_src","schema":'"$schema"'}'
        put a_arrow_src application/vnd.apache.parquet "$tmp/in.parquet" >/dev/null
        curl -sf -o "$tmp/in.arrows" -X POST "$url/tables/a_arrow_src/query" -H 'Content-Type: application/json' \
            -H 'Accept: application/vnd.apache.arrow.stream' -d '{"query":"SELECT * FROM a_arrow_src","stream":true}'
        create "{\"name\":\"a_arrow\",\"schema\":$schema}"
        t=$(put a_arrow application/vnd.apache.arrow.stream "$tmp/in.arrows")
        printf '%-28s %12s %10s   %-34s %12s %8s\n' "arrow ($(du -h "$tmp/in.arrows" | cut -f1))" "$(rate "$APPEND_ROWS" "$t")" "$t" \
            "ours: Parquet ingest (no target)" "$(rate "$APPEND_ROWS" "$PARQUET_T")" "$(ratio "$PARQUET_T" "$t" 0)"
        continue
    fi
    case $fmt in
    csv) ct=text/csv file=$tmp/in.csv src="read_csv('$tmp/in.csv')" ;;
    parquet) ct=application/vnd.apache.parquet file=$tmp/in.parquet src="read_parquet('$tmp/in.parquet')" ;;
    json) ct=application/json file=$tmp/in.rows.json src="read_json('$tmp/in.json')" ;;
    ndjson) ct=application/x-ndjson file=$tmp/in.ndjson src="read_json('$tmp/in.ndjson')" ;;
    esac
    create "{\"name\":\"a_$fmt\",\"schema\":$schema}"
    t=$(put "a_$fmt" "$ct" "$file")
    [ "$fmt" = parquet ] && PARQUET_T=$t
    t0=$(now)
    refsql "COPY (FROM $src) TO '$tmp/ref_$fmt.parquet' (FORMAT parquet, COMPRESSION snappy)"
    rt=$(secs "$t0" "$(now)")
    printf '%-28s %12s %10s   %-34s %12s %8s\n' "$fmt ($(du -h "$file" | cut -f1))" "$(rate "$APPEND_ROWS" "$t")" "$t" \
        "COPY FROM $fmt" "$(rate "$APPEND_ROWS" "$rt")" "$(ratio "$rt" "$t" 0.7)"
done

fi

# ---- 2. export -------------------------------------------------------------------------------
if [[ $PARTS == *" export "* ]]; then
# the export's own table schema (the append part, which may be skipped, has its own)
xschema='{"id":"BIGINT","name":"VARCHAR","value":"DOUBLE","active":"BOOLEAN","ts":"TIMESTAMP"}'
big="SELECT i AS id, 'name-' || i AS name, i * 1.5 AS value, i % 2 = 0 AS active, TIMESTAMP '2024-01-01' + to_seconds(i) AS ts FROM range($EXPORT_ROWS) t(i)"
refsql "COPY ($big) TO '$tmp/big.parquet' (FORMAT parquet)"
create "{\"name\":\"big\",\"schema\":$xschema}"
put big application/vnd.apache.parquet "$tmp/big.parquet" >/dev/null
rm -f "$tmp/big.parquet"
lakefiles="read_parquet('$tmp/data/lake/main/big/*.parquet')"
# every format: bytes received, MiB/s and rows/s (Arrow's target is MiB/s: the fastest of all)
xfmt='%-8s %10s %8s %12s %9s   %-32s %12s %8s\n'
printf "\nexport $EXPORT_ROWS rows (curl to /dev/null, \"stream\": true; load average %s)\n" "$(cut -d' ' -f1-3 /proc/loadavg)"
# shellcheck disable=SC2059 # the format is ours
printf "$xfmt" format "MiB" "MiB/s" "rows/s" "s" "reference (DuckDB COPY -> file)" "ref rows/s" "ratio"
for fmt in csv ndjson parquet arrow; do
    case $fmt in
    arrow) accept=application/vnd.apache.arrow.stream opts="" ;;
    csv) accept=text/csv opts="(HEADER)" ;;
    ndjson) accept=application/x-ndjson opts="(FORMAT json)" ;;
    parquet) accept=application/vnd.apache.parquet opts="(FORMAT parquet)" ;;
    esac
    out=$(curl -s -o /dev/null -w '%{http_code} %{time_total} %{size_download}' -X POST "$url/tables/big/query" \
        -H 'Content-Type: application/json' -H "Accept: $accept" -d '{"query":"SELECT * FROM big","stream":true}')
    read -r code t size <<<"$out"
    [ "$code" = 200 ] || echo "bench/lake: export $fmt answered $code" >&2
    mbs=$(awk -v b="$size" -v t="$t" 'BEGIN { if (t > 0) printf "%.0f", b / 1048576 / t; else print "n/a" }')
    mib=$(awk -v b="$size" 'BEGIN { printf "%.1f", b / 1048576 }')
    echo "$fmt $mbs" >>"$tmp/export_mbs"
    if [ "$fmt" = arrow ]; then
        # shellcheck disable=SC2059
        printf "$xfmt" "$fmt" "$mib" "$mbs" "$(rate "$EXPORT_ROWS" "$t")" "$t" "(DuckDB has no Arrow IPC writer)" "-" "-"
        continue
    fi
    t0=$(now)
    refsql "COPY (FROM $lakefiles) TO '$tmp/ref_out.$fmt' $opts"
    rt=$(secs "$t0" "$(now)")
    rsize=$(stat -c %s "$tmp/ref_out.$fmt")
    rm -f "$tmp/ref_out.$fmt"
    # shellcheck disable=SC2059
    printf "$xfmt" "$fmt" "$mib" "$mbs" "$(rate "$EXPORT_ROWS" "$t")" "$t" "COPY TO $fmt ($((rsize >> 20)) MiB)" \
        "$(rate "$EXPORT_ROWS" "$rt")" "$(ratio "$rt" "$t" 0.7)"
done
fastest=$(sort -k2 -n -r "$tmp/export_mbs" | head -1 | cut -d' ' -f1)
echo "fastest export format by MiB/s: $fastest (target: arrow)"

fi

# ---- 3. count(*) latency ------------------------------------------------------------------
if [[ $PARTS == *" count "* ]]; then
create '{"name":"small","schema":{"id":"INTEGER","v":"VARCHAR"}}'
curl -sf -X PUT "$url/tables/small" -H 'Content-Type: text/csv' --data-binary $'id,v\n1,a\n2,b\n3,c\n' >/dev/null
urls=()
for _ in $(seq 1 "$COUNT_REQS"); do urls+=(-o /dev/null "$url/tables/small/query"); done
curl -s -X POST -H 'Content-Type: application/json' -d '{"query":"SELECT count(*) FROM small"}' \
    -w '%{time_total}\n' "${urls[@]}" >"$tmp/lat.txt"
sort -n "$tmp/lat.txt" | awk -v n="$COUNT_REQS" '
    { v[NR] = $1 * 1000 }
    END {
        p50 = v[int(NR * 0.5) + (NR * 0.5 > int(NR * 0.5))]; p90 = v[int(NR * 0.9)]; p99 = v[int(NR * 0.99)]
        printf "\nSELECT count(*) on a 3-row table, %d requests, one keep-alive connection:\n", n
        printf "  p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  (target p50 < 3 ms: %s)\n", p50, p90, p99, (p50 < 3 ? "met" : "MISSED")
    }'
fi
