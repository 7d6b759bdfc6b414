-- demo-seed.sql — a demo catalogue for a synthetic city, for development and the demo instance.
--
-- NOT a migration: the start script runs it on a fresh dev database after `attachd migrate`.
-- Idempotent: every insert is guarded by WHERE NOT EXISTS (so identity sequences do not advance)
-- and ON CONFLICT DO NOTHING, so a second run changes nothing. Deterministic: no random(); every
-- value is a formula of the polyclinic's ordinal n (1..75) and the district's ordinal i.
-- Plain SQL only (no psql meta-commands) so it can be fed to psql or to PQexec alike.
--
-- What it creates:
--   settlements  Demo city (751110000) and two neighbouring villages (KATO codes are demo values);
--   polyclinics  75: n = 1..73 in the city, n = 74, 75 village medical outpatient clinics;
--                private iff n % 10 IN (3, 6, 9) (22 private, 53 public); one private clinic in
--                four has no Fund contract (fsms_contract false); n % 17 = 0 do not take part
--                (accepting false); n % 14 = 5 auto-approve;
--                BIN: YYMM || '40' || 5-digit serial || check digit, the first candidate serial
--                whose check digit exists (candidates whose checksum would be 10 twice are skipped);
--   also_serves  a few city polyclinics serve the villages, and each village clinic the other;
--   districts    8..20 per polyclinic, numbered "1".."N": mostly gp with every third therapist,
--                the last 0..2 pediatric; capacities 85..100 % of the norm (rounded down to 10);
--                a few closed.

BEGIN;

-- The BIN check digit, only to make demo numbers (the service's one definition is
-- src/domain/kzid.c; the schema keeps only the shape since migrations/0005). Both sums of SPEC
-- §4 in one expression over the 11 digits; 10 twice is never issued.
CREATE FUNCTION pg_temp.demo_bin_ok(t text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT substr(t, 5, 1) IN ('4', '5', '6') AND CASE s1 % 11
        WHEN 10 THEN s2 % 11 <> 10 AND s2 % 11 = d12
        ELSE s1 % 11 = d12 END
    FROM (SELECT sum(substr(t, i, 1)::int * i) AS s1,
                 sum(substr(t, i, 1)::int * ((i + 1) % 11 + 1)) AS s2,
                 substr(t, 12, 1)::int AS d12
          FROM generate_series(1, 11) AS i) AS sums
$$;

-- Settlements ---------------------------------------------------------------------------------
INSERT INTO settlements (kato, name_kk, name_ru)
SELECT s.kato, s.name_kk, s.name_ru
FROM (VALUES
    ('751110000', 'Демо қаласы',   'город Демо'),
    ('195620100', 'Іргелі ауылы',  'село Иргели'),
    ('196243300', 'Бесағаш ауылы', 'село Бесагаш')
) AS s(kato, name_kk, name_ru)
WHERE NOT EXISTS (SELECT 1 FROM settlements x WHERE x.kato = s.kato)
ON CONFLICT DO NOTHING;

-- Polyclinics ---------------------------------------------------------------------------------
-- demo_clinics (a temporary table, dropped at COMMIT) holds all 75 demo rows with their ordinal n;
-- the polyclinics, border areas and districts below are all keyed by its BIN, so a re-run
-- recognises exactly the demo polyclinics and never touches one an admin created by hand.
CREATE TEMPORARY TABLE demo_clinics ON COMMIT DROP AS
WITH ordinals AS (
    SELECT n,
           n % 10 IN (3, 6, 9) AS private
    FROM generate_series(1, 75) AS n
),
numbered AS (
    -- k: the ordinal among clinics of the same ownership, used in names.
    SELECT n, private,
           row_number() OVER (PARTITION BY private ORDER BY n) AS k
    FROM ordinals
),
bins AS (
    -- For each n, try serial variants v = 0..4 and every check digit c = 0..9; demo_bin_ok() keeps
    -- the one right check digit, and DISTINCT ON takes the first variant that has one.
    SELECT DISTINCT ON (n) n, bin
    FROM (
        SELECT o.n, v,
               lpad(((95 + o.n * 7 % 25) % 100)::text, 2, '0')     -- registration year YY
               || lpad((1 + o.n * 5 % 12)::text, 2, '0')           -- registration month MM
               || '40'                                             -- resident legal entity, head office
               || lpad(((o.n * 1301 + v * 17) % 100000)::text, 5, '0')
               || c::text AS bin
        FROM ordinals o
        CROSS JOIN generate_series(0, 4) AS v
        CROSS JOIN generate_series(0, 9) AS c
    ) AS candidates
    WHERE pg_temp.demo_bin_ok(bin)
    ORDER BY n, v
),
private_names AS (
    SELECT * FROM (VALUES
        ( 1, 'Шипагер',    'Шипагер'),
        ( 2, 'Денсаулық',  'Денсаулык'),
        ( 3, 'Авиценна',   'Авиценна'),
        ( 4, 'Мейірім',    'Мейирим'),
        ( 5, 'Сенім',      'Сеним'),
        ( 6, 'Ақ Ниет',    'Ак Ниет'),
        ( 7, 'Жанұя',      'Жануя'),
        ( 8, 'Береке',     'Береке'),
        ( 9, 'Өмір',       'Омир'),
        (10, 'Нұр Медикал','Нур Медикал'),
        (11, 'Алатау Мед', 'Алатау Мед'),
        (12, 'Гиппократ',  'Гиппократ'),
        (13, 'Саулық',     'Саулык'),
        (14, 'Сұңқар',     'Сункар'),
        (15, 'Достық',     'Достык'),
        (16, 'Керуен',     'Керуен'),
        (17, 'Тұмар',      'Тумар'),
        (18, 'Ақжол',      'Акжол'),
        (19, 'Ару Мед',    'Ару Мед'),
        (20, 'Сапа',       'Сапа'),
        (21, 'Бәйтерек',   'Байтерек'),
        (22, 'Шұғыла',     'Шугыла')
    ) AS t(k, kk, ru)
),
streets AS (
    SELECT * FROM (VALUES
        ( 0, 'пр. Абая'),          ( 1, 'ул. Толе би'),       ( 2, 'пр. Райымбека'),
        ( 3, 'ул. Жандосова'),     ( 4, 'пр. Аль-Фараби'),    ( 5, 'ул. Сатпаева'),
        ( 6, 'пр. Достык'),        ( 7, 'ул. Жибек Жолы'),    ( 8, 'пр. Суюнбая'),
        ( 9, 'ул. Шевченко'),      (10, 'ул. Утеген батыра'), (11, 'мкр. Аксай-4'),
        (12, 'мкр. Орбита-2'),     (13, 'мкр. Жетысу-3'),     (14, 'ул. Бокейханова'),
        (15, 'ул. Момышулы'),      (16, 'ул. Навои'),         (17, 'пр. Рыскулова'),
        (18, 'ул. Макатаева'),     (19, 'ул. Карасай батыра')
    ) AS t(j, street)
)
SELECT
        m.n,
        b.bin,
        CASE
            WHEN m.n = 74 THEN 'Іргелі ауылдық дәрігерлік амбулаториясы'
            WHEN m.n = 75 THEN 'Бесағаш ауылдық дәрігерлік амбулаториясы'
            WHEN m.private AND m.k % 5 = 0 THEN '«' || pn.kk || '» отбасылық клиникасы'
            WHEN m.private THEN '«' || pn.kk || '» медициналық орталығы'
            ELSE '№ ' || m.k || ' қалалық емхана'
        END AS name_kk,
        CASE
            WHEN m.n = 74 THEN 'Сельская врачебная амбулатория села Иргели'
            WHEN m.n = 75 THEN 'Сельская врачебная амбулатория села Бесагаш'
            WHEN m.private AND m.k % 5 = 0 THEN 'Семейная клиника «' || pn.ru || '»'
            WHEN m.private THEN 'Медицинский центр «' || pn.ru || '»'
            ELSE 'Городская поликлиника № ' || m.k
        END AS name_ru,
        CASE m.n WHEN 74 THEN '195620100' WHEN 75 THEN '196243300' ELSE '751110000' END
            AS settlement,
        CASE
            WHEN m.n = 74 THEN 'с. Иргели, ул. Абая, 12'
            WHEN m.n = 75 THEN 'с. Бесагаш, ул. Рыскулова, 3'
            ELSE 'г. Демо, ' || st.street || ', ' || (m.n * 13 % 240 + 1)
        END AS address,
        CASE m.n WHEN 74 THEN 43.2050 WHEN 75 THEN 43.3450
                 ELSE round(43.20 + (m.n * 37 % 151) / 1000.0, 4) END::double precision AS lat,
        CASE m.n WHEN 74 THEN 76.8050 WHEN 75 THEN 76.9950
                 ELSE round(76.80 + (m.n * 53 % 201) / 1000.0, 4) END::double precision AS lon,
        CASE WHEN m.private THEN 'private' ELSE 'public' END AS ownership,
        NOT (m.private AND m.k % 4 = 1) AS fsms_contract,
        m.n % 17 <> 0 AS accepting,
        m.n % 14 = 5 AS auto_approve
    FROM numbered m
    JOIN bins b ON b.n = m.n
    LEFT JOIN private_names pn ON m.private AND pn.k = m.k
    JOIN streets st ON st.j = m.n % 20;

INSERT INTO polyclinics (bin, name_kk, name_ru, settlement, address, lat, lon, ownership,
                         fsms_contract, accepting, auto_approve)
SELECT bin, name_kk, name_ru, settlement, address, lat, lon, ownership,
       fsms_contract, accepting, auto_approve
FROM demo_clinics d
WHERE NOT EXISTS (SELECT 1 FROM polyclinics p WHERE p.bin = d.bin)
ORDER BY d.n
ON CONFLICT DO NOTHING;

-- Border areas --------------------------------------------------------------------------------
-- By ordinal n: city polyclinics near the edge serve the villages, each village clinic the other.
INSERT INTO polyclinic_also_serves (polyclinic_id, kato)
SELECT p.id, a.kato
FROM (VALUES
    ( 1, '195620100'),
    ( 7, '195620100'),
    (13, '195620100'),
    (10, '196243300'),
    (28, '196243300'),
    (74, '196243300'),
    (75, '195620100')
) AS a(n, kato)
JOIN demo_clinics d ON d.n = a.n
JOIN polyclinics p ON p.bin = d.bin
WHERE NOT EXISTS (SELECT 1 FROM polyclinic_also_serves x
                  WHERE x.polyclinic_id = p.id AND x.kato = a.kato)
ON CONFLICT DO NOTHING;

-- Districts -----------------------------------------------------------------------------------
WITH plan AS (
    SELECT p.id AS polyclinic_id, d.n, i,
           8 + d.n * 7 % 13 AS ndistricts,   -- 8..20
           d.n % 3 AS npediatric             -- 0..2, the last districts
    FROM demo_clinics d
    JOIN polyclinics p ON p.bin = d.bin
    CROSS JOIN LATERAL generate_series(1, 8 + d.n * 7 % 13) AS i
),
kinded AS (
    SELECT polyclinic_id, n, i,
           CASE
               WHEN i > ndistricts - npediatric AND (n + i) % 2 = 0 THEN 'pediatric_0_14'
               WHEN i > ndistricts - npediatric THEN 'pediatric_0_6'
               WHEN i % 3 = 0 THEN 'therapist'
               ELSE 'gp'
           END AS kind
    FROM plan
)
INSERT INTO districts (polyclinic_id, number, kind, capacity, open)
SELECT k.polyclinic_id, k.i::text, k.kind,
       (dk.norm * (100 - (k.n * 31 + k.i * 17) % 4 * 5) / 100) / 10 * 10,  -- 100/95/90/85 %
       (k.n + k.i) % 23 <> 0
FROM kinded k
JOIN district_kinds dk ON dk.code = k.kind
WHERE NOT EXISTS (SELECT 1 FROM districts x
                  WHERE x.polyclinic_id = k.polyclinic_id AND x.number = k.i::text)
ORDER BY k.polyclinic_id, k.i
ON CONFLICT DO NOTHING;

COMMIT;
