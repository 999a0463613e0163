/*
 * db_test: transactions refuse to go on without a database: a BEGIN that
 * cannot connect leaves a done transaction; a failed or reconnected one
 * runs nothing (it never touches the connection, here NULL); commit fails
 * and rollback is safe on any of them; array literals escape any text; a
 * TCP connection gets keepalives and a tcp_user_timeout unless the URL
 * says otherwise (against a stub server that only says "ready").
 * Behaviour against a real PostgreSQL
 * is tests/db/db_tx_check.c, run by the integration tests.
 */
#include "check.h"
#include "db.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void begin_without_database(void) {
    char info[] = "host=/nonexistent/qw-db-test dbname=none connect_timeout=1";
    struct db db = {.conninfo = info, .backoff_ms = 100, .conn_gen = 1};
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
    struct db db = {.backoff_ms = 100, .conn_gen = 2};
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

/* The stub server (a child process): for each of `n` connections reads
 * the startup packet, answers AuthenticationOk and ReadyForQuery, and
 * waits for the client to hang up. */
static void stub_serve(int ls, int n) {
    for (int i = 0; i < n; i++) {
        int c = accept(ls, NULL, NULL);
        if (c < 0) _exit(1);
        unsigned char len[4], buf[512];
        if (read(c, len, 4) != 4) _exit(1);
        size_t left =
            ((size_t)len[0] << 24 | (size_t)len[1] << 16 | (size_t)len[2] << 8 | len[3]) - 4;
        while (left > 0) {
            ssize_t got = read(c, buf, left < sizeof(buf) ? left : sizeof(buf));
            if (got <= 0) _exit(1);
            left -= (size_t)got;
        }
        static const unsigned char ready[] = {'R', 0, 0, 0, 8, 0, 0, 0, 0, 'Z', 0, 0, 0, 5, 'I'};
        if (write(c, ready, sizeof(ready)) != (ssize_t)sizeof(ready)) _exit(1);
        while (read(c, buf, sizeof(buf)) > 0) {
        }
        close(c);
    }
    _exit(0);
}

/* Reads the socket options of db's connection that bound a silent peer. */
static void tcp_options(struct db *db, int *keepalive, int *idle, unsigned *user_timeout) {
    int fd = PQsocket(db->conn);
    socklen_t l = sizeof(int);
    *keepalive = *idle = -1;
    *user_timeout = 0;
    getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, keepalive, &l);
    l = sizeof(int);
    getsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, idle, &l);
    l = sizeof(unsigned);
    getsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, user_timeout, &l);
}

/* A connection to a machine cut off the network must fail within seconds,
 * not the kernel's hours: keepalives after 5 s idle and a 10 s
 * tcp_user_timeout by default; the URL's own values win. */
static void keepalives_by_default(void) {
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    CHECK(ls >= 0 && bind(ls, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(ls, 2) == 0 &&
          getsockname(ls, (struct sockaddr *)&a, &al) == 0);
    pid_t pid = fork();
    if (pid == 0) stub_serve(ls, 2);
    close(ls);
    char info[200];
    snprintf(info, sizeof(info),
             "host=127.0.0.1 port=%d dbname=x user=x sslmode=disable gssencmode=disable",
             ntohs(a.sin_port));
    struct db *db = db_open(info);
    CHECK(db != NULL);
    int keepalive, idle;
    unsigned user_timeout;
    if (db) {
        tcp_options(db, &keepalive, &idle, &user_timeout);
        CHECK(keepalive == 1 && idle == 5 && user_timeout == 10000);
        db_free(db);
    }
    strncat(info, " keepalives_idle=2 tcp_user_timeout=4000", sizeof(info) - strlen(info) - 1);
    db = db_open(info);
    CHECK(db != NULL);
    if (db) {
        tcp_options(db, &keepalive, &idle, &user_timeout);
        CHECK(keepalive == 1 && idle == 2 && user_timeout == 4000);
        db_free(db);
    }
    int status = 1;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
          WEXITSTATUS(status) == 0);
}

int main(void) {
    array_literals();
    keepalives_by_default();
    begin_without_database();
    reconnected_runs_nothing();
    return check_result("db_test");
}
