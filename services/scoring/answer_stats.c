/*
 * answer_stats: the instructor's live chart. The instance that committed
 * answers to a session's open question publishes `answer_stats` for it at
 * most every QW_STATS_INTERVAL_MS, after the interval always with the
 * latest counts (read in one snapshot with the session's seq and players),
 * and only while that question is still open. Every entry due at a flush
 * is read with one statement, whatever the number of sessions. Counts and the event's shape
 * are shared/quiz's. Runs on the batcher thread; never touches a batch.
 */
#include "bus.h"
#include "clock.h"
#include "log.h"
#include "record.h"
#include "submit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IDLE_FORGET_MS 600000 /* an entry idle this long is forgotten */

void answer_stats_touch(struct answer_stats *as, const char *sid, int idx) {
    for (int i = 0; i < as->n; i++) {
        if (strcmp(as->entries[i].sid, sid) != 0) continue;
        as->entries[i].idx = idx;
        as->entries[i].dirty = 1;
        return;
    }
    if (as->n == as->cap) {
        int cap = as->cap ? as->cap * 2 : 16;
        struct stat_entry *e = realloc(as->entries, sizeof(*e) * (size_t)cap);
        if (!e) return;
        as->entries = e;
        as->cap = cap;
    }
    char *copy = strdup(sid);
    if (!copy) return;
    as->entries[as->n++] = (struct stat_entry){copy, idx, 1, 0};
}

/* The counts of every due entry, read in ONE statement (so in one
 * snapshot, as the close reads them): per entry (k, its place in the
 * arrays, from 1) its session's seq and players and the question's number
 * of choices, once per recorded choice with its count (choice NULL when
 * none yet); no row when that question is no longer open. */
#define DUE_COUNTS                                                                                 \
    "SELECT u.k, s.seq, s.players, jsonb_array_length(q.choices), a.choice, a.n"                   \
    " FROM unnest($1::text[], $2::int[]) WITH ORDINALITY AS u(sid, idx, k)"                        \
    " JOIN sessions s ON s.sid = u.sid AND s.state = 'question' AND s.question_idx = u.idx"        \
    " JOIN questions q ON q.quiz_id = s.quiz_id AND q.idx = s.question_idx"                        \
    " LEFT JOIN LATERAL (" RECORD_COUNTS("u.sid", "u.idx") ") a ON true ORDER BY u.k"

/* Publishes the answer_stats of the entries due[0, ndue) from one read
 * (nothing for an entry whose question is no longer open, nothing at all
 * when the database does not answer). */
static void publish_due(struct stat_entry **due, int ndue, struct db *db, natsConnection *nc) {
    struct db_array sids, idxs;
    PGresult *r = NULL;
    db_array_open(&sids);
    db_array_open(&idxs);
    for (int i = 0; i < ndue; i++) {
        db_array_text(&sids, due[i]->sid);
        db_array_num(&idxs, due[i]->idx);
    }
    const char *p[2] = {db_array_close(&sids), db_array_close(&idxs)};
    if (!p[0] || !p[1]) goto cleanup;
    submit_count_stats_reads(1);
    if (!(r = db_exec(db, DUE_COUNTS, 2, p))) goto cleanup;
    for (int row = 0; row < PQntuples(r);) {
        int k = atoi(db_val(r, row, 0));
        struct quiz_counts counts;
        char subject[256];
        quiz_counts_init(&counts, atoi(db_val(r, row, 3)));
        long long seq = atoll(db_val(r, row, 1)), players = atoll(db_val(r, row, 2));
        for (; row < PQntuples(r) && atoi(db_val(r, row, 0)) == k; row++)
            if (db_val(r, row, 4))
                quiz_counts_add(&counts, db_val(r, row, 4), atoll(db_val(r, row, 5)));
        if (k < 1 || k > ndue) continue;
        json_t *ev = quiz_ev_answer_stats(seq, due[k - 1]->idx, &counts, players);
        if (ev && quiz_event_subject(subject, sizeof(subject), due[k - 1]->sid) == 0 &&
            bus_publish(nc, subject, ev) == 0)
            submit_count_stats_published();
        json_decref(ev);
    }
cleanup:
    db_array_free(&sids);
    db_array_free(&idxs);
    PQclear(r);
}

int64_t answer_stats_flush(struct answer_stats *as, struct db *db, natsConnection *nc,
                           int interval_ms, int64_t max_wait_ms) {
    int64_t now = clock_mono_ms(), wait = max_wait_ms;
    struct stat_entry **due = NULL; /* owned array of borrowed entries */
    int ndue = 0;
    for (int i = 0; i < as->n; i++) {
        struct stat_entry *e = &as->entries[i];
        if (!e->dirty) {
            if (now - e->last_ms > IDLE_FORGET_MS) {
                free(e->sid);
                as->entries[i--] = as->entries[--as->n];
            }
            continue;
        }
        int64_t left = e->last_ms + interval_ms - now;
        if (left > 0) {
            if (left < wait) wait = left;
            continue;
        }
        if (!due && !(due = malloc(sizeof(*due) * (size_t)as->n))) break;
        due[ndue++] = e;
    }
    if (ndue > 0) {
        publish_due(due, ndue, db, nc);
        int64_t done = clock_mono_ms();
        for (int i = 0; i < ndue; i++) {
            due[i]->dirty = 0;
            due[i]->last_ms = done;
        }
    }
    free(due);
    return wait < 1 ? 1 : wait;
}

void answer_stats_clear(struct answer_stats *as) {
    for (int i = 0; i < as->n; i++)
        free(as->entries[i].sid);
    free(as->entries);
    as->entries = NULL;
    as->n = as->cap = 0;
}
