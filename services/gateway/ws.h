/*
 * ws: the gateway's WebSocket side, internal to the gateway.
 *
 * One epoll thread (ws_server.c) owns every upgraded socket (ws_conn.c),
 * every per-session event subscription (fanout.c) and every pending NATS
 * request (ws_requests.c, by id in req_table.c). Other threads (libmicrohttpd's
 * upgrade callback, nats.c callbacks) only push items into one locked inbox
 * and wake the loop with an eventfd; they never touch a socket. The loop
 * never blocks: NATS requests are published with a reply inbox, and their
 * deadlines are checked on the loop's tick.
 */
#ifndef QW_WS_H
#define QW_WS_H

#include "gateway.h"
#include "metrics.h"
#include "quiz.h"
#include "req_table.h"
#include "rtt.h"
#include "text.h"

#include <jansson.h>
#include <microhttpd.h>
#include <stdint.h>
#include <wslay/wslay.h>

#define WS_SID_MAX 64
#define WS_ID_MAX TEXT_ID_MAX_BYTES /* 64 code points of UTF-8 */
#define WS_TOKEN_MAX 1024           /* a token auth signs is far shorter */
#define WS_REVERIFY_BATCH 64        /* token checks in flight after a reconnect */
#define WS_MAX_MSG 4096
#define WS_BAD_LIMIT 50
#define WS_BAD_WINDOW_MS 10000
#define WS_CLOSE_LINGER_MS 2000
#define WS_CODE_SESSION_RESET 4001
/* SO_SNDBUF of a WebSocket (the kernel doubles it): a quiz message is a few
 * KB, and a peer that does not read then fills the socket's queue, which is
 * bounded (QW_WS_MAX_QUEUE), instead of megabytes of kernel buffer. */
#define WS_SNDBUF (64 * 1024)
#define WS_CODE_REMOVED 4003 /* the instructor removed the student */
/* a newer socket of the same student took the place of this one, the
 * student having more than QW_WS_PER_STUDENT on this gateway (fanout.c) */
#define WS_CODE_TOO_MANY 4008

/* ---- frames on the wire (ws_frame.c) ------------------------------------- */

/* Bytes several sockets write (the part of an event every student gets),
 * freed with its last reference. Loop thread only. */
struct ws_shared {
    unsigned refs;
    size_t len;
    char data[]; /* len bytes and a NUL */
};

/* A copy of `data` with one reference, or NULL. */
struct ws_shared *ws_shared_new(const char *data, size_t len);
/* Drops one reference (NULL allowed). */
void ws_shared_unref(struct ws_shared *s);

struct ws_out; /* one frame in a socket's queue */
struct ws_rx;  /* a frame or message being read */
struct ws_conn;

/* Queues a frame of `opcode`: `shared` (a reference is taken; NULL = none)
 * then `tail` (copied); `ahead` (pings, pongs, a close answering the peer)
 * puts it before the data frames not yet started, else it goes last.
 * Returns 0, or -1 (no memory, a control frame over 125 bytes, or our
 * close already written). */
int ws_frame_queue(struct ws_conn *c, uint8_t opcode, struct ws_shared *shared, const void *tail,
                   size_t tail_len, int ahead);
/* Writes what the socket takes of the queue, up to 64 frames a sendmsg().
 * Returns 0 (all written, or the socket is full), -1 when it failed. */
int ws_frame_flush(struct ws_conn *c);
/* Reads what the socket has: messages and pongs to ws_conn_message, pings
 * answered, the peer's close answered; a protocol error queues a close
 * (1002, 1007, 1009) and stops reading. Returns 0, or -1 when the
 * connection failed or the peer went away. */
int ws_frame_read(struct ws_conn *c);
/* Frees the queue and read state of `c`. */
void ws_frame_clear(struct ws_conn *c);
/* Frees a read state (NULL allowed). */
void ws_frame_rx_free(struct ws_rx *rx);

/* ---- server (ws_server.c) ------------------------------------------------ */

/* Starts the loop thread and the reply-inbox subscription. Returns 0 or -1. */
int ws_server_start(struct gateway *gw);

/* Closes every socket with 1001, stops the loop, frees everything. After it
 * returns, new upgrades are closed at once. Accepts gw->ws == NULL. */
void ws_server_stop(struct gateway *gw);

/* Frees the server; only after libmicrohttpd stopped (no upgrade callback
 * can come any more). Accepts gw->ws == NULL. */
void ws_server_free(struct gateway *gw);

/* A verified client about to be upgraded (built on an HTTP thread). */
struct ws_claims {
    int admin; /* 1 instructor, 0 student */
    char sid[WS_SID_MAX + 1];
    char student_id[WS_ID_MAX + 1];
    long long epoch;
    char login[40];               /* admin: the login id, whose logout closes the socket */
    long long exp_s;              /* admin: token expiry (wall seconds), 0 none */
    char token[WS_TOKEN_MAX + 1]; /* checked again after a NATS reconnect; never logged */
};

/* What a socket keeps of its claims: the small fields, and the student id
 * and token in one allocation of their own length (a token is a few
 * hundred bytes, not WS_TOKEN_MAX; an idle socket's memory is the point). */
struct ws_who {
    int admin;
    char sid[WS_SID_MAX + 1];
    long long epoch;
    char login[40];
    long long exp_s;
    char *student_id; /* into strs */
    char *token;      /* into strs; checked again after a NATS reconnect; never logged */
    char *strs;       /* owned: student_id, NUL, token, NUL */
    size_t strs_len;
};

/* Hands an upgraded socket to the loop (any thread). `extra` (copied) are
 * bytes MHD read past the HTTP request. */
void ws_server_adopt(struct ws_server *srv, const struct ws_claims *cl, int fd,
                     struct MHD_UpgradeResponseHandle *urh, const char *extra, size_t extra_len);

/* Metrics (registered by ws_server_start). */
extern struct metric ws_metric_open, ws_metric_in, ws_metric_out, ws_metric_dropped,
    ws_metric_pongs_ignored, ws_metric_read_states, ws_metric_mhd_held;

/* ---- upgrade (ws_upgrade.c), HTTP pool threads ---------------------------- */

struct http_req;

/* GET /ws and GET /admin/ws: check Origin (403) and credentials (401),
 * then answer 101 and hand the socket to the loop. */
enum MHD_Result ws_upgrade_student(struct http_req *r);
enum MHD_Result ws_upgrade_admin(struct http_req *r);

/* Sec-WebSocket-Accept for `key` into out (at least 29 bytes). */
void ws_accept_key(const char *key, char *out);

/* ---- one socket (ws_conn.c) ---------------------------------------------- */

struct ws_sess;

struct ws_conn {
    /* what the tick reads of a socket that is due, first and together:
     * the walk over thousands of idle sockets then touches one cache line
     * each (perf: the walk was ~10 % of a gateway's CPU in a 5,000 run
     * while `dead` sat 700 bytes behind `next`) */
    struct ws_conn *next, *prev; /* every socket of the server */
    int dead;                    /* remove on the next sweep */
    int64_t close_deadline_ms;   /* 0 = not closing */
    int64_t next_ping_ms;        /* monotonic */
    struct ws_who who;           /* its `admin` first: the tick asks it of every socket */
    uint64_t id;
    int fd;
    struct MHD_UpgradeResponseHandle *urh;
    struct ws_server *srv;
    struct ws_out *out, *out_tail; /* frames to write, oldest first (ws_frame.c) */
    size_t out_count;              /* frames queued, control frames included */
    size_t out_off;                /* bytes of the first frame already written */
    struct ws_rx *rx;              /* read state, only while a frame is partly read */
    uint8_t rd_closed;             /* the peer's close read, or reading stopped on an error */
    uint8_t wr_closed;             /* our close frame is written: nothing more goes out */
    uint8_t close_queued;          /* a close frame waits in the queue */
    struct ws_sess *sess;
    struct ws_conn *snext, *sprev; /* every socket of the session */
    char *extra;                   /* bytes MHD read past the request, fed first */
    size_t extra_len, extra_off;
    unsigned armed;         /* epoll events currently armed */
    int ready;              /* snapshot written: events flow */
    json_t *held;           /* events received before the snapshot */
    long long seq;          /* lifecycle seq of the state the socket shows, -1 unknown */
    long long snap_gen;     /* the snapshot request whose reply counts */
    struct req_entry *reqs; /* its requests in flight (ws_requests.c links them) */
    struct rtt rtt;         /* fair timing (rtt.c only): pings, round trips, the question shown */
    long long score;
    int bad_count;
    int64_t bad_window_ms;
    int reverify;             /* its token is to be checked again (ws_reverify.c) */
    int reverify_tries;       /* checks that got no answer */
    long long reverify_at_ms; /* the next check not before (monotonic ms) */
    size_t timer_idx;         /* its entry in the server's tick array (ws_loop.c) */
    int dirty;                /* on the server's dirty list */
    struct ws_conn *dirty_next;
};

/* A new socket of `srv` for the upgraded `fd` (non-blocking, TCP_NODELAY,
 * a bounded send buffer). Takes `extra` (bytes read
 * past the handshake) in every case; `urh` stays the caller's on failure.
 * Returns NULL on failure. */
struct ws_conn *ws_conn_open(struct ws_server *srv, uint64_t id, const struct ws_claims *who,
                             int fd, struct MHD_UpgradeResponseHandle *urh, char *extra,
                             size_t extra_len);

/* Closes the upgraded connection and frees `c` (NULL allowed). */
void ws_conn_free(struct ws_conn *c);

/* The socket's timers at each tick: close linger, an admin token's expiry,
 * pings and the pong timeout. Returns 1 when it touched `c`. */
int ws_conn_tick(struct ws_conn *c, int64_t now_ms, long long wall_s);

/* Does the socket's I/O after epoll said it is ready (or after queueing).
 * Marks c->dead on error or when the close handshake is over. Reading stops
 * while the socket's queue (control frames included: the pong queued for
 * every ping read) is over QW_WS_MAX_QUEUE; a socket still over it after
 * sending what it can is closed 1008 and freed (counted). */
void ws_conn_io(struct ws_conn *c, int readable);

/* What epoll should wait for: reading until the peer's close, writing
 * while frames wait (none after our close frame). */
int ws_conn_want_read(const struct ws_conn *c);
int ws_conn_want_write(const struct ws_conn *c);

/* Queues `text` (copied) as a text frame; drops the socket (counted) when
 * its queue is over QW_WS_MAX_QUEUE. */
void ws_conn_send(struct ws_conn *c, const char *text, size_t len);

/* Queues a text frame of `shared` (a reference is taken; NULL = none)
 * followed by `tail` (copied), like ws_conn_send. */
void ws_conn_send_parts(struct ws_conn *c, struct ws_shared *shared, const char *tail,
                        size_t tail_len);

/* A whole message or pong read by ws_frame.c (text, binary or pong
 * opcode; `data` borrowed). Only queues work. */
void ws_conn_message(struct ws_conn *c, uint8_t opcode, const uint8_t *data, size_t len);

/* Queues a close frame with `code` (0 = none) and `reason`: ahead of the
 * data not yet started when `ctrl`, else after every queued message.
 * Once per socket. */
void ws_conn_queue_close(struct ws_conn *c, uint16_t code, const char *reason, int ctrl);

/* Queues {"type":"error","code","message"}. */
void ws_conn_error(struct ws_conn *c, const char *code, const char *message);

/* Starts the close handshake with `code`; the socket is freed when it ends
 * or after WS_CLOSE_LINGER_MS. */
void ws_conn_close(struct ws_conn *c, uint16_t code, const char *reason);

/* Sends a ping carrying a fresh random nonce (rtt.h) and schedules the
 * next one. */
void ws_conn_ping(struct ws_conn *c);

/* ---- loop services for the other files (ws_server.c) --------------------- */

/* What a request in flight is for, kept with it until its reply: which
 * kind, which socket asked (NULL for WS_REQ_RESYNC, a session's own
 * snapshot, and once the socket is gone), and what the answer needs.
 * WS_REQ_VERIFY is a token check after a NATS reconnect (ws_reverify.c). */
enum ws_req_kind { WS_REQ_SNAPSHOT, WS_REQ_SUBMIT, WS_REQ_CMD, WS_REQ_RESYNC, WS_REQ_VERIFY };
struct ws_req_ctx {
    enum ws_req_kind kind;
    struct ws_conn *c;        /* borrowed; the asking socket, see above */
    long long snap_gen;       /* WS_REQ_SNAPSHOT: c->snap_gen when asked */
    long long qidx;           /* WS_REQ_SUBMIT: the question answered */
    char choice[16];          /* WS_REQ_SUBMIT: the choice sent (a set's stored form) */
    int is_set;               /* WS_REQ_SUBMIT: sent as `choices`, a list of labels */
    char sid[WS_SID_MAX + 1]; /* WS_REQ_RESYNC: the session */
};

/* Publishes `req` (borrowed) to `subject` with a reply to this gateway's
 * inbox, keeping `ctx` (copied). The reply (or a timeout, as reply NULL)
 * comes back on the loop: to handle_client_reply() for a socket's
 * request, to fanout_resync_reply() for WS_REQ_RESYNC, to
 * ws_reverify_answer() for WS_REQ_VERIFY. Returns 0, or -1
 * when it could not be sent (the caller answers unavailable). */
int ws_server_request(struct ws_server *srv, const struct ws_req_ctx *ctx, const char *subject,
                      const json_t *req);

/* ---- requests in flight (ws_requests.c) ---------------------------------- */

struct ws_requests {
    struct req_table table; /* by id, by deadline, by socket (req_table.h) */
    char inbox[64];         /* replies come to "<inbox>.<id>" */
    int timeout_ms;         /* QW_REQUEST_TIMEOUT_MS */
};

/* An empty set of requests replying to `inbox`. Returns 0 or -1. */
int ws_requests_init(struct ws_requests *rq, const char *inbox, int timeout_ms);
/* Publishes `req` (borrowed) to `subject` with a reply to <inbox>.<id> and
 * keeps `ctx` (copied) until answered. Returns 0, or -1 when it could not
 * be sent. */
int ws_requests_send(struct ws_requests *rq, natsConnection *nc, const struct ws_req_ctx *ctx,
                     const char *subject, const json_t *req);
/* The raw reply (data, len) to request `id`: parsed and answered once. */
void ws_requests_reply(struct ws_server *srv, struct ws_requests *rq, uint64_t id, const char *data,
                       size_t len);
/* Answers every request past its deadline with no reply. */
void ws_requests_expire(struct ws_server *srv, struct ws_requests *rq, int64_t now_ms);
/* `c` is going away: its requests will be answered to nobody. */
void ws_requests_forget(struct ws_conn *c);
/* Frees every request unanswered. */
void ws_requests_clear(struct ws_requests *rq);

/* Puts `c` on the list the loop flushes (and re-arms, or frees when dead)
 * before it waits again. */
void ws_server_dirty(struct ws_conn *c);

/* Pushes an event of `sid` (payload copied) to the loop; any thread. */
void ws_server_push_event(struct ws_server *srv, const char *sid, const char *data, size_t len);

struct gateway *ws_server_gateway(struct ws_server *srv);
int ws_server_max_queue(struct ws_server *srv);
int ws_server_per_student(struct ws_server *srv); /* QW_WS_PER_STUDENT */
int64_t ws_server_ping_ms(struct ws_server *srv);
int64_t ws_server_rtt_cap_ms(struct ws_server *srv);

/* ---- client messages (handle_client.c) ----------------------------------- */

/* A text message read from `c` (not NUL-terminated). Only queues work. */
void handle_client_text(struct ws_conn *c, const uint8_t *data, size_t len);

/* The reply to the request `ctx` of socket ctx->c (NULL = no answer in
 * time). `reply` borrowed. */
void handle_client_reply(const struct ws_req_ctx *ctx, const json_t *reply);

/* ---- fan-out (fanout.c) -------------------------------------------------- */

/* Joins `c` to its session, subscribing to qw.evt.<sid> for the first
 * socket, and asks for the snapshot. Returns 0 or -1. */
int fanout_attach(struct ws_conn *c);

/* Leaves the session; unsubscribes after the last socket. */
void fanout_detach(struct ws_conn *c);

/* An event of session `sid` (payload borrowed) arrived on the loop.
 * Returns how many sockets it was handed to; its type goes to *type. */
int fanout_event(struct ws_server *srv, const char *sid, const char *data, size_t len,
                 enum quiz_event *type);

/* After a NATS reconnect: asks one snapshot (no student) of every session
 * this gateway holds sockets of, to find the sessions that moved on while
 * the gateway was away. */
void fanout_resync_all(struct ws_server *srv);

/* The reply (borrowed; NULL = none in time) to fanout_resync_all's
 * request for `sid`: every socket of the session that shows an older seq
 * gets a fresh snapshot. */
void fanout_resync_reply(struct ws_server *srv, const char *sid, const json_t *reply);

/* ---- token checks after a reconnect (ws_reverify.c) ----------------------- */

/* After a NATS reconnect (a student_removed or qw.admin.revoked may have
 * been lost): every socket's token is to be checked with auth again. */
void ws_reverify_all(struct ws_server *srv);

/* On each tick: sends the next checks, at most WS_REVERIFY_BATCH in flight. */
void ws_reverify_tick(struct ws_server *srv);

/* The verify reply (borrowed; NULL = none in time) for `c` (NULL when the
 * socket is gone): a refused token closes the socket. */
void ws_reverify_answer(struct ws_server *srv, struct ws_conn *c, const json_t *reply);

/* Frees every session (at shutdown, after every socket is gone). */
void fanout_free_all(struct ws_server *srv);

/* ---- snapshots (ws_snapshot.c) ------------------------------------------ */

/* Asks a new snapshot for `c`; the reply of any earlier one is ignored
 * from now on. Returns 0 or -1. */
int ws_snapshot_request(struct ws_conn *c);

/* `c` shows a state older than the session's: hold its events and send it
 * a fresh snapshot (then the events it does not cover); closes it when the
 * request cannot be sent. */
void ws_snapshot_renew(struct ws_conn *c);

/* Writes the snapshot reply (borrowed) to `c`, then the events held back.
 * A reply to any request but the socket's latest (`gen` != c->snap_gen)
 * is ignored. */
void ws_snapshot_answer(struct ws_conn *c, const json_t *reply, long long gen);

/* ---- rendering events (ws_render.c) ------------------------------------- */

/* One event being written, with its renderings made once. */
struct ws_rendering {
    json_t *ev;                /* borrowed */
    enum quiz_event type;      /* parsed from ev */
    struct ws_shared *student; /* a reference: the event minus results, without its '}' */
    struct ws_shared *admin;   /* a reference: the whole event, without its closing '}' */
};

/* Writes event `r` to socket `c`, rendering the shared parts on first use. */
void ws_render_deliver(struct ws_conn *c, struct ws_rendering *r);
void ws_rendering_free(struct ws_rendering *r);

/* deadline_ms of `obj` minus now, at least 0 (0 without a deadline). */
int64_t ws_remaining_ms(const json_t *obj);

/* The server's session list head (fanout.c owns the sessions). */
struct ws_sess **ws_server_sessions(struct ws_server *srv);

#endif
