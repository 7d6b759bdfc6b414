-- A register of 20 M attachments for bench/population.sh (bench/README.md, "The attached
-- population"). Run by psql with -v rows=N -v polyclinics=P -v districts=D after `attachd migrate`.
--
-- The catalogue: 10 settlements; settlement 000000001 ("the city") holds a tenth of the
-- polyclinics (Almaty's share), the others the rest; every polyclinic has D gp districts.
-- The register: N attachments spread evenly over the polyclinics (polyclinic 1 gets N/P: the
-- 100 000-person polyclinic of the bench when N = 20 M and P = 200), 10 % of them ended (a
-- year after they began), with IINs that encode a birth date between 1930 and 2023 and a sex.
-- Every attachment of polyclinic 1 was made by an application (names, birth date, sex): the
-- list then joins an application for every row, the costlier case.
--
-- Fast: the attachments' indexes and foreign keys are taken off for the load and put back
-- afterwards from their own definitions (attachments_bulk_drop/rebuild of migrations/0010), so
-- the schema ends exactly as the migrations left it, and the per-row triggers skip each row
-- (attachments_bulk_triggers, under the table lock it requires); districts.nopen is
-- recounted as `attachd import` does.
\set ON_ERROR_STOP 1
\timing on

INSERT INTO settlements (kato, name_kk, name_ru)
SELECT lpad(s::text, 9, '0'), 'Елді мекен ' || s, 'Населённый пункт ' || s
FROM generate_series(1, 10) s;

\ir check_digit.sql

-- BINs with a valid check digit: per polyclinic the first entity type (4-6) and last digit that
-- make one.
INSERT INTO polyclinics (bin, name_kk, name_ru, settlement, address, ownership)
SELECT b.bin, 'Емхана ' || n, 'Поликлиника ' || n,
       lpad((CASE WHEN n <= :polyclinics / 10 THEN 1 ELSE 2 + n % 9 END)::text, 9, '0'),
       'көше ' || n, CASE WHEN n % 4 = 0 THEN 'private' ELSE 'public' END
FROM generate_series(1, :polyclinics) n
CROSS JOIN LATERAL (SELECT '0101' || t || lpad(n::text, 6, '0') || k AS bin
                    FROM generate_series(4, 6) t, generate_series(0, 9) k
                    WHERE pg_temp.check_digit('0101' || t || lpad(n::text, 6, '0')) = k
                    ORDER BY t, k LIMIT 1) b
ORDER BY n;

INSERT INTO districts (polyclinic_id, number, kind, capacity)
SELECT p.id, d::text, 'gp', 1700
FROM polyclinics p CROSS JOIN generate_series(1, :districts) d
ORDER BY p.id, d;

-- The load below computes ids: polyclinics 1..P, districts 1..P*D in polyclinic order.
SELECT (SELECT count(*) = :polyclinics AND max(id) = :polyclinics FROM polyclinics)
   AND (SELECT count(*) = :polyclinics * :districts AND max(id) = :polyclinics * :districts
        FROM districts) AS ids_as_expected \gset
\if :ids_as_expected
\else
\echo 'polyclinic or district ids are not 1..N: run on a freshly migrated database'
\quit 3
\endif

-- Row i of the register (i from 0): polyclinic 1 + i % P, its district 1 + (i / P) % D (ids in
-- creation order). IIN: YYMMDD of a birth date 1930-01-01 + i % 34000 days, the century-and-sex
-- digit, a 4-digit serial i / 34000, and a last digit (not a real check digit: the table does not
-- check it, and these are never submitted). Unique, as the pair (i % 34000, i / 34000) is.
CREATE TEMP VIEW register AS
SELECT i,
       to_char(b.birth, 'YYMMDD')
       || (CASE WHEN b.birth < DATE '2000-01-01' THEN 3 ELSE 5 END + (i / 34000) % 2)::text
       || lpad(((i / 34000) % 10000)::text, 4, '0') || '0' AS iin,
       1 + i % :polyclinics AS polyclinic_id,
       (i % :polyclinics) * :districts + 1 + (i / :polyclinics) % :districts AS district_id,
       DATE '2019-01-01' + (i % 1500) AS valid_from,
       CASE WHEN i % 10 = 9 THEN DATE '2019-01-01' + (i % 1500) + 365 END AS valid_to
FROM generate_series(0, :rows - 1) i
CROSS JOIN LATERAL (SELECT DATE '1930-01-01' + (i % 34000) AS birth) b;

-- Applications for polyclinic 1's rows (i = 0, P, 2P, ...), as an approval would have left
-- them, inserted first in order of i: application k (from 1) is row (k - 1) * P, so the register
-- below names its application without a join.
INSERT INTO applications (iin, person, birth_date, settlement, address, polyclinic_id, channel,
                          grounds, status, campaign_year, decided_at, district_id, effective_on)
SELECT r.iin,
       jsonb_build_object('iin', r.iin, 'last_name', 'Сәрсенбаев', 'first_name', 'Ерлан',
                          'middle_name', 'Қайратұлы', 'birth_date', iin_birth_date(r.iin),
                          'sex', iin_sex(r.iin), 'residency', 'citizen'),
       iin_birth_date(r.iin), '000000001', 'көше', 1, 'egov', 'relocation', 'approved',
       extract(year FROM r.valid_from)::int, r.valid_from - 1, r.district_id, r.valid_from
FROM register r
WHERE r.i % :polyclinics = 0
ORDER BY r.i;
SELECT (SELECT count(*) = max(id) AND min(id) = 1 FROM applications) AS apps_as_expected \gset
\if :apps_as_expected
\else
\echo 'application ids are not 1..N: run on a freshly migrated database'
\quit 3
\endif

-- Loaded as attachd import loads a large file (migrations/0010): attachments locked against
-- every other writer, its secondary indexes and foreign keys off for the load and rebuilt from
-- their own definitions after it, the per-row triggers disabled (migrations/0026: the IINs are
-- unique, so nothing overlaps; nopen is recounted below).
BEGIN;
LOCK TABLE attachments IN ACCESS EXCLUSIVE MODE;
SELECT attachments_bulk_drop();
SELECT attachments_bulk_triggers(false);
INSERT INTO attachments (iin, polyclinic_id, district_id, valid_from, valid_to, application_id)
SELECT r.iin, r.polyclinic_id, r.district_id, r.valid_from, r.valid_to,
       CASE WHEN r.i % :polyclinics = 0 THEN r.i / :polyclinics + 1 END
FROM register r;
SELECT attachments_bulk_triggers(true);
SET LOCAL maintenance_work_mem = '1GB';
SET LOCAL max_parallel_maintenance_workers = 2;
SELECT attachments_bulk_rebuild();
COMMIT;
UPDATE districts d SET nopen = c.n
FROM (SELECT district_id, count(*)::int AS n FROM attachments
      WHERE NOT cancelled AND valid_to IS NULL GROUP BY district_id) c
WHERE c.district_id = d.id;
SELECT districts_leaving_recount(ARRAY(SELECT id FROM districts)) AS recounted \gset
VACUUM (ANALYZE) attachments;
VACUUM (ANALYZE) applications;
ANALYZE districts;
ANALYZE polyclinics;
