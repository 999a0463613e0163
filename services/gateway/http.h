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

#include <jansson.h>
#include <microhttpd.h>
#include <stddef.h>

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

struct http_route {
    const char *method;  /* "GET", "POST" */
    const char *pattern; /* "/admin/api/sessions/ * /results" without spaces */
    size_t body_limit;   /* 0 = HTTP_BODY_LIMIT */
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
 * and message (plus Retry-After when it has "retry_after"); NULL → 503
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

/* The admin token of the request: cookie qw_admin, else an
 * "Authorization: Bearer" header; NULL when neither (borrowed). */
const char *http_admin_token(struct http_req *r);

/* A cookie's value, or NULL (borrowed from MHD for the request's life). */
const char *http_cookie(struct http_req *r, const char *name);

/* A query argument, or NULL (borrowed). */
const char *http_query(struct http_req *r, const char *name);

/* A request header, or NULL (borrowed). */
const char *http_header(struct http_req *r, const char *name);

/* Sends `req` to `subject` with the gateway's request deadline. Returns
 * the reply (caller owns) or NULL. */
json_t *http_bus(struct http_req *r, const char *subject, const json_t *req);

/* Checks the admin token (cookie qw_admin or "Authorization: Bearer").
 * Returns the verified claims (caller owns) or NULL after answering 401
 * (or 503) itself; then the caller returns *ret. */
json_t *http_require_admin(struct http_req *r, enum MHD_Result *ret);

/* Route tables of the route families (routes_*.c), each NULL-terminated. */
extern const struct http_route routes_admin[];
extern const struct http_route routes_student[];
extern const struct http_route routes_ws[];
extern const struct http_route routes_static[];
extern const struct http_route routes_health[];

#endif
