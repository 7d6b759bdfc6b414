-- 0001_catalogues.sql — catalogues of attachd (SPEC §2, §4, §6).
--
-- Run once by `attachd migrate` inside a single transaction: no BEGIN/COMMIT here.
-- The C code validates requests too, but the constraints below are the last line of defence:
-- a bug in C must not be able to store an invalid BIN, a district above its norm, or two
-- overlapping campaigns.

-- btree_gist: exclusion constraints that mix scalar equality with range overlap (later migrations:
-- one attachment per person per date).
CREATE EXTENSION IF NOT EXISTS btree_gist;

------------------------------------------------------------------------------------------------
-- Identification numbers (§4)
------------------------------------------------------------------------------------------------

-- kz_checksum_ok: true iff t is exactly 12 ASCII digits and its 12th digit is the check digit
-- of the first 11: sum(d_i * i) mod 11 with weights 1..11; if that is 10, again with weights
-- 3,4,5,6,7,8,9,10,11,1,2; if that is 10 too the number is never issued (false).
-- NULL gives false. IMMUTABLE so that CHECK constraints and indexes may use it.
CREATE FUNCTION kz_checksum_ok(t text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    d  int;
    s1 int := 0;
    s2 int := 0;
    k  int;
BEGIN
    IF t IS NULL OR t !~ '^[0-9]{12}$' THEN
        RETURN false;
    END IF;
    FOR i IN 1..11 LOOP
        d := ascii(substr(t, i, 1)) - 48;
        s1 := s1 + d * i;
        s2 := s2 + d * ((i + 1) % 11 + 1);   -- 3,4,...,11,1,2
    END LOOP;
    k := s1 % 11;
    IF k = 10 THEN
        k := s2 % 11;
        IF k = 10 THEN
            RETURN false;
        END IF;
    END IF;
    RETURN k = ascii(substr(t, 12, 1)) - 48;
END
$$;

-- iin_valid: an individual's IIN (YYMMDD C NNNN K): checksum and a 5th digit of 0..3
-- (the tens of the month).
CREATE FUNCTION iin_valid(t text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT kz_checksum_ok(t) AND substr(t, 5, 1) IN ('0', '1', '2', '3')
$$;

-- bin_valid: a legal entity's BIN (YYMM T A NNNNN K): same checksum, 5th digit (entity type) 4..6.
CREATE FUNCTION bin_valid(t text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT kz_checksum_ok(t) AND substr(t, 5, 1) IN ('4', '5', '6')
$$;

------------------------------------------------------------------------------------------------
-- Settlements
------------------------------------------------------------------------------------------------

-- A settlement is named by its KATO code; attachment is only allowed within one (§2). The code is
-- fixed-width digits so "75111000" or " 751110000" can never be a second key for the same place.
CREATE TABLE settlements (
    kato       char(9)     PRIMARY KEY CHECK (kato ~ '^[0-9]{9}$'),
    name_kk    text        NOT NULL CHECK (length(name_kk) BETWEEN 1 AND 200),
    name_ru    text        NOT NULL CHECK (length(name_ru) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now()
);

------------------------------------------------------------------------------------------------
-- District kinds and their norms
------------------------------------------------------------------------------------------------

-- Kinds of district and the population norm of each (§2). Fixed by regulation: the seed below is
-- exact, and a district's capacity is held at or below its kind's norm by a trigger on districts.
-- Ages are whole years; max_age NULL = no upper limit.
CREATE TABLE district_kinds (
    code    text PRIMARY KEY,
    norm    int  NOT NULL CHECK (norm > 0),
    min_age int  NOT NULL CHECK (min_age >= 0),
    max_age int  NULL CHECK (max_age IS NULL OR max_age >= min_age),
    sort    int  NOT NULL
);

INSERT INTO district_kinds (code, norm, min_age, max_age, sort) VALUES
    ('gp',             1700,  0, NULL, 1),
    ('therapist',      2200, 15, NULL, 2),
    ('pediatric_0_6',   500,  0,    6, 3),
    ('pediatric_0_14',  900,  0,   14, 4);

------------------------------------------------------------------------------------------------
-- Refusal reasons
------------------------------------------------------------------------------------------------

-- Refusals are data (§3): applications reference a stable code; titles are shown to people in
-- three languages. `official` marks the four reasons named by the regulation.
CREATE TABLE refusal_reasons (
    code     text    PRIMARY KEY CHECK (code ~ '^[A-Z][A-Z0-9_]{0,63}$'),
    title_kk text    NOT NULL CHECK (length(title_kk) >= 1),
    title_ru text    NOT NULL CHECK (length(title_ru) >= 1),
    title_en text    NOT NULL CHECK (length(title_en) >= 1),
    official boolean NOT NULL DEFAULT false,
    sort     int     NOT NULL
);

INSERT INTO refusal_reasons (code, title_kk, title_ru, title_en, official, sort) VALUES
    ('INVALID_DATA',
     'Өтініштегі деректер дұрыс емес',
     'Неверные данные в заявлении',
     'The application contains invalid data',
     true, 1),
    ('OTHER_SETTLEMENT',
     'Өтініш беруші емхана қызмет көрсетпейтін басқа елді мекенде тұрады',
     'Заявитель проживает в другом населённом пункте, который поликлиника не обслуживает',
     'The applicant lives in another settlement that the polyclinic does not serve',
     true, 2),
    ('CAPACITY_EXCEEDED',
     'Тиісті учаскелерде бекітілген халықтың нормативтік саны толған',
     'Превышена нормативная численность прикреплённого населения на участках',
     'No district of a fitting kind has free places',
     true, 3),
    ('CHILD_DOCUMENTS_MISSING',
     'Кәмелетке толмағанның заңды өкілі немесе туу туралы куәлігі туралы деректер жоқ',
     'Отсутствуют данные законного представителя или свидетельства о рождении несовершеннолетнего',
     'The legal representative or birth certificate data of the minor are missing',
     true, 4),
    ('NOT_ELIGIBLE',
     'Тұру мәртебесі емханаға бекітілуге құқық бермейді',
     'Статус проживания не даёт права на прикрепление',
     'The residency status gives no right to attachment',
     false, 5),
    ('OUTSIDE_CAMPAIGN',
     'Өтініш бекіту науқанының мерзімінен тыс берілген',
     'Заявление подано вне сроков кампании прикрепления',
     'The application was submitted outside the attachment campaign',
     false, 6),
    ('CLINIC_NOT_ACCEPTING',
     'Емхана бекіту науқанына қатыспайды немесе келесі жылға Әлеуметтік медициналық сақтандыру қорымен шарты жоқ',
     'Поликлиника не участвует в кампании прикрепления или не имеет договора с Фондом социального медицинского страхования на следующий год',
     'The polyclinic does not take part in the campaign or has no contract with the Social Health Insurance Fund for the coming year',
     false, 7),
    ('ALREADY_ATTACHED',
     'Адам осы емханаға бекітілген немесе бекітуге мақұлданған',
     'Лицо уже прикреплено (или одобрено к прикреплению) к этой поликлинике',
     'The person is already attached (or approved to be attached) to this polyclinic',
     false, 8),
    ('REPEAT_CHANGE',
     'Адам осы жылы емхананы ауыстырудың рұқсат етілген санын пайдаланып қойған',
     'Лицо уже использовало разрешённое число смен поликлиники в этом году',
     'The person has already used the changes of polyclinic allowed this year',
     false, 9);

------------------------------------------------------------------------------------------------
-- Polyclinics
------------------------------------------------------------------------------------------------

-- A PHC organisation (§2). The BIN is its legal identity: unique, and checked so that a typo can
-- never create a second polyclinic. Its settlement decides who may attach (OTHER_SETTLEMENT).
CREATE TABLE polyclinics (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    bin           char(12)         NOT NULL UNIQUE CHECK (bin_valid(bin)),
    name_kk       text             NOT NULL CHECK (length(name_kk) BETWEEN 1 AND 500),
    name_ru       text             NOT NULL CHECK (length(name_ru) BETWEEN 1 AND 500),
    settlement    char(9)          NOT NULL REFERENCES settlements,
    address       text             NOT NULL DEFAULT '',
    lat           double precision CHECK (lat BETWEEN -90 AND 90),
    lon           double precision CHECK (lon BETWEEN -180 AND 180),
    ownership     text             NOT NULL CHECK (ownership IN ('public', 'private')),
    fsms_contract boolean          NOT NULL DEFAULT true,
    accepting     boolean          NOT NULL DEFAULT true,
    auto_approve  boolean          NOT NULL DEFAULT false,
    created_at    timestamptz      NOT NULL DEFAULT now(),
    updated_at    timestamptz      NOT NULL DEFAULT now()
);

CREATE INDEX polyclinics_settlement_idx ON polyclinics (settlement);

-- Keeps updated_at honest whatever the client sends.
CREATE FUNCTION polyclinics_touch() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

CREATE TRIGGER polyclinics_touch
    BEFORE UPDATE ON polyclinics
    FOR EACH ROW EXECUTE FUNCTION polyclinics_touch();

-- Border areas (§2): residents of these settlements may also attach to the polyclinic.
-- The (kato) index answers "which polyclinics serve this settlement" for the settlement check and
-- the search.
CREATE TABLE polyclinic_also_serves (
    polyclinic_id bigint  NOT NULL REFERENCES polyclinics ON DELETE CASCADE,
    kato          char(9) NOT NULL REFERENCES settlements,
    PRIMARY KEY (polyclinic_id, kato)
);

CREATE INDEX polyclinic_also_serves_kato_idx ON polyclinic_also_serves (kato);

------------------------------------------------------------------------------------------------
-- Districts
------------------------------------------------------------------------------------------------

-- A district (учаске / участок) of a polyclinic (§2): number unique inside the polyclinic,
-- capacity never above its kind's norm. `nopen` counts the district's open-ended attachments and
-- is maintained by a trigger of a later migration; the capacity check at approval time relies on
-- it, under the district's row lock.
CREATE TABLE districts (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    polyclinic_id bigint      NOT NULL REFERENCES polyclinics,
    number        text        NOT NULL CHECK (number ~ '^[0-9A-Za-z/-]{1,16}$'),
    kind          text        NOT NULL REFERENCES district_kinds,
    capacity      int         NOT NULL CHECK (capacity > 0),
    open          boolean     NOT NULL DEFAULT true,
    nopen         int         NOT NULL DEFAULT 0 CHECK (nopen >= 0),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (polyclinic_id, number)
);

CREATE INDEX districts_polyclinic_idx ON districts (polyclinic_id);

-- districts_capacity_within_norm: BEFORE INSERT OR UPDATE on districts.
--  * A missing (NULL) capacity defaults to the kind's norm (§2 "defaults to its kind's norm").
--  * A capacity above the kind's norm is rejected with SQLSTATE 23514 (check_violation), which the
--    API maps to 422. On UPDATE this is checked only when capacity or kind change, so that the
--    bookkeeping updates of `nopen` never fail.
--  * updated_at is set on every update that changes the district itself (not just `nopen`).
-- An unknown kind is left to the foreign key (23503).
CREATE FUNCTION districts_capacity_within_norm() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    kind_norm int;
BEGIN
    IF TG_OP = 'INSERT' OR NEW.capacity IS DISTINCT FROM OLD.capacity
                        OR NEW.kind IS DISTINCT FROM OLD.kind THEN
        SELECT k.norm INTO kind_norm FROM district_kinds k WHERE k.code = NEW.kind;
        IF NEW.capacity IS NULL THEN
            NEW.capacity := kind_norm;
        END IF;
        IF kind_norm IS NOT NULL AND NEW.capacity > kind_norm THEN
            RAISE EXCEPTION 'district capacity % exceeds the norm % of kind "%"',
                            NEW.capacity, kind_norm, NEW.kind
                USING ERRCODE = 'check_violation',
                      TABLE = 'districts',
                      COLUMN = 'capacity',
                      CONSTRAINT = 'districts_capacity_within_norm';
        END IF;
    END IF;
    IF TG_OP = 'UPDATE'
       AND (NEW.polyclinic_id, NEW.number, NEW.kind, NEW.capacity, NEW.open)
           IS DISTINCT FROM (OLD.polyclinic_id, OLD.number, OLD.kind, OLD.capacity, OLD.open) THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER districts_capacity_within_norm
    BEFORE INSERT OR UPDATE ON districts
    FOR EACH ROW EXECUTE FUNCTION districts_capacity_within_norm();

------------------------------------------------------------------------------------------------
-- Campaigns
------------------------------------------------------------------------------------------------

-- One campaign per year (§2). Windows are inclusive on both ends and never overlap (the exclusion
-- constraint), so "the campaign open on date D" is always at most one row. A whole-year campaign
-- (1 Jan – 31 Dec) is allowed, hence effective_on >= opens_on rather than > closes_on.
CREATE TABLE campaigns (
    year         int  PRIMARY KEY CHECK (year BETWEEN 2000 AND 9998),
    opens_on     date NOT NULL,
    closes_on    date NOT NULL,
    effective_on date NOT NULL,
    max_changes  int  NOT NULL DEFAULT 1 CHECK (max_changes >= 0),
    CONSTRAINT campaigns_window_order CHECK (opens_on <= closes_on),
    CONSTRAINT campaigns_effective_after_open CHECK (effective_on >= opens_on),
    CONSTRAINT campaigns_no_overlap
        EXCLUDE USING gist (daterange(opens_on, closes_on, '[]') WITH &&)
);

-- A fresh database has the campaign of the current year (Asia/Almaty) with the default dates.
INSERT INTO campaigns (year, opens_on, closes_on, effective_on, max_changes)
SELECT y, make_date(y, 9, 1), make_date(y, 11, 1), make_date(y + 1, 1, 1), 1
FROM (SELECT extract(year FROM now() AT TIME ZONE 'Asia/Almaty')::int AS y) AS current_year;

------------------------------------------------------------------------------------------------
-- Holidays
------------------------------------------------------------------------------------------------

-- Public holidays: working days (decision deadlines, §3) skip them and weekends. Seeded with the
-- fixed-date holidays of Kazakhstan for 2020..2040; movable ones (Kurban Ait) and the government's
-- yearly day-off transfers are added through the admin API.
CREATE TABLE holidays (
    day  date PRIMARY KEY,
    name text NOT NULL CHECK (length(name) >= 1)
);

INSERT INTO holidays (day, name)
SELECT make_date(y.y, h.month, h.day), h.name
FROM generate_series(2020, 2040) AS y(y)
CROSS JOIN (VALUES
    ( 1,  1, 'Новый год'),
    ( 1,  2, 'Новый год'),
    ( 1,  7, 'Православное Рождество'),
    ( 3,  8, 'Международный женский день'),
    ( 3, 21, 'Наурыз мейрамы'),
    ( 3, 22, 'Наурыз мейрамы'),
    ( 3, 23, 'Наурыз мейрамы'),
    ( 5,  1, 'Праздник единства народа Казахстана'),
    ( 5,  7, 'День защитника Отечества'),
    ( 5,  9, 'День Победы'),
    ( 7,  6, 'День столицы'),
    ( 8, 30, 'День Конституции Республики Казахстан'),
    (10, 25, 'День Республики'),
    (12, 16, 'День Независимости')
) AS h(month, day, name);

------------------------------------------------------------------------------------------------
-- API tokens
------------------------------------------------------------------------------------------------

-- Bearer tokens (§6). Only the SHA-256 of the secret is stored (32 bytes, unique so that a lookup
-- by hash finds one token). A registrar is bound to exactly one polyclinic and the other roles to
-- none. Revocation keeps the row (revoked_at) for the audit trail.
CREATE TABLE tokens (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text        NOT NULL DEFAULT '',
    role          text        NOT NULL CHECK (role IN ('admin', 'portal', 'registrar')),
    polyclinic_id bigint      REFERENCES polyclinics,
    hash          bytea       NOT NULL UNIQUE CHECK (length(hash) = 32),
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz,
    CONSTRAINT tokens_registrar_has_polyclinic
        CHECK ((role = 'registrar') = (polyclinic_id IS NOT NULL))
);

CREATE INDEX tokens_polyclinic_idx ON tokens (polyclinic_id) WHERE polyclinic_id IS NOT NULL;
