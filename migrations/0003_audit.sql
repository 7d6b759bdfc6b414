-- Audit trail (issue 4): every decision and every catalogue change writes a row in the same
-- transaction, by trigger, so no write path can forget it. Who: the service sets the session
-- setting attachd.actor to "role<TAB>token id<TAB>token name" before its first write on a
-- connection (src/db/pool.c); anything else (psql, the import command) is recorded as 'system'.

CREATE TABLE audit (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor_role  text NOT NULL,
    actor_token bigint,
    actor_name  text NOT NULL DEFAULT '',
    action      text NOT NULL,      -- insert | update | delete, or the decision for applications
    entity      text NOT NULL,      -- settlement, polyclinic, district, campaign, application, ...
    entity_id   text NOT NULL,
    before      jsonb,
    after       jsonb
);
CREATE INDEX audit_by_entity ON audit (entity, entity_id, id);

-- TG_ARGV[0]: entity name; TG_ARGV[1]: the key column; TG_ARGV[2..]: columns left out (secrets,
-- counters kept by triggers).
CREATE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    actor text := coalesce(current_setting('attachd.actor', true), '');
    old_doc jsonb := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END;
    new_doc jsonb := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END;
    skip text;
    act text := lower(TG_OP);
BEGIN
    FOREACH skip IN ARRAY TG_ARGV[2:] LOOP
        old_doc := old_doc - skip;
        new_doc := new_doc - skip;
    END LOOP;
    IF TG_ARGV[0] = 'application' AND new_doc IS NOT NULL AND new_doc->>'status' <> 'pending' THEN
        act := CASE new_doc->>'status' WHEN 'approved' THEN 'approve' WHEN 'refused' THEN 'refuse'
                                       ELSE 'withdraw' END;
    END IF;
    INSERT INTO audit (actor_role, actor_token, actor_name, action, entity, entity_id, before, after)
    VALUES (CASE WHEN actor = '' THEN 'system' ELSE split_part(actor, E'\t', 1) END,
            nullif(split_part(actor, E'\t', 2), '')::bigint,
            substr(actor, length(split_part(actor, E'\t', 1)) + length(split_part(actor, E'\t', 2)) + 3),
            act, TG_ARGV[0], coalesce(new_doc, old_doc)->>TG_ARGV[1], old_doc, new_doc);
    RETURN NULL;
END $$;

CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON settlements
    FOR EACH ROW EXECUTE FUNCTION audit_row('settlement', 'kato');
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON polyclinics
    FOR EACH ROW EXECUTE FUNCTION audit_row('polyclinic', 'id', 'updated_at');
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON polyclinic_also_serves
    FOR EACH ROW EXECUTE FUNCTION audit_row('polyclinic', 'polyclinic_id');
-- Not on nopen: the attachments trigger updates it on every approval.
CREATE TRIGGER audit AFTER INSERT OR DELETE OR UPDATE OF number, kind, capacity, open ON districts
    FOR EACH ROW EXECUTE FUNCTION audit_row('district', 'id', 'nopen', 'updated_at');
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON district_kinds
    FOR EACH ROW EXECUTE FUNCTION audit_row('district_kind', 'code');
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON refusal_reasons
    FOR EACH ROW EXECUTE FUNCTION audit_row('refusal_reason', 'code');
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON campaigns
    FOR EACH ROW EXECUTE FUNCTION audit_row('campaign', 'year');
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON holidays
    FOR EACH ROW EXECUTE FUNCTION audit_row('holiday', 'day');
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON tokens
    FOR EACH ROW EXECUTE FUNCTION audit_row('token', 'id', 'hash');
-- Decisions: a status change, or an application decided at once (refused by a check, or
-- approved by auto_approve). The person's data stays in applications, not in the trail.
CREATE TRIGGER audit_decision AFTER UPDATE OF status ON applications
    FOR EACH ROW EXECUTE FUNCTION audit_row('application', 'id', 'person', 'representative',
                                            'birth_certificate', 'family_iins', 'address',
                                            'request_hash', 'idempotency_key');
CREATE TRIGGER audit_decided_at_once AFTER INSERT ON applications
    FOR EACH ROW WHEN (NEW.status <> 'pending')
    EXECUTE FUNCTION audit_row('application', 'id', 'person', 'representative',
                               'birth_certificate', 'family_iins', 'address', 'request_hash',
                               'idempotency_key');
