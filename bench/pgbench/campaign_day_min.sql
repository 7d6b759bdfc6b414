-- Baseline of campaign-day's auto-approvals (bench/run.sh campaign-day, "least SQL"): the least
-- SQL an application approved at once needs, as the developers' guide puts the bar
-- ("a campaign-day application (auto-approved) at >= 0.5x pgbench running the least SQL such an
-- application needs"). Not the SQL attachd runs (no same-SQL check): what any implementation
-- of the rules must do at the least, with the same schema, triggers and constraints (audit row,
-- events, nopen and its capacity backstop, the exclusion constraint), fsync on.
--   1. the person's lock (one operation per person at a time);
--   2. the facts a decision needs: the campaign, the polyclinic (taking part, auto_approve),
--      a pending application, a live attachment, the changes used this campaign;
--   3. a district of the adult kind with room (unlocked: the capacity backstop's UPDATE of the
--      chosen district's nopen is the lock; a district filled meanwhile fails that backstop, as
--      attachd's optimistic auto-approval does, src/db/applications.c);
--   4. the application, its attachment and its transfer, in one statement;
--   5. COMMIT.
-- Until round 6 (docs/PERFORMANCE.md) step 3 first locked all of the polyclinic's districts, as
-- attachd did.
-- Variables (-D): k=0 (per-client counter), npolys (how many polyclinics auto-approve, in id
-- order), person (a person document as the portal sends it). The IIN is new in every
-- transaction (client_id and k; "10" then month "00" never collides with wrk's, which are
-- real birth dates). Adults only (born 1985): their district kind is the adult one.
-- One statement per line, ending in a semicolon (or \gset).
\set k :k + 1
\set iin 100000000000 + :client_id * 1000000000 + :k
\set pn random(0, :npolys - 1)
BEGIN ISOLATION LEVEL READ COMMITTED;
SELECT pg_advisory_xact_lock(hashtextextended(:iin::text, 0));
SELECT p.id AS poly, p.accepting AND p.fsms_contract AND p.auto_approve AS takes_part, c.year AS year, c.effective_on AS eff, (SELECT id FROM applications WHERE iin = :iin::text AND status = 'pending') AS pending, (SELECT id FROM attachments WHERE iin = :iin::text AND NOT cancelled AND (valid_to IS NULL OR valid_to > current_date) LIMIT 1) AS live, (SELECT count(*) FROM transfers t WHERE t.iin = :iin::text AND t.counts_as_change AND t.campaign_year = c.year) AS changes FROM polyclinics p LEFT JOIN campaigns c ON current_date BETWEEN c.opens_on AND c.closes_on WHERE p.id = (SELECT id FROM polyclinics WHERE auto_approve AND accepting AND fsms_contract ORDER BY id OFFSET :pn LIMIT 1) \gset
SELECT d.id AS district FROM districts d JOIN district_kinds k ON k.code = d.kind WHERE d.polyclinic_id = :poly AND d.open AND k.min_age <= 41 AND coalesce(k.max_age, 200) >= 41 AND coalesce(district_load_kept(d), district_load(d)) < d.capacity ORDER BY d.nopen, d.id LIMIT 1 \gset
WITH n AS (SELECT nextval('applications_id_seq') AS id), att AS (INSERT INTO attachments (iin, polyclinic_id, district_id, valid_from, application_id) SELECT :iin::text, :poly, :district, :eff::date, n.id FROM n), tr AS (INSERT INTO transfers (iin, from_polyclinic_id, from_district_id, to_polyclinic_id, to_district_id, effective_on, grounds, application_id, campaign_year, counts_as_change, from_ownership, to_ownership) SELECT :iin::text, NULL, NULL, :poly, :district, :eff::date, 'campaign', n.id, :year, false, NULL, p.ownership FROM n JOIN polyclinics p ON p.id = :poly) INSERT INTO applications (id, iin, person, birth_date, settlement, address, polyclinic_id, channel, grounds, status, campaign_year, decided_at, decided_by, district_id, effective_on) OVERRIDING SYSTEM VALUE SELECT n.id, :iin::text, :person::jsonb, '1985-03-14', '751110000', 'ул. Абая, 1, кв. 1', :poly, 'egov', 'campaign', 'approved', :year, now(), 'attachd (auto_approve)', :district, :eff::date FROM n;
COMMIT;
