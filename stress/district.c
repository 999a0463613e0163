/*
 * district: qw-loadgen --sessions K (see district.h). Every session has a
 * schedule: its question q is opened by its instructor's `next` at
 * t0 + offset + q * (limit + DIST_GAP_MS), offsets spread evenly over
 * --spread seconds, and each question is closed by the server's timer,
 * never by the instructor (a `next` waits for the previous question_closed,
 * so a late timer is measured, not hidden). Students answer at a random
 * moment within 80 % of the time their question_open says is left.
 * Close lateness is the wall-clock time the instructor socket read
 * question_closed less the `deadline_ms` its question_open carried: the
 * load generator and the stack must share a clock (same host, or NTP).
 * Owns all its state in one struct district; callbacks get their student
 * or session through the socket's closure pointer.
 */
#include "district.h"

#include "figures.h"
#include "http_client.h"
#include "jscan.h"
#include "procs.h"
#include "ws_client.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define DIST_HTTP_TIMEOUT_MS 10000.0
#define DIST_SNAPSHOT_MS 15000.0 /* a socket's snapshot after connecting */
#define DIST_OPEN_MS 10000.0     /* a student's question_open after the `next` */
#define DIST_ACK_MS 10000.0      /* a submit_ack after the submit */
#define DIST_CLOSE_MS 10000.0    /* question_closed after the deadline */
#define DIST_END_MS 10000.0      /* session_ended after the last `next` */
#define DIST_GAP_MS 2000.0       /* from a question's deadline to the next `next` */
#define DIST_START_MS 500.0      /* from every socket ready to the first `next` */
#define DIST_OPEN_INFLIGHT 256   /* socket upgrades in flight */
#define DIST_MAX_NOTES 10

enum dack { DA_NONE, DA_ACCEPTED, DA_DUPLICATE, DA_CLOSED, DA_OTHER, DA__COUNT };
static const char *dack_names[DA__COUNT] = {"none", "accepted", "duplicate", "closed", "other"};

/* A session's place in its schedule. */
enum dstate {
    DS_WAIT,   /* its next `next` is due at next_due */
    DS_OPEN,   /* `next` written for question cur; waiting for question_closed */
    DS_ENDING, /* the last `next` written; waiting for session_ended */
    DS_ENDED
};

struct dq {              /* one session's question */
    double t_next;       /* mono ms the `next` that opens it was written */
    double instr_open;   /* mono ms the instructor read its question_open */
    double instr_closed; /* mono ms the instructor read its question_closed */
    long long deadline;  /* wall ms, from the question_open; 0 = not seen */
    double closed_wall;  /* wall ms the instructor read question_closed */
    char answer;         /* revealed by question_closed */
};

struct dsess {
    struct district *d; /* borrowed: the run */
    int idx;
    char sid[128];
    struct wsc instr;
    int instr_snapshot, instr_ended;
    int first, n; /* its students: d->st[first .. first + n) */
    enum dstate state;
    int cur;         /* the question the last `next` opened (Q: the end) */
    double start;    /* mono ms its first `next` is due: its offset */
    double next_due; /* mono ms its next `next` is due */
    double t_end;    /* mono ms the ending `next` was written */
    struct dq *q;    /* owned, Q entries */
};

struct dstudent {
    struct wsc ws;
    struct dsess *s; /* borrowed */
    int idx, gw;
    char id[48];
    char *cookie; /* "qw_student=<token>", owned */
    double connect_at;
    int got_snapshot, open_q, closed_q, ended;
};

struct dcell { /* student x question, index i * Q + q */
    char pick;
    unsigned char ack; /* enum dack */
    double open_at, sent_at, ack_at, closed_wall;
    int closed_points; /* -1 none */
};

struct dsubmit {
    double due;
    int student, q;
};

struct district {
    const struct district_opts *o;
    char admin_cookie[1024];
    char prefix[32];
    char error[1024];
    struct dsess *s;
    struct dstudent *st;
    struct dcell *cells;
    struct dsubmit *heap;
    int heap_n;
    struct hc *pool;
    int next_join, joins_done;
    int next_open, opening, snapshots, instr_snapshots;
    int sessions_ended, students_ended;
    int running; /* the schedule runs: the stall checks of questions apply */
    double t_join0, t_join1, t_conn0, t_conn1, t_run0, t_run1;
    double first_send, last_ack;
    int recorded, mismatches, checked, foreign;
    char notes[DIST_MAX_NOTES][256];
    int nnotes;
    struct procs p0, p_made, p_conn, p_end;
    int have_procs;
};

static void dist_fail(struct district *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void dist_fail(struct district *d, const char *fmt, ...) {
    if (d->error[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->error, sizeof(d->error), fmt, ap);
    va_end(ap);
}

static void dist_note(struct district *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void dist_note(struct district *d, const char *fmt, ...) {
    d->mismatches++;
    if (d->nnotes >= DIST_MAX_NOTES) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->notes[d->nnotes++], sizeof(d->notes[0]), fmt, ap);
    va_end(ap);
}

static double wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static double rnd01(void) {
    return (double)random() / ((double)RAND_MAX + 1.0);
}

static struct dcell *cell_at(struct district *d, int i, int q) {
    return &d->cells[(size_t)i * (size_t)d->o->questions + (size_t)q];
}

/* ---- the submit schedule: a binary min-heap on due time ---------------- */

static void heap_push(struct district *d, struct dsubmit it) {
    int i = d->heap_n++;
    d->heap[i] = it;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (d->heap[p].due <= d->heap[i].due) break;
        struct dsubmit t = d->heap[p];
        d->heap[p] = d->heap[i];
        d->heap[i] = t;
        i = p;
    }
}

static struct dsubmit heap_pop(struct district *d) {
    struct dsubmit top = d->heap[0];
    d->heap[0] = d->heap[--d->heap_n];
    int i = 0;
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < d->heap_n && d->heap[l].due < d->heap[m].due) m = l;
        if (r < d->heap_n && d->heap[r].due < d->heap[m].due) m = r;
        if (m == i) break;
        struct dsubmit t = d->heap[m];
        d->heap[m] = d->heap[i];
        d->heap[i] = t;
        i = m;
    }
    return top;
}

/* ---- the instructor sockets ---------------------------------------------- */

static void instr_send(struct dsess *s, const char *type) {
    char msg[64];
    snprintf(msg, sizeof(msg), "{\"type\":\"%s\"}", type);
    if (wsc_send_text(&s->instr, msg) != 0)
        dist_fail(s->d, "instructor of session %s: could not write `%s`", s->sid, type);
}

static void instr_text(struct wsc *w, const char *msg, size_t len, void *arg) {
    struct dsess *s = arg;
    struct district *d = s->d;
    int nq = d->o->questions;
    json_error_t jerr;
    json_t *m = json_loadb(msg, len, 0, &jerr);
    const char *type = m ? json_string_value(json_object_get(m, "type")) : NULL;
    int q = (int)json_integer_value(json_object_get(m, "question_idx"));
    if (!type) {
        dist_fail(d, "instructor of session %s: a message that is not JSON with a type: %.80s",
                  s->sid, msg);
    } else if (strcmp(type, "snapshot") == 0) {
        if (!s->instr_snapshot) d->instr_snapshots++;
        s->instr_snapshot = 1;
    } else if (strcmp(type, "question_open") == 0 && q >= 0 && q < nq) {
        s->q[q].instr_open = net_now_ms();
        s->q[q].deadline = (long long)json_integer_value(json_object_get(m, "deadline_ms"));
    } else if (strcmp(type, "question_closed") == 0 && q >= 0 && q < nq) {
        const char *a = json_string_value(json_object_get(m, "answer"));
        s->q[q].closed_wall = wall_ms();
        s->q[q].instr_closed = net_now_ms();
        s->q[q].answer = a ? a[0] : '?';
        if (s->state == DS_OPEN && q == s->cur) { /* the next `next` on the schedule */
            s->state = DS_WAIT;
            s->next_due = s->start + (q + 1) * (d->o->time_limit_s * 1000.0 + DIST_GAP_MS);
        }
    } else if (strcmp(type, "session_ended") == 0) {
        if (s->state != DS_ENDED) d->sessions_ended++;
        s->state = DS_ENDED;
        s->instr_ended = 1;
    } else if (strcmp(type, "error") == 0) {
        const char *code = json_string_value(json_object_get(m, "code"));
        const char *text = json_string_value(json_object_get(m, "message"));
        dist_fail(d, "instructor of session %s: error %s at question %d (%s)", s->sid,
                  code ? code : "?", s->cur, text ? text : "");
    }
    json_decref(m);
}

static void instr_fail(struct wsc *w, const char *why, int status, int code, void *arg) {
    struct dsess *s = arg;
    if (s->state == DS_ENDED) return;
    dist_fail(s->d, "instructor socket of session %s on %s: %s (question %d)", s->sid,
              w->target->base, why, s->cur);
}

/* Writes every `next` that is due: the schedule's moment has come and the
 * previous question has closed (by its timer). */
static void fire_nexts(struct district *d, double now) {
    for (int k = 0; k < d->o->sessions && !d->error[0]; k++) {
        struct dsess *s = &d->s[k];
        if (s->state != DS_WAIT || now < s->next_due) continue;
        int q = s->cur + 1;
        if (q < d->o->questions) {
            s->q[q].t_next = net_now_ms();
            s->state = DS_OPEN;
        } else {
            s->t_end = net_now_ms();
            s->state = DS_ENDING;
        }
        s->cur = q;
        s->next_due = 0;
        instr_send(s, "next");
    }
}

/* ---- the student sockets ---------------------------------------------------- */

static enum dack dack_parse(const struct jscan_field *f) {
    for (int i = 1; i < DA_OTHER; i++)
        if (jscan_is(f, dack_names[i])) return (enum dack)i;
    return DA_OTHER;
}

static void pump_opens(struct district *d);

/* The fields a student reads, found by jscan without a tree. */
enum dsf {
    DF_TYPE,
    DF_Q,
    DF_CHOICES,
    DF_REMAINING,
    DF_STATUS,
    DF_CHOICE,
    DF_POINTS,
    DF_CODE,
    DF_MESSAGE,
    DF__COUNT
};
static const char *const dsf_keys[DF__COUNT] = {"type",         "question_idx", "choices",
                                                "remaining_ms", "status",       "choice",
                                                "points",       "code",         "message"};

static void student_text(struct wsc *w, const char *msg, size_t len, void *arg) {
    struct dstudent *st = arg;
    struct dsess *s = st->s;
    struct district *d = s->d;
    double now = net_now_ms();
    struct jscan_field f[DF__COUNT];
    json_t *tree;
    for (int i = 0; i < DF__COUNT; i++)
        f[i].key = dsf_keys[i];
    jscan_read(msg, len, f, DF__COUNT, &tree);
    const struct jscan_field *type = &f[DF_TYPE];
    int q = jscan_int(&f[DF_Q]);
    int in_range = q >= 0 && q < d->o->questions;
    if (type->kind != JS_STRING) {
        dist_fail(d, "student %s on %s: a message that is not JSON with a type: %.80s", st->id,
                  w->target->base, msg);
    } else if (jscan_is(type, "snapshot")) {
        if (!st->got_snapshot) {
            st->got_snapshot = 1;
            d->snapshots++;
            d->opening--;
            pump_opens(d);
        }
    } else if (jscan_is(type, "question_open") && in_range && q > st->open_q) {
        st->open_q = q;
        struct dcell *c = cell_at(d, st->idx, q);
        c->open_at = now;
        size_t nch = f[DF_CHOICES].kind == JS_ARRAY ? f[DF_CHOICES].len : 0;
        if (nch < 2 || nch > 4) nch = 4;
        c->pick = (char)('A' + (int)(rnd01() * (double)nch));
        double left = (double)jscan_int(&f[DF_REMAINING]);
        heap_push(d, (struct dsubmit){now + rnd01() * 0.8 * left, st->idx, q});
    } else if (jscan_is(type, "submit_ack") && in_range) {
        struct dcell *c = cell_at(d, st->idx, q);
        if (c->ack != DA_NONE || c->sent_at == 0) {
            dist_fail(d, "student %s: a submit_ack for question %d it did not expect", st->id, q);
        } else {
            c->ack = (unsigned char)dack_parse(&f[DF_STATUS]);
            c->ack_at = now;
            if (now > d->last_ack) d->last_ack = now;
            const struct jscan_field *ch = &f[DF_CHOICE];
            int named = ch->kind == JS_STRING;
            if (c->ack == DA_ACCEPTED && (!named || ch->len == 0 || ch->str[0] != c->pick))
                dist_note(d, "student %s question %d: accepted ack names choice %.*s, it sent %c",
                          st->id, q, named ? (int)ch->len : 4, named ? ch->str : "null", c->pick);
        }
    } else if (jscan_is(type, "question_closed") && in_range && q > st->closed_q) {
        st->closed_q = q;
        struct dcell *c = cell_at(d, st->idx, q);
        c->closed_wall = wall_ms();
        c->closed_points = f[DF_POINTS].kind == JS_INT ? (int)f[DF_POINTS].num : -1;
    } else if (jscan_is(type, "session_ended")) {
        if (!st->ended) d->students_ended++;
        st->ended = 1;
    } else if (jscan_is(type, "error")) {
        const struct jscan_field *code = &f[DF_CODE], *text = &f[DF_MESSAGE];
        int hc = code->kind == JS_STRING, ht = text->kind == JS_STRING;
        dist_fail(d, "student %s of session %s: error %.*s (%.*s)", st->id, s->sid,
                  hc ? (int)code->len : 1, hc ? code->str : "?", ht ? (int)text->len : 0,
                  ht ? text->str : "");
    }
    json_decref(tree);
}

static void student_fail(struct wsc *w, const char *why, int status, int code, void *arg) {
    struct dstudent *st = arg;
    if (st->ended) return;
    dist_fail(st->s->d, "student %s socket of session %s on %s: %s", st->id, st->s->sid,
              w->target->base, why);
}

/* Opens the instructor sockets first, then the students', at most
 * DIST_OPEN_INFLIGHT upgrades waiting for their snapshot at once. */
static void pump_opens(struct district *d) {
    int k = d->o->sessions, n = d->o->students;
    while (d->opening < DIST_OPEN_INFLIGHT && d->next_open < k + n && !d->error[0]) {
        int i = d->next_open++;
        char path[192];
        struct wsc *w;
        const char *cookie;
        if (i < k) {
            struct dsess *s = &d->s[i];
            snprintf(path, sizeof(path), "/admin/ws?sid=%s", s->sid);
            wsc_init(&s->instr, &d->o->gw[i % d->o->ngw], instr_text, instr_fail, s);
            w = &s->instr;
            cookie = d->admin_cookie;
        } else {
            struct dstudent *st = &d->st[i - k];
            snprintf(path, sizeof(path), "/ws?sid=%s", st->s->sid);
            wsc_init(&st->ws, &d->o->gw[st->gw], student_text, student_fail, st);
            st->connect_at = net_now_ms();
            w = &st->ws;
            cookie = st->cookie;
        }
        if (wsc_open(w, path, cookie) != 0) {
            dist_fail(d, "cannot open a socket to %s: %s", w->target->base, strerror(errno));
            return;
        }
        if (i >= k) d->opening++;
    }
}

/* ---- the loop ------------------------------------------------------------------- */

/* The stall checks: every wait of the run is bounded, and a stall fails the
 * run naming who waited for what. */
static void sweep(struct district *d, double now) {
    int nq = d->o->questions;
    for (int k = 0; d->pool && k < d->o->concurrency; k++)
        hc_check_deadline(&d->pool[k], now);
    for (int i = 0; i < d->o->students && !d->error[0]; i++) {
        struct dstudent *st = &d->st[i];
        struct dsess *s = st->s;
        if (st->connect_at > 0 && !st->got_snapshot && now - st->connect_at > DIST_SNAPSHOT_MS)
            dist_fail(d, "student %s on %s: no snapshot within %.0f ms of connecting", st->id,
                      st->ws.target->base, DIST_SNAPSHOT_MS);
        if (!d->running) continue;
        int q = s->cur < nq ? s->cur : nq - 1;
        if (q < 0) continue;
        struct dcell *c = cell_at(d, i, q);
        if (s->state == DS_OPEN && st->open_q < q && now - s->q[q].t_next > DIST_OPEN_MS)
            dist_fail(d,
                      "student %s of session %s: no question_open for question %d within %.0f "
                      "ms of the instructor's `next`",
                      st->id, s->sid, q, DIST_OPEN_MS);
        else if (c->sent_at > 0 && c->ack == DA_NONE && now - c->sent_at > DIST_ACK_MS)
            dist_fail(d, "student %s of session %s: no submit_ack for question %d within %.0f ms",
                      st->id, s->sid, q, DIST_ACK_MS);
        else if (s->q[q].instr_closed > 0 && st->closed_q < q &&
                 now - s->q[q].instr_closed > DIST_CLOSE_MS)
            dist_fail(d,
                      "student %s of session %s: no question_closed for question %d within "
                      "%.0f ms of the instructor's",
                      st->id, s->sid, q, DIST_CLOSE_MS);
        else if (s->state == DS_ENDED && !st->ended && now - s->t_end > DIST_END_MS)
            dist_fail(d,
                      "student %s of session %s: no session_ended within %.0f ms of the last "
                      "`next`",
                      st->id, s->sid, DIST_END_MS);
    }
    for (int k = 0; d->running && k < d->o->sessions && !d->error[0]; k++) {
        struct dsess *s = &d->s[k];
        double wnow = wall_ms();
        if (s->state == DS_OPEN) {
            struct dq *dq = &s->q[s->cur];
            if (!dq->deadline && now - dq->t_next > DIST_OPEN_MS)
                dist_fail(d,
                          "instructor of session %s: no question_open for question %d within "
                          "%.0f ms of its `next` (is the session daemon running?)",
                          s->sid, s->cur, DIST_OPEN_MS);
            else if (dq->deadline && wnow - (double)dq->deadline > DIST_CLOSE_MS)
                dist_fail(d,
                          "instructor of session %s: no question_closed for question %d within "
                          "%.0f ms of its deadline (the session daemon's timer)",
                          s->sid, s->cur, DIST_CLOSE_MS);
        } else if (s->state == DS_ENDING && now - s->t_end > DIST_END_MS) {
            dist_fail(d,
                      "instructor of session %s: no session_ended within %.0f ms of the last "
                      "`next`",
                      s->sid, DIST_END_MS);
        }
    }
}

/* Runs the loop until pred(d) holds or the run failed: due submits and
 * `next`s are written, stalls are checked every 100 ms. 0, or -1. */
static int dist_until(struct district *d, int (*pred)(struct district *), const char *what) {
    double last_sweep = 0;
    while (!d->error[0] && !pred(d)) {
        double now = net_now_ms();
        while (d->heap_n > 0 && d->heap[0].due <= now) {
            struct dsubmit it = heap_pop(d);
            struct dstudent *st = &d->st[it.student];
            struct dcell *c = cell_at(d, it.student, it.q);
            char msg[96];
            snprintf(msg, sizeof(msg),
                     "{\"type\":\"submit\",\"question_idx\":%d,\"choice\":\"%c\"}", it.q, c->pick);
            c->sent_at = net_now_ms();
            if (d->first_send == 0) d->first_send = c->sent_at;
            if (wsc_send_text(&st->ws, msg) != 0)
                dist_fail(d, "student %s: could not write its submit for question %d", st->id,
                          it.q);
        }
        if (d->running) fire_nexts(d, now);
        double wait = 20;
        if (d->heap_n > 0 && d->heap[0].due - now < wait) wait = d->heap[0].due - now;
        for (int k = 0; d->running && k < d->o->sessions; k++)
            if (d->s[k].state == DS_WAIT && d->s[k].next_due - now < wait)
                wait = d->s[k].next_due - now;
        if (net_loop_once(wait < 0 ? 0 : (int)ceil(wait)) < 0) {
            dist_fail(d, "epoll_wait failed: %s", strerror(errno));
            break;
        }
        now = net_now_ms();
        if (now - last_sweep >= 100) {
            sweep(d, now);
            last_sweep = now;
        }
    }
    if (d->error[0]) {
        fprintf(stderr, "qw-loadgen: stalled while %s: %s\n", what, d->error);
        return -1;
    }
    return 0;
}

/* ---- HTTP for setup and results (one request at a time) ------------------------ */

/* One request to gateway 0 with the admin cookie. Returns the status (0 on
 * a transport error, with d->error set); *out_body (may be NULL) is owned
 * by the caller. A reply's qw_admin cookie replaces d->admin_cookie. */
static int dist_http(struct district *d, const char *method, const char *path, const char *body,
                     char **out_body, int *retry_after) {
    struct hc c;
    struct hc_sync y = {.want_cookie = "qw_admin"};
    int status = 0;
    hc_init(&c, &d->o->gw[0]);
    if (hc_request(&c, method, path, d->admin_cookie[0] ? d->admin_cookie : NULL, body,
                   DIST_HTTP_TIMEOUT_MS, hc_sync_done, &y) != 0) {
        dist_fail(d, "%s %s%s: connect failed: %s", method, d->o->gw[0].base, path,
                  strerror(errno));
        goto out;
    }
    while (!y.done && !d->error[0]) {
        if (net_loop_once(20) < 0) dist_fail(d, "epoll_wait failed: %s", strerror(errno));
        hc_check_deadline(&c, net_now_ms());
    }
    if (y.err[0]) dist_fail(d, "%s %s%s: %s", method, d->o->gw[0].base, path, y.err);
    if (y.done && !y.err[0]) status = y.status;
    if (y.cookie[0]) snprintf(d->admin_cookie, sizeof(d->admin_cookie), "%s", y.cookie);
    if (retry_after) *retry_after = y.retry_after;
out:
    hc_free(&c);
    if (out_body)
        *out_body = y.body;
    else
        free(y.body);
    return status;
}

/* Waits `ms` on the loop (nothing else runs then). */
static void dist_sleep(double ms) {
    double until = net_now_ms() + ms;
    while (net_now_ms() < until)
        net_loop_once(50);
}

/* ---- setup: the admin login, one pool, K sessions --------------------------------- */

static int dist_login(struct district *d) {
    const char *user = getenv("QW_ADMIN_USER"), *pass = getenv("QW_ADMIN_PASSWORD");
    char *body = NULL, *login = NULL;
    int rc = -1, retry = 0;
    if (!pass || !*pass) {
        dist_fail(d, "QW_ADMIN_PASSWORD is not set: the admin password comes from the "
                     "environment only");
        return -1;
    }
    json_t *j =
        json_pack("{s:s, s:s}", "username", user && *user ? user : "admin", "password", pass);
    login = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    int st = dist_http(d, "POST", "/admin/login", login, &body, &retry);
    double give_up = net_now_ms() + 65000.0;
    while (st == 429 && !d->error[0] && net_now_ms() < give_up) {
        /* the login limit counts every login from this address: wait what
         * the gateway asks and try again, for at most 65 s */
        int wait_s = retry < 1 ? 1 : retry > 65 ? 65 : retry;
        fprintf(stderr, "qw-loadgen: admin login rate limited, retrying in %d s\n", wait_s);
        dist_sleep(wait_s * 1000.0);
        free(body);
        body = NULL;
        st = dist_http(d, "POST", "/admin/login", login, &body, &retry);
    }
    if (st != 200 || !d->admin_cookie[0]) {
        dist_fail(d, "admin login at %s answered %d: %.200s", d->o->gw[0].base, st,
                  body ? body : "");
        goto out;
    }
    rc = 0;
out:
    free(login);
    free(body);
    return rc;
}

/* Uploads one generated pool of Q questions; its quiz id into qid. */
static int dist_pool(struct district *d, char *qid, size_t qid_len) {
    json_t *qs = json_array();
    char *pj = NULL, *body = NULL;
    int rc = -1;
    for (int q = 0; q < d->o->questions; q++) {
        char text[96], ans[2] = {(char)('A' + (int)(rnd01() * 4)), 0};
        snprintf(text, sizeof(text), "District question %d of run %s: pick one", q + 1, d->prefix);
        json_array_append_new(qs, json_pack("{s:s, s:[s,s,s,s], s:s, s:i}", "text", text, "choices",
                                            "first", "second", "third", "fourth", "answer", ans,
                                            "time_limit_s", d->o->time_limit_s));
    }
    char title[96];
    snprintf(title, sizeof(title), "qw-loadgen district %s", d->prefix);
    json_t *pool = json_pack("{s:s, s:o}", "title", title, "questions", qs);
    pj = json_dumps(pool, JSON_COMPACT);
    json_decref(pool);
    int st = dist_http(d, "POST", "/admin/api/quizzes", pj, &body, NULL);
    json_t *r = (st == 200 || st == 201) ? json_loads(body, 0, NULL) : NULL;
    json_t *id = json_object_get(r, "quiz_id");
    if (json_is_integer(id)) {
        snprintf(qid, qid_len, "%lld", (long long)json_integer_value(id));
        rc = 0;
    } else {
        dist_fail(d, "pool upload answered %d: %.200s", st, body ? body : "");
    }
    json_decref(r);
    free(pj);
    free(body);
    return rc;
}

static int dist_create_sessions(struct district *d, const char *qid) {
    char req[96];
    snprintf(req, sizeof(req), "{\"quiz_id\":%s}", qid);
    for (int k = 0; k < d->o->sessions && !d->error[0]; k++) {
        char *body = NULL;
        int st = dist_http(d, "POST", "/admin/api/sessions", req, &body, NULL);
        json_t *r = (st == 200 || st == 201) ? json_loads(body, 0, NULL) : NULL;
        const char *sid = json_string_value(json_object_get(r, "sid"));
        if (sid)
            snprintf(d->s[k].sid, sizeof(d->s[k].sid), "%s", sid);
        else
            dist_fail(d, "creating session %d of %d answered %d: %.200s", k + 1, d->o->sessions, st,
                      body ? body : "");
        json_decref(r);
        free(body);
    }
    return d->error[0] ? -1 : 0;
}

/* ---- joins: `concurrency` requests in flight, students in order ---------------------- */

static void join_next(struct district *d, struct hc *c);

static void join_done(struct hc *c, const struct hc_resp *r, const char *err, void *arg) {
    struct dstudent *st = arg;
    struct district *d = st->s->d;
    const char *tok = r && r->status == 200 ? hc_resp_cookie(r, "qw_student") : NULL;
    if (!tok) {
        dist_fail(d, "join of student %s to session %s via %s: %s %d %.200s", st->id, st->s->sid,
                  c->target->base, r ? "answered" : err, r ? r->status : 0,
                  r && r->body ? r->body : "");
        return;
    }
    size_t l = strlen(tok) + 16;
    st->cookie = malloc(l);
    if (!st->cookie) {
        dist_fail(d, "out of memory");
        return;
    }
    snprintf(st->cookie, l, "qw_student=%s", tok);
    d->joins_done++;
    join_next(d, c);
}

static void join_next(struct district *d, struct hc *c) {
    if (d->next_join >= d->o->students || d->error[0]) return;
    struct dstudent *st = &d->st[d->next_join++];
    json_t *b =
        json_pack("{s:s, s:s, s:s}", "student_id", st->id, "name", st->id, "sid", st->s->sid);
    char *body = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    if (hc_request(c, "POST", "/api/join", NULL, body, DIST_HTTP_TIMEOUT_MS, join_done, st) != 0)
        dist_fail(d, "join of student %s: cannot connect to %s: %s", st->id, c->target->base,
                  strerror(errno));
    free(body);
}

static int pred_joined(struct district *d) {
    return d->joins_done >= d->o->students;
}
static int pred_connected(struct district *d) {
    return d->snapshots >= d->o->students && d->instr_snapshots >= d->o->sessions;
}
static int pred_ended(struct district *d) {
    return d->sessions_ended >= d->o->sessions && d->students_ended >= d->o->students;
}

/* ---- the check against the record ---------------------------------------------- */

static void check_answer(struct district *d, struct dsess *s, const char *id, int i, json_t *ja,
                         unsigned char *seen, long *sum) {
    int nq = d->o->questions;
    int q = (int)json_integer_value(json_object_get(ja, "question_idx"));
    const char *ch = json_string_value(json_object_get(ja, "choice"));
    int pts = (int)json_integer_value(json_object_get(ja, "points"));
    if (q < 0 || q >= nq) {
        dist_note(d, "record: %s has an answer for question %d, which does not exist", id, q);
        return;
    }
    d->recorded++;
    *sum += pts;
    struct dcell *c = cell_at(d, i, q);
    if (seen[(size_t)i * nq + q]++)
        dist_note(d, "record: %s answers question %d more than once", id, q);
    if (c->ack != DA_ACCEPTED)
        dist_note(d, "record: %s has an answer to question %d that was acked %s", id, q,
                  dack_names[c->ack]);
    if (!ch || ch[0] != c->pick)
        dist_note(d, "record: %s question %d holds choice %s, the accepted submit was %c", id, q,
                  ch ? ch : "null", c->pick);
    int right = ch && ch[0] == s->q[q].answer;
    if (right && (pts < 500 || pts > 1000))
        dist_note(d, "record: %s question %d is right but scored %d (want 500..1000)", id, q, pts);
    if (!right && pts != 0)
        dist_note(d, "record: %s question %d is wrong but scored %d", id, q, pts);
    if (c->closed_points >= 0 && c->closed_points != pts)
        dist_note(d, "%s question %d: question_closed said %d points, the record %d", id, q,
                  c->closed_points, pts);
}

/* GET each session's results: every accepted ack in the record once, with
 * its choice, points by the rule and the points question_closed said. */
static int check_results(struct district *d) {
    int nq = d->o->questions;
    unsigned char *seen = calloc((size_t)d->o->students * (size_t)nq, 1);
    size_t plen = strlen(d->prefix);
    if (!seen) {
        dist_fail(d, "out of memory");
        return -1;
    }
    for (int k = 0; k < d->o->sessions && !d->error[0]; k++) {
        struct dsess *s = &d->s[k];
        char path[256], *body = NULL;
        snprintf(path, sizeof(path), "/admin/api/sessions/%s/results", s->sid);
        int st = dist_http(d, "GET", path, NULL, &body, NULL);
        json_t *r = st == 200 ? json_loads(body, 0, NULL) : NULL;
        json_t *students = json_object_get(r, "students"), *js;
        size_t j;
        if (!json_is_array(students))
            dist_fail(d, "results of session %s answered %d: %.200s", s->sid, st, body ? body : "");
        free(body);
        json_array_foreach(students, j, js) {
            const char *id = json_string_value(json_object_get(js, "student_id"));
            int i = id && strncmp(id, d->prefix, plen) == 0 && id[plen] == '-' ? atoi(id + plen + 1)
                                                                               : -1;
            if (i < s->first || i >= s->first + s->n) {
                d->foreign++;
                continue;
            }
            long sum = 0;
            size_t a;
            json_t *ja;
            json_array_foreach(json_object_get(js, "answers"), a, ja)
                check_answer(d, s, id, i, ja, seen, &sum);
            long score = (long)json_integer_value(json_object_get(js, "score"));
            if (score != sum)
                dist_note(d, "record: %s has score %ld but its answers sum to %ld", id, score, sum);
        }
        json_decref(r);
    }
    for (int i = 0; i < d->o->students; i++)
        for (int q = 0; q < nq; q++) {
            d->checked++;
            if (cell_at(d, i, q)->ack == DA_ACCEPTED && !seen[(size_t)i * nq + q])
                dist_note(d, "record: the accepted answer of %s to question %d is missing",
                          d->st[i].id, q);
        }
    if (d->foreign) dist_note(d, "record: %d students that this run never joined", d->foreign);
    free(seen);
    return d->error[0] ? -1 : 0;
}

/* ---- the run ------------------------------------------------------------------------- */

static int dist_steps(struct district *d) {
    const struct district_opts *o = d->o;
    char qid[32];
    if (dist_login(d) != 0 || dist_pool(d, qid, sizeof(qid)) != 0) return -1;
    d->have_procs = procs_sample(&d->p0, o->pids_dir) > 0;
    if (dist_create_sessions(d, qid) != 0) return -1;
    if (d->have_procs) procs_sample(&d->p_made, o->pids_dir);

    d->t_join0 = net_now_ms();
    for (int k = 0; k < o->concurrency && k < o->students; k++)
        join_next(d, &d->pool[k]);
    if (dist_until(d, pred_joined, "joining students") != 0) return -1;
    d->t_join1 = net_now_ms();
    for (int k = 0; k < o->concurrency; k++)
        hc_free(&d->pool[k]);

    d->t_conn0 = net_now_ms();
    pump_opens(d);
    if (dist_until(d, pred_connected, "opening the sockets") != 0) return -1;
    d->t_conn1 = net_now_ms();
    if (d->have_procs) procs_sample(&d->p_conn, o->pids_dir);

    /* session k's question q opens at t0 + k * spread / K + q * (limit + gap) */
    d->t_run0 = net_now_ms() + DIST_START_MS;
    for (int k = 0; k < o->sessions; k++)
        d->s[k].start = d->s[k].next_due =
            d->t_run0 + (double)k * o->spread_s * 1000.0 / o->sessions;
    d->running = 1;
    if (dist_until(d, pred_ended, "running the district") != 0) return -1;
    d->t_run1 = net_now_ms();
    d->running = 0;
    if (d->have_procs) procs_sample(&d->p_end, o->pids_dir);
    return check_results(d);
}

/* ---- figures ---------------------------------------------------------------------------- */

/* {"min","p50","p99","max","n"} of v[0..n) (sorted here). New reference. */
static json_t *dist_json(double *v, size_t n) {
    fig_sort(v, n);
    return json_pack("{s:f, s:f, s:f, s:f, s:I}", "min", fig_round2(n ? v[0] : 0), "p50",
                     fig_round2(fig_pct(v, n, 50)), "p99", fig_round2(fig_pct(v, n, 99)), "max",
                     fig_round2(fig_pct(v, n, 100)), "n", (json_int_t)n);
}

static double self_cpu_s(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* The session daemon's CPU and memory: CPU over the schedule alone and
 * over the whole run; RSS and PSS before the K sessions were created,
 * after, with every student in and connected, and at the end; bytes per
 * session from before to connected. New reference, or NULL without pids. */
static json_t *session_daemon_json(struct district *d) {
    const struct procs_entry *b = procs_find(&d->p0, "session"),
                             *m = procs_find(&d->p_made, "session"),
                             *c = procs_find(&d->p_conn, "session"),
                             *e = procs_find(&d->p_end, "session");
    if (!b || !m || !c || !e) return NULL;
    int k = d->o->sessions;
    return json_pack(
        "{s:f, s:f, s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I}, s:f, s:f}", "cpu_s_schedule",
        fig_round2(e->cpu_s - c->cpu_s), "cpu_s_run", fig_round2(e->cpu_s - b->cpu_s), "rss_kb",
        "before", (json_int_t)b->rss_kb, "created", (json_int_t)m->rss_kb, "connected",
        (json_int_t)c->rss_kb, "end", (json_int_t)e->rss_kb, "pss_kb", "before",
        (json_int_t)b->pss_kb, "created", (json_int_t)m->pss_kb, "connected", (json_int_t)c->pss_kb,
        "end", (json_int_t)e->pss_kb, "rss_bytes_per_session",
        fig_round2((double)(c->rss_kb - b->rss_kb) * 1024.0 / k), "pss_bytes_per_session",
        fig_round2((double)(c->pss_kb - b->pss_kb) * 1024.0 / k));
}

static json_t *procs_json(struct district *d, long *pss_total, long *pss_before) {
    json_t *o = json_object();
    *pss_total = *pss_before = 0;
    for (int i = 0; i < d->p_end.n; i++) {
        const struct procs_entry *e = &d->p_end.e[i], *b = procs_find(&d->p0, e->name);
        *pss_total += e->pss_kb;
        *pss_before += b ? b->pss_kb : 0;
        json_object_set_new(o, e->name,
                            json_pack("{s:I, s:I, s:f, s:i}", "rss_kb", (json_int_t)e->rss_kb,
                                      "pss_kb", (json_int_t)e->pss_kb, "cpu_s",
                                      fig_round2(e->cpu_s - (b ? b->cpu_s : 0)), "processes",
                                      e->nproc));
    }
    return o;
}

static void report(struct district *d, int ok) {
    const struct district_opts *o = d->o;
    int nq = o->questions, k = o->sessions;
    size_t nc = (size_t)o->students * (size_t)nq, nsq = (size_t)k * (size_t)nq;
    double *fan = calloc(nc + 1, sizeof(double)), *ack = calloc(nc + 1, sizeof(double)),
           *late_st = calloc(nc + 1, sizeof(double)), *late = calloc(nsq + 1, sizeof(double)),
           *next = calloc(nsq + 1, sizeof(double));
    size_t nf = 0, na = 0, nls = 0, nl = 0, nn = 0;
    long counts[DA__COUNT] = {0};
    json_t *out = NULL;
    if (!fan || !ack || !late_st || !late || !next) goto cleanup;
    for (int i = 0; d->cells && d->st && i < o->students; i++) {
        struct dsess *s = d->st[i].s;
        for (int q = 0; s && q < nq; q++) {
            struct dcell *c = cell_at(d, i, q);
            if (c->ack != DA_NONE) {
                counts[c->ack]++;
                ack[na++] = c->ack_at - c->sent_at;
            }
            if (c->open_at > 0 && s->q[q].t_next > 0) fan[nf++] = c->open_at - s->q[q].t_next;
            if (c->closed_wall > 0 && s->q[q].deadline > 0)
                late_st[nls++] = c->closed_wall - (double)s->q[q].deadline;
        }
    }
    for (int j = 0; d->s && j < k; j++)
        for (int q = 0; d->s[j].q && q < nq; q++) {
            struct dq *dq = &d->s[j].q[q];
            if (dq->closed_wall > 0 && dq->deadline > 0)
                late[nl++] = dq->closed_wall - (double)dq->deadline;
            if (dq->instr_open > 0) next[nn++] = dq->instr_open - dq->t_next;
        }
    double join_s = (d->t_join1 - d->t_join0) / 1000.0, conn_s = (d->t_conn1 - d->t_conn0) / 1000.0;
    double window = d->last_ack > d->first_send ? (d->last_ack - d->first_send) / 1000.0 : 0;
    char gws[4096] = "";
    for (int g = 0; g < o->ngw; g++)
        snprintf(gws + strlen(gws), sizeof(gws) - strlen(gws), "%s%s", g ? "," : "", o->gw[g].base);
    time_t now = time(NULL);
    char ts[32];
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    out = json_pack("{s:s, s:s, s:b, s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:f}", "time", ts,
                    "tool", "qw-loadgen", "ok", ok, "target", gws, "mode", "district", "sessions",
                    k, "students", o->students, "questions", nq, "time_limit_s", o->time_limit_s,
                    "spread_s", o->spread_s, "joins_per_s",
                    fig_round2(join_s > 0 ? d->joins_done / join_s : 0), "connect_s",
                    fig_round2(conn_s), "schedule_s",
                    fig_round2(d->t_run1 > d->t_run0 ? (d->t_run1 - d->t_run0) / 1000 : 0));
    if (!out) goto cleanup;
    if (o->label && *o->label) json_object_set_new(out, "label", json_string(o->label));
    double lg_cpu = self_cpu_s();
    json_object_set_new(out, "loadgen_cpu_s", json_real(fig_round2(lg_cpu)));
    json_object_set_new(out, "open_fanout_ms", dist_json(fan, nf));
    json_object_set_new(out, "ack_ms", dist_json(ack, na));
    json_object_set_new(out, "close_late_ms", dist_json(late, nl));
    json_object_set_new(out, "close_late_student_ms", dist_json(late_st, nls));
    json_object_set_new(out, "next_to_open_ms", dist_json(next, nn));
    json_object_set_new(json_object_get(out, "ack_ms"), "p95",
                        json_real(fig_round2(fig_pct(ack, na, 95))));
    json_t *ac = json_object();
    for (int a = 1; a < DA__COUNT; a++)
        if (counts[a]) json_object_set_new(ac, dack_names[a], json_integer(counts[a]));
    json_object_set_new(out, "acks", ac);
    json_object_set_new(out, "acks_per_s",
                        json_real(fig_round2(window > 0 ? counts[DA_ACCEPTED] / window : 0)));
    json_object_set_new(out, "recorded", json_integer(d->recorded));
    json_object_set_new(out, "mismatches", json_integer(d->mismatches));
    json_object_set_new(
        out, "accuracy",
        json_real(d->checked
                      ? round((double)(d->checked - d->mismatches) / d->checked * 10000.0) / 10000.0
                      : 0));
    /* a run that failed still tells what the session daemon used up to then */
    if (d->have_procs && !d->p_end.n) procs_sample(&d->p_end, o->pids_dir);
    json_t *sd = d->have_procs && d->p_end.n ? session_daemon_json(d) : NULL;
    long pss_total = 0, pss_before = 0;
    if (sd) {
        json_object_set_new(out, "session_daemon", sd);
        json_object_set_new(out, "procs", procs_json(d, &pss_total, &pss_before));
        json_object_set_new(out, "pss_total_kb", json_integer(pss_total));
    }
    if (d->error[0]) json_object_set_new(out, "error", json_string(d->error));
    if (d->nnotes) {
        json_t *notes = json_array();
        for (int i = 0; i < d->nnotes; i++)
            json_array_append_new(notes, json_string(d->notes[i]));
        json_object_set_new(out, "mismatch_notes", notes);
    }
    if (!o->quiet) {
        json_t *cl = json_object_get(out, "close_late_ms"),
               *f = json_object_get(out, "open_fanout_ms"), *a = json_object_get(out, "ack_ms"),
               *x = json_object_get(out, "next_to_open_ms");
#define P(j, n) json_real_value(json_object_get(j, n))
        fprintf(stderr, "\n  %-24s %s\n", "target", gws);
        fprintf(stderr,
                "  %-24s %d sessions x %d students x %d questions of %d s, first opens "
                "over %d s\n",
                "district", k, o->students / k, nq, o->time_limit_s, o->spread_s);
        fprintf(stderr, "  %-24s %.1f /s, all sockets %.2f s\n", "joins",
                join_s > 0 ? d->joins_done / join_s : 0, conn_s);
        fprintf(stderr, "  %-24s p50 %.1f  p99 %.1f  max %.1f ms (%zu questions)\n",
                "close - deadline", P(cl, "p50"), P(cl, "p99"), P(cl, "max"), nl);
        fprintf(stderr, "  %-24s p50 %.1f  p99 %.1f ms\n", "next -> instr open", P(x, "p50"),
                P(x, "p99"));
        fprintf(stderr, "  %-24s p50 %.1f  p99 %.1f ms\n", "question_open fan-out", P(f, "p50"),
                P(f, "p99"));
        fprintf(stderr, "  %-24s p50 %.1f  p95 %.1f  p99 %.1f  max %.1f ms\n", "submit -> ack",
                P(a, "p50"), P(a, "p95"), P(a, "p99"), P(a, "max"));
#undef P
        fprintf(stderr, "  %-24s", "acks");
        for (int i = 1; i < DA__COUNT; i++)
            if (counts[i]) fprintf(stderr, " %s=%ld", dack_names[i], counts[i]);
        fprintf(stderr, "\n  %-24s %d answers, %d mismatches\n", "record", d->recorded,
                d->mismatches);
        const struct procs_entry *b = procs_find(&d->p0, "session"),
                                 *c = procs_find(&d->p_conn, "session");
        if (sd && b && c)
            fprintf(stderr,
                    "  %-24s cpu %.2f s over the schedule (%.2f s the whole run); rss %ld -> %ld "
                    "kB, pss %ld -> %ld kB: %.0f B rss, %.0f B pss a session\n",
                    "session daemon", json_real_value(json_object_get(sd, "cpu_s_schedule")),
                    json_real_value(json_object_get(sd, "cpu_s_run")), b->rss_kb, c->rss_kb,
                    b->pss_kb, c->pss_kb,
                    json_real_value(json_object_get(sd, "rss_bytes_per_session")),
                    json_real_value(json_object_get(sd, "pss_bytes_per_session")));
        if (sd) fprintf(stderr, "  %-24s %ld -> %ld kB\n", "stack pss", pss_before, pss_total);
        fprintf(stderr, "  %-24s cpu %.2f s\n", "qw-loadgen (itself)", lg_cpu);
        for (int i = 0; i < d->nnotes; i++)
            fprintf(stderr, "  mismatch: %s\n", d->notes[i]);
        fprintf(stderr, "  %-24s %s\n\n", "result",
                ok            ? "PASS"
                : d->error[0] ? d->error
                              : "FAIL (mismatches)");
    }
    char *line = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    if (line) printf("%s\n", line);
    fflush(stdout);
    free(line);
cleanup:
    json_decref(out);
    free(fan);
    free(ack);
    free(late_st);
    free(late);
    free(next);
}

/* ---- entry ----------------------------------------------------------------------------- */

int district_run(const struct district_opts *o) {
    struct district *d = calloc(1, sizeof(*d));
    int k = o->sessions, n = o->students, nq = o->questions, ok = 0;
    if (!d) return 1;
    d->o = o;
    srandom(o->seed);
    snprintf(d->prefix, sizeof(d->prefix), "lg%05x", (unsigned)random() & 0xfffff);
    d->s = calloc((size_t)k, sizeof(*d->s));
    d->st = calloc((size_t)n, sizeof(*d->st));
    d->cells = calloc((size_t)n * (size_t)nq, sizeof(*d->cells));
    d->heap = calloc((size_t)n * (size_t)nq + 1, sizeof(*d->heap));
    d->pool = calloc((size_t)o->concurrency, sizeof(*d->pool));
    if (!d->s || !d->st || !d->cells || !d->heap || !d->pool) {
        dist_fail(d, "out of memory");
        goto out;
    }
    for (int j = 0, first = 0; j < k; j++) {
        struct dsess *s = &d->s[j];
        s->d = d;
        s->idx = j;
        s->first = first;
        s->n = n / k + (j < n % k);
        s->cur = -1;
        s->state = DS_WAIT;
        s->instr.conn.fd = -1;
        s->q = calloc((size_t)nq, sizeof(*s->q));
        if (!s->q) {
            dist_fail(d, "out of memory");
            goto out;
        }
        for (int i = first; i < first + s->n; i++) {
            struct dstudent *st = &d->st[i];
            st->s = s;
            st->idx = i;
            st->gw = i % o->ngw;
            st->open_q = st->closed_q = -1;
            st->ws.conn.fd = -1;
            snprintf(st->id, sizeof(st->id), "%s-%d", d->prefix, i);
        }
        first += s->n;
    }
    for (size_t c = 0; c < (size_t)n * (size_t)nq; c++)
        d->cells[c].closed_points = -1;
    for (int j = 0; j < o->concurrency; j++)
        hc_init(&d->pool[j], &o->gw[j % o->ngw]);
    ok = dist_steps(d) == 0 && !d->error[0] && d->mismatches == 0;
out:
    report(d, ok);
    for (int j = 0; d->s && j < k; j++) {
        wsc_free(&d->s[j].instr);
        free(d->s[j].q);
    }
    for (int i = 0; d->st && i < n; i++) {
        wsc_free(&d->st[i].ws);
        free(d->st[i].cookie);
    }
    for (int j = 0; d->pool && j < o->concurrency; j++)
        hc_free(&d->pool[j]);
    free(d->s);
    free(d->st);
    free(d->cells);
    free(d->heap);
    free(d->pool);
    free(d);
    return ok ? 0 : 1;
}
