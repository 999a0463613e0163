/*
 * handle_login: qw.auth.login and qw.auth.logout.
 *
 * Login counts the try against the client IP in a sliding 60 s window
 * (rate_limit.c, kept in Postgres for every auth instance), then checks
 * the password against the yescrypt hash and records a revocable login.
 * A try refused with 429 is not counted: it never reached the password
 * check, and counting it would push retry_after out forever for a client
 * that keeps retrying. Logout revokes the login row, so the token is
 * refused by every instance afterwards, and announces the login id on
 * qw.admin.revoked so every gateway closes the admin sockets it opened.
 * Never logs a password or token.
 */
#include "auth.h"

#include "bus.h"
#include "clock.h"
#include "log.h"
#include "reply.h"
#include "subjects.h"
#include "token.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *handle_login(void *ctx, struct db *db, json_t *req) {
    struct auth *a = ctx;
    const char *user = json_string_value(json_object_get(req, "username"));
    const char *pw = json_string_value(json_object_get(req, "password"));
    const char *ip = json_string_value(json_object_get(req, "ip"));
    json_t *reply = NULL, *claims = NULL;
    char *token = NULL;
    PGresult *r = NULL;
    if (!ip || !*ip || strlen(ip) > 64) ip = "unknown";
    if (!user || !pw || strlen(user) > 128 || strlen(pw) > 1024)
        return reply_error(400, "bad_field", "username and password must be strings");
    long wait = rate_limit_try(db, ip, a->login_limit, 1);
    if (wait < 0)
        return reply_error(503, "db_unavailable", "the login could not be checked; try again");
    if (wait > 0) {
        LOG_WARN("login_rate_limited", "ip=%s retry_after=%ld", ip, wait);
        reply = reply_error(429, "rate_limited", "too many login tries; wait %ld s", wait);
        json_object_set_new(reply, "retry_after", json_integer(wait));
        return reply;
    }
    const char *p[] = {user, NULL, NULL};
    r = db_exec(db, "SELECT pw_hash FROM admins WHERE username = $1", 1, p);
    if (!r) return reply_error(503, "db_unavailable", "the login could not be checked; try again");
    int known = PQntuples(r) == 1;
    /* an unknown user costs the same hash computation as a known one */
    int good = password_check(pw, known ? PQgetvalue(r, 0, 0) : a->dummy_hash) == 0 && known;
    if (!good) {
        LOG_INFO("login_failed", "ip=%s", ip);
        reply = reply_error(401, "bad_credentials", "wrong user name or password");
        goto cleanup;
    }
    unsigned char raw[16];
    char login_id[33], ttl[24];
    if (RAND_bytes(raw, sizeof(raw)) != 1) goto cleanup;
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(login_id + 2 * i, 3, "%02x", raw[i]);
    snprintf(ttl, sizeof(ttl), "%ld", a->admin_ttl_s);
    const char *q[] = {login_id, user, ttl};
    if (db_cmd(db,
               "INSERT INTO admin_logins (login_id, username, expires_at) "
               "VALUES ($1, $2, now() + make_interval(secs => $3::int))",
               3, q) != 0) {
        reply = reply_error(503, "db_unavailable", "the login could not be recorded; try again");
        goto cleanup;
    }
    claims = json_pack("{s:s,s:s,s:s,s:I}", "k", "a", "u", user, "l", login_id, "exp",
                       (json_int_t)(clock_wall_ms() / 1000 + a->admin_ttl_s));
    token = token_sign(a->key, a->keylen, claims);
    if (!token) goto cleanup;
    reply = json_pack("{s:b,s:s,s:s,s:I}", "ok", 1, "token", token, "username", user, "max_age_s",
                      (json_int_t)a->admin_ttl_s);
    LOG_INFO("login_ok", "ip=%s login=%.8s", ip, login_id);
cleanup:
    if (token) explicit_bzero(token, strlen(token));
    free(token);
    json_decref(claims);
    PQclear(r);
    return reply;
}

json_t *handle_logout(void *ctx, struct db *db, json_t *req) {
    struct auth *a = ctx;
    const char *token = json_string_value(json_object_get(req, "token"));
    /* an expired token may still be logged out: only the signature matters */
    json_t *claims = token_verify(a->key, a->keylen, token, 0);
    const char *k = json_string_value(json_object_get(claims, "k"));
    const char *login = json_string_value(json_object_get(claims, "l"));
    json_t *reply;
    if (!claims || !k || strcmp(k, "a") != 0 || !login) {
        reply = reply_error(401, "unauthorized", "not an instructor token");
    } else if (db_cmd(db,
                      "UPDATE admin_logins SET revoked_at = now() WHERE login_id = $1 "
                      "AND revoked_at IS NULL",
                      1, (const char *[]){login}) != 0) {
        reply = reply_error(503, "db_unavailable", "the logout could not be recorded; try again");
    } else {
        LOG_INFO("logout", "login=%.8s", login);
        /* every gateway closes the admin sockets this login opened */
        json_t *evt = json_pack("{s:s}", "login", login);
        bus_publish(a->d.nc, SUBJ_ADMIN_REVOKED, evt);
        json_decref(evt);
        reply = reply_ok();
    }
    json_decref(claims);
    return reply;
}
