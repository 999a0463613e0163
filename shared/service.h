/*
 * service: a pool of worker threads answering NATS requests, each worker
 * with its own Postgres connection and its own synchronous queue
 * subscription, so no lock is needed between requests.
 *
 * A handler gets the parsed request (borrowed) and the worker's db, and
 * returns the reply (the pool owns and frees it). Returning NULL answers
 * 500 internal. A request that is not a JSON object is answered 400 without
 * calling any handler. Handlers run on the worker threads only.
 */
#ifndef QW_SERVICE_H
#define QW_SERVICE_H

#include "db.h"

#include <jansson.h>
#include <nats/nats.h>

typedef json_t *(*service_fn)(void *ctx, struct db *db, json_t *req);

struct service_route {
    const char *subject; /* exact subject */
    service_fn fn;
};

struct service;

/* Subscribes `nworkers` workers to `wildcard` in queue group `queue` and
 * dispatches by exact subject through `routes` (NULL-terminated, borrowed
 * for the pool's life). `dburl` may be NULL for workers that need no db.
 * Returns the pool or NULL after logging. */
struct service *service_start(natsConnection *nc, const char *wildcard, const char *queue,
                              const struct service_route *routes, int nworkers, const char *dburl,
                              void *ctx);

/* Stops taking requests, finishes the ones in hand, joins the workers and
 * frees everything. Accepts NULL. */
void service_stop(struct service *svc);

#endif
