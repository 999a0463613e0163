/*
 * handle_submit: group commit of `qw.scoring.submit` on one batcher thread
 * that owns its sync queue subscription and its Postgres connection.
 * A batch (at most QW_BATCH_MAX submits, or what arrived QW_BATCH_WAIT_MS
 * after the first) is judged and inserted in ONE transaction that holds each
 * session row FOR SHARE; replies go out only after COMMIT. When anything
 * fails the batch is rolled back and NOT answered: never an ack without a
 * commit. Also coalesces `answer_stats` events per session.
 */
#include "bus.h"
#include "clock.h"
#include "log.h"
#include "reply.h"
#include "scoring.h"
#include "subjects.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOOP_MAX_WAIT_MS 200

static struct metric m_accepted = {"qw_submits_accepted_total", "Submits acked accepted.", 0, 0};
static struct metric m_duplicate = {"qw_submits_duplicate_total", "Submits acked duplicate.", 0, 0};
static struct metric m_closed = {"qw_submits_closed_total", "Submits acked closed.", 0, 0};
static struct metric m_wrong = {"qw_submits_wrong_question_total", "Submits acked wrong_question.",
                                0, 0};
static struct metric m_not_open = {"qw_submits_not_open_total", "Submits acked not_open.", 0, 0};
static struct metric m_invalid = {"qw_submits_invalid_total", "Submits acked invalid.", 0, 0};
static struct metric m_refused = {
    "qw_submits_refused_total",
    "Submits answered with an error (bad_field, unauthorized, unknown_session).", 0, 0};
static struct metric m_failed = {
    "qw_submits_unanswered_total",
    "Submits of batches whose transaction failed (not answered, nothing recorded).", 0, 0};
static struct metric m_batches = {"qw_submit_batches_total", "Submit batches committed or tried.",
                                  0, 0};
static struct metric m_batch_items = {"qw_submit_batch_items_total",
                                      "Submits taken into batches (sum of batch sizes).", 0, 0};
static struct metric m_batch_largest = {"qw_submit_batch_largest", "Largest batch so far.", 1, 0};
static struct metric m_in_flight = {"qw_submits_in_flight", "Submits taken and not yet answered.",
                                    1, 0};
static struct metric m_stats = {"qw_answer_stats_published_total", "answer_stats events published.",
                                0, 0};

void submit_metrics_register(void) {
    struct metric *all[] = {&m_accepted,      &m_duplicate, &m_closed, &m_wrong,   &m_not_open,
                            &m_invalid,       &m_refused,   &m_failed, &m_batches, &m_batch_items,
                            &m_batch_largest, &m_in_flight, &m_stats};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        metrics_register(all[i]);
}

enum status {
    ST_PENDING,
    ST_ACCEPTED,
    ST_DUPLICATE,
    ST_CLOSED,
    ST_WRONG,
    ST_NOT_OPEN,
    ST_INVALID,
    ST_ERROR
};
static const char *const status_names[] = {"pending",        "accepted", "duplicate", "closed",
                                           "wrong_question", "not_open", "invalid",   "error"};

struct item {
    natsMsg *msg; /* owned */
    json_t *req;  /* owned; the strings below point into it */
    const char *sid, *student, *choice;
    int idx;
    long long epoch, received_ms, elapsed_ms;
    int has_elapsed;
    enum status st;
    json_t *err;    /* owned error reply when st == ST_ERROR */
    int dup_of;     /* earlier item of this batch for the same answer, or -1 */
    char stored[2]; /* the choice that stands (duplicate) */
    int correct, points;
    int judged_group; /* this item started the judging of its sid */
};

struct stat_entry {
    char *sid; /* owned */
    int idx;
    int dirty;
    int64_t last_ms; /* mono ms of the last publish */
};

struct batcher {
    struct scoring *sc; /* borrowed */
    pthread_t thread;
    int started;
    atomic_int stop;
    natsSubscription *sub;
    struct db *db;
    struct item *items; /* owned array of batch_max */
    struct stat_entry *stats;
    int nstats, capstats;
};

/* ---- Postgres array literals ------------------------------------------ */

struct arr {
    FILE *f;
    char *buf;
    size_t len;
    int n;
};

static int arr_open(struct arr *a) {
    memset(a, 0, sizeof(*a));
    a->f = open_memstream(&a->buf, &a->len);
    if (!a->f) return -1;
    fputc('{', a->f);
    return 0;
}

/* Every element is quoted; '"' and '\' are escaped, so any text is safe. */
static void arr_text(struct arr *a, const char *s) {
    if (a->n++) fputc(',', a->f);
    fputc('"', a->f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', a->f);
        fputc(*s, a->f);
    }
    fputc('"', a->f);
}

static void arr_num(struct arr *a, long long v) {
    if (a->n++) fputc(',', a->f);
    fprintf(a->f, "%lld", v);
}

/* Finishes the literal; a->buf (caller frees) holds it. */
static void arr_close(struct arr *a) {
    fputc('}', a->f);
    fclose(a->f);
    a->f = NULL;
}

static void arr_free(struct arr *a) {
    if (a->f) fclose(a->f);
    free(a->buf);
}

/* ---- judging ---------------------------------------------------------- */

static int get_int(json_t *o, const char *k, long long *out) {
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v)) return -1;
    *out = (long long)json_integer_value(v);
    return 0;
}

/* Parses one submit into `it`. Returns 0, or -1 with it->err set. */
static int item_parse(struct item *it) {
    long long idx = 0;
    it->dup_of = -1;
    it->st = ST_PENDING;
    it->req = bus_parse(it->msg);
    if (!it->req) goto bad;
    it->sid = json_string_value(json_object_get(it->req, "sid"));
    it->student = json_string_value(json_object_get(it->req, "student_id"));
    it->choice = json_string_value(json_object_get(it->req, "choice"));
    if (!it->sid || !*it->sid || !it->student || !*it->student || !it->choice) goto bad;
    if (get_int(it->req, "epoch", &it->epoch) != 0 || get_int(it->req, "question_idx", &idx) != 0)
        goto bad;
    if (idx < -1 || idx > 100000) goto bad;
    it->idx = (int)idx;
    if (get_int(it->req, "received_at_ms", &it->received_ms) != 0)
        it->received_ms = clock_wall_ms();
    it->has_elapsed = get_int(it->req, "elapsed_ms", &it->elapsed_ms) == 0;
    return 0;
bad:
    it->st = ST_ERROR;
    it->err = reply_error(
        400, "bad_field",
        "submit needs sid, student_id, choice (strings), epoch and question_idx (integers)");
    return -1;
}

static void item_refuse(struct item *it, json_t *err) {
    it->st = ST_ERROR;
    it->err = err;
}

/* Points of a right answer: round(1000 * (1 - elapsed/limit/2)), elapsed
 * clamped to [0, limit]; exact integer rounding (half up). */
static int points_for(long long elapsed_ms, long long limit_ms) {
    if (elapsed_ms < 0) elapsed_ms = 0;
    if (elapsed_ms > limit_ms) elapsed_ms = limit_ms;
    long long num = 1000 * limit_ms - 500 * elapsed_ms; /* points * limit */
    return (int)((2 * num + limit_ms) / (2 * limit_ms));
}

/* Marks that `sid` got accepted answers to `idx` (answer_stats coalescing). */
static void stats_touch(struct batcher *b, const char *sid, int idx) {
    for (int i = 0; i < b->nstats; i++) {
        if (strcmp(b->stats[i].sid, sid) != 0) continue;
        b->stats[i].idx = idx;
        b->stats[i].dirty = 1;
        return;
    }
    if (b->nstats == b->capstats) {
        int cap = b->capstats ? b->capstats * 2 : 16;
        struct stat_entry *s = realloc(b->stats, sizeof(*s) * (size_t)cap);
        if (!s) return;
        b->stats = s;
        b->capstats = cap;
    }
    char *copy = strdup(sid);
    if (!copy) return;
    b->stats[b->nstats++] = (struct stat_entry){copy, idx, 1, 0};
}

/* Judges and inserts every pending item of `sid` (items [from, n)).
 * Runs inside the batch transaction. Returns 0, or -1 on a db failure. */
static int judge_session(struct batcher *b, int from, int n, const char *sid) {
    struct db *db = b->db;
    struct item *items = b->items;
    PGresult *s = NULL, *st = NULL, *ins = NULL, *dup = NULL;
    struct arr ids, ch, ok, pts, lat, rcv, cand;
    int rc = -1;
    arr_open(&ids);
    arr_open(&ch);
    arr_open(&ok);
    arr_open(&pts);
    arr_open(&lat);
    arr_open(&rcv);
    arr_open(&cand);
    const char *p1[1] = {sid};
    s = db_exec(
        db,
        "SELECT s.state, s.question_idx, s.deadline_ms, s.opened_at_ms, s.epoch,"
        " jsonb_array_length(q.choices), q.answer, q.time_limit_s"
        " FROM sessions s LEFT JOIN questions q ON q.quiz_id = s.quiz_id AND q.idx = s.question_idx"
        " WHERE s.sid = $1 FOR SHARE OF s",
        1, p1);
    if (!s) goto cleanup;
    int found = PQntuples(s) == 1;
    for (int i = from; i < n; i++) {
        if (items[i].st != ST_PENDING || strcmp(items[i].sid, sid) != 0) continue;
        if (!found)
            item_refuse(&items[i], reply_error(404, "unknown_session", "no such session"));
        else
            arr_text(&ids, items[i].student);
    }
    if (!found) {
        rc = 0;
        goto cleanup;
    }
    arr_close(&ids);
    const char *state = db_val(s, 0, 0);
    int qidx = atoi(db_val(s, 0, 1));
    long long deadline = db_val(s, 0, 2) ? atoll(db_val(s, 0, 2)) : 0;
    long long opened = db_val(s, 0, 3) ? atoll(db_val(s, 0, 3)) : 0;
    long long epoch = atoll(db_val(s, 0, 4));
    int nchoices = db_val(s, 0, 5) ? atoi(db_val(s, 0, 5)) : 0;
    const char *answer = db_val(s, 0, 6) ? db_val(s, 0, 6) : "";
    long long limit_ms = db_val(s, 0, 7) ? atoll(db_val(s, 0, 7)) * 1000 : 1000;
    const char *p2[2] = {sid, ids.buf};
    st = db_exec(db,
                 "SELECT student_id FROM students WHERE sid = $1 AND student_id = ANY($2::text[])"
                 " AND epoch = (SELECT epoch FROM sessions WHERE sid = $1) AND removed_at IS NULL",
                 2, p2);
    if (!st) goto cleanup;
    (void)epoch;
    int open = strcmp(state, "question") == 0, closed = strcmp(state, "closed") == 0;
    for (int i = from; i < n; i++) {
        struct item *it = &items[i];
        if (it->st != ST_PENDING || strcmp(it->sid, sid) != 0) continue;
        int known = 0;
        for (int r = 0; r < PQntuples(st) && !known; r++)
            known = strcmp(PQgetvalue(st, r, 0), it->student) == 0;
        if (!known || it->epoch != epoch) {
            item_refuse(it, reply_error(401, "unauthorized", "not a student of this session"));
            continue;
        }
        if (closed && it->idx == qidx)
            it->st = ST_CLOSED;
        else if (!open)
            it->st = ST_NOT_OPEN;
        else if (it->idx != qidx)
            it->st = ST_WRONG;
        else if (it->received_ms >= deadline)
            it->st = ST_CLOSED;
        else if (strlen(it->choice) != 1 || it->choice[0] < 'A' || it->choice[0] >= 'A' + nchoices)
            it->st = ST_INVALID;
        if (it->st != ST_PENDING) continue;
        for (int j = from; j < i; j++) {
            if (items[j].st == ST_PENDING && items[j].dup_of < 0 &&
                strcmp(items[j].sid, sid) == 0 && strcmp(items[j].student, it->student) == 0) {
                it->dup_of = j;
                break;
            }
        }
        if (it->dup_of >= 0) continue;
        long long elapsed = it->has_elapsed ? it->elapsed_ms : it->received_ms - opened;
        it->correct = strcmp(it->choice, answer) == 0;
        it->points = it->correct ? points_for(elapsed, limit_ms) : 0;
        if (elapsed < 0) elapsed = 0;
        if (elapsed > 2000000000LL) elapsed = 2000000000LL;
        arr_text(&cand, it->student);
        arr_text(&ch, it->choice);
        arr_text(&ok, it->correct ? "t" : "f");
        arr_num(&pts, it->points);
        arr_num(&lat, elapsed);
        arr_num(&rcv, it->received_ms);
    }
    if (cand.n == 0) {
        rc = 0;
        goto cleanup;
    }
    arr_close(&cand);
    arr_close(&ch);
    arr_close(&ok);
    arr_close(&pts);
    arr_close(&lat);
    arr_close(&rcv);
    char sidx[16];
    snprintf(sidx, sizeof(sidx), "%d", qidx);
    const char *p8[8] = {sid, sidx, cand.buf, ch.buf, ok.buf, pts.buf, lat.buf, rcv.buf};
    ins = db_exec(
        db,
        "INSERT INTO answers (sid, student_id, question_idx, choice, correct, points,"
        " latency_ms, received_at_ms)"
        " SELECT $1, u.s, $2::int, u.c, u.ok, u.p, u.l, u.r FROM unnest($3::text[],"
        " $4::text[], $5::bool[], $6::int[], $7::int[], $8::bigint[]) AS u(s, c, ok, p, l, r)"
        " ON CONFLICT DO NOTHING RETURNING student_id",
        8, p8);
    if (!ins) goto cleanup;
    const char *p3[3] = {sid, sidx, cand.buf};
    dup = db_exec(db,
                  "SELECT student_id, choice FROM answers WHERE sid = $1 AND question_idx = $2::int"
                  " AND student_id = ANY($3::text[])",
                  3, p3);
    if (!dup) goto cleanup;
    int accepted = 0;
    for (int i = from; i < n; i++) {
        struct item *it = &items[i];
        if (it->st != ST_PENDING || it->dup_of >= 0 || strcmp(it->sid, sid) != 0) continue;
        int inserted = 0;
        for (int r = 0; r < PQntuples(ins) && !inserted; r++)
            inserted = strcmp(PQgetvalue(ins, r, 0), it->student) == 0;
        for (int r = 0; r < PQntuples(dup); r++)
            if (strcmp(PQgetvalue(dup, r, 0), it->student) == 0)
                snprintf(it->stored, sizeof(it->stored), "%s", PQgetvalue(dup, r, 1));
        it->st = inserted ? ST_ACCEPTED : ST_DUPLICATE;
        accepted += inserted;
    }
    for (int i = from; i < n; i++) {
        struct item *it = &items[i];
        if (it->st != ST_PENDING || it->dup_of < 0) continue;
        it->st = ST_DUPLICATE;
        memcpy(it->stored, items[it->dup_of].stored, sizeof(it->stored));
    }
    if (accepted) stats_touch(b, sid, qidx);
    rc = 0;
cleanup:
    arr_free(&ids);
    arr_free(&ch);
    arr_free(&ok);
    arr_free(&pts);
    arr_free(&lat);
    arr_free(&rcv);
    arr_free(&cand);
    PQclear(s);
    PQclear(st);
    PQclear(ins);
    PQclear(dup);
    return rc;
}

/* Runs one batch of n items: one transaction, then the replies. */
static void run_batch(struct batcher *b, int n) {
    struct item *items = b->items;
    struct db *db = b->db;
    int ok = 0;
    metric_add(&m_batches, 1);
    metric_add(&m_batch_items, n);
    if (n > atomic_load(&m_batch_largest.value)) metric_set(&m_batch_largest, n);
    int pending = 0;
    for (int i = 0; i < n; i++)
        pending += item_parse(&items[i]) == 0;
    if (pending == 0) {
        ok = 1;
        goto reply;
    }
    if (db_cmd(db, "BEGIN", 0, NULL) != 0) goto reply;
    for (int i = 0; i < n; i++) {
        if (items[i].st != ST_PENDING || items[i].dup_of >= 0) continue;
        /* the first pending item of a sid not judged yet starts its group */
        int seen = 0;
        for (int j = 0; j < i && !seen; j++)
            seen = items[j].judged_group && strcmp(items[j].sid, items[i].sid) == 0;
        if (seen) continue;
        items[i].judged_group = 1;
        if (judge_session(b, i, n, items[i].sid) != 0) {
            db_cmd(db, "ROLLBACK", 0, NULL);
            goto reply;
        }
    }
    if (db_cmd(db, "COMMIT", 0, NULL) != 0) {
        db_cmd(db, "ROLLBACK", 0, NULL);
        goto reply;
    }
    ok = 1;
reply:
    for (int i = 0; i < n; i++) {
        struct item *it = &items[i];
        if (it->st == ST_ERROR) {
            bus_respond(b->sc->d.nc, it->msg, it->err);
            metric_add(&m_refused, 1);
        } else if (!ok) {
            metric_add(&m_failed, 1); /* no commit: no answer (the gateway says unavailable) */
        } else {
            const char *choice = it->st == ST_DUPLICATE ? it->stored : it->choice;
            json_t *r = json_pack("{s:b,s:s,s:i,s:s}", "ok", 1, "status", status_names[it->st],
                                  "question_idx", it->idx, "choice", choice);
            if (r) bus_respond(b->sc->d.nc, it->msg, r);
            json_decref(r);
            struct metric *m[] = {NULL,     &m_accepted, &m_duplicate, &m_closed,
                                  &m_wrong, &m_not_open, &m_invalid,   NULL};
            if (m[it->st]) metric_add(m[it->st], 1);
        }
        if (!ok && it->st != ST_ERROR)
            LOG_DEBUG("submit_unanswered", "sid=%s student_id=%s", it->sid, it->student);
        json_decref(it->err);
        json_decref(it->req);
        natsMsg_Destroy(it->msg);
        memset(it, 0, sizeof(*it));
    }
    metric_add(&m_in_flight, -n);
    if (!ok) {
        LOG_WARN("batch_failed", "size=%d reason=\"transaction failed, nothing recorded\"", n);
        db_ensure(db);
    }
}

/* ---- answer_stats ----------------------------------------------------- */

static void stats_publish(struct batcher *b, struct stat_entry *e) {
    char sidx[16];
    snprintf(sidx, sizeof(sidx), "%d", e->idx);
    const char *p[2] = {e->sid, sidx};
    PGresult *s = db_exec(
        b->db,
        "SELECT s.seq, s.players,"
        " jsonb_array_length(q.choices)"
        " FROM sessions s JOIN questions q ON q.quiz_id = s.quiz_id AND q.idx = s.question_idx"
        " WHERE s.sid = $1 AND s.state = 'question' AND s.question_idx = $2::int",
        2, p);
    PGresult *c = s && PQntuples(s) == 1
                      ? db_exec(b->db,
                                "SELECT choice, count(*) FROM answers WHERE sid = $1"
                                " AND question_idx = $2::int GROUP BY choice",
                                2, p)
                      : NULL;
    if (c) {
        json_t *counts = json_object();
        long long answered = 0;
        for (int i = 0; i < atoi(db_val(s, 0, 2)) && i < 4; i++) {
            char label[2] = {(char)('A' + i), 0};
            json_object_set_new(counts, label, json_integer(0));
        }
        for (int i = 0; i < PQntuples(c); i++) {
            json_object_set_new(counts, PQgetvalue(c, i, 0),
                                json_integer(atoll(PQgetvalue(c, i, 1))));
            answered += atoll(PQgetvalue(c, i, 1));
        }
        json_t *ev = json_pack("{s:s,s:I,s:i,s:o,s:I,s:I}", "type", "answer_stats", "seq",
                               (json_int_t)atoll(db_val(s, 0, 0)), "question_idx", e->idx, "counts",
                               counts, "answered", (json_int_t)answered, "players",
                               (json_int_t)atoll(db_val(s, 0, 1)));
        char subject[256];
        snprintf(subject, sizeof(subject), "%s%s", SUBJ_EVENT_PREFIX, e->sid);
        if (ev && bus_publish(b->sc->d.nc, subject, ev) == 0) metric_add(&m_stats, 1);
        json_decref(ev);
    }
    PQclear(s);
    PQclear(c);
    e->dirty = 0;
    e->last_ms = clock_mono_ms();
}

/* Publishes every dirty entry whose interval has passed; returns the ms
 * until the next one is due (or LOOP_MAX_WAIT_MS). */
static int64_t stats_flush(struct batcher *b) {
    int64_t now = clock_mono_ms(), wait = LOOP_MAX_WAIT_MS;
    for (int i = 0; i < b->nstats; i++) {
        struct stat_entry *e = &b->stats[i];
        if (!e->dirty) {
            if (now - e->last_ms > 600000) { /* idle for 10 min: forget it */
                free(e->sid);
                b->stats[i--] = b->stats[--b->nstats];
            }
            continue;
        }
        int64_t due = e->last_ms + b->sc->stats_interval_ms - now;
        if (due <= 0)
            stats_publish(b, e);
        else if (due < wait)
            wait = due;
    }
    return wait < 1 ? 1 : wait;
}

/* ---- the thread ------------------------------------------------------- */

static void *batcher_main(void *arg) {
    struct batcher *b = arg;
    while (!atomic_load(&b->stop)) {
        int64_t wait = stats_flush(b);
        natsMsg *msg = NULL;
        natsStatus s = natsSubscription_NextMsg(&msg, b->sub, wait);
        if (s == NATS_TIMEOUT) continue;
        if (s != NATS_OK) {
            usleep(50 * 1000);
            continue;
        }
        int n = 0;
        b->items[n++].msg = msg;
        int64_t end = clock_mono_ms() + b->sc->batch_wait_ms;
        while (n < b->sc->batch_max) {
            int queued = 0;
            uint64_t q = 0;
            if (natsSubscription_QueuedMsgs(b->sub, &q) == NATS_OK) queued = q > 0;
            int64_t left = end - clock_mono_ms();
            if (!queued && left <= 0) break;
            msg = NULL;
            if (natsSubscription_NextMsg(&msg, b->sub, queued ? 1 : left) != NATS_OK) break;
            b->items[n++].msg = msg;
        }
        metric_add(&m_in_flight, n);
        run_batch(b, n);
    }
    return NULL;
}

struct batcher *submit_start(struct scoring *sc) {
    struct batcher *b = calloc(1, sizeof(*b));
    if (!b) return NULL;
    b->sc = sc;
    if (!(b->items = calloc((size_t)sc->batch_max, sizeof(struct item)))) goto err;
    if (!(b->db = db_open(sc->db_url))) goto err;
    if (natsConnection_QueueSubscribeSync(&b->sub, sc->d.nc, SUBJ_SCORING_SUBMIT, QUEUE_SCORING) !=
        NATS_OK) {
        LOG_ERROR("subscribe_failed", "subject=%s", SUBJ_SCORING_SUBMIT);
        b->sub = NULL;
        goto err;
    }
    natsSubscription_SetPendingLimits(b->sub, 1000000, 256 * 1024 * 1024);
    if (pthread_create(&b->thread, NULL, batcher_main, b) != 0) goto err;
    b->started = 1;
    return b;
err:
    submit_stop(b);
    return NULL;
}

void submit_stop(struct batcher *b) {
    if (!b) return;
    atomic_store(&b->stop, 1);
    if (b->started) pthread_join(b->thread, NULL);
    if (b->sub) {
        natsSubscription_Unsubscribe(b->sub);
        natsSubscription_Destroy(b->sub);
    }
    for (int i = 0; i < b->nstats; i++)
        free(b->stats[i].sid);
    free(b->stats);
    free(b->items);
    db_free(b->db);
    free(b);
}
