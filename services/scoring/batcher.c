/*
 * batcher: group commit of `qw.scoring.submit` on one thread that owns its
 * sync queue subscription and its Postgres connection. A batch (at most
 * QW_BATCH_MAX submits, or what arrived QW_BATCH_WAIT_MS after the first)
 * is judged and inserted in ONE transaction (judge.c per session) that
 * holds each session row FOR SHARE; replies go out only after COMMIT.
 * The transaction is a db_tx: after any error or reconnect it runs nothing
 * more and the batch is rolled back and NOT answered: never an ack without
 * a commit. Between batches it flushes answer_stats (answer_stats.c).
 */
#include "clock.h"
#include "log.h"
#include "subjects.h"
#include "submit.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOOP_MAX_WAIT_MS 200

struct batcher {
    struct scoring *sc; /* borrowed */
    pthread_t thread;
    int started;
    atomic_int stop;
    natsSubscription *sub; /* owned */
    struct db *db;         /* owned: the batches' connection */
    struct item *items;    /* owned array of batch_max */
    struct answer_stats stats;
};

/* Judges every session of the batch in one transaction. Returns 1 when it
 * committed, 0 when it failed (rolled back). */
static int judge_batch(struct batcher *b, int n) {
    struct item *items = b->items;
    struct db_tx tx;
    if (db_tx_begin(b->db, &tx) != 0) return 0;
    for (int i = 0; i < n; i++) {
        if (!item_pending(&items[i]) || items[i].dup_of >= 0) continue;
        /* the first pending item of a sid not judged yet starts its group */
        int seen = 0;
        for (int j = 0; j < i && !seen; j++)
            seen = items[j].judged_group && strcmp(items[j].sid, items[i].sid) == 0;
        if (seen) continue;
        items[i].judged_group = 1;
        int accepted = 0, idx = 0;
        if (judge_session(&tx, items, i, n, items[i].sid, &accepted, &idx) != 0) {
            db_tx_rollback(&tx);
            return 0;
        }
        if (accepted) answer_stats_touch(&b->stats, items[i].sid, idx);
    }
    return db_tx_commit(&tx) == 0;
}

/* Runs one batch of n items: one transaction, then the replies. */
static void run_batch(struct batcher *b, int n) {
    int pending = 0, committed = 0;
    submit_count_batch(n);
    for (int i = 0; i < n; i++)
        pending += item_parse(&b->items[i]) == 0;
    committed = pending == 0 || judge_batch(b, n);
    for (int i = 0; i < n; i++)
        item_finish(b->sc->d.nc, &b->items[i], committed);
    submit_count_in_flight(-n);
    if (!committed) {
        LOG_WARN("batch_failed", "size=%d reason=\"transaction failed, nothing recorded\"", n);
        db_ensure(b->db);
    }
}

static void *batcher_main(void *arg) {
    struct batcher *b = arg;
    while (!atomic_load(&b->stop)) {
        int64_t wait = answer_stats_flush(&b->stats, b->db, b->sc->d.nc, b->sc->stats_interval_ms,
                                          LOOP_MAX_WAIT_MS);
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
        submit_count_in_flight(n);
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
    answer_stats_clear(&b->stats);
    free(b->items);
    db_free(b->db);
    free(b);
}
