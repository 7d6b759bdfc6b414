-- wrk script of the person-attachment-get scenario of bench/run.sh: GET
-- /v1/persons/{iin}/attachment for a person drawn uniformly from the register of
-- bench/register.sql. Environment:
--   BENCH_PATH     the path, with "{iin}"
--   BENCH_ROWS     the register's people: k is drawn from 0..ROWS-1
--   BENCH_TOKEN    sent as "Authorization: Bearer <token>"
-- Person k's IIN is computed as bench/register.sql and bench/pgbench/person_attachment_get.sql
-- compute it (the arithmetic is explained there). done() prints the BENCH line run.sh reads.

-- bench/wrk/common.lua (setup, done, check_digit), found beside this script.
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local common = require("common")
local path = os.getenv("BENCH_PATH") or "/v1/persons/{iin}/attachment"
local token = os.getenv("BENCH_TOKEN")
local rows = tonumber(os.getenv("BENCH_ROWS") or "1")
local prefix, suffix = path:match("^(.-){iin}(.*)$")

wrk.method = "GET"
if token and token ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. token
end


function init(args)
    math.randomseed(os.time() * 1000 + (thread_index or 0) + 1)
end

local floor = math.floor

-- Person k's IIN (12 digits, never starting with 0).
function iin_of(k)
    local t, r = k % 35280, floor(k / 35280)
    local d, m, yi = t % 28 + 1, floor(t / 28) % 12 + 1, floor(t / 336)
    local y = (yi < 90) and (1910 + yi) or (1920 + yi)
    local yy = y % 100
    local c = ((y < 2000) and 3 or 5) + r % 2
    local h = floor(r / 2)
    local s = floor(h / 5) * 10 + (h % 5) * 2
    local a = {floor(yy / 10), yy % 10, floor(m / 10), m % 10, floor(d / 10), d % 10, c,
               floor(s / 1000), floor(s / 100) % 10, floor(s / 10) % 10, s % 10}
    local w1, w2 = 0, 0
    local second = {3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2}
    for i = 1, 11 do
        w1 = w1 + a[i] * i
        w2 = w2 + a[i] * second[i]
    end
    local check
    if w1 % 11 ~= 10 then
        check = w1 % 11
    elseif w2 % 11 ~= 10 then
        check = w2 % 11
    else
        s, check = s + 1, 1
    end
    return string.format("%02d%02d%02d%d%04d%d", yy, m, d, c, s, check)
end

function request()
    return wrk.format(nil, prefix .. iin_of(math.random(0, rows - 1)) .. suffix)
end

