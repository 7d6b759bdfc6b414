-- The write path, fewer trigger invocations (issue 10). Nothing here changes what is stored:
-- the same events, with the same types, order, columns and data.
--
-- An application stored already decided (refused by a check, approved or refused at once by
-- auto_approve) wrote its two events through four PL/pgSQL calls: the deferred trigger called
-- emit_event for the submitted event, then event_application_decided, which called emit_event
-- again; each call its own executor start-up, each emit_event its own INSERT. The trigger now
-- writes both events in one INSERT of two rows (VALUES keeps their order: the submitted event
-- takes the lower id, as before). emit_event (0009) and event_application_decided (0008) stay
-- the definition for the other paths: a decision taken later (applications_events_update), a
-- transfer cancelled, the daily run.
CREATE OR REPLACE FUNCTION applications_events_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    t transfers;
    submitted jsonb := jsonb_build_object(
        -- an auto-approval was submitted pending, as the portal sent it (0009)
        'status', CASE WHEN NEW.decided_by = 'attachd (auto_approve)' THEN 'pending'
                       ELSE NEW.status END,
        'channel', NEW.channel, 'grounds', NEW.grounds,
        'requested_district_id', NEW.requested_district_id,
        'campaign_year', NEW.campaign_year,
        'decision_due_at', iso_ts(NEW.decision_due_at));
BEGIN
    IF NEW.status = 'pending' THEN
        INSERT INTO events (type, application_id, iin, polyclinic_id, other_polyclinic_id, data)
        VALUES ('application.submitted', NEW.id, NEW.iin, NEW.polyclinic_id, NULL, submitted);
        RETURN NULL;
    END IF;
    -- What event_application_decided (0008) says of a decision: an approval names the
    -- polyclinic left (from its transfer, written by the time this deferred trigger runs).
    IF NEW.status = 'approved' THEN
        SELECT * INTO t FROM transfers WHERE application_id = NEW.id;
    END IF;
    INSERT INTO events (type, application_id, iin, polyclinic_id, other_polyclinic_id, data)
    VALUES ('application.submitted', NEW.id, NEW.iin, NEW.polyclinic_id, NULL, submitted),
           (CASE WHEN NEW.status = 'withdrawn' THEN 'application.withdrawn'
                 ELSE 'application.decided' END,
            NEW.id, NEW.iin, NEW.polyclinic_id, t.from_polyclinic_id,
            CASE NEW.status
                WHEN 'approved' THEN
                    jsonb_build_object('status', NEW.status, 'district_id', NEW.district_id,
                                       'effective_on', NEW.effective_on, 'grounds', NEW.grounds,
                                       'from_polyclinic_id', t.from_polyclinic_id,
                                       'transfer_id', t.id, 'refusal', NULL)
                WHEN 'refused' THEN
                    jsonb_build_object('status', NEW.status, 'district_id', NULL,
                                       'effective_on', NULL, 'grounds', NEW.grounds,
                                       'refusal', event_refusal(NEW))
                ELSE '{}'::jsonb
            END);
    RETURN NULL;
END $$;
