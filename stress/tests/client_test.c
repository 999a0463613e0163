/*
 * client_test: unit checks of the load tools' client pieces that need no
 * server: HTTP reply parsing (lengths, chunked bodies, cookies, partial
 * input) and the WebSocket accept computation of RFC 6455.
 */
#include "check.h"
#include "http_client.h"
#include "ws_client.h"

#include <stdio.h>
#include <string.h>

static void reply_with_length_and_cookies_parses_whole(void) {
    const char *raw = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                      "Set-Cookie: qw_student=abc.def; HttpOnly; SameSite=Strict\r\n"
                      "set-cookie: other=1\r\nContent-Length: 13\r\n\r\n{\"sid\":\"x1\"}\nHTTP/1.1";
    struct hc_resp r;
    long used = hc_resp_parse(&r, raw, strlen(raw));
    CHECK(used == (long)(strstr(raw, "\nHTTP/1.1") - raw + 1));
    CHECK(r.status == 200);
    CHECK(r.body_len == 13 && strcmp(r.body, "{\"sid\":\"x1\"}\n") == 0);
    CHECK(hc_resp_cookie(&r, "qw_student") &&
          strcmp(hc_resp_cookie(&r, "qw_student"), "abc.def") == 0);
    CHECK(hc_resp_cookie(&r, "other") && strcmp(hc_resp_cookie(&r, "other"), "1") == 0);
    CHECK(hc_resp_cookie(&r, "qw") == NULL);
    hc_resp_clear(&r);
}

static void partial_reply_asks_for_more_at_every_cut(void) {
    const char *raw = "HTTP/1.1 429 Too Many\r\nRetry-After: 7\r\nConnection: "
                      "close\r\nContent-Length: 4\r\n\r\nabcd";
    size_t len = strlen(raw);
    for (size_t cut = 0; cut < len; cut++) {
        struct hc_resp r;
        CHECK(hc_resp_parse(&r, raw, cut) == 0);
    }
    struct hc_resp r;
    CHECK(hc_resp_parse(&r, raw, len) == (long)len);
    CHECK(r.status == 429 && r.close == 1 && strcmp(r.retry_after, "7") == 0);
    hc_resp_clear(&r);
}

static void chunked_reply_is_joined(void) {
    const char *raw =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n";
    struct hc_resp r;
    CHECK(hc_resp_parse(&r, raw, strlen(raw)) == (long)strlen(raw));
    CHECK(r.body && strcmp(r.body, "Wikipedia") == 0);
    hc_resp_clear(&r);
    CHECK(hc_resp_parse(&r, raw, strlen(raw) - 2) == 0);
}

static void non_http_is_refused(void) {
    struct hc_resp r;
    CHECK(hc_resp_parse(&r, "SSH-2.0-OpenSSH\r\n\r\n", 19) == -1);
}

static void accept_matches_rfc6455_example(void) {
    char out[29];
    wsc_accept_for("dGhlIHNhbXBsZSBub25jZQ==", out);
    CHECK(strcmp(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0);
    const char *ok =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    CHECK(wsc_check_upgrade(ok, strlen(ok), "dGhlIHNhbXBsZSBub25jZQ==") == 101);
    CHECK(wsc_check_upgrade(ok, strlen(ok), "AAAAAAAAAAAAAAAAAAAAAA==") == -1);
    const char *refused = "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n";
    CHECK(wsc_check_upgrade(refused, strlen(refused), "x") == 401);
    const char *noaccept = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
    CHECK(wsc_check_upgrade(noaccept, strlen(noaccept), "x") == -1);
}

int main(void) {
    reply_with_length_and_cookies_parses_whole();
    partial_reply_asks_for_more_at_every_cut();
    chunked_reply_is_joined();
    non_http_is_refused();
    accept_matches_rfc6455_example();
    return check_result("client_test");
}
