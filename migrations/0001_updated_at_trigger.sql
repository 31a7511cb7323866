-- A trigger function shared by every table with an `updated_at` column: stamps the row with
-- the transaction's time on each UPDATE, so application code cannot forget it.
CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;
