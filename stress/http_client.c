/*
 * http_client: request writing and incremental reply parsing for the load
 * tools' HTTP/1.1 client. Runs only on the net loop thread. It never
 * interprets the body: callers parse JSON themselves.
 */
#include "http_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <unistd.h>

void hc_resp_clear(struct hc_resp *r) {
    free(r->body);
    for (int i = 0; i < r->ncookies; i++)
        free(r->cookies[i]);
    memset(r, 0, sizeof(*r));
}

const char *hc_resp_cookie(const struct hc_resp *r, const char *name) {
    size_t n = strlen(name);
    for (int i = 0; i < r->ncookies; i++)
        if (strncmp(r->cookies[i], name, n) == 0 && r->cookies[i][n] == '=')
            return r->cookies[i] + n + 1;
    return NULL;
}

static const char *find_crlf2(const char *buf, size_t len) {
    for (size_t i = 0; i + 3 < len; i++)
        if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n')
            return buf + i;
    return NULL;
}

/* Decodes a chunked body starting at p; returns bytes used, 0 if incomplete. */
static long parse_chunked(const char *p, size_t len, char **out, size_t *out_len) {
    size_t off = 0, total = 0;
    char *body = NULL;
    for (;;) {
        const char *eol = memmem(p + off, len - off, "\r\n", 2);
        if (!eol) goto more;
        size_t sz = strtoul(p + off, NULL, 16);
        off = (size_t)(eol - p) + 2;
        if (sz == 0) {
            const char *end = memmem(p + off, len - off, "\r\n", 2); /* no trailers expected */
            if (!end) goto more;
            off = (size_t)(end - p) + 2;
            break;
        }
        if (len - off < sz + 2) goto more;
        char *nb = realloc(body, total + sz + 1);
        if (!nb) goto more;
        body = nb;
        memcpy(body + total, p + off, sz);
        total += sz;
        off += sz + 2;
    }
    if (!body) body = calloc(1, 1);
    body[total] = '\0';
    *out = body;
    *out_len = total;
    return (long)off;
more:
    free(body);
    return 0;
}

long hc_resp_parse(struct hc_resp *r, const char *buf, size_t len) {
    memset(r, 0, sizeof(*r));
    if (len >= 5 && strncmp(buf, "HTTP/", 5) != 0) return -1;
    const char *hend = find_crlf2(buf, len);
    if (!hend) return 0;
    size_t hlen = (size_t)(hend - buf) + 4;
    if (sscanf(buf, "HTTP/%*d.%*d %d", &r->status) != 1) return -1;
    long clen = -1;
    int chunked = 0;
    const char *line = memchr(buf, '\n', hlen) + 1;
    while (line < hend) {
        const char *eol = memchr(line, '\n', (size_t)(hend + 2 - line));
        if (!eol) break;
        size_t ll = (size_t)(eol - line);
        if (ll && line[ll - 1] == '\r') ll--;
        const char *colon = memchr(line, ':', ll);
        if (colon) {
            size_t nl = (size_t)(colon - line);
            const char *v = colon + 1;
            while (v < line + ll && *v == ' ')
                v++;
            size_t vl = (size_t)(line + ll - v);
            if (nl == 14 && strncasecmp(line, "content-length", 14) == 0) {
                clen = strtol(v, NULL, 10);
            } else if (nl == 17 && strncasecmp(line, "transfer-encoding", 17) == 0) {
                chunked = vl >= 7 && strncasecmp(v, "chunked", 7) == 0;
            } else if (nl == 10 && strncasecmp(line, "connection", 10) == 0) {
                r->close = vl >= 5 && strncasecmp(v, "close", 5) == 0;
            } else if (nl == 10 && strncasecmp(line, "set-cookie", 10) == 0 &&
                       r->ncookies < HC_MAX_COOKIES) {
                size_t cl = strcspn(v, ";\r\n");
                if (cl > vl) cl = vl;
                r->cookies[r->ncookies++] = strndup(v, cl);
            } else if (nl == 11 && strncasecmp(line, "retry-after", 11) == 0) {
                snprintf(r->retry_after, sizeof(r->retry_after), "%.*s", (int)vl, v);
            }
        }
        line = eol + 1;
    }
    if (chunked) {
        long used = parse_chunked(buf + hlen, len - hlen, &r->body, &r->body_len);
        if (used == 0) goto more;
        return (long)hlen + used;
    }
    if (clen < 0) clen = 0; /* replies to our requests always carry a length */
    if (len - hlen < (size_t)clen) goto more;
    r->body = malloc((size_t)clen + 1);
    if (!r->body) goto more;
    memcpy(r->body, buf + hlen, (size_t)clen);
    r->body[clen] = '\0';
    r->body_len = (size_t)clen;
    return (long)(hlen + (size_t)clen);
more:
    hc_resp_clear(r);
    return 0;
}

static void hc_finish(struct hc *c, const struct hc_resp *r, const char *err) {
    hc_done_fn done = c->done;
    void *arg = c->arg;
    c->busy = 0;
    c->deadline_ms = 0;
    free(c->out);
    c->out = NULL;
    c->in_len = 0;
    if (err || (r && r->close)) {
        net_close(&c->conn);
        c->connected = 0;
    } else {
        net_arm(&c->conn, EPOLLIN);
    }
    if (done) done(c, r, err, arg);
}

static void hc_on_event(struct net_conn *nc, uint32_t events) {
    struct hc *c = (struct hc *)nc;
    char err[512];
    if (!c->busy) { /* the server closed an idle keep-alive connection */
        net_close(&c->conn);
        c->connected = 0;
        return;
    }
    if (events & EPOLLOUT) {
        if (!c->connected) {
            if (net_conn_error(nc, c->target, err, sizeof(err)) != 0) {
                hc_finish(c, NULL, err);
                return;
            }
            c->connected = 1;
        }
        while (c->out_off < c->out_len) {
            ssize_t n = net_write(nc, c->out + c->out_off, c->out_len - c->out_off);
            if (n < 0) {
                if (errno == EAGAIN) return;
                snprintf(err, sizeof(err), "write to %s failed: %s", c->target->base,
                         strerror(errno));
                hc_finish(c, NULL, err);
                return;
            }
            c->out_off += (size_t)n;
        }
        net_arm(nc, EPOLLIN);
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        for (;;) {
            if (c->in_cap - c->in_len < 16384) {
                size_t cap = c->in_cap ? c->in_cap * 2 : 32768;
                char *nb = realloc(c->in, cap);
                if (!nb) {
                    hc_finish(c, NULL, "out of memory");
                    return;
                }
                c->in = nb;
                c->in_cap = cap;
            }
            ssize_t n = net_read(nc, c->in + c->in_len, c->in_cap - c->in_len - 1);
            if (n < 0 && errno == EAGAIN) break;
            if (n <= 0 && c->in_len == 0 && c->reused) {
                /* a kept-alive connection the server had closed: resend once, fresh */
                c->reused = 0;
                net_close(&c->conn);
                c->connected = 0;
                c->out_off = 0;
                if (net_connect(&c->conn, c->target) != 0) {
                    snprintf(err, sizeof(err), "reconnect to %s failed: %s", c->target->base,
                             strerror(errno));
                    hc_finish(c, NULL, err);
                }
                return;
            }
            if (n <= 0) {
                snprintf(err, sizeof(err), "%s closed the connection before a full reply%s%s",
                         c->target->base, n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
                hc_finish(c, NULL, err);
                return;
            }
            c->in_len += (size_t)n;
        }
        struct hc_resp r;
        long used = hc_resp_parse(&r, c->in, c->in_len);
        if (used < 0) {
            snprintf(err, sizeof(err), "%s sent something that is not HTTP", c->target->base);
            hc_finish(c, NULL, err);
        } else if (used > 0) {
            hc_finish(c, &r, NULL);
            hc_resp_clear(&r);
        }
    }
}

void hc_init(struct hc *c, const struct net_target *t) {
    memset(c, 0, sizeof(*c));
    c->conn.fd = -1;
    c->conn.on_event = hc_on_event;
    c->target = t;
}

int hc_request(struct hc *c, const char *method, const char *path, const char *cookie,
               const char *body, double timeout_ms, hc_done_fn done, void *arg) {
    if (c->busy) return -1;
    size_t blen = body ? strlen(body) : 0;
    size_t cap = 512 + strlen(path) + (cookie ? strlen(cookie) : 0) + blen;
    c->out = malloc(cap);
    if (!c->out) return -1;
    int n = snprintf(
        c->out, cap,
        "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: qw-loadgen\r\nAccept: application/json\r\n"
        "%s%s%s%s\r\n",
        method, path, c->target->host, cookie ? "Cookie: " : "", cookie ? cookie : "",
        cookie ? "\r\n" : "", body ? "Content-Type: application/json\r\n" : "");
    if (body || strcmp(method, "POST") == 0) {
        /* rewrite the blank line to add the length header */
        n -= 2;
        n += snprintf(c->out + n, cap - (size_t)n, "Content-Length: %zu\r\n\r\n", blen);
        if (blen) memcpy(c->out + n, body, blen);
        n += (int)blen;
    }
    c->out_len = (size_t)n;
    c->out_off = 0;
    c->in_len = 0;
    c->busy = 1;
    c->done = done;
    c->arg = arg;
    c->deadline_ms = net_now_ms() + timeout_ms;
    c->reused = c->conn.fd >= 0;
    if (c->conn.fd < 0) {
        c->connected = 0;
        if (net_connect(&c->conn, c->target) != 0) {
            free(c->out);
            c->out = NULL;
            c->busy = 0;
            return -1;
        }
    } else {
        net_arm(&c->conn, EPOLLIN | EPOLLOUT);
    }
    return 0;
}

void hc_check_deadline(struct hc *c, double now_ms) {
    if (c->busy && c->deadline_ms > 0 && now_ms > c->deadline_ms)
        hc_finish(c, NULL, "no reply in time");
}

void hc_free(struct hc *c) {
    net_close(&c->conn);
    free(c->out);
    free(c->in);
    c->out = c->in = NULL;
    c->busy = 0;
    c->in_len = c->in_cap = 0;
}

void hc_sync_done(struct hc *c, const struct hc_resp *r, const char *err, void *arg) {
    struct hc_sync *s = arg;
    (void)c;
    s->done = 1;
    if (!r) {
        snprintf(s->err, sizeof(s->err), "%s", err);
        return;
    }
    s->status = r->status;
    s->retry_after = atoi(r->retry_after);
    s->body = strdup(r->body ? r->body : "");
    const char *v = s->want_cookie ? hc_resp_cookie(r, s->want_cookie) : NULL;
    if (v) snprintf(s->cookie, sizeof(s->cookie), "%s=%s", s->want_cookie, v);
}
