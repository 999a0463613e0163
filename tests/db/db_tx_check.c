/*
 * db_tx_check: shared/db's transactions against a real PostgreSQL
 * (QW_DB_URL), run by tests/integration/03_db_tx.test.mjs on the test
 * stack: a commit lands; after an error, a killed backend, a silent
 * reconnect or a stray COMMIT no further statement runs and nothing of the
 * transaction is in the record; a snapshot sees one moment and writes
 * nothing. The prepared-statement cache: a reconnect forgets it (a
 * statement prepared on the old connection runs again on the new one),
 * it is keyed by the SQL text, bounded, survives a table changed under a
 * statement, and plans every execution for its parameters. Works in a
 * table of its own, dropped at the end. Prints one line
 * per case and "N passed, N failed"; exits 1 on any failure.
 */
#include "db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int passed, failed;
static char table[64];
static struct db *other; /* a second connection: sees only what committed */

static void report(const char *name, int ok) {
    printf("%s - %s\n", ok ? "ok" : "not ok", name);
    if (ok)
        passed++;
    else
        failed++;
}

/* Runs `fmt` (with the table name) on `db`; returns 0 or -1. */
static int cmdf(struct db *db, const char *fmt) {
    char sql[256];
    snprintf(sql, sizeof(sql), fmt, table);
    return db_cmd(db, sql, 0, NULL);
}

static int tx_cmdf(struct db_tx *tx, const char *fmt) {
    char sql[256];
    snprintf(sql, sizeof(sql), fmt, table);
    return db_tx_cmd(tx, sql, 0, NULL);
}

/* How many rows with key k the other connection sees (-1 on error). */
static int visible(int k) {
    char sql[128], key[16];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE k = $1::int", table);
    snprintf(key, sizeof(key), "%d", k);
    const char *p[1] = {key};
    PGresult *r = db_exec(other, sql, 1, p);
    int n = r ? atoi(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    return n;
}

/* Ends db's backend from the other connection and waits for it to go. */
static int kill_backend(struct db *db) {
    char pid[16];
    snprintf(pid, sizeof(pid), "%d", PQbackendPID(db->conn));
    const char *p[1] = {pid};
    return db_cmd(other, "SELECT pg_terminate_backend($1::int, 5000)", 1, p);
}

static void commit_lands(struct db *db) {
    struct db_tx tx;
    int ok = db_tx_begin(db, &tx) == 0;
    ok = ok && tx_cmdf(&tx, "INSERT INTO %s VALUES (1)") == 0;
    ok = ok && visible(1) == 0; /* not before COMMIT */
    ok = ok && db_tx_commit(&tx) == 0 && tx.state == DB_TX_DONE;
    report("a commit lands, and only at COMMIT", ok && visible(1) == 1);
}

static void error_fails_the_whole(struct db *db) {
    struct db_tx tx;
    int ok = db_tx_begin(db, &tx) == 0;
    ok = ok && tx_cmdf(&tx, "INSERT INTO %s VALUES (2)") == 0;
    ok = ok && tx_cmdf(&tx, "INSERT INTO %s VALUES (2)") == -1; /* duplicate key */
    ok = ok && tx.state == DB_TX_FAILED;
    ok = ok && tx_cmdf(&tx, "INSERT INTO %s VALUES (3)") == -1;
    ok = ok && db_tx_commit(&tx) == -1 && tx.state == DB_TX_DONE;
    ok = ok && PQtransactionStatus(db->conn) == PQTRANS_IDLE;
    report("after an error no statement runs and commit fails",
           ok && visible(2) == 0 && visible(3) == 0);
}

static void killed_between_statements(struct db *db) {
    struct db_tx tx;
    int ok = db_tx_begin(db, &tx) == 0;
    ok = ok && tx_cmdf(&tx, "INSERT INTO %s VALUES (4)") == 0;
    ok = ok && kill_backend(db) == 0;
    ok = ok && tx_cmdf(&tx, "INSERT INTO %s VALUES (5)") == -1;
    ok = ok && db_tx_commit(&tx) == -1;
    report("a backend killed between two statements fails the transaction",
           ok && visible(4) == 0 && visible(5) == 0);
    db_ensure(db);
}

/* The bug of a reconnecting db_exec: someone (a helper) reconnects the
 * handle in the middle; the rest of the transaction must not run on the
 * new connection in autocommit. */
static void reconnect_never_continues(struct db *db) {
    struct db_tx tx;
    int ok = db_tx_begin(db, &tx) == 0;
    ok = ok && tx_cmdf(&tx, "INSERT INTO %s VALUES (6)") == 0;
    ok = ok && kill_backend(db) == 0;
    /* the helper: its first statement finds the connection dead, its next
     * reconnects (db_ensure tries at once after a success) */
    db_cmd(db, "SELECT 1", 0, NULL);
    for (int i = 0; i < 50 && db_cmd(db, "SELECT 1", 0, NULL) != 0; i++)
        usleep(100 * 1000);
    ok = ok && db->conn_gen != tx.conn_gen;
    ok = ok && tx_cmdf(&tx, "INSERT INTO %s VALUES (7)") == -1;
    ok = ok && db_tx_commit(&tx) == -1;
    report("a reconnect in the middle never continues the transaction on the new connection",
           ok && visible(6) == 0 && visible(7) == 0);
}

static void stray_commit_is_seen(struct db *db) {
    struct db_tx tx;
    int ok = db_tx_begin(db, &tx) == 0;
    ok = ok && tx_cmdf(&tx, "INSERT INTO %s VALUES (8)") == 0;
    ok = ok && db_cmd(db, "COMMIT", 0, NULL) == 0; /* a helper ends it behind our back */
    ok = ok && tx_cmdf(&tx, "INSERT INTO %s VALUES (9)") == -1;
    ok = ok && db_tx_commit(&tx) == -1;
    report("a transaction ended behind its back runs nothing more", ok && visible(9) == 0);
}

static void aborted_commit_fails(struct db *db) {
    struct db_tx tx;
    int ok = db_tx_begin(db, &tx) == 0;
    ok = ok && tx_cmdf(&tx, "INSERT INTO %s VALUES (10)") == 0;
    ok = ok && cmdf(db, "INSERT INTO %s VALUES (10)") == -1; /* aborts it, outside tx */
    ok = ok && db_tx_commit(&tx) == -1;
    report("COMMIT of an aborted transaction is a failure", ok && visible(10) == 0);
}

static void snapshot_sees_one_moment(struct db *db) {
    struct db_tx tx;
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
    int ok = db_tx_begin_snapshot(db, &tx) == 0;
    PGresult *a = ok ? db_tx_exec(&tx, sql, 0, NULL) : NULL;
    ok = ok && a && cmdf(other, "INSERT INTO %s VALUES (11)") == 0;
    PGresult *b = ok ? db_tx_exec(&tx, sql, 0, NULL) : NULL;
    ok = ok && b && strcmp(PQgetvalue(a, 0, 0), PQgetvalue(b, 0, 0)) == 0;
    ok = ok && db_tx_commit(&tx) == 0;
    PQclear(a);
    PQclear(b);
    report("a snapshot's reads see one moment", ok && visible(11) == 1);
    ok = db_tx_begin_snapshot(db, &tx) == 0;
    ok = ok && tx_cmdf(&tx, "INSERT INTO %s VALUES (12)") == -1;
    ok = ok && db_tx_commit(&tx) == -1;
    report("a snapshot writes nothing", ok && visible(12) == 0);
}

/* One statement run through db_exec; returns its first value as a
 * number, or -1 on failure. */
static long long value(struct db *db, const char *sql, const char *param) {
    const char *p[1] = {param};
    PGresult *r = db_exec(db, sql, param ? 1 : 0, param ? p : NULL);
    long long v = r && PQntuples(r) == 1 ? atoll(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    return v;
}

/* A new server has none of the old connection's statements: a cache that
 * outlived the reconnect would send "qw1" to a backend that never saw it
 * (26000 prepared statement does not exist). */
static void cache_forgotten_at_reconnect(struct db *db) {
    const char *sql = "SELECT $1::int + 40";
    int ok = value(db, sql, "2") == 42 && value(db, sql, "3") == 43;
    unsigned long before = db->prepared;
    unsigned long gen = db->conn_gen;
    ok = ok && kill_backend(db) == 0;
    long long v = -1;
    for (int i = 0; i < 50 && v != 44; i++) { /* the first may find the dead socket */
        v = value(db, sql, "4");
        if (v != 44) usleep(100 * 1000);
    }
    ok = ok && v == 44 && db->conn_gen != gen;
    report("a statement prepared before a reconnect runs on the new connection, prepared again",
           ok && db->prepared == before + 1);
    struct db_tx tx;
    ok = db_tx_begin(db, &tx) == 0 && tx_cmdf(&tx, "INSERT INTO %s VALUES (13)") == 0;
    ok = ok && db_tx_commit(&tx) == 0;
    report("a transaction after the reconnect commits", ok && visible(13) == 1);
}

static void cache_keyed_by_text(struct db *db) {
    char a[64], b[64];
    snprintf(a, sizeof(a), "SELECT $1::int * %d", 2);
    snprintf(b, sizeof(b), "SELECT $1::int * %d", 2); /* same text, another buffer */
    unsigned long before = db->prepared;
    int ok = value(db, a, "5") == 10 && value(db, b, "6") == 12;
    report("the cache is keyed by the SQL text, not its address", ok && db->prepared == before + 1);
}

static void cache_bounded(struct db *db) {
    int ok = 1;
    for (int i = 0; ok && i < DB_STMT_MAX + 3; i++) {
        char sql[64], want[16];
        snprintf(sql, sizeof(sql), "SELECT %d + $1::int", i);
        snprintf(want, sizeof(want), "%d", i + 1);
        ok = value(db, sql, "1") == i + 1;
    }
    report("past DB_STMT_MAX texts statements run unnamed", ok && db->nstmts == DB_STMT_MAX);
}

/* A migration (another connection) changes a table under a prepared
 * SELECT *: outside a transaction the statement is prepared anew. */
static void table_changed_under_statement(struct db *db) {
    struct db *fresh = db_open(db->conninfo); /* a cache with room */
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT * FROM %s WHERE k = $1::int", table);
    int ok = fresh && value(fresh, sql, "1") == 1;
    ok = ok && cmdf(other, "ALTER TABLE %s ADD COLUMN extra int") == 0;
    PGresult *r = ok ? db_exec(fresh, sql, 1, (const char *const[]){"1"}) : NULL;
    ok = ok && r && PQnfields(r) == 2;
    PQclear(r);
    report("a table changed under a prepared statement: it runs again, prepared anew", ok);
    PGresult *m = fresh ? db_exec(fresh, "SHOW plan_cache_mode", 0, NULL) : NULL;
    report("every execution is planned for its own parameters",
           m && strcmp(PQgetvalue(m, 0, 0), "force_custom_plan") == 0);
    PQclear(m);
    db_free(fresh);
}

int main(void) {
    const char *url = getenv("QW_DB_URL");
    struct db *db = url ? db_open(url) : NULL;
    other = url ? db_open(url) : NULL;
    if (!db || !other) {
        printf("db_tx_check: QW_DB_URL is not a reachable database\n0 passed, 1 failed\n");
        return 1;
    }
    snprintf(table, sizeof(table), "qw_tx_check_%d", (int)getpid());
    if (cmdf(other, "CREATE TABLE %s (k int PRIMARY KEY)") != 0) {
        printf("db_tx_check: cannot create the work table\n0 passed, 1 failed\n");
        return 1;
    }
    commit_lands(db);
    error_fails_the_whole(db);
    killed_between_statements(db);
    reconnect_never_continues(db);
    stray_commit_is_seen(db);
    aborted_commit_fails(db);
    snapshot_sees_one_moment(db);
    cache_forgotten_at_reconnect(db);
    cache_keyed_by_text(db);
    table_changed_under_statement(db);
    cache_bounded(db);
    cmdf(other, "DROP TABLE %s");
    printf("%d passed, %d failed\n", passed, failed);
    db_free(db);
    db_free(other);
    return failed ? 1 : 0;
}
