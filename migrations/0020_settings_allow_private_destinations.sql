-- Whether flows created through the API or the panel may push to, or pull from, loopback,
-- private and link-local addresses (the appliance itself, the internal network, the cloud
-- metadata address). Off by default: otherwise a técnico could probe the internal network
-- through an output's last error. Flows of the configuration file are always allowed.
ALTER TABLE settings
    ADD COLUMN allow_private_destinations boolean NOT NULL DEFAULT false;
