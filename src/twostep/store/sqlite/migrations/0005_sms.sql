-- SMS codes (issue 6). A code is stored only as a keyed hash, the number only as a keyed
-- hash (the number itself is sealed in methods.secret). No foreign key to methods: the
-- resend cool-down of a number must outlive a method that is deleted and added again.
CREATE TABLE sms_codes (
  id          INTEGER PRIMARY KEY,
  user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  method_id   INTEGER NOT NULL,
  purpose     TEXT    NOT NULL CHECK (purpose IN ('enroll', 'auth')),
  number_hash TEXT    NOT NULL,
  code_hash   TEXT    NOT NULL,
  created_at  INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL,
  sent        INTEGER NOT NULL DEFAULT 0,
  attempts    INTEGER NOT NULL DEFAULT 0,
  used_at     INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX sms_codes_user_purpose ON sms_codes(user_id, purpose, id);
CREATE INDEX sms_codes_user_number ON sms_codes(user_id, number_hash, purpose, created_at);
CREATE INDEX sms_codes_created_at ON sms_codes(created_at);

-- Daily counts for the caps (per account, number, address) and the per-region budget.
CREATE TABLE sms_quotas (
  key   TEXT    NOT NULL,
  day   INTEGER NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY (key, day)
) STRICT, WITHOUT ROWID;
