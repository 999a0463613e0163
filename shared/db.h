/*
 * db: the PostgreSQL side of every daemon (libpq).
 *
 * One connection per thread: a `struct db` is never shared between threads.
 * Every query is parameterised (a prepared statement, or PQexecParams once
 * the per-connection cache is full); nothing a client sends is ever pasted
 * into SQL text. A broken connection is re-established with
 * backoff by db_ensure(); the caller decides whether its work may be retried.
 * Work that must be atomic runs in a `struct db_tx` (below): it stays on the
 * connection its BEGIN ran on and fails as a whole after any error or
 * reconnect, so no statement of it can land outside it.
 */
#ifndef QW_DB_H
#define QW_DB_H

#include <libpq-fe.h>
#include <stdio.h>

/* One statement prepared on the current connection: its SQL text (the
 * cache's key, so SQL built at run time is cached by what it says) and the
 * server-side name it was prepared under. */
struct db_stmt {
    char *sql;          /* owned copy */
    unsigned long hash; /* of sql, to skip most strcmp()s */
    char name[24];      /* "qw<n>", never reused on one connection */
};

/* At most this many statements are prepared per connection; past it a new
 * text runs unnamed (parsed and planned each time), as every statement
 * did before the cache. */
#define DB_STMT_MAX 128

struct db {
    PGconn *conn;           /* NULL until connected */
    char *conninfo;         /* owned copy of the connection string */
    long long next_try_ms;  /* monotonic ms before which no reconnect is tried */
    int backoff_ms;         /* current reconnect backoff */
    unsigned long conn_gen; /* bumped at every (re)connect: which connection this is */
    /* The prepared-statement cache (db.c): valid only for the connection
     * of generation stmt_gen; a new connection has none of them. */
    struct db_stmt stmts[DB_STMT_MAX];
    int nstmts;             /* used entries of stmts */
    unsigned long stmt_gen; /* conn_gen the entries were prepared on */
    unsigned long stmt_seq; /* last name number handed out on this connection */
    unsigned long prepared; /* statements prepared since db_open (tests, logs) */
};

/* Connects once. Returns a new handle (free with db_free) or NULL after
 * logging `event=db_connect_failed var=QW_DB_URL`. */
struct db *db_open(const char *conninfo);

/* Closes and frees. Accepts NULL. */
void db_free(struct db *db);

/* Returns 0 when the connection is usable, reconnecting (with backoff) if
 * it broke; -1 while Postgres is unreachable. Never blocks long. */
int db_ensure(struct db *db);

/* True when the last failure looked like a lost connection. */
int db_broken(struct db *db);

/* Runs `sql` with text parameters (NULL entries are SQL NULL). Returns the
 * result (caller PQclear()s it) or NULL on any failure, after logging the
 * error (never the parameters). `ok` is PGRES_COMMAND_OK or PGRES_TUPLES_OK. */
PGresult *db_exec(struct db *db, const char *sql, int nparams, const char *const *params);

/* db_exec for commands whose result is not needed. Returns 0 or -1. */
int db_cmd(struct db *db, const char *sql, int nparams, const char *const *params);

/* ---- transactions as values ----------------------------------------- */

enum db_tx_state {
    DB_TX_DONE,  /* committed, rolled back, or never begun (a zeroed db_tx) */
    DB_TX_OPEN,  /* BEGIN ran; statements may follow */
    DB_TX_FAILED /* a statement failed or the connection changed: only rollback is left */
};

/* One transaction on one connection. A value the caller keeps (on its
 * stack; `struct db_tx tx = {0}` is a done one, safe to roll back); it
 * borrows `db`, which must not run anything else until the transaction is
 * done. */
struct db_tx {
    struct db *db;          /* borrowed */
    unsigned long conn_gen; /* the connection BEGIN ran on */
    enum db_tx_state state;
};

/* Begins a read-write transaction (BEGIN), reconnecting first if the
 * connection broke: nothing is in flight yet, so that is safe. Returns 0,
 * or -1 with tx done (rollback and commit are then no-ops / -1). */
int db_tx_begin(struct db *db, struct db_tx *tx);

/* Begins a read-only snapshot: BEGIN ISOLATION LEVEL REPEATABLE READ READ
 * ONLY, so every statement sees the database as of its first one. */
int db_tx_begin_snapshot(struct db *db, struct db_tx *tx);

/* Runs one statement of the transaction, as db_exec, but never reconnects:
 * when an earlier statement failed, the connection broke or was replaced
 * (a reconnect by anyone since BEGIN), or the session is no longer inside
 * a transaction, it runs nothing, marks the transaction failed and returns
 * NULL. A statement error also marks it failed. Caller PQclear()s. */
PGresult *db_tx_exec(struct db_tx *tx, const char *sql, int nparams, const char *const *params);

/* db_tx_exec for statements whose result is not needed. Returns 0 or -1. */
int db_tx_cmd(struct db_tx *tx, const char *sql, int nparams, const char *const *params);

/* Commits. Returns 0 only when every statement succeeded and the server
 * answered COMMIT (not the ROLLBACK it answers for an aborted transaction);
 * otherwise rolls back and returns -1. The transaction is done either way.
 * After -1 over a broken connection the outcome is unknown: callers must
 * not promise anything (no ack), as when nothing was recorded. */
int db_tx_commit(struct db_tx *tx);

/* Rolls back unless done (on the transaction's own connection only; a
 * replaced connection has nothing to roll back). Accepts a done one. */
void db_tx_rollback(struct db_tx *tx);

/* ---- array literals ---------------------------------------------------- */

/* A Postgres array literal ({"a","b"} or {1,2}) built element by element,
 * so one parameter carries a whole column (unnest). Every text element is
 * quoted with '"' and '\' escaped: any text is safe in it. A value on the
 * caller's stack; its text is owned by it until db_array_free. */
struct db_array {
    FILE *f;    /* open while elements are added */
    char *buf;  /* owned: the literal */
    size_t len; /* of buf */
    int n;      /* elements added */
    int failed; /* out of memory: db_array_close returns NULL */
};

void db_array_open(struct db_array *a);
void db_array_text(struct db_array *a, const char *s);
void db_array_num(struct db_array *a, long long v);
/* Finishes the literal; returns it (owned by `a`), or NULL when it failed. */
const char *db_array_close(struct db_array *a);
/* Frees the text. Accepts an array that was never opened if zeroed. */
void db_array_free(struct db_array *a);

/* Applies every not-yet-applied NNN_*.sql file of `dir` in order, each in
 * its own transaction, under an advisory lock. Returns 0 or -1. */
int db_migrate(struct db *db, const char *dir);

/* Text of a field, or NULL when SQL NULL. */
static inline const char *db_val(PGresult *r, int row, int col) {
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

#endif
