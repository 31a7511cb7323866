-- Keys the service generates for itself on first use, so that what they sign (JWT access
-- tokens) survives a restart. `name` says what the key is for ('jwt'); a key is at least
-- 32 random bytes. Only the service reads this table: it is as sensitive as a password.
CREATE TABLE server_keys (
    name       text PRIMARY KEY,
    key        bytea NOT NULL CHECK (length(key) >= 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER server_keys_updated_at BEFORE UPDATE ON server_keys
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
