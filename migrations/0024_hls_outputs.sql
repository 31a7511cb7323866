-- HLS outputs (issue #16), mirroring `relevo_engine::spec::OutputKind::PullHls`: browsers and
-- CDNs read `/hls/KEY/index.m3u8`. Same shape as `pull_rtmp`: a key and nothing else.
-- As in 0023, the shape constraint compares `kind::text` (a value added by ADD VALUE cannot
-- be used as an `output_kind` inside the transaction that adds it).
ALTER TYPE output_kind ADD VALUE 'pull_hls';

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
                -- A simple CASE takes one value per WHEN: pull_rtmp and pull_hls each.
                WHEN 'pull_rtmp' THEN key IS NOT NULL AND srt_host IS NULL
                    AND srt_port IS NULL AND stream_id IS NULL AND rtmp_url IS NULL
                    AND NOT enhanced_rtmp AND passphrase IS NULL AND key_length IS NULL
                    AND latency_ms IS NULL
                WHEN 'pull_hls' THEN key IS NOT NULL AND srt_host IS NULL
                    AND srt_port IS NULL AND stream_id IS NULL AND rtmp_url IS NULL
                    AND NOT enhanced_rtmp AND passphrase IS NULL AND key_length IS NULL
                    AND latency_ms IS NULL
                ELSE false
            END
    END
);
