/*
 * handle_sessions: session rows (qw.session.query.create, list, get).
 *
 * Creates a session in its lobby with a random sid and a 6-digit join code
 * that no other live session holds (the partial unique index decides; a
 * clash is retried), and reads sessions back as the <state> object of
 * docs/ARCHITECTURE.md. Runs on the query workers; never drives the
 * lifecycle (that is handle_lifecycle.c's alone).
 */
#include "log.h"
#include "reply.h"
#include "session.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SID_LEN 12
#define CREATE_TRIES 20

/* The <state> columns, in the order state_from_row() reads them. */
#define STATE_SELECT                                                                               \
    "SELECT s.sid, s.quiz_id, q.title, s.join_code, s.state, s.question_idx, q.question_count, "   \
    "s.players, "                                                                                  \
    "to_char(s.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "                 \
    "s.locked, s.two_step, COALESCE(jr.count, 0) "                                                 \
    "FROM sessions s JOIN quizzes q ON q.quiz_id = s.quiz_id "                                     \
    "LEFT JOIN join_refusals jr ON jr.sid = s.sid "

static json_int_t num(PGresult *r, int row, int col) {
    return (json_int_t)strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* Row `i` as a <state> object (new reference). */
static json_t *state_from_row(PGresult *r, int i) {
    return json_pack("{s:s,s:I,s:s,s:s,s:s,s:I,s:I,s:I,s:s,s:b,s:b,s:I}", "sid",
                     PQgetvalue(r, i, 0), "quiz_id", num(r, i, 1), "title", PQgetvalue(r, i, 2),
                     "join_code", PQgetvalue(r, i, 3), "state", PQgetvalue(r, i, 4), "question_idx",
                     num(r, i, 5), "question_count", num(r, i, 6), "players", num(r, i, 7),
                     "created_at", PQgetvalue(r, i, 8), "locked",
                     strcmp(PQgetvalue(r, i, 9), "t") == 0, "two_step",
                     strcmp(PQgetvalue(r, i, 10), "t") == 0, "joins_refused", num(r, i, 11));
}

/* Fills `out` with `n` characters drawn uniformly from `alphabet`. */
static int random_text(char *out, size_t n, const char *alphabet) {
    size_t alen = strlen(alphabet);
    unsigned limit = 256 - 256 % (unsigned)alen; /* reject bytes that would bias */
    size_t o = 0;
    while (o < n) {
        unsigned char buf[32];
        if (RAND_bytes(buf, sizeof(buf)) != 1) return -1;
        for (size_t i = 0; i < sizeof(buf) && o < n; i++)
            if (buf[i] < limit) out[o++] = alphabet[buf[i] % alen];
    }
    out[n] = '\0';
    return 0;
}

/* quiz_id as decimal text from a JSON integer or digit string. */
static int quiz_id_text(json_t *v, char *buf, size_t n) {
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
    char qid[32], sid[SID_LEN + 1], code[7];
    json_t *two_step = json_object_get(req, "two_step");
    if (quiz_id_text(json_object_get(req, "quiz_id"), qid, sizeof(qid)) != 0)
        return reply_error(400, "bad_field", "quiz_id must be the number of a stored pool");
    if (two_step && !json_is_boolean(two_step))
        return reply_error(400, "bad_field", "two_step must be true or false");
    for (int attempt = 0; attempt < CREATE_TRIES; attempt++) {
        if (random_text(sid, SID_LEN, "abcdefghijklmnopqrstuvwxyz0123456789") != 0 ||
            random_text(code, 6, "0123456789") != 0)
            return NULL;
        const char *p[] = {sid, qid, code, json_is_true(two_step) ? "true" : "false"};
        /* ON CONFLICT covers the live join-code index: a clash inserts nothing */
        PGresult *r = db_exec(db,
                              "INSERT INTO sessions (sid, quiz_id, join_code, two_step) "
                              "SELECT $1, quiz_id, $3, $4::boolean FROM quizzes "
                              "WHERE quiz_id = $2::bigint ON CONFLICT DO NOTHING RETURNING sid",
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
        r = db_exec(db, "SELECT 1 FROM quizzes WHERE quiz_id = $1::bigint", 1,
                    (const char *[]){qid});
        if (!r)
            return reply_error(503, "db_unavailable",
                               "the session could not be created; try again");
        int exists = PQntuples(r);
        PQclear(r);
        if (!exists) return reply_error(404, "unknown_quiz", "there is no pool %s", qid);
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
        json_array_append_new(list, state_from_row(r, i));
    PQclear(r);
    return json_pack("{s:b,s:o}", "ok", 1, "sessions", list);
}

json_t *handle_session_get(void *ctx, struct db *db, json_t *req) {
    (void)ctx;
    const char *sid = json_string_value(json_object_get(req, "sid"));
    if (!sid || !*sid || strlen(sid) > 64)
        return reply_error(400, "bad_field", "sid must be a session id");
    PGresult *r = db_exec(db, STATE_SELECT "WHERE s.sid = $1", 1, (const char *[]){sid});
    if (!r) return reply_error(503, "db_unavailable", "the session could not be read; try again");
    json_t *reply;
    if (PQntuples(r) == 0) {
        reply = reply_error(404, "unknown_session", "there is no such session");
    } else {
        reply = state_from_row(r, 0);
        json_object_set_new(reply, "ok", json_true());
    }
    PQclear(r);
    return reply;
}
