/*
 * ws_server: the gateway's one WebSocket thread (see ws.h): epoll over every
 * upgraded socket plus an eventfd, the inbox other threads feed, the table
 * of sockets, the pending NATS requests and their deadlines, pings, and the
 * resync after a NATS reconnect (events sent meanwhile were lost to us).
 *
 * Threads: ws_server_adopt() and the nats.c callbacks here run on foreign
 * threads and only push to the inbox under `lock`; everything else runs on
 * the loop thread. The loop never blocks on anything but epoll_wait.
 */
#include "ws.h"

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

#define TICK_MS 50

struct metric ws_metric_open = {"qw_ws_open_sockets", "WebSocket connections open now", 1, 0};
struct metric ws_metric_in = {"qw_ws_messages_in_total", "WebSocket text messages read", 0, 0};
struct metric ws_metric_out = {"qw_ws_messages_out_total", "WebSocket text messages queued", 0, 0};
struct metric ws_metric_dropped = {"qw_ws_dropped_slow_total",
                                   "sockets dropped because their write queue overflowed", 0, 0};
struct metric ws_metric_pongs_ignored = {
    "qw_ws_pongs_ignored_total", "pongs that echoed no outstanding ping (unsolicited, forged)", 0,
    0};

enum item_kind { ITEM_CONN, ITEM_EVENT, ITEM_REPLY, ITEM_RESYNC, ITEM_REVOKED };

struct item {
    enum item_kind kind;
    struct item *next;
    char *data; /* event/reply payload, extra_in bytes or revoked login id, owned */
    size_t len;
    uint64_t req_id;          /* ITEM_REPLY */
    char sid[WS_SID_MAX + 1]; /* ITEM_EVENT */
    struct ws_claims who;     /* ITEM_CONN */
    int fd;
    struct MHD_UpgradeResponseHandle *urh;
};

struct pending {
    uint64_t id;
    struct ws_conn *c; /* NULL once the socket is gone, or WS_REQ_RESYNC */
    enum ws_req_kind kind;
    char sid[WS_SID_MAX + 1]; /* WS_REQ_RESYNC */
    long long qidx;
    char choice[16];
    int64_t deadline_ms; /* monotonic */
    struct pending *next;
};

struct ws_server {
    struct gateway *gw;
    int epfd, evfd;
    pthread_t thread;
    int started;
    atomic_int stopping;
    pthread_mutex_t lock; /* guards the inbox and `closed` */
    struct item *in_head, *in_tail;
    int closed; /* loop gone: adopt closes at once */
    /* loop thread only */
    struct ws_conn *conns;
    struct ws_conn *dirty;
    struct ws_sess *sessions;
    struct pending *pending;
    natsSubscription *reply_sub;
    natsSubscription *revoked_sub; /* SUBJ_ADMIN_REVOKED */
    char inbox[64];
    uint64_t next_req, next_conn;
    int max_queue;
    int64_t ping_ms;
    int64_t rtt_cap_ms;
    int timeout_ms;
};

struct gateway *ws_server_gateway(struct ws_server *srv) {
    return srv->gw;
}
int ws_server_max_queue(struct ws_server *srv) {
    return srv->max_queue;
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

/* Appends `it` (taken) to the inbox and wakes the loop. Any thread. */
static void push(struct ws_server *srv, struct item *it) {
    pthread_mutex_lock(&srv->lock);
    if (srv->in_tail)
        srv->in_tail->next = it;
    else
        srv->in_head = it;
    srv->in_tail = it;
    pthread_mutex_unlock(&srv->lock);
    uint64_t one = 1;
    ssize_t w = write(srv->evfd, &one, sizeof(one));
    (void)w;
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

/* Loop: closes the admin sockets opened with `login` (1008). */
static void close_login(struct ws_server *srv, const char *login) {
    for (struct ws_conn *c = srv->conns; c; c = c->next) {
        if (c->dead || !c->who.admin || c->close_deadline_ms || strcmp(c->who.login, login) != 0)
            continue;
        LOG_INFO("ws_admin_logged_out", "conn=%llu login=%.8s", (unsigned long long)c->id, login);
        ws_conn_close(c, WSLAY_CODE_POLICY_VIOLATION, "logged_out");
        ws_server_dirty(c);
    }
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
    int closed;
    pthread_mutex_lock(&srv->lock);
    closed = srv->closed || atomic_load(&srv->stopping);
    pthread_mutex_unlock(&srv->lock);
    if (!it || closed) {
        if (it) free(it->data);
        free(it);
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        return;
    }
    it->who = *cl;
    it->fd = fd;
    it->urh = urh;
    push(srv, it);
}

void ws_server_dirty(struct ws_conn *c) {
    if (c->dirty) return;
    c->dirty = 1;
    c->dirty_next = c->srv->dirty;
    c->srv->dirty = c;
}

/* Publishes `req` with a reply to our inbox and records it as pending. */
static int request(struct ws_server *srv, struct ws_conn *c, const char *sid, enum ws_req_kind kind,
                   const char *subject, const json_t *req, long long qidx, const char *choice) {
    int rc = -1;
    char *body = json_dumps(req, JSON_COMPACT);
    struct pending *p = calloc(1, sizeof(*p));
    if (!body || !p) goto cleanup;
    p->id = ++srv->next_req;
    p->c = c;
    p->kind = kind;
    snprintf(p->sid, sizeof(p->sid), "%s", sid ? sid : "");
    p->qidx = qidx;
    snprintf(p->choice, sizeof(p->choice), "%s", choice ? choice : "");
    p->deadline_ms = clock_mono_ms() + srv->timeout_ms;
    char reply[96];
    snprintf(reply, sizeof(reply), "%s.%llu", srv->inbox, (unsigned long long)p->id);
    natsStatus s =
        natsConnection_PublishRequest(srv->gw->d.nc, subject, reply, body, (int)strlen(body));
    if (s != NATS_OK) goto cleanup;
    p->next = srv->pending;
    srv->pending = p;
    p = NULL;
    rc = 0;
cleanup:
    free(body);
    free(p);
    return rc;
}

int ws_server_request(struct ws_conn *c, enum ws_req_kind kind, const char *subject,
                      const json_t *req, long long qidx, const char *choice) {
    return request(c->srv, c, NULL, kind, subject, req, qidx, choice);
}

int ws_server_request_session(struct ws_server *srv, const char *sid, const char *subject,
                              const json_t *req) {
    return request(srv, NULL, sid, WS_REQ_RESYNC, subject, req, -1, NULL);
}

/* Loop: the answer (NULL = none in time) to pending request `p`. */
static void answer(struct ws_server *srv, struct pending *p, const json_t *reply) {
    if (p->kind == WS_REQ_RESYNC) {
        fanout_resync_reply(srv, p->sid, reply);
    } else if (p->c && !p->c->dead) {
        handle_client_reply(p->c, p->kind, reply, p->qidx, p->choice);
        ws_server_dirty(p->c);
    }
}

/* Loop: a new upgraded socket. Takes it->data (extra bytes). */
static void conn_adopt(struct ws_server *srv, struct item *it) {
    struct ws_conn *c = calloc(1, sizeof(*c));
    if (!c) goto fail;
    c->id = ++srv->next_conn;
    c->fd = it->fd;
    c->urh = it->urh;
    c->srv = srv;
    c->who = it->who;
    c->extra = it->data;
    c->extra_len = it->len;
    it->data = NULL;
    c->q_idx = -1;
    rtt_init(&c->rtt, clock_mono_us());
    int fl = fcntl(c->fd, F_GETFL);
    if (fl < 0 || fcntl(c->fd, F_SETFL, fl | O_NONBLOCK) < 0) goto fail;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* the kernel's share of a socket's memory is bounded too (see ws.h) */
    int sndbuf = WS_SNDBUF;
    setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    if (ws_conn_init(c) != 0) goto fail;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) goto fail;
    c->armed = EPOLLIN;
    c->next = srv->conns;
    if (srv->conns) srv->conns->prev = c;
    srv->conns = c;
    metric_add(&ws_metric_open, 1);
    LOG_DEBUG("ws_open", "conn=%llu sid=%s admin=%d", (unsigned long long)c->id, c->who.sid,
              c->who.admin);
    ws_conn_ping(c);
    if (fanout_attach(c) != 0) {
        ws_conn_error(c, "unavailable", "the session service could not be asked");
        ws_conn_close(c, WSLAY_CODE_INTERNAL_SERVER_ERROR, "unavailable");
    }
    ws_server_dirty(c);
    return;
fail:
    LOG_WARN("ws_adopt_failed", "errno=%d", errno);
    if (c) {
        if (c->ctx) wslay_event_context_free(c->ctx);
        free(c->extra);
        free(c);
    }
    MHD_upgrade_action(it->urh, MHD_UPGRADE_ACTION_CLOSE);
}

/* Loop: frees a socket that is dead. */
static void conn_remove(struct ws_server *srv, struct ws_conn *c) {
    epoll_ctl(srv->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    fanout_detach(c);
    for (struct pending *p = srv->pending; p; p = p->next)
        if (p->c == c) p->c = NULL;
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    MHD_upgrade_action(c->urh, MHD_UPGRADE_ACTION_CLOSE);
    wslay_event_context_free(c->ctx);
    json_decref(c->held);
    free(c->extra);
    metric_add(&ws_metric_open, -1);
    LOG_DEBUG("ws_closed", "conn=%llu", (unsigned long long)c->id);
    free(c);
}

/* Loop: flushes, re-arms or frees every socket touched since the last wait. */
static void sweep(struct ws_server *srv) {
    while (srv->dirty) {
        struct ws_conn *c = srv->dirty;
        srv->dirty = c->dirty_next;
        c->dirty = 0;
        if (!c->dead) ws_conn_io(c, 0);
        if (!c->dead && c->q_write_pending && wslay_event_get_queued_msg_count(c->ctx) == 0) {
            c->q_written_mono_us = clock_mono_us();
            c->q_write_pending = 0;
        }
        unsigned want = 0;
        if (!c->dead) {
            if (wslay_event_want_read(c->ctx)) want |= EPOLLIN;
            if (wslay_event_want_write(c->ctx)) want |= EPOLLOUT;
            if (!want) c->dead = 1;
        }
        if (c->dead) {
            conn_remove(srv, c);
            continue;
        }
        if (want != c->armed) {
            struct epoll_event ev = {.events = want, .data.ptr = c};
            if (epoll_ctl(srv->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0) c->armed = want;
        }
    }
}

/* Loop: takes everything from the inbox and handles it. */
static void drain_inbox(struct ws_server *srv) {
    uint64_t n;
    ssize_t r = read(srv->evfd, &n, sizeof(n));
    (void)r;
    pthread_mutex_lock(&srv->lock);
    struct item *it = srv->in_head;
    srv->in_head = srv->in_tail = NULL;
    pthread_mutex_unlock(&srv->lock);
    while (it) {
        struct item *next = it->next;
        if (it->kind == ITEM_CONN) {
            if (atomic_load(&srv->stopping))
                MHD_upgrade_action(it->urh, MHD_UPGRADE_ACTION_CLOSE);
            else
                conn_adopt(srv, it);
        } else if (it->kind == ITEM_EVENT) {
            fanout_event(srv, it->sid, it->data ? it->data : "", it->len);
        } else if (it->kind == ITEM_REVOKED) {
            if (it->data) close_login(srv, it->data);
        } else if (it->kind == ITEM_RESYNC) {
            if (!atomic_load(&srv->stopping)) fanout_resync_all(srv);
        } else {
            struct pending **pp = &srv->pending;
            while (*pp && (*pp)->id != it->req_id)
                pp = &(*pp)->next;
            struct pending *p = *pp;
            if (p) {
                *pp = p->next;
                if (p->kind == WS_REQ_RESYNC || (p->c && !p->c->dead)) {
                    json_error_t err;
                    json_t *reply = it->len ? json_loadb(it->data, it->len, 0, &err) : NULL;
                    if (reply && !json_is_object(reply)) {
                        json_decref(reply);
                        reply = NULL;
                    }
                    /* an unparsable answer counts as no answer */
                    answer(srv, p, reply);
                    json_decref(reply);
                }
                free(p);
            }
        }
        free(it->data);
        free(it);
        it = next;
    }
}

/* Loop: request deadlines, pings, close lingering, admin token expiry. */
static void tick(struct ws_server *srv) {
    int64_t now = clock_mono_ms();
    long long wall_s = clock_wall_ms() / 1000;
    http_heads_sweep(srv->gw->heads); /* HTTP's clock: the loop is the gateway's one tick */
    struct pending **pp = &srv->pending;
    while (*pp) {
        struct pending *p = *pp;
        if (p->deadline_ms > now) {
            pp = &p->next;
            continue;
        }
        *pp = p->next;
        answer(srv, p, NULL);
        free(p);
    }
    for (struct ws_conn *c = srv->conns; c; c = c->next) {
        if (c->dead) continue;
        if (c->close_deadline_ms) {
            if (now >= c->close_deadline_ms) {
                c->dead = 1;
                ws_server_dirty(c);
            }
            continue;
        }
        if (c->who.admin && c->who.exp_s && wall_s >= c->who.exp_s) {
            LOG_INFO("ws_admin_expired", "conn=%llu", (unsigned long long)c->id);
            ws_conn_close(c, WSLAY_CODE_POLICY_VIOLATION, "token_expired");
            ws_server_dirty(c);
            continue;
        }
        if (now >= c->next_ping_ms) {
            /* two ping intervals without a pong echoing one of our pings */
            if (rtt_silence_us(&c->rtt, now * 1000) > 2 * srv->ping_ms * 1000) {
                LOG_INFO("ws_ping_timeout", "conn=%llu", (unsigned long long)c->id);
                c->dead = 1;
            } else {
                ws_conn_ping(c);
            }
            ws_server_dirty(c);
        }
    }
}

static void *loop(void *arg) {
    struct ws_server *srv = arg;
    struct epoll_event evs[256];
    int64_t stop_deadline = 0;
    int64_t next_tick = clock_mono_ms() + TICK_MS;
    for (;;) {
        int n = epoll_wait(srv->epfd, evs, 256, TICK_MS);
        for (int i = 0; i < n; i++) {
            struct ws_conn *c = evs[i].data.ptr;
            if (!c) {
                drain_inbox(srv);
                continue;
            }
            if (c->dead) continue;
            ws_conn_io(c, (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0);
            ws_server_dirty(c);
        }
        int64_t now = clock_mono_ms();
        if (now >= next_tick) {
            tick(srv);
            next_tick = now + TICK_MS;
        }
        if (atomic_load(&srv->stopping) && !stop_deadline) {
            stop_deadline = now + WS_CLOSE_LINGER_MS;
            for (struct ws_conn *c = srv->conns; c; c = c->next)
                if (!c->dead) ws_conn_close(c, WSLAY_CODE_GOING_AWAY, "server shutting down");
        }
        sweep(srv);
        if (stop_deadline && (!srv->conns || now >= stop_deadline)) break;
    }
    for (struct ws_conn *c = srv->conns; c; c = c->next) {
        c->dead = 1;
        ws_server_dirty(c);
    }
    sweep(srv);
    return NULL;
}

int ws_server_start(struct gateway *gw) {
    struct ws_server *srv = calloc(1, sizeof(*srv));
    natsInbox *inbox = NULL;
    if (!srv) return -1;
    srv->gw = gw;
    srv->epfd = srv->evfd = -1;
    srv->max_queue = (int)config_int("QW_WS_MAX_QUEUE");
    srv->ping_ms = config_int("QW_PING_INTERVAL_MS");
    srv->rtt_cap_ms = config_int("QW_RTT_CAP_MS");
    srv->timeout_ms = gw->d.timeout_ms;
    pthread_mutex_init(&srv->lock, NULL);
    gw->ws = srv;
    metrics_register(&ws_metric_open);
    metrics_register(&ws_metric_in);
    metrics_register(&ws_metric_out);
    metrics_register(&ws_metric_dropped);
    metrics_register(&ws_metric_pongs_ignored);
    srv->epfd = epoll_create1(EPOLL_CLOEXEC);
    srv->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (srv->epfd < 0 || srv->evfd < 0) goto fail;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->evfd, &ev) != 0) goto fail;
    if (natsInbox_Create(&inbox) != NATS_OK) goto fail;
    snprintf(srv->inbox, sizeof(srv->inbox), "%s", (const char *)inbox);
    natsInbox_Destroy(inbox);
    char subj[96];
    snprintf(subj, sizeof(subj), "%s.*", srv->inbox);
    if (natsConnection_Subscribe(&srv->reply_sub, gw->d.nc, subj, on_reply, srv) != NATS_OK)
        goto fail;
    natsSubscription_SetPendingLimits(srv->reply_sub, -1, -1);
    if (natsConnection_Subscribe(&srv->revoked_sub, gw->d.nc, SUBJ_ADMIN_REVOKED, on_revoked,
                                 srv) != NATS_OK)
        goto fail;
    if (pthread_create(&srv->thread, NULL, loop, srv) != 0) goto fail;
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
    while (srv->pending) {
        struct pending *p = srv->pending;
        srv->pending = p->next;
        free(p);
    }
    LOG_INFO("ws_stopped", "");
}

void ws_server_free(struct gateway *gw) {
    struct ws_server *srv = gw->ws;
    if (!srv) return;
    if (srv->epfd >= 0) close(srv->epfd);
    if (srv->evfd >= 0) close(srv->evfd);
    pthread_mutex_destroy(&srv->lock);
    free(srv);
    gw->ws = NULL;
}
