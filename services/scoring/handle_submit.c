/*
 * handle_submit: one `qw.scoring.submit` message in, one reply out. Parses
 * the submit into a batch item (a missing or mistyped field is 400
 * bad_field, answered without a transaction) and, once the batch is done,
 * answers it: its error, or its submit_ack only when the batch COMMITted;
 * after a failed transaction it answers nothing (the gateway's deadline
 * says unavailable), so an ack never exists without its record. Owns the
 * submit metrics. Runs on the batcher thread (batcher.c).
 */
#include "bus.h"
#include "clock.h"
#include "log.h"
#include "reply.h"
#include "submit.h"

#include <string.h>

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
static struct metric m_batch_statements = {
    "qw_submit_batch_statements_total",
    "Statements sent by batch transactions (BEGIN and COMMIT included).", 0, 0};
static struct metric m_stats_reads = {"qw_answer_stats_reads_total",
                                      "Statements sent by answer_stats flushes.", 0, 0};
static struct metric m_stats = {"qw_answer_stats_published_total", "answer_stats events published.",
                                0, 0};

void submit_metrics_register(void) {
    struct metric *all[] = {&m_accepted, &m_duplicate,        &m_closed,        &m_wrong,
                            &m_not_open, &m_invalid,          &m_refused,       &m_failed,
                            &m_batches,  &m_batch_items,      &m_batch_largest, &m_in_flight,
                            &m_stats,    &m_batch_statements, &m_stats_reads};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        metrics_register(all[i]);
}

void submit_count_batch(int n) {
    metric_add(&m_batches, 1);
    metric_add(&m_batch_items, n);
    if (n > atomic_load(&m_batch_largest.value)) metric_set(&m_batch_largest, n);
}

void submit_count_in_flight(int delta) {
    metric_add(&m_in_flight, delta);
}

void submit_count_stats_published(void) {
    metric_add(&m_stats, 1);
}

void submit_count_batch_statements(int n) {
    metric_add(&m_batch_statements, n);
}

void submit_count_stats_reads(int n) {
    metric_add(&m_stats_reads, n);
}

static int get_int(json_t *o, const char *k, long long *out) {
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v)) return -1;
    *out = (long long)json_integer_value(v);
    return 0;
}

int item_parse(struct item *it) {
    long long idx = 0;
    it->dup_of = -1;
    it->verdict = QUIZ_V_RECORD;
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
    it->is_set = json_is_true(json_object_get(it->req, "set"));
    return 0;
bad:
    it->bad_field = 1;
    item_refuse(it, reply_error(400, "bad_field",
                                "submit needs sid, student_id, choice (strings), epoch and "
                                "question_idx (integers); set (true) for a list of labels"));
    return -1;
}

void item_refuse(struct item *it, json_t *err) {
    json_decref(it->err);
    it->err = err;
}

void item_unjudge(struct item *it) {
    if (!it->bad_field) {
        json_decref(it->err);
        it->err = NULL;
    }
    it->verdict = QUIZ_V_RECORD;
    it->dup_of = -1;
    it->stored[0] = '\0';
    it->correct = it->points = 0;
}

static struct metric *verdict_metric(enum quiz_verdict v) {
    switch (v) {
    case QUIZ_V_ACCEPTED:
        return &m_accepted;
    case QUIZ_V_DUPLICATE:
        return &m_duplicate;
    case QUIZ_V_CLOSED:
        return &m_closed;
    case QUIZ_V_WRONG_QUESTION:
        return &m_wrong;
    case QUIZ_V_NOT_OPEN:
        return &m_not_open;
    case QUIZ_V_INVALID:
        return &m_invalid;
    default:
        return NULL;
    }
}

void item_finish(natsConnection *nc, struct item *it, int committed) {
    if (it->err) {
        bus_respond(nc, it->msg, it->err);
        metric_add(&m_refused, 1);
    } else if (!committed) {
        metric_add(&m_failed, 1); /* no commit: no answer (the gateway says unavailable) */
        LOG_DEBUG("submit_unanswered", "sid=%s student_id=%s", it->sid, it->student);
    } else {
        const char *choice = it->verdict == QUIZ_V_DUPLICATE ? it->stored : it->choice;
        json_t *r =
            json_pack("{s:b,s:s,s:i,s:s}", "ok", 1, "status", quiz_verdict_name(it->verdict),
                      "question_idx", it->idx, "choice", choice);
        if (r) bus_respond(nc, it->msg, r);
        json_decref(r);
        struct metric *m = verdict_metric(it->verdict);
        if (m) metric_add(m, 1);
    }
    json_decref(it->err);
    json_decref(it->req);
    natsMsg_Destroy(it->msg);
    memset(it, 0, sizeof(*it));
}
