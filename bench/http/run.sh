#!/usr/bin/env bash
# HTTP benchmark (not a test): our server vs nginx (static file, `return 200`) and
# FastAPI + uvicorn, measured in one run with wrk, printed side by side with ratios.
# See bench/README.md. Environment:
#   BENCH_SECONDS=10          wrk duration per target (after a 2 s warm-up)
#   BENCH_FEATURE_TOGGLES=1   also measure ours with metrics/perf tracking off vs on
#   BENCH_AUTH=1              also measure an authenticated GET with authentication off vs on
#   BENCH_AUTH_ROUNDS=4       alternated off/on rounds for BENCH_AUTH (req/s and server CPU per request)
#   BENCH_BIN=build/ducklake-backend   the server binary to measure
# Exits non-zero only when something cannot be built or started; a missed target
# prints MISSED.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
ROOT=$(pwd)
HERE=$ROOT/bench/http

SECS=${BENCH_SECONDS:-10}
WARM=2
THREADS=2
CONNS=64
BIN=${BENCH_BIN:-build/ducklake-backend}
case $BIN in /*) ;; *) BIN=$ROOT/$BIN ;; esac
NGINX_WORKERS=${BENCH_NGINX_WORKERS:-2}

WRK_EXTRA=()
die() { echo "bench/http: $*" >&2; exit 1; }
note() { echo "bench/http: $*" >&2; }

# ---------------------------------------------------------------- dependencies, build
scripts/deps.sh bench || note "scripts/deps.sh bench failed; continuing with what is installed"
export PATH=$PATH:/usr/sbin:/sbin
for t in wrk nginx curl awk; do
    command -v "$t" >/dev/null 2>&1 || die "$t is not installed"
done
# Debian's python3-fastapi/python3-uvicorn live in the system interpreter; a pyenv or
# venv python3 earlier in PATH may not see them.
PY=""
for p in python3 /usr/bin/python3; do
    if "$p" -c 'import fastapi, uvicorn, pydantic' >/dev/null 2>&1; then PY=$p; break; fi
done
[ -n "$PY" ] || die "no python3 with fastapi, uvicorn and pydantic (scripts/deps.sh bench)"

if [ ! -x "$BIN" ]; then
    note "$BIN missing: running make"
    make >/dev/null || die "make failed"
    [ -x "$BIN" ] || die "$BIN still missing after make"
fi

# ---------------------------------------------------------------- processes, cleanup
TMP=$(mktemp -d /tmp/bench-http.XXXXXX) || die "mktemp failed"
chmod 755 "$TMP" # nginx workers may run as another user and read $TMP/nginx/www
PIDS=()
# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$p" 2>/dev/null
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_http URL PID LOG: wait up to 15 s for URL to answer 200 while PID lives.
wait_http() {
    local url=$1 pid=$2 log=$3
    for _ in $(seq 1 150); do
        if ! kill -0 "$pid" 2>/dev/null; then
            note "process for $url exited; last lines of $log:"
            tail -n 20 "$log" >&2
            return 1
        fi
        [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url")" = 200 ] && return 0
        sleep 0.1
    done
    note "$url not ready after 15 s; last lines of $log:"
    tail -n 20 "$log" >&2
    return 1
}

# start_ours PORT NAME [VAR=VALUE...]: start our server, sets OURS_PID.
start_ours() {
    local port=$1 name=$2
    shift 2
    mkdir -p "$TMP/$name-data"
    env HOST=127.0.0.1 PORT="$port" DATA_DIR="$TMP/$name-data" LOG_ACCESS=false DEBUG=true \
        LOG_LEVEL=WARNING "$@" "$BIN" >"$TMP/$name.log" 2>&1 &
    OURS_PID=$!
    PIDS+=("$OURS_PID")
    wait_http "http://127.0.0.1:$port/health/live" "$OURS_PID" "$TMP/$name.log"
}

# run_wait CMD...: run CMD in the background and wait, so a signal reaches the trap now
# rather than when CMD ends.
run_wait() {
    "$@" &
    local p=$! rc
    PIDS+=("$p")
    wait "$p"
    rc=$?
    forget "$p"
    return $rc
}

# forget PID: drop a finished process from PIDS (its number may be reused later).
forget() {
    local keep=() q
    for q in "${PIDS[@]}"; do [ "$q" = "$1" ] || keep+=("$q"); done
    PIDS=("${keep[@]}")
}

stop_pid() {
    kill "$1" 2>/dev/null
    for _ in $(seq 1 25); do kill -0 "$1" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    forget "$1"
}

# cpu_ticks PID: user + system CPU of PID so far, in clock ticks
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
rss_mb() { awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$1/status" 2>/dev/null; }
hwm_mb() { awk '/^VmHWM:/ {printf "%.1f", $2 / 1024}' "/proc/$1/status" 2>/dev/null; }

# ---------------------------------------------------------------- wrk + parsing
# bench NAME URL [LUA]: warm-up, then the measured run; sets R_RPS R_P99 (ms) R_ERR.
bench() {
    local name=$1 url=$2 lua=${3:-} out=$TMP/wrk-$1.txt
    local script=()
    [ -n "$lua" ] && script=(-s "$lua")
    run_wait wrk -t$THREADS -c$CONNS -d${WARM}s --timeout 2s "${WRK_EXTRA[@]}" "${script[@]}" "$url" >/dev/null 2>&1
    local t0=0 t1=0
    [ -n "${CPU_PID:-}" ] && t0=$(cpu_ticks "$CPU_PID")
    run_wait wrk -t$THREADS -c$CONNS -d"${SECS}s" --timeout 2s --latency "${WRK_EXTRA[@]}" "${script[@]}" "$url" >"$out" 2>&1
    [ -n "${CPU_PID:-}" ] && t1=$(cpu_ticks "$CPU_PID")
    R_RPS=$(awk '/^Requests\/sec:/ {print $2}' "$out")
    # server CPU (user + system) per request during the measured run, in microseconds
    R_CPU=$(awk -v a="$t0" -v b="$t1" -v r="${R_RPS:-0}" -v s="$SECS" -v hz="$(getconf CLK_TCK)" \
        'BEGIN { if (r > 0) printf "%.2f", (b - a) * 1e6 / hz / (r * s); else print 0 }')
    # " 99%  1.23ms": wrk prints us, ms, s, m or h.
    R_P99=$(awk '$1 == "99%" {
        v = $2; u = v; sub(/^[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
        f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : (u == "h") ? 3600000 : -1;
        if (f > 0) printf "%.3f", v * f }' "$out")
    R_ERR=$(awk '/Non-2xx or 3xx responses:/ {n += $NF}
        /Socket errors:/ { for (i = 3; i <= NF; i++) { x = $i; gsub(/,/, "", x); if (x ~ /^[0-9]+$/) n += x } }
        END {print n + 0}' "$out")
    if [ -z "$R_RPS" ] || [ -z "$R_P99" ]; then
        note "could not parse wrk output for $name:"
        cat "$out" >&2
        R_RPS=${R_RPS:-0}
        R_P99=${R_P99:-0}
    fi
}

# ratio A B: A/B with 2 decimals ("n/a" when B is 0)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }
# verdict VALUE OP TARGET: "ok" or "MISSED"
verdict() {
    awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {
        if (v == "n/a") { print "n/a"; exit }
        ok = (op == ">=") ? (v + 0 >= t + 0) : (v + 0 <= t + 0); print ok ? "ok" : "MISSED" }'
}
fmt_ms() { awk -v v="$1" 'BEGIN { if (v < 1) printf "%.0fus", v * 1000; else if (v < 1000) printf "%.2fms", v; else printf "%.2fs", v / 1000 }'; }

# ---------------------------------------------------------------- start everything
read -r P_OURS P_STATIC P_RETURN P_UVI P_TOG <<<"$("$PY" "$HERE/helpers.py" ports 5)"
[ -n "$P_TOG" ] || die "could not find free ports"

start_ours "$P_OURS" ours || die "our server ($BIN) did not start"
OURS_MAIN=$OURS_PID
IDLE_RSS=$(rss_mb "$OURS_MAIN")

ROOT_JSON=$TMP/root.json
code=$(curl -s -o "$ROOT_JSON" -w '%{http_code}' --max-time 5 "http://127.0.0.1:$P_OURS/")
[ "$code" = 200 ] || die "our GET / answered HTTP $code"
ROOT_BYTES=$(wc -c <"$ROOT_JSON")

mkdir -p "$TMP/nginx/www" "$TMP/nginx/tmp"
cp "$ROOT_JSON" "$TMP/nginx/www/index.json"
chmod 755 "$TMP/nginx" "$TMP/nginx/www"
chmod 644 "$TMP/nginx/www/index.json"
"$PY" "$HERE/helpers.py" nginx-conf "$TMP/nginx" "$P_STATIC" "$P_RETURN" "$NGINX_WORKERS" \
    "$ROOT_JSON" || die "could not write the nginx config"
nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" \
    >"$TMP/nginx/stdout.log" 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
wait_http "http://127.0.0.1:$P_STATIC/" "$NGINX_PID" "$TMP/nginx/error.log" || die "nginx did not start"
wait_http "http://127.0.0.1:$P_RETURN/" "$NGINX_PID" "$TMP/nginx/error.log" || die "nginx did not start"
for p in "$P_STATIC" "$P_RETURN"; do
    cmp -s "$ROOT_JSON" <(curl -s "http://127.0.0.1:$p/") || die "nginx :$p does not serve the same bytes"
done

BENCH_ROOT_JSON=$ROOT_JSON "$PY" -m uvicorn app:app --app-dir "$HERE" --host 127.0.0.1 \
    --port "$P_UVI" --workers 1 --log-level warning --no-access-log >"$TMP/uvicorn.log" 2>&1 &
UVI_PID=$!
PIDS+=("$UVI_PID")
wait_http "http://127.0.0.1:$P_UVI/health/live" "$UVI_PID" "$TMP/uvicorn.log" || die "uvicorn did not start"
UVI_IMPL=$("$PY" -c '
import importlib.util as u, uvicorn
loop = "uvloop" if u.find_spec("uvloop") else "asyncio"
http = "httptools" if u.find_spec("httptools") else "h11"
print("uvicorn %s, %s + %s" % (uvicorn.__version__, loop, http))')

BODY=$TMP/body.json
BODY_BYTES=$("$PY" "$HERE/helpers.py" body 20 "$BODY")
export BENCH_BODY_FILE=$BODY

# POST availability: both must answer {"rows": 20} with 200, else the POST part is skipped.
post_ok() {
    local out code
    out=$(curl -s -w '\n%{http_code}' --max-time 5 -H 'Content-Type: application/json' \
        --data-binary "@$BODY" "$1")
    code=${out##*$'\n'}
    out=${out%$'\n'*}
    [ "$code" = 200 ] && echo "$out" | tr -d ' \n' | grep -q '"rows":20' && return 0
    note "POST $1 answered HTTP $code: $(echo "$out" | head -c 200)"
    return 1
}
POST_OURS=1
POST_UVI=1
post_ok "http://127.0.0.1:$P_OURS/debug/echo" || POST_OURS=0
post_ok "http://127.0.0.1:$P_UVI/debug/echo" || POST_UVI=0

# ---------------------------------------------------------------- GET /
echo "bench/http: $(nproc) CPUs shared by wrk and the servers; wrk -t$THREADS -c$CONNS -d${SECS}s" \
    "after a ${WARM}s warm-up; $(wrk -v 2>&1 | head -n1 | awk '{print $1, $2}');" \
    "$(nginx -v 2>&1 | sed 's/.*: //') ($NGINX_WORKERS workers); $UVI_IMPL"
echo "measuring GET / ($ROOT_BYTES bytes) ..." >&2

declare -A RPS P99 ERR CPU
for t in ours nginx-static nginx-return uvicorn; do
    case $t in
    ours) url=http://127.0.0.1:$P_OURS/ ;;
    nginx-static) url=http://127.0.0.1:$P_STATIC/ ;;
    nginx-return) url=http://127.0.0.1:$P_RETURN/ ;;
    uvicorn) url=http://127.0.0.1:$P_UVI/ ;;
    esac
    bench "get-$t" "$url"
    RPS[$t]=$R_RPS
    P99[$t]=$R_P99
    ERR[$t]=$R_ERR
done

if [ "$POST_OURS" = 1 ] || [ "$POST_UVI" = 1 ]; then
    echo "measuring POST /debug/echo ($BODY_BYTES bytes, 20 rows) ..." >&2
    if [ "$POST_OURS" = 1 ]; then
        bench post-ours "http://127.0.0.1:$P_OURS/debug/echo" "$HERE/post.lua"
        RPS[post-ours]=$R_RPS P99[post-ours]=$R_P99 ERR[post-ours]=$R_ERR
    fi
    if [ "$POST_UVI" = 1 ]; then
        bench post-uvicorn "http://127.0.0.1:$P_UVI/debug/echo" "$HERE/post.lua"
        RPS[post-uvicorn]=$R_RPS P99[post-uvicorn]=$R_P99 ERR[post-uvicorn]=$R_ERR
    fi
fi
LOADED_HWM=$(hwm_mb "$OURS_MAIN")

# The references are no longer needed: free the CPUs for the toggle runs.
stop_pid "$UVI_PID"
stop_pid "$NGINX_PID"

if [ "${BENCH_FEATURE_TOGGLES:-0}" = 1 ]; then
    stop_pid "$OURS_MAIN"
    echo "measuring GET / with feature toggles ..." >&2
    for v in false true; do
        if start_ours "$P_TOG" "ours-features-$v" FEATURE_ENABLE_PROMETHEUS_METRICS=$v \
            FEATURE_ENABLE_PERFORMANCE_TRACKING=$v; then
            bench "features-$v" "http://127.0.0.1:$P_TOG/"
            RPS[features-$v]=$R_RPS P99[features-$v]=$R_P99 ERR[features-$v]=$R_ERR
            stop_pid "$OURS_PID"
        else
            die "our server did not start with the feature toggles =$v"
        fi
    done
fi

if [ "${BENCH_AUTH:-0}" = 1 ]; then
    stop_pid "$OURS_MAIN" 2>/dev/null
    echo "measuring an authenticated GET (/config/features, reader role) with authentication off and on ..." >&2
    # One data directory with one key for both: the requests are byte for byte the same (the
    # header is simply not looked at when authentication is off), and the two settings take
    # turns BENCH_AUTH_ROUNDS times so that drift does not count as the cost of either. Beside
    # req/s (the target's unit, which moves by +-10 % between runs on this shared 2-core VM), the
    # server's CPU per request: wrk's own share of the two cores does not enter it.
    mkdir -p "$TMP/ours-auth-data"
    AUTH_KEY=$(DATA_DIR="$TMP/ours-auth-data" "$BIN" keys create --name bench --role reader 2>/dev/null)
    AUTH_ROUNDS=${BENCH_AUTH_ROUNDS:-4}
    declare -A AUTH_SUM=([off]=0 [on]=0) AUTH_CPU=([off]=0 [on]=0) AUTH_P99=() AUTH_ERR=([off]=0 [on]=0)
    for round in $(seq 1 "$AUTH_ROUNDS"); do
        for mode in off on; do
            flag=false
            [ "$mode" = on ] && flag=true
            [ -n "$AUTH_KEY" ] || break 2
            start_ours "$P_TOG" "ours-auth" FEATURE_ENABLE_AUTHENTICATION=$flag || continue
            WRK_EXTRA=(-H "Authorization: Bearer $AUTH_KEY")
            CPU_PID=$OURS_PID
            bench "auth-$mode-$round" "http://127.0.0.1:$P_TOG/config/features"
            CPU_PID=
            WRK_EXTRA=()
            AUTH_SUM[$mode]=$(awk -v a="${AUTH_SUM[$mode]}" -v b="$R_RPS" 'BEGIN { print a + b }')
            AUTH_CPU[$mode]=$(awk -v a="${AUTH_CPU[$mode]}" -v b="$R_CPU" 'BEGIN { print a + b }')
            AUTH_P99[$mode]=$R_P99
            AUTH_ERR[$mode]=$((AUTH_ERR[$mode] + R_ERR))
            stop_pid "$OURS_PID"
        done
    done
    for mode in off on; do
        RPS[auth-$mode]=$(awk -v a="${AUTH_SUM[$mode]}" -v n="$AUTH_ROUNDS" 'BEGIN { print a / n }')
        CPU[auth-$mode]=$(awk -v a="${AUTH_CPU[$mode]}" -v n="$AUTH_ROUNDS" 'BEGIN { printf "%.2f", a / n }')
        P99[auth-$mode]=${AUTH_P99[$mode]:-0} ERR[auth-$mode]=${AUTH_ERR[$mode]}
    done
fi

# ---------------------------------------------------------------- report
row() { # row NAME KEY [REF_KEY]
    local ref=${3:-}
    local vs=""
    [ -n "$ref" ] && vs=$(ratio "${RPS[$2]}" "${RPS[$ref]}")
    printf "  %-16s %12.0f %10s %14s %8s\n" "$1" "${RPS[$2]}" "$(fmt_ms "${P99[$2]}")" "$vs" "${ERR[$2]}"
}
check() { # check LABEL VALUE OP TARGET
    printf "  %-34s %6s   (target %s %s)  %s\n" "$1" "$2" "$3" "$4" "$(verdict "$2" "$3" "$4")"
}

echo
echo "GET /  ($ROOT_BYTES-byte JSON)"
printf "  %-16s %12s %10s %14s %8s\n" target req/s p99 "vs nginx-static" errors
row ours ours nginx-static
row "nginx static" nginx-static nginx-static
row "nginx return" nginx-return nginx-static
row "uvicorn" uvicorn nginx-static
check "req/s  ours / nginx-static" "$(ratio "${RPS[ours]}" "${RPS[nginx-static]}")" ">=" 1.0
check "req/s  ours / uvicorn" "$(ratio "${RPS[ours]}" "${RPS[uvicorn]}")" ">=" 4
check "p99    ours / nginx-static" "$(ratio "${P99[ours]}" "${P99[nginx-static]}")" "<=" 1.5
printf "  %-34s %6s   (the practical ceiling)\n" "req/s  ours / nginx-return" \
    "$(ratio "${RPS[ours]}" "${RPS[nginx-return]}")"

echo
echo "POST /debug/echo  ($BODY_BYTES-byte body, 20 rows)"
if [ "$POST_OURS" = 1 ] || [ "$POST_UVI" = 1 ]; then
    printf "  %-16s %12s %10s %14s %8s\n" target req/s p99 "" errors
    if [ "$POST_OURS" = 1 ]; then row ours post-ours; else echo "  ours             not available (see above)"; fi
    if [ "$POST_UVI" = 1 ]; then row uvicorn post-uvicorn; else echo "  uvicorn          not available (see above)"; fi
    if [ "$POST_OURS" = 1 ] && [ "$POST_UVI" = 1 ]; then
        check "req/s  ours / uvicorn" "$(ratio "${RPS[post-ours]}" "${RPS[post-uvicorn]}")" ">=" 5
        printf "  %-34s %6s\n" "p99    ours / uvicorn" "$(ratio "${P99[post-ours]}" "${P99[post-uvicorn]}")"
    fi
else
    echo "  skipped: neither server accepts the body (see above)"
fi

echo
echo "Memory (ours)"
printf "  %-34s %6s   (target < 40)  %s\n" "idle RSS after start, MB" "$IDLE_RSS" \
    "$(awk -v v="$IDLE_RSS" 'BEGIN { print (v != "" && v + 0 < 40) ? "ok" : "MISSED" }')"
printf "  %-34s %6s\n" "peak RSS after the runs, MB" "$LOADED_HWM"

if [ "${BENCH_FEATURE_TOGGLES:-0}" = 1 ]; then
    echo
    echo "Feature toggles (ours, GET /; FEATURE_ENABLE_PROMETHEUS_METRICS and _PERFORMANCE_TRACKING)"
    printf "  %-16s %12s %10s %14s %8s\n" toggles req/s p99 "" errors
    row "false" features-false
    row "true" features-true
    printf "  %-34s %5s%%\n" "throughput cost of true vs false" \
        "$(awk -v a="${RPS[features-false]}" -v b="${RPS[features-true]}" \
            'BEGIN { if (a + 0 == 0) print "n/a"; else printf "%.1f", (a - b) * 100 / a }')"
fi

if [ "${BENCH_AUTH:-0}" = 1 ]; then
    echo
    echo "Authentication (ours, GET /config/features with a reader key; mean of $AUTH_ROUNDS alternated runs each, same request bytes)"
    printf "  %-16s %12s %10s %14s %8s\n" auth req/s p99 "" errors
    row "off" auth-off
    row "on" auth-on
    printf "  %-34s %5s%%   (target < 5)\n" "throughput cost of on vs off" \
        "$(awk -v a="${RPS[auth-off]}" -v b="${RPS[auth-on]}" \
            'BEGIN { if (a + 0 == 0) print "n/a"; else printf "%.1f", (a - b) * 100 / a }')"
    printf "  %-34s %s / %s us   cost %s%%\n" "server CPU per request off / on" "${CPU[auth-off]}" \
        "${CPU[auth-on]}" "$(awk -v a="${CPU[auth-off]}" -v b="${CPU[auth-on]}" \
            'BEGIN { if (a + 0 == 0) print "n/a"; else printf "%.1f", (b - a) * 100 / a }')"
fi

for k in "${!ERR[@]}"; do
    if [ "${ERR[$k]}" != 0 ]; then
        note "WARNING: errors (non-2xx responses or socket errors) during $k; its figures are suspect"
    fi
done
exit 0
