/*
 * startup: what the auth daemon settles with Postgres before it answers
 * anything: the token key every instance shares, and the instructor's
 * password hash. Runs once on the main thread; logs events, never the
 * password or the key.
 */
#include "auth.h"

#include "config.h"
#include "log.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int auth_load_key(struct auth *a, struct db *db) {
    const char *env = config_str("QW_TOKEN_KEY");
    if (env && *env) {
        size_t n = strlen(env);
        if (n < 32 || n > AUTH_KEY_MAX) {
            LOG_ERROR("config_invalid", "var=QW_TOKEN_KEY reason=\"must be 32 to %d characters\"",
                      AUTH_KEY_MAX);
            return -1;
        }
        memcpy(a->key, env, n);
        a->keylen = n;
        LOG_INFO("token_key", "source=env");
        return 0;
    }
    /* generated once; every instance reads back whichever insert won */
    unsigned char raw[32];
    char hex[65];
    if (RAND_bytes(raw, sizeof(raw)) != 1) return -1;
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    const char *p[] = {hex};
    if (db_cmd(db,
               "INSERT INTO settings (key, value) VALUES ('token_key', $1) ON CONFLICT DO NOTHING",
               1, p) != 0)
        return -1;
    PGresult *r = db_exec(db, "SELECT value FROM settings WHERE key = 'token_key'", 0, NULL);
    int rc = -1;
    if (!r || PQntuples(r) != 1) goto cleanup;
    const char *v = PQgetvalue(r, 0, 0);
    size_t n = strlen(v);
    if (n != 64) goto cleanup;
    for (size_t i = 0; i < 32; i++) {
        int hi = hexval(v[2 * i]), lo = hexval(v[2 * i + 1]);
        if (hi < 0 || lo < 0) goto cleanup;
        a->key[i] = (unsigned char)(hi << 4 | lo);
    }
    a->keylen = 32;
    rc = 0;
    LOG_INFO("token_key", "source=db");
cleanup:
    if (rc != 0) LOG_ERROR("token_key_failed", "reason=\"could not read or store the token key\"");
    PQclear(r);
    explicit_bzero(raw, sizeof(raw));
    explicit_bzero(hex, sizeof(hex));
    return rc;
}

int auth_init_admin(struct auth *a, struct db *db) {
    const char *pw = config_str("QW_ADMIN_PASSWORD");
    const char *given_hash = config_str("QW_ADMIN_PASSWORD_HASH");
    const char *p[] = {a->admin_user, NULL};
    int rc = -1;
    char hash[256];
    if (given_hash && *given_hash && strncmp(given_hash, "$y$", 3) != 0) {
        LOG_ERROR("config_invalid", "var=QW_ADMIN_PASSWORD_HASH reason=\"not a yescrypt hash "
                                    "($y$...)\"");
        return -1;
    }
    if (password_hash("not the password", a->dummy_hash, sizeof(a->dummy_hash)) != 0) return -1;
    PGresult *r = db_exec(db, "SELECT pw_hash FROM admins WHERE username = $1", 1, p);
    if (!r) return -1;
    const char *stored = PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : NULL;
    if ((!pw || !*pw) && given_hash && *given_hash) {
        /* the hash as given (deploy keeps only the hash): stored when new */
        if (stored && strcmp(stored, given_hash) == 0) {
            LOG_INFO("admin_password", "user=%s source=hash unchanged=1", a->admin_user);
            rc = 0;
            goto cleanup;
        }
        p[1] = given_hash;
        if (db_cmd(db,
                   "INSERT INTO admins (username, pw_hash) VALUES ($1, $2) ON CONFLICT (username) "
                   "DO UPDATE SET pw_hash = EXCLUDED.pw_hash, updated_at = now()",
                   2, p) != 0)
            goto cleanup;
        LOG_INFO("admin_password", "user=%s source=hash stored=1", a->admin_user);
        rc = 0;
        goto cleanup;
    }
    if (!pw || !*pw) {
        if (stored)
            LOG_INFO("admin_password", "user=%s source=stored_hash", a->admin_user);
        else
            LOG_ERROR(
                "admin_password_missing",
                "user=%s var=QW_ADMIN_PASSWORD hint=\"set QW_ADMIN_PASSWORD (scripts/stack.sh "
                "generates one at first start); no instructor can log in until then\"",
                a->admin_user);
        rc = 0;
        goto cleanup;
    }
    if (stored && password_check(pw, stored) == 0) {
        LOG_INFO("admin_password", "user=%s source=env unchanged=1", a->admin_user);
        rc = 0;
        goto cleanup;
    }
    if (password_hash(pw, hash, sizeof(hash)) != 0) goto cleanup;
    p[1] = hash;
    if (db_cmd(db,
               "INSERT INTO admins (username, pw_hash) VALUES ($1, $2) ON CONFLICT (username) "
               "DO UPDATE SET pw_hash = EXCLUDED.pw_hash, updated_at = now()",
               2, p) != 0)
        goto cleanup;
    LOG_INFO("admin_password", "user=%s source=env stored=1", a->admin_user);
    rc = 0;
cleanup:
    PQclear(r);
    return rc;
}
