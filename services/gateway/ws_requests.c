/*
 * ws_requests: the NATS requests the WebSocket loop has in flight (a
 * socket's snapshot, submit or command; a session's resync snapshot). Each
 * is published with a reply subject "<inbox>.<id>" and kept here until its
 * reply arrives on the loop or its deadline (QW_REQUEST_TIMEOUT_MS) passes,
 * then answered once: to the socket (handle_client_reply) or to the
 * session's resync (fanout_resync_reply), a token check to
 * ws_reverify_answer. A socket that goes away keeps
 * its requests, which are then answered to nobody. Loop thread only.
 */
#include "ws.h"

#include "clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ws_pending {
    uint64_t id;
    struct ws_conn *c; /* NULL once the socket is gone, or WS_REQ_RESYNC */
    enum ws_req_kind kind;
    char sid[WS_SID_MAX + 1]; /* WS_REQ_RESYNC */
    long long qidx;
    char choice[16];
    int64_t deadline_ms; /* monotonic */
    struct ws_pending *next;
};

int ws_requests_send(struct ws_requests *rq, natsConnection *nc, struct ws_conn *c, const char *sid,
                     enum ws_req_kind kind, const char *subject, const json_t *req, long long qidx,
                     const char *choice) {
    int rc = -1;
    char *body = json_dumps(req, JSON_COMPACT);
    struct ws_pending *p = calloc(1, sizeof(*p));
    if (!body || !p) goto cleanup;
    p->id = ++rq->next_id;
    p->c = c;
    p->kind = kind;
    snprintf(p->sid, sizeof(p->sid), "%s", sid ? sid : "");
    p->qidx = qidx;
    snprintf(p->choice, sizeof(p->choice), "%s", choice ? choice : "");
    p->deadline_ms = clock_mono_ms() + rq->timeout_ms;
    char reply[96];
    snprintf(reply, sizeof(reply), "%s.%llu", rq->inbox, (unsigned long long)p->id);
    if (natsConnection_PublishRequest(nc, subject, reply, body, (int)strlen(body)) != NATS_OK)
        goto cleanup;
    p->next = rq->head;
    rq->head = p;
    p = NULL;
    rc = 0;
cleanup:
    free(body);
    free(p);
    return rc;
}

/* The answer (NULL = none in time) to pending request `p`. */
static void answer(struct ws_server *srv, struct ws_pending *p, const json_t *reply) {
    if (p->kind == WS_REQ_RESYNC) {
        fanout_resync_reply(srv, p->sid, reply);
    } else if (p->kind == WS_REQ_VERIFY) { /* counted in flight even when the socket is gone */
        ws_reverify_answer(srv, p->c && !p->c->dead ? p->c : NULL, reply);
        if (p->c && !p->c->dead) ws_server_dirty(p->c);
    } else if (p->c && !p->c->dead) {
        handle_client_reply(p->c, p->kind, reply, p->qidx, p->choice);
        ws_server_dirty(p->c);
    }
}

void ws_requests_reply(struct ws_server *srv, struct ws_requests *rq, uint64_t id, const char *data,
                       size_t len) {
    struct ws_pending **pp = &rq->head;
    while (*pp && (*pp)->id != id)
        pp = &(*pp)->next;
    struct ws_pending *p = *pp;
    if (!p) return; /* answered already, or timed out */
    *pp = p->next;
    if (p->kind == WS_REQ_RESYNC || p->kind == WS_REQ_VERIFY || (p->c && !p->c->dead)) {
        json_error_t err;
        json_t *reply = len ? json_loadb(data, len, 0, &err) : NULL;
        if (reply && !json_is_object(reply)) {
            json_decref(reply);
            reply = NULL;
        }
        /* an unparsable answer counts as no answer */
        answer(srv, p, reply);
        json_decref(reply);
    }
    free(p);
}

void ws_requests_expire(struct ws_server *srv, struct ws_requests *rq, int64_t now_ms) {
    struct ws_pending **pp = &rq->head;
    while (*pp) {
        struct ws_pending *p = *pp;
        if (p->deadline_ms > now_ms) {
            pp = &p->next;
            continue;
        }
        *pp = p->next;
        answer(srv, p, NULL);
        free(p);
    }
}

void ws_requests_forget(struct ws_requests *rq, const struct ws_conn *c) {
    for (struct ws_pending *p = rq->head; p; p = p->next)
        if (p->c == c) p->c = NULL;
}

void ws_requests_clear(struct ws_requests *rq) {
    while (rq->head) {
        struct ws_pending *p = rq->head;
        rq->head = p->next;
        free(p);
    }
}
