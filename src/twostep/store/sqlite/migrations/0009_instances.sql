-- The running `twostep serve` processes (Store::put_instance): each writes its row at start,
-- refreshes seen_at every heartbeat_s seconds (server.heartbeat_s) and deletes it on a clean
-- shutdown. A row unseen for 3 heartbeats is stale (the process was killed or lost the
-- database); housekeeping deletes rows unseen for a day. `twostep instances` lists them and
-- `twostep key use ID` refuses while a live instance has not loaded key ID.
CREATE TABLE instances (
  id TEXT PRIMARY KEY,               -- random, new at every process start
  host TEXT NOT NULL,
  pid INTEGER NOT NULL,
  version TEXT NOT NULL,
  listen TEXT NOT NULL,              -- the address it accepts connections on
  key_ids TEXT NOT NULL,             -- master key ids it loaded, ascending: "1,2,3"
  current_key_id INTEGER NOT NULL,   -- the one it writes under
  heartbeat_s INTEGER NOT NULL,
  started_at INTEGER NOT NULL,
  seen_at INTEGER NOT NULL
);
