/* PostgreSQL access: a fixed pool of connections, lazily prepared statements, transactions
 * with retry. A connection is used by one thread at a time; the pool's mutex is held only to
 * take or return a connection, never during a query. */
#ifndef ATTACHD_DB_H
#define ATTACHD_DB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <libpq-fe.h>

enum db_status {
    DB_OK = 0,
    DB_UNAVAILABLE,      /* no primary reachable (gone, read-only), or no connection free in time */
    DB_UNIQUE_VIOLATION, /* 23505 */
    DB_EXCLUSION_VIOLATION, /* 23P01 */
    DB_CHECK_VIOLATION,     /* 23514, 23502 */
    DB_FK_VIOLATION,        /* 23503 */
    DB_RETRY,               /* 40001 serialization failure, 40P01 deadlock: run it again */
    DB_ABORT,               /* a transaction body asks to roll back; not an error */
    DB_ERROR                /* anything else: a bug or bad SQL */
};

/* A statement, prepared on each connection the first time it is used there.
 * Declare as `static struct db_stmt q_x = DB_STMT("SELECT ...");`. */
struct db_stmt {
    const char *sql;
    atomic_int slot; /* 0 until first use; then its index in each connection's prepared map */
    atomic_int kind; /* 1 reads, 2 writes; 0 (DB_STMT): guessed from the text at first use */
};
#define DB_STMT(text)                                                                              \
    {                                                                                              \
        .sql = (text), .slot = 0, .kind = 0                                                        \
    }
/* The same, saying whether the statement writes or locks rows (FOR UPDATE counts as a write;
 * the pool sets the audit actor before a write) instead of leaving the pool to guess from the
 * text: a write hidden in a function call, or "UPDATE" inside a string, fools the guess.
 * Prefer these for new statements. */
#define DB_READ(text)                                                                              \
    {                                                                                              \
        .sql = (text), .slot = 0, .kind = 1                                                        \
    }
#define DB_WRITE(text)                                                                             \
    {                                                                                              \
        .sql = (text), .slot = 0, .kind = 2                                                        \
    }
#define DB_MAX_STMTS   256
#define DB_SERVER_NAME 128 /* "host:port" of a session's server, truncated */

struct db_pool;
struct db_conn;

enum db_status db_pool_new(const char *conninfo, unsigned size, unsigned wait_ms,
                           struct db_pool **out) __attribute__((warn_unused_result));
void db_pool_free(struct db_pool *pool);

/* Takes a connection, (re)connecting it if needed. DB_UNAVAILABLE when the server cannot be
 * reached or no connection frees up within wait_ms. */
enum db_status db_acquire(struct db_pool *pool, struct db_conn **out)
    __attribute__((warn_unused_result));
/* Returns a connection; one left inside a transaction is rolled back first. */
void db_release(struct db_pool *pool, struct db_conn *conn);

/* Runs a prepared statement with text parameters (NULL for SQL NULL). On DB_OK and a non-NULL
 * `out`, *out is the result (PQclear it). On failure *out is NULL and db_error() tells more. */
enum db_status db_query(struct db_conn *conn, struct db_stmt *stmt, int nparams,
                        const char *const *values, PGresult **out)
    __attribute__((warn_unused_result));
/* Statements sent in one flight (libpq pipeline mode): one round trip for all of them. Each
 * runs as db_query would, in order, each with its own snapshot (READ COMMITTED), so a
 * statement after a lock sees what was committed before the lock was granted. On DB_OK each
 * non-NULL `out` holds its result; on failure (the first failing statement's status and
 * db_error) none does, and the statements after the failing one did not run. */
#define DB_FLIGHT_MAX 4
struct db_call {
    struct db_stmt *stmt;
    int nparams;
    const char *const *values;
    PGresult **out;
};
enum db_status db_query_flight(struct db_conn *conn, const struct db_call *calls, int n)
    __attribute__((warn_unused_result));
/* Inside db_transaction: COMMIT goes in one flight with the next statement (the transaction's
 * last). When that statement fails, COMMIT does not run and the transaction rolls back;
 * db_committed() tells whether the commit went through (db_transaction then sends none). */
void db_commit_with_next(struct db_conn *conn);
bool db_committed(const struct db_conn *conn);
/* Runs a literal command with no parameters and no result (BEGIN, COMMIT, SET ...). */
enum db_status db_command(struct db_conn *conn, const char *sql)
    __attribute__((warn_unused_result));

/* Message, SQLSTATE and constraint name of the connection's last failure ("" when none). */
const char *db_error(const struct db_conn *conn);
const char *db_sqlstate(const struct db_conn *conn);
const char *db_constraint(const struct db_conn *conn);

typedef enum db_status (*db_tx_fn)(struct db_conn *conn, void *ctx);
/* Takes a connection and runs fn inside BEGIN ... COMMIT at the given isolation
 * ("READ COMMITTED" or "SERIALIZABLE"); BEGIN is sent with fn's first statement, in one
 * flight. Again from the start (up to 5 times) on a serialization
 * failure or deadlock. fn returning anything but DB_OK rolls back and is returned. */
enum db_status db_transaction(struct db_pool *pool, const char *isolation, db_tx_fn fn, void *ctx)
    __attribute__((warn_unused_result));

/* One statement on a pooled connection: acquire, query, release. */
enum db_status db_run(struct db_pool *pool, struct db_stmt *stmt, int nparams,
                      const char *const *values, PGresult **out)
    __attribute__((warn_unused_result));

/* Who the calling thread acts for, "role<TAB>token id<TAB>name" (NULL or "": nobody); written
 * to the session setting attachd.actor before a write, for the audit triggers. */
void db_set_actor(const char *actor);

/* The schema version (latest migration) as the primary sees it. DB_UNAVAILABLE when no
 * connection can be had, or when the server reached is read-only (a standby: its pooled
 * sessions are dropped so the next connect looks for the primary again). */
enum db_status db_primary_schema(struct db_pool *pool, char *schema, size_t size)
    __attribute__((warn_unused_result));

/* The meaning of a SQLSTATE (NULL or "": no answer from the server at all). *server_lost is
 * set when the server is gone for us (08xxx, 57Pxx, 25006 read-only after a failover): the
 * pool then drops every session it holds on that server. */
enum db_status db_status_of_sqlstate(const char *sqlstate, bool *server_lost);

/* True when a connection can be had and answers. */
bool db_ping(struct db_pool *pool);

#endif
