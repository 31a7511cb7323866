-- Every change: who, when, from where, what. `before`/`after` are JSON snapshots of the
-- target with secrets (stream keys, passphrases, RTMP URL keys, SRT stream ids) masked by
-- the store before they get here. Rows are never changed (see 0011), so there is no
-- `updated_at`: `created_at` is when the change happened. The actor is copied (id and
-- label) rather than referenced, so deleting a user neither rewrites nor blocks history.
CREATE TABLE audit_log (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at    timestamptz NOT NULL DEFAULT now(),
    actor_user_id bigint,
    actor         text NOT NULL,
    from_addr     inet,
    action        text NOT NULL,
    target_kind   text NOT NULL,
    target_id     bigint,
    target_name   text,
    before        jsonb,
    after         jsonb
);

CREATE INDEX audit_log_created_at_idx ON audit_log (created_at);
CREATE INDEX audit_log_target_idx ON audit_log (target_kind, target_id);
