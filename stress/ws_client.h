/*
 * ws_client: a WebSocket client on the net loop. It writes the HTTP upgrade
 * request itself, checks Sec-WebSocket-Accept (SHA-1 and base64 from
 * OpenSSL), then reads RFC 6455 frames from one buffer of its own and hands
 * each whole text message to its owner from that buffer, without a copy or
 * an allocation per message; it masks every frame it sends. It answers pings
 * and the server's close, reports a refused upgrade or a close once, and
 * never reconnects by itself.
 */
#ifndef QW_STRESS_WS_CLIENT_H
#define QW_STRESS_WS_CLIENT_H

#include "net.h"

#include <stddef.h>
#include <stdint.h>

enum wsc_state { WSC_IDLE, WSC_CONNECTING, WSC_HANDSHAKE, WSC_OPEN, WSC_CLOSED };

struct wsc;
/* A whole text message (`msg` borrowed for the call, NUL-terminated). */
typedef void (*wsc_text_fn)(struct wsc *w, const char *msg, size_t len, void *arg);
/* The socket failed or closed: `why` says how, `status` is the HTTP status of
 * a refused upgrade (0 otherwise), `code` the close code (0 when none). */
typedef void (*wsc_fail_fn)(struct wsc *w, const char *why, int status, int code, void *arg);

struct wsc {
    struct net_conn conn; /* first: the loop hands us this */
    const struct net_target *target;
    enum wsc_state state;
    char key[32]; /* Sec-WebSocket-Key we sent */
    char *req;    /* upgrade request, owned until written */
    size_t req_len, req_off;
    char *rbuf;  /* owned: the upgrade reply, then the frames being read */
    size_t rlen; /* bytes in rbuf */
    size_t rcap; /* its size */
    char *frag;  /* owned: a fragmented message being put together */
    size_t fraglen;
    int frag_op; /* its opcode (1 text, 2 binary), 0 when none */
    char *out;   /* owned: frames waiting to be written */
    size_t out_len, out_off, out_cap;
    int close_code;
    int in_recv; /* inside the read loop: sends wait for the loop */
    wsc_text_fn on_text;
    wsc_fail_fn on_fail;
    void *arg;
};

/* Reads one frame head from a server at buf[0..len): returns its length
 * (2 to 10) with *fin, *op and *plen filled; 0 when more bytes are needed;
 * -1 when the frame breaks RFC 6455 for a client (masked, reserved bits,
 * an unknown opcode, a control frame fragmented or over 125 bytes). */
int wsc_frame_head(const unsigned char *buf, size_t len, int *fin, int *op, uint64_t *plen);

/* Writes a final frame of opcode `op` with `len` payload bytes masked by
 * `mask` into out (room for len + 14 bytes); returns the bytes written. */
size_t wsc_frame_put(unsigned char *out, int op, const void *payload, size_t len,
                     const unsigned char mask[4]);

/* Computes the Sec-WebSocket-Accept for `key` into out (29 bytes). */
void wsc_accept_for(const char *key, char out[29]);

/* Checks an upgrade reply's head (up to and including the blank line):
 * returns 101 when it accepts `key`, the HTTP status when it refuses, and
 * -1 when the status is 101 but the accept value is missing or wrong. */
int wsc_check_upgrade(const char *head, size_t len, const char *key);

void wsc_init(struct wsc *w, const struct net_target *t, wsc_text_fn on_text, wsc_fail_fn on_fail,
              void *arg);

/* Connects and sends the upgrade for `path` (with query) with an Origin of
 * the target's own base and the Cookie header `cookie` (may be NULL).
 * Returns 0, or -1 when the connect failed at once (errno set). */
int wsc_open(struct wsc *w, const char *path, const char *cookie);

/* Queues one text message and starts writing it (from inside a message
 * callback, the loop writes it once the read is done). Returns 0 or -1. */
int wsc_send_text(struct wsc *w, const char *text);

/* Closes the socket at once and frees everything; no callback runs. */
void wsc_free(struct wsc *w);

#endif
