-- 001_init: the durable record of Quizwire.
-- Times that deadlines are judged by are wall-clock milliseconds (bigint),
-- so any daemon on any machine can compare them without time zones.

CREATE TABLE settings (
    key   text PRIMARY KEY,
    value text NOT NULL
);

CREATE TABLE admins (
    username   text PRIMARY KEY,
    pw_hash    text NOT NULL,               -- yescrypt ($y$...), never the password
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per admin login; a token names its login_id, and logout sets
-- revoked_at, so a logged-out token is refused by every auth instance.
CREATE TABLE admin_logins (
    login_id   text PRIMARY KEY,
    username   text NOT NULL REFERENCES admins ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);

-- Every login try (good or bad), for the sliding 60 s limit per client IP.
CREATE TABLE login_attempts (
    id    bigserial PRIMARY KEY,
    ip    text NOT NULL,
    at_ms bigint NOT NULL
);
CREATE INDEX login_attempts_ip_at ON login_attempts (ip, at_ms);

CREATE TABLE quizzes (
    quiz_id        bigserial PRIMARY KEY,
    title          text NOT NULL,
    question_count integer NOT NULL CHECK (question_count >= 1),
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE questions (
    quiz_id      bigint NOT NULL REFERENCES quizzes ON DELETE CASCADE,
    idx          integer NOT NULL CHECK (idx >= 0),
    text         text NOT NULL,
    choices      jsonb NOT NULL,             -- ["3","4","5","22"], labelled A.. in order
    answer       text NOT NULL CHECK (answer IN ('A','B','C','D')),
    time_limit_s integer NOT NULL CHECK (time_limit_s BETWEEN 5 AND 600),
    PRIMARY KEY (quiz_id, idx)
);

CREATE TABLE sessions (
    sid          text PRIMARY KEY,
    quiz_id      bigint NOT NULL REFERENCES quizzes,
    join_code    text NOT NULL CHECK (join_code ~ '^[0-9]{6}$'),
    state        text NOT NULL DEFAULT 'lobby'
                 CHECK (state IN ('lobby', 'question', 'closed', 'ended')),
    question_idx integer NOT NULL DEFAULT -1,  -- -1 in the lobby
    opened_at_ms bigint,                       -- wall ms the open question opened
    deadline_ms  bigint,                       -- wall ms it closes by timer
    closed_at_ms bigint,                       -- wall ms it was closed (timer or close)
    epoch        integer NOT NULL DEFAULT 1,   -- bumped by reset; old student tokens die
    created_at   timestamptz NOT NULL DEFAULT now(),
    ended_at     timestamptz
);
-- A join code names at most one session that has not ended.
CREATE UNIQUE INDEX sessions_live_join_code ON sessions (join_code) WHERE state <> 'ended';
-- The session daemon's timer scan.
CREATE INDEX sessions_open_deadline ON sessions (deadline_ms) WHERE state = 'question';

CREATE TABLE students (
    sid        text NOT NULL REFERENCES sessions ON DELETE CASCADE,
    student_id text NOT NULL,                -- as given, 1..64 printable characters
    name       text NOT NULL,                -- as given, 1..40 characters
    epoch      integer NOT NULL,
    joined_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sid, student_id)
);

-- One row per accepted answer; the primary key makes the first answer stand.
CREATE TABLE answers (
    sid            text NOT NULL,
    student_id     text NOT NULL,
    question_idx   integer NOT NULL,
    choice         text NOT NULL CHECK (choice IN ('A','B','C','D')),
    correct        boolean NOT NULL,
    points         integer NOT NULL CHECK (points BETWEEN 0 AND 1000),
    latency_ms     integer NOT NULL,          -- elapsed as the gateway measured it
    received_at_ms bigint NOT NULL,           -- wall ms the gateway read the submit
    PRIMARY KEY (sid, student_id, question_idx),
    FOREIGN KEY (sid, student_id) REFERENCES students ON DELETE CASCADE
);
