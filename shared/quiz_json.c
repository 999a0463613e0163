/*
 * quiz_json: the JSON shapes of the quiz (see quiz.h): the session <state>
 * object and each event published on qw.evt.<sid>, built once here so every
 * daemon sends the same fields with the same types. Builders only build:
 * they never publish, read the database or look at the clock.
 */
#include "quiz.h"

json_t *quiz_session_json(const struct quiz_session *s) {
    json_t *o = json_pack("{s:s,s:I,s:s,s:s,s:s,s:i,s:i,s:I,s:s}", "sid", s->sid, "quiz_id",
                          (json_int_t)s->quiz_id, "title", s->title, "join_code", s->join_code,
                          "state", quiz_state_name(s->state), "question_idx", s->question_idx,
                          "question_count", s->question_count, "players", (json_int_t)s->players,
                          "created_at", s->created_at);
    if (!o) return NULL;
    json_object_set_new(o, "locked", json_boolean(s->locked));
    json_object_set_new(o, "two_step", json_boolean(s->two_step));
    json_object_set_new(o, "joins_refused", json_integer(s->joins_refused));
    if (s->has_seq) json_object_set_new(o, "seq", json_integer(s->seq));
    if (s->has_opened) json_object_set_new(o, "opened_at_ms", json_integer(s->opened_at_ms));
    if (s->has_deadline) json_object_set_new(o, "deadline_ms", json_integer(s->deadline_ms));
    return o;
}

json_t *quiz_counts_json(const struct quiz_counts *c) {
    json_t *o = json_object();
    for (int i = 0; o && i < c->nchoices; i++)
        json_object_set_new(o, quiz_label(i), json_integer(c->n[i]));
    return o;
}

json_t *quiz_ev_question_open(long long seq, int idx, int count, const char *text, json_t *choices,
                              long long time_limit_ms, long long opened_at_ms,
                              long long deadline_ms, const json_t *pcts) {
    json_t *ev = json_pack(
        "{s:s,s:I,s:i,s:i,s:s,s:o,s:I,s:I,s:I}", "type", quiz_event_name(QUIZ_EV_QUESTION_OPEN),
        "seq", (json_int_t)seq, "question_idx", idx, "question_count", count, "text", text,
        "choices", choices ? choices : json_array(), "time_limit_ms", (json_int_t)time_limit_ms,
        "opened_at_ms", (json_int_t)opened_at_ms, "deadline_ms", (json_int_t)deadline_ms);
    json_t *factors = json_object();
    const char *student;
    json_t *v;
    json_object_foreach((json_t *)pcts, student, v) {
        long long pct = json_is_integer(v) ? json_integer_value(v) : 0;
        if (pct != QUIZ_FACTOR_NONE && quiz_factor_pct_valid(pct))
            json_object_set_new(factors, student, json_real((double)pct / 100.0));
    }
    if (ev && factors && json_object_size(factors) > 0)
        json_object_set(ev, "time_factors", factors);
    json_decref(factors);
    return ev;
}

int quiz_closed_result_add(json_t *results, const char *student_id, const char *choice,
                           long long points, long long score) {
    json_t *row = json_pack("[o,I,I]", choice ? json_string(choice) : json_null(),
                            (json_int_t)points, (json_int_t)score);
    return row ? json_object_set_new(results, student_id, row) : -1;
}

json_t *quiz_ev_question_closed(long long seq, int idx, const char *answer,
                                const struct quiz_counts *counts, json_t *results,
                                long long players) {
    return json_pack("{s:s,s:I,s:i,s:s,s:o,s:o,s:I}", "type",
                     quiz_event_name(QUIZ_EV_QUESTION_CLOSED), "seq", (json_int_t)seq,
                     "question_idx", idx, "answer", answer, "counts", quiz_counts_json(counts),
                     "results", results ? results : json_object(), "players", (json_int_t)players);
}

json_t *quiz_ev_session_ended(long long seq, const struct quiz_standing *rows, size_t n) {
    json_t *results = json_object();
    for (size_t i = 0; results && i < n; i++)
        json_object_set_new(results, rows[i].student_id,
                            json_pack("[I,i]", (json_int_t)rows[i].score, rows[i].rank));
    return json_pack("{s:s,s:I,s:I,s:o}", "type", quiz_event_name(QUIZ_EV_SESSION_ENDED), "seq",
                     (json_int_t)seq, "players", (json_int_t)n, "results", results);
}

json_t *quiz_ev_session_reset(long long seq, long long epoch) {
    return json_pack("{s:s,s:I,s:I}", "type", quiz_event_name(QUIZ_EV_SESSION_RESET), "seq",
                     (json_int_t)seq, "epoch", (json_int_t)epoch);
}

json_t *quiz_ev_answer_stats(long long seq, int idx, const struct quiz_counts *counts,
                             long long players) {
    return json_pack("{s:s,s:I,s:i,s:o,s:I,s:I}", "type", quiz_event_name(QUIZ_EV_ANSWER_STATS),
                     "seq", (json_int_t)seq, "question_idx", idx, "counts",
                     quiz_counts_json(counts), "answered", (json_int_t)counts->answered, "players",
                     (json_int_t)players);
}

json_t *quiz_ev_lobby_update(long long players, const char *name, const char *student_id) {
    json_t *o = json_pack("{s:s,s:I}", "type", quiz_event_name(QUIZ_EV_LOBBY_UPDATE), "players",
                          (json_int_t)players);
    if (o && name) json_object_set_new(o, "name", json_string(name));
    if (o && student_id) json_object_set_new(o, "student_id", json_string(student_id));
    return o;
}

json_t *quiz_ev_student_removed(const char *student_id, long long players) {
    return json_pack("{s:s,s:s,s:I}", "type", quiz_event_name(QUIZ_EV_STUDENT_REMOVED),
                     "student_id", student_id, "players", (json_int_t)players);
}

json_t *quiz_question_report_json(const struct quiz_question_report *q) {
    double share = quiz_share_right(q);
    json_t *choices = q->choices ? json_deep_copy(q->choices) : json_array();
    return json_pack("{s:i,s:s,s:s,s:o,s:o,s:I,s:I,s:o,s:o}", "question_idx", q->question_idx,
                     "text", q->text ? q->text : "", "answer", q->answer ? q->answer : "",
                     "choices", choices, "counts", quiz_counts_json(&q->counts), "answered",
                     (json_int_t)q->counts.answered, "correct", (json_int_t)q->correct,
                     "share_right", share < 0 ? json_null() : json_real(share), "median_ms",
                     q->median_ms < 0 ? json_null() : json_integer(q->median_ms));
}
