-- An attachment's and a transfer's district belongs to the polyclinic the row names (issue 10).
--
-- attachments and both sides of transfers named a polyclinic and a district with a foreign key
-- each, so nothing in the database said that the district was one of that polyclinic's. One
-- foreign key on the pair, to districts (polyclinic_id, id), says it, and the polyclinic's own
-- existence follows (districts.polyclinic_id references polyclinics). It is also one check
-- per row instead of two: per auto-approved application 11 foreign-key checks instead of 13,
-- measured with callgrind on one backend running bench/pgbench/campaign_day_min.sql: 3 429k ->
-- 3 326k instructions (-3 %). The service never moves a district to another polyclinic, and a
-- district in use cannot be deleted (the foreign keys to it), so no existing write is refused.
-- Adding the keys checks every row once (one scan of each table); the import's bulk path drops
-- and re-adds them by their catalogue definition (attachments_bulk_drop, 0010), as before.

-- The referenced key: unique because id alone is. It replaces districts_polyclinic_idx
-- (polyclinic_id), which it covers for every query that used it.
ALTER TABLE districts ADD CONSTRAINT districts_polyclinic_id_id_key UNIQUE (polyclinic_id, id);
DROP INDEX districts_polyclinic_idx;

ALTER TABLE attachments
    DROP CONSTRAINT attachments_polyclinic_id_fkey,
    DROP CONSTRAINT attachments_district_id_fkey,
    ADD CONSTRAINT attachments_district_of_polyclinic FOREIGN KEY (polyclinic_id, district_id)
        REFERENCES districts (polyclinic_id, id);
-- Both columns of a side are NULL together (transfers_check): a first attachment has no
-- "from" side, and MATCH SIMPLE leaves such a row unchecked, as the two keys did.
ALTER TABLE transfers
    DROP CONSTRAINT transfers_to_polyclinic_id_fkey,
    DROP CONSTRAINT transfers_to_district_id_fkey,
    DROP CONSTRAINT transfers_from_polyclinic_id_fkey,
    DROP CONSTRAINT transfers_from_district_id_fkey,
    ADD CONSTRAINT transfers_to_district_of_polyclinic
        FOREIGN KEY (to_polyclinic_id, to_district_id) REFERENCES districts (polyclinic_id, id),
    ADD CONSTRAINT transfers_from_district_of_polyclinic
        FOREIGN KEY (from_polyclinic_id, from_district_id)
        REFERENCES districts (polyclinic_id, id);
