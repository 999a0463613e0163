/*
 * ws_requests: the NATS requests the WebSocket loop has in flight (a
 * socket's snapshot, submit or command; a session's resync snapshot). Each
 * is published with a reply subject "<inbox>.<id>" and kept, with its typed
 * context (struct ws_req_ctx), in a table by id (req_table.c) until its
 * reply arrives on the loop or its deadline (QW_REQUEST_TIMEOUT_MS)
 * passes, then answered once: to the socket (handle_client_reply) or to
 * the session's resync (fanout_resync_reply), a token check to
 * ws_reverify_answer. A reply, a tick and a
 * socket's removal touch only the requests concerned, never the whole set.
 * A socket that goes away keeps its requests, which are then answered to
 * nobody. Loop thread only.
 */
#include "ws.h"

#include "clock.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ws_pending {
    struct req_entry e; /* first: a req_entry of this table is a ws_pending */
    struct ws_req_ctx ctx;
};

static struct ws_pending *pending_of(struct req_entry *e) {
    return (struct ws_pending *)(void *)((char *)e - offsetof(struct ws_pending, e));
}

int ws_requests_init(struct ws_requests *rq, const char *inbox, int timeout_ms) {
    if (req_table_init(&rq->table) != 0) return -1;
    snprintf(rq->inbox, sizeof(rq->inbox), "%s", inbox);
    rq->timeout_ms = timeout_ms;
    return 0;
}

int ws_requests_send(struct ws_requests *rq, natsConnection *nc, const struct ws_req_ctx *ctx,
                     const char *subject, const json_t *req) {
    int rc = -1;
    char *body = json_dumps(req, JSON_COMPACT);
    struct ws_pending *p = calloc(1, sizeof(*p));
    if (!body || !p) goto cleanup;
    p->ctx = *ctx;
    p->e.id = req_table_new_id(&rq->table);
    p->e.deadline_ms = clock_mono_ms() + rq->timeout_ms;
    char reply[96];
    snprintf(reply, sizeof(reply), "%s.%llu", rq->inbox, (unsigned long long)p->e.id);
    if (natsConnection_PublishRequest(nc, subject, reply, body, (int)strlen(body)) != NATS_OK)
        goto cleanup;
    req_table_add(&rq->table, &p->e, ctx->c ? &ctx->c->reqs : NULL);
    p = NULL;
    rc = 0;
cleanup:
    free(body);
    free(p);
    return rc;
}

/* 1 when request `p` still has someone to answer. */
static int answerable(const struct ws_pending *p) {
    return p->ctx.kind == WS_REQ_RESYNC || p->ctx.kind == WS_REQ_VERIFY ||
           (p->ctx.c && !p->ctx.c->dead);
}

/* The answer (NULL = none in time) to pending request `p`. */
static void answer(struct ws_server *srv, struct ws_pending *p, const json_t *reply) {
    if (p->ctx.kind == WS_REQ_RESYNC) {
        fanout_resync_reply(srv, p->ctx.sid, reply);
    } else if (p->ctx.kind == WS_REQ_VERIFY) { /* counted in flight even when the socket is gone */
        struct ws_conn *c = p->ctx.c && !p->ctx.c->dead ? p->ctx.c : NULL;
        ws_reverify_answer(srv, c, reply);
        if (c) ws_server_dirty(c);
    } else if (answerable(p)) {
        handle_client_reply(&p->ctx, reply);
        ws_server_dirty(p->ctx.c);
    }
}

void ws_requests_reply(struct ws_server *srv, struct ws_requests *rq, uint64_t id, const char *data,
                       size_t len) {
    struct req_entry *e = req_table_take(&rq->table, id);
    if (!e) return; /* answered already, timed out, or never ours */
    struct ws_pending *p = pending_of(e);
    if (answerable(p)) {
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
    struct req_entry *e;
    while ((e = req_table_take_expired(&rq->table, now_ms)) != NULL) {
        struct ws_pending *p = pending_of(e);
        answer(srv, p, NULL);
        free(p);
    }
}

/* req_table_disown's step: the socket of `e` is gone. */
static void forget_socket(struct req_entry *e) {
    pending_of(e)->ctx.c = NULL;
}

void ws_requests_forget(struct ws_conn *c) {
    req_table_disown(&c->reqs, forget_socket);
}

void ws_requests_clear(struct ws_requests *rq) {
    struct req_entry *e;
    while ((e = req_table_take_expired(&rq->table, INT64_MAX)) != NULL)
        free(pending_of(e));
    req_table_free(&rq->table);
}
