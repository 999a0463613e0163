/*
 * ws_client: a WebSocket client on the net loop, framed by wslay. It writes
 * the HTTP upgrade request itself, checks Sec-WebSocket-Accept (SHA-1 and
 * base64 from OpenSSL) and then hands the socket to a wslay client context,
 * which masks every frame it sends. It delivers whole text messages and
 * reports a refused upgrade or a close once; it never reconnects by itself.
 */
#ifndef QW_STRESS_WS_CLIENT_H
#define QW_STRESS_WS_CLIENT_H

#include "net.h"

#include <stddef.h>
#include <wslay/wslay.h>

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
    char *hbuf; /* upgrade reply, then leftover frame bytes */
    size_t hlen, pre_off, pre_len;
    wslay_event_context_ptr ctx;
    int close_code;
    int in_recv; /* inside wslay_event_recv: sends wait for the loop */
    wsc_text_fn on_text;
    wsc_fail_fn on_fail;
    void *arg;
};

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

/* Queues one text message and starts writing it. Returns 0 or -1. */
int wsc_send_text(struct wsc *w, const char *text);

/* Closes the socket at once and frees everything; no callback runs. */
void wsc_free(struct wsc *w);

#endif
