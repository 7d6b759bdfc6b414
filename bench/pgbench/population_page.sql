-- Baseline of the population-page scenario: the statements GET /v1/polyclinics/{id}/attachments
-- ?limit=N runs (q_scope[0] and q_page[0] of src/db/population.c: an admin token, no district
-- (0), no `on`), on the register of bench/register.sql: a polyclinic drawn from
-- 1..polyclinics; half the time the first page (keyset position 0.0), half a page
-- after a random position (a district of that polyclinic, an attachment id from 0..id_max), as
-- bench/wrk/population_page.lua draws them; :fetch is the page size plus one (attachd fetches
-- one row more to know whether a next page exists). run.sh checks that attachd still runs
-- exactly this SQL (SQL-DRIFT otherwise). One statement per line, ending in ';'.
\set p random(1, :polyclinics)
\set no_district 0
\set first random(0, 1)
\set district (:p - 1) * :districts_each + random(1, :districts_each)
\set after_district CASE WHEN :first = 1 THEN 0 ELSE :district END
\set after_id CASE WHEN :first = 1 THEN 0 ELSE random(0, :id_max) END
SELECT EXISTS (SELECT 1 FROM polyclinics WHERE id = :p) AS polyclinic_exists, true AS district_there, to_char(current_date, 'YYYY-MM-DD') AS today;
SELECT x.id, x.district_id, x.iin, x.last_name, x.first_name, x.middle_name, to_char(x.birth_date, 'YYYY-MM-DD') AS birth_date, x.sex, x.district_number, to_char(x.valid_from, 'YYYY-MM-DD') AS valid_from, to_char(x.valid_to, 'YYYY-MM-DD') AS valid_to FROM polyclinic_attached(:p, current_date, nullif(:no_district::bigint, 0), :after_district, :after_id, :fetch) x;
