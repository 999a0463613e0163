/*
 * routes_admin: the instructor's REST routes. Each handler checks the
 * admin token first (http_require_admin: 401 and no data without one), then
 * translates the request into one NATS request and the reply back into
 * HTTP. The gateway decides nothing here: pools and sessions live behind
 * the session daemon, results behind scoring, logins behind auth. The one
 * thing built here is the files to download (the results and the report per
 * question as CSV, from the results object; a quiz as CSV or pool JSON, from
 * the quiz's pool).
 * Runs on libmicrohttpd's pool threads.
 */
#include "http.h"

#include "quiz.h"
#include "reply.h"
#include "subjects.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum MHD_Result admin_login(struct http_req *r) {
    enum MHD_Result ret;
    json_t *body = http_body_json(r, &ret);
    if (!body) return ret;
    char ip[64];
    http_client_ip(r, ip, sizeof(ip));
    json_t *user = json_object_get(body, "username"), *pw = json_object_get(body, "password");
    if (!json_is_string(user) || !json_is_string(pw)) {
        json_decref(body);
        return http_error(r, 400, "bad_field", "username and password must be strings");
    }
    json_t *req = json_pack("{s:O,s:O,s:s}", "username", user, "password", pw, "ip", ip);
    json_decref(body);
    json_t *reply = http_bus(r, SUBJ_AUTH_LOGIN, req);
    json_decref(req);
    if (reply_is_ok(reply) && json_is_string(json_object_get(reply, "token"))) {
        http_set_cookie(r, "qw_admin", json_string_value(json_object_get(reply, "token")), "Strict",
                        (long long)json_integer_value(json_object_get(reply, "max_age_s")));
        json_object_del(reply, "token"); /* the cookie carries it; scripts use the cookie jar */
    }
    ret = http_from_reply(r, reply, 200);
    json_decref(reply);
    return ret;
}

static enum MHD_Result admin_logout(struct http_req *r) {
    enum MHD_Result ret;
    json_t *claims = http_require_admin(r, &ret);
    if (!claims) return ret;
    json_decref(claims);
    const char *token = http_admin_token(r);
    json_t *req = json_pack("{s:s}", "token", token ? token : "");
    json_t *reply = http_bus(r, SUBJ_AUTH_LOGOUT, req);
    json_decref(req);
    if (reply_is_ok(reply)) http_set_cookie(r, "qw_admin", "", "Strict", 0);
    ret = http_from_reply(r, reply, 200);
    json_decref(reply);
    return ret;
}

/* Checks the admin token and sends `req` (stolen) to `subject`. Returns
 * the ok reply (caller owns), or NULL once the answer is queued in *ret:
 * 401 without the token, else the daemon's error (or 503) passed on. */
static json_t *admin_request(struct http_req *r, const char *subject, json_t *req,
                             enum MHD_Result *ret) {
    json_t *claims = http_require_admin(r, ret);
    if (!claims) {
        json_decref(req);
        return NULL;
    }
    json_decref(claims);
    json_t *reply = http_bus(r, subject, req);
    json_decref(req);
    if (reply_is_ok(reply)) return reply;
    *ret = http_from_reply(r, reply, 200);
    json_decref(reply);
    return NULL;
}

/* Checks the admin token, sends `req` (stolen) to `subject` and passes the
 * reply on. */
static enum MHD_Result forward(struct http_req *r, const char *subject, json_t *req) {
    enum MHD_Result ret;
    json_t *reply = admin_request(r, subject, req, &ret);
    if (!reply) return ret;
    ret = http_from_reply(r, reply, 200);
    json_decref(reply);
    return ret;
}

/* Like forward() for a JSON body: the token is checked before the body is
 * even parsed, so a caller without one learns nothing about its input. With
 * a `key` (the path's sid for the routes of one session, the path's quiz_id
 * for a PUT of a quiz), the path's `value` replaces any in the body. */
static enum MHD_Result forward_body(struct http_req *r, const char *subject, const char *key,
                                    const char *value) {
    enum MHD_Result ret;
    json_t *claims = http_require_admin(r, &ret);
    if (!claims) return ret;
    json_decref(claims);
    json_t *body = http_body_json(r, &ret);
    if (!body) return ret;
    if (key) json_object_set_new(body, key, json_string(value));
    json_t *reply = http_bus(r, subject, body);
    json_decref(body);
    ret = http_from_reply(r, reply, 200);
    json_decref(reply);
    return ret;
}

static enum MHD_Result quiz_create(struct http_req *r) {
    return forward_body(r, SUBJ_QUIZ_CREATE, NULL, NULL);
}
static enum MHD_Result quiz_list(struct http_req *r) {
    return forward(r, SUBJ_QUIZ_LIST, json_object());
}

/* The editor's routes name the quiz in the path: {"quiz_id":"<path>"}; the
 * session daemon checks that it is a number. */
static json_t *quiz_ref(struct http_req *r) {
    return json_pack("{s:s}", "quiz_id", r->params[0]);
}
static enum MHD_Result quiz_get(struct http_req *r) {
    return forward(r, SUBJ_QUIZ_GET, quiz_ref(r));
}
static enum MHD_Result quiz_duplicate(struct http_req *r) {
    return forward(r, SUBJ_QUIZ_DUPLICATE, quiz_ref(r));
}
static enum MHD_Result quiz_delete(struct http_req *r) {
    return forward(r, SUBJ_QUIZ_DELETE, quiz_ref(r));
}
static enum MHD_Result quiz_validate(struct http_req *r) {
    return forward_body(r, SUBJ_QUIZ_VALIDATE, NULL, NULL);
}

/* PUT: the pool in the body, the quiz named by the path (any quiz_id in the
 * body, e.g. from an export, is replaced by it). */
static enum MHD_Result quiz_put(struct http_req *r) {
    return forward_body(r, SUBJ_QUIZ_PUT, "quiz_id", r->params[0]);
}
static enum MHD_Result session_create(struct http_req *r) {
    return forward_body(r, SUBJ_SESSION_CREATE, NULL, NULL);
}
static enum MHD_Result session_list(struct http_req *r) {
    return forward(r, SUBJ_SESSION_LIST, json_object());
}
static enum MHD_Result session_get(struct http_req *r) {
    return forward(r, SUBJ_SESSION_GET, json_pack("{s:s}", "sid", r->params[0]));
}

/* A lifecycle command goes to the daemon driving the session's shard. */
static enum MHD_Result command(struct http_req *r, const char *sid, const char *cmd) {
    char subject[64];
    if (quiz_cmd_subject(subject, sizeof(subject), sid) != 0)
        return http_error(r, 404, "unknown_session", "no such session");
    return forward(r, subject, json_pack("{s:s,s:s}", "sid", sid, "cmd", cmd));
}
static enum MHD_Result cmd_next(struct http_req *r) {
    return command(r, r->params[0], "next");
}
static enum MHD_Result cmd_open(struct http_req *r) {
    return command(r, r->params[0], "open");
}
static enum MHD_Result cmd_close(struct http_req *r) {
    return command(r, r->params[0], "close");
}
static enum MHD_Result cmd_end(struct http_req *r) {
    return command(r, r->params[0], "end");
}
static enum MHD_Result cmd_reset(struct http_req *r) {
    return command(r, r->params[0], "reset");
}
static enum MHD_Result reset_main(struct http_req *r) {
    return command(r, "main", "reset");
}

static enum MHD_Result lobby_lock(struct http_req *r) {
    return forward(r, SUBJ_LOBBY_LOCK, json_pack("{s:s,s:b}", "sid", r->params[0], "locked", 1));
}
static enum MHD_Result lobby_unlock(struct http_req *r) {
    return forward(r, SUBJ_LOBBY_LOCK, json_pack("{s:s,s:b}", "sid", r->params[0], "locked", 0));
}
static enum MHD_Result lobby_two_step(struct http_req *r) {
    return forward_body(r, SUBJ_LOBBY_TWO_STEP, "sid", r->params[0]);
}
static enum MHD_Result lobby_remove(struct http_req *r) {
    return forward_body(r, SUBJ_LOBBY_REMOVE, "sid", r->params[0]);
}
static enum MHD_Result time_factor(struct http_req *r) {
    return forward_body(r, SUBJ_TIME_FACTOR, "sid", r->params[0]);
}
static enum MHD_Result lobby_shapes(struct http_req *r) {
    http_add_header(r, "Cache-Control", "no-store");
    return forward(r, SUBJ_LOBBY_SHAPES, json_pack("{s:s}", "sid", r->params[0]));
}

static enum MHD_Result results(struct http_req *r) {
    return forward(r, SUBJ_SCORING_RESULTS, json_pack("{s:s}", "sid", r->params[0]));
}

/* A growing text buffer for the CSV. */
struct buf {
    char *data;
    size_t len, cap;
    int failed;
};

static void buf_add(struct buf *b, const char *s, size_t n) {
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown) {
            b->failed = 1;
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

/* One CSV cell (RFC 4180): quoted when it holds a comma, quote, CR or LF;
 * a leading = + - @ is defused with ' so no spreadsheet runs it. */
static void csv_cell(struct buf *b, const char *s, int last) {
    int quote = strpbrk(s, ",\"\r\n") != NULL;
    int defuse = s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@';
    if (quote) buf_add(b, "\"", 1);
    if (defuse) buf_add(b, "'", 1);
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            buf_add(b, "\"\"", 2);
        else
            buf_add(b, p, 1);
    }
    if (quote) buf_add(b, "\"", 1);
    buf_add(b, last ? "\r\n" : ",", last ? 2 : 1);
}

/* A JSON scalar as cell text into tmp (or "" for null/absent). */
static const char *cell_text(json_t *v, char *tmp, size_t n) {
    if (json_is_string(v)) return json_string_value(v);
    if (json_is_integer(v))
        snprintf(tmp, n, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(tmp, n, "%g", json_real_value(v));
    else if (json_is_true(v))
        snprintf(tmp, n, "true");
    else if (json_is_false(v))
        snprintf(tmp, n, "false");
    else
        tmp[0] = '\0';
    return tmp;
}

/* The text of an answer's or a question's labels: the list under
 * `list_key` joined by "+" ("A+C", a multi's set) when present, else the
 * string under `key` ("" for a poll's answer). */
static const char *labels_text(json_t *o, const char *key, const char *list_key, char *tmp,
                               size_t n) {
    json_t *list = json_object_get(o, list_key);
    if (!json_is_array(list)) return cell_text(json_object_get(o, key), tmp, n);
    size_t i, k = 0;
    json_t *l;
    tmp[0] = '\0';
    json_array_foreach(list, i, l) {
        const char *t = json_string_value(l);
        int w = snprintf(tmp + k, n - k, "%s%s", i ? "+" : "", t ? t : "");
        if (w < 0 || (size_t)w >= n - k) break;
        k += (size_t)w;
    }
    return tmp;
}

/* Renders the results object (borrowed) as CSV into b: a multi's choice as
 * its set ("A+C"), a poll's `correct` empty. */
static void results_csv(json_t *res, struct buf *b) {
    static const char *const student_cols[] = {"student_id", "name", "score", "rank"};
    static const char *const answer_cols[] = {"question_idx", "choice", "correct", "points",
                                              "latency_ms"};
    static const char header[] =
        "student_id,name,score,rank,question_idx,choice,correct,points,latency_ms\r\n";
    buf_add(b, header, sizeof(header) - 1);
    size_t i, j;
    json_t *s, *ans;
    char tmp[64];
    json_array_foreach(json_object_get(res, "students"), i, s) {
        json_t *answers = json_object_get(s, "answers");
        size_t n = json_array_size(answers);
        for (j = 0; j < (n ? n : 1); j++) {
            ans = n ? json_array_get(answers, j) : NULL;
            for (int c = 0; c < 4; c++)
                csv_cell(b, cell_text(json_object_get(s, student_cols[c]), tmp, sizeof(tmp)), 0);
            for (int c = 0; c < 5; c++)
                csv_cell(b,
                         !ans ? ""
                         : c == 1
                             ? labels_text(ans, "choice", "choices", tmp, sizeof(tmp))
                             : cell_text(json_object_get(ans, answer_cols[c]), tmp, sizeof(tmp)),
                         c == 4);
        }
    }
}

/* Renders the report of the results object (borrowed) as CSV into b: one row
 * per question, hardest first, its kind, its answer (a multi's set "A+C", a
 * poll's empty, as are its correct and share_right), the counts of A..F in
 * the last columns (empty past the question's choices). */
static void report_csv(json_t *res, struct buf *b) {
    static const char *const cols[] = {"question_idx", "kind",    "text",        "answer",
                                       "answered",     "correct", "share_right", "median_ms"};
    static const char header[] =
        "question_idx,kind,text,answer,answered,correct,share_right,median_ms,A,B,C,D,E,F\r\n";
    buf_add(b, header, sizeof(header) - 1);
    size_t i;
    json_t *q;
    char tmp[64];
    json_array_foreach(json_object_get(res, "questions"), i, q) {
        for (size_t c = 0; c < sizeof(cols) / sizeof(cols[0]); c++)
            csv_cell(b,
                     c == 3 ? labels_text(q, "answer", "answers", tmp, sizeof(tmp))
                            : cell_text(json_object_get(q, cols[c]), tmp, sizeof(tmp)),
                     0);
        json_t *counts = json_object_get(q, "counts");
        for (int c = 0; c < QUIZ_MAX_CHOICES; c++)
            csv_cell(b, cell_text(json_object_get(counts, quiz_label(c)), tmp, sizeof(tmp)),
                     c == QUIZ_MAX_CHOICES - 1);
    }
}

/* Sends the built file `b` (freed here) as an attachment named by the
 * Content-Disposition value `disp`, never cached; 500 when building it
 * failed. */
static enum MHD_Result send_attachment(struct http_req *r, struct buf *b, const char *type,
                                       const char *disp) {
    enum MHD_Result ret;
    if (b->failed) {
        ret = http_error(r, 500, "internal", "the file could not be built");
    } else {
        http_add_header(r, "Content-Disposition", disp);
        http_add_header(r, "Cache-Control", "no-store");
        ret = http_bytes(r, 200, type, b->data ? b->data : "", b->len);
    }
    free(b->data);
    return ret;
}

/* Answers GET .../<name>.csv: the results object from scoring rendered by
 * `render` as an attachment quizwire-<sid>-<name>.csv. */
static enum MHD_Result csv_route(struct http_req *r, void (*render)(json_t *, struct buf *),
                                 const char *name) {
    enum MHD_Result ret;
    json_t *reply =
        admin_request(r, SUBJ_SCORING_RESULTS, json_pack("{s:s}", "sid", r->params[0]), &ret);
    if (!reply) return ret;
    struct buf b = {0};
    render(reply, &b);
    json_decref(reply);
    /* the file name keeps only safe characters of the sid */
    char safe[65], disp[160];
    size_t k = 0;
    for (const char *p = r->params[0]; *p && k < sizeof(safe) - 1; p++)
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_')
            safe[k++] = *p;
    safe[k] = '\0';
    snprintf(disp, sizeof(disp), "attachment; filename=\"quizwire-%s-%s.csv\"", safe, name);
    return send_attachment(r, &b, "text/csv; charset=utf-8", disp);
}

static enum MHD_Result results_csv_route(struct http_req *r) {
    return csv_route(r, results_csv, "results");
}
static enum MHD_Result report_csv_route(struct http_req *r) {
    return csv_route(r, report_csv, "report");
}

/* A question's right answer(s) as the CSV template writes them: "B", or
 * "A;C" for several (an `answers` list, or its stored text form). */
static void answers_text(json_t *q, char *out, size_t n) {
    json_t *many = json_object_get(q, "answers");
    size_t i, k = 0;
    json_t *a;
    out[0] = '\0';
    if (json_is_array(many)) {
        json_array_foreach(many, i, a) {
            if (!json_is_string(a)) continue;
            k += (size_t)snprintf(out + k, k < n ? n - k : 0, "%s%s", k ? ";" : "",
                                  json_string_value(a));
            if (k >= n) break;
        }
    } else if (json_is_string(many)) {
        snprintf(out, n, "%s", json_string_value(many));
    } else if (json_is_string(json_object_get(q, "answer"))) {
        snprintf(out, n, "%s", json_string_value(json_object_get(q, "answer")));
    }
}

/* Renders a quiz (the quiz_get reply, borrowed) as the CSV template of
 * docs/QUIZZES.md: one row per question, the same cell rules as the
 * results CSV (formula cells defused). */
static void quiz_csv(json_t *quiz, struct buf *b) {
    static const char header[] = "question,kind,choice A,choice B,choice C,choice D,choice E,"
                                 "choice F,right answer(s),time limit (s),image\r\n";
    buf_add(b, header, sizeof(header) - 1);
    size_t i;
    json_t *q;
    char tmp[64];
    json_array_foreach(json_object_get(quiz, "questions"), i, q) {
        json_t *kind = json_object_get(q, "kind");
        json_t *choices = json_object_get(q, "choices");
        csv_cell(b, cell_text(json_object_get(q, "text"), tmp, sizeof(tmp)), 0);
        csv_cell(b, json_is_string(kind) ? json_string_value(kind) : "single", 0);
        for (size_t c = 0; c < 6; c++)
            csv_cell(b, cell_text(json_array_get(choices, c), tmp, sizeof(tmp)), 0);
        answers_text(q, tmp, sizeof(tmp));
        csv_cell(b, tmp, 0);
        csv_cell(b, cell_text(json_object_get(q, "time_limit_s"), tmp, sizeof(tmp)), 0);
        csv_cell(b, cell_text(json_object_get(q, "image"), tmp, sizeof(tmp)), 1);
    }
}

/* Answers GET /admin/api/quizzes/{id}/export.{csv,json}: the quiz as an
 * attachment quiz-<id>.csv (the template) or .json (the pool format: title
 * and questions, ready to upload or PUT again). */
static enum MHD_Result quiz_export(struct http_req *r, int as_csv) {
    enum MHD_Result ret;
    json_t *reply = admin_request(r, SUBJ_QUIZ_GET, quiz_ref(r), &ret);
    if (!reply) return ret;
    struct buf b = {0};
    if (as_csv) {
        quiz_csv(reply, &b);
    } else {
        json_t *pool = json_pack("{s:O,s:O}", "title", json_object_get(reply, "title"), "questions",
                                 json_object_get(reply, "questions"));
        char *text = pool ? json_dumps(pool, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        if (text) buf_add(&b, text, strlen(text));
        b.failed |= !text;
        free(text);
        json_decref(pool);
    }
    char disp[96];
    snprintf(disp, sizeof(disp), "attachment; filename=\"quiz-%lld.%s\"",
             (long long)json_integer_value(json_object_get(reply, "quiz_id")),
             as_csv ? "csv" : "json");
    json_decref(reply);
    return send_attachment(
        r, &b, as_csv ? "text/csv; charset=utf-8" : "application/json; charset=utf-8", disp);
}

static enum MHD_Result quiz_export_csv(struct http_req *r) {
    return quiz_export(r, 1);
}
static enum MHD_Result quiz_export_json(struct http_req *r) {
    return quiz_export(r, 0);
}

const struct http_route routes_admin[] = {
    {"POST", "/admin/login", 0, admin_login},
    {"POST", "/admin/logout", 0, admin_logout},
    {"POST", "/admin/api/quizzes", HTTP_POOL_LIMIT, quiz_create},
    {"GET", "/admin/api/quizzes", 0, quiz_list},
    {"POST", "/admin/api/quizzes/validate", HTTP_POOL_LIMIT, quiz_validate},
    {"GET", "/admin/api/quizzes/*", 0, quiz_get},
    {"PUT", "/admin/api/quizzes/*", HTTP_POOL_LIMIT, quiz_put},
    {"DELETE", "/admin/api/quizzes/*", 0, quiz_delete},
    {"POST", "/admin/api/quizzes/*/duplicate", 0, quiz_duplicate},
    {"GET", "/admin/api/quizzes/*/export.csv", 0, quiz_export_csv},
    {"GET", "/admin/api/quizzes/*/export.json", 0, quiz_export_json},
    {"POST", "/admin/api/sessions", 0, session_create},
    {"GET", "/admin/api/sessions", 0, session_list},
    {"GET", "/admin/api/sessions/*", 0, session_get},
    {"POST", "/admin/api/sessions/*/next", 0, cmd_next},
    {"POST", "/admin/api/sessions/*/open", 0, cmd_open},
    {"POST", "/admin/api/sessions/*/close", 0, cmd_close},
    {"POST", "/admin/api/sessions/*/end", 0, cmd_end},
    {"POST", "/admin/api/sessions/*/reset", 0, cmd_reset},
    {"POST", "/admin/api/reset", 0, reset_main},
    {"POST", "/admin/api/sessions/*/lock", 0, lobby_lock},
    {"POST", "/admin/api/sessions/*/unlock", 0, lobby_unlock},
    {"POST", "/admin/api/sessions/*/two_step", 0, lobby_two_step},
    {"POST", "/admin/api/sessions/*/remove", 0, lobby_remove},
    {"GET", "/admin/api/sessions/*/shapes", 0, lobby_shapes},
    {"POST", "/admin/api/sessions/*/time_factor", 0, time_factor},
    {"GET", "/admin/api/sessions/*/results", 0, results},
    {"GET", "/admin/api/sessions/*/results.csv", 0, results_csv_route},
    {"GET", "/admin/api/sessions/*/report.csv", 0, report_csv_route},
    {NULL, NULL, 0, NULL},
};
