-- One SQL reading of the birth date an IIN encodes: iin_birth_date() (0007, the same rule as
-- iin_facts() in src/domain/kzid.c). The daily run's prefilter used a copy of its own.
DROP FUNCTION iin_birth_yyyymmdd(text);
