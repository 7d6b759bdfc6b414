-- §4 at approval: an EAEU migrant may attach only with insurance valid on the effective date,
-- and a relocation's effective date is the day after its approval, not after its submission.
-- An approval that finds the insurance ending before that day refuses NOT_ELIGIBLE, so a
-- registrar's decision (decided later than the submission) may now carry it too.
ALTER TABLE applications DROP CONSTRAINT applications_registrar_refusal_reasons;
ALTER TABLE applications ADD CONSTRAINT applications_registrar_refusal_reasons
    CHECK (status <> 'refused' OR decided_at = submitted_at OR decided_by NOT LIKE 'registrar:%'
           OR refusal_code IN ('INVALID_DATA', 'OTHER_SETTLEMENT', 'CAPACITY_EXCEEDED',
                               'CHILD_DOCUMENTS_MISSING', 'ALREADY_ATTACHED',
                               'CLINIC_NOT_ACCEPTING', 'NOT_ELIGIBLE')) NOT VALID;
