-- Panel sign-ins. The browser holds an opaque token in an HttpOnly cookie; only its SHA-256
-- is stored. A session whose second factor is still owed (`totp_pending`) opens nothing but
-- the code page and lives five minutes. Idle sessions end at `idle_until`, every session at
-- `expires_at`.
CREATE TABLE panel_sessions (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash   bytea NOT NULL UNIQUE,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    totp_pending boolean NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen    timestamptz NOT NULL DEFAULT now(),
    idle_until   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);

CREATE INDEX panel_sessions_user_idx ON panel_sessions (user_id);
CREATE INDEX panel_sessions_expires_idx ON panel_sessions (expires_at);
