/*
 * quiz_test: every rule of shared/quiz as a table of cases: names round
 * trip, the lifecycle table, the points rule at 0, at the limit and past
 * it, the judging order (a close racing a submit included), counts, ranks
 * with shared ties and empty sessions, the report after class (medians,
 * shares, hardest first), subjects, unbiased codes, shards, and the
 * JSON of the session object and of each event.
 */
#include "check.h"
#include "quiz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void names_round_trip(void) {
    for (int i = 0; i < QUIZ_STATE_COUNT; i++) {
        enum quiz_state s = QUIZ_ENDED;
        CHECK(quiz_state_parse(quiz_state_name((enum quiz_state)i), &s) == 0 && (int)s == i);
    }
    for (int i = 0; i < QUIZ_EVENT_COUNT; i++) {
        enum quiz_event e = QUIZ_EV_ANSWER_STATS;
        CHECK(quiz_event_parse(quiz_event_name((enum quiz_event)i), &e) == 0 && (int)e == i);
    }
    for (int i = 0; i < QUIZ_CMD_COUNT; i++) {
        enum quiz_cmd c = QUIZ_CMD_RESET;
        CHECK(quiz_cmd_parse(quiz_cmd_name((enum quiz_cmd)i), &c) == 0 && (int)c == i);
    }
    enum quiz_state s;
    enum quiz_event e;
    enum quiz_cmd c;
    const char *bad[] = {NULL, "", "Lobby", "lobby ", "question_opened", "stop", "end\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK(quiz_state_parse(bad[i], &s) == -1);
        CHECK(quiz_event_parse(bad[i], &e) == -1);
        CHECK(quiz_cmd_parse(bad[i], &c) == -1);
    }
    CHECK(strcmp(quiz_state_name(QUIZ_QUESTION), "question") == 0);
    CHECK(quiz_state_is("ended", QUIZ_ENDED) && !quiz_state_is("ended", QUIZ_CLOSED));
    CHECK(!quiz_state_is(NULL, QUIZ_LOBBY) && !quiz_state_is("Ended", QUIZ_ENDED));
    CHECK(strcmp(quiz_event_name(QUIZ_EV_QUESTION_CLOSED), "question_closed") == 0);
    CHECK(strcmp(quiz_state_name((enum quiz_state)99), "?") == 0);
    CHECK(strcmp(quiz_verdict_name(QUIZ_V_WRONG_QUESTION), "wrong_question") == 0);
    CHECK(strcmp(quiz_verdict_name(QUIZ_V_NOT_OPEN), "not_open") == 0);
    CHECK(quiz_label(0) && strcmp(quiz_label(3), "D") == 0 && strcmp(quiz_label(5), "F") == 0 &&
          quiz_label(6) == NULL && quiz_label(-1) == NULL);
}

static void state_and_event_rules(void) {
    static const struct {
        enum quiz_state s;
        int shows, reveals;
    } st[] = {{QUIZ_LOBBY, 0, 0}, {QUIZ_QUESTION, 1, 0}, {QUIZ_CLOSED, 1, 1}, {QUIZ_ENDED, 0, 0}};
    for (size_t i = 0; i < sizeof(st) / sizeof(st[0]); i++) {
        CHECK(quiz_state_shows_question(st[i].s) == st[i].shows);
        CHECK(quiz_state_reveals_answer(st[i].s) == st[i].reveals);
    }
    static const struct {
        enum quiz_event e;
        int lifecycle;
    } ev[] = {{QUIZ_EV_LOBBY_UPDATE, 0},   {QUIZ_EV_QUESTION_OPEN, 1}, {QUIZ_EV_QUESTION_CLOSED, 1},
              {QUIZ_EV_SESSION_ENDED, 1},  {QUIZ_EV_SESSION_RESET, 1}, {QUIZ_EV_ANSWER_STATS, 0},
              {QUIZ_EV_STUDENT_REMOVED, 0}};
    for (size_t i = 0; i < sizeof(ev) / sizeof(ev[0]); i++)
        CHECK(quiz_event_is_lifecycle(ev[i].e) == ev[i].lifecycle);
    static const struct {
        enum quiz_event e;
        int ev_idx;
        enum quiz_state state;
        int idx, covered;
    } cov[] = {
        {QUIZ_EV_QUESTION_OPEN, 0, QUIZ_LOBBY, -1, 0},
        {QUIZ_EV_QUESTION_OPEN, 0, QUIZ_QUESTION, 0, 1},
        {QUIZ_EV_QUESTION_OPEN, 1, QUIZ_CLOSED, 0, 0},
        {QUIZ_EV_QUESTION_OPEN, 0, QUIZ_ENDED, 2, 1},
        {QUIZ_EV_QUESTION_CLOSED, 0, QUIZ_QUESTION, 0, 0},
        {QUIZ_EV_QUESTION_CLOSED, 0, QUIZ_CLOSED, 0, 1},
        {QUIZ_EV_QUESTION_CLOSED, 0, QUIZ_QUESTION, 1, 1},
        {QUIZ_EV_QUESTION_CLOSED, 2, QUIZ_ENDED, 2, 1},
        {QUIZ_EV_SESSION_ENDED, -1, QUIZ_CLOSED, 2, 0},
        {QUIZ_EV_SESSION_ENDED, -1, QUIZ_ENDED, 2, 1},
        {QUIZ_EV_SESSION_RESET, -1, QUIZ_LOBBY, -1, 0},
        {QUIZ_EV_LOBBY_UPDATE, -1, QUIZ_LOBBY, -1, 0},
    };
    for (size_t i = 0; i < sizeof(cov) / sizeof(cov[0]); i++)
        CHECK(quiz_event_covered(cov[i].e, cov[i].ev_idx, cov[i].state, cov[i].idx) ==
              cov[i].covered);
}

static void lifecycle_table(void) {
    static const struct {
        enum quiz_cmd cmd;
        enum quiz_state state;
        int idx, count;
        int status, close_first;
        enum quiz_step then;
        int open_idx;
    } t[] = {
        /* next */
        {QUIZ_CMD_NEXT, QUIZ_LOBBY, -1, 3, 0, 0, QUIZ_STEP_OPEN, 0},
        {QUIZ_CMD_NEXT, QUIZ_QUESTION, 0, 3, 0, 1, QUIZ_STEP_OPEN, 1},
        {QUIZ_CMD_NEXT, QUIZ_CLOSED, 1, 3, 0, 0, QUIZ_STEP_OPEN, 2},
        {QUIZ_CMD_NEXT, QUIZ_QUESTION, 2, 3, 0, 1, QUIZ_STEP_END, 0},
        {QUIZ_CMD_NEXT, QUIZ_CLOSED, 2, 3, 0, 0, QUIZ_STEP_END, 0},
        {QUIZ_CMD_NEXT, QUIZ_ENDED, 2, 3, 409, 0, QUIZ_STEP_NONE, 0},
        {QUIZ_CMD_NEXT, QUIZ_LOBBY, -1, 0, 0, 0, QUIZ_STEP_END, 0}, /* a pool of nothing */
        /* open: a no-op everywhere */
        {QUIZ_CMD_OPEN, QUIZ_LOBBY, -1, 3, 0, 0, QUIZ_STEP_NONE, 0},
        {QUIZ_CMD_OPEN, QUIZ_QUESTION, 0, 3, 0, 0, QUIZ_STEP_NONE, 0},
        {QUIZ_CMD_OPEN, QUIZ_CLOSED, 0, 3, 0, 0, QUIZ_STEP_NONE, 0},
        {QUIZ_CMD_OPEN, QUIZ_ENDED, 2, 3, 0, 0, QUIZ_STEP_NONE, 0},
        /* close */
        {QUIZ_CMD_CLOSE, QUIZ_LOBBY, -1, 3, 409, 0, QUIZ_STEP_NONE, 0},
        {QUIZ_CMD_CLOSE, QUIZ_QUESTION, 1, 3, 0, 1, QUIZ_STEP_NONE, 0},
        {QUIZ_CMD_CLOSE, QUIZ_CLOSED, 1, 3, 0, 0, QUIZ_STEP_NONE, 0},
        {QUIZ_CMD_CLOSE, QUIZ_ENDED, 2, 3, 409, 0, QUIZ_STEP_NONE, 0},
        /* end */
        {QUIZ_CMD_END, QUIZ_LOBBY, -1, 3, 0, 0, QUIZ_STEP_END, 0},
        {QUIZ_CMD_END, QUIZ_QUESTION, 0, 3, 0, 1, QUIZ_STEP_END, 0},
        {QUIZ_CMD_END, QUIZ_CLOSED, 0, 3, 0, 0, QUIZ_STEP_END, 0},
        {QUIZ_CMD_END, QUIZ_ENDED, 2, 3, 409, 0, QUIZ_STEP_NONE, 0},
        /* reset: from anywhere */
        {QUIZ_CMD_RESET, QUIZ_LOBBY, -1, 3, 0, 0, QUIZ_STEP_RESET, 0},
        {QUIZ_CMD_RESET, QUIZ_QUESTION, 1, 3, 0, 0, QUIZ_STEP_RESET, 0},
        {QUIZ_CMD_RESET, QUIZ_ENDED, 2, 3, 0, 0, QUIZ_STEP_RESET, 0},
        /* not a command */
        {QUIZ_CMD_COUNT, QUIZ_LOBBY, -1, 3, 400, 0, QUIZ_STEP_NONE, 0},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct quiz_plan p = quiz_plan_cmd(t[i].cmd, t[i].state, t[i].idx, t[i].count);
        CHECK(p.status == t[i].status);
        CHECK((p.message != NULL) == (t[i].status != 0));
        CHECK(p.close_first == t[i].close_first);
        CHECK(p.then == t[i].then);
        if (t[i].then == QUIZ_STEP_OPEN) CHECK(p.open_idx == t[i].open_idx);
        if (p.status) CHECK(!p.close_first && p.then == QUIZ_STEP_NONE);
    }
}

static void points_rule(void) {
    static const struct {
        int correct;
        long long elapsed, limit;
        int points;
    } t[] = {
        {1, 0, 20000, 1000},                        /* at 0 */
        {1, -5000, 20000, 1000},                    /* a negative elapsed (clock skew) is 0 */
        {1, 20000, 20000, 500},                     /* at the limit */
        {1, 20001, 20000, 500},                     /* past it */
        {1, 999999, 20000, 500},                    /* far past it */
        {1, 10000, 20000, 750},                     /* half way */
        {1, 1, 20000, 1000},                        /* 999.975 rounds up */
        {1, 20, 20000, 1000},                       /* 999.5 rounds half up */
        {1, 21, 20000, 999},                        /* 999.475 */
        {1, 1, 3, 833},                             /* 833.33 */
        {1, 1, 6, 917},                             /* 916.67 */
        {1, 3, 6, 750},                             /* exact */
        {1, 5000, 5000, 500},                       /* the shortest limit */
        {1, 0, 600000, 1000},                       /* the longest limit */
        {1, 599999, 600000, 500},                   /* 500.0008 */
        {1, 0, 0, 1000},                            /* a zero limit does not divide by zero */
        {1, 5, 0, 500},           {0, 0, 20000, 0}, /* wrong: 0 whatever the time */
        {0, 20000, 20000, 0},     {0, -1, 20000, 0},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        int got = quiz_points(t[i].correct, t[i].elapsed, t[i].limit);
        if (got != t[i].points)
            fprintf(stderr, "case %zu: points(%d, %lld, %lld) = %d, want %d\n", i, t[i].correct,
                    t[i].elapsed, t[i].limit, got, t[i].points);
        CHECK(got == t[i].points);
    }
    /* always within 500..1000 for a right answer, never rising with time */
    int prev = 1000;
    for (long long e = -10; e <= 20010; e += 7) {
        int p = quiz_points(1, e, 20000);
        CHECK(p >= 500 && p <= 1000 && p <= prev);
        prev = p;
    }
    CHECK(quiz_elapsed_ms(1, 1234, 99999, 1000) == 1234);
    CHECK(quiz_elapsed_ms(0, 1234, 6000, 1000) == 5000);
    CHECK(quiz_elapsed_ms(0, 0, 500, 1000) == -500);
    CHECK(quiz_latency_ms(-1) == 0 && quiz_latency_ms(0) == 0 && quiz_latency_ms(1500) == 1500);
    CHECK(quiz_latency_ms(2000000000LL) == 2000000000LL);
    CHECK(quiz_latency_ms(9000000000LL) == 2000000000LL);
}

static void extra_time(void) {
    static const struct {
        double factor;
        int pct;
    } f[] = {{1, 100},  {1.25, 125}, {1.5, 150}, {2, 200},     {3, 300},    {0, -1},  {-2, -1},
             {0.5, -1}, {1.75, -1},  {4, -1},    {2.0001, -1}, {1e308, -1}, {150, -1}};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        if (quiz_factor_pct(f[i].factor) != f[i].pct)
            fprintf(stderr, "case %zu: factor_pct(%g) = %d, want %d\n", i, f[i].factor,
                    quiz_factor_pct(f[i].factor), f[i].pct);
        CHECK(quiz_factor_pct(f[i].factor) == f[i].pct);
    }
    CHECK(quiz_factor_pct_valid(100) && quiz_factor_pct_valid(300) && !quiz_factor_pct_valid(0));
    CHECK(!quiz_factor_pct_valid(175) && !quiz_factor_pct_valid(-200));
    /* the student's own limit, and an invalid percent changes nothing */
    CHECK(quiz_limit_ms(20000, 200) == 40000 && quiz_limit_ms(20000, 125) == 25000);
    CHECK(quiz_limit_ms(5000, 150) == 7500 && quiz_limit_ms(20000, 100) == 20000);
    CHECK(quiz_limit_ms(20000, 175) == 20000 && quiz_limit_ms(20000, 0) == 20000);
    /* points on the student's own limit: half the extended time is 750 */
    CHECK(quiz_points(1, 20000, quiz_limit_ms(20000, 200)) == 750);
    CHECK(quiz_points(1, 20000, 20000) == 500);
    CHECK(quiz_points(1, 30000, quiz_limit_ms(20000, 200)) == 625);
    /* the map of a question_open */
    json_t *m = json_pack("{s:f,s:f,s:i,s:s,s:f}", "a", 2.0, "b", 1.5, "c", 3, "d", "2", "e", 7.0);
    CHECK(quiz_factor_of(m, "a") == 200 && quiz_factor_of(m, "b") == 150);
    CHECK(quiz_factor_of(m, "c") == 300);    /* an integer factor is a factor too */
    CHECK(quiz_factor_of(m, "d") == 100);    /* not a number: none */
    CHECK(quiz_factor_of(m, "e") == 100);    /* not a documented factor: none */
    CHECK(quiz_factor_of(m, "zz") == 100);   /* absent: none */
    CHECK(quiz_factor_of(NULL, "a") == 100); /* no map: none */
    CHECK(quiz_factor_of(m, NULL) == 100);
    json_decref(m);
}

static void judging_order(void) {
    static const struct quiz_view open = {QUIZ_QUESTION, 2, 10000, 3, 7, QUIZ_KIND_SINGLE};
    static const struct quiz_view closed = {QUIZ_CLOSED, 2, 10000, 3, 7, QUIZ_KIND_SINGLE};
    static const struct quiz_view lobby = {QUIZ_LOBBY, -1, 0, 0, 7, QUIZ_KIND_SINGLE};
    static const struct quiz_view ended = {QUIZ_ENDED, 2, 10000, 3, 7, QUIZ_KIND_SINGLE};
    static const struct {
        const struct quiz_view *v;
        int known;
        long long epoch;
        int idx;
        const char *choice;
        long long received;
        enum quiz_verdict want;
    } t[] = {
        {&open, 1, 7, 2, "B", 9999, QUIZ_V_RECORD},
        {&open, 1, 7, 2, "C", 0, QUIZ_V_RECORD},
        /* unauthorized comes first, whatever else is wrong */
        {&open, 0, 7, 2, "B", 9999, QUIZ_V_UNAUTHORIZED},
        {&open, 1, 6, 2, "B", 9999, QUIZ_V_UNAUTHORIZED}, /* a token from before a reset */
        {&closed, 0, 7, 2, "Z", 99999, QUIZ_V_UNAUTHORIZED},
        /* a close racing a submit: the close won, so closed, even with a
         * bad choice and even received before the deadline */
        {&closed, 1, 7, 2, "B", 5000, QUIZ_V_CLOSED},
        {&closed, 1, 7, 2, "Z", 5000, QUIZ_V_CLOSED},
        /* closed state, another index: no open question */
        {&closed, 1, 7, 3, "B", 5000, QUIZ_V_NOT_OPEN},
        {&closed, 1, 7, 1, "B", 5000, QUIZ_V_NOT_OPEN},
        {&lobby, 1, 7, 0, "A", 5000, QUIZ_V_NOT_OPEN},
        {&lobby, 1, 7, -1, "A", 5000, QUIZ_V_NOT_OPEN},
        {&ended, 1, 7, 2, "A", 5000, QUIZ_V_NOT_OPEN},
        /* open, another index: wrong_question before the deadline check */
        {&open, 1, 7, 1, "B", 99999, QUIZ_V_WRONG_QUESTION},
        {&open, 1, 7, 3, "Z", 0, QUIZ_V_WRONG_QUESTION},
        /* the deadline: at it is closed, one ms before is in time */
        {&open, 1, 7, 2, "B", 10000, QUIZ_V_CLOSED},
        {&open, 1, 7, 2, "B", 10001, QUIZ_V_CLOSED},
        {&open, 1, 7, 2, "Z", 10000, QUIZ_V_CLOSED}, /* closed before invalid */
        {&open, 1, 7, 2, "A", 9999, QUIZ_V_RECORD},
        /* invalid: not exactly one label of this question (3 choices) */
        {&open, 1, 7, 2, "D", 5000, QUIZ_V_INVALID},
        {&open, 1, 7, 2, "a", 5000, QUIZ_V_INVALID},
        {&open, 1, 7, 2, "", 5000, QUIZ_V_INVALID},
        {&open, 1, 7, 2, "AB", 5000, QUIZ_V_INVALID},
        {&open, 1, 7, 2, "@", 5000, QUIZ_V_INVALID},
        {&open, 1, 7, 2, NULL, 5000, QUIZ_V_INVALID},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct quiz_submit s = {t[i].known, t[i].epoch, t[i].idx, t[i].choice, t[i].received, 0};
        enum quiz_verdict got = quiz_judge(t[i].v, &s);
        if (got != t[i].want)
            fprintf(stderr, "case %zu: %s, want %s\n", i, quiz_verdict_name(got),
                    quiz_verdict_name(t[i].want));
        CHECK(got == t[i].want);
    }
    CHECK(quiz_settle(1) == QUIZ_V_ACCEPTED);
    CHECK(quiz_settle(0) == QUIZ_V_DUPLICATE);
    /* labels: 2 to 6 choices, never past F */
    CHECK(quiz_choice_valid("B", 2) && !quiz_choice_valid("C", 2));
    CHECK(quiz_choice_valid("D", 4) && quiz_choice_valid("E", 5) && !quiz_choice_valid("A", 0));
    CHECK(quiz_choice_valid("F", 6) && !quiz_choice_valid("G", 7) && !quiz_choice_valid("F", 5));
}

/* The kinds: what a submit of each kind may be, and the scoring rule. */
static void kinds_submit_and_score(void) {
    static const struct {
        enum quiz_kind kind;
        int nchoices;
        const char *choice;
        int is_set;
        int valid;
    } v[] = {
        {QUIZ_KIND_SINGLE, 4, "B", 0, 1},
        {QUIZ_KIND_SINGLE, 6, "F", 0, 1},
        {QUIZ_KIND_SINGLE, 5, "F", 0, 0},
        {QUIZ_KIND_SINGLE, 4, "B", 1, 0}, /* a list on a single question */
        {QUIZ_KIND_SINGLE, 4, "AB", 0, 0},
        {QUIZ_KIND_TRUEFALSE, 2, "A", 0, 1},
        {QUIZ_KIND_TRUEFALSE, 2, "C", 0, 0},
        {QUIZ_KIND_TRUEFALSE, 2, "A", 1, 0},
        {QUIZ_KIND_POLL, 3, "C", 0, 1},
        {QUIZ_KIND_POLL, 3, "AC", 1, 0},
        {QUIZ_KIND_MULTI, 4, "AC", 1, 1},
        {QUIZ_KIND_MULTI, 4, "A", 1, 1}, /* a set of one */
        {QUIZ_KIND_MULTI, 6, "ABCDEF", 1, 1},
        {QUIZ_KIND_MULTI, 4, "A", 0, 0}, /* a multi takes a list */
        {QUIZ_KIND_MULTI, 4, "AE", 1, 0},
        {QUIZ_KIND_MULTI, 4, "CA", 1, 0}, /* not the stored form */
        {QUIZ_KIND_MULTI, 4, "AA", 1, 0},
        {QUIZ_KIND_MULTI, 4, "", 1, 0},
        {QUIZ_KIND_MULTI, 4, NULL, 1, 0},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        int got = quiz_submit_valid(v[i].kind, v[i].choice, v[i].is_set, v[i].nchoices);
        if (got != v[i].valid) fprintf(stderr, "valid case %zu: %d\n", i, got);
        CHECK(got == v[i].valid);
    }
    static const struct {
        enum quiz_kind kind;
        const char *answer, *choice;
        int correct;
    } c[] = {
        {QUIZ_KIND_SINGLE, "B", "B", 1},    {QUIZ_KIND_SINGLE, "B", "A", 0},
        {QUIZ_KIND_TRUEFALSE, "A", "A", 1}, {QUIZ_KIND_TRUEFALSE, "A", "B", 0},
        {QUIZ_KIND_MULTI, "AC", "AC", 1},   {QUIZ_KIND_MULTI, "AC", "A", 0}, /* a subset */
        {QUIZ_KIND_MULTI, "AC", "ACD", 0},                                   /* a superset */
        {QUIZ_KIND_MULTI, "AC", "BD", 0},   {QUIZ_KIND_MULTI, "B", "B", 1},
        {QUIZ_KIND_POLL, NULL, "A", 0},     {QUIZ_KIND_POLL, "A", "A", 0}, /* never right */
        {QUIZ_KIND_SINGLE, NULL, "A", 0},   {QUIZ_KIND_SINGLE, "A", NULL, 0},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        int got = quiz_is_correct(c[i].kind, c[i].answer, c[i].choice);
        if (got != c[i].correct) fprintf(stderr, "correct case %zu: %d\n", i, got);
        CHECK(got == c[i].correct);
        /* the points follow: 0 unless right */
        CHECK((quiz_points(got, 0, 20000) > 0) == c[i].correct);
    }
    CHECK(quiz_kind_scored(QUIZ_KIND_MULTI) && !quiz_kind_scored(QUIZ_KIND_POLL));
    /* the judge applies the kind: a multi at its open question */
    static const struct quiz_view multi = {QUIZ_QUESTION, 0, 10000, 4, 1, QUIZ_KIND_MULTI};
    struct quiz_submit set = {1, 1, 0, "BD", 5000, 1}, one = {1, 1, 0, "B", 5000, 0};
    CHECK(quiz_judge(&multi, &set) == QUIZ_V_RECORD);
    CHECK(quiz_judge(&multi, &one) == QUIZ_V_INVALID);
    for (int k = 0; k < QUIZ_KIND_COUNT; k++) {
        enum quiz_kind back = QUIZ_KIND_COUNT;
        CHECK(quiz_kind_parse(quiz_kind_name((enum quiz_kind)k), &back) == 0 && (int)back == k);
    }
    enum quiz_kind none = QUIZ_KIND_SINGLE;
    CHECK(quiz_kind_parse("Multi", &none) == -1 && quiz_kind_parse(NULL, &none) == -1);
    /* a poll is never the hardest: it goes last, with the unanswered */
    struct quiz_question_report r[3] = {{.question_idx = 0, .kind = QUIZ_KIND_POLL},
                                        {.question_idx = 1, .kind = QUIZ_KIND_MULTI},
                                        {.question_idx = 2, .kind = QUIZ_KIND_SINGLE}};
    for (int k = 0; k < 3; k++)
        quiz_counts_init(&r[k].counts, 2);
    struct quiz_answer a[] = {{0, "A", 0, 10}, {1, "AB", 0, 10}, {2, "A", 1, 10}};
    CHECK(quiz_report_build(r, 3, a, 3) == 0);
    CHECK(quiz_share_right(&r[0]) < 0 && quiz_share_right(&r[1]) == 0);
    quiz_hardest_first(r, 3);
    CHECK(r[0].question_idx == 1 && r[1].question_idx == 2 && r[2].question_idx == 0);
    CHECK(r[0].counts.n[0] == 1 && r[0].counts.n[1] == 1 && r[0].counts.answered == 1);
}

/* A list of labels to its stored form, and back. */
static void label_sets(void) {
    static const struct {
        const char *json, *want; /* want NULL: refused */
    } t[] = {
        {"[\"C\",\"A\"]", "AC"},
        {"[\"A\"]", "A"},
        {"[\"F\",\"E\",\"D\",\"C\",\"B\",\"A\"]", "ABCDEF"},
        {"[]", NULL},
        {"[\"A\",\"A\"]", NULL},
        {"[\"A\",\"B\",\"C\",\"D\",\"E\",\"F\",\"A\"]", NULL},
        {"[\"G\"]", NULL},
        {"[\"a\"]", NULL},
        {"[\"AB\"]", NULL},
        {"[1]", NULL},
        {"\"AC\"", NULL},
        {"{}", NULL},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        json_t *j = json_loads(t[i].json, JSON_DECODE_ANY, NULL);
        char out[QUIZ_MAX_CHOICES + 1];
        int rc = quiz_set_from_json(j, out);
        if (t[i].want)
            CHECK(rc == 0 && strcmp(out, t[i].want) == 0);
        else
            CHECK(rc == -1 && out[0] == '\0');
        json_decref(j);
    }
    json_t *j = quiz_set_json("ACF"), *want = json_pack("[s,s,s]", "A", "C", "F");
    CHECK(j && json_equal(j, want));
    json_decref(j);
    json_decref(want);
    CHECK(quiz_set_valid("ACF", 6) && !quiz_set_valid("ACF", 5) && !quiz_set_valid("", 6));
    CHECK(!quiz_set_valid("CA", 6) && !quiz_set_valid("AAB", 6) && !quiz_set_valid(NULL, 6));
    /* a multi answer counts each label picked; answered counts the answer once */
    struct quiz_counts c;
    quiz_counts_init(&c, 4);
    quiz_counts_add(&c, "AC", 2);
    quiz_counts_add(&c, "C", 1);
    quiz_counts_add(&c, "CA", 1); /* no stored form: answered, in no label */
    CHECK(c.n[0] == 2 && c.n[1] == 0 && c.n[2] == 3 && c.n[3] == 0 && c.answered == 4);
    /* the reveal per kind */
    json_t *o = json_object();
    quiz_reveal_set(o, QUIZ_KIND_MULTI, "BD");
    quiz_reveal_set(o, QUIZ_KIND_POLL, NULL);
    want = json_pack("{s:[s,s]}", "answers", "B", "D");
    CHECK(json_equal(o, want));
    json_decref(want);
    json_decref(o);
    o = json_object();
    quiz_reveal_set(o, QUIZ_KIND_TRUEFALSE, "B");
    CHECK(strcmp(json_string_value(json_object_get(o, "answer")), "B") == 0 &&
          json_object_size(o) == 1);
    json_decref(o);
}

/* Every rule of the pool format, each refusal naming question and field. */
static void pool_rules(void) {
    static const struct {
        const char *question; /* the one question of the pool, as JSON */
        int ok;
        const char *field, *message;
    } t[] = {
        {"{\"text\":\"q\",\"choices\":[\"1\",\"2\"],\"answer\":\"B\"}", 1, NULL, NULL},
        {"{\"text\":\"q\",\"kind\":\"single\",\"choices\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\"],"
         "\"answer\":\"F\"}",
         1, NULL, NULL},
        {"{\"text\":\"q\",\"kind\":\"multi\",\"choices\":[\"1\",\"2\",\"3\"],\"answers\":[\"C\","
         "\"A\"]}",
         1, NULL, NULL},
        {"{\"text\":\"q\",\"kind\":\"truefalse\",\"choices\":[\"T\",\"F\"],\"answer\":\"A\"}", 1,
         NULL, NULL},
        {"{\"text\":\"q\",\"kind\":\"poll\",\"choices\":[\"x\",\"y\",\"z\"]}", 1, NULL, NULL},
        {"{\"text\":\"q\",\"kind\":\"poll\",\"choices\":[\"x\",\"y\"],\"answer\":\"A\"}", 0,
         "answer", "question 1: answer: a poll has no right answer"},
        {"{\"text\":\"q\",\"kind\":\"poll\",\"choices\":[\"x\",\"y\"],\"answers\":[\"A\"]}", 0,
         "answers", "question 1: answers: a poll has no right answers"},
        {"{\"text\":\"q\",\"kind\":\"truefalse\",\"choices\":[\"T\",\"F\"],\"answers\":[\"A\","
         "\"B\"]}",
         0, "answers",
         "question 1: answers: a truefalse question has one right answer, \"answer\""},
        {"{\"text\":\"q\",\"kind\":\"truefalse\",\"choices\":[\"T\",\"F\",\"?\"],\"answer\":\"A\"}",
         0, "choices", "question 1: choices: a truefalse question has exactly 2, got 3"},
        {"{\"text\":\"q\",\"choices\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\"],\"answer\":"
         "\"A\"}",
         0, "choices", "question 1: choices must be a list of 2 to 6 entries"},
        {"{\"text\":\"q\",\"choices\":[\"1\",\"2\",\"3\",\"4\",\"5\"],\"answer\":\"F\"}", 0,
         "answer", "question 1: answer \"F\" is not one of A, B, C, D, E"},
        {"{\"text\":\"q\",\"kind\":\"multi\",\"choices\":[\"1\",\"2\",\"3\"],\"answers\":[\"A\","
         "\"A\"]}",
         0, "answers", "question 1: answers must be a list of distinct labels of A, B, C"},
        {"{\"text\":\"q\",\"kind\":\"multi\",\"choices\":[\"1\",\"2\",\"3\"],\"answers\":[\"D\"]}",
         0, "answers", "question 1: answers must be a list of distinct labels of A, B, C"},
        {"{\"text\":\"q\",\"kind\":\"multi\",\"choices\":[\"1\",\"2\"],\"answers\":[]}", 0,
         "answers", "question 1: answers must be a list of distinct labels of A, B"},
        {"{\"text\":\"q\",\"kind\":\"multi\",\"choices\":[\"1\",\"2\"],\"answer\":\"A\"}", 0,
         "answer", "question 1: answer: a multi question takes \"answers\", a list"},
        {"{\"text\":\"q\",\"choices\":[\"1\",\"2\"],\"answer\":\"A\",\"answers\":[\"A\"]}", 0,
         "answers", "question 1: answers: a single question has one right answer, \"answer\""},
        {"{\"text\":\"q\",\"kind\":\"essay\",\"choices\":[\"1\",\"2\"]}", 0, "kind",
         "question 1: kind must be single, multi, truefalse or poll"},
        {"{\"text\":\"q\",\"choices\":[\"1\",\"2\"],\"answer\":\"A\",\"image\":\"abc\"}", 0,
         "image", "question 1: image must be a picture id (64 lowercase hex digits)"},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text), "{\"title\":\"t\",\"questions\":[%s]}", t[i].question);
        json_t *pool = json_loads(text, 0, NULL), *out = NULL;
        const char *title = NULL;
        struct quiz_pool_error err = {0, NULL, ""};
        CHECK(pool != NULL);
        int rc = quiz_pool_check(pool, &title, &out, &err);
        if (t[i].ok) {
            if (rc != 0) fprintf(stderr, "pool case %zu: %s\n", i, err.message);
            CHECK(rc == 0 && json_array_size(out) == 1 && strcmp(title, "t") == 0);
        } else {
            if (rc == 0 || strcmp(err.message, t[i].message) != 0)
                fprintf(stderr, "pool case %zu: %s\n", i, err.message);
            CHECK(rc == -1 && !out && err.question == 1 && strcmp(err.field, t[i].field) == 0 &&
                  strcmp(err.message, t[i].message) == 0);
        }
        json_decref(out);
        json_decref(pool);
    }
    /* the normalised form: kind filled in, a multi's answers stored sorted, a poll none */
    json_t *pool = json_loads(
        "{\"questions\":[{\"text\":\"a\",\"choices\":[\"1\",\"2\"],\"answer\":\"B\"},"
        "{\"text\":\"b\",\"kind\":\"multi\",\"choices\":[\"1\",\"2\",\"3\"],\"answers\":[\"C\","
        "\"A\"],"
        "\"time_limit_s\":30},{\"text\":\"c\",\"kind\":\"poll\",\"choices\":[\"x\",\"y\"]}]}",
        0, NULL);
    json_t *out = NULL,
           *want = json_loads(
               "[{\"text\":\"a\",\"kind\":\"single\",\"choices\":[\"1\",\"2\"],\"answer\":\"B\","
               "\"time_limit_s\":20},{\"text\":\"b\",\"kind\":\"multi\",\"choices\":[\"1\",\"2\","
               "\"3\"],"
               "\"answer\":\"AC\",\"time_limit_s\":30},{\"text\":\"c\",\"kind\":\"poll\","
               "\"choices\":[\"x\","
               "\"y\"],\"time_limit_s\":20}]",
               0, NULL);
    const char *title = NULL;
    struct quiz_pool_error err;
    CHECK(quiz_pool_check(pool, &title, &out, &err) == 0 && json_equal(out, want));
    CHECK(strcmp(title, "Untitled quiz") == 0);
    json_decref(out);
    json_decref(want);
    json_decref(pool);
    /* about the pool itself: question 0 */
    pool = json_loads("{\"title\":5,\"questions\":[]}", 0, NULL);
    CHECK(quiz_pool_check(pool, &title, &out, &err) == -1 && err.question == 0 &&
          strcmp(err.field, "title") == 0 && strcmp(err.message, "title must be a string") == 0);
    json_decref(pool);
}

static void counts_per_choice(void) {
    struct quiz_counts c;
    quiz_counts_init(&c, 3);
    CHECK(c.nchoices == 3 && c.answered == 0 && c.n[0] == 0 && c.n[2] == 0);
    quiz_counts_add(&c, "A", 2);
    quiz_counts_add(&c, "C", 5);
    quiz_counts_add(&c, "D", 1); /* no label of this question */
    CHECK(c.n[0] == 2 && c.n[1] == 0 && c.n[2] == 5 && c.answered == 8);
    json_t *j = quiz_counts_json(&c);
    json_t *want = json_pack("{s:i,s:i,s:i}", "A", 2, "B", 0, "C", 5);
    CHECK(j && json_equal(j, want));
    json_decref(j);
    json_decref(want);
    /* capped at six labels; none for a question not found */
    quiz_counts_init(&c, 9);
    CHECK(c.nchoices == 6);
    quiz_counts_init(&c, 0);
    j = quiz_counts_json(&c);
    CHECK(j && json_object_size(j) == 0);
    json_decref(j);
    quiz_counts_init(&c, -1);
    CHECK(c.nchoices == 0);
}

static void ranks_share_ties(void) {
    static const struct {
        size_t n;
        long long scores[6];
        int ranks[6];
    } t[] = {
        {1, {0}, {1}},
        {3, {900, 900, 500}, {1, 1, 3}},
        {3, {500, 900, 900}, {3, 1, 1}}, /* any order */
        {4, {0, 0, 0, 0}, {1, 1, 1, 1}}, /* nobody answered */
        {5, {10, 30, 20, 30, 10}, {4, 1, 3, 1, 4}},
        {6, {1000, 999, 998, 997, 996, 995}, {1, 2, 3, 4, 5, 6}},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct quiz_standing rows[6];
        for (size_t k = 0; k < t[i].n; k++)
            rows[k] = (struct quiz_standing){"s", t[i].scores[k], 0};
        CHECK(quiz_rank(rows, t[i].n) == 0);
        for (size_t k = 0; k < t[i].n; k++)
            CHECK(rows[k].rank == t[i].ranks[k]);
    }
    CHECK(quiz_rank(NULL, 0) == 0); /* an empty session */
    CHECK(quiz_rank_from_higher(0) == 1 && quiz_rank_from_higher(4) == 5);
    /* a lecture hall: 5000 students, scores in 10 bands */
    size_t n = 5000;
    struct quiz_standing *big = calloc(n, sizeof(*big));
    CHECK(big != NULL);
    if (!big) return;
    for (size_t k = 0; k < n; k++)
        big[k].score = (long long)(k % 10) * 100;
    CHECK(quiz_rank(big, n) == 0);
    CHECK(big[9].rank == 1 && big[8].rank == 501 && big[0].rank == 4501);
    free(big);
}

static void report_after_class(void) {
    static const struct {
        long long v[6];
        size_t n;
        long long median;
    } med[] = {
        {{0}, 0, -1},      {{7}, 1, 7},
        {{9, 1, 5}, 3, 5}, {{4000, 1000}, 2, 2500},
        {{1, 2}, 2, 1},    {{3, 3, 1, 8, 2, 9}, 6, 3},
    };
    for (size_t i = 0; i < sizeof(med) / sizeof(med[0]); i++) {
        long long v[6];
        memcpy(v, med[i].v, sizeof(v));
        CHECK(quiz_median_ms(v, med[i].n) == med[i].median);
    }

    /* question 0: 3 of 4 right; 1: 1 of 3 right, slow; 2: 1 of 3 right, fast;
     * 3: nobody answered; an answer to a question 9 that does not exist */
    static const struct quiz_answer a[] = {
        {0, "B", 1, 1000}, {0, "B", 1, 3000}, {0, "A", 0, 2000}, {0, "B", 1, 9000},
        {1, "C", 1, 8000}, {1, "A", 0, 6000}, {1, "A", 0, 7000}, {2, "D", 1, 1000},
        {2, "B", 0, 2000}, {2, "B", 0, 500},  {9, "A", 1, 100},  {2, "Z", 0, 4000},
    };
    struct quiz_question_report q[4];
    for (int k = 0; k < 4; k++) {
        q[k] = (struct quiz_question_report){.question_idx = k, .text = "t", .answer = "B"};
        quiz_counts_init(&q[k].counts, 4);
    }
    CHECK(quiz_report_build(q, 4, a, sizeof(a) / sizeof(a[0])) == 0);
    static const struct {
        long long answered, correct, median, a, b;
        double share;
    } want[] = {
        {4, 3, 2500, 1, 3, 0.75},
        {3, 1, 7000, 2, 0, 1.0 / 3},
        {4, 1, 1500, 0, 2, 0.25}, /* "Z" counts as answered, in no label */
        {0, 0, -1, 0, 0, -1},
    };
    for (int k = 0; k < 4; k++) {
        CHECK(q[k].counts.answered == want[k].answered && q[k].correct == want[k].correct);
        CHECK(q[k].median_ms == want[k].median);
        CHECK(q[k].counts.n[0] == want[k].a && q[k].counts.n[1] == want[k].b);
        CHECK(quiz_share_right(&q[k]) == want[k].share);
    }
    quiz_hardest_first(q, 4);
    static const int order[] = {2, 1, 0, 3};
    for (int k = 0; k < 4; k++)
        CHECK(q[k].question_idx == order[k]);

    /* equal shares: the longer median first, then the lower index */
    struct quiz_question_report t[3] = {
        {.question_idx = 0, .correct = 1, .median_ms = 100},
        {.question_idx = 1, .correct = 2, .median_ms = 900},
        {.question_idx = 2, .correct = 1, .median_ms = 100},
    };
    t[0].counts.answered = 2;
    t[1].counts.answered = 4;
    t[2].counts.answered = 2;
    quiz_hardest_first(t, 3);
    CHECK(t[0].question_idx == 1 && t[1].question_idx == 0 && t[2].question_idx == 2);
    quiz_hardest_first(NULL, 0);
    CHECK(quiz_report_build(NULL, 0, NULL, 0) == 0);

    json_t *choices = json_pack("[s,s]", "yes", "no");
    struct quiz_question_report one = {.question_idx = 1,
                                       .text = "=1+1",
                                       .answer = "A",
                                       .choices = choices,
                                       .correct = 1,
                                       .median_ms = 1200};
    quiz_counts_init(&one.counts, 2);
    quiz_counts_add(&one.counts, "A", 1);
    quiz_counts_add(&one.counts, "B", 3);
    json_t *j = quiz_question_report_json(&one);
    json_t *want_j = json_pack("{s:i,s:s,s:s,s:s,s:[s,s],s:{s:i,s:i},s:i,s:i,s:f,s:i}",
                               "question_idx", 1, "kind", "single", "text", "=1+1", "answer", "A",
                               "choices", "yes", "no", "counts", "A", 1, "B", 3, "answered", 4,
                               "correct", 1, "share_right", 0.25, "median_ms", 1200);
    CHECK(j && json_equal(j, want_j));
    json_decref(j);
    json_decref(want_j);
    /* a multi reveals its set; a poll no answer, and correct and share_right null */
    one.kind = QUIZ_KIND_MULTI;
    one.answer = "AB";
    j = quiz_question_report_json(&one);
    CHECK(j && !json_object_get(j, "answer") &&
          json_array_size(json_object_get(j, "answers")) == 2 &&
          strcmp(json_string_value(json_object_get(j, "kind")), "multi") == 0);
    json_decref(j);
    one.kind = QUIZ_KIND_POLL;
    one.answer = NULL;
    one.correct = 0;
    j = quiz_question_report_json(&one);
    CHECK(j && !json_object_get(j, "answer") && !json_object_get(j, "answers") &&
          json_is_null(json_object_get(j, "correct")) &&
          json_is_null(json_object_get(j, "share_right")) &&
          json_integer_value(json_object_get(j, "answered")) == 4);
    json_decref(j);
    json_decref(choices);
    struct quiz_question_report none = {.question_idx = 0, .median_ms = -1};
    quiz_counts_init(&none.counts, 2);
    j = quiz_question_report_json(&none);
    CHECK(j && json_is_null(json_object_get(j, "share_right")) &&
          json_is_null(json_object_get(j, "median_ms")) &&
          json_array_size(json_object_get(j, "choices")) == 0);
    json_decref(j);
}

/* quiz_shard is FNV-1a (checked on its published vectors through the fold)
 * and must never change: the expected numbers are fixed here, and migration
 * 014's SQL function gives the same ones (tests/integration/03_shards). */
static void shards(void) {
    /* FNV-1a("") = 0x811c9dc5, ("a") = 0xe40c292c, ("foobar") = 0xbf9cf968 */
    CHECK(quiz_shard("") == (int)((0x811c9dc5u ^ (0x811c9dc5u >> 16)) % QUIZ_SHARDS));
    CHECK(quiz_shard("a") == (int)((0xe40c292cu ^ (0xe40c292cu >> 16)) % QUIZ_SHARDS));
    CHECK(quiz_shard("foobar") == (int)((0xbf9cf968u ^ (0xbf9cf968u >> 16)) % QUIZ_SHARDS));
    CHECK(quiz_shard("") == 25 && quiz_shard("a") == 32 && quiz_shard("foobar") == 52);
    CHECK(quiz_shard("main") == 24 && quiz_shard("abc123xyz789") == 53);
    CHECK(quiz_shard(NULL) == 25); /* no bytes: the basis */
    char subj[32];
    CHECK(quiz_cmd_subject(subj, sizeof(subj), "main") == 0 && !strcmp(subj, "qw.session.cmd.24"));
    CHECK(quiz_cmd_subject(subj, sizeof(subj), "a") == 0 && !strcmp(subj, "qw.session.cmd.32"));
    CHECK(quiz_cmd_subject(subj, sizeof(subj), "") == -1 && subj[0] == '\0');
    CHECK(quiz_cmd_subject(subj, 18, "main") == 0); /* exactly fits */
    CHECK(quiz_cmd_subject(subj, 17, "main") == -1 && subj[0] == '\0');
    /* generated sids spread over every shard, none far above its share */
    int count[QUIZ_SHARDS] = {0};
    char sid[QUIZ_SID_LEN + 1];
    for (int i = 0; i < 64 * 200; i++) {
        CHECK(quiz_new_sid(sid) == 0);
        int s = quiz_shard(sid);
        CHECK(s >= 0 && s < QUIZ_SHARDS);
        if (s >= 0 && s < QUIZ_SHARDS) count[s]++;
    }
    for (int s = 0; s < QUIZ_SHARDS; s++)
        CHECK(count[s] > 100 && count[s] < 300);
}

static void subjects_and_codes(void) {
    char buf[32];
    CHECK(quiz_event_subject(buf, sizeof(buf), "main") == 0 && strcmp(buf, "qw.evt.main") == 0);
    CHECK(quiz_event_subject(buf, sizeof(buf), "") == -1 && buf[0] == '\0');
    CHECK(quiz_event_subject(buf, sizeof(buf), NULL) == -1);
    CHECK(quiz_event_subject(buf, 12, "main") == 0);  /* exactly fits */
    CHECK(quiz_event_subject(buf, 11, "main") == -1); /* one short */
    CHECK(buf[0] == '\0');
    CHECK(quiz_event_subject(buf, sizeof(buf), "s1") == 0);
    CHECK(strcmp(quiz_event_subject_sid(buf), "s1") == 0);
    CHECK(quiz_event_subject_sid("qw.evt.") == NULL && quiz_event_subject_sid(NULL) == NULL);
    CHECK(quiz_event_subject_sid("qw.session.cmd") == NULL);

    /* rejection sampling: with 10 digits, bytes 250..255 are thrown away */
    unsigned char src[] = {0, 9, 10, 249, 250, 255, 251, 19, 123};
    char out[16];
    CHECK(quiz_text_from_bytes(src, sizeof(src), "0123456789", out, 6) == 6);
    CHECK(strcmp(out, "090993") == 0);
    CHECK(quiz_text_from_bytes(src, 3, "0123456789", out, 6) == 3 && strcmp(out, "090") == 0);
    CHECK(quiz_text_from_bytes((const unsigned char *)"\xfa\xfb\xff", 3, "0123456789", out, 6) ==
          0);
    CHECK(out[0] == '\0');
    CHECK(quiz_text_from_bytes(src, sizeof(src), "x", out, 6) == 0); /* no alphabet */
    /* every byte value maps to each digit exactly 25 times: unbiased */
    unsigned char all[256];
    int hits[10] = {0};
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    char many[257];
    size_t got = quiz_text_from_bytes(all, 256, "0123456789", many, 256);
    CHECK(got == 250);
    for (size_t i = 0; i < got; i++)
        hits[many[i] - '0']++;
    for (int d = 0; d < 10; d++)
        CHECK(hits[d] == 25);

    char code[QUIZ_JOIN_CODE_LEN + 1], sid[QUIZ_SID_LEN + 1];
    for (int i = 0; i < 50; i++) {
        CHECK(quiz_join_code(code) == 0);
        CHECK(strlen(code) == 6 && strspn(code, "0123456789") == 6);
        CHECK(quiz_new_sid(sid) == 0);
        CHECK(strlen(sid) == 12 && strspn(sid, "abcdefghijklmnopqrstuvwxyz0123456789") == 12);
    }
    CHECK(quiz_random_text(out, 4, "") == -1); /* never loops on an empty alphabet */
}

static void session_object(void) {
    struct quiz_session s = {.sid = "abc",
                             .title = "Demo",
                             .join_code = "123456",
                             .created_at = "2026-12-01T10:00:00Z",
                             .quiz_id = 7,
                             .state = QUIZ_CLOSED,
                             .question_idx = 1,
                             .question_count = 3,
                             .players = 25,
                             .two_step = 1,
                             .joins_refused = 4};
    json_t *j = quiz_session_json(&s);
    json_t *want =
        json_pack("{s:s,s:i,s:s,s:s,s:s,s:i,s:i,s:i,s:s,s:b,s:b,s:i}", "sid", "abc", "quiz_id", 7,
                  "title", "Demo", "join_code", "123456", "state", "closed", "question_idx", 1,
                  "question_count", 3, "players", 25, "created_at", "2026-12-01T10:00:00Z",
                  "locked", 0, "two_step", 1, "joins_refused", 4);
    CHECK(j && json_equal(j, want));
    json_decref(j);
    s.has_seq = 1;
    s.seq = 9;
    s.has_opened = 1;
    s.opened_at_ms = 1000;
    s.has_deadline = 1;
    s.deadline_ms = 21000;
    j = quiz_session_json(&s);
    json_object_set_new(want, "seq", json_integer(9));
    json_object_set_new(want, "opened_at_ms", json_integer(1000));
    json_object_set_new(want, "deadline_ms", json_integer(21000));
    CHECK(j && json_equal(j, want));
    json_decref(j);
    json_decref(want);
    /* a title with quotes and markup is carried as text, never interpreted */
    s.title = "<b>\"x\"</b>";
    j = quiz_session_json(&s);
    CHECK(j && strcmp(json_string_value(json_object_get(j, "title")), "<b>\"x\"</b>") == 0);
    json_decref(j);
}

static void events(void) {
    json_t *j = quiz_ev_question_open(4, 1, 3, QUIZ_KIND_SINGLE, "2 + 2 = ?",
                                      json_pack("[s,s]", "3", "4"), 20000, 1000, 21000, NULL);
    json_t *want = json_pack("{s:s,s:i,s:i,s:i,s:s,s:s,s:[s,s],s:i,s:i,s:i}", "type",
                             "question_open", "seq", 4, "question_idx", 1, "question_count", 3,
                             "kind", "single", "text", "2 + 2 = ?", "choices", "3", "4",
                             "time_limit_ms", 20000, "opened_at_ms", 1000, "deadline_ms", 21000);
    CHECK(j && json_equal(j, want));
    json_decref(j);
    json_decref(want);
    j = quiz_ev_question_open(4, 1, 3, QUIZ_KIND_POLL, "t", NULL, 20000, 1000, 21000, NULL);
    CHECK(j && json_array_size(json_object_get(j, "choices")) == 0);
    json_decref(j);
    /* time_factors: only the students whose factor is not 1, as factors */
    json_t *pcts = json_pack("{s:i,s:i,s:i,s:i}", "s1", 200, "s2", 100, "s3", 150, "s4", 175);
    j = quiz_ev_question_open(4, 1, 3, QUIZ_KIND_SINGLE, "t", NULL, 20000, 1000, 21000, pcts);
    want = json_pack("{s:f,s:f}", "s1", 2.0, "s3", 1.5);
    CHECK(j && json_equal(json_object_get(j, "time_factors"), want));
    json_decref(j);
    json_decref(want);
    json_object_del(pcts, "s1");
    json_object_del(pcts, "s3");
    j = quiz_ev_question_open(4, 1, 3, QUIZ_KIND_SINGLE, "t", NULL, 20000, 1000, 21000, pcts);
    CHECK(j && !json_object_get(j, "time_factors")); /* nobody with extra time: no map */
    json_decref(j);
    json_decref(pcts);

    struct quiz_counts c;
    quiz_counts_init(&c, 2);
    quiz_counts_add(&c, "B", 1);
    json_t *results = json_object();
    CHECK(quiz_closed_result_add(results, "s1", "B", 900, 1900) == 0);
    CHECK(quiz_closed_result_add(results, "s2", NULL, 0, 0) == 0);
    j = quiz_ev_question_closed(5, 1, QUIZ_KIND_SINGLE, "B", &c, results, 2);
    want = json_pack("{s:s,s:i,s:i,s:s,s:s,s:{s:i,s:i},s:{s:[s,i,i],s:[n,i,i]},s:i}", "type",
                     "question_closed", "seq", 5, "question_idx", 1, "kind", "single", "answer",
                     "B", "counts", "A", 0, "B", 1, "results", "s1", "B", 900, 1900, "s2", 0, 0,
                     "players", 2);
    CHECK(j && json_equal(j, want));
    json_decref(j);
    json_decref(want);
    /* an empty session closes with no results */
    quiz_counts_init(&c, 4);
    j = quiz_ev_question_closed(6, 0, QUIZ_KIND_SINGLE, "A", &c, json_object(), 0);
    CHECK(j && json_object_size(json_object_get(j, "results")) == 0 &&
          json_object_size(json_object_get(j, "counts")) == 4);
    json_decref(j);

    struct quiz_standing rows[3] = {{"a", 10, 0}, {"b", 30, 0}, {"c", 10, 0}};
    CHECK(quiz_rank(rows, 3) == 0);
    j = quiz_ev_session_ended(7, rows, 3);
    want = json_pack("{s:s,s:i,s:i,s:{s:[i,i],s:[i,i],s:[i,i]}}", "type", "session_ended", "seq", 7,
                     "players", 3, "results", "a", 10, 2, "b", 30, 1, "c", 10, 2);
    CHECK(j && json_equal(j, want));
    json_decref(j);
    json_decref(want);
    j = quiz_ev_session_ended(8, NULL, 0);
    CHECK(j && json_integer_value(json_object_get(j, "players")) == 0 &&
          json_object_size(json_object_get(j, "results")) == 0);
    json_decref(j);

    j = quiz_ev_session_reset(9, 2);
    want = json_pack("{s:s,s:i,s:i}", "type", "session_reset", "seq", 9, "epoch", 2);
    CHECK(j && json_equal(j, want));
    json_decref(j);
    json_decref(want);

    quiz_counts_init(&c, 2);
    quiz_counts_add(&c, "A", 3);
    quiz_counts_add(&c, "B", 4);
    j = quiz_ev_answer_stats(9, 0, &c, 30);
    want = json_pack("{s:s,s:i,s:i,s:{s:i,s:i},s:i,s:i}", "type", "answer_stats", "seq", 9,
                     "question_idx", 0, "counts", "A", 3, "B", 4, "answered", 7, "players", 30);
    CHECK(j && json_equal(j, want));
    json_decref(j);
    json_decref(want);

    j = quiz_ev_lobby_update(12, "Zoë <script>", "s-9");
    want = json_pack("{s:s,s:i,s:s,s:s}", "type", "lobby_update", "players", 12, "name",
                     "Zoë <script>", "student_id", "s-9");
    CHECK(j && json_equal(j, want));
    json_decref(j);
    json_decref(want);
    j = quiz_ev_lobby_update(11, NULL, NULL); /* a removal: the count only */
    want = json_pack("{s:s,s:i}", "type", "lobby_update", "players", 11);
    CHECK(j && json_equal(j, want));
    json_decref(j);
    json_decref(want);
    j = quiz_ev_student_removed("s-9", 11);
    want =
        json_pack("{s:s,s:s,s:i}", "type", "student_removed", "student_id", "s-9", "players", 11);
    CHECK(j && json_equal(j, want));
    json_decref(j);
    json_decref(want);
}

int main(void) {
    names_round_trip();
    state_and_event_rules();
    lifecycle_table();
    points_rule();
    extra_time();
    judging_order();
    kinds_submit_and_score();
    label_sets();
    pool_rules();
    counts_per_choice();
    ranks_share_ties();
    report_after_class();
    subjects_and_codes();
    shards();
    session_object();
    events();
    return check_result("quiz_test");
}
