/*
 * join_flush: one WAL flush for many joins. A join commits its row
 * without waiting for the flush and is answered only once the WAL is on
 * disk past that commit; instead of every worker sending its own
 * synchronously committed flush statement, the workers take turns:
 * flush rounds run one at a time, and a round begun after a join's commit
 * covers that join (its commit record is in the WAL before the round's
 * own). A worker whose join needs a round either runs it on its own
 * connection or sleeps until another worker's round ends, so a burst of
 * joins costs one statement per round, not per join. The counters are the
 * one mutable part of `struct auth`, under this module's lock. Runs on the
 * auth workers.
 */
#include "auth.h"

int join_flush_init(struct join_flush *f) {
    f->started = f->finished = f->last_ok = 0;
    f->running = 0;
    if (pthread_mutex_init(&f->mu, NULL) != 0) return -1;
    if (pthread_cond_init(&f->ended, NULL) != 0) {
        pthread_mutex_destroy(&f->mu);
        return -1;
    }
    f->ready = 1;
    return 0;
}

void join_flush_destroy(struct join_flush *f) {
    if (!f || !f->ready) return;
    pthread_cond_destroy(&f->ended);
    pthread_mutex_destroy(&f->mu);
    f->ready = 0;
}

int join_flush_wait(struct join_flush *f, struct db *db) {
    int rc = 0;
    pthread_mutex_lock(&f->mu);
    /* a round already running may have begun before this commit */
    unsigned long need = f->started + 1;
    while (f->finished < need) {
        if (f->running) {
            pthread_cond_wait(&f->ended, &f->mu);
            continue;
        }
        f->running = 1;
        unsigned long round = ++f->started;
        pthread_mutex_unlock(&f->mu);
        /* a commit flushes the WAL up to its own record only when its
         * transaction wrote WAL besides: PostgreSQL commits one that only
         * took an xid (`SELECT txid_current()`) without the flush, as if
         * synchronous_commit were off. A transactional logical message
         * takes an xid and writes one small record (no table, no
         * privilege needed), so its commit waits for the fsync (and a
         * synchronous standby) past every join committed before it. */
        int ok =
            db_cmd(db, "SELECT pg_logical_emit_message(true, 'qw.join_flush', '')", 0, NULL) == 0;
        pthread_mutex_lock(&f->mu);
        f->finished = round;
        if (ok) f->last_ok = round;
        f->running = 0;
        pthread_cond_broadcast(&f->ended);
    }
    if (f->last_ok < need) rc = -1; /* the round that covered this join failed */
    pthread_mutex_unlock(&f->mu);
    return rc;
}
