/*
 * handle_sessions: session rows (qw.session.query.create, list, get).
 *
 * Creates a session in its lobby with a random sid and a 6-digit join code
 * (both shared/quiz's, unbiased) that no other live session holds (the partial unique index
 * decides; a clash is retried), and reads sessions back as the <state> object of
 * docs/ARCHITECTURE.md. Runs on the query workers; never drives the
 * lifecycle (that is handle_lifecycle.c's alone).
 */
#include "log.h"
#include "quiz.h"
#include "reply.h"
#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CREATE_TRIES 20

/* The <state> columns, in the order session_state_from_row() reads them. */
#define STATE_SELECT                                                                               \
    "SELECT s.sid, s.quiz_id, q.title, s.join_code, s.state, s.question_idx, q.question_count, "   \
    "s.players, "                                                                                  \
    "to_char(s.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "                 \
    "s.seq, s.opened_at_ms, s.deadline_ms, s.locked, s.two_step, COALESCE(jr.count, 0) "           \
    "FROM sessions s JOIN quizzes q ON q.quiz_id = s.quiz_id "                                     \
    "LEFT JOIN join_refusals jr ON jr.sid = s.sid "

static json_t *session_state_from_row(PGresult *r, int i, int with_timing) {
    struct quiz_session s = {0};
    if (quiz_state_parse(db_val(r, i, 4), &s.state) != 0) return NULL;
    s.sid = db_val(r, i, 0);
    s.quiz_id = atoll(db_val(r, i, 1));
    s.title = db_val(r, i, 2);
    s.join_code = db_val(r, i, 3);
    s.question_idx = atoi(db_val(r, i, 5));
    s.question_count = atoi(db_val(r, i, 6));
    s.players = atoll(db_val(r, i, 7));
    s.created_at = db_val(r, i, 8);
    s.locked = strcmp(db_val(r, i, 12), "t") == 0;
    s.two_step = strcmp(db_val(r, i, 13), "t") == 0;
    s.joins_refused = atoll(db_val(r, i, 14));
    if (with_timing) {
        s.has_seq = 1;
        s.seq = atoll(db_val(r, i, 9));
        s.has_opened = db_val(r, i, 10) != NULL;
        s.opened_at_ms = s.has_opened ? atoll(db_val(r, i, 10)) : 0;
        s.has_deadline = db_val(r, i, 11) != NULL;
        s.deadline_ms = s.has_deadline ? atoll(db_val(r, i, 11)) : 0;
    }
    return quiz_session_json(&s);
}

json_t *session_state_read(struct db *db, const char *sid, int with_timing, int *err) {
    PGresult *r = db_exec(db, STATE_SELECT "WHERE s.sid = $1", 1, (const char *[]){sid});
    json_t *o = r && PQntuples(r) == 1 ? session_state_from_row(r, 0, with_timing) : NULL;
    *err = !r;
    PQclear(r);
    return o;
}

int quiz_id_text(json_t *v, char *buf, size_t n) {
    if (json_is_integer(v) && json_integer_value(v) > 0) {
        snprintf(buf, n, "%lld", (long long)json_integer_value(v));
        return 0;
    }
    const char *s = json_string_value(v);
    if (!s || !*s || strlen(s) > 18 || strspn(s, "0123456789") != strlen(s)) return -1;
    snprintf(buf, n, "%s", s);
    return 0;
}

json_t *handle_session_create(void *ctx, struct db *db, json_t *req) {
    (void)ctx;
    char qid[32], sid[QUIZ_SID_LEN + 1], code[QUIZ_JOIN_CODE_LEN + 1];
    json_t *two_step = json_object_get(req, "two_step");
    if (quiz_id_text(json_object_get(req, "quiz_id"), qid, sizeof(qid)) != 0)
        return reply_error(400, "bad_field", "quiz_id must be the number of a stored pool");
    if (two_step && !json_is_boolean(two_step))
        return reply_error(400, "bad_field", "two_step must be true or false");
    for (int attempt = 0; attempt < CREATE_TRIES; attempt++) {
        if (quiz_new_sid(sid) != 0 || quiz_join_code(code) != 0) return NULL;
        const char *p[] = {sid, qid, code, json_is_true(two_step) ? "true" : "false"};
        /* ON CONFLICT covers the live join-code index: a clash inserts
         * nothing. Only the current version of a quiz starts a session;
         * FOR SHARE waits for an editor's save of the same quiz and then
         * sees whether it replaced it. */
        PGresult *r = db_exec(db,
                              "INSERT INTO sessions (sid, quiz_id, join_code, two_step) "
                              "SELECT $1, quiz_id, $3, $4::boolean FROM quizzes "
                              "WHERE quiz_id = $2::bigint AND deleted_at IS NULL "
                              "AND replaced_by IS NULL FOR SHARE "
                              "ON CONFLICT DO NOTHING RETURNING sid",
                              4, p);
        if (!r)
            return reply_error(503, "db_unavailable",
                               "the session could not be created; try again");
        int inserted = PQntuples(r);
        PQclear(r);
        if (inserted == 1) {
            LOG_INFO("session_created", "sid=%s quiz_id=%s", sid, qid);
            return json_pack("{s:b,s:s,s:s}", "ok", 1, "sid", sid, "join_code", code);
        }
        r = db_exec(db,
                    "SELECT replaced_by FROM quizzes WHERE quiz_id = $1::bigint "
                    "AND deleted_at IS NULL",
                    1, (const char *[]){qid});
        if (!r)
            return reply_error(503, "db_unavailable",
                               "the session could not be created; try again");
        json_t *refusal = NULL;
        if (PQntuples(r) == 0) {
            refusal = reply_error(404, "unknown_quiz", "there is no pool %s", qid);
        } else if (!PQgetisnull(r, 0, 0)) { /* a stale console: say which one to start */
            refusal = reply_error(409, "quiz_replaced",
                                  "this quiz was edited after it was played; start its new "
                                  "version, quiz %s",
                                  PQgetvalue(r, 0, 0));
            json_object_set_new(refusal, "replaced_by",
                                json_integer(strtoll(PQgetvalue(r, 0, 0), NULL, 10)));
        }
        PQclear(r);
        if (refusal) return refusal;
    }
    LOG_WARN("session_create_failed", "reason=\"no free join code\" tries=%d", CREATE_TRIES);
    return reply_error(503, "no_join_code", "no free join code was found; try again");
}

json_t *handle_session_list(void *ctx, struct db *db, json_t *req) {
    (void)ctx;
    (void)req;
    PGresult *r = db_exec(db, STATE_SELECT "ORDER BY s.created_at DESC, s.sid LIMIT 1000", 0, NULL);
    if (!r) return reply_error(503, "db_unavailable", "the sessions could not be read; try again");
    json_t *list = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(list, session_state_from_row(r, i, 0));
    PQclear(r);
    return json_pack("{s:b,s:o}", "ok", 1, "sessions", list);
}

json_t *handle_session_get(void *ctx, struct db *db, json_t *req) {
    (void)ctx;
    const char *sid = json_string_value(json_object_get(req, "sid"));
    if (!sid || !*sid || strlen(sid) > 64)
        return reply_error(400, "bad_field", "sid must be a session id");
    int err = 0;
    json_t *reply = session_state_read(db, sid, 0, &err);
    if (err) return reply_error(503, "db_unavailable", "the session could not be read; try again");
    if (!reply) return reply_error(404, "unknown_session", "there is no such session");
    json_t *factors = accommodations_json(db, sid); /* who has extra time, for the console */
    if (!factors) {
        json_decref(reply);
        return reply_error(503, "db_unavailable", "the session could not be read; try again");
    }
    json_object_set_new(reply, "time_factors", factors);
    json_object_set_new(reply, "ok", json_true());
    return reply;
}
