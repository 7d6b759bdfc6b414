-- The check digit of an IIN or BIN's first 11 digits (the rule of src/domain/kzid.c), in SQL
-- for the bench's generated catalogues (BINs: a few hundred rows); NULL when none exists.
-- Included by bench/register.sql and bench/population.sql (psql \ir).
CREATE FUNCTION pg_temp.check_digit(s text) RETURNS int LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN w1 % 11 <> 10 THEN w1 % 11 WHEN w2 % 11 <> 10 THEN w2 % 11 END
    FROM (SELECT sum(substr(s, i, 1)::int * i) AS w1,
                 sum(substr(s, i, 1)::int * ((i + 1) % 11 + 1)) AS w2
          FROM generate_series(1, 11) i) w
$$;
