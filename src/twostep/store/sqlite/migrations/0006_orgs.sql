-- Organisations: members with a role, a two-step verification policy, and an audit log of
-- their own. Times are Unix seconds; booleans 0/1.

-- Names are unique (case-insensitively) so that the operator's CLI can name an organisation.
-- policy_since: when require_2fa last went from off to on (0 while off); a member's enrolment
-- deadline is max(policy_since, joined_at) + grace_days days.
CREATE TABLE orgs (
  id           INTEGER PRIMARY KEY,
  name         TEXT    NOT NULL COLLATE NOCASE UNIQUE,
  created_at   INTEGER NOT NULL,
  require_2fa  INTEGER NOT NULL DEFAULT 0,
  grace_days   INTEGER NOT NULL DEFAULT 0,
  policy_since INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE org_members (
  org_id   INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  user_id  INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role     TEXT    NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
  added_at INTEGER NOT NULL,
  PRIMARY KEY (org_id, user_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX org_members_user_id ON org_members(user_id);

-- A separate log rather than an org column on `audit`: the organisation's admins read this one,
-- and it must never show them a member's own security events (addresses of their sign-ins).
-- Entries that concern a member are written to both logs by the service. No foreign keys: the
-- log outlives the rows it talks about. actor_id 0 = the server operator (CLI).
CREATE TABLE org_audit (
  id         INTEGER PRIMARY KEY,
  org_id     INTEGER NOT NULL,
  at         INTEGER NOT NULL,
  actor_id   INTEGER NOT NULL DEFAULT 0,
  subject_id INTEGER NOT NULL DEFAULT 0,
  event      TEXT    NOT NULL,
  ip         TEXT    NOT NULL DEFAULT '',
  user_agent TEXT    NOT NULL DEFAULT '',
  detail     TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX org_audit_org_id_at ON org_audit(org_id, at);
