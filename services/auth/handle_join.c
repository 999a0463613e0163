/*
 * handle_join: qw.auth.join. Admits a student to a session by sid or join
 * code: checks the id and name (stored exactly as given, never
 * interpreted), refuses an id already taken unless the request carries
 * that student's own valid token or the join key it joined with (the same
 * browser re-joining, e.g. a join retried after its answer was lost; only
 * the key's SHA-256 is stored, and the key is never logged), an id the
 * instructor removed, a new student while the lobby is locked, a two-step
 * session's join without the shapes on the projector, an ended session and
 * a full one; commits the student row, then signs a token that names sid,
 * student_id and the session's reset epoch and publishes lobby_update on
 * qw.evt.<sid>.
 *
 * Guessing is limited, joining is not: failed tries (an unknown code or
 * sid, wrong shapes) count per client IP in a sliding window
 * (QW_JOIN_FAIL_LIMIT a minute). While an IP is over it, its failed tries
 * get 429, and so does a join by code to a session that IP has not joined
 * before (else a 200 among the 429s would still tell a script the code);
 * a session it already joined (its class behind one NAT) and a join with
 * the right shapes still pass. Runs on the auth workers.
 */
#include "auth.h"

#include "bus.h"
#include "clock.h"
#include "log.h"
#include "quiz.h"
#include "reply.h"
#include "shapes.h"
#include "subjects.h"
#include "text.h"
#include "token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A join key: what the student page makes once per browser (32 hex
 * digits); any 16..128 characters of [A-Za-z0-9_-] are accepted. */
#define JOIN_KEY_MIN 16
#define JOIN_KEY_MAX 128
#define JOIN_KEY_HASH_LEN 64 /* SHA-256 in hex */

/* The request's join_key hashed into out (JOIN_KEY_HASH_LEN + 1 bytes),
 * or out "" when the request has none. Returns 0, or -1 when the key is
 * malformed (not a string, wrong length or characters). */
static int join_key_hash(json_t *req, char out[JOIN_KEY_HASH_LEN + 1]) {
    static const char hex[] = "0123456789abcdef";
    json_t *v = json_object_get(req, "join_key");
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    out[0] = '\0';
    if (!v || json_is_null(v)) return 0;
    const char *k = json_string_value(v);
    size_t n = k ? json_string_length(v) : 0;
    if (!k || n < JOIN_KEY_MIN || n > JOIN_KEY_MAX || strlen(k) != n ||
        strspn(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != n)
        return -1;
    if (!EVP_Digest(k, n, md, &mdlen, EVP_sha256(), NULL) || mdlen * 2 != JOIN_KEY_HASH_LEN)
        return -1;
    for (unsigned int i = 0; i < mdlen; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[JOIN_KEY_HASH_LEN] = '\0';
    return 0;
}

/* Whether student `st` of `sid`, not removed, joined with the key whose
 * hash is `hash` (compared in constant time); its stored name is copied
 * into name. Returns 1 yes, 0 no (also for no key), -1 Postgres failed. */
static int same_join_key(struct db *db, const char *sid, const char *st, const char *hash,
                         char *name, size_t n) {
    if (!*hash) return 0;
    PGresult *r = db_exec(db,
                          "SELECT join_key_hash, name FROM students WHERE sid = $1 AND "
                          "student_id = $2 AND removed_at IS NULL AND join_key_hash IS NOT NULL",
                          2, (const char *[]){sid, st});
    if (!r) return -1;
    int same = PQntuples(r) == 1 && PQgetlength(r, 0, 0) == JOIN_KEY_HASH_LEN &&
               CRYPTO_memcmp(PQgetvalue(r, 0, 0), hash, JOIN_KEY_HASH_LEN) == 0;
    if (same) snprintf(name, n, "%s", PQgetvalue(r, 0, 1));
    PQclear(r);
    return same;
}

/* Which session the request names: *sid (borrowed from req) when it gives
 * one, else *code, its 6-digit join code. Returns 0, or -1 when it names
 * neither (a 400). */
static int session_named(json_t *req, const char **sid, const char **code) {
    *sid = json_string_value(json_object_get(req, "sid"));
    *code = json_string_value(json_object_get(req, "join_code"));
    if (*sid && **sid && strlen(*sid) <= 64) {
        *code = NULL;
        return 0;
    }
    *sid = NULL;
    return *code && strlen(*code) == 6 && strspn(*code, "0123456789") == 6 ? 0 : -1;
}

/* The sid of the running session whose join code is `code`, copied into
 * buf; NULL with *err set to the refusal (404 unknown_session, or 503). */
static const char *find_session(struct db *db, const char *code, char *buf, size_t n,
                                json_t **err) {
    PGresult *r = db_exec(db, "SELECT sid FROM sessions WHERE join_code = $1 AND state <> 'ended'",
                          1, (const char *[]){code});
    if (!r) {
        *err = reply_error(503, "db_unavailable", "the join could not be checked; try again");
        return NULL;
    }
    if (PQntuples(r) == 0) {
        *err = reply_error(404, "unknown_session", "no running session has that join code");
        PQclear(r);
        return NULL;
    }
    snprintf(buf, n, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return buf;
}

/* A failed try (unknown code or sid, wrong shapes) from `key`: counted in
 * its window and answered with `refusal` (stolen), or 429 instead when the
 * window is full. Returns the reply (new). */
static json_t *failed_try(struct auth *a, struct db *db, const char *key, json_t *refusal) {
    long wait = rate_limit_try(db, key, a->join_fail_limit, 1);
    if (wait == 0) return refusal;
    json_decref(refusal);
    if (wait < 0)
        return reply_error(503, "db_unavailable", "the join could not be checked; try again");
    LOG_WARN("join_rate_limited", "key=\"%s\" retry_after=%ld", key, wait);
    json_t *reply = reply_error(429, "rate_limited",
                                "too many failed joins from this address; wait %ld s", wait);
    json_object_set_new(reply, "retry_after", json_integer(wait));
    return reply;
}

/* Counts a refused join of `sid` for the console (best effort). */
static void count_refusal(struct db *db, const char *sid, const char *why) {
    db_cmd(db,
           "INSERT INTO join_refusals (sid, count) VALUES ($1, 1) "
           "ON CONFLICT (sid) DO UPDATE SET count = join_refusals.count + 1",
           1, (const char *[]){sid});
    LOG_INFO("join_refused", "sid=%s reason=%s", sid, why);
}

/* How long an IP's join of a session lets that IP past limit_gate. */
#define JOIN_KNOWN_MS (3600 * 1000LL)

/* While `key`'s failed joins are over the limit, a join to a session this
 * IP has not joined within the hour is refused like a failure (admit()
 * by code holds the same rule in its statement). Returns 0
 * to go on, a positive retry-after, or -1 when Postgres failed. */
static long limit_gate(struct auth *a, struct db *db, const char *key, const char *ip,
                       const char *sid) {
    long wait = rate_limit_try(db, key, a->join_fail_limit, 0);
    if (wait <= 0) return wait;
    char since[24];
    snprintf(since, sizeof(since), "%lld", (long long)clock_wall_ms() - JOIN_KNOWN_MS);
    PGresult *r = db_exec(db,
                          "SELECT 1 FROM join_known WHERE ip = $1 AND sid = $2 "
                          "AND at_ms > $3::bigint",
                          3, (const char *[]){ip, sid, since});
    if (!r) return -1;
    int known = PQntuples(r) == 1;
    PQclear(r);
    return known ? 0 : wait;
}

/* The admitting statement after its `s` (the session row it admits to,
 * locked): inserts the student with the row's epoch, counts the player
 * only if that insert happened and notes the IP's join for limit_gate
 * (rewritten at most once a minute per IP and session). */
#define ADMIT_TAIL                                                                                 \
    " FOR UPDATE),"                                                                                \
    " i AS (INSERT INTO students (sid, student_id, name, epoch, join_key_hash)"                    \
    "   SELECT sid, $3, $4, epoch, $5 FROM s ON CONFLICT DO NOTHING"                               \
    "   RETURNING sid, epoch),"                                                                    \
    " u AS (UPDATE sessions SET players = players + 1 FROM i"                                      \
    "   WHERE sessions.sid = i.sid RETURNING sessions.players),"                                   \
    " k AS (INSERT INTO join_known (ip, sid, at_ms) SELECT $6, sid, $7::bigint FROM i"             \
    "   ON CONFLICT (ip, sid) DO UPDATE SET at_ms = EXCLUDED.at_ms"                                \
    "   WHERE join_known.at_ms < EXCLUDED.at_ms - 60000),"                                         \
    " c AS (SELECT set_config('synchronous_commit', 'off', true) AS v)"                            \
    " SELECT (SELECT count(*) FROM s), (SELECT players FROM u), (SELECT epoch FROM i),"            \
    " (SELECT v FROM c), (SELECT sid FROM i)"

/* Which rows `s` may admit to: open, unlocked, below the cap and (unless
 * $8, the shapes already checked) not a two-step session. */
#define ADMIT_OPEN                                                                                 \
    " state <> 'ended' AND NOT locked AND players < $2::int AND (NOT two_step OR $8::bool)"

/* One statement, committed on its own: it locks the session row (named
 * by its sid, or with `by_code` by its live join code) while the session
 * admits (ADMIT_OPEN) and inserts the student (ADMIT_TAIL). By code it
 * also holds limit_gate's rule in the same statement: the row is taken
 * only while `key`'s failed tries are below the limit or this IP joined
 * the session within the hour, so a code is never admitted where
 * limit_gate would refuse it. The row lock lines up the joins of one
 * session (and a reset, a lock) until its COMMIT, so the cap and the lock
 * hold exactly; no round trip to this daemon happens while it is held, so
 * a join holds it for one execution and its commit only. That commit does
 * not wait for the WAL flush (synchronous_commit off for this statement's
 * transaction alone), so the lock is not held across an fsync either: the
 * next join of the session goes on while this one's flush waits in
 * join_flush_wait(), whose rounds serve many joins each. The caller
 * answers only once durable. Returns 1 when the session took new students
 * (*counted then says whether this one was inserted, with its player
 * count, epoch and sid copied into players and epoch, 24 bytes each, and
 * sidbuf, 80 bytes), 0 when it did not (no such session, ended, locked,
 * full, two-step or, by code, rate limited), -1 when Postgres failed. */
static int admit(struct auth *a, struct db *db, const char *sid_or_code, int by_code,
                 const char *st, const char *name, const char *keyhash, const char *key,
                 const char *ip, int two_step_ok, char *players, char *epoch, char *sidbuf,
                 int *counted) {
    char max[24], now[24], limit[24], since[24], hour[24];
    long long t = clock_wall_ms();
    snprintf(max, sizeof(max), "%ld", a->max_students);
    snprintf(now, sizeof(now), "%lld", t);
    snprintf(limit, sizeof(limit), "%ld", a->join_fail_limit);
    snprintf(since, sizeof(since), "%lld", t - RATE_LIMIT_WINDOW_MS);
    snprintf(hour, sizeof(hour), "%lld", t - JOIN_KNOWN_MS);
    const char *p[] = {sid_or_code,
                       max,
                       st,
                       name,
                       *keyhash ? keyhash : NULL,
                       ip,
                       now,
                       two_step_ok ? "t" : "f",
                       key,
                       since,
                       limit,
                       hour};
    PGresult *r =
        by_code
            ? db_exec(
                  db,
                  "WITH s AS (SELECT sid, epoch FROM sessions WHERE join_code = $1 AND" ADMIT_OPEN
                  "   AND ((SELECT count(*) FROM login_attempts"
                  "     WHERE ip = $9 AND at_ms > $10::bigint) < $11::int"
                  "   OR EXISTS (SELECT 1 FROM join_known j WHERE j.ip = $6"
                  "     AND j.sid = sessions.sid AND j.at_ms > $12::bigint))" ADMIT_TAIL,
                  12, p)
            : db_exec(db,
                      "WITH s AS (SELECT sid, epoch FROM sessions WHERE sid = $1 AND" ADMIT_OPEN
                          ADMIT_TAIL,
                      8, p);
    *counted = 0;
    if (!r) return -1;
    int open = strcmp(PQgetvalue(r, 0, 0), "1") == 0;
    *counted = !PQgetisnull(r, 0, 1);
    if (*counted) {
        snprintf(players, 24, "%s", PQgetvalue(r, 0, 1));
        snprintf(epoch, 24, "%s", PQgetvalue(r, 0, 2));
        snprintf(sidbuf, 80, "%s", PQgetvalue(r, 0, 4));
    }
    PQclear(r);
    return open;
}

json_t *handle_join(void *ctx, struct db *db, json_t *req) {
    struct auth *a = ctx;
    json_t *reply = NULL, *claims = NULL, *mine = NULL;
    char *token = NULL;
    PGresult *r = NULL;
    int by_code = 0, shapes_ok = 0, given_shapes[SHAPES_LEN], open = 0, counted = 0, taken = 0;
    char sidbuf[80], epoch[24], players[24] = "0", key[80], secret[80];
    char keyhash[JOIN_KEY_HASH_LEN + 1], stored_name[256];
    const char *st = json_string_value(json_object_get(req, "student_id"));
    const char *name = json_string_value(json_object_get(req, "name"));
    const char *given = json_string_value(json_object_get(req, "token"));
    const char *ip = json_string_value(json_object_get(req, "ip"));
    json_t *shapes = json_object_get(req, "shapes");
    long stlen = text_codepoints(st), namelen = text_codepoints(name);
    if (stlen < 1 || stlen > TEXT_ID_MAX_CHARS)
        return reply_error(400, "bad_field", "student_id must be 1 to 64 printable characters");
    if (namelen < 1 || namelen > 40)
        return reply_error(400, "bad_field", "name must be 1 to 40 printable characters");
    if (shapes && !json_is_null(shapes) && shapes_parse(shapes, given_shapes) != 0)
        return reply_error(400, "bad_field",
                           "shapes must be a list of %d shape names (triangle, diamond, circle, "
                           "square)",
                           SHAPES_LEN);
    if (json_is_null(shapes)) shapes = NULL;
    if (join_key_hash(req, keyhash) != 0)
        return reply_error(400, "bad_field",
                           "join_key must be %d to %d characters of A-Z, a-z, 0-9, _ and -",
                           JOIN_KEY_MIN, JOIN_KEY_MAX);
    if (!ip || !*ip || strlen(ip) > 64) ip = "unknown";
    snprintf(key, sizeof(key), "join %s", ip);
    const char *sid = NULL, *code = NULL;
    if (session_named(req, &sid, &code) != 0)
        return reply_error(400, "bad_field", "give a sid or a 6-digit join_code");

    /* A new student, the common case, in one statement: admitted only
     * where every check below would pass (the id is free, so neither
     * removed nor taken; a two-step session goes the long way for its
     * shapes; by code, admit() holds limit_gate's rule itself, and no
     * rate gate applies to a sid). Anything else is read below to say
     * why, exactly as if this had not been tried: a statement that did
     * not admit changed nothing. */
    open = admit(a, db, sid ? sid : code, !sid, st, name, keyhash, key, ip, 0, players, epoch,
                 sidbuf, &counted);
    if (open < 0) goto unavailable;
    if (counted) {
        sid = sidbuf;
        goto sign;
    }
    if (code) {
        by_code = 1;
        sid = find_session(db, code, sidbuf, sizeof(sidbuf), &reply);
        if (!sid)
            return json_integer_value(json_object_get(reply, "status")) == 404
                       ? failed_try(a, db, key, reply)
                       : reply;
    }

    r = db_exec(db,
                "SELECT s.state, s.epoch, s.locked, s.two_step, s.two_step_key, "
                "(SELECT st.removed_at IS NOT NULL FROM students st "
                " WHERE st.sid = s.sid AND st.student_id = $2) "
                "FROM sessions s WHERE s.sid = $1",
                2, (const char *[]){sid, st});
    if (!r) goto unavailable;
    if (PQntuples(r) == 0) {
        reply =
            failed_try(a, db, key, reply_error(404, "unknown_session", "there is no such session"));
        goto cleanup;
    }
    if (quiz_state_is(PQgetvalue(r, 0, 0), QUIZ_ENDED)) {
        reply = reply_error(409, "session_ended", "this session has ended");
        goto cleanup;
    }
    snprintf(epoch, sizeof(epoch), "%s", PQgetvalue(r, 0, 1));
    int locked = strcmp(PQgetvalue(r, 0, 2), "t") == 0;
    int two_step = strcmp(PQgetvalue(r, 0, 3), "t") == 0;
    snprintf(secret, sizeof(secret), "%s", PQgetvalue(r, 0, 4));
    taken = !PQgetisnull(r, 0, 5);
    int removed = taken && strcmp(PQgetvalue(r, 0, 5), "t") == 0;
    PQclear(r);
    r = NULL;
    if (removed) {
        count_refusal(db, sid, "removed");
        reply = reply_error(409, "student_removed",
                            "the instructor removed this student id from the session");
        goto cleanup;
    }
    if (taken) {
        /* the same browser (its own valid token) may join again, even
         * into a locked lobby and without the shapes: it is already in */
        mine = given ? auth_verify_token(a, db, given, "student", sid) : NULL;
        const char *who = json_string_value(json_object_get(mine, "student_id"));
        if (mine && json_is_true(json_object_get(mine, "ok")) && who && strcmp(who, st) == 0) {
            name = json_string_value(json_object_get(mine, "name"));
            goto sign;
        }
        int same = same_join_key(db, sid, st, keyhash, stored_name, sizeof(stored_name));
        if (same < 0) goto unavailable;
        if (same) {
            name = stored_name;
            goto sign;
        }
        reply =
            reply_error(409, "student_id_taken", "this student id has already joined this session");
        goto cleanup;
    }
    if (locked) {
        count_refusal(db, sid, "locked");
        reply = reply_error(409, "session_locked",
                            "the instructor has locked this session: no new players can join");
        goto cleanup;
    }
    if (two_step && !shapes) {
        reply = reply_error(403, "two_step_required",
                            "enter the %d shapes shown on the projector to join", SHAPES_LEN);
        goto cleanup;
    }
    if (two_step) {
        shapes_ok = shapes_match(secret, given_shapes, clock_wall_ms());
        if (!shapes_ok) {
            count_refusal(db, sid, "two_step_wrong");
            reply = failed_try(a, db, key,
                               reply_error(403, "two_step_wrong",
                                           "those are not the shapes on the projector; look "
                                           "again and enter the ones shown now"));
            goto cleanup;
        }
    }
    if (by_code && !shapes_ok) {
        long wait = limit_gate(a, db, key, ip, sid);
        if (wait < 0) goto unavailable;
        if (wait > 0) {
            count_refusal(db, sid, "rate_limited");
            reply = reply_error(429, "rate_limited",
                                "too many failed joins from this address; wait %ld s", wait);
            json_object_set_new(reply, "retry_after", json_integer(wait));
            goto cleanup;
        }
    }

    open = admit(a, db, sid, 0, st, name, keyhash, key, ip, 1, players, epoch, sidbuf, &counted);
    if (open < 0) goto unavailable;
    if (!open) { /* ended, locked or full: read which to say so */
        r = db_exec(db, "SELECT state, locked FROM sessions WHERE sid = $1", 1,
                    (const char *[]){sid});
        if (!r) goto unavailable;
        if (PQntuples(r) == 1 && quiz_state_is(PQgetvalue(r, 0, 0), QUIZ_ENDED)) {
            reply = reply_error(409, "session_ended", "this session has ended");
        } else if (PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 1), "t") == 0) {
            reply = reply_error(409, "session_locked",
                                "the instructor has locked this session: no new players can join");
        } else {
            reply = reply_error(409, "session_full", "this session is full (%ld students)",
                                a->max_students);
            count_refusal(db, sid, "full");
        }
        goto cleanup;
    }
    if (!counted) {
        /* the same id joined meanwhile: from this browser (a retry that
         * overtook its first try) it is admitted without counting twice */
        taken = same_join_key(db, sid, st, keyhash, stored_name, sizeof(stored_name));
        if (taken < 0) goto unavailable;
        if (taken) {
            name = stored_name;
            goto sign;
        }
        reply =
            reply_error(409, "student_id_taken", "this student id has already joined this session");
        goto cleanup;
    }
sign:
    /* the student row may be another join's, committed but not yet
     * flushed: answered only once on disk (a failed flush is a 503; a
     * retry with its join key is the same student either way) */
    if (join_flush_wait(&a->jf, db) != 0) goto unavailable;
    claims = json_pack("{s:s,s:s,s:s,s:I,s:I}", "k", "s", "sid", sid, "st", st, "e",
                       (json_int_t)strtoll(epoch, NULL, 10), "exp",
                       (json_int_t)(clock_wall_ms() / 1000 + a->student_ttl_s));
    token = token_sign(a->key, a->keylen, claims);
    if (!token) goto cleanup;
    reply = json_pack("{s:b,s:s,s:s,s:s,s:s,s:I}", "ok", 1, "sid", sid, "student_id", st, "name",
                      name, "token", token, "max_age_s", (json_int_t)a->student_ttl_s);
    if (!taken) {
        char subject[128];
        /* student_id lets the console remove the newcomer; gateways strip
         * it from what students see */
        json_t *evt = quiz_ev_lobby_update(strtoll(players, NULL, 10), name, st);
        if (evt && quiz_event_subject(subject, sizeof(subject), sid) == 0)
            bus_publish(a->d.nc, subject, evt);
        json_decref(evt);
        LOG_INFO("student_joined", "sid=%s players=%s", sid, players);
    } else {
        LOG_INFO("student_rejoined", "sid=%s", sid);
    }
    goto cleanup;
unavailable:
    json_decref(reply);
    reply = reply_error(503, "db_unavailable", "the join could not be recorded; try again");
cleanup:
    PQclear(r);
    free(token);
    json_decref(claims);
    json_decref(mine);
    explicit_bzero(secret, sizeof(secret));
    return reply;
}
