-- Master-key rotation must void nothing: every stored keyed hash names the master key its
-- pepper came from (app_passwords had key_id from the start), and the WebAuthn user handle is
-- stored instead of derived from the current key.
--
-- key_id 0 marks rows written before this migration: they were hashed with the key that was
-- current then. The migration cannot know that key's id (it is in the key file, not in the
-- database), so the server pins them to its current key id at start-up, before it serves
-- anything, and `twostep key rotate` does the same before it adds a key (Store::
-- pin_legacy_key_ids). Until pinned, key_id 0 is read as "the current key", which is what
-- made them. Key files never use id 0.
ALTER TABLE recovery_codes ADD COLUMN key_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sms_codes ADD COLUMN key_id INTEGER NOT NULL DEFAULT 0;

-- The account's WebAuthn user handle (32 random bytes, or for accounts that registered keys
-- before this migration the handle those keys hold): set once, on the first registration.
ALTER TABLE users ADD COLUMN webauthn_handle BLOB;
