/*
 * net: the load tools' event loop and socket helpers. One epoll loop on one
 * thread owns every socket; a connection is a `struct net_conn` embedded first
 * in its owner (HTTP or WebSocket client) whose `on_event` runs for its fd.
 * Sockets are non-blocking with TCP_NODELAY; nothing here ever blocks except
 * name resolution, done once per gateway before the loop runs.
 * https:// and wss:// targets speak TLS (OpenSSL): the loop runs the
 * handshake itself (SNI, certificate checked against the host name unless
 * --insecure) and hands the connection to its owner only once it is done,
 * so owners just use net_read/net_write/net_conn_error.
 */
#ifndef QW_STRESS_NET_H
#define QW_STRESS_NET_H

#include <netinet/in.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <sys/socket.h>

struct net_conn;
typedef void (*net_event_fn)(struct net_conn *c, uint32_t events);

struct net_conn {
    int fd;                /* -1 when not connected */
    uint32_t armed;        /* epoll events currently registered */
    net_event_fn on_event; /* runs on the loop thread */
    SSL *ssl;              /* owned; NULL for plain http */
    int tls_state;         /* 0 handshaking (or plain), 1 done, -1 failed */
    long tls_verify;       /* X509 verify result of a failed handshake */
    int conn_err;          /* errno of a connect that failed under TLS */
};

/* A parsed http(s)://host:port base URL (ws:// and wss:// alike). */
struct net_target {
    char base[256]; /* "http(s)://host:port" without trailing slash */
    char host[128]; /* Host header value (host:port) */
    char name[128]; /* host name alone: SNI and the certificate check */
    int tls;        /* https or wss */
    struct sockaddr_storage addr;
    socklen_t addrlen;
};

/* TLS settings for every https target: verification on unless `insecure`;
 * `ca_file` (PEM) replaces the system's trusted certificates when given.
 * Call before the first connect. Returns 0, or -1 with `err` filled. */
int net_tls_setup(int insecure, const char *ca_file, char *err, size_t errlen);

/* 0 when `c` connected (and finished its TLS handshake); else -1 with a
 * line saying why in `err` (a certificate that does not verify says so). */
int net_conn_error(struct net_conn *c, const struct net_target *t, char *err, size_t errlen);

/* read()/send() over the connection, TLS or not: bytes moved, 0 at end of
 * stream, -1 with errno (EAGAIN when it would block). */
ssize_t net_read(struct net_conn *c, void *buf, size_t len);
ssize_t net_write(struct net_conn *c, const void *buf, size_t len);

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
