-- Baseline of the district-get scenario: the statement GET /v1/districts/{id} runs, q_district_get
-- in src/db/polyclinics.c, with $1 as :id. bench/run.sh passes id_min and id_max (-D) and checks
-- that attachd still runs exactly this SQL (it fails the scenario with SQL-DRIFT otherwise).
-- One statement per line, ending in a semicolon.
\set id random(:id_min, :id_max)
SELECT json_build_object('id', d.id, 'polyclinic_id', d.polyclinic_id, 'number', d.number, 'kind', d.kind, 'capacity', d.capacity, 'load', l.load, 'free', greatest(d.capacity - l.load, 0), 'open', d.open)::text FROM districts d CROSS JOIN LATERAL (SELECT district_load(d) AS load OFFSET 0) l WHERE d.id = :id;
