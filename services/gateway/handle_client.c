/*
 * handle_client: what a client writes on its WebSocket (submit, ping,
 * instructor next/open/close/end) and the answers to the requests that
 * causes. Loop thread only; never blocks: requests go out with a reply
 * inbox (ws_server_request) and come back to handle_client_reply().
 *
 * Bad input never closes the socket nor touches another one: it gets an
 * `error`; only a flood (over WS_BAD_LIMIT in WS_BAD_WINDOW_MS) closes 1008.
 * The gateway never decides a score; it only measures time (fair points).
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

static void send_json(struct ws_conn *c, json_t *j) {
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (s) ws_conn_send(c, s, strlen(s));
    free(s);
    json_decref(j);
}

/* Answers a bad message with `error`, counting it toward the flood limit. */
static void bad(struct ws_conn *c, const char *code, const char *message) {
    int64_t now = clock_mono_ms();
    if (now - c->bad_window_ms > WS_BAD_WINDOW_MS) {
        c->bad_window_ms = now;
        c->bad_count = 0;
    }
    if (++c->bad_count > WS_BAD_LIMIT) {
        LOG_INFO("ws_flood", "conn=%llu sid=%s", (unsigned long long)c->id, c->who.sid);
        ws_conn_close(c, WSLAY_CODE_POLICY_VIOLATION, "too many bad messages");
        return;
    }
    ws_conn_error(c, code, message);
}

static void on_submit(struct ws_conn *c, json_t *msg, int64_t mono_us, int64_t wall_ms) {
    if (c->who.admin) {
        ws_conn_error(c, "forbidden", "instructors do not submit answers");
        return;
    }
    json_t *qi = json_object_get(msg, "question_idx");
    json_t *ch = json_object_get(msg, "choice"), *set = json_object_get(msg, "choices");
    char labels[QUIZ_MAX_CHOICES + 1] = "";
    if (!json_is_integer(qi) || json_integer_value(qi) < 0) {
        bad(c, "bad_field", "question_idx must be a whole number >= 0");
        return;
    }
    if (ch && set) {
        bad(c, "bad_field", "send either choice (one label) or choices (a list), not both");
        return;
    }
    /* a list of labels (a multi question) travels in its stored form "AC";
     * whether the question takes a list is scoring's to judge (invalid) */
    if (set && quiz_set_from_json(set, labels) != 0) {
        bad(c, "bad_field",
            "choices must be a list of 1 to 6 distinct labels such as [\"A\",\"C\"]");
        return;
    }
    if (!set &&
        (!json_is_string(ch) || json_string_length(ch) == 0 || json_string_length(ch) > 8)) {
        bad(c, "bad_field", "choice must be a label such as \"A\"");
        return;
    }
    long long qidx = json_integer_value(qi);
    const char *choice = set ? labels : json_string_value(ch);
    json_t *req = json_pack("{s:s,s:s,s:I,s:I,s:s,s:I,s:I,s:b}", "sid", c->who.sid, "student_id",
                            c->who.student_id, "epoch", (json_int_t)c->who.epoch, "question_idx",
                            (json_int_t)qidx, "choice", choice, "received_at_ms",
                            (json_int_t)wall_ms, "elapsed_ms",
                            (json_int_t)rtt_submit_elapsed_ms(&c->rtt, qidx, mono_us, wall_ms,
                                                              ws_server_rtt_cap_ms(c->srv) * 1000),
                            "set", set != NULL);
    struct ws_req_ctx ctx = {.kind = WS_REQ_SUBMIT, .c = c, .qidx = qidx, .is_set = set != NULL};
    snprintf(ctx.choice, sizeof(ctx.choice), "%s", choice);
    if (!req || ws_server_request(c->srv, &ctx, SUBJ_SCORING_SUBMIT, req) != 0)
        ws_conn_error(c, "unavailable", "the answer could not be sent; nothing was recorded");
    json_decref(req);
}

static void on_command(struct ws_conn *c, const char *cmd) {
    if (!c->who.admin) {
        ws_conn_error(c, "forbidden", "only the instructor drives the session");
        return;
    }
    char subject[64];
    json_t *req = json_pack("{s:s,s:s}", "sid", c->who.sid, "cmd", cmd);
    struct ws_req_ctx ctx = {.kind = WS_REQ_CMD, .c = c, .qidx = -1};
    if (!req || quiz_cmd_subject(subject, sizeof(subject), c->who.sid) != 0 ||
        ws_server_request(c->srv, &ctx, subject, req) != 0)
        ws_conn_error(c, "unavailable", "the session service could not be asked");
    json_decref(req);
}

void handle_client_text(struct ws_conn *c, const uint8_t *data, size_t len) {
    int64_t mono_us = clock_mono_us();
    int64_t wall_ms = clock_wall_ms();
    json_t *msg = NULL;
    if (memchr(data, '\0', len)) {
        bad(c, "bad_json", "a message must be one JSON object");
        goto cleanup;
    }
    json_error_t err;
    msg = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &err);
    if (!json_is_object(msg)) {
        bad(c, "bad_json", "a message must be one JSON object");
        goto cleanup;
    }
    const char *type = json_string_value(json_object_get(msg, "type"));
    if (!type) {
        bad(c, "unknown_type", "a message needs a string \"type\"");
    } else if (strcmp(type, "submit") == 0) {
        on_submit(c, msg, mono_us, wall_ms);
    } else if (strcmp(type, "ping") == 0) {
        send_json(c, json_pack("{s:s}", "type", "pong"));
    } else if (strcmp(type, "next") == 0 || strcmp(type, "open") == 0 ||
               strcmp(type, "close") == 0 || strcmp(type, "end") == 0) {
        on_command(c, type);
    } else {
        bad(c, "unknown_type", "unknown message type");
    }
cleanup:
    json_decref(msg);
}

/* Passes a failed reply on as `error` with its own code. */
static void reply_failure(struct ws_conn *c, const json_t *reply) {
    const char *code = json_string_value(json_object_get(reply, "error"));
    const char *message = json_string_value(json_object_get(reply, "message"));
    ws_conn_error(c, code ? code : "error", message ? message : "the request failed");
}

void handle_client_reply(const struct ws_req_ctx *ctx, const json_t *reply) {
    struct ws_conn *c = ctx->c;
    enum ws_req_kind kind = ctx->kind;
    if (kind == WS_REQ_SNAPSHOT) {
        ws_snapshot_answer(c, reply, ctx->snap_gen);
        return;
    }
    if (!reply) {
        ws_conn_error(c, "unavailable",
                      kind == WS_REQ_SUBMIT ? "no answer in time; nothing was recorded, send again"
                                            : "the session service did not answer");
        return;
    }
    if (!reply_is_ok(reply)) {
        reply_failure(c, reply);
        return;
    }
    if (kind == WS_REQ_SUBMIT) {
        json_t *rq = json_object_get(reply, "question_idx");
        const char *rc = json_string_value(json_object_get(reply, "choice"));
        const char *status = json_string_value(json_object_get(reply, "status"));
        const char *got = rc ? rc : ctx->choice;
        /* the ack echoes the field the client used: choices (a list) or choice */
        send_json(c, json_pack("{s:s,s:I,s:o,s:s}", "type", "submit_ack", "question_idx",
                               json_is_integer(rq) ? json_integer_value(rq) : (json_int_t)ctx->qidx,
                               ctx->is_set ? "choices" : "choice",
                               ctx->is_set ? quiz_set_json(got) : json_string(got), "status",
                               status ? status : "invalid"));
    }
    /* a command's effect arrives as its lifecycle event */
}
