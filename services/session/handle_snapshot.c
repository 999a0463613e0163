/*
 * handle_snapshot: what a new or returning socket is shown
 * (`qw.session.query.snapshot`), read from Postgres on a service worker.
 * It stamps `now_ms` (the session clock) so the gateway computes the true
 * time left. It never reveals correctness before the question closes: the
 * answer is sent only when closed, and `score` leaves out the open question.
 * It carries `counts` per choice of the shown question and, once closed, the
 * student's `points` for it, so a reload shows the live chart or the reveal;
 * after the end, the student's final `rank`.
 */
#include "clock.h"
#include "reply.h"
#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *handle_snapshot(void *ctx, struct db *db, json_t *req) {
    (void)ctx;
    PGresult *s = NULL, *q = NULL, *a = NULL, *c = NULL, *r = NULL;
    json_t *out = NULL;
    const char *sid = json_string_value(json_object_get(req, "sid"));
    json_t *jstudent = json_object_get(req, "student_id");
    const char *student = json_string_value(jstudent);
    if (!sid || (jstudent && !json_is_null(jstudent) && !student))
        return reply_error(400, "bad_field", "sid (and student_id when given) must be strings");
    const char *p[1] = {sid};
    s = db_exec(db,
                "SELECT s.state, s.question_idx, z.question_count, s.opened_at_ms, s.deadline_ms,"
                " s.players, s.quiz_id, s.seq, s.epoch"
                " FROM sessions s JOIN quizzes z USING (quiz_id) WHERE s.sid = $1",
                1, p);
    if (!s) goto db_down;
    if (PQntuples(s) != 1) {
        out = reply_error(404, "unknown_session", "no such session");
        goto cleanup;
    }
    const char *state = db_val(s, 0, 0);
    int idx = atoi(db_val(s, 0, 1));
    int shows = strcmp(state, "question") == 0 || strcmp(state, "closed") == 0;
    out =
        json_pack("{s:b,s:s,s:s,s:i,s:i,s:I,s:I,s:I,s:I}", "ok", 1, "sid", sid, "state", state,
                  "question_idx", idx, "question_count", atoi(db_val(s, 0, 2)), "now_ms",
                  (json_int_t)clock_wall_ms(), "players", (json_int_t)atoll(db_val(s, 0, 5)), "seq",
                  (json_int_t)atoll(db_val(s, 0, 7)), "epoch", (json_int_t)atoll(db_val(s, 0, 8)));
    if (!out) goto cleanup;
    json_object_set_new(out, "opened_at_ms",
                        shows && db_val(s, 0, 3) ? json_integer(atoll(db_val(s, 0, 3)))
                                                 : json_null());
    json_object_set_new(out, "deadline_ms",
                        shows && db_val(s, 0, 4) ? json_integer(atoll(db_val(s, 0, 4)))
                                                 : json_null());
    json_object_set_new(out, "question", json_null());
    if (shows) {
        char sidx[16];
        snprintf(sidx, sizeof(sidx), "%d", idx);
        const char *qp[2] = {db_val(s, 0, 6), sidx};
        q = db_exec(db,
                    "SELECT text, choices::text, time_limit_s, answer FROM questions"
                    " WHERE quiz_id = $1::bigint AND idx = $2::int",
                    2, qp);
        if (!q) goto db_down;
        if (PQntuples(q) == 1) {
            json_t *choices = json_loads(db_val(q, 0, 1), 0, NULL);
            json_object_set_new(out, "question",
                                json_pack("{s:s,s:o,s:i}", "text", db_val(q, 0, 0), "choices",
                                          choices ? choices : json_array(), "time_limit_ms",
                                          atoi(db_val(q, 0, 2)) * 1000));
            if (strcmp(state, "closed") == 0)
                json_object_set_new(out, "answer", json_string(db_val(q, 0, 3)));
            /* How the class answered, one count per label (zeros included).
             * Public once closed; while open the gateway passes it to the
             * instructor only (as answer_stats would), never to a student. */
            const char *cp[2] = {sid, sidx};
            c = db_exec(db,
                        "SELECT choice, count(*) FROM answers WHERE sid = $1"
                        " AND question_idx = $2::int GROUP BY choice",
                        2, cp);
            if (!c) goto db_down;
            json_t *counts = json_object();
            size_t nchoices =
                json_array_size(json_object_get(json_object_get(out, "question"), "choices"));
            for (size_t i = 0; i < nchoices && i < 4; i++) {
                char label[2] = {(char)('A' + i), 0};
                json_object_set_new(counts, label, json_integer(0));
            }
            for (int row = 0; row < PQntuples(c); row++)
                json_object_set_new(counts, db_val(c, row, 0),
                                    json_integer(atoll(db_val(c, row, 1))));
            json_object_set_new(out, "counts", counts);
        }
    }
    json_object_set_new(out, "my_choice", json_null());
    json_object_set_new(out, "score", json_integer(0));
    if (student) {
        char sidx[16];
        snprintf(sidx, sizeof(sidx), "%d", shows ? idx : -1);
        /* While a question is open its points are left out of the score:
         * they would tell whether the answer was right. */
        const char *ap[4] = {sid, student, sidx, strcmp(state, "question") == 0 ? "1" : "0"};
        a = db_exec(db,
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
        if (strcmp(state, "closed") == 0)
            json_object_set_new(out, "points",
                                json_integer(db_val(a, 0, 1) ? atoll(db_val(a, 0, 1)) : 0));
        /* After the end a returning student sees the final rank too:
         * 1 + the students with a higher score (equal scores share it). */
        if (strcmp(state, "ended") == 0) {
            const char *rp[2] = {sid, db_val(a, 0, 2)};
            r = db_exec(
                db,
                "SELECT 1 + count(*) FROM (SELECT COALESCE(sum(a.points), 0) AS total"
                " FROM students st LEFT JOIN answers a ON a.sid = st.sid"
                " AND a.student_id = st.student_id WHERE st.sid = $1"
                " AND st.removed_at IS NULL GROUP BY st.student_id) t WHERE t.total > $2::bigint",
                2, rp);
            if (!r) goto db_down;
            json_object_set_new(out, "rank", json_integer(atoll(db_val(r, 0, 0))));
        }
    }
    goto cleanup;
db_down: /* any query failed: nothing half-built goes out */
    json_decref(out);
    out = reply_error(503, "unavailable", "the database is unavailable");
cleanup:
    PQclear(s);
    PQclear(q);
    PQclear(a);
    PQclear(c);
    PQclear(r);
    return out;
}
