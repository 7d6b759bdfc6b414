-- A district's leavers counted by the attachments trigger, as its open-ended attachments are
-- (districts.nopen), instead of counted in every read of its load (issue 10).
--
-- The load of a district on a day (district_load, 0002) is its open-ended attachments plus those
-- leaving after that day. The leavers were counted per district per read: a correlated count
-- over attachments_leaving in each submission's facts (one per district of the polyclinic) and
-- in the capacity backstop of each approval, growing on a campaign day with the people who
-- move out. Counted with the writes instead, a read is constant:
--  * nleaving: the live attachments of the district with an end date after leaving_floor;
--  * next_leave: no such attachment ends on or before it (a lower bound of their end dates;
--    NULL: there is none);
--  * leaving_floor: the day nleaving was last counted from scratch.
-- On a day t with leaving_floor <= t < next_leave (or next_leave NULL) nobody counted has left
-- yet, so the leavers on t are nleaving exactly; otherwise (after a leaver's last day, or in a
-- session whose current_date is before the floor) they are counted as before. A recount
-- (districts_leaving_recount, below: the daily run and the import call it) moves the floor to
-- today, which brings the district back to the constant read. The trigger keeps the count under
-- the district's row lock, as it keeps nopen: an attachment's end date set, moved or cancelled
-- changes it in the same UPDATE as nopen. Measured with bench/write_cost.sh (docs/PERFORMANCE.md,
-- round 9).

ALTER TABLE districts
    ADD COLUMN nleaving district_count NOT NULL DEFAULT 0,
    ADD COLUMN next_leave date,
    ADD COLUMN leaving_floor date NOT NULL DEFAULT current_date;

-- The load as the kept counts give it, NULL when they do not (a leaver counted there has left,
-- or the session's day is before the count's). A SQL expression, so PostgreSQL inlines it where
-- it is called: into the plan of a prepared statement, or of a PL/pgSQL expression, planned
-- once; it costs no call.
CREATE FUNCTION district_load_kept(d districts) RETURNS integer LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN d.leaving_floor <= current_date
                     AND (d.next_leave IS NULL OR d.next_leave > current_date)
                THEN d.nopen + d.nleaving END
$$;

-- The load with the leavers as above: the one definition. The submission's facts
-- (src/db/applications.c, DISTRICTS_TEXT) and the capacity backstop below read
-- coalesce(district_load_kept(d), district_load(d)): no subquery in their plans (a subplan's
-- executor state is built in every execution of the statement that holds it), no call on most
-- days.
CREATE OR REPLACE FUNCTION district_load(d districts) RETURNS integer LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN coalesce(district_load_kept(d),
                    d.nopen + (SELECT count(*)::int FROM attachments a
                               WHERE a.district_id = d.id AND NOT a.cancelled
                               AND a.valid_to > current_date));
END $$;

-- Counts the leavers of the districts `ids` (NULL: those whose count is not the constant read
-- today) from scratch, the floor today. The rows are locked in id order first (the approvals'
-- order) and counted in a later statement, so every attachment committed before a lock was
-- granted is counted and none is counted twice by the trigger. Returns how many it counted.
CREATE FUNCTION districts_leaving_recount(ids bigint[] DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    locked bigint[];
BEGIN
    SELECT array_agg(id ORDER BY id) INTO locked FROM (
        SELECT id FROM districts
        WHERE CASE WHEN ids IS NULL
                   THEN leaving_floor > current_date OR next_leave <= current_date
                   ELSE id = ANY (ids) END
        ORDER BY id FOR UPDATE) l;
    -- per district, through attachments_leaving (0002), however large the register
    UPDATE districts d SET leaving_floor = current_date, nleaving = c.n, next_leave = c.next
    FROM unnest(locked) x(id),
         LATERAL (SELECT count(*)::int AS n, min(a.valid_to) AS next FROM attachments a
                  WHERE a.district_id = x.id AND NOT a.cancelled
                    AND a.valid_to > current_date) c
    WHERE d.id = x.id;
    RETURN coalesce(cardinality(locked), 0);
END $$;

-- The districts already there, counted now: no attachment may change meanwhile.
LOCK TABLE attachments IN SHARE MODE;
SELECT districts_leaving_recount(ARRAY(SELECT id FROM districts));

-- districts.nopen, nleaving and next_leave as above, and the capacity backstop (0002, 0009):
-- an attachment's share of its district (open-ended, or leaving on its end date, or nothing
-- when cancelled) leaves the old row's district and joins the new row's, in one UPDATE when the
-- district is the same. The backstop reads the load as the facts do: district_load_kept()
-- inlined, a simple expression for PL/pgSQL (no executor started) on the days when nobody
-- counted has left.
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
    IF current_setting('attachd.bulk_load', true) = 'on' THEN
        RETURN NULL;
    END IF;
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

-- The audit of a district leaves its bookkeeping out, nopen's and now the leavers' (0003).
DROP TRIGGER audit ON districts;
CREATE TRIGGER audit AFTER INSERT OR UPDATE OF number, kind, capacity, open OR DELETE ON districts
    FOR EACH ROW EXECUTE FUNCTION audit_row('district', 'id', 'nopen', 'nleaving', 'next_leave',
                                            'leaving_floor', 'updated_at');
