/*
 * ws_frame: a socket's frames on the wire, with memory only while a frame
 * is in flight. Reading uses wslay's frame-level parser (wslay_frame_recv),
 * whose context embeds a 4 KiB input buffer: a socket borrows the server's
 * one spare read state while it reads and gives it back whenever it stands
 * between two frames, so an idle socket holds none. Writing is ours: a
 * queue of frames (header, an optional part shared by every socket that
 * gets the same event, a tail of the socket's own) written with one
 * sendmsg() of up to WS_IOV_FRAMES frames per loop turn.
 *
 * Loop thread only. Control frames go before data frames not yet started
 * (as wslay's event API did), a close frame is the last thing written.
 */
#include "ws.h"

#include "ws_server.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define WS_IOV_FRAMES 64 /* frames per sendmsg() */
#define WS_CTRL_MAX 125  /* payload of a control frame (RFC 6455 5.5) */

struct ws_out {
    struct ws_out *next;
    struct ws_shared *shared; /* a reference, or NULL */
    size_t tail_len;
    uint8_t hdr_len;
    uint8_t ctrl;  /* queued ahead of the data frames not yet started */
    uint8_t close; /* a close frame: nothing is written after it */
    uint8_t hdr[10];
    uint8_t tail[]; /* the frame's own payload bytes after `shared` */
};

struct ws_rx {
    wslay_frame_context_ptr fc; /* owned; its user data is this struct */
    struct ws_conn *c;          /* the socket reading now (borrowed) */
    uint64_t fed;               /* bytes handed to wslay */
    uint64_t used;              /* header and payload bytes wslay returned */
    uint64_t left;              /* payload bytes of the current frame still to come */
    int in_frame;               /* a header was read, its payload is not complete */
    int failed;                 /* the peer closed the TCP connection, or recv failed */
    uint8_t op, fin;            /* the current frame */
    uint8_t msg_op;             /* the data message in progress (text, binary), 0 none */
    uint8_t ctrl[WS_CTRL_MAX];
    size_t ctrl_len;
    char *msg; /* owned: a text message read in pieces (WS_MAX_MSG), kept for reuse */
    size_t msg_len;
};

struct ws_shared *ws_shared_new(const char *data, size_t len) {
    struct ws_shared *s = malloc(sizeof(*s) + len + 1);
    if (!s) return NULL;
    s->refs = 1;
    s->len = len;
    memcpy(s->data, data, len);
    s->data[len] = '\0';
    return s;
}

void ws_shared_unref(struct ws_shared *s) {
    if (s && --s->refs == 0) free(s);
}

static size_t out_size(const struct ws_out *o) {
    return o->hdr_len + (o->shared ? o->shared->len : 0) + o->tail_len;
}

static void out_free(struct ws_out *o) {
    ws_shared_unref(o->shared);
    free(o);
}

int ws_frame_queue(struct ws_conn *c, uint8_t opcode, struct ws_shared *shared, const void *tail,
                   size_t tail_len, int ahead) {
    size_t plen = (shared ? shared->len : 0) + tail_len;
    if (c->wr_closed || ((opcode & 0x8) && plen > WS_CTRL_MAX)) return -1;
    struct ws_out *o = malloc(sizeof(*o) + tail_len);
    if (!o) return -1;
    o->hdr[0] = (uint8_t)(0x80 | opcode); /* FIN; a server's frames are not masked */
    if (plen < 126) {
        o->hdr[1] = (uint8_t)plen;
        o->hdr_len = 2;
    } else if (plen < 65536) {
        o->hdr[1] = 126;
        o->hdr[2] = (uint8_t)(plen >> 8);
        o->hdr[3] = (uint8_t)plen;
        o->hdr_len = 4;
    } else {
        o->hdr[1] = 127;
        for (int i = 0; i < 8; i++)
            o->hdr[2 + i] = (uint8_t)((uint64_t)plen >> (56 - 8 * i));
        o->hdr_len = 10;
    }
    o->ctrl = (uint8_t)ahead;
    o->close = opcode == WSLAY_CONNECTION_CLOSE;
    o->shared = shared;
    if (shared) shared->refs++;
    o->tail_len = tail_len;
    if (tail_len) memcpy(o->tail, tail, tail_len);
    struct ws_out **at;
    if (ahead) { /* after a frame partly written and the frames queued ahead before it */
        at = &c->out;
        if (*at && c->out_off > 0) at = &(*at)->next;
        while (*at && (*at)->ctrl)
            at = &(*at)->next;
    } else {
        at = c->out ? &c->out_tail->next : &c->out;
    }
    o->next = *at;
    *at = o;
    if (!o->next) c->out_tail = o;
    c->out_count++;
    return 0;
}

/* Drops the queue (after the close frame, or when the socket goes). */
static void out_clear(struct ws_conn *c) {
    while (c->out) {
        struct ws_out *o = c->out;
        c->out = o->next;
        out_free(o);
    }
    c->out_tail = NULL;
    c->out_count = 0;
    c->out_off = 0;
}

/* `n` more bytes of the queue were written: frees the frames done. */
static void out_advance(struct ws_conn *c, size_t n) {
    n += c->out_off;
    c->out_off = 0;
    while (c->out) {
        struct ws_out *o = c->out;
        size_t sz = out_size(o);
        if (n < sz) {
            c->out_off = n;
            return;
        }
        n -= sz;
        c->out = o->next;
        if (!c->out) c->out_tail = NULL;
        c->out_count--;
        int was_close = o->close;
        out_free(o);
        if (was_close) {
            c->wr_closed = 1;
            out_clear(c);
            return;
        }
    }
}

/* Appends the part [p, p+len) to iov, minus what `skip` says was written. */
static void iov_add(struct iovec *iov, int *n, const void *p, size_t len, size_t *skip) {
    if (*skip >= len) {
        *skip -= len;
        return;
    }
    iov[*n].iov_base = (char *)p + *skip;
    iov[*n].iov_len = len - *skip;
    *skip = 0;
    (*n)++;
}

int ws_frame_flush(struct ws_conn *c) {
    while (c->out && !c->wr_closed) {
        struct iovec iov[3 * WS_IOV_FRAMES];
        int n = 0, frames = 0;
        size_t skip = c->out_off, want = 0;
        for (struct ws_out *o = c->out; o && frames < WS_IOV_FRAMES; o = o->next, frames++) {
            int first = n;
            iov_add(iov, &n, o->hdr, o->hdr_len, &skip);
            if (o->shared) iov_add(iov, &n, o->shared->data, o->shared->len, &skip);
            iov_add(iov, &n, o->tail, o->tail_len, &skip);
            for (int i = first; i < n; i++)
                want += iov[i].iov_len;
            if (o->close) break;
        }
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t r;
        do {
            r = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
        } while (r < 0 && errno == EINTR);
        if (r < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        out_advance(c, (size_t)r);
        if ((size_t)r < want) return 0; /* the kernel's buffer is full */
    }
    return 0;
}

/* ---- reading ------------------------------------------------------------ */

/* wslay's read callback: the bytes MHD read past the handshake first, then
 * the socket. 0 bytes or an error makes wslay answer WSLAY_ERR_WANT_READ;
 * `failed` tells a closed or broken connection from "nothing yet". */
static ssize_t rx_recv(uint8_t *buf, size_t len, int flags, void *user) {
    (void)flags;
    struct ws_rx *rx = user;
    struct ws_conn *c = rx->c;
    if (c->extra) {
        size_t n = c->extra_len - c->extra_off;
        if (n > len) n = len;
        memcpy(buf, c->extra + c->extra_off, n);
        c->extra_off += n;
        if (c->extra_off == c->extra_len) {
            free(c->extra);
            c->extra = NULL;
        }
        rx->fed += n;
        return (ssize_t)n;
    }
    ssize_t r;
    do {
        r = recv(c->fd, buf, len, 0);
    } while (r < 0 && errno == EINTR);
    if (r > 0) {
        rx->fed += (uint64_t)r;
        return r;
    }
    if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) rx->failed = 1;
    return -1;
}

static ssize_t rx_send_unused(const uint8_t *data, size_t len, int flags, void *user) {
    (void)data;
    (void)len;
    (void)flags;
    (void)user;
    return -1;
}

static int rx_genmask_unused(uint8_t *buf, size_t len, void *user) {
    (void)buf;
    (void)len;
    (void)user;
    return -1;
}

static struct ws_rx *rx_new(void) {
    struct ws_rx *rx = calloc(1, sizeof(*rx));
    struct wslay_frame_callbacks cb = {
        .send_callback = rx_send_unused,
        .recv_callback = rx_recv,
        .genmask_callback = rx_genmask_unused,
    };
    if (rx && wslay_frame_context_init(&rx->fc, &cb, rx) != 0) {
        free(rx);
        rx = NULL;
    }
    if (rx) metric_add(&ws_metric_read_states, 1);
    return rx;
}

void ws_frame_rx_free(struct ws_rx *rx) {
    if (!rx) return;
    metric_add(&ws_metric_read_states, -1);
    wslay_frame_context_free(rx->fc);
    free(rx->msg);
    free(rx);
}

/* `c` gets the server's spare read state (or a new one). */
static struct ws_rx *rx_take(struct ws_conn *c) {
    if (c->rx) return c->rx;
    struct ws_rx **spare = ws_server_spare_rx(c->srv);
    struct ws_rx *rx = *spare ? *spare : rx_new();
    *spare = NULL;
    if (rx) rx->c = c;
    c->rx = rx;
    return rx;
}

/* Between two frames (everything wslay read was returned, no message
 * half read), or when reading is over: `c` gives its read state back. */
static void rx_release(struct ws_conn *c) {
    struct ws_rx *rx = c->rx;
    int between = !rx->in_frame && !rx->msg_op && rx->fed == rx->used;
    if (!between && !c->rd_closed) return;
    c->rx = NULL;
    struct ws_rx **spare = ws_server_spare_rx(c->srv);
    if (!between || *spare) {
        ws_frame_rx_free(rx);
        return;
    }
    rx->c = NULL;
    rx->fed = rx->used = 0;
    rx->failed = 0;
    *spare = rx;
}

/* 1 when [s, s+n) is valid UTF-8 (no overlong forms, no surrogates). */
static int utf8_ok(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t b = s[i];
        size_t k;
        uint32_t cp;
        if (b < 0x80) {
            i++;
            continue;
        } else if ((b & 0xe0) == 0xc0) {
            k = 1;
            cp = b & 0x1f;
        } else if ((b & 0xf0) == 0xe0) {
            k = 2;
            cp = b & 0x0f;
        } else if ((b & 0xf8) == 0xf0) {
            k = 3;
            cp = b & 0x07;
        } else {
            return 0;
        }
        if (i + k >= n) return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += k + 1;
    }
    return 1;
}

/* A protocol error: queues a close with `code` ahead of the data, stops
 * reading. Returns -1. */
static int rx_fail(struct ws_conn *c, uint16_t code, const char *reason) {
    c->rd_closed = 1;
    ws_conn_queue_close(c, code, reason, 1);
    return -1;
}

/* A whole control frame was read. */
static int rx_control(struct ws_conn *c, struct ws_rx *rx) {
    if (rx->op == WSLAY_PING) {
        if (c->close_queued || c->wr_closed) return 0;
        if (ws_frame_queue(c, WSLAY_PONG, NULL, rx->ctrl, rx->ctrl_len, 1) != 0) c->dead = 1;
        return 0;
    }
    if (rx->op == WSLAY_PONG) {
        ws_conn_message(c, WSLAY_PONG, rx->ctrl, rx->ctrl_len);
        return 0;
    }
    /* close: answered with the peer's code (none when it sent none) */
    c->rd_closed = 1;
    if (rx->ctrl_len == 1) return rx_fail(c, WSLAY_CODE_PROTOCOL_ERROR, "");
    if (rx->ctrl_len >= 2 && !c->close_queued) {
        uint16_t code = (uint16_t)(rx->ctrl[0] << 8 | rx->ctrl[1]);
        int valid = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
                    (code >= 3000 && code <= 4999);
        ws_conn_queue_close(c, valid ? code : WSLAY_CODE_PROTOCOL_ERROR, "", 1);
    } else if (!c->close_queued) {
        ws_conn_queue_close(c, 0, "", 1);
    }
    return -1;
}

/* One piece of a frame from wslay. Returns 0, or -1 when reading stops. */
static int rx_piece(struct ws_conn *c, struct ws_rx *rx, const struct wslay_frame_iocb *io) {
    if (!rx->in_frame) { /* a new frame's header */
        uint64_t pl = io->payload_length;
        rx->used += 2 + (pl > 65535 ? 8 : pl > 125 ? 2 : 0) + (io->mask ? 4 : 0);
        if (io->rsv || !io->mask) return rx_fail(c, WSLAY_CODE_PROTOCOL_ERROR, "bad frame");
        if (io->opcode == WSLAY_CONNECTION_CLOSE || io->opcode == WSLAY_PING ||
            io->opcode == WSLAY_PONG) {
            rx->ctrl_len = 0;
        } else if (io->opcode == WSLAY_CONTINUATION_FRAME) {
            if (!rx->msg_op) return rx_fail(c, WSLAY_CODE_PROTOCOL_ERROR, "no message");
        } else if (io->opcode == WSLAY_TEXT_FRAME || io->opcode == WSLAY_BINARY_FRAME) {
            if (rx->msg_op) return rx_fail(c, WSLAY_CODE_PROTOCOL_ERROR, "message in progress");
            rx->msg_op = io->opcode;
            rx->msg_len = 0;
        } else {
            return rx_fail(c, WSLAY_CODE_PROTOCOL_ERROR, "unknown opcode");
        }
        if (!(io->opcode & 0x8) && rx->msg_len + pl > WS_MAX_MSG)
            return rx_fail(c, WSLAY_CODE_MESSAGE_TOO_BIG, "message too big");
        rx->in_frame = 1;
        rx->op = io->opcode;
        rx->fin = io->fin;
        rx->left = pl;
    }
    const uint8_t *data = io->data;
    size_t n = io->data_length;
    rx->used += n;
    rx->left -= n;
    /* a whole unfragmented text frame in one piece is handled where it lies */
    int direct = rx->fin && rx->op == WSLAY_TEXT_FRAME && n == io->payload_length;
    if (rx->op & 0x8) {
        memcpy(rx->ctrl + rx->ctrl_len, data, n);
        rx->ctrl_len += n;
    } else if (rx->msg_op == WSLAY_TEXT_FRAME && !direct && n) {
        if (!rx->msg && !(rx->msg = malloc(WS_MAX_MSG)))
            return rx_fail(c, WSLAY_CODE_INTERNAL_SERVER_ERROR, "");
        memcpy(rx->msg + rx->msg_len, data, n);
        rx->msg_len += n;
    } else if (!direct) {
        rx->msg_len += n; /* binary: counted, dropped */
    }
    if (rx->left) return 0;
    rx->in_frame = 0;
    if (rx->op & 0x8) return rx_control(c, rx);
    if (!rx->fin) return 0;
    uint8_t op = rx->msg_op;
    const uint8_t *msg = direct ? data : (const uint8_t *)rx->msg;
    size_t len = direct ? n : rx->msg_len;
    rx->msg_op = 0;
    rx->msg_len = 0;
    if (op == WSLAY_TEXT_FRAME && !utf8_ok(msg, len))
        return rx_fail(c, WSLAY_CODE_INVALID_FRAME_PAYLOAD_DATA, "invalid UTF-8");
    ws_conn_message(c, op, msg, len);
    return 0;
}

int ws_frame_read(struct ws_conn *c) {
    struct ws_rx *rx = rx_take(c);
    int ret = 0;
    if (!rx) return -1;
    while (!c->rd_closed && !c->dead && c->out_count <= (size_t)ws_server_max_queue(c->srv)) {
        struct wslay_frame_iocb io;
        ssize_t r = wslay_frame_recv(rx->fc, &io);
        if (r == WSLAY_ERR_WANT_READ) {
            if (rx->failed) ret = -1;
            break;
        }
        if (r < 0) {
            rx_fail(c, WSLAY_CODE_PROTOCOL_ERROR, "bad frame");
            break;
        }
        if (rx_piece(c, rx, &io) != 0) break;
    }
    rx_release(c);
    return ret;
}

void ws_frame_clear(struct ws_conn *c) {
    out_clear(c);
    ws_frame_rx_free(c->rx);
    c->rx = NULL;
}
