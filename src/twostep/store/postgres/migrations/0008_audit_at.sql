-- same as sqlite/migrations/0008_audit_at.sql: the newest entries of the site-wide audit log
-- (ORDER BY at DESC, id DESC) without sorting the whole table.
CREATE INDEX audit_at ON audit(at, id);
