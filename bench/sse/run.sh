#!/usr/bin/env bash
# bench/sse: many event-stream clients on one server process, loopback, bounded in time.
# Builds the C load client (bench/sse/loadclient.c), starts build/ducklake-backend on a free
# port of 127.0.0.1 (SQLite, temporary DATA_DIR, killed on exit), holds SSE_BENCH_CLIENTS
# streams (default 10000) from several source addresses, publishes SSE_BENCH_RATE broadcasts
# per second (default 100) for SSE_BENCH_SECONDS (default 20) and prints deliveries, p50/p99
# publish-to-deliver latency (the send time travels in the event), server CPU and RSS.
# When a target is missed it also runs shorter phases at lower rates to show where it holds.
# Env: SSE_BENCH_CLIENTS, SSE_BENCH_RATE, SSE_BENCH_SECONDS, SSE_BENCH_SOURCES (default 4),
#      BENCH_BIN (default build/ducklake-backend).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
clients=${SSE_BENCH_CLIENTS:-10000}
rate=${SSE_BENCH_RATE:-100}
seconds=${SSE_BENCH_SECONDS:-20}
sources=${SSE_BENCH_SOURCES:-4}
bin=${BENCH_BIN:-build/ducklake-backend}
case "$bin" in /*) ;; *) bin="$root/$bin" ;; esac

if [ ! -x "$bin" ]; then
    make -j"$(nproc)" >/dev/null
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dlb-bench-sse.XXXXXX")
pid=""
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT

cc -O2 -std=c11 -Wall -Wextra -pthread -o "$tmp/loadclient" bench/sse/loadclient.c

# Both processes hold one socket per client.
need=$((clients + 1024))
ulimit -n "$need" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt "$need" ]; then
    echo "bench/sse: the fd limit $(ulimit -n) is below $need; lower SSE_BENCH_CLIENTS" >&2
    exit 1
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$tmp/data"
(cd "$tmp" && exec env -i PATH="$PATH" HOST=127.0.0.1 PORT="$port" DATA_DIR="$tmp/data" \
    LOG_LEVEL=WARNING LOG_ACCESS=false SSE_MAX_CLIENTS=$((clients + 100)) \
    SSE_MAX_CLIENTS_PER_IP=0 HTTP_MAX_CONNECTIONS=$((clients + 200)) \
    HTTP_MAX_CONNECTIONS_PER_IP=0 SSE_HEARTBEAT_INTERVAL=0 SSE_PING_INTERVAL=0 \
    SSE_METRICS_INTERVAL=0 SSE_HISTORY_SIZE=1000 "$bin" >"$tmp/server.log" 2>&1) &
pid=$!
for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$port/health/live" >/dev/null 2>&1 && break
    sleep 0.1
done
if ! curl -fsS "http://127.0.0.1:$port/health/live" >/dev/null 2>&1; then
    echo "bench/sse: the server did not start" >&2
    cat "$tmp/server.log" >&2
    exit 1
fi
idle=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
echo "bench/sse: $clients clients from $sources source addresses, $rate broadcasts/s for ${seconds}s," \
    "server pid $pid ($(nproc) CPUs shared with the load client), idle RSS $((idle / 1024)) MB," \
    "load average $(cut -d' ' -f1-3 /proc/loadavg) (other processes skew latency; cpu_us/delivery" \
    "is the figure they disturb least)"

out="$tmp/out"
# The measured phase, then lower rates on the same connections (8 s each) to show where the
# server holds when it saturates at the target rate.
"$tmp/loadclient" 127.0.0.1 "$port" "$clients" "$sources" "$pid" \
    "$rate:$seconds${SSE_BENCH_STEPS-,50:8,20:8,10:8}" | tee "$out"
row=$(awk '$1 ~ /^[0-9]+$/ && NF >= 12' "$out" | head -1)
if [ -z "$row" ]; then
    echo "bench/sse: no measurement" >&2
    exit 1
fi
read -r _ achieved _ expected received _ p99 _ _ cpu rss dropped _ <<<"$row"
verdict() { if [ "$1" = 1 ]; then echo ok; else echo MISSED; fi; }
ok_del=$(awk -v e="$expected" -v r="$received" 'BEGIN{print (e > 0 && r >= e * 0.999) ? 1 : 0}')
ok_rate=$(awk -v a="$achieved" -v t="$rate" 'BEGIN{print (a >= t * 0.95) ? 1 : 0}')
ok_p99=$(awk -v p="$p99" 'BEGIN{print (p < 50) ? 1 : 0}')
ok_rss=$(awk -v m="$rss" 'BEGIN{print (m < 200) ? 1 : 0}')
echo
echo "targets:"
echo "  $clients clients held, none dropped ($dropped dropped)      $(verdict $([ "$dropped" = 0 ] && echo 1 || echo 0))"
echo "  $rate broadcasts/s published (achieved $achieved)           $(verdict "$ok_rate")"
echo "  every client got every broadcast ($received of $expected)   $(verdict "$ok_del")"
echo "  p99 publish-to-deliver < 50 ms (p99 $p99 ms)                $(verdict "$ok_p99")"
echo "  server RSS < 200 MB (RSS $rss MB)                           $(verdict "$ok_rss")"
echo "  server CPU ${cpu}% of one core"

if [ "$ok_rate$ok_del$ok_p99" != 111 ]; then
    echo "  (the rows below the first show the rates at which it holds)"
fi
