/*
 * lease: which sessions this instance drives. Sessions are spread over
 * QUIZ_SHARDS shards (quiz_shard(sid)); a shard is driven by the instance
 * holding the Postgres advisory lock (SHARD_LOCK_KEY, shard) on its lock
 * connection, whose row in `session_shards` says so. Every
 * QW_SESSION_LEASE_MS / 2 an instance heartbeats its row of
 * `session_instances` and the rows of all its shards in one statement that
 * returns the shards it still holds (a shard missing is dropped with its
 * timers), ends a hung holder's connections once its heartbeat is older
 * than the bound it promised, and shares out the shards: with `live`
 * instances (fresh heartbeat, lock connection alive) it gives back what it
 * holds beyond ceil(QUIZ_SHARDS / live) + 1 and takes free shards up to
 * that, arming the open questions of the shards it took at their stored
 * deadlines. A holder that was paused re-checks its shards before it acts
 * (lease_fresh). Runs on the lifecycle thread only.
 */
#include "clock.h"
#include "lifecycle.h"
#include "log.h"
#include "metrics.h"
#include "quiz.h"
#include "subjects.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHARD_LOCK_KEY "7157003"  /* pg advisory lock (key, shard) per shard driven */
#define TERMINATE_WAIT_MS "2000"  /* how long pg_terminate_backend waits for the exit */
#define FORGET_INSTANCES_AFTER 20 /* session_instances rows older than this many bounds go */

/* Postgres's clock in ms: every instance compares heartbeats on this one. */
#define DB_NOW_MS "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"
/* Whether backend `pid` holds the lock of shard `shard` (SQL expressions). */
#define SHARD_LOCKED(shard, pid)                                                                   \
    "EXISTS (SELECT 1 FROM pg_locks k WHERE k.locktype = 'advisory'"                               \
    " AND k.classid = " SHARD_LOCK_KEY " AND k.objid = (" shard ")::oid AND k.objsubid = 2"        \
    " AND k.granted AND k.pid = " pid ")"

struct metric session_metric_shards = {"qw_session_shards_held",
                                       "Shards of sessions this session daemon drives", 1, 0};

/* Stops acting for `shard`: its command subscription and its timers. */
static void shard_drop(struct lifecycle *lc, int shard) {
    if (!lc->held[shard]) return;
    if (lc->subs[shard]) {
        natsSubscription_Unsubscribe(lc->subs[shard]);
        natsSubscription_Destroy(lc->subs[shard]);
        lc->subs[shard] = NULL;
    }
    timers_drop_shard(lc, shard);
    lc->held[shard] = 0;
    lc->nheld--;
    metric_set(&session_metric_shards, lc->nheld);
}

void lease_step_down(struct lifecycle *lc, const char *why) {
    int had = lc->nheld;
    for (int s = 0; s < QUIZ_SHARDS; s++)
        shard_drop(lc, s);
    if (had) LOG_WARN("lease_lost", "reason=%s shards=%d", why, had);
}

/* "{1,5,9}": the shards held, as a Postgres array literal. */
static void held_list(struct lifecycle *lc, char *buf, size_t size) {
    size_t o = (size_t)snprintf(buf, size, "{");
    for (int s = 0; s < QUIZ_SHARDS && o < size; s++)
        if (lc->held[s]) o += (size_t)snprintf(buf + o, size - o, "%s%d", o > 1 ? "," : "", s);
    if (o < size) snprintf(buf + o, size - o, "}");
}

/* The one heartbeat statement: rewrites this instance's session_instances
 * row and the rows of the shards it holds, only where its lock connection
 * still holds the shard's lock, and returns those shards. A shard not
 * returned is dropped; a failed statement drops them all (and lets go of
 * any lock the connection may still hold, so others can take them).
 * Returns 0, or -1 when it failed. */
static int lease_beat(struct lifecycle *lc) {
    char state_pid[16], stale[16], held[QUIZ_SHARDS * 3 + 3];
    int64_t sent = clock_mono_ms();
    snprintf(state_pid, sizeof(state_pid), "%d", lc->db->conn ? PQbackendPID(lc->db->conn) : 0);
    snprintf(stale, sizeof(stale), "%d", lc->stale_ms);
    held_list(lc, held, sizeof(held));
    const char *p[4] = {lc->sd->d.instance, state_pid, stale, held};
    PGresult *r =
        db_exec(lc->lock_db,
                "WITH me AS (INSERT INTO session_instances (instance, lock_pid, heartbeat_ms,"
                " stale_after_ms) VALUES ($1, pg_backend_pid(), " DB_NOW_MS ", $3::int)"
                " ON CONFLICT (instance) DO UPDATE SET lock_pid = EXCLUDED.lock_pid,"
                " heartbeat_ms = EXCLUDED.heartbeat_ms, stale_after_ms = EXCLUDED.stale_after_ms)"
                " UPDATE session_shards s SET heartbeat_ms = " DB_NOW_MS ", state_pid = $2::int,"
                " stale_after_ms = $3::int WHERE s.shard = ANY ($4::smallint[]) AND s.instance = $1"
                " AND s.lock_pid = pg_backend_pid() AND " SHARD_LOCKED(
                    "s.shard", "pg_backend_pid()") " RETURNING s.shard",
                4, p);
    unsigned char still[QUIZ_SHARDS] = {0};
    int ok = r && !db_broken(lc->lock_db);
    for (int i = 0; ok && i < PQntuples(r); i++) {
        int s = atoi(db_val(r, i, 0));
        if (s >= 0 && s < QUIZ_SHARDS) still[s] = 1;
    }
    PQclear(r);
    if (!ok) {
        lease_step_down(lc, db_broken(lc->lock_db) ? "lock_connection_broken" : "heartbeat_failed");
        if (!db_broken(lc->lock_db))
            db_cmd(lc->lock_db, "SELECT pg_advisory_unlock_all()", 0, NULL);
        return -1;
    }
    int lost = 0;
    for (int s = 0; s < QUIZ_SHARDS; s++)
        if (lc->held[s] && !still[s]) {
            shard_drop(lc, s);
            lost++;
        }
    if (lost) LOG_WARN("lease_lost", "reason=lock_connection_broken shards=%d", lost);
    lc->beat_mono_ms = sent;
    return 0;
}

/* A hung holder (SIGSTOP, a stuck thread, a frozen VM) keeps its
 * connections and so its shards' locks. For every lock_pid whose rows'
 * heartbeat is older than the bound its holder promised and which still
 * holds a shard lock, ends that backend and the holder's state backend
 * (one started before that heartbeat, so never a recycled pid), which also
 * rolls back whatever it had half done. Copies the first ended holder's
 * name into `from`. Returns how many holders it ended. */
static int takeover_hung(struct lifecycle *lc, char *from, size_t fromlen) {
    PGresult *r = db_exec(
        lc->lock_db,
        "WITH hung AS MATERIALIZED (SELECT s.lock_pid, min(s.state_pid) AS state_pid,"
        " min(s.instance) AS instance, max(s.heartbeat_ms) AS heartbeat_ms, count(*) AS shards"
        " FROM session_shards s WHERE s.lock_pid <> pg_backend_pid()"
        " AND " DB_NOW_MS " - s.heartbeat_ms > s.stale_after_ms"
        " AND " SHARD_LOCKED(
            "s.shard",
            "s.lock_pid") " GROUP BY s.lock_pid)"
                          " SELECT h.instance, " DB_NOW_MS " - h.heartbeat_ms, h.shards,"
                          " pg_terminate_backend(h.lock_pid, " TERMINATE_WAIT_MS "),"
                          " (SELECT pg_terminate_backend(a.pid, " TERMINATE_WAIT_MS
                          ") FROM pg_stat_activity a"
                          "  WHERE a.pid = h.state_pid AND a.pid <> h.lock_pid"
                          "  AND a.backend_start <= to_timestamp(h.heartbeat_ms / 1000.0))"
                          " FROM hung h",
        0, NULL);
    int n = r ? PQntuples(r) : 0;
    if (n) snprintf(from, fromlen, "%s", db_val(r, 0, 0));
    for (int i = 0; i < n; i++)
        LOG_WARN("hung_holder_terminated",
                 "instance=%s old_instance=%s heartbeat_age_ms=%s shards=%s lock=%s state=%s",
                 lc->sd->d.instance, db_val(r, i, 0), db_val(r, i, 1), db_val(r, i, 2),
                 db_val(r, i, 3), db_val(r, i, 4) ? db_val(r, i, 4) : "none");
    PQclear(r);
    return n;
}

/* How many shards this instance may hold: ceil(QUIZ_SHARDS / live) + 1,
 * live counting the instances with a fresh heartbeat whose lock connection
 * is still open (a killed one's closes with it). -1 on a db error. */
static int shard_cap(struct lifecycle *lc) {
    char forget[16];
    snprintf(forget, sizeof(forget), "%d", FORGET_INSTANCES_AFTER);
    const char *p[1] = {forget};
    db_cmd(lc->lock_db,
           "DELETE FROM session_instances WHERE " DB_NOW_MS " - heartbeat_ms >"
           " $1::int * stale_after_ms::bigint",
           1, p);
    PGresult *r = db_exec(lc->lock_db,
                          "SELECT count(*) FROM session_instances i WHERE " DB_NOW_MS
                          " - i.heartbeat_ms <= i.stale_after_ms"
                          " AND EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = i.lock_pid)",
                          0, NULL);
    int live = r && PQntuples(r) == 1 ? atoi(db_val(r, 0, 0)) : -1;
    PQclear(r);
    if (live < 0) return -1;
    if (live < 1) live = 1; /* this instance, whatever the row says */
    return (QUIZ_SHARDS + live - 1) / live + 1;
}

/* Gives back `n` of the shards held (the highest first): stops acting for
 * each, then deletes its row and lets go of its lock. */
static void shards_give(struct lifecycle *lc, int n) {
    char shard[16];
    for (int s = QUIZ_SHARDS - 1; s >= 0 && n > 0; s--) {
        if (!lc->held[s]) continue;
        shard_drop(lc, s);
        n--;
        snprintf(shard, sizeof(shard), "%d", s);
        const char *p[2] = {shard, lc->sd->d.instance};
        db_cmd(lc->lock_db,
               "WITH gone AS (DELETE FROM session_shards WHERE shard = $1::smallint"
               " AND instance = $2 AND lock_pid = pg_backend_pid())"
               " SELECT pg_advisory_unlock(" SHARD_LOCK_KEY ", $1::int)",
               2, p);
        LOG_INFO("shard_given", "instance=%s shard=%d", lc->sd->d.instance, s);
    }
}

/* Starts acting for the shards in `got` (the shards just locked): arms the
 * open questions of those shards at their stored deadlines (closing at
 * once those already past) and subscribes to their command subjects. When
 * the scan fails nothing is taken and the locks are let go. */
static void shards_start(struct lifecycle *lc, const unsigned char got[QUIZ_SHARDS], int ngot) {
    char list[QUIZ_SHARDS * 3 + 3], subject[64];
    size_t o = (size_t)snprintf(list, sizeof(list), "{");
    for (int s = 0; s < QUIZ_SHARDS; s++)
        if (got[s]) o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%d", o > 1 ? "," : "", s);
    snprintf(list + o, sizeof(list) - o, "}");
    const char *p[1] = {list};
    PGresult *r = NULL;
    /* after a PostgreSQL restart the state connection is found broken only
     * by its first statement, which remakes it: one more try (a read) */
    for (int tries = 0; !r && tries < 2; tries++)
        r = db_exec(lc->db,
                    "SELECT sid, question_idx, deadline_ms FROM sessions"
                    " WHERE state = 'question' AND quiz_shard(sid) = ANY ($1::int[])",
                    1, p);
    if (!r) {
        LOG_WARN("shards_not_taken", "reason=timer_scan_failed shards=%d", ngot);
        db_cmd(lc->lock_db,
               "SELECT pg_advisory_unlock(" SHARD_LOCK_KEY ", s) FROM unnest($1::int[]) s", 1, p);
        return;
    }
    for (int s = 0; s < QUIZ_SHARDS; s++) {
        if (!got[s]) continue;
        lc->held[s] = 1;
        lc->nheld++;
        snprintf(subject, sizeof(subject), "%s%d", SUBJ_SESSION_CMD_PREFIX, s);
        if (natsConnection_QueueSubscribeSync(&lc->subs[s], lc->sd->d.nc, subject,
                                              QUEUE_SESSION_CMD) != NATS_OK) {
            LOG_ERROR("subscribe_failed", "subject=%s", subject);
            lc->subs[s] = NULL;
        }
    }
    for (int i = 0; i < PQntuples(r); i++)
        timer_arm(lc, db_val(r, i, 0), atoi(db_val(r, i, 1)),
                  db_val(r, i, 2) ? atoll(db_val(r, i, 2)) : 0);
    metric_set(&session_metric_shards, lc->nheld);
    LOG_INFO("lease_taken", "instance=%s shards=%d held=%d open_questions=%d", lc->sd->d.instance,
             ngot, lc->nheld, PQntuples(r));
    PQclear(r);
}

/* Locks up to `n` free shards (no backend holds their lock) in one
 * statement that also writes their rows, then starts acting for them. */
static void shards_take(struct lifecycle *lc, int n) {
    char state_pid[16], stale[16], want[16];
    snprintf(state_pid, sizeof(state_pid), "%d", lc->db->conn ? PQbackendPID(lc->db->conn) : 0);
    snprintf(stale, sizeof(stale), "%d", lc->stale_ms);
    snprintf(want, sizeof(want), "%d", n);
    const char *p[4] = {lc->sd->d.instance, state_pid, stale, want};
    PGresult *r = db_exec(
        lc->lock_db,
        "WITH free AS MATERIALIZED (SELECT g.s FROM generate_series(0, 63) g(s)"
        " WHERE NOT EXISTS (SELECT 1 FROM pg_locks k WHERE k.locktype = 'advisory'"
        " AND k.classid = " SHARD_LOCK_KEY " AND k.objid = g.s::oid AND k.objsubid = 2"
        " AND k.granted) ORDER BY random() LIMIT $4::int),"
        " got AS MATERIALIZED (SELECT f.s FROM free f"
        " WHERE pg_try_advisory_lock(" SHARD_LOCK_KEY ", f.s))"
        " INSERT INTO session_shards (shard, instance, lock_pid, state_pid, heartbeat_ms,"
        " stale_after_ms) SELECT got.s, $1, pg_backend_pid(), $2::int, " DB_NOW_MS ", $3::int"
        " FROM got ON CONFLICT (shard) DO UPDATE SET instance = EXCLUDED.instance,"
        " lock_pid = EXCLUDED.lock_pid, state_pid = EXCLUDED.state_pid,"
        " heartbeat_ms = EXCLUDED.heartbeat_ms, stale_after_ms = EXCLUDED.stale_after_ms"
        " RETURNING shard",
        4, p);
    unsigned char got[QUIZ_SHARDS] = {0};
    int ngot = 0;
    for (int i = 0; r && !db_broken(lc->lock_db) && i < PQntuples(r); i++) {
        int s = atoi(db_val(r, i, 0));
        if (s >= 0 && s < QUIZ_SHARDS && !lc->held[s]) {
            got[s] = 1;
            ngot++;
        }
    }
    if (!r && !db_broken(lc->lock_db)) { /* locks may be ours without rows: keep only ours */
        char held[QUIZ_SHARDS * 3 + 3];
        held_list(lc, held, sizeof(held));
        const char *q[1] = {held};
        db_cmd(lc->lock_db,
               "SELECT pg_advisory_unlock(" SHARD_LOCK_KEY ", g.s) FROM generate_series(0, 63) g(s)"
               " WHERE g.s <> ALL ($1::int[]) AND " SHARD_LOCKED("g.s", "pg_backend_pid()"),
               1, q);
    }
    PQclear(r);
    if (ngot) shards_start(lc, got, ngot);
}

void lease_tick(struct lifecycle *lc) {
    lc->next_check_ms = clock_mono_ms() + lc->lease_ms / 2;
    if (db_ensure(lc->lock_db) != 0 || db_ensure(lc->db) != 0) {
        lease_step_down(lc, "database_unavailable");
        return;
    }
    if (lease_beat(lc) != 0) return;
    char from[64] = "";
    int hung = takeover_hung(lc, from, sizeof(from));
    int cap = shard_cap(lc);
    if (cap < 0) return;
    if (lc->nheld > cap) shards_give(lc, lc->nheld - cap);
    int before = lc->nheld;
    if (lc->nheld < cap) shards_take(lc, cap - lc->nheld);
    if (hung && lc->nheld > before)
        LOG_WARN("lease_taken_over_from_hung", "instance=%s old_instance=%s shards=%d",
                 lc->sd->d.instance, from, lc->nheld - before);
    if (!lc->pool_done && lc->held[quiz_shard("main")])
        lc->pool_done = main_pool_start(lc->sd, lc->db) == 0;
}

/* The fence before every command and timer: 1 while this instance may act
 * for `shard`. Acting within lease_ms of a confirmed heartbeat is safe (a
 * hung holder is ended only after stale_ms, three times that); after a
 * longer gap the thread was paused or stuck and another instance may have
 * taken the shard, so it heartbeats first and drops what it lost. */
int lease_fresh(struct lifecycle *lc, int shard) {
    if (shard < 0 || shard >= QUIZ_SHARDS || !lc->held[shard]) return 0;
    int64_t gap = clock_mono_ms() - lc->beat_mono_ms;
    if (gap < lc->lease_ms) return 1;
    LOG_WARN("lease_pause_detected", "since_heartbeat_ms=%lld", (long long)gap);
    if (lease_beat(lc) != 0) return 0;
    lc->next_check_ms = lc->beat_mono_ms + lc->lease_ms / 2;
    return lc->held[shard];
}
