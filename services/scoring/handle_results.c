/*
 * handle_results: a session's results (`qw.scoring.query.results`) for the
 * instructor, as SPEC §3: every student (with no answers too, score 0),
 * ranked by score (shared/quiz's ranks: equal scores share one), listed by
 * score then name; each with every recorded answer. Read-only, in one
 * snapshot so the scores and the answers are of one moment; runs on
 * service worker threads. Beside them the report after class: per question
 * (hardest first) the share right, the counts and the median time, as
 * shared/quiz computes them from the answers of the students listed.
 */
#include "quiz.h"
#include "record.h"
#include "reply.h"
#include "scoring.h"

#include <stdlib.h>
#include <string.h>

/* The kind of question `idx` among report[0..nq) (in index order before
 * sorting, so report[idx] is it); single when there is no such question. */
static enum quiz_kind kind_of(const struct quiz_question_report *report, size_t nq, int idx) {
    if (idx >= 0 && (size_t)idx < nq && report[idx].question_idx == idx) return report[idx].kind;
    return QUIZ_KIND_SINGLE;
}

/* One answer of the results: {question_idx, choice, correct, points,
 * latency_ms}, with `choices` (the set as a list) for a multi and `correct`
 * null for a poll (the question's kind is in `questions`). Caller owns. */
static json_t *answer_json(enum quiz_kind kind, int idx, const char *choice, int correct,
                           int points, int latency_ms) {
    json_t *o = json_pack("{s:i,s:s,s:o,s:i,s:i}", "question_idx", idx, "choice", choice, "correct",
                          quiz_kind_scored(kind) ? json_boolean(correct) : json_null(), "points",
                          points, "latency_ms", latency_ms);
    if (o && kind == QUIZ_KIND_MULTI) json_object_set_new(o, "choices", quiz_set_json(choice));
    return o;
}

json_t *handle_results(void *ctx, struct db *db, json_t *req) {
    (void)ctx;
    PGresult *s = NULL, *st = NULL, *a = NULL, *qs = NULL;
    json_t *out = NULL, *by_id = NULL, *students = NULL, *questions = NULL;
    struct quiz_standing *rows = NULL;
    struct quiz_question_report *report = NULL; /* one per question; choices owned here */
    struct quiz_answer *given = NULL;           /* borrows from `a` */
    size_t nq = 0;
    const char *sid = json_string_value(json_object_get(req, "sid"));
    if (!sid || !*sid) return reply_error(400, "bad_field", "sid must be a string");
    const char *p[1] = {sid};
    struct db_tx tx;
    if (db_tx_begin_snapshot(db, &tx) == 0)
        s = db_tx_exec(&tx, "SELECT state FROM sessions WHERE sid = $1", 1, p);
    if (s && PQntuples(s) == 1) {
        st = db_tx_exec(&tx, RECORD_SCORES " ORDER BY score DESC, st.name, st.student_id", 1, p);
        a = db_tx_exec(
            &tx,
            "SELECT student_id, question_idx, choice, correct, points, latency_ms FROM answers"
            " WHERE sid = $1 ORDER BY student_id, question_idx",
            1, p);
        qs = db_tx_exec(&tx, RECORD_QUESTIONS, 1, p);
    }
    if (!s || (PQntuples(s) == 1 && (!st || !a || !qs)) || db_tx_commit(&tx) != 0) {
        out = reply_error(503, "unavailable", "the database is unavailable");
        goto cleanup;
    }
    if (PQntuples(s) != 1) {
        out = reply_error(404, "unknown_session", "no such session");
        goto cleanup;
    }
    students = json_array();
    by_id = json_object();
    size_t nst = (size_t)PQntuples(st);
    rows = calloc(nst ? nst : 1, sizeof(*rows));
    if (!rows) goto oom;
    for (size_t i = 0; i < nst; i++)
        rows[i] =
            (struct quiz_standing){PQgetvalue(st, (int)i, 0), atoll(PQgetvalue(st, (int)i, 2)), 0};
    if (quiz_rank(rows, nst) != 0) goto oom;
    for (size_t i = 0; i < nst; i++) {
        json_t *answers = json_array();
        json_t *one = json_pack("{s:s,s:s,s:I,s:i,s:o}", "student_id", rows[i].student_id, "name",
                                PQgetvalue(st, (int)i, 1), "score", (json_int_t)rows[i].score,
                                "rank", rows[i].rank, "answers", answers);
        if (!one) continue;
        json_object_set(by_id, rows[i].student_id, answers);
        json_array_append_new(students, one);
    }
    nq = (size_t)PQntuples(qs);
    report = calloc(nq ? nq : 1, sizeof(*report));
    given = calloc(PQntuples(a) ? (size_t)PQntuples(a) : 1, sizeof(*given));
    if (!report || !given) goto oom;
    for (size_t k = 0; k < nq; k++) {
        report[k] = (struct quiz_question_report){
            .question_idx = atoi(PQgetvalue(qs, (int)k, 0)),
            .text = PQgetvalue(qs, (int)k, 1),
            .answer = PQgetisnull(qs, (int)k, 2) ? NULL : PQgetvalue(qs, (int)k, 2),
            .choices = json_loads(PQgetvalue(qs, (int)k, 3), 0, NULL),
        };
        quiz_kind_parse(PQgetvalue(qs, (int)k, 4), &report[k].kind);
        quiz_counts_init(&report[k].counts, (int)json_array_size(report[k].choices));
    }
    size_t ngiven = 0;
    for (int i = 0; i < PQntuples(a); i++) {
        json_t *answers = json_object_get(by_id, PQgetvalue(a, i, 0));
        if (!answers) continue;
        given[ngiven++] =
            (struct quiz_answer){atoi(PQgetvalue(a, i, 1)), PQgetvalue(a, i, 2),
                                 strcmp(PQgetvalue(a, i, 3), "t") == 0, atoll(PQgetvalue(a, i, 5))};
        int idx = atoi(PQgetvalue(a, i, 1));
        json_array_append_new(answers,
                              answer_json(kind_of(report, nq, idx), idx, PQgetvalue(a, i, 2),
                                          strcmp(PQgetvalue(a, i, 3), "t") == 0,
                                          atoi(PQgetvalue(a, i, 4)), atoi(PQgetvalue(a, i, 5))));
    }
    if (quiz_report_build(report, nq, given, ngiven) != 0) goto oom;
    quiz_hardest_first(report, nq);
    questions = json_array();
    for (size_t k = 0; k < nq; k++)
        json_array_append_new(questions, quiz_question_report_json(&report[k]));
    out = json_pack("{s:b,s:s,s:s,s:o,s:o}", "ok", 1, "sid", sid, "state", PQgetvalue(s, 0, 0),
                    "students", students, "questions", questions);
    goto cleanup;
oom:
    json_decref(students);
    out = reply_error(500, "internal", "out of memory");
cleanup:
    db_tx_rollback(&tx);
    free(rows);
    for (size_t k = 0; report && k < nq; k++)
        json_decref(report[k].choices);
    free(report);
    free(given);
    json_decref(by_id);
    PQclear(s);
    PQclear(st);
    PQclear(a);
    PQclear(qs);
    return out;
}
