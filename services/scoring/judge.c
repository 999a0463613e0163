/*
 * judge: the submits of one session in a batch, inside the batch's one
 * transaction. Locks the session row FOR SHARE (a close waits for it, so
 * each submit is recorded before the close or judged after it), checks the
 * students, judges each submit by shared/quiz's order and points rule
 * against that student's own limit (a time factor of the open question),
 * inserts the candidates with one multi-row INSERT ... ON CONFLICT DO
 * NOTHING, and settles each as accepted (inserted) or duplicate (the first
 * answer stands, its choice returned). Translates only between SQL and
 * quiz_*: no rule is decided here. Never answers, never commits.
 */
#include "reply.h"
#include "submit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The columns of the session row and its current question, locked. */
#define SESSION_FOR_SHARE                                                                          \
    "SELECT s.state, s.question_idx, s.deadline_ms, s.opened_at_ms, s.epoch,"                      \
    " jsonb_array_length(q.choices), q.answer, q.time_limit_s, q.kind"                             \
    " FROM sessions s LEFT JOIN questions q ON q.quiz_id = s.quiz_id AND q.idx = s.question_idx"   \
    " WHERE s.sid = $1 FOR SHARE OF s"

/* The columns of one session: what quiz_judge needs, and the scoring. */
struct session_row {
    struct quiz_view view;
    long long opened_ms, limit_ms;
    const char *answer; /* borrowed from the result */
};

static void session_from_row(PGresult *s, struct session_row *out) {
    enum quiz_state state = QUIZ_LOBBY; /* an unknown state opens nothing */
    quiz_state_parse(db_val(s, 0, 0), &state);
    out->view.state = state;
    out->view.question_idx = atoi(db_val(s, 0, 1));
    out->view.deadline_ms = db_val(s, 0, 2) ? atoll(db_val(s, 0, 2)) : 0;
    out->opened_ms = db_val(s, 0, 3) ? atoll(db_val(s, 0, 3)) : 0;
    out->view.epoch = atoll(db_val(s, 0, 4));
    out->view.nchoices = db_val(s, 0, 5) ? atoi(db_val(s, 0, 5)) : 0;
    out->answer = db_val(s, 0, 6) ? db_val(s, 0, 6) : "";
    out->limit_ms = db_val(s, 0, 7) ? atoll(db_val(s, 0, 7)) * 1000 : 1000;
    out->view.kind = QUIZ_KIND_SINGLE;
    quiz_kind_parse(db_val(s, 0, 8), &out->view.kind);
}

static int has_row(PGresult *r, int col, const char *value) {
    for (int i = 0; i < PQntuples(r); i++)
        if (strcmp(PQgetvalue(r, i, col), value) == 0) return 1;
    return 0;
}

/* The time factor percent of a known student (known: student_id, percent),
 * or -1 when the student is not known. */
static int known_pct(PGresult *known, const char *student) {
    for (int i = 0; i < PQntuples(known); i++)
        if (strcmp(PQgetvalue(known, i, 0), student) == 0) return atoi(PQgetvalue(known, i, 1));
    return -1;
}

/* Judges the pending items of `sid` against `row` (known: the students of
 * this session at its epoch, with their factors) and adds the candidates
 * to the columns. A student with extra time is judged on their own
 * deadline and scored on their own limit. */
static void judge_items(struct item *items, int from, int n, const char *sid,
                        const struct session_row *row, PGresult *known, struct db_array col[6]) {
    for (int i = from; i < n; i++) {
        struct item *it = &items[i];
        if (!item_pending(it) || strcmp(it->sid, sid) != 0) continue;
        int pct = known_pct(known, it->student);
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
        for (int j = from; j < i; j++) {
            if (item_pending(&items[j]) && items[j].dup_of < 0 && strcmp(items[j].sid, sid) == 0 &&
                strcmp(items[j].student, it->student) == 0) {
                it->dup_of = j;
                break;
            }
        }
        if (it->dup_of >= 0) continue;
        long long elapsed =
            quiz_elapsed_ms(it->has_elapsed, it->elapsed_ms, it->received_ms, row->opened_ms);
        it->correct = quiz_is_correct(row->view.kind, row->answer, it->choice);
        it->points = quiz_points(it->correct, elapsed, limit);
        db_array_text(&col[0], it->student);
        db_array_text(&col[1], it->choice);
        db_array_text(&col[2], it->correct ? "t" : "f");
        db_array_num(&col[3], it->points);
        db_array_num(&col[4], quiz_latency_ms(elapsed));
        db_array_num(&col[5], it->received_ms);
    }
}

/* After the insert: accepted when its row went in, else duplicate with the
 * choice that stands; a duplicate within the batch follows its first. */
static int settle_items(struct item *items, int from, int n, const char *sid, PGresult *ins,
                        PGresult *stored) {
    int accepted = 0;
    for (int i = from; i < n; i++) {
        struct item *it = &items[i];
        if (!item_pending(it) || it->dup_of >= 0 || strcmp(it->sid, sid) != 0) continue;
        int ours = has_row(ins, 0, it->student);
        for (int r = 0; r < PQntuples(stored); r++) {
            if (strcmp(PQgetvalue(stored, r, 0), it->student) != 0) continue;
            snprintf(it->stored, sizeof(it->stored), "%s", PQgetvalue(stored, r, 1));
            ours |= strcmp(PQgetvalue(stored, r, 2), "t") == 0;
        }
        it->verdict = quiz_settle(ours);
        accepted += it->verdict == QUIZ_V_ACCEPTED;
    }
    for (int i = from; i < n; i++) {
        struct item *it = &items[i];
        if (!item_pending(it) || it->dup_of < 0) continue;
        it->verdict = QUIZ_V_DUPLICATE;
        memcpy(it->stored, items[it->dup_of].stored, sizeof(it->stored));
    }
    return accepted;
}

int judge_session(struct db_tx *tx, struct item *items, int from, int n, const char *sid,
                  const char *batch_id, int *accepted, int *question_idx) {
    PGresult *s = NULL, *known = NULL, *ins = NULL, *stored = NULL;
    struct db_array ids, col[6];
    struct session_row row;
    int rc = -1;
    *accepted = 0;
    db_array_open(&ids);
    for (int c = 0; c < 6; c++)
        db_array_open(&col[c]);
    const char *p1[1] = {sid};
    if (!(s = db_tx_exec(tx, SESSION_FOR_SHARE, 1, p1))) goto cleanup;
    if (PQntuples(s) != 1) {
        for (int i = from; i < n; i++)
            if (item_pending(&items[i]) && strcmp(items[i].sid, sid) == 0)
                item_refuse(&items[i], reply_error(404, "unknown_session", "no such session"));
        rc = 0;
        goto cleanup;
    }
    for (int i = from; i < n; i++)
        if (item_pending(&items[i]) && strcmp(items[i].sid, sid) == 0)
            db_array_text(&ids, items[i].student);
    session_from_row(s, &row);
    *question_idx = row.view.question_idx;
    const char *p2[2] = {sid, db_array_close(&ids)};
    if (!p2[1]) goto cleanup;
    known = db_tx_exec(tx,
                       "SELECT st.student_id, COALESCE((s.time_factors->>st.student_id)::int, 100)"
                       " FROM students st JOIN sessions s ON s.sid = st.sid"
                       " WHERE st.sid = $1 AND st.student_id = ANY($2::text[])"
                       " AND st.epoch = s.epoch AND st.removed_at IS NULL",
                       2, p2);
    if (!known) goto cleanup;
    judge_items(items, from, n, sid, &row, known, col);
    if (col[0].n == 0) {
        rc = 0;
        goto cleanup;
    }
    char sidx[16];
    snprintf(sidx, sizeof(sidx), "%d", row.view.question_idx);
    const char *p9[9] = {sid, sidx};
    for (int c = 0; c < 6; c++)
        if (!(p9[2 + c] = db_array_close(&col[c]))) goto cleanup;
    p9[8] = batch_id;
    ins = db_tx_exec(
        tx,
        "INSERT INTO answers (sid, student_id, question_idx, choice, correct, points,"
        " latency_ms, received_at_ms, batch_id)"
        " SELECT $1, u.s, $2::int, u.c, u.ok, u.p, u.l, u.r, $9::bigint FROM unnest($3::text[],"
        " $4::text[], $5::bool[], $6::int[], $7::int[], $8::bigint[]) AS u(s, c, ok, p, l, r)"
        " ON CONFLICT DO NOTHING RETURNING student_id",
        9, p9);
    if (!ins) goto cleanup;
    /* a row this same batch wrote in an earlier try counts as inserted:
     * the batcher resolves an unknown commit before it tries again, so
     * this only guards that resolution */
    const char *p4[4] = {sid, sidx, p9[2], batch_id};
    stored = db_tx_exec(tx,
                        "SELECT student_id, choice, batch_id IS NOT DISTINCT FROM $4::bigint"
                        " FROM answers WHERE sid = $1"
                        " AND question_idx = $2::int AND student_id = ANY($3::text[])",
                        4, p4);
    if (!stored) goto cleanup;
    *accepted = settle_items(items, from, n, sid, ins, stored);
    rc = 0;
cleanup:
    db_array_free(&ids);
    for (int c = 0; c < 6; c++)
        db_array_free(&col[c]);
    PQclear(s);
    PQclear(known);
    PQclear(ins);
    PQclear(stored);
    return rc;
}
