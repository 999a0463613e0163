/*
 * ws_server: the gateway's one WebSocket thread (see ws.h): epoll over every
 * upgraded socket plus an eventfd, the inbox other threads feed, the table
 * of sockets, the tick (request deadlines in ws_requests.c, pings), and the
 * resync after a NATS reconnect (events sent meanwhile were lost to us).
 *
 * Threads: ws_server_adopt() and the nats.c callbacks here run on foreign
 * threads and only push to the inbox under `lock`; everything else runs on
 * the loop thread (ws_loop.c), which never blocks on anything but
 * epoll_wait.
 */
#include "ws_server.h"

#include "bus.h"
#include "clock.h"
#include "http.h"
#include "log.h"
#include "subjects.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

struct metric ws_metric_open = {"qw_ws_open_sockets", "WebSocket connections open now", 1, 0};
struct metric ws_metric_in = {"qw_ws_messages_in_total", "WebSocket text messages read", 0, 0};
struct metric ws_metric_out = {"qw_ws_messages_out_total", "WebSocket text messages queued", 0, 0};
struct metric ws_metric_dropped = {"qw_ws_dropped_slow_total",
                                   "sockets dropped because their write queue overflowed", 0, 0};
struct metric ws_metric_read_states = {
    "qw_ws_read_states",
    "frame read states allocated (a socket borrows one only while a frame is partly read)", 1, 0};
struct metric ws_metric_mhd_held = {
    "qw_ws_mhd_held", "sockets still holding libmicrohttpd's connection (not released)", 1, 0};
struct metric ws_metric_pongs_ignored = {
    "qw_ws_pongs_ignored_total", "pongs that echoed no outstanding ping (unsolicited, forged)", 0,
    0};

struct gateway *ws_server_gateway(struct ws_server *srv) {
    return srv->gw;
}
int ws_server_max_queue(struct ws_server *srv) {
    return srv->max_queue;
}
int ws_server_per_student(struct ws_server *srv) {
    return srv->per_student;
}
int64_t ws_server_ping_ms(struct ws_server *srv) {
    return srv->ping_ms;
}
int64_t ws_server_rtt_cap_ms(struct ws_server *srv) {
    return srv->rtt_cap_ms;
}
struct ws_sess **ws_server_sessions(struct ws_server *srv) {
    return &srv->sessions;
}
struct ws_rx **ws_server_spare_rx(struct ws_server *srv) {
    return &srv->spare_rx;
}
int ws_server_placeholder_fd(struct ws_server *srv) {
    return srv->placeholder_fd;
}

/* Appends `it` (taken) to the inbox; `lock` held. */
static void append_locked(struct ws_server *srv, struct item *it) {
    if (srv->in_tail)
        srv->in_tail->next = it;
    else
        srv->in_head = it;
    srv->in_tail = it;
}

/* Wakes the loop. Any thread. */
static void wake(struct ws_server *srv) {
    uint64_t one = 1;
    ssize_t w = write(srv->evfd, &one, sizeof(one));
    (void)w;
}

/* Appends `it` (taken) to the inbox and wakes the loop. Any thread.
 * Only the item that finds the inbox empty writes the eventfd: the loop
 * reads the eventfd before it takes the whole inbox under the lock, so an
 * item appended behind another is taken with the one that woke it. In a
 * submit burst this saves a write(2) and a wake-up per ack. */
static void push(struct ws_server *srv, struct item *it) {
    it->pushed_us = clock_mono_us();
    pthread_mutex_lock(&srv->lock);
    int was_empty = srv->in_head == NULL;
    append_locked(srv, it);
    pthread_mutex_unlock(&srv->lock);
    if (was_empty) wake(srv);
}

static struct item *item_new(enum item_kind kind, const char *data, size_t len) {
    struct item *it = calloc(1, sizeof(*it));
    if (!it) return NULL;
    it->kind = kind;
    if (len) {
        it->data = malloc(len + 1);
        if (!it->data) {
            free(it);
            return NULL;
        }
        memcpy(it->data, data, len);
        it->data[len] = '\0';
        it->len = len;
    }
    return it;
}

void ws_server_push_event(struct ws_server *srv, const char *sid, const char *data, size_t len) {
    struct item *it = item_new(ITEM_EVENT, data, len);
    if (!it) return;
    snprintf(it->sid, sizeof(it->sid), "%s", sid);
    push(srv, it);
}

/* nats.c thread: a reply to one of our requests, subject "<inbox>.<id>". */
static void on_reply(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
    (void)nc;
    (void)sub;
    struct ws_server *srv = closure;
    const char *subj = natsMsg_GetSubject(msg);
    const char *dot = strrchr(subj, '.');
    int len = natsMsg_GetDataLength(msg);
    struct item *it =
        dot ? item_new(ITEM_REPLY, natsMsg_GetData(msg), len > 0 ? (size_t)len : 0) : NULL;
    if (it) {
        it->req_id = strtoull(dot + 1, NULL, 10);
        push(srv, it);
    }
    natsMsg_Destroy(msg);
}

/* nats.c thread: a logout somewhere; its login id goes to the loop. */
static void on_revoked(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
    (void)nc;
    (void)sub;
    json_error_t err;
    int len = natsMsg_GetDataLength(msg);
    json_t *j = len > 0 ? json_loadb(natsMsg_GetData(msg), (size_t)len, 0, &err) : NULL;
    const char *login = json_string_value(json_object_get(j, "login"));
    struct item *it = login && *login && strlen(login) < sizeof(((struct ws_claims *)0)->login)
                          ? item_new(ITEM_REVOKED, login, strlen(login))
                          : NULL;
    if (it) push(closure, it);
    json_decref(j);
    natsMsg_Destroy(msg);
}

/* nats.c thread (bus hook): the connection is back; events published on
 * our subjects while it was away never reached us. */
static void on_reconnected(void *ctx) {
    struct item *it = item_new(ITEM_RESYNC, NULL, 0);
    if (it) push(ctx, it);
}

void ws_server_adopt(struct ws_server *srv, const struct ws_claims *cl, int fd,
                     struct MHD_UpgradeResponseHandle *urh, const char *extra, size_t extra_len) {
    struct item *it = item_new(ITEM_CONN, extra, extra_len);
    int queued = 0;
    if (it) {
        it->who = *cl;
        it->fd = fd;
        it->urh = urh;
        /* one critical section: ws_server_stop sets `closed` and empties
         * the inbox under the same lock, so a socket is either in the inbox
         * before that (and closed there) or refused here, never left behind */
        pthread_mutex_lock(&srv->lock);
        if (!srv->closed && !atomic_load(&srv->stopping)) {
            append_locked(srv, it);
            queued = 1;
        }
        pthread_mutex_unlock(&srv->lock);
    }
    if (queued) {
        wake(srv);
        return;
    }
    if (it) free(it->data);
    free(it);
    MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
}

void ws_server_dirty(struct ws_conn *c) {
    if (c->dirty) return;
    c->dirty = 1;
    c->dirty_next = c->srv->dirty;
    c->srv->dirty = c;
}

int ws_server_request(struct ws_server *srv, const struct ws_req_ctx *ctx, const char *subject,
                      const json_t *req) {
    return ws_requests_send(&srv->requests, srv->gw->d.nc, ctx, subject, req);
}

int ws_server_start(struct gateway *gw) {
    struct ws_server *srv = calloc(1, sizeof(*srv));
    natsInbox *inbox = NULL;
    if (!srv) return -1;
    srv->gw = gw;
    srv->epfd = srv->evfd = -1;
    /* without it every socket keeps MHD's connection: more memory, still correct */
    srv->placeholder_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    srv->max_queue = (int)config_int("QW_WS_MAX_QUEUE");
    srv->per_student = (int)config_int("QW_WS_PER_STUDENT");
    srv->ping_ms = config_int("QW_PING_INTERVAL_MS");
    srv->rtt_cap_ms = config_int("QW_RTT_CAP_MS");
    pthread_mutex_init(&srv->lock, NULL);
    gw->ws = srv;
    metrics_register(&ws_metric_open);
    metrics_register(&ws_metric_in);
    metrics_register(&ws_metric_out);
    metrics_register(&ws_metric_dropped);
    metrics_register(&ws_metric_pongs_ignored);
    metrics_register(&ws_metric_read_states);
    metrics_register(&ws_metric_mhd_held);
    srv->epfd = epoll_create1(EPOLL_CLOEXEC);
    srv->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (srv->epfd < 0 || srv->evfd < 0) goto fail;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->evfd, &ev) != 0) goto fail;
    if (natsInbox_Create(&inbox) != NATS_OK) goto fail;
    int inbox_ok = ws_requests_init(&srv->requests, (const char *)inbox, gw->d.timeout_ms) == 0;
    natsInbox_Destroy(inbox);
    if (!inbox_ok) goto fail;
    char subj[96];
    snprintf(subj, sizeof(subj), "%s.*", srv->requests.inbox);
    if (natsConnection_Subscribe(&srv->reply_sub, gw->d.nc, subj, on_reply, srv) != NATS_OK)
        goto fail;
    natsSubscription_SetPendingLimits(srv->reply_sub, -1, -1);
    if (natsConnection_Subscribe(&srv->revoked_sub, gw->d.nc, SUBJ_ADMIN_REVOKED, on_revoked,
                                 srv) != NATS_OK)
        goto fail;
    if (pthread_create(&srv->thread, NULL, ws_loop_run, srv) != 0) goto fail;
    srv->started = 1;
    bus_on_reconnected(on_reconnected, srv);
    LOG_INFO("ws_started", "max_queue=%d ping_ms=%lld rtt_cap_ms=%lld", srv->max_queue,
             (long long)srv->ping_ms, (long long)srv->rtt_cap_ms);
    return 0;
fail:
    LOG_ERROR("ws_start_failed", "errno=%d", errno);
    return -1;
}

void ws_server_stop(struct gateway *gw) {
    struct ws_server *srv = gw->ws;
    if (!srv) return;
    bus_on_reconnected(NULL, NULL); /* no resync item can come after this */
    atomic_store(&srv->stopping, 1);
    if (srv->started) {
        uint64_t one = 1;
        ssize_t w = write(srv->evfd, &one, sizeof(one));
        (void)w;
        pthread_join(srv->thread, NULL);
    }
    if (srv->reply_sub) {
        natsSubscription_Unsubscribe(srv->reply_sub);
        natsSubscription_Destroy(srv->reply_sub);
    }
    if (srv->revoked_sub) {
        natsSubscription_Unsubscribe(srv->revoked_sub);
        natsSubscription_Destroy(srv->revoked_sub);
    }
    fanout_free_all(srv);
    pthread_mutex_lock(&srv->lock);
    srv->closed = 1;
    struct item *it = srv->in_head;
    srv->in_head = srv->in_tail = NULL;
    pthread_mutex_unlock(&srv->lock);
    while (it) {
        struct item *next = it->next;
        if (it->kind == ITEM_CONN) MHD_upgrade_action(it->urh, MHD_UPGRADE_ACTION_CLOSE);
        free(it->data);
        free(it);
        it = next;
    }
    ws_requests_clear(&srv->requests);
    LOG_INFO("ws_stopped", "");
}

void ws_server_free(struct gateway *gw) {
    struct ws_server *srv = gw->ws;
    if (!srv) return;
    if (srv->epfd >= 0) close(srv->epfd);
    if (srv->evfd >= 0) close(srv->evfd);
    if (srv->placeholder_fd >= 0) close(srv->placeholder_fd);
    ws_frame_rx_free(srv->spare_rx);
    free(srv->timers);
    pthread_mutex_destroy(&srv->lock);
    free(srv);
    gw->ws = NULL;
}
