-- wrk script for the application-post scenario of bench/run.sh: POST /v1/applications with a new
-- person each time (a person may have one pending application), an adult citizen moving house
-- (grounds relocation, so no campaign is needed) to a polyclinic that serves the demo city, is
-- accepting and does not auto-approve: every request passes the checks and stores a pending
-- application, the common write. Environment:
--   BENCH_PATH           /v1/applications
--   BENCH_PORTAL_TOKEN   a portal token (sent as "Authorization: Bearer <token>")
--   BENCH_POLYCLINIC_ID  the polyclinic applied to
--   BENCH_SETTLEMENT     its KATO code
-- IINs are valid (check digit) and match birth date and sex; each wrk thread draws from its own
-- birth dates, so the IINs of one run never repeat. bench/run.sh empties applications before
-- each measurement. done() prints the BENCH line run.sh reads, as get.lua does.

-- bench/wrk/common.lua (setup, done, check_digit), found beside this script.
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local common = require("common")
local path = os.getenv("BENCH_PATH") or "/v1/applications"
local token = os.getenv("BENCH_PORTAL_TOKEN") or ""
local polyclinic = os.getenv("BENCH_POLYCLINIC_ID") or "1"
local settlement = os.getenv("BENCH_SETTLEMENT") or "751110000"

wrk.method = "POST"
wrk.path = path
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. token


-- The next person of this thread: IIN, birth date, sex (born from 1950 on, 1900s IINs).
local next_person = common.stream(os.time({year = 1950, month = 1, day = 1, hour = 12}), 3)

function request()
    local iin, birth, sex = next_person()
    local body = string.format(
        '{"person":{"iin":"%s","last_name":"Бенчмарков","first_name":"Тест","middle_name":null,' ..
        '"birth_date":"%s","sex":"%s","residency":"citizen"},"settlement":"%s",' ..
        '"address":"ул. Абая, 10, кв. 5","polyclinic_id":%s,"channel":"egov",' ..
        '"grounds":"relocation"}', iin, birth, sex, settlement, polyclinic)
    return wrk.format(nil, nil, nil, body)
end

