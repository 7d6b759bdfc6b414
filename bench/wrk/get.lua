-- wrk script for the GET scenarios of bench/run.sh. Environment:
--   BENCH_PATH     the path; "{id}" in it is replaced per request by a random id (see below)
--   BENCH_ID_MIN, BENCH_ID_MAX   the ids "{id}" is drawn from, uniformly, inclusive
--   BENCH_TOKEN    when set, sent as "Authorization: Bearer <token>"
-- A path without "{id}" is formatted once by wrk itself (no Lua per request), so the client costs
-- the same against attachd and against the bare responder. done() prints one line, BENCH ...,
-- that run.sh reads (latencies in microseconds).

local path = os.getenv("BENCH_PATH") or "/"
local token = os.getenv("BENCH_TOKEN")
local id_min = tonumber(os.getenv("BENCH_ID_MIN") or "1")
local id_max = tonumber(os.getenv("BENCH_ID_MAX") or "1")

wrk.method = "GET"
wrk.path = path
if token and token ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. token
end

local threads_made = 0
function setup(thread)
    threads_made = threads_made + 1
    thread:set("seed", threads_made)
end

function init(args)
    math.randomseed(os.time() * 1000 + (seed or 0))
end

if path:find("{id}", 1, true) then
    local prefix, suffix = path:match("^(.-){id}(.*)$")
    function request()
        return wrk.format(nil, prefix .. math.random(id_min, id_max) .. suffix)
    end
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d " ..
        "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
        summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
        e.connect, e.read, e.write, e.status, e.timeout))
end
