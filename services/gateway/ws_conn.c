/*
 * ws_conn: one upgraded socket (see ws.h): its timers, its close, what it
 * does with a message read, and its pings and pongs fed to its fair-timing
 * state (rtt.c). Its frames on the wire are ws_frame.c's.
 *
 * Loop thread only; nothing here blocks, and a message read only queues
 * work. A socket whose queue grows past QW_WS_MAX_QUEUE is dropped, never
 * waited for; the queue counts control frames too (a pong is queued for
 * every ping read), so reading stops while the queue is over the bound.
 */
#include "ws.h"

#include "ws_server.h"

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
#include <unistd.h>

/* 1 when the socket holds more queued frames (control frames included)
 * than QW_WS_MAX_QUEUE. */
static int over_queue(struct ws_conn *c) {
    return c->out_count > (size_t)ws_server_max_queue(c->srv);
}

int ws_conn_want_read(const struct ws_conn *c) {
    return !c->rd_closed;
}

int ws_conn_want_write(const struct ws_conn *c) {
    return c->out != NULL && !c->wr_closed;
}

void ws_conn_message(struct ws_conn *c, uint8_t opcode, const uint8_t *data, size_t len) {
    if (c->dead || c->close_deadline_ms) return;
    switch (opcode) {
    case WSLAY_TEXT_FRAME:
        metric_add(&ws_metric_in, 1);
        handle_client_text(c, data, len);
        break;
    case WSLAY_BINARY_FRAME:
        ws_conn_close(c, WSLAY_CODE_UNSUPPORTED_DATA, "binary frames are not accepted");
        break;
    case WSLAY_PONG:
        if (!rtt_pong(&c->rtt, data, len, clock_mono_us())) metric_add(&ws_metric_pongs_ignored, 1);
        break;
    default:
        break;
    }
}

void ws_conn_queue_close(struct ws_conn *c, uint16_t code, const char *reason, int ctrl) {
    if (c->close_queued || c->wr_closed) return;
    uint8_t body[2 + 123];
    size_t n = 0;
    if (code) {
        size_t rl = strlen(reason);
        if (rl > sizeof(body) - 2) rl = sizeof(body) - 2;
        body[0] = (uint8_t)(code >> 8);
        body[1] = (uint8_t)code;
        memcpy(body + 2, reason, rl);
        n = 2 + rl;
    }
    int r = ws_frame_queue(c, WSLAY_CONNECTION_CLOSE, NULL, body, n, ctrl);
    if (r != 0)
        c->dead = 1;
    else
        c->close_queued = 1;
}

/* Closes `c` (1008) when its queue is still over the bound after sending:
 * the peer does not read what it makes us queue. The close frame goes
 * behind the queued ones, best effort; the socket is freed at once so its
 * memory returns now, not after a linger the peer controls. */
static void drop_if_over(struct ws_conn *c) {
    if (c->dead || !over_queue(c)) return;
    LOG_WARN("ws_dropped_slow", "conn=%llu sid=%s queued=%zu", (unsigned long long)c->id,
             c->who.sid, c->out_count);
    metric_add(&ws_metric_dropped, 1);
    ws_conn_queue_close(c, WSLAY_CODE_POLICY_VIOLATION, "too many queued frames", 0);
    ws_frame_flush(c);
    c->dead = 1;
}

void ws_conn_io(struct ws_conn *c, int readable) {
    if (c->dead) return;
    /* bytes MHD read past the handshake are read without waiting for epoll */
    if ((readable || c->extra) && ws_conn_want_read(c) && !over_queue(c)) {
        if (ws_frame_read(c) != 0) {
            c->dead = 1;
            return;
        }
    }
    if (ws_conn_want_write(c) && ws_frame_flush(c) != 0) c->dead = 1;
    drop_if_over(c);
}

void ws_conn_send(struct ws_conn *c, const char *text, size_t len) {
    ws_conn_send_parts(c, NULL, text, len);
}

void ws_conn_send_parts(struct ws_conn *c, struct ws_shared *shared, const char *tail,
                        size_t tail_len) {
    if (c->dead || c->close_deadline_ms) return;
    if (c->out_count >= (size_t)ws_server_max_queue(c->srv)) {
        LOG_WARN("ws_dropped_slow", "conn=%llu sid=%s queued=%zu", (unsigned long long)c->id,
                 c->who.sid, c->out_count);
        metric_add(&ws_metric_dropped, 1);
        c->dead = 1;
        ws_server_dirty(c);
        return;
    }
    if (ws_frame_queue(c, WSLAY_TEXT_FRAME, shared, tail, tail_len, 0) != 0) {
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
    /* behind the messages (e.g. the `error`s) queued before it */
    ws_conn_queue_close(c, code, reason, 0);
    c->close_deadline_ms = clock_mono_ms() + WS_CLOSE_LINGER_MS;
    ws_server_dirty(c);
}

void ws_conn_ping(struct ws_conn *c) {
    if (c->dead || c->close_deadline_ms) return;
    uint8_t nonce[RTT_NONCE_LEN];
    if (rtt_nonce(nonce) != 0 ||
        ws_frame_queue(c, WSLAY_PING, NULL, nonce, sizeof(nonce), 1) != 0) {
        c->dead = 1;
    } else {
        rtt_sent(&c->rtt, nonce, clock_mono_us());
        c->next_ping_ms = clock_mono_ms() + rtt_next_ping_ms(&c->rtt, ws_server_ping_ms(c->srv));
    }
    ws_server_dirty(c);
}

/* libmicrohttpd keeps an upgraded connection (its struct and its
 * QW_HTTP_CONN_MEMORY_KB pool) until told the socket is done with. The
 * socket gets a descriptor of its own, MHD's descriptor number is pointed
 * at the server's placeholder socket (an unconnected one), and MHD is told
 * to close: it frees the connection, and its shutdown() and close() reach
 * only the placeholder. MHD holds a suspended upgraded connection outside
 * its epoll set, so nothing of it watches our socket any more. Without a
 * spare descriptor, MHD's connection is simply kept. */
static void release_mhd(struct ws_conn *c) {
    int placeholder = ws_server_placeholder_fd(c->srv);
    if (placeholder < 0) return;
    int mine = fcntl(c->fd, F_DUPFD_CLOEXEC, 0);
    if (mine < 0) return;
    if (dup3(placeholder, c->fd, O_CLOEXEC) < 0) {
        close(mine);
        return;
    }
    MHD_upgrade_action(c->urh, MHD_UPGRADE_ACTION_CLOSE);
    c->urh = NULL;
    c->fd = mine;
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
    c->extra = extra;
    c->extra_len = extra_len;
    c->who.admin = who->admin;
    memcpy(c->who.sid, who->sid, sizeof(c->who.sid));
    c->who.epoch = who->epoch;
    memcpy(c->who.login, who->login, sizeof(c->who.login));
    c->who.exp_s = who->exp_s;
    size_t id_len = strnlen(who->student_id, sizeof(who->student_id) - 1);
    size_t tok_len = strnlen(who->token, sizeof(who->token) - 1);
    c->who.strs_len = id_len + tok_len + 2;
    c->who.strs = malloc(c->who.strs_len);
    if (!c->who.strs) goto fail;
    memcpy(c->who.strs, who->student_id, id_len);
    c->who.strs[id_len] = '\0';
    memcpy(c->who.strs + id_len + 1, who->token, tok_len);
    c->who.strs[id_len + 1 + tok_len] = '\0';
    c->who.student_id = c->who.strs;
    c->who.token = c->who.strs + id_len + 1;
    rtt_init(&c->rtt, clock_mono_us());
    int fl = fcntl(c->fd, F_GETFL);
    if (fl < 0 || fcntl(c->fd, F_SETFL, fl | O_NONBLOCK) < 0) goto fail;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* the kernel's share of a socket's memory is bounded too (see ws.h) */
    int sndbuf = WS_SNDBUF;
    setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    release_mhd(c);
    if (c->urh) metric_add(&ws_metric_mhd_held, 1);
    return c;
fail:
    c->urh = NULL; /* the caller still holds it, and the descriptor */
    c->fd = -1;
    ws_conn_free(c);
    return NULL;
}

void ws_conn_free(struct ws_conn *c) {
    if (!c) return;
    if (c->urh) {
        MHD_upgrade_action(c->urh, MHD_UPGRADE_ACTION_CLOSE);
        metric_add(&ws_metric_mhd_held, -1);
    } else if (c->fd >= 0)
        close(c->fd); /* released from MHD: ours */
    ws_frame_clear(c);
    json_decref(c->held);
    free(c->extra);
    if (c->who.strs) explicit_bzero(c->who.strs, c->who.strs_len);
    free(c->who.strs);
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
