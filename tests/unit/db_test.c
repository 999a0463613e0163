/*
 * db_test: transactions refuse to go on without a database: a BEGIN that
 * cannot connect leaves a done transaction; a failed or reconnected one
 * runs nothing (it never touches the connection, here NULL); commit fails
 * and rollback is safe on any of them; array literals escape any text.
 * Behaviour against a real PostgreSQL
 * is tests/db/db_tx_check.c, run by the integration tests.
 */
#include "check.h"
#include "db.h"

#include <stdio.h>
#include <string.h>

static void begin_without_database(void) {
    char info[] = "host=/nonexistent/qw-db-test dbname=none connect_timeout=1";
    struct db db = {NULL, info, 0, 100, 1};
    struct db_tx tx;
    CHECK(db_tx_begin(&db, &tx) == -1);
    CHECK(tx.state == DB_TX_DONE && tx.db == &db);
    CHECK(db_tx_exec(&tx, "SELECT 1", 0, NULL) == NULL);
    CHECK(db_tx_commit(&tx) == -1);
    db_tx_rollback(&tx);
    CHECK(db_tx_begin_snapshot(&db, &tx) == -1 && tx.state == DB_TX_DONE);
    db_tx_rollback(NULL);
}

/* A transaction begun on connection 1 when the handle is on connection 2
 * (someone reconnected it) fails without touching either. */
static void reconnected_runs_nothing(void) {
    struct db db = {NULL, NULL, 0, 100, 2};
    struct db_tx tx = {&db, 1, DB_TX_OPEN};
    CHECK(db_tx_exec(&tx, "INSERT INTO x VALUES (1)", 0, NULL) == NULL);
    CHECK(tx.state == DB_TX_FAILED);
    CHECK(db_tx_cmd(&tx, "SELECT 1", 0, NULL) == -1);
    CHECK(db_tx_commit(&tx) == -1 && tx.state == DB_TX_DONE);
    db_tx_rollback(&tx);
    /* same generation but the connection is gone */
    struct db_tx lost = {&db, 2, DB_TX_OPEN};
    CHECK(db_tx_exec(&lost, "SELECT 1", 0, NULL) == NULL && lost.state == DB_TX_FAILED);
    db_tx_rollback(&lost);
    CHECK(lost.state == DB_TX_DONE);
    /* a failed one never runs again, and never commits */
    struct db_tx failed = {&db, 2, DB_TX_FAILED};
    CHECK(db_tx_cmd(&failed, "SELECT 1", 0, NULL) == -1);
    CHECK(db_tx_commit(&failed) == -1 && failed.state == DB_TX_DONE);
}

/* Array literals carry any text: quotes and backslashes are escaped. */
static void array_literals(void) {
    struct db_array a;
    db_array_open(&a);
    db_array_text(&a, "plain");
    db_array_text(&a, "q\"uote");
    db_array_text(&a, "back\\slash");
    db_array_text(&a, "");
    db_array_text(&a, "{,}");
    const char *lit = db_array_close(&a);
    CHECK(lit && strcmp(lit, "{\"plain\",\"q\\\"uote\",\"back\\\\slash\",\"\",\"{,}\"}") == 0);
    CHECK(a.n == 5);
    db_array_free(&a);
    db_array_open(&a);
    db_array_num(&a, -3);
    db_array_num(&a, 9000000000LL);
    lit = db_array_close(&a);
    CHECK(lit && strcmp(lit, "{-3,9000000000}") == 0);
    db_array_free(&a);
    db_array_open(&a);
    lit = db_array_close(&a);
    CHECK(lit && strcmp(lit, "{}") == 0);
    db_array_free(&a);
    db_array_free(&a); /* twice is safe */
}

int main(void) {
    array_literals();
    begin_without_database();
    reconnected_runs_nothing();
    return check_result("db_test");
}
