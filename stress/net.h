/*
 * net: the load tools' event loop and socket helpers. One epoll loop on one
 * thread owns every socket; a connection is a `struct net_conn` embedded first
 * in its owner (HTTP or WebSocket client) whose `on_event` runs for its fd.
 * Sockets are non-blocking with TCP_NODELAY; nothing here ever blocks except
 * name resolution, done once per gateway before the loop runs.
 */
#ifndef QW_STRESS_NET_H
#define QW_STRESS_NET_H

#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

struct net_conn;
typedef void (*net_event_fn)(struct net_conn *c, uint32_t events);

struct net_conn {
    int fd;                /* -1 when not connected */
    uint32_t armed;        /* epoll events currently registered */
    net_event_fn on_event; /* runs on the loop thread */
};

/* A parsed http://host:port base URL (https is not supported). */
struct net_target {
    char base[256]; /* "http://host:port" without trailing slash */
    char host[128]; /* Host header value (host:port) */
    struct sockaddr_storage addr;
    socklen_t addrlen;
};

/* Parses `url` and resolves its host. Returns 0, or -1 with `err` filled. */
int net_target_parse(struct net_target *t, const char *url, char *err, size_t errlen);

/* The loop: one epoll instance. */
int net_loop_init(void);
void net_loop_close(void);

/* Starts a non-blocking connect to `t` for `c` and registers it for
 * EPOLLOUT. Returns 0 or -1 (errno set). */
int net_connect(struct net_conn *c, const struct net_target *t);

/* Sets the epoll interest of `c` (EPOLLIN/EPOLLOUT), only when it changed. */
void net_arm(struct net_conn *c, uint32_t events);

/* Unregisters and closes c->fd; safe on a closed connection. */
void net_close(struct net_conn *c);

/* Waits up to `timeout_ms` and runs on_event of every ready connection. */
int net_loop_once(int timeout_ms);

/* Monotonic milliseconds (double, sub-ms precision). */
double net_now_ms(void);

/* Raises RLIMIT_NOFILE's soft limit to at least `want` (up to the hard
 * limit). Returns the resulting soft limit. */
long net_raise_nofile(long want);

#endif
