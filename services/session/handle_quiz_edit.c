/*
 * handle_quiz_edit: the console's quiz editor (qw.session.query.quiz_get,
 * quiz_put, quiz_duplicate, quiz_delete, quiz_validate; issue 18).
 *
 * A quizzes row is one version (db/migrations/010_quiz_versions.sql). A
 * version no session has used is edited in place; a version a session has
 * used is never changed: saving it stores a new row that replaces it in the
 * list, so old sessions keep the questions they played and their results.
 * Every pool goes through pool_check_stored (handle_quiz.c): the one
 * validation (shared/quiz_json.c) and its pictures stored.
 * Runs on the session daemon's query workers; never changes a session.
 */
#include "log.h"
#include "quiz.h"
#include "reply.h"
#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *bad_id(void) {
    return reply_error(404, "unknown_quiz", "there is no such quiz");
}

static json_t *db_down(void) {
    return reply_error(503, "db_unavailable", "the quiz could not be read or stored; try again");
}

json_t *handle_quiz_get(void *ctx, struct db *db, json_t *req) {
    (void)ctx;
    char qid[32];
    if (quiz_id_text(json_object_get(req, "quiz_id"), qid, sizeof(qid)) != 0) return bad_id();
    /* every column of a question but its keys, nulls left out: the pool
     * JSON as it was stored, whatever fields the questions table has */
    PGresult *r =
        db_exec(db,
                "SELECT q.quiz_id, q.title, q.version, q.replaced_by, "
                "EXISTS (SELECT 1 FROM sessions s WHERE s.quiz_id = q.quiz_id), "
                "to_char(q.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
                "COALESCE((SELECT jsonb_agg(jsonb_strip_nulls(to_jsonb(x) - 'quiz_id' - 'idx') "
                "ORDER BY x.idx) FROM questions x WHERE x.quiz_id = q.quiz_id), '[]')::text "
                "FROM quizzes q WHERE q.quiz_id = $1::bigint AND q.deleted_at IS NULL",
                1, (const char *[]){qid});
    if (!r) return db_down();
    json_t *reply = NULL;
    if (PQntuples(r) != 1) {
        reply = bad_id();
        goto cleanup;
    }
    json_t *questions = json_loads(PQgetvalue(r, 0, 6), 0, NULL);
    if (!questions) {
        reply = db_down();
        goto cleanup;
    }
    /* a multi's stored answer "AC" is the pool format's "answers": ["A","C"] */
    size_t i;
    json_t *q;
    json_array_foreach(questions, i, q) {
        if (strcmp(json_string_value(json_object_get(q, "kind")) ?: "", "multi") != 0) continue;
        json_object_set_new(q, "answers",
                            quiz_set_json(json_string_value(json_object_get(q, "answer"))));
        json_object_del(q, "answer");
    }
    reply = json_pack(
        "{s:b,s:I,s:s,s:I,s:b,s:s,s:o}", "ok", 1, "quiz_id",
        (json_int_t)strtoll(PQgetvalue(r, 0, 0), NULL, 10), "title", PQgetvalue(r, 0, 1), "version",
        (json_int_t)strtoll(PQgetvalue(r, 0, 2), NULL, 10), "played", PQgetvalue(r, 0, 4)[0] == 't',
        "updated", PQgetvalue(r, 0, 5), "questions", questions);
    if (reply && db_val(r, 0, 3))
        json_object_set_new(reply, "replaced_by",
                            json_integer(strtoll(PQgetvalue(r, 0, 3), NULL, 10)));
cleanup:
    PQclear(r);
    return reply;
}

/* Stores the normalised questions (JSON text) as quiz `qid`'s, in tx: each
 * question object becomes a questions row by its field names. */
static int store_questions(struct db_tx *tx, const char *qid, const char *norm) {
    return db_tx_cmd(
        tx,
        "INSERT INTO questions SELECT * FROM jsonb_populate_recordset(NULL::questions, "
        "(SELECT jsonb_agg(e.q || jsonb_build_object('quiz_id', $1::bigint, 'idx', "
        "e.ord - 1)) FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS e(q, ord)))",
        2, (const char *[]){qid, norm});
}

json_t *handle_quiz_put(void *ctx, struct db *db, json_t *req) {
    (void)ctx;
    char qid[32], count[16], newid[32] = "";
    const char *title = NULL;
    json_t *norm = NULL, *reply = NULL;
    char *text = NULL;
    PGresult *r = NULL;
    struct db_tx tx = {0};
    if (quiz_id_text(json_object_get(req, "quiz_id"), qid, sizeof(qid)) != 0) {
        reply = bad_id();
        goto cleanup;
    }
    reply = pool_check_stored(db, req, &title, &norm, &text);
    if (reply) goto cleanup;
    snprintf(count, sizeof(count), "%zu", json_array_size(norm));
    if (db_tx_begin(db, &tx) != 0) {
        reply = db_down();
        goto cleanup;
    }
    /* the row lock waits for a session being created from it (its foreign
     * key locks the row too), so "played" cannot change under this save */
    r = db_tx_exec(&tx,
                   "SELECT q.replaced_by, EXISTS (SELECT 1 FROM sessions s WHERE s.quiz_id = "
                   "q.quiz_id), q.version, COALESCE(q.family_id, q.quiz_id) FROM quizzes q "
                   "WHERE q.quiz_id = $1::bigint AND q.deleted_at IS NULL FOR UPDATE",
                   1, (const char *[]){qid});
    if (!r) {
        reply = db_down();
        goto cleanup;
    }
    if (PQntuples(r) != 1) {
        reply = bad_id();
        goto cleanup;
    }
    if (db_val(r, 0, 0)) {
        reply = reply_error(409, "quiz_replaced",
                            "this version was replaced by quiz %s; open that one to edit it",
                            PQgetvalue(r, 0, 0));
        json_object_set_new(reply, "replaced_by",
                            json_integer(strtoll(PQgetvalue(r, 0, 0), NULL, 10)));
        goto cleanup;
    }
    int played = PQgetvalue(r, 0, 1)[0] == 't';
    long long version = strtoll(PQgetvalue(r, 0, 2), NULL, 10) + 1;
    char family[32], ver[24];
    snprintf(family, sizeof(family), "%s", PQgetvalue(r, 0, 3));
    snprintf(ver, sizeof(ver), "%lld", version);
    PQclear(r);
    r = NULL;
    if (played) {
        /* a new row; the played one stays as it was, marked replaced */
        r = db_tx_exec(&tx,
                       "INSERT INTO quizzes (title, question_count, family_id, version) "
                       "VALUES ($1, $2::int, $3::bigint, $4::int) RETURNING quiz_id",
                       4, (const char *[]){title, count, family, ver});
        if (r && PQntuples(r) == 1) snprintf(newid, sizeof(newid), "%s", PQgetvalue(r, 0, 0));
        if (newid[0]) store_questions(&tx, newid, text);
        if (newid[0])
            db_tx_cmd(&tx, "UPDATE quizzes SET replaced_by = $2::bigint WHERE quiz_id = $1::bigint",
                      2, (const char *[]){qid, newid});
    } else {
        snprintf(newid, sizeof(newid), "%s", qid);
        db_tx_cmd(&tx, "DELETE FROM questions WHERE quiz_id = $1::bigint", 1,
                  (const char *[]){qid});
        store_questions(&tx, qid, text);
        db_tx_cmd(&tx,
                  "UPDATE quizzes SET title = $2, question_count = $3::int, version = $4::int, "
                  "updated_at = now() WHERE quiz_id = $1::bigint",
                  4, (const char *[]){qid, title, count, ver});
    }
    if (!newid[0] || db_tx_commit(&tx) != 0) {
        reply = db_down();
        goto cleanup;
    }
    reply = json_pack("{s:b,s:I,s:s,s:I,s:I,s:b}", "ok", 1, "quiz_id",
                      (json_int_t)strtoll(newid, NULL, 10), "title", title, "question_count",
                      (json_int_t)json_array_size(norm), "version", (json_int_t)version,
                      "new_version", played);
    if (reply && played)
        json_object_set_new(reply, "replaces", json_integer(strtoll(qid, NULL, 10)));
    LOG_INFO("quiz_saved", "quiz_id=%s saved_as=%s version=%lld kept_played=%d questions=%zu", qid,
             newid, version, played, json_array_size(norm));
cleanup:
    PQclear(r);
    db_tx_rollback(&tx);
    free(text);
    json_decref(norm);
    return reply;
}

json_t *handle_quiz_duplicate(void *ctx, struct db *db, json_t *req) {
    (void)ctx;
    char qid[32];
    if (quiz_id_text(json_object_get(req, "quiz_id"), qid, sizeof(qid)) != 0) return bad_id();
    /* one statement: the copy and its questions (every column) commit
     * together; the title gains " (copy)" while it stays within 200 bytes */
    PGresult *r = db_exec(
        db,
        "WITH src AS (SELECT title, question_count FROM quizzes WHERE quiz_id = $1::bigint "
        "AND deleted_at IS NULL), nq AS (INSERT INTO quizzes (title, question_count) "
        "SELECT CASE WHEN octet_length(title) <= 193 THEN title || ' (copy)' ELSE title END, "
        "question_count FROM src RETURNING quiz_id, title, question_count), "
        "qs AS (INSERT INTO questions SELECT (jsonb_populate_record(x, "
        "jsonb_build_object('quiz_id', nq.quiz_id))).* FROM questions x, nq "
        "WHERE x.quiz_id = $1::bigint) SELECT quiz_id, title, question_count FROM nq",
        1, (const char *[]){qid});
    if (!r) return db_down();
    json_t *reply;
    if (PQntuples(r) != 1) {
        reply = bad_id();
    } else {
        reply =
            json_pack("{s:b,s:I,s:s,s:I,s:I}", "ok", 1, "quiz_id",
                      (json_int_t)strtoll(PQgetvalue(r, 0, 0), NULL, 10), "title",
                      PQgetvalue(r, 0, 1), "question_count",
                      (json_int_t)strtoll(PQgetvalue(r, 0, 2), NULL, 10), "version", (json_int_t)1);
        LOG_INFO("quiz_duplicated", "quiz_id=%s copy=%s", qid, PQgetvalue(r, 0, 0));
    }
    PQclear(r);
    return reply;
}

json_t *handle_quiz_delete(void *ctx, struct db *db, json_t *req) {
    (void)ctx;
    char qid[32];
    if (quiz_id_text(json_object_get(req, "quiz_id"), qid, sizeof(qid)) != 0) return bad_id();
    /* hides every version of the quiz; the rows stay for the results of
     * the sessions that played them */
    PGresult *r = db_exec(db,
                          "WITH f AS (SELECT COALESCE(family_id, quiz_id) AS fam FROM quizzes "
                          "WHERE quiz_id = $1::bigint AND deleted_at IS NULL) "
                          "UPDATE quizzes q SET deleted_at = now() FROM f "
                          "WHERE COALESCE(q.family_id, q.quiz_id) = f.fam AND q.deleted_at IS NULL "
                          "RETURNING q.quiz_id",
                          1, (const char *[]){qid});
    if (!r) return db_down();
    json_t *reply = PQntuples(r) == 0 ? bad_id()
                                      : json_pack("{s:b,s:I,s:b}", "ok", 1, "quiz_id",
                                                  (json_int_t)strtoll(qid, NULL, 10), "deleted", 1);
    if (PQntuples(r) > 0) LOG_INFO("quiz_deleted", "quiz_id=%s versions=%d", qid, PQntuples(r));
    PQclear(r);
    return reply;
}

json_t *handle_quiz_validate(void *ctx, struct db *db, json_t *req) {
    (void)ctx;
    (void)db;
    const char *title = NULL;
    json_t *norm = NULL;
    char *text = NULL;
    json_t *reply = pool_check_stored(db, req, &title, &norm, &text);
    if (!reply)
        reply = json_pack("{s:b,s:s,s:I}", "ok", 1, "title", title, "question_count",
                          (json_int_t)json_array_size(norm));
    free(text);
    json_decref(norm);
    return reply;
}
