-- wrk script: POST /api/v1/lineage (or /batch with BATCH > 1 events per request), every
-- event with a fresh random run id so that no request is a duplicate. Set by run.sh through
-- the environment: BENCH_BATCH (events per request; 1 = the single-event endpoint).
local batch = tonumber(os.getenv("BENCH_BATCH") or "1")
local counter = 0
local tid = 0

function setup(thread)
  tid = tid + 1
  thread:set("tid", tid)
end

function init(args)
  math.randomseed(os.time() * 1000 + (tid or 0) * 7919 + math.floor(os.clock() * 1e6))
end

local hex = "0123456789abcdef"
local function rhex(n)
  local t = {}
  for i = 1, n do
    local r = math.random(1, 16)
    t[i] = hex:sub(r, r)
  end
  return table.concat(t)
end

local function uuid()
  -- version 4, variant 10xx
  local r = math.random(9, 12)
  return rhex(8) .. "-" .. rhex(4) .. "-4" .. rhex(3) .. "-" .. hex:sub(r, r) .. rhex(3) .. "-" .. rhex(12)
end

local function event()
  counter = counter + 1
  local run = uuid()
  return '{"eventType":"COMPLETE","eventTime":"2024-05-01T10:00:00.000Z",' ..
    '"producer":"https://example.com/bench","schemaURL":"https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",' ..
    '"run":{"runId":"' .. run .. '"},"job":{"namespace":"bench","name":"job_' .. (counter % 500) .. '"},' ..
    '"inputs":[{"namespace":"bench","name":"in_' .. (counter % 300) .. '"}],' ..
    '"outputs":[{"namespace":"bench","name":"out_' .. (counter % 300) .. '"}]}'
end

request = function()
  local body
  if batch <= 1 then
    body = event()
  else
    local t = {}
    for i = 1, batch do t[i] = event() end
    body = "[" .. table.concat(t, ",") .. "]"
  end
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json" }, body)
end
