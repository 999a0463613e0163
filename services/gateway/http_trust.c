/*
 * http_trust: who is asking, and whether to believe them. The client IP
 * (the peer, or the first X-Forwarded-For hop only from a configured
 * trusted proxy), the gateway's own origin (an Origin that is not it, nor
 * listed in QW_ALLOWED_ORIGINS, is refused for admin writes and upgrades),
 * the admin write guard (JSON bodies only, a picture for the upload) and the admin token check
 * (asked of auth). Runs on MHD's pool threads; nothing here is ever logged with a secret.
 */
#include "http.h"

#include "image.h"
#include "log.h"
#include "reply.h"
#include "subjects.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void http_client_ip(struct http_req *r, char *buf, size_t n) {
    buf[0] = '\0';
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, (socklen_t)n);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, (socklen_t)n);
    }
    if (!ci || !netaddr_list_has_sockaddr(r->gw->trusted_proxies, ci->client_addr)) return;
    const char *xff = http_header(r, "X-Forwarded-For");
    if (!xff) return;
    while (*xff == ' ')
        xff++;
    size_t len = strcspn(xff, ", ");
    if (len == 0 || len >= n || len > 45) return;
    char hop[64];
    memcpy(hop, xff, len);
    hop[len] = '\0';
    unsigned char tmp[16];
    if (inet_pton(AF_INET, hop, tmp) == 1 || inet_pton(AF_INET6, hop, tmp) == 1)
        snprintf(buf, n, "%s", hop);
}

int http_peer_trusted(struct http_req *r) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    return ci && netaddr_list_has_sockaddr(r->gw->trusted_proxies, ci->client_addr);
}

/* The request's own origin host: X-Forwarded-Host from a trusted proxy,
 * else Host (borrowed; NULL when neither). */
static const char *own_host(struct http_req *r, int trusted) {
    const char *fwd = trusted ? http_header(r, "X-Forwarded-Host") : NULL;
    return fwd && *fwd ? fwd : http_header(r, "Host");
}

int http_origin_ok(struct http_req *r) {
    const char *origin = http_header(r, "Origin");
    const char *site = http_header(r, "Sec-Fetch-Site");
    int listed = origin && gateway_list_has(r->gw->allowed_origins, origin);
    if (listed) return 1;
    /* a browser says so itself when another site made the request */
    if (site && (strcasecmp(site, "cross-site") == 0 || strcasecmp(site, "same-site") == 0))
        return 0;
    if (!origin) return 1; /* not a browser, or a same-origin GET */
    int trusted = http_peer_trusted(r);
    const char *host = own_host(r, trusted);
    const char *proto = trusted ? http_header(r, "X-Forwarded-Proto") : NULL;
    if (!host || !*host) return 0;
    const char *rest = NULL;
    /* A trusted proxy that terminated TLS makes https the only scheme of
     * the page. Without that word either scheme is the gateway's own: a
     * proxy saying "http" may itself sit behind a TLS proxy it cannot
     * vouch for (compose/ behind one), and http on the host and port of an
     * https site is no page anyone else controls. */
    int want_http = !proto || strcasecmp(proto, "https") != 0;
    if (want_http && strncasecmp(origin, "http://", 7) == 0)
        rest = origin + 7;
    else if (strncasecmp(origin, "https://", 8) == 0)
        rest = origin + 8;
    return rest && strcasecmp(rest, host) == 0;
}

/* True when the request carries a body, or names a type for one. */
static int has_body(struct http_req *r) {
    const char *cl = http_header(r, "Content-Length");
    return r->body_len > 0 || http_header(r, "Transfer-Encoding") ||
           (cl && strtoull(cl, NULL, 10) > 0) || http_header(r, "Content-Type");
}

const char *http_body_type(struct http_req *r, char *buf, size_t n) {
    const char *ct = http_header(r, "Content-Type");
    buf[0] = '\0';
    if (!ct) return buf;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t len = strcspn(ct, "; \t");
    if (len >= n) return buf;
    for (size_t i = 0; i < len; i++)
        buf[i] = (char)tolower((unsigned char)ct[i]);
    buf[len] = '\0';
    return buf;
}

/* True when Content-Type is what the route takes, parameters aside. */
static int is_route_type(struct http_req *r) {
    char type[64];
    http_body_type(r, type, sizeof(type));
    if (r->route && r->route->body_limit == HTTP_IMAGE_BODY) return image_mime_known(type);
    return strcmp(type, "application/json") == 0;
}

int http_admin_write_ok(struct http_req *r, enum MHD_Result *ret) {
    if (strncmp(r->url, "/admin/", 7) != 0 || strcmp(r->method, "GET") == 0 ||
        strcmp(r->method, "HEAD") == 0)
        return 1;
    if (!http_origin_ok(r)) {
        LOG_INFO("admin_origin_refused", "path=%s", r->url);
        *ret = http_error(r, 403, "forbidden_origin",
                          "admin requests are taken only from this site's own pages");
        return 0;
    }
    if (r->route && r->route->body_limit == HTTP_IMAGE_BODY && !is_route_type(r)) {
        *ret = http_error(r, 415, "unsupported_media_type",
                          "the picture must be sent as image/png, image/jpeg or image/webp");
        return 0;
    }
    if (has_body(r) && !is_route_type(r)) {
        *ret = http_error(r, 415, "unsupported_media_type",
                          "the request body must be sent as application/json");
        return 0;
    }
    return 1;
}

const char *http_admin_token(struct http_req *r) {
    const char *token = http_cookie(r, "qw_admin");
    const char *authz = http_header(r, "Authorization");
    if (!token && authz && strncmp(authz, "Bearer ", 7) == 0) token = authz + 7;
    return token;
}

json_t *http_require_admin(struct http_req *r, enum MHD_Result *ret) {
    const char *token = http_admin_token(r);
    if (!token || !*token) {
        *ret = http_error(r, 401, "unauthorized", "log in as the instructor first");
        return NULL;
    }
    json_t *req = json_pack("{s:s,s:s}", "token", token, "kind", "admin");
    json_t *reply = http_bus(r, SUBJ_AUTH_VERIFY, req);
    json_decref(req);
    if (!reply) {
        *ret = http_error(r, 503, "backend_unavailable", "the auth service did not answer");
        return NULL;
    }
    if (!reply_is_ok(reply)) {
        json_decref(reply);
        *ret = http_error(r, 401, "unauthorized",
                          "the instructor token is missing, invalid or expired");
        return NULL;
    }
    return reply;
}
