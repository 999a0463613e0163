/*
 * daemon: what every Quizwire daemon does around its own work.
 *
 * daemon_start() reads the settings, starts logging, blocks SIGTERM/SIGINT
 * in every thread (so only daemon_wait sees them), connects to NATS, answers
 * the daemon's health subject and opens the ops listener. daemon_wait()
 * returns on the first SIGTERM or SIGINT; daemon_finish() closes what
 * daemon_start() opened. The daemon's own threads are stopped in between.
 */
#ifndef QW_DAEMON_H
#define QW_DAEMON_H

#include "config.h"
#include "ops.h"

#include <nats/nats.h>

struct daemon {
    const char *name;           /* "auth", "session", ... (literal) */
    natsConnection *nc;         /* owned */
    struct ops *ops;            /* owned */
    natsSubscription *health;   /* owned */
    struct db *health_db;       /* owned; NULL for daemons without Postgres */
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

/* Blocks until SIGTERM or SIGINT. */
void daemon_wait(struct daemon *d);

/* Closes NATS, the ops listener and the health db. */
void daemon_finish(struct daemon *d);

#endif
