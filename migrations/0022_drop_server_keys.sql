-- The access-token signing key leaves the database: it now lives in `<state_dir>/keys/`
-- (`keys::KeyDir`), so a `pg_dump` backup can no longer be used to mint admin tokens. The
-- table held nothing else. Access tokens signed with the old key stop working; clients get
-- a new one with their refresh token, which stays in the database.
DROP TABLE server_keys;
