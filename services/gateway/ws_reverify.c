/*
 * ws_reverify: after a NATS reconnect, every socket's token is checked with
 * auth again (qw.auth.verify), because a student_removed event or a
 * qw.admin.revoked sent while this gateway was away never reached it. The
 * checks go out from the loop's tick, at most WS_REVERIFY_BATCH in flight,
 * as ordinary requests (never blocking the loop); a refused token closes
 * its socket (a removed student 4003, another refused student 4001, an
 * instructor 1008), a check without an answer is tried again (three tries:
 * auth down must not close the class). Loop thread only; tokens are never
 * logged.
 */
#include "ws.h"

#include "log.h"
#include "reply.h"
#include "subjects.h"
#include "ws_server.h"

#include <string.h>

#define REVERIFY_TRIES 3

void ws_reverify_all(struct ws_server *srv) {
    int n = 0;
    for (struct ws_conn *c = srv->conns; c; c = c->next) {
        if (c->dead || c->close_deadline_ms) continue;
        if (!c->reverify) n++;
        c->reverify = 1;
        c->reverify_tries = 0;
    }
    srv->reverify_todo += n;
    LOG_INFO("ws_reverify", "sockets=%d", srv->reverify_todo);
}

void ws_reverify_tick(struct ws_server *srv) {
    for (struct ws_conn *c = srv->conns;
         c && srv->reverify_todo > 0 && srv->reverify_inflight < WS_REVERIFY_BATCH; c = c->next) {
        if (!c->reverify) continue;
        if (c->dead || c->close_deadline_ms) {
            c->reverify = 0;
            srv->reverify_todo--;
            continue;
        }
        json_t *req = c->who.admin ? json_pack("{s:s,s:s}", "token", c->who.token, "kind", "admin")
                                   : json_pack("{s:s,s:s,s:s}", "token", c->who.token, "kind",
                                               "student", "sid", c->who.sid);
        struct ws_req_ctx ctx = {.kind = WS_REQ_VERIFY, .c = c};
        int rc = req ? ws_server_request(srv, &ctx, SUBJ_AUTH_VERIFY, req) : -1;
        json_decref(req);
        if (rc != 0) break; /* NATS away again: the next tick tries */
        c->reverify = 0;
        srv->reverify_todo--;
        srv->reverify_inflight++;
    }
}

void ws_reverify_answer(struct ws_server *srv, struct ws_conn *c, const json_t *reply) {
    if (srv->reverify_inflight > 0) srv->reverify_inflight--;
    if (!c || c->dead || c->close_deadline_ms) return;
    if (reply_is_ok(reply)) return;
    if (!reply || reply_status(reply) >= 500) { /* no verdict: ask again, a few times */
        if (++c->reverify_tries < REVERIFY_TRIES && !c->reverify) {
            c->reverify = 1;
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
