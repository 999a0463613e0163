/*
 * handle_quiz: question pools (qw.session.query.quiz_create, quiz_list).
 *
 * Checks a pool with quiz_pool_check (shared/quiz_json.c, the one
 * validation of the format) and that its pictures are stored
 * (pool_check_stored, which the editor's routes use too) before anything
 * is written, refuses a bad pool whole with 400 invalid_pool naming the
 * 1-based question and the field (in the message and as `question` and
 * `field`), and stores a good one (quiz + questions, each with its kind)
 * in one statement, so a pool is either wholly in Postgres or not at all.
 * Runs on the session daemon's query workers; never changes a session.
 */
#include "image.h"
#include "log.h"
#include "quiz.h"
#include "reply.h"
#include "session.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A refusal of question `n` with the field it names beside the message,
 * so the editor can show it next to that field. */
static json_t *field_error(int n, const char *field, const char *message) {
    json_t *e = reply_error(400, "invalid_pool", "question %d: %s: %s", n, field, message);
    json_object_set_new(e, "question", json_integer(n));
    json_object_set_new(e, "field", json_string(field));
    return e;
}

/* The refusal of a pool: 400 invalid_pool with the message, the 1-based
 * question (when about one) and the field, for the editor to show it
 * beside the field. Caller owns. */
static json_t *pool_refusal(const struct quiz_pool_error *err) {
    json_t *r = reply_error(400, "invalid_pool", "%s", err->message);
    if (r && err->question > 0) json_object_set_new(r, "question", json_integer(err->question));
    if (r && err->field) json_object_set_new(r, "field", json_string(err->field));
    return r;
}

/* The first question of the normalised pool whose picture is not stored,
 * as the error reply (caller owns); NULL when every picture is stored, or
 * sets *db_failed. Pictures are never deleted, so the answer holds until
 * the pool is stored. */
static json_t *check_images_stored(struct db *db, const char *pool, int *db_failed) {
    const char *p[] = {pool};
    PGresult *r = db_exec(db,
                          "SELECT t.ord FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY"
                          " AS t(q, ord) WHERE t.q ? 'image' AND NOT EXISTS"
                          " (SELECT 1 FROM images i WHERE i.id = t.q->>'image')"
                          " ORDER BY t.ord LIMIT 1",
                          1, p);
    json_t *err = NULL;
    if (!r)
        *db_failed = 1;
    else if (PQntuples(r) == 1)
        err = field_error(atoi(PQgetvalue(r, 0, 0)), "image",
                          "no picture with this id was uploaded (POST /admin/api/images)");
    PQclear(r);
    return err;
}

json_t *pool_check_stored(struct db *db, json_t *pool, const char **title, json_t **out,
                          char **text) {
    struct quiz_pool_error err;
    *out = NULL;
    *text = NULL;
    if (quiz_pool_check(pool, title, out, &err) != 0) return pool_refusal(&err);
    *text = json_dumps(*out, JSON_COMPACT);
    int db_failed = !*text;
    json_t *reply = *text ? check_images_stored(db, *text, &db_failed) : NULL;
    if (!reply && db_failed)
        reply = reply_error(503, "db_unavailable", "the pool could not be checked; try again");
    if (reply) {
        json_decref(*out);
        *out = NULL;
        free(*text);
        *text = NULL;
    }
    return reply;
}

json_t *handle_quiz_create(void *ctx, struct db *db, json_t *req) {
    (void)ctx;
    const char *title = NULL;
    json_t *norm = NULL, *reply = NULL;
    char *text = NULL;
    PGresult *r = NULL;
    reply = pool_check_stored(db, req, &title, &norm, &text);
    if (reply) goto cleanup;
    char count[16];
    snprintf(count, sizeof(count), "%zu", json_array_size(norm));
    const char *p[] = {title, count, text};
    /* one statement: the quiz row and its questions commit together */
    r = db_exec(db,
                "WITH qz AS (INSERT INTO quizzes (title, question_count) VALUES ($1, $2::int) "
                "RETURNING quiz_id), qs AS (INSERT INTO questions (quiz_id, idx, text, choices, "
                "answer, time_limit_s, kind, image, image_alt) SELECT qz.quiz_id, "
                "(t.ord - 1)::int, t.q->>'text', t.q->'choices', t.q->>'answer', "
                "(t.q->>'time_limit_s')::int, t.q->>'kind', t.q->>'image', t.q->>'image_alt' "
                "FROM qz, jsonb_array_elements($3::jsonb) WITH ORDINALITY AS t(q, ord)) "
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
