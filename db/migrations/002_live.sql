-- 002_live: what live sessions need beyond 001.
-- `seq` numbers every lifecycle event of a session (question_open,
-- question_closed, session_ended, session_reset); it is bumped in the same
-- transaction as the state change it announces, so a takeover continues it.
ALTER TABLE sessions ADD COLUMN seq bigint NOT NULL DEFAULT 0;
-- Counting one question's answers (close, answer_stats).
CREATE INDEX answers_question ON answers (sid, question_idx);
