/*
 * lifecycle: the one thread that drives sessions (see lifecycle.h). Every
 * QW_SESSION_LEASE_MS / 2 (and at once when its state connection broke) it
 * runs a lease tick: heartbeat, hung holders, its share of the shards
 * (lease.c). Between ticks it fires due timers and answers the commands of
 * its shards (`qw.session.cmd.<shard>`) one at a time, each behind the
 * fence of its shard. Holding the shard of session `main` also has `main`
 * follow QUIZ_POOL_PATH (main_pool.c), once per process.
 */
#include "bus.h"
#include "clock.h"
#include "lifecycle.h"
#include "log.h"
#include "quiz.h"
#include "reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOOP_MAX_WAIT_MS 200 /* longest wait, so stop and the lease tick are seen quickly */
#define CMD_POLL_MS 5        /* how often the command subscriptions are looked at */

/* The next command on any shard held, waiting up to wait_ms; NULL when
 * none came. Sync subscriptions cannot be waited on together, so their
 * queues are looked at every CMD_POLL_MS, starting after the shard served
 * last (no shard starves the others). */
static natsMsg *next_cmd(struct lifecycle *lc, int64_t wait_ms, int *shard) {
    int64_t until = clock_mono_ms() + wait_ms;
    for (;;) {
        for (int k = 0; k < QUIZ_SHARDS; k++) {
            int s = (lc->next_sub + k) % QUIZ_SHARDS;
            int msgs = 0, bytes = 0;
            natsMsg *msg = NULL;
            if (!lc->subs[s] ||
                natsSubscription_GetPending(lc->subs[s], &msgs, &bytes) != NATS_OK || msgs <= 0)
                continue;
            if (natsSubscription_NextMsg(&msg, lc->subs[s], 1) != NATS_OK) continue;
            lc->next_sub = (s + 1) % QUIZ_SHARDS;
            *shard = s;
            return msg;
        }
        int64_t left = until - clock_mono_ms();
        if (left <= 0 || atomic_load(&lc->stop)) return NULL;
        usleep((useconds_t)(left < CMD_POLL_MS ? left : CMD_POLL_MS) * 1000);
    }
}

static void *lifecycle_main(void *arg) {
    struct lifecycle *lc = arg;
    while (!atomic_load(&lc->stop)) {
        /* Tick at every lease period, and at once when the state connection
         * broke: that is how a Postgres restart shows itself, and the locks
         * died with it. Without this db_exec would reconnect lc->db and this
         * instance would go on driving (timers, commands) for up to
         * lease_ms/2 while another already holds its shards. */
        if (clock_mono_ms() >= lc->next_check_ms || (lc->nheld && db_broken(lc->db)))
            lease_tick(lc);
        int64_t tick_in = lc->next_check_ms - clock_mono_ms();
        int64_t wait = tick_in < LOOP_MAX_WAIT_MS ? (tick_in < 1 ? 1 : tick_in) : LOOP_MAX_WAIT_MS;
        if (!lc->nheld) {
            usleep((useconds_t)(wait < 100 ? wait : 100) * 1000);
            continue;
        }
        timers_fire(lc);
        int shard = -1;
        natsMsg *msg = next_cmd(lc, timers_wait_ms(lc, wait), &shard);
        if (!msg) continue;
        if (!lease_fresh(lc, shard)) { /* woke from a pause and lost the shard: not ours */
            natsMsg_Destroy(msg);
            continue;
        }
        json_t *req = bus_parse(msg);
        json_t *reply = req ? handle_cmd(lc, req, shard)
                            : reply_error(400, "bad_json", "request body is not a JSON object");
        bus_respond(lc->sd->d.nc, msg, reply);
        json_decref(reply);
        json_decref(req);
        natsMsg_Destroy(msg);
    }
    lease_step_down(lc, "stopping");
    return NULL;
}

/* /healthz and qw.health.session detail: the shards this instance drives. */
static int lifecycle_health(void *ctx, json_t *detail) {
    (void)ctx;
    json_object_set_new(detail, "shards", json_integer(atomic_load(&session_metric_shards.value)));
    return 1;
}

struct lifecycle *lifecycle_start(struct session_daemon *sd) {
    struct lifecycle *lc = calloc(1, sizeof(*lc));
    if (!lc) return NULL;
    lc->sd = sd;
    lc->lease_ms = (int)config_int("QW_SESSION_LEASE_MS");
    lc->stale_ms = STALE_LEASES * lc->lease_ms;
    metrics_register(&session_metric_shards);
    sd->d.extra_health = lifecycle_health;
    sd->d.extra_ctx = lc;
    if (!(lc->lock_db = db_open(sd->db_url)) || !(lc->db = db_open(sd->db_url))) goto err;
    if (pthread_create(&lc->thread, NULL, lifecycle_main, lc) != 0) goto err;
    lc->started = 1;
    return lc;
err:
    lifecycle_stop(lc);
    return NULL;
}

void lifecycle_stop(struct lifecycle *lc) {
    if (!lc) return;
    atomic_store(&lc->stop, 1);
    if (lc->started) pthread_join(lc->thread, NULL);
    timers_clear(lc);
    free(lc->timers);
    db_free(lc->db);
    db_free(lc->lock_db); /* closing the connection releases the lease */
    free(lc);
}
