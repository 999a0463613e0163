/*
 * quiz: what a quiz IS, in one place, as pure functions: the session states
 * and event types (one name table each), the lifecycle table of commands,
 * the points rule, the judging order of a submit, per-choice counts,
 * standings (ranks with shared ties), the report after class (per question
 * the share right, the counts, the median time, hardest first), the event
 * subject, join codes, the shard of a session, and the JSON of every event
 * and of the session object.
 * Daemons only translate between NATS, SQL and these functions; nothing
 * here does I/O, locks or logs (join codes read the OpenSSL CSPRNG, which
 * is the one exception). quiz.c holds the rules, quiz_json.c the builders;
 * tests/unit/quiz_test.c has a table of cases for each.
 */
#ifndef QW_QUIZ_H
#define QW_QUIZ_H

#include <jansson.h>
#include <stddef.h>

#define QUIZ_MAX_CHOICES 6   /* labels A..F */
#define QUIZ_JOIN_CODE_LEN 6 /* digits of a join code */
#define QUIZ_SID_LEN 12      /* characters of a generated session id */

/* ---- states, events, commands: enums with one name table each -------- */

/* The kinds of question (docs/API.md "Kinds of question"): one right label
 * (single, truefalse: two choices), exactly a right set of labels (multi),
 * or no right answer at all (poll: counted, never scored). */
enum quiz_kind {
    QUIZ_KIND_SINGLE,
    QUIZ_KIND_MULTI,
    QUIZ_KIND_TRUEFALSE,
    QUIZ_KIND_POLL,
    QUIZ_KIND_COUNT
};

enum quiz_state { QUIZ_LOBBY, QUIZ_QUESTION, QUIZ_CLOSED, QUIZ_ENDED, QUIZ_STATE_COUNT };

enum quiz_event {
    QUIZ_EV_LOBBY_UPDATE,
    QUIZ_EV_QUESTION_OPEN,
    QUIZ_EV_QUESTION_CLOSED,
    QUIZ_EV_SESSION_ENDED,
    QUIZ_EV_SESSION_RESET,
    QUIZ_EV_ANSWER_STATS,
    QUIZ_EV_STUDENT_REMOVED,
    QUIZ_EVENT_COUNT
};

enum quiz_cmd {
    QUIZ_CMD_NEXT,
    QUIZ_CMD_OPEN,
    QUIZ_CMD_CLOSE,
    QUIZ_CMD_END,
    QUIZ_CMD_RESET,
    QUIZ_CMD_COUNT
};

/* Names as on the wire and in the `sessions.state` column ("lobby",
 * "question_open", "next", ...). An out-of-range value names "?". */
const char *quiz_state_name(enum quiz_state s);
const char *quiz_event_name(enum quiz_event e);
const char *quiz_cmd_name(enum quiz_cmd c);
const char *quiz_kind_name(enum quiz_kind k);

/* Parse a name (NULL allowed). Return 0 and set *out, or -1 when unknown. */
int quiz_state_parse(const char *name, enum quiz_state *out);
int quiz_event_parse(const char *name, enum quiz_event *out);
int quiz_cmd_parse(const char *name, enum quiz_cmd *out);
int quiz_kind_parse(const char *name, enum quiz_kind *out);

/* True when `name` (NULL allowed) names state `s`. */
int quiz_state_is(const char *name, enum quiz_state s);

/* Lifecycle events move a session's seq (question_open, question_closed,
 * session_ended, session_reset); lobby_update, answer_stats and
 * student_removed do not. */
int quiz_event_is_lifecycle(enum quiz_event e);

/* A question is shown in `question` and `closed` state; its answer (and
 * every point it gave) only once `closed`. */
int quiz_state_shows_question(enum quiz_state s);
int quiz_state_reveals_answer(enum quiz_state s);

/* True when event `e` (about question `ev_idx`) is already reflected in a
 * snapshot that shows question `idx` in `state`, so a socket that got that
 * snapshot must not be sent the event again. */
int quiz_event_covered(enum quiz_event e, int ev_idx, enum quiz_state state, int idx);

/* ---- lifecycle commands (SPEC §5, docs/ARCHITECTURE.md table) -------- */

enum quiz_step { QUIZ_STEP_NONE, QUIZ_STEP_OPEN, QUIZ_STEP_END, QUIZ_STEP_RESET };

struct quiz_plan {
    int status;          /* 0 to go ahead, else the HTTP status of a refusal (409) */
    const char *message; /* the refusal's text (static), or NULL */
    int close_first;     /* close the open question first */
    enum quiz_step then; /* what follows the close */
    int open_idx;        /* the question QUIZ_STEP_OPEN opens */
};

/* What `cmd` does to a session in `state` at question `idx` of `count`. */
struct quiz_plan quiz_plan_cmd(enum quiz_cmd cmd, enum quiz_state state, int idx, int count);

/* ---- points and time -------------------------------------------------- */

/* Points of an answer: 0 when wrong; when right,
 * round(1000 * (1 - elapsed/limit/2)) with elapsed clamped to [0, limit],
 * exact integer rounding half up (500..1000). A limit <= 0 counts as 1 ms. */
int quiz_points(int correct, long long elapsed_ms, long long limit_ms);

/* The elapsed time a submit is scored on: the gateway's measure when it
 * sent one, else the time from the opening to the reception. */
long long quiz_elapsed_ms(int has_elapsed, long long elapsed_ms, long long received_ms,
                          long long opened_ms);

/* The latency stored beside an answer: elapsed clamped to [0, 2e9]. */
long long quiz_latency_ms(long long elapsed_ms);

/* ---- extra time (accommodations) -------------------------------------- */

/* A student's time factor is one of 1, 1.25, 1.5, 2, 3, kept as a percent
 * (100, 125, 150, 200, 300) so no float reaches a deadline. */
#define QUIZ_FACTOR_NONE 100      /* everybody without extra time */
#define QUIZ_TIME_FACTORS_MAX 200 /* students with extra time per session */

/* The percent of a factor given as a JSON number (1.5 -> 150), or -1 when
 * it is not one of the documented factors. */
int quiz_factor_pct(double factor);

/* True when `pct` is one of the documented factors (100 included). */
int quiz_factor_pct_valid(long long pct);

/* A student's own time limit: limit_ms * pct / 100 (an invalid pct counts
 * as 100). */
long long quiz_limit_ms(long long limit_ms, int pct);

/* The factor percent of `student_id` in a question_open's `time_factors`
 * map ({"<student_id>": factor}, borrowed, NULL allowed): 100 when absent
 * or not a documented factor. */
int quiz_factor_of(const json_t *factors, const char *student_id);

/* ---- judging a submit ------------------------------------------------- */

/* Outcome of a submit. QUIZ_V_RECORD is not sent: the answer is inserted
 * and becomes accepted (the insert won) or duplicate (an answer stands). */
enum quiz_verdict {
    QUIZ_V_RECORD,
    QUIZ_V_ACCEPTED,
    QUIZ_V_DUPLICATE,
    QUIZ_V_CLOSED,
    QUIZ_V_WRONG_QUESTION,
    QUIZ_V_NOT_OPEN,
    QUIZ_V_INVALID,
    QUIZ_V_UNAUTHORIZED, /* answered with a 401 error, not a submit_ack */
    QUIZ_VERDICT_COUNT
};

/* The session as the submit's transaction sees it (row locked FOR SHARE). */
struct quiz_view {
    enum quiz_state state;
    int question_idx;      /* open (or last) question */
    long long deadline_ms; /* wall ms; a submit received at or after it is closed */
    int nchoices;          /* labels of the current question */
    long long epoch;       /* the session's reset epoch */
    enum quiz_kind kind;   /* of the current question (0: single) */
};

struct quiz_submit {
    int known;             /* the student is in `students` at the session's epoch */
    long long epoch;       /* the epoch the submit carries */
    int question_idx;      /* the question it answers */
    const char *choice;    /* borrowed: a label, or a set's stored form ("AC") */
    long long received_ms; /* wall ms when the gateway read it */
    int is_set;            /* sent as a list of labels (`choices`), as a multi needs */
};

/* "accepted", "duplicate", "closed", "wrong_question", "not_open",
 * "invalid", "unauthorized"; "record" for QUIZ_V_RECORD. */
const char *quiz_verdict_name(enum quiz_verdict v);

/* Judges in this order (SPEC §6): unauthorized (unknown student or another
 * epoch); closed (closed state, same index: a manual close or a close that
 * won the race); not_open (no open question); wrong_question; closed
 * (received at or after the deadline); invalid (quiz_submit_valid says
 * no: not a label, or a set, of the question as its kind wants); else
 * QUIZ_V_RECORD. */
enum quiz_verdict quiz_judge(const struct quiz_view *v, const struct quiz_submit *s);

/* After the insert: accepted when this submit's row went in, else duplicate. */
enum quiz_verdict quiz_settle(int inserted);

/* True when `choice` is exactly one label of a question with `nchoices`. */
int quiz_choice_valid(const char *choice, int nchoices);

/* True when `set` is the stored form of a set of labels of a question with
 * `nchoices`: 1..nchoices distinct labels in order ("A", "AC", "BDF"). */
int quiz_set_valid(const char *set, int nchoices);

/* The stored form of a JSON list of labels (borrowed) into out: the labels
 * sorted ("C","A" -> "AC"). Returns 0, or -1 (out "") when it is not a list
 * of 1..QUIZ_MAX_CHOICES distinct labels A..F. */
int quiz_set_from_json(const json_t *labels, char out[QUIZ_MAX_CHOICES + 1]);

/* True when a submit fits a question of `kind` with `nchoices`: a multi
 * takes a set sent as a list (is_set), every other kind one label sent as
 * `choice` (not is_set). */
int quiz_submit_valid(enum quiz_kind kind, const char *choice, int is_set, int nchoices);

/* The scoring rule per kind, in one place: single and truefalse are right
 * when the label is the answer; multi only when the set is exactly the
 * right set (no partial credit: a subset or a superset is wrong); a poll is
 * never right (0 points for everybody, so it never ranks anyone). `answer`
 * and `choice` are stored forms (NULL allowed). */
int quiz_is_correct(enum quiz_kind kind, const char *answer, const char *choice);

/* False for a poll: it has no right answer, `correct` means nothing. */
int quiz_kind_scored(enum quiz_kind kind);

/* Label of choice i ("A".."F"), or NULL out of range. Static storage. */
const char *quiz_label(int i);

/* ---- counts and standings -------------------------------------------- */

struct quiz_counts {
    int nchoices;                  /* labels shown, capped at QUIZ_MAX_CHOICES */
    long long n[QUIZ_MAX_CHOICES]; /* answers per label */
    long long answered;            /* every answer added */
};

/* Zero counts for a question with `nchoices` labels (every label shown). */
void quiz_counts_init(struct quiz_counts *c, int nchoices);

/* Adds `n` answers of `choice` (a label, or a set's stored form: each of
 * its labels is counted once); a choice that is neither still counts as
 * answered but in no label. */
void quiz_counts_add(struct quiz_counts *c, const char *choice, long long n);

struct quiz_standing {
    const char *student_id; /* borrowed */
    long long score;
    int rank; /* set by quiz_rank */
};

/* Rank of a score: 1 + the number of students with a higher score, so equal
 * scores share a rank (1, 1, 3). */
int quiz_rank_from_higher(long long higher);

/* Sets rows[i].rank for every row, in any order. Returns 0, or -1 when out
 * of memory (ranks then unset). */
int quiz_rank(struct quiz_standing *rows, size_t n);

/* ---- the report after class ------------------------------------------ */

/* One recorded answer, as the report reads it. */
struct quiz_answer {
    int question_idx;
    const char *choice; /* borrowed */
    int correct;
    long long latency_ms;
};

/* One question's figures. The caller sets question_idx, text, answer,
 * choices and counts (quiz_counts_init); quiz_report_build fills the rest. */
struct quiz_question_report {
    int question_idx;
    enum quiz_kind kind;
    const char *text, *answer; /* borrowed; answer NULL or "" for a poll */
    json_t *choices;           /* borrowed: the choices' texts, A.. in order */
    struct quiz_counts counts; /* answers per label; counts.answered all of them */
    long long correct;         /* answers that were right */
    long long median_ms;       /* median answer time, -1 when nobody answered */
};

/* The median of v[0..n) (sorted in place): the middle value, or the mean of
 * the two middle values rounded down; -1 when n is 0. Values are >= 0. */
long long quiz_median_ms(long long *v, size_t n);

/* Adds every answer of a[0..na) to the question of q[0..nq) with its
 * question_idx (an answer to no such question is left out) and sets each
 * question's median. Returns 0, or -1 when out of memory (medians unset). */
int quiz_report_build(struct quiz_question_report *q, size_t nq, const struct quiz_answer *a,
                      size_t na);

/* The share of a question's answers that were right (0..1), or -1 when
 * nobody answered it or it is a poll. */
double quiz_share_right(const struct quiz_question_report *q);

/* Sorts the hardest questions first: the lowest share right first (compared
 * exactly), then the longest median, then the lowest index; polls and
 * questions nobody answered come last, by index. */
void quiz_hardest_first(struct quiz_question_report *q, size_t n);

/* ---- names and codes -------------------------------------------------- */

/* Writes "qw.evt.<sid>" into buf. Returns 0, or -1 when sid is empty or it
 * does not fit (buf then holds ""). */
int quiz_event_subject(char *buf, size_t size, const char *sid);

/* The sid an event subject names ("qw.evt.<sid>" -> "<sid>", borrowed from
 * `subject`), or NULL when it is no event subject or names no sid. */
const char *quiz_event_subject_sid(const char *subject);

/* Draws `n` characters of `alphabet` (2..256 characters) uniformly from the
 * bytes `src` (len of them), rejecting the bytes that would bias the draw.
 * Returns how many were written into out (out[result] is NUL). Pure: the
 * caller supplies the randomness. */
size_t quiz_text_from_bytes(const unsigned char *src, size_t len, const char *alphabet, char *out,
                            size_t n);

/* `n` uniform characters of `alphabet` from RAND_bytes into out (n + 1
 * bytes). Returns 0, or -1 when the CSPRNG failed. */
int quiz_random_text(char *out, size_t n, const char *alphabet);

/* A join code: QUIZ_JOIN_CODE_LEN uniform digits (out holds 7 bytes). */
int quiz_join_code(char *out);

/* A session id: QUIZ_SID_LEN of [a-z0-9] (out holds 13 bytes). */
int quiz_new_sid(char *out);

/* ---- shards: which session daemon drives a session ------------------- */

#define QUIZ_SHARDS 64 /* sessions are spread over this many shards */

/* The shard of `sid`, 0..QUIZ_SHARDS-1: the 32-bit FNV-1a hash of its
 * bytes, its high half folded onto its low, modulo QUIZ_SHARDS. Pure and
 * the same on every build and machine; migration 014's SQL function
 * quiz_shard(text) and tests/lib/fixtures.mjs compute the same number. */
int quiz_shard(const char *sid);

/* Writes the command subject of `sid`'s shard, "qw.session.cmd.<shard>",
 * into buf. Returns 0, or -1 when sid is empty or it does not fit (buf then
 * holds ""). */
int quiz_cmd_subject(char *buf, size_t size, const char *sid);

/* ---- JSON: the session object and every event ----------------------- */
/* Every builder returns a new reference the caller owns, or NULL when out
 * of memory; borrowed arguments stay the caller's unless said otherwise. */

struct quiz_session {
    const char *sid, *title, *join_code, *created_at; /* borrowed */
    long long quiz_id;
    enum quiz_state state;
    int question_idx, question_count;
    long long players;
    int locked, two_step;    /* the lobby: no new joins; joins wait for approval */
    long long joins_refused; /* join tries refused while locked */
    int has_seq;             /* add "seq" (command replies) */
    long long seq;
    int has_opened; /* add "opened_at_ms" */
    long long opened_at_ms;
    int has_deadline; /* add "deadline_ms" */
    long long deadline_ms;
};

/* The <state> object of docs/ARCHITECTURE.md. */
json_t *quiz_session_json(const struct quiz_session *s);

/* {"A":n,...}: every label of the question, zeros included. */
json_t *quiz_counts_json(const struct quiz_counts *c);

/* ["A","C"] from a set's stored form "AC" (NULL or "" gives []). */
json_t *quiz_set_json(const char *set);

/* Sets what a question of `kind` reveals once closed on `o`: "answer" (a
 * label: single, truefalse), "answers" (the list: multi) or nothing (poll).
 * `answer` is the stored form (NULL allowed). Returns 0, or -1. */
int quiz_reveal_set(json_t *o, enum quiz_kind kind, const char *answer);

/* ---- the pool format (docs/API.md "Pools"): the one validation -------- */

/* Why a pool was refused: the 1-based question (0: the pool itself), the
 * field ("text", "choices", "answer", "answers", "kind", "time_limit_s",
 * "image", or "questions"/"title" for the pool) and the message, which
 * begins "question N: " when it is about a question. */
struct quiz_pool_error {
    int question;
    const char *field; /* static */
    char message[192];
};

/* Checks a pool (borrowed) against every rule, and on success sets *title
 * (borrowed from `pool`, or a static default) and *out to the normalised
 * question list (caller owns): each {text, kind, choices, answer (stored
 * form; absent for a poll), time_limit_s, image (when given)}. Returns 0,
 * or -1 with *err filled and *out NULL. */
int quiz_pool_check(json_t *pool, const char **title, json_t **out, struct quiz_pool_error *err);

/* Events on qw.evt.<sid> (docs/ARCHITECTURE.md "Events"). `choices` is
 * stolen (NULL means []). `pcts` {"<student_id>": percent} (borrowed, NULL
 * allowed) becomes `time_factors` {"<student_id>": factor}, only the
 * students whose factor is not 1 (absent when there is none). */
json_t *quiz_ev_question_open(long long seq, int idx, int count, enum quiz_kind kind,
                              const char *text, json_t *choices, long long time_limit_ms,
                              long long opened_at_ms, long long deadline_ms, const json_t *pcts);

/* `results` {"<student_id>":[choice|null, points, score]} is stolen; add
 * rows with quiz_closed_result_add. The reveal follows quiz_reveal_set. */
json_t *quiz_ev_question_closed(long long seq, int idx, enum quiz_kind kind, const char *answer,
                                const struct quiz_counts *counts, json_t *results,
                                long long players);
int quiz_closed_result_add(json_t *results, const char *student_id, const char *choice,
                           long long points, long long score);

/* {"question_idx","kind","text","answer"|"answers","choices","counts",
 * "answered","correct","share_right","median_ms"}; share_right and
 * median_ms are null when nobody answered; a poll has no answer and
 * correct and share_right null. `choices` is copied (NULL means []). */
json_t *quiz_question_report_json(const struct quiz_question_report *q);

/* results {"<student_id>":[score, rank]} from ranked rows. */
json_t *quiz_ev_session_ended(long long seq, const struct quiz_standing *rows, size_t n);
json_t *quiz_ev_session_reset(long long seq, long long epoch);
json_t *quiz_ev_answer_stats(long long seq, int idx, const struct quiz_counts *counts,
                             long long players);
/* `name` and `student_id` (of a newcomer, for the console; gateways strip
 * the id from what students see) are left out when NULL. */
json_t *quiz_ev_lobby_update(long long players, const char *name, const char *student_id);
/* Every gateway closes that student's sockets. */
json_t *quiz_ev_student_removed(const char *student_id, long long players);

#endif
