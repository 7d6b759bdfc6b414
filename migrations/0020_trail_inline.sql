-- The submission's trail written by the statement that stores the application (issue 10,
-- deliverable 2). Nothing stored changes: the same audit row and the same events, with the same
-- columns, values and order. What changes is who writes them: the statements of
-- src/db/applications.c (q_insert, q_insert_approved) write them in CTEs when the transaction
-- says so (attachd.trail = 'inline', set by the submission's facts statement), and the triggers
-- then do not fire; every other writer (psql, the daily run, tests seeding rows) gets the
-- triggers as before. Measured (docs/PERFORMANCE.md round 4): the deferred events trigger and
-- the audit trigger cost about 5 % of PostgreSQL's instructions per auto-approval.
--
-- The expressions both need are SQL functions of one SELECT without FROM, so that the planner
-- inlines them into the caller (no call per row): one definition of each shape.

-- The actor of the transaction (pool.c sets attachd.actor to "role\ttoken\tname"; '' or unset:
-- the system), as audit_row() (0003, 0009) splits it.
CREATE FUNCTION actor_role(actor text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN actor = '' THEN 'system' ELSE split_part(actor, E'\t', 1) END
$$;
CREATE FUNCTION actor_token(actor text) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT nullif(split_part(actor, E'\t', 2), '')::bigint
$$;
CREATE FUNCTION actor_name(actor text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT substr(actor, length(split_part(actor, E'\t', 1))
                         + length(split_part(actor, E'\t', 2)) + 3)
$$;

-- The audit action of a change (op: INSERT, UPDATE, DELETE) to an entity whose document after
-- it is doc: an application's decision is named by its outcome.
CREATE FUNCTION audit_action(entity text, op text, doc jsonb) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN entity = 'application' AND doc->>'status' <> 'pending'
                THEN CASE doc->>'status' WHEN 'approved' THEN 'approve'
                                         WHEN 'refused' THEN 'refuse' ELSE 'withdraw' END
                ELSE lower(op) END
$$;

-- The data of application.submitted: an auto-approval was submitted pending, as the portal sent
-- it (0009).
CREATE FUNCTION event_submitted_data(a applications) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'status', CASE WHEN a.decided_by = 'attachd (auto_approve)' THEN 'pending'
                       ELSE a.status END,
        'channel', a.channel, 'grounds', a.grounds,
        'requested_district_id', a.requested_district_id,
        'campaign_year', a.campaign_year,
        'decision_due_at', iso_ts(a.decision_due_at))
$$;

-- The type of the event that follows application.submitted for an application stored already
-- decided (NULL: pending, none follows).
CREATE FUNCTION event_decision_type(a applications) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE a.status WHEN 'pending' THEN NULL WHEN 'withdrawn' THEN 'application.withdrawn'
                         ELSE 'application.decided' END
$$;

-- Its data: an approval names its transfer and the polyclinic left (transfer_id,
-- from_polyclinic_id: NULL for a refusal), a refusal its reason (event_refusal, 0009).
CREATE FUNCTION event_decided_data(a applications, transfer_id bigint, from_polyclinic_id bigint)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT CASE a.status
        WHEN 'approved' THEN
            jsonb_build_object('status', a.status, 'district_id', a.district_id,
                               'effective_on', a.effective_on, 'grounds', a.grounds,
                               'from_polyclinic_id', from_polyclinic_id,
                               'transfer_id', transfer_id, 'refusal', NULL)
        WHEN 'refused' THEN
            jsonb_build_object('status', a.status, 'district_id', NULL,
                               'effective_on', NULL, 'grounds', a.grounds,
                               'refusal', event_refusal(a))
        ELSE '{}'::jsonb
    END
$$;

-- 0009's audit_row() with the shapes above.
CREATE OR REPLACE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    actor text := coalesce(current_setting('attachd.actor', true), '');
    old_doc jsonb := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) - TG_ARGV[2:] END;
    new_doc jsonb := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) - TG_ARGV[2:] END;
BEGIN
    INSERT INTO audit (actor_role, actor_token, actor_name, action, entity, entity_id, before, after)
    VALUES (actor_role(actor), actor_token(actor), actor_name(actor),
            audit_action(TG_ARGV[0], TG_OP, new_doc), TG_ARGV[0],
            coalesce(new_doc, old_doc)->>TG_ARGV[1], old_doc, new_doc);
    RETURN NULL;
END $$;

-- 0011's applications_events_insert() with the shapes above.
CREATE OR REPLACE FUNCTION applications_events_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    t transfers;
BEGIN
    IF NEW.status = 'pending' THEN
        INSERT INTO events (type, application_id, iin, polyclinic_id, other_polyclinic_id, data)
        VALUES ('application.submitted', NEW.id, NEW.iin, NEW.polyclinic_id, NULL,
                event_submitted_data(NEW));
        RETURN NULL;
    END IF;
    -- An approval's transfer, written by the time this deferred trigger runs.
    IF NEW.status = 'approved' THEN
        SELECT * INTO t FROM transfers WHERE application_id = NEW.id;
    END IF;
    -- VALUES keeps the order: the submitted event takes the lower id.
    INSERT INTO events (type, application_id, iin, polyclinic_id, other_polyclinic_id, data)
    VALUES ('application.submitted', NEW.id, NEW.iin, NEW.polyclinic_id, NULL,
            event_submitted_data(NEW)),
           (event_decision_type(NEW), NEW.id, NEW.iin, NEW.polyclinic_id, t.from_polyclinic_id,
            event_decided_data(NEW, t.id, t.from_polyclinic_id));
    RETURN NULL;
END $$;

-- The two triggers as 0017 left them, but for a transaction whose statements write the trail
-- themselves. The WHEN of a deferred constraint trigger is judged when the row is inserted, not
-- at commit: the setting in force at the INSERT decides, as it does for the statement's CTEs
-- (which write only when it is 'inline'), so that exactly one of the two writes the trail.
DROP TRIGGER audit_decided_at_once ON applications;
CREATE TRIGGER audit_decided_at_once AFTER INSERT ON applications
    FOR EACH ROW WHEN (NEW.status <> 'pending'
                       AND current_setting('attachd.trail', true) IS DISTINCT FROM 'inline')
    EXECUTE FUNCTION audit_row('application', 'id', 'person', 'representative',
                               'birth_certificate', 'family_iins', 'address', 'request_hash',
                               'idempotency_key');
DROP TRIGGER applications_events_insert ON applications;
CREATE CONSTRAINT TRIGGER applications_events_insert AFTER INSERT ON applications
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (current_setting('attachd.trail', true) IS DISTINCT FROM 'inline')
    EXECUTE FUNCTION applications_events_insert();
