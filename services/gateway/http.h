/*
 * http: the gateway's HTTP front (libmicrohttpd, thread pool).
 *
 * Routes are a table of {method, pattern, body limit, handler}; a pattern
 * segment "*" matches one path segment and is handed to the handler in
 * `params`. The body is gathered, bounded by the route's limit (413 before
 * any parsing), then the handler runs once on an HTTP pool thread, where it
 * may wait on NATS requests (bounded by QW_REQUEST_TIMEOUT_MS). A handler
 * always answers through one of the http_* reply functions below and
 * returns what they return.
 */
#ifndef QW_HTTP_H
#define QW_HTTP_H

#include "gateway.h"
#include "metrics.h"

#include <jansson.h>
#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_BODY_LIMIT (64 * 1024)
#define HTTP_POOL_LIMIT (1024 * 1024)
#define HTTP_MAX_PARAMS 4

struct http_req {
    struct gateway *gw;
    struct MHD_Connection *conn;
    const char *method;
    const char *url; /* path only, no query */
    const struct http_route *route;
    const char *params[HTTP_MAX_PARAMS]; /* "*" segments, owned by the request */
    char *body;                          /* NUL-terminated, owned by the request */
    size_t body_len;
    int too_large;
    char *param_buf;       /* storage behind params */
    json_t *extra_headers; /* {"Set-Cookie": "...", ...} added to the reply */
};

typedef enum MHD_Result (*http_handler)(struct http_req *r);

/* The body_limit of the one route whose body is not JSON: the upload of a
 * picture, whose body is the picture itself (image/png, image/jpeg or
 * image/webp), at most QW_IMAGE_MAX_BYTES. */
#define HTTP_IMAGE_BODY ((size_t)-1)

struct http_route {
    const char *method;  /* "GET", "POST" */
    const char *pattern; /* "/admin/api/sessions/ * /results" without spaces */
    size_t body_limit;   /* 0 = HTTP_BODY_LIMIT; HTTP_IMAGE_BODY: a picture */
    http_handler fn;
};

/* Starts the public listener on QW_HTTP_ADDR:QW_HTTP_PORT. Returns 0 or -1. */
int http_start(struct gateway *gw);
void http_stop(struct gateway *gw);

/* Replies. `body` is stolen (decref'd) by http_json. */
enum MHD_Result http_json(struct http_req *r, unsigned status, json_t *body);
enum MHD_Result http_error(struct http_req *r, unsigned status, const char *code, const char *fmt,
                           ...) __attribute__((format(printf, 4, 5)));
enum MHD_Result http_bytes(struct http_req *r, unsigned status, const char *type, const void *data,
                           size_t len);

/* Passes a NATS reply (borrowed; NULL = no answer in time) on as HTTP:
 * ok → `ok_status` with the reply minus "ok"; failure → its status, error
 * and message, and `question`, `field`, `replaced_by` when it has them
 * (plus Retry-After when it has "retry_after"); NULL → 503
 * backend_unavailable. */
enum MHD_Result http_from_reply(struct http_req *r, const json_t *reply, unsigned ok_status);

/* Adds a header to the coming reply (copied). */
void http_add_header(struct http_req *r, const char *name, const char *value);

/* Parses the body as a JSON object. On failure answers 400 bad_json and
 * returns NULL; the caller then returns *ret. Caller owns the result. */
json_t *http_body_json(struct http_req *r, enum MHD_Result *ret);

/* The client IP as text (peer, or first X-Forwarded-For hop when the peer
 * is in QW_TRUSTED_PROXIES) into buf. */
void http_client_ip(struct http_req *r, char *buf, size_t n);

/* True when the socket peer is in QW_TRUSTED_PROXIES (an IP or CIDR range). */
int http_peer_trusted(struct http_req *r);

/* Adds a Set-Cookie header for token cookie `name`: HttpOnly, Path=/,
 * SameSite `same_site`, Max-Age `max_age` (0 with value "" clears it), and
 * Secure when the client reached a trusted proxy over https. */
void http_set_cookie(struct http_req *r, const char *name, const char *value, const char *same_site,
                     long long max_age);

/* True when the request may act for this site's pages: an Origin listed
 * in QW_ALLOWED_ORIGINS; else no Sec-Fetch-Site of "cross-site" or
 * "same-site", and an Origin that is absent or the gateway's own (http or
 * https with the Host; from a trusted proxy, its X-Forwarded-Host for the
 * Host, and only https when its X-Forwarded-Proto says https). The one
 * Origin check of /ws, /admin/ws and the admin writes. */
int http_origin_ok(struct http_req *r);

/* Admin writes (every method but GET/HEAD under /admin/) answer to a
 * browser only from the gateway's own pages: a foreign Origin gets 403
 * and a body that is not JSON 415 (an HTML form or a "simple" fetch from
 * another page cannot send application/json without asking first). A
 * picture upload (HTTP_IMAGE_BODY) must name an image type instead: an
 * HTML form cannot send those either.
 * Returns 1 when the request may go on, else 0 after answering. */
int http_admin_write_ok(struct http_req *r, enum MHD_Result *ret);

/* The admin token of the request: cookie qw_admin, else an
 * "Authorization: Bearer" header; NULL when neither (borrowed). */
const char *http_admin_token(struct http_req *r);

/* A cookie's value, or NULL (borrowed from MHD for the request's life). */
const char *http_cookie(struct http_req *r, const char *name);

/* A query argument, or NULL (borrowed). */
const char *http_query(struct http_req *r, const char *name);

/* The request's Content-Type without parameters, lowercased, into buf
 * ("" when absent or too long). Returns buf. */
const char *http_body_type(struct http_req *r, char *buf, size_t n);

/* The body limit of the request's route. */
size_t http_body_limit(struct http_req *r);

/* A request header, or NULL (borrowed). */
const char *http_header(struct http_req *r, const char *name);

/* Sends `req` to `subject` with the gateway's request deadline. Returns
 * the reply (caller owns) or NULL. */
json_t *http_bus(struct http_req *r, const char *subject, const json_t *req);

/* Checks the admin token (cookie qw_admin or "Authorization: Bearer").
 * Returns the verified claims (caller owns) or NULL after answering 401
 * (or 503) itself; then the caller returns *ret. */
json_t *http_require_admin(struct http_req *r, enum MHD_Result *ret);

/* ---- request-head deadline (http_heads.c) -------------------------------- */

struct http_heads;

/* A new deadline list: a connection must deliver a whole request head
 * within `timeout_ms` of its start or of its last answer. Caller frees
 * with http_heads_free (accepts NULL), after libmicrohttpd stopped. */
struct http_heads *http_heads_new(int64_t timeout_ms);
void http_heads_free(struct http_heads *h);

/* MHD_OPTION_NOTIFY_CONNECTION callback (cls: the list). */
void http_heads_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                       enum MHD_ConnectionNotificationCode toe);

enum http_head_mark {
    HTTP_HEAD_RECEIVED, /* the head is in: the request is being answered */
    HTTP_HEAD_ANSWERED, /* the answer is done: the next head is waited for */
    HTTP_HEAD_UPGRADED, /* a WebSocket from now on: no more waiting */
};

/* Notes what happened to `conn` (pool threads). Accepts h == NULL. */
void http_heads_mark(struct http_heads *h, struct MHD_Connection *conn, enum http_head_mark what);

/* Shuts down every connection past its deadline (the WebSocket loop's
 * tick). Accepts NULL. */
void http_heads_sweep(struct http_heads *h);

extern struct metric http_metric_head_timeouts;

/* routes_images.c: the picture cache and its metrics, before HTTP starts;
 * stop after HTTP stopped (accepts a gateway that never started it). */
int routes_images_start(struct gateway *gw);
void routes_images_stop(struct gateway *gw);

/* Route tables of the route families (routes_*.c), each NULL-terminated. */
extern const struct http_route routes_admin[];
extern const struct http_route routes_images[];
extern const struct http_route routes_student[];
extern const struct http_route routes_ws[];
extern const struct http_route routes_static[];
extern const struct http_route routes_health[];

#endif
