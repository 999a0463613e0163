-- 014_shards: sessions spread over session daemons (ARCHITECTURE "Shards").
-- A session belongs to shard quiz_shard(sid), 0..63: the same hash as
-- shared/quiz.c's quiz_shard(), so SQL (and tests) can tell which shard,
-- and so which daemon, a session is on. Each shard is driven by the daemon
-- holding advisory lock (7157003, shard) on its lock connection; its row in
-- session_shards names that daemon, the backend pids of its lock and state
-- connections and its last heartbeat (Postgres's clock) with the bound it
-- promised. session_instances has one row per running daemon, rewritten
-- with the same heartbeat, so a daemon holding no shard yet is counted when
-- the shards are shared out. The single lease of 004 is gone.
CREATE FUNCTION quiz_shard(sid text) RETURNS integer
  LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
  b bytea := convert_to(sid, 'UTF8');
  h bigint := 2166136261;
BEGIN
  FOR i IN 0 .. length(b) - 1 LOOP
    h := ((h # get_byte(b, i)) * 16777619) & 4294967295;
  END LOOP;
  RETURN ((h # (h >> 16)) % 64)::integer;
END
$$;

CREATE TABLE session_shards (
  shard          smallint PRIMARY KEY CHECK (shard BETWEEN 0 AND 63),
  instance       text     NOT NULL,
  lock_pid       integer  NOT NULL,
  state_pid      integer  NOT NULL,
  heartbeat_ms   bigint   NOT NULL,
  stale_after_ms integer  NOT NULL CHECK (stale_after_ms > 0)
);

CREATE TABLE session_instances (
  instance       text     PRIMARY KEY,
  lock_pid       integer  NOT NULL,
  heartbeat_ms   bigint   NOT NULL,
  stale_after_ms integer  NOT NULL CHECK (stale_after_ms > 0)
);

DROP TABLE session_lease;

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'qw_session') THEN
    GRANT SELECT, INSERT, UPDATE, DELETE ON session_shards, session_instances TO qw_session;
  END IF;
END
$$;
