/*
 * db: libpq wrappers (see db.h) and the migration runner.
 */
#include "db.h"

#include "clock.h"
#include "log.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void quiet_notice(void *arg, const char *message) {
    (void)arg;
    (void)message;
}

/* A connect that hangs (a stalled network or server) gives up after this
 * many seconds; a connect_timeout in QW_DB_URL overrides it. */
#define CONNECT_TIMEOUT_S "10"

static PGconn *connect_once(const char *conninfo) {
    /* expand_dbname: QW_DB_URL's own fields come after, so they win */
    const char *const keys[] = {"connect_timeout", "dbname", NULL};
    const char *const vals[] = {CONNECT_TIMEOUT_S, conninfo, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(c) != CONNECTION_OK) {
        /* libpq's message names host/socket but never the password. */
        char msg[256];
        snprintf(msg, sizeof(msg), "%s", PQerrorMessage(c));
        for (char *p = msg; *p; p++)
            if (*p == '"' || *p == '\n') *p = ' ';
        LOG_ERROR("db_connect_failed", "var=QW_DB_URL error=\"%s\"", msg);
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeProcessor(c, quiet_notice, NULL);
    return c;
}

struct db *db_open(const char *conninfo) {
    PGconn *c = connect_once(conninfo);
    if (!c) return NULL;
    struct db *db = calloc(1, sizeof(*db));
    if (!db) {
        PQfinish(c);
        return NULL;
    }
    db->conn = c;
    db->conninfo = strdup(conninfo);
    db->backoff_ms = 100;
    return db;
}

void db_free(struct db *db) {
    if (!db) return;
    if (db->conn) PQfinish(db->conn);
    free(db->conninfo);
    free(db);
}

int db_broken(struct db *db) {
    return !db->conn || PQstatus(db->conn) != CONNECTION_OK;
}

int db_ensure(struct db *db) {
    if (!db_broken(db)) return 0;
    long long now = clock_mono_ms();
    if (now < db->next_try_ms) return -1;
    if (db->conn) {
        PQfinish(db->conn);
        db->conn = NULL;
    }
    db->conn = connect_once(db->conninfo);
    if (!db->conn) {
        db->next_try_ms = now + db->backoff_ms;
        db->backoff_ms = db->backoff_ms * 2 > 2000 ? 2000 : db->backoff_ms * 2;
        return -1;
    }
    db->backoff_ms = 100;
    LOG_INFO("db_reconnected", "");
    return 0;
}

PGresult *db_exec(struct db *db, const char *sql, int nparams, const char *const *params) {
    if (db_ensure(db) != 0) return NULL;
    PGresult *r = PQexecParams(db->conn, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return r;
    char msg[256];
    snprintf(msg, sizeof(msg), "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(db->conn));
    for (char *p = msg; *p; p++)
        if (*p == '"' || *p == '\n') *p = ' ';
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    LOG_WARN("db_error", "sqlstate=%s error=\"%s\"", state ? state : "-", msg);
    PQclear(r);
    return NULL;
}

int db_cmd(struct db *db, const char *sql, int nparams, const char *const *params) {
    PGresult *r = db_exec(db, sql, nparams, params);
    if (!r) return -1;
    PQclear(r);
    return 0;
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf) buf[n] = '\0';
    fclose(f);
    return buf;
}

int db_migrate(struct db *db, const char *dir) {
    int rc = -1, count = 0;
    char **names = NULL;
    DIR *d = opendir(dir);
    if (!d) {
        LOG_ERROR("migrate_failed", "var=QW_MIGRATIONS_DIR dir=%s reason=\"cannot open\"", dir);
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".sql") != 0) continue;
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        char **grown = realloc(names, sizeof(*names) * (size_t)(count + 1));
        if (!grown) goto cleanup;
        names = grown;
        names[count++] = strdup(e->d_name);
    }
    qsort(names, (size_t)count, sizeof(*names), cmp_names);

    if (db_cmd(db, "SELECT pg_advisory_lock(7157001)", 0, NULL) != 0) goto cleanup;
    if (db_cmd(db,
               "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY,"
               " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
               0, NULL) != 0)
        goto unlock;
    for (int i = 0; i < count; i++) {
        char version[16];
        snprintf(version, sizeof(version), "%d", atoi(names[i]));
        const char *p[2] = {version, names[i]};
        PGresult *r = db_exec(db, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, p);
        if (!r) goto unlock;
        int done = PQntuples(r) > 0;
        PQclear(r);
        if (done) continue;
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        char *sql = read_file(path);
        if (!sql) {
            LOG_ERROR("migrate_failed", "file=%s reason=\"cannot read\"", path);
            goto unlock;
        }
        int ok = db_cmd(db, "BEGIN", 0, NULL) == 0;
        if (ok) {
            /* A migration file is ours, not a client's: PQexec runs its
             * several statements. */
            PGresult *m = PQexec(db->conn, sql);
            ok = PQresultStatus(m) == PGRES_COMMAND_OK || PQresultStatus(m) == PGRES_TUPLES_OK;
            if (!ok)
                LOG_ERROR("migrate_failed", "file=%s error=\"%s\"", names[i],
                          PQresultErrorMessage(m));
            PQclear(m);
        }
        free(sql);
        if (ok)
            ok = db_cmd(db, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2,
                        p) == 0;
        if (ok) ok = db_cmd(db, "COMMIT", 0, NULL) == 0;
        if (!ok) {
            db_cmd(db, "ROLLBACK", 0, NULL);
            goto unlock;
        }
        LOG_INFO("migration_applied", "version=%s file=%s", version, names[i]);
    }
    rc = 0;
unlock:
    db_cmd(db, "SELECT pg_advisory_unlock(7157001)", 0, NULL);
cleanup:
    closedir(d);
    for (int i = 0; i < count; i++)
        free(names[i]);
    free(names);
    return rc;
}
