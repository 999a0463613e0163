/*
 * submit: what the files of the submit path share. A submit is parsed into
 * an `item` (handle_submit.c), gathered into a batch with others by the
 * batcher thread (batcher.c), judged and inserted, every session at once,
 * inside the batch's one transaction (judge.c, by shared/quiz's rules), and answered
 * only after COMMIT (handle_submit.c). answer_stats.c coalesces the
 * `answer_stats` events of the sessions a batch touched.
 * Everything here runs on the batcher thread: no locks.
 */
#ifndef QW_SCORING_SUBMIT_H
#define QW_SCORING_SUBMIT_H

#include "db.h"
#include "quiz.h"
#include "scoring.h"

#include <nats/nats.h>
#include <stdint.h>

struct item {
    natsMsg *msg; /* owned */
    json_t *req;  /* owned; the strings below point into it */
    const char *sid, *student, *choice;
    int idx;
    long long epoch, received_ms, elapsed_ms;
    int has_elapsed;
    int is_set;                /* `choice` is a set's stored form, sent as a list (multi) */
    enum quiz_verdict verdict; /* QUIZ_V_RECORD while still to be decided */
    json_t *err;               /* owned error reply (bad_field, unknown_session, ...), or NULL */
    int dup_of;                /* earlier item of this batch for the same answer, or -1 */
    char stored[QUIZ_MAX_CHOICES + 1]; /* the choice that stands (duplicate) */
    int correct, points;
    int bad_field; /* its err is the parse's 400: kept when the batch is tried again */
};

/* True while `it` is still to be judged or inserted. */
static inline int item_pending(const struct item *it) {
    return !it->err && it->verdict == QUIZ_V_RECORD;
}

/* ---- handle_submit.c: one submit in, one reply out ------------------- */

/* Parses the message of `it` (it->msg). Returns 0, or -1 with it->err set
 * (400 bad_field). */
int item_parse(struct item *it);

/* Refuses `it` with the error reply `err` (stolen). */
void item_refuse(struct item *it, json_t *err);

/* Forgets what judging decided about `it` (verdict, duplicate, refusal
 * other than bad_field), for a batch tried again on a new connection. */
void item_unjudge(struct item *it);

/* Answers `it`: its error, or (when `committed`) its submit_ack; after a
 * failed transaction nothing (the gateway says unavailable). Counts it in
 * the metrics, then frees what it holds and zeroes it. */
void item_finish(natsConnection *nc, struct item *it, int committed);

/* Metrics of the batcher (handle_submit.c owns every submit metric). */
void submit_count_batch(int n);
void submit_count_in_flight(int delta);
void submit_count_stats_published(void);
/* Statements sent by batch transactions (BEGIN and COMMIT included), and
 * statements sent by answer_stats flushes. */
void submit_count_batch_statements(int n);
void submit_count_stats_reads(int n);

/* ---- judge.c: the judging of a batch's submits ----------------------- */

/* Judges and inserts every pending item of items[0, n), every session at
 * once, inside `tx` (which holds the batch's session rows FOR SHARE until
 * COMMIT); each row inserted carries `batch_id` (decimal text), the
 * batch's mark that lets an unknown commit be resolved by reading the
 * record. Adds the statements it sent to *statements (at most four).
 * Returns 0, or -1 when a statement failed (the whole batch is then rolled
 * back and not answered). */
int judge_batch_items(struct db_tx *tx, struct item *items, int n, const char *batch_id,
                      int *statements);

/* ---- answer_stats.c: coalesced answer_stats events -------------------- */

struct stat_entry {
    char *sid; /* owned */
    int idx;
    int dirty;
    int64_t last_ms; /* mono ms of the last publish */
};

struct answer_stats {
    struct stat_entry *entries; /* owned array */
    int n, cap;
};

/* Marks that `sid` got accepted answers to `idx`. */
void answer_stats_touch(struct answer_stats *as, const char *sid, int idx);

/* Publishes every dirty entry whose interval has passed (reading its
 * counts from `db`); forgets entries idle for 10 minutes. Returns the ms
 * until the next one is due, at most `max_wait_ms`. */
int64_t answer_stats_flush(struct answer_stats *as, struct db *db, natsConnection *nc,
                           int interval_ms, int64_t max_wait_ms);

/* Frees every entry (not `as` itself). */
void answer_stats_clear(struct answer_stats *as);

#endif
