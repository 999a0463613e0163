/*
 * quiz_json: the JSON shapes of the quiz (see quiz.h): the session <state>
 * object and each event published on qw.evt.<sid>, built once here so every
 * daemon sends the same fields with the same types; and the one check of
 * the pool format (every question of every kind), whose error names the
 * question and the field. Builders only build: they never publish, read the
 * database or look at the clock.
 */
#include "quiz.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define POOL_MAX_QUESTIONS 500
#define POOL_TITLE_MAX 200
#define POOL_DEFAULT_LIMIT_S 20
#define POOL_IMAGE_ID_LEN 64   /* hex digits of a picture's SHA-256 */
#define POOL_IMAGE_ALT_MAX 300 /* bytes of a picture's description */

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

json_t *quiz_set_json(const char *set) {
    json_t *a = json_array();
    for (const char *p = set; a && p && *p; p++)
        json_array_append_new(a, json_stringn(p, 1));
    return a;
}

int quiz_reveal_set(json_t *o, enum quiz_kind kind, const char *answer) {
    if (kind == QUIZ_KIND_POLL) return 0;
    if (kind == QUIZ_KIND_MULTI) return json_object_set_new(o, "answers", quiz_set_json(answer));
    return json_object_set_new(o, "answer", json_string(answer ? answer : ""));
}

json_t *quiz_ev_question_open(long long seq, int idx, int count, enum quiz_kind kind,
                              const char *text, json_t *choices, long long time_limit_ms,
                              long long opened_at_ms, long long deadline_ms, const json_t *pcts) {
    json_t *ev = json_pack(
        "{s:s,s:I,s:i,s:i,s:s,s:s,s:o,s:I,s:I,s:I}", "type", quiz_event_name(QUIZ_EV_QUESTION_OPEN),
        "seq", (json_int_t)seq, "question_idx", idx, "question_count", count, "kind",
        quiz_kind_name(kind), "text", text, "choices", choices ? choices : json_array(),
        "time_limit_ms", (json_int_t)time_limit_ms, "opened_at_ms", (json_int_t)opened_at_ms,
        "deadline_ms", (json_int_t)deadline_ms);
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

json_t *quiz_ev_question_closed(long long seq, int idx, enum quiz_kind kind, const char *answer,
                                const struct quiz_counts *counts, json_t *results,
                                long long players) {
    json_t *o =
        json_pack("{s:s,s:I,s:i,s:s,s:o,s:o,s:I}", "type", quiz_event_name(QUIZ_EV_QUESTION_CLOSED),
                  "seq", (json_int_t)seq, "question_idx", idx, "kind", quiz_kind_name(kind),
                  "counts", quiz_counts_json(counts), "results", results ? results : json_object(),
                  "players", (json_int_t)players);
    if (o && quiz_reveal_set(o, kind, answer) != 0) {
        json_decref(o);
        o = NULL;
    }
    return o;
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
    int scored = quiz_kind_scored(q->kind);
    json_t *o = json_pack("{s:i,s:s,s:s,s:o,s:o,s:I,s:o,s:o,s:o}", "question_idx", q->question_idx,
                          "kind", quiz_kind_name(q->kind), "text", q->text ? q->text : "",
                          "choices", choices, "counts", quiz_counts_json(&q->counts), "answered",
                          (json_int_t)q->counts.answered, "correct",
                          scored ? json_integer(q->correct) : json_null(), "share_right",
                          share < 0 ? json_null() : json_real(share), "median_ms",
                          q->median_ms < 0 ? json_null() : json_integer(q->median_ms));
    if (o && quiz_reveal_set(o, q->kind, q->answer) != 0) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

/* ---- the pool format ---------------------------------------------------- */

/* Fills *err about question n (0: the pool) and `field`; returns -1. */
static int refuse(struct quiz_pool_error *err, int n, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int refuse(struct quiz_pool_error *err, int n, const char *field, const char *fmt, ...) {
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    err->question = n;
    err->field = field;
    if (n > 0)
        snprintf(err->message, sizeof(err->message), "question %d: %s", n, what);
    else
        snprintf(err->message, sizeof(err->message), "%s", what);
    return -1;
}

/* "A, B, C": the labels of a question with nc choices. */
static void labels_text(char *buf, size_t size, size_t nc) {
    buf[0] = '\0';
    for (size_t i = 0; i < nc; i++)
        snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", i ? ", " : "", quiz_label((int)i));
}

/* The answer of question n (borrowed q) of `kind` with nc choices in its
 * stored form into out. Returns 0, or -1 with *err. */
static int check_answer(json_t *q, int n, enum quiz_kind kind, size_t nc,
                        char out[QUIZ_MAX_CHOICES + 1], struct quiz_pool_error *err) {
    json_t *one = json_object_get(q, "answer"), *set = json_object_get(q, "answers");
    char allowed[32];
    labels_text(allowed, sizeof(allowed), nc);
    out[0] = '\0';
    if (kind == QUIZ_KIND_POLL) {
        if (one) return refuse(err, n, "answer", "answer: a poll has no right answer");
        if (set) return refuse(err, n, "answers", "answers: a poll has no right answers");
        return 0;
    }
    if (kind == QUIZ_KIND_MULTI) {
        if (one)
            return refuse(err, n, "answer", "answer: a multi question takes \"answers\", a list");
        if (quiz_set_from_json(set, out) != 0 || !quiz_set_valid(out, (int)nc))
            return refuse(err, n, "answers", "answers must be a list of distinct labels of %s",
                          allowed);
        return 0;
    }
    if (set)
        return refuse(err, n, "answers", "answers: a %s question has one right answer, \"answer\"",
                      quiz_kind_name(kind));
    const char *a = json_string_value(one);
    if (!a) return refuse(err, n, "answer", "answer must be one of %s", allowed);
    if (!quiz_choice_valid(a, (int)nc))
        return refuse(err, n, "answer", "answer \"%.16s\" is not one of %s", a, allowed);
    snprintf(out, QUIZ_MAX_CHOICES + 1, "%s", a);
    return 0;
}

/* Checks question n (borrowed q) and appends its normalised form to out. */
static int check_question(json_t *q, int n, json_t *out, struct quiz_pool_error *err) {
    if (!json_is_object(q)) return refuse(err, n, "question", "must be an object");
    json_t *text = json_object_get(q, "text");
    if (!json_is_string(text) || json_string_length(text) == 0)
        return refuse(err, n, "text", "text must be a non-empty string");
    enum quiz_kind kind = QUIZ_KIND_SINGLE;
    json_t *k = json_object_get(q, "kind");
    if (k && quiz_kind_parse(json_string_value(k), &kind) != 0)
        return refuse(err, n, "kind", "kind must be single, multi, truefalse or poll");
    json_t *choices = json_object_get(q, "choices");
    size_t nc = json_array_size(choices);
    if (!json_is_array(choices) || nc < 2 || nc > QUIZ_MAX_CHOICES)
        return refuse(err, n, "choices", "choices must be a list of 2 to %d entries",
                      QUIZ_MAX_CHOICES);
    if (kind == QUIZ_KIND_TRUEFALSE && nc != 2)
        return refuse(err, n, "choices", "choices: a truefalse question has exactly 2, got %zu",
                      nc);
    for (size_t i = 0; i < nc; i++) {
        json_t *c = json_array_get(choices, i);
        if (!json_is_string(c) || json_string_length(c) == 0)
            return refuse(err, n, "choices", "choice %s must be a non-empty string",
                          quiz_label((int)i));
    }
    char answer[QUIZ_MAX_CHOICES + 1];
    if (check_answer(q, n, kind, nc, answer, err) != 0) return -1;
    json_int_t limit = POOL_DEFAULT_LIMIT_S;
    json_t *tl = json_object_get(q, "time_limit_s");
    if (tl && !json_is_null(tl)) {
        if (!json_is_integer(tl) || json_integer_value(tl) < 5 || json_integer_value(tl) > 600)
            return refuse(err, n, "time_limit_s",
                          "time_limit_s must be a whole number from 5 to 600");
        limit = json_integer_value(tl);
    }
    json_t *image = json_object_get(q, "image");
    const char *img = json_string_value(image);
    if (image && !json_is_null(image)) {
        size_t len = img ? strlen(img) : 0;
        int hex = len == POOL_IMAGE_ID_LEN;
        for (size_t i = 0; hex && i < len; i++)
            hex = (img[i] >= '0' && img[i] <= '9') || (img[i] >= 'a' && img[i] <= 'f');
        if (!hex)
            return refuse(err, n, "image", "image must be a picture id (64 lowercase hex digits)");
    }
    json_t *alt = json_object_get(q, "image_alt");
    const char *alt_text = json_string_value(alt);
    if (alt && !json_is_null(alt) && (!alt_text || json_string_length(alt) > POOL_IMAGE_ALT_MAX))
        return refuse(err, n, "image_alt", "image_alt must be a text of at most %d bytes",
                      POOL_IMAGE_ALT_MAX);
    json_t *norm = json_pack("{s:O,s:s,s:O,s:I}", "text", text, "kind", quiz_kind_name(kind),
                             "choices", choices, "time_limit_s", limit);
    if (norm && answer[0]) json_object_set_new(norm, "answer", json_string(answer));
    if (norm && img) json_object_set_new(norm, "image", json_string(img));
    if (norm && img && alt_text) json_object_set_new(norm, "image_alt", json_string(alt_text));
    if (!norm || json_array_append_new(out, norm) != 0)
        return refuse(err, n, "question", "out of memory");
    return 0;
}

int quiz_pool_check(json_t *pool, const char **title, json_t **out, struct quiz_pool_error *err) {
    *out = NULL;
    json_t *t = json_object_get(pool, "title");
    if (t && !json_is_null(t) && !json_is_string(t))
        return refuse(err, 0, "title", "title must be a string");
    *title = json_string_value(t) && *json_string_value(t) ? json_string_value(t) : "Untitled quiz";
    if (json_is_string(t) && json_string_length(t) > POOL_TITLE_MAX)
        return refuse(err, 0, "title", "title must be at most %d bytes", POOL_TITLE_MAX);
    json_t *qs = json_object_get(pool, "questions");
    if (!json_is_array(qs) || json_array_size(qs) == 0)
        return refuse(err, 0, "questions", "questions must be a list of at least one question");
    if (json_array_size(qs) > POOL_MAX_QUESTIONS)
        return refuse(err, 0, "questions", "questions: at most %d questions, got %zu",
                      POOL_MAX_QUESTIONS, json_array_size(qs));
    json_t *norm = json_array();
    size_t i;
    json_t *q;
    json_array_foreach(qs, i, q) {
        if (!norm || check_question(q, (int)i + 1, norm, err) != 0) {
            if (!norm) refuse(err, 0, "questions", "out of memory");
            json_decref(norm);
            return -1;
        }
    }
    *out = norm;
    return 0;
}
