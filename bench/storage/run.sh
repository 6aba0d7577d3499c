#!/usr/bin/env bash
# Object storage benchmark (a benchmark, not a test: it prints figures, never fails on a slow
# result; loopback only; about a minute with the defaults).
#   bench/storage/run.sh                 (BENCH_BIN=... another binary)
#   BENCH_STORAGE_MB=256 (object size)  BENCH_STORAGE_RUNS=3 (best of)
#   BENCH_MULTIPART_THRESHOLD=8388608 (STORAGE_MULTIPART_THRESHOLD of the server)
# Starts the e2e S3 stack (s3rver behind the SigV4-verifying front, tests/e2e/lib/s3.js) and the
# server with STORAGE_BACKEND=s3, then prints, from one run, the upload and download MB/s of one
# object through the API (PUT / GET /datasets/{bucket}/{object}, curl) beside curl talking to the
# same S3 endpoint directly with its own SigV4 signing (--aws-sigv4), target ours >= 0.8x; and,
# for uploads, beside curl speaking the same multipart protocol the API uses (same part size,
# three parts in flight), which puts s3rver's cost of assembling parts on both sides.
# Both paths cross the same front and s3rver; the API path adds one more hop (uploads go on
# to S3 as they arrive, in parallel multipart parts above STORAGE_MULTIPART_THRESHOLD, which
# s3rver then assembles). Also printed: CPU seconds per transfer of the server and of the S3
# stack, steadier than MB/s on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

bin=${BENCH_BIN:-build/ducklake-backend}
case "$bin" in /*) ;; *) bin="$root/$bin" ;; esac
[ -x "$bin" ] || make >/dev/null
command -v curl >/dev/null || {
    echo "bench/storage: curl is needed" >&2
    exit 1
}
command -v node >/dev/null || {
    echo "bench/storage: node is needed (the S3 stack of tests/e2e)" >&2
    exit 1
}
[ -d tests/e2e/node_modules ] || (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)

MB=${BENCH_STORAGE_MB:-256}
RUNS=${BENCH_STORAGE_RUNS:-3}
# the server's default (8 MiB): uploads above it go in multipart parts
THRESHOLD=${BENCH_MULTIPART_THRESHOLD:-8388608}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/dlb-bench-storage.XXXXXX")
pid=""
s3pid=""
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    if [ -n "$s3pid" ]; then kill "$s3pid" 2>/dev/null || true; wait "$s3pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT

# ---- the S3 stack ----------------------------------------------------------------------------
mkfifo "$tmp/s3.out"
node --input-type=module -e "
  import { startS3 } from '$root/tests/e2e/lib/s3.js';
  const s3 = await startS3();
  console.log(s3.endpoint);
  const stop = () => s3.stop().finally(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  setInterval(() => {}, 1 << 30);
" >"$tmp/s3.out" 2>"$tmp/s3.log" &
s3pid=$!
read -r -t 30 endpoint <"$tmp/s3.out" || {
    echo "bench/storage: the S3 stack did not start" >&2
    cat "$tmp/s3.log" >&2
    exit 1
}
AK=S3RVER
SK=S3RVER

# ---- the server ------------------------------------------------------------------------------
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$tmp/data"
(cd "$tmp/data" && DATA_DIR="$tmp/data" HOST=127.0.0.1 PORT=$port LOG_LEVEL=WARNING LOG_ACCESS=false \
    STORAGE_BACKEND=s3 STORAGE_MINIO_ENDPOINT="$endpoint" STORAGE_MINIO_ACCESS_KEY=$AK \
    STORAGE_MINIO_SECRET_KEY=$SK STORAGE_MINIO_SECURE=false STORAGE_MAX_FILE_SIZE=$(((MB + 16) << 20)) \
    STORAGE_UPLOAD_TIMEOUT=600 STORAGE_MULTIPART_THRESHOLD="$THRESHOLD" \
    exec env -u DB_POSTGRES_HOST "$bin" >"$tmp/server.log" 2>&1) &
pid=$!
url="http://127.0.0.1:$port"
for _ in $(seq 1 150); do
    curl -sf "$url/health/live" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -sf "$url/health/live" >/dev/null || {
    echo "bench/storage: the server did not start" >&2
    cat "$tmp/server.log" >&2
    exit 1
}

echo "bench/storage: $("$bin" --version 2>/dev/null | head -1 || echo "$bin"); $(curl --version | head -1 | cut -d' ' -f1-2)"
echo "bench/storage: $(nproc) CPUs; one object of $MB MiB, best of $RUNS; S3 at $endpoint (s3rver behind the verifying front); STORAGE_MULTIPART_THRESHOLD=$THRESHOLD"

head -c $((MB << 20)) /dev/urandom >"$tmp/obj.bin"
want=$(sha256sum "$tmp/obj.bin" | cut -d' ' -f1)
for b in bench-api bench-direct; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url/datasets/$b")
    [ "$code" = 201 ] || {
        echo "bench/storage: POST /datasets/$b answered $code" >&2
        exit 1
    }
done

best() { sort -g | head -1; }
mbps() { awk -v mb="$MB" -v s="$1" 'BEGIN { printf "%.1f", (s > 0 ? mb / s : 0) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { r = (a > 0 ? b / a : 0); printf "%.2fx%s", r, (r >= 0.8 ? "" : " MISSED") }'; }
sigv4=(--aws-sigv4 "aws:amz:us-east-1:s3" --user "$AK:$SK")

check() { # code expected what
    if [ "$1" != "$2" ]; then
        echo "bench/storage: $3 answered $1" >&2
        exit 1
    fi
}

api_up() {
    curl -s -o "$tmp/out" -w '%{http_code} %{time_total}\n' -T "$tmp/obj.bin" \
        -H 'Content-Type: application/octet-stream' "$url/datasets/bench-api/obj.bin"
}
direct_up() {
    curl -s -o "$tmp/out" -w '%{http_code} %{time_total}\n' -T "$tmp/obj.bin" "${sigv4[@]}" \
        -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -H 'Content-Type: application/octet-stream' \
        "http://$endpoint/bench-direct/obj.bin"
}
# The same protocol as the API's multipart path, by curl: CreateMultipartUpload, the object's
# parts (THRESHOLD bytes each, as the server cuts them) three at a time, CompleteMultipartUpload.
# s3rver's cost of assembling parts is then on both sides; the split into part files is done
# once, before the timing.
direct_mp_up() {
    local t0 t1 id code
    t0=$(date +%s.%N)
    id=$(curl -s "${sigv4[@]}" -X POST -H "x-amz-content-sha256: $EMPTY_SHA" \
        "http://$endpoint/bench-direct/obj-mp.bin?uploads=" | sed -n 's:.*<UploadId>\(.*\)</UploadId>.*:\1:p')
    [ -n "$id" ] || { echo "000 0"; return; }
    # xargs appends "<part number> <file>" after the fixed arguments: $0 dir, $1 user, $2
    # endpoint, $3 upload id, $4 part number, $5 part file.
    # shellcheck disable=SC2016 # expanded by the inner shell
    ls "$tmp/parts" | sort | awk '{ print NR, $0 }' | xargs -P3 -n2 sh -c \
        'curl -s -o /dev/null -D "$0/h.$4" -T "$0/parts/$5" --aws-sigv4 "aws:amz:us-east-1:s3" --user "$1" \
           -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "http://$2/bench-direct/obj-mp.bin?partNumber=$4&uploadId=$3"' \
        "$tmp" "$AK:$SK" "$endpoint" "$id"
    {
        echo "<CompleteMultipartUpload>"
        for h in $(ls "$tmp" | grep '^h\.' | sort -t. -k2 -n); do
            echo "<Part><PartNumber>${h#h.}</PartNumber><ETag>$(tr -d '\r' <"$tmp/$h" | sed -n 's/^[Ee][Tt][Aa][Gg]: *//p')</ETag></Part>"
        done
        echo "</CompleteMultipartUpload>"
    } >"$tmp/complete.xml"
    rm -f "$tmp"/h.*
    code=$(curl -s -o "$tmp/out" -w '%{http_code}' "${sigv4[@]}" -X POST --data-binary @"$tmp/complete.xml" \
        -H "x-amz-content-sha256: $(sha256sum "$tmp/complete.xml" | cut -d' ' -f1)" \
        "http://$endpoint/bench-direct/obj-mp.bin?uploadId=$id")
    grep -q CompleteMultipartUploadResult "$tmp/out" || { code=502; cat "$tmp/out" >&2; }
    t1=$(date +%s.%N)
    echo "$code $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
}
api_down() {
    curl -s -o "$tmp/down.bin" -w '%{http_code} %{time_total}\n' "$url/datasets/bench-api/obj.bin"
}
direct_down() {
    curl -s -o "$tmp/down.bin" -w '%{http_code} %{time_total}\n' "${sigv4[@]}" \
        -H 'x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' \
        "http://$endpoint/bench-direct/obj.bin"
}

# CPU seconds (user + system) of a process and its children so far: steadier than wall time
# on a shared machine.
cpu_of() {
    local total=0 p
    for p in "$@" $(pgrep -P "$1" 2>/dev/null || true); do
        [ -r "/proc/$p/stat" ] || continue
        total=$((total + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
    done
    echo "$total"
}
hz=$(getconf CLK_TCK)

declare -A T C S
EMPTY_SHA=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
mkdir -p "$tmp/parts"
split -b "$THRESHOLD" -d -a 4 "$tmp/obj.bin" "$tmp/parts/p"
for what in api_up direct_up direct_mp_up api_down direct_down; do
    : >"$tmp/times"
    c0=$(cpu_of "$pid")
    s0=$(cpu_of "$s3pid")
    for _ in $(seq 1 "$RUNS"); do
        read -r code t < <($what)
        case $what in api_up) check "$code" 201 "$what" ;; *) check "$code" 200 "$what" ;; esac
        if [[ $what == *down ]]; then
            got=$(sha256sum "$tmp/down.bin" | cut -d' ' -f1)
            [ "$got" = "$want" ] || {
                echo "bench/storage: $what: the bytes differ (sha256 $got, want $want)" >&2
                exit 1
            }
            rm -f "$tmp/down.bin"
        fi
        echo "$t" >>"$tmp/times"
    done
    T[$what]=$(best <"$tmp/times")
    C[$what]=$(awk -v a="$c0" -v b="$(cpu_of "$pid")" -v n="$RUNS" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) / hz / n }')
    S[$what]=$(awk -v a="$s0" -v b="$(cpu_of "$s3pid")" -v n="$RUNS" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) / hz / n }')
done

printf '%-10s %14s %14s %10s\n' "" "API (MB/s)" "curl->S3 (MB/s)" "ratio"
printf '%-10s %14s %14s %10s\n' upload "$(mbps "${T[api_up]}")" "$(mbps "${T[direct_up]}")" \
    "$(ratio "${T[api_up]}" "${T[direct_up]}")"
printf '%-10s %14s %14s %10s\n' "upload vs curl multipart" "$(mbps "${T[api_up]}")" "$(mbps "${T[direct_mp_up]}")" \
    "$(ratio "${T[api_up]}" "${T[direct_mp_up]}")"
printf '%-10s %14s %14s %10s\n' download "$(mbps "${T[api_down]}")" "$(mbps "${T[direct_down]}")" \
    "$(ratio "${T[api_down]}" "${T[direct_down]}")"
echo "bench/storage: seconds (best of $RUNS): api_up ${T[api_up]} direct_up ${T[direct_up]} direct_mp_up ${T[direct_mp_up]} api_down ${T[api_down]} direct_down ${T[direct_down]}"
echo "bench/storage: CPU seconds per transfer, server / S3 stack (front + s3rver): api_up ${C[api_up]} / ${S[api_up]}, direct_up - / ${S[direct_up]}, direct_mp_up - / ${S[direct_mp_up]}, api_down ${C[api_down]} / ${S[api_down]}, direct_down - / ${S[direct_down]}; load average $(cut -d' ' -f1-3 /proc/loadavg)"
