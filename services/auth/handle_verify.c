/*
 * handle_verify: qw.auth.verify. A token is honoured only when its
 * signature and expiry hold (token.c) and Postgres still agrees: an admin
 * login not revoked, a student still in a session whose reset epoch is
 * the token's and not removed by the instructor. Any failure is the same
 * 401 `unauthorized`, so nothing is learnt from probing; only a validly
 * signed token of a removed student adds "reason":"removed" (a gateway
 * closes that socket 4003 after a NATS reconnect). Runs on the auth
 * workers.
 */
#include "auth.h"

#include "clock.h"
#include "reply.h"
#include "token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *unauthorized(void) {
    return reply_error(401, "unauthorized", "the token is missing, invalid, expired or revoked");
}

static json_t *verify_admin(struct db *db, json_t *claims) {
    const char *user = json_string_value(json_object_get(claims, "u"));
    const char *login = json_string_value(json_object_get(claims, "l"));
    if (!user || !login) return unauthorized();
    const char *p[] = {login, user};
    PGresult *r = db_exec(db,
                          "SELECT 1 FROM admin_logins WHERE login_id = $1 AND username = $2 "
                          "AND revoked_at IS NULL AND expires_at > now()",
                          2, p);
    if (!r) return reply_error(503, "db_unavailable", "the token could not be checked; try again");
    int live = PQntuples(r) == 1;
    PQclear(r);
    if (!live) return unauthorized();
    /* login and exp let a gateway end an admin socket at logout or expiry */
    return json_pack("{s:b,s:s,s:s,s:s,s:I}", "ok", 1, "kind", "admin", "username", user, "login",
                     login, "exp", json_integer_value(json_object_get(claims, "exp")));
}

static json_t *verify_student(struct db *db, json_t *claims, const char *want_sid) {
    const char *sid = json_string_value(json_object_get(claims, "sid"));
    const char *st = json_string_value(json_object_get(claims, "st"));
    json_t *e = json_object_get(claims, "e");
    if (!sid || !st || !json_is_integer(e)) return unauthorized();
    if (want_sid && strcmp(want_sid, sid) != 0) return unauthorized();
    char epoch[24];
    snprintf(epoch, sizeof(epoch), "%lld", (long long)json_integer_value(e));
    const char *p[] = {sid, st, epoch};
    PGresult *r = db_exec(db,
                          "SELECT st.name, st.removed_at IS NOT NULL FROM sessions s "
                          "JOIN students st ON st.sid = s.sid "
                          "WHERE s.sid = $1 AND st.student_id = $2 AND s.epoch = $3::int "
                          "AND st.epoch = s.epoch",
                          3, p);
    if (!r) return reply_error(503, "db_unavailable", "the token could not be checked; try again");
    int found = PQntuples(r) == 1, removed = found && strcmp(PQgetvalue(r, 0, 1), "t") == 0;
    json_t *reply = found && !removed
                        ? json_pack("{s:b,s:s,s:s,s:s,s:s,s:O}", "ok", 1, "kind", "student", "sid",
                                    sid, "student_id", st, "name", PQgetvalue(r, 0, 0), "epoch", e)
                        : unauthorized();
    /* a gateway closes a removed student's socket 4003 (only the holder of
     * that student's validly signed token can learn it) */
    if (removed) json_object_set_new(reply, "reason", json_string("removed"));
    PQclear(r);
    return reply;
}

json_t *auth_verify_token(struct auth *a, struct db *db, const char *token, const char *kind,
                          const char *sid) {
    json_t *claims = token_verify(a->key, a->keylen, token, clock_wall_ms() / 1000);
    if (!claims) return unauthorized();
    const char *k = json_string_value(json_object_get(claims, "k"));
    json_t *reply;
    if (k && strcmp(k, "a") == 0 && (!kind || strcmp(kind, "admin") == 0))
        reply = verify_admin(db, claims);
    else if (k && strcmp(k, "s") == 0 && (!kind || strcmp(kind, "student") == 0))
        reply = verify_student(db, claims, sid);
    else
        reply = unauthorized();
    json_decref(claims);
    return reply;
}

json_t *handle_verify(void *ctx, struct db *db, json_t *req) {
    const char *token = json_string_value(json_object_get(req, "token"));
    const char *kind = json_string_value(json_object_get(req, "kind"));
    const char *sid = json_string_value(json_object_get(req, "sid"));
    if (!kind || (strcmp(kind, "admin") != 0 && strcmp(kind, "student") != 0))
        return reply_error(400, "bad_field", "kind must be \"admin\" or \"student\"");
    return auth_verify_token(ctx, db, token, kind, sid);
}
