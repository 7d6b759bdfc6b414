-- An inserted attachment fires one PL/pgSQL trigger instead of two (issue 10).
--
-- Since 0026 an INSERT into attachments fired attachments_count_open (nopen and the leavers,
-- with the capacity backstop) and then the constraint trigger attachments_one_at_a_time (the
-- overlap check), two PL/pgSQL calls per approval, each with its own entry, its record of NEW
-- and its expressions compiled once per transaction. attachments_one_at_a_time now does both
-- for an INSERT, in the same order (the count and its capacity check first, then the overlap),
-- and attachments_count_open fires for UPDATE and DELETE only. What each checks and raises is
-- unchanged (the same constraint names and codes: districts_within_capacity 23514,
-- attachments_one_at_a_time 23P01), and the trigger names are kept, so that
-- attachments_bulk_triggers() (0026) still disables both for `attachd import`.
--
-- The INSERT's count is attachments_count_open's for an inserted row that is not cancelled
-- (the trigger's WHEN): open-ended, it counts in nopen and must fit the capacity; ending, it is
-- a leaver when it ends after the district's leaving_floor.

CREATE OR REPLACE FUNCTION attachments_one_at_a_time() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    other attachments;
    d districts;
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE districts
        SET nopen = nopen + (NEW.valid_to IS NULL)::int,
            nleaving = nleaving + coalesce(NEW.valid_to > leaving_floor, false)::int,
            next_leave = CASE WHEN NEW.valid_to > leaving_floor THEN least(next_leave, NEW.valid_to)
                              ELSE next_leave END
        WHERE id = NEW.district_id RETURNING * INTO d;
        IF NEW.valid_to IS NULL AND coalesce(district_load_kept(d), district_load(d)) > d.capacity THEN
            RAISE EXCEPTION 'district % is full (capacity %)', d.id, d.capacity
                USING ERRCODE = 'check_violation', CONSTRAINT = 'districts_within_capacity';
        END IF;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended(NEW.iin, 0));
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'attachments of % are written in READ COMMITTED only', NEW.iin
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'the overlap check reads rows committed before the person''s lock was'
                         ' granted, which an older snapshot does not see (migrations/0010)';
    END IF;
    SELECT * INTO other FROM attachments a
    WHERE a.iin = NEW.iin AND NOT a.cancelled AND a.id <> NEW.id
      AND a.valid_from < coalesce(NEW.valid_to, 'infinity')
      AND (a.valid_to IS NULL OR a.valid_to > NEW.valid_from)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'conflicting key value violates exclusion constraint "attachments_one_at_a_time"'
            USING ERRCODE = 'exclusion_violation', CONSTRAINT = 'attachments_one_at_a_time',
                  TABLE = 'attachments',
                  DETAIL = format('Attachment %s of %s from %s to %s overlaps attachment %s from %s to %s.',
                                  NEW.id, NEW.iin, NEW.valid_from, coalesce(NEW.valid_to::text, 'open'),
                                  other.id, other.valid_from, coalesce(other.valid_to::text, 'open'));
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER attachments_count_open ON attachments;
CREATE TRIGGER attachments_count_open AFTER UPDATE OR DELETE ON attachments
    FOR EACH ROW EXECUTE FUNCTION attachments_count_open();
