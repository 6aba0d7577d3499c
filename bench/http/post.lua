-- wrk script for bench/http/run.sh: POST the body in $BENCH_BODY_FILE as JSON.
local f = assert(io.open(os.getenv("BENCH_BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
