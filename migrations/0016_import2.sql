-- The register import, round 2 (issue 10, deliverable 4; docs/PERFORMANCE.md "The register
-- import"): the bulk-load helpers of 0010 also take the primary key out during the load, and the
-- per-row triggers that do nothing in bulk are disabled for the load's COPY.
--
-- Primary key: COPY maintained it row by row (a btree insertion and a WAL record per row); built
-- once after the load it is a sort of ids that arrive in order. The foreign keys that refer to
-- attachments (age_outs_unplaced, and any a later migration adds) have to go with it; they are
-- re-added last, which checks their rows (few) against the new key. As in 0010 everything is
-- dropped and re-added in the caller's transaction under ACCESS EXCLUSIVE on attachments, so no
-- other session ever sees the table without them, and a failure rolls all of it back. Re-adding
-- the primary key checks that the ids are unique and not null, as the index did row by row.
--
-- Each statement's duration is reported as a NOTICE (attachd import logs them), so that the
-- import's log says which index or foreign key its rebuild step spent its time on.

CREATE OR REPLACE FUNCTION attachments_bulk_drop() RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    n integer := 0;
    r record;
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS attachments_dropped (ord int, name text, def text)
        ON COMMIT DROP;
    -- Foreign keys first, those of attachments (re-added at 2) and those referring to it (3):
    -- the primary key cannot go while a foreign key depends on it.
    FOR r IN SELECT k.conname AS name, k.conrelid::regclass AS tab,
                    CASE WHEN k.conrelid = 'attachments'::regclass THEN 2 ELSE 3 END AS ord,
                    format('ALTER TABLE %s ADD CONSTRAINT %I %s', k.conrelid::regclass, k.conname,
                           pg_get_constraintdef(k.oid)) AS def
             FROM pg_constraint k
             WHERE k.contype = 'f'
               AND (k.conrelid = 'attachments'::regclass OR k.confrelid = 'attachments'::regclass)
    LOOP
        INSERT INTO attachments_dropped VALUES (r.ord, r.name, r.def);
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.tab, r.name);
        n := n + 1;
    END LOOP;
    -- The primary key and any unique constraint (built again first, at 0).
    FOR r IN SELECT k.conname AS name,
                    format('ALTER TABLE attachments ADD CONSTRAINT %I %s', k.conname,
                           pg_get_constraintdef(k.oid)) AS def
             FROM pg_constraint k
             WHERE k.conrelid = 'attachments'::regclass AND k.contype IN ('p', 'u')
    LOOP
        INSERT INTO attachments_dropped VALUES (0, r.name, r.def);
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

-- Keys first, then the other indexes, then the foreign keys (a foreign key's check runs with the
-- statistics of a table that has its indexes).
CREATE OR REPLACE FUNCTION attachments_bulk_rebuild() RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    n integer := 0;
    r record;
    t timestamptz;
BEGIN
    FOR r IN SELECT name, def FROM attachments_dropped ORDER BY ord, name LOOP
        t := clock_timestamp();
        EXECUTE r.def;
        RAISE NOTICE 'rebuilt % in % s', r.name,
            round(extract(epoch FROM clock_timestamp() - t)::numeric, 1);
        n := n + 1;
    END LOOP;
    DELETE FROM attachments_dropped;
    RETURN n;
END $$;

-- The row triggers of attachments whose WHEN skips them in bulk (attachd.bulk_load = 'on': the
-- overlap check and the nopen count, 0010), disabled (enable = false) or enabled again. They
-- would not fire for any row of a bulk statement; the WHEN alone costs a current_setting() call
-- per row and trigger. Only under ACCESS EXCLUSIVE on attachments, taken by the caller, and
-- enabled again before it commits: no other session sees them disabled (the catalogue change is
-- the caller's, and rolled back with it if anything fails). Returns how many it changed.
CREATE FUNCTION attachments_bulk_triggers(enable boolean) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    n integer := 0;
    r record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_locks
                   WHERE locktype = 'relation' AND relation = 'attachments'::regclass
                     AND pid = pg_backend_pid() AND granted AND mode = 'AccessExclusiveLock') THEN
        RAISE EXCEPTION 'attachments_bulk_triggers needs attachments locked ACCESS EXCLUSIVE'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    FOR r IN SELECT t.tgname FROM pg_trigger t
             WHERE t.tgrelid = 'attachments'::regclass AND NOT t.tgisinternal
               AND (t.tgtype & 1) = 1 -- FOR EACH ROW
               AND pg_get_triggerdef(t.oid)
                   LIKE '%current_setting(''attachd.bulk_load''::text, true) IS DISTINCT FROM ''on''::text%'
               AND (t.tgenabled = 'D') = enable
    LOOP
        EXECUTE format('ALTER TABLE attachments %s TRIGGER %I',
                       CASE WHEN enable THEN 'ENABLE' ELSE 'DISABLE' END, r.tgname);
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;
