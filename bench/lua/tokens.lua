-- wrk script: GET $BENCH_PATH with a different Wix token on each request, round-robin over
-- the tokens in $BENCH_TOKENS (one per line). Requests are formatted once, in init(), so
-- the load generator does no per-request work beyond picking the next one.
-- $BENCH_DELAY_MS, if set, makes each connection pause that long before each request
-- (a paced load below saturation: about connections / (delay + latency) requests/s).
-- done() prints one JSON line (prefixed "BENCH_JSON ") that bench/run.py reads.

local path = os.getenv("BENCH_PATH") or "/get-instance"
local tokens_file = os.getenv("BENCH_TOKENS")
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "")

local requests_ = {}
local count = 0
local index = 0

function init(args)
  if tokens_file == nil then
    error("set BENCH_TOKENS to a file with one token per line")
  end
  for line in io.lines(tokens_file) do
    if #line > 0 then
      count = count + 1
      requests_[count] = wrk.format("GET", path, { ["Authorization"] = line })
    end
  end
  if count == 0 then
    error("no tokens in " .. tokens_file)
  end
  -- threads start at different places in the list
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0))
  index = math.random(count) - 1
end

function request()
  index = index % count + 1
  return requests_[index]
end

if delay_ms then
  function delay()
    return delay_ms
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local out = string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"mean": %.1f, "stdev": %.1f, "max": %d, ' ..
    '"p50": %d, "p75": %d, "p90": %d, "p99": %d, "p999": %d}}',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(75), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9))
  io.write("BENCH_JSON " .. out .. "\n")
end
