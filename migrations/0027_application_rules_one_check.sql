-- The rules that tie an application's columns together in one CHECK instead of two (issue 10).
--
-- 0022 put them in two functions, because two of the five rules were added NOT VALID (0005,
-- 0014: rows decided before them may break them) and a constraint is validated or not as a
-- whole. PostgreSQL reads each CHECK from its stored node text, plans and compiles it in every
-- statement that writes the table, and each call forms the whole row again for its argument:
-- two CHECKs cost every stored application twice that. One CHECK now, NOT VALID as the two rules
-- require: every row written is checked against all five rules, as before, and the rows already
-- there were validated against the other three by 0022's applications_rules (since then every
-- write has been checked). The rules are 0022's, in the order PostgreSQL checked them (by
-- constraint name: the registrar's first); each still raises 23514 naming itself.

CREATE FUNCTION applications_row_rules_hold(a applications) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    -- a registrar refuses only for a reason of §5's list (0005)
    IF (a.status::text <> 'refused' OR a.decided_at = a.submitted_at
        OR a.decided_by NOT LIKE 'registrar:%'
        OR a.refusal_code = ANY (ARRAY['INVALID_DATA', 'OTHER_SETTLEMENT', 'CAPACITY_EXCEEDED',
                                       'CHILD_DOCUMENTS_MISSING', 'ALREADY_ATTACHED',
                                       'CLINIC_NOT_ACCEPTING', 'NOT_ELIGIBLE'])) IS FALSE THEN
        RETURN check_violated('applications', 'applications_registrar_refusal_reasons');
    END IF;
    -- a relocation is approved by a registrar, never at once (0014)
    IF (NOT (a.grounds::text = 'relocation' AND a.status::text = 'approved'
             AND a.decided_by = 'attachd (auto_approve)')) IS FALSE THEN
        RETURN check_violated('applications', 'applications_relocation_by_a_registrar');
    END IF;
    IF ((a.status::text = 'approved') = (a.district_id IS NOT NULL AND a.effective_on IS NOT NULL))
        IS FALSE THEN
        RETURN check_violated('applications', 'applications_approval_has_district');
    END IF;
    IF ((a.status::text = 'pending') = (a.decided_at IS NULL)) IS FALSE THEN
        RETURN check_violated('applications', 'applications_decided_when');
    END IF;
    IF ((a.status::text = 'refused') = (a.refusal_code IS NOT NULL)) IS FALSE THEN
        RETURN check_violated('applications', 'applications_refusal_has_reason');
    END IF;
    RETURN true;
END $$;

ALTER TABLE applications DROP CONSTRAINT applications_rules,
    DROP CONSTRAINT applications_registrar_rules,
    ADD CONSTRAINT applications_rules CHECK (applications_row_rules_hold(applications)) NOT VALID;
DROP FUNCTION applications_rules_hold(applications);
DROP FUNCTION applications_registrar_rules_hold(applications);
