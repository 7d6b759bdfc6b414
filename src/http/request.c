/* Request accessors and response builders shared by every handler. */
#include "attachd/http.h"

#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The value of name in a stub list (name, value, ..., NULL); header names ignore case. */
static const char *stub_lookup(const char *const *list, const char *name, bool ignore_case)
{
    for (; list && list[0] && list[1]; list += 2)
        if ((ignore_case ? strcasecmp(list[0], name) : strcmp(list[0], name)) == 0)
            return list[1];
    return NULL;
}

const char *req_query(const struct request *req, const char *name)
{
    if (!req->conn)
        return stub_lookup(req->stub_query, name, false);
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

struct query_walk {
    bool (*fn)(void *cls, const char *name);
    void *cls;
};

static enum MHD_Result query_walk_one(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    (void)kind, (void)value;
    const struct query_walk *w = cls;
    return w->fn(w->cls, key ? key : "") ? MHD_YES : MHD_NO;
}

void req_query_each(const struct request *req, bool (*fn)(void *cls, const char *name), void *cls)
{
    if (!req->conn) {
        for (const char *const *q = req->stub_query; q && q[0] && q[1]; q += 2)
            if (!fn(cls, q[0]))
                return;
        return;
    }
    struct query_walk w = {fn, cls};
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, query_walk_one, &w);
}

const char *req_header(const struct request *req, const char *name)
{
    if (!req->conn)
        return stub_lookup(req->stub_headers, name, true);
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

/* application/json or any application/<x>+json, parameters (charset) allowed. */
static bool is_json_media_type(const char *ct)
{
    if (!ct)
        return false;
    size_t len = strcspn(ct, "; \t");
    if (len == 16 && strncasecmp(ct, "application/json", 16) == 0)
        return true;
    return len > 17 && strncasecmp(ct, "application/", 12) == 0 &&
           strncasecmp(ct + len - 5, "+json", 5) == 0;
}

enum api_status req_json_object(const struct request *req, struct response *res, json_t **out)
{
    *out = NULL;
    if (!is_json_media_type(req_header(req, "Content-Type")))
        return res_problem(res, API_UNSUPPORTED_MEDIA, "Send the body as application/json (UTF-8)");
    json_error_t jerr;
    json_t *doc = json_loadb(req->body ? req->body : "", req->body_len,
                             JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!doc && json_error_code(&jerr) == json_error_numeric_overflow) {
        /* Well-formed JSON with a number no field of ours can hold: invalid, not malformed. */
        res_field_error(res, "", "a number at line %d, column %d is out of range", jerr.line,
                        jerr.column);
        return res_validation_result(res);
    }
    if (!doc)
        return res_problem(res, API_BAD_JSON, "%s at line %d, column %d", jerr.text, jerr.line,
                           jerr.column);
    if (!json_is_object(doc)) {
        json_decref(doc);
        res_field_error(res, "", "the body must be a JSON object");
        return res_validation_result(res);
    }
    *out = doc;
    return API_OK;
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong forms, no surrogates,
 * nothing above U+10FFFF, the rules jansson enforces), 0 when there is none. */
static size_t utf8_sequence(const unsigned char *s)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t len = c >= 0xC2 && c <= 0xDF   ? 2
                 : c >= 0xE0 && c <= 0xEF ? 3
                 : c >= 0xF0 && c <= 0xF4 ? 4
                                          : 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F) || (c == 0xF0 && s[1] < 0x90) ||
        (c == 0xF4 && s[1] > 0x8F))
        return 0;
    return len;
}

/* Makes s valid UTF-8 in place, so jansson takes it: a sequence cut off at the end (snprintf
 * truncated it) is dropped, any other bad byte becomes '?'. Details and field paths quote
 * request paths, JSON keys and jansson's error texts, none of which is sure to be UTF-8 after
 * truncation (or at all: a path is raw bytes). */
static void utf8_scrub(char *s)
{
    unsigned char *p = (unsigned char *)s;
    while (*p) {
        size_t len = utf8_sequence(p);
        if (len) {
            p += len;
            continue;
        }
        size_t tail = 1; /* continuation bytes up to the end: a cut-off sequence */
        while (p[tail] && (p[tail] & 0xC0) == 0x80 && tail < 4)
            tail++;
        if (p[tail] == '\0' && *p >= 0xC2 && *p <= 0xF4) {
            *p = '\0';
            return;
        }
        *p++ = '?';
    }
}

enum api_status res_json(struct response *res, unsigned status, json_t *body)
{
    json_decref(res->json);
    res->json = body;
    res->status = status;
    return API_OK;
}

enum api_status res_json_text(struct response *res, unsigned status, char *text)
{
    if (!text)
        return res_problem(res, API_INTERNAL, NULL);
    res->raw = text;
    res->raw_len = strlen(text);
    res->status = status;
    return API_OK;
}

/* What libmicrohttpd calls back: the handler's reader and its context. */
struct stream {
    stream_read_fn read;
    void *ctx;
    void (*free_ctx)(void *ctx);
};

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct stream *s = cls;
    long n = s->read(s->ctx, buf, max);
    if (n < 0)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (n == 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    return (ssize_t)n;
}

static void stream_free(void *cls)
{
    struct stream *s = cls;
    s->free_ctx(s->ctx);
    free(s);
}

/* Blocks of 32 KiB: few write calls per response, a small fixed buffer per download. */
#define STREAM_BLOCK (32 * 1024)

enum api_status res_stream(struct response *res, const char *content_type, stream_read_fn read,
                           void *ctx, void (*free_ctx)(void *ctx))
{
    struct stream *s = malloc(sizeof *s);
    if (!s) {
        free_ctx(ctx);
        return res_problem(res, API_INTERNAL, NULL);
    }
    *s = (struct stream){.read = read, .ctx = ctx, .free_ctx = free_ctx};
    struct MHD_Response *mr = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK,
                                                                stream_read, s, stream_free);
    if (!mr) {
        stream_free(s);
        return res_problem(res, API_INTERNAL, NULL);
    }
    if (res->stream)
        MHD_destroy_response(res->stream);
    res->stream = mr;
    res->content_type = content_type;
    res->status = 200;
    return API_OK;
}

bool req_accepts_csv(const struct request *req)
{
    const char *accept = req_header(req, "Accept");
    for (const char *p = accept; p && *p; p++)
        if (strncasecmp(p, "text/csv", 8) == 0)
            return true;
    return false;
}

enum api_status res_db_json(struct response *res, enum db_status st, char *json, const char *fmt,
                            ...)
{
    if (st != DB_OK)
        return res_db_problem(res, st);
    if (!json && fmt) {
        va_list ap;
        va_start(ap, fmt);
        char detail[sizeof res->detail];
        vsnprintf(detail, sizeof detail, fmt, ap);
        va_end(ap);
        return res_problem(res, API_NOT_FOUND, "%s", detail);
    }
    return res_json_text(res, 200, json);
}

enum api_status res_problem(struct response *res, enum api_status st, const char *fmt, ...)
{
    res->problem = st;
    res->status = api_status_info(st)->http_status;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(res->detail, sizeof res->detail, fmt, ap);
        va_end(ap);
        utf8_scrub(res->detail);
    }
    return st;
}

/* A body with a hundred thousand bad items must not get an answer twenty times its size (measured:
 * 12.8 MB for 680 kB of "also_serves"), nor hold as many JSON objects: the first ones say enough.
 */
#define FIELD_ERRORS_MAX 100

void res_field_error(struct response *res, const char *field, const char *fmt, ...)
{
    if (res->errors && json_array_size(res->errors) >= FIELD_ERRORS_MAX)
        return;
    char msg[200], path[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(path, sizeof path, "%s", field);
    utf8_scrub(msg);
    utf8_scrub(path);
    if (!res->errors)
        res->errors = json_array();
    /* An error that cannot be recorded must not let the request pass as valid. */
    if (json_array_append_new(res->errors,
                              json_pack("{s:s, s:s}", "field", path, "message", msg)) != 0)
        res_problem(res, API_INTERNAL, "cannot record the error of field %s", path);
}

enum api_status res_validation_result(struct response *res)
{
    if (res->problem != API_OK && res->problem != API_VALIDATION)
        return res->problem; /* e.g. a field error that could not be recorded: never valid */
    if (!res->errors || json_array_size(res->errors) == 0)
        return API_OK;
    json_t *first = json_array_get(res->errors, 0);
    return res_problem(res, API_VALIDATION, "%s: %s",
                       json_string_value(json_object_get(first, "field")),
                       json_string_value(json_object_get(first, "message")));
}

enum api_status res_db_problem(struct response *res, enum db_status st)
{
    switch (st) {
    case DB_UNAVAILABLE:
        return res_problem(res, API_DB_UNAVAILABLE, "Try again shortly");
    case DB_UNIQUE_VIOLATION:
        return res_problem(res, API_CONFLICT, "A record with that key already exists");
    case DB_EXCLUSION_VIOLATION:
        return res_problem(res, API_CONFLICT, "It overlaps an existing record");
    case DB_FK_VIOLATION:
        return res_problem(res, API_VALIDATION, "It refers to a record that does not exist");
    case DB_CHECK_VIOLATION:
        return res_problem(res, API_VALIDATION, "A value is out of its allowed range");
    default:
        return res_problem(res, API_INTERNAL, NULL);
    }
}

char *problem_body(enum api_status st, const char *detail, json_t *errors, json_t *extra,
                   const char *instance)
{
    const struct api_status_info *info = api_status_info(st);
    json_t *p = json_pack("{s:s, s:s, s:I, s:s}", "type", "about:blank", "title", info->title,
                          "status", (json_int_t)info->http_status, "code", info->code);
    if (detail && *detail)
        json_object_set_new(p, "detail", json_string(detail));
    if (instance)
        json_object_set_new(p, "instance", json_string(instance));
    if (errors)
        json_object_set(p, "errors", errors);
    if (extra)
        json_object_update(p, extra);
    char *text = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    return text;
}

bool parse_ll(const char *s, long long min, long long max, long long *out)
{
    if (!s || !*s || strlen(s) > 18)
        return false;
    long long v = 0;
    for (const char *c = s; *c; c++) {
        if (*c < '0' || *c > '9')
            return false;
        v = v * 10 + (*c - '0');
    }
    if (v < min || v > max)
        return false;
    *out = v;
    return true;
}

void req_page(const struct request *req, struct response *res, int def, int max,
              long long *after_id, int *limit)
{
    const char *cursor = req_query(req, "cursor"), *text = req_query(req, "limit");
    long long n = def;
    *after_id = 0;
    if (cursor && !parse_ll(cursor, 0, INT64_MAX, after_id))
        res_field_error(res, "cursor", "must be the next_cursor of a previous page");
    if (text && !parse_ll(text, 1, max, &n))
        res_field_error(res, "limit", "must be a whole number from 1 to %d", max);
    *limit = (int)n;
}
