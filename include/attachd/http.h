/* What a handler sees of a request and fills in of a response. */
#ifndef ATTACHD_HTTP_H
#define ATTACHD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include "attachd/auth.h"
#include "attachd/db.h"
#include "attachd/problem.h"

struct MHD_Connection;
struct MHD_Response;
struct route;

#define ROUTE_MAX_PARAMS 3

struct app {
    struct db_pool *db;
    size_t body_limit;
};

struct request {
    struct app *app;
    struct MHD_Connection *conn; /* NULL in unit tests */
    const char *method;
    const char *path;
    const struct route *route;
    const char *params[ROUTE_MAX_PARAMS]; /* path parameters, in pattern order */
    char param_buf[256];
    struct principal who;
    char *body; /* owned, NUL-terminated */
    size_t body_len, body_cap;
    bool body_too_large;
    double started; /* monotonic seconds */
    /* X-Request-Id: the client's (1-200 printable ASCII) or one made here; echoed on the answer
     * and in the request's log line. Empty without a connection. */
    char request_id[201];
    /* Only without a connection (conn NULL: unit tests, fuzz targets), never on the wire:
     * headers and query arguments as NULL-terminated name, value, name, value, ... lists (NULL:
     * none), and `who` already authenticated, so the token check is skipped (the role check is
     * not). */
    const char *const *stub_headers;
    const char *const *stub_query;
    bool stub_authenticated;
    /* Its reads answered without a worker waiting (db.h, "Deferred reads"): GET and HEAD off
     * the wire only. */
    struct db_defer defer;
};

struct response {
    unsigned status;
    json_t *json;                /* owned body, serialised on send */
    struct MHD_Response *shared; /* or a prepared response, borrowed reference */
    const char *content_type;    /* default application/json */
    char *raw;                   /* or raw bytes, owned */
    size_t raw_len;
    struct MHD_Response *stream; /* or a streamed body (res_stream), owned */
    enum api_status problem;     /* when not API_OK the body is problem+json */
    char detail[300];
    json_t *errors; /* validation errors [{"field":..,"message":..}] */
    json_t *extra;  /* extra members merged into the problem body */
    char location[160];
    char allow[64];           /* 405: the methods the path accepts */
    bool idempotent_replayed; /* adds Idempotent-Replayed: true (§12) */
    /* Long polling: a handler whose answer has nothing new sets wait_seconds (counted from the
     * request's start) and the position its answer reflects; the server then holds the request
     * without a thread until a later position exists or the time is up, and runs the handler
     * again (see server.c, "Parking"). The answer already in `res` is used when it cannot
     * wait. */
    int wait_seconds;
    long long wait_seen;
};

/* Query argument or header, NULL when absent. */
const char *req_query(const struct request *req, const char *name);
const char *req_header(const struct request *req, const char *name);
/* Calls fn with the name of each query argument, in order, until it returns false. */
void req_query_each(const struct request *req, bool (*fn)(void *cls, const char *name), void *cls);

/* Parses the body as a JSON object: 415 when Content-Type is not JSON, 400 when the body is
 * not JSON (duplicate keys included), 422 when it is not an object. */
enum api_status req_json_object(const struct request *req, struct response *res, json_t **out);

/* Sets a JSON body (stolen) and status. Returns API_OK. */
enum api_status res_json(struct response *res, unsigned status, json_t *body);
/* Answers with JSON text rendered elsewhere (the database), taking ownership of `text`. A NULL
 * text (out of memory) is a 500. */
enum api_status res_json_text(struct response *res, unsigned status, char *text);
/* The usual end of a read handler: a failed query is its problem (503, ...); no document is a
 * 404 with the formatted detail (fmt NULL: the query always answers, so none is a 500); else
 * 200 with the document, whose ownership is taken. */
enum api_status res_db_json(struct response *res, enum db_status st, char *json, const char *fmt,
                            ...) __attribute__((format(printf, 4, 5)));
/* A streamed body: fills buf with 1 to max bytes and returns how many, 0 at the end of the body,
 * -1 on a failure (the connection is then cut: the client sees the body end early). Called from
 * the server's thread after the handler has returned, as the client reads. */
typedef long (*stream_read_fn)(void *ctx, char *buf, size_t max);
/* Answers 200 with a body of unknown length (chunked) read from `read`; free_ctx(ctx) is called
 * once when the response is done with (sent, abandoned or never queued). On failure (out of
 * memory) ctx is freed at once and the answer is a 500. */
enum api_status res_stream(struct response *res, const char *content_type, stream_read_fn read,
                           void *ctx, void (*free_ctx)(void *ctx));
/* True when the Accept header asks for text/csv (the reports and the population list answer CSV
 * then, JSON otherwise). */
bool req_accepts_csv(const struct request *req);

/* Makes the response a problem: status, code and title from the table, detail formatted. */
enum api_status res_problem(struct response *res, enum api_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Adds a validation error (field path like "person.iin") to the response. */
void res_field_error(struct response *res, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* 422 with the collected field errors, or API_OK when none were added. */
enum api_status res_validation_result(struct response *res);
/* Maps a failed database status to its problem (503 unavailable, 409 conflicts, 500 ...). */
enum api_status res_db_problem(struct response *res, enum db_status st);
/* Serialises a problem body for st with detail (caller frees). Used by the server too. */
char *problem_body(enum api_status st, const char *detail, json_t *errors, json_t *extra,
                   const char *instance);

/* Reads the paging arguments `cursor` (the last id of the previous page) and `limit` (1 to
 * max, default def), adding a field error for each bad one. */
void req_page(const struct request *req, struct response *res, int def, int max,
              long long *after_id, int *limit);

/* Integer parsing for ids and query numbers: all digits, within [min, max]. */
bool parse_ll(const char *s, long long min, long long max, long long *out);

#endif
