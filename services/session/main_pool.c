/*
 * main_pool: session `main` follows the pool file QUIZ_POOL_PATH names.
 * The SHA-256 of the file `main` last took is kept in `session_settings`
 * (key main_pool_sha256); a file with another hash is stored as a new quiz
 * (a new version: quizzes already played keep theirs) and `main` points at
 * it, at start while `main` is in its lobby and at every reset of `main`.
 * A bad file never touches `main`: one log line says why. Runs only on the
 * lifecycle thread of the lease holder, with its db.
 */
#include "clock.h"
#include "log.h"
#include "reply.h"
#include "session.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define POOL_MAX_BYTES (1024 * 1024) /* the HTTP limit for pools (SPEC §3) */
#define SHA_KEY "main_pool_sha256"

/* Reads the whole file into a new buffer (caller frees) of at most
 * POOL_MAX_BYTES; NULL with *why set when it cannot. */
static char *read_pool_file(const char *path, size_t *len, const char **why) {
    char *buf = NULL;
    FILE *f = fopen(path, "rb");
    *why = "cannot open";
    if (!f) return NULL;
    buf = malloc(POOL_MAX_BYTES + 1);
    *len = buf ? fread(buf, 1, POOL_MAX_BYTES + 1, f) : 0;
    *why = !buf ? "out of memory" : ferror(f) ? "cannot read" : NULL;
    if (!*why && *len > POOL_MAX_BYTES) *why = "larger than 1 MiB";
    fclose(f);
    if (*why) {
        free(buf);
        buf = NULL;
    }
    return buf;
}

static void sha256_hex(const char *data, size_t len, char out[65]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    out[0] = '\0';
    if (!EVP_Digest(data, len, md, &n, EVP_sha256(), NULL)) return;
    for (unsigned i = 0; i < n && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

int main_pool_prepare(struct session_daemon *sd, struct db *db, char quiz_id[32], char sha[65]) {
    const char *path = config_str("QUIZ_POOL_PATH");
    const char *why = NULL;
    size_t len = 0;
    char *text = NULL;
    json_t *pool = NULL, *reply = NULL;
    PGresult *r = NULL;
    int rc = -1;
    if (!path || !*path) return 0;
    if (!(text = read_pool_file(path, &len, &why))) {
        LOG_ERROR("pool_load_failed", "var=QUIZ_POOL_PATH reason=\"%s\" kept=main", why);
        goto cleanup;
    }
    sha256_hex(text, len, sha);
    const char *key[1] = {SHA_KEY};
    if (!(r = db_exec(db, "SELECT value FROM session_settings WHERE key = $1", 1, key)))
        goto cleanup;
    if (PQntuples(r) == 1 && strcmp(db_val(r, 0, 0), sha) == 0) {
        rc = 0; /* unchanged */
        goto cleanup;
    }
    json_error_t jerr;
    if (!(pool = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr))) {
        LOG_ERROR("pool_load_failed", "var=QUIZ_POOL_PATH line=%d error=\"%s\" kept=main",
                  jerr.line, jerr.text);
        goto cleanup;
    }
    reply = handle_quiz_create(sd, db, pool);
    if (!reply || !reply_is_ok(reply)) {
        const char *msg = reply ? json_string_value(json_object_get(reply, "message")) : NULL;
        LOG_ERROR("pool_load_failed", "var=QUIZ_POOL_PATH status=%d error=\"%s\" kept=main",
                  reply ? reply_status(reply) : 500, msg ? msg : "internal");
        goto cleanup;
    }
    json_t *qid = json_object_get(reply, "quiz_id");
    if (json_is_integer(qid))
        snprintf(quiz_id, 32, "%lld", (long long)json_integer_value(qid));
    else
        snprintf(quiz_id, 32, "%s", json_string_value(qid) ? json_string_value(qid) : "");
    rc = 1;
cleanup:
    PQclear(r);
    json_decref(pool);
    json_decref(reply);
    free(text);
    return rc;
}

int main_pool_apply(struct db *db, const char *quiz_id, const char *sha) {
    const char *p[2] = {"main", quiz_id};
    const char *s[2] = {SHA_KEY, sha};
    if (db_cmd(db, "UPDATE sessions SET quiz_id = $2::bigint WHERE sid = $1", 2, p) != 0) return -1;
    return db_cmd(db,
                  "INSERT INTO session_settings (key, value) VALUES ($1, $2)"
                  " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                  2, s);
}

/* Creates `main` on quiz_id with a free random join code, in the caller's
 * transaction. Returns 0 or -1 (after logging). */
static int create_main(struct db *db, const char *quiz_id) {
    for (int tries = 0; tries < 20; tries++) {
        unsigned v = 0;
        if (getrandom(&v, sizeof(v), 0) != sizeof(v)) v = (unsigned)clock_mono_us();
        char code[8];
        snprintf(code, sizeof(code), "%06u", v % 1000000u);
        const char *p[3] = {"main", quiz_id, code};
        PGresult *r =
            db_exec(db,
                    "INSERT INTO sessions (sid, quiz_id, join_code) VALUES ($1, $2::bigint,"
                    " $3) ON CONFLICT DO NOTHING RETURNING sid",
                    3, p);
        int made = r && PQntuples(r) == 1;
        PQclear(r);
        if (!r) return -1;
        if (made) return 0;
    }
    LOG_ERROR("pool_load_failed", "reason=\"no free join code\"");
    return -1;
}

int main_pool_start(struct session_daemon *sd, struct db *db) {
    char quiz_id[32] = "", sha[65] = "";
    const char *main_sid[1] = {"main"};
    PGresult *r = NULL;
    int rc = -1;
    const char *path = config_str("QUIZ_POOL_PATH");
    if (!path || !*path) return 0;
    if (!(r = db_exec(db, "SELECT state FROM sessions WHERE sid = $1", 1, main_sid)))
        return -1; /* the database: try again */
    int exists = PQntuples(r) == 1;
    if (exists && strcmp(db_val(r, 0, 0), "lobby") != 0) {
        LOG_INFO("pool_kept", "sid=main reason=\"in play; a changed file is taken at its reset\"");
        rc = 0;
        goto cleanup;
    }
    int changed = main_pool_prepare(sd, db, quiz_id, sha);
    if (changed <= 0) {
        if (changed == 0) LOG_INFO("pool_kept", "sid=main reason=unchanged");
        rc = 0; /* a bad file was logged; `main` stays as it was */
        goto cleanup;
    }
    if (db_cmd(db, "BEGIN", 0, NULL) != 0) goto cleanup;
    int ok = exists ? main_pool_apply(db, quiz_id, sha) == 0
                    : create_main(db, quiz_id) == 0 && main_pool_apply(db, quiz_id, sha) == 0;
    if (ok) ok = db_cmd(db, "COMMIT", 0, NULL) == 0;
    if (!ok) {
        db_cmd(db, "ROLLBACK", 0, NULL);
        goto cleanup;
    }
    LOG_INFO("pool_loaded", "sid=main quiz_id=%s sha256=%.12s", quiz_id, sha);
    rc = 0;
cleanup:
    PQclear(r);
    return rc;
}
