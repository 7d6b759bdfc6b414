-- The write path at a fraction of its cost (issue 10). Nothing here changes what is stored or
-- answered: the same rows, the same audit rows, the same events, the same JSON. What changes is
-- how often PostgreSQL parses and plans.
--
-- A `LANGUAGE sql` function that cannot be inlined into the query calling it is parsed and
-- planned again on every call from a new query or transaction (fmgr_sql keeps its plan only
-- for the duration of one call site's execution). A SQL function is inlined when its body is a
-- single SELECT of one expression without sub-queries, and then it is planned once with the
-- prepared statement that calls it. A PL/pgSQL function keeps its plans for the whole session.
-- So: rendering functions become inlinable (the sub-query moves into a PL/pgSQL helper), and
-- functions that run statements (emit_event, event_refusal) become PL/pgSQL.

-- The refusal as the API shows it (SPEC §8), or null: the sub-query application_json had.
CREATE FUNCTION refusal_json(p_code text, p_comment text) RETURNS json
LANGUAGE plpgsql STABLE AS $$
DECLARE
    r refusal_reasons;
BEGIN
    IF p_code IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT * INTO r FROM refusal_reasons WHERE code = p_code;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    RETURN json_build_object('code', r.code,
                             'title', json_build_object('kk', r.title_kk, 'ru', r.title_ru,
                                                        'en', r.title_en),
                             'comment', p_comment);
END $$;

-- The one rendering of an application as the API shows it: the same members in the same order
-- as 0002's, now inlinable (no sub-query: the refusal is looked up only for a refused one).
CREATE OR REPLACE FUNCTION application_json(a applications) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', a.id, 'status', a.status, 'person', a.person, 'settlement', a.settlement,
        'address', a.address, 'polyclinic_id', a.polyclinic_id,
        'requested_district_id', a.requested_district_id, 'district_id', a.district_id,
        'channel', a.channel, 'grounds', a.grounds, 'representative', a.representative,
        'birth_certificate', a.birth_certificate, 'family_iins', a.family_iins,
        'refusal', CASE WHEN a.refusal_code IS NOT NULL
                        THEN refusal_json(a.refusal_code, a.refusal_comment) END,
        'warnings', a.warnings, 'campaign_year', a.campaign_year,
        'submitted_at', iso_ts(a.submitted_at), 'decision_due_at', iso_ts(a.decision_due_at),
        'decided_at', iso_ts(a.decided_at), 'effective_on', a.effective_on)
$$;

-- A district's number, for attachment_json (PL/pgSQL: planned once per session).
CREATE FUNCTION district_number(p_id bigint) RETURNS text LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT number FROM districts WHERE id = p_id);
END $$;

CREATE OR REPLACE FUNCTION attachment_json(t attachments) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', t.id, 'iin', t.iin, 'polyclinic_id', t.polyclinic_id, 'district_id', t.district_id,
        'district_number', district_number(t.district_id),
        'valid_from', t.valid_from, 'valid_to', t.valid_to, 'application_id', t.application_id,
        'cancelled', t.cancelled)
$$;

-- The one way to write an event (0004), as PL/pgSQL: an INSERT in a SQL function is never
-- inlined, and every event paid for parsing and planning it.
CREATE OR REPLACE FUNCTION emit_event(p_type text, p_application_id bigint, p_iin text,
                                      p_polyclinic_id bigint, p_other_polyclinic_id bigint,
                                      p_data jsonb)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO events (type, application_id, iin, polyclinic_id, other_polyclinic_id, data)
    VALUES (p_type, p_application_id, p_iin, p_polyclinic_id, p_other_polyclinic_id,
            coalesce(p_data, '{}'));
END $$;

-- The refusal in an event (0008), as PL/pgSQL for the same reason.
CREATE OR REPLACE FUNCTION event_refusal(a applications) RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT jsonb_build_object('code', r.code,
                       'title', jsonb_build_object('kk', r.title_kk, 'ru', r.title_ru,
                                                   'en', r.title_en),
                       'comment', a.refusal_comment)
            FROM refusal_reasons r WHERE r.code = a.refusal_code);
END $$;

-- An application approved at once (auto_approve) is now stored once, already decided, with its
-- attachment and transfer in the same statement, instead of stored pending and then updated:
-- one row version, one set of index entries, one audit row (audit_decided_at_once, 0003) and
-- no UPDATE triggers. Its events stay what they were: submitted (pending, as the portal sent
-- it), then decided. The refusal of an auto-approval's re-checks (no room, clinic no longer
-- taking part) is stored the same way. decided_by says who decided at once.
CREATE OR REPLACE FUNCTION applications_events_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM emit_event('application.submitted', NEW.id, NEW.iin, NEW.polyclinic_id, NULL,
        jsonb_build_object('status', CASE WHEN NEW.decided_by = 'attachd (auto_approve)'
                                          THEN 'pending' ELSE NEW.status END,
                           'channel', NEW.channel, 'grounds', NEW.grounds,
                           'requested_district_id', NEW.requested_district_id,
                           'campaign_year', NEW.campaign_year,
                           'decision_due_at', iso_ts(NEW.decision_due_at)));
    IF NEW.status IN ('approved', 'refused') THEN
        PERFORM event_application_decided(NEW);
    ELSIF NEW.status = 'withdrawn' THEN
        PERFORM emit_event('application.withdrawn', NEW.id, NEW.iin, NEW.polyclinic_id, NULL, '{}');
    END IF;
    RETURN NULL;
END $$;

-- The audit trail (0003) as before, the left-out columns removed in one step (jsonb - text[])
-- instead of one copy of the document per column.
CREATE OR REPLACE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    actor text := coalesce(current_setting('attachd.actor', true), '');
    old_doc jsonb := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) - TG_ARGV[2:] END;
    new_doc jsonb := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) - TG_ARGV[2:] END;
    act text := lower(TG_OP);
BEGIN
    IF TG_ARGV[0] = 'application' AND new_doc IS NOT NULL AND new_doc->>'status' <> 'pending' THEN
        act := CASE new_doc->>'status' WHEN 'approved' THEN 'approve' WHEN 'refused' THEN 'refuse'
                                       ELSE 'withdraw' END;
    END IF;
    INSERT INTO audit (actor_role, actor_token, actor_name, action, entity, entity_id, before, after)
    VALUES (CASE WHEN actor = '' THEN 'system' ELSE split_part(actor, E'\t', 1) END,
            nullif(split_part(actor, E'\t', 2), '')::bigint,
            substr(actor, length(split_part(actor, E'\t', 1)) + length(split_part(actor, E'\t', 2)) + 3),
            act, TG_ARGV[0], coalesce(new_doc, old_doc)->>TG_ARGV[1], old_doc, new_doc);
    RETURN NULL;
END $$;

-- districts.nopen and the capacity backstop (0002) as before, with the load counted in place
-- (what district_load() counts) instead of one more PL/pgSQL call per attachment.
CREATE OR REPLACE FUNCTION attachments_count_open() RETURNS trigger LANGUAGE plpgsql AS $$
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
        IF d.nopen + (SELECT count(*) FROM attachments a WHERE a.district_id = d.id
                      AND NOT a.cancelled AND a.valid_to > current_date) > d.capacity THEN
            RAISE EXCEPTION 'district % is full (capacity %)', d.id, d.capacity
                USING ERRCODE = 'check_violation', CONSTRAINT = 'districts_within_capacity';
        END IF;
    END IF;
    RETURN NULL;
END $$;
