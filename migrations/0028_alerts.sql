-- Alerts (issue #17): the rules admins set on flows, the channels messages go to, and the
-- alert settings (one row). The API checks every value first so that errors name the field;
-- these CHECKs are the last line, and keep a hand-edited row from reaching the evaluator in
-- a shape it cannot read. Deliveries are migration 0029.

CREATE TABLE alert_rules (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL CHECK (length(trim(name)) BETWEEN 1 AND 100),
    condition  text NOT NULL CHECK (condition IN ('input_down', 'output_failing', 'low_bitrate',
                                                  'srt_loss', 'disk_low', 'cert_expiry')),
    -- NULL: every input (every output of the matched inputs). Names, not ids: flows of the
    -- configuration file have no row.
    input      text CHECK (length(trim(input)) BETWEEN 1 AND 100),
    output     text CHECK (length(trim(output)) BETWEEN 1 AND 100),
    -- kbit/s (low_bitrate), % (srt_loss, disk_low), days (cert_expiry); NULL otherwise.
    threshold  double precision,
    -- A day: longer than any outage worth waiting for before telling someone.
    for_secs   integer NOT NULL DEFAULT 60 CHECK (for_secs BETWEEN 0 AND 86400),
    enabled    boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT alert_rules_threshold CHECK (COALESCE(CASE condition
        WHEN 'low_bitrate' THEN threshold BETWEEN 1 AND 1000000
        WHEN 'srt_loss'    THEN threshold BETWEEN 0.1 AND 100
        WHEN 'disk_low'    THEN threshold BETWEEN 1 AND 99
        WHEN 'cert_expiry' THEN threshold BETWEEN 1 AND 365
        ELSE threshold IS NULL
    END, false)),
    -- Only output and SRT conditions look at outputs; disk and certificates at no flow.
    CONSTRAINT alert_rules_output CHECK (
        output IS NULL OR (input IS NOT NULL AND condition IN ('output_failing', 'srt_loss'))),
    CONSTRAINT alert_rules_flowless CHECK (
        condition NOT IN ('disk_low', 'cert_expiry') OR (input IS NULL AND output IS NULL))
);

CREATE TRIGGER alert_rules_updated_at BEFORE UPDATE ON alert_rules
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Secrets (the webhook's HMAC key, the Slack/Teams URL, the SMTP password) are stored as the
-- flows' keys are: in clear in the database, masked in audit rows and API answers.
CREATE TABLE alert_channels (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL CHECK (length(trim(name)) BETWEEN 1 AND 100),
    kind          text NOT NULL CHECK (kind IN ('webhook', 'slack', 'email')),
    enabled       boolean NOT NULL DEFAULT true,
    lang          text NOT NULL DEFAULT 'es' CHECK (lang IN ('es', 'en')),
    -- webhook and slack: where to POST.
    url           text CHECK (url ~ '^https?://[^/?#[:space:]@]+([/?#][^[:space:]]*)?$'
                              AND length(url) <= 2048),
    -- webhook: HMAC-SHA256 key of the signature header (optional).
    secret        text CHECK (length(secret) BETWEEN 1 AND 200),
    -- email.
    smtp_host     text CHECK (smtp_host ~ '^[A-Za-z0-9.:\[\]-]{1,253}$'),
    smtp_port     integer CHECK (smtp_port BETWEEN 1 AND 65535),
    smtp_security text CHECK (smtp_security IN ('none', 'starttls', 'tls')),
    smtp_username text CHECK (length(smtp_username) BETWEEN 1 AND 200),
    smtp_password text CHECK (length(smtp_password) BETWEEN 1 AND 200),
    mail_from     text CHECK (mail_from ~ '^[^@[:space:]<>,]+@[^@[:space:]<>,]+$'),
    mail_to       text[] CHECK (cardinality(mail_to) BETWEEN 1 AND 50
                                AND array_position(mail_to, NULL) IS NULL
                                AND array_to_string(mail_to, ',')
                                    ~ '^[^@[:space:]<>,]+@[^@[:space:]<>,]+(,[^@[:space:]<>,]+@[^@[:space:]<>,]+)*$'),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    -- Each kind has its own columns set and no other's.
    CONSTRAINT alert_channels_shape CHECK (CASE kind
        WHEN 'webhook' THEN url IS NOT NULL
            AND smtp_host IS NULL AND smtp_port IS NULL AND smtp_security IS NULL
            AND smtp_username IS NULL AND smtp_password IS NULL
            AND mail_from IS NULL AND mail_to IS NULL
        WHEN 'slack' THEN url IS NOT NULL AND url LIKE 'https://%' AND secret IS NULL
            AND smtp_host IS NULL AND smtp_port IS NULL AND smtp_security IS NULL
            AND smtp_username IS NULL AND smtp_password IS NULL
            AND mail_from IS NULL AND mail_to IS NULL
        ELSE url IS NULL AND secret IS NULL
            AND smtp_host IS NOT NULL AND smtp_port IS NOT NULL AND smtp_security IS NOT NULL
            AND mail_from IS NOT NULL AND mail_to IS NOT NULL
            AND (smtp_password IS NULL OR smtp_username IS NOT NULL)
    END)
);

CREATE TRIGGER alert_channels_updated_at BEFORE UPDATE ON alert_channels
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- The alert settings, one row only (the boolean primary key can only be true).
CREATE TABLE alert_settings (
    id             boolean PRIMARY KEY DEFAULT true CHECK (id),
    -- A flapping flow sends at most one message per this many minutes; a day at most.
    repeat_minutes integer NOT NULL DEFAULT 15 CHECK (repeat_minutes BETWEEN 1 AND 1440),
    -- The panel's address as users reach it, for the link in each message.
    panel_url      text CHECK (panel_url ~ '^https?://[^/?#[:space:]@]+([/?#][^[:space:]]*)?$'
                               AND length(panel_url) <= 2048),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

INSERT INTO alert_settings DEFAULT VALUES;

CREATE TRIGGER alert_settings_updated_at BEFORE UPDATE ON alert_settings
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
