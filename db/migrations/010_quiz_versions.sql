-- 010_quiz_versions: quizzes written and edited in the console (issue 18).
-- A quiz row is one version. A version no session has used is edited in
-- place (its questions replaced, `version` counted up); a version a session
-- has used is never changed: saving it stores a new row (version + 1, same
-- family) and marks the old one `replaced_by` it, so the list shows the new
-- one while old sessions keep the questions they played and their results.
-- Deleting hides a quiz from the list (`deleted_at`); its rows stay for the
-- results of the sessions that played it.
ALTER TABLE quizzes
    ADD COLUMN family_id   bigint REFERENCES quizzes,  -- the first version's quiz_id; NULL on it
    ADD COLUMN version     integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    ADD COLUMN replaced_by bigint REFERENCES quizzes,  -- the later version that took its place
    ADD COLUMN deleted_at  timestamptz,
    ADD COLUMN updated_at  timestamptz NOT NULL DEFAULT now();
UPDATE quizzes SET updated_at = created_at;
-- The console's list: the current version of every quiz not deleted.
CREATE INDEX quizzes_listed ON quizzes (quiz_id DESC)
    WHERE replaced_by IS NULL AND deleted_at IS NULL;
-- "Has a session used this version?", asked at every save.
CREATE INDEX sessions_quiz ON sessions (quiz_id);
