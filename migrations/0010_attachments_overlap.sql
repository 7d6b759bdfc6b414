-- One live attachment per person per date (SPEC §3, §5) without the GiST exclusion index, and
-- the bulk-load helpers of `attachd import attachments` (README "Importing existing attachments").
--
-- Why: the exclusion constraint attachments_one_at_a_time (0002) kept a GiST index on
-- (iin::bigint, daterange) that cost three quarters of a 20 M-row import (1 543 s of 2 140 s) and
-- a GiST insertion per attachment on the write path. The btree attachments_by_iin (iin,
-- valid_from) already finds a person's attachments; what the GiST index added was the guarantee
-- under concurrency. Here the guarantee comes from a lock instead:
--
-- Per row (the service, the daily run, psql): the constraint trigger attachments_one_at_a_time
-- takes the person's transaction-level advisory lock, pg_advisory_xact_lock(hashtextextended(iin,
-- 0)) -- the very key the service takes first in every transaction that writes a person's
-- attachments (src/db/applications.c q_lock_person, src/db/daily.c), so for the service it is
-- re-entrant and costs nothing more -- and then looks for a live attachment of that IIN whose
-- dates overlap, on attachments_by_iin.
--
-- Why that is equivalent to the exclusion constraint, in READ COMMITTED (the isolation of every
-- transaction of attachd: db_transaction(..., "READ COMMITTED", ...)):
--  * Two transactions writing overlapping rows of one IIN both take the same advisory lock, which
--    is held until COMMIT or ROLLBACK. The second waits for the first to end.
--  * Each statement of a PL/pgSQL function in READ COMMITTED takes a fresh snapshot. The check
--    runs after the lock is granted, so it sees every row committed before the lock was granted,
--    the first transaction's included, and its own transaction's rows (the statement's new rows
--    as well: the trigger fires AFTER, at the end of the statement, like an immediate constraint).
--    Whichever order they come in, the second one fails. Rows of one statement that overlap each
--    other see each other too.
--  * A row only becomes live by INSERT or by an UPDATE that widens its dates, changes its IIN or
--    un-cancels it (the UPDATE trigger's WHEN). Shrinking a period, cancelling or deleting never
--    creates an overlap: the exclusion constraint would not have checked anything either.
--  * The error is the one the exclusion constraint raised: SQLSTATE 23P01 (exclusion_violation),
--    constraint attachments_one_at_a_time, which src/db/pool.c maps to DB_EXCLUSION_VIOLATION
--    and the API answers 409 "It overlaps an existing record".
-- In REPEATABLE READ or SERIALIZABLE the check would read the transaction's snapshot, taken
-- before the lock was granted: a row committed by the lock's previous holder would be invisible
-- and an overlap could pass (SERIALIZABLE's predicate locks only catch writers that are
-- serializable too). No overlap can be ruled out there, so the trigger refuses the write
-- (SQLSTATE 55000, object_not_in_prerequisite_state) and says to use READ COMMITTED.
--
-- In bulk (attachd.bulk_load = 'on', set only by `attachd import`): the per-row trigger does not
-- fire (its WHEN), because the import checks its whole file at once, within the file and against
-- the table, set-wise -- and it does so while holding a table lock that excludes every other
-- writer (SHARE ROW EXCLUSIVE, or ACCESS EXCLUSIVE while it rebuilds the indexes) from before
-- that check until COMMIT, so nothing it has not seen can be written. Twenty million advisory
-- locks would not fit in the lock table anyway. The statement-level trigger
-- attachments_bulk_needs_lock makes the table lock a rule: a bulk statement without it fails.

ALTER TABLE attachments DROP CONSTRAINT IF EXISTS attachments_one_at_a_time;

CREATE FUNCTION attachments_one_at_a_time() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    other attachments;
BEGIN
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

CREATE CONSTRAINT TRIGGER attachments_one_at_a_time AFTER INSERT ON attachments
    FOR EACH ROW
    WHEN (NOT NEW.cancelled AND current_setting('attachd.bulk_load', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION attachments_one_at_a_time();
CREATE CONSTRAINT TRIGGER attachments_one_at_a_time_update AFTER UPDATE ON attachments
    FOR EACH ROW
    WHEN (NOT NEW.cancelled AND current_setting('attachd.bulk_load', true) IS DISTINCT FROM 'on'
          AND (OLD.cancelled OR NEW.iin <> OLD.iin OR NEW.valid_from < OLD.valid_from
               OR (OLD.valid_to IS NOT NULL
                   AND (NEW.valid_to IS NULL OR NEW.valid_to > OLD.valid_to))))
    EXECUTE FUNCTION attachments_one_at_a_time();

-- A bulk statement (per-row checks off) must run under a lock that keeps every other writer out
-- (SHARE, SHARE ROW EXCLUSIVE, EXCLUSIVE or ACCESS EXCLUSIVE on attachments), taken by the
-- caller before it checked the set. One look at pg_locks per statement.
CREATE FUNCTION attachments_bulk_needs_lock() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_locks
                   WHERE locktype = 'relation' AND relation = 'attachments'::regclass
                     AND pid = pg_backend_pid() AND granted
                     AND mode IN ('ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock',
                                  'AccessExclusiveLock')) THEN
        RAISE EXCEPTION 'attachd.bulk_load needs attachments locked against other writers'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'LOCK TABLE attachments IN SHARE ROW EXCLUSIVE MODE, then check the'
                         ' rows for overlaps set-wise, as attachd import does (migrations/0010)';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER attachments_bulk_needs_lock AFTER INSERT OR UPDATE ON attachments
    FOR EACH STATEMENT
    WHEN (current_setting('attachd.bulk_load', true) = 'on')
    EXECUTE FUNCTION attachments_bulk_needs_lock();

-- The nopen trigger (0002, 0009) returned at once in bulk, but was still called once per row:
-- on 20 M rows that is 20 M PL/pgSQL calls. The WHEN skips the call; the function is unchanged.
DROP TRIGGER attachments_count_open ON attachments;
CREATE TRIGGER attachments_count_open AFTER INSERT OR UPDATE OR DELETE ON attachments
    FOR EACH ROW WHEN (current_setting('attachd.bulk_load', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION attachments_count_open();

-- The IIN's shape (0002) checked without a regular expression: the same rule (12 characters, each
-- 0-9), at a fraction of the cost; the regex was 2 µs of the 5 µs a row cost in a bulk load.
ALTER TABLE attachments DROP CONSTRAINT attachments_iin_check,
    ADD CONSTRAINT attachments_iin_check
        CHECK (octet_length(iin) = 12 AND ltrim(iin, '0123456789') = '');

-- ---- Indexes and foreign keys after the load ---------------------------------------------------
-- Maintaining a btree row by row costs several times building it once from sorted input, and each
-- foreign key costs a trigger call and an index probe per row (about 6 µs each: measured, two
-- thirds of the insert). A large import into an empty or small register drops the secondary
-- indexes and the foreign keys of attachments in its transaction, loads, and builds them again:
-- the indexes sorted, each foreign key checked in one anti-join. All of it is rolled back if
-- anything fails, so the table never goes without them outside that transaction. The
-- definitions are read from the catalogue, so an index or foreign key added by a later migration
-- is handled too. The primary key stays: rows arrive in id order, so it is only appended to, and
-- other tables refer to it. The caller holds ACCESS EXCLUSIVE on attachments (DROP INDEX takes
-- it anyway); re-adding a foreign key takes SHARE ROW EXCLUSIVE on the table it refers to
-- (polyclinics, districts, applications) until COMMIT.

CREATE FUNCTION attachments_bulk_drop() RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    n integer := 0;
    r record;
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS attachments_dropped (ord int, name text, def text)
        ON COMMIT DROP;
    FOR r IN SELECT k.conname AS name,
                    format('ALTER TABLE attachments ADD CONSTRAINT %I %s', k.conname,
                           pg_get_constraintdef(k.oid)) AS def
             FROM pg_constraint k
             WHERE k.conrelid = 'attachments'::regclass AND k.contype = 'f'
    LOOP
        INSERT INTO attachments_dropped VALUES (2, r.name, r.def);
        EXECUTE format('ALTER TABLE attachments DROP CONSTRAINT %I', r.name);
        n := n + 1;
    END LOOP;
    FOR r IN SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS def
             FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
             WHERE i.indrelid = 'attachments'::regclass
               AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
    LOOP
        INSERT INTO attachments_dropped VALUES (1, r.name, r.def);
        EXECUTE format('DROP INDEX %I', r.name);
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;

-- Indexes first: a foreign key's check then runs with the statistics of a table that has them.
CREATE FUNCTION attachments_bulk_rebuild() RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    n integer := 0;
    r record;
BEGIN
    FOR r IN SELECT def FROM attachments_dropped ORDER BY ord, name LOOP
        EXECUTE r.def;
        n := n + 1;
    END LOOP;
    DELETE FROM attachments_dropped;
    RETURN n;
END $$;
