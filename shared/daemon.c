/*
 * daemon: the start-up and shutdown every daemon shares (see daemon.h).
 * The health callback runs on a nats.c thread; it only touches health_db,
 * which nothing else uses, under its own mutex.
 */
#include "daemon.h"

#include "bus.h"
#include "db.h"
#include "log.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t health_lock = PTHREAD_MUTEX_INITIALIZER;

static int db_alive(struct daemon *d) {
    if (!d->health_db) return 1;
    pthread_mutex_lock(&health_lock);
    int ok = db_cmd(d->health_db, "SELECT 1", 0, NULL) == 0;
    pthread_mutex_unlock(&health_lock);
    return ok;
}

static int ops_health(void *ctx, json_t *detail) {
    struct daemon *d = ctx;
    int nats = bus_connected(d->nc);
    int db = db_alive(d);
    json_object_set_new(detail, "nats", json_boolean(nats));
    if (d->health_db) json_object_set_new(detail, "db", json_boolean(db));
    int extra = d->extra_health ? d->extra_health(d->extra_ctx, detail) : 1;
    return nats && db && extra;
}

static void on_health(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
    (void)sub;
    struct daemon *d = closure;
    int db = db_alive(d);
    json_t *r = json_pack("{s:b,s:s,s:s,s:b}", "ok", db, "daemon", d->name, "instance", d->instance,
                          "db", db);
    bus_respond(nc, msg, r);
    json_decref(r);
    natsMsg_Destroy(msg);
}

int daemon_start(struct daemon *d, const char *name, unsigned cfg, const char *health_subject,
                 int use_db) {
    memset(d, 0, sizeof(*d));
    d->name = name;
    log_init(name, LOG_LEVEL_INFO);
    if (config_load(cfg) != 0) return -1;
    int lvl = log_level_parse(config_str("QW_LOG_LEVEL"));
    if (lvl < 0) {
        LOG_ERROR("config_invalid", "var=QW_LOG_LEVEL reason=\"not debug, info, warn or error\"");
        return -1;
    }
    log_init(name, (enum log_level)lvl);
    const char *inst = config_str("QW_INSTANCE");
    if (inst && *inst)
        snprintf(d->instance, sizeof(d->instance), "%s", inst);
    else
        snprintf(d->instance, sizeof(d->instance), "%s-%d", name, (int)getpid());
    d->timeout_ms = (int)config_int("QW_REQUEST_TIMEOUT_MS");

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (use_db && !(d->health_db = db_open(config_str("QW_DB_URL")))) return -1;
    if (bus_connect(config_str("QW_NATS_URL"), d->instance, config_str("QW_NATS_USER"),
                    config_str("QW_NATS_PASSWORD_FILE"), config_str("QW_NATS_CA_FILE"),
                    &d->nc) != 0)
        return -1;
    if (health_subject &&
        natsConnection_Subscribe(&d->health, d->nc, health_subject, on_health, d) != NATS_OK) {
        LOG_ERROR("subscribe_failed", "subject=%s", health_subject);
        return -1;
    }
    int failed = 0;
    d->ops = ops_start(name, config_str("QW_OPS_ADDR"), (int)config_int("QW_OPS_PORT"), ops_health,
                       d, &failed);
    if (failed) return -1;
    LOG_INFO("started", "instance=%s pid=%d", d->instance, (int)getpid());
    return 0;
}

void daemon_wait(struct daemon *d) {
    (void)d;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    int sig = 0;
    sigwait(&set, &sig);
    LOG_INFO("stopping", "signal=%s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
}

void daemon_finish(struct daemon *d) {
    if (d->health) {
        natsSubscription_Unsubscribe(d->health);
        natsSubscription_Destroy(d->health);
        d->health = NULL;
    }
    ops_stop(d->ops);
    d->ops = NULL;
    bus_close(d->nc);
    d->nc = NULL;
    db_free(d->health_db);
    d->health_db = NULL;
    nats_Close();
    LOG_INFO("stopped", "");
}
