/*
 * daemon: the start-up, readiness and shutdown every daemon shares (see
 * daemon.h). The prober thread alone uses health_db: it sends SELECT 1
 * without blocking and stamps db_ok_ms when Postgres answers, so the health
 * answers (nats.c thread, libmicrohttpd thread) only read atomics and stay
 * quick even while Postgres hangs.
 */
#include "daemon.h"

#include "bus.h"
#include "clock.h"
#include "db.h"
#include "log.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define PROBE_SLICE_MS 100 /* longest wait before the prober looks at `stop` */
#define PROBE_GIVE_UP 5    /* a probe unanswered for this many bounds drops its connection */

static int db_fresh(struct daemon *d) {
    if (!d->health_db) return 1;
    return clock_mono_ms() - atomic_load(&d->db_ok_ms) <= d->db_bound_ms;
}

/* Logs when readiness by the database changes (prober thread only). */
static void note_db_state(struct daemon *d) {
    int fresh = db_fresh(d);
    if (fresh == d->db_was_fresh) return;
    if (fresh)
        LOG_INFO("db_ready", "bound_ms=%d", d->db_bound_ms);
    else
        LOG_WARN("db_unready", "bound_ms=%d reason=\"no answer within the bound\"", d->db_bound_ms);
    d->db_was_fresh = fresh;
}

/* Sends SELECT 1 on health_db and waits for the answer in slices, so a stop
 * is seen. Returns 0 when Postgres answered; -1 when it could not be asked,
 * failed, or kept silent for `give_up_ms` (the connection is then dropped
 * and the next probe reconnects). */
static int probe_once(struct daemon *d, int give_up_ms) {
    struct db *db = d->health_db;
    int ok = 1;
    if (db_ensure(db) != 0) return -1;
    if (!PQsendQuery(db->conn, "SELECT 1")) goto broken;
    int64_t start = clock_mono_ms();
    while (PQisBusy(db->conn)) {
        if (atomic_load(&d->stop) || clock_mono_ms() - start > give_up_ms) goto broken;
        struct pollfd p = {.fd = PQsocket(db->conn), .events = POLLIN};
        if (poll(&p, 1, PROBE_SLICE_MS) < 0 && errno != EINTR) goto broken;
        if (!PQconsumeInput(db->conn)) goto broken;
        note_db_state(d);
    }
    PGresult *r;
    while ((r = PQgetResult(db->conn))) {
        if (PQresultStatus(r) != PGRES_TUPLES_OK) ok = 0;
        PQclear(r);
    }
    return ok ? 0 : -1;
broken:
    PQfinish(db->conn);
    db->conn = NULL;
    return -1;
}

static void *prober_main(void *arg) {
    struct daemon *d = arg;
    int interval = d->db_bound_ms / 4;
    while (!atomic_load(&d->stop)) {
        int64_t t0 = clock_mono_ms();
        if (probe_once(d, d->db_bound_ms * PROBE_GIVE_UP) == 0)
            atomic_store(&d->db_ok_ms, clock_mono_ms());
        note_db_state(d);
        while (!atomic_load(&d->stop) && clock_mono_ms() - t0 < interval)
            usleep(PROBE_SLICE_MS * 1000 / 2);
    }
    return NULL;
}

static int ops_health(void *ctx, json_t *detail) {
    struct daemon *d = ctx;
    int nats = bus_connected(d->nc);
    int ready = atomic_load(&d->ready);
    int db = db_fresh(d);
    json_object_set_new(detail, "ready", json_boolean(ready));
    json_object_set_new(detail, "nats", json_boolean(nats));
    if (d->health_db) json_object_set_new(detail, "db", json_boolean(db));
    int extra = d->extra_health ? d->extra_health(d->extra_ctx, detail) : 1;
    return ready && nats && db && extra;
}

static void on_health(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
    (void)sub;
    struct daemon *d = closure;
    int db = db_fresh(d);
    int ready = atomic_load(&d->ready);
    json_t *r = json_pack("{s:b,s:s,s:s,s:b,s:b}", "ok", db && ready, "daemon", d->name, "instance",
                          d->instance, "db", db, "ready", ready);
    bus_respond(nc, msg, r);
    json_decref(r);
    natsMsg_Destroy(msg);
}

/* READY=1 to systemd when started by a Type=notify unit: NOTIFY_SOCKET is
 * systemd's own variable, not a Quizwire setting. */
static void notify_systemd(void) {
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (!path || (path[0] != '/' && path[0] != '@')) return;
    size_t len = strlen(path);
    if (len >= sizeof(sa.sun_path)) return;
    memcpy(sa.sun_path, path, len);
    if (sa.sun_path[0] == '@') sa.sun_path[0] = '\0'; /* abstract socket */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    if (sendto(fd, "READY=1", 7, 0, (struct sockaddr *)&sa,
               (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
        LOG_WARN("notify_failed", "errno=%d", errno);
    close(fd);
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

    d->health_subject = health_subject;
    if (use_db) {
        d->db_bound_ms = (int)config_int("QW_HEALTH_DB_MS");
        if (!(d->health_db = db_open(config_str("QW_DB_URL")))) return -1;
        atomic_store(&d->db_ok_ms, clock_mono_ms());
        d->db_was_fresh = 1;
        if (pthread_create(&d->prober, NULL, prober_main, d) != 0) return -1;
        d->prober_started = 1;
    }
    if (bus_connect(config_str("QW_NATS_URL"), d->instance, config_str("QW_NATS_USER"),
                    config_str("QW_NATS_PASSWORD_FILE"), config_str("QW_NATS_CA_FILE"),
                    &d->nc) != 0)
        return -1;
    int failed = 0;
    d->ops = ops_start(name, config_str("QW_OPS_ADDR"), (int)config_int("QW_OPS_PORT"), ops_health,
                       d, &failed);
    if (failed) return -1;
    LOG_INFO("started", "instance=%s pid=%d", d->instance, (int)getpid());
    return 0;
}

int daemon_ready(struct daemon *d) {
    if (d->health_subject &&
        natsConnection_Subscribe(&d->health, d->nc, d->health_subject, on_health, d) != NATS_OK) {
        LOG_ERROR("subscribe_failed", "subject=%s", d->health_subject);
        return -1;
    }
    /* the server knows every subscription made so far once this returns */
    if (natsConnection_FlushTimeout(d->nc, d->timeout_ms) != NATS_OK) {
        LOG_ERROR("nats_flush_failed", "timeout_ms=%d", d->timeout_ms);
        return -1;
    }
    atomic_store(&d->ready, 1);
    notify_systemd();
    LOG_INFO("ready", "instance=%s", d->instance);
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
    atomic_store(&d->stop, 1);
    atomic_store(&d->ready, 0);
    if (d->prober_started) pthread_join(d->prober, NULL);
    d->prober_started = 0;
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
    /* nats_Close() returns while the library's own threads (timers, the
     * reader and flusher of the connection just destroyed) may still be
     * running, and exit() then frees what they use: a gateway once died
     * with a SEGV after `stopped`. Wait for them, bounded, so a daemon's
     * exit never races them; a thread still out after 5 s is logged. */
    natsStatus ns = nats_CloseAndWait(5000);
    if (ns != NATS_OK) LOG_WARN("nats_close_slow", "status=\"%s\"", natsStatus_GetText(ns));
    LOG_INFO("stopped", "");
}
