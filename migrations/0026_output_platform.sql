-- Issue #18: the platform of an RTMP push, mirroring
-- `relevo_engine::spec::OutputKind::PushRtmp::platform`: whose ingest rules the codec
-- pre-flight applies (`relevo_engine::preflight`). NULL: found from the URL's host, else
-- generic RTMP. Set only on push_rtmp outputs (a separate CHECK, so the kind shape of 0024
-- stays as it is).
ALTER TABLE outputs
    ADD COLUMN platform text CONSTRAINT outputs_platform_check
        CHECK (platform IN ('youtube', 'twitch', 'facebook')),
    ADD CONSTRAINT outputs_platform_push_rtmp_only
        CHECK (platform IS NULL OR kind::text = 'push_rtmp');
