/*
 * http_heads: the deadline for a request head. libmicrohttpd's connection
 * timeout is an idle timeout that every byte resets, so a client dripping
 * its headers a byte at a time would hold a connection (and its memory)
 * forever. Here every connection gets QW_HTTP_HEAD_TIMEOUT_MS from its
 * start, and again from the end of each answered request (keep-alive), to
 * deliver a whole request head; one that has not is shut down.
 *
 * Threads: the notices (connection start/close, head complete, answered,
 * upgraded) come from libmicrohttpd's pool threads; the sweep runs on the
 * WebSocket loop's tick. One lock guards the list. A request being
 * answered and an upgraded WebSocket are never on the list. The socket is
 * only shut down under the lock, while libmicrohttpd still owns it: it
 * tells us a connection closed before it closes the descriptor.
 */
#include "http.h"

#include "clock.h"
#include "log.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>

/* One connection; its libmicrohttpd socket context. */
struct head_entry {
    int fd;
    int64_t deadline_ms; /* monotonic */
    int linked;          /* on the list: waiting for a head */
    int upgraded;        /* a WebSocket now: never waits again */
    struct head_entry *prev, *next;
};

struct http_heads {
    pthread_mutex_t lock;
    int64_t timeout_ms;
    struct head_entry *head, *tail; /* by deadline: every entry gets now + timeout_ms */
};

struct metric http_metric_head_timeouts = {
    "qw_http_head_timeouts_total",
    "connections dropped for not sending a whole request head in QW_HTTP_HEAD_TIMEOUT_MS", 0, 0};

/* Under the lock. */
static void unlink_entry(struct http_heads *h, struct head_entry *e) {
    if (!e->linked) return;
    if (e->prev)
        e->prev->next = e->next;
    else
        h->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        h->tail = e->prev;
    e->prev = e->next = NULL;
    e->linked = 0;
}

/* Under the lock: (re)starts the wait for a head at the tail. */
static void link_entry(struct http_heads *h, struct head_entry *e) {
    unlink_entry(h, e);
    if (e->upgraded) return;
    e->deadline_ms = clock_mono_ms() + h->timeout_ms;
    e->prev = h->tail;
    if (h->tail)
        h->tail->next = e;
    else
        h->head = e;
    h->tail = e;
    e->linked = 1;
}

struct http_heads *http_heads_new(int64_t timeout_ms) {
    struct http_heads *h = calloc(1, sizeof(*h));
    if (!h) return NULL;
    pthread_mutex_init(&h->lock, NULL);
    h->timeout_ms = timeout_ms;
    metrics_register(&http_metric_head_timeouts);
    return h;
}

void http_heads_free(struct http_heads *h) {
    if (!h) return;
    pthread_mutex_destroy(&h->lock);
    free(h);
}

void http_heads_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                       enum MHD_ConnectionNotificationCode toe) {
    struct http_heads *h = cls;
    struct head_entry *e = *socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        e = ci ? calloc(1, sizeof(*e)) : NULL;
        *socket_context = e;
        if (!e) return; /* no deadline for this one; the idle timeout still holds */
        e->fd = ci->connect_fd;
        pthread_mutex_lock(&h->lock);
        link_entry(h, e);
        pthread_mutex_unlock(&h->lock);
    } else if (e) {
        pthread_mutex_lock(&h->lock);
        unlink_entry(h, e);
        pthread_mutex_unlock(&h->lock);
        free(e);
        *socket_context = NULL;
    }
}

/* The entry of `conn`, or NULL. */
static struct head_entry *entry_of(struct MHD_Connection *conn) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

void http_heads_mark(struct http_heads *h, struct MHD_Connection *conn, enum http_head_mark what) {
    struct head_entry *e = h ? entry_of(conn) : NULL;
    if (!e) return;
    pthread_mutex_lock(&h->lock);
    if (what == HTTP_HEAD_UPGRADED) e->upgraded = 1;
    if (what == HTTP_HEAD_ANSWERED)
        link_entry(h, e);
    else
        unlink_entry(h, e);
    pthread_mutex_unlock(&h->lock);
}

void http_heads_sweep(struct http_heads *h) {
    if (!h) return;
    int64_t now = clock_mono_ms();
    long dropped = 0;
    pthread_mutex_lock(&h->lock);
    while (h->head && h->head->deadline_ms <= now) {
        struct head_entry *e = h->head;
        unlink_entry(h, e);
        /* libmicrohttpd sees the end of the stream and closes it itself */
        shutdown(e->fd, SHUT_RDWR);
        dropped++;
    }
    pthread_mutex_unlock(&h->lock);
    if (dropped) {
        metric_add(&http_metric_head_timeouts, dropped);
        LOG_INFO("http_head_timeout", "dropped=%ld", dropped);
    }
}
