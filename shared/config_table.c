/*
 * config_table: the one table of settings (see config.h). Add a setting
 * here and it is read, checked and documented; nowhere else.
 */
#include "config.h"

#include <stddef.h>

const struct config_def config_table[] = {
    /* every daemon */
    {"QW_NATS_URL", CFG_ALL, CFG_STR, "nats://127.0.0.1:4222", 0, 0,
     "NATS server URL(s), comma separated (at most 16): the servers of one NATS cluster, "
     "tried in the order given (list the nearest first); when the one in use is lost the daemon "
     "reconnects to another of the list. The only channel between daemons."},
    {"QW_NATS_USER", CFG_ALL, CFG_STR, NULL, 0, 0,
     "NATS user of this daemon's role (docs/ARCHITECTURE.md, \"Roles\"); unset: no credentials."},
    {"QW_NATS_PASSWORD_FILE", CFG_ALL, CFG_STR, NULL, 0, 0,
     "File whose first line is the password of QW_NATS_USER (mode 0600; never logged)."},
    {"QW_NATS_CA_FILE", CFG_ALL, CFG_STR, NULL, 0, 0,
     "PEM file of the CA that signed nats-server's certificate; set, NATS is spoken only over "
     "TLS (needed when NATS crosses machines)."},
    {"QW_DB_URL", CFG_AUTH | CFG_SESSION | CFG_SCORING | CFG_MIGRATE, CFG_SECRET,
     "host=127.0.0.1 port=5432 dbname=quizwire", 0, 0,
     "libpq connection string of the PostgreSQL database (never logged). Several hosts with "
     "target_session_attrs=read-write follow a failover (e.g. postgresql://h1,h2,h3/quizwire?"
     "target_session_attrs=read-write&connect_timeout=2; the timeout applies per host)."},
    {"QW_LOG_LEVEL", CFG_ALL | CFG_MIGRATE, CFG_STR, "info", 0, 0,
     "Lowest level logged: debug, info, warn or error."},
    {"QW_OPS_ADDR", CFG_ALL, CFG_STR, "127.0.0.1", 0, 0,
     "Address of the ops listener (GET /healthz readiness, GET /livez liveness, GET /metrics)."},
    {"QW_OPS_PORT", CFG_ALL, CFG_INT, "0", 0, 65535, "Port of the ops listener; 0 turns it off."},
    {"QW_INSTANCE", CFG_ALL, CFG_STR, NULL, 0, 0,
     "Name of this instance in logs and NATS (default: daemon-pid)."},
    {"QW_REQUEST_TIMEOUT_MS", CFG_ALL, CFG_INT, "3000", 50, 60000,
     "How long a NATS request waits for its answer before the caller gets 503/unavailable."},
    {"QW_WORKERS", CFG_AUTH | CFG_SESSION | CFG_SCORING, CFG_INT, "4", 1, 64,
     "Worker threads (each with its own Postgres connection) serving NATS requests."},
    {"QW_HEALTH_DB_MS", CFG_AUTH | CFG_SESSION | CFG_SCORING, CFG_INT, "2000", 200, 60000,
     "Readiness bound: health is red when Postgres answered no probe within this many ms."},
    {"QW_MIGRATIONS_DIR", CFG_MIGRATE, CFG_STR, "db/migrations", 0, 0,
     "Folder of the numbered SQL migrations applied by qw-migrate."},

    /* auth */
    {"QW_ADMIN_USER", CFG_AUTH, CFG_STR, "admin", 0, 0, "The instructor's user name."},
    {"QW_ADMIN_PASSWORD", CFG_AUTH, CFG_SECRET, NULL, 0, 0,
     "Instructor password; when set it replaces the stored hash. Unset: the stored hash is kept "
     "(the stack script generates one at first start). Stored only as a yescrypt hash."},
    {"QW_ADMIN_PASSWORD_HASH", CFG_AUTH, CFG_SECRET, NULL, 0, 0,
     "Instructor password as a yescrypt hash ($y$..., e.g. from mkpasswd -m yescrypt); used when "
     "QW_ADMIN_PASSWORD is unset, so the password itself need not be stored anywhere."},
    {"QW_TOKEN_KEY", CFG_AUTH, CFG_SECRET, NULL, 0, 0,
     "HMAC-SHA256 token key (at least 32 characters). Unset: generated once and kept in Postgres."},
    {"QW_ADMIN_TOKEN_TTL_S", CFG_AUTH, CFG_INT, "43200", 60, 2592000,
     "Lifetime of an instructor token in seconds."},
    {"QW_STUDENT_TOKEN_TTL_S", CFG_AUTH, CFG_INT, "86400", 60, 2592000,
     "Lifetime of a student token in seconds."},
    {"QW_LOGIN_LIMIT", CFG_AUTH, CFG_INT, "10", 1, 1000,
     "Login tries allowed per client IP in any 60 s window (good or bad)."},
    {"QW_JOIN_FAIL_LIMIT", CFG_AUTH, CFG_INT, "100", 1, 100000,
     "Failed join tries (unknown join code or sid, wrong two-step shapes) allowed per client IP in "
     "any 60 s window; successful joins are never limited."},
    {"QW_MAX_STUDENTS", CFG_AUTH, CFG_INT, "10000", 1, 1000000,
     "Most students one session admits; a join beyond it gets 409 session_full."},

    /* session */
    {"QUIZ_POOL_PATH", CFG_SESSION, CFG_STR, NULL, 0, 0,
     "A question pool file for the default session `main`: loaded at start-up, and taken again"
     " (as a new quiz) at start in the lobby and at each reset of `main` when the file changed."},
    {"QW_SESSION_LEASE_MS", CFG_SESSION, CFG_INT, "3000", 500, 60000,
     "Lease period of the session daemons: every half of it each heartbeats the shards of "
     "sessions it drives and takes its share of free ones (a killed daemon's shards move "
     "within it; a hung one's after 3 times it)."},
    {"QW_STATS_INTERVAL_MS", CFG_SESSION | CFG_SCORING, CFG_INT, "250", 50, 5000,
     "Least time between two answer_stats events of one session."},

    {"QW_IMAGE_MAX_BYTES", CFG_SESSION | CFG_GATEWAY, CFG_INT, "524288", 1024, 4194304,
     "Largest picture a question may have, in bytes (POST /admin/api/images answers 413 over "
     "it). It crosses NATS as base64 (4/3 of it), so the 4 MiB bound fits nats.conf's "
     "max_payload of 8MB."},

    /* scoring */
    {"QW_BATCH_MAX", CFG_SCORING, CFG_INT, "256", 1, 10000,
     "Most submits committed in one transaction (group commit)."},
    {"QW_BATCH_WAIT_MS", CFG_SCORING, CFG_INT, "0", 0, 1000,
     "Longest wait for more submits before a batch is committed (0: take what is queued; "
     "submits arriving during a commit form the next batch)."},
    {"QW_BATCH_RETRY_MS", CFG_SCORING, CFG_INT, "15000", 0, 120000,
     "How long a batch whose transaction failed with the connection (a PostgreSQL restart or "
     "failover) is tried again on a new connection before its submits go unanswered (0: never). "
     "A COMMIT left without an answer is resolved by reading the record, never guessed."},

    /* gateway */
    {"QW_HTTP_ADDR", CFG_GATEWAY, CFG_STR, "127.0.0.1", 0, 0, "Address the gateway listens on."},
    {"QW_HTTP_PORT", CFG_GATEWAY, CFG_INT, "8080", 1, 65535,
     "Port of the gateway's HTTP/WebSocket listener."},
    {"QW_HTTP_THREADS", CFG_GATEWAY, CFG_INT, "8", 1, 256,
     "HTTP worker threads (REST requests wait on NATS in these)."},
    {"QW_STATIC_DIR", CFG_GATEWAY, CFG_STR, "web/dist", 0, 0, "Folder of the built web pages."},
    {"QW_ALLOWED_ORIGINS", CFG_GATEWAY, CFG_STR, "", 0, 0,
     "Extra Origins allowed to open WebSockets and send admin writes, comma separated (e.g. "
     "https://quiz.example.org); the gateway's own is always allowed."},
    {"QW_TRUSTED_PROXIES", CFG_GATEWAY, CFG_STR, "", 0, 0,
     "Proxies whose X-Forwarded-For first hop is taken as the client IP: IPs or CIDR ranges, IPv4 "
     "or IPv6, comma separated (e.g. 127.0.0.1,172.28.0.0/16,fd00::/8); a bad entry stops the "
     "gateway."},
    {"QW_HTTP_HEAD_TIMEOUT_MS", CFG_GATEWAY, CFG_INT, "10000", 1000, 600000,
     "Time a client has to send a whole request head, from connecting or from the end of its "
     "last answer; a client still sending after it is dropped (slowloris)."},
    {"QW_HTTP_CONN_MEMORY_KB", CFG_GATEWAY, CFG_INT, "6", 4, 64,
     "Per-connection memory of the HTTP server in KiB (a WebSocket releases it after the "
     "upgrade). Request headers must fit in about half of it (6: about 2.7 KB of headers, else "
     "431)."},
    {"QW_WS_MAX_QUEUE", CFG_GATEWAY, CFG_INT, "256", 8, 100000,
     "Most messages queued to one socket, control frames included (a pong is queued for every "
     "ping), before it is dropped."},
    {"QW_PING_INTERVAL_MS", CFG_GATEWAY, CFG_INT, "20000", 100, 600000,
     "WebSocket ping interval; a socket with no pong echoing its pings for two intervals is "
     "dropped."},
    {"QW_RTT_CAP_MS", CFG_GATEWAY, CFG_INT, "1000", 0, 10000,
     "Most round-trip time subtracted from a socket's elapsed time for fair points, so a "
     "client that delays its pongs gains at most this much."},
    {"QW_WS_PER_STUDENT", CFG_GATEWAY, CFG_INT, "4", 1, 64,
     "Most WebSockets one student holds on one gateway (a phone, a laptop, a tab or two); one "
     "more closes the student's oldest with code 4008, so one seat cannot hold thousands of "
     "sockets."},
    {"QW_IMAGE_CACHE_MB", CFG_GATEWAY, CFG_INT, "64", 1, 4096,
     "Memory the gateway keeps pictures in (GET /img/{id}), least recently used dropped first; "
     "each picture is fetched over NATS once while it is kept."},
    {NULL, 0, CFG_STR, NULL, 0, 0, NULL},
};
