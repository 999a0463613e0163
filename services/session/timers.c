/*
 * timers: the question timers of the sessions this instance drives, one
 * per session, at the question's absolute deadline (stored in Postgres, so
 * a restart or a takeover re-arms them where they were). A close that
 * failed (the database is down) is retried after TIMER_RETRY_MS. At the
 * deadline a question stays open while a student with extra time is in and
 * has not answered, looked at again every TIMER_HOLD_POLL_MS until the
 * last such deadline (docs/API.md "Extra time"). Runs on
 * the lifecycle thread only; a shard's timers are dropped when it is lost.
 */
#include "clock.h"
#include "lifecycle.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TIMER_RETRY_MS 250     /* a close that failed (db down) is retried after */
#define TIMER_HOLD_POLL_MS 500 /* while held for extra time: how often to look again */

void timer_remove(struct lifecycle *lc, const char *sid) {
    for (int i = 0; i < lc->ntimers; i++) {
        if (strcmp(lc->timers[i].sid, sid) != 0) continue;
        free(lc->timers[i].sid);
        lc->timers[i] = lc->timers[--lc->ntimers];
        return;
    }
}

void timer_arm(struct lifecycle *lc, const char *sid, int idx, int64_t deadline_ms) {
    timer_remove(lc, sid);
    if (lc->ntimers == lc->cap) {
        int cap = lc->cap ? lc->cap * 2 : 16;
        struct timer *t = realloc(lc->timers, sizeof(*t) * (size_t)cap);
        if (!t) {
            LOG_ERROR("timer_arm_failed", "sid=%s reason=oom", sid);
            return;
        }
        lc->timers = t;
        lc->cap = cap;
    }
    char *copy = strdup(sid);
    if (!copy) return;
    lc->timers[lc->ntimers++] = (struct timer){copy, quiz_shard(sid), idx, deadline_ms, 0};
}

void timers_clear(struct lifecycle *lc) {
    for (int i = 0; i < lc->ntimers; i++)
        free(lc->timers[i].sid);
    lc->ntimers = 0;
}

void timers_drop_shard(struct lifecycle *lc, int shard) {
    for (int i = 0; i < lc->ntimers; i++) {
        if (lc->timers[i].shard != shard) continue;
        free(lc->timers[i].sid);
        lc->timers[i--] = lc->timers[--lc->ntimers];
    }
}

void timers_fire(struct lifecycle *lc) {
    int64_t now = clock_wall_ms();
    for (int i = 0; i < lc->ntimers; i++) {
        struct timer *t = &lc->timers[i];
        if (t->deadline_ms > now || t->retry_ms > now) continue;
        char sid[256];
        snprintf(sid, sizeof(sid), "%s", t->sid);
        if (!lease_fresh(lc, t->shard)) { /* the shard was lost: so is its timer */
            timer_remove(lc, sid);
            i = -1;
            continue;
        }
        /* students with extra time keep the question open until their own
         * deadline (or their answer); everybody else was closed at theirs */
        int64_t until = 0;
        int hold = step_hold(lc, sid, t->idx, &until);
        if (hold == 1) {
            t->deadline_ms = until < now + TIMER_HOLD_POLL_MS ? until : now + TIMER_HOLD_POLL_MS;
            continue;
        }
        int rc = hold < 0 ? -1 : step_close(lc, sid, t->idx); /* removes the timer unless failed */
        if (rc < 0) {
            for (int j = 0; j < lc->ntimers; j++)
                if (strcmp(lc->timers[j].sid, sid) == 0)
                    lc->timers[j].retry_ms = now + TIMER_RETRY_MS;
        }
        i = -1; /* the array may have changed: scan again */
        now = clock_wall_ms();
    }
}

int64_t timers_wait_ms(struct lifecycle *lc, int64_t max_ms) {
    int64_t wait = max_ms, now = clock_wall_ms();
    for (int i = 0; i < lc->ntimers; i++) {
        int64_t at = lc->timers[i].deadline_ms;
        if (lc->timers[i].retry_ms > at) at = lc->timers[i].retry_ms;
        if (at - now < wait) wait = at - now;
    }
    return wait < 1 ? 1 : wait;
}
