-- One namespace for stream keys: listening inputs and pull outputs share the SRT and RTMP
-- listeners, so a key may belong to only one of them (as `DesiredState::validate` checks
-- for the configuration file). Triggers keep `stream_keys` in step with both tables; its
-- primary key makes a clash a unique violation (`stream_keys_pkey`) inside the writing
-- transaction, safe under concurrency. Push outputs carry their key in their URL: not here.
CREATE TABLE stream_keys (
    key        text PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION claim_stream_key() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.key IS NOT NULL THEN
        DELETE FROM stream_keys WHERE key = OLD.key;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.key IS NOT NULL THEN
        INSERT INTO stream_keys (key) VALUES (NEW.key);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER inputs_stream_key AFTER INSERT OR UPDATE OF key OR DELETE ON inputs
    FOR EACH ROW EXECUTE FUNCTION claim_stream_key();
CREATE TRIGGER outputs_stream_key AFTER INSERT OR UPDATE OF key OR DELETE ON outputs
    FOR EACH ROW EXECUTE FUNCTION claim_stream_key();
