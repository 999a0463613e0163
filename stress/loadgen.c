/*
 * qw-loadgen: drives one whole Quizwire session through the public HTTP and
 * WebSocket API only (SPEC §3-§6), as N students and one instructor, from one
 * epoll loop with no thread per socket, measures join rate, connect time,
 * question fan-out and submit-ack latency, and then checks every ack against
 * the record from the results API. Every wait is bounded: a stall fails the
 * run with an error naming who stalled on which message, never a hang.
 * It creates its own session from a generated pool; it touches an existing
 * session only when given --sid SID --reset.
 */
#include "district.h"
#include "figures.h"
#include "http_client.h"
#include "jscan.h"
#include "net.h"
#include "procs.h"
#include "ws_client.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define LG_MAX_GATEWAYS 16
#define LG_HTTP_TIMEOUT_MS 10000.0
#define LG_SNAPSHOT_MS 12000.0
#define LG_INSTRUCTOR_MS 15000.0
#define LG_OPEN_MS 10000.0
#define LG_ACK_MS 10000.0
#define LG_CLOSE_GRACE_MS 10000.0
#define LG_END_MS 10000.0
#define LG_OPEN_INFLIGHT 256
#define LG_MAX_MISMATCH_NOTES 10

enum ack {
    ACK_NONE = 0,
    ACK_ACCEPTED,
    ACK_DUPLICATE,
    ACK_CLOSED,
    ACK_WRONG_QUESTION,
    ACK_NOT_OPEN,
    ACK_INVALID,
    ACK_OTHER,
    ACK__COUNT
};
static const char *ack_names[ACK__COUNT] = {"none",           "accepted", "duplicate", "closed",
                                            "wrong_question", "not_open", "invalid",   "other"};

enum phase {
    PH_SETUP,
    PH_JOIN,
    PH_CONNECT,
    PH_QUESTION,
    PH_CLOSING,
    PH_ENDING,
    PH_RESULTS,
    PH_DONE
};
static const char *phase_names[] = {"setup",   "joining", "connecting", "question",
                                    "closing", "ending",  "results",    "done"};

struct student {
    struct wsc ws;
    int idx, gw;
    char id[48];
    char *cookie;      /* "qw_student=<token>", owned */
    double connect_at; /* monotonic ms when its socket was opened; 0 = not yet */
    int got_snapshot;
    int open_q; /* last question_open index seen, -1 none */
    int ended;
    int closed_q;       /* last question_closed index seen, -1 none */
    int pending_submit; /* scheduled but not yet written */
};

/* per student × question cells, index i * Q + q */
struct cell {
    char pick;         /* 'A'.. ; 0 = none */
    unsigned char ack; /* enum ack */
    double open_at, sent_at, ack_at;
    int closed_points; /* from question_closed; -1 none */
};

struct heap_item {
    double due;
    int student;
};

struct lg {
    /* options */
    struct net_target gw[LG_MAX_GATEWAYS];
    int ngw;
    int n, q;
    int burst;
    int flood; /* every student submits the moment its question_open arrives */
    int time_limit_s;
    int concurrency;
    int idle;
    int quiet;
    const char *pids_dir;
    const char *use_sid;
    const char *pool_file; /* --pool: the pool to upload and play */
    int reset;
    int by_code; /* --by-code: students join with the session's join code, as the page does */
    char label[64];
    /* state */
    char admin_cookie[1024];
    char sid[128];
    char join_code[16];
    char prefix[32];
    enum phase phase;
    int cur_q;
    char error[1024];
    struct student *st;
    struct cell *cells;
    char *answer;         /* per question, from the instructor's question_closed */
    char *pool_answer;    /* per question, the right answer the --pool file gives */
    int *pool_limit_s;    /* per question, the --pool file's time_limit_s */
    double *t_next;       /* per question, when `next` was written */
    double *t_close_sent; /* per question: close written (burst) or timer due (spread) */
    double t_end_sent;
    int *opens, *acks, *closed;
    int instr_closed_q; /* last question_closed index on the instructor socket */
    int instr_ended;
    double *q_first_send, *q_last_ack;
    struct wsc instr;
    int instr_snapshot;
    double instr_open_at;
    int snapshots, ended;
    /* joins */
    struct hc *pool;
    int next_join, joins_done;
    /* socket opening */
    int next_open, opening;
    /* submits */
    struct heap_item *heap;
    int heap_n;
    /* results */
    int recorded, mismatches, checked, foreign;
    char notes[LG_MAX_MISMATCH_NOTES][256];
    int nnotes;
    /* figures */
    double t_join0, t_join1, t_conn0, t_conn1;
    struct procs p0, p_conn, p_end;
    struct procs p_join0, p_join1; /* around the join phase alone */
    int have_procs;
};

static struct lg L;

static void lg_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void lg_fail(const char *fmt, ...) {
    if (L.error[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(L.error, sizeof(L.error), fmt, ap);
    va_end(ap);
}

static void lg_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void lg_note(const char *fmt, ...) {
    L.mismatches++;
    if (L.nnotes >= LG_MAX_MISMATCH_NOTES) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(L.notes[L.nnotes++], sizeof(L.notes[0]), fmt, ap);
    va_end(ap);
}

static struct cell *cell_at(int i, int q) {
    return &L.cells[(size_t)i * (size_t)L.q + (size_t)q];
}

/* ---- submit schedule: a binary min-heap on due time ---------------------- */

static void heap_push(double due, int student) {
    int i = L.heap_n++;
    L.heap[i] = (struct heap_item){due, student};
    while (i > 0) {
        int p = (i - 1) / 2;
        if (L.heap[p].due <= L.heap[i].due) break;
        struct heap_item t = L.heap[p];
        L.heap[p] = L.heap[i];
        L.heap[i] = t;
        i = p;
    }
}

static struct heap_item heap_pop(void) {
    struct heap_item top = L.heap[0];
    L.heap[0] = L.heap[--L.heap_n];
    int i = 0;
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < L.heap_n && L.heap[l].due < L.heap[m].due) m = l;
        if (r < L.heap_n && L.heap[r].due < L.heap[m].due) m = r;
        if (m == i) break;
        struct heap_item t = L.heap[m];
        L.heap[m] = L.heap[i];
        L.heap[i] = t;
        i = m;
    }
    return top;
}

static double rnd01(void) {
    return (double)random() / ((double)RAND_MAX + 1.0);
}

/* ---- blocking-style HTTP through the loop (setup and results only) -------- */

static void sweep(double now);

static int run_until(int (*pred)(void), const char *what) {
    double last_sweep = 0;
    while (!L.error[0] && !pred()) {
        double now = net_now_ms();
        int timeout = 20;
        while (L.heap_n > 0 && L.heap[0].due <= now) {
            struct heap_item it = heap_pop();
            struct student *s = &L.st[it.student];
            struct cell *c = cell_at(it.student, L.cur_q);
            char msg[96];
            snprintf(msg, sizeof(msg),
                     "{\"type\":\"submit\",\"question_idx\":%d,\"choice\":\"%c\"}", L.cur_q,
                     c->pick);
            s->pending_submit = 0;
            c->sent_at = net_now_ms();
            if (L.q_first_send[L.cur_q] == 0 || c->sent_at < L.q_first_send[L.cur_q])
                L.q_first_send[L.cur_q] = c->sent_at;
            if (wsc_send_text(&s->ws, msg) != 0)
                lg_fail("student %s on %s: could not write its submit for question %d", s->id,
                        s->ws.target->base, L.cur_q);
        }
        if (L.heap_n > 0) {
            double d = L.heap[0].due - now;
            timeout = d < 0 ? 0 : d < 20 ? (int)d : 20;
        }
        if (net_loop_once(timeout) < 0) {
            lg_fail("epoll_wait failed: %s", strerror(errno));
            break;
        }
        now = net_now_ms();
        if (now - last_sweep >= 100) {
            sweep(now);
            last_sweep = now;
        }
    }
    if (L.error[0]) {
        fprintf(stderr, "qw-loadgen: stalled while %s: %s\n", what, L.error);
        return -1;
    }
    return 0;
}

static struct hc_sync *g_sync;
static int sync_pred(void) {
    return g_sync->done;
}

/* One request on a fresh client to gateway 0. Returns the status (0 on a
 * transport error, with L.error set); *body is owned by the caller. */
static int g_retry_after;

static int http_sync(const char *method, const char *path, const char *body,
                     const char *want_cookie, char **out_body, char *out_cookie,
                     size_t cookie_len) {
    struct hc c;
    struct hc_sync s = {0};
    s.want_cookie = want_cookie;
    hc_init(&c, &L.gw[0]);
    g_sync = &s;
    if (hc_request(&c, method, path, L.admin_cookie[0] ? L.admin_cookie : NULL, body,
                   LG_HTTP_TIMEOUT_MS, hc_sync_done, &s) != 0) {
        lg_fail("%s %s%s: connect failed: %s", method, L.gw[0].base, path, strerror(errno));
    } else {
        char what[256];
        snprintf(what, sizeof(what), "waiting for %s %s", method, path);
        run_until(sync_pred, what);
    }
    hc_free(&c);
    if (s.err[0]) lg_fail("%s %s%s: %s", method, L.gw[0].base, path, s.err);
    if (out_cookie && s.cookie[0]) snprintf(out_cookie, cookie_len, "%s", s.cookie);
    g_retry_after = s.retry_after;
    if (out_body)
        *out_body = s.body;
    else
        free(s.body);
    return s.done && !s.err[0] ? s.status : 0;
}

/* ---- deadlines -------------------------------------------------------------- */

static void sweep(double now) {
    for (int k = 0; L.pool && k < L.concurrency; k++)
        hc_check_deadline(&L.pool[k], now);
    if (L.instr.state != WSC_IDLE && !L.instr_snapshot && L.instr_open_at > 0 &&
        now - L.instr_open_at > LG_INSTRUCTOR_MS)
        lg_fail("instructor socket on %s: no snapshot within %.0f ms of connecting",
                L.instr.target->base, LG_INSTRUCTOR_MS);
    int q = L.cur_q;
    for (int i = 0; i < L.n && !L.error[0]; i++) {
        struct student *s = &L.st[i];
        if (s->connect_at > 0 && !s->got_snapshot && now - s->connect_at > LG_SNAPSHOT_MS) {
            lg_fail("student %s on %s: no snapshot within %.0f ms of connecting (socket state %d)",
                    s->id, s->ws.target->base, LG_SNAPSHOT_MS, s->ws.state);
            break;
        }
        if (L.phase == PH_QUESTION || L.phase == PH_CLOSING) {
            struct cell *c = cell_at(i, q);
            if (s->open_q < q && now - L.t_next[q] > LG_OPEN_MS)
                lg_fail("student %s on %s: no question_open for question %d within %.0f ms of the "
                        "instructor's "
                        "`next`",
                        s->id, s->ws.target->base, q, LG_OPEN_MS);
            else if (c->sent_at > 0 && c->ack == ACK_NONE && now - c->sent_at > LG_ACK_MS)
                lg_fail(
                    "student %s on %s: no submit_ack for question %d within %.0f ms of its submit "
                    "(is scoring running?)",
                    s->id, s->ws.target->base, q, LG_ACK_MS);
        }
        if (L.phase == PH_CLOSING && L.t_close_sent[q] > 0 && s->closed_q < q &&
            now - L.t_close_sent[q] > LG_CLOSE_GRACE_MS)
            lg_fail(
                "student %s on %s: no question_closed for question %d within %.0f ms of the close",
                s->id, s->ws.target->base, q, LG_CLOSE_GRACE_MS);
        if (L.phase == PH_ENDING && !s->ended && now - L.t_end_sent > LG_END_MS)
            lg_fail("student %s on %s: no session_ended within %.0f ms of the last `next`", s->id,
                    s->ws.target->base, LG_END_MS);
    }
    if (L.error[0]) return;
    if (L.phase == PH_CLOSING && L.t_close_sent[q] > 0 && L.instr_closed_q < q &&
        now - L.t_close_sent[q] > LG_CLOSE_GRACE_MS)
        lg_fail("instructor socket: no question_closed for question %d within %.0f ms of the close",
                q, LG_CLOSE_GRACE_MS);
    if (L.phase == PH_ENDING && !L.instr_ended && now - L.t_end_sent > LG_END_MS)
        lg_fail("instructor socket: no session_ended within %.0f ms of the last `next`", LG_END_MS);
}

/* ---- student sockets ------------------------------------------------------- */

static enum ack ack_parse(const struct jscan_field *f) {
    for (int i = 1; i < ACK__COUNT - 1; i++)
        if (jscan_is(f, ack_names[i])) return (enum ack)i;
    return ACK_OTHER;
}

static void pump_opens(void);

/* The fields a student reads, found by jscan without a tree (a message every
 * student receives is read N times a question). */
enum sf {
    SF_TYPE,
    SF_Q,
    SF_CHOICES,
    SF_REMAINING,
    SF_LIMIT,
    SF_STATUS,
    SF_CHOICE,
    SF_POINTS,
    SF_CODE,
    SF_MESSAGE,
    SF__COUNT
};
static const char *const sf_keys[SF__COUNT] = {
    "type",   "question_idx", "choices", "remaining_ms", "time_limit_ms",
    "status", "choice",       "points",  "code",         "message"};

static void student_text(struct wsc *w, const char *msg, size_t len, void *arg) {
    struct student *s = arg;
    double now = net_now_ms();
    struct jscan_field f[SF__COUNT];
    json_t *tree;
    for (int i = 0; i < SF__COUNT; i++)
        f[i].key = sf_keys[i];
    jscan_read(msg, len, f, SF__COUNT, &tree);
    const struct jscan_field *type = &f[SF_TYPE];
    if (type->kind != JS_STRING) {
        lg_fail("student %s on %s: a message that is not JSON with a type: %.80s", s->id,
                w->target->base, msg);
        goto out;
    }
    if (jscan_is(type, "snapshot")) {
        if (!s->got_snapshot) {
            s->got_snapshot = 1;
            L.snapshots++;
            L.opening--;
            if (L.phase == PH_CONNECT) pump_opens();
        }
    } else if (jscan_is(type, "question_open")) {
        int q = jscan_int(&f[SF_Q]);
        if (q != L.cur_q || L.phase != PH_QUESTION || s->open_q >= q) goto out;
        s->open_q = q;
        L.opens[q]++;
        struct cell *c = cell_at(s->idx, q);
        c->open_at = now;
        size_t nch = f[SF_CHOICES].kind == JS_ARRAY ? f[SF_CHOICES].len : 0;
        if (nch < 2 || nch > 4) nch = 4;
        c->pick = (char)('A' + (int)(rnd01() * (double)nch));
        double remaining = (double)jscan_int(&f[SF_REMAINING]);
        if (remaining <= 0) remaining = (double)jscan_int(&f[SF_LIMIT]);
        double delay = L.flood ? 0.0 : L.burst ? rnd01() * 1000.0 : rnd01() * 0.8 * remaining;
        s->pending_submit = 1;
        heap_push(now + delay, s->idx);
    } else if (jscan_is(type, "submit_ack")) {
        int q = jscan_int(&f[SF_Q]);
        if (q < 0 || q >= L.q) goto out;
        struct cell *c = cell_at(s->idx, q);
        if (c->ack != ACK_NONE || c->sent_at == 0) {
            lg_fail("student %s: a submit_ack for question %d it did not expect", s->id, q);
            goto out;
        }
        c->ack = (unsigned char)ack_parse(&f[SF_STATUS]);
        c->ack_at = now;
        L.acks[q]++;
        if (now > L.q_last_ack[q]) L.q_last_ack[q] = now;
        const struct jscan_field *ch = &f[SF_CHOICE];
        int named = ch->kind == JS_STRING;
        if (c->ack == ACK_ACCEPTED && (!named || ch->len == 0 || ch->str[0] != c->pick))
            lg_note("student %s question %d: accepted ack names choice %.*s, it sent %c", s->id, q,
                    named ? (int)ch->len : 4, named ? ch->str : "null", c->pick);
    } else if (jscan_is(type, "question_closed")) {
        int q = jscan_int(&f[SF_Q]);
        if (q < 0 || q >= L.q || q <= s->closed_q) goto out;
        s->closed_q = q;
        L.closed[q]++;
        cell_at(s->idx, q)->closed_points =
            f[SF_POINTS].kind == JS_INT ? (int)f[SF_POINTS].num : -1;
    } else if (jscan_is(type, "session_ended")) {
        if (!s->ended) {
            s->ended = 1;
            L.ended++;
        }
    } else if (jscan_is(type, "error")) {
        const struct jscan_field *code = &f[SF_CODE], *text = &f[SF_MESSAGE];
        int hc = code->kind == JS_STRING, ht = text->kind == JS_STRING;
        lg_fail("student %s on %s: error %.*s instead of %s for question %d (%.*s)", s->id,
                w->target->base, hc ? (int)code->len : 1, hc ? code->str : "?",
                L.phase == PH_QUESTION ? "submit_ack" : "the next event", L.cur_q,
                ht ? (int)text->len : 0, ht ? text->str : "");
    }
out:
    json_decref(tree);
}

static void student_fail(struct wsc *w, const char *why, int status, int code, void *arg) {
    struct student *s = arg;
    if (s->ended || L.phase == PH_RESULTS || L.phase == PH_DONE) return;
    lg_fail("student %s socket on %s: %s (while %s, question %d)", s->id, w->target->base, why,
            phase_names[L.phase], L.cur_q);
}

static void pump_opens(void) {
    while (L.opening < LG_OPEN_INFLIGHT && L.next_open < L.n && !L.error[0]) {
        struct student *s = &L.st[L.next_open++];
        char path[160];
        snprintf(path, sizeof(path), "/ws?sid=%s", L.sid);
        wsc_init(&s->ws, &L.gw[s->gw], student_text, student_fail, s);
        s->connect_at = net_now_ms();
        if (wsc_open(&s->ws, path, s->cookie) != 0) {
            lg_fail("student %s: cannot open a socket to %s: %s", s->id, L.gw[s->gw].base,
                    strerror(errno));
            return;
        }
        L.opening++;
    }
}

/* ---- the instructor socket ------------------------------------------------- */

static void instr_text(struct wsc *w, const char *msg, size_t len, void *arg) {
    json_error_t jerr;
    json_t *m = json_loadb(msg, len, 0, &jerr);
    const char *type = m ? json_string_value(json_object_get(m, "type")) : NULL;
    if (!type) {
        lg_fail("instructor socket: a message that is not JSON with a type: %.80s", msg);
    } else if (strcmp(type, "snapshot") == 0) {
        L.instr_snapshot = 1;
    } else if (strcmp(type, "question_closed") == 0) {
        int q = (int)json_integer_value(json_object_get(m, "question_idx"));
        const char *a = json_string_value(json_object_get(m, "answer"));
        if (q >= 0 && q < L.q) {
            L.answer[q] = a ? a[0] : '?';
            if (L.pool_answer && L.answer[q] != L.pool_answer[q])
                lg_fail("question %d closed with answer %c, but the pool file says %c", q,
                        L.answer[q], L.pool_answer[q]);
            if (q > L.instr_closed_q) L.instr_closed_q = q;
        }
    } else if (strcmp(type, "session_ended") == 0) {
        L.instr_ended = 1;
    } else if (strcmp(type, "error") == 0) {
        const char *code = json_string_value(json_object_get(m, "code"));
        const char *text = json_string_value(json_object_get(m, "message"));
        /* a `close` racing the timer may be refused: the timer closed it */
        if (!(L.phase == PH_CLOSING && L.burst))
            lg_fail("instructor socket: error %s while %s question %d (%s)", code ? code : "?",
                    phase_names[L.phase], L.cur_q, text ? text : "");
    }
    json_decref(m);
}

static void instr_fail(struct wsc *w, const char *why, int status, int code, void *arg) {
    if (L.phase == PH_RESULTS || L.phase == PH_DONE) return;
    lg_fail("instructor socket on %s: %s (while %s)", w->target->base, why, phase_names[L.phase]);
}

static void instr_send(const char *type) {
    char msg[64];
    snprintf(msg, sizeof(msg), "{\"type\":\"%s\"}", type);
    if (wsc_send_text(&L.instr, msg) != 0) lg_fail("instructor socket: could not write `%s`", type);
}

/* ---- joins ----------------------------------------------------------------- */

static void join_next(struct hc *c);

static void join_done(struct hc *c, const struct hc_resp *r, const char *err, void *arg) {
    struct student *s = arg;
    if (!r) {
        lg_fail("join of student %s via %s: %s", s->id, c->target->base, err);
        return;
    }
    if (r->status != 200) {
        lg_fail("join of student %s via %s answered %d: %.200s", s->id, c->target->base, r->status,
                r->body ? r->body : "");
        return;
    }
    const char *tok = hc_resp_cookie(r, "qw_student");
    if (!tok) {
        lg_fail("join of student %s via %s: 200 without a qw_student cookie", s->id,
                c->target->base);
        return;
    }
    size_t l = strlen(tok) + 16;
    s->cookie = malloc(l);
    snprintf(s->cookie, l, "qw_student=%s", tok);
    L.joins_done++;
    join_next(c);
}

static void join_next(struct hc *c) {
    if (L.next_join >= L.n || L.error[0]) return;
    struct student *s = &L.st[L.next_join++];
    json_t *b = json_pack("{s:s, s:s, s:s}", "student_id", s->id, "name", s->id,
                          L.by_code ? "join_code" : "sid", L.by_code ? L.join_code : L.sid);
    char *body = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    if (hc_request(c, "POST", "/api/join", NULL, body, LG_HTTP_TIMEOUT_MS, join_done, s) != 0)
        lg_fail("join of student %s: cannot connect to %s: %s", s->id, c->target->base,
                strerror(errno));
    free(body);
}

static int pred_joined(void) {
    return L.joins_done >= L.n;
}
static int pred_instr(void) {
    return L.instr_snapshot;
}
static int pred_connected(void) {
    return L.snapshots >= L.n;
}
static int pred_acked(void) {
    return L.acks[L.cur_q] >= L.n;
}
static int pred_closed(void) {
    return L.closed[L.cur_q] >= L.n && L.instr_closed_q >= L.cur_q;
}
static int pred_ended(void) {
    return L.ended >= L.n && L.instr_ended;
}
static double g_hold_until;
static int pred_hold(void) {
    return net_now_ms() >= g_hold_until;
}

/* ---- setup ------------------------------------------------------------------- */

/* Reads --pool FILE into *pool (new reference): sets L.q and each
 * question's right answer and time limit. The server judges the pool; this
 * only needs what the checks use. Returns 0 or -1 after lg_fail. */
static int load_pool_file(json_t **pool) {
    json_error_t jerr;
    json_t *p = json_load_file(L.pool_file, JSON_REJECT_DUPLICATES, &jerr);
    json_t *qs = json_object_get(p, "questions");
    size_t n = json_array_size(qs);
    if (!p || !n) {
        lg_fail("--pool %s: %s", L.pool_file,
                p              ? "no questions"
                : jerr.text[0] ? jerr.text
                               : "cannot read");
        json_decref(p);
        return -1;
    }
    L.q = (int)n;
    L.pool_answer = calloc(n + 1, 1);
    L.pool_limit_s = calloc(n, sizeof(int));
    if (!L.pool_answer || !L.pool_limit_s) {
        json_decref(p);
        lg_fail("out of memory");
        return -1;
    }
    for (size_t q = 0; q < n; q++) {
        const char *a = json_string_value(json_object_get(json_array_get(qs, q), "answer"));
        json_t *t = json_object_get(json_array_get(qs, q), "time_limit_s");
        L.pool_answer[q] = a && *a ? a[0] : '?';
        L.pool_limit_s[q] = json_is_integer(t) ? (int)json_integer_value(t) : 20;
    }
    *pool = p;
    return 0;
}

static int setup_session(void) {
    char *body = NULL;
    const char *user = getenv("QW_ADMIN_USER");
    const char *pass = getenv("QW_ADMIN_PASSWORD");
    if (!pass || !*pass) {
        lg_fail("QW_ADMIN_PASSWORD is not set: the admin password comes from the environment only");
        return -1;
    }
    json_t *j =
        json_pack("{s:s, s:s}", "username", user && *user ? user : "admin", "password", pass);
    char *login = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    int st = http_sync("POST", "/admin/login", login, "qw_admin", &body, L.admin_cookie,
                       sizeof(L.admin_cookie));
    double give_up = net_now_ms() + 65000.0;
    while (st == 429 && !L.error[0] && net_now_ms() < give_up) {
        /* the login limit counts every login from this address (a loop, other
         * tools): wait what the gateway asks and try again, for at most 65 s */
        int wait_s = g_retry_after < 1 ? 1 : g_retry_after > 65 ? 65 : g_retry_after;
        fprintf(stderr, "qw-loadgen: admin login rate limited, retrying in %d s\n", wait_s);
        g_hold_until = net_now_ms() + wait_s * 1000.0;
        run_until(pred_hold, "waiting out the login rate limit");
        free(body);
        body = NULL;
        st = http_sync("POST", "/admin/login", login, "qw_admin", &body, L.admin_cookie,
                       sizeof(L.admin_cookie));
    }
    free(login);
    if (st != 200 || !L.admin_cookie[0]) {
        lg_fail("admin login at %s answered %d: %.200s", L.gw[0].base, st, body ? body : "");
        goto fail;
    }
    free(body);
    body = NULL;

    if (L.use_sid) {
        snprintf(L.sid, sizeof(L.sid), "%s", L.use_sid);
        char path[256];
        if (L.reset) {
            snprintf(path, sizeof(path), "/admin/api/sessions/%s/reset", L.sid);
            st = http_sync("POST", path, "{}", NULL, &body, NULL, 0);
            if (st != 200) {
                lg_fail("reset of session %s answered %d: %.200s", L.sid, st, body ? body : "");
                goto fail;
            }
            free(body);
            body = NULL;
        }
        snprintf(path, sizeof(path), "/admin/api/sessions/%s", L.sid);
        st = http_sync("GET", path, NULL, NULL, &body, NULL, 0);
        json_t *s = st == 200 ? json_loads(body, 0, NULL) : NULL;
        const char *state = json_string_value(json_object_get(s, "state"));
        if (!s || !state || strcmp(state, "lobby") != 0) {
            lg_fail("session %s must be in its lobby (give --reset to reset it): GET answered %d: "
                    "%.200s",
                    L.sid, st, body ? body : "");
            json_decref(s);
            goto fail;
        }
        L.q = (int)json_integer_value(json_object_get(s, "question_count"));
        const char *code = json_string_value(json_object_get(s, "join_code"));
        snprintf(L.join_code, sizeof(L.join_code), "%s", code ? code : "");
        json_decref(s);
        free(body);
        return L.q > 0 ? 0 : (lg_fail("session %s has no questions", L.sid), -1);
    }

    json_t *qs = json_array();
    for (int q = 0; q < L.q && !L.pool_file; q++) {
        char text[96];
        snprintf(text, sizeof(text), "Load question %d of run %s: pick one", q + 1, L.prefix);
        char ans[2] = {(char)('A' + (int)(rnd01() * 4)), 0};
        json_array_append_new(qs, json_pack("{s:s, s:[s,s,s,s], s:s, s:i}", "text", text, "choices",
                                            "first", "second", "third", "fourth", "answer", ans,
                                            "time_limit_s", L.time_limit_s));
    }
    char title[96];
    snprintf(title, sizeof(title), "qw-loadgen %s", L.prefix);
    json_t *pool = L.pool_file ? NULL : json_pack("{s:s, s:o}", "title", title, "questions", qs);
    if (L.pool_file) {
        json_decref(qs);
        if (load_pool_file(&pool) != 0) goto fail;
    }
    char *pj = json_dumps(pool, JSON_COMPACT);
    json_decref(pool);
    st = http_sync("POST", "/admin/api/quizzes", pj, NULL, &body, NULL, 0);
    free(pj);
    json_t *r = (st == 200 || st == 201) ? json_loads(body, 0, NULL) : NULL;
    json_t *qid = json_object_get(r, "quiz_id");
    if (!qid) {
        lg_fail("pool upload answered %d: %.200s", st, body ? body : "");
        json_decref(r);
        goto fail;
    }
    json_t *cr = json_pack("{s:O}", "quiz_id", qid);
    json_decref(r);
    char *cj = json_dumps(cr, JSON_COMPACT);
    json_decref(cr);
    free(body);
    body = NULL;
    st = http_sync("POST", "/admin/api/sessions", cj, NULL, &body, NULL, 0);
    free(cj);
    r = (st == 200 || st == 201) ? json_loads(body, 0, NULL) : NULL;
    const char *sid = json_string_value(json_object_get(r, "sid"));
    if (!sid) {
        lg_fail("session create answered %d: %.200s", st, body ? body : "");
        json_decref(r);
        goto fail;
    }
    snprintf(L.sid, sizeof(L.sid), "%s", sid);
    const char *code = json_string_value(json_object_get(r, "join_code"));
    snprintf(L.join_code, sizeof(L.join_code), "%s", code ? code : "");
    json_decref(r);
    free(body);
    return 0;
fail:
    free(body);
    return -1;
}

/* ---- the check against the record ------------------------------------------- */

static int check_results(void) {
    char path[256], *body = NULL;
    snprintf(path, sizeof(path), "/admin/api/sessions/%s/results", L.sid);
    int st = http_sync("GET", path, NULL, NULL, &body, NULL, 0);
    json_t *r = st == 200 ? json_loads(body, 0, NULL) : NULL;
    json_t *students = json_object_get(r, "students");
    if (!json_is_array(students)) {
        lg_fail("results of session %s answered %d: %.200s", L.sid, st, body ? body : "");
        free(body);
        json_decref(r);
        return -1;
    }
    free(body);
    unsigned char *seen = calloc((size_t)L.n * (size_t)L.q, 1);
    size_t plen = strlen(L.prefix);
    size_t k;
    json_t *js;
    json_array_foreach(students, k, js) {
        const char *id = json_string_value(json_object_get(js, "student_id"));
        if (!id || strncmp(id, L.prefix, plen) != 0 || id[plen] != '-') {
            L.foreign++;
            continue;
        }
        int i = atoi(id + plen + 1);
        if (i < 0 || i >= L.n) {
            L.foreign++;
            continue;
        }
        long sum = 0;
        size_t a;
        json_t *ja;
        json_array_foreach(json_object_get(js, "answers"), a, ja) {
            int q = (int)json_integer_value(json_object_get(ja, "question_idx"));
            const char *ch = json_string_value(json_object_get(ja, "choice"));
            int pts = (int)json_integer_value(json_object_get(ja, "points"));
            json_t *corr = json_object_get(ja, "correct");
            if (q < 0 || q >= L.q) {
                lg_note("record: %s has an answer for question %d, which does not exist", id, q);
                continue;
            }
            L.recorded++;
            sum += pts;
            struct cell *c = cell_at(i, q);
            if (seen[(size_t)i * L.q + q]++)
                lg_note("record: %s answers question %d more than once", id, q);
            if (c->ack != ACK_ACCEPTED)
                lg_note("record: %s has an answer to question %d that was acked %s", id, q,
                        ack_names[c->ack]);
            if (!ch || ch[0] != c->pick)
                lg_note("record: %s question %d holds choice %s, the accepted submit was %c", id, q,
                        ch ? ch : "null", c->pick);
            int right = ch && ch[0] == L.answer[q];
            if (right && (pts < 500 || pts > 1000))
                lg_note("record: %s question %d is right but scored %d (want 500..1000)", id, q,
                        pts);
            if (!right && pts != 0)
                lg_note("record: %s question %d is wrong but scored %d", id, q, pts);
            if (json_is_boolean(corr) && json_is_true(corr) != right)
                lg_note("record: %s question %d says correct=%s against answer %c", id, q,
                        json_is_true(corr) ? "true" : "false", L.answer[q]);
            if (c->closed_points >= 0 && c->closed_points != pts)
                lg_note("%s question %d: question_closed said %d points, the record %d", id, q,
                        c->closed_points, pts);
        }
        long score = (long)json_integer_value(json_object_get(js, "score"));
        if (score != sum)
            lg_note("record: %s has score %ld but its answers sum to %ld", id, score, sum);
    }
    for (int i = 0; i < L.n; i++)
        for (int q = 0; q < L.q; q++) {
            L.checked++;
            if (cell_at(i, q)->ack == ACK_ACCEPTED && !seen[(size_t)i * L.q + q])
                lg_note("record: the accepted answer of %s to question %d is missing", L.st[i].id,
                        q);
        }
    if (!L.use_sid && L.foreign)
        lg_note("record: %d students that this run never joined", L.foreign);
    free(seen);
    json_decref(r);
    return 0;
}

/* ---- figures ------------------------------------------------------------------ */

/* CPU per join of one process over the join phase, in µs (the load
 * generator's own joins included in "qw-loadgen" only when it has a pid
 * file: its own CPU is printed apart). */
static double join_cpu_us(const struct procs_entry *e) {
    const struct procs_entry *b = procs_find(&L.p_join0, e->name);
    if (!b || !L.joins_done) return 0;
    return (e->cpu_s - b->cpu_s) * 1e6 / L.joins_done;
}

/* {"<process>": µs of CPU per join, ...} over the join phase (new). */
static json_t *join_cpu_json(void) {
    json_t *o = json_object();
    for (int i = 0; i < L.p_join1.n; i++)
        json_object_set_new(o, L.p_join1.e[i].name,
                            json_real(fig_round2(join_cpu_us(&L.p_join1.e[i]))));
    return o;
}

static json_t *procs_json(double *rss_total, double *pss_total) {
    json_t *o = json_object();
    *rss_total = 0;
    *pss_total = 0;
    for (int i = 0; i < L.p_end.n; i++) {
        const struct procs_entry *e = &L.p_end.e[i];
        const struct procs_entry *b = procs_find(&L.p0, e->name);
        const struct procs_entry *c = procs_find(&L.p_conn, e->name);
        long rss = e->rss_kb, pss = e->pss_kb;
        if (c && c->rss_kb > rss) rss = c->rss_kb;
        if (c && c->pss_kb > pss) pss = c->pss_kb;
        *rss_total += (double)rss;
        *pss_total += (double)pss;
        json_object_set_new(
            o, e->name,
            json_pack("{s:I, s:I, s:f, s:i}", "rss_kb", (json_int_t)rss, "pss_kb", (json_int_t)pss,
                      "cpu_s", fig_round2(e->cpu_s - (b ? b->cpu_s : 0)), "processes", e->nproc));
    }
    return o;
}

static void report(int ok) {
    size_t n = (size_t)L.n * (size_t)L.q;
    double *acks = malloc(sizeof(double) * (n + 1)), *fan = malloc(sizeof(double) * (n + 1));
    size_t na = 0, nf = 0;
    long counts[ACK__COUNT] = {0};
    for (int i = 0; L.cells && i < L.n; i++)
        for (int q = 0; q < L.q; q++) {
            struct cell *c = cell_at(i, q);
            if (c->ack != ACK_NONE) {
                counts[c->ack]++;
                if (c->sent_at > 0) acks[na++] = c->ack_at - c->sent_at;
            }
            if (c->open_at > 0) fan[nf++] = c->open_at - L.t_next[q];
        }
    fig_sort(acks, na);
    fig_sort(fan, nf);
    double window = 0;
    for (int q = 0; L.q_first_send && q < L.q; q++)
        if (L.q_first_send[q] > 0 && L.q_last_ack[q] > L.q_first_send[q])
            window += L.q_last_ack[q] - L.q_first_send[q];

    json_t *ack_counts = json_object();
    for (int k = 1; k < ACK__COUNT; k++)
        if (counts[k]) json_object_set_new(ack_counts, ack_names[k], json_integer(counts[k]));
    char gws[LG_MAX_GATEWAYS * 260] = "";
    for (int g = 0; g < L.ngw; g++) {
        strcat(gws, g ? "," : "");
        strcat(gws, L.gw[g].base);
    }
    time_t now = time(NULL);
    char ts[32];
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    double joins_s =
        L.t_join1 > L.t_join0 ? (double)L.joins_done / ((L.t_join1 - L.t_join0) / 1000.0) : 0;
    double connect_s = L.t_conn1 > L.t_conn0 ? (L.t_conn1 - L.t_conn0) / 1000.0 : 0;
    double accuracy = L.checked ? (double)(L.checked - L.mismatches) / (double)L.checked : 0;
    json_t *o = json_pack("{s:s, s:s, s:b, s:s, s:s, s:s, s:i, s:i, s:f, s:f}", "time", ts, "tool",
                          "qw-loadgen", "ok", ok, "target", gws, "sid", L.sid, "mode",
                          L.idle    ? "idle"
                          : L.flood ? "flood"
                          : L.burst ? "burst"
                                    : "spread",
                          "students", L.n, "questions", L.idle ? 0 : L.q, "joins_per_s",
                          fig_round2(joins_s), "connect_s", fig_round2(connect_s));
    if (L.label[0]) json_object_set_new(o, "label", json_string(L.label));
    /* the load generator runs on the same cores as the stack: its own CPU
     * (user + system, the whole run) says what the figures include */
    struct rusage ru;
    double self_cpu_s = 0;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        self_cpu_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                     (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    json_object_set_new(o, "loadgen_cpu_s", json_real(fig_round2(self_cpu_s)));
    if (!L.idle) {
        json_object_set_new(o, "open_fanout_ms",
                            json_pack("{s:f, s:f}", "p50", fig_round2(fig_pct(fan, nf, 50)), "p99",
                                      fig_round2(fig_pct(fan, nf, 99))));
        json_object_set_new(
            o, "ack_ms",
            json_pack("{s:f, s:f, s:f, s:f}", "p50", fig_round2(fig_pct(acks, na, 50)), "p95",
                      fig_round2(fig_pct(acks, na, 95)), "p99", fig_round2(fig_pct(acks, na, 99)),
                      "max", fig_round2(fig_pct(acks, na, 100))));
        json_object_set_new(o, "acks", ack_counts);
        ack_counts = NULL;
        json_object_set_new(
            o, "acks_per_s",
            json_real(
                fig_round2(window > 0 ? (double)counts[ACK_ACCEPTED] / (window / 1000.0) : 0)));
        json_object_set_new(o, "recorded", json_integer(L.recorded));
        json_object_set_new(o, "mismatches", json_integer(L.mismatches));
        json_object_set_new(o, "accuracy", json_real(round(accuracy * 10000.0) / 10000.0));
    }
    json_decref(ack_counts);
    double rss_total = 0, pss_total = 0;
    if (L.have_procs) {
        json_object_set_new(o, "join_cpu_us_per_join", join_cpu_json());
        json_object_set_new(o, "procs", procs_json(&rss_total, &pss_total));
        json_object_set_new(o, "rss_total_kb", json_integer((json_int_t)rss_total));
        json_object_set_new(o, "pss_total_kb", json_integer((json_int_t)pss_total));
        if (L.idle) {
            json_t *idle = json_object();
            for (int g = 0; g < L.ngw; g++) {
                char name[32];
                snprintf(name, sizeof(name), "gateway%d", g + 1);
                const struct procs_entry *b = procs_find(&L.p0, name),
                                         *c = procs_find(&L.p_conn, name);
                int socks = 0;
                for (int i = 0; i < L.n; i++)
                    socks += L.st[i].gw == g;
                if (b && c && socks)
                    json_object_set_new(
                        idle, name,
                        json_pack("{s:i, s:I, s:f}", "sockets", socks, "rss_delta_kb",
                                  (json_int_t)(c->rss_kb - b->rss_kb), "kb_per_socket",
                                  fig_round2((double)(c->rss_kb - b->rss_kb) / socks)));
            }
            json_object_set_new(o, "idle", idle);
        }
    }
    if (L.error[0]) json_object_set_new(o, "error", json_string(L.error));
    if (L.nnotes) {
        json_t *notes = json_array();
        for (int i = 0; i < L.nnotes; i++)
            json_array_append_new(notes, json_string(L.notes[i]));
        json_object_set_new(o, "mismatch_notes", notes);
    }
    char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    if (!L.quiet) {
        fprintf(stderr, "\n  %-22s %s\n", "target", gws);
        fprintf(stderr, "  %-22s %s (%s)\n", "session", L.sid,
                L.idle    ? "idle"
                : L.flood ? "flood"
                : L.burst ? "burst"
                          : "spread");
        fprintf(stderr, "  %-22s %d x %d questions\n", "students", L.n, L.idle ? 0 : L.q);
        fprintf(stderr, "  %-22s %.1f /s\n", "joins", joins_s);
        fprintf(stderr, "  %-22s %.2f s\n", "all sockets snapshot", connect_s);
        if (!L.idle) {
            fprintf(stderr, "  %-22s p50 %.1f  p99 %.1f ms\n", "question_open fan-out",
                    fig_pct(fan, nf, 50), fig_pct(fan, nf, 99));
            fprintf(stderr, "  %-22s p50 %.1f  p95 %.1f  p99 %.1f  max %.1f ms\n", "submit -> ack",
                    fig_pct(acks, na, 50), fig_pct(acks, na, 95), fig_pct(acks, na, 99),
                    fig_pct(acks, na, 100));
            fprintf(stderr, "  %-22s", "acks");
            for (int k = 1; k < ACK__COUNT; k++)
                if (counts[k]) fprintf(stderr, " %s=%ld", ack_names[k], counts[k]);
            fprintf(stderr, "\n  %-22s %.0f /s (accepted / first submit..last ack per question)",
                    "durable acks",
                    window > 0 ? (double)counts[ACK_ACCEPTED] / (window / 1000.0) : 0);
            fprintf(stderr, "\n  %-22s %d answers, %d mismatches\n", "record", L.recorded,
                    L.mismatches);
        }
        for (int i = 0; i < L.p_join1.n && L.have_procs && L.joins_done; i++)
            fprintf(stderr, "  %-22s %s %.0f us of cpu per join\n", "joins:", L.p_join1.e[i].name,
                    join_cpu_us(&L.p_join1.e[i]));
        for (int i = 0; i < L.p_end.n && L.have_procs; i++)
            fprintf(stderr, "  %-22s rss %ld kB, pss %ld kB, cpu %.2f s\n", L.p_end.e[i].name,
                    L.p_end.e[i].rss_kb, L.p_end.e[i].pss_kb,
                    L.p_end.e[i].cpu_s - (procs_find(&L.p0, L.p_end.e[i].name)
                                              ? procs_find(&L.p0, L.p_end.e[i].name)->cpu_s
                                              : 0));
        fprintf(stderr, "  %-22s cpu %.2f s\n", "qw-loadgen (itself)", self_cpu_s);
        for (int i = 0; i < L.nnotes; i++)
            fprintf(stderr, "  mismatch: %s\n", L.notes[i]);
        fprintf(stderr, "  %-22s %s\n\n", "result",
                ok           ? "PASS"
                : L.error[0] ? L.error
                             : "FAIL (mismatches)");
    }
    printf("%s\n", line);
    fflush(stdout);
    free(line);
    json_decref(o);
    free(acks);
    free(fan);
}

/* ---- main ----------------------------------------------------------------------- */

static void usage(void) {
    fprintf(
        stderr,
        "usage: qw-loadgen --gateways URL[,URL...] [--students N] [--questions Q]\n"
        "                  [--mode burst|spread|flood] [--time-limit S] [--concurrency C]\n"
        "                  [--pids DIR] [--idle HOLD_S] [--sid SID --reset] [--label TEXT] "
        "[--quiet]\n"
        "                  [--ca FILE | --insecure] [--pool FILE]\n"
        "                  [--sessions K [--spread S]] [--by-code]\n"
        "  --by-code: students join with the session's 6-digit join code (as the student\n"
        "  page does), not its sid.\n"
        "  --sessions K: a district: K sessions of N/K students each, every one driven by\n"
        "  its own instructor socket; first questions open over S seconds (default 60),\n"
        "  every question closes by its timer (--time-limit); not with --mode, --sid,\n"
        "  --pool or --idle.\n"
        "  --pool FILE uploads that pool (SPEC 2) and plays all its questions; every\n"
        "  revealed answer must be the file's.\n"
        "  URLs are http:// or https:// (TLS: the certificate must verify for the host, against\n"
        "  the system's CAs or --ca FILE; --insecure skips the check).\n"
        "  burst: each student submits at a random moment within 1 s of its question_open;\n"
        "  flood: at once (saturates the submit path: acks/s is the capacity, not the offer).\n"
        "  admin credentials come from QW_ADMIN_USER (default admin) and QW_ADMIN_PASSWORD.\n"
        "  Prints one JSON line on stdout and a table on stderr; exits 1 on a stall or "
        "mismatch.\n");
}

static int run(void) {
    if (setup_session() != 0) return -1;
    if (L.by_code && strlen(L.join_code) != 6) {
        lg_fail("session %s has no join code to join by", L.sid);
        return -1;
    }
    L.cells = calloc((size_t)L.n * (size_t)L.q, sizeof(struct cell));
    L.answer = calloc((size_t)L.q + 1, 1);
    L.t_next = calloc((size_t)L.q, sizeof(double));
    L.t_close_sent = calloc((size_t)L.q, sizeof(double));
    L.q_first_send = calloc((size_t)L.q, sizeof(double));
    L.q_last_ack = calloc((size_t)L.q, sizeof(double));
    L.opens = calloc((size_t)L.q, sizeof(int));
    L.acks = calloc((size_t)L.q, sizeof(int));
    L.closed = calloc((size_t)L.q, sizeof(int));
    if (!L.cells || !L.answer || !L.t_next || !L.t_close_sent || !L.q_first_send || !L.q_last_ack ||
        !L.opens || !L.acks || !L.closed) {
        lg_fail("out of memory");
        return -1;
    }
    for (size_t k = 0; k < (size_t)L.n * (size_t)L.q; k++)
        L.cells[k].closed_points = -1;

    L.phase = PH_JOIN;
    procs_sample(&L.p_join0, L.pids_dir);
    L.t_join0 = net_now_ms();
    for (int k = 0; k < L.concurrency && k < L.n; k++)
        join_next(&L.pool[k]);
    if (run_until(pred_joined, "joining students") != 0) return -1;
    L.t_join1 = net_now_ms();
    procs_sample(&L.p_join1, L.pids_dir);
    for (int k = 0; k < L.concurrency; k++)
        hc_free(&L.pool[k]);

    L.phase = PH_CONNECT; /* the instructor's socket before the students' */
    char path[256];
    snprintf(path, sizeof(path), "/admin/ws?sid=%s", L.sid);
    wsc_init(&L.instr, &L.gw[0], instr_text, instr_fail, NULL);
    L.instr_open_at = net_now_ms();
    if (wsc_open(&L.instr, path, L.admin_cookie) != 0) {
        lg_fail("instructor socket: cannot connect to %s: %s", L.gw[0].base, strerror(errno));
        return -1;
    }
    if (run_until(pred_instr, "opening the instructor socket") != 0) return -1;

    L.have_procs = procs_sample(&L.p0, L.pids_dir) > 0;
    L.phase = PH_CONNECT;
    L.t_conn0 = net_now_ms();
    pump_opens();
    if (run_until(pred_connected, "opening student sockets") != 0) return -1;
    L.t_conn1 = net_now_ms();
    if (L.idle) {
        g_hold_until = net_now_ms() + L.idle * 1000.0;
        if (run_until(pred_hold, "holding idle sockets") != 0) return -1;
    }
    if (L.have_procs) procs_sample(&L.p_conn, L.pids_dir);
    if (L.idle) {
        L.p_end = L.p_conn;
        return 0;
    }

    for (int q = 0; q < L.q; q++) {
        L.cur_q = q;
        L.phase = PH_QUESTION;
        L.t_next[q] = net_now_ms();
        instr_send("next");
        char what[96];
        snprintf(what, sizeof(what), "waiting for every submit_ack of question %d", q);
        if (run_until(pred_acked, what) != 0) return -1;
        L.phase = PH_CLOSING;
        if (L.burst) {
            if (L.instr_closed_q < q) instr_send("close");
            L.t_close_sent[q] = net_now_ms();
        } else {
            L.t_close_sent[q] =
                L.t_next[q] + (L.pool_limit_s ? L.pool_limit_s[q] : L.time_limit_s) * 1000.0;
            /* the timer of an existing session's question may be longer */
            if (L.use_sid) L.t_close_sent[q] += 600000.0;
        }
        snprintf(what, sizeof(what), "waiting for question_closed of question %d", q);
        if (run_until(pred_closed, what) != 0) return -1;
    }
    L.phase = PH_ENDING;
    L.t_end_sent = net_now_ms();
    instr_send("next");
    if (run_until(pred_ended, "waiting for session_ended") != 0) return -1;
    if (L.have_procs) procs_sample(&L.p_end, L.pids_dir);
    L.phase = PH_RESULTS;
    return check_results();
}

/* A whole decimal number of at most 7 digits, or -1 ("0x", "", "-3"). */
static int whole_number(const char *s) {
    size_t n = strspn(s, "0123456789");
    return n > 0 && n <= 7 && s[n] == '\0' ? atoi(s) : -1;
}

int main(int argc, char **argv) {
    static const struct option opts[] = {{"gateways", required_argument, 0, 'g'},
                                         {"students", required_argument, 0, 'n'},
                                         {"questions", required_argument, 0, 'q'},
                                         {"mode", required_argument, 0, 'm'},
                                         {"time-limit", required_argument, 0, 't'},
                                         {"concurrency", required_argument, 0, 'c'},
                                         {"pids", required_argument, 0, 'p'},
                                         {"idle", required_argument, 0, 'i'},
                                         {"sid", required_argument, 0, 's'},
                                         {"reset", no_argument, 0, 'r'},
                                         {"by-code", no_argument, 0, 'J'},
                                         {"label", required_argument, 0, 'l'},
                                         {"quiet", no_argument, 0, 'Q'},
                                         {"seed", required_argument, 0, 'S'},
                                         {"insecure", no_argument, 0, 'k'},
                                         {"pool", required_argument, 0, 'P'},
                                         {"ca", required_argument, 0, 'C'},
                                         {"sessions", required_argument, 0, 'K'},
                                         {"spread", required_argument, 0, 'D'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *gateways = NULL, *ca_file = NULL;
    int insecure = 0, sessions = 0, sessions_given = 0, spread_s = 60, mode_given = 0;
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    L.n = 50;
    L.q = 3;
    L.burst = 1;
    L.time_limit_s = 10;
    L.concurrency = 64;
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'g':
            gateways = optarg;
            break;
        case 'n':
            L.n = atoi(optarg);
            break;
        case 'q':
            L.q = atoi(optarg);
            break;
        case 'm':
            if (strcmp(optarg, "burst") != 0 && strcmp(optarg, "spread") != 0 &&
                strcmp(optarg, "flood") != 0) {
                usage();
                return 2;
            }
            mode_given = 1;
            L.flood = strcmp(optarg, "flood") == 0;
            L.burst = L.flood || strcmp(optarg, "burst") == 0; /* flood closes like burst */
            break;
        case 't':
            L.time_limit_s = atoi(optarg);
            break;
        case 'c':
            L.concurrency = atoi(optarg);
            break;
        case 'p':
            L.pids_dir = optarg;
            break;
        case 'i':
            L.idle = atoi(optarg) > 0 ? atoi(optarg) : 1;
            break;
        case 's':
            L.use_sid = optarg;
            break;
        case 'J':
            L.by_code = 1;
            break;
        case 'r':
            L.reset = 1;
            break;
        case 'l':
            snprintf(L.label, sizeof(L.label), "%s", optarg);
            break;
        case 'Q':
            L.quiet = 1;
            break;
        case 'S':
            seed = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'k':
            insecure = 1;
            break;
        case 'P':
            L.pool_file = optarg;
            break;
        case 'C':
            ca_file = optarg;
            break;
        case 'K':
            sessions = whole_number(optarg);
            sessions_given = 1;
            break;
        case 'D':
            spread_s = whole_number(optarg);
            break;
        default:
            usage();
            return 2;
        }
    }
    if (!gateways || L.n < 1 || L.q < 1 || L.concurrency < 1 || L.time_limit_s < 5 ||
        L.time_limit_s > 600 || (L.reset && !L.use_sid) || (L.pool_file && L.use_sid) ||
        sessions < 0 || (sessions_given && sessions < 1) || spread_s < 0 || spread_s > 3600 ||
        sessions > L.n ||
        (sessions && (L.by_code || L.use_sid || L.pool_file || L.idle || mode_given))) {
        usage();
        return 2;
    }
    srandom(seed);
    signal(SIGPIPE, SIG_IGN);
    char err[256];
    if (net_tls_setup(insecure, ca_file, err, sizeof(err)) != 0) {
        fprintf(stderr, "qw-loadgen: %s\n", err);
        return 2;
    }
    char *list = strdup(gateways), *save = NULL;
    for (char *u = strtok_r(list, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
        if (L.ngw >= LG_MAX_GATEWAYS || net_target_parse(&L.gw[L.ngw], u, err, sizeof(err)) != 0) {
            fprintf(stderr, "qw-loadgen: %s\n",
                    L.ngw >= LG_MAX_GATEWAYS ? "too many gateways" : err);
            free(list);
            return 2;
        }
        L.ngw++;
    }
    free(list);
    long need = (long)L.n + sessions + L.concurrency + 64;
    long have = net_raise_nofile(need);
    if (have < need) {
        fprintf(
            stderr,
            "qw-loadgen: %d students need %ld open files, the limit is %ld (raise ulimit -Hn)\n",
            L.n, need, have);
        return 2;
    }
    if (net_loop_init() != 0) {
        fprintf(stderr, "qw-loadgen: epoll_create1: %s\n", strerror(errno));
        return 2;
    }
    if (sessions) {
        struct district_opts d = {L.gw,    L.ngw,          sessions,   L.n,
                                  L.q,     L.time_limit_s, spread_s,   L.concurrency,
                                  L.quiet, seed,           L.pids_dir, L.label};
        int drc = district_run(&d);
        net_loop_close();
        return drc;
    }
    snprintf(L.prefix, sizeof(L.prefix), "lg%05x", (unsigned)random() & 0xfffff);
    L.st = calloc((size_t)L.n, sizeof(struct student));
    L.pool = calloc((size_t)L.concurrency, sizeof(struct hc));
    L.heap = calloc((size_t)L.n + 1, sizeof(struct heap_item));
    if (!L.st || !L.pool || !L.heap) {
        fprintf(stderr, "qw-loadgen: out of memory\n");
        return 2;
    }
    for (int i = 0; i < L.n; i++) {
        struct student *s = &L.st[i];
        s->idx = i;
        s->gw = i % L.ngw;
        s->open_q = -1;
        s->closed_q = -1;
        s->ws.conn.fd = -1;
        snprintf(s->id, sizeof(s->id), "%s-%d", L.prefix, i);
    }
    for (int k = 0; k < L.concurrency; k++)
        hc_init(&L.pool[k], &L.gw[k % L.ngw]);
    L.instr_closed_q = -1;
    L.instr.conn.fd = -1;

    int rc = run();
    int ok = rc == 0 && !L.error[0] && L.mismatches == 0;
    L.phase = PH_DONE;
    report(ok);

    for (int i = 0; i < L.n; i++) {
        wsc_free(&L.st[i].ws);
        free(L.st[i].cookie);
    }
    wsc_free(&L.instr);
    for (int k = 0; k < L.concurrency; k++)
        hc_free(&L.pool[k]);
    free(L.st);
    free(L.pool);
    free(L.heap);
    free(L.cells);
    free(L.answer);
    free(L.pool_answer);
    free(L.pool_limit_s);
    free(L.t_next);
    free(L.t_close_sent);
    free(L.q_first_send);
    free(L.q_last_ack);
    free(L.opens);
    free(L.acks);
    free(L.closed);
    net_loop_close();
    return ok ? 0 : 1;
}
