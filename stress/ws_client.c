/*
 * ws_client: the upgrade handshake and RFC 6455 framing for the load tools'
 * WebSocket client. Runs only on the net loop thread and never blocks: it
 * reads until EAGAIN, delivers every whole frame in its read buffer before
 * reading more (so a message is stamped by its owner right after the read
 * that brought its last byte), and re-arms epoll for writing only while
 * frames wait in its write buffer. One read buffer per socket (8 KiB, grown
 * only for a larger message) replaces wslay's per-message copies: with
 * thousands of students on the cores of the stack it measures, the load
 * generator's own work per message shows in the latencies it reports.
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
#define WS_HEAD_MAX 8192       /* the upgrade reply head, and the read buffer's first size */
#define WS_MSG_MAX (16u << 20) /* a larger message from the server fails the socket */

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

int wsc_frame_head(const unsigned char *buf, size_t len, int *fin, int *op, uint64_t *plen) {
    if (len < 2) return 0;
    *fin = buf[0] >> 7;
    *op = buf[0] & 0x0f;
    if ((buf[0] & 0x70) || (buf[1] & 0x80)) return -1; /* reserved bits; a masked server frame */
    if ((*op > 2 && *op < 8) || *op > 10) return -1;
    uint64_t n = buf[1] & 0x7f;
    int h = 2;
    if (n == 126) {
        if (len < 4) return 0;
        n = ((uint64_t)buf[2] << 8) | buf[3];
        h = 4;
    } else if (n == 127) {
        if (len < 10) return 0;
        n = 0;
        for (int i = 2; i < 10; i++)
            n = (n << 8) | buf[i];
        if (n >> 63) return -1;
        h = 10;
    }
    if (*op >= 8 && (!*fin || n > 125)) return -1;
    *plen = n;
    return h;
}

size_t wsc_frame_put(unsigned char *out, int op, const void *payload, size_t len,
                     const unsigned char mask[4]) {
    size_t h = 0;
    out[h++] = (unsigned char)(0x80 | op);
    if (len < 126) {
        out[h++] = (unsigned char)(0x80 | len);
    } else if (len <= 0xffff) {
        out[h++] = 0x80 | 126;
        out[h++] = (unsigned char)(len >> 8);
        out[h++] = (unsigned char)len;
    } else {
        out[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            out[h++] = (unsigned char)((uint64_t)len >> (8 * i));
    }
    memcpy(out + h, mask, 4);
    h += 4;
    const unsigned char *p = payload;
    for (size_t i = 0; i < len; i++)
        out[h + i] = p[i] ^ mask[i & 3];
    return h + len;
}

static void wsc_fail(struct wsc *w, const char *why, int status) {
    if (w->state == WSC_CLOSED) return;
    w->state = WSC_CLOSED;
    net_close(&w->conn);
    if (w->on_fail) w->on_fail(w, why, status, w->close_code, w->arg);
}

/* Appends one masked frame to the write buffer. Returns 0 or -1. */
static int wsc_queue(struct wsc *w, int op, const void *payload, size_t len) {
    unsigned char mask[4];
    if (RAND_bytes(mask, sizeof(mask)) != 1) return -1;
    if (w->out_off == w->out_len) w->out_off = w->out_len = 0;
    size_t need = w->out_len + len + 14;
    if (need > w->out_cap) {
        size_t cap = need < 256 ? 256 : need * 2;
        char *p = realloc(w->out, cap);
        if (!p) return -1;
        w->out = p;
        w->out_cap = cap;
    }
    w->out_len += wsc_frame_put((unsigned char *)w->out + w->out_len, op, payload, len, mask);
    return 0;
}

/* Writes what the write buffer holds until done or EAGAIN: 0, or -1. */
static int wsc_flush(struct wsc *w) {
    while (w->out_off < w->out_len) {
        ssize_t n = net_write(&w->conn, w->out + w->out_off, w->out_len - w->out_off);
        if (n < 0 && errno == EAGAIN) return 0;
        if (n < 0) return -1;
        w->out_off += (size_t)n;
    }
    return 0;
}

static void wsc_rearm(struct wsc *w) {
    if (w->state != WSC_OPEN) return;
    net_arm(&w->conn, EPOLLIN | (w->out_off < w->out_len ? EPOLLOUT : 0));
}

/* The server's close: answer it with its own code (best effort), then report. */
static void wsc_on_close(struct wsc *w, const unsigned char *p, size_t n) {
    char why[64];
    w->close_code = n >= 2 ? (p[0] << 8) | p[1] : 1005;
    if (wsc_queue(w, 8, p, n >= 2 ? 2 : 0) == 0) (void)wsc_flush(w);
    snprintf(why, sizeof(why), "closed by the server (code %d)", w->close_code);
    wsc_fail(w, why, 0);
}

/* Hands a whole text message to the owner, NUL-terminated in place: the
 * buffer always keeps one byte past the payload, saved and put back. */
static void wsc_deliver(struct wsc *w, char *msg, size_t len) {
    if (!w->on_text) return;
    char saved = msg[len];
    msg[len] = '\0';
    w->on_text(w, msg, len, w->arg);
    msg[len] = saved;
}

/* Appends a fragment to the message being put together. Returns 0 or -1. */
static int wsc_frag_add(struct wsc *w, const char *p, size_t n) {
    if (w->fraglen + n >= WS_MSG_MAX) return -1;
    char *f = realloc(w->frag, w->fraglen + n + 1);
    if (!f) return -1;
    memcpy(f + w->fraglen, p, n);
    w->frag = f;
    w->fraglen += n;
    return 0;
}

/* One whole frame at p (payload n bytes). Returns 0, or -1 with w failed. */
static int wsc_frame(struct wsc *w, int fin, int op, char *p, size_t n) {
    if (op == 8) {
        wsc_on_close(w, (const unsigned char *)p, n);
        return -1;
    }
    if (op == 9) {
        if (wsc_queue(w, 10, p, n) == 0) return 0;
        wsc_fail(w, "out of memory", 0);
        return -1;
    }
    if (op == 10) return 0;
    if (op != 0 && fin && !w->frag_op) { /* the usual case: a whole message */
        if (op == 1) wsc_deliver(w, p, n);
        return w->state == WSC_OPEN ? 0 : -1;
    }
    if ((op == 0) != (w->frag_op != 0)) {
        wsc_fail(w, op ? "a new message inside a fragmented one" : "a continuation of nothing", 0);
        return -1;
    }
    if (op) w->frag_op = op;
    if (wsc_frag_add(w, p, n) != 0) {
        wsc_fail(w, "fragmented message too large", 0);
        return -1;
    }
    if (!fin) return 0;
    if (w->frag_op == 1) wsc_deliver(w, w->frag, w->fraglen);
    free(w->frag);
    w->frag = NULL;
    w->fraglen = 0;
    w->frag_op = 0;
    return w->state == WSC_OPEN ? 0 : -1;
}

/* Delivers every whole frame in the read buffer and keeps the rest at its
 * start. Returns the bytes the next frame needs in all (at least rlen + 1),
 * or 0 when w failed. */
static size_t wsc_parse(struct wsc *w) {
    size_t off = 0, need = 0;
    for (;;) {
        int fin, op;
        uint64_t plen;
        const unsigned char *b = (const unsigned char *)w->rbuf + off;
        int h = wsc_frame_head(b, w->rlen - off, &fin, &op, &plen);
        if (h < 0) {
            wsc_fail(w, "a frame that breaks RFC 6455 from the server", 0);
            return 0;
        }
        if (h == 0) {
            need = 14;
            break;
        }
        if (plen >= WS_MSG_MAX) {
            wsc_fail(w, "a message over 16 MiB from the server", 0);
            return 0;
        }
        if (w->rlen - off < h + plen) {
            need = h + plen;
            break;
        }
        if (wsc_frame(w, fin, op, w->rbuf + off + h, (size_t)plen) != 0) return 0;
        off += h + plen;
    }
    if (off) {
        memmove(w->rbuf, w->rbuf + off, w->rlen - off);
        w->rlen -= off;
    }
    return need > w->rlen ? need : w->rlen + 1;
}

/* Reads until EAGAIN, delivering whole frames after every read. */
static void wsc_read(struct wsc *w) {
    char why[64];
    w->in_recv = 1;
    for (;;) {
        size_t need = wsc_parse(w);
        if (!need) break;
        if (need + 1 > w->rcap) { /* +1: room for the NUL put after a payload */
            size_t cap = w->rcap * 2 > need + 1 ? w->rcap * 2 : need + 1;
            char *p = realloc(w->rbuf, cap);
            if (!p) {
                wsc_fail(w, "out of memory", 0);
                break;
            }
            w->rbuf = p;
            w->rcap = cap;
        }
        ssize_t n = net_read(&w->conn, w->rbuf + w->rlen, w->rcap - 1 - w->rlen);
        if (n < 0 && errno == EAGAIN) break;
        if (n <= 0) {
            snprintf(why, sizeof(why), "connection lost (close code %d)", w->close_code);
            wsc_fail(w, why, 0);
            break;
        }
        w->rlen += (size_t)n;
    }
    w->in_recv = 0;
}

static void wsc_on_handshake_read(struct wsc *w) {
    char why[512];
    for (;;) {
        if (w->rlen >= WS_HEAD_MAX - 1) { /* one byte kept for the NUL after a payload */
            wsc_fail(w, "upgrade reply head too large", 0);
            return;
        }
        ssize_t n = net_read(&w->conn, w->rbuf + w->rlen, WS_HEAD_MAX - 1 - w->rlen);
        if (n < 0 && errno == EAGAIN) break;
        if (n <= 0) {
            snprintf(why, sizeof(why), "connection closed during the upgrade%s%s",
                     n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
            wsc_fail(w, why, 0);
            return;
        }
        w->rlen += (size_t)n;
    }
    const char *end = memmem(w->rbuf, w->rlen, "\r\n\r\n", 4);
    if (!end) return;
    size_t head = (size_t)(end - w->rbuf) + 4;
    int st = wsc_check_upgrade(w->rbuf, head, w->key);
    if (st != 101) {
        if (st < 0)
            wsc_fail(w, "upgrade answered 101 without the right Sec-WebSocket-Accept", 101);
        else {
            snprintf(why, sizeof(why), "upgrade refused with HTTP %d", st);
            wsc_fail(w, why, st);
        }
        return;
    }
    memmove(w->rbuf, w->rbuf + head, w->rlen - head); /* frames that came with the reply */
    w->rlen -= head;
    w->state = WSC_OPEN;
    wsc_read(w);
    if (w->state == WSC_OPEN && wsc_flush(w) != 0) wsc_fail(w, "write failed", 0);
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
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) wsc_read(w);
    if (w->state == WSC_OPEN && wsc_flush(w) != 0) {
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
    w->rbuf = malloc(WS_HEAD_MAX);
    w->rcap = WS_HEAD_MAX;
    if (!w->req || !w->rbuf) goto fail;
    w->req_len = (size_t)snprintf(
        w->req, cap,
        "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nOrigin: %s\r\n"
        "%s%s%s\r\n",
        path, w->target->host, w->key, w->target->base, cookie ? "Cookie: " : "",
        cookie ? cookie : "", cookie ? "\r\n" : "");
    w->req_off = 0;
    w->rlen = 0;
    w->state = WSC_CONNECTING;
    if (net_connect(&w->conn, w->target) != 0) goto fail;
    return 0;
fail:
    free(w->req);
    free(w->rbuf);
    w->req = w->rbuf = NULL;
    w->state = WSC_IDLE;
    return -1;
}

int wsc_send_text(struct wsc *w, const char *text) {
    if (w->state != WSC_OPEN) return -1;
    if (wsc_queue(w, 1, text, strlen(text)) != 0) return -1;
    if (w->in_recv) return 0; /* the loop writes it once the read is done */
    if (wsc_flush(w) != 0) {
        wsc_fail(w, "write failed", 0);
        return -1;
    }
    wsc_rearm(w);
    return 0;
}

void wsc_free(struct wsc *w) {
    net_close(&w->conn);
    free(w->req);
    free(w->rbuf);
    free(w->frag);
    free(w->out);
    w->req = w->rbuf = w->frag = w->out = NULL;
    w->rlen = w->rcap = w->fraglen = w->out_len = w->out_off = w->out_cap = 0;
    w->state = WSC_CLOSED;
}
