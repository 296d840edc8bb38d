-- wrk script for bench/run_load.sh, the cross-check of quarry_load_gen:
--   wrk -t1 -c128 -d60s --timeout 30s -s bench/load/wrk_bodies.lua URL -- BODIES_FILE [ROUTE]
-- POSTs the JSON bodies of BODIES_FILE (one per line) in turn on every
-- connection and prints one JSON object (the fields quarry_load_gen reports)
-- after wrk's own summary, on a line starting with "WRK_JSON ".
local bodies = {}
local next_body = 0
local route = "wrk"

function init(args)
  local path = args[1]
  route = args[2] or route
  for line in io.lines(path) do
    if #line > 0 then bodies[#bodies + 1] = line end
  end
  -- Threads start at different offsets so they do not send the same bodies.
  next_body = math.random(0, #bodies - 1)
end

function request()
  next_body = next_body + 1
  local body = bodies[(next_body % #bodies) + 1]
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json" }, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  local function ms(us) return math.floor(us + 0.5) / 1000 end
  io.write(string.format(
    'WRK_JSON {"tool":"wrk","requests":%d,"errors":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"timeouts":%d,"duration_s":%.3f,"qps":%.3f,"mean_ms":%.3f,"p50_ms":%.3f,' ..
    '"p90_ms":%.3f,"p99_ms":%.3f,"p999_ms":%.3f,"max_ms":%.3f}\n',
    summary.requests, e.status, e.connect, e.read, e.write, e.timeout, seconds,
    summary.requests / seconds, ms(latency.mean), ms(latency:percentile(50)),
    ms(latency:percentile(90)), ms(latency:percentile(99)), ms(latency:percentile(99.9)),
    ms(latency.max)))
end
