/*
 * qw-session: wiring only. Starts the shared daemon frame (settings, logging,
 * NATS, health, ops listener), waits for SIGTERM/SIGINT and stops cleanly.
 */
#include "daemon.h"
#include "subjects.h"

int main(void) {
    struct daemon d;
    if (daemon_start(&d, "session", CFG_SESSION, SUBJ_HEALTH_SESSION, 1) != 0) {
        daemon_finish(&d);
        return 1;
    }
    daemon_wait(&d);
    daemon_finish(&d);
    return 0;
}
