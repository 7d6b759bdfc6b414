-- An application's polyclinic is checked through its districts, and polyclinics are kept for ever
-- (issue 10).
--
-- applications.polyclinic_id referenced polyclinics, so every submission took a FOR KEY SHARE
-- lock on its polyclinic's row until COMMIT: a foreign-key query (about 46k instructions), a
-- WAL record for the lock and, while other submissions to that polyclinic still held theirs, a
-- new MultiXact. A campaign day sends thousands of submissions a second to a few hundred
-- polyclinics. With this migration: 2 045.5k -> 1 989.5k instructions per application
-- (bench/write_cost.sh, docs/PERFORMANCE.md round 11).
--
-- What the keys guarantee now:
--  * The districts an application names, the one asked for and the one it was approved for, are
--    keyed together with its polyclinic, (polyclinic_id, requested_district_id) and
--    (polyclinic_id, district_id), as attachments and transfers are since 0019. An approved
--    application's polyclinic is checked by that key, which every approval already paid for,
--    and its district is now also known to be one of that polyclinic's, which the two keys on
--    one column each did not say. The service already checked both (the facts' district_ok,
--    the approval's choice among the polyclinic's districts).
--  * A polyclinic is never deleted (it closes: accepting false) and never gets a new id: DELETE,
--    TRUNCATE and a new id are refused, as tokens' are since 0024. The service stores an
--    application only after reading its polyclinic in the same transaction (the facts'
--    poly_exists), so no application it wrote can lose its polyclinic.
--  * A pending or refused application without a district, written by hand, is not checked: the
--    one thing given up.

ALTER TABLE applications
    DROP CONSTRAINT applications_polyclinic_id_fkey,
    DROP CONSTRAINT applications_district_id_fkey,
    DROP CONSTRAINT applications_requested_district_id_fkey,
    ADD CONSTRAINT applications_district_of_polyclinic FOREIGN KEY (polyclinic_id, district_id)
        REFERENCES districts (polyclinic_id, id),
    ADD CONSTRAINT applications_requested_district_of_polyclinic
        FOREIGN KEY (polyclinic_id, requested_district_id) REFERENCES districts (polyclinic_id, id);

CREATE FUNCTION polyclinics_are_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a polyclinic is closed (accepting false), never deleted: applications name it'
        USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER polyclinics_are_kept BEFORE DELETE ON polyclinics
    FOR EACH ROW EXECUTE FUNCTION polyclinics_are_kept();
CREATE TRIGGER polyclinics_keep_their_id BEFORE UPDATE OF id ON polyclinics
    FOR EACH ROW WHEN (OLD.id <> NEW.id) EXECUTE FUNCTION polyclinics_are_kept();
CREATE TRIGGER polyclinics_are_kept_truncate BEFORE TRUNCATE ON polyclinics
    FOR EACH STATEMENT EXECUTE FUNCTION polyclinics_are_kept();
