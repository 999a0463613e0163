/*
 * http_client: a minimal HTTP/1.1 client for the load tools, on the net
 * loop. One `struct hc` is one keep-alive connection carrying one request at
 * a time; bodies are Content-Length (chunked replies are parsed too). It
 * keeps the status, the body and the Set-Cookie values of the reply; it
 * never follows redirects and never retries on its own.
 */
#ifndef QW_STRESS_HTTP_CLIENT_H
#define QW_STRESS_HTTP_CLIENT_H

#include "net.h"

#include <stddef.h>

#define HC_MAX_COOKIES 4

/* A parsed reply; strings are owned by the struct (hc_resp_clear frees). */
struct hc_resp {
    int status;
    int close;  /* "Connection: close" */
    char *body; /* NUL-terminated */
    size_t body_len;
    char *cookies[HC_MAX_COOKIES]; /* "name=value" parts of Set-Cookie */
    int ncookies;
    char retry_after[16];
};

/* Parses one complete reply at the start of buf[0..len). Returns the bytes
 * it used (> 0) when the reply is complete, 0 when more bytes are needed,
 * -1 when it is not HTTP. On > 0, `r` holds the reply (caller clears). */
long hc_resp_parse(struct hc_resp *r, const char *buf, size_t len);
void hc_resp_clear(struct hc_resp *r);

/* The value of cookie `name` among r's cookies (borrowed), or NULL. */
const char *hc_resp_cookie(const struct hc_resp *r, const char *name);

struct hc;
/* Runs once per request: `r` is the reply (borrowed for the call), or NULL
 * on a transport error described by `err`. */
typedef void (*hc_done_fn)(struct hc *c, const struct hc_resp *r, const char *err, void *arg);

struct hc {
    struct net_conn conn; /* first: the loop hands us this */
    const struct net_target *target;
    int busy;
    int connected;
    int reused; /* the request went on a kept-alive connection */
    char *out;  /* request bytes, owned */
    size_t out_len, out_off;
    char *in; /* reply bytes so far, owned */
    size_t in_len, in_cap;
    double deadline_ms; /* monotonic; 0 = none */
    hc_done_fn done;
    void *arg;
};

void hc_init(struct hc *c, const struct net_target *t);

/* Sends one request; `cookie` ("a=b; c=d") and `body` (JSON) may be NULL.
 * Completes through `done` on the loop. Returns 0, or -1 when busy or the
 * connect failed at once (then `done` is not called). */
int hc_request(struct hc *c, const char *method, const char *path, const char *cookie,
               const char *body, double timeout_ms, hc_done_fn done, void *arg);

/* Fails the pending request with "timed out" when its deadline passed. */
void hc_check_deadline(struct hc *c, double now_ms);

/* Closes the connection and frees buffers; a pending request is dropped
 * without its callback. Safe on an idle or never-used client. */
void hc_free(struct hc *c);

/* What one request answered, for a caller that turns the loop until
 * `done` (setup and results, one request at a time): pass hc_sync_done
 * and the struct to hc_request. */
struct hc_sync {
    const char *want_cookie; /* set by the caller, or NULL: the cookie to keep */
    int done, status;
    int retry_after;   /* seconds, from a 429's Retry-After */
    char *body;        /* the reply's body; the caller frees it */
    char cookie[1024]; /* "name=value" of want_cookie when the reply set it */
    char err[256];     /* a transport error, or "" */
};

/* An hc_done_fn filling the struct hc_sync `arg`. */
void hc_sync_done(struct hc *c, const struct hc_resp *r, const char *err, void *arg);

#endif
