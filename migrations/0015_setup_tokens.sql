-- The one-time token that creates the first admin, so the appliance never ships with a
-- default password. At most one row (the key is always true): issuing a new token replaces
-- the old one. Only the hash is stored; the row is deleted when the first admin exists.
CREATE TABLE setup_tokens (
    id         boolean PRIMARY KEY DEFAULT true CHECK (id),
    token_hash bytea NOT NULL,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER setup_tokens_updated_at BEFORE UPDATE ON setup_tokens
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
