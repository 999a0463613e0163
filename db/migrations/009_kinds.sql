-- 009_kinds: kinds of question (docs/API.md "Kinds of question").
-- `kind` is single (every question before this), multi (several right
-- answers), truefalse or poll (no right answer). Up to 6 choices, A..F.
-- A right answer and a recorded choice are stored in one form: the labels
-- in order, each once ("B" for one label, "AC" for the set {A, C}), so a
-- multi answer is right exactly when the strings are equal. A poll stores
-- no answer (NULL); its recorded answers have correct = false, 0 points.
-- The grants of 007_roles are per table, so they cover the new column.
ALTER TABLE questions ADD COLUMN kind text NOT NULL DEFAULT 'single'
    CHECK (kind IN ('single', 'multi', 'truefalse', 'poll'));
ALTER TABLE questions DROP CONSTRAINT questions_answer_check;
ALTER TABLE questions ALTER COLUMN answer DROP NOT NULL;
ALTER TABLE questions ADD CONSTRAINT questions_answer_check
    CHECK (answer ~ '^A?B?C?D?E?F?$' AND answer <> '');
ALTER TABLE questions ADD CONSTRAINT questions_kind_answer_check
    CHECK ((kind = 'poll') = (answer IS NULL)
           AND (kind = 'multi' OR length(answer) = 1 OR answer IS NULL));
ALTER TABLE answers DROP CONSTRAINT answers_choice_check;
ALTER TABLE answers ADD CONSTRAINT answers_choice_check
    CHECK (choice ~ '^A?B?C?D?E?F?$' AND choice <> '');
