-- Issue #18: an input's backup feed and its own SRT port, mirroring
-- `relevo_engine::spec::InputSpec::backup` and `InputSource::Listen::srt_port`.
--
-- Backup columns mirror the main source's, with a `backup_` prefix; `backup_source` reuses
-- `input_source` ('listen' is a second key on our listeners):
--   listen:    backup_key only (the input's own passphrase and latency apply)
--   pull_srt:  backup_srt_host, backup_srt_port, optional backup_stream_id,
--              backup_passphrase/backup_key_length, backup_latency_ms
--   pull_rtmp: backup_rtmp_url (key included: a secret)
-- plus failover_ms and revert_s (0: back to the main feed only by hand). No backup: all NULL.
ALTER TABLE inputs
    ADD COLUMN backup_source     input_source,
    ADD COLUMN backup_key        text,
    ADD COLUMN backup_srt_host   text,
    ADD COLUMN backup_srt_port   integer CHECK (backup_srt_port BETWEEN 1 AND 65535),
    ADD COLUMN backup_stream_id  text,
    ADD COLUMN backup_rtmp_url   text,
    ADD COLUMN backup_passphrase text,
    ADD COLUMN backup_key_length smallint CHECK (backup_key_length IN (16, 24, 32)),
    ADD COLUMN backup_latency_ms integer,
    ADD COLUMN failover_ms       integer CHECK (failover_ms BETWEEN 500 AND 30000),
    ADD COLUMN revert_s          integer CHECK (revert_s BETWEEN 0 AND 600);

ALTER TABLE inputs ADD CONSTRAINT inputs_backup_shape CHECK (
    CASE
        WHEN backup_source IS NULL THEN backup_key IS NULL AND backup_srt_host IS NULL
            AND backup_srt_port IS NULL AND backup_stream_id IS NULL
            AND backup_rtmp_url IS NULL AND backup_passphrase IS NULL
            AND backup_key_length IS NULL AND backup_latency_ms IS NULL
            AND failover_ms IS NULL AND revert_s IS NULL
        ELSE failover_ms IS NOT NULL AND revert_s IS NOT NULL AND CASE backup_source
            -- A backup key only where the main feed listens too (StateError::BackupKeyOnPullInput).
            WHEN 'listen' THEN source = 'listen' AND backup_key IS NOT NULL
                AND backup_srt_host IS NULL AND backup_srt_port IS NULL
                AND backup_stream_id IS NULL AND backup_rtmp_url IS NULL
                AND backup_passphrase IS NULL AND backup_key_length IS NULL
                AND backup_latency_ms IS NULL
            WHEN 'pull_srt' THEN backup_key IS NULL AND backup_srt_host IS NOT NULL
                AND backup_srt_port IS NOT NULL AND backup_rtmp_url IS NULL
                AND backup_latency_ms IS NOT NULL
            WHEN 'pull_rtmp' THEN backup_key IS NULL AND backup_srt_host IS NULL
                AND backup_srt_port IS NULL AND backup_stream_id IS NULL
                AND backup_rtmp_url IS NOT NULL AND backup_passphrase IS NULL
                AND backup_key_length IS NULL AND backup_latency_ms IS NULL
            ELSE false
        END
    END
);

ALTER TABLE inputs ADD CONSTRAINT inputs_backup_key_length_needs_passphrase
    CHECK (backup_key_length IS NULL OR backup_passphrase IS NOT NULL);

-- A listening input may now have its own SRT port (`srt_port`), which needs a passphrase
-- (StateError::SrtPortWithoutPassphrase): without one, anyone who finds the port publishes.
ALTER TABLE inputs DROP CONSTRAINT inputs_source_shape;

ALTER TABLE inputs ADD CONSTRAINT inputs_source_shape CHECK (
    CASE source
        WHEN 'listen' THEN key IS NOT NULL AND srt_host IS NULL
            AND (srt_port IS NULL OR passphrase IS NOT NULL)
            AND stream_id IS NULL AND rtmp_url IS NULL AND latency_ms IS NOT NULL
        WHEN 'pull_srt' THEN key IS NULL AND srt_host IS NOT NULL AND srt_port IS NOT NULL
            AND rtmp_url IS NULL AND latency_ms IS NOT NULL
        WHEN 'pull_rtmp' THEN key IS NULL AND srt_host IS NULL AND srt_port IS NULL
            AND stream_id IS NULL AND rtmp_url IS NOT NULL AND passphrase IS NULL
            AND key_length IS NULL AND latency_ms IS NULL
    END
);

-- One input per own port (StateError::DuplicateSrtPort); a pull_srt input's `srt_port` is
-- the remote listener's, which several inputs may share.
CREATE UNIQUE INDEX inputs_own_srt_port_key ON inputs (srt_port) WHERE source = 'listen';

-- The backup key claims the shared key namespace like `key` (0008), with no value in the
-- log (0021). Outputs have no `backup_key`: `to_jsonb` reads it by name, NULL there, so one
-- function still serves both tables. Every old key is released before any new one is
-- claimed, so swapping an input's key and backup key in one update works. A clash on the
-- backup key names its own constraint, which the store maps to the field `backup.key`.
CREATE OR REPLACE FUNCTION claim_stream_key() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    old_backup text;
    new_backup text;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        old_backup := to_jsonb(OLD) ->> 'backup_key';
        IF OLD.key IS NOT NULL THEN
            DELETE FROM stream_keys WHERE key = OLD.key;
        END IF;
        IF old_backup IS NOT NULL THEN
            DELETE FROM stream_keys WHERE key = old_backup;
        END IF;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        new_backup := to_jsonb(NEW) ->> 'backup_key';
        IF NEW.key IS NOT NULL THEN
            INSERT INTO stream_keys (key) VALUES (NEW.key) ON CONFLICT DO NOTHING;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'stream key already in use'
                    USING ERRCODE = 'unique_violation', CONSTRAINT = 'stream_keys_pkey';
            END IF;
        END IF;
        IF new_backup IS NOT NULL THEN
            INSERT INTO stream_keys (key) VALUES (new_backup) ON CONFLICT DO NOTHING;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'backup stream key already in use'
                    USING ERRCODE = 'unique_violation', CONSTRAINT = 'stream_keys_backup_key';
            END IF;
        END IF;
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER inputs_stream_key ON inputs;
CREATE TRIGGER inputs_stream_key AFTER INSERT OR UPDATE OF key, backup_key OR DELETE ON inputs
    FOR EACH ROW EXECUTE FUNCTION claim_stream_key();
