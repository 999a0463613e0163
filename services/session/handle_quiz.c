/*
 * handle_quiz: question pools (qw.session.query.quiz_create, quiz_list).
 *
 * Checks a pool against every rule of SPEC §2 before anything is written,
 * refuses a bad pool whole with 400 invalid_pool naming the 1-based
 * question and the field, and stores a good one (quiz + questions) in one
 * statement, so a pool is either wholly in Postgres or not at all.
 * Runs on the session daemon's query workers; never changes a session.
 */
#include "image.h"
#include "log.h"
#include "reply.h"
#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POOL_MAX_QUESTIONS 500
#define POOL_TITLE_MAX 200
#define POOL_DEFAULT_LIMIT_S 20
#define POOL_IMAGE_ALT_MAX 300

/* A refusal of question `n` with the field it names beside the message,
 * so the editor can show it next to that field. */
static json_t *field_error(int n, const char *field, const char *message) {
    json_t *e = reply_error(400, "invalid_pool", "question %d: %s: %s", n, field, message);
    json_object_set_new(e, "question", json_integer(n));
    json_object_set_new(e, "field", json_string(field));
    return e;
}

/* The picture of question `n` (issue 18, format18 `image`): absent or null,
 * or the id of an uploaded picture, with an optional `image_alt` text; the
 * id is copied into the normalised question `norm`. Whether the picture is
 * stored is checked with the whole pool (unknown_image). Returns NULL or the
 * error reply (caller owns). */
static json_t *check_image(json_t *q, int n, json_t *norm) {
    json_t *image = json_object_get(q, "image"), *alt = json_object_get(q, "image_alt");
    if (!image || json_is_null(image)) return NULL;
    if (!image_id_valid(json_string_value(image)))
        return field_error(n, "image", "must be the id of an uploaded picture (64 lowercase hex)");
    json_object_set(norm, "image", image);
    if (!alt || json_is_null(alt)) return NULL;
    if (!json_is_string(alt) || json_string_length(alt) > POOL_IMAGE_ALT_MAX)
        return field_error(n, "image_alt", "must be a text of at most 300 bytes");
    json_object_set(norm, "image_alt", alt);
    return NULL;
}

/* Checks one question (borrowed) and appends its normalised form to `out`.
 * Returns NULL, or the error reply (caller owns) naming question `n`. */
static json_t *check_question(json_t *q, int n, json_t *out) {
    static const char *const labels[] = {"A", "B", "C", "D"};
    if (!json_is_object(q))
        return reply_error(400, "invalid_pool", "question %d: must be an object", n);
    json_t *text = json_object_get(q, "text");
    if (!json_is_string(text) || json_string_length(text) == 0)
        return reply_error(400, "invalid_pool", "question %d: text must be a non-empty string", n);
    json_t *choices = json_object_get(q, "choices");
    if (!json_is_array(choices) || json_array_size(choices) < 2 || json_array_size(choices) > 4)
        return reply_error(400, "invalid_pool",
                           "question %d: choices must be a list of 2 to 4 entries", n);
    size_t nc = json_array_size(choices);
    for (size_t i = 0; i < nc; i++) {
        json_t *c = json_array_get(choices, i);
        if (!json_is_string(c) || json_string_length(c) == 0)
            return reply_error(400, "invalid_pool",
                               "question %d: choice %s must be a non-empty string", n, labels[i]);
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
        if (!a)
            return reply_error(400, "invalid_pool", "question %d: answer must be one of %s", n,
                               allowed);
        return reply_error(400, "invalid_pool", "question %d: answer \"%.16s\" is not one of %s", n,
                           a, allowed);
    }
    json_int_t limit = POOL_DEFAULT_LIMIT_S;
    json_t *tl = json_object_get(q, "time_limit_s");
    if (tl && !json_is_null(tl)) {
        if (!json_is_integer(tl) || json_integer_value(tl) < 5 || json_integer_value(tl) > 600)
            return reply_error(400, "invalid_pool",
                               "question %d: time_limit_s must be a whole number from 5 to 600", n);
        limit = json_integer_value(tl);
    }
    json_t *norm = json_pack("{s:O,s:O,s:s,s:I}", "text", text, "choices", choices, "answer", a,
                             "time_limit_s", limit);
    json_array_append_new(out, norm);
    return check_image(q, n, norm);
}

/* The pool's normalised question list into *out (caller owns), or the
 * error reply. */
static json_t *check_pool(json_t *pool, const char **title, json_t **out) {
    *out = NULL;
    json_t *t = json_object_get(pool, "title");
    if (t && !json_is_null(t) && !json_is_string(t))
        return reply_error(400, "invalid_pool", "title must be a string");
    *title = json_string_value(t) && *json_string_value(t) ? json_string_value(t) : "Untitled quiz";
    if (json_is_string(t) && json_string_length(t) > POOL_TITLE_MAX)
        return reply_error(400, "invalid_pool", "title must be at most %d bytes", POOL_TITLE_MAX);
    json_t *qs = json_object_get(pool, "questions");
    if (!json_is_array(qs) || json_array_size(qs) == 0)
        return reply_error(400, "invalid_pool",
                           "questions must be a list of at least one question");
    if (json_array_size(qs) > POOL_MAX_QUESTIONS)
        return reply_error(400, "invalid_pool", "questions: at most %d questions, got %zu",
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

json_t *handle_quiz_create(void *ctx, struct db *db, json_t *req) {
    (void)ctx;
    const char *title = NULL;
    json_t *norm = NULL, *reply = NULL;
    char *text = NULL;
    PGresult *r = NULL;
    reply = check_pool(req, &title, &norm);
    if (reply) goto cleanup;
    text = json_dumps(norm, JSON_COMPACT);
    if (!text) goto cleanup;
    int db_failed = 0;
    reply = check_images_stored(db, text, &db_failed);
    if (reply) goto cleanup;
    if (db_failed) {
        reply = reply_error(503, "db_unavailable", "the pool could not be stored; try again");
        goto cleanup;
    }
    char count[16];
    snprintf(count, sizeof(count), "%zu", json_array_size(norm));
    const char *p[] = {title, count, text};
    /* one statement: the quiz row and its questions commit together */
    r = db_exec(db,
                "WITH qz AS (INSERT INTO quizzes (title, question_count) VALUES ($1, $2::int) "
                "RETURNING quiz_id), qs AS (INSERT INTO questions (quiz_id, idx, text, choices, "
                "answer, time_limit_s, image, image_alt) SELECT qz.quiz_id, (t.ord - 1)::int, "
                "t.q->>'text', t.q->'choices', t.q->>'answer', (t.q->>'time_limit_s')::int, "
                "t.q->>'image', t.q->>'image_alt' FROM qz, "
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
    PGresult *r =
        db_exec(db,
                "SELECT quiz_id, title, question_count, "
                "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
                "FROM quizzes ORDER BY quiz_id DESC LIMIT 1000",
                0, NULL);
    if (!r) return reply_error(503, "db_unavailable", "the pools could not be read; try again");
    json_t *list = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_array_append_new(list, json_pack("{s:I,s:s,s:I,s:s}", "quiz_id",
                                              (json_int_t)strtoll(PQgetvalue(r, i, 0), NULL, 10),
                                              "title", PQgetvalue(r, i, 1), "question_count",
                                              (json_int_t)strtoll(PQgetvalue(r, i, 2), NULL, 10),
                                              "created_at", PQgetvalue(r, i, 3)));
    }
    PQclear(r);
    return json_pack("{s:b,s:o}", "ok", 1, "quizzes", list);
}
