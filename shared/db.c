/*
 * db: libpq wrappers (see db.h), transactions as values (db_tx_*) and the
 * migration runner. A transaction remembers the connection generation its
 * BEGIN ran on and refuses every statement once that changed or anything
 * failed: a silent reconnect never splits a transaction in two.
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

/* A TCP connection whose server went silent (its machine cut off the
 * network, powered off) fails within about 15 s instead of the kernel's
 * minutes or hours: keepalive probes after 5 s idle, and unacknowledged
 * data or probes given up on after 10 s. A statement waiting on it then
 * returns an error (the caller retries on a new connection: the failover's
 * primary) instead of hanging the thread. QW_DB_URL's fields override
 * these; libpq ignores them for a Unix socket. */
#define KEEPALIVES_IDLE_S "5"
#define KEEPALIVES_INTERVAL_S "2"
#define KEEPALIVES_COUNT "3"
#define TCP_USER_TIMEOUT_MS "10000"

/* Custom plans for every execution (PostgreSQL 12 and later). */
#define PLAN_OPTIONS "-c plan_cache_mode=force_custom_plan"

static PGconn *connect_once(const char *conninfo) {
    /* expand_dbname: QW_DB_URL's own fields come after, so they win.
     * `options` sets plan_cache_mode in the start-up packet (no round trip
     * of its own): every execution of a prepared statement is planned for
     * its own parameters (see the cache above run()); a URL with its own
     * `options` replaces it. */
    const char *const keys[] = {"connect_timeout",
                                "keepalives",
                                "keepalives_idle",
                                "keepalives_interval",
                                "keepalives_count",
                                "tcp_user_timeout",
                                "options",
                                "dbname",
                                NULL};
    const char *const vals[] = {CONNECT_TIMEOUT_S,
                                "1",
                                KEEPALIVES_IDLE_S,
                                KEEPALIVES_INTERVAL_S,
                                KEEPALIVES_COUNT,
                                TCP_USER_TIMEOUT_MS,
                                PLAN_OPTIONS,
                                conninfo,
                                NULL};
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
    db->conn_gen = 1;
    db->conninfo = strdup(conninfo);
    db->backoff_ms = 100;
    return db;
}

static void stmts_forget(struct db *db);

void db_free(struct db *db) {
    if (!db) return;
    stmts_forget(db);
    if (db->conn) PQfinish(db->conn);
    free(db->conninfo);
    free(db);
}

int db_broken(struct db *db) {
    return !db->conn || PQstatus(db->conn) != CONNECTION_OK;
}

int db_ensure(struct db *db) {
    /* A connection the server closed while it sat idle (a terminated
     * backend, a restart, a failover) has its FATAL message and EOF waiting
     * on the socket: read them now (libpq's socket is non-blocking, so this
     * never waits) and connect anew, rather than fail the next statement.
     * Nothing was sent on it, so nothing can be done twice. */
    if (db->conn && PQstatus(db->conn) == CONNECTION_OK &&
        (!PQconsumeInput(db->conn) || !PQconsumeInput(db->conn) ||
         PQstatus(db->conn) != CONNECTION_OK)) {
        PQfinish(db->conn);
        db->conn = NULL;
    }
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
    db->conn_gen++;
    LOG_INFO("db_reconnected", "");
    return 0;
}

/* True for the SQLSTATEs that say this server can no longer do our work
 * although the socket may still be open: a connection exception (class
 * 08), the server shutting down or not yet up (57P01..57P03), and a write
 * refused because the server is read-only (25006: a primary demoted by a
 * failover manager, or a standby). The connection is then dropped, so the
 * next db_ensure() connects anew, to whichever host is the primary now
 * (a multi-host QW_DB_URL with target_session_attrs=read-write). */
static int server_gone(const char *state) {
    if (!state) return 0;
    return strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
           strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0 ||
           strcmp(state, "25006") == 0;
}

/* ---- the prepared-statement cache --------------------------------------
 *
 * Every statement is prepared once per connection (PQprepare) and then
 * only executed (PQexecPrepared): PostgreSQL parses and analyses it once
 * instead of at every call. The key is the SQL text, not the pointer, so
 * SQL built at run time (a table name, a list) shares its entry with equal
 * text. The cache is bounded (DB_STMT_MAX): past it, a new text runs
 * unnamed, as before. It belongs to one connection: when conn_gen changed
 * (a reconnect, a failover to another server) the entries are forgotten,
 * since the new server has none of them.
 *
 * Plans: a prepared statement may switch to a generic plan (one plan for
 * any parameters) after five executions when PostgreSQL estimates it no
 * costlier. A skewed parameter (one session of 10,000 students among many
 * of 30) can make that plan a bad one: a nested loop like the one that
 * once stalled the session end (docs/BENCHMARKS.md). Every connection is
 * therefore set to plan_cache_mode = force_custom_plan: each execution is
 * still planned for its own parameters, exactly as an unnamed statement
 * was, and what the cache saves is the parse and analysis. Most of the
 * hot statements are primary-key look-ups whose planning is cheap. */

static void stmts_forget(struct db *db) {
    for (int i = 0; i < db->nstmts; i++)
        free(db->stmts[i].sql);
    db->nstmts = 0;
    db->stmt_seq = 0;
    db->stmt_gen = db->conn_gen;
}

static unsigned long sql_hash(const char *sql) {
    unsigned long h = 1469598103934665603UL; /* FNV-1a */
    for (const unsigned char *c = (const unsigned char *)sql; *c; c++)
        h = (h ^ *c) * 1099511628211UL;
    return h;
}

static void stmt_drop(struct db *db, struct db_stmt *st) {
    free(st->sql);
    *st = db->stmts[--db->nstmts];
}

/* Logs a failed result and drops a connection whose server is gone;
 * returns the SQLSTATE's copy in `state` (empty when none). */
static void note_error(struct db *db, PGresult *r, char state[6]) {
    char msg[256];
    snprintf(msg, sizeof(msg), "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(db->conn));
    for (char *p = msg; *p; p++)
        if (*p == '"' || *p == '\n') *p = ' ';
    const char *s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    snprintf(state, 6, "%s", s ? s : "");
    LOG_WARN("db_error", "sqlstate=%s error=\"%s\"", s ? s : "-", msg);
    if (server_gone(s)) { /* db_broken() is true from here on */
        PQfinish(db->conn);
        db->conn = NULL;
    }
}

static int result_ok(PGresult *r) {
    ExecStatusType st = PQresultStatus(r);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

/* The cache entry for `sql` on the current connection, prepared now when
 * new; NULL when the cache is full (run it unnamed). On a failed prepare
 * sets *failed (the error is logged, the connection dropped if gone). */
static struct db_stmt *stmt_for(struct db *db, const char *sql, int nparams, int *failed) {
    if (db->stmt_gen != db->conn_gen) stmts_forget(db);
    unsigned long h = sql_hash(sql);
    for (int i = 0; i < db->nstmts; i++)
        if (db->stmts[i].hash == h && strcmp(db->stmts[i].sql, sql) == 0) return &db->stmts[i];
    if (db->nstmts == DB_STMT_MAX) return NULL;
    struct db_stmt *st = &db->stmts[db->nstmts];
    if (!(st->sql = strdup(sql))) return NULL;
    st->hash = h;
    snprintf(st->name, sizeof(st->name), "qw%lu", ++db->stmt_seq);
    PGresult *r = PQprepare(db->conn, st->name, sql, nparams, NULL);
    if (!result_ok(r)) {
        char state[6];
        note_error(db, r, state);
        PQclear(r);
        free(st->sql);
        *failed = 1;
        return NULL;
    }
    PQclear(r);
    db->nstmts++;
    db->prepared++;
    return st;
}

/* Runs `sql` on the current connection as it is (no reconnect). Returns
 * the result or NULL after logging the error (never the parameters).
 * `again`: whether a statement a migration invalidated may run once more. */
static PGresult *run_once(struct db *db, const char *sql, int nparams, const char *const *params,
                          int again) {
    if (!db->conn) return NULL; /* dropped by an earlier statement (server_gone) */
    int failed = 0;
    struct db_stmt *st = stmt_for(db, sql, nparams, &failed);
    if (failed) return NULL;
    PGresult *r = st ? PQexecPrepared(db->conn, st->name, nparams, params, NULL, NULL, 0)
                     : PQexecParams(db->conn, sql, nparams, NULL, params, NULL, NULL, 0);
    if (result_ok(r)) return r;
    char state[6];
    note_error(db, r, state);
    PQclear(r);
    /* "cached plan must not change result type": a migration changed a
     * table under the statement. Forget it (its name is never reused) and,
     * outside a transaction, run it once more, prepared anew: as an
     * unnamed statement would have run. Inside one, the transaction has
     * failed, as after any error. */
    if (st && db->conn && strcmp(state, "0A000") == 0) {
        stmt_drop(db, st);
        if (again && PQtransactionStatus(db->conn) == PQTRANS_IDLE)
            return run_once(db, sql, nparams, params, 0);
    }
    return NULL;
}

static PGresult *run(struct db *db, const char *sql, int nparams, const char *const *params) {
    return run_once(db, sql, nparams, params, 1);
}

PGresult *db_exec(struct db *db, const char *sql, int nparams, const char *const *params) {
    if (db_ensure(db) != 0) return NULL;
    return run(db, sql, nparams, params);
}

int db_cmd(struct db *db, const char *sql, int nparams, const char *const *params) {
    PGresult *r = db_exec(db, sql, nparams, params);
    if (!r) return -1;
    PQclear(r);
    return 0;
}

/* ---- transactions ------------------------------------------------------ */

static int tx_begin(struct db *db, struct db_tx *tx, const char *sql) {
    tx->db = db;
    tx->state = DB_TX_DONE;
    tx->conn_gen = 0;
    if (db_ensure(db) != 0) return -1;
    if (PQtransactionStatus(db->conn) != PQTRANS_IDLE) { /* a caller left one open: a bug */
        LOG_WARN("db_tx_leftover", "reason=\"a transaction was left open; rolled back\"");
        PQclear(run(db, "ROLLBACK", 0, NULL));
    }
    tx->conn_gen = db->conn_gen;
    PGresult *r = run(db, sql, 0, NULL);
    if (!r) return -1;
    PQclear(r);
    tx->state = DB_TX_OPEN;
    return 0;
}

int db_tx_begin(struct db *db, struct db_tx *tx) {
    return tx_begin(db, tx, "BEGIN");
}

int db_tx_begin_snapshot(struct db *db, struct db_tx *tx) {
    return tx_begin(db, tx, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
}

/* True while tx may run a statement: open, on the connection BEGIN ran on,
 * which is alive and inside a transaction. Marks it failed otherwise. */
static int tx_usable(struct db_tx *tx) {
    if (tx->state != DB_TX_OPEN) return 0;
    struct db *db = tx->db;
    const char *why = NULL;
    if (db->conn_gen != tx->conn_gen)
        why = "reconnected since BEGIN";
    else if (db_broken(db))
        why = "connection lost";
    else if (PQtransactionStatus(db->conn) != PQTRANS_INTRANS)
        why = "no longer in the transaction";
    if (!why) return 1;
    tx->state = DB_TX_FAILED;
    LOG_WARN("db_tx_failed", "reason=\"%s\"", why);
    return 0;
}

PGresult *db_tx_exec(struct db_tx *tx, const char *sql, int nparams, const char *const *params) {
    if (!tx_usable(tx)) return NULL;
    PGresult *r = run(tx->db, sql, nparams, params);
    if (!r) tx->state = DB_TX_FAILED;
    return r;
}

int db_tx_cmd(struct db_tx *tx, const char *sql, int nparams, const char *const *params) {
    PGresult *r = db_tx_exec(tx, sql, nparams, params);
    if (!r) return -1;
    PQclear(r);
    return 0;
}

int db_tx_commit(struct db_tx *tx) {
    int rc = -1;
    if (tx_usable(tx)) {
        PGresult *r = run(tx->db, "COMMIT", 0, NULL);
        /* an aborted transaction "commits" as ROLLBACK without an error */
        rc = r && strcmp(PQcmdStatus(r), "COMMIT") == 0 ? 0 : -1;
        PQclear(r);
    }
    if (rc == 0)
        tx->state = DB_TX_DONE;
    else
        db_tx_rollback(tx);
    return rc;
}

void db_tx_rollback(struct db_tx *tx) {
    if (!tx || !tx->db || tx->state == DB_TX_DONE) return;
    struct db *db = tx->db;
    tx->state = DB_TX_DONE;
    /* only on BEGIN's own connection: a new one has nothing of ours */
    if (db->conn_gen != tx->conn_gen || db_broken(db)) return;
    if (PQtransactionStatus(db->conn) == PQTRANS_IDLE) return;
    PQclear(run(db, "ROLLBACK", 0, NULL));
}

/* ---- array literals ---------------------------------------------------- */

void db_array_open(struct db_array *a) {
    memset(a, 0, sizeof(*a));
    a->f = open_memstream(&a->buf, &a->len);
    if (!a->f) {
        a->failed = 1;
        return;
    }
    fputc('{', a->f);
}

void db_array_text(struct db_array *a, const char *s) {
    if (!a->f) return;
    if (a->n++) fputc(',', a->f);
    fputc('"', a->f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', a->f);
        fputc(*s, a->f);
    }
    fputc('"', a->f);
}

void db_array_num(struct db_array *a, long long v) {
    if (!a->f) return;
    if (a->n++) fputc(',', a->f);
    fprintf(a->f, "%lld", v);
}

const char *db_array_close(struct db_array *a) {
    if (a->f) {
        fputc('}', a->f);
        if (fclose(a->f) != 0) a->failed = 1;
        a->f = NULL;
    }
    return a->failed || !a->buf ? NULL : a->buf;
}

void db_array_free(struct db_array *a) {
    if (a->f) fclose(a->f);
    a->f = NULL;
    free(a->buf);
    a->buf = NULL;
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
