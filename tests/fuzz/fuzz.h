/* What the fuzz targets share: a database pool that can never connect (so a handler that gets
 * past validation answers 503 at once), a request driven through server_dispatch without
 * libmicrohttpd, and the invariants every response must keep. A broken invariant is reported
 * on stderr and abort()s, which libFuzzer records as a crash with the input that caused it. */
#ifndef ATTACHD_TESTS_FUZZ_H
#define ATTACHD_TESTS_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "attachd/log.h"
#include "attachd/router.h"
#include "attachd/server.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_BODY_LIMIT 65536

/* The failed invariant, then abort(). */
#define fuzz_fail(...)                                                                             \
    do {                                                                                           \
        fprintf(stderr, "fuzz invariant broken at %s:%d: ", __FILE__, __LINE__);                   \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
        abort();                                                                                   \
    } while (0)

#define fuzz_check(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fuzz_fail(__VA_ARGS__);                                                                \
    } while (0)

/* An app whose database is a Unix socket in a directory that does not exist: every connect
 * fails at once (no network, no timeout), and the pool waits half a second before trying
 * again, answering DB_UNAVAILABLE meanwhile. Logging below errors is off: a failed connect
 * logs a warning. */
static inline struct app *fuzz_app(void)
{
    static struct app app;
    if (app.db)
        return &app;
    log_set_level(LOG_ERROR);
    struct db_pool *pool = NULL;
    if (db_pool_new("host=/nonexistent/attachd-fuzz port=1 connect_timeout=1 dbname=none", 1, 10,
                    &pool) != DB_OK)
        fuzz_fail("cannot make the database pool");
    app.db = pool;
    app.body_limit = FUZZ_BODY_LIMIT;
    return &app;
}

/* A request as on_access makes it, without a connection: body copied (NUL-terminated, owned;
 * over the limit it is dropped and flagged as on_access does), principal already authenticated
 * when role is not ROLE_NONE. */
static inline void fuzz_request(struct request *req, const char *method, const char *path,
                                const uint8_t *body, size_t body_len, const char *const *headers,
                                const char *const *query, enum role role)
{
    memset(req, 0, sizeof *req);
    req->app = fuzz_app();
    req->method = method;
    req->path = path;
    req->stub_headers = headers;
    req->stub_query = query;
    if (role != ROLE_NONE) {
        req->stub_authenticated = true;
        req->who.role = role;
        req->who.token_id = 1;
        req->who.polyclinic_id = role == ROLE_REGISTRAR ? 1 : 0;
        snprintf(req->who.name, sizeof req->who.name, "fuzz %s", role_name(role));
    }
    if (body_len > req->app->body_limit) {
        req->body_too_large = true;
        return;
    }
    req->body = malloc(body_len + 1);
    if (!req->body)
        fuzz_fail("out of memory");
    if (body_len)
        memcpy(req->body, body, body_len);
    req->body[body_len] = '\0';
    req->body_len = body_len;
    req->body_cap = body_len + 1;
}

static inline void fuzz_request_free(struct request *req)
{
    free(req->body);
    req->body = NULL;
}

static inline void fuzz_response_free(struct response *res)
{
    json_decref(res->json);
    json_decref(res->errors);
    json_decref(res->extra);
    free(res->raw);
    memset(res, 0, sizeof *res);
}

/* Parses text as JSON (any value); NULL with the reason on stderr when it is not. */
static inline json_t *fuzz_parse(const char *what, const char *text, size_t len)
{
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
    if (!doc)
        fprintf(stderr, "%s is not JSON (%s): %.*s\n", what, jerr.text,
                (int)(len > 300 ? 300 : len), text);
    return doc;
}

/* The problem body the server would send for res: valid JSON carrying the status, code, title,
 * the detail when there is one, and every collected field error as {field, message} strings. */
static inline void fuzz_check_problem(const struct response *res)
{
    const struct api_status_info *info = api_status_info(res->problem);
    fuzz_check(res->status == info->http_status, "status %u but problem %s is %u", res->status,
               info->code, info->http_status);
    char *text = problem_body(res->problem, res->detail, res->errors, res->extra, NULL);
    fuzz_check(text != NULL, "no problem body for %s", info->code);
    json_t *doc = fuzz_parse("problem body", text, strlen(text));
    fuzz_check(json_is_object(doc), "problem body is not a JSON object: %s", text);
    fuzz_check(json_integer_value(json_object_get(doc, "status")) == (json_int_t)res->status,
               "problem body status differs: %s", text);
    fuzz_check(json_string_value(json_object_get(doc, "code")) &&
                   strcmp(json_string_value(json_object_get(doc, "code")), info->code) == 0,
               "problem body code differs: %s", text);
    fuzz_check(json_is_string(json_object_get(doc, "title")), "problem body has no title: %s",
               text);
    fuzz_check(!res->detail[0] || json_is_string(json_object_get(doc, "detail")),
               "the detail was lost (not UTF-8?): %s", text);
    json_t *errors = json_object_get(doc, "errors");
    fuzz_check(json_array_size(errors) == json_array_size(res->errors),
               "%zu field errors collected, %zu in the body: %s", json_array_size(res->errors),
               json_array_size(errors), text);
    size_t i;
    json_t *e;
    json_array_foreach(errors, i, e)
    {
        fuzz_check(json_is_string(json_object_get(e, "field")) &&
                       json_is_string(json_object_get(e, "message")),
                   "field error %zu is not {field, message}: %s", i, text);
    }
    if (res->status == 405)
        fuzz_check(res->allow[0], "405 without Allow");
    json_decref(doc);
    free(text);
}

/* Invariants of any response: never a 500 (bad input is the client's error, and the database
 * being down is a 503), a status among `allowed` (0-terminated), a body that is valid JSON, and
 * no field error collected without the response being a problem. */
static inline void fuzz_check_response(const struct request *req, const struct response *res,
                                       const unsigned *allowed)
{
    const char *what = req->route ? req->route->pattern : req->path;
    fuzz_check(res->status != 500 && res->problem != API_INTERNAL, "500 on %s %s: %s", req->method,
               what, res->detail);
    bool ok = false;
    for (const unsigned *a = allowed; *a && !ok; a++)
        ok = res->status == *a;
    fuzz_check(ok, "unexpected status %u on %s %s (problem %s: %s)", res->status, req->method, what,
               api_status_info(res->problem)->code, res->detail);
    fuzz_check(json_array_size(res->errors) == 0 || res->problem != API_OK,
               "%zu field errors collected but the answer is %u, not a problem",
               json_array_size(res->errors), res->status);
    if (res->problem != API_OK) {
        fuzz_check_problem(res);
        return;
    }
    if (res->json) {
        char *text = json_dumps(res->json, JSON_COMPACT | JSON_ENCODE_ANY);
        fuzz_check(text != NULL, "the JSON body of %s does not serialise", what);
        free(text);
    } else if (res->raw && !res->content_type) {
        json_t *doc = fuzz_parse("raw body", res->raw, res->raw_len);
        fuzz_check(doc != NULL, "raw body of %s is not JSON", what);
        json_decref(doc);
    }
}

#endif
