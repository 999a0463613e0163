/*
 * ws_conn: one upgraded socket and its wslay context (see ws.h). Owns the
 * socket's write queue (inside wslay) and feeds its pings and pongs to its
 * fair-timing state (rtt.c).
 *
 * Loop thread only. The wslay callbacks never block: EAGAIN becomes
 * WSLAY_ERR_WOULDBLOCK; the message callback only queues work. A socket
 * whose queue grows past QW_WS_MAX_QUEUE is dropped, never waited for; the
 * queue counts control frames too (wslay queues a pong for every ping it
 * reads), so reading stops while the queue is over the bound.
 */
#include "ws.h"

#include "clock.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* 1 when the socket holds more queued messages (control frames included)
 * than QW_WS_MAX_QUEUE. */
static int over_queue(struct ws_conn *c) {
    return wslay_event_get_queued_msg_count(c->ctx) > (size_t)ws_server_max_queue(c->srv);
}

static ssize_t on_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                       void *user) {
    (void)flags;
    struct ws_conn *c = user;
    if (over_queue(c)) {
        /* what we read could only queue more (a pong a ping): send first */
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (c->extra_off < c->extra_len) {
        size_t n = c->extra_len - c->extra_off;
        if (n > len) n = len;
        memcpy(buf, c->extra + c->extra_off, n);
        c->extra_off += n;
        return (ssize_t)n;
    }
    ssize_t r;
    do {
        r = recv(c->fd, buf, len, 0);
    } while (r < 0 && errno == EINTR);
    if (r > 0) return r;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    else
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static ssize_t on_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user) {
    (void)flags;
    struct ws_conn *c = user;
    ssize_t r;
    do {
        r = send(c->fd, data, len, MSG_NOSIGNAL);
    } while (r < 0 && errno == EINTR);
    if (r >= 0) return r;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    else
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static void on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                   void *user) {
    (void)ctx;
    struct ws_conn *c = user;
    if (c->dead || c->close_deadline_ms) return;
    switch (arg->opcode) {
    case WSLAY_TEXT_FRAME:
        metric_add(&ws_metric_in, 1);
        handle_client_text(c, arg->msg, arg->msg_length);
        break;
    case WSLAY_BINARY_FRAME:
        ws_conn_close(c, WSLAY_CODE_UNSUPPORTED_DATA, "binary frames are not accepted");
        break;
    case WSLAY_PONG:
        if (!rtt_pong(&c->rtt, arg->msg, arg->msg_length, clock_mono_us()))
            metric_add(&ws_metric_pongs_ignored, 1);
        break;
    default:
        break;
    }
}

int ws_conn_init(struct ws_conn *c) {
    struct wslay_event_callbacks cb = {
        .recv_callback = on_recv,
        .send_callback = on_send,
        .on_msg_recv_callback = on_msg,
    };
    if (wslay_event_context_server_init(&c->ctx, &cb, c) != 0) return -1;
    wslay_event_config_set_max_recv_msg_length(c->ctx, WS_MAX_MSG);
    return 0;
}

/* Closes `c` (1008) when its queue is still over the bound after sending:
 * the peer does not read what it makes us queue. The close frame goes
 * behind the queued ones, best effort; the socket is freed at once so its
 * memory returns now, not after a linger the peer controls. */
static void drop_if_over(struct ws_conn *c) {
    if (c->dead || !over_queue(c)) return;
    LOG_WARN("ws_dropped_slow", "conn=%llu sid=%s queued=%zu bytes=%zu", (unsigned long long)c->id,
             c->who.sid, wslay_event_get_queued_msg_count(c->ctx),
             wslay_event_get_queued_msg_length(c->ctx));
    metric_add(&ws_metric_dropped, 1);
    const char *why = "too many queued frames";
    if (wslay_event_queue_close(c->ctx, WSLAY_CODE_POLICY_VIOLATION, (const uint8_t *)why,
                                strlen(why)) == 0)
        wslay_event_send(c->ctx);
    c->dead = 1;
}

void ws_conn_io(struct ws_conn *c, int readable) {
    if (c->dead) return;
    if (readable && wslay_event_want_read(c->ctx) && !over_queue(c)) {
        if (wslay_event_recv(c->ctx) != 0) {
            c->dead = 1;
            return;
        }
    }
    if (wslay_event_want_write(c->ctx) && wslay_event_send(c->ctx) != 0) c->dead = 1;
    drop_if_over(c);
    if (!c->dead && c->close_pending && wslay_event_get_queued_msg_count(c->ctx) == 0) {
        c->close_pending = 0;
        wslay_event_queue_close(c->ctx, c->close_code, (const uint8_t *)c->close_reason,
                                strlen(c->close_reason));
        if (wslay_event_send(c->ctx) != 0) c->dead = 1;
    }
}

void ws_conn_send(struct ws_conn *c, const char *text, size_t len) {
    if (c->dead || c->close_deadline_ms) return;
    if (wslay_event_get_queued_msg_count(c->ctx) >= (size_t)ws_server_max_queue(c->srv)) {
        LOG_WARN("ws_dropped_slow", "conn=%llu sid=%s queued=%zu", (unsigned long long)c->id,
                 c->who.sid, wslay_event_get_queued_msg_count(c->ctx));
        metric_add(&ws_metric_dropped, 1);
        c->dead = 1;
        ws_server_dirty(c);
        return;
    }
    struct wslay_event_msg m = {
        .opcode = WSLAY_TEXT_FRAME, .msg = (const uint8_t *)text, .msg_length = len};
    if (wslay_event_queue_msg(c->ctx, &m) != 0) {
        c->dead = 1;
    } else {
        metric_add(&ws_metric_out, 1);
    }
    ws_server_dirty(c);
}

void ws_conn_error(struct ws_conn *c, const char *code, const char *message) {
    json_t *j = json_pack("{s:s,s:s,s:s}", "type", "error", "code", code, "message", message);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (s) ws_conn_send(c, s, strlen(s));
    free(s);
    json_decref(j);
}

void ws_conn_close(struct ws_conn *c, uint16_t code, const char *reason) {
    if (c->dead || c->close_deadline_ms) return;
    /* wslay sends control frames before queued data: a close queued now
     * would overtake the messages (e.g. the `error`s) queued before it, so
     * it waits in close_pending until they have left (ws_conn_io). */
    if (wslay_event_get_queued_msg_count(c->ctx) > 0) {
        c->close_pending = 1;
        c->close_code = code;
        snprintf(c->close_reason, sizeof(c->close_reason), "%s", reason);
    } else {
        wslay_event_queue_close(c->ctx, code, (const uint8_t *)reason, strlen(reason));
    }
    c->close_deadline_ms = clock_mono_ms() + WS_CLOSE_LINGER_MS;
    ws_server_dirty(c);
}

void ws_conn_ping(struct ws_conn *c) {
    if (c->dead || c->close_deadline_ms) return;
    uint8_t nonce[RTT_NONCE_LEN];
    struct wslay_event_msg m = {.opcode = WSLAY_PING, .msg = nonce, .msg_length = sizeof(nonce)};
    if (rtt_nonce(nonce) != 0 || wslay_event_queue_msg(c->ctx, &m) != 0) {
        c->dead = 1;
    } else {
        rtt_sent(&c->rtt, nonce, clock_mono_us());
        c->next_ping_ms = clock_mono_ms() + rtt_next_ping_ms(&c->rtt, ws_server_ping_ms(c->srv));
    }
    ws_server_dirty(c);
}

struct ws_conn *ws_conn_open(struct ws_server *srv, uint64_t id, const struct ws_claims *who,
                             int fd, struct MHD_UpgradeResponseHandle *urh, char *extra,
                             size_t extra_len) {
    struct ws_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        free(extra);
        return NULL;
    }
    c->id = id;
    c->fd = fd;
    c->urh = urh;
    c->srv = srv;
    c->who = *who;
    c->extra = extra;
    c->extra_len = extra_len;
    rtt_init(&c->rtt, clock_mono_us());
    int fl = fcntl(c->fd, F_GETFL);
    if (fl < 0 || fcntl(c->fd, F_SETFL, fl | O_NONBLOCK) < 0) goto fail;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* the kernel's share of a socket's memory is bounded too (see ws.h) */
    int sndbuf = WS_SNDBUF;
    setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    if (ws_conn_init(c) != 0) goto fail;
    return c;
fail:
    c->urh = NULL; /* the caller still holds it */
    ws_conn_free(c);
    return NULL;
}

void ws_conn_free(struct ws_conn *c) {
    if (!c) return;
    if (c->urh) MHD_upgrade_action(c->urh, MHD_UPGRADE_ACTION_CLOSE);
    if (c->ctx) wslay_event_context_free(c->ctx);
    json_decref(c->held);
    free(c->extra);
    explicit_bzero(c->who.token, sizeof(c->who.token));
    free(c);
}

int ws_conn_tick(struct ws_conn *c, int64_t now_ms, long long wall_s) {
    if (c->close_deadline_ms) {
        if (now_ms < c->close_deadline_ms) return 0;
        c->dead = 1; /* the peer never answered our close */
        return 1;
    }
    if (c->who.admin && c->who.exp_s && wall_s >= c->who.exp_s) {
        LOG_INFO("ws_admin_expired", "conn=%llu", (unsigned long long)c->id);
        ws_conn_close(c, WSLAY_CODE_POLICY_VIOLATION, "token_expired");
        return 1;
    }
    if (now_ms < c->next_ping_ms) return 0;
    /* two ping intervals without a pong echoing one of our pings */
    if (rtt_silence_us(&c->rtt, now_ms * 1000) > 2 * ws_server_ping_ms(c->srv) * 1000) {
        LOG_INFO("ws_ping_timeout", "conn=%llu", (unsigned long long)c->id);
        c->dead = 1;
    } else {
        ws_conn_ping(c);
    }
    return 1;
}
