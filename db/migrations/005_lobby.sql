-- 005_lobby: the instructor controls who plays (lock, remove, two-step join).
-- `locked`: no new student joins; students already in still rejoin.
-- `two_step`: a join must carry the shapes the console shows, derived by
-- HMAC from `two_step_key` (random, never sent to a student) and the 20 s
-- window (shared/shapes.c). A removed student keeps its row, flagged, so its
-- tokens are refused at verify and its id cannot join again; reset deletes
-- it with the others.
ALTER TABLE sessions ADD COLUMN locked boolean NOT NULL DEFAULT false;
ALTER TABLE sessions ADD COLUMN two_step boolean NOT NULL DEFAULT false;
ALTER TABLE sessions ADD COLUMN two_step_key text NOT NULL
    DEFAULT replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '');
ALTER TABLE students ADD COLUMN removed_at timestamptz;

-- Joins refused per session (locked, removed id, wrong shapes, rate limited,
-- full), for the console. Kept off the sessions row so that a flood of
-- refused joins never contends with the row lock of joins and submits.
CREATE TABLE join_refusals (
    sid   text PRIMARY KEY REFERENCES sessions ON DELETE CASCADE,
    count bigint NOT NULL DEFAULT 0
);

-- The sessions a client IP joined (newest success per pair). While an IP is
-- over the failed-join limit it may still join these (its class behind one
-- NAT), and nothing else: so a script behind it learns no new code.
CREATE TABLE join_known (
    ip    text NOT NULL,
    sid   text NOT NULL REFERENCES sessions ON DELETE CASCADE,
    at_ms bigint NOT NULL,
    PRIMARY KEY (ip, sid)
);
