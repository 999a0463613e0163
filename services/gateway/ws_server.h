/*
 * ws_server (private): the state of the gateway's WebSocket server, shared
 * by ws_server.c (start, stop, and what other threads hand to the loop:
 * the inbox) and ws_loop.c (the loop thread that owns everything else).
 * Only `lock` guards anything: the inbox and `closed`.
 */
#ifndef QW_GATEWAY_WS_SERVER_H
#define QW_GATEWAY_WS_SERVER_H

#include "ws.h"

#include <pthread.h>
#include <stdatomic.h>

#define TICK_MS 50

enum item_kind { ITEM_CONN, ITEM_EVENT, ITEM_REPLY, ITEM_RESYNC, ITEM_REVOKED };

struct item {
    enum item_kind kind;
    struct item *next;
    char *data; /* event/reply payload, extra_in bytes or revoked login id, owned */
    size_t len;
    uint64_t req_id;          /* ITEM_REPLY */
    char sid[WS_SID_MAX + 1]; /* ITEM_EVENT */
    struct ws_claims who;     /* ITEM_CONN */
    int fd;
    struct MHD_UpgradeResponseHandle *urh;
    int64_t pushed_us; /* monotonic, when the foreign thread handed it over */
};

/* What the events of one loop turn cost (ws_loop.c logs it after the
 * sweep that wrote them): the handoff from the nats.c thread, rendering
 * and queueing, and the writes. Loop thread only. */
struct fan_turn {
    int events;          /* events queued to at least one socket this turn */
    int sockets;         /* sockets they were handed to */
    int opens;           /* of those events, question_opens */
    int64_t pushed_us;   /* the first one's handover by its nats.c thread */
    int64_t picked_us;   /* the loop took it */
    int64_t rendered_us; /* the last one was queued to every socket */
};

/* One socket's entry in the tick's array: when the tick must look at it
 * next. The array is dense, so the tick reads 16 bytes a socket in order
 * and touches only the sockets that are due (ws_loop.c). */
struct ws_timer {
    int64_t due_ms; /* monotonic; 0 = at the next tick */
    struct ws_conn *c;
};

struct ws_server {
    struct gateway *gw;
    int epfd, evfd;
    pthread_t thread;
    int started;
    atomic_int stopping;
    pthread_mutex_t lock; /* guards the inbox and `closed` */
    struct item *in_head, *in_tail;
    int closed; /* loop gone: adopt closes at once */
    /* loop thread only */
    struct ws_conn *conns;
    struct ws_conn *dirty;
    struct ws_sess *sessions;
    struct ws_requests requests; /* in flight (ws_requests.c) */
    natsSubscription *reply_sub;
    natsSubscription *revoked_sub; /* SUBJ_ADMIN_REVOKED */
    uint64_t next_conn;
    int reverify_todo;     /* sockets whose token is to be checked again */
    int reverify_inflight; /* of those, checks sent and not answered */
    int max_queue;
    int per_student; /* QW_WS_PER_STUDENT, read once at start */
    int64_t ping_ms;
    int64_t rtt_cap_ms;
    struct ws_rx *spare_rx; /* the read state a socket borrows while it reads (ws_frame.c) */
    int placeholder_fd;     /* an unconnected socket MHD closes in our sockets' stead (ws_conn.c) */
    struct fan_turn fan;    /* this turn's events, logged after the sweep */
    struct ws_timer *timers; /* one per socket in `conns`, owned (ws_loop.c) */
    size_t ntimers, timers_cap;
};

/* The placeholder socket (-1 when there is none). */
int ws_server_placeholder_fd(struct ws_server *srv);

/* The server's spare read state (NULL when lent out or not made yet). */
struct ws_rx **ws_server_spare_rx(struct ws_server *srv);

/* ws_loop.c: the loop thread's body (arg: the server). */
void *ws_loop_run(void *arg);

#endif
