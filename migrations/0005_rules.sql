-- The rules of submission and approval (SPEC §3, §4, §11, §12): grounds that must be shown, the
-- address on record they are compared with, Idempotency-Key scoped to its token, the century
-- warning, and the schema's backing of the rules the service applies in C.

-- ---- GROUNDS_NOT_MET (§11) ------------------------------------------------------------------
INSERT INTO refusal_reasons (code, title_kk, title_ru, title_en, official, sort) VALUES
    ('GROUNDS_NOT_MET',
     'Өтініште көрсетілген негіз расталмады: тұрғылықты жері өзгермеген немесе емхана жұмысын жалғастыруда',
     'Основание заявления не подтверждено: место жительства не изменилось или поликлиника продолжает работу',
     'The grounds given are not met: the address has not changed, or the polyclinic still takes part',
     false, 10);

-- The settlement and address on record for a person (§11): those of the application that made
-- their latest live attachment (current or upcoming). No row's values (NULLs) when the register
-- has none, e.g. an attachment loaded by import: then a relocation has nothing to be compared
-- with. PL/pgSQL so that its plan is kept for the session (see district_load in 0002).
CREATE FUNCTION address_on_record(p_iin text, OUT settlement text, OUT address text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    SELECT a.settlement, a.address INTO settlement, address
    FROM attachments t JOIN applications a ON a.id = t.application_id
    WHERE t.iin = p_iin AND NOT t.cancelled AND (t.valid_to IS NULL OR t.valid_to > current_date)
    ORDER BY t.valid_from DESC, t.id DESC
    LIMIT 1;
END $$;

-- ---- Idempotency-Key per token (§11) ----------------------------------------------------------
-- Another token's identical key is another request, so the key is unique per submitting token
-- (0 stands for none, which the API never stores: every /v1 call has a token).
ALTER TABLE applications DROP CONSTRAINT applications_idempotency_key_key;
CREATE UNIQUE INDEX applications_idempotency_per_token
    ON applications ((coalesce(submitted_by, 0)), idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- ---- The schema's backing of rules applied in C ----------------------------------------------
-- NOT VALID: rows written before these rules existed are history, not errors; every new or
-- changed row is checked.

-- Warnings are the three of §4 only.
ALTER TABLE applications ADD CONSTRAINT applications_known_warnings
    CHECK (warnings <@ ARRAY['IIN_BIRTH_DATE_MISMATCH', 'IIN_SEX_MISMATCH',
                             'IIN_CENTURY_UNKNOWN']::text[]) NOT VALID;
-- A relocation is never auto-approved: a registrar compares the address on record (§11).
ALTER TABLE applications ADD CONSTRAINT applications_relocation_by_a_registrar
    CHECK (NOT (grounds = 'relocation' AND status = 'approved'
                AND decided_by = 'attachd (auto_approve)')) NOT VALID;
-- A registrar refuses only with the official reasons and ALREADY_ATTACHED (§11). A refusal
-- decided later than the submission by a registrar is one of those, or one of the approval's
-- re-checks (CLINIC_NOT_ACCEPTING, CAPACITY_EXCEEDED); a refusal at submission (decided_at =
-- submitted_at, one transaction) is any of the checks', whoever submitted.
ALTER TABLE applications ADD CONSTRAINT applications_registrar_refusal_reasons
    CHECK (status <> 'refused' OR decided_at = submitted_at OR decided_by NOT LIKE 'registrar:%'
           OR refusal_code IN ('INVALID_DATA', 'OTHER_SETTLEMENT', 'CAPACITY_EXCEEDED',
                               'CHILD_DOCUMENTS_MISSING', 'ALREADY_ATTACHED',
                               'CLINIC_NOT_ACCEPTING')) NOT VALID;
-- A first attachment is never a change (§11): a change leaves a polyclinic.
ALTER TABLE transfers ADD CONSTRAINT transfers_change_leaves_a_polyclinic
    CHECK (NOT counts_as_change OR from_polyclinic_id IS NOT NULL) NOT VALID;

-- ---- One definition of the IIN and BIN rules (§4) ---------------------------------------------
-- The check digit is computed in C only (src/domain/kzid.c: the API, the checks and the
-- importer use it); the schema keeps the shape. The SQL copies of the rule are dropped so that
-- there is nothing to drift.
ALTER TABLE polyclinics DROP CONSTRAINT polyclinics_bin_check;
ALTER TABLE polyclinics ADD CONSTRAINT polyclinics_bin_shape CHECK (bin ~ '^[0-9]{12}$');
DROP FUNCTION bin_valid(text);
DROP FUNCTION iin_valid(text);
DROP FUNCTION kz_checksum_ok(text);
