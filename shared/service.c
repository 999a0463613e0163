/*
 * service: worker threads over synchronous NATS queue subscriptions (see
 * service.h). Each worker owns one subscription and one db connection.
 */
#include "service.h"

#include "bus.h"
#include "log.h"
#include "reply.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct worker {
    struct service *svc;
    pthread_t thread;
    natsSubscription *sub;
    struct db *db;
    int started;
};

struct service {
    natsConnection *nc;
    const struct service_route *routes;
    void *ctx;
    atomic_int stop;
    int nworkers;
    struct worker *workers;
};

static void handle(struct worker *w, natsMsg *msg) {
    struct service *svc = w->svc;
    const char *subject = natsMsg_GetSubject(msg);
    json_t *reply = NULL;
    json_t *req = bus_parse(msg);
    const struct service_route *r = svc->routes;
    while (r->subject && strcmp(r->subject, subject) != 0)
        r++;
    if (!r->subject) {
        reply = reply_error(404, "not_found", "no handler for %s", subject);
    } else if (!req) {
        reply = reply_error(400, "bad_json", "request body is not a JSON object");
    } else {
        reply = r->fn(svc->ctx, w->db, req);
        if (!reply) reply = reply_error(500, "internal", "the request could not be handled");
    }
    bus_respond(svc->nc, msg, reply);
    json_decref(reply);
    json_decref(req);
}

static void *worker_main(void *arg) {
    struct worker *w = arg;
    while (!atomic_load(&w->svc->stop)) {
        natsMsg *msg = NULL;
        natsStatus s = natsSubscription_NextMsg(&msg, w->sub, 200);
        if (s == NATS_TIMEOUT) continue;
        if (s != NATS_OK) {
            usleep(100 * 1000); /* closed or slow consumer: look again shortly */
            continue;
        }
        handle(w, msg);
        natsMsg_Destroy(msg);
    }
    return NULL;
}

struct service *service_start(natsConnection *nc, const char *wildcard, const char *queue,
                              const struct service_route *routes, int nworkers, const char *dburl,
                              void *ctx) {
    struct service *svc = calloc(1, sizeof(*svc));
    if (!svc) return NULL;
    svc->nc = nc;
    svc->routes = routes;
    svc->ctx = ctx;
    svc->nworkers = nworkers;
    svc->workers = calloc((size_t)nworkers, sizeof(struct worker));
    if (!svc->workers) goto err;
    for (int i = 0; i < nworkers; i++) {
        struct worker *w = &svc->workers[i];
        w->svc = svc;
        if (dburl && !(w->db = db_open(dburl))) goto err;
        if (natsConnection_QueueSubscribeSync(&w->sub, nc, wildcard, queue) != NATS_OK) {
            LOG_ERROR("subscribe_failed", "subject=%s", wildcard);
            goto err;
        }
        natsSubscription_SetPendingLimits(w->sub, 100000, 256 * 1024 * 1024);
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) goto err;
        w->started = 1;
    }
    return svc;
err:
    service_stop(svc);
    return NULL;
}

void service_stop(struct service *svc) {
    if (!svc) return;
    atomic_store(&svc->stop, 1);
    for (int i = 0; svc->workers && i < svc->nworkers; i++) {
        struct worker *w = &svc->workers[i];
        if (w->sub) natsSubscription_Unsubscribe(w->sub);
        if (w->started) pthread_join(w->thread, NULL);
        natsSubscription_Destroy(w->sub);
        db_free(w->db);
    }
    free(svc->workers);
    free(svc);
}
