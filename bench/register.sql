-- The register of the read scenarios of bench/run.sh (person-attachment-get, population-page;
-- bench/README.md, "Reads on a 20 M register"). Run by psql with -v rows=N on a freshly migrated
-- database; run.sh keeps the cluster and loads again only when bench_register says otherwise.
--
-- The catalogue: P = ceil(N / 33 250) polyclinics (602 for 20 M) in 20 settlements, each with
-- the same 20 districts: 12 gp (norm 1 700), 6 therapist (2 200), one pediatric_0_6 (500), one
-- pediatric_0_14 (900): 35 000 places a polyclinic, 12 040 districts for 20 M people.
-- The register: person k (0 <= k < N) has one attachment. Its polyclinic and district come from
-- slot = k * 1000003 mod N (a permutation of 0..N-1), so a polyclinic's people are spread over
-- the whole table as years of approvals leave them, each district filled in proportion to its
-- capacity (95 % of it at most). One person in ten has left (an attachment that ended a year
-- after it began); one in twenty was attached by an application (names, birth date, sex), the
-- others were imported without one.
--
-- IINs: person k's IIN is computed from k by the same arithmetic here, in bench/wrk/register.lua
-- and in bench/pgbench/person_attachment_get.sql (pgbench draws k and computes the IIN, as a
-- number: so no IIN starts with 0, i.e. nobody is born in 1900-1909 or 2000-2009):
--   t = k % 35280, r = k / 35280
--   birth date: day 1 + t % 28, month 1 + (t / 28) % 12, year 1910 + t / 336 (then 2010 on,
--   for t / 336 >= 90); century-and-sex digit 3 (1900s) or 5 (2000s), plus r % 2 (female);
--   serial s = 10 * ((r / 2) / 5) + 2 * ((r / 2) % 5): its last digit even; the check digit of
--   src/domain/kzid.c. When both weightings give 10 (no IIN is issued so), the serial's last
--   digit goes up by one: that digit weighs 11 = 0 (mod 11) in the first sum, 2 in the second,
--   so the second sum gives 1. The IINs are unique: (t, r) is k, and an odd last digit only
--   comes from that step.
\set ON_ERROR_STOP 1
\timing on
SET maintenance_work_mem = '1GB';
SET max_parallel_maintenance_workers = 2;

SELECT ceil(:rows / 33250.0)::int AS polyclinics \gset
SELECT :rows::bigint / :polyclinics + (:rows::bigint % :polyclinics > 0)::int AS per_polyclinic \gset

CREATE TEMP TABLE pattern (j int PRIMARY KEY, kind text NOT NULL);
INSERT INTO pattern
SELECT j, CASE WHEN j <= 12 THEN 'gp' WHEN j <= 18 THEN 'therapist'
               WHEN j = 19 THEN 'pediatric_0_6' ELSE 'pediatric_0_14' END
FROM generate_series(1, 20) j;

-- The BINs' check digit (pg_temp.check_digit); the IINs use the split sums below.
\ir check_digit.sql

INSERT INTO settlements (kato, name_kk, name_ru)
SELECT '7' || lpad(s::text, 8, '0'), 'Елді мекен ' || s, 'Населённый пункт ' || s
FROM generate_series(1, 20) s;

-- BINs: registered in 2001-01, entity type 4, the polyclinic's number as serial, and the first
-- 6th digit that makes a valid check digit.
INSERT INTO polyclinics (bin, name_kk, name_ru, settlement, address, ownership, fsms_contract,
                         accepting)
SELECT b.bin, 'Емхана ' || n, 'Поликлиника ' || n, '7' || lpad((1 + n % 20)::text, 8, '0'),
       'көше ' || n, CASE WHEN n % 4 = 0 THEN 'private' ELSE 'public' END, true, true
FROM generate_series(1, :polyclinics) n
CROSS JOIN LATERAL (SELECT x || pg_temp.check_digit(x) AS bin
                    FROM generate_series(0, 9) a
                    CROSS JOIN LATERAL (SELECT '01014' || a || lpad(n::text, 5, '0') AS x) y
                    WHERE pg_temp.check_digit(x) IS NOT NULL
                    ORDER BY a LIMIT 1) b
ORDER BY n;

INSERT INTO districts (polyclinic_id, number, kind, capacity)
SELECT p.id, t.j::text, t.kind, k.norm
FROM polyclinics p CROSS JOIN pattern t JOIN district_kinds k ON k.code = t.kind
ORDER BY p.id, t.j;

-- The load computes ids: polyclinics 1..P, districts 1..20P in polyclinic order.
SELECT (SELECT count(*) = :polyclinics AND max(id) = :polyclinics FROM polyclinics)
   AND (SELECT count(*) = 20 * :polyclinics AND max(id) = 20 * :polyclinics FROM districts)
   AND (SELECT count(*) = 0 FROM applications) AND (SELECT count(*) = 0 FROM attachments)
   AS ids_as_expected \gset
\if :ids_as_expected
\else
\echo 'polyclinic or district ids are not 1..N, or the register is not empty: run on a freshly migrated database'
\quit 3
\endif

-- Where each district's people start among a polyclinic's per_polyclinic slots (in proportion
-- to capacity), for width_bucket().
SELECT array_agg(floor(:per_polyclinic::numeric * c / 35000)::int ORDER BY j)::text AS bounds
FROM (SELECT t.j, coalesce(sum(k.norm) OVER (ORDER BY t.j ROWS BETWEEN UNBOUNDED PRECEDING
                                                             AND 1 PRECEDING), 0) AS c
      FROM pattern t JOIN district_kinds k ON k.code = t.kind) x \gset

-- The IIN in two halves whose check sums add up: the birth date and century (t), the sex and
-- serial (r).
CREATE TEMP TABLE iin_dates AS
SELECT t, to_char(y % 100, 'FM00') || to_char(m, 'FM00') || to_char(d, 'FM00') AS ymd, cb,
       (y % 100 / 10) + 2 * (y % 10) + 3 * (m / 10) + 4 * (m % 10) + 5 * (d / 10) + 6 * (d % 10)
           + 7 * cb AS w1,
       3 * (y % 100 / 10) + 4 * (y % 10) + 5 * (m / 10) + 6 * (m % 10) + 7 * (d / 10)
           + 8 * (d % 10) + 9 * cb AS w2,
       make_date(y, m, d) AS birth
FROM generate_series(0, 35279) t
CROSS JOIN LATERAL (SELECT t % 28 + 1 AS d, (t / 28) % 12 + 1 AS m,
                           CASE WHEN t / 336 < 90 THEN 1910 + t / 336 ELSE 1920 + t / 336 END AS y) a
CROSS JOIN LATERAL (SELECT CASE WHEN y < 2000 THEN 3 ELSE 5 END AS cb) b;
ALTER TABLE iin_dates ADD PRIMARY KEY (t);

CREATE TEMP TABLE iin_serials AS
SELECT r, r % 2 AS sexbit, s,
       7 * (r % 2) + 8 * (s / 1000) + 9 * (s / 100 % 10) + 10 * (s / 10 % 10) + 11 * (s % 10) AS w1,
       9 * (r % 2) + 10 * (s / 1000) + 11 * (s / 100 % 10) + (s / 10 % 10) + 2 * (s % 10) AS w2
FROM generate_series(0, :rows::bigint / 35280) r
CROSS JOIN LATERAL (SELECT 10 * ((r / 2) / 5) + 2 * ((r / 2) % 5) AS s) a;
ALTER TABLE iin_serials ADD PRIMARY KEY (r);
ANALYZE iin_dates;
ANALYZE iin_serials;

SELECT gcd(1000003, :rows::bigint) = 1 AS coprime \gset
\if :coprime
\else
\echo 'rows must not be a multiple of 1000003'
\quit 3
\endif

-- Person k of the register: IIN, birth date, sex, polyclinic, district, dates.
CREATE TEMP VIEW register AS
SELECT k, i.iin, dt.birth, CASE WHEN sr.sexbit = 0 THEN 'male' ELSE 'female' END AS sex,
       1 + slot / :per_polyclinic AS polyclinic_id,
       20 * (slot / :per_polyclinic)
           + width_bucket((slot % :per_polyclinic)::int, :'bounds'::int[]) AS district_id,
       DATE '2019-01-01' + (k % 1500)::int AS valid_from,
       CASE WHEN k % 10 = 9 THEN DATE '2019-01-01' + (k % 1500)::int + 365 END AS valid_to
FROM generate_series(0, :rows::bigint - 1) k
JOIN iin_dates dt ON dt.t = k % 35280
JOIN iin_serials sr ON sr.r = k / 35280
CROSS JOIN LATERAL (SELECT (k * 1000003) % :rows AS slot, dt.w1 + sr.w1 AS w1,
                           dt.w2 + sr.w2 AS w2) w
CROSS JOIN LATERAL (SELECT dt.ymd || (dt.cb + sr.sexbit)
           || lpad((sr.s + (w.w1 % 11 = 10 AND w.w2 % 11 = 10)::int)::text, 4, '0')
           || CASE WHEN w.w1 % 11 <> 10 THEN w.w1 % 11 WHEN w.w2 % 11 <> 10 THEN w.w2 % 11
                   ELSE 1 END AS iin) i;

-- The applications of one person in twenty (k % 20 = 0), as an approval leaves them, inserted
-- in order of k: application k / 20 + 1 is person k's. The applications' triggers (events and
-- audit) are off for the load: an imported register has neither.
ALTER TABLE applications DISABLE TRIGGER USER;
INSERT INTO applications (iin, person, birth_date, settlement, address, polyclinic_id, channel,
                          grounds, status, campaign_year, decided_at, district_id, effective_on)
SELECT r.iin,
       jsonb_build_object('iin', r.iin, 'last_name', 'Сәрсенбаев', 'first_name', 'Ерлан',
                          'middle_name', 'Қайратұлы', 'birth_date', r.birth, 'sex', r.sex,
                          'residency', 'citizen'),
       r.birth, p.settlement, 'көше', r.polyclinic_id, 'egov', 'relocation', 'approved',
       extract(year FROM r.valid_from)::int, r.valid_from - 1, r.district_id, r.valid_from
FROM register r JOIN polyclinics p ON p.id = r.polyclinic_id
WHERE r.k % 20 = 0
ORDER BY r.k;
ALTER TABLE applications ENABLE TRIGGER USER;
SELECT (SELECT count(*) = max(id) AND min(id) = 1 FROM applications) AS apps_as_expected \gset
\if :apps_as_expected
\else
\echo 'application ids are not 1..N: run on a freshly migrated database'
\quit 3
\endif

-- The load as attachd import loads a large file (src/db/import.c, migrations/0010): in one
-- transaction, attachments locked against every other writer, its secondary indexes and foreign
-- keys taken off (attachments_bulk_drop: building them once after the load is cheaper than
-- keeping them up to date row by row) and put back after (attachments_bulk_rebuild), with
-- the per-row triggers (nopen, the overlap check) disabled for the insert
-- (attachments_bulk_triggers, migrations/0026): the generated IINs are unique, so nothing
-- overlaps; nopen is recounted below.
BEGIN;
LOCK TABLE attachments IN ACCESS EXCLUSIVE MODE;
SELECT attachments_bulk_drop();
SELECT attachments_bulk_triggers(false);
INSERT INTO attachments (iin, polyclinic_id, district_id, valid_from, valid_to, application_id)
SELECT r.iin, r.polyclinic_id, r.district_id, r.valid_from, r.valid_to,
       CASE WHEN r.k % 20 = 0 THEN r.k / 20 + 1 END
FROM register r;
SELECT attachments_bulk_triggers(true);
SELECT attachments_bulk_rebuild();
COMMIT;

-- districts.nopen as src/db/import.c recounts it.
UPDATE districts d SET nopen = c.n
FROM (SELECT district_id, count(*)::int AS n FROM attachments
      WHERE NOT cancelled AND valid_to IS NULL GROUP BY district_id) c
WHERE c.district_id = d.id;
-- and the leavers (migrations/0023), as it recounts them.
SELECT districts_leaving_recount(ARRAY(SELECT id FROM districts)) AS recounted \gset
SELECT count(*) > 0 AS over_capacity FROM districts WHERE nopen > capacity \gset
\if :over_capacity
\echo 'districts above capacity after the load'
\quit 3
\endif

VACUUM (ANALYZE) attachments;
VACUUM (ANALYZE) applications;
VACUUM (ANALYZE) districts;
VACUUM (ANALYZE) polyclinics;

-- What run.sh reads to reuse this cluster, and the bench's parameters.
CREATE TABLE bench_register (rows bigint NOT NULL, script_md5 text NOT NULL,
                             polyclinics int NOT NULL, loaded_at timestamptz NOT NULL DEFAULT now());
INSERT INTO bench_register (rows, script_md5, polyclinics)
VALUES (:rows, :'script_md5', :polyclinics);
