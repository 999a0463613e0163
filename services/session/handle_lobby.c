/*
 * handle_lobby: who may play (qw.session.query.lock, two_step, remove,
 * shapes). The instructor locks the lobby (auth then admits no new
 * student; those already in rejoin), turns the two-step join on or off,
 * reads the shapes the projector shows, and removes a player: the student
 * row is flagged (auth refuses its tokens and its id from then on), its
 * answers are deleted, the player count falls, and `student_removed`
 * tells every gateway to close that student's sockets. Runs on the query
 * workers; each change is one statement or one transaction on the
 * session's row lock, so it lines up with joins, submits and the
 * lifecycle.
 */
#include "bus.h"
#include "clock.h"
#include "log.h"
#include "quiz.h"
#include "reply.h"
#include "session.h"
#include "shapes.h"
#include "subjects.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The request's sid, or NULL when it is not a plausible one. */
static const char *sid_of(json_t *req) {
    const char *sid = json_string_value(json_object_get(req, "sid"));
    return sid && *sid && strlen(sid) <= 64 ? sid : NULL;
}

/* Runs `sql` (one of this file's literals: $1 sid, $2 the flag) and
 * answers <state>. */
static json_t *set_flag(void *ctx, struct db *db, json_t *req, const char *sql, int on,
                        const char *event) {
    const char *sid = sid_of(req);
    if (!sid) return reply_error(400, "bad_field", "sid must be a session id");
    const char *p[] = {sid, on ? "true" : "false"};
    PGresult *r = db_exec(db, sql, 2, p);
    if (!r)
        return reply_error(503, "db_unavailable", "the session could not be changed; try again");
    int found = PQntuples(r) == 1;
    PQclear(r);
    if (!found) return reply_error(404, "unknown_session", "there is no such session");
    LOG_INFO(event, "sid=%s on=%d", sid, on);
    return handle_session_get(ctx, db, req);
}

json_t *handle_lobby_lock(void *ctx, struct db *db, json_t *req) {
    json_t *v = json_object_get(req, "locked");
    if (!json_is_boolean(v)) return reply_error(400, "bad_field", "locked must be true or false");
    return set_flag(ctx, db, req,
                    "UPDATE sessions SET locked = $2::boolean WHERE sid = $1 RETURNING 1",
                    json_is_true(v), "lobby_lock");
}

json_t *handle_lobby_two_step(void *ctx, struct db *db, json_t *req) {
    json_t *v = json_object_get(req, "on");
    if (!json_is_boolean(v)) return reply_error(400, "bad_field", "on must be true or false");
    return set_flag(ctx, db, req,
                    "UPDATE sessions SET two_step = $2::boolean WHERE sid = $1 RETURNING 1",
                    json_is_true(v), "lobby_two_step");
}

json_t *handle_lobby_shapes(void *ctx, struct db *db, json_t *req) {
    (void)ctx;
    const char *sid = sid_of(req);
    if (!sid) return reply_error(400, "bad_field", "sid must be a session id");
    PGresult *r = db_exec(db, "SELECT two_step, two_step_key FROM sessions WHERE sid = $1", 1,
                          (const char *[]){sid});
    if (!r) return reply_error(503, "db_unavailable", "the session could not be read; try again");
    json_t *reply = NULL;
    if (PQntuples(r) == 0) {
        reply = reply_error(404, "unknown_session", "there is no such session");
        goto cleanup;
    }
    long long now = clock_wall_ms();
    int on = strcmp(PQgetvalue(r, 0, 0), "t") == 0, s[SHAPES_LEN];
    json_t *shapes = json_null();
    if (on && shapes_at(PQgetvalue(r, 0, 1), now / SHAPES_WINDOW_MS, s) == 0)
        shapes = shapes_json(s);
    reply = json_pack("{s:b,s:s,s:b,s:o,s:i,s:I}", "ok", 1, "sid", sid, "two_step", on, "shapes",
                      shapes, "window_ms", SHAPES_WINDOW_MS, "changes_in_ms",
                      (json_int_t)(SHAPES_WINDOW_MS - now % SHAPES_WINDOW_MS));
cleanup:
    PQclear(r);
    return reply;
}

/* Publishes `ev` (borrowed) on qw.evt.<sid>. */
static void publish(struct session_daemon *sd, const char *sid, json_t *ev) {
    char subject[128];
    if (ev && quiz_event_subject(subject, sizeof(subject), sid) == 0)
        bus_publish(sd->d.nc, subject, ev);
}

json_t *handle_lobby_remove(void *ctx, struct db *db, json_t *req) {
    struct session_daemon *sd = ctx;
    const char *sid = sid_of(req);
    const char *st = json_string_value(json_object_get(req, "student_id"));
    json_t *reply = NULL;
    PGresult *r = NULL;
    struct db_tx tx = {0};
    if (!sid) return reply_error(400, "bad_field", "sid must be a session id");
    if (!st || !*st || strlen(st) > 256)
        return reply_error(400, "bad_field", "student_id must be the id of a student");
    const char *p[] = {sid, st};
    if (db_tx_begin(db, &tx) != 0) goto unavailable;
    /* the row lock lines the removal up with joins, submit batches and
     * closes of this session */
    r = db_tx_exec(&tx, "SELECT 1 FROM sessions WHERE sid = $1 FOR UPDATE", 1, p);
    if (!r) goto unavailable;
    if (PQntuples(r) == 0) {
        reply = reply_error(404, "unknown_session", "there is no such session");
        goto cleanup;
    }
    PQclear(r);
    r = db_tx_exec(&tx,
                   "UPDATE students SET removed_at = now() WHERE sid = $1 AND student_id = $2"
                   " AND removed_at IS NULL RETURNING 1",
                   2, p);
    if (!r) goto unavailable;
    if (PQntuples(r) == 0) {
        PQclear(r);
        r = db_tx_exec(&tx, "SELECT 1 FROM students WHERE sid = $1 AND student_id = $2", 2, p);
        if (!r) goto unavailable;
        reply =
            PQntuples(r) == 1
                ? reply_error(409, "student_removed", "this student was already removed")
                : reply_error(404, "unknown_student", "no student with that id is in this session");
        goto cleanup;
    }
    PQclear(r);
    r = NULL;
    if (db_tx_cmd(&tx, "DELETE FROM answers WHERE sid = $1 AND student_id = $2", 2, p) != 0)
        goto unavailable;
    r = db_tx_exec(&tx,
                   "UPDATE sessions SET players = GREATEST(players - 1, 0) WHERE sid = $1"
                   " RETURNING players",
                   1, p);
    if (!r || PQntuples(r) != 1) goto unavailable;
    json_int_t players = (json_int_t)strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    if (db_tx_commit(&tx) != 0) goto unavailable;
    /* every gateway closes the student's sockets; everyone sees the count */
    json_t *ev = quiz_ev_student_removed(st, players);
    publish(sd, sid, ev);
    json_decref(ev);
    ev = quiz_ev_lobby_update(players, NULL, NULL);
    publish(sd, sid, ev);
    json_decref(ev);
    LOG_INFO("student_removed", "sid=%s players=%lld", sid, (long long)players);
    reply =
        json_pack("{s:b,s:s,s:s,s:I}", "ok", 1, "sid", sid, "student_id", st, "players", players);
    goto cleanup;
unavailable:
    json_decref(reply);
    reply = reply_error(503, "db_unavailable", "the student could not be removed; try again");
cleanup:
    db_tx_rollback(&tx);
    PQclear(r);
    return reply;
}
