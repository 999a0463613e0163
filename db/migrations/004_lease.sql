-- 004_lease: the session lease's heartbeat (ARCHITECTURE "The lease").
-- The holder of advisory lock 7157002 rewrites this one row every
-- QW_SESSION_LEASE_MS / 2 from its lock connection: its instance name, the
-- backend pids of its lock and state connections, and the database clock.
-- A standby that finds the heartbeat older than stale_after_ms (the bound
-- the holder promised) terminates those two backends, which frees the lock.
CREATE TABLE session_lease (
  id             smallint PRIMARY KEY CHECK (id = 1),
  instance       text     NOT NULL,
  lock_pid       integer  NOT NULL,
  state_pid      integer  NOT NULL,
  heartbeat_ms   bigint   NOT NULL,
  stale_after_ms integer  NOT NULL CHECK (stale_after_ms > 0)
);
