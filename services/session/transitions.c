/*
 * transitions: the four state changes of a session (open, close, end,
 * reset), each ONE db_tx that names the state it comes from in its UPDATE
 * and bumps `seq` by one; its event (built by shared/quiz) is published
 * only after COMMIT. The close's UPDATE waits for every scoring batch that
 * holds the row FOR SHARE, and reads the counts and results after it, in
 * the same transaction. A transaction that failed (or whose connection
 * was replaced) changes nothing and publishes nothing.
 * Runs on the lifecycle thread only.
 */
#include "bus.h"
#include "clock.h"
#include "lifecycle.h"
#include "log.h"
#include "quiz.h"
#include "record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void publish_event(struct lifecycle *lc, const char *sid, json_t *ev) {
    char subject[256];
    if (!ev || quiz_event_subject(subject, sizeof(subject), sid) != 0 ||
        bus_publish(lc->sd->d.nc, subject, ev) != 0)
        LOG_WARN("event_publish_failed", "sid=%s type=%s", sid,
                 ev ? json_string_value(json_object_get(ev, "type")) : "?");
}

int step_open(struct lifecycle *lc, const char *sid, int idx) {
    struct db_tx tx;
    PGresult *r = NULL;
    json_t *ev = NULL, *pcts = NULL;
    int rc = -1;
    char sidx[16], now[32];
    snprintf(sidx, sizeof(sidx), "%d", idx);
    snprintf(now, sizeof(now), "%lld", (long long)clock_wall_ms());
    const char *p[3] = {sid, sidx, now};
    if (db_tx_begin(lc->db, &tx) != 0) return -1;
    r = db_tx_exec(&tx,
                   "UPDATE sessions s SET state = 'question', question_idx = $2::int,"
                   " opened_at_ms = $3::bigint,"
                   " deadline_ms = $3::bigint + q.time_limit_s * 1000, closed_at_ms = NULL,"
                   " seq = s.seq + 1, time_factors = COALESCE((SELECT jsonb_object_agg("
                   "  t.student_id, t.factor_pct) FROM time_factors t WHERE t.sid = $1), '{}')"
                   " FROM questions q WHERE s.sid = $1 AND q.quiz_id = s.quiz_id"
                   " AND q.idx = $2::int AND s.state IN ('lobby', 'closed')"
                   " AND s.question_idx = $2::int - 1"
                   " RETURNING s.seq, s.deadline_ms, q.text, q.choices::text, q.time_limit_s,"
                   " (SELECT question_count FROM quizzes z WHERE z.quiz_id = s.quiz_id), q.kind,"
                   " q.image, q.image_alt, s.time_factors::text",
                   3, p);
    if (!r || PQntuples(r) != 1 || db_tx_commit(&tx) != 0) goto cleanup;
    rc = 0;
    long long seq = atoll(db_val(r, 0, 0)), deadline = atoll(db_val(r, 0, 1));
    enum quiz_kind kind = QUIZ_KIND_SINGLE;
    quiz_kind_parse(db_val(r, 0, 6), &kind);
    pcts = json_loads(db_val(r, 0, 9), 0, NULL);
    ev = quiz_ev_question_open(seq, idx, atoi(db_val(r, 0, 5)), kind, db_val(r, 0, 2),
                               json_loads(db_val(r, 0, 3), 0, NULL), atoll(db_val(r, 0, 4)) * 1000,
                               atoll(now), deadline, pcts);
    question_image_add(ev, db_val(r, 0, 7), db_val(r, 0, 8));
    timer_arm(lc, sid, idx, deadline);
    publish_event(lc, sid, ev);
    LOG_INFO("question_opened", "sid=%s question_idx=%d deadline_ms=%lld seq=%lld", sid, idx,
             deadline, seq);
cleanup:
    db_tx_rollback(&tx);
    json_decref(ev);
    json_decref(pcts);
    PQclear(r);
    return rc;
}

int step_hold(struct lifecycle *lc, const char *sid, int idx, int64_t *until_ms) {
    char sidx[16];
    snprintf(sidx, sizeof(sidx), "%d", idx);
    const char *p[2] = {sid, sidx};
    *until_ms = 0;
    /* the students with extra time on this question who are still in and
     * have not answered it */
    PGresult *r = db_exec(lc->db,
                          "SELECT s.opened_at_ms, q.time_limit_s, f.value::int"
                          " FROM sessions s JOIN questions q ON q.quiz_id = s.quiz_id"
                          "  AND q.idx = s.question_idx"
                          " CROSS JOIN LATERAL jsonb_each_text(s.time_factors) f"
                          " JOIN students st ON st.sid = s.sid AND st.student_id = f.key"
                          "  AND st.epoch = s.epoch AND st.removed_at IS NULL"
                          " WHERE s.sid = $1 AND s.state = 'question' AND s.question_idx = $2::int"
                          " AND NOT EXISTS (SELECT 1 FROM answers a WHERE a.sid = s.sid"
                          "  AND a.student_id = f.key AND a.question_idx = s.question_idx)",
                          2, p);
    if (!r) return -1;
    for (int i = 0; i < PQntuples(r); i++) {
        long long own = atoll(db_val(r, i, 0)) +
                        quiz_limit_ms(atoll(db_val(r, i, 1)) * 1000, atoi(db_val(r, i, 2)));
        if (own > *until_ms) *until_ms = own;
    }
    PQclear(r);
    return *until_ms > clock_wall_ms();
}

/* question_closed from the close's reads: the reveal of the question's
 * kind, counts per label and, per student, [choice|null, points, score]. */
static json_t *closed_event(int idx, PGresult *u, PGresult *q, const struct quiz_counts *counts,
                            PGresult *s) {
    json_t *results = json_object();
    for (int i = 0; results && i < PQntuples(s); i++)
        quiz_closed_result_add(results, db_val(s, i, 0), db_val(s, i, 1), atoll(db_val(s, i, 2)),
                               atoll(db_val(s, i, 3)));
    enum quiz_kind kind = QUIZ_KIND_SINGLE;
    quiz_kind_parse(db_val(q, 0, 2), &kind);
    return quiz_ev_question_closed(atoll(db_val(u, 0, 0)), idx, kind, db_val(q, 0, 0), counts,
                                   results, PQntuples(s));
}

int step_close(struct lifecycle *lc, const char *sid, int idx) {
    struct db_tx tx;
    int rc = -1;
    char sidx[16], now[32];
    snprintf(sidx, sizeof(sidx), "%d", idx);
    snprintf(now, sizeof(now), "%lld", (long long)clock_wall_ms());
    const char *p[3] = {sid, sidx, now};
    PGresult *u = NULL, *q = NULL, *s = NULL;
    struct quiz_counts counts;
    json_t *ev = NULL;
    if (db_tx_begin(lc->db, &tx) != 0) return -1;
    u = db_tx_exec(&tx,
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
    q = db_tx_exec(&tx,
                   "SELECT answer, jsonb_array_length(choices), kind FROM questions"
                   " WHERE quiz_id = $1::bigint AND idx = $2::int",
                   2, qp);
    if (!q || PQntuples(q) != 1) goto cleanup;
    quiz_counts_init(&counts, atoi(db_val(q, 0, 1)));
    if (record_counts(&tx, sid, idx, &counts) != 0) goto cleanup;
    /* lookups by the answers' key per student, not a join: see RECORD_SCORES */
    s = db_tx_exec(&tx,
                   "SELECT st.student_id, (SELECT a.choice FROM answers a WHERE a.sid = st.sid"
                   "  AND a.student_id = st.student_id AND a.question_idx = $2::int),"
                   " COALESCE((SELECT a.points FROM answers a WHERE a.sid = st.sid"
                   "  AND a.student_id = st.student_id AND a.question_idx = $2::int), 0),"
                   " (SELECT COALESCE(sum(x.points), 0) FROM answers x"
                   "  WHERE x.sid = st.sid AND x.student_id = st.student_id)"
                   " FROM students st WHERE st.sid = $1 AND st.removed_at IS NULL",
                   2, p);
    if (!s || db_tx_commit(&tx) != 0) goto cleanup;
    rc = 1;
    ev = closed_event(idx, u, q, &counts, s);
    publish_event(lc, sid, ev);
    LOG_INFO("question_closed", "sid=%s question_idx=%d seq=%s players=%d", sid, idx,
             db_val(u, 0, 0), PQntuples(s));
cleanup:
    db_tx_rollback(&tx);
    if (rc >= 0) timer_remove(lc, sid);
    json_decref(ev);
    PQclear(u);
    PQclear(q);
    PQclear(s);
    return rc;
}

int step_end(struct lifecycle *lc, const char *sid) {
    struct db_tx tx;
    int rc = -1;
    const char *p[1] = {sid};
    PGresult *u = NULL, *s = NULL;
    struct quiz_standing *rows = NULL;
    json_t *ev = NULL;
    if (db_tx_begin(lc->db, &tx) != 0) return -1;
    u = db_tx_exec(&tx,
                   "UPDATE sessions SET state = 'ended', ended_at = now(), seq = seq + 1"
                   " WHERE sid = $1 AND state IN ('lobby', 'closed') RETURNING seq",
                   1, p);
    if (!u || PQntuples(u) != 1) goto cleanup;
    s = db_tx_exec(&tx, RECORD_SCORES, 1, p);
    if (!s || db_tx_commit(&tx) != 0) goto cleanup;
    rc = 0;
    size_t n = (size_t)PQntuples(s);
    rows = calloc(n ? n : 1, sizeof(*rows));
    for (size_t i = 0; rows && i < n; i++)
        rows[i] = (struct quiz_standing){db_val(s, (int)i, 0), atoll(db_val(s, (int)i, 2)), 0};
    if (rows && quiz_rank(rows, n) == 0)
        ev = quiz_ev_session_ended(atoll(db_val(u, 0, 0)), rows, n);
    publish_event(lc, sid, ev);
    timer_remove(lc, sid);
    LOG_INFO("session_ended", "sid=%s players=%zu", sid, n);
cleanup:
    db_tx_rollback(&tx);
    free(rows);
    json_decref(ev);
    PQclear(u);
    PQclear(s);
    return rc;
}

/* Resetting `main` also gives it the pool file's quiz when the file
 * changed (main_pool.c), in the reset's transaction. */
int step_reset(struct lifecycle *lc, const char *sid) {
    struct db_tx tx;
    int rc = -1;
    const char *p[1] = {sid};
    PGresult *u = NULL;
    json_t *ev = NULL;
    char quiz_id[32] = "", sha[65] = "";
    int new_pool = strcmp(sid, "main") == 0 && main_pool_prepare(lc->sd, lc->db, quiz_id, sha) == 1;
    if (db_tx_begin(lc->db, &tx) != 0) return -1;
    u = db_tx_exec(&tx,
                   "UPDATE sessions SET state = 'lobby', question_idx = -1, opened_at_ms = NULL,"
                   " deadline_ms = NULL, closed_at_ms = NULL, ended_at = NULL, epoch = epoch + 1,"
                   " seq = seq + 1, players = 0 WHERE sid = $1 RETURNING seq, epoch",
                   1, p);
    if (!u || PQntuples(u) != 1) goto cleanup;
    if (db_tx_cmd(&tx, "DELETE FROM answers WHERE sid = $1", 1, p) != 0) goto cleanup;
    if (db_tx_cmd(&tx, "DELETE FROM students WHERE sid = $1", 1, p) != 0) goto cleanup;
    if (new_pool && main_pool_apply(&tx, quiz_id, sha) != 0) goto cleanup;
    if (db_tx_commit(&tx) != 0) goto cleanup;
    if (new_pool) LOG_INFO("pool_loaded", "sid=main quiz_id=%s sha256=%.12s", quiz_id, sha);
    rc = 0;
    timer_remove(lc, sid);
    ev = quiz_ev_session_reset(atoll(db_val(u, 0, 0)), atoll(db_val(u, 0, 1)));
    publish_event(lc, sid, ev);
    LOG_INFO("session_reset", "sid=%s epoch=%s", sid, db_val(u, 0, 1));
cleanup:
    db_tx_rollback(&tx);
    json_decref(ev);
    PQclear(u);
    return rc;
}
