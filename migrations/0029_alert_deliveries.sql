-- Alert deliveries (issue #17): one row per message and channel, the sender's queue and its
-- record. A delivery is retried with backoff until it is sent or its attempts run out
-- (`failed`), and stays for the panel and the API to show; retention goes with its event.

CREATE TABLE alert_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- The `alert.started`/`alert.resolved` event it tells of; NULL for a test message.
    event_id        bigint REFERENCES flow_events (id) ON DELETE CASCADE,
    channel_id      bigint NOT NULL REFERENCES alert_channels (id) ON DELETE CASCADE,
    kind            text NOT NULL CHECK (kind IN ('started', 'resolved', 'test')),
    -- The message as sent (the webhook's JSON body, its text in the channel's language);
    -- never a secret.
    payload         jsonb NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text CHECK (length(last_error) <= 1000),
    sent_at         timestamptz,
    CONSTRAINT alert_deliveries_sent CHECK ((state = 'sent') = (sent_at IS NOT NULL))
);

CREATE TRIGGER alert_deliveries_updated_at BEFORE UPDATE ON alert_deliveries
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- The sender's poll: the pending deliveries that are due.
CREATE INDEX alert_deliveries_due_idx ON alert_deliveries (next_attempt_at)
    WHERE state = 'pending';
-- Cascades from flow_events' retention.
CREATE INDEX alert_deliveries_event_idx ON alert_deliveries (event_id);
