/* Deferred reads and the reactor that sends them (db.h, "Deferred reads").
 *
 * Why: a worker thread that sends a read and waits for it sleeps once per request, and the
 * backend that answers pays for waking it; on the cheap reads (a person's attachment, a
 * district) that was as much CPU as the statement itself, and attachd served half of what
 * pgbench running the same statements did (docs/PERFORMANCE.md, "Reads without waiting"). Here
 * the worker records the read, the request is suspended, and one thread sends the reads of
 * every worker on a few sessions in pipeline mode: a session carries many reads at once, the
 * backend finds the next one already there when it finishes one, and the reactor reads several
 * answers per wake-up.
 *
 * The reactor owns the sessions it holds; a read is on exactly one list at a time: the queue
 * (under lock, filled by db_defer_submit), the reactor's pending list, or a session's in-flight
 * list, in the order sent, which is the order the answers come back in. */
#include "attachd/db.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "attachd/log.h"

#define MAX_SESSIONS 8
#define DEPTH        32 /* reads in flight on one session */

struct session {
    struct db_conn *conn;
    int fd;
    struct db_defer *head, *tail; /* in flight, oldest first */
    int inflight;
    int unsynced; /* reads sent since the last sync */
    int syncs;    /* syncs whose answer has not come back */
    bool want_write;
};

struct db_reactor {
    struct db_pool *pool;
    pthread_mutex_t lock; /* queue, stopping */
    struct db_defer *queue, **queue_tail;
    bool stopping;
    int wake_fd; /* eventfd: something was queued, or stop */
    int epoll_fd;
    pthread_t thread;
    /* the reactor thread's own */
    struct db_defer *pending, **pending_tail;
    struct session sessions[MAX_SESSIONS];
    unsigned nsessions, max_sessions;
};

static _Thread_local struct db_defer *current;

void db_defer_init(struct db_defer *d, struct db_reactor *rx, void (*done)(void *arg), void *arg)
{
    *d = (struct db_defer){.reactor = rx, .done = done, .arg = arg};
}

void db_defer_clear(struct db_defer *d)
{
    for (int i = 0; i < d->ndone; i++) {
        PQclear(d->result[i]);
        d->result[i] = NULL;
    }
    d->ndone = 0;
}

void db_defer_pass(struct db_defer *d)
{
    current = d;
    if (d) {
        d->next = 0;
        d->waiting = false;
    }
}

/* Copies the parameters into d->buf; false when they do not fit. */
static bool record(struct db_defer *d, int nparams, const char *const *values)
{
    if (nparams > DB_DEFER_PARAMS)
        return false;
    size_t used = 0;
    for (int i = 0; i < nparams; i++) {
        if (!values[i]) {
            d->values[i] = NULL;
            continue;
        }
        size_t len = strlen(values[i]) + 1;
        if (len > sizeof d->buf - used)
            return false;
        memcpy(d->buf + used, values[i], len);
        d->values[i] = d->buf + used;
        used += len;
    }
    d->nparams = nparams;
    return true;
}

bool db_deferred(struct db_stmt *stmt, int nparams, const char *const *values,
                 const PGresult **out, enum db_status *st)
{
    struct db_defer *d = current;
    *out = NULL;
    if (!d || !d->reactor || d->waiting || db_stmt_writes(stmt))
        return false;
    int i = d->next;
    if (i < d->ndone) {
        d->next++;
        *st = d->status[i];
        *out = *st == DB_OK ? d->result[i] : NULL;
        return true;
    }
    if (i >= DB_DEFER_MAX || !record(d, nparams, values))
        return false;
    d->stmt = stmt;
    d->waiting = true;
    d->next++;
    *st = DB_PENDING;
    return true;
}

/* The read's answer is in: the request may run its next pass. */
static void complete(struct db_defer *d, enum db_status st, PGresult *res)
{
    if (st != DB_OK) {
        PQclear(res);
        res = NULL;
    }
    d->result[d->ndone] = res;
    d->status[d->ndone] = st;
    d->ndone++;
    d->done(d->arg);
}

static void complete_list(struct db_defer *list, enum db_status st)
{
    while (list) {
        struct db_defer *next = list->queue;
        complete(list, st, NULL);
        list = next;
    }
}

void db_defer_submit(struct db_defer *d)
{
    struct db_reactor *rx = d->reactor;
    d->queue = NULL;
    d->seen = 0;
    d->prepared_here = false;
    pthread_mutex_lock(&rx->lock);
    bool stopping = rx->stopping, was_empty = rx->queue == NULL;
    if (!stopping) {
        *rx->queue_tail = d;
        rx->queue_tail = &d->queue;
    }
    pthread_mutex_unlock(&rx->lock);
    if (stopping) {
        complete(d, DB_UNAVAILABLE, NULL);
        return;
    }
    /* A reactor that has reads queued has been woken already and takes the whole queue. */
    uint64_t one = 1;
    if (was_empty && write(rx->wake_fd, &one, sizeof one) != (ssize_t)sizeof one)
        log_warn("reactor: cannot wake it: %s", strerror(errno));
}

static void watch(struct db_reactor *rx, struct session *s, int op)
{
    struct epoll_event ev = {.events = EPOLLIN | (s->want_write ? EPOLLOUT : 0u), .data.ptr = s};
    if (epoll_ctl(rx->epoll_fd, op, s->fd, &ev) != 0 && op != EPOLL_CTL_DEL)
        log_warn("reactor: epoll_ctl: %s", strerror(errno));
}

/* Gives the session back to the pool; its reads in flight (if any) are answered with st. */
static void session_end(struct db_reactor *rx, struct session *s, enum db_status st)
{
    if (s->fd >= 0) {
        struct epoll_event ev = {0};
        epoll_ctl(rx->epoll_fd, EPOLL_CTL_DEL, s->fd, &ev);
    }
    complete_list(s->head, st);
    db_async_end(s->conn);
    db_release(rx->pool, s->conn);
    *s = rx->sessions[--rx->nsessions]; /* the last one takes its place */
    if (s < rx->sessions + rx->nsessions)
        watch(rx, s, EPOLL_CTL_MOD); /* its epoll data pointed at the old place */
}

/* Takes one more session: waiting for one only when the reactor holds none. */
static struct session *session_take(struct db_reactor *rx)
{
    struct db_conn *c;
    enum db_status st =
        rx->nsessions ? db_acquire_now(rx->pool, &c) : db_acquire(rx->pool, &c);
    if (st != DB_OK)
        return NULL;
    if (db_async_begin(c) != DB_OK) {
        db_release(rx->pool, c);
        return NULL;
    }
    struct session *s = &rx->sessions[rx->nsessions++];
    *s = (struct session){.conn = c, .fd = db_async_socket(c)};
    watch(rx, s, EPOLL_CTL_ADD);
    return s;
}

/* Where the next read goes: an idle session, else one more session, else the least busy. */
static struct session *session_for_next(struct db_reactor *rx)
{
    struct session *least = NULL;
    for (unsigned i = 0; i < rx->nsessions; i++) {
        struct session *s = &rx->sessions[i];
        if (!least || s->inflight < least->inflight)
            least = s;
    }
    if (least && least->inflight == 0)
        return least;
    if (rx->nsessions < rx->max_sessions) {
        struct session *s = session_take(rx);
        if (s)
            return s;
        /* session_take may have moved nothing, but least is still valid: sessions are only
         * appended there. */
    }
    return least && least->inflight < DEPTH ? least : NULL;
}

static void flush(struct db_reactor *rx, struct session *s)
{
    int left = db_async_flush(s->conn);
    if (left < 0) {
        session_end(rx, s, DB_UNAVAILABLE);
        return;
    }
    if ((left == 1) != s->want_write) {
        s->want_write = left == 1;
        watch(rx, s, EPOLL_CTL_MOD);
    }
}

/* Ends the reads sent on s since its last sync (PQpipelineSync sends them); false when the
 * session failed (end it). */
static bool sync_reads(struct session *s)
{
    if (db_async_sync(s->conn) != DB_OK)
        return false;
    s->unsynced = 0;
    s->syncs++;
    return true;
}

/* Sends the pending reads the sessions have room for. */
static void send_pending(struct db_reactor *rx)
{
    while (rx->pending) {
        struct session *s = session_for_next(rx);
        if (!s) {
            if (rx->nsessions == 0) { /* no session to be had: the database is unavailable */
                complete_list(rx->pending, DB_UNAVAILABLE);
                rx->pending = NULL;
                rx->pending_tail = &rx->pending;
            }
            break;
        }
        struct db_defer *d = rx->pending;
        rx->pending = d->queue;
        if (!rx->pending)
            rx->pending_tail = &rx->pending;
        d->queue = NULL;
        /* A read sent again after another one of its sync failed goes alone. */
        bool ok = !(d->alone && s->unsynced) || sync_reads(s);
        ok = ok &&
             db_async_send(s->conn, d->stmt, d->nparams, d->values, &d->prepared_here) == DB_OK;
        if (ok) {
            if (s->tail)
                s->tail->queue = d;
            else
                s->head = d;
            s->tail = d;
            s->inflight++;
            s->unsynced++;
        }
        if (!ok || (d->alone && !sync_reads(s))) {
            if (!ok)
                complete(d, DB_UNAVAILABLE, NULL);
            session_end(rx, s, DB_UNAVAILABLE);
        }
    }
    /* One sync for what each session got: the reads come back in one flight. */
    for (unsigned i = rx->nsessions; i-- > 0;) {
        struct session *s = &rx->sessions[i];
        if (s->unsynced && !sync_reads(s))
            session_end(rx, s, DB_UNAVAILABLE);
        else
            flush(rx, s);
    }
}

/* A read of a sync that failed because another read before it in the same sync did: sent
 * again, first, alone. */
static void send_again(struct db_reactor *rx, struct db_defer *d)
{
    d->result[d->ndone] = NULL;
    d->status[d->ndone] = DB_OK;
    d->seen = 0;
    d->prepared_here = false;
    d->alone = true;
    d->queue = rx->pending;
    if (!rx->pending)
        rx->pending_tail = &d->queue;
    rx->pending = d;
}

/* Reads the answers that arrived on s, completing each read whose results ended. False when
 * the session ended. */
static bool receive(struct db_reactor *rx, struct session *s)
{
    if (db_async_input(s->conn) != DB_OK) {
        session_end(rx, s, DB_UNAVAILABLE);
        return false;
    }
    bool aborted = false; /* the read at the head was skipped for an earlier failure */
    int nulls = 0;
    while (s->head || s->syncs) {
        PGresult *r;
        if (!db_async_next(s->conn, &r))
            break;
        struct db_defer *d = s->head;
        if (!r) { /* one statement's results ended */
            if (++nulls > 1 && !d)
                break; /* nothing more is coming before more input */
            if (!d || ++d->seen < (d->prepared_here ? 2 : 1))
                continue;
            s->head = d->queue;
            if (!s->head)
                s->tail = NULL;
            s->inflight--;
            int at = d->ndone;
            if (aborted) {
                aborted = false;
                send_again(rx, d);
            } else {
                PGresult *answer = d->result[at];
                d->result[at] = NULL;
                complete(d, d->status[at], answer);
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
        int at = d->ndone; /* where its answer goes */
        if (rs == PGRES_TUPLES_OK || rs == PGRES_COMMAND_OK) {
            if (d->seen == (d->prepared_here ? 1 : 0) && d->status[at] == DB_OK) {
                PQclear(d->result[at]);
                d->result[at] = r;
            } else {
                PQclear(r); /* the PREPARE's */
            }
            continue;
        }
        if (d->prepared_here && d->seen == 0)
            db_async_unprepare(s->conn, d->stmt);
        if (rs == PGRES_PIPELINE_ABORTED && d->status[at] == DB_OK) {
            aborted = true;
            PQclear(r);
            continue;
        }
        enum db_status st =
            d->status[at] == DB_OK ? db_async_failed(s->conn, d->stmt, r) : d->status[at];
        PQclear(r);
        if (st == DB_UNAVAILABLE) {
            session_end(rx, s, DB_UNAVAILABLE);
            return false;
        }
        d->status[at] = st;
    }
    return true;
}

static void *reactor_main(void *arg)
{
    struct db_reactor *rx = arg;
    for (;;) {
        struct epoll_event evs[MAX_SESSIONS + 1];
        int n = epoll_wait(rx->epoll_fd, evs, MAX_SESSIONS + 1, -1);
        if (n < 0 && errno != EINTR) {
            log_error("reactor: epoll_wait: %s", strerror(errno));
            n = 0;
        }
        /* Sessions may move (session_end), so the events name them by connection. */
        struct db_conn *ready[MAX_SESSIONS + 1];
        unsigned writable = 0, nready = 0;
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL) {
                uint64_t count;
                if (read(rx->wake_fd, &count, sizeof count) < 0 && errno != EAGAIN)
                    log_warn("reactor: eventfd: %s", strerror(errno));
                continue;
            }
            struct session *s = evs[i].data.ptr;
            if (evs[i].events & EPOLLOUT)
                writable |= 1u << nready;
            ready[nready++] = s->conn;
        }
        for (unsigned i = 0; i < nready; i++)
            for (unsigned j = 0; j < rx->nsessions; j++) {
                struct session *s = &rx->sessions[j];
                if (s->conn != ready[i])
                    continue;
                if (receive(rx, s) && (writable & (1u << i)))
                    flush(rx, s);
                break;
            }
        pthread_mutex_lock(&rx->lock);
        struct db_defer *queued = rx->queue;
        rx->queue = NULL;
        rx->queue_tail = &rx->queue;
        bool stopping = rx->stopping;
        pthread_mutex_unlock(&rx->lock);
        if (queued) {
            *rx->pending_tail = queued;
            while (*rx->pending_tail)
                rx->pending_tail = &(*rx->pending_tail)->queue;
        }
        if (stopping)
            break;
        send_pending(rx);
        /* Idle sessions go back to the pool, for the workers' writes. */
        for (unsigned j = rx->nsessions; j-- > 0;)
            if (rx->sessions[j].inflight == 0 && rx->sessions[j].syncs == 0 && !rx->pending)
                session_end(rx, &rx->sessions[j], DB_OK);
    }
    complete_list(rx->pending, DB_UNAVAILABLE);
    rx->pending = NULL;
    while (rx->nsessions)
        session_end(rx, &rx->sessions[rx->nsessions - 1], DB_UNAVAILABLE);
    return NULL;
}

enum db_status db_reactor_start(struct db_pool *pool, unsigned sessions, struct db_reactor **out)
{
    struct db_reactor *rx = calloc(1, sizeof *rx);
    if (!rx)
        return DB_ERROR;
    rx->pool = pool;
    rx->queue_tail = &rx->queue;
    rx->pending_tail = &rx->pending;
    rx->max_sessions = sessions < 1 ? 1 : sessions > MAX_SESSIONS ? MAX_SESSIONS : sessions;
    rx->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    rx->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (rx->wake_fd < 0 || rx->epoll_fd < 0 ||
        epoll_ctl(rx->epoll_fd, EPOLL_CTL_ADD, rx->wake_fd, &ev) != 0)
        goto fail;
    pthread_mutex_init(&rx->lock, NULL);
    if (pthread_create(&rx->thread, NULL, reactor_main, rx) != 0) {
        pthread_mutex_destroy(&rx->lock);
        goto fail;
    }
    *out = rx;
    return DB_OK;
fail:
    log_error("reactor: cannot start: %s", strerror(errno));
    if (rx->wake_fd >= 0)
        close(rx->wake_fd);
    if (rx->epoll_fd >= 0)
        close(rx->epoll_fd);
    free(rx);
    return DB_ERROR;
}

void db_reactor_stop(struct db_reactor *rx)
{
    if (!rx)
        return;
    pthread_mutex_lock(&rx->lock);
    rx->stopping = true;
    struct db_defer *queued = rx->queue;
    rx->queue = NULL;
    rx->queue_tail = &rx->queue;
    pthread_mutex_unlock(&rx->lock);
    complete_list(queued, DB_UNAVAILABLE);
    uint64_t one = 1;
    if (write(rx->wake_fd, &one, sizeof one) != (ssize_t)sizeof one)
        log_warn("reactor: cannot wake it to stop: %s", strerror(errno));
    pthread_join(rx->thread, NULL);
}

void db_reactor_free(struct db_reactor *rx)
{
    if (!rx)
        return;
    close(rx->wake_fd);
    close(rx->epoll_fd);
    pthread_mutex_destroy(&rx->lock);
    free(rx);
}
