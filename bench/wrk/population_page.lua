-- wrk script of the population-page scenario of bench/run.sh: GET
-- /v1/polyclinics/{id}/attachments?limit=LIMIT on the register of bench/register.sql, a
-- polyclinic drawn uniformly; half the requests ask for the first page, half for a keyset page
-- at a random position (cursor "DISTRICT.ID": a district of that polyclinic, an attachment id
-- drawn from 0..ID_MAX), as bench/pgbench/population_page.sql draws them. Environment:
--   BENCH_PATH     the path, with "{id}"
--   BENCH_POLYCLINICS  polyclinics 1..N     BENCH_DISTRICTS_EACH  districts per polyclinic
--   BENCH_ID_MAX   the largest attachment id     BENCH_PAGE  the page size (limit)
--   BENCH_TOKEN    sent as "Authorization: Bearer <token>"

-- bench/wrk/common.lua (setup, done, check_digit), found beside this script.
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local common = require("common")
local path = os.getenv("BENCH_PATH") or "/v1/polyclinics/{id}/attachments"
local token = os.getenv("BENCH_TOKEN")
local polyclinics = tonumber(os.getenv("BENCH_POLYCLINICS") or "1")
local each = tonumber(os.getenv("BENCH_DISTRICTS_EACH") or "20")
local id_max = tonumber(os.getenv("BENCH_ID_MAX") or "1")
local page = tonumber(os.getenv("BENCH_PAGE") or "50")
local prefix, suffix = path:match("^(.-){id}(.*)$")

wrk.method = "GET"
if token and token ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. token
end


function init(args)
    math.randomseed(os.time() * 1000 + (thread_index or 0) + 1)
end

function request()
    local p = math.random(1, polyclinics)
    local q = "?limit=" .. page
    if math.random(0, 1) == 0 then
        q = q .. "&cursor=" .. ((p - 1) * each + math.random(1, each)) .. "." .. math.random(0, id_max)
    end
    return wrk.format(nil, prefix .. p .. suffix .. q)
end

