/*
 * auth: the auth daemon's shared declarations.
 *
 * The auth daemon owns credentials and tokens: the instructor's password
 * hash, admin logins (revocable), the login rate limit, student joins and
 * the token key. Every handler runs on a `service` worker with its own
 * Postgres connection; `struct auth` is read-only after start-up, so the
 * workers share it without a lock, but for the join flush rounds (`jf`),
 * which have their own. Nothing here ever logs a password,
 * token or key.
 */
#ifndef QW_AUTH_H
#define QW_AUTH_H

#include "daemon.h"
#include "db.h"

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>

#define AUTH_KEY_MAX 128

/* The flush rounds of join_flush.c; every field under mu. */
struct join_flush {
    pthread_mutex_t mu;
    pthread_cond_t ended;   /* broadcast when a round ends */
    unsigned long started;  /* rounds begun */
    unsigned long finished; /* rounds ended, ok or not (they run one at a time) */
    unsigned long last_ok;  /* the last round that flushed */
    int running;            /* a round is under way */
    int ready;              /* init succeeded */
};

struct auth {
    struct daemon d;                 /* NATS connection (events), ops listener */
    unsigned char key[AUTH_KEY_MAX]; /* token HMAC key */
    size_t keylen;
    const char *admin_user; /* QW_ADMIN_USER */
    char dummy_hash[256];   /* checked against when the user is unknown (even timing) */
    long admin_ttl_s;       /* QW_ADMIN_TOKEN_TTL_S */
    long student_ttl_s;     /* QW_STUDENT_TOKEN_TTL_S */
    long login_limit;       /* QW_LOGIN_LIMIT tries per IP per 60 s */
    long max_students;      /* QW_MAX_STUDENTS per session */
    long join_fail_limit;   /* QW_JOIN_FAIL_LIMIT failed joins per IP per 60 s */
    struct join_flush jf;   /* the joins' shared WAL flushes (own lock) */
};

/* join_flush.c: init returns 0 or -1; destroy accepts one never set up.
 * wait returns once every commit this worker saw on `db` before the call
 * is on disk (0), or -1 when the flush that was to cover it failed (the
 * join may then be kept or lost). */
int join_flush_init(struct join_flush *f);
void join_flush_destroy(struct join_flush *f);
int join_flush_wait(struct join_flush *f, struct db *db);

/* password.c: yescrypt via libxcrypt. hash writes a "$y$..." hash into
 * out (n >= 256); check compares in constant time. Both return 0 on
 * success, -1 otherwise. */
int password_hash(const char *password, char *out, size_t n);
int password_check(const char *password, const char *hash);

/* rate_limit.c: one try of `key` in its sliding window (RATE_LIMIT_WINDOW_MS,
 * which admit() in handle_join.c also reads), at most `limit` counted. Returns 0 when the try may
 * go on (counted when `count` is set; count 0 only asks), a positive retry-after in seconds when
 * the window is full (the try is not counted), or -1 when Postgres failed. */
#define RATE_LIMIT_WINDOW_MS 60000
long rate_limit_try(struct db *db, const char *key, long limit, int count);

/* main.c start-up against Postgres: the token key, the admin password. */
int auth_load_key(struct auth *a, struct db *db);
int auth_init_admin(struct auth *a, struct db *db);

/* handle_verify.c: checks a token of `kind` ("admin"|"student"; NULL =
 * either) and, for students, that it names `sid` when sid is not NULL.
 * Returns the verify reply (caller owns): ok with the claims, or 401. */
json_t *auth_verify_token(struct auth *a, struct db *db, const char *token, const char *kind,
                          const char *sid);

/* The handlers of SUBJ_AUTH_*; requests borrowed, replies new. */
json_t *handle_login(void *ctx, struct db *db, json_t *req);
json_t *handle_logout(void *ctx, struct db *db, json_t *req);
json_t *handle_verify(void *ctx, struct db *db, json_t *req);
json_t *handle_join(void *ctx, struct db *db, json_t *req);

#endif
