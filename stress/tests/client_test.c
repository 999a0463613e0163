/*
 * client_test: unit checks of the load tools' client pieces that need no
 * server: HTTP reply parsing (lengths, chunked bodies, cookies, partial
 * input), the WebSocket accept computation and frame heads of RFC 6455, and
 * jscan, which must read a student's fields as jansson would or say it is
 * not sure.
 */
#include "check.h"
#include "http_client.h"
#include "jscan.h"
#include "ws_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

static void frame_heads_of_every_length_form(void) {
    int fin, op;
    uint64_t n;
    const unsigned char small[] = {0x81, 0x05, 'h', 'e', 'l', 'l', 'o'};
    CHECK(wsc_frame_head(small, 1, &fin, &op, &n) == 0);
    CHECK(wsc_frame_head(small, sizeof(small), &fin, &op, &n) == 2);
    CHECK(fin == 1 && op == 1 && n == 5);
    const unsigned char mid[] = {0x01, 126, 0x01, 0x00};
    CHECK(wsc_frame_head(mid, 3, &fin, &op, &n) == 0);
    CHECK(wsc_frame_head(mid, 4, &fin, &op, &n) == 4 && fin == 0 && op == 1 && n == 256);
    const unsigned char big[] = {0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0};
    CHECK(wsc_frame_head(big, 9, &fin, &op, &n) == 0);
    CHECK(wsc_frame_head(big, 10, &fin, &op, &n) == 10 && op == 2 && n == 65536);
    const unsigned char close[] = {0x88, 0x02, 0x03, 0xe8};
    CHECK(wsc_frame_head(close, 4, &fin, &op, &n) == 2 && op == 8 && n == 2);
}

static void frame_heads_that_break_the_rfc_are_refused(void) {
    int fin, op;
    uint64_t n;
    const unsigned char masked[] = {0x81, 0x85, 1, 2, 3, 4};
    const unsigned char rsv[] = {0xc1, 0x00};
    const unsigned char opcode3[] = {0x83, 0x00};
    const unsigned char opcode11[] = {0x8b, 0x00};
    const unsigned char long_ping[] = {0x89, 126, 0x00, 0x7e};
    const unsigned char split_close[] = {0x08, 0x00};
    const unsigned char huge[] = {0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0};
    CHECK(wsc_frame_head(masked, sizeof(masked), &fin, &op, &n) == -1);
    CHECK(wsc_frame_head(rsv, 2, &fin, &op, &n) == -1);
    CHECK(wsc_frame_head(opcode3, 2, &fin, &op, &n) == -1);
    CHECK(wsc_frame_head(opcode11, 2, &fin, &op, &n) == -1);
    CHECK(wsc_frame_head(long_ping, 4, &fin, &op, &n) == -1);
    CHECK(wsc_frame_head(split_close, 2, &fin, &op, &n) == -1);
    CHECK(wsc_frame_head(huge, 10, &fin, &op, &n) == -1);
}

static void a_sent_frame_is_masked_and_reads_back(void) {
    const unsigned char mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    unsigned char out[400];
    /* RFC 6455 5.7: a masked "Hello" */
    const unsigned char want[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    CHECK(wsc_frame_put(out, 1, "Hello", 5, mask) == sizeof(want));
    CHECK(memcmp(out, want, sizeof(want)) == 0);
    char text[300];
    memset(text, 'x', sizeof(text));
    size_t n = wsc_frame_put(out, 1, text, sizeof(text), mask);
    CHECK(n == 4 + 4 + sizeof(text) && out[1] == (0x80 | 126) && out[2] == 1 && out[3] == 44);
    CHECK((out[8] ^ mask[0]) == 'x' && (out[n - 1] ^ mask[(sizeof(text) - 1) & 3]) == 'x');
}

#define NF 5
static void fill_keys(struct jscan_field *f) {
    static const char *const keys[NF] = {"type", "question_idx", "choices", "points", "status"};
    for (int i = 0; i < NF; i++)
        f[i].key = keys[i];
}

static void jscan_reads_a_question_open(void) {
    const char *m = " {\"type\":\"question_open\",\"question_idx\":2,\"text\":\"Q \\\"3\\\"\","
                    "\"choices\":[\"a\",\"b\",{\"x\":[1,2]}],\"meta\":{\"type\":\"nested\"},"
                    "\"points\":null,\"time\":-1.5e3} \n";
    struct jscan_field f[NF];
    fill_keys(f);
    CHECK(jscan_object(m, strlen(m), f, NF) == 0);
    CHECK(jscan_is(&f[0], "question_open"));
    CHECK(f[1].kind == JS_INT && jscan_int(&f[1]) == 2);
    CHECK(f[2].kind == JS_ARRAY && f[2].len == 3);
    CHECK(f[3].kind == JS_OTHER && f[4].kind == JS_ABSENT);
}

/* What jscan gives up on, jansson judges: the fields come out as jansson
 * reads them, or the text is not JSON. */
static void jscan_is_unsure_where_jansson_could_differ(void) {
    static const char *const unsure[] = {
        "{\"type\":\"a\\u0062\"}",                /* an escape in a wanted value */
        "{\"t\\u0079pe\":\"snapshot\"}",          /* an escaped key could be a wanted one */
        "{\"type\":\"x\",\"type\":\"y\"}",        /* a wanted key twice: jansson keeps the last */
        "{\"type\":\"x\",\"n\":\"caf\xc3\xa9\"}", /* not ASCII: jansson checks UTF-8 */
        "{\"type\":\"x\",\"n\":\"\\u0000\"}",     /* jansson refuses \u0000 */
        "{\"question_idx\":12345678901234567890}",
    };
    for (size_t i = 0; i < sizeof(unsure) / sizeof(unsure[0]); i++) {
        struct jscan_field f[NF];
        fill_keys(f);
        CHECK(jscan_object(unsure[i], strlen(unsure[i]), f, NF) == -1);
    }
    struct jscan_field f[NF];
    json_t *tree;
    fill_keys(f);
    const char *esc = "{\"type\":\"a\\u0062\",\"choices\":[1,2]}";
    CHECK(jscan_read(esc, strlen(esc), f, NF, &tree) == 0 && tree != NULL);
    CHECK(jscan_is(&f[0], "ab") && f[1].kind == JS_ABSENT && f[2].len == 2);
    json_decref(tree);
    const char *twice = "{\"type\":\"x\",\"type\":\"y\"}";
    CHECK(jscan_read(twice, strlen(twice), f, NF, &tree) == 0 && jscan_is(&f[0], "y"));
    json_decref(tree);
}

static void jscan_refuses_what_is_not_one_object(void) {
    static const char *const bad[] = {
        "",
        "[1]",
        "{",
        "{\"type\":\"x\"",
        "{\"type\":\"x\"} x",
        "{\"type\" \"x\"}",
        "{\"type\":\"x\",}",
        "{\"a\":01}",
        "{\"a\":1.}",
        "{\"a\":-}",
        "{\"a\":tru}",
        "{\"a\":[1,]}",
        "{\"a\":\"\x01\"}",
        "{\"a\":\"\\x\"}",
        "{\"type\":\"x\"}\0",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct jscan_field f[NF];
        json_t *tree;
        fill_keys(f);
        size_t len = strlen(bad[i]) + (i == sizeof(bad) / sizeof(bad[0]) - 1);
        CHECK(jscan_object(bad[i], len, f, NF) == -1);
        CHECK(jscan_read(bad[i], len, f, NF, &tree) == -1 && f[0].kind == JS_ABSENT);
        json_decref(tree);
    }
}

/* ---- the reader against a scripted server on loopback ---------------------- */

struct seen {
    int texts;
    char last[64];
    size_t big;
    char why[128];
};

static void on_text(struct wsc *w, const char *msg, size_t len, void *arg) {
    struct seen *s = arg;
    s->texts++;
    CHECK(msg[len] == '\0' && strlen(msg) == len);
    if (len > 1000)
        s->big = len;
    else
        snprintf(s->last, sizeof(s->last), "%s", msg);
}

static void on_fail(struct wsc *w, const char *why, int status, int code, void *arg) {
    struct seen *s = arg;
    snprintf(s->why, sizeof(s->why), "%s", why);
}

static void turns(int n) {
    for (int i = 0; i < n; i++)
        net_loop_once(20);
}

/* Opens a client to a listening socket and answers its upgrade; returns the
 * server's end (blocking) or -1. */
static int scripted_open(struct wsc *w, struct net_target *t, struct seen *seen) {
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(ls, 1) != 0 ||
        getsockname(ls, (struct sockaddr *)&a, &al) != 0)
        return -1;
    char url[64], err[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(a.sin_port));
    if (net_target_parse(t, url, err, sizeof(err)) != 0) return -1;
    wsc_init(w, t, on_text, on_fail, seen);
    if (wsc_open(w, "/ws", NULL) != 0) return -1;
    int fd = accept(ls, NULL, NULL);
    close(ls);
    char req[2048];
    size_t n = 0;
    while (fd >= 0 && !memmem(req, n, "\r\n\r\n", 4) && n < sizeof(req) - 1) {
        turns(1);
        ssize_t r = recv(fd, req + n, sizeof(req) - 1 - n, MSG_DONTWAIT);
        if (r > 0) n += (size_t)r;
    }
    req[n] = '\0';
    const char *k = strstr(req, "Sec-WebSocket-Key: ");
    if (!k) return -1;
    char key[32], acc[29], head[256];
    snprintf(key, sizeof(key), "%.24s", k + 19);
    wsc_accept_for(key, acc);
    int hl = snprintf(head, sizeof(head),
                      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n"
                      "\x81\x05hello",
                      acc);
    if (send(fd, head, (size_t)hl, 0) != hl) return -1;
    return fd;
}

static void reader_serves_split_big_fragmented_ping_and_close(void) {
    struct net_target t;
    struct wsc w;
    struct seen seen = {0};
    CHECK(net_loop_init() == 0);
    int fd = scripted_open(&w, &t, &seen);
    CHECK(fd >= 0);
    if (fd < 0) return;
    turns(3);
    CHECK(seen.texts == 1 && strcmp(seen.last, "hello") == 0); /* came with the reply */
    static unsigned char big[4 + 20000];
    big[0] = 0x81, big[1] = 126, big[2] = 20000 >> 8, big[3] = 20000 & 0xff;
    memset(big + 4, 'x', 20000);
    CHECK(send(fd, big, 3, 0) == 3); /* a head cut in the middle, then the rest */
    turns(2);
    CHECK(send(fd, big + 3, 9000, 0) == 9000);
    turns(2);
    CHECK(seen.texts == 1);
    CHECK(send(fd, big + 9003, sizeof(big) - 9003, 0) == (ssize_t)(sizeof(big) - 9003));
    turns(3);
    CHECK(seen.texts == 2 && seen.big == 20000);
    /* "ab" + ping("p1") + "cd": a control frame between fragments */
    const unsigned char frag[] = {0x01, 2, 'a', 'b', 0x89, 2, 'p', '1', 0x80, 2, 'c', 'd'};
    CHECK(send(fd, frag, sizeof(frag), 0) == sizeof(frag));
    turns(3);
    CHECK(seen.texts == 3 && strcmp(seen.last, "abcd") == 0);
    CHECK(wsc_send_text(&w, "{\"type\":\"submit\"}") == 0);
    const unsigned char bye[] = {0x88, 2, 0x0f, 0xa8}; /* close 4008 */
    CHECK(send(fd, bye, sizeof(bye), 0) == sizeof(bye));
    turns(3);
    CHECK(strcmp(seen.why, "closed by the server (code 4008)") == 0);
    /* what the client wrote back: a masked pong "p1", the submit, a close 4008 */
    unsigned char got[256];
    ssize_t n = recv(fd, got, sizeof(got), MSG_DONTWAIT);
    CHECK(n == 8 + 6 + 17 + 8);
    if (n == 39) {
        CHECK(got[0] == 0x8a && got[1] == 0x82 && (got[6] ^ got[2]) == 'p');
        CHECK(got[8] == 0x81 && got[9] == (0x80 | 17));
        CHECK(got[31] == 0x88 && got[32] == 0x82 && (got[37] ^ got[33]) == 0x0f &&
              (got[38] ^ got[34]) == 0xa8);
    }
    close(fd);
    wsc_free(&w);
    net_loop_close();
}

static void reader_fails_a_masked_or_oversized_frame(void) {
    static const unsigned char masked[] = {0x81, 0x81, 1, 2, 3, 4, 'x'};
    static const unsigned char huge[] = {0x82, 127, 0, 0, 0, 0, 0x01, 0, 0, 0};
    const unsigned char *bad[] = {masked, huge};
    size_t len[] = {sizeof(masked), sizeof(huge)};
    const char *want[] = {"a frame that breaks RFC 6455 from the server",
                          "a message over 16 MiB from the server"};
    for (int i = 0; i < 2; i++) {
        struct net_target t;
        struct wsc w;
        struct seen seen = {0};
        CHECK(net_loop_init() == 0);
        int fd = scripted_open(&w, &t, &seen);
        CHECK(fd >= 0);
        if (fd < 0) return;
        turns(2);
        CHECK(send(fd, bad[i], len[i], 0) == (ssize_t)len[i]);
        turns(3);
        CHECK(strcmp(seen.why, want[i]) == 0 && seen.texts == 1);
        close(fd);
        wsc_free(&w);
        net_loop_close();
    }
}

int main(void) {
    reader_serves_split_big_fragmented_ping_and_close();
    reader_fails_a_masked_or_oversized_frame();
    frame_heads_of_every_length_form();
    frame_heads_that_break_the_rfc_are_refused();
    a_sent_frame_is_masked_and_reads_back();
    jscan_reads_a_question_open();
    jscan_is_unsure_where_jansson_could_differ();
    jscan_refuses_what_is_not_one_object();
    reply_with_length_and_cookies_parses_whole();
    partial_reply_asks_for_more_at_every_cut();
    chunked_reply_is_joined();
    non_http_is_refused();
    accept_matches_rfc6455_example();
    return check_result("client_test");
}
