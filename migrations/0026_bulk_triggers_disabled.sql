-- The attachments triggers fire for every write; a bulk load disables them instead of every
-- write asking whether it is one (issue 10).
--
-- Since 0010 the per-row triggers of attachments (the nopen and leavers count with its capacity
-- backstop, the overlap check) carried WHEN (current_setting('attachd.bulk_load', true) IS
-- DISTINCT FROM 'on'), and a statement-level trigger, WHEN bulk_load was on, refused a bulk
-- statement without a table lock keeping other writers out. PostgreSQL reads a trigger's WHEN
-- from its stored node text and compiles it in every statement that writes the table: each
-- approval paid for three conditions that only `attachd import` ever turned off
-- (bench/write_cost.sh, the campaign mix: 2 134k -> 2 100k instructions per application).
--
-- Now a bulk load disables the per-row triggers for its statement, in its transaction
-- (attachments_bulk_triggers below; `attachd import` on both of its paths, the bench loaders).
-- ALTER TABLE ... DISABLE TRIGGER takes SHARE ROW EXCLUSIVE on attachments until COMMIT, so the
-- rule the statement-level trigger checked (no other writer meanwhile) is now kept by the lock
-- that disabling them takes; the function also requires that the caller took such a lock itself
-- before its set-wise checks, as before. Other sessions never see the triggers disabled: the
-- catalogue change is the caller's, enabled again before it commits, and rolled back with it if
-- anything fails. attachd.bulk_load means nothing any more: setting it skips no check.

DROP TRIGGER attachments_bulk_needs_lock ON attachments;
DROP FUNCTION attachments_bulk_needs_lock();

DROP TRIGGER attachments_count_open ON attachments;
CREATE TRIGGER attachments_count_open AFTER INSERT OR UPDATE OR DELETE ON attachments
    FOR EACH ROW EXECUTE FUNCTION attachments_count_open();

DROP TRIGGER attachments_one_at_a_time ON attachments;
CREATE CONSTRAINT TRIGGER attachments_one_at_a_time AFTER INSERT ON attachments
    FOR EACH ROW WHEN (NOT NEW.cancelled)
    EXECUTE FUNCTION attachments_one_at_a_time();
DROP TRIGGER attachments_one_at_a_time_update ON attachments;
CREATE CONSTRAINT TRIGGER attachments_one_at_a_time_update AFTER UPDATE ON attachments
    FOR EACH ROW
    WHEN (NOT NEW.cancelled
          AND (OLD.cancelled OR NEW.iin <> OLD.iin OR NEW.valid_from < OLD.valid_from
               OR (OLD.valid_to IS NOT NULL AND (NEW.valid_to IS NULL
                                                 OR NEW.valid_to > OLD.valid_to))))
    EXECUTE FUNCTION attachments_one_at_a_time();

-- The row triggers a bulk load disables (enable = false) and enables again: the count and the
-- overlap check, which the load does set-wise instead (src/db/import.c). Only while the caller
-- holds a lock on attachments that keeps other writers out (SHARE ROW EXCLUSIVE or stronger),
-- taken before it checked its rows. Returns how many it changed.
CREATE OR REPLACE FUNCTION attachments_bulk_triggers(enable boolean) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n integer := 0;
    r record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_locks
                   WHERE locktype = 'relation' AND relation = 'attachments'::regclass
                     AND pid = pg_backend_pid() AND granted
                     AND mode IN ('ShareRowExclusiveLock', 'ExclusiveLock',
                                  'AccessExclusiveLock')) THEN
        RAISE EXCEPTION 'attachments_bulk_triggers needs attachments locked against other writers'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'LOCK TABLE attachments IN SHARE ROW EXCLUSIVE MODE, then check the'
                         ' rows for overlaps set-wise, as attachd import does (migrations/0026)';
    END IF;
    FOR r IN SELECT t.tgname FROM pg_trigger t
             WHERE t.tgrelid = 'attachments'::regclass
               AND t.tgname IN ('attachments_count_open', 'attachments_one_at_a_time',
                                'attachments_one_at_a_time_update')
               AND (t.tgenabled = 'D') = enable
    LOOP
        EXECUTE format('ALTER TABLE attachments %s TRIGGER %I',
                       CASE WHEN enable THEN 'ENABLE' ELSE 'DISABLE' END, r.tgname);
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;

-- The count as 0023 keeps it, without the early return that bulk_load once asked for.
CREATE OR REPLACE FUNCTION attachments_count_open() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    was_open boolean := TG_OP <> 'INSERT' AND NOT OLD.cancelled AND OLD.valid_to IS NULL;
    is_open boolean := TG_OP <> 'DELETE' AND NOT NEW.cancelled AND NEW.valid_to IS NULL;
    -- the end date of a leaver (NULL: not one)
    was_leaving date := CASE WHEN TG_OP <> 'INSERT' AND NOT OLD.cancelled THEN OLD.valid_to END;
    is_leaving date := CASE WHEN TG_OP <> 'DELETE' AND NOT NEW.cancelled THEN NEW.valid_to END;
    same boolean := TG_OP = 'UPDATE' AND OLD.district_id = NEW.district_id;
    d districts;
BEGIN
    IF same AND was_open = is_open AND was_leaving IS NOT DISTINCT FROM is_leaving THEN
        RETURN NULL;
    END IF;
    IF (was_open OR was_leaving IS NOT NULL) AND NOT same THEN
        UPDATE districts SET nopen = nopen - was_open::int,
                             nleaving = nleaving - coalesce(was_leaving > leaving_floor, false)::int
        WHERE id = OLD.district_id;
    END IF;
    IF is_open OR is_leaving IS NOT NULL OR same THEN
        UPDATE districts
        SET nopen = nopen + is_open::int - (same AND was_open)::int,
            nleaving = nleaving + coalesce(is_leaving > leaving_floor, false)::int
                       - coalesce(same AND was_leaving > leaving_floor, false)::int,
            next_leave = CASE WHEN is_leaving > leaving_floor THEN least(next_leave, is_leaving)
                              ELSE next_leave END
        WHERE id = NEW.district_id RETURNING * INTO d;
        IF is_open AND NOT (same AND was_open)
           AND coalesce(district_load_kept(d), district_load(d)) > d.capacity THEN
            RAISE EXCEPTION 'district % is full (capacity %)', d.id, d.capacity
                USING ERRCODE = 'check_violation', CONSTRAINT = 'districts_within_capacity';
        END IF;
    END IF;
    RETURN NULL;
END $$;
