/*
 * fanout: the events of each session (qw.evt.<sid>) to the sockets of that
 * session on this gateway. Subscribes when a session's first socket
 * arrives, unsubscribes when its last one leaves; writes the snapshot that
 * opens every socket; renders each event once per event for all students
 * (the common part) plus a small per-socket tail (remaining_ms, my_choice,
 * points, score, rank). `results` never reaches a student, nor does the
 * `student_id` of another (lobby_update carries it for the console).
 *
 * Lifecycle events carry a per-session `seq` that grows by exactly one per
 * state change; each socket remembers the seq of the state it shows. An
 * event more than one ahead means this gateway missed one (NATS reconnect,
 * a publisher that died between COMMIT and publish): the socket then gets
 * a fresh snapshot instead of the event. After a NATS reconnect one
 * snapshot per session finds the sessions that moved on meanwhile.
 *
 * Loop thread only, except on_event (a nats.c thread) which only pushes.
 */
#include "ws.h"

#include "clock.h"
#include "log.h"
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
    struct ws_sess *next;
};

/* One event being written, with its renderings made once. */
struct rendering {
    json_t *ev; /* borrowed */
    const char *type;
    char *student; /* the event minus results, without its closing '}' */
    char *admin;   /* the whole event, without its closing '}' */
};

/* nats.c thread: hand the event to the loop. */
static void on_event(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
    (void)nc;
    (void)sub;
    const char *subj = natsMsg_GetSubject(msg);
    size_t plen = strlen(SUBJ_EVENT_PREFIX);
    int len = natsMsg_GetDataLength(msg);
    if (strncmp(subj, SUBJ_EVENT_PREFIX, plen) == 0 && len > 0)
        ws_server_push_event(closure, subj + plen, natsMsg_GetData(msg), (size_t)len);
    natsMsg_Destroy(msg);
}

static struct ws_sess *find(struct ws_server *srv, const char *sid) {
    for (struct ws_sess *s = *ws_server_sessions(srv); s; s = s->next)
        if (strcmp(s->sid, sid) == 0) return s;
    return NULL;
}

/* Asks a new snapshot for `c`; the reply of any earlier one is ignored
 * from now on. Returns 0 or -1. */
static int request_snapshot(struct ws_conn *c) {
    json_t *req = c->who.admin
                      ? json_pack("{s:s}", "sid", c->who.sid)
                      : json_pack("{s:s,s:s}", "sid", c->who.sid, "student_id", c->who.student_id);
    c->snap_gen++;
    int rc =
        req ? ws_server_request(c, WS_REQ_SNAPSHOT, SUBJ_SESSION_SNAPSHOT, req, c->snap_gen, NULL)
            : -1;
    json_decref(req);
    return rc;
}

/* `c` shows a state older than the session's: hold its events and send it
 * a fresh snapshot (then the events it does not cover). */
static void resnapshot(struct ws_conn *c) {
    if (c->dead || c->close_deadline_ms) return;
    c->ready = 0;
    json_decref(c->held);
    c->held = NULL;
    if (request_snapshot(c) != 0) {
        ws_conn_error(c, "unavailable", "the session service could not be asked");
        ws_conn_close(c, WSLAY_CODE_INTERNAL_SERVER_ERROR, "unavailable");
    }
}

int fanout_attach(struct ws_conn *c) {
    struct ws_server *srv = c->srv;
    struct ws_sess *s = find(srv, c->who.sid);
    if (!s) {
        s = calloc(1, sizeof(*s));
        if (!s) return -1;
        snprintf(s->sid, sizeof(s->sid), "%s", c->who.sid);
        char subj[WS_SID_MAX + 16];
        snprintf(subj, sizeof(subj), "%s%s", SUBJ_EVENT_PREFIX, s->sid);
        if (natsConnection_Subscribe(&s->sub, ws_server_gateway(srv)->d.nc, subj, on_event, srv) !=
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
    c->seq = -1;
    /* subscribed before asking: no event between snapshot and stream is lost */
    return request_snapshot(c);
}

static void sess_free(struct ws_sess *s) {
    if (!s) return;
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

/* The compact JSON of `j` without its closing brace (malloc'd). */
static char *open_text(const json_t *j) {
    char *s = json_dumps(j, JSON_COMPACT);
    size_t n = s ? strlen(s) : 0;
    if (n < 2 || s[n - 1] != '}') {
        free(s);
        return NULL;
    }
    s[n - 1] = '\0';
    return s;
}

static int64_t remaining_ms(const json_t *obj) {
    json_t *d = json_object_get(obj, "deadline_ms");
    if (!json_is_integer(d)) return 0;
    int64_t r = (int64_t)json_integer_value(d) - clock_wall_ms();
    return r < 0 ? 0 : r;
}

/* Sends prefix + tail, where tail closes the object. */
static void send_parts(struct ws_conn *c, const char *prefix, const char *tail) {
    if (!prefix) return;
    size_t a = strlen(prefix), b = strlen(tail);
    char *buf = malloc(a + b + 1);
    if (!buf) return;
    memcpy(buf, prefix, a);
    memcpy(buf + a, tail, b + 1);
    ws_conn_send(c, buf, a + b);
    free(buf);
}

static void rendering_free(struct rendering *r) {
    free(r->student);
    free(r->admin);
}

/* Writes event `r` to socket `c`, rendering the shared parts on first use. */
static void deliver(struct ws_conn *c, struct rendering *r) {
    const char *t = r->type;
    char tail[256];
    int is_open = strcmp(t, "question_open") == 0;
    if (c->who.admin) {
        if (!r->admin) r->admin = open_text(r->ev);
        if (is_open)
            snprintf(tail, sizeof(tail), ",\"remaining_ms\":%lld}", (long long)remaining_ms(r->ev));
        else
            snprintf(tail, sizeof(tail), "}");
        send_parts(c, r->admin, tail);
        return;
    }
    if (strcmp(t, "answer_stats") == 0) return;
    if (strcmp(t, "session_reset") == 0) {
        ws_conn_close(c, WS_CODE_SESSION_RESET, "session reset");
        return;
    }
    if (strcmp(t, "student_removed") == 0) { /* the others learn the count from lobby_update */
        const char *gone = json_string_value(json_object_get(r->ev, "student_id"));
        if (gone && strcmp(gone, c->who.student_id) == 0)
            ws_conn_close(c, WS_CODE_REMOVED, "You were removed by the instructor");
        return;
    }
    if (!r->student) {
        json_t *copy = json_copy(r->ev);
        if (!copy) return;
        json_object_del(copy, "results");
        json_object_del(copy, "student_id"); /* lobby_update: the console's, not the class's */
        r->student = open_text(copy);
        json_decref(copy);
    }
    json_t *mine = json_object_get(json_object_get(r->ev, "results"), c->who.student_id);
    if (is_open) {
        c->q_idx = json_integer_value(json_object_get(r->ev, "question_idx"));
        c->q_from_snapshot = 0;
        c->q_opened_at_ms = json_integer_value(json_object_get(r->ev, "opened_at_ms"));
        c->q_write_pending = 1;
        c->q_written_mono_us = 0;
        snprintf(tail, sizeof(tail), ",\"remaining_ms\":%lld}", (long long)remaining_ms(r->ev));
    } else if (strcmp(t, "question_closed") == 0) {
        /* results[student_id] = [choice|null, points, score] */
        json_t *ch = json_array_get(mine, 0);
        long long points = json_integer_value(json_array_get(mine, 1));
        if (json_is_integer(json_array_get(mine, 2)))
            c->score = json_integer_value(json_array_get(mine, 2));
        char *chs = json_is_string(ch) ? json_dumps(ch, JSON_ENCODE_ANY) : NULL;
        snprintf(tail, sizeof(tail), ",\"my_choice\":%s,\"points\":%lld,\"score\":%lld}",
                 chs ? chs : "null", points, c->score);
        free(chs);
    } else if (strcmp(t, "session_ended") == 0) {
        /* results[student_id] = [score, rank] */
        if (json_is_integer(json_array_get(mine, 0)))
            c->score = json_integer_value(json_array_get(mine, 0));
        json_t *rank = json_array_get(mine, 1);
        if (json_is_integer(rank))
            snprintf(tail, sizeof(tail), ",\"score\":%lld,\"rank\":%lld}", c->score,
                     (long long)json_integer_value(rank));
        else
            snprintf(tail, sizeof(tail), ",\"score\":%lld,\"rank\":null}", c->score);
    } else {
        snprintf(tail, sizeof(tail), "}");
    }
    send_parts(c, r->student, tail);
}

static int is_lifecycle(const char *t) {
    return strcmp(t, "question_open") == 0 || strcmp(t, "question_closed") == 0 ||
           strcmp(t, "session_ended") == 0 || strcmp(t, "session_reset") == 0;
}

void fanout_event(struct ws_server *srv, const char *sid, const char *data, size_t len) {
    struct ws_sess *s = find(srv, sid);
    if (!s) return; /* the last socket left while the event was on its way */
    json_error_t err;
    json_t *ev = json_loadb(data, len, 0, &err);
    const char *type = json_string_value(json_object_get(ev, "type"));
    if (!json_is_object(ev) || !type) {
        LOG_WARN("fanout_bad_event", "sid=%s", sid);
        json_decref(ev);
        return;
    }
    json_t *seq = json_object_get(ev, "seq");
    int life = is_lifecycle(type) && json_is_integer(seq);
    long long e = life ? json_integer_value(seq) : 0;
    if (life && e > s->last_seq) s->last_seq = e;
    struct rendering r = {.ev = ev, .type = type};
    int stale = 0, gaps = 0;
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
                resnapshot(c);
                continue;
            }
        }
        if (life) c->seq = e;
        deliver(c, &r);
    }
    if (stale)
        LOG_DEBUG("fanout_stale_event", "sid=%s type=%s seq=%lld sockets=%d", sid, type, e, stale);
    if (gaps) LOG_INFO("fanout_gap", "sid=%s type=%s seq=%lld sockets=%d", sid, type, e, gaps);
    rendering_free(&r);
    json_decref(ev);
}

void fanout_resync_all(struct ws_server *srv) {
    int n = 0;
    for (struct ws_sess *s = *ws_server_sessions(srv); s; s = s->next) {
        json_t *req = json_pack("{s:s}", "sid", s->sid);
        if (req && ws_server_request_session(srv, s->sid, SUBJ_SESSION_SNAPSHOT, req) == 0)
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
        if (!req || ws_server_request_session(srv, sid, SUBJ_SESSION_SNAPSHOT, req) != 0)
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
            resnapshot(c);
            behind++;
        }
    }
    LOG_INFO("fanout_resynced", "sid=%s seq=%lld last_seq=%lld sockets_behind=%d", sid, now,
             s->last_seq, behind);
}

/* True when held event `ev` (without a seq) is already reflected in a
 * snapshot showing question `idx` in `state`. */
static int covered(const json_t *ev, const char *state, long long idx) {
    const char *t = json_string_value(json_object_get(ev, "type"));
    long long q = json_integer_value(json_object_get(ev, "question_idx"));
    int lobby = strcmp(state, "lobby") == 0;
    if (strcmp(t, "question_open") == 0) return !lobby && q <= idx;
    if (strcmp(t, "question_closed") == 0)
        return q < idx ||
               (q == idx && (strcmp(state, "closed") == 0 || strcmp(state, "ended") == 0));
    if (strcmp(t, "session_ended") == 0) return strcmp(state, "ended") == 0;
    return 0;
}

void fanout_snapshot(struct ws_conn *c, const json_t *reply, long long gen) {
    json_t *snap = NULL;
    int gap = 0;
    if (gen != c->snap_gen) return; /* superseded by a later request */
    if (!reply || !reply_is_ok(reply)) {
        ws_conn_error(c, "unavailable",
                      reply ? "the session could not be read"
                            : "the session service did not answer");
        ws_conn_close(c, WSLAY_CODE_INTERNAL_SERVER_ERROR, "snapshot unavailable");
        goto cleanup;
    }
    const char *state = json_string_value(json_object_get(reply, "state"));
    if (!state) state = "lobby";
    long long idx = json_integer_value(json_object_get(reply, "question_idx"));
    int open = strcmp(state, "question") == 0;
    json_t *q = json_object_get(reply, "question");
    json_t *mc = json_object_get(reply, "my_choice");
    json_t *sc = json_object_get(reply, "score");
    json_t *ep = json_object_get(reply, "epoch");
    if (!c->who.admin && json_is_integer(ep) && json_integer_value(ep) != c->who.epoch) {
        /* reset while we were away (its session_reset missed): as for that */
        ws_conn_close(c, WS_CODE_SESSION_RESET, "session reset");
        goto cleanup;
    }
    json_t *sseq = json_object_get(reply, "seq");
    c->seq = json_is_integer(sseq) ? json_integer_value(sseq) : -1;
    if (json_is_integer(sc)) c->score = json_integer_value(sc);
    /* a question the socket was shown already keeps its timing (fair
     * points); one it learns of here counts from opened_at_ms */
    if (open && !c->who.admin && c->q_idx != idx) {
        c->q_idx = idx;
        c->q_from_snapshot = 1;
        c->q_opened_at_ms = json_integer_value(json_object_get(reply, "opened_at_ms"));
    }
    snap = json_pack("{s:s,s:s,s:s,s:I,s:O?,s:O?,s:I,s:O?,s:O?,s:I}", "type", "snapshot", "sid",
                     c->who.sid, "state", state, "question_idx", (json_int_t)idx, "question_count",
                     json_object_get(reply, "question_count"), "question",
                     json_is_object(q) ? q : NULL, "remaining_ms",
                     (json_int_t)(open ? remaining_ms(reply) : 0), "players",
                     json_object_get(reply, "players"), "my_choice", json_is_string(mc) ? mc : NULL,
                     "score", (json_int_t)c->score);
    /* Once closed the reveal is public: the answer, how the class answered
     * and this student's points, so a reload shows the reveal again. While
     * a question is open only the instructor gets the counts (answered so
     * far), as with answer_stats. */
    if (snap && (strcmp(state, "closed") == 0 || (open && c->who.admin))) {
        static const char *const reveal[] = {"answer", "counts", "points"};
        for (size_t k = 0; k < sizeof(reveal) / sizeof(reveal[0]); k++) {
            json_t *v = json_object_get(reply, reveal[k]);
            if (v && (open ? strcmp(reveal[k], "counts") == 0 : !c->who.admin || k != 2))
                json_object_set(snap, reveal[k], v);
        }
    }
    json_t *rank = json_object_get(reply, "rank"); /* ended: the final rank */
    if (snap && json_is_integer(rank) && !c->who.admin) json_object_set(snap, "rank", rank);
    char *text = snap ? json_dumps(snap, JSON_COMPACT) : NULL;
    if (text) ws_conn_send(c, text, strlen(text));
    free(text);
    c->ready = 1;
    size_t i;
    json_t *ev;
    json_array_foreach(c->held, i, ev) {
        const char *t = json_string_value(json_object_get(ev, "type"));
        json_t *es = json_object_get(ev, "seq");
        if (is_lifecycle(t) && json_is_integer(es) && c->seq >= 0) {
            long long e = json_integer_value(es);
            if (e <= c->seq) continue;
            if (e > c->seq + 1) { /* missed one after the snapshot was read */
                gap = 1;
                break;
            }
            c->seq = e;
        } else if (covered(ev, state, idx)) {
            continue;
        }
        struct rendering r = {.ev = ev, .type = t};
        deliver(c, &r);
        rendering_free(&r);
    }
cleanup:
    json_decref(c->held);
    c->held = NULL;
    json_decref(snap);
    if (gap) {
        LOG_INFO("fanout_gap", "sid=%s seq=%lld held=1", c->who.sid, c->seq);
        resnapshot(c);
    }
}
