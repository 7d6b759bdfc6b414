/* The one table from API status to HTTP status, problem code and title (RFC 9457). */
#include "attachd/problem.h"

static const struct api_status_info table[API_STATUS_COUNT] = {
    [API_OK] = {200, "OK", "OK"},
    [API_BAD_JSON] = {400, "MALFORMED_JSON", "The request body is not well-formed JSON"},
    [API_UNAUTHORIZED] = {401, "UNAUTHORIZED", "A valid bearer token is required"},
    [API_FORBIDDEN] = {403, "FORBIDDEN", "This role may not do this"},
    [API_NOT_FOUND] = {404, "NOT_FOUND", "No such resource"},
    [API_ROUTE_NOT_FOUND] = {404, "ROUTE_NOT_FOUND", "No such route"},
    [API_METHOD_NOT_ALLOWED] = {405, "METHOD_NOT_ALLOWED", "Method not allowed on this route"},
    [API_CONFLICT] = {409, "CONFLICT", "The request conflicts with the current state"},
    [API_PENDING_EXISTS] = {409, "PENDING_EXISTS", "The person already has a pending application"},
    [API_NOT_PENDING] = {409, "NOT_PENDING", "The application is already decided"},
    [API_PAYLOAD_TOO_LARGE] = {413, "PAYLOAD_TOO_LARGE", "The request body is too large"},
    [API_UNSUPPORTED_MEDIA] = {415, "UNSUPPORTED_MEDIA_TYPE", "The request body must be JSON"},
    [API_VALIDATION] = {422, "VALIDATION_FAILED", "The request is not valid"},
    [API_IDEMPOTENCY_REUSE] = {422, "IDEMPOTENCY_KEY_REUSED",
                               "This Idempotency-Key was used with another body"},
    [API_INTERNAL] = {500, "INTERNAL_ERROR", "Internal error"},
    [API_DB_UNAVAILABLE] = {503, "DATABASE_UNAVAILABLE", "The database is unavailable"},
};

const struct api_status_info *api_status_info(enum api_status st)
{
    if ((unsigned)st >= API_STATUS_COUNT)
        st = API_INTERNAL;
    return &table[st];
}
