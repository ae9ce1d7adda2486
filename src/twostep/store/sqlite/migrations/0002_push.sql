-- Push approval (issue 4): enrolment tokens of the twostep-auth companion, its devices
-- (one per push method) and the approval requests of pending sign-ins.

-- A single-use enrolment link: only the SHA-256 of the token is kept. Removing the
-- (still unconfirmed) method removes its link.
CREATE TABLE push_enrollments (
  token_hash TEXT    PRIMARY KEY,
  user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  method_id  INTEGER NOT NULL REFERENCES methods(id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at    INTEGER NOT NULL DEFAULT 0
) STRICT, WITHOUT ROWID;

-- An enrolled authenticator: its Ed25519 public key and the replay guard (the timestamp of
-- the last accepted signed request, which must strictly increase). Removing the push method
-- revokes the device with it.
CREATE TABLE push_devices (
  id              INTEGER PRIMARY KEY,
  method_id       INTEGER NOT NULL UNIQUE REFERENCES methods(id) ON DELETE CASCADE,
  user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  device_id       TEXT    NOT NULL UNIQUE,
  public_key      BLOB    NOT NULL,
  name            TEXT    NOT NULL DEFAULT '',
  created_at      INTEGER NOT NULL,
  last_request_ms INTEGER NOT NULL DEFAULT 0,
  last_seen_at    INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX push_devices_user_id ON push_devices(user_id);

-- An approval request of a pending sign-in. `state` moves once, from 'pending' to
-- 'approved' or 'denied', by one conditional UPDATE; 'expired' is never written (a pending
-- row past expires_at reads as expired). consumed_at marks the approved request as used by
-- its pending sign-in (once). AUTOINCREMENT: an id is never reused after its row goes (with
-- its session), so a late answer can never land on a newer request.
CREATE TABLE approvals (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  session_id  INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  method_id   INTEGER NOT NULL DEFAULT 0,
  number      INTEGER NOT NULL,
  choices     TEXT    NOT NULL,
  state       TEXT    NOT NULL DEFAULT 'pending'
              CHECK (state IN ('pending', 'approved', 'denied')),
  created_at  INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL,
  decided_at  INTEGER NOT NULL DEFAULT 0,
  decided_by  TEXT    NOT NULL DEFAULT '',
  consumed_at INTEGER NOT NULL DEFAULT 0,
  ip          TEXT    NOT NULL DEFAULT '',
  user_agent  TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX approvals_user_id_state ON approvals(user_id, state);
CREATE INDEX approvals_session_id ON approvals(session_id);
CREATE INDEX approvals_expires_at ON approvals(expires_at);
