/*
 * district: `qw-loadgen --sessions K`, a district at once. K sessions of
 * about N/K students each, each created and driven by its own instructor
 * socket through the public HTTP and WebSocket API only, questions opening
 * at staggered moments and closing by their own timers. It measures how
 * late each question closed after its deadline, fan-out and ack latency,
 * checks every ack against each session's results, and samples the session
 * daemon's CPU and memory. Client code only, on the net loop's one thread.
 */
#ifndef QW_STRESS_DISTRICT_H
#define QW_STRESS_DISTRICT_H

#include "net.h"

struct district_opts {
    const struct net_target *gw; /* borrowed: the gateways, students spread over them */
    int ngw;
    int sessions;     /* K */
    int students;     /* N in all, N/K a session (the first N%K get one more) */
    int questions;    /* Q a session */
    int time_limit_s; /* every question's timer */
    int spread_s;     /* the first questions open over this many seconds */
    int concurrency;  /* joins in flight */
    int quiet;        /* no table on stderr */
    unsigned seed;
    const char *pids_dir; /* borrowed: scripts/stack.sh's run/ folder, or NULL */
    const char *label;    /* borrowed, may be "" */
};

/* Runs the whole district and prints one JSON line on stdout (a table on
 * stderr unless quiet). The loop must be initialised (net_loop_init) and
 * the open-file limit raised for N + K sockets. Returns 0 when every check
 * passed, 1 otherwise. */
int district_run(const struct district_opts *o);

#endif
