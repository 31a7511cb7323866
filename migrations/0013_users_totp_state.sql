-- TOTP enrolment and replay protection. `totp_pending` holds a secret that was offered
-- (QR code) but not yet confirmed with a code: it becomes `totp_secret` on confirmation,
-- so a half-finished enrolment never locks anyone out. `totp_last_step` is the RFC 6238
-- time step of the last accepted code: a code for that step or an earlier one is refused.
ALTER TABLE users
    ADD COLUMN totp_pending   text,
    ADD COLUMN totp_last_step bigint;
