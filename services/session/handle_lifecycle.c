/*
 * handle_lifecycle: the lease, every lifecycle command (`qw.session.cmd`)
 * and every question timer, all on ONE thread so nothing races inside an
 * instance; Postgres row locks order it against scoring's batches.
 * Only the instance holding the Postgres advisory lock LEASE_KEY subscribes
 * to commands and runs timers; it must never act after losing that lock.
 * The holder heartbeats in `session_lease`; a standby ends a hung holder's
 * connections once its heartbeat is stale, and a holder that was paused
 * re-checks the lease before it acts again.
 * Each state change is one transaction; its event is published after COMMIT.
 */
#include "bus.h"
#include "clock.h"
#include "log.h"
#include "reply.h"
#include "session.h"
#include "subjects.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LEASE_KEY "7157002"      /* pg advisory lock held by the driving instance */
#define LOOP_MAX_WAIT_MS 200     /* longest NextMsg wait, so stop is seen quickly */
#define TIMER_RETRY_MS 250       /* a close that failed (db down) is retried after */
#define STALE_LEASES 3           /* heartbeat older than this many QW_SESSION_LEASE_MS: hung */
#define TERMINATE_WAIT_MS "2000" /* how long pg_terminate_backend waits for the exit */

/* Postgres's clock in ms: every instance compares heartbeats on this one. */
#define DB_NOW_MS "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"
#define LOCK_HELD                                                                                  \
    "EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = 0"                   \
    " AND objid = " LEASE_KEY " AND objsubid = 1 AND granted AND pid = pg_backend_pid())"
#define LEASE_ROW                                                                                  \
    "INSERT INTO session_lease (id, instance, lock_pid, state_pid, heartbeat_ms,"                  \
    " stale_after_ms) SELECT 1, $1, pg_backend_pid(), $2::int, " DB_NOW_MS ", $3::int"
#define LEASE_UPSERT                                                                               \
    " ON CONFLICT (id) DO UPDATE SET instance = EXCLUDED.instance,"                                \
    " lock_pid = EXCLUDED.lock_pid, state_pid = EXCLUDED.state_pid,"                               \
    " heartbeat_ms = EXCLUDED.heartbeat_ms, stale_after_ms = EXCLUDED.stale_after_ms"              \
    " RETURNING 1"

struct timer {
    char *sid;           /* owned */
    int idx;             /* question the timer closes */
    int64_t deadline_ms; /* wall ms */
    int64_t retry_ms;    /* wall ms before which a failed close is not retried */
};

struct lifecycle {
    struct session_daemon *sd; /* borrowed */
    pthread_t thread;
    int started;
    atomic_int stop;
    struct db *lock_db;    /* owned: holds the advisory lock while leader */
    struct db *db;         /* owned: every state change */
    natsSubscription *sub; /* owned: qw.session.cmd, only while leader */
    int leader;
    int lease_ms;          /* QW_SESSION_LEASE_MS */
    int stale_ms;          /* STALE_LEASES * lease_ms: promised heartbeat bound */
    int64_t next_check_ms; /* mono ms of the next lease check */
    int64_t beat_mono_ms;  /* mono ms when the last confirmed heartbeat was sent */
    struct timer *timers;  /* owned array */
    int ntimers, cap;
    int pool_done; /* QUIZ_POOL_PATH handled (once per process) */
};

/* ---- timers --------------------------------------------------------- */

static void timer_remove(struct lifecycle *lc, const char *sid) {
    for (int i = 0; i < lc->ntimers; i++) {
        if (strcmp(lc->timers[i].sid, sid) != 0) continue;
        free(lc->timers[i].sid);
        lc->timers[i] = lc->timers[--lc->ntimers];
        return;
    }
}

static void timer_arm(struct lifecycle *lc, const char *sid, int idx, int64_t deadline_ms) {
    timer_remove(lc, sid);
    if (lc->ntimers == lc->cap) {
        int cap = lc->cap ? lc->cap * 2 : 16;
        struct timer *t = realloc(lc->timers, sizeof(*t) * (size_t)cap);
        if (!t) {
            LOG_ERROR("timer_arm_failed", "sid=%s reason=oom", sid);
            return;
        }
        lc->timers = t;
        lc->cap = cap;
    }
    char *copy = strdup(sid);
    if (!copy) return;
    lc->timers[lc->ntimers++] = (struct timer){copy, idx, deadline_ms, 0};
}

static void timers_clear(struct lifecycle *lc) {
    for (int i = 0; i < lc->ntimers; i++)
        free(lc->timers[i].sid);
    lc->ntimers = 0;
}

/* ---- helpers -------------------------------------------------------- */

static void publish_event(struct lifecycle *lc, const char *sid, json_t *ev) {
    char subject[256];
    snprintf(subject, sizeof(subject), "%s%s", SUBJ_EVENT_PREFIX, sid);
    if (bus_publish(lc->sd->d.nc, subject, ev) != 0)
        LOG_WARN("event_publish_failed", "sid=%s type=%s", sid,
                 json_string_value(json_object_get(ev, "type")));
}

static void rollback(struct db *db) {
    db_cmd(db, "ROLLBACK", 0, NULL);
}

/* The session's <state> object (ARCHITECTURE.md) plus `seq`, or NULL when
 * the sid is unknown or on error (*err set to 1). Caller owns the result. */
static json_t *state_json(struct db *db, const char *sid, int *err) {
    const char *p[1] = {sid};
    *err = 0;
    PGresult *r =
        db_exec(db,
                "SELECT s.sid, s.quiz_id, q.title, s.join_code, s.state, s.question_idx,"
                " q.question_count, s.players,"
                " to_char(s.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
                " s.seq, s.opened_at_ms, s.deadline_ms"
                " FROM sessions s JOIN quizzes q USING (quiz_id) WHERE s.sid = $1",
                1, p);
    if (!r) {
        *err = 1;
        return NULL;
    }
    json_t *o = NULL;
    if (PQntuples(r) == 1) {
        o = json_pack("{s:s,s:I,s:s,s:s,s:s,s:i,s:i,s:I,s:s,s:I}", "sid", db_val(r, 0, 0),
                      "quiz_id", (json_int_t)atoll(db_val(r, 0, 1)), "title", db_val(r, 0, 2),
                      "join_code", db_val(r, 0, 3), "state", db_val(r, 0, 4), "question_idx",
                      atoi(db_val(r, 0, 5)), "question_count", atoi(db_val(r, 0, 6)), "players",
                      (json_int_t)atoll(db_val(r, 0, 7)), "created_at", db_val(r, 0, 8), "seq",
                      (json_int_t)atoll(db_val(r, 0, 9)));
        if (o && db_val(r, 0, 10))
            json_object_set_new(o, "opened_at_ms", json_integer(atoll(db_val(r, 0, 10))));
        if (o && db_val(r, 0, 11))
            json_object_set_new(o, "deadline_ms", json_integer(atoll(db_val(r, 0, 11))));
    }
    PQclear(r);
    return o;
}

/* ---- state changes: each one transaction, its event after COMMIT ----- */

/* Opens question `idx` of `sid`. Returns 0, or -1 on error (nothing changed). */
static int step_open(struct lifecycle *lc, const char *sid, int idx) {
    struct db *db = lc->db;
    char sidx[16], now[32];
    snprintf(sidx, sizeof(sidx), "%d", idx);
    snprintf(now, sizeof(now), "%lld", (long long)clock_wall_ms());
    const char *p[3] = {sid, sidx, now};
    if (db_cmd(db, "BEGIN", 0, NULL) != 0) return -1;
    PGresult *r =
        db_exec(db,
                "UPDATE sessions s SET state = 'question', question_idx = $2::int,"
                " opened_at_ms = $3::bigint,"
                " deadline_ms = $3::bigint + q.time_limit_s * 1000, closed_at_ms = NULL,"
                " seq = s.seq + 1"
                " FROM questions q WHERE s.sid = $1 AND q.quiz_id = s.quiz_id"
                " AND q.idx = $2::int AND s.state IN ('lobby', 'closed')"
                " AND s.question_idx = $2::int - 1"
                " RETURNING s.seq, s.deadline_ms, q.text, q.choices::text, q.time_limit_s,"
                " (SELECT question_count FROM quizzes z WHERE z.quiz_id = s.quiz_id)",
                3, p);
    if (!r || PQntuples(r) != 1 || db_cmd(db, "COMMIT", 0, NULL) != 0) {
        PQclear(r);
        rollback(db);
        return -1;
    }
    long long seq = atoll(db_val(r, 0, 0)), deadline = atoll(db_val(r, 0, 1));
    json_t *choices = json_loads(db_val(r, 0, 3), 0, NULL);
    json_t *ev = json_pack(
        "{s:s,s:I,s:i,s:i,s:s,s:o,s:i,s:I,s:I}", "type", "question_open", "seq", (json_int_t)seq,
        "question_idx", idx, "question_count", atoi(db_val(r, 0, 5)), "text", db_val(r, 0, 2),
        "choices", choices ? choices : json_array(), "time_limit_ms", atoi(db_val(r, 0, 4)) * 1000,
        "opened_at_ms", (json_int_t)atoll(now), "deadline_ms", (json_int_t)deadline);
    PQclear(r);
    timer_arm(lc, sid, idx, deadline);
    if (ev) publish_event(lc, sid, ev);
    json_decref(ev);
    LOG_INFO("question_opened", "sid=%s question_idx=%d deadline_ms=%lld seq=%lld", sid, idx,
             deadline, seq);
    return 0;
}

/* Closes question `idx` of `sid` if it is still open. The UPDATE waits for
 * every scoring batch holding the row FOR SHARE; the counts and results
 * are read after it, in the same transaction. Returns 1 closed, 0 nothing
 * to close (timer dropped), -1 error (nothing changed). */
static int step_close(struct lifecycle *lc, const char *sid, int idx) {
    struct db *db = lc->db;
    int rc = -1;
    char sidx[16], now[32];
    snprintf(sidx, sizeof(sidx), "%d", idx);
    snprintf(now, sizeof(now), "%lld", (long long)clock_wall_ms());
    const char *p[3] = {sid, sidx, now};
    PGresult *u = NULL, *q = NULL, *c = NULL, *s = NULL;
    json_t *ev = NULL;
    if (db_cmd(db, "BEGIN", 0, NULL) != 0) return -1;
    u = db_exec(db,
                "UPDATE sessions SET state = 'closed', closed_at_ms = $3::bigint, seq = seq + 1"
                " WHERE sid = $1 AND state = 'question' AND question_idx = $2::int"
                " RETURNING seq, quiz_id",
                3, p);
    if (!u) goto cleanup;
    if (PQntuples(u) == 0) {
        rc = 0;
        goto cleanup;
    }
    const char *qp[2] = {db_val(u, 0, 1), sidx};
    q = db_exec(db,
                "SELECT answer, jsonb_array_length(choices) FROM questions"
                " WHERE quiz_id = $1::bigint AND idx = $2::int",
                2, qp);
    c = db_exec(db,
                "SELECT choice, count(*) FROM answers WHERE sid = $1 AND question_idx = $2::int"
                " GROUP BY choice",
                2, p);
    s = db_exec(db,
                "SELECT st.student_id, a.choice, COALESCE(a.points, 0),"
                " (SELECT COALESCE(sum(x.points), 0) FROM answers x"
                "  WHERE x.sid = st.sid AND x.student_id = st.student_id)"
                " FROM students st LEFT JOIN answers a ON a.sid = st.sid"
                " AND a.student_id = st.student_id AND a.question_idx = $2::int"
                " WHERE st.sid = $1 AND st.removed_at IS NULL",
                2, p);
    if (!q || PQntuples(q) != 1 || !c || !s) goto cleanup;
    if (db_cmd(db, "COMMIT", 0, NULL) != 0) goto cleanup;
    rc = 1;

    json_t *counts = json_object();
    int nchoices = atoi(db_val(q, 0, 1));
    for (int i = 0; i < nchoices && i < 4; i++) {
        char label[2] = {(char)('A' + i), 0};
        json_object_set_new(counts, label, json_integer(0));
    }
    for (int i = 0; i < PQntuples(c); i++)
        json_object_set_new(counts, db_val(c, i, 0), json_integer(atoll(db_val(c, i, 1))));
    json_t *results = json_object();
    for (int i = 0; i < PQntuples(s); i++) {
        const char *choice = db_val(s, i, 1);
        json_object_set_new(results, db_val(s, i, 0),
                            json_pack("[o,I,I]", choice ? json_string(choice) : json_null(),
                                      (json_int_t)atoll(db_val(s, i, 2)),
                                      (json_int_t)atoll(db_val(s, i, 3))));
    }
    ev = json_pack("{s:s,s:I,s:i,s:s,s:o,s:o,s:i}", "type", "question_closed", "seq",
                   (json_int_t)atoll(db_val(u, 0, 0)), "question_idx", idx, "answer",
                   db_val(q, 0, 0), "counts", counts, "results", results, "players", PQntuples(s));
    if (ev) publish_event(lc, sid, ev);
    LOG_INFO("question_closed", "sid=%s question_idx=%d seq=%s players=%d", sid, idx,
             db_val(u, 0, 0), PQntuples(s));
cleanup:
    if (rc != 1) rollback(db);
    if (rc >= 0) timer_remove(lc, sid);
    json_decref(ev);
    PQclear(u);
    PQclear(q);
    PQclear(c);
    PQclear(s);
    return rc;
}

/* Ends `sid` (not already ended; an open question must be closed first).
 * Returns 0, or -1 on error. */
static int step_end(struct lifecycle *lc, const char *sid) {
    struct db *db = lc->db;
    int rc = -1;
    const char *p[1] = {sid};
    PGresult *u = NULL, *s = NULL;
    json_t *ev = NULL;
    if (db_cmd(db, "BEGIN", 0, NULL) != 0) return -1;
    u = db_exec(db,
                "UPDATE sessions SET state = 'ended', ended_at = now(), seq = seq + 1"
                " WHERE sid = $1 AND state IN ('lobby', 'closed') RETURNING seq",
                1, p);
    s = db_exec(db,
                "SELECT st.student_id, COALESCE(sum(a.points), 0) AS score FROM students st"
                " LEFT JOIN answers a ON a.sid = st.sid AND a.student_id = st.student_id"
                " WHERE st.sid = $1 AND st.removed_at IS NULL"
                " GROUP BY st.student_id ORDER BY score DESC",
                1, p);
    if (!u || PQntuples(u) != 1 || !s || db_cmd(db, "COMMIT", 0, NULL) != 0) goto cleanup;
    rc = 0;
    json_t *results = json_object();
    long long prev = -1;
    int rank = 0;
    for (int i = 0; i < PQntuples(s); i++) {
        long long score = atoll(db_val(s, i, 1));
        if (i == 0 || score != prev) rank = i + 1; /* 1 + students with a higher score */
        prev = score;
        json_object_set_new(results, db_val(s, i, 0), json_pack("[I,i]", (json_int_t)score, rank));
    }
    ev = json_pack("{s:s,s:I,s:i,s:o}", "type", "session_ended", "seq",
                   (json_int_t)atoll(db_val(u, 0, 0)), "players", PQntuples(s), "results", results);
    if (ev) publish_event(lc, sid, ev);
    timer_remove(lc, sid);
    LOG_INFO("session_ended", "sid=%s players=%d", sid, PQntuples(s));
cleanup:
    if (rc != 0) rollback(db);
    json_decref(ev);
    PQclear(u);
    PQclear(s);
    return rc;
}

/* Returns `sid` to its lobby: students and answers deleted, epoch+1 (old
 * student tokens die). Returns 0, or -1 on error. */
/* Resetting `main` also gives it the pool file's quiz when the file
 * changed (main_pool.c), in the reset's transaction. */
static int step_reset(struct lifecycle *lc, const char *sid) {
    struct db *db = lc->db;
    int rc = -1;
    const char *p[1] = {sid};
    PGresult *u = NULL;
    char quiz_id[32] = "", sha[65] = "";
    int new_pool = strcmp(sid, "main") == 0 && main_pool_prepare(lc->sd, db, quiz_id, sha) == 1;
    if (db_cmd(db, "BEGIN", 0, NULL) != 0) return -1;
    u = db_exec(db,
                "UPDATE sessions SET state = 'lobby', question_idx = -1, opened_at_ms = NULL,"
                " deadline_ms = NULL, closed_at_ms = NULL, ended_at = NULL, epoch = epoch + 1,"
                " seq = seq + 1, players = 0 WHERE sid = $1 RETURNING seq, epoch",
                1, p);
    if (!u || PQntuples(u) != 1) goto cleanup;
    if (db_cmd(db, "DELETE FROM answers WHERE sid = $1", 1, p) != 0) goto cleanup;
    if (db_cmd(db, "DELETE FROM students WHERE sid = $1", 1, p) != 0) goto cleanup;
    if (new_pool && main_pool_apply(db, quiz_id, sha) != 0) goto cleanup;
    if (db_cmd(db, "COMMIT", 0, NULL) != 0) goto cleanup;
    if (new_pool) LOG_INFO("pool_loaded", "sid=main quiz_id=%s sha256=%.12s", quiz_id, sha);
    rc = 0;
    timer_remove(lc, sid);
    json_t *ev =
        json_pack("{s:s,s:I,s:I}", "type", "session_reset", "seq",
                  (json_int_t)atoll(db_val(u, 0, 0)), "epoch", (json_int_t)atoll(db_val(u, 0, 1)));
    if (ev) publish_event(lc, sid, ev);
    json_decref(ev);
    LOG_INFO("session_reset", "sid=%s epoch=%s", sid, db_val(u, 0, 1));
cleanup:
    if (rc != 0) rollback(db);
    PQclear(u);
    return rc;
}

/* ---- commands ------------------------------------------------------- */

/* Answers one {"sid","cmd"} request. Returns a new reply. */
static json_t *command(struct lifecycle *lc, json_t *req) {
    const char *sid = json_string_value(json_object_get(req, "sid"));
    const char *cmd = json_string_value(json_object_get(req, "cmd"));
    int err = 0, rc = 0;
    if (!sid || !*sid || !cmd) return reply_error(400, "bad_field", "sid and cmd must be strings");
    json_t *st = state_json(lc->db, sid, &err);
    if (err) return reply_error(503, "unavailable", "the database is unavailable");
    if (!st) return reply_error(404, "unknown_session", "no such session");
    char state[16];
    snprintf(state, sizeof(state), "%s", json_string_value(json_object_get(st, "state")));
    int idx = (int)json_integer_value(json_object_get(st, "question_idx"));
    int count = (int)json_integer_value(json_object_get(st, "question_count"));
    json_decref(st);
    int open = strcmp(state, "question") == 0, ended = strcmp(state, "ended") == 0;

    if (strcmp(cmd, "next") == 0) {
        if (ended) return reply_error(409, "bad_state", "the session has ended");
        if (open && step_close(lc, sid, idx) < 0) rc = -1;
        if (rc == 0) rc = idx + 1 < count ? step_open(lc, sid, idx + 1) : step_end(lc, sid);
    } else if (strcmp(cmd, "open") == 0) {
        /* open re-opens nothing: a no-op in every state (documented). */
    } else if (strcmp(cmd, "close") == 0) {
        if (strcmp(state, "lobby") == 0 || ended)
            return reply_error(409, "bad_state", "no question to close");
        if (open) rc = step_close(lc, sid, idx) < 0 ? -1 : 0;
    } else if (strcmp(cmd, "end") == 0) {
        if (ended) return reply_error(409, "bad_state", "the session has ended");
        if (open && step_close(lc, sid, idx) < 0) rc = -1;
        if (rc == 0) rc = step_end(lc, sid);
    } else if (strcmp(cmd, "reset") == 0) {
        rc = step_reset(lc, sid);
    } else {
        return reply_error(400, "bad_field", "cmd must be next, open, close, end or reset");
    }
    if (rc != 0) return reply_error(503, "unavailable", "the state change could not be made");
    st = state_json(lc->db, sid, &err);
    if (!st) return reply_error(503, "unavailable", "the database is unavailable");
    json_object_set_new(st, "ok", json_true());
    LOG_INFO("session_cmd", "sid=%s cmd=%s from=%s to=%s", sid, cmd, state,
             json_string_value(json_object_get(st, "state")));
    return st;
}

/* ---- the lease ------------------------------------------------------ */

static void step_down(struct lifecycle *lc, const char *why) {
    if (lc->sub) {
        natsSubscription_Unsubscribe(lc->sub);
        natsSubscription_Destroy(lc->sub);
        lc->sub = NULL;
    }
    timers_clear(lc);
    lc->leader = 0;
    LOG_WARN("lease_lost", "reason=%s", why);
}

/* Writes the heartbeat row on lock_db. With `take` it first tries the lock,
 * in the same statement, so no holder is ever without its row; otherwise it
 * writes only while lock_db holds the lock. Returns 1 when this instance
 * holds the lease (and the row says so), else 0. */
static int lease_beat(struct lifecycle *lc, int take) {
    char state_pid[16], stale[16];
    int64_t sent = clock_mono_ms();
    snprintf(state_pid, sizeof(state_pid), "%d", lc->db->conn ? PQbackendPID(lc->db->conn) : 0);
    snprintf(stale, sizeof(stale), "%d", lc->stale_ms);
    const char *p[3] = {lc->sd->d.instance, state_pid, stale};
    PGresult *r = db_exec(lc->lock_db,
                          take ? "WITH got AS MATERIALIZED (SELECT pg_try_advisory_lock(" LEASE_KEY
                                 ") AS ok) " LEASE_ROW " FROM got WHERE ok" LEASE_UPSERT
                               : LEASE_ROW " WHERE " LOCK_HELD LEASE_UPSERT,
                          3, p);
    int held = r && PQntuples(r) == 1 && !db_broken(lc->lock_db);
    if (!r && take && !db_broken(lc->lock_db)) /* the lock may be ours without a row */
        db_cmd(lc->lock_db, "SELECT pg_advisory_unlock(" LEASE_KEY ")", 0, NULL);
    PQclear(r);
    if (held) lc->beat_mono_ms = sent;
    return held;
}

/* A hung holder (SIGSTOP, a stuck thread, a frozen VM) keeps its
 * connections and so the lock. When the row's heartbeat is older than the
 * bound its holder promised and its lock_pid still holds the lock, ends
 * that backend and the holder's state backend (one started before that
 * heartbeat, so never a recycled pid), which also rolls back whatever it
 * had half done. Copies the old instance name into `from`. Returns 1 when
 * it ended a holder. */
static int takeover_hung(struct lifecycle *lc, char *from, size_t fromlen) {
    PGresult *r = db_exec(
        lc->lock_db,
        "SELECT l.instance, " DB_NOW_MS " - l.heartbeat_ms,"
        " pg_terminate_backend(l.lock_pid, " TERMINATE_WAIT_MS "),"
        " (SELECT pg_terminate_backend(a.pid, " TERMINATE_WAIT_MS ") FROM pg_stat_activity a"
        "  WHERE a.pid = l.state_pid AND a.pid <> l.lock_pid"
        "  AND a.backend_start <= to_timestamp(l.heartbeat_ms / 1000.0))"
        " FROM session_lease l WHERE l.id = 1"
        " AND " DB_NOW_MS " - l.heartbeat_ms > l.stale_after_ms"
        " AND EXISTS (SELECT 1 FROM pg_locks k WHERE k.locktype = 'advisory' AND k.classid = 0"
        " AND k.objid = " LEASE_KEY " AND k.objsubid = 1 AND k.granted AND k.pid = l.lock_pid)",
        0, NULL);
    int ended = r && PQntuples(r) == 1;
    if (ended) {
        snprintf(from, fromlen, "%s", db_val(r, 0, 0));
        LOG_WARN("hung_holder_terminated", "old_instance=%s heartbeat_age_ms=%s lock=%s state=%s",
                 from, db_val(r, 0, 1), db_val(r, 0, 2),
                 db_val(r, 0, 3) ? db_val(r, 0, 3) : "none");
    }
    PQclear(r);
    return ended;
}

/* Tries once to take the lease (ending a hung holder first); on success
 * subscribes to commands and arms the timers of every open question at its
 * original deadline. */
static void try_lease(struct lifecycle *lc) {
    PGresult *r = NULL;
    char from[64] = "";
    if (db_ensure(lc->lock_db) != 0 || db_ensure(lc->db) != 0) return;
    int got = lease_beat(lc, 1);
    if (!got && takeover_hung(lc, from, sizeof(from))) got = lease_beat(lc, 1);
    if (!got) return;
    lc->leader = 1;
    r = db_exec(lc->db,
                "SELECT sid, question_idx, deadline_ms FROM sessions WHERE state = 'question'", 0,
                NULL);
    if (!r) {
        step_down(lc, "timer_scan_failed");
        db_cmd(lc->lock_db, "SELECT pg_advisory_unlock(" LEASE_KEY ")", 0, NULL);
        return;
    }
    for (int i = 0; i < PQntuples(r); i++)
        timer_arm(lc, db_val(r, i, 0), atoi(db_val(r, i, 1)),
                  db_val(r, i, 2) ? atoll(db_val(r, i, 2)) : 0);
    if (*from)
        LOG_WARN("lease_taken_over_from_hung", "instance=%s old_instance=%s open_questions=%d",
                 lc->sd->d.instance, from, PQntuples(r));
    LOG_INFO("lease_taken", "instance=%s open_questions=%d", lc->sd->d.instance, PQntuples(r));
    PQclear(r);
    if (natsConnection_QueueSubscribeSync(&lc->sub, lc->sd->d.nc, SUBJ_SESSION_CMD,
                                          QUEUE_SESSION_CMD) != NATS_OK) {
        LOG_ERROR("subscribe_failed", "subject=%s", SUBJ_SESSION_CMD);
        lc->sub = NULL;
    }
    if (!lc->pool_done) lc->pool_done = main_pool_start(lc->sd, lc->db) == 0;
    lc->next_check_ms = lc->beat_mono_ms + lc->lease_ms / 2;
}

/* ---- the thread ----------------------------------------------------- */

/* Heartbeats; steps down when lock_db no longer holds the lock. The check
 * asks pg_locks rather than "SELECT 1": db_exec reconnects a connection it
 * found broken, and a fresh connection answers anything while holding no
 * lock at all. Returns 1 while this instance holds the lease. */
static int lease_check(struct lifecycle *lc) {
    if (!lease_beat(lc, 0)) {
        step_down(lc, "lock_connection_broken");
        return 0;
    }
    lc->next_check_ms = lc->beat_mono_ms + lc->lease_ms / 2;
    return 1;
}

/* The fence before every command and timer: 1 while this instance may act
 * as the holder. Acting within lease_ms of a confirmed heartbeat is safe (a
 * standby waits stale_ms, three times that, before it ends a holder); after
 * a longer gap the thread was paused or stuck and a standby may have taken
 * over, so it heartbeats first and steps down when that fails. */
static int lease_fresh(struct lifecycle *lc) {
    if (!lc->leader) return 0;
    int64_t gap = clock_mono_ms() - lc->beat_mono_ms;
    if (gap < lc->lease_ms) return 1;
    LOG_WARN("lease_pause_detected", "since_heartbeat_ms=%lld", (long long)gap);
    return lease_check(lc);
}

static void fire_timers(struct lifecycle *lc) {
    int64_t now = clock_wall_ms();
    for (int i = 0; i < lc->ntimers; i++) {
        struct timer *t = &lc->timers[i];
        if (t->deadline_ms > now || t->retry_ms > now) continue;
        if (!lease_fresh(lc)) return; /* stepped down: no timers left */
        char sid[256];
        snprintf(sid, sizeof(sid), "%s", t->sid);
        int rc = step_close(lc, sid, t->idx); /* removes the timer unless it failed */
        if (rc < 0) {
            for (int j = 0; j < lc->ntimers; j++)
                if (strcmp(lc->timers[j].sid, sid) == 0)
                    lc->timers[j].retry_ms = now + TIMER_RETRY_MS;
        }
        i = -1; /* the array may have changed: scan again */
        now = clock_wall_ms();
    }
}

static int64_t wait_ms(struct lifecycle *lc) {
    int64_t wait = LOOP_MAX_WAIT_MS, now = clock_wall_ms();
    for (int i = 0; i < lc->ntimers; i++) {
        int64_t at = lc->timers[i].deadline_ms;
        if (lc->timers[i].retry_ms > at) at = lc->timers[i].retry_ms;
        if (at - now < wait) wait = at - now;
    }
    return wait < 1 ? 1 : wait;
}

static void *lifecycle_main(void *arg) {
    struct lifecycle *lc = arg;
    while (!atomic_load(&lc->stop)) {
        if (!lc->leader) {
            try_lease(lc);
            if (lc->leader) continue;
            for (int slept = 0; slept < lc->lease_ms && !atomic_load(&lc->stop); slept += 100)
                usleep(100 * 1000);
            continue;
        }
        /* Check the lock at every lease tick, and at once when the state
         * connection broke: that is how a Postgres restart shows itself,
         * and the lock died with it. Without this check db_exec would
         * reconnect lc->db and this instance would go on driving (timers,
         * commands) for up to lease_ms/2 while a standby already holds
         * the lease. */
        if ((clock_mono_ms() >= lc->next_check_ms || db_broken(lc->db)) && !lease_check(lc))
            continue;
        fire_timers(lc);
        natsMsg *msg = NULL;
        natsStatus s =
            lc->sub ? natsSubscription_NextMsg(&msg, lc->sub, wait_ms(lc)) : NATS_TIMEOUT;
        if (!lc->sub) usleep((useconds_t)wait_ms(lc) * 1000);
        if (s != NATS_OK) {
            if (s != NATS_TIMEOUT) usleep(50 * 1000);
            continue;
        }
        if (!lease_fresh(lc)) { /* woke from a pause and lost the lease: not ours */
            natsMsg_Destroy(msg);
            continue;
        }
        json_t *req = bus_parse(msg);
        json_t *reply = req ? command(lc, req)
                            : reply_error(400, "bad_json", "request body is not a JSON object");
        bus_respond(lc->sd->d.nc, msg, reply);
        json_decref(reply);
        json_decref(req);
        natsMsg_Destroy(msg);
    }
    if (lc->leader) step_down(lc, "stopping");
    return NULL;
}

struct lifecycle *lifecycle_start(struct session_daemon *sd) {
    struct lifecycle *lc = calloc(1, sizeof(*lc));
    if (!lc) return NULL;
    lc->sd = sd;
    lc->lease_ms = (int)config_int("QW_SESSION_LEASE_MS");
    lc->stale_ms = STALE_LEASES * lc->lease_ms;
    if (!(lc->lock_db = db_open(sd->db_url)) || !(lc->db = db_open(sd->db_url))) goto err;
    if (pthread_create(&lc->thread, NULL, lifecycle_main, lc) != 0) goto err;
    lc->started = 1;
    return lc;
err:
    lifecycle_stop(lc);
    return NULL;
}

void lifecycle_stop(struct lifecycle *lc) {
    if (!lc) return;
    atomic_store(&lc->stop, 1);
    if (lc->started) pthread_join(lc->thread, NULL);
    timers_clear(lc);
    free(lc->timers);
    db_free(lc->db);
    db_free(lc->lock_db); /* closing the connection releases the lease */
    free(lc);
}
