/* Deferred reads and the reactor that sends them (db.h, "Deferred reads").
 *
 * Why: a worker thread that sends a read and waits for it sleeps once per request, and the
 * backend that answers pays for waking it; on the cheap reads (a person's attachment, a
 * district) that cost as much CPU as the statement itself (docs/PERFORMANCE.md, round 5).
 * Here the worker records the read, the request is suspended, and the worker's event loop
 * sends the reads of all its requests on one session in pipeline mode, one sync per flight:
 * the backend finds the next read already there when it finishes one and answers a whole
 * flight at once, and the worker goes on serving other connections meanwhile.
 *
 * A read is on exactly one list at a time: the submitted queue, or the session's in-flight
 * list, in the order sent, which is the order the answers come back in. Everything but
 * db_defer_submit runs on the reactor's thread (the worker that owns it). */
#include "attachd/db.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>
#include "attachd/fnv.h"
#include "attachd/log.h"

struct session {
    struct db_conn *conn; /* NULL: none held */
    int fd;
    struct db_ask *head, *tail; /* in flight, oldest first (none: head NULL) */
    int unsynced;               /* reads sent since the last sync */
    int syncs;                  /* syncs whose answer has not come back */
    bool want_write;
};

struct db_reactor {
    struct db_pool *pool;
    pthread_mutex_t lock; /* queue, stopping */
    struct db_ask *queue, **queue_tail;
    bool stopping;
    int epoll_fd; /* the session's socket */
    struct session session;
    /* done was called since the last db_reactor_run returned: by that run, or by a yield in
     * between (a write's handler inside libmicrohttpd's run, waiting for a connection). Its
     * loop must learn of both: in external polling, libmicrohttpd has no signal of its own for
     * a resume (its inter-thread channel exists only with its own polling thread), so a request
     * resumed by a yield would otherwise wait for whatever woke the loop next, and for ever
     * once no connection had a timeout (the last one a request in flight at SIGTERM). */
    bool answered;
};

static _Thread_local struct db_defer *current;

void db_defer_init(struct db_defer *d, struct db_reactor *rx, void (*done)(void *arg), void *arg)
{
    memset(d, 0, offsetof(struct db_defer, ask)); /* the asks are filled when recorded */
    d->reactor = rx;
    d->done = done;
    d->arg = arg;
}

void db_defer_clear(struct db_defer *d)
{
    for (int i = 0; i < d->nasked; i++) {
        PQclear(d->result[i]);
        d->result[i] = NULL;
    }
    d->nasked = d->ndone = d->outstanding = 0;
}

void db_defer_pass(struct db_defer *d)
{
    current = d;
    if (d) {
        d->next = 0;
        d->waiting = false;
    }
}

/* What a read asked: its statement and parameters (FNV-1a over them, NULLs told apart). */
static uint64_t question(const struct db_stmt *stmt, int nparams, const char *const *values)
{
    uint64_t h = fnv1a(FNV1A_START, &stmt, sizeof stmt);
    for (int i = 0; i < nparams; i++) {
        const char *v = values[i] ? values[i] : "";
        unsigned char null = values[i] == NULL;
        h = fnv1a(fnv1a(h, &null, 1), v, strlen(v) + 1); /* the NUL ends each value */
    }
    return h;
}

/* Records a read in the next slot, with copies of its parameters; false when they do not fit. */
static bool record(struct db_defer *d, struct db_stmt *stmt, int nparams, const char *const *values)
{
    if (nparams > DB_DEFER_PARAMS || d->nasked >= DB_DEFER_MAX)
        return false;
    struct db_ask *a = &d->ask[d->nasked];
    size_t used = 0;
    for (int i = 0; i < nparams; i++) {
        if (!values[i]) {
            a->values[i] = NULL;
            continue;
        }
        size_t len = strlen(values[i]) + 1;
        if (len > sizeof a->buf - used)
            return false;
        memcpy(a->buf + used, values[i], len);
        a->values[i] = a->buf + used;
        used += len;
    }
    a->owner = d;
    a->slot = d->nasked;
    a->stmt = stmt;
    a->nparams = nparams;
    d->asked[d->nasked] = question(stmt, nparams, values);
    d->result[d->nasked] = NULL;
    d->status[d->nasked] = DB_OK;
    d->nasked++;
    return true;
}

bool db_deferred_flight(const struct db_call *calls, int n, const PGresult **outs,
                        enum db_status *st)
{
    struct db_defer *d = current;
    for (int k = 0; k < n; k++)
        outs[k] = NULL;
    if (!d || !d->reactor || d->waiting || n < 1)
        return false;
    for (int k = 0; k < n; k++)
        if (db_stmt_writes(calls[k].stmt))
            return false;
    int i = d->next;
    if (i + n <= d->ndone) {
        /* A pass that asks something else here than the pass that sent it (its branch taken
         * on a read that waited, whose answer changed) gets no stale answer: it waits. */
        for (int k = 0; k < n; k++)
            if (d->asked[i + k] != question(calls[k].stmt, calls[k].nparams, calls[k].values))
                return false;
        d->next += n;
        *st = DB_OK;
        for (int k = 0; k < n && *st == DB_OK; k++)
            *st = d->status[i + k];
        for (int k = 0; k < n && *st == DB_OK; k++)
            outs[k] = d->result[i + k];
        return true;
    }
    if (i != d->nasked || d->nasked + n > DB_DEFER_MAX)
        return false;
    for (int k = 0; k < n; k++)
        if (!record(d, calls[k].stmt, calls[k].nparams, calls[k].values)) {
            d->nasked = i; /* none of them, then */
            return false;
        }
    d->first = i;
    d->outstanding = n;
    d->waiting = true;
    d->next += n;
    *st = DB_PENDING;
    return true;
}

bool db_deferred(struct db_stmt *stmt, int nparams, const char *const *values, const PGresult **out,
                 enum db_status *st)
{
    struct db_call call = {stmt, nparams, values, NULL};
    return db_deferred_flight(&call, 1, out, st);
}

/* The read's answer is in; when it was its request's last, the request may run its next pass. */
static void complete(struct db_ask *a, enum db_status st, PGresult *res)
{
    struct db_defer *d = a->owner;
    if (st != DB_OK) {
        PQclear(res);
        res = NULL;
    }
    d->result[a->slot] = res;
    d->status[a->slot] = st;
    if (--d->outstanding == 0) {
        d->ndone = d->nasked;
        d->done(d->arg);
    }
}

static void complete_list(struct db_ask *list, enum db_status st)
{
    while (list) {
        struct db_ask *next = list->queue;
        complete(list, st, NULL);
        list = next;
    }
}

void db_defer_submit(struct db_defer *d)
{
    struct db_reactor *rx = d->reactor;
    struct db_ask *list = NULL, **tail = &list;
    for (int i = d->first; i < d->nasked; i++) {
        struct db_ask *a = &d->ask[i];
        a->queue = NULL;
        a->seen = 0;
        a->prepared_here = a->alone = false;
        *tail = a;
        tail = &a->queue;
    }
    pthread_mutex_lock(&rx->lock);
    bool stopping = rx->stopping;
    if (!stopping) {
        *rx->queue_tail = list;
        rx->queue_tail = tail;
    }
    pthread_mutex_unlock(&rx->lock);
    if (stopping)
        complete_list(list, DB_UNAVAILABLE);
}

static void watch(struct db_reactor *rx, struct session *s, int op)
{
    struct epoll_event ev = {.events = EPOLLIN | (s->want_write ? EPOLLOUT : 0u)};
    if (epoll_ctl(rx->epoll_fd, op, s->fd, &ev) != 0 && op != EPOLL_CTL_DEL)
        log_warn("reactor: epoll_ctl: %s", strerror(errno));
}

/* Gives the session back to the pool; its reads in flight (if any) are answered with st. */
static void session_end(struct db_reactor *rx, enum db_status st)
{
    struct session *s = &rx->session;
    if (!s->conn)
        return;
    struct epoll_event ev = {0};
    epoll_ctl(rx->epoll_fd, EPOLL_CTL_DEL, s->fd, &ev);
    struct db_ask *list = s->head;
    if (list)
        rx->answered = true;
    complete_list(list, st);
    db_async_end(s->conn);
    db_release(rx->pool, s->conn);
    *s = (struct session){.fd = -1};
}

/* Takes a session when one is free at once (nobody is kept waiting for the reactor's sake). */
static bool session_take(struct db_reactor *rx)
{
    struct db_conn *c;
    if (db_pool_wanted(rx->pool) || db_acquire_now(rx->pool, &c) != DB_OK)
        return false;
    if (db_async_begin(c) != DB_OK) {
        db_release(rx->pool, c);
        return false;
    }
    rx->session = (struct session){.conn = c, .fd = db_async_socket(c)};
    watch(rx, &rx->session, EPOLL_CTL_ADD);
    return true;
}

/* Ends the reads sent since the last sync (PQpipelineSync sends them); false when the session
 * failed. */
static bool sync_reads(struct session *s)
{
    if (db_async_sync(s->conn) != DB_OK)
        return false;
    s->unsynced = 0;
    s->syncs++;
    return true;
}

static void flush(struct db_reactor *rx)
{
    struct session *s = &rx->session;
    int left = db_async_flush(s->conn);
    if (left < 0) {
        session_end(rx, DB_UNAVAILABLE);
        return;
    }
    if ((left == 1) != s->want_write) {
        s->want_write = left == 1;
        watch(rx, s, EPOLL_CTL_MOD);
    }
}

/* Runs a read as db_run would (no session to be had for the reactor): waiting. */
static void run_waiting(struct db_reactor *rx, struct db_ask *d)
{
    PGresult *r = NULL;
    enum db_status st = db_run(rx->pool, d->stmt, d->nparams, d->values, &r);
    complete(d, st, r);
    rx->answered = true;
}

/* Sends the submitted reads, in one flight (a read sent again goes alone). */
static void send_queued(struct db_reactor *rx, struct db_ask *list)
{
    struct session *s = &rx->session;
    if (s->conn && s->head && db_pool_wanted(rx->pool)) {
        /* A thread waits for a connection: this session goes back once its flight is in, and
         * these reads go out after that (the answers wake this reactor). */
        pthread_mutex_lock(&rx->lock);
        struct db_ask **tail = &list;
        while (*tail)
            tail = &(*tail)->queue;
        *tail = rx->queue;
        if (!rx->queue)
            rx->queue_tail = tail;
        rx->queue = list;
        pthread_mutex_unlock(&rx->lock);
        return;
    }
    while (list) {
        struct db_ask *d = list;
        list = d->queue;
        d->queue = NULL;
        if (!s->conn && !session_take(rx)) {
            run_waiting(rx, d);
            continue;
        }
        bool ok = !(d->alone && s->unsynced) || sync_reads(s);
        ok = ok &&
             db_async_send(s->conn, d->stmt, d->nparams, d->values, &d->prepared_here) == DB_OK;
        if (ok) {
            if (s->tail)
                s->tail->queue = d;
            else
                s->head = d;
            s->tail = d;
            s->unsynced++;
        } else {
            complete(d, DB_UNAVAILABLE, NULL);
            rx->answered = true;
        }
        if (!ok || (d->alone && !sync_reads(s)))
            session_end(rx, DB_UNAVAILABLE);
    }
    if (s->conn && s->unsynced && !sync_reads(s))
        session_end(rx, DB_UNAVAILABLE);
    if (s->conn)
        flush(rx);
}

/* A read of a sync that failed because another read before it in the same sync did: sent
 * again, alone, in this run. */
static void send_again(struct db_ask *d, struct db_ask ***again_tail)
{
    PQclear(d->owner->result[d->slot]);
    d->owner->result[d->slot] = NULL;
    d->owner->status[d->slot] = DB_OK;
    d->seen = 0;
    d->prepared_here = false;
    d->alone = true;
    d->queue = NULL;
    **again_tail = d;
    *again_tail = &d->queue;
}

/* Reads the answers that arrived, completing each read whose results ended. */
static void receive(struct db_reactor *rx, struct db_ask ***again_tail)
{
    struct session *s = &rx->session;
    if (db_async_input(s->conn) != DB_OK) {
        session_end(rx, DB_UNAVAILABLE);
        return;
    }
    bool aborted = false; /* the read at the head was skipped for an earlier failure */
    int nulls = 0;
    while (s->head || s->syncs) {
        PGresult *r;
        if (!db_async_next(s->conn, &r))
            break;
        struct db_ask *d = s->head;
        if (!r) { /* one statement's results ended */
            if (++nulls > 1 && !d)
                break; /* nothing more is coming before more input */
            if (!d || ++d->seen < (d->prepared_here ? 2 : 1))
                continue;
            s->head = d->queue;
            if (!s->head)
                s->tail = NULL;
            if (aborted) {
                aborted = false;
                send_again(d, again_tail);
            } else {
                PGresult *answer = d->owner->result[d->slot];
                d->owner->result[d->slot] = NULL;
                complete(d, d->owner->status[d->slot], answer);
                rx->answered = true;
            }
            continue;
        }
        nulls = 0;
        ExecStatusType rs = PQresultStatus(r);
        if (rs == PGRES_PIPELINE_SYNC || !d) {
            if (rs == PGRES_PIPELINE_SYNC)
                s->syncs--;
            PQclear(r);
            continue;
        }
        PGresult **keep = &d->owner->result[d->slot]; /* where its answer goes */
        enum db_status *status = &d->owner->status[d->slot];
        if (rs == PGRES_TUPLES_OK || rs == PGRES_COMMAND_OK) {
            if (d->seen == (d->prepared_here ? 1 : 0) && *status == DB_OK) {
                PQclear(*keep);
                *keep = r;
            } else {
                PQclear(r); /* the PREPARE's */
            }
            continue;
        }
        if (d->prepared_here && d->seen == 0)
            db_async_unprepare(s->conn, d->stmt);
        if (rs == PGRES_PIPELINE_ABORTED && *status == DB_OK) {
            aborted = true;
            PQclear(r);
            continue;
        }
        enum db_status st = *status == DB_OK ? db_async_failed(s->conn, d->stmt, r) : *status;
        PQclear(r);
        if (st == DB_UNAVAILABLE) {
            session_end(rx, DB_UNAVAILABLE);
            return;
        }
        *status = st;
    }
}

static _Thread_local struct db_reactor *own; /* the reactor of the calling thread's loop */

void db_reactor_bind(struct db_reactor *rx)
{
    own = rx;
}

void db_reactor_yield(void)
{
    struct db_reactor *rx = own;
    struct session *s = rx ? &rx->session : NULL;
    if (!s || !s->conn)
        return;
    /* Its flight is answered first (the answers are in the socket soon: nothing waits on this
     * thread for them); reads to send again go back on the queue for the next run. */
    struct db_ask *again = NULL, **again_tail = &again;
    while (s->conn && (s->head || s->syncs)) {
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        if (poll(&p, 1, 1000) < 0 && errno != EINTR)
            break;
        receive(rx, &again_tail);
    }
    session_end(rx, DB_UNAVAILABLE);
    if (again) {
        pthread_mutex_lock(&rx->lock);
        *again_tail = rx->queue;
        if (!rx->queue)
            rx->queue_tail = again_tail;
        rx->queue = again;
        pthread_mutex_unlock(&rx->lock);
    }
}

bool db_reactor_run(struct db_reactor *rx)
{
    struct session *s = &rx->session;
    struct db_ask *again = NULL, **again_tail = &again;
    if (s->conn) {
        struct epoll_event ev;
        int n = epoll_wait(rx->epoll_fd, &ev, 1, 0);
        if (n > 0) {
            receive(rx, &again_tail);
            if (s->conn && (ev.events & EPOLLOUT))
                flush(rx);
        }
    }
    pthread_mutex_lock(&rx->lock);
    struct db_ask *queued = rx->queue;
    rx->queue = NULL;
    rx->queue_tail = &rx->queue;
    pthread_mutex_unlock(&rx->lock);
    *again_tail = queued;
    if (again)
        send_queued(rx, again);
    /* Back to the pool when idle (send_queued holds new reads back while a thread waits for a
     * connection, so a busy session goes idle then). */
    if (s->conn && !s->head && s->syncs == 0)
        session_end(rx, DB_OK);
    bool answered = rx->answered;
    rx->answered = false;
    return answered;
}

int db_reactor_fd(const struct db_reactor *rx)
{
    return rx->epoll_fd;
}

enum db_status db_reactor_new(struct db_pool *pool, struct db_reactor **out)
{
    struct db_reactor *rx = calloc(1, sizeof *rx);
    if (!rx)
        return DB_ERROR;
    rx->pool = pool;
    rx->queue_tail = &rx->queue;
    rx->session.fd = -1;
    rx->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (rx->epoll_fd < 0) {
        log_error("reactor: epoll_create1: %s", strerror(errno));
        free(rx);
        return DB_ERROR;
    }
    pthread_mutex_init(&rx->lock, NULL);
    *out = rx;
    return DB_OK;
}

void db_reactor_stop(struct db_reactor *rx)
{
    if (!rx)
        return;
    pthread_mutex_lock(&rx->lock);
    rx->stopping = true;
    struct db_ask *queued = rx->queue;
    rx->queue = NULL;
    rx->queue_tail = &rx->queue;
    pthread_mutex_unlock(&rx->lock);
    complete_list(queued, DB_UNAVAILABLE);
    session_end(rx, DB_UNAVAILABLE);
}

void db_reactor_free(struct db_reactor *rx)
{
    if (!rx)
        return;
    close(rx->epoll_fd);
    pthread_mutex_destroy(&rx->lock);
    free(rx);
}
