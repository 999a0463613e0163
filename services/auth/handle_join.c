/*
 * handle_join: qw.auth.join. Admits a student to a session by sid or join
 * code: checks the id and name (stored exactly as given, never
 * interpreted), refuses an id already taken unless the request carries
 * that student's own valid token (the same browser re-joining), an ended
 * session and a full one, commits the student row, then signs a token that
 * names sid, student_id and the session's reset epoch and publishes
 * lobby_update on qw.evt.<sid>. Runs on the auth workers.
 */
#include "auth.h"

#include "bus.h"
#include "clock.h"
#include "log.h"
#include "reply.h"
#include "subjects.h"
#include "text.h"
#include "token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The sid the request names (borrowed from req or copied into buf), or
 * NULL after setting *err. */
static const char *find_session(struct db *db, json_t *req, char *buf, size_t n, json_t **err) {
    const char *sid = json_string_value(json_object_get(req, "sid"));
    const char *code = json_string_value(json_object_get(req, "join_code"));
    if (sid && *sid && strlen(sid) <= 64) return sid;
    if (!code || strlen(code) != 6 || strspn(code, "0123456789") != 6) {
        *err = reply_error(400, "bad_field", "give a sid or a 6-digit join_code");
        return NULL;
    }
    PGresult *r = db_exec(db, "SELECT sid FROM sessions WHERE join_code = $1 AND state <> 'ended'",
                          1, (const char *[]){code});
    if (!r) {
        *err = reply_error(503, "db_unavailable", "the join could not be checked; try again");
        return NULL;
    }
    if (PQntuples(r) == 0) {
        *err = reply_error(404, "unknown_session", "no running session has that join code");
        PQclear(r);
        return NULL;
    }
    snprintf(buf, n, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return buf;
}

json_t *handle_join(void *ctx, struct db *db, json_t *req) {
    struct auth *a = ctx;
    json_t *reply = NULL, *claims = NULL, *mine = NULL;
    char *token = NULL;
    PGresult *r = NULL;
    int began = 0;
    char sidbuf[80], epoch[24], players[24] = "0";
    const char *st = json_string_value(json_object_get(req, "student_id"));
    const char *name = json_string_value(json_object_get(req, "name"));
    const char *given = json_string_value(json_object_get(req, "token"));
    long stlen = text_codepoints(st), namelen = text_codepoints(name);
    if (stlen < 1 || stlen > TEXT_ID_MAX_CHARS)
        return reply_error(400, "bad_field", "student_id must be 1 to 64 printable characters");
    if (namelen < 1 || namelen > 40)
        return reply_error(400, "bad_field", "name must be 1 to 40 printable characters");
    const char *sid = find_session(db, req, sidbuf, sizeof(sidbuf), &reply);
    if (!sid) return reply;

    if (db_cmd(db, "BEGIN", 0, NULL) != 0) goto unavailable;
    began = 1;
    r = db_exec(db, "SELECT state, epoch FROM sessions WHERE sid = $1", 1, (const char *[]){sid});
    if (!r) goto unavailable;
    if (PQntuples(r) == 0) {
        reply = reply_error(404, "unknown_session", "there is no such session");
        goto cleanup;
    }
    if (strcmp(PQgetvalue(r, 0, 0), "ended") == 0) {
        reply = reply_error(409, "session_ended", "this session has ended");
        goto cleanup;
    }
    snprintf(epoch, sizeof(epoch), "%s", PQgetvalue(r, 0, 1));
    PQclear(r);
    const char *p[] = {sid, st, name, epoch};
    r = db_exec(db, "SELECT 1 FROM students WHERE sid = $1 AND student_id = $2", 2, p);
    if (!r) goto unavailable;
    int taken = PQntuples(r) == 1;
    PQclear(r);
    r = NULL;
    if (taken) {
        /* the same browser (its own valid token) may join again */
        mine = given ? auth_verify_token(a, db, given, "student", sid) : NULL;
        const char *who = json_string_value(json_object_get(mine, "student_id"));
        if (!mine || !json_is_true(json_object_get(mine, "ok")) || !who || strcmp(who, st) != 0) {
            reply = reply_error(409, "student_id_taken",
                                "this student id has already joined this session");
            goto cleanup;
        }
        name = json_string_value(json_object_get(mine, "name"));
    } else {
        /* One statement checks the state and the cap and counts the
         * player; the row lock it takes lines up the joins of one session
         * (and a reset) until COMMIT, so the cap holds exactly and the
         * epoch is the one the student row gets. */
        char max[24];
        snprintf(max, sizeof(max), "%ld", a->max_students);
        r = db_exec(db,
                    "UPDATE sessions SET players = players + 1 WHERE sid = $1 AND state <> 'ended'"
                    " AND players < $2::int RETURNING players, epoch, state",
                    2, (const char *[]){sid, max});
        if (!r) goto unavailable;
        if (PQntuples(r) == 0) {
            PQclear(r);
            r = db_exec(db, "SELECT state FROM sessions WHERE sid = $1", 1, (const char *[]){sid});
            if (!r) goto unavailable;
            if (PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "ended") == 0)
                reply = reply_error(409, "session_ended", "this session has ended");
            else
                reply = reply_error(409, "session_full", "this session is full (%ld students)",
                                    a->max_students);
            goto cleanup;
        }
        snprintf(players, sizeof(players), "%s", PQgetvalue(r, 0, 0));
        snprintf(epoch, sizeof(epoch), "%s", PQgetvalue(r, 0, 1));
        PQclear(r);
        r = db_exec(
            db,
            "INSERT INTO students (sid, student_id, name, epoch) VALUES ($1, $2, $3, $4::int)"
            " ON CONFLICT DO NOTHING RETURNING 1",
            4, p);
        if (!r) goto unavailable;
        if (PQntuples(r) == 0) { /* the same id joined from elsewhere meanwhile */
            reply = reply_error(409, "student_id_taken",
                                "this student id has already joined this session");
            goto cleanup;
        }
    }
    if (db_cmd(db, "COMMIT", 0, NULL) != 0) goto unavailable;
    began = 0;
    claims = json_pack("{s:s,s:s,s:s,s:I,s:I}", "k", "s", "sid", sid, "st", st, "e",
                       (json_int_t)strtoll(epoch, NULL, 10), "exp",
                       (json_int_t)(clock_wall_ms() / 1000 + a->student_ttl_s));
    token = token_sign(a->key, a->keylen, claims);
    if (!token) goto cleanup;
    reply = json_pack("{s:b,s:s,s:s,s:s,s:s,s:I}", "ok", 1, "sid", sid, "student_id", st, "name",
                      name, "token", token, "max_age_s", (json_int_t)a->student_ttl_s);
    if (!taken) {
        char subject[128];
        snprintf(subject, sizeof(subject), SUBJ_EVENT_PREFIX "%s", sid);
        json_t *evt = json_pack("{s:s,s:I,s:s}", "type", "lobby_update", "players",
                                (json_int_t)strtoll(players, NULL, 10), "name", name);
        bus_publish(a->d.nc, subject, evt);
        json_decref(evt);
        LOG_INFO("student_joined", "sid=%s players=%s", sid, players);
    } else {
        LOG_INFO("student_rejoined", "sid=%s", sid);
    }
    goto cleanup;
unavailable:
    json_decref(reply);
    reply = reply_error(503, "db_unavailable", "the join could not be recorded; try again");
cleanup:
    if (began) db_cmd(db, "ROLLBACK", 0, NULL);
    PQclear(r);
    free(token);
    json_decref(claims);
    json_decref(mine);
    return reply;
}
