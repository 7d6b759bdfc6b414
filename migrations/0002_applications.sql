-- Applications, attachments and transfers (SPEC §3, §5).
--
-- Invariants held by the schema, so that a bug in C cannot break them:
--  * a person has at most one pending application (partial unique index);
--  * a decided application never changes again (trigger);
--  * at most one attachment of a person is valid on any date (exclusion constraint);
--  * districts.nopen counts the open-ended attachments of each district (trigger), and a new
--    attachment never takes a district over its capacity (same trigger, as a backstop to the
--    check the service makes while holding the district's row lock).

CREATE TABLE applications (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    iin text NOT NULL CHECK (iin ~ '^[0-9]{12}$'),
    person jsonb NOT NULL,                 -- the person object as submitted
    birth_date date NOT NULL,
    settlement text NOT NULL CHECK (settlement ~ '^[0-9]{9}$'), -- may be unknown: INVALID_DATA
    address text NOT NULL DEFAULT '',
    polyclinic_id bigint NOT NULL REFERENCES polyclinics,
    requested_district_id bigint REFERENCES districts,
    channel text NOT NULL CHECK (channel IN ('egov', 'in_person')),
    grounds text NOT NULL CHECK (grounds IN ('campaign', 'relocation', 'clinic_closed')),
    representative jsonb,
    birth_certificate text,
    family_iins text[] NOT NULL DEFAULT '{}',
    status text NOT NULL CHECK (status IN ('pending', 'approved', 'refused', 'withdrawn')),
    refusal_code text REFERENCES refusal_reasons,
    refusal_comment text,
    warnings text[] NOT NULL DEFAULT '{}',
    campaign_year int NOT NULL,            -- the campaign (or calendar) year it belongs to
    submitted_at timestamptz NOT NULL DEFAULT now(),
    decision_due_at timestamptz,
    decided_at timestamptz,
    decided_by text,
    district_id bigint REFERENCES districts, -- assigned on approval
    effective_on date,
    idempotency_key text UNIQUE,
    request_hash bytea,
    submitted_by bigint REFERENCES tokens,
    CONSTRAINT applications_refusal_has_reason CHECK ((status = 'refused') = (refusal_code IS NOT NULL)),
    CONSTRAINT applications_approval_has_district
        CHECK ((status = 'approved') = (district_id IS NOT NULL AND effective_on IS NOT NULL)),
    CONSTRAINT applications_decided_when CHECK ((status = 'pending') = (decided_at IS NULL))
);
CREATE UNIQUE INDEX applications_one_pending ON applications (iin) WHERE status = 'pending';
CREATE INDEX applications_by_iin ON applications (iin, id);
CREATE INDEX applications_queue ON applications (polyclinic_id, status, id);
CREATE INDEX applications_overdue ON applications (polyclinic_id, decision_due_at) WHERE status = 'pending';
CREATE INDEX applications_by_year ON applications (campaign_year);

-- pending -> approved | refused | withdrawn, nothing else.
CREATE FUNCTION applications_decided_are_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status <> 'pending' THEN
        RAISE EXCEPTION 'application % is already %', OLD.id, OLD.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'applications_decided_are_final';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER applications_decided_are_final BEFORE UPDATE ON applications
    FOR EACH ROW EXECUTE FUNCTION applications_decided_are_final();

CREATE TABLE attachments (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    iin text NOT NULL CHECK (iin ~ '^[0-9]{12}$'),
    polyclinic_id bigint NOT NULL REFERENCES polyclinics,
    district_id bigint NOT NULL REFERENCES districts,
    valid_from date NOT NULL,
    valid_to date,                         -- exclusive; NULL while open-ended
    application_id bigint REFERENCES applications,
    cancelled boolean NOT NULL DEFAULT false, -- an upcoming attachment replaced before it began
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT attachments_dates CHECK (valid_to IS NULL OR valid_to > valid_from),
    -- On the IIN as a number: the same meaning (always 12 digits), and GiST on bigint is 2-3
    -- times cheaper per row than on text, which is most of the cost of a bulk load.
    CONSTRAINT attachments_one_at_a_time
        EXCLUDE USING gist ((iin::bigint) WITH =, daterange(valid_from, valid_to) WITH &&)
        WHERE (NOT cancelled)
);
CREATE INDEX attachments_by_iin ON attachments (iin, valid_from);
-- Leavers still count in their district until valid_to: found by a range scan on this index,
-- which holds only end-dated attachments (the open-ended millions are counted by districts.nopen).
CREATE INDEX attachments_leaving ON attachments (district_id, valid_to)
    WHERE NOT cancelled AND valid_to IS NOT NULL;
-- The open-ended ones by district: recounting districts.nopen after a bulk load.
CREATE INDEX attachments_open ON attachments (district_id) WHERE NOT cancelled AND valid_to IS NULL;

-- People a district holds on a date: open-ended attachments (districts.nopen) plus those
-- approved to leave later (valid_to after the date). Upcoming ones are open-ended, so they count.
-- PL/pgSQL, not SQL: a SQL function with a subquery is never inlined and is planned afresh on
-- every execution of the query that calls it; PL/pgSQL keeps its plan for the session.
CREATE FUNCTION district_load(d districts) RETURNS integer LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN d.nopen + (SELECT count(*)::int FROM attachments a
                      WHERE a.district_id = d.id AND NOT a.cancelled AND a.valid_to > current_date);
END $$;

-- Keeps districts.nopen equal to the number of open-ended, live attachments, and refuses an
-- attachment that would take a district over capacity. The UPDATE of the district row takes
-- its lock, so concurrent changes to one district serialise here. Bulk loads set
-- attachd.bulk_load = 'on' and recount afterwards.
CREATE FUNCTION attachments_count_open() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    was_open boolean := TG_OP <> 'INSERT' AND NOT OLD.cancelled AND OLD.valid_to IS NULL;
    is_open boolean := TG_OP <> 'DELETE' AND NOT NEW.cancelled AND NEW.valid_to IS NULL;
    d districts;
BEGIN
    IF current_setting('attachd.bulk_load', true) = 'on' THEN
        RETURN NULL;
    END IF;
    IF was_open AND (NOT is_open OR OLD.district_id <> NEW.district_id) THEN
        UPDATE districts SET nopen = nopen - 1 WHERE id = OLD.district_id;
    END IF;
    IF is_open AND (NOT was_open OR OLD.district_id <> NEW.district_id) THEN
        UPDATE districts SET nopen = nopen + 1 WHERE id = NEW.district_id RETURNING * INTO d;
        IF district_load(d) > d.capacity THEN
            RAISE EXCEPTION 'district % is full (capacity %)', d.id, d.capacity
                USING ERRCODE = 'check_violation', CONSTRAINT = 'districts_within_capacity';
        END IF;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER attachments_count_open AFTER INSERT OR UPDATE OR DELETE ON attachments
    FOR EACH ROW EXECUTE FUNCTION attachments_count_open();

CREATE TABLE transfers (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    iin text NOT NULL CHECK (iin ~ '^[0-9]{12}$'),
    from_polyclinic_id bigint REFERENCES polyclinics,   -- NULL for a first attachment
    from_district_id bigint REFERENCES districts,
    to_polyclinic_id bigint NOT NULL REFERENCES polyclinics,
    to_district_id bigint NOT NULL REFERENCES districts,
    effective_on date NOT NULL,
    grounds text NOT NULL CHECK (grounds IN ('campaign', 'relocation', 'clinic_closed', 'import')),
    application_id bigint UNIQUE REFERENCES applications,
    campaign_year int NOT NULL,
    counts_as_change boolean NOT NULL,     -- a campaign change of polyclinic (max_changes rule)
    cancelled boolean NOT NULL DEFAULT false, -- its attachment was replaced before it began
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((from_polyclinic_id IS NULL) = (from_district_id IS NULL))
);
CREATE INDEX transfers_in ON transfers (to_polyclinic_id, id);
CREATE INDEX transfers_out ON transfers (from_polyclinic_id, id) WHERE from_polyclinic_id IS NOT NULL;
CREATE INDEX transfers_changes ON transfers (iin, campaign_year) WHERE counts_as_change;
CREATE INDEX transfers_by_year ON transfers (campaign_year);

-- ISO 8601 with the session's offset (the service's sessions use Asia/Almaty).
CREATE FUNCTION iso_ts(t timestamptz) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT to_char(t, 'YYYY-MM-DD"T"HH24:MI:SSTZH:TZM')
$$;

-- The one rendering of an application as the API shows it.
CREATE FUNCTION application_json(a applications) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', a.id, 'status', a.status, 'person', a.person, 'settlement', a.settlement,
        'address', a.address, 'polyclinic_id', a.polyclinic_id,
        'requested_district_id', a.requested_district_id, 'district_id', a.district_id,
        'channel', a.channel, 'grounds', a.grounds, 'representative', a.representative,
        'birth_certificate', a.birth_certificate, 'family_iins', a.family_iins,
        'refusal', (SELECT json_build_object('code', r.code,
                        'title', json_build_object('kk', r.title_kk, 'ru', r.title_ru, 'en', r.title_en),
                        'comment', a.refusal_comment)
                    FROM refusal_reasons r WHERE r.code = a.refusal_code),
        'warnings', a.warnings, 'campaign_year', a.campaign_year,
        'submitted_at', iso_ts(a.submitted_at), 'decision_due_at', iso_ts(a.decision_due_at),
        'decided_at', iso_ts(a.decided_at), 'effective_on', a.effective_on)
$$;

CREATE FUNCTION attachment_json(t attachments) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', t.id, 'iin', t.iin, 'polyclinic_id', t.polyclinic_id, 'district_id', t.district_id,
        'district_number', (SELECT number FROM districts WHERE id = t.district_id),
        'valid_from', t.valid_from, 'valid_to', t.valid_to, 'application_id', t.application_id,
        'cancelled', t.cancelled)
$$;

CREATE FUNCTION transfer_json(t transfers) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', t.id, 'iin', t.iin,
        'person', (SELECT json_build_object('last_name', a.person->>'last_name',
                        'first_name', a.person->>'first_name', 'middle_name', a.person->>'middle_name',
                        'birth_date', a.birth_date)
                   FROM applications a WHERE a.id = t.application_id),
        'from', CASE WHEN t.from_polyclinic_id IS NULL THEN NULL ELSE
                json_build_object('polyclinic_id', t.from_polyclinic_id, 'district_id', t.from_district_id) END,
        'to', json_build_object('polyclinic_id', t.to_polyclinic_id, 'district_id', t.to_district_id),
        'effective_on', t.effective_on, 'grounds', t.grounds, 'application_id', t.application_id,
        'campaign_year', t.campaign_year, 'cancelled', t.cancelled)
$$;
