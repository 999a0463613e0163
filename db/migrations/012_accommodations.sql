-- 012_accommodations: extra time for a student (issue 18). The instructor
-- gives a student id a time factor (1.25, 1.5, 2 or 3, kept as a percent;
-- factor 1 deletes the row) in the lobby, before that student joins, or
-- later. A reset keeps them: a learning plan outlives a round.
-- When a question opens, the factors of its session are copied onto the
-- session row (`sessions.time_factors`, {"<student_id>": percent}), so the
-- question's judging, snapshots and close all read the same factors
-- while it is open, and a change takes effect at the next question.
CREATE TABLE time_factors (
    sid        text NOT NULL REFERENCES sessions ON DELETE CASCADE,
    student_id text NOT NULL,
    factor_pct integer NOT NULL CHECK (factor_pct IN (125, 150, 200, 300)),
    PRIMARY KEY (sid, student_id)
);
ALTER TABLE sessions ADD COLUMN time_factors jsonb NOT NULL DEFAULT '{}';

-- Only the session daemon reads and writes the table (the grants of
-- 007_roles are per table); scoring reads the copy on the session row.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'qw_session') THEN
    GRANT SELECT, INSERT, UPDATE, DELETE ON time_factors TO qw_session;
  END IF;
END
$$;
