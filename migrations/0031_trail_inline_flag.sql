-- Whether an application's trail was written by the statement that stored it is a column of
-- the row, not a setting of the transaction (issue 10).
--
-- Since 0020 the submission's facts statement set attachd.trail = 'inline' for its transaction,
-- and the two triggers that write an inserted application's trail for every other writer
-- (audit_decided_at_once, applications_events_insert) carried WHEN (trail_by_triggers()): a
-- PL/pgSQL call for each of them on every inserted application, and their WHEN compiled in
-- every statement that inserts one, although they then wrote nothing for attachd (44k
-- instructions of 1 515k per application, bench/write_cost.sh; docs/PERFORMANCE.md round 14).
--
-- Now the statement that writes the trail stores the row with trail_inline = true, and the
-- triggers fire WHEN NOT NEW.trail_inline: the row says who wrote its trail, so exactly one of
-- them does, whatever else the transaction did. Every other writer leaves the default, false,
-- and gets the triggers as before. The column is left out of the audit documents, as the
-- personal data are (the triggers' arguments), so that a decision's audit row is what it was.

ALTER TABLE applications ADD COLUMN trail_inline boolean NOT NULL DEFAULT false;

DROP TRIGGER audit_decided_at_once ON applications;
CREATE TRIGGER audit_decided_at_once AFTER INSERT ON applications
    FOR EACH ROW WHEN (NEW.status <> 'pending' AND NOT NEW.trail_inline)
    EXECUTE FUNCTION audit_row('application', 'id', 'person', 'representative',
                               'birth_certificate', 'family_iins', 'address', 'request_hash',
                               'idempotency_key', 'trail_inline');
DROP TRIGGER applications_events_insert ON applications;
CREATE CONSTRAINT TRIGGER applications_events_insert AFTER INSERT ON applications
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NOT NEW.trail_inline)
    EXECUTE FUNCTION applications_events_insert();
DROP TRIGGER audit_decision ON applications;
CREATE TRIGGER audit_decision AFTER UPDATE OF status ON applications
    FOR EACH ROW EXECUTE FUNCTION audit_row('application', 'id', 'person', 'representative',
                                            'birth_certificate', 'family_iins', 'address',
                                            'request_hash', 'idempotency_key', 'trail_inline');
DROP FUNCTION trail_by_triggers();
