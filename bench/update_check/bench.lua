-- wrk script: BENCH_PATH is the request path; with BENCH_VARY=1 requests carry install ids from
-- a pool of 10,000 (as a fleet of clients would). Requests are formatted once in init() and
-- cycled, so wrk spends the same (tiny) effort per request on both sides of the comparison.
-- Prints one RESULT line the runner parses.
local path = os.getenv("BENCH_PATH")
local vary = os.getenv("BENCH_VARY") == "1"
local pool = {}
local size = 10000
local i = 0

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
  for n = 1, size do
    if vary then
      pool[n] = wrk.format("GET", path .. "&install_id=i" .. math.random(1, 1000000000))
    else
      pool[n] = wrk.format("GET", path)
    end
  end
end

function request()
  i = i % size + 1
  return pool[i]
end

function done(summary, latency, requests)
  io.write(string.format("RESULT rps=%.1f p50_ms=%.2f p99_ms=%.2f non2xx=%d errors=%d requests=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.requests))
end
