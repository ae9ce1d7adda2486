-- Application passwords for protocol clients (IMAP, WebDAV, CalDAV). The password itself is
-- never stored: `hash` is a keyed BLAKE2b over "user_id:lookup:secret" with a pepper derived
-- from master key `key_id`, so hashes stay valid when the current key rotates.
-- `lookup` is the first, non-secret group of the password; (user_id, lookup) finds the row in
-- one indexed read.
CREATE TABLE app_passwords (
  id           INTEGER PRIMARY KEY,
  user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name         TEXT    NOT NULL,
  scopes       TEXT    NOT NULL,
  lookup       TEXT    NOT NULL,
  hash         TEXT    NOT NULL,
  key_id       INTEGER NOT NULL,
  created_at   INTEGER NOT NULL,
  last_used_at INTEGER NOT NULL DEFAULT 0,
  last_used_ip TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE UNIQUE INDEX app_passwords_user_lookup ON app_passwords(user_id, lookup);
