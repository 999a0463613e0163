/*
 * scoring: the scoring daemon's shared declarations.
 *
 * Two kinds of work: submits (qw.scoring.submit), judged and committed in
 * batches by the batcher thread (batcher.c, judge.c, handle_submit.c and
 * answer_stats.c share submit.h), and results queries
 * (qw.scoring.query.results) answered by `service` workers (handle_results.c).
 * Scoring never acks a submit before its transaction has committed.
 */
#ifndef QW_SCORING_H
#define QW_SCORING_H

#include "daemon.h"
#include "db.h"
#include "metrics.h"

#include <jansson.h>

struct scoring {
    struct daemon d;       /* NATS connection, ops listener */
    const char *db_url;    /* QW_DB_URL */
    int batch_max;         /* QW_BATCH_MAX */
    int batch_wait_ms;     /* QW_BATCH_WAIT_MS */
    int batch_retry_ms;    /* QW_BATCH_RETRY_MS */
    int stats_interval_ms; /* QW_STATS_INTERVAL_MS */
};

/* batcher.c: starts the batcher thread (own db connection, own sync
 * queue subscription). Returns NULL after logging. */
struct batcher *submit_start(struct scoring *sc);
/* Stops taking submits, finishes the batch in hand, frees. Accepts NULL. */
void submit_stop(struct batcher *b);
/* handle_submit.c: registers the submit metrics (once, at start). */
void submit_metrics_register(void);

/* handle_results.c: {"sid"} -> SPEC §3 results. Request borrowed, reply new. */
json_t *handle_results(void *ctx, struct db *db, json_t *req);

#endif
