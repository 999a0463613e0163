/*
 * handle_quiz: question pools (qw.session.query.quiz_create, quiz_list).
 *
 * Checks a pool against every rule of SPEC §2 before anything is written,
 * refuses a bad pool whole with 400 invalid_pool naming the 1-based
 * question and the field (in the message and as `question` and `field`, for
 * the console's editor), and stores a good one (quiz + questions) in one
 * statement, so a pool is either wholly in Postgres or not at all. The
 * check is the one the editor's routes use too (quiz_pool_check).
 * Runs on the session daemon's query workers; never changes a session.
 */
#include "log.h"
#include "reply.h"
#include "session.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POOL_MAX_QUESTIONS 500
#define POOL_TITLE_MAX 200
#define POOL_DEFAULT_LIMIT_S 20

/* The 400 invalid_pool reply (caller owns) for question `n` (1-based; 0 for
 * the pool itself) and `field`, with the formatted message. */
static json_t *pool_error(int n, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static json_t *pool_error(int n, const char *field, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *err = reply_error(400, "invalid_pool", "%s", msg);
    if (err && n > 0) json_object_set_new(err, "question", json_integer(n));
    if (err) json_object_set_new(err, "field", json_string(field));
    return err;
}

/* Checks one question (borrowed) and appends its normalised form to `out`.
 * Returns NULL, or the error reply (caller owns) naming question `n`. */
static json_t *check_question(json_t *q, int n, json_t *out) {
    static const char *const labels[] = {"A", "B", "C", "D"};
    if (!json_is_object(q)) return pool_error(n, "question", "question %d: must be an object", n);
    json_t *text = json_object_get(q, "text");
    if (!json_is_string(text) || json_string_length(text) == 0)
        return pool_error(n, "text", "question %d: text must be a non-empty string", n);
    json_t *choices = json_object_get(q, "choices");
    if (!json_is_array(choices) || json_array_size(choices) < 2 || json_array_size(choices) > 4)
        return pool_error(n, "choices", "question %d: choices must be a list of 2 to 4 entries", n);
    size_t nc = json_array_size(choices);
    for (size_t i = 0; i < nc; i++) {
        json_t *c = json_array_get(choices, i);
        if (!json_is_string(c) || json_string_length(c) == 0)
            return pool_error(n, "choices", "question %d: choice %s must be a non-empty string", n,
                              labels[i]);
    }
    json_t *answer = json_object_get(q, "answer");
    const char *a = json_string_value(answer);
    int ok = 0;
    for (size_t i = 0; a && i < nc; i++)
        ok |= strcmp(a, labels[i]) == 0;
    if (!ok) {
        char allowed[16] = "";
        for (size_t i = 0; i < nc; i++) {
            strcat(allowed, labels[i]);
            if (i + 1 < nc) strcat(allowed, ", ");
        }
        if (!a) return pool_error(n, "answer", "question %d: answer must be one of %s", n, allowed);
        return pool_error(n, "answer", "question %d: answer \"%.16s\" is not one of %s", n, a,
                          allowed);
    }
    json_int_t limit = POOL_DEFAULT_LIMIT_S;
    json_t *tl = json_object_get(q, "time_limit_s");
    if (tl && !json_is_null(tl)) {
        if (!json_is_integer(tl) || json_integer_value(tl) < 5 || json_integer_value(tl) > 600)
            return pool_error(n, "time_limit_s",
                              "question %d: time_limit_s must be a whole number from 5 to 600", n);
        limit = json_integer_value(tl);
    }
    json_array_append_new(out, json_pack("{s:O,s:O,s:s,s:I}", "text", text, "choices", choices,
                                         "answer", a, "time_limit_s", limit));
    return NULL;
}

json_t *quiz_pool_check(json_t *pool, const char **title, json_t **out) {
    *out = NULL;
    json_t *t = json_object_get(pool, "title");
    if (t && !json_is_null(t) && !json_is_string(t))
        return pool_error(0, "title", "title must be a string");
    *title = json_string_value(t) && *json_string_value(t) ? json_string_value(t) : "Untitled quiz";
    if (json_is_string(t) && json_string_length(t) > POOL_TITLE_MAX)
        return pool_error(0, "title", "title must be at most %d bytes", POOL_TITLE_MAX);
    json_t *qs = json_object_get(pool, "questions");
    if (!json_is_array(qs) || json_array_size(qs) == 0)
        return pool_error(0, "questions", "questions must be a list of at least one question");
    if (json_array_size(qs) > POOL_MAX_QUESTIONS)
        return pool_error(0, "questions", "questions: at most %d questions, got %zu",
                          POOL_MAX_QUESTIONS, json_array_size(qs));
    json_t *norm = json_array();
    size_t i;
    json_t *q;
    json_array_foreach(qs, i, q) {
        json_t *err = check_question(q, (int)i + 1, norm);
        if (err) {
            json_decref(norm);
            return err;
        }
    }
    *out = norm;
    return NULL;
}

json_t *handle_quiz_create(void *ctx, struct db *db, json_t *req) {
    (void)ctx;
    const char *title = NULL;
    json_t *norm = NULL, *reply = NULL;
    char *text = NULL;
    PGresult *r = NULL;
    reply = quiz_pool_check(req, &title, &norm);
    if (reply) goto cleanup;
    text = json_dumps(norm, JSON_COMPACT);
    if (!text) goto cleanup;
    char count[16];
    snprintf(count, sizeof(count), "%zu", json_array_size(norm));
    const char *p[] = {title, count, text};
    /* one statement: the quiz row and its questions commit together */
    r = db_exec(db,
                "WITH qz AS (INSERT INTO quizzes (title, question_count) VALUES ($1, $2::int) "
                "RETURNING quiz_id), qs AS (INSERT INTO questions (quiz_id, idx, text, choices, "
                "answer, time_limit_s) SELECT qz.quiz_id, (t.ord - 1)::int, t.q->>'text', "
                "t.q->'choices', t.q->>'answer', (t.q->>'time_limit_s')::int FROM qz, "
                "jsonb_array_elements($3::jsonb) WITH ORDINALITY AS t(q, ord)) "
                "SELECT quiz_id FROM qz",
                3, p);
    if (!r || PQntuples(r) != 1) {
        reply = reply_error(503, "db_unavailable", "the pool could not be stored; try again");
        goto cleanup;
    }
    long long id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    reply = json_pack("{s:b,s:I,s:s,s:I}", "ok", 1, "quiz_id", (json_int_t)id, "title", title,
                      "question_count", (json_int_t)json_array_size(norm));
    LOG_INFO("quiz_created", "quiz_id=%lld questions=%zu", id, json_array_size(norm));
cleanup:
    PQclear(r);
    free(text);
    json_decref(norm);
    return reply;
}

json_t *handle_quiz_list(void *ctx, struct db *db, json_t *req) {
    (void)ctx;
    (void)req;
    /* the current version of each quiz not deleted (010_quiz_versions.sql) */
    PGresult *r = db_exec(
        db,
        "SELECT q.quiz_id, q.title, q.question_count, "
        "to_char(q.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), q.version, "
        "to_char(q.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
        "EXISTS (SELECT 1 FROM sessions s WHERE s.quiz_id = q.quiz_id) "
        "FROM quizzes q WHERE q.replaced_by IS NULL AND q.deleted_at IS NULL "
        "ORDER BY q.quiz_id DESC LIMIT 1000",
        0, NULL);
    if (!r) return reply_error(503, "db_unavailable", "the pools could not be read; try again");
    json_t *list = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *row = json_pack(
            "{s:I,s:s,s:I,s:s,s:I,s:s,s:b}", "quiz_id",
            (json_int_t)strtoll(PQgetvalue(r, i, 0), NULL, 10), "title", PQgetvalue(r, i, 1),
            "question_count", (json_int_t)strtoll(PQgetvalue(r, i, 2), NULL, 10), "created_at",
            PQgetvalue(r, i, 3), "version", (json_int_t)strtoll(PQgetvalue(r, i, 4), NULL, 10),
            "updated", PQgetvalue(r, i, 5), "played", PQgetvalue(r, i, 6)[0] == 't');
        json_array_append_new(list, row);
    }
    PQclear(r);
    return json_pack("{s:b,s:o}", "ok", 1, "quizzes", list);
}
