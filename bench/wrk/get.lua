-- wrk script for the GET scenarios of bench/run.sh. Environment:
--   BENCH_PATH     the path; "{id}" in it is replaced per request by a random id (see below)
--   BENCH_ID_MIN, BENCH_ID_MAX   the ids "{id}" is drawn from, uniformly, inclusive
--   BENCH_TOKEN    when set, sent as "Authorization: Bearer <token>"
-- A path without "{id}" is formatted once by wrk itself (no Lua per request), so the client costs
-- the same against attachd and against the bare responder. done() prints one line, BENCH ...,
-- that run.sh reads (latencies in microseconds).

-- bench/wrk/common.lua (setup, done, check_digit), found beside this script.
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local common = require("common")
local path = os.getenv("BENCH_PATH") or "/"
local token = os.getenv("BENCH_TOKEN")
local id_min = tonumber(os.getenv("BENCH_ID_MIN") or "1")
local id_max = tonumber(os.getenv("BENCH_ID_MAX") or "1")

wrk.method = "GET"
wrk.path = path
if token and token ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. token
end


function init(args)
    math.randomseed(os.time() * 1000 + (thread_index or 0) + 1)
end

if path:find("{id}", 1, true) then
    local prefix, suffix = path:match("^(.-){id}(.*)$")
    function request()
        return wrk.format(nil, prefix .. math.random(id_min, id_max) .. suffix)
    end
end

