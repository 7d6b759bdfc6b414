-- Baseline of the person-attachment-get scenario: the statement GET /v1/persons/{iin}/attachment
-- runs (q_attachment[0][0] of src/db/registry.c: an admin token, no `on`), $1 the IIN. Person k
-- is drawn from the register of bench/register.sql (-D rows) and its IIN computed as there and in bench/wrk/person_attachment.lua: a 12-digit
-- number that never starts with 0, sent as the text parameter $1. run.sh checks that attachd
-- still runs exactly this SQL (SQL-DRIFT otherwise). One statement per line, ending in ';'.
\set k random(0, :rows - 1)
\set t :k % 35280
\set r :k / 35280
\set d :t % 28 + 1
\set m (:t / 28) % 12 + 1
\set y CASE WHEN :t / 336 < 90 THEN 1910 + :t / 336 ELSE 1920 + :t / 336 END
\set yy :y % 100
\set c CASE WHEN :y < 2000 THEN 3 ELSE 5 END + :r % 2
\set s ((:r / 2) / 5) * 10 + ((:r / 2) % 5) * 2
\set w1 (:yy / 10) + 2 * (:yy % 10) + 3 * (:m / 10) + 4 * (:m % 10) + 5 * (:d / 10) + 6 * (:d % 10) + 7 * :c + 8 * (:s / 1000) + 9 * (:s / 100 % 10) + 10 * (:s / 10 % 10) + 11 * (:s % 10)
\set w2 3 * (:yy / 10) + 4 * (:yy % 10) + 5 * (:m / 10) + 6 * (:m % 10) + 7 * (:d / 10) + 8 * (:d % 10) + 9 * :c + 10 * (:s / 1000) + 11 * (:s / 100 % 10) + (:s / 10 % 10) + 2 * (:s % 10)
\set check CASE WHEN :w1 % 11 <> 10 THEN :w1 % 11 WHEN :w2 % 11 <> 10 THEN :w2 % 11 ELSE 1 END
\set s CASE WHEN :w1 % 11 = 10 AND :w2 % 11 = 10 THEN :s + 1 ELSE :s END
\set iin ((((:yy * 100 + :m) * 100 + :d) * 10 + :c) * 10000 + :s) * 10 + :check
SELECT json_build_object('iin', :iin::text, 'on', to_char(d.day, 'YYYY-MM-DD'), 'attachment', (SELECT attachment_json(a) FROM attachments a WHERE a.iin = :iin AND NOT a.cancelled AND a.valid_from <= d.day AND (a.valid_to IS NULL OR a.valid_to > d.day) ORDER BY a.valid_from DESC LIMIT 1), 'upcoming', (SELECT attachment_json(a) FROM attachments a WHERE a.iin = :iin AND NOT a.cancelled AND a.valid_from > d.day ORDER BY a.valid_from LIMIT 1))::text FROM (SELECT current_date AS day) d WHERE (EXISTS (SELECT 1 FROM attachments v WHERE v.iin = :iin) OR EXISTS (SELECT 1 FROM applications w WHERE w.iin = :iin));
