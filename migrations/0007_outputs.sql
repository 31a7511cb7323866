-- Outputs, mirroring `relevo_engine::spec::OutputSpec`; each belongs to one input and goes
-- with it (ON DELETE CASCADE). Names are unique within their input. Columns by `kind`:
--   push_srt:  srt_host, srt_port, optional stream_id, passphrase/key_length, latency_ms
--   push_rtmp: rtmp_url (key included: a secret), enhanced_rtmp
--   pull_srt:  key, optional passphrase/key_length, latency_ms
--   pull_rtmp: key
CREATE TYPE output_kind AS ENUM ('push_srt', 'push_rtmp', 'pull_srt', 'pull_rtmp');

CREATE TABLE outputs (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    input_id      bigint NOT NULL REFERENCES inputs (id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (length(trim(name)) BETWEEN 1 AND 100),
    enabled       boolean NOT NULL DEFAULT true,
    kind          output_kind NOT NULL,
    key           text,
    srt_host      text,
    srt_port      integer CHECK (srt_port BETWEEN 1 AND 65535),
    stream_id     text,
    rtmp_url      text,
    enhanced_rtmp boolean NOT NULL DEFAULT false,
    passphrase    text,
    key_length    smallint CHECK (key_length IN (16, 24, 32)),
    latency_ms    integer,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT outputs_input_id_name_key UNIQUE (input_id, name),
    CONSTRAINT outputs_kind_shape CHECK (
        CASE kind
            WHEN 'push_srt' THEN key IS NULL AND srt_host IS NOT NULL AND srt_port IS NOT NULL
                AND rtmp_url IS NULL AND NOT enhanced_rtmp AND latency_ms IS NOT NULL
            WHEN 'push_rtmp' THEN key IS NULL AND srt_host IS NULL AND srt_port IS NULL
                AND stream_id IS NULL AND rtmp_url IS NOT NULL AND passphrase IS NULL
                AND key_length IS NULL AND latency_ms IS NULL
            WHEN 'pull_srt' THEN key IS NOT NULL AND srt_host IS NULL AND srt_port IS NULL
                AND stream_id IS NULL AND rtmp_url IS NULL AND NOT enhanced_rtmp
                AND latency_ms IS NOT NULL
            WHEN 'pull_rtmp' THEN key IS NOT NULL AND srt_host IS NULL AND srt_port IS NULL
                AND stream_id IS NULL AND rtmp_url IS NULL AND NOT enhanced_rtmp
                AND passphrase IS NULL AND key_length IS NULL AND latency_ms IS NULL
        END
    ),
    CONSTRAINT outputs_key_length_needs_passphrase CHECK (key_length IS NULL OR passphrase IS NOT NULL)
);

CREATE TRIGGER outputs_updated_at BEFORE UPDATE ON outputs
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
