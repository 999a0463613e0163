/*
 * daemon: what every Quizwire daemon does around its own work.
 *
 * daemon_start() reads the settings, starts logging, blocks SIGTERM/SIGINT
 * in every thread (so only daemon_wait sees them), connects to NATS, starts
 * the database prober and opens the ops listener (liveness at once: GET
 * /livez). daemon_ready(), called once the daemon's workers subscribed,
 * makes it ready: only then does it answer its health subject, and /healthz
 * is 200 only while ready, NATS is up and (for daemons with Postgres) the
 * prober saw Postgres answer within QW_HEALTH_DB_MS. daemon_wait() returns
 * on the first SIGTERM or SIGINT; daemon_finish() closes what the others
 * opened. The daemon's own threads are stopped in between.
 */
#ifndef QW_DAEMON_H
#define QW_DAEMON_H

#include "config.h"
#include "ops.h"

#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>

struct daemon {
    const char *name;           /* "auth", "session", ... (literal) */
    natsConnection *nc;         /* owned */
    struct ops *ops;            /* owned */
    natsSubscription *health;   /* owned; subscribed by daemon_ready() */
    const char *health_subject; /* literal; NULL for the gateway */
    struct db *health_db;       /* owned by the prober thread; NULL without Postgres */
    pthread_t prober;           /* probes health_db every fraction of db_bound_ms */
    int prober_started;
    atomic_int stop;            /* tells the prober to end */
    atomic_int ready;           /* set by daemon_ready() */
    atomic_llong db_ok_ms;      /* mono ms of the last probe Postgres answered */
    int db_bound_ms;            /* QW_HEALTH_DB_MS */
    int db_was_fresh;           /* prober only: readiness by the db it last logged */
    char instance[64];          /* QW_INSTANCE or name-pid */
    int timeout_ms;             /* QW_REQUEST_TIMEOUT_MS */
    ops_health_fn extra_health; /* optional daemon-specific check */
    void *extra_ctx;
};

/* `cfg` is the daemon's config bit; `health_subject` may be NULL (gateway).
 * `use_db` opens a health db connection from QW_DB_URL (so a wrong URL
 * stops the daemon at start). Returns 0 or -1 after logging. */
int daemon_start(struct daemon *d, const char *name, unsigned cfg, const char *health_subject,
                 int use_db);

/* Marks the daemon ready: subscribes its health subject, flushes NATS (so
 * every subscription made before is known to the server), tells systemd
 * (READY=1 on $NOTIFY_SOCKET, for Type=notify units) and logs `ready`.
 * Returns 0 or -1 after logging. */
int daemon_ready(struct daemon *d);

/* Blocks until SIGTERM or SIGINT. */
void daemon_wait(struct daemon *d);

/* Stops the prober, closes NATS, the ops listener and the health db. */
void daemon_finish(struct daemon *d);

#endif
