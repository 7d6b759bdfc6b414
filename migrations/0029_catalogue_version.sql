-- The catalogues a submission reads that change a few times a year, district_kinds and holidays
-- (its rules) and refusal_reasons (its answer), carry a version: attachd keeps their text per
-- worker thread and reads them again only when the version (or the day) is not the one it kept
-- (issue 10).
--
-- A submission's facts statement read the first two in every execution, two sublinks whose
-- executor state PostgreSQL builds every time: about 64k of its 1 830k instructions per
-- application (bench/write_cost.sh, docs/PERFORMANCE.md round 13). It now reads the one version
-- row instead. A refused application's answer looked its reason up in every refusal.
--
-- The version changes in the statement that changes any of them (a statement trigger, also for
-- TRUNCATE), in the same transaction, so a snapshot that sees the version sees the catalogues it
-- names. It is the time of the change in microseconds (at least the last one plus one), not a
-- counter: a database restored from an older backup, or another database behind the same
-- address, does not show a version an attachd kept for other contents.

CREATE TABLE catalogue_version (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    version bigint NOT NULL
);
INSERT INTO catalogue_version (version)
VALUES ((extract(epoch FROM clock_timestamp()) * 1000000)::bigint);

-- Every submission's facts are read FROM this one row: without it they would find no row and
-- answer every submission as if its polyclinic did not exist. It is never deleted.
CREATE FUNCTION catalogue_version_is_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'catalogue_version has one row, never deleted: every submission reads it'
        USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER catalogue_version_is_kept BEFORE DELETE ON catalogue_version
    FOR EACH ROW EXECUTE FUNCTION catalogue_version_is_kept();
CREATE TRIGGER catalogue_version_is_kept_truncate BEFORE TRUNCATE ON catalogue_version
    FOR EACH STATEMENT EXECUTE FUNCTION catalogue_version_is_kept();

CREATE FUNCTION catalogue_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE catalogue_version
       SET version = greatest(version + 1, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint);
    RETURN NULL;
END $$;

CREATE TRIGGER district_kinds_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON district_kinds
    FOR EACH STATEMENT EXECUTE FUNCTION catalogue_changed();
CREATE TRIGGER holidays_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON holidays
    FOR EACH STATEMENT EXECUTE FUNCTION catalogue_changed();
CREATE TRIGGER refusal_reasons_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON refusal_reasons
    FOR EACH STATEMENT EXECUTE FUNCTION catalogue_changed();
