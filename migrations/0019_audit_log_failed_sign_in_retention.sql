-- Retention for failed sign-ins. Anyone on the Internet can add `auth.login_failed` rows
-- (wrong passwords, unknown accounts, lockout summaries), so they must not grow the log
-- without bound: the service deletes those older than its retention setting. The
-- append-only rule of 0011 now lets exactly that through and nothing else: DELETE only, of
-- `auth.login_failed` rows with no authenticated actor, older than one day, and only in a
-- transaction that declared itself the retention task (`relevo.audit_retention` = 'on',
-- set with `set_config(…, true)`, so it ends with the transaction). UPDATE, TRUNCATE and
-- every other DELETE are still refused.
CREATE OR REPLACE FUNCTION audit_log_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE'
       AND current_setting('relevo.audit_retention', true) = 'on'
       AND OLD.action = 'auth.login_failed'
       AND OLD.actor_user_id IS NULL
       AND OLD.created_at < now() - interval '1 day' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
