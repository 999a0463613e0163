/*
 * ws_loop: the gateway's one WebSocket thread. It waits on epoll (every
 * socket plus the inbox's eventfd) at most TICK_MS, handles what the inbox
 * brought (new sockets, events, replies, resyncs, revoked logins), runs
 * each socket's I/O (ws_frame.c), ticks (request deadlines, pings, expiries), and
 * before every wait flushes, re-arms or frees the sockets it touched. It
 * never blocks on anything but epoll_wait. At shutdown it closes every
 * socket with 1001 and lingers WS_CLOSE_LINGER_MS for the closes.
 */
#include "ws_server.h"

#include "clock.h"
#include "http.h"
#include "log.h"
#include "quiz.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

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

/* When the tick must look at `c` next: the end of its close linger, else
 * its next ping (the pong timeout is checked then); an admin socket with
 * an expiry every tick, as its expiry is wall-clock time. Every change of
 * close_deadline_ms or next_ping_ms marks the socket dirty, and the sweep
 * calls this for every dirty socket, so the tick never looks later than
 * the walk over every socket did. */
static int64_t conn_due(const struct ws_conn *c) {
    if (c->close_deadline_ms) return c->close_deadline_ms;
    if (c->who.admin && c->who.exp_s) return 0;
    return c->next_ping_ms;
}

/* Loop: gives `c` an entry in the tick array, due at the next tick.
 * Returns 0 or -1 (no memory). */
static int timer_add(struct ws_server *srv, struct ws_conn *c) {
    if (srv->ntimers == srv->timers_cap) {
        size_t cap = srv->timers_cap ? srv->timers_cap * 2 : 256;
        struct ws_timer *t = realloc(srv->timers, cap * sizeof(*t));
        if (!t) return -1;
        srv->timers = t;
        srv->timers_cap = cap;
    }
    c->timer_idx = srv->ntimers++;
    srv->timers[c->timer_idx] = (struct ws_timer){.due_ms = 0, .c = c};
    return 0;
}

/* Loop: removes `c`'s entry; the last entry takes its place. */
static void timer_del(struct ws_server *srv, struct ws_conn *c) {
    size_t i = c->timer_idx;
    srv->timers[i] = srv->timers[--srv->ntimers];
    srv->timers[i].c->timer_idx = i;
}

/* Loop: a new upgraded socket. Takes it->data (extra bytes). */
static void conn_adopt(struct ws_server *srv, struct item *it) {
    struct ws_conn *c =
        ws_conn_open(srv, ++srv->next_conn, &it->who, it->fd, it->urh, it->data, it->len);
    it->data = NULL;
    explicit_bzero(it->who.token, sizeof(it->who.token)); /* the socket keeps its copy */
    if (!c || timer_add(srv, c) != 0) goto fail;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        timer_del(srv, c);
        goto fail;
    }
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
    if (c)
        ws_conn_free(c); /* the socket is c's (MHD's handle, or released from it) */
    else
        MHD_upgrade_action(it->urh, MHD_UPGRADE_ACTION_CLOSE);
}

/* Loop: frees a socket that is dead. */
static void conn_remove(struct ws_server *srv, struct ws_conn *c) {
    epoll_ctl(srv->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    timer_del(srv, c);
    fanout_detach(c);
    ws_requests_forget(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    metric_add(&ws_metric_open, -1);
    LOG_DEBUG("ws_closed", "conn=%llu", (unsigned long long)c->id);
    ws_conn_free(c);
}

/* Loop: flushes, re-arms or frees every socket touched since the last wait. */
static void sweep(struct ws_server *srv) {
    while (srv->dirty) {
        struct ws_conn *c = srv->dirty;
        srv->dirty = c->dirty_next;
        c->dirty = 0;
        if (!c->dead) ws_conn_io(c, 0);
        if (!c->dead && rtt_question_unwritten(&c->rtt) && c->out_count == 0)
            rtt_question_written(&c->rtt, clock_mono_us());
        unsigned want = 0;
        if (!c->dead) {
            if (ws_conn_want_read(c)) want |= EPOLLIN;
            if (ws_conn_want_write(c)) want |= EPOLLOUT;
            if (!want) c->dead = 1;
        }
        if (c->dead) {
            conn_remove(srv, c);
            continue;
        }
        srv->timers[c->timer_idx].due_ms = conn_due(c);
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
            int64_t picked = clock_mono_us();
            enum quiz_event type = QUIZ_EV_LOBBY_UPDATE;
            int n = fanout_event(srv, it->sid, it->data ? it->data : "", it->len, &type);
            if (n > 0) {
                if (type == QUIZ_EV_QUESTION_OPEN) srv->fan.opens++;
                if (!srv->fan.events) {
                    srv->fan.pushed_us = it->pushed_us;
                    srv->fan.picked_us = picked;
                }
                srv->fan.events++;
                srv->fan.sockets += n;
                srv->fan.rendered_us = clock_mono_us();
            }
        } else if (it->kind == ITEM_REVOKED) {
            if (it->data) close_login(srv, it->data);
        } else if (it->kind == ITEM_RESYNC) {
            if (!atomic_load(&srv->stopping)) {
                fanout_resync_all(srv);
                ws_reverify_all(srv);
            }
        } else {
            ws_requests_reply(srv, &srv->requests, it->req_id, it->data, it->len);
        }
        free(it->data);
        free(it);
        it = next;
    }
}

/* Loop: logs what this turn's events cost, once their frames were
 * written by the sweep: INFO for a question_open handed to at least
 * FAN_LOG_SOCKETS sockets (a class's fan-out, the figure `make bench`
 * measures from outside), DEBUG for the rest. A socket whose send buffer
 * was full is finished by later turns; write_us counts this turn's. */
#define FAN_LOG_SOCKETS 256
static void fan_log(struct ws_server *srv) {
    struct fan_turn *f = &srv->fan;
    if (!f->events) return;
    int64_t written = clock_mono_us();
    LOG_AT(f->opens && f->sockets >= FAN_LOG_SOCKETS ? LOG_LEVEL_INFO : LOG_LEVEL_DEBUG,
           "fanout_written",
           "events=%d opens=%d sockets=%d handoff_us=%lld render_us=%lld write_us=%lld", f->events,
           f->opens, f->sockets, (long long)(f->picked_us - f->pushed_us),
           (long long)(f->rendered_us - f->picked_us), (long long)(written - f->rendered_us));
    memset(f, 0, sizeof(*f));
}

/* Loop: request deadlines, pings, close lingering, admin token expiry. */
static void tick(struct ws_server *srv) {
    int64_t now = clock_mono_ms();
    long long wall_s = clock_wall_ms() / 1000;
    http_heads_sweep(srv->gw->heads); /* HTTP's clock: the loop is the gateway's one tick */
    ws_requests_expire(srv, &srv->requests, now);
    if (!atomic_load(&srv->stopping)) ws_reverify_tick(srv);
    /* the dense array, not the list: an idle socket costs 16 bytes read in
     * order, not a cache miss on its ws_conn (perf: with 3,000 idle sockets
     * the list walk was 62 % of an idle gateway's CPU) */
    for (size_t i = 0; i < srv->ntimers; i++) {
        struct ws_timer *t = &srv->timers[i];
        if (t->due_ms > now || t->c->dead) continue;
        if (ws_conn_tick(t->c, now, wall_s))
            ws_server_dirty(t->c); /* the sweep sets its next due time */
        else
            t->due_ms = conn_due(t->c);
    }
}

void *ws_loop_run(void *arg) {
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
        fan_log(srv);
        if (stop_deadline && (!srv->conns || now >= stop_deadline)) break;
    }
    for (struct ws_conn *c = srv->conns; c; c = c->next) {
        c->dead = 1;
        ws_server_dirty(c);
    }
    sweep(srv);
    return NULL;
}
