/*
 * fanout: the events of each session (qw.evt.<sid>) to the sockets of that
 * session on this gateway. Subscribes when a session's first socket
 * arrives, unsubscribes when its last one leaves, and hands each event to
 * every socket of the session in order (or holds it while the socket waits
 * for its snapshot). `results` never reaches a student, nor does the
 * `student_id` of another (lobby_update carries it for the console).
 *
 * Lifecycle events carry a per-session `seq` that grows by exactly one per
 * state change; each socket remembers the seq of the state it shows. An
 * event more than one ahead means this gateway missed one (NATS reconnect,
 * a publisher that died between COMMIT and publish): the socket then gets
 * a fresh snapshot instead of the event. After a NATS reconnect one
 * snapshot per session finds the sessions that moved on meanwhile.
 *
 * A student has at most QW_WS_PER_STUDENT sockets on one gateway (a
 * phone, a laptop, a tab or two): one more closes the oldest of them with
 * WS_CODE_TOO_MANY, so a script holding one seat cannot make the gateway
 * keep and feed thousands of sockets. Each session counts its students'
 * sockets in `per_student`; only a student over the limit walks the list.
 *
 * How an event is written to a socket is ws_render.c; snapshots are
 * ws_snapshot.c. Event types are shared/quiz's enum, parsed once here.
 * Loop thread only, except on_event (a nats.c thread) which only pushes.
 */
#include "ws.h"

#include "clock.h"
#include "log.h"
#include "quiz.h"
#include "reply.h"
#include "subjects.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ws_sess {
    char sid[WS_SID_MAX + 1];
    struct ws_conn *conns; /* sockets of this session (snext/sprev) */
    int n;
    natsSubscription *sub; /* qw.evt.<sid> */
    long long last_seq;    /* newest lifecycle event seen, 0 none */
    json_t *per_student;   /* student_id -> its sockets here (attached, not yet detached) */
    struct ws_sess *next;
};

/* nats.c thread: hand the event to the loop. */
static void on_event(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
    (void)nc;
    (void)sub;
    const char *sid = quiz_event_subject_sid(natsMsg_GetSubject(msg));
    int len = natsMsg_GetDataLength(msg);
    if (sid && len > 0) ws_server_push_event(closure, sid, natsMsg_GetData(msg), (size_t)len);
    natsMsg_Destroy(msg);
}

static struct ws_sess *find(struct ws_server *srv, const char *sid) {
    for (struct ws_sess *s = *ws_server_sessions(srv); s; s = s->next)
        if (strcmp(s->sid, sid) == 0) return s;
    return NULL;
}

/* Counts student socket `c` in its session and, when the student now has
 * more than QW_WS_PER_STUDENT sockets still open (not closing, not closed
 * by the peer), closes the oldest of them (the list is newest first). The
 * count includes sockets on their way out, so it only says when to walk
 * the list. */
static void limit_student(struct ws_sess *s, struct ws_conn *c) {
    const char *who = c->who.student_id;
    if (c->who.admin || !who) return;
    if (!s->per_student && !(s->per_student = json_object())) return;
    long long count = json_integer_value(json_object_get(s->per_student, who)) + 1;
    json_object_set_new(s->per_student, who, json_integer(count));
    long limit = ws_server_per_student(c->srv); /* read once at start, not per socket */
    if (count <= limit) return;
    long live = 0;
    struct ws_conn *oldest = NULL;
    for (struct ws_conn *o = s->conns; o; o = o->snext) {
        if (o->who.admin || !o->who.student_id || strcmp(o->who.student_id, who) != 0 || o->dead ||
            o->rd_closed || o->close_deadline_ms)
            continue;
        live++;
        if (o != c) oldest = o;
    }
    if (live <= limit || !oldest) return;
    LOG_INFO("ws_too_many", "sid=%s sockets=%ld limit=%ld", s->sid, live, limit);
    ws_conn_close(oldest, WS_CODE_TOO_MANY, "opened in too many places");
}

static void unlimit_student(struct ws_sess *s, struct ws_conn *c) {
    const char *who = c->who.student_id;
    if (c->who.admin || !who || !s->per_student) return;
    long long count = json_integer_value(json_object_get(s->per_student, who)) - 1;
    if (count > 0)
        json_object_set_new(s->per_student, who, json_integer(count));
    else
        json_object_del(s->per_student, who);
}

int fanout_attach(struct ws_conn *c) {
    struct ws_server *srv = c->srv;
    struct ws_sess *s = find(srv, c->who.sid);
    if (!s) {
        s = calloc(1, sizeof(*s));
        if (!s) return -1;
        snprintf(s->sid, sizeof(s->sid), "%s", c->who.sid);
        char subj[WS_SID_MAX + 16];
        if (quiz_event_subject(subj, sizeof(subj), s->sid) != 0 ||
            natsConnection_Subscribe(&s->sub, ws_server_gateway(srv)->d.nc, subj, on_event, srv) !=
                NATS_OK) {
            free(s);
            return -1;
        }
        natsSubscription_SetPendingLimits(s->sub, -1, -1);
        s->next = *ws_server_sessions(srv);
        *ws_server_sessions(srv) = s;
        LOG_DEBUG("fanout_subscribed", "sid=%s", s->sid);
    }
    c->sess = s;
    c->sprev = NULL;
    c->snext = s->conns;
    if (s->conns) s->conns->sprev = c;
    s->conns = c;
    s->n++;
    limit_student(s, c);
    c->seq = -1;
    /* subscribed before asking: no event between snapshot and stream is lost */
    return ws_snapshot_request(c);
}

static void sess_free(struct ws_sess *s) {
    if (!s) return;
    json_decref(s->per_student);
    if (s->sub) {
        natsSubscription_Unsubscribe(s->sub);
        natsSubscription_Destroy(s->sub);
    }
    free(s);
}

void fanout_detach(struct ws_conn *c) {
    struct ws_sess *s = c->sess;
    if (!s) return;
    if (c->sprev)
        c->sprev->snext = c->snext;
    else
        s->conns = c->snext;
    if (c->snext) c->snext->sprev = c->sprev;
    c->sess = NULL;
    unlimit_student(s, c);
    if (--s->n > 0) return;
    struct ws_sess **pp = ws_server_sessions(c->srv);
    while (*pp && *pp != s)
        pp = &(*pp)->next;
    if (*pp) *pp = s->next;
    LOG_DEBUG("fanout_unsubscribed", "sid=%s", s->sid);
    sess_free(s);
}

void fanout_free_all(struct ws_server *srv) {
    struct ws_sess *s = *ws_server_sessions(srv);
    *ws_server_sessions(srv) = NULL;
    while (s) {
        struct ws_sess *next = s->next;
        sess_free(s);
        s = next;
    }
}

int fanout_event(struct ws_server *srv, const char *sid, const char *data, size_t len,
                 enum quiz_event *type_out) {
    struct ws_sess *s = find(srv, sid);
    if (!s) return 0; /* the last socket left while the event was on its way */
    json_error_t err;
    json_t *ev = json_loadb(data, len, 0, &err);
    const char *type = json_string_value(json_object_get(ev, "type"));
    enum quiz_event t;
    if (!json_is_object(ev) || quiz_event_parse(type, &t) != 0) {
        LOG_WARN("fanout_bad_event", "sid=%s", sid);
        json_decref(ev);
        return 0;
    }
    *type_out = t;
    json_t *seq = json_object_get(ev, "seq");
    int life = quiz_event_is_lifecycle(t) && json_is_integer(seq);
    long long e = life ? json_integer_value(seq) : 0;
    if (life && e > s->last_seq) s->last_seq = e;
    struct ws_rendering r = {.ev = ev, .type = t};
    int stale = 0, gaps = 0, sent = 0;
    for (struct ws_conn *c = s->conns; c; c = c->snext) {
        if (c->dead || c->close_deadline_ms) continue;
        if (!c->ready) {
            if (!c->held) c->held = json_array();
            json_array_append(c->held, ev);
            continue;
        }
        if (life && c->seq >= 0) {
            if (e <= c->seq) { /* the socket shows it already */
                stale++;
                continue;
            }
            if (e > c->seq + 1) { /* one or more missed: the true state instead */
                gaps++;
                ws_snapshot_renew(c);
                continue;
            }
        }
        if (life) c->seq = e;
        ws_render_deliver(c, &r);
        sent++;
    }
    if (stale)
        LOG_DEBUG("fanout_stale_event", "sid=%s type=%s seq=%lld sockets=%d", sid, type, e, stale);
    if (gaps) LOG_INFO("fanout_gap", "sid=%s type=%s seq=%lld sockets=%d", sid, type, e, gaps);
    ws_rendering_free(&r);
    json_decref(ev);
    return sent;
}

/* Asks the snapshot `req` (borrowed) of session `sid` for the resync.
 * Returns 0 or -1. */
static int resync_request(struct ws_server *srv, const char *sid, const json_t *req) {
    struct ws_req_ctx ctx = {.kind = WS_REQ_RESYNC, .qidx = -1};
    snprintf(ctx.sid, sizeof(ctx.sid), "%s", sid);
    return ws_server_request(srv, &ctx, SUBJ_SESSION_SNAPSHOT, req);
}

void fanout_resync_all(struct ws_server *srv) {
    int n = 0;
    for (struct ws_sess *s = *ws_server_sessions(srv); s; s = s->next) {
        json_t *req = json_pack("{s:s}", "sid", s->sid);
        if (req && resync_request(srv, s->sid, req) == 0)
            n++;
        else
            LOG_WARN("fanout_resync_unsent", "sid=%s", s->sid);
        json_decref(req);
    }
    LOG_INFO("fanout_resync", "sessions=%d", n);
}

void fanout_resync_reply(struct ws_server *srv, const char *sid, const json_t *reply) {
    struct ws_sess *s = find(srv, sid);
    if (!s) return; /* its last socket left meanwhile */
    if (!reply) {
        /* the session service is not back yet: ask again (paced by the
         * request deadline) until it answers or the sockets leave */
        json_t *req = json_pack("{s:s}", "sid", sid);
        if (!req || resync_request(srv, sid, req) != 0)
            LOG_WARN("fanout_resync_unsent", "sid=%s", sid);
        json_decref(req);
        return;
    }
    json_t *seq = json_object_get(reply, "seq");
    if (!reply_is_ok(reply) || !json_is_integer(seq)) {
        LOG_WARN("fanout_resync_failed", "sid=%s error=%s", sid,
                 json_string_value(json_object_get(reply, "error")));
        return;
    }
    long long now = json_integer_value(seq);
    int behind = 0;
    for (struct ws_conn *c = s->conns; c; c = c->snext) {
        if (c->dead || c->close_deadline_ms) continue;
        /* a socket still waiting for its first snapshot may have had it
         * read before the events we missed: ask again too */
        if (!c->ready || c->seq < now) {
            ws_snapshot_renew(c);
            behind++;
        }
    }
    LOG_INFO("fanout_resynced", "sid=%s seq=%lld last_seq=%lld sockets_behind=%d", sid, now,
             s->last_seq, behind);
}
