/*
 * http: libmicrohttpd glue for the gateway (see http.h). Runs on MHD's pool
 * threads only. Owns each request's body and parameter copies from the
 * first callback to the completion notice.
 */
#include "http.h"

#include "bus.h"
#include "log.h"
#include "reply.h"
#include "subjects.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct http_route *const route_tables[] = {
    routes_health, routes_admin, routes_images, routes_student, routes_ws, routes_static, NULL};

/* Matches `path` against `pattern`; "*" takes one non-empty segment.
 * Copies matched segments into r->param_buf. Returns 1 on a match. */
static int match(struct http_req *r, const char *pattern, const char *path) {
    int np = 0;
    char *out = r->param_buf;
    const char *p = pattern, *u = path;
    while (*p && *u) {
        if (*p == '*') {
            const char *end = strchr(u, '/');
            size_t len = end ? (size_t)(end - u) : strlen(u);
            if (len == 0 || np >= HTTP_MAX_PARAMS) return 0;
            memcpy(out, u, len);
            out[len] = '\0';
            r->params[np++] = out;
            out += len + 1;
            u += len;
            p++;
        } else if (*p == *u) {
            p++;
            u++;
        } else {
            return 0;
        }
    }
    return *p == '\0' && *u == '\0';
}

/* Finds the route; sets *method_mismatch when the path exists for another
 * method only. */
static const struct http_route *find_route(struct http_req *r, int *method_mismatch) {
    *method_mismatch = 0;
    for (int t = 0; route_tables[t]; t++) {
        for (const struct http_route *rt = route_tables[t]; rt->pattern; rt++) {
            if (!match(r, rt->pattern, r->url)) continue;
            if (strcmp(rt->method, r->method) == 0 ||
                (strcmp(r->method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0)) {
                *method_mismatch = 0; /* another method's route of the same path came first */
                return rt;
            }
            *method_mismatch = 1;
        }
    }
    memset(r->params, 0, sizeof(r->params));
    return NULL;
}

size_t http_body_limit(struct http_req *r) {
    if (r->route && r->route->body_limit == HTTP_IMAGE_BODY) return r->gw->image_max_bytes;
    return r->route && r->route->body_limit ? r->route->body_limit : HTTP_BODY_LIMIT;
}

static enum MHD_Result queue(struct http_req *r, unsigned status, struct MHD_Response *resp) {
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    /* an idle kept-alive connection meets the head deadline too: a client
     * told so drops it first instead of racing a request against the close */
    char keep[48];
    snprintf(keep, sizeof(keep), "timeout=%lld", r->gw->head_timeout_ms / 1000);
    MHD_add_response_header(resp, "Keep-Alive", keep);
    if (r->extra_headers) {
        size_t i;
        json_t *pair;
        json_array_foreach(r->extra_headers, i, pair) {
            MHD_add_response_header(resp, json_string_value(json_array_get(pair, 0)),
                                    json_string_value(json_array_get(pair, 1)));
        }
    }
    enum MHD_Result ret = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result http_bytes(struct http_req *r, unsigned status, const char *type, const void *data,
                           size_t len) {
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", type);
    return queue(r, status, resp);
}

enum MHD_Result http_json(struct http_req *r, unsigned status, json_t *body) {
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text) return MHD_NO;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json; charset=utf-8");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    return queue(r, status, resp);
}

enum MHD_Result http_error(struct http_req *r, unsigned status, const char *code, const char *fmt,
                           ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return http_json(r, status, json_pack("{s:s,s:s}", "error", code, "message", msg));
}

void http_add_header(struct http_req *r, const char *name, const char *value) {
    if (!r->extra_headers) r->extra_headers = json_array();
    json_array_append_new(r->extra_headers, json_pack("[s,s]", name, value));
}

enum MHD_Result http_from_reply(struct http_req *r, const json_t *reply, unsigned ok_status) {
    if (!reply)
        return http_error(r, 503, "backend_unavailable", "a backend did not answer in time");
    if (reply_is_ok(reply)) {
        json_t *body = json_deep_copy(reply);
        json_object_del(body, "ok");
        return http_json(r, ok_status, body);
    }
    json_t *ra = json_object_get(reply, "retry_after");
    if (json_is_integer(ra)) {
        char buf[32];
        snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(ra));
        http_add_header(r, "Retry-After", buf);
    }
    const char *code = json_string_value(json_object_get(reply, "error"));
    const char *msg = json_string_value(json_object_get(reply, "message"));
    json_t *body = json_pack("{s:s,s:s}", "error", code ? code : "error", "message",
                             msg ? msg : "request failed");
    /* the few fields an error may carry besides its code and message: where
     * a refused pool broke (question, field), which quiz replaced an edited
     * one (replaced_by); nothing else of a daemon's reply is passed on */
    static const char *const extra[] = {"question", "field", "replaced_by"};
    for (size_t i = 0; body && i < sizeof(extra) / sizeof(extra[0]); i++) {
        json_t *v = json_object_get(reply, extra[i]);
        if (json_is_integer(v) || json_is_string(v)) json_object_set(body, extra[i], v);
    }
    return http_json(r, (unsigned)reply_status(reply), body);
}

json_t *http_body_json(struct http_req *r, enum MHD_Result *ret) {
    json_error_t err;
    json_t *j = r->body_len ? json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &err) : NULL;
    if (!j || !json_is_object(j)) {
        json_decref(j);
        *ret = http_error(r, 400, "bad_json", "the request body must be one JSON object");
        return NULL;
    }
    return j;
}

const char *http_cookie(struct http_req *r, const char *name) {
    return MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, name);
}

const char *http_query(struct http_req *r, const char *name) {
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_header(struct http_req *r, const char *name) {
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

json_t *http_bus(struct http_req *r, const char *subject, const json_t *req) {
    return bus_request(r->gw->d.nc, subject, req, r->gw->d.timeout_ms);
}

void http_set_cookie(struct http_req *r, const char *name, const char *value, const char *same_site,
                     long long max_age) {
    const char *proto = http_header(r, "X-Forwarded-Proto");
    int secure = proto && strcasecmp(proto, "https") == 0 && http_peer_trusted(r);
    char *cookie = NULL;
    if (asprintf(&cookie, "%s=%s; HttpOnly; SameSite=%s; Path=/; Max-Age=%lld%s", name, value,
                 same_site, max_age, secure ? "; Secure" : "") < 0)
        return;
    http_add_header(r, "Set-Cookie", cookie);
    free(cookie);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **req_cls) {
    (void)version;
    struct gateway *gw = cls;
    struct http_req *r = *req_cls;
    if (!r) {
        r = calloc(1, sizeof(*r));
        if (!r) return MHD_NO;
        r->param_buf = malloc(strlen(url) + HTTP_MAX_PARAMS + 1);
        if (!r->param_buf) {
            free(r);
            return MHD_NO;
        }
        r->gw = gw;
        r->conn = conn;
        http_heads_mark(gw->heads, conn, HTTP_HEAD_RECEIVED);
        r->method = method;
        r->url = url;
        *req_cls = r;
        int mismatch = 0;
        r->route = find_route(r, &mismatch);
        if (mismatch) r->route = NULL, r->too_large = -1; /* -1 marks 405 */
        size_t limit = http_body_limit(r);
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > limit && r->too_large == 0) r->too_large = 1;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t limit = http_body_limit(r);
        if (r->too_large == 0 && r->body_len + *upload_size > limit) r->too_large = 1;
        if (r->too_large == 0) {
            char *grown = realloc(r->body, r->body_len + *upload_size + 1);
            if (!grown) return MHD_NO;
            r->body = grown;
            memcpy(r->body + r->body_len, upload, *upload_size);
            r->body_len += *upload_size;
            r->body[r->body_len] = '\0';
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->too_large == -1)
        return http_error(r, 405, "method_not_allowed", "%s is not allowed on this path", method);
    if (!r->route) return http_error(r, 404, "not_found", "no such route");
    enum MHD_Result ret;
    if (!http_admin_write_ok(r, &ret)) return ret;
    if (r->too_large)
        return http_error(r, 413, "too_large", "the request body is over %zu bytes",
                          http_body_limit(r));
    return r->route->fn(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe) {
    struct gateway *gw = cls;
    (void)toe;
    http_heads_mark(gw->heads, conn, HTTP_HEAD_ANSWERED);
    struct http_req *r = *req_cls;
    if (!r) return;
    free(r->body);
    free(r->param_buf);
    json_decref(r->extra_headers);
    free(r);
    *req_cls = NULL;
}

/* libmicrohttpd's per-connection memory pool (its default is 32 KiB) is
 * QW_HTTP_CONN_MEMORY_KB. An upgraded WebSocket releases its HTTP
 * connection, pool included, right after the upgrade (ws_conn.c), so this
 * is paid per HTTP connection, not per idle student; the request headers
 * must fit in about half of it (measured: 4 KiB took 1 KB of headers and
 * refused 2 KB with 431; 6 KiB takes 2.7 KB), and bodies are streamed. */

int http_start(struct gateway *gw) {
    const char *addr = config_str("QW_HTTP_ADDR");
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)gw->port)};
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
        LOG_ERROR("config_invalid", "var=QW_HTTP_ADDR reason=\"not an IPv4 address\"");
        return -1;
    }
    unsigned threads = (unsigned)config_int("QW_HTTP_THREADS");
    gw->mhd = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG,
        (uint16_t)gw->port, NULL, NULL, on_request, gw, MHD_OPTION_SOCK_ADDR, &sa,
        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_NOTIFY_COMPLETED, on_completed, gw,
        MHD_OPTION_NOTIFY_CONNECTION, http_heads_notify, gw->heads, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)30, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)4096, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)60000, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)config_int("QW_HTTP_CONN_MEMORY_KB") * 1024, MHD_OPTION_END);
    if (!gw->mhd) {
        LOG_ERROR("http_listen_failed", "var=QW_HTTP_PORT addr=%s port=%d", addr, gw->port);
        return -1;
    }
    LOG_INFO("http_listening", "addr=%s port=%d threads=%u", addr, gw->port, threads);
    return 0;
}

void http_stop(struct gateway *gw) {
    if (gw->mhd) MHD_stop_daemon(gw->mhd);
    gw->mhd = NULL;
}
