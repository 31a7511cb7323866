-- Operators of the appliance. Email is unique regardless of case (the unique index is on
-- lower(email); lookups must compare lower(email) = lower($1) to use it). `password_hash`
-- is a PHC string (Argon2id). `totp_secret` is set once 2FA is enrolled; `totp_required`
-- lets an admin make 2FA mandatory for this account.
CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         text NOT NULL CHECK (length(email) BETWEEN 3 AND 254 AND email LIKE '%_@_%'),
    password_hash text NOT NULL,
    role          user_role NOT NULL,
    totp_secret   text,
    totp_required boolean NOT NULL DEFAULT false,
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TRIGGER users_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
