-- Access tokens (JWTs) carry the token generation of their user when issued, and the API
-- refuses a token older than the row's generation (the user row is read on every request
-- anyway). Without it a token lived its full 15 minutes after a password change, a
-- disable or a role change. Existing tokens carry no generation and count as 0.
ALTER TABLE users ADD COLUMN token_generation bigint NOT NULL DEFAULT 0;
