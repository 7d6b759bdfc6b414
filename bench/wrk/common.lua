-- What the bench/wrk scripts share (each loads it first, see the line at their top):
--   setup()       numbers wrk's threads: thread_index 0, 1, ... in each thread's globals
--   done()        prints the one BENCH line bench/run.sh reads (requests, duration, p50/p99,
--                 errors by kind)
--   check_digit() the IIN/BIN check digit of src/domain/kzid.c for 11 digits, nil when none
--   stream()      a generator of distinct people with valid IINs
local common = {}

local threads_made = 0
function setup(thread)
    thread:set("thread_index", threads_made)
    threads_made = threads_made + 1
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d " ..
        "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
        summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
        e.connect, e.read, e.write, e.status, e.timeout))
end

-- d: a table of the first 11 digits (numbers).
function common.check_digit(d)
    local sum = 0
    for i = 1, 11 do sum = sum + d[i] * i end
    local k = sum % 11
    if k == 10 then
        local second = {3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2}
        sum = 0
        for i = 1, 11 do sum = sum + d[i] * second[i] end
        k = sum % 11
        if k == 10 then return nil end
    end
    return k
end

-- A stream of people born from first_day on: each call gives the next IIN (valid check digit),
-- birth date and sex; 8 interleaved streams of birth dates, thread_index (0..7) picks one, so
-- wrk's threads never draw the same person. century_male is the 7th digit of a man (3: 1900s,
-- 5: 2000s); a woman's is one more.
function common.stream(first_day, century_male)
    local counter = 0
    return function()
        while true do
            counter = counter + 1
            local serial = counter % 10000
            local day = math.floor(counter / 10000) * 8 + (thread_index or 0) % 8
            local t = os.date("*t", first_day + day * 86400)
            local male = serial % 2 == 0
            local s = string.format("%02d%02d%02d%d%04d", t.year % 100, t.month, t.day,
                male and century_male or century_male + 1, serial)
            local d = {}
            for i = 1, 11 do d[i] = tonumber(s:sub(i, i)) end
            local c = common.check_digit(d)
            if c then
                return s .. c, string.format("%04d-%02d-%02d", t.year, t.month, t.day),
                    male and "male" or "female"
            end
        end
    end
end

return common
