/*
 * lifecycle: the one thread that drives sessions (see lifecycle.h). While
 * it does not hold the lease it tries to take it every QW_SESSION_LEASE_MS;
 * while it does, it checks the lease at every tick (and at once when its
 * state connection broke), fires due timers, and answers `qw.session.cmd`
 * one at a time, each behind the lease fence. Taking the lease also has
 * session `main` follow QUIZ_POOL_PATH (main_pool.c), once per process.
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

#define LOOP_MAX_WAIT_MS 200 /* longest NextMsg wait, so stop is seen quickly */

static void *lifecycle_main(void *arg) {
    struct lifecycle *lc = arg;
    while (!atomic_load(&lc->stop)) {
        if (!lc->leader) {
            lease_try(lc);
            if (lc->leader) continue;
            for (int slept = 0; slept < lc->lease_ms && !atomic_load(&lc->stop); slept += 100)
                usleep(100 * 1000);
            continue;
        }
        /* Check the lock at every lease tick, and at once when the state
         * connection broke: that is how a Postgres restart shows itself,
         * and the lock died with it. Without this check db_exec would
         * reconnect lc->db and this instance would go on driving (timers,
         * commands) for up to lease_ms/2 while a standby already holds
         * the lease. */
        if ((clock_mono_ms() >= lc->next_check_ms || db_broken(lc->db)) && !lease_check(lc))
            continue;
        timers_fire(lc);
        natsMsg *msg = NULL;
        natsStatus s =
            lc->sub ? natsSubscription_NextMsg(&msg, lc->sub, timers_wait_ms(lc, LOOP_MAX_WAIT_MS))
                    : NATS_TIMEOUT;
        if (!lc->sub) usleep((useconds_t)timers_wait_ms(lc, LOOP_MAX_WAIT_MS) * 1000);
        if (s != NATS_OK) {
            if (s != NATS_TIMEOUT) usleep(50 * 1000);
            continue;
        }
        if (!lease_fresh(lc)) { /* woke from a pause and lost the lease: not ours */
            natsMsg_Destroy(msg);
            continue;
        }
        json_t *req = bus_parse(msg);
        json_t *reply = req ? handle_cmd(lc, req)
                            : reply_error(400, "bad_json", "request body is not a JSON object");
        bus_respond(lc->sd->d.nc, msg, reply);
        json_decref(reply);
        json_decref(req);
        natsMsg_Destroy(msg);
    }
    if (lc->leader) lease_step_down(lc, "stopping");
    return NULL;
}

struct lifecycle *lifecycle_start(struct session_daemon *sd) {
    struct lifecycle *lc = calloc(1, sizeof(*lc));
    if (!lc) return NULL;
    lc->sd = sd;
    lc->lease_ms = (int)config_int("QW_SESSION_LEASE_MS");
    lc->stale_ms = STALE_LEASES * lc->lease_ms;
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
