/*
 * ws_reverify: after a NATS reconnect, every socket's token is checked with
 * auth again (qw.auth.verify), because a student_removed event or a
 * qw.admin.revoked sent while this gateway was away never reached it. The
 * checks go out from the loop's tick, at most WS_REVERIFY_BATCH in flight,
 * as ordinary requests (never blocking the loop); a refused token closes
 * its socket (a removed student 4003, another refused student 4001, an
 * instructor 1008), a check without an answer is tried again after a
 * backoff (0.5 s doubling to 4 s, REVERIFY_TRIES in all, about 20 s: auth
 * reconnecting after this gateway answers "no responders" at once, and
 * auth down must not close the class). Loop thread only; tokens are never
 * logged.
 */
#include "ws.h"

#include "clock.h"
#include "log.h"
#include "reply.h"
#include "subjects.h"
#include "ws_server.h"

#include <string.h>

#define REVERIFY_TRIES 8
#define REVERIFY_BACKOFF_MS 500 /* after the first check without an answer */
#define REVERIFY_BACKOFF_MAX_MS 4000

void ws_reverify_all(struct ws_server *srv) {
    int n = 0;
    for (struct ws_conn *c = srv->conns; c; c = c->next) {
        if (c->dead || c->close_deadline_ms) continue;
        if (!c->reverify) n++;
        c->reverify = 1;
        c->reverify_tries = 0;
        c->reverify_at_ms = 0;
    }
    srv->reverify_todo += n;
    LOG_INFO("ws_reverify", "sockets=%d", srv->reverify_todo);
}

/* Sends the checks that are due, at most WS_REVERIFY_BATCH in flight. It
 * walks every socket while any check is to come and counts them again, so
 * a socket freed with its check pending is never waited for. */
void ws_reverify_tick(struct ws_server *srv) {
    if (srv->reverify_todo <= 0) return;
    long long now = clock_mono_ms();
    int todo = 0;
    for (struct ws_conn *c = srv->conns; c; c = c->next) {
        if (!c->reverify) continue;
        if (c->dead || c->close_deadline_ms) {
            c->reverify = 0;
            continue;
        }
        todo++;
        if (c->reverify_at_ms > now || srv->reverify_inflight >= WS_REVERIFY_BATCH) continue;
        json_t *req = c->who.admin ? json_pack("{s:s,s:s}", "token", c->who.token, "kind", "admin")
                                   : json_pack("{s:s,s:s,s:s}", "token", c->who.token, "kind",
                                               "student", "sid", c->who.sid);
        struct ws_req_ctx ctx = {.kind = WS_REQ_VERIFY, .c = c};
        int rc = req ? ws_server_request(srv, &ctx, SUBJ_AUTH_VERIFY, req) : -1;
        json_decref(req);
        if (rc != 0) { /* NATS away again: a later tick tries */
            c->reverify_at_ms = now + REVERIFY_BACKOFF_MS;
            continue;
        }
        c->reverify = 0;
        todo--;
        srv->reverify_inflight++;
    }
    srv->reverify_todo = todo;
}

void ws_reverify_answer(struct ws_server *srv, struct ws_conn *c, const json_t *reply) {
    if (srv->reverify_inflight > 0) srv->reverify_inflight--;
    if (!c || c->dead || c->close_deadline_ms) return;
    if (reply_is_ok(reply)) return;
    if (!reply || reply_status(reply) >= 500) { /* no verdict: ask again, a few times */
        if (++c->reverify_tries < REVERIFY_TRIES && !c->reverify) {
            long long wait = (long long)REVERIFY_BACKOFF_MS << (c->reverify_tries - 1);
            c->reverify = 1;
            c->reverify_at_ms =
                clock_mono_ms() + (wait > REVERIFY_BACKOFF_MAX_MS ? REVERIFY_BACKOFF_MAX_MS : wait);
            srv->reverify_todo++;
        }
        return;
    }
    const char *reason = json_string_value(json_object_get(reply, "reason"));
    LOG_INFO("ws_token_refused", "conn=%llu admin=%d reason=%s", (unsigned long long)c->id,
             c->who.admin, reason && strcmp(reason, "removed") == 0 ? "removed" : "unauthorized");
    if (c->who.admin)
        ws_conn_close(c, WSLAY_CODE_POLICY_VIOLATION, "logged_out");
    else if (reason && strcmp(reason, "removed") == 0)
        ws_conn_close(c, WS_CODE_REMOVED, "You were removed by the instructor");
    else
        ws_conn_close(c, WS_CODE_SESSION_RESET, "session reset");
}
