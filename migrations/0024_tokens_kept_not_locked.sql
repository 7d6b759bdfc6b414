-- The token that submitted an application, named without a foreign key: tokens are kept for
-- ever instead (issue 10).
--
-- applications.submitted_by referenced tokens, so every submission took a FOR KEY SHARE lock on
-- its token's row until COMMIT. The eGov portal submits with one token, so every concurrent
-- submission locked the same row: each lock a WAL record and, with other submissions still
-- holding it, a new MultiXact listing them all. A 60 s campaign day (12 sessions) made 1.26
-- MultiXacts per application with 6.4 members each, most of them on that one row; without the
-- key 0.27 (docs/PERFORMANCE.md, round 9).
--
-- What the key guaranteed is kept this way: a token is revoked (revoked_at), never deleted, so
-- nothing that names it (applications.submitted_by, audit.actor_token, which never had a key)
-- loses it; DELETE and TRUNCATE of tokens are refused, and so is a new id (the identity column
-- takes none but DEFAULT). The service writes submitted_by only
-- from the token it has just authenticated; a row written by hand is not checked, as
-- audit.actor_token never was.

ALTER TABLE applications DROP CONSTRAINT applications_submitted_by_fkey;

CREATE FUNCTION tokens_are_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a token is revoked (revoked_at), never deleted: applications and the audit'
                    ' name it'
        USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER tokens_are_kept BEFORE DELETE ON tokens
    FOR EACH ROW EXECUTE FUNCTION tokens_are_kept();
CREATE TRIGGER tokens_keep_their_id BEFORE UPDATE OF id ON tokens
    FOR EACH ROW WHEN (OLD.id <> NEW.id) EXECUTE FUNCTION tokens_are_kept();
CREATE TRIGGER tokens_are_kept_truncate BEFORE TRUNCATE ON tokens
    FOR EACH STATEMENT EXECUTE FUNCTION tokens_are_kept();
