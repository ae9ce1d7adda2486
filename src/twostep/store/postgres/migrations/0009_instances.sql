-- same as sqlite/migrations/0009_instances.sql (read its comments): the running `twostep serve`
-- processes, with the master keys each loaded.
CREATE TABLE instances (
  id TEXT PRIMARY KEY,
  host TEXT NOT NULL,
  pid BIGINT NOT NULL,
  version TEXT NOT NULL,
  listen TEXT NOT NULL,
  key_ids TEXT NOT NULL,
  current_key_id BIGINT NOT NULL,
  heartbeat_s BIGINT NOT NULL,
  started_at BIGINT NOT NULL,
  seen_at BIGINT NOT NULL
);
