/*
 * db: the PostgreSQL side of every daemon (libpq).
 *
 * One connection per thread: a `struct db` is never shared between threads.
 * Every query is parameterised (PQexecParams); nothing a client sends is
 * ever pasted into SQL text. A broken connection is re-established with
 * backoff by db_ensure(); the caller decides whether its work may be retried.
 */
#ifndef QW_DB_H
#define QW_DB_H

#include <libpq-fe.h>

struct db {
    PGconn *conn;          /* NULL until connected */
    char *conninfo;        /* owned copy of the connection string */
    long long next_try_ms; /* monotonic ms before which no reconnect is tried */
    int backoff_ms;        /* current reconnect backoff */
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

/* Applies every not-yet-applied NNN_*.sql file of `dir` in order, each in
 * its own transaction, under an advisory lock. Returns 0 or -1. */
int db_migrate(struct db *db, const char *dir);

/* Text of a field, or NULL when SQL NULL. */
static inline const char *db_val(PGresult *r, int row, int col) {
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

#endif
