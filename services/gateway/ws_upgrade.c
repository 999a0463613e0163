/*
 * ws_upgrade: the door to the WebSocket loop. Checks the handshake, the
 * Origin (403 unless the gateway's own or in QW_ALLOWED_ORIGINS) and the
 * credentials (401 unless verified by qw.auth.verify for that session),
 * then answers 101 through libmicrohttpd's upgrade API and hands the socket
 * to the loop. Runs on libmicrohttpd's pool threads, where NATS requests
 * may wait; the loop thread never verifies anything itself.
 */
#include "http.h"
#include "log.h"
#include "reply.h"
#include "subjects.h"
#include "ws.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* What the upgrade callback needs; freed there. If the client goes away
 * between the 101 and the callback, libmicrohttpd never calls it and this
 * small block is lost (it has no release hook). */
struct upgrade_ctx {
    struct ws_server *srv;
    struct ws_claims who;
};

void ws_accept_key(const char *key, char *out) {
    unsigned char digest[SHA_DIGEST_LENGTH];
    char buf[128];
    int n = snprintf(buf, sizeof(buf), "%s%s", key, WS_GUID);
    SHA1((const unsigned char *)buf, (size_t)n, digest);
    EVP_EncodeBlock((unsigned char *)out, digest, SHA_DIGEST_LENGTH);
}

/* A sid fit for a NATS subject: 1..64 of [A-Za-z0-9_-]. */
static int sid_ok(const char *s) {
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > WS_SID_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_'))
            return 0;
    }
    return 1;
}

static int header_has(struct http_req *r, const char *name, const char *token) {
    const char *v = http_header(r, name);
    return v && strcasestr(v, token) != NULL;
}

static void on_upgraded(void *cls, struct MHD_Connection *conn, void *req_cls, const char *extra_in,
                        size_t extra_in_size, MHD_socket sock,
                        struct MHD_UpgradeResponseHandle *urh) {
    (void)conn;
    (void)req_cls;
    struct upgrade_ctx *u = cls;
    ws_server_adopt(u->srv, &u->who, sock, urh, extra_in, extra_in_size);
    explicit_bzero(u->who.token, sizeof(u->who.token)); /* the socket keeps its own copy */
    free(u);
}

/* Checks the handshake and Origin; answers and returns 0 when refused. */
static int precheck(struct http_req *r, enum MHD_Result *ret) {
    const char *key = http_header(r, "Sec-WebSocket-Key");
    const char *ver = http_header(r, "Sec-WebSocket-Version");
    if (!header_has(r, "Upgrade", "websocket") || !header_has(r, "Connection", "upgrade") || !key ||
        strlen(key) != 24 || !ver || strcmp(ver, "13") != 0) {
        *ret =
            http_error(r, 400, "not_websocket", "this path takes a WebSocket (version 13) upgrade");
        return 0;
    }
    if (!http_origin_ok(r)) {
        LOG_INFO("ws_origin_refused", "path=%s", r->url);
        *ret = http_error(r, 403, "forbidden_origin", "this Origin may not open a WebSocket here");
        return 0;
    }
    if (!r->gw->ws) {
        *ret = http_error(r, 503, "unavailable", "WebSockets are not running");
        return 0;
    }
    return 1;
}

static enum MHD_Result switch_protocols(struct http_req *r, const struct ws_claims *who) {
    char accept[64];
    struct MHD_Response *resp = NULL;
    enum MHD_Result ret = MHD_NO;
    struct upgrade_ctx *u = calloc(1, sizeof(*u));
    if (!u) goto cleanup;
    u->srv = r->gw->ws;
    u->who = *who;
    ws_accept_key(http_header(r, "Sec-WebSocket-Key"), accept);
    resp = MHD_create_response_for_upgrade(on_upgraded, u);
    if (!resp) goto cleanup;
    MHD_add_response_header(resp, "Upgrade", "websocket");
    MHD_add_response_header(resp, "Connection", "Upgrade");
    MHD_add_response_header(resp, "Sec-WebSocket-Accept", accept);
    http_heads_mark(r->gw->heads, r->conn, HTTP_HEAD_UPGRADED);
    ret = MHD_queue_response(r->conn, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
    if (ret == MHD_YES) u = NULL; /* the upgrade callback owns it now */
cleanup:
    if (resp) MHD_destroy_response(resp);
    if (u) explicit_bzero(u->who.token, sizeof(u->who.token));
    free(u);
    return ret;
}

enum MHD_Result ws_upgrade_student(struct http_req *r) {
    enum MHD_Result ret;
    json_t *req = NULL, *reply = NULL;
    if (!precheck(r, &ret)) goto cleanup;
    const char *token = http_query(r, "token");
    if (!token || !*token) token = http_cookie(r, "qw_student");
    const char *sid = http_query(r, "sid");
    if (!token || !*token) {
        ret = http_error(r, 401, "unauthorized", "join the session first");
        goto cleanup;
    }
    if ((sid && !sid_ok(sid)) || strlen(token) > WS_TOKEN_MAX) {
        ret = http_error(r, 401, "unauthorized", "the token is not for that session");
        goto cleanup;
    }
    req = sid ? json_pack("{s:s,s:s,s:s}", "token", token, "kind", "student", "sid", sid)
              : json_pack("{s:s,s:s}", "token", token, "kind", "student");
    reply = http_bus(r, SUBJ_AUTH_VERIFY, req);
    if (!reply) {
        ret = http_error(r, 503, "backend_unavailable", "the auth service did not answer");
        goto cleanup;
    }
    const char *vsid = json_string_value(json_object_get(reply, "sid"));
    const char *student = json_string_value(json_object_get(reply, "student_id"));
    if (!reply_is_ok(reply) || !vsid || !student || !sid_ok(vsid) || text_codepoints(student) < 1 ||
        text_codepoints(student) > TEXT_ID_MAX_CHARS || strlen(student) > WS_ID_MAX ||
        (sid && strcmp(sid, vsid) != 0)) {
        ret =
            http_error(r, 401, "unauthorized", "the student token is missing, invalid or expired");
        goto cleanup;
    }
    struct ws_claims who = {.admin = 0,
                            .epoch = json_integer_value(json_object_get(reply, "epoch"))};
    snprintf(who.sid, sizeof(who.sid), "%s", vsid);
    snprintf(who.student_id, sizeof(who.student_id), "%s", student);
    snprintf(who.token, sizeof(who.token), "%s", token);
    ret = switch_protocols(r, &who);
    explicit_bzero(who.token, sizeof(who.token));
cleanup:
    json_decref(req);
    json_decref(reply);
    return ret;
}

enum MHD_Result ws_upgrade_admin(struct http_req *r) {
    enum MHD_Result ret;
    json_t *req = NULL, *reply = NULL;
    if (!precheck(r, &ret)) goto cleanup;
    const char *token = http_query(r, "token");
    if (!token || !*token) token = http_admin_token(r);
    if (!token || !*token) {
        ret = http_error(r, 401, "unauthorized", "log in as the instructor first");
        goto cleanup;
    }
    if (strlen(token) > WS_TOKEN_MAX) {
        ret = http_error(r, 401, "unauthorized", "the instructor token is invalid");
        goto cleanup;
    }
    req = json_pack("{s:s,s:s}", "token", token, "kind", "admin");
    reply = http_bus(r, SUBJ_AUTH_VERIFY, req);
    if (!reply) {
        ret = http_error(r, 503, "backend_unavailable", "the auth service did not answer");
        goto cleanup;
    }
    if (!reply_is_ok(reply)) {
        ret = http_error(r, 401, "unauthorized",
                         "the instructor token is missing, invalid or expired");
        goto cleanup;
    }
    /* the login and expiry that end the socket (logout, token expiry) */
    struct ws_claims who = {.admin = 1, .exp_s = json_integer_value(json_object_get(reply, "exp"))};
    snprintf(who.login, sizeof(who.login), "%s",
             json_string_value(json_object_get(reply, "login")) ?: "");
    const char *sid = http_query(r, "sid");
    if (!sid || !*sid) {
        ret = http_error(r, 400, "bad_field", "?sid= names the session to watch");
        goto cleanup;
    }
    if (!sid_ok(sid)) {
        ret = http_error(r, 404, "unknown_session", "no such session");
        goto cleanup;
    }
    json_decref(req);
    json_decref(reply);
    req = json_pack("{s:s}", "sid", sid);
    reply = http_bus(r, SUBJ_SESSION_GET, req);
    if (!reply) {
        ret = http_error(r, 503, "backend_unavailable", "the session service did not answer");
        goto cleanup;
    }
    if (!reply_is_ok(reply)) {
        ret = http_from_reply(r, reply, 200);
        goto cleanup;
    }
    snprintf(who.sid, sizeof(who.sid), "%s", sid);
    snprintf(who.token, sizeof(who.token), "%s", token);
    ret = switch_protocols(r, &who);
    explicit_bzero(who.token, sizeof(who.token));
cleanup:
    json_decref(req);
    json_decref(reply);
    return ret;
}
