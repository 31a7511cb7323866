-- A clash of stream keys must not put the key in PostgreSQL's log. A plain unique violation
-- on `stream_keys_pkey` is logged with `DETAIL: Key (key)=(…) already exists.`, and that log
-- (the embedded cluster's postgres.log, the journal on NixOS) is read by people who must not
-- learn keys. The claim now skips a taken key and raises its own unique violation, on the
-- same constraint name (the store maps it to a conflict on `key`), with no value in it.
CREATE OR REPLACE FUNCTION claim_stream_key() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.key IS NOT NULL THEN
        DELETE FROM stream_keys WHERE key = OLD.key;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.key IS NOT NULL THEN
        INSERT INTO stream_keys (key) VALUES (NEW.key) ON CONFLICT DO NOTHING;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'stream key already in use'
                USING ERRCODE = 'unique_violation', CONSTRAINT = 'stream_keys_pkey';
        END IF;
    END IF;
    RETURN NULL;
END;
$$;
