-- Long-lived tokens for automation: shown once, stored hashed, tied to a role rather than a
-- user so that removing a person does not break a script (`created_by` is informative).
CREATE TABLE api_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash   bytea NOT NULL UNIQUE,
    name         text NOT NULL UNIQUE CHECK (length(trim(name)) BETWEEN 1 AND 100),
    role         user_role NOT NULL,
    created_by   bigint REFERENCES users (id) ON DELETE SET NULL,
    last_used_at timestamptz,
    revoked      boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER api_tokens_updated_at BEFORE UPDATE ON api_tokens
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
