/*
 * judge: the submits of a whole batch, every session at once, inside the
 * batch's one transaction. Locks the session rows of the batch FOR SHARE
 * in sid order with one statement (a close waits for it, so each submit is
 * recorded before the close or judged after it), checks every student with
 * one statement, judges each submit by shared/quiz's order and points rule
 * against that student's own limit (a time factor of the open question),
 * inserts the candidates of every session with one multi-row INSERT ...
 * ON CONFLICT DO NOTHING, and settles each as accepted (inserted) or
 * duplicate (the first answer stands, its choice returned) from one read
 * of the rows that stand, made only for the candidates the insert did not
 * take. So a batch costs the same three or four statements whether it
 * touches one session or three hundred. Translates only between SQL and
 * quiz_*: no rule is decided here. Never answers, never commits.
 */
#include "reply.h"
#include "submit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The session rows of a batch and their current questions, locked in sid
 * order (every batcher takes them in the same order). */
#define SESSIONS_FOR_SHARE                                                                         \
    "SELECT s.sid, s.state, s.question_idx, s.deadline_ms, s.opened_at_ms, s.epoch,"               \
    " jsonb_array_length(q.choices), q.answer, q.time_limit_s, q.kind"                             \
    " FROM sessions s LEFT JOIN questions q ON q.quiz_id = s.quiz_id AND q.idx = s.question_idx"   \
    " WHERE s.sid = ANY($1::text[]) ORDER BY s.sid FOR SHARE OF s"

/* The columns of one session: what quiz_judge needs, and the scoring. */
struct session_row {
    const char *sid; /* borrowed from the result */
    struct quiz_view view;
    long long opened_ms, limit_ms;
    const char *answer; /* borrowed from the result */
};

static void session_from_row(PGresult *s, int r, struct session_row *out) {
    enum quiz_state state = QUIZ_LOBBY; /* an unknown state opens nothing */
    out->sid = db_val(s, r, 0);
    quiz_state_parse(db_val(s, r, 1), &state);
    out->view.state = state;
    out->view.question_idx = atoi(db_val(s, r, 2));
    out->view.deadline_ms = db_val(s, r, 3) ? atoll(db_val(s, r, 3)) : 0;
    out->opened_ms = db_val(s, r, 4) ? atoll(db_val(s, r, 4)) : 0;
    out->view.epoch = atoll(db_val(s, r, 5));
    out->view.nchoices = db_val(s, r, 6) ? atoi(db_val(s, r, 6)) : 0;
    out->answer = db_val(s, r, 7) ? db_val(s, r, 7) : "";
    out->limit_ms = db_val(s, r, 8) ? atoll(db_val(s, r, 8)) * 1000 : 1000;
    out->view.kind = QUIZ_KIND_SINGLE;
    quiz_kind_parse(db_val(s, r, 9), &out->view.kind);
}

/* The first row of `r` whose columns 0 and 1 are `sid` and `student`, or
 * -1. */
static int find_pair(PGresult *r, const char *sid, const char *student) {
    for (int i = 0; i < PQntuples(r); i++)
        if (strcmp(PQgetvalue(r, i, 1), student) == 0 && strcmp(PQgetvalue(r, i, 0), sid) == 0)
            return i;
    return -1;
}

/* Judges the pending items against their session rows (row[sess[i]];
 * known: sid, student_id, percent of the students of those sessions at
 * their epochs) and adds the candidates to the columns. A student with
 * extra time is judged on their own deadline and scored on their own
 * limit. */
static void judge_items(struct item *items, int n, const struct session_row *rows, const int *sess,
                        PGresult *known, struct db_array col[8]) {
    for (int i = 0; i < n; i++) {
        struct item *it = &items[i];
        if (!item_pending(it)) continue;
        const struct session_row *row = &rows[sess[i]];
        int k = find_pair(known, it->sid, it->student);
        int pct = k < 0 ? -1 : atoi(PQgetvalue(known, k, 2));
        long long limit = quiz_limit_ms(row->limit_ms, pct);
        struct quiz_view view = row->view;
        if (limit != row->limit_ms) view.deadline_ms = row->opened_ms + limit;
        struct quiz_submit sub = {pct > 0,    it->epoch,       it->idx,
                                  it->choice, it->received_ms, it->is_set};
        enum quiz_verdict v = quiz_judge(&view, &sub);
        if (v == QUIZ_V_UNAUTHORIZED) {
            item_refuse(it, reply_error(401, "unauthorized", "not a student of this session"));
            continue;
        }
        it->verdict = v;
        if (v != QUIZ_V_RECORD) continue;
        for (int j = 0; j < i; j++) {
            if (item_pending(&items[j]) && items[j].dup_of < 0 &&
                strcmp(items[j].student, it->student) == 0 && strcmp(items[j].sid, it->sid) == 0) {
                it->dup_of = j;
                break;
            }
        }
        if (it->dup_of >= 0) continue;
        long long elapsed =
            quiz_elapsed_ms(it->has_elapsed, it->elapsed_ms, it->received_ms, row->opened_ms);
        it->correct = quiz_is_correct(row->view.kind, row->answer, it->choice);
        it->points = quiz_points(it->correct, elapsed, limit);
        db_array_text(&col[0], it->sid);
        db_array_text(&col[1], it->student);
        db_array_num(&col[2], row->view.question_idx);
        db_array_text(&col[3], it->choice);
        db_array_text(&col[4], it->correct ? "t" : "f");
        db_array_num(&col[5], it->points);
        db_array_num(&col[6], quiz_latency_ms(elapsed));
        db_array_num(&col[7], it->received_ms);
    }
}

/* After the insert (ins: sid, student_id of the rows that went in; stored:
 * sid, student_id, choice, mine of the rows that stand): accepted when its
 * row went in, else duplicate with the choice that stands; a duplicate
 * within the batch follows its first. */
static void settle_items(struct item *items, int n, PGresult *ins, PGresult *stored) {
    for (int i = 0; i < n; i++) {
        struct item *it = &items[i];
        if (!item_pending(it) || it->dup_of >= 0) continue;
        int ours = find_pair(ins, it->sid, it->student) >= 0;
        int r = find_pair(stored, it->sid, it->student);
        if (r >= 0) {
            snprintf(it->stored, sizeof(it->stored), "%s", PQgetvalue(stored, r, 2));
            ours |= strcmp(PQgetvalue(stored, r, 3), "t") == 0;
        } else if (ours) { /* not read: its own choice is what stands (for its duplicates) */
            snprintf(it->stored, sizeof(it->stored), "%s", it->choice);
        }
        it->verdict = quiz_settle(ours);
    }
    for (int i = 0; i < n; i++) {
        struct item *it = &items[i];
        if (!item_pending(it) || it->dup_of < 0) continue;
        it->verdict = QUIZ_V_DUPLICATE;
        memcpy(it->stored, items[it->dup_of].stored, sizeof(it->stored));
    }
}

/* Locks the sessions of the pending items (one statement), refuses the
 * items of a session that does not exist, and points sess[i] at the row
 * of each pending item's session. Returns the locked rows (owned by the
 * caller), or NULL when the statement failed. */
static PGresult *lock_sessions(struct db_tx *tx, struct item *items, int n,
                               struct session_row *rows, int *sess) {
    struct db_array sids;
    PGresult *s = NULL;
    db_array_open(&sids);
    for (int i = 0; i < n; i++)
        if (item_pending(&items[i])) db_array_text(&sids, items[i].sid);
    const char *p1[1] = {db_array_close(&sids)};
    if (!p1[0] || !(s = db_tx_exec(tx, SESSIONS_FOR_SHARE, 1, p1))) goto cleanup;
    for (int r = 0; r < PQntuples(s); r++)
        session_from_row(s, r, &rows[r]);
    for (int i = 0; i < n; i++) {
        if (!item_pending(&items[i])) continue;
        sess[i] = -1;
        for (int r = 0; r < PQntuples(s) && sess[i] < 0; r++)
            if (strcmp(rows[r].sid, items[i].sid) == 0) sess[i] = r;
        if (sess[i] < 0)
            item_refuse(&items[i], reply_error(404, "unknown_session", "no such session"));
    }
cleanup:
    db_array_free(&sids);
    return s;
}

int judge_batch_items(struct db_tx *tx, struct item *items, int n, const char *batch_id,
                      int *statements) {
    PGresult *s = NULL, *known = NULL, *ins = NULL, *stored = NULL;
    struct db_array pairs[2], col[8], miss[3];
    struct session_row *rows = calloc((size_t)n + 1, sizeof(*rows)); /* owned */
    int *sess = calloc((size_t)n + 1, sizeof(*sess));                /* owned */
    int rc = -1, pending = 0;
    for (int c = 0; c < 2; c++)
        db_array_open(&pairs[c]);
    for (int c = 0; c < 3; c++)
        db_array_open(&miss[c]);
    for (int c = 0; c < 8; c++)
        db_array_open(&col[c]);
    if (!rows || !sess) goto cleanup;
    for (int i = 0; i < n; i++)
        pending += item_pending(&items[i]);
    if (pending == 0) {
        rc = 0;
        goto cleanup;
    }
    ++*statements;
    if (!(s = lock_sessions(tx, items, n, rows, sess))) goto cleanup;
    for (int i = 0; i < n; i++) {
        if (!item_pending(&items[i])) continue;
        db_array_text(&pairs[0], items[i].sid);
        db_array_text(&pairs[1], items[i].student);
    }
    if (pairs[0].n == 0) {
        rc = 0;
        goto cleanup;
    }
    const char *p2[2] = {db_array_close(&pairs[0]), db_array_close(&pairs[1])};
    if (!p2[0] || !p2[1]) goto cleanup;
    ++*statements;
    known = db_tx_exec(tx,
                       "SELECT st.sid, st.student_id,"
                       " COALESCE((s.time_factors->>st.student_id)::int, 100)"
                       " FROM students st JOIN sessions s ON s.sid = st.sid"
                       " WHERE (st.sid, st.student_id) IN"
                       " (SELECT * FROM unnest($1::text[], $2::text[]))"
                       " AND st.epoch = s.epoch AND st.removed_at IS NULL",
                       2, p2);
    if (!known) goto cleanup;
    judge_items(items, n, rows, sess, known, col);
    if (col[0].n == 0) {
        rc = 0;
        goto cleanup;
    }
    const char *p9[9];
    for (int c = 0; c < 8; c++)
        if (!(p9[c] = db_array_close(&col[c]))) goto cleanup;
    p9[8] = batch_id;
    ++*statements;
    ins = db_tx_exec(tx,
                     "INSERT INTO answers (sid, student_id, question_idx, choice, correct, points,"
                     " latency_ms, received_at_ms, batch_id)"
                     " SELECT u.sid, u.s, u.q, u.c, u.ok, u.p, u.l, u.r, $9::bigint"
                     " FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::bool[],"
                     " $6::int[], $7::int[], $8::bigint[]) AS u(sid, s, q, c, ok, p, l, r)"
                     " ON CONFLICT DO NOTHING RETURNING sid, student_id",
                     9, p9);
    if (!ins) goto cleanup;
    /* Only a candidate the insert did not return needs the row that
     * stands (a duplicate of an earlier batch, or a row this same batch
     * wrote in an earlier try, which counts as inserted: the batcher
     * resolves an unknown commit before it tries again). Usually there is
     * none, and the read is skipped: read for every candidate, it made
     * PostgreSQL hash the whole answers table per batch (a seq scan that
     * grows with every session ever played) whenever its statistics were
     * stale, as they are through a lecture hall's first questions. */
    for (int i = 0; i < n; i++) {
        struct item *it = &items[i];
        if (!item_pending(it) || it->dup_of >= 0 || find_pair(ins, it->sid, it->student) >= 0)
            continue;
        db_array_text(&miss[0], it->sid);
        db_array_text(&miss[1], it->student);
        db_array_num(&miss[2], rows[sess[i]].view.question_idx);
    }
    if (miss[0].n > 0) {
        const char *p4[4] = {db_array_close(&miss[0]), db_array_close(&miss[1]),
                             db_array_close(&miss[2]), batch_id};
        if (!p4[0] || !p4[1] || !p4[2]) goto cleanup;
        ++*statements;
        stored =
            db_tx_exec(tx,
                       "SELECT sid, student_id, choice, batch_id IS NOT DISTINCT FROM $4::bigint"
                       " FROM answers WHERE (sid, student_id, question_idx) IN"
                       " (SELECT * FROM unnest($1::text[], $2::text[], $3::int[]))",
                       4, p4);
        if (!stored) goto cleanup;
    }
    settle_items(items, n, ins, stored);
    rc = 0;
cleanup:
    for (int c = 0; c < 2; c++)
        db_array_free(&pairs[c]);
    for (int c = 0; c < 3; c++)
        db_array_free(&miss[c]);
    for (int c = 0; c < 8; c++)
        db_array_free(&col[c]);
    free(rows);
    free(sess);
    PQclear(s);
    PQclear(known);
    PQclear(ins);
    PQclear(stored);
    return rc;
}
