/*
 * rate_limit: sliding 60 s windows of tries per key, kept in Postgres
 * (table login_attempts) so every auth instance sees the same count. The
 * login limit keys by client IP; failed student joins by "join <ip>" (a
 * space never occurs in an IP), so the two never count against each other.
 * A per-key advisory lock lines up the tries of one key. Runs on the auth
 * workers.
 */
#include "auth.h"

#include "clock.h"

#include <stdio.h>
#include <stdlib.h>

/* Seconds until the oldest of `n` tries (the oldest at `oldest` ms) leaves
 * the window when n >= limit, else 0. */
static long wait_s(long n, long limit, long long oldest, long long t) {
    if (n < limit) return 0;
    long long wait_ms = oldest + RATE_LIMIT_WINDOW_MS - t;
    long w = (long)((wait_ms + 999) / 1000);
    return w < 1 ? 1 : w;
}

long rate_limit_try(struct db *db, const char *key, long limit, int count) {
    long result = -1;
    struct db_tx tx = {0};
    PGresult *r = NULL;
    char now[24], since[24];
    long long t = clock_wall_ms();
    snprintf(now, sizeof(now), "%lld", t);
    snprintf(since, sizeof(since), "%lld", t - RATE_LIMIT_WINDOW_MS);
    const char *p[] = {key, since, now};
    if (!count) { /* only asking: one read, no lock, so a NAT's joins never line up here */
        r = db_exec(db,
                    "SELECT count(*), coalesce(min(at_ms), 0) FROM login_attempts "
                    "WHERE ip = $1 AND at_ms > $2::bigint",
                    2, p);
        if (r)
            result = wait_s(strtol(PQgetvalue(r, 0, 0), NULL, 10), limit,
                            strtoll(PQgetvalue(r, 0, 1), NULL, 10), t);
        goto cleanup;
    }
    if (db_tx_begin(db, &tx) != 0) goto cleanup;
    /* one counter per key across every auth instance */
    if (db_tx_cmd(&tx, "SELECT pg_advisory_xact_lock(hashtext('login:' || $1))", 1, p) != 0)
        goto cleanup;
    if (db_tx_cmd(&tx, "DELETE FROM login_attempts WHERE ip = $1 AND at_ms <= $2::bigint", 2, p) !=
        0)
        goto cleanup;
    r = db_tx_exec(&tx,
                   "SELECT count(*), coalesce(min(at_ms), 0) FROM login_attempts "
                   "WHERE ip = $1 AND at_ms > $2::bigint",
                   2, p);
    if (!r) goto cleanup;
    long wait = wait_s(strtol(PQgetvalue(r, 0, 0), NULL, 10), limit,
                       strtoll(PQgetvalue(r, 0, 1), NULL, 10), t);
    if (wait > 0) {
        result = wait;
        goto cleanup; /* refused tries are not counted */
    }
    const char *ins[] = {key, now};
    if (db_tx_cmd(&tx, "INSERT INTO login_attempts (ip, at_ms) VALUES ($1, $2::bigint)", 2, ins) !=
        0)
        goto cleanup;
    if (db_tx_commit(&tx) != 0) goto cleanup;
    result = 0;
cleanup:
    db_tx_rollback(&tx);
    PQclear(r);
    return result;
}
