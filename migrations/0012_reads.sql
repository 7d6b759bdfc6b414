-- Reads on a 20 M register (issue 10, bench/README.md "Reads on a 20 M register").
--
-- polyclinic_population() counted its people through polyclinic_attached(), the list: a join to
-- the district (for its number, which the counts do not show) and to the application for every
-- person, then iin_birth_date() (PL/pgSQL), age() and age_band() once per person, and the
-- people scanned again for each of the four groupings: about 1.1 s per 100 000 people.
-- Now the people are read from attachments_population alone (an index-only scan: district,
-- IIN, dates and application id are in the index), the application only for those who have
-- one, and the birth date and sex decoded once per group of people who share what decides them
-- (the application's birth date and sex, or the IIN's first seven digits, all that
-- iin_birth_date() and iin_sex() read). Same people, same counts: the list stays the
-- definition (test_counts_by_district_sex_and_age_band_sum_to_the_list holds them together).
CREATE OR REPLACE FUNCTION polyclinic_population(p_polyclinic bigint, p_on date) RETURNS json
LANGUAGE sql STABLE AS $$
    WITH people AS MATERIALIZED (
        -- The rows of polyclinic_attached(p_polyclinic, p_on, NULL, 0, 0, NULL).
        SELECT a.district_id, a.iin, ap.birth_date AS app_birth, ap.person->>'sex' AS app_sex
        FROM attachments a
        LEFT JOIN applications ap ON ap.id = a.application_id
        WHERE a.polyclinic_id = p_polyclinic
          AND NOT a.cancelled
          AND a.valid_from <= p_on
          AND (a.valid_to IS NULL OR a.valid_to > p_on)
    ), decoded AS (
        -- As the list shows them: coalesce(the application's, what the IIN encodes). The age is
        -- age_on() written out on timestamps: age_on(date, date) calls the timestamptz age(),
        -- which is only STABLE, so the IMMUTABLE age_on() is never inlined and each call ran as
        -- a SQL function (about 14 us). OFFSET 0 keeps the age a column of its own: age_band()
        -- refers to its argument several times and is inlined only over a plain column.
        SELECT coalesce(g.app_sex, iin_sex(g.prefix || '00000'), 'unknown') AS sex,
               extract(year FROM age(p_on::timestamp, coalesce(g.app_birth,
                   iin_birth_date(g.prefix || '00000'))::timestamp))::int AS years,
               g.n
        FROM (SELECT CASE WHEN app_birth IS NULL OR app_sex IS NULL THEN left(iin, 7) END AS prefix,
                     app_birth, app_sex, count(*) AS n
              FROM people
              GROUP BY 1, 2, 3) g
        OFFSET 0
    ), facts AS (
        SELECT sex, coalesce(age_band(years), 'unknown') AS band, n FROM decoded
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
                   LEFT JOIN (SELECT sex, sum(n)::bigint AS n FROM facts GROUP BY sex) c
                          ON c.sex = k.key),
        'by_age_band', (SELECT json_object_agg(b.key, coalesce(c.n, 0) ORDER BY b.ord)
                        FROM bands b
                        LEFT JOIN (SELECT band, sum(n)::bigint AS n FROM facts GROUP BY band) c
                               ON c.band = b.key))
    FROM polyclinics p
    WHERE p.id = p_polyclinic
$$;
