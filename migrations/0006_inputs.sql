-- Inputs, mirroring `relevo_engine::spec::InputSpec`. One row per input; the columns used
-- depend on `source` (checked below):
--   listen:    key, optional passphrase/key_length, latency_ms
--   pull_srt:  srt_host, srt_port, optional stream_id, passphrase/key_length, latency_ms
--   pull_rtmp: rtmp_url (rtmp:// or rtmps://, key included: a secret)
-- Value ranges (latency, passphrase length, key charset, URL syntax) are the spec
-- newtypes' job; the checks here only keep the row's shape coherent.
CREATE TYPE input_source AS ENUM ('listen', 'pull_srt', 'pull_rtmp');

CREATE TABLE inputs (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           text NOT NULL CHECK (length(trim(name)) BETWEEN 1 AND 100),
    enabled        boolean NOT NULL DEFAULT true,
    source         input_source NOT NULL,
    key            text,
    srt_host       text,
    srt_port       integer CHECK (srt_port BETWEEN 1 AND 65535),
    stream_id      text,
    rtmp_url       text,
    passphrase     text,
    key_length     smallint CHECK (key_length IN (16, 24, 32)),
    latency_ms     integer,
    grace_period_s integer NOT NULL DEFAULT 10 CHECK (grace_period_s BETWEEN 0 AND 300),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT inputs_name_key UNIQUE (name),
    CONSTRAINT inputs_source_shape CHECK (
        CASE source
            WHEN 'listen' THEN key IS NOT NULL AND srt_host IS NULL AND srt_port IS NULL
                AND stream_id IS NULL AND rtmp_url IS NULL AND latency_ms IS NOT NULL
            WHEN 'pull_srt' THEN key IS NULL AND srt_host IS NOT NULL AND srt_port IS NOT NULL
                AND rtmp_url IS NULL AND latency_ms IS NOT NULL
            WHEN 'pull_rtmp' THEN key IS NULL AND srt_host IS NULL AND srt_port IS NULL
                AND stream_id IS NULL AND rtmp_url IS NOT NULL AND passphrase IS NULL
                AND key_length IS NULL AND latency_ms IS NULL
        END
    ),
    CONSTRAINT inputs_key_length_needs_passphrase CHECK (key_length IS NULL OR passphrase IS NOT NULL)
);

CREATE TRIGGER inputs_updated_at BEFORE UPDATE ON inputs
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
