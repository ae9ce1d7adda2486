-- Security keys: Yubico OTP keys and WebAuthn challenges. (WebAuthn credentials and YubiKey
-- methods are rows of `methods`: type 'webauthn' with lookup = base64url credential id,
-- type 'yubiotp' with lookup = public id; the unique (type, lookup) index keeps each key on
-- one account.)

-- Yubico OTP keys imported by an operator (`twostep yubikey import`). `secret` is the
-- private id and AES key sealed with the master key, bound to the public id. `last_counter`
-- is the highest (session counter << 8 | use) ever accepted: it belongs to the physical key,
-- so an OTP is accepted once even if the key moves to another account.
CREATE TABLE yubikeys (
  public_id    TEXT    PRIMARY KEY,
  secret       BLOB    NOT NULL,
  last_counter INTEGER NOT NULL DEFAULT -1,
  imported_at  INTEGER NOT NULL,
  last_used_at INTEGER NOT NULL DEFAULT 0
) STRICT, WITHOUT ROWID;

-- WebAuthn challenges: at most one outstanding per (session, purpose); taken (deleted) by the
-- first answer, so each is used once; ends with its session.
CREATE TABLE webauthn_challenges (
  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  purpose    TEXT    NOT NULL,
  challenge  BLOB    NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (session_id, purpose)
) STRICT, WITHOUT ROWID;
CREATE INDEX webauthn_challenges_expires_at ON webauthn_challenges(expires_at);
