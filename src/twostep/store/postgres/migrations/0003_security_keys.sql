-- Security keys: the same tables as sqlite/migrations/0003_security_keys.sql (read its
-- comments). public_id is modhex (ASCII, checked before any lookup), purpose one of our own
-- constants; the sealed key and the challenge are bytes.

CREATE TABLE yubikeys (
  public_id    TEXT   PRIMARY KEY,
  secret       BYTEA  NOT NULL,
  last_counter BIGINT NOT NULL DEFAULT -1,
  imported_at  BIGINT NOT NULL,
  last_used_at BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE webauthn_challenges (
  session_id BIGINT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  purpose    TEXT   NOT NULL,
  challenge  BYTEA  NOT NULL,
  expires_at BIGINT NOT NULL,
  PRIMARY KEY (session_id, purpose)
);
CREATE INDEX webauthn_challenges_expires_at ON webauthn_challenges(expires_at);
