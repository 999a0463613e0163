-- 008_join_key: a join is idempotent per browser. The student page makes a
-- random join key once (kept in its localStorage) and sends it with every
-- join; auth stores only its SHA-256 (hex) with the student, so a join of
-- the same id retried after a lost answer is admitted as that same student
-- (not counted again), while another browser's key is still refused. NULL
-- for a join without a key (an older page, a script). The grants of
-- 007_roles are per table, so they cover the new column.
ALTER TABLE students ADD COLUMN join_key_hash text;
