-- Flow history (issue #17): one row per flow and minute, and the events of every flow.
-- Flows are named, not referenced by id: inputs of the configuration file have no row, and
-- a flow's past outlives its deletion until retention removes it.

-- One row per input (output = '') or output and minute, written in one batch a minute.
CREATE TABLE flow_minutes (
    minute            timestamptz NOT NULL CHECK (date_trunc('minute', minute) = minute),
    input             text NOT NULL,
    output            text NOT NULL DEFAULT '',
    -- Seconds of the minute in each state (their sum is the seconds sampled, at most 60).
    secs_live         smallint NOT NULL DEFAULT 0 CHECK (secs_live BETWEEN 0 AND 60),
    secs_waiting      smallint NOT NULL DEFAULT 0 CHECK (secs_waiting BETWEEN 0 AND 60),
    secs_failing      smallint NOT NULL DEFAULT 0 CHECK (secs_failing BETWEEN 0 AND 60),
    secs_stopped      smallint NOT NULL DEFAULT 0 CHECK (secs_stopped BETWEEN 0 AND 60),
    -- Seconds the flow was meant to run: enabled, and for an output, while its input was live.
    secs_meant        smallint NOT NULL DEFAULT 0 CHECK (secs_meant BETWEEN 0 AND 60),
    -- Bit rate over the seconds sampled, bits per second.
    bitrate_avg       bigint NOT NULL DEFAULT 0 CHECK (bitrate_avg >= 0),
    bitrate_min       bigint NOT NULL DEFAULT 0 CHECK (bitrate_min >= 0),
    bitrate_max       bigint NOT NULL DEFAULT 0 CHECK (bitrate_max >= 0),
    bytes             bigint NOT NULL DEFAULT 0 CHECK (bytes >= 0),
    -- Publishes (input) or connection attempts after a failure (output) in the minute.
    reconnects        integer NOT NULL DEFAULT 0 CHECK (reconnects >= 0),
    -- Frames or packets dropped by the relay for a slow reader or destination.
    dropped           bigint NOT NULL DEFAULT 0 CHECK (dropped >= 0),
    -- SRT link, when the flow has one: mean RTT, and packets carried/lost/resent in the minute.
    srt_rtt_ms        real CHECK (srt_rtt_ms >= 0),
    srt_packets       bigint CHECK (srt_packets >= 0),
    srt_lost          bigint CHECK (srt_lost >= 0),
    srt_retransmitted bigint CHECK (srt_retransmitted >= 0),
    -- Readers or players connected: the most seen in the minute.
    peers_max         integer NOT NULL DEFAULT 0 CHECK (peers_max >= 0),
    PRIMARY KEY (input, output, minute)
);

-- Retention deletes by age across every flow.
CREATE INDEX flow_minutes_minute_idx ON flow_minutes (minute);

-- What happened to a flow, as it happened. `input` = '' for events of the appliance as a
-- whole (disk, certificate); `output` = '' for the input's own events.
CREATE TABLE flow_events (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    input     text NOT NULL,
    output    text NOT NULL DEFAULT '',
    -- e.g. publisher.connected, output.failed, reader.joined, feed.switch, config, alert.started
    kind      text NOT NULL CHECK (kind ~ '^[a-z][a-z_]*(\.[a-z][a-z_]*)*$' AND length(kind) <= 64),
    severity  text NOT NULL CHECK (severity IN ('info', 'warning', 'error')),
    -- Details of the kind (protocol, peer address, failure class, error text…); never a secret.
    detail    jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(detail) = 'object'),
    -- A configuration change links to the audit row that tells who made it.
    -- No foreign key: the audit log is append-only (0010), so the row stays; a key would
    -- also turn its TRUNCATE refusal into a foreign-key error.
    audit_id  bigint
);

CREATE INDEX flow_events_flow_idx ON flow_events (input, output, at DESC);
CREATE INDEX flow_events_at_idx ON flow_events (at);

-- Events are read per flow and kind, newest first (`store::history::events`).
CREATE INDEX flow_events_kind_idx ON flow_events (kind, id DESC);

-- A configuration change of an input or an output becomes a `config` event of that flow,
-- linked to its audit row (which tells who made it and what changed). Outputs' audit
-- snapshots carry `input_id` (`store::columns`); the input's name is read from its row, or
-- left '' when the input is gone (the audit row still names the output).
CREATE FUNCTION flow_events_from_audit() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    input_name  text;
    output_name text := '';
    input_ref   bigint;
BEGIN
    IF NEW.target_kind = 'input' THEN
        input_name := coalesce(NEW.target_name, NEW.after ->> 'name', NEW.before ->> 'name', '');
    ELSE
        output_name := coalesce(NEW.target_name, NEW.after ->> 'name', NEW.before ->> 'name', '');
        input_ref := coalesce(NEW.after ->> 'input_id', NEW.before ->> 'input_id')::bigint;
        SELECT name INTO input_name FROM inputs WHERE id = input_ref;
        input_name := coalesce(input_name, '');
    END IF;
    INSERT INTO flow_events (at, input, output, kind, severity, detail, audit_id)
    VALUES (NEW.created_at, input_name, output_name, 'config', 'info',
            jsonb_build_object('action', NEW.action, 'actor', NEW.actor), NEW.id);
    RETURN NULL;
END;
$$;

CREATE TRIGGER flow_events_from_audit
    AFTER INSERT ON audit_log
    FOR EACH ROW
    WHEN (NEW.target_kind IN ('input', 'output'))
    EXECUTE FUNCTION flow_events_from_audit();
