/*
 * session: the session daemon's shared declarations.
 *
 * Two kinds of work: queries (quizzes, session create/list/get, snapshots)
 * that any instance answers from Postgres on `service` worker threads, and
 * lifecycle commands and timers that only the instance holding the lease
 * performs, on one thread (lifecycle.c with lease.c, timers.c,
 * transitions.c and handle_cmd.c, which share lifecycle.h).
 */
#ifndef QW_SESSION_H
#define QW_SESSION_H

#include "daemon.h"
#include "db.h"

#include <jansson.h>

struct session_daemon {
    struct daemon d;      /* NATS connection, ops listener */
    const char *db_url;   /* QW_DB_URL */
    struct lifecycle *lc; /* lease, commands, timers (lifecycle.c) */
};

/* handle_quiz.c: pools. Requests are borrowed; replies are new. */
json_t *handle_quiz_create(void *ctx, struct db *db, json_t *req);
json_t *handle_quiz_list(void *ctx, struct db *db, json_t *req);
/* Checks a pool (borrowed) with quiz_pool_check (shared/quiz_json.c, the
 * one validation) and that every picture it names is stored. Returns NULL
 * with *out its normalised question list (caller owns), *text that list as
 * compact JSON (caller frees; it is what gets stored) and *title its title
 * (borrowed from `pool`, or a constant), or the reply (caller owns): 400
 * invalid_pool with `question` (1-based, absent for the pool itself) and
 * `field`, or 503; *out and *text are NULL then. */
json_t *pool_check_stored(struct db *db, json_t *pool, const char **title, json_t **out,
                          char **text);

/* handle_quiz_edit.c: the console's editor: one quiz's pool, replace (a
 * played version is kept and a new one stored), duplicate, delete (hidden),
 * validate (the check alone, nothing stored). */
json_t *handle_quiz_get(void *ctx, struct db *db, json_t *req);
json_t *handle_quiz_put(void *ctx, struct db *db, json_t *req);
json_t *handle_quiz_duplicate(void *ctx, struct db *db, json_t *req);
json_t *handle_quiz_delete(void *ctx, struct db *db, json_t *req);
json_t *handle_quiz_validate(void *ctx, struct db *db, json_t *req);

/* handle_sessions.c: session rows. */
/* A quiz id (a JSON integer > 0, or a string of 1..18 digits: the path's)
 * as decimal text into buf; -1 when it is not one. */
int quiz_id_text(json_t *v, char *buf, size_t n);
json_t *handle_session_create(void *ctx, struct db *db, json_t *req);
/* The <state> object of one session (new reference), with `seq` and the
 * question's timing when `with_timing` (command replies); NULL when there
 * is no such session, or on a database error (*err = 1 then). */
json_t *session_state_read(struct db *db, const char *sid, int with_timing, int *err);
json_t *handle_session_list(void *ctx, struct db *db, json_t *req);
json_t *handle_session_get(void *ctx, struct db *db, json_t *req);

/* handle_lobby.c: who may play: lock, two-step join, its shapes, remove. */
json_t *handle_lobby_lock(void *ctx, struct db *db, json_t *req);
json_t *handle_lobby_two_step(void *ctx, struct db *db, json_t *req);
json_t *handle_lobby_shapes(void *ctx, struct db *db, json_t *req);
json_t *handle_lobby_remove(void *ctx, struct db *db, json_t *req);

/* handle_image.c: pictures of questions (qw.image.put, qw.image.get). */
json_t *handle_image_put(void *ctx, struct db *db, json_t *req);
json_t *handle_image_get(void *ctx, struct db *db, json_t *req);

/* Adds a question's picture to `obj` (a question_open event or a
 * snapshot's question) as plain extra fields: "image" (the id) and
 * "image_alt" when set. NULL image (no picture) adds nothing. */
void question_image_add(json_t *obj, const char *image, const char *image_alt);

/* handle_accommodations.c: extra time. {sid, student_id, factor} -> the
 * session's factors; accommodations_json: {"<student_id>": factor} of the
 * session (new), or NULL on a database error. */
json_t *handle_time_factor(void *ctx, struct db *db, json_t *req);
json_t *accommodations_json(struct db *db, const char *sid);

/* handle_snapshot.c: what a new or returning socket is shown. */
json_t *handle_snapshot(void *ctx, struct db *db, json_t *req);

/* main_pool.c: session `main` follows QUIZ_POOL_PATH (lifecycle thread).
 * prepare: 1 when the file changed and was stored as quiz `quiz_id` (its
 * hash in `sha`), 0 when unchanged or unset, -1 when bad (logged) or the
 * db failed. apply: in the caller's transaction, points `main` at it.
 * start: creates `main`, or gives it a changed file while in its lobby;
 * 0 when done (a bad file included), -1 to try again (db). */
int main_pool_prepare(struct session_daemon *sd, struct db *db, char quiz_id[32], char sha[65]);
int main_pool_apply(struct db_tx *tx, const char *quiz_id, const char *sha);
int main_pool_start(struct session_daemon *sd, struct db *db);

/* lifecycle.c: starts the lease/command/timer thread (which has
 * main_pool_start load QUIZ_POOL_PATH). Returns NULL after logging. */
struct lifecycle *lifecycle_start(struct session_daemon *sd);
void lifecycle_stop(struct lifecycle *lc);

#endif
