#!/usr/bin/env bash
# Lineage benchmark (not a test): ingest events/s and p99 on POST /api/v1/lineage (one event
# per request) and /api/v1/lineage/batch (BENCH_BATCH events per request), every 2xx after a
# durable commit (SQLite WAL with synchronous=FULL, or PostgreSQL with BENCH_PG=1), and the
# lineage graph p99 at depth 20 on a generated graph of 10,000 jobs and datasets (target
# under 50 ms). Loopback only; every process is started here on free ports and killed on exit.
# Environment:
#   BENCH_SECONDS=10   wrk duration per measurement (after a 2 s warm-up)
#   BENCH_CONNS=16     wrk connections for the single-event run (batch: 4, graph: 4, then 1)
#   BENCH_BATCH=100    events per batch request
#   BENCH_JOBS=5000    jobs in the generated graph (as many datasets, plus one source layer)
#   BENCH_PG=1         metadata in a throwaway PostgreSQL (scripts/pg.sh) instead of SQLite
#   BENCH_BIN=build/ducklake-backend
# Also prints the server's CPU time (user + system, from /proc) per event and per graph request
# during the measured runs: on a shared machine that moves far less than events/s and p99.
# Exits non-zero only when something cannot be built or started; a missed target prints MISSED.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
ROOT=$(pwd)
HERE=$ROOT/bench/lineage

SECS=${BENCH_SECONDS:-10}
WARM=2
CONNS=${BENCH_CONNS:-16}
BATCH=${BENCH_BATCH:-100}
JOBS=${BENCH_JOBS:-5000}
BIN=${BENCH_BIN:-build/ducklake-backend}
case $BIN in /*) ;; *) BIN=$ROOT/$BIN ;; esac
GRAPH_TARGET_MS=50

die() { echo "bench/lineage: $*" >&2; exit 1; }
note() { echo "bench/lineage: $*" >&2; }

for t in wrk node curl awk; do
    command -v "$t" >/dev/null 2>&1 || die "$t is not installed (scripts/deps.sh bench)"
done
if [ ! -x "$BIN" ]; then
    note "$BIN missing: running make"
    make >/dev/null || die "make failed"
fi

TMP=$(mktemp -d /tmp/bench-lineage.XXXXXX) || die "mktemp failed"
chmod 755 "$TMP" # scripts/pg.sh runs the server as the user postgres, under $TMP/pg
SRV=""
PGDIR=""
# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
    if [ -n "$SRV" ]; then
        kill "$SRV" 2>/dev/null
        for _ in $(seq 1 25); do kill -0 "$SRV" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$SRV" 2>/dev/null
    fi
    [ -n "$PGDIR" ] && bash scripts/pg.sh stop "$PGDIR" >/dev/null 2>&1
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

unset DB_POSTGRES_HOST DB_POSTGRES_PORT DB_POSTGRES_DB DB_POSTGRES_USER DB_POSTGRES_PASSWORD DB_POSTGRES_SCHEMA
BACKEND=sqlite
if [ "${BENCH_PG:-0}" = 1 ]; then
    PGDIR=$TMP/pg
    mkdir -p "$PGDIR"
    pgenv=$(bash scripts/pg.sh start "$PGDIR") || die "cannot start PostgreSQL (scripts/pg.sh)"
    eval "$pgenv"
    export DB_POSTGRES_HOST DB_POSTGRES_PORT DB_POSTGRES_DB DB_POSTGRES_USER DB_POSTGRES_PASSWORD
    export DB_POSTGRES_SCHEMA=bench_lineage
    BACKEND=postgres
fi

PORT=$(free_port)
mkdir -p "$TMP/data"
(cd "$TMP/data" && exec env DATA_DIR="$TMP/data" HOST=127.0.0.1 PORT="$PORT" LOG_ACCESS=false \
    LOG_LEVEL=WARNING MONITORING_OPENLINEAGE_URL= "$BIN") >"$TMP/server.log" 2>&1 &
SRV=$!
BASE=http://127.0.0.1:$PORT
for _ in $(seq 1 150); do
    kill -0 "$SRV" 2>/dev/null || { tail -20 "$TMP/server.log" >&2; die "server exited"; }
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$BASE/health/live")" = 200 ] && break
    sleep 0.1
done

# wrk_run NAME CONNS URL [LUA]: warm-up, measured run; sets R_RPS R_P99 (ms) R_P50 R_ERR.
wrk_run() {
    local name=$1 conns=$2 url=$3 lua=${4:-} out=$TMP/wrk-$1.txt script=()
    local threads=$((conns < 2 ? conns : 2))
    [ -n "$lua" ] && script=(-s "$lua")
    wrk -t"$threads" -c"$conns" -d${WARM}s --timeout 10s "${script[@]}" "$url" >/dev/null 2>&1
    local c0 c1
    c0=$(srv_cpu_ms)
    wrk -t"$threads" -c"$conns" -d"${SECS}s" --timeout 10s --latency "${script[@]}" "$url" >"$out" 2>&1
    c1=$(srv_cpu_ms)
    R_CPU=$((c1 - c0))
    R_RPS=$(awk '/^Requests\/sec:/ {print $2}' "$out")
    local conv='v = $2; u = v; sub(/^[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
        f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : -1;
        if (f > 0) printf "%.3f", v * f'
    R_P99=$(awk "\$1 == \"99%\" { $conv }" "$out")
    R_P50=$(awk "\$1 == \"50%\" { $conv }" "$out")
    R_ERR=$(awk '/Non-2xx or 3xx responses:/ {n += $NF}
        /Socket errors:/ { for (i = 3; i <= NF; i++) { x = $i; gsub(/,/, "", x); if (x ~ /^[0-9]+$/) n += x } }
        END {print n + 0}' "$out")
    if [ -z "$R_RPS" ] || [ -z "$R_P99" ]; then
        note "could not parse wrk output for $name:"
        cat "$out" >&2
        R_RPS=0 R_P99=0 R_P50=0
    fi
}
# srv_cpu_ms: CPU time the server has used so far (utime + stime), in ms.
srv_cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%d", ($14 + $15) * 1000 / hz }' "/proc/$SRV/stat" 2>/dev/null || echo 0; }
fmt_ms() { awk -v v="$1" 'BEGIN { if (v < 1) printf "%.0fus", v * 1000; else if (v < 1000) printf "%.2fms", v; else printf "%.2fs", v / 1000 }'; }
# drain: the server finishes requests wrk gave up on; wait until the store stops growing.
drain() {
    local prev="" cur
    for _ in $(seq 1 120); do
        cur=$(accepted)
        [ "$cur" = "$prev" ] && return 0
        prev=$cur
        sleep 1
    done
}
accepted() { curl -s "$BASE/api/v1/lineage/stats" | node -e 'let s="";process.stdin.on("data",c=>s+=c).on("end",()=>{const j=JSON.parse(s);console.log(j.ingest.accepted, j.ingest.rejected, j.database.total_events)})'; }

echo "bench/lineage: $BACKEND metadata, durable commits, wrk -t2 ${SECS}s per run (single -c$CONNS, batch -c4, graph -c4 and -c1), $(nproc) CPUs"

# ---------------------------------------------------------------- ingest
read -r a0 _ _ <<<"$(accepted)"
BENCH_BATCH=1 wrk_run single "$CONNS" "$BASE/api/v1/lineage" "$HERE/event.lua"
drain
read -r a1 _ _ <<<"$(accepted)"
S_RPS=$R_RPS S_P50=$R_P50 S_P99=$R_P99 S_ERR=$R_ERR S_CPU=$R_CPU
BENCH_BATCH=$BATCH wrk_run batch 4 "$BASE/api/v1/lineage/batch" "$HERE/event.lua"
drain
read -r a2 r2 _ <<<"$(accepted)"
B_RPS=$R_RPS B_P50=$R_P50 B_P99=$R_P99 B_ERR=$R_ERR B_CPU=$R_CPU
B_EPS=$(awk -v r="$B_RPS" -v b="$BATCH" 'BEGIN { printf "%.0f", r * b }')

# cpu_per N_PER_SECOND CPU_MS: server CPU ms per unit over the measured run.
cpu_per() { awk -v r="$1" -v c="$2" -v s="$SECS" 'BEGIN { if (r * s > 0) printf "%.2fms", c / (r * s); else print "-" }'; }
printf "\n  %-34s %12s %10s %10s %8s %10s\n" "ingest" "events/s" "p50" "p99" "errors" "cpu/event"
printf "  %-34s %12.0f %10s %10s %8s %10s\n" "POST /api/v1/lineage (1 event)" "$S_RPS" "$(fmt_ms "$S_P50")" "$(fmt_ms "$S_P99")" "$S_ERR" "$(cpu_per "$S_RPS" "$S_CPU")"
printf "  %-34s %12s %10s %10s %8s %10s\n" "POST /api/v1/lineage/batch ($BATCH)" "$B_EPS" "$(fmt_ms "$B_P50")" "$(fmt_ms "$B_P99")" "$B_ERR" "$(cpu_per "$B_EPS" "$B_CPU")"
echo "  (batch p50/p99 are per request of $BATCH events; stored: $((a1 - a0)) + $((a2 - a1)) events incl. warm-up, rejected $r2)"

# ---------------------------------------------------------------- graph
# The graph is generated into the same store (the ingest runs' jobs live in another namespace).
GEN=$(node "$HERE/graph.js" "$BASE" "$JOBS" 100) || die "graph generation failed"
NODE=$(echo "$GEN" | node -e 'let s="";process.stdin.on("data",c=>s+=c).on("end",()=>console.log(JSON.parse(s).node))')
GJOBS=$(echo "$GEN" | node -e 'let s="";process.stdin.on("data",c=>s+=c).on("end",()=>{const j=JSON.parse(s);console.log(j.jobs + " jobs, " + j.datasets + " datasets in " + j.seconds.toFixed(1) + " s")})')
GURL="$BASE/api/v1/lineage?nodeId=$NODE&depth=20"
# The first request after the graph was written walks the tables and builds the in-memory
# snapshot and its index; wrk's requests then run on them (each still checks the tables'
# fingerprint). Both are printed: the first is what a request costs after any change.
c0=$(srv_cpu_ms)
FIRST_S=$(curl -s -o "$TMP/graph1.json" -w '%{time_total}' "$GURL")
c1=$(srv_cpu_ms)
FIRST_CPU=$((c1 - c0))
FIRST_MS=$(awk -v s="$FIRST_S" 'BEGIN { printf "%.1f", s * 1000 }')
NODES=$(node -e 'const s=require("fs").readFileSync(process.argv[1],"utf8");const j=JSON.parse(s);console.log(j.graph.length + " nodes, " + s.length + " bytes")' "$TMP/graph1.json")
wrk_run graph 4 "$GURL"
G_RPS=$R_RPS G_P50=$R_P50 G_P99=$R_P99 G_ERR=$R_ERR G_CPU=$R_CPU
# One connection: the latency of a request that does not queue behind the bench's own others.
wrk_run graph1 1 "$GURL"
G1_RPS=$R_RPS G1_P50=$R_P50 G1_P99=$R_P99 G1_ERR=$R_ERR G1_CPU=$R_CPU
VERDICT=$(awk -v v="$G_P99" -v t="$GRAPH_TARGET_MS" 'BEGIN { print (v + 0 <= t + 0) ? "ok" : "MISSED" }')

printf "\n  graph: %s; depth 20 from %s answers %s\n" "$GJOBS" "$NODE" "$NODES"
printf "  %-34s %12s %10s %10s %8s %10s\n" "lineage graph" "req/s" "p50" "p99" "errors" "cpu/req"
printf "  %-34s %12s %10s %10s %8s %10s\n" "GET /api/v1/lineage depth=20" "$G_RPS" "$(fmt_ms "$G_P50")" "$(fmt_ms "$G_P99")" "$G_ERR" "$(cpu_per "$G_RPS" "$G_CPU")"
printf "  %-34s %12s %10s %10s %8s %10s\n" "GET /api/v1/lineage depth=20 (-c1)" "$G1_RPS" "$(fmt_ms "$G1_P50")" "$(fmt_ms "$G1_P99")" "$G1_ERR" "$(cpu_per "$G1_RPS" "$G1_CPU")"
printf "  first request after the graph changed (table walk + snapshot build): %s ms, server CPU %d ms\n" "$FIRST_MS" "$FIRST_CPU"
printf "  graph p99 < %d ms: %s\n" "$GRAPH_TARGET_MS" "$VERDICT"
