/*
 * ops: the operator's listener every daemon runs on QW_OPS_PORT.
 *
 * GET /healthz (readiness) answers 200 {"ok":true,...} or 503
 * {"ok":false,...} from a check the daemon supplies; GET /livez (liveness)
 * answers 200 whenever the process serves requests at all; GET /metrics
 * answers Prometheus text. Runs on
 * libmicrohttpd's own thread; the check must be thread-safe and quick.
 */
#ifndef QW_OPS_H
#define QW_OPS_H

#include <jansson.h>

/* Fills `detail` (an object it may add fields to) and returns 1 when
 * healthy, 0 otherwise. */
typedef int (*ops_health_fn)(void *ctx, json_t *detail);

struct ops;

/* Starts listening; port 0 starts nothing and returns NULL without error
 * (*failed stays 0). On failure logs, sets *failed=1 and returns NULL. */
struct ops *ops_start(const char *daemon, const char *addr, int port, ops_health_fn fn, void *ctx,
                      int *failed);

/* Stops and frees. Accepts NULL. */
void ops_stop(struct ops *ops);

#endif
