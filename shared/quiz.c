/*
 * quiz: the rules of a quiz (see quiz.h): name tables, the lifecycle table,
 * points, the judging order, counts, ranks, subjects, random codes and the
 * shard of a session.
 * Pure functions over plain values: no I/O, no locks, no logging; the only
 * outside call is RAND_bytes for codes. The JSON builders are in quiz_json.c.
 */
#include "quiz.h"

#include "subjects.h"

#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const state_names[QUIZ_STATE_COUNT] = {"lobby", "question", "closed", "ended"};
static const char *const event_names[QUIZ_EVENT_COUNT] = {
    "lobby_update",  "question_open", "question_closed", "session_ended",
    "session_reset", "answer_stats",  "student_removed"};
static const char *const cmd_names[QUIZ_CMD_COUNT] = {"next", "open", "close", "end", "reset"};
static const char *const verdict_names[QUIZ_VERDICT_COUNT] = {
    "record",         "accepted", "duplicate", "closed",
    "wrong_question", "not_open", "invalid",   "unauthorized"};
static const char *const labels[QUIZ_MAX_CHOICES] = {"A", "B", "C", "D", "E", "F"};
static const char *const kind_names[QUIZ_KIND_COUNT] = {"single", "multi", "truefalse", "poll"};

static const char *name_of(const char *const *table, int count, int v) {
    return v >= 0 && v < count ? table[v] : "?";
}

static int parse_in(const char *const *table, int count, const char *name, int *out) {
    for (int i = 0; name && i < count; i++) {
        if (strcmp(table[i], name) == 0) {
            *out = i;
            return 0;
        }
    }
    return -1;
}

const char *quiz_state_name(enum quiz_state s) {
    return name_of(state_names, QUIZ_STATE_COUNT, (int)s);
}
const char *quiz_event_name(enum quiz_event e) {
    return name_of(event_names, QUIZ_EVENT_COUNT, (int)e);
}
const char *quiz_cmd_name(enum quiz_cmd c) {
    return name_of(cmd_names, QUIZ_CMD_COUNT, (int)c);
}
const char *quiz_kind_name(enum quiz_kind k) {
    return name_of(kind_names, QUIZ_KIND_COUNT, (int)k);
}
const char *quiz_verdict_name(enum quiz_verdict v) {
    return name_of(verdict_names, QUIZ_VERDICT_COUNT, (int)v);
}

int quiz_state_parse(const char *name, enum quiz_state *out) {
    int v = 0;
    if (parse_in(state_names, QUIZ_STATE_COUNT, name, &v) != 0) return -1;
    *out = (enum quiz_state)v;
    return 0;
}
int quiz_event_parse(const char *name, enum quiz_event *out) {
    int v = 0;
    if (parse_in(event_names, QUIZ_EVENT_COUNT, name, &v) != 0) return -1;
    *out = (enum quiz_event)v;
    return 0;
}
int quiz_cmd_parse(const char *name, enum quiz_cmd *out) {
    int v = 0;
    if (parse_in(cmd_names, QUIZ_CMD_COUNT, name, &v) != 0) return -1;
    *out = (enum quiz_cmd)v;
    return 0;
}
int quiz_kind_parse(const char *name, enum quiz_kind *out) {
    int v = 0;
    if (parse_in(kind_names, QUIZ_KIND_COUNT, name, &v) != 0) return -1;
    *out = (enum quiz_kind)v;
    return 0;
}

int quiz_state_is(const char *name, enum quiz_state s) {
    enum quiz_state got;
    return quiz_state_parse(name, &got) == 0 && got == s;
}

int quiz_event_is_lifecycle(enum quiz_event e) {
    return e == QUIZ_EV_QUESTION_OPEN || e == QUIZ_EV_QUESTION_CLOSED ||
           e == QUIZ_EV_SESSION_ENDED || e == QUIZ_EV_SESSION_RESET;
}

int quiz_state_shows_question(enum quiz_state s) {
    return s == QUIZ_QUESTION || s == QUIZ_CLOSED;
}

int quiz_state_reveals_answer(enum quiz_state s) {
    return s == QUIZ_CLOSED;
}

int quiz_event_covered(enum quiz_event e, int ev_idx, enum quiz_state state, int idx) {
    switch (e) {
    case QUIZ_EV_QUESTION_OPEN:
        return state != QUIZ_LOBBY && ev_idx <= idx;
    case QUIZ_EV_QUESTION_CLOSED:
        return ev_idx < idx || (ev_idx == idx && (state == QUIZ_CLOSED || state == QUIZ_ENDED));
    case QUIZ_EV_SESSION_ENDED:
        return state == QUIZ_ENDED;
    default:
        return 0;
    }
}

/* ---- lifecycle ---------------------------------------------------------- */

struct quiz_plan quiz_plan_cmd(enum quiz_cmd cmd, enum quiz_state state, int idx, int count) {
    struct quiz_plan p = {0, NULL, 0, QUIZ_STEP_NONE, 0};
    int open = state == QUIZ_QUESTION, ended = state == QUIZ_ENDED;
    switch (cmd) {
    case QUIZ_CMD_NEXT:
    case QUIZ_CMD_END:
        if (ended) {
            p.status = 409;
            p.message = "the session has ended";
            break;
        }
        p.close_first = open;
        if (cmd == QUIZ_CMD_NEXT && idx + 1 < count) {
            p.then = QUIZ_STEP_OPEN;
            p.open_idx = idx + 1;
        } else {
            p.then = QUIZ_STEP_END;
        }
        break;
    case QUIZ_CMD_OPEN: /* re-opens nothing, in every state (SPEC §5) */
        break;
    case QUIZ_CMD_CLOSE:
        if (state == QUIZ_LOBBY || ended) {
            p.status = 409;
            p.message = "no question to close";
            break;
        }
        p.close_first = open;
        break;
    case QUIZ_CMD_RESET:
        p.then = QUIZ_STEP_RESET;
        break;
    default:
        p.status = 400;
        p.message = "cmd must be next, open, close, end or reset";
        break;
    }
    return p;
}

/* ---- points and time ---------------------------------------------------- */

int quiz_points(int correct, long long elapsed_ms, long long limit_ms) {
    if (!correct) return 0;
    if (limit_ms <= 0) limit_ms = 1;
    if (elapsed_ms < 0) elapsed_ms = 0;
    if (elapsed_ms > limit_ms) elapsed_ms = limit_ms;
    long long num = 1000 * limit_ms - 500 * elapsed_ms; /* points * limit */
    return (int)((2 * num + limit_ms) / (2 * limit_ms));
}

long long quiz_elapsed_ms(int has_elapsed, long long elapsed_ms, long long received_ms,
                          long long opened_ms) {
    return has_elapsed ? elapsed_ms : received_ms - opened_ms;
}

long long quiz_latency_ms(long long elapsed_ms) {
    if (elapsed_ms < 0) return 0;
    return elapsed_ms > 2000000000LL ? 2000000000LL : elapsed_ms;
}

/* ---- extra time ---------------------------------------------------------- */

static const int factor_pcts[] = {100, 125, 150, 200, 300};

int quiz_factor_pct_valid(long long pct) {
    for (size_t i = 0; i < sizeof(factor_pcts) / sizeof(factor_pcts[0]); i++)
        if (factor_pcts[i] == pct) return 1;
    return 0;
}

int quiz_factor_pct(double factor) {
    for (size_t i = 0; i < sizeof(factor_pcts) / sizeof(factor_pcts[0]); i++)
        if (factor * 100.0 == (double)factor_pcts[i]) return factor_pcts[i];
    return -1;
}

long long quiz_limit_ms(long long limit_ms, int pct) {
    if (!quiz_factor_pct_valid(pct)) pct = QUIZ_FACTOR_NONE;
    return limit_ms * pct / 100;
}

int quiz_factor_of(const json_t *factors, const char *student_id) {
    json_t *f = student_id ? json_object_get(factors, student_id) : NULL;
    int pct = json_is_number(f) ? quiz_factor_pct(json_number_value(f)) : -1;
    return pct > 0 ? pct : QUIZ_FACTOR_NONE;
}

/* ---- judging ------------------------------------------------------------ */

const char *quiz_label(int i) {
    return i >= 0 && i < QUIZ_MAX_CHOICES ? labels[i] : NULL;
}

int quiz_choice_valid(const char *choice, int nchoices) {
    return choice && strlen(choice) == 1 && choice[0] >= 'A' && choice[0] < 'A' + nchoices &&
           choice[0] < 'A' + QUIZ_MAX_CHOICES;
}

int quiz_set_valid(const char *set, int nchoices) {
    if (!set || !*set || nchoices > QUIZ_MAX_CHOICES) return 0;
    char prev = 'A' - 1;
    for (const char *p = set; *p; p++) {
        if (*p <= prev || *p >= 'A' + nchoices) return 0; /* in order, so distinct */
        prev = *p;
    }
    return 1;
}

int quiz_set_from_json(const json_t *list, char out[QUIZ_MAX_CHOICES + 1]) {
    int seen[QUIZ_MAX_CHOICES] = {0};
    size_t n = json_array_size(list), k = 0;
    out[0] = '\0';
    if (!json_is_array(list) || n < 1 || n > QUIZ_MAX_CHOICES) return -1;
    for (size_t i = 0; i < n; i++) {
        const char *l = json_string_value(json_array_get(list, i));
        if (!quiz_choice_valid(l, QUIZ_MAX_CHOICES) || seen[l[0] - 'A']++) return -1;
    }
    for (int i = 0; i < QUIZ_MAX_CHOICES; i++)
        if (seen[i]) out[k++] = (char)('A' + i);
    out[k] = '\0';
    return 0;
}

int quiz_submit_valid(enum quiz_kind kind, const char *choice, int is_set, int nchoices) {
    if (kind == QUIZ_KIND_MULTI) return is_set && quiz_set_valid(choice, nchoices);
    return !is_set && quiz_choice_valid(choice, nchoices);
}

int quiz_is_correct(enum quiz_kind kind, const char *answer, const char *choice) {
    if (!quiz_kind_scored(kind) || !answer || !choice || !*answer) return 0;
    /* single/truefalse: the one label; multi: stored forms are sorted sets,
     * so equal strings are exactly the right set */
    return strcmp(answer, choice) == 0;
}

int quiz_kind_scored(enum quiz_kind kind) {
    return kind != QUIZ_KIND_POLL;
}

enum quiz_verdict quiz_judge(const struct quiz_view *v, const struct quiz_submit *s) {
    if (!s->known || s->epoch != v->epoch) return QUIZ_V_UNAUTHORIZED;
    if (v->state == QUIZ_CLOSED && s->question_idx == v->question_idx) return QUIZ_V_CLOSED;
    if (v->state != QUIZ_QUESTION) return QUIZ_V_NOT_OPEN;
    if (s->question_idx != v->question_idx) return QUIZ_V_WRONG_QUESTION;
    if (s->received_ms >= v->deadline_ms) return QUIZ_V_CLOSED;
    if (!quiz_submit_valid(v->kind, s->choice, s->is_set, v->nchoices)) return QUIZ_V_INVALID;
    return QUIZ_V_RECORD;
}

enum quiz_verdict quiz_settle(int inserted) {
    return inserted ? QUIZ_V_ACCEPTED : QUIZ_V_DUPLICATE;
}

/* ---- counts and standings ----------------------------------------------- */

void quiz_counts_init(struct quiz_counts *c, int nchoices) {
    memset(c, 0, sizeof(*c));
    if (nchoices < 0) nchoices = 0;
    c->nchoices = nchoices > QUIZ_MAX_CHOICES ? QUIZ_MAX_CHOICES : nchoices;
}

void quiz_counts_add(struct quiz_counts *c, const char *choice, long long n) {
    c->answered += n;
    if (!quiz_set_valid(choice, c->nchoices)) return; /* a label is a set of one */
    for (const char *p = choice; *p; p++)
        c->n[*p - 'A'] += n;
}

int quiz_rank_from_higher(long long higher) {
    return (int)(1 + higher);
}

static int cmp_desc(const void *a, const void *b) {
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

int quiz_rank(struct quiz_standing *rows, size_t n) {
    if (n == 0) return 0;
    long long *sorted = malloc(n * sizeof(*sorted));
    if (!sorted) return -1;
    for (size_t i = 0; i < n; i++)
        sorted[i] = rows[i].score;
    qsort(sorted, n, sizeof(*sorted), cmp_desc);
    for (size_t i = 0; i < n; i++) {
        /* the first position holding this score = students with a higher one */
        size_t lo = 0, hi = n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (sorted[mid] > rows[i].score)
                lo = mid + 1;
            else
                hi = mid;
        }
        rows[i].rank = quiz_rank_from_higher((long long)lo);
    }
    free(sorted);
    return 0;
}

/* ---- the report after class --------------------------------------------- */

static int cmp_asc(const void *a, const void *b) {
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y ? 1 : 0;
}

long long quiz_median_ms(long long *v, size_t n) {
    if (n == 0) return -1;
    qsort(v, n, sizeof(*v), cmp_asc);
    if (n % 2) return v[n / 2];
    return v[n / 2 - 1] + (v[n / 2] - v[n / 2 - 1]) / 2;
}

int quiz_report_build(struct quiz_question_report *q, size_t nq, const struct quiz_answer *a,
                      size_t na) {
    /* the latencies grouped by question: a counting sort over question_idx */
    size_t *start = calloc(nq + 1, sizeof(*start));
    struct quiz_question_report **of = calloc(nq ? nq : 1, sizeof(*of)); /* by question_idx */
    long long *lat = malloc((na ? na : 1) * sizeof(*lat));
    int rc = -1;
    if (!start || !of || !lat) goto cleanup;
    for (size_t k = 0; k < nq; k++)
        if (q[k].question_idx >= 0 && (size_t)q[k].question_idx < nq) of[q[k].question_idx] = &q[k];
    for (size_t i = 0; i < na; i++)
        if (a[i].question_idx >= 0 && (size_t)a[i].question_idx < nq && of[a[i].question_idx])
            start[a[i].question_idx + 1]++;
    for (size_t k = 0; k < nq; k++)
        start[k + 1] += start[k];
    for (size_t i = 0; i < na; i++) {
        if (a[i].question_idx < 0 || (size_t)a[i].question_idx >= nq) continue;
        struct quiz_question_report *one = of[a[i].question_idx];
        if (!one) continue;
        quiz_counts_add(&one->counts, a[i].choice, 1);
        if (a[i].correct) one->correct++;
        lat[start[a[i].question_idx]++] = a[i].latency_ms < 0 ? 0 : a[i].latency_ms;
    }
    /* start[k] now ends group k, which begins where group k-1 ended */
    for (size_t k = 0; k < nq; k++) {
        int idx = q[k].question_idx;
        if (idx < 0 || (size_t)idx >= nq) {
            q[k].median_ms = -1;
            continue;
        }
        size_t from = idx == 0 ? 0 : start[idx - 1];
        q[k].median_ms = quiz_median_ms(lat + from, start[idx] - from);
    }
    rc = 0;
cleanup:
    free(start);
    free(of);
    free(lat);
    return rc;
}

double quiz_share_right(const struct quiz_question_report *q) {
    if (q->counts.answered <= 0 || !quiz_kind_scored(q->kind)) return -1;
    return (double)q->correct / (double)q->counts.answered;
}

static int cmp_hardest(const void *pa, const void *pb) {
    const struct quiz_question_report *a = pa, *b = pb;
    int ua = a->counts.answered > 0 && quiz_kind_scored(a->kind);
    int ub = b->counts.answered > 0 && quiz_kind_scored(b->kind);
    if (ua != ub) return ua ? -1 : 1;
    if (ua) {
        /* a->correct/a->answered vs b->correct/b->answered, exactly */
        long long l = a->correct * b->counts.answered, r = b->correct * a->counts.answered;
        if (l != r) return l < r ? -1 : 1;
        if (a->median_ms != b->median_ms) return a->median_ms > b->median_ms ? -1 : 1;
    }
    return a->question_idx < b->question_idx ? -1 : a->question_idx > b->question_idx;
}

void quiz_hardest_first(struct quiz_question_report *q, size_t n) {
    if (n > 1) qsort(q, n, sizeof(*q), cmp_hardest);
}

/* ---- names and codes ---------------------------------------------------- */

int quiz_event_subject(char *buf, size_t size, const char *sid) {
    if (size == 0) return -1;
    int n = sid && *sid ? snprintf(buf, size, "%s%s", SUBJ_EVENT_PREFIX, sid) : -1;
    if (n < 0 || (size_t)n >= size) {
        buf[0] = '\0';
        return -1;
    }
    return 0;
}

const char *quiz_event_subject_sid(const char *subject) {
    size_t plen = strlen(SUBJ_EVENT_PREFIX);
    if (!subject || strncmp(subject, SUBJ_EVENT_PREFIX, plen) != 0 || !subject[plen]) return NULL;
    return subject + plen;
}

size_t quiz_text_from_bytes(const unsigned char *src, size_t len, const char *alphabet, char *out,
                            size_t n) {
    size_t alen = strlen(alphabet), o = 0;
    if (alen < 2 || alen > 256) {
        out[0] = '\0';
        return 0;
    }
    unsigned limit = 256 - 256 % (unsigned)alen; /* bytes at or past it would bias */
    for (size_t i = 0; i < len && o < n; i++)
        if (src[i] < limit) out[o++] = alphabet[src[i] % alen];
    out[o] = '\0';
    return o;
}

int quiz_random_text(char *out, size_t n, const char *alphabet) {
    size_t o = 0, alen = strlen(alphabet);
    if (alen < 2 || alen > 256) return -1; /* nothing could be drawn: never loop */
    while (o < n) {
        unsigned char buf[32];
        if (RAND_bytes(buf, sizeof(buf)) != 1) return -1;
        o += quiz_text_from_bytes(buf, sizeof(buf), alphabet, out + o, n - o);
    }
    out[n] = '\0';
    return 0;
}

int quiz_join_code(char *out) {
    return quiz_random_text(out, QUIZ_JOIN_CODE_LEN, "0123456789");
}

int quiz_new_sid(char *out) {
    return quiz_random_text(out, QUIZ_SID_LEN, "abcdefghijklmnopqrstuvwxyz0123456789");
}

/* ---- shards ------------------------------------------------------------- */

int quiz_shard(const char *sid) {
    uint32_t h = 2166136261u; /* FNV-1a offset basis */
    for (const unsigned char *p = (const unsigned char *)sid; p && *p; p++)
        h = (h ^ *p) * 16777619u; /* FNV prime */
    return (int)((h ^ (h >> 16)) % QUIZ_SHARDS);
}

int quiz_cmd_subject(char *buf, size_t size, const char *sid) {
    if (size == 0) return -1;
    int n =
        sid && *sid ? snprintf(buf, size, "%s%d", SUBJ_SESSION_CMD_PREFIX, quiz_shard(sid)) : -1;
    if (n < 0 || (size_t)n >= size) {
        buf[0] = '\0';
        return -1;
    }
    return 0;
}
