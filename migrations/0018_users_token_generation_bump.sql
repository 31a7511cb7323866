-- Bumps `users.token_generation` (0017) whenever what an access token stands for changes:
-- the password, the role, disabling or enabling, and 2FA turned off (an admin's reset for a
-- lost device, or the user's own choice). Every access token issued before dies at once.
-- A trigger rather than the store's updates, so that no path (API, panel, CLI, a hand-made
-- UPDATE) can forget it. Logging out does not bump it: it revokes that session's refresh
-- token only, and the user's other sessions keep their access tokens.
CREATE FUNCTION users_bump_token_generation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.password_hash IS DISTINCT FROM OLD.password_hash
       OR NEW.role IS DISTINCT FROM OLD.role
       OR NEW.disabled IS DISTINCT FROM OLD.disabled
       OR (OLD.totp_secret IS NOT NULL AND NEW.totp_secret IS NULL) THEN
        NEW.token_generation := OLD.token_generation + 1;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER users_token_generation BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION users_bump_token_generation();
