-- Baseline of the application-post scenario: the transaction POST /v1/applications runs for an
-- application that passes the checks and stays pending (application_submit and submit_tx in
-- src/db/applications.c): the person's advisory lock, the facts (of a request without an
-- Idempotency-Key), the insert with its event (its data's members as attachd renders them:
-- trail_members). bench/run.sh checks
-- that attachd still runs exactly these statements (SQL-DRIFT otherwise) and passes the values
-- attachd sent for its sample request as -D variables; pgbench cannot send a NULL parameter, so
-- where attachd sends NULL the statement has the literal NULL. The IIN is new in every
-- transaction (client_id and a per-client counter k, -D k=0), like wrk's; the person document and
-- the request hash are the sample's for every transaction (same sizes as attachd's).
-- The statements go in one pipeline, as attachd sends them without BEGIN and COMMIT: one
-- implicit transaction, committed at the pipeline's sync (attachd reads the facts' answer
-- before it sends the insert, so its transaction is two flights; here it is one).
-- One statement per line, ending in a semicolon.
\set k :k + 1
\set iin 100000000000 + :client_id * 1000000000 + :k
\startpipeline
SELECT pg_advisory_xact_lock(hashtextextended(:iin, 0));;
SELECT (current_date - DATE '1970-01-01') AS today, now() AS now, c.year AS campaign_year, (c.effective_on - DATE '1970-01-01') AS campaign_effective_on, c.max_changes AS max_changes, p.id IS NOT NULL AS poly_exists, coalesce(p.accepting AND p.fsms_contract, false) AS accepting, coalesce(p.auto_approve, false) AS auto_approve, p.ownership AS ownership, coalesce(p.settlement = :settlement::bpchar, false) AS in_own_settlement, pa.id AS pending_id, pa.polyclinic_id AS pending_polyclinic_id, array_to_json(ARRAY(SELECT json_build_array(l.id, l.polyclinic_id, l.district_id, l.valid_from <= current_date, lp.accepting AND lp.fsms_contract, l.valid_from - DATE '1970-01-01', la.id, la.settlement, la.address, lp.ownership) FROM attachments l LEFT JOIN applications la ON la.id = l.application_id LEFT JOIN polyclinics lp ON lp.id = l.polyclinic_id WHERE l.iin = :iin AND NOT l.cancelled AND (l.valid_to IS NULL OR l.valid_to > current_date)))::text AS live, cardinality(ARRAY(SELECT 1 FROM transfers t WHERE t.iin = :iin AND t.counts_as_change AND t.campaign_year = coalesce(c.year, extract(year FROM current_date)::int))) AS changes_used, v.version AS catalogue_version, NULL::bigint AS idem_id, NULL::boolean AS idem_same, array_to_string(ARRAY(SELECT ROW(d.id, d.kind, d.capacity, coalesce(district_load_kept(d), district_load(d)), d.open::int, d.number)::text FROM districts d WHERE d.polyclinic_id = :polyclinic_id), ';') AS districts FROM catalogue_version v LEFT JOIN campaigns c ON current_date BETWEEN c.opens_on AND c.closes_on LEFT JOIN polyclinics p ON p.id = :polyclinic_id LEFT JOIN applications pa ON pa.iin = :iin AND pa.status = 'pending';;
WITH ins AS (INSERT INTO applications AS a (iin, person, birth_date, settlement, address, polyclinic_id, requested_district_id, channel, grounds, representative, birth_certificate, family_iins, status, refusal_code, warnings, campaign_year, decision_due_at, decided_at, decided_by, idempotency_key, request_hash, submitted_by, trail_inline) VALUES (:iin::text, :person::jsonb, :birth_date::date, :settlement::text, :address, :polyclinic_id, NULL, :channel::text, :grounds::text, NULL::jsonb, NULL, :family_iins::text[], :status::text, NULL, :warnings::text[], :campaign_year, (:decision_due::date + time '18:00') AT TIME ZONE 'Asia/Almaty', CASE WHEN :status::text <> 'pending' THEN now() END, CASE WHEN :status::text <> 'pending' THEN :decided_by END, NULL, :request_hash::bytea, :submitted_by, true) RETURNING a), ev AS (INSERT INTO events (type, application_id, iin, polyclinic_id, data) SELECT 'application.submitted', (ins.a).id, (ins.a).iin, (ins.a).polyclinic_id, ('{' || '"decision_due_at":"' || iso_ts((ins.a).decision_due_at) || '",' || :submitted_members || '}')::jsonb FROM ins WHERE (ins.a).trail_inline) SELECT (ins.a).id, (ins.a).submitted_at, (ins.a).decision_due_at FROM ins;;
\endpipeline
