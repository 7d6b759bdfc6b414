/* PostgreSQL access: a fixed pool of connections, lazily prepared statements, transactions
 * with retry. A connection is used by one thread at a time; the pool's mutex is held only to
 * take or return a connection, never during a query. */
#ifndef ATTACHD_DB_H
#define ATTACHD_DB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
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
    DB_ERROR,               /* anything else: a bug or bad SQL */
    DB_PENDING              /* a deferred read was sent; its answer comes later (db_defer) */
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

/* As db_transaction in READ COMMITTED (the sessions' default, set when they connect), but
 * without BEGIN and COMMIT statements: the transaction is the implicit one of libpq's pipeline
 * (fn's flights end with a flush instead of a sync, so the server keeps it open between them),
 * and it commits at the sync that ends the flight after db_commit_with_next, or after fn
 * returns DB_OK. Two statements fewer per transaction. fn must write only through flights
 * (db_query, db_query_flight), and should return anything but DB_OK only after a failed
 * statement (which ends the transaction) or before writing: a transaction given up otherwise
 * costs the session, which is ended to roll it back. */
enum db_status db_transaction_implicit(struct db_pool *pool, db_tx_fn fn, void *ctx)
    __attribute__((warn_unused_result));

/* One statement on a pooled connection: acquire, query, release. */
enum db_status db_run(struct db_pool *pool, struct db_stmt *stmt, int nparams,
                      const char *const *values, PGresult **out)
    __attribute__((warn_unused_result));

/* Who the calling thread acts for, "role<TAB>token id<TAB>name" (NULL or "": nobody); written
 * to the session setting attachd.actor before a write, for the audit triggers. */
void db_set_actor(const char *actor);
/* The calling thread's actor as db_set_actor set it ("" for nobody). */
const char *db_actor(void);

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

/* Whether the statement writes or locks rows (DB_WRITE; a DB_STMT's text guessed at). */
bool db_stmt_writes(struct db_stmt *stmt);

/* db_acquire, but without waiting for a connection to free up: DB_UNAVAILABLE at once (and
 * nothing logged) when none is free. */
enum db_status db_acquire_now(struct db_pool *pool, struct db_conn **out)
    __attribute__((warn_unused_result));
/* True when a thread is waiting for a connection to free up. */
bool db_pool_wanted(struct db_pool *pool);

/* Reads sent without waiting (src/db/reactor.c): a session taken for them runs in libpq's
 * pipeline mode, non-blocking, so that several reads of several requests are in flight on it
 * at once; the reads sent together before a sync (db_async_sync) share an implicit transaction
 * (each still with its own snapshot, READ COMMITTED) and come back in one flight.
 * db_async_begin puts a taken session in that mode (DB_UNAVAILABLE: it cannot be),
 * db_async_end takes it out (and drops the session when reads are still in flight) before
 * db_release. */
enum db_status db_async_begin(struct db_conn *conn) __attribute__((warn_unused_result));
void db_async_end(struct db_conn *conn);
int db_async_socket(const struct db_conn *conn);
/* Queues one read (and its PREPARE on first use on the session); *prepared_here says the
 * PREPARE went with it. DB_UNAVAILABLE: the session cannot send any more. */
enum db_status db_async_send(struct db_conn *conn, struct db_stmt *stmt, int nparams,
                             const char *const *values, bool *prepared_here)
    __attribute__((warn_unused_result));
/* Ends the reads queued since the last sync, and sends them. */
enum db_status db_async_sync(struct db_conn *conn) __attribute__((warn_unused_result));
/* Sends what is queued: 0 all sent, 1 some left (wait until the socket is writable), -1 the
 * session failed. */
int db_async_flush(struct db_conn *conn);
/* Reads what arrived: DB_OK, or DB_UNAVAILABLE when the session failed. */
enum db_status db_async_input(struct db_conn *conn) __attribute__((warn_unused_result));
/* The next result when one is ready (true; *out may be NULL, libpq's end of a statement's
 * results), false when it has not arrived yet. */
bool db_async_next(struct db_conn *conn, PGresult **out);
/* What a failed result means, as db_query would say it (and log it); DB_UNAVAILABLE when the
 * session is gone (it is then disconnected). */
enum db_status db_async_failed(struct db_conn *conn, struct db_stmt *stmt, PGresult *res);
/* A PREPARE sent with db_async_send failed: the statement is not prepared on the session. */
void db_async_unprepare(struct db_conn *conn, struct db_stmt *stmt);

/* Deferred reads: a request's one-document reads (db_run_json) answered without its worker
 * thread waiting for them. The HTTP server gives each request a struct db_defer and runs its
 * handler in passes: db_defer_pass(d) before a pass, db_defer_pass(NULL) after. In a pass, a
 * read the request has no answer for yet is recorded and answers DB_PENDING (the handler gives
 * up the pass, and what it answered is dropped); the server then suspends the request and hands
 * the read to its worker's reactor (db_defer_submit), which sends it with the other reads of
 * that worker on one pooled session and calls done(arg) when the answer is in. The next pass
 * runs the handler again from the start, and each read it reaches in the same order answers
 * what was received. So only handlers whose passes may run again are deferred: reads (the
 * server defers GET and HEAD only), and a statement that writes never is. Outside a pass
 * (db_defer_pass(NULL), the command line), reads run as before, waiting on a pooled
 * connection. */
#define DB_DEFER_MAX    4   /* deferred reads per request; past it, they wait */
#define DB_DEFER_PARAMS 8   /* parameters of a deferred read */
#define DB_DEFER_BUF    256 /* bytes of its parameters' text */
struct db_reactor;
struct db_defer;
/* One read recorded in a pass, then in flight on the reactor's session. */
struct db_ask {
    struct db_defer *owner;
    int slot; /* where its answer goes in owner->result */
    struct db_stmt *stmt;
    int nparams;
    const char *values[DB_DEFER_PARAMS];
    char buf[DB_DEFER_BUF];
    bool prepared_here;   /* its session's PREPARE went with it */
    bool alone;           /* sent again after another read of its sync failed: alone */
    int seen;             /* statements of it whose results ended (PREPARE, the read) */
    struct db_ask *queue; /* the reactor's lists */
};
struct db_defer {
    struct db_reactor *reactor;
    void (*done)(void *arg);
    void *arg;
    int next;        /* reads reached in this pass */
    bool waiting;    /* this pass recorded reads: submit them */
    int first;       /* the first of them */
    int nasked;      /* reads recorded so far, in the order the handler reaches them */
    int outstanding; /* of those, not answered yet */
    int ndone;       /* answered: all recorded once none is outstanding */
    PGresult *result[DB_DEFER_MAX];
    enum db_status status[DB_DEFER_MAX];
    uint64_t asked[DB_DEFER_MAX]; /* what each asked (statement and parameters, hashed) */
    struct db_ask ask[DB_DEFER_MAX];
};
void db_defer_init(struct db_defer *d, struct db_reactor *rx, void (*done)(void *arg), void *arg);
/* Forgets the answers received (a request that starts over, or ends). */
void db_defer_clear(struct db_defer *d);
void db_defer_pass(struct db_defer *d);
/* Inside a pass: takes over a read of stmt. False when it is not taken over (outside a pass, a
 * write, too many or too long parameters): run it as usual. True: *st is DB_PENDING (recorded),
 * or the read's status and *out its result (borrowed: valid until db_defer_clear; NULL unless
 * DB_OK). */
bool db_deferred(struct db_stmt *stmt, int nparams, const char *const *values, const PGresult **out,
                 enum db_status *st);
/* The same for a flight of reads (db_query_flight's calls, whose `out` is not used): recorded
 * together and sent in one sync, or answered together, outs[i] borrowed as above. The flight's
 * status is its first failing read's; outs are NULL unless DB_OK. */
bool db_deferred_flight(const struct db_call *calls, int n, const PGresult **outs,
                        enum db_status *st);
/* Hands the reads recorded in the last pass to the reactor, for its next db_reactor_run;
 * done(arg) is called when all their answers are in (at once, with DB_UNAVAILABLE, once the
 * reactor has stopped). */
void db_defer_submit(struct db_defer *d);

/* A reactor belongs to one worker thread's event loop, which waits on db_reactor_fd (readable:
 * answers arrived) among its other descriptors and calls db_reactor_run when it wakes: that
 * reads the answers (calling done for each) and sends what was submitted. It holds one pooled
 * session while it has reads in flight, taken only when one is free at once; without one (the
 * pool busy, or a thread waiting for a connection) it runs the reads as before, waiting. */
enum db_status db_reactor_new(struct db_pool *pool, struct db_reactor **out)
    __attribute__((warn_unused_result));
int db_reactor_fd(const struct db_reactor *rx);
/* Makes rx the calling thread's reactor: before this thread waits for a pooled connection
 * (db_acquire), its reactor answers its flight and gives its session back (db_reactor_yield),
 * so that workers waiting for connections held by their own reactors never wait on each
 * other. */
void db_reactor_bind(struct db_reactor *rx);
void db_reactor_yield(void);
/* True when anything was answered since its last run returned, by it or by a yield meanwhile
 * (the loop has requests to run again). */
bool db_reactor_run(struct db_reactor *rx);
/* Answers what is submitted or in flight with DB_UNAVAILABLE and returns its session; reads
 * submitted later are answered so at once. Call from the reactor's thread. */
void db_reactor_stop(struct db_reactor *rx);
void db_reactor_free(struct db_reactor *rx);

#endif
