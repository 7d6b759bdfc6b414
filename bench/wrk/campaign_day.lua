-- wrk script for the campaign-day scenario of bench/run.sh: POST /v1/applications as the eGov
-- portal sends them on a campaign day. Every request is a new person (a person may have one
-- pending application) applying with grounds `campaign` to a polyclinic drawn uniformly from
-- BENCH_POLYCLINICS (the city's polyclinics that take part; half of them auto-approve, so half
-- the applications are approved at once with a district chosen under the district locks, the
-- rest stay pending). One request in four is a minor (born 2010-2019) with a representative and
-- a birth certificate. Environment:
--   BENCH_PATH           /v1/applications
--   BENCH_PORTAL_TOKEN   a portal token (sent as "Authorization: Bearer <token>")
--   BENCH_POLYCLINICS    comma-separated polyclinic ids
--   BENCH_SETTLEMENT     their settlement's KATO code
--   BENCH_IIN_STREAM     0 (default), 1, 2 or 3: which people (see below)
--   BENCH_MAX_REQUESTS   per thread: after that many applications, each request is a GET of a
--                        path no route serves (404, no database work), so that a run of fixed
--                        length submits a fixed number of people (bench/write_cost.sh)
-- IINs are valid (check digit) and match birth date and sex; each wrk thread draws from its own
-- birth dates (8 interleaved streams), so no IIN repeats within a run. bench/run.sh empties the
-- register before the run. done() prints the BENCH line run.sh reads, as get.lua does.

-- bench/wrk/common.lua (setup, done, check_digit), found beside this script.
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local common = require("common")
local path = os.getenv("BENCH_PATH") or "/v1/applications"
local token = os.getenv("BENCH_PORTAL_TOKEN") or ""
local settlement = os.getenv("BENCH_SETTLEMENT") or "751110000"
local polyclinics = {}
for id in string.gmatch(os.getenv("BENCH_POLYCLINICS") or "1", "[0-9]+") do
    polyclinics[#polyclinics + 1] = id
end

wrk.method = "POST"
wrk.path = path
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. token


function init(args)
    math.randomseed(1000 + (thread_index or 0))
end

-- BENCH_IIN_STREAM=1 (the warm-up) draws from other birth years than the measured run (0), so
-- the two never submit the same person; 2 and 3 are two more (bench/write_cost.sh).
local years = {["0"] = {1950, 2010}, ["1"] = {1975, 2015}, ["2"] = {1960, 2012}, ["3"] = {1985, 2017}}
local born = assert(years[os.getenv("BENCH_IIN_STREAM") or "0"], "BENCH_IIN_STREAM: 0, 1, 2 or 3")
local next_adult = common.stream(os.time({year = born[1], month = 1, day = 1, hour = 12}), 3)
local next_minor = common.stream(os.time({year = born[2], month = 1, day = 1, hour = 12}), 5)
local nrequests = 0
local max_requests = tonumber(os.getenv("BENCH_MAX_REQUESTS") or "")

function request()
    if max_requests and nrequests >= max_requests then
        return wrk.format("GET", "/bench-done", {})
    end
    nrequests = nrequests + 1
    local minor = nrequests % 4 == 0
    local iin, birth, sex
    if minor then iin, birth, sex = next_minor() else iin, birth, sex = next_adult() end
    local extra = ""
    if minor then
        extra = ',"representative":{"iin":"850314300003","relation":"mother"},' ..
            '"birth_certificate":"I-ДМ ' .. string.sub(iin, 7, 12) .. '"'
    end
    local body = string.format(
        '{"person":{"iin":"%s","last_name":"Бенчмарков","first_name":"Тест","middle_name":null,' ..
        '"birth_date":"%s","sex":"%s","residency":"citizen"},"settlement":"%s",' ..
        '"address":"ул. Абая, %d, кв. %d","polyclinic_id":%s,"channel":"egov",' ..
        '"grounds":"campaign"%s}', iin, birth, sex, settlement, nrequests % 200 + 1,
        nrequests % 90 + 1, polyclinics[math.random(#polyclinics)], extra)
    return wrk.format(nil, nil, nil, body)
end

