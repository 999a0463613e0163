/*
 * batcher: group commit of `qw.scoring.submit` on one thread that owns its
 * sync queue subscription and its Postgres connection. A batch (at most
 * QW_BATCH_MAX submits, or what arrived QW_BATCH_WAIT_MS after the first)
 * is judged and inserted in ONE transaction (judge.c, every session at
 * once) that holds each session row FOR SHARE; replies go out only after
 * COMMIT.
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
#include <sys/random.h>
#include <unistd.h>

#define LOOP_MAX_WAIT_MS 200

struct batcher {
    struct scoring *sc; /* borrowed */
    pthread_t thread;
    int started;
    atomic_int stop;
    natsSubscription *sub;   /* owned */
    struct db *db;           /* owned: the batches' connection */
    unsigned long noted_gen; /* the connection whose backend is noted below */
    char backend_pid[16];    /* its server process, to end after it died (resolve) */
    char backend_start[64];  /* and that process's start, so a recycled pid is never ended */
    struct item *items;      /* owned array of batch_max */
    struct answer_stats stats;
};

/* The outcome of one try of a batch. */
enum try_outcome {
    TRY_COMMITTED, /* COMMIT answered: every verdict stands */
    TRY_FAILED,    /* rolled back on a live connection (e.g. a constraint): not tried again */
    TRY_LOST,      /* the connection died before COMMIT was sent: nothing recorded */
    TRY_UNKNOWN    /* the connection died during COMMIT: it may have committed */
};

/* Notes the backend of a new connection (pid and start time), so that
 * after it dies its server process can be ended before the record is read
 * (resolve). Returns 0, or -1 when the statement failed. */
static int note_backend(struct batcher *b) {
    if (b->db->conn_gen == b->noted_gen) return 0;
    PGresult *r = db_exec(b->db,
                          "SELECT pg_backend_pid(), backend_start::text FROM pg_stat_activity"
                          " WHERE pid = pg_backend_pid()",
                          0, NULL);
    int ok = r && PQntuples(r) == 1;
    if (ok) {
        snprintf(b->backend_pid, sizeof(b->backend_pid), "%s", PQgetvalue(r, 0, 0));
        snprintf(b->backend_start, sizeof(b->backend_start), "%s", PQgetvalue(r, 0, 1));
        b->noted_gen = b->db->conn_gen;
    }
    PQclear(r);
    return ok ? 0 : -1;
}

/* Judges every session of the batch in one transaction, its rows marked
 * with `batch_id`: BEGIN, judge.c's statements, COMMIT, whatever the
 * number of sessions. */
static enum try_outcome judge_batch(struct batcher *b, int n, const char *batch_id) {
    struct item *items = b->items;
    struct db_tx tx;
    int statements = 1; /* BEGIN */
    enum try_outcome t = TRY_FAILED;
    if (db_ensure(b->db) != 0 || note_backend(b) != 0) return TRY_LOST;
    if (db_tx_begin(b->db, &tx) != 0) {
        t = db_broken(b->db) ? TRY_LOST : TRY_FAILED;
        goto done;
    }
    if (judge_batch_items(&tx, items, n, batch_id, &statements) != 0) {
        db_tx_rollback(&tx);
        statements++;
        t = db_broken(b->db) || b->db->conn_gen != tx.conn_gen ? TRY_LOST : TRY_FAILED;
        goto done;
    }
    for (int i = 0; i < n; i++)
        if (!items[i].err && items[i].verdict == QUIZ_V_ACCEPTED)
            answer_stats_touch(&b->stats, items[i].sid, items[i].idx);
    statements++;
    if (db_tx_commit(&tx) == 0) {
        t = TRY_COMMITTED;
        goto done;
    }
    /* COMMIT was sent; without its answer the server may have committed */
    t = db_broken(b->db) ? TRY_UNKNOWN : TRY_FAILED;
done:
    submit_count_batch_statements(statements);
    return t;
}

/* Waits (bounded by `until_ms`, monotonic) for a usable connection.
 * Returns 0, or -1 when the time ran out or the batcher is stopping. */
static int reconnect_until(struct batcher *b, int64_t until_ms) {
    while (db_ensure(b->db) != 0) {
        if (clock_mono_ms() >= until_ms || atomic_load(&b->stop)) return -1;
        usleep(50 * 1000);
    }
    return 0;
}

/* After TRY_UNKNOWN: decides from the record whether the try committed.
 * First ends the try's server process if it still runs (the client side
 * may have died while the server goes on committing), waiting for it, so
 * that what is read next is final; on another host (a failover) there is
 * nothing to end and the new primary's record is what counts. Then reads
 * whether any answer the try inserted carries `batch_id`: one is enough,
 * the transaction being atomic. Returns 1 committed, 0 not, -1 unknown
 * still (no connection within the bound). */
static int resolve(struct batcher *b, int n, const char *batch_id, int64_t until_ms) {
    struct db_array sids, students;
    int rc = -1;
    db_array_open(&sids);
    db_array_open(&students);
    for (int i = 0; i < n; i++) {
        if (b->items[i].err || b->items[i].verdict != QUIZ_V_ACCEPTED) continue;
        db_array_text(&sids, b->items[i].sid);
        db_array_text(&students, b->items[i].student);
    }
    if (sids.n == 0) { /* it inserted nothing: trying again is the same */
        rc = 0;
        goto cleanup;
    }
    const char *p4[4] = {b->backend_pid, b->backend_start, NULL, NULL};
    if (!(p4[2] = db_array_close(&sids)) || !(p4[3] = db_array_close(&students))) goto cleanup;
    while (rc < 0 && reconnect_until(b, until_ms) == 0) {
        PGresult *end = db_exec(b->db,
                                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
                                " WHERE pid = $1::int AND backend_start::text = $2"
                                " AND pid <> pg_backend_pid()",
                                2, p4);
        const char *p3[3] = {p4[2], p4[3], batch_id};
        PGresult *r = end ? db_exec(b->db,
                                    "SELECT count(*) FROM answers a JOIN unnest($1::text[],"
                                    " $2::text[]) AS u(sid, st) ON a.sid = u.sid"
                                    " AND a.student_id = u.st WHERE a.batch_id = $3::bigint",
                                    3, p3)
                          : NULL;
        if (r && PQntuples(r) == 1) rc = atoll(PQgetvalue(r, 0, 0)) > 0;
        PQclear(end);
        PQclear(r);
        if (rc < 0) usleep(50 * 1000);
    }
cleanup:
    db_array_free(&sids);
    db_array_free(&students);
    return rc;
}

/* Runs one batch of n items, then the replies. A try that failed with the
 * connection is tried again on a new one (within QW_BATCH_RETRY_MS), with
 * the same batch id: after a COMMIT without an answer the record says
 * whether it committed (resolve), and the verdicts of that try are acked;
 * otherwise the batch is judged again from scratch. Nothing is acked that
 * is not known committed. */
static void run_batch(struct batcher *b, int n) {
    int pending = 0, committed = 0, tries = 0;
    const char *why = "transaction failed, nothing recorded";
    char batch_id[24];
    uint64_t rnd = 0;
    submit_count_batch(n);
    for (int i = 0; i < n; i++)
        pending += item_parse(&b->items[i]) == 0;
    if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) rnd ^= (uint64_t)clock_wall_ms();
    snprintf(batch_id, sizeof(batch_id), "%lld", (long long)(rnd >> 1));
    int64_t until = clock_mono_ms() + b->sc->batch_retry_ms;
    committed = pending == 0;
    while (!committed) {
        enum try_outcome t = judge_batch(b, n, batch_id);
        tries++;
        if (t == TRY_COMMITTED) {
            committed = 1;
            break;
        }
        if (t == TRY_FAILED || atomic_load(&b->stop) || clock_mono_ms() >= until) break;
        if (t == TRY_UNKNOWN) {
            int r = resolve(b, n, batch_id, until);
            LOG_WARN("batch_commit_unknown", "size=%d batch=%s resolved=%s", n, batch_id,
                     r > 0    ? "committed"
                     : r == 0 ? "not_committed"
                              : "unknown");
            if (r > 0) {
                committed = 1;
                break;
            }
            if (r < 0) {
                why = "commit outcome unknown, no connection within QW_BATCH_RETRY_MS: not acked";
                break;
            }
        }
        for (int i = 0; i < n; i++)
            item_unjudge(&b->items[i]);
        if (reconnect_until(b, until) != 0) break;
    }
    if (tries > 1)
        LOG_INFO("batch_retried", "size=%d batch=%s tries=%d committed=%d", n, batch_id, tries,
                 committed);
    for (int i = 0; i < n; i++)
        item_finish(b->sc->d.nc, &b->items[i], committed);
    submit_count_in_flight(-n);
    if (!committed) {
        LOG_WARN("batch_failed", "size=%d tries=%d reason=\"%s\"", n, tries, why);
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
