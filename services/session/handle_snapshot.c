/*
 * handle_snapshot: what a new or returning socket is shown
 * (`qw.session.query.snapshot`), read from Postgres on a service worker.
 * It stamps `now_ms` (the session clock) so the gateway computes the true
 * time left. It never reveals correctness before the question closes: the
 * answer is sent only when closed, and `score` leaves out the open question.
 * It carries `counts` per choice of the shown question and, once closed, the
 * student's `points` for it, so a reload shows the live chart or the reveal;
 * after the end, the student's final `rank`. Every read runs in one
 * read-only snapshot transaction, so nothing mixes a moment before a close
 * with one after it. A lobby needs only the session's row, read by one
 * statement (which sees one moment by itself), with no transaction: a
 * lobby shows no question, and nobody has an answer in it, since a reset
 * deletes the answers in the transaction that sets the lobby and scoring
 * inserts only while the row it holds FOR SHARE is open. That row is read
 * first, alone; any other state reads it again inside the transaction.
 * What a state shows, counts and ranks are shared/quiz's.
 * A student with extra time on the shown question is given their own
 * `time_limit_ms` and `deadline_ms` (and `time_factor`), nobody else's.
 */
#include "clock.h"
#include "quiz.h"
#include "record.h"
#include "reply.h"
#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SESSION_ROW                                                                                \
    "SELECT s.state, s.question_idx, z.question_count, s.opened_at_ms, s.deadline_ms,"             \
    " s.players, s.quiz_id, s.seq, s.epoch, COALESCE((s.time_factors->>$2::text)::int, 100)"       \
    " FROM sessions s JOIN quizzes z USING (quiz_id) WHERE s.sid = $1"

json_t *handle_snapshot(void *ctx, struct db *db, json_t *req) {
    (void)ctx;
    PGresult *s = NULL, *q = NULL, *a = NULL, *r = NULL;
    json_t *out = NULL;
    struct db_tx tx = {0}; /* done until a state other than lobby begins it */
    const char *sid = json_string_value(json_object_get(req, "sid"));
    json_t *jstudent = json_object_get(req, "student_id");
    const char *student = json_string_value(jstudent);
    if (!sid || (jstudent && !json_is_null(jstudent) && !student))
        return reply_error(400, "bad_field", "sid (and student_id when given) must be strings");
    const char *p[2] = {sid, student};
    enum quiz_state st = QUIZ_LOBBY;
    if (!(s = db_exec(db, SESSION_ROW, 2, p))) goto db_down;
    if (PQntuples(s) == 1 && quiz_state_parse(db_val(s, 0, 0), &st) != 0) goto db_down;
    if (PQntuples(s) == 1 && st != QUIZ_LOBBY) { /* the rest reads the same moment */
        PQclear(s);
        s = NULL;
        if (db_tx_begin_snapshot(db, &tx) != 0 || !(s = db_tx_exec(&tx, SESSION_ROW, 2, p)))
            goto db_down;
        if (PQntuples(s) == 1 && quiz_state_parse(db_val(s, 0, 0), &st) != 0) goto db_down;
    }
    if (PQntuples(s) != 1) {
        out = reply_error(404, "unknown_session", "no such session");
        goto cleanup;
    }
    const char *state = quiz_state_name(st);
    int idx = atoi(db_val(s, 0, 1));
    int shows = quiz_state_shows_question(st), reveals = quiz_state_reveals_answer(st);
    out =
        json_pack("{s:b,s:s,s:s,s:i,s:i,s:I,s:I,s:I,s:I}", "ok", 1, "sid", sid, "state", state,
                  "question_idx", idx, "question_count", atoi(db_val(s, 0, 2)), "now_ms",
                  (json_int_t)clock_wall_ms(), "players", (json_int_t)atoll(db_val(s, 0, 5)), "seq",
                  (json_int_t)atoll(db_val(s, 0, 7)), "epoch", (json_int_t)atoll(db_val(s, 0, 8)));
    if (!out) goto cleanup;
    json_object_set_new(out, "opened_at_ms",
                        shows && db_val(s, 0, 3) ? json_integer(atoll(db_val(s, 0, 3)))
                                                 : json_null());
    int pct = atoi(db_val(s, 0, 9)); /* this student's factor on the shown question */
    json_object_set_new(out, "deadline_ms",
                        shows && db_val(s, 0, 4) ? json_integer(atoll(db_val(s, 0, 4)))
                                                 : json_null());
    json_object_set_new(out, "question", json_null());
    if (shows) {
        char sidx[16];
        snprintf(sidx, sizeof(sidx), "%d", idx);
        const char *qp[2] = {db_val(s, 0, 6), sidx};
        q = db_tx_exec(&tx,
                       "SELECT text, choices::text, time_limit_s, answer, kind, image, image_alt"
                       " FROM questions WHERE quiz_id = $1::bigint AND idx = $2::int",
                       2, qp);
        if (!q) goto db_down;
        if (PQntuples(q) == 1) {
            json_t *choices = json_loads(db_val(q, 0, 1), 0, NULL);
            enum quiz_kind kind = QUIZ_KIND_SINGLE;
            quiz_kind_parse(db_val(q, 0, 4), &kind);
            long long limit = atoi(db_val(q, 0, 2)) * 1000LL, own = quiz_limit_ms(limit, pct);
            json_t *question = json_pack(
                "{s:s,s:s,s:o,s:I}", "kind", quiz_kind_name(kind), "text", db_val(q, 0, 0),
                "choices", choices ? choices : json_array(), "time_limit_ms", (json_int_t)own);
            if (question && own != limit) {
                json_object_set_new(question, "time_factor", json_real(pct / 100.0));
                if (db_val(s, 0, 3))
                    json_object_set_new(out, "deadline_ms",
                                        json_integer(atoll(db_val(s, 0, 3)) + own));
            }
            json_object_set_new(out, "question", question);
            question_image_add(question, db_val(q, 0, 5), db_val(q, 0, 6));
            /* answer (single, truefalse), answers (multi) or nothing (poll) */
            if (reveals && quiz_reveal_set(out, kind, db_val(q, 0, 3)) != 0) goto db_down;
            /* How the class answered, one count per label (zeros included).
             * Public once closed; while open the gateway passes it to the
             * instructor only (as answer_stats would), never to a student. */
            struct quiz_counts counts;
            quiz_counts_init(&counts, (int)json_array_size(json_object_get(
                                          json_object_get(out, "question"), "choices")));
            if (record_counts(&tx, sid, idx, &counts) != 0) goto db_down;
            json_object_set_new(out, "counts", quiz_counts_json(&counts));
        }
    }
    json_object_set_new(out, "my_choice", json_null());
    json_object_set_new(out, "score", json_integer(0));
    if (student && st != QUIZ_LOBBY) { /* a lobby's student has no answer: score 0 */
        char sidx[16];
        snprintf(sidx, sizeof(sidx), "%d", shows ? idx : -1);
        /* While a question is open its points are left out of the score:
         * they would tell whether the answer was right. */
        const char *ap[4] = {sid, student, sidx, st == QUIZ_QUESTION ? "1" : "0"};
        a = db_tx_exec(&tx,
                       "SELECT (SELECT choice FROM answers WHERE sid = $1 AND student_id = $2"
                       "        AND question_idx = $3::int),"
                       " (SELECT points FROM answers WHERE sid = $1 AND student_id = $2"
                       "        AND question_idx = $3::int AND $4::int = 0),"
                       " (SELECT COALESCE(sum(points), 0) FROM answers WHERE sid = $1"
                       "  AND student_id = $2 AND NOT ($4::int = 1 AND question_idx = $3::int))",
                       4, ap);
        if (!a) goto db_down;
        if (db_val(a, 0, 0)) json_object_set_new(out, "my_choice", json_string(db_val(a, 0, 0)));
        json_object_set_new(out, "score", json_integer(atoll(db_val(a, 0, 2))));
        /* this question's points: only once closed (never while open) */
        if (reveals)
            json_object_set_new(out, "points",
                                json_integer(db_val(a, 0, 1) ? atoll(db_val(a, 0, 1)) : 0));
        /* After the end a returning student sees the final rank too:
         * 1 + the students with a higher score (equal scores share it). */
        if (st == QUIZ_ENDED) {
            const char *rp[2] = {sid, db_val(a, 0, 2)};
            r = db_tx_exec(&tx,
                           "SELECT count(*) FROM (" RECORD_SCORES ") t WHERE t.score > $2::bigint",
                           2, rp);
            if (!r) goto db_down;
            json_object_set_new(out, "rank",
                                json_integer(quiz_rank_from_higher(atoll(db_val(r, 0, 0)))));
        }
    }
    if (tx.state != DB_TX_DONE && db_tx_commit(&tx) != 0) goto db_down; /* not lobby */
    goto cleanup;
db_down: /* any query failed: nothing half-built goes out */
    json_decref(out);
    out = reply_error(503, "unavailable", "the database is unavailable");
cleanup:
    db_tx_rollback(&tx);
    PQclear(s);
    PQclear(q);
    PQclear(a);
    PQclear(r);
    return out;
}
