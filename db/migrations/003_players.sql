-- 003_players: a session's player count kept on its row.
-- Every join, snapshot, list and answer_stats used to count the session's
-- students (O(N) each, O(N^2) for a lecture hall joining). The join
-- transaction now increments this counter under the session row's lock
-- (which also enforces the per-session cap), and reset sets it to 0.
ALTER TABLE sessions ADD COLUMN players integer NOT NULL DEFAULT 0 CHECK (players >= 0);
UPDATE sessions s SET players = (SELECT count(*) FROM students st WHERE st.sid = s.sid);
