/*
 * ws_render: how one event is written to one socket. The parts every
 * student gets (the event minus `results` and the console's `student_id`)
 * and what the instructor gets are rendered once per event and shared,
 * not copied, by every socket's queued frame; each socket adds a small
 * tail of its own (remaining_ms at send time, my_choice,
 * points, score, rank from `results`). Nobody sees another's points.
 * A question_open carries `time_factors` (the few students with extra
 * time); nobody but the console sees that map, and a student in it gets a
 * rendering of their own with their own limit and deadline (rare: the
 * common path only looks their id up in the map).
 * Loop thread only.
 */
#include "ws.h"

#include "clock.h"
#include "quiz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The compact JSON of `j` without its closing brace, shared by every
 * socket it is written to (one reference, the rendering's). */
static struct ws_shared *open_text(const json_t *j) {
    char *s = json_dumps(j, JSON_COMPACT);
    size_t n = s ? strlen(s) : 0;
    struct ws_shared *out = n >= 2 && s[n - 1] == '}' ? ws_shared_new(s, n - 1) : NULL;
    free(s);
    return out;
}

int64_t ws_remaining_ms(const json_t *obj) {
    json_t *d = json_object_get(obj, "deadline_ms");
    if (!json_is_integer(d)) return 0;
    int64_t r = (int64_t)json_integer_value(d) - clock_wall_ms();
    return r < 0 ? 0 : r;
}

/* question_open for a student with extra time (`pct`): the student's
 * parts with their own time_limit_ms, deadline_ms and remaining_ms. */
static void deliver_own_time(struct ws_conn *c, const json_t *ev, int pct) {
    json_t *copy = json_copy((json_t *)ev);
    char *text = NULL;
    if (!copy) return;
    json_object_del(copy, "time_factors");
    long long limit = quiz_limit_ms(json_integer_value(json_object_get(ev, "time_limit_ms")), pct);
    long long deadline = json_integer_value(json_object_get(ev, "opened_at_ms")) + limit;
    json_object_set_new(copy, "time_limit_ms", json_integer(limit));
    json_object_set_new(copy, "deadline_ms", json_integer(deadline));
    json_object_set_new(copy, "time_factor", json_real(pct / 100.0));
    json_object_set_new(copy, "remaining_ms", json_integer(ws_remaining_ms(copy)));
    text = json_dumps(copy, JSON_COMPACT);
    if (text) ws_conn_send(c, text, strlen(text));
    free(text);
    json_decref(copy);
}

/* Queues prefix + tail (tail closes the object): the prefix is not copied,
 * the socket's frame holds a reference to it. */
static void send_parts(struct ws_conn *c, struct ws_shared *prefix, const char *tail) {
    if (prefix) ws_conn_send_parts(c, prefix, tail, strlen(tail));
}

void ws_rendering_free(struct ws_rendering *r) {
    ws_shared_unref(r->student);
    ws_shared_unref(r->admin);
}

void ws_render_deliver(struct ws_conn *c, struct ws_rendering *r) {
    enum quiz_event t = r->type;
    char tail[256];
    int is_open = t == QUIZ_EV_QUESTION_OPEN;
    if (c->who.admin) {
        if (!r->admin) r->admin = open_text(r->ev);
        if (is_open)
            snprintf(tail, sizeof(tail), ",\"remaining_ms\":%lld}",
                     (long long)ws_remaining_ms(r->ev));
        else
            snprintf(tail, sizeof(tail), "}");
        send_parts(c, r->admin, tail);
        return;
    }
    if (t == QUIZ_EV_ANSWER_STATS) return;
    if (t == QUIZ_EV_SESSION_RESET) {
        ws_conn_close(c, WS_CODE_SESSION_RESET, "session reset");
        return;
    }
    if (t == QUIZ_EV_STUDENT_REMOVED) { /* the others learn the count from lobby_update */
        const char *gone = json_string_value(json_object_get(r->ev, "student_id"));
        if (gone && strcmp(gone, c->who.student_id) == 0)
            ws_conn_close(c, WS_CODE_REMOVED, "You were removed by the instructor");
        return;
    }
    if (!r->student) {
        json_t *copy = json_copy(r->ev);
        if (!copy) return;
        json_object_del(copy, "results");
        json_object_del(copy, "student_id");   /* lobby_update: the console's, not the class's */
        json_object_del(copy, "time_factors"); /* question_open: who has extra time */
        r->student = open_text(copy);
        json_decref(copy);
    }
    json_t *mine = json_object_get(json_object_get(r->ev, "results"), c->who.student_id);
    if (is_open) {
        rtt_question_queued(&c->rtt, json_integer_value(json_object_get(r->ev, "question_idx")),
                            json_integer_value(json_object_get(r->ev, "opened_at_ms")));
        json_t *factors = json_object_get(r->ev, "time_factors");
        int pct = factors ? quiz_factor_of(factors, c->who.student_id) : QUIZ_FACTOR_NONE;
        if (pct != QUIZ_FACTOR_NONE) {
            deliver_own_time(c, r->ev, pct);
            return;
        }
        snprintf(tail, sizeof(tail), ",\"remaining_ms\":%lld}", (long long)ws_remaining_ms(r->ev));
    } else if (t == QUIZ_EV_QUESTION_CLOSED) {
        /* results[student_id] = [choice|null, points, score] */
        json_t *ch = json_array_get(mine, 0);
        long long points = json_integer_value(json_array_get(mine, 1));
        if (json_is_integer(json_array_get(mine, 2)))
            c->score = json_integer_value(json_array_get(mine, 2));
        char *chs = json_is_string(ch) ? json_dumps(ch, JSON_ENCODE_ANY) : NULL;
        snprintf(tail, sizeof(tail), ",\"my_choice\":%s,\"points\":%lld,\"score\":%lld}",
                 chs ? chs : "null", points, c->score);
        free(chs);
    } else if (t == QUIZ_EV_SESSION_ENDED) {
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
