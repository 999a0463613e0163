/*
 * lease: one driver of every session. The instance holding the Postgres
 * advisory lock LEASE_KEY (on its own connection) drives; it heartbeats in
 * `session_lease` every QW_SESSION_LEASE_MS / 2 and steps down as soon as
 * its lock connection no longer holds the lock. A standby ends a hung
 * holder's connections once its heartbeat is older than the bound it
 * promised; a holder that was paused re-checks the lease before it acts
 * (lease_fresh). Runs on the lifecycle thread only.
 */
#include "clock.h"
#include "lifecycle.h"
#include "log.h"
#include "subjects.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEASE_KEY "7157002"      /* pg advisory lock held by the driving instance */
#define TERMINATE_WAIT_MS "2000" /* how long pg_terminate_backend waits for the exit */

/* Postgres's clock in ms: every instance compares heartbeats on this one. */
#define DB_NOW_MS "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"
#define LOCK_HELD                                                                                  \
    "EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = 0"                   \
    " AND objid = " LEASE_KEY " AND objsubid = 1 AND granted AND pid = pg_backend_pid())"
#define LEASE_ROW                                                                                  \
    "INSERT INTO session_lease (id, instance, lock_pid, state_pid, heartbeat_ms,"                  \
    " stale_after_ms) SELECT 1, $1, pg_backend_pid(), $2::int, " DB_NOW_MS ", $3::int"
#define LEASE_UPSERT                                                                               \
    " ON CONFLICT (id) DO UPDATE SET instance = EXCLUDED.instance,"                                \
    " lock_pid = EXCLUDED.lock_pid, state_pid = EXCLUDED.state_pid,"                               \
    " heartbeat_ms = EXCLUDED.heartbeat_ms, stale_after_ms = EXCLUDED.stale_after_ms"              \
    " RETURNING 1"

void lease_step_down(struct lifecycle *lc, const char *why) {
    if (lc->sub) {
        natsSubscription_Unsubscribe(lc->sub);
        natsSubscription_Destroy(lc->sub);
        lc->sub = NULL;
    }
    timers_clear(lc);
    lc->leader = 0;
    LOG_WARN("lease_lost", "reason=%s", why);
}

/* Writes the heartbeat row on lock_db. With `take` it first tries the lock,
 * in the same statement, so no holder is ever without its row; otherwise it
 * writes only while lock_db holds the lock. Returns 1 when this instance
 * holds the lease (and the row says so), else 0. */
static int lease_beat(struct lifecycle *lc, int take) {
    char state_pid[16], stale[16];
    int64_t sent = clock_mono_ms();
    snprintf(state_pid, sizeof(state_pid), "%d", lc->db->conn ? PQbackendPID(lc->db->conn) : 0);
    snprintf(stale, sizeof(stale), "%d", lc->stale_ms);
    const char *p[3] = {lc->sd->d.instance, state_pid, stale};
    PGresult *r = db_exec(lc->lock_db,
                          take ? "WITH got AS MATERIALIZED (SELECT pg_try_advisory_lock(" LEASE_KEY
                                 ") AS ok) " LEASE_ROW " FROM got WHERE ok" LEASE_UPSERT
                               : LEASE_ROW " WHERE " LOCK_HELD LEASE_UPSERT,
                          3, p);
    int held = r && PQntuples(r) == 1 && !db_broken(lc->lock_db);
    if (!r && take && !db_broken(lc->lock_db)) /* the lock may be ours without a row */
        db_cmd(lc->lock_db, "SELECT pg_advisory_unlock(" LEASE_KEY ")", 0, NULL);
    PQclear(r);
    if (held) lc->beat_mono_ms = sent;
    return held;
}

/* A hung holder (SIGSTOP, a stuck thread, a frozen VM) keeps its
 * connections and so the lock. When the row's heartbeat is older than the
 * bound its holder promised and its lock_pid still holds the lock, ends
 * that backend and the holder's state backend (one started before that
 * heartbeat, so never a recycled pid), which also rolls back whatever it
 * had half done. Copies the old instance name into `from`. Returns 1 when
 * it ended a holder. */
static int takeover_hung(struct lifecycle *lc, char *from, size_t fromlen) {
    PGresult *r = db_exec(
        lc->lock_db,
        "SELECT l.instance, " DB_NOW_MS " - l.heartbeat_ms,"
        " pg_terminate_backend(l.lock_pid, " TERMINATE_WAIT_MS "),"
        " (SELECT pg_terminate_backend(a.pid, " TERMINATE_WAIT_MS ") FROM pg_stat_activity a"
        "  WHERE a.pid = l.state_pid AND a.pid <> l.lock_pid"
        "  AND a.backend_start <= to_timestamp(l.heartbeat_ms / 1000.0))"
        " FROM session_lease l WHERE l.id = 1"
        " AND " DB_NOW_MS " - l.heartbeat_ms > l.stale_after_ms"
        " AND EXISTS (SELECT 1 FROM pg_locks k WHERE k.locktype = 'advisory' AND k.classid = 0"
        " AND k.objid = " LEASE_KEY " AND k.objsubid = 1 AND k.granted AND k.pid = l.lock_pid)",
        0, NULL);
    int ended = r && PQntuples(r) == 1;
    if (ended) {
        snprintf(from, fromlen, "%s", db_val(r, 0, 0));
        LOG_WARN("hung_holder_terminated", "old_instance=%s heartbeat_age_ms=%s lock=%s state=%s",
                 from, db_val(r, 0, 1), db_val(r, 0, 2),
                 db_val(r, 0, 3) ? db_val(r, 0, 3) : "none");
    }
    PQclear(r);
    return ended;
}

/* Tries once to take the lease (ending a hung holder first); on success
 * subscribes to commands and arms the timers of every open question at its
 * original deadline. */
void lease_try(struct lifecycle *lc) {
    PGresult *r = NULL;
    char from[64] = "";
    if (db_ensure(lc->lock_db) != 0 || db_ensure(lc->db) != 0) return;
    int got = lease_beat(lc, 1);
    if (!got && takeover_hung(lc, from, sizeof(from))) got = lease_beat(lc, 1);
    if (!got) return;
    lc->leader = 1;
    /* after a PostgreSQL restart the state connection is found broken only
     * by its first statement, which remakes it: one more try before the
     * lease is given up again (nothing was done yet, the scan is a read) */
    for (int tries = 0; !r && tries < 2; tries++)
        r = db_exec(lc->db,
                    "SELECT sid, question_idx, deadline_ms FROM sessions WHERE state = 'question'",
                    0, NULL);
    if (!r) {
        lease_step_down(lc, "timer_scan_failed");
        db_cmd(lc->lock_db, "SELECT pg_advisory_unlock(" LEASE_KEY ")", 0, NULL);
        return;
    }
    for (int i = 0; i < PQntuples(r); i++)
        timer_arm(lc, db_val(r, i, 0), atoi(db_val(r, i, 1)),
                  db_val(r, i, 2) ? atoll(db_val(r, i, 2)) : 0);
    if (*from)
        LOG_WARN("lease_taken_over_from_hung", "instance=%s old_instance=%s open_questions=%d",
                 lc->sd->d.instance, from, PQntuples(r));
    LOG_INFO("lease_taken", "instance=%s open_questions=%d", lc->sd->d.instance, PQntuples(r));
    PQclear(r);
    if (natsConnection_QueueSubscribeSync(&lc->sub, lc->sd->d.nc, SUBJ_SESSION_CMD,
                                          QUEUE_SESSION_CMD) != NATS_OK) {
        LOG_ERROR("subscribe_failed", "subject=%s", SUBJ_SESSION_CMD);
        lc->sub = NULL;
    }
    if (!lc->pool_done) lc->pool_done = main_pool_start(lc->sd, lc->db) == 0;
    lc->next_check_ms = lc->beat_mono_ms + lc->lease_ms / 2;
}

/* Heartbeats; steps down when lock_db no longer holds the lock. The check
 * asks pg_locks rather than "SELECT 1": db_exec reconnects a connection it
 * found broken, and a fresh connection answers anything while holding no
 * lock at all. Returns 1 while this instance holds the lease. */
int lease_check(struct lifecycle *lc) {
    if (!lease_beat(lc, 0)) {
        lease_step_down(lc, "lock_connection_broken");
        return 0;
    }
    lc->next_check_ms = lc->beat_mono_ms + lc->lease_ms / 2;
    return 1;
}

/* The fence before every command and timer: 1 while this instance may act
 * as the holder. Acting within lease_ms of a confirmed heartbeat is safe (a
 * standby waits stale_ms, three times that, before it ends a holder); after
 * a longer gap the thread was paused or stuck and a standby may have taken
 * over, so it heartbeats first and steps down when that fails. */
int lease_fresh(struct lifecycle *lc) {
    if (!lc->leader) return 0;
    int64_t gap = clock_mono_ms() - lc->beat_mono_ms;
    if (gap < lc->lease_ms) return 1;
    LOG_WARN("lease_pause_detected", "since_heartbeat_ms=%lld", (long long)gap);
    return lease_check(lc);
}
