/*
 * handle_results: a session's results (`qw.scoring.query.results`) for the
 * instructor, as SPEC §3: every student (with no answers too, score 0),
 * ranked by score (equal scores share a rank), then by name; each with
 * every recorded answer. Read-only; runs on service worker threads.
 */
#include "reply.h"
#include "scoring.h"

#include <stdlib.h>
#include <string.h>

json_t *handle_results(void *ctx, struct db *db, json_t *req) {
    (void)ctx;
    PGresult *s = NULL, *st = NULL, *a = NULL;
    json_t *out = NULL, *by_id = NULL;
    const char *sid = json_string_value(json_object_get(req, "sid"));
    if (!sid || !*sid) return reply_error(400, "bad_field", "sid must be a string");
    const char *p[1] = {sid};
    s = db_exec(db, "SELECT state FROM sessions WHERE sid = $1", 1, p);
    if (s && PQntuples(s) == 1) {
        st = db_exec(
            db,
            "SELECT st.student_id, st.name, COALESCE(sum(a.points), 0) AS score FROM students st"
            " LEFT JOIN answers a ON a.sid = st.sid AND a.student_id = st.student_id"
            " WHERE st.sid = $1 AND st.removed_at IS NULL GROUP BY st.student_id, st.name"
            " ORDER BY score DESC, st.name, st.student_id",
            1, p);
        a = db_exec(
            db,
            "SELECT student_id, question_idx, choice, correct, points, latency_ms FROM answers"
            " WHERE sid = $1 ORDER BY student_id, question_idx",
            1, p);
    }
    if (!s || (PQntuples(s) == 1 && (!st || !a))) {
        out = reply_error(503, "unavailable", "the database is unavailable");
        goto cleanup;
    }
    if (PQntuples(s) != 1) {
        out = reply_error(404, "unknown_session", "no such session");
        goto cleanup;
    }
    json_t *students = json_array();
    by_id = json_object();
    long long prev = -1;
    int rank = 0;
    for (int i = 0; i < PQntuples(st); i++) {
        long long score = atoll(PQgetvalue(st, i, 2));
        if (i == 0 || score != prev) rank = i + 1; /* 1 + students with a higher score */
        prev = score;
        json_t *answers = json_array();
        json_t *one = json_pack("{s:s,s:s,s:I,s:i,s:o}", "student_id", PQgetvalue(st, i, 0), "name",
                                PQgetvalue(st, i, 1), "score", (json_int_t)score, "rank", rank,
                                "answers", answers);
        if (!one) continue;
        json_object_set(by_id, PQgetvalue(st, i, 0), answers);
        json_array_append_new(students, one);
    }
    for (int i = 0; i < PQntuples(a); i++) {
        json_t *answers = json_object_get(by_id, PQgetvalue(a, i, 0));
        if (!answers) continue;
        json_array_append_new(
            answers, json_pack("{s:i,s:s,s:b,s:i,s:i}", "question_idx", atoi(PQgetvalue(a, i, 1)),
                               "choice", PQgetvalue(a, i, 2), "correct",
                               strcmp(PQgetvalue(a, i, 3), "t") == 0, "points",
                               atoi(PQgetvalue(a, i, 4)), "latency_ms", atoi(PQgetvalue(a, i, 5))));
    }
    out = json_pack("{s:b,s:s,s:s,s:o}", "ok", 1, "sid", sid, "state", PQgetvalue(s, 0, 0),
                    "students", students);
cleanup:
    json_decref(by_id);
    PQclear(s);
    PQclear(st);
    PQclear(a);
    return out;
}
