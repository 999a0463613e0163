/*
 * net: the epoll loop, non-blocking connects and base-URL parsing shared by
 * the load tools. It owns the epoll fd and nothing else: connections belong
 * to their owners, which close them through net_close, and the one TLS
 * context every https connection is made from.
 */
#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static int net_epfd = -1;
static SSL_CTX *net_tls;     /* every TLS connection's settings; NULL until set up */
static int net_tls_insecure; /* --insecure: no certificate check */

int net_tls_setup(int insecure, const char *ca_file, char *err, size_t errlen) {
    net_tls_insecure = insecure;
    if (!(net_tls = SSL_CTX_new(TLS_client_method()))) goto fail;
    SSL_CTX_set_min_proto_version(net_tls, TLS1_2_VERSION);
    SSL_CTX_set_mode(net_tls, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_verify(net_tls, insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    if (ca_file && SSL_CTX_load_verify_locations(net_tls, ca_file, NULL) != 1) {
        snprintf(err, errlen, "--ca %s: not a readable PEM certificate file", ca_file);
        return -1;
    }
    if (!ca_file && SSL_CTX_set_default_verify_paths(net_tls) != 1) goto fail;
    return 0;
fail:
    snprintf(err, errlen, "TLS setup failed: %s", ERR_reason_error_string(ERR_get_error()));
    return -1;
}

int net_target_parse(struct net_target *t, const char *url, char *err, size_t errlen) {
    static const struct {
        const char *prefix;
        int tls;
    } schemes[] = {{"http://", 0}, {"ws://", 0}, {"https://", 1}, {"wss://", 1}};
    const char *h = NULL;
    memset(t, 0, sizeof(*t));
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]) && !h; i++) {
        size_t n = strlen(schemes[i].prefix);
        if (strncmp(url, schemes[i].prefix, n) == 0) {
            h = url + n;
            t->tls = schemes[i].tls;
        }
    }
    if (!h) {
        snprintf(err, errlen, "gateway URL %s must start with http://, https://, ws:// or wss://",
                 url);
        return -1;
    }
    size_t hl = strcspn(h, "/");
    if (hl == 0 || hl >= sizeof(t->host)) {
        snprintf(err, errlen, "gateway URL %s has no usable host", url);
        return -1;
    }
    memcpy(t->host, h, hl);
    t->host[hl] = '\0';
    snprintf(t->base, sizeof(t->base), "%s://%s", t->tls ? "https" : "http", t->host);

    char host[128], port[16];
    snprintf(port, sizeof(port), "%s", t->tls ? "443" : "80");
    snprintf(host, sizeof(host), "%s", t->host);
    char *colon = strrchr(host, ':');
    if (colon && (!strchr(host, ']') || colon > strchr(host, ']'))) {
        snprintf(port, sizeof(port), "%s", colon + 1);
        *colon = '\0';
    }
    if (host[0] == '[' && host[strlen(host) - 1] == ']') { /* [v6]: the address alone */
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    snprintf(t->name, sizeof(t->name), "%s", host);
    if (t->tls && !net_tls) {
        snprintf(err, errlen, "gateway URL %s needs TLS, which was not set up", url);
        return -1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", url, gai_strerror(rc));
        return -1;
    }
    memcpy(&t->addr, res->ai_addr, res->ai_addrlen);
    t->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

int net_loop_init(void) {
    net_epfd = epoll_create1(EPOLL_CLOEXEC);
    return net_epfd < 0 ? -1 : 0;
}

void net_loop_close(void) {
    if (net_epfd >= 0) close(net_epfd);
    net_epfd = -1;
}

int net_connect(struct net_conn *c, const struct net_target *t) {
    int fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (const struct sockaddr *)&t->addr, t->addrlen) != 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    c->fd = fd;
    c->armed = EPOLLOUT;
    c->tls_state = 0;
    c->tls_verify = X509_V_OK;
    c->conn_err = 0;
    if (t->tls) {
        struct in6_addr ip;
        int is_ip = inet_pton(AF_INET, t->name, &ip) == 1 || inet_pton(AF_INET6, t->name, &ip) == 1;
        c->ssl = SSL_new(net_tls);
        if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) goto tls_fail;
        /* SNI is for names only; the certificate must name the host or IP */
        if (!is_ip) SSL_set_tlsext_host_name(c->ssl, t->name);
        if (!net_tls_insecure) {
            X509_VERIFY_PARAM *vp = SSL_get0_param(c->ssl);
            if ((is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, t->name)
                       : X509_VERIFY_PARAM_set1_host(vp, t->name, 0)) != 1)
                goto tls_fail;
        }
        SSL_set_connect_state(c->ssl);
    }
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(net_epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        int e = errno;
        close(fd);
        c->fd = -1;
        SSL_free(c->ssl);
        c->ssl = NULL;
        errno = e;
        return -1;
    }
    return 0;
tls_fail:
    SSL_free(c->ssl);
    c->ssl = NULL;
    close(fd);
    c->fd = -1;
    errno = ENOMEM;
    return -1;
}

/* Drives the TLS handshake of `c`; the owner hears of the connection (an
 * EPOLLOUT) only once it is done or failed. */
static void tls_step(struct net_conn *c) {
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
    if (soerr) { /* the TCP connect failed */
        c->conn_err = soerr;
        c->tls_state = -1;
        c->on_event(c, EPOLLOUT | EPOLLERR);
        return;
    }
    ERR_clear_error();
    int rc = SSL_do_handshake(c->ssl);
    if (rc == 1) {
        c->tls_state = 1;
        c->on_event(c, EPOLLOUT);
        return;
    }
    int e = SSL_get_error(c->ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        net_arm(c, e == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT);
        return;
    }
    c->tls_state = -1;
    c->tls_verify = SSL_get_verify_result(c->ssl);
    if (e == SSL_ERROR_SYSCALL && errno) c->conn_err = errno;
    c->on_event(c, EPOLLOUT | EPOLLERR);
}

int net_conn_error(struct net_conn *c, const struct net_target *t, char *err, size_t errlen) {
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    if (c->fd < 0) {
        snprintf(err, errlen, "connection to %s is closed", t->base);
        return -1;
    }
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
    if (c->conn_err) soerr = c->conn_err;
    if (soerr) {
        snprintf(err, errlen, "connect to %s failed: %s", t->base, strerror(soerr));
        return -1;
    }
    if (c->ssl && c->tls_state != 1) {
        if (c->tls_verify != X509_V_OK)
            snprintf(err, errlen,
                     "TLS to %s failed: the server's certificate does not verify (%s); give its CA "
                     "with --ca FILE, or --insecure to skip the check",
                     t->base, X509_verify_cert_error_string(c->tls_verify));
        else
            snprintf(err, errlen, "TLS handshake with %s failed: %s", t->base,
                     ERR_reason_error_string(ERR_peek_last_error())
                         ? ERR_reason_error_string(ERR_peek_last_error())
                         : "the connection closed");
        return -1;
    }
    return 0;
}

ssize_t net_read(struct net_conn *c, void *buf, size_t len) {
    if (!c->ssl) return read(c->fd, buf, len);
    ERR_clear_error();
    int n = SSL_read(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    if (n > 0) return n;
    int e = SSL_get_error(c->ssl, n);
    if (e == SSL_ERROR_ZERO_RETURN) return 0;
    errno = e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? EAGAIN
            : e == SSL_ERROR_SYSCALL && errno                     ? errno
                                                                  : ECONNRESET;
    return e == SSL_ERROR_SYSCALL && n == 0 ? 0 : -1;
}

ssize_t net_write(struct net_conn *c, const void *buf, size_t len) {
    if (!c->ssl) return send(c->fd, buf, len, MSG_NOSIGNAL);
    ERR_clear_error();
    int n = SSL_write(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    if (n > 0) return n;
    int e = SSL_get_error(c->ssl, n);
    errno = e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? EAGAIN
            : e == SSL_ERROR_SYSCALL && errno                     ? errno
                                                                  : EPIPE;
    return -1;
}

void net_arm(struct net_conn *c, uint32_t events) {
    if (c->fd < 0 || c->armed == events) return;
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(net_epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->armed = events;
}

void net_close(struct net_conn *c) {
    if (c->fd < 0) return;
    epoll_ctl(net_epfd, EPOLL_CTL_DEL, c->fd, NULL);
    SSL_free(c->ssl); /* no close_notify: the socket closes now either way */
    c->ssl = NULL;
    c->tls_state = 0;
    close(c->fd);
    c->fd = -1;
    c->armed = 0;
}

int net_loop_once(int timeout_ms) {
    struct epoll_event evs[512];
    int n = epoll_wait(net_epfd, evs, 512, timeout_ms);
    if (n < 0) return errno == EINTR ? 0 : -1;
    for (int i = 0; i < n; i++) {
        struct net_conn *c = evs[i].data.ptr;
        if (c->fd < 0) continue;
        if (c->ssl && c->tls_state == 0)
            tls_step(c);
        else
            c->on_event(c, evs[i].events);
    }
    return n;
}

double net_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

long net_raise_nofile(long want) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
    if ((long)rl.rlim_cur < want) {
        rl.rlim_cur = (rlim_t)want > rl.rlim_max ? rl.rlim_max : (rlim_t)want;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return (long)rl.rlim_cur;
}
