-- The daily run (SPEC §11 "Children ageing out", "The daily run", "EAEU insurance"; §12 events).
--
-- What protects what:
--  * a child is moved at most once: age_out_move runs under the person's advisory lock (taken
--    by src/db/daily.c first, as approvals do) and only moves an attachment that is still live;
--  * capacity: the district rows are locked before their load is read (src/db/daily.c); the
--    attachments trigger of 0002 re-checks every new open-ended attachment;
--  * attachment.started / attachment.ended are written once per attachment: the unique index
--    events_attachment_once, and daily_attachment_events serialises runs on an advisory lock so
--    a second run sees the first one's events instead of failing on the index.

-- ---- EAEU insurance contracts recorded after the application (PUT /v1/persons/{iin}/insurance)
-- The latest row (highest id) of a person is their known contract; without one, the contract of
-- the application that made the attachment.
CREATE TABLE insurance_contracts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    iin text NOT NULL CHECK (iin ~ '^[0-9]{12}$'),
    number text NOT NULL CHECK (length(number) BETWEEN 1 AND 64),
    valid_until date NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX insurance_contracts_by_iin ON insurance_contracts (iin, id);

-- The last day a person's insurance covers: the latest recorded contract, else the one given in
-- the application (`person` as submitted). NULL when neither names a date.
CREATE FUNCTION insurance_valid_until(p_iin text, p_person jsonb) RETURNS date
LANGUAGE sql STABLE AS $$
    SELECT coalesce(
        (SELECT c.valid_until FROM insurance_contracts c WHERE c.iin = p_iin ORDER BY c.id DESC LIMIT 1),
        CASE WHEN p_person->'insurance_contract'->>'valid_until' ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'
             THEN (p_person->'insurance_contract'->>'valid_until')::date END)
$$;

-- Finding the EAEU attachments without reading every application.
CREATE INDEX applications_eaeu ON applications (id)
    WHERE person->>'residency' IN ('eaeu_migrant', 'eaeu_migrant_family');

-- The birth date an IIN encodes, as the number YYYYMMDD (NULL when the 7th digit gives no
-- century). Only a filter that lets the daily run skip, in SQL, imported children who plainly
-- still fit their district: the rule itself (kzid.c iin_facts, then age_years) is applied in C
-- to whatever passes. As a number it needs no valid calendar date, and compares like one.
CREATE FUNCTION iin_birth_yyyymmdd(p_iin text) RETURNS int LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE substr(p_iin, 7, 1) WHEN '1' THEN 18 WHEN '2' THEN 18 WHEN '3' THEN 19
                                    WHEN '4' THEN 19 WHEN '5' THEN 20 WHEN '6' THEN 20 END
           * 1000000 + substr(p_iin, 1, 6)::int
$$;

-- ---- Children who could not be moved (no fitting district with room) -------------------------
-- One row per attachment still waiting; removed when the child is moved. overdue_since is the
-- birthday that made the district unfit; last_tried_on the latest run date that tried.
CREATE TABLE age_outs_unplaced (
    attachment_id bigint PRIMARY KEY REFERENCES attachments,
    iin text NOT NULL CHECK (iin ~ '^[0-9]{12}$'),
    polyclinic_id bigint NOT NULL REFERENCES polyclinics,
    district_id bigint NOT NULL REFERENCES districts,
    birth_date date NOT NULL,
    overdue_since date NOT NULL,
    last_tried_on date NOT NULL
);
CREATE INDEX age_outs_unplaced_by_polyclinic ON age_outs_unplaced (polyclinic_id, attachment_id);

-- ---- Events of a date --------------------------------------------------------------------------
CREATE UNIQUE INDEX events_attachment_once ON events (type, (data->>'attachment_id'))
    WHERE type IN ('attachment.started', 'attachment.ended');
-- Attachments starting on a date are found through the transfer every approval and every
-- age-out writes (the imported register has none: its starts predate attachd and are not
-- announced); those ending on a date through attachments_leaving (0002). An index on
-- attachments.valid_from would cover the 20 M imported rows and slow `attachd import` by a third.
CREATE INDEX transfers_effective ON transfers (effective_on) WHERE NOT cancelled;

CREATE FUNCTION attachment_event_data(a attachments) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('attachment_id', a.id, 'district_id', a.district_id,
                              'valid_from', a.valid_from, 'valid_to', a.valid_to)
$$;

-- attachment.started for attachments whose valid_from is p_on, attachment.ended for those whose
-- valid_to is p_on, each once (p_polyclinic NULL: every polyclinic). Runs on several hosts
-- queue on the advisory lock; each statement after it (READ COMMITTED) sees the events the
-- others committed, so a second run writes nothing.
CREATE FUNCTION daily_attachment_events(p_on date, p_polyclinic bigint, OUT started bigint,
                                        OUT ended bigint)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('attachd.daily_attachment_events', 0));
    WITH s AS (
        SELECT DISTINCT a.id
        FROM transfers t
        JOIN attachments a ON a.iin = t.iin AND a.valid_from = t.effective_on
                          AND a.district_id = t.to_district_id AND NOT a.cancelled
        WHERE t.effective_on = p_on AND NOT t.cancelled
          AND (p_polyclinic IS NULL OR t.to_polyclinic_id = p_polyclinic)
    ), w AS (
        SELECT emit_event('attachment.started', a.application_id, a.iin, a.polyclinic_id, NULL,
                          attachment_event_data(a))
        FROM s JOIN attachments a ON a.id = s.id
        WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.type = 'attachment.started'
                          AND e.data->>'attachment_id' = a.id::text))
    SELECT count(*) INTO started FROM w;
    WITH w AS (
        SELECT emit_event('attachment.ended', a.application_id, a.iin, a.polyclinic_id, NULL,
                          attachment_event_data(a))
        FROM attachments a
        WHERE a.valid_to = p_on AND NOT a.cancelled
          AND (p_polyclinic IS NULL OR a.polyclinic_id = p_polyclinic)
          AND NOT EXISTS (SELECT 1 FROM events e WHERE e.type = 'attachment.ended'
                          AND e.data->>'attachment_id' = a.id::text))
    SELECT count(*) INTO ended FROM w;
END $$;

-- ---- Age-out: the writes of one move -------------------------------------------------------------
-- Moves attachment p_attachment to district p_district (same polyclinic) from p_on: the old one
-- ends on p_on (cancelled if it starts that day), the new one starts on p_on and ends when the
-- old one would have (an approved move elsewhere still happens), keeping the application that
-- made the attachment (birth date, family, residency stay known). Writes the age_out transfer
-- (not a change of polyclinic; ownership as today on both sides) and the child.aged_out event.
-- The caller holds the person's advisory lock and the district rows, and has checked that the
-- attachment is live on p_on. Returns the new attachment's id.
CREATE FUNCTION age_out_move(p_attachment bigint, p_district bigint, p_on date) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    old attachments;
    new_id bigint;
    v_ownership text;
BEGIN
    SELECT * INTO STRICT old FROM attachments WHERE id = p_attachment;
    IF old.valid_from < p_on THEN
        UPDATE attachments SET valid_to = p_on WHERE id = p_attachment;
    ELSE
        UPDATE attachments SET cancelled = true WHERE id = p_attachment;
    END IF;
    INSERT INTO attachments (iin, polyclinic_id, district_id, valid_from, valid_to, application_id)
    VALUES (old.iin, old.polyclinic_id, p_district, p_on, old.valid_to, old.application_id)
    RETURNING id INTO new_id;
    SELECT p.ownership INTO STRICT v_ownership FROM polyclinics p WHERE p.id = old.polyclinic_id;
    INSERT INTO transfers (iin, from_polyclinic_id, from_district_id, to_polyclinic_id,
                           to_district_id, effective_on, grounds, application_id, campaign_year,
                           counts_as_change, from_ownership, to_ownership)
    VALUES (old.iin, old.polyclinic_id, old.district_id, old.polyclinic_id, p_district, p_on,
            'age_out', NULL, extract(year FROM p_on)::int, false, v_ownership, v_ownership);
    PERFORM emit_event('child.aged_out', old.application_id, old.iin, old.polyclinic_id, NULL,
                       jsonb_build_object(
                           'from_district_id', old.district_id,
                           'from_district_number', (SELECT number FROM districts WHERE id = old.district_id),
                           'to_district_id', p_district,
                           'to_district_number', (SELECT number FROM districts WHERE id = p_district),
                           'previous_attachment_id', old.id, 'attachment_id', new_id,
                           'effective_on', p_on));
    DELETE FROM age_outs_unplaced WHERE attachment_id = p_attachment;
    RETURN new_id;
END $$;

-- ---- EAEU lapse: the writes of one -------------------------------------------------------------
-- Ends attachment p_attachment on p_end (the day after the contract's valid_until), or cancels
-- it when it would not have begun by then (with the transfer that made it). Writes
-- attachment.ended (data adds the reason, and cancelled). The caller holds the person's
-- advisory lock and has checked that the lapse applies.
CREATE FUNCTION eaeu_lapse(p_attachment bigint, p_end date) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    a attachments;
BEGIN
    SELECT * INTO STRICT a FROM attachments WHERE id = p_attachment;
    IF a.valid_from < p_end THEN
        UPDATE attachments SET valid_to = p_end WHERE id = p_attachment RETURNING * INTO a;
    ELSE
        UPDATE attachments SET cancelled = true WHERE id = p_attachment RETURNING * INTO a;
        UPDATE transfers SET cancelled = true
         WHERE application_id = a.application_id AND effective_on = a.valid_from AND NOT cancelled;
    END IF;
    PERFORM emit_event('attachment.ended', a.application_id, a.iin, a.polyclinic_id, NULL,
                       attachment_event_data(a) || jsonb_build_object(
                           'reason', 'insurance_lapsed', 'cancelled', a.cancelled));
END $$;

-- The one rendering of a child waiting to be moved (GET /v1/polyclinics/{id}/age-outs).
CREATE FUNCTION age_out_json(u age_outs_unplaced) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'attachment_id', u.attachment_id, 'iin', u.iin,
        'last_name', ap.person->>'last_name', 'first_name', ap.person->>'first_name',
        'middle_name', ap.person->>'middle_name', 'birth_date', u.birth_date,
        'district_id', u.district_id, 'district_number', d.number,
        'overdue_since', u.overdue_since, 'last_tried_on', u.last_tried_on)
    FROM attachments a JOIN districts d ON d.id = u.district_id
    LEFT JOIN applications ap ON ap.id = a.application_id
    WHERE a.id = u.attachment_id
$$;
