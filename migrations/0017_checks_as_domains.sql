-- The write path's one-column CHECK constraints become domains (issue 10). Nothing stored or
-- accepted changes: each rule below is the CHECK it replaces, word for word (the IIN's shape in
-- the cheaper form attachments already used, 0010), and a violation is still SQLSTATE 23514.
--
-- Why: PostgreSQL 15 keeps a table's CHECK constraints as node-tree text and reads, plans and
-- compiles every one of them again in each statement that writes the table. An auto-approved
-- application writes applications (11 CHECKs), transfers (7), attachments (2), events (3, twice)
-- and districts (3, the nopen update): measured with callgrind on a single backend running the
-- least SQL of an auto-approval (bench/pgbench/campaign_day_min.sql), ExecConstraints was 20 %
-- of the backend's instructions, and dropping every CHECK saved 22 %. A domain's constraint is
-- read and planned once per session (the type cache) and only compiled per statement, and only
-- where a value of the domain is assigned: the nopen update assigns no domain but nopen's.
-- With the one-column rules as domains: 3 910k -> 3 440k instructions per application (-12 %).
-- The rules that tie columns together (a refusal has its reason, an approval its district, ...)
-- stay table CHECKs: a domain sees one value. Merging them into one CHECK per table saved 1 %
-- more and would have made a violation name no rule, so they stay as they are.
--
-- How, without rewriting the tables (a 20 M register): a column changes to a domain that has
-- no constraint yet (binary-coercible: no rewrite), then the domain gets its constraint,
-- validated by one scan of the columns that use it. Most indexes are kept as they are; those
-- that name a changed column in a predicate, an expression or an INCLUDE list are built again
-- (checked on a copy with 93 000 applications: applications_one_pending, applications_overdue,
-- attachments_population, transfers_changes and events' partial indexes; the tables kept their
-- files). On a 20 M register that is minutes under ACCESS EXCLUSIVE: an operator's job before
-- a campaign, like the import. Triggers whose WHEN or
-- UPDATE OF names a changed column block the type change: they are dropped and created again
-- exactly as they were. districts_capacity_within_norm now fires only when a column its body
-- looks at is assigned (polyclinic_id, number, kind, capacity, open: it did nothing otherwise),
-- so the nopen update of every approval calls no PL/pgSQL for it.

CREATE DOMAIN iin_text AS text;
CREATE DOMAIN kato_text AS text;
CREATE DOMAIN application_channel AS text;
CREATE DOMAIN application_grounds AS text;
CREATE DOMAIN application_status AS text;
CREATE DOMAIN application_warnings AS text[];
CREATE DOMAIN transfer_grounds AS text;
CREATE DOMAIN ownership_kind AS text;
CREATE DOMAIN event_type AS text;
CREATE DOMAIN event_pos AS bigint;
CREATE DOMAIN district_number AS text;
CREATE DOMAIN district_capacity AS int;
CREATE DOMAIN district_count AS int;

DROP TRIGGER audit_decision ON applications;
DROP TRIGGER audit_decided_at_once ON applications;
DROP TRIGGER applications_events_update ON applications;
DROP TRIGGER attachments_one_at_a_time_update ON attachments;
DROP TRIGGER audit ON districts;
DROP TRIGGER districts_capacity_within_norm ON districts;

ALTER TABLE applications
    DROP CONSTRAINT applications_iin_check,
    DROP CONSTRAINT applications_settlement_check,
    DROP CONSTRAINT applications_channel_check,
    DROP CONSTRAINT applications_grounds_check,
    DROP CONSTRAINT applications_status_check,
    DROP CONSTRAINT applications_known_warnings,
    ALTER COLUMN iin TYPE iin_text,
    ALTER COLUMN settlement TYPE kato_text,
    ALTER COLUMN channel TYPE application_channel,
    ALTER COLUMN grounds TYPE application_grounds,
    ALTER COLUMN status TYPE application_status,
    ALTER COLUMN warnings TYPE application_warnings;
ALTER TABLE attachments
    DROP CONSTRAINT attachments_iin_check,
    ALTER COLUMN iin TYPE iin_text;
ALTER TABLE transfers
    DROP CONSTRAINT transfers_iin_check,
    DROP CONSTRAINT transfers_grounds_check,
    DROP CONSTRAINT transfers_from_ownership_check,
    DROP CONSTRAINT transfers_to_ownership_check,
    ALTER COLUMN iin TYPE iin_text,
    ALTER COLUMN grounds TYPE transfer_grounds,
    ALTER COLUMN from_ownership TYPE ownership_kind,
    ALTER COLUMN to_ownership TYPE ownership_kind;
ALTER TABLE events
    DROP CONSTRAINT events_iin_check,
    DROP CONSTRAINT events_type_check,
    DROP CONSTRAINT events_pos_positive,
    ALTER COLUMN iin TYPE iin_text,
    ALTER COLUMN type TYPE event_type,
    ALTER COLUMN pos TYPE event_pos;
ALTER TABLE districts
    DROP CONSTRAINT districts_number_check,
    DROP CONSTRAINT districts_capacity_check,
    DROP CONSTRAINT districts_nopen_check,
    ALTER COLUMN number TYPE district_number,
    ALTER COLUMN capacity TYPE district_capacity,
    ALTER COLUMN nopen TYPE district_count;

-- The rules, as they were (applications_known_warnings was added NOT VALID in 0005: so is its
-- domain constraint; every other one is validated now).
ALTER DOMAIN iin_text ADD CONSTRAINT iin_text_check
    CHECK (octet_length(VALUE) = 12 AND ltrim(VALUE, '0123456789') = '');
ALTER DOMAIN kato_text ADD CONSTRAINT kato_text_check CHECK (VALUE ~ '^[0-9]{9}$');
ALTER DOMAIN application_channel ADD CONSTRAINT application_channel_check
    CHECK (VALUE IN ('egov', 'in_person'));
ALTER DOMAIN application_grounds ADD CONSTRAINT application_grounds_check
    CHECK (VALUE IN ('campaign', 'relocation', 'clinic_closed'));
ALTER DOMAIN application_status ADD CONSTRAINT application_status_check
    CHECK (VALUE IN ('pending', 'approved', 'refused', 'withdrawn'));
ALTER DOMAIN application_warnings ADD CONSTRAINT application_warnings_known
    CHECK (VALUE <@ ARRAY['IIN_BIRTH_DATE_MISMATCH', 'IIN_SEX_MISMATCH',
                          'IIN_CENTURY_UNKNOWN']) NOT VALID;
ALTER DOMAIN transfer_grounds ADD CONSTRAINT transfer_grounds_check
    CHECK (VALUE IN ('campaign', 'relocation', 'clinic_closed', 'import', 'age_out'));
ALTER DOMAIN ownership_kind ADD CONSTRAINT ownership_kind_check
    CHECK (VALUE IN ('public', 'private'));
ALTER DOMAIN event_type ADD CONSTRAINT event_type_check
    CHECK (VALUE IN ('application.submitted', 'application.decided', 'application.withdrawn',
                     'attachment.started', 'attachment.ended', 'transfer.cancelled',
                     'child.aged_out'));
ALTER DOMAIN event_pos ADD CONSTRAINT event_pos_positive CHECK (VALUE > 0);
ALTER DOMAIN district_number ADD CONSTRAINT district_number_check
    CHECK (VALUE ~ '^[0-9A-Za-z/-]{1,16}$');
ALTER DOMAIN district_capacity ADD CONSTRAINT district_capacity_check CHECK (VALUE > 0);
ALTER DOMAIN district_count ADD CONSTRAINT district_count_check CHECK (VALUE >= 0);

-- The triggers, as they were (0003, 0008, 0010, 0001), but districts_capacity_within_norm:
-- only when a column it looks at is assigned.
CREATE TRIGGER audit_decision AFTER UPDATE OF status ON applications
    FOR EACH ROW EXECUTE FUNCTION audit_row('application', 'id', 'person', 'representative',
                                            'birth_certificate', 'family_iins', 'address',
                                            'request_hash', 'idempotency_key');
CREATE TRIGGER audit_decided_at_once AFTER INSERT ON applications
    FOR EACH ROW WHEN (NEW.status <> 'pending')
    EXECUTE FUNCTION audit_row('application', 'id', 'person', 'representative',
                               'birth_certificate', 'family_iins', 'address', 'request_hash',
                               'idempotency_key');
CREATE CONSTRAINT TRIGGER applications_events_update AFTER UPDATE OF status ON applications
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION applications_events_update();
CREATE CONSTRAINT TRIGGER attachments_one_at_a_time_update AFTER UPDATE ON attachments
    FOR EACH ROW
    WHEN (NOT NEW.cancelled AND current_setting('attachd.bulk_load', true) IS DISTINCT FROM 'on'
          AND (OLD.cancelled OR NEW.iin <> OLD.iin OR NEW.valid_from < OLD.valid_from
               OR (OLD.valid_to IS NOT NULL AND (NEW.valid_to IS NULL
                                                 OR NEW.valid_to > OLD.valid_to))))
    EXECUTE FUNCTION attachments_one_at_a_time();
CREATE TRIGGER audit AFTER INSERT OR DELETE OR UPDATE OF number, kind, capacity, open ON districts
    FOR EACH ROW EXECUTE FUNCTION audit_row('district', 'id', 'nopen', 'updated_at');
CREATE TRIGGER districts_capacity_within_norm
    BEFORE INSERT OR UPDATE OF polyclinic_id, number, kind, capacity, open ON districts
    FOR EACH ROW EXECUTE FUNCTION districts_capacity_within_norm();

-- A column's type change drops its statistics: a register that holds rows is analysed again
-- now. An empty one is left never analysed, as it was: ANALYZE would record it empty, and the
-- plans cached while it fills would assume so until autovacuum's next ANALYZE (measured: an
-- order of magnitude slower submissions for the first minute of a fresh database).
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['applications', 'attachments', 'transfers', 'events', 'districts'] LOOP
        IF (SELECT reltuples > 0 FROM pg_class WHERE oid = t::regclass) THEN
            EXECUTE format('ANALYZE %I', t);
        END IF;
    END LOOP;
END $$;
