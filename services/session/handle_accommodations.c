/*
 * handle_accommodations: extra time for a student (qw.session.query.time_factor).
 * The instructor gives a student id one of shared/quiz's time factors, in
 * the lobby before that student joins, or later for a student who joined;
 * factor 1 takes it away. The factors are copied onto the session row when
 * a question opens (transitions.c), so a change takes effect at the next
 * question and the open one keeps the limits it was shown with. The
 * student id is never logged: a learning plan is nobody else's business.
 * Runs on the query workers, on the session row's lock.
 */
#include "log.h"
#include "quiz.h"
#include "reply.h"
#include "session.h"
#include "text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *accommodations_json(struct db *db, const char *sid) {
    PGresult *r = db_exec(db,
                          "SELECT student_id, factor_pct FROM time_factors WHERE sid = $1"
                          " ORDER BY student_id",
                          1, (const char *[]){sid});
    if (!r) return NULL;
    json_t *out = json_object();
    for (int i = 0; out && i < PQntuples(r); i++)
        json_object_set_new(out, db_val(r, i, 0), json_real(atoi(db_val(r, i, 1)) / 100.0));
    PQclear(r);
    return out;
}

/* Checks the request: 0 with *pct set, else the 400 reply in *err. */
static int parse(json_t *req, const char **sid, const char **student, int *pct, json_t **err) {
    json_t *f = json_object_get(req, "factor");
    *sid = json_string_value(json_object_get(req, "sid"));
    *student = json_string_value(json_object_get(req, "student_id"));
    *err = NULL;
    if (!*sid || !**sid || strlen(*sid) > 64)
        *err = reply_error(400, "bad_field", "sid must be a session id");
    else if (!*student || text_codepoints(*student) < 1 ||
             text_codepoints(*student) > TEXT_ID_MAX_CHARS)
        *err = reply_error(400, "bad_field", "student_id must be 1..64 printable characters");
    else if (!json_is_number(f) || (*pct = quiz_factor_pct(json_number_value(f))) < 0)
        *err = reply_error(400, "bad_field", "factor must be one of 1, 1.25, 1.5, 2, 3");
    return *err ? -1 : 0;
}

json_t *handle_time_factor(void *ctx, struct db *db, json_t *req) {
    (void)ctx;
    const char *sid, *student;
    int pct = QUIZ_FACTOR_NONE;
    json_t *reply = NULL;
    PGresult *r = NULL;
    struct db_tx tx = {0};
    if (parse(req, &sid, &student, &pct, &reply) != 0) return reply;
    char spct[16];
    snprintf(spct, sizeof(spct), "%d", pct);
    const char *p[3] = {sid, student, spct};
    if (db_tx_begin(db, &tx) != 0) goto unavailable;
    /* the row lock orders the count below against another instructor tab */
    r = db_tx_exec(&tx,
                   "SELECT s.state, (SELECT count(*) FROM students st WHERE st.sid = s.sid"
                   "  AND st.student_id = $2 AND st.epoch = s.epoch AND st.removed_at IS NULL),"
                   " (SELECT count(*) FROM time_factors t WHERE t.sid = s.sid"
                   "  AND t.student_id <> $2)"
                   " FROM sessions s WHERE s.sid = $1 FOR UPDATE",
                   2, p);
    if (!r) goto unavailable;
    if (PQntuples(r) == 0) {
        reply = reply_error(404, "unknown_session", "there is no such session");
        goto cleanup;
    }
    enum quiz_state st = QUIZ_LOBBY;
    quiz_state_parse(db_val(r, 0, 0), &st);
    if (st == QUIZ_ENDED) {
        reply = reply_error(409, "session_ended", "the session has ended");
        goto cleanup;
    }
    if (st != QUIZ_LOBBY && atoll(db_val(r, 0, 1)) == 0) {
        reply = reply_error(404, "unknown_student",
                            "no student with that id is in this session (in the lobby, any id "
                            "may be given extra time before it joins)");
        goto cleanup;
    }
    if (pct != QUIZ_FACTOR_NONE && atoll(db_val(r, 0, 2)) >= QUIZ_TIME_FACTORS_MAX) {
        reply = reply_error(409, "too_many_factors",
                            "at most %d students of a session can have extra time",
                            QUIZ_TIME_FACTORS_MAX);
        goto cleanup;
    }
    PQclear(r);
    r = NULL;
    if (pct == QUIZ_FACTOR_NONE
            ? db_tx_cmd(&tx,
                        "DELETE FROM time_factors WHERE sid = $1"
                        " AND student_id = $2",
                        2, p)
            : db_tx_cmd(&tx,
                        "INSERT INTO time_factors (sid, student_id, factor_pct)"
                        " VALUES ($1, $2, $3::int) ON CONFLICT (sid, student_id)"
                        " DO UPDATE SET factor_pct = EXCLUDED.factor_pct",
                        3, p))
        goto unavailable;
    if (db_tx_commit(&tx) != 0) goto unavailable;
    LOG_INFO("time_factor_set", "sid=%s factor_pct=%d", sid, pct);
    json_t *all = accommodations_json(db, sid);
    reply = json_pack("{s:b,s:s,s:s,s:f,s:o?}", "ok", 1, "sid", sid, "student_id", student,
                      "factor", pct / 100.0, "time_factors", all);
    goto cleanup;
unavailable:
    json_decref(reply);
    reply = reply_error(503, "db_unavailable", "the time could not be changed; try again");
cleanup:
    db_tx_rollback(&tx);
    PQclear(r);
    return reply;
}
