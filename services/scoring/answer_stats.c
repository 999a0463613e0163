/*
 * answer_stats: the instructor's live chart. The instance that committed
 * answers to a session's open question publishes `answer_stats` for it at
 * most every QW_STATS_INTERVAL_MS, after the interval always with the
 * latest counts (read in one snapshot with the session's seq and players),
 * and only while that question is still open. Counts and the event's shape
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

/* Reads and publishes one entry's counts (nothing when its question is no
 * longer open or the database does not answer). */
static void publish(struct stat_entry *e, struct db *db, natsConnection *nc) {
    char sidx[16], subject[256];
    snprintf(sidx, sizeof(sidx), "%d", e->idx);
    const char *p[2] = {e->sid, sidx};
    PGresult *s = NULL;
    struct quiz_counts counts;
    json_t *ev = NULL;
    struct db_tx tx;
    if (db_tx_begin_snapshot(db, &tx) != 0) goto cleanup;
    s = db_tx_exec(
        &tx,
        "SELECT s.seq, s.players, jsonb_array_length(q.choices)"
        " FROM sessions s JOIN questions q ON q.quiz_id = s.quiz_id AND q.idx = s.question_idx"
        " WHERE s.sid = $1 AND s.state = 'question' AND s.question_idx = $2::int",
        2, p);
    if (!s || PQntuples(s) != 1) goto cleanup;
    quiz_counts_init(&counts, atoi(db_val(s, 0, 2)));
    if (record_counts(&tx, e->sid, e->idx, &counts) != 0 || db_tx_commit(&tx) != 0) goto cleanup;
    ev = quiz_ev_answer_stats(atoll(db_val(s, 0, 0)), e->idx, &counts, atoll(db_val(s, 0, 1)));
    if (ev && quiz_event_subject(subject, sizeof(subject), e->sid) == 0 &&
        bus_publish(nc, subject, ev) == 0)
        submit_count_stats_published();
cleanup:
    db_tx_rollback(&tx);
    json_decref(ev);
    PQclear(s);
}

int64_t answer_stats_flush(struct answer_stats *as, struct db *db, natsConnection *nc,
                           int interval_ms, int64_t max_wait_ms) {
    int64_t now = clock_mono_ms(), wait = max_wait_ms;
    for (int i = 0; i < as->n; i++) {
        struct stat_entry *e = &as->entries[i];
        if (!e->dirty) {
            if (now - e->last_ms > IDLE_FORGET_MS) {
                free(e->sid);
                as->entries[i--] = as->entries[--as->n];
            }
            continue;
        }
        int64_t due = e->last_ms + interval_ms - now;
        if (due <= 0) {
            publish(e, db, nc);
            e->dirty = 0;
            e->last_ms = clock_mono_ms();
        } else if (due < wait) {
            wait = due;
        }
    }
    return wait < 1 ? 1 : wait;
}

void answer_stats_clear(struct answer_stats *as) {
    for (int i = 0; i < as->n; i++)
        free(as->entries[i].sid);
    free(as->entries);
    as->entries = NULL;
    as->n = as->cap = 0;
}
