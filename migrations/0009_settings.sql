-- The customer's branding, one row only (the boolean primary key can only be true). The
-- logo is stored inline: it is small, and a backup of the database is then complete.
CREATE TABLE settings (
    id            boolean PRIMARY KEY DEFAULT true CHECK (id),
    product_name  text NOT NULL DEFAULT 'Relevo' CHECK (length(trim(product_name)) BETWEEN 1 AND 100),
    logo          bytea CHECK (octet_length(logo) <= 1048576),
    logo_mime     text CHECK (logo_mime IN ('image/png', 'image/svg+xml', 'image/jpeg', 'image/webp')),
    primary_color text NOT NULL DEFAULT '#0b5fff' CHECK (primary_color ~ '^#[0-9a-fA-F]{6}$'),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT settings_logo_has_mime CHECK ((logo IS NULL) = (logo_mime IS NULL))
);

INSERT INTO settings DEFAULT VALUES;

CREATE TRIGGER settings_updated_at BEFORE UPDATE ON settings
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
