-- A campaign day's catalogue and window, for bench/run.sh campaign-day and bench/schema_cost.sh:
-- every other one of the demo city's polyclinics that take part (accepting, with a Fund
-- contract) is made auto_approve, and the current year's campaign is opened around today (the
-- bench's own window, so that no run depends on the calendar).
UPDATE polyclinics p SET auto_approve = (r.k % 2 = 0)
FROM (SELECT id, row_number() OVER (ORDER BY id) AS k FROM polyclinics
      WHERE settlement = '751110000' AND accepting AND fsms_contract) r
WHERE p.id = r.id;
DELETE FROM campaigns WHERE daterange(opens_on, closes_on, '[]') && daterange(current_date - 1, current_date + 1, '[]')
    AND year <> extract(year FROM current_date)::int;
INSERT INTO campaigns (year, opens_on, closes_on, effective_on, max_changes)
VALUES (extract(year FROM current_date)::int, current_date - 1, current_date + 1, current_date + 30, 1)
ON CONFLICT (year) DO UPDATE SET opens_on = EXCLUDED.opens_on, closes_on = EXCLUDED.closes_on,
    effective_on = EXCLUDED.effective_on, max_changes = EXCLUDED.max_changes;
