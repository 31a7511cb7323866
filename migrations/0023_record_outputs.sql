-- Record outputs (issue #15), mirroring `relevo_engine::spec::RecordSpec`: the input written
-- to files on this machine. Columns of kind `record`:
--   record_format: 'mp4' (fragmented MP4) or 'ts' (MPEG-TS)
--   segment_s:     seconds one file lasts, 10–86400 (`SegmentDuration`)
--   keep_days, keep_gib, keep_files: optional retention limits, at least 1 (`Retention`)
-- and none of the push/pull columns; the other kinds leave the record columns empty.
--
-- sqlx runs each migration in one transaction, and PostgreSQL refuses to use an enum value
-- added by `ALTER TYPE … ADD VALUE` before that transaction commits ("unsafe use of new
-- value"). The shape constraint therefore compares `kind::text`, which never names the new
-- value as an `output_kind`.
ALTER TYPE output_kind ADD VALUE 'record';

ALTER TABLE outputs
    ADD COLUMN record_format text CONSTRAINT outputs_record_format_check
        CHECK (record_format IN ('mp4', 'ts')),
    ADD COLUMN segment_s integer CONSTRAINT outputs_segment_s_check
        CHECK (segment_s BETWEEN 10 AND 86400),
    -- bigint: the spec's limits are u32, which integer would not hold whole.
    ADD COLUMN keep_days bigint CONSTRAINT outputs_keep_days_check CHECK (keep_days >= 1),
    ADD COLUMN keep_gib bigint CONSTRAINT outputs_keep_gib_check CHECK (keep_gib >= 1),
    ADD COLUMN keep_files bigint CONSTRAINT outputs_keep_files_check CHECK (keep_files >= 1);

ALTER TABLE outputs DROP CONSTRAINT outputs_kind_shape;

ALTER TABLE outputs ADD CONSTRAINT outputs_kind_shape CHECK (
    CASE
        WHEN kind::text = 'record' THEN key IS NULL AND srt_host IS NULL AND srt_port IS NULL
            AND stream_id IS NULL AND rtmp_url IS NULL AND NOT enhanced_rtmp
            AND passphrase IS NULL AND key_length IS NULL AND latency_ms IS NULL
            AND record_format IS NOT NULL AND segment_s IS NOT NULL
        ELSE record_format IS NULL AND segment_s IS NULL AND keep_days IS NULL
            AND keep_gib IS NULL AND keep_files IS NULL AND CASE kind::text
                WHEN 'push_srt' THEN key IS NULL AND srt_host IS NOT NULL
                    AND srt_port IS NOT NULL AND rtmp_url IS NULL AND NOT enhanced_rtmp
                    AND latency_ms IS NOT NULL
                WHEN 'push_rtmp' THEN key IS NULL AND srt_host IS NULL AND srt_port IS NULL
                    AND stream_id IS NULL AND rtmp_url IS NOT NULL AND passphrase IS NULL
                    AND key_length IS NULL AND latency_ms IS NULL
                WHEN 'pull_srt' THEN key IS NOT NULL AND srt_host IS NULL AND srt_port IS NULL
                    AND stream_id IS NULL AND rtmp_url IS NULL AND NOT enhanced_rtmp
                    AND latency_ms IS NOT NULL
                WHEN 'pull_rtmp' THEN key IS NOT NULL AND srt_host IS NULL
                    AND srt_port IS NULL AND stream_id IS NULL AND rtmp_url IS NULL
                    AND NOT enhanced_rtmp AND passphrase IS NULL AND key_length IS NULL
                    AND latency_ms IS NULL
                ELSE false
            END
    END
);
