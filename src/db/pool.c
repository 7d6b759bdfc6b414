/* Connection pool. Invariant: a connection is either on the free stack or held by exactly one
 * thread; the mutex protects only the stack. Statements are prepared lazily per connection and
 * forgotten when the connection is re-established. */
#include "attachd/db.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "attachd/db_params.h"
#include "attachd/log.h"

struct db_conn {
    struct db_pool *pool;
    PGconn *pg;
    bool prepared[DB_MAX_STMTS];
    double retry_after;          /* monotonic time before which no reconnect is tried */
    unsigned long epoch;         /* pool->epoch when this session was opened */
    char server[DB_SERVER_NAME]; /* "host:port" of the session, for dropping a lost server's */
    char sqlstate[6];
    char constraint[64];
    char message[256];
    char actor[160]; /* attachd.actor as set on this session, when actor_known */
    bool actor_known;
    /* Round trips saved inside db_transaction: its BEGIN waits here and goes in one flight
     * with the transaction's first statement; commit_next sends COMMIT in one flight with the
     * next statement, and committed says it went through (db_transaction then has nothing
     * left to send). */
    char begin[64];
    bool commit_next, committed;
    /* An implicit transaction (db_transaction_implicit): no BEGIN and no COMMIT statement. Its
     * flights end with a flush instead of a sync, so the server keeps the transaction open
     * between them, and the flight that commits ends with the sync, at which PostgreSQL
     * commits. open: a flight of it was sent and its sync was not yet. */
    bool implicit, open;
};

struct db_pool {
    char *conninfo;
    unsigned size, wait_ms;
    struct db_conn *conns;
    struct db_conn **free_stack;
    unsigned nfree;
    /* The last server found gone or read-only (a failover): sessions opened on it before
     * lost_epoch are dropped when next taken, so one failure costs one request, not one per
     * pooled connection. Under lock, with the stack. */
    unsigned long epoch, lost_epoch;
    char lost_server[DB_SERVER_NAME];
    /* A host that let a connect run into its deadline without answering (powered off, or its
     * packets dropped), left out of the connects until slow_until (monotonic). Under lock. */
    char slow_host[DB_SERVER_NAME];
    double slow_until;
    pthread_mutex_t lock;
    pthread_cond_t available;
    atomic_uint waiting; /* threads waiting for a connection to free up (db_pool_wanted) */
};

static atomic_int next_slot = 1;

/* Who the calling thread acts for; the audit triggers read it from attachd.actor. */
static _Thread_local char thread_actor[160];

void db_set_actor(const char *actor)
{
    snprintf(thread_actor, sizeof thread_actor, "%s", actor ? actor : "");
}

const char *db_actor(void)
{
    return thread_actor;
}

/* Statements that write (and so may fire the audit triggers), found once per statement. */
bool db_stmt_writes(struct db_stmt *stmt)
{
    int kind = atomic_load(&stmt->kind);
    if (!kind) {
        kind = strstr(stmt->sql, "INSERT INTO") || strstr(stmt->sql, "UPDATE ") ||
                       strstr(stmt->sql, "DELETE FROM")
                   ? 2
                   : 1;
        atomic_store(&stmt->kind, kind);
    }
    return kind == 2;
}

static double now_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void set_error(struct db_conn *c, const char *state, const char *constraint, const char *msg)
{
    snprintf(c->sqlstate, sizeof c->sqlstate, "%s", state ? state : "");
    snprintf(c->constraint, sizeof c->constraint, "%s", constraint ? constraint : "");
    snprintf(c->message, sizeof c->message, "%s", msg ? msg : "");
    size_t len = strlen(c->message);
    while (len && c->message[len - 1] == '\n')
        c->message[--len] = '\0';
    /* libpq's messages may span lines ("...refused\n\tIs the server running..."); a log line
     * must not. */
    for (char *p = c->message; (p = strpbrk(p, "\n\t")) != NULL; p++)
        *p = ' ';
}

static void disconnect(struct db_conn *c)
{
    if (c->pg)
        PQfinish(c->pg);
    c->pg = NULL;
    c->open = false;
    c->actor_known = false;
    memset(c->prepared, 0, sizeof c->prepared);
}

/* True when the server has closed an idle connection, as it does when it restarts or ends the
 * session (a FATAL notice, then end of file). An idle connection has nothing to read, so a
 * readable socket means it is gone; polling costs no round trip. */
static bool closed_by_server(PGconn *pg)
{
    struct pollfd p = {.fd = PQsocket(pg), .events = POLLIN};
    return p.fd < 0 || poll(&p, 1, 0) != 0;
}

/* What a failure means for the server behind the session: the status a caller acts on, and
 * whether the server is gone for us (connection lost, shut down, crashed, or read-only because
 * it is now a standby after a failover). One table so that every statement maps alike. */
enum db_status db_status_of_sqlstate(const char *sqlstate, bool *server_lost)
{
    static const struct {
        const char *prefix;
        enum db_status status;
        bool lost;
    } table[] = {
        {"08", DB_UNAVAILABLE, true},    /* connection exception */
        {"57P", DB_UNAVAILABLE, true},   /* admin/crash shutdown, cannot connect now */
        {"25006", DB_UNAVAILABLE, true}, /* read_only_sql_transaction: a standby now */
        {"23505", DB_UNIQUE_VIOLATION, false},
        {"23P01", DB_EXCLUSION_VIOLATION, false},
        {"23514", DB_CHECK_VIOLATION, false},
        {"23502", DB_CHECK_VIOLATION, false},
        {"22P02", DB_CHECK_VIOLATION, false},
        {"22008", DB_CHECK_VIOLATION, false},
        {"22003", DB_CHECK_VIOLATION, false},
        {"23503", DB_FK_VIOLATION, false},
        {"40001", DB_RETRY, false},
        {"40P01", DB_RETRY, false},
    };
    *server_lost = false;
    /* No SQLSTATE at all: libpq failed before the server said anything. */
    if (!sqlstate || !*sqlstate) {
        *server_lost = true;
        return DB_UNAVAILABLE;
    }
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strncmp(sqlstate, table[i].prefix, strlen(table[i].prefix)) == 0) {
            *server_lost = table[i].lost;
            return table[i].status;
        }
    return DB_ERROR;
}

/* The server of this session is gone or read-only: forget the session, and have every other
 * pooled session opened on that server before now dropped when it is next taken (they would
 * each fail one request otherwise). The next connect walks DATABASE_URL's hosts again and, with
 * target_session_attrs=read-write, lands on the new primary. */
static void server_lost(struct db_conn *c)
{
    struct db_pool *pool = c->pool;
    bool first = false;
    pthread_mutex_lock(&pool->lock);
    if (c->epoch >= pool->lost_epoch || strcmp(pool->lost_server, c->server) != 0) {
        pool->lost_epoch = ++pool->epoch;
        snprintf(pool->lost_server, sizeof pool->lost_server, "%s", c->server);
        first = true;
    }
    pthread_mutex_unlock(&pool->lock);
    if (first)
        log_warn("database server %s lost (%s %s): dropping its pooled sessions", c->server,
                 c->sqlstate, c->message);
    disconnect(c);
}

/* libpq's connect_timeout is per host and applies only to blocking connects, so a multi-host
 * DATABASE_URL could make a request wait for several timeouts. Polling the non-blocking
 * connect ourselves bounds the whole walk over the hosts by `deadline` (monotonic). libpq
 * still skips refused hosts and, with target_session_attrs=read-write, standbys by itself.
 * NULL only when out of memory; otherwise check PQstatus. *timed_out tells a missed deadline. */
static PGconn *connect_by(const char *const *keys, const char *const *vals, int expand_dbname,
                          double deadline, bool *timed_out)
{
    *timed_out = false;
    PGconn *pg = PQconnectStartParams(keys, vals, expand_dbname);
    if (!pg || PQstatus(pg) == CONNECTION_BAD)
        return pg;
    PostgresPollingStatusType ps = PGRES_POLLING_WRITING;
    while (ps == PGRES_POLLING_READING || ps == PGRES_POLLING_WRITING) {
        int left_ms = (int)((deadline - now_monotonic()) * 1e3);
        if (left_ms <= 0) {
            *timed_out = true;
            return pg; /* still CONNECTION_STARTED or so: not CONNECTION_OK */
        }
        struct pollfd p = {.fd = PQsocket(pg),
                           .events = ps == PGRES_POLLING_READING ? POLLIN : POLLOUT};
        int n = poll(&p, 1, left_ms);
        if (n == 0 || (n < 0 && errno == EINTR))
            continue;
        ps = PQconnectPoll(pg);
    }
    return pg;
}

#define MAX_HOSTS         16
#define SLOW_HOST_SECONDS 30.0

/* Splits a comma list in place into items; the number of items, -1 when more than MAX_HOSTS. */
static int split_list(char *list, char **items)
{
    int n = 0;
    for (char *p = list;;) {
        if (n == MAX_HOSTS)
            return -1;
        items[n++] = p;
        char *comma = strchr(p, ',');
        if (!comma)
            return n;
        *comma = '\0';
        p = comma + 1;
    }
}

/* "host:port" as PQhost/PQport name a server, an empty port being libpq's default. */
static void server_name(char *out, size_t size, const char *host, const char *port)
{
    snprintf(out, size, "%s:%s", host ? host : "", port && *port ? port : "5432");
}

/* Connection options with one host of a multi-host DATABASE_URL left out. */
struct without_host {
    PQconninfoOption *parsed;
    char *lists[3]; /* host, hostaddr, port: as parsed, then split in place */
    char *kept[3];  /* the same lists without the host left out (NULL: unchanged) */
    const char **keys, **vals;
};

static void without_host_free(struct without_host *w)
{
    PQconninfoFree(w->parsed);
    for (int k = 0; k < 3; k++) {
        free(w->lists[k]);
        free(w->kept[k]);
    }
    free(w->keys);
    free(w->vals);
    *w = (struct without_host){0};
}

/* Fills w with keyword/value arrays (for expand_dbname 0): the `ndefaults` defaults, then the
 * options of `conninfo` with the server `skip` ("host:port") taken out of its host, hostaddr
 * and port lists. False (w empty) when there is nothing to take out: one host, `skip` not
 * among them, lists of unequal lengths, or no memory. libpq tries hosts in order and has no way
 * to be told to move on, so this is how a silent host stops holding up the others. */
static bool without_host_new(const char *conninfo, const char *skip, const char *const *dkeys,
                             const char *const *dvals, size_t ndefaults, struct without_host *w)
{
    static const char *const names[3] = {"host", "hostaddr", "port"};
    char *items[3][MAX_HOSTS];
    int n[3] = {0, 0, 0}, nhosts = 0, which = -1;
    size_t nopts = 0;
    *w = (struct without_host){0};
    w->parsed = PQconninfoParse(conninfo, NULL);
    if (!w->parsed)
        goto fail;
    for (PQconninfoOption *o = w->parsed; o->keyword; o++, nopts++)
        for (int k = 0; k < 3; k++)
            if (o->val && strcmp(o->keyword, names[k]) == 0) {
                if (!(w->lists[k] = strdup(o->val)) ||
                    (n[k] = split_list(w->lists[k], items[k])) < 0)
                    goto fail;
            }
    nhosts = n[0] > n[1] ? n[0] : n[1];
    if (nhosts < 2 || (n[0] && n[0] != nhosts) || (n[1] && n[1] != nhosts) ||
        (n[2] > 1 && n[2] != nhosts))
        goto fail;
    for (int j = 0; j < nhosts && which < 0; j++) {
        char name[DB_SERVER_NAME];
        server_name(name, sizeof name,
                    n[0] && *items[0][j] ? items[0][j]
                    : n[1]               ? items[1][j]
                                         : "",
                    n[2] == nhosts ? items[2][j]
                    : n[2] == 1    ? items[2][0]
                                   : NULL);
        if (strcmp(name, skip) == 0)
            which = j;
    }
    if (which < 0)
        goto fail;
    for (int k = 0; k < 3; k++) {
        if (n[k] != nhosts)
            continue; /* absent, or one port for every host */
        if (!(w->kept[k] = calloc(1, strlen(conninfo) + 1)))
            goto fail;
        for (int j = 0; j < nhosts; j++)
            if (j != which) {
                if (*w->kept[k])
                    strcat(w->kept[k], ",");
                strcat(w->kept[k], items[k][j]);
            }
    }
    w->keys = calloc(ndefaults + nopts + 1, sizeof *w->keys);
    w->vals = calloc(ndefaults + nopts + 1, sizeof *w->vals);
    if (!w->keys || !w->vals)
        goto fail;
    size_t i = 0;
    for (; i < ndefaults; i++)
        w->keys[i] = dkeys[i], w->vals[i] = dvals[i];
    for (PQconninfoOption *o = w->parsed; o->keyword; o++) {
        if (!o->val)
            continue;
        w->keys[i] = o->keyword;
        w->vals[i] = o->val;
        for (int k = 0; k < 3; k++)
            if (w->kept[k] && strcmp(o->keyword, names[k]) == 0)
                w->vals[i] = w->kept[k];
        i++;
    }
    return true;
fail:
    without_host_free(w);
    return false;
}

/* Opens the connection if it is not open, or if the server closed it while it sat in the pool
 * (otherwise every pooled connection would cost a request a 503 after a database restart).
 * Failing attempts are spaced by half a second so a dead server costs a request one refused
 * connect at most, not a wait; an attempt never runs past `deadline`. */
static enum db_status ensure_connected(struct db_pool *pool, struct db_conn *c, unsigned long epoch,
                                       double deadline)
{
    if (c->pg && PQstatus(c->pg) == CONNECTION_OK && !closed_by_server(c->pg))
        return DB_OK;
    disconnect(c);
    double now = now_monotonic();
    if (now < c->retry_after) {
        set_error(c, "08006", NULL, "database unreachable (waiting before reconnecting)");
        return DB_UNAVAILABLE;
    }
    /* Our defaults come first so the operator's connection string overrides them. attachd
     * writes, so it wants the primary of a multi-host DATABASE_URL (read-write); it reads times
     * as text in the ISO style (a submission's answer, applications.c). Its statements are planned
     * for data in memory or on SSDs (random_page_cost 1.1, not PostgreSQL's 4.0 for spinning
     * disks): with 4.0 a small catalogue (the demo's 75 polyclinics, three pages) was read whole
     * for every lookup by id, four times in an auto-approval (docs/PERFORMANCE.md, round 14: 4.2 %
     * of a submission's instructions). Keepalives and
     * tcp_user_timeout end a session whose server vanished from the network (no reset ever
     * comes) in about 10 s instead of the kernel's 15 minutes. */
    const char *keys[] = {"connect_timeout",
                          "application_name",
                          "client_encoding",
                          "options",
                          "target_session_attrs",
                          "keepalives_idle",
                          "keepalives_interval",
                          "keepalives_count",
                          "tcp_user_timeout",
                          "dbname",
                          NULL};
    const char *vals[] = {
        "3",
        "attachd",
        "UTF8",
        "-c timezone=Asia/Almaty -c datestyle=iso,mdy -c jit=off"
        " -c default_transaction_isolation=read\\ committed -c random_page_cost=1.1",
        "read-write",
        "5",
        "2",
        "3",
        "10000",
        pool->conninfo,
        NULL};
    size_t ndefaults = sizeof keys / sizeof keys[0] - 2; /* all but dbname and the end */
    char slow[DB_SERVER_NAME] = "";
    pthread_mutex_lock(&pool->lock);
    if (now < pool->slow_until)
        snprintf(slow, sizeof slow, "%s", pool->slow_host);
    pthread_mutex_unlock(&pool->lock);
    struct without_host w;
    bool timed_out;
    if (*slow && without_host_new(pool->conninfo, slow, keys, vals, ndefaults, &w)) {
        c->pg = connect_by(w.keys, w.vals, 0, deadline, &timed_out);
        without_host_free(&w);
    } else {
        c->pg = connect_by(keys, vals, 1, deadline, &timed_out);
    }
    if (timed_out && c->pg) {
        /* The host it was waiting on when time ran out (libpq names the one in progress). */
        pthread_mutex_lock(&pool->lock);
        server_name(pool->slow_host, sizeof pool->slow_host, PQhost(c->pg), PQport(c->pg));
        pool->slow_until = now_monotonic() + SLOW_HOST_SECONDS;
        pthread_mutex_unlock(&pool->lock);
    }
    if (!c->pg || PQstatus(c->pg) != CONNECTION_OK) {
        if (timed_out)
            set_error(c, "08006", NULL, "no primary reached within ATTACHD_DB_WAIT_MS");
        else
            set_error(c, "08006", NULL, c->pg ? PQerrorMessage(c->pg) : "out of memory");
        log_warn("database connect failed: %s", c->message);
        disconnect(c);
        c->retry_after = now + 0.5;
        return DB_UNAVAILABLE;
    }
    c->epoch = epoch;
    server_name(c->server, sizeof c->server, PQhost(c->pg), PQport(c->pg));
    return DB_OK;
}

/* Classifies a failed result; drops the session (and its server's others) when it is gone. */
static enum db_status classify(struct db_conn *c, PGresult *res)
{
    c->actor_known = false; /* a failed statement may have rolled the setting back */
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(c->pg);
    set_error(c, state ? state : "08006",
              res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL, msg);
    bool lost;
    enum db_status st = db_status_of_sqlstate(state, &lost);
    if (lost || PQstatus(c->pg) != CONNECTION_OK) {
        server_lost(c);
        return DB_UNAVAILABLE;
    }
    return st;
}

enum db_status db_pool_new(const char *conninfo, unsigned size, unsigned wait_ms,
                           struct db_pool **out)
{
    struct db_pool *pool = calloc(1, sizeof *pool);
    if (!pool)
        return DB_ERROR;
    pool->conninfo = strdup(conninfo ? conninfo : "");
    pool->size = size;
    pool->wait_ms = wait_ms;
    pool->conns = calloc(size, sizeof *pool->conns);
    pool->free_stack = calloc(size, sizeof *pool->free_stack);
    if (!pool->conninfo || !pool->conns || !pool->free_stack) {
        db_pool_free(pool);
        return DB_ERROR;
    }
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->available, NULL);
    for (unsigned i = 0; i < size; i++) {
        pool->conns[i].pool = pool;
        pool->free_stack[pool->nfree++] = &pool->conns[i];
    }
    *out = pool;
    return DB_OK;
}

void db_pool_free(struct db_pool *pool)
{
    if (!pool)
        return;
    if (pool->conns) {
        for (unsigned i = 0; i < pool->size; i++)
            disconnect(&pool->conns[i]);
        pthread_mutex_destroy(&pool->lock);
        pthread_cond_destroy(&pool->available);
    }
    free(pool->conns);
    free(pool->free_stack);
    free(pool->conninfo);
    free(pool);
}

/* Takes a connection (waiting up to wait_ms for one to free up unless `now`) and connects it. */
static enum db_status acquire(struct db_pool *pool, bool now, struct db_conn **out)
{
    /* One budget for waiting for a free connection and for connecting it. */
    double deadline_mono = now_monotonic() + pool->wait_ms / 1e3;
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += pool->wait_ms / 1000;
    deadline.tv_nsec += (long)(pool->wait_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L)
        deadline.tv_sec++, deadline.tv_nsec -= 1000000000L;

    pthread_mutex_lock(&pool->lock);
    if (now && pool->nfree == 0) {
        pthread_mutex_unlock(&pool->lock);
        return DB_UNAVAILABLE;
    }
    while (pool->nfree == 0) {
        atomic_fetch_add(&pool->waiting, 1);
        int rc = pthread_cond_timedwait(&pool->available, &pool->lock, &deadline);
        atomic_fetch_sub(&pool->waiting, 1);
        if (rc != 0 && pool->nfree == 0) {
            pthread_mutex_unlock(&pool->lock);
            log_warn("no database connection free within %u ms", pool->wait_ms);
            return DB_UNAVAILABLE;
        }
    }
    struct db_conn *c = pool->free_stack[--pool->nfree];
    bool stale = c->pg && c->epoch < pool->lost_epoch && strcmp(c->server, pool->lost_server) == 0;
    unsigned long epoch = pool->epoch;
    pthread_mutex_unlock(&pool->lock);

    if (stale)
        disconnect(c);
    enum db_status st = ensure_connected(pool, c, epoch, deadline_mono);
    if (st != DB_OK) {
        db_release(pool, c);
        return st;
    }
    *out = c;
    return DB_OK;
}

enum db_status db_acquire(struct db_pool *pool, struct db_conn **out)
{
    db_reactor_yield(); /* this thread's reactor holds no connection while it waits for one */
    return acquire(pool, false, out);
}

enum db_status db_acquire_now(struct db_pool *pool, struct db_conn **out)
{
    return acquire(pool, true, out);
}

bool db_pool_wanted(struct db_pool *pool)
{
    return atomic_load(&pool->waiting) > 0;
}

void db_release(struct db_pool *pool, struct db_conn *c)
{
    c->begin[0] = '\0';
    c->commit_next = c->committed = false;
    /* An implicit transaction given up without a failure: its sync would commit what it wrote,
     * and ROLLBACK outside BEGIN is a warning. Ending the session rolls it back. */
    if (c->open)
        disconnect(c);
    c->implicit = false;
    if (c->pg) {
        PGTransactionStatusType ts = PQtransactionStatus(c->pg);
        if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
            PGresult *r = PQexec(c->pg, "ROLLBACK");
            PQclear(r);
            c->actor_known = false;
        } else if (ts != PQTRANS_IDLE) {
            disconnect(c);
        }
    }
    pthread_mutex_lock(&pool->lock);
    pool->free_stack[pool->nfree++] = c;
    pthread_cond_signal(&pool->available);
    pthread_mutex_unlock(&pool->lock);
}

static int stmt_slot(struct db_stmt *stmt)
{
    int slot = atomic_load(&stmt->slot);
    if (slot)
        return slot;
    int fresh = atomic_fetch_add(&next_slot, 1);
    if (fresh >= DB_MAX_STMTS) {
        log_error("more than %d prepared statements: raise DB_MAX_STMTS", DB_MAX_STMTS);
        abort();
    }
    int expected = 0;
    /* Two threads may race to number the same statement: the first number wins. */
    if (!atomic_compare_exchange_strong(&stmt->slot, &expected, fresh))
        return expected;
    return fresh;
}

/* Makes the session's attachd.actor the thread's before a write. Session-level, so it holds for
 * every statement of a transaction; a rollback restores the old value, so any failure, rollback
 * or reconnect forgets what was set (actor_known = false). */
static enum db_status ensure_actor(struct db_conn *c)
{
    if (c->actor_known && strcmp(c->actor, thread_actor) == 0)
        return DB_OK;
    const char *values[1] = {thread_actor};
    PGresult *r = PQexecParams(c->pg, "SELECT set_config('attachd.actor', $1, false)", 1, NULL,
                               values, NULL, NULL, 0);
    if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
        enum db_status st = classify(c, r);
        PQclear(r);
        return st == DB_OK ? DB_ERROR : st;
    }
    PQclear(r);
    snprintf(c->actor, sizeof c->actor, "%s", thread_actor);
    c->actor_known = true;
    return DB_OK;
}

/* A flight: the statements sent at once in libpq's pipeline mode and then read back, so they
 * cost one round trip. In order: the waiting BEGIN, for each call its PREPARE (first use on this
 * session) and the audit actor before the first write (when not set yet), the call itself, and
 * COMMIT when asked for. The first failure is classified as a lone statement's would be; the
 * server skips what follows it up to the sync, and a failure inside the transaction leaves it
 * aborted for db_release to roll back. */
enum step_kind { STEP_BEGIN, STEP_PREPARE, STEP_ACTOR, STEP_CALL, STEP_COMMIT };
struct step {
    enum step_kind kind;
    int call; /* STEP_PREPARE, STEP_CALL: index into calls */
};
#define MAX_STEPS (2 + 3 * DB_FLIGHT_MAX)

static enum db_status send_flight(struct db_conn *c, const struct db_call *calls, int n,
                                  struct step *steps, int *nsteps, bool synced)
{
    int k = 0;
    bool actor_sent = false, prepared_here[DB_FLIGHT_MAX] = {false};
    char name[16];
    if (c->begin[0]) {
        if (!PQsendQueryParams(c->pg, c->begin, 0, NULL, NULL, NULL, NULL, 0))
            return DB_UNAVAILABLE;
        steps[k++] = (struct step){STEP_BEGIN, -1};
    }
    for (int i = 0; i < n; i++) {
        int slot = stmt_slot(calls[i].stmt);
        snprintf(name, sizeof name, "s%d", slot);
        bool earlier = false;
        for (int j = 0; j < i; j++)
            earlier = earlier || (prepared_here[j] && calls[j].stmt == calls[i].stmt);
        if (!c->prepared[slot] && !earlier) {
            if (!PQsendPrepare(c->pg, name, calls[i].stmt->sql, 0, NULL))
                return DB_UNAVAILABLE;
            prepared_here[i] = true;
            steps[k++] = (struct step){STEP_PREPARE, i};
        }
        if (!actor_sent && db_stmt_writes(calls[i].stmt) &&
            !(c->actor_known && strcmp(c->actor, thread_actor) == 0)) {
            const char *values[1] = {thread_actor};
            if (!PQsendQueryParams(c->pg, "SELECT set_config('attachd.actor', $1, false)", 1, NULL,
                                   values, NULL, NULL, 0))
                return DB_UNAVAILABLE;
            actor_sent = true;
            steps[k++] = (struct step){STEP_ACTOR, i};
        }
        if (!PQsendQueryPrepared(c->pg, name, calls[i].nparams, calls[i].values, NULL, NULL, 0))
            return DB_UNAVAILABLE;
        steps[k++] = (struct step){STEP_CALL, i};
    }
    if (c->commit_next && !c->implicit) {
        if (!PQsendQueryParams(c->pg, "COMMIT", 0, NULL, NULL, NULL, NULL, 0))
            return DB_UNAVAILABLE;
        steps[k++] = (struct step){STEP_COMMIT, -1};
    }
    *nsteps = k;
    if (!synced) { /* an implicit transaction goes on: the answers without a sync */
        c->open = true;
        return PQsendFlushRequest(c->pg) && PQflush(c->pg) == 0 ? DB_OK : DB_UNAVAILABLE;
    }
    return PQpipelineSync(c->pg) ? DB_OK : DB_UNAVAILABLE;
}

/* Sends a sync on its own (the end of a failed or finished implicit transaction); false: the
 * session is gone (and disconnected). */
static bool send_sync(struct db_conn *c)
{
    if (PQpipelineSync(c->pg))
        return true;
    set_error(c, "08006", NULL, PQerrorMessage(c->pg));
    server_lost(c);
    return false;
}

/* Reads the flight's results back, up to its sync, and leaves pipeline mode. A flight of an
 * implicit transaction that does not commit (synced false) ended with a flush: its answers are
 * read and the transaction stays open, unless one failed: the server then skips everything up
 * to a sync, which is sent here and ends the failed transaction. commits: the sync commits an
 * implicit transaction. */
static enum db_status read_flight(struct db_conn *c, const struct db_call *calls,
                                  const struct step *steps, int nsteps, bool synced_flight,
                                  bool commits)
{
    enum db_status st = DB_OK;
    for (int k = 0; k < nsteps; k++) {
        PGresult *r = PQgetResult(c->pg);
        if (!r) /* the connection failed: libpq has nothing more for this step */
            return classify(c, NULL);
        ExecStatusType rs = PQresultStatus(r);
        bool ok = rs == PGRES_COMMAND_OK || rs == PGRES_TUPLES_OK;
        if (st == DB_OK && !ok) {
            st = rs == PGRES_PIPELINE_ABORTED ? DB_ERROR : classify(c, r);
            if (st == DB_UNAVAILABLE) {
                PQclear(r);
                return st; /* the session is gone (and disconnected) */
            }
            if (steps[k].kind == STEP_PREPARE)
                log_error("prepare failed: %s -- %s", c->message, calls[steps[k].call].stmt->sql);
            else if (st == DB_ERROR)
                log_error("query failed: %s [%s]", c->message, c->sqlstate);
        } else if (st == DB_OK) {
            switch (steps[k].kind) {
            case STEP_BEGIN:
                c->begin[0] = '\0';
                break;
            case STEP_PREPARE:
                c->prepared[stmt_slot(calls[steps[k].call].stmt)] = true;
                break;
            case STEP_ACTOR:
                snprintf(c->actor, sizeof c->actor, "%s", thread_actor);
                c->actor_known = true;
                break;
            case STEP_CALL:
                if (calls[steps[k].call].out) {
                    *calls[steps[k].call].out = r;
                    r = NULL;
                }
                break;
            case STEP_COMMIT:
                c->committed = true;
                break;
            }
        }
        PQclear(r);
        /* Each step's results end with a NULL. */
        while ((r = PQgetResult(c->pg)) != NULL)
            PQclear(r);
    }
    if (!synced_flight) { /* a flush ended it: the transaction stays open */
        if (st == DB_OK)
            return DB_OK;
        if (!send_sync(c)) /* after a failure the server skips to a sync: send it */
            return DB_UNAVAILABLE;
    }
    /* The sync's answer. When it commits an implicit transaction, a failed commit (a deferred
     * trigger's error) is answered before it. */
    PGresult *sync = PQgetResult(c->pg);
    for (int nulls = 0; !(sync && PQresultStatus(sync) == PGRES_PIPELINE_SYNC) && nulls < 2;
         sync = PQgetResult(c->pg)) {
        if (!sync) {
            nulls++;
            continue;
        }
        if (st == DB_OK) {
            if ((st = classify(c, sync)) == DB_OK)
                st = DB_ERROR;
            if (st == DB_ERROR)
                log_error("commit failed: %s [%s]", c->message, c->sqlstate);
        }
        PQclear(sync);
        if (st == DB_UNAVAILABLE)
            return st; /* the session is gone (and disconnected) */
    }
    bool synced = sync != NULL;
    PQclear(sync);
    c->open = false;
    if (synced && commits && st == DB_OK)
        c->committed = true;
    if (!synced || !PQexitPipelineMode(c->pg)) {
        /* The server ended the session after answering every statement (a shutdown reads the
         * sync as its next message and stops there): start this session afresh. What it
         * answered stands: a COMMIT it confirmed is committed, and saying 503 for it would
         * make the client retry what is stored. */
        bool done = st == DB_OK && c->committed;
        set_error(c, "08006", NULL, PQerrorMessage(c->pg));
        server_lost(c);
        return done ? DB_OK : DB_UNAVAILABLE;
    }
    if (st == DB_OK)
        set_error(c, NULL, NULL, NULL);
    return st;
}

enum db_status db_query_flight(struct db_conn *c, const struct db_call *calls, int n)
{
    for (int i = 0; i < n; i++)
        if (calls[i].out)
            *calls[i].out = NULL;
    if (!c->pg) {
        set_error(c, "08006", NULL, "connection lost");
        return DB_UNAVAILABLE;
    }
    if (n < 1 || n > DB_FLIGHT_MAX)
        return DB_ERROR;
    struct step steps[MAX_STEPS];
    int nsteps = 0;
    enum db_status st = DB_UNAVAILABLE;
    /* An implicit transaction's flight ends with a sync only when it commits. */
    bool synced = !c->implicit || c->commit_next, commits = c->implicit && c->commit_next;
    if (PQenterPipelineMode(c->pg))
        st = send_flight(c, calls, n, steps, &nsteps, synced);
    if (st != DB_OK) {
        classify(c, NULL);
        disconnect(c); /* half a flight sent: this session cannot be trusted any more */
        return DB_UNAVAILABLE;
    }
    c->commit_next = false;
    st = read_flight(c, calls, steps, nsteps, synced, commits);
    if (st != DB_OK)
        for (int i = 0; i < n; i++)
            if (calls[i].out) {
                PQclear(*calls[i].out);
                *calls[i].out = NULL;
            }
    return st;
}

void db_commit_with_next(struct db_conn *c)
{
    c->commit_next = true;
}

bool db_committed(const struct db_conn *c)
{
    return c->committed;
}

enum db_status db_query(struct db_conn *c, struct db_stmt *stmt, int nparams,
                        const char *const *values, PGresult **out)
{
    if (c->begin[0] || c->commit_next || c->implicit) {
        struct db_call call = {stmt, nparams, values, out};
        return db_query_flight(c, &call, 1);
    }
    if (out)
        *out = NULL;
    if (!c->pg) {
        set_error(c, "08006", NULL, "connection lost");
        return DB_UNAVAILABLE;
    }
    int slot = stmt_slot(stmt);
    char name[16];
    snprintf(name, sizeof name, "s%d", slot);
    if (!c->prepared[slot]) {
        PGresult *p = PQprepare(c->pg, name, stmt->sql, 0, NULL);
        if (!p || PQresultStatus(p) != PGRES_COMMAND_OK) {
            enum db_status st = classify(c, p);
            if (st != DB_UNAVAILABLE)
                log_error("prepare failed: %s -- %s", c->message, stmt->sql);
            PQclear(p);
            return st == DB_OK ? DB_ERROR : st;
        }
        PQclear(p);
        c->prepared[slot] = true;
    }
    if (db_stmt_writes(stmt)) {
        enum db_status st = ensure_actor(c);
        if (st != DB_OK)
            return st;
    }
    PGresult *r = PQexecPrepared(c->pg, name, nparams, values, NULL, NULL, 0);
    ExecStatusType rs = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (rs != PGRES_COMMAND_OK && rs != PGRES_TUPLES_OK) {
        enum db_status st = classify(c, r);
        if (st == DB_ERROR)
            log_error("query failed: %s [%s]", c->message, c->sqlstate);
        PQclear(r);
        return st;
    }
    set_error(c, NULL, NULL, NULL);
    if (out)
        *out = r;
    else
        PQclear(r);
    return DB_OK;
}

enum db_status db_command(struct db_conn *c, const char *sql)
{
    if (!c->pg) {
        set_error(c, "08006", NULL, "connection lost");
        return DB_UNAVAILABLE;
    }
    if (c->begin[0]) { /* a literal command is not pipelined: the waiting BEGIN goes first */
        char begin[sizeof c->begin];
        snprintf(begin, sizeof begin, "%s", c->begin);
        c->begin[0] = '\0';
        enum db_status st = db_command(c, begin);
        if (st != DB_OK)
            return st;
    }
    PGresult *r = PQexec(c->pg, sql);
    ExecStatusType rs = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    enum db_status st = DB_OK;
    if (rs != PGRES_COMMAND_OK && rs != PGRES_TUPLES_OK)
        st = classify(c, r);
    PQclear(r);
    return st;
}

const char *db_error(const struct db_conn *c)
{
    return c->message;
}

const char *db_sqlstate(const struct db_conn *c)
{
    return c->sqlstate;
}

const char *db_constraint(const struct db_conn *c)
{
    return c->constraint;
}

/* db_transaction's and db_transaction_implicit's loop; isolation NULL: an implicit transaction. */
static enum db_status run_transaction(struct db_pool *pool, const char *isolation, db_tx_fn fn,
                                      void *ctx)
{
    enum db_status st = DB_RETRY;
    for (int attempt = 0; attempt < 5 && st == DB_RETRY; attempt++) {
        struct db_conn *c;
        st = db_acquire(pool, &c);
        if (st != DB_OK)
            return st;
        /* BEGIN waits for the first statement and goes in its flight (one round trip less). */
        if (isolation)
            snprintf(c->begin, sizeof c->begin, "BEGIN ISOLATION LEVEL %s", isolation);
        c->implicit = !isolation;
        c->commit_next = c->committed = false;
        st = fn(c, ctx);
        c->commit_next = false;
        if (st == DB_OK && c->begin[0]) {
            c->begin[0] = '\0';              /* nothing was sent: nothing to commit */
        } else if (st == DB_OK && c->open) { /* implicit, not committed by fn's last flight */
            st = send_sync(c) ? read_flight(c, NULL, NULL, 0, true, true) : DB_UNAVAILABLE;
        } else if (st == DB_OK && !c->committed && !c->implicit) {
            st = db_command(c, "COMMIT");
        }
        db_release(pool, c); /* rolls back whatever did not commit */
    }
    return st;
}

enum db_status db_transaction(struct db_pool *pool, const char *isolation, db_tx_fn fn, void *ctx)
{
    return run_transaction(pool, isolation, fn, ctx);
}

enum db_status db_transaction_implicit(struct db_pool *pool, db_tx_fn fn, void *ctx)
{
    return run_transaction(pool, NULL, fn, ctx);
}

enum db_status db_run(struct db_pool *pool, struct db_stmt *stmt, int nparams,
                      const char *const *values, PGresult **out)
{
    struct db_conn *c;
    enum db_status st = db_acquire(pool, &c);
    if (st != DB_OK)
        return st;
    st = db_query(c, stmt, nparams, values, out);
    db_release(pool, c);
    return st;
}

static struct db_stmt q_primary_schema =
    DB_STMT("SELECT (SELECT coalesce(max(version), '') FROM schema_migrations) AS schema,"
            " pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on'"
            " AS read_only");

enum db_status db_primary_schema(struct db_pool *pool, char *schema, size_t size)
{
    struct db_conn *c;
    PGresult *r = NULL;
    enum db_status st = db_acquire(pool, &c);
    if (st != DB_OK)
        return st;
    st = db_query(c, &q_primary_schema, 0, NULL, &r);
    if (st != DB_OK)
        goto out;
    /* A session opened before a failover may sit on a server that is a standby now (or was
     * made read-only): not ready, and the next connect must look for the primary again. */
    if (db_bool(r, 0, "read_only")) {
        set_error(c, "25006", NULL, "the server is read-only");
        server_lost(c);
        st = DB_UNAVAILABLE;
        goto out;
    }
    snprintf(schema, size, "%s", db_text_or_empty(r, 0, "schema"));
out:
    PQclear(r);
    db_release(pool, c);
    return st;
}

bool db_ping(struct db_pool *pool)
{
    struct db_conn *c;
    if (db_acquire(pool, &c) != DB_OK)
        return false;
    bool ok = db_command(c, "SELECT 1") == DB_OK;
    db_release(pool, c);
    return ok;
}

/* Reads sent without waiting (db.h; the reactor in reactor.c drives them). */

enum db_status db_async_begin(struct db_conn *c)
{
    if (c->pg && PQsetnonblocking(c->pg, 1) == 0 && PQenterPipelineMode(c->pg))
        return DB_OK;
    set_error(c, "08006", NULL, c->pg ? PQerrorMessage(c->pg) : "connection lost");
    disconnect(c);
    return DB_UNAVAILABLE;
}

void db_async_end(struct db_conn *c)
{
    if (!c->pg)
        return;
    /* Reads still in flight (the reactor stopping, or a session that failed): nobody will read
     * their answers, so the session cannot serve anyone else. */
    if (!PQexitPipelineMode(c->pg) || PQsetnonblocking(c->pg, 0) != 0)
        disconnect(c);
}

int db_async_socket(const struct db_conn *c)
{
    return c->pg ? PQsocket(c->pg) : -1;
}

enum db_status db_async_send(struct db_conn *c, struct db_stmt *stmt, int nparams,
                             const char *const *values, bool *prepared_here)
{
    *prepared_here = false;
    if (!c->pg)
        return DB_UNAVAILABLE;
    int slot = stmt_slot(stmt);
    char name[16];
    snprintf(name, sizeof name, "s%d", slot);
    if (!c->prepared[slot]) {
        if (!PQsendPrepare(c->pg, name, stmt->sql, 0, NULL))
            return DB_UNAVAILABLE;
        /* Reads sent after it on this session use it without preparing it again. */
        c->prepared[slot] = true;
        *prepared_here = true;
    }
    if (!PQsendQueryPrepared(c->pg, name, nparams, values, NULL, NULL, 0))
        return DB_UNAVAILABLE;
    return DB_OK;
}

enum db_status db_async_sync(struct db_conn *c)
{
    return c->pg && PQpipelineSync(c->pg) ? DB_OK : DB_UNAVAILABLE;
}

int db_async_flush(struct db_conn *c)
{
    return c->pg ? PQflush(c->pg) : -1;
}

enum db_status db_async_input(struct db_conn *c)
{
    if (c->pg && PQconsumeInput(c->pg))
        return DB_OK;
    return classify(c, NULL);
}

bool db_async_next(struct db_conn *c, PGresult **out)
{
    *out = NULL;
    if (!c->pg || PQisBusy(c->pg))
        return false;
    *out = PQgetResult(c->pg);
    return true;
}

enum db_status db_async_failed(struct db_conn *c, struct db_stmt *stmt, PGresult *res)
{
    if (PQresultStatus(res) == PGRES_PIPELINE_ABORTED)
        return DB_ERROR; /* the statement before it in the same sync (its PREPARE) said why */
    enum db_status st = classify(c, res);
    if (st == DB_ERROR)
        log_error("query failed: %s [%s] -- %s", c->message, c->sqlstate, stmt->sql);
    return st == DB_OK ? DB_ERROR : st;
}

void db_async_unprepare(struct db_conn *c, struct db_stmt *stmt)
{
    c->prepared[stmt_slot(stmt)] = false;
}
