/*
 * net: the epoll loop, non-blocking connects and base-URL parsing shared by
 * the load tools. It owns the epoll fd and nothing else: connections belong
 * to their owners, which close them through net_close.
 */
#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static int net_epfd = -1;

int net_target_parse(struct net_target *t, const char *url, char *err, size_t errlen) {
    memset(t, 0, sizeof(*t));
    if (strncmp(url, "http://", 7) != 0) {
        snprintf(err, errlen, "gateway URL %s must start with http:// (TLS is not supported)", url);
        return -1;
    }
    const char *h = url + 7;
    size_t hl = strcspn(h, "/");
    if (hl == 0 || hl >= sizeof(t->host)) {
        snprintf(err, errlen, "gateway URL %s has no usable host", url);
        return -1;
    }
    memcpy(t->host, h, hl);
    t->host[hl] = '\0';
    snprintf(t->base, sizeof(t->base), "http://%s", t->host);

    char host[128], port[16] = "80";
    snprintf(host, sizeof(host), "%s", t->host);
    char *colon = strrchr(host, ':');
    if (colon && !strchr(host, ']')) {
        snprintf(port, sizeof(port), "%s", colon + 1);
        *colon = '\0';
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
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(net_epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        int e = errno;
        close(fd);
        c->fd = -1;
        errno = e;
        return -1;
    }
    return 0;
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
        if (c->fd >= 0) c->on_event(c, evs[i].events);
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
