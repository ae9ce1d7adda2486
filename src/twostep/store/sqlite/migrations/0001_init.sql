-- The first schema. Times are INTEGER Unix seconds; booleans are 0/1. Tables are STRICT so
-- that a wrongly typed bind fails loudly instead of being stored as text.

CREATE TABLE users (
  id            INTEGER PRIMARY KEY,
  username      TEXT    NOT NULL COLLATE NOCASE UNIQUE,
  password_hash TEXT    NOT NULL,
  disabled      INTEGER NOT NULL DEFAULT 0,
  created_at    INTEGER NOT NULL,
  last_login_at INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE sessions (
  id                  INTEGER PRIMARY KEY,
  token_hash          TEXT    NOT NULL UNIQUE,
  user_id             INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  state               INTEGER NOT NULL,
  remember            INTEGER NOT NULL DEFAULT 0,
  created_at          INTEGER NOT NULL,
  last_seen_at        INTEGER NOT NULL,
  expires_at          INTEGER NOT NULL,
  absolute_expires_at INTEGER NOT NULL,
  auth_at             INTEGER NOT NULL DEFAULT 0,
  failed_attempts     INTEGER NOT NULL DEFAULT 0,
  ip                  TEXT    NOT NULL DEFAULT '',
  user_agent          TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX sessions_user_id ON sessions(user_id);
CREATE INDEX sessions_expires_at ON sessions(expires_at);

-- No foreign key: the security log outlives the rows it talks about, and user_id 0 means
-- "no user" (e.g. a sign-in attempt for an unknown name).
CREATE TABLE audit (
  id         INTEGER PRIMARY KEY,
  user_id    INTEGER NOT NULL DEFAULT 0,
  at         INTEGER NOT NULL,
  event      TEXT    NOT NULL,
  ip         TEXT    NOT NULL DEFAULT '',
  user_agent TEXT    NOT NULL DEFAULT '',
  detail     TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX audit_user_id_at ON audit(user_id, at);

CREATE TABLE throttles (
  key          TEXT    PRIMARY KEY,
  window_start INTEGER NOT NULL,
  hit_count    INTEGER NOT NULL,
  locked_until INTEGER NOT NULL DEFAULT 0
) STRICT, WITHOUT ROWID;

CREATE TABLE methods (
  id           INTEGER PRIMARY KEY,
  user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  type         TEXT    NOT NULL,
  label        TEXT    NOT NULL DEFAULT '',
  secret       BLOB    NOT NULL DEFAULT x'',
  params       TEXT    NOT NULL DEFAULT '',
  lookup       TEXT    NOT NULL DEFAULT '',
  confirmed    INTEGER NOT NULL DEFAULT 0,
  is_default   INTEGER NOT NULL DEFAULT 0,
  created_at   INTEGER NOT NULL,
  confirmed_at INTEGER NOT NULL DEFAULT 0,
  last_used_at INTEGER NOT NULL DEFAULT 0,
  last_step    INTEGER NOT NULL DEFAULT -1
) STRICT;
CREATE INDEX methods_user_id ON methods(user_id);
-- A credential id / public id identifies one method of its type; empty means "no lookup".
CREATE UNIQUE INDEX methods_type_lookup ON methods(type, lookup) WHERE lookup <> '';
-- At most one default per user, whatever the code above does.
CREATE UNIQUE INDEX methods_one_default ON methods(user_id) WHERE is_default = 1;

-- UNIQUE so that a hash can never be stored twice and so be "used once" twice.
CREATE TABLE recovery_codes (
  id         INTEGER PRIMARY KEY,
  user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  hash       TEXT    NOT NULL,
  created_at INTEGER NOT NULL,
  used_at    INTEGER
) STRICT;
CREATE UNIQUE INDEX recovery_codes_user_id_hash ON recovery_codes(user_id, hash);
