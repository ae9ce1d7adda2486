-- Master-key ids next to every stored keyed hash, and the stored WebAuthn user handle: the
-- same as sqlite/migrations/0007_key_ids.sql (read its comments; key_id 0 = written before
-- this migration, pinned to the current key id at start-up).
ALTER TABLE recovery_codes ADD COLUMN key_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sms_codes ADD COLUMN key_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN webauthn_handle BYTEA;
