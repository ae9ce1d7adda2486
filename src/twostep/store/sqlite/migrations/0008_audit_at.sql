-- The site-wide audit log (`twostep audit`, Store::site_audit) reads the newest entries of every
-- user: an index on the time, so that it walks the newest rows instead of sorting the whole
-- table. (The rowid, audit.id, is part of every SQLite index: ORDER BY at DESC, id DESC uses it
-- as it is.)
CREATE INDEX audit_at ON audit(at);
