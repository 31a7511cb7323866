-- One-time recovery codes for a user who lost the TOTP device: ten per enrolment, shown
-- once, stored as SHA-256 hashes (they are random, so a slow hash adds nothing). A code is
-- spent by setting `used_at`; a new enrolment or disabling 2FA deletes the old ones.
CREATE TABLE totp_recovery_codes (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  bytea NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, code_hash)
);

CREATE TRIGGER totp_recovery_codes_updated_at BEFORE UPDATE ON totp_recovery_codes
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
