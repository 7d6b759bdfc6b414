/* libmicrohttpd glue: request lifecycle, authentication, dispatch, response sending.
 * The access handler answers on the second call at the earliest (never the first): a response
 * queued on the first call makes libmicrohttpd 0.9.75 close the connection, losing keep-alive. */
#include "attachd/server.h"

#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "attachd/db_events.h"
#include "attachd/log.h"
#include "attachd/metrics.h"
#include "attachd/openapi.h"
#include "attachd/router.h"

/* Request deadlines, the slow-loris guard. libmicrohttpd's connection timeout counts idle time
 * only: a client that sends a byte of its request now and then holds a connection forever, and
 * enough of them hold every connection ATTACHD_CONN_LIMIT allows, so nobody else is served. So a
 * connection has ATTACHD_CONN_TIMEOUT seconds, from its start or from the end of its previous
 * request, to deliver a whole request (head and body); a reaper thread shuts the socket of one
 * that does not down, and libmicrohttpd closes it as if the client had gone. A request being
 * handled or answered is not timed here (libmicrohttpd's idle timeout still applies). An entry
 * leaves the list on MHD_CONNECTION_NOTIFY_CLOSED, which libmicrohttpd sends before it closes
 * the socket; the reaper calls shutdown() under the same lock, so it never touches a descriptor
 * that was closed and reused. */
struct watched {
    struct watched *prev, *next;
    MHD_socket fd;
    bool shut;             /* under deadlines.lock */
    atomic_llong ready_ms; /* when it became ready for a request; -1 while one is handled */
};

struct deadlines {
    pthread_mutex_t lock; /* the list; shutdown() against libmicrohttpd closing the socket */
    struct watched *head;
    long long limit_ms;
    pthread_t reaper;
    bool reaper_running;
    atomic_bool stop;
};

/* Parking: long polling without a thread per waiting request. A handler with nothing new to
 * say asks to wait (response.wait_seconds); its connection is suspended (libmicrohttpd stops
 * polling it, and it holds neither a worker thread nor a database connection) and goes on the
 * parked list. One waker thread looks every WAKE_MS at the highest event position (one query,
 * which also stamps what has committed: events_latest) and resumes each parked request whose
 * answer reflected a lower one, or whose time is up, or all of them when the server stops;
 * libmicrohttpd then calls the access handler again and the handler runs again: it answers, or
 * parks again until its own deadline. At most `cap` requests park (half the connection limit,
 * so waiting readers never take every connection); past it a request answers at once. A
 * request is suspended and resumed only under `lock`, so the waker never resumes one that is
 * not suspended yet. Suspended connections do not time out in libmicrohttpd. */
#define WAKE_MS 150

/* Workers: ATTACHD_THREADS event loops, each with its own libmicrohttpd daemon on the one
 * listening socket (each accepts what it can take, as libmicrohttpd's own thread pool does) and
 * its own reactor for the reads its requests defer (db.h, "Deferred reads"). A loop waits on
 * the daemon's epoll set, the reactor's session and its wake signal; libmicrohttpd runs it in
 * its external-polling mode. A handler that waits (a write) blocks its loop, as one blocked a
 * thread of libmicrohttpd's pool before; a deferred read does not. A request stays on the
 * worker that accepted its connection, from its first pass to its last. */
struct worker {
    struct server *srv;
    struct MHD_Daemon *daemon;
    struct db_reactor *reactor; /* NULL: its reads wait on a pooled connection */
    MHD_socket listener;        /* its listening socket once quiesced (server_stop) */
    int epoll_fd;
    int wake_fd;      /* eventfd: run libmicrohttpd now (a request resumed by another thread) */
    atomic_bool stop; /* and leave the loop */
    pthread_t thread;
    bool running;
};

static _Thread_local struct worker *this_worker; /* the worker whose loop runs this thread */

/* A worker before worker_open and after worker_close: nothing held. */
static const struct worker worker_unopened = {
    .listener = MHD_INVALID_SOCKET, .epoll_fd = -1, .wake_fd = -1};

/* What woke a worker's loop (its epoll data). */
enum worker_event { EV_HTTP, EV_READS, EV_WAKE };

/* libmicrohttpd in external-polling mode has no signal of its own: a request resumed by another
 * thread (a parked one) is run when its worker's loop is told to. */
static void worker_kick(struct worker *w)
{
    uint64_t one = 1;
    if (w && write(w->wake_fd, &one, sizeof one) != (ssize_t)sizeof one)
        log_warn("cannot wake a worker: %s", strerror(errno));
}

struct parked {
    struct parked *next;
    struct MHD_Connection *conn;
    struct worker *worker; /* whose loop runs the request's next pass */
    double until;          /* monotonic seconds */
    long long seen;        /* the highest event position the parked answer reflected */
};

struct parking {
    pthread_mutex_t lock; /* the list, and suspend/resume of the connections on it */
    struct parked *head;
    unsigned count, cap;
    pthread_t waker;
    atomic_bool waker_running; /* read by the worker threads */
    atomic_bool stop;
};

struct server {
    struct worker *workers;
    unsigned nworkers;
    struct app *app;
    atomic_int inflight;
    struct deadlines deadlines;
    struct parking parking;
    atomic_bool draining; /* set by server_stop: every answer then closes its connection */
};

static double now_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long long now_ms(void)
{
    return (long long)(now_monotonic() * 1e3);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct deadlines *dl = &((struct server *)cls)->deadlines;
    struct watched *w = *socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        w = ci ? calloc(1, sizeof *w) : NULL;
        if (!w)
            return; /* not timed: libmicrohttpd's idle timeout still applies */
        w->fd = ci->connect_fd;
        atomic_init(&w->ready_ms, now_ms());
        pthread_mutex_lock(&dl->lock);
        w->next = dl->head;
        if (dl->head)
            dl->head->prev = w;
        dl->head = w;
        pthread_mutex_unlock(&dl->lock);
        *socket_context = w;
    } else if (w) {
        pthread_mutex_lock(&dl->lock);
        if (w->prev)
            w->prev->next = w->next;
        else
            dl->head = w->next;
        if (w->next)
            w->next->prev = w->prev;
        pthread_mutex_unlock(&dl->lock);
        free(w);
        *socket_context = NULL;
    }
}

/* Marks the connection's request as received in full (ready_ms -1) or its answer as done. */
static void deadline_mark(struct MHD_Connection *conn, long long ready_ms)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct watched *w = ci ? ci->socket_context : NULL;
    if (w)
        atomic_store(&w->ready_ms, ready_ms);
}

static void *reaper_main(void *arg)
{
    struct deadlines *dl = arg;
    while (!atomic_load(&dl->stop)) {
        usleep(200 * 1000);
        long long now = now_ms();
        pthread_mutex_lock(&dl->lock);
        for (struct watched *w = dl->head; w; w = w->next) {
            long long ready = atomic_load(&w->ready_ms);
            if (!w->shut && ready >= 0 && now - ready > dl->limit_ms) {
                shutdown(w->fd, SHUT_RDWR);
                w->shut = true;
            }
        }
        pthread_mutex_unlock(&dl->lock);
    }
    return NULL;
}

/* Authenticates when the route needs it; API_OK when the principal may call the route. */
static enum api_status authorize(struct request *req, struct response *res)
{
    if (!req->route->roles)
        return API_OK;
    /* A caller without a connection (a test) may bring its principal; a request off the wire
     * never can, since on_access always sets conn. */
    enum auth_status as = AUTH_OK;
    if (req->conn || !req->stub_authenticated)
        as = auth_check(req->app->db, req_header(req, MHD_HTTP_HEADER_AUTHORIZATION), &req->who);
    switch (as) {
    case AUTH_OK:
        break;
    case AUTH_MISSING:
        return res_problem(res, API_UNAUTHORIZED, "Send Authorization: Bearer <token>");
    case AUTH_INVALID:
        return res_problem(res, API_UNAUTHORIZED, "The token is unknown or revoked");
    case AUTH_DB_UNAVAILABLE:
        return res_problem(res, API_DB_UNAVAILABLE, "Cannot check the token now");
    }
    if (!(req->route->roles & (unsigned)req->who.role))
        return res_problem(res, API_FORBIDDEN, "The %s role may not call %s %s",
                           role_name(req->who.role), req->route->method, req->route->pattern);
    return API_OK;
}

/* Names the principal for the audit trail: "role<TAB>token id<TAB>name" (tabs in the name become
 * spaces). */
static void set_actor(const struct principal *who)
{
    if (who->role == ROLE_NONE) {
        db_set_actor(NULL);
        return;
    }
    char actor[160];
    int n = snprintf(actor, sizeof actor, "%s\t%lld\t", role_name(who->role), who->token_id);
    for (const char *p = who->name; *p && n > 0 && (size_t)n < sizeof actor - 1; p++)
        actor[n++] = *p == '\t' ? ' ' : *p;
    if (n > 0 && (size_t)n < sizeof actor)
        actor[n] = '\0';
    db_set_actor(actor);
}

struct query_check {
    const struct request *req;
    struct response *res;
};

static bool query_check_one(void *cls, const char *name)
{
    struct query_check *qc = cls;
    const struct route *r = qc->req->route;
    if (!openapi_query_declared(r, name)) {
        const char *known = openapi_query_names(r);
        res_field_error(qc->res, name, "is not a query parameter of %s %s (%s%s)", r->method,
                        r->pattern, *known ? "known: " : "it takes none", known);
    }
    return true;
}

/* Strict queries (SPEC §11): a query parameter the route's operation does not declare in the
 * OpenAPI document is a 422 naming it, as an unknown body member is, before the handler runs.
 * The document is the one list, so what it says and what the service takes cannot differ. */
static enum api_status check_query(const struct request *req, struct response *res)
{
    struct query_check qc = {req, res};
    req_query_each(req, query_check_one, &qc);
    return res_validation_result(res);
}

void server_dispatch(struct request *req, struct response *res)
{
    char allow[64];
    const struct route *route = NULL;
    /* HEAD is GET without a body; libmicrohttpd leaves the body out. */
    const char *method = strcmp(req->method, "HEAD") == 0 ? "GET" : req->method;
    enum route_result rr =
        router_match(attachd_routes, attachd_nroutes, method, req->path, &route, req->params,
                     req->param_buf, sizeof req->param_buf, allow, sizeof allow);
    if (rr == ROUTE_NOT_FOUND) {
        res_problem(res, API_ROUTE_NOT_FOUND, "No route for %.100s", req->path);
        return;
    }
    if (rr == ROUTE_METHOD_NOT_ALLOWED) {
        snprintf(res->allow, sizeof res->allow, "%s", allow);
        res_problem(res, API_METHOD_NOT_ALLOWED, "Allowed: %s", allow);
        return;
    }
    req->route = route;
    if (req->body_too_large) {
        res_problem(res, API_PAYLOAD_TOO_LARGE, "The body limit is %zu bytes",
                    req->app->body_limit);
        return;
    }
    if (authorize(req, res) != API_OK || check_query(req, res) != API_OK)
        return;
    set_actor(&req->who);
    enum api_status st = route->handler(req, res);
    db_set_actor(NULL);
    if (st != API_OK && res->problem == API_OK)
        res_problem(res, st, NULL);
}

static void add_header(struct MHD_Response *r, const char *name, const char *value)
{
    if (MHD_add_response_header(r, name, value) != MHD_YES)
        log_warn("cannot add response header %s", name);
}

/* Turns the handler's outcome into a libmicrohttpd response and queues it; `closing` (the server
 * is stopping) adds Connection: close. Every answer carries the request's X-Request-Id (a
 * prepared `shared` response cannot: nothing uses one today). */
static enum MHD_Result send_response(struct MHD_Connection *conn, const struct request *req,
                                     struct response *res, bool closing)
{
    struct MHD_Response *mr = NULL;
    bool owned = !res->shared;
    if (res->shared) {
        mr = res->shared;
    } else if (res->stream && res->problem == API_OK) {
        mr = res->stream; /* ours now: destroyed below once queued (libmicrohttpd keeps a ref) */
        res->stream = NULL;
        add_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, res->content_type);
        if (req->request_id[0]) /* every answer carries it, a streamed CSV download too */
            add_header(mr, "X-Request-Id", req->request_id);
        if (closing)
            add_header(mr, MHD_HTTP_HEADER_CONNECTION, "close");
    } else {
        char *body = NULL;
        size_t len = 0;
        const char *ctype = res->content_type ? res->content_type : "application/json";
        if (res->problem != API_OK) {
            body = problem_body(res->problem, res->detail, res->errors, res->extra, NULL);
            ctype = "application/problem+json";
        } else if (res->json) {
            body = json_dumps(res->json, JSON_COMPACT);
        } else if (res->raw) {
            body = res->raw;
            len = res->raw_len;
            res->raw = NULL;
        }
        if (body && !len)
            len = strlen(body);
        mr = MHD_create_response_from_buffer(len, body ? body : (char *)"",
                                             body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
        if (!mr) {
            free(body);
            return MHD_NO;
        }
        add_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
        if (res->status == 503)
            add_header(mr, MHD_HTTP_HEADER_RETRY_AFTER, "2");
        if (res->status == 401)
            add_header(mr, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
        if (res->status == 405)
            add_header(mr, MHD_HTTP_HEADER_ALLOW, res->allow);
        else if (res->location[0])
            add_header(mr, MHD_HTTP_HEADER_LOCATION, res->location);
        if (res->idempotent_replayed)
            add_header(mr, "Idempotent-Replayed", "true");
        if (closing)
            add_header(mr, MHD_HTTP_HEADER_CONNECTION, "close");
        if (req->request_id[0])
            add_header(mr, "X-Request-Id", req->request_id);
    }
    enum MHD_Result ok = MHD_queue_response(conn, res->status ? res->status : 200, mr);
    if (owned)
        MHD_destroy_response(mr);
    return ok;
}

static void response_clear(struct response *res)
{
    json_decref(res->json);
    json_decref(res->errors);
    json_decref(res->extra);
    free(res->raw);
    if (res->stream)
        MHD_destroy_response(res->stream);
}

static void finish(struct request *req, const struct response *res)
{
    double elapsed = now_monotonic() - req->started;
    size_t idx = req->route ? (size_t)(req->route - attachd_routes) : attachd_nroutes;
    metrics_record(idx, res->status, elapsed);
    /* The route pattern, not the path: paths may carry an IIN. */
    const char *what = req->route ? req->route->pattern : "-";
    if (res->status == 503) {
        /* An outage answers thousands of 503s a second: one line a second says it all. */
        static atomic_long suppressed;
        static _Atomic double last_logged;
        double now = now_monotonic(), last = atomic_load(&last_logged);
        if (now - last >= 1.0 && atomic_compare_exchange_strong(&last_logged, &last, now))
            log_warn("%s %s -> 503 %s (%.1f ms; %ld more 503s since the last such line)",
                     req->method, what, res->detail, elapsed * 1e3,
                     atomic_exchange(&suppressed, 0));
        else
            atomic_fetch_add(&suppressed, 1);
    } else if (res->status >= 500)
        log_warn("%s %s -> %u %s (%.1f ms)", req->method, what, res->status, res->detail,
                 elapsed * 1e3);
    bool who = req->who.role != ROLE_NONE;
    struct request_log line = {.request_id = req->request_id,
                               .method = req->method,
                               .route = req->route ? req->route->pattern : NULL,
                               .status = res->status ? res->status : 200,
                               .ms = elapsed * 1e3,
                               .role = who ? role_name(req->who.role) : NULL,
                               .token_id = req->who.token_id,
                               .token_name = req->who.name};
    log_request(&line);
}

/* The generator of request ids: splitmix64, seeded once per thread from getrandom(). An id needs
 * to be unique, not secret; a getrandom() call and sixteen snprintf() per request were a few
 * per cent of attachd's CPU on the cheapest reads (bench/README.md, "Reads on a 20 M register"). */
static _Thread_local uint64_t rid_state;
static _Thread_local bool rid_seeded;

static uint64_t rid_next(void)
{
    if (!rid_seeded) {
        if (getrandom(&rid_state, sizeof rid_state, 0) != (ssize_t)sizeof rid_state) {
            /* No entropy to be had: unique enough within this process for tracing. */
            static atomic_ullong counter;
            double t = now_monotonic();
            uint64_t bits;
            memcpy(&bits, &t, sizeof bits);
            rid_state = bits ^ ((uint64_t)atomic_fetch_add(&counter, 1) << 32);
        }
        rid_seeded = true;
    }
    uint64_t z = (rid_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* X-Request-Id from the client when it is 1 to 200 printable ASCII characters, else 16 random
 * bytes in hex, e.g. 3f2a9c01-7be45d10-0c9e8a2f-51d6b3e4. */
static void set_request_id(struct request *req)
{
    const char *given = req_header(req, "X-Request-Id");
    size_t len = given ? strnlen(given, 201) : 0;
    bool ok = len >= 1 && len <= 200;
    for (size_t i = 0; ok && i < len; i++)
        ok = given[i] >= 0x20 && given[i] <= 0x7e;
    if (ok) {
        memcpy(req->request_id, given, len + 1);
        return;
    }
    static const char hex[] = "0123456789abcdef";
    uint64_t words[2] = {rid_next(), rid_next()};
    unsigned char raw[16];
    memcpy(raw, words, sizeof raw);
    /* In groups of 8 hex digits: an unbroken run of 12 decimal digits (one id in 14 would have
     * one) would be masked in the log as a possible IIN. */
    char *out = req->request_id;
    for (size_t i = 0; i < sizeof raw; i++) {
        if (i && i % 4 == 0)
            *out++ = '-';
        *out++ = hex[raw[i] >> 4];
        *out++ = hex[raw[i] & 15];
    }
    *out = '\0';
}

/* Parks the request if its answer asked to wait and it may (see "Parking"); true when it did. */
static bool park(struct server *srv, struct MHD_Connection *conn, const struct request *req,
                 const struct response *res)
{
    struct parking *pk = &srv->parking;
    double until = req->started + res->wait_seconds;
    if (res->wait_seconds <= 0 || res->problem != API_OK || now_monotonic() >= until ||
        atomic_load(&srv->draining) || !atomic_load(&pk->waker_running))
        return false;
    struct parked *p = calloc(1, sizeof *p);
    if (!p)
        return false;
    p->conn = conn;
    p->worker = this_worker;
    p->until = until;
    p->seen = res->wait_seen;
    pthread_mutex_lock(&pk->lock);
    bool room = pk->count < pk->cap;
    if (room) {
        p->next = pk->head;
        pk->head = p;
        pk->count++;
        MHD_suspend_connection(conn);
    }
    pthread_mutex_unlock(&pk->lock);
    if (!room)
        free(p);
    return room;
}

/* Resumes the parked requests that should answer now: all when `everyone`. */
static void wake(struct parking *pk, long long latest, bool everyone)
{
    double now = now_monotonic();
    pthread_mutex_lock(&pk->lock);
    for (struct parked **pp = &pk->head; *pp;) {
        struct parked *p = *pp;
        if (everyone || now >= p->until || latest > p->seen) {
            *pp = p->next;
            pk->count--;
            MHD_resume_connection(p->conn);
            worker_kick(p->worker);
            free(p);
        } else {
            pp = &p->next;
        }
    }
    pthread_mutex_unlock(&pk->lock);
}

static void *waker_main(void *arg)
{
    struct server *srv = arg;
    struct parking *pk = &srv->parking;
    while (!atomic_load(&pk->stop)) {
        usleep(WAKE_MS * 1000);
        pthread_mutex_lock(&pk->lock);
        bool anyone = pk->head != NULL;
        pthread_mutex_unlock(&pk->lock);
        if (!anyone)
            continue;
        long long latest = -1; /* database unreachable: only deadlines wake */
        if (events_latest(srv->app->db, &latest) != DB_OK)
            latest = -1;
        wake(pk, latest, atomic_load(&srv->draining));
    }
    return NULL;
}

/* A deferred read's answer is in: libmicrohttpd runs the handler's next pass. */
static void resume_deferred(void *conn)
{
    MHD_resume_connection(conn);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
    (void)version;
    struct server *srv = cls;
    struct request *req = *con_cls;
    if (!req) {
        req = calloc(1, sizeof *req);
        if (!req)
            return MHD_NO;
        req->app = srv->app;
        req->conn = conn;
        req->method = method;
        req->path = url;
        req->started = now_monotonic();
        set_request_id(req);
        bool reads = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
        db_defer_init(&req->defer, reads && this_worker ? this_worker->reactor : NULL,
                      resume_deferred, conn);
        *con_cls = req;
        atomic_fetch_add(&srv->inflight, 1);
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > srv->app->body_limit)
            req->body_too_large = true; /* answered below, without reading the body */
        else
            return MHD_YES;
    }
    if (*upload_size && !req->body_too_large) {
        size_t need = req->body_len + *upload_size;
        if (need > req->app->body_limit) {
            req->body_too_large = true;
            free(req->body);
            req->body = NULL;
            req->body_len = 0;
        } else {
            if (need + 1 > req->body_cap) {
                size_t cap = req->body_cap ? req->body_cap * 2 : 4096;
                while (cap < need + 1)
                    cap *= 2;
                char *p = realloc(req->body, cap);
                if (!p)
                    return MHD_NO;
                req->body = p;
                req->body_cap = cap;
            }
            memcpy(req->body + req->body_len, upload, *upload_size);
            req->body_len = need;
            req->body[need] = '\0';
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size && req->body_too_large && req->body_len == 0 && !req->route) {
        /* Keep discarding an oversized body that had no Content-Length. */
        *upload_size = 0;
        return MHD_YES;
    }
    deadline_mark(conn, -1); /* the whole request is in: no deadline while it is handled */
    struct response res = {0};
    db_defer_pass(&req->defer);
    server_dispatch(req, &res);
    db_defer_pass(NULL);
    if (req->defer.waiting) {
        /* Reads were recorded: what the pass answered is dropped, and the next pass runs when
         * their answers are in. Suspended first, so that an answer cannot resume it before. */
        response_clear(&res);
        MHD_suspend_connection(conn);
        db_defer_submit(&req->defer);
        return MHD_YES;
    }
    if (park(srv, conn, req, &res)) {
        response_clear(&res);        /* the handler runs again when the request is resumed */
        db_defer_clear(&req->defer); /* and reads afresh */
        return MHD_YES;
    }
    enum MHD_Result ok = send_response(conn, req, &res, atomic_load(&srv->draining));
    finish(req, &res);
    response_clear(&res);
    return ok;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    struct server *srv = cls;
    struct request *req = *con_cls;
    deadline_mark(conn, now_ms()); /* the deadline of the next request starts now */
    if (!req)
        return;
    db_defer_clear(&req->defer);
    free(req->body);
    free(req);
    *con_cls = NULL;
    atomic_fetch_sub(&srv->inflight, 1);
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes a path or query argument in place as libmicrohttpd would (a malformed escape
 * stays as it is), except that "%00" stays too: decoded, its NUL would silently cut the string
 * short, so that "/v1/polyclinics/1%00/transfers" reached GET /v1/polyclinics/1. */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls, (void)conn;
    char *out = s;
    for (const char *in = s; *in;) {
        int hi = in[0] == '%' ? hex_value(in[1]) : -1;
        int lo = hi >= 0 ? hex_value(in[2]) : -1;
        if (lo >= 0 && (hi || lo)) {
            *out++ = (char)(hi * 16 + lo);
            in += 3;
        } else {
            *out++ = *in++;
        }
    }
    *out = '\0';
    return (size_t)(out - s);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t len = strlen(line);
    while (len && line[len - 1] == '\n')
        line[--len] = '\0';
    log_debug("libmicrohttpd: %s", line);
}

/* A worker's loop: libmicrohttpd's events (and its timeouts), then the reactor's answers,
 * whose requests run their next pass at once. */
static void *worker_main(void *arg)
{
    struct worker *w = arg;
    this_worker = w;
    db_reactor_bind(w->reactor);
    bool resumed = false;
    for (;;) {
        /* A request resumed in the last turn may have left its answer for the next MHD_run
         * (libmicrohttpd sends it when it next looks at the socket): look again at once. */
        MHD_UNSIGNED_LONG_LONG to;
        int timeout = -1;
        if (resumed)
            timeout = 0;
        else if (MHD_get_timeout(w->daemon, &to) == MHD_YES)
            timeout = to > 1000 ? 1000 : (int)to;
        struct epoll_event evs[3];
        int n = epoll_wait(w->epoll_fd, evs, 3, timeout);
        for (int i = 0; i < n; i++)
            if (evs[i].data.u32 == EV_WAKE) {
                uint64_t count;
                if (read(w->wake_fd, &count, sizeof count) < 0 && errno != EAGAIN)
                    log_warn("worker: eventfd: %s", strerror(errno));
            }
        if (atomic_load(&w->stop))
            break;
        MHD_run(w->daemon);
        resumed = false;
        while (w->reactor && db_reactor_run(w->reactor)) {
            MHD_run(w->daemon);
            resumed = true;
        }
    }
    return NULL;
}

static bool watch_fd(int epoll_fd, int fd, uint32_t tag)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = tag};
    return fd >= 0 && epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) == 0;
}

/* The worker's daemon (on `listener` when given, else listening on the port itself), its
 * reactor and its loop's descriptors; false when it cannot be had. */
static bool worker_open(struct worker *w, const struct attachd_config *cfg, MHD_socket listener,
                        unsigned conn_limit)
{
    struct server *srv = w->srv;
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
                     (listener == MHD_INVALID_SOCKET ? MHD_USE_DUAL_STACK : 0u);
    struct MHD_OptionItem given[2] = {{MHD_OPTION_END, 0, NULL}, {MHD_OPTION_END, 0, NULL}};
    if (listener != MHD_INVALID_SOCKET)
        given[0] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, (intptr_t)listener, NULL};
    /* No MHD_OPTION_LISTENING_ADDRESS_REUSE: on Linux it sets SO_REUSEPORT, and a second attachd
     * started on the same port would then share its connections silently instead of failing.
     * libmicrohttpd's default (SO_REUSEADDR) already allows a restart over TIME_WAIT sockets. */
    for (int attempt = 0; attempt < 2 && !w->daemon; attempt++) {
        w->daemon = MHD_start_daemon(
            flags, (uint16_t)cfg->port, NULL, NULL, on_access, srv, MHD_OPTION_CONNECTION_LIMIT,
            conn_limit, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->conn_timeout,
            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024,
            MHD_OPTION_PER_IP_CONNECTION_LIMIT, 0u, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
            MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv, MHD_OPTION_UNESCAPE_CALLBACK,
            unescape, NULL, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_ARRAY, given,
            MHD_OPTION_END);
        flags &= ~(unsigned)MHD_USE_DUAL_STACK; /* no IPv6 here: IPv4 only */
    }
    if (!w->daemon)
        return false;
    if (db_reactor_new(srv->app->db, &w->reactor) != DB_OK)
        w->reactor = NULL; /* its reads wait, as they did before reactors */
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(w->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    w->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return di && watch_fd(w->epoll_fd, di->epoll_fd, EV_HTTP) &&
           (!w->reactor || watch_fd(w->epoll_fd, db_reactor_fd(w->reactor), EV_READS)) &&
           watch_fd(w->epoll_fd, w->wake_fd, EV_WAKE);
}

/* Stops the worker's loop (if running) and frees what it holds; requests still suspended on its
 * reactor are resumed (answered 503 by nobody: libmicrohttpd closes them). */
static void worker_close(struct worker *w)
{
    if (w->running) {
        atomic_store(&w->stop, true);
        worker_kick(w);
        pthread_join(w->thread, NULL);
        w->running = false;
    }
    db_reactor_stop(w->reactor); /* libmicrohttpd must not stop with suspended connections */
    if (w->daemon)
        MHD_stop_daemon(w->daemon); /* closes every connection: the deadline list empties */
    db_reactor_free(w->reactor);
    if (w->listener != MHD_INVALID_SOCKET)
        close(w->listener);
    if (w->epoll_fd >= 0)
        close(w->epoll_fd);
    if (w->wake_fd >= 0)
        close(w->wake_fd);
    *w = worker_unopened;
}

static void workers_close(struct server *srv)
{
    for (unsigned i = srv->nworkers; i-- > 0;) /* the first one's listening socket last */
        worker_close(&srv->workers[i]);
    free(srv->workers);
    srv->workers = NULL;
}

struct server *server_start(const struct attachd_config *cfg, struct app *app)
{
    struct server *srv = calloc(1, sizeof *srv);
    unsigned n = cfg->threads ? (unsigned)cfg->threads : 1;
    if (!srv || !(srv->workers = calloc(n, sizeof *srv->workers))) {
        free(srv);
        return NULL;
    }
    srv->app = app;
    srv->nworkers = n;
    pthread_mutex_init(&srv->deadlines.lock, NULL);
    srv->deadlines.limit_ms = (long long)cfg->conn_timeout * 1000;
    pthread_mutex_init(&srv->parking.lock, NULL);
    srv->parking.cap = cfg->conn_limit / 2 ? (unsigned)cfg->conn_limit / 2 : 1;
    unsigned limit = (unsigned)cfg->conn_limit / n ? (unsigned)cfg->conn_limit / n : 1;
    for (unsigned i = 0; i < n; i++)
        srv->workers[i] = worker_unopened;
    bool ok = true;
    for (unsigned i = 0; i < n && ok; i++) {
        struct worker *w = &srv->workers[i];
        w->srv = srv;
        MHD_socket listener = MHD_INVALID_SOCKET;
        if (i > 0) { /* the first worker's socket, each daemon owning a descriptor of it */
            const union MHD_DaemonInfo *di =
                MHD_get_daemon_info(srv->workers[0].daemon, MHD_DAEMON_INFO_LISTEN_FD);
            listener = di ? dup(di->listen_fd) : MHD_INVALID_SOCKET;
            if (listener == MHD_INVALID_SOCKET) {
                ok = false;
                break;
            }
        }
        ok = worker_open(w, cfg, listener, limit);
        if (!w->daemon && listener != MHD_INVALID_SOCKET)
            close(listener);
    }
    for (unsigned i = 0; i < n && ok; i++) {
        struct worker *w = &srv->workers[i];
        w->running = pthread_create(&w->thread, NULL, worker_main, w) == 0;
        ok = w->running;
    }
    if (!ok) {
        log_error("cannot listen on port %u", cfg->port);
        workers_close(srv);
        pthread_mutex_destroy(&srv->deadlines.lock);
        pthread_mutex_destroy(&srv->parking.lock);
        free(srv);
        return NULL;
    }
    int rc = pthread_create(&srv->deadlines.reaper, NULL, reaper_main, &srv->deadlines);
    srv->deadlines.reaper_running = rc == 0;
    if (rc != 0)
        log_warn("cannot start the request deadline thread (%s): only idle connections time out",
                 strerror(rc));
    rc = pthread_create(&srv->parking.waker, NULL, waker_main, srv);
    atomic_store(&srv->parking.waker_running, rc == 0);
    if (rc != 0)
        log_warn("cannot start the long-polling thread (%s): requests with wait answer at once",
                 strerror(rc));
    log_info("listening on port %u with %u worker threads", cfg->port, cfg->threads);
    return srv;
}

void server_stop(struct server *srv, unsigned grace_seconds)
{
    if (!srv)
        return;
    /* Keep-alive clients would otherwise keep sending requests on the connections they have,
     * keeping the wait below busy until the grace period ends and then losing the answers of
     * whatever was in flight: from here on every answer closes its connection. */
    atomic_store(&srv->draining, true);
    /* Quiescing only stops accept(): the kernel would still complete the handshakes of new
     * connections that nobody ever answers. Shutting the listening socket down (Linux) refuses
     * them at once and resets those waiting in the backlog; its descriptors are closed after
     * the daemons stop, as libmicrohttpd may look at them until then. */
    for (unsigned i = 0; i < srv->nworkers; i++)
        srv->workers[i].listener = MHD_quiesce_daemon(srv->workers[i].daemon);
    MHD_socket listener = srv->workers[0].listener;
    if (listener != MHD_INVALID_SOCKET && shutdown(listener, SHUT_RDWR) != 0)
        log_warn("cannot shut the listening socket down: %s", strerror(errno));
    /* The waker resumes every parked request now (draining): each answers what it has. */
    for (unsigned i = 0; i < grace_seconds * 20 && atomic_load(&srv->inflight) > 0; i++)
        usleep(50 * 1000);
    if (atomic_load(&srv->parking.waker_running)) {
        atomic_store(&srv->parking.stop, true);
        pthread_join(srv->parking.waker, NULL);
    }
    wake(&srv->parking, 0, true); /* libmicrohttpd must not stop with suspended connections */
    if (srv->deadlines.reaper_running) {
        atomic_store(&srv->deadlines.stop, true);
        pthread_join(srv->deadlines.reaper, NULL);
    }
    workers_close(srv);
    pthread_mutex_destroy(&srv->deadlines.lock);
    pthread_mutex_destroy(&srv->parking.lock);
    free(srv);
}
