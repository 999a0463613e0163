/*
 * ws_client: the upgrade handshake and the wslay glue for the load tools'
 * WebSocket client. Runs only on the net loop thread; wslay's callbacks get
 * the client through its user_data pointer and never block: EAGAIN becomes
 * WSLAY_ERR_WOULDBLOCK and the loop re-arms epoll from want_read/want_write.
 */
#include "ws_client.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_HEAD_MAX 8192

void wsc_accept_for(const char *key, char out[29]) {
    char buf[128];
    unsigned char sha[SHA_DIGEST_LENGTH];
    int n = snprintf(buf, sizeof(buf), "%s%s", key, WS_GUID);
    SHA1((const unsigned char *)buf, (size_t)n, sha);
    EVP_EncodeBlock((unsigned char *)out, sha, SHA_DIGEST_LENGTH);
}

int wsc_check_upgrade(const char *head, size_t len, const char *key) {
    int status = 0;
    if (sscanf(head, "HTTP/%*d.%*d %d", &status) != 1) return -1;
    if (status != 101) return status;
    char want[29];
    wsc_accept_for(key, want);
    const char *p = head, *end = head + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) break;
        if ((size_t)(eol - p) > 21 && strncasecmp(p, "sec-websocket-accept:", 21) == 0) {
            const char *v = p + 21;
            while (*v == ' ')
                v++;
            size_t vl = strcspn(v, "\r\n ");
            return vl == 28 && memcmp(v, want, 28) == 0 ? 101 : -1;
        }
        p = eol + 1;
    }
    return -1;
}

static void wsc_fail(struct wsc *w, const char *why, int status) {
    if (w->state == WSC_CLOSED) return;
    w->state = WSC_CLOSED;
    net_close(&w->conn);
    if (w->on_fail) w->on_fail(w, why, status, w->close_code, w->arg);
}

static ssize_t cb_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud) {
    struct wsc *w = ud;
    if (w->pre_off < w->pre_len) {
        size_t n = w->pre_len - w->pre_off;
        if (n > len) n = len;
        memcpy(buf, w->hbuf + w->pre_off, n);
        w->pre_off += n;
        return (ssize_t)n;
    }
    ssize_t n = net_read(&w->conn, buf, len);
    if (n < 0) {
        wslay_event_set_error(ctx,
                              errno == EAGAIN ? WSLAY_ERR_WOULDBLOCK : WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    if (n == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return n;
}

static ssize_t cb_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *ud) {
    struct wsc *w = ud;
    ssize_t n = net_write(&w->conn, data, len);
    if (n < 0) {
        wslay_event_set_error(ctx,
                              errno == EAGAIN ? WSLAY_ERR_WOULDBLOCK : WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return n;
}

static int cb_genmask(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *ud) {
    return RAND_bytes(buf, (int)len) == 1 ? 0 : -1;
}

static void cb_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *m,
                   void *ud) {
    struct wsc *w = ud;
    if (m->opcode == WSLAY_TEXT_FRAME && w->on_text && w->state == WSC_OPEN) {
        char *copy = malloc(m->msg_length + 1);
        if (!copy) return;
        memcpy(copy, m->msg, m->msg_length);
        copy[m->msg_length] = '\0';
        w->on_text(w, copy, m->msg_length, w->arg);
        free(copy);
    } else if (m->opcode == WSLAY_CONNECTION_CLOSE) {
        w->close_code = m->status_code;
    }
}

static const struct wslay_event_callbacks wsc_callbacks = {
    .recv_callback = cb_recv,
    .send_callback = cb_send,
    .genmask_callback = cb_genmask,
    .on_msg_recv_callback = cb_msg,
};

static void wsc_rearm(struct wsc *w) {
    if (w->state != WSC_OPEN) return;
    if (!wslay_event_want_read(w->ctx) && !wslay_event_want_write(w->ctx)) {
        char why[64];
        snprintf(why, sizeof(why), "closed by the server (code %d)", w->close_code);
        wsc_fail(w, why, 0);
        return;
    }
    net_arm(&w->conn, EPOLLIN | (wslay_event_want_write(w->ctx) ? EPOLLOUT : 0));
}

static void wsc_on_handshake_read(struct wsc *w) {
    char why[512];
    for (;;) {
        if (w->hlen >= WS_HEAD_MAX) {
            wsc_fail(w, "upgrade reply head too large", 0);
            return;
        }
        ssize_t n = net_read(&w->conn, w->hbuf + w->hlen, WS_HEAD_MAX - w->hlen);
        if (n < 0 && errno == EAGAIN) break;
        if (n <= 0) {
            snprintf(why, sizeof(why), "connection closed during the upgrade%s%s",
                     n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
            wsc_fail(w, why, 0);
            return;
        }
        w->hlen += (size_t)n;
    }
    const char *end = memmem(w->hbuf, w->hlen, "\r\n\r\n", 4);
    if (!end) return;
    size_t head = (size_t)(end - w->hbuf) + 4;
    int st = wsc_check_upgrade(w->hbuf, head, w->key);
    if (st != 101) {
        if (st < 0)
            wsc_fail(w, "upgrade answered 101 without the right Sec-WebSocket-Accept", 101);
        else {
            snprintf(why, sizeof(why), "upgrade refused with HTTP %d", st);
            wsc_fail(w, why, st);
        }
        return;
    }
    w->pre_off = head;
    w->pre_len = w->hlen;
    if (wslay_event_context_client_init(&w->ctx, &wsc_callbacks, w) != 0) {
        wsc_fail(w, "out of memory", 0);
        return;
    }
    w->state = WSC_OPEN;
    if (w->pre_len > w->pre_off) {
        w->in_recv = 1;
        int rc = wslay_event_recv(w->ctx);
        w->in_recv = 0;
        if (w->state != WSC_OPEN) return;
        if (rc != 0) {
            wsc_fail(w, "bad frame right after the upgrade", 0);
            return;
        }
    }
    wsc_rearm(w);
}

static void wsc_on_event(struct net_conn *nc, uint32_t events) {
    struct wsc *w = (struct wsc *)nc;
    char why[512];
    if (w->state == WSC_CONNECTING && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        if (net_conn_error(nc, w->target, why, sizeof(why)) != 0) {
            wsc_fail(w, why, 0);
            return;
        }
        w->state = WSC_HANDSHAKE;
    }
    if (w->state == WSC_HANDSHAKE) {
        while (w->req && w->req_off < w->req_len) {
            ssize_t n = net_write(nc, w->req + w->req_off, w->req_len - w->req_off);
            if (n < 0 && errno == EAGAIN) return;
            if (n < 0) {
                snprintf(why, sizeof(why), "write of the upgrade failed: %s", strerror(errno));
                wsc_fail(w, why, 0);
                return;
            }
            w->req_off += (size_t)n;
        }
        free(w->req);
        w->req = NULL;
        net_arm(nc, EPOLLIN);
        if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) wsc_on_handshake_read(w);
        return;
    }
    if (w->state != WSC_OPEN) return;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        w->in_recv = 1;
        int rc = wslay_event_recv(w->ctx);
        w->in_recv = 0;
        if (w->state != WSC_OPEN) return;
        if (rc != 0) {
            snprintf(why, sizeof(why), "connection lost (close code %d)", w->close_code);
            wsc_fail(w, why, 0);
            return;
        }
    }
    if (w->state == WSC_OPEN && wslay_event_want_write(w->ctx) && wslay_event_send(w->ctx) != 0) {
        wsc_fail(w, "write failed", 0);
        return;
    }
    wsc_rearm(w);
}

void wsc_init(struct wsc *w, const struct net_target *t, wsc_text_fn on_text, wsc_fail_fn on_fail,
              void *arg) {
    memset(w, 0, sizeof(*w));
    w->conn.fd = -1;
    w->conn.on_event = wsc_on_event;
    w->target = t;
    w->on_text = on_text;
    w->on_fail = on_fail;
    w->arg = arg;
}

int wsc_open(struct wsc *w, const char *path, const char *cookie) {
    unsigned char raw[16];
    if (RAND_bytes(raw, sizeof(raw)) != 1) return -1;
    EVP_EncodeBlock((unsigned char *)w->key, raw, sizeof(raw));
    size_t cap = 512 + strlen(path) + (cookie ? strlen(cookie) : 0);
    w->req = malloc(cap);
    w->hbuf = malloc(WS_HEAD_MAX);
    if (!w->req || !w->hbuf) goto fail;
    w->req_len = (size_t)snprintf(
        w->req, cap,
        "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nOrigin: %s\r\n"
        "%s%s%s\r\n",
        path, w->target->host, w->key, w->target->base, cookie ? "Cookie: " : "",
        cookie ? cookie : "", cookie ? "\r\n" : "");
    w->req_off = 0;
    w->hlen = 0;
    w->state = WSC_CONNECTING;
    if (net_connect(&w->conn, w->target) != 0) goto fail;
    return 0;
fail:
    free(w->req);
    free(w->hbuf);
    w->req = w->hbuf = NULL;
    w->state = WSC_IDLE;
    return -1;
}

int wsc_send_text(struct wsc *w, const char *text) {
    if (w->state != WSC_OPEN) return -1;
    struct wslay_event_msg m = {
        .opcode = WSLAY_TEXT_FRAME, .msg = (const uint8_t *)text, .msg_length = strlen(text)};
    if (wslay_event_queue_msg(w->ctx, &m) != 0) return -1;
    if (w->in_recv) return 0; /* the loop writes it once the read is done */
    if (wslay_event_send(w->ctx) != 0) {
        wsc_fail(w, "write failed", 0);
        return -1;
    }
    wsc_rearm(w);
    return 0;
}

void wsc_free(struct wsc *w) {
    net_close(&w->conn);
    if (w->ctx) wslay_event_context_free(w->ctx);
    free(w->req);
    free(w->hbuf);
    w->ctx = NULL;
    w->req = w->hbuf = NULL;
    w->state = WSC_CLOSED;
}
