-- SPEC §12 "Events instead of polling": the application events, written by triggers in the
-- same transaction as the change (so no code path that changes an application can forget
-- them), and the stamping step that puts committed events in commit order for the feed.

-- ---- the feed's order ---------------------------------------------------------------------
-- events.id is taken at insert time, so id order is not commit order: a transaction holding
-- id 7 may commit after the one holding id 8. A reader that paged by id and had seen 8 would
-- never see 7. So the feed pages by `pos`, stamped only on committed rows, by one stamper at a
-- time: events_stamp() takes a transaction-level advisory lock (try, never wait: a reader that
-- finds it taken reads what is stamped), then numbers the committed unstamped rows in id order
-- after the highest position so far. Its UPDATE runs under a snapshot taken after the lock, so
-- it sees every earlier round's stamps (a round commits before it releases the lock); each
-- round's positions are above every earlier round's, and a round's positions become visible
-- all at once when it commits. A reader walking by pos therefore never finds a gap that is
-- filled later, and sees every event exactly once. Returns the rows stamped, -1 when another
-- session was stamping.
CREATE FUNCTION events_stamp(p_batch integer) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    nstamped integer;
BEGIN
    -- Key (8, 12) in the two-int space: no clash with the bigint keys of persons and migrate.
    IF NOT pg_try_advisory_xact_lock(8, 12) THEN
        RETURN -1;
    END IF;
    WITH batch AS (
        SELECT id, row_number() OVER (ORDER BY id) AS k
        FROM events WHERE pos IS NULL ORDER BY id LIMIT p_batch
    ), base AS (
        SELECT coalesce(max(pos), 0) AS b FROM events
    )
    UPDATE events e SET pos = base.b + batch.k FROM batch, base WHERE e.id = batch.id;
    GET DIAGNOSTICS nstamped = ROW_COUNT;
    RETURN nstamped;
END $$;

-- A registrar's feed: its events in position order, whichever side it is on.
CREATE INDEX events_polyclinic_pos ON events (polyclinic_id, pos) WHERE pos IS NOT NULL;
CREATE INDEX events_other_polyclinic_pos ON events (other_polyclinic_id, pos)
    WHERE pos IS NOT NULL AND other_polyclinic_id IS NOT NULL;

-- A position is only ever stamped once, upwards from 1.
ALTER TABLE events ADD CONSTRAINT events_pos_positive CHECK (pos > 0);

-- The one rendering of an event in the feed (SPEC §12). `id` is a string (clients dedupe by
-- it); `cursor` is the feed position after this event, for a reader that stores its place item
-- by item; members with no value are left out, `data` always present.
CREATE FUNCTION event_json(e events) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', e.id::text, 'type', e.type, 'at', iso_ts(e.at),
                              'cursor', e.pos::text)
        || jsonb_strip_nulls(jsonb_build_object('application_id', e.application_id,
                                                'iin', e.iin, 'polyclinic_id', e.polyclinic_id,
                                                'other_polyclinic_id', e.other_polyclinic_id))
        || jsonb_build_object('data', e.data)
$$;

-- ---- what the events say --------------------------------------------------------------------
-- The triggers below are deferred to the commit of the change's transaction (still inside it,
-- so the event commits with the change or not at all), in the order the changes were made:
-- an event then sees everything its transaction wrote, whatever order the statements of
-- src/db/applications.c write the application, its attachment and its transfer in.
-- The refusal as the API shows it (SPEC §8), or null.
CREATE FUNCTION event_refusal(a applications) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('code', r.code,
               'title', jsonb_build_object('kk', r.title_kk, 'ru', r.title_ru, 'en', r.title_en),
               'comment', a.refusal_comment)
    FROM refusal_reasons r WHERE r.code = a.refusal_code
$$;

-- application.decided for an approval or a refusal. An approval that moves a person out of
-- another polyclinic names that one as other_polyclinic_id (from the approval's transfer, which
-- the transaction has written by the time this deferred trigger runs), so its registrar learns
-- of the move.
CREATE FUNCTION event_application_decided(a applications) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    t transfers;
BEGIN
    IF a.status = 'approved' THEN
        SELECT * INTO t FROM transfers WHERE application_id = a.id;
        PERFORM emit_event('application.decided', a.id, a.iin, a.polyclinic_id,
            t.from_polyclinic_id,
            jsonb_build_object('status', a.status, 'district_id', a.district_id,
                               'effective_on', a.effective_on, 'grounds', a.grounds,
                               'from_polyclinic_id', t.from_polyclinic_id,
                               'transfer_id', t.id, 'refusal', NULL));
    ELSE
        PERFORM emit_event('application.decided', a.id, a.iin, a.polyclinic_id, NULL,
            jsonb_build_object('status', a.status, 'district_id', NULL, 'effective_on', NULL,
                               'grounds', a.grounds, 'refusal', event_refusal(a)));
    END IF;
END $$;

-- Every stored application is submitted; one decided at once (refused by a check) is decided
-- in the same breath. An auto-approval is an UPDATE of the pending row: the trigger below.
CREATE FUNCTION applications_events_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM emit_event('application.submitted', NEW.id, NEW.iin, NEW.polyclinic_id, NULL,
        jsonb_build_object('status', NEW.status, 'channel', NEW.channel, 'grounds', NEW.grounds,
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
CREATE CONSTRAINT TRIGGER applications_events_insert AFTER INSERT ON applications
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION applications_events_insert();

-- pending -> approved | refused | withdrawn (the only transitions, applications_decided_are_final).
CREATE FUNCTION applications_events_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'withdrawn' THEN
        PERFORM emit_event('application.withdrawn', NEW.id, NEW.iin, NEW.polyclinic_id, NULL, '{}');
    ELSE
        PERFORM event_application_decided(NEW);
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER applications_events_update AFTER UPDATE OF status ON applications
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION applications_events_update();

-- An upcoming move replaced before it began: the receiving polyclinic must know it is not
-- coming (polyclinic_id), and the one the person stays at may (other_polyclinic_id).
CREATE FUNCTION transfers_events_cancelled() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM emit_event('transfer.cancelled', NEW.application_id, NEW.iin, NEW.to_polyclinic_id,
        NEW.from_polyclinic_id,
        jsonb_build_object('transfer_id', NEW.id, 'to_district_id', NEW.to_district_id,
                           'from_polyclinic_id', NEW.from_polyclinic_id,
                           'effective_on', NEW.effective_on, 'grounds', NEW.grounds));
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER transfers_events_cancelled AFTER UPDATE OF cancelled ON transfers
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.cancelled AND NOT OLD.cancelled)
    EXECUTE FUNCTION transfers_events_cancelled();
