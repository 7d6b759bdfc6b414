-- A district kind's code is an identifier (issue 10): lower-case letters, digits and '_', a
-- letter first, as the four kinds of 0001 are. The submission's facts read the kinds and the
-- districts as rows rendered by record_out (src/db/applications.c, DISTRICT_KINDS_TEXT), which
-- leaves such a code unquoted, so C matches a district's kind to its age band by the code as
-- written.
ALTER TABLE district_kinds ADD CONSTRAINT district_kinds_code_identifier
    CHECK (code ~ '^[a-z][a-z0-9_]{0,30}$');
