-- One definition of the application.decided event (review of issue 10's change). 0020 made its
-- data an inlinable function, event_decided_data(), for the submission's statements and the
-- insert trigger; event_application_decided() (0008), which writes the event of a decision taken
-- later (a registrar's approval or refusal: applications_events_update), still built the same
-- two documents itself. It now uses event_decided_data() too: the same event, the same columns
-- and values (an approval names its transfer and the polyclinic left, a refusal its reason),
-- written by emit_event() as before.
CREATE OR REPLACE FUNCTION event_application_decided(a applications) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    t transfers;
BEGIN
    -- An approval's transfer, written by the time this deferred trigger runs.
    IF a.status = 'approved' THEN
        SELECT * INTO t FROM transfers WHERE application_id = a.id;
    END IF;
    PERFORM emit_event('application.decided', a.id, a.iin, a.polyclinic_id, t.from_polyclinic_id,
                       event_decided_data(a, t.id, t.from_polyclinic_id));
END $$;
