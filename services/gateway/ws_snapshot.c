/*
 * ws_snapshot: what opens every socket and brings a lagging one back to
 * the record. A socket asks the session daemon for its snapshot (after
 * subscribing, so no event falls between), holds the events that arrive
 * meanwhile, writes the snapshot, then the held events the snapshot does
 * not already show (shared/quiz's quiz_event_covered; lifecycle events by
 * seq). A reply to any but the socket's latest request is ignored. What a
 * state reveals (the answer, counts, points) follows shared/quiz.
 * Loop thread only.
 */
#include "ws.h"

#include "log.h"
#include "quiz.h"
#include "reply.h"
#include "subjects.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ws_snapshot_request(struct ws_conn *c) {
    json_t *req = c->who.admin
                      ? json_pack("{s:s}", "sid", c->who.sid)
                      : json_pack("{s:s,s:s}", "sid", c->who.sid, "student_id", c->who.student_id);
    c->snap_gen++;
    struct ws_req_ctx ctx = {.kind = WS_REQ_SNAPSHOT, .c = c, .snap_gen = c->snap_gen};
    int rc = req ? ws_server_request(c->srv, &ctx, SUBJ_SESSION_SNAPSHOT, req) : -1;
    json_decref(req);
    return rc;
}

void ws_snapshot_renew(struct ws_conn *c) {
    if (c->dead || c->close_deadline_ms) return;
    c->ready = 0;
    json_decref(c->held);
    c->held = NULL;
    if (ws_snapshot_request(c) != 0) {
        ws_conn_error(c, "unavailable", "the session service could not be asked");
        ws_conn_close(c, WSLAY_CODE_INTERNAL_SERVER_ERROR, "unavailable");
    }
}

void ws_snapshot_answer(struct ws_conn *c, const json_t *reply, long long gen) {
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
    enum quiz_state st = QUIZ_LOBBY; /* a state it does not know shows nothing */
    quiz_state_parse(json_string_value(json_object_get(reply, "state")), &st);
    const char *state = quiz_state_name(st);
    long long idx = json_integer_value(json_object_get(reply, "question_idx"));
    int open = st == QUIZ_QUESTION;
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
    if (open && !c->who.admin)
        rtt_question_snapshot(&c->rtt, idx,
                              json_integer_value(json_object_get(reply, "opened_at_ms")));
    snap = json_pack("{s:s,s:s,s:s,s:I,s:O?,s:O?,s:I,s:O?,s:O?,s:I}", "type", "snapshot", "sid",
                     c->who.sid, "state", state, "question_idx", (json_int_t)idx, "question_count",
                     json_object_get(reply, "question_count"), "question",
                     json_is_object(q) ? q : NULL, "remaining_ms",
                     (json_int_t)(open ? ws_remaining_ms(reply) : 0), "players",
                     json_object_get(reply, "players"), "my_choice", json_is_string(mc) ? mc : NULL,
                     "score", (json_int_t)c->score);
    /* Once closed the reveal is public: the answer, how the class answered
     * and this student's points, so a reload shows the reveal again. While
     * a question is open only the instructor gets the counts (answered so
     * far), as with answer_stats. */
    if (snap && (quiz_state_reveals_answer(st) || (open && c->who.admin))) {
        static const char *const reveal[] = {"answer", "counts", "points", "answers"};
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
        enum quiz_event t;
        if (quiz_event_parse(json_string_value(json_object_get(ev, "type")), &t) != 0) continue;
        json_t *es = json_object_get(ev, "seq");
        if (quiz_event_is_lifecycle(t) && json_is_integer(es) && c->seq >= 0) {
            long long e = json_integer_value(es);
            if (e <= c->seq) continue;
            if (e > c->seq + 1) { /* missed one after the snapshot was read */
                gap = 1;
                break;
            }
            c->seq = e;
        } else if (quiz_event_covered(t,
                                      (int)json_integer_value(json_object_get(ev, "question_idx")),
                                      st, (int)idx)) {
            continue;
        }
        struct ws_rendering r = {.ev = ev, .type = t};
        ws_render_deliver(c, &r);
        ws_rendering_free(&r);
    }
cleanup:
    json_decref(c->held);
    c->held = NULL;
    json_decref(snap);
    if (gap) {
        LOG_INFO("fanout_gap", "sid=%s seq=%lld held=1", c->who.sid, c->seq);
        ws_snapshot_renew(c);
    }
}
