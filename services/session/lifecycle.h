/*
 * lifecycle: what the files of the lifecycle thread share. One thread
 * (lifecycle.c) owns everything here: the lease (lease.c), the question
 * timers (timers.c), the state changes (transitions.c) and the command
 * dispatch (handle_cmd.c). Nothing in it is touched from another thread,
 * so it has no lock; Postgres row locks order it against scoring.
 * Sessions are spread over QUIZ_SHARDS shards; an instance acts only for
 * the shards it holds and must never act for one after losing it
 * (lease_fresh is the fence before every command and timer).
 */
#ifndef QW_SESSION_LIFECYCLE_H
#define QW_SESSION_LIFECYCLE_H

#include "metrics.h"
#include "quiz.h"
#include "session.h"

#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

struct timer {
    char *sid;           /* owned */
    int shard;           /* quiz_shard(sid) */
    int idx;             /* question the timer closes */
    int64_t deadline_ms; /* wall ms */
    int64_t retry_ms;    /* wall ms before which a failed close is not retried */
};

struct lifecycle {
    struct session_daemon *sd; /* borrowed */
    pthread_t thread;
    int started;
    atomic_int stop;
    struct db *lock_db;                  /* owned: holds the advisory lock of every shard held */
    struct db *db;                       /* owned: every state change */
    natsSubscription *subs[QUIZ_SHARDS]; /* owned: qw.session.cmd.<shard>, shards held only */
    unsigned char held[QUIZ_SHARDS];     /* 1 for the shards this instance drives */
    int nheld;
    int next_sub;          /* where the next command poll starts (round robin) */
    int lease_ms;          /* QW_SESSION_LEASE_MS */
    int stale_ms;          /* STALE_LEASES * lease_ms: promised heartbeat bound */
    int64_t next_check_ms; /* mono ms of the next lease tick */
    int64_t beat_mono_ms;  /* mono ms when the last confirmed heartbeat was sent */
    struct timer *timers;  /* owned array */
    int ntimers, cap;
    int pool_done; /* QUIZ_POOL_PATH handled (once per process) */
};

/* ---- lease.c ---------------------------------------------------------- */

#define STALE_LEASES 3 /* heartbeat older than this many QW_SESSION_LEASE_MS: hung */

/* gauge: the shards this instance holds (also /healthz "shards") */
extern struct metric session_metric_shards;

/* One lease tick (every QW_SESSION_LEASE_MS / 2): heartbeats and drops the
 * shards no longer held, ends hung holders, gives back shards beyond this
 * instance's share and takes free ones up to it (arming their timers and
 * subscribing to their commands). */
void lease_tick(struct lifecycle *lc);
/* The fence before every command and timer of `shard`: 1 while this
 * instance may act for it. */
int lease_fresh(struct lifecycle *lc, int shard);
/* Drops every shard: unsubscribes and drops every timer. */
void lease_step_down(struct lifecycle *lc, const char *why);

/* ---- timers.c --------------------------------------------------------- */

void timer_arm(struct lifecycle *lc, const char *sid, int idx, int64_t deadline_ms);
void timer_remove(struct lifecycle *lc, const char *sid);
void timers_clear(struct lifecycle *lc);
/* Drops the timers of the sessions of `shard`. */
void timers_drop_shard(struct lifecycle *lc, int shard);
/* Closes every question whose deadline passed (retrying failed closes). */
void timers_fire(struct lifecycle *lc);
/* ms until the next timer is due, at most `max_ms` (at least 1). */
int64_t timers_wait_ms(struct lifecycle *lc, int64_t max_ms);

/* ---- transitions.c: each one transaction, its event after COMMIT ------- */

/* Open question `idx`: 0, or -1 (nothing changed). */
int step_open(struct lifecycle *lc, const char *sid, int idx);
/* Whether question `idx`'s timer must wait for students with extra time
 * (who are in and have not answered): 1 with *until_ms the latest of
 * their own deadlines (wall ms), 0 when nobody is left, -1 on a db error. */
int step_hold(struct lifecycle *lc, const char *sid, int idx, int64_t *until_ms);
/* Close question `idx` if still open: 1 closed, 0 nothing to close, -1 error. */
int step_close(struct lifecycle *lc, const char *sid, int idx);
/* End (not already ended, no open question): 0, or -1. */
int step_end(struct lifecycle *lc, const char *sid);
/* Back to the lobby, students and answers gone, epoch+1: 0, or -1. */
int step_reset(struct lifecycle *lc, const char *sid);

/* ---- handle_cmd.c ----------------------------------------------------- */

/* Answers one {"sid","cmd"} request (borrowed) that came on shard
 * `shard`'s subject. Returns a new reply. */
json_t *handle_cmd(struct lifecycle *lc, json_t *req, int shard);

#endif
