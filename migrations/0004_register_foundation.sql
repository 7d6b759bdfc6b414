-- Shared ground for SPEC §11 and §12, laid before the work on either: the events table that
-- every change writes into (in the same transaction as the change), transfers that remember the
-- ownership of both sides as it was on the day of approval, and age-out transfers.

-- ---- events (§12) ---------------------------------------------------------------------------
-- One row per change a portal or polyclinic must react to. `id` is taken when the row is
-- written, so it does not follow commit order; `pos` is the position in commit order, stamped
-- after commit (see the events feed), and the feed pages by `pos`. polyclinic_id is the
-- polyclinic the event is about (the receiving one for a move), other_polyclinic_id the one a
-- person leaves, if any: a registrar of either sees the event.
CREATE TABLE events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    type text NOT NULL CHECK (type IN ('application.submitted', 'application.decided',
                                       'application.withdrawn', 'attachment.started',
                                       'attachment.ended', 'transfer.cancelled',
                                       'child.aged_out')),
    at timestamptz NOT NULL DEFAULT now(),
    application_id bigint,
    iin text CHECK (iin ~ '^[0-9]{12}$'),
    polyclinic_id bigint,
    other_polyclinic_id bigint,
    data jsonb NOT NULL DEFAULT '{}',
    pos bigint UNIQUE
);
CREATE INDEX events_unstamped ON events (id) WHERE pos IS NULL;

-- The one way to write an event.
CREATE FUNCTION emit_event(p_type text, p_application_id bigint, p_iin text,
                           p_polyclinic_id bigint, p_other_polyclinic_id bigint, p_data jsonb)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO events (type, application_id, iin, polyclinic_id, other_polyclinic_id, data)
    VALUES (p_type, p_application_id, p_iin, p_polyclinic_id, p_other_polyclinic_id,
            coalesce(p_data, '{}'))
$$;

-- ---- transfers (§11) ------------------------------------------------------------------------
-- Ownership of each side on the day of approval, so that later edits of a polyclinic never
-- change past statistics. Existing rows take today's values (the best there is).
ALTER TABLE transfers ADD COLUMN from_ownership text CHECK (from_ownership IN ('public', 'private'));
ALTER TABLE transfers ADD COLUMN to_ownership text CHECK (to_ownership IN ('public', 'private'));
UPDATE transfers t SET to_ownership = p.ownership FROM polyclinics p WHERE p.id = t.to_polyclinic_id;
UPDATE transfers t SET from_ownership = p.ownership FROM polyclinics p WHERE p.id = t.from_polyclinic_id;
ALTER TABLE transfers ALTER COLUMN to_ownership SET NOT NULL;
ALTER TABLE transfers ADD CONSTRAINT transfers_from_ownership
    CHECK ((from_polyclinic_id IS NULL) = (from_ownership IS NULL));

-- A child who passes the upper age of a pediatric district moves within the polyclinic.
ALTER TABLE transfers DROP CONSTRAINT transfers_grounds_check;
ALTER TABLE transfers ADD CONSTRAINT transfers_grounds_check
    CHECK (grounds IN ('campaign', 'relocation', 'clinic_closed', 'import', 'age_out'));
