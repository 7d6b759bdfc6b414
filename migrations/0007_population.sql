-- The polyclinic's attached population on any date, catalogue edits that never strand people,
-- and the reports the ministry publishes (SPEC §11, §12). Every statement here is callable by
-- name in psql, e.g. SELECT campaign_stats(2026, NULL, NULL);

-- ---- what an IIN encodes (§4) -----------------------------------------------------------------
-- The birth date and sex an IIN encodes, for attachments without an application (imported ones):
-- the same rule as iin_facts() in src/domain/kzid.c (century and sex from the 7th digit: 1/2
-- 1800s, 3/4 1900s, 5/6 2000s, odd male). NULL when the 7th digit is outside 1-6 or the date
-- does not exist. No exception block: that would start a subtransaction per row.
CREATE FUNCTION iin_birth_date(t text) RETURNS date
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    century int;
    m int;
    d int;
    day date;
BEGIN
    IF t IS NULL OR t !~ '^[0-9]{12}$' OR substr(t, 7, 1) NOT IN ('1', '2', '3', '4', '5', '6') THEN
        RETURN NULL;
    END IF;
    century := 1800 + 100 * ((ascii(substr(t, 7, 1)) - 49) / 2);
    m := substr(t, 3, 2)::int;
    d := substr(t, 5, 2)::int;
    IF m NOT BETWEEN 1 AND 12 OR d NOT BETWEEN 1 AND 31 THEN
        RETURN NULL;
    END IF;
    day := make_date(century + substr(t, 1, 2)::int, m, 1) + (d - 1);
    RETURN CASE WHEN extract(month FROM day) = m THEN day END;
END $$;

CREATE FUNCTION iin_sex(t text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN substr(t, 7, 1) IN ('1', '3', '5') THEN 'male'
                WHEN substr(t, 7, 1) IN ('2', '4', '6') THEN 'female' END
$$;

-- Whole years from birth to day (NULL when birth is unknown).
CREATE FUNCTION age_on(birth date, day date) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT extract(year FROM age(day, birth))::int
$$;

-- The age bands of the population report: 0, 1-4, 5-9, ..., 80-84, 85+ (unknown: NULL).
CREATE FUNCTION age_band(years int) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN years IS NULL THEN NULL
                WHEN years < 1 THEN '0'
                WHEN years < 5 THEN '1-4'
                WHEN years >= 85 THEN '85+'
                ELSE (years / 5 * 5)::text || '-' || (years / 5 * 5 + 4)::text END
$$;

-- ---- the attached population of a polyclinic (§11) --------------------------------------------
-- A polyclinic's attachments by district then id: the keyset of the list (stable under inserts),
-- its CSV download (pages of this index, flat memory), the population counts and the reports,
-- without a sequential scan of a 20 M register. Cancelled (never served) ones are left out.
-- INCLUDE holds every other column those queries read, so they are index-only scans: a
-- polyclinic's people are spread over the whole table (one row in a heap page or fewer), and
-- fetching 100 000 heap pages for one list would cost more than this index's extra width.
CREATE INDEX attachments_population ON attachments (polyclinic_id, district_id, id)
    INCLUDE (valid_from, valid_to, iin, application_id) WHERE NOT cancelled;

-- The people attached to p_polyclinic on p_on, in (district_id, id) order after the keyset
-- position (p_after_district, p_after_id), at most p_limit (NULL: all). p_district (or NULL)
-- keeps one district: it bounds the index range from above, so a district's page never scans
-- the districts after it. Names, birth date and sex are those of the application that made the
-- attachment; an imported attachment has none, so its names are NULL and its birth date and sex
-- are what the IIN encodes. LANGUAGE sql with one SELECT: inlined into the caller's query, so
-- its plan is the caller's (an index range scan on attachments_population).
CREATE FUNCTION polyclinic_attached(p_polyclinic bigint, p_on date, p_district bigint,
                                    p_after_district bigint, p_after_id bigint, p_limit int)
RETURNS TABLE (id bigint, iin text, last_name text, first_name text, middle_name text,
               birth_date date, sex text, district_id bigint, district_number text,
               valid_from date, valid_to date)
LANGUAGE sql STABLE AS $$
    -- The page is taken from the index first (ordered, limited: the subquery keeps the planner
    -- from joining before it limits), then only its rows are joined to their district and
    -- application. Measured on 20 M rows: joining first cost seconds a page (bench/README.md).
    SELECT t.id, t.iin, ap.person->>'last_name', ap.person->>'first_name',
           ap.person->>'middle_name', coalesce(ap.birth_date, iin_birth_date(t.iin)),
           coalesce(ap.person->>'sex', iin_sex(t.iin)), t.district_id, d.number,
           t.valid_from, t.valid_to
    FROM (SELECT a.id, a.iin, a.district_id, a.application_id, a.valid_from, a.valid_to
          FROM attachments a
          WHERE a.polyclinic_id = p_polyclinic
            AND NOT a.cancelled
            AND (a.district_id, a.id) > (p_after_district, p_after_id)
            AND a.district_id <= coalesce(p_district, 9223372036854775807)
            AND (p_district IS NULL OR a.district_id = p_district)
            AND a.valid_from <= p_on
            AND (a.valid_to IS NULL OR a.valid_to > p_on)
          ORDER BY a.district_id, a.id
          LIMIT p_limit) t
    JOIN districts d ON d.id = t.district_id
    LEFT JOIN applications ap ON ap.id = t.application_id
    ORDER BY t.district_id, t.id
$$;

-- Counts of the people attached to p_polyclinic on p_on: the total, by district (every district
-- of the polyclinic, zeros included), by sex and by age band on that date. Every key is present,
-- with "unknown" for an IIN that encodes no birth date or sex, so each group sums to the total.
-- NULL when there is no such polyclinic.
CREATE FUNCTION polyclinic_population(p_polyclinic bigint, p_on date) RETURNS json
LANGUAGE sql STABLE AS $$
    WITH people AS (
        SELECT x.district_id, coalesce(x.sex, 'unknown') AS sex,
               coalesce(age_band(age_on(x.birth_date, p_on)), 'unknown') AS band
        FROM polyclinic_attached(p_polyclinic, p_on, NULL, 0, 0, NULL) x
    ), bands AS (
        SELECT k.key, k.ord FROM unnest(ARRAY['0', '1-4', '5-9', '10-14', '15-19', '20-24',
            '25-29', '30-34', '35-39', '40-44', '45-49', '50-54', '55-59', '60-64', '65-69',
            '70-74', '75-79', '80-84', '85+', 'unknown']) WITH ORDINALITY k(key, ord)
    )
    SELECT json_build_object(
        'polyclinic_id', p.id,
        'on', to_char(p_on, 'YYYY-MM-DD'),
        'total', (SELECT count(*) FROM people),
        'by_district', (SELECT coalesce(json_agg(json_build_object(
                            'district_id', d.id, 'number', d.number, 'kind', d.kind,
                            'attached', coalesce(c.n, 0)) ORDER BY d.id), '[]')
                        FROM districts d
                        LEFT JOIN (SELECT district_id, count(*) AS n FROM people
                                   GROUP BY district_id) c ON c.district_id = d.id
                        WHERE d.polyclinic_id = p.id),
        'by_sex', (SELECT json_object_agg(k.key, coalesce(c.n, 0) ORDER BY k.ord)
                   FROM unnest(ARRAY['male', 'female', 'unknown']) WITH ORDINALITY k(key, ord)
                   LEFT JOIN (SELECT sex, count(*) AS n FROM people GROUP BY sex) c
                          ON c.sex = k.key),
        'by_age_band', (SELECT json_object_agg(b.key, coalesce(c.n, 0) ORDER BY b.ord)
                        FROM bands b
                        LEFT JOIN (SELECT band, count(*) AS n FROM people GROUP BY band) c
                               ON c.band = b.key))
    FROM polyclinics p
    WHERE p.id = p_polyclinic
$$;

-- ---- catalogue edits never strand people (§11) -----------------------------------------------
-- How many people attached to district p_district, or approved to join it, would not fit the
-- ages of kind p_kind: current ones by their age today, upcoming ones by their age on the day
-- they join. An age that cannot be known (an imported attachment whose IIN encodes no birth
-- date) fits only a kind that serves every age. The caller holds the district's row lock, the
-- lock an approval takes before it attaches anyone there.
CREATE FUNCTION district_kind_misfits(p_district bigint, p_kind text) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT count(*)
    FROM attachments t
    LEFT JOIN applications ap ON ap.id = t.application_id
    CROSS JOIN district_kinds k
    CROSS JOIN LATERAL (SELECT age_on(coalesce(ap.birth_date, iin_birth_date(t.iin)),
                                      greatest(t.valid_from, current_date)) AS years) a
    WHERE k.code = p_kind
      AND t.district_id = p_district
      AND NOT t.cancelled
      AND (t.valid_to IS NULL OR t.valid_to > current_date)
      AND NOT (coalesce(a.years >= k.min_age AND (k.max_age IS NULL OR a.years <= k.max_age),
                        k.min_age = 0 AND k.max_age IS NULL))
$$;

-- How many people a polyclinic holds (attached now or approved to join, and those approved to
-- leave until they leave): who would be stranded by moving it to another settlement.
CREATE FUNCTION polyclinic_live_attachments(p_polyclinic bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT count(*) FROM attachments t
    WHERE t.polyclinic_id = p_polyclinic
      AND NOT t.cancelled
      AND (t.valid_to IS NULL OR t.valid_to > current_date)
$$;

-- ---- reports the ministry publishes (§12) ----------------------------------------------------
-- The polyclinics a report covers: those of p_settlement (NULL: any) and p_polyclinic (NULL: any).
CREATE FUNCTION report_scope(p_settlement text, p_polyclinic bigint) RETURNS SETOF bigint
LANGUAGE sql STABLE AS $$
    SELECT id FROM polyclinics
    WHERE (p_settlement IS NULL OR settlement = p_settlement::bpchar)
      AND (p_polyclinic IS NULL OR id = p_polyclinic)
$$;

-- Counts of a campaign year, narrowed to the polyclinics of report_scope. Applications count at
-- the polyclinic they were made to; a transfer counts when either side is in scope. Transfers
-- by ownership use the ownership each side had on the day of approval (transfers.from_ownership,
-- to_ownership), so later edits of a polyclinic never change past figures; they count moves of
-- people (first attachments as none_to_*), not the age-out moves inside one polyclinic.
-- used_right_of_choice: the people with an approved campaign application that year.
-- NULL when the year has no campaign and no applications, or the settlement or polyclinic is
-- not known.
CREATE FUNCTION campaign_stats(p_year int, p_settlement text, p_polyclinic bigint) RETURNS json
LANGUAGE sql STABLE AS $$
    WITH scope AS (
        SELECT id FROM report_scope(p_settlement, p_polyclinic) AS s(id)
    ), apps AS (
        SELECT a.iin, a.status, a.refusal_code, a.channel, a.grounds FROM applications a
        WHERE a.campaign_year = p_year AND a.polyclinic_id IN (SELECT id FROM scope)
    ), moves AS (
        SELECT coalesce(t.from_ownership, 'none') || '_to_' || t.to_ownership AS ownership
        FROM transfers t
        WHERE t.campaign_year = p_year AND NOT t.cancelled AND t.grounds <> 'age_out'
          AND (t.to_polyclinic_id IN (SELECT id FROM scope)
               OR t.from_polyclinic_id IN (SELECT id FROM scope))
    )
    SELECT json_build_object(
        'year', p_year,
        'settlement', p_settlement,
        'polyclinic_id', p_polyclinic,
        'campaign', (SELECT json_build_object('opens_on', c.opens_on, 'closes_on', c.closes_on,
                                              'effective_on', c.effective_on,
                                              'max_changes', c.max_changes)
                     FROM campaigns c WHERE c.year = p_year),
        'applications', json_build_object(
            'total', (SELECT count(*) FROM apps),
            'used_right_of_choice', (SELECT count(DISTINCT iin) FROM apps
                                     WHERE status = 'approved' AND grounds = 'campaign'),
            'by_status', (SELECT json_object_agg(k.key, (SELECT count(*) FROM apps
                                                         WHERE status = k.key) ORDER BY k.ord)
                          FROM unnest(ARRAY['pending', 'approved', 'refused', 'withdrawn'])
                               WITH ORDINALITY k(key, ord)),
            'by_refusal_reason', (SELECT json_object_agg(r.code, (SELECT count(*) FROM apps
                                                                  WHERE refusal_code = r.code)
                                                         ORDER BY r.sort)
                                  FROM refusal_reasons r),
            'by_channel', (SELECT json_object_agg(k.key, (SELECT count(*) FROM apps
                                                          WHERE channel = k.key) ORDER BY k.ord)
                           FROM unnest(ARRAY['egov', 'in_person']) WITH ORDINALITY k(key, ord)),
            'by_grounds', (SELECT json_object_agg(k.key, (SELECT count(*) FROM apps
                                                          WHERE grounds = k.key) ORDER BY k.ord)
                           FROM unnest(ARRAY['campaign', 'relocation', 'clinic_closed'])
                                WITH ORDINALITY k(key, ord))),
        'transfers', json_build_object(
            'total', (SELECT count(*) FROM moves),
            'by_ownership', (SELECT json_object_agg(k.key, (SELECT count(*) FROM moves
                                                            WHERE ownership = k.key)
                                                    ORDER BY k.ord)
                             FROM unnest(ARRAY['public_to_public', 'public_to_private',
                                               'private_to_public', 'private_to_private',
                                               'none_to_public', 'none_to_private'])
                                  WITH ORDINALITY k(key, ord))))
    WHERE (EXISTS (SELECT 1 FROM campaigns WHERE year = p_year)
           OR EXISTS (SELECT 1 FROM applications WHERE campaign_year = p_year))
      AND (p_settlement IS NULL
           OR EXISTS (SELECT 1 FROM settlements WHERE kato = p_settlement::bpchar))
      AND (p_polyclinic IS NULL OR EXISTS (SELECT 1 FROM polyclinics WHERE id = p_polyclinic))
$$;

-- The people attached on p_on per settlement and polyclinic (every polyclinic in scope, zeros
-- included) and in total, for p_settlement (NULL: every settlement). Counted per polyclinic on
-- attachments_population, one index range per polyclinic.
CREATE FUNCTION attached_stats(p_on date, p_settlement text) RETURNS json
LANGUAGE sql STABLE AS $$
    WITH per_polyclinic AS (
        SELECT p.id, p.settlement, p.name_ru, p.name_kk, p.ownership,
               (SELECT count(*) FROM attachments t
                WHERE t.polyclinic_id = p.id AND NOT t.cancelled AND t.valid_from <= p_on
                  AND (t.valid_to IS NULL OR t.valid_to > p_on)) AS attached
        FROM polyclinics p
        WHERE p_settlement IS NULL OR p.settlement = p_settlement::bpchar
    ), per_settlement AS (
        SELECT s.kato, s.name_kk, s.name_ru, sum(x.attached)::bigint AS attached,
               json_agg(json_build_object('polyclinic_id', x.id, 'name_kk', x.name_kk,
                                          'name_ru', x.name_ru, 'ownership', x.ownership,
                                          'attached', x.attached) ORDER BY x.id) AS polyclinics
        FROM per_polyclinic x JOIN settlements s ON s.kato = x.settlement
        GROUP BY s.kato, s.name_kk, s.name_ru
    )
    SELECT json_build_object(
        'on', to_char(p_on, 'YYYY-MM-DD'),
        'settlement', p_settlement,
        'total', (SELECT coalesce(sum(attached), 0)::bigint FROM per_settlement),
        'settlements', (SELECT coalesce(json_agg(json_build_object(
                                   'kato', kato, 'name_kk', name_kk, 'name_ru', name_ru,
                                   'attached', attached, 'polyclinics', polyclinics)
                               ORDER BY kato), '[]')
                        FROM per_settlement))
    WHERE p_settlement IS NULL OR EXISTS (SELECT 1 FROM settlements WHERE kato = p_settlement::bpchar)
$$;
